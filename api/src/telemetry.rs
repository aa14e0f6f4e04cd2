//! Prometheus metrics on the HTTP side: the middleware that counts and times every request by
//! its route template (and writes the access log line), the exporter's configuration
//! (histogram buckets), its upkeep, and the one list of every metric Flit exports with its
//! `# HELP` text. The engine and storage record their own series through the `metrics`
//! facade; this module only decides how they are exported and described.

use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

use crate::auth::Authenticated;

/// The `route` label of requests that matched no route: raw paths would be unbounded.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// How often histogram samples are folded into their buckets when nobody scrapes (a recorder
/// installed with `install_recorder` keeps raw samples until the next render otherwise).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Request durations and carrier answers: a millisecond to tens of seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// One group commit: a page-cache write to a slow fsync.
const COMMIT_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];
/// Batches per group commit (at most `StoreOptions::max_batches_per_commit`, 4096 by default).
const BATCH_COUNT_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
];

/// The exporter Flit installs: every `flit_` histogram rendered as a Prometheus histogram
/// (buckets, not client-side quantiles, so they aggregate across instances).
pub fn prometheus_builder() -> Result<PrometheusBuilder, BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("flit_http_request_duration_seconds".into()),
            LATENCY_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full("flit_submit_sm_latency_seconds".into()),
            LATENCY_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full("flit_webhook_attempt_duration_seconds".into()),
            LATENCY_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full("flit_storage_commit_seconds".into()),
            COMMIT_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full("flit_storage_commit_batches".into()),
            BATCH_COUNT_BUCKETS,
        )
}

