//! The session task of one bind. It owns the connection(s), the window of in-flight
//! `submit_sm`, the TPS bucket, the throttle pause, enquire_link and reconnects; it owns no
//! queued work (that is the [`SubmitQueue`]'s) beyond the parts of the message it is sending.
//!
//! Restart policy: the task never ends on a network or SMSC failure; it reports
//! [`SessionEvent::Disconnected`] (or `BindRefused`), waits `reconnect_min` doubling to
//! `reconnect_max` with equal jitter (half fixed, half random), and binds again; a bound session
//! resets the backoff. It ends only through [`SessionHandle::shutdown`] (or when the handle is
//! dropped, which is treated the same). Every part in flight when a connection is lost is
//! reported `PartRejected { temporary: true, command_status: 0 }` so the caller can requeue; parts
//! of the current message not yet sent stay with the session and go out after the reconnect.
//!
//! Faults the SMSC causes are survived where SMPP allows: a `generic_nack` to a submit is a
//! temporary rejection (a throttle when it carries 0x58/0x14), a well-framed PDU whose body
//! cannot be decoded is skipped (its submit, if it answered one, is rejected temporary) and
//! only bytes that cannot be framed end the connection. A burst of throttle answers to submits
//! sent before the pause began is one throttle episode, not one doubling per answer. Each
//! fault is counted, with the last one's text, in [`SessionStats`].
//!
//! By concern: `connect` (connect and bind, reconnect backoff, unbind), `window` (the outbox,
//! the window of parts in flight and their answers), `throttle` (the throttle pause and the TPS
//! bucket), `receive` (what the session does with each PDU from the SMSC, as
//! [`inbound::classify`](super::inbound::classify) reads it) and `stats`. This file holds the
//! handle, the links of a bound connection and the loop that serves them with its timers
//! (response timeouts, enquire_link).

mod connect;
mod receive;
mod stats;
mod throttle;
mod window;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rand::Rng;
use rusmpp::tokio_codec::DecodeError;
use rusmpp::{Command, CommandStatus, Pdu};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use tokio_util::codec::Framed;
use tracing::{debug, warn};

pub use stats::{SessionError, SessionErrorKind, SessionStats};
use throttle::Throttle;
pub(crate) use throttle::TokenBucket;
use window::{InFlight, OutPart};

use super::coding::Reassembler;
use super::frame::{Frame, FrameCodec};
use super::{BindConfig, SessionEvent, SubmitQueue};

/// Sequence numbers run 1..=0x7FFFFFFF (SMPP 3.4 §5.1.4).
const MAX_SEQUENCE: u32 = 0x7FFF_FFFF;
/// Wake-up when nothing is scheduled; any event wakes the task earlier.
const IDLE_WAKE: Duration = Duration::from_secs(3600);
/// How long a window full of unrecorded answers may block the session (see `SessionStats`).
const RECORDS_OVERDUE: Duration = Duration::from_secs(5);

/// Handle to a running session task.
pub struct SessionHandle {
    /// Read by the session tests only: the bind's live state is kept in `BindShared`.
    #[cfg_attr(not(test), allow(dead_code))]
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// What the handle can read while the task runs.
#[derive(Default)]
struct Shared {
    in_flight: AtomicUsize,
    bound: AtomicBool,
}

impl SessionHandle {
    /// Starts the session task: connect (TCP_NODELAY), bind, then pull work from `queue`,
    /// counting into `stats` (which may outlive the session).
    pub fn spawn(
        config: BindConfig,
        queue: Arc<SubmitQueue>,
        events: mpsc::Sender<SessionEvent>,
        stats: Arc<SessionStats>,
    ) -> SessionHandle {
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared::default());
        let session = Session {
            backoff: config.reconnect_min,
            config,
            queue,
            events,
            shared: shared.clone(),
            stats,
            stop: stop_rx,
            stopping: false,
            outbox: VecDeque::new(),
            reference: rand::rng().random(),
            throttle: Throttle::default(),
            bucket: TokenBucket::default(),
            reassembler: Reassembler::new(),
        };
        let task = tokio::spawn(session.run());
        SessionHandle { shared, stop, task }
    }

