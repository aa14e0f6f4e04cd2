//! `Engine`: the one handle the API holds. It owns the store, the tenant registry and the
//! supervision tree, and offers the domain operations (accept path, admin, queries).

use std::sync::{Arc, RwLock};

use dashmap::DashMap;
use flit_storage::{BackendKind, Batch, CommitStats, Scan, Store, StoreOptions, codec};
use ractor::{Actor, ActorRef, rpc::CallResult};
use serde::de::DeserializeOwned;

use crate::channel::bind::BindKind;
use crate::dispatch::{BindShared, BindSnapshot, DispatchShared, TenantLink, jobs_for};
use crate::error::EngineError;
use crate::health::EngineHealth;
use crate::ids::{ApiKeyId, MessageId, SenderId, TenantId};
use crate::numbers::{Country, Validation};
use crate::secrets;
use crate::slot::TenantSlot;
use crate::store::records::{
    ApiKeyRecord, MessageRecord, MessageStatus, RecipientRecord, Scopes, SenderIdRecord,
    SenderStatus, TenantRecord, TransactionKind, TransactionRecord, UnixMillis, now_millis,
};
use crate::store::tables;
use crate::supervisor::{RootSupervisor, SupervisorArgs, SupervisorMsg};
use crate::tenants::actor::{Credit, IdempotencyClaim, TenantMsg, TenantShared};

/// Settings that apply to tenants unless a tenant overrides them.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// ISO country for new tenants' local numbers.
    pub default_country: String,
    pub default_rate_limit_per_minute: u32,
    pub default_price_per_part: i64,
    pub default_max_parts: u32,
    /// Recipients accepted and not yet handed to a carrier (queued, parked, scheduled or in a
    /// bind's window) beyond which sends are refused with `EngineError::BacklogFull`, so a
    /// backlog with every carrier down cannot grow memory without bound.
    pub max_backlog: usize,
}

/// About 100 bytes of memory per queued recipient: some 500 MB at the cap.
pub const DEFAULT_MAX_BACKLOG: usize = 5_000_000;

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            default_country: "GH".to_string(),
            default_rate_limit_per_minute: 100,
            default_price_per_part: 1,
            default_max_parts: crate::text::DEFAULT_MAX_PARTS as u32,
            max_backlog: DEFAULT_MAX_BACKLOG,
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
}

/// What the engine keeps in memory for a tenant.
pub(crate) struct TenantEntry {
    pub(crate) record: RwLock<TenantRecord>,
    pub(crate) country: RwLock<Country>,
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
    pub default_country: Option<String>,
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
    pub default_country: Option<String>,
    pub rate_limit_per_minute: Option<u32>,
    pub price_per_part: Option<i64>,
    pub allow_device_failover: Option<bool>,
    pub number_validation: Option<Option<Validation>>,
}

/// One page of a listing, with the total that matched the filter.
#[derive(Debug)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: u64,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct MessageFilter {
    pub status: Option<MessageStatus>,
    pub from: Option<UnixMillis>,
    pub until: Option<UnixMillis>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct TransactionFilter {
    pub kind: Option<TransactionKind>,
    pub from: Option<UnixMillis>,
    pub until: Option<UnixMillis>,
}

/// Page numbers start at 1.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    pub page: u32,
    pub limit: u32,
}

impl Engine {
    /// Opens (creating if needed) the store of `backend` in `dir`, then the engine on it.
    /// Must run inside a tokio runtime.
    pub async fn open(
        dir: &std::path::Path,
        backend: BackendKind,
        config: EngineConfig,
    ) -> Result<Engine, EngineError> {
        let store = Store::open(backend, dir, StoreOptions::default())?;
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
        let args = SupervisorArgs {
            store: store.clone(),
            health: health.clone(),
        };
        let (supervisor, _join) = Actor::spawn(None, RootSupervisor, args)
            .await
            .map_err(|error| EngineError::Unavailable(format!("supervisor: {error}")))?;
        let dispatch = DispatchShared::new(store.clone());
        let engine = Engine {
            inner: Arc::new(Inner {
                store,
                config,
                tenants: DashMap::new(),
                keys_by_hash: DashMap::new(),
                supervisor,
                health,
                dispatch,
            }),
        };
        for tenant in engine.scan_all::<TenantRecord>(Scan::prefix(tables::TENANTS, &[]))? {
            engine.start_tenant(tenant).await?;
        }
        for key in engine.scan_all::<ApiKeyRecord>(Scan::prefix(tables::API_KEYS, &[]))? {
            if key.revoked_at.is_none() {
                engine.inner.keys_by_hash.insert(key.secret_hash, key);
            }
        }
        engine.start_dispatch().await?;
        Ok(engine)
    }

