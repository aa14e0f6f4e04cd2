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

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use futures::{SinkExt, StreamExt};
use rand::Rng;
use rusmpp::pdus::SubmitSm;
use rusmpp::tokio_codec::DecodeError;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use tokio_util::codec::Framed;
use tracing::{debug, info, warn};

use super::coding::{self, Reassembler};
use super::frame::{Frame, FrameCodec, Malformed};
use super::inbound::{self, Delivery, Inbound};
use super::pdu::{self, BindKind};
use super::{BindConfig, BindMode, SessionEvent, Submit, SubmitQueue};

/// First pause after a 0x58/0x14 response; doubles on each further one, up to the maximum.
const THROTTLE_PAUSE_MIN: Duration = Duration::from_secs(1);
const THROTTLE_PAUSE_MAX: Duration = Duration::from_secs(60);
/// Sequence numbers run 1..=0x7FFFFFFF (SMPP 3.4 §5.1.4).
const MAX_SEQUENCE: u32 = 0x7FFF_FFFF;
/// Wake-up when nothing is scheduled; any event wakes the task earlier.
const IDLE_WAKE: Duration = Duration::from_secs(3600);
/// How long a window full of unrecorded answers may block the session (see `SessionStats`).
const RECORDS_OVERDUE: Duration = Duration::from_secs(5);

/// `generic_nack` status for a PDU whose body could not be decoded.
const STATUS_INVALID_COMMAND_LENGTH: u32 = 0x02;

/// What went wrong on a bind, by kind (the `error` label of `flit_bind_errors_total`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SessionErrorKind {
    /// TCP connect or the bind exchange failed without an SMSC status.
    ConnectFailed,
    /// The SMSC answered the bind with an error status.
    BindRefused,
    /// A bound session was lost (closed, reset, unbind from the SMSC, dead link).
    Disconnected,
    /// A `submit_sm_resp` did not come within the response timeout.
    ResponseTimeout,
    /// The SMSC answered a submit with `generic_nack`.
    GenericNack,
    /// A well-framed PDU from the SMSC could not be decoded and was skipped.
    MalformedPdu,
}

impl SessionErrorKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::ConnectFailed => "connect_failed",
            Self::BindRefused => "bind_refused",
            Self::Disconnected => "disconnected",
            Self::ResponseTimeout => "response_timeout",
            Self::GenericNack => "generic_nack",
            Self::MalformedPdu => "malformed_pdu",
        }
    }
}

/// The last error of a bind, as an operator reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionError {
    pub kind: SessionErrorKind,
    /// A sentence, e.g. `bind refused: invalid password (0x0000000E)`.
    pub message: String,
    /// The SMPP command_status involved, when the SMSC gave one.
    pub command_status: Option<u32>,
    pub at: SystemTime,
}

/// What a session has been through, readable while it runs. A bind keeps one across the
/// restarts of its actor, so the counts are the bind's, not one connection's.
#[derive(Debug, Default)]
pub struct SessionStats {
    /// The `bind` label of the error metrics; empty leaves the metrics alone.
    metric_label: String,
    /// Successful binds (the first one and every reconnect).
    pub binds: AtomicU64,
    pub connect_failures: AtomicU64,
    pub bind_refusals: AtomicU64,
    pub disconnects: AtomicU64,
    pub response_timeouts: AtomicU64,
    pub generic_nacks: AtomicU64,
    pub malformed_pdus: AtomicU64,
    /// Submits answered 0x58 or 0x14 (by `submit_sm_resp` or `generic_nack`).
    pub throttled: AtomicU64,
    /// Pauses those answers caused (a burst from one window is one pause).
    pub throttle_pauses: AtomicU64,
    /// When the current (or last) throttle pause ends, and how long it was.
    pause: Mutex<Option<(SystemTime, Duration)>>,
    last_error: Mutex<Option<SessionError>>,
    /// Answers (accepted or rejected parts) this bind's sessions have reported, and how many of
    /// them the owner has confirmed are recorded on disk (`record_answers`). The difference
    /// counts against the window: a part leaves the window only once what the carrier said
    /// about it is durable, so a crash re-sends at most one window's worth.
    answers: AtomicU64,
    recorded: AtomicU64,
    /// The same for receipts and inbound SMS (`deliver_sm`): the SMSC gets its
    /// `deliver_sm_resp` only once what it delivered is recorded, so a crash never loses a
    /// receipt the SMSC believes delivered (it sends it again instead).
    deliveries: AtomicU64,
    deliveries_recorded: AtomicU64,
    /// Wakes a session waiting for window room that only recording can free.
    recorded_wake: tokio::sync::Notify,
}

