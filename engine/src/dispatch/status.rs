//! The status writer: the single writer of recipient and message states once a message is
//! accepted. Carrier answers and receipts arrive as `StatusEvent`s on a lock-free queue; each
//! drain applies them to cached records and writes the result as one batch.
//!
//! A recipient moves PENDING → SENT when a carrier has accepted all its parts, and becomes final
//! when every part is accounted for: DELIVERED when every part's receipt says delivered, FAILED
//! when a part is refused for good, its retries run out, its validity expires, or a receipt says
//! it was not delivered. Parts no carrier ever accepted are refunded: the recipient turns FAILED
//! in the same batch that records the credits owed (`refunds_due`), and the tenant actor pays
//! them with a REFUND ledger entry in the batch that deletes the debt, so a crash between the
//! two only delays the refund (startup pays what is still owed).
//!
//! Restart policy: restarted by the root supervisor at once. Its caches are rebuilt from
//! storage on demand; the events it had not drained are still in the queue.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flit_storage::{Batch, StorageError};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::{DispatchShared, Job};
use crate::channel::smpp::{InboundSms, Receipt, alternate_smsc_ids, normalise_smsc_id};
use crate::ids::{BindId, InboundId, MessageId, TenantId};
use crate::store::records::{
    HeldReceipt, InboundRecord, MessageRecord, RecipientRecord, RecipientStatus, SmscMapping,
    TransactionKind, now_millis,
};
use crate::store::tables::{self, RefundDue};
use crate::tenants::actor::{Credit, TenantMsg};

/// Submissions of one recipient before a temporary failure becomes final.
pub const MAX_ATTEMPTS: u16 = 8;
/// Events applied per batch.
const DRAIN_LIMIT: usize = 8192;
/// A receipt whose SMSC id is not known yet waits this long for its `submit_sm_resp`.
const HOLD_RECEIPTS_FOR: Duration = Duration::from_secs(600);
/// After waiting this long in vain, a held receipt's id is also tried in the other base.
const ALTERNATE_AFTER: Duration = Duration::from_secs(3);
/// Cached records of recipients still waiting for answers or receipts, and of their messages,
/// beyond which the caches are dropped (every record in them is already written): a carrier
/// that never sends receipts must not grow the writer's memory without bound.
const RECIPIENT_CACHE_CAP: usize = 200_000;
const MESSAGE_CACHE_CAP: usize = 50_000;

pub enum StatusEvent {
    Accepted {
        job: Job,
        bind: BindId,
        /// The bind's number for this answer (`BindShared::record_answers`).
        answer: u64,
        part: u8,
        parts: u8,
        smsc_id: String,
    },
    Rejected {
        job: Job,
        bind: BindId,
        answer: u64,
        parts: u8,
        command_status: u32,
        temporary: bool,
    },
    Receipt {
        bind: BindId,
        /// The bind's number for this delivery (`BindShared::record_deliveries`).
        delivery: u64,
        receipt: Receipt,
    },
    Inbound {
        bind: BindId,
        delivery: u64,
        sms: InboundSms,
    },
    /// An answer for no job this bind still holds (a late or repeated one): nothing to
    /// apply, but its window is freed in order with the others.
    Answered { bind: BindId, answer: u64 },
    /// The job's validity period ended before a carrier took it.
    Expired { job: Job },
}

pub enum StatusMsg {
    Kick,
    /// Periodic: retry held receipts (under their other-base spellings once they waited).
    Tick,
}

pub struct StatusActor;

type RecipientKey = (MessageId, u32);
/// Receipts waiting for the answer that names their SMSC id, by bind and normalised id, with
/// when they began to wait.
type HeldReceipts = HashMap<(BindId, String), (Receipt, Instant)>;
/// A message and the number of one of its recipient blocks (`tables::RECIPIENTS`' key).
type BlockKey = (MessageId, u32);

