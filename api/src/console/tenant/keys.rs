//! API keys (admins only): the tenant's keys with their scopes, hint and state; a new key with
//! the scopes ticked, its secret shown on the answer page once (the store keeps only its hash,
//! so it can never be shown again); a key revoked. Another tenant's key is not found.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use flit_engine::ids::{ApiKeyId, TenantId};
use flit_engine::{Engine, Scope, Scopes};
use serde::Deserialize;

use crate::console::auth::{AdminViewer, Viewer};
use crate::console::form::Fields;
use crate::console::page::{
    Checkbox, Chrome, Problem, back, checkboxes, notice, problem, refusal, render, render_status,
    when,
};
use crate::state::AppState;

const HERE: &str = "/console/keys";
/// A key's name is a label for people; this keeps the list readable.
const MAX_KEY_NAME_CHARS: usize = 100;

const NOTICES: &[(&str, &str)] = &[("revoked", "Key revoked: it no longer works.")];

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

pub struct Row {
    pub id: String,
    pub name: String,
    pub scopes: String,
    pub hint: String,
    pub created: String,
    pub revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct KeysPage {
    chrome: Chrome,
    notice: Option<String>,
    error: Option<String>,
    rows: Vec<Row>,
    scopes: Vec<Checkbox>,
    name: String,
}

fn keys_page(
    engine: &Engine,
    viewer: &Viewer,
    tenant: TenantId,
    ticked: Option<&[String]>,
) -> Result<KeysPage, Problem> {
    let mut keys = engine.api_keys(tenant)?;
    keys.sort_by_key(|key| std::cmp::Reverse(key.created_at));
    Ok(KeysPage {
        chrome: Chrome::new(viewer, "API keys", HERE),
        notice: None,
        error: None,
        rows: keys
            .into_iter()
            .map(|key| Row {
                id: key.id.to_string(),
                name: key.name,
                scopes: key
                    .scopes
                    .iter()
                    .map(Scope::as_str)
                    .collect::<Vec<_>>()
                    .join(" "),
                hint: key.hint,
                created: when(key.created_at),
                revoked: key.revoked_at.map(when),
            })
            .collect(),
        scopes: checkboxes(Scope::ALL.iter().map(|scope| scope.as_str()), ticked),
        name: String::new(),
    })
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    AdminViewer(viewer, tenant): AdminViewer,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, Problem> {
    let mut page = keys_page(&state.engine, &viewer, tenant, None)?;
    page.notice = notice(query.notice.as_deref(), NOTICES).map(str::to_string);
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "console/key_created.html")]
struct KeyCreatedPage {
    chrome: Chrome,
    name: String,
    scopes: String,
    secret: String,
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    AdminViewer(viewer, tenant): AdminViewer,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields = Fields::checked(&viewer, &body)?;
    let name = fields.text("name");
    let ticked = fields.all("scope");
    let refuse = |status: StatusCode, message: String| -> Result<Response, Problem> {
        let mut page = keys_page(&state.engine, &viewer, tenant, Some(&ticked))?;
        page.error = Some(message);
        page.name = name.clone();
        Ok(render_status(status, &page))
    };
    if name.is_empty() || name.chars().count() > MAX_KEY_NAME_CHARS {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Give the key a name of at most {MAX_KEY_NAME_CHARS} characters."),
        );
    }
    let scopes = match Scopes::parse(ticked.iter().map(String::as_str)) {
        Ok(scopes) if scopes.iter().next().is_some() => scopes,
        Ok(_) => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Tick at least one scope.".to_string(),
            );
        }
        Err(error) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, error.to_string()),
    };
    match state
        .engine
        .create_api_key(tenant, name.clone(), scopes)
        .await
    {
        Ok((key, secret)) => Ok(render(&KeyCreatedPage {
            chrome: Chrome::new(&viewer, "New API key", HERE),
            name: key.name,
            scopes: key
                .scopes
                .iter()
                .map(Scope::as_str)
                .collect::<Vec<_>>()
                .join(" "),
            secret,
        })),
        Err(error) => {
            let (status, message) = refusal(error);
            refuse(status, message)
        }
    }
}

pub async fn revoke(
    State(state): State<Arc<AppState>>,
    AdminViewer(viewer, tenant): AdminViewer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    Fields::checked(&viewer, &body)?;
    let id: ApiKeyId = id
        .parse()
        .map_err(|_| problem(StatusCode::NOT_FOUND, "No such key."))?;
    state.engine.revoke_api_key(tenant, id).await?;
    Ok(back(HERE, "revoked"))
}
