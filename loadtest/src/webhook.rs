//! A webhook receiver: an HTTP server that takes Flit's webhook POSTs on a real socket, checks
//! their `X-Flit-Signature` against the secrets it knows, dedupes them by event id as a real
//! receiver must, counts what it saw (attempts, first deliveries, duplicates, bad signatures,
//! events by type, each recipient's last state) and injects faults: failed answers for the
//! first attempts of every event, random failures, and latency. `GET /stats` serves the counters
//! as JSON for scripts.
//!
//! `signature` owns the HMAC scheme, `event` the body's wire format, `cli` the
//! `flit-loadtest webhook-receiver` subcommand; e2e starts the receiver in-process.

pub mod cli;
mod event;
mod signature;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use event::{EventData, InboundData, MessageData, WebhookEvent, is_final_type};
pub use signature::{sign, verify};

/// The headers Flit sets on every webhook POST.
pub const EVENT_HEADER: &str = "x-flit-event";
pub const EVENT_ID_HEADER: &str = "x-flit-event-id";
pub const TIMESTAMP_HEADER: &str = "x-flit-timestamp";
pub const SIGNATURE_HEADER: &str = "x-flit-signature";

/// How long [`WebhookReceiverHandle::stop`] lets requests in flight finish before it drops
/// them.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How the receiver listens and which faults it injects.
#[derive(Debug, Clone)]
pub struct WebhookReceiverConfig {
    /// Port 0 picks a free port ([`WebhookReceiverHandle::addr`] tells which).
    pub listen: SocketAddr,
    /// Secrets a signature may be made with; changeable at run time
    /// ([`WebhookReceiverHandle::set_secrets`]) for a secret learnt after start or rotated.
    pub secrets: Vec<String>,
    /// Answer `fail_status` to the first N correctly signed attempts of every event id, then
    /// 2xx: each event then reaches the receiver N + 1 times, N of them retries.
    pub fail_first: u32,
    /// Probability of answering `fail_status` to an attempt `fail_first` let through.
    pub fail_rate: f64,
    /// The status of injected failures; one Flit retries on (5xx, 408, 429) unless the point is
    /// to see that it gives up.
    pub fail_status: u16,
    /// Sleep before every answer. A sender that gives up first sees no answer, but the event was
    /// already counted, so its retry is a duplicate: the case dedupe by event id is for.
    pub latency: Duration,
    /// Keep every accepted event for [`WebhookReceiverHandle::events`]. Off for long runs,
    /// whose counters are enough and whose events would fill memory.
    pub record_events: bool,
}

impl Default for WebhookReceiverConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            secrets: Vec::new(),
            fail_first: 0,
            fail_rate: 0.0,
            fail_status: 500,
            latency: Duration::ZERO,
            record_events: true,
        }
    }
}

impl WebhookReceiverConfig {
    fn validate(&self) -> anyhow::Result<StatusCode> {
        ensure!(
            (0.0..=1.0).contains(&self.fail_rate),
            "the webhook fail rate must be within 0..=1, got {}",
            self.fail_rate
        );
        let status = StatusCode::from_u16(self.fail_status)
            .with_context(|| format!("{} is not an HTTP status", self.fail_status))?;
        // A 2xx "failure" would be taken as a delivery and never retried, and the counts would
        // lie about what the sender saw.
        ensure!(
            !status.is_success(),
            "the injected failure status must not be 2xx, got {status}"
        );
        Ok(status)
    }
}

/// The receiver's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WebhookStats {
    /// Every POST, whatever its answer.
    pub attempts: u64,
    /// POSTs answered 2xx: first deliveries and duplicates.
    pub accepted: u64,
    /// POSTs answered `fail_status` by `fail_first` or `fail_rate`.
    pub injected_failures: u64,
    /// POSTs with a missing or wrong signature or timestamp, answered 401.
    pub bad_signatures: u64,
    /// Signed POSTs that are no event, or whose `X-Flit-Event*` headers contradict the body,
    /// answered 400.
    pub malformed: u64,
    /// Event ids accepted, each once.
    pub unique_events: u64,
    /// POSTs of an event id already accepted (answered 2xx again, counted once).
    pub duplicates: u64,
    /// Unique accepted events by type.
    pub by_type: BTreeMap<String, u64>,
    /// Distinct (messageId, recipient) pairs seen in message events.
    pub recipients: u64,
    /// Of those, the ones a delivered, failed or cancelled event has come for.
    pub recipients_final: u64,
    /// Recipients by the status of their latest event (a final one is never replaced by a
    /// non-final one that arrives late).
    pub recipients_by_status: BTreeMap<String, u64>,
    /// Final events for a recipient already final with another status (DELIVERED, then
    /// FAILED): the sender contradicted itself.
    pub final_conflicts: u64,
    /// TCP connections the sender opened: far fewer than `attempts` when it keeps them alive.
    pub connections: u64,
}

