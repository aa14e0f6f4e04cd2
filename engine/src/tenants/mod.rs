//! Tenants: the registry the engine keeps in memory (record, number rules, actor, sender IDs),
//! their actor (the single writer of a balance and ledger), credits, API keys and sender IDs.

pub(crate) mod actor;
pub(crate) mod credits;
pub(crate) mod keys;
pub(crate) mod senders;
pub(crate) mod smpp_accounts;
pub(crate) mod suspension;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use flit_storage::Batch;
use ractor::ActorRef;

use crate::engine::{Engine, read, write};
use crate::error::{Conflict, EngineError, Invalid, Missing, Unavailable};
use crate::ids::{SenderId, TenantId};
use crate::numbers::{Country, Validation};
use crate::store::records::{
    SenderIdRecord, SenderStatus, SuspensionRecord, TenantRecord, now_millis,
};
use crate::store::tables;
use actor::{TenantChild, TenantMsg, TenantShared, TenantSlot};

/// Bounds that keep every price and balance computation far from `i64` overflow.
pub const MAX_PRICE_PER_PART: i64 = 1_000_000;
/// Sender IDs a new tenant may be created with (more are added one at a time).
pub const MAX_NEW_SENDER_IDS: usize = 100;

/// What the engine keeps in memory for a tenant.
pub(crate) struct TenantEntry {
    pub(crate) record: RwLock<TenantRecord>,
    pub(crate) shared: Arc<TenantShared>,
    pub(crate) slot: Arc<TenantSlot>,
    /// Approved and pending sender IDs, oldest first (the first approved is the default).
    pub(crate) senders: RwLock<Vec<SenderIdRecord>>,
    /// Serialises this tenant's address-book writes (contacts, groups, templates), whose
    /// uniqueness rules (one contact per phone, one group or template per name) are
    /// check-then-write.
    pub(crate) book: tokio::sync::Mutex<()>,
    /// Read on every request of the tenant's keys, so a suspension holds at once and costs
    /// one atomic load; `suspension` says since when.
    pub(crate) suspended: AtomicBool,
    pub(crate) suspension: RwLock<Option<SuspensionRecord>>,
}

impl TenantEntry {
    pub(crate) fn is_suspended(&self) -> bool {
        self.suspended.load(Ordering::Acquire)
    }
}

/// Fields for a new tenant; `None` takes the engine default.
#[derive(Clone, Debug, Default)]
pub struct NewTenant {
    pub name: String,
    pub phone: Option<String>,
    pub default_country: Option<Country>,
    pub rate_limit_per_minute: Option<u32>,
    pub price_per_part: Option<i64>,
    pub allow_device_failover: Option<bool>,
    pub number_validation: Option<Validation>,
    /// Sender IDs approved with the tenant. `None` approves one made from the name
    /// (`senders::default_sender_name`), so a new tenant's first send has a sender;
    /// `Some(vec![])` approves none.
    pub sender_ids: Option<Vec<String>>,
}

/// A partial update; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct TenantPatch {
    pub name: Option<String>,
    pub phone: Option<Option<String>>,
    pub default_country: Option<Country>,
    pub rate_limit_per_minute: Option<u32>,
    pub price_per_part: Option<i64>,
    pub allow_device_failover: Option<bool>,
    pub number_validation: Option<Option<Validation>>,
}

impl Engine {
    pub async fn create_tenant(&self, new: NewTenant) -> Result<TenantRecord, EngineError> {
        let name = new.name.trim().to_string();
        if name.is_empty() {
            return Err(EngineError::from(Invalid::TenantName));
        }
        let price_per_part = new
            .price_per_part
            .unwrap_or(self.config().default_price_per_part);
        check_price(price_per_part)?;
        let sender_names = match new.sender_ids {
            Some(names) => names,
            None => vec![senders::default_sender_name(&name)],
        };
        // Checked before anything is written: a refused tenant leaves nothing behind.
        if sender_names.len() > MAX_NEW_SENDER_IDS {
            return Err(Invalid::TooManySenderIds {
                max: MAX_NEW_SENDER_IDS,
            }
            .into());
        }
        let mut seen: Vec<String> = Vec::with_capacity(sender_names.len());
        for sender in &sender_names {
            let sender = senders::checked_sender_name(sender)?;
            if seen.iter().any(|known| known.eq_ignore_ascii_case(sender)) {
                return Err(Conflict::SenderIdExists(sender.to_string()).into());
            }
            seen.push(sender.to_string());
        }
        let record = TenantRecord {
            id: TenantId::new(),
            name,
            phone: new.phone,
            default_country: new.default_country.unwrap_or(self.config().default_country),
            rate_limit_per_minute: new
                .rate_limit_per_minute
                .unwrap_or(self.config().default_rate_limit_per_minute),
            price_per_part,
            allow_device_failover: new.allow_device_failover.unwrap_or(false),
            number_validation: new.number_validation,
            max_parts: self.config().default_max_parts,
            created_at: now_millis(),
        };
        let mut batch = Batch::new();
        tables::TENANTS.put(&mut batch, &record.id, &record);
        // The tenant and its sender IDs are one batch: it never exists without them.
        for name in seen {
            let sender = SenderIdRecord {
                id: SenderId::new(),
                tenant: record.id,
                name,
                status: SenderStatus::Approved,
                created_at: record.created_at,
                approved_at: Some(record.created_at),
            };
            tables::SENDER_IDS.put(&mut batch, &(record.id, sender.id), &sender);
        }
        self.store().commit(batch).await?;
        self.start_tenant(record.clone()).await?;
        Ok(record)
    }

