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
use crate::ids::{DeviceId, MessageId, TenantId};
use crate::store::records::{DeviceLimits, UnixMillis};

/// At most this many messages in one pull (the app's own cap).
pub const MAX_PULL: usize = 100;
/// How often the session looks at whether its phone is still there, and at what it holds.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// How often a phone with work waiting and room in its limits is told again.
const REMIND_EVERY: Duration = Duration::from_secs(5);
/// The status an SMSC would give a message it could not send (`ESME_RSUBMITFAIL`).
const SUBMIT_FAILED: u32 = 0x45;
/// A message a phone took and never reported is given up this long after its validity
/// period ended (the phone may have sent it just in time and be offline since).
const EXPIRY_GRACE_MS: i64 = 10 * 60 * 1000;
/// A message the phone sent is kept this long for its delivery report, then forgotten (it
/// stays SENT: some phones and networks never report delivery).
pub const KEEP_SENT_MS: i64 = 24 * 60 * 60 * 1000;

/// Whether a message has been cancelled (dispatch's record of cancels, seen from a channel).
pub type IsCancelled = Arc<dyn Fn(MessageId) -> bool + Send + Sync>;

/// How a phone is watched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceTimes {
    /// A phone that neither holds its event stream open nor pulled for this long is offline.
    pub offline_after: Duration,
    /// A message the phone took and has not said it sent this long after is reported stuck.
    pub stuck_after: Duration,
}

impl Default for DeviceTimes {
    fn default() -> Self {
        DeviceTimes {
            // The app without push pulls about every 15 minutes.
            offline_after: Duration::from_secs(20 * 60),
            stuck_after: Duration::from_secs(10 * 60),
        }
    }
}

/// A message as its phone sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneMessage {
    /// The phone's id for it (at most 36 characters), unique across restarts.
    pub id: String,
    /// The submit it carries (0 for one taken over from an earlier run after it was sent).
    pub submit: u64,
    /// Which recipient of which message, when known.
    pub recipient: Option<(MessageId, u32)>,
    pub text: String,
    /// International, with `+`.
    pub phone_number: String,
    pub sim: Option<u8>,
    pub valid_until: Option<UnixMillis>,
    /// When it was handed to the phone.
    pub created_at: UnixMillis,
    /// Set once the phone reported it past Pending (it is no longer offered again).
    pub reported: bool,
    /// Set once the phone said Sent (the part is accepted).
    pub sent: bool,
    /// Not sent `stuck_after` after the phone took it.
    pub stuck: bool,
    /// Its message was cancelled: offered as `Cancelling` until the phone answers.
    pub cancelling: bool,
}

/// A state a phone reports for a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PhoneState {
    Pending,
    Processed,
    Sent,
    Delivered,
    Failed,
    /// The phone dropped it on a cancel.
    Cancelled,
}

/// What happens on a phone's event stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PhoneEvent {
    /// There is something new to pull.
    MessageEnqueued,
    /// A message the phone took was cancelled (its phone id).
    MessageCancelled(String),
    /// Its settings changed (its limits).
    SettingsUpdated,
}

/// What one pull hands over.
#[derive(Debug, Default)]
pub struct Pulled {
    pub messages: Vec<PhoneMessage>,
    /// The recipients handed over for the first time: written down before the phone hears of
    /// them, so a restart gives them back to this phone only.
    pub handed: Vec<(MessageId, u32)>,
}

/// What a report did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reported {
    /// The phone holds no such message (another phone's, a finished one, an unknown id):
    /// ignored, as the app expects.
    Unknown,
    /// The message moved on and stays with the phone.
    Held,
    /// The message is finished on the phone: its hand-over can go.
    Finished(Option<(MessageId, u32)>),
}

