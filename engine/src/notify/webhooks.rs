//! A tenant's webhooks: create, list, delete, rotate the secret; the deliveries of one, and a
//! redelivery by hand. Started with the engine: the subscriptions every event writer reads,
//! and the dispatcher.

use std::sync::Arc;

use flit_storage::Batch;

use super::dispatcher::{DispatcherChild, DispatcherMsg, Failure};
use super::policy::Target;
use crate::engine::Engine;
use crate::error::{Conflict, EngineError, Invalid, Missing};
use crate::ids::{DeliveryId, TenantId, WebhookId};
use crate::secrets;
use crate::store::records::{DeliveryRecord, DeliveryState, EventKind, EventKinds, WebhookRecord};
use crate::store::tables;
use crate::store::{PageRequest, Paged};

/// Webhooks one tenant may have.
pub const MAX_WEBHOOKS: usize = 20;
/// Every event name, as the errors list them.
const EVENT_NAMES: &str =
    "message.sent, message.delivered, message.failed, message.received, message.cancelled";

impl Engine {
    /// Reads the webhooks (so events are recorded from the first one on) and starts the
    /// dispatcher.
    pub(crate) async fn start_notify(&self) -> Result<(), EngineError> {
        let notify = self.notify();
        for webhook in tables::WEBHOOKS.values(self.store(), &())? {
            notify.subscribe(&webhook);
        }
        self.supervise(Arc::new(DispatcherChild(notify.clone())))
            .await
    }

    /// Registers a webhook: `url` must be http(s), and must not resolve to a private address
    /// (unless private networks are allowed); `events` names at least one event. The secret is in the answer,
    /// and only there.
    pub async fn create_webhook(
        &self,
        tenant: TenantId,
        url: &str,
        events: &[String],
    ) -> Result<WebhookRecord, EngineError> {
        let target = Target::parse(url.trim())?;
        let events = parse_events(events)?;
        let existing = tables::WEBHOOKS.count(self.store(), &tenant)?;
        if existing >= MAX_WEBHOOKS as u64 {
            return Err(Invalid::TooManyWebhooks { max: MAX_WEBHOOKS }.into());
        }
        let resolved = tokio::time::timeout(
            self.notify().settings.timeout,
            super::dispatcher::resolve(self.notify(), &target),
        )
        .await;
        match resolved {
            Ok(Ok(_)) => {}
            Ok(Err(Failure::Refused(why))) => return Err(Invalid::WebhookUrl(why).into()),
            // A name that does not resolve now may resolve later (DNS being set up, or down
            // for a moment): taken, and checked again at every attempt, which is what keeps
            // private addresses out.
            Ok(Err(Failure::Network(_))) | Err(_) => {}
        }
        let webhook = WebhookRecord {
            id: WebhookId::new(),
            tenant,
            url: url.trim().to_string(),
            events,
            secret: secrets::generate_secret("whsec_"),
            previous_secret: None,
            previous_until: None,
            created_at: self.clock().now_millis(),
        };
        let mut batch = Batch::new();
        tables::WEBHOOKS.put(&mut batch, &(tenant, webhook.id), &webhook);
        self.store().commit(batch).await?;
        self.notify().subscribe(&webhook);
        self.tell_dispatcher(DispatcherMsg::Start {
            tenant,
            webhook: webhook.id,
        });
        Ok(webhook)
    }

    /// A tenant's webhooks, oldest first.
    pub fn webhooks(&self, tenant: TenantId) -> Result<Vec<WebhookRecord>, EngineError> {
        Ok(tables::WEBHOOKS.values(self.store(), &tenant)?)
    }

    pub fn webhook(&self, tenant: TenantId, id: WebhookId) -> Result<WebhookRecord, EngineError> {
        tables::WEBHOOKS
            .get(self.store(), &(tenant, id))?
            .ok_or_else(|| Missing::Webhook.into())
    }

    /// Deletes a webhook: no event is recorded for it from now on, and what its outbox still
    /// held is dropped with its deliveries.
    pub async fn delete_webhook(&self, tenant: TenantId, id: WebhookId) -> Result<(), EngineError> {
        self.webhook(tenant, id)?;
        let mut batch = Batch::new();
        tables::WEBHOOKS.delete(&mut batch, &(tenant, id));
        self.store().commit(batch).await?;
        self.notify().unsubscribe(tenant, id);
        self.tell_dispatcher(DispatcherMsg::Stop {
            tenant,
            webhook: id,
        });
        Ok(())
    }

