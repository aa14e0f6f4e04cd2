//! The status writer: the single writer of recipient and message states once a message is
//! accepted. Carrier answers and receipts arrive as `StatusEvent`s on a lock-free queue; each
//! drain applies them to cached records and writes the result as one batch.
//!
//! A recipient moves PENDING → SENT when a carrier has accepted all its parts, and becomes final
//! when every part is accounted for: DELIVERED when every part's receipt says delivered, FAILED
//! when a part is refused for good, its retries run out, its validity expires, or a receipt says
//! it was not delivered. Parts no carrier ever accepted are refunded: the recipient turns FAILED
//! (or CANCELLED) in the same batch that records the credits owed (`refunds_due`), and the tenant actor pays
//! them with a REFUND ledger entry in the batch that deletes the debt, so a crash between the
//! two only delays the refund (startup pays what is still owed).
//!
//! Two changes of a whole message come as messages, handled in order with the drains: a cancel
//! (`cancel.rs`: every PENDING recipient CANCELLED and refunded, answered once durable) and
//! the release of scheduled messages that are due (`release.rs`: moved from the schedule to
//! dispatch), so a cancel and a release of the same message never interleave.
//!
//! Restart policy: restarted by the root supervisor at once. Its caches are rebuilt from
//! storage on demand; the events it had not drained are still in the queue.

mod answers;
mod cancel;
mod inbound;
mod receipts;
mod records;
mod refunds;
mod release;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flit_storage::{Batch, CommitTicket, StorageError};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::{DispatchShared, Job};
use crate::channel::smpp::{alternate_smsc_ids, normalise_smsc_id};
use crate::channel::{InboundSms, Receipt};
use crate::error::EngineError;
use crate::ids::{BindId, InboundId, MessageId, TenantId};
use crate::store::records::{
    EventData, EventKind, HeldReceipt, InboundRecord, MessageRecord, RecipientRecord,
    RecipientStatus, SmscMapping, TransactionKind, UnixMillis, now_millis,
};
use crate::store::tables::{self, RefundDue};
use crate::supervisor::ChildSpec;
use crate::tenants::actor::{Credit, TenantMsg};
pub use cancel::CancelAnswer;
use futures::future::BoxFuture;
use receipts::load_held;
use refunds::OwedBy;

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
    /// The channel holding the job is gone for good and cannot say whether it sent it (a
    /// phone unpaired with messages it took): the recipient fails with `reason`.
    Abandoned { job: Job, reason: &'static str },
}

pub enum StatusMsg {
    Kick,
    /// Periodic: retry held receipts (under their other-base spellings once they waited).
    Tick,
    /// Cancel what of a message is still PENDING (`Engine::cancel`); answered once durable.
    Cancel {
        tenant: TenantId,
        message: MessageId,
        reply: RpcReplyPort<Result<CancelAnswer, EngineError>>,
    },
    /// Scheduled messages are due (the scheduler): move them from the schedule to dispatch in
    /// one durable batch. Answered with the messages moved; one no longer scheduled (it was
    /// cancelled) is left out.
    Release {
        due: Vec<DueMessage>,
        reply: RpcReplyPort<Vec<MessageRecord>>,
    },
    /// A tenant is being deleted (its jobs are withdrawn already): answered once this
    /// writer's last batch with anything of it is on disk and it holds none of its records,
    /// so nothing of the tenant is written after its records are removed.
    ForgetTenant {
        tenant: TenantId,
        reply: RpcReplyPort<()>,
    },
}

/// A message in the schedule: when it is due, and whose it is.
#[derive(Clone, Copy, Debug)]
pub struct DueMessage {
    pub due: UnixMillis,
    pub message: MessageId,
    pub tenant: TenantId,
}

pub struct StatusActor;

/// How the supervisor starts (and restarts) the status writer.
pub(crate) struct StatusChild(pub Arc<DispatchShared>);

impl ChildSpec for StatusChild {
    fn describe(&self) -> String {
        "status writer".to_string()
    }

