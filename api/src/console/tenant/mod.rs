//! The tenant's pages: what its admins and members see of their own tenant only. Each page is
//! a module; `router` lists them all. Pages every person of the tenant sees take a
//! `TenantViewer`; API keys, webhooks and users take an `AdminViewer` (a member gets 403).

mod contacts;
mod devices;
mod groups;
mod history;
mod inbound;
mod keys;
mod overview;
mod send;
mod sender_ids;
mod templates;
mod transactions;
mod users;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/console/overview", get(overview::page))
        .route("/console/send", get(send::page).post(send::submit))
        .route("/console/send/estimate", post(send::estimate))
        .route("/console/history", get(history::list))
        .route("/console/history/{message_id}", get(history::report))
        .route(
            "/console/contacts",
            get(contacts::list).post(contacts::create),
        )
        .route("/console/contacts/{id}/delete", post(contacts::delete))
        .route("/console/contacts/import", post(contacts::preview))
        .route("/console/contacts/import/confirm", post(contacts::confirm))
        .route("/console/groups", get(groups::list).post(groups::create))
        .route("/console/groups/{id}", get(groups::show))
        .route("/console/groups/{id}/delete", post(groups::delete))
        .route("/console/groups/{id}/members", post(groups::add_members))
        .route(
            "/console/groups/{id}/members/{contact}/remove",
            post(groups::remove_member),
        )
        .route(
            "/console/templates",
            get(templates::list).post(templates::create),
        )
        .route("/console/templates/{id}", post(templates::update))
        .route("/console/templates/{id}/edit", get(templates::edit))
        .route("/console/templates/{id}/delete", post(templates::delete))
        .route("/console/sender-ids", get(sender_ids::list))
        .route("/console/keys", get(keys::list).post(keys::create))
        .route("/console/keys/{id}/revoke", post(keys::revoke))
        .route(
            "/console/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route("/console/webhooks/{id}", get(webhooks::deliveries))
        .route("/console/webhooks/{id}/delete", post(webhooks::delete))
        .route("/console/webhooks/{id}/rotate", post(webhooks::rotate))
        .route(
            "/console/webhooks/{id}/deliveries/{delivery}/redeliver",
            post(webhooks::redeliver),
        )
        .route("/console/users", get(users::list).post(users::invite))
        .route("/console/users/{id}/remove", post(users::remove))
        .route("/console/devices", get(devices::list))
        .route("/console/devices/pair", post(devices::pair))
        .route("/console/devices/{device_id}/unpair", post(devices::unpair))
        .route("/console/inbound", get(inbound::list))
        .route("/console/transactions", get(transactions::list))
}
