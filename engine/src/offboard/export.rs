//! A tenant's data read out as it is stored, for an operator to keep before deleting it: the
//! tenant, then each kind of record in turn, a page at a time from a cursor, so the reader
//! holds one page in memory whatever the tenant holds. Secrets stay behind: API keys, SMPP
//! accounts and phones come as their records, and the API leaves their hashes, tokens and
//! keys out.

use std::ops::Bound;

use flit_storage::{Scan, StorageError, Store};
use serde::de::DeserializeOwned;

use crate::engine::Engine;
use crate::error::{EngineError, Missing};
use crate::ids::{ContactId, GroupId, MessageId, TenantId, UserId};
use crate::store::records::{
    ApiKeyRecord, ContactRecord, DeviceRecord, GroupRecord, InboundRecord, MessageRecord,
    RecipientRecord, SenderIdRecord, SmppAccountRecord, SuspensionRecord, TemplateRecord,
    TenantRecord, TransactionRecord, UserRecord, WebhookRecord,
};
use crate::store::{Key, Table, tables};

/// Records read per page (a message's recipients: up to `RECIPIENT_BLOCKS_PER_PAGE` blocks).
const PAGE: usize = 500;
/// Recipient blocks read per page: 1,000 recipients.
const RECIPIENT_BLOCKS_PER_PAGE: u32 = 4;

/// One record of a tenant's data, in the order an export lists them.
#[derive(Clone, Debug)]
pub enum ExportRecord {
    Tenant {
        record: TenantRecord,
        suspension: Option<SuspensionRecord>,
        balance: i64,
    },
    SenderId(SenderIdRecord),
    ApiKey(ApiKeyRecord),
    /// An SMPP account (its record carries the password's hash: the API leaves it out).
    SmppAccount(SmppAccountRecord),
    /// A person who signs in to the console for the tenant (the record carries the password's
    /// hash: the API leaves it out).
    User(UserRecord),
    /// A contact (deleted ones too, with `deleted_at`) and the groups it is in.
    Contact {
        record: ContactRecord,
        groups: Vec<GroupId>,
    },
    Group(GroupRecord),
    Template(TemplateRecord),
    Webhook(WebhookRecord),
    Device(DeviceRecord),
    Transaction(TransactionRecord),
    Message(MessageRecord),
    /// One recipient of the message listed before it, by its index in that message.
    Recipient {
        message: MessageId,
        index: u32,
        record: RecipientRecord,
    },
    Inbound(InboundRecord),
}

/// Where an export goes on from; opaque to the caller, who hands back what the last page
/// answered.
#[derive(Clone, Debug)]
pub struct ExportCursor {
    section: Section,
    /// The last key read in the section.
    after: Option<Vec<u8>>,
    /// A message whose recipients are still to be listed: its id, the next block and how
    /// many blocks it has.
    recipients: Option<(MessageId, u32, u32)>,
}

/// The kinds of record, in the order they are listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    Tenant,
    SenderIds,
    ApiKeys,
    SmppAccounts,
    Users,
    Contacts,
    Groups,
    Templates,
    Webhooks,
    Devices,
    Transactions,
    Messages,
    Inbound,
}

impl Section {
    fn next(self) -> Option<Section> {
        use Section::*;
        Some(match self {
            Tenant => SenderIds,
            SenderIds => ApiKeys,
            ApiKeys => SmppAccounts,
            SmppAccounts => Users,
            Users => Contacts,
            Contacts => Groups,
            Groups => Templates,
            Templates => Webhooks,
            Webhooks => Devices,
            Devices => Transactions,
            Transactions => Messages,
            Messages => Inbound,
            Inbound => return None,
        })
    }
}

impl ExportCursor {
    fn at(section: Section) -> ExportCursor {
        ExportCursor {
            section,
            after: None,
            recipients: None,
        }
    }
}

