//! Every tenant's SMPP accounts with their live binds, in one list per tenant; each links to
//! its tenant's page, where they are created and deleted.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use flit_engine::Engine;
use flit_engine::ids::TenantId;

use crate::console::auth::OperatorViewer;
use crate::console::page::{Chrome, Problem, render, when};
use crate::state::AppState;

pub struct BindRow {
    pub mode: &'static str,
    pub peer: String,
    pub since: String,
}

pub struct AccountRow {
    pub id: String,
    pub system_id: String,
    pub max_binds: u32,
    pub window: u32,
    /// `unlimited` for 0.
    pub tps: String,
    pub binds: Vec<BindRow>,
}

/// A tenant's SMPP accounts, oldest first, each with its sessions bound now.
pub fn account_rows(engine: &Engine, tenant: TenantId) -> Result<Vec<AccountRow>, Problem> {
    Ok(engine
        .smpp_accounts(tenant)?
        .into_iter()
        .map(|account| AccountRow {
            binds: engine
                .smpp_binds(account.id)
                .into_iter()
                .map(|bind| BindRow {
                    mode: bind.mode,
                    peer: bind.peer.to_string(),
                    since: when(bind.bound_at),
                })
                .collect(),
            id: account.id.to_string(),
            system_id: account.system_id,
            max_binds: account.max_binds,
            window: account.window,
            tps: match account.tps {
                0 => "unlimited".to_string(),
                tps => tps.to_string(),
            },
        })
        .collect())
}

pub struct TenantAccounts {
    pub id: String,
    pub name: String,
    pub accounts: Vec<AccountRow>,
}

#[derive(Template)]
#[template(path = "console/op_smpp.html")]
struct SmppPage {
    chrome: Chrome,
    tenants: Vec<TenantAccounts>,
    /// Tenants with no SMPP account.
    without: usize,
    bound: usize,
}

pub async fn page(
    State(state): State<Arc<AppState>>,
    OperatorViewer(viewer): OperatorViewer,
) -> Result<Response, Problem> {
    let engine = &state.engine;
    let mut all = engine.tenants();
    all.sort_by_key(|tenant| tenant.created_at);
    let mut tenants = Vec::new();
    let mut without = 0;
    for tenant in all {
        let accounts = account_rows(engine, tenant.id)?;
        if accounts.is_empty() {
            without += 1;
            continue;
        }
        tenants.push(TenantAccounts {
            id: tenant.id.to_string(),
            name: tenant.name,
            accounts,
        });
    }
    let bound = tenants
        .iter()
        .flat_map(|tenant| &tenant.accounts)
        .map(|account| account.binds.len())
        .sum();
    Ok(render(&SmppPage {
        chrome: Chrome::new(&viewer, "SMPP accounts", "/console/op/smpp"),
        tenants,
        without,
        bound,
    }))
}
