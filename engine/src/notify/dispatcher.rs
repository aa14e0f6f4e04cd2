//! The webhook dispatcher: one actor that keeps a worker running for every webhook, and the
//! workers, each delivering its webhook's outbox in due order.
//!
//! A worker reads the deliveries that are due from the outbox on disk (a page at a time:
//! nothing waits in memory), attempts them a few at a time, and writes every attempt and what
//! follows from it (delivered, retried later, given up) in one batch. It sleeps until the next
//! delivery is due or until a writer of events wakes it. A restart resumes from the outbox:
//! an attempt in flight when the process stopped is made again (receivers dedupe by event
//! id); no other event is sent twice, none is lost.
//!
//! Restart policy: the dispatcher is restarted by the root supervisor; it stops every worker
//! of its previous incarnation and starts them afresh. A worker that ends on an error is
//! started again by the dispatcher after a pause; one worker's trouble stops no other.

use std::collections::HashSet;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use flit_storage::{Batch, CommitTicket, StorageError};
use futures::StreamExt as _;
use futures::future::BoxFuture;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use tokio::sync::Notify;

use super::policy::{self, Target};
use super::{NotifyShared, WebhookRequest, WebhookTransport, outbox_key};
use crate::ids::{DeliveryId, TenantId, WebhookId};
use crate::store::Key as _;
use crate::store::records::{AttemptRecord, DeliveryRecord, DeliveryState, WebhookRecord};
use crate::store::tables;
use crate::supervisor::ChildSpec;

/// Outbox entries read per round of one worker.
const PAGE: usize = 256;
/// Attempts kept on a delivery record (the oldest are dropped).
const KEPT_ATTEMPTS: usize = 50;
/// A worker that ended on an error starts again after this.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

pub(crate) enum DispatcherMsg {
    /// A webhook exists: run its worker (starting it afresh if one runs).
    Start {
        tenant: TenantId,
        webhook: WebhookId,
    },
    /// A webhook was deleted: stop its worker and clear what it left in the outbox.
    Stop {
        tenant: TenantId,
        webhook: WebhookId,
    },
    /// A worker ended on its own.
    Ended {
        tenant: TenantId,
        webhook: WebhookId,
        generation: u64,
    },
}

/// The running workers, by webhook.
#[derive(Default)]
pub(crate) struct Workers {
    running: DashMap<WebhookId, Worker>,
    generations: AtomicU64,
}

struct Worker {
    waker: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
    generation: u64,
}

impl Workers {
    /// Wakes `webhook`'s worker; a wake while it works is kept for its next look.
    pub(crate) fn wake(&self, webhook: WebhookId) {
        if let Some(worker) = self.running.get(&webhook) {
            worker.waker.notify_one();
        }
    }

    fn spawn(
        &self,
        shared: &Arc<NotifyShared>,
        tenant: TenantId,
        webhook: WebhookId,
        dispatcher: ActorRef<DispatcherMsg>,
    ) {
        let generation = self.generations.fetch_add(1, Ordering::Relaxed);
        let waker = Arc::new(Notify::new());
        let ended = Ended {
            dispatcher,
            tenant,
            webhook,
            generation,
        };
        let task = tokio::spawn(run(shared.clone(), tenant, webhook, waker.clone(), ended));
        let previous = self.running.insert(
            webhook,
            Worker {
                waker,
                task,
                generation,
            },
        );
        if let Some(previous) = previous {
            previous.task.abort();
        }
    }

    fn stop(&self, webhook: WebhookId) {
        if let Some((_, worker)) = self.running.remove(&webhook) {
            worker.task.abort();
        }
    }

    /// Stops `webhook`'s worker; its task is returned, to wait until it is gone (and with it
    /// any write of its own).
    pub(super) fn stop_now(&self, webhook: WebhookId) -> Option<tokio::task::JoinHandle<()>> {
        let (_, worker) = self.running.remove(&webhook)?;
        worker.task.abort();
        Some(worker.task)
    }

