//! Every table the engine stores, with the type of its keys and of its values: the one place
//! that says where each record lives.
//!
//! Keys start with the owning tenant's id wherever a tenant owns the record, so one tenant's
//! data is one contiguous range and another tenant's id can never reach it. Recipients are
//! keyed by their message id instead: they are only ever read after the message itself was
//! found under the caller's tenant. Ids are time-sortable, so key order is creation order and
//! a date filter is a key range.

use crate::ids::{
    ApiKeyId, BindId, ContactId, DeliveryId, DeviceId, GroupId, InboundId, MessageId, RouteId,
    SenderId, SmppAccountId, SmppHeldId, TemplateId, TenantId, TransactionId, UserId, WebhookId,
};
use crate::numbers::Msisdn;
use crate::secrets::Sealed;
use crate::store::records::{
    ApiKeyRecord, BindRecord, BindRecordV1, ContactRecord, DeliveryRecord, DeviceHandover,
    DeviceRecord, DeviceRoute, DeviceRouteV1, GroupRecord, HeldReceipt, IdempotencyRecord,
    InboundRecord, MessageRecord, OperatorSetupRecord, RecipientRecord, RegistrationTokenRecord,
    RouteRecord, SenderIdRecord, SessionRecord, SmppAccountRecord, SmppHeld, SmppOrigin, SmppPart,
    SmscMapping, SuspensionRecord, TemplateRecord, TenantRecord, TransactionRecord, UnixMillis,
    UserRecord, WebhookRecord,
};
use crate::store::{Cell, Key, KeySet, NameKey, Table};

pub(crate) const TENANTS: Table<TenantId, TenantRecord> = Table::new("tenants");
/// The suspended tenants (absent: active), beside `TENANTS` rather than in its records, so the
/// tenant records of existing data dirs read as they are.
pub(crate) const SUSPENSIONS: Table<TenantId, SuspensionRecord> = Table::new("suspensions");
pub(crate) const API_KEYS: Table<ApiKeyId, ApiKeyRecord> = Table::new("api_keys");
pub(crate) const SENDER_IDS: Table<(TenantId, SenderId), SenderIdRecord> = Table::new("sender_ids");
/// A tenant's SMPP accounts (SPEC §14), each password as its argon2id hash.
pub(crate) const SMPP_ACCOUNTS: Table<(TenantId, SmppAccountId), SmppAccountRecord> =
    Table::new("smpp_accounts");
/// `system_id` (exactly as given) → its account: `system_id`s are unique across tenants,
/// since a bind names no tenant. Written and deleted in the same batch as the account.
pub(crate) const SMPP_SYSTEM_IDS: Table<String, (TenantId, SmppAccountId)> =
    Table::new("smpp_system_ids");
/// `message id` → the SMPP account it was submitted on and the receipt it asked for: written
/// with the message, deleted in the batch that holds the receipt for the account.
pub(crate) const SMPP_ORIGINS: Table<MessageId, SmppOrigin> = Table::new("smpp_origins");
/// `account ++ held id` → a `deliver_sm` for the account (a receipt, an inbound SMS), in the
/// order written, until a receiver bind of the account answers it.
pub(crate) const SMPP_OUTBOX: Table<(SmppAccountId, SmppHeldId), SmppHeld> =
    Table::new("smpp_outbox");
/// `account ++ part key` → one part of a concatenated submit, until the last part makes the
/// message (deleted in its batch) or it is given up.
pub(crate) const SMPP_PARTS: Table<(SmppAccountId, String), SmppPart> = Table::new("smpp_parts");
/// The people who sign in to the console: tenants' users and the operator's accounts.
pub(crate) const USERS: Table<UserId, UserRecord> = Table::new("users");
/// Lowercase email → user: emails are unique, since signing in names no tenant.
pub(crate) const USER_EMAILS: Table<String, UserId> = Table::new("user_emails");
/// A tenant's users, for its listing and its deletion.
pub(crate) const TENANT_USERS: KeySet<(TenantId, UserId)> = KeySet::new("tenant_users");
/// SHA-256 of a session's token → the session.
pub(crate) const SESSIONS: Table<[u8; 32], SessionRecord> = Table::new("console_sessions");
/// A user's sessions, so that signing out everywhere (or deleting the user) ends them all.
pub(crate) const USER_SESSIONS: KeySet<(UserId, [u8; 32])> = KeySet::new("user_sessions");
pub(crate) const LEDGER: Table<(TenantId, TransactionId), TransactionRecord> = Table::new("ledger");
/// `tenant ++ SHA-256 of the key` → the first answer given under an `Idempotency-Key`.
pub(crate) const IDEMPOTENCY: Table<(TenantId, [u8; 32]), IdempotencyRecord> =
    Table::new("idempotency");

pub(crate) const MESSAGES: Table<(TenantId, MessageId), MessageRecord> = Table::new("messages");
/// `message id ++ block number` → recipients in blocks of `RECIPIENT_BLOCK`, so a bulk send
/// and the answers for it write a few keys rather than one per recipient.
pub(crate) const RECIPIENTS: Table<(MessageId, u32), Vec<RecipientRecord>> =
    Table::new("recipients");
