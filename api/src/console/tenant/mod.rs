//! The tenant's pages: what its admins and members see of their own tenant only. Each page is
//! a module; `router` lists them all.

mod history;
mod overview;
mod send;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/console/overview", get(overview::page))
        .route("/console/send", get(send::page).post(send::submit))
        .route("/console/send/estimate", post(send::estimate))
        .route("/console/history", get(history::list))
        .route("/console/history/{message_id}", get(history::report))
}
