//! The pool's counters: lock-free counts and gauges every phone bumps, two latency histograms
//! behind short locks, and the registry of which phone pulled which message id, the one place
//! a message sent by two phones shows. For measurements (`devices-bench`) it can also keep a
//! log of every first pull with the event that led to it, and of when the server took each
//! final report.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasher as _, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::time::Instant;

/// Latencies above this are recorded as this (an hour: nothing a test waits for).
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Every counter a phone bumps. Gauges (`registered`, `online`, `sse_connected`) go up and
/// down; everything else only counts up.
#[derive(Debug, Default)]
pub struct Counters {
    pub registered: AtomicU64,
    pub registrations: AtomicU64,
    pub reregistrations: AtomicU64,
    pub registration_errors: AtomicU64,
    pub unauthorized: AtomicU64,
    pub online: AtomicU64,
    pub sse_connected: AtomicU64,
    pub sse_opens: AtomicU64,
    pub sse_failures: AtomicU64,
    pub events_enqueued: AtomicU64,
    pub events_cancelled: AtomicU64,
    pub events_other: AtomicU64,
    pub events_unknown: AtomicU64,
    pub pulls: AtomicU64,
    pub pull_errors: AtomicU64,
    pub messages_pulled: AtomicU64,
    pub recipients_pulled: AtomicU64,
    pub repulls: AtomicU64,
    pub duplicates: AtomicU64,
    pub relisted_after_final: AtomicU64,
    pub processed: AtomicU64,
    pub sent: AtomicU64,
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub expired: AtomicU64,
    pub cancelled: AtomicU64,
    pub patches: AtomicU64,
    pub patch_errors: AtomicU64,
    pub patches_abandoned: AtomicU64,
    pub inbound_generated: AtomicU64,
    pub inbound_posted: AtomicU64,
    pub inbound_failed: AtomicU64,
    pub inbound_no_webhook: AtomicU64,
    pub inbound_unverifiable: AtomicU64,
    pub dropouts: AtomicU64,
    pub protocol_errors: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn inc(counter: &AtomicU64) {
        Self::add(counter, 1);
    }

    pub fn dec(counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The counters, the histograms and the pull registry of one pool.
pub struct PoolStats {
    pub counters: Counters,
    /// From a `MessageEnqueued` event's arrival to the end of the pull that returned the message.
    event_to_pull: Mutex<Histogram<u64>>,
    /// From the message's `createdAt` to the end of the pull that returned it (same clock on
    /// both sides only when the server runs on this machine).
    created_to_pull: Mutex<Histogram<u64>>,
    /// Message id (hashed: 8 bytes an id however long) → index of the phone that pulled it
    /// first.
    pulled_by: Mutex<HashMap<u64, u32>>,
    hasher: RandomState,
    /// Every first pull of a message, when the pool was asked to keep them (`None`: not kept,
    /// so that a long soak does not grow a log nobody reads).
    pull_log: Option<Mutex<Vec<PullRecord>>>,
    /// When the server took reports of a final state (Delivered, Failed, Cancelled).
    final_reports: Mutex<FinalReports>,
}

#[derive(Debug, Default)]
struct FinalReports {
    last: Option<Instant>,
    /// Every one, oldest first, when the log is kept.
    log: Option<Vec<Instant>>,
}

/// A message a phone pulled for the first time, and what made it pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRecord {
    /// The phone's index in the pool.
    pub phone: u32,
    /// The id the server gave the message in the pull.
    pub message_id: String,
    /// When the oldest `MessageEnqueued` this pull answered reached the phone's stream reader
    /// (`None`: the pull had another cause, such as the stream opening or a retry).
    pub event_at: Option<Instant>,
    /// How many `MessageEnqueued` events this pull answered.
    pub events: u32,
    /// When the pull's answer had arrived.
    pub pulled_at: Instant,
}

/// What the registry says about a pulled message id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstPull {
    /// No phone pulled it before.
    New,
    /// This phone pulled it before (and has since forgotten it).
    Again,
    /// Another phone pulled it before: the server gave one message to two phones.
    OtherPhone,
}

