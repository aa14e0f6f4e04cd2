//! The address book: contacts (`contacts.rs`), groups and their memberships (`groups.rs`),
//! bulk import (`import.rs`), message templates (`templates.rs`), and the chunked readers the
//! send path resolves groups and contacts with (here).
//!
//! Every write holds the tenant's `book` lock: the uniqueness rules (one live contact per
//! phone, one group or template per name) are check-then-write, and the lock is what keeps two
//! requests from both passing the check. Reads take no lock.

pub(crate) mod contacts;
pub(crate) mod groups;
pub(crate) mod import;
pub(crate) mod templates;

#[cfg(test)]
mod tests;

use crate::engine::{Engine, read};
use crate::error::{EngineError, Invalid, Missing, Unavailable};
use crate::ids::{ContactId, GroupId, TenantId};
use crate::numbers::{Country, Msisdn, Validation};
use crate::store::records::ContactRecord;
use crate::store::tables;
use crate::tenants::TenantEntry;
use groups::last_id;

/// Keys read per storage page while walking a range.
const SCAN_PAGE: usize = 1_024;

/// How a tenant's numbers are read: local forms in its country, checked as its own
/// `numberValidation` setting says, else as the calling API asks (`asked`), else strictly.
pub(crate) fn number_rules(
    entry: &TenantEntry,
    asked: Option<Validation>,
) -> (Country, Validation) {
    let record = read(&entry.record);
    let validation = record
        .number_validation
        .or(asked)
        .unwrap_or(Validation::Strict);
    (record.default_country, validation)
}

pub(super) fn parse_phone(
    raw: &str,
    country: Country,
    validation: Validation,
) -> Result<Msisdn, EngineError> {
    Msisdn::parse(raw, country, validation)
        .map_err(|error| EngineError::from(Invalid::Phone(error)))
}

/// Runs storage-heavy work off the async threads.
pub(super) async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| EngineError::from(Unavailable::Interrupted))?
}

impl Engine {
    pub(crate) fn for_each_group_contact(
        &self,
        tenant: TenantId,
        group: GroupId,
        chunk: usize,
        mut f: impl FnMut(Vec<ContactRecord>) -> Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        self.existing_group(tenant, group)?;
        let mut scan = tables::GROUP_MEMBERS
            .scan(&(tenant, group))
            .limit(chunk.max(1));
        loop {
            let page = self.store().scan(&scan)?;
            let mut contacts = Vec::with_capacity(page.items.len());
            for (key, _) in &page.items {
                let Some(id) = last_id(key) else { continue };
                // Members are live by construction (a delete removes its memberships); the
                // check keeps a send from ever reaching a deleted contact regardless.
                if let Some(contact) = self.live_contact(tenant, ContactId::from_bytes(id))? {
                    contacts.push(contact);
                }
            }
            if !contacts.is_empty() {
                f(contacts)?;
            }
            match page.next {
                Some(cursor) => scan.after = Some(cursor),
                None => return Ok(()),
            }
        }
    }

    pub(crate) fn for_each_contact(
        &self,
        tenant: TenantId,
        chunk: usize,
        mut f: impl FnMut(Vec<ContactRecord>) -> Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        let chunk = chunk.max(1);
        let mut scan = tables::CONTACTS.scan(&tenant).limit(chunk);
        let mut contacts = Vec::with_capacity(chunk.min(SCAN_PAGE * 8));
        loop {
            let page = self.store().scan(&scan)?;
            for (_, value) in &page.items {
                let contact = tables::CONTACTS.decode(value)?;
                if contact.deleted_at.is_none() {
                    contacts.push(contact);
                }
                if contacts.len() == chunk {
                    f(std::mem::take(&mut contacts))?;
                }
            }
            match page.next {
                Some(cursor) => scan.after = Some(cursor),
                None => break,
            }
        }
        if !contacts.is_empty() {
            f(contacts)?;
        }
        Ok(())
    }

    pub(crate) fn contacts_by_ids(
        &self,
        tenant: TenantId,
        ids: &[ContactId],
    ) -> Result<Vec<ContactRecord>, EngineError> {
        ids.iter()
            .map(|id| {
                self.live_contact(tenant, *id)?
                    .ok_or(EngineError::NotFound(Missing::Contact))
            })
            .collect()
    }
}
