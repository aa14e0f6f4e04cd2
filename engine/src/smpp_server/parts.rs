//! Concatenated submits: a customer sends a long message as parts (UDH or SAR), each answered
//! on its own. A part that does not complete its message is written to `SMPP_PARTS` before its
//! `submit_sm_resp`, under the message id every part of it is answered with (`<id>-<part>`);
//! the last part makes the one Flit message through the accept path, which deletes the stored
//! parts in the message's own batch. Parts whose message is not complete within
//! `parts_timeout` are given up (nothing was charged for them).
//!
//! Per account, one lock orders the parts, so two parts arriving at once on two binds cannot
//! both miss each other; the state is read from disk at the account's first part after a start.

use std::collections::{BTreeMap, HashMap};

use flit_storage::Batch;

use super::ServerShared;
use super::pdu::{self, SubmitContent};
use super::submit::{Message, is_permanent};
use crate::channel::smpp::coding::{self, Fragment};
use crate::engine::Engine;
use crate::ids::{MessageId, SmppAccountId};
use crate::store::records::{SmppAccountRecord, SmppPart, UnixMillis};
use crate::store::tables;

/// Incomplete messages an account may have waiting at once.
const MAX_PENDING: usize = 10_000;

/// An account's incomplete concatenated messages.
#[derive(Default)]
pub(super) struct Parts {
    loaded: bool,
    pending: HashMap<String, Pending>,
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
    let lock = shared.parts.entry(account.id).or_default().clone();
    let mut parts = lock.lock().await;
    let now = engine.clock().now_millis();
    if !parts.loaded {
        parts
            .load(engine, account.id)
            .map_err(|_| pdu::SYSTEM_ERROR)?;
    }
    parts.expire(engine, account.id, now).await;
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
    if !parts.pending.contains_key(&group) && parts.pending.len() >= MAX_PENDING {
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
    if !complete {
        let part = SmppPart { message, ..part };
        let mut batch = Batch::new();
        tables::SMPP_PARTS.put(&mut batch, &(account.id, part_key(&group, seq)), &part);
        engine
            .store()
            .commit(batch)
            .await
            .map_err(|_| pdu::SYSTEM_ERROR)?;
        pending.parts.insert(seq, part);
        return Ok(format!("{message}-{seq}"));
    }
    let Some(taken) = parts.pending.remove(&group) else {
        return Err(pdu::SYSTEM_ERROR);
    };
    let stored: Vec<(SmppAccountId, String)> = taken
        .parts
        .keys()
        .filter(|k| **k != seq)
        .map(|k| (account.id, part_key(&group, *k)))
        .collect();
    let mut all = taken.parts.clone();
    all.insert(seq, part);
    let first = all.values().next().map_or(0, |p| p.data_coding);
    let units: Vec<u8> = all.values().flat_map(|p| p.units.iter().copied()).collect();
    let whole = Message {
        text: coding::decode_units(coding::alphabet(first), &units),
        source: fragment.source,
        destination: fragment.destination,
        destination_ton: submit.destination_ton,
        registered_delivery: all.values().fold(0, |rd, p| rd | p.registered_delivery),
    };
    match whole
        .send(engine, account, message, total, stored.clone())
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
            // Kept for the customer's retry of this part (credits added, backlog drained).
            parts.pending.insert(group, taken);
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
            pending.parts.insert(part.seq, part);
        }
        self.loaded = true;
        Ok(())
    }

    /// Gives up the messages whose parts waited too long.
    async fn expire(&mut self, engine: &Engine, account: SmppAccountId, now: UnixMillis) {
        let timeout = i64::try_from(engine.config().smpp_server.parts_timeout.as_millis())
            .unwrap_or(i64::MAX);
        let expired: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, pending)| now.saturating_sub(pending.first_at) >= timeout)
            .map(|(group, _)| group.clone())
            .collect();
        if expired.is_empty() {
            return;
        }
        let mut batch = Batch::new();
        for group in expired {
            if let Some(pending) = self.pending.remove(&group) {
                for seq in pending.parts.keys() {
                    tables::SMPP_PARTS.delete(&mut batch, &(account, part_key(&group, *seq)));
                }
                metrics::counter!("flit_smpp_server_parts_expired_total").increment(1);
            }
        }
        let _ = engine.store().commit(batch).await;
    }
}