pub struct StatusState {
    shared: Arc<DispatchShared>,
    /// Recipient blocks with a recipient still waiting for an answer or a receipt.
    blocks: HashMap<BlockKey, Vec<RecipientRecord>>,
    messages: HashMap<MessageId, MessageRecord>,
    attempts: HashMap<RecipientKey, Attempt>,
    mappings: HashMap<(BindId, String), SmscMapping>,
    held: HeldReceipts,
    /// The last drain's batch, committing in the background (which then frees the binds'
    /// window for the answers it recorded). The next drain waits for it before it reads
    /// anything from the store, so a record dropped from the caches is never read back older
    /// than what this writer last wrote.
    unsettled: Option<tokio::task::JoinHandle<Result<(), StorageError>>>,
}

/// One submission of one recipient: how its parts were answered.
#[derive(Default)]
struct Attempt {
    answered: u8,
    permanent: Option<u32>,
    temporary: bool,
    bind: Option<BindId>,
}

/// What one drain changes.
#[derive(Default)]
struct Drain {
    batch: Batch,
    /// Blocks whose records changed: each is written once, however many of its records did.
    blocks: HashSet<BlockKey>,
    messages: HashSet<MessageId>,
    refunds: HashMap<(TenantId, MessageId), Owed>,
    /// Per bind, the number of the last answer and the last delivery this drain applied.
    answers: HashMap<BindId, u64>,
    deliveries: HashMap<BindId, u64>,
}

impl Drain {
    fn answered(&mut self, bind: BindId, answer: u64) {
        let last = self.answers.entry(bind).or_default();
        *last = (*last).max(answer);
    }

    fn delivered(&mut self, bind: BindId, delivery: u64) {
        let last = self.deliveries.entry(bind).or_default();
        *last = (*last).max(delivery);
    }

    fn is_empty(&self) -> bool {
        self.batch.is_empty()
            && self.blocks.is_empty()
            && self.messages.is_empty()
            && self.refunds.is_empty()
    }
}

/// Credits owed back for one message: the parts they pay for and the debts they settle.
#[derive(Default)]
struct Owed {
    credits: i64,
    parts: u64,
    debts: Vec<RefundDue>,
}

impl Actor for StatusActor {
    type Msg = StatusMsg;
    type State = StatusState;
    type Arguments = Arc<DispatchShared>;

    async fn pre_start(
        &self,
        _myself: ActorRef<StatusMsg>,
        shared: Arc<DispatchShared>,
    ) -> Result<StatusState, ActorProcessingErr> {
        // Batches of a previous incarnation must be on disk before records are re-read.
        shared.store.commit(Batch::new()).await?;
        let held = load_held(&shared)?;
        Ok(StatusState {
            shared,
            blocks: HashMap::new(),
            messages: HashMap::new(),
            attempts: HashMap::new(),
            mappings: HashMap::new(),
            held,
            unsettled: None,
        })
    }

    async fn post_start(
        &self,
        _myself: ActorRef<StatusMsg>,
        state: &mut StatusState,
    ) -> Result<(), ActorProcessingErr> {
        state.drain(true).await
    }

    async fn handle(
        &self,
        _myself: ActorRef<StatusMsg>,
        message: StatusMsg,
        state: &mut StatusState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            StatusMsg::Kick => state.drain(false).await,
            StatusMsg::Tick => state.drain(true).await,
        }
    }
}

impl StatusState {
    /// Applies queued events in batches; `upkeep` (the periodic tick) also retries held
    /// receipts, expires those held in vain and bounds the caches.
    async fn drain(&mut self, upkeep: bool) -> Result<(), ActorProcessingErr> {
        if upkeep {
            self.bound_caches().await?;
        }
        let mut first = upkeep;
        loop {
            self.settle().await?;
            self.shared.status_events.clear_kick();
            let mut drain = Drain::default();
            if std::mem::take(&mut first) {
                self.retry_held(&mut drain)?;
                self.expire_held(&mut drain);
            }
            let mut handled = 0;
            while handled < DRAIN_LIMIT {
                let Some(event) = self.shared.status_events.pop() else {
                    break;
                };
                handled += 1;
                self.apply(event, &mut drain)?;
            }
            if handled == 0 && drain.is_empty() {
                return Ok(());
            }
            self.flush(drain).await?;
            if handled < DRAIN_LIMIT {
                return Ok(());
            }
        }
    }

