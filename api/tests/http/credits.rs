//! Credit arithmetic under concurrent sends: the balance is the sum of the ledger and never
//! goes negative, whatever the interleaving.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Api, TestApp, TestServer};

/// On the real server: the sends arrive on many connections at once.
async fn concurrent_sends_never_overdraw(storage: &str) {
    let server = TestServer::start_with(storage).await;
    let (_, key) = server.tenant(100, None).await;
    // 60 concurrent sends of 3 parts to 1 recipient (3 credits each) against 100 credits:
    // exactly 33 can be paid for.
    let mut tasks = Vec::new();
    for i in 0..60 {
        let request = server
            .client
            .post(format!("{}/api/v1/sms/send", server.base))
            .bearer_auth(&key)
            .json(&json!({"recipients": ["0201234567"], "message": format!("{i}{}", "x".repeat(400))}));
        tasks.push(tokio::spawn(async move {
            request.send().await.expect("sent").status()
        }));
    }
    let mut accepted = 0;
    let mut refused = 0;
    for task in tasks {
        match task.await.expect("task") {
            StatusCode::OK => accepted += 1,
            StatusCode::PAYMENT_REQUIRED => refused += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((accepted, refused), (33, 27));
    let balance = server
        .request(Method::GET, "/api/v1/balance", Some(&key), None)
        .await
        .body["data"]["balance"]
        .as_i64()
        .expect("balance");
    assert_eq!(balance, 1);
    assert_eq!(server.ledger_sum(&key).await, balance);
    // Every entry's running balance is the sum of the amounts up to it (oldest first).
    let listing = server
        .request(
            Method::GET,
            "/api/v1/transactions?limit=100",
            Some(&key),
            None,
        )
        .await;
    let mut entries = listing.body["data"]["transactions"]
        .as_array()
        .expect("transactions")
        .clone();
    entries.reverse();
    let mut running = 0;
    for entry in &entries {
        running += entry["amount"].as_i64().expect("amount");
        assert_eq!(entry["balance"].as_i64(), Some(running), "{entry}");
        assert!(running >= 0);
    }
    let history = server
        .request(Method::GET, "/api/v1/sms", Some(&key), None)
        .await;
    assert_eq!(history.body["data"]["pagination"]["total"], 33);
}

#[tokio::test]
async fn concurrent_sends_never_overdraw_on_sled() {
    concurrent_sends_never_overdraw("sled").await;
}

#[tokio::test]
async fn concurrent_sends_never_overdraw_on_redb() {
    concurrent_sends_never_overdraw("redb").await;
}

#[tokio::test]
async fn concurrent_sends_never_overdraw_on_fjall() {
    concurrent_sends_never_overdraw("fjall").await;
}

#[tokio::test]
async fn pricing_is_parts_times_recipients_times_price() {
    let app = TestApp::start().await;
    let (tenant, key) = app.tenant(1000, None).await;
    app.admin(
        Method::PATCH,
        &format!("/tenants/{tenant}"),
        Some(json!({"pricePerPart": 3})),
    )
    .await;
    // 71 UCS-2 code units = 2 parts; 3 recipients; 3 credits per part = 18.
    let text = format!("{}ɛ", "a".repeat(70));
    let sent = app
        .request(
            Method::POST,
            "/api/v1/sms/send",
            Some(&key),
            Some(
                json!({"recipients": ["0201234567", "0241234567", "0501234567"], "message": text}),
            ),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert_eq!(sent.body["data"]["creditsUsed"], 18);
    assert_eq!(sent.body["data"]["remainingCredits"], 982);
    assert_eq!(app.ledger_sum(&key).await, 982);
}
