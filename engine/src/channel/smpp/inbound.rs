//! What a frame from the SMSC is to a bound session: the one classification of inbound PDUs.
//! The live session acts on it and the `smpp_inbound` fuzz target asserts on it, so fuzzing
//! runs the code a session runs. For a `deliver_sm` it also decides what is delivered: a
//! receipt, or an inbound SMS once reassembly has all its parts. It writes nothing back and
//! knows nothing of the link or the window: answering the SMSC, and matching responses to the
//! submits in flight or to an enquire_link, are the session's.

use rusmpp::{CommandId, Pdu};
use tokio::time::Instant;
use tracing::warn;

use super::coding::{self, Reassembler};
use super::frame::{Frame, Malformed};
use super::{Gsm7Mode, InboundSms, Receipt, SessionEvent, pdu};

/// One frame from the SMSC, classified; `sequence` is its sequence_number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A `submit_sm_resp`; `smsc_message_id` is empty when the SMSC sent none.
    SubmitSmResp {
        sequence: u32,
        command_status: u32,
        smsc_message_id: String,
    },
    /// A `generic_nack`, to an enquire_link or to a submit.
    GenericNack {
        sequence: u32,
        command_status: u32,
    },
    /// A `deliver_sm` and what it delivers: nothing while a part waits for the rest of its
    /// message, or when a receipt has no id or state.
    DeliverSm {
        sequence: u32,
        delivery: Option<Delivery>,
    },
    EnquireLink {
        sequence: u32,
    },
    EnquireLinkResp {
        sequence: u32,
    },
    Unbind {
        sequence: u32,
    },
    /// An operation an ESME does not take, or a command_id rusmpp does not know.
    Unsupported {
        sequence: u32,
        id: CommandId,
    },
    /// A response to nothing a bound session asks (a bind or unbind response, say).
    Unexpected {
        sequence: u32,
        id: CommandId,
    },
    /// An operation whose body could not be decoded; the SMSC may send it again.
    MalformedOperation(Malformed),
    /// A `submit_sm_resp` whose body could not be decoded: its message id is lost.
    MalformedSubmitSmResp(Malformed),
    /// Any other response whose body could not be decoded.
    MalformedResponse(Malformed),
}

impl Inbound {
    /// The undecodable PDU this is, if it is one.
    pub fn malformed(&self) -> Option<&Malformed> {
        match self {
            Inbound::MalformedOperation(malformed)
            | Inbound::MalformedSubmitSmResp(malformed)
            | Inbound::MalformedResponse(malformed) => Some(malformed),
            _ => None,
        }
    }
}

/// What a `deliver_sm` delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    Receipt(Receipt),
    /// A mobile-originated message, its concatenated parts reassembled.
    Sms(InboundSms),
}

impl From<Delivery> for SessionEvent {
    fn from(delivery: Delivery) -> SessionEvent {
        match delivery {
            Delivery::Receipt(receipt) => SessionEvent::Receipt(receipt),
            Delivery::Sms(sms) => SessionEvent::Inbound(sms),
        }
    }
}

/// Classifies one frame as a bound session reads it. `gsm7` is how the bind lays out GSM-7;
/// parts of inbound messages wait in `reassembler` across frames, aged by `now`.
pub fn classify(
    frame: Frame,
    gsm7: Gsm7Mode,
    reassembler: &mut Reassembler,
    now: Instant,
) -> Inbound {
    let command = match frame {
        Frame::Command(command) => command,
        Frame::Malformed(malformed) => {
            return if malformed.command_id & 0x8000_0000 == 0 {
                Inbound::MalformedOperation(malformed)
            } else if malformed.command_id == u32::from(CommandId::SubmitSmResp) {
                Inbound::MalformedSubmitSmResp(malformed)
            } else {
                Inbound::MalformedResponse(malformed)
            };
        }
    };
    let sequence = command.sequence_number();
    let command_status = u32::from(command.status());
    match command.id() {
        CommandId::SubmitSmResp => Inbound::SubmitSmResp {
            sequence,
            command_status,
            smsc_message_id: pdu::submit_sm_resp_id(command.pdu()),
        },
        CommandId::GenericNack => Inbound::GenericNack {
            sequence,
            command_status,
        },
        CommandId::DeliverSm => Inbound::DeliverSm {
            sequence,
            delivery: match command.pdu() {
                Some(Pdu::DeliverSm(deliver)) => {
                    delivery(pdu::deliver_content(deliver), gsm7, reassembler, now)
                }
                _ => None,
            },
        },
        CommandId::EnquireLink => Inbound::EnquireLink { sequence },
        CommandId::EnquireLinkResp => Inbound::EnquireLinkResp { sequence },
        CommandId::Unbind => Inbound::Unbind { sequence },
        id if id.is_operation() || matches!(command.pdu(), Some(Pdu::Other { .. })) => {
            Inbound::Unsupported { sequence, id }
        }
        id => Inbound::Unexpected { sequence, id },
    }
}

/// What a `deliver_sm` becomes: a receipt, an inbound message once its last part is in
/// `reassembler`, or nothing (a part is missing, or a receipt has no id or state).
fn delivery(
    content: coding::DeliverContent,
    gsm7: Gsm7Mode,
    reassembler: &mut Reassembler,
    now: Instant,
) -> Option<Delivery> {
    if content.is_receipt() {
        let receipt = coding::receipt_from(&content);
        if receipt.is_none() {
            warn!(?content, "receipt without id or state ignored");
        }
        return receipt.map(Delivery::Receipt);
    }
    let fragment = coding::fragment_from(&content, gsm7);
    reassembler.push(fragment, now).map(Delivery::Sms)
}
