//! `GET /openapi.json` describes every route the router serves, and `GET /docs` renders it.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};

use crate::common::{Api, Call, TestApp};

/// What `lib.rs` serves itself: health, metrics, the description and its page.
const SYSTEM: [&str; 4] = ["/health", "/metrics", "/openapi.json", "/docs"];

/// Every (method, path) `flit_api::app` routes: `SYSTEM`, `native::router` under `/api/v1`,
/// `flowstates::router` at the root and `admin::router` under `/admin/v1`.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/docs"),
    ("post", "/messages/send"),
    ("get", "/messages/{message_id}"),
    ("post", "/flixy/api/v1/sms/send"),
    ("get", "/flixy/api/v1/sms/status/{message_id}"),
    ("get", "/webhooks"),
    ("post", "/webhooks"),
    ("delete", "/webhooks/{webhook_id}"),
    ("post", "/api/v1/sms/send"),
    ("post", "/api/v1/sms/estimate"),
    ("get", "/api/v1/sms"),
    ("get", "/api/v1/sms/status/{message_id}"),
    ("get", "/api/v1/sms/{message_id}/recipients"),
    ("post", "/api/v1/sms/{message_id}/cancel"),
    ("get", "/api/v1/inbound"),
    ("get", "/api/v1/balance"),
    ("get", "/api/v1/sender-ids"),
    ("get", "/api/v1/transactions"),
    ("get", "/api/v1/templates"),
    ("post", "/api/v1/templates"),
    ("get", "/api/v1/templates/{template_id}"),
    ("put", "/api/v1/templates/{template_id}"),
    ("delete", "/api/v1/templates/{template_id}"),
    ("get", "/api/v1/contacts"),
    ("post", "/api/v1/contacts"),
    ("get", "/api/v1/contacts/{contact_id}"),
    ("put", "/api/v1/contacts/{contact_id}"),
    ("delete", "/api/v1/contacts/{contact_id}"),
    ("post", "/api/v1/contacts/import"),
    ("get", "/api/v1/contacts/groups"),
    ("post", "/api/v1/contacts/groups"),
    ("delete", "/api/v1/contacts/groups/{group_id}"),
    ("post", "/api/v1/contacts/groups/{group_id}/members"),
    ("delete", "/api/v1/contacts/groups/{group_id}/members"),
    ("post", "/api/v1/devices/registration-token"),
    ("post", "/api/v1/devices/pairing-code"),
    ("get", "/api/v1/devices"),
    ("patch", "/api/v1/devices/{device_id}"),
    ("delete", "/api/v1/devices/{device_id}"),
    ("get", "/api/v1/webhooks"),
    ("post", "/api/v1/webhooks"),
    ("delete", "/api/v1/webhooks/{webhook_id}"),
    ("post", "/api/v1/webhooks/{webhook_id}/rotate-secret"),
    ("get", "/api/v1/webhooks/{webhook_id}/deliveries"),
    (
        "post",
        "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    ),
    ("post", "/admin/v1/tenants"),
    ("get", "/admin/v1/tenants"),
    ("get", "/admin/v1/tenants/{tenant_id}"),
    ("patch", "/admin/v1/tenants/{tenant_id}"),
    ("delete", "/admin/v1/tenants/{tenant_id}"),
    ("post", "/admin/v1/tenants/{tenant_id}/suspend"),
    ("post", "/admin/v1/tenants/{tenant_id}/resume"),
    ("get", "/admin/v1/tenants/{tenant_id}/export"),
    ("get", "/admin/v1/tenants/{tenant_id}/transactions"),
    ("post", "/admin/v1/tenants/{tenant_id}/keys"),
    ("get", "/admin/v1/tenants/{tenant_id}/keys"),
    ("delete", "/admin/v1/tenants/{tenant_id}/keys/{key_id}"),
    ("post", "/admin/v1/tenants/{tenant_id}/credits"),
    ("post", "/admin/v1/tenants/{tenant_id}/sender-ids"),
    ("get", "/admin/v1/tenants/{tenant_id}/sender-ids"),
    ("post", "/admin/v1/binds"),
    ("get", "/admin/v1/binds"),
    ("get", "/admin/v1/binds/{bind_id}"),
    ("delete", "/admin/v1/binds/{bind_id}"),
    ("post", "/admin/v1/routes"),
    ("get", "/admin/v1/routes"),
    ("delete", "/admin/v1/routes/{route_id}"),
];

