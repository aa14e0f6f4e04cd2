//! Deleting a tenant: only a suspended one, so nothing new of it starts meanwhile. Its work
//! is stopped first, in an order that leaves no writer of its records behind: dispatch drops
//! its jobs and the status writer forgets it, it leaves the registry (its keys stop working),
//! its phones and webhooks are retired, its actor stops, and a barrier makes everything
//! submitted before durable. Then every table is cleared of it in bounded batches (reads off
//! the async threads, a thousand-odd deletions per commit), so a tenant with hundreds of
//! thousands of messages is removed without holding them in memory, while other tenants'
//! commits go on between the batches. The tenant record goes last: a deletion cut short (a
//! crash) leaves a suspended tenant with less data, deleted again by asking again.

use flit_storage::Batch;

use crate::engine::Engine;
use crate::error::{Conflict, EngineError};
use crate::ids::{DeviceId, MessageId, TenantId};
use crate::store::off_async;
use crate::store::tables;

/// Messages read per round of the deletion.
const MESSAGE_PAGE: usize = 256;
/// Deletions past which a round is committed before its next message is read.
const ROUND_OPS: usize = 2_000;

/// What a deletion removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TenantRemoval {
    /// Messages, each with its recipients and what dispatch kept of it.
    pub messages: u64,
    /// Every other record: ledger entries, contacts, groups, templates, sender IDs, keys,
    /// SMPP accounts, webhooks and their deliveries, phones, inbound SMS, idempotency records.
    pub records: u64,
}

impl Engine {
    /// Deletes a suspended tenant and everything it owns. `Conflict::TenantActive` for a
    /// tenant that is not suspended; `NotFound(Tenant)` for one that does not exist (or is
    /// already deleted). Answers once nothing of it is left on disk.
    pub async fn delete_tenant(&self, tenant: TenantId) -> Result<TenantRemoval, EngineError> {
        let _one_at_a_time = self.offboarding().lock().await;
        let entry = self.entry(tenant)?;
        if !entry.is_suspended() {
            return Err(Conflict::TenantActive.into());
        }
        tracing::info!(%tenant, "deleting a tenant");
        // The only step that can refuse for a moment (the status writer restarting): before
        // anything is removed, so asking again starts over.
        self.withdraw_tenant(tenant).await?;
        self.unregister_tenant(tenant);
        // Once the SMPP server runs, the tenant's SMPP binds are closed here: unregistered,
        // it authenticates no new one, and those already bound must end with the rest.
        let devices = self.forget_tenant_devices(tenant).await?;
        let mut removal = TenantRemoval {
            records: self.forget_tenant_webhooks(tenant).await?,
            ..TenantRemoval::default()
        };
        self.retire_actor(&entry).await;
        // Whatever anyone submitted for the tenant until now is on disk before it is read.
        self.store().commit(Batch::new()).await?;

        removal.messages = self.delete_messages(tenant).await?;
        removal.records += self.delete_owned(tenant, &devices).await?;
        let mut last = Batch::new();
        tables::SUSPENSIONS.delete(&mut last, &tenant);
        tables::TENANTS.delete(&mut last, &tenant);
        self.store().commit(last).await?;
        tracing::info!(
            %tenant,
            messages = removal.messages,
            records = removal.records,
            "tenant deleted"
        );
        Ok(removal)
    }

    /// Deletes the tenant's messages a round at a time, each with its recipient blocks, its
    /// dispatch marker or schedule entry, its device route and hand-overs.
    async fn delete_messages(&self, tenant: TenantId) -> Result<u64, EngineError> {
        let mut deleted = 0u64;
        let mut rounds = 0u64;
        loop {
            let round = off_async(self.store(), move |store| {
                // From the start each time: what the last round deleted is gone.
                let scan = tables::MESSAGES.scan(&tenant).limit(MESSAGE_PAGE);
                let mut round = Round::default();
                for message in tables::MESSAGES.read(store, &scan)? {
                    let id = message.id;
                    for block in 0..message.recipient_count.div_ceil(tables::RECIPIENT_BLOCK) {
                        tables::RECIPIENTS.delete(&mut round.batch, &(id, block));
                    }
                    tables::DISPATCH.delete(&mut round.batch, &id);
                    if let Some(due) = message.scheduled_at {
                        let key = tables::schedule_key(due, id);
                        if tables::SCHEDULE.get(store, &key)?.is_some() {
                            tables::SCHEDULE.delete(&mut round.batch, &key);
                            // Counted as waiting on disk until it was due.
                            round.unfed += message.counts.pending as usize;
                        }
                    }
                    if tables::DEVICE_ROUTES.get(store, &id)?.is_some() {
                        tables::DEVICE_ROUTES.delete(&mut round.batch, &id);
                        for index in handover_indices(store, id)? {
                            tables::DEVICE_HANDOVERS.delete(&mut round.batch, &(id, index));
                        }
                    }
                    tables::MESSAGE_ROUTES_V1.delete(&mut round.batch, &id);
                    tables::SMPP_ORIGINS.delete(&mut round.batch, &id);
                    tables::MESSAGES.delete(&mut round.batch, &(tenant, id));
                    round.messages += 1;
                    if round.batch.len() >= ROUND_OPS {
                        break;
                    }
                }
                Ok(round)
            })
            .await?;
            if round.messages == 0 {
                return Ok(deleted);
            }
            self.store().commit(round.batch).await?;
            self.dispatch().unfed_sub(round.unfed);
            deleted += round.messages;
            rounds += 1;
            if rounds.is_multiple_of(100) {
                tracing::info!(%tenant, deleted, "deleting a tenant's messages");
            }
        }
    }

