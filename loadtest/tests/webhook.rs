//! The webhook receiver over real loopback HTTP, driven by reqwest as Flit's sender would.

use std::time::Duration;

use flit_loadtest::webhook::{
    EventData, WebhookReceiver, WebhookReceiverConfig, WebhookReceiverHandle, WebhookStats, sign,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SECRET: &str = "whsec_first";
const ROTATED: &str = "whsec_second";
const TIMESTAMP: &str = "1767225600";

/// A receiver on a random port and a client for it.
struct TestReceiver {
    handle: WebhookReceiverHandle,
    http: reqwest::Client,
}

/// A message event for `event_id` as Flit would send it.
fn message_event(event_id: &str, event_type: &str, recipient: &str, status: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": event_id,
        "type": event_type,
        "createdAt": "2026-01-01T00:00:00.123Z",
        "data": {
            "messageId": "msg_1",
            "recipient": recipient,
            "status": status,
            "errorCode": null,
            "parts": 2,
        },
    }))
    .expect("serialisable")
}

fn delivered(event_id: &str) -> Vec<u8> {
    message_event(event_id, "message.delivered", "233201234567", "DELIVERED")
}

impl TestReceiver {
    async fn start(config: WebhookReceiverConfig) -> Self {
        let handle = WebhookReceiver::start(config)
            .await
            .expect("receiver starts");
        Self {
            handle,
            http: reqwest::Client::new(),
        }
    }

    async fn with_secret() -> Self {
        Self::start(WebhookReceiverConfig {
            secrets: vec![SECRET.into()],
            ..WebhookReceiverConfig::default()
        })
        .await
    }

    /// POSTs `body` with the given signature header (none when `None`) and Flit's other headers
    /// taken from the body.
    async fn post_signed_as(&self, body: &[u8], signature: Option<&str>) -> StatusCode {
        let event: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let mut request = self
            .http
            .post(self.handle.url())
            .header("content-type", "application/json")
            .header("x-flit-timestamp", TIMESTAMP);
        if let Some(id) = event.get("id").and_then(Value::as_str) {
            request = request.header("x-flit-event-id", id);
        }
        if let Some(event_type) = event.get("type").and_then(Value::as_str) {
            request = request.header("x-flit-event", event_type);
        }
        if let Some(signature) = signature {
            request = request.header("x-flit-signature", signature);
        }
        request
            .body(body.to_vec())
            .send()
            .await
            .expect("the receiver answers")
            .status()
    }

    /// POSTs `body` signed with `secret`, as Flit does.
    async fn post(&self, body: &[u8], secret: &str) -> StatusCode {
        self.post_signed_as(body, Some(&sign(secret, TIMESTAMP, body)))
            .await
    }

    fn stats(&self) -> WebhookStats {
        self.handle.stats()
    }
}

#[tokio::test]
async fn a_signed_event_is_accepted_and_counted_once() {
    let receiver = TestReceiver::with_secret().await;
    assert_eq!(
        receiver.post(&delivered("evt_1"), SECRET).await,
        StatusCode::OK
    );
    let stats = receiver.stats();
    assert_eq!(stats.attempts, 1);
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.unique_events, 1);
    assert_eq!(stats.duplicates, 0);
    assert_eq!(stats.bad_signatures, 0);
    assert_eq!(stats.by_type.get("message.delivered"), Some(&1));
    assert_eq!((stats.recipients, stats.recipients_final), (1, 1));
    let events = receiver.handle.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, "evt_1");
    assert_eq!(events[0].event_type, "message.delivered");
    let message = events[0].message().expect("message data");
    assert_eq!(message.message_id, "msg_1");
    assert_eq!(message.recipient, "233201234567");
    assert_eq!(message.parts, Some(2));
}

#[tokio::test]
async fn a_retry_of_an_accepted_event_is_a_duplicate() {
    let receiver = TestReceiver::with_secret().await;
    let body = delivered("evt_1");
    assert_eq!(receiver.post(&body, SECRET).await, StatusCode::OK);
    assert_eq!(receiver.post(&body, SECRET).await, StatusCode::OK);
    assert_eq!(receiver.post(&body, SECRET).await, StatusCode::OK);
    let stats = receiver.stats();
    assert_eq!(stats.attempts, 3);
    assert_eq!(stats.accepted, 3);
    assert_eq!(stats.unique_events, 1);
    assert_eq!(stats.duplicates, 2);
    assert_eq!(stats.by_type.get("message.delivered"), Some(&1));
    assert_eq!(receiver.handle.events().len(), 1);
}

