//! The channel actor ("bind"): one per configured channel, whatever its kind (an SMPP bind, the
//! sandbox simulator). It owns the session, turns session events into status events, and
//! keeps the channel's live state.
//!
//! The bind's queue, its table of submitted jobs and its session's fault counts (with the last
//! error's text, the throttle pause) live in `BindShared`, outside the actor, so the admin view
//! tells what happened to the bind across reconnects and restarts of the actor.
//! The bind's queue drops, as its session takes them, submits whose message was cancelled
//! (or whose tenant was deleted) after the router handed them over (`BindShared::withdraw`).
//!
//! Restart policy: restarted by the root supervisor at once. A new incarnation cannot know
//! which of the old session's submits reached the carrier, so it hands every job of the table
//! back to the router: a message can be sent twice, at most the old window's worth.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use dashmap::DashMap;
use futures::future::BoxFuture;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use tokio::sync::mpsc;

use crate::channel::smpp::session::{SessionError, SessionStats};
use crate::channel::{ChannelKind, Session, SessionEvent, SubmitQueue};
use crate::dispatch::status::StatusEvent;
use crate::dispatch::{DispatchShared, Job, Withdrawn};
use crate::ids::BindId;
use crate::slot::ActorSlot;
use crate::supervisor::ChildSpec;

/// A job handed to a bind, and how many of its parts the session has answered for.
pub struct InFlight {
    pub job: Job,
    resolved: u8,
    /// When the router put its `Submit` on the bind's queue: `flit_submit_sm_latency_seconds`
    /// runs from here to each part's answer, so it includes the time spent queued.
    handed_at: tokio::time::Instant,
}

impl InFlight {
    pub fn new(job: Job) -> InFlight {
        InFlight {
            job,
            resolved: 0,
            handed_at: tokio::time::Instant::now(),
        }
    }
}

/// A bind's state that outlives its actor.
pub struct BindShared {
    pub id: BindId,
    pub name: String,
    pub kind: ChannelKind,
    /// The tenant that owns inbound SMS arriving here, when the operator said so.
    pub owner: Option<crate::ids::TenantId>,
    pub queue: Arc<SubmitQueue>,
    /// Every submitted job by correlation id, from hand-over until all its parts are answered.
    pub jobs: DashMap<u64, InFlight>,
    /// The current incarnation of this bind's actor.
    pub actor: ActorSlot<BindMsg>,
    bound: AtomicBool,
    removed: AtomicBool,
    submitted: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    receipts: AtomicU64,
    /// What the SMPP session went through; handed to every session this bind starts.
    session_stats: Arc<SessionStats>,
    /// Answers received from the session, numbered as the session counts them
    /// (`SessionStats::answers`); each is reported to the status writer with its number.
    answers: AtomicU64,
    /// Receipts and inbound SMS received from the session, numbered the same way.
    deliveries: AtomicU64,
}

/// Live state of a bind, for the admin API and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindSnapshot {
    pub id: BindId,
    pub name: String,
    pub bound: bool,
    pub in_flight: u64,
    pub queued: u64,
    pub submitted: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub receipts: u64,
    /// Every error below, added up.
    pub errors: u64,
    /// Successful binds: the first one and every reconnect.
    pub binds: u64,
    /// Bound sessions lost (reset, closed, dead link, unbind from the SMSC).
    pub disconnects: u64,
    /// Connect or bind attempts that failed without an SMSC status.
    pub connect_failures: u64,
    pub bind_refusals: u64,
    pub response_timeouts: u64,
    pub generic_nacks: u64,
    pub malformed_pdus: u64,
    /// Submits answered 0x58/0x14, and the pauses they caused.
    pub throttled: u64,
    pub throttle_pauses: u64,
    /// End and length of the current or last throttle pause.
    pub paused_until: Option<SystemTime>,
    pub last_pause: Option<Duration>,
    pub last_error: Option<SessionError>,
}

impl BindShared {
    /// The status writer has every answer up to number `upto` on disk: frees their window.
    pub fn record_answers(&self, upto: u64) {
        self.session_stats.record_answers(upto);
    }

    /// The same for receipts and inbound SMS: their `deliver_sm_resp` can go out.
    pub fn record_deliveries(&self, upto: u64) {
        self.session_stats.record_deliveries(upto);
    }

