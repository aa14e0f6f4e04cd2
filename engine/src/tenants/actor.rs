//! The tenant actor: the single writer of one tenant's balance and ledger.
//!
//! Every charge and credit of a tenant goes through its actor, one at a time, so the running
//! balance in each ledger entry is exact without a lock. The actor does not wait for the disk:
//! it reserves credits in memory, *submits* the batch (message, recipients, ledger entry,
//! idempotency record) to the store's group committer, and hands the commit ticket back to the
//! caller, who waits for durability before answering. Batches are applied in submission order,
//! so the ledger on disk is the ledger in memory, delayed.
//!
//! Restart policy: the tenant supervisor restarts a failed tenant actor at once (see
//! `supervisor.rs`). A restarted actor first waits for everything already submitted to be
//! durable (an empty batch is a barrier), then reads its balance back from the ledger, so a
//! crash loses nothing and charges nothing twice.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use flit_storage::{Batch, CommitTicket, StorageError, Store};
use futures::future::BoxFuture;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::ids::{MessageId, TenantId, TransactionId};
use crate::slot::ActorSlot;
use crate::store::records::{
    IdempotencyRecord, IdempotentOutcome, SendOutcome, TransactionKind, TransactionRecord,
    now_millis,
};
use crate::store::tables::{self, RefundDue};
use crate::supervisor::ChildSpec;

/// Durable idempotency records kept in memory per tenant; older ones are still found on disk.
const IDEMPOTENCY_MEMORY: usize = 10_000;
/// Durable answers listing more invalid recipients than this stay on disk only, so memory
/// stays bounded; until durable, every answer is kept whatever it holds.
const IDEMPOTENCY_MEMORY_MAX_INVALID: usize = 16;

/// State shared with readers, so `GET /balance` never queues behind charges.
#[derive(Debug, Default)]
pub struct TenantShared {
    balance: AtomicI64,
    /// Set when the tenant is deleted: its actor is stopped for good, not restarted.
    retired: AtomicBool,
}

impl TenantShared {
    pub fn balance(&self) -> i64 {
        self.balance.load(Ordering::Acquire)
    }

    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::Release);
    }
}

/// A send that has been validated, priced and turned into rows; the actor only charges it.
pub struct Charge {
    pub message_id: MessageId,
    pub cost: i64,
    pub description: String,
    /// Message and recipient rows; the actor adds the ledger and idempotency rows.
    pub batch: Batch,
    /// The answer to give, with `remaining_credits` filled in by the actor.
    pub outcome: SendOutcome,
    pub idempotency: Option<IdempotencyClaim>,
}

/// An `Idempotency-Key` and the request it came with.
#[derive(Clone, Copy, Debug)]
pub struct IdempotencyClaim {
    pub key_hash: [u8; 32],
    pub fingerprint: [u8; 32],
}

pub struct Charged {
    pub outcome: SendOutcome,
    /// Resolves when the charge (or, for a replay, the first charge) is durable.
    pub durable: CommitTicket,
    pub replayed: bool,
}

pub struct Credit {
    pub kind: TransactionKind,
    pub amount: i64,
    pub description: String,
    pub reference: Option<String>,
    pub idempotency: Option<IdempotencyClaim>,
    /// `refunds_due` keys this credit pays: deleted in the same batch as its ledger entry.
    pub settles: Vec<RefundDue>,
    /// Taken even if the balance goes below zero: a charge-back for SMS a carrier took after
    /// their refund was paid is owed whatever the balance (the ledger still sums to it).
    pub overdraw: bool,
}

pub struct Credited {
    pub transaction: TransactionRecord,
    /// Resolves when the credit (or, for a replay, the first credit) is durable.
    pub durable: CommitTicket,
}

#[derive(Debug, thiserror::Error)]
pub enum ChargeError {
    #[error("insufficient credits: {required} required, {balance} available")]
    InsufficientCredits { required: i64, balance: i64 },
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyConflict,
    #[error("the balance would leave the representable range")]
    BalanceOverflow,
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}

/// The actor's answer to a send that carries an `Idempotency-Key`, given before any planning.
pub enum Claimed {
    /// The key is this request's until it charges or lets go (`TenantMsg::Release`); retries
    /// that arrive meanwhile wait for it.
    Fresh,
    /// A send under this key was accepted: its first answer.
    Replay(Charged),
}

