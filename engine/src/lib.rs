//! flit-engine: Flit's domain. Typed ids, phone numbers, GSM-7/UCS-2 segmentation, credits,
//! the address book, and the actors that own mutable state and move messages to carriers.
//! Knows nothing of HTTP or JSON; knows the store only through `flit-storage`.
//!
//! The API boundary is this file: [`Engine`] and its request and answer types, the ids, the
//! number and text types, and the engine's errors. Every module below is private to the crate;
//! the folders follow the concerns (see ARCHITECTURE.md): `text`, `numbers`, `tenants`,
//! `book`, `accept`, `schedule`, `dispatch`, `channel` (one folder per kind of channel),
//! `store`.

mod accept;
mod book;
mod channel;
mod clock;
mod devices;
mod dispatch;
mod engine;
mod error;
mod health;
mod history;
pub mod ids;
mod notify;
mod numbers;
mod offboard;
mod people;
mod schedule;
pub mod secrets;
mod slot;
mod smpp_server;
mod store;
mod supervisor;
mod tenants;
pub mod text;

#[cfg(feature = "test-support")]
pub mod testing;

pub use accept::{
    CONTACT_VARIABLES, Content, Estimate, MAX_CAMPAIGN_NAME_CHARS, MAX_ESTIMATE_RECIPIENTS,
    MAX_EXPLICIT_RECIPIENTS, MAX_SCHEDULE_AHEAD_MS, MAX_TOTAL_RECIPIENTS, SendRequest,
};
pub use book::contacts::{
    Contact, ContactFilter, ContactPatch, MAX_EMAIL_CHARS, MAX_NAME_CHARS, NewContact,
};
pub use book::groups::{GroupSummary, MAX_GROUP_NAME_CHARS, MAX_MEMBERSHIP_IDS, MembershipChange};
pub use book::import::{ImportOutcome, ImportRowVerdict, MAX_IMPORT_CONTACTS};
pub use book::templates::{MAX_TEMPLATE_CHARS, MAX_TEMPLATE_NAME_CHARS};
pub use channel::device::{DeviceTimes, MAX_PULL, PhoneEvent, PhoneMessage, PhoneState};
pub use channel::smpp::config::MAX_WINDOW_SIZE;
pub use channel::smpp::session::SessionError;
pub use clock::Clock;
pub use devices::channel::DeviceState;
pub use devices::inbound::PhoneInbound;
pub use devices::{
    DevicePatch, MAX_DEVICE_LIMIT, MAX_DEVICE_NAME_CHARS, MAX_DEVICES, NewDevice, PAIRING_CODE_TTL,
    Pairing, Registered,
};
pub use dispatch::bind::BindSnapshot;
pub use dispatch::binds::{DEFAULT_WINDOW_SIZE, NewBind};
pub use dispatch::cancel::Cancellation;
pub use dispatch::routes::NewRoute;
pub use engine::{DEFAULT_FEED_LOW_WATER, DEFAULT_MAX_BACKLOG, Engine, EngineConfig, QueueDepths};
pub use error::{
    Conflict, ContactField, EngineError, Invalid, Missing, SecretKeyError, Unavailable,
};
pub use flit_storage::{BackendKind, CommitStats};
pub use health::EngineHealth;
pub use history::{MessageFilter, SendBucket};
pub use notify::policy::{Backoff, MAX_URL_CHARS, Target};
pub use notify::webhooks::MAX_WEBHOOKS;
pub use notify::{Resolve, SystemResolver, WebhookRequest, WebhookSettings, WebhookTransport};
pub use numbers::{Country, MAX_DIGITS, MIN_DIGITS, Msisdn, MsisdnError, Validation};
pub use offboard::{ExportCursor, ExportRecord, TenantRemoval};
pub use people::sessions::{NewSession, SESSION_LIFETIME};
pub use people::setup::SETUP_LINK_LIFETIME;
pub use people::{
    MAX_TENANT_USERS, MAX_USER_EMAIL_CHARS, MAX_USER_PASSWORD_CHARS, MIN_USER_PASSWORD_CHARS,
    NewUser, normalise_email,
};
pub use smpp_server::{SmppBindSnapshot, SmppServerSettings};
pub use store::records::{
    ApiKeyRecord, AttemptRecord, BindMode, BindRecord, Concatenation, ContactRecord,
    DeliveryRecord, DeliveryState, DeviceLimits, DeviceRecord, DeviceRoute, EventData, EventKind,
    EventKinds, GroupRecord, Gsm7Mode, InboundRecord, MessageRecord, MessageStatus,
    RecipientRecord, RecipientStatus, RegistrationTokenRecord, Role, RouteRecord, Scope, Scopes,
    SendOutcome, SenderIdRecord, SenderStatus, SessionRecord, SimCard, SmppAccountRecord,
    StatusCounts, SuspensionRecord, TemplateRecord, TenantRecord, TransactionKind,
    TransactionRecord, UnixMillis, UnknownEvent, UnknownScope, UnknownSetting, UserRecord,
    WebhookEvent, WebhookRecord, now_millis,
};
pub use store::{PageRequest, Paged};
pub use tenants::actor::IdempotencyClaim;
pub use tenants::credits::{MAX_CREDIT_AMOUNT, TransactionFilter};
pub use tenants::smpp_accounts::{
    DEFAULT_SMPP_MAX_BINDS, DEFAULT_SMPP_WINDOW, MAX_SMPP_BINDS, MAX_SMPP_PASSWORD,
    MAX_SMPP_SYSTEM_ID, MAX_SMPP_TPS, MAX_SMPP_WINDOW, NewSmppAccount,
};
pub use tenants::{MAX_NEW_SENDER_IDS, MAX_PRICE_PER_PART, NewTenant, TenantPatch};
