//! Each phone as a channel: a bind of kind `Device` per paired phone, started with the engine
//! or when the phone registers and retired when it is unpaired, and what the phone's own
//! routes do through it (pull, report, listen).

use std::sync::Arc;

use flit_storage::Batch;

use crate::channel::ChannelKind;
use crate::channel::device::{
    DeviceLink, KEEP_SENT_MS, PhoneEvent, PhoneMessage, PhoneState, Reported, StreamGuard,
};
use crate::dispatch::BindShared;
use crate::dispatch::bind::BindChild;
use crate::engine::Engine;
use crate::error::{EngineError, Invalid, Missing, Unavailable};
use crate::ids::{BindId, DeviceId, MessageId, TenantId};
use crate::store::records::{
    DeviceHandover, DeviceRecord, DeviceRoute, RecipientStatus, UnixMillis,
};
use crate::store::tables;

/// A phone's bind id: the device id's bytes, so receipts and mappings keyed by bind name it.
pub(crate) fn bind_of(device: DeviceId) -> BindId {
    BindId::from_bytes(device.to_bytes())
}

/// What the phone's routes see of one phone's live state.
#[derive(Clone, Debug, Default)]
pub struct DeviceState {
    pub online: bool,
    pub last_seen: Option<UnixMillis>,
    /// Waiting for the phone: not yet pulled, or pulled and not yet reported.
    pub queued: usize,
    /// Pulled and not finished.
    pub in_flight: usize,
    /// Pulled and not sent within the stuck time.
    pub stuck: usize,
    pub streams: usize,
    /// Handed to the phone in the last 24 hours.
    pub sent_today: usize,
}

impl Engine {
    /// Starts the channel of `device` (at engine start, or once it registered).
    pub(crate) async fn start_device_channel(
        &self,
        device: &DeviceRecord,
    ) -> Result<(), EngineError> {
        let withdrawn = self.dispatch().withdrawn.clone();
        let link = DeviceLink::new(
            device.id,
            device.tenant,
            device.limits,
            self.clock(),
            self.config().devices,
            Arc::new(move |message| withdrawn.is_cancelled(message)),
        );
        self.devices_shared().links.insert(device.id, link.clone());
        let bind = BindShared::new(
            bind_of(device.id),
            format!("device {}", device.id),
            ChannelKind::Device(link),
            Some(device.tenant),
            self.dispatch().withdrawn.clone(),
        );
        self.dispatch().binds.insert(bind.id, bind.clone());
        self.supervise(Arc::new(BindChild {
            dispatch: self.dispatch().clone(),
            bind,
        }))
        .await
    }

    /// Retires the channel of an unpaired phone: what it had not pulled goes to another.
    pub(crate) async fn stop_device_channel(&self, device: DeviceId) {
        self.devices_shared().links.remove(&device);
        if let Some((_, bind)) = self.dispatch().binds.remove(&bind_of(device)) {
            bind.mark_removed();
            if let Some(actor) = bind.actor.get() {
                let _ = actor.stop_and_wait(None, None).await;
            }
        }
    }

    fn link(&self, device: DeviceId) -> Result<Arc<DeviceLink>, EngineError> {
        self.devices_shared()
            .links
            .get(&device)
            .map(|link| link.clone())
            .ok_or_else(|| Missing::Device.into())
    }

    /// Whether `route` has an online phone of `tenant` to go through (or, with failover,
    /// the tenant's carriers).
    pub(crate) fn check_device_route(
        &self,
        tenant: TenantId,
        route: DeviceRoute,
    ) -> Result<(), EngineError> {
        if route.sim.is_some_and(|sim| !(1..=3).contains(&sim)) {
            return Err(Invalid::SimNumber.into());
        }
        let online = route.failover
            || match route.device {
                Some(id) => {
                    self.device(tenant, id)?;
                    self.link(id)?.is_online()
                }
                None => self
                    .devices_shared()
                    .links
                    .iter()
                    .any(|link| link.tenant == tenant && link.is_online()),
            };
        if online {
            Ok(())
        } else {
            Err(Unavailable::NoDevice.into())
        }
    }

    /// A phone's live state.
    pub fn device_state(&self, device: DeviceId) -> Option<DeviceState> {
        let link = self.devices_shared().links.get(&device)?.clone();
        let day_ago = self.clock().now_millis() - 86_400_000;
        Some(DeviceState {
            online: link.is_online(),
            last_seen: link.last_seen(),
            queued: link.queued(),
            in_flight: link.in_flight(),
            streams: link.streams(),
            sent_today: link.handed_since(day_ago),
            stuck: link.stuck(),
        })
    }

