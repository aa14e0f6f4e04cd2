//! The send page: numbers, groups, all contacts, a template and its variables or a text, the
//! sender, a schedule. While the person types, the script posts the form to `estimate`, which
//! answers the encoding, parts and cost by the engine's own rules (`Engine::estimate_send`,
//! the send's real cost with every group and template resolved). The send itself goes through
//! `Engine::send` with an idempotency key the form carries, so a double click sends once.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use flit_engine::ids::{ContactId, GroupId, TemplateId, TenantId};
use flit_engine::{
    ContactFilter, Content, Engine, EngineError, IdempotencyClaim, Invalid, PageRequest,
    SendRequest,
};

/// Contacts the send page lists to pick from.
const CONTACTS_SHOWN: u32 = 200;

use crate::console::auth::TenantViewer;
use crate::console::form::Fields;
use crate::console::page::{Chrome, Problem, render, thousands, when};
use crate::state::AppState;

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "console/send.html")]
struct SendPage {
    chrome: Chrome,
    error: Option<String>,
    numbers: String,
    message: String,
    variables: String,
    campaign: String,
    schedule: String,
    all_contacts: bool,
    groups: Vec<Choice>,
    /// The first contacts of the book, to pick one by one (groups reach the rest).
    contacts: Vec<Choice>,
    more_contacts: bool,
    templates: Vec<Choice>,
    senders: Vec<Choice>,
    /// A fresh key per form: the send it makes happens once however often it is posted.
    nonce: String,
}

