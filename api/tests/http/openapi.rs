//! `GET /openapi.json` describes every route the router serves, and `GET /docs` renders it.

use std::collections::BTreeSet;
use std::process::Stdio;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::{ADMIN_TOKEN, Api, Call, TestApp, TestServer};

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
    ("post", "/admin/v1/tenants/{tenant_id}/smpp-accounts"),
    ("get", "/admin/v1/tenants/{tenant_id}/smpp-accounts"),
    (
        "delete",
        "/admin/v1/tenants/{tenant_id}/smpp-accounts/{account_id}",
    ),
    ("post", "/admin/v1/binds"),
    ("get", "/admin/v1/binds"),
    ("get", "/admin/v1/binds/{bind_id}"),
    ("delete", "/admin/v1/binds/{bind_id}"),
    ("post", "/admin/v1/routes"),
    ("get", "/admin/v1/routes"),
    ("delete", "/admin/v1/routes/{route_id}"),
    ("post", "/admin/v1/tenants/{tenant_id}/users"),
    ("get", "/admin/v1/tenants/{tenant_id}/users"),
    ("delete", "/admin/v1/tenants/{tenant_id}/users/{user_id}"),
    ("post", "/admin/v1/operators"),
    ("get", "/admin/v1/operators"),
    ("delete", "/admin/v1/operators/{user_id}"),
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

/// The page's own script run in node on the served document, with a stand-in for the DOM
/// (`document`, `location`, `fetch`): every operation's curl command from `curlCommand`, its
/// body examples from `bodyExamples`, and what `render` put in the page.
const PAGE_HARNESS: &str = r#"
const fs = require("fs");
const doc = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const origin = process.argv[3];
const elements = {};
const element = (id) => elements[id] || (elements[id] = { innerHTML: "", textContent: "", addEventListener() {} });
globalThis.document = { title: "", getElementById: element, querySelectorAll: () => [] };
globalThis.location = { origin, search: "" };
globalThis.navigator = {};
globalThis.window = {};
globalThis.fetch = (url) => {
  if (url !== "/openapi.json") throw new Error("fetched " + url);
  return Promise.resolve({ ok: true, status: 200, json: () => Promise.resolve(doc) });
};
const SCRIPTS;
// As a browser runs a page's scripts: their top-level functions become globals.
require("vm").runInThisContext(SCRIPTS);
setTimeout(() => {
  const operations = [];
  for (const path of Object.keys(doc.paths)) {
    for (const method of ["get", "post", "put", "patch", "delete"]) {
      const op = doc.paths[path][method];
      if (!op) continue;
      operations.push({
        method, path,
        curl: curlCommand(doc, origin, path, method, op, doc.paths[path].parameters),
        examples: bodyExamples(doc, op),
      });
    }
  }
  console.log(JSON.stringify({ operations, page: element("ops").innerHTML, error: element("error").textContent }));
}, 100);
"#;

/// Why a program the docs test needs is missing, if it is.
fn missing(program: &str) -> Option<String> {
    let found = std::process::Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    (!found).then(|| format!("`{program}` is not installed"))
}

/// As the page's `esc`.
fn html_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The JSON a curl command sends: its `-d '…'` argument, unquoted as the shell would.
fn curl_body(curl: &str) -> Option<Value> {
    let quoted = curl.split("\n  -d '").nth(1)?.strip_suffix('\'')?;
    serde_json::from_str(&quoted.replace("'\\''", "'")).ok()
}