    /// What the phone gets when it pulls (at most `limit`, newest first with `lifo`). What
    /// it takes for the first time is written down as this phone's before the answer goes
    /// out, so after a restart it goes back to this phone only.
    pub async fn device_pull(
        &self,
        device: DeviceId,
        limit: usize,
        lifo: bool,
    ) -> Result<Vec<PhoneMessage>, EngineError> {
        let pulled = self.link(device)?.pull(limit, lifo);
        if !pulled.handed.is_empty() {
            let handover = DeviceHandover {
                device,
                at: self.clock().now_millis(),
            };
            let mut batch = Batch::with_capacity(pulled.handed.len());
            for recipient in &pulled.handed {
                tables::DEVICE_HANDOVERS.put(&mut batch, recipient, &handover);
            }
            // Should this fail, the phone gets an error and the messages stay its own,
            // offered again at its next pull.
            self.store().commit(batch).await?;
        }
        Ok(pulled.messages)
    }

    /// A state the phone reports for one of its messages; `false` when it holds no such id
    /// (ignored, as the app expects).
    pub fn device_report(
        &self,
        device: DeviceId,
        id: &str,
        state: PhoneState,
        error: Option<String>,
    ) -> Result<bool, EngineError> {
        Ok(match self.link(device)?.report(id, state, error) {
            Reported::Unknown => false,
            Reported::Held => true,
            Reported::Finished(recipient) => {
                if let Some(recipient) = recipient {
                    // Not waited for: a hand-over left behind is cleaned at the next start.
                    let mut batch = Batch::new();
                    tables::DEVICE_HANDOVERS.delete(&mut batch, &recipient);
                    drop(self.store().submit(batch));
                }
                true
            }
        })
    }

    /// New limits of a phone hold at once; the phone is told to read its settings again.
    pub(crate) fn device_limits_changed(&self, device: &DeviceRecord) {
        if let Ok(link) = self.link(device.id) {
            link.set_limits(device.limits);
        }
    }

    /// At start, after each phone's channel: what phones took in an earlier run goes back to
    /// them. A recipient still PENDING is pinned to its phone (dispatch gives it to that phone
    /// when it is queued again); one SENT is held for its delivery report; the hand-overs of
    /// finished recipients, unpaired phones and sends long past are deleted.
    pub(crate) fn restore_handovers(&self) -> Result<(), EngineError> {
        let now = self.clock().now_millis();
        let mut stale = Batch::new();
        for (key, value) in self
            .store()
            .scan(&tables::DEVICE_HANDOVERS.scan(&()))?
            .items
        {
            let Some(recipient) = handover_key(&key) else {
                continue;
            };
            let handover = tables::DEVICE_HANDOVERS.decode(&value)?;
            let status = self.recipient_status(recipient)?;
            let link = self.devices_shared().links.get(&handover.device);
            match (status, link) {
                (Some(RecipientStatus::Pending), Some(_)) => {
                    self.dispatch()
                        .pinned
                        .insert(recipient, bind_of(handover.device));
                }
                (Some(RecipientStatus::Sent), Some(link)) if now - handover.at < KEEP_SENT_MS => {
                    link.adopt_sent(recipient, handover.at);
                }
                _ => tables::DEVICE_HANDOVERS.delete(&mut stale, &recipient),
            }
        }
        if !stale.is_empty() {
            drop(self.store().submit(stale));
        }
        Ok(())
    }

    fn recipient_status(
        &self,
        (message, index): (MessageId, u32),
    ) -> Result<Option<RecipientStatus>, EngineError> {
        let (block, offset) = tables::recipient_block(index);
        Ok(tables::RECIPIENTS
            .get(self.store(), &(message, block))?
            .and_then(|records| records.get(offset).map(|record| record.status)))
    }

    /// The phone's event stream, open while the guard lives.
    pub fn device_events(
        &self,
        device: DeviceId,
    ) -> Result<(tokio::sync::broadcast::Receiver<PhoneEvent>, StreamGuard), EngineError> {
        let link = self.link(device)?;
        // A phone that connects makes its channel usable at once (the session looks at it
        // every second on its own).
        let subscribed = link.subscribe();
        self.dispatch().unpark();
        Ok(subscribed)
    }
}

impl Engine {
    /// The phone a message was sent to go through, when it named one.
    pub fn message_device(&self, message: crate::ids::MessageId) -> Option<DeviceId> {
        crate::store::tables::DEVICE_ROUTES
            .get(self.store(), &message)
            .ok()
            .flatten()
            .and_then(|route| route.device)
    }
}

/// The recipient a `DEVICE_HANDOVERS` key names (message id, then index big-endian).
fn handover_key(key: &[u8]) -> Option<(MessageId, u32)> {
    let message: [u8; 16] = key.get(..16)?.try_into().ok()?;
    let index: [u8; 4] = key.get(16..20)?.try_into().ok()?;
    Some((MessageId::from_bytes(message), u32::from_be_bytes(index)))
}
