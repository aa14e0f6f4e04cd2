//! `GET /admin/v1/tenants/{id}/export`: a tenant's data as NDJSON, one JSON object a line with
//! its `type` (`tenant`, `sender_id`, `api_key`, `smpp_account`, `contact`, `group`,
//! `template`, `webhook`, `device`, `transaction`, `message`, `recipient`, `inbound`), in that
//! order, each message followed by its recipients. The engine reads it a page at a time from a
//! cursor and each page is written out before the next is read, so memory holds one page
//! whatever the tenant holds. No secret is written: API keys without their hash, SMPP accounts
//! without their password's hash, webhooks without their secret, phones without their token,
//! password hash, signing key or push token.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flit_engine::ids::TenantId;
use flit_engine::{
    ContactRecord, DeviceRecord, ExportCursor, ExportRecord, GroupRecord, InboundRecord,
    MessageRecord, RecipientRecord, TransactionRecord,
};
use serde::Serialize;

use crate::admin::{key_data, tenant_data_of};
use crate::error::ApiError;
use crate::extract::PathParam;
use crate::native::account::SenderIdData;
use crate::native::blocking;
use crate::native::templates::TemplateData;
use crate::native::webhooks::WebhookData;
use crate::smpp_accounts::SmppAccountData;
use crate::state::AppState;
use crate::timefmt::{iso, iso_opt};

/// Pages written ahead of a slow reader.
const PAGES_AHEAD: usize = 2;

#[utoipa::path(
    get,
    path = "/admin/v1/tenants/{tenant_id}/export",
    tag = "Admin",
    summary = "Export a tenant's data (NDJSON)",
    description = "Admin token required. Streams every record the tenant owns, one JSON object per line with a `type`: `tenant`, then `sender_id`, `api_key` (no secret or hash), `smpp_account` (no password or hash), `contact` (with `groupIds`), `group`, `template`, `webhook` (no secret), `device` (no token, password, signing key or push token), `transaction`, `message` (each followed by its `recipient` lines, with `messageId` and `index`), `inbound`. Read a page at a time, so any size streams in bounded memory. Keep it before deleting the tenant. Errors before the first line are `{\"success\": false, \"error\", \"code\"}`; an error later cuts the stream short (the body then ends without its final chunk).",
    params(
        ("tenant_id" = String, Path, description = "The tenant's id"),
    ),
    responses(
        (status = 200, description = "The tenant's records, one JSON object per line", body = String, content_type = "application/x-ndjson"),
        (status = 404, description = "Not found", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn export_tenant(
    State(state): State<Arc<AppState>>,
    PathParam(tenant_id): PathParam<String>,
) -> Result<Response, ApiError> {
    let tenant: TenantId = tenant_id
        .parse()
        .map_err(|_| ApiError::not_found("tenant"))?;
    // The first page is read before answering, so an unknown tenant is a 404, not an empty
    // 200.
    let engine = state.engine.clone();
    let first = blocking(move || engine.export_page(tenant, None)).await?;
    let (pages, receiver) =
        tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(PAGES_AHEAD);
    let engine = state.engine.clone();
    tokio::spawn(async move {
        let mut page = first;
        loop {
            let (records, next) = page;
            if !records.is_empty() && pages.send(Ok(lines(records))).await.is_err() {
                // The client hung up.
                return;
            }
            let Some(cursor) = next else {
                return;
            };
            page = match read_page(&engine, tenant, cursor).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%tenant, error = %error.message, "a tenant export stopped");
                    let _ = pages.send(Err(std::io::Error::other(error.message))).await;
                    return;
                }
            };
        }
    });
    let body = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|page| (page, receiver))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{tenant}.ndjson\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

type Page = (Vec<ExportRecord>, Option<ExportCursor>);

async fn read_page(
    engine: &flit_engine::Engine,
    tenant: TenantId,
    cursor: ExportCursor,
) -> Result<Page, ApiError> {
    let engine = engine.clone();
    blocking(move || engine.export_page(tenant, Some(cursor))).await
}

