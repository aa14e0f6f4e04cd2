//! Groups: the tenant's groups with their member counts, created and deleted; and one group's
//! members, added by phone number or contact id and removed. Another tenant's group is not
//! found (the engine looks ids up within the tenant).

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use flit_engine::ids::{ContactId, GroupId, TenantId};
use flit_engine::{ContactFilter, Engine, MembershipChange, PageRequest};
use serde::Deserialize;

use crate::console::auth::{TenantViewer, Viewer};
use crate::console::form::Fields;
use crate::console::page::{
    Chrome, Problem, back, notice, pages, problem, refusal, render, render_status, when,
};
use crate::state::AppState;

const HERE: &str = "/console/groups";
const PAGE: u32 = 50;

const NOTICES: &[(&str, &str)] = &[
    ("created", "Group created."),
    ("deleted", "Group deleted."),
    ("added", "Members added."),
    ("removed", "Member removed."),
];

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
    page: Option<u32>,
}

pub struct GroupRow {
    pub id: String,
    pub name: String,
    pub members: u64,
    pub created: String,
}

#[derive(Template)]
#[template(path = "console/groups.html")]
struct GroupsPage {
    chrome: Chrome,
    notice: Option<String>,
    error: Option<String>,
    rows: Vec<GroupRow>,
    name: String,
}

fn groups_page(engine: &Engine, viewer: &Viewer, tenant: TenantId) -> Result<GroupsPage, Problem> {
    Ok(GroupsPage {
        chrome: Chrome::new(viewer, "Groups", HERE),
        notice: None,
        error: None,
        rows: engine
            .groups(tenant)?
            .into_iter()
            .map(|summary| GroupRow {
                id: summary.group.id.to_string(),
                name: summary.group.name,
                members: summary.contact_count,
                created: when(summary.group.created_at),
            })
            .collect(),
        name: String::new(),
    })
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, Problem> {
    let mut page = groups_page(&state.engine, &viewer, tenant)?;
    page.notice = notice(query.notice.as_deref(), NOTICES).map(str::to_string);
    Ok(render(&page))
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields = Fields::checked(&viewer, &body)?;
    let name = fields.text("name");
    match state.engine.create_group(tenant, &name).await {
        Ok(group) => Ok(back(&format!("{HERE}/{}", group.id), "created")),
        Err(error) => {
            let (status, message) = refusal(error);
            let mut page = groups_page(&state.engine, &viewer, tenant)?;
            page.error = Some(message);
            page.name = name;
            Ok(render_status(status, &page))
        }
    }
}

fn group_id(raw: &str) -> Result<GroupId, Problem> {
    raw.parse()
        .map_err(|_| problem(StatusCode::NOT_FOUND, "No such group."))
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    Fields::checked(&viewer, &body)?;
    state.engine.delete_group(tenant, group_id(&id)?).await?;
    Ok(back(HERE, "deleted"))
}

pub struct MemberRow {
    pub id: String,
    pub name: String,
    pub phone: String,
}

#[derive(Template)]
#[template(path = "console/group.html")]
struct GroupPage {
    chrome: Chrome,
    notice: Option<String>,
    error: Option<String>,
    id: String,
    total: u64,
    rows: Vec<MemberRow>,
    page: u32,
    pages: u64,
    members: String,
}

fn group_page(
    engine: &Engine,
    viewer: &Viewer,
    tenant: TenantId,
    group: GroupId,
    page: u32,
) -> Result<GroupPage, Problem> {
    let record = engine
        .group(tenant, group)?
        .ok_or_else(|| problem(StatusCode::NOT_FOUND, "No such group."))?;
    let paged = engine.contacts(
        tenant,
        ContactFilter {
            search: None,
            group: Some(group),
        },
        PageRequest { page, limit: PAGE },
    )?;
    Ok(GroupPage {
        chrome: Chrome::new(viewer, format!("Group {}", record.name), HERE),
        notice: None,
        error: None,
        id: group.to_string(),
        total: paged.total,
        rows: paged
            .items
            .into_iter()
            .map(|contact| MemberRow {
                id: contact.record.id.to_string(),
                name: [contact.record.first_name, contact.record.last_name]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" "),
                phone: contact.record.phone.to_string(),
            })
            .collect(),
        page,
        pages: pages(paged.total, PAGE),
        members: String::new(),
    })
}

pub async fn show(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    Path(id): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, Problem> {
    let group = group_id(&id)?;
    let mut page = group_page(
        &state.engine,
        &viewer,
        tenant,
        group,
        query.page.unwrap_or(1).max(1),
    )?;
    page.notice = notice(query.notice.as_deref(), NOTICES).map(str::to_string);
    Ok(render(&page))
}

/// The contacts `text` names, one per line or comma: contact ids, or phone numbers found
/// among the tenant's contacts; `Err` names the first one that is neither.
fn contacts_named(engine: &Engine, tenant: TenantId, text: &str) -> Result<Vec<ContactId>, String> {
    let mut ids = Vec::new();
    for entry in text
        .split(['\n', ',', ';'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        if let Ok(id) = entry.parse::<ContactId>() {
            ids.push(id);
            continue;
        }
        let found = engine
            .contacts(
                tenant,
                ContactFilter {
                    search: Some(entry.to_string()),
                    group: None,
                },
                PageRequest { page: 1, limit: 2 },
            )
            .map_err(|error| refusal(error).1)?;
        match found.items.as_slice() {
            [only] => ids.push(only.record.id),
            [] => {
                return Err(format!(
                    "{entry} is no contact: add it on the contacts page first."
                ));
            }
            _ => {
                return Err(format!(
                    "{entry} matches more than one contact: give the whole number."
                ));
            }
        }
    }
    if ids.is_empty() {
        return Err("Give at least one phone number or contact id.".to_string());
    }
    Ok(ids)
}

pub async fn add_members(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields = Fields::checked(&viewer, &body)?;
    let group = group_id(&id)?;
    // Another tenant's group is not found before its members are looked for.
    state
        .engine
        .group(tenant, group)?
        .ok_or_else(|| problem(StatusCode::NOT_FOUND, "No such group."))?;
    let text = fields.text("members");
    let outcome = match contacts_named(&state.engine, tenant, &text) {
        Ok(ids) => match state.engine.add_group_members(tenant, group, ids).await {
            Ok(MembershipChange::Applied { .. }) => Ok(()),
            Ok(MembershipChange::UnknownContact(id)) => Err((
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{id} is no contact of yours."),
            )),
            Err(error) => Err(refusal(error)),
        },
        Err(message) => Err((StatusCode::UNPROCESSABLE_ENTITY, message)),
    };
    match outcome {
        Ok(()) => Ok(back(&format!("{HERE}/{group}"), "added")),
        Err((status, message)) => {
            let mut page = group_page(&state.engine, &viewer, tenant, group, 1)?;
            page.error = Some(message);
            page.members = text;
            Ok(render_status(status, &page))
        }
    }
}

pub async fn remove_member(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    Path((id, contact)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Problem> {
    Fields::checked(&viewer, &body)?;
    let group = group_id(&id)?;
    let contact: ContactId = contact
        .parse()
        .map_err(|_| problem(StatusCode::NOT_FOUND, "No such contact."))?;
    match state
        .engine
        .remove_group_members(tenant, group, vec![contact])
        .await?
    {
        MembershipChange::Applied { .. } => Ok(back(&format!("{HERE}/{group}"), "removed")),
        MembershipChange::UnknownContact(_) => {
            Err(problem(StatusCode::NOT_FOUND, "No such contact."))
        }
    }
}
