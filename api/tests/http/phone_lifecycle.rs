//! A tenant's phones over their lifetime, driven as the SMS Gate app drives Flit: what a phone
//! took stays with it across a restart of Flit (no other phone gets it, its reports still
//! land); a cancel reaches a phone that already took the message; the tenant's limits hold
//! and reach the phone; SIM pinning and validity travel with the message; failover to the
//! carriers where the tenant allows it; a message a phone sits on is reported stuck, and
//! unpairing a phone fails (and refunds) what it never reported; and simulated phones over
//! https deliver everything, multi-part messages whole.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Api, Phone, TestServer, assert_error, send_any, simulated_phones, wait_flixy};

/// Waits until the native status of `id` is `want` (10 s at most).
async fn wait_status(server: &TestServer, id: &str, want: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = server.get(&format!("/api/v1/sms/status/{id}")).await;
        assert_eq!(status.status, StatusCode::OK, "{}", status.body);
        if status.body["data"]["status"] == want {
            return status.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} is not {want}: {}",
            status.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A native send through `device` (any of the tenant's phones when `None`) to `to`.
async fn send(server: &TestServer, device: &str, to: &[&str], extra: Value) -> String {
    let mut body = json!({"recipients": to, "message": "Your code is 4821", "deviceId": device});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let sent = server.post("/api/v1/sms/send", body).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    sent.body["data"]["messageId"]
        .as_str()
        .expect("messageId")
        .to_string()
}

/// The tenant's phone `id` as `GET /api/v1/devices` lists it.
async fn listed(server: &TestServer, id: &str) -> Value {
    let listed = server.get("/api/v1/devices").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    listed.body["data"]["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .find(|device| device["id"] == id)
        .cloned()
        .expect("listed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_phone_took_goes_back_to_it_alone_after_a_restart() {
    let server = TestServer::start().await;
    let key = server.api_key.clone();
    let first = Phone::register(&server, &key).await;
    assert!(first.pull().await.is_empty(), "online");
    // For any phone of the tenant: only one is there to take them.
    let pending = send_any(&server, "+233201234567").await;
    let sent = send_any(&server, "+233201234568").await;
    let pulled = first.pull_at_least(2).await;
    let id_of = |number: &str| {
        pulled
            .iter()
            .find(|m| m["phoneNumbers"][0] == number)
            .and_then(|m| m["id"].as_str())
            .expect("pulled")
            .to_string()
    };
    let (pending_id, sent_id) = (id_of("+233201234567"), id_of("+233201234568"));
    // The phone sends one and goes quiet with the other before it says anything.
    first.report(&sent_id, "Sent").await;
    wait_flixy(&server, &sent, "sent", Duration::from_secs(10)).await;

    let server = server.restart().await;
    let first = Phone {
        base: server.base.clone(),
        ..first
    };
    // Another phone of the tenant comes online, and stays the only one for a while: the
    // message the first one took is not given to it.
    let second = Phone::register(&server, &key).await;
    assert!(second.pull().await.is_empty());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        second.pull().await.is_empty(),
        "a message the first phone took went to another"
    );
    // The first phone comes back: offered the one it never reported, under the same id.
    let again = first.pull_at_least(1).await;
    let again: Vec<&str> = again.iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(again, [pending_id.as_str()]);
    for state in ["Sent", "Delivered"] {
        first.report(&pending_id, state).await;
    }
    // The report of the one it sent before the restart still lands.
    first.report(&sent_id, "Delivered").await;
    wait_flixy(&server, &pending, "delivered", Duration::from_secs(10)).await;
    wait_flixy(&server, &sent, "delivered", Duration::from_secs(10)).await;
    assert_eq!(server.balance().await, 998, "charged once each");
    assert!(second.pull().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_reaches_a_phone_that_took_the_message() {
    let server = TestServer::start().await;
    let phone = Phone::register(&server, &server.api_key).await;
    let mut events = phone.events().await;
    let id = send(&server, &phone.id, &["+233201234567"], json!({})).await;
    events.next("MessageEnqueued").await;
    let pulled = phone.pull_at_least(1).await;
    let phone_id = pulled[0]["id"].as_str().expect("id").to_string();
    assert_eq!(pulled[0]["state"], "Pending");

    let cancelled = server
        .post(&format!("/api/v1/sms/{id}/cancel"), json!({}))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    // The app's event: `MessageCancelled` naming its own id for the message.
    let data: Value =
        serde_json::from_str(&events.next("MessageCancelled").await).expect("json data");
    assert_eq!(data, json!({"messageId": phone_id}));
    // Pulled again (the app missed the event, say): offered as `Cancelling`.
    let offered = phone.pull().await;
    assert_eq!(offered.len(), 1, "{offered:?}");
    assert_eq!(offered[0]["state"], "Cancelling");
    // The phone drops it and says so.
    phone.report(&phone_id, "Cancelled").await;
    assert!(phone.pull().await.is_empty());
    wait_status(&server, &id, "CANCELLED").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.balance().await, 1000, "refunded once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenants_limits_hold_at_once_and_reach_the_phone_with_sim_and_validity() {
    let server = TestServer::start().await;
    let phone = Phone::register(&server, &server.api_key).await;
    let mut events = phone.events().await;
    let changed = server
        .request(
            Method::PATCH,
            &format!("/api/v1/devices/{}", phone.id),
            Some(&server.api_key),
            Some(json!({"name": "Front desk", "limits": {"perMinute": 2}})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["data"]["name"], "Front desk");
    assert_eq!(
        changed.body["data"]["limits"],
        json!({"perMinute": 2, "perHour": 300, "perDay": 2000}),
        "the limits not named stay"
    );
    events.next("SettingsUpdated").await;
    let settings: Value = phone
        .client
        .get(format!("{}/mobile/v1/settings", phone.base))
        .bearer_auth(&phone.token)
        .send()
        .await
        .expect("settings")
        .json()
        .await
        .expect("json");
    assert_eq!(settings["messages"]["limit_period"], "PerMinute");
    assert_eq!(settings["messages"]["limit_value"], 2);

    let numbers = [
        "+233201234561",
        "+233201234562",
        "+233201234563",
        "+233201234564",
        "+233201234565",
    ];
    send(
        &server,
        &phone.id,
        &numbers,
        json!({"simNumber": 2, "validityPeriod": 3600}),
    )
    .await;
    let pulled = phone.pull_at_least(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pulled_again = phone.pull().await;
    assert_eq!(pulled.len(), 2, "two a minute: {pulled:?}");
    assert_eq!(pulled_again.len(), 2, "the same two, no more");
    for message in &pulled {
        assert_eq!(message["simNumber"], 2, "{message}");
        let until = message["validUntil"].as_str().expect("validUntil");
        assert_eq!(
            until.split_once('.').map(|(_, f)| f.len()),
            Some(4),
            "three fraction digits and Z: {until}"
        );
    }
    let device = listed(&server, &phone.id).await;
    assert_eq!(device["queued"], 5, "{device}");
    assert_eq!(device["sentToday"], 2, "{device}");

    // Bad changes are refused whole; another tenant's phone is not found.
    let too_high = server
        .request(
            Method::PATCH,
            &format!("/api/v1/devices/{}", phone.id),
            Some(&server.api_key),
            Some(json!({"name": "x", "limits": {"perDay": 2_000_000}})),
        )
        .await;
    assert_error(
        &too_high,
        StatusCode::BAD_REQUEST,
        "invalid_limits",
        "limit",
    );
    assert_eq!(listed(&server, &phone.id).await["name"], "Front desk");
    let (_, other_key) = server.tenant(10, None).await;
    let theirs = server
        .request(
            Method::PATCH,
            &format!("/api/v1/devices/{}", phone.id),
            Some(&other_key),
            Some(json!({"limits": {"perMinute": 0}})),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{}", theirs.body);
    let bad_sim = server
        .post(
            "/api/v1/sms/send",
            json!({"to": "+233201234567", "message": "hi", "deviceId": phone.id, "simNumber": 4}),
        )
        .await;
    assert_error(&bad_sim, StatusCode::BAD_REQUEST, "invalid_sim", "sim 4");
    let sim_alone = server
        .post(
            "/api/v1/sms/send",
            json!({"to": "+233201234567", "message": "hi", "simNumber": 1}),
        )
        .await;
    assert_error(
        &sim_alone,
        StatusCode::BAD_REQUEST,
        "invalid_sim",
        "no phone",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_failover_the_carriers_take_what_no_phone_can() {
    let server = TestServer::start().await;
    let seed = json!({"to": "+1234567890", "message": "Hello from FlixySMS!"});
    let refused = server.post("/flixy/api/v1/sms/send", seed.clone()).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    let allowed = server
        .admin(
            Method::PATCH,
            &format!("/tenants/{}", server.tenant_id),
            Some(json!({"allowDeviceFailover": true})),
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
    let sent = server.post("/flixy/api/v1/sms/send", seed).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let id = sent.body["data"]["message_id"].as_str().expect("id");
    // No phone, so the carriers (here the sandbox simulator) deliver it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = server.get(&format!("/flixy/api/v1/sms/status/{id}")).await;
        if status.body["data"]["status"] == "delivered" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", status.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A message naming its phone never fails over.
    let phone = Phone::register(&server, &server.api_key).await;
    let named = server
        .post(
            "/api/v1/sms/send",
            json!({"to": "+233201234567", "message": "hi", "deviceId": phone.id}),
        )
        .await;
    assert_eq!(
        named.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        named.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_a_phone_sits_on_is_stuck_and_unpairing_fails_it_with_a_refund() {
    let server = TestServer::start_adjusted(|mut config| {
        config.devices.times.stuck_after = Duration::from_secs(1);
        config
    })
    .await;
    let phone = Phone::register(&server, &server.api_key).await;
    assert!(phone.pull().await.is_empty(), "online");
    let id = send(&server, &phone.id, &["+233201234567"], json!({})).await;
    phone.pull_at_least(1).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let device = listed(&server, &phone.id).await;
        if device["stuck"] == 1 {
            assert_eq!(device["inFlight"], 1, "{device}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{device}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(server.balance().await, 999);
    let unpaired = server
        .request(
            Method::DELETE,
            &format!("/api/v1/devices/{}", phone.id),
            Some(&server.api_key),
            None,
        )
        .await;
    assert_eq!(unpaired.status, StatusCode::OK, "{}", unpaired.body);
    let status = wait_status(&server, &id, "FAILED").await;
    assert_eq!(status["data"]["status"], "FAILED");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.balance().await != 1000 {
        assert!(tokio::time::Instant::now() < deadline, "not refunded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Phones that speak the app's protocol over https to a server whose certificate comes from
/// `flit tls init`'s code, trusting only its CA: every message is delivered, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_phones_deliver_everything_over_https() {
    use flit_api::config::TlsConfig;
    use flit_api::tls_cli::{self, Host, InitArgs};
    use flit_loadtest::devices::DevicesConfig;

    let tls_dir = tempfile::tempdir().expect("temp dir");
    let (files, _) = tls_cli::init(&InitArgs {
        dir: tls_dir.path().to_path_buf(),
        hosts: vec![Host::Ip("127.0.0.1".parse().expect("ip"))],
        force: false,
    })
    .expect("certificates");
    let server = TestServer::start_tls(&files.ca_cert, |mut config| {
        config.tls = Some(TlsConfig {
            cert: files.cert.clone(),
            key: files.key.clone(),
        });
        config
    })
    .await;
    assert!(server.base.starts_with("https://"));
    let pool = simulated_phones(
        &server,
        DevicesConfig {
            devices: 3,
            sent_delay: Duration::from_millis(20),
            delivered_delay: Duration::from_millis(50),
            ca_pem: Some(std::fs::read(&files.ca_cert).expect("ca")),
            ..DevicesConfig::default()
        },
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let sent = server
            .post(
                "/flixy/api/v1/sms/send",
                // Two parts each: the phone sends it whole, and it is delivered when both are.
                json!({"to": format!("+23320{:07}", 2_000_001 + i), "message": format!("https run {i} {}", "x".repeat(160))}),
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
        wait_flixy(&server, id, "delivered", Duration::from_secs(60)).await;
    }
    let stats = pool.stop().await;
    assert_eq!(stats.duplicates, 0, "{stats:?}");
    assert_eq!(stats.delivered, 12, "{stats:?}");
    assert_eq!(
        server.balance().await,
        1000 - 24,
        "two parts each, nothing refunded"
    );
}
