//! Transactions: the tenant's credit ledger newest first, a page at a time, filtered by kind
//! (purchases, usage, refunds, bonuses, adjustments), each with the balance after it.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use flit_engine::{PageRequest, TransactionFilter, TransactionKind};
use serde::Deserialize;

use crate::console::auth::TenantViewer;
use crate::console::page::{Chrome, Problem, pages, problem, render, thousands, when};
use crate::state::AppState;

const PAGE: u32 = 25;

#[derive(Deserialize)]
pub struct Filters {
    kind: Option<String>,
    page: Option<u32>,
}

pub struct Row {
    pub at: String,
    pub kind: &'static str,
    pub amount: String,
    pub balance: String,
    pub description: String,
    pub reference: String,
}

#[derive(Template)]
#[template(path = "console/transactions.html")]
struct TransactionsPage {
    chrome: Chrome,
    rows: Vec<Row>,
    kinds: Vec<(&'static str, bool)>,
    kind: &'static str,
    total: u64,
    page: u32,
    pages: u64,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    Query(filters): Query<Filters>,
) -> Result<Response, Problem> {
    let kind = filters
        .kind
        .as_deref()
        .filter(|kind| !kind.is_empty())
        .map(|kind| {
            kind.parse::<TransactionKind>()
                .map_err(|()| problem(StatusCode::BAD_REQUEST, "No such kind of transaction."))
        })
        .transpose()?;
    let page = filters.page.unwrap_or(1).max(1);
    let paged = state.engine.transactions(
        tenant,
        TransactionFilter {
            kind,
            from: None,
            until: None,
        },
        PageRequest { page, limit: PAGE },
    )?;
    let chosen = kind.map(TransactionKind::as_str);
    Ok(render(&TransactionsPage {
        chrome: Chrome::new(&viewer, "Transactions", "/console/transactions"),
        rows: paged
            .items
            .into_iter()
            .map(|transaction| Row {
                at: when(transaction.created_at),
                kind: transaction.kind.as_str(),
                amount: if transaction.amount > 0 {
                    format!("+{}", thousands(transaction.amount))
                } else {
                    thousands(transaction.amount)
                },
                balance: thousands(transaction.balance),
                description: transaction.description,
                reference: transaction.reference.unwrap_or_default(),
            })
            .collect(),
        kinds: TransactionKind::ALL
            .iter()
            .map(|kind| (kind.as_str(), Some(kind.as_str()) == chosen))
            .collect(),
        kind: chosen.unwrap_or(""),
        total: paged.total,
        page,
        pages: pages(paged.total, PAGE),
    }))
}
