//! Tenants, as the operator sees them: each with its balance and state.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use crate::console::auth::OperatorViewer;
use crate::console::page::{Chrome, Problem, render, thousands, when};
use crate::state::AppState;

pub struct Row {
    pub id: String,
    pub name: String,
    pub balance: String,
    pub suspended: bool,
    pub created: String,
}

#[derive(Template)]
#[template(path = "console/op_tenants.html")]
struct TenantsPage {
    chrome: Chrome,
    rows: Vec<Row>,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    OperatorViewer(viewer): OperatorViewer,
) -> Result<Response, Problem> {
    let engine = &state.engine;
    let mut tenants = engine.tenants();
    tenants.sort_by_key(|tenant| tenant.created_at);
    let rows = tenants
        .into_iter()
        .map(|tenant| Row {
            id: tenant.id.to_string(),
            balance: thousands(engine.balance(tenant.id).unwrap_or(0)),
            suspended: engine.is_suspended(tenant.id),
            created: when(tenant.created_at),
            name: tenant.name,
        })
        .collect();
    Ok(render(&TenantsPage {
        chrome: Chrome::new(&viewer, "Tenants", "/console/op/tenants"),
        rows,
    }))
}
