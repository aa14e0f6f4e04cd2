//! `/sms/...`: send, estimate, history, status, the per-recipient delivery report, and cancel.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use flit_engine::Validation;
use flit_engine::ids::{ContactId, GroupId, MessageId, TemplateId};
use flit_engine::{Content, MessageFilter, SendRequest};
use flit_engine::{MessageRecord, MessageStatus};
use serde::{Deserialize, Serialize};

use super::{Pagination, blocking, date_param, ok, page_request};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{IdempotencyScope, JsonBody, PathParam, QueryParams, idempotency_claim};
use crate::state::AppState;
use crate::timefmt::{DayEnd, iso, iso_opt, parse_instant};

/// History listings show at most this much of each text (as documented).
const LISTING_TEXT_CHARS: usize = 160;

/// Who gets the message (`recipients`, `to`, `groupId`, `groupIds`, `contactIds`,
/// `sendToAllContacts`: at least one) and what it says (`message`, or `templateId`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendBody {
    /// Numbers in E.164 or the tenant's local form; invalid ones are listed in
    /// `invalidRecipients`, never sent, never charged.
    #[schema(max_items = 1000)]
    recipients: Option<Vec<String>>,
    /// One more number, as `recipients` takes them.
    to: Option<String>,
    /// The text (`{{placeholders}}` filled per contact); required unless `templateId` is given.
    message: Option<String>,
    /// One of the tenant's approved sender IDs (default: the first approved one).
    sender_id: Option<String>,
    #[schema(max_length = 100)]
    campaign_name: Option<String>,
    is_scheduled: Option<bool>,
    /// ISO 8601 instant in the future (at most a year ahead); required when `isScheduled`.
    schedule_date: Option<String>,
    /// Seconds the message may wait for a channel before it expires.
    #[schema(minimum = 1, maximum = 604800)]
    validity_period: Option<u32>,
    group_id: Option<String>,
    group_ids: Option<Vec<String>>,
    contact_ids: Option<Vec<String>>,
    send_to_all_contacts: Option<bool>,
    template_id: Option<String>,
    /// Values for the text's `{{placeholders}}` beyond the contact fields.
    variables: Option<HashMap<String, String>>,
    /// Send through this phone of the tenant (a device id from `GET /devices`) rather than a
    /// carrier; 503 when it is not online.
    device_id: Option<String>,
    /// With `deviceId`: the SIM (1 to 3) the phone sends from; absent, the phone chooses.
    sim_number: Option<u8>,
}

