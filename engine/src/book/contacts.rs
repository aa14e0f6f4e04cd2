//! The address book: contacts (one live contact per phone number and tenant, soft-deleted
//! rather than erased) and contact groups (unique by name, case-insensitively), their
//! memberships, bulk import, and the chunked readers the send path resolves groups and
//! contacts with.
//!
//! Every write holds the tenant's `book` lock: the uniqueness rules are check-then-write, and
//! the lock is what keeps two requests from both passing the check. Reads take no lock.
//!
//! Storage (see `layout`): the contact records (soft-deleted ones too), an index from phone to
//! the live contact, the groups, an index from lowercase group name to group, and every
//! membership twice (by group, so a group's members and its count are one key range; by
//! contact, so a contact's groups and its deletion are one key range). A soft delete removes
//! the contact's phone index entry and its memberships in the same batch, so deleted contacts
//! are never members and their phone can be taken again.

use std::collections::{HashMap, HashSet};

use flit_storage::Batch;

use crate::engine::{Engine, read};
use crate::error::EngineError;
use crate::ids::{ContactId, GroupId, TenantId};
use crate::numbers::{Country, Msisdn, Validation};
use crate::store::records::{ContactRecord, GroupRecord, now_millis};
use crate::store::tables;
use crate::store::{NameKey, PageRequest, Paged};
use crate::tenants::TenantEntry;

/// Rows one import may carry (FlashSMS limit).
pub const MAX_IMPORT_CONTACTS: usize = 10_000;
/// Contact ids one membership change may carry.
pub const MAX_MEMBERSHIP_IDS: usize = 10_000;
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_GROUP_NAME_CHARS: usize = 100;
/// Import rows per durable batch: each row is up to four writes, so a batch stays near 10,000
/// operations however large the import.
const IMPORT_CHUNK: usize = 2_500;
/// Memberships removed per batch when a group is deleted.
const DELETE_CHUNK: usize = 5_000;
/// Keys read per storage page while walking a range.
const SCAN_PAGE: usize = 1_024;

/// A live contact and the groups it belongs to (oldest group first).
#[derive(Clone, Debug, PartialEq)]
pub struct Contact {
    pub record: ContactRecord,
    pub groups: Vec<GroupRecord>,
}

/// A group and how many live contacts it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupSummary {
    pub group: GroupRecord,
    pub contact_count: u64,
}

/// A contact as submitted; `phone` is what the user typed.
#[derive(Clone, Debug, Default)]
pub struct NewContact {
    pub phone: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
}

/// A partial update: `None` leaves a field alone, `Some(None)` (or an empty string) clears it.
#[derive(Clone, Debug, Default)]
pub struct ContactPatch {
    pub phone: Option<String>,
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub email: Option<Option<String>>,
    /// Also adds the contact to this group (it stays in its other groups).
    pub group: Option<GroupId>,
}

#[derive(Clone, Debug, Default)]
pub struct ContactFilter {
    /// Case-insensitive, over first name, last name (and both together) and the phone digits.
    pub search: Option<String>,
    /// Only this group's members.
    pub group: Option<GroupId>,
}

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

/// The answer to a membership change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembershipChange {
    /// Done; the group now has this many live members.
    Applied { contact_count: u64 },
    /// This id (the first such) is no live contact of the tenant; nothing was changed.
    UnknownContact(ContactId),
}

/// Names and email after trimming and checking; empty means absent.
struct Fields {
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
}

impl Fields {
    fn check(
        first_name: Option<String>,
        last_name: Option<String>,
        email: Option<String>,
    ) -> Result<Fields, EngineError> {
        Ok(Fields {
            first_name: check_name("firstName", first_name)?,
            last_name: check_name("lastName", last_name)?,
            email: check_email(email)?,
        })
    }
}

