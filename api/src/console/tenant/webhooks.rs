//! Webhooks (admins only): the tenant's endpoints and their events; one created (the engine
//! checks the URL as the API does) or deleted; its secret rotated, the new one shown once on
//! the answer page (the old one still signs for the grace period); and one endpoint's
//! deliveries, newest first, each attempt with its status, time and answer, and a button to
//! send a finished delivery again. Another tenant's webhook is not found.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use flit_engine::ids::{DeliveryId, TenantId, WebhookId};
use flit_engine::{DeliveryState, Engine, EventData, EventKind, PageRequest};
use serde::Deserialize;

use crate::console::auth::{AdminViewer, Viewer};
use crate::console::form::Fields;
use crate::console::page::{
    Checkbox, Chrome, Problem, back, checkboxes, notice, pages, problem, refusal, render,
    render_status, when,
};
use crate::state::AppState;

const HERE: &str = "/console/webhooks";
const PAGE: u32 = 20;

const NOTICES: &[(&str, &str)] = &[
    ("deleted", "Webhook deleted."),
    ("redelivered", "Delivery queued again: it is sent now."),
];

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
    page: Option<u32>,
}

pub struct Row {
    pub id: String,
    pub url: String,
    pub events: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "console/webhooks.html")]
struct WebhooksPage {
    chrome: Chrome,
    notice: Option<String>,
    error: Option<String>,
    rows: Vec<Row>,
    events: Vec<Checkbox>,
    url: String,
}

