//! One simulated phone: what the app does between its gateway starting and stopping
//! (PROTOCOL.md §4), in one task that owns all of the phone's state, plus a stream reader task
//! that only turns `/events` into notes for it.
//!
//! The loop waits on the stream's notes, its own timers (the radio taking the next message, a
//! sent or delivery report coming back, a failed report's retry, a final message forgotten),
//! the next inbound SMS and the next dropout. Every call that answers 401 makes the phone do
//! what the app does when it starts: `PATCH /device`, and on 401 there `POST /device` with the
//! registration token; the real app only gets there at its next restart, the simulation at
//! once, so that a revoked token is visible in a run.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng as _};
use time::{OffsetDateTime, UtcOffset};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::client::{CallError, MobileApi, RegisterAuth};
use super::sse::SseParser;
use super::stats::{Counters, FirstPull, PullRecord};
use super::wire::{
    self, DevicePatchRequest, MessagePatch, ProcessingState, PullOrder, PulledMessage,
    RecipientReport, RegisterRequest, RegisterResponse, SimCard, SmsReceivedPayload,
    WebhookEnvelope,
};

/// The app's SSE reconnect delays (`SSEManager.scheduleReconnect`).
fn reconnect_delay(attempt: u32) -> Duration {
    match attempt {
        0..=5 => Duration::from_secs(5),
        6..=10 => Duration::from_secs(30),
        _ => Duration::from_secs(60),
    }
}

/// WorkManager's exponential backoff from its 10 s minimum, which the app's pull, report and
/// registration workers use; capped at its 5 h maximum, never reached in a run.
fn work_backoff(attempt: u32) -> Duration {
    Duration::from_secs(10)
        .saturating_mul(2u32.saturating_pow(attempt.min(11)))
        .min(Duration::from_secs(5 * 3600))
}

/// Protocol errors logged pool-wide before the rest are only counted.
const PROTOCOL_ERRORS_LOGGED: u64 = 20;
/// A 401 this soon after the previous start makes the next start wait (with backoff).
const RESTART_CALM: Duration = Duration::from_secs(60);
/// Attempts the app's `SendStateWorker` makes before it gives a report up.
const REPORT_ATTEMPTS: u32 = 10;
/// Attempts per `sms:received` delivery (the app's default `retry_count` is 15 with backoff
/// from 5 s; a load test needs to know sooner).
const WEBHOOK_ATTEMPTS: u32 = 3;
const WEBHOOK_RETRY: Duration = Duration::from_secs(1);
/// How long a final message is remembered, so that a re-listing is answered with its state
/// rather than sent again; the pool's registry catches later ones.
const FINAL_RETENTION: Duration = Duration::from_secs(120);
/// The error of a failed delivery report, in the app's words (`MessagesService`): status 64
/// is "permanent error, remote procedure error" in GSM 03.40.
const DELIVERY_FAILURE: &str = "Delivery result from SC +233200000000: 64";
/// Phones live in several zones, as real ones do: the server must read every offset.
const PHONE_OFFSETS: [(i8, i8); 4] = [(0, 0), (3, 0), (-5, 0), (5, 30)];

/// What the stream reader tells the phone, tagged with the reader's generation so that notes
/// of a reader already replaced are ignored.
#[derive(Debug)]
struct StreamNote {
    generation: u64,
    kind: NoteKind,
}

#[derive(Debug)]
enum NoteKind {
    Opened,
    Event {
        name: Option<String>,
        data: String,
        at: Instant,
    },
    /// The stream ended or broke after it had opened.
    Closed,
    /// The stream could not open.
    Failed(CallError),
}

/// A phone's own timers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// The radio is free: take the next queued message.
    Hand,
    Sent(String),
    Delivered(String),
    /// Retry the report of this message (the app's `SendStateWorker` re-reads the state).
    Report {
        id: String,
        attempt: u32,
    },
    Forget(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Pulled, waiting for the radio; the only stage a cancel reaches.
    Queued,
    /// Handed to the radio.
    Radio,
    Final,
}

#[derive(Debug)]
struct LocalMessage {
    recipients: Vec<Recipient>,
    /// Every aggregate state the message reached, with the first time (the app's `states`).
    states: BTreeMap<ProcessingState, String>,
    stage: Stage,
    with_delivery_report: bool,
    valid_until: Option<OffsetDateTime>,
    queued_at: Instant,
    /// A report that failed with a 401: sent again once the phone holds a token again.
    unreported: bool,
}

#[derive(Debug)]
struct Recipient {
    phone_number: String,
    state: ProcessingState,
    error: Option<String>,
}

impl LocalMessage {
    fn aggregate(&self) -> ProcessingState {
        ProcessingState::aggregate(self.recipients.iter().map(|r| r.state).collect::<Vec<_>>())
    }

    /// Notes the aggregate state in `states` the first time it is reached.
    fn stamp(&mut self, now: &str) {
        let state = self.aggregate();
        self.states.entry(state).or_insert_with(|| now.to_owned());
    }

