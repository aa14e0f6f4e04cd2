//! Carrier faults against `flit-loadtest smsc` over real SMPP on loopback: a connection reset
//! mid-window, a silent SMSC, a storm of 0x58, `generic_nack` answers, malformed PDUs, receipts
//! for ids never handed out, receipts ahead of their `submit_sm_resp`, a bind refused for its
//! password and an SMSC restart. Each test sends more than a window's worth and ends with every
//! recipient final (none lost), duplicates at the SMSC within the window, the ledger balanced,
//! the bind's admin view saying what happened and the matching `/metrics` series moved.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use flit_loadtest::smsc::{SmscHandle, SubmitOutcome, ThrottleStorm};
use metrics_exporter_prometheus::PrometheusHandle;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::carrier::{WINDOW, add_bind, bind_state, send, smsc_with, wait_bound, wait_state};
use crate::common::{Api, TestServer};

/// One recorder for the whole test process (a recorder is global); every server of this
/// module renders it on `/metrics`, so series carry a bind name unique to their test.
pub(crate) fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            flit_api::telemetry::prometheus_builder()
                .expect("exporter configuration")
                .install_recorder()
                .expect("the only recorder of this process")
        })
        .clone()
}

async fn server() -> TestServer {
    TestServer::start_with_metrics(recorder()).await
}

/// `count` distinct Ghana mobile numbers, `tag` (10..=99) keeping tests apart.
fn numbers(tag: u32, count: u32) -> Vec<String> {
    (0..count).map(|i| format!("020{tag}{i:05}")).collect()
}

/// A sample of the `/metrics` text: the value of `name` whose labels include every `labels`
/// pair (0 when the series does not exist yet).
pub(crate) async fn metric(server: &TestServer, name: &str, labels: &[(&str, &str)]) -> f64 {
    let response = server
        .client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .expect("metrics answered");
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("metrics text");
    let wanted: Vec<String> = labels
        .iter()
        .map(|(key, value)| format!("{key}=\"{value}\""))
        .collect();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric_name, rest) = series.split_once('{').unwrap_or((series, "}"));
            let label_text = rest.strip_suffix('}')?;
            let present: Vec<&str> = label_text.split(',').collect();
            (metric_name == name && wanted.iter().all(|w| present.contains(&w.as_str())))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// Submits the SMSC accepted more than once (same destination and part): the duplicates.
fn duplicates(smsc: &SmscHandle) -> u64 {
    let mut seen: HashMap<(String, u8), u64> = HashMap::new();
    for sms in smsc.received() {
        if matches!(
            sms.outcome,
            SubmitOutcome::Accepted | SubmitOutcome::Malformed
        ) {
            let part = sms.concat.map_or(1, |concat| concat.part);
            *seen.entry((sms.destination.clone(), part)).or_default() += 1;
        }
    }
    seen.values().map(|n| n - 1).sum()
}