    /// Clears every other table of the tenant: those keyed by the tenant first by prefix,
    /// the others by a walk that picks its records. Answers how many records went.
    async fn delete_owned(
        &self,
        tenant: TenantId,
        devices: &[DeviceId],
    ) -> Result<u64, EngineError> {
        let store = self.store();
        let mut removed = 0;
        // Carrier mappings of its messages still waiting for a receipt.
        removed += tables::SMSC_IDS
            .remove_where(store, &(), move |mapping| mapping.tenant == tenant)
            .await?;
        removed += tables::LEDGER.clear(store, &tenant).await?;
        removed += tables::REFUNDS_DUE.clear(store, &tenant).await?;
        removed += tables::IDEMPOTENCY.clear(store, &tenant).await?;
        removed += tables::INBOUND.clear(store, &tenant).await?;
        removed += tables::CONTACT_GROUPS.clear(store, &tenant).await?;
        removed += tables::GROUP_MEMBERS.clear(store, &tenant).await?;
        removed += tables::CONTACT_PHONES.clear(store, &tenant).await?;
        removed += tables::CONTACTS.clear(store, &tenant).await?;
        removed += tables::GROUP_NAMES.clear(store, &tenant).await?;
        removed += tables::GROUPS.clear(store, &tenant).await?;
        removed += tables::TEMPLATE_NAMES.clear(store, &tenant).await?;
        removed += tables::TEMPLATES.clear(store, &tenant).await?;
        // Left by webhooks deleted just before a crash (the dispatcher clears the rest).
        removed += tables::WEBHOOK_DELIVERIES.clear(store, &tenant).await?;
        removed += tables::WEBHOOKS.clear(store, &tenant).await?;
        for device in devices {
            removed += tables::INBOUND_SEEN.clear(store, device).await?;
        }
        removed += tables::DEVICES.clear(store, &tenant).await?;
        removed += tables::REGISTRATION_TOKENS
            .remove_where(store, &(), move |registration| {
                registration.tenant == tenant
            })
            .await?;
        removed += tables::API_KEYS
            .remove_where(store, &(), move |key| key.tenant == tenant)
            .await?;
        removed += tables::SENDER_IDS.clear(store, &tenant).await?;
        removed += self.delete_tenant_smpp_accounts(tenant).await?;
        removed += self.delete_tenant_users(tenant).await?;
        // A bind that gave the tenant its inbound SMS stays, owned by no tenant (its carrier
        // is the operator's); from the next start it has no owner in memory either.
        let owned: Vec<_> = tables::BINDS
            .values(store, &())?
            .into_iter()
            .filter(|bind| bind.tenant == Some(tenant))
            .collect();
        if !owned.is_empty() {
            let mut batch = Batch::new();
            for mut bind in owned {
                bind.tenant = None;
                tables::BINDS.put(&mut batch, &bind.id, &bind);
            }
            store.commit(batch).await?;
        }
        Ok(removed)
    }
}

/// One round of the message deletion.
#[derive(Default)]
struct Round {
    batch: Batch,
    messages: u64,
    /// Recipients of scheduled messages removed, counted as waiting on disk.
    unfed: usize,
}

/// The recipient indices of `message` that a phone took (`DEVICE_HANDOVERS` keys).
fn handover_indices(
    store: &flit_storage::Store,
    message: MessageId,
) -> Result<Vec<u32>, flit_storage::StorageError> {
    Ok(store
        .scan(&tables::DEVICE_HANDOVERS.scan(&message))?
        .items
        .into_iter()
        .filter_map(|(key, _)| key.get(16..20).and_then(|b| <[u8; 4]>::try_from(b).ok()))
        .map(u32::from_be_bytes)
        .collect())
}
