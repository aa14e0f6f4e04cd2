//! Notifications: webhooks. A state change that customers hear about (a recipient sent,
//! delivered or failed, an SMS received, a message cancelled) writes one delivery per
//! subscribed webhook into the outbox in the same batch as the change itself (`record`), so an
//! event exists exactly when its cause does. The dispatcher (`dispatcher.rs`) then delivers
//! each webhook's outbox from disk, one worker per webhook so that a slow or dead endpoint
//! delays nobody else; `policy.rs` holds the rules (targets, signatures, retries) and
//! `webhooks.rs` the tenant's operations.
//!
//! The engine speaks no HTTP and writes no JSON: the API hands it a `WebhookTransport` that
//! encodes an event's body and sends one attempt to the address the engine resolved and
//! checked.

pub(crate) mod dispatcher;
pub mod policy;
pub(crate) mod smpp;
pub(crate) mod webhooks;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use flit_storage::{Batch, Store};
use futures::future::BoxFuture;

use crate::clock::Clock;
use crate::ids::{DeliveryId, EventId, SmppAccountId, TenantId, WebhookId};
use crate::slot::ActorSlot;
use crate::store::records::{
    DeliveryRecord, DeliveryState, EventData, EventKind, EventKinds, UnixMillis, WebhookEvent,
    WebhookRecord,
};
use crate::store::tables;
use dispatcher::{DispatcherMsg, Workers};
use policy::{Backoff, Target};

/// How webhooks are delivered.
#[derive(Clone)]
pub struct WebhookSettings {
    /// Deliver to private, loopback and link-local addresses too (off by default: a tenant
    /// must not reach the operator's internal network through Flit).
    pub allow_private_networks: bool,
    /// Attempts of one event before it is given up (a redelivery by hand starts again).
    pub max_attempts: u16,
    /// Time an attempt may take, from resolving the name to the endpoint's status line.
    pub timeout: Duration,
    pub backoff: Backoff,
    /// Attempts in flight at once on one webhook.
    pub concurrency: usize,
    /// How long the secret before a rotation still signs.
    pub rotation_grace: Duration,
    /// Sends the attempts; `None` leaves every delivery pending (an engine without an API).
    pub transport: Option<Arc<dyn WebhookTransport>>,
    pub resolver: Arc<dyn Resolve>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            allow_private_networks: false,
            max_attempts: 12,
            timeout: Duration::from_secs(10),
            backoff: Backoff {
                base: Duration::from_secs(10),
                max: Duration::from_secs(3600),
            },
            concurrency: 16,
            rotation_grace: Duration::from_secs(24 * 3600),
            transport: None,
            resolver: Arc::new(SystemResolver),
        }
    }
}

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("allow_private_networks", &self.allow_private_networks)
            .field("max_attempts", &self.max_attempts)
            .field("timeout", &self.timeout)
            .field("backoff", &self.backoff)
            .field("concurrency", &self.concurrency)
            .field("rotation_grace", &self.rotation_grace)
            .field("transport", &self.transport.is_some())
            .finish_non_exhaustive()
    }
}

/// One attempt, ready to send: connect to `address` (resolved and checked by the engine) and
/// nowhere else, present `target.host` (the Host header, and the TLS server name for https).
pub struct WebhookRequest {
    pub target: Target,
    pub address: SocketAddr,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// What the API gives the engine to deliver webhooks with.
pub trait WebhookTransport: Send + Sync {
    /// The body of `event` (JSON: id, type, time, data).
    fn body(&self, event: &WebhookEvent) -> Vec<u8>;
    /// Sends one attempt and returns the endpoint's status code, or why there was none. The
    /// engine bounds it with the attempt's timeout.
    fn post(&self, request: WebhookRequest) -> BoxFuture<'static, Result<u16, String>>;
}

/// Name resolution, so tests can say what a name resolves to.
pub trait Resolve: Send + Sync {
    fn resolve(
        &self,
        host: String,
        port: u16,
    ) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>>;
}

/// The system's resolver.
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(
        &self,
        host: String,
        port: u16,
    ) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) })
    }
}

/// A webhook as the writers of events see it: which events it wants.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Subscription {
    pub id: WebhookId,
    pub events: EventKinds,
}

/// What notifications share across actor restarts.
pub(crate) struct NotifyShared {
    pub store: Store,
    pub clock: Clock,
    pub settings: WebhookSettings,
    /// Each tenant's webhooks, read by every event writer.
    pub subscriptions: DashMap<TenantId, Arc<[Subscription]>>,
    /// Deliveries written and not yet delivered or given up (the outbox's depth).
    pub depth: AtomicI64,
    pub workers: Workers,
    pub dispatcher: ActorSlot<DispatcherMsg>,
    /// Receipts and inbound SMS for the tenants' SMPP binds.
    pub smpp: smpp::SmppNotify,
}