/// When unique events came in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookTimeline {
    pub first_accepted: Option<Instant>,
    pub last_accepted: Option<Instant>,
}

/// One event id's history at the receiver.
#[derive(Debug, Default)]
struct Seen {
    /// Correctly signed attempts so far (what `fail_first` counts).
    attempts: u32,
    accepted: bool,
}

/// A recipient's latest state.
#[derive(Debug)]
struct RecipientState {
    status: String,
    is_final: bool,
}

/// Everything the receiver records; one lock, taken for microseconds and never across an
/// await.
#[derive(Debug, Default)]
struct Book {
    stats: WebhookStats,
    seen: HashMap<String, Seen>,
    recipients: HashMap<(String, String), RecipientState>,
    events: Vec<WebhookEvent>,
    timeline: WebhookTimeline,
}

impl Book {
    fn count_status(&mut self, status: &str, delta: i64) {
        let count = self
            .stats
            .recipients_by_status
            .entry(status.to_owned())
            .or_default();
        *count = count.saturating_add_signed(delta);
        if *count == 0 {
            self.stats.recipients_by_status.remove(status);
        }
    }

    fn record_recipient(&mut self, event_type: &str, message: &MessageData) {
        let is_final = is_final_type(event_type);
        let key = (message.message_id.clone(), message.recipient.clone());
        let previous = match self.recipients.get(&key) {
            None => None,
            Some(old) if old.is_final && !is_final => return,
            Some(old) if old.is_final && old.status != message.status => {
                self.stats.final_conflicts += 1;
                return;
            }
            Some(old) => Some((old.status.clone(), old.is_final)),
        };
        match &previous {
            None => self.stats.recipients += 1,
            Some((status, _)) => self.count_status(status, -1),
        }
        if is_final && !previous.as_ref().is_some_and(|(_, was_final)| *was_final) {
            self.stats.recipients_final += 1;
        }
        self.count_status(&message.status, 1);
        self.recipients.insert(
            key,
            RecipientState {
                status: message.status.clone(),
                is_final,
            },
        );
    }
}

/// What the request handler shares with the handle.
struct Shared {
    fail_first: u32,
    fail_rate: f64,
    fail_status: StatusCode,
    latency: Duration,
    record_events: bool,
    secrets: RwLock<Vec<String>>,
    book: Mutex<Book>,
    /// Bumped on every unique accepted event, so that waiters wake without polling.
    accepted_tx: watch::Sender<u64>,
}

/// Locks carrying on through poisoning: every critical section leaves the book consistent
/// (counters and inserts), so a panic elsewhere must not wedge the receiver.
fn lock(book: &Mutex<Book>) -> MutexGuard<'_, Book> {
    book.lock().unwrap_or_else(PoisonError::into_inner)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

impl Shared {
    fn signed(&self, headers: &HeaderMap, body: &[u8]) -> bool {
        let (Some(timestamp), Some(signature)) = (
            header(headers, TIMESTAMP_HEADER),
            header(headers, SIGNATURE_HEADER),
        ) else {
            return false;
        };
        let secrets = self.secrets.read().unwrap_or_else(PoisonError::into_inner);
        verify(signature, timestamp, body, &secrets)
    }

