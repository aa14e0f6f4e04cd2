//! `/admin/v1/binds` and `/admin/v1/routes` (SPEC §8, §10): carrier binds and the routes
//! between them, managed at run time; a bind's answer carries its live state.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use flit_engine::BindRecord;
use flit_engine::ids::{BindId, RouteId, TenantId};
use flit_engine::{BindSnapshot, RouteRecord};
use flit_engine::{NewBind, NewRoute};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::{JsonBody, PathParam};
use crate::native::ok;
use crate::state::AppState;
use crate::timefmt::iso;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewBindBody {
    // `name`, `host`, `port` and `systemId` are `Option`s so that a missing one gets the
    // native error shape from the handler; `value_type` shows them as required.
    #[schema(value_type = String, min_length = 1)]
    name: Option<String>,
    /// The SMSC's host name or address; an unreachable one is retried in the background.
    #[schema(value_type = String, min_length = 1)]
    host: Option<String>,
    #[schema(value_type = u16, minimum = 1, maximum = 65535)]
    port: Option<u16>,
    /// 1 to 15 bytes (SMPP 3.4).
    #[schema(value_type = String, min_length = 1, max_length = 15)]
    system_id: Option<String>,
    /// At most 8 bytes (SMPP 3.4).
    #[schema(max_length = 8)]
    password: Option<String>,
    /// At most 12 bytes (SMPP 3.4).
    #[schema(max_length = 12)]
    system_type: Option<String>,
    #[schema(schema_with = bind_mode_schema)]
    bind_mode: Option<String>,
    /// Submits in flight at once (default 50).
    #[schema(minimum = 1, maximum = 1000)]
    window_size: Option<u32>,
    /// Submits per second, 0 = unlimited (the default).
    tps: Option<u32>,
    #[schema(schema_with = gsm7_schema)]
    gsm7: Option<String>,
    #[schema(schema_with = concatenation_schema)]
    concatenation: Option<String>,
    /// The tenant that owns inbound messages arriving on this bind.
    tenant_id: Option<String>,
}

fn bind_mode_schema() -> utoipa::openapi::Object {
    crate::openapi::string_enum(
        "One bind_transceiver session, or a transmitter and a receiver (default `transceiver`)",
        &["transceiver", "transmitter_receiver"],
    )
}

fn gsm7_schema() -> utoipa::openapi::Object {
    crate::openapi::string_enum(
        "How GSM-7 text goes on the wire, as data_coding 0 (default `unpacked`)",
        &["unpacked", "packed", "latin1"],
    )
}

fn concatenation_schema() -> utoipa::openapi::Object {
    crate::openapi::string_enum(
        "How long messages are split (default `udh`)",
        &["udh", "sar", "payload"],
    )
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BindData {
    id: String,
    name: String,
    host: String,
    port: u16,
    system_id: String,
    system_type: String,
    bind_mode: String,
    window_size: u32,
    tps: u32,
    gsm7: String,
    concatenation: String,
    tenant_id: Option<String>,
    created_at: String,
    state: BindStateData,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BindStateData {
    bound: bool,
    in_flight: u64,
    queued: u64,
    submitted: u64,
    accepted: u64,
    rejected: u64,
    receipts: u64,
    /// Every error counted below, added up.
    errors: u64,
    /// Successful binds, the first one included.
    binds: u64,
    /// Binds after the first: how often the bind came back.
    reconnects: u64,
    /// Bound sessions lost (reset, closed by the SMSC, dead link).
    disconnects: u64,
    /// Connect or bind attempts that failed without an SMSC answer.
    connect_failures: u64,
    /// Binds the SMSC refused (wrong password, unknown system_id, ...).
    bind_refusals: u64,
    /// Submits whose `submit_sm_resp` did not come in time (sent again).
    response_timeouts: u64,
    /// Submits answered with `generic_nack` (sent again).
    generic_nacks: u64,
    /// PDUs from the SMSC that could not be decoded and were skipped.
    malformed_pdus: u64,
    /// True while submits are paused because the SMSC throttles.
    throttled: bool,
    /// When the current or last throttle pause ends.
    paused_until: Option<String>,
    /// Length of the current or last throttle pause, in milliseconds.
    last_pause_ms: Option<u64>,
    /// Submits answered 0x58 (throttled) or 0x14 (queue full).
    throttled_submits: u64,
    /// Pauses those answers caused (a window's worth of them is one pause).
    throttle_pauses: u64,
    last_error: Option<BindErrorData>,
}

/// The last thing that went wrong on a bind.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BindErrorData {
    /// `connect_failed`, `bind_refused`, `disconnected`, `response_timeout`, `generic_nack` or
    /// `malformed_pdu`.
    kind: String,
    /// E.g. `bind refused: invalid password (0x0000000E)`.
    message: String,
    /// The SMPP command_status, as `0x0000000E`, when the SMSC gave one.
    code: Option<String>,
    at: String,
}

fn unix_millis(at: std::time::SystemTime) -> i64 {
    at.duration_since(std::time::UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    })
}