    /// Stops every worker; the tasks are returned so a caller can wait until they are gone
    /// (and with them their hold on the store).
    fn stop_all(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let webhooks: Vec<WebhookId> = self.running.iter().map(|worker| *worker.key()).collect();
        webhooks
            .into_iter()
            .filter_map(|webhook| self.running.remove(&webhook))
            .map(|(_, worker)| {
                worker.task.abort();
                worker.task
            })
            .collect()
    }

    fn is_current(&self, webhook: WebhookId, generation: u64) -> bool {
        self.running
            .get(&webhook)
            .is_some_and(|worker| worker.generation == generation)
    }
}

/// Tells the dispatcher that a worker ended, however it ended (an error, a panic, an abort:
/// the dispatcher tells them apart by generation).
struct Ended {
    dispatcher: ActorRef<DispatcherMsg>,
    tenant: TenantId,
    webhook: WebhookId,
    generation: u64,
}

impl Drop for Ended {
    fn drop(&mut self) {
        let _ = self.dispatcher.cast(DispatcherMsg::Ended {
            tenant: self.tenant,
            webhook: self.webhook,
            generation: self.generation,
        });
    }
}

pub(crate) struct DispatcherActor;

/// How the supervisor starts (and restarts) the dispatcher.
pub(crate) struct DispatcherChild(pub Arc<NotifyShared>);

impl ChildSpec for DispatcherChild {
    fn describe(&self) -> String {
        "webhook dispatcher".to_string()
    }

    fn label(&self) -> &'static str {
        "webhook_dispatcher"
    }

    fn spawn(&self, supervisor: ActorCell) -> BoxFuture<'_, Result<ActorCell, String>> {
        Box::pin(async move {
            let shared = &self.0;
            shared
                .dispatcher
                .start(DispatcherActor, shared.clone(), supervisor)
                .await
        })
    }

    fn vacate(&self) {
        self.0.dispatcher.set(None);
    }
}

impl Actor for DispatcherActor {
    type Msg = DispatcherMsg;
    type State = Arc<NotifyShared>;
    type Arguments = Arc<NotifyShared>;

    async fn pre_start(
        &self,
        myself: ActorRef<DispatcherMsg>,
        shared: Arc<NotifyShared>,
    ) -> Result<Arc<NotifyShared>, ActorProcessingErr> {
        for task in shared.workers.stop_all() {
            let _ = task.await;
        }
        let webhooks = tables::WEBHOOKS.values(&shared.store, &())?;
        let known: HashSet<WebhookId> = webhooks.iter().map(|webhook| webhook.id).collect();
        for webhook in &webhooks {
            shared
                .workers
                .spawn(&shared, webhook.tenant, webhook.id, myself.clone());
        }
        let depth = tables::WEBHOOK_OUTBOX.count(&shared.store, &())?;
        shared.depth.store(depth as i64, Ordering::Relaxed);
        // What a webhook deleted just before a crash left behind.
        for (webhook, tenant) in outbox_webhooks(&shared)? {
            if !known.contains(&webhook) {
                let _ = myself.cast(DispatcherMsg::Stop { tenant, webhook });
            }
        }
        Ok(shared)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<DispatcherMsg>,
        shared: &mut Arc<NotifyShared>,
    ) -> Result<(), ActorProcessingErr> {
        // Waited for, so that a stopped engine holds its store no longer.
        for task in shared.workers.stop_all() {
            let _ = task.await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<DispatcherMsg>,
        message: DispatcherMsg,
        shared: &mut Arc<NotifyShared>,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            DispatcherMsg::Start { tenant, webhook } => {
                shared.workers.spawn(shared, tenant, webhook, myself);
            }
            DispatcherMsg::Stop { tenant, webhook } => {
                shared.workers.stop(webhook);
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(error) = clear(&shared, tenant, webhook).await {
                        tracing::warn!(%webhook, %error, "could not clear a deleted webhook's outbox; retried at the next start");
                    }
                });
            }
            DispatcherMsg::Ended {
                tenant,
                webhook,
                generation,
            } => {
                if !shared.workers.is_current(webhook, generation) {
                    return Ok(());
                }
                // A worker ends by itself when its webhook is gone; only then is that right.
                if tables::WEBHOOKS
                    .get(&shared.store, &(tenant, webhook))?
                    .is_none()
                {
                    shared.workers.stop(webhook);
                } else {
                    tracing::warn!(%webhook, "webhook worker ended; starting it again");
                    metrics::counter!("flit_actor_restarts_total", "actor" => "webhook_worker")
                        .increment(1);
                    tokio::spawn(async move {
                        tokio::time::sleep(RESTART_PAUSE).await;
                        let _ = myself.cast(DispatcherMsg::Start { tenant, webhook });
                    });
                }
            }
        }
        Ok(())
    }
}

