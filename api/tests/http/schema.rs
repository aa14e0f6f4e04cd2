//! `/openapi.json` tells the truth about what the handlers take: the fields it marks required
//! are refused when missing (with the native error, never axum's plain-text rejection), the
//! request examples it shows are accepted as they are, operation ids are unique, and every
//! link names an operation that exists and fills only parameters that operation declares.
//! (`interop/schemathesis.py` checks the answers against the document by fuzzing.)

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, Api, Reply, TestApp};

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

async fn document(app: &TestApp) -> Value {
    let reply = app.request(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.body
}

/// Every (method, path, operation) of the document.
fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((method.to_string(), path.clone(), operation.clone()));
            }
        }
    }
    found
}

/// Follows `$ref`s into `components`.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    let mut schema = schema;
    while let Some(reference) = schema["$ref"].as_str() {
        let pointer = reference.trim_start_matches('#');
        schema = spec.pointer(pointer).expect("$ref resolves");
    }
    schema
}

fn body_schema<'a>(spec: &'a Value, operation: &'a Value) -> Option<&'a Value> {
    let media = operation["requestBody"]["content"].get("application/json")?;
    Some(resolve(spec, &media["schema"]))
}

fn required_fields(spec: &Value, operation: &Value) -> Vec<String> {
    body_schema(spec, operation)
        .and_then(|schema| schema["required"].as_array())
        .map(|names| {
            names
                .iter()
                .map(|name| name.as_str().expect("field name").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A concrete path for a templated one: the bootstrap tenant, and a group made for the
/// purpose; `None` for paths whose ids this test does not make.
fn concrete_path(app: &TestApp, path: &str, group: &str) -> Option<String> {
    let mut out = Vec::new();
    for segment in path.split('/') {
        out.push(match segment {
            "{tenant_id}" => app.tenant_id.clone(),
            "{group_id}" => group.to_string(),
            s if s.starts_with('{') => return None,
            s => s.to_string(),
        });
    }
    Some(out.join("/"))
}

async fn send(app: &TestApp, method: &str, path: &str, body: Value) -> Reply {
    let token = if path.starts_with("/admin/v1") {
        ADMIN_TOKEN
    } else {
        app.api_key.as_str()
    };
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
    app.request(method, path, Some(token), Some(body)).await
}

/// An example with the ids it names (`bnd_…`, `cnt_…`) replaced by real ones of their kind, as
/// a client fills in its own.
fn with_real_ids(example: &Value, real: &BTreeMap<&str, String>) -> Value {
    match example {
        Value::String(text) => real
            .iter()
            .find(|(prefix, _)| text.starts_with(**prefix))
            .map_or_else(|| example.clone(), |(_, id)| Value::String(id.clone())),
        Value::Array(items) => items.iter().map(|item| with_real_ids(item, real)).collect(),
        Value::Object(fields) => fields
            .iter()
            .map(|(name, value)| (name.clone(), with_real_ids(value, real)))
            .collect(),
        _ => example.clone(),
    }
}

async fn make_group(app: &TestApp) -> String {
    let created = app
        .post("/api/v1/contacts/groups", json!({"name": "Schema check"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    created.body["data"]["id"].as_str().expect("id").to_string()
}

/// What the handlers refuse when it is missing, as the document must say: a body without it
/// answers 400 whatever else it holds.
const REQUIRED: &[(&str, &str, &[&str])] = &[
    ("post", "/messages/send", &["to", "message", "sender"]),
    ("post", "/api/v1/templates", &["name", "content"]),
    ("post", "/api/v1/contacts", &["phone"]),
    ("post", "/api/v1/contacts/import", &["contacts"]),
    ("post", "/api/v1/contacts/groups", &["name"]),
    (
        "post",
        "/api/v1/contacts/groups/{group_id}/members",
        &["contactIds"],
    ),
    (
        "delete",
        "/api/v1/contacts/groups/{group_id}/members",
        &["contactIds"],
    ),
    ("post", "/admin/v1/tenants", &["name"]),
    ("post", "/admin/v1/tenants/{tenant_id}/credits", &["amount"]),
    (
        "post",
        "/admin/v1/tenants/{tenant_id}/sender-ids",
        &["name"],
    ),
    (
        "post",
        "/admin/v1/binds",
        &["name", "host", "port", "systemId"],
    ),
    ("post", "/admin/v1/routes", &["bindIds"]),
];

#[tokio::test]
async fn required_fields_are_marked_required() {
    let app = TestApp::start().await;
    let spec = document(&app).await;
    for (method, path, expected) in REQUIRED {
        let operation = &spec["paths"][*path][*method];
        assert!(operation.is_object(), "{method} {path} is not described");
        let marked: BTreeSet<String> = required_fields(&spec, operation).into_iter().collect();
        let expected: BTreeSet<String> = expected.iter().map(|name| name.to_string()).collect();
        assert_eq!(marked, expected, "{method} {path}: required fields");
        let schema = body_schema(&spec, operation).expect("body schema");
        for name in &expected {
            let field = resolve(&spec, &schema["properties"][name.as_str()]);
            let nullable = match &field["type"] {
                Value::Array(types) => types.iter().any(|t| t == "null"),
                Value::String(t) => t == "null",
                _ => false,
            };
            assert!(
                !nullable,
                "{method} {path}: required `{name}` must not be shown as nullable"
            );
        }
    }
}

/// The other direction, from the document: every field it marks required, left out of the
/// operation's own example (or set to `null`), gets the native 400, not axum's rejection.
#[tokio::test]
async fn missing_required_fields_get_the_native_400() {
    let app = TestApp::start().await;
    let spec = document(&app).await;
    let group = make_group(&app).await;
    let mut checked = 0;
    for (method, path, operation) in operations(&spec) {
        let required = required_fields(&spec, &operation);
        if required.is_empty() {
            continue;
        }
        let Some(target) = concrete_path(&app, &path, &group) else {
            continue;
        };
        let example = operation["requestBody"]["content"]["application/json"]["example"].clone();
        let base = if example.is_object() {
            example
        } else {
            json!({})
        };
        for name in &required {
            for absent in [None, Some(Value::Null)] {
                let mut body = base.clone();
                let object = body.as_object_mut().expect("object body");
                match &absent {
                    None => {
                        object.remove(name);
                    }
                    Some(null) => {
                        object.insert(name.clone(), null.clone());
                    }
                }
                let reply = send(&app, &method, &target, body.clone()).await;
                assert_eq!(
                    reply.status,
                    StatusCode::BAD_REQUEST,
                    "{method} {path} without `{name}` ({body}): {:?}",
                    reply.body
                );
                assert_eq!(reply.body["success"], false, "{method} {path}");
                assert!(
                    reply.body["error"].as_str().is_some_and(|e| !e.is_empty()),
                    "{method} {path}: {:?}",
                    reply.body
                );
                assert!(reply.body["code"].is_string(), "{method} {path}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 2 * 15, "only {checked} cases checked");
}

/// Each request example the document shows is accepted as it stands (paths, and the ids a body
/// names, filled with real ones), so a client copying one gets a 2xx.
#[tokio::test]
async fn request_examples_are_accepted() {
    let app = TestApp::start().await;
    let spec = document(&app).await;
    let group = make_group(&app).await;
    let contact = app
        .post(
            "/api/v1/contacts",
            json!({"phone": "0209876543", "firstName": "Kofi"}),
        )
        .await;
    assert_eq!(contact.status, StatusCode::CREATED, "{:?}", contact.body);
    let bind = app
        .request(
            Method::POST,
            "/admin/v1/binds",
            Some(ADMIN_TOKEN),
            Some(
                json!({"name": "schema-check", "host": "127.0.0.1", "port": 9, "systemId": "schema",
                        "password": "secret"}),
            ),
        )
        .await;
    assert_eq!(bind.status, StatusCode::CREATED, "{:?}", bind.body);
    let real = BTreeMap::from([
        (
            "cnt_",
            contact.body["data"]["id"].as_str().expect("id").to_string(),
        ),
        (
            "bnd_",
            bind.body["data"]["id"].as_str().expect("id").to_string(),
        ),
    ]);
    // A phone of the tenant, online (it pulled), so the FlixySMS example has one to go through.
    let token = app
        .request(
            Method::POST,
            "/api/v1/devices/registration-token",
            Some(&app.api_key),
            None,
        )
        .await;
    let token = token.body["data"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    let phone = app
        .call(
            crate::common::Call::post("/mobile/v1/device")
                .header("authorization", format!("Bearer {token}"))
                .json(&json!({"name": "phone"})),
        )
        .await;
    let phone_token = phone.body["token"]
        .as_str()
        .expect("device token")
        .to_string();
    let pulled = app
        .call(
            crate::common::Call::get("/mobile/v1/message")
                .header("authorization", format!("Bearer {phone_token}")),
        )
        .await;
    assert_eq!(pulled.status, StatusCode::OK);
    let mut sent = BTreeMap::new();
    for (method, path, operation) in operations(&spec) {
        let example = &operation["requestBody"]["content"]["application/json"]["example"];
        if example.is_null() {
            continue;
        }
        let Some(target) = concrete_path(&app, &path, &group) else {
            continue;
        };
        let reply = send(&app, &method, &target, with_real_ids(example, &real)).await;
        assert!(
            reply.status.is_success(),
            "{method} {path} with its example {example}: {} {:?}",
            reply.status,
            reply.body
        );
        let documented = &operation["responses"][reply.status.as_str()];
        assert!(
            documented.is_object(),
            "{method} {path} answered {}, which it does not document",
            reply.status
        );
        sent.insert(format!("{method} {path}"), reply.status);
    }
    for expected in [
        "post /api/v1/sms/send",
        "post /api/v1/sms/estimate",
        "post /messages/send",
        "post /api/v1/templates",
        "post /api/v1/contacts",
        "post /api/v1/contacts/import",
        "post /api/v1/contacts/groups",
        "post /admin/v1/tenants",
        "patch /admin/v1/tenants/{tenant_id}",
        "post /admin/v1/tenants/{tenant_id}/keys",
        "post /admin/v1/tenants/{tenant_id}/credits",
        "post /admin/v1/tenants/{tenant_id}/sender-ids",
        "post /admin/v1/binds",
        "post /admin/v1/routes",
        "post /api/v1/contacts/groups/{group_id}/members",
        "delete /api/v1/contacts/groups/{group_id}/members",
    ] {
        assert!(sent.contains_key(expected), "{expected} shows no example");
    }
}

/// Every field a request example shows is a property of the body's schema. Component names
/// are global to the document, so two body types of one name (say each dialect's `SendBody`)
/// would quietly describe one operation with the other's schema; this catches it.
#[tokio::test]
async fn request_examples_use_only_documented_fields() {
    let app = TestApp::start().await;
    let spec = document(&app).await;
    let mut checked = 0;
    for (method, path, operation) in operations(&spec) {
        let example = &operation["requestBody"]["content"]["application/json"]["example"];
        let (Some(example), Some(schema)) = (example.as_object(), body_schema(&spec, &operation))
        else {
            continue;
        };
        for field in example.keys() {
            assert!(
                schema["properties"].get(field).is_some(),
                "{method} {path}: its example's `{field}` is not in its body schema {schema}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} examples checked");
}

#[tokio::test]
async fn operation_ids_are_unique() {
    let app = TestApp::start().await;
    let spec = document(&app).await;
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (method, path, operation) in operations(&spec) {
        let id = operation["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
            .to_string();
        if let Some(first) = seen.insert(id.clone(), format!("{method} {path}")) {
            panic!("operationId `{id}` names both {first} and {method} {path}");
        }
    }
}

/// Links use OpenAPI's field names, name existing operations and fill only parameters those
/// operations declare; the create operations link to what their id is for.
#[tokio::test]
async fn links_lead_to_real_operations() {
    let app = TestApp::start().await;
    let spec = document(&app).await;
    let by_id: BTreeMap<String, Value> = operations(&spec)
        .into_iter()
        .map(|(_, _, operation)| {
            (
                operation["operationId"].as_str().unwrap_or("").to_string(),
                operation,
            )
        })
        .collect();
    let mut links = BTreeSet::new();
    for (method, path, operation) in operations(&spec) {
        for (status, response) in operation["responses"].as_object().expect("responses") {
            let Some(declared) = response["links"].as_object() else {
                continue;
            };
            for (name, link) in declared {
                let target = link["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path} {status} link {name}: {link}"));
                let target_operation = by_id
                    .get(target)
                    .unwrap_or_else(|| panic!("link {name} names unknown operation {target}"));
                for parameter in link["parameters"].as_object().into_iter().flatten() {
                    let declared = target_operation["parameters"]
                        .as_array()
                        .is_some_and(|params| params.iter().any(|p| p["name"] == *parameter.0));
                    assert!(
                        declared,
                        "link {name} fills {}, which {target} does not take",
                        parameter.0
                    );
                }
                links.insert((method.clone(), path.clone(), target.to_string()));
            }
        }
    }
    for (method, path, target) in [
        ("post", "/api/v1/sms/send", "status"),
        ("post", "/messages/send", "flowstates_message"),
        ("post", "/api/v1/sms/send", "cancel"),
        ("post", "/api/v1/contacts", "get_contact"),
        ("post", "/api/v1/templates", "delete_template"),
        ("post", "/admin/v1/tenants", "create_key"),
        ("post", "/admin/v1/tenants/{tenant_id}/keys", "revoke_key"),
        ("post", "/admin/v1/binds", "create_route"),
    ] {
        assert!(
            links.contains(&(method.to_string(), path.to_string(), target.to_string())),
            "no link from {method} {path} to {target}"
        );
    }
}

/// A reply's status is one the document lists for the operation, with the listed body shape.
fn assert_documented(spec: &Value, method: &str, path: &str, reply: &Reply) {
    let response = &spec["paths"][path][method]["responses"][reply.status.as_str()];
    assert!(
        response.is_object(),
        "{method} {path} answered {}, which it does not document: {:?}",
        reply.status,
        reply.body
    );
    let schema = resolve(spec, &response["content"]["application/json"]["schema"]);
    for field in schema["required"].as_array().into_iter().flatten() {
        let field = field.as_str().expect("field name");
        assert!(
            reply.body.get(field).is_some(),
            "{method} {path} {}: no `{field}` in {:?}",
            reply.status,
            reply.body
        );
    }
}

/// An ADJUSTMENT that would take the balance below zero is refused with 402, and the
/// document says the operation can answer that.
#[tokio::test]
async fn negative_adjustment_past_the_balance_is_a_documented_402() {
    let app = TestApp::start().await;
    let spec = document(&app).await;
    let balance = app.balance().await;
    let path = "/admin/v1/tenants/{tenant_id}/credits";
    let reply = app
        .admin(
            Method::POST,
            &format!("/tenants/{}/credits", app.tenant_id),
            Some(json!({"amount": -(balance + 1), "type": "ADJUSTMENT"})),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::PAYMENT_REQUIRED,
        "{:?}",
        reply.body
    );
    assert_eq!(reply.code(), "insufficient_credits");
    assert_documented(&spec, "post", path, &reply);
    assert_eq!(app.balance().await, balance, "nothing was taken");
}

/// A bind to a host that never answers (a fuzzer makes plenty) is created, listed, read and
/// removed without waiting for its connection attempt: that runs in the background.
#[tokio::test]
async fn binds_to_unreachable_hosts_never_hold_up_the_admin_api() {
    let app = TestApp::start().await;
    // Generous: a liveness bound for a hung request, far above any answer's real time.
    let call = |method: Method, path: String, body: Option<Value>| {
        let app = &app;
        async move {
            tokio::time::timeout(
                std::time::Duration::from_secs(30),
                app.admin(method, &path, body),
            )
            .await
            .expect("answered, not hung")
        }
    };
    let mut ids = Vec::new();
    // A non-routable address (connects hang until their timeout) and a name that resolves nowhere.
    for (n, host) in ["10.255.255.1", "no-such-host.invalid"]
        .into_iter()
        .enumerate()
    {
        let created = call(
            Method::POST,
            "/binds".to_string(),
            Some(json!({"name": format!("nowhere-{n}"), "host": host, "port": 2775, "systemId": "x"})),
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        assert_eq!(created.body["data"]["state"]["bound"], false);
        ids.push(created.body["data"]["id"].as_str().expect("id").to_string());
    }
    let listed = call(Method::GET, "/binds".to_string(), None).await;
    assert_eq!(listed.status, StatusCode::OK);
    for id in &ids {
        let read = call(Method::GET, format!("/binds/{id}"), None).await;
        assert_eq!(read.status, StatusCode::OK);
        let removed = call(Method::DELETE, format!("/binds/{id}"), None).await;
        assert_eq!(removed.status, StatusCode::OK, "{:?}", removed.body);
        let gone = call(Method::GET, format!("/binds/{id}"), None).await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND);
    }
}
