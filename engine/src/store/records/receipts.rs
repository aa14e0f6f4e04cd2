//! Delivery receipts, and what dispatch keeps of them across restarts: receipts held for
//! their SMSC id, and the mapping of SMSC ids to recipient parts.

use super::*;

/// The final or intermediate state of a submitted part, as an SMSC reports it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ReceiptState {
    Delivered,
    Expired,
    Deleted,
    Undeliverable,
    Accepted,
    Unknown,
    Rejected,
    Enroute,
    Skipped,
}

impl ReceiptState {
    /// Whether no later receipt is expected for the part. `ACCEPTD` is not final: SMPP 3.4
    /// calls it final ("read on behalf of the subscriber"), but many SMSCs and aggregators send
    /// it as an intermediate "accepted by the operator" and follow with `DELIVRD`/`UNDELIV`.
    pub fn is_final(self) -> bool {
        !matches!(self, ReceiptState::Enroute | ReceiptState::Accepted)
    }

    /// Whether the part reached the handset.
    pub fn is_success(self) -> bool {
        matches!(self, ReceiptState::Delivered)
    }

    /// The `stat:` word of the text form, case-insensitive. Besides the seven-letter SMPP 3.4
    /// words, a few spellings seen in the wild are accepted (`DELIVERED`, `UNDELIVERABLE`, …).
    pub fn from_stat(word: &str) -> Option<ReceiptState> {
        let upper = word.trim().to_ascii_uppercase();
        Some(match upper.as_str() {
            "DELIVRD" | "DELIVERED" => ReceiptState::Delivered,
            "EXPIRED" => ReceiptState::Expired,
            "DELETED" => ReceiptState::Deleted,
            "UNDELIV" | "UNDELIVERABLE" => ReceiptState::Undeliverable,
            "ACCEPTD" | "ACCEPTED" => ReceiptState::Accepted,
            "UNKNOWN" => ReceiptState::Unknown,
            "REJECTD" | "REJECTED" => ReceiptState::Rejected,
            "ENROUTE" | "SCHEDULED" => ReceiptState::Enroute,
            "SKIPPED" => ReceiptState::Skipped,
            _ => return None,
        })
    }

    /// The `message_state` TLV value (SMPP 3.4 §5.2.28; 0 "scheduled" and 9 "skipped" are
    /// SMPP 5.0). A scheduled message has not been delivered yet, so it counts as en route.
    pub fn from_message_state(value: u8) -> Option<ReceiptState> {
        Some(match value {
            0 | 1 => ReceiptState::Enroute,
            2 => ReceiptState::Delivered,
            3 => ReceiptState::Expired,
            4 => ReceiptState::Deleted,
            5 => ReceiptState::Undeliverable,
            6 => ReceiptState::Accepted,
            7 => ReceiptState::Unknown,
            8 => ReceiptState::Rejected,
            9 => ReceiptState::Skipped,
            _ => return None,
        })
    }
}

/// A delivery receipt as a channel reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Receipt {
    /// From the `receipted_message_id` TLV if present, else the text's `id:`. Match it with
    /// `normalise_smsc_id` (then `alternate_smsc_ids`), never by string equality.
    pub smsc_message_id: String,
    /// From the `message_state` TLV if present, else the text's `stat:`.
    pub state: ReceiptState,
    /// The text's `err:` as given (`000`, `0x0B`, `ABC`), else the `network_error_code` TLV as
    /// `<type>:<code>`.
    pub error: Option<String>,
    /// `YYMMDDhhmm` or `YYMMDDhhmmss`, as the SMSC wrote it.
    pub submit_date: Option<String>,
    pub done_date: Option<String>,
    /// The text's `dlvrd:`.
    pub delivered: Option<u32>,
    /// The text's `text:` (the first characters of the original message).
    pub text: Option<String>,
}

/// A receipt waiting for the answer that names its SMSC id, as stored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HeldReceipt {
    pub receipt: Receipt,
    pub held_at: crate::store::records::UnixMillis,
}

/// Which parts of which recipient an SMSC message id stands for.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SmscMapping {
    pub tenant: TenantId,
    pub message: MessageId,
    pub index: u32,
    pub part_bits: u64,
    /// The normalised id it is stored under (one key; a receipt's other-base spelling is only
    /// tried later, see `ALTERNATE_AFTER`).
    pub keys: Vec<String>,
}
