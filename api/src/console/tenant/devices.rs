//! Devices: the tenant's paired phones (the SMS Gate app) with their live state — online,
//! queue, sent today, stuck messages, last seen (`Engine::device_state`) — and pairing a new
//! one: a one-time code (`Engine::create_pairing_code`), the https address phones reach Flit
//! at (`devices.public_url`, else this request's host) and the app's steps.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use flit_engine::ids::{DeviceId, TenantId};
use flit_engine::{Engine, PAIRING_CODE_TTL};

use crate::console::auth::{AdminViewer, TenantViewer, Viewer};
use crate::console::form::Fields;
use crate::console::page::{Chrome, Problem, render, when};
use crate::state::AppState;

const HERE: &str = "/console/devices";

pub struct Row {
    pub id: String,
    pub name: String,
    pub online: bool,
    pub queued: usize,
    pub sent_today: usize,
    pub stuck: usize,
    pub last_seen: String,
    pub paired: String,
}

/// A code just made, with what the phone needs with it.
pub struct Pairing {
    pub code: String,
    pub expires: String,
    pub seconds: u64,
}

#[derive(Template)]
#[template(path = "console/devices.html")]
struct DevicesPage {
    chrome: Chrome,
    rows: Vec<Row>,
    server_url: String,
    /// No `public_url`, and Flit serves plain http: phones need https in front of it.
    needs_https: bool,
    pairing: Option<Pairing>,
    /// Admins pair and unpair phones; members see them.
    admin: bool,
    notice: Option<&'static str>,
}

/// Where the app reaches Flit: `devices.public_url`, else the host this page was asked at,
/// always over https (the app speaks nothing else to a server on the network).
fn server_url(state: &AppState, headers: &HeaderMap) -> String {
    let base = match &state.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("flit.example");
            format!("https://{host}")
        }
    };
    format!("{base}/mobile/v1")
}

fn devices_page(
    state: &AppState,
    engine: &Engine,
    viewer: &Viewer,
    tenant: TenantId,
    headers: &HeaderMap,
) -> Result<DevicesPage, Problem> {
    let rows = engine
        .devices(tenant)?
        .into_iter()
        .map(|device| {
            let live = engine.device_state(device.id).unwrap_or_default();
            Row {
                id: device.id.to_string(),
                name: device.name,
                online: live.online,
                queued: live.queued,
                sent_today: live.sent_today,
                stuck: live.stuck,
                last_seen: live.last_seen.map(when).unwrap_or_else(|| "never".into()),
                paired: when(device.created_at),
            }
        })
        .collect();
    Ok(DevicesPage {
        chrome: Chrome::new(viewer, "Devices", HERE),
        rows,
        server_url: server_url(state, headers),
        needs_https: state.public_url.is_none() && !state.tls,
        pairing: None,
        admin: viewer.is_admin(),
        notice: None,
    })
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    Ok(render(&devices_page(
        &state,
        &state.engine,
        &viewer,
        tenant,
        &headers,
    )?))
}

/// Unpairs a phone: its credential stops working, and what it took and never reported fails
/// and is refunded (`Engine::delete_device`, as the API's `DELETE /api/v1/devices/{id}`).
pub async fn unpair(
    State(state): State<Arc<AppState>>,
    AdminViewer(viewer, tenant): AdminViewer,
    Path(device): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    Fields::checked(&viewer, &body)?;
    let not_found =
        || crate::console::page::problem(axum::http::StatusCode::NOT_FOUND, "No such phone.");
    let id: DeviceId = device.parse().map_err(|_| not_found())?;
    state.engine.delete_device(tenant, id).await?;
    let mut page = devices_page(&state, &state.engine, &viewer, tenant, &headers)?;
    page.notice = Some("The phone is unpaired.");
    Ok(render(&page))
}

/// A new one-time code, shown with the steps; it pairs one phone within a minute.
pub async fn pair(
    State(state): State<Arc<AppState>>,
    AdminViewer(viewer, tenant): AdminViewer,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    Fields::checked(&viewer, &body)?;
    let (code, expires) = state.engine.create_pairing_code(tenant)?;
    let mut page = devices_page(&state, &state.engine, &viewer, tenant, &headers)?;
    page.pairing = Some(Pairing {
        code,
        expires: when(expires),
        seconds: PAIRING_CODE_TTL.as_secs(),
    });
    Ok(render(&page))
}
