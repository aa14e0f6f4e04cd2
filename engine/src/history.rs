//! What a tenant reads back about its traffic: messages with their recipients' states, and
//! inbound SMS. Every read starts under the caller's tenant, so another tenant's id finds
//! nothing.

use crate::engine::Engine;
use crate::error::EngineError;
use crate::ids::{MessageId, TenantId};
use crate::store::records::{
    InboundRecord, MessageRecord, MessageStatus, RecipientRecord, UnixMillis,
};
use crate::store::tables;
use crate::store::{PageRequest, Paged};

/// One span of [`Engine::send_stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendBucket {
    pub start: UnixMillis,
    pub messages: u64,
    pub recipients: u64,
    pub delivered: u64,
    pub failed: u64,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct MessageFilter {
    pub status: Option<MessageStatus>,
    pub from: Option<UnixMillis>,
    pub until: Option<UnixMillis>,
}

impl Engine {
    pub fn message(
        &self,
        tenant: TenantId,
        message: MessageId,
    ) -> Result<Option<MessageRecord>, EngineError> {
        Ok(tables::MESSAGES.get(self.store(), &(tenant, message))?)
    }

    /// The message and every recipient, in the order they were given.
    pub fn recipients(
        &self,
        tenant: TenantId,
        message: MessageId,
    ) -> Result<Option<(MessageRecord, Vec<RecipientRecord>)>, EngineError> {
        let Some(record) = self.message(tenant, message)? else {
            return Ok(None);
        };
        Ok(Some((record, self.recipient_records(message)?)))
    }

    /// The message and the recipients `page` covers, in the order they were given: only
    /// their blocks are read, so a page of a 100,000-recipient message costs a page.
    pub fn recipients_page(
        &self,
        tenant: TenantId,
        message: MessageId,
        page: PageRequest,
    ) -> Result<Option<(MessageRecord, Vec<RecipientRecord>)>, EngineError> {
        let Some(record) = self.message(tenant, message)? else {
            return Ok(None);
        };
        let limit = page.limit.max(1);
        let first = u64::from(page.page.max(1) - 1) * u64::from(limit);
        let end = (first + u64::from(limit)).min(u64::from(record.recipient_count));
        let mut recipients = Vec::with_capacity(end.saturating_sub(first) as usize);
        let mut index = first;
        while index < end {
            let Ok(at) = u32::try_from(index) else {
                break;
            };
            let (block, offset) = tables::recipient_block(at);
            let Some(records) = tables::RECIPIENTS.get(self.store(), &(message, block))? else {
                break;
            };
            let take = (end - index).min((records.len() - offset.min(records.len())) as u64);
            if take == 0 {
                break;
            }
            recipients.extend(records.into_iter().skip(offset).take(take as usize));
            index += take;
        }
        Ok(Some((record, recipients)))
    }

    /// Every recipient of a message, in index order (its blocks, flattened).
    pub(crate) fn recipient_records(
        &self,
        message: MessageId,
    ) -> Result<Vec<RecipientRecord>, EngineError> {
        let blocks = tables::RECIPIENTS.values(self.store(), &message)?;
        Ok(blocks.into_iter().flatten().collect())
    }

    /// Messages newest first.
    pub fn messages(
        &self,
        tenant: TenantId,
        filter: MessageFilter,
        page: PageRequest,
    ) -> Result<Paged<MessageRecord>, EngineError> {
        let scan = tables::MESSAGES.newest_first(tenant, filter.from, filter.until);
        Ok(tables::MESSAGES.paged(self.store(), scan, page, |message| {
            filter
                .status
                .is_none_or(|status| message.counts.status() == status)
        })?)
    }

    /// Sends of a tenant in `buckets` spans of `span_ms` each, the last ending now: messages,
    /// recipients, and of those delivered and failed. Reads at most `MAX_STATS_MESSAGES`
    /// messages, newest first (a busier tenant's oldest spans then show less than they had).
    pub fn send_stats(
        &self,
        tenant: TenantId,
        span_ms: i64,
        buckets: usize,
    ) -> Result<Vec<SendBucket>, EngineError> {
        const MAX_STATS_MESSAGES: usize = 100_000;
        let now = self.clock().now_millis();
        let first = now - span_ms * buckets as i64;
        let mut out: Vec<SendBucket> = (0..buckets)
            .map(|i| SendBucket {
                start: first + span_ms * i as i64,
                ..SendBucket::default()
            })
            .collect();
        let mut scan = tables::MESSAGES.newest_first(tenant, Some(first), None);
        scan.limit = 1024;
        let mut read = 0;
        loop {
            let page = self.store().scan(&scan)?;
            for (_, value) in &page.items {
                let message = tables::MESSAGES.decode(value)?;
                let at = message.created_at;
                if at < first {
                    continue;
                }
                let index =
                    (((at - first) / span_ms.max(1)) as usize).min(buckets.saturating_sub(1));
                if let Some(bucket) = out.get_mut(index) {
                    bucket.messages += 1;
                    bucket.recipients += u64::from(message.recipient_count);
                    bucket.delivered += u64::from(message.counts.delivered);
                    bucket.failed += u64::from(message.counts.failed);
                }
                read += 1;
            }
            match page.next {
                Some(cursor) if read < MAX_STATS_MESSAGES => scan.after = Some(cursor),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Inbound SMS of a tenant, newest first.
    pub fn inbound(
        &self,
        tenant: TenantId,
        from: Option<UnixMillis>,
        until: Option<UnixMillis>,
        page: PageRequest,
    ) -> Result<Paged<InboundRecord>, EngineError> {
        let scan = tables::INBOUND.newest_first(tenant, from, until);
        Ok(tables::INBOUND.paged(self.store(), scan, page, |_| true)?)
    }
}