impl PoolStats {
    /// Counters only; `keep_log` also keeps the log of first pulls ([`PullRecord`]) and of
    /// final reports.
    pub fn new(keep_log: bool) -> Self {
        Self {
            counters: Counters::default(),
            event_to_pull: Mutex::new(new_histogram()),
            created_to_pull: Mutex::new(new_histogram()),
            pulled_by: Mutex::new(HashMap::new()),
            hasher: RandomState::new(),
            pull_log: keep_log.then(|| Mutex::new(Vec::new())),
            final_reports: Mutex::new(FinalReports {
                last: None,
                log: keep_log.then(Vec::new),
            }),
        }
    }

    /// Notes a first pull, when the log is kept.
    pub fn log_pull(&self, record: impl FnOnce() -> PullRecord) {
        if let Some(log) = &self.pull_log {
            let record = record();
            log.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(record);
        }
    }

    /// The first pulls so far (empty when the log is not kept).
    pub fn pull_log(&self) -> Vec<PullRecord> {
        self.pull_log.as_ref().map_or_else(Vec::new, |log| {
            log.lock().unwrap_or_else(PoisonError::into_inner).clone()
        })
    }

    /// The server took a report of a final state just now.
    pub fn final_report(&self) {
        let mut reports = self
            .final_reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Taken under the lock, so that the log is in time order.
        let now = Instant::now();
        reports.last = Some(now);
        if let Some(log) = &mut reports.log {
            log.push(now);
        }
    }

    pub fn last_final_report(&self) -> Option<Instant> {
        self.final_reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last
    }

    /// When the server took each final report, oldest first (empty when the log is not kept).
    pub fn final_report_times(&self) -> Vec<Instant> {
        self.final_reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .log
            .clone()
            .unwrap_or_default()
    }

    pub fn record_event_to_pull(&self, latency: Duration) {
        record(&self.event_to_pull, latency);
    }

    pub fn record_created_to_pull(&self, latency: Duration) {
        record(&self.created_to_pull, latency);
    }

    /// Notes that phone `phone` pulled `message_id`, and says who had it before.
    pub fn first_pull(&self, message_id: &str, phone: u32) -> FirstPull {
        let key = self.hasher.hash_one(message_id);
        let mut pulled_by = self
            .pulled_by
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match pulled_by.entry(key) {
            Entry::Vacant(entry) => {
                entry.insert(phone);
                FirstPull::New
            }
            Entry::Occupied(entry) if *entry.get() == phone => FirstPull::Again,
            Entry::Occupied(_) => FirstPull::OtherPhone,
        }
    }

    pub fn snapshot(&self) -> DeviceStats {
        let c = &self.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        DeviceStats {
            registered: get(&c.registered),
            registrations: get(&c.registrations),
            reregistrations: get(&c.reregistrations),
            registration_errors: get(&c.registration_errors),
            unauthorized: get(&c.unauthorized),
            online: get(&c.online),
            sse_connected: get(&c.sse_connected),
            sse_opens: get(&c.sse_opens),
            sse_failures: get(&c.sse_failures),
            events_enqueued: get(&c.events_enqueued),
            events_cancelled: get(&c.events_cancelled),
            events_other: get(&c.events_other),
            events_unknown: get(&c.events_unknown),
            pulls: get(&c.pulls),
            pull_errors: get(&c.pull_errors),
            messages_pulled: get(&c.messages_pulled),
            recipients_pulled: get(&c.recipients_pulled),
            repulls: get(&c.repulls),
            duplicates: get(&c.duplicates),
            relisted_after_final: get(&c.relisted_after_final),
            processed: get(&c.processed),
            sent: get(&c.sent),
            delivered: get(&c.delivered),
            failed: get(&c.failed),
            expired: get(&c.expired),
            cancelled: get(&c.cancelled),
            patches: get(&c.patches),
            patch_errors: get(&c.patch_errors),
            patches_abandoned: get(&c.patches_abandoned),
            inbound_generated: get(&c.inbound_generated),
            inbound_posted: get(&c.inbound_posted),
            inbound_failed: get(&c.inbound_failed),
            inbound_no_webhook: get(&c.inbound_no_webhook),
            inbound_unverifiable: get(&c.inbound_unverifiable),
            dropouts: get(&c.dropouts),
            protocol_errors: get(&c.protocol_errors),
            event_to_pull: summary(&self.event_to_pull),
            created_to_pull: summary(&self.created_to_pull),
        }
    }
}

