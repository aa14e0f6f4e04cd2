//! `POST /api/v1/sms/{message_id}/cancel`: a scheduled or still-queued message is cancelled,
//! its recipients CANCELLED and what was not sent refunded as one REFUND; status and history
//! show it; nothing left to cancel is a 409, another tenant's message a 404, and neither
//! changes anything. (When a cancelled message's hour comes and goes, and what a carrier took
//! mid-cancel: the engine's `tests/schedule.rs`, with paused and real time.)

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Api, TestApp};

/// An ISO 8601 instant `ahead` from now.
fn in_(ahead: Duration) -> String {
    let ahead = i64::try_from(ahead.as_millis()).expect("in range");
    flit_api::timefmt::iso(flit_engine::now_millis() + ahead)
}

const HOUR: Duration = Duration::from_secs(3600);

async fn send(app: &TestApp, body: Value) -> String {
    let sent = app.post("/api/v1/sms/send", body).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    sent.body["data"]["messageId"]
        .as_str()
        .expect("messageId")
        .to_string()
}

async fn cancel(app: &TestApp, id: &str, key: &str) -> crate::common::Reply {
    app.request(
        Method::POST,
        &format!("/api/v1/sms/{id}/cancel"),
        Some(key),
        None,
    )
    .await
}

#[tokio::test]
async fn a_scheduled_message_is_cancelled_refunded_and_shown_cancelled() {
    let app = TestApp::start().await;
    let schedule_date = in_(HOUR);
    let id = send(
        &app,
        json!({
            "recipients": ["0201234567", "0241234567", "0271234567"],
            "message": "Tomorrow's offer",
            "isScheduled": true,
            "scheduleDate": schedule_date,
        }),
    )
    .await;
    assert_eq!(app.balance().await, 997);
    let status = app.get(&format!("/api/v1/sms/status/{id}")).await;
    assert_eq!(status.body["data"]["status"], "PENDING");
    assert_eq!(status.body["data"]["scheduledAt"], schedule_date.as_str());

    let cancelled = cancel(&app, &id, &app.api_key).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(
        cancelled.body,
        json!({
            "success": true,
            "data": {
                "messageId": id,
                "status": "CANCELLED",
                "cancelledRecipients": 3,
                "creditsRefunded": 3,
            }
        })
    );
    assert_eq!(app.balance().await, 1000, "refunded");

    let status = app.get(&format!("/api/v1/sms/status/{id}")).await;
    assert_eq!(status.body["data"]["status"], "CANCELLED");
    assert_eq!(status.body["data"]["scheduledAt"], schedule_date.as_str());
    let report = app.get(&format!("/api/v1/sms/{id}/recipients")).await;
    assert_eq!(report.body["data"]["status"], "CANCELLED");
    for recipient in report.body["data"]["recipients"].as_array().expect("list") {
        assert_eq!(recipient["status"], "CANCELLED", "{recipient}");
        assert_eq!(recipient["error"], "cancelled", "{recipient}");
    }
    let history = app.get("/api/v1/sms?status=CANCELLED").await;
    let listed = &history.body["data"]["messages"];
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{}", history.body);
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["scheduledAt"], schedule_date.as_str());

    let refunds = app.refunds(1).await;
    assert_eq!(refunds[0]["amount"], 3);
    assert!(
        refunds[0]["description"]
            .as_str()
            .is_some_and(|description| description.contains("cancelled")),
        "{refunds}"
    );
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn cancel_twice_is_409_and_another_tenants_message_is_404_and_neither_changes_anything() {
    let app = TestApp::start().await;
    let (_, other_key) = app.tenant(100, None).await;
    let id = send(
        &app,
        json!({
            "recipients": ["0201234567"],
            "message": "later",
            "isScheduled": true,
            "scheduleDate": in_(HOUR),
        }),
    )
    .await;

    let foreign = cancel(&app, &id, &other_key).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.body);
    assert_eq!(foreign.code(), "not_found");
    assert_eq!(foreign.body["success"], false);
    let status = app.get(&format!("/api/v1/sms/status/{id}")).await;
    assert_eq!(status.body["data"]["status"], "PENDING", "untouched");
    assert_eq!(app.balance().await, 999);

    for unknown in ["msg_01J00000000000000000000000", "not-an-id"] {
        let reply = cancel(&app, unknown, &app.api_key).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{unknown}: {}",
            reply.body
        );
    }

    assert_eq!(cancel(&app, &id, &app.api_key).await.status, StatusCode::OK);
    let again = cancel(&app, &id, &app.api_key).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(again.code(), "not_cancellable");
    assert_eq!(again.body["success"], false);
    assert!(
        again.body["error"]
            .as_str()
            .is_some_and(|error| error.contains("nothing left to cancel")),
        "{}",
        again.body
    );
    assert_eq!(app.balance().await, 1000, "refunded once");
    app.refunds(1).await;
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn a_delivered_message_has_nothing_left_to_cancel() {
    let app = TestApp::start().await;
    let id = send(
        &app,
        json!({"recipients": ["0201234567"], "message": "now"}),
    )
    .await;
    app.settled(&id, Duration::from_secs(10)).await;
    let reply = cancel(&app, &id, &app.api_key).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(reply.code(), "not_cancellable");
    assert_eq!(app.balance().await, 999);
}