fn trimmed(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

fn check_name(field: &str, value: Option<String>) -> Result<Option<String>, EngineError> {
    let value = trimmed(value);
    if value
        .as_ref()
        .is_some_and(|name| name.chars().count() > MAX_NAME_CHARS)
    {
        return Err(EngineError::invalid(
            "invalid_name",
            format!("`{field}` may be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(value)
}

/// Light on purpose: one `@` with something either side and no spaces. Whether the mailbox
/// exists is not ours to know.
fn check_email(value: Option<String>) -> Result<Option<String>, EngineError> {
    let value = trimmed(value);
    if let Some(email) = &value {
        let well_formed = email.chars().count() <= MAX_EMAIL_CHARS
            && !email.chars().any(char::is_whitespace)
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && !domain.is_empty() && !domain.contains('@')
            });
        if !well_formed {
            return Err(EngineError::invalid(
                "invalid_email",
                format!(
                    "`email` must look like name@example.com and be at most {MAX_EMAIL_CHARS} characters"
                ),
            ));
        }
    }
    Ok(value)
}

fn check_group_name(name: &str) -> Result<String, EngineError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_GROUP_NAME_CHARS {
        return Err(EngineError::invalid(
            "invalid_name",
            format!("`name` must be 1 to {MAX_GROUP_NAME_CHARS} characters"),
        ));
    }
    Ok(name.to_string())
}

/// How a tenant's numbers are read: local forms in its country, checked as its own
/// `numberValidation` setting says, else as the calling API asks (`asked`), else strictly.
pub(crate) fn number_rules(
    entry: &TenantEntry,
    asked: Option<Validation>,
) -> (Country, Validation) {
    let validation = read(&entry.record)
        .number_validation
        .as_deref()
        .and_then(|v| v.parse().ok())
        .or(asked)
        .unwrap_or(Validation::Strict);
    (*read(&entry.country), validation)
}

fn parse_phone(raw: &str, country: Country, validation: Validation) -> Result<Msisdn, EngineError> {
    Msisdn::parse(raw, country, validation).map_err(|error| {
        EngineError::invalid("invalid_phone", format!("`phone` is not usable: {error}"))
    })
}

// ----- keys ----------------------------------------------------------------------------------

fn group_name_key(tenant: TenantId, name: &str) -> (TenantId, NameKey) {
    (tenant, NameKey::of(name))
}

/// The id in the last 16 bytes of a membership key.
fn last_id(key: &[u8]) -> Option<[u8; 16]> {
    key.len()
        .checked_sub(16)
        .and_then(|start| <[u8; 16]>::try_from(&key[start..]).ok())
}

fn put_contact(batch: &mut Batch, record: &ContactRecord) {
    tables::CONTACTS.put(batch, &(record.tenant, record.id), record);
}

fn put_membership(batch: &mut Batch, tenant: TenantId, group: GroupId, contact: ContactId) {
    tables::GROUP_MEMBERS.insert(batch, &(tenant, group, contact));
    tables::CONTACT_GROUPS.insert(batch, &(tenant, contact, group));
}

fn delete_membership(batch: &mut Batch, tenant: TenantId, group: GroupId, contact: ContactId) {
    tables::GROUP_MEMBERS.remove(batch, &(tenant, group, contact));
    tables::CONTACT_GROUPS.remove(batch, &(tenant, contact, group));
}

fn contact_exists(phone: Msisdn, existing: ContactId) -> EngineError {
    EngineError::Conflict {
        code: "contact_exists",
        message: format!("a contact with phone {phone} already exists ({existing})"),
    }
}

/// Runs storage-heavy work off the async threads.
async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| EngineError::Unavailable("the address-book work was interrupted".into()))?
}

/// A search term, read once: lowercase text for names, digit forms for phones.
struct Search {
    text: String,
    /// The digits as typed, plus the international form of a local `0…` or `00…` fragment.
    digits: Vec<String>,
}

impl Search {
    fn new(term: &str, country: Country) -> Option<Search> {
        let text = term.trim().to_lowercase();
        if text.is_empty() {
            return None;
        }
        let stripped: String = text
            .trim_start_matches('+')
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let mut digits = Vec::new();
        if !stripped.is_empty() && stripped.bytes().all(|b| b.is_ascii_digit()) {
            if let Some(international) = stripped.strip_prefix("00") {
                digits.push(international.to_string());
            } else if let Some(national) = stripped.strip_prefix('0') {
                digits.push(format!("{}{national}", country.calling_code()));
            }
            digits.push(stripped);
        }
        Some(Search { text, digits })
    }

