//! Suspending a tenant: while suspended, its API keys are refused on every route of every API
//! (the API checks `Engine::is_suspended` on each request), its sends are refused here too,
//! and no phone registers for it; what it sent before (and paid for) still goes out. The
//! suspension is a record of its own (`tables::SUSPENSIONS`), mirrored by a flag in the
//! tenant's entry in memory. A tenant must be suspended before it can be deleted.

use std::sync::atomic::Ordering;

use flit_storage::Batch;

use crate::engine::{Engine, read, write};
use crate::error::EngineError;
use crate::ids::TenantId;
use crate::store::records::{SuspensionRecord, now_millis};
use crate::store::tables;

impl Engine {
    /// Suspends a tenant (a suspended one stays as it is); answers its suspension.
    pub async fn suspend_tenant(&self, tenant: TenantId) -> Result<SuspensionRecord, EngineError> {
        let entry = self.entry(tenant)?;
        if let Some(suspension) = read(&entry.suspension).clone() {
            return Ok(suspension);
        }
        let suspension = SuspensionRecord {
            suspended_at: now_millis(),
        };
        // In memory first: a suspension must hold even while its write is on its way.
        entry.suspended.store(true, Ordering::Release);
        let mut batch = Batch::new();
        tables::SUSPENSIONS.put(&mut batch, &tenant, &suspension);
        if let Err(error) = self.store().commit(batch).await {
            entry.suspended.store(false, Ordering::Release);
            return Err(error.into());
        }
        *write(&entry.suspension) = Some(suspension.clone());
        Ok(suspension)
    }

    /// Lifts a tenant's suspension (an active tenant stays as it is).
    pub async fn resume_tenant(&self, tenant: TenantId) -> Result<(), EngineError> {
        let entry = self.entry(tenant)?;
        if read(&entry.suspension).is_none() {
            return Ok(());
        }
        let mut batch = Batch::new();
        tables::SUSPENSIONS.delete(&mut batch, &tenant);
        self.store().commit(batch).await?;
        *write(&entry.suspension) = None;
        entry.suspended.store(false, Ordering::Release);
        Ok(())
    }

    /// Since when the tenant is suspended; `None` while it is active (or unknown).
    pub fn suspension(&self, tenant: TenantId) -> Option<SuspensionRecord> {
        let entry = self.tenants_map().get(&tenant)?;
        read(&entry.suspension).clone()
    }

    /// Whether the tenant is suspended: one map lookup and one atomic load, for every request.
    pub fn is_suspended(&self, tenant: TenantId) -> bool {
        self.tenants_map()
            .get(&tenant)
            .is_some_and(|entry| entry.is_suspended())
    }
}
