//! `POST /messages/send` (one text to one international number, from one approved sender)
//! and `GET /messages/{message_id}` (that message, its status in lower case), both answering
//! the one `Message` shape.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use flit_engine::ids::MessageId;
use flit_engine::{
    Content, EngineError, Invalid, MessageRecord, RecipientRecord, RecipientStatus, SendRequest,
    Validation,
};
use serde::{Deserialize, Serialize};

use super::body::LenientBody;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{IdempotencyScope, PathParam, idempotency_claim};
use crate::native::blocking;
use crate::state::AppState;
use crate::timefmt::{iso, iso_opt};

/// What `POST /messages/send` takes: all three fields are required.
// Component names are global to `/openapi.json`: `as` keeps these apart from the native API's.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = FlowstatesSendBody)]
pub struct SendBody {
    /// The destination in international format with a leading `+`. Checked structurally (a
    /// known country code and 8 to 15 digits in all) unless the account is set to strict
    /// checking; the carrier reports a number that does not exist.
    #[schema(example = "+6141234567890")]
    to: String,
    /// The text (GSM-7, else UCS-2; at most 6 parts unless the account allows more).
    #[schema(example = "Hello world!")]
    message: String,
    /// One of the account's approved sender IDs, shown on the user's phone.
    #[schema(example = "Flowstates")]
    sender: String,
}

/// A message as both endpoints show it. A Flowstates message has one recipient; one sent to
/// several through the native API shows its first here (`/api/v1/sms/{id}/recipients` lists
/// them all).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FlowstatesMessage)]
pub struct Message {
    /// The message's id (`msg_…`), for `GET /messages/{id}`.
    id: String,
    /// The destination: as given when sent, in international form when read back.
    to: String,
    message: String,
    sender: String,
    #[schema(schema_with = status_schema)]
    status: &'static str,
    /// When Flit accepted it (ISO 8601, UTC).
    created_at: String,
    /// When a carrier (or the sandbox) took it.
    sent_at: Option<String>,
    /// When its delivery receipt said delivered.
    delivered_at: Option<String>,
    /// When it failed for good.
    failed_at: Option<String>,
    /// What the carrier or Flit said when it failed (an SMPP error or the receipt's state).
    error: Option<String>,
}

fn status_schema() -> utoipa::openapi::Object {
    crate::openapi::string_enum(
        "`queued` until a carrier takes it, `sent` until its receipt, then `delivered` or \
         `failed`; `cancelled` if it was cancelled before it went out",
        &STATUSES,
    )
}

const STATUSES: [&str; 5] = ["queued", "sent", "delivered", "failed", "cancelled"];

/// Flit's recipient states in this dialect's words.
fn status_word(status: RecipientStatus) -> &'static str {
    match status {
        RecipientStatus::Pending => STATUSES[0],
        RecipientStatus::Sent => STATUSES[1],
        RecipientStatus::Delivered => STATUSES[2],
        RecipientStatus::Failed => STATUSES[3],
        RecipientStatus::Cancelled => STATUSES[4],
    }
}

impl Message {
    fn read_back(message: MessageRecord, recipient: RecipientRecord) -> Message {
        let done_at = iso_opt(recipient.done_at);
        let (delivered_at, failed_at) = match recipient.status {
            RecipientStatus::Delivered => (done_at, None),
            RecipientStatus::Failed => (None, done_at),
            _ => (None, None),
        };
        Message {
            id: message.id.to_string(),
            to: recipient.msisdn.international(),
            message: message.text,
            sender: message.sender,
            status: status_word(recipient.status),
            created_at: iso(message.created_at),
            sent_at: iso_opt(recipient.sent_at),
            delivered_at,
            failed_at,
            error: recipient.error,
        }
    }
}

