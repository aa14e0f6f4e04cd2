//! The Flowstates dialect (seed 002, SPEC §6), at the root paths: `POST /messages/send`
//! `{to, message, sender}`, `GET /messages/{message_id}` and the tenant's webhooks
//! (`GET/POST /webhooks`, `DELETE /webhooks/{webhook_id}`), in flat camelCase JSON without the
//! native envelope; errors keep the native shape (the seed documents none). Same keys, scopes,
//! rate limit and credits as the native API; `Authorization: X-Api-key <key>` is the form the
//! seed shows. `to` is one international number (`+` first), checked structurally unless the
//! tenant's `numberValidation` says otherwise, and bodies are read as the seed's own `curl`
//! example sends them (`body.rs`).

use std::sync::Arc;

use axum::Router;

use crate::scoped::ScopedRoute;
use crate::state::AppState;

mod body;
pub mod messages;
pub mod webhooks;

/// Flowstates serves its API at the root of the host.
pub const PREFIX: &str = "";

/// `route!(POST "/messages/send", SmsSend, messages::send)`: one row of [`ROUTES`].
macro_rules! route {
    ($($row:tt)+) => {
        crate::scoped::scoped_route!(PREFIX; $($row)+)
    };
}

/// Every route of the Flowstates dialect with its scope, as `native::ROUTES` is for the native
/// API: the router, `/openapi.json` and the scope tests all read it.
#[rustfmt::skip]
pub const ROUTES: &[ScopedRoute] = &[
    // `/messages/send` is a static segment, which the router prefers over
    // `/messages/{message_id}` whatever the order here.
    route!(POST   "/messages/send",                      SmsSend,          messages::send),
    route!(GET    "/messages/{message_id}",              SmsRead,          messages::get),
    route!(GET    "/webhooks",                           WebhooksRead,     webhooks::list),
    route!(POST   "/webhooks",                           WebhooksWrite,    webhooks::create),
    route!(DELETE "/webhooks/{webhook_id}",              WebhooksWrite,    webhooks::delete),
];

/// `ROUTES` as a router: each method behind its own scope check, run before the body is read.
pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    crate::scoped::router(ROUTES, state)
}
