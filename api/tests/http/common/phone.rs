//! `Phone`: one phone driven exactly as the SMS Gate app drives Flit (register with the
//! tenant's registration token, pull, report one item per PATCH, listen on `/events`), over
//! plain http.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Api, TestServer};

pub struct Phone {
    pub base: String,
    /// The phone's own bearer token.
    pub token: String,
    /// Its device id.
    pub id: String,
    pub client: reqwest::Client,
}

impl Phone {
    /// Registers a phone of the tenant `key` belongs to.
    pub async fn register(server: &TestServer, key: &str) -> Phone {
        let token = server
            .request(
                Method::POST,
                "/api/v1/devices/registration-token",
                Some(key),
                None,
            )
            .await;
        assert_eq!(token.status, StatusCode::CREATED);
        let registration = token.body["data"]["token"].as_str().expect("token");
        let client = reqwest::Client::new();
        let registered: Value = client
            .post(format!("{}/mobile/v1/device", server.base))
            .bearer_auth(registration)
            .json(&json!({"name": "samsung/a52qnsxx", "simCards": []}))
            .send()
            .await
            .expect("register")
            .json()
            .await
            .expect("json");
        Phone {
            base: server.base.clone(),
            token: registered["token"]
                .as_str()
                .expect("device token")
                .to_string(),
            id: registered["id"].as_str().expect("device id").to_string(),
            client,
        }
    }

    /// `GET /message?order=fifo`: the bare array.
    pub async fn pull(&self) -> Vec<Value> {
        let reply = self
            .client
            .get(format!("{}/mobile/v1/message?order=fifo", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("pull");
        assert_eq!(reply.status(), StatusCode::OK);
        reply.json::<Vec<Value>>().await.expect("a bare array")
    }

    /// Pulls until at least `count` messages are offered (dispatch hands them over within a
    /// moment of the send); fails after 10 s.
    pub async fn pull_at_least(&self, count: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let pulled = self.pull().await;
            if pulled.len() >= count {
                return pulled;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {count} offered: {pulled:?}",
                pulled.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A report as the app writes it: one item, its recipient in the same state.
    pub async fn report(&self, id: &str, state: &str) {
        let reply = self
            .client
            .patch(format!("{}/mobile/v1/message", self.base))
            .bearer_auth(&self.token)
            .json(&json!([{
                "id": id,
                "state": state,
                "recipients": [{"phoneNumber": "+1234567890", "state": state}],
                "states": {"Pending": "2026-11-22T13:30:00.101+03:00", state: "2026-11-22T13:30:02.870+03:00"},
            }]))
            .send()
            .await
            .expect("report");
        assert_eq!(reply.status(), StatusCode::NO_CONTENT);
    }

    /// Opens the phone's event stream.
    pub async fn events(&self) -> Events {
        let response = self
            .client
            .get(format!("{}/mobile/v1/events", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("events");
        assert_eq!(response.status(), StatusCode::OK);
        Events {
            response,
            seen: String::new(),
        }
    }
}

/// An open event stream.
pub struct Events {
    pub response: reqwest::Response,
    seen: String,
}

impl Events {
    /// Reads until an event named `name` arrives (10 s at most) and returns its `data:` line.
    pub async fn next(&mut self, name: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let marker = format!("event: {name}\ndata: ");
        loop {
            if let Some(at) = self.seen.find(&marker) {
                let rest = &self.seen[at + marker.len()..];
                if let Some(end) = rest.find("\n\n") {
                    let data = rest[..end].to_string();
                    self.seen = rest[end + 2..].to_string();
                    return data;
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no `{name}` within 10 s; seen {:?}", self.seen))
                .expect("bytes")
                .expect("the stream stays open");
            self.seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// `devices` simulated phones of the bootstrap tenant (`flit-loadtest devices`, speaking the
/// app's protocol), started with `config` (its URL and registration token filled in here),
/// once all are online and Flit has seen them (it looks at each phone every second).
pub async fn simulated_phones(
    server: &TestServer,
    config: flit_loadtest::devices::DevicesConfig,
) -> flit_loadtest::devices::DevicePool {
    let token = server
        .request(
            Method::POST,
            "/api/v1/devices/registration-token",
            Some(&server.api_key),
            None,
        )
        .await;
    assert_eq!(token.status, StatusCode::CREATED, "{}", token.body);
    let devices = config.devices;
    let pool = flit_loadtest::devices::DevicePool::start(flit_loadtest::devices::DevicesConfig {
        url: format!("{}/mobile/v1", server.base),
        registration_token: Some(token.body["data"]["token"].as_str().expect("token").into()),
        ..config
    })
    .expect("phones");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while pool.stats().online < devices as u64 {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", pool.stats());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    pool
}

/// Waits until the FlixySMS status of `id` is `want`, for at most `within`.
pub async fn wait_flixy(server: &TestServer, id: &str, want: &str, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let status = server
            .request(
                Method::GET,
                &format!("/flixy/api/v1/sms/status/{id}"),
                Some(&server.api_key),
                None,
            )
            .await;
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

/// A FlixySMS send (through whichever phone of the tenant is least loaded) to `to`.
pub async fn send_any(server: &TestServer, to: &str) -> String {
    let sent = server
        .post(
            "/flixy/api/v1/sms/send",
            json!({"to": to, "message": "Hello from FlixySMS!"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    sent.body["data"]["message_id"]
        .as_str()
        .expect("message_id")
        .to_string()
}