    /// Starts the router, the status writer and the sandbox bind, then hands back to dispatch
    /// what a previous run left: refunds owed and recipients not yet sent.
    async fn start_dispatch(&self) -> Result<(), EngineError> {
        let dispatch = self.inner.dispatch.clone();
        self.supervise(|reply| SupervisorMsg::StartDispatch(dispatch.clone(), reply))
            .await?;
        let sandbox = BindShared::new(
            DispatchShared::sandbox_bind_id(),
            "sandbox".to_string(),
            BindKind::Simulator,
            None,
        );
        dispatch.binds.insert(sandbox.id, sandbox.clone());
        self.supervise(|reply| SupervisorMsg::StartBind(sandbox.clone(), reply))
            .await?;
        self.start_stored_binds().await?;
        // A sweep that hands parked work back to the router now and then (so jobs whose
        // validity ran out while every bind was down are expired rather than kept), and lets
        // the status writer retry receipts still waiting for their SMSC id.
        let sweep = Arc::downgrade(&dispatch);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
            loop {
                tick.tick().await;
                let Some(dispatch) = sweep.upgrade() else {
                    break;
                };
                dispatch.unpark();
                if let Some(status) = dispatch.status.get() {
                    let _ = status.cast(crate::dispatch::StatusMsg::Tick);
                }
            }
        });
        dispatch.pay_owed_refunds().await?;
        let mut requeued = 0;
        for (key, value) in self
            .inner
            .store
            .scan(&Scan::prefix(tables::DISPATCH, &[]))?
            .items
        {
            let (Ok(message), Ok(tenant)) = (
                <[u8; 16]>::try_from(key.as_slice()),
                codec::decode::<TenantId>(&value),
            ) else {
                continue;
            };
            let Some(message) = self.message(tenant, MessageId::from_bytes(message))? else {
                continue;
            };
            let pending: Vec<(u32, crate::numbers::Msisdn, u16, Option<Arc<str>>)> = self
                .recipient_records(message.id)?
                .into_iter()
                .enumerate()
                .filter(|(_, recipient)| {
                    recipient.status == crate::store::records::RecipientStatus::Pending
                })
                .map(|(index, recipient)| {
                    (
                        index as u32,
                        recipient.msisdn,
                        recipient.parts,
                        recipient.text.map(Arc::from),
                    )
                })
                .collect();
            requeued += pending.len();
            dispatch.enqueue_at(jobs_for(&message, pending), message.scheduled_at);
        }
        if requeued > 0 {
            tracing::info!(
                recipients = requeued,
                "re-queued recipients left pending by the last run"
            );
        }
        Ok(())
    }

    pub(crate) async fn supervise(
        &self,
        message: impl FnOnce(ractor::RpcReplyPort<Result<(), String>>) -> SupervisorMsg,
    ) -> Result<(), EngineError> {
        match self.inner.supervisor.call(message, None).await {
            Ok(CallResult::Success(Ok(()))) => Ok(()),
            Ok(CallResult::Success(Err(error))) => Err(EngineError::Unavailable(error)),
            _ => Err(EngineError::Unavailable("supervisor is down".into())),
        }
    }

    pub(crate) fn dispatch(&self) -> &Arc<DispatchShared> {
        &self.inner.dispatch
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

    /// Sets the dispatch gauges (queue depths, each bind's queued, in-flight and bound) to
    /// their current values; `/metrics` calls it before rendering.
    pub fn record_gauges(&self) {
        self.inner.dispatch.record_gauges();
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

    // ----- tenants -------------------------------------------------------------------------

    pub async fn create_tenant(&self, new: NewTenant) -> Result<TenantRecord, EngineError> {
        let name = new.name.trim().to_string();
        if name.is_empty() {
            return Err(EngineError::invalid(
                "invalid_name",
                "`name` must not be empty",
            ));
        }
        let country = new
            .default_country
            .unwrap_or_else(|| self.inner.config.default_country.clone());
        parse_country(&country)?;
        let price_per_part = new
            .price_per_part
            .unwrap_or(self.inner.config.default_price_per_part);
        check_price(price_per_part)?;
        let record = TenantRecord {
            id: TenantId::new(),
            name,
            phone: new.phone,
            default_country: country.trim().to_ascii_uppercase(),
            rate_limit_per_minute: new
                .rate_limit_per_minute
                .unwrap_or(self.inner.config.default_rate_limit_per_minute),
            price_per_part,
            allow_device_failover: new.allow_device_failover.unwrap_or(false),
            number_validation: new.number_validation.map(|v| v.to_string()),
            max_parts: self.inner.config.default_max_parts,
            created_at: now_millis(),
        };
        let mut batch = Batch::new();
        batch.put(
            tables::TENANTS,
            tables::tenant_key(record.id),
            codec::encode(&record),
        );
        self.inner.store.commit(batch).await?;
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
                return Err(EngineError::invalid(
                    "invalid_name",
                    "`name` must not be empty",
                ));
            }
            record.name = name;
        }
        if let Some(phone) = patch.phone {
            record.phone = phone;
        }
        let mut country = None;
        if let Some(code) = patch.default_country {
            country = Some(parse_country(&code)?);
            record.default_country = code.trim().to_ascii_uppercase();
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
            record.number_validation = validation.map(|v| v.to_string());
        }
        let mut batch = Batch::new();
        batch.put(
            tables::TENANTS,
            tables::tenant_key(record.id),
            codec::encode(&record),
        );
        self.inner.store.commit(batch).await?;
        if let Some(country) = country {
            *write(&entry.country) = country;
        }
        *write(&entry.record) = record.clone();
        Ok(record)
    }

    pub fn tenant(&self, tenant: TenantId) -> Option<TenantRecord> {
        self.inner
            .tenants
            .get(&tenant)
            .map(|entry| read(&entry.record).clone())
    }

    /// Every tenant, oldest first.
    pub fn tenants(&self) -> Vec<TenantRecord> {
        let mut all: Vec<TenantRecord> = self
            .inner
            .tenants
            .iter()
            .map(|entry| read(&entry.record).clone())
            .collect();
        all.sort_by_key(|tenant| tenant.id);
        all
    }

    /// Requests per minute allowed to each key of the tenant (read on every request).
    pub fn rate_limit(&self, tenant: TenantId) -> Option<u32> {
        self.inner
            .tenants
            .get(&tenant)
            .map(|entry| read(&entry.record).rate_limit_per_minute)
    }

    pub fn balance(&self, tenant: TenantId) -> Result<i64, EngineError> {
        Ok(self.entry(tenant)?.shared.balance())
    }

    async fn start_tenant(&self, record: TenantRecord) -> Result<(), EngineError> {
        let country = parse_country(&record.default_country)?;
        let senders = self.scan_all::<SenderIdRecord>(Scan::prefix(
            tables::SENDER_IDS,
            &tables::tenant_key(record.id),
        ))?;
        let entry = Arc::new(TenantEntry {
            record: RwLock::new(record.clone()),
            country: RwLock::new(country),
            shared: Arc::new(TenantShared::default()),
            slot: Arc::new(TenantSlot::default()),
            senders: RwLock::new(senders),
            book: tokio::sync::Mutex::new(()),
        });
        self.supervise(|reply| {
            SupervisorMsg::StartTenant(record.id, entry.shared.clone(), entry.slot.clone(), reply)
        })
        .await?;
        for sender in read(&entry.senders).iter() {
            self.inner.dispatch.claim_number(&sender.name, record.id);
        }
        self.inner.dispatch.tenants.insert(
            record.id,
            TenantLink {
                slot: entry.slot.clone(),
            },
        );
        self.inner.tenants.insert(record.id, entry);
        Ok(())
    }

    pub(crate) fn entry(&self, tenant: TenantId) -> Result<Arc<TenantEntry>, EngineError> {
        self.inner
            .tenants
            .get(&tenant)
            .map(|entry| entry.clone())
            .ok_or(EngineError::NotFound { what: "tenant" })
    }

    /// The tenant's actor, or 503 while it is being restarted.
    pub(crate) fn actor(&self, entry: &TenantEntry) -> Result<ActorRef<TenantMsg>, EngineError> {
        entry.slot.get().ok_or_else(|| {
            EngineError::Unavailable("the tenant's account is restarting; retry shortly".into())
        })
    }

    // ----- API keys ------------------------------------------------------------------------

    /// Creates a key; the secret is returned once and never stored.
    pub async fn create_api_key(
        &self,
        tenant: TenantId,
        name: String,
        scopes: Scopes,
    ) -> Result<(ApiKeyRecord, String), EngineError> {
        self.entry(tenant)?;
        let secret = secrets::generate_secret(secrets::API_KEY_PREFIX);
        let record = ApiKeyRecord {
            id: ApiKeyId::new(),
            tenant,
            name,
            scopes,
            secret_hash: secrets::sha256(secret.as_bytes()),
            hint: secrets::hint(&secret),
            created_at: now_millis(),
            revoked_at: None,
        };
        let mut batch = Batch::new();
        batch.put(
            tables::API_KEYS,
            tables::api_key_key(record.id),
            codec::encode(&record),
        );
        self.inner.store.commit(batch).await?;
        self.inner
            .keys_by_hash
            .insert(record.secret_hash, record.clone());
        Ok((record, secret))
    }

    pub async fn revoke_api_key(&self, tenant: TenantId, key: ApiKeyId) -> Result<(), EngineError> {
        let mut record: ApiKeyRecord = self
            .get(tables::API_KEYS, &tables::api_key_key(key))?
            .filter(|record: &ApiKeyRecord| record.tenant == tenant)
            .ok_or(EngineError::NotFound { what: "API key" })?;
        if record.revoked_at.is_some() {
            return Ok(());
        }
        record.revoked_at = Some(now_millis());
        let mut batch = Batch::new();
        batch.put(
            tables::API_KEYS,
            tables::api_key_key(key),
            codec::encode(&record),
        );
        // Revoke in memory first: a revoked key must stop working even if the write is slow.
        self.inner.keys_by_hash.remove(&record.secret_hash);
        self.inner.store.commit(batch).await?;
        Ok(())
    }

    pub fn api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyRecord>, EngineError> {
        Ok(self
            .scan_all::<ApiKeyRecord>(Scan::prefix(tables::API_KEYS, &[]))?
            .into_iter()
            .filter(|key| key.tenant == tenant)
            .collect())
    }

    /// The live key whose secret this is, if any.
    pub fn authenticate(&self, secret: &str) -> Option<ApiKeyRecord> {
        let hash = secrets::sha256(secret.as_bytes());
        self.inner
            .keys_by_hash
            .get(&hash)
            .map(|record| record.clone())
    }

    // ----- admin token ---------------------------------------------------------------------

    pub fn admin_token_hash(&self) -> Result<Option<[u8; 32]>, EngineError> {
        self.get(tables::META, tables::META_ADMIN_TOKEN_HASH)
    }

    pub async fn set_admin_token(&self, token: &str) -> Result<(), EngineError> {
        let mut batch = Batch::new();
        batch.put(
            tables::META,
            tables::META_ADMIN_TOKEN_HASH.to_vec(),
            codec::encode(&secrets::sha256(token.as_bytes())),
        );
        Ok(self.inner.store.commit(batch).await?)
    }

    pub fn is_bootstrapped(&self) -> Result<bool, EngineError> {
        Ok(self
            .get::<bool>(tables::META, tables::META_BOOTSTRAPPED)?
            .unwrap_or(false))
    }

    pub async fn mark_bootstrapped(&self) -> Result<(), EngineError> {
        let mut batch = Batch::new();
        batch.put(
            tables::META,
            tables::META_BOOTSTRAPPED.to_vec(),
            codec::encode(&true),
        );
        Ok(self.inner.store.commit(batch).await?)
    }

    // ----- credits -------------------------------------------------------------------------

    pub async fn add_credits(
        &self,
        tenant: TenantId,
        kind: TransactionKind,
        amount: i64,
        description: String,
        idempotency: Option<IdempotencyClaim>,
    ) -> Result<TransactionRecord, EngineError> {
        if kind == TransactionKind::Usage {
            return Err(EngineError::invalid(
                "invalid_type",
                "USAGE transactions come from sends only",
            ));
        }
        if amount == 0
            || (kind != TransactionKind::Adjustment && amount < 0)
            || !(-MAX_CREDIT_AMOUNT..=MAX_CREDIT_AMOUNT).contains(&amount)
        {
            return Err(EngineError::invalid(
                "invalid_amount",
                format!(
                    "`amount` must be positive (only ADJUSTMENT may be negative) and at most {MAX_CREDIT_AMOUNT} in size"
                ),
            ));
        }
        let entry = self.entry(tenant)?;
        let actor = self.actor(&entry)?;
        let credit = Credit {
            kind,
            amount,
            description,
            reference: None,
            idempotency,
            settles: Vec::new(),
        };
        let credited = match actor
            .call(|reply| TenantMsg::Credit(credit, reply), None)
            .await
        {
            Ok(CallResult::Success(result)) => result?,
            _ => {
                return Err(EngineError::Unavailable(
                    "the tenant's account is restarting".into(),
                ));
            }
        };
        if let Err(error) = credited.durable.await {
            let _ = actor.cast(TenantMsg::Resync);
            return Err(error.into());
        }
        Ok(credited.transaction)
    }

    // ----- sender IDs ----------------------------------------------------------------------

    /// Adds an approved sender ID (operators approve by creating).
    pub async fn create_sender_id(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> Result<SenderIdRecord, EngineError> {
        let name = name.trim();
        validate_sender_name(name)?;
        let entry = self.entry(tenant)?;
        if read(&entry.senders)
            .iter()
            .any(|sender| sender.name.eq_ignore_ascii_case(name))
        {
            return Err(EngineError::Conflict {
                code: "sender_id_exists",
                message: format!("sender ID `{name}` already exists"),
            });
        }
        let now = now_millis();
        let record = SenderIdRecord {
            id: SenderId::new(),
            tenant,
            name: name.to_string(),
            status: SenderStatus::Approved,
            created_at: now,
            approved_at: Some(now),
        };
        let mut batch = Batch::new();
        batch.put(
            tables::SENDER_IDS,
            tables::owned_key(tenant, record.id.to_bytes()),
            codec::encode(&record),
        );
        self.inner.store.commit(batch).await?;
        write(&entry.senders).push(record.clone());
        self.inner.dispatch.claim_number(&record.name, tenant);
        Ok(record)
    }

    /// The tenant's approved sender IDs, oldest first.
    pub fn approved_sender_ids(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<SenderIdRecord>, EngineError> {
        Ok(read(&self.entry(tenant)?.senders)
            .iter()
            .filter(|sender| sender.status == SenderStatus::Approved)
            .cloned()
            .collect())
    }

    // ----- queries -------------------------------------------------------------------------

    pub fn message(
        &self,
        tenant: TenantId,
        message: MessageId,
    ) -> Result<Option<MessageRecord>, EngineError> {
        self.get(
            tables::MESSAGES,
            &tables::owned_key(tenant, message.to_bytes()),
        )
    }

    /// The message and every recipient, in the order they were given.
    pub fn recipients(
        &self,
        tenant: TenantId,
        message: MessageId,
    ) -> Result<Option<(MessageRecord, Vec<RecipientRecord>)>, EngineError> {
        let Some(record) = self.message(tenant, message)? else {
            return Ok(None);
        };
        Ok(Some((record, self.recipient_records(message)?)))
    }

    /// Every recipient of a message, in index order (its blocks, flattened).
    fn recipient_records(&self, message: MessageId) -> Result<Vec<RecipientRecord>, EngineError> {
        let blocks: Vec<Vec<RecipientRecord>> =
            self.scan_all(Scan::prefix(tables::RECIPIENTS, &message.to_bytes()))?;
        Ok(blocks.into_iter().flatten().collect())
    }

    /// Messages newest first.
    pub fn messages(
        &self,
        tenant: TenantId,
        filter: MessageFilter,
        page: PageRequest,
    ) -> Result<Paged<MessageRecord>, EngineError> {
        let scan = time_range_scan(tables::MESSAGES, tenant, filter.from, filter.until);
        self.paged(scan, page, |message: &MessageRecord| {
            filter
                .status
                .is_none_or(|status| message.counts.status() == status)
        })
    }

    /// Ledger entries newest first.
    pub fn transactions(
        &self,
        tenant: TenantId,
        filter: TransactionFilter,
        page: PageRequest,
    ) -> Result<Paged<TransactionRecord>, EngineError> {
        let scan = time_range_scan(tables::LEDGER, tenant, filter.from, filter.until);
        self.paged(scan, page, |transaction: &TransactionRecord| {
            filter.kind.is_none_or(|kind| transaction.kind == kind)
        })
    }

    /// Inbound SMS of a tenant, newest first.
    pub fn inbound(
        &self,
        tenant: TenantId,
        from: Option<UnixMillis>,
        until: Option<UnixMillis>,
        page: PageRequest,
    ) -> Result<Paged<crate::store::records::InboundRecord>, EngineError> {
        let scan = time_range_scan(tables::INBOUND, tenant, from, until);
        self.paged(scan, page, |_: &crate::store::records::InboundRecord| true)
    }

    /// Every ledger entry of a tenant, oldest first (audits and tests).
    pub fn ledger(&self, tenant: TenantId) -> Result<Vec<TransactionRecord>, EngineError> {
        self.scan_all(Scan::prefix(tables::LEDGER, &tables::tenant_key(tenant)))
    }

    // ----- storage helpers -----------------------------------------------------------------

    pub(crate) fn get<T: DeserializeOwned>(
        &self,
        tree: &str,
        key: &[u8],
    ) -> Result<Option<T>, EngineError> {
        match self.inner.store.get(tree, key)? {
            Some(bytes) => Ok(Some(codec::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    pub(crate) fn scan_all<T: DeserializeOwned>(&self, scan: Scan) -> Result<Vec<T>, EngineError> {
        let page = self.inner.store.scan(&scan)?;
        page.items
            .iter()
            .map(|(_, value)| codec::decode(value).map_err(EngineError::from))
            .collect()
    }

    /// Walks `scan` in chunks, counting every match and keeping the ones on the asked page.
    pub(crate) fn paged<T: DeserializeOwned>(
        &self,
        mut scan: Scan,
        page: PageRequest,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Paged<T>, EngineError> {
        const CHUNK: usize = 1024;
        let skip = (page.page.max(1) as u64 - 1) * page.limit as u64;
        let mut items = Vec::new();
        let mut total = 0u64;
        scan.limit = CHUNK;
        loop {
            let chunk = self.inner.store.scan(&scan)?;
            for (_, value) in &chunk.items {
                let item: T = codec::decode(value)?;
                if !keep(&item) {
                    continue;
                }
                if total >= skip && items.len() < page.limit as usize {
                    items.push(item);
                }
                total += 1;
            }
            match chunk.next {
                Some(cursor) => scan.after = Some(cursor),
                None => break,
            }
        }
        Ok(Paged { items, total })
    }
}

/// A newest-first scan over a tenant's time-keyed records between two instants (inclusive).
pub(crate) fn time_range_scan(
    tree: &'static str,
    tenant: TenantId,
    from: Option<UnixMillis>,
    until: Option<UnixMillis>,
) -> Scan {
    use std::ops::Bound;
    let start = tables::owned_time_bound(tenant, from.unwrap_or(0));
    let end = match until {
        Some(until) => Bound::Excluded(tables::owned_time_bound(tenant, until.saturating_add(1))),
        None => flit_storage::prefix_end(&tables::tenant_key(tenant)),
    };
    Scan::range(tree, Bound::Included(start), end).reverse()
}

/// Bounds that keep every price and balance computation far from `i64` overflow.
pub const MAX_PRICE_PER_PART: i64 = 1_000_000;
pub const MAX_CREDIT_AMOUNT: i64 = 1_000_000_000_000;

fn check_price(price: i64) -> Result<(), EngineError> {
    if (0..=MAX_PRICE_PER_PART).contains(&price) {
        Ok(())
    } else {
        Err(EngineError::invalid(
            "invalid_price",
            format!("`pricePerPart` must be between 0 and {MAX_PRICE_PER_PART}"),
        ))
    }
}

pub(crate) fn parse_country(code: &str) -> Result<Country, EngineError> {
    code.parse::<Country>().map_err(|_| {
        EngineError::invalid(
            "invalid_country",
            format!("`{code}` is not an ISO 3166 country code"),
        )
    })
}

/// Sender IDs are what a phone shows: up to 11 alphanumerics, or a number up to 15 digits.
fn validate_sender_name(name: &str) -> Result<(), EngineError> {
    let digits = name.trim_start_matches('+');
    let numeric = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    let ok = if numeric {
        digits.len() <= 15
    } else {
        !name.is_empty()
            && name.len() <= 11
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b" -_.&".contains(&b))
    };
    if ok {
        Ok(())
    } else {
        Err(EngineError::invalid(
            "invalid_sender_id",
            "a sender ID is up to 11 letters and digits, or a phone number of up to 15 digits",
        ))
    }
}

pub(crate) fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