pub enum TenantMsg {
    Charge(Box<Charge>, RpcReplyPort<Result<Charged, ChargeError>>),
    Credit(Credit, RpcReplyPort<Result<Credited, ChargeError>>),
    /// Claims a key for a send about to be planned. The reply is held while another request
    /// holds the claim: it comes when that one charges (a replay) or lets go (`Fresh`).
    Claim(IdempotencyClaim, RpcReplyPort<Result<Claimed, ChargeError>>),
    /// The holder of a claim gave up without charging (refused, failed or cancelled).
    Release([u8; 32]),
    /// Every batch submitted before this key's answer is durable: the answer no longer
    /// needs to be held in memory to be found.
    Settled([u8; 32]),
    /// A submitted batch failed to commit: re-read the balance from the durable ledger.
    Resync,
}

pub struct TenantActor;

pub struct TenantArgs {
    pub tenant: TenantId,
    pub store: Store,
    pub shared: Arc<TenantShared>,
}

/// How the supervisor starts (and restarts) a tenant's actor.
pub(crate) struct TenantChild {
    pub tenant: TenantId,
    pub store: Store,
    pub shared: Arc<TenantShared>,
    pub slot: Arc<TenantSlot>,
}

impl ChildSpec for TenantChild {
    fn describe(&self) -> String {
        format!("tenant {}", self.tenant)
    }

    fn label(&self) -> &'static str {
        "tenant"
    }

    fn spawn(&self, supervisor: ActorCell) -> BoxFuture<'_, Result<ActorCell, String>> {
        Box::pin(async move {
            let args = TenantArgs {
                tenant: self.tenant,
                store: self.store.clone(),
                shared: self.shared.clone(),
            };
            self.slot.start(TenantActor, args, supervisor).await
        })
    }

    fn vacate(&self) {
        self.slot.set(None);
    }

    fn retired(&self) -> bool {
        self.shared.retired.load(Ordering::Acquire)
    }
}

/// Where the current actor of a tenant is published, swapped on restart.
pub(crate) type TenantSlot = ActorSlot<TenantMsg>;

pub struct TenantState {
    tenant: TenantId,
    store: Store,
    shared: Arc<TenantShared>,
    balance: i64,
    /// Keys claimed by a send still being planned, with the retries waiting for its answer.
    claims: HashMap<[u8; 32], Claim>,
    /// Answers submitted but maybe not durable yet: the store cannot find them, so they are
    /// held here, whatever their size, until `Settled`.
    unsettled: HashMap<[u8; 32], IdempotencyRecord>,
    /// Durable answers, the most recent `IDEMPOTENCY_MEMORY`, so replays skip a disk read.
    recent_idempotency: HashMap<[u8; 32], IdempotencyRecord>,
    recent_order: VecDeque<[u8; 32]>,
}

/// A key claimed by a send in planning.
struct Claim {
    fingerprint: [u8; 32],
    waiting: Vec<RpcReplyPort<Result<Claimed, ChargeError>>>,
}

impl Actor for TenantActor {
    type Msg = TenantMsg;
    type State = TenantState;
    type Arguments = TenantArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<TenantMsg>,
        args: TenantArgs,
    ) -> Result<TenantState, ActorProcessingErr> {
        // A predecessor may have submitted batches that are not durable yet: wait for them so
        // the balance read below includes every charge ever handed out.
        args.store.commit(Batch::new()).await?;
        let balance = durable_balance(&args.store, args.tenant)?;
        args.shared.balance.store(balance, Ordering::Release);
        Ok(TenantState {
            tenant: args.tenant,
            store: args.store,
            shared: args.shared,
            balance,
            claims: HashMap::new(),
            unsettled: HashMap::new(),
            recent_idempotency: HashMap::new(),
            recent_order: VecDeque::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<TenantMsg>,
        message: TenantMsg,
        state: &mut TenantState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            TenantMsg::Charge(charge, reply) => {
                let _ = reply.send(state.charge(*charge, &myself));
            }
            TenantMsg::Credit(credit, reply) => {
                let _ = reply.send(state.credit(credit, &myself));
            }
            TenantMsg::Claim(claim, reply) => state.claim(claim, reply),
            TenantMsg::Release(key_hash) => state.release(key_hash),
            TenantMsg::Settled(key_hash) => state.settled(key_hash),
            TenantMsg::Resync => {
                // A failed commit leaves the store failed (fail-stop): the barrier fails too and
                // the actor stops, so nothing is charged on a ledger whose end is unknown.
                state.store.commit(Batch::new()).await?;
                state.balance = durable_balance(&state.store, state.tenant)?;
                state.shared.balance.store(state.balance, Ordering::Release);
            }
        }
        Ok(())
    }
}

