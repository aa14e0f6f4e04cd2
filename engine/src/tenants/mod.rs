//! Tenants: the registry the engine keeps in memory (record, number rules, actor, sender IDs),
//! their actor (the single writer of a balance and ledger), credits, API keys and sender IDs.

pub(crate) mod actor;
pub(crate) mod credits;
pub(crate) mod keys;
pub(crate) mod senders;

use std::sync::{Arc, RwLock};

use flit_storage::Batch;
use ractor::ActorRef;

use crate::engine::{Engine, read, write};
use crate::error::{EngineError, Invalid, Missing, Unavailable};
use crate::ids::TenantId;
use crate::numbers::{Country, Validation};
use crate::store::records::{SenderIdRecord, TenantRecord, now_millis};
use crate::store::tables;
use actor::{TenantChild, TenantMsg, TenantShared, TenantSlot};

/// Bounds that keep every price and balance computation far from `i64` overflow.
pub const MAX_PRICE_PER_PART: i64 = 1_000_000;

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
        let entry = Arc::new(TenantEntry {
            record: RwLock::new(record.clone()),
            shared: Arc::new(TenantShared::default()),
            slot: Arc::new(TenantSlot::default()),
            senders: RwLock::new(senders),
            book: tokio::sync::Mutex::new(()),
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
