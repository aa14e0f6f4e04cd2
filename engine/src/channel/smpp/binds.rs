//! SMPP binds at run time (SPEC §8, §10): persisted, and in effect at once with no restart: a
//! new bind's actor starts and connects, a removed bind unbinds and hands its work back to the
//! router. The routes that choose between binds are `dispatch/routes.rs`.

use flit_storage::Batch;

use crate::channel::bind::BindKind;
use crate::channel::bind::{BindShared, BindSnapshot};
use crate::channel::smpp::{BindConfig, BindMode, Concatenation, Gsm7Mode};
use crate::engine::Engine;
use crate::error::{EngineError, Invalid, Missing};
use crate::ids::{BindId, TenantId};
use crate::store::records::{BindRecord, now_millis};
use crate::store::tables;
use crate::supervisor::SupervisorMsg;

/// A bind as the operator describes it; `None` takes the default.
#[derive(Clone, Debug, Default)]
pub struct NewBind {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub system_id: String,
    pub password: String,
    pub system_type: Option<String>,
    pub bind_mode: Option<BindMode>,
    pub window_size: Option<u32>,
    pub tps: Option<u32>,
    pub gsm7: Option<Gsm7Mode>,
    pub concatenation: Option<Concatenation>,
    pub tenant: Option<TenantId>,
}

pub const DEFAULT_WINDOW_SIZE: u32 = 50;
pub const MAX_WINDOW_SIZE: u32 = 1000;

impl Engine {
    pub async fn create_bind(&self, new: NewBind) -> Result<BindRecord, EngineError> {
        let record = BindRecord {
            id: BindId::new(),
            name: new.name.trim().to_string(),
            host: new.host.trim().to_string(),
            port: new.port,
            system_id: new.system_id,
            password: new.password,
            system_type: new.system_type.unwrap_or_default(),
            bind_mode: new.bind_mode.unwrap_or_default(),
            window_size: new.window_size.unwrap_or(DEFAULT_WINDOW_SIZE),
            tps: new.tps.unwrap_or(0),
            gsm7: new.gsm7.unwrap_or_default(),
            concatenation: new.concatenation.unwrap_or_default(),
            tenant: new.tenant,
            created_at: now_millis(),
        };
        let config = bind_config(&record)?;
        if let Some(tenant) = record.tenant {
            self.entry(tenant)?;
        }
        let mut batch = Batch::new();
        tables::BINDS.put(&mut batch, &record.id, &record);
        self.store().commit(batch).await?;
        self.start_bind(&record, config).await?;
        Ok(record)
    }

    pub(crate) async fn start_bind(
        &self,
        record: &BindRecord,
        config: BindConfig,
    ) -> Result<(), EngineError> {
        let bind = BindShared::new(
            record.id,
            record.name.clone(),
            BindKind::Smpp(config),
            record.tenant,
        );
        self.dispatch().binds.insert(record.id, bind.clone());
        self.supervise(|reply| SupervisorMsg::StartBind(bind, reply))
            .await
    }

    /// Unbinds, forgets the bind, and re-routes the work it held.
    pub async fn remove_bind(&self, id: BindId) -> Result<(), EngineError> {
        if self.bind_record(id)?.is_none() {
            return Err(EngineError::NotFound(Missing::Bind));
        }
        let mut batch = Batch::new();
        tables::BINDS.delete(&mut batch, &id);
        self.store().commit(batch).await?;
        if let Some((_, bind)) = self.dispatch().binds.remove(&id) {
            bind.mark_removed();
            if let Some(actor) = bind.actor.get() {
                let _ = actor.stop_and_wait(None, None).await;
            }
        }
        Ok(())
    }

    pub fn bind_record(&self, id: BindId) -> Result<Option<BindRecord>, EngineError> {
        Ok(tables::BINDS.get(self.store(), &id)?)
    }

    /// Every configured bind with its live state, oldest first.
    pub fn bind_records(&self) -> Result<Vec<(BindRecord, BindSnapshot)>, EngineError> {
        Ok(tables::BINDS
            .values(self.store(), &())?
            .into_iter()
            .map(|record| {
                let state = self.bind_state(record.id);
                (record, state)
            })
            .collect())
    }

    pub fn bind_state(&self, id: BindId) -> BindSnapshot {
        self.dispatch()
            .binds
            .get(&id)
            .map(|bind| bind.snapshot())
            .unwrap_or_else(|| {
                BindShared::new(id, String::new(), BindKind::Simulator, None).snapshot()
            })
    }

    /// Starts every stored bind (at engine start).
    pub(crate) async fn start_stored_binds(&self) -> Result<(), EngineError> {
        for record in tables::BINDS.values(self.store(), &())? {
            let config = bind_config(&record)?;
            self.start_bind(&record, config).await?;
        }
        self.reload_routes()
    }
}

/// The session configuration of a bind record, checked against SMPP's field limits.
pub fn bind_config(record: &BindRecord) -> Result<BindConfig, EngineError> {
    if record.name.is_empty() {
        return Err(EngineError::from(Invalid::BindName));
    }
    if record.host.is_empty() || record.port == 0 {
        return Err(EngineError::from(Invalid::BindAddress));
    }
    if record.system_id.is_empty() || record.system_id.len() > 15 {
        return Err(EngineError::from(Invalid::SystemId));
    }
    if record.password.len() > 8 {
        return Err(EngineError::from(Invalid::Password));
    }
    if record.system_type.len() > 12 {
        return Err(EngineError::from(Invalid::SystemType));
    }
    if !(1..=MAX_WINDOW_SIZE).contains(&record.window_size) {
        return Err(EngineError::from(Invalid::WindowSize {
            max: MAX_WINDOW_SIZE,
        }));
    }
    Ok(BindConfig {
        host: record.host.clone(),
        port: record.port,
        system_id: record.system_id.clone(),
        password: record.password.clone(),
        system_type: record.system_type.clone(),
        bind_mode: record.bind_mode,
        window_size: record.window_size as usize,
        tps: record.tps,
        gsm7: record.gsm7,
        concatenation: record.concatenation,
        ..BindConfig::default()
    })
}
