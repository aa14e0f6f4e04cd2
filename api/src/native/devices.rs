//! `/devices`: a tenant's own phones (the SMS Gate app in "private server" mode): a reusable
//! registration token and a one-time pairing code to pair one, the list with each phone's
//! state, and unpairing. The phones themselves speak `/mobile/v1` (`crate::mobile`).

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use flit_engine::ids::DeviceId;
use flit_engine::{DeviceLimits, DevicePatch, DeviceRecord, DeviceState};
use serde::{Deserialize, Serialize};

use super::{DeletedData, blocking, ok};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonBody, PathParam};
use crate::state::AppState;
use crate::timefmt::iso;

const ANSWERS: &str = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.";

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationTokenData {
    /// Give it to the app (Settings → Cloud server → private server: the server URL and this
    /// token). Shown once; reusable by every phone of the tenant.
    token: String,
    created_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PairingCodeData {
    /// Type it into the app instead of a token; works once, until `expiresAt`.
    code: String,
    expires_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SimData {
    sim_number: u8,
    phone_number: Option<String>,
    carrier_name: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceData {
    id: String,
    name: String,
    login: String,
    sims: Vec<SimData>,
    /// Whether the phone registered a push token (it then pulls on its own every ~15 min
    /// unless the app is set to "SSE only").
    push: bool,
    limits: LimitsData,
    /// Its event stream is open, or it pulled within the offline window
    /// (`devices.offline_after_secs`, 20 minutes by default).
    online: bool,
    last_seen: Option<String>,
    /// Messages waiting for it: not yet pulled, or pulled and not yet reported.
    queued: usize,
    /// Pulled and not finished.
    in_flight: usize,
    /// Pulled and not sent within the stuck time (`devices.stuck_after_secs`, 10 minutes by
    /// default): the phone may be off, out of credit or blocked by Android.
    stuck: usize,
    /// Handed to it in the last 24 hours.
    sent_today: usize,
    created_at: String,
}

/// How many SMS the phone may send per minute, hour and day (0 = no limit).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitsData {
    per_minute: u32,
    per_hour: u32,
    per_day: u32,
}

/// A change to a phone; absent fields stay as they are.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceUpdateBody {
    name: Option<String>,
    limits: Option<DeviceLimitsBody>,
}

/// New send limits; absent ones stay as they are, 0 lifts one.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceLimitsBody {
    per_minute: Option<u32>,
    per_hour: Option<u32>,
    per_day: Option<u32>,
}

impl DeviceData {
    fn new(device: DeviceRecord, state: Option<DeviceState>) -> Self {
        // A phone whose channel is not running is offline with nothing waiting.
        let state = state.unwrap_or_default();
        DeviceData {
            online: state.online,
            last_seen: crate::timefmt::iso_opt(state.last_seen),
            queued: state.queued,
            in_flight: state.in_flight,
            stuck: state.stuck,
            sent_today: state.sent_today,
            id: device.id.to_string(),
            name: device.name,
            login: device.login,
            sims: device
                .sim_cards
                .into_iter()
                .map(|sim| SimData {
                    sim_number: sim.sim_number,
                    phone_number: sim.phone_number,
                    carrier_name: sim.carrier_name,
                })
                .collect(),
            push: device.push_token.is_some(),
            limits: LimitsData {
                per_minute: device.limits.per_minute,
                per_hour: device.limits.per_hour,
                per_day: device.limits.per_day,
            },
            created_at: iso(device.created_at),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DevicesData {
    devices: Vec<DeviceData>,
}

#[utoipa::path(
    post,
    path = "/api/v1/devices/registration-token",
    operation_id = "create_device_registration_token",
    tag = "Devices",
    summary = "A reusable token phones register with (shown once)",
    description = ANSWERS,
    responses((status = 201, description = "Created", body = crate::native::Envelope<RegistrationTokenData>)),
)]
pub async fn registration_token(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<impl IntoResponse, ApiError> {
    let (record, token) = state
        .engine
        .create_registration_token(caller.key.tenant)
        .await?;
    Ok((
        StatusCode::CREATED,
        ok(RegistrationTokenData {
            token,
            created_at: iso(record.created_at),
        }),
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/devices/pairing-code",
    operation_id = "create_device_pairing_code",
    tag = "Devices",
    summary = "A one-time code that pairs one phone within a minute",
    description = ANSWERS,
    responses((status = 201, description = "Created", body = crate::native::Envelope<PairingCodeData>)),
)]
pub async fn pairing_code(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<impl IntoResponse, ApiError> {
    let (code, expires) = state.engine.create_pairing_code(caller.key.tenant)?;
    Ok((
        StatusCode::CREATED,
        ok(PairingCodeData {
            code,
            expires_at: iso(expires),
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/devices",
    operation_id = "list_devices",
    tag = "Devices",
    summary = "The tenant's paired phones",
    description = ANSWERS,
    responses((status = 200, description = "Success", body = crate::native::Envelope<DevicesData>)),
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<impl IntoResponse, ApiError> {
    let engine = state.engine.clone();
    let devices = blocking(move || engine.devices(caller.key.tenant)).await?;
    Ok(ok(DevicesData {
        devices: devices
            .into_iter()
            .map(|device| {
                let live = state.engine.device_state(device.id);
                DeviceData::new(device, live)
            })
            .collect(),
    }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/devices/{device_id}",
    operation_id = "delete_device",
    tag = "Devices",
    summary = "Unpair a phone (its token stops working)",
    description = ANSWERS,
    params(("device_id" = String, Path, description = "The device's id")),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<DeletedData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    PathParam(device_id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id: DeviceId = device_id
        .parse()
        .map_err(|_| ApiError::not_found("device"))?;
    state.engine.delete_device(caller.key.tenant, id).await?;
    Ok(ok(DeletedData::new(id.to_string())))
}

#[utoipa::path(
    patch,
    path = "/api/v1/devices/{device_id}",
    operation_id = "update_device",
    tag = "Devices",
    summary = "Rename a phone or change its send limits (they hold at once)",
    description = ANSWERS,
    params(("device_id" = String, Path, description = "The device's id")),
    request_body(
        content = DeviceUpdateBody,
        content_type = "application/json",
        example = json!({"limits": {"perMinute": 5, "perHour": 200, "perDay": 1000}}),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<DeviceData>),
        (status = 400, description = "Bad input", body = crate::error::ErrorBody),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn update(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    PathParam(device_id): PathParam<String>,
    body: JsonBody<DeviceUpdateBody>,
) -> Result<impl IntoResponse, ApiError> {
    let id: DeviceId = device_id
        .parse()
        .map_err(|_| ApiError::not_found("device"))?;
    let tenant = caller.key.tenant;
    let body = body.value;
    let limits = match body.limits {
        Some(change) => {
            let now = state.engine.device(tenant, id)?.limits;
            Some(DeviceLimits {
                per_minute: change.per_minute.unwrap_or(now.per_minute),
                per_hour: change.per_hour.unwrap_or(now.per_hour),
                per_day: change.per_day.unwrap_or(now.per_day),
            })
        }
        None => None,
    };
    let patch = DevicePatch {
        name: body.name,
        limits,
        ..DevicePatch::default()
    };
    let device = state.engine.update_device(tenant, id, patch).await?;
    let live = state.engine.device_state(device.id);
    Ok(ok(DeviceData::new(device, live)))
}