/// What one phone's session and the HTTP routes it talks to share.
pub struct DeviceLink {
    pub device: DeviceId,
    pub tenant: TenantId,
    clock: Clock,
    times: DeviceTimes,
    limits: Mutex<DeviceLimits>,
    is_cancelled: IsCancelled,
    /// The bind's queue, while a session runs: what waits for the phone.
    queue: Mutex<Option<Arc<SubmitQueue>>>,
    /// Pulled, by phone id, until the phone reports a final state.
    pulled: Mutex<HashMap<String, PhoneMessage>>,
    /// When each message was handed to the phone, newest last (the day's, for the limits).
    handed: Mutex<VecDeque<UnixMillis>>,
    events: broadcast::Sender<PhoneEvent>,
    streams: AtomicUsize,
    /// Stuck messages as the last sweep counted them.
    stuck: AtomicUsize,
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
        times: DeviceTimes,
        is_cancelled: IsCancelled,
    ) -> Arc<DeviceLink> {
        Arc::new(DeviceLink {
            device,
            tenant,
            clock,
            times,
            limits: Mutex::new(limits),
            is_cancelled,
            queue: Mutex::new(None),
            pulled: Mutex::new(HashMap::new()),
            handed: Mutex::new(VecDeque::new()),
            // Events are hints (a stream that falls behind hears `MessageEnqueued` and pulls
            // everything): a short buffer keeps an idle phone's memory small.
            events: broadcast::channel(16).0,
            streams: AtomicUsize::new(0),
            stuck: AtomicUsize::new(0),
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
        let window = i64::try_from(self.times.offline_after.as_millis()).unwrap_or(i64::MAX);
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

    /// Messages the phone took and has not sent within `stuck_after` (as of the last look,
    /// at most a second ago).
    pub fn stuck(&self) -> usize {
        self.stuck.load(Ordering::Acquire)
    }

    /// Work the phone has: waiting for it, and taken and not finished. Cheap: the router asks
    /// it of every phone of a tenant for every message.
    pub fn load(&self) -> usize {
        let waiting = lock(&self.queue).as_ref().map_or(0, |queue| queue.len());
        waiting + lock(&self.pulled).len()
    }

    /// Messages handed to the phone since `since`.
    pub fn handed_since(&self, since: UnixMillis) -> usize {
        let handed = lock(&self.handed);
        // Oldest first: the times are pushed as they come.
        handed.len() - handed.partition_point(|at| *at < since)
    }

    /// New limits: they hold from the next pull, and the phone is told to read its settings.
    pub fn set_limits(&self, limits: DeviceLimits) {
        *lock(&self.limits) = limits;
        let _ = self.events.send(PhoneEvent::SettingsUpdated);
        // Looser limits may let waiting work go now.
        self.last_announced.store(0, Ordering::Release);
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
            let used = handed.len() - handed.partition_point(|at| *at <= now - window_ms);
            (limit as usize).saturating_sub(used)
        };
        left(limits.per_minute, 60_000)
            .min(left(limits.per_hour, 3_600_000))
            .min(left(limits.per_day, 86_400_000))
    }

    /// What the phone gets when it pulls: messages pulled before and not reported (the app
    /// may have lost them; those of a cancelled message marked `cancelling`), then new ones
    /// within its limits, at most `limit` in all, oldest first (or newest first with
    /// `newest_first`). Handing a message over makes it this phone's until it reports; the
    /// caller writes `handed` down before the phone sees the answer.
    pub fn pull(&self, limit: usize, newest_first: bool) -> Pulled {
        self.seen();
        let now = self.clock.now_millis();
        let limit = limit.min(MAX_PULL);
        let mut out: Vec<PhoneMessage> = {
            let mut pulled = lock(&self.pulled);
            pulled
                .values_mut()
                .filter(|message| !message.reported)
                .map(|message| {
                    message.cancelling = message
                        .recipient
                        .is_some_and(|(id, _)| (self.is_cancelled)(id));
                    message.clone()
                })
                .collect()
        };
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        out.truncate(limit);
        let room = limit.saturating_sub(out.len()).min(self.allowance(now));
        let queue = lock(&self.queue).clone();
        let mut handed_over = Vec::new();
        if let (true, Some(queue)) = (room > 0, queue) {
            let mut fresh = Vec::new();
            // A cancelled message's submit is skipped by the queue itself.
            while fresh.len() < room {
                let Some(submit) = queue.pop() else {
                    break;
                };
                fresh.push(phone_message(submit, self.run, now));
            }
            let mut pulled = lock(&self.pulled);
            let mut handed = lock(&self.handed);
            for message in fresh {
                handed.push_back(now);
                handed_over.extend(message.recipient);
                pulled.insert(message.id.clone(), message.clone());
                out.push(message);
            }
        }
        if newest_first {
            out.reverse();
        }
        Pulled {
            messages: out,
            handed: handed_over,
        }
    }

    /// Takes back a recipient this phone pulled in an earlier run and has not reported sent:
    /// it is offered to this phone again (which sends it if it never got it, or re-reports
    /// it) and to no other.
    pub fn adopt(&self, submit: Submit) {
        let message = phone_message(submit, self.run, self.clock.now_millis());
        lock(&self.pulled).insert(message.id.clone(), message);
    }

    /// Takes back a recipient this phone reported sent in an earlier run, so that its
    /// delivery report still finds it.
    pub fn adopt_sent(&self, recipient: (MessageId, u32), handed_at: UnixMillis) {
        let id = recipient_phone_id(recipient);
        lock(&self.pulled).insert(
            id.clone(),
            PhoneMessage {
                id,
                submit: 0,
                recipient: Some(recipient),
                text: String::new(),
                phone_number: String::new(),
                sim: None,
                valid_until: None,
                created_at: handed_at,
                reported: true,
                sent: true,
                stuck: false,
                cancelling: false,
            },
        );
    }

    /// A message of this phone was cancelled: tell it, for each of the message's recipients
    /// it holds and has not sent (it drops those still waiting on it and reports them
    /// Cancelled).
    pub fn cancelled(&self, message: MessageId) {
        let ids: Vec<String> = lock(&self.pulled)
            .values()
            .filter(|m| !m.sent && m.recipient.is_some_and(|(id, _)| id == message))
            .map(|m| m.id.clone())
            .collect();
        for id in ids {
            let _ = self.events.send(PhoneEvent::MessageCancelled(id));
        }
    }

    /// A state the phone reports for its message `id`. States only move forward: a late or
    /// repeated report changes nothing.
    pub fn report(&self, id: &str, state: PhoneState, error: Option<String>) -> Reported {
        self.seen();
        let mut events = Vec::new();
        let outcome = {
            let mut pulled = lock(&self.pulled);
            let Some(message) = pulled.get_mut(id) else {
                return Reported::Unknown;
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
                PhoneState::Pending | PhoneState::Processed => Reported::Held,
                PhoneState::Sent => {
                    if !message.sent {
                        message.sent = true;
                        message.stuck = false;
                        events.push(accept(message));
                    }
                    Reported::Held
                }
                PhoneState::Delivered | PhoneState::Failed | PhoneState::Cancelled => {
                    let finished = pulled.remove(id);
                    let recipient = finished.as_ref().and_then(|m| m.recipient);
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
                            // Not sent: the part is refused (for a cancelled message, whose
                            // recipient is CANCELLED already, this changes nothing).
                            (_, false) => events.push(SessionEvent::PartRejected {
                                id: message.submit,
                                part: 1,
                                parts: 1,
                                command_status: SUBMIT_FAILED,
                                temporary: false,
                            }),
                        }
                    }
                    Reported::Finished(recipient)
                }
            }
        };
        self.send_events(events);
        outcome
    }

    fn send_events(&self, events: Vec<SessionEvent>) {
        if events.is_empty() {
            return;
        }
        if let Some(reports) = lock(&self.reports).clone() {
            for event in events {
                if reports.try_send(event).is_err() {
                    tracing::warn!(device = %self.device, "a phone's report was dropped: the channel is full or gone");
                }
            }
        }
    }

    /// Looks at what the phone holds: a message it has not sent within `stuck_after` is
    /// stuck (counted once, and shown in its state); one past its validity (and a grace) that
    /// it never sent is given up (expired, refunded); one sent long ago is forgotten.
    fn sweep(&self) {
        let now = self.clock.now_millis();
        let stuck_after = i64::try_from(self.times.stuck_after.as_millis()).unwrap_or(i64::MAX);
        let mut events = Vec::new();
        {
            let mut pulled = lock(&self.pulled);
            let mut stuck = 0;
            pulled.retain(|_, message| {
                if message.sent {
                    return now - message.created_at < KEEP_SENT_MS;
                }
                if message
                    .valid_until
                    .is_some_and(|until| now >= until.saturating_add(EXPIRY_GRACE_MS))
                {
                    if message.submit != 0 {
                        events.push(SessionEvent::Expired { id: message.submit });
                    }
                    return false;
                }
                if !message.stuck && now - message.created_at >= stuck_after {
                    message.stuck = true;
                    metrics::counter!("flit_device_stuck_total").increment(1);
                    tracing::warn!(device = %self.device, phone_message_id = %message.id, "a message the phone took is not sent yet");
                }
                stuck += usize::from(message.stuck);
                true
            });
            self.stuck.store(stuck, Ordering::Release);
        }
        self.send_events(events);
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

fn phone_message(submit: Submit, run: u32, now: UnixMillis) -> PhoneMessage {
    PhoneMessage {
        id: phone_id(&submit, run),
        submit: submit.id,
        recipient: submit.recipient,
        phone_number: format!("+{}", submit.destination),
        text: submit.text,
        sim: submit.sim,
        valid_until: submit.valid_until,
        created_at: now,
        reported: false,
        sent: false,
        stuck: false,
        cancelling: false,
    }
}

/// The phone's id for a recipient: its message's id and its index (at most 34 characters),
/// the same whenever the recipient is queued again, so a phone that has it already re-reports
/// it rather than sending it twice.
pub fn recipient_phone_id((message, index): (MessageId, u32)) -> String {
    let text = message.to_string();
    let ulid = text.split_once('_').map_or(text.as_str(), |(_, ulid)| ulid);
    format!("{ulid}-{index}")
}

/// The phone's id for a submit: its recipient's, or for a submit of no known recipient an id
/// of this run.
fn phone_id(submit: &Submit, run: u32) -> String {
    match submit.recipient {
        Some(recipient) => recipient_phone_id(recipient),
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
    // Something was pushed since the last look: it is announced even if the phone pulled in
    // between and the queue is no longer than it was.
    let mut pushed = false;
    let mut swept = tokio::time::Instant::now();
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
            if now_waiting > 0 && (pushed || now_waiting > waiting) {
                link.announce();
            } else {
                link.remind();
            }
            waiting = now_waiting;
        }
        if swept.elapsed() >= LOOK_EVERY {
            swept = tokio::time::Instant::now();
            link.sweep();
        }
        pushed = tokio::select! {
            _ = queue.notified(), if online => true,
            _ = tokio::time::sleep(LOOK_EVERY) => false,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submit(id: u64, recipient: Option<(MessageId, u32)>) -> Submit {
        Submit {
            id,
            source: "Flit".into(),
            destination: "233201234567".into(),
            text: "hi".into(),
            registered_delivery: true,
            recipient,
            valid_until: None,
            sim: None,
        }
    }

    /// A phone with a queue of its own and its reports collected, its limit `per_minute`.
    fn phone(
        per_minute: u32,
        is_cancelled: IsCancelled,
    ) -> (
        Arc<DeviceLink>,
        Arc<SubmitQueue>,
        mpsc::Receiver<SessionEvent>,
    ) {
        let link = DeviceLink::new(
            DeviceId::new(),
            TenantId::new(),
            DeviceLimits {
                per_minute,
                per_hour: 0,
                per_day: 0,
            },
            Clock::tokio(),
            DeviceTimes {
                offline_after: Duration::from_secs(60),
                stuck_after: Duration::from_secs(300),
            },
            is_cancelled,
        );
        let (reports, received) = mpsc::channel(16);
        *lock(&link.reports) = Some(reports);
        let queue = Arc::new(SubmitQueue::default());
        *lock(&link.queue) = Some(queue.clone());
        (link, queue, received)
    }

    fn ids(pulled: Pulled) -> Vec<String> {
        pulled.messages.into_iter().map(|m| m.id).collect()
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
        let (link, queue, mut received) = phone(2, Arc::new(|_| false));
        let message = MessageId::new();
        for index in 1..=3 {
            queue.push(submit(u64::from(index), Some((message, index))));
        }
        let id = |index: u32| recipient_phone_id((message, index));
        // The limit (two a minute) holds the third back; a second pull offers the same two
        // and hands nothing over again.
        let first = link.pull(100, false);
        assert_eq!(first.handed, [(message, 1), (message, 2)]);
        assert_eq!(ids(first), [id(1), id(2)]);
        let again = link.pull(100, false);
        assert!(again.handed.is_empty());
        assert_eq!(again.messages.len(), 2);
        assert_eq!(link.report(&id(1), PhoneState::Sent, None), Reported::Held);
        assert_eq!(
            link.report(&id(1), PhoneState::Delivered, None),
            Reported::Finished(Some((message, 1)))
        );
        // Finished: a late report is ignored, and so is an id it never had.
        assert_eq!(
            link.report(&id(1), PhoneState::Processed, None),
            Reported::Unknown
        );
        assert_eq!(
            link.report("nope", PhoneState::Sent, None),
            Reported::Unknown
        );
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
        assert_eq!(
            link.report(&id(2), PhoneState::Processed, None),
            Reported::Held
        );
        assert!(link.pull(100, false).messages.is_empty());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(ids(link.pull(100, false)), [id(3)]);
    }

    #[tokio::test(start_paused = true)]
    async fn every_push_is_announced_even_when_the_phone_emptied_the_queue_in_between() {
        let (link, queue, _received) = phone(0, Arc::new(|_| false));
        *lock(&link.queue) = None;
        let (reports, mut bound) = mpsc::channel(16);
        let (mut events, _guard) = link.subscribe();
        let session = DeviceSession::spawn(link.clone(), queue.clone(), reports);
        assert!(matches!(
            bound.recv().await,
            Some(SessionEvent::Bound { .. })
        ));
        let message = MessageId::new();
        for index in 0..3 {
            queue.push(submit(u64::from(index), Some((message, index))));
            // Well within the five-second reminder: each push is told at once.
            let told = tokio::time::timeout(Duration::from_millis(100), events.recv()).await;
            assert_eq!(
                told.ok().and_then(Result::ok),
                Some(PhoneEvent::MessageEnqueued)
            );
            // The phone takes it: the queue is as long as before the next push.
            assert_eq!(link.pull(100, false).handed, [(message, index)]);
        }
        drop(session);
    }

    #[tokio::test(start_paused = true)]
    async fn new_limits_hold_at_once_and_the_phone_is_told() {
        let (link, queue, _received) = phone(1, Arc::new(|_| false));
        let (mut events, _guard) = link.subscribe();
        let message = MessageId::new();
        for index in 1..=5 {
            queue.push(submit(u64::from(index), Some((message, index))));
        }
        assert_eq!(link.pull(100, false).handed.len(), 1);
        link.set_limits(DeviceLimits {
            per_minute: 3,
            per_hour: 0,
            per_day: 0,
        });
        assert_eq!(events.try_recv(), Ok(PhoneEvent::SettingsUpdated));
        // One already handed this minute: two more.
        assert_eq!(link.pull(100, false).handed.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_message_is_offered_as_cancelling_and_the_phone_is_told() {
        let cancelled = Arc::new(Mutex::new(None::<MessageId>));
        let seen = cancelled.clone();
        let (link, queue, mut received) = phone(0, Arc::new(move |id| *lock(&seen) == Some(id)));
        let (mut events, _guard) = link.subscribe();
        let message = MessageId::new();
        let other = MessageId::new();
        queue.push(submit(1, Some((message, 0))));
        queue.push(submit(2, Some((other, 0))));
        assert_eq!(link.pull(100, false).messages.len(), 2);
        *lock(&cancelled) = Some(message);
        link.cancelled(message);
        assert_eq!(
            events.try_recv(),
            Ok(PhoneEvent::MessageCancelled(recipient_phone_id((
                message, 0
            ))))
        );
        assert!(events.try_recv().is_err(), "only the cancelled message");
        let offered = link.pull(100, false).messages;
        let states: Vec<(String, bool)> =
            offered.into_iter().map(|m| (m.id, m.cancelling)).collect();
        assert!(states.contains(&(recipient_phone_id((message, 0)), true)));
        assert!(states.contains(&(recipient_phone_id((other, 0)), false)));
        // The phone drops it: finished, and the part is refused (a cancelled recipient
        // stays CANCELLED).
        assert_eq!(
            link.report(
                &recipient_phone_id((message, 0)),
                PhoneState::Cancelled,
                None
            ),
            Reported::Finished(Some((message, 0)))
        );
        assert!(matches!(
            received.try_recv(),
            Ok(SessionEvent::PartRejected {
                id: 1,
                temporary: false,
                ..
            })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_not_sent_in_time_is_stuck_then_given_up_after_its_validity() {
        let (link, queue, mut received) = phone(0, Arc::new(|_| false));
        let now = Clock::tokio().now_millis();
        let message = MessageId::new();
        let mut expiring = submit(1, Some((message, 0)));
        expiring.valid_until = Some(now + 3_600_000);
        queue.push(expiring);
        queue.push(submit(2, Some((message, 1))));
        assert_eq!(link.pull(100, false).messages.len(), 2);
        assert_eq!(
            link.report(&recipient_phone_id((message, 1)), PhoneState::Sent, None),
            Reported::Held
        );
        let _accepted = received.try_recv();
        tokio::time::advance(Duration::from_secs(299)).await;
        link.sweep();
        assert_eq!(link.stuck(), 0);
        tokio::time::advance(Duration::from_secs(2)).await;
        link.sweep();
        assert_eq!(link.stuck(), 1, "the unsent one; the sent one is not stuck");
        // Past its validity and the grace: given up, its submit expired.
        tokio::time::advance(Duration::from_secs(3600 + 600)).await;
        link.sweep();
        assert!(matches!(
            received.try_recv(),
            Ok(SessionEvent::Expired { id: 1 })
        ));
        assert_eq!(link.in_flight(), 1, "the sent one waits for its report");
        assert_eq!(link.stuck(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn what_a_phone_took_in_an_earlier_run_comes_back_to_it() {
        let (link, _queue, mut received) = phone(0, Arc::new(|_| false));
        let message = MessageId::new();
        // Pending at the restart: offered again under the same id, handed over no more.
        link.adopt(submit(7, Some((message, 0))));
        let pulled = link.pull(100, false);
        assert!(pulled.handed.is_empty());
        assert_eq!(ids(pulled), [recipient_phone_id((message, 0))]);
        // Sent before the restart: not offered, but its delivery report still lands.
        link.adopt_sent((message, 1), Clock::tokio().now_millis());
        assert_eq!(link.pull(100, false).messages.len(), 1);
        assert_eq!(
            link.report(
                &recipient_phone_id((message, 1)),
                PhoneState::Delivered,
                None
            ),
            Reported::Finished(Some((message, 1)))
        );
        assert!(matches!(
            received.try_recv(),
            Ok(SessionEvent::Receipt(receipt)) if receipt.state == ReceiptState::Delivered
        ));
    }
}