    fn apply(&mut self, event: StatusEvent, drain: &mut Drain) -> Result<(), ActorProcessingErr> {
        match event {
            StatusEvent::Accepted {
                job,
                bind,
                answer,
                part,
                parts,
                smsc_id,
            } => {
                drain.answered(bind, answer);
                self.accepted(job, bind, part, parts, smsc_id, drain)
            }
            StatusEvent::Rejected {
                job,
                bind,
                answer,
                parts,
                command_status,
                temporary,
            } => {
                drain.answered(bind, answer);
                let attempt = self.attempts.entry((job.message(), job.index)).or_default();
                attempt.bind = Some(bind);
                if temporary {
                    attempt.temporary = true;
                } else {
                    attempt.permanent = Some(command_status);
                }
                self.answered(job, parts, drain)
            }
            StatusEvent::Answered { bind, answer } => {
                drain.answered(bind, answer);
                Ok(())
            }
            StatusEvent::Receipt {
                bind,
                delivery,
                receipt,
            } => {
                drain.delivered(bind, delivery);
                self.receipt(bind, receipt, false, drain)?;
                Ok(())
            }
            StatusEvent::Inbound {
                bind,
                delivery,
                sms,
            } => {
                drain.delivered(bind, delivery);
                self.inbound(bind, sms, drain);
                Ok(())
            }
            StatusEvent::Expired { job } => {
                if let Some(mut recipient) = self.recipient(job.recipient_ref())?
                    && !is_final(recipient.status)
                {
                    self.fail(
                        job.recipient_ref(),
                        &mut recipient,
                        "validity period expired",
                        drain,
                    )?;
                    self.store_recipient(job.recipient_ref(), recipient, drain)?;
                }
                Ok(())
            }
        }
    }

    fn accepted(
        &mut self,
        job: Job,
        bind: BindId,
        part: u8,
        parts: u8,
        smsc_id: String,
        drain: &mut Drain,
    ) -> Result<(), ActorProcessingErr> {
        let bits = part_bits(part, parts, job.parts);
        if let Some(mut recipient) = self.recipient(job.recipient_ref())?
            && !is_final(recipient.status)
        {
            recipient.accepted_parts |= bits;
            // SENT once a carrier holds every part: a recipient left with some parts accepted
            // stays PENDING, so a restart sends it again rather than leaving it stuck.
            let all_parts = full_mask(job.parts);
            if recipient.status == RecipientStatus::Pending
                && recipient.accepted_parts & all_parts == all_parts
            {
                let now = now_millis();
                recipient.sent_at = Some(now);
                self.set_status(
                    job.recipient_ref(),
                    &mut recipient,
                    RecipientStatus::Sent,
                    drain,
                )?;
                if let Some(message) = self.messages.get_mut(&job.message()) {
                    message.sent_at.get_or_insert(now);
                }
            }
            self.store_recipient(job.recipient_ref(), recipient, drain)?;
            let keys = vec![normalise_smsc_id(&smsc_id)];
            let mapping = SmscMapping {
                tenant: job.tenant(),
                message: job.message(),
                index: job.index,
                part_bits: bits,
                keys: keys.clone(),
            };
            for key in &keys {
                tables::SMSC_IDS.put(&mut drain.batch, &(bind, key.clone()), &mapping);
                self.mappings.insert((bind, key.clone()), mapping.clone());
            }
            // A receipt that raced ahead of this answer.
            let early = keys.iter().find_map(|key| {
                let receipt = self.held.remove(&(bind, key.clone()))?;
                tables::HELD_RECEIPTS.delete(&mut drain.batch, &(bind, key.clone()));
                Some(receipt)
            });
            if let Some((receipt, _)) = early {
                self.receipt(bind, receipt, false, drain)?;
            }
        }
        self.attempts
            .entry((job.message(), job.index))
            .or_default()
            .bind = Some(bind);
        self.answered(job, parts, drain)
    }

