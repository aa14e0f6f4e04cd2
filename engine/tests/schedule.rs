//! Scheduled sends, seen from outside the engine: a scheduled message waits on disk (no jobs
//! in memory) until its time, goes out then and not before, in due order, once even across a
//! restart, and expires if its validity passed while Flit was down.
//!
//! Time is tokio's, paused and moved by the tests (`HeldTime`), shared with the engine through
//! `Clock::tokio()` and kept across a reopen.

use std::time::Duration;

use flit_engine::ids::{MessageId, TenantId};
use flit_engine::{
    BackendKind, Clock, Content, Engine, EngineConfig, MessageStatus, NewBind, RecipientRecord,
    RecipientStatus, SendRequest, TransactionKind,
};

mod common;
use common::{HeldTime, engine_with, funded_tenant};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

fn config(clock: Clock) -> EngineConfig {
    EngineConfig {
        clock,
        ..EngineConfig::default()
    }
}

/// `count` distinct Ghanaian numbers, from `first` on.
fn numbers(first: u32, count: u32) -> Vec<String> {
    (first..first + count)
        .map(|n| format!("020{n:07}"))
        .collect()
}

fn millis(span: Duration) -> i64 {
    i64::try_from(span.as_millis()).expect("a span in range")
}

/// Sends `text` to `count` numbers, due `after` from now on `clock` (now when `None`).
async fn send(
    engine: &Engine,
    tenant: TenantId,
    clock: Clock,
    count: u32,
    after: Option<Duration>,
) -> MessageId {
    send_with(engine, tenant, clock, numbers(1, count), after, None).await
}

async fn send_with(
    engine: &Engine,
    tenant: TenantId,
    clock: Clock,
    recipients: Vec<String>,
    after: Option<Duration>,
    validity: Option<Duration>,
) -> MessageId {
    engine
        .send(
            tenant,
            SendRequest {
                recipients,
                content: Content::Text("see you later".into()),
                schedule_at: after.map(|after| clock.now_millis() + millis(after)),
                validity,
                ..SendRequest::default()
            },
        )
        .await
        .expect("accepted")
        .message_id
}

fn recipients(engine: &Engine, tenant: TenantId, message: MessageId) -> Vec<RecipientRecord> {
    engine
        .recipients(tenant, message)
        .expect("read")
        .expect("the message exists")
        .1
}

/// No recipient waits for anything any more.
fn settled(engine: &Engine, tenant: TenantId, message: MessageId) -> bool {
    recipients(engine, tenant, message)
        .iter()
        .all(|r| !matches!(r.status, RecipientStatus::Pending | RecipientStatus::Sent))
}

/// Something of the message went to a carrier.
fn dispatched(engine: &Engine, tenant: TenantId, message: MessageId) -> bool {
    recipients(engine, tenant, message)
        .iter()
        .any(|r| r.status != RecipientStatus::Pending)
}

/// Submits the sandbox carrier took in this run.
fn sandbox_submitted(engine: &Engine) -> u64 {
    engine
        .binds()
        .iter()
        .find(|bind| bind.name == "sandbox")
        .map_or(0, |bind| bind.submitted)
}

