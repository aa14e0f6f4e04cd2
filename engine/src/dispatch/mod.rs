//! Dispatch: from accepted to delivered.
//!
//! Accepted recipients become `Job`s in the router's ready queue; the router picks a bind for
//! each (longest prefix, then priority, then weight; binds that are down are skipped) and puts a
//! `Submit` on that bind's queue; the bind's session sends it and reports what the carrier said;
//! the status writer turns those reports and the delivery receipts into recipient and message
//! states, SMSC-id mappings and refunds.
//!
//! Every queue between these actors is a lock-free queue owned by `DispatchShared`, outside
//! the actors, so an actor that crashes and restarts finds its work where it left it. What is
//! not yet handed to a channel is also in storage (the `dispatch` marker of the message and its
//! PENDING recipients), so a restart of the whole process re-queues it. A message scheduled for
//! later has a schedule entry instead, and reaches the ready queue through the scheduler
//! (`schedule/`), a block at a time.
//!
//! A cancelled message's recipients are CANCELLED on disk by the status writer; the jobs of
//! it still in the queues are dropped where they surface: the router checks
//! `DispatchShared::withdrawn` before handing a job to a bind, and each bind's queue before its
//! session takes a submit (`withdrawn.rs`). A deleted tenant's jobs go the same way.

pub mod bind;
pub mod binds;
pub mod cancel;
pub mod recovery;
pub mod router;
pub mod routes;
pub mod status;
pub mod withdrawn;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crossbeam::queue::SegQueue;
use dashmap::DashMap;
use flit_storage::{StorageError, Store};

use crate::clock::Clock;
use crate::ids::{BindId, MessageId, TenantId};
use crate::notify::NotifyShared;
use crate::numbers::Msisdn;
use crate::slot::ActorSlot;
use crate::store::records::{DeviceRoute, MessageRecord, UnixMillis};
use crate::store::tables;
use crate::tenants::actor::TenantSlot;

pub use bind::BindShared;
pub use router::RouterMsg;
pub use status::{DueMessage, StatusEvent, StatusMsg};
pub use withdrawn::Withdrawn;

const _: () = assert!(std::mem::size_of::<Job>() <= 64);

/// What every recipient of one message shares: held once per message, not once per job.
#[derive(Debug)]
pub struct JobMessage {
    pub tenant: TenantId,
    pub id: MessageId,
    pub text: Arc<str>,
    pub sender: Arc<str>,
    pub validity_until: Option<UnixMillis>,
    /// Through the tenant's phones, not a carrier.
    pub device: Option<DeviceRoute>,
}

/// One recipient of one message, on its way to a channel. Kept small (64 bytes): a backlog
/// of a million queued recipients is a million of these.
#[derive(Clone, Debug)]
pub struct Job {
    pub message: Arc<JobMessage>,
    /// This recipient's own text when the send was personalised.
    pub own_text: Option<Arc<str>>,
    pub msisdn: Msisdn,
    pub index: u32,
    pub parts: u16,
    /// Attempts made before this one.
    pub attempt: u16,
    /// The bind that failed the previous attempt, avoided if another can take it (as bytes:
    /// an id's 16-byte alignment would grow every job by 16 bytes).
    avoid: Option<[u8; 16]>,
}

impl Job {
    /// Steers the next attempt away from `bind` (if another bind can take it).
    pub fn set_avoid(&mut self, bind: Option<BindId>) {
        self.avoid = bind.map(BindId::to_bytes);
    }
    pub fn avoids(&self, bind: BindId) -> bool {
        self.avoid == Some(bind.to_bytes())
    }
    pub fn tenant(&self) -> TenantId {
        self.message.tenant
    }
    pub fn message(&self) -> MessageId {
        self.message.id
    }
    pub fn text(&self) -> &str {
        self.own_text.as_deref().unwrap_or(&self.message.text)
    }
    pub fn sender(&self) -> &str {
        &self.message.sender
    }
    pub fn validity_until(&self) -> Option<UnixMillis> {
        self.message.validity_until
    }
}

/// A lock-free queue whose consumer is an actor woken by `Kick` messages; at most one kick is
/// outstanding, so a burst of pushes costs one mailbox message.
pub struct WorkQueue<T> {
    items: SegQueue<T>,
    kicked: AtomicBool,
}

impl<T> Default for WorkQueue<T> {
    fn default() -> Self {
        WorkQueue {
            items: SegQueue::new(),
            kicked: AtomicBool::new(false),
        }
    }
}

