//! The scheduler: messages accepted for later wait on disk, not in memory. Accept writes a
//! scheduled message with an entry in `tables::SCHEDULE` (keyed by due time) instead of the
//! `DISPATCH` marker, builds no jobs, and tells the scheduler once the write is durable. The
//! scheduler keeps only the next due time in memory: it sleeps until then (or until told of a
//! nearer one), releases what is due — moved from the schedule to `DISPATCH` in one durable
//! batch by the status writer, which also handles cancels, so the two never interleave — and
//! feeds the released messages' PENDING recipients to the router's ready queue a block at a
//! time (`feed.rs`), pausing while the jobs in memory are above a low-water mark, so a due
//! campaign of 100,000 recipients goes out without a burst of memory. A message due past its
//! validity is expired instead: its recipients are reported to the status writer, which fails
//! and refunds them. What the previous run left (messages with a `DISPATCH` marker) is fed
//! the same way at start (`recovery.rs`).
//!
//! Every "now" here is the engine's `Clock`, so tests move the scheduler with tokio's paused
//! time.
//!
//! Restart policy: restarted by the root supervisor at once. It holds nothing of its own: the
//! index is on disk, and the messages being fed (with how far) are in `ScheduleShared`, which
//! outlives it; the new incarnation reads the index and goes on feeding.

mod feed;
mod recovery;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::dispatch::{DispatchShared, DueMessage, StatusMsg};
use crate::ids::MessageId;
use crate::slot::ActorSlot;
use crate::store::records::UnixMillis;
use crate::store::tables;
use crate::supervisor::ChildSpec;
use feed::Release;

/// While feeding is paused above the low-water mark, how often the queues are looked at.
const FEED_PAUSE: Duration = Duration::from_millis(100);
/// How soon a release is tried again when the status writer could not take it (restarting).
const RELEASE_RETRY: Duration = Duration::from_secs(1);
/// Messages released per durable batch when many fall due at once.
const RELEASE_BATCH: usize = 256;
/// The longest sleep: a due time months ahead is looked at again now and then, so a wall
/// clock that was stepped while the scheduler slept cannot make it late by more than this.
const MAX_NAP: Duration = Duration::from_secs(300);

/// The scheduler's state that outlives it.
#[derive(Default)]
pub(crate) struct ScheduleShared {
    pub(crate) actor: ActorSlot<ScheduleMsg>,
    /// Released messages whose PENDING recipients are being fed to the router, oldest first.
    releases: Mutex<VecDeque<Release>>,
}

impl ScheduleShared {
    /// A message due at `due` was durably written to the schedule: the scheduler wakes for it
    /// if it is nearer than what it waits for. (While it restarts, it reads the index anyway.)
    pub(crate) fn scheduled(&self, due: UnixMillis) {
        if let Some(actor) = self.actor.get() {
            let _ = actor.cast(ScheduleMsg::Scheduled { due });
        }
    }
}

pub(crate) enum ScheduleMsg {
    /// A message due at `due` was written to the schedule (accept, once durable).
    Scheduled { due: UnixMillis },
    /// Wake-up: release what is due, feed what is released.
    Tick,
}

/// What the scheduler needs to run.
#[derive(Clone)]
pub(crate) struct SchedulerArgs {
    pub(crate) dispatch: Arc<DispatchShared>,
    pub(crate) schedule: Arc<ScheduleShared>,
    pub(crate) clock: Clock,
    /// Jobs in memory above which feeding pauses.
    pub(crate) low_water: usize,
}

/// How the supervisor starts (and restarts) the scheduler.
pub(crate) struct SchedulerChild(pub(crate) SchedulerArgs);

impl ChildSpec for SchedulerChild {
    fn describe(&self) -> String {
        "scheduler".to_string()
    }

    fn label(&self) -> &'static str {
        "scheduler"
    }

    fn spawn(&self, supervisor: ActorCell) -> BoxFuture<'_, Result<ActorCell, String>> {
        Box::pin(async move {
            self.0
                .schedule
                .actor
                .start(SchedulerActor, self.0.clone(), supervisor)
                .await
        })
    }

    fn vacate(&self) {
        self.0.schedule.actor.set(None);
    }
}

pub(crate) struct SchedulerActor;

pub(crate) struct SchedulerState {
    args: SchedulerArgs,
    /// The one wake-up armed: the next due time, or the next look at paused feeding.
    wake: Option<Wake>,
}

struct Wake {
    at: UnixMillis,
    task: JoinHandle<()>,
}