fn events_of(kinds: flit_engine::EventKinds) -> String {
    kinds
        .iter()
        .map(EventKind::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

fn webhooks_page(
    engine: &Engine,
    viewer: &Viewer,
    tenant: TenantId,
    ticked: Option<&[String]>,
) -> Result<WebhooksPage, Problem> {
    Ok(WebhooksPage {
        chrome: Chrome::new(viewer, "Webhooks", HERE),
        notice: None,
        error: None,
        rows: engine
            .webhooks(tenant)?
            .into_iter()
            .map(|webhook| Row {
                id: webhook.id.to_string(),
                url: webhook.url,
                events: events_of(webhook.events),
                created: when(webhook.created_at),
            })
            .collect(),
        events: checkboxes(EventKind::ALL.iter().map(|kind| kind.as_str()), ticked),
        url: String::new(),
    })
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    AdminViewer(viewer, tenant): AdminViewer,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, Problem> {
    let mut page = webhooks_page(&state.engine, &viewer, tenant, None)?;
    page.notice = notice(query.notice.as_deref(), NOTICES).map(str::to_string);
    Ok(render(&page))
}

/// The answer to a create or a rotation: the secret, this once.
#[derive(Template)]
#[template(path = "console/webhook_secret.html")]
struct SecretPage {
    chrome: Chrome,
    id: String,
    url: String,
    rotated: bool,
    secret: String,
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    AdminViewer(viewer, tenant): AdminViewer,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields = Fields::checked(&viewer, &body)?;
    let url = fields.text("url");
    let events = fields.all("event");
    match state.engine.create_webhook(tenant, &url, &events).await {
        Ok(webhook) => Ok(render(&SecretPage {
            chrome: Chrome::new(&viewer, "New webhook", HERE),
            id: webhook.id.to_string(),
            url: webhook.url,
            rotated: false,
            secret: webhook.secret,
        })),
        Err(error) => {
            let (status, message) = refusal(error);
            let mut page = webhooks_page(&state.engine, &viewer, tenant, Some(&events))?;
            page.error = Some(message);
            page.url = url;
            Ok(render_status(status, &page))
        }
    }
}

fn webhook_id(raw: &str) -> Result<WebhookId, Problem> {
    raw.parse()
        .map_err(|_| problem(StatusCode::NOT_FOUND, "No such webhook."))
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    AdminViewer(viewer, tenant): AdminViewer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    Fields::checked(&viewer, &body)?;
    state
        .engine
        .delete_webhook(tenant, webhook_id(&id)?)
        .await?;
    Ok(back(HERE, "deleted"))
}

pub async fn rotate(
    State(state): State<Arc<AppState>>,
    AdminViewer(viewer, tenant): AdminViewer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    Fields::checked(&viewer, &body)?;
    let webhook = state
        .engine
        .rotate_webhook_secret(tenant, webhook_id(&id)?)
        .await?;
    Ok(render(&SecretPage {
        chrome: Chrome::new(&viewer, "New webhook secret", HERE),
        id: webhook.id.to_string(),
        url: webhook.url,
        rotated: true,
        secret: webhook.secret,
    }))
}

pub struct AttemptRow {
    pub at: String,
    pub status: String,
    pub latency: u32,
    pub answer: String,
}

pub struct DeliveryRow {
    pub id: String,
    pub event: &'static str,
    pub about: String,
    pub created: String,
    pub state: &'static str,
    pub next: String,
    pub attempts: Vec<AttemptRow>,
    /// Delivered or given up: it may be sent again.
    pub finished: bool,
}

#[derive(Template)]
#[template(path = "console/webhook.html")]
struct DeliveriesPage {
    chrome: Chrome,
    notice: Option<String>,
    id: String,
    url: String,
    events: String,
    rows: Vec<DeliveryRow>,
    total: u64,
    page: u32,
    pages: u64,
}

/// What an event is about, in a few words.
fn about(data: &EventData) -> String {
    match data {
        EventData::Message {
            message,
            recipient,
            status,
            ..
        } => match recipient {
            Some(recipient) => format!("{message} to {recipient}: {}", status.as_str()),
            None => format!("{message}: {}", status.as_str()),
        },
        EventData::Received(sms) => format!("from {}", sms.from),
    }
}

pub async fn deliveries(
    State(state): State<Arc<AppState>>,
    AdminViewer(viewer, tenant): AdminViewer,
    Path(id): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, Problem> {
    let id = webhook_id(&id)?;
    let webhook = state.engine.webhook(tenant, id)?;
    let page = query.page.unwrap_or(1).max(1);
    let paged =
        state
            .engine
            .webhook_deliveries(tenant, id, None, PageRequest { page, limit: PAGE })?;
    Ok(render(&DeliveriesPage {
        chrome: Chrome::new(&viewer, "Webhook deliveries", HERE),
        notice: notice(query.notice.as_deref(), NOTICES).map(str::to_string),
        id: id.to_string(),
        url: webhook.url,
        events: events_of(webhook.events),
        rows: paged
            .items
            .into_iter()
            .map(|delivery| DeliveryRow {
                id: delivery.id.to_string(),
                event: delivery.event.kind.as_str(),
                about: about(&delivery.event.data),
                created: when(delivery.event.created_at),
                state: delivery.state.as_str(),
                next: delivery
                    .next_attempt_at
                    .filter(|_| delivery.state == DeliveryState::Pending)
                    .map(when)
                    .unwrap_or_default(),
                finished: delivery.state != DeliveryState::Pending,
                attempts: delivery
                    .attempts
                    .into_iter()
                    .rev()
                    .map(|attempt| AttemptRow {
                        at: when(attempt.at),
                        status: attempt
                            .status
                            .map_or_else(|| "no answer".to_string(), |s| s.to_string()),
                        latency: attempt.latency_ms,
                        answer: attempt.error.unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect(),
        total: paged.total,
        page,
        pages: pages(paged.total, PAGE),
    }))
}

pub async fn redeliver(
    State(state): State<Arc<AppState>>,
    AdminViewer(viewer, tenant): AdminViewer,
    Path((id, delivery)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Problem> {
    Fields::checked(&viewer, &body)?;
    let id = webhook_id(&id)?;
    let delivery: DeliveryId = delivery
        .parse()
        .map_err(|_| problem(StatusCode::NOT_FOUND, "No such delivery."))?;
    state.engine.redeliver(tenant, id, delivery).await?;
    Ok(back(&format!("{HERE}/{id}"), "redelivered"))
}