/// Each webhook that has deliveries in the outbox, once, with the tenant of its first one.
fn outbox_webhooks(shared: &NotifyShared) -> Result<Vec<(WebhookId, TenantId)>, StorageError> {
    let mut found = Vec::new();
    let mut scan = tables::WEBHOOK_OUTBOX.scan(&());
    scan.limit = 1;
    loop {
        let page = shared.store.scan(&scan)?;
        let Some((key, value)) = page.items.into_iter().next() else {
            return Ok(found);
        };
        let Some(webhook) = key.get(..16).and_then(|id| <[u8; 16]>::try_from(id).ok()) else {
            return Ok(found);
        };
        let webhook = WebhookId::from_bytes(webhook);
        found.push((webhook, tables::WEBHOOK_OUTBOX.decode(&value)?));
        // Skip to the next webhook's entries.
        scan.start = match flit_storage::prefix_end(&webhook.encode()) {
            Bound::Excluded(end) => Bound::Included(end),
            _ => return Ok(found),
        };
    }
}

/// Removes a deleted webhook's outbox entries and its deliveries.
pub(super) async fn clear(
    shared: &NotifyShared,
    tenant: TenantId,
    webhook: WebhookId,
) -> Result<(), StorageError> {
    let removed = tables::WEBHOOK_OUTBOX
        .clear(&shared.store, &webhook)
        .await?;
    shared.depth.fetch_sub(removed as i64, Ordering::Relaxed);
    tables::WEBHOOK_DELIVERIES
        .clear(&shared.store, &(tenant, webhook))
        .await?;
    Ok(())
}

/// One worker: delivers `webhook`'s outbox until the webhook is deleted.
async fn run(
    shared: Arc<NotifyShared>,
    tenant: TenantId,
    webhook: WebhookId,
    waker: Arc<Notify>,
    _ended: Ended,
) {
    if let Err(error) = deliver(&shared, tenant, webhook, &waker).await {
        tracing::warn!(%webhook, %error, "webhook worker stopped on a storage error");
    }
}

