//! Bulk contact import: rows checked one by one (invalid rows counted, not stored), phones
//! already held by a live contact or repeated within the import skipped, and the rest written
//! a durable batch per chunk. `preview_import` answers what an import would do with each row
//! by the same checks (`check_row`), writing nothing, so a preview cannot disagree with it.

use std::collections::{HashMap, HashSet};

use flit_storage::Batch;

use super::contacts::{Fields, NewContact, put_new_contact};
use super::groups::put_membership;
use super::{number_rules, off_thread, parse_phone};
use crate::engine::Engine;
use crate::error::{EngineError, Invalid};
use crate::ids::{GroupId, TenantId};
use crate::numbers::{Country, Msisdn, Validation};
use crate::store::records::now_millis;

/// Rows one import may carry (FlashSMS limit).
pub const MAX_IMPORT_CONTACTS: usize = 10_000;
/// Import rows per durable batch: each row is up to four writes, so a batch stays near 10,000
/// operations however large the import.
const IMPORT_CHUNK: usize = 2_500;

/// What an import did. `imported = created + skipped`; `invalid` rows were not stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    pub imported: u64,
    /// New contacts.
    pub created: u64,
    /// Rows whose phone is already a live contact, or repeats a row before it.
    pub skipped: u64,
    /// Rows with a phone that is not a valid number, or a field over its limit.
    pub invalid: u64,
    /// Rows submitted.
    pub total: u64,
}

/// What importing one row would do ([`Engine::preview_import`]).
#[derive(Debug)]
pub enum ImportRowVerdict {
    /// A new contact with this phone.
    New(Msisdn),
    /// Not imported: its phone is not a valid number, or a field is over its limit.
    Invalid(EngineError),
    /// Skipped: this phone is already a live contact's.
    Existing(Msisdn),
    /// Skipped: this phone repeats the row at `first` (counted from 0).
    Repeat { phone: Msisdn, first: usize },
}

/// A row's phone and fields as an import stores them, or why it cannot be.
fn check_row(
    row: NewContact,
    country: Country,
    validation: Validation,
) -> Result<(Msisdn, Fields), EngineError> {
    let phone = parse_phone(&row.phone, country, validation)?;
    let fields = Fields::check(row.first_name, row.last_name, row.email)?;
    Ok((phone, fields))
}

/// What an import carries from one chunk to the next.
struct ImportState {
    seen: HashSet<Msisdn>,
    outcome: ImportOutcome,
}

impl Engine {
    pub async fn import_contacts(
        &self,
        tenant: TenantId,
        rows: Vec<NewContact>,
        group: Option<GroupId>,
    ) -> Result<ImportOutcome, EngineError> {
        if rows.len() > MAX_IMPORT_CONTACTS {
            return Err(EngineError::from(Invalid::TooManyContacts {
                given: rows.len(),
                max: MAX_IMPORT_CONTACTS,
            }));
        }
        let entry = self.entry(tenant)?;
        let (country, validation) = number_rules(&entry, None);
        let _book = entry.book.lock().await;
        if let Some(group) = group {
            self.existing_group(tenant, group)?;
        }
        let mut state = ImportState {
            seen: HashSet::with_capacity(rows.len()),
            outcome: ImportOutcome {
                total: rows.len() as u64,
                ..ImportOutcome::default()
            },
        };
        let mut rows = rows.into_iter();
        loop {
            let chunk: Vec<NewContact> = rows.by_ref().take(IMPORT_CHUNK).collect();
            if chunk.is_empty() {
                break;
            }
            // Parsing (libphonenumber) and one index read per row: CPU and storage work that
            // stays off the async threads.
            let engine = self.clone();
            let (batch, next) = off_thread(move || {
                engine.import_chunk(tenant, country, validation, group, chunk, state)
            })
            .await?;
            state = next;
            if !batch.is_empty() {
                self.store().commit(batch).await?;
            }
        }
        let mut outcome = state.outcome;
        outcome.imported = outcome.created + outcome.skipped;
        Ok(outcome)
    }

    /// What [`Engine::import_contacts`] would do with each of `rows`, in order, by its own
    /// checks; writes nothing. A row may be judged otherwise by the import itself if contacts
    /// change in between (the import checks again).
    pub async fn preview_import(
        &self,
        tenant: TenantId,
        rows: Vec<NewContact>,
    ) -> Result<Vec<ImportRowVerdict>, EngineError> {
        if rows.len() > MAX_IMPORT_CONTACTS {
            return Err(EngineError::from(Invalid::TooManyContacts {
                given: rows.len(),
                max: MAX_IMPORT_CONTACTS,
            }));
        }
        let entry = self.entry(tenant)?;
        let (country, validation) = number_rules(&entry, None);
        let engine = self.clone();
        off_thread(move || {
            let mut first_of: HashMap<Msisdn, usize> = HashMap::with_capacity(rows.len());
            let mut verdicts = Vec::with_capacity(rows.len());
            for (index, row) in rows.into_iter().enumerate() {
                let phone = match check_row(row, country, validation) {
                    Ok((phone, _)) => phone,
                    Err(error) => {
                        verdicts.push(ImportRowVerdict::Invalid(error));
                        continue;
                    }
                };
                if let Some(&first) = first_of.get(&phone) {
                    verdicts.push(ImportRowVerdict::Repeat { phone, first });
                    continue;
                }
                first_of.insert(phone, index);
                verdicts.push(if engine.phone_owner(tenant, phone)?.is_some() {
                    ImportRowVerdict::Existing(phone)
                } else {
                    ImportRowVerdict::New(phone)
                });
            }
            Ok(verdicts)
        })
        .await
    }

    fn import_chunk(
        &self,
        tenant: TenantId,
        country: Country,
        validation: Validation,
        group: Option<GroupId>,
        chunk: Vec<NewContact>,
        mut state: ImportState,
    ) -> Result<(Batch, ImportState), EngineError> {
        let now = now_millis();
        let mut batch = Batch::with_capacity(chunk.len() * 4);
        for row in chunk {
            let Ok((phone, fields)) = check_row(row, country, validation) else {
                state.outcome.invalid += 1;
                continue;
            };
            // A repeat was handled (created or skipped, and added to the group) the first time.
            if !state.seen.insert(phone) {
                state.outcome.skipped += 1;
                continue;
            }
            if let Some(existing) = self.phone_owner(tenant, phone)? {
                state.outcome.skipped += 1;
                if let Some(group) = group {
                    put_membership(&mut batch, tenant, group, existing);
                }
                continue;
            }
            let record = fields.into_record(tenant, phone, now);
            put_new_contact(&mut batch, &record);
            if let Some(group) = group {
                put_membership(&mut batch, tenant, group, record.id);
            }
            state.outcome.created += 1;
        }
        Ok((batch, state))
    }
}