/// Waits for message `id` to settle and checks that no recipient is lost: `count` recipients,
/// each DELIVERED. Also checks that nothing was refunded and the ledger balances.
async fn all_delivered(server: &TestServer, id: &str, count: u64, within: Duration) -> Value {
    let report = server.settled(id, within).await;
    assert_eq!(report["stats"]["delivered"], count, "{report}");
    assert_eq!(report["status"], "DELIVERED", "{report}");
    let refunds = server.get("/api/v1/transactions?type=REFUND").await;
    assert_eq!(
        refunds.body["data"]["pagination"]["total"], 0,
        "nothing refunded"
    );
    let charged = i64::try_from(count).expect("count");
    assert_eq!(server.balance().await, 1000 - charged);
    server.assert_ledger_balanced().await;
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_reset_mid_window_loses_nothing_and_is_reported() {
    // Responses wait 300 ms, so the window is full when the SMSC drops the connection after
    // its 25th submit: the window's other submits were taken and never answered.
    let smsc = smsc_with(|config| {
        config.latency = Duration::from_millis(300);
        config.disconnect_every = Some(25);
    })
    .await;
    let server = server().await;
    let bind = add_bind(&server, "fault-reset", smsc.addr.port(), json!({})).await;
    wait_bound(&server, &bind).await;
    let id = send(&server, &numbers(10, 40), "reset mid-window").await;
    all_delivered(&server, &id, 40, Duration::from_secs(60)).await;

    let stats = smsc.stats();
    assert!(stats.disconnects >= 1, "{stats:?}");
    let dups = duplicates(&smsc);
    assert!(
        dups <= WINDOW * stats.disconnects,
        "{dups} duplicates after {} resets",
        stats.disconnects
    );
    let state = wait_state(&server, &bind, Duration::from_secs(10), |state| {
        state["bound"] == true
    })
    .await;
    assert!(state["disconnects"].as_u64() >= Some(1), "{state}");
    assert!(state["reconnects"].as_u64() >= Some(1), "{state}");
    assert_eq!(state["inFlight"], 0, "{state}");
    let last = &state["lastError"];
    assert_eq!(last["kind"], "disconnected", "{state}");
    assert!(
        last["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("connection lost: ")),
        "{state}"
    );
    let resets = metric(
        &server,
        "flit_bind_errors_total",
        &[("bind", "fault-reset"), ("error", "disconnected")],
    )
    .await;
    assert!(
        resets >= 1.0,
        "flit_bind_errors_total{{error=disconnected}} = {resets}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_smsc_times_out_then_everything_goes_once_it_answers() {
    let smsc = smsc_with(|config| config.silent = true).await;
    let server = server().await;
    let bind = add_bind(
        &server,
        "fault-silent",
        smsc.addr.port(),
        json!({"windowSize": 4}),
    )
    .await;
    wait_bound(&server, &bind).await;
    let recipients = numbers(11, 8);
    let id = send(&server, &recipients, "anyone there?").await;
    // The window (4) goes out and is never answered: each submit times out (10 s).
    let state = wait_state(&server, &bind, Duration::from_secs(30), |state| {
        state["responseTimeouts"].as_u64() >= Some(4)
    })
    .await;
    assert_eq!(state["lastError"]["kind"], "response_timeout", "{state}");
    assert!(
        state["lastError"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("submit_sm_resp")),
        "{state}"
    );
    assert_eq!(
        state["bound"], true,
        "a silent SMSC still holds the bind: {state}"
    );
    let pending = server.get(&format!("/api/v1/sms/status/{id}")).await;
    assert_eq!(
        pending.body["data"]["status"], "PENDING",
        "{}",
        pending.body
    );
    smsc.update_config(|config| config.silent = false);

    all_delivered(&server, &id, 8, Duration::from_secs(90)).await;
    let stats = smsc.stats();
    assert!(stats.ignored >= 4, "{stats:?}");
    assert_eq!(
        stats.accepted, 8,
        "ignored submits were never taken: {stats:?}"
    );
    assert_eq!(duplicates(&smsc), 0);
    let timeouts = metric(
        &server,
        "flit_bind_errors_total",
        &[("bind", "fault-silent"), ("error", "response_timeout")],
    )
    .await;
    assert!(timeouts >= 4.0, "response_timeout errors = {timeouts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_throttles_pauses_once_per_window_not_once_per_answer() {
    // 25 throttled answers in a row after the first 5 submits.
    let smsc = smsc_with(|config| {
        config.throttle_storm = Some(ThrottleStorm {
            after: 5,
            count: 25,
        });
    })
    .await;
    let server = server().await;
    let bind = add_bind(&server, "fault-storm", smsc.addr.port(), json!({})).await;
    wait_bound(&server, &bind).await;
    let throttled_before = metric(&server, "flit_bind_throttled_total", &[]).await;
    let id = send(&server, &numbers(12, 40), "storm").await;
    let paused = wait_state(&server, &bind, Duration::from_secs(20), |state| {
        state["throttled"] == true
    })
    .await;
    assert!(paused["pausedUntil"].is_string(), "{paused}");
    assert!(paused["lastPauseMs"].as_u64() >= Some(1000), "{paused}");

    all_delivered(&server, &id, 40, Duration::from_secs(90)).await;
    let stats = smsc.stats();
    assert_eq!(stats.throttled, 25, "{stats:?}");
    let state = bind_state(&server, &bind).await;
    assert_eq!(state["throttledSubmits"], 25, "{state}");
    let pauses = state["throttlePauses"].as_u64().expect("throttlePauses");
    // Each window of 10 runs into the storm once: one pause each, not one per answer.
    assert!(
        (1..=5).contains(&pauses),
        "{pauses} pauses for 25 throttled answers: {state}"
    );
    assert_eq!(state["throttled"], false, "{state}");
    assert_eq!(duplicates(&smsc), 0, "a throttled submit was not taken");
    let throttled_after = metric(&server, "flit_bind_throttled_total", &[]).await;
    assert!(
        throttled_after - throttled_before >= pauses as f64,
        "flit_bind_throttled_total moved by {}",
        throttled_after - throttled_before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_nack_answers_are_sent_again_not_failed() {
    let smsc = smsc_with(|config| {
        config.generic_nack_every = Some(4);
        config.generic_nack_status = 0x03;
    })
    .await;
    let server = server().await;
    let bind = add_bind(&server, "fault-nack", smsc.addr.port(), json!({})).await;
    wait_bound(&server, &bind).await;
    let id = send(&server, &numbers(13, 30), "nacked").await;
    all_delivered(&server, &id, 30, Duration::from_secs(60)).await;

    let stats = smsc.stats();
    assert!(stats.nacked_submits >= 7, "{stats:?}");
    assert_eq!(duplicates(&smsc), 0, "a nacked submit was not taken");
    let state = bind_state(&server, &bind).await;
    assert_eq!(state["genericNacks"], stats.nacked_submits, "{state}");
    assert_eq!(state["disconnects"], 0, "{state}");
    let last = &state["lastError"];
    assert_eq!(last["kind"], "generic_nack", "{state}");
    assert_eq!(last["code"], "0x00000003", "{state}");
    assert_eq!(
        last["message"],
        "generic_nack to submit_sm: invalid command id (0x00000003)"
    );
    let nacks = metric(
        &server,
        "flit_bind_errors_total",
        &[("bind", "fault-nack"), ("error", "generic_nack")],
    )
    .await;
    assert_eq!(nacks, stats.nacked_submits as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_pdus_are_skipped_without_dropping_the_bind() {
    let smsc = smsc_with(|config| config.malformed_every = Some(5)).await;
    let server = server().await;
    let bind = add_bind(&server, "fault-malformed", smsc.addr.port(), json!({})).await;
    wait_bound(&server, &bind).await;
    let id = send(&server, &numbers(14, 30), "malformed").await;
    all_delivered(&server, &id, 30, Duration::from_secs(60)).await;

    let stats = smsc.stats();
    assert!(stats.malformed_sent >= 6, "{stats:?}");
    assert_eq!(
        stats.connections, 1,
        "the bind survived every bad PDU: {stats:?}"
    );
    // The SMSC took each submit it answered badly; Flit could not read the answer and sent it
    // again: exactly one duplicate per bad answer.
    assert_eq!(duplicates(&smsc), stats.malformed_sent);
    let state = bind_state(&server, &bind).await;
    assert_eq!(state["malformedPdus"], stats.malformed_sent, "{state}");
    assert_eq!(state["disconnects"], 0, "{state}");
    assert_eq!(state["reconnects"], 0, "{state}");
    assert_eq!(state["bound"], true, "{state}");
    assert_eq!(state["lastError"]["kind"], "malformed_pdu", "{state}");
    let malformed = metric(
        &server,
        "flit_bind_errors_total",
        &[("bind", "fault-malformed"), ("error", "malformed_pdu")],
    )
    .await;
    assert_eq!(malformed, stats.malformed_sent as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_for_unknown_ids_are_acknowledged_and_change_nothing() {
    let smsc = smsc_with(|config| config.stray_receipts_every = Some(3)).await;
    let server = server().await;
    let bind = add_bind(&server, "fault-stray", smsc.addr.port(), json!({})).await;
    wait_bound(&server, &bind).await;
    let held_before = metric(&server, "flit_receipts_total", &[("result", "held")]).await;
    let id = send(&server, &numbers(15, 30), "stray receipts").await;
    all_delivered(&server, &id, 30, Duration::from_secs(60)).await;

    let stats = smsc
        .wait_for_stats(Duration::from_secs(10), |stats| {
            stats.receipts_acked == stats.receipts_sent
        })
        .await
        .expect("every receipt acknowledged");
    assert_eq!(stats.stray_receipts, 10, "{stats:?}");
    assert_eq!(stats.receipts_sent, 30 + 10, "{stats:?}");
    assert_eq!(stats.deliver_errors, 0, "{stats:?}");
    assert_eq!(duplicates(&smsc), 0);
    let state = bind_state(&server, &bind).await;
    assert_eq!(state["receipts"], 40, "{state}");
    assert_eq!(state["accepted"], 30, "{state}");
    assert_eq!(state["errors"], 0, "{state}");
    let held = metric(&server, "flit_receipts_total", &[("result", "held")]).await - held_before;
    assert!(held >= 10.0, "receipts held for an unknown id: {held}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_ahead_of_their_responses_over_several_windows_all_match() {
    let smsc = smsc_with(|config| {
        config.latency = Duration::from_millis(200);
        config.receipts_before_response = true;
        config.fail_suffix = Some("7".into());
    })
    .await;
    let server = server().await;
    let bind = add_bind(&server, "fault-early", smsc.addr.port(), json!({})).await;
    wait_bound(&server, &bind).await;
    let held_before = metric(&server, "flit_receipts_total", &[("result", "held")]).await;
    let recipients = numbers(16, 30);
    let id = send(&server, &recipients, &"early ".repeat(40)).await;
    let report = server.settled(&id, Duration::from_secs(60)).await;

    // Numbers ending in 7 get UNDELIV receipts: FAILED, but a carrier took every part, so
    // nothing is refunded; the rest are DELIVERED.
    let failing = recipients.iter().filter(|n| n.ends_with('7')).count() as u64;
    assert_eq!(report["stats"]["failed"], failing, "{report}");
    assert_eq!(report["stats"]["delivered"], 30 - failing, "{report}");
    for recipient in report["recipients"].as_array().expect("recipients") {
        if recipient["status"] == "FAILED" {
            assert!(
                recipient["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("Undeliverable")),
                "{recipient}"
            );
        }
    }
    let refunds = server.get("/api/v1/transactions?type=REFUND").await;
    assert_eq!(refunds.body["data"]["pagination"]["total"], 0);
    assert_eq!(server.balance().await, 1000 - 30 * 2);
    server.assert_ledger_balanced().await;
    let stats = smsc.stats();
    assert_eq!(stats.accepted, 60, "{stats:?}");
    assert_eq!(duplicates(&smsc), 0);
    let state = bind_state(&server, &bind).await;
    assert_eq!(state["receipts"], 60, "{state}");
    assert_eq!(state["errors"], 0, "{state}");
    let held = metric(&server, "flit_receipts_total", &[("result", "held")]).await - held_before;
    assert!(held >= 1.0, "receipts held for their response: {held}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bind_refused_for_its_password_says_so_and_work_waits() {
    let smsc = smsc_with(|_| {}).await;
    let server = server().await;
    let bind = add_bind(
        &server,
        "fault-password",
        smsc.addr.port(),
        json!({"password": "wrong"}),
    )
    .await;
    let id = send(&server, &numbers(17, 12), "after the fix").await;
    let state = wait_state(&server, &bind, Duration::from_secs(10), |state| {
        state["bindRefusals"].as_u64() >= Some(1)
    })
    .await;
    assert_eq!(state["bound"], false, "{state}");
    assert_eq!(state["binds"], 0, "{state}");
    let last = &state["lastError"];
    assert_eq!(last["kind"], "bind_refused", "{state}");
    assert_eq!(
        last["message"], "bind refused: invalid password (0x0000000E)",
        "{state}"
    );
    assert_eq!(last["code"], "0x0000000E", "{state}");
    let refused = metric(
        &server,
        "flit_bind_errors_total",
        &[("bind", "fault-password"), ("error", "bind_refused")],
    )
    .await;
    assert!(refused >= 1.0, "bind_refused errors = {refused}");
    let waiting = server.get(&format!("/api/v1/sms/status/{id}")).await;
    assert_eq!(
        waiting.body["data"]["status"], "PENDING",
        "{}",
        waiting.body
    );
    assert_eq!(smsc.stats().submits, 0);

    // The carrier sets the account's password to the one Flit sends.
    smsc.update_config(|config| config.password = Some("wrong".into()));
    wait_bound(&server, &bind).await;
    all_delivered(&server, &id, 12, Duration::from_secs(30)).await;
    let stats = smsc.stats();
    assert!(stats.bind_failures >= 1, "{stats:?}");
    assert_eq!(stats.accepted, 12, "{stats:?}");
    let state = bind_state(&server, &bind).await;
    assert_eq!(state["binds"], 1, "{state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smsc_restart_loses_nothing_and_the_bind_comes_back() {
    let smsc = smsc_with(|config| {
        config.latency = Duration::from_millis(200);
        config.restart_downtime = Duration::from_millis(700);
    })
    .await;
    let server = server().await;
    let bind = add_bind(&server, "fault-restart", smsc.addr.port(), json!({})).await;
    wait_bound(&server, &bind).await;
    let id = send(&server, &numbers(18, 40), "restart").await;
    smsc.wait_for_stats(Duration::from_secs(10), |stats| stats.submits >= 12)
        .await
        .expect("traffic flows");
    smsc.restart().await.expect("restarted on the same port");
    all_delivered(&server, &id, 40, Duration::from_secs(60)).await;

    let stats = smsc.stats();
    assert_eq!(stats.restarts, 1, "{stats:?}");
    assert!(stats.connections >= 2, "{stats:?}");
    let dups = duplicates(&smsc);
    assert!(dups <= WINDOW, "{dups} duplicates after one restart");
    let state = wait_state(&server, &bind, Duration::from_secs(10), |state| {
        state["bound"] == true
    })
    .await;
    assert!(state["disconnects"].as_u64() >= Some(1), "{state}");
    assert!(state["reconnects"].as_u64() >= Some(1), "{state}");
    let kind = state["lastError"]["kind"].as_str().unwrap_or_default();
    assert!(
        kind == "disconnected" || kind == "connect_failed",
        "{state}"
    );
    let lost = metric(
        &server,
        "flit_bind_errors_total",
        &[("bind", "fault-restart"), ("error", "disconnected")],
    )
    .await;
    assert!(lost >= 1.0, "disconnected errors = {lost}");
}
