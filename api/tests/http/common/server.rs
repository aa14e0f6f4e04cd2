//! `TestServer`: the real server on 127.0.0.1:0 with its own data dir, and an HTTP client.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use flit_api::config::Config;
use flit_api::server::Server;

use super::{Api, Call, HttpsClient, Reply};

pub struct TestServer {
    pub server: Option<Server>,
    /// Where it listens, for tests that speak raw TCP to it.
    pub addr: SocketAddr,
    pub base: String,
    pub api_key: String,
    pub tenant_id: String,
    /// The plain HTTP client; for a server that serves https, `https` carries every call.
    pub client: reqwest::Client,
    pub https: Option<HttpsClient>,
    pub data_dir: PathBuf,
    pub storage: String,
    _dir: Option<tempfile::TempDir>,
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
        Self::start_in_with_metrics(data_dir, storage, None, None, |config| config).await
    }

    /// Starts (or restarts) on an existing data dir with its configuration changed by
    /// `adjust`.
    pub async fn start_in_adjusted(
        data_dir: PathBuf,
        storage: &str,
        adjust: impl FnOnce(Config) -> Config,
    ) -> TestServer {
        Self::start_in_with_metrics(data_dir, storage, None, None, adjust).await
    }

    /// A server on a fresh dir with its configuration changed by `adjust`.
    pub async fn start_adjusted(adjust: impl FnOnce(Config) -> Config) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start_in_with_metrics(
            dir.path().to_path_buf(),
            flit_storage::BackendKind::default().as_str(),
            None,
            None,
            adjust,
        )
        .await;
        server._dir = Some(dir);
        server
    }

    /// A server on a fresh dir that serves https with the certificate and key `adjust` puts
    /// in `config.tls`, called by a client that trusts only the CA in the PEM file `ca`.
    pub async fn start_tls(
        ca: &std::path::Path,
        adjust: impl FnOnce(Config) -> Config,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start_in_with_metrics(
            dir.path().to_path_buf(),
            flit_storage::BackendKind::default().as_str(),
            None,
            Some(HttpsClient::trusting(ca)),
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
            None,
            |config| config,
        )
        .await;
        server._dir = Some(dir);
        server
    }

    /// A server whose `/metrics` renders `metrics`, its configuration changed by `adjust`.
    pub async fn start_with_metrics_adjusted(
        metrics: metrics_exporter_prometheus::PrometheusHandle,
        adjust: impl FnOnce(Config) -> Config,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start_in_with_metrics(
            dir.path().to_path_buf(),
            flit_storage::BackendKind::default().as_str(),
            Some(metrics),
            None,
            adjust,
        )
        .await;
        server._dir = Some(dir);
        server
    }

    async fn start_in_with_metrics(
        data_dir: PathBuf,
        storage: &str,
        metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
        https: Option<HttpsClient>,
        adjust: impl FnOnce(Config) -> Config,
    ) -> TestServer {
        let config = super::config(&data_dir, storage, adjust);
        assert_eq!(
            config.tls.is_some(),
            https.is_some(),
            "a server that serves https is called with an https client"
        );
        let scheme = if https.is_some() { "https" } else { "http" };
        // A pooled connection is reused only while the server would still wait for its next
        // request head, so a test that shortens the header timeout never sends a request on
        // a connection the server is closing for idleness.
        let client = reqwest::Client::builder()
            .pool_idle_timeout(config.header_read_timeout / 2)
            .build()
            .expect("client");
        let server = Server::start(config, metrics).await.expect("server starts");
        let (api_key, tenant_id) = super::bootstrap(&data_dir);
        let test_server = TestServer {
            addr: server.addr,
            base: format!("{scheme}://{}", server.addr),
            server: Some(server),
            api_key,
            tenant_id,
            client,
            https,
            data_dir,
            storage: storage.to_string(),
            _dir: None,
        };
        test_server.lift_rate_limit().await;
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
    pub async fn restart(self) -> TestServer {
        self.restart_adjusted(|config| config).await
    }

    /// Stops the server and starts a new one on the same data dir, configured by `adjust`.
    pub async fn restart_adjusted(mut self, adjust: impl FnOnce(Config) -> Config) -> TestServer {
        let server = self.server.take().expect("running");
        server.shutdown().await.expect("clean shutdown");
        let mut next = Self::start_in_adjusted(self.data_dir.clone(), &self.storage, adjust).await;
        next._dir = self._dir.take();
        next.api_key = self.api_key.clone();
        next
    }

    /// A reply read off a response a test got from `client` itself.
    pub async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        Reply::new(status, headers, &bytes)
    }
}

impl Api for TestServer {
    fn api_key(&self) -> &str {
        &self.api_key
    }

    fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    async fn call(&self, call: Call) -> Reply {
        if let Some(https) = &self.https {
            return https.send(self.addr, call).await.expect("https call");
        }
        let mut request = self
            .client
            .request(call.method, format!("{}{}", self.base, call.path))
            .headers(call.headers);
        if let Some(body) = call.body {
            request = request.body(body);
        }
        Self::reply(request.send().await.expect("request sent")).await
    }
}