    /// Records one POST and decides its answer.
    fn judge(&self, headers: &HeaderMap, body: &[u8]) -> StatusCode {
        let signed = self.signed(headers, body);
        let event = signed.then(|| WebhookEvent::parse(body));
        let mut guard = lock(&self.book);
        let book = &mut *guard;
        book.stats.attempts += 1;
        let event = match event {
            None => {
                book.stats.bad_signatures += 1;
                return StatusCode::UNAUTHORIZED;
            }
            Some(Err(_)) => {
                book.stats.malformed += 1;
                return StatusCode::BAD_REQUEST;
            }
            Some(Ok(event)) => event,
        };
        let contradicts = |name, value: &str| header(headers, name).is_some_and(|h| h != value);
        if contradicts(EVENT_ID_HEADER, &event.id) || contradicts(EVENT_HEADER, &event.event_type) {
            book.stats.malformed += 1;
            return StatusCode::BAD_REQUEST;
        }
        let seen = book.seen.entry(event.id.clone()).or_default();
        seen.attempts = seen.attempts.saturating_add(1);
        if seen.accepted {
            book.stats.duplicates += 1;
            book.stats.accepted += 1;
            return StatusCode::OK;
        }
        if seen.attempts <= self.fail_first
            || (self.fail_rate > 0.0 && rand::random::<f64>() < self.fail_rate)
        {
            book.stats.injected_failures += 1;
            return self.fail_status;
        }
        seen.accepted = true;
        book.stats.accepted += 1;
        book.stats.unique_events += 1;
        *book
            .stats
            .by_type
            .entry(event.event_type.clone())
            .or_default() += 1;
        if let Some(message) = event.message() {
            book.record_recipient(&event.event_type, message);
        }
        let now = Instant::now();
        book.timeline.first_accepted.get_or_insert(now);
        book.timeline.last_accepted = Some(now);
        if self.record_events {
            book.events.push(event);
        }
        drop(guard);
        self.accepted_tx.send_modify(|count| *count += 1);
        StatusCode::OK
    }

    fn stats(&self) -> WebhookStats {
        lock(&self.book).stats.clone()
    }
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let status = shared.judge(&headers, &body);
    if !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }
    status.into_response()
}

async fn stats(State(shared): State<Arc<Shared>>) -> axum::Json<WebhookStats> {
    axum::Json(shared.stats())
}

/// `GET /stats`; a POST to any path is a webhook.
fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/stats", get(stats))
        .fallback(receive)
        .with_state(shared)
}

/// Starts receivers ([`WebhookReceiver::start`]).
#[derive(Debug)]
pub struct WebhookReceiver;

impl WebhookReceiver {
    /// Binds `config.listen` and serves until the handle is stopped or dropped.
    pub async fn start(config: WebhookReceiverConfig) -> anyhow::Result<WebhookReceiverHandle> {
        let fail_status = config.validate()?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding the webhook receiver to {}", config.listen))?;
        let addr = listener
            .local_addr()
            .context("reading the webhook receiver's address")?;
        let shared = Arc::new(Shared {
            fail_first: config.fail_first,
            fail_rate: config.fail_rate,
            fail_status,
            latency: config.latency,
            record_events: config.record_events,
            secrets: RwLock::new(config.secrets),
            book: Mutex::new(Book::default()),
            accepted_tx: watch::Sender::new(0),
        });
        let (shutdown, mut shutdown_rx) = watch::channel(false);
        let app = router(Arc::clone(&shared));
        let counted = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            let stopped = async move {
                // An error means the handle is gone, which is a stop too.
                let _ = shutdown_rx.wait_for(|stop| *stop).await;
            };
            let listener = listener.tap_io(move |_| lock(&counted.book).stats.connections += 1);
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
            {
                tracing::warn!(%error, "the webhook receiver stopped serving");
            }
        });
        Ok(WebhookReceiverHandle {
            addr,
            shared,
            shutdown,
            task: Some(task),
        })
    }
}