impl SessionStats {
    /// Stats whose errors also count in `flit_bind_errors_total{bind = label}`.
    pub fn for_bind(label: &str) -> SessionStats {
        SessionStats {
            metric_label: label.to_string(),
            ..SessionStats::default()
        }
    }

    /// Answers reported and not yet recorded on disk.
    pub fn unrecorded(&self) -> usize {
        let answers = self.answers.load(Ordering::Acquire);
        let recorded = self.recorded.load(Ordering::Acquire);
        usize::try_from(answers.saturating_sub(recorded)).unwrap_or(usize::MAX)
    }

    /// Counts one more answer reported; the owner numbers the answers it receives the same way
    /// (1, 2, … in order), starting from `forget_unrecorded`.
    fn next_answer(&self) -> u64 {
        self.answers.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Counts one more delivery reported, numbered like answers.
    fn next_delivery(&self) -> u64 {
        self.deliveries.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Every delivery up to number `upto` is on disk.
    pub fn record_deliveries(&self, upto: u64) {
        if self.deliveries_recorded.fetch_max(upto, Ordering::AcqRel) < upto {
            self.recorded_wake.notify_one();
        }
    }

    fn deliveries_recorded(&self) -> u64 {
        self.deliveries_recorded.load(Ordering::Acquire)
    }

    /// Every answer up to number `upto` is on disk.
    pub fn record_answers(&self, upto: u64) {
        if self.recorded.fetch_max(upto, Ordering::AcqRel) < upto {
            // A permit is kept when the session is not waiting yet, so no wake-up is lost.
            self.recorded_wake.notify_one();
        }
    }

    /// Counts every answer reported so far as recorded: for a new owner, since answers that
    /// were on their way to the old one are lost with it (their jobs are re-sent).
    pub fn forget_unrecorded(&self) -> (u64, u64) {
        let answers = self.answers.load(Ordering::Acquire);
        self.record_answers(answers);
        let deliveries = self.deliveries.load(Ordering::Acquire);
        self.record_deliveries(deliveries);
        (answers, deliveries)
    }

    pub fn last_error(&self) -> Option<SessionError> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The end and length of the current or last throttle pause.
    pub fn pause(&self) -> Option<(SystemTime, Duration)> {
        *self.pause.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sum of every error count.
    pub fn errors(&self) -> u64 {
        [
            &self.connect_failures,
            &self.bind_refusals,
            &self.disconnects,
            &self.response_timeouts,
            &self.generic_nacks,
            &self.malformed_pdus,
        ]
        .iter()
        .map(|counter| counter.load(Ordering::Relaxed))
        .sum()
    }

    fn record(&self, kind: SessionErrorKind, message: String, command_status: Option<u32>) {
        let counter = match kind {
            SessionErrorKind::ConnectFailed => &self.connect_failures,
            SessionErrorKind::BindRefused => &self.bind_refusals,
            SessionErrorKind::Disconnected => &self.disconnects,
            SessionErrorKind::ResponseTimeout => &self.response_timeouts,
            SessionErrorKind::GenericNack => &self.generic_nacks,
            SessionErrorKind::MalformedPdu => &self.malformed_pdus,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if !self.metric_label.is_empty() {
            metrics::counter!("flit_bind_errors_total", "bind" => self.metric_label.clone(), "error" => kind.label())
                .increment(1);
        }
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(SessionError {
            kind,
            message,
            command_status,
            at: SystemTime::now(),
        });
    }

    fn paused(&self, pause: Duration) {
        self.throttle_pauses.fetch_add(1, Ordering::Relaxed);
        *self.pause.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((SystemTime::now() + pause, pause));
    }
}

/// An SMPP command_status as an operator reads it: `invalid password (0x0000000E)`.
pub fn describe_status(status: u32) -> String {
    let name = match status {
        0x00 => "ok",
        0x01 => "invalid message length",
        0x02 => "invalid command length",
        0x03 => "invalid command id",
        0x04 => "incorrect bind status",
        0x05 => "already bound",
        0x08 => "system error",
        0x0A => "invalid source address",
        0x0B => "invalid destination address",
        0x0D => "bind failed",
        0x0E => "invalid password",
        0x0F => "invalid system_id",
        0x14 => "message queue full",
        0x45 => "submit_sm failed",
        0x58 => "throttled",
        0x61 => "invalid scheduled delivery time",
        0x62 => "invalid validity period",
        _ => "error",
    };
    format!("{name} (0x{status:08X})")
}

/// How a submit was answered.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Answer {
    SubmitSmResp,
    GenericNack,
    /// A `submit_sm_resp` whose body could not be decoded (its message id is lost).
    Unreadable,
}

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

/// A part built and waiting for window, TPS and throttle to allow it.
struct OutPart {
    submit: Arc<Submit>,
    part: u8,
    parts: u8,
    pdu: SubmitSm,
}

/// A part sent and awaiting its `submit_sm_resp`.
struct InFlight {
    id: u64,
    part: u8,
    parts: u8,
    sent_at: Instant,
    deadline: Instant,
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

/// Why a connection ended.
enum Ended {
    Shutdown,
    Refused(u32),
    Failed { reason: String, was_bound: bool },
}

#[derive(Default)]
struct Throttle {
    /// The pause the next throttle response causes; `None` after success.
    next: Option<Duration>,
    until: Option<Instant>,
    /// When the current pause began: answers to parts sent before it belong to it.
    since: Option<Instant>,
}

impl Throttle {
    /// A throttle answer to a part sent at `sent_at`: a new pause (doubling the last one), or
    /// `None` when the part left before the current pause began (same episode, one window of
    /// throttle answers must not double the pause once per answer).
    fn hit(&mut self, now: Instant, sent_at: Instant) -> Option<Duration> {
        if self.since.is_some_and(|since| sent_at <= since) {
            return None;
        }
        let pause = self.next.unwrap_or(THROTTLE_PAUSE_MIN);
        self.next = Some((pause * 2).min(THROTTLE_PAUSE_MAX));
        self.until = Some(now + pause);
        self.since = Some(now);
        Some(pause)
    }

    fn paused(&self, now: Instant) -> bool {
        self.until.is_some_and(|until| until > now)
    }
}

/// Token bucket by parts; one second of burst.
#[derive(Default)]
struct TokenBucket {
    tokens: f64,
    refilled: Option<Instant>,
}

impl TokenBucket {
    fn refill(&mut self, tps: u32, now: Instant) {
        let rate = f64::from(tps);
        match self.refilled {
            None => self.tokens = rate,
            Some(last) => {
                let earned = now.saturating_duration_since(last).as_secs_f64() * rate;
                self.tokens = (self.tokens + earned).min(rate);
            }
        }
        self.refilled = Some(now);
    }

    fn try_take(&mut self, tps: u32, now: Instant) -> bool {
        if tps == 0 {
            return true;
        }
        self.refill(tps, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// When the next token will be there.
    fn next_token(&self, tps: u32, now: Instant) -> Instant {
        if tps == 0 || self.tokens >= 1.0 {
            return now;
        }
        now + Duration::from_secs_f64((1.0 - self.tokens) / f64::from(tps))
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
    async fn run(mut self) {
        loop {
            if self.stopping || *self.stop.borrow() {
                break;
            }
            let ended = self.connect_and_serve().await;
            self.shared.bound.store(false, Ordering::Relaxed);
            self.shared.in_flight.store(0, Ordering::Relaxed);
            match ended {
                Ended::Shutdown => break,
                Ended::Refused(command_status) => {
                    warn!(command_status, "SMSC refused the bind");
                    self.stats.record(
                        SessionErrorKind::BindRefused,
                        format!("bind refused: {}", describe_status(command_status)),
                        Some(command_status),
                    );
                    self.emit(SessionEvent::BindRefused { command_status })
                        .await;
                }
                Ended::Failed { reason, was_bound } => {
                    info!(%reason, "SMPP session lost");
                    if was_bound {
                        self.backoff = self.config.reconnect_min;
                        self.stats.record(
                            SessionErrorKind::Disconnected,
                            format!("connection lost: {reason}"),
                            None,
                        );
                    } else {
                        self.stats
                            .record(SessionErrorKind::ConnectFailed, reason.clone(), None);
                    }
                    self.emit(SessionEvent::Disconnected { reason }).await;
                }
            }
            let delay = self.next_backoff();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.stop.changed() => break,
            }
        }
        self.abandon_outbox().await;
    }

    /// Equal jitter: half the current backoff fixed, half random; then double it.
    fn next_backoff(&mut self) -> Duration {
        let current = self.backoff.max(self.config.reconnect_min);
        self.backoff = (current * 2).min(self.config.reconnect_max.max(self.config.reconnect_min));
        let half = current / 2;
        half + half.mul_f64(rand::rng().random_range(0.0..=1.0))
    }

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

    async fn connect_and_serve(&mut self) -> Ended {
        let (tx_kind, rx_kind) = match self.config.bind_mode {
            BindMode::Transceiver => (BindKind::Transceiver, None),
            BindMode::TransmitterReceiver => (BindKind::Transmitter, Some(BindKind::Receiver)),
        };
        let (tx, system_id) = match self.open(tx_kind).await {
            Ok(opened) => opened,
            Err(ended) => return ended,
        };
        let rx = match rx_kind {
            Some(kind) => match self.open(kind).await {
                Ok((link, _)) => Some(link),
                Err(ended) => return ended,
            },
            None => None,
        };
        self.shared.bound.store(true, Ordering::Relaxed);
        self.stats.binds.fetch_add(1, Ordering::Relaxed);
        info!(%system_id, "SMPP session bound");
        self.emit(SessionEvent::Bound { system_id }).await;
        let mut connection = Connection {
            tx,
            rx,
            pending: HashMap::new(),
            unanswered: VecDeque::new(),
        };
        match self.serve(&mut connection).await {
            Ok(()) => {
                self.unbind(&mut connection).await;
                Ended::Shutdown
            }
            Err(reason) => {
                self.fail_in_flight(&mut connection).await;
                Ended::Failed {
                    reason,
                    was_bound: true,
                }
            }
        }
    }

    /// Connects and binds one link; returns it with the SMSC's system_id.
    async fn open(&mut self, kind: BindKind) -> Result<(Link, String), Ended> {
        let failed = |reason: String| Ended::Failed {
            reason,
            was_bound: false,
        };
        let bind = pdu::bind(&self.config, kind)
            .map_err(|err| failed(format!("invalid bind configuration: {err}")))?;
        let address = (self.config.host.as_str(), self.config.port);
        let deadline = Instant::now() + self.config.response_timeout;
        let stream = tokio::select! {
            connected = tokio::time::timeout_at(deadline, TcpStream::connect(address)) => match connected {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => return Err(failed(format!("connect failed: {err}"))),
                Err(_) => return Err(failed("connect timed out".into())),
            },
            _ = self.stop.changed() => return Err(Ended::Shutdown),
        };
        if let Err(err) = stream.set_nodelay(true) {
            warn!(%err, "could not set TCP_NODELAY");
        }
        let mut link = Link {
            framed: Framed::new(stream, FrameCodec::new()),
            sequence: 0,
            last_activity: Instant::now(),
            enquire: None,
        };
        let sequence = link.next_sequence();
        link.send(Command::new(CommandStatus::EsmeRok, sequence, bind))
            .await
            .map_err(failed)?;
        loop {
            let frame = tokio::select! {
                frame = link.framed.next() => frame,
                _ = sleep_until(deadline) => return Err(failed("bind timed out".into())),
                _ = self.stop.changed() => return Err(Ended::Shutdown),
            };
            let command = match frame {
                Some(Ok(Frame::Command(command))) => command,
                Some(Ok(Frame::Malformed(Malformed {
                    sequence: got,
                    error,
                    ..
                }))) => {
                    if got == sequence {
                        return Err(failed(format!("undecodable bind response: {error}")));
                    }
                    continue;
                }
                Some(Err(err)) => return Err(failed(format!("undecodable frame: {err}"))),
                None => return Err(failed("connection closed during bind".into())),
            };
            let is_answer = matches!(
                command.id(),
                CommandId::BindTransceiverResp
                    | CommandId::BindTransmitterResp
                    | CommandId::BindReceiverResp
                    | CommandId::GenericNack
            );
            if is_answer && command.sequence_number() == sequence {
                let status = u32::from(command.status());
                if status != 0 {
                    return Err(Ended::Refused(status));
                }
                let system_id = pdu::bind_resp_system_id(command.pdu()).unwrap_or_default();
                return Ok((link, system_id));
            }
            if command.id() == CommandId::EnquireLink {
                link.send(pdu::response(
                    command.sequence_number(),
                    Pdu::EnquireLinkResp,
                ))
                .await
                .map_err(failed)?;
            }
        }
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

    /// Parts in the window: awaiting their answer, or answered but not yet recorded on disk.
    fn window_used(&self, connection: &Connection) -> usize {
        connection.pending.len() + self.stats.unrecorded()
    }

    /// Nothing in flight, yet the window is full of answers waiting to be recorded.
    fn waiting_for_records(&self, connection: &Connection) -> bool {
        connection.pending.is_empty()
            && (self.stats.unrecorded() >= self.config.window_size.max(1)
                || !connection.unanswered.is_empty())
    }

    fn can_send(&self, connection: &Connection, now: Instant) -> bool {
        self.window_used(connection) < self.config.window_size.max(1) && !self.throttle.paused(now)
    }

    /// Sends parts while window, throttle and TPS allow, taking new work from the queue.
    async fn fill(&mut self, connection: &mut Connection) -> Result<(), String> {
        let mut sent = false;
        loop {
            let now = Instant::now();
            if !self.can_send(connection, now) {
                break;
            }
            if self.outbox.is_empty() {
                match self.queue.pop() {
                    Some(submit) => {
                        self.prepare(submit).await;
                        continue;
                    }
                    None => break,
                }
            }
            if !self.bucket.try_take(self.config.tps, now) {
                break;
            }
            let Some(out) = self.outbox.pop_front() else {
                break;
            };
            let sequence = connection.tx.next_sequence();
            connection.tx.last_activity = now;
            connection
                .tx
                .framed
                .feed(Command::new(CommandStatus::EsmeRok, sequence, out.pdu))
                .await
                .map_err(|err| format!("write failed: {err}"))?;
            sent = true;
            connection.pending.insert(
                sequence,
                InFlight {
                    id: out.submit.id,
                    part: out.part,
                    parts: out.parts,
                    sent_at: now,
                    deadline: now + self.config.response_timeout,
                },
            );
            self.shared
                .in_flight
                .store(connection.pending.len(), Ordering::Relaxed);
        }
        if sent {
            // CommandCodec encodes both `Command` and `&Command`, so flush must name the item.
            SinkExt::<Command>::flush(&mut connection.tx.framed)
                .await
                .map_err(|err| format!("write failed: {err}"))?;
        }
        Ok(())
    }

    /// Splits a submit into parts in the outbox; a part that cannot be built is rejected.
    async fn prepare(&mut self, submit: Submit) {
        self.reference = self.reference.wrapping_add(1);
        let message = coding::encode_message(
            &submit.text,
            self.config.gsm7,
            self.config.concatenation,
            self.reference,
        );
        let parts = u8::try_from(message.parts.len()).unwrap_or(u8::MAX);
        let submit = Arc::new(submit);
        for (index, encoded) in message.parts.iter().enumerate() {
            let part = u8::try_from(index + 1).unwrap_or(u8::MAX);
            match pdu::submit_sm(&submit, message.data_coding, encoded) {
                Ok(pdu) => self.outbox.push_back(OutPart {
                    submit: submit.clone(),
                    part,
                    parts,
                    pdu,
                }),
                Err(err) => {
                    warn!(id = submit.id, %err, "cannot build submit_sm");
                    self.emit(SessionEvent::PartRejected {
                        id: submit.id,
                        part,
                        parts,
                        command_status: err.command_status(),
                        temporary: false,
                    })
                    .await;
                }
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

    async fn reject(&self, in_flight: &InFlight, command_status: u32, temporary: bool) {
        self.emit(SessionEvent::PartRejected {
            id: in_flight.id,
            part: in_flight.part,
            parts: in_flight.parts,
            command_status,
            temporary,
        })
        .await;
    }

    async fn handle(
        &mut self,
        connection: &mut Connection,
        side: Side,
        frame: Option<Result<Frame, DecodeError>>,
    ) -> Result<(), String> {
        let frame = match frame {
            Some(Ok(frame)) => frame,
            // rusmpp's codec cannot resynchronise after a bad frame, and neither could we.
            Some(Err(err)) => return Err(format!("undecodable frame: {err}")),
            None => return Err("connection closed by the SMSC".into()),
        };
        let inbound = inbound::classify(
            frame,
            self.config.gsm7,
            &mut self.reassembler,
            Instant::now(),
        );
        if let Some(malformed) = inbound.malformed() {
            self.record_malformed(malformed);
        }
        let Some(link) = connection.link(side) else {
            return Ok(());
        };
        link.last_activity = Instant::now();
        match inbound {
            Inbound::SubmitSmResp {
                sequence,
                command_status,
                smsc_message_id,
            } => {
                self.on_submit_response(
                    connection,
                    sequence,
                    command_status,
                    Answer::SubmitSmResp,
                    Some(smsc_message_id),
                )
                .await;
            }
            Inbound::GenericNack {
                sequence,
                command_status,
            } => {
                if link.enquire.is_some_and(|(s, _)| s == sequence) {
                    link.enquire = None;
                } else {
                    self.on_submit_response(
                        connection,
                        sequence,
                        command_status,
                        Answer::GenericNack,
                        None,
                    )
                    .await;
                }
            }
            Inbound::DeliverSm { sequence, delivery } => match delivery {
                // Answered once recorded (`answer_recorded_deliveries`).
                Some(delivery) => {
                    let number = self.on_delivery(delivery).await;
                    connection.unanswered.push_back((number, side, sequence));
                }
                None => link.send(pdu::deliver_sm_resp(sequence)).await?,
            },
            Inbound::EnquireLink { sequence } => {
                link.send(pdu::response(sequence, Pdu::EnquireLinkResp))
                    .await?;
            }
            Inbound::EnquireLinkResp { sequence } => {
                if link.enquire.is_some_and(|(s, _)| s == sequence) {
                    link.enquire = None;
                }
            }
            Inbound::Unbind { sequence } => {
                link.send(pdu::response(sequence, Pdu::UnbindResp)).await?;
                return Err("unbind from the SMSC".into());
            }
            Inbound::Unsupported { sequence, id } => {
                debug!(?id, "unsupported PDU from the SMSC");
                link.send(pdu::generic_nack(sequence, pdu::STATUS_INVALID_COMMAND_ID))
                    .await?;
            }
            Inbound::Unexpected { sequence, id } => {
                debug!(?id, sequence, "unexpected response ignored");
            }
            // Skipped, never fatal. An operation gets a `generic_nack` (the SMSC may send it
            // again); an unreadable `submit_sm_resp` leaves its part's fate unknown, so the
            // part is rejected temporary and sent again.
            Inbound::MalformedOperation(malformed) => {
                link.send(pdu::generic_nack(
                    malformed.sequence,
                    STATUS_INVALID_COMMAND_LENGTH,
                ))
                .await?;
            }
            Inbound::MalformedSubmitSmResp(malformed) => {
                self.on_submit_response(
                    connection,
                    malformed.sequence,
                    malformed.command_status,
                    Answer::Unreadable,
                    None,
                )
                .await;
            }
            Inbound::MalformedResponse(_) => {}
        }
        Ok(())
    }

    /// A well-framed PDU rusmpp could not decode is counted, whatever it was.
    fn record_malformed(&self, malformed: &Malformed) {
        let Malformed {
            command_id,
            command_status,
            sequence,
            error,
        } = malformed;
        warn!(
            command_id = format!("{command_id:#010x}"),
            sequence, %error, "undecodable PDU from the SMSC skipped"
        );
        self.stats.record(
            SessionErrorKind::MalformedPdu,
            format!("malformed PDU skipped (command_id {command_id:#010x}, sequence {sequence}): {error}"),
            (*command_status != 0).then_some(*command_status),
        );
    }

    async fn on_submit_response(
        &mut self,
        connection: &mut Connection,
        sequence: u32,
        status: u32,
        answer: Answer,
        smsc_message_id: Option<String>,
    ) {
        let Some(in_flight) = connection.pending.remove(&sequence) else {
            debug!(
                sequence,
                "response to no submit in flight (late after a timeout?)"
            );
            return;
        };
        self.shared
            .in_flight
            .store(connection.pending.len(), Ordering::Relaxed);
        if answer == Answer::GenericNack {
            self.stats.record(
                SessionErrorKind::GenericNack,
                format!("generic_nack to submit_sm: {}", describe_status(status)),
                Some(status),
            );
        }
        if status == 0 && answer == Answer::SubmitSmResp {
            self.throttle.next = None;
            self.emit(SessionEvent::PartAccepted {
                id: in_flight.id,
                part: in_flight.part,
                parts: in_flight.parts,
                smsc_message_id: smsc_message_id.unwrap_or_default(),
            })
            .await;
            return;
        }
        // A generic_nack says the SMSC could not take the PDU, not that the message is bad;
        // an unreadable answer says nothing: both are sent again (status writer's attempts).
        let temporary = answer != Answer::SubmitSmResp
            || status == 0
            || matches!(
                status,
                pdu::STATUS_THROTTLED | pdu::STATUS_MESSAGE_QUEUE_FULL | pdu::STATUS_SYSTEM_ERROR
            );
        self.reject(&in_flight, status, temporary).await;
        if matches!(
            status,
            pdu::STATUS_THROTTLED | pdu::STATUS_MESSAGE_QUEUE_FULL
        ) {
            self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            let now = Instant::now();
            if let Some(pause) = self.throttle.hit(now, in_flight.sent_at) {
                warn!(status, ?pause, "SMSC throttles: pausing submits");
                self.stats.paused(pause);
                self.emit(SessionEvent::Throttled { pause }).await;
            }
        }
    }

    /// Reports a receipt or a (reassembled) inbound SMS; returns its delivery number.
    async fn on_delivery(&mut self, delivery: Delivery) -> u64 {
        let number = self.stats.next_delivery();
        self.emit(delivery.into()).await;
        number
    }

    /// Sends the `deliver_sm_resp` of every delivery recorded by now.
    async fn answer_recorded_deliveries(
        &mut self,
        connection: &mut Connection,
    ) -> Result<(), String> {
        let recorded = self.stats.deliveries_recorded();
        while let Some(&(number, side, sequence)) = connection.unanswered.front() {
            if number > recorded {
                break;
            }
            connection.unanswered.pop_front();
            if let Some(link) = connection.link(side) {
                link.send(pdu::deliver_sm_resp(sequence)).await?;
            }
        }
        Ok(())
    }

    /// After a loss: every part in flight is reported temporary, for the caller to requeue.
    async fn fail_in_flight(&mut self, connection: &mut Connection) {
        let mut lost: Vec<InFlight> = connection.pending.drain().map(|(_, f)| f).collect();
        lost.sort_by_key(|f| (f.id, f.part));
        for in_flight in &lost {
            self.reject(in_flight, 0, true).await;
        }
        self.shared.in_flight.store(0, Ordering::Relaxed);
    }

    /// Shutdown with parts not sent: a submit none of whose parts went out goes back to the
    /// queue whole; the remaining parts of a partly sent one are reported temporary. (The
    /// outbox holds the parts of one message at most: the queue is only read when it is empty.)
    async fn abandon_outbox(&mut self) {
        let outbox: Vec<OutPart> = std::mem::take(&mut self.outbox).into();
        let Some(first) = outbox.first() else { return };
        if first.part == 1 && outbox.len() == usize::from(first.parts) {
            self.queue.requeue((*first.submit).clone());
            return;
        }
        for out in &outbox {
            self.emit(SessionEvent::PartRejected {
                id: out.submit.id,
                part: out.part,
                parts: out.parts,
                command_status: 0,
                temporary: true,
            })
            .await;
        }
    }

    async fn unbind(&mut self, connection: &mut Connection) {
        let remaining: Vec<InFlight> = connection.pending.drain().map(|(_, f)| f).collect();
        for in_flight in &remaining {
            self.reject(in_flight, 0, true).await;
        }
        self.shared.in_flight.store(0, Ordering::Relaxed);
        for side in [Side::Tx, Side::Rx] {
            let timeout = self.config.response_timeout;
            let Some(link) = connection.link(side) else {
                continue;
            };
            let sequence = link.next_sequence();
            if link
                .send(Command::new(CommandStatus::EsmeRok, sequence, Pdu::Unbind))
                .await
                .is_err()
            {
                continue;
            }
            let deadline = Instant::now() + timeout;
            loop {
                let frame = tokio::select! {
                    frame = link.framed.next() => frame,
                    _ = sleep_until(deadline) => break,
                };
                match frame {
                    Some(Ok(Frame::Command(command))) if command.id() == CommandId::UnbindResp => {
                        break;
                    }
                    Some(Ok(Frame::Command(command))) if command.id() == CommandId::DeliverSm => {
                        // Not acknowledged: the SMSC will deliver it again on the next bind.
                        debug!("deliver_sm during unbind left for the next session");
                    }
                    Some(Ok(Frame::Command(command))) if command.id() == CommandId::EnquireLink => {
                        let _ = link
                            .send(pdu::response(
                                command.sequence_number(),
                                Pdu::EnquireLinkResp,
                            ))
                            .await;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                }
            }
            let _ = SinkExt::<Command>::close(&mut link.framed).await;
        }
        info!("SMPP session unbound");
    }
}

async fn next_frame(link: Option<&mut Link>) -> Option<Result<Frame, DecodeError>> {
    match link {
        Some(link) => link.framed.next().await,
        None => std::future::pending().await,
    }
}