    /// A bind whose queue skips the submits of the work `withdrawn` holds.
    pub fn new(
        id: BindId,
        name: String,
        kind: ChannelKind,
        owner: Option<crate::ids::TenantId>,
        withdrawn: Arc<Withdrawn>,
    ) -> Arc<BindShared> {
        Arc::new_cyclic(|me: &Weak<BindShared>| {
            let me = me.clone();
            // Weak: the queue is the bind's own, so a strong reference would never be freed.
            let withdrawn = Box::new(move |submit: &crate::channel::Submit| {
                me.upgrade()
                    .is_some_and(|bind| bind.withdraw(submit.id, &withdrawn))
            });
            BindShared::with_queue(
                id,
                name,
                kind,
                owner,
                SubmitQueue::with_withdrawals(withdrawn),
            )
        })
    }

    fn with_queue(
        id: BindId,
        name: String,
        kind: ChannelKind,
        owner: Option<crate::ids::TenantId>,
        queue: SubmitQueue,
    ) -> BindShared {
        BindShared {
            id,
            kind,
            owner,
            queue: Arc::new(queue),
            jobs: DashMap::new(),
            actor: ActorSlot::default(),
            bound: AtomicBool::new(false),
            removed: AtomicBool::new(false),
            submitted: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            receipts: AtomicU64::new(0),
            session_stats: Arc::new(SessionStats::for_bind(&name)),
            answers: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            name,
        }
    }

    /// Whether submit `id` belongs to a cancelled message or a deleted tenant; if so its job
    /// is dropped here, so the session never sends it (a cancelled recipient is CANCELLED on
    /// disk already).
    fn withdraw(&self, id: u64, withdrawn: &Withdrawn) -> bool {
        if withdrawn.is_empty() {
            return false;
        }
        let dropped = self
            .jobs
            .get(&id)
            .is_some_and(|entry| withdrawn.drops(&entry.job));
        if !dropped {
            return false;
        }
        self.jobs.remove(&id);
        true
    }

    /// The router may hand this bind work.
    pub fn accepts_work(&self) -> bool {
        self.bound.load(Ordering::Acquire) && !self.removed.load(Ordering::Acquire)
    }

    pub fn mark_removed(&self) {
        self.removed.store(true, Ordering::Release);
    }

    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    pub fn snapshot(&self) -> BindSnapshot {
        let queued = self.queue.len() as u64;
        let stats = &self.session_stats;
        let count = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let pause = stats.pause();
        BindSnapshot {
            id: self.id,
            name: self.name.clone(),
            bound: self.bound.load(Ordering::Acquire),
            in_flight: (self.jobs.len() as u64).saturating_sub(queued),
            queued,
            submitted: self.submitted.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            receipts: self.receipts.load(Ordering::Relaxed),
            errors: stats.errors(),
            binds: count(&stats.binds),
            disconnects: count(&stats.disconnects),
            connect_failures: count(&stats.connect_failures),
            bind_refusals: count(&stats.bind_refusals),
            response_timeouts: count(&stats.response_timeouts),
            generic_nacks: count(&stats.generic_nacks),
            malformed_pdus: count(&stats.malformed_pdus),
            throttled: count(&stats.throttled),
            throttle_pauses: count(&stats.throttle_pauses),
            paused_until: pause.map(|(until, _)| until),
            last_pause: pause.map(|(_, length)| length),
            last_error: stats.last_error(),
        }
    }

    /// Takes every job this bind holds (queued or in flight) away from it.
    fn take_all_jobs(&self) -> Vec<Job> {
        while self.queue.pop().is_some() {}
        let ids: Vec<u64> = self.jobs.iter().map(|entry| *entry.key()).collect();
        ids.into_iter()
            .filter_map(|id| self.jobs.remove(&id))
            .map(|(_, in_flight)| in_flight.job)
            .collect()
    }

    /// Takes the jobs still waiting in the queue (not yet sent) away from it.
    fn take_queued_jobs(&self) -> Vec<Job> {
        let mut jobs = Vec::new();
        while let Some(submit) = self.queue.pop() {
            if let Some((_, in_flight)) = self.jobs.remove(&submit.id) {
                jobs.push(in_flight.job);
            }
        }
        jobs
    }
}

pub enum BindMsg {
    Session(SessionEvent),
}

pub struct BindActor;

/// How the supervisor starts (and restarts) a channel's actor.
pub(crate) struct BindChild {
    pub dispatch: Arc<DispatchShared>,
    pub bind: Arc<BindShared>,
}

impl ChildSpec for BindChild {
    fn describe(&self) -> String {
        format!("bind {}", self.bind.id)
    }