    /// `submit_sm` awaiting a response.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub fn is_bound(&self) -> bool {
        self.shared.bound.load(Ordering::Relaxed)
    }

    /// Graceful: stop taking new work (parts built but not sent are requeued whole, or reported
    /// temporary if some part already went), wait up to `response_timeout` for in-flight
    /// responses, send unbind, await unbind_resp (same bound), close.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Err(err) = (&mut self.task).await {
            warn!(%err, "SMPP session task ended abnormally");
        }
    }
}

/// A handle dropped without `shutdown` (its bind actor was killed) ends the session at once:
/// the connection closes and the SMSC sees the bind go, rather than a session nobody owns.
impl Drop for SessionHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.task.abort();
    }
}

type Transport = Framed<TcpStream, FrameCodec>;

/// One bound connection.
struct Link {
    framed: Transport,
    sequence: u32,
    /// Last PDU sent or received, for enquire_link on idleness.
    last_activity: Instant,
    /// The enquire_link awaiting its response: (sequence, deadline).
    enquire: Option<(u32, Instant)>,
}

impl Link {
    fn next_sequence(&mut self) -> u32 {
        self.sequence = self.sequence % MAX_SEQUENCE + 1;
        self.sequence
    }

    async fn send(&mut self, command: Command) -> Result<(), String> {
        self.last_activity = Instant::now();
        self.framed
            .send(command)
            .await
            .map_err(|err| format!("write failed: {err}"))
    }
}

/// The connections of a bound session: `tx` carries submits (and everything in transceiver
/// mode), `rx` exists in transmitter_receiver mode.
struct Connection {
    tx: Link,
    rx: Option<Link>,
    pending: HashMap<u32, InFlight>,
    /// `deliver_sm`s whose response waits until the delivery is recorded:
    /// (delivery number, link, sequence), in delivery order.
    unanswered: VecDeque<(u64, Side, u32)>,
}

#[derive(Copy, Clone, PartialEq, Eq)]
enum Side {
    Tx,
    Rx,
}

impl Connection {
    fn link(&mut self, side: Side) -> Option<&mut Link> {
        match side {
            Side::Tx => Some(&mut self.tx),
            Side::Rx => self.rx.as_mut(),
        }
    }
}

struct Session {
    config: BindConfig,
    queue: Arc<SubmitQueue>,
    events: mpsc::Sender<SessionEvent>,
    shared: Arc<Shared>,
    stats: Arc<SessionStats>,
    stop: watch::Receiver<bool>,
    /// Set once shutdown was asked for (or the handle dropped).
    stopping: bool,
    /// Parts of the message being sent; survives reconnects.
    outbox: VecDeque<OutPart>,
    /// Concatenation reference of the last message (UDH uses the low 8 bits).
    reference: u16,
    throttle: Throttle,
    bucket: TokenBucket,
    reassembler: Reassembler,
    backoff: Duration,
}

impl Session {
    async fn emit(&self, event: SessionEvent) {
        if matches!(
            event,
            SessionEvent::PartAccepted { .. } | SessionEvent::PartRejected { .. }
        ) {
            // Numbered in the order the owner receives them (see `SessionStats::answers`).
            self.stats.next_answer();
        }
        // A closed channel means nobody listens any more; the session still winds down cleanly.
        let _ = self.events.send(event).await;
    }