async fn deliver(
    shared: &NotifyShared,
    tenant: TenantId,
    webhook: WebhookId,
    waker: &Notify,
) -> Result<(), StorageError> {
    let Some(transport) = shared.settings.transport.clone() else {
        // No way to send: deliveries stay in the outbox.
        std::future::pending::<()>().await;
        return Ok(());
    };
    loop {
        let Some(record) = tables::WEBHOOKS.get(&shared.store, &(tenant, webhook))? else {
            return Ok(());
        };
        let now = shared.clock.now_millis();
        let due_until = outbox_key(
            webhook,
            now.saturating_add(1),
            DeliveryId::from_bytes([0; 16]),
        );
        let mut scan = tables::WEBHOOK_OUTBOX.range(
            Bound::Included((webhook, 0u64).encode()),
            Bound::Excluded(due_until.encode()),
        );
        scan.limit = PAGE;
        let due: Vec<tables::OutboxKey> = shared
            .store
            .scan(&scan)?
            .items
            .iter()
            .filter_map(|(key, _)| decode_outbox_key(key))
            .collect();
        if due.is_empty() {
            let wait = next_due(shared, webhook)?
                .map(|at| shared.clock.until(at))
                .unwrap_or(Duration::from_secs(3600));
            tokio::select! {
                _ = waker.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
            continue;
        }
        // Each attempt is handed to the store as soon as it is made (concurrent ones commit
        // together), and the worker moves on without waiting for it; before it reads the outbox
        // again every one is durable. A crash repeats only attempts whose record was not yet
        // on disk.
        let written: Vec<Result<(CommitTicket, bool), StorageError>> = futures::stream::iter(due)
            .map(|key| {
                let (transport, record) = (transport.clone(), &record);
                async move {
                    let delivery = tables::WEBHOOK_DELIVERIES
                        .get(&shared.store, &(tenant, webhook, key.2))?
                        .filter(|delivery| delivery.state == DeliveryState::Pending);
                    let mut batch = Batch::new();
                    tables::WEBHOOK_OUTBOX.delete(&mut batch, &key);
                    // Delivered, given up or gone already: only the entry is left to remove.
                    let Some(delivery) = delivery else {
                        return Ok((shared.store.submit(batch), false));
                    };
                    let delivery = attempt(shared, record, delivery, &*transport).await;
                    let settled = match (delivery.state, delivery.next_attempt_at) {
                        (DeliveryState::Pending, Some(next)) => {
                            let key = outbox_key(webhook, next, delivery.id);
                            tables::WEBHOOK_OUTBOX.put(&mut batch, &key, &tenant);
                            false
                        }
                        _ => true,
                    };
                    let key = (tenant, webhook, delivery.id);
                    tables::WEBHOOK_DELIVERIES.put(&mut batch, &key, &delivery);
                    Ok((shared.store.submit(batch), settled))
                }
            })
            .buffer_unordered(shared.settings.concurrency.max(1))
            .collect()
            .await;
        for result in written {
            let (ticket, settled) = result?;
            ticket.await?;
            if settled {
                shared.depth.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

/// When the first delivery still in `webhook`'s outbox is due.
fn next_due(shared: &NotifyShared, webhook: WebhookId) -> Result<Option<i64>, StorageError> {
    let mut scan = tables::WEBHOOK_OUTBOX.scan(&webhook);
    scan.limit = 1;
    Ok(shared
        .store
        .scan(&scan)?
        .items
        .first()
        .and_then(|(key, _)| decode_outbox_key(key))
        .map(|(_, due, _)| i64::try_from(due).unwrap_or(i64::MAX)))
}

fn decode_outbox_key(key: &[u8]) -> Option<tables::OutboxKey> {
    let webhook = <[u8; 16]>::try_from(key.get(..16)?).ok()?;
    let due = <[u8; 8]>::try_from(key.get(16..24)?).ok()?;
    let delivery = <[u8; 16]>::try_from(key.get(24..40)?).ok()?;
    Some((
        WebhookId::from_bytes(webhook),
        u64::from_be_bytes(due),
        DeliveryId::from_bytes(delivery),
    ))
}

/// What an attempt came to.
enum Verdict {
    Delivered,
    /// Worth another attempt (no answer, a server error, 408, 429).
    Retry,
    /// Not worth another: a refusal the endpoint will repeat, or a target Flit must not call.
    GiveUp,
}

/// Makes one attempt of `delivery` and returns it with the attempt recorded and its next step
/// decided.
async fn attempt(
    shared: &NotifyShared,
    webhook: &WebhookRecord,
    mut delivery: DeliveryRecord,
    transport: &dyn WebhookTransport,
) -> DeliveryRecord {
    let settings = &shared.settings;
    let now = shared.clock.now_millis();
    let started = tokio::time::Instant::now();
    let sent = tokio::time::timeout(
        settings.timeout,
        send(shared, webhook, &delivery, transport, now),
    )
    .await;
    let latency = started.elapsed();
    let (status, error, verdict) = match sent {
        Err(_) => (
            None,
            Some(format!(
                "no answer within {} ms",
                settings.timeout.as_millis()
            )),
            Verdict::Retry,
        ),
        Ok(Err(Failure::Refused(why))) => (None, Some(why), Verdict::GiveUp),
        Ok(Err(Failure::Network(why))) => (None, Some(why), Verdict::Retry),
        Ok(Ok(status)) if (200..300).contains(&status) => (Some(status), None, Verdict::Delivered),
        Ok(Ok(status)) if policy::is_retryable(status) => (
            Some(status),
            Some(format!("the endpoint answered {status}")),
            Verdict::Retry,
        ),
        Ok(Ok(status)) => (
            Some(status),
            Some(format!(
                "the endpoint answered {status}, which is not retried"
            )),
            Verdict::GiveUp,
        ),
    };
    metrics::histogram!("flit_webhook_attempt_duration_seconds").record(latency.as_secs_f64());
    delivery.round_attempts = delivery.round_attempts.saturating_add(1);
    let result = match verdict {
        Verdict::Delivered => {
            delivery.state = DeliveryState::Delivered;
            delivery.next_attempt_at = None;
            "delivered"
        }
        Verdict::Retry if delivery.round_attempts < settings.max_attempts => {
            let wait = settings
                .backoff
                .after(delivery.round_attempts, policy::Backoff::jitter());
            let wait = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
            delivery.next_attempt_at = Some(shared.clock.now_millis().saturating_add(wait));
            "retry"
        }
        Verdict::Retry | Verdict::GiveUp => {
            delivery.state = DeliveryState::Failed;
            delivery.next_attempt_at = None;
            "failed"
        }
    };
    delivery.attempts.push(AttemptRecord {
        at: now,
        status,
        latency_ms: u32::try_from(latency.as_millis()).unwrap_or(u32::MAX),
        error,
        retry_at: delivery.next_attempt_at,
    });
    if delivery.attempts.len() > KEPT_ATTEMPTS {
        delivery.attempts.remove(0);
    }
    metrics::counter!("flit_webhook_deliveries_total", "result" => result).increment(1);
    delivery
}

pub(crate) enum Failure {
    /// Flit will not call this target (it resolves into a private network, or not at all).
    Refused(String),
    /// No answer: the connection failed or broke.
    Network(String),
}

/// Resolves and checks the target, signs the body and sends it.
async fn send(
    shared: &NotifyShared,
    webhook: &WebhookRecord,
    delivery: &DeliveryRecord,
    transport: &dyn WebhookTransport,
    now: i64,
) -> Result<u16, Failure> {
    let target =
        Target::parse(&webhook.url).map_err(|error| Failure::Refused(error.to_string()))?;
    let address = resolve(shared, &target).await?;
    let body = transport.body(&delivery.event);
    let timestamp = now.div_euclid(1000);
    let mut secrets = vec![webhook.secret.as_str()];
    if let (Some(previous), Some(until)) = (&webhook.previous_secret, webhook.previous_until)
        && until > now
    {
        secrets.push(previous);
    }
    let headers = vec![
        ("content-type", "application/json".to_string()),
        ("user-agent", "Flit-Webhooks/1".to_string()),
        ("x-flit-event", delivery.event.kind.as_str().to_string()),
        ("x-flit-event-id", delivery.event.id.to_string()),
        ("x-flit-delivery", delivery.id.to_string()),
        ("x-flit-timestamp", timestamp.to_string()),
        (
            "x-flit-signature",
            policy::signature(&secrets, timestamp, &body),
        ),
    ];
    transport
        .post(WebhookRequest {
            target,
            address,
            headers,
            body,
        })
        .await
        .map_err(Failure::Network)
}

/// The address to connect to: the target's own when it is a literal, else what its name
/// resolves to now, checked against the private-network rule on every attempt (so a name
/// that changes what it resolves to cannot smuggle a private address in).
pub(crate) async fn resolve(
    shared: &NotifyShared,
    target: &Target,
) -> Result<std::net::SocketAddr, Failure> {
    let addresses = match target.literal() {
        Some(ip) => vec![std::net::SocketAddr::new(ip, target.port)],
        None => shared
            .settings
            .resolver
            .resolve(target.host.clone(), target.port)
            .await
            .map_err(|error| {
                Failure::Network(format!("cannot resolve {}: {error}", target.host))
            })?,
    };
    policy::allowed_addresses(addresses, shared.settings.allow_private_networks)
        .map_err(Failure::Refused)?
        .into_iter()
        .next()
        .ok_or_else(|| Failure::Refused("the target resolves to no address".to_string()))
}
