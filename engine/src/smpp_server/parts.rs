//! Concatenated submits: a customer sends a long message as parts (UDH or SAR), each answered
//! on its own. A part that does not complete its message is written to `SMPP_PARTS` before its
//! `submit_sm_resp`, under the message id every part of it is answered with (`<id>-<part>`);
//! the last part makes the one Flit message through the accept path, which deletes the stored
//! parts in the message's own batch. Parts whose message is not complete within
//! `parts_timeout` are given up (nothing was charged for them): here when the account's next
//! part comes, and by `Engine::expire_smpp_held` now and then.
//!
//! Per account, one lock orders the decisions (which parts a message has, whether this one
//! completes it), so two parts arriving at once on two binds cannot both miss each other; it is
//! not held while a part is written or a message accepted. The state is read from disk at the
//! account's first part after a start.

use std::collections::{BTreeMap, HashMap};

use flit_storage::Batch;

use super::ServerShared;
use super::pdu::{self, SubmitContent};
use super::submit::{Message, is_permanent};
use crate::channel::smpp::coding::{self, Fragment};
use crate::engine::{Engine, read};
use crate::ids::{MessageId, SmppAccountId};
use crate::store::records::{SmppAccountRecord, SmppPart, UnixMillis};
use crate::store::tables;

/// Parts an account may have waiting for the rest of their messages at once.
const MAX_WAITING_PARTS: usize = 20_000;

/// An account's incomplete concatenated messages.
#[derive(Default)]
pub(super) struct Parts {
    loaded: bool,
    pending: HashMap<String, Pending>,
    /// Parts held in `pending`, of every message.
    count: usize,
}

struct Pending {
    message: MessageId,
    parts: BTreeMap<u8, SmppPart>,
    first_at: UnixMillis,
}

/// The key of a message's parts: who sent it to whom, its reference and part count.
fn group_key(part: &SmppPart) -> String {
    format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}",
        part.source, part.destination, part.reference, part.total
    )
}

fn part_key(group: &str, seq: u8) -> String {
    format!("{group}\u{1f}{seq:03}")
}

/// What one part leads to, decided under the lock.
enum Step {
    /// Not the last: store it, then answer.
    Store(SmppPart),
    /// The last: the message's parts, taken out of the waiting ones.
    Complete(Pending),
}

/// Takes one part: the id to answer it with once it is stored, or once its message is
/// accepted when it is the last.
pub(super) async fn push(
    engine: &Engine,
    shared: &ServerShared,
    account: &SmppAccountRecord,
    submit: &SubmitContent,
    fragment: Fragment,
    (reference, total, seq): (u16, u8, u8),
) -> Result<String, u32> {
    let max_parts = engine
        .entry(account.tenant)
        .map_or(0, |entry| read(&entry.record).max_parts);
    if u32::from(total) > max_parts {
        // Refused at its first part: the message could never be sent whole.
        return Err(pdu::INVALID_MESSAGE_LENGTH);
    }
    let now = engine.clock().now_millis();
    let part = SmppPart {
        message: MessageId::new(),
        source: fragment.source.clone(),
        destination: fragment.destination.clone(),
        reference,
        total,
        seq,
        data_coding: submit.content.data_coding,
        registered_delivery: submit.registered_delivery,
        units: fragment.units,
        received_at: now,
    };
    let group = group_key(&part);
    let timeout = super::millis(engine.config().smpp_server.parts_timeout);
    let lock = shared.parts.entry(account.id).or_default().clone();
    let mut obsolete = Batch::new();
    let step = {
        let mut parts = lock.lock().await;
        if !parts.loaded {
            parts
                .load(engine, account.id)
                .map_err(|_| pdu::SYSTEM_ERROR)?;
        }
        parts.expire(account.id, now.saturating_sub(timeout), &mut obsolete);
        // The same part again with other content: the reference was reused for a new message
        // while the old one never completed, so the old one is given up.
        let stale = parts.pending.get(&group).is_some_and(|pending| {
            pending
                .parts
                .get(&seq)
                .is_some_and(|held| held.units != part.units)
        });
        if stale {
            parts.drop_group(account.id, &group, &mut obsolete);
        }
        if !parts.pending.contains_key(&group) && parts.count >= MAX_WAITING_PARTS {
            return Err(pdu::MESSAGE_QUEUE_FULL);
        }
        let pending = parts
            .pending
            .entry(group.clone())
            .or_insert_with(|| Pending {
                message: part.message,
                parts: BTreeMap::new(),
                first_at: now,
            });
        let message = pending.message;
        let complete = (1..=total).all(|k| k == seq || pending.parts.contains_key(&k));
        if complete {
            let mut taken = parts.pending.remove(&group).ok_or(pdu::SYSTEM_ERROR)?;
            parts.count -= taken.parts.len();
            taken.parts.insert(seq, SmppPart { message, ..part });
            Step::Complete(taken)
        } else {
            let part = SmppPart { message, ..part };
            if pending.parts.insert(seq, part.clone()).is_none() {
                parts.count += 1;
            }
            Step::Store(part)
        }
    };
    match step {
        Step::Store(part) => {
            let message = part.message;
            tables::SMPP_PARTS.put(&mut obsolete, &(account.id, part_key(&group, seq)), &part);
            if engine.store().commit(obsolete).await.is_err() {
                lock.lock().await.forget_part(&group, seq);
                return Err(pdu::SYSTEM_ERROR);
            }
            Ok(format!("{message}-{seq}"))
        }
        Step::Complete(taken) => {
            if !obsolete.is_empty() {
                let _ = engine.store().commit(obsolete).await;
            }
            complete(engine, account, submit, &group, seq, taken, &lock).await
        }
    }
}

