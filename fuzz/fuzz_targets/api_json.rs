//! The JSON request body of every endpoint that takes one, through the real axum app built
//! once on a temp dir (sled, sandbox dispatch), in process with `oneshot`. The first byte picks
//! the endpoint, the rest is the body, sent with a valid key. Whatever the body, the answer is
//! never a 5xx, and it is JSON: the documented error shape (`success: false`, `error`, `code`)
//! for a 4xx.
//!
//! Endpoints are a fixed list so that the first byte of a saved input keeps naming the same
//! one; it is checked against `/openapi.json` at start, so a new endpoint with a body that is
//! not fuzzed stops the run.

#![no_main]

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode, header};
use flit_api::ratelimit::RateLimiter;
use flit_api::state::AppState;
use flit_engine::BackendKind;
use flit_engine::{Engine, EngineConfig, Resolve, WebhookSettings};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tower::ServiceExt;

const ADMIN_TOKEN: &str = "fuzz-admin-token";

/// Every operation whose OpenAPI description has a request body, in a fixed order.
const ENDPOINTS: [(&str, &str); 25] = [
    ("post", "/api/v1/sms/send"),
    ("post", "/api/v1/sms/estimate"),
    ("post", "/api/v1/templates"),
    ("put", "/api/v1/templates/{template_id}"),
    ("post", "/api/v1/contacts"),
    ("put", "/api/v1/contacts/{contact_id}"),
    ("post", "/api/v1/contacts/import"),
    ("post", "/api/v1/contacts/groups"),
    ("post", "/api/v1/contacts/groups/{group_id}/members"),
    ("delete", "/api/v1/contacts/groups/{group_id}/members"),
    ("post", "/admin/v1/tenants"),
    ("patch", "/admin/v1/tenants/{tenant_id}"),
    ("post", "/admin/v1/tenants/{tenant_id}/keys"),
    ("post", "/admin/v1/tenants/{tenant_id}/credits"),
    ("post", "/admin/v1/tenants/{tenant_id}/sender-ids"),
    ("post", "/admin/v1/binds"),
    ("post", "/admin/v1/routes"),
    ("post", "/messages/send"),
    ("post", "/api/v1/webhooks"),
    ("post", "/webhooks"),
    ("post", "/flixy/api/v1/sms/send"),
    ("patch", "/api/v1/devices/{device_id}"),
    ("post", "/admin/v1/tenants/{tenant_id}/smpp-accounts"),
    ("post", "/admin/v1/tenants/{tenant_id}/users"),
    ("post", "/admin/v1/operators"),
];

/// Resolves no name: registering a webhook with a fuzzed host makes no DNS query (a name that
/// does not resolve is taken), and the engine has no transport, so nothing is ever sent.
struct NoNames;

impl Resolve for NoNames {
    fn resolve(
        &self,
        _host: String,
        _port: u16,
    ) -> futures::future::BoxFuture<'static, std::io::Result<Vec<std::net::SocketAddr>>> {
        Box::pin(async { Err(std::io::Error::other("no names while fuzzing")) })
    }
}

