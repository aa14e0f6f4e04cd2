//! The release of scheduled messages that are due: moved from the schedule to dispatch in one
//! durable batch, in order with the drains and the cancels (`cancel.rs`), so a message
//! cancelled first is not released, and one released first is cancelled as a queued one.

use super::*;

impl StatusState {
    /// Moves due messages from the schedule to dispatch in one durable batch; those no longer
    /// scheduled (cancelled) or no longer existing are left out of the answer.
    pub(super) async fn release(
        &mut self,
        due: Vec<DueMessage>,
    ) -> Result<Vec<MessageRecord>, ActorProcessingErr> {
        self.settle().await?;
        let mut batch = Batch::new();
        let mut released = Vec::with_capacity(due.len());
        for DueMessage {
            due,
            message,
            tenant,
        } in due
        {
            let key = tables::schedule_key(due, message);
            // A deleted tenant's entry is removed with the rest of its records.
            if self.shared.withdrawn.is_tenant_deleted(tenant)
                || tables::SCHEDULE.get(&self.shared.store, &key)?.is_none()
            {
                continue;
            }
            tables::SCHEDULE.delete(&mut batch, &key);
            if let Some(record) = self.message(tenant, message)? {
                // Until every recipient is handed to a channel, a restart re-queues it from
                // here.
                tables::DISPATCH.put(&mut batch, &message, &tenant);
                released.push(record.clone());
            }
        }
        if !batch.is_empty() {
            self.shared.store.commit(batch).await?;
        }
        Ok(released)
    }
}
