//! The native API, `/api/v1`: a superset of FlashSMS (seed 001), camelCase JSON in a
//! `{success, data}` envelope.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use serde::Serialize;

use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::scoped::ScopedRoute;
use crate::state::AppState;

pub mod account;
pub mod contacts;
pub mod devices;
pub mod sms;
pub mod templates;
pub mod webhooks;

/// Where the native API is mounted.
pub const PREFIX: &str = "/api/v1";

/// `route!(POST "/sms/send", SmsSend, sms::send)`: one row of [`ROUTES`], under [`PREFIX`].
macro_rules! route {
    ($($row:tt)+) => {
        crate::scoped::scoped_route!(PREFIX; $($row)+)
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
    route!(POST   "/devices/registration-token",         DevicesWrite,     devices::registration_token),
    route!(POST   "/devices/pairing-code",               DevicesWrite,     devices::pairing_code),
    route!(GET    "/devices",                            DevicesRead,      devices::list),
    route!(PATCH  "/devices/{device_id}",                DevicesWrite,     devices::update),
    route!(DELETE "/devices/{device_id}",                DevicesWrite,     devices::delete),
    route!(GET    "/webhooks",                           WebhooksRead,     webhooks::list),
    route!(POST   "/webhooks",                           WebhooksWrite,    webhooks::create),
    route!(DELETE "/webhooks/{webhook_id}",              WebhooksWrite,    webhooks::delete),
    route!(POST   "/webhooks/{webhook_id}/rotate-secret", WebhooksWrite,   webhooks::rotate_secret),
    route!(GET    "/webhooks/{webhook_id}/deliveries",   WebhooksRead,     webhooks::deliveries),
    route!(POST   "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", WebhooksWrite, webhooks::redeliver),
];

/// `ROUTES` as a router: each method behind its own scope check, run before the body is read.
pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    crate::scoped::router(ROUTES, state)
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

/// `ok(data)` already encoded, for answers large enough that their encoding belongs off the
/// async threads (run it inside `blocking`).
pub fn ok_encoded<T: Serialize>(data: T) -> Result<EncodedJson, ApiError> {
    serde_json::to_vec(&Envelope {
        success: true,
        data,
    })
    .map(EncodedJson)
    .map_err(|error| ApiError::unavailable(format!("cannot encode the answer: {error}")))
}

/// A JSON answer encoded ahead of time.
pub struct EncodedJson(Vec<u8>);

impl axum::response::IntoResponse for EncodedJson {
    fn into_response(self) -> axum::response::Response {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            self.0,
        )
            .into_response()
    }
}

/// What a DELETE answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeletedData {
    id: String,
    deleted: bool,
}

impl DeletedData {
    pub fn new(id: String) -> DeletedData {
        DeletedData { id, deleted: true }
    }
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