struct Fixture {
    runtime: Runtime,
    app: Router,
    api_key: String,
    /// Path parameters: ids of records made at start, so handlers get past their lookups.
    /// Admin writes go to a second tenant, so the fuzzed key's own tenant keeps its credits,
    /// rate limit and status.
    params: Vec<(&'static str, String)>,
    _dir: tempfile::TempDir,
}

struct Answer {
    status: StatusCode,
    body: Value,
}

async fn call(app: &Router, method: Method, path: &str, key: &str, body: Vec<u8>) -> Answer {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("a well-formed request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("the body is read");
    let body = if bytes.is_empty() && status == StatusCode::NO_CONTENT {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|err| {
            panic!(
                "{path} answered {status} with a body that is not JSON ({err}): {:?}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    Answer { status, body }
}

/// A setup call that must succeed; returns `data.id` (or `data.key` for keys).
async fn setup(app: &Router, method: Method, path: &str, key: &str, body: Value) -> String {
    let answer = call(app, method, path, key, body.to_string().into_bytes()).await;
    assert!(
        answer.status.is_success(),
        "{path}: {} {}",
        answer.status,
        answer.body
    );
    let data = &answer.body["data"];
    data["key"]
        .as_str()
        .or_else(|| data["id"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn documented_endpoints() -> BTreeSet<(String, String)> {
    let spec: Value = serde_json::from_str(flit_api::openapi::spec_json()).expect("spec is JSON");
    let mut found = BTreeSet::new();
    for (path, operations) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            if operation.get("requestBody").is_some() {
                found.insert((method.clone(), path.clone()));
            }
        }
    }
    found
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let listed: BTreeSet<(String, String)> = ENDPOINTS
            .iter()
            .map(|(method, path)| (method.to_string(), path.to_string()))
            .collect();
        let documented = documented_endpoints();
        assert_eq!(
            listed, documented,
            "ENDPOINTS must list every operation with a request body in /openapi.json"
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        // Under fuzz/target (git-ignored): a static is never dropped, so the store stays.
        let dir = tempfile::Builder::new()
            .prefix("api_json-store-")
            .tempdir_in(concat!(env!("CARGO_MANIFEST_DIR"), "/target"))
            .expect("a temp dir");
        let (app, api_key, params) = runtime.block_on(async {
            let config = EngineConfig {
                webhooks: WebhookSettings {
                    resolver: Arc::new(NoNames),
                    ..WebhookSettings::default()
                },
                // Fuzzed binds are created, so their passwords are sealed.
                secret_key: Some(flit_engine::secrets::SecretKey::from_bytes(
                    &flit_engine::secrets::SecretKey::generate_bytes(),
                )),
                ..EngineConfig::default()
            };
            let engine = Engine::open(&dir.path().join("store"), BackendKind::Sled, config)
                .await
                .expect("engine starts");
            engine.set_admin_token(ADMIN_TOKEN).await.expect("admin token");
            let state = Arc::new(AppState {
                engine,
                limiter: RateLimiter::default(),
                admin_token_hash: flit_engine::secrets::sha256(ADMIN_TOKEN.as_bytes()),
                metrics: None,
                public_url: None,
                tls: false,
                sign_ins: Default::default(),
            });
            let app = flit_api::app(state, flit_api::DEFAULT_MAX_BODY_BYTES);
            let tenant = json!({"name": "fuzz", "credits": 1_000_000_000, "rateLimitPerMinute": 1_000_000_000});
            let main = setup(&app, Method::POST, "/admin/v1/tenants", ADMIN_TOKEN, tenant.clone()).await;
            let other = setup(&app, Method::POST, "/admin/v1/tenants", ADMIN_TOKEN, tenant).await;
            for name in ["Acme", "MyBrand"] {
                setup(&app, Method::POST, &format!("/admin/v1/tenants/{main}/sender-ids"), ADMIN_TOKEN, json!({"name": name})).await;
            }
            let key = setup(&app, Method::POST, &format!("/admin/v1/tenants/{main}/keys"), ADMIN_TOKEN, json!({"name": "fuzz"})).await;
            // A phone of the tenant that pulled (so it is online): FlixySMS sends have one to
            // go through rather than a 503.
            let registration = call(&app, Method::POST, "/api/v1/devices/registration-token", &key, Vec::new()).await;
            let registration = registration.body["data"]["token"].as_str().expect("registration token").to_string();
            let phone = call(&app, Method::POST, "/mobile/v1/device", &registration, b"{}".to_vec()).await;
            let device = phone.body["id"].as_str().expect("device id").to_string();
            let phone = phone.body["token"].as_str().expect("device token").to_string();
            let pulled = call(&app, Method::GET, "/mobile/v1/message", &phone, Vec::new()).await;
            assert!(pulled.status.is_success(), "the phone pulls");
            let template = setup(&app, Method::POST, "/api/v1/templates", &key, json!({"name": "Welcome", "content": "Hi {{firstName}}"})).await;
            let contact = setup(&app, Method::POST, "/api/v1/contacts", &key, json!({"phone": "+233201234567", "firstName": "Kofi"})).await;
            let group = setup(&app, Method::POST, "/api/v1/contacts/groups", &key, json!({"name": "VIP"})).await;
            let params = vec![
                ("{template_id}", template),
                ("{contact_id}", contact),
                ("{group_id}", group),
                ("{tenant_id}", other),
                ("{device_id}", device),
            ];
            (app, key, params)
        });
        Fixture { runtime, app, api_key, params, _dir: dir }
    })
}

/// A bind body keeps everything fuzzed but where it connects: only ever this machine, on a
/// port nothing listens on.
fn local_bind(body: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut fields)) => {
            fields.insert("host".into(), json!("127.0.0.1"));
            fields.insert("port".into(), json!(9));
            Value::Object(fields).to_string().into_bytes()
        }
        _ => body.to_vec(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let fixture = fixture();
    let (method, template) = ENDPOINTS[usize::from(selector) % ENDPOINTS.len()];
    let mut path = template.to_string();
    for (name, value) in &fixture.params {
        path = path.replace(name, value);
    }
    let admin = path.starts_with("/admin/");
    let key = if admin {
        ADMIN_TOKEN
    } else {
        fixture.api_key.as_str()
    };
    let is_bind = template == "/admin/v1/binds";
    let body = if is_bind {
        local_bind(body)
    } else {
        body.to_vec()
    };
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("a method");
    fixture.runtime.block_on(async {
        let answer = call(&fixture.app, method, &path, key, body).await;
        assert!(
            !answer.status.is_server_error(),
            "{path} answered {}: {}",
            answer.status,
            answer.body
        );
        if answer.status.is_client_error() {
            assert_eq!(
                answer.body["success"],
                json!(false),
                "{path}: {}",
                answer.body
            );
            assert!(answer.body["error"].is_string(), "{path}: {}", answer.body);
            assert!(answer.body["code"].is_string(), "{path}: {}", answer.body);
        }
        // A webhook that was made is removed at once: a tenant may have only a few.
        let is_webhook = template.ends_with("/webhooks");
        if is_webhook && answer.status.is_success() {
            let id = answer.body["data"]["id"]
                .as_str()
                .or_else(|| answer.body["id"].as_str())
                .expect("a created webhook has an id");
            let gone = call(
                &fixture.app,
                Method::DELETE,
                &format!("/api/v1/webhooks/{id}"),
                &fixture.api_key,
                Vec::new(),
            )
            .await;
            assert!(gone.status.is_success(), "webhook {id} not removed: {}", gone.status);
        }
        // A bind that was made is removed at once: the run must not pile up sessions.
        if is_bind
            && answer.status.is_success()
            && let Some(id) = answer.body["data"]["id"].as_str()
        {
            let gone = call(
                &fixture.app,
                Method::DELETE,
                &format!("/admin/v1/binds/{id}"),
                ADMIN_TOKEN,
                Vec::new(),
            )
            .await;
            assert!(
                gone.status.is_success(),
                "bind {id} not removed: {}",
                gone.status
            );
        }
        // An SMPP account or a console user that was made is removed at once, so its
        // systemId or email is free again.
        if (template.ends_with("/smpp-accounts")
            || template.ends_with("/users")
            || template.ends_with("/operators"))
            && answer.status.is_success()
            && let Some(id) = answer.body["data"]["id"].as_str()
        {
            let gone = call(
                &fixture.app,
                Method::DELETE,
                &format!("{path}/{id}"),
                ADMIN_TOKEN,
                Vec::new(),
            )
            .await;
            assert!(
                gone.status.is_success(),
                "{id} not removed: {}",
                gone.status
            );
        }
    });
});
