//! The tenant actor under fire: killed while sends are in flight, it comes back with the
//! balance the durable ledger says, and nothing is charged twice or lost.

use std::time::Duration;

use flit_engine::BackendKind;
use flit_engine::TransactionKind;
use flit_engine::{EngineError, NewTenant, SendRequest};

mod common;
use common::{engine, funded_tenant};

async fn killed_tenant_actor_restarts_with_the_durable_balance(kind: BackendKind) {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = engine(dir.path(), kind).await;
    let tenant = funded_tenant(&engine, 10_000).await;

    let mut sends = Vec::new();
    for i in 0..400 {
        let sender = engine.clone();
        sends.push(tokio::spawn(async move {
            let request = SendRequest {
                recipients: vec!["0201234567".into(), "0241234567".into()],
                text: format!("message {i}"),
                ..SendRequest::default()
            };
            // Retry while the actor is being restarted, as a client would on 503.
            loop {
                match sender.send(tenant, request.clone()).await {
                    Ok(outcome) => return outcome.credits_used,
                    Err(EngineError::Unavailable(_)) => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err(other) => panic!("unexpected error: {other}"),
                }
            }
        }));
        if i % 100 == 50 {
            // The previous kill's restart may still be under way: kill the next incarnation.
            let actor = loop {
                match engine.tenant_actor(tenant) {
                    Some(actor) => break actor,
                    None => tokio::time::sleep(Duration::from_millis(1)).await,
                }
            };
            actor.kill();
        }
    }
    let mut charged = 0;
    for send in sends {
        charged += send.await.expect("send task");
    }
    assert_eq!(charged, 800);
    // Every acknowledged charge is in the ledger once; the balance is the ledger's sum.
    let ledger = engine.ledger(tenant).expect("ledger");
    let sum: i64 = ledger.iter().map(|t| t.amount).sum();
    let usage = ledger
        .iter()
        .filter(|t| t.kind == TransactionKind::Usage)
        .count();
    assert_eq!(usage, 400);
    assert_eq!(sum, 10_000 - 800);
    // The restarted actor may be a moment away; wait for it and check its balance.
    for _ in 0..100 {
        if engine.tenant_actor(tenant).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(engine.balance(tenant).expect("balance"), sum);
    let running = ledger.last().expect("entries").balance;
    assert_eq!(running, sum, "each entry's running balance is exact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_tenant_actor_restarts_with_the_durable_balance_on_sled() {
    killed_tenant_actor_restarts_with_the_durable_balance(BackendKind::Sled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_tenant_actor_restarts_with_the_durable_balance_on_redb() {
    killed_tenant_actor_restarts_with_the_durable_balance(BackendKind::Redb).await;
}

#[tokio::test]
async fn balances_and_tenants_survive_reopening_the_engine() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tenant = {
        let engine = engine(dir.path(), BackendKind::Sled).await;
        let tenant = engine
            .create_tenant(NewTenant {
                name: "t".into(),
                ..NewTenant::default()
            })
            .await
            .expect("tenant");
        engine
            .add_credits(tenant.id, TransactionKind::Bonus, 42, "hello".into(), None)
            .await
            .expect("credits");
        engine.shutdown().await;
        tenant
    };
    let engine = engine(dir.path(), BackendKind::Sled).await;
    assert_eq!(
        engine.tenant(tenant.id).map(|t| t.name),
        Some("t".to_string())
    );
    assert_eq!(engine.balance(tenant.id).expect("balance"), 42);
}
