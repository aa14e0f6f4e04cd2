//! What the SMPP server (SPEC §14) keeps for its customers: where a message submitted over
//! SMPP came from (so its receipt can go back), the `deliver_sm` held for an account until one
//! of its receiver binds takes it, and the parts of a concatenated submit still waiting for
//! the rest.

use super::*;

/// A message a customer submitted over SMPP asking for a receipt: whose bind it came from
/// and what the receipt must say. Kept until the receipt is written to the account's outbox.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SmppOrigin {
    pub message: MessageId,
    pub tenant: TenantId,
    pub account: SmppAccountId,
    /// `registered_delivery` as the customer sent it (bits 0-1: 1 = any final state, 2 =
    /// failures only).
    pub registered_delivery: u8,
    /// The customer's submits this message was made of: 1, or the parts of a concatenated
    /// one, each answered with its own id (`<message id>-<part>`) and given its own receipt.
    pub parts: u8,
    /// The addresses as the customer wrote them; a receipt swaps them.
    pub source: String,
    pub destination: String,
    /// The start of the text, for the receipt's `text:` field.
    pub text_start: String,
    pub submitted_at: UnixMillis,
}

impl SmppOrigin {
    /// Whether a recipient ending `delivered` (or not) is to be told.
    pub fn wants_receipt(&self, delivered: bool) -> bool {
        match self.registered_delivery & 0x03 {
            1 => true,
            2 => !delivered,
            _ => false,
        }
    }
}

/// A `deliver_sm` held for an account until a receiver bind of it answers it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SmppHeld {
    pub id: SmppHeldId,
    pub account: SmppAccountId,
    pub what: SmppHeldKind,
}

/// What a held `deliver_sm` says.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum SmppHeldKind {
    Receipt(SmppReceipt),
    /// An SMS the tenant received (from a carrier or one of its phones).
    Inbound {
        from: String,
        to: String,
        text: String,
        received_at: UnixMillis,
    },
}

/// A delivery receipt for one of the customer's submits, in the terms of the receipt text.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SmppReceipt {
    /// The id the customer's `submit_sm_resp` carried.
    pub id: String,
    /// From the recipient, to the customer's source address.
    pub source: String,
    pub destination: String,
    /// SMPP `message_state`: 2 delivered, 3 expired, 4 deleted, 5 undeliverable, 8 rejected.
    pub message_state: u8,
    /// `err:` of the receipt text, three digits.
    pub error: u16,
    pub submitted_at: UnixMillis,
    pub done_at: UnixMillis,
    pub text_start: String,
}

/// One part of a concatenated submit, on disk until its message is complete.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SmppPart {
    /// The id every part of this message is answered under (with its part number).
    pub message: MessageId,
    pub source: String,
    pub destination: String,
    /// The concatenation: reference, total parts, this part's number (from 1).
    pub reference: u16,
    pub total: u8,
    pub seq: u8,
    pub data_coding: u8,
    pub registered_delivery: u8,
    /// Septets (GSM-7, one per octet) or octets, as the part carried them.
    pub units: Vec<u8>,
    pub received_at: UnixMillis,
}
