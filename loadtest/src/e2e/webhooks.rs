//! e2e's webhook leg (`--webhooks`): a receiver started in-process, registered on Flit with the
//! run's API key for the message events, and at the end a wait until a final event (delivered
//! or failed) has come for every recipient sent, with what the receiver counted on the way.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::client::{Created, Flit};
use crate::webhook::{
    WebhookReceiver, WebhookReceiverConfig, WebhookReceiverHandle, WebhookStats, WebhookTimeline,
    cli::unique_per_sec,
};

/// The events the run subscribes to: every step of a sent message's recipients.
pub const EVENTS: [&str; 3] = ["message.sent", "message.delivered", "message.failed"];

/// How often the wait prints the receiver's progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Starts the receiver with no secret yet: Flit makes the secret when the webhook is
/// registered ([`register`] hands it over).
pub async fn start_receiver(
    fail_first: u32,
    latency: Duration,
) -> anyhow::Result<WebhookReceiverHandle> {
    WebhookReceiver::start(WebhookReceiverConfig {
        fail_first,
        latency,
        // One event per recipient and step: counters are enough, events would fill memory.
        record_events: false,
        ..WebhookReceiverConfig::default()
    })
    .await
}

/// Registers `receiver` for [`EVENTS`] with the tenant's key (recorded in `created` before
/// anything can fail, so that the run removes it) and gives the receiver the secret.
pub async fn register(
    flit: &Flit,
    key: &str,
    receiver: &WebhookReceiverHandle,
    created: &mut Created,
) -> anyhow::Result<()> {
    let data = flit
        .call(
            Method::POST,
            "/api/v1/webhooks",
            key,
            Some(&json!({ "url": receiver.url(), "events": EVENTS })),
        )
        .await
        .context("registering the webhook (does this Flit have webhooks?)")?;
    let string = |pointer: &str| {
        data.pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("webhook: no string at `{pointer}` in {data}"))
    };
    created.webhook_id = Some(string("/id")?);
    receiver.set_secrets(vec![string("/secret")?]);
    Ok(())
}

/// What the webhook leg of a run saw.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct WebhookSummary {
    pub fail_first: u32,
    pub latency_ms: u64,
    /// Unique events accepted (each event id once).
    pub received: u64,
    /// POSTs of every kind, retries included.
    pub attempts: u64,
    /// POSTs of an event already accepted.
    pub duplicates: u64,
    pub bad_signatures: u64,
    /// Failures the receiver injected (`fail_first`).
    pub injected_failures: u64,
    pub malformed: u64,
    /// Recipients a delivered or failed event came for, and how many of each.
    pub recipients_final: u64,
    pub recipients_delivered: u64,
    pub recipients_failed: u64,
    /// Recipients given two different final states.
    pub final_conflicts: u64,
    /// Unique events a second, from the first to the last one.
    pub deliveries_per_sec: f64,
    /// From the last send's answer to the last unique event (0 when none came after it).
    pub last_send_to_last_webhook_secs: f64,
    pub by_type: BTreeMap<String, u64>,
}

impl WebhookSummary {
    pub fn from_receiver(
        stats: &WebhookStats,
        timeline: &WebhookTimeline,
        last_send: Instant,
        fail_first: u32,
        latency: Duration,
    ) -> Self {
        let status = |name: &str| stats.recipients_by_status.get(name).copied().unwrap_or(0);
        Self {
            fail_first,
            latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            received: stats.unique_events,
            attempts: stats.attempts,
            duplicates: stats.duplicates,
            bad_signatures: stats.bad_signatures,
            injected_failures: stats.injected_failures,
            malformed: stats.malformed,
            recipients_final: stats.recipients_final,
            recipients_delivered: status("DELIVERED"),
            recipients_failed: status("FAILED"),
            final_conflicts: stats.final_conflicts,
            deliveries_per_sec: unique_per_sec(stats, timeline),
            last_send_to_last_webhook_secs: timeline.last_accepted.map_or(0.0, |last| {
                last.saturating_duration_since(last_send).as_secs_f64()
            }),
            by_type: stats.by_type.clone(),
        }
    }

    /// What in these figures contradicts the rest of the run: `recipients` accepted by the
    /// API, of which the API showed `api_delivered` delivered.
    pub fn problems(&self, recipients: u64, api_delivered: u64, timeout_secs: u64) -> Vec<String> {
        let mut problems = Vec::new();
        if self.recipients_final < recipients {
            problems.push(format!(
                "webhooks: only {} of {recipients} recipients had a delivered or failed event within {timeout_secs}s of the last send",
                self.recipients_final
            ));
        }
        if self.recipients_final > recipients {
            problems.push(format!(
                "webhooks: final events for {} recipients, but {recipients} were sent",
                self.recipients_final
            ));
        }
        if self.recipients_final == recipients && self.recipients_delivered != api_delivered {
            problems.push(format!(
                "webhooks: {} recipients delivered, the API says {api_delivered}",
                self.recipients_delivered
            ));
        }
        if self.bad_signatures > 0 {
            problems.push(format!(
                "webhooks: {} POSTs with a bad signature",
                self.bad_signatures
            ));
        }
        if self.malformed > 0 {
            problems.push(format!("webhooks: {} malformed POSTs", self.malformed));
        }
        if self.final_conflicts > 0 {
            problems.push(format!(
                "webhooks: {} recipients given two different final states",
                self.final_conflicts
            ));
        }
        problems
    }
}

