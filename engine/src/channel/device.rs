//! The device channel: a tenant's own phone running the SMS Gate app. Unlike a carrier, a
//! phone is not called: it pulls. What the router gives a phone waits in the phone's bind
//! queue, and the session tells the phone there is something (`MessageEnqueued` on its event
//! stream); the phone pulls (`pull`) straight from that queue, so a cancelled message is
//! dropped there as for any channel, and from then on each message it took stays with that
//! phone (`pulled`) until it reports a final state: no SMS is ever sent by two phones. Reports
//! come back through `report` and become the same session events a carrier's answers and
//! receipts are (a part accepted with the phone's message id as the carrier id, then a
//! receipt), so the bind actor and status writer treat a phone as any other channel.
//!
//! A phone is online while its event stream is open or it pulled within the online window.
//! When it goes offline, its bind goes down and what waits in its queue goes to another phone
//! of the tenant, as a carrier bind's queue does; what it pulled stays with it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use super::{Receipt, ReceiptState, Session, SessionEvent, Submit, SubmitQueue};
use crate::clock::Clock;
use crate::ids::{DeviceId, TenantId};
use crate::store::records::{DeviceLimits, UnixMillis};

/// At most this many messages in one pull (the app's own cap).
pub const MAX_PULL: usize = 100;
/// How often the session looks at whether its phone is still there.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// How often a phone with work waiting and room in its limits is told again.
const REMIND_EVERY: Duration = Duration::from_secs(5);
/// The status an SMSC would give a message it could not send (`ESME_RSUBMITFAIL`).
const SUBMIT_FAILED: u32 = 0x45;

/// A message as its phone sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneMessage {
    /// The phone's id for it (at most 36 characters), unique across restarts.
    pub id: String,
    /// The submit it carries.
    pub submit: u64,
    pub text: String,
    /// International, with `+`.
    pub phone_number: String,
    pub created_at: UnixMillis,
    /// Set once the phone reported it past Pending (it is no longer offered again).
    pub reported: bool,
    /// Set once the phone said Sent (the part is accepted).
    pub sent: bool,
}

/// A state a phone reports for a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PhoneState {
    Pending,
    Processed,
    Sent,
    Delivered,
    Failed,
}

/// What happens on a phone's event stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PhoneEvent {
    /// There is something new to pull.
    MessageEnqueued,
}

