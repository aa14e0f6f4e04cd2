//! A tenant's own phones (the device channel): the phone, how it authenticates, its SIMs and
//! its send limits, and the tokens a tenant pairs phones with.

use super::*;

/// A SIM of a phone, as the phone reports it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SimCard {
    /// 0-based physical slot.
    pub slot_index: u8,
    /// 1-based SIM number, as messages pin a SIM (`simNumber`, 1 to 3).
    pub sim_number: u8,
    pub phone_number: Option<String>,
    pub carrier_name: Option<String>,
    pub iccid: Option<String>,
}

/// How many SMS a phone may send, per period (0 = no limit). Carriers and Android cap a phone
/// to a few SMS a minute; Flit holds a phone to these and tells the phone in its settings.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceLimits {
    pub per_minute: u32,
    pub per_hour: u32,
    pub per_day: u32,
}

impl Default for DeviceLimits {
    fn default() -> Self {
        DeviceLimits {
            per_minute: 10,
            per_hour: 300,
            per_day: 2000,
        }
    }
}

/// One phone of a tenant.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DeviceRecord {
    pub id: DeviceId,
    pub tenant: TenantId,
    pub name: String,
    /// SHA-256 of the phone's own bearer token (the token is shown to the phone once).
    pub token_hash: [u8; 32],
    /// The login the app shows its user; with `password_hash`, the phone's other credential.
    pub login: String,
    pub password_hash: [u8; 32],
    /// The push token the phone registered (the app pulls on its own when it has one).
    pub push_token: Option<String>,
    pub sim_cards: Vec<SimCard>,
    pub limits: DeviceLimits,
    /// Signs what the phone posts to Flit (its inbound SMS webhooks): kept in clear, as Flit
    /// must compute the same HMAC; handed to the phone in its settings.
    pub signing_key: String,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

/// A reusable token a tenant gives its phones to register with.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RegistrationTokenRecord {
    pub tenant: TenantId,
    /// The last four characters, so a tenant can tell tokens apart.
    pub hint: String,
    pub created_at: UnixMillis,
}

/// Where a message must go when it is for the tenant's phones rather than a carrier.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceRoute {
    /// That phone only; `None`: whichever online phone of the tenant is least loaded.
    pub device: Option<DeviceId>,
    /// The SIM (1 to 3) the phone sends from; `None`: the phone's own choice.
    pub sim: Option<u8>,
    /// With no phone of the tenant online, its carriers take it (the tenant's
    /// `allow_device_failover` when it was sent; never for a message naming its phone).
    pub failover: bool,
}

/// The first form of [`DeviceRoute`] (before SIM pinning and failover), read once at start to
/// move a data dir's routes to the current table.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct DeviceRouteV1 {
    pub device: Option<DeviceId>,
}

/// A recipient's message handed to a phone: written before the phone's pull is answered, so
/// after a restart the recipient goes back to that phone only (which already has it, and
/// re-reports it rather than sending it twice) and a later report still finds it.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceHandover {
    pub device: DeviceId,
    pub at: UnixMillis,
}
