//! Registration and the phone's own record: `POST /mobile/v1/device` (a tenant's registration
//! token as `Bearer`, or a one-time `Code`) → 201 `{id, token, login, password}` at the top
//! level; `GET /mobile/v1/device` → `{device, externalIp}`; `PATCH /mobile/v1/device`
//! `{id, pushToken, simCards}` → 204; `GET /mobile/v1/user/code` (Basic `login:password`) → a
//! one-time code that pairs another phone with the same tenant; `PATCH /mobile/v1/user/password`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flit_engine::{DevicePatch, DeviceRecord, NewDevice, Pairing, SimCard};
use serde::{Deserialize, Serialize};

use super::{MobileFailure, Phone, mobile_error};
use crate::error::ApiError;
use crate::state::AppState;
use crate::timefmt::iso;

/// A SIM as the app describes it.
#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct SimCardDto {
    #[serde(default)]
    slot_index: i64,
    sim_number: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    carrier_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iccid: Option<String>,
}

impl SimCardDto {
    fn into_record(self) -> Result<SimCard, ApiError> {
        let slot_index = u8::try_from(self.slot_index)
            .ok()
            .filter(|slot| *slot < 8)
            .ok_or_else(|| ApiError::bad_request("invalid_sim", "`slotIndex` must be 0 to 7"))?;
        let sim_number = u8::try_from(self.sim_number)
            .ok()
            .filter(|sim| (1..=3).contains(sim))
            .ok_or_else(|| ApiError::bad_request("invalid_sim", "`simNumber` must be 1 to 3"))?;
        let text = |value: Option<String>| value.map(|v| v.chars().take(64).collect::<String>());
        Ok(SimCard {
            slot_index,
            sim_number,
            phone_number: text(self.phone_number),
            carrier_name: text(self.carrier_name),
            iccid: text(self.iccid),
        })
    }

    fn from_record(sim: &SimCard) -> SimCardDto {
        SimCardDto {
            slot_index: i64::from(sim.slot_index),
            sim_number: i64::from(sim.sim_number),
            phone_number: sim.phone_number.clone(),
            carrier_name: sim.carrier_name.clone(),
            iccid: sim.iccid.clone(),
        }
    }
}

fn sims(cards: Option<Vec<SimCardDto>>) -> Result<Option<Vec<SimCard>>, ApiError> {
    cards
        .map(|cards| {
            if cards.len() > 8 {
                return Err(ApiError::bad_request("invalid_sim", "at most 8 SIM cards"));
            }
            cards.into_iter().map(SimCardDto::into_record).collect()
        })
        .transpose()
}

/// What the app sends to register.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterBody {
    name: Option<String>,
    push_token: Option<String>,
    sim_cards: Option<Vec<SimCardDto>>,
}

/// What the app reads back: every field at the top level (no `login` crashes the app).
#[derive(Serialize)]
pub struct Registration {
    id: String,
    token: String,
    login: String,
    password: String,
}

/// Reads a JSON body; an empty body is `{}` (the app may register with no details).
fn json_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return crate::extract::parse_json(b"{}");
    }
    crate::extract::parse_json(body)
}

pub async fn register(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pairing = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(char::is_whitespace))
        .and_then(|(scheme, credential)| {
            let credential = credential.trim().to_string();
            if scheme.eq_ignore_ascii_case("bearer") {
                Some(Pairing::Token(credential))
            } else if scheme.eq_ignore_ascii_case("code") {
                Some(Pairing::Code(credential))
            } else {
                None
            }
        });
    let Some(pairing) = pairing else {
        return mobile_error(
            StatusCode::UNAUTHORIZED,
            "registration needs `Authorization: Bearer <registration token>` or `Code <code>`",
        );
    };
    match register_with(&state, &pairing, &body).await {
        Ok(Some(registration)) => (StatusCode::CREATED, Json(registration)).into_response(),
        Ok(None) => mobile_error(
            StatusCode::UNAUTHORIZED,
            "unknown registration token, or a code that is used up or expired",
        ),
        Err(failure) => failure.into_response(),
    }
}

