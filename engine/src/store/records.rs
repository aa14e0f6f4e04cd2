//! Every record Flit stores: tenants, API keys, sender IDs, messages, recipients, the ledger,
//! the address book, binds and routes, and what dispatch keeps across restarts. `tables.rs`
//! says which table holds each.
//!
//! These are storage records (serde + bincode through `flit_storage::codec`), not wire types:
//! the HTTP shapes live in `flit-api`. Timestamps are unix milliseconds (`UnixMillis`).

use serde::{Deserialize, Serialize};

use crate::channel::smpp::Receipt;
use crate::ids::{
    ApiKeyId, BindId, ContactId, GroupId, InboundId, MessageId, RouteId, SenderId, TemplateId,
    TenantId, TransactionId,
};
use crate::numbers::{Country, Msisdn, Validation};

/// Settings stored by their names (`strict`, `GH`, `transceiver`, …), so they read the same
/// in the store as on the wire, and are parsed once, when a record is read.
mod as_text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub fn deserialize<'de, T: FromStr, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<T, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse()
            .map_err(|_| serde::de::Error::custom(format!("unknown setting `{text}`")))
    }
}

/// [`as_text`] for a setting that may be absent.
mod as_text_opt {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Display, S: Serializer>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.as_ref().map(T::to_string).serialize(serializer)
    }

    pub fn deserialize<'de, T: FromStr, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<T>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| {
                text.parse()
                    .map_err(|_| serde::de::Error::custom(format!("unknown setting `{text}`")))
            })
            .transpose()
    }
}

/// Milliseconds since the unix epoch, UTC.
pub type UnixMillis = i64;

/// Wall-clock now. Ids and records use the same clock so date filters can become id ranges.
pub fn now_millis() -> UnixMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TenantRecord {
    pub id: TenantId,
    pub name: String,
    pub phone: Option<String>,
    /// Local numbers are read in this country.
    #[serde(with = "as_text")]
    pub default_country: Country,
    /// Requests per minute per API key (at least 1).
    pub rate_limit_per_minute: u32,
    pub price_per_part: i64,
    pub allow_device_failover: bool,
    /// How strictly numbers are checked; `None` = each API's default.
    #[serde(with = "as_text_opt")]
    pub number_validation: Option<Validation>,
    pub max_parts: u32,
    pub created_at: UnixMillis,
}

/// What an API key may do. The names are the FlashSMS scope strings plus Flit's own.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    SmsSend,
    SmsRead,
    BalanceRead,
    ContactsRead,
    ContactsWrite,
    SendersRead,
    TemplatesRead,
    TemplatesWrite,
    TransactionsRead,
    WebhooksRead,
    WebhooksWrite,
    DevicesRead,
    DevicesWrite,
}