impl TenantState {
    fn charge(
        &mut self,
        charge: Charge,
        myself: &ActorRef<TenantMsg>,
    ) -> Result<Charged, ChargeError> {
        if let Some(claim) = charge.idempotency
            && let Some(replayed) = self.replay(&claim)?
        {
            return Ok(replayed);
        }
        if charge.cost > self.balance {
            return Err(ChargeError::InsufficientCredits {
                required: charge.cost,
                balance: self.balance,
            });
        }
        let mut batch = charge.batch;
        let transaction = self.ledger_entry(
            TransactionKind::Usage,
            -charge.cost,
            charge.description,
            Some(charge.message_id.to_string()),
        )?;
        tables::LEDGER.put(&mut batch, &(self.tenant, transaction.id), &transaction);
        let mut outcome = charge.outcome;
        outcome.remaining_credits = transaction.balance;
        if let Some(claim) = charge.idempotency {
            self.record_idempotent(&mut batch, claim, IdempotentOutcome::Send(outcome.clone()));
        }
        self.apply(transaction.balance);
        let durable = self.store.submit(batch);
        if let Some(claim) = charge.idempotency {
            self.settle_later(claim.key_hash, myself);
            // Retries that waited for this claim get its answer.
            if let Some(waiting) = self.claims.remove(&claim.key_hash) {
                for retry in waiting.waiting {
                    let _ = retry.send(Ok(Claimed::Replay(Charged {
                        outcome: outcome.clone(),
                        durable: self.store.submit(Batch::new()),
                        replayed: true,
                    })));
                }
            }
        }
        Ok(Charged {
            outcome,
            durable,
            replayed: false,
        })
    }

    fn claim(
        &mut self,
        claim: IdempotencyClaim,
        reply: RpcReplyPort<Result<Claimed, ChargeError>>,
    ) {
        if let Some(held) = self.claims.get_mut(&claim.key_hash) {
            if held.fingerprint == claim.fingerprint {
                held.waiting.push(reply);
            } else {
                let _ = reply.send(Err(ChargeError::IdempotencyConflict));
            }
            return;
        }
        let answer = match self.replay(&claim) {
            Ok(Some(replayed)) => Ok(Claimed::Replay(replayed)),
            Ok(None) => {
                self.claims.insert(
                    claim.key_hash,
                    Claim {
                        fingerprint: claim.fingerprint,
                        waiting: Vec::new(),
                    },
                );
                Ok(Claimed::Fresh)
            }
            Err(error) => Err(error),
        };
        let _ = reply.send(answer);
    }

    /// The holder let go without charging: the first retry still waiting takes the claim
    /// over (and plans the send itself); the others wait on.
    fn release(&mut self, key_hash: [u8; 32]) {
        let Some(held) = self.claims.get_mut(&key_hash) else {
            return;
        };
        while !held.waiting.is_empty() {
            let next = held.waiting.remove(0);
            if next.send(Ok(Claimed::Fresh)).is_ok() {
                return;
            }
        }
        self.claims.remove(&key_hash);
    }

    /// Asks to be told once everything submitted so far (this key's answer included) is
    /// durable; batches commit in submission order, so an empty one is a barrier.
    fn settle_later(&self, key_hash: [u8; 32], myself: &ActorRef<TenantMsg>) {
        let barrier = self.store.submit(Batch::new());
        let myself = myself.clone();
        tokio::spawn(async move {
            // A failed commit stops the actor (Resync): nothing to settle then.
            if barrier.await.is_ok() {
                let _ = myself.cast(TenantMsg::Settled(key_hash));
            }
        });
    }

    fn settled(&mut self, key_hash: [u8; 32]) {
        if let Some(record) = self.unsettled.remove(&key_hash) {
            self.remember_idempotent(key_hash, record);
        }
    }

    fn replay(&self, claim: &IdempotencyClaim) -> Result<Option<Charged>, ChargeError> {
        let Some(first) = self.find_idempotent(claim)? else {
            return Ok(None);
        };
        let IdempotentOutcome::Send(outcome) = first else {
            return Err(ChargeError::IdempotencyConflict);
        };
        // The first answer may still be on its way to disk: an empty batch submitted now
        // resolves only after it.
        Ok(Some(Charged {
            outcome,
            durable: self.store.submit(Batch::new()),
            replayed: true,
        }))
    }