    fn matches(&self, contact: &ContactRecord) -> bool {
        let first = contact.first_name.as_deref().unwrap_or_default();
        let last = contact.last_name.as_deref().unwrap_or_default();
        if format!("{first} {last}")
            .to_lowercase()
            .contains(&self.text)
        {
            return true;
        }
        if self.digits.is_empty() {
            return false;
        }
        let phone = contact.phone.to_string();
        self.digits
            .iter()
            .any(|digits| phone.contains(digits.as_str()))
    }
}

/// What an import carries from one chunk to the next.
struct ImportState {
    seen: HashSet<Msisdn>,
    outcome: ImportOutcome,
}

impl Engine {
    // ----- contacts ------------------------------------------------------------------------

    /// Creates a contact (and adds it to `group`); 409 `contact_exists` if the phone is taken.
    pub async fn create_contact(
        &self,
        tenant: TenantId,
        new: NewContact,
        group: Option<GroupId>,
    ) -> Result<Contact, EngineError> {
        let entry = self.entry(tenant)?;
        let (country, validation) = number_rules(&entry, None);
        let phone = parse_phone(&new.phone, country, validation)?;
        let fields = Fields::check(new.first_name, new.last_name, new.email)?;
        let _book = entry.book.lock().await;
        let groups = match group {
            Some(group) => vec![self.existing_group(tenant, group)?],
            None => Vec::new(),
        };
        if let Some(existing) = self.phone_owner(tenant, phone)? {
            return Err(contact_exists(phone, existing));
        }
        let now = now_millis();
        let record = ContactRecord {
            id: ContactId::new(),
            tenant,
            phone,
            first_name: fields.first_name,
            last_name: fields.last_name,
            email: fields.email,
            deleted_at: None,
            created_at: now,
            updated_at: now,
        };
        let mut batch = Batch::with_capacity(4);
        put_contact(&mut batch, &record);
        tables::CONTACT_PHONES.put(&mut batch, &(tenant, phone), &record.id);
        for group in &groups {
            put_membership(&mut batch, tenant, group.id, record.id);
        }
        self.store().commit(batch).await?;
        Ok(Contact { record, groups })
    }

    /// A live contact with its groups; `None` for unknown, deleted or another tenant's ids.
    pub fn contact(
        &self,
        tenant: TenantId,
        contact: ContactId,
    ) -> Result<Option<Contact>, EngineError> {
        match self.live_contact(tenant, contact)? {
            Some(record) => Ok(Some(self.with_groups(record, &mut HashMap::new())?)),
            None => Ok(None),
        }
    }

    /// Live contacts, newest first, each with its groups.
    pub fn contacts(
        &self,
        tenant: TenantId,
        filter: ContactFilter,
        page: PageRequest,
    ) -> Result<Paged<Contact>, EngineError> {
        let entry = self.entry(tenant)?;
        let search = filter
            .search
            .as_deref()
            .and_then(|term| Search::new(term, *read(&entry.country)));
        let records = match filter.group {
            Some(group) => {
                self.existing_group(tenant, group)?;
                self.paged_members(tenant, group, page, search.as_ref())?
            }
            None => {
                let scan = tables::CONTACTS.scan(&tenant).reverse();
                tables::CONTACTS.paged(self.store(), scan, page, |contact| {
                    contact.deleted_at.is_none()
                        && search.as_ref().is_none_or(|search| search.matches(contact))
                })?
            }
        };
        let mut names = HashMap::new();
        Ok(Paged {
            items: records
                .items
                .into_iter()
                .map(|record| self.with_groups(record, &mut names))
                .collect::<Result<_, _>>()?,
            total: records.total,
        })
    }

