//! A tenant's phone sends its SMS, driven here exactly as the SMS Gate app drives Flit: it
//! registers, opens its event stream, hears `MessageEnqueued`, pulls, and reports Processed,
//! Sent, Delivered one item per PATCH; the FlixySMS seed's example answers 503 while no phone
//! is online and is delivered through the phone once one is.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Api, Phone, TestServer, send_any, simulated_phones, wait_flixy};

/// The seed's request body, as it writes it.
fn seed_body() -> Value {
    json!({ "to": "+1234567890", "message": "Hello from FlixySMS!", "device_id": "optional-device-uuid" })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flixy_seed_is_503_without_a_phone_and_delivered_through_one() {
    let server = TestServer::start().await;
    let key = server.api_key.clone();
    let refused = server
        .request(
            Method::POST,
            "/flixy/api/v1/sms/send",
            Some(&key),
            Some(seed_body()),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.body
    );
    assert_eq!(refused.body["error"], "No devices available to send SMS");
    assert_eq!(server.balance().await, 1000, "nothing charged");

    let phone = Phone::register(&server, &key).await;
    // The app opens its event stream once registered.
    let events = phone
        .client
        .get(format!("{}/mobile/v1/events", phone.base))
        .bearer_auth(&phone.token)
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), StatusCode::OK);
    assert_eq!(
        events
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let mut events = events;

    let sent = server
        .request(
            Method::POST,
            "/flixy/api/v1/sms/send",
            Some(&key),
            Some(seed_body()),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let data = &sent.body["data"];
    assert_eq!(sent.body["success"], true);
    assert_eq!(data["to"], "+1234567890");
    assert_eq!(data["status"], "queued");
    let id = data["message_id"].as_str().expect("message_id").to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert!(sent.header("x-ratelimit-limit").is_some());

    // `MessageEnqueued` comes, with a data line.
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains("event: MessageEnqueued\ndata:") {
        let chunk = tokio::time::timeout_at(deadline, events.chunk())
            .await
            .expect("an event within 10 s")
            .expect("bytes")
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    let pulled = phone.pull().await;
    assert_eq!(pulled.len(), 1, "{pulled:?}");
    let message = &pulled[0];
    assert_eq!(message["phoneNumbers"], json!(["+1234567890"]));
    assert_eq!(message["textMessage"]["text"], "Hello from FlixySMS!");
    let created = message["createdAt"].as_str().expect("createdAt");
    assert_eq!(
        created.split_once('.').map(|(_, f)| f.len()),
        Some(4),
        "{created}"
    );
    let phone_id = message["id"].as_str().expect("id").to_string();
    assert!(phone_id.len() <= 36);
    // Pulled again before any report: offered again (the app may have lost it), not twice.
    assert_eq!(phone.pull().await.len(), 1);

    for state in ["Processed", "Sent", "Delivered"] {
        phone.report(&phone_id, state).await;
    }
    let listed = server.get("/api/v1/devices").await;
    let device = &listed.body["data"]["devices"][0];
    assert_eq!(device["online"], true, "{device}");
    assert_eq!(device["sentToday"], 1);
    assert!(device["lastSeen"].is_string());
    // A late, repeated report changes nothing.
    phone.report(&phone_id, "Processed").await;
    assert!(
        phone.pull().await.is_empty(),
        "finished: nothing left to pull"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        let status = server
            .request(
                Method::GET,
                &format!("/flixy/api/v1/sms/status/{id}"),
                Some(&key),
                None,
            )
            .await;
        assert_eq!(status.status, StatusCode::OK, "{}", status.body);
        if status.body["data"]["status"] == "delivered" {
            break status;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", status.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status.body["data"]["message_id"], id.as_str());
    assert!(status.body["data"]["delivered_at"].is_string());
    assert_eq!(
        server.balance().await,
        999,
        "one part charged, nothing refunded"
    );

    // Another tenant's phone never sees it, and its key cannot read it.
    let (_, other_key) = server.tenant(10, None).await;
    let theirs = server
        .request(
            Method::GET,
            &format!("/flixy/api/v1/sms/status/{id}"),
            Some(&other_key),
            None,
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let other_phone = Phone::register(&server, &other_key).await;
    assert!(other_phone.pull().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_that_fails_a_message_refunds_it_and_bad_reports_change_nothing() {
    let server = TestServer::start().await;
    let key = server.api_key.clone();
    let phone = Phone::register(&server, &key).await;
    // A pull counts as being there.
    assert!(phone.pull().await.is_empty());
    let id = send_any(&server, "+1234567890").await;
    let pulled = phone.pull_at_least(1).await;
    let phone_id = pulled[0]["id"].as_str().expect("id").to_string();
    // Malformed: an unknown state, a bad date, an id too long: 400, nothing applied.
    for body in [
        json!([{"id": phone_id, "state": "Teleported", "recipients": []}]),
        json!([{"id": phone_id, "state": "Sent", "recipients": [{"phoneNumber": "+1", "state": "Sent"}], "states": {"Sent": "yesterday"}}]),
        json!([{"id": "x".repeat(37), "state": "Sent", "recipients": []}]),
        json!({"not": "a list"}),
    ] {
        let reply = phone
            .client
            .patch(format!("{}/mobile/v1/message", phone.base))
            .bearer_auth(&phone.token)
            .json(&body)
            .send()
            .await
            .expect("patch");
        assert_eq!(reply.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    // An id it never had is ignored.
    phone.report("not-a-message-of-mine", "Delivered").await;
    phone.report(&phone_id, "Failed").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = server
            .request(
                Method::GET,
                &format!("/flixy/api/v1/sms/status/{id}"),
                Some(&key),
                None,
            )
            .await;
        if status.body["data"]["status"] == "failed" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", status.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Never accepted by the network: refunded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while server.balance().await != 1000 {
        assert!(tokio::time::Instant::now() < deadline, "not refunded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Unknown device tokens: 401.
    let unknown = phone
        .client
        .get(format!("{}/mobile/v1/message", phone.base))
        .bearer_auth("flt_phone_unknown")
        .send()
        .await
        .expect("pull");
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
}

/// Phones Flit did not write the client of (`flit-loadtest devices`, built from the app's own
/// protocol), some dropping out mid-run: every message ends delivered, none is pulled by two
/// phones, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_phones_that_drop_out_lose_nothing_and_send_nothing_twice() {
    use flit_loadtest::devices::DevicesConfig;

    let server = TestServer::start().await;
    let key = server.api_key.clone();
    let pool = simulated_phones(
        &server,
        DevicesConfig {
            devices: 5,
            sent_delay: Duration::from_millis(20),
            delivered_delay: Duration::from_millis(50),
            // Each phone drops out about twice a minute, for a second.
            dropout_rate: 2.0,
            dropout_duration: Duration::from_secs(1),
            ..DevicesConfig::default()
        },
    )
    .await;
    // 40 messages over 5 phones: within each phone's default ten a minute.
    let mut ids = Vec::new();
    for i in 0..40 {
        let sent = server
            .request(
                Method::POST,
                "/flixy/api/v1/sms/send",
                Some(&key),
                Some(json!({"to": format!("+23320{:07}", 1_000_001 + i), "message": format!("phone run {i}")})),
            )
            .await;
        assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
        ids.push(
            sent.body["data"]["message_id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    for id in &ids {
        wait_flixy(&server, id, "delivered", Duration::from_secs(90)).await;
    }
    let stats = pool.stop().await;
    assert_eq!(
        stats.duplicates, 0,
        "a message pulled by two phones: {stats:?}"
    );
    assert_eq!(stats.delivered, 40, "{stats:?}");
    assert_eq!(
        server.balance().await,
        960,
        "charged once each, nothing refunded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_cancelled_before_its_phone_pulls_it_never_reaches_the_phone() {
    let server = TestServer::start().await;
    let key = server.api_key.clone();
    let phone = Phone::register(&server, &key).await;
    assert!(phone.pull().await.is_empty(), "online");
    let uuid = send_any(&server, "+1234567890").await;
    // The native cancel takes the message's native id: find it in the history.
    let history = server.get("/api/v1/sms").await;
    let id = history.body["data"]["messages"][0]["id"]
        .as_str()
        .or_else(|| history.body["data"]["messages"][0]["messageId"].as_str())
        .expect("native id")
        .to_string();
    let cancelled = server
        .request(
            Method::POST,
            &format!("/api/v1/sms/{id}/cancel"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert!(
        phone.pull().await.is_empty(),
        "a cancelled message is not handed out"
    );
    let status = server
        .request(
            Method::GET,
            &format!("/flixy/api/v1/sms/status/{uuid}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(status.body["data"]["status"], "cancelled");
    assert_eq!(server.balance().await, 1000, "refunded");
}
