//! The system's health as the operator reads it: the engine's own verdict
//! (`Engine::health`), sandbox mode, the storage backend, what waits (`Engine::queue_depths`:
//! the dispatch backlog, the webhook outbox, receipts held for SMPP customers), the store's
//! group commits (`Engine::commit_stats`, and their mean latency when metrics are on), and
//! how many carrier binds are up; `/health` and `/metrics` hold the same for machines.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use crate::console::auth::OperatorViewer;
use crate::console::page::{Chrome, Problem, render, thousands};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/op_health.html")]
struct HealthPage {
    chrome: Chrome,
    /// Why the engine is unhealthy; `None` while it is healthy.
    unhealthy: Option<String>,
    sandbox: bool,
    storage: String,
    backlog: String,
    max_backlog: String,
    webhook_outbox: String,
    smpp_held: String,
    binds_up: usize,
    binds_down: usize,
    commits: String,
    syncs: String,
    ops: String,
    /// Mean commit time, when `/metrics` is on.
    commit_latency: Option<String>,
}

/// The mean of a Prometheus summary or histogram, from its `_sum` and `_count` lines.
fn mean_of(exposition: &str, metric: &str) -> Option<f64> {
    let value = |suffix: &str| {
        let name = format!("{metric}{suffix}");
        exposition.lines().find_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            (key == name || key.starts_with(&format!("{name}{{")))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
    };
    let (sum, count) = (value("_sum")?, value("_count")?);
    (count > 0.0).then(|| sum / count)
}

pub async fn page(
    State(state): State<Arc<AppState>>,
    OperatorViewer(viewer): OperatorViewer,
) -> Result<Response, Problem> {
    let engine = &state.engine;
    let depths = engine.queue_depths();
    let commits = engine.commit_stats();
    // The carriers' binds only (`Engine::binds` also lists the sandbox simulator's).
    let binds = engine.bind_records()?;
    let binds_up = binds.iter().filter(|(_, live)| live.bound).count();
    let commit_latency = state
        .metrics
        .as_ref()
        .and_then(|handle| mean_of(&handle.render(), "flit_storage_commit_seconds"))
        .map(|seconds| format!("{:.2} ms", seconds * 1000.0));
    let count = |n: u64| thousands(i64::try_from(n).unwrap_or(i64::MAX));
    Ok(render(&HealthPage {
        chrome: Chrome::new(&viewer, "Health", "/console/op/health"),
        unhealthy: engine.health().reason(),
        sandbox: engine.is_sandbox(),
        storage: engine.backend().to_string(),
        backlog: count(depths.backlog as u64),
        max_backlog: count(engine.config().max_backlog as u64),
        webhook_outbox: count(depths.webhook_outbox),
        smpp_held: count(depths.smpp_held),
        binds_up,
        binds_down: binds.len() - binds_up,
        commits: count(commits.batches),
        syncs: count(commits.syncs),
        ops: count(commits.ops),
        commit_latency,
    }))
}

#[cfg(test)]
mod tests {
    use super::mean_of;

    #[test]
    fn the_mean_comes_from_sum_and_count() {
        let text = "# TYPE flit_storage_commit_seconds summary\n\
                    flit_storage_commit_seconds{quantile=\"0.5\"} 0.001\n\
                    flit_storage_commit_seconds_sum 0.03\n\
                    flit_storage_commit_seconds_count 10\n";
        let mean = mean_of(text, "flit_storage_commit_seconds").expect("a mean");
        assert!((mean - 0.003).abs() < 1e-9);
        assert_eq!(mean_of("", "flit_storage_commit_seconds"), None);
    }
}