    fn label(&self) -> &'static str {
        "status_writer"
    }

    fn spawn(&self, supervisor: ActorCell) -> BoxFuture<'_, Result<ActorCell, String>> {
        Box::pin(async move {
            let shared = &self.0;
            shared
                .status
                .start(StatusActor, shared.clone(), supervisor)
                .await
        })
    }

    fn vacate(&self) {
        self.0.status.set(None);
    }
}

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
    /// `refunds_due` rows this drain writes (positive: refunds; negative: charge-backs).
    debts: HashMap<RefundDue, i64>,
    /// The same debts by message and reason, as they will be paid.
    refunds: OwedBy,
    /// Per bind, the number of the last answer and the last delivery this drain applied.
    answers: HashMap<BindId, u64>,
    deliveries: HashMap<BindId, u64>,
    /// Webhooks and SMPP accounts given deliveries by this drain, woken once its batch is
    /// durable.
    kicks: crate::notify::Kicks,
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
            StatusMsg::Cancel {
                tenant,
                message,
                reply,
            } => {
                let answer = state.cancel(tenant, message).await?;
                let _ = reply.send(answer);
                Ok(())
            }
            StatusMsg::Release { due, reply } => {
                let released = state.release(due).await?;
                let _ = reply.send(released);
                Ok(())
            }
            StatusMsg::ForgetTenant { tenant, reply } => {
                state.forget_tenant(tenant).await?;
                let _ = reply.send(());
                Ok(())
            }
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
        if self.of_deleted_tenant(&event) {
            // Nothing of a deleted tenant is written again; its answers still free the
            // window they took.
            match event {
                StatusEvent::Accepted { bind, answer, .. }
                | StatusEvent::Rejected { bind, answer, .. } => drain.answered(bind, answer),
                _ => {}
            }
            return Ok(());
        }
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
            StatusEvent::Expired { job } => self.give_up(job, "validity period expired", drain),
            StatusEvent::Abandoned { job, reason } => self.give_up(job, reason, drain),
        }
    }
}

impl StatusState {
    /// Whether `event` is about a job of a tenant being deleted.
    fn of_deleted_tenant(&self, event: &StatusEvent) -> bool {
        let withdrawn = &self.shared.withdrawn;
        match event {
            StatusEvent::Accepted { job, .. }
            | StatusEvent::Rejected { job, .. }
            | StatusEvent::Expired { job }
            | StatusEvent::Abandoned { job, .. } => withdrawn.is_tenant_deleted(job.tenant()),
            StatusEvent::Receipt { .. }
            | StatusEvent::Inbound { .. }
            | StatusEvent::Answered { .. } => false,
        }
    }

    /// Drops from the caches every record of a tenant being deleted, once the last batch is on
    /// disk. From here no event, cancel or release of it is applied (`Withdrawn`), so this
    /// writer never writes the tenant's records again.
    async fn forget_tenant(&mut self, tenant: TenantId) -> Result<(), ActorProcessingErr> {
        self.drain(false).await?;
        self.settle().await?;
        let mut messages = HashSet::new();
        self.messages.retain(|id, message| {
            let keep = message.tenant != tenant;
            if !keep {
                messages.insert(*id);
            }
            keep
        });
        // Blocks cached without their message are never written again either (nothing of
        // the tenant is applied); they go with the caches' next bound.
        self.blocks
            .retain(|(message, _), _| !messages.contains(message));
        self.attempts
            .retain(|(message, _), _| !messages.contains(message));
        self.mappings.retain(|_, mapping| mapping.tenant != tenant);
        Ok(())
    }

    /// The recipient fails with `reason` unless it is final already.
    fn give_up(
        &mut self,
        job: Job,
        reason: &str,
        drain: &mut Drain,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(mut recipient) = self.recipient(job.recipient_ref())?
            && !is_final(recipient.status)
        {
            self.fail(job.recipient_ref(), &mut recipient, reason, drain)?;
            self.store_recipient(job.recipient_ref(), recipient, drain)?;
        }
        Ok(())
    }
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
