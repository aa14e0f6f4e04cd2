//! Prometheus metrics on the HTTP side: the middleware that counts and times every request by
//! its route template, the exporter's configuration (histogram buckets), and its upkeep. The
//! engine and storage record their own series through the `metrics` facade; this module only
//! decides how they are exported.

use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

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
/// never its raw path, so the label set stays bounded. Installed with `Router::layer`, which
/// runs it after routing, when `MatchedPath` is known.
pub async fn track_http(request: Request, next: Next) -> Response {
    let started = tokio::time::Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || UNMATCHED_ROUTE.to_string(),
        |path| path.as_str().to_string(),
    );
    let method = method_label(request.method());
    let response = next.run(request).await;
    metrics::histogram!(
        "flit_http_request_duration_seconds",
        "route" => route.clone(),
        "method" => method,
    )
    .record(started.elapsed().as_secs_f64());
    metrics::counter!(
        "flit_http_requests_total",
        "route" => route,
        "method" => method,
        "status" => response.status().as_u16().to_string(),
    )
    .increment(1);
    response
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