/// `/docs` shows every example `/openapi.json` holds and a curl command per operation that
/// works as pasted. The page renders the document in the browser, so its script is run in node
/// on the served document (a test that says why and passes without node, unless
/// `FLIT_REQUIRE_NODE=1`), and the commands that need no id are run with bash and curl against
/// the server.
#[tokio::test]
async fn docs_page_shows_the_examples_and_a_curl_command_for_every_operation() {
    let server = TestServer::start().await;
    let html = reqwest::get(format!("{}/docs", server.base))
        .await
        .expect("docs")
        .text()
        .await
        .expect("docs text");
    let spec: Value = reqwest::get(format!("{}/openapi.json", server.base))
        .await
        .expect("spec")
        .json()
        .await
        .expect("spec json");
    for function in [
        "function curlCommand(",
        "function bodyExamples(",
        "curlBlock(entry)",
    ] {
        assert!(html.contains(function), "the page lacks {function}");
    }

    // What the page reads: every body the document describes has an example for each of its
    // content types, so no operation's curl command goes without one.
    let mut operations = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            for (content_type, media) in operation["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
            {
                assert!(
                    media.get("example").is_some() || media.get("examples").is_some(),
                    "{method} {path} {content_type} has no example"
                );
            }
            operations.push((method, path.clone(), operation.clone()));
        }
    }

    if let Some(reason) = missing("node") {
        assert!(
            std::env::var("FLIT_REQUIRE_NODE").as_deref() != Ok("1"),
            "FLIT_REQUIRE_NODE=1 and {reason}"
        );
        eprintln!("skipping the /docs script run: {reason}");
        return;
    }
    let scripts: String = html
        .split("<script")
        .skip(1)
        .filter_map(|tail| tail.split_once('>').map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_once("</script>").map(|(script, _)| script))
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().expect("temp dir");
    let harness = dir.path().join("page.js");
    let spec_file = dir.path().join("openapi.json");
    std::fs::write(
        &harness,
        PAGE_HARNESS.replace(
            "const SCRIPTS;",
            &format!(
                "const SCRIPTS = {};",
                serde_json::to_string(&scripts).expect("js")
            ),
        ),
    )
    .expect("harness");
    std::fs::write(&spec_file, spec.to_string()).expect("spec file");
    let run = tokio::process::Command::new("node")
        .arg(&harness)
        .arg(&spec_file)
        .arg(&server.base)
        .output()
        .await
        .expect("node runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let shown: Value = serde_json::from_slice(&run.stdout).expect("the harness's JSON");
    assert_eq!(shown["error"], "", "the page reports an error");
    let page = shown["page"].as_str().expect("page html");
    let rendered = shown["operations"].as_array().expect("operations");
    assert_eq!(rendered.len(), operations.len());

    let mut runnable = Vec::new();
    for (method, path, operation) in &operations {
        let entry = rendered
            .iter()
            .find(|entry| entry["method"] == *method && entry["path"] == path.as_str())
            .unwrap_or_else(|| panic!("no curl command for {method} {path}"));
        let curl = entry["curl"].as_str().expect("curl");
        assert!(
            page.contains(&html_escaped(curl)),
            "the page does not show {method} {path}'s curl command:\n{curl}"
        );
        // The method and the full URL, ids as shell variables named after them.
        let url: String = path
            .split('/')
            .map(
                |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => format!("${{{}}}", name.to_uppercase()),
                    None => segment.to_string(),
                },
            )
            .collect::<Vec<_>>()
            .join("/");
        let first = format!("curl -X {} \"{}{url}\"", method.to_uppercase(), server.base);
        assert!(
            curl.starts_with(&first),
            "{curl}\nexpected to start with {first}"
        );
        // The credential its API takes.
        let http_method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let authorization = if flit_api::scoped::declared_scope(&http_method, path).is_some() {
            Some("-H \"Authorization: Bearer $FLIT_API_KEY\"")
        } else if path.starts_with("/admin/v1/") {
            Some("-H \"Authorization: Bearer $FLIT_ADMIN_TOKEN\"")
        } else {
            None
        };
        match authorization {
            Some(header) => assert!(curl.contains(header), "{curl}"),
            None => assert!(!curl.contains("Authorization"), "{curl}"),
        }
        // Its body: the JSON example, with its content type; every example shown on the page.
        if operation.get("requestBody").is_some() {
            let json_example = &operation["requestBody"]["content"]["application/json"]["example"];
            assert!(
                curl.contains("-H 'Content-Type: application/json'"),
                "{curl}"
            );
            assert_eq!(curl_body(curl).as_ref(), Some(json_example), "{curl}");
            let examples = entry["examples"].as_array().expect("examples");
            let content_types = operation["requestBody"]["content"]
                .as_object()
                .expect("content")
                .len();
            assert_eq!(
                examples.len(),
                content_types,
                "{method} {path}: {examples:?}"
            );
            let pretty = serde_json::to_string_pretty(json_example).expect("pretty");
            assert!(
                page.contains(&html_escaped(&pretty)),
                "the page does not show {method} {path}'s example:\n{pretty}"
            );
        } else {
            assert!(!curl.contains(" -d "), "{curl}");
        }
        if !curl.contains("${") {
            runnable.push((
                method.to_string(),
                path.clone(),
                operation.clone(),
                curl.to_string(),
            ));
        }
    }

    // Pasted into a shell with the two variables set, each command that needs no id is
    // authenticated, well-formed and answered as documented; the everyday ones succeed.
    if let Some(reason) = missing("curl") {
        eprintln!("not running the curl commands: {reason}");
        return;
    }
    let must_succeed = [
        ("post", "/api/v1/sms/send"),
        ("post", "/api/v1/sms/estimate"),
        ("get", "/api/v1/balance"),
        ("post", "/api/v1/templates"),
        ("post", "/api/v1/contacts"),
        ("post", "/messages/send"),
        ("post", "/admin/v1/tenants"),
        ("get", "/admin/v1/tenants"),
        ("get", "/health"),
        ("get", "/openapi.json"),
    ];
    for (method, path) in must_succeed {
        assert!(
            runnable.iter().any(|(m, p, _, _)| m == method && p == path),
            "{method} {path} has no runnable curl command"
        );
    }
    for (method, path, operation, curl) in &runnable {
        let ran = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(format!("{curl} -s -o /dev/null -w '%{{http_code}}'"))
            .env("FLIT_API_KEY", &server.api_key)
            .env("FLIT_ADMIN_TOKEN", ADMIN_TOKEN)
            .output()
            .await
            .expect("bash runs");
        let status = String::from_utf8_lossy(&ran.stdout).to_string();
        assert!(
            ran.status.success(),
            "{curl}: {}",
            String::from_utf8_lossy(&ran.stderr)
        );
        assert!(
            !["401", "403", "408", "413", "415"].contains(&status.as_str()),
            "{method} {path} answered {status}:\n{curl}"
        );
        assert!(
            operation["responses"].get(status.as_str()).is_some(),
            "{method} {path} answered {status}, which it does not document:\n{curl}"
        );
        if must_succeed.contains(&(method.as_str(), path.as_str())) {
            assert!(
                status.starts_with('2'),
                "{method} {path} answered {status}:\n{curl}"
            );
        }
    }
}

fn path_params(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(str::to_string)
        .collect()
}