/// A running receiver; dropping it stops the server too, but without waiting.
pub struct WebhookReceiverHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for WebhookReceiverHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookReceiverHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl WebhookReceiverHandle {
    /// The address listened on (the real port when `listen` had port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to register: `http://127.0.0.1:<port>/` (loopback when listening on every
    /// address).
    pub fn url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}/", SocketAddr::new(ip, self.addr.port()))
    }

    pub fn stats(&self) -> WebhookStats {
        self.shared.stats()
    }

    /// The accepted events, each once, in the order they were accepted (empty unless
    /// `record_events`).
    pub fn events(&self) -> Vec<WebhookEvent> {
        lock(&self.shared.book).events.clone()
    }

    /// The latest status of every (messageId, recipient) seen.
    pub fn recipient_statuses(&self) -> HashMap<(String, String), String> {
        lock(&self.shared.book)
            .recipients
            .iter()
            .map(|(key, state)| (key.clone(), state.status.clone()))
            .collect()
    }

    pub fn timeline(&self) -> WebhookTimeline {
        lock(&self.shared.book).timeline
    }

    /// Replaces the secrets signatures are checked against (a rotation: pass old and new).
    pub fn set_secrets(&self, secrets: Vec<String>) {
        *self
            .shared
            .secrets
            .write()
            .unwrap_or_else(PoisonError::into_inner) = secrets;
    }

    /// Waits until `unique_events` events have been accepted; false when `timeout` passed
    /// first.
    pub async fn wait_for(&self, unique_events: u64, timeout: Duration) -> bool {
        self.wait_until(|stats| stats.unique_events >= unique_events, timeout)
            .await
    }

    /// Waits until `done` holds for the counters, checked again after every unique accepted
    /// event; false when `timeout` passed first.
    pub async fn wait_until(
        &self,
        done: impl Fn(&WebhookStats) -> bool,
        timeout: Duration,
    ) -> bool {
        let mut accepted = self.shared.accepted_tx.subscribe();
        let waited = tokio::time::timeout(timeout, async {
            loop {
                accepted.mark_unchanged();
                if done(&self.stats()) {
                    return;
                }
                // The sender lives in `shared`, which `self` holds: this never errs.
                let _ = accepted.changed().await;
            }
        })
        .await;
        waited.is_ok()
    }

    /// Stops accepting, lets requests in flight finish (for at most a few seconds), and
    /// returns once the server is gone. The counters stay readable afterwards, complete.
    pub async fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(STOP_GRACE, &mut task).await.is_err()
        {
            task.abort();
        }
    }
}

impl Drop for WebhookReceiverHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, recipient: &str, status: &str) -> MessageData {
        MessageData {
            message_id: id.into(),
            recipient: recipient.into(),
            status: status.into(),
            error_code: None,
            parts: Some(1),
        }
    }

    #[test]
    fn a_recipient_ends_in_its_final_state_whatever_the_arrival_order() {
        let mut book = Book::default();
        book.record_recipient("message.sent", &message("m1", "r1", "SENT"));
        book.record_recipient("message.sent", &message("m1", "r2", "SENT"));
        book.record_recipient("message.delivered", &message("m1", "r1", "DELIVERED"));
        // r3's SENT comes after its FAILED (a retried event) and must not undo it.
        book.record_recipient("message.failed", &message("m2", "r3", "FAILED"));
        book.record_recipient("message.sent", &message("m2", "r3", "SENT"));
        assert_eq!(book.stats.recipients, 3);
        assert_eq!(book.stats.recipients_final, 2);
        assert_eq!(
            book.stats.recipients_by_status,
            BTreeMap::from([
                ("DELIVERED".to_owned(), 1),
                ("FAILED".to_owned(), 1),
                ("SENT".to_owned(), 1),
            ])
        );
        assert_eq!(book.stats.final_conflicts, 0);
        book.record_recipient("message.failed", &message("m1", "r1", "FAILED"));
        assert_eq!(book.stats.final_conflicts, 1);
        assert_eq!(book.stats.recipients_final, 2);
        assert_eq!(book.stats.recipients_by_status.get("DELIVERED"), Some(&1));
    }

    #[test]
    fn the_config_refuses_rates_and_statuses_that_make_no_sense() {
        let with = |fail_rate, fail_status| WebhookReceiverConfig {
            fail_rate,
            fail_status,
            ..WebhookReceiverConfig::default()
        };
        assert_eq!(
            with(0.5, 503).validate().expect("valid"),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert!(with(1.5, 500).validate().is_err());
        assert!(with(0.0, 204).validate().is_err());
        assert!(with(0.0, 42).validate().is_err());
    }
}