    fn label(&self) -> &'static str {
        "bind"
    }

    fn spawn(&self, supervisor: ActorCell) -> BoxFuture<'_, Result<ActorCell, String>> {
        Box::pin(async move {
            let args = BindArgs {
                shared: self.dispatch.clone(),
                bind: self.bind.clone(),
            };
            self.bind.actor.start(BindActor, args, supervisor).await
        })
    }

    fn vacate(&self) {
        self.bind.actor.set(None);
    }

    fn retired(&self) -> bool {
        self.bind.is_removed()
    }
}

pub struct BindArgs {
    pub shared: Arc<DispatchShared>,
    pub bind: Arc<BindShared>,
}

pub struct BindState {
    dispatch: Arc<DispatchShared>,
    bind: Arc<BindShared>,
    /// The session lives exactly as long as this incarnation (dropping it closes it).
    session: Option<Box<dyn Session>>,
    /// Registered once, so a part's answer costs no label allocation or registry lookup.
    metrics: BindMetrics,
}

/// This bind's submit_sm series (`bind` label = the bind's name).
struct BindMetrics {
    accepted: metrics::Counter,
    rejected_temporary: metrics::Counter,
    rejected_permanent: metrics::Counter,
    latency: metrics::Histogram,
}

impl BindMetrics {
    fn new(bind: &str) -> BindMetrics {
        let submits = |result: &'static str| metrics::counter!("flit_submit_sm_total", "bind" => bind.to_string(), "result" => result);
        BindMetrics {
            accepted: submits("accepted"),
            rejected_temporary: submits("rejected_temporary"),
            rejected_permanent: submits("rejected_permanent"),
            latency: metrics::histogram!("flit_submit_sm_latency_seconds", "bind" => bind.to_string()),
        }
    }
}

impl Actor for BindActor {
    type Msg = BindMsg;
    type State = BindState;
    type Arguments = BindArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<BindMsg>,
        args: BindArgs,
    ) -> Result<BindState, ActorProcessingErr> {
        let bind = args.bind;
        bind.bound.store(false, Ordering::Release);
        // Answers on their way to the previous incarnation are lost with it (their jobs are
        // re-routed below); numbering restarts from what the session has counted.
        let (answers, deliveries) = bind.session_stats.forget_unrecorded();
        bind.answers.store(answers, Ordering::Release);
        bind.deliveries.store(deliveries, Ordering::Release);
        // What a phone pulled stays with it (it may have sent it); the rest goes elsewhere.
        let orphans = if bind.kind.device().is_some() {
            bind.take_queued_jobs()
        } else {
            bind.take_all_jobs()
        };
        if !orphans.is_empty() {
            tracing::warn!(bind = %bind.id, jobs = orphans.len(), "bind restarted; re-routing its jobs");
            args.shared
                .enqueue(orphans.into_iter().map(|job| retry_elsewhere(job, bind.id)));
        }
        let (events_tx, mut events_rx) = mpsc::channel::<SessionEvent>(4096);
        let session = bind
            .kind
            .start(bind.queue.clone(), events_tx, bind.session_stats.clone());
        tokio::spawn(async move {
            while let Some(event) = events_rx.recv().await {
                if myself.cast(BindMsg::Session(event)).is_err() {
                    break;
                }
            }
        });
        Ok(BindState {
            dispatch: args.shared,
            metrics: BindMetrics::new(&bind.name),
            bind,
            session: Some(session),
        })
    }

    /// A deliberate stop (bind removed, shutdown): unbind gracefully, then hand every job
    /// still held here back to the router.
    async fn post_stop(
        &self,
        _myself: ActorRef<BindMsg>,
        state: &mut BindState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(session) = state.session.take() {
            session.shutdown().await;
        }
        state.bind.bound.store(false, Ordering::Release);
        let id = state.bind.id;
        if state.bind.kind.device().is_some() {
            let waiting = state.bind.take_queued_jobs();
            state
                .dispatch
                .enqueue(waiting.into_iter().map(|job| retry_elsewhere(job, id)));
            // What an unpaired phone took and never said it sent is lost with it: those
            // recipients fail (and are refunded) rather than risk a second SMS. At shutdown
            // they stay with the phone (on disk) for the next run.
            if state.bind.is_removed() {
                for job in state.bind.take_all_jobs() {
                    state.dispatch.report(StatusEvent::Abandoned {
                        job,
                        reason: "the phone was unpaired before it reported the message",
                    });
                }
            }
            return Ok(());
        }
        let jobs = state.bind.take_all_jobs();
        if !jobs.is_empty() {
            state
                .dispatch
                .enqueue(jobs.into_iter().map(|job| retry_elsewhere(job, id)));
        }
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<BindMsg>,
        message: BindMsg,
        state: &mut BindState,
    ) -> Result<(), ActorProcessingErr> {
        let BindMsg::Session(event) = message;
        state.on_session_event(event);
        Ok(())
    }
}

