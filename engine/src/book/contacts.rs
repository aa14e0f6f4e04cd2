//! Contacts: one live contact per phone number and tenant, soft-deleted rather than erased.
//! A soft delete removes the contact's phone index entry and its memberships in the same
//! batch, so deleted contacts are never members and their phone can be taken again.

use std::collections::HashMap;

use flit_storage::Batch;

use super::groups::{delete_membership, last_id, put_membership};
use super::{SCAN_PAGE, number_rules, parse_phone};
use crate::engine::{Engine, read};
use crate::error::{Conflict, ContactField, EngineError, Invalid, Missing};
use crate::ids::{ContactId, GroupId, TenantId};
use crate::numbers::{Country, Msisdn};
use crate::store::records::{ContactRecord, GroupRecord, UnixMillis, now_millis};
use crate::store::tables;
use crate::store::{PageRequest, Paged};

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_EMAIL_CHARS: usize = 254;

/// A live contact and the groups it belongs to (oldest group first).
#[derive(Clone, Debug, PartialEq)]
pub struct Contact {
    pub record: ContactRecord,
    pub groups: Vec<GroupRecord>,
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

/// Names and email after trimming and checking; empty means absent.
pub(super) struct Fields {
    pub(super) first_name: Option<String>,
    pub(super) last_name: Option<String>,
    pub(super) email: Option<String>,
}

impl Fields {
    pub(super) fn check(
        first_name: Option<String>,
        last_name: Option<String>,
        email: Option<String>,
    ) -> Result<Fields, EngineError> {
        Ok(Fields {
            first_name: check_name(ContactField::FirstName, first_name)?,
            last_name: check_name(ContactField::LastName, last_name)?,
            email: check_email(email)?,
        })
    }

    /// A new live contact of `tenant` holding `phone`, with these fields.
    pub(super) fn into_record(
        self,
        tenant: TenantId,
        phone: Msisdn,
        now: UnixMillis,
    ) -> ContactRecord {
        ContactRecord {
            id: ContactId::new(),
            tenant,
            phone,
            first_name: self.first_name,
            last_name: self.last_name,
            email: self.email,
            deleted_at: None,
            created_at: now,
            updated_at: now,
        }
    }
}

fn trimmed(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

fn check_name(field: ContactField, value: Option<String>) -> Result<Option<String>, EngineError> {
    let value = trimmed(value);
    if value
        .as_ref()
        .is_some_and(|name| name.chars().count() > MAX_NAME_CHARS)
    {
        return Err(EngineError::from(Invalid::ContactName {
            field,
            max: MAX_NAME_CHARS,
        }));
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
            return Err(EngineError::from(Invalid::Email {
                max: MAX_EMAIL_CHARS,
            }));
        }
    }
    Ok(value)
}

fn put_contact(batch: &mut Batch, record: &ContactRecord) {
    tables::CONTACTS.put(batch, &(record.tenant, record.id), record);
}

/// A new contact and the index entry that makes it its phone's one live contact.
pub(super) fn put_new_contact(batch: &mut Batch, record: &ContactRecord) {
    put_contact(batch, record);
    tables::CONTACT_PHONES.put(batch, &(record.tenant, record.phone), &record.id);
}

pub(super) fn contact_exists(phone: Msisdn, existing: ContactId) -> EngineError {
    EngineError::from(Conflict::ContactExists { phone, existing })
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

impl Engine {
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
        let record = fields.into_record(tenant, phone, now_millis());
        let mut batch = Batch::with_capacity(4);
        put_new_contact(&mut batch, &record);
        for group in &groups {
            put_membership(&mut batch, tenant, group.id, record.id);
        }
        self.store().commit(batch).await?;
        Ok(Contact { record, groups })
    }

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
            .and_then(|term| Search::new(term, read(&entry.record).default_country));
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
            .map(|name| check_name(ContactField::FirstName, name))
            .transpose()?;
        let last_name = patch
            .last_name
            .map(|name| check_name(ContactField::LastName, name))
            .transpose()?;
        let email = patch.email.map(check_email).transpose()?;

        let _book = entry.book.lock().await;
        let mut record = self
            .live_contact(tenant, contact)?
            .ok_or(EngineError::NotFound(Missing::Contact))?;
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

    pub async fn delete_contact(
        &self,
        tenant: TenantId,
        contact: ContactId,
    ) -> Result<(), EngineError> {
        let entry = self.entry(tenant)?;
        let _book = entry.book.lock().await;
        let mut record = self
            .live_contact(tenant, contact)?
            .ok_or(EngineError::NotFound(Missing::Contact))?;
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

    pub(super) fn live_contact(
        &self,
        tenant: TenantId,
        contact: ContactId,
    ) -> Result<Option<ContactRecord>, EngineError> {
        Ok(tables::CONTACTS
            .get(self.store(), &(tenant, contact))?
            .filter(|record| record.deleted_at.is_none()))
    }

    pub(super) fn phone_owner(
        &self,
        tenant: TenantId,
        phone: Msisdn,
    ) -> Result<Option<ContactId>, EngineError> {
        Ok(tables::CONTACT_PHONES.get(self.store(), &(tenant, phone))?)
    }

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
