//! The delivery of an account's outbox: while a receiver or transceiver of the account is
//! bound, one task reads its held `deliver_sm` from disk in the order they were written, a
//! window at a time, hands them to the account's receiver binds in turn, and deletes each one
//! a customer answered with status 0. What was refused, left unanswered or lost with its
//! session stays on disk and is offered again after `retry`. The task ends when the account's
//! last receiver unbinds, and the next one to bind starts it again.

use std::sync::Arc;
use std::time::Duration;

use flit_storage::Batch;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::oneshot;
use tracing::warn;

use super::ServerShared;
use crate::engine::Engine;
use crate::ids::SmppAccountId;
use crate::store::records::{SmppHeld, SmppHeldKind};
use crate::store::tables;

/// A held `deliver_sm` for a session to send, and where to say how it went.
pub(super) struct DeliverRequest {
    pub held: SmppHeld,
    pub reply: oneshot::Sender<Outcome>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The customer answered status 0: delete it.
    Delivered,
    /// Refused, unanswered or lost: offer it again later.
    Retry,
    /// It can never be sent (an address SMPP cannot carry): delete it.
    Drop,
}

/// Starts the delivery of `account`'s outbox over its receiver binds, `window` at a time.
pub(super) fn start(
    engine: Engine,
    shared: Arc<ServerShared>,
    account: SmppAccountId,
    window: usize,
) {
    tokio::spawn(run(engine, shared, account, window.max(1)));
}

async fn run(engine: Engine, shared: Arc<ServerShared>, account: SmppAccountId, window: usize) {
    let waker = engine.notify().smpp.waker(account);
    let retry = engine.config().smpp_server.retry;
    let mut turn = 0usize;
    loop {
        let receivers = shared.receivers(account);
        if receivers.is_empty() {
            return;
        }
        let page = match tables::SMPP_OUTBOX.read(engine.store(), &{
            let mut scan = tables::SMPP_OUTBOX.scan(&account);
            scan.limit = window;
            scan
        }) {
            Ok(page) => page,
            Err(error) => {
                warn!(%account, %error, "reading the SMPP outbox failed; trying again");
                tokio::time::sleep(retry).await;
                continue;
            }
        };
        if page.is_empty() {
            // Woken by new work; the timeout notices the last receiver going.
            tokio::select! {
                _ = waker.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        let mut answers = FuturesUnordered::new();
        for held in page {
            let target = &receivers[turn % receivers.len()];
            turn = turn.wrapping_add(1);
            let (reply, answer) = oneshot::channel();
            let (id, receipt) = (held.id, matches!(held.what, SmppHeldKind::Receipt(_)));
            if target.send(DeliverRequest { held, reply }).await.is_ok() {
                answers.push(async move { (id, receipt, answer.await.unwrap_or(Outcome::Retry)) });
            }
        }
        let mut done = Batch::new();
        let (mut removed, mut retried) = (0, false);
        while let Some((id, receipt, outcome)) = answers.next().await {
            match outcome {
                Outcome::Delivered | Outcome::Drop => {
                    tables::SMPP_OUTBOX.delete(&mut done, &(account, id));
                    removed += 1;
                    let kind = if receipt { "receipt" } else { "inbound" };
                    let result = if outcome == Outcome::Delivered {
                        "delivered"
                    } else {
                        "dropped"
                    };
                    metrics::counter!("flit_smpp_server_delivered_total", "kind" => kind, "result" => result)
                        .increment(1);
                }
                Outcome::Retry => retried = true,
            }
        }
        if removed > 0 {
            match engine.store().commit(done).await {
                Ok(()) => engine.notify().smpp.delivered(removed),
                // Not deleted: delivered again later, which a receipt allows.
                Err(error) => warn!(%account, %error, "deleting delivered SMPP entries failed"),
            }
        }
        if retried {
            tokio::time::sleep(retry).await;
        }
    }
}