impl Engine {
    /// One page of a tenant's export: the records after `cursor` (`None`: from the start),
    /// and the cursor to go on from, or `None` once everything is listed. Reads the store
    /// directly: call it off the async threads. `NotFound(Tenant)` for an unknown tenant.
    pub fn export_page(
        &self,
        tenant: TenantId,
        cursor: Option<ExportCursor>,
    ) -> Result<(Vec<ExportRecord>, Option<ExportCursor>), EngineError> {
        let record = self.tenant(tenant).ok_or(Missing::Tenant)?;
        let mut cursor = cursor.unwrap_or(ExportCursor::at(Section::Tenant));
        let store = self.store();
        // Empty sections are passed over until a page has records or the export ends.
        loop {
            let (records, next) = match cursor.section {
                Section::Tenant => {
                    let first = ExportRecord::Tenant {
                        suspension: self.suspension(tenant),
                        balance: self.balance(tenant).unwrap_or(0),
                        record: record.clone(),
                    };
                    (vec![first], None)
                }
                Section::SenderIds => owned_page(
                    store,
                    &tables::SENDER_IDS,
                    tenant,
                    &cursor,
                    ExportRecord::SenderId,
                )?,
                // Keyed by their own ids: the whole table, the tenant's picked out.
                Section::ApiKeys => {
                    let scan = after(tables::API_KEYS.scan(&()), &cursor);
                    let (keys, next) = page(store, &tables::API_KEYS, scan)?;
                    let keys = keys
                        .into_iter()
                        .filter(|key| key.tenant == tenant)
                        .map(ExportRecord::ApiKey)
                        .collect();
                    (keys, next)
                }
                Section::SmppAccounts => owned_page(
                    store,
                    &tables::SMPP_ACCOUNTS,
                    tenant,
                    &cursor,
                    ExportRecord::SmppAccount,
                )?,
                Section::Users => {
                    // Few per tenant: listed in one page.
                    if cursor.after.is_some() {
                        (Vec::new(), None)
                    } else {
                        let mut users = Vec::new();
                        for id in tables::TENANT_USERS.tails::<16>(store, &tenant)? {
                            if let Some(user) = tables::USERS.get(store, &UserId::from_bytes(id))? {
                                users.push(ExportRecord::User(user));
                            }
                        }
                        (users, None)
                    }
                }
                Section::Contacts => {
                    let scan = after(tables::CONTACTS.scan(&tenant), &cursor);
                    let (contacts, next) = page(store, &tables::CONTACTS, scan)?;
                    let mut records = Vec::with_capacity(contacts.len());
                    for contact in contacts {
                        records.push(ExportRecord::Contact {
                            groups: groups_of(store, tenant, contact.id)?,
                            record: contact,
                        });
                    }
                    (records, next)
                }
                Section::Groups => {
                    owned_page(store, &tables::GROUPS, tenant, &cursor, ExportRecord::Group)?
                }
                Section::Templates => owned_page(
                    store,
                    &tables::TEMPLATES,
                    tenant,
                    &cursor,
                    ExportRecord::Template,
                )?,
                Section::Webhooks => owned_page(
                    store,
                    &tables::WEBHOOKS,
                    tenant,
                    &cursor,
                    ExportRecord::Webhook,
                )?,
                Section::Devices => owned_page(
                    store,
                    &tables::DEVICES,
                    tenant,
                    &cursor,
                    ExportRecord::Device,
                )?,
                Section::Transactions => owned_page(
                    store,
                    &tables::LEDGER,
                    tenant,
                    &cursor,
                    ExportRecord::Transaction,
                )?,
                Section::Messages => {
                    let (records, next) = messages_page(store, tenant, &cursor)?;
                    if next.is_some() {
                        return Ok((records, next));
                    }
                    (records, None)
                }
                Section::Inbound => owned_page(
                    store,
                    &tables::INBOUND,
                    tenant,
                    &cursor,
                    ExportRecord::Inbound,
                )?,
            };
            let next = match next {
                Some(after) => Some(ExportCursor {
                    section: cursor.section,
                    after: Some(after),
                    recipients: None,
                }),
                None => cursor.section.next().map(ExportCursor::at),
            };
            match next {
                None => return Ok((records, None)),
                Some(next) if !records.is_empty() => return Ok((records, Some(next))),
                Some(next) => cursor = next,
            }
        }
    }
}

/// `scan` from after the cursor's last key, a page long.
fn after(mut scan: Scan, cursor: &ExportCursor) -> Scan {
    scan.after = cursor.after.clone();
    scan.limit = PAGE;
    scan
}

