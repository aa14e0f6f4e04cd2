//! The SMPP 3.4 client (ESME) side of a bind: one [`SessionHandle`] per bind keeps a session
//! to an SMSC alive (connect, bind, enquire_link, reconnect with backoff), pulls [`Submit`]s from
//! a [`SubmitQueue`] it does not own, sends them as `submit_sm` parts within a window and a TPS
//! limit, and reports everything that happens as [`SessionEvent`]s on a channel. It owns no
//! storage and no message state beyond the window: mapping SMSC ids to recipients, retrying,
//! refunding and failing over belong to the caller.
//!
//! - [`session`]: the task, its window, timers, throttling and reconnects.
//! - [`pdu`]: building and reading PDUs (rusmpp types are also framed in [`frame`] and the
//!   session, and addresses typed in [`coding`]; nothing outside this folder sees them).
//! - [`frame`]: cutting the byte stream from the SMSC into PDUs, each decoded on its own.
//! - [`inbound`]: what each PDU from the SMSC is, for the session and for fuzzing alike.
//! - [`coding`]: data_coding, TON/NPI, concatenation, packing, inbound decoding and reassembly.
//! - [`receipt`]: the receipt text parser and the spellings SMSC ids are matched by.
//! - [`config`]: a bind record read as a session's configuration.
//!
//! Architecture invariant: PDUs are encoded and decoded only by `rusmpp` (its tokio codec);
//! text is encoded only by [`crate::text`], never by rusmpp's `extra` features.

pub mod coding;
pub mod config;
pub mod frame;
pub mod inbound;
pub mod pdu;
pub mod receipt;
pub mod session;
pub mod status;

#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

pub use crate::channel::{InboundSms, SessionEvent, Submit, SubmitQueue};
pub use receipt::{Receipt, alternate_smsc_ids, normalise_smsc_id};
pub use session::SessionHandle;

pub use crate::store::records::{BindMode, Concatenation, Gsm7Mode};

/// Everything a session needs to reach and use one SMSC account.
#[derive(Clone)]
pub struct BindConfig {
    pub host: String,
    pub port: u16,
    /// At most 15 characters (SMPP `system_id` is a C-string of 16 octets).
    pub system_id: String,
    /// At most 8 characters; sealed until the bind request is built.
    pub password: config::BindPassword,
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
            password: config::BindPassword::default(),
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
