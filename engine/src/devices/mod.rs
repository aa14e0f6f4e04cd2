//! A tenant's own phones: pairing (a reusable registration token, or a one-time code valid a
//! minute), registration, the phone's own credentials (a bearer token, looked up by its hash in
//! memory as API keys are), and the operations on a phone's record. `channel.rs` runs each
//! phone as a channel (the session itself is `channel/device.rs`).

pub mod channel;
pub mod inbound;

use std::time::Duration;

use dashmap::DashMap;
use flit_storage::Batch;
use rand::Rng;

use crate::engine::Engine;
use crate::error::{EngineError, Invalid, Missing};
use crate::ids::{DeviceId, TenantId};
use crate::secrets;
use crate::store::records::{
    DeviceLimits, DeviceRecord, RegistrationTokenRecord, SimCard, UnixMillis,
};
use crate::store::tables;

/// How long a pairing code stays valid.
pub const PAIRING_CODE_TTL: Duration = Duration::from_secs(60);
/// Characters of a pairing code: no 0/O or 1/I, so it can be read off a screen.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const CODE_LENGTH: usize = 8;
/// Longest device name kept.
pub const MAX_DEVICE_NAME_CHARS: usize = 100;
/// Phones one tenant may pair.
pub const MAX_DEVICES: usize = 500;

/// Who the phones are, in memory: every live phone by the hash of its token, the live
/// registration tokens, and the pairing codes not yet used or expired.
#[derive(Default)]
pub(crate) struct DevicesShared {
    by_token: DashMap<[u8; 32], DeviceRecord>,
    registration: DashMap<[u8; 32], TenantId>,
    codes: DashMap<String, (TenantId, UnixMillis)>,
    /// Each paired phone's live link, shared by its channel and its routes.
    pub(crate) links: DashMap<DeviceId, std::sync::Arc<crate::channel::device::DeviceLink>>,
    /// Held while a phone registers, so that the count of a tenant's phones and the new one's
    /// record are one step (600 phones registering at once stay at the cap of 500).
    registering: tokio::sync::Mutex<()>,
}

/// How a phone proves which tenant it pairs with.
#[derive(Clone, Debug)]
pub enum Pairing {
    /// `Authorization: Bearer <registration token>`.
    Token(String),
    /// `Authorization: Code <one-time code>`.
    Code(String),
}

/// What a phone says about itself when it registers or updates.
#[derive(Clone, Debug, Default)]
pub struct NewDevice {
    pub name: Option<String>,
    pub push_token: Option<String>,
    pub sim_cards: Vec<SimCard>,
}

/// A change a phone makes to its record; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct DevicePatch {
    pub name: Option<String>,
    /// `Some(None)` clears the push token (the app sends `pushToken: null`).
    pub push_token: Option<Option<String>>,
    pub sim_cards: Option<Vec<SimCard>>,
    /// The tenant's own change: how much the phone may send.
    pub limits: Option<DeviceLimits>,
}

/// A phone just registered, with the credentials it is shown once.
#[derive(Clone, Debug)]
pub struct Registered {
    pub device: DeviceRecord,
    pub token: String,
    pub password: String,
}

impl Engine {
    /// Loads the phones and registration tokens, and starts each phone's channel (at start,
    /// after dispatch).
    pub(crate) async fn load_devices(&self) -> Result<(), EngineError> {
        self.move_v1_routes().await?;
        for device in tables::DEVICES.values(self.store(), &())? {
            self.start_device_channel(&device).await?;
            self.devices_shared()
                .by_token
                .insert(device.token_hash, device);
        }
        for (key, value) in self
            .store()
            .scan(&tables::REGISTRATION_TOKENS.scan(&()))?
            .items
        {
            if let Ok(hash) = <[u8; 32]>::try_from(key.as_slice()) {
                let record = tables::REGISTRATION_TOKENS.decode(&value)?;
                self.devices_shared()
                    .registration
                    .insert(hash, record.tenant);
            }
        }
        self.restore_handovers()
    }

    /// Moves the device routes of the first table form (before SIM pinning and failover) to
    /// the current one, in one durable batch.
    async fn move_v1_routes(&self) -> Result<(), EngineError> {
        let old = self
            .store()
            .scan(&tables::MESSAGE_ROUTES_V1.scan(&()))?
            .items;
        if old.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::with_capacity(old.len() * 2);
        for (key, value) in &old {
            let Ok(bytes) = <[u8; 16]>::try_from(key.as_slice()) else {
                continue;
            };
            let message = crate::ids::MessageId::from_bytes(bytes);
            let route = tables::MESSAGE_ROUTES_V1.decode(value)?;
            let route = crate::store::records::DeviceRoute {
                device: route.device,
                ..Default::default()
            };
            tables::DEVICE_ROUTES.put(&mut batch, &message, &route);
            tables::MESSAGE_ROUTES_V1.delete(&mut batch, &message);
        }
        self.store().commit(batch).await?;
        tracing::info!(
            routes = old.len(),
            "moved device routes to their current form"
        );
        Ok(())
    }

