//! The log stream of `flit serve` as an operator reads it: the binary run with its flags, its
//! stdout read back. JSON lines when asked, colour only on a terminal, the level that was set
//! (and `RUST_LOG` over it), and the access log: one line per request with the route
//! template, status, latency and who by id, never a secret, a body or a raw path.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{FlitProcess, Output};

const ADMIN_TOKEN: &str = "flt_admin_logs-test-0123456789abcdef";

/// `flit serve` with `args` and `env` on a fresh data dir, waited for, then `during` run
/// against it (with its base URL and bootstrap file), then stopped: what it wrote.
async fn serve<F, Fut>(args: &[&str], env: &[(&str, &str)], during: F) -> Output
where
    F: FnOnce(String, Value) -> Fut,
    Fut: Future<Output = ()>,
{
    let data = tempfile::tempdir().expect("data dir");
    let logs = tempfile::tempdir().expect("log dir");
    let mut env = env.to_vec();
    env.push(("FLIT_ADMIN_TOKEN", ADMIN_TOKEN));
    let mut flit = FlitProcess::spawn(data.path(), logs.path(), args, &env);
    let bootstrap = flit.ready(data.path()).await;
    during(flit.base.clone(), bootstrap).await;
    flit.stop().await
}

#[tokio::test]
async fn json_logs_hold_one_access_line_per_request_by_route_and_ids_only() {
    const BODY_TEXT: &str = "a private message body 7f3a";
    const UNKNOWN_KEY: &str = "flt_live_unknownKEY0123456789abcdefghij";
    let mut seen = None;
    let output = serve(
        &["--log-format", "json", "--access-log"],
        &[],
        |base, bootstrap| {
            let seen = &mut seen;
            async move {
                let client = reqwest::Client::new();
                let key = bootstrap["apiKey"].as_str().expect("apiKey").to_string();
                let tenant = bootstrap["tenantId"]
                    .as_str()
                    .expect("tenantId")
                    .to_string();
                let keys: Value = client
                    .get(format!("{base}/admin/v1/tenants/{tenant}/keys"))
                    .bearer_auth(ADMIN_TOKEN)
                    .send()
                    .await
                    .expect("keys")
                    .json()
                    .await
                    .expect("keys json");
                let key_id = keys["data"]["keys"][0]["id"]
                    .as_str()
                    .expect("key id")
                    .to_string();
                let sent = client
                    .post(format!("{base}/api/v1/sms/send"))
                    .bearer_auth(&key)
                    .json(&json!({"recipients": ["0201234567"], "message": BODY_TEXT}))
                    .send()
                    .await
                    .expect("send");
                assert_eq!(sent.status(), StatusCode::OK);
                let sent: Value = sent.json().await.expect("send json");
                let message_id = sent["data"]["messageId"].as_str().expect("id").to_string();
                let status = client
                    .get(format!("{base}/api/v1/sms/status/{message_id}?verbose=1"))
                    .header("X-API-Key", &key)
                    .send()
                    .await
                    .expect("status");
                assert_eq!(status.status(), StatusCode::OK);
                let refused = client
                    .get(format!("{base}/api/v1/balance"))
                    .bearer_auth(UNKNOWN_KEY)
                    .send()
                    .await
                    .expect("refused");
                assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
                let unmatched = client
                    .get(format!("{base}/no/such/{message_id}"))
                    .send()
                    .await
                    .expect("unmatched");
                assert_eq!(unmatched.status(), StatusCode::NOT_FOUND);
                *seen = Some((key, tenant, key_id, message_id));
            }
        },
    )
    .await;
    let (key, tenant, key_id, message_id) = seen.expect("the requests ran");
    let stdout = output.stdout_text();
    assert!(!stdout.contains('\u{1b}'), "no escape codes off a terminal");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON line: {line}"))
        })
        .collect();
    assert!(
        lines
            .iter()
            .any(|line| line["message"] == "Flit is listening" && line["level"] == "INFO"),
        "{stdout}"
    );
    // The first start's banner is for the person at the terminal, not in the log stream.
    assert!(String::from_utf8_lossy(&output.stderr).contains("First start"));

    let access: Vec<&Value> = lines
        .iter()
        .filter(|line| line["target"] == "flit::access")
        .collect();
    let allowed = [
        "timestamp",
        "level",
        "target",
        "message",
        "method",
        "route",
        "status",
        "latency_ms",
        "tenant",
        "key",
        "device",
        "admin",
    ];
    for line in &access {
        for field in line.as_object().expect("an object").keys() {
            assert!(allowed.contains(&field.as_str()), "{field} in {line}");
        }
        assert_eq!(line["level"], "INFO", "{line}");
        assert!(line["timestamp"].is_string(), "{line}");
        assert!(
            line["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
            "{line}"
        );
    }
    let one = |method: &str, route: &str| -> &Value {
        let found: Vec<&&Value> = access
            .iter()
            .filter(|line| line["method"] == method && line["route"] == route)
            .collect();
        assert_eq!(found.len(), 1, "one line for {method} {route}: {access:?}");
        found[0]
    };
    let listed = one("GET", "/admin/v1/tenants/{tenant_id}/keys");
    assert_eq!(listed["status"], 200);
    assert_eq!(listed["admin"], true);
    assert!(listed.get("tenant").is_none(), "{listed}");
    let sent = one("POST", "/api/v1/sms/send");
    assert_eq!(sent["status"], 200);
    assert_eq!(sent["tenant"], tenant.as_str());
    assert_eq!(sent["key"], key_id.as_str());
    let status = one("GET", "/api/v1/sms/status/{message_id}");
    assert_eq!(status["status"], 200);
    assert_eq!(status["key"], key_id.as_str(), "the X-API-Key form too");
    let refused = one("GET", "/api/v1/balance");
    assert_eq!(refused["status"], 401);
    assert!(refused.get("tenant").is_none() && refused.get("key").is_none());
    let unmatched = one("GET", "unmatched");
    assert_eq!(unmatched["status"], 404);
    let requests = access
        .iter()
        .filter(|line| line["route"] != "/health")
        .count();
    assert_eq!(requests, 5, "one line per request: {access:?}");

    // Nothing an access line must never hold is anywhere in the stream: keys, tokens, bodies,
    // queries, raw paths with their ids.
    let half = &key[key.len() / 2..];
    for secret in [
        key.as_str(),
        half,
        ADMIN_TOKEN,
        UNKNOWN_KEY,
        BODY_TEXT,
        "verbose",
    ] {
        assert!(!stdout.contains(secret), "{secret} is in the log");
    }
    for line in &access {
        assert!(!line.to_string().contains(&message_id), "{line}");
    }
}

