//! The dispatch backlog cap: with every carrier down, accepted recipients wait in memory and on
//! disk; past the configured cap a send is refused with 503 `backlog_full` before it is
//! charged, and the server goes on answering everything else.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Api, TestServer};

const CAP: usize = 50;

fn numbers(from: u32, count: u32) -> Vec<String> {
    (from..from + count)
        .map(|n| format!("23320{n:07}"))
        .collect()
}

#[tokio::test]
async fn sends_past_the_backlog_cap_answer_503_and_charge_nothing() {
    let server = TestServer::start_adjusted(|config| flit_api::config::Config {
        max_backlog: CAP,
        ..config
    })
    .await;
    // A carrier nobody listens for: every job parks, nothing leaves the backlog.
    let bind = server
        .admin(
            Method::POST,
            "/binds",
            Some(json!({
                "name": "down", "host": "127.0.0.1", "port": 1, "systemId": "flit",
                "password": "secret", "bindMode": "transceiver", "windowSize": 10
            })),
        )
        .await;
    assert_eq!(bind.status, StatusCode::CREATED, "{:?}", bind.body);

    let send = |from: u32, count: u32| json!({"recipients": numbers(from, count), "message": "queued", "senderId": "MyBrand"});
    let first = server.post("/api/v1/sms/send", send(0, 30)).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let balance = server.balance().await;
    assert_eq!(balance, 1000 - 30);

    // 30 waiting + 30 more would pass the cap of 50.
    let refused = server.post("/api/v1/sms/send", send(100, 30)).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        refused.body
    );
    assert_eq!(refused.code(), "backlog_full");
    assert_eq!(refused.body["success"], false);
    let sentence = refused.body["error"].as_str().expect("error sentence");
    assert!(
        sentence.contains("recipients are waiting for a carrier (cap 50)"),
        "{sentence}"
    );
    assert!(
        refused.header("retry-after").is_some(),
        "503 says when to retry"
    );
    assert_eq!(
        server.balance().await,
        balance,
        "a refused send costs nothing"
    );

    // What still fits is taken; the server keeps answering the rest of the API.
    let fits = server.post("/api/v1/sms/send", send(200, 20)).await;
    assert_eq!(fits.status, StatusCode::OK, "{:?}", fits.body);
    let one_more = server.post("/api/v1/sms/send", send(300, 1)).await;
    assert_eq!(one_more.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(server.get("/health").await.status, StatusCode::OK);
    assert_eq!(server.get("/api/v1/balance").await.status, StatusCode::OK);
    server.assert_ledger_balanced().await;
}
