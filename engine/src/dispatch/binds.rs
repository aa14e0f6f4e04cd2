//! Binds at run time (SPEC §8, §10): the channels an operator configures, persisted and in
//! effect at once with no restart: a new bind's actor starts and connects, a removed bind
//! unbinds and hands its work back to the router. The routes that choose between binds are
//! `routes.rs`; what a bind's settings mean to SMPP is `channel/smpp/config.rs`.

use std::sync::Arc;

use flit_storage::Batch;

use crate::channel::ChannelKind;
use crate::channel::smpp::config::bind_config;
use crate::channel::smpp::{BindConfig, BindMode, Concatenation, Gsm7Mode};
use crate::dispatch::bind::{BindChild, BindShared, BindSnapshot};
use crate::engine::Engine;
use crate::error::{EngineError, Missing};
use crate::ids::{BindId, TenantId};
use crate::store::records::{BindRecord, now_millis};
use crate::store::tables;

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
            ChannelKind::Smpp(config),
            record.tenant,
            self.dispatch().withdrawn.clone(),
        );
        self.dispatch().binds.insert(record.id, bind.clone());
        self.supervise(Arc::new(BindChild {
            dispatch: self.dispatch().clone(),
            bind,
        }))
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
                let nothing_withdrawn = Arc::default();
                BindShared::new(
                    id,
                    String::new(),
                    ChannelKind::Sandbox,
                    None,
                    nothing_withdrawn,
                )
                .snapshot()
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
