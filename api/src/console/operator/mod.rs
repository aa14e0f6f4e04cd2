//! The operator's pages: every tenant, the carriers' binds and routes, SMPP accounts, and the
//! system's health. Each page is a module; `router` lists them all.

mod tenants;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/console/op/tenants", get(tenants::list))
}