fn bind_data(record: BindRecord, state: BindSnapshot) -> BindData {
    BindData {
        id: record.id.to_string(),
        name: record.name,
        host: record.host,
        port: record.port,
        system_id: record.system_id,
        system_type: record.system_type,
        bind_mode: record.bind_mode.to_string(),
        window_size: record.window_size,
        tps: record.tps,
        gsm7: record.gsm7.to_string(),
        concatenation: record.concatenation.to_string(),
        tenant_id: record.tenant.map(|tenant| tenant.to_string()),
        created_at: iso(record.created_at),
        state: BindStateData {
            bound: state.bound,
            in_flight: state.in_flight,
            queued: state.queued,
            submitted: state.submitted,
            accepted: state.accepted,
            rejected: state.rejected,
            receipts: state.receipts,
            errors: state.errors,
            binds: state.binds,
            reconnects: state.binds.saturating_sub(1),
            disconnects: state.disconnects,
            connect_failures: state.connect_failures,
            bind_refusals: state.bind_refusals,
            response_timeouts: state.response_timeouts,
            generic_nacks: state.generic_nacks,
            malformed_pdus: state.malformed_pdus,
            throttled: state
                .paused_until
                .is_some_and(|until| until > std::time::SystemTime::now()),
            paused_until: state.paused_until.map(|until| iso(unix_millis(until))),
            last_pause_ms: state
                .last_pause
                .map(|pause| u64::try_from(pause.as_millis()).unwrap_or(u64::MAX)),
            throttled_submits: state.throttled,
            throttle_pauses: state.throttle_pauses,
            last_error: state.last_error.map(|error| BindErrorData {
                kind: error.kind.label().to_string(),
                message: error.message,
                code: error.command_status.map(|code| format!("0x{code:08X}")),
                at: iso(unix_millis(error.at)),
            }),
        },
    }
}

#[utoipa::path(
    post,
    path = "/admin/v1/binds",
    tag = "Carriers",
    summary = "Add an SMPP bind (started at once)",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    request_body(
        content = NewBindBody,
        content_type = "application/json",
        example = json!({"name": "carrier-a", "host": "smsc.example", "port": 2775, "systemId": "acme",
                         "password": "secret", "bindMode": "transceiver", "windowSize": 50, "tps": 0,
                         "gsm7": "unpacked", "concatenation": "udh"}),
    ),
    responses(
        (status = 201, description = "Success", body = crate::native::Envelope<BindData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with an existing object", body = crate::error::ErrorBody),
    ),
)]
pub async fn create_bind(
    State(state): State<Arc<AppState>>,
    body: JsonBody<NewBindBody>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.value;
    let required = |value: Option<String>, field: &str| {
        value
            .ok_or_else(|| ApiError::bad_request("missing_field", format!("`{field}` is required")))
    };
    let tenant = match body.tenant_id {
        Some(raw) => Some(
            raw.parse::<TenantId>()
                .map_err(|_| ApiError::not_found("tenant"))?,
        ),
        None => None,
    };
    let record = state
        .engine
        .create_bind(NewBind {
            name: required(body.name, "name")?,
            host: required(body.host, "host")?,
            port: body
                .port
                .ok_or_else(|| ApiError::bad_request("missing_field", "`port` is required"))?,
            system_id: required(body.system_id, "systemId")?,
            password: body.password.unwrap_or_default(),
            system_type: body.system_type,
            bind_mode: setting(
                body.bind_mode,
                "invalid_bind_mode",
                "`bindMode` must be `transceiver` or `transmitter_receiver`",
            )?,
            window_size: body.window_size,
            tps: body.tps,
            gsm7: setting(
                body.gsm7,
                "invalid_gsm7",
                "`gsm7` must be `unpacked`, `packed` or `latin1`",
            )?,
            concatenation: setting(
                body.concatenation,
                "invalid_concatenation",
                "`concatenation` must be `udh`, `sar` or `payload`",
            )?,
            tenant,
        })
        .await?;
    let live = state.engine.bind_state(record.id);
    Ok((StatusCode::CREATED, ok(bind_data(record, live))))
}

#[derive(Serialize, utoipa::ToSchema)]
struct BindsData {
    binds: Vec<BindData>,
}

#[utoipa::path(
    get,
    path = "/admin/v1/binds",
    tag = "Carriers",
    summary = "List SMPP binds with live state",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<BindsData>),
    ),
)]
pub async fn list_binds(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    let binds = state
        .engine
        .bind_records()?
        .into_iter()
        .map(|(record, live)| bind_data(record, live))
        .collect();
    Ok(ok(BindsData { binds }))
}

