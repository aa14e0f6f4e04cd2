//! Binds at run time (SPEC §8, §10): the channels an operator configures, persisted and in
//! effect at once with no restart: a new bind's actor starts and connects, a removed bind
//! unbinds and hands its work back to the router. The routes that choose between binds are
//! `routes.rs`; what a bind's settings mean to SMPP is `channel/smpp/config.rs`.
//!
//! A bind's password is sealed under the engine's secret key before it is stored
//! (`BindPassword`); `seal_stored_passwords` checks the key against the store at start and
//! seals the passwords an older data dir kept in clear.

use std::sync::Arc;

use flit_storage::{Batch, Store};

use crate::channel::ChannelKind;
use crate::channel::smpp::config::{BindPassword, bind_config, check_password};
use crate::channel::smpp::{BindConfig, BindMode, Concatenation, Gsm7Mode};
use crate::dispatch::bind::{BindChild, BindShared, BindSnapshot};
use crate::engine::Engine;
use crate::error::{EngineError, Missing, SecretKeyError};
use crate::ids::{BindId, TenantId};
use crate::secrets::SecretKey;
use crate::store::records::{BindRecord, now_millis};
use crate::store::tables;

/// What the key check seals: nothing, for no owner but itself.
const KEY_CHECK_OWNER: &[u8] = b"flit secret key check";

/// A bind as the operator describes it; `None` takes the default.
#[derive(Clone, Default)]
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

/// Everything but the password, so no log line can carry it.
impl std::fmt::Debug for NewBind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewBind")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("system_id", &self.system_id)
            .field("password", &"<redacted>")
            .field("system_type", &self.system_type)
            .field("bind_mode", &self.bind_mode)
            .field("window_size", &self.window_size)
            .field("tps", &self.tps)
            .field("gsm7", &self.gsm7)
            .field("concatenation", &self.concatenation)
            .field("tenant", &self.tenant)
            .finish()
    }
}

pub const DEFAULT_WINDOW_SIZE: u32 = 50;

/// At start, before anything reads a bind: checks `key` against the store (the key check the
/// first start with a key wrote) and seals the passwords a data dir from before sealing kept
/// in clear, moving those binds to the current table, with the key check, in one durable
/// batch. Without a key, a store that holds a bind is refused.
pub(crate) async fn seal_stored_passwords(
    store: &Store,
    key: Option<&SecretKey>,
) -> Result<(), EngineError> {
    let check = tables::SECRET_KEY_CHECK.get(store)?;
    let clear = tables::BINDS_V1.values(store, &())?;
    let Some(key) = key else {
        let sealed = tables::BINDS.count(store, &())? > 0;
        if check.is_some() || sealed || !clear.is_empty() {
            return Err(SecretKeyError::Missing.into());
        }
        return Ok(());
    };
    let mut batch = Batch::new();
    match check {
        Some(check) => {
            key.open(&check, KEY_CHECK_OWNER)
                .map_err(|_| SecretKeyError::Mismatch)?;
        }
        None => tables::SECRET_KEY_CHECK.put(&mut batch, &key.seal(b"", KEY_CHECK_OWNER)),
    }
    for record in &clear {
        let password = BindPassword::seal(key, record.id, &record.password);
        tables::BINDS.put(&mut batch, &record.id, &record.clone().sealed(password));
        tables::BINDS_V1.delete(&mut batch, &record.id);
    }
    if !batch.is_empty() {
        store.commit(batch).await?;
    }
    if !clear.is_empty() {
        // The store's free space (redb's freed pages, sled's log until it is cleaned) and
        // any backup made before may still hold the old clear copies.
        tracing::warn!(
            binds = clear.len(),
            "sealed the SMPP bind passwords an earlier version kept in clear; copies of them \
             may remain in the store's free space and in older backups: change them with \
             the carriers"
        );
    }
    Ok(())
}

impl Engine {
    /// The key bind passwords are sealed with.
    fn secret_key(&self) -> Result<&SecretKey, EngineError> {
        self.config()
            .secret_key
            .as_ref()
            .ok_or(EngineError::SecretKey(SecretKeyError::Missing))
    }

    pub async fn create_bind(&self, new: NewBind) -> Result<BindRecord, EngineError> {
        check_password(&new.password)?;
        let key = self.secret_key()?;
        let id = BindId::new();
        let record = BindRecord {
            id,
            name: new.name.trim().to_string(),
            host: new.host.trim().to_string(),
            port: new.port,
            system_id: new.system_id,
            password: BindPassword::seal(key, id, &new.password),
            system_type: new.system_type.unwrap_or_default(),
            bind_mode: new.bind_mode.unwrap_or_default(),
            window_size: new.window_size.unwrap_or(DEFAULT_WINDOW_SIZE),
            tps: new.tps.unwrap_or(0),
            gsm7: new.gsm7.unwrap_or_default(),
            concatenation: new.concatenation.unwrap_or_default(),
            tenant: new.tenant,
            created_at: now_millis(),
        };
        let config = bind_config(&record, key)?;
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
        let binds = tables::BINDS.values(self.store(), &())?;
        if binds.is_empty() {
            return self.reload_routes();
        }
        let key = self.secret_key()?;
        for record in binds {
            let config = bind_config(&record, key)?;
            self.start_bind(&record, config).await?;
        }
        self.reload_routes()
    }
}