    fn patch(&self, id: &str) -> MessagePatch {
        MessagePatch {
            id: id.to_owned(),
            state: self.aggregate(),
            recipients: self
                .recipients
                .iter()
                .map(|r| RecipientReport {
                    phone_number: r.phone_number.clone(),
                    state: r.state,
                    error: r.error.clone(),
                })
                .collect(),
            states: self.states.clone(),
        }
    }
}

/// What led to a pull, handed to each item it listed.
#[derive(Debug, Clone, Copy)]
struct PullTrigger {
    /// Arrival of the oldest `MessageEnqueued` the pull answered.
    event_at: Option<Instant>,
    /// How many `MessageEnqueued` it answered.
    events: u32,
    /// When its answer had arrived.
    pulled_at: Instant,
}

/// A 401 on a device call: the phone registers again before it goes on.
#[derive(Debug)]
struct Unauthorized;

type Step = Result<(), Unauthorized>;

/// What woke the loop.
enum Wake {
    Stop,
    Note(StreamNote),
    Timer,
    Inbound,
    Dropout,
    PullRetry,
    PostDone,
}

struct StreamTask {
    task: JoinHandle<()>,
    /// Whether it counts in the `sse_connected` gauge.
    open: bool,
}

pub(super) struct Phone {
    shared: Arc<Shared>,
    index: u32,
    rng: StdRng,
    /// The SIM's own number: `recipient` of received SMS.
    msisdn: String,
    offset: UtcOffset,
    identity: Option<RegisterResponse>,
    /// Whether this phone counts in the `registered` and `online` gauges.
    counted: bool,
    order: PullOrder,
    signing_key: String,
    key_from_server: bool,
    /// `messages.send_interval_min..=max` in seconds, spacing the radio's hand-offs.
    send_interval: Option<(u64, u64)>,
    /// `(webhook id, url)` of every `sms:received` webhook listed.
    inbound_webhooks: Vec<(String, String)>,
    messages: HashMap<String, LocalMessage>,
    queue: VecDeque<String>,
    hand_scheduled: bool,
    radio_free_at: Instant,
    timers: BinaryHeap<Reverse<(Instant, u64, Timer)>>,
    timer_seq: u64,
    stream: Option<StreamTask>,
    generation: u64,
    notes_tx: mpsc::Sender<StreamNote>,
    notes_rx: mpsc::Receiver<StreamNote>,
    /// Arrival of the oldest `MessageEnqueued` no pull has answered yet.
    enqueued_since: Option<Instant>,
    /// How many `MessageEnqueued` arrived since the last pull answered.
    enqueued_events: u32,
    pull_retry: Option<Instant>,
    pull_failures: u32,
    next_inbound: Option<Instant>,
    next_dropout: Option<Instant>,
    /// Webhook deliveries in flight; aborted when the phone stops.
    posts: JoinSet<()>,
}

