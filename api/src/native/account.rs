//! `/balance`, `/sender-ids`, `/transactions`: the account side of the native API.

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::response::IntoResponse;
use flit_engine::TransactionFilter;
use flit_engine::{TransactionKind, TransactionRecord};
use serde::Serialize;

use super::{Pagination, blocking, date_param, ok, page_request};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::state::AppState;
use crate::timefmt::{DayEnd, iso, iso_opt};

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BalanceData {
    balance: i64,
    currency: &'static str,
    account_name: String,
    account_phone: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/balance",
    tag = "Account",
    summary = "The account's credit balance",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<BalanceData>),
    ),
)]
pub async fn balance(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<impl IntoResponse, ApiError> {
    let tenant = state
        .engine
        .tenant(caller.key.tenant)
        .ok_or_else(|| ApiError::not_found("account"))?;
    Ok(ok(BalanceData {
        balance: state.engine.balance(tenant.id)?,
        currency: "credits",
        account_name: tenant.name,
        account_phone: tenant.phone,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SenderIdsData {
    pub sender_ids: Vec<SenderIdData>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SenderIdData {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub created_at: String,
    pub approved_at: Option<String>,
}

impl From<flit_engine::SenderIdRecord> for SenderIdData {
    fn from(sender: flit_engine::SenderIdRecord) -> Self {
        SenderIdData {
            id: sender.id.to_string(),
            name: sender.name,
            status: sender.status.as_str(),
            created_at: iso(sender.created_at),
            approved_at: iso_opt(sender.approved_at),
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/sender-ids",
    tag = "Account",
    summary = "Approved sender IDs",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<SenderIdsData>),
    ),
)]
pub async fn sender_ids(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<impl IntoResponse, ApiError> {
    let senders = state.engine.approved_sender_ids(caller.key.tenant)?;
    Ok(ok(SenderIdsData {
        sender_ids: senders.into_iter().map(SenderIdData::from).collect(),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransactionData {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub amount: i64,
    pub balance: i64,
    pub description: String,
    pub reference: Option<String>,
    pub created_at: String,
}

impl From<TransactionRecord> for TransactionData {
    fn from(transaction: TransactionRecord) -> Self {
        TransactionData {
            id: transaction.id.to_string(),
            kind: transaction.kind.as_str(),
            amount: transaction.amount,
            balance: transaction.balance,
            description: transaction.description,
            reference: transaction.reference,
            created_at: iso(transaction.created_at),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TransactionsData {
    transactions: Vec<TransactionData>,
    pagination: Pagination,
}

#[utoipa::path(
    get,
    path = "/api/v1/transactions",
    tag = "Account",
    summary = "Credit ledger, newest first",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("page" = Option<u32>, Query, description = "Page number, from 1 (default 1)"),
        ("limit" = Option<u32>, Query, description = "Items per page, 1..=100 (default 20)"),
        ("type" = Option<String>, Query, description = "PURCHASE, USAGE, REFUND, BONUS or ADJUSTMENT"),
        ("startDate" = Option<String>, Query, description = "Only items from this date or instant (ISO 8601)"),
        ("endDate" = Option<String>, Query, description = "Only items up to the end of this date or instant (ISO 8601)"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<TransactionsData>),
    ),
)]
pub async fn transactions(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    query: QueryParams,
) -> Result<impl IntoResponse, ApiError> {
    Ok(ok(ledger(&state, caller.key.tenant, &query).await?))
}

/// A page of `tenant`'s ledger as `query` asks (`page`, `limit`, `type`, `startDate`,
/// `endDate`): the native API's and the admin API's answer alike.
pub(crate) async fn ledger(
    state: &AppState,
    tenant: flit_engine::ids::TenantId,
    query: &QueryParams,
) -> Result<TransactionsData, ApiError> {
    let page = page_request(query, 20, 100)?;
    let kind = match query.get("type") {
        Some(raw) => Some(raw.parse::<TransactionKind>().map_err(|_| {
            ApiError::bad_request(
                "invalid_type",
                format!(
                    "`type` must be one of PURCHASE, USAGE, REFUND, BONUS, ADJUSTMENT; got `{raw}`"
                ),
            )
        })?),
        None => None,
    };
    let filter = TransactionFilter {
        kind,
        from: date_param(query, "startDate", DayEnd::Start)?,
        until: date_param(query, "endDate", DayEnd::End)?,
    };
    let engine = state.engine.clone();
    let listing = blocking(move || engine.transactions(tenant, filter, page)).await?;
    Ok(TransactionsData {
        transactions: listing
            .items
            .into_iter()
            .map(TransactionData::from)
            .collect(),
        pagination: Pagination::new(page, listing.total),
    })
}
