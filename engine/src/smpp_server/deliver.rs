//! The delivery of an account's outbox: while a receiver or transceiver of the account is
//! bound, one task reads its held `deliver_sm` from disk in the order they were written, a
//! window at a time, hands them to the account's receiver binds in turn, and deletes each one
//! a customer answered with status 0. One refused or left unanswered waits, with a backoff of
//! its own, while those behind it go on; it is given up after `MAX_ATTEMPTS` (or at once when
//! the customer says it never will take it, `ESME_RX_R_APPN`). One lost with its session is
//! offered again after `retry`, counting no attempt. The task ends when the account's last
//! receiver unbinds, and the next one to bind starts it again. What nobody binds for is given
//! up after `held_for` (`expire`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use flit_storage::Batch;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::warn;

use super::ServerShared;
use super::pdu::{self, RX_PERMANENT, RX_TEMPORARY};
use crate::engine::Engine;
use crate::ids::{SmppAccountId, SmppHeldId};
use crate::store::records::{SmppHeld, SmppHeldKind};
use crate::store::tables;

/// Refusals and silences after which a held `deliver_sm` is given up.
const MAX_ATTEMPTS: u32 = 10;
/// The longest a refused `deliver_sm` waits before it is offered again.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// Entries waiting for their backoff that a page reads past, at most.
const MAX_SKIPPED: usize = 10_000;

/// A held `deliver_sm` for a session to send, and where to say how it went.
pub(super) struct DeliverRequest {
    pub held: SmppHeld,
    pub reply: oneshot::Sender<Outcome>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The customer answered status 0: delete it.
    Delivered,
    /// The customer answered with this status (or a `generic_nack` with it).
    Refused(u32),
    /// No answer within the response timeout.
    Unanswered,
    /// It never reached the customer: the session ended first.
    Lost,
    /// It can never be sent (an address SMPP cannot carry): delete it.
    Drop,
}

/// A held entry waiting to be offered again.
struct Waiting {
    attempts: u32,
    until: Instant,
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
    let mut waiting: HashMap<SmppHeldId, Waiting> = HashMap::new();
    let mut turn = 0usize;
    loop {
        let receivers = shared.receivers(account);
        if receivers.is_empty() {
            return;
        }
        let mut scan = tables::SMPP_OUTBOX.scan(&account);
        scan.limit = window + waiting.len().min(MAX_SKIPPED);
        let page = match tables::SMPP_OUTBOX.read(engine.store(), &scan) {
            Ok(page) => page,
            Err(error) => {
                warn!(%account, %error, "reading the SMPP outbox failed; trying again");
                tokio::time::sleep(retry).await;
                continue;
            }
        };
        let now = Instant::now();
        let due: Vec<SmppHeld> = page
            .into_iter()
            .filter(|held| waiting.get(&held.id).is_none_or(|w| w.until <= now))
            .take(window)
            .collect();
        if due.is_empty() {
            // Woken by new work, the next backoff ending, or the timeout, which notices the
            // last receiver going.
            let next = waiting.values().map(|w| w.until).min();
            let pause = next.map_or(Duration::from_secs(1), |until| {
                until
                    .saturating_duration_since(now)
                    .min(Duration::from_secs(1))
            });
            tokio::select! {
                _ = waker.notified() => {}
                _ = tokio::time::sleep(pause) => {}
            }
            continue;
        }
        let mut answers = FuturesUnordered::new();
        for held in due {
            let target = &receivers[turn % receivers.len()];
            turn = turn.wrapping_add(1);
            let (reply, answer) = oneshot::channel();
            let (id, receipt) = (held.id, matches!(held.what, SmppHeldKind::Receipt(_)));
            let sent = target.send(DeliverRequest { held, reply }).await.is_ok();
            answers.push(async move {
                let outcome = match sent {
                    true => answer.await.unwrap_or(Outcome::Lost),
                    false => Outcome::Lost,
                };
                (id, receipt, outcome)
            });
        }
        let mut done = Batch::new();
        let mut removed = 0;
        while let Some((id, receipt, outcome)) = answers.next().await {
            let kind = if receipt { "receipt" } else { "inbound" };
            let gone = match outcome {
                Outcome::Delivered => Some("delivered"),
                Outcome::Drop | Outcome::Refused(RX_PERMANENT) => Some("dropped"),
                Outcome::Lost => {
                    let entry = waiting.entry(id).or_insert(Waiting {
                        attempts: 0,
                        until: now,
                    });
                    entry.until = Instant::now() + retry;
                    None
                }
                Outcome::Refused(status) => {
                    // An explicit "later" does not use up the entry's attempts.
                    let counts = !matches!(
                        status,
                        RX_TEMPORARY | pdu::MESSAGE_QUEUE_FULL | pdu::THROTTLED
                    );
                    back_off(&mut waiting, id, counts, retry)
                }
                Outcome::Unanswered => back_off(&mut waiting, id, true, retry),
            };
            if let Some(result) = gone {
                tables::SMPP_OUTBOX.delete(&mut done, &(account, id));
                waiting.remove(&id);
                removed += 1;
                if result == "dropped" {
                    warn!(%account, held = %id, ?outcome, "held deliver_sm given up");
                }
                metrics::counter!("flit_smpp_server_delivered_total", "kind" => kind, "result" => result)
                    .increment(1);
            }
        }
        if removed > 0 {
            match engine.store().commit(done).await {
                Ok(()) => engine.notify().smpp.delivered(removed),
                // Not deleted: delivered again later, which a receipt allows.
                Err(error) => warn!(%account, %error, "deleting delivered SMPP entries failed"),
            }
        }
    }
}

/// Schedules `id` again after a backoff doubling from `base`; `Some("dropped")` once it used
/// up its attempts.
fn back_off(
    waiting: &mut HashMap<SmppHeldId, Waiting>,
    id: SmppHeldId,
    counts: bool,
    base: Duration,
) -> Option<&'static str> {
    let entry = waiting.entry(id).or_insert(Waiting {
        attempts: 0,
        until: Instant::now(),
    });
    if counts {
        entry.attempts += 1;
        if entry.attempts >= MAX_ATTEMPTS {
            return Some("dropped");
        }
    }
    let doubling = 2u32.saturating_pow(entry.attempts.min(16));
    entry.until = Instant::now() + base.saturating_mul(doubling).min(MAX_BACKOFF);
    None
}