/// Longest `validityPeriod`: a week, as SMSCs commonly cap it.
const MAX_VALIDITY_SECONDS: u32 = 7 * 24 * 3600;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendData {
    message_id: String,
    recipients_sent: u32,
    invalid_recipients: Vec<String>,
    credits_used: i64,
    remaining_credits: i64,
    scheduled: bool,
    schedule_date: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/sms/send",
    tag = "SMS",
    summary = "Send an SMS to numbers, groups, contacts or everyone",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body returns the first answer and never sends or charges twice"),
    ),
    request_body(
        content = SendBody,
        content_type = "application/json",
        example = json!({"recipients": ["0201234567", "+233241234567"], "message": "Hello from Flit!", "senderId": "MyBrand"}),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<SendData>),
        (status = 402, description = "Not enough credits", body = crate::error::ErrorBody),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with an existing object", body = crate::error::ErrorBody),
        (status = 422, description = "Idempotency-Key reused with a different body", body = crate::error::ErrorBody),
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
    if body.sim_number.is_some() && body.device_id.is_none() {
        return Err(ApiError::bad_request(
            "invalid_sim",
            "`simNumber` pins a SIM of the phone `deviceId` names",
        ));
    }
    let device = body
        .device_id
        .as_deref()
        .map(|id| {
            id.parse::<flit_engine::ids::DeviceId>()
                .map(|device| flit_engine::DeviceRoute {
                    device: Some(device),
                    sim: body.sim_number,
                    ..Default::default()
                })
                .map_err(|_| ApiError::not_found("device"))
        })
        .transpose()?;
    let sources = Sources::from_body(
        body.group_id,
        body.group_ids,
        body.contact_ids,
        body.template_id,
    )?;
    // A template, when named, is what the message says.
    let content = match (sources.template, body.message) {
        (Some(template), _) => Content::Template(template),
        (None, Some(message)) => Content::Text(message),
        (None, None) => {
            return Err(ApiError::bad_request(
                "missing_message",
                "`message` (or `templateId`) is required",
            ));
        }
    };
    if body
        .validity_period
        .is_some_and(|seconds| !(1..=MAX_VALIDITY_SECONDS).contains(&seconds))
    {
        return Err(ApiError::bad_request(
            "invalid_validity_period",
            format!("`validityPeriod` must be from 1 to {MAX_VALIDITY_SECONDS} seconds"),
        ));
    }
    let mut recipients = body.recipients.unwrap_or_default();
    if let Some(to) = body.to {
        recipients.push(to);
    }
    let schedule_at = match (body.is_scheduled.unwrap_or(false), body.schedule_date) {
        (true, Some(date)) => Some(parse_instant("scheduleDate", &date, DayEnd::Start)?),
        (true, None) => {
            return Err(ApiError::bad_request(
                "missing_schedule_date",
                "`scheduleDate` is required when `isScheduled` is true",
            ));
        }
        (false, _) => None,
    };
    let request = SendRequest {
        recipients,
        group_ids: sources.groups,
        contact_ids: sources.contacts,
        all_contacts: body.send_to_all_contacts.unwrap_or(false),
        content,
        variables: body.variables.unwrap_or_default(),
        sender: body.sender_id,
        campaign: body.campaign_name,
        schedule_at,
        validity: body
            .validity_period
            .map(|seconds| Duration::from_secs(u64::from(seconds))),
        validation: Some(Validation::Strict),
        idempotency,
        device,
    };
    let outcome = state.engine.send(caller.key.tenant, request).await?;
    Ok(ok(SendData {
        message_id: outcome.message_id.to_string(),
        recipients_sent: outcome.recipients_sent,
        invalid_recipients: outcome.invalid_recipients,
        credits_used: outcome.credits_used,
        remaining_credits: outcome.remaining_credits,
        scheduled: outcome.scheduled_at.is_some(),
        schedule_date: iso_opt(outcome.scheduled_at),
    }))
}

/// The recipient sources and template of a request, parsed; an id that cannot be one is
/// simply not found.
struct Sources {
    groups: Vec<GroupId>,
    contacts: Vec<ContactId>,
    template: Option<TemplateId>,
}

impl Sources {
    fn from_body(
        group_id: Option<String>,
        group_ids: Option<Vec<String>>,
        contact_ids: Option<Vec<String>>,
        template_id: Option<String>,
    ) -> Result<Sources, ApiError> {
        let groups = group_id
            .into_iter()
            .chain(group_ids.unwrap_or_default())
            .map(|raw| raw.parse().map_err(|_| ApiError::not_found("group")))
            .collect::<Result<Vec<GroupId>, _>>()?;
        let contacts = contact_ids
            .unwrap_or_default()
            .iter()
            .map(|raw| raw.parse().map_err(|_| ApiError::not_found("contact")))
            .collect::<Result<Vec<ContactId>, _>>()?;
        let template = template_id
            .map(|raw| raw.parse().map_err(|_| ApiError::not_found("template")))
            .transpose()?;
        Ok(Sources {
            groups,
            contacts,
            template,
        })
    }

    fn any(&self) -> bool {
        !self.groups.is_empty() || !self.contacts.is_empty()
    }
}

