//! `Engine`: the one handle the API holds. It owns the store, the tenant registry and the
//! supervision tree. Its operations are written where their concern lives (`tenants/`,
//! `book/`, `accept/`, `history.rs`, `dispatch/`, `channel/`), each in an `impl Engine`; this
//! file opens and stops the engine and holds what every concern shares.

use std::sync::{Arc, RwLock};

use dashmap::DashMap;
use flit_storage::{BackendKind, Batch, CommitStats, Store, StoreOptions};
use ractor::{Actor, ActorRef, rpc::CallResult};

use crate::clock::Clock;
use crate::devices::DevicesShared;
use crate::dispatch::bind::BindSnapshot;
use crate::dispatch::{DispatchShared, TenantLink};
use crate::error::{EngineError, Unavailable};
use crate::health::EngineHealth;
use crate::ids::TenantId;
use crate::notify::{NotifyShared, WebhookSettings};
use crate::numbers::Country;
use crate::schedule::ScheduleShared;
use crate::secrets::{self, SecretKey};
use crate::store::records::ApiKeyRecord;
use crate::store::tables;
use crate::supervisor::{ChildSpec, RootSupervisor, SupervisorMsg};
use crate::tenants::TenantEntry;

/// How much work waits, by queue (`Engine::queue_depths`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepths {
    /// Recipients accepted and not yet answered by a carrier (what the backlog cap is
    /// checked against).
    pub backlog: usize,
    /// Webhook deliveries written and not yet delivered or given up.
    pub webhook_outbox: u64,
    /// Receipts and inbound SMS held for SMPP customers until one of their binds takes them.
    pub smpp_held: u64,
}

/// Settings that apply to tenants unless a tenant overrides them.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The country of new tenants' local numbers.
    pub default_country: Country,
    pub default_rate_limit_per_minute: u32,
    pub default_price_per_part: i64,
    pub default_max_parts: u32,
    /// Recipients accepted and not yet handed to a carrier (scheduled, queued, parked or in a
    /// bind's window) beyond which sends are refused with `EngineError::BacklogFull`, so a
    /// backlog with every carrier down cannot grow memory without bound.
    pub max_backlog: usize,
    /// Jobs in memory (ready, parked, at binds) at which the scheduler pauses feeding the
    /// recipients of released messages to the router, so a big campaign falling due, or left
    /// by the last run, is paced rather than loaded at once.
    pub feed_low_water: usize,
    /// What "now" is for due times (scheduled sends, validity periods, webhook retries).
    pub clock: Clock,
    pub webhooks: WebhookSettings,
    /// When a tenant's phone counts as offline, and a message it took as stuck.
    pub devices: crate::channel::device::DeviceTimes,
    /// The SMPP server's timers (SPEC §14).
    pub smpp_server: crate::smpp_server::SmppServerSettings,
    /// Seals the SMPP bind passwords in the store (the API reads it from a key file or the
    /// environment, never from the store). `None` suits only an engine that holds no bind:
    /// opening a store with one, or creating one, is refused.
    pub secret_key: Option<SecretKey>,
}

/// About 100 bytes of memory per queued recipient: some 500 MB at the cap.
pub const DEFAULT_MAX_BACKLOG: usize = 5_000_000;
/// Some 2 MB of jobs: far more than any bind's window, so feeding never starves a carrier.
pub const DEFAULT_FEED_LOW_WATER: usize = 20_000;

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            default_country: Country::GHANA,
            default_rate_limit_per_minute: 100,
            default_price_per_part: 1,
            default_max_parts: crate::text::DEFAULT_MAX_PARTS as u32,
            max_backlog: DEFAULT_MAX_BACKLOG,
            feed_low_water: DEFAULT_FEED_LOW_WATER,
            clock: Clock::System,
            webhooks: WebhookSettings::default(),
            devices: Default::default(),
            smpp_server: Default::default(),
            secret_key: None,
        }
    }
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: EngineConfig,
    tenants: DashMap<TenantId, Arc<TenantEntry>>,
    /// Every live (not revoked) key by the SHA-256 of its secret: auth is one map lookup.
    keys_by_hash: DashMap<[u8; 32], ApiKeyRecord>,
    supervisor: ActorRef<SupervisorMsg>,
    /// Written by the supervisor when it gives up on an actor; sends and `/health` read it.
    health: Arc<EngineHealth>,
    dispatch: Arc<DispatchShared>,
    notify: Arc<NotifyShared>,
    devices: DevicesShared,
    /// The scheduler's slot and the released messages it is feeding.
    schedule: Arc<ScheduleShared>,
    /// Held by a tenant's deletion, so two never run at once (a repeated request waits for
    /// the first, then finds the tenant gone).
    offboarding: tokio::sync::Mutex<()>,
    /// Held while an SMPP account is created or a tenant's accounts are deleted: `system_id`s
    /// are unique across tenants, so the check and the write of one must not interleave with
    /// another's.
    smpp_accounts: tokio::sync::Mutex<()>,
    /// Held while a console user is created or deleted: emails are unique across tenants.
    people: tokio::sync::Mutex<()>,
    /// The SMPP server's live binds and what its sessions share.
    smpp_server: Arc<crate::smpp_server::ServerShared>,
}

