//! flit-engine: Flit's domain. Typed ids, phone numbers, GSM-7/UCS-2 segmentation, the records
//! Flit stores and where it stores them, and the actors that own mutable state (one per
//! tenant, under a root supervisor). Knows nothing of HTTP or JSON; knows the store only
//! through `flit-storage`'s trait-backed `Store`.

pub mod accept;
pub mod binds;
pub mod contacts;
pub mod dispatch;
pub mod engine;
pub mod error;
pub mod ids;
pub mod layout;
pub mod model;
pub mod msisdn;
pub mod secrets;
pub mod segment;
pub mod smpp;
pub mod supervisor;
pub mod templates;
pub mod tenant;

pub use accept::{Estimate, SendRequest};
pub use engine::{
    DEFAULT_MAX_BACKLOG, Engine, EngineConfig, MessageFilter, NewTenant, PageRequest, Paged,
    TenantPatch, TransactionFilter,
};
pub use error::EngineError;
