//! The crash test, bounded for CI: the real `flit` binary killed with SIGKILL twenty times
//! under single, bulk and group sends through a simulated SMSC, on each storage backend, then
//! checked from the client's record of its 2xx answers (see `flit_loadtest::crash`). The
//! full-size run is `flit-loadtest crash` (README, BENCHMARKS.md).

use flit_loadtest::crash::{self, CrashArgs, CrashSummary};

/// Twenty kills with a small load: one run takes well under two minutes on two cores.
fn bounded(storage: &str) -> CrashArgs {
    CrashArgs {
        kills: 20,
        connections: 4,
        bulk_every: 10,
        bulk_size: 20,
        group_size: 1_000,
        min_up_ms: 150,
        max_up_ms: 500,
        group_kill_ms: 200,
        drain_timeout_secs: 60,
        ..CrashArgs::new(env!("CARGO_BIN_EXE_flit"), storage)
    }
}

async fn survives_twenty_kills(storage: &str) {
    let summary: CrashSummary = crash::execute(&bounded(storage))
        .await
        .expect("the crash test could not run");
    let report = summary.table();
    assert_eq!(summary.kills.len(), 20, "{report}");
    assert!(
        summary.acknowledged_group_sends >= 1 && summary.acknowledged > 20,
        "too little load to prove anything:\n{report}"
    );
    assert!(
        summary.cut_off >= 1,
        "no request was cut off by a kill:\n{report}"
    );
    assert_eq!(
        summary.lost, 0,
        "acknowledged messages missing or never final:\n{report}"
    );
    assert_eq!(
        summary.double_charged, 0,
        "messages charged twice:\n{report}"
    );
    assert!(
        summary.violations.is_empty(),
        "the crash test found violations:\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sled_survives_twenty_kills() {
    survives_twenty_kills("sled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_survives_twenty_kills() {
    survives_twenty_kills("redb").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fjall_survives_twenty_kills() {
    survives_twenty_kills("fjall").await;
}