/// What a metric is, as `# TYPE` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric Flit exports (engine, storage and HTTP), its kind and its `# HELP` text: the
/// one place a new metric is described (a test checks the sources against it).
pub const METRICS: &[(MetricKind, &str, &str)] = {
    use MetricKind::{Counter, Gauge, Histogram};
    &[
        // HTTP (this module).
        (
            Counter,
            "flit_http_requests_total",
            "HTTP requests answered, by route template, method and status",
        ),
        (
            Histogram,
            "flit_http_request_duration_seconds",
            "Time from a request's head to its answer, by route template and method",
        ),
        (
            Counter,
            "flit_http_connections_refused_total",
            "Connections answered 503 and closed because max_connections were open",
        ),
        (
            Counter,
            "flit_http_bodies_refused_total",
            "Requests refused because the bodies in memory at once were at their cap, by scope (total: 503, key: 429)",
        ),
        // Accept path.
        (
            Counter,
            "flit_messages_accepted_total",
            "Messages accepted and charged (idempotent replays not counted)",
        ),
        (
            Counter,
            "flit_segments_accepted_total",
            "SMS segments (parts x recipients) in accepted messages",
        ),
        (
            Counter,
            "flit_credits_charged_total",
            "Credits charged for accepted messages and charge-backs of cancelled parts a carrier took",
        ),
        (
            Counter,
            "flit_credits_refunded_total",
            "Credits refunded for parts that failed or were cancelled",
        ),
        (
            Counter,
            "flit_sends_refused_total",
            "Sends refused before any charge, by reason (backlog_full, engine_unhealthy)",
        ),
        (
            Counter,
            "flit_messages_cancelled_total",
            "Messages cancelled through the API",
        ),
        // Dispatch and carriers.
        (
            Gauge,
            "flit_queue_depth",
            "Jobs waiting in the engine's queues, by queue (ready, parked, status_events)",
        ),
        (
            Gauge,
            "flit_backlog",
            "Recipients accepted and not yet answered by a carrier, on disk or in memory (what `max_backlog` bounds)",
        ),
        (
            Counter,
            "flit_submit_sm_total",
            "Parts handed to a carrier, by bind and answer (accepted, rejected_temporary, rejected_permanent)",
        ),
        (
            Histogram,
            "flit_submit_sm_latency_seconds",
            "Time from submitting a part to the carrier's answer, by bind",
        ),
        (
            Counter,
            "flit_receipts_total",
            "Delivery receipts, by result (delivered, failed, held until their part's answer, unmatched)",
        ),
        (
            Counter,
            "flit_bind_errors_total",
            "SMPP session errors, by bind and kind (connect_failed, bind_refused, disconnected, response_timeout, generic_nack, malformed_pdu)",
        ),
        (
            Counter,
            "flit_bind_throttled_total",
            "Times a carrier asked Flit to slow down (throttling answers)",
        ),
        (
            Gauge,
            "flit_bind_bound",
            "1 while the bind's session is bound, else 0, by bind",
        ),
        (
            Gauge,
            "flit_bind_in_flight",
            "Parts submitted to the bind and not yet answered, by bind",
        ),
        (
            Gauge,
            "flit_bind_queued",
            "Parts waiting in the bind's queue, by bind",
        ),
        (
            Counter,
            "flit_inbound_messages_total",
            "Inbound SMS, by result (stored, unowned: no tenant owns the number)",
        ),
        // The tenants' phones.
        (
            Gauge,
            "flit_devices",
            "Paired phones, by state (online, offline)",
        ),
        (
            Gauge,
            "flit_device_streams",
            "Phones holding their event stream open",
        ),
        (
            Gauge,
            "flit_device_messages",
            "Messages with the phones, by state (queued, in_flight: pulled and not reported, stuck)",
        ),
        (
            Counter,
            "flit_device_stuck_total",
            "Messages a phone took and had not reported sent within devices.stuck_after_secs",
        ),
        // Webhooks.
        (
            Counter,
            "flit_webhook_deliveries_total",
            "Webhook attempts, by result (delivered, retry, failed: given up)",
        ),
        (
            Histogram,
            "flit_webhook_attempt_duration_seconds",
            "Time one webhook attempt took, answer or timeout",
        ),
        (
            Gauge,
            "flit_webhook_outbox_depth",
            "Webhook deliveries waiting in the outbox",
        ),
        // The SMPP server for customers.
        (
            Gauge,
            "flit_smpp_server_binds",
            "Customer sessions bound to the SMPP server, by account system_id",
        ),
        (
            Counter,
            "flit_smpp_server_bind_attempts_total",
            "Binds to the SMPP server, by result (bound, invalid_password, refused, error)",
        ),
        (
            Counter,
            "flit_smpp_server_submits_total",
            "submit_sm read by the SMPP server, by result (accepted, submit_failed, queue_full, invalid, system_error)",
        ),
        (
            Counter,
            "flit_smpp_server_throttled_total",
            "submit_sm answered ESME_RTHROTTLED, by reason (tps, window)",
        ),
        (
            Gauge,
            "flit_smpp_server_held",
            "Receipts and inbound SMS held for customers' receiver binds, not yet answered",
        ),
        (
            Counter,
            "flit_smpp_server_delivered_total",
            "Held deliver_sm answered by a customer or dropped, by kind (receipt, inbound) and result",
        ),
        (
            Counter,
            "flit_smpp_server_malformed_total",
            "PDUs from customers whose body could not be decoded",
        ),
        (
            Counter,
            "flit_smpp_server_parts_expired_total",
            "Concatenated submits given up because their last part never came",
        ),
        (
            Counter,
            "flit_smpp_server_connections_refused_total",
            "SMPP connections closed at once because too many were open",
        ),
        // The web console.
        (
            Counter,
            "flit_console_sign_ins_total",
            "Console sign-ins, by result (signed_in, refused, limited)",
        ),
        // Supervision.
        (
            Gauge,
            "flit_engine_healthy",
            "1 while every actor runs, 0 once one kept failing and was left stopped (see /health)",
        ),
        (
            Counter,
            "flit_actor_restarts_total",
            "Actors restarted after exiting, by actor",
        ),
        (
            Counter,
            "flit_actor_gave_up_total",
            "Actors left stopped after failing too often, by actor",
        ),
        // Storage.
        (
            Histogram,
            "flit_storage_commit_seconds",
            "Time one group commit (write and sync) took",
        ),
        (
            Histogram,
            "flit_storage_commit_batches",
            "Batches written by one group commit",
        ),
        (
            Counter,
            "flit_storage_commit_failures_total",
            "Group commits that failed (their batches answered with an error)",
        ),
    ]
};

/// Gives every metric in `METRICS` its `# HELP` line, on whatever recorder is installed.
pub fn describe() {
    for (kind, name, help) in METRICS {
        match kind {
            MetricKind::Counter => metrics::describe_counter!(*name, *help),
            MetricKind::Gauge => metrics::describe_gauge!(*name, *help),
            MetricKind::Histogram => metrics::describe_histogram!(*name, *help),
        }
    }
}

/// Installs Flit's exporter as the process's recorder, every metric described.
pub fn install_recorder() -> Result<PrometheusHandle, BuildError> {
    let handle = prometheus_builder()?.install_recorder()?;
    describe();
    Ok(handle)
}