/// One line: the record's fields after its `type` (so no record has a field of that name:
/// a transaction's own type is `transactionType`).
#[derive(Serialize)]
struct Line<T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    record: T,
}

/// A page of records as NDJSON.
fn lines(records: Vec<ExportRecord>) -> Bytes {
    let mut out = Vec::with_capacity(records.len() * 160);
    for record in records {
        let written = match record {
            ExportRecord::Tenant {
                record,
                suspension,
                balance,
            } => write(
                &mut out,
                "tenant",
                tenant_data_of(record, suspension, balance),
            ),
            ExportRecord::SenderId(sender) => {
                write(&mut out, "sender_id", SenderIdData::from(sender))
            }
            ExportRecord::ApiKey(key) => write(&mut out, "api_key", key_data(key, None)),
            ExportRecord::SmppAccount(account) => {
                write(&mut out, "smpp_account", SmppAccountData::from(account))
            }
            ExportRecord::User(user) => write(&mut out, "user", crate::users::UserData::from(user)),
            ExportRecord::Contact { record, groups } => write(
                &mut out,
                "contact",
                ContactLine::new(record, groups.iter().map(ToString::to_string).collect()),
            ),
            ExportRecord::Group(group) => write(&mut out, "group", GroupLine::from(group)),
            ExportRecord::Template(template) => {
                write(&mut out, "template", TemplateData::from(template))
            }
            ExportRecord::Webhook(webhook) => {
                write(&mut out, "webhook", WebhookData::new(webhook, false))
            }
            ExportRecord::Device(device) => write(&mut out, "device", DeviceLine::from(device)),
            ExportRecord::Transaction(transaction) => {
                write(&mut out, "transaction", TransactionLine::from(transaction))
            }
            ExportRecord::Message(message) => {
                write(&mut out, "message", MessageLine::from(message))
            }
            ExportRecord::Recipient {
                message,
                index,
                record,
            } => write(
                &mut out,
                "recipient",
                RecipientLine::new(message.to_string(), index, record),
            ),
            ExportRecord::Inbound(inbound) => {
                write(&mut out, "inbound", InboundLine::from(inbound))
            }
        };
        if let Err(error) = written {
            // Every line is plain data; a failure here is a bug worth seeing, not a reason to
            // cut the export.
            tracing::error!(%error, "an export line could not be written");
        }
    }
    Bytes::from(out)
}

