//! What a bind's sessions have been through, readable while they run: successful binds,
//! errors by kind with the last one's text (also counted in `flit_bind_errors_total`), the
//! throttle pauses, and the answers and deliveries reported but not yet recorded on disk, which
//! hold the window (a crash re-sends at most one window's worth).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

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
    pub(super) recorded_wake: tokio::sync::Notify,
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
    pub(super) fn next_answer(&self) -> u64 {
        self.answers.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Counts one more delivery reported, numbered like answers.
    pub(super) fn next_delivery(&self) -> u64 {
        self.deliveries.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Every delivery up to number `upto` is on disk.
    pub fn record_deliveries(&self, upto: u64) {
        if self.deliveries_recorded.fetch_max(upto, Ordering::AcqRel) < upto {
            self.recorded_wake.notify_one();
        }
    }

    pub(super) fn deliveries_recorded(&self) -> u64 {
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

    pub(super) fn record(
        &self,
        kind: SessionErrorKind,
        message: String,
        command_status: Option<u32>,
    ) {
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

    pub(super) fn paused(&self, pause: Duration) {
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
