//! One tenant, as the operator manages it: its details, credits (added as the admin API adds
//! them) with the ledger below a page at a time, its rate limit and price per part (the admin
//! PATCH's `Engine::update_tenant`), suspension, sender IDs, console users and SMPP accounts
//! with their live binds.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use flit_engine::ids::{SmppAccountId, TenantId, UserId};
use flit_engine::{
    IdempotencyClaim, NewSmppAccount, NewUser, PageRequest, Role, TenantPatch, TenantRecord,
    TransactionFilter, TransactionKind,
};
use serde::Deserialize;

use super::smpp::{AccountRow, account_rows};
use super::{Refusal, done, notice, number, refused};
use crate::console::auth::{OperatorViewer, Viewer};
use crate::console::form::Fields;
use crate::console::page::{Chrome, Problem, problem, render, thousands, when};
use crate::state::AppState;

/// Ledger lines per page.
const LEDGER_PAGE: u32 = 20;

/// The kinds of credit the form offers (USAGE is the engine's own, REFUND follows a failure).
const CREDIT_KINDS: &[TransactionKind] = &[
    TransactionKind::Purchase,
    TransactionKind::Bonus,
    TransactionKind::Adjustment,
];

pub struct UserRow {
    pub id: String,
    pub email: String,
    pub role: &'static str,
    pub created: String,
}

pub struct LedgerRow {
    pub created: String,
    pub kind: &'static str,
    pub amount: String,
    pub balance: String,
    pub description: String,
}

#[derive(Template)]
#[template(path = "console/op_tenant.html")]
struct TenantPage {
    chrome: Chrome,
    notice: Option<&'static str>,
    error: Option<String>,
    id: String,
    country: String,
    balance: String,
    suspended: bool,
    rate_limit: u32,
    price: i64,
    created: String,
    kinds: Vec<&'static str>,
    senders: Vec<String>,
    users: Vec<UserRow>,
    accounts: Vec<AccountRow>,
    ledger: Vec<LedgerRow>,
    page: u32,
    pages: u64,
    /// A fresh key per credits form: a double click adds the credits once.
    nonce: String,
}

#[derive(Deserialize)]
pub struct TenantQuery {
    notice: Option<String>,
    page: Option<u32>,
}

fn tenant_of(state: &AppState, raw: &str) -> Result<TenantRecord, Problem> {
    raw.parse::<TenantId>()
        .ok()
        .and_then(|id| state.engine.tenant(id))
        .ok_or_else(|| problem(StatusCode::NOT_FOUND, "No such tenant."))
}

fn tenant_page(
    state: &AppState,
    viewer: &Viewer,
    tenant: TenantRecord,
    notice: Option<&'static str>,
    error: Option<String>,
    page: u32,
) -> Result<Response, Problem> {
    let engine = &state.engine;
    let id = tenant.id;
    let ledger = engine.transactions(
        id,
        TransactionFilter::default(),
        PageRequest {
            page,
            limit: LEDGER_PAGE,
        },
    )?;
    let users = engine
        .users(id)?
        .into_iter()
        .map(|user| UserRow {
            id: user.id.to_string(),
            email: user.email,
            role: user.role.as_str(),
            created: when(user.created_at),
        })
        .collect();
    Ok(render(&TenantPage {
        chrome: Chrome::new(viewer, tenant.name.clone(), "/console/op/tenants"),
        notice,
        error,
        id: id.to_string(),
        country: tenant.default_country.to_string(),
        balance: thousands(engine.balance(id)?),
        suspended: engine.is_suspended(id),
        rate_limit: tenant.rate_limit_per_minute,
        price: tenant.price_per_part,
        created: when(tenant.created_at),
        kinds: CREDIT_KINDS.iter().map(|kind| kind.as_str()).collect(),
        senders: engine
            .approved_sender_ids(id)?
            .into_iter()
            .map(|sender| sender.name)
            .collect(),
        users,
        accounts: account_rows(engine, id)?,
        pages: ledger.total.div_ceil(u64::from(LEDGER_PAGE)).max(1),
        ledger: ledger
            .items
            .into_iter()
            .map(|line| LedgerRow {
                created: when(line.created_at),
                kind: line.kind.as_str(),
                amount: thousands(line.amount),
                balance: thousands(line.balance),
                description: line.description,
            })
            .collect(),
        page,
        nonce: flit_engine::secrets::generate_secret(""),
    }))
}

