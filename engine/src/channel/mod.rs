//! Channels: what the router hands jobs to. A channel kind ([`ChannelKind`]) is one way of
//! delivering an SMS, a sibling folder or file here: `sandbox.rs` (the built-in simulator)
//! `smpp/` (a carrier's SMSC) and `device.rs` (a tenant's own phone); the SMPP server's
//! customers are the next sibling. Every kind speaks one contract, the seam: a running [`Session`] takes
//! [`Submit`]s from its queue ([`SubmitQueue`]) and reports what happened as
//! [`SessionEvent`]s (parts accepted or refused, receipts, inbound SMS).
//!
//! `bind.rs` is the channel actor: one per configured channel (a "bind"), the same for every
//! kind. It starts a session of its kind, turns its events into status events, and keeps the
//! channel's live state. The router chooses between channels and the status writer records
//! what they report, never knowing which kind answered.

pub mod device;
pub mod queue;
pub mod sandbox;
pub mod smpp;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc;

pub use crate::store::records::{Receipt, ReceiptState};
pub use queue::SubmitQueue;
use smpp::session::SessionStats;

/// How a channel delivers.
#[derive(Clone, Debug)]
pub enum ChannelKind {
    /// The built-in simulator: takes everything, "delivers" it a second later.
    Sandbox,
    /// An SMPP 3.4 bind to a carrier's SMSC.
    Smpp(smpp::BindConfig),
    /// One of a tenant's own phones (the SMS Gate app), which pulls its work.
    Device(Arc<device::DeviceLink>),
}

impl ChannelKind {
    /// Starts a session of this kind: it reads `queue` and reports on `events` until it is
    /// shut down or dropped. `stats` outlives the session (the channel's counters).
    pub fn start(
        &self,
        queue: Arc<SubmitQueue>,
        events: mpsc::Sender<SessionEvent>,
        stats: Arc<SessionStats>,
    ) -> Box<dyn Session> {
        match self {
            ChannelKind::Sandbox => Box::new(sandbox::Simulator::spawn(
                queue,
                events,
                sandbox::RECEIPT_DELAY,
            )),
            ChannelKind::Smpp(config) => Box::new(smpp::SessionHandle::spawn(
                config.clone(),
                queue,
                events,
                stats,
            )),
            ChannelKind::Device(link) => {
                Box::new(device::DeviceSession::spawn(link.clone(), queue, events))
            }
        }
    }

    /// The phone, for a device channel.
    pub fn device(&self) -> Option<&Arc<device::DeviceLink>> {
        match self {
            ChannelKind::Device(link) => Some(link),
            _ => None,
        }
    }
}

/// A running session of some channel kind. Dropping it ends it at once (its peer sees the
/// connection go); [`Session::shutdown`] ends it gracefully.
pub trait Session: Send + 'static {
    /// Stops taking work, waits for the answers in flight, says goodbye to the peer.
    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()>;
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
    /// Which recipient of which message it carries, when dispatch knows: a phone keeps it
    /// under an id made from this, the same after a restart, so a phone that already has it
    /// does not send it again.
    pub recipient: Option<(crate::ids::MessageId, u32)>,
    /// When the message's validity period ends, if it has one.
    pub valid_until: Option<crate::store::records::UnixMillis>,
    /// The SIM (1 to 3) a phone must send it from; carriers ignore it.
    pub sim: Option<u8>,
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
    /// The channel took the part (`submit_sm_resp` status 0). A channel that sends a message
    /// whole (SMPP with `message_payload`) reports it as one part.
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
    /// The channel held submit `id` past its validity period without sending it, and gives
    /// it up (a phone that took it and was never heard from again).
    Expired {
        id: u64,
    },
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
