//! `TestApp`: the router the server serves, on the same first-start bootstrap, called in
//! process with `oneshot`: no listener, no client, no connections.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, header};
use flit_api::ratelimit::RateLimiter;
use flit_api::state::AppState;
use flit_api::{bootstrap, server};
use tower::ServiceExt;

use super::{Api, Call, Reply};

pub struct TestApp {
    router: Router,
    pub api_key: String,
    pub tenant_id: String,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// The app on the default backend.
    pub async fn start() -> TestApp {
        Self::start_with(flit_storage::BackendKind::default().as_str()).await
    }

    /// What `Server::start` does short of listening: the engine on a fresh data dir, the admin
    /// token, the bootstrap tenant with its key, and the router with its body limits.
    pub async fn start_with(storage: &str) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = super::config(dir.path(), storage, |config| config);
        let engine = server::open_engine(&config).await.expect("engine starts");
        let admin_token_hash = bootstrap::admin_token(&engine, &config)
            .await
            .expect("admin token");
        // Nothing listens: the address only goes into bootstrap.json's base URL.
        bootstrap::default_tenant(&engine, &config, config.listen)
            .await
            .expect("bootstrap");
        let state = Arc::new(AppState {
            engine,
            limiter: RateLimiter::default(),
            admin_token_hash,
            metrics: None,
            public_url: None,
            tls: false,
            sign_ins: Default::default(),
        });
        let (api_key, tenant_id) = super::bootstrap(dir.path());
        let app = TestApp {
            router: server::router(state, &config),
            api_key,
            tenant_id,
            _dir: dir,
        };
        app.lift_rate_limit().await;
        app
    }
}

impl Api for TestApp {
    fn api_key(&self) -> &str {
        &self.api_key
    }

    fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    async fn call(&self, call: Call) -> Reply {
        let length = call.body.as_ref().map(Vec::len);
        let mut request = Request::new(Body::from(call.body.unwrap_or_default()));
        *request.method_mut() = call.method;
        *request.uri_mut() = call.path.parse().expect("a path and query");
        *request.headers_mut() = call.headers;
        // As a client over HTTP/1.1 would send it (the server checks it before reading).
        if let Some(length) = length {
            request
                .headers_mut()
                .entry(header::CONTENT_LENGTH)
                .or_insert_with(|| HeaderValue::from(length));
        }
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("the body is read");
        Reply::new(status, headers, &bytes)
    }
}