    /// A new registration token for `tenant`'s phones, shown once; reusable (the app keeps it
    /// and registers again with it when the server no longer knows its device).
    pub async fn create_registration_token(
        &self,
        tenant: TenantId,
    ) -> Result<(RegistrationTokenRecord, String), EngineError> {
        self.entry(tenant)?;
        let token = secrets::generate_secret("flt_dev_");
        let hash = secrets::sha256(token.as_bytes());
        let record = RegistrationTokenRecord {
            tenant,
            hint: secrets::hint(&token),
            created_at: self.clock().now_millis(),
        };
        let mut batch = Batch::new();
        tables::REGISTRATION_TOKENS.put(&mut batch, &hash, &record);
        self.store().commit(batch).await?;
        self.devices_shared().registration.insert(hash, tenant);
        Ok((record, token))
    }

    /// A one-time code that pairs one phone with `tenant` within [`PAIRING_CODE_TTL`].
    pub fn create_pairing_code(
        &self,
        tenant: TenantId,
    ) -> Result<(String, UnixMillis), EngineError> {
        self.entry(tenant)?;
        let now = self.clock().now_millis();
        let shared = self.devices_shared();
        shared.codes.retain(|_, (_, expires)| *expires > now);
        let mut rng = rand::rng();
        let code: String = (0..CODE_LENGTH)
            .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
            .collect();
        let expires = now + PAIRING_CODE_TTL.as_millis() as i64;
        shared.codes.insert(code.clone(), (tenant, expires));
        Ok((code, expires))
    }

    /// The tenant a pairing credential stands for (a code is used up by this).
    fn pairing_tenant(&self, pairing: &Pairing) -> Option<TenantId> {
        let shared = self.devices_shared();
        match pairing {
            Pairing::Token(token) => shared
                .registration
                .get(&secrets::sha256(token.as_bytes()))
                .map(|tenant| *tenant),
            Pairing::Code(code) => {
                let (_, (tenant, expires)) =
                    shared.codes.remove(&code.trim().to_ascii_uppercase())?;
                (expires > self.clock().now_millis()).then_some(tenant)
            }
        }
    }

    /// Registers a phone of the tenant `pairing` stands for; `None` when it stands for none
    /// (an unknown or revoked token, an unknown, used or expired code).
    pub async fn register_device(
        &self,
        pairing: &Pairing,
        new: NewDevice,
    ) -> Result<Option<Registered>, EngineError> {
        let Some(tenant) = self.pairing_tenant(pairing) else {
            return Ok(None);
        };
        if self.is_suspended(tenant) {
            return Err(EngineError::Suspended);
        }
        let _one_at_a_time = self.devices_shared().registering.lock().await;
        if tables::DEVICES.count(self.store(), &tenant)? >= MAX_DEVICES as u64 {
            return Err(Invalid::TooManyDevices { max: MAX_DEVICES }.into());
        }
        let name = device_name(new.name)?;
        let token = secrets::generate_secret("flt_phone_");
        let password = secrets::generate_secret("");
        let id = DeviceId::new();
        let now = self.clock().now_millis();
        let device = DeviceRecord {
            id,
            tenant,
            name: name.unwrap_or_else(|| format!("Phone {}", &id.to_string()[4..10])),
            token_hash: secrets::sha256(token.as_bytes()),
            login: login_of(id),
            password_hash: secrets::sha256(password.as_bytes()),
            push_token: new.push_token.filter(|token| !token.is_empty()),
            sim_cards: new.sim_cards,
            limits: DeviceLimits::default(),
            signing_key: secrets::generate_secret("whsk_"),
            created_at: now,
            updated_at: now,
        };
        let mut batch = Batch::new();
        tables::DEVICES.put(&mut batch, &(tenant, id), &device);
        self.store().commit(batch).await?;
        self.start_device_channel(&device).await?;
        self.devices_shared()
            .by_token
            .insert(device.token_hash, device.clone());
        Ok(Some(Registered {
            device,
            token,
            password,
        }))
    }

    /// The live phone whose token this is.
    pub fn authenticate_device(&self, token: &str) -> Option<DeviceRecord> {
        self.devices_shared()
            .by_token
            .get(&secrets::sha256(token.as_bytes()))
            .map(|device| device.clone())
    }

    /// The live phone with this login and password (the app's other credential).
    pub fn authenticate_device_login(&self, login: &str, password: &str) -> Option<DeviceRecord> {
        let device = self
            .devices_shared()
            .by_token
            .iter()
            .find(|device| device.login.eq_ignore_ascii_case(login))
            .map(|device| device.clone())?;
        secrets::secret_matches(password.as_bytes(), &device.password_hash).then_some(device)
    }