    /// One part of the current attempt is answered; decide when all are.
    fn answered(
        &mut self,
        job: Job,
        parts: u8,
        drain: &mut Drain,
    ) -> Result<(), ActorProcessingErr> {
        let key = (job.message(), job.index);
        let attempt = self.attempts.entry(key).or_default();
        attempt.answered = attempt.answered.saturating_add(1);
        if attempt.answered < parts.max(1) {
            return Ok(());
        }
        let Some(attempt) = self.attempts.remove(&key) else {
            return Ok(());
        };
        let Some(mut recipient) = self.recipient(job.recipient_ref())? else {
            return Ok(());
        };
        if is_final(recipient.status) {
            return Ok(());
        }
        recipient.attempts = recipient.attempts.saturating_add(1);
        let all_parts = full_mask(job.parts);
        if let Some(code) = attempt.permanent {
            self.fail(
                job.recipient_ref(),
                &mut recipient,
                &format!("SMPP error {code:#010x}"),
                drain,
            )?;
        } else if attempt.temporary && recipient.accepted_parts & all_parts != all_parts {
            let expired = job
                .validity_until()
                .is_some_and(|until| now_millis() >= until);
            if expired {
                self.fail(
                    job.recipient_ref(),
                    &mut recipient,
                    "validity period expired",
                    drain,
                )?;
            } else if recipient.attempts >= MAX_ATTEMPTS {
                let reason = format!("no carrier took it after {} attempts", recipient.attempts);
                self.fail(job.recipient_ref(), &mut recipient, &reason, drain)?;
            } else {
                let mut retry = job.clone();
                retry.attempt = recipient.attempts;
                retry.set_avoid(attempt.bind);
                self.shared
                    .enqueue_later(retry, backoff(recipient.attempts));
            }
        }
        self.store_recipient(job.recipient_ref(), recipient, drain)?;
        Ok(())
    }

    /// Retries receipts held for their mapping; those that waited `ALTERNATE_AFTER` are also
    /// tried under their id's other-base spellings.
    fn retry_held(&mut self, drain: &mut Drain) -> Result<(), ActorProcessingErr> {
        let now = Instant::now();
        let due: Vec<(BindId, String)> = self
            .held
            .iter()
            .filter(|(_, (_, since))| now.duration_since(*since) >= ALTERNATE_AFTER)
            .map(|(key, _)| key.clone())
            .collect();
        for key in due {
            let Some((receipt, since)) = self.held.remove(&key) else {
                continue;
            };
            if self.receipt(key.0, receipt.clone(), true, drain)? {
                tables::HELD_RECEIPTS.delete(&mut drain.batch, &key);
            } else {
                // Still unknown: keep waiting (until HOLD_RECEIPTS_FOR).
                self.held.insert(key, (receipt, since));
            }
        }
        Ok(())
    }