impl Scope {
    pub const ALL: [Scope; 13] = [
        Scope::SmsSend,
        Scope::SmsRead,
        Scope::BalanceRead,
        Scope::ContactsRead,
        Scope::ContactsWrite,
        Scope::SendersRead,
        Scope::TemplatesRead,
        Scope::TemplatesWrite,
        Scope::TransactionsRead,
        Scope::WebhooksRead,
        Scope::WebhooksWrite,
        Scope::DevicesRead,
        Scope::DevicesWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::SmsSend => "sms:send",
            Scope::SmsRead => "sms:read",
            Scope::BalanceRead => "balance:read",
            Scope::ContactsRead => "contacts:read",
            Scope::ContactsWrite => "contacts:write",
            Scope::SendersRead => "senders:read",
            Scope::TemplatesRead => "templates:read",
            Scope::TemplatesWrite => "templates:write",
            Scope::TransactionsRead => "transactions:read",
            Scope::WebhooksRead => "webhooks:read",
            Scope::WebhooksWrite => "webhooks:write",
            Scope::DevicesRead => "devices:read",
            Scope::DevicesWrite => "devices:write",
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl std::str::FromStr for Scope {
    type Err = UnknownScope;
    fn from_str(s: &str) -> Result<Self, UnknownScope> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| UnknownScope(s.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown scope `{0}`")]
pub struct UnknownScope(pub String);

/// A set of scopes as a bit set, so the per-request check is one AND.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Scopes(u32);

impl Scopes {
    pub fn all() -> Scopes {
        Scopes(Scope::ALL.iter().fold(0, |acc, s| acc | s.bit()))
    }
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Scopes, UnknownScope> {
        let mut bits = 0;
        for name in names {
            bits |= name.parse::<Scope>()?.bit();
        }
        Ok(Scopes(bits))
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Scopes(iter.into_iter().fold(0, |acc, s| acc | s.bit()))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub tenant: TenantId,
    pub name: String,
    pub scopes: Scopes,
    /// SHA-256 of the secret; the secret itself is never stored.
    pub secret_hash: [u8; 32],
    /// The last four characters of the secret, so an operator can tell keys apart.
    pub hint: String,
    pub created_at: UnixMillis,
    pub revoked_at: Option<UnixMillis>,
}

#[derive(Copy, Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum SenderStatus {
    Pending,
    Approved,
    Rejected,
}

impl SenderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SenderStatus::Pending => "PENDING",
            SenderStatus::Approved => "APPROVED",
            SenderStatus::Rejected => "REJECTED",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SenderIdRecord {
    pub id: SenderId,
    pub tenant: TenantId,
    pub name: String,
    pub status: SenderStatus,
    pub created_at: UnixMillis,
    pub approved_at: Option<UnixMillis>,
}

#[derive(Copy, Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum RecipientStatus {
    Pending,
    Sent,
    Delivered,
    Failed,
    Cancelled,
}

impl RecipientStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientStatus::Pending => "PENDING",
            RecipientStatus::Sent => "SENT",
            RecipientStatus::Delivered => "DELIVERED",
            RecipientStatus::Failed => "FAILED",
            RecipientStatus::Cancelled => "CANCELLED",
        }
    }
}

/// A message's status, derived from its recipients (SPEC §4).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    Pending,
    Sent,
    Delivered,
    Failed,
    Cancelled,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 5] = [
        MessageStatus::Pending,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Failed,
        MessageStatus::Cancelled,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Pending => "PENDING",
            MessageStatus::Sent => "SENT",
            MessageStatus::Delivered => "DELIVERED",
            MessageStatus::Failed => "FAILED",
            MessageStatus::Cancelled => "CANCELLED",
        }
    }
}

impl std::str::FromStr for MessageStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        MessageStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s))
            .ok_or(())
    }
}

/// How many recipients of a message are in each state; kept on the message record so status
/// queries and history listings never read the recipients.
#[derive(Copy, Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct StatusCounts {
    pub pending: u32,
    pub sent: u32,
    pub delivered: u32,
    pub failed: u32,
    pub cancelled: u32,
}

