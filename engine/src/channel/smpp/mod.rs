//! The SMPP 3.4 client (ESME) side of a bind: one [`SessionHandle`] per bind keeps a session
//! to an SMSC alive (connect, bind, enquire_link, reconnect with backoff), pulls [`Submit`]s from
//! a [`SubmitQueue`] it does not own, sends them as `submit_sm` parts within a window and a TPS
//! limit, and reports everything that happens as [`SessionEvent`]s on a channel. It owns no
//! storage and no message state beyond the window: mapping SMSC ids to recipients, retrying,
//! refunding and failing over belong to the caller.
//!
//! - [`session`]: the task, its window, timers, throttling and reconnects.
//! - [`pdu`]: the only place that builds or reads rusmpp types.
//! - [`frame`]: cutting the byte stream from the SMSC into PDUs, each decoded on its own.
//! - [`inbound`]: what each PDU from the SMSC is, for the session and for fuzzing alike.
//! - [`coding`]: data_coding, TON/NPI, concatenation, packing, inbound decoding and reassembly.
//! - [`receipt`]: receipt states, the receipt text parser and SMSC id matching keys.
//! - [`queue`]: the work queue that outlives sessions.
//!
//! Architecture invariant: PDUs are encoded and decoded only by `rusmpp` (its tokio codec);
//! text is encoded only by [`crate::text`], never by rusmpp's `extra` features.

pub mod binds;
pub mod coding;
pub mod frame;
pub mod inbound;
pub mod pdu;
pub mod queue;
pub mod receipt;
pub mod session;

#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

pub use queue::SubmitQueue;
pub use receipt::{Receipt, ReceiptState, alternate_smsc_ids, normalise_smsc_id};
pub use session::SessionHandle;

pub use crate::store::records::{BindMode, Concatenation, Gsm7Mode};

/// Everything a session needs to reach and use one SMSC account.
#[derive(Clone, PartialEq, Eq)]
pub struct BindConfig {
    pub host: String,
    pub port: u16,
    /// At most 15 characters (SMPP `system_id` is a C-string of 16 octets).
    pub system_id: String,
    /// At most 8 characters.
    pub password: String,
    /// At most 12 characters; usually empty.
    pub system_type: String,
    pub bind_mode: BindMode,
    /// Most `submit_sm` awaiting a response at once.
    pub window_size: usize,
    /// Parts per second; 0 = unlimited.
    pub tps: u32,
    pub gsm7: Gsm7Mode,
    pub concatenation: Concatenation,
    /// How long a request (bind, submit_sm, enquire_link, unbind) may wait for its response.
    pub response_timeout: Duration,
    /// Idle time after which an enquire_link is sent.
    pub enquire_link_interval: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

impl Default for BindConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 2775,
            system_id: String::new(),
            password: String::new(),
            system_type: String::new(),
            bind_mode: BindMode::Transceiver,
            window_size: 50,
            tps: 0,
            gsm7: Gsm7Mode::Unpacked,
            concatenation: Concatenation::Udh,
            response_timeout: Duration::from_secs(10),
            enquire_link_interval: Duration::from_secs(30),
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
        }
    }
}

/// Manual so the password never reaches a log line.
impl fmt::Debug for BindConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BindConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("system_id", &self.system_id)
            .field("password", &"<redacted>")
            .field("system_type", &self.system_type)
            .field("bind_mode", &self.bind_mode)
            .field("window_size", &self.window_size)
            .field("tps", &self.tps)
            .field("gsm7", &self.gsm7)
            .field("concatenation", &self.concatenation)
            .field("response_timeout", &self.response_timeout)
            .field("enquire_link_interval", &self.enquire_link_interval)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .finish()
    }
}

/// One SMS to one recipient; the session splits it into parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submit {
    /// The caller's correlation id, echoed in every event about this submit.
    pub id: u64,
    /// Sender ID as given: alphanumeric, short code or international digits.
    pub source: String,
    /// International digits without `+`.
    pub destination: String,
    pub text: String,
    pub registered_delivery: bool,
}

/// What a session reports. Parts are numbered from 1.
///
/// `PartRejected` with `command_status` 0 means no SMSC status exists: the response timed out,
/// the connection was lost with the part in flight, or the session shut down before sending it;
/// these are always `temporary`. A part the session cannot even build (an address too long for
/// SMPP) is rejected permanently with the status an SMSC would have used: 0x0A invalid source
/// address, 0x0B invalid destination address, 0x01 invalid message length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// After `bind_resp` OK (both binds in transmitter_receiver mode).
    Bound {
        system_id: String,
    },
    /// The session was lost, or a connection or bind attempt failed without an SMSC status;
    /// a reconnect follows after backoff.
    Disconnected {
        reason: String,
    },
    /// The SMSC answered the bind with this status; retried with backoff.
    BindRefused {
        command_status: u32,
    },
    /// `submit_sm_resp` status 0. With [`Concatenation::Payload`] a message is one part.
    PartAccepted {
        id: u64,
        part: u8,
        parts: u8,
        smsc_message_id: String,
    },
    /// Temporary for 0x58 throttled, 0x14 queue full, 0x08 system error and for the
    /// status-0 cases above.
    PartRejected {
        id: u64,
        part: u8,
        parts: u8,
        command_status: u32,
        temporary: bool,
    },
    /// After 0x58/0x14: the session sends nothing for `pause` (doubling on each throttle
    /// response, reset by the next accepted part).
    Throttled {
        pause: Duration,
    },
    Receipt(Receipt),
    /// A `deliver_sm` that is not a receipt, concatenated parts reassembled.
    Inbound(InboundSms),
}

/// A mobile-originated message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundSms {
    pub source: String,
    pub destination: String,
    pub text: String,
    pub parts: u8,
}