    /// Applies a receipt; `Ok(false)` when its id is not known (yet). A fresh receipt is held
    /// for its mapping; `alternates` also tries the id's other-base spellings.
    fn receipt(
        &mut self,
        bind: BindId,
        receipt: Receipt,
        alternates: bool,
        drain: &mut Drain,
    ) -> Result<bool, ActorProcessingErr> {
        if !receipt.state.is_final() {
            return Ok(true);
        }
        let canonical = normalise_smsc_id(&receipt.smsc_message_id);
        let mut keys = vec![canonical.clone()];
        if alternates {
            keys.extend(alternate_smsc_ids(&receipt.smsc_message_id));
        }
        let mut found = None;
        for key in &keys {
            if let Some(mapping) = self.mappings.get(&(bind, key.clone())) {
                found = Some(mapping.clone());
                break;
            }
            if let Some(mapping) = tables::SMSC_IDS.get(&self.shared.store, &(bind, key.clone()))? {
                found = Some(mapping);
                break;
            }
        }
        let Some(mapping) = found else {
            if !alternates {
                // The submit_sm_resp may still be on its way: hold the receipt for it, on disk
                // too (the SMSC is told it arrived once this drain is recorded).
                let held = HeldReceipt {
                    receipt,
                    held_at: now_millis(),
                };
                tables::HELD_RECEIPTS.put(&mut drain.batch, &(bind, canonical.clone()), &held);
                self.held
                    .insert((bind, canonical), (held.receipt, Instant::now()));
                metrics::counter!("flit_receipts_total", "result" => "held").increment(1);
            }
            return Ok(false);
        };
        for key in &mapping.keys {
            self.mappings.remove(&(bind, key.clone()));
            tables::SMSC_IDS.delete(&mut drain.batch, &(bind, key.clone()));
        }
        let job_key = RecipientRef {
            tenant: mapping.tenant,
            message: mapping.message,
            index: mapping.index,
        };
        let Some(mut recipient) = self.recipient(job_key)? else {
            metrics::counter!("flit_receipts_total", "result" => "unmatched").increment(1);
            return Ok(true);
        };
        if is_final(recipient.status) {
            // Already settled (failed by validity, say): the receipt changes nothing.
            metrics::counter!("flit_receipts_total", "result" => "unmatched").increment(1);
            return Ok(true);
        }
        if receipt.state.is_success() {
            recipient.delivered_parts |= mapping.part_bits;
        } else {
            recipient.failed_parts |= mapping.part_bits;
            recipient.error = Some(format!(
                "{:?}{}",
                receipt.state,
                receipt
                    .error
                    .as_deref()
                    .map(|err| format!(" err:{err}"))
                    .unwrap_or_default()
            ));
        }
        metrics::counter!("flit_receipts_total", "result" => if receipt.state.is_success() { "delivered" } else { "failed" })
            .increment(1);
        let all_parts = full_mask(recipient.parts);
        let reported = recipient.delivered_parts | recipient.failed_parts;
        if recipient.accepted_parts & all_parts == all_parts && reported & all_parts == all_parts {
            recipient.done_at = Some(now_millis());
            let status = if recipient.failed_parts & all_parts == 0 {
                RecipientStatus::Delivered
            } else {
                RecipientStatus::Failed
            };
            self.set_status(job_key, &mut recipient, status, drain)?;
        }
        self.store_recipient(job_key, recipient, drain)?;
        Ok(true)
    }

    /// Stores an inbound SMS for the tenant that owns its bind, or else its destination number.
    fn inbound(&mut self, bind: BindId, sms: InboundSms, drain: &mut Drain) {
        let owner = self
            .shared
            .binds
            .get(&bind)
            .and_then(|bind| bind.owner)
            .or_else(|| {
                let digits = sms.destination.trim().trim_start_matches('+');
                self.shared.numbers.get(digits).map(|tenant| *tenant)
            });
        let Some(tenant) = owner else {
            tracing::warn!(%bind, to = %sms.destination, "inbound SMS for a number no tenant owns; dropped");
            metrics::counter!("flit_inbound_messages_total", "result" => "unowned").increment(1);
            return;
        };
        let record = InboundRecord {
            id: InboundId::new(),
            tenant,
            from: sms.source,
            to: sms.destination,
            text: sms.text,
            parts: sms.parts,
            bind: Some(bind),
            received_at: now_millis(),
        };
        tables::INBOUND.put(&mut drain.batch, &(tenant, record.id), &record);
        metrics::counter!("flit_inbound_messages_total", "result" => "stored").increment(1);
    }

    /// Final failure: FAILED, and the parts never accepted owed back in the same batch.
    fn fail(
        &mut self,
        job: RecipientRef,
        recipient: &mut RecipientRecord,
        error: &str,
        drain: &mut Drain,
    ) -> Result<(), ActorProcessingErr> {
        recipient.error = Some(error.to_string());
        recipient.done_at = Some(now_millis());
        self.set_status(job, recipient, RecipientStatus::Failed, drain)?;
        let owed_parts = recipient.parts_never_accepted();
        let price = self
            .message(job.tenant, job.message)?
            .map(|message| message.price_per_part)
            .unwrap_or(0);
        let amount = crate::accept::credits_for(i64::from(owed_parts), price)?;
        if amount > 0 {
            let key = (job.tenant, job.message, job.index);
            tables::REFUNDS_DUE.put(&mut drain.batch, &key, &amount);
            let owed = drain.refunds.entry((job.tenant, job.message)).or_default();
            owed.credits = owed
                .credits
                .checked_add(amount)
                .ok_or("refund beyond the representable range")?;
            owed.parts += u64::from(owed_parts);
            owed.debts.push(key);
        }
        Ok(())
    }

