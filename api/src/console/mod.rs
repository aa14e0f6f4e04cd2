//! The web console (SPEC §13) at `/console`: Flit usable without curl. Pages are rendered on
//! the server from askama templates (`api/templates/console/`, checked and compiled with the
//! code, HTML-escaped by default); one stylesheet and one small script of Flit's own
//! (`assets/`), embedded in the binary, so it needs no CDN, no build step and works offline.
//! Charts are SVG drawn on the server. The script only improves what already works without
//! it: the live counter on the send page, polling a message's report until it is final.
//!
//! Everything a page does goes through the engine's own calls with the API's checks, scopes
//! and tenant isolation: a person sees their own tenant only (`auth.rs`), a member neither
//! keys, webhooks nor users, an operator only the operator pages.
//!
//! By concern: `auth.rs` (sessions, roles, CSRF, the sign-in limit), `form.rs` (posted forms),
//! `page.rs` (the frame and error pages), `session.rs` (sign-in and sign-out), `setup.rs` (the
//! first operator's one-time link), `upload.rs` (multipart bodies and CSV files), and one
//! module per page under `tenant/` and `operator/`.

pub mod auth;
mod form;
mod operator;
mod page;
mod session;
mod setup;
mod tenant;
mod upload;

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::state::AppState;
use auth::Viewer;

/// Every console route.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/assets/{file}", get(asset))
        .route(
            "/console/login",
            get(session::login_page).post(session::login),
        )
        .route("/console/setup", get(setup::page).post(setup::finish))
        .route("/console/logout", post(session::logout))
        .route(
            "/console/logout-everywhere",
            post(session::logout_everywhere),
        )
        .merge(tenant::router())
        .merge(operator::router())
}

/// The console's front door: a person's first page, or the sign-in page.
async fn home(viewer: Option<Viewer>) -> Redirect {
    match viewer {
        None => Redirect::to("/console/login"),
        Some(viewer) if viewer.tenant().is_none() => Redirect::to("/console/op/tenants"),
        Some(_) => Redirect::to("/console/overview"),
    }
}

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}