/// What one phone's session and the HTTP routes it talks to share.
pub struct DeviceLink {
    pub device: DeviceId,
    pub tenant: TenantId,
    clock: Clock,
    online_window: Duration,
    limits: Mutex<DeviceLimits>,
    /// The bind's queue, while a session runs: what waits for the phone.
    queue: Mutex<Option<Arc<SubmitQueue>>>,
    /// Pulled, by phone id, until the phone reports a final state.
    pulled: Mutex<HashMap<String, PhoneMessage>>,
    /// When each message was handed to the phone, newest last (the day's, for the limits).
    handed: Mutex<VecDeque<UnixMillis>>,
    events: broadcast::Sender<PhoneEvent>,
    streams: AtomicUsize,
    last_seen: AtomicI64,
    /// When `MessageEnqueued` last went out.
    last_announced: AtomicI64,
    /// Where the current session reports (none while no session runs).
    reports: Mutex<Option<mpsc::Sender<SessionEvent>>>,
    /// Tells ids of this run apart from those of earlier runs.
    run: u32,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl DeviceLink {
    pub fn new(
        device: DeviceId,
        tenant: TenantId,
        limits: DeviceLimits,
        clock: Clock,
        online_window: Duration,
    ) -> Arc<DeviceLink> {
        Arc::new(DeviceLink {
            device,
            tenant,
            clock,
            online_window,
            limits: Mutex::new(limits),
            queue: Mutex::new(None),
            pulled: Mutex::new(HashMap::new()),
            handed: Mutex::new(VecDeque::new()),
            events: broadcast::channel(256).0,
            streams: AtomicUsize::new(0),
            last_seen: AtomicI64::new(0),
            last_announced: AtomicI64::new(0),
            reports: Mutex::new(None),
            run: rand::random(),
        })
    }

    /// The phone was heard from.
    pub fn seen(&self) {
        self.last_seen
            .store(self.clock.now_millis(), Ordering::Release);
    }

    pub fn last_seen(&self) -> Option<UnixMillis> {
        Some(self.last_seen.load(Ordering::Acquire)).filter(|at| *at > 0)
    }

    /// Whether the phone counts as there: its stream is open, or it pulled lately.
    pub fn is_online(&self) -> bool {
        if self.streams.load(Ordering::Acquire) > 0 {
            return true;
        }
        let window = i64::try_from(self.online_window.as_millis()).unwrap_or(i64::MAX);
        self.last_seen()
            .is_some_and(|seen| self.clock.now_millis() - seen < window)
    }

    /// The phone's event stream: held open while the returned guard lives.
    pub fn subscribe(self: &Arc<Self>) -> (broadcast::Receiver<PhoneEvent>, StreamGuard) {
        self.streams.fetch_add(1, Ordering::AcqRel);
        self.seen();
        (self.events.subscribe(), StreamGuard { link: self.clone() })
    }

    pub fn streams(&self) -> usize {
        self.streams.load(Ordering::Acquire)
    }

    /// Messages waiting for this phone: not yet pulled, and pulled but not yet reported.
    pub fn queued(&self) -> usize {
        let waiting = lock(&self.queue).as_ref().map_or(0, |queue| queue.len());
        waiting + lock(&self.pulled).values().filter(|m| !m.reported).count()
    }

    /// Messages the phone holds and has not finished.
    pub fn in_flight(&self) -> usize {
        lock(&self.pulled).len()
    }

    /// Messages handed to the phone since `since`.
    pub fn handed_since(&self, since: UnixMillis) -> usize {
        lock(&self.handed).iter().filter(|at| **at >= since).count()
    }

    /// How many more the limits let the phone take now.
    fn allowance(&self, now: UnixMillis) -> usize {
        let limits = *lock(&self.limits);
        let mut handed = lock(&self.handed);
        while handed.front().is_some_and(|at| *at <= now - 86_400_000) {
            handed.pop_front();
        }
        let left = |limit: u32, window_ms: i64| -> usize {
            if limit == 0 {
                return usize::MAX;
            }
            let used = handed.iter().filter(|at| **at > now - window_ms).count();
            (limit as usize).saturating_sub(used)
        };
        left(limits.per_minute, 60_000)
            .min(left(limits.per_hour, 3_600_000))
            .min(left(limits.per_day, 86_400_000))
    }

    /// What the phone gets when it pulls: messages pulled before and not reported (the app
    /// may have lost them), then new ones within its limits, at most `limit` in all, oldest
    /// first (or newest first with `newest_first`). Handing a message over makes it this
    /// phone's until it reports.
    pub fn pull(&self, limit: usize, newest_first: bool) -> Vec<PhoneMessage> {
        self.seen();
        let now = self.clock.now_millis();
        let limit = limit.min(MAX_PULL);
        let mut out: Vec<PhoneMessage> = lock(&self.pulled)
            .values()
            .filter(|message| !message.reported)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        out.truncate(limit);
        let room = limit.saturating_sub(out.len()).min(self.allowance(now));
        let queue = lock(&self.queue).clone();
        if let (true, Some(queue)) = (room > 0, queue) {
            let mut fresh = Vec::new();
            // A cancelled message's submit is skipped by the queue itself.
            while fresh.len() < room {
                let Some(submit) = queue.pop() else {
                    break;
                };
                fresh.push(PhoneMessage {
                    id: phone_id(&submit, self.run),
                    submit: submit.id,
                    text: submit.text,
                    phone_number: format!("+{}", submit.destination),
                    created_at: now,
                    reported: false,
                    sent: false,
                });
            }
            let mut pulled = lock(&self.pulled);
            let mut handed = lock(&self.handed);
            for message in fresh {
                handed.push_back(now);
                pulled.insert(message.id.clone(), message.clone());
                out.push(message);
            }
        }
        if newest_first {
            out.reverse();
        }
        out
    }

    /// A state the phone reports for its message `id`; `false` for an id it does not hold
    /// (another phone's, a finished one, or one it never had: ignored, as the app expects).
    /// States only move forward: a late or repeated report changes nothing.
    pub fn report(&self, id: &str, state: PhoneState, error: Option<String>) -> bool {
        self.seen();
        let mut events = Vec::new();
        {
            let mut pulled = lock(&self.pulled);
            let Some(message) = pulled.get_mut(id) else {
                return false;
            };
            // Any report, even `Pending` (a re-pulled message still queued on the phone),
            // means the phone has it: it is not offered again.
            message.reported = true;
            let accept = |message: &PhoneMessage| SessionEvent::PartAccepted {
                id: message.submit,
                part: 1,
                parts: 1,
                smsc_message_id: message.id.clone(),
            };
            match state {
                PhoneState::Pending | PhoneState::Processed => {}
                PhoneState::Sent => {
                    if !message.sent {
                        message.sent = true;
                        events.push(accept(message));
                    }
                }
                PhoneState::Delivered | PhoneState::Failed => {
                    let finished = pulled.remove(id);
                    if let Some(message) = finished {
                        let receipt = |receipt_state| {
                            SessionEvent::Receipt(Receipt {
                                smsc_message_id: message.id.clone(),
                                state: receipt_state,
                                error: error.clone(),
                                submit_date: None,
                                done_date: None,
                                delivered: None,
                                text: None,
                            })
                        };
                        match (state, message.sent) {
                            (PhoneState::Delivered, sent) => {
                                if !sent {
                                    events.push(accept(&message));
                                }
                                events.push(receipt(ReceiptState::Delivered));
                            }
                            (_, true) => events.push(receipt(ReceiptState::Undeliverable)),
                            (_, false) => events.push(SessionEvent::PartRejected {
                                id: message.submit,
                                part: 1,
                                parts: 1,
                                command_status: SUBMIT_FAILED,
                                temporary: false,
                            }),
                        }
                    }
                }
            }
        }
        if let Some(reports) = lock(&self.reports).clone() {
            for event in events {
                if reports.try_send(event).is_err() {
                    tracing::warn!(device = %self.device, "a phone's report was dropped: the channel is full or gone");
                }
            }
        }
        true
    }

    fn announce(&self) {
        self.last_announced
            .store(self.clock.now_millis(), Ordering::Release);
        let _ = self.events.send(PhoneEvent::MessageEnqueued);
    }

    /// Work waits that the phone's limits held back, and they let it take some again: tell
    /// the phone (it pulls only when told, or every quarter of an hour). At most every
    /// [`REMIND_EVERY`].
    fn remind(&self) {
        let now = self.clock.now_millis();
        let since = now - self.last_announced.load(Ordering::Acquire);
        if since >= REMIND_EVERY.as_millis() as i64
            && lock(&self.queue)
                .as_ref()
                .is_some_and(|queue| !queue.is_empty())
            && self.allowance(now) > 0
        {
            self.announce();
        }
    }
}

impl std::fmt::Debug for DeviceLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceLink")
            .field("device", &self.device)
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

/// The phone's id for a submit: its message's id and the recipient's index (at most 34
/// characters), the same whenever the recipient is queued again, so a phone that has it
/// already re-reports it rather than sending it twice; a submit of no known recipient gets
/// an id of this run.
fn phone_id(submit: &Submit, run: u32) -> String {
    match submit.recipient {
        Some((message, index)) => {
            let text = message.to_string();
            let ulid = text.split_once('_').map_or(text.as_str(), |(_, ulid)| ulid);
            format!("{ulid}-{index}")
        }
        None => format!("{run:08x}-{:x}", submit.id),
    }
}

/// Counts an open event stream while it lives.
pub struct StreamGuard {
    link: Arc<DeviceLink>,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.link.streams.fetch_sub(1, Ordering::AcqRel);
        self.link.seen();
    }
}