    fn set_status(
        &mut self,
        job: RecipientRef,
        recipient: &mut RecipientRecord,
        status: RecipientStatus,
        drain: &mut Drain,
    ) -> Result<(), ActorProcessingErr> {
        if recipient.status == status {
            return Ok(());
        }
        if self.message(job.tenant, job.message)?.is_some()
            && let Some(message) = self.messages.get_mut(&job.message)
        {
            message.counts.shift(recipient.status, status);
            drain.messages.insert(job.message);
        }
        recipient.status = status;
        Ok(())
    }

    fn store_recipient(
        &mut self,
        job: RecipientRef,
        recipient: RecipientRecord,
        drain: &mut Drain,
    ) -> Result<(), ActorProcessingErr> {
        let (block, offset) = tables::recipient_block(job.index);
        let Some(records) = self.block(job.message, block)? else {
            return Ok(());
        };
        if let Some(slot) = records.get_mut(offset) {
            *slot = recipient;
            drain.blocks.insert((job.message, block));
        }
        Ok(())
    }

    fn recipient(
        &mut self,
        job: RecipientRef,
    ) -> Result<Option<RecipientRecord>, ActorProcessingErr> {
        let (block, offset) = tables::recipient_block(job.index);
        Ok(self
            .block(job.message, block)?
            .and_then(|records| records.get(offset))
            .cloned())
    }

    /// The cached block, read from the store on first use.
    fn block(
        &mut self,
        message: MessageId,
        block: u32,
    ) -> Result<Option<&mut Vec<RecipientRecord>>, ActorProcessingErr> {
        let key = (message, block);
        if !self.blocks.contains_key(&key) {
            let Some(records) = tables::RECIPIENTS.get(&self.shared.store, &key)? else {
                return Ok(None);
            };
            self.blocks.insert(key, records);
        }
        Ok(self.blocks.get_mut(&key))
    }

    fn message(
        &mut self,
        tenant: TenantId,
        id: MessageId,
    ) -> Result<Option<&MessageRecord>, ActorProcessingErr> {
        if !self.messages.contains_key(&id) {
            let Some(message) = tables::MESSAGES.get(&self.shared.store, &(tenant, id))? else {
                return Ok(None);
            };
            self.messages.insert(id, message);
        }
        Ok(self.messages.get(&id))
    }

    /// Writes what the drain changed, pays refunds, and forgets what is final.
    async fn flush(&mut self, mut drain: Drain) -> Result<(), ActorProcessingErr> {
        for key in &drain.blocks {
            if let Some(records) = self.blocks.get(key) {
                tables::RECIPIENTS.put(&mut drain.batch, key, records);
            }
        }
        for id in &drain.messages {
            if let Some(message) = self.messages.get(id) {
                tables::MESSAGES.put(&mut drain.batch, &(message.tenant, *id), message);
                if message.counts.pending == 0 {
                    tables::DISPATCH.delete(&mut drain.batch, id);
                }
            }
        }
        // Submitted before the refunds, so the debts exist on disk before they are paid.
        // Awaited by the next drain: nothing is acknowledged on it, so events can gather
        // while it commits.
        let ticket = self.shared.store.submit(std::mem::take(&mut drain.batch));
        // Weak: the task must not keep the store open past shutdown.
        let dispatch = Arc::downgrade(&self.shared);
        let answers = std::mem::take(&mut drain.answers);
        let deliveries = std::mem::take(&mut drain.deliveries);
        self.unsettled = Some(tokio::spawn(async move {
            ticket.await?;
            let Some(dispatch) = dispatch.upgrade() else {
                return Ok(());
            };
            for (bind, upto) in answers {
                if let Some(bind) = dispatch.binds.get(&bind) {
                    bind.record_answers(upto);
                }
            }
            for (bind, upto) in deliveries {
                if let Some(bind) = dispatch.binds.get(&bind) {
                    bind.record_deliveries(upto);
                }
            }
            Ok(())
        }));
        self.forget_final(&drain.blocks, &drain.messages);
        for ((tenant, message), owed) in drain.refunds {
            self.shared
                .pay_refund(tenant, message, owed.credits, owed.parts, owed.debts)
                .await;
        }
        Ok(())
    }