impl StatusCounts {
    pub fn status(&self) -> MessageStatus {
        if self.pending > 0 {
            MessageStatus::Pending
        } else if self.sent > 0 {
            MessageStatus::Sent
        } else if self.delivered > 0 {
            MessageStatus::Delivered
        } else if self.failed > 0 {
            MessageStatus::Failed
        } else if self.cancelled > 0 {
            MessageStatus::Cancelled
        } else {
            MessageStatus::Pending
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MessageRecord {
    pub id: MessageId,
    pub tenant: TenantId,
    pub text: String,
    pub sender: String,
    pub campaign: Option<String>,
    pub recipient_count: u32,
    pub credits: i64,
    /// The price per part when accepted: what a refund gives back per part.
    pub price_per_part: i64,
    pub counts: StatusCounts,
    pub scheduled_at: Option<UnixMillis>,
    pub validity_until: Option<UnixMillis>,
    pub sent_at: Option<UnixMillis>,
    pub created_at: UnixMillis,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RecipientRecord {
    pub msisdn: Msisdn,
    pub parts: u16,
    pub status: RecipientStatus,
    pub sent_at: Option<UnixMillis>,
    pub done_at: Option<UnixMillis>,
    pub error: Option<String>,
    /// Submissions so far (a temporary failure is retried).
    pub attempts: u16,
    /// Bit i: part i+1 was accepted by a carrier in some attempt (never refunded).
    pub accepted_parts: u64,
    /// Bit i: a final receipt said part i+1 was delivered / was not.
    pub delivered_parts: u64,
    pub failed_parts: u64,
    /// This recipient's own text when the send was personalised; `None` = the message text.
    pub text: Option<String>,
}

impl RecipientRecord {
    pub fn new(msisdn: Msisdn, parts: u16) -> RecipientRecord {
        RecipientRecord {
            msisdn,
            parts,
            status: RecipientStatus::Pending,
            sent_at: None,
            done_at: None,
            error: None,
            attempts: 0,
            accepted_parts: 0,
            delivered_parts: 0,
            failed_parts: 0,
            text: None,
        }
    }

    /// Parts no carrier ever accepted: what a final failure refunds.
    pub fn parts_never_accepted(&self) -> u16 {
        self.parts
            .saturating_sub(self.accepted_parts.count_ones() as u16)
    }
}

impl StatusCounts {
    pub fn count_mut(&mut self, status: RecipientStatus) -> &mut u32 {
        match status {
            RecipientStatus::Pending => &mut self.pending,
            RecipientStatus::Sent => &mut self.sent,
            RecipientStatus::Delivered => &mut self.delivered,
            RecipientStatus::Failed => &mut self.failed,
            RecipientStatus::Cancelled => &mut self.cancelled,
        }
    }

    /// Moves one recipient from one state to another.
    pub fn shift(&mut self, from: RecipientStatus, to: RecipientStatus) {
        let old = self.count_mut(from);
        *old = old.saturating_sub(1);
        *self.count_mut(to) += 1;
    }
}

#[derive(Copy, Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum TransactionKind {
    Purchase,
    Usage,
    Refund,
    Bonus,
    Adjustment,
}

impl TransactionKind {
    pub const ALL: [TransactionKind; 5] = [
        TransactionKind::Purchase,
        TransactionKind::Usage,
        TransactionKind::Refund,
        TransactionKind::Bonus,
        TransactionKind::Adjustment,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionKind::Purchase => "PURCHASE",
            TransactionKind::Usage => "USAGE",
            TransactionKind::Refund => "REFUND",
            TransactionKind::Bonus => "BONUS",
            TransactionKind::Adjustment => "ADJUSTMENT",
        }
    }
}

impl std::str::FromStr for TransactionKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        TransactionKind::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(s))
            .ok_or(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TransactionRecord {
    pub id: TransactionId,
    pub tenant: TenantId,
    pub kind: TransactionKind,
    /// Signed: usage is negative, purchases and refunds positive.
    pub amount: i64,
    /// The balance right after this transaction: the ledger's running total.
    pub balance: i64,
    pub description: String,
    pub reference: Option<String>,
    pub created_at: UnixMillis,
}

/// What a send answered, kept so an idempotent retry gets the first answer back.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SendOutcome {
    pub message_id: MessageId,
    pub recipients_sent: u32,
    pub invalid_recipients: Vec<String>,
    pub credits_used: i64,
    pub remaining_credits: i64,
    pub scheduled_at: Option<UnixMillis>,
    pub created_at: UnixMillis,
}

/// The first answer to a request that carried an `Idempotency-Key`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum IdempotentOutcome {
    Send(SendOutcome),
    Credit(TransactionRecord),
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct IdempotencyRecord {
    /// SHA-256 of the request body: the same key with another body is a client bug.
    pub fingerprint: [u8; 32],
    pub outcome: IdempotentOutcome,
}

// ----- carriers' settings -----------------------------------------------------------------

/// How the ESME binds.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum BindMode {
    /// One connection, `bind_transceiver`.
    #[default]
    Transceiver,
    /// Two connections: `bind_transmitter` for submits, `bind_receiver` for deliveries.
    TransmitterReceiver,
}

