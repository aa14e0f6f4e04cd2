//! The bind actor: one per SMPP bind (and one for the sandbox simulator). It owns the session,
//! turns session events into status events, and keeps the bind's live state.
//!
//! The bind's queue and its table of submitted jobs live in `BindShared`, outside the actor.
//! Restart policy: restarted by the root supervisor at once. A new incarnation cannot know
//! which of the old session's submits reached the carrier, so it hands every job of the table
//! back to the router: a message can be sent twice, at most the old window's worth.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::mpsc;

use super::simulator::Simulator;
use super::status::StatusEvent;
use super::{DispatchShared, Job};
use crate::ids::BindId;
use crate::smpp::{SessionEvent, SubmitQueue};

/// How long the sandbox waits before "delivering".
pub const SANDBOX_RECEIPT_DELAY: Duration = Duration::from_millis(1000);

/// What kind of peer a bind talks to.
#[derive(Clone, Debug)]
pub enum BindKind {
    Simulator,
    Smpp(crate::smpp::BindConfig),
}

/// The running session of one incarnation of a bind actor.
enum Session {
    /// Held only to keep the simulator running; dropping it stops it.
    #[allow(dead_code)]
    Simulator(Simulator),
    Smpp(crate::smpp::SessionHandle),
}

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
    pub kind: BindKind,
    /// The tenant that owns inbound SMS arriving here, when the operator said so.
    pub owner: Option<crate::ids::TenantId>,
    pub queue: Arc<SubmitQueue>,
    /// Every submitted job by correlation id, from hand-over until all its parts are answered.
    pub jobs: DashMap<u64, InFlight>,
    /// The current incarnation of this bind's actor.
    pub actor: crate::supervisor::BindSlot,
    bound: AtomicBool,
    removed: AtomicBool,
    submitted: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    receipts: AtomicU64,
    errors: AtomicU64,
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
    pub errors: u64,
}

impl BindShared {
    pub fn new(
        id: BindId,
        name: String,
        kind: BindKind,
        owner: Option<crate::ids::TenantId>,
    ) -> Arc<BindShared> {
        Arc::new(BindShared {
            id,
            name,
            kind,
            owner,
            queue: Arc::new(SubmitQueue::new()),
            jobs: DashMap::new(),
            actor: crate::supervisor::BindSlot::default(),
            bound: AtomicBool::new(false),
            removed: AtomicBool::new(false),
            submitted: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            receipts: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        })
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
            errors: self.errors.load(Ordering::Relaxed),
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

pub struct BindArgs {
    pub shared: Arc<DispatchShared>,
    pub bind: Arc<BindShared>,
}

pub struct BindState {
    dispatch: Arc<DispatchShared>,
    bind: Arc<BindShared>,
    /// The session lives exactly as long as this incarnation (dropping it closes it).
    session: Option<Session>,
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
        let orphans = bind.take_all_jobs();
        if !orphans.is_empty() {
            tracing::warn!(bind = %bind.id, jobs = orphans.len(), "bind restarted; re-routing its jobs");
            args.shared
                .enqueue(orphans.into_iter().map(|job| retry_elsewhere(job, bind.id)));
        }
        let (events_tx, mut events_rx) = mpsc::channel::<SessionEvent>(4096);
        let session = match &bind.kind {
            BindKind::Simulator => Session::Simulator(Simulator::spawn(
                bind.queue.clone(),
                events_tx,
                SANDBOX_RECEIPT_DELAY,
            )),
            BindKind::Smpp(config) => Session::Smpp(crate::smpp::SessionHandle::spawn(
                config.clone(),
                bind.queue.clone(),
                events_tx,
            )),
        };
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
        if let Some(Session::Smpp(session)) = state.session.take() {
            session.shutdown().await;
        }
        state.bind.bound.store(false, Ordering::Release);
        let jobs = state.bind.take_all_jobs();
        if !jobs.is_empty() {
            let id = state.bind.id;
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
                bind.errors.fetch_add(1, Ordering::Relaxed);
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
                if let Some(job) = self.resolve(id, part, parts) {
                    self.dispatch.report(StatusEvent::Accepted {
                        job,
                        bind: bind.id,
                        part,
                        parts,
                        smsc_id: smsc_message_id,
                    });
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
                if let Some(job) = self.resolve(id, part, parts) {
                    self.dispatch.report(StatusEvent::Rejected {
                        job,
                        bind: bind.id,
                        part,
                        parts,
                        command_status,
                        temporary,
                    });
                }
            }
            SessionEvent::Throttled { pause } => {
                tracing::debug!(bind = %bind.id, ?pause, "throttled by the carrier");
                metrics::counter!("flit_bind_throttled_total").increment(1);
            }
            SessionEvent::Receipt(receipt) => {
                bind.receipts.fetch_add(1, Ordering::Relaxed);
                self.dispatch.report(StatusEvent::Receipt {
                    bind: bind.id,
                    receipt,
                });
            }
            SessionEvent::Inbound(sms) => {
                self.dispatch
                    .report(StatusEvent::Inbound { bind: bind.id, sms });
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
    job.avoid = Some(bind);
    job
}
