//! flit-api: Flit's HTTP surface. The native API (`/api/v1`, a FlashSMS superset), the
//! Flowstates dialect (`/messages/...` at the root), the admin API (`/admin/v1`), health and
//! metrics; configuration, first-start bootstrap and the server loop behind the `flit` binary.
//! The only crate that knows HTTP and JSON.

pub mod admin;
pub mod admin_cli;
pub mod auth;
pub mod base64;
pub mod bootstrap;
pub mod carriers;
pub mod config;
pub mod console;
pub mod data_dir;
pub mod error;
pub mod export;
pub mod extract;
pub mod flixy;
pub mod flowstates;
pub mod logging;
pub mod mobile;
pub mod native;
pub mod openapi;
pub mod ratelimit;
pub mod scoped;
pub mod secret_key;
pub mod server;
pub mod smpp_accounts;
pub mod smpp_listener;
pub mod state;
pub mod telemetry;
pub mod timefmt;
pub mod tls;
pub mod tls_cli;
pub mod users;
pub mod webhook_client;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;

use crate::error::ApiError;
use crate::state::AppState;

/// Bodies of a bulk route (a contact import) larger than this answer 413 (10,000 imported
/// contacts fit comfortably).
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Bodies of every other route larger than this answer 413 (a send to 1,000 numbers with
/// personal variables fits comfortably).
pub const DEFAULT_MAX_SMALL_BODY_BYTES: usize = 1024 * 1024;

/// Routes whose bodies may be as large as the bulk limit (`max_body_bytes`); every other
/// route takes at most the small one (`max_small_body_bytes`). The console's import takes the
/// same file twice: uploaded for its preview, then posted back to be imported.
pub const BULK_ROUTES: &[&str] = &[
    "/api/v1/contacts/import",
    "/console/contacts/import",
    "/console/contacts/import/confirm",
];

/// How large a request body may be, by route.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    /// For [`BULK_ROUTES`].
    pub bulk: usize,
    /// For every other route.
    pub small: usize,
}

impl BodyLimits {
    /// `max_body_bytes` for bulk routes, and the small default (never more) for the rest.
    pub fn new(max_body_bytes: usize, max_small_body_bytes: usize) -> BodyLimits {
        BodyLimits {
            bulk: max_body_bytes,
            small: max_small_body_bytes.min(max_body_bytes),
        }
    }

    /// The limit of the route matched as `route` (its template).
    pub fn for_route(&self, route: Option<&str>) -> usize {
        if route.is_some_and(|route| BULK_ROUTES.contains(&route)) {
            self.bulk
        } else {
            self.small
        }
    }
}

/// Every route Flit serves, bulk routes taking bodies up to `max_body_bytes` and the others
/// up to the default small limit.
pub fn app(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    app_with_limits(
        state,
        BodyLimits::new(max_body_bytes, DEFAULT_MAX_SMALL_BODY_BYTES),
    )
}

/// Every route Flit serves, with these body limits.
pub fn app_with_limits(state: Arc<AppState>, limits: BodyLimits) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi::spec))
        .route("/docs", get(openapi::docs))
        .merge(native::router(state.clone()))
        .merge(flowstates::router(state.clone()))
        .merge(mobile::router(state.clone()))
        .merge(flixy::router(state.clone()))
        .nest("/admin/v1", admin::router(state.clone()))
        .merge(console::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(limits, limit_body))
        .layer(axum::middleware::from_fn(telemetry::track_http))
        .with_state(state)
}

/// Holds the body of each request to its route's limit as it is read (413 past it, with or
/// without `Content-Length`).
async fn limit_body(
    State(limits): State<BodyLimits>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tower::{Layer as _, ServiceExt as _};
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|route| route.as_str().to_string());
    let limit = limits.for_route(route.as_deref());
    match DefaultBodyLimit::max(limit)
        .layer(next)
        .oneshot(request)
        .await
    {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Health {
    /// `ok`, or `unhealthy` (answered with 503) once an actor kept failing and was left stopped.
    status: &'static str,
    /// Why the server is unhealthy; absent while it is `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    storage: String,
    sandbox: bool,
    warnings: Vec<&'static str>,
    binds: Vec<HealthBind>,
}

#[utoipa::path(
    get,
    path = "/health",
    tag = "System",
    summary = "Liveness, storage kind, sandbox mode and what is bound",
    responses(
        (status = 200, description = "The server is up", body = Health),
        (status = 503, description = "An internal actor kept failing and was left stopped: sends are refused until the server restarts (`reason` says which)", body = Health),
    ),
)]
pub(crate) async fn health(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let reason = state.engine.health().reason();
    let sandbox = state.engine.is_sandbox();
    let binds = state
        .engine
        .binds()
        .into_iter()
        .map(|bind| HealthBind {
            id: bind.id.to_string(),
            name: bind.name,
            bound: bind.bound,
        })
        .collect();
    let (code, status) = match reason {
        None => (StatusCode::OK, "ok"),
        Some(_) => (StatusCode::SERVICE_UNAVAILABLE, "unhealthy"),
    };
    let health = Health {
        status,
        reason,
        storage: state.engine.backend().to_string(),
        sandbox,
        warnings: if sandbox {
            vec![SANDBOX_WARNING]
        } else {
            Vec::new()
        },
        binds,
    };
    (code, axum::Json(health))
}

#[derive(Serialize, utoipa::ToSchema)]
struct HealthBind {
    id: String,
    name: String,
    bound: bool,
}

pub const SANDBOX_WARNING: &str = "sandbox mode: no SMPP bind is configured; the built-in SMSC \
     simulator takes every message and reports it delivered about a second later \
     (numbers ending in 0000 fail)";

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "System",
    summary = "Prometheus metrics (prefix `flit_`)",
    responses(
        (status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 404, description = "Metrics are not enabled", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    match &state.metrics {
        Some(handle) => {
            state.engine.record_gauges();
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                handle.render(),
            )
                .into_response()
        }
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "metrics are not enabled",
        )
        .into_response(),
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that HTTP method",
    )
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}