impl Actor for SchedulerActor {
    type Msg = ScheduleMsg;
    type State = SchedulerState;
    type Arguments = SchedulerArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<ScheduleMsg>,
        args: SchedulerArgs,
    ) -> Result<SchedulerState, ActorProcessingErr> {
        Ok(SchedulerState { args, wake: None })
    }

    async fn post_start(
        &self,
        myself: ActorRef<ScheduleMsg>,
        state: &mut SchedulerState,
    ) -> Result<(), ActorProcessingErr> {
        // What fell due while no scheduler ran, and what the last one left half fed.
        state.tick(&myself).await
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<ScheduleMsg>,
        state: &mut SchedulerState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(wake) = state.wake.take() {
            wake.task.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ScheduleMsg>,
        message: ScheduleMsg,
        state: &mut SchedulerState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ScheduleMsg::Scheduled { due } if due > state.args.clock.now_millis() => {
                state.wake_at(&myself, Some(due));
                Ok(())
            }
            ScheduleMsg::Scheduled { .. } | ScheduleMsg::Tick => state.tick(&myself).await,
        }
    }
}

impl SchedulerState {
    /// Releases what is due, feeds what is released, and sleeps until there is more to do.
    async fn tick(&mut self, myself: &ActorRef<ScheduleMsg>) -> Result<(), ActorProcessingErr> {
        let next_due = self.release_due().await?;
        let args = &self.args;
        let paused = args
            .schedule
            .feed(&args.dispatch, args.clock, args.low_water)?;
        let look_again = paused.then(|| after(args.clock, FEED_PAUSE));
        let next = match (next_due, look_again) {
            (Some(due), Some(look)) => Some(due.min(look)),
            (due, look) => due.or(look),
        };
        self.wake_at(myself, next);
        Ok(())
    }

    /// Releases every message whose time has come, in due order, as many at a time as the
    /// status writer takes in one batch; the next due time after them, if any.
    async fn release_due(&mut self) -> Result<Option<UnixMillis>, ActorProcessingErr> {
        let args = &self.args;
        loop {
            let now = args.clock.now_millis();
            let head = scheduled_head(&args.dispatch, RELEASE_BATCH)?;
            let due: Vec<DueMessage> = head.iter().copied().filter(|d| d.due <= now).collect();
            if due.is_empty() {
                return Ok(head.first().map(|next| next.due));
            }
            let retry = after(args.clock, RELEASE_RETRY);
            let Some(status) = args.dispatch.status.get() else {
                return Ok(Some(retry));
            };
            let count = due.len();
            match status
                .call(|reply| StatusMsg::Release { due, reply }, None)
                .await
            {
                Ok(CallResult::Success(released)) => {
                    // Those left out were cancelled meanwhile: nothing of them to feed.
                    tracing::debug!(due = count, released = released.len(), "released");
                    for record in &released {
                        args.schedule.released(&args.dispatch.store, record)?;
                    }
                }
                _ => {
                    tracing::warn!(
                        due = count,
                        "release deferred: the status writer is restarting"
                    );
                    return Ok(Some(retry));
                }
            }
        }
    }

    /// Arms the wake-up for `at` (or `MAX_NAP` from now, if sooner), unless one as early is
    /// armed already.
    fn wake_at(&mut self, myself: &ActorRef<ScheduleMsg>, at: Option<UnixMillis>) {
        let Some(at) = at else { return };
        let clock = self.args.clock;
        let at = at.min(after(clock, MAX_NAP));
        // One still ahead keeps its place; one whose time has come may have sent its tick
        // already (the one being handled), so it no longer counts.
        if let Some(wake) = &self.wake
            && wake.at <= at
            && wake.at > clock.now_millis()
            && !wake.task.is_finished()
        {
            return;
        }
        if let Some(earlier) = self.wake.take() {
            earlier.task.abort();
        }
        let myself = myself.clone();
        let task = tokio::spawn(async move {
            clock.sleep_until(at).await;
            let _ = myself.cast(ScheduleMsg::Tick);
        });
        self.wake = Some(Wake { at, task });
    }
}

/// `span` from now on `clock`.
fn after(clock: Clock, span: Duration) -> UnixMillis {
    let span = i64::try_from(span.as_millis()).unwrap_or(i64::MAX);
    clock.now_millis().saturating_add(span)
}

/// The first `limit` entries of the schedule, in due order.
fn scheduled_head(
    dispatch: &DispatchShared,
    limit: usize,
) -> Result<Vec<DueMessage>, flit_storage::StorageError> {
    let page = dispatch
        .store
        .scan(&tables::SCHEDULE.scan(&()).limit(limit))?;
    let mut head = Vec::with_capacity(page.items.len());
    for (key, value) in &page.items {
        head.extend(decode_entry(key, value)?);
    }
    Ok(head)
}

/// A `SCHEDULE` entry read back (`None` for a key of another shape, which no code writes).
fn decode_entry(
    key: &[u8],
    value: &[u8],
) -> Result<Option<DueMessage>, flit_storage::StorageError> {
    let (Some(due), Some(message)) = (
        key.get(0..8).and_then(|b| <[u8; 8]>::try_from(b).ok()),
        key.get(8..24).and_then(|b| <[u8; 16]>::try_from(b).ok()),
    ) else {
        return Ok(None);
    };
    Ok(Some(DueMessage {
        due: i64::try_from(u64::from_be_bytes(due)).unwrap_or(i64::MAX),
        message: MessageId::from_bytes(message),
        tenant: tables::SCHEDULE.decode(value)?,
    }))
}
