//! `GET/POST /webhooks` and `DELETE /webhooks/{webhook_id}`: the tenant's webhooks in this
//! dialect's flat JSON. The same webhooks as the native `/api/v1/webhooks` (one list per
//! tenant, signed and retried as SPEC §9 says); `events` may be left out for every event.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};

use super::body::LenientBody;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::PathParam;
use crate::native::blocking;
use crate::native::webhooks::{WebhookBody, WebhookData, create_webhook, webhook_id_param};
use crate::state::AppState;

/// Every event, for a webhook registered without `events`.
const ALL_EVENTS: [&str; 5] = [
    "message.sent",
    "message.delivered",
    "message.failed",
    "message.received",
    "message.cancelled",
];

/// A new webhook.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = FlowstatesWebhookBody)]
pub struct NewWebhook {
    /// http(s) URL of a public address, at most 2,048 characters.
    #[schema(value_type = String, example = "https://example.com/sms/events")]
    url: Option<String>,
    /// Events to send (default: all of them): `message.sent`, `message.delivered`,
    /// `message.failed`, `message.received`, `message.cancelled`.
    events: Option<Vec<String>>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = FlowstatesWebhooks)]
pub struct Webhooks {
    webhooks: Vec<WebhookData>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = FlowstatesDeleted)]
pub struct Deleted {
    id: String,
    deleted: bool,
}

#[utoipa::path(
    get,
    path = "/webhooks",
    operation_id = "flowstates_list_webhooks",
    tag = "Flowstates",
    summary = "List webhooks (Flowstates)",
    description = "Errors are `{\"success\": false, \"error\", \"code\"}`.",
    responses((status = 200, description = "Success", body = Webhooks)),
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<impl IntoResponse, ApiError> {
    let engine = state.engine.clone();
    let webhooks = blocking(move || engine.webhooks(caller.key.tenant)).await?;
    Ok(Json(Webhooks {
        webhooks: webhooks
            .into_iter()
            .map(|webhook| WebhookData::new(webhook, false))
            .collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/webhooks",
    operation_id = "flowstates_create_webhook",
    tag = "Flowstates",
    summary = "Create a webhook (Flowstates; its secret is shown once)",
    description = "Every attempt is a POST of `{id, type, createdAt, data}` signed with \
                   `X-Flit-Signature: sha256=<hex HMAC-SHA256 of \"<timestamp>.<body>\">` \
                   (`X-Flit-Timestamp`), retried with backoff on timeouts, 5xx, 408 and 429. \
                   Errors are `{\"success\": false, \"error\", \"code\"}`.",
    request_body(
        content = NewWebhook,
        content_type = "application/json",
        example = json!({"url": "https://example.com/sms/events", "events": ["message.delivered", "message.failed"]}),
    ),
    responses(
        (status = 201, description = "Created", body = WebhookData),
        (status = 400, description = "Bad URL or events", body = crate::error::ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: LenientBody<NewWebhook>,
) -> Result<impl IntoResponse, ApiError> {
    let NewWebhook { url, events } = body.value;
    let events = events.unwrap_or_else(|| ALL_EVENTS.iter().map(|e| e.to_string()).collect());
    let webhook = create_webhook(
        &state,
        &caller,
        WebhookBody {
            url,
            events: Some(events),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(WebhookData::new(webhook, true))))
}

#[utoipa::path(
    delete,
    path = "/webhooks/{webhook_id}",
    operation_id = "flowstates_delete_webhook",
    tag = "Flowstates",
    summary = "Delete a webhook (Flowstates)",
    description = "Errors are `{\"success\": false, \"error\", \"code\"}`.",
    params(("webhook_id" = String, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "Deleted", body = Deleted),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    PathParam(webhook_id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = webhook_id_param(&webhook_id)?;
    state.engine.delete_webhook(caller.key.tenant, id).await?;
    Ok(Json(Deleted {
        id: id.to_string(),
        deleted: true,
    }))
}