impl<T> WorkQueue<T> {
    pub fn push(&self, item: T) {
        self.items.push(item);
    }
    pub fn pop(&self) -> Option<T> {
        self.items.pop()
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// True when the caller should send a kick (none is outstanding).
    fn claim_kick(&self) -> bool {
        !self.kicked.swap(true, Ordering::AcqRel)
    }
    /// Called by the consumer before it drains, so pushes after this point kick again.
    fn clear_kick(&self) {
        self.kicked.store(false, Ordering::Release);
    }
}

/// A tenant as dispatch sees it: where to send refunds.
pub struct TenantLink {
    pub slot: Arc<TenantSlot>,
}

/// Everything dispatch shares across actor restarts.
pub struct DispatchShared {
    pub store: Store,
    /// Where state changes record the events webhooks report.
    pub(crate) notify: Arc<NotifyShared>,
    pub tenants: DashMap<TenantId, TenantLink>,
    pub ready: WorkQueue<Job>,
    /// Jobs no bind could take; back to `ready` when a bind comes up or routes change.
    pub parked: SegQueue<Job>,
    pub status_events: WorkQueue<StatusEvent>,
    pub binds: DashMap<BindId, Arc<BindShared>>,
    /// Numeric sender IDs (phone numbers, short codes) → the tenant that owns them: inbound
    /// SMS to such a number belong to that tenant.
    pub numbers: DashMap<String, TenantId>,
    pub routes: std::sync::RwLock<Vec<crate::store::records::RouteRecord>>,
    pub router: ActorSlot<RouterMsg>,
    pub status: ActorSlot<StatusMsg>,
    next_submit_id: AtomicU64,
    /// Recipients accepted but not in memory as jobs: those of scheduled messages not yet due,
    /// and those of released messages the scheduler has not fed to `ready` yet. Counted in the
    /// backlog, so the cap holds whatever waits on disk too.
    unfed: AtomicUsize,
    /// Messages cancelled and tenants deleted in this run, whose jobs are dropped wherever
    /// they surface.
    pub withdrawn: Arc<Withdrawn>,
    /// Recipients a channel took in an earlier run and may have sent (a phone that pulled
    /// them): queued again at start, each goes back to that channel only.
    pub pinned: DashMap<(MessageId, u32), BindId>,
    /// The engine's clock: when validity periods end and cancels happen.
    pub clock: Clock,
}

impl DispatchShared {
    pub(crate) fn new(
        store: Store,
        clock: Clock,
        notify: Arc<NotifyShared>,
    ) -> Arc<DispatchShared> {
        Arc::new(DispatchShared {
            store,
            notify,
            tenants: DashMap::new(),
            ready: WorkQueue::default(),
            parked: SegQueue::new(),
            status_events: WorkQueue::default(),
            binds: DashMap::new(),
            numbers: DashMap::new(),
            routes: std::sync::RwLock::new(Vec::new()),
            router: ActorSlot::default(),
            status: ActorSlot::default(),
            next_submit_id: AtomicU64::new(1),
            unfed: AtomicUsize::new(0),
            withdrawn: Arc::new(Withdrawn::default()),
            pinned: DashMap::new(),
            clock,
        })
    }

    /// Hands jobs to the router.
    pub fn enqueue(&self, jobs: impl IntoIterator<Item = Job>) {
        for job in jobs {
            self.ready.push(job);
        }
        self.kick_router();
    }

