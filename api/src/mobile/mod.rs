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

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
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

/// Every `/mobile/v1` route.
pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let phone = Router::new()
        .route(
            "/mobile/v1/device",
            get(device::get_device).patch(device::patch_device),
        )
        .route(
            "/mobile/v1/user/password",
            axum::routing::patch(device::change_password),
        )
        .route(
            "/mobile/v1/message",
            get(messages::pull).patch(messages::report),
        )
        .route("/mobile/v1/events", get(messages::events))
        .route("/mobile/v1/settings", get(messages::settings))
        .route("/mobile/v1/webhooks", get(messages::webhooks))
        .route_layer(axum::middleware::from_fn_with_state(state, phone_layer));
    Router::new()
        .route("/mobile/v1/device", post(device::register))
        .route("/mobile/v1/user/code", get(device::user_code))
        .route("/mobile/v1/inbound/{device_id}", post(messages::inbound))
        .merge(phone)
}
