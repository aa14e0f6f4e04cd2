//! Contacts: the tenant's address book searched by name or phone a page at a time, one added
//! or deleted, and a CSV import in two steps. The file (uploaded, or pasted) is first shown as
//! a preview, every row judged by the engine's own import checks (`Engine::preview_import`):
//! the rows it would add, the invalid ones and why, and the duplicates. The confirm form
//! carries the CSV text itself back (with the session's CSRF token, like any form), so nothing
//! is kept between the steps and the import checks every row again.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use flit_engine::ids::ContactId;
use flit_engine::{ContactFilter, Engine, ImportRowVerdict, NewContact, PageRequest};
use serde::Deserialize;

use crate::console::auth::{TenantViewer, Viewer, url_escape};
use crate::console::form::{Fields, File};
use crate::console::page::{
    Chrome, Problem, back, notice, pages, problem, refusal, render, render_status, when,
};
use crate::console::upload::csv_contacts;
use crate::state::AppState;

const PAGE: u32 = 25;
const HERE: &str = "/console/contacts";

const NOTICES: &[(&str, &str)] = &[("added", "Contact added."), ("deleted", "Contact deleted.")];

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    page: Option<u32>,
    notice: Option<String>,
}

pub struct Row {
    pub id: String,
    pub name: String,
    pub phone: String,
    pub email: String,
    pub groups: String,
    pub created: String,
}

/// What the add form held, to show it again with its problem.
#[derive(Default)]
pub struct NewForm {
    pub phone: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
}

#[derive(Template)]
#[template(path = "console/contacts.html")]
struct ContactsPage {
    chrome: Chrome,
    notice: Option<String>,
    error: Option<String>,
    search: String,
    search_query: String,
    rows: Vec<Row>,
    total: u64,
    page: u32,
    pages: u64,
    new: NewForm,
}

fn list_page(
    engine: &Engine,
    viewer: &Viewer,
    tenant: flit_engine::ids::TenantId,
    search: String,
    page: u32,
) -> Result<ContactsPage, Problem> {
    let filter = ContactFilter {
        search: (!search.is_empty()).then(|| search.clone()),
        group: None,
    };
    let paged = engine.contacts(tenant, filter, PageRequest { page, limit: PAGE })?;
    Ok(ContactsPage {
        chrome: Chrome::new(viewer, "Contacts", HERE),
        notice: None,
        error: None,
        search_query: url_escape(&search),
        search,
        rows: paged
            .items
            .into_iter()
            .map(|contact| {
                let record = contact.record;
                Row {
                    id: record.id.to_string(),
                    name: full_name(record.first_name.as_deref(), record.last_name.as_deref()),
                    phone: record.phone.to_string(),
                    email: record.email.unwrap_or_default(),
                    groups: contact
                        .groups
                        .into_iter()
                        .map(|group| group.name)
                        .collect::<Vec<_>>()
                        .join(", "),
                    created: when(record.created_at),
                }
            })
            .collect(),
        total: paged.total,
        page,
        pages: pages(paged.total, PAGE),
        new: NewForm::default(),
    })
}

fn full_name(first: Option<&str>, last: Option<&str>) -> String {
    [first, last]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    Query(query): Query<ListQuery>,
) -> Result<Response, Problem> {
    let search = query.q.unwrap_or_default().trim().to_string();
    let mut page = list_page(
        &state.engine,
        &viewer,
        tenant,
        search,
        query.page.unwrap_or(1).max(1),
    )?;
    page.notice = notice(query.notice.as_deref(), NOTICES).map(str::to_string);
    Ok(render(&page))
}

fn optional(fields: &Fields, name: &str) -> Option<String> {
    Some(fields.text(name)).filter(|value| !value.is_empty())
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields = Fields::checked(&viewer, &body)?;
    let new = NewContact {
        phone: fields.text("phone"),
        first_name: optional(&fields, "first_name"),
        last_name: optional(&fields, "last_name"),
        email: optional(&fields, "email"),
    };
    match state.engine.create_contact(tenant, new, None).await {
        Ok(_) => Ok(back(HERE, "added")),
        Err(error) => {
            let (status, message) = refusal(error);
            let mut page = list_page(&state.engine, &viewer, tenant, String::new(), 1)?;
            page.error = Some(message);
            page.new = NewForm {
                phone: fields.text("phone"),
                first_name: fields.text("first_name"),
                last_name: fields.text("last_name"),
                email: fields.text("email"),
            };
            Ok(render_status(status, &page))
        }
    }
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    Fields::checked(&viewer, &body)?;
    let id: ContactId = id
        .parse()
        .map_err(|_| problem(StatusCode::NOT_FOUND, "No such contact."))?;
    state.engine.delete_contact(tenant, id).await?;
    Ok(back(HERE, "deleted"))
}