impl Engine {
    /// Opens (creating if needed) the store of `backend` in `dir`, checks `config.secret_key`
    /// against it (sealing the bind passwords an older store kept in clear), then opens the
    /// engine on it. A key that does not fit is `EngineError::SecretKey`, with the store
    /// closed again. Must run inside a tokio runtime.
    pub async fn open(
        dir: &std::path::Path,
        backend: BackendKind,
        config: EngineConfig,
    ) -> Result<Engine, EngineError> {
        let store = Store::open(backend, dir, StoreOptions::default())?;
        // Before any actor starts: a wrong key stops the start with the store closed again.
        crate::dispatch::binds::seal_stored_passwords(&store, config.secret_key.as_ref()).await?;
        Engine::open_on(store, config).await
    }

    /// The backend whose data is in `dir`, if one has data there: a data dir keeps its backend
    /// when the operator names none.
    pub fn existing_backend(dir: &std::path::Path) -> Option<BackendKind> {
        Store::existing_backend(dir)
    }

    /// Opens the engine on `store`: loads tenants and keys, starts the supervision tree.
    async fn open_on(store: Store, config: EngineConfig) -> Result<Engine, EngineError> {
        let health = Arc::new(EngineHealth::new());
        let (supervisor, _join) = Actor::spawn(None, RootSupervisor, health.clone())
            .await
            .map_err(|error| EngineError::from(Unavailable::Supervisor(error.to_string())))?;
        let notify = NotifyShared::new(store.clone(), config.clock, config.webhooks.clone());
        let dispatch = DispatchShared::new(store.clone(), config.clock, notify.clone());
        let engine = Engine {
            inner: Arc::new(Inner {
                store,
                config,
                tenants: DashMap::new(),
                keys_by_hash: DashMap::new(),
                supervisor,
                health,
                dispatch,
                notify,
                devices: DevicesShared::default(),
                schedule: Arc::default(),
                offboarding: tokio::sync::Mutex::new(()),
                smpp_accounts: tokio::sync::Mutex::new(()),
                smpp_server: Arc::default(),
                people: tokio::sync::Mutex::new(()),
            }),
        };
        for tenant in tables::TENANTS.values(engine.store(), &())? {
            engine.start_tenant(tenant).await?;
        }
        for key in tables::API_KEYS.values(engine.store(), &())? {
            if key.revoked_at.is_none() {
                engine.inner.keys_by_hash.insert(key.secret_hash, key);
            }
        }
        engine.notify().smpp.load(engine.store())?;
        engine.start_notify().await?;
        engine.start_dispatch().await?;
        engine.load_devices().await?;
        engine.start_scheduler().await?;
        Ok(engine)
    }

    /// Starts `child` under the root supervisor, which restarts it whenever it exits.
    pub(crate) async fn supervise(&self, child: Arc<dyn ChildSpec>) -> Result<(), EngineError> {
        match self
            .inner
            .supervisor
            .call(|reply| SupervisorMsg::Start(child, reply), None)
            .await
        {
            Ok(CallResult::Success(Ok(()))) => Ok(()),
            Ok(CallResult::Success(Err(error))) => Err(Unavailable::Supervisor(error).into()),
            _ => Err(Unavailable::Supervisor("the supervisor is down".into()).into()),
        }
    }

    pub(crate) fn dispatch(&self) -> &Arc<DispatchShared> {
        &self.inner.dispatch
    }

    pub(crate) fn devices_shared(&self) -> &DevicesShared {
        &self.inner.devices
    }

    pub(crate) fn notify(&self) -> &Arc<NotifyShared> {
        &self.inner.notify
    }

    pub(crate) fn schedule(&self) -> &Arc<ScheduleShared> {
        &self.inner.schedule
    }

    pub(crate) fn offboarding(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.offboarding
    }

    pub(crate) fn smpp_server(&self) -> &Arc<crate::smpp_server::ServerShared> {
        &self.inner.smpp_server
    }