    /// Changes a phone's password; `false` when `current` is not its password.
    pub async fn change_device_password(
        &self,
        device: &DeviceRecord,
        current: &str,
        new: &str,
    ) -> Result<bool, EngineError> {
        let mut record = self.device(device.tenant, device.id)?;
        if !secrets::constant_time_eq(&record.password_hash, &secrets::sha256(current.as_bytes())) {
            return Ok(false);
        }
        record.password_hash = secrets::sha256(new.as_bytes());
        record.updated_at = self.clock().now_millis();
        let mut batch = Batch::new();
        tables::DEVICES.put(&mut batch, &(record.tenant, record.id), &record);
        self.store().commit(batch).await?;
        self.devices_shared()
            .by_token
            .insert(record.token_hash, record);
        Ok(true)
    }

    /// A tenant's phones, oldest first.
    pub fn devices(&self, tenant: TenantId) -> Result<Vec<DeviceRecord>, EngineError> {
        Ok(tables::DEVICES.values(self.store(), &tenant)?)
    }

    pub fn device(&self, tenant: TenantId, id: DeviceId) -> Result<DeviceRecord, EngineError> {
        tables::DEVICES
            .get(self.store(), &(tenant, id))?
            .ok_or_else(|| Missing::Device.into())
    }

    /// Changes a phone's record: what the phone says about itself, or what its tenant sets
    /// (its name, its limits). New limits hold at once and the phone is told to read its
    /// settings again.
    pub async fn update_device(
        &self,
        tenant: TenantId,
        id: DeviceId,
        patch: DevicePatch,
    ) -> Result<DeviceRecord, EngineError> {
        let mut record = self.device(tenant, id)?;
        if let Some(name) = device_name(patch.name)? {
            record.name = name;
        }
        if let Some(limits) = patch.limits {
            check_limits(&limits)?;
            record.limits = limits;
        }
        if let Some(push_token) = patch.push_token {
            record.push_token = push_token.filter(|token| !token.is_empty());
        }
        if let Some(sims) = patch.sim_cards {
            record.sim_cards = sims;
        }
        record.updated_at = self.clock().now_millis();
        let mut batch = Batch::new();
        tables::DEVICES.put(&mut batch, &(record.tenant, record.id), &record);
        self.store().commit(batch).await?;
        self.devices_shared()
            .by_token
            .insert(record.token_hash, record.clone());
        if patch.limits.is_some() {
            self.device_limits_changed(&record);
        }
        Ok(record)
    }

    /// Retires every phone of a tenant being deleted: their tokens, registration tokens and
    /// pairing codes stop working, and their channels stop (what they held is dropped, the
    /// tenant's work being withdrawn). Answers the phones, whose records are removed with the
    /// tenant's.
    pub(crate) async fn forget_tenant_devices(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<DeviceId>, EngineError> {
        let shared = self.devices_shared();
        shared.registration.retain(|_, owner| *owner != tenant);
        shared.codes.retain(|_, (owner, _)| *owner != tenant);
        let devices = self.devices(tenant)?;
        for device in &devices {
            shared.by_token.remove(&device.token_hash);
            self.stop_device_channel(device.id).await;
        }
        Ok(devices.into_iter().map(|device| device.id).collect())
    }

    /// Unpairs a phone: its token answers 401 from now on (so the app registers again if its
    /// user still wants it to send).
    pub async fn delete_device(&self, tenant: TenantId, id: DeviceId) -> Result<(), EngineError> {
        let device = self.device(tenant, id)?;
        self.devices_shared().by_token.remove(&device.token_hash);
        let mut batch = Batch::new();
        tables::DEVICES.delete(&mut batch, &(tenant, id));
        self.store().commit(batch).await?;
        self.stop_device_channel(id).await;
        Ok(())
    }
}

/// A device name as given: trimmed, at most [`MAX_DEVICE_NAME_CHARS`]; `None` if absent or
/// blank.
fn device_name(name: Option<String>) -> Result<Option<String>, Invalid> {
    let Some(name) = name.map(|name| name.trim().to_string()) else {
        return Ok(None);
    };
    if name.is_empty() {
        return Ok(None);
    }
    if name.chars().count() > MAX_DEVICE_NAME_CHARS {
        return Err(Invalid::DeviceName {
            max: MAX_DEVICE_NAME_CHARS,
        });
    }
    Ok(Some(name))
}

/// The most a limit may be (per minute, hour and day alike): far above what any phone sends,
/// low enough that a typo shows.
pub const MAX_DEVICE_LIMIT: u32 = 1_000_000;

fn check_limits(limits: &DeviceLimits) -> Result<(), Invalid> {
    let over = [limits.per_minute, limits.per_hour, limits.per_day]
        .into_iter()
        .any(|limit| limit > MAX_DEVICE_LIMIT);
    if over {
        return Err(Invalid::DeviceLimits {
            max: MAX_DEVICE_LIMIT,
        });
    }
    Ok(())
}

/// The login the app shows for a phone: its id's random tail, short enough to type.
fn login_of(id: DeviceId) -> String {
    let text = id.to_string();
    text[text.len() - 10..].to_ascii_lowercase()
}