#[tokio::test]
async fn openapi_describes_every_route() {
    let app = TestApp::start().await;
    let reply = app.request(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let spec = reply.body;
    let version = spec["openapi"].as_str().expect("openapi is a string");
    assert!(version.starts_with("3."), "openapi {version}");
    let paths = spec["paths"].as_object().expect("paths object");
    let mut described = BTreeSet::new();
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                described.insert((method.to_string(), path.clone()));
            }
        }
    }
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    let missing: Vec<_> = routed.difference(&described).collect();
    assert!(missing.is_empty(), "routed but not described: {missing:?}");
    let unknown: Vec<_> = described.difference(&routed).collect();
    assert!(unknown.is_empty(), "described but not routed: {unknown:?}");

    for (method, path) in &routed {
        let operation = &paths[path][method.as_str()];
        assert!(
            operation["summary"].is_string(),
            "{method} {path} has no summary"
        );
        assert!(
            operation["responses"]
                .as_object()
                .is_some_and(|r| !r.is_empty()),
            "{method} {path} has no responses"
        );
        for name in path_params(path) {
            let declared = operation["parameters"].as_array().is_some_and(|params| {
                params
                    .iter()
                    .any(|param| param["in"] == "path" && param["name"] == name.as_str())
            });
            assert!(
                declared,
                "{method} {path}: path parameter {name} not declared"
            );
        }
        // Everything but the system routes takes an API key or the admin token.
        let tenant_api = !path.starts_with("/admin/v1") && !SYSTEM.contains(&path.as_str());
        if !SYSTEM.contains(&path.as_str()) {
            assert!(
                operation["security"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty()),
                "{method} {path} has no security"
            );
            for status in ["400", "401"] {
                let error = &operation["responses"][status];
                assert!(error.is_object(), "{method} {path} lacks {status}");
                assert_eq!(
                    error["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
        }
        if operation["requestBody"].is_object() {
            for status in ["413", "415"] {
                assert!(
                    operation["responses"][status].is_object(),
                    "{method} {path} takes a body but lacks {status}"
                );
            }
        }
        if tenant_api {
            for status in ["403", "429"] {
                assert!(
                    operation["responses"][status].is_object(),
                    "{method} {path} lacks {status}"
                );
            }
            // The scope the router checks, stated in words and as each scheme's role.
            let http_method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let scope = flit_api::scoped::declared_scope(&http_method, path)
                .unwrap_or_else(|| panic!("{method} {path} declares no scope"))
                .as_str();
            let description = operation["description"].as_str().unwrap_or_default();
            assert!(
                description.starts_with(&format!("Requires scope `{scope}`.")),
                "{method} {path}: {description}"
            );
            for requirement in operation["security"].as_array().expect("security") {
                for (scheme, roles) in requirement.as_object().expect("requirement") {
                    assert_eq!(
                        roles,
                        &serde_json::json!([scope]),
                        "{method} {path} {scheme}"
                    );
                }
            }
        }
    }
    let schemes = &spec["components"]["securitySchemes"];
    for scheme in [
        "apiKey",
        "apiKeyHeader",
        "apiKeyAuthorization",
        "adminToken",
    ] {
        assert!(schemes[scheme].is_object(), "no security scheme {scheme}");
    }
    assert!(spec["components"]["schemas"]["ErrorBody"].is_object());
}

/// The list above is the router's: each entry is served (never the 404 fallback or a 405).
#[tokio::test]
async fn listed_routes_are_served() {
    let app = TestApp::start().await;
    for (method, path) in ROUTES {
        let concrete = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "x"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let reply = app.request(method.clone(), &concrete, None, None).await;
        assert_ne!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {concrete}"
        );
        assert_ne!(
            reply.body["error"], "no such endpoint",
            "{method} {concrete} is not routed"
        );
    }
}

#[tokio::test]
async fn docs_page_is_self_contained() {
    let app = TestApp::start().await;
    let reply = app.call(Call::get("/docs")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = &reply.text;
    assert!(html.contains("fetch(\"/openapi.json\")"));
    for external in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "@import",
    ] {
        assert!(!html.contains(external), "external asset: {external}");
    }
}

fn path_params(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(str::to_string)
        .collect()
}