/// Runs the recorder's upkeep until the runtime stops.
pub fn spawn_upkeep(handle: PrometheusHandle) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_EVERY);
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    });
}

/// Counts and times each request under its route template (`/api/v1/sms/status/{message_id}`),
/// never its raw path, so the label set stays bounded, and writes its access log event.
/// Installed with `Router::layer`, which runs it after routing, when `MatchedPath` is known.
pub async fn track_http(request: Request, next: Next) -> Response {
    let started = tokio::time::Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || UNMATCHED_ROUTE.to_string(),
        |path| path.as_str().to_string(),
    );
    let method = method_label(request.method());
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    access_log(method, &route, &response, elapsed);
    metrics::histogram!(
        "flit_http_request_duration_seconds",
        "route" => route.clone(),
        "method" => method,
    )
    .record(elapsed.as_secs_f64());
    metrics::counter!(
        "flit_http_requests_total",
        "route" => route,
        "method" => method,
        "status" => response.status().as_u16().to_string(),
    )
    .increment(1);
    response
}

/// The access log's line for one request (target `flit::access`, on only with `access_log`):
/// the route template rather than the path, so no id, query or token in a URL is written, and
/// who the request was authenticated as by id only. Headers and bodies are never read here.
fn access_log(method: &str, route: &str, response: &Response, elapsed: Duration) {
    let who = response.extensions().get::<Authenticated>();
    let tenant = who.and_then(Authenticated::tenant);
    let key = who.and_then(Authenticated::key);
    let device = who.and_then(Authenticated::device);
    tracing::info!(
        target: crate::logging::ACCESS_TARGET,
        method,
        route,
        status = response.status().as_u16(),
        latency_ms = elapsed.as_micros() as f64 / 1000.0,
        tenant = tenant.map(tracing::field::display),
        key = key.map(tracing::field::display),
        device = device.map(tracing::field::display),
        admin = matches!(who, Some(Authenticated::Admin)).then_some(true),
        "request"
    );
}

/// HTTP accepts any token as a method; only the standard ones become label values.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("a source dir") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                rust_files(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                found.push(path);
            }
        }
    }

    /// The metrics `source` records: each `counter!`, `gauge!` or `histogram!` macro call
    /// with a literal name, as (kind, name).
    fn recorded(source: &str) -> Vec<(MetricKind, String)> {
        let mut found = Vec::new();
        for (macro_name, kind) in [
            ("counter", MetricKind::Counter),
            ("gauge", MetricKind::Gauge),
            ("histogram", MetricKind::Histogram),
        ] {
            let call = format!("{macro_name}!(");
            for (at, _) in source.match_indices(&call) {
                // `describe_counter!(` is not a recording.
                let before = source[..at].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let rest = source[at + call.len()..].trim_start();
                let Some(quoted) = rest.strip_prefix('"') else {
                    continue;
                };
                let name: String = quoted
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if quoted[name.len()..].starts_with('"') {
                    found.push((kind, name));
                }
            }
        }
        found
    }

    /// A metric recorded anywhere in the server (engine, storage, api) without a description
    /// would export no `# HELP` line; one described and recorded nowhere is a stale entry.
    #[test]
    fn every_metric_recorded_is_described_and_every_description_is_used() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        for dir in ["engine/src", "storage/src", "api/src"] {
            rust_files(&root.join(dir), &mut files);
        }
        let mut used = Vec::new();
        for file in &files {
            let source = std::fs::read_to_string(file).expect("a source file");
            for (kind, name) in recorded(&source) {
                let described = METRICS.iter().find(|(_, described, _)| *described == name);
                match described {
                    Some((described_kind, _, _)) => assert_eq!(
                        *described_kind,
                        kind,
                        "{name} is described as a {described_kind:?} in METRICS but recorded as a {kind:?} in {}",
                        file.display()
                    ),
                    None => panic!(
                        "{name}, recorded in {}, has no entry in telemetry::METRICS",
                        file.display()
                    ),
                }
                used.push(name);
            }
        }
        for (_, name, help) in METRICS {
            assert!(
                used.iter().any(|used| used == name),
                "{name} is recorded nowhere"
            );
            assert!(!help.is_empty() && !help.contains('\n'), "{name}: {help:?}");
        }
        assert!(used.len() >= METRICS.len(), "the scan found the recordings");
    }
}