impl Default for PoolStats {
    fn default() -> Self {
        Self::new(false)
    }
}

/// A snapshot of the pool's counters. Recipient-level counts (`processed`, `sent`,
/// `delivered`, `failed`, `expired`) count one per phone number; the others per message or per
/// request.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeviceStats {
    /// Phones holding a device token now.
    pub registered: u64,
    /// Successful `POST /device`, first ones and re-registrations.
    pub registrations: u64,
    /// Of those, the ones after a 401.
    pub reregistrations: u64,
    /// Failed `POST /device` attempts.
    pub registration_errors: u64,
    /// 401 answers to a device token.
    pub unauthorized: u64,
    /// Registered phones not in a dropout now.
    pub online: u64,
    /// Phones with an open `/events` stream now.
    pub sse_connected: u64,
    pub sse_opens: u64,
    /// Stream attempts that failed or streams that broke.
    pub sse_failures: u64,
    pub events_enqueued: u64,
    pub events_cancelled: u64,
    /// `WebhooksUpdated`, `SettingsUpdated`, `MessagesExportRequested`.
    pub events_other: u64,
    /// Events with a name the app does not know (it drops them).
    pub events_unknown: u64,
    /// `GET /message` calls answered 2xx.
    pub pulls: u64,
    pub pull_errors: u64,
    /// Messages a phone pulled for the first time.
    pub messages_pulled: u64,
    pub recipients_pulled: u64,
    /// Messages listed again to the phone that already has them (it re-reports their state).
    pub repulls: u64,
    /// Messages pulled by a second phone. Must stay 0: a message would go out twice.
    pub duplicates: u64,
    /// Messages listed again after the phone had reported them final and forgotten them.
    pub relisted_after_final: u64,
    pub processed: u64,
    pub sent: u64,
    pub delivered: u64,
    pub failed: u64,
    /// Recipients failed with `TTL expired` (`validUntil` passed before the radio took them).
    pub expired: u64,
    /// Messages cancelled on the phone before the radio took them.
    pub cancelled: u64,
    /// `PATCH /message` calls answered 2xx.
    pub patches: u64,
    pub patch_errors: u64,
    /// Reports given up after the app's 10 attempts.
    pub patches_abandoned: u64,
    pub inbound_generated: u64,
    /// `sms:received` webhooks answered 2xx.
    pub inbound_posted: u64,
    /// `sms:received` webhooks given up on.
    pub inbound_failed: u64,
    /// Received SMS with no `sms:received` webhook listed (the app drops them too).
    pub inbound_no_webhook: u64,
    /// Received SMS signed with a key the phone made up, the server having sent none.
    pub inbound_unverifiable: u64,
    pub dropouts: u64,
    /// Answers the app would fail on or misread: wrong content type, JSON that does not fit,
    /// dates with other than 3 fraction digits, settings it rejects.
    pub protocol_errors: u64,
    pub event_to_pull: LatencySummary,
    pub created_to_pull: LatencySummary,
}

/// A latency distribution in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

fn new_histogram() -> Histogram<u64> {
    // Bounds that are valid constants: 1 µs to an hour at 3 significant figures.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
        .unwrap_or_else(|_| unreachable!("constant histogram bounds are valid"))
}

fn record(histogram: &Mutex<Histogram<u64>>, latency: Duration) {
    let micros = u64::try_from(latency.as_micros())
        .unwrap_or(MAX_LATENCY_US)
        .clamp(1, MAX_LATENCY_US);
    histogram
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .saturating_record(micros);
}

fn summary(histogram: &Mutex<Histogram<u64>>) -> LatencySummary {
    let histogram = histogram.lock().unwrap_or_else(PoisonError::into_inner);
    if histogram.is_empty() {
        return LatencySummary::default();
    }
    let ms = |micros: u64| micros as f64 / 1000.0;
    LatencySummary {
        count: histogram.len(),
        p50_ms: ms(histogram.value_at_quantile(0.50)),
        p99_ms: ms(histogram.value_at_quantile(0.99)),
        max_ms: ms(histogram.max()),
    }
}