    pub(crate) fn people_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.people
    }

    pub(crate) fn smpp_accounts_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.smpp_accounts
    }

    /// True while no real bind is configured: the sandbox simulator takes the traffic.
    pub fn is_sandbox(&self) -> bool {
        self.inner.dispatch.is_sandbox()
    }

    /// Live state of every bind.
    pub fn binds(&self) -> Vec<BindSnapshot> {
        let mut binds: Vec<BindSnapshot> = self
            .inner
            .dispatch
            .binds
            .iter()
            .map(|bind| bind.snapshot())
            .collect();
        binds.sort_by_key(|bind| bind.id);
        binds
    }

    /// What waits now: the dispatch backlog, the webhook outbox and the receipts held for
    /// SMPP customers (the console's health page; `/metrics` has the same as gauges).
    pub fn queue_depths(&self) -> QueueDepths {
        let notify = &self.inner.notify;
        QueueDepths {
            backlog: self.inner.dispatch.backlog(),
            webhook_outbox: notify
                .depth
                .load(std::sync::atomic::Ordering::Relaxed)
                .max(0) as u64,
            smpp_held: notify.smpp.held(),
        }
    }

    /// Sets the dispatch gauges (queue depths, each bind's queued, in-flight and bound) to
    /// their current values; `/metrics` calls it before rendering.
    pub fn record_gauges(&self) {
        self.inner.dispatch.record_gauges();
        self.inner.notify.record_gauges();
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The backend the store runs on.
    pub fn backend(&self) -> BackendKind {
        self.inner.store.kind()
    }

    /// Counts of the store's group commits so far (benchmarks read how many batches share
    /// one sync).
    pub fn commit_stats(&self) -> CommitStats {
        self.inner.store.stats()
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    pub(crate) fn clock(&self) -> Clock {
        self.inner.config.clock
    }

    /// Whether every supervised actor is still running (or being restarted), and if not, why.
    pub fn health(&self) -> &EngineHealth {
        &self.inner.health
    }

    /// Stops every actor and waits until they are gone; queued commits still finish, and the
    /// store closes when the last `Engine` clone is dropped.
    pub async fn shutdown(&self) {
        let _ = self
            .inner
            .supervisor
            .call(SupervisorMsg::ShuttingDown, None)
            .await;
        self.inner
            .supervisor
            .stop_children_and_wait(None, None)
            .await;
        let _ = self.inner.supervisor.stop_and_wait(None, None).await;
    }

    /// A tenant's actor runs: dispatch learns where its refunds and inbound SMS go, and the
    /// registry publishes it. Cross-concern effects are wired here, in the facade, so that
    /// no concern imports another that imports it back.
    pub(crate) fn tenant_started(&self, tenant: TenantId, entry: Arc<TenantEntry>) {
        for sender in read(&entry.senders).iter() {
            self.inner.dispatch.claim_number(&sender.name, tenant);
        }
        self.inner.dispatch.tenants.insert(
            tenant,
            TenantLink {
                slot: entry.slot.clone(),
            },
        );
        self.inner.tenants.insert(tenant, entry);
    }

    /// A sender ID was approved: inbound SMS to that number belong to the tenant.
    pub(crate) fn sender_added(&self, tenant: TenantId, name: &str) {
        self.inner.dispatch.claim_number(name, tenant);
    }

    pub(crate) fn tenants_map(&self) -> &DashMap<TenantId, Arc<TenantEntry>> {
        &self.inner.tenants
    }

    pub(crate) fn keys_by_hash(&self) -> &DashMap<[u8; 32], ApiKeyRecord> {
        &self.inner.keys_by_hash
    }

    // ----- the operator's token and the first start ------------------------------------------

    pub fn admin_token_hash(&self) -> Result<Option<[u8; 32]>, EngineError> {
        Ok(tables::ADMIN_TOKEN_HASH.get(self.store())?)
    }

    pub async fn set_admin_token(&self, token: &str) -> Result<(), EngineError> {
        let mut batch = Batch::new();
        tables::ADMIN_TOKEN_HASH.put(&mut batch, &secrets::sha256(token.as_bytes()));
        Ok(self.store().commit(batch).await?)
    }

    pub fn is_bootstrapped(&self) -> Result<bool, EngineError> {
        Ok(tables::BOOTSTRAPPED.get(self.store())?.unwrap_or(false))
    }

    pub async fn mark_bootstrapped(&self) -> Result<(), EngineError> {
        let mut batch = Batch::new();
        tables::BOOTSTRAPPED.put(&mut batch, &true);
        Ok(self.store().commit(batch).await?)
    }
}

pub(crate) fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
