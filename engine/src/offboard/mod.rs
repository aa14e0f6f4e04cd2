//! The end of a tenant's life, as the operator runs it: its data read out as it is stored
//! (`export.rs`, a page at a time), then the tenant deleted with every record it owns
//! (`delete.rs`). A concern above the others: deletion stops each concern's work for the
//! tenant through that concern's own operation (dispatch withdraws its jobs, phones and
//! webhooks are retired, the tenant actor stopped) before the tables are cleared.

mod delete;
mod export;
#[cfg(test)]
mod tests;

pub use delete::TenantRemoval;
pub use export::{ExportCursor, ExportRecord};
