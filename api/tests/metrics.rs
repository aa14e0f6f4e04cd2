//! `/metrics` over a real server: a known set of sends in sandbox mode, then the counters,
//! gauges and histograms they must have moved, scraped over HTTP.
//!
//! A test binary of its own with a single test: the recorder is process-global, so counters
//! start at zero here and nothing else in the process moves them.

use std::collections::BTreeMap;
use std::time::Duration;

use flit_api::config::{Config, Overrides};
use flit_api::server::Server;
use flit_loadtest::webhook::{WebhookReceiver, WebhookReceiverConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ADMIN_TOKEN: &str = "metrics-test-admin-token";
const SEND: &str = "/api/v1/sms/send";
const STATUS: &str = "/api/v1/sms/status/{message_id}";

#[tokio::test]
async fn metrics_count_what_a_known_workload_did() {
    // As `flit serve` installs it: buckets, and every metric described.
    let recorder =
        flit_api::telemetry::install_recorder().expect("the only recorder in this process");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::load(Overrides {
        data_dir: Some(dir.path().to_path_buf()),
        listen: Some("127.0.0.1:0".parse().expect("addr")),
        storage: Some("sled".to_string()),
        ..Overrides::default()
    })
    .expect("config");
    let mut config = Config {
        admin_token: Some(ADMIN_TOKEN.to_string()),
        ..config
    };
    config.webhooks.allow_private_networks = true;
    let server = Server::start(config, Some(recorder))
        .await
        .expect("server starts");
    assert!(server.engine.is_sandbox(), "no bind configured: sandbox");
    let base = format!("http://{}", server.addr);
    let bootstrap: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("bootstrap.json")).expect("bootstrap.json"),
    )
    .expect("bootstrap json");
    let key = bootstrap["apiKey"].as_str().expect("apiKey").to_string();
    let client = reqwest::Client::new();
    // The status polls below must not meet the default tenant's 100 requests a minute.
    let tenant = bootstrap["tenantId"].as_str().expect("tenantId");
    let raised = client
        .patch(format!("{base}/admin/v1/tenants/{tenant}"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"rateLimitPerMinute": 1_000_000}))
        .send()
        .await
        .expect("patch");
    assert_eq!(raised.status(), StatusCode::OK);
    let send = |body: Value, idempotency: Option<&'static str>| {
        let mut request = client
            .post(format!("{base}{SEND}"))
            .bearer_auth(&key)
            .json(&body);
        if let Some(idempotency) = idempotency {
            request = request.header("Idempotency-Key", idempotency);
        }
        async move {
            let response = request.send().await.expect("send");
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };

    // A webhook for every delivery.
    let mut receiver = WebhookReceiver::start(WebhookReceiverConfig::default())
        .await
        .expect("receiver");
    let webhook: Value = client
        .post(format!("{base}/api/v1/webhooks"))
        .bearer_auth(&key)
        .json(&json!({"url": receiver.url(), "events": ["message.delivered"]}))
        .send()
        .await
        .expect("webhook")
        .json()
        .await
        .expect("webhook json");
    receiver.set_secrets(vec![
        webhook["data"]["secret"]
            .as_str()
            .expect("secret")
            .to_string(),
    ]);

    // Three messages, five segments: 2 recipients × 1 part, 1 × 2 parts, 1 × 1 part.
    let long = "a".repeat(200);
    let sends = [
        json!({"recipients": ["0201234567", "0241234567"], "message": "Hi"}),
        json!({"recipients": ["0201234568"], "message": long}),
        json!({"recipients": ["0201234569"], "message": "Hello"}),
    ];
    let mut ids = Vec::new();
    let mut credits_used = 0;
    for (i, body) in sends.into_iter().enumerate() {
        let idempotency = (i == 2).then_some("metrics-test-once");
        let (status, reply) = send(body, idempotency).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        credits_used += reply["data"]["creditsUsed"].as_i64().expect("creditsUsed");
        ids.push(reply["data"]["messageId"].as_str().expect("id").to_string());
    }
    assert_eq!(credits_used, 5, "one credit per segment");
    // A replay is answered again but accepts, charges and sends nothing.
    let (status, replay) = send(
        json!({"recipients": ["0201234569"], "message": "Hello"}),
        Some("metrics-test-once"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{replay}");
    assert_eq!(replay["data"]["messageId"].as_str(), Some(ids[2].as_str()));
    // Refused: counted as a request, not as a message.
    let (status, refused) = send(json!({"recipients": ["12"], "message": "Hi"}), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let unrouted = client
        .get(format!("{base}/no/such/endpoint"))
        .send()
        .await
        .expect("get");
    assert_eq!(unrouted.status(), StatusCode::NOT_FOUND);

    // The sandbox acknowledges at once and delivers about a second later.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for id in &ids {
        loop {
            let status: Value = client
                .get(format!("{base}/api/v1/sms/status/{id}"))
                .bearer_auth(&key)
                .send()
                .await
                .expect("status")
                .json()
                .await
                .expect("status json");
            if status["data"]["status"] == "DELIVERED" {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} not delivered: {status}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    assert!(
        receiver.wait_for(4, Duration::from_secs(20)).await,
        "one webhook per delivered recipient: {:?}",
        receiver.stats()
    );
    // Written once the attempt's record is durable.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let scrape = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(scrape.status(), StatusCode::OK);
    let text = scrape.text().await.expect("body");
    let metrics = Scrape::parse(&text);
    let value = |name: &str, labels: &[(&str, &str)]| metrics.value(name, labels, &text);

    // Accept path.
    assert_eq!(value("flit_messages_accepted_total", &[]), 3.0);
    assert_eq!(value("flit_segments_accepted_total", &[]), 5.0);
    assert_eq!(value("flit_credits_charged_total", &[]), 5.0);
    assert!(
        metrics.find("flit_credits_refunded_total", &[]).is_none(),
        "nothing failed, nothing refunded"
    );

    // Dispatch: one submit_sm per part, one receipt per part, the sandbox bind idle and up.
    let sandbox = [("bind", "sandbox")];
    assert_eq!(
        value(
            "flit_submit_sm_total",
            &[("bind", "sandbox"), ("result", "accepted")]
        ),
        5.0
    );
    assert_eq!(value("flit_submit_sm_latency_seconds_count", &sandbox), 5.0);
    assert_eq!(
        value(
            "flit_submit_sm_latency_seconds_bucket",
            &[("bind", "sandbox"), ("le", "+Inf")]
        ),
        5.0
    );
    assert_eq!(
        value("flit_receipts_total", &[("result", "delivered")]),
        5.0
    );
    assert_eq!(value("flit_bind_bound", &sandbox), 1.0);
    assert_eq!(value("flit_bind_in_flight", &sandbox), 0.0);
    assert_eq!(value("flit_bind_queued", &sandbox), 0.0);
    for queue in ["ready", "parked", "status_events"] {
        assert_eq!(value("flit_queue_depth", &[("queue", queue)]), 0.0);
    }
    assert_eq!(value("flit_backlog", &[]), 0.0, "every recipient answered");

    // Supervision: every actor running, none restarted.
    assert_eq!(value("flit_engine_healthy", &[]), 1.0);
    assert_eq!(
        value("flit_webhook_deliveries_total", &[("result", "delivered")]),
        4.0
    );
    assert!(
        metrics
            .find("flit_webhook_deliveries_total", &[("result", "retry")])
            .is_none()
    );
    assert_eq!(
        value("flit_webhook_attempt_duration_seconds_count", &[]),
        4.0
    );
    assert_eq!(value("flit_webhook_outbox_depth", &[]), 0.0);
    assert!(metrics.find("flit_actor_restarts_total", &[]).is_none());

    // HTTP: by route template, method and status.
    let send_ok = [("route", SEND), ("method", "POST"), ("status", "200")];
    assert_eq!(value("flit_http_requests_total", &send_ok), 4.0);
    let send_bad = [("route", SEND), ("method", "POST"), ("status", "400")];
    assert_eq!(value("flit_http_requests_total", &send_bad), 1.0);
    let polled = [("route", STATUS), ("method", "GET"), ("status", "200")];
    assert!(value("flit_http_requests_total", &polled) >= 3.0);
    let unmatched = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
    assert_eq!(value("flit_http_requests_total", &unmatched), 1.0);
    assert_eq!(
        value(
            "flit_http_request_duration_seconds_count",
            &[("route", SEND), ("method", "POST")]
        ),
        5.0
    );
    assert!(
        !text.contains("/api/v1/sms/status/msg_"),
        "no raw path (message id) becomes a label"
    );

    // Storage: one observation per group commit, rendered as histograms.
    assert!(value("flit_storage_commit_seconds_count", &[]) > 0.0);
    assert!(
        metrics
            .find("flit_storage_commit_seconds_bucket", &[("le", "+Inf")])
            .is_some()
    );
    let groups = value("flit_storage_commit_batches_count", &[]);
    assert!(groups > 0.0);
    assert!(
        value("flit_storage_commit_batches_sum", &[]) >= groups,
        "every group holds at least one batch"
    );

    // Every metric exported says what it is: a `# HELP` line for each `# TYPE` line, with
    // the text `telemetry::METRICS` gives it.
    let helps: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# HELP "))
        .filter_map(|line| line.split_once(' '))
        .collect();
    let typed: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|line| line.split(' ').next())
        .collect();
    assert!(
        typed.len() >= 20,
        "a scrape of the whole workload: {typed:?}"
    );
    for name in &typed {
        let help = helps
            .get(name)
            .unwrap_or_else(|| panic!("{name} has a # TYPE line and no # HELP line"));
        let described = flit_api::telemetry::METRICS
            .iter()
            .find(|(_, described, _)| described == name)
            .map(|(_, _, help)| *help);
        assert_eq!(Some(*help), described, "{name}");
    }

    // The shipped dashboard asks only for series this server exports (refunds, bind errors,
    // refused sends, actor restarts and messages stuck at a phone need a failure first).
    let dashboard = include_str!("../dashboards/flit.json");
    let exported: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|line| line.split(' ').next())
        .collect();
    for (at, _) in dashboard.match_indices("flit_") {
        let name: String = dashboard[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(&name);
        assert!(
            exported.contains(&base)
                || [
                    "flit_credits_refunded_total",
                    "flit_bind_errors_total",
                    "flit_sends_refused_total",
                    "flit_actor_restarts_total",
                    "flit_actor_gave_up_total",
                    "flit_device_stuck_total",
                ]
                .contains(&base),
            "the dashboard uses {name}, which /metrics does not export"
        );
    }

    receiver.stop().await;
    server.shutdown().await.expect("clean shutdown");
}

/// The samples of a Prometheus text exposition: name, labels, value. Just enough of the
/// format for these checks (no escapes inside label values, no timestamps).
struct Scrape {
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let mut samples = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            let value: f64 = value.parse().expect("numeric value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').expect("closing brace");
                    let labels = body
                        .split("\",")
                        .filter(|pair| !pair.is_empty())
                        .map(|pair| {
                            let (key, value) = pair.split_once("=\"").expect("key=\"value\"");
                            (key.to_string(), value.trim_end_matches('"').to_string())
                        })
                        .collect();
                    (name.to_string(), labels)
                }
                None => (series.to_string(), BTreeMap::new()),
            };
            samples.push((name, labels, value));
        }
        Scrape { samples }
    }

    /// The first sample of `name` that carries every label in `labels`.
    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|(sample, have, _)| {
                sample == name
                    && labels
                        .iter()
                        .all(|(key, value)| have.get(*key).map(String::as_str) == Some(*value))
            })
            .map(|(_, _, value)| *value)
    }

    fn value(&self, name: &str, labels: &[(&str, &str)], text: &str) -> f64 {
        self.find(name, labels)
            .unwrap_or_else(|| panic!("no {name} with {labels:?} in:\n{text}"))
    }
}
