//! `flit-loadtest smpp-client` against the simulated SMSC over loopback TCP: the SMSC plays the
//! SMPP server (it acks submits and sends receipts), so the client's windows, retries, status
//! counts and receipt matching are checked against a peer that keeps its own counts.

use std::collections::HashSet;
use std::time::Duration;

use flit_loadtest::smpp_client::{self, SmppClientArgs, SmppClientSummary};
use flit_loadtest::smsc::{self, SmscConfig, SmscHandle, SubmitOutcome};

const SYSTEM_ID: &str = "esme";
const PASSWORD: &str = "secret";

/// An SMSC that wants our credentials, answers after `latency` and sends receipts soon after.
async fn smsc(latency: Duration) -> SmscHandle {
    smsc::start(SmscConfig {
        system_id: Some(SYSTEM_ID.into()),
        password: Some(PASSWORD.into()),
        latency,
        receipt_delay: Duration::from_millis(20),
        ..SmscConfig::default()
    })
    .await
    .expect("the SMSC starts")
}

fn args(smsc: &SmscHandle, binds: usize, window: u32, messages: u64) -> SmppClientArgs {
    SmppClientArgs {
        binds,
        window,
        messages,
        receipts: true,
        receipt_timeout: Duration::from_secs(20),
        throttle_pause: Duration::from_millis(5),
        response_timeout: Duration::from_secs(10),
        ..SmppClientArgs::with_account("127.0.0.1", smsc.addr.port(), SYSTEM_ID, PASSWORD)
    }
}

async fn run(args: &SmppClientArgs) -> SmppClientSummary {
    tokio::time::timeout(Duration::from_secs(60), smpp_client::execute(args))
        .await
        .expect("the run ends")
        .expect("the run succeeds")
}

/// Every submit accepted once, every receipt matched, every bind unbound cleanly.
fn assert_clean(summary: &SmppClientSummary, messages: u64) {
    assert_eq!(summary.accepted, messages, "{summary:#?}");
    assert_eq!(summary.refused, 0, "{summary:#?}");
    assert_eq!(summary.timed_out + summary.lost, 0, "{summary:#?}");
    assert_eq!(summary.receipts_matched, messages, "{summary:#?}");
    assert_eq!(summary.receipts_missing, 0, "{summary:#?}");
    assert_eq!(summary.receipts_unknown, 0, "{summary:#?}");
    assert_eq!(summary.receipts_duplicate, 0, "{summary:#?}");
    assert_eq!(summary.unbound, summary.binds, "{summary:#?}");
    assert!(summary.notes.is_empty(), "{summary:#?}");
    assert!(summary.submits_per_sec > 0.0 && summary.receipts_per_sec > 0.0);
    assert!(summary.latency.max_ms >= summary.latency.p50_ms);
}

#[tokio::test]
async fn window_one_keeps_strictly_one_submit_outstanding() {
    let smsc = smsc(Duration::from_millis(2)).await;
    let summary = run(&args(&smsc, 2, 1, 60)).await;
    assert_clean(&summary, 60);
    let stats = smsc.stats();
    assert_eq!(stats.max_outstanding_seen, 1, "{stats:?}");
    assert_eq!((stats.binds, stats.unbinds), (2, 2), "{stats:?}");
    assert_eq!(stats.receipts_acked, 60, "{stats:?}");
    smsc.stop().await;
}

#[tokio::test]
async fn window_fifty_fills_the_window_and_never_exceeds_it() {
    let smsc = smsc(Duration::from_millis(5)).await;
    let summary = run(&args(&smsc, 3, 50, 1500)).await;
    assert_clean(&summary, 1500);
    let stats = smsc.stats();
    assert_eq!(stats.max_outstanding_seen, 50, "{stats:?}");
    assert_eq!(stats.receipts_acked, 1500, "{stats:?}");

    // What went out: one submit per distinct international number, as asked.
    let received = smsc.received();
    assert_eq!(received.len(), 1500);
    let destinations: HashSet<&str> = received.iter().map(|r| r.destination.as_str()).collect();
    assert_eq!(destinations.len(), 1500);
    for submit in &received {
        assert!(submit.destination.starts_with("233"), "{submit:?}");
        assert_eq!((submit.dest_ton, submit.dest_npi), (1, 1), "{submit:?}");
        assert_eq!((submit.source.as_str(), submit.source_ton), ("LoadTest", 5));
        assert_eq!((submit.data_coding, submit.esm_class), (0, 0), "{submit:?}");
        assert_eq!(submit.registered_delivery, 1, "{submit:?}");
        assert_eq!(submit.text(), "Flit SMPP load test: your code is 123456.");
    }
    smsc.stop().await;
}

