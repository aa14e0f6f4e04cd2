//! The tenant actor under fire: killed while sends are in flight, it comes back (a new
//! incarnation, which answers sends) with the balance the durable ledger says, and nothing is
//! charged twice or lost.

use std::time::Duration;

use flit_engine::BackendKind;
use flit_engine::TransactionKind;
use flit_engine::{Content, EngineError, NewTenant, SendRequest};

mod common;
use common::{engine, funded_tenant};

async fn killed_tenant_actor_restarts_with_the_durable_balance(kind: BackendKind) {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = engine(dir.path(), kind).await;
    let tenant = funded_tenant(&engine, 10_000).await;

    let mut sends = Vec::new();
    let mut killed = Vec::new();
    for i in 0..400 {
        let sender = engine.clone();
        sends.push(tokio::spawn(async move {
            let request = SendRequest {
                recipients: vec!["0201234567".into(), "0241234567".into()],
                content: Content::Text(format!("message {i}")),
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
            let actor = engine
                .tenant_actor(tenant)
                .expect("restarted before this kill");
            assert!(!killed.contains(&actor.get_id()), "a new incarnation");
            killed.push(actor.get_id());
            actor.kill();
            // The kill took: the supervisor publishes a new incarnation, under a new id.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while engine
                .tenant_actor(tenant)
                .is_none_or(|now| now.get_id() == actor.get_id())
            {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no restart after 5 s"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    assert_eq!(killed.len(), 4);
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
    assert_eq!(engine.balance(tenant).expect("balance"), sum);
    let running = ledger.last().expect("entries").balance;
    assert_eq!(running, sum, "each entry's running balance is exact");
    // The last incarnation is none of those killed, and it charges from the durable balance.
    let last = engine.tenant_actor(tenant).expect("running");
    assert!(!killed.contains(&last.get_id()));
    let after = engine
        .send(
            tenant,
            SendRequest {
                recipients: vec!["0201234567".into()],
                content: Content::Text("after the kills".into()),
                ..SendRequest::default()
            },
        )
        .await
        .expect("the restarted actor answers");
    assert_eq!(after.credits_used, 1);
    assert_eq!(engine.balance(tenant).expect("balance"), sum - 1);
    assert_eq!(
        engine.tenant_actor(tenant).map(|actor| actor.get_id()),
        Some(last.get_id()),
        "answered by that incarnation, not a further restart"
    );
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