    /// Removes every webhook of a tenant being deleted: no event is recorded for them any
    /// more, their workers are stopped (and waited for), and their outboxes and deliveries are
    /// cleared. Answers how many records went.
    pub(crate) async fn forget_tenant_webhooks(
        &self,
        tenant: TenantId,
    ) -> Result<u64, EngineError> {
        let webhooks = self.webhooks(tenant)?;
        if webhooks.is_empty() {
            return Ok(0);
        }
        // Gone from disk first: a dispatcher restarting meanwhile starts no worker for them.
        let mut batch = Batch::new();
        for webhook in &webhooks {
            tables::WEBHOOKS.delete(&mut batch, &(tenant, webhook.id));
        }
        self.store().commit(batch).await?;
        let notify = self.notify();
        for webhook in &webhooks {
            notify.unsubscribe(tenant, webhook.id);
            if let Some(worker) = notify.workers.stop_now(webhook.id) {
                // Aborted; its end (an abort, or a panic) changes nothing here.
                let _ = worker.await;
            }
            super::dispatcher::clear(notify, tenant, webhook.id).await?;
        }
        Ok(webhooks.len() as u64)
    }

    /// Gives a webhook a new secret; the old one still signs (as a second signature) for the
    /// grace period, so receivers can switch without losing an event.
    pub async fn rotate_webhook_secret(
        &self,
        tenant: TenantId,
        id: WebhookId,
    ) -> Result<WebhookRecord, EngineError> {
        let mut webhook = self.webhook(tenant, id)?;
        let grace =
            i64::try_from(self.notify().settings.rotation_grace.as_millis()).unwrap_or(i64::MAX);
        webhook.previous_secret = Some(std::mem::replace(
            &mut webhook.secret,
            secrets::generate_secret("whsec_"),
        ));
        webhook.previous_until = Some(self.clock().now_millis().saturating_add(grace));
        let mut batch = Batch::new();
        tables::WEBHOOKS.put(&mut batch, &(tenant, id), &webhook);
        self.store().commit(batch).await?;
        Ok(webhook)
    }

    /// A webhook's deliveries, newest first, optionally only those in one state.
    pub fn webhook_deliveries(
        &self,
        tenant: TenantId,
        id: WebhookId,
        state: Option<DeliveryState>,
        page: PageRequest,
    ) -> Result<Paged<DeliveryRecord>, EngineError> {
        self.webhook(tenant, id)?;
        let scan = tables::WEBHOOK_DELIVERIES.scan(&(tenant, id)).reverse();
        Ok(
            tables::WEBHOOK_DELIVERIES.paged(self.store(), scan, page, |delivery| {
                state.is_none_or(|state| delivery.state == state)
            })?,
        )
    }

    /// Sends a delivered or given-up event again, now, with a fresh budget of attempts (the
    /// same event id, so a receiver that has it can tell).
    pub async fn redeliver(
        &self,
        tenant: TenantId,
        webhook: WebhookId,
        delivery: DeliveryId,
    ) -> Result<DeliveryRecord, EngineError> {
        self.webhook(tenant, webhook)?;
        let key = (tenant, webhook, delivery);
        let mut record = tables::WEBHOOK_DELIVERIES
            .get(self.store(), &key)?
            .ok_or(Missing::Delivery)?;
        if record.state == DeliveryState::Pending {
            return Err(Conflict::DeliveryPending.into());
        }
        let now = self.clock().now_millis();
        record.state = DeliveryState::Pending;
        record.round_attempts = 0;
        record.next_attempt_at = Some(now);
        let mut batch = Batch::new();
        self.notify().enqueue(&mut batch, tenant, &record, now);
        self.store().commit(batch).await?;
        self.notify()
            .depth
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.notify().workers.wake(webhook);
        Ok(record)
    }

    fn tell_dispatcher(&self, message: DispatcherMsg) {
        // None while it restarts: the new incarnation reads every webhook when it starts.
        if let Some(dispatcher) = self.notify().dispatcher.get() {
            let _ = dispatcher.cast(message);
        }
    }
}

fn parse_events(names: &[String]) -> Result<EventKinds, Invalid> {
    if names.is_empty() {
        return Err(Invalid::NoWebhookEvents);
    }
    names
        .iter()
        .map(|name| {
            name.trim()
                .parse::<EventKind>()
                .map_err(|_| Invalid::UnknownEvent(name.clone(), EVENT_NAMES))
        })
        .collect()
}