/// How GSM-7 text is laid out in `short_message` with `data_coding` 0 (or 3).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Gsm7Mode {
    /// One septet per octet, `data_coding` 0 (what most SMSCs expect).
    #[default]
    Unpacked,
    /// 8 septets in 7 octets, `data_coding` 0; septets after a UDH are aligned with fill bits.
    Packed,
    /// ISO-8859-1, `data_coding` 3 (texts with `€` or Greek capitals fall back to unpacked).
    Latin1,
}

/// How a multi-part message is sent.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Concatenation {
    /// `esm_class` 0x40 and the header `05 00 03 ref total seq` in each part.
    #[default]
    Udh,
    /// `sar_msg_ref_num`, `sar_total_segments`, `sar_segment_seqnum` TLVs.
    Sar,
    /// One `submit_sm` with the whole text in `message_payload`.
    Payload,
}

macro_rules! setting_names {
    ($type:ty { $($variant:ident = $name:literal),* $(,)? }) => {
        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self {
                    $(<$type>::$variant => $name,)*
                })
            }
        }

        impl std::str::FromStr for $type {
            type Err = UnknownSetting;

            fn from_str(text: &str) -> Result<Self, UnknownSetting> {
                match text {
                    $($name => Ok(<$type>::$variant),)*
                    _ => Err(UnknownSetting),
                }
            }
        }
    };
}

setting_names!(BindMode {
    Transceiver = "transceiver",
    TransmitterReceiver = "transmitter_receiver",
});
setting_names!(Gsm7Mode {
    Unpacked = "unpacked",
    Packed = "packed",
    Latin1 = "latin1",
});
setting_names!(Concatenation {
    Udh = "udh",
    Sar = "sar",
    Payload = "payload",
});

/// A setting's name that is not one of its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown setting")]
pub struct UnknownSetting;

/// An SMPP bind to a carrier, as the operator configured it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BindRecord {
    pub id: BindId,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub system_id: String,
    /// Needed in clear to bind; only the operator API ever sees bind records.
    pub password: String,
    pub system_type: String,
    #[serde(with = "as_text")]
    pub bind_mode: BindMode,
    pub window_size: u32,
    /// Parts per second; 0 = unlimited.
    pub tps: u32,
    #[serde(with = "as_text")]
    pub gsm7: Gsm7Mode,
    #[serde(with = "as_text")]
    pub concatenation: Concatenation,
    /// The tenant that owns inbound messages arriving on this bind, if any.
    pub tenant: Option<TenantId>,
    pub created_at: UnixMillis,
}

/// An SMS received for a tenant (a non-receipt `deliver_sm`, parts reassembled).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct InboundRecord {
    pub id: InboundId,
    pub tenant: TenantId,
    pub from: String,
    pub to: String,
    pub text: String,
    pub parts: u8,
    /// The bind it arrived on.
    pub bind: Option<BindId>,
    pub received_at: UnixMillis,
}

// ----- address book ---------------------------------------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ContactRecord {
    pub id: ContactId,
    pub tenant: TenantId,
    pub phone: Msisdn,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// Set by a delete: the record stays for history, but the contact is in no list, group or
    /// send, and its phone is free.
    pub deleted_at: Option<UnixMillis>,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GroupRecord {
    pub id: GroupId,
    pub tenant: TenantId,
    pub name: String,
    pub created_at: UnixMillis,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TemplateRecord {
    pub id: TemplateId,
    pub tenant: TenantId,
    pub name: String,
    pub content: String,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

// ----- carriers ---------------------------------------------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RouteRecord {
    pub id: RouteId,
    /// Leading digits of the international number; empty = every destination.
    pub prefix: String,
    pub binds: Vec<BindId>,
    pub priority: i32,
    /// One weight per bind (same order); empty = equal weights.
    pub weights: Vec<u32>,
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
