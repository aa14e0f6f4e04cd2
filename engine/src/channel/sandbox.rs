//! The sandbox SMSC: with no real bind configured, this in-process channel takes the traffic,
//! acknowledges every part at once and "delivers" it after a delay — destinations ending in
//! `0000` fail (SPEC §2) — so a fresh install shows the whole life of a message.
//!
//! It is a channel kind like any other (a `SubmitQueue` in, `SessionEvent`s out), so the
//! channel actor, router and status writer run exactly as they do against a carrier.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use futures::future::BoxFuture;

use super::{Receipt, ReceiptState, Session, SessionEvent, SubmitQueue};
use crate::text;

/// How long the sandbox waits before "delivering".
pub const RECEIPT_DELAY: Duration = Duration::from_millis(1000);

/// Destinations with this ending are reported undeliverable.
pub const FAILING_SUFFIX: &str = "0000";

pub struct Simulator {
    task: JoinHandle<()>,
}

impl Simulator {
    pub fn spawn(
        queue: Arc<SubmitQueue>,
        events: mpsc::Sender<SessionEvent>,
        receipt_delay: Duration,
    ) -> Simulator {
        let task = tokio::spawn(run(queue, events, receipt_delay));
        Simulator { task }
    }
}

impl Session for Simulator {
    /// Nothing is in flight with a peer: the simulator just stops.
    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()> {
        drop(self);
        Box::pin(async {})
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

static NEXT_SMSC_ID: AtomicU64 = AtomicU64::new(1);

async fn run(queue: Arc<SubmitQueue>, events: mpsc::Sender<SessionEvent>, receipt_delay: Duration) {
    if events
        .send(SessionEvent::Bound {
            system_id: "sandbox".to_string(),
        })
        .await
        .is_err()
    {
        return;
    }
    loop {
        while let Some(submit) = queue.pop() {
            let parts = text::analyse(&submit.text).parts.clamp(1, 255) as u8;
            let fails = submit.destination.ends_with(FAILING_SUFFIX);
            for part in 1..=parts {
                let smsc_message_id = format!("{:x}", NEXT_SMSC_ID.fetch_add(1, Ordering::Relaxed));
                let accepted = SessionEvent::PartAccepted {
                    id: submit.id,
                    part,
                    parts,
                    smsc_message_id: smsc_message_id.clone(),
                };
                if events.send(accepted).await.is_err() {
                    return;
                }
                if submit.registered_delivery {
                    let events = events.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(receipt_delay).await;
                        let receipt = Receipt {
                            smsc_message_id,
                            state: if fails {
                                ReceiptState::Undeliverable
                            } else {
                                ReceiptState::Delivered
                            },
                            error: Some(if fails { "001" } else { "000" }.to_string()),
                            submit_date: None,
                            done_date: None,
                            delivered: Some(u32::from(!fails)),
                            text: None,
                        };
                        let _ = events.send(SessionEvent::Receipt(receipt)).await;
                    });
                }
            }
        }
        queue.notified().await;
    }
}
