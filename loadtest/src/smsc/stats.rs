//! Counters the simulated SMSC keeps, as atomics while it runs and as a plain snapshot for
//! callers ([`SmscStats`]).

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the SMSC's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SmscStats {
    /// TCP connections accepted.
    pub connections: u64,
    /// Successful binds (any mode).
    pub binds: u64,
    /// Binds refused (bad credentials, already bound).
    pub bind_failures: u64,
    /// Sessions bound right now.
    pub bound_sessions: u64,
    /// `unbind` requests answered.
    pub unbinds: u64,
    /// `enquire_link` requests answered.
    pub enquire_links: u64,
    /// `generic_nack`s sent for unknown or unsupported commands.
    pub generic_nacks: u64,
    /// Every `submit_sm` received from a bound transmitter, whatever happened to it.
    pub submits: u64,
    /// Submits answered `ESME_ROK` with a message id.
    pub accepted: u64,
    /// Accepted submits that are a part of a concatenated message (UDH or SAR).
    pub parts: u64,
    /// Accepted logical messages: single-part submits plus part 1 of concatenated ones.
    pub messages: u64,
    /// Submits answered `ESME_RTHROTTLED`.
    pub throttled: u64,
    /// Connections dropped by the disconnect fault.
    pub disconnects: u64,
    /// Garbage writes made in place of a `submit_sm_resp`.
    pub garbage_sent: u64,
    /// Submits answered with a `generic_nack` (the `generic_nack_every` fault).
    pub nacked_submits: u64,
    /// Undecodable `submit_sm_resp`s written (the `malformed_every` fault).
    pub malformed_sent: u64,
    /// Receipts made up for message ids never handed out (the `stray_receipts_every` fault).
    pub stray_receipts: u64,
    /// Times the SMSC restarted (dropped every session and listened again).
    pub restarts: u64,
    /// Submits left unanswered because the SMSC is silent.
    pub ignored: u64,
    /// Delivery receipts written as `deliver_sm` (re-sends after a reconnect count again).
    pub receipts_sent: u64,
    /// Receipts acknowledged by `deliver_sm_resp` with `ESME_ROK`.
    pub receipts_acked: u64,
    /// Receipts (and inbound messages) waiting for a receiver of their system_id to bind.
    pub receipts_queued: u64,
    /// Mobile-originated `deliver_sm` parts written.
    pub inbound_sent: u64,
    /// Mobile-originated parts acknowledged with `ESME_ROK`.
    pub inbound_acked: u64,
    /// `deliver_sm_resp` with a non-zero status (the deliver is dropped, not retried).
    pub deliver_errors: u64,
    /// Largest number of unanswered submits seen on one session.
    pub max_outstanding_seen: u64,
    /// Times a session went above `max_window_check` unanswered submits.
    pub window_violations: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub connections: AtomicU64,
    pub binds: AtomicU64,
    pub bind_failures: AtomicU64,
    pub bound_sessions: AtomicU64,
    pub unbinds: AtomicU64,
    pub enquire_links: AtomicU64,
    pub generic_nacks: AtomicU64,
    pub submits: AtomicU64,
    pub accepted: AtomicU64,
    pub parts: AtomicU64,
    pub messages: AtomicU64,
    pub throttled: AtomicU64,
    pub disconnects: AtomicU64,
    pub garbage_sent: AtomicU64,
    pub nacked_submits: AtomicU64,
    pub malformed_sent: AtomicU64,
    pub stray_receipts: AtomicU64,
    pub restarts: AtomicU64,
    pub ignored: AtomicU64,
    pub receipts_sent: AtomicU64,
    pub receipts_acked: AtomicU64,
    pub inbound_sent: AtomicU64,
    pub inbound_acked: AtomicU64,
    pub deliver_errors: AtomicU64,
    pub max_outstanding_seen: AtomicU64,
    pub window_violations: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub fn snapshot(&self, receipts_queued: u64) -> SmscStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SmscStats {
            connections: get(&self.connections),
            binds: get(&self.binds),
            bind_failures: get(&self.bind_failures),
            bound_sessions: get(&self.bound_sessions),
            unbinds: get(&self.unbinds),
            enquire_links: get(&self.enquire_links),
            generic_nacks: get(&self.generic_nacks),
            submits: get(&self.submits),
            accepted: get(&self.accepted),
            parts: get(&self.parts),
            messages: get(&self.messages),
            throttled: get(&self.throttled),
            disconnects: get(&self.disconnects),
            garbage_sent: get(&self.garbage_sent),
            nacked_submits: get(&self.nacked_submits),
            malformed_sent: get(&self.malformed_sent),
            stray_receipts: get(&self.stray_receipts),
            restarts: get(&self.restarts),
            ignored: get(&self.ignored),
            receipts_sent: get(&self.receipts_sent),
            receipts_acked: get(&self.receipts_acked),
            receipts_queued,
            inbound_sent: get(&self.inbound_sent),
            inbound_acked: get(&self.inbound_acked),
            deliver_errors: get(&self.deliver_errors),
            max_outstanding_seen: get(&self.max_outstanding_seen),
            window_violations: get(&self.window_violations),
        }
    }
}
