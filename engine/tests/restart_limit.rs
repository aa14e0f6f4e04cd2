//! The supervisor's restart limit, seen from outside: an actor killed ten times within a minute
//! is restarted each time and the new incarnation does the work; the eleventh kill leaves it
//! stopped, and the engine says so (unhealthy, with a reason naming the actor) and refuses
//! sends instead of taking work nobody will do. Reads keep working.
//!
//! Real time, not paused: the kills take milliseconds, far inside the minute, and the
//! deliveries go through the store's commit thread, which a paused clock would jump past. The
//! minute itself is checked with paused time in `supervisor.rs`.

use std::time::Duration;

use flit_engine::ids::{MessageId, TenantId};
use flit_engine::{BackendKind, Content, Engine, EngineError, RecipientStatus, SendRequest};
use ractor::{ActorCell, ActorId};

mod common;
use common::{engine, funded_tenant};

/// Restarts the supervisor allows within a minute; the next failure is one too many.
const RESTARTS_ALLOWED: usize = 10;

/// Polls `find` until it gives something, for at most five seconds.
async fn eventually<T>(what: &str, mut find: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(found) = find() {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {what} after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn router(engine: &Engine) -> Option<ActorCell> {
    engine
        .dispatch_actors()
        .into_iter()
        .find(|(name, _)| name == "router")
        .map(|(_, cell)| cell)
}

/// Kills the running incarnation and waits for the supervisor to publish the next one.
async fn kill_and_await_restart(
    name: &str,
    current: impl Fn() -> Option<ActorCell>,
) -> (ActorId, ActorCell) {
    let killed = eventually(name, &current).await;
    let killed_id = killed.get_id();
    killed.kill();
    let next = eventually(&format!("new {name}"), || {
        current().filter(|cell| cell.get_id() != killed_id)
    })
    .await;
    (killed_id, next)
}

fn one_recipient(text: &str) -> SendRequest {
    SendRequest {
        recipients: vec!["0201234567".into()],
        content: Content::Text(text.into()),
        ..SendRequest::default()
    }
}

/// Waits until every recipient of `message` is delivered (the sandbox reports it about a
/// second after the router handed it to the bind).
async fn delivered(engine: &Engine, tenant: TenantId, message: MessageId) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, recipients) = engine
            .recipients(tenant, message)
            .expect("read")
            .expect("message exists");
        if recipients
            .iter()
            .all(|recipient| recipient.status == RecipientStatus::Delivered)
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered after 10 s: {recipients:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_killed_eleven_times_in_a_minute_leaves_the_engine_unhealthy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = engine(dir.path(), BackendKind::Redb).await;
    let tenant = funded_tenant(&engine, 100).await;

    let mut incarnations = Vec::new();
    for kill in 1..=RESTARTS_ALLOWED {
        let (killed, next) = kill_and_await_restart("router", || router(&engine)).await;
        assert!(
            !incarnations.contains(&next.get_id()),
            "kill {kill}: a fresh actor"
        );
        incarnations.push(killed);
        assert!(engine.health().is_healthy(), "kill {kill} is within limits");
        assert_eq!(engine.health().reason(), None);
    }
    // The tenth restart really routes: a send made now reaches the sandbox carrier, which only
    // a live router can hand it to.
    let routed = engine
        .send(tenant, one_recipient("after ten restarts"))
        .await
        .expect("accepted while healthy");
    delivered(&engine, tenant, routed.message_id).await;

    // The eleventh kill within the minute is one too many.
    let last = router(&engine).expect("the tenth restart is running");
    last.kill();
    let reason = eventually("unhealthy engine", || engine.health().reason()).await;
    assert!(!engine.health().is_healthy());
    assert_eq!(
        reason, "the router actor failed 11 times in a minute",
        "the reason names the actor"
    );
    assert!(router(&engine).is_none(), "the router stays stopped");

    // Sends are refused, up front and uncharged; reads still answer.
    let balance = engine.balance(tenant).expect("balance");
    match engine.send(tenant, one_recipient("refused")).await {
        Err(EngineError::Unhealthy { reason }) => assert!(reason.contains("router"), "{reason}"),
        other => panic!("expected Unhealthy, got {other:?}"),
    }
    assert_eq!(engine.balance(tenant).expect("balance"), balance);
    assert!(
        engine
            .message(tenant, routed.message_id)
            .expect("read")
            .is_some()
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_actor_killed_eleven_times_refuses_every_tenants_sends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = engine(dir.path(), BackendKind::Redb).await;
    let tenant = funded_tenant(&engine, 100).await;
    let bystander = funded_tenant(&engine, 100).await;

    for kill in 1..=RESTARTS_ALLOWED {
        kill_and_await_restart("tenant actor", || engine.tenant_actor(tenant)).await;
        // The new incarnation charges: only a live tenant actor answers a send.
        let outcome = engine
            .send(tenant, one_recipient(&format!("after restart {kill}")))
            .await
            .expect("the restarted actor answers");
        assert_eq!(outcome.credits_used, 1);
        assert!(engine.health().is_healthy(), "kill {kill} is within limits");
    }
    assert_eq!(
        engine.balance(tenant).expect("balance"),
        100 - RESTARTS_ALLOWED as i64
    );

    engine
        .tenant_actor(tenant)
        .expect("the tenth restart is running")
        .kill();
    let reason = eventually("unhealthy engine", || engine.health().reason()).await;
    assert_eq!(
        reason,
        format!("the tenant {tenant} actor failed 11 times in a minute")
    );
    assert!(engine.tenant_actor(tenant).is_none(), "it stays stopped");
    // The engine as a whole is out of service (its /health says 503, so traffic moves to a
    // healthy instance): the bystander's sends are refused too, and its reads still answer.
    for who in [tenant, bystander] {
        assert!(matches!(
            engine.send(who, one_recipient("refused")).await,
            Err(EngineError::Unhealthy { .. })
        ));
    }
    assert_eq!(engine.balance(bystander).expect("balance"), 100);
    engine.shutdown().await;
}