/// A row of the preview.
pub struct PreviewRow {
    pub line: usize,
    pub phone: String,
    pub name: String,
    pub email: String,
    /// Why it is left out (invalid or duplicate rows).
    pub why: String,
}

#[derive(Template)]
#[template(path = "console/contacts_import.html")]
struct ImportPreviewPage {
    chrome: Chrome,
    valid: Vec<PreviewRow>,
    invalid: Vec<PreviewRow>,
    duplicates: Vec<PreviewRow>,
    /// The CSV text, posted again by the confirm form.
    csv: String,
}

/// The CSV a form carried: the file chosen, else the text pasted.
fn csv_text(fields: &Fields, files: Vec<File>) -> Result<String, Problem> {
    let file = files
        .into_iter()
        .find(|file| file.field == "file" && !file.bytes.is_empty());
    let text = match file {
        Some(file) => String::from_utf8(file.bytes).map_err(|_| {
            problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The file is not UTF-8 text: save it from your spreadsheet as \"CSV UTF-8\".",
            )
        })?,
        None => fields.get("csv").unwrap_or_default().to_string(),
    };
    if text.trim().is_empty() {
        return Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose a CSV file, or paste its text.",
        ));
    }
    Ok(text)
}

pub async fn preview(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let (fields, files) = Fields::checked_upload(&viewer, &headers, &body)?;
    let csv = csv_text(&fields, files)?;
    let rows = csv_contacts(&csv).map_err(|why| problem(StatusCode::UNPROCESSABLE_ENTITY, why))?;
    let verdicts = state
        .engine
        .preview_import(tenant, rows.iter().map(|row| row.contact.clone()).collect())
        .await?;
    let (mut valid, mut invalid, mut duplicates) = (Vec::new(), Vec::new(), Vec::new());
    for (row, verdict) in rows.iter().zip(verdicts) {
        let contact = &row.contact;
        let shown = |phone: String, why: String| PreviewRow {
            line: row.line,
            phone,
            name: full_name(contact.first_name.as_deref(), contact.last_name.as_deref()),
            email: contact.email.clone().unwrap_or_default(),
            why,
        };
        match verdict {
            ImportRowVerdict::New(phone) => valid.push(shown(phone.to_string(), String::new())),
            ImportRowVerdict::Invalid(error) => {
                invalid.push(shown(contact.phone.clone(), refusal(error).1))
            }
            ImportRowVerdict::Existing(phone) => {
                duplicates.push(shown(phone.to_string(), "Already a contact".to_string()))
            }
            ImportRowVerdict::Repeat { phone, first } => duplicates.push(shown(
                phone.to_string(),
                format!("Repeats line {}", rows[first].line),
            )),
        }
    }
    Ok(render(&ImportPreviewPage {
        chrome: Chrome::new(&viewer, "Import contacts", HERE),
        valid,
        invalid,
        duplicates,
        csv,
    }))
}

pub async fn confirm(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields = Fields::checked(&viewer, &body)?;
    let csv = csv_text(&fields, Vec::new())?;
    let rows = csv_contacts(&csv).map_err(|why| problem(StatusCode::UNPROCESSABLE_ENTITY, why))?;
    let outcome = state
        .engine
        .import_contacts(
            tenant,
            rows.into_iter().map(|row| row.contact).collect(),
            None,
        )
        .await?;
    let mut page = list_page(&state.engine, &viewer, tenant, String::new(), 1)?;
    page.notice = Some(format!(
        "Imported {} new contact{}; {} duplicate{} skipped, {} invalid row{} left out.",
        outcome.created,
        if outcome.created == 1 { "" } else { "s" },
        outcome.skipped,
        if outcome.skipped == 1 { "" } else { "s" },
        outcome.invalid,
        if outcome.invalid == 1 { "" } else { "s" },
    ));
    Ok(render(&page))
}
