//! Sender IDs: the names the tenant's messages may come from, with their status. Read-only:
//! the operator approves sender IDs (by creating them in the admin API), so the page says how
//! to ask for one.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use crate::console::auth::TenantViewer;
use crate::console::page::{Chrome, Problem, render, when};
use crate::state::AppState;

pub struct Row {
    pub name: String,
    pub status: &'static str,
    pub created: String,
    pub approved: String,
}

#[derive(Template)]
#[template(path = "console/sender_ids.html")]
struct SenderIdsPage {
    chrome: Chrome,
    rows: Vec<Row>,
    tenant: String,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
) -> Result<Response, Problem> {
    let rows = state
        .engine
        .approved_sender_ids(tenant)?
        .into_iter()
        .map(|sender| Row {
            name: sender.name,
            status: sender.status.as_str(),
            created: when(sender.created_at),
            approved: sender.approved_at.map(when).unwrap_or_default(),
        })
        .collect();
    Ok(render(&SenderIdsPage {
        chrome: Chrome::new(&viewer, "Sender IDs", "/console/sender-ids"),
        rows,
        tenant: tenant.to_string(),
    }))
}
