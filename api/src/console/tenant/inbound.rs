//! Inbound: the SMS the tenant received (on its carriers' binds or its phones), newest first,
//! a page at a time.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use flit_engine::PageRequest;
use serde::Deserialize;

use crate::console::auth::TenantViewer;
use crate::console::page::{Chrome, Problem, pages, render, when};
use crate::state::AppState;

const PAGE: u32 = 25;

#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<u32>,
}

pub struct Row {
    pub received: String,
    pub from: String,
    pub to: String,
    pub text: String,
    pub parts: u8,
}

#[derive(Template)]
#[template(path = "console/inbound.html")]
struct InboundPage {
    chrome: Chrome,
    rows: Vec<Row>,
    total: u64,
    page: u32,
    pages: u64,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    Query(query): Query<PageQuery>,
) -> Result<Response, Problem> {
    let page = query.page.unwrap_or(1).max(1);
    let paged = state
        .engine
        .inbound(tenant, None, None, PageRequest { page, limit: PAGE })?;
    Ok(render(&InboundPage {
        chrome: Chrome::new(&viewer, "Inbound", "/console/inbound"),
        rows: paged
            .items
            .into_iter()
            .map(|sms| Row {
                received: when(sms.received_at),
                from: sms.from,
                to: sms.to,
                text: sms.text,
                parts: sms.parts,
            })
            .collect(),
        total: paged.total,
        page,
        pages: pages(paged.total, PAGE),
    }))
}
