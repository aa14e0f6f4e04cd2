//! The client side of the crash test: requests that each carry an `Idempotency-Key` and a
//! text with a unique token, sent until they get an answer whatever the server goes through,
//! and the client's own record of every 2xx, every request a kill cut off and every refusal.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::SeedableRng as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::e2e::NumberPlan;
use crate::e2e::client::truncate;

/// Whether the server is serving, and which start of it this is. The orchestrator marks the
/// server down before it kills it, so a request that fails because of a kill sees a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerState {
    pub generation: u64,
    pub up: bool,
}

/// What a request sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Single,
    Bulk,
    Group,
}

/// One send as the client means it: the same key and the same bytes on every attempt.
#[derive(Debug, Clone)]
pub struct Request {
    /// Unique in the run; also the token in the text.
    pub id: u64,
    /// Index of the tenant (its key) in the run's tenants.
    pub tenant: usize,
    pub kind: Kind,
    pub idempotency_key: String,
    pub text: String,
    /// Explicit recipients (local form); empty for a group send.
    pub numbers: Vec<String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn numbers(id: u64, tenant: usize, kind: Kind, numbers: Vec<String>) -> Self {
        let text = text_for(id);
        let body = json!({ "recipients": numbers, "message": text }).to_string();
        Self::new(id, tenant, kind, text, numbers, body)
    }

    pub fn group(id: u64, tenant: usize, group_id: &str) -> Self {
        let text = text_for(id);
        let body = json!({ "groupId": group_id, "message": text }).to_string();
        Self::new(id, tenant, Kind::Group, text, Vec::new(), body)
    }

    fn new(
        id: u64,
        tenant: usize,
        kind: Kind,
        text: String,
        numbers: Vec<String>,
        body: String,
    ) -> Self {
        Self {
            id,
            tenant,
            kind,
            idempotency_key: format!("crash-{id}-{:016x}", rand::random::<u64>()),
            text,
            numbers,
            body: body.into_bytes(),
        }
    }
}

/// The text of request `id`: one GSM-7 part, unique in the run, so the SMSC's record of
/// (destination, text) ties every submit back to its request.
pub fn text_for(id: u64) -> String {
    format!("Flit crash test r{id}")
}

/// The request id in a text made by [`text_for`].
pub fn id_in_text(text: &str) -> Option<u64> {
    text.strip_prefix("Flit crash test r")?.parse().ok()
}

/// A 2xx answer, as the client recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub message_id: String,
    pub credits_used: i64,
    pub recipients_sent: u64,
}

impl Answer {
    fn parse(body: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(body).ok()?;
        let data = value.get("data")?;
        Some(Self {
            message_id: data.get("messageId")?.as_str()?.to_owned(),
            credits_used: data.get("creditsUsed")?.as_i64()?,
            recipients_sent: data.get("recipientsSent")?.as_u64()?,
        })
    }
}

/// An acknowledged request.
#[derive(Debug, Clone)]
pub struct Ack {
    pub request: Request,
    pub answer: Answer,
    /// Attempts it took, the answered one included (more than one: a kill cut it off).
    pub attempts: u32,
}

/// The client's record of the run.
#[derive(Debug, Default)]
pub struct Record {
    pub acks: Vec<Ack>,
    /// Attempts that got no answer because the server was killed under them.
    pub cut_off: u64,
    /// Attempts that failed at transport level while the server was up.
    pub transport_errors: u64,
    /// 5xx answers (retried).
    pub server_errors: u64,
    /// Requests refused with a 4xx, never retried: none is expected.
    pub rejected: Vec<String>,
    /// Requests given up when the run ended without an answer.
    pub abandoned: u64,
    pub attempts: u64,
}

pub type SharedRecord = Arc<Mutex<Record>>;

pub fn lock(record: &SharedRecord) -> std::sync::MutexGuard<'_, Record> {
    record.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What every sender shares.
