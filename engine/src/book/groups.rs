//! Contact groups: unique by name per tenant, case-insensitively, and their memberships, kept
//! twice (by group, so a group's members and its count are one key range; by contact, so a
//! contact's groups and its deletion are one key range).

use flit_storage::Batch;

use super::off_thread;
use crate::engine::Engine;
use crate::error::{Conflict, EngineError, Invalid, Missing};
use crate::ids::{ContactId, GroupId, TenantId};
use crate::store::NameKey;
use crate::store::records::{GroupRecord, now_millis};
use crate::store::tables;

/// Contact ids one membership change may carry.
pub const MAX_MEMBERSHIP_IDS: usize = 10_000;
pub const MAX_GROUP_NAME_CHARS: usize = 100;
/// Memberships removed per batch when a group is deleted.
const DELETE_CHUNK: usize = 5_000;

/// A group and how many live contacts it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupSummary {
    pub group: GroupRecord,
    pub contact_count: u64,
}

/// The answer to a membership change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembershipChange {
    /// Done; the group now has this many live members.
    Applied { contact_count: u64 },
    /// This id (the first such) is no live contact of the tenant; nothing was changed.
    UnknownContact(ContactId),
}

fn check_group_name(name: &str) -> Result<String, EngineError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_GROUP_NAME_CHARS {
        return Err(EngineError::from(Invalid::GroupName {
            max: MAX_GROUP_NAME_CHARS,
        }));
    }
    Ok(name.to_string())
}

fn group_name_key(tenant: TenantId, name: &str) -> (TenantId, NameKey) {
    (tenant, NameKey::of(name))
}

/// The id in the last 16 bytes of a membership key.
pub(super) fn last_id(key: &[u8]) -> Option<[u8; 16]> {
    key.len()
        .checked_sub(16)
        .and_then(|start| <[u8; 16]>::try_from(&key[start..]).ok())
}

pub(super) fn put_membership(
    batch: &mut Batch,
    tenant: TenantId,
    group: GroupId,
    contact: ContactId,
) {
    tables::GROUP_MEMBERS.insert(batch, &(tenant, group, contact));
    tables::CONTACT_GROUPS.insert(batch, &(tenant, contact, group));
}

pub(super) fn delete_membership(
    batch: &mut Batch,
    tenant: TenantId,
    group: GroupId,
    contact: ContactId,
) {
    tables::GROUP_MEMBERS.remove(batch, &(tenant, group, contact));
    tables::CONTACT_GROUPS.remove(batch, &(tenant, contact, group));
}

impl Engine {
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
            return Err(EngineError::from(Conflict::GroupExists(name)));
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

    pub async fn add_group_members(
        &self,
        tenant: TenantId,
        group: GroupId,
        contacts: Vec<ContactId>,
    ) -> Result<MembershipChange, EngineError> {
        self.change_members(tenant, group, contacts, put_membership)
            .await
    }

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
            return Err(EngineError::from(Invalid::MembershipIds {
                max: MAX_MEMBERSHIP_IDS,
            }));
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

    pub(super) fn existing_group(
        &self,
        tenant: TenantId,
        group: GroupId,
    ) -> Result<GroupRecord, EngineError> {
        self.group(tenant, group)?
            .ok_or(EngineError::NotFound(Missing::Group))
    }

    pub(super) fn member_count(
        &self,
        tenant: TenantId,
        group: GroupId,
    ) -> Result<u64, EngineError> {
        Ok(tables::GROUP_MEMBERS.count(self.store(), &(tenant, group))?)
    }

    pub(super) fn group_ids_of(
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
}
