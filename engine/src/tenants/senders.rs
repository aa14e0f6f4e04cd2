//! Sender IDs: the names a tenant's messages may come from. An operator approves one by
//! creating it (or with the tenant: one made from its name unless others are given); a send
//! names one, or takes the first approved.

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
        let name = checked_sender_name(name)?;
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

/// When a name has no letter to make a sender ID of.
const FALLBACK_SENDER: &str = "SMS";
/// Alphanumeric sender IDs are at most this long (GSM 03.40's 11 characters).
const MAX_ALPHANUMERIC_SENDER: usize = 11;

/// The sender ID a new tenant gets when none is given: the ASCII letters and digits of its
/// name, at most 11 (`Acme Ltd.` → `AcmeLtd`). A name with no letter would make no sender or
/// a number (which would claim that number's inbound SMS), so it gets `SMS` instead.
pub(crate) fn default_sender_name(tenant_name: &str) -> String {
    let name: String = tenant_name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(MAX_ALPHANUMERIC_SENDER)
        .collect();
    if name.chars().any(|c| c.is_ascii_alphabetic()) {
        name
    } else {
        FALLBACK_SENDER.to_string()
    }
}

/// `name` trimmed, if it is a valid sender ID.
pub(crate) fn checked_sender_name(name: &str) -> Result<&str, EngineError> {
    let name = name.trim();
    validate_sender_name(name)?;
    Ok(name)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_sender_is_made_of_the_names_letters_and_digits() {
        for (name, sender) in [
            ("Acme Ltd.", "AcmeLtd"),
            ("default", "default"),
            ("Kofi & Sons Trading Company", "KofiSonsTra"),
            ("4U", "4U"),
            ("Café Olé", "CafOl"),
            // No letter: a number would claim inbound SMS, nothing is no sender.
            ("233 50 123 4567", "SMS"),
            ("Ωμέγα", "SMS"),
            ("  ", "SMS"),
        ] {
            let made = default_sender_name(name);
            assert_eq!(made, sender, "{name}");
            assert!(
                validate_sender_name(&made).is_ok(),
                "{made} is a valid sender ID"
            );
        }
    }
}