/// Either a text and a `recipientCount`, or a text (or `templateId`) and recipient sources
/// as `POST /sms/send` takes them, which are then resolved and priced as the send would be.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EstimateBody {
    /// The text; required unless `templateId` is given with a recipient source.
    message: Option<String>,
    /// Required when no recipient source is given.
    #[schema(minimum = 1, maximum = 10000)]
    recipient_count: Option<u64>,
    /// With any recipient source, the estimate resolves and prices the real send.
    #[schema(max_items = 1000)]
    recipients: Option<Vec<String>>,
    group_id: Option<String>,
    group_ids: Option<Vec<String>>,
    contact_ids: Option<Vec<String>>,
    send_to_all_contacts: Option<bool>,
    template_id: Option<String>,
    variables: Option<HashMap<String, String>>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EstimateData {
    message: TextData,
    recipient_count: u64,
    credits_required: i64,
    current_balance: i64,
    can_afford: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TextData {
    length: usize,
    parts: usize,
    encoding: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/sms/estimate",
    tag = "SMS",
    summary = "Estimate parts and credits for a send",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    request_body(
        content = EstimateBody,
        content_type = "application/json",
        example = json!({"message": "Hello from Flit!", "recipientCount": 2}),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<EstimateData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn estimate(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: JsonBody<EstimateBody>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.value;
    let sources = Sources::from_body(
        body.group_id,
        body.group_ids,
        body.contact_ids,
        body.template_id,
    )?;
    let all_contacts = body.send_to_all_contacts.unwrap_or(false);
    let recipients = body.recipients.unwrap_or_default();
    let resolves = sources.any() || all_contacts || !recipients.is_empty();
    let content = match (sources.template, body.message) {
        (Some(template), _) if resolves => Content::Template(template),
        (_, Some(message)) => Content::Text(message),
        _ => {
            return Err(ApiError::bad_request(
                "missing_message",
                "`message` is required",
            ));
        }
    };
    let estimate = match content {
        content if resolves => {
            let request = SendRequest {
                recipients,
                group_ids: sources.groups,
                contact_ids: sources.contacts,
                all_contacts,
                content,
                variables: body.variables.unwrap_or_default(),
                validation: Some(Validation::Strict),
                ..SendRequest::default()
            };
            state
                .engine
                .estimate_send(caller.key.tenant, request)
                .await?
        }
        // Without recipients to resolve, only a text given as it is can be estimated.
        Content::Text(message) => {
            let Some(count) = body.recipient_count else {
                return Err(ApiError::bad_request(
                    "missing_recipient_count",
                    "`recipientCount` is required",
                ));
            };
            state.engine.estimate(caller.key.tenant, &message, count)?
        }
        Content::Template(_) => {
            return Err(ApiError::bad_request(
                "missing_message",
                "`message` is required",
            ));
        }
    };
    Ok(ok(EstimateData {
        message: TextData {
            length: estimate.text.length,
            parts: estimate.text.parts,
            encoding: estimate.text.encoding.to_string(),
        },
        recipient_count: estimate.recipient_count,
        credits_required: estimate.credits_required,
        current_balance: estimate.current_balance,
        can_afford: estimate.can_afford,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageData {
    id: String,
    status: &'static str,
    recipient_count: u32,
    message: String,
    sender_id: String,
    credits_used: i64,
    scheduled_at: Option<String>,
    sent_at: Option<String>,
    created_at: String,
}

impl MessageData {
    fn new(message: MessageRecord, text_chars: Option<usize>) -> MessageData {
        let text = match text_chars {
            Some(max) if message.text.chars().count() > max => {
                message.text.chars().take(max).collect()
            }
            _ => message.text,
        };
        MessageData {
            id: message.id.to_string(),
            status: message.counts.status().as_str(),
            recipient_count: message.recipient_count,
            message: text,
            sender_id: message.sender,
            credits_used: message.credits,
            scheduled_at: iso_opt(message.scheduled_at),
            sent_at: iso_opt(message.sent_at),
            created_at: iso(message.created_at),
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/sms/status/{message_id}",
    tag = "SMS",
    summary = "A message's status",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("message_id" = String, Path, description = "The message's id"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<MessageData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn status(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    PathParam(message_id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id: MessageId = message_id
        .parse()
        .map_err(|_| ApiError::not_found("message"))?;
    let engine = state.engine.clone();
    let message = blocking(move || engine.message(caller.key.tenant, id))
        .await?
        .ok_or_else(|| ApiError::not_found("message"))?;
    Ok(ok(MessageData::new(message, None)))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecipientsData {
    message_id: String,
    status: &'static str,
    recipient_count: u32,
    /// This page of them, in the order they were given.
    recipients: Vec<RecipientData>,
    /// Over every recipient of the message.
    stats: RecipientStats,
    pagination: Pagination,
}

/// Recipients in one page of the report, by default and at most: a message of 100,000
/// recipients is read a page at a time.
const RECIPIENTS_PAGE: u32 = 1000;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecipientData {
    phone: String,
    status: &'static str,
    sent_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecipientStats {
    delivered: u32,
    failed: u32,
    pending: u32,
    delivery_rate: f64,
}

#[utoipa::path(
    get,
    path = "/api/v1/sms/{message_id}/recipients",
    tag = "SMS",
    summary = "A message's per-recipient delivery report",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`. Recipients come a page at a time (`page`, `limit` up to 1000, 1000 by default); `stats` cover them all.",
    params(
        ("message_id" = String, Path, description = "The message's id"),
        ("page" = Option<u32>, Query, description = "Page number, from 1", minimum = 1),
        ("limit" = Option<u32>, Query, description = "Recipients per page (1 to 1000, default 1000)", minimum = 1, maximum = 1000),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<RecipientsData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn recipients(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    PathParam(message_id): PathParam<String>,
    query: QueryParams,
) -> Result<impl IntoResponse, ApiError> {
    let id: MessageId = message_id
        .parse()
        .map_err(|_| ApiError::not_found("message"))?;
    let page = page_request(&query, RECIPIENTS_PAGE, RECIPIENTS_PAGE)?;
    let engine = state.engine.clone();
    // Read and encoded off the async threads: a page is up to a thousand rows.
    blocking(move || {
        Ok(engine
            .recipients_page(caller.key.tenant, id, page)?
            .map(|(message, recipients)| recipients_report(message, recipients, page)))
    })
    .await?
    .ok_or_else(|| ApiError::not_found("message"))?
}

fn recipients_report(
    message: MessageRecord,
    recipients: Vec<flit_engine::RecipientRecord>,
    page: flit_engine::PageRequest,
) -> Result<super::EncodedJson, ApiError> {
    // Over the whole message, from its counts (not only this page).
    let counts = message.counts;
    let mut stats = RecipientStats {
        delivered: counts.delivered,
        failed: counts.failed + counts.cancelled,
        pending: counts.pending + counts.sent,
        delivery_rate: 0.0,
    };
    if message.recipient_count > 0 {
        let rate = f64::from(stats.delivered) * 100.0 / f64::from(message.recipient_count);
        stats.delivery_rate = (rate * 10.0).round() / 10.0;
    }
    let recipients = recipients
        .into_iter()
        .map(|recipient| RecipientData {
            phone: recipient.msisdn.to_string(),
            status: recipient.status.as_str(),
            sent_at: iso_opt(recipient.sent_at),
            error: recipient.error,
        })
        .collect();
    super::ok_encoded(RecipientsData {
        message_id: message.id.to_string(),
        status: message.counts.status().as_str(),
        recipient_count: message.recipient_count,
        recipients,
        stats,
        pagination: Pagination::new(page, u64::from(message.recipient_count)),
    })
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelData {
    message_id: String,
    /// The message's status now: `CANCELLED`, unless some recipients had already gone to a
    /// carrier.
    status: &'static str,
    cancelled_recipients: u32,
    /// Credits given back for the parts never sent (one REFUND transaction).
    credits_refunded: i64,
}

#[utoipa::path(
    post,
    path = "/api/v1/sms/{message_id}/cancel",
    tag = "SMS",
    summary = "Cancel a scheduled or still-queued message, refunding what was not sent",
    description = "Every recipient not yet handed to a carrier becomes `CANCELLED` and its parts are refunded \
                   (one `REFUND` transaction); a scheduled message is never sent. A part a carrier already \
                   holds goes out, and is charged. Answers once the cancel and its refund are durable. \
                   Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("message_id" = String, Path, description = "The message's id"),
    ),
    responses(
        (status = 200, description = "Cancelled", body = crate::native::Envelope<CancelData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
        (status = 409, description = "Nothing left to cancel (`not_cancellable`): every recipient was already sent or is final", body = crate::error::ErrorBody),
    ),
)]
pub async fn cancel(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    PathParam(message_id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id: MessageId = message_id
        .parse()
        .map_err(|_| ApiError::not_found("message"))?;
    let cancelled = state.engine.cancel(caller.key.tenant, id).await?;
    Ok(ok(CancelData {
        message_id: cancelled.message_id.to_string(),
        status: cancelled.status.as_str(),
        cancelled_recipients: cancelled.cancelled_recipients,
        credits_refunded: cancelled.credits_refunded,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ListData {
    messages: Vec<MessageData>,
    pagination: Pagination,
}

#[utoipa::path(
    get,
    path = "/api/v1/sms",
    tag = "SMS",
    summary = "List sent messages, newest first",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("page" = Option<u32>, Query, description = "Page number, from 1 (default 1)"),
        ("limit" = Option<u32>, Query, description = "Items per page, 1..=100 (default 20)"),
        ("status" = Option<String>, Query, description = "PENDING, SENT, DELIVERED, FAILED or CANCELLED"),
        ("startDate" = Option<String>, Query, description = "Only items from this date or instant (ISO 8601)"),
        ("endDate" = Option<String>, Query, description = "Only items up to the end of this date or instant (ISO 8601)"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<ListData>),
    ),
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    query: QueryParams,
) -> Result<impl IntoResponse, ApiError> {
    let page = page_request(&query, 20, 100)?;
    let status = match query.get("status") {
        Some(raw) => Some(raw.parse::<MessageStatus>().map_err(|_| {
            ApiError::bad_request(
                "invalid_status",
                format!("`status` must be one of PENDING, SENT, DELIVERED, FAILED, CANCELLED; got `{raw}`"),
            )
        })?),
        None => None,
    };
    let filter = MessageFilter {
        status,
        from: date_param(&query, "startDate", DayEnd::Start)?,
        until: date_param(&query, "endDate", DayEnd::End)?,
    };
    let engine = state.engine.clone();
    let listing = blocking(move || engine.messages(caller.key.tenant, filter, page)).await?;
    Ok(ok(ListData {
        messages: listing
            .items
            .into_iter()
            .map(|message| MessageData::new(message, Some(LISTING_TEXT_CHARS)))
            .collect(),
        pagination: Pagination::new(page, listing.total),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboundData {
    id: String,
    from: String,
    to: String,
    message: String,
    parts: u8,
    received_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct InboundListData {
    messages: Vec<InboundData>,
    pagination: Pagination,
}

/// `GET /inbound`: SMS received for the tenant, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/inbound",
    tag = "SMS",
    summary = "Inbound SMS received for the tenant, newest first",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("page" = Option<u32>, Query, description = "Page number, from 1 (default 1)"),
        ("limit" = Option<u32>, Query, description = "Items per page, 1..=100 (default 20)"),
        ("startDate" = Option<String>, Query, description = "Only items from this date or instant (ISO 8601)"),
        ("endDate" = Option<String>, Query, description = "Only items up to the end of this date or instant (ISO 8601)"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<InboundListData>),
    ),
)]
pub async fn inbound(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    query: QueryParams,
) -> Result<impl IntoResponse, ApiError> {
    let page = page_request(&query, 20, 100)?;
    let from = date_param(&query, "startDate", DayEnd::Start)?;
    let until = date_param(&query, "endDate", DayEnd::End)?;
    let engine = state.engine.clone();
    let listing = blocking(move || engine.inbound(caller.key.tenant, from, until, page)).await?;
    Ok(ok(InboundListData {
        messages: listing
            .items
            .into_iter()
            .map(|sms| InboundData {
                id: sms.id.to_string(),
                from: sms.from,
                to: sms.to,
                message: sms.text,
                parts: sms.parts,
                received_at: iso(sms.received_at),
            })
            .collect(),
        pagination: Pagination::new(page, listing.total),
    }))
}