pub async fn page(
    State(state): State<Arc<AppState>>,
    OperatorViewer(viewer): OperatorViewer,
    Path(tenant): Path<String>,
    Query(query): Query<TenantQuery>,
) -> Result<Response, Problem> {
    let tenant = tenant_of(&state, &tenant)?;
    let page = query.page.unwrap_or(1).max(1);
    tenant_page(
        &state,
        &viewer,
        tenant,
        notice(query.notice.as_deref()),
        None,
        page,
    )
}

/// After a form: back to the tenant's page with `code`, or the page again with the refusal.
fn finish(
    state: &AppState,
    viewer: &Viewer,
    tenant: TenantRecord,
    outcome: Result<(), Refusal>,
    code: &'static str,
) -> Result<Response, Problem> {
    match outcome {
        Ok(()) => Ok(done(&format!("/console/op/tenants/{}", tenant.id), code)),
        Err(refusal) => Ok(refused(
            tenant_page(state, viewer, tenant, None, Some(refusal.message), 1)?,
            refusal.status,
        )),
    }
}

/// Reads the posted form (its CSRF token first) and the tenant it is for.
fn posted(
    state: &AppState,
    viewer: &Viewer,
    tenant: &str,
    body: &Bytes,
) -> Result<(Fields, TenantRecord), Problem> {
    let fields = Fields::checked(viewer, body)?;
    Ok((fields, tenant_of(state, tenant)?))
}

pub async fn add_credits(
    State(state): State<Arc<AppState>>,
    OperatorViewer(viewer): OperatorViewer,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    let (fields, tenant) = posted(&state, &viewer, &tenant, &body)?;
    let outcome = async {
        let amount: i64 = number(&fields.text("amount"), "The amount")?
            .ok_or_else(|| Refusal::bad("Give an amount of credits."))?;
        let kind = fields
            .text("type")
            .parse::<TransactionKind>()
            .ok()
            .filter(|kind| CREDIT_KINDS.contains(kind))
            .ok_or_else(|| Refusal::bad("Choose PURCHASE, BONUS or ADJUSTMENT."))?;
        let description = Some(fields.text("description"))
            .filter(|text| !text.is_empty())
            .unwrap_or_else(|| format!("{} by operator", kind.as_str().to_ascii_lowercase()));
        let nonce = fields.text("nonce");
        let idempotency = (!nonce.is_empty()).then(|| IdempotencyClaim {
            key_hash: flit_engine::secrets::sha256(
                format!("console:{}:{nonce}", viewer.user.id).as_bytes(),
            ),
            fingerprint: flit_engine::secrets::sha256(&body),
        });
        state
            .engine
            .add_credits(tenant.id, kind, amount, description, idempotency)
            .await?;
        Ok(())
    }
    .await;
    finish(&state, &viewer, tenant, outcome, "credits_added")
}

pub async fn settings(
    State(state): State<Arc<AppState>>,
    OperatorViewer(viewer): OperatorViewer,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    let (fields, tenant) = posted(&state, &viewer, &tenant, &body)?;
    let outcome = async {
        let rate_limit: Option<u32> = number(&fields.text("rate_limit"), "The rate limit")?;
        if rate_limit == Some(0) {
            return Err(Refusal::bad(
                "The rate limit must be at least 1 request a minute.",
            ));
        }
        state
            .engine
            .update_tenant(
                tenant.id,
                TenantPatch {
                    rate_limit_per_minute: rate_limit,
                    price_per_part: number(&fields.text("price"), "The price per part")?,
                    ..TenantPatch::default()
                },
            )
            .await?;
        Ok(())
    }
    .await;
    finish(&state, &viewer, tenant, outcome, "settings_saved")
}

