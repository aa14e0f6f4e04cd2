//! SMS a phone received, posted by the app to the `sms:received` webhook Flit gave it: stored
//! as an inbound message of the phone's tenant with its `message.received` event, in one
//! durable batch, once per delivery of the app (its envelope id).

use flit_storage::Batch;

use crate::engine::Engine;
use crate::error::{EngineError, Missing};
use crate::ids::{DeviceId, InboundId};
use crate::store::records::{EventData, EventKind, InboundRecord};
use crate::store::tables;

/// What a phone says it received.
#[derive(Clone, Debug)]
pub struct PhoneInbound {
    /// The app's id for this webhook delivery (the same on every retry).
    pub envelope: String,
    pub from: String,
    pub to: String,
    pub text: String,
}

impl Engine {
    /// The key a phone signs its webhooks with.
    pub fn device_signing_key(&self, device: DeviceId) -> Option<String> {
        let link = self.devices_shared().links.get(&device)?.clone();
        self.device(link.tenant, device)
            .ok()
            .map(|record| record.signing_key)
    }

    /// Stores what a phone received (once per envelope id); the inbound record.
    pub async fn device_inbound(
        &self,
        device: DeviceId,
        sms: PhoneInbound,
    ) -> Result<InboundRecord, EngineError> {
        let tenant = self
            .devices_shared()
            .links
            .get(&device)
            .map(|link| link.tenant)
            .ok_or(Missing::Device)?;
        let envelope: String = sms.envelope.chars().take(64).collect();
        let seen_key = (device, envelope);
        if let Some(id) = tables::INBOUND_SEEN.get(self.store(), &seen_key)?
            && let Some(record) = tables::INBOUND.get(self.store(), &(tenant, id))?
        {
            return Ok(record);
        }
        let record = InboundRecord {
            id: InboundId::new(),
            tenant,
            from: sms.from.chars().take(32).collect(),
            to: sms.to.chars().take(32).collect(),
            text: sms.text.chars().take(1600).collect(),
            parts: 1,
            bind: Some(crate::devices::channel::bind_of(device)),
            received_at: self.clock().now_millis(),
        };
        let mut batch = Batch::new();
        tables::INBOUND.put(&mut batch, &(tenant, record.id), &record);
        tables::INBOUND_SEEN.put(&mut batch, &seen_key, &record.id);
        let mut kicks = crate::notify::Kicks::default();
        self.notify().record(
            &mut batch,
            tenant,
            EventKind::MessageReceived,
            || EventData::Received(record.clone()),
            &mut kicks,
        );
        self.store().commit(batch).await?;
        self.notify().kick(kicks);
        metrics::counter!("flit_inbound_messages_total", "result" => "stored").increment(1);
        Ok(record)
    }
}
