//! Tenants, their API keys, sender IDs and SMPP accounts, the ledger and idempotency records.

use super::*;

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

/// An SMPP account of a tenant: what its own software binds to Flit's SMPP server with.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SmppAccountRecord {
    pub id: SmppAccountId,
    pub tenant: TenantId,
    /// Unique across tenants: a bind names only its `system_id` and password.
    pub system_id: String,
    /// The password's argon2id hash as a PHC string; the password itself is never stored.
    pub password_hash: String,
    /// Sessions bound at once.
    pub max_binds: u32,
    /// Submits a session may have unanswered at once.
    pub window: u32,
    /// Submits per second over all of the account's sessions; 0 = unlimited.
    pub tps: u32,
    pub created_at: UnixMillis,
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

/// A tenant's suspension, kept in a table of its own: present while the tenant is suspended.
/// Its API keys are then refused and it sends nothing new; what it already sent (and paid
/// for) still goes out.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SuspensionRecord {
    pub suspended_at: UnixMillis,
}
