//! Tenants, as the operator sees them: each with its balance and state, and the form that
//! makes a new one (`Engine::create_tenant`, then its opening balance as a BONUS, as
//! `POST /admin/v1/tenants` does).

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use flit_engine::{NewTenant, TransactionKind};

use super::{NoticeQuery, Refusal, done, notice, number, refused};
use crate::console::auth::OperatorViewer;
use crate::console::form::Fields;
use crate::console::page::{Chrome, Problem, render, thousands, when};
use crate::state::AppState;

pub struct Row {
    pub id: String,
    pub name: String,
    pub balance: String,
    pub suspended: bool,
    pub created: String,
}

/// What the create form holds when shown again after a refusal.
#[derive(Default)]
pub struct NewTenantForm {
    pub name: String,
    pub credits: String,
    pub sender_ids: String,
    pub rate_limit: String,
    pub price: String,
}

#[derive(Template)]
#[template(path = "console/op_tenants.html")]
struct TenantsPage {
    chrome: Chrome,
    notice: Option<&'static str>,
    error: Option<String>,
    form: NewTenantForm,
    rows: Vec<Row>,
}

fn tenants_page(
    state: &AppState,
    viewer: &crate::console::auth::Viewer,
    notice: Option<&'static str>,
    error: Option<String>,
    form: NewTenantForm,
) -> Response {
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
    render(&TenantsPage {
        chrome: Chrome::new(viewer, "Tenants", "/console/op/tenants"),
        notice,
        error,
        form,
        rows,
    })
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    OperatorViewer(viewer): OperatorViewer,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, Problem> {
    Ok(tenants_page(
        &state,
        &viewer,
        notice(query.notice.as_deref()),
        None,
        NewTenantForm::default(),
    ))
}

/// `Acme, 0244000000` or one per line: the sender IDs as written; none for an empty field.
fn sender_ids_of(text: &str) -> Option<Vec<String>> {
    let names: Vec<String> = text
        .split(['\n', ',', ';', ' '])
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect();
    (!names.is_empty()).then_some(names)
}

async fn create_tenant(state: &AppState, form: &NewTenantForm) -> Result<String, Refusal> {
    if form.name.is_empty() {
        return Err(Refusal::bad("A tenant needs a name."));
    }
    let credits: Option<i64> = number(&form.credits, "Credits")?;
    if credits.is_some_and(|credits| !(0..=flit_engine::MAX_CREDIT_AMOUNT).contains(&credits)) {
        return Err(Refusal::bad(format!(
            "Credits must be from 0 to {}.",
            thousands(flit_engine::MAX_CREDIT_AMOUNT)
        )));
    }
    let rate_limit: Option<u32> = number(&form.rate_limit, "The rate limit")?;
    if rate_limit == Some(0) {
        return Err(Refusal::bad(
            "The rate limit must be at least 1 request a minute.",
        ));
    }
    let tenant = state
        .engine
        .create_tenant(NewTenant {
            name: form.name.clone(),
            rate_limit_per_minute: rate_limit,
            price_per_part: number(&form.price, "The price per part")?,
            sender_ids: sender_ids_of(&form.sender_ids),
            ..NewTenant::default()
        })
        .await?;
    if let Some(credits) = credits.filter(|credits| *credits != 0) {
        state
            .engine
            .add_credits(
                tenant.id,
                TransactionKind::Bonus,
                credits,
                "Opening balance".to_string(),
                None,
            )
            .await?;
    }
    Ok(tenant.id.to_string())
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    OperatorViewer(viewer): OperatorViewer,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields = Fields::checked(&viewer, &body)?;
    let form = NewTenantForm {
        name: fields.text("name"),
        credits: fields.text("credits"),
        sender_ids: fields.text("sender_ids"),
        rate_limit: fields.text("rate_limit"),
        price: fields.text("price"),
    };
    match create_tenant(&state, &form).await {
        Ok(id) => Ok(done(&format!("/console/op/tenants/{id}"), "tenant_created")),
        Err(refusal) => Ok(refused(
            tenants_page(&state, &viewer, None, Some(refusal.message), form),
            refusal.status,
        )),
    }
}
