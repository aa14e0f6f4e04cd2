//! A phone's work: `GET /mobile/v1/message?order=lifo|fifo` (a bare array of at most 100
//! messages in the app's format, dates with exactly three fractional digits), `PATCH
//! /mobile/v1/message` (the app sends one item per call; unknown ids are ignored; states only
//! move forward), `GET /mobile/v1/events` (Server-Sent Events: `MessageEnqueued`,
//! `MessageCancelled`, `SettingsUpdated`, a keep-alive comment every 15 s), and the phone's
//! `GET /settings` and `GET /webhooks`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flit_engine::{MAX_PULL, PhoneEvent, PhoneState};
use futures::stream::{self, StreamExt as _};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{MobileFailure, Phone};
use crate::error::ApiError;
use crate::state::AppState;
use crate::timefmt::iso;

/// How often an open event stream gets a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Items one `PATCH /message` may carry (the app sends one).
const MAX_PATCH_ITEMS: usize = 100;

#[derive(Deserialize)]
pub struct PullQuery {
    order: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TextMessage {
    text: String,
}

/// A message as the app reads it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneMessageDto {
    id: String,
    text_message: TextMessage,
    /// The same text, for app versions that read the older field.
    message: String,
    phone_numbers: Vec<String>,
    /// The SIM to send from, when the send pinned one (absent: the phone's own choice).
    #[serde(skip_serializing_if = "Option::is_none")]
    sim_number: Option<u8>,
    with_delivery_report: bool,
    /// Past this, the phone fails it (`TTL expired`) rather than send it late.
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_until: Option<String>,
    created_at: String,
    /// `Pending`, or `Cancelling` for a message cancelled after the phone took it (the phone
    /// drops it if it still can and reports it `Cancelled`).
    state: &'static str,
}

pub async fn pull(
    State(state): State<Arc<AppState>>,
    Extension(Phone(device)): Extension<Phone>,
    Query(query): Query<PullQuery>,
) -> Result<Json<Vec<PhoneMessageDto>>, MobileFailure> {
    let lifo = match query.order.as_deref() {
        None | Some("lifo") => true,
        Some("fifo") => false,
        Some(_) => {
            return Err(ApiError::bad_request("invalid_order", "`order` is lifo or fifo").into());
        }
    };
    let messages = state.engine.device_pull(device.id, MAX_PULL, lifo).await?;
    Ok(Json(
        messages
            .into_iter()
            .map(|message| PhoneMessageDto {
                id: message.id,
                text_message: TextMessage {
                    text: message.text.clone(),
                },
                message: message.text,
                phone_numbers: vec![message.phone_number],
                sim_number: message.sim,
                with_delivery_report: true,
                valid_until: message.valid_until.map(iso),
                created_at: iso(message.created_at),
                state: if message.cancelling {
                    "Cancelling"
                } else {
                    "Pending"
                },
            })
            .collect(),
    ))
}

/// One recipient's state in a report.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientReport {
    state: String,
    error: Option<String>,
}

/// One message's state, as the app reports it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageReport {
    id: String,
    state: String,
    #[serde(default)]
    recipients: Vec<RecipientReport>,
    /// Every state the message went through, with when (the phone's clock and offset); read
    /// for its form only.
    #[serde(default)]
    states: std::collections::HashMap<String, String>,
}

fn phone_state(name: &str) -> Result<PhoneState, ApiError> {
    Ok(match name {
        "Pending" => PhoneState::Pending,
        "Processed" => PhoneState::Processed,
        "Sent" => PhoneState::Sent,
        "Delivered" => PhoneState::Delivered,
        "Failed" => PhoneState::Failed,
        // A message the phone dropped on a cancel.
        "Cancelled" => PhoneState::Cancelled,
        other => {
            return Err(ApiError::bad_request(
                "invalid_state",
                format!("unknown state `{other}`"),
            ));
        }
    })
}