/// The values `scan` finds, and the key to go on after when there are more.
fn page<K: Key, V: serde::Serialize + DeserializeOwned>(
    store: &Store,
    table: &Table<K, V>,
    scan: Scan,
) -> Result<(Vec<V>, Option<Vec<u8>>), StorageError> {
    let found = store.scan(&scan)?;
    let values = found
        .items
        .iter()
        .map(|(_, value)| table.decode(value))
        .collect::<Result<Vec<V>, _>>()?;
    Ok((values, found.next))
}

/// A page of a table keyed by the tenant first.
fn owned_page<K: Key, V: serde::Serialize + DeserializeOwned>(
    store: &Store,
    table: &Table<(TenantId, K), V>,
    tenant: TenantId,
    cursor: &ExportCursor,
    wrap: fn(V) -> ExportRecord,
) -> Result<(Vec<ExportRecord>, Option<Vec<u8>>), StorageError> {
    let (values, next) = page(store, table, after(table.scan(&tenant), cursor))?;
    Ok((values.into_iter().map(wrap).collect(), next))
}

/// The groups a contact is in (`CONTACT_GROUPS`: tenant, contact, group).
fn groups_of(
    store: &Store,
    tenant: TenantId,
    contact: ContactId,
) -> Result<Vec<GroupId>, StorageError> {
    Ok(store
        .scan(&tables::CONTACT_GROUPS.scan(&(tenant, contact)))?
        .items
        .into_iter()
        .filter_map(|(key, _)| key.get(32..48).and_then(|b| <[u8; 16]>::try_from(b).ok()))
        .map(GroupId::from_bytes)
        .collect())
}

/// Messages, each followed by its recipients; a message with many recipients takes pages of
/// its own. Answers the records and where to go on from within the section (`None` once it
/// is done).
fn messages_page(
    store: &Store,
    tenant: TenantId,
    cursor: &ExportCursor,
) -> Result<(Vec<ExportRecord>, Option<ExportCursor>), StorageError> {
    let mut records = Vec::new();
    let mut last_key = cursor.after.clone();
    if let Some((message, next_block, blocks)) = cursor.recipients {
        let until = blocks.min(next_block + RECIPIENT_BLOCKS_PER_PAGE);
        push_recipients(store, message, next_block..until, &mut records)?;
        let recipients = (until < blocks).then_some((message, until, blocks));
        return Ok((
            records,
            Some(ExportCursor {
                section: Section::Messages,
                after: last_key,
                recipients,
            }),
        ));
    }
    let mut scan = tables::MESSAGES.scan(&tenant);
    scan.after = last_key.clone();
    scan.limit = PAGE / 5;
    let found = store.scan(&scan)?;
    if found.items.is_empty() {
        return Ok((records, None));
    }
    for (key, value) in found.items {
        let message: MessageRecord = tables::MESSAGES.decode(&value)?;
        let (id, blocks) = (
            message.id,
            message.recipient_count.div_ceil(tables::RECIPIENT_BLOCK),
        );
        last_key = Some(key);
        records.push(ExportRecord::Message(message));
        if blocks > RECIPIENT_BLOCKS_PER_PAGE {
            // The rest of this page is its recipients, and the pages after it.
            return Ok((
                records,
                Some(ExportCursor {
                    section: Section::Messages,
                    after: last_key,
                    recipients: Some((id, 0, blocks)),
                }),
            ));
        }
        push_recipients(store, id, 0..blocks, &mut records)?;
    }
    // Another page of the section even when this one was the last: it then finds nothing.
    Ok((
        records,
        Some(ExportCursor {
            section: Section::Messages,
            after: last_key,
            recipients: None,
        }),
    ))
}

fn push_recipients(
    store: &Store,
    message: MessageId,
    blocks: std::ops::Range<u32>,
    records: &mut Vec<ExportRecord>,
) -> Result<(), StorageError> {
    let start = (message, blocks.start).encode();
    let end = (message, blocks.end).encode();
    let scan = tables::RECIPIENTS.range(Bound::Included(start), Bound::Excluded(end));
    for (key, value) in store.scan(&scan)?.items {
        let Some(block) = key
            .get(16..20)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
        else {
            continue;
        };
        let first = block * tables::RECIPIENT_BLOCK;
        let recipients: Vec<RecipientRecord> = tables::RECIPIENTS.decode(&value)?;
        for (offset, record) in recipients.into_iter().enumerate() {
            records.push(ExportRecord::Recipient {
                message,
                index: first + offset as u32,
                record,
            });
        }
    }
    Ok(())
}
