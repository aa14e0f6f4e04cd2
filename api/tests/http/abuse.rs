//! Abuse: what a hostile or broken client tries. Another tenant's ids on every id-taking route,
//! keys without the route's scope on every route, revoked keys, secrets in files and logs,
//! oversized and endless bodies, connections that stall before or between requests, and
//! bursts against the rate limit from many connections at once.
//!
//! The route tables come from `/openapi.json`, so a route added without an isolation body
//! fails here until it has one; each route's scope comes from its API's route table
//! (`flit_api::scoped`), the declaration the router builds its scope checks from.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use flit_api::config::Config;
use flit_engine::Scope;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::common::{
    ADMIN_TOKEN, Api, Call, FlitProcess, Reply, TestApp, TestServer, assert_error,
};

// ----- shared helpers ------------------------------------------------------------------------

/// One operation of the OpenAPI description.
struct Operation {
    method: Method,
    /// The path template, `/api/v1/contacts/{contact_id}`.
    path: String,
    has_body: bool,
}

impl Operation {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn path_params(&self) -> Vec<String> {
        self.path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .map(str::to_string)
            .collect()
    }

    /// The path with each `{param}` replaced by `value(param)`.
    fn fill(&self, value: impl Fn(&str) -> String) -> String {
        self.path
            .split('/')
            .map(|segment| {
                match segment
                    .strip_prefix('{')
                    .and_then(|inner| inner.strip_suffix('}'))
                {
                    Some(param) => value(param),
                    None => segment.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// Every operation `/openapi.json` describes for API keys: the native API and the dialects.
async fn operations(api: &impl Api) -> Vec<Operation> {
    let reply = api.request(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let paths = reply.body["paths"].as_object().expect("paths").clone();
    let takes_api_key = |operation: &Value| {
        operation["security"]
            .as_array()
            .is_some_and(|schemes| schemes.iter().any(|scheme| scheme.get("apiKey").is_some()))
    };
    let mut found = Vec::new();
    for (path, item) in paths {
        for (name, method) in [
            ("get", Method::GET),
            ("post", Method::POST),
            ("put", Method::PUT),
            ("patch", Method::PATCH),
            ("delete", Method::DELETE),
        ] {
            if let Some(operation) = item.get(name).filter(|op| takes_api_key(op)) {
                found.push(Operation {
                    method,
                    path: path.clone(),
                    has_body: operation.get("requestBody").is_some(),
                });
            }
        }
    }
    assert!(
        found.iter().any(|op| op.path.starts_with("/api/v1/"))
            && found.iter().any(|op| op.path.starts_with("/messages/")),
        "the native and Flowstates operations are not all described"
    );
    found
}

/// A request with any body bytes, content type and key header.
async fn raw_request(
    api: &impl Api,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, Vec<u8>)>,
) -> Reply {
    let mut call = Call::new(method, path);
    for (name, value) in headers {
        call = call.header(name, value);
    }
    if let Some((content_type, bytes)) = body {
        call = call.body(Some(content_type), bytes);
    }
    api.call(call).await
}

fn id_of(reply: &Reply, field: &str, context: &str) -> String {
    assert!(reply.status.is_success(), "{context}: {}", reply.body);
    reply.body["data"][field]
        .as_str()
        .unwrap_or_else(|| panic!("{context}: no data.{field}: {}", reply.body))
        .to_string()
}

/// Waits (with a deadline) until message `id` of `key` has no PENDING or SENT recipient.
async fn settle(api: &impl Api, key: &str, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let report = api
            .request(
                Method::GET,
                &format!("/api/v1/sms/{id}/recipients"),
                Some(key),
                None,
            )
            .await;
        assert_eq!(report.status, StatusCode::OK, "{}", report.body);
        let open = report.body["data"]["recipients"]
            .as_array()
            .expect("recipients")
            .iter()
            .any(|r| r["status"] == "PENDING" || r["status"] == "SENT");
        if !open {
            return;
        }
        assert!(Instant::now() < deadline, "message {id} never settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ----- tenant isolation ----------------------------------------------------------------------

/// A well-formed id of the same kind that exists nowhere (its last character changed).
fn ghost(id: &str) -> String {
    let mut ghost = id.to_string();
    let last = ghost.pop().expect("non-empty id");
    ghost.push(if last == '0' { '1' } else { '0' });
    ghost
}

/// Tenant A's objects, one per kind of id a path can carry.
struct Owned {
    message: String,
    contact: String,
    group: String,
    template: String,
    webhook: String,
    delivery: String,
    device: String,
}

impl Owned {
    /// The real id of A's object for a path parameter; a parameter this test does not know is
    /// a new id-taking route without an isolation case.
    fn for_param(&self, param: &str, route: &str) -> String {
        match param {
            "message_id" => self.message.clone(),
            "contact_id" => self.contact.clone(),
            "group_id" => self.group.clone(),
            "template_id" => self.template.clone(),
            "webhook_id" => self.webhook.clone(),
            "delivery_id" => self.delivery.clone(),
            "device_id" => self.device.clone(),
            other => panic!(
                "{route}: path parameter `{other}` has no isolation case; give tenant A an \
                 object of that kind in abuse.rs"
            ),
        }
    }

    fn all(&self) -> [&str; 7] {
        [
            &self.message,
            &self.contact,
            &self.group,
            &self.template,
            &self.webhook,
            &self.delivery,
            &self.device,
        ]
    }
}

/// Everything A can read about its own objects, to compare before and after B's attempts.
async fn snapshot(api: &impl Api, key: &str, owned: &Owned) -> BTreeMap<String, Value> {
    let mut seen = BTreeMap::new();
    for path in [
        format!("/api/v1/sms/status/{}", owned.message),
        format!("/api/v1/sms/{}/recipients", owned.message),
        format!("/messages/{}", owned.message),
        format!("/api/v1/contacts/{}", owned.contact),
        format!("/api/v1/templates/{}", owned.template),
        "/api/v1/contacts".to_string(),
        "/api/v1/contacts/groups".to_string(),
        "/api/v1/templates".to_string(),
        "/api/v1/webhooks".to_string(),
        "/api/v1/devices".to_string(),
        "/api/v1/sms".to_string(),
        "/api/v1/balance".to_string(),
        "/api/v1/transactions".to_string(),
    ] {
        let reply = api.request(Method::GET, &path, Some(key), None).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "A reads {path}: {}",
            reply.body
        );
        seen.insert(path, reply.body);
    }
    seen
}

#[tokio::test]
async fn another_tenants_ids_are_404_on_every_id_route_and_change_nothing() {
    let app = TestApp::start().await;
    let (_, a) = app.tenant(1000, None).await;
    let (_, b) = app.tenant(1000, None).await;
    let as_a = |method: Method, path: &str, body: Option<Value>| {
        let app = &app;
        let a = a.clone();
        let path = path.to_string();
        async move { app.request(method, &path, Some(&a), body).await }
    };

    let contact = id_of(
        &as_a(
            Method::POST,
            "/api/v1/contacts",
            Some(json!({"phone": "0201234567", "firstName": "Ama"})),
        )
        .await,
        "id",
        "A creates a contact",
    );
    let group = id_of(
        &as_a(
            Method::POST,
            "/api/v1/contacts/groups",
            Some(json!({"name": "A's customers"})),
        )
        .await,
        "id",
        "A creates a group",
    );
    let joined = as_a(
        Method::POST,
        &format!("/api/v1/contacts/groups/{group}/members"),
        Some(json!({"contactIds": [contact]})),
    )
    .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    let template = id_of(
        &as_a(
            Method::POST,
            "/api/v1/templates",
            Some(json!({"name": "greeting", "content": "Hello {{firstName}}"})),
        )
        .await,
        "id",
        "A creates a template",
    );
    // A public address (private ones are refused): its events are attempted and recorded.
    let webhook = id_of(
        &as_a(
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({"url": "https://93.184.216.34/a", "events": ["message.sent"]})),
        )
        .await,
        "id",
        "A creates a webhook",
    );
    let message = id_of(
        &as_a(
            Method::POST,
            "/api/v1/sms/send",
            Some(json!({"recipients": ["0241234567"], "message": "for A's eyes only"})),
        )
        .await,
        "messageId",
        "A sends",
    );
    settle(&app, &a, &message).await;
    let deliveries = format!("/api/v1/webhooks/{webhook}/deliveries");
    let delivery = loop {
        let listed = as_a(Method::GET, &deliveries, None).await;
        if let Some(id) = listed.body["data"]["deliveries"][0]["id"].as_str() {
            break id.to_string();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // A's phone, paired with A's registration token.
    let registration = id_of(
        &as_a(Method::POST, "/api/v1/devices/registration-token", None).await,
        "token",
        "A makes a registration token",
    );
    let paired = app
        .call(
            Call::post("/mobile/v1/device")
                .header("authorization", format!("Bearer {registration}"))
                .json(&json!({"name": "A's phone"})),
        )
        .await;
    assert_eq!(paired.status, StatusCode::CREATED, "{}", paired.body);
    let device = paired.body["id"].as_str().expect("device id").to_string();
    let owned = Owned {
        message,
        contact,
        group,
        template,
        webhook,
        delivery,
        device,
    };
    let before = snapshot(&app, &a, &owned).await;

    // B's own objects, to be put into A's (and A's into B's).
    let b_contact = id_of(
        &app.request(
            Method::POST,
            "/api/v1/contacts",
            Some(&b),
            Some(json!({"phone": "0207654321"})),
        )
        .await,
        "id",
        "B creates a contact",
    );
    let b_group = id_of(
        &app.request(
            Method::POST,
            "/api/v1/contacts/groups",
            Some(&b),
            Some(json!({"name": "B's group"})),
        )
        .await,
        "id",
        "B creates a group",
    );

    // Every id-taking route, with A's real ids and a body that would succeed on B's own ids.
    let mut covered = 0;
    for operation in operations(&app).await {
        if operation.path_params().is_empty() {
            continue;
        }
        let route = operation.name();
        let path = operation.fill(|param| owned.for_param(param, &route));
        let body = if operation.has_body {
            Some(match (operation.method.as_str(), operation.path.as_str()) {
                ("PUT", "/api/v1/contacts/{contact_id}") => {
                    json!({"phone": "0209999999", "firstName": "Mallory", "email": "m@evil.test"})
                }
                ("PUT", "/api/v1/templates/{template_id}") => {
                    json!({"name": "hijacked", "content": "pwned"})
                }
                (_, "/api/v1/contacts/groups/{group_id}/members") => {
                    json!({"contactIds": [b_contact]})
                }
                ("PATCH", "/api/v1/devices/{device_id}") => {
                    json!({"name": "hijacked", "limits": {"perMinute": 0}})
                }
                _ => panic!(
                    "{route} takes a body but has no isolation case: add the body that would \
                     succeed on B's own object to abuse.rs"
                ),
            })
        } else {
            None
        };
        let reply = app
            .request(operation.method.clone(), &path, Some(&b), body.clone())
            .await;
        assert_error(
            &reply,
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("B on {route} with A's ids"),
        );
        // And the answer is the one for an id that exists nowhere: nothing tells B that A's
        // object exists.
        let ghost_path = operation.fill(|param| ghost(&owned.for_param(param, &route)));
        let ghost_reply = app
            .request(
                operation.method.clone(),
                &ghost_path,
                Some(&b),
                body.clone(),
            )
            .await;
        assert_error(
            &ghost_reply,
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("B on {route} with ids that exist nowhere"),
        );
        let masked = |reply: &Reply, ids: Vec<String>| {
            let mut text = reply.body["error"].as_str().unwrap_or_default().to_string();
            for id in ids {
                text = text.replace(&id, "<id>");
            }
            text
        };
        let real_ids: Vec<String> = owned.all().iter().map(|id| id.to_string()).collect();
        let ghost_ids: Vec<String> = owned.all().iter().map(|id| ghost(id)).collect();
        assert_eq!(
            masked(&reply, real_ids),
            masked(&ghost_reply, ghost_ids),
            "{route}: a foreign id and a missing one answer differently"
        );
        covered += 1;
    }
    assert!(covered >= 11, "only {covered} id-taking operations found");

    // Ids carried in bodies: B may not send to, price, file or extend with A's objects.
    let b_balance_before = app
        .request(Method::GET, "/api/v1/balance", Some(&b), None)
        .await
        .body["data"]["balance"]
        .clone();
    let body_cases: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            "/api/v1/sms/send".into(),
            json!({"groupId": owned.group, "message": "hi"}),
        ),
        (
            Method::POST,
            "/api/v1/sms/send".into(),
            json!({"groupIds": [owned.group], "message": "hi"}),
        ),
        (
            Method::POST,
            "/api/v1/sms/send".into(),
            json!({"contactIds": [owned.contact], "message": "hi"}),
        ),
        (
            Method::POST,
            "/api/v1/sms/send".into(),
            json!({"recipients": ["0201111111"], "templateId": owned.template}),
        ),
        (
            Method::POST,
            "/api/v1/sms/estimate".into(),
            json!({"groupIds": [owned.group], "message": "hi"}),
        ),
        (
            Method::POST,
            "/api/v1/sms/estimate".into(),
            json!({"contactIds": [owned.contact], "message": "hi"}),
        ),
        (
            Method::POST,
            "/api/v1/sms/estimate".into(),
            json!({"recipients": ["0201111111"], "templateId": owned.template}),
        ),
        (
            Method::POST,
            format!("/api/v1/contacts/groups/{b_group}/members"),
            json!({"contactIds": [owned.contact]}),
        ),
        (
            Method::DELETE,
            format!("/api/v1/contacts/groups/{b_group}/members"),
            json!({"contactIds": [owned.contact]}),
        ),
        (
            Method::POST,
            "/api/v1/contacts".into(),
            json!({"phone": "0205555555", "groupId": owned.group}),
        ),
        (
            Method::PUT,
            format!("/api/v1/contacts/{b_contact}"),
            json!({"groupId": owned.group}),
        ),
    ];
    for (method, path, body) in body_cases {
        let context = format!("B: {method} {path} {body}");
        let reply = app.request(method, &path, Some(&b), Some(body)).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "not_found", &context);
    }
    let b_balance_after = app
        .request(Method::GET, "/api/v1/balance", Some(&b), None)
        .await
        .body["data"]["balance"]
        .clone();
    assert_eq!(b_balance_before, b_balance_after, "B was charged");

    // B's listings never show A's objects.
    for operation in operations(&app).await {
        if operation.method != Method::GET || !operation.path_params().is_empty() {
            continue;
        }
        let reply = app
            .request(Method::GET, &operation.path, Some(&b), None)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "B lists {}", operation.path);
        let text = reply.body.to_string();
        for id in owned.all() {
            assert!(
                !text.contains(id),
                "B's {} shows A's {id}: {text}",
                operation.path
            );
        }
        assert!(!text.contains("for A's eyes only"), "{}", operation.path);
    }

    let after = snapshot(&app, &a, &owned).await;
    for (path, was) in &before {
        assert_eq!(&after[path], was, "A's {path} changed after B's attempts");
    }
}

// ----- scopes --------------------------------------------------------------------------------

/// The scope its API's route table declares for an operation (the table the router builds
/// its scope checks from).
fn declared_scope(operation: &Operation) -> Scope {
    flit_api::scoped::declared_scope(&operation.method, &operation.path).unwrap_or_else(|| {
        panic!(
            "{} declares no scope: give it a row in its API's ROUTES table",
            operation.name()
        )
    })
}

async fn key_with(api: &impl Api, tenant: &str, scopes: &[Scope]) -> String {
    let names: Vec<&str> = scopes.iter().map(|scope| scope.as_str()).collect();
    let created = api
        .admin(
            Method::POST,
            &format!("/tenants/{tenant}/keys"),
            Some(json!({"name": "scoped", "scopes": names})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["data"]["key"]
        .as_str()
        .expect("key")
        .to_string()
}

#[tokio::test]
async fn every_api_route_refuses_a_key_without_its_declared_scope_before_reading_the_body() {
    let app = TestApp::start().await;
    let (tenant, _) = app.tenant(100, None).await;
    let operations = operations(&app).await;
    let documented: BTreeSet<String> = operations.iter().map(Operation::name).collect();
    let declared: BTreeSet<String> = flit_api::scoped::routes()
        .map(|route| format!("{} {}", route.method, route.full_path()))
        .collect();
    assert_eq!(
        documented, declared,
        "documented and declared routes differ"
    );
    let scopes: BTreeSet<&str> = operations
        .iter()
        .map(|operation| declared_scope(operation).as_str())
        .collect();
    let mut all_but = HashMap::new();
    let mut only = HashMap::new();
    for name in &scopes {
        let scope: Scope = name.parse().expect("scope");
        let others: Vec<Scope> = Scope::ALL.into_iter().filter(|s| *s != scope).collect();
        all_but.insert(*name, key_with(&app, &tenant, &others).await);
        only.insert(*name, key_with(&app, &tenant, &[scope]).await);
    }
    let none = key_with(&app, &tenant, &[]).await;

    for operation in &operations {
        let scope = declared_scope(operation).as_str();
        let route = operation.name();
        let path = operation.fill(|_| "obj_unknown".to_string());
        // A body no handler could read: were it read before the scope check, this would be
        // a 415 or a 400, not a 403.
        let body = || Some(("text/plain", b"{{{ not json at all".to_vec()));
        for (who, key) in [("all other scopes", &all_but[scope]), ("no scopes", &none)] {
            let authorization = format!("Bearer {key}");
            let reply = raw_request(
                &app,
                operation.method.clone(),
                &path,
                &[("Authorization", &authorization)],
                body(),
            )
            .await;
            assert_error(
                &reply,
                StatusCode::FORBIDDEN,
                "forbidden",
                &format!("{route} with {who}"),
            );
            assert!(
                reply.body["error"]
                    .as_str()
                    .is_some_and(|error| error.contains(scope)),
                "{route}: the 403 should name `{scope}`: {}",
                reply.body
            );
        }
        // The declared scope is enough: the request gets past the check to the body or id.
        let authorization = format!("Bearer {}", only[scope]);
        let reply = raw_request(
            &app,
            operation.method.clone(),
            &path,
            &[("Authorization", &authorization)],
            body(),
        )
        .await;
        assert!(
            ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&reply.status),
            "{route} refused a key with exactly `{scope}`: {} {}",
            reply.status,
            reply.body
        );
        assert!(
            reply.status.is_success() || reply.status.is_client_error(),
            "{route}: {} {}",
            reply.status,
            reply.body
        );
        if operation.has_body {
            assert_error(
                &reply,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                &route,
            );
        }
    }
}

// ----- revoked keys --------------------------------------------------------------------------

#[tokio::test]
async fn a_revoked_key_is_refused_at_once_in_every_header_form_and_after_a_restart() {
    let server = TestServer::start().await;
    let (tenant, kept) = server.tenant(100, None).await;
    let (other_tenant, _) = server.tenant(100, None).await;
    let created = server
        .admin(
            Method::POST,
            &format!("/tenants/{tenant}/keys"),
            Some(json!({"name": "doomed"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let doomed = created.body["data"]["key"]
        .as_str()
        .expect("key")
        .to_string();
    let doomed_id = created.body["data"]["id"].as_str().expect("id").to_string();
    let forms = |key: &str| {
        [
            ("Authorization", format!("Bearer {key}")),
            ("Authorization", format!("X-Api-key {key}")),
            ("X-API-Key", key.to_string()),
        ]
    };
    for (name, value) in forms(&doomed) {
        let reply = raw_request(
            &server,
            Method::GET,
            "/api/v1/balance",
            &[(name, value.as_str())],
            None,
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{name}: {value}");
    }

    // Another tenant's path cannot revoke it.
    let foreign = server
        .admin(
            Method::DELETE,
            &format!("/tenants/{other_tenant}/keys/{doomed_id}"),
            None,
        )
        .await;
    assert_error(
        &foreign,
        StatusCode::NOT_FOUND,
        "not_found",
        "revoke through another tenant",
    );
    assert_eq!(
        server
            .request(Method::GET, "/api/v1/balance", Some(&doomed), None)
            .await
            .status,
        StatusCode::OK
    );

    let revoked = server
        .admin(
            Method::DELETE,
            &format!("/tenants/{tenant}/keys/{doomed_id}"),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    // The very next request, on the same pooled connection, in every form, on reads and
    // on writes (where the body must not even be looked at).
    for (name, value) in forms(&doomed) {
        let read = raw_request(
            &server,
            Method::GET,
            "/api/v1/balance",
            &[(name, value.as_str())],
            None,
        )
        .await;
        assert_error(&read, StatusCode::UNAUTHORIZED, "unauthorized", &value);
        let write = raw_request(
            &server,
            Method::POST,
            "/api/v1/sms/send",
            &[(name, value.as_str())],
            Some(("text/plain", b"garbage".to_vec())),
        )
        .await;
        assert_error(&write, StatusCode::UNAUTHORIZED, "unauthorized", &value);
    }
    assert_eq!(
        server
            .request(Method::GET, "/api/v1/balance", Some(&kept), None)
            .await
            .status,
        StatusCode::OK,
        "the tenant's other key still works"
    );

    let server = server.restart().await;
    let after_restart = server
        .request(Method::GET, "/api/v1/balance", Some(&doomed), None)
        .await;
    assert_error(
        &after_restart,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "after restart",
    );
    assert_eq!(
        server
            .request(Method::GET, "/api/v1/balance", Some(&kept), None)
            .await
            .status,
        StatusCode::OK
    );
}

// ----- secrets never in clear ----------------------------------------------------------------

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

/// The strings that must never be written down: each secret's random part, and each half of
/// it (a truncated secret in a log line is still a leak).
fn fragments(secret: &str) -> Vec<String> {
    let random = secret
        .strip_prefix(flit_engine::secrets::API_KEY_PREFIX)
        .or_else(|| secret.strip_prefix("flt_admin_"))
        .unwrap_or(secret);
    let half = random.len() / 2;
    vec![
        random.to_string(),
        random[..half].to_string(),
        random[half..].to_string(),
    ]
}

async fn secrets_stay_out_of_files_and_logs(storage: &str) {
    let data = tempfile::tempdir().expect("data dir");
    let logs = tempfile::tempdir().expect("log dir");
    let admin_token = flit_engine::secrets::generate_secret("flt_admin_");
    // Everything logged, the access log included: it names each caller by id only.
    let mut flit = FlitProcess::spawn(
        data.path(),
        logs.path(),
        &["--storage", storage, "--access-log"],
        &[("FLIT_ADMIN_TOKEN", &admin_token), ("RUST_LOG", "trace")],
    );
    let bootstrap_key = flit.ready(data.path()).await["apiKey"]
        .as_str()
        .expect("apiKey")
        .to_string();
    let client = reqwest::Client::new();
    let admin = |method: Method, path: &str, body: Option<Value>| {
        let mut request = client
            .request(method, format!("{}/admin/v1{path}", flit.base))
            .bearer_auth(&admin_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move { TestServer::reply(request.send().await.expect("sent")).await }
    };
    let tenant = admin(
        Method::POST,
        "/tenants",
        Some(json!({"name": "Secretive", "credits": 10, "senderIds": ["Secretive"]})),
    )
    .await;
    assert_eq!(tenant.status, StatusCode::CREATED, "{}", tenant.body);
    let tenant = tenant.body["data"]["id"].as_str().expect("id").to_string();
    let mut keys = Vec::new();
    let mut key_ids = Vec::new();
    for name in ["used", "revoked"] {
        let created = admin(
            Method::POST,
            &format!("/tenants/{tenant}/keys"),
            Some(json!({"name": name})),
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        keys.push(
            created.body["data"]["key"]
                .as_str()
                .expect("key")
                .to_string(),
        );
        key_ids.push(created.body["data"]["id"].as_str().expect("id").to_string());
    }
    let listed = admin(Method::GET, &format!("/tenants/{tenant}/keys"), None).await;
    assert_eq!(listed.status, StatusCode::OK);
    for key in &keys {
        assert!(
            !contains(listed.body.to_string().as_bytes(), key.as_bytes()),
            "a key listing shows a secret"
        );
    }
    // An SMPP account: its password is hashed (argon2id), never stored, logged or answered.
    let smpp_password = flit_engine::secrets::generate_secret("")[..8].to_string();
    let account = admin(
        Method::POST,
        &format!("/tenants/{tenant}/smpp-accounts"),
        Some(json!({"systemId": "secretive", "password": smpp_password})),
    )
    .await;
    assert_eq!(account.status, StatusCode::CREATED, "{}", account.body);
    let accounts = admin(
        Method::GET,
        &format!("/tenants/{tenant}/smpp-accounts"),
        None,
    )
    .await;
    for answer in [&account.body, &accounts.body] {
        assert!(
            !contains(answer.to_string().as_bytes(), smpp_password.as_bytes()),
            "an SMPP account's answer shows its password: {answer}"
        );
    }
    // A key that never existed, shaped like a real one.
    let bad_key = flit_engine::secrets::generate_secret(flit_engine::secrets::API_KEY_PREFIX);
    let bad_token = flit_engine::secrets::generate_secret("flt_admin_");

    let used = &keys[0];
    for (name, value, expected) in [
        ("Authorization", format!("Bearer {used}"), StatusCode::OK),
        ("Authorization", format!("X-Api-key {used}"), StatusCode::OK),
        ("X-API-Key", used.clone(), StatusCode::OK),
        (
            "Authorization",
            format!("bearer   {used}  "),
            StatusCode::OK,
        ),
        (
            "Authorization",
            format!("Bearer {bad_key}"),
            StatusCode::UNAUTHORIZED,
        ),
        ("X-API-Key", bad_key.clone(), StatusCode::UNAUTHORIZED),
        (
            "Authorization",
            format!("Basic {used}"),
            StatusCode::UNAUTHORIZED,
        ),
    ] {
        let response = client
            .get(format!("{}/api/v1/balance", flit.base))
            .header(name, &value)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), expected, "{name}");
    }
    let sent = client
        .post(format!("{}/api/v1/sms/send", flit.base))
        .bearer_auth(used)
        .json(&json!({"recipients": ["0201234567"], "message": "hello"}))
        .send()
        .await
        .expect("sent");
    let sent = TestServer::reply(sent).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let revoked = admin(
        Method::DELETE,
        &format!("/tenants/{tenant}/keys/{}", key_ids[1]),
        None,
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK);
    let refused = client
        .get(format!("{}/api/v1/balance", flit.base))
        .bearer_auth(&keys[1])
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let wrong_admin = client
        .get(format!("{}/admin/v1/tenants", flit.base))
        .bearer_auth(&bad_token)
        .send()
        .await
        .expect("sent");
    assert_eq!(wrong_admin.status(), StatusCode::UNAUTHORIZED);

    let log = flit.stop().await.both();
    assert!(
        contains(&log, b"Flit is listening"),
        "the log capture is empty, so it proves nothing"
    );
    assert!(
        contains(&log, b"flit::access"),
        "the access log is on, so its lines are scanned too"
    );
    // The bootstrap key is printed once and written to bootstrap.json by design.
    assert!(contains(&log, bootstrap_key.as_bytes()));

    let secrets = [
        ("the admin token", &admin_token),
        ("a used API key", &keys[0]),
        ("a revoked API key", &keys[1]),
        ("an unknown API key", &bad_key),
        ("a wrong admin token", &bad_token),
        ("an SMPP account's password", &smpp_password),
    ];
    let files = files_under(data.path());
    let store = data.path().join("store");
    assert!(
        files
            .iter()
            .any(|file| file.starts_with(&store) && file.metadata().is_ok_and(|m| m.len() > 0)),
        "the store wrote nothing to scan: {files:?}"
    );
    for (what, secret) in secrets {
        for fragment in fragments(secret) {
            assert!(
                !contains(&log, fragment.as_bytes()),
                "{storage}: {what} appears in the log output ({})",
                logs.path().display()
            );
            for file in &files {
                let bytes = std::fs::read(file).expect("read data file");
                assert!(
                    !contains(&bytes, fragment.as_bytes()),
                    "{storage}: {what} is stored in clear in {}",
                    file.display()
                );
            }
        }
    }
}

#[tokio::test]
async fn secrets_are_never_stored_or_logged_in_clear_with_sled() {
    secrets_stay_out_of_files_and_logs("sled").await;
}

#[tokio::test]
async fn secrets_are_never_stored_or_logged_in_clear_with_redb() {
    secrets_stay_out_of_files_and_logs("redb").await;
}

#[tokio::test]
async fn secrets_are_never_stored_or_logged_in_clear_with_fjall() {
    secrets_stay_out_of_files_and_logs("fjall").await;
}

// ----- constant-time comparison --------------------------------------------------------------

/// Reads a source file of the workspace.
fn source(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("cannot read {}", path.display()))
}

fn rust_files(relative_dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative_dir);
    files_under(&dir)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect()
}

#[tokio::test]
async fn secrets_are_compared_only_in_constant_time() {
    // The admin token check goes through the one constant-time comparison.
    let auth = source("api/src/auth.rs");
    let admin_layer = auth
        .split("pub async fn admin_layer")
        .nth(1)
        .expect("admin_layer in auth.rs");
    let admin_layer = admin_layer.split("\n}\n").next().expect("its body");
    assert!(
        admin_layer.contains("secrets::secret_matches("),
        "admin_layer must compare the token with secrets::secret_matches"
    );
    let secrets = source("engine/src/secrets.rs");
    let matches = secrets
        .split("pub fn secret_matches")
        .nth(1)
        .expect("secret_matches in secrets.rs");
    let matches = matches.split("\n}\n").next().expect("its body");
    assert!(matches.contains("constant_time_eq("), "{matches}");

    // Nowhere else is a stored secret hash compared with `==` (which stops at the first
    // differing byte); API keys are found by a map lookup on their hash, not compared.
    for file in rust_files("api/src")
        .into_iter()
        .chain(rust_files("engine/src"))
    {
        let text = std::fs::read_to_string(&file).expect("source");
        for (number, line) in text.lines().enumerate() {
            let about_secrets = line
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map(str::to_ascii_lowercase)
                .any(|word| {
                    word == "token"
                        || word.ends_with("_token")
                        || word.contains("secret")
                        || word.contains("hash")
                        || word.contains("password")
                });
            let compares = line.contains(" == ") || line.contains(" != ") || line.contains(".eq(");
            let exempt = line.trim_start().starts_with("//") || line.contains("assert");
            assert!(
                !(about_secrets && compares && !exempt),
                "{}:{}: compares a secret with `==`: use secrets::secret_matches\n{line}",
                file.display(),
                number + 1
            );
        }
    }

    // And it behaves: a token one character off, a prefix, or a longer one are refused.
    let app = TestApp::start().await;
    let mut off_by_one = ADMIN_TOKEN.to_string();
    off_by_one.pop();
    off_by_one.push('X');
    for token in [
        off_by_one,
        ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1].to_string(),
        format!("{ADMIN_TOKEN}x"),
        String::new(),
    ] {
        let reply = app
            .request(Method::GET, "/admin/v1/tenants", Some(&token), None)
            .await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized", &token);
    }
    assert_eq!(
        app.admin(Method::GET, "/tenants", None).await.status,
        StatusCode::OK
    );
}

/// One HTTP/1.1 answer read off a raw connection: status and body (by Content-Length).
async fn read_response(stream: &mut TcpStream) -> (u16, Vec<u8>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let read = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .expect("an answer within 30 s")
            .expect("read");
        assert!(read > 0, "connection closed before an answer: {buffer:?}");
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head}"));
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("no Content-Length: {head}"));
    while buffer.len() < head_end + length {
        let read = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .expect("the body within 30 s")
            .expect("read");
        assert!(read > 0, "connection closed inside the body");
        buffer.extend_from_slice(&chunk[..read]);
    }
    (status, buffer[head_end..head_end + length].to_vec())
}

fn assert_raw_error(status: u16, body: &[u8], expected: u16, code: &str, context: &str) {
    let reply = Reply::new(
        StatusCode::from_u16(status).expect("status"),
        Default::default(),
        body,
    );
    assert!(!reply.body.is_null(), "{context}: not JSON: {}", reply.text);
    assert_error(
        &reply,
        StatusCode::from_u16(expected).expect("status"),
        code,
        context,
    );
}

// ----- body size limits ----------------------------------------------------------------------

const SMALL_LIMIT: usize = 1024;

/// A valid send of exactly `size` bytes (JSON allows trailing whitespace).
fn send_body(size: usize) -> Vec<u8> {
    let mut body = br#"{"recipients": ["0201234567"], "message": "hi"}"#.to_vec();
    assert!(body.len() <= size);
    body.resize(size, b' ');
    body
}

/// `body` as chunked transfer coding, in chunks of `chunk` bytes.
fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut encoded = Vec::new();
    for piece in body.chunks(chunk) {
        encoded.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        encoded.extend_from_slice(piece);
        encoded.extend_from_slice(b"\r\n");
    }
    encoded.extend_from_slice(b"0\r\n\r\n");
    encoded
}

async fn post_raw(
    server: &TestServer,
    path: &str,
    auth: &str,
    framing: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: flit\r\nAuthorization: Bearer {auth}\r\n\
         Content-Type: application/json\r\n{framing}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    // The server may answer 413 and close before it has read all of a large body.
    let _ = stream.write_all(body).await;
    read_response(&mut stream).await
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_with_or_without_content_length() {
    let server = TestServer::start_adjusted(|config| Config {
        max_body_bytes: SMALL_LIMIT,
        ..config
    })
    .await;
    let key = server.api_key.clone();
    let client = reqwest::Client::new();

    // With Content-Length: exactly the limit passes, one byte more does not.
    let at_limit = client
        .post(format!("{}/api/v1/sms/send", server.base))
        .bearer_auth(&key)
        .header("Content-Type", "application/json")
        .body(send_body(SMALL_LIMIT))
        .send()
        .await
        .expect("sent");
    assert_eq!(at_limit.status(), StatusCode::OK);
    let over = client
        .post(format!("{}/api/v1/sms/send", server.base))
        .bearer_auth(&key)
        .header("Content-Type", "application/json")
        .body(send_body(SMALL_LIMIT + 1))
        .send()
        .await
        .expect("sent");
    let over = TestServer::reply(over).await;
    assert_error(
        &over,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "Content-Length over the limit",
    );

    // Chunked, no Content-Length: under the limit is served, over it is 413.
    let (status, body) = post_raw(
        &server,
        "/api/v1/sms/send",
        &key,
        "Transfer-Encoding: chunked",
        &chunked(&send_body(SMALL_LIMIT), 100),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, body) = post_raw(
        &server,
        "/api/v1/sms/send",
        &key,
        "Transfer-Encoding: chunked",
        &chunked(&send_body(SMALL_LIMIT * 4), 300),
    )
    .await;
    assert_raw_error(
        status,
        &body,
        413,
        "payload_too_large",
        "chunked over the limit",
    );

    // A Content-Length far over the limit is refused without waiting for the body.
    let (status, body) = post_raw(
        &server,
        "/api/v1/sms/send",
        &key,
        "Content-Length: 1000000000000",
        b"{",
    )
    .await;
    assert_raw_error(
        status,
        &body,
        413,
        "payload_too_large",
        "huge Content-Length",
    );

    // The admin API is limited too.
    let (status, body) = post_raw(
        &server,
        "/admin/v1/tenants",
        ADMIN_TOKEN,
        "Transfer-Encoding: chunked",
        &chunked(&vec![b' '; SMALL_LIMIT * 2], 256),
    )
    .await;
    assert_raw_error(status, &body, 413, "payload_too_large", "admin, chunked");

    assert_eq!(server.get("/health").await.status, StatusCode::OK);
    assert_eq!(server.get("/api/v1/balance").await.status, StatusCode::OK);
    server.stop().await;
}

// ----- slow and idle connections -------------------------------------------------------------

const SHORT_HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a stalled connection may outlive the header timeout before the test gives up
/// (generous: a busy test machine is slow, and the test only fails if it never closes).
const CLOSE_GRACE: Duration = Duration::from_secs(20);

/// Reads until the server closes the connection (anything it says first, a 408 say, is
/// skipped); `false` if it is still open at `deadline`.
async fn closed_by_server(stream: &mut TcpStream, deadline: Instant) -> bool {
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// Sends a header one byte at a time, every 200 ms, until the server hangs up; `false` if
/// it is still open at `deadline`.
async fn trickle_until_closed(mut stream: TcpStream, deadline: Instant) -> bool {
    if stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: flit\r\nX-Slow: ")
        .await
        .is_err()
    {
        return true;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut buffer = [0u8; 1024];
    loop {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            },
            _ = tick.tick() => {
                if stream.write_all(b"a").await.is_err() {
                    return true;
                }
            }
            _ = tokio::time::sleep_until(deadline) => return false,
        }
    }
}

#[tokio::test]
async fn stalled_connections_are_closed_after_the_header_timeout_while_others_are_served() {
    let server = TestServer::start_adjusted(|config| Config {
        header_read_timeout: SHORT_HEADER_TIMEOUT,
        ..config
    })
    .await;
    let opened = Instant::now();
    let partials: [&[u8]; 4] = [
        b"",
        b"GE",
        b"GET /api/v1/balance HTTP/1.1\r\n",
        b"POST /api/v1/sms/send HTTP/1.1\r\nHost: flit\r\nContent-Type: appl",
    ];
    let mut stalled = Vec::new();
    for i in 0..64 {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        stream
            .write_all(partials[i % partials.len()])
            .await
            .expect("write");
        stalled.push(stream);
    }
    let deadline = opened + SHORT_HEADER_TIMEOUT + CLOSE_GRACE;
    let trickles: Vec<_> = (0..4)
        .map(|_| {
            let addr = server.addr;
            tokio::spawn(async move {
                let stream = TcpStream::connect(addr).await.expect("connect");
                trickle_until_closed(stream, deadline).await
            })
        })
        .collect();

    // Normal clients are served while the stalled connections are held open.
    for _ in 0..5 {
        assert_eq!(server.get("/health").await.status, StatusCode::OK);
        assert_eq!(server.get("/api/v1/balance").await.status, StatusCode::OK);
    }
    if opened.elapsed() < SHORT_HEADER_TIMEOUT {
        let mut probe = [0u8; 16];
        for stream in &stalled {
            assert!(
                matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
                "a stalled connection was closed before its header timeout"
            );
        }
    }

    // Every stalled one is closed, the trickling ones included (the timeout bounds the whole
    // head, not the gap between bytes).
    let closings = stalled.into_iter().map(|mut stream| {
        tokio::spawn(async move { closed_by_server(&mut stream, deadline).await })
    });
    for (i, closing) in closings.enumerate() {
        assert!(
            closing.await.expect("task"),
            "stalled connection {i} still open {CLOSE_GRACE:?} after the header timeout"
        );
    }
    for (i, trickle) in trickles.into_iter().enumerate() {
        assert!(
            trickle.await.expect("task"),
            "trickling connection {i} still open {CLOSE_GRACE:?} after the header timeout"
        );
    }
    assert_eq!(server.get("/health").await.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_timeout() {
    let server = TestServer::start_adjusted(|config| Config {
        header_read_timeout: SHORT_HEADER_TIMEOUT,
        ..config
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let request = b"GET /health HTTP/1.1\r\nHost: flit\r\n\r\n";
    // Keep-alive works: two requests on one connection.
    for _ in 0..2 {
        stream.write_all(request).await.expect("write");
        let (status, _) = read_response(&mut stream).await;
        assert_eq!(status, 200);
    }
    let answered = Instant::now();
    assert!(
        closed_by_server(&mut stream, answered + SHORT_HEADER_TIMEOUT + CLOSE_GRACE).await,
        "an idle keep-alive connection was never closed"
    );
    assert_eq!(server.get("/health").await.status, StatusCode::OK);

    // A stalled connection does not hold up shutdown for longer than its timeout.
    let mut lingering = TcpStream::connect(server.addr).await.expect("connect");
    lingering.write_all(b"GET /he").await.expect("write");
    server.stop().await;
    assert!(closed_by_server(&mut lingering, Instant::now() + CLOSE_GRACE).await);
}

#[tokio::test]
async fn a_body_that_stalls_answers_408_and_does_not_hold_the_connection() {
    let server = TestServer::start_adjusted(|config| Config {
        body_read_timeout: SHORT_HEADER_TIMEOUT,
        ..config
    })
    .await;
    let framings = [
        ("Content-Length: 100", b"{\"recipie".to_vec()),
        (
            "Transfer-Encoding: chunked",
            b"40\r\n{\"recipients\": [".to_vec(),
        ),
    ];
    for (framing, partial) in framings {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        let head = format!(
            "POST /api/v1/sms/send HTTP/1.1\r\nHost: flit\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\n{framing}\r\n\r\n",
            server.api_key
        );
        stream.write_all(head.as_bytes()).await.expect("write head");
        stream
            .write_all(&partial)
            .await
            .expect("write part of the body");
        let (status, body) = read_response(&mut stream).await;
        assert_raw_error(status, &body, 408, "request_timeout", framing);
        assert!(
            closed_by_server(&mut stream, Instant::now() + CLOSE_GRACE).await,
            "{framing}: the connection stayed open after the 408"
        );
    }
    assert_eq!(server.get("/health").await.status, StatusCode::OK);
    assert_eq!(server.get("/api/v1/balance").await.status, StatusCode::OK);
    server.stop().await;
}

// ----- rate limit under concurrent bursts ----------------------------------------------------

// Several worker threads, so the server really checks the burst's requests in parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_concurrent_burst_from_many_connections_gets_exactly_the_limit() {
    const LIMIT: usize = 20;
    const BURST: usize = 80;
    let server = TestServer::start().await;
    let (tenant, key) = server.tenant(10, None).await;
    let patched = server
        .admin(
            Method::PATCH,
            &format!("/tenants/{tenant}"),
            Some(json!({"rateLimitPerMinute": LIMIT})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK);

    // Each request on its own client, so each has its own connection; all released at once.
    let start = Arc::new(tokio::sync::Barrier::new(BURST));
    let tasks: Vec<_> = (0..BURST)
        .map(|_| {
            let url = format!("{}/api/v1/balance", server.base);
            let key = key.clone();
            let start = start.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                start.wait().await;
                let response = client.get(url).bearer_auth(key).send().await.expect("sent");
                TestServer::reply(response).await
            })
        })
        .collect();
    let mut remaining_seen = Vec::new();
    let mut limited = 0;
    for task in tasks {
        let reply = task.await.expect("task");
        assert_eq!(
            reply.header("x-ratelimit-limit"),
            Some(LIMIT.to_string().as_str())
        );
        let reset: u64 = reply
            .header("x-ratelimit-reset")
            .expect("X-RateLimit-Reset")
            .parse()
            .expect("unix seconds");
        assert!(reset > 1_700_000_000);
        let remaining: usize = reply
            .header("x-ratelimit-remaining")
            .expect("X-RateLimit-Remaining")
            .parse()
            .expect("a count");
        match reply.status {
            StatusCode::OK => remaining_seen.push(remaining),
            StatusCode::TOO_MANY_REQUESTS => {
                limited += 1;
                assert_error(
                    &reply,
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "burst",
                );
                assert_eq!(remaining, 0);
                let retry: u64 = reply
                    .header("retry-after")
                    .expect("Retry-After")
                    .parse()
                    .expect("seconds");
                assert!((1..=60).contains(&retry), "Retry-After {retry}");
            }
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert_eq!(
        (remaining_seen.len(), limited),
        (LIMIT, BURST - LIMIT),
        "exactly the limit succeeds"
    );
    // Each admitted request took its own slot: the counts it saw are all different.
    remaining_seen.sort_unstable();
    assert_eq!(remaining_seen, (0..LIMIT).collect::<Vec<_>>());

    // The window is spent for this key only.
    let again = server
        .request(Method::GET, "/api/v1/balance", Some(&key), None)
        .await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(server.get("/api/v1/balance").await.status, StatusCode::OK);
}
