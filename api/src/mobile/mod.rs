//! `/mobile/v1`: the device protocol of the SMS Gate Android app ("private server" mode), so a
//! tenant's own phone running that app registers with Flit and sends the tenant's SMS (SPEC
//! §7). Answers are bare JSON as the app expects (no envelope); errors are
//! `{"message": "..."}` (the app treats any non-2xx as an error, and a 401 on its device
//! routes as "registered no more", which makes it register again).
//!
//! `device.rs`: registration (a tenant's registration token as `Bearer`, or a one-time
//! `Code`), the phone's record, its login's pairing code and password. `messages.rs`: the
//! phone's work (pull, report), its event stream, settings and webhooks, and the ingest of
//! the SMS it receives.

mod device;
mod messages;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use flit_engine::DeviceRecord;
use serde::Serialize;

use crate::state::AppState;

/// What the app reads from an error: a sentence.
#[derive(Serialize)]
pub struct MobileError {
    message: String,
}

/// An error in the shape the app reads.
pub fn mobile_error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(MobileError {
            message: message.into(),
        }),
    )
        .into_response()
}

/// A failure of a mobile route: the API's own errors, re-shaped for the app.
pub struct MobileFailure(crate::error::ApiError);

impl<E: Into<crate::error::ApiError>> From<E> for MobileFailure {
    fn from(error: E) -> Self {
        MobileFailure(error.into())
    }
}

impl IntoResponse for MobileFailure {
    fn into_response(self) -> Response {
        mobile_error(self.0.status, self.0.message)
    }
}

/// The phone a request comes from, found by its bearer token.
#[derive(Clone)]
pub struct Phone(pub DeviceRecord);

/// The token after `Authorization: Bearer`.
fn bearer(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim()
        .split_once(char::is_whitespace)
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

/// Lets through only requests from a live phone (401 otherwise, which makes the app register
/// again), with the phone in the request's extensions.
async fn phone_layer(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(device) = bearer(&request).and_then(|token| state.engine.authenticate_device(token))
    else {
        return mobile_error(
            StatusCode::UNAUTHORIZED,
            "unknown device token: register the device again",
        );
    };
    let caller = crate::auth::Authenticated::Device {
        tenant: device.tenant,
        device: device.id,
    };
    request.extensions_mut().insert(Phone(device));
    caller.mark(next.run(request).await)
}

/// What a `/mobile/v1` route takes as its credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MobileAuth {
    /// The phone's own token (`Authorization: Bearer`), checked by `phone_layer` before the
    /// handler runs.
    Phone,
    /// A tenant's registration token (`Bearer`) or a one-time pairing code (`Code`).
    Pairing,
    /// A paired phone's login and password (`Authorization: Basic`).
    Login,
    /// The phone's signing key: `X-Signature`, an HMAC of the body and `X-Timestamp`.
    Signature,
}

impl MobileAuth {
    /// In words, for the README's endpoint map.
    pub fn as_str(self) -> &'static str {
        match self {
            MobileAuth::Phone => "phone token",
            MobileAuth::Pairing => "registration token or pairing code",
            MobileAuth::Login => "phone login and password",
            MobileAuth::Signature => "phone signing key",
        }
    }
}

/// One route of the device protocol: the SMS Gate app's call, the credential it takes, and
/// what it is for.
pub struct MobileRoute {
    pub method: Method,
    /// The full path, `{param}` segments as the router writes them.
    pub path: &'static str,
    pub auth: MobileAuth,
    pub purpose: &'static str,
    handler: fn() -> MethodRouter<Arc<AppState>>,
}

macro_rules! route {
    ($method:ident $path:literal, $auth:ident, $purpose:literal, $handler:path) => {
        MobileRoute {
            method: Method::$method,
            path: $path,
            auth: MobileAuth::$auth,
            purpose: $purpose,
            handler: || ::axum::routing::on(::axum::routing::MethodFilter::$method, $handler),
        }
    };
}

/// Every `/mobile/v1` route: the router is built from this table, and the README's endpoint
/// map is checked against it.
#[rustfmt::skip]
pub const ROUTES: &[MobileRoute] = &[
    route!(POST  "/mobile/v1/device",              Pairing,   "Register a phone with its tenant: answers its id, token, login and password", device::register),
    route!(GET   "/mobile/v1/device",              Phone,     "The phone's own record", device::get_device),
    route!(PATCH "/mobile/v1/device",              Phone,     "Update the phone's push token or SIM cards", device::patch_device),
    route!(PATCH "/mobile/v1/user/password",       Phone,     "Change the phone's login password", device::change_password),
    route!(GET   "/mobile/v1/user/code",           Login,     "A one-time code that pairs another phone with the same tenant", device::user_code),
    route!(GET   "/mobile/v1/message",             Phone,     "Pull the messages waiting for the phone", messages::pull),
    route!(PATCH "/mobile/v1/message",             Phone,     "Report messages Processed, Sent, Delivered, Failed or Cancelled", messages::report),
    route!(GET   "/mobile/v1/events",              Phone,     "The phone's event stream (SSE: MessageEnqueued, MessageCancelled, SettingsUpdated)", messages::events),
    route!(GET   "/mobile/v1/settings",            Phone,     "The phone's send limits and the key it signs its webhooks with", messages::settings),
    route!(GET   "/mobile/v1/webhooks",            Phone,     "The sms:received webhook that brings the phone's inbound SMS to Flit", messages::webhooks),
    route!(POST  "/mobile/v1/inbound/{device_id}", Signature, "An SMS the phone received (its signed sms:received webhook)", messages::inbound),
];

/// Every `/mobile/v1` route, from `ROUTES`: the phone-token routes behind `phone_layer`, the
/// others (which check their own credential) without it.
pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let (phone, open): (Vec<&MobileRoute>, Vec<&MobileRoute>) = ROUTES
        .iter()
        .partition(|route| route.auth == MobileAuth::Phone);
    let phone =
        routes(&phone).route_layer(axum::middleware::from_fn_with_state(state, phone_layer));
    routes(&open).merge(phone)
}

/// `rows` as a router, the methods of one path on one route.
fn routes(rows: &[&MobileRoute]) -> Router<Arc<AppState>> {
    let mut by_path: BTreeMap<&str, MethodRouter<Arc<AppState>>> = BTreeMap::new();
    for row in rows {
        let methods = match by_path.remove(row.path) {
            Some(earlier) => earlier.merge((row.handler)()),
            None => (row.handler)(),
        };
        by_path.insert(row.path, methods);
    }
    by_path
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        })
}