pub async fn report(
    State(state): State<Arc<AppState>>,
    Extension(Phone(device)): Extension<Phone>,
    body: Bytes,
) -> Result<StatusCode, MobileFailure> {
    let reports: Vec<MessageReport> = crate::extract::parse_json(&body)?;
    if reports.len() > MAX_PATCH_ITEMS {
        return Err(ApiError::bad_request(
            "too_many_items",
            format!("at most {MAX_PATCH_ITEMS} items a call"),
        )
        .into());
    }
    // Checked whole before anything is applied: a bad item changes nothing.
    let mut parsed = Vec::with_capacity(reports.len());
    for report in reports {
        if report.id.is_empty() || report.id.len() > 36 {
            return Err(ApiError::bad_request("invalid_id", "`id` is 1 to 36 characters").into());
        }
        for (name, at) in &report.states {
            phone_state(name)?;
            if time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                .is_err()
            {
                return Err(ApiError::bad_request(
                    "invalid_date",
                    format!("`states.{name}` is not a date: `{at}`"),
                )
                .into());
            }
        }
        // The message has one recipient here; its own state is the one that counts (the
        // message state of a mixed report says `Sent`).
        let recipient = report.recipients.first();
        let state = phone_state(recipient.map_or(report.state.as_str(), |r| r.state.as_str()))?;
        let error = recipient.and_then(|r| r.error.clone());
        parsed.push((report.id, state, error));
    }
    for (id, phone_state, error) in parsed {
        // An id this phone does not hold (another's, a finished one): ignored, as the app
        // expects.
        state
            .engine
            .device_report(device.id, &id, phone_state, error)?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /mobile/v1/events`: the phone's event stream.
pub async fn events(
    State(state): State<Arc<AppState>>,
    Extension(Phone(device)): Extension<Phone>,
) -> Result<Response, MobileFailure> {
    let (receiver, guard) = state.engine.device_events(device.id)?;
    let events = tokio_stream_of(receiver).map(|event| match event {
        Some(PhoneEvent::MessageEnqueued) => "event: MessageEnqueued\ndata: null\n\n".to_string(),
        Some(PhoneEvent::MessageCancelled(id)) => format!(
            "event: MessageCancelled\ndata: {}\n\n",
            json!({ "messageId": id })
        ),
        Some(PhoneEvent::SettingsUpdated) => "event: SettingsUpdated\ndata: null\n\n".to_string(),
        None => ":keepalive\n\n".to_string(),
    });
    // The guard lives as long as the stream: the phone counts as connected until it goes.
    let body = events.map(move |chunk| {
        let _ = &guard;
        Ok::<_, Infallible>(Bytes::from(chunk))
    });
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// The phone's events, with `None` for a keep-alive every [`KEEP_ALIVE`] without one. A
/// stream that fell behind just hears `MessageEnqueued` (a pull catches up on everything).
fn tokio_stream_of(
    receiver: tokio::sync::broadcast::Receiver<PhoneEvent>,
) -> impl futures::Stream<Item = Option<PhoneEvent>> {
    stream::unfold(receiver, |mut receiver| async move {
        match tokio::time::timeout(KEEP_ALIVE, receiver.recv()).await {
            Err(_) => Some((None, receiver)),
            Ok(Ok(event)) => Some((Some(event), receiver)),
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                Some((Some(PhoneEvent::MessageEnqueued), receiver))
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => None,
        }
    })
}

/// `GET /mobile/v1/settings`: the phone's limits and the key it signs its webhooks with. Only
/// names the app knows (one unknown enum name makes it drop the rest), and never the server
/// address.
pub async fn settings(Extension(Phone(device)): Extension<Phone>) -> Json<Value> {
    let limits = device.limits;
    // The tightest limit, in the one period the app takes.
    let (period, value) = if limits.per_minute > 0 {
        ("PerMinute", limits.per_minute)
    } else if limits.per_hour > 0 {
        ("PerHour", limits.per_hour)
    } else if limits.per_day > 0 {
        ("PerDay", limits.per_day)
    } else {
        ("Disabled", 0)
    };
    Json(json!({
        "messages": {
            "limit_period": period,
            "limit_value": value,
            "processing_order": "FIFO",
        },
        "webhooks": {
            "signing_key": device.signing_key,
            "internet_required": false,
        },
        "gateway": {
            "notification_channel": "SSE_ONLY",
        },
    }))
}

/// `GET /mobile/v1/webhooks`: one `sms:received` webhook, pointing at Flit's own ingest URL for
/// this phone (at `devices.public_url`, else the address the phone reached Flit at), so
/// received SMS come to Flit.
pub async fn webhooks(
    State(state): State<Arc<AppState>>,
    Extension(Phone(device)): Extension<Phone>,
    headers: HeaderMap,
) -> Json<Value> {
    let base = match &state.public_url {
        Some(url) => url.clone(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("127.0.0.1");
            // The app reaches a server over https only, but for 127.0.0.1 (a local test).
            let local = host.starts_with("127.0.0.1") || host.starts_with("localhost");
            format!("{}://{host}", if local { "http" } else { "https" })
        }
    };
    Json(json!([{
        "id": format!("flit-inbound-{}", device.id),
        "deviceId": device.id.to_string(),
        "url": format!("{}/mobile/v1/inbound/{}", base.trim_end_matches('/'), device.id),
        "event": "sms:received",
    }]))
}

/// What the app posts to a webhook.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Posted {
    id: String,
    event: String,
    #[serde(default)]
    payload: Value,
}

/// `POST /mobile/v1/inbound/{device_id}`: the `sms:received` webhook of a phone (signed with
/// the key its settings gave it: `X-Signature` = hex HMAC-SHA256 of the body followed by
/// `X-Timestamp`). The SMS becomes an inbound message of the tenant, durably, before the 2xx;
/// a repeated delivery (the same envelope id) is answered 2xx and stored once.
pub async fn inbound(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(device_id): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let (Some(signature), Some(timestamp)) = (header("x-signature"), header("x-timestamp")) else {
        return super::mobile_error(StatusCode::UNAUTHORIZED, "unsigned");
    };
    let Ok(device) = device_id.parse::<flit_engine::ids::DeviceId>() else {
        return super::mobile_error(StatusCode::NOT_FOUND, "unknown device");
    };
    let Some(key) = state.engine.device_signing_key(device) else {
        return super::mobile_error(StatusCode::NOT_FOUND, "unknown device");
    };
    if !flit_engine::secrets::hmac_sha256_hex_matches(
        key.as_bytes(),
        &[&body, timestamp.as_bytes()],
        signature,
    ) {
        return super::mobile_error(StatusCode::UNAUTHORIZED, "bad signature");
    }
    let posted: Posted = match crate::extract::parse_json(&body) {
        Ok(posted) => posted,
        Err(error) => return super::mobile_error(error.status, error.message),
    };
    if posted.event != "sms:received" {
        // Other events of the phone are of no use here; taken so it does not retry them.
        return StatusCode::NO_CONTENT.into_response();
    }
    let text = |name: &str| {
        posted
            .payload
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let Some(from) = text("sender").or_else(|| text("phoneNumber")) else {
        return super::mobile_error(StatusCode::BAD_REQUEST, "`payload.sender` is required");
    };
    let sms = flit_engine::PhoneInbound {
        envelope: posted.id,
        from,
        to: text("recipient").unwrap_or_default(),
        text: text("message").unwrap_or_default(),
    };
    match state.engine.device_inbound(device, sms).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => MobileFailure::from(error).into_response(),
    }
}