    /// Hands a job back to the router after `delay` (retries with backoff).
    pub fn enqueue_later(self: &Arc<Self>, job: Job, delay: std::time::Duration) {
        // Weak: a timer must not keep the store open after shutdown (the job is still
        // PENDING on disk and is re-queued at the next start).
        let shared = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(shared) = shared.upgrade() {
                shared.enqueue([job]);
            }
        });
    }

    pub fn report(&self, event: StatusEvent) {
        self.status_events.push(event);
        if self.status_events.claim_kick() {
            match self.status.get() {
                Some(actor) => {
                    let _ = actor.cast(StatusMsg::Kick);
                }
                // Restarting: the new incarnation drains the queue when it starts.
                None => self.status_events.clear_kick(),
            }
        }
    }

    /// Hands every parked job back to the router (a bind came up, routes changed, or the
    /// periodic sweep that also expires jobs whose validity ran out while parked).
    pub fn unpark(&self) {
        let mut any = false;
        while let Some(job) = self.parked.pop() {
            self.ready.push(job);
            any = true;
        }
        if any {
            self.kick_router();
        }
    }

    pub fn kick_router(&self) {
        if self.ready.claim_kick() {
            match self.router.get() {
                Some(actor) => {
                    let _ = actor.cast(RouterMsg::Kick);
                }
                None => self.ready.clear_kick(),
            }
        }
    }

    /// Records that `sender` (if it is a number) belongs to `tenant`.
    pub fn claim_number(&self, sender: &str, tenant: TenantId) {
        let digits = sender.trim().trim_start_matches('+');
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            self.numbers.insert(digits.to_string(), tenant);
        }
    }

    /// Recipients accepted and not yet answered by a carrier: scheduled or not yet fed (on
    /// disk only), ready, parked, and queued or in flight at a bind. (Retries waiting out their
    /// backoff are not counted.)
    pub fn backlog(&self) -> usize {
        self.unfed.load(Ordering::Relaxed) + self.jobs_in_memory()
    }

    /// Jobs held in memory: ready, parked, and queued or in flight at a bind.
    pub fn jobs_in_memory(&self) -> usize {
        let at_binds: usize = self.binds.iter().map(|bind| bind.jobs.len()).sum();
        self.ready.len() + self.parked.len() + at_binds
    }

    /// `count` more recipients wait on disk (scheduled, or released and not yet fed).
    pub fn unfed_add(&self, count: usize) {
        self.unfed.fetch_add(count, Ordering::Relaxed);
    }

    /// `count` recipients stopped waiting on disk (fed, cancelled or refused). Saturating: a
    /// miscount must not wrap into a backlog that refuses every send.
    pub fn unfed_sub(&self, count: usize) {
        let _ = self
            .unfed
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |unfed| {
                Some(unfed.saturating_sub(count))
            });
    }

    pub fn next_submit_id(&self) -> u64 {
        self.next_submit_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The bind that takes traffic when no real bind exists (sandbox mode).
    pub fn sandbox_bind_id() -> BindId {
        BindId::from_bytes([0; 16])
    }

    pub fn is_sandbox_bind(id: BindId) -> bool {
        id == Self::sandbox_bind_id()
    }

    /// Sets the dispatch gauges (queue depths, per-bind queued, in flight and bound) to what
    /// they are now. Sampled when `/metrics` is scraped rather than on every push and pop, so
    /// the hot paths pay nothing for them and a scrape never sees a stale value.
    pub fn record_gauges(&self) {
        metrics::gauge!("flit_queue_depth", "queue" => "ready").set(self.ready.len() as f64);
        metrics::gauge!("flit_queue_depth", "queue" => "parked").set(self.parked.len() as f64);
        metrics::gauge!("flit_queue_depth", "queue" => "status_events")
            .set(self.status_events.len() as f64);
        metrics::gauge!("flit_backlog").set(self.backlog() as f64);
        let (mut online, mut offline, mut streams) = (0, 0, 0);
        let (mut queued, mut in_flight, mut stuck) = (0, 0, 0);
        for bind in self.binds.iter() {
            if let Some(phone) = bind.kind.device() {
                if phone.is_online() {
                    online += 1;
                } else {
                    offline += 1;
                }
                streams += phone.streams();
                queued += phone.queued();
                in_flight += phone.in_flight();
                stuck += phone.stuck();
                // Per phone only in the totals below: a label per phone would not scale.
                continue;
            }
            let snapshot = bind.snapshot();
            let name = snapshot.name;
            metrics::gauge!("flit_bind_queued", "bind" => name.clone()).set(snapshot.queued as f64);
            metrics::gauge!("flit_bind_in_flight", "bind" => name.clone())
                .set(snapshot.in_flight as f64);
            metrics::gauge!("flit_bind_bound", "bind" => name)
                .set(f64::from(u8::from(snapshot.bound)));
        }
        metrics::gauge!("flit_devices", "state" => "online").set(online as f64);
        metrics::gauge!("flit_devices", "state" => "offline").set(offline as f64);
        metrics::gauge!("flit_device_streams").set(streams as f64);
        metrics::gauge!("flit_device_messages", "state" => "queued").set(queued as f64);
        metrics::gauge!("flit_device_messages", "state" => "in_flight").set(in_flight as f64);
        metrics::gauge!("flit_device_messages", "state" => "stuck").set(stuck as f64);
    }

    /// True when no carrier bind is configured (the tenants' phones are no carrier).
    pub fn is_sandbox(&self) -> bool {
        self.binds
            .iter()
            .all(|bind| *bind.key() == Self::sandbox_bind_id() || bind.kind.device().is_some())
    }
}

impl JobMessage {
    /// What the jobs of `message` share, made once per message (or per release of it);
    /// `device` says it goes through the tenant's phones.
    pub fn of(message: &MessageRecord, device: Option<DeviceRoute>) -> Arc<JobMessage> {
        Arc::new(JobMessage {
            tenant: message.tenant,
            id: message.id,
            text: Arc::from(message.text.as_str()),
            sender: Arc::from(message.sender.as_str()),
            validity_until: message.validity_until,
            device,
        })
    }

    /// The same, reading from the store where `message` must go.
    pub fn read(store: &Store, message: &MessageRecord) -> Result<Arc<JobMessage>, StorageError> {
        let device = tables::DEVICE_ROUTES.get(store, &message.id)?;
        Ok(JobMessage::of(message, device))
    }
}

/// A recipient as a job is made from it: index, number, parts and its own text.
pub type JobRecipient = (u32, Msisdn, u16, Option<Arc<str>>);

/// The jobs of the message `shared` describes, for the given recipients.
pub fn jobs_of(
    shared: &Arc<JobMessage>,
    recipients: impl IntoIterator<Item = JobRecipient>,
) -> Vec<Job> {
    recipients
        .into_iter()
        .map(|(index, msisdn, parts, own_text)| Job {
            message: shared.clone(),
            own_text,
            msisdn,
            index,
            parts,
            attempt: 0,
            avoid: None,
        })
        .collect()
}