#[tokio::test]
async fn queued_messages_are_cancelled_and_refunded_while_every_carrier_is_down() {
    let app = TestApp::start().await;
    // A carrier nobody listens for: every job waits for it.
    let bind = app
        .admin(
            Method::POST,
            "/binds",
            Some(json!({
                "name": "down", "host": "127.0.0.1", "port": 1, "systemId": "flit",
                "password": "secret", "bindMode": "transceiver"
            })),
        )
        .await;
    assert_eq!(bind.status, StatusCode::CREATED, "{}", bind.body);
    // Two parts each (GSM-7, 161 characters).
    let id = send(
        &app,
        json!({"recipients": ["0201234567", "0241234567"], "message": "x".repeat(161)}),
    )
    .await;
    assert_eq!(app.balance().await, 996);

    let cancelled = cancel(&app, &id, &app.api_key).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["data"]["status"], "CANCELLED");
    assert_eq!(cancelled.body["data"]["cancelledRecipients"], 2);
    assert_eq!(cancelled.body["data"]["creditsRefunded"], 4);
    assert_eq!(app.balance().await, 1000);
    let report = app.get(&format!("/api/v1/sms/{id}/recipients")).await;
    for recipient in report.body["data"]["recipients"].as_array().expect("list") {
        assert_eq!(recipient["status"], "CANCELLED", "{recipient}");
    }
    app.assert_ledger_balanced().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_is_one_message_cancelled_webhook() {
    use flit_loadtest::webhook::{WebhookReceiver, WebhookReceiverConfig};

    let server = crate::common::TestServer::start_adjusted(|mut config| {
        config.webhooks.allow_private_networks = true;
        config
    })
    .await;
    let mut receiver = WebhookReceiver::start(WebhookReceiverConfig::default())
        .await
        .expect("receiver");
    let created = server
        .post(
            "/api/v1/webhooks",
            json!({"url": receiver.url(), "events": ["message.cancelled", "message.failed"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    receiver.set_secrets(vec![
        created.body["data"]["secret"]
            .as_str()
            .expect("secret")
            .to_string(),
    ]);
    let sent = server
        .post(
            "/api/v1/sms/send",
            json!({
                "recipients": ["0201234567", "0241234567"],
                "message": "Later",
                "isScheduled": true,
                "scheduleDate": in_(HOUR),
            }),
        )
        .await;
    let id = sent.body["data"]["messageId"].as_str().expect("id");
    let cancelled = server
        .request(
            Method::POST,
            &format!("/api/v1/sms/{id}/cancel"),
            Some(&server.api_key),
            None,
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert!(
        receiver.wait_for(1, Duration::from_secs(10)).await,
        "{:?}",
        receiver.stats()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = receiver.stats();
    assert_eq!(
        stats.unique_events, 1,
        "one event for the message: {stats:?}"
    );
    assert_eq!(stats.by_type.get("message.cancelled"), Some(&1));
    let event = &receiver.events()[0];
    let flit_loadtest::webhook::EventData::Other(data) = &event.data else {
        panic!("a message-wide event carries no recipient: {event:?}");
    };
    assert_eq!(data["messageId"], id);
    assert_eq!(data["status"], "CANCELLED");
    assert_eq!(data["recipients"], 2);
    assert!(data["recipient"].is_null());
    receiver.stop().await;
    server.stop().await;
}