/// Who an event written into a batch is to wake once the batch is durable: webhooks' workers
/// and SMPP accounts' deliveries.
#[derive(Default)]
pub(crate) struct Kicks {
    pub webhooks: HashSet<WebhookId>,
    pub smpp: HashSet<SmppAccountId>,
}

impl NotifyShared {
    pub(crate) fn new(store: Store, clock: Clock, settings: WebhookSettings) -> Arc<NotifyShared> {
        Arc::new(NotifyShared {
            store,
            clock,
            settings,
            subscriptions: DashMap::new(),
            depth: AtomicI64::new(0),
            workers: Workers::default(),
            dispatcher: ActorSlot::default(),
            smpp: smpp::SmppNotify::default(),
        })
    }

    /// Writes `kind` into `batch` for every webhook of `tenant` that wants it, with the data
    /// `data` builds (only when one does), and names those webhooks in `kicks`, to be woken
    /// once the batch is durable. An SMS received goes to the tenant's SMPP accounts too.
    pub(crate) fn record(
        &self,
        batch: &mut Batch,
        tenant: TenantId,
        kind: EventKind,
        data: impl FnOnce() -> EventData,
        kicks: &mut Kicks,
    ) {
        let subscriptions = self.subscriptions.get(&tenant).map(|s| s.clone());
        let wanted = || {
            subscriptions
                .iter()
                .flat_map(|list| list.iter())
                .filter(|subscription| subscription.events.contains(kind))
        };
        let any_wanted = wanted().next().is_some();
        let to_smpp = kind == EventKind::MessageReceived && self.smpp.has_accounts(tenant);
        if !any_wanted && !to_smpp {
            return;
        }
        let data = data();
        if to_smpp && let EventData::Received(record) = &data {
            self.smpp.record_inbound(batch, record, &mut kicks.smpp);
        }
        if !any_wanted {
            return;
        }
        let now = self.clock.now_millis();
        let event = WebhookEvent {
            id: EventId::new(),
            kind,
            created_at: now,
            data,
        };
        for subscription in wanted() {
            let delivery = DeliveryRecord {
                id: DeliveryId::new(),
                webhook: subscription.id,
                event: event.clone(),
                state: DeliveryState::Pending,
                round_attempts: 0,
                attempts: Vec::new(),
                next_attempt_at: Some(now),
            };
            self.enqueue(batch, tenant, &delivery, now);
            kicks.webhooks.insert(subscription.id);
            self.depth.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Puts `delivery` in the outbox, due at `due`.
    fn enqueue(
        &self,
        batch: &mut Batch,
        tenant: TenantId,
        delivery: &DeliveryRecord,
        due: UnixMillis,
    ) {
        tables::WEBHOOK_DELIVERIES.put(batch, &(tenant, delivery.webhook, delivery.id), delivery);
        tables::WEBHOOK_OUTBOX.put(
            batch,
            &outbox_key(delivery.webhook, due, delivery.id),
            &tenant,
        );
    }

    /// Wakes the workers of the webhooks and the deliveries of the SMPP accounts `kicks`
    /// names (after the batch that gave them work is durable).
    pub(crate) fn kick(&self, kicks: Kicks) {
        for webhook in kicks.webhooks {
            self.workers.wake(webhook);
        }
        self.smpp.kick(kicks.smpp);
    }

    /// Makes `webhook` known to the event writers (created, or read at start).
    fn subscribe(&self, webhook: &WebhookRecord) {
        let mut list: Vec<Subscription> = self
            .subscriptions
            .get(&webhook.tenant)
            .map(|s| s.iter().filter(|s| s.id != webhook.id).copied().collect())
            .unwrap_or_default();
        list.push(Subscription {
            id: webhook.id,
            events: webhook.events,
        });
        self.subscriptions.insert(webhook.tenant, list.into());
    }

    fn unsubscribe(&self, tenant: TenantId, webhook: WebhookId) {
        if let Some(mut entry) = self.subscriptions.get_mut(&tenant) {
            let list: Vec<Subscription> =
                entry.iter().filter(|s| s.id != webhook).copied().collect();
            *entry = list.into();
        }
    }

    /// Sets the outbox gauge (sampled when `/metrics` is scraped).
    pub(crate) fn record_gauges(&self) {
        metrics::gauge!("flit_webhook_outbox_depth")
            .set(self.depth.load(Ordering::Relaxed).max(0) as f64);
        self.smpp.record_gauges();
    }
}

pub(crate) fn outbox_key(
    webhook: WebhookId,
    due: UnixMillis,
    delivery: DeliveryId,
) -> tables::OutboxKey {
    (webhook, u64::try_from(due).unwrap_or(0), delivery)
}