#[derive(Clone)]
pub struct Senders {
    pub http: reqwest::Client,
    pub base: Arc<str>,
    /// API key of each tenant, by index.
    pub keys: Arc<Vec<String>>,
    pub state: watch::Receiver<ServerState>,
    pub record: SharedRecord,
    /// Set when the run is over: requests still unanswered are given up.
    pub abandon: Arc<AtomicBool>,
}

enum Outcome {
    Answered(Answer),
    Retry { server_error: bool },
    Refused(String),
}

impl Senders {
    /// Sends `request` until it is answered, retrying with the same key and body after every
    /// kill. Returns the acknowledgement, if one came.
    pub async fn drive(&self, request: Request) -> Option<Ack> {
        let mut attempts = 0u32;
        let mut state = self.state.clone();
        loop {
            if self.abandon.load(Ordering::Relaxed) {
                lock(&self.record).abandoned += 1;
                return None;
            }
            let Some(generation) = wait_up(&mut state, &self.abandon).await else {
                lock(&self.record).abandoned += 1;
                return None;
            };
            attempts += 1;
            lock(&self.record).attempts += 1;
            match self.attempt(&request).await {
                Outcome::Answered(answer) => {
                    let ack = Ack {
                        request,
                        answer,
                        attempts,
                    };
                    lock(&self.record).acks.push(ack.clone());
                    return Some(ack);
                }
                Outcome::Refused(reason) => {
                    lock(&self.record).rejected.push(format!(
                        "request r{} ({:?}): {reason}",
                        request.id, request.kind
                    ));
                    return None;
                }
                Outcome::Retry { server_error } => {
                    let now = *state.borrow();
                    let killed = !now.up || now.generation != generation;
                    {
                        let mut record = lock(&self.record);
                        if server_error {
                            record.server_errors += 1;
                        } else if killed {
                            record.cut_off += 1;
                        } else {
                            record.transport_errors += 1;
                        }
                    }
                    if !killed {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
    }

    async fn attempt(&self, request: &Request) -> Outcome {
        let response = self
            .http
            .post(format!("{}/api/v1/sms/send", self.base))
            .bearer_auth(&self.keys[request.tenant])
            .header("Idempotency-Key", &request.idempotency_key)
            .header("Content-Type", "application/json")
            .body(request.body.clone())
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(_) => {
                return Outcome::Retry {
                    server_error: false,
                };
            }
        };
        let status = response.status();
        let Ok(body) = response.text().await else {
            return Outcome::Retry {
                server_error: false,
            };
        };
        if status.is_success() {
            return match Answer::parse(&body) {
                Some(answer) => Outcome::Answered(answer),
                None => {
                    Outcome::Refused(format!("2xx without an answer: {}", truncate(&body, 200)))
                }
            };
        }
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Outcome::Retry { server_error: true };
        }
        Outcome::Refused(format!("HTTP {status}: {}", truncate(&body, 200)))
    }

    /// Sends the same request again after the run and returns the raw answer, to check that
    /// the server replays the first one.
    pub async fn replay(&self, request: &Request) -> Result<Answer, String> {
        match self.attempt(request).await {
            Outcome::Answered(answer) => Ok(answer),
            Outcome::Retry { server_error } => Err(if server_error {
                "5xx".to_owned()
            } else {
                "no answer".to_owned()
            }),
            Outcome::Refused(reason) => Err(reason),
        }
    }
}

/// Waits until the server is up; its generation, or `None` once the run is abandoned.
async fn wait_up(state: &mut watch::Receiver<ServerState>, abandon: &AtomicBool) -> Option<u64> {
    loop {
        let now = *state.borrow_and_update();
        if now.up {
            return Some(now.generation);
        }
        if abandon.load(Ordering::Relaxed) {
            return None;
        }
        // The sender lives as long as the run; a timeout re-checks `abandon` meanwhile.
        let _ = tokio::time::timeout(Duration::from_millis(200), state.changed()).await;
    }
}

/// Shape of the steady load.
#[derive(Debug, Clone, Copy)]
pub struct LoadShape {
    /// Tenants to spread requests over (by index).
    pub tenants: usize,
    /// One request in `bulk_every` is a bulk send (0: none).
    pub bulk_every: u32,
    pub bulk_size: usize,
}

/// Hands out request ids and distinct numbers to every sender.
pub struct Plan {
    pub numbers: NumberPlan,
    next_request: AtomicU64,
    next_number: AtomicU64,
    pub shape: LoadShape,
}

impl Plan {
    /// Numbers `0..reserved` of `numbers` are left for the group's contacts.
    pub fn new(numbers: NumberPlan, reserved: u64, shape: LoadShape) -> Self {
        Self {
            numbers,
            next_request: AtomicU64::new(1),
            next_number: AtomicU64::new(reserved),
            shape,
        }
    }

    pub fn next_id(&self) -> u64 {
        self.next_request.fetch_add(1, Ordering::Relaxed)
    }

    /// The next steady-load request: a single send, or now and then a bulk one.
    pub fn next_request(&self, rng: &mut impl rand::Rng) -> Request {
        let id = self.next_id();
        let bulk = self.shape.bulk_every > 0 && rng.random_range(0..self.shape.bulk_every) == 0;
        let (kind, count) = if bulk {
            (Kind::Bulk, self.shape.bulk_size.max(1) as u64)
        } else {
            (Kind::Single, 1)
        };
        let start = self.next_number.fetch_add(count, Ordering::Relaxed);
        let numbers = self.numbers.batch(start, start + count);
        let tenant = usize::try_from(id).unwrap_or(0) % self.shape.tenants.max(1);
        Request::numbers(id, tenant, kind, numbers)
    }
}

/// A closed-loop sender of steady load until `stop` is set; every request it starts is
/// driven to an answer (or abandoned at the end of the run).
pub async fn steady_sender(senders: Senders, plan: Arc<Plan>, stop: Arc<AtomicBool>) {
    let mut rng = rand::rngs::StdRng::from_rng(&mut rand::rng());
    while !stop.load(Ordering::Relaxed) {
        let request = plan.next_request(&mut rng);
        senders.drive(request).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_carries_the_request_id() {
        assert_eq!(id_in_text(&text_for(42)), Some(42));
        assert_eq!(id_in_text("Flit crash test r"), None);
        assert_eq!(id_in_text("something else"), None);
        assert!(text_for(u64::MAX).len() <= 160);
    }

    #[test]
    fn an_answer_is_read_from_the_native_envelope() {
        let body = r#"{"success":true,"data":{"messageId":"msg_1","recipientsSent":3,"creditsUsed":3,"remainingCredits":7}}"#;
        assert_eq!(
            Answer::parse(body),
            Some(Answer {
                message_id: "msg_1".into(),
                credits_used: 3,
                recipients_sent: 3
            })
        );
        assert_eq!(Answer::parse(r#"{"success":true,"data":{}}"#), None);
    }

    #[test]
    fn requests_draw_distinct_numbers_and_alternate_tenants() {
        let plan = Plan::new(
            NumberPlan::new(0),
            100,
            LoadShape {
                tenants: 2,
                bulk_every: 1,
                bulk_size: 5,
            },
        );
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let a = plan.next_request(&mut rng);
        let b = plan.next_request(&mut rng);
        assert_eq!((a.kind, a.numbers.len()), (Kind::Bulk, 5));
        assert_ne!(a.tenant, b.tenant);
        assert!(a.numbers.iter().all(|n| !b.numbers.contains(n)));
        assert!(!a.numbers.contains(&plan.numbers.number(99)));
        assert_ne!(a.idempotency_key, b.idempotency_key);
        let body: Value = serde_json::from_slice(&a.body).expect("json");
        assert_eq!(body["message"], a.text);
    }
}
