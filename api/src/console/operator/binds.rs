//! The carriers' binds with their live state (`Engine::bind_records`: bound, in flight,
//! queued, accepted, rejected, receipts, errors, the last error), adding one (the same
//! `Engine::create_bind` as `POST /admin/v1/binds`) and removing one; and the routes from
//! destination prefixes to binds: listed, added, deleted.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use flit_engine::ids::{BindId, RouteId};
use flit_engine::{BindMode, NewBind, NewRoute};

use super::{NoticeQuery, Refusal, done, notice, number, refused};
use crate::console::auth::{OperatorViewer, Viewer};
use crate::console::form::Fields;
use crate::console::page::{Chrome, Problem, problem, render, thousands};
use crate::state::AppState;

pub struct BindRow {
    pub id: String,
    pub name: String,
    pub address: String,
    pub system_id: String,
    pub mode: String,
    pub window: u32,
    pub tps: String,
    pub bound: bool,
    pub in_flight: String,
    pub queued: String,
    pub accepted: String,
    pub rejected: String,
    pub receipts: String,
    pub errors: String,
    pub last_error: Option<String>,
}

pub struct RouteRow {
    pub id: String,
    pub prefix: String,
    pub binds: String,
    pub priority: i32,
}

/// What the add-bind form holds when shown again after a refusal (never the password).
#[derive(Default)]
pub struct NewBindForm {
    pub name: String,
    pub host: String,
    pub port: String,
    pub system_id: String,
    pub mode: String,
    pub window: String,
    pub tps: String,
}

#[derive(Template)]
#[template(path = "console/op_binds.html")]
struct BindsPage {
    chrome: Chrome,
    notice: Option<&'static str>,
    error: Option<String>,
    sandbox: bool,
    binds: Vec<BindRow>,
    routes: Vec<RouteRow>,
    form: NewBindForm,
}

