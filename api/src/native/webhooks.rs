//! `/webhooks`: endpoints told about a tenant's messages (`message.sent`, `.delivered`,
//! `.failed`, `.received`, `.cancelled`), each delivery with its attempts, a redelivery by
//! hand, and secret rotation. Signing and retries are the engine's (SPEC §9).

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use flit_engine::ids::{DeliveryId, WebhookId};
use flit_engine::{DeliveryRecord, DeliveryState, WebhookRecord};
use serde::{Deserialize, Serialize};

use super::{DeletedData, Pagination, blocking, ok, page_request};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonBody, PathParam, QueryParams};
use crate::state::AppState;
use crate::timefmt::{iso, iso_opt};

/// A new webhook.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct WebhookBody {
    /// http(s) URL of a public address, at most 2,048 characters.
    #[schema(value_type = String)]
    pub url: Option<String>,
    /// Events to send: `message.sent`, `message.delivered`, `message.failed`,
    /// `message.received`, `message.cancelled`.
    #[schema(value_type = Vec<String>)]
    pub events: Option<Vec<String>>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookData {
    pub id: String,
    pub url: String,
    pub events: Vec<&'static str>,
    /// Only in the answer that creates the webhook or rotates its secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Until when the secret before the last rotation still signs (as a second signature).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_valid_until: Option<String>,
    pub created_at: String,
}