impl Phone {
    pub(super) fn new(shared: Arc<Shared>, index: usize) -> Self {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let mut rng = StdRng::seed_from_u64(shared.config.seed.wrapping_add(u64::from(index)));
        let (hours, minutes) = PHONE_OFFSETS[index as usize % PHONE_OFFSETS.len()];
        // The table holds valid offsets only.
        let offset = UtcOffset::from_hms(hours, minutes, 0).unwrap_or(UtcOffset::UTC);
        let (notes_tx, notes_rx) = mpsc::channel(64);
        // Until the server sends one, the app signs with a key it makes up (`WebhooksSettings`).
        let signing_key = wire::nano_id(&mut rng)[..8].to_owned();
        Self {
            order: shared.config.order,
            msisdn: format!("+23350{:07}", index),
            shared,
            index,
            rng,
            offset,
            identity: None,
            counted: false,
            signing_key,
            key_from_server: false,
            send_interval: None,
            inbound_webhooks: Vec::new(),
            messages: HashMap::new(),
            queue: VecDeque::new(),
            hand_scheduled: false,
            radio_free_at: Instant::now(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
            stream: None,
            generation: 0,
            notes_tx,
            notes_rx,
            enqueued_since: None,
            enqueued_events: 0,
            pull_retry: None,
            pull_failures: 0,
            next_inbound: None,
            next_dropout: None,
            posts: JoinSet::new(),
        }
    }

    fn counters(&self) -> &Counters {
        &self.shared.stats.counters
    }

    fn api(&self) -> &MobileApi {
        &self.shared.api
    }

    fn now_text(&self) -> String {
        wire::app_date(OffsetDateTime::now_utc(), self.offset)
    }

    fn token(&self) -> Option<String> {
        self.identity
            .as_ref()
            .map(|identity| identity.token.clone())
    }

    pub(super) async fn run(mut self, start_after: Duration, cancel: CancellationToken) {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = sleep(start_after) => {}
        }
        if !self.start_gateway(&cancel).await {
            return;
        }
        self.next_inbound = self.poisson(self.shared.config.inbound_per_minute);
        self.next_dropout = self.poisson(self.shared.config.dropout_rate);
        let mut last_restart = None;
        let mut restarts = 0;
        loop {
            let wake = self.wait(&cancel).await;
            let step = match wake {
                Wake::Stop => break,
                Wake::Note(note) => self.on_notes(note).await,
                Wake::Timer => self.on_timers().await,
                Wake::Inbound => {
                    self.receive_sms();
                    Ok(())
                }
                Wake::Dropout => {
                    if !self.drop_out(&cancel).await {
                        break;
                    }
                    Ok(())
                }
                Wake::PullRetry => self.pull().await,
                Wake::PostDone => Ok(()),
            };
            if step.is_err() {
                Counters::inc(&self.counters().unauthorized);
                // A server that takes the token on `PATCH /device` but refuses it elsewhere
                // would otherwise have the phone start over in a tight loop.
                let recent = last_restart.is_some_and(|at: Instant| at.elapsed() < RESTART_CALM);
                restarts = if recent { restarts + 1 } else { 0 };
                last_restart = Some(Instant::now());
                if restarts > 0 {
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = sleep(work_backoff(restarts - 1)) => {}
                    }
                }
                if !self.start_gateway(&cancel).await {
                    break;
                }
            }
        }
        self.stop_stream();
        if self.counted {
            Counters::dec(&self.counters().registered);
            Counters::dec(&self.counters().online);
        }
    }

    async fn wait(&mut self, cancel: &CancellationToken) -> Wake {
        let timer_at = self.timers.peek().map(|Reverse((at, _, _))| *at);
        let far = Instant::now() + Duration::from_secs(86_400);
        tokio::select! {
            () = cancel.cancelled() => Wake::Stop,
            Some(note) = self.notes_rx.recv() => Wake::Note(note),
            () = sleep_until(timer_at.unwrap_or(far)), if timer_at.is_some() => Wake::Timer,
            () = sleep_until(self.next_inbound.unwrap_or(far)), if self.next_inbound.is_some() => Wake::Inbound,
            () = sleep_until(self.next_dropout.unwrap_or(far)), if self.next_dropout.is_some() => Wake::Dropout,
            () = sleep_until(self.pull_retry.unwrap_or(far)), if self.pull_retry.is_some() => Wake::PullRetry,
            Some(_) = self.posts.join_next(), if !self.posts.is_empty() => Wake::PostDone,
        }
    }

    /// The next moment of a Poisson process of `per_minute` events a minute.
    fn poisson(&mut self, per_minute: f64) -> Option<Instant> {
        if per_minute <= 0.0 {
            return None;
        }
        // 1 - u is in (0, 1]: its logarithm is finite.
        let u: f64 = self.rng.random();
        let secs = -(1.0 - u).ln() * 60.0 / per_minute;
        Some(Instant::now() + Duration::from_secs_f64(secs.min(86_400.0)))
    }

    fn schedule(&mut self, at: Instant, timer: Timer) {
        self.timer_seq += 1;
        self.timers.push(Reverse((at, self.timer_seq, timer)));
    }

    // ---------------------------------------------------------------------------------------
    // Gateway start: registration, settings, webhooks, stream.

    /// What the app does when its gateway starts: `PATCH /device` when it holds a token, and
    /// `POST /device` when it does not or that answered 401; then settings, webhooks and the
    /// stream. Retries with WorkManager's backoff until it gets through; `false` when stopped.
    async fn start_gateway(&mut self, cancel: &CancellationToken) -> bool {
        self.stop_stream();
        let mut attempt = 0;
        loop {
            match self.register().await {
                Ok(()) => {
                    let settings = self.fetch_settings().await;
                    if settings.is_ok() && self.fetch_webhooks().await.is_ok() {
                        break;
                    }
                    // A token that worked a moment ago answers 401: start again.
                    Counters::inc(&self.counters().unauthorized);
                }
                Err(error) => {
                    Counters::inc(&self.counters().registration_errors);
                    // A wrong URL or token fails every phone alike: one says it, the
                    // counters tell how many.
                    if self.index == 0 {
                        tracing::warn!(phone = self.index, %error, "registration failed");
                    } else {
                        tracing::debug!(phone = self.index, %error, "registration failed");
                    }
                }
            }
            let delay = work_backoff(attempt);
            attempt += 1;
            tokio::select! {
                () = cancel.cancelled() => return false,
                () = sleep(delay) => {}
            }
        }
        self.start_stream();
        // Reports lost to a 401 go out with the new token.
        let unreported: Vec<String> = self
            .messages
            .iter()
            .filter(|(_, message)| message.unreported)
            .map(|(id, _)| id.clone())
            .collect();
        for id in unreported {
            self.schedule(Instant::now(), Timer::Report { id, attempt: 0 });
        }
        true
    }

    async fn register(&mut self) -> Result<(), CallError> {
        let shared = Arc::clone(&self.shared);
        let sim_cards = vec![SimCard {
            slot_index: 0,
            sim_number: 1,
            phone_number: Some(wire::redact(&self.msisdn)),
            carrier_name: Some(wire::redact("Flit Mobile")),
            iccid: Some(wire::redact(&format!("89233010000{:09}", self.index))),
        }];
        if let Some(identity) = &self.identity {
            let patch = DevicePatchRequest {
                id: identity.id.clone(),
                push_token: None,
                sim_cards: sim_cards.clone(),
            };
            match shared.api.patch_device(&identity.token, &patch).await {
                Ok(()) => return Ok(()),
                Err(CallError::Unauthorized) => {}
                Err(error) => return Err(error),
            }
        }
        let request = RegisterRequest {
            name: format!("flit-sim/phone-{:04}", self.index),
            push_token: None,
            sim_cards,
        };
        let config = &shared.config;
        // A pairing code is single use: only the first registration has one. Later ones go
        // the app's way, with the private token or with nothing.
        let code = config
            .codes
            .get(self.index as usize)
            .filter(|_| self.identity.is_none());
        let auth = match (code, &config.registration_token) {
            (Some(code), _) => RegisterAuth::Code(code),
            (None, Some(token)) => RegisterAuth::Token(token),
            (None, None) => RegisterAuth::None,
        };
        let identity = shared.api.register(auth, &request).await?;
        let counters = &shared.stats.counters;
        Counters::inc(&counters.registrations);
        if self.identity.is_some() {
            Counters::inc(&counters.reregistrations);
        }
        if !self.counted {
            self.counted = true;
            Counters::inc(&counters.registered);
            Counters::inc(&counters.online);
        }
        shared
            .device_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)[self.index as usize] =
            Some(identity.id.clone());
        self.identity = Some(identity);
        Ok(())
    }

    async fn fetch_settings(&mut self) -> Step {
        let Some(token) = self.token() else {
            return Ok(());
        };
        match self.api().settings(&token).await {
            Ok(value) => {
                let settings = wire::read_settings(&value);
                for violation in &settings.violations {
                    self.protocol_error(violation);
                }
                // The app imports key by key and stops at the first bad one; the simulation
                // takes what it understands and counts the rest.
                if let Some(key) = settings.signing_key {
                    self.signing_key = key;
                    self.key_from_server = true;
                }
                if let Some(order) = settings.processing_order {
                    self.order = order;
                }
                self.send_interval = settings.send_interval;
                Ok(())
            }
            Err(CallError::Unauthorized) => Err(Unauthorized),
            Err(error) => {
                self.call_failed("GET /settings", &error);
                Ok(())
            }
        }
    }

    async fn fetch_webhooks(&mut self) -> Step {
        let Some(token) = self.token() else {
            return Ok(());
        };
        match self.api().webhooks(&token).await {
            Ok(list) => {
                let mut inbound = Vec::new();
                for entry in list {
                    let Some(id) = entry.id else {
                        // `requireNotNull` in the app's sync: the whole list is refused.
                        self.protocol_error("a webhook without an id: the app refuses the list");
                        return Ok(());
                    };
                    if entry.event == wire::WEBHOOK_SMS_RECEIVED {
                        inbound.push((id, entry.url));
                    }
                }
                self.inbound_webhooks = inbound;
                Ok(())
            }
            Err(CallError::Unauthorized) => Err(Unauthorized),
            Err(error) => {
                self.call_failed("GET /webhooks", &error);
                Ok(())
            }
        }
    }

    fn start_stream(&mut self) {
        self.stop_stream();
        let Some(token) = self.token() else {
            return;
        };
        self.generation += 1;
        let task = tokio::spawn(read_stream(
            self.api().clone(),
            token,
            self.generation,
            self.notes_tx.clone(),
        ));
        self.stream = Some(StreamTask { task, open: false });
    }

    fn stop_stream(&mut self) {
        if let Some(stream) = self.stream.take() {
            stream.task.abort();
            if stream.open {
                Counters::dec(&self.counters().sse_connected);
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // The stream.

    /// Handles `first` and every note already waiting, then pulls once if any asked for it:
    /// a burst of `MessageEnqueued` is one pull, as the app's unique pull worker makes it.
    async fn on_notes(&mut self, first: StreamNote) -> Step {
        let mut pull = self.on_note(first).await?;
        while let Ok(note) = self.notes_rx.try_recv() {
            pull |= self.on_note(note).await?;
        }
        if pull { self.pull().await } else { Ok(()) }
    }

    /// Returns whether the note asks for a pull.
    async fn on_note(&mut self, note: StreamNote) -> Result<bool, Unauthorized> {
        if note.generation != self.generation {
            return Ok(false);
        }
        let counters = &self.shared.stats.counters;
        match note.kind {
            NoteKind::Opened => {
                Counters::inc(&counters.sse_opens);
                if let Some(stream) = &mut self.stream
                    && !stream.open
                {
                    stream.open = true;
                    Counters::inc(&counters.sse_connected);
                }
                // The app pulls whenever its stream opens.
                Ok(true)
            }
            NoteKind::Failed(CallError::Unauthorized) => Err(Unauthorized),
            NoteKind::Failed(error) => {
                if let CallError::Protocol(why) = &error {
                    self.protocol_error(&format!("GET /events: {why}"));
                }
                self.stream_lost();
                Ok(false)
            }
            NoteKind::Closed => {
                self.stream_lost();
                Ok(false)
            }
            NoteKind::Event { name, data, at } => {
                match name.as_deref().unwrap_or(wire::EVENT_MESSAGE_ENQUEUED) {
                    wire::EVENT_MESSAGE_ENQUEUED => {
                        Counters::inc(&counters.events_enqueued);
                        self.enqueued_since.get_or_insert(at);
                        self.enqueued_events += 1;
                        Ok(true)
                    }
                    wire::EVENT_MESSAGE_CANCELLED => {
                        Counters::inc(&counters.events_cancelled);
                        let id = serde_json::from_str::<serde_json::Value>(&data)
                            .ok()
                            .and_then(|v| v.get("messageId")?.as_str().map(str::to_owned));
                        match id {
                            Some(id) => self.cancel(&id, None).await?,
                            None => self.protocol_error(&format!(
                                "MessageCancelled without a messageId: {data}"
                            )),
                        }
                        Ok(false)
                    }
                    wire::EVENT_WEBHOOKS_UPDATED => {
                        Counters::inc(&counters.events_other);
                        self.fetch_webhooks().await?;
                        Ok(false)
                    }
                    wire::EVENT_SETTINGS_UPDATED => {
                        Counters::inc(&counters.events_other);
                        self.fetch_settings().await?;
                        Ok(false)
                    }
                    wire::EVENT_MESSAGES_EXPORT_REQUESTED => {
                        // Re-posting the inbox as webhooks: nothing in a simulated inbox.
                        Counters::inc(&counters.events_other);
                        Ok(false)
                    }
                    _ => {
                        Counters::inc(&counters.events_unknown);
                        Ok(false)
                    }
                }
            }
        }
    }

    fn stream_lost(&mut self) {
        let counters = &self.shared.stats.counters;
        Counters::inc(&counters.sse_failures);
        if let Some(stream) = &mut self.stream
            && stream.open
        {
            stream.open = false;
            Counters::dec(&counters.sse_connected);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Pulling.

    async fn pull(&mut self) -> Step {
        let Some(token) = self.token() else {
            return Ok(());
        };
        self.pull_retry = None;
        let listed = match self.api().pull(&token, self.order).await {
            Ok(listed) => listed,
            Err(CallError::Unauthorized) => return Err(Unauthorized),
            Err(error) => {
                Counters::inc(&self.counters().pull_errors);
                self.call_failed("GET /message", &error);
                self.retry_pull();
                return Ok(());
            }
        };
        let pulled_at = Instant::now();
        Counters::inc(&self.counters().pulls);
        // Gson reads the list whole: one item the app cannot read fails them all.
        if let Some(problem) = listed.iter().find_map(unreadable) {
            Counters::inc(&self.counters().pull_errors);
            self.protocol_error(&problem);
            self.retry_pull();
            return Ok(());
        }
        self.pull_failures = 0;
        let trigger = PullTrigger {
            event_at: self.enqueued_since.take(),
            events: std::mem::take(&mut self.enqueued_events),
            pulled_at,
        };
        for item in listed {
            for date in [&item.valid_until, &item.schedule_at, &item.created_at]
                .into_iter()
                .flatten()
            {
                if let Err(wire::DateProblem::Misread(text)) = wire::parse_server_date(date) {
                    self.protocol_error(&format!(
                        "date {text:?} of message {} has other than 3 fraction digits",
                        item.id
                    ));
                }
            }
            match item.listed_state() {
                ProcessingState::Pending => self.listed(item, trigger).await?,
                ProcessingState::Cancelling => {
                    let numbers = item.phone_numbers.clone();
                    self.cancel(&item.id, Some(numbers)).await?;
                }
                // The app ignores items in any other state.
                _ => {}
            }
        }
        Ok(())
    }

    fn retry_pull(&mut self) {
        self.pull_retry = Some(Instant::now() + work_backoff(self.pull_failures));
        self.pull_failures += 1;
    }

    /// A pending item: queued if new, its state re-reported if the phone has it.
    async fn listed(&mut self, item: PulledMessage, trigger: PullTrigger) -> Step {
        let PullTrigger {
            event_at,
            events,
            pulled_at,
        } = trigger;
        if self.messages.contains_key(&item.id) {
            Counters::inc(&self.counters().repulls);
            return self.report(&item.id, 0).await;
        }
        let stats = &self.shared.stats;
        match stats.first_pull(&item.id, self.index) {
            FirstPull::New => {}
            FirstPull::Again => {
                // Reported final and forgotten: the app's database would still hold it, and it
                // would not send it again either.
                Counters::inc(&stats.counters.relisted_after_final);
                return Ok(());
            }
            FirstPull::OtherPhone => {
                Counters::inc(&stats.counters.duplicates);
                tracing::error!(
                    phone = self.index,
                    message = %item.id,
                    "a message another phone already pulled"
                );
            }
        }
        Counters::inc(&stats.counters.messages_pulled);
        stats.log_pull(|| PullRecord {
            phone: self.index,
            message_id: item.id.clone(),
            event_at,
            events,
            pulled_at,
        });
        Counters::add(
            &stats.counters.recipients_pulled,
            item.phone_numbers.len() as u64,
        );
        if let Some(event_at) = event_at {
            stats.record_event_to_pull(pulled_at.saturating_duration_since(event_at));
        }
        if let Some(Ok(created)) = item.created_at.as_deref().map(wire::parse_server_date) {
            let age = OffsetDateTime::now_utc() - created;
            stats.record_created_to_pull(age.try_into().unwrap_or(Duration::ZERO));
        }
        let now = self.now_text();
        let mut message = LocalMessage {
            recipients: item
                .phone_numbers
                .iter()
                .map(|number| Recipient {
                    phone_number: number.clone(),
                    state: ProcessingState::Pending,
                    error: None,
                })
                .collect(),
            states: BTreeMap::new(),
            stage: Stage::Queued,
            with_delivery_report: item.with_delivery_report.unwrap_or(true),
            valid_until: item
                .valid_until
                .as_deref()
                .and_then(|text| wire::parse_server_date(text).ok()),
            queued_at: Instant::now(),
            unreported: false,
        };
        message.stamp(&now);
        self.messages.insert(item.id.clone(), message);
        self.queue.push_back(item.id);
        self.schedule_hand();
        Ok(())
    }

    // ---------------------------------------------------------------------------------------
    // Sending.

    /// Sets the radio's next hand-off for the head of the queue, if none is set.
    fn schedule_hand(&mut self) {
        if self.hand_scheduled {
            return;
        }
        let Some(head) = self.queue.front() else {
            return;
        };
        let Some(message) = self.messages.get(head) else {
            return;
        };
        let at = (message.queued_at + self.shared.config.queue_delay).max(self.radio_free_at);
        self.hand_scheduled = true;
        self.schedule(at, Timer::Hand);
    }

    async fn on_timers(&mut self) -> Step {
        let now = Instant::now();
        while let Some(Reverse((at, _, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, _, timer))) = self.timers.pop() else {
                break;
            };
            match timer {
                Timer::Hand => self.hand().await?,
                Timer::Sent(id) => self.sent(&id).await?,
                Timer::Delivered(id) => self.delivered(&id).await?,
                Timer::Report { id, attempt } => self.report(&id, attempt).await?,
                Timer::Forget(id) => {
                    self.messages.remove(&id);
                }
            }
        }
        Ok(())
    }

    /// The radio takes the next queued message: Processed (or Failed, `TTL expired`).
    async fn hand(&mut self) -> Step {
        self.hand_scheduled = false;
        let Some(id) = self.queue.pop_front() else {
            return Ok(());
        };
        let now_text = self.now_text();
        let sent_at = Instant::now() + self.shared.config.sent_delay;
        let counters = &self.shared.stats.counters;
        let Some(message) = self.messages.get_mut(&id) else {
            self.schedule_hand();
            return Ok(());
        };
        if message.stage != Stage::Queued {
            // Cancelled ones leave the queue; anything else here was already handed.
            self.schedule_hand();
            return Ok(());
        }
        let n = message.recipients.len() as u64;
        let expired = message
            .valid_until
            .is_some_and(|until| until < OffsetDateTime::now_utc());
        if expired {
            for recipient in &mut message.recipients {
                recipient.state = ProcessingState::Failed;
                recipient.error = Some("TTL expired".to_owned());
            }
            message.stage = Stage::Final;
            Counters::add(&counters.expired, n);
            Counters::add(&counters.failed, n);
        } else {
            for recipient in &mut message.recipients {
                recipient.state = ProcessingState::Processed;
            }
            message.stage = Stage::Radio;
            Counters::add(&counters.processed, n);
        }
        message.stamp(&now_text);
        if expired {
            self.forget_later(&id);
        } else {
            self.schedule(sent_at, Timer::Sent(id.clone()));
        }
        let interval = match self.send_interval {
            Some((min, max)) => Duration::from_secs(self.rng.random_range(min..=max)),
            None => Duration::ZERO,
        };
        self.radio_free_at = Instant::now() + interval;
        self.schedule_hand();
        self.report(&id, 0).await
    }

    /// The sent report came back: Sent, and a delivery report to come if asked for.
    async fn sent(&mut self, id: &str) -> Step {
        let now_text = self.now_text();
        let delivered_at = Instant::now() + self.shared.config.delivered_delay;
        let counters = &self.shared.stats.counters;
        let Some(message) = self.messages.get_mut(id) else {
            return Ok(());
        };
        let mut n = 0;
        for recipient in &mut message.recipients {
            if recipient.state == ProcessingState::Processed {
                recipient.state = ProcessingState::Sent;
                n += 1;
            }
        }
        Counters::add(&counters.sent, n);
        message.stamp(&now_text);
        if message.with_delivery_report {
            self.schedule(delivered_at, Timer::Delivered(id.to_owned()));
        } else {
            message.stage = Stage::Final;
            self.forget_later(id);
        }
        self.report(id, 0).await
    }

    /// The delivery report came back: Delivered, or Failed at `fail_rate`.
    async fn delivered(&mut self, id: &str) -> Step {
        let now_text = self.now_text();
        let fail_rate = self.shared.config.fail_rate;
        let counters = &self.shared.stats.counters;
        let Some(message) = self.messages.get_mut(id) else {
            return Ok(());
        };
        for recipient in &mut message.recipients {
            if recipient.state != ProcessingState::Sent {
                continue;
            }
            if self.rng.random::<f64>() < fail_rate {
                recipient.state = ProcessingState::Failed;
                recipient.error = Some(DELIVERY_FAILURE.to_owned());
                Counters::inc(&counters.failed);
            } else {
                recipient.state = ProcessingState::Delivered;
                Counters::inc(&counters.delivered);
            }
        }
        message.stage = Stage::Final;
        message.stamp(&now_text);
        self.forget_later(id);
        self.report(id, 0).await
    }

    fn forget_later(&mut self, id: &str) {
        self.schedule(
            Instant::now() + FINAL_RETENTION,
            Timer::Forget(id.to_owned()),
        );
    }

    /// A cancel, from `MessageCancelled` (`listed` = `None`) or a `Cancelling` item of
    /// `GET /message` (`listed` = its numbers). Only a message still queued is cancelled; one
    /// the phone does not know is reported `Cancelled` straight away if it came listed.
    async fn cancel(&mut self, id: &str, listed: Option<Vec<String>>) -> Step {
        let now_text = self.now_text();
        let counters = &self.shared.stats.counters;
        match self.messages.get_mut(id) {
            Some(message) if message.stage == Stage::Queued => {
                for recipient in &mut message.recipients {
                    recipient.state = ProcessingState::Cancelled;
                }
                message.stage = Stage::Final;
                message.stamp(&now_text);
                Counters::inc(&counters.cancelled);
                self.queue.retain(|queued| queued != id);
                self.forget_later(id);
                self.report(id, 0).await
            }
            Some(_) => Ok(()),
            None => {
                let Some(numbers) = listed else {
                    return Ok(());
                };
                Counters::inc(&counters.cancelled);
                let patch = MessagePatch {
                    id: id.to_owned(),
                    state: ProcessingState::Cancelled,
                    recipients: numbers
                        .into_iter()
                        .map(|phone_number| RecipientReport {
                            phone_number,
                            state: ProcessingState::Cancelled,
                            error: None,
                        })
                        .collect(),
                    states: BTreeMap::from([(ProcessingState::Cancelled, now_text)]),
                };
                self.send_patch(&patch).await.map(drop)
            }
        }
    }

    /// Reports the message's current state, as the app's `SendStateWorker` does; a failure is
    /// retried with backoff up to the app's 10 attempts.
    async fn report(&mut self, id: &str, attempt: u32) -> Step {
        let Some(message) = self.messages.get(id) else {
            return Ok(());
        };
        let patch = message.patch(id);
        match self.send_patch(&patch).await {
            Ok(true) => {
                if let Some(message) = self.messages.get_mut(id) {
                    message.unreported = false;
                }
                Ok(())
            }
            Ok(false) if attempt + 1 < REPORT_ATTEMPTS => {
                let at = Instant::now() + work_backoff(attempt);
                self.schedule(
                    at,
                    Timer::Report {
                        id: id.to_owned(),
                        attempt: attempt + 1,
                    },
                );
                Ok(())
            }
            Ok(false) => {
                Counters::inc(&self.counters().patches_abandoned);
                Ok(())
            }
            Err(Unauthorized) => {
                if let Some(message) = self.messages.get_mut(id) {
                    message.unreported = true;
                }
                Err(Unauthorized)
            }
        }
    }

    /// `Ok(true)` when the server took it, `Ok(false)` when it should be retried.
    async fn send_patch(&mut self, patch: &MessagePatch) -> Result<bool, Unauthorized> {
        let Some(token) = self.token() else {
            return Ok(false);
        };
        match self.api().patch_message(&token, patch).await {
            Ok(()) => {
                Counters::inc(&self.counters().patches);
                if matches!(
                    patch.state,
                    ProcessingState::Delivered
                        | ProcessingState::Failed
                        | ProcessingState::Cancelled
                ) {
                    self.shared.stats.final_report();
                }
                Ok(true)
            }
            Err(CallError::Unauthorized) => Err(Unauthorized),
            Err(error) => {
                Counters::inc(&self.counters().patch_errors);
                self.call_failed("PATCH /message", &error);
                Ok(false)
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Inbound SMS and dropouts.

    /// An SMS arrives: one signed `sms:received` webhook per listed URL, posted in the
    /// background (the app's webhook queue is its own worker).
    fn receive_sms(&mut self) {
        self.next_inbound = self.poisson(self.shared.config.inbound_per_minute);
        let counters = &self.shared.stats.counters;
        Counters::inc(&counters.inbound_generated);
        let Some(identity) = &self.identity else {
            return;
        };
        if self.inbound_webhooks.is_empty() {
            Counters::inc(&counters.inbound_no_webhook);
            return;
        }
        if !self.key_from_server {
            Counters::inc(&counters.inbound_unverifiable);
        }
        let sender = format!("+23324{:07}", self.rng.random_range(0..10_000_000));
        let text = format!(
            "inbound {} from phone {}",
            self.rng.random::<u32>(),
            self.index
        );
        let received = OffsetDateTime::now_utc();
        let date_ms = i64::try_from(received.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let payload = SmsReceivedPayload {
            message_id: wire::received_message_id(&sender, date_ms, 1, &text),
            message: text,
            received_at: wire::app_date(received, self.offset),
            sender: sender.clone(),
            recipient: Some(self.msisdn.clone()),
            sim_number: Some(1),
            phone_number: sender,
        };
        for (webhook_id, url) in &self.inbound_webhooks {
            let envelope = WebhookEnvelope {
                id: wire::nano_id(&mut self.rng),
                webhook_id: webhook_id.clone(),
                event: wire::WEBHOOK_SMS_RECEIVED.to_owned(),
                device_id: identity.id.clone(),
                payload: payload.clone(),
            };
            let Ok(body) = serde_json::to_string(&envelope) else {
                continue;
            };
            self.posts.spawn(post_webhook(
                Arc::clone(&self.shared),
                url.clone(),
                body,
                self.signing_key.clone(),
            ));
        }
    }

    /// The phone goes silent: stream closed, nothing sent, for the configured time; then its
    /// stream reopens (and pulls). `false` when stopped meanwhile.
    async fn drop_out(&mut self, cancel: &CancellationToken) -> bool {
        Counters::inc(&self.counters().dropouts);
        self.stop_stream();
        Counters::dec(&self.counters().online);
        let back = tokio::select! {
            () = cancel.cancelled() => false,
            () = sleep(self.shared.config.dropout_duration) => true,
        };
        Counters::inc(&self.counters().online);
        if back {
            self.next_dropout = self.poisson(self.shared.config.dropout_rate);
            self.start_stream();
        }
        back
    }

    // ---------------------------------------------------------------------------------------

    fn protocol_error(&self, what: &str) {
        let seen = self
            .counters()
            .protocol_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // A server that gets one thing wrong gets it wrong for every message of every phone:
        // the first few say what, the counter says how often.
        match seen.cmp(&PROTOCOL_ERRORS_LOGGED) {
            std::cmp::Ordering::Less => {
                tracing::warn!(phone = self.index, "the app would not accept this: {what}");
            }
            std::cmp::Ordering::Equal => {
                tracing::warn!("more protocol errors: counted, no longer logged");
            }
            std::cmp::Ordering::Greater => {
                tracing::debug!(phone = self.index, "the app would not accept this: {what}");
            }
        }
    }

    fn call_failed(&self, call: &str, error: &CallError) {
        if let CallError::Protocol(why) = error {
            self.protocol_error(&format!("{call}: {why}"));
        } else {
            tracing::debug!(phone = self.index, %error, "{call} failed");
        }
    }
}

/// Why the app could not read this item, failing the whole list.
fn unreadable(item: &PulledMessage) -> Option<String> {
    if !item.has_content() {
        return Some(format!("message {} has no content", item.id));
    }
    for date in [&item.valid_until, &item.schedule_at, &item.created_at]
        .into_iter()
        .flatten()
    {
        if let Err(wire::DateProblem::Unparsable(text)) = wire::parse_server_date(date) {
            return Some(format!(
                "message {} has an unreadable date {text:?}",
                item.id
            ));
        }
    }
    None
}

/// Holds `/events` open with the app's reconnect delays, turning it into notes for the phone.
/// Ends when the phone drops its receiver or aborts it.
async fn read_stream(
    api: MobileApi,
    token: String,
    generation: u64,
    notes: mpsc::Sender<StreamNote>,
) {
    let note = |kind| StreamNote { generation, kind };
    let mut attempt = 0;
    loop {
        match api.open_events(&token).await {
            Ok(response) => {
                attempt = 0;
                if notes.send(note(NoteKind::Opened)).await.is_err() {
                    return;
                }
                let mut body = response.into_body();
                let mut parser = SseParser::default();
                loop {
                    use http_body_util::BodyExt as _;
                    let Some(Ok(frame)) = body.frame().await else {
                        break;
                    };
                    let Ok(chunk) = frame.into_data() else {
                        continue;
                    };
                    let at = Instant::now();
                    for event in parser.feed(&chunk) {
                        let kind = NoteKind::Event {
                            name: event.name,
                            data: event.data,
                            at,
                        };
                        if notes.send(note(kind)).await.is_err() {
                            return;
                        }
                    }
                }
                if notes.send(note(NoteKind::Closed)).await.is_err() {
                    return;
                }
            }
            Err(error) => {
                if notes.send(note(NoteKind::Failed(error))).await.is_err() {
                    return;
                }
            }
        }
        attempt += 1;
        sleep(reconnect_delay(attempt)).await;
    }
}

/// Delivers one webhook as the app's queue worker does: signed anew at every attempt with the
/// current time, same body, until a 2xx or the attempts run out.
async fn post_webhook(shared: Arc<Shared>, url: String, body: String, signing_key: String) {
    let counters = &shared.stats.counters;
    for attempt in 0..WEBHOOK_ATTEMPTS {
        if attempt > 0 {
            sleep(WEBHOOK_RETRY).await;
        }
        let timestamp = OffsetDateTime::now_utc().unix_timestamp().to_string();
        let signature = wire::sign(&signing_key, &body, &timestamp);
        match shared
            .api
            .post_webhook(&url, &body, &timestamp, &signature)
            .await
        {
            Ok(()) => {
                Counters::inc(&counters.inbound_posted);
                return;
            }
            Err(error) => tracing::debug!(%url, %error, "sms:received webhook failed"),
        }
    }
    Counters::inc(&counters.inbound_failed);
}
