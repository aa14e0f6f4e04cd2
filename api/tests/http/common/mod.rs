//! The two ways a test reaches Flit, and the one vocabulary both speak.
//!
//! `TestServer` starts the real server on 127.0.0.1:0 and talks HTTP to it over TCP: for tests
//! of what needs a socket (timeouts, slow or many connections, body framing, restarts, SMPP
//! carriers, metrics, the `flit` binary). `TestApp` builds the same router on the same
//! bootstrap and calls it in process with `oneshot`: for everything else (validation, shapes,
//! auth and scope answers, the OpenAPI document), which then runs without a listener or a
//! client. Both implement `Api`, so a test reads the same whichever it starts. A `TestServer`
//! started with TLS is spoken to over https (`HttpsClient`).

#![allow(dead_code)]

mod app;
pub mod console;
pub mod esme;
mod https;
mod phone;
mod process;
mod server;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use flit_api::config::{Config, Overrides};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub use app::TestApp;
pub use https::HttpsClient;
pub use phone::{Phone, send_any, simulated_phones, wait_flixy};
pub use process::{FlitProcess, Output};
pub use server::TestServer;

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// An answer: status, headers, the body as JSON (`Null` when it is not JSON) and as text.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn new(status: StatusCode, headers: HeaderMap, bytes: &[u8]) -> Reply {
        Reply {
            status,
            headers,
            body: serde_json::from_slice(bytes).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(bytes).into_owned(),
        }
    }

    /// The `code` of a native error answer.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("<none>")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The documented error shape, exactly: `{"success": false, "error": "<sentence>", "code"}`.
pub fn assert_error(reply: &Reply, status: StatusCode, code: &str, context: &str) {
    assert_eq!(reply.status, status, "{context}: {}", reply.body);
    let object = reply
        .body
        .as_object()
        .unwrap_or_else(|| panic!("{context}: error body is not a JSON object: {}", reply.body));
    let keys: BTreeSet<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from(["code", "error", "success"]),
        "{context}: {}",
        reply.body
    );
    assert_eq!(reply.body["success"], false, "{context}");
    assert!(
        reply.body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{context}: {}",
        reply.body
    );
    assert_eq!(reply.code(), code, "{context}: {}", reply.body);
}

/// One request as a test writes it. Nothing is added on the way but what HTTP itself
/// carries (a body's length), so a test can send exactly the headers and bytes it means to.
pub struct Call {
    pub method: Method,
    /// Path and query, `/api/v1/sms?limit=5`.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
}

impl Call {
    pub fn new(method: Method, path: impl Into<String>) -> Call {
        Call {
            method,
            path: path.into(),
            headers: HeaderMap::new(),
            body: None,
        }
    }

    pub fn get(path: impl Into<String>) -> Call {
        Call::new(Method::GET, path)
    }

    pub fn post(path: impl Into<String>) -> Call {
        Call::new(Method::POST, path)
    }

    /// `Authorization: Bearer <key>`.
    pub fn bearer(self, key: &str) -> Call {
        self.header("authorization", format!("Bearer {key}"))
    }

    /// Any header with any bytes (some tests send invalid ones on purpose).
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Call {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("a header name");
        let value = HeaderValue::from_bytes(value.as_ref()).expect("a header value");
        self.headers.append(name, value);
        self
    }

    /// `body` as JSON, with `Content-Type: application/json` unless the call already has one.
    pub fn json(self, body: &Value) -> Call {
        self.body(Some("application/json"), body.to_string())
    }

    /// `bytes` as the body, with `Content-Type: <content_type>` when one is given and the call
    /// has none yet (as reqwest does, so a test can send a broken content type with JSON).
    pub fn body(mut self, content_type: Option<&str>, bytes: impl Into<Vec<u8>>) -> Call {
        if let Some(content_type) = content_type
            && !self.headers.contains_key("content-type")
        {
            self = self.header("content-type", content_type);
        }
        self.body = Some(bytes.into());
        self
    }
}

/// What a test says to Flit. `call` is the transport; everything else is built on it once,
/// for `TestServer` and `TestApp` alike.
pub trait Api {
    /// The bootstrap tenant's key (every scope).
    fn api_key(&self) -> &str;

    /// The bootstrap tenant's id.
    fn tenant_id(&self) -> &str;

    /// Sends `call` as it is and reads the whole answer.
    async fn call(&self, call: Call) -> Reply;