    /// Changes the given fields; a new phone must not be another live contact's.
    pub async fn update_contact(
        &self,
        tenant: TenantId,
        contact: ContactId,
        patch: ContactPatch,
    ) -> Result<Contact, EngineError> {
        let entry = self.entry(tenant)?;
        let (country, validation) = number_rules(&entry, None);
        let phone = patch
            .phone
            .as_deref()
            .map(|raw| parse_phone(raw, country, validation))
            .transpose()?;
        let first_name = patch
            .first_name
            .map(|name| check_name("firstName", name))
            .transpose()?;
        let last_name = patch
            .last_name
            .map(|name| check_name("lastName", name))
            .transpose()?;
        let email = patch.email.map(check_email).transpose()?;

        let _book = entry.book.lock().await;
        let mut record = self
            .live_contact(tenant, contact)?
            .ok_or(EngineError::NotFound { what: "contact" })?;
        let mut batch = Batch::with_capacity(5);
        if let Some(group) = patch.group {
            self.existing_group(tenant, group)?;
            put_membership(&mut batch, tenant, group, contact);
        }
        if let Some(phone) = phone.filter(|phone| *phone != record.phone) {
            if let Some(existing) = self.phone_owner(tenant, phone)? {
                return Err(contact_exists(phone, existing));
            }
            tables::CONTACT_PHONES.delete(&mut batch, &(tenant, record.phone));
            tables::CONTACT_PHONES.put(&mut batch, &(tenant, phone), &contact);
            record.phone = phone;
        }
        if let Some(first_name) = first_name {
            record.first_name = first_name;
        }
        if let Some(last_name) = last_name {
            record.last_name = last_name;
        }
        if let Some(email) = email {
            record.email = email;
        }
        record.updated_at = now_millis();
        put_contact(&mut batch, &record);
        self.store().commit(batch).await?;
        self.with_groups(record, &mut HashMap::new())
    }

    /// Soft delete: the record keeps `deleted_at`; its phone and memberships go.
    pub async fn delete_contact(
        &self,
        tenant: TenantId,
        contact: ContactId,
    ) -> Result<(), EngineError> {
        let entry = self.entry(tenant)?;
        let _book = entry.book.lock().await;
        let mut record = self
            .live_contact(tenant, contact)?
            .ok_or(EngineError::NotFound { what: "contact" })?;
        let now = now_millis();
        record.deleted_at = Some(now);
        record.updated_at = now;
        let mut batch = Batch::new();
        put_contact(&mut batch, &record);
        tables::CONTACT_PHONES.delete(&mut batch, &(tenant, record.phone));
        for group in self.group_ids_of(tenant, contact)? {
            delete_membership(&mut batch, tenant, group, contact);
        }
        self.store().commit(batch).await?;
        Ok(())
    }

