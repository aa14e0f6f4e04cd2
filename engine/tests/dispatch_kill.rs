//! Dispatch actors killed under load: the router, the status writer and a bind actor are each
//! killed while messages flow to a real SMPP peer; the supervisor restarts them, and every
//! recipient still ends DELIVERED, charged once, sent twice at most within the killed
//! bind's window.

use std::collections::HashMap;
use std::time::Duration;

use flit_engine::BackendKind;
use flit_engine::NewBind;
use flit_engine::ids::{MessageId, TenantId};
use flit_engine::{Content, Engine, SendRequest};
use flit_engine::{RecipientStatus, TransactionKind};
use flit_loadtest::smsc::{self, SmscConfig};

mod common;
use common::{engine, funded_tenant};

const WINDOW: u32 = 10;

async fn all_final(engine: &Engine, tenant: TenantId, messages: &[MessageId]) -> bool {
    for message in messages {
        let (_, recipients) = engine
            .recipients(tenant, *message)
            .expect("read")
            .expect("message exists");
        if recipients
            .iter()
            .any(|r| matches!(r.status, RecipientStatus::Pending | RecipientStatus::Sent))
        {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_dispatch_actors_lose_nothing() {
    let smsc = smsc::start(SmscConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        system_id: Some("flit".into()),
        password: Some("pw".into()),
        receipt_delay: Duration::from_millis(50),
        latency: Duration::from_millis(2),
        ..SmscConfig::default()
    })
    .await
    .expect("smsc");
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = engine(dir.path(), BackendKind::Sled).await;
    let tenant = funded_tenant(&engine, 10_000).await;
    engine
        .create_bind(NewBind {
            name: "peer".into(),
            host: "127.0.0.1".into(),
            port: smsc.addr.port(),
            system_id: "flit".into(),
            password: "pw".into(),
            window_size: Some(WINDOW),
            ..NewBind::default()
        })
        .await
        .expect("bind");

    let mut messages = Vec::new();
    let mut expected: HashMap<String, usize> = HashMap::new();
    let mut kills = 0;
    for round in 0..12 {
        let numbers: Vec<String> = (0..25).map(|i| format!("0201{round:02}{i:04}")).collect();
        for number in &numbers {
            *expected.entry(format!("2332{}", &number[2..])).or_default() += 1;
        }
        let outcome = engine
            .send(
                tenant,
                SendRequest {
                    recipients: numbers,
                    content: Content::Text(format!("round {round}")),
                    ..SendRequest::default()
                },
            )
            .await
            .expect("accepted");
        messages.push(outcome.message_id);
        // Kill one dispatch actor per round, in turn: router, status writer, bind.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let actors = engine.dispatch_actors();
        let victim = ["router", "status", "bind peer"][round % 3];
        if let Some((_, cell)) = actors.iter().find(|(name, _)| name == victim) {
            cell.kill();
            kills += 1;
        }
    }
    assert_eq!(
        kills, 12,
        "every kind of dispatch actor was running to be killed"
    );

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !all_final(&engine, tenant, &messages).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "recipients still open after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for message in &messages {
        let (record, recipients) = engine
            .recipients(tenant, *message)
            .expect("read")
            .expect("exists");
        assert!(
            recipients
                .iter()
                .all(|r| r.status == RecipientStatus::Delivered),
            "{record:?}"
        );
        assert_eq!(record.counts.delivered, 25);
    }
    // Every number reached the carrier; repeats are bounded by the killed bind's windows.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for submit in smsc.received() {
        *seen.entry(submit.destination.clone()).or_default() += 1;
    }
    for number in expected.keys() {
        assert!(
            seen.get(number).copied().unwrap_or(0) >= 1,
            "{number} never sent"
        );
    }
    let duplicates: usize = seen.values().map(|n| n.saturating_sub(1)).sum();
    assert!(duplicates <= 4 * WINDOW as usize, "{duplicates} duplicates");
    // Charged once: 12 × 25 single-part recipients, and no refund (all were accepted).
    let ledger = engine.ledger(tenant).expect("ledger");
    let usage: i64 = ledger
        .iter()
        .filter(|t| t.kind == TransactionKind::Usage)
        .map(|t| t.amount)
        .sum();
    assert_eq!(usage, -300);
    assert!(ledger.iter().all(|t| t.kind != TransactionKind::Refund));
    assert_eq!(
        engine.balance(tenant).expect("balance"),
        ledger.iter().map(|t| t.amount).sum::<i64>()
    );
}