fn binds_page(
    state: &AppState,
    viewer: &Viewer,
    notice: Option<&'static str>,
    error: Option<String>,
    form: NewBindForm,
) -> Result<Response, Problem> {
    let engine = &state.engine;
    let records = engine.bind_records()?;
    let names: HashMap<BindId, String> = records
        .iter()
        .map(|(record, _)| (record.id, record.name.clone()))
        .collect();
    let binds = records
        .into_iter()
        .map(|(record, live)| BindRow {
            id: record.id.to_string(),
            address: format!("{}:{}", record.host, record.port),
            name: record.name,
            system_id: record.system_id,
            mode: record.bind_mode.to_string(),
            window: record.window_size,
            tps: match record.tps {
                0 => "unlimited".to_string(),
                tps => tps.to_string(),
            },
            bound: live.bound,
            in_flight: thousands(live.in_flight as i64),
            queued: thousands(live.queued as i64),
            accepted: thousands(live.accepted as i64),
            rejected: thousands(live.rejected as i64),
            receipts: thousands(live.receipts as i64),
            errors: thousands(live.errors as i64),
            last_error: live.last_error.map(|error| error.message),
        })
        .collect();
    let routes = engine
        .routes()?
        .into_iter()
        .map(|route| RouteRow {
            id: route.id.to_string(),
            prefix: if route.prefix.is_empty() {
                "every number".to_string()
            } else {
                route.prefix
            },
            binds: route
                .binds
                .iter()
                .zip(
                    route
                        .weights
                        .iter()
                        .map(Some)
                        .chain(std::iter::repeat(None)),
                )
                .map(|(bind, weight)| {
                    let name = names.get(bind).cloned().unwrap_or_else(|| bind.to_string());
                    match weight {
                        Some(weight) => format!("{name} (weight {weight})"),
                        None => name,
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
            priority: route.priority,
        })
        .collect();
    Ok(render(&BindsPage {
        chrome: Chrome::new(viewer, "Binds & routes", "/console/op/binds"),
        notice,
        error,
        sandbox: engine.is_sandbox(),
        binds,
        routes,
        form,
    }))
}

pub async fn page(
    State(state): State<Arc<AppState>>,
    OperatorViewer(viewer): OperatorViewer,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, Problem> {
    binds_page(
        &state,
        &viewer,
        notice(query.notice.as_deref()),
        None,
        NewBindForm::default(),
    )
}

async fn create_bind(
    state: &AppState,
    form: &NewBindForm,
    password: String,
) -> Result<(), Refusal> {
    let required = |value: &str, what: &str| {
        if value.is_empty() {
            Err(Refusal::bad(format!("A bind needs {what}.")))
        } else {
            Ok(value.to_string())
        }
    };
    let port: u16 = number(&form.port, "The port")?
        .filter(|port| *port > 0)
        .ok_or_else(|| Refusal::bad("A bind needs a port from 1 to 65535."))?;
    let bind_mode = match form.mode.as_str() {
        "" => None,
        mode => Some(
            mode.parse::<BindMode>()
                .map_err(|_| Refusal::bad("The mode is transceiver or transmitter_receiver."))?,
        ),
    };
    state
        .engine
        .create_bind(NewBind {
            name: required(&form.name, "a name")?,
            host: required(&form.host, "a host")?,
            port,
            system_id: required(&form.system_id, "a system_id")?,
            password,
            system_type: None,
            bind_mode,
            window_size: number(&form.window, "The window")?,
            tps: number(&form.tps, "TPS")?,
            gsm7: None,
            concatenation: None,
            tenant: None,
        })
        .await?;
    Ok(())
}

pub async fn add_bind(
    State(state): State<Arc<AppState>>,
    OperatorViewer(viewer): OperatorViewer,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields = Fields::checked(&viewer, &body)?;
    let form = NewBindForm {
        name: fields.text("name"),
        host: fields.text("host"),
        port: fields.text("port"),
        system_id: fields.text("system_id"),
        mode: fields.text("mode"),
        window: fields.text("window"),
        tps: fields.text("tps"),
    };
    let password = fields.get("password").unwrap_or_default().to_string();
    match create_bind(&state, &form, password).await {
        Ok(()) => Ok(done("/console/op/binds", "bind_added")),
        Err(refusal) => Ok(refused(
            binds_page(&state, &viewer, None, Some(refusal.message), form)?,
            refusal.status,
        )),
    }
}

/// Back to the binds page with `code`, or the page again with the refusal.
fn finish(
    state: &AppState,
    viewer: &Viewer,
    outcome: Result<(), Refusal>,
    code: &'static str,
) -> Result<Response, Problem> {
    match outcome {
        Ok(()) => Ok(done("/console/op/binds", code)),
        Err(refusal) => Ok(refused(
            binds_page(
                state,
                viewer,
                None,
                Some(refusal.message),
                NewBindForm::default(),
            )?,
            refusal.status,
        )),
    }
}

pub async fn delete_bind(
    State(state): State<Arc<AppState>>,
    OperatorViewer(viewer): OperatorViewer,
    Path(bind): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    Fields::checked(&viewer, &body)?;
    let bind: BindId = bind
        .parse()
        .map_err(|_| problem(StatusCode::NOT_FOUND, "No such bind."))?;
    let outcome = state.engine.remove_bind(bind).await.map_err(Refusal::from);
    finish(&state, &viewer, outcome, "bind_deleted")
}

pub async fn add_route(
    State(state): State<Arc<AppState>>,
    OperatorViewer(viewer): OperatorViewer,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields = Fields::checked(&viewer, &body)?;
    let outcome = async {
        let binds = fields
            .all("bind")
            .iter()
            .map(|raw| {
                raw.parse::<BindId>()
                    .map_err(|_| Refusal::bad("One of those binds does not exist."))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if binds.is_empty() {
            return Err(Refusal::bad("Tick at least one bind for the route."));
        }
        state
            .engine
            .create_route(NewRoute {
                prefix: fields.text("prefix"),
                binds,
                priority: number(&fields.text("priority"), "The priority")?.unwrap_or(0),
                weights: Vec::new(),
            })
            .await?;
        Ok(())
    }
    .await;
    finish(&state, &viewer, outcome, "route_added")
}

pub async fn delete_route(
    State(state): State<Arc<AppState>>,
    OperatorViewer(viewer): OperatorViewer,
    Path(route): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    Fields::checked(&viewer, &body)?;
    let route: RouteId = route
        .parse()
        .map_err(|_| problem(StatusCode::NOT_FOUND, "No such route."))?;
    let outcome = state
        .engine
        .remove_route(route)
        .await
        .map_err(Refusal::from);
    finish(&state, &viewer, outcome, "route_deleted")
}