pub async fn suspend(
    State(state): State<Arc<AppState>>,
    OperatorViewer(viewer): OperatorViewer,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    let (_, tenant) = posted(&state, &viewer, &tenant, &body)?;
    let outcome = state
        .engine
        .suspend_tenant(tenant.id)
        .await
        .map(drop)
        .map_err(Refusal::from);
    finish(&state, &viewer, tenant, outcome, "suspended")
}

pub async fn resume(
    State(state): State<Arc<AppState>>,
    OperatorViewer(viewer): OperatorViewer,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    let (_, tenant) = posted(&state, &viewer, &tenant, &body)?;
    let outcome = state
        .engine
        .resume_tenant(tenant.id)
        .await
        .map_err(Refusal::from);
    finish(&state, &viewer, tenant, outcome, "resumed")
}

pub async fn add_sender_id(
    State(state): State<Arc<AppState>>,
    OperatorViewer(viewer): OperatorViewer,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    let (fields, tenant) = posted(&state, &viewer, &tenant, &body)?;
    let outcome = state
        .engine
        .create_sender_id(tenant.id, &fields.text("name"))
        .await
        .map(drop)
        .map_err(Refusal::from);
    finish(&state, &viewer, tenant, outcome, "sender_added")
}

pub async fn add_user(
    State(state): State<Arc<AppState>>,
    OperatorViewer(viewer): OperatorViewer,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    let (fields, tenant) = posted(&state, &viewer, &tenant, &body)?;
    let outcome = async {
        let role = match fields.text("role").as_str() {
            "admin" => Role::Admin,
            "member" | "" => Role::Member,
            _ => return Err(Refusal::bad("The role is admin or member.")),
        };
        state
            .engine
            .create_user(
                Some(tenant.id),
                NewUser {
                    email: fields.text("email"),
                    password: fields.get("password").unwrap_or_default().to_string(),
                    role,
                },
            )
            .await?;
        Ok(())
    }
    .await;
    finish(&state, &viewer, tenant, outcome, "user_added")
}

pub async fn delete_user(
    State(state): State<Arc<AppState>>,
    OperatorViewer(viewer): OperatorViewer,
    Path((tenant, user)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Problem> {
    let (_, tenant) = posted(&state, &viewer, &tenant, &body)?;
    let user: UserId = user
        .parse()
        .map_err(|_| problem(StatusCode::NOT_FOUND, "No such user."))?;
    let outcome = state
        .engine
        .delete_user(Some(tenant.id), user)
        .await
        .map_err(Refusal::from);
    finish(&state, &viewer, tenant, outcome, "user_removed")
}

pub async fn add_smpp_account(
    State(state): State<Arc<AppState>>,
    OperatorViewer(viewer): OperatorViewer,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    let (fields, tenant) = posted(&state, &viewer, &tenant, &body)?;
    let outcome = async {
        state
            .engine
            .create_smpp_account(
                tenant.id,
                NewSmppAccount {
                    system_id: fields.text("system_id"),
                    password: fields.get("password").unwrap_or_default().to_string(),
                    max_binds: number(&fields.text("max_binds"), "Binds at once")?,
                    window: number(&fields.text("window"), "The window")?,
                    tps: number(&fields.text("tps"), "TPS")?,
                },
            )
            .await?;
        Ok(())
    }
    .await;
    finish(&state, &viewer, tenant, outcome, "smpp_added")
}

pub async fn delete_smpp_account(
    State(state): State<Arc<AppState>>,
    OperatorViewer(viewer): OperatorViewer,
    Path((tenant, account)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Problem> {
    let (_, tenant) = posted(&state, &viewer, &tenant, &body)?;
    let account: SmppAccountId = account
        .parse()
        .map_err(|_| problem(StatusCode::NOT_FOUND, "No such SMPP account."))?;
    let outcome = state
        .engine
        .delete_smpp_account(tenant.id, account)
        .await
        .map_err(Refusal::from);
    finish(&state, &viewer, tenant, outcome, "smpp_deleted")
}
