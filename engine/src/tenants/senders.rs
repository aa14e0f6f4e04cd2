//! Sender IDs: the names a tenant's messages may come from. An operator approves one by
//! creating it; a send names one, or takes the first approved.

use flit_storage::Batch;

use crate::engine::{Engine, read, write};
use crate::error::{Conflict, EngineError, Invalid};
use crate::ids::{SenderId, TenantId};
use crate::store::records::{SenderIdRecord, SenderStatus, now_millis};
use crate::store::tables;
use crate::tenants::TenantEntry;

impl Engine {
    /// Adds an approved sender ID (operators approve by creating).
    pub async fn create_sender_id(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> Result<SenderIdRecord, EngineError> {
        let name = name.trim();
        validate_sender_name(name)?;
        let entry = self.entry(tenant)?;
        if read(&entry.senders)
            .iter()
            .any(|sender| sender.name.eq_ignore_ascii_case(name))
        {
            return Err(EngineError::from(Conflict::SenderIdExists(
                name.to_string(),
            )));
        }
        let now = now_millis();
        let record = SenderIdRecord {
            id: SenderId::new(),
            tenant,
            name: name.to_string(),
            status: SenderStatus::Approved,
            created_at: now,
            approved_at: Some(now),
        };
        let mut batch = Batch::new();
        tables::SENDER_IDS.put(&mut batch, &(tenant, record.id), &record);
        self.store().commit(batch).await?;
        write(&entry.senders).push(record.clone());
        self.sender_added(tenant, &record.name);
        Ok(record)
    }

    /// The tenant's approved sender IDs, oldest first.
    pub fn approved_sender_ids(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<SenderIdRecord>, EngineError> {
        Ok(read(&self.entry(tenant)?.senders)
            .iter()
            .filter(|sender| sender.status == SenderStatus::Approved)
            .cloned()
            .collect())
    }
}

/// Sender IDs are what a phone shows: up to 11 alphanumerics, or a number up to 15 digits.
fn validate_sender_name(name: &str) -> Result<(), EngineError> {
    let digits = name.trim_start_matches('+');
    let numeric = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    let ok = if numeric {
        digits.len() <= 15
    } else {
        !name.is_empty()
            && name.len() <= 11
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b" -_.&".contains(&b))
    };
    if ok {
        Ok(())
    } else {
        Err(EngineError::from(Invalid::SenderIdForm))
    }
}

impl TenantEntry {
    /// The approved sender ID a send names (any case), or the first approved one.
    pub(crate) fn resolve_sender(&self, asked: Option<&str>) -> Result<String, EngineError> {
        let senders = read(&self.senders);
        let mut approved = senders
            .iter()
            .filter(|sender| sender.status == SenderStatus::Approved);
        match asked.map(str::trim).filter(|name| !name.is_empty()) {
            Some(name) => approved
                .find(|sender| sender.name.eq_ignore_ascii_case(name))
                .map(|sender| sender.name.clone())
                .ok_or_else(|| EngineError::from(Invalid::UnknownSenderId(name.to_string()))),
            None => approved
                .next()
                .map(|sender| sender.name.clone())
                .ok_or_else(|| EngineError::from(Invalid::NoSenderId)),
        }
    }
}