impl BindState {
    fn on_session_event(&mut self, event: SessionEvent) {
        let bind = &self.bind;
        match event {
            SessionEvent::Bound { system_id } => {
                tracing::info!(bind = %bind.id, %system_id, "bound");
                bind.bound.store(true, Ordering::Release);
                self.dispatch.unpark();
                self.dispatch.kick_router();
            }
            SessionEvent::Disconnected { reason } => {
                tracing::warn!(bind = %bind.id, %reason, "bind down");
                self.went_down();
            }
            SessionEvent::BindRefused { command_status } => {
                tracing::warn!(bind = %bind.id, command_status = format!("{command_status:#010x}"), "bind refused");
                self.went_down();
            }
            SessionEvent::PartAccepted {
                id,
                part,
                parts,
                smsc_message_id,
            } => {
                bind.accepted.fetch_add(1, Ordering::Relaxed);
                self.metrics.accepted.increment(1);
                let answer = bind.answers.fetch_add(1, Ordering::AcqRel) + 1;
                match self.resolve(id, part, parts) {
                    Some(job) => self.dispatch.report(StatusEvent::Accepted {
                        job,
                        bind: bind.id,
                        answer,
                        part,
                        parts,
                        smsc_id: smsc_message_id,
                    }),
                    None => self.dispatch.report(StatusEvent::Answered {
                        bind: bind.id,
                        answer,
                    }),
                }
            }
            SessionEvent::PartRejected {
                id,
                part,
                parts,
                command_status,
                temporary,
            } => {
                bind.rejected.fetch_add(1, Ordering::Relaxed);
                if temporary {
                    self.metrics.rejected_temporary.increment(1);
                } else {
                    self.metrics.rejected_permanent.increment(1);
                }
                let answer = bind.answers.fetch_add(1, Ordering::AcqRel) + 1;
                match self.resolve(id, part, parts) {
                    Some(job) => self.dispatch.report(StatusEvent::Rejected {
                        job,
                        bind: bind.id,
                        answer,
                        parts,
                        command_status,
                        temporary,
                    }),
                    None => self.dispatch.report(StatusEvent::Answered {
                        bind: bind.id,
                        answer,
                    }),
                }
            }
            SessionEvent::Throttled { pause } => {
                tracing::debug!(bind = %bind.id, ?pause, "throttled by the carrier");
                metrics::counter!("flit_bind_throttled_total").increment(1);
            }
            SessionEvent::Receipt(receipt) => {
                bind.receipts.fetch_add(1, Ordering::Relaxed);
                let delivery = bind.deliveries.fetch_add(1, Ordering::AcqRel) + 1;
                self.dispatch.report(StatusEvent::Receipt {
                    bind: bind.id,
                    delivery,
                    receipt,
                });
            }
            SessionEvent::Expired { id } => {
                if let Some((_, in_flight)) = bind.jobs.remove(&id) {
                    self.dispatch
                        .report(StatusEvent::Expired { job: in_flight.job });
                }
            }
            SessionEvent::Inbound(sms) => {
                let delivery = bind.deliveries.fetch_add(1, Ordering::AcqRel) + 1;
                self.dispatch.report(StatusEvent::Inbound {
                    bind: bind.id,
                    delivery,
                    sms,
                });
            }
        }
    }

    /// Counts one answered part of submit `id`; the job, and whether it is now fully answered.
    fn resolve(&self, id: u64, _part: u8, parts: u8) -> Option<Job> {
        let job = {
            let mut entry = self.bind.jobs.get_mut(&id)?;
            self.metrics
                .latency
                .record(entry.handed_at.elapsed().as_secs_f64());
            entry.resolved = entry.resolved.saturating_add(1);
            if entry.resolved < parts.max(1) {
                return Some(entry.job.clone());
            }
            entry.job.clone()
        };
        self.bind.jobs.remove(&id);
        self.bind.submitted.fetch_add(1, Ordering::Relaxed);
        Some(job)
    }

    /// The session is gone: work still waiting here goes to another bind if one is up.
    fn went_down(&mut self) {
        self.bind.bound.store(false, Ordering::Release);
        let waiting = self.bind.take_queued_jobs();
        if !waiting.is_empty() {
            self.dispatch.enqueue(
                waiting
                    .into_iter()
                    .map(|job| retry_elsewhere(job, self.bind.id)),
            );
        }
    }
}

fn retry_elsewhere(mut job: Job, bind: BindId) -> Job {
    job.set_avoid(Some(bind));
    job
}