/// Waits until a final event has come for `recipients` recipients or `deadline` passes,
/// printing the receiver's counters every second. Returns whether all came.
pub async fn wait_final(
    receiver: &WebhookReceiverHandle,
    recipients: u64,
    deadline: Instant,
) -> bool {
    loop {
        let slice = deadline
            .saturating_duration_since(Instant::now())
            .min(PROGRESS_EVERY);
        if receiver
            .wait_until(|stats| stats.recipients_final >= recipients, slice)
            .await
        {
            return true;
        }
        let stats = receiver.stats();
        eprintln!(
            "[webhooks] recipients final {}/{recipients}  unique {}  attempts {}  dups {}  bad sigs {}",
            stats.recipients_final,
            stats.unique_events,
            stats.attempts,
            stats.duplicates,
            stats.bad_signatures
        );
        if Instant::now() >= deadline {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex, PoisonError};

    use axum::Router;
    use axum::extract::{Path, State};
    use axum::http::HeaderMap;
    use axum::routing::{delete, post};

    use super::*;
    use crate::webhook::sign;

    type Log = Arc<Mutex<Vec<String>>>;

    /// A stand-in for Flit's webhook API: records each call (method, path, bearer, body) and
    /// answers as the contract says.
    async fn fake_flit() -> (Flit, Log) {
        let log: Log = Arc::default();
        let record = |log: &Log, line: String| {
            log.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line);
        };
        let bearer = |headers: &HeaderMap| {
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let app =
            Router::new()
                .route(
                    "/api/v1/webhooks",
                    post(
                        move |State(log): State<Log>, headers: HeaderMap, body: String| async move {
                            record(&log, format!("POST {} {body}", bearer(&headers)));
                            let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                            axum::Json(json!({"success": true, "data": {
                                "id": "whk_1", "url": body["url"], "events": body["events"],
                                "secret": "whsec_from_flit", "createdAt": "2026-01-01T00:00:00Z",
                            }}))
                        },
                    ),
                )
                .route(
                    "/api/v1/webhooks/{id}",
                    delete(
                        move |State(log): State<Log>,
                              headers: HeaderMap,
                              Path(id): Path<String>| async move {
                            record(&log, format!("DELETE {id} {}", bearer(&headers)));
                            axum::Json(json!({"success": true, "data": {"deleted": true}}))
                        },
                    ),
                )
                .with_state(Arc::clone(&log));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (Flit::new(&url, 1).expect("client"), log)
    }

    fn lines(log: &Log) -> Vec<String> {
        log.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    #[tokio::test]
    async fn registering_hands_flits_secret_to_the_receiver_and_tear_down_deletes_it() {
        let (flit, log) = fake_flit().await;
        let mut receiver = start_receiver(0, Duration::ZERO).await.expect("receiver");
        let mut created = Created {
            api_key: Some("key_1".into()),
            ..Created::default()
        };
        register(&flit, "key_1", &receiver, &mut created)
            .await
            .expect("registered");
        assert_eq!(created.webhook_id.as_deref(), Some("whk_1"));
        let expected = json!({"url": receiver.url(), "events": EVENTS}).to_string();
        assert_eq!(lines(&log), [format!("POST Bearer key_1 {expected}")]);

        // The receiver now takes what is signed with Flit's secret, and only that.
        let body = br#"{"id":"evt_1","type":"message.delivered","data":{"messageId":"msg_1","recipient":"233201234567","status":"DELIVERED","errorCode":null,"parts":1}}"#;
        let http = reqwest::Client::new();
        for secret in ["whsec_from_flit", "whsec_other"] {
            http.post(receiver.url())
                .header("x-flit-timestamp", "1")
                .header("x-flit-signature", sign(secret, "1", body))
                .body(body.to_vec())
                .send()
                .await
                .expect("answered");
        }
        let stats = receiver.stats();
        assert_eq!((stats.recipients_final, stats.bad_signatures), (1, 1));

        let problems = super::super::client::tear_down(&flit, "admin", &created).await;
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(lines(&log)[1], "DELETE whk_1 Bearer key_1");
        receiver.stop().await;
    }

    #[test]
    fn the_summary_times_from_the_last_send_and_names_what_went_wrong() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let stats = WebhookStats {
            attempts: 25,
            unique_events: 20,
            duplicates: 2,
            injected_failures: 3,
            recipients: 10,
            recipients_final: 10,
            recipients_by_status: BTreeMap::from([
                ("DELIVERED".to_owned(), 9),
                ("FAILED".to_owned(), 1),
            ]),
            ..WebhookStats::default()
        };
        let timeline = WebhookTimeline {
            first_accepted: Some(at(1000)),
            last_accepted: Some(at(3000)),
        };
        let summary =
            WebhookSummary::from_receiver(&stats, &timeline, at(2500), 1, Duration::from_millis(7));
        assert_eq!(summary.deliveries_per_sec, 10.0);
        assert_eq!(summary.last_send_to_last_webhook_secs, 0.5);
        assert_eq!(
            (summary.recipients_delivered, summary.recipients_failed),
            (9, 1)
        );
        assert_eq!((summary.fail_first, summary.latency_ms), (1, 7));
        assert!(summary.problems(10, 9, 60).is_empty());
        assert_eq!(summary.problems(10, 10, 60).len(), 1, "delivered disagrees");
        assert_eq!(
            summary.problems(12, 9, 60).len(),
            1,
            "two recipients missing"
        );
        let late = WebhookSummary::from_receiver(&stats, &timeline, at(4000), 0, Duration::ZERO);
        assert_eq!(late.last_send_to_last_webhook_secs, 0.0);
        let bad = WebhookSummary {
            bad_signatures: 1,
            ..summary
        };
        assert_eq!(bad.problems(10, 9, 60).len(), 1);
    }
}