#[tokio::test]
async fn throttled_submits_are_retried_and_refusals_counted_by_status() {
    let smsc = smsc(Duration::ZERO).await;
    smsc.update_config(|config| {
        config.throttle_every = Some(7);
        // Subscriber numbers are consecutive, so about one destination in ten ends with 7.
        config.reject_suffix = Some("7".into());
    });
    let summary = run(&args(&smsc, 2, 10, 200)).await;
    let received = smsc.received();
    let rejected = received
        .iter()
        .filter(|r| r.outcome == SubmitOutcome::Rejected)
        .count() as u64;
    let throttled = received
        .iter()
        .filter(|r| r.outcome == SubmitOutcome::Throttled)
        .count() as u64;
    assert!(rejected > 0 && throttled > 0, "{summary:#?}");
    assert_eq!(summary.throttled, throttled, "{summary:#?}");
    assert_eq!(summary.refused, rejected, "{summary:#?}");
    assert_eq!(summary.refused_by_status["0x0000000B"], rejected);
    assert_eq!(summary.accepted + rejected, 200, "{summary:#?}");
    assert_eq!(summary.submits, 200 + throttled, "{summary:#?}");
    assert_eq!(summary.receipts_matched, summary.accepted, "{summary:#?}");
    assert_eq!(summary.receipts_missing, 0, "{summary:#?}");
    smsc.stop().await;
}

#[tokio::test]
async fn a_refused_bind_fails_the_run_with_its_status() {
    let smsc = smsc(Duration::ZERO).await;
    let mut args = args(&smsc, 1, 1, 1);
    args.password = Some("wrong".into());
    let error = smpp_client::execute(&args)
        .await
        .expect_err("a wrong password cannot bind");
    assert!(format!("{error:#}").contains("0x0000000E"), "{error:#}");
    smsc.stop().await;
}

/// What the fake admin API saw.
#[derive(Default)]
struct AdminCalls {
    account: Option<serde_json::Value>,
    deleted: Vec<String>,
}

/// `--admin-token`: a tenant and an SMPP account are made through the admin API, the binds use
/// the account's credentials (the SMSC is told to want exactly those), and the account is
/// deleted at the end. The admin API is a stand-in answering as `api/src/smpp_accounts.rs`
/// documents; Flit's own is not a dependency of this crate.
#[tokio::test]
async fn an_admin_token_makes_an_account_binds_with_it_and_deletes_it() {
    use std::sync::{Arc, Mutex};

    use axum::extract::{Path, State};
    use axum::routing::{delete, post};
    use axum::{Json, Router};
    use serde_json::{Value, json};

    let smsc = Arc::new(smsc(Duration::ZERO).await);
    smsc.update_config(|config| {
        config.system_id = Some("nobody-yet".into());
    });
    let calls = Arc::new(Mutex::new(AdminCalls::default()));
    type Shared = (Arc<SmscHandle>, Arc<Mutex<AdminCalls>>);
    let app = Router::new()
        .route(
            "/admin/v1/tenants",
            post(|| async { Json(json!({"success": true, "data": {"id": "ten_1"}})) }),
        )
        .route(
            "/admin/v1/tenants/ten_1/keys",
            post(|| async { Json(json!({"success": true, "data": {"key": "fk_1"}})) }),
        )
        .route(
            "/admin/v1/tenants/ten_1/smpp-accounts",
            post(
                |State((smsc, calls)): State<Shared>, Json(body): Json<Value>| async move {
                    let credential = |name: &str| body[name].as_str().map(str::to_owned);
                    let (system_id, password) = (credential("systemId"), credential("password"));
                    smsc.update_config(|config| {
                        config.system_id = system_id;
                        config.password = password;
                    });
                    calls.lock().expect("not poisoned").account = Some(body);
                    Json(json!({"success": true, "data": {"id": "smp_1"}}))
                },
            ),
        )
        .route(
            "/admin/v1/tenants/ten_1/smpp-accounts/{id}",
            delete(
                |State((_, calls)): State<Shared>, Path(id): Path<String>| async move {
                    calls.lock().expect("not poisoned").deleted.push(id.clone());
                    Json(json!({"success": true, "data": {"id": id, "deleted": true}}))
                },
            ),
        )
        .with_state((Arc::clone(&smsc), Arc::clone(&calls)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut args = args(&smsc, 2, 8, 40);
    (args.system_id, args.password) = (None, None);
    args.url = url;
    args.admin_token = Some("admin".into());
    let summary = run(&args).await;
    assert_clean(&summary, 40);

    let calls = calls.lock().expect("not poisoned");
    let account = calls.account.as_ref().expect("an account was made");
    assert_eq!(account["systemId"], summary.system_id.as_str());
    assert_eq!(
        (account["maxBinds"].as_u64(), account["windowSize"].as_u64()),
        (Some(2), Some(8))
    );
    assert_eq!(account["tps"], 0);
    assert_eq!(calls.deleted, vec!["smp_1".to_owned()]);
    assert_eq!(smsc.stats().bind_failures, 0);
}
