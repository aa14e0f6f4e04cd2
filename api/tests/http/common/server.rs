//! `TestServer`: one real server on 127.0.0.1:0 with its own data dir, and a client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use flit_api::config::{Config, Overrides};
use flit_api::server::Server;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub const ADMIN_TOKEN: &str = "test-admin-token";

pub struct TestServer {
    pub server: Option<Server>,
    /// Where it listens, for tests that speak raw TCP to it.
    pub addr: SocketAddr,
    pub base: String,
    pub api_key: String,
    pub tenant_id: String,
    pub client: reqwest::Client,
    pub data_dir: PathBuf,
    pub storage: String,
    _dir: Option<tempfile::TempDir>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The `code` of a native error answer.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("<none>")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestServer {
    /// A server on the default backend.
    pub async fn start() -> TestServer {
        Self::start_with(flit_storage::BackendKind::default().as_str()).await
    }

    pub async fn start_with(storage: &str) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start_in(dir.path().to_path_buf(), storage).await;
        server._dir = Some(dir);
        server
    }

    /// Starts (or restarts) on an existing data dir.
    pub async fn start_in(data_dir: PathBuf, storage: &str) -> TestServer {
        Self::start_in_with_metrics(data_dir, storage, None, |config| config).await
    }

    /// A server on a fresh dir with its configuration changed by `adjust`.
    pub async fn start_adjusted(adjust: impl FnOnce(Config) -> Config) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start_in_with_metrics(
            dir.path().to_path_buf(),
            flit_storage::BackendKind::default().as_str(),
            None,
            adjust,
        )
        .await;
        server._dir = Some(dir);
        server
    }

    /// A server whose `/metrics` renders `metrics` (a recorder installed for the process).
    pub async fn start_with_metrics(
        metrics: metrics_exporter_prometheus::PrometheusHandle,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start_in_with_metrics(
            dir.path().to_path_buf(),
            "sled",
            Some(metrics),
            |config| config,
        )
        .await;
        server._dir = Some(dir);
        server
    }

    async fn start_in_with_metrics(
        data_dir: PathBuf,
        storage: &str,
        metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
        adjust: impl FnOnce(Config) -> Config,
    ) -> TestServer {
        let config = Config::load(Overrides {
            data_dir: Some(data_dir.clone()),
            listen: Some("127.0.0.1:0".parse().expect("addr")),
            storage: Some(storage.to_string()),
            ..Overrides::default()
        })
        .expect("config");
        let config = adjust(Config {
            admin_token: Some(ADMIN_TOKEN.to_string()),
            ..config
        });
        // A pooled connection is reused only while the server would still wait for its next
        // request head, so a test that shortens the header timeout never sends a request on
        // a connection the server is closing for idleness.
        let client = reqwest::Client::builder()
            .pool_idle_timeout(config.header_read_timeout / 2)
            .build()
            .expect("client");
        let server = Server::start(config, metrics).await.expect("server starts");
        let bootstrap: Value = serde_json::from_slice(
            &std::fs::read(data_dir.join("bootstrap.json")).expect("bootstrap.json"),
        )
        .expect("bootstrap json");
        let test_server = TestServer {
            addr: server.addr,
            base: format!("http://{}", server.addr),
            server: Some(server),
            api_key: bootstrap["apiKey"].as_str().expect("apiKey").to_string(),
            tenant_id: bootstrap["tenantId"]
                .as_str()
                .expect("tenantId")
                .to_string(),
            client,
            data_dir,
            storage: storage.to_string(),
            _dir: None,
        };
        // Tests poll; the default 100 requests a minute is for production, not for them
        // (rate-limit tests use tenants of their own).
        let raised = test_server
            .admin(
                Method::PATCH,
                &format!("/tenants/{}", test_server.tenant_id),
                Some(json!({"rateLimitPerMinute": 1_000_000})),
            )
            .await;
        assert_eq!(raised.status, StatusCode::OK);
        test_server
    }

    /// Stops the server; fails the test if that takes over 30 s (clients that stall must not
    /// hold shutdown up).
    pub async fn stop(mut self) {
        let server = self.server.take().expect("running");
        tokio::time::timeout(Duration::from_secs(30), server.shutdown())
            .await
            .expect("shutdown finishes within 30 s")
            .expect("clean shutdown");
    }

    /// Stops the server and starts a new one on the same data dir.
    pub async fn restart(mut self) -> TestServer {
        let server = self.server.take().expect("running");
        server.shutdown().await.expect("clean shutdown");
        let mut next = Self::start_in(self.data_dir.clone(), &self.storage).await;
        next._dir = self._dir.take();
        next.api_key = self.api_key.clone();
        next
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(key) = key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        Self::reply(response).await
    }

    pub async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, Some(&self.api_key), None)
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(&self.api_key), Some(body))
            .await
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.request(method, &format!("/admin/v1{path}"), Some(ADMIN_TOKEN), body)
            .await
    }

    pub async fn balance(&self) -> i64 {
        self.get("/api/v1/balance").await.body["data"]["balance"]
            .as_i64()
            .expect("balance")
    }

    /// A fresh tenant with `credits`, a sender ID and a key with `scopes` (`None` = all).
    pub async fn tenant(&self, credits: i64, scopes: Option<&[&str]>) -> (String, String) {
        let created = self
            .admin(
                Method::POST,
                "/tenants",
                Some(json!({"name": "Acme", "credits": credits, "rateLimitPerMinute": 100000})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let id = created.body["data"]["id"].as_str().expect("id").to_string();
        let sender = self
            .admin(
                Method::POST,
                &format!("/tenants/{id}/sender-ids"),
                Some(json!({"name": "Acme"})),
            )
            .await;
        assert_eq!(sender.status, StatusCode::CREATED);
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
    pub async fn ledger_sum(&self, key: &str) -> i64 {
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
    pub async fn settled(&self, id: &str, within: std::time::Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let report = self.get(&format!("/api/v1/sms/{id}/recipients")).await;
            assert_eq!(report.status, StatusCode::OK, "{}", report.body);
            let open = report.body["data"]["recipients"]
                .as_array()
                .expect("recipients")
                .iter()
                .any(|r| r["status"] == "PENDING" || r["status"] == "SENT");
            if !open {
                return report.body["data"].clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "message {id} still open after {within:?}: {}",
                report.body
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// The default tenant's ledger: the sum of `/transactions` amounts is the balance.
    pub async fn assert_ledger_balanced(&self) {
        assert_eq!(
            self.ledger_sum(&self.api_key).await,
            self.balance().await,
            "sum of /transactions amounts == balance"
        );
    }

    /// The default tenant's REFUND transactions once there are `count` of them (refunds are
    /// paid by the tenant actor just after the failure that owes them is written).
    pub async fn refunds(&self, count: u64) -> Value {
        for _ in 0..100 {
            let refunds = self.get("/api/v1/transactions?type=REFUND").await;
            if refunds.body["data"]["pagination"]["total"] == count {
                return refunds.body["data"]["transactions"].clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("expected {count} refunds within 5 s");
    }
}
