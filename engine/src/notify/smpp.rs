//! What a tenant's own SMPP software is told (SPEC §14): the receipt of each message it
//! submitted over SMPP asking for one, and the SMS the tenant receives. Like a webhook event,
//! each is written in the batch of the change that raised it, here as a `deliver_sm` held in
//! its account's outbox (`SMPP_OUTBOX`) until a receiver or transceiver bind of the account
//! answers it; the SMPP server (`smpp_server/`) delivers them, woken through [`SmppNotify::kick`].

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use dashmap::DashMap;
use flit_storage::{Batch, Store};
use tokio::sync::Notify;

use crate::error::EngineError;
use crate::ids::{MessageId, SmppAccountId, SmppHeldId, TenantId};
use crate::store::records::{
    InboundRecord, RecipientStatus, SmppHeld, SmppHeldKind, SmppOrigin, SmppReceipt, UnixMillis,
};
use crate::store::tables;

/// SMPP 3.4 `message_state` values a receipt carries.
pub(crate) const STATE_DELIVERED: u8 = 2;
pub(crate) const STATE_EXPIRED: u8 = 3;
pub(crate) const STATE_DELETED: u8 = 4;
pub(crate) const STATE_UNDELIVERABLE: u8 = 5;
pub(crate) const STATE_UNKNOWN: u8 = 7;

/// The SMPP side of notifications, shared by its writers (the status writer, inbound SMS, the
/// accept path) and the server that delivers the outbox.
#[derive(Default)]
pub(crate) struct SmppNotify {
    /// Messages whose receipt a customer is waiting for, as on disk in `SMPP_ORIGINS`.
    origins: DashMap<MessageId, SmppOrigin>,
    /// Each tenant's SMPP accounts: who hears of the SMS it receives.
    accounts: DashMap<TenantId, Arc<[SmppAccountId]>>,
    /// `deliver_sm` held and not yet answered by a customer (the outbox's depth).
    depth: AtomicI64,
    /// Wakes the delivery of an account whose outbox grew.
    wakers: DashMap<SmppAccountId, Arc<Notify>>,
}

impl SmppNotify {
    /// Reads what a previous run left: the receipts awaited, the accounts, the outbox's depth.
    pub(crate) fn load(&self, store: &Store) -> Result<(), EngineError> {
        for account in tables::SMPP_ACCOUNTS.values(store, &())? {
            self.account_added(account.tenant, account.id);
        }
        // An origin whose account was deleted has nobody to tell.
        for origin in tables::SMPP_ORIGINS.values(store, &())? {
            if self.has_account(origin.tenant, origin.account) {
                self.origins.insert(origin.message, origin);
            }
        }
        // Only what a live account holds counts (rows an account left are never delivered).
        let mut held = 0;
        for account in self.all_accounts() {
            held += tables::SMPP_OUTBOX.count(store, &account)?;
        }
        self.depth.store(held as i64, Ordering::Relaxed);
        Ok(())
    }

    fn has_account(&self, tenant: TenantId, account: SmppAccountId) -> bool {
        self.accounts
            .get(&tenant)
            .is_some_and(|list| list.contains(&account))
    }

    pub(crate) fn has_accounts(&self, tenant: TenantId) -> bool {
        self.accounts
            .get(&tenant)
            .is_some_and(|list| !list.is_empty())
    }

    pub(crate) fn account_added(&self, tenant: TenantId, account: SmppAccountId) {
        let mut list: Vec<SmppAccountId> = self
            .accounts
            .get(&tenant)
            .map(|list| list.iter().copied().filter(|a| *a != account).collect())
            .unwrap_or_default();
        list.push(account);
        self.accounts.insert(tenant, list.into());
    }

    /// The account is gone: nothing more is written for it (its outbox is deleted by the
    /// caller, which counts what it held as `delivered`).
    pub(crate) fn account_removed(&self, tenant: TenantId, account: SmppAccountId) {
        if let Some(mut list) = self.accounts.get_mut(&tenant) {
            *list = list.iter().copied().filter(|a| *a != account).collect();
        }
        self.origins.retain(|_, origin| origin.account != account);
        self.wakers.remove(&account);
    }

    /// Every account, of every tenant.
    pub(crate) fn all_accounts(&self) -> Vec<SmppAccountId> {
        self.accounts
            .iter()
            .flat_map(|list| list.value().iter().copied().collect::<Vec<_>>())
            .collect()
    }

    /// Messages whose receipt was asked for before `cutoff` and never came: each submit is
    /// told UNKNOWN in `batch`, and the origin goes.
    pub(crate) fn expire_origins(
        &self,
        batch: &mut Batch,
        cutoff: UnixMillis,
        now: UnixMillis,
        kicks: &mut HashSet<SmppAccountId>,
    ) {
        let stale: Vec<MessageId> = self
            .origins
            .iter()
            .filter(|origin| origin.submitted_at < cutoff)
            .map(|origin| *origin.key())
            .collect();
        for message in stale {
            let Some((_, origin)) = self.origins.remove(&message) else {
                continue;
            };
            tables::SMPP_ORIGINS.delete(batch, &message);
            for id in submit_ids(message, origin.parts) {
                let receipt = SmppReceipt {
                    id,
                    source: origin.destination.clone(),
                    destination: origin.source.clone(),
                    message_state: STATE_UNKNOWN,
                    error: 0,
                    submitted_at: origin.submitted_at,
                    done_at: now,
                    text_start: origin.text_start.clone(),
                };
                self.hold(batch, origin.account, SmppHeldKind::Receipt(receipt));
            }
            kicks.insert(origin.account);
        }
    }

