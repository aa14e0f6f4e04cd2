//! The engine's errors, in the domain's terms: what rule a request broke, what was not found,
//! what it conflicts with. The engine names no JSON field and picks no status or error code:
//! each API words these for its own dialect (`flit-api`'s `error.rs`).

use flit_storage::StorageError;

use crate::ids::ContactId;
use crate::numbers::{Msisdn, MsisdnError};
use crate::text::SegmentError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The request breaks a rule of the domain.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("{0} not found")]
    NotFound(Missing),
    /// The request would break a uniqueness rule.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    #[error("insufficient credits: {required} required, {balance} available")]
    InsufficientCredits { required: i64, balance: i64 },
    /// The tenant is suspended by the operator: it sends nothing new until resumed.
    #[error("the tenant's account is suspended")]
    Suspended,
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyConflict,
    /// A part of the engine is down for a moment; the client may retry.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    /// The supervisor gave up on an actor (it kept failing), so the engine refuses sends until
    /// the process restarts; `reason` names the actor (see `EngineHealth`).
    #[error("the engine is unhealthy: {reason}")]
    Unhealthy { reason: String },
    /// Accepting the send would take the dispatch backlog past its configured cap.
    #[error("{queued} recipients are waiting for a carrier (cap {cap}); retry later")]
    BacklogFull { queued: usize, cap: usize },
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The secret key the engine was given does not open what the store holds sealed.
    #[error(transparent)]
    SecretKey(#[from] SecretKeyError),
}

/// Why the engine's secret key does not fit its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretKeyError {
    /// The store holds sealed secrets (or bind passwords to seal) and no key was given.
    #[error("the store holds SMPP bind passwords to seal or open, and no secret key was given")]
    Missing,
    /// Another key sealed the store's secrets.
    #[error("the secret key is not the one the store's SMPP bind passwords were sealed with")]
    Mismatch,
}

/// What a request got wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    // ----- tenants, credits and sender IDs
    #[error("a tenant's name must not be empty")]
    TenantName,
    #[error("the price per part must be between 0 and {max}")]
    Price { max: i64 },
    #[error("usage is charged by sends only")]
    CreditKind,
    #[error(
        "a credit must be positive (only an adjustment may be negative), at most {max} in size"
    )]
    CreditAmount { max: i64 },
    #[error("the amount is beyond the representable range")]
    AmountOutOfRange,
    #[error("a sender ID is up to 11 letters and digits, or a phone number of up to 15 digits")]
    SenderIdForm,
    #[error("sender ID `{0}` is not one of the tenant's approved sender IDs")]
    UnknownSenderId(String),
    #[error("the tenant has no approved sender ID yet")]
    NoSenderId,
    #[error("a new tenant takes at most {max} sender IDs")]
    TooManySenderIds { max: usize },

    // ----- sends
    #[error("the message is empty")]
    EmptyMessage,
    #[error("the message is too long: {0}")]
    MessageTooLong(SegmentError),
    #[error("the text uses `{{{{{0}}}}}` but no value was given for it")]
    MissingVariable(String),
    #[error("no value for `{{{{{0}}}}}`")]
    UnfilledVariable(String),
    #[error("{given} numbers given; at most {max} per request")]
    TooManyNumbers { given: usize, max: usize },
    #[error("a send may reach at most {max} recipients")]
    TooManyRecipients { max: usize },
    #[error("no recipient given")]
    NoRecipients,
    #[error("none of the recipients is a valid phone number: {}", .0.join(", "))]
    NoValidRecipients(Vec<String>),
    #[error("a campaign name may be at most {max} characters")]
    CampaignName { max: usize },
    #[error("a recipient count must be between 1 and {max}")]
    RecipientCount { max: u64 },
    #[error("a send may be scheduled only in the future")]
    ScheduleInPast,
    #[error("a send may be scheduled at most one year ahead")]
    ScheduleTooFar,

    // ----- the address book
    #[error("the {field} may be at most {max} characters")]
    ContactName { field: ContactField, max: usize },
    #[error("an email must look like name@example.com and be at most {max} characters")]
    Email { max: usize },
    #[error("the phone is not usable: {0}")]
    Phone(MsisdnError),
    #[error("a group's name must be 1 to {max} characters")]
    GroupName { max: usize },
    #[error("a membership change names 1 to {max} contacts")]
    MembershipIds { max: usize },
    #[error("{given} contacts given; at most {max} per import")]
    TooManyContacts { given: usize, max: usize },
    #[error("a template's name must be 1 to {max} characters")]
    TemplateName { max: usize },
    #[error("a template's content must be 1 to {max} characters")]
    TemplateContent { max: usize },

    // ----- carriers
    #[error("a bind's name must not be empty")]
    BindName,
    #[error("a bind needs a host and a non-zero port")]
    BindAddress,
    #[error("a system_id is 1 to 15 characters")]
    SystemId,
    #[error("an SMPP 3.4 password is at most 8 ASCII characters")]
    Password,
    #[error("a system_type is at most 12 characters")]
    SystemType,
    #[error("a window is 1 to {max} submits")]
    WindowSize { max: u32 },
    #[error("a route prefix is up to 15 digits of the international number")]
    RoutePrefix,
    #[error("a route names at least one bind")]
    RouteWithoutBinds,
    #[error("a route has one weight per bind, or none")]
    RouteWeights,

    // ----- SMPP accounts (SMPP 3.4 field limits)
    #[error("an SMPP account's system_id is 1 to {max} printable ASCII characters, no spaces")]
    SmppSystemId { max: usize },
    #[error("an SMPP account's password is 1 to {max} printable ASCII characters")]
    SmppPassword { max: usize },
    #[error("an SMPP account allows 1 to {max} binds at once")]
    SmppMaxBinds { max: u32 },
    #[error("an SMPP account's TPS is 0 (unlimited) to {max}")]
    SmppTps { max: u32 },

    // ----- console users
    #[error("an email address is up to {max} characters, with one @ and a domain")]
    UserEmail { max: usize },
    #[error("a password is {min} to {max} characters")]
    UserPassword { min: usize, max: usize },
    #[error("a tenant has at most {max} users")]
    TooManyUsers { max: usize },

    // ----- webhooks
    #[error("the webhook URL {0}")]
    WebhookUrl(String),
    #[error("a webhook names at least one event")]
    NoWebhookEvents,
    #[error("unknown event `{0}`; events are {1}")]
    UnknownEvent(String, &'static str),
    #[error("a tenant may have at most {max} webhooks")]
    TooManyWebhooks { max: usize },

    // ----- devices
    #[error("a tenant may pair at most {max} phones")]
    TooManyDevices { max: usize },
    #[error("a device's name may be at most {max} characters")]
    DeviceName { max: usize },
    #[error("a SIM number is 1, 2 or 3")]
    SimNumber,
    #[error("a device's limits are each at most {max} (0 = no limit)")]
    DeviceLimits { max: u32 },
}