/// `message id` → tenant: the message is due and still has PENDING recipients to hand to a
/// channel.
pub(crate) const DISPATCH: Table<MessageId, TenantId> = Table::new("dispatch");
/// `due instant (unix ms) ++ message id` → tenant: a message accepted for later, not yet due.
/// Key order is due order, so the next message due is the first key; at its time the
/// scheduler moves it to `DISPATCH`. A message is in one of the two, never both.
pub(crate) const SCHEDULE: Table<(u64, MessageId), TenantId> = Table::new("schedule");
/// `bind id ++ normalised SMSC message id` → which recipient parts that id covers.
pub(crate) const SMSC_IDS: Table<(BindId, String), SmscMapping> = Table::new("smsc_ids");
/// `bind id ++ normalised SMSC message id` → a receipt that arrived before the
/// `submit_sm_resp` naming its id, kept until that answer comes (the SMSC was told it was
/// received, so it must survive a restart).
pub(crate) const HELD_RECEIPTS: Table<(BindId, String), HeldReceipt> = Table::new("held_receipts");
/// `tenant ++ message ++ index` → credits owed back for parts no carrier accepted (a failed or
/// cancelled recipient); deleted in the same batch as the REFUND ledger entry that pays it.
/// Under the index with `CHARGE_BACK` set, a negative amount: parts of a cancelled recipient
/// that a carrier accepted after all, whose refund is taken back by a USAGE entry.
pub(crate) const REFUNDS_DUE: Table<RefundDue, i64> = Table::new("refunds_due");
/// A refund owed: the tenant, the message and the recipient's index.
pub(crate) type RefundDue = (TenantId, MessageId, u32);
/// Set in a `REFUNDS_DUE` index for a charge-back, so it never overwrites the refund of the
/// same recipient that may still be unpaid (recipient indices stay far below it).
pub(crate) const CHARGE_BACK: u32 = 1 << 31;
pub(crate) const INBOUND: Table<(TenantId, InboundId), InboundRecord> = Table::new("inbound");

pub(crate) const TEMPLATES: Table<(TenantId, TemplateId), TemplateRecord> = Table::new("templates");
/// Template names are unique per tenant, case-insensitively.
pub(crate) const TEMPLATE_NAMES: Table<(TenantId, NameKey), TemplateId> =
    Table::new("template_names");
/// Soft-deleted contacts included (`deleted_at`).
pub(crate) const CONTACTS: Table<(TenantId, ContactId), ContactRecord> = Table::new("contacts");
/// The one live contact with that phone. A soft delete removes the entry, so the phone can be
/// added again.
pub(crate) const CONTACT_PHONES: Table<(TenantId, Msisdn), ContactId> =
    Table::new("contact_phones");
pub(crate) const GROUPS: Table<(TenantId, GroupId), GroupRecord> = Table::new("groups");
/// Group names are unique per tenant, case-insensitively.
pub(crate) const GROUP_NAMES: Table<(TenantId, NameKey), GroupId> = Table::new("group_names");
/// A group's live members, so its member count is a key count over one prefix (deleting a
/// contact deletes its memberships).
pub(crate) const GROUP_MEMBERS: KeySet<(TenantId, GroupId, ContactId)> =
    KeySet::new("group_members");
/// The same memberships by contact, so a contact's groups (and what its deletion must remove)
/// are one prefix.
pub(crate) const CONTACT_GROUPS: KeySet<(TenantId, ContactId, GroupId)> =
    KeySet::new("contact_groups");

pub(crate) const WEBHOOKS: Table<(TenantId, WebhookId), WebhookRecord> = Table::new("webhooks");
/// Every event on its way to a webhook, with its attempts, newest last.
pub(crate) const WEBHOOK_DELIVERIES: Table<(TenantId, WebhookId, DeliveryId), DeliveryRecord> =
    Table::new("webhook_deliveries");
/// `webhook ++ due time (ms) ++ delivery` → tenant: the deliveries still to attempt, in the
/// order they are due. Written in the same batch as the state change that raised the event;
/// a delivery leaves it when it is delivered or given up.
pub(crate) const WEBHOOK_OUTBOX: Table<OutboxKey, TenantId> = Table::new("webhook_outbox");
/// A delivery due at a time (unix ms) on a webhook.
pub(crate) type OutboxKey = (WebhookId, u64, DeliveryId);

/// A tenant's phones.
pub(crate) const DEVICES: Table<(TenantId, DeviceId), DeviceRecord> = Table::new("devices");
/// `message id` → the phones it must go through (absent: carriers, as usual). Written with
/// the message, read when its recipients are queued again (a release, a restart).
pub(crate) const DEVICE_ROUTES: Table<MessageId, DeviceRoute> = Table::new("device_routes");
/// The first form of `DEVICE_ROUTES`, moved there at start.
pub(crate) const MESSAGE_ROUTES_V1: Table<MessageId, DeviceRouteV1> = Table::new("message_routes");
/// `message id ++ recipient index` → the phone that pulled it, until the recipient is final
/// (cleaned at start for those that became final without the phone's report).
pub(crate) const DEVICE_HANDOVERS: Table<(MessageId, u32), DeviceHandover> =
    Table::new("device_handovers");
