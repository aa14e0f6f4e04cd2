//! Templates: the tenant's message templates, each shown with the placeholders it uses and its
//! encoding and parts as the engine's text analysis counts them (`flit_engine::text`);
//! created, edited and deleted through the engine's own calls.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use flit_engine::ids::{TemplateId, TenantId};
use flit_engine::text::{analyse, template::variables};
use flit_engine::{Engine, TemplateRecord};
use serde::Deserialize;

use crate::console::auth::{TenantViewer, Viewer};
use crate::console::form::Fields;
use crate::console::page::{
    Chrome, Problem, back, notice, problem, refusal, render, render_status, when,
};
use crate::state::AppState;

const HERE: &str = "/console/templates";

const NOTICES: &[(&str, &str)] = &[
    ("created", "Template created."),
    ("saved", "Template saved."),
    ("deleted", "Template deleted."),
];

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

pub struct Row {
    pub id: String,
    pub name: String,
    pub content: String,
    pub placeholders: String,
    pub analysis: String,
    pub updated: String,
}

/// `{{a}}, {{b}}` as the text uses them.
fn placeholders(content: &str) -> String {
    variables(content)
        .iter()
        .map(|name| format!("{{{{{name}}}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `GSM-7 · 42 characters · 1 part` (before its placeholders are filled).
fn analysis(content: &str) -> String {
    let info = analyse(content);
    format!(
        "{} · {} characters · {} part{}",
        info.encoding,
        info.length,
        info.parts,
        if info.parts == 1 { "" } else { "s" }
    )
}

fn row(template: TemplateRecord) -> Row {
    Row {
        id: template.id.to_string(),
        placeholders: placeholders(&template.content),
        analysis: analysis(&template.content),
        name: template.name,
        content: template.content,
        updated: when(template.updated_at),
    }
}

#[derive(Template)]
#[template(path = "console/templates.html")]
struct TemplatesPage {
    chrome: Chrome,
    notice: Option<String>,
    error: Option<String>,
    rows: Vec<Row>,
    /// The template being edited (its id), or `None` for a new one.
    editing: Option<String>,
    name: String,
    content: String,
}

fn templates_page(
    engine: &Engine,
    viewer: &Viewer,
    tenant: TenantId,
) -> Result<TemplatesPage, Problem> {
    Ok(TemplatesPage {
        chrome: Chrome::new(viewer, "Templates", HERE),
        notice: None,
        error: None,
        rows: engine.templates(tenant)?.into_iter().map(row).collect(),
        editing: None,
        name: String::new(),
        content: String::new(),
    })
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, Problem> {
    let mut page = templates_page(&state.engine, &viewer, tenant)?;
    page.notice = notice(query.notice.as_deref(), NOTICES).map(str::to_string);
    Ok(render(&page))
}

fn template_id(raw: &str) -> Result<TemplateId, Problem> {
    raw.parse()
        .map_err(|_| problem(StatusCode::NOT_FOUND, "No such template."))
}

/// The form to edit one template, above the list.
pub async fn edit(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let template = state
        .engine
        .template(tenant, template_id(&id)?)?
        .ok_or_else(|| problem(StatusCode::NOT_FOUND, "No such template."))?;
    let mut page = templates_page(&state.engine, &viewer, tenant)?;
    page.editing = Some(template.id.to_string());
    page.name = template.name;
    page.content = template.content;
    Ok(render(&page))
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields = Fields::checked(&viewer, &body)?;
    let name = fields.text("name");
    let content = fields.get("content").unwrap_or_default().to_string();
    match state.engine.create_template(tenant, &name, &content).await {
        Ok(_) => Ok(back(HERE, "created")),
        Err(error) => {
            let (status, message) = refusal(error);
            let mut page = templates_page(&state.engine, &viewer, tenant)?;
            page.error = Some(message);
            page.name = name;
            page.content = content;
            Ok(render_status(status, &page))
        }
    }
}

pub async fn update(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields = Fields::checked(&viewer, &body)?;
    let id = template_id(&id)?;
    let name = fields.text("name");
    let content = fields.get("content").unwrap_or_default().to_string();
    match state
        .engine
        .update_template(tenant, id, Some(&name), Some(&content))
        .await
    {
        Ok(_) => Ok(back(HERE, "saved")),
        Err(error) => {
            let (status, message) = refusal(error);
            if status == StatusCode::NOT_FOUND {
                return Err(problem(status, message));
            }
            let mut page = templates_page(&state.engine, &viewer, tenant)?;
            page.error = Some(message);
            page.editing = Some(id.to_string());
            page.name = name;
            page.content = content;
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
    state
        .engine
        .delete_template(tenant, template_id(&id)?)
        .await?;
    Ok(back(HERE, "deleted"))
}
