//! Tenants: their actor (the single writer of a balance and ledger), credits, API keys and
//! sender IDs.

pub mod actor;