impl WebhookData {
    pub fn new(webhook: WebhookRecord, with_secret: bool) -> WebhookData {
        WebhookData {
            id: webhook.id.to_string(),
            events: webhook.events.iter().map(|kind| kind.as_str()).collect(),
            secret: with_secret.then_some(webhook.secret),
            previous_secret_valid_until: iso_opt(webhook.previous_until),
            url: webhook.url,
            created_at: iso(webhook.created_at),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhooksData {
    webhooks: Vec<WebhookData>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptData {
    at: String,
    /// The endpoint's status code; absent when it did not answer.
    status_code: Option<u16>,
    latency_ms: u32,
    error: Option<String>,
    /// When the next attempt is due, if this one is retried.
    retry_at: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryData {
    id: String,
    event_id: String,
    event: &'static str,
    /// `pending`, `delivered` or `failed`.
    status: &'static str,
    attempts: Vec<AttemptData>,
    next_attempt_at: Option<String>,
    created_at: String,
}

impl From<DeliveryRecord> for DeliveryData {
    fn from(delivery: DeliveryRecord) -> Self {
        DeliveryData {
            id: delivery.id.to_string(),
            event_id: delivery.event.id.to_string(),
            event: delivery.event.kind.as_str(),
            status: delivery.state.as_str(),
            attempts: delivery
                .attempts
                .into_iter()
                .map(|attempt| AttemptData {
                    at: iso(attempt.at),
                    status_code: attempt.status,
                    latency_ms: attempt.latency_ms,
                    error: attempt.error,
                    retry_at: iso_opt(attempt.retry_at),
                })
                .collect(),
            next_attempt_at: iso_opt(delivery.next_attempt_at),
            created_at: iso(delivery.event.created_at),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveriesData {
    deliveries: Vec<DeliveryData>,
    pagination: Pagination,
}

const ANSWERS: &str = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.";

#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    operation_id = "list_webhooks",
    tag = "Webhooks",
    summary = "List webhooks",
    description = ANSWERS,
    responses((status = 200, description = "Success", body = crate::native::Envelope<WebhooksData>)),
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<impl IntoResponse, ApiError> {
    let engine = state.engine.clone();
    let webhooks = blocking(move || engine.webhooks(caller.key.tenant)).await?;
    Ok(ok(WebhooksData {
        webhooks: webhooks
            .into_iter()
            .map(|webhook| WebhookData::new(webhook, false))
            .collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/webhooks",
    operation_id = "create_webhook",
    tag = "Webhooks",
    summary = "Create a webhook (its secret is shown once)",
    description = "Every attempt is a POST of `{id, type, createdAt, data}` with `X-Flit-Event`, `X-Flit-Event-Id`, `X-Flit-Timestamp` and `X-Flit-Signature: sha256=<hex HMAC-SHA256 of \"<timestamp>.<body>\" keyed with the secret>`. Retried with exponential backoff on timeouts, 5xx, 408 and 429. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    request_body(
        content = WebhookBody,
        content_type = "application/json",
        example = json!({"url": "https://example.com/flit/events", "events": ["message.delivered", "message.failed"]}),
    ),
    responses(
        (status = 201, description = "Created", body = crate::native::Envelope<WebhookData>),
        (status = 400, description = "Bad URL or events", body = crate::error::ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: JsonBody<WebhookBody>,
) -> Result<impl IntoResponse, ApiError> {
    let webhook = create_webhook(&state, &caller, body.value).await?;
    Ok((StatusCode::CREATED, ok(WebhookData::new(webhook, true))))
}

/// Creates a webhook from a body of either dialect (`events` required).
pub async fn create_webhook(
    state: &AppState,
    caller: &Caller,
    body: WebhookBody,
) -> Result<WebhookRecord, ApiError> {
    let url = body
        .url
        .ok_or_else(|| ApiError::bad_request("missing_url", "`url` is required"))?;
    let events = body
        .events
        .ok_or_else(|| ApiError::bad_request("missing_events", "`events` is required"))?;
    Ok(state
        .engine
        .create_webhook(caller.key.tenant, &url, &events)
        .await?)
}

#[utoipa::path(
    delete,
    path = "/api/v1/webhooks/{webhook_id}",
    operation_id = "delete_webhook",
    tag = "Webhooks",
    summary = "Delete a webhook (what it has not delivered yet is dropped)",
    description = ANSWERS,
    params(("webhook_id" = String, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<DeletedData>),
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
    Ok(ok(DeletedData::new(id.to_string())))
}

#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{webhook_id}/rotate-secret",
    operation_id = "rotate_webhook_secret",
    tag = "Webhooks",
    summary = "Give a webhook a new secret (the old one keeps signing for 24 hours)",
    description = "During the grace period `X-Flit-Signature` carries two signatures, comma-separated: the new secret's, then the old one's. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(("webhook_id" = String, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<WebhookData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn rotate_secret(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    PathParam(webhook_id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = webhook_id_param(&webhook_id)?;
    let webhook = state
        .engine
        .rotate_webhook_secret(caller.key.tenant, id)
        .await?;
    Ok(ok(WebhookData::new(webhook, true)))
}

#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{webhook_id}/deliveries",
    operation_id = "list_webhook_deliveries",
    tag = "Webhooks",
    summary = "A webhook's deliveries, newest first, each with its attempts",
    description = ANSWERS,
    params(
        ("webhook_id" = String, Path, description = "The webhook's id"),
        ("status" = Option<String>, Query, description = "pending, delivered or failed"),
        ("page" = Option<u32>, Query, description = "Page number, from 1 (default 1)"),
        ("limit" = Option<u32>, Query, description = "Items per page, 1..=100 (default 20)"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<DeliveriesData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn deliveries(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    PathParam(webhook_id): PathParam<String>,
    query: QueryParams,
) -> Result<impl IntoResponse, ApiError> {
    let id = webhook_id_param(&webhook_id)?;
    let page = page_request(&query, 20, 100)?;
    let status = match query.get("status") {
        None => None,
        Some("pending") => Some(DeliveryState::Pending),
        Some("delivered") => Some(DeliveryState::Delivered),
        Some("failed") => Some(DeliveryState::Failed),
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_status",
                format!("unknown `status` `{other}`: use pending, delivered or failed"),
            ));
        }
    };
    let engine = state.engine.clone();
    let listing =
        blocking(move || engine.webhook_deliveries(caller.key.tenant, id, status, page)).await?;
    Ok(ok(DeliveriesData {
        deliveries: listing.items.into_iter().map(DeliveryData::from).collect(),
        pagination: Pagination::new(page, listing.total),
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    operation_id = "redeliver_webhook_event",
    tag = "Webhooks",
    summary = "Send a delivered or failed event again, now (same event id)",
    description = ANSWERS,
    params(
        ("webhook_id" = String, Path, description = "The webhook's id"),
        ("delivery_id" = String, Path, description = "The delivery's id"),
    ),
    responses(
        (status = 202, description = "Queued", body = crate::native::Envelope<DeliveryData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
        (status = 409, description = "Still pending", body = crate::error::ErrorBody),
    ),
)]
pub async fn redeliver(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    PathParam((webhook_id, delivery_id)): PathParam<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let webhook = webhook_id_param(&webhook_id)?;
    let delivery: DeliveryId = delivery_id
        .parse()
        .map_err(|_| ApiError::not_found("webhook delivery"))?;
    let record = state
        .engine
        .redeliver(caller.key.tenant, webhook, delivery)
        .await?;
    Ok((StatusCode::ACCEPTED, ok(DeliveryData::from(record))))
}

pub fn webhook_id_param(raw: &str) -> Result<WebhookId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("webhook"))
}