#[tokio::test]
async fn a_bad_or_missing_signature_is_refused_and_counted_bad() {
    let receiver = TestReceiver::with_secret().await;
    let body = delivered("evt_1");
    assert_eq!(
        receiver.post(&body, "whsec_wrong").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        receiver.post_signed_as(&body, None).await,
        StatusCode::UNAUTHORIZED
    );
    // Signed over another body: a tampered payload.
    let other = sign(SECRET, TIMESTAMP, &delivered("evt_2"));
    assert_eq!(
        receiver.post_signed_as(&body, Some(&other)).await,
        StatusCode::UNAUTHORIZED
    );
    let stats = receiver.stats();
    assert_eq!(stats.attempts, 3);
    assert_eq!(stats.bad_signatures, 3);
    assert_eq!(stats.accepted, 0);
    assert_eq!(stats.unique_events, 0);
    assert!(receiver.handle.events().is_empty());
    // The same event, correctly signed, is then a first delivery, not a duplicate.
    assert_eq!(receiver.post(&body, SECRET).await, StatusCode::OK);
    assert_eq!(receiver.stats().unique_events, 1);
    assert_eq!(receiver.stats().duplicates, 0);
}

#[tokio::test]
async fn fail_first_fails_the_first_attempts_of_every_event() {
    let receiver = TestReceiver::start(WebhookReceiverConfig {
        secrets: vec![SECRET.into()],
        fail_first: 2,
        ..WebhookReceiverConfig::default()
    })
    .await;
    let first = delivered("evt_1");
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(receiver.post(&first, SECRET).await);
    }
    assert_eq!(
        answers,
        [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::OK
        ]
    );
    // Counted per event id: another event starts over.
    let second = delivered("evt_2");
    assert_eq!(
        receiver.post(&second, SECRET).await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(receiver.post(&first, SECRET).await, StatusCode::OK);
    let stats = receiver.stats();
    assert_eq!(stats.attempts, 5);
    assert_eq!(stats.injected_failures, 3);
    assert_eq!(stats.accepted, 2);
    assert_eq!(stats.unique_events, 1);
    assert_eq!(stats.duplicates, 1);
}