fn write<T: Serialize>(
    out: &mut Vec<u8>,
    kind: &'static str,
    record: T,
) -> Result<(), serde_json::Error> {
    serde_json::to_writer(&mut *out, &Line { kind, record })?;
    out.push(b'\n');
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ContactLine {
    id: String,
    phone: String,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    group_ids: Vec<String>,
    created_at: String,
    updated_at: String,
    /// Set for a contact the tenant deleted (kept for its history).
    deleted_at: Option<String>,
}

impl ContactLine {
    fn new(contact: ContactRecord, group_ids: Vec<String>) -> ContactLine {
        ContactLine {
            id: contact.id.to_string(),
            phone: contact.phone.to_string(),
            first_name: contact.first_name,
            last_name: contact.last_name,
            email: contact.email,
            group_ids,
            created_at: iso(contact.created_at),
            updated_at: iso(contact.updated_at),
            deleted_at: iso_opt(contact.deleted_at),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupLine {
    id: String,
    name: String,
    created_at: String,
}

impl From<GroupRecord> for GroupLine {
    fn from(group: GroupRecord) -> Self {
        GroupLine {
            id: group.id.to_string(),
            name: group.name,
            created_at: iso(group.created_at),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceLine {
    id: String,
    name: String,
    sim_cards: Vec<SimLine>,
    limits: LimitsLine,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SimLine {
    slot_index: u8,
    sim_number: u8,
    phone_number: Option<String>,
    carrier_name: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LimitsLine {
    per_minute: u32,
    per_hour: u32,
    per_day: u32,
}

impl From<DeviceRecord> for DeviceLine {
    fn from(device: DeviceRecord) -> Self {
        DeviceLine {
            id: device.id.to_string(),
            name: device.name,
            sim_cards: device
                .sim_cards
                .into_iter()
                .map(|sim| SimLine {
                    slot_index: sim.slot_index,
                    sim_number: sim.sim_number,
                    phone_number: sim.phone_number,
                    carrier_name: sim.carrier_name,
                })
                .collect(),
            limits: LimitsLine {
                per_minute: device.limits.per_minute,
                per_hour: device.limits.per_hour,
                per_day: device.limits.per_day,
            },
            created_at: iso(device.created_at),
            updated_at: iso(device.updated_at),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TransactionLine {
    id: String,
    /// PURCHASE, USAGE, REFUND, BONUS or ADJUSTMENT.
    transaction_type: &'static str,
    amount: i64,
    balance: i64,
    description: String,
    reference: Option<String>,
    created_at: String,
}

impl From<TransactionRecord> for TransactionLine {
    fn from(transaction: TransactionRecord) -> Self {
        TransactionLine {
            id: transaction.id.to_string(),
            transaction_type: transaction.kind.as_str(),
            amount: transaction.amount,
            balance: transaction.balance,
            description: transaction.description,
            reference: transaction.reference,
            created_at: iso(transaction.created_at),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageLine {
    id: String,
    text: String,
    sender: String,
    campaign: Option<String>,
    status: &'static str,
    recipient_count: u32,
    pending: u32,
    sent: u32,
    delivered: u32,
    failed: u32,
    cancelled: u32,
    credits: i64,
    price_per_part: i64,
    scheduled_at: Option<String>,
    validity_until: Option<String>,
    sent_at: Option<String>,
    created_at: String,
}

impl From<MessageRecord> for MessageLine {
    fn from(message: MessageRecord) -> Self {
        let counts = message.counts;
        MessageLine {
            id: message.id.to_string(),
            text: message.text,
            sender: message.sender,
            campaign: message.campaign,
            status: counts.status().as_str(),
            recipient_count: message.recipient_count,
            pending: counts.pending,
            sent: counts.sent,
            delivered: counts.delivered,
            failed: counts.failed,
            cancelled: counts.cancelled,
            credits: message.credits,
            price_per_part: message.price_per_part,
            scheduled_at: iso_opt(message.scheduled_at),
            validity_until: iso_opt(message.validity_until),
            sent_at: iso_opt(message.sent_at),
            created_at: iso(message.created_at),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecipientLine {
    message_id: String,
    index: u32,
    phone: String,
    parts: u16,
    status: &'static str,
    attempts: u16,
    error: Option<String>,
    sent_at: Option<String>,
    done_at: Option<String>,
    /// The recipient's own text, when the send was personalised.
    text: Option<String>,
}

impl RecipientLine {
    fn new(message_id: String, index: u32, recipient: RecipientRecord) -> RecipientLine {
        RecipientLine {
            message_id,
            index,
            phone: recipient.msisdn.to_string(),
            parts: recipient.parts,
            status: recipient.status.as_str(),
            attempts: recipient.attempts,
            error: recipient.error,
            sent_at: iso_opt(recipient.sent_at),
            done_at: iso_opt(recipient.done_at),
            text: recipient.text,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InboundLine {
    id: String,
    from: String,
    to: String,
    text: String,
    parts: u8,
    bind_id: Option<String>,
    received_at: String,
}

impl From<InboundRecord> for InboundLine {
    fn from(inbound: InboundRecord) -> Self {
        InboundLine {
            id: inbound.id.to_string(),
            from: inbound.from,
            to: inbound.to,
            text: inbound.text,
            parts: inbound.parts,
            bind_id: inbound.bind.map(|bind| bind.to_string()),
            received_at: iso(inbound.received_at),
        }
    }
}