    pub async fn update_tenant(
        &self,
        tenant: TenantId,
        patch: TenantPatch,
    ) -> Result<TenantRecord, EngineError> {
        let entry = self.entry(tenant)?;
        let mut record = read(&entry.record).clone();
        if let Some(name) = patch.name {
            let name = name.trim().to_string();
            if name.is_empty() {
                return Err(EngineError::from(Invalid::TenantName));
            }
            record.name = name;
        }
        if let Some(phone) = patch.phone {
            record.phone = phone;
        }
        if let Some(country) = patch.default_country {
            record.default_country = country;
        }
        if let Some(limit) = patch.rate_limit_per_minute {
            record.rate_limit_per_minute = limit;
        }
        if let Some(price) = patch.price_per_part {
            check_price(price)?;
            record.price_per_part = price;
        }
        if let Some(allow) = patch.allow_device_failover {
            record.allow_device_failover = allow;
        }
        if let Some(validation) = patch.number_validation {
            record.number_validation = validation;
        }
        let mut batch = Batch::new();
        tables::TENANTS.put(&mut batch, &record.id, &record);
        self.store().commit(batch).await?;
        *write(&entry.record) = record.clone();
        Ok(record)
    }

    pub fn tenant(&self, tenant: TenantId) -> Option<TenantRecord> {
        self.tenants_map()
            .get(&tenant)
            .map(|entry| read(&entry.record).clone())
    }

    /// Every tenant, oldest first.
    pub fn tenants(&self) -> Vec<TenantRecord> {
        let mut all: Vec<TenantRecord> = self
            .tenants_map()
            .iter()
            .map(|entry| read(&entry.record).clone())
            .collect();
        all.sort_by_key(|tenant| tenant.id);
        all
    }

    /// Requests per minute allowed to each key of the tenant (read on every request).
    pub fn rate_limit(&self, tenant: TenantId) -> Option<u32> {
        self.tenants_map()
            .get(&tenant)
            .map(|entry| read(&entry.record).rate_limit_per_minute)
    }

    pub fn balance(&self, tenant: TenantId) -> Result<i64, EngineError> {
        Ok(self.entry(tenant)?.shared.balance())
    }

    pub(crate) async fn start_tenant(&self, record: TenantRecord) -> Result<(), EngineError> {
        let senders = tables::SENDER_IDS.values(self.store(), &record.id)?;
        let suspension = tables::SUSPENSIONS.get(self.store(), &record.id)?;
        let entry = Arc::new(TenantEntry {
            record: RwLock::new(record.clone()),
            shared: Arc::new(TenantShared::default()),
            slot: Arc::new(TenantSlot::default()),
            senders: RwLock::new(senders),
            book: tokio::sync::Mutex::new(()),
            suspended: AtomicBool::new(suspension.is_some()),
            suspension: RwLock::new(suspension),
        });
        self.supervise(Arc::new(TenantChild {
            tenant: record.id,
            store: self.store().clone(),
            shared: entry.shared.clone(),
            slot: entry.slot.clone(),
        }))
        .await?;
        self.tenant_started(record.id, entry);
        Ok(())
    }

    /// Takes a tenant being deleted out of the registry: its keys stop authenticating at
    /// once, it is no longer listed or found, and no operation reaches it. Answers its entry,
    /// whose actor is stopped later (`retire_actor`), once nothing else may still pay it.
    pub(crate) fn unregister_tenant(&self, tenant: TenantId) -> Option<Arc<TenantEntry>> {
        let live_keys = self.keys_by_hash();
        live_keys.retain(|_, key| key.tenant != tenant);
        self.tenants_map().remove(&tenant).map(|(_, entry)| entry)
    }

    /// Stops a deleted tenant's actor for good; answers once it is stopped.
    pub(crate) async fn retire_actor(&self, entry: &TenantEntry) {
        entry.shared.retire();
        if let Some(actor) = entry.slot.get() {
            let _ = actor.stop_and_wait(None, None).await;
        }
    }

    pub(crate) fn entry(&self, tenant: TenantId) -> Result<Arc<TenantEntry>, EngineError> {
        self.tenants_map()
            .get(&tenant)
            .map(|entry| entry.clone())
            .ok_or(EngineError::NotFound(Missing::Tenant))
    }

    /// The tenant's actor, or 503 while it is being restarted.
    pub(crate) fn actor(&self, entry: &TenantEntry) -> Result<ActorRef<TenantMsg>, EngineError> {
        entry
            .slot
            .get()
            .ok_or_else(|| EngineError::from(Unavailable::TenantRestarting))
    }
}

fn check_price(price: i64) -> Result<(), EngineError> {
    if (0..=MAX_PRICE_PER_PART).contains(&price) {
        Ok(())
    } else {
        Err(EngineError::from(Invalid::Price {
            max: MAX_PRICE_PER_PART,
        }))
    }
}