#[utoipa::path(
    get,
    path = "/admin/v1/binds/{bind_id}",
    tag = "Carriers",
    summary = "Get an SMPP bind with live state",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("bind_id" = String, Path, description = "The bind's id"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<BindData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn get_bind(
    State(state): State<Arc<AppState>>,
    PathParam(bind_id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = bind_id_param(&bind_id)?;
    let record = state
        .engine
        .bind_record(id)?
        .ok_or_else(|| ApiError::not_found("bind"))?;
    Ok(ok(bind_data(record, state.engine.bind_state(id))))
}

#[derive(Serialize, utoipa::ToSchema)]
struct DeletedData {
    id: String,
    deleted: bool,
}

#[utoipa::path(
    delete,
    path = "/admin/v1/binds/{bind_id}",
    tag = "Carriers",
    summary = "Remove an SMPP bind (unbound at once)",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("bind_id" = String, Path, description = "The bind's id"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<DeletedData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn delete_bind(
    State(state): State<Arc<AppState>>,
    PathParam(bind_id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = bind_id_param(&bind_id)?;
    state.engine.remove_bind(id).await?;
    Ok(ok(DeletedData {
        id: id.to_string(),
        deleted: true,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewRouteBody {
    /// Leading digits of the international number, up to 15 (`""`, the default, matches
    /// every number).
    #[schema(pattern = r"^\+?[0-9]{0,15}$")]
    prefix: Option<String>,
    /// The binds this route sends through; at least one.
    // An `Option` so that a missing one gets the native error shape from the handler.
    #[schema(value_type = Vec<String>, min_items = 1)]
    bind_ids: Option<Vec<String>>,
    /// Higher wins among routes of the same prefix length (default 0).
    priority: Option<i32>,
    /// One weight per bind, for sharing traffic between them (default: equal).
    weights: Option<Vec<u32>>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteData {
    id: String,
    prefix: String,
    bind_ids: Vec<String>,
    priority: i32,
    weights: Vec<u32>,
}

impl From<RouteRecord> for RouteData {
    fn from(route: RouteRecord) -> Self {
        RouteData {
            id: route.id.to_string(),
            prefix: route.prefix,
            bind_ids: route.binds.iter().map(ToString::to_string).collect(),
            priority: route.priority,
            weights: route.weights,
        }
    }
}

#[utoipa::path(
    post,
    path = "/admin/v1/routes",
    tag = "Carriers",
    summary = "Add a route (destination prefix to binds, priority, weights)",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    request_body(
        content = NewRouteBody,
        content_type = "application/json",
        example = json!({"prefix": "233", "bindIds": ["bnd_01jx4m3k9v8q2r6t5w7y0z1a2b"], "priority": 10}),
    ),
    responses(
        (status = 201, description = "Success", body = crate::native::Envelope<RouteData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with an existing object", body = crate::error::ErrorBody),
    ),
)]
pub async fn create_route(
    State(state): State<Arc<AppState>>,
    body: JsonBody<NewRouteBody>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.value;
    let binds = body
        .bind_ids
        .unwrap_or_default()
        .iter()
        .map(|raw| bind_id_param(raw))
        .collect::<Result<Vec<_>, _>>()?;
    let route = state
        .engine
        .create_route(NewRoute {
            prefix: body.prefix.unwrap_or_default(),
            binds,
            priority: body.priority.unwrap_or(0),
            weights: body.weights.unwrap_or_default(),
        })
        .await?;
    Ok((StatusCode::CREATED, ok(RouteData::from(route))))
}

#[derive(Serialize, utoipa::ToSchema)]
struct RoutesData {
    routes: Vec<RouteData>,
}

#[utoipa::path(
    get,
    path = "/admin/v1/routes",
    tag = "Carriers",
    summary = "List routes",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<RoutesData>),
    ),
)]
pub async fn list_routes(
    State(state): State<Arc<AppState>>,
) -> Result<impl IntoResponse, ApiError> {
    let routes = state
        .engine
        .routes()?
        .into_iter()
        .map(RouteData::from)
        .collect();
    Ok(ok(RoutesData { routes }))
}

#[utoipa::path(
    delete,
    path = "/admin/v1/routes/{route_id}",
    tag = "Carriers",
    summary = "Delete a route",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("route_id" = String, Path, description = "The route's id"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<DeletedData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn delete_route(
    State(state): State<Arc<AppState>>,
    PathParam(route_id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id: RouteId = route_id.parse().map_err(|_| ApiError::not_found("route"))?;
    state.engine.remove_route(id).await?;
    Ok(ok(DeletedData {
        id: id.to_string(),
        deleted: true,
    }))
}

fn bind_id_param(raw: &str) -> Result<BindId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("bind"))
}

/// A bind setting by its name; absent takes the engine's default.
fn setting<T: std::str::FromStr>(
    raw: Option<String>,
    code: &'static str,
    message: &'static str,
) -> Result<Option<T>, ApiError> {
    raw.map(|raw| {
        raw.parse()
            .map_err(|_| ApiError::bad_request(code, message))
    })
    .transpose()
}
