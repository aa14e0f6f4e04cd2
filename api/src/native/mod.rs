//! The native API, `/api/v1`: a superset of FlashSMS (seed 001), camelCase JSON in a
//! `{success, data}` envelope.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::http::Method;
use axum::middleware;
use axum::routing::{MethodFilter, MethodRouter, on};
use flit_engine::Scope;
use serde::Serialize;

use crate::auth::{api_key_layer, require_scope};
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::state::AppState;

pub mod account;
pub mod contacts;
pub mod sms;
pub mod templates;

/// Where the native API is mounted.
pub const PREFIX: &str = "/api/v1";

/// One route of the native API and the scope a key must carry to use it.
pub struct ScopedRoute {
    pub method: Method,
    /// Under [`PREFIX`], with `{param}` segments as the router and `/openapi.json` write them.
    pub path: &'static str,
    pub scope: Scope,
    /// The handler, routed for `method` alone.
    handler: fn() -> MethodRouter<Arc<AppState>>,
}

impl ScopedRoute {
    /// The path as `/openapi.json` writes it, prefix included.
    pub fn full_path(&self) -> String {
        format!("{PREFIX}{}", self.path)
    }
}

/// `route!(POST "/sms/send", SmsSend, sms::send)`: one row of [`ROUTES`], its method named once.
macro_rules! route {
    ($method:ident $path:literal, $scope:ident, $handler:path) => {
        ScopedRoute {
            method: Method::$method,
            path: $path,
            scope: Scope::$scope,
            handler: || on(MethodFilter::$method, $handler),
        }
    };
}

/// Every route of the native API with its scope: the one place a route's scope is declared.
/// The router puts each route behind its scope check, `/openapi.json` states it on the
/// operation, and the scope tests take their cases from here.
#[rustfmt::skip]
pub const ROUTES: &[ScopedRoute] = &[
    route!(POST   "/sms/send",                           SmsSend,          sms::send),
    route!(POST   "/sms/estimate",                       SmsSend,          sms::estimate),
    route!(GET    "/sms",                                SmsRead,          sms::list),
    route!(GET    "/sms/status/{message_id}",            SmsRead,          sms::status),
    route!(GET    "/sms/{message_id}/recipients",        SmsRead,          sms::recipients),
    route!(POST   "/sms/{message_id}/cancel",            SmsSend,          sms::cancel),
    route!(GET    "/inbound",                            SmsRead,          sms::inbound),
    route!(GET    "/templates",                          TemplatesRead,    templates::list),
    route!(POST   "/templates",                          TemplatesWrite,   templates::create),
    route!(GET    "/templates/{template_id}",            TemplatesRead,    templates::get),
    route!(PUT    "/templates/{template_id}",            TemplatesWrite,   templates::update),
    route!(DELETE "/templates/{template_id}",            TemplatesWrite,   templates::delete),
    // `/contacts/groups` and `/contacts/import` are static segments, which the router
    // prefers over `/contacts/{contact_id}` whatever the order here.
    route!(GET    "/contacts",                           ContactsRead,     contacts::list),
    route!(POST   "/contacts",                           ContactsWrite,    contacts::create),
    route!(POST   "/contacts/import",                    ContactsWrite,    contacts::import),
    route!(GET    "/contacts/groups",                    ContactsRead,     contacts::groups),
    route!(POST   "/contacts/groups",                    ContactsWrite,    contacts::create_group),
    route!(DELETE "/contacts/groups/{group_id}",         ContactsWrite,    contacts::delete_group),
    route!(POST   "/contacts/groups/{group_id}/members", ContactsWrite,    contacts::add_members),
    route!(DELETE "/contacts/groups/{group_id}/members", ContactsWrite,    contacts::remove_members),
    route!(GET    "/contacts/{contact_id}",              ContactsRead,     contacts::get),
    route!(PUT    "/contacts/{contact_id}",              ContactsWrite,    contacts::update),
    route!(DELETE "/contacts/{contact_id}",              ContactsWrite,    contacts::delete),
    route!(GET    "/balance",                            BalanceRead,      account::balance),
    route!(GET    "/sender-ids",                         SendersRead,      account::sender_ids),
    route!(GET    "/transactions",                       TransactionsRead, account::transactions),
];

/// The scope declared for `method` on `full_path` (as `/openapi.json` writes it).
pub fn declared_scope(method: &Method, full_path: &str) -> Option<Scope> {
    let path = full_path.strip_prefix(PREFIX)?;
    ROUTES
        .iter()
        .find(|route| route.method == *method && route.path == path)
        .map(|route| route.scope)
}

/// `ROUTES` as a router: each method behind its own scope check, run before the body is read.
pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let mut by_path: BTreeMap<&str, MethodRouter<Arc<AppState>>> = BTreeMap::new();
    for route in ROUTES {
        let scoped =
            (route.handler)().layer(middleware::from_fn_with_state(route.scope, require_scope));
        let methods = match by_path.remove(route.path) {
            Some(earlier) => earlier.merge(scoped),
            None => scoped,
        };
        by_path.insert(route.path, methods);
    }
    by_path
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        })
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
