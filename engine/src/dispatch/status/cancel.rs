//! A cancel: every PENDING recipient of a message CANCELLED and refunded, its schedule entry
//! removed, in one durable batch, in order with the drains and the releases of due messages
//! (`release.rs`). Both read the schedule entry after the writer's last batch is on disk, so
//! whichever comes first wins and the other finds nothing to do.

use super::*;
use crate::dispatch::cancel::Cancellation;
use crate::error::{Conflict, Missing};
use crate::store::records::MessageStatus;

/// What a cancel did, and the ticket of the REFUND entry that pays for it (when the tenant
/// actor took it), so the caller answers once the refund is on the ledger too.
pub struct CancelAnswer {
    pub cancellation: Cancellation,
    pub refund: Option<CommitTicket>,
}

impl StatusState {
    /// Cancels every PENDING recipient of `id`: CANCELLED, the parts never accepted owed back,
    /// the schedule entry removed, all in one durable batch; then the refund is paid.
    pub(super) async fn cancel(
        &mut self,
        tenant: TenantId,
        id: MessageId,
    ) -> Result<Result<CancelAnswer, EngineError>, ActorProcessingErr> {
        // Answers queued before the cancel are applied first: what a carrier already took is
        // not cancelled.
        self.drain(false).await?;
        self.settle().await?;
        if self.shared.withdrawn.is_tenant_deleted(tenant) {
            return Ok(Err(EngineError::from(Missing::Message)));
        }
        let Some(message) = self.message(tenant, id)?.cloned() else {
            return Ok(Err(EngineError::from(Missing::Message)));
        };
        if message.counts.pending == 0 {
            return Ok(Err(EngineError::from(Conflict::NotCancellable)));
        }
        let at = self.shared.clock.now_millis();
        // From here the router and the binds drop the jobs of this message they come across.
        self.shared.withdrawn.cancel(id, at);
        let scheduled = match message.scheduled_at {
            Some(due) => tables::SCHEDULE
                .get(&self.shared.store, &tables::schedule_key(due, id))?
                .is_some(),
            None => false,
        };
        let mut drain = Drain::default();
        let mut cancelled = 0u32;
        let blocks = message.recipient_count.div_ceil(tables::RECIPIENT_BLOCK);
        for block in 0..blocks {
            let pending: Vec<u32> = match self.block(id, block)? {
                Some(records) => records
                    .iter()
                    .enumerate()
                    .filter(|(_, record)| record.status == RecipientStatus::Pending)
                    .map(|(offset, _)| block * tables::RECIPIENT_BLOCK + offset as u32)
                    .collect(),
                None => continue,
            };
            for index in pending {
                let recipient_ref = RecipientRef {
                    tenant,
                    message: id,
                    index,
                };
                let Some(mut recipient) = self.recipient(recipient_ref)? else {
                    continue;
                };
                self.withdraw(recipient_ref, &mut recipient, at, &mut drain)?;
                self.store_recipient(recipient_ref, recipient, &mut drain)?;
                cancelled += 1;
            }
        }
        let credits_refunded = drain
            .refunds
            .get(&(tenant, id, refunds::Debt::Cancelled))
            .map_or(0, |owed| owed.credits);
        let status = self
            .messages
            .get(&id)
            .map_or(MessageStatus::Cancelled, |message| message.counts.status());
        let cancellation = Cancellation {
            message_id: id,
            status,
            cancelled_recipients: cancelled,
            credits_refunded,
        };
        self.record_cancellation(&message, scheduled, &cancellation, &mut drain);
        // Paid here rather than by the flush, so the answer can wait for the REFUND entry.
        let refunds = std::mem::take(&mut drain.refunds);
        self.flush(drain).await?;
        self.settle().await?;
        if scheduled {
            // What accept counted as waiting on disk will never be fed now.
            self.shared.unfed_sub(message.counts.pending as usize);
        }
        let mut refund = None;
        for ((tenant, message, debt), owed) in refunds {
            refund = self.shared.pay(tenant, message, debt, owed).await;
        }
        Ok(Ok(CancelAnswer {
            cancellation,
            refund,
        }))
    }

    /// The one place a cancel's effects are written: the drain already holds the recipients
    /// turned CANCELLED, the message's counts and the refunds owed; this adds what belongs to
    /// the message as a whole. Everything a cancel must also record (a `message.cancelled`
    /// event for webhooks) goes into `drain` here, so it lands in the same durable batch as
    /// the cancel itself, or not at all.
    fn record_cancellation(
        &mut self,
        message: &MessageRecord,
        scheduled: bool,
        cancellation: &Cancellation,
        drain: &mut Drain,
    ) {
        if let (true, Some(due)) = (scheduled, message.scheduled_at) {
            tables::SCHEDULE.delete(&mut drain.batch, &tables::schedule_key(due, message.id));
        }
        // One event for the message, not one per recipient: a cancelled campaign of 100,000
        // recipients is one thing that happened.
        self.shared.notify.record(
            &mut drain.batch,
            message.tenant,
            EventKind::MessageCancelled,
            || EventData::Message {
                message: message.id,
                recipient: None,
                status: RecipientStatus::Cancelled,
                error: None,
                parts: 0,
                recipients: cancellation.cancelled_recipients,
            },
            &mut drain.kicks,
        );
        tracing::info!(
            message_id = %message.id,
            recipients = cancellation.cancelled_recipients,
            refunded = cancellation.credits_refunded,
            scheduled,
            "message cancelled"
        );
    }
}