    /// `method path`, with `key` as a bearer token and `body` as JSON when given.
    async fn request(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut call = Call::new(method, path);
        if let Some(key) = key {
            call = call.bearer(key);
        }
        if let Some(body) = body {
            call = call.json(&body);
        }
        self.call(call).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, Some(self.api_key()), None)
            .await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(self.api_key()), Some(body))
            .await
    }

    /// `method /admin/v1<path>` with the admin token.
    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.request(method, &format!("/admin/v1{path}"), Some(ADMIN_TOKEN), body)
            .await
    }

    async fn balance(&self) -> i64 {
        self.get("/api/v1/balance").await.body["data"]["balance"]
            .as_i64()
            .expect("balance")
    }

    /// Tests poll; the default 100 requests a minute is for production, not for them
    /// (rate-limit tests use tenants of their own).
    async fn lift_rate_limit(&self) {
        let raised = self
            .admin(
                Method::PATCH,
                &format!("/tenants/{}", self.tenant_id()),
                Some(json!({"rateLimitPerMinute": 1_000_000})),
            )
            .await;
        assert_eq!(raised.status, StatusCode::OK, "{}", raised.body);
    }

    /// A fresh tenant with `credits`, the sender ID `Acme` and a key with `scopes` (`None` =
    /// all).
    async fn tenant(&self, credits: i64, scopes: Option<&[&str]>) -> (String, String) {
        let created = self
            .admin(
                Method::POST,
                "/tenants",
                Some(json!({
                    "name": "Acme",
                    "credits": credits,
                    "rateLimitPerMinute": 100000,
                    "senderIds": ["Acme"],
                })),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let id = created.body["data"]["id"].as_str().expect("id").to_string();
        let mut body = json!({"name": "test"});
        if let Some(scopes) = scopes {
            body["scopes"] = json!(scopes);
        }
        let key = self
            .admin(Method::POST, &format!("/tenants/{id}/keys"), Some(body))
            .await;
        assert_eq!(key.status, StatusCode::CREATED);
        (
            id,
            key.body["data"]["key"].as_str().expect("key").to_string(),
        )
    }

    /// Sum of the tenant's ledger amounts, paging through `/transactions`.
    async fn ledger_sum(&self, key: &str) -> i64 {
        let mut sum = 0;
        let mut page = 1;
        loop {
            let reply = self
                .request(
                    Method::GET,
                    &format!("/api/v1/transactions?page={page}&limit=100"),
                    Some(key),
                    None,
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK);
            for transaction in reply.body["data"]["transactions"].as_array().expect("list") {
                sum += transaction["amount"].as_i64().expect("amount");
            }
            if !reply.body["data"]["pagination"]["hasMore"]
                .as_bool()
                .expect("hasMore")
            {
                return sum;
            }
            page += 1;
        }
    }

    /// Waits until no recipient of message `id` is PENDING or SENT; returns the report's
    /// `data`. Panics with the last report when `within` passes.
    async fn settled(&self, id: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let report = self.get(&format!("/api/v1/sms/{id}/recipients")).await;
            assert_eq!(report.status, StatusCode::OK, "{}", report.body);
            // `stats` cover every recipient (the list is one page of them).
            let open = report.body["data"]["stats"]["pending"]
                .as_u64()
                .expect("stats.pending");
            if open == 0 {
                return report.body["data"].clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "message {id} still open after {within:?}: {}",
                report.body
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The default tenant's ledger: the sum of `/transactions` amounts is the balance.
    async fn assert_ledger_balanced(&self) {
        assert_eq!(
            self.ledger_sum(self.api_key()).await,
            self.balance().await,
            "sum of /transactions amounts == balance"
        );
    }

    /// The default tenant's REFUND transactions once there are `count` of them (refunds are
    /// paid by the tenant actor just after the failure that owes them is written).
    async fn refunds(&self, count: u64) -> Value {
        for _ in 0..100 {
            let refunds = self.get("/api/v1/transactions?type=REFUND").await;
            if refunds.body["data"]["pagination"]["total"] == count {
                return refunds.body["data"]["transactions"].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {count} refunds within 5 s");
    }
}

/// The configuration both helpers start from: `data_dir`, `storage`, the test admin token,
/// then whatever `adjust` changes.
fn config(data_dir: &Path, storage: &str, adjust: impl FnOnce(Config) -> Config) -> Config {
    let config = Config::load(Overrides {
        data_dir: Some(data_dir.to_path_buf()),
        listen: Some("127.0.0.1:0".parse().expect("addr")),
        storage: Some(storage.to_string()),
        ..Overrides::default()
    })
    .expect("config");
    adjust(Config {
        admin_token: Some(ADMIN_TOKEN.to_string()),
        ..config
    })
}

/// The bootstrap tenant's key and id, from the `bootstrap.json` the first start wrote.
fn bootstrap(data_dir: &Path) -> (String, String) {
    let bootstrap: Value = serde_json::from_slice(
        &std::fs::read(data_dir.join("bootstrap.json")).expect("bootstrap.json"),
    )
    .expect("bootstrap json");
    (
        bootstrap["apiKey"].as_str().expect("apiKey").to_string(),
        bootstrap["tenantId"]
            .as_str()
            .expect("tenantId")
            .to_string(),
    )
}
