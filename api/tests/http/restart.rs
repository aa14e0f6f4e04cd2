//! A restart keeps every accepted message, key, tenant and balance.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Api, TestServer};

async fn restart_keeps_everything(storage: &str) {
    let server = TestServer::start_with(storage).await;
    let (tenant, key) = server.tenant(50, None).await;
    let sent = server
        .request(
            Method::POST,
            "/api/v1/sms/send",
            Some(&key),
            Some(json!({"recipients": ["0201234567", "0241234567"], "message": "durable"})),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK);
    let id = sent.body["data"]["messageId"]
        .as_str()
        .expect("id")
        .to_string();
    let default_sent = server
        .post(
            "/api/v1/sms/send",
            json!({"recipients": ["0201234567"], "message": "x"}),
        )
        .await;
    assert_eq!(default_sent.status, StatusCode::OK);

    let server = server.restart().await;

    let balance = server
        .request(Method::GET, "/api/v1/balance", Some(&key), None)
        .await;
    assert_eq!(balance.status, StatusCode::OK, "the key survives");
    assert_eq!(balance.body["data"]["balance"], 48);
    assert_eq!(server.balance().await, 999);
    let status = server
        .request(
            Method::GET,
            &format!("/api/v1/sms/status/{id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(status.body["data"]["recipientCount"], 2);
    let report = server
        .request(
            Method::GET,
            &format!("/api/v1/sms/{id}/recipients"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(
        report.body["data"]["recipients"].as_array().map(Vec::len),
        Some(2)
    );
    let tenant_read = server
        .admin(Method::GET, &format!("/tenants/{tenant}"), None)
        .await;
    assert_eq!(tenant_read.body["data"]["name"], "Acme");
    assert_eq!(server.ledger_sum(&key).await, 48);
    let senders = server
        .request(Method::GET, "/api/v1/sender-ids", Some(&key), None)
        .await;
    assert_eq!(senders.body["data"]["senderIds"][0]["name"], "Acme");
    // The bootstrap does not run twice: still one tenant named default, one bootstrap key.
    let tenants = server.admin(Method::GET, "/tenants", None).await;
    let defaults = tenants.body["data"]["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .filter(|t| t["name"] == "default")
        .count();
    assert_eq!(defaults, 1);
    // Sending keeps working after the restart and charges from the restored balance.
    let again = server
        .request(
            Method::POST,
            "/api/v1/sms/send",
            Some(&key),
            Some(json!({"recipients": ["0201234567"], "message": "again"})),
        )
        .await;
    assert_eq!(again.body["data"]["remainingCredits"], 47);
}

#[tokio::test]
async fn restart_keeps_everything_on_sled() {
    restart_keeps_everything("sled").await;
}

#[tokio::test]
async fn restart_keeps_everything_on_redb() {
    restart_keeps_everything("redb").await;
}

#[tokio::test]
async fn restart_keeps_everything_on_fjall() {
    restart_keeps_everything("fjall").await;
}

#[tokio::test]
async fn an_idempotent_retry_after_a_restart_gets_the_first_answer() {
    let server = TestServer::start().await;
    let send = |server: &TestServer| {
        server
            .client
            .post(format!("{}/api/v1/sms/send", server.base))
            .bearer_auth(&server.api_key)
            .header("Idempotency-Key", "before-restart")
            .json(&json!({"recipients": ["0201234567"], "message": "once"}))
            .send()
    };
    let first = TestServer::reply(send(&server).await.expect("sent")).await;
    assert_eq!(first.status, StatusCode::OK);
    let server = server.restart().await;
    let again = TestServer::reply(send(&server).await.expect("sent")).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, first.body);
    assert_eq!(server.balance().await, 999);
}

#[tokio::test]
async fn first_start_writes_private_token_and_bootstrap_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = flit_api::config::Config::load(flit_api::config::Overrides {
        data_dir: Some(dir.path().to_path_buf()),
        listen: Some("127.0.0.1:0".parse().expect("addr")),
        ..Default::default()
    })
    .expect("config");
    // No admin token configured: one is generated into the data dir.
    let config = flit_api::config::Config {
        admin_token: None,
        ..config
    };
    let server = flit_api::server::Server::start(config, None)
        .await
        .expect("starts");
    for file in ["admin-token", "bootstrap.json"] {
        let mode = std::fs::metadata(dir.path().join(file))
            .expect(file)
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    let token = std::fs::read_to_string(dir.path().join("admin-token")).expect("token");
    let bootstrap: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("bootstrap.json")).expect("bootstrap"),
    )
    .expect("json");
    assert_eq!(
        bootstrap["baseUrl"],
        format!("http://{}/api/v1", server.addr).as_str()
    );
    let client = reqwest::Client::new();
    let tenants = client
        .get(format!("http://{}/admin/v1/tenants", server.addr))
        .bearer_auth(token.trim())
        .send()
        .await
        .expect("sent");
    assert_eq!(tenants.status(), StatusCode::OK);
    let health: serde_json::Value = client
        .get(format!("http://{}/health", server.addr))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["sandbox"], true);
    server.shutdown().await.expect("shutdown");
}