fn assert_balanced(engine: &Engine, tenant: TenantId) {
    let ledger = engine.ledger(tenant).expect("ledger");
    assert_eq!(
        engine.balance(tenant).expect("balance"),
        ledger.iter().map(|t| t.amount).sum::<i64>(),
        "balance == sum of the ledger: {ledger:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_message_scheduled_an_hour_ahead_goes_out_at_its_hour_and_not_before() {
    let time = HeldTime::hold();
    let clock = Clock::tokio();
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = engine_with(dir.path(), BackendKind::Redb, config(clock)).await;
    let tenant = funded_tenant(&engine, 100).await;
    let message = send(&engine, tenant, clock, 3, Some(HOUR)).await;
    assert_eq!(
        engine.balance(tenant).expect("balance"),
        97,
        "charged at once"
    );

    time.pass(59 * MINUTE).await;
    assert!(!dispatched(&engine, tenant, message), "not at 59 min");
    assert_eq!(sandbox_submitted(&engine), 0);
    let record = engine
        .message(tenant, message)
        .expect("read")
        .expect("exists");
    assert_eq!(record.counts.status(), MessageStatus::Pending);
    assert_eq!(record.counts.pending, 3);

    time.pass(MINUTE).await;
    time.until(MINUTE, "delivered after its hour", || {
        settled(&engine, tenant, message)
    })
    .await;
    assert!(
        recipients(&engine, tenant, message)
            .iter()
            .all(|r| r.status == RecipientStatus::Delivered)
    );
    assert_eq!(sandbox_submitted(&engine), 3);
    assert_eq!(engine.backlog(), 0);
    assert_balanced(&engine, tenant);
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn messages_go_out_in_due_order() {
    let time = HeldTime::hold();
    let clock = Clock::tokio();
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = engine_with(dir.path(), BackendKind::Sled, config(clock)).await;
    let tenant = funded_tenant(&engine, 100).await;
    // Accepted out of order: due in 30, 10 and 20 minutes.
    let thirty = send(&engine, tenant, clock, 1, Some(30 * MINUTE)).await;
    let ten = send(&engine, tenant, clock, 1, Some(10 * MINUTE)).await;
    let twenty = send(&engine, tenant, clock, 1, Some(20 * MINUTE)).await;

    let mut due = vec![ten, twenty, thirty];
    while !due.is_empty() {
        let next = due.remove(0);
        time.pass(10 * MINUTE).await;
        time.until(MINUTE, "the next message due", || {
            dispatched(&engine, tenant, next)
        })
        .await;
        for later in &due {
            assert!(!dispatched(&engine, tenant, *later), "only the one due");
        }
    }
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_message_due_while_flit_was_down_goes_out_at_start_exactly_once() {
    let time = HeldTime::hold();
    let clock = Clock::tokio();
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = engine_with(dir.path(), BackendKind::Redb, config(clock)).await;
    let tenant = funded_tenant(&engine, 100).await;
    let message = send(&engine, tenant, clock, 4, Some(HOUR)).await;
    time.pass(MINUTE).await;
    engine.shutdown().await;
    drop(engine);

    // Flit is down when the message falls due.
    tokio::time::advance(2 * HOUR).await;

    let engine = engine_with(dir.path(), BackendKind::Redb, config(clock)).await;
    assert!(
        engine.health().is_healthy(),
        "{:?}",
        engine.health().reason()
    );
    time.until(MINUTE, "delivered after the restart", || {
        settled(&engine, tenant, message)
    })
    .await;
    let recipients = recipients(&engine, tenant, message);
    assert!(
        recipients
            .iter()
            .all(|r| r.status == RecipientStatus::Delivered && r.attempts == 1),
        "{recipients:#?}"
    );
    // Still once, a while later: nothing else was left to release.
    time.pass(10 * MINUTE).await;
    assert_eq!(sandbox_submitted(&engine), 4, "each recipient sent once");
    assert_eq!(engine.balance(tenant).expect("balance"), 96);
    assert_balanced(&engine, tenant);
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_message_whose_validity_ended_while_flit_was_down_expires_and_is_refunded() {
    let time = HeldTime::hold();
    let clock = Clock::tokio();
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = engine_with(dir.path(), BackendKind::Sled, config(clock)).await;
    let tenant = funded_tenant(&engine, 100).await;
    // Due in an hour, and good for ten minutes from then.
    let message = send_with(
        &engine,
        tenant,
        clock,
        numbers(1, 2),
        Some(HOUR),
        Some(10 * MINUTE),
    )
    .await;
    assert_eq!(engine.balance(tenant).expect("balance"), 98);
    engine.shutdown().await;
    drop(engine);

    tokio::time::advance(2 * HOUR).await;

    let engine = engine_with(dir.path(), BackendKind::Sled, config(clock)).await;
    time.until(MINUTE, "expired after the restart", || {
        settled(&engine, tenant, message)
    })
    .await;
    for recipient in recipients(&engine, tenant, message) {
        assert_eq!(recipient.status, RecipientStatus::Failed);
        assert_eq!(recipient.error.as_deref(), Some("validity period expired"));
    }
    assert_eq!(sandbox_submitted(&engine), 0, "nothing went out late");
    let refunds = || -> Vec<_> {
        engine
            .ledger(tenant)
            .expect("ledger")
            .into_iter()
            .filter(|t| t.kind == TransactionKind::Refund)
            .collect()
    };
    time.until(MINUTE, "the refund on the ledger", || !refunds().is_empty())
        .await;
    let refunds = refunds();
    assert_eq!(refunds.len(), 1, "{refunds:#?}");
    assert_eq!(engine.balance(tenant).expect("balance"), 100);
    assert_eq!(refunds[0].amount, 2);
    assert_balanced(&engine, tenant);
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn scheduled_messages_hold_no_jobs_in_memory_until_due() {
    let time = HeldTime::hold();
    let clock = Clock::tokio();
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = engine_with(dir.path(), BackendKind::Sled, config(clock)).await;
    let tenant = funded_tenant(&engine, 10_000).await;
    for n in 0..4 {
        let numbers = numbers(n * 1000, 1000);
        send_with(&engine, tenant, clock, numbers, Some(HOUR), None).await;
    }
    time.pass(MINUTE).await;
    assert_eq!(engine.backlog(), 4000, "counted in the backlog");
    assert_eq!(engine.jobs_in_memory(), 0, "but held on disk only");

    // A restart counts them again, from disk.
    engine.shutdown().await;
    drop(engine);
    let engine = engine_with(dir.path(), BackendKind::Sled, config(clock)).await;
    assert_eq!(engine.backlog(), 4000);
    assert_eq!(engine.jobs_in_memory(), 0);

    time.pass(HOUR).await;
    time.until(10 * MINUTE, "every scheduled recipient sent", || {
        sandbox_submitted(&engine) == 4000
    })
    .await;
    time.until(MINUTE, "the backlog drained", || engine.backlog() == 0)
        .await;
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_due_campaign_is_fed_in_blocks_while_the_queues_are_full() {
    let time = HeldTime::hold();
    let clock = Clock::tokio();
    let dir = tempfile::tempdir().expect("temp dir");
    let low_water = 300;
    let engine = engine_with(
        dir.path(),
        BackendKind::Redb,
        EngineConfig {
            feed_low_water: low_water,
            ..config(clock)
        },
    )
    .await;
    let tenant = funded_tenant(&engine, 10_000).await;
    // A carrier nobody listens for: jobs park, and the queues stay full.
    engine
        .create_bind(NewBind {
            name: "down".into(),
            host: "127.0.0.1".into(),
            port: 1,
            system_id: "flit".into(),
            password: "pw".into(),
            ..NewBind::default()
        })
        .await
        .expect("bind");
    let message = send_with(&engine, tenant, clock, numbers(0, 1000), Some(HOUR), None).await;
    assert_eq!(engine.balance(tenant).expect("balance"), 9000);

    time.pass(HOUR + MINUTE).await;
    // Fed a block of 250 at a time up to the mark, then paused: the rest waits on disk.
    let in_memory = engine.jobs_in_memory();
    assert!(
        (low_water..low_water + 250).contains(&in_memory),
        "{in_memory} jobs in memory"
    );
    assert_eq!(engine.backlog(), 1000, "all still counted");

    // Still paused a while later: nothing drains the queues.
    time.pass(MINUTE).await;
    let still = engine.jobs_in_memory();
    assert_eq!(still, in_memory, "no more fed while the queues are full");
    assert!(
        recipients(&engine, tenant, message)
            .iter()
            .all(|r| r.status == RecipientStatus::Pending)
    );
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_killed_scheduler_comes_back_and_still_releases_on_time() {
    let time = HeldTime::hold();
    let clock = Clock::tokio();
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = engine_with(dir.path(), BackendKind::Redb, config(clock)).await;
    let tenant = funded_tenant(&engine, 100).await;
    let message = send(&engine, tenant, clock, 2, Some(HOUR)).await;
    let scheduler = |engine: &Engine| {
        engine
            .dispatch_actors()
            .into_iter()
            .find(|(name, _)| name == "scheduler")
            .map(|(_, cell)| cell)
    };
    let killed = scheduler(&engine).expect("the scheduler runs");
    killed.kill();
    time.until(MINUTE, "a new scheduler", || {
        scheduler(&engine).is_some_and(|cell| cell.get_id() != killed.get_id())
    })
    .await;
    assert!(engine.health().is_healthy());

    time.pass(58 * MINUTE).await;
    assert!(!dispatched(&engine, tenant, message), "not early");
    time.pass(2 * MINUTE).await;
    time.until(MINUTE, "delivered on time", || {
        settled(&engine, tenant, message)
    })
    .await;
    assert_eq!(sandbox_submitted(&engine), 2);
    engine.shutdown().await;
}