/// Sends the message the last part completed; on a refusal the parts are kept for the
/// customer's retry of this part, unless it would be refused again.
async fn complete(
    engine: &Engine,
    account: &SmppAccountRecord,
    submit: &SubmitContent,
    group: &str,
    seq: u8,
    taken: Pending,
    lock: &tokio::sync::Mutex<Parts>,
) -> Result<String, u32> {
    let stored: Vec<(SmppAccountId, String)> = taken
        .parts
        .keys()
        .filter(|k| **k != seq)
        .map(|k| (account.id, part_key(group, *k)))
        .collect();
    let (first, last) = match (taken.parts.values().next(), taken.parts.get(&seq)) {
        (Some(first), Some(last)) => (first, last),
        _ => return Err(pdu::SYSTEM_ERROR),
    };
    let units: Vec<u8> = taken
        .parts
        .values()
        .flat_map(|p| p.units.iter().copied())
        .collect();
    let whole = Message {
        text: coding::decode_units(coding::alphabet(first.data_coding), &units),
        source: last.source.clone(),
        destination: last.destination.clone(),
        destination_ton: submit.destination_ton,
        registered_delivery: taken
            .parts
            .values()
            .fold(0, |rd, p| rd | p.registered_delivery),
    };
    let total = last.total;
    match whole
        .send(engine, account, taken.message, total, stored.clone())
        .await
    {
        Ok(id) => Ok(format!("{id}-{seq}")),
        Err(status) if is_permanent(status) => {
            let mut batch = Batch::new();
            for key in &stored {
                tables::SMPP_PARTS.delete(&mut batch, key);
            }
            let _ = engine.store().commit(batch).await;
            Err(status)
        }
        Err(status) => {
            // Kept for the customer's retry of this part (credits added, backlog drained),
            // without this part, which was never stored.
            let mut parts = lock.lock().await;
            if !parts.pending.contains_key(group) {
                let mut taken = taken;
                taken.parts.remove(&seq);
                parts.count += taken.parts.len();
                parts.pending.insert(group.to_string(), taken);
            }
            Err(status)
        }
    }
}

impl Parts {
    /// What a previous run stored for the account.
    fn load(
        &mut self,
        engine: &Engine,
        account: SmppAccountId,
    ) -> Result<(), flit_storage::StorageError> {
        for part in tables::SMPP_PARTS.values(engine.store(), &account)? {
            let group = group_key(&part);
            let pending = self.pending.entry(group).or_insert_with(|| Pending {
                message: part.message,
                parts: BTreeMap::new(),
                first_at: part.received_at,
            });
            pending.first_at = pending.first_at.min(part.received_at);
            if pending.parts.insert(part.seq, part).is_none() {
                self.count += 1;
            }
        }
        self.loaded = true;
        Ok(())
    }

    /// Gives up the messages whose first part came before `cutoff`, their rows deleted in
    /// `batch`.
    fn expire(&mut self, account: SmppAccountId, cutoff: UnixMillis, batch: &mut Batch) {
        let expired: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, pending)| pending.first_at < cutoff)
            .map(|(group, _)| group.clone())
            .collect();
        for group in expired {
            self.drop_group(account, &group, batch);
            metrics::counter!("flit_smpp_server_parts_expired_total").increment(1);
        }
    }

    fn drop_group(&mut self, account: SmppAccountId, group: &str, batch: &mut Batch) {
        if let Some(pending) = self.pending.remove(group) {
            self.count -= pending.parts.len();
            for seq in pending.parts.keys() {
                tables::SMPP_PARTS.delete(batch, &(account, part_key(group, *seq)));
            }
        }
    }

    /// A part whose write failed is not held.
    fn forget_part(&mut self, group: &str, seq: u8) {
        if let Some(pending) = self.pending.get_mut(group)
            && pending.parts.remove(&seq).is_some()
        {
            self.count -= 1;
        }
    }

    /// Forgets the messages whose first part came before `cutoff` (their rows are deleted by
    /// the caller).
    pub(super) fn forget_older(&mut self, cutoff: UnixMillis) {
        let before = self.pending.len();
        self.pending.retain(|_, pending| pending.first_at >= cutoff);
        if self.pending.len() != before {
            self.count = self.pending.values().map(|p| p.parts.len()).sum();
        }
    }
}
