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