    /// Waits until the last drain's batch is on disk.
    async fn settle(&mut self) -> Result<(), ActorProcessingErr> {
        if let Some(unsettled) = self.unsettled.take() {
            unsettled.await??;
        }
        Ok(())
    }

    /// Forgets what the last drain made final: only the records it touched, so the cost of a
    /// drain follows its events, not the number of recipients waiting for receipts.
    fn forget_final(&mut self, blocks: &HashSet<BlockKey>, messages: &HashSet<MessageId>) {
        for key in blocks {
            if self
                .blocks
                .get(key)
                .is_some_and(|records| records.iter().all(|record| is_final(record.status)))
            {
                self.blocks.remove(key);
            }
        }
        for id in messages {
            if self
                .messages
                .get(id)
                .is_some_and(|message| message.counts.pending == 0 && message.counts.sent == 0)
            {
                self.messages.remove(id);
            }
        }
    }

    /// Receipts held longer than `HOLD_RECEIPTS_FOR` will never match: drop and count them.
    fn expire_held(&mut self, drain: &mut Drain) {
        let now = Instant::now();
        let held = self.held.len();
        self.held.retain(|(bind, id), (_, since)| {
            let keep = now.duration_since(*since) < HOLD_RECEIPTS_FOR;
            if !keep {
                tables::HELD_RECEIPTS.delete(&mut drain.batch, &(*bind, id.clone()));
            }
            keep
        });
        let expired = held - self.held.len();
        if expired > 0 {
            // Held in vain: no submit_sm_resp ever named their SMSC id.
            metrics::counter!("flit_receipts_total", "result" => "unmatched")
                .increment(expired as u64);
        }
    }

    /// Drops the record caches when they outgrow their caps. Every cached record was written
    /// by an earlier drain; the barrier makes sure those writes are on disk before a record is
    /// read back from the store.
    async fn bound_caches(&mut self) -> Result<(), ActorProcessingErr> {
        let recipients: usize = self.blocks.values().map(Vec::len).sum();
        if recipients <= RECIPIENT_CACHE_CAP && self.messages.len() <= MESSAGE_CACHE_CAP {
            return Ok(());
        }
        self.settle().await?;
        self.blocks = HashMap::new();
        self.messages = HashMap::new();
        Ok(())
    }
}

impl DispatchShared {
    /// Pays refunds owed for `message` through the tenant's actor; the ledger entry and the
    /// deletion of the debts are one batch. Failures leave the debts for the next start.
    pub(crate) async fn pay_refund(
        &self,
        tenant: TenantId,
        message: MessageId,
        amount: i64,
        parts: u64,
        settles: Vec<RefundDue>,
    ) {
        let Some(actor) = self.tenants.get(&tenant).and_then(|link| link.slot.get()) else {
            tracing::warn!(%tenant, %message, "refund deferred: tenant actor unavailable");
            return;
        };
        let credit = Credit {
            kind: TransactionKind::Refund,
            amount,
            description: format!(
                "Refund: {parts} part{} not accepted by a carrier",
                if parts == 1 { "" } else { "s" }
            ),
            reference: Some(message.to_string()),
            idempotency: None,
            settles,
        };
        match actor
            .call(|reply| TenantMsg::Credit(credit, reply), None)
            .await
        {
            Ok(CallResult::Success(Ok(_))) => {
                metrics::counter!("flit_credits_refunded_total").increment(amount as u64);
            }
            _ => tracing::warn!(%tenant, %message, "refund deferred: the tenant actor refused"),
        }
    }