#[utoipa::path(
    post,
    path = "/messages/send",
    operation_id = "flowstates_send",
    tag = "Flowstates",
    summary = "Send an SMS to one international number (Flowstates)",
    description = "The body is JSON, and may carry `//` and `/* */` comments as the Flowstates \
                   example does; it is read as JSON whether it comes as `application/json`, with \
                   no `Content-Type`, or as `application/x-www-form-urlencoded` (what \
                   `curl --data` sends). A form body that is not JSON is read as its fields \
                   (write `+` as `%2B`). Errors are `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body returns the first answer and never sends or charges twice"),
    ),
    request_body(content(
        (SendBody = "application/json", example = json!({"to": "+6141234567890", "message": "Hello world!", "sender": "MyBrand"})),
        (SendBody = "application/x-www-form-urlencoded", example = json!({"to": "+6141234567890", "message": "Hello world!", "sender": "MyBrand"})),
    )),
    responses(
        (status = 201, description = "Accepted and queued", body = Message,
            headers(("Location" = String, description = "`/messages/{id}`, where the message can be read back"))),
        (status = 402, description = "Not enough credits", body = crate::error::ErrorBody),
        (status = 415, description = "Body is neither JSON nor a form", body = crate::error::ErrorBody),
        (status = 422, description = "Idempotency-Key reused with a different body", body = crate::error::ErrorBody),
    ),
)]
pub async fn send(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: LenientBody<SendBody>,
) -> Result<impl IntoResponse, ApiError> {
    let idempotency = idempotency_claim(&headers, IdempotencyScope::Tenant, &body.raw)?;
    let SendBody {
        to,
        message,
        sender,
    } = body.value;
    let to = to.trim();
    if !to.starts_with('+') {
        return Err(ApiError::bad_request(
            "invalid_to",
            "`to` must be in international format with a leading `+`, e.g. +233201234567 \
             (in a form body, write `+` as `%2B`)",
        ));
    }
    let request = SendRequest {
        recipients: vec![to.to_string()],
        content: Content::Text(message.clone()),
        sender: Some(sender.clone()),
        // What Flowstates checks: its own example number is not a real one.
        validation: Some(Validation::Structural),
        idempotency,
        ..SendRequest::default()
    };
    let outcome = state
        .engine
        .send(caller.key.tenant, request)
        .await
        .map_err(|error| send_error(error, to))?;
    let id = outcome.message_id.to_string();
    let location = format!("/messages/{id}");
    let sent = Message {
        id,
        to: to.to_string(),
        message,
        sender,
        status: status_word(RecipientStatus::Pending),
        created_at: iso(outcome.created_at),
        sent_at: None,
        delivered_at: None,
        failed_at: None,
        error: None,
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(sent),
    ))
}

/// The engine's refusals of a send in this dialect's words where the native ones name fields
/// it does not have (`recipients`, `variables`).
fn send_error(error: EngineError, to: &str) -> ApiError {
    match error {
        EngineError::Invalid(Invalid::NoValidRecipients(_)) => ApiError::bad_request(
            "invalid_to",
            format!("`to` is not a valid international phone number: {to}"),
        ),
        EngineError::Invalid(Invalid::MissingVariable(name) | Invalid::UnfilledVariable(name)) => {
            ApiError::bad_request(
                "unsupported_placeholder",
                format!(
                    "`message` holds the placeholder `{{{{{name}}}}}`, which this endpoint does \
                     not fill; the native API's `/api/v1/sms/send` does"
                ),
            )
        }
        other => ApiError::from(other),
    }
}

#[utoipa::path(
    get,
    path = "/messages/{message_id}",
    operation_id = "flowstates_message",
    tag = "Flowstates",
    summary = "A message and its delivery status (Flowstates)",
    description = "Errors are `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("message_id" = String, Path, description = "The message's id, as `POST /messages/send` answered it"),
    ),
    responses(
        (status = 200, description = "The message", body = Message),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    PathParam(message_id): PathParam<String>,
) -> Result<Json<Message>, ApiError> {
    let id: MessageId = message_id
        .parse()
        .map_err(|_| ApiError::not_found("message"))?;
    let engine = state.engine.clone();
    let first_only = flit_engine::PageRequest { page: 1, limit: 1 };
    let (message, recipients) =
        blocking(move || engine.recipients_page(caller.key.tenant, id, first_only))
            .await?
            .ok_or_else(|| ApiError::not_found("message"))?;
    // Every accepted message has its recipients: they are written before it becomes visible.
    let first = recipients
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("message"))?;
    Ok(Json(Message::read_back(message, first)))
}
