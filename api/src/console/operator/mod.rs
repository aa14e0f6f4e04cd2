//! The operator's pages: every tenant (and one tenant's credits, settings, sender IDs, users
//! and SMPP accounts), the carriers' binds and routes, every SMPP account, and the system's
//! health. Each page is a module; `router` lists them all.
//!
//! A form posted here acts through the same engine call as the admin API's route for it,
//! with the same checks; then it redirects back (303) with a fixed `?notice=` code from
//! [`NOTICES`] (never text from the request), or, refused, shows the page again with the
//! engine's reason and a 4xx.

mod binds;
mod health;
mod smpp;
mod tenant;
mod tenants;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use flit_engine::EngineError;

use crate::state::AppState;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/console/op/tenants",
            get(tenants::list).post(tenants::create),
        )
        .route("/console/op/tenants/{tenant}", get(tenant::page))
        .route(
            "/console/op/tenants/{tenant}/credits",
            post(tenant::add_credits),
        )
        .route(
            "/console/op/tenants/{tenant}/settings",
            post(tenant::settings),
        )
        .route(
            "/console/op/tenants/{tenant}/suspend",
            post(tenant::suspend),
        )
        .route("/console/op/tenants/{tenant}/resume", post(tenant::resume))
        .route(
            "/console/op/tenants/{tenant}/sender-ids",
            post(tenant::add_sender_id),
        )
        .route("/console/op/tenants/{tenant}/users", post(tenant::add_user))
        .route(
            "/console/op/tenants/{tenant}/users/{user}/delete",
            post(tenant::delete_user),
        )
        .route(
            "/console/op/tenants/{tenant}/smpp-accounts",
            post(tenant::add_smpp_account),
        )
        .route(
            "/console/op/tenants/{tenant}/smpp-accounts/{account}/delete",
            post(tenant::delete_smpp_account),
        )
        .route("/console/op/binds", get(binds::page).post(binds::add_bind))
        .route("/console/op/binds/{bind}/delete", post(binds::delete_bind))
        .route("/console/op/routes", post(binds::add_route))
        .route(
            "/console/op/routes/{route}/delete",
            post(binds::delete_route),
        )
        .route("/console/op/smpp", get(smpp::page))
        .route("/console/op/health", get(health::page))
}

/// Every notice a form's redirect may ask for, by its code.
const NOTICES: &[(&str, &str)] = &[
    ("tenant_created", "Tenant created."),
    ("credits_added", "Credits added."),
    ("settings_saved", "Settings saved."),
    (
        "suspended",
        "Tenant suspended: its API keys are refused until it is resumed.",
    ),
    ("resumed", "Tenant resumed."),
    ("sender_added", "Sender ID added."),
    ("user_added", "Console user added."),
    (
        "user_removed",
        "Console user removed; their sessions ended.",
    ),
    ("smpp_added", "SMPP account created."),
    (
        "smpp_deleted",
        "SMPP account deleted; its binds were closed.",
    ),
    ("bind_added", "Bind added; it connects in the background."),
    ("bind_deleted", "Bind removed."),
    ("route_added", "Route added."),
    ("route_deleted", "Route deleted."),
];

/// A page's query after a form's redirect.
#[derive(serde::Deserialize)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}

/// The text of the notice `code` names; nothing for a code not in [`NOTICES`].
fn notice(code: Option<&str>) -> Option<&'static str> {
    let code = code?;
    NOTICES
        .iter()
        .find(|(known, _)| *known == code)
        .map(|(_, text)| *text)
}

/// Back to `path` (a page of ours) with the notice `code`.
fn done(path: &str, code: &'static str) -> Response {
    debug_assert!(NOTICES.iter().any(|(known, _)| *known == code));
    Redirect::to(&format!("{path}?notice={code}")).into_response()
}

/// Why a form was refused, shown on its page.
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl Refusal {
    fn bad(message: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<EngineError> for Refusal {
    fn from(error: EngineError) -> Refusal {
        let api = crate::error::ApiError::from(error);
        Refusal {
            status: api.status,
            message: api.message,
        }
    }
}

/// A whole number from a form field: `None` when left empty.
fn number<T: std::str::FromStr>(raw: &str, field: &str) -> Result<Option<T>, Refusal> {
    let raw = raw.trim().replace([',', '_'], "");
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse()
        .map(Some)
        .map_err(|_| Refusal::bad(format!("{field} must be a whole number.")))
}

/// A page shown again after a refused form, with the refusal's status.
fn refused(mut page: Response, status: StatusCode) -> Response {
    *page.status_mut() = status;
    page
}