#[tokio::test]
async fn text_logs_off_a_terminal_have_no_colour_and_no_access_log_unless_asked() {
    let output = serve(&[], &[], |base, _| async move {
        let health = reqwest::get(format!("{base}/health"))
            .await
            .expect("health");
        assert_eq!(health.status(), StatusCode::OK);
    })
    .await;
    let stdout = output.stdout_text();
    assert!(stdout.contains("Flit is listening"), "{stdout}");
    assert!(stdout.contains(" INFO "), "{stdout}");
    assert!(
        !output.both().contains(&0x1b),
        "ANSI escape codes in a log written to a file: {stdout:?}"
    );
    assert!(
        !stdout.contains("flit::access"),
        "the access log is off by default"
    );
    assert!(
        stdout.lines().all(|line| !line.starts_with('{')),
        "text, not JSON"
    );
}

#[tokio::test]
async fn the_level_is_set_by_flit_log_and_rust_log_overrides_it() {
    // `FLIT_LOG=warn`: no info lines, warnings still, and the access log has its own switch.
    let warn = serve(
        &[],
        &[("FLIT_LOG", "warn"), ("FLIT_ACCESS_LOG", "1")],
        |base, _| async move {
            reqwest::get(format!("{base}/health"))
                .await
                .expect("health");
        },
    )
    .await
    .stdout_text();
    assert!(!warn.contains("Flit is listening"), "{warn}");
    assert!(warn.contains("sandbox mode"), "{warn}");
    assert!(warn.contains("flit::access"), "{warn}");

    // `RUST_LOG` replaces the level, flag and all.
    let overridden = serve(
        &["--log-level", "debug"],
        &[("RUST_LOG", "warn")],
        |_, _| async {},
    )
    .await
    .stdout_text();
    assert!(!overridden.contains("Flit is listening"), "{overridden}");
    assert!(!overridden.contains("DEBUG"), "{overridden}");
    assert!(overridden.contains("sandbox mode"), "{overridden}");
}