async fn register_with(
    state: &AppState,
    pairing: &Pairing,
    body: &Bytes,
) -> Result<Option<Registration>, MobileFailure> {
    let body: RegisterBody = json_body(body)?;
    let new = NewDevice {
        name: body.name,
        push_token: body.push_token,
        sim_cards: sims(body.sim_cards)?.unwrap_or_default(),
    };
    if new
        .push_token
        .as_ref()
        .is_some_and(|token| token.len() > 256)
    {
        return Err(ApiError::bad_request(
            "invalid_push_token",
            "`pushToken` is at most 256 characters",
        )
        .into());
    }
    Ok(state
        .engine
        .register_device(pairing, new)
        .await?
        .map(|registered| Registration {
            id: registered.device.id.to_string(),
            token: registered.token,
            login: registered.device.login,
            password: registered.password,
        }))
}

/// The phone as the app reads it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceDto {
    id: String,
    name: String,
    created_at: String,
    updated_at: String,
    last_seen: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sim_cards: Vec<SimCardDto>,
}

impl DeviceDto {
    fn of(device: &DeviceRecord, last_seen: i64) -> DeviceDto {
        DeviceDto {
            id: device.id.to_string(),
            name: device.name.clone(),
            created_at: iso(device.created_at),
            updated_at: iso(device.updated_at),
            last_seen: iso(last_seen),
            sim_cards: device
                .sim_cards
                .iter()
                .map(SimCardDto::from_record)
                .collect(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceAnswer {
    device: DeviceDto,
    /// Where the phone's request came from, when the connection says.
    #[serde(skip_serializing_if = "Option::is_none")]
    external_ip: Option<String>,
}

pub async fn get_device(
    Extension(Phone(device)): Extension<Phone>,
    request: axum::extract::Request,
) -> Response {
    let external_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip().to_string());
    Json(DeviceAnswer {
        device: DeviceDto::of(&device, flit_engine::now_millis()),
        external_ip,
    })
    .into_response()
}

/// What the app sends to update itself.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchBody {
    id: String,
    /// Absent leaves it; `null` or `""` clears it.
    #[serde(default, deserialize_with = "present")]
    push_token: Option<Option<String>>,
    sim_cards: Option<Vec<SimCardDto>>,
}

/// Tells an absent field (`None`) from a `null` one (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

pub async fn patch_device(
    State(state): State<Arc<AppState>>,
    Extension(Phone(device)): Extension<Phone>,
    body: Bytes,
) -> Result<StatusCode, MobileFailure> {
    let body: PatchBody = json_body(&body)?;
    if body.id != device.id.to_string() {
        return Err(ApiError::forbidden("`id` is not this device's id").into());
    }
    if body
        .push_token
        .as_ref()
        .and_then(Option::as_ref)
        .is_some_and(|token| token.len() > 256)
    {
        return Err(ApiError::bad_request(
            "invalid_push_token",
            "`pushToken` is at most 256 characters",
        )
        .into());
    }
    state
        .engine
        .update_device(
            device.tenant,
            device.id,
            DevicePatch {
                push_token: body.push_token,
                sim_cards: sims(body.sim_cards)?,
                ..DevicePatch::default()
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserCode {
    code: String,
    valid_until: String,
}

/// `GET /mobile/v1/user/code` with `Authorization: Basic <login:password>` of a paired phone:
/// a one-time code that pairs another phone with the same tenant.
pub async fn user_code(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let device = basic_credentials(&headers)
        .and_then(|(login, password)| state.engine.authenticate_device_login(&login, &password));
    let Some(device) = device else {
        return mobile_error(StatusCode::UNAUTHORIZED, "unknown login or wrong password");
    };
    match state.engine.create_pairing_code(device.tenant) {
        Ok((code, expires)) => Json(UserCode {
            code,
            valid_until: iso(expires),
        })
        .into_response(),
        Err(error) => MobileFailure::from(error).into_response(),
    }
}

/// `login:password` from `Authorization: Basic`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use crate::base64::decode;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(decode(encoded.trim())?).ok()?;
    let (login, password) = decoded.split_once(':')?;
    Some((login.to_string(), password.to_string()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordBody {
    current_password: String,
    new_password: String,
}

pub async fn change_password(
    State(state): State<Arc<AppState>>,
    Extension(Phone(device)): Extension<Phone>,
    body: Bytes,
) -> Result<StatusCode, MobileFailure> {
    let body: PasswordBody = json_body(&body)?;
    if body.new_password.chars().count() < 14 {
        return Err(ApiError::bad_request(
            "invalid_password",
            "`newPassword` needs at least 14 characters",
        )
        .into());
    }
    if !state
        .engine
        .change_device_password(&device, &body.current_password, &body.new_password)
        .await?
    {
        return Err(ApiError::unauthorized("Invalid current password").into());
    }
    Ok(StatusCode::NO_CONTENT)
}
