//! What the SMPP tests share: a simulated SMSC, binds to it through the admin API, their live
//! state, and sends that return the message id.

use std::time::Duration;

use flit_loadtest::smsc::{self, SmscConfig, SmscHandle};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Api, TestServer};

/// The window of the binds `add_bind` registers (unless `extra` says otherwise).
pub const WINDOW: u64 = 10;

/// A simulated SMSC on a free port (system id `flit`, password `secret`, receipts 200 ms after
/// each answer), changed by `config`.
pub async fn smsc_with(config: impl FnOnce(&mut SmscConfig)) -> SmscHandle {
    let mut base = SmscConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        system_id: Some("flit".into()),
        password: Some("secret".into()),
        receipt_delay: Duration::from_millis(200),
        ..SmscConfig::default()
    };
    config(&mut base);
    smsc::start(base).await.expect("smsc starts")
}

/// Registers a bind named `name` (window `WINDOW`) to `port`, with `extra` fields; returns its
/// id. The answer never shows the password.
pub async fn add_bind(server: &TestServer, name: &str, port: u16, extra: Value) -> String {
    let mut body = json!({
        "name": name, "host": "127.0.0.1", "port": port,
        "systemId": "flit", "password": "secret", "windowSize": WINDOW
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let created = server.admin(Method::POST, "/binds", Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(created.body["data"].get("password").is_none());
    created.body["data"]["id"].as_str().expect("id").to_string()
}

/// The bind's live state (`data.state` of `GET /admin/v1/binds/:id`).
pub async fn bind_state(server: &TestServer, bind: &str) -> Value {
    let reply = server
        .admin(Method::GET, &format!("/binds/{bind}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"]["state"].clone()
}

/// Polls the bind's state until `done` holds; panics with the last state after `within`.
pub async fn wait_state(
    server: &TestServer,
    bind: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let state = bind_state(server, bind).await;
        if done(&state) {
            return state;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "bind {bind} did not reach the expected state within {within:?}: {state}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn wait_bound(server: &TestServer, bind: &str) {
    wait_state(server, bind, Duration::from_secs(10), |state| {
        state["bound"] == true
    })
    .await;
}

/// Sends `text` to `recipients` with the default key; returns the message id.
pub async fn send(server: &TestServer, recipients: &[impl serde::Serialize], text: &str) -> String {
    let sent = server
        .post(
            "/api/v1/sms/send",
            json!({"recipients": recipients, "message": text}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    sent.body["data"]["messageId"]
        .as_str()
        .expect("id")
        .to_string()
}
