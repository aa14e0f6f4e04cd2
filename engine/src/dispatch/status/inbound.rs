//! Inbound SMS: a `deliver_sm` that is not a receipt becomes an inbound record of the tenant
//! that owns the bind or the number it was sent to, and a `message.received` event.

use super::*;

impl StatusState {
    /// Stores an inbound SMS for the tenant that owns its bind, or else its destination number.
    pub(super) fn inbound(&mut self, bind: BindId, sms: InboundSms, drain: &mut Drain) {
        // A deleted tenant owns nothing any more, a bind it owned included.
        let live = |tenant: &TenantId| !self.shared.withdrawn.is_tenant_deleted(*tenant);
        let owner = self
            .shared
            .binds
            .get(&bind)
            .and_then(|bind| bind.owner)
            .filter(live)
            .or_else(|| {
                let digits = sms.destination.trim().trim_start_matches('+');
                self.shared.numbers.get(digits).map(|tenant| *tenant)
            })
            .filter(live);
        let Some(tenant) = owner else {
            tracing::warn!(%bind, to = %sms.destination, "inbound SMS for a number no tenant owns; dropped");
            metrics::counter!("flit_inbound_messages_total", "result" => "unowned").increment(1);
            return;
        };
        let record = InboundRecord {
            id: InboundId::new(),
            tenant,
            from: sms.source,
            to: sms.destination,
            text: sms.text,
            parts: sms.parts,
            bind: Some(bind),
            received_at: now_millis(),
        };
        tables::INBOUND.put(&mut drain.batch, &(tenant, record.id), &record);
        self.shared.notify.record(
            &mut drain.batch,
            tenant,
            EventKind::MessageReceived,
            || EventData::Received(record.clone()),
            &mut drain.kicks,
        );
        metrics::counter!("flit_inbound_messages_total", "result" => "stored").increment(1);
    }
}