#[cfg(test)]
mod tests {
    use flit_storage::{BackendKind, StoreOptions};

    use super::*;
    use crate::EngineConfig;
    use crate::error::Invalid;
    use crate::store::records::BindRecordV1;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_bytes(&[byte; SecretKey::LEN])
    }

    async fn open(dir: &std::path::Path, key: Option<SecretKey>) -> Result<Engine, EngineError> {
        let config = EngineConfig {
            secret_key: key,
            ..EngineConfig::default()
        };
        // sled: its open waits out a store the engine just dropped.
        Engine::open(dir, BackendKind::Sled, config).await
    }

    /// A bind as the code before sealing stored it, with its password in clear.
    fn clear_bind(password: &str) -> BindRecordV1 {
        BindRecordV1 {
            id: BindId::new(),
            name: "old".into(),
            host: "127.0.0.1".into(),
            port: 1,
            system_id: "flit".into(),
            password: password.into(),
            system_type: String::new(),
            bind_mode: BindMode::Transceiver,
            window_size: 5,
            tps: 0,
            gsm7: Gsm7Mode::Unpacked,
            concatenation: Concatenation::Udh,
            tenant: None,
            created_at: 1,
        }
    }

    #[tokio::test]
    async fn clear_passwords_are_sealed_at_start_and_the_key_is_checked_after() {
        let dir = tempfile::tempdir().expect("temp dir");
        let old = clear_bind("pw12345");
        {
            let store =
                Store::open(BackendKind::Sled, dir.path(), StoreOptions::default()).expect("store");
            let mut batch = Batch::new();
            tables::BINDS_V1.put(&mut batch, &old.id, &old);
            store.commit(batch).await.expect("written");
        }
        let refused = open(dir.path(), None).await.err();
        assert!(
            matches!(
                refused,
                Some(EngineError::SecretKey(SecretKeyError::Missing))
            ),
            "{refused:?}"
        );

        let engine = open(dir.path(), Some(key(1))).await.expect("opens");
        let binds = engine.bind_records().expect("binds");
        assert_eq!(binds.len(), 1);
        let record = &binds[0].0;
        assert_eq!(
            (record.id, record.name.as_str(), record.window_size),
            (old.id, "old", 5)
        );
        let password = BindPassword::sealed(key(1), record.id, record.password.clone());
        assert_eq!(password.reveal().expect("opens"), "pw12345");
        let sealed = BindPassword::sealed(key(2), record.id, record.password.clone());
        assert!(sealed.reveal().is_err(), "another key does not open it");
        assert!(
            tables::BINDS_V1
                .values(engine.store(), &())
                .expect("read")
                .is_empty()
        );
        engine.shutdown().await;
        drop(engine);

        assert!(matches!(
            open(dir.path(), Some(key(2))).await.err(),
            Some(EngineError::SecretKey(SecretKeyError::Mismatch))
        ));
        assert!(matches!(
            open(dir.path(), None).await.err(),
            Some(EngineError::SecretKey(SecretKeyError::Missing))
        ));
        let engine = open(dir.path(), Some(key(1)))
            .await
            .expect("the right key opens it");
        assert_eq!(engine.bind_records().expect("binds").len(), 1);
        engine.shutdown().await;
        drop(engine);
    }

    #[tokio::test]
    async fn a_store_without_binds_takes_its_first_key_and_then_only_that_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = open(dir.path(), None)
            .await
            .expect("no bind, no key needed");
        let new = NewBind {
            name: "b".into(),
            host: "127.0.0.1".into(),
            port: 1,
            system_id: "flit".into(),
            password: "pw".into(),
            ..NewBind::default()
        };
        assert!(matches!(
            engine.create_bind(new.clone()).await,
            Err(EngineError::SecretKey(SecretKeyError::Missing))
        ));
        engine.shutdown().await;
        drop(engine);
        let engine = open(dir.path(), Some(key(3))).await.expect("opens");
        for password in ["123456789", "pässwd", "a\0b"] {
            let refused = engine
                .create_bind(NewBind {
                    password: password.into(),
                    ..new.clone()
                })
                .await;
            assert!(
                matches!(refused, Err(EngineError::Invalid(Invalid::Password))),
                "{password:?}"
            );
        }
        engine.shutdown().await;
        drop(engine);
        assert!(matches!(
            open(dir.path(), Some(key(4))).await.err(),
            Some(EngineError::SecretKey(SecretKeyError::Mismatch))
        ));
    }

    #[test]
    fn a_new_bind_shows_no_password_in_debug() {
        let new = NewBind {
            password: "hunter2".into(),
            ..NewBind::default()
        };
        assert!(!format!("{new:?}").contains("hunter2"));
        let password = BindPassword::for_tests("hunter2");
        assert!(!format!("{password:?}").contains("hunter2"));
    }
}
