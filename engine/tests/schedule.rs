//! Scheduled sends and cancels, seen from outside the engine: a scheduled message waits on
//! disk (no jobs in memory) until its time, goes out then and not before, in due order, once
//! even across a restart, expires if its validity passed while Flit was down, and a cancel
//! takes back what was not sent and refunds it.
//!
//! Time is tokio's, paused and moved by the tests (`HeldTime`), shared with the engine through
//! `Clock::tokio()` and kept across a reopen. Except the last test, which races a cancel with
//! a submit in flight at a real SMSC, in real time.

use std::time::Duration;

use flit_engine::ids::{MessageId, TenantId};
use flit_engine::{
    BackendKind, Clock, Conflict, Content, Engine, EngineConfig, EngineError, MessageStatus,
    Missing, NewBind, RecipientRecord, RecipientStatus, SendRequest, TransactionKind,
};
use flit_loadtest::smsc::{self, SmscConfig};

mod common;
use common::{HeldTime, engine_with, funded_tenant};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

fn config(clock: Clock) -> EngineConfig {
    EngineConfig {
        clock,
        secret_key: Some(common::secret_key()),
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
async fn a_cancelled_scheduled_message_is_refunded_and_never_sent() {
    let time = HeldTime::hold();
    let clock = Clock::tokio();
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = engine_with(dir.path(), BackendKind::Redb, config(clock)).await;
    let tenant = funded_tenant(&engine, 100).await;
    let other = funded_tenant(&engine, 100).await;
    let message = send(&engine, tenant, clock, 5, Some(HOUR)).await;
    let kept = send(&engine, tenant, clock, 1, Some(HOUR)).await;
    assert_eq!(engine.balance(tenant).expect("balance"), 94);
    assert_eq!(engine.backlog(), 6);

    // Another tenant cannot reach it, and changes nothing trying.
    assert!(matches!(
        engine.cancel(other, message).await,
        Err(EngineError::NotFound(Missing::Message))
    ));
    assert!(matches!(
        engine.cancel(tenant, MessageId::new()).await,
        Err(EngineError::NotFound(Missing::Message))
    ));

    time.pass(10 * MINUTE).await;
    let cancelled = engine.cancel(tenant, message).await.expect("cancelled");
    assert_eq!(cancelled.message_id, message);
    assert_eq!(cancelled.status, MessageStatus::Cancelled);
    assert_eq!(cancelled.cancelled_recipients, 5);
    assert_eq!(cancelled.credits_refunded, 5);
    assert_eq!(engine.balance(tenant).expect("balance"), 99, "refunded");
    assert_eq!(engine.backlog(), 1, "only the other message still waits");
    for recipient in recipients(&engine, tenant, message) {
        assert_eq!(recipient.status, RecipientStatus::Cancelled);
        assert_eq!(recipient.error.as_deref(), Some("cancelled"));
        assert!(recipient.done_at.is_some());
    }
    let record = engine
        .message(tenant, message)
        .expect("read")
        .expect("exists");
    assert_eq!(record.counts.status(), MessageStatus::Cancelled);
    assert_eq!(record.counts.cancelled, 5);
    let refund = engine
        .ledger(tenant)
        .expect("ledger")
        .into_iter()
        .find(|t| t.kind == TransactionKind::Refund)
        .expect("a REFUND entry");
    assert_eq!(refund.amount, 5);
    assert!(refund.description.contains("cancelled"), "{refund:?}");
    assert_eq!(refund.reference, Some(message.to_string()));

    // Twice is a conflict, and changes nothing.
    assert!(matches!(
        engine.cancel(tenant, message).await,
        Err(EngineError::Conflict(Conflict::NotCancellable))
    ));
    assert_eq!(engine.balance(tenant).expect("balance"), 99);

    // Its hour comes and goes: only the other message is sent.
    time.pass(HOUR).await;
    time.until(MINUTE, "the other message delivered", || {
        settled(&engine, tenant, kept)
    })
    .await;
    assert_eq!(sandbox_submitted(&engine), 1);
    assert!(
        recipients(&engine, tenant, message)
            .iter()
            .all(|r| r.status == RecipientStatus::Cancelled)
    );
    // A delivered message has nothing left to cancel.
    assert!(matches!(
        engine.cancel(tenant, kept).await,
        Err(EngineError::Conflict(Conflict::NotCancellable))
    ));
    assert_eq!(engine.balance(other).expect("balance"), 100);
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
async fn a_due_campaign_is_fed_in_blocks_and_a_cancel_takes_back_what_is_queued() {
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

    let cancelled = engine.cancel(tenant, message).await.expect("cancelled");
    assert_eq!(cancelled.cancelled_recipients, 1000);
    assert_eq!(cancelled.credits_refunded, 1000);
    assert_eq!(engine.balance(tenant).expect("balance"), 10_000);
    // The parked jobs are dropped when they next surface, and nothing more is fed.
    time.until(MINUTE, "the queued jobs dropped", || engine.backlog() == 0)
        .await;
    assert_eq!(engine.jobs_in_memory(), 0);
    assert!(
        recipients(&engine, tenant, message)
            .iter()
            .all(|r| r.status == RecipientStatus::Cancelled)
    );
    assert_balanced(&engine, tenant);
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

/// Real time: a cancel while one submit is at the carrier (it answers after two seconds) and
/// the others wait in the bind's queue behind a window of one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_racing_a_submit_in_flight_charges_back_what_the_carrier_took() {
    let smsc = smsc::start(SmscConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        latency: Duration::from_secs(2),
        receipt_delay: Duration::from_millis(200),
        ..SmscConfig::default()
    })
    .await
    .expect("smsc");
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = common::engine(dir.path(), BackendKind::Redb).await;
    let tenant = funded_tenant(&engine, 100).await;
    engine
        .create_bind(NewBind {
            name: "slow".into(),
            host: "127.0.0.1".into(),
            port: smsc.addr.port(),
            system_id: "flit".into(),
            password: "pw".into(),
            window_size: Some(1),
            ..NewBind::default()
        })
        .await
        .expect("bind");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !engine
        .binds()
        .iter()
        .any(|bind| bind.name == "slow" && bind.bound)
    {
        assert!(tokio::time::Instant::now() < deadline, "never bound");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let message = send(&engine, tenant, Clock::System, 4, None).await;
    while smsc.received().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "nothing submitted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let cancelled = engine.cancel(tenant, message).await.expect("cancelled");
    assert_eq!(
        cancelled.cancelled_recipients, 4,
        "the one in flight was still PENDING"
    );
    assert_eq!(cancelled.credits_refunded, 4);
    assert_eq!(engine.balance(tenant).expect("balance"), 100);

    // The carrier accepts the one it holds: recorded as sent, then delivered, and charged.
    let first = smsc.received()[0].destination.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let recipients = recipients(&engine, tenant, message);
        let delivered: Vec<&RecipientRecord> = recipients
            .iter()
            .filter(|r| r.status == RecipientStatus::Delivered)
            .collect();
        if delivered.len() == 1 && engine.balance(tenant).expect("balance") == 99 {
            assert_eq!(delivered[0].msisdn.to_string(), first);
            assert_eq!(delivered[0].error, None);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{recipients:#?} balance {:?}",
            engine.balance(tenant)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The three queued behind it never reached the carrier.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(smsc.received().len(), 1, "{:?}", smsc.received());
    let recipients = recipients(&engine, tenant, message);
    assert_eq!(
        recipients
            .iter()
            .filter(|r| r.status == RecipientStatus::Cancelled)
            .count(),
        3
    );
    let record = engine
        .message(tenant, message)
        .expect("read")
        .expect("exists");
    assert_eq!(record.counts.status(), MessageStatus::Delivered);
    let ledger = engine.ledger(tenant).expect("ledger");
    let charge_back: Vec<_> = ledger
        .iter()
        .filter(|t| t.kind == TransactionKind::Usage && t.amount == -1)
        .collect();
    assert_eq!(charge_back.len(), 1, "{ledger:#?}");
    assert!(
        charge_back[0].description.contains("cancelled"),
        "{:?}",
        charge_back[0]
    );
    assert_eq!(engine.balance(tenant).expect("balance"), 99);
    assert_balanced(&engine, tenant);
    engine.shutdown().await;
}