#[tokio::test]
async fn injected_failures_use_the_configured_status() {
    let receiver = TestReceiver::start(WebhookReceiverConfig {
        secrets: vec![SECRET.into()],
        fail_rate: 1.0,
        fail_status: 503,
        ..WebhookReceiverConfig::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            receiver.post(&delivered("evt_1"), SECRET).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    assert_eq!(receiver.stats().injected_failures, 3);
    assert_eq!(receiver.stats().unique_events, 0);
}

#[tokio::test]
async fn a_rotated_secret_is_accepted_once_known() {
    let receiver = TestReceiver::with_secret().await;
    let body = delivered("evt_1");
    assert_eq!(
        receiver.post(&body, ROTATED).await,
        StatusCode::UNAUTHORIZED
    );
    receiver
        .handle
        .set_secrets(vec![SECRET.into(), ROTATED.into()]);
    assert_eq!(receiver.post(&body, ROTATED).await, StatusCode::OK);
    assert_eq!(
        receiver.post(&delivered("evt_2"), SECRET).await,
        StatusCode::OK
    );
    let stats = receiver.stats();
    assert_eq!(stats.bad_signatures, 1);
    assert_eq!(stats.unique_events, 2);
}

#[tokio::test]
async fn one_valid_signature_among_several_is_enough() {
    let receiver = TestReceiver::with_secret().await;
    let body = delivered("evt_1");
    let good = sign(SECRET, TIMESTAMP, &body);
    let stale = sign("whsec_retired", TIMESTAMP, &body);
    let both_ways = [format!("{stale},{good}"), format!("{good},{stale}")];
    assert_eq!(
        receiver.post_signed_as(&body, Some(&both_ways[0])).await,
        StatusCode::OK
    );
    assert_eq!(
        receiver.post_signed_as(&body, Some(&both_ways[1])).await,
        StatusCode::OK
    );
    let none_good = format!("{stale},sha256=00");
    assert_eq!(
        receiver.post_signed_as(&body, Some(&none_good)).await,
        StatusCode::UNAUTHORIZED
    );
    let stats = receiver.stats();
    assert_eq!((stats.unique_events, stats.duplicates), (1, 1));
    assert_eq!(stats.bad_signatures, 1);
}

#[tokio::test]
async fn signed_bodies_that_are_no_event_are_refused_as_malformed() {
    let receiver = TestReceiver::with_secret().await;
    assert_eq!(
        receiver.post(b"not json", SECRET).await,
        StatusCode::BAD_REQUEST
    );
    // The id header must be the body's id.
    let body = delivered("evt_1");
    let answer = receiver
        .http
        .post(receiver.handle.url())
        .header("x-flit-timestamp", TIMESTAMP)
        .header("x-flit-event-id", "evt_other")
        .header("x-flit-signature", sign(SECRET, TIMESTAMP, &body))
        .body(body)
        .send()
        .await
        .expect("the receiver answers");
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let stats = receiver.stats();
    assert_eq!(stats.malformed, 2);
    assert_eq!(stats.unique_events, 0);
}

#[tokio::test]
async fn recipients_end_in_their_final_state_and_inbound_events_are_kept() {
    let receiver = TestReceiver::with_secret().await;
    let sent = message_event("evt_s", "message.sent", "233201234567", "SENT");
    let failed = message_event("evt_f", "message.failed", "233201234567", "FAILED");
    let other = message_event("evt_o", "message.sent", "233241234567", "SENT");
    // The failure overtakes the (retried) sent event.
    for body in [&failed, &sent, &other] {
        assert_eq!(receiver.post(body, SECRET).await, StatusCode::OK);
    }
    let inbound = serde_json::to_vec(&json!({
        "id": "evt_i", "type": "message.received", "createdAt": "2026-01-01T00:00:00.000Z",
        "data": {"inboundId": "inb_1", "from": "233201234567", "to": "LoadTest",
                 "text": "STOP", "receivedAt": "2026-01-01T00:00:00.000Z"},
    }))
    .expect("serialisable");
    assert_eq!(receiver.post(&inbound, SECRET).await, StatusCode::OK);
    let stats = receiver.stats();
    assert_eq!((stats.recipients, stats.recipients_final), (2, 1));
    assert_eq!(stats.recipients_by_status.get("FAILED"), Some(&1));
    assert_eq!(stats.recipients_by_status.get("SENT"), Some(&1));
    assert_eq!(stats.by_type.get("message.sent"), Some(&2));
    let statuses = receiver.handle.recipient_statuses();
    assert_eq!(
        statuses.get(&("msg_1".to_owned(), "233201234567".to_owned())),
        Some(&"FAILED".to_owned())
    );
    let events = receiver.handle.events();
    let EventData::Inbound(received) = &events[3].data else {
        panic!("not inbound: {:?}", events[3]);
    };
    assert_eq!(received.text, "STOP");
}

#[tokio::test]
async fn stats_are_served_as_json() {
    let receiver = TestReceiver::with_secret().await;
    receiver.post(&delivered("evt_1"), SECRET).await;
    receiver.post(&delivered("evt_1"), SECRET).await;
    receiver.post(&delivered("evt_2"), "whsec_wrong").await;
    let served: Value = receiver
        .http
        .get(format!("{}stats", receiver.handle.url()))
        .send()
        .await
        .expect("the receiver answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        served,
        serde_json::to_value(receiver.stats()).expect("serialisable")
    );
    assert_eq!(served["unique_events"], 1);
    assert_eq!(served["duplicates"], 1);
    assert_eq!(served["bad_signatures"], 1);
}

#[tokio::test]
async fn wait_for_returns_once_enough_unique_events_came_or_at_the_timeout() {
    let receiver = TestReceiver::with_secret().await;
    assert!(!receiver.handle.wait_for(1, Duration::from_millis(50)).await);
    let posts = async {
        for n in 0..3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            receiver.post(&delivered(&format!("evt_{n}")), SECRET).await;
        }
    };
    let (_, reached) = tokio::join!(posts, receiver.handle.wait_for(3, Duration::from_secs(5)));
    assert!(reached);
    assert_eq!(receiver.stats().unique_events, 3);
    // Duplicates do not count towards it.
    receiver.post(&delivered("evt_0"), SECRET).await;
    assert!(!receiver.handle.wait_for(4, Duration::from_millis(50)).await);
}

#[tokio::test]
async fn a_sender_that_times_out_on_a_slow_answer_retries_into_a_duplicate() {
    let receiver = TestReceiver::start(WebhookReceiverConfig {
        secrets: vec![SECRET.into()],
        latency: Duration::from_millis(500),
        ..WebhookReceiverConfig::default()
    })
    .await;
    let body = delivered("evt_1");
    let impatient = receiver
        .http
        .post(receiver.handle.url())
        .header("x-flit-timestamp", TIMESTAMP)
        .header("x-flit-signature", sign(SECRET, TIMESTAMP, &body))
        .body(body.clone())
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(impatient.is_err(), "answered within 100 ms: {impatient:?}");
    assert_eq!(receiver.post(&body, SECRET).await, StatusCode::OK);
    let stats = receiver.stats();
    assert_eq!((stats.unique_events, stats.duplicates), (1, 1));
}

#[tokio::test]
async fn stop_closes_the_port_and_keeps_the_counters() {
    let mut receiver = TestReceiver::with_secret().await;
    receiver.post(&delivered("evt_1"), SECRET).await;
    let url = receiver.handle.url();
    receiver.handle.stop().await;
    let after = reqwest::Client::new()
        .post(&url)
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(after.is_err(), "still answering after stop: {after:?}");
    assert_eq!(receiver.stats().unique_events, 1);
}
