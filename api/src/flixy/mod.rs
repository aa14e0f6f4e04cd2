//! The FlixySMS dialect (seed 000, SPEC §5), at `/flixy/api/v1`: one SMS to one number through
//! the tenant's own phones. `POST /sms/send` `{to, message, device_id?}` and `GET
//! /sms/status/{message_id}`, snake_case, ids as UUID strings, statuses in lower case, 503
//! `No devices available to send SMS` when no phone of the tenant (or not the one named) is
//! online. Same keys, scopes, rate limits and credits as the native API; numbers are checked
//! structurally (the seed's own `+1234567890` is not a real number) unless the tenant says
//! strict.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use flit_engine::ids::{DeviceId, Id, MessageId, uuid_v7_string};
use flit_engine::{Content, DeviceRoute, RecipientStatus, SendRequest, Validation};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{IdempotencyScope, JsonBody, PathParam, idempotency_claim};
use crate::native::{blocking, ok};
use crate::scoped::ScopedRoute;
use crate::state::AppState;
use crate::timefmt::{iso, iso_opt};

/// Where FlixySMS is served.
pub const PREFIX: &str = "/flixy/api/v1";

macro_rules! route {
    ($($row:tt)+) => {
        crate::scoped::scoped_route!(PREFIX; $($row)+)
    };
}

/// Every route of the FlixySMS dialect with its scope.
#[rustfmt::skip]
pub const ROUTES: &[ScopedRoute] = &[
    route!(POST   "/sms/send",                           SmsSend,          send),
    route!(GET    "/sms/status/{message_id}",            SmsRead,          status),
];

pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    crate::scoped::router(ROUTES, state)
}

/// One SMS to one number.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = FlixySendBody)]
pub struct SendBody {
    /// One number, international with `+`.
    #[schema(value_type = String, example = "+1234567890")]
    to: Option<String>,
    #[schema(value_type = String, example = "Hello from FlixySMS!")]
    message: Option<String>,
    /// The phone to send through (a device id from `GET /api/v1/devices`, or its UUID form);
    /// absent (or not an id, as the seed's own `optional-device-uuid`): the least loaded
    /// online phone of the tenant.
    device_id: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = FlixySent)]
pub struct Sent {
    message_id: String,
    to: String,
    status: &'static str,
    device_id: Option<String>,
    created_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = FlixyStatus)]
pub struct Status {
    message_id: String,
    /// `queued`, `sent`, `delivered`, `failed` or `cancelled`.
    status: &'static str,
    delivered_at: Option<String>,
    device_id: Option<String>,
}

fn status_word(status: RecipientStatus) -> &'static str {
    match status {
        RecipientStatus::Pending => "queued",
        RecipientStatus::Sent => "sent",
        RecipientStatus::Delivered => "delivered",
        RecipientStatus::Failed => "failed",
        RecipientStatus::Cancelled => "cancelled",
    }
}

/// A device id in Flit's form (`dev_…`) or as a UUID; `None` for anything else.
fn device_param(raw: &str) -> Option<DeviceId> {
    raw.parse::<DeviceId>()
        .ok()
        .or_else(|| Id::from_uuid_str(raw.trim()).ok().map(DeviceId::from_id))
}

#[utoipa::path(
    post,
    path = "/flixy/api/v1/sms/send",
    operation_id = "flixy_send",
    tag = "FlixySMS",
    summary = "Send an SMS through the tenant's phones (FlixySMS)",
    description = "Answers `{\"success\": true, \"data\": {message_id, to, status, device_id, created_at}}`; 503 `No devices available to send SMS` when no phone is online.",
    request_body(content = SendBody, content_type = "application/json",
        example = json!({"to": "+1234567890", "message": "Hello from FlixySMS!", "device_id": "optional-device-uuid"})),
    responses(
        (status = 200, description = "Queued", body = crate::native::Envelope<Sent>),
        (status = 503, description = "No devices available to send SMS", body = crate::error::ErrorBody),
    ),
)]
pub async fn send(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: JsonBody<SendBody>,
) -> Result<impl IntoResponse, ApiError> {
    let idempotency = idempotency_claim(&headers, IdempotencyScope::Tenant, &body.raw)?;
    let body = body.value;
    let to = body
        .to
        .map(|to| to.trim().to_string())
        .filter(|to| !to.is_empty())
        .ok_or_else(|| ApiError::bad_request("missing_to", "`to` is required"))?;
    let message = body
        .message
        .ok_or_else(|| ApiError::bad_request("missing_message", "`message` is required"))?;
    let device = body.device_id.as_deref().and_then(device_param);
    let request = SendRequest {
        recipients: vec![to.clone()],
        content: Content::Text(message),
        validation: Some(Validation::Structural),
        idempotency,
        device: Some(DeviceRoute {
            device,
            ..DeviceRoute::default()
        }),
        ..SendRequest::default()
    };
    let outcome = state.engine.send(caller.key.tenant, request).await?;
    Ok(ok(Sent {
        message_id: uuid_v7_string(outcome.message_id.id()),
        to,
        status: "queued",
        device_id: device.map(|device| uuid_v7_string(device.id())),
        created_at: iso(outcome.created_at),
    }))
}

#[utoipa::path(
    get,
    path = "/flixy/api/v1/sms/status/{message_id}",
    operation_id = "flixy_status",
    tag = "FlixySMS",
    summary = "A message's delivery status (FlixySMS)",
    description = "Answers `{\"success\": true, \"data\": {message_id, status, delivered_at, device_id}}`.",
    params(("message_id" = String, Path, description = "The message id (UUID) `send` answered")),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<Status>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn status(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    PathParam(message_id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = Id::from_uuid_str(message_id.trim())
        .map(MessageId::from_id)
        .or_else(|_| message_id.parse::<MessageId>())
        .map_err(|_| ApiError::not_found("message"))?;
    let engine = state.engine.clone();
    let first_only = flit_engine::PageRequest { page: 1, limit: 1 };
    let (message, recipients) =
        blocking(move || engine.recipients_page(caller.key.tenant, id, first_only))
            .await?
            .ok_or_else(|| ApiError::not_found("message"))?;
    let recipient = recipients
        .first()
        .ok_or_else(|| ApiError::not_found("message"))?;
    let delivered_at = (recipient.status == RecipientStatus::Delivered)
        .then_some(recipient.done_at)
        .flatten();
    let device = state.engine.message_device(message.id);
    Ok(ok(Status {
        message_id: uuid_v7_string(message.id.id()),
        status: status_word(recipient.status),
        delivered_at: iso_opt(delivered_at),
        device_id: device.map(|device| uuid_v7_string(device.id())),
    }))
}
