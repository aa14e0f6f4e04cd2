//! The native API, `/api/v1`: a superset of FlashSMS (seed 001), camelCase JSON in a
//! `{success, data}` envelope.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::middleware;
use axum::routing::{delete, get, post, put};
use serde::Serialize;

use crate::auth::{api_key_layer, require_scope};
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::state::AppState;

pub mod account;
pub mod contacts;
pub mod sms;
pub mod templates;

/// The layer that demands a scope of the caller's key (a macro: the layer's type is unnameable).
macro_rules! scoped {
    ($scope:expr) => {
        middleware::from_fn_with_state($scope, require_scope)
    };
}

pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    use flit_engine::Scope;
    Router::new()
        .route("/sms/send", post(sms::send).layer(scoped!(Scope::SmsSend)))
        .route(
            "/sms/estimate",
            post(sms::estimate).layer(scoped!(Scope::SmsSend)),
        )
        .route("/sms", get(sms::list).layer(scoped!(Scope::SmsRead)))
        .route(
            "/sms/status/{message_id}",
            get(sms::status).layer(scoped!(Scope::SmsRead)),
        )
        .route(
            "/sms/{message_id}/recipients",
            get(sms::recipients).layer(scoped!(Scope::SmsRead)),
        )
        .route("/inbound", get(sms::inbound).layer(scoped!(Scope::SmsRead)))
        .route(
            "/templates",
            get(templates::list)
                .layer(scoped!(Scope::TemplatesRead))
                .merge(post(templates::create).layer(scoped!(Scope::TemplatesWrite))),
        )
        .route(
            "/templates/{template_id}",
            get(templates::get)
                .layer(scoped!(Scope::TemplatesRead))
                .merge(put(templates::update).layer(scoped!(Scope::TemplatesWrite)))
                .merge(delete(templates::delete).layer(scoped!(Scope::TemplatesWrite))),
        )
        // `/contacts/groups` and `/contacts/import` are static segments, which the router
        // prefers over `/contacts/{contact_id}` whatever the order here.
        .route(
            "/contacts",
            get(contacts::list)
                .layer(scoped!(Scope::ContactsRead))
                .merge(post(contacts::create).layer(scoped!(Scope::ContactsWrite))),
        )
        .route(
            "/contacts/import",
            post(contacts::import).layer(scoped!(Scope::ContactsWrite)),
        )
        .route(
            "/contacts/groups",
            get(contacts::groups)
                .layer(scoped!(Scope::ContactsRead))
                .merge(post(contacts::create_group).layer(scoped!(Scope::ContactsWrite))),
        )
        .route(
            "/contacts/groups/{group_id}",
            delete(contacts::delete_group).layer(scoped!(Scope::ContactsWrite)),
        )
        .route(
            "/contacts/groups/{group_id}/members",
            post(contacts::add_members)
                .layer(scoped!(Scope::ContactsWrite))
                .merge(delete(contacts::remove_members).layer(scoped!(Scope::ContactsWrite))),
        )
        .route(
            "/contacts/{contact_id}",
            get(contacts::get)
                .layer(scoped!(Scope::ContactsRead))
                .merge(put(contacts::update).layer(scoped!(Scope::ContactsWrite)))
                .merge(delete(contacts::delete).layer(scoped!(Scope::ContactsWrite))),
        )
        .route(
            "/balance",
            get(account::balance).layer(scoped!(Scope::BalanceRead)),
        )
        .route(
            "/sender-ids",
            get(account::sender_ids).layer(scoped!(Scope::SendersRead)),
        )
        .route(
            "/transactions",
            get(account::transactions).layer(scoped!(Scope::TransactionsRead)),
        )
        .route_layer(middleware::from_fn_with_state(state, api_key_layer))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Envelope<T> {
    success: bool,
    data: T,
}

pub fn ok<T: Serialize>(data: T) -> Json<Envelope<T>> {
    Json(Envelope {
        success: true,
        data,
    })
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    page: u32,
    limit: u32,
    total: u64,
    total_pages: u64,
    has_more: bool,
}

impl Pagination {
    pub fn new(page: flit_engine::PageRequest, total: u64) -> Pagination {
        let total_pages = total.div_ceil(u64::from(page.limit));
        Pagination {
            page: page.page,
            limit: page.limit,
            total,
            total_pages,
            has_more: u64::from(page.page) < total_pages,
        }
    }
}

/// `page` (from 1) and `limit` (1..=`max`, default `default`) from the query.
pub fn page_request(
    query: &QueryParams,
    default: u32,
    max: u32,
) -> Result<flit_engine::PageRequest, ApiError> {
    Ok(flit_engine::PageRequest {
        page: query.number("page", 1, 1, 1_000_000)?,
        limit: query.number("limit", default, 1, max)?,
    })
}

/// Runs a storage read off the async threads.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, flit_engine::EngineError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| ApiError::unavailable("the read was interrupted; retry"))?
        .map_err(ApiError::from)
}

/// An optional date query parameter (`startDate`, `endDate`).
pub fn date_param(
    query: &QueryParams,
    name: &str,
    end: crate::timefmt::DayEnd,
) -> Result<Option<i64>, ApiError> {
    query
        .get(name)
        .map(|raw| crate::timefmt::parse_instant(name, raw, end))
        .transpose()
}
