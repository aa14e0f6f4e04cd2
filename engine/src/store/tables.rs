//! Where each record lives in the store: tree names and key encodings.
//!
//! Keys start with the owning tenant's id wherever a tenant owns the record, so one tenant's
//! data is one contiguous range and another tenant's id can never reach it. Recipients are
//! keyed by their message id instead: they are only ever read after the message itself was
//! found under the caller's tenant. Ids are time-sortable, so key order is creation order and
//! a date filter is a key range.

use crate::ids::{ApiKeyId, MessageId, TenantId};

pub const TENANTS: &str = "tenants";
pub const API_KEYS: &str = "api_keys";
pub const SENDER_IDS: &str = "sender_ids";
pub const MESSAGES: &str = "messages";
/// `message id ++ block number (u32, big-endian)` → `Vec<RecipientRecord>`: recipients in
/// blocks of `RECIPIENT_BLOCK`, so a bulk send and the answers for it write a few keys
/// rather than one per recipient.
pub const RECIPIENTS: &str = "recipients";
pub const LEDGER: &str = "ledger";
pub const IDEMPOTENCY: &str = "idempotency";
pub const META: &str = "meta";
/// `message id` → tenant: the message still has PENDING recipients to hand to a channel.
pub const DISPATCH: &str = "dispatch";
/// `bind id ++ normalised SMSC message id` → which recipient parts that id covers.
pub const SMSC_IDS: &str = "smsc_ids";
/// `bind id ++ normalised SMSC message id` → `HeldReceipt`: a receipt that arrived before
/// the `submit_sm_resp` naming its id, kept until that answer comes (the SMSC was told it
/// was received, so it must survive a restart).
pub const HELD_RECEIPTS: &str = "held_receipts";
/// `tenant ++ message ++ index` → credits owed back for parts no carrier accepted; deleted in
/// the same batch as the REFUND ledger entry that pays it.
pub const REFUNDS_DUE: &str = "refunds_due";
/// `tenant ++ inbound id` → `InboundRecord`.
pub const INBOUND: &str = "inbound";
/// `tenant ++ template id` → `TemplateRecord`.
pub const TEMPLATES: &str = "templates";
/// `tenant ++ lowercase name` → template id: names are unique per tenant.
pub const TEMPLATE_NAMES: &str = "template_names";
/// `tenant ++ contact id` → `ContactRecord`, soft-deleted contacts included (`deleted_at`).
pub const CONTACTS: &str = "contacts";
/// `tenant ++ msisdn (u64, big-endian)` → contact id: the one live contact with that phone.
/// A soft delete removes the entry, so the phone can be added again.
pub const CONTACT_PHONES: &str = "contact_phones";
/// `tenant ++ group id` → `GroupRecord`.
pub const GROUPS: &str = "groups";
/// `tenant ++ lowercase name` → group id: names are unique per tenant, case-insensitively.
pub const GROUP_NAMES: &str = "group_names";
/// `tenant ++ group id ++ contact id` → empty: a group's live members, so its member count is
/// a key count over one prefix (deleting a contact deletes its memberships).
pub const GROUP_MEMBERS: &str = "group_members";
/// `tenant ++ contact id ++ group id` → empty: the same memberships by contact, so a contact's
/// groups (and what its deletion must remove) are one prefix.
pub const CONTACT_GROUPS: &str = "contact_groups";
/// `bind id` → `BindRecord`.
pub const BINDS: &str = "binds";
/// `route id` → `RouteRecord`.
pub const ROUTES: &str = "routes";

pub const META_ADMIN_TOKEN_HASH: &[u8] = b"admin_token_sha256";
pub const META_BOOTSTRAPPED: &[u8] = b"bootstrapped";

pub fn tenant_key(tenant: TenantId) -> Vec<u8> {
    tenant.to_bytes().to_vec()
}

pub fn api_key_key(key: ApiKeyId) -> Vec<u8> {
    key.to_bytes().to_vec()
}

/// `tenant ++ id`: the key of every tenant-owned record.
pub fn owned_key(tenant: TenantId, id: [u8; 16]) -> Vec<u8> {
    let mut key = Vec::with_capacity(32);
    key.extend_from_slice(&tenant.to_bytes());
    key.extend_from_slice(&id);
    key
}

/// `tenant ++ <first id of this millisecond>`: a range bound for date filters.
pub fn owned_time_bound(tenant: TenantId, millis: i64) -> Vec<u8> {
    let millis = millis.clamp(0, (1i64 << 48) - 1) as u128;
    owned_key(tenant, (millis << 80).to_be_bytes())
}

/// Recipients per block. A divisor of the accept path's chunk size, so chunks hold whole
/// blocks.
pub const RECIPIENT_BLOCK: u32 = 250;

/// The block holding recipient `index` of a message, and its offset in that block.
pub fn recipient_block(index: u32) -> (u32, usize) {
    (index / RECIPIENT_BLOCK, (index % RECIPIENT_BLOCK) as usize)
}

pub fn recipient_block_key(message: MessageId, block: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(20);
    key.extend_from_slice(&message.to_bytes());
    key.extend_from_slice(&block.to_be_bytes());
    key
}

pub fn idempotency_key(tenant: TenantId, key_hash: &[u8; 32]) -> Vec<u8> {
    let mut key = Vec::with_capacity(48);
    key.extend_from_slice(&tenant.to_bytes());
    key.extend_from_slice(key_hash);
    key
}

pub fn smsc_id_key(bind: crate::ids::BindId, smsc_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(16 + smsc_id.len());
    key.extend_from_slice(&bind.to_bytes());
    key.extend_from_slice(smsc_id.as_bytes());
    key
}

pub fn refund_due_key(tenant: TenantId, message: MessageId, index: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(36);
    key.extend_from_slice(&tenant.to_bytes());
    key.extend_from_slice(&message.to_bytes());
    key.extend_from_slice(&index.to_be_bytes());
    key
}
