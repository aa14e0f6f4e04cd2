//! Flit against `flit-loadtest smsc` over real SMPP on loopback: delivery, faults, binds that
//! come and go, and receipts that outlive a restart.

use flit_loadtest::webhook::{EventData, WebhookReceiver, WebhookReceiverConfig};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::carrier::{add_bind, send, smsc_with, wait_bound};
use crate::common::{Api, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_leave_through_a_bind_and_come_back_delivered() {
    let smsc = smsc_with(|_| {}).await;
    let server = TestServer::start().await;
    let bind = add_bind(&server, "sim", smsc.addr.port(), json!({})).await;
    wait_bound(&server, &bind).await;
    let health = server.request(Method::GET, "/health", None, None).await;
    assert_eq!(health.body["sandbox"], false);

    let texts = [
        "short",
        &"x".repeat(400),
        "Ɛte sɛn? 👋 multi-part UCS-2 is fine too",
    ];
    let mut ids = Vec::new();
    for text in texts {
        ids.push(send(&server, &["0201234567", "0241234567"], text).await);
    }
    for id in &ids {
        let report = server.settled(id, Duration::from_secs(15)).await;
        assert_eq!(report["status"], "DELIVERED", "{report}");
        assert_eq!(report["stats"]["delivered"], 2);
    }
    let stats = smsc.stats();
    // 1 + 3 + 1 parts, to two recipients each.
    assert_eq!(stats.accepted, 10);
    assert_eq!(stats.receipts_sent, 10);
    let state = server
        .admin(Method::GET, &format!("/binds/{bind}"), None)
        .await;
    assert_eq!(state.body["data"]["state"]["accepted"], 10);
    assert_eq!(state.body["data"]["state"]["receipts"], 10);
    assert_eq!(state.body["data"]["state"]["inFlight"], 0);
    server.assert_ledger_balanced().await;
    assert!(stats.max_outstanding_seen <= 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_disconnects_lose_nothing_and_refund_nothing() {
    let smsc = smsc_with(|config| {
        config.throttle_every = Some(7);
        config.disconnect_every = Some(23);
    })
    .await;
    let server = TestServer::start().await;
    let bind = add_bind(&server, "sim", smsc.addr.port(), json!({"windowSize": 5})).await;
    wait_bound(&server, &bind).await;
    let recipients: Vec<String> = (0..40).map(|i| format!("02012{i:05}")).collect();
    let recipients: Vec<&str> = recipients.iter().map(String::as_str).collect();
    let id = send(&server, &recipients, "fault tolerant").await;
    let report = server.settled(&id, Duration::from_secs(60)).await;
    assert_eq!(report["stats"]["delivered"], 40, "{report}");
    let stats = smsc.stats();
    assert!(stats.throttled > 0 && stats.disconnects > 0, "{stats:?}");
    let refunds = server.get("/api/v1/transactions?type=REFUND").await;
    assert_eq!(refunds.body["data"]["pagination"]["total"], 0);
    assert_eq!(server.balance().await, 1000 - 40);
    server.assert_ledger_balanced().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_waits_for_a_bind_that_is_down_and_goes_when_it_comes_up() {
    // Reserve a port, free it, and point a bind at it before anything listens there.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let server = TestServer::start().await;
    let bind = add_bind(&server, "sim", port, json!({})).await;
    let id = send(&server, &["0201234567"], "patience").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waiting = server.get(&format!("/api/v1/sms/status/{id}")).await;
    assert_eq!(waiting.body["data"]["status"], "PENDING");
    let smsc =
        smsc_with(|config| config.listen = format!("127.0.0.1:{port}").parse().expect("addr"))
            .await;
    wait_bound(&server, &bind).await;
    let report = server.settled(&id, Duration::from_secs(20)).await;
    assert_eq!(report["status"], "DELIVERED");
    assert_eq!(smsc.stats().accepted, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_validity_fails_and_refunds_what_never_left() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let server = TestServer::start().await;
    add_bind(&server, "sim", port, json!({})).await;
    let sent = server
        .post(
            "/api/v1/sms/send",
            json!({"recipients": ["0201234567"], "message": "x".repeat(200), "validityPeriod": 1}),
        )
        .await;
    assert_eq!(sent.body["data"]["creditsUsed"], 2);
    let id = sent.body["data"]["messageId"]
        .as_str()
        .expect("id")
        .to_string();
    let report = server.settled(&id, Duration::from_secs(15)).await;
    assert_eq!(report["recipients"][0]["status"], "FAILED");
    let refunds = server.refunds(1).await;
    let refund = &refunds[0];
    assert_eq!(refund["amount"], 2);
    assert_eq!(refund["reference"], id.as_str());
    assert_eq!(server.balance().await, 1000);
    server.assert_ledger_balanced().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_that_arrive_after_a_restart_still_match() {
    let smsc = smsc_with(|config| config.receipt_delay = Duration::from_millis(1500)).await;
    let server = TestServer::start().await;
    let bind = add_bind(&server, "sim", smsc.addr.port(), json!({})).await;
    wait_bound(&server, &bind).await;
    let id = send(&server, &["0201234567"], "across a restart").await;
    smsc.wait_for_stats(Duration::from_secs(5), |stats| stats.accepted == 1)
        .await
        .expect("accepted");
    let server = server.restart().await;
    let report = server.settled(&id, Duration::from_secs(20)).await;
    assert_eq!(report["status"], "DELIVERED", "{report}");
    assert_eq!(smsc.stats().accepted, 1, "not sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binds_and_routes_are_managed_at_run_time() {
    let smsc = smsc_with(|_| {}).await;
    let server = TestServer::start().await;
    let bind = add_bind(&server, "sim", smsc.addr.port(), json!({})).await;
    let route = server
        .admin(
            Method::POST,
            "/routes",
            Some(json!({"prefix": "233", "bindIds": [bind], "priority": 1})),
        )
        .await;
    assert_eq!(route.status, StatusCode::CREATED, "{}", route.body);
    let routes = server.admin(Method::GET, "/routes", None).await;
    assert_eq!(routes.body["data"]["routes"][0]["prefix"], "233");
    for (body, status) in [
        (
            json!({"prefix": "23x", "bindIds": [bind]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"prefix": "1", "bindIds": []}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"prefix": "1", "bindIds": ["bnd_nope"]}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"prefix": "1", "bindIds": [bind], "weights": [1, 2]}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let reply = server.admin(Method::POST, "/routes", Some(body)).await;
        assert_eq!(reply.status, status, "{}", reply.body);
    }
    for (body, code) in [
        (
            json!({"name": "x", "host": "127.0.0.1", "port": 1, "systemId": "a-very-long-system-id"}),
            "invalid_system_id",
        ),
        (
            json!({"name": "x", "host": "127.0.0.1", "port": 1, "systemId": "a", "gsm7": "utf8"}),
            "invalid_gsm7",
        ),
        (
            json!({"name": "x", "host": "127.0.0.1", "port": 1, "systemId": "a", "windowSize": 0}),
            "invalid_window_size",
        ),
        (
            json!({"host": "127.0.0.1", "port": 1, "systemId": "a"}),
            "missing_field",
        ),
    ] {
        let reply = server.admin(Method::POST, "/binds", Some(body)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(reply.code(), code);
    }
    let listed = server.admin(Method::GET, "/binds", None).await;
    assert_eq!(
        listed.body["data"]["binds"].as_array().map(Vec::len),
        Some(1)
    );
    let deleted = server
        .admin(Method::DELETE, &format!("/binds/{bind}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    smsc.wait_for_stats(Duration::from_secs(5), |stats| stats.unbinds == 1)
        .await
        .expect("graceful unbind");
    let gone = server
        .admin(Method::GET, &format!("/binds/{bind}"), None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let health = server.request(Method::GET, "/health", None, None).await;
    assert_eq!(health.body["sandbox"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_sms_reach_the_tenant_that_owns_the_bind_or_the_number() {
    let smsc = smsc_with(|_| {}).await;
    let server = TestServer::start_adjusted(|mut config| {
        config.webhooks.allow_private_networks = true;
        config
    })
    .await;
    let (tenant, key) = server.tenant(10, None).await;
    let mut receiver = WebhookReceiver::start(WebhookReceiverConfig::default())
        .await
        .expect("receiver");
    let webhook = server
        .request(
            Method::POST,
            "/api/v1/webhooks",
            Some(&key),
            Some(json!({"url": receiver.url(), "events": ["message.received"]})),
        )
        .await;
    assert_eq!(webhook.status, StatusCode::CREATED, "{}", webhook.body);
    receiver.set_secrets(vec![
        webhook.body["data"]["secret"]
            .as_str()
            .expect("secret")
            .to_string(),
    ]);
    let owned = server
        .admin(
            Method::POST,
            &format!("/tenants/{tenant}/sender-ids"),
            Some(json!({"name": "233501234567"})),
        )
        .await;
    assert_eq!(owned.status, StatusCode::CREATED);
    let bind = add_bind(&server, "sim", smsc.addr.port(), json!({})).await;
    wait_bound(&server, &bind).await;
    let long = format!("{} end", "a reply that needs two parts ".repeat(7));
    smsc.send_inbound("233241234567", "233501234567", &long)
        .await
        .expect("inbound sent");
    smsc.send_inbound("233241234567", "233999999999", "nobody owns this")
        .await
        .expect("inbound sent");
    let mut received = Value::Null;
    for _ in 0..50 {
        received = server
            .request(Method::GET, "/api/v1/inbound", Some(&key), None)
            .await
            .body;
        if received["data"]["pagination"]["total"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sms = &received["data"]["messages"][0];
    assert_eq!(sms["from"], "233241234567", "{received}");
    assert_eq!(sms["to"], "233501234567");
    assert_eq!(sms["message"], long.as_str());
    assert_eq!(sms["parts"], 2);
    // The default tenant owns neither: it sees nothing.
    let theirs = server.get("/api/v1/inbound").await;
    assert_eq!(theirs.body["data"]["pagination"]["total"], 0);
    // The owner's webhook heard of it, once, whole.
    assert!(
        receiver.wait_for(1, Duration::from_secs(10)).await,
        "{:?}",
        receiver.stats()
    );
    let event = &receiver.events()[0];
    assert_eq!(event.event_type, "message.received");
    let EventData::Inbound(inbound) = &event.data else {
        panic!("an inbound event expected: {event:?}");
    };
    assert_eq!(inbound.inbound_id, sms["id"].as_str().expect("id"));
    assert_eq!(inbound.from, "233241234567");
    assert_eq!(inbound.text, long);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.stats().unique_events, 1, "only the owner's SMS");
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_racing_ahead_of_their_response_are_held_and_matched() {
    let smsc = smsc_with(|config| {
        config.latency = Duration::from_millis(150);
        config.receipts_before_response = true;
        // The response carries the id in hex, the receipt in decimal.
        config.id_format = flit_loadtest::smsc::IdFormat::HexRespDecimalReceipt;
    })
    .await;
    let server = TestServer::start().await;
    let bind = add_bind(&server, "sim", smsc.addr.port(), json!({})).await;
    wait_bound(&server, &bind).await;
    let id = send(&server, &["0201234567", "0241234567"], &"y".repeat(300)).await;
    let report = server.settled(&id, Duration::from_secs(15)).await;
    assert_eq!(report["stats"]["delivered"], 2, "{report}");
    assert_eq!(smsc.stats().receipts_sent, 4);
    server.assert_ledger_balanced().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_slow_responses_lose_nothing() {
    let smsc = smsc_with(|config| {
        config.garbage_every = Some(11);
        config.latency = Duration::from_millis(30);
    })
    .await;
    let server = TestServer::start().await;
    let bind = add_bind(&server, "sim", smsc.addr.port(), json!({})).await;
    wait_bound(&server, &bind).await;
    let recipients: Vec<String> = (0..30).map(|i| format!("02433{i:05}")).collect();
    let recipients: Vec<&str> = recipients.iter().map(String::as_str).collect();
    let id = send(&server, &recipients, "through the noise").await;
    let report = server.settled(&id, Duration::from_secs(60)).await;
    assert_eq!(report["stats"]["delivered"], 30, "{report}");
    assert!(smsc.stats().garbage_sent > 0);
    assert_eq!(server.balance().await, 1000 - 30);
    server.assert_ledger_balanced().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_refusal_fails_with_its_code_and_refunds_the_parts() {
    let smsc = smsc_with(|config| config.reject_suffix = Some("9999".into())).await;
    let server = TestServer::start().await;
    let bind = add_bind(&server, "sim", smsc.addr.port(), json!({})).await;
    wait_bound(&server, &bind).await;
    let id = send(&server, &["0201239999", "0201234567"], &"z".repeat(200)).await;
    let report = server.settled(&id, Duration::from_secs(15)).await;
    let refused = &report["recipients"][0];
    assert_eq!(refused["status"], "FAILED", "{report}");
    assert_eq!(refused["error"], "SMPP error 0x0000000b");
    assert_eq!(report["recipients"][1]["status"], "DELIVERED");
    // 2 parts × 2 recipients charged; the refused recipient's 2 parts come back.
    let refunds = server.refunds(1).await;
    assert_eq!(refunds[0]["amount"], 2);
    assert_eq!(server.balance().await, 1000 - 4 + 2);
    server.assert_ledger_balanced().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_fails_over_to_the_bind_that_is_up() {
    let smsc = smsc_with(|_| {}).await;
    let dead_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let server = TestServer::start().await;
    let down = add_bind(&server, "sim", dead_port, json!({"name": "down"})).await;
    let up = add_bind(&server, "sim", smsc.addr.port(), json!({"name": "up"})).await;
    wait_bound(&server, &up).await;
    let route = server
        .admin(
            Method::POST,
            "/routes",
            Some(json!({"prefix": "233", "bindIds": [down, up], "priority": 0, "weights": [9, 1]})),
        )
        .await;
    assert_eq!(route.status, StatusCode::CREATED);
    let recipients: Vec<String> = (0..20).map(|i| format!("02055{i:05}")).collect();
    let recipients: Vec<&str> = recipients.iter().map(String::as_str).collect();
    let id = send(&server, &recipients, "failover").await;
    let report = server.settled(&id, Duration::from_secs(15)).await;
    assert_eq!(report["stats"]["delivered"], 20, "{report}");
    let down_state = server
        .admin(Method::GET, &format!("/binds/{down}"), None)
        .await;
    assert_eq!(down_state.body["data"]["state"]["bound"], false);
    assert_eq!(down_state.body["data"]["state"]["submitted"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transmitter_and_receiver_binds_carry_submits_and_receipts() {
    let smsc = smsc_with(|_| {}).await;
    let server = TestServer::start().await;
    let bind = add_bind(
        &server,
        "sim",
        smsc.addr.port(),
        json!({"bindMode": "transmitter_receiver", "gsm7": "packed"}),
    )
    .await;
    wait_bound(&server, &bind).await;
    let id = send(&server, &["0201234567"], &"packed text ".repeat(20)).await;
    let report = server.settled(&id, Duration::from_secs(15)).await;
    assert_eq!(report["status"], "DELIVERED", "{report}");
    assert_eq!(smsc.stats().binds, 2, "one transmitter and one receiver");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_not_yet_sent_are_requeued_after_a_restart() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let server = TestServer::start().await;
    let bind = add_bind(&server, "sim", port, json!({})).await;
    let id = send(&server, &["0201234567", "0241234567"], "kept on disk").await;
    let server = server.restart().await;
    let smsc = smsc_with(|config| {
        config.listen = format!("127.0.0.1:{port}").parse().expect("addr");
    })
    .await;
    wait_bound(&server, &bind).await;
    let report = server.settled(&id, Duration::from_secs(20)).await;
    assert_eq!(report["stats"]["delivered"], 2, "{report}");
    assert_eq!(smsc.stats().accepted, 2, "each sent once");
}