/// `device ++ the app's envelope id` → the inbound message a phone's webhook delivery made, so
/// a retried delivery is stored once.
pub(crate) const INBOUND_SEEN: Table<(DeviceId, String), InboundId> = Table::new("inbound_seen");
/// SHA-256 of a registration token → whose phones it registers (reusable until revoked).
pub(crate) const REGISTRATION_TOKENS: Table<[u8; 32], RegistrationTokenRecord> =
    Table::new("registration_tokens");

/// SMPP binds, each password sealed under the engine's secret key.
pub(crate) const BINDS: Table<BindId, BindRecord> = Table::new("smpp_binds");
/// The first form of `BINDS`, passwords in clear: sealed and moved to `BINDS` at start.
pub(crate) const BINDS_V1: Table<BindId, BindRecordV1> = Table::new("binds");
pub(crate) const ROUTES: Table<RouteId, RouteRecord> = Table::new("routes");

/// The SHA-256 of the admin token.
pub(crate) const ADMIN_TOKEN_HASH: Cell<[u8; 32]> = Cell::new("meta", b"admin_token_sha256");
/// Nothing, sealed under the secret key at the first start that had one: a later start with
/// another key is refused before any sealed value is needed.
pub(crate) const SECRET_KEY_CHECK: Cell<Sealed> = Cell::new("meta", b"secret_key_check");
/// Set once the first start created the default tenant.
pub(crate) const BOOTSTRAPPED: Cell<bool> = Cell::new("meta", b"bootstrapped");
/// The first operator's one-time setup link, while one is open.
pub(crate) const OPERATOR_SETUP: Cell<OperatorSetupRecord> = Cell::new("meta", b"operator_setup");

/// Every tree the engine writes, so a check can walk the whole store (a test holds this list
/// to the definitions above).
#[cfg(test)]
pub(crate) const TREES: &[&str] = &[
    "tenants",
    "suspensions",
    "api_keys",
    "sender_ids",
    "smpp_accounts",
    "smpp_system_ids",
    "smpp_origins",
    "smpp_outbox",
    "smpp_parts",
    "users",
    "user_emails",
    "tenant_users",
    "console_sessions",
    "user_sessions",
    "ledger",
    "idempotency",
    "messages",
    "recipients",
    "dispatch",
    "schedule",
    "smsc_ids",
    "held_receipts",
    "refunds_due",
    "inbound",
    "templates",
    "template_names",
    "contacts",
    "contact_phones",
    "groups",
    "group_names",
    "group_members",
    "contact_groups",
    "webhooks",
    "webhook_deliveries",
    "webhook_outbox",
    "devices",
    "device_routes",
    "message_routes",
    "device_handovers",
    "inbound_seen",
    "registration_tokens",
    "binds",
    "smpp_binds",
    "routes",
    "meta",
];

/// `tenant ++ <first id of this millisecond>`: a range bound for date filters.
pub(crate) fn owned_time_bound(tenant: TenantId, millis: i64) -> Vec<u8> {
    let millis = millis.clamp(0, (1i64 << 48) - 1) as u128;
    let mut key = tenant.encode();
    key.extend_from_slice(&(millis << 80).to_be_bytes());
    key
}

/// The `SCHEDULE` key of a message due at `due`.
pub(crate) fn schedule_key(due: UnixMillis, message: MessageId) -> (u64, MessageId) {
    (u64::try_from(due).unwrap_or(0), message)
}

/// Recipients per block. A divisor of the accept path's chunk size, so chunks hold whole
/// blocks.
pub(crate) const RECIPIENT_BLOCK: u32 = 250;

/// The block holding recipient `index` of a message, and its offset in that block.
pub(crate) fn recipient_block(index: u32) -> (u32, usize) {
    (index / RECIPIENT_BLOCK, (index % RECIPIENT_BLOCK) as usize)
}

#[cfg(test)]
mod tests {
    use super::TREES;

    /// `TREES` names every table defined in this file, and nothing else.
    #[test]
    fn every_tree_is_listed() {
        let source = include_str!("tables.rs");
        let mut defined: Vec<&str> = Vec::new();
        for marker in ["Table::new(\"", "KeySet::new(\"", "Cell::new(\""] {
            for (at, _) in source.match_indices(marker) {
                let rest = &source[at + marker.len()..];
                let name = &rest[..rest.find('"').expect("a closing quote")];
                if !defined.contains(&name) {
                    defined.push(name);
                }
            }
        }
        let mut listed = TREES.to_vec();
        defined.sort_unstable();
        listed.sort_unstable();
        assert_eq!(defined, listed);
    }
}