    /// A message submitted over SMPP asking for a receipt is durable (with its origin).
    pub(crate) fn awaiting(&self, message: MessageId, origin: SmppOrigin) {
        self.origins.insert(message, origin);
    }

    /// A recipient of `message` reached `status`: if it was submitted over SMPP asking for this
    /// receipt, the receipt of each of its submits goes into its account's outbox in `batch`,
    /// and its origin is deleted there. Not final states are ignored.
    pub(crate) fn record_final(
        &self,
        batch: &mut Batch,
        message: MessageId,
        status: RecipientStatus,
        error: Option<&str>,
        now: UnixMillis,
        kicks: &mut HashSet<SmppAccountId>,
    ) {
        let message_state = match status {
            RecipientStatus::Pending | RecipientStatus::Sent => return,
            RecipientStatus::Delivered => STATE_DELIVERED,
            RecipientStatus::Cancelled => STATE_DELETED,
            RecipientStatus::Failed
                if error.is_some_and(|e| e.to_ascii_lowercase().contains("expire")) =>
            {
                STATE_EXPIRED
            }
            RecipientStatus::Failed => STATE_UNDELIVERABLE,
        };
        let Some((_, origin)) = self.origins.remove(&message) else {
            return;
        };
        tables::SMPP_ORIGINS.delete(batch, &message);
        if !origin.wants_receipt(message_state == STATE_DELIVERED) {
            return;
        }
        let error = match message_state {
            STATE_DELIVERED => 0,
            _ => error_code(error),
        };
        for id in submit_ids(message, origin.parts) {
            let receipt = SmppReceipt {
                id,
                source: origin.destination.clone(),
                destination: origin.source.clone(),
                message_state,
                error,
                submitted_at: origin.submitted_at,
                done_at: now,
                text_start: origin.text_start.clone(),
            };
            self.hold(batch, origin.account, SmppHeldKind::Receipt(receipt));
        }
        kicks.insert(origin.account);
    }

    /// An SMS the tenant received goes to each of its SMPP accounts, in `batch`.
    pub(crate) fn record_inbound(
        &self,
        batch: &mut Batch,
        record: &InboundRecord,
        kicks: &mut HashSet<SmppAccountId>,
    ) {
        let Some(accounts) = self.accounts.get(&record.tenant).map(|list| list.clone()) else {
            return;
        };
        let held = SmppHeldKind::Inbound {
            from: record.from.clone(),
            to: record.to.clone(),
            text: record.text.clone(),
            received_at: record.received_at,
        };
        for account in accounts.iter() {
            self.hold(batch, *account, held.clone());
            kicks.insert(*account);
        }
    }

    fn hold(&self, batch: &mut Batch, account: SmppAccountId, what: SmppHeldKind) {
        let held = SmppHeld {
            id: SmppHeldId::new(),
            account,
            what,
        };
        tables::SMPP_OUTBOX.put(batch, &(account, held.id), &held);
        self.depth.fetch_add(1, Ordering::Relaxed);
    }

    /// `count` held `deliver_sm` were answered and deleted.
    pub(crate) fn delivered(&self, count: usize) {
        self.depth.fetch_sub(count as i64, Ordering::Relaxed);
    }

    /// Wakes the delivery of `accounts` (after the batch that gave them work is durable).
    pub(crate) fn kick(&self, accounts: impl IntoIterator<Item = SmppAccountId>) {
        for account in accounts {
            if let Some(waker) = self.wakers.get(&account) {
                waker.notify_one();
            }
        }
    }

    /// What wakes the delivery of `account`.
    pub(crate) fn waker(&self, account: SmppAccountId) -> Arc<Notify> {
        self.wakers.entry(account).or_default().clone()
    }

    /// Sets the outbox gauge (sampled when `/metrics` is scraped).
    /// `deliver_sm` held for customers and not yet answered.
    pub(crate) fn held(&self) -> u64 {
        self.depth.load(Ordering::Relaxed).max(0) as u64
    }

    pub(crate) fn record_gauges(&self) {
        metrics::gauge!("flit_smpp_server_held")
            .set(self.depth.load(Ordering::Relaxed).max(0) as f64);
    }
}

/// The ids a message's submits were answered with: its own for one submit, `<id>-<part>`
/// for each part of a concatenated one.
pub(crate) fn submit_ids(message: MessageId, parts: u8) -> Vec<String> {
    if parts <= 1 {
        return vec![message.to_string()];
    }
    (1..=parts)
        .map(|part| format!("{message}-{part}"))
        .collect()
}

/// The receipt's three-digit `err:`: the carrier's code when the failure names a number, else 1.
fn error_code(error: Option<&str>) -> u16 {
    error
        .and_then(|error| {
            let digits: String = error
                .rsplit(|c: char| !c.is_ascii_hexdigit() && c != 'x')
                .find(|word| !word.is_empty())?
                .to_string();
            match digits.strip_prefix("0x") {
                Some(hex) => u16::from_str_radix(hex, 16).ok(),
                None => digits.parse().ok(),
            }
        })
        .filter(|code| (1..=999).contains(code))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_concatenated_submit_has_an_id_per_part() {
        let message = MessageId::new();
        assert_eq!(submit_ids(message, 1), vec![message.to_string()]);
        assert_eq!(
            submit_ids(message, 3),
            vec![
                format!("{message}-1"),
                format!("{message}-2"),
                format!("{message}-3")
            ]
        );
    }

    #[test]
    fn the_error_code_is_the_carriers_when_it_gives_one() {
        assert_eq!(error_code(Some("SMSC status 0x0B")), 11);
        assert_eq!(error_code(Some("err:034")), 34);
        assert_eq!(error_code(Some("no route")), 1);
        assert_eq!(error_code(None), 1);
    }
}
