//! flit-engine: Flit's domain. Typed ids, phone numbers, GSM-7/UCS-2 segmentation, credits,
//! the address book, and the actors that own mutable state and move messages to carriers.
//! Knows nothing of HTTP or JSON; knows the store only through `flit-storage`.
//!
//! The API boundary is this file: [`Engine`] and its request and answer types, the ids, the
//! number and text types, and the engine's errors. Every module below is private to the crate;
//! the folders follow the concerns (see ARCHITECTURE.md): `text`, `numbers`, `tenants`,
//! `book`, `accept`, `dispatch`, `channel` (one folder per kind of channel), `store`.

mod accept;
mod book;
mod channel;
mod dispatch;
mod engine;
mod error;
mod health;
pub mod ids;
mod numbers;
pub mod secrets;
mod slot;
mod store;
mod supervisor;
mod tenants;
pub mod text;

#[cfg(feature = "test-support")]
pub mod testing;

pub use accept::{
    CONTACT_VARIABLES, Estimate, MAX_CAMPAIGN_NAME_CHARS, MAX_ESTIMATE_RECIPIENTS,
    MAX_EXPLICIT_RECIPIENTS, MAX_SCHEDULE_AHEAD_MS, MAX_TOTAL_RECIPIENTS, SendRequest,
};
pub use book::contacts::{
    Contact, ContactFilter, ContactPatch, ContactRecord, GroupRecord, GroupSummary, ImportOutcome,
    MAX_EMAIL_CHARS, MAX_GROUP_NAME_CHARS, MAX_IMPORT_CONTACTS, MAX_MEMBERSHIP_IDS, MAX_NAME_CHARS,
    MembershipChange, NewContact,
};
pub use book::templates::{MAX_TEMPLATE_CHARS, MAX_TEMPLATE_NAME_CHARS, TemplateRecord};
pub use channel::bind::BindSnapshot;
pub use channel::smpp::binds::{DEFAULT_WINDOW_SIZE, MAX_WINDOW_SIZE, NewBind, NewRoute};
pub use channel::smpp::session::SessionError;
pub use dispatch::router::RouteRecord;
pub use engine::{
    DEFAULT_MAX_BACKLOG, Engine, EngineConfig, MAX_CREDIT_AMOUNT, MAX_PRICE_PER_PART,
    MessageFilter, NewTenant, PageRequest, Paged, TenantPatch, TransactionFilter,
};
pub use error::EngineError;
pub use flit_storage::{BackendKind, CommitStats};
pub use health::EngineHealth;
pub use numbers::{Country, MAX_DIGITS, MIN_DIGITS, Msisdn, MsisdnError, Validation};
pub use store::records::{
    ApiKeyRecord, BindRecord, InboundRecord, MessageRecord, MessageStatus, RecipientRecord,
    RecipientStatus, Scope, Scopes, SendOutcome, SenderIdRecord, SenderStatus, StatusCounts,
    TenantRecord, TransactionKind, TransactionRecord, UnixMillis, UnknownScope, now_millis,
};
pub use tenants::actor::IdempotencyClaim;