    fn credit(
        &mut self,
        credit: Credit,
        myself: &ActorRef<TenantMsg>,
    ) -> Result<Credited, ChargeError> {
        if let Some(claim) = credit.idempotency
            && let Some(first) = self.find_idempotent(&claim)?
        {
            let IdempotentOutcome::Credit(transaction) = first else {
                return Err(ChargeError::IdempotencyConflict);
            };
            return Ok(Credited {
                transaction,
                durable: self.store.submit(Batch::new()),
            });
        }
        if !credit.overdraw
            && self
                .balance
                .checked_add(credit.amount)
                .is_some_and(|balance| balance < 0)
        {
            return Err(ChargeError::InsufficientCredits {
                required: -credit.amount,
                balance: self.balance,
            });
        }
        let transaction = self.ledger_entry(
            credit.kind,
            credit.amount,
            credit.description,
            credit.reference,
        )?;
        let mut batch = Batch::new();
        tables::LEDGER.put(&mut batch, &(self.tenant, transaction.id), &transaction);
        for debt in &credit.settles {
            tables::REFUNDS_DUE.delete(&mut batch, debt);
        }
        if let Some(claim) = credit.idempotency {
            self.record_idempotent(
                &mut batch,
                claim,
                IdempotentOutcome::Credit(transaction.clone()),
            );
        }
        self.apply(transaction.balance);
        let durable = self.store.submit(batch);
        if let Some(claim) = credit.idempotency {
            self.settle_later(claim.key_hash, myself);
        }
        Ok(Credited {
            transaction,
            durable,
        })
    }

    fn ledger_entry(
        &self,
        kind: TransactionKind,
        amount: i64,
        description: String,
        reference: Option<String>,
    ) -> Result<TransactionRecord, ChargeError> {
        let balance = self
            .balance
            .checked_add(amount)
            .ok_or(ChargeError::BalanceOverflow)?;
        Ok(TransactionRecord {
            id: TransactionId::new(),
            tenant: self.tenant,
            kind,
            amount,
            balance,
            description,
            reference,
            created_at: now_millis(),
        })
    }

    fn apply(&mut self, balance: i64) {
        self.balance = balance;
        self.shared.balance.store(balance, Ordering::Release);
    }

    /// The first answer given under this key, if any; a different body is a conflict.
    fn find_idempotent(
        &self,
        claim: &IdempotencyClaim,
    ) -> Result<Option<IdempotentOutcome>, ChargeError> {
        let held = self
            .unsettled
            .get(&claim.key_hash)
            .or_else(|| self.recent_idempotency.get(&claim.key_hash));
        let record = match held {
            Some(record) => record.clone(),
            None => {
                let key = (self.tenant, claim.key_hash);
                match tables::IDEMPOTENCY.get(&self.store, &key)? {
                    Some(record) => record,
                    None => return Ok(None),
                }
            }
        };
        if record.fingerprint != claim.fingerprint {
            return Err(ChargeError::IdempotencyConflict);
        }
        Ok(Some(record.outcome))
    }

    /// Adds the idempotency record to the batch that makes the answer true.
    fn record_idempotent(
        &mut self,
        batch: &mut Batch,
        claim: IdempotencyClaim,
        outcome: IdempotentOutcome,
    ) {
        let record = IdempotencyRecord {
            fingerprint: claim.fingerprint,
            outcome,
        };
        tables::IDEMPOTENCY.put(batch, &(self.tenant, claim.key_hash), &record);
        self.unsettled.insert(claim.key_hash, record);
    }

    /// Keeps a durable answer in memory, unless it is big.
    fn remember_idempotent(&mut self, key_hash: [u8; 32], record: IdempotencyRecord) {
        if let IdempotentOutcome::Send(outcome) = &record.outcome
            && outcome.invalid_recipients.len() > IDEMPOTENCY_MEMORY_MAX_INVALID
        {
            return;
        }
        if self.recent_order.len() >= IDEMPOTENCY_MEMORY
            && let Some(oldest) = self.recent_order.pop_front()
        {
            self.recent_idempotency.remove(&oldest);
        }
        self.recent_order.push_back(key_hash);
        self.recent_idempotency.insert(key_hash, record);
    }
}

/// The balance after the tenant's last durable ledger entry (0 for an empty ledger).
pub fn durable_balance(store: &Store, tenant: TenantId) -> Result<i64, StorageError> {
    let last = tables::LEDGER.read(store, &tables::LEDGER.scan(&tenant).reverse().limit(1))?;
    match last.first() {
        Some(last) => {
            crate::ids::Id::observe(last.id.id());
            Ok(last.balance)
        }
        None => Ok(0),
    }
}

impl From<ChargeError> for crate::error::EngineError {
    fn from(error: ChargeError) -> Self {
        match error {
            ChargeError::InsufficientCredits { required, balance } => {
                crate::error::EngineError::InsufficientCredits { required, balance }
            }
            ChargeError::IdempotencyConflict => crate::error::EngineError::IdempotencyConflict,
            ChargeError::BalanceOverflow => crate::error::Invalid::AmountOutOfRange.into(),
            ChargeError::Storage(error) => crate::error::EngineError::Storage(error),
        }
    }
}