    /// Imports up to `MAX_IMPORT_CONTACTS` rows, a durable batch per `IMPORT_CHUNK` rows. With
    /// `group`, every created and every skipped (already existing) contact joins it.
    ///
    /// Not all-or-nothing: if a batch fails, the chunks before it stay imported, and a retry
    /// counts them as skipped.
    pub async fn import_contacts(
        &self,
        tenant: TenantId,
        rows: Vec<NewContact>,
        group: Option<GroupId>,
    ) -> Result<ImportOutcome, EngineError> {
        if rows.len() > MAX_IMPORT_CONTACTS {
            return Err(EngineError::invalid(
                "too_many_contacts",
                format!(
                    "{} contacts given; at most {MAX_IMPORT_CONTACTS} per import",
                    rows.len()
                ),
            ));
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
            let Ok(phone) = Msisdn::parse(&row.phone, country, validation) else {
                state.outcome.invalid += 1;
                continue;
            };
            let Ok(fields) = Fields::check(row.first_name, row.last_name, row.email) else {
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
            let record = ContactRecord {
                id: ContactId::new(),
                tenant,
                phone,
                first_name: fields.first_name,
                last_name: fields.last_name,
                email: fields.email,
                deleted_at: None,
                created_at: now,
                updated_at: now,
            };
            put_contact(&mut batch, &record);
            tables::CONTACT_PHONES.put(&mut batch, &(tenant, phone), &record.id);
            if let Some(group) = group {
                put_membership(&mut batch, tenant, group, record.id);
            }
            state.outcome.created += 1;
        }
        Ok((batch, state))
    }

    // ----- groups --------------------------------------------------------------------------

    /// Every group, newest first, with its live member count.
    pub fn groups(&self, tenant: TenantId) -> Result<Vec<GroupSummary>, EngineError> {
        self.entry(tenant)?;
        let groups = tables::GROUPS.read(self.store(), &tables::GROUPS.scan(&tenant).reverse())?;
        groups
            .into_iter()
            .map(|group| {
                Ok(GroupSummary {
                    contact_count: self.member_count(tenant, group.id)?,
                    group,
                })
            })
            .collect()
    }

    pub fn group(
        &self,
        tenant: TenantId,
        group: GroupId,
    ) -> Result<Option<GroupRecord>, EngineError> {
        Ok(tables::GROUPS.get(self.store(), &(tenant, group))?)
    }

    /// Creates a group; 409 `group_exists` if the tenant has one of that name in any case.
    pub async fn create_group(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> Result<GroupRecord, EngineError> {
        let name = check_group_name(name)?;
        let entry = self.entry(tenant)?;
        let _book = entry.book.lock().await;
        let name_key = group_name_key(tenant, &name);
        if tables::GROUP_NAMES.get(self.store(), &name_key)?.is_some() {
            return Err(EngineError::Conflict {
                code: "group_exists",
                message: format!("a group named `{name}` already exists"),
            });
        }
        let record = GroupRecord {
            id: GroupId::new(),
            tenant,
            name,
            created_at: now_millis(),
        };
        let mut batch = Batch::with_capacity(2);
        tables::GROUPS.put(&mut batch, &(tenant, record.id), &record);
        tables::GROUP_NAMES.put(&mut batch, &name_key, &record.id);
        self.store().commit(batch).await?;
        Ok(record)
    }

    /// Deletes a group and its memberships; the contacts stay. Memberships go a chunk per
    /// batch and the group itself with the last one, so an interrupted delete leaves the group
    /// (with fewer members) for a retry, never memberships of a group that is gone.
    pub async fn delete_group(&self, tenant: TenantId, group: GroupId) -> Result<(), EngineError> {
        let entry = self.entry(tenant)?;
        let _book = entry.book.lock().await;
        let record = self.existing_group(tenant, group)?;
        let members = tables::GROUP_MEMBERS
            .scan(&(tenant, group))
            .limit(DELETE_CHUNK);
        loop {
            let scan = members.clone();
            let page = off_thread({
                let engine = self.clone();
                move || Ok(engine.store().scan(&scan)?)
            })
            .await?;
            let mut batch = Batch::with_capacity(page.items.len() * 2 + 2);
            for (key, _) in &page.items {
                if let Some(contact) = last_id(key) {
                    delete_membership(&mut batch, tenant, group, ContactId::from_bytes(contact));
                }
            }
            let last = page.next.is_none();
            if last {
                tables::GROUPS.delete(&mut batch, &(tenant, group));
                tables::GROUP_NAMES.delete(&mut batch, &group_name_key(tenant, &record.name));
            }
            self.store().commit(batch).await?;
            if last {
                return Ok(());
            }
        }
    }

    /// Adds live contacts to a group (adding a member again changes nothing).
    pub async fn add_group_members(
        &self,
        tenant: TenantId,
        group: GroupId,
        contacts: Vec<ContactId>,
    ) -> Result<MembershipChange, EngineError> {
        self.change_members(tenant, group, contacts, put_membership)
            .await
    }

    /// Removes contacts from a group (removing a non-member changes nothing).
    pub async fn remove_group_members(
        &self,
        tenant: TenantId,
        group: GroupId,
        contacts: Vec<ContactId>,
    ) -> Result<MembershipChange, EngineError> {
        self.change_members(tenant, group, contacts, delete_membership)
            .await
    }

    async fn change_members(
        &self,
        tenant: TenantId,
        group: GroupId,
        contacts: Vec<ContactId>,
        change: fn(&mut Batch, TenantId, GroupId, ContactId),
    ) -> Result<MembershipChange, EngineError> {
        if contacts.is_empty() || contacts.len() > MAX_MEMBERSHIP_IDS {
            return Err(EngineError::invalid(
                "invalid_contact_ids",
                format!("`contactIds` must hold 1 to {MAX_MEMBERSHIP_IDS} contact ids"),
            ));
        }
        let entry = self.entry(tenant)?;
        let _book = entry.book.lock().await;
        self.existing_group(tenant, group)?;
        let engine = self.clone();
        let checked = off_thread(move || {
            let mut batch = Batch::with_capacity(contacts.len() * 2);
            for contact in contacts {
                if engine.live_contact(tenant, contact)?.is_none() {
                    return Ok(Err(contact));
                }
                change(&mut batch, tenant, group, contact);
            }
            Ok(Ok(batch))
        })
        .await?;
        let batch = match checked {
            Ok(batch) => batch,
            Err(unknown) => return Ok(MembershipChange::UnknownContact(unknown)),
        };
        self.store().commit(batch).await?;
        let engine = self.clone();
        let contact_count = off_thread(move || engine.member_count(tenant, group)).await?;
        Ok(MembershipChange::Applied { contact_count })
    }

    // ----- the send path -------------------------------------------------------------------

    /// Live contacts of a group, a chunk at a time (bounded memory); NotFound { what: "group" }
    /// if it does not exist.
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

    /// Every live contact of the tenant, a chunk at a time.
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

    /// These live contacts, in the order given; NotFound { what: "contact" } for the first
    /// unknown or deleted id.
    pub(crate) fn contacts_by_ids(
        &self,
        tenant: TenantId,
        ids: &[ContactId],
    ) -> Result<Vec<ContactRecord>, EngineError> {
        ids.iter()
            .map(|id| {
                self.live_contact(tenant, *id)?
                    .ok_or(EngineError::NotFound { what: "contact" })
            })
            .collect()
    }

    // ----- helpers -------------------------------------------------------------------------

    fn live_contact(
        &self,
        tenant: TenantId,
        contact: ContactId,
    ) -> Result<Option<ContactRecord>, EngineError> {
        Ok(tables::CONTACTS
            .get(self.store(), &(tenant, contact))?
            .filter(|record| record.deleted_at.is_none()))
    }

    fn existing_group(&self, tenant: TenantId, group: GroupId) -> Result<GroupRecord, EngineError> {
        self.group(tenant, group)?
            .ok_or(EngineError::NotFound { what: "group" })
    }

    /// The live contact holding `phone`, if any.
    fn phone_owner(
        &self,
        tenant: TenantId,
        phone: Msisdn,
    ) -> Result<Option<ContactId>, EngineError> {
        Ok(tables::CONTACT_PHONES.get(self.store(), &(tenant, phone))?)
    }

    fn member_count(&self, tenant: TenantId, group: GroupId) -> Result<u64, EngineError> {
        Ok(tables::GROUP_MEMBERS.count(self.store(), &(tenant, group))?)
    }

    /// The ids of the groups a contact is in, oldest group first.
    fn group_ids_of(
        &self,
        tenant: TenantId,
        contact: ContactId,
    ) -> Result<Vec<GroupId>, EngineError> {
        let page = self
            .store()
            .scan(&tables::CONTACT_GROUPS.scan(&(tenant, contact)))?;
        Ok(page
            .items
            .iter()
            .filter_map(|(key, _)| last_id(key).map(GroupId::from_bytes))
            .collect())
    }

    /// `record` with its groups; `known` caches groups across the contacts of one page.
    fn with_groups(
        &self,
        record: ContactRecord,
        known: &mut HashMap<GroupId, Option<GroupRecord>>,
    ) -> Result<Contact, EngineError> {
        let mut groups = Vec::new();
        for id in self.group_ids_of(record.tenant, record.id)? {
            let group = match known.get(&id) {
                Some(group) => group.clone(),
                None => {
                    let group = self.group(record.tenant, id)?;
                    known.insert(id, group.clone());
                    group
                }
            };
            groups.extend(group);
        }
        Ok(Contact { record, groups })
    }

    /// One page of a group's live members, newest contact first. Without a search the total is
    /// a key count and only the page's records are read.
    fn paged_members(
        &self,
        tenant: TenantId,
        group: GroupId,
        page: PageRequest,
        search: Option<&Search>,
    ) -> Result<Paged<ContactRecord>, EngineError> {
        let skip = (u64::from(page.page.max(1)) - 1) * u64::from(page.limit);
        let mut scan = tables::GROUP_MEMBERS
            .scan(&(tenant, group))
            .reverse()
            .limit(SCAN_PAGE);
        let mut items = Vec::new();
        let mut total = 0u64;
        loop {
            let chunk = self.store().scan(&scan)?;
            for (key, _) in &chunk.items {
                let Some(id) = last_id(key).map(ContactId::from_bytes) else {
                    continue;
                };
                let on_page = total >= skip && items.len() < page.limit as usize;
                match search {
                    None => {
                        if on_page && let Some(contact) = self.live_contact(tenant, id)? {
                            items.push(contact);
                        }
                        total += 1;
                    }
                    Some(search) => {
                        let Some(contact) = self.live_contact(tenant, id)? else {
                            continue;
                        };
                        if search.matches(&contact) {
                            if on_page {
                                items.push(contact);
                            }
                            total += 1;
                        }
                    }
                }
            }
            match chunk.next {
                Some(cursor) => scan.after = Some(cursor),
                None => break,
            }
        }
        Ok(Paged { items, total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EngineConfig, NewTenant};
    use flit_storage::BackendKind;

    async fn engine(dir: &std::path::Path) -> (Engine, TenantId) {
        let engine = Engine::open(dir, BackendKind::Sled, EngineConfig::default())
            .await
            .expect("engine");
        let tenant = engine
            .create_tenant(NewTenant {
                name: "t".into(),
                ..NewTenant::default()
            })
            .await
            .expect("tenant");
        (engine, tenant.id)
    }

    fn row(phone: &str, first_name: &str) -> NewContact {
        NewContact {
            phone: phone.into(),
            first_name: Some(first_name.into()),
            ..NewContact::default()
        }
    }

    #[tokio::test]
    async fn send_path_readers_see_live_contacts_in_chunks() {
        let dir = tempfile::tempdir().expect("dir");
        let (engine, tenant) = engine(dir.path()).await;
        let group = engine.create_group(tenant, "All").await.expect("group");
        let rows = (0..25)
            .map(|i| row(&format!("02012345{i:02}"), &format!("n{i}")))
            .collect();
        let outcome = engine
            .import_contacts(tenant, rows, Some(group.id))
            .await
            .expect("import");
        assert_eq!(outcome.created, 25);
        let listed = engine
            .contacts(
                tenant,
                ContactFilter::default(),
                PageRequest {
                    page: 1,
                    limit: 200,
                },
            )
            .expect("list");
        let gone = listed.items[0].record.id;
        engine.delete_contact(tenant, gone).await.expect("delete");

        let mut chunks = Vec::new();
        engine
            .for_each_group_contact(tenant, group.id, 10, |contacts| {
                chunks.push(contacts.len());
                assert!(
                    contacts
                        .iter()
                        .all(|c| c.id != gone && c.deleted_at.is_none())
                );
                Ok(())
            })
            .expect("group walk");
        assert_eq!(chunks.iter().sum::<usize>(), 24);
        assert!(chunks.iter().all(|len| *len <= 10));

        let mut sizes = Vec::new();
        engine
            .for_each_contact(tenant, 10, |contacts| {
                sizes.push(contacts.len());
                Ok(())
            })
            .expect("all walk");
        assert_eq!(sizes, vec![10, 10, 4]);

        let wanted = [listed.items[2].record.id, listed.items[1].record.id];
        let found = engine.contacts_by_ids(tenant, &wanted).expect("by ids");
        assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), wanted);
        assert!(matches!(
            engine.contacts_by_ids(tenant, &[wanted[0], gone]),
            Err(EngineError::NotFound { what: "contact" })
        ));
        assert!(matches!(
            engine.for_each_group_contact(tenant, GroupId::new(), 10, |_| Ok(())),
            Err(EngineError::NotFound { what: "group" })
        ));
    }
}
