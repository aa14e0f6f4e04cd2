//! The records in play: recipient blocks and messages read once and kept while they change,
//! the batch each drain writes, and what is forgotten once final or past the caches' caps.

use super::*;

impl StatusState {
    pub(super) fn set_status(
        &mut self,
        job: RecipientRef,
        recipient: &mut RecipientRecord,
        status: RecipientStatus,
        drain: &mut Drain,
    ) -> Result<(), ActorProcessingErr> {
        if recipient.status == status {
            return Ok(());
        }
        if self.message(job.tenant, job.message)?.is_some()
            && let Some(message) = self.messages.get_mut(&job.message)
        {
            message.counts.shift(recipient.status, status);
            drain.messages.insert(job.message);
        }
        recipient.status = status;
        self.notify(job, recipient, drain);
        self.shared.notify.smpp.record_final(
            &mut drain.batch,
            job.message,
            status,
            recipient.error.as_deref(),
            self.shared.clock.now_millis(),
            &mut drain.kicks.smpp,
        );
        Ok(())
    }

    /// Records the webhook event of the state `recipient` just reached, in the drain's batch:
    /// `message.sent` once a carrier holds every part, `message.delivered` or
    /// `message.failed` once every part is final.
    fn notify(&self, job: RecipientRef, recipient: &RecipientRecord, drain: &mut Drain) {
        let kind = match recipient.status {
            RecipientStatus::Sent => EventKind::MessageSent,
            RecipientStatus::Delivered => EventKind::MessageDelivered,
            RecipientStatus::Failed => EventKind::MessageFailed,
            // A cancel reports once for the message, not once per recipient.
            RecipientStatus::Pending | RecipientStatus::Cancelled => return,
        };
        self.shared.notify.record(
            &mut drain.batch,
            job.tenant,
            kind,
            || EventData::Message {
                message: job.message,
                recipient: Some(recipient.msisdn),
                status: recipient.status,
                error: recipient.error.clone(),
                parts: recipient.parts,
                recipients: 1,
            },
            &mut drain.kicks,
        );
    }

    pub(super) fn store_recipient(
        &mut self,
        job: RecipientRef,
        recipient: RecipientRecord,
        drain: &mut Drain,
    ) -> Result<(), ActorProcessingErr> {
        let (block, offset) = tables::recipient_block(job.index);
        let Some(records) = self.block(job.message, block)? else {
            return Ok(());
        };
        if let Some(slot) = records.get_mut(offset) {
            *slot = recipient;
            drain.blocks.insert((job.message, block));
        }
        Ok(())
    }

    pub(super) fn recipient(
        &mut self,
        job: RecipientRef,
    ) -> Result<Option<RecipientRecord>, ActorProcessingErr> {
        let (block, offset) = tables::recipient_block(job.index);
        Ok(self
            .block(job.message, block)?
            .and_then(|records| records.get(offset))
            .cloned())
    }

    /// The cached block, read from the store on first use.
    pub(super) fn block(
        &mut self,
        message: MessageId,
        block: u32,
    ) -> Result<Option<&mut Vec<RecipientRecord>>, ActorProcessingErr> {
        let key = (message, block);
        if !self.blocks.contains_key(&key) {
            let Some(records) = tables::RECIPIENTS.get(&self.shared.store, &key)? else {
                return Ok(None);
            };
            self.blocks.insert(key, records);
        }
        Ok(self.blocks.get_mut(&key))
    }

    pub(super) fn message(
        &mut self,
        tenant: TenantId,
        id: MessageId,
    ) -> Result<Option<&MessageRecord>, ActorProcessingErr> {
        if !self.messages.contains_key(&id) {
            let Some(message) = tables::MESSAGES.get(&self.shared.store, &(tenant, id))? else {
                return Ok(None);
            };
            self.messages.insert(id, message);
        }
        Ok(self.messages.get(&id))
    }

    /// Writes what the drain changed, pays refunds, and forgets what is final.
    pub(super) async fn flush(&mut self, mut drain: Drain) -> Result<(), ActorProcessingErr> {
        for (key, amount) in &drain.debts {
            tables::REFUNDS_DUE.put(&mut drain.batch, key, amount);
        }
        for key in &drain.blocks {
            if let Some(records) = self.blocks.get(key) {
                tables::RECIPIENTS.put(&mut drain.batch, key, records);
            }
        }
        for id in &drain.messages {
            if let Some(message) = self.messages.get(id) {
                tables::MESSAGES.put(&mut drain.batch, &(message.tenant, *id), message);
                if message.counts.pending == 0 {
                    tables::DISPATCH.delete(&mut drain.batch, id);
                }
            }
        }
        // Submitted before the refunds, so the debts exist on disk before they are paid.
        // Awaited by the next drain: nothing is acknowledged on it, so events can gather
        // while it commits.
        let ticket = self.shared.store.submit(std::mem::take(&mut drain.batch));
        // Weak: the task must not keep the store open past shutdown.
        let dispatch = Arc::downgrade(&self.shared);
        let answers = std::mem::take(&mut drain.answers);
        let deliveries = std::mem::take(&mut drain.deliveries);
        let kicks = std::mem::take(&mut drain.kicks);
        self.unsettled = Some(tokio::spawn(async move {
            ticket.await?;
            let Some(dispatch) = dispatch.upgrade() else {
                return Ok(());
            };
            for (bind, upto) in answers {
                if let Some(bind) = dispatch.binds.get(&bind) {
                    bind.record_answers(upto);
                }
            }
            for (bind, upto) in deliveries {
                if let Some(bind) = dispatch.binds.get(&bind) {
                    bind.record_deliveries(upto);
                }
            }
            dispatch.notify.kick(kicks);
            Ok(())
        }));
        self.forget_final(&drain.blocks, &drain.messages);
        for ((tenant, message, debt), owed) in drain.refunds {
            self.shared.pay(tenant, message, debt, owed).await;
        }
        Ok(())
    }

    /// Waits until the last drain's batch is on disk.
    pub(super) async fn settle(&mut self) -> Result<(), ActorProcessingErr> {
        if let Some(unsettled) = self.unsettled.take() {
            unsettled.await??;
        }
        Ok(())
    }

    /// Forgets what the last drain made final: only the records it touched, so the cost of a
    /// drain follows its events, not the number of recipients waiting for receipts.
    pub(super) fn forget_final(
        &mut self,
        blocks: &HashSet<BlockKey>,
        messages: &HashSet<MessageId>,
    ) {
        for key in blocks {
            if self
                .blocks
                .get(key)
                .is_some_and(|records| records.iter().all(|record| is_final(record.status)))
            {
                self.blocks.remove(key);
            }
        }
        for id in messages {
            if self
                .messages
                .get(id)
                .is_some_and(|message| message.counts.pending == 0 && message.counts.sent == 0)
            {
                self.messages.remove(id);
            }
        }
    }

    /// Drops the record caches when they outgrow their caps. Every cached record was written
    /// by an earlier drain; the barrier makes sure those writes are on disk before a record is
    /// read back from the store.
    pub(super) async fn bound_caches(&mut self) -> Result<(), ActorProcessingErr> {
        let recipients: usize = self.blocks.values().map(Vec::len).sum();
        if recipients <= RECIPIENT_CACHE_CAP && self.messages.len() <= MESSAGE_CACHE_CAP {
            return Ok(());
        }
        self.settle().await?;
        self.blocks = HashMap::new();
        self.messages = HashMap::new();
        Ok(())
    }
}
