//! What keeps memory bounded, one limit at a time: a send's body is held to the small limit
//! while an import may be large; bodies announced at once are capped per key (429) and in
//! all (503) while they arrive; connections past the cap get a 503; the delivery report
//! comes a page at a time with its stats over the whole message.

use std::time::Duration;

use flit_api::config::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Api, TestServer, assert_error};

/// A request head announcing a `length`-byte JSON body, and the first byte of it.
async fn announce(server: &TestServer, path: &str, key: &str, length: usize) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {key}\r\n\
         content-type: application/json\r\ncontent-length: {length}\r\n\r\n{{",
        server.addr
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    stream
}

/// The status line and body of what the server answered on `stream` (within 5 s).
async fn answer(stream: &mut TcpStream) -> (u16, Value) {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let read = tokio::time::timeout_at(deadline, stream.read(&mut buffer))
            .await
            .expect("an answer within 5 s")
            .unwrap_or(0);
        if read == 0 {
            break;
        }
        bytes.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&bytes);
        if let Some((head, body)) = text.split_once("\r\n\r\n")
            && let Some(length) = head
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|value| value.parse::<usize>().ok())
            && body.len() >= length
        {
            break;
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn a_send_is_held_to_the_small_limit_and_an_import_may_be_large() {
    let server = TestServer::start_adjusted(|config| Config {
        max_small_body_bytes: 64 * 1024,
        ..config
    })
    .await;
    let padding = "x".repeat(100 * 1024);
    let send = server
        .post(
            "/api/v1/sms/send",
            json!({"recipients": ["0241234567"], "message": "hi", "campaign": padding}),
        )
        .await;
    assert_error(
        &send,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "a 100 KiB send",
    );
    let rows: Vec<Value> = (0..3000)
        .map(|i| json!({"phone": format!("+23324{:07}", i), "firstName": "Akosua Mensah"}))
        .collect();
    let import = server
        .post("/api/v1/contacts/import", json!({ "contacts": rows }))
        .await;
    assert_eq!(import.status, StatusCode::OK, "{}", import.body);
    assert_eq!(import.body["data"]["created"], 3000);
}

#[tokio::test]
async fn bodies_announced_at_once_are_capped_per_key_then_in_all() {
    let server = TestServer::start_adjusted(|config| Config {
        max_buffered_body_bytes: 300 * 1024,
        max_buffered_body_bytes_per_key: 200 * 1024,
        ..config
    })
    .await;
    let key = server.api_key.clone();
    let (_, other) = server.tenant(100, None).await;
    // One key announces 150 KiB and stalls: its next 150 KiB is over its share.
    let _first = announce(&server, "/api/v1/contacts/import", &key, 150 * 1024).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut second = announce(&server, "/api/v1/contacts/import", &key, 150 * 1024).await;
    let (status, body) = answer(&mut second).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "too_many_bodies");
    // Another key has its own share, but the total is 300 KiB: 150 more fit, then no more.
    let _third = announce(&server, "/api/v1/contacts/import", &other, 150 * 1024).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = announce(&server, "/api/v1/contacts/import", &other, 10 * 1024).await;
    let (status, body) = answer(&mut fourth).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "server_busy");
    // Small requests without a body still go through.
    assert_eq!(server.get("/api/v1/balance").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_connection_past_the_cap_gets_a_503() {
    let server = TestServer::start_adjusted(|config| Config {
        max_connections: 3,
        ..config
    })
    .await;
    // The test client's own pooled connections count: hold three idle ones open.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(server.addr).await.expect("connect");
    extra
        .write_all(b"GET /health HTTP/1.1\r\nhost: flit\r\n\r\n")
        .await
        .expect("request");
    let (status, body) = answer(&mut extra).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "server_busy");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = TcpStream::connect(server.addr).await.expect("connect");
    again
        .write_all(b"GET /health HTTP/1.1\r\nhost: flit\r\n\r\n")
        .await
        .expect("request");
    assert_eq!(
        answer(&mut again).await.0,
        200,
        "room again once they closed"
    );
}

#[tokio::test]
async fn the_delivery_report_comes_a_page_at_a_time_with_stats_over_all() {
    let server = TestServer::start().await;
    let numbers: Vec<String> = (0..5).map(|i| format!("024123456{i}")).collect();
    let sent = server
        .post(
            "/api/v1/sms/send",
            json!({"recipients": numbers, "message": "paged"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let id = sent.body["data"]["messageId"]
        .as_str()
        .expect("id")
        .to_string();
    let page = server
        .get(&format!("/api/v1/sms/{id}/recipients?page=2&limit=2"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let data = &page.body["data"];
    let phones: Vec<&str> = data["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .filter_map(|r| r["phone"].as_str())
        .collect();
    assert_eq!(
        phones,
        ["233241234562", "233241234563"],
        "the third and fourth"
    );
    assert_eq!(data["recipientCount"], 5);
    assert_eq!(
        data["pagination"],
        json!({"page": 2, "limit": 2, "total": 5, "totalPages": 3, "hasMore": true})
    );
    let stats = &data["stats"];
    let counted = stats["delivered"].as_u64().unwrap_or(0)
        + stats["failed"].as_u64().unwrap_or(0)
        + stats["pending"].as_u64().unwrap_or(0);
    assert_eq!(counted, 5, "stats cover every recipient: {stats}");
    let last = server
        .get(&format!("/api/v1/sms/{id}/recipients?page=3&limit=2"))
        .await;
    assert_eq!(
        last.body["data"]["recipients"].as_array().map(Vec::len),
        Some(1)
    );
    let bad = server
        .get(&format!("/api/v1/sms/{id}/recipients?limit=1001"))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
}
