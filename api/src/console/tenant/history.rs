//! History: the tenant's messages newest first, filtered by status and dates, a page at a
//! time; and one message's per-recipient report, which reloads itself every two seconds while
//! any recipient is still pending or sent (no script needed).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use flit_engine::ids::MessageId;
use flit_engine::{MessageFilter, MessageStatus, PageRequest};
use serde::Deserialize;

use crate::console::auth::TenantViewer;
use crate::console::page::{Chrome, Problem, problem, render, thousands, when};
use crate::state::AppState;
use crate::timefmt::{DayEnd, parse_instant};

const PAGE: u32 = 25;
const REPORT_PAGE: u32 = 200;

#[derive(Deserialize)]
pub struct Filters {
    status: Option<String>,
    from: Option<String>,
    until: Option<String>,
    page: Option<u32>,
}

pub struct Row {
    pub id: String,
    pub created: String,
    pub status: &'static str,
    pub text: String,
    pub recipients: u32,
    pub credits: String,
}

#[derive(Template)]
#[template(path = "console/history.html")]
struct HistoryPage {
    chrome: Chrome,
    rows: Vec<Row>,
    statuses: Vec<(&'static str, bool)>,
    from: String,
    until: String,
    page: u32,
    pages: u64,
    total: u64,
    query: String,
}

fn date(name: &str, raw: &Option<String>, end: DayEnd) -> Result<Option<i64>, Problem> {
    match raw.as_deref().map(str::trim).filter(|raw| !raw.is_empty()) {
        None => Ok(None),
        Some(raw) => parse_instant(name, raw, end)
            .map(Some)
            .map_err(|error| problem(error.status, error.message)),
    }
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    Query(filters): Query<Filters>,
) -> Result<Response, Problem> {
    let status = filters
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<MessageStatus>()
                .map_err(|()| problem(StatusCode::BAD_REQUEST, "No such status."))
        })
        .transpose()?;
    let filter = MessageFilter {
        status,
        from: date("from", &filters.from, DayEnd::Start)?,
        until: date("until", &filters.until, DayEnd::End)?,
    };
    let page = filters.page.unwrap_or(1).max(1);
    let paged = state
        .engine
        .messages(tenant, filter, PageRequest { page, limit: PAGE })?;
    let rows = paged
        .items
        .into_iter()
        .map(|message| Row {
            id: message.id.to_string(),
            created: when(message.created_at),
            status: message.counts.status().as_str(),
            text: message.text.chars().take(80).collect(),
            recipients: message.recipient_count,
            credits: thousands(message.credits),
        })
        .collect();
    let chosen = status.map(MessageStatus::as_str);
    let query = format!(
        "status={}&from={}&until={}",
        chosen.unwrap_or(""),
        crate::console::auth::url_escape(filters.from.as_deref().unwrap_or("")),
        crate::console::auth::url_escape(filters.until.as_deref().unwrap_or(""))
    );
    Ok(render(&HistoryPage {
        chrome: Chrome::new(&viewer, "History", "/console/history"),
        rows,
        statuses: MessageStatus::ALL
            .iter()
            .map(|s| (s.as_str(), Some(s.as_str()) == chosen))
            .collect(),
        from: filters.from.unwrap_or_default(),
        until: filters.until.unwrap_or_default(),
        page,
        pages: paged.total.div_ceil(u64::from(PAGE)).max(1),
        total: paged.total,
        query,
    }))
}

pub struct RecipientRow {
    pub phone: String,
    /// Its own text, when the send was personalised.
    pub text: String,
    pub status: &'static str,
    pub parts: u16,
    pub sent: String,
    pub done: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "console/report.html")]
struct ReportPage {
    chrome: Chrome,
    id: String,
    status: &'static str,
    text: String,
    sender: String,
    created: String,
    scheduled: Option<String>,
    credits: String,
    delivered: u32,
    failed: u32,
    pending: u32,
    total: u32,
    settled: bool,
    rows: Vec<RecipientRow>,
}

pub async fn report(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    Path(message_id): Path<String>,
) -> Result<Response, Problem> {
    let not_found = || problem(StatusCode::NOT_FOUND, "No such message.");
    let id: MessageId = message_id.parse().map_err(|_| not_found())?;
    let (message, recipients) = state
        .engine
        .recipients_page(
            tenant,
            id,
            PageRequest {
                page: 1,
                limit: REPORT_PAGE,
            },
        )?
        .ok_or_else(not_found)?;
    let counts = message.counts;
    let status = counts.status();
    Ok(render(&ReportPage {
        chrome: Chrome::new(&viewer, "Message", "/console/history"),
        id: message.id.to_string(),
        status: status.as_str(),
        text: message.text,
        sender: message.sender,
        created: when(message.created_at),
        scheduled: message.scheduled_at.map(when),
        credits: thousands(message.credits),
        delivered: counts.delivered,
        failed: counts.failed,
        pending: counts.pending + counts.sent,
        total: message.recipient_count,
        settled: counts.pending == 0 && counts.sent == 0,
        rows: recipients
            .into_iter()
            .map(|recipient| RecipientRow {
                phone: recipient.msisdn.to_string(),
                text: recipient.text.unwrap_or_default(),
                status: recipient.status.as_str(),
                parts: recipient.parts,
                sent: recipient.sent_at.map(when).unwrap_or_default(),
                done: recipient.done_at.map(when).unwrap_or_default(),
                error: recipient.error.unwrap_or_default(),
            })
            .collect(),
    }))
}