#[derive(Template)]
#[template(path = "console/sent.html")]
struct SentPage {
    chrome: Chrome,
    message_id: String,
    recipients: u32,
    credits: String,
    remaining: String,
    scheduled: Option<String>,
    invalid: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/estimate.html")]
struct EstimateFragment {
    encoding: String,
    characters: usize,
    parts: usize,
    recipients: u64,
    cost: String,
    balance: String,
    affordable: bool,
    error: Option<String>,
}

fn form_page(
    engine: &Engine,
    chrome: Chrome,
    tenant: TenantId,
    fields: Option<&Fields>,
    error: Option<String>,
) -> Result<SendPage, Problem> {
    let text = |name: &str| fields.map(|f| f.text(name)).unwrap_or_default();
    let ticked: Vec<String> = fields.map(|f| f.all("group")).unwrap_or_default();
    let picked: Vec<String> = fields.map(|f| f.all("contact")).unwrap_or_default();
    let book = engine.contacts(
        tenant,
        ContactFilter::default(),
        PageRequest {
            page: 1,
            limit: CONTACTS_SHOWN,
        },
    )?;
    let chosen_template = text("template");
    let chosen_sender = text("sender");
    Ok(SendPage {
        chrome,
        error,
        numbers: text("numbers"),
        message: fields
            .map(|f| f.get("message").unwrap_or_default().to_string())
            .unwrap_or_default(),
        variables: text("variables"),
        campaign: text("campaign"),
        schedule: text("schedule"),
        all_contacts: fields.is_some_and(|f| f.checked_box("all_contacts")),
        groups: engine
            .groups(tenant)?
            .into_iter()
            .map(|summary| Choice {
                selected: ticked.contains(&summary.group.id.to_string()),
                value: summary.group.id.to_string(),
                label: format!("{} ({})", summary.group.name, summary.contact_count),
            })
            .collect(),
        more_contacts: book.total > u64::from(CONTACTS_SHOWN),
        contacts: book
            .items
            .into_iter()
            .map(|contact| {
                let record = contact.record;
                let name = [record.first_name.as_deref(), record.last_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                Choice {
                    selected: picked.contains(&record.id.to_string()),
                    value: record.id.to_string(),
                    label: if name.is_empty() {
                        record.phone.to_string()
                    } else {
                        format!("{name} ({})", record.phone)
                    },
                }
            })
            .collect(),
        templates: engine
            .templates(tenant)?
            .into_iter()
            .map(|template| Choice {
                selected: chosen_template == template.id.to_string(),
                value: template.id.to_string(),
                label: template.name,
            })
            .collect(),
        senders: engine
            .approved_sender_ids(tenant)?
            .into_iter()
            .map(|sender| Choice {
                selected: chosen_sender == sender.name,
                value: sender.name.clone(),
                label: sender.name,
            })
            .collect(),
        nonce: flit_engine::secrets::generate_secret(""),
    })
}

pub async fn page(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
) -> Result<Response, Problem> {
    let chrome = Chrome::new(&viewer, "Send", "/console/send");
    Ok(render(&form_page(
        &state.engine,
        chrome,
        tenant,
        None,
        None,
    )?))
}

/// `+233…, 024…` one per line or comma: the numbers as written.
fn numbers_of(text: &str) -> Vec<String> {
    text.split(['\n', ',', ';'])
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

/// `name=value` one per line.
fn variables_of(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .filter(|(name, _)| !name.is_empty())
        .collect()
}

/// A `datetime-local` value, read as UTC.
fn schedule_of(text: &str) -> Result<Option<i64>, Problem> {
    if text.is_empty() {
        return Ok(None);
    }
    let raw = if text.len() == 16 {
        format!("{text}:00")
    } else {
        text.to_string()
    };
    crate::timefmt::parse_instant("schedule", &raw, crate::timefmt::DayEnd::Start)
        .map(Some)
        .map_err(|error| crate::console::page::problem(error.status, error.message))
}

fn request_of(fields: &Fields) -> Result<SendRequest, Problem> {
    let template = fields.text("template");
    let content = if template.is_empty() {
        Content::Text(fields.get("message").unwrap_or_default().to_string())
    } else {
        Content::Template(template.parse::<TemplateId>().map_err(|_| {
            crate::console::page::problem(axum::http::StatusCode::BAD_REQUEST, "No such template.")
        })?)
    };
    let sender = fields.text("sender");
    let campaign = fields.text("campaign");
    Ok(SendRequest {
        recipients: numbers_of(fields.get("numbers").unwrap_or_default()),
        group_ids: fields
            .all("group")
            .iter()
            .filter_map(|id| id.parse::<GroupId>().ok())
            .collect(),
        contact_ids: fields
            .all("contact")
            .iter()
            .filter_map(|id| id.parse::<ContactId>().ok())
            .collect(),
        all_contacts: fields.checked_box("all_contacts"),
        content,
        variables: variables_of(fields.get("variables").unwrap_or_default()),
        sender: (!sender.is_empty()).then_some(sender),
        campaign: (!campaign.is_empty()).then_some(campaign),
        schedule_at: schedule_of(&fields.text("schedule"))?,
        ..SendRequest::default()
    })
}

pub async fn estimate(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields = Fields::checked(&viewer, &body)?;
    let mut request = request_of(&fields)?;
    request.schedule_at = None;
    let answer = match state.engine.estimate_send(tenant, request).await {
        Ok(estimate) => Ok((
            estimate.text,
            estimate.recipient_count,
            estimate.credits_required,
            estimate.can_afford,
        )),
        // No recipient yet: the text's own figures, for one.
        Err(EngineError::Invalid(Invalid::NoRecipients)) if fields.text("template").is_empty() => {
            state
                .engine
                .estimate(tenant, fields.get("message").unwrap_or_default(), 1)
                .map(|estimate| {
                    (
                        estimate.text,
                        0,
                        estimate.credits_required,
                        estimate.can_afford,
                    )
                })
        }
        Err(error) => Err(error),
    };
    let balance = thousands(state.engine.balance(tenant)?);
    let fragment = match answer {
        Ok((text, recipients, cost, affordable)) => EstimateFragment {
            encoding: text.encoding.to_string(),
            characters: text.length,
            parts: text.parts,
            recipients,
            cost: thousands(cost),
            balance,
            affordable,
            error: None,
        },
        Err(error) => EstimateFragment {
            encoding: String::new(),
            characters: 0,
            parts: 0,
            recipients: 0,
            cost: String::new(),
            balance,
            affordable: true,
            error: Some(crate::error::ApiError::from(error).message),
        },
    };
    Ok(match fragment.render() {
        Ok(html) => Html(html).into_response(),
        Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    })
}

pub async fn submit(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields = Fields::checked(&viewer, &body)?;
    let chrome = Chrome::new(&viewer, "Send", "/console/send");
    let mut request = request_of(&fields)?;
    let nonce = fields.text("nonce");
    if !nonce.is_empty() {
        request.idempotency = Some(IdempotencyClaim {
            key_hash: flit_engine::secrets::sha256(
                format!("console:{}:{nonce}", viewer.user.id).as_bytes(),
            ),
            fingerprint: flit_engine::secrets::sha256(&body),
        });
    }
    match state.engine.send(tenant, request).await {
        Ok(outcome) => Ok(render(&SentPage {
            chrome: Chrome::new(&viewer, "Sent", "/console/send"),
            message_id: outcome.message_id.to_string(),
            recipients: outcome.recipients_sent,
            credits: thousands(outcome.credits_used),
            remaining: thousands(outcome.remaining_credits),
            scheduled: outcome.scheduled_at.map(when),
            invalid: outcome.invalid_recipients,
        })),
        Err(error) => {
            let message = crate::error::ApiError::from(error).message;
            let mut page = render(&form_page(
                &state.engine,
                chrome,
                tenant,
                Some(&fields),
                Some(message),
            )?);
            *page.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(page)
        }
    }
}