    /// Pays every refund still owed (after a crash between a failure and its refund).
    pub async fn pay_owed_refunds(&self) -> Result<(), crate::EngineError> {
        let page = self.store.scan(&tables::REFUNDS_DUE.scan(&()))?;
        let mut owed: HashMap<(TenantId, MessageId), Owed> = HashMap::new();
        for (key, value) in page.items {
            let (Some(tenant), Some(message), Some(index)) = (
                key.get(0..16).and_then(|b| <[u8; 16]>::try_from(b).ok()),
                key.get(16..32).and_then(|b| <[u8; 16]>::try_from(b).ok()),
                key.get(32..36).and_then(|b| <[u8; 4]>::try_from(b).ok()),
            ) else {
                continue;
            };
            let amount = tables::REFUNDS_DUE.decode(&value)?;
            let (tenant, message) = (TenantId::from_bytes(tenant), MessageId::from_bytes(message));
            let entry = owed.entry((tenant, message)).or_default();
            entry.credits = entry.credits.checked_add(amount).ok_or_else(|| {
                StorageError::Codec("refunds owed beyond the representable range".into())
            })?;
            entry.parts += 1;
            entry
                .debts
                .push((tenant, message, u32::from_be_bytes(index)));
        }
        for ((tenant, message), owed) in owed {
            self.pay_refund(tenant, message, owed.credits, owed.parts, owed.debts)
                .await;
        }
        Ok(())
    }
}

/// The receipts a previous run held for their SMSC ids, with the time they have waited.
fn load_held(shared: &DispatchShared) -> Result<HeldReceipts, ActorProcessingErr> {
    let mut held = HashMap::new();
    let now = (Instant::now(), now_millis());
    for (key, value) in shared.store.scan(&tables::HELD_RECEIPTS.scan(&()))?.items {
        let (Some(bind), Some(id)) = (
            key.get(0..16).and_then(|b| <[u8; 16]>::try_from(b).ok()),
            key.get(16..).and_then(|b| std::str::from_utf8(b).ok()),
        ) else {
            continue;
        };
        let stored = tables::HELD_RECEIPTS.decode(&value)?;
        let waited = Duration::from_millis(u64::try_from(now.1 - stored.held_at).unwrap_or(0));
        let since = now.0.checked_sub(waited).unwrap_or(now.0);
        held.insert(
            (BindId::from_bytes(bind), id.to_string()),
            (stored.receipt, since),
        );
    }
    Ok(held)
}

/// Names one recipient of one message.
#[derive(Clone, Copy, Debug)]
pub struct RecipientRef {
    pub tenant: TenantId,
    pub message: MessageId,
    pub index: u32,
}

impl Job {
    pub fn recipient_ref(&self) -> RecipientRef {
        RecipientRef {
            tenant: self.tenant(),
            message: self.message(),
            index: self.index,
        }
    }
}

fn is_final(status: RecipientStatus) -> bool {
    matches!(
        status,
        RecipientStatus::Delivered | RecipientStatus::Failed | RecipientStatus::Cancelled
    )
}

fn full_mask(parts: u16) -> u64 {
    if parts >= 64 {
        u64::MAX
    } else {
        (1u64 << parts.max(1)) - 1
    }
}

/// The parts an answer covers: one part, or all of them when the channel sent the whole text
/// as one submit (`message_payload`).
fn part_bits(part: u8, parts: u8, job_parts: u16) -> u64 {
    if parts <= 1 {
        full_mask(job_parts)
    } else {
        1u64 << (part.saturating_sub(1) as u32).min(63)
    }
}

/// 1 s, 2 s, 4 s … capped at 60 s, with up to 25 % jitter so retries do not stampede.
fn backoff(attempt: u16) -> Duration {
    let base = Duration::from_secs(1u64 << attempt.min(6)).min(Duration::from_secs(60));
    let jitter = rand::random::<f64>() * 0.25;
    base.mul_f64(1.0 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_bits_cover_one_part_or_the_whole_payload() {
        assert_eq!(part_bits(1, 3, 3), 0b001);
        assert_eq!(part_bits(3, 3, 3), 0b100);
        assert_eq!(part_bits(1, 1, 3), 0b111);
        assert_eq!(full_mask(1), 1);
        assert_eq!(full_mask(6), 0b11_1111);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) >= Duration::from_secs(1));
        assert!(backoff(3) >= Duration::from_secs(8));
        assert!(backoff(20) <= Duration::from_secs(75));
    }
}
