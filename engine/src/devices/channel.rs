//! Each phone as a channel: a bind of kind `Device` per paired phone, started with the engine
//! or when the phone registers and retired when it is unpaired, and what the phone's own
//! routes do through it (pull, report, listen).

use std::sync::Arc;
use std::time::Duration;

use crate::channel::ChannelKind;
use crate::channel::device::{DeviceLink, PhoneEvent, PhoneMessage, PhoneState, StreamGuard};
use crate::dispatch::BindShared;
use crate::dispatch::bind::BindChild;
use crate::engine::Engine;
use crate::error::{EngineError, Missing, Unavailable};
use crate::ids::{BindId, DeviceId, TenantId};
use crate::store::records::{DeviceRecord, DeviceRoute};

/// A phone that neither holds its event stream open nor pulled for this long is offline (the
/// app's default without push pulls about every 15 minutes).
pub const ONLINE_WINDOW: Duration = Duration::from_secs(20 * 60);

/// A phone's bind id: the device id's bytes, so receipts and mappings keyed by bind name it.
pub(crate) fn bind_of(device: DeviceId) -> BindId {
    BindId::from_bytes(device.to_bytes())
}

/// What the phone's routes see of one phone's live state.
#[derive(Clone, Debug, Default)]
pub struct DeviceState {
    pub online: bool,
    pub last_seen: Option<crate::store::records::UnixMillis>,
    /// Waiting for the phone: not yet pulled, or pulled and not yet reported.
    pub queued: usize,
    /// Pulled and not finished.
    pub in_flight: usize,
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
        let link = DeviceLink::new(
            device.id,
            device.tenant,
            device.limits,
            self.clock(),
            ONLINE_WINDOW,
        );
        self.devices_shared().links.insert(device.id, link.clone());
        let bind = BindShared::new(
            bind_of(device.id),
            format!("device {}", device.id),
            ChannelKind::Device(link),
            Some(device.tenant),
            self.dispatch().cancelled.clone(),
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

    /// Whether `route` has an online phone of `tenant` to go through.
    pub(crate) fn check_device_route(
        &self,
        tenant: TenantId,
        route: DeviceRoute,
    ) -> Result<(), EngineError> {
        let online = match route.device {
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
        })
    }

    /// What the phone gets when it pulls (at most `limit`, newest first with `lifo`).
    pub fn device_pull(
        &self,
        device: DeviceId,
        limit: usize,
        lifo: bool,
    ) -> Result<Vec<PhoneMessage>, EngineError> {
        Ok(self.link(device)?.pull(limit, lifo))
    }

    /// A state the phone reports for one of its messages; `false` when it holds no such id.
    pub fn device_report(
        &self,
        device: DeviceId,
        id: &str,
        state: PhoneState,
        error: Option<String>,
    ) -> Result<bool, EngineError> {
        Ok(self.link(device)?.report(id, state, error))
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
        crate::store::tables::MESSAGE_ROUTES
            .get(self.store(), &message)
            .ok()
            .flatten()
            .and_then(|route| route.device)
    }
}