/// A running device session.
pub struct DeviceSession {
    task: JoinHandle<()>,
    link: Arc<DeviceLink>,
}

impl DeviceSession {
    pub fn spawn(
        link: Arc<DeviceLink>,
        queue: Arc<SubmitQueue>,
        events: mpsc::Sender<SessionEvent>,
    ) -> DeviceSession {
        *lock(&link.reports) = Some(events.clone());
        *lock(&link.queue) = Some(queue.clone());
        let task = tokio::spawn(run(link.clone(), queue, events));
        DeviceSession { task, link }
    }
}

impl Session for DeviceSession {
    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()> {
        drop(self);
        Box::pin(async {})
    }
}

impl Drop for DeviceSession {
    fn drop(&mut self) {
        self.task.abort();
        *lock(&self.link.reports) = None;
        *lock(&self.link.queue) = None;
    }
}

async fn run(link: Arc<DeviceLink>, queue: Arc<SubmitQueue>, events: mpsc::Sender<SessionEvent>) {
    let mut online = false;
    let mut waiting = 0;
    loop {
        let now_online = link.is_online();
        if now_online != online {
            online = now_online;
            let event = if online {
                SessionEvent::Bound {
                    system_id: link.device.to_string(),
                }
            } else {
                // The bind goes down: what waits in its queue goes to another phone.
                SessionEvent::Disconnected {
                    reason: "the phone went quiet".to_string(),
                }
            };
            if events.send(event).await.is_err() {
                return;
            }
        }
        if online {
            let now_waiting = queue.len();
            if now_waiting > waiting {
                link.announce();
            } else {
                link.remind();
            }
            waiting = now_waiting;
        }
        tokio::select! {
            _ = queue.notified(), if online => {}
            _ = tokio::time::sleep(LOOK_EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::MessageId;

    fn submit(id: u64, recipient: Option<(MessageId, u32)>) -> Submit {
        Submit {
            id,
            source: "Flit".into(),
            destination: "233201234567".into(),
            text: "hi".into(),
            registered_delivery: true,
            recipient,
        }
    }

    #[test]
    fn a_recipient_keeps_its_phone_id_whenever_it_is_queued_again() {
        let message = MessageId::new();
        let first = phone_id(&submit(1, Some((message, 99_999))), 7);
        let again = phone_id(&submit(52, Some((message, 99_999))), 8);
        assert_eq!(first, again, "another submit, another run: the same id");
        assert!(first.len() <= 36, "{first}");
        assert_ne!(first, phone_id(&submit(1, Some((message, 3))), 7));
        let unknown = phone_id(&submit(5, None), 7);
        assert!(
            unknown.len() <= 36 && unknown.starts_with("00000007-"),
            "{unknown}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pulled_message_stays_with_its_phone_and_reports_only_move_forward() {
        let link = DeviceLink::new(
            DeviceId::new(),
            TenantId::new(),
            DeviceLimits {
                per_minute: 2,
                per_hour: 0,
                per_day: 0,
            },
            Clock::tokio(),
            Duration::from_secs(60),
        );
        let (reports, mut received) = mpsc::channel(16);
        *lock(&link.reports) = Some(reports);
        let queue = Arc::new(SubmitQueue::default());
        *lock(&link.queue) = Some(queue.clone());
        let message = MessageId::new();
        for index in 1..=3 {
            queue.push(submit(u64::from(index), Some((message, index))));
        }
        let id = |index: u32| phone_id(&submit(0, Some((message, index))), 0);
        // The limit (two a minute) holds the third back; a second pull offers the same two.
        let first: Vec<String> = link.pull(100, false).into_iter().map(|m| m.id).collect();
        assert_eq!(first, [id(1), id(2)]);
        assert_eq!(link.pull(100, false).len(), 2);
        assert!(link.report(&id(1), PhoneState::Sent, None));
        assert!(link.report(&id(1), PhoneState::Delivered, None));
        // Finished: a late report is ignored, and so is an id it never had.
        assert!(!link.report(&id(1), PhoneState::Processed, None));
        assert!(!link.report("nope", PhoneState::Sent, None));
        let events: Vec<SessionEvent> = std::iter::from_fn(|| received.try_recv().ok()).collect();
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(matches!(
            events[0],
            SessionEvent::PartAccepted { id: 1, .. }
        ));
        assert!(matches!(
            &events[1],
            SessionEvent::Receipt(receipt) if receipt.state == ReceiptState::Delivered
        ));
        // The second reported: no longer offered; a minute later the limit lets the third go.
        assert!(link.report(&id(2), PhoneState::Processed, None));
        assert!(link.pull(100, false).is_empty());
        tokio::time::advance(Duration::from_secs(61)).await;
        let later: Vec<String> = link.pull(100, false).into_iter().map(|m| m.id).collect();
        assert_eq!(later, [id(3)]);
    }
}