    /// Runs a bound connection until shutdown (`Ok`, unbind follows) or loss (`Err(reason)`).
    async fn serve(&mut self, connection: &mut Connection) -> Result<(), String> {
        let mut drain_deadline = None;
        loop {
            self.answer_recorded_deliveries(connection).await?;
            if !self.stopping {
                self.fill(connection).await?;
            }
            let now = Instant::now();
            if let Some(deadline) = drain_deadline
                && (connection.pending.is_empty() || now >= deadline)
            {
                return Ok(());
            }
            let wake = self
                .next_wake(connection, now)
                .min(drain_deadline.unwrap_or(now + IDLE_WAKE));
            let want_work =
                !self.stopping && self.outbox.is_empty() && self.can_send(connection, now);
            tokio::select! {
                changed = self.stop.changed(), if !self.stopping => {
                    // Err: the handle was dropped, which is a shutdown too.
                    let _ = changed;
                    self.stopping = true;
                    drain_deadline = Some(Instant::now() + self.config.response_timeout);
                    self.abandon_outbox().await;
                }
                frame = connection.tx.framed.next() => self.handle(connection, Side::Tx, frame).await?,
                frame = next_frame(connection.rx.as_mut()) => self.handle(connection, Side::Rx, frame).await?,
                _ = self.queue.notified(), if want_work => {}
                _ = self.stats.recorded_wake.notified(),
                    if self.stats.unrecorded() > 0 || !connection.unanswered.is_empty() => {}
                _ = tokio::time::sleep(RECORDS_OVERDUE), if self.waiting_for_records(connection) => {
                    // Records normally land within milliseconds: answers and deliveries this
                    // long unrecorded were lost on their way (an owner that died with them).
                    let forgotten = self.stats.unrecorded() + connection.unanswered.len();
                    self.stats.forget_unrecorded();
                    warn!(forgotten, "answers or deliveries never recorded; moving on");
                }
                _ = sleep_until(wake) => self.on_timer(connection).await?,
            }
        }
    }

    fn next_wake(&self, connection: &Connection, now: Instant) -> Instant {
        let mut wake = now + IDLE_WAKE;
        for in_flight in connection.pending.values() {
            wake = wake.min(in_flight.deadline);
        }
        for link in std::iter::once(&connection.tx).chain(connection.rx.as_ref()) {
            wake = wake.min(match link.enquire {
                Some((_, deadline)) => deadline,
                None => link.last_activity + self.config.enquire_link_interval,
            });
        }
        // The end of a throttle pause always wakes the task: work may arrive during the pause
        // while the queue's wake-up is ignored.
        if let Some(until) = self.throttle.until.filter(|until| *until > now) {
            return wake.min(until);
        }
        let has_work = !self.outbox.is_empty() || !self.queue.is_empty();
        if has_work
            && !self.stopping
            && self.window_used(connection) < self.config.window_size.max(1)
        {
            wake = wake.min(self.bucket.next_token(self.config.tps, now));
        }
        wake
    }

    /// Response timeouts, enquire_link on idleness, dead links.
    async fn on_timer(&mut self, connection: &mut Connection) -> Result<(), String> {
        let now = Instant::now();
        let expired: Vec<u32> = connection
            .pending
            .iter()
            .filter(|(_, in_flight)| in_flight.deadline <= now)
            .map(|(sequence, _)| *sequence)
            .collect();
        for sequence in expired {
            if let Some(in_flight) = connection.pending.remove(&sequence) {
                debug!(
                    id = in_flight.id,
                    part = in_flight.part,
                    "submit_sm_resp timed out"
                );
                self.stats.record(
                    SessionErrorKind::ResponseTimeout,
                    format!(
                        "no submit_sm_resp within {:?}",
                        self.config.response_timeout
                    ),
                    None,
                );
                self.reject(&in_flight, 0, true).await;
            }
        }
        self.shared
            .in_flight
            .store(connection.pending.len(), Ordering::Relaxed);
        for side in [Side::Tx, Side::Rx] {
            let Some(link) = connection.link(side) else {
                continue;
            };
            match link.enquire {
                Some((_, deadline)) if deadline <= now => {
                    return Err("enquire_link unanswered".into());
                }
                Some(_) => {}
                None if link.last_activity + self.config.enquire_link_interval <= now => {
                    let sequence = link.next_sequence();
                    link.enquire = Some((sequence, now + self.config.response_timeout));
                    link.send(Command::new(
                        CommandStatus::EsmeRok,
                        sequence,
                        Pdu::EnquireLink,
                    ))
                    .await?;
                }
                None => {}
            }
        }
        Ok(())
    }
}

async fn next_frame(link: Option<&mut Link>) -> Option<Result<Frame, DecodeError>> {
    match link {
        Some(link) => link.framed.next().await,
        None => std::future::pending().await,
    }
}

impl crate::channel::Session for SessionHandle {
    fn shutdown(self: Box<Self>) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(SessionHandle::shutdown(*self))
    }
}