/// A contact's name fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactField {
    FirstName,
    LastName,
}

impl std::fmt::Display for ContactField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ContactField::FirstName => "first name",
            ContactField::LastName => "last name",
        })
    }
}

/// What was not found (or belongs to another tenant, which looks the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Tenant,
    ApiKey,
    Template,
    Contact,
    Group,
    Bind,
    Route,
    Webhook,
    Delivery,
    Device,
    Message,
    SmppAccount,
    User,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Missing::Tenant => "tenant",
            Missing::ApiKey => "API key",
            Missing::Template => "template",
            Missing::Contact => "contact",
            Missing::Group => "group",
            Missing::Bind => "bind",
            Missing::Route => "route",
            Missing::Webhook => "webhook",
            Missing::Delivery => "webhook delivery",
            Missing::Device => "device",
            Missing::Message => "message",
            Missing::SmppAccount => "SMPP account",
            Missing::User => "user",
        })
    }
}

/// A uniqueness rule the request would break, or a state the object is no longer in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("sender ID `{0}` already exists")]
    SenderIdExists(String),
    #[error("a contact with phone {phone} already exists ({existing})")]
    ContactExists { phone: Msisdn, existing: ContactId },
    #[error("a group named `{0}` already exists")]
    GroupExists(String),
    #[error("a template named `{0}` already exists")]
    TemplateExists(String),
    /// `system_id`s are unique across tenants: a bind names no tenant.
    #[error("an SMPP account with system_id `{0}` already exists")]
    SystemIdExists(String),
    /// Emails are unique across tenants and the operator: signing in names no tenant.
    #[error("a user with email `{0}` already exists")]
    EmailExists(String),
    #[error("the delivery is still pending; only a delivered or failed one can be redelivered")]
    DeliveryPending,
    /// Every recipient of the message was already handed to a carrier or is final.
    #[error("the message has nothing left to cancel")]
    NotCancellable,
    /// Only a suspended tenant may be deleted, so that nothing of it is running meanwhile.
    #[error("the tenant is active; suspend it before deleting it")]
    TenantActive,
}

/// Why a part of the engine cannot answer right now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    #[error("the tenant's account is restarting")]
    TenantRestarting,
    #[error("the supervisor could not start an actor: {0}")]
    Supervisor(String),
    #[error("the work was interrupted")]
    Interrupted,
    /// A send for the tenant's phones, and none (or not the one named) is online.
    #[error("No devices available to send SMS")]
    NoDevice,
}

impl From<Missing> for EngineError {
    fn from(missing: Missing) -> Self {
        EngineError::NotFound(missing)
    }
}
