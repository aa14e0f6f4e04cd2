//! What only the crate can set up: data as the code before the schedule index wrote it.

use std::time::Duration;

use flit_storage::{BackendKind, Batch};

use crate::clock::Clock;
use crate::store::records::{RecipientStatus, TransactionKind};
use crate::store::tables;
use crate::{Content, Engine, EngineConfig, NewTenant, SendRequest};

/// Stops a paused clock from jumping while the store's thread commits (see the engine's
/// integration tests, `HeldTime`): time moves only by `tokio::time::advance`.
fn hold_time() -> std::sync::mpsc::Sender<()> {
    let (release, held) = std::sync::mpsc::channel::<()>();
    tokio::task::spawn_blocking(move || {
        let _ = held.recv();
    });
    release
}

async fn open(dir: &std::path::Path, clock: Clock) -> Engine {
    let config = EngineConfig {
        clock,
        ..EngineConfig::default()
    };
    Engine::open(dir, BackendKind::Sled, config)
        .await
        .expect("engine opens")
}

#[tokio::test(start_paused = true)]
async fn a_message_the_previous_code_scheduled_moves_to_the_index_at_start() {
    let _held = hold_time();
    let clock = Clock::tokio();
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = open(dir.path(), clock).await;
    let tenant = engine
        .create_tenant(NewTenant {
            name: "t".into(),
            ..NewTenant::default()
        })
        .await
        .expect("tenant")
        .id;
    engine
        .add_credits(tenant, TransactionKind::Purchase, 10, "seed".into(), None)
        .await
        .expect("credits");
    engine
        .create_sender_id(tenant, "Flit")
        .await
        .expect("sender");
    let due = clock.now_millis() + 3_600_000;
    let message = engine
        .send(
            tenant,
            SendRequest {
                recipients: vec!["0201234567".into()],
                content: Content::Text("later".into()),
                schedule_at: Some(due),
                ..SendRequest::default()
            },
        )
        .await
        .expect("accepted")
        .message_id;
    // As the code before the index left it: a `DISPATCH` marker and the due time on the
    // message only.
    let mut batch = Batch::new();
    tables::SCHEDULE.delete(&mut batch, &tables::schedule_key(due, message));
    tables::DISPATCH.put(&mut batch, &message, &tenant);
    engine.store().commit(batch).await.expect("rewritten");
    engine.shutdown().await;
    drop(engine);

    let engine = open(dir.path(), clock).await;
    let key = tables::schedule_key(due, message);
    assert_eq!(
        tables::SCHEDULE.get(engine.store(), &key).expect("read"),
        Some(tenant),
        "moved to the index"
    );
    assert_eq!(
        tables::DISPATCH
            .get(engine.store(), &message)
            .expect("read"),
        None
    );
    assert_eq!(engine.dispatch().backlog(), 1);
    assert_eq!(engine.dispatch().jobs_in_memory(), 0, "and not in memory");

    tokio::time::advance(Duration::from_secs(3600)).await;
    let delivered = || {
        engine
            .recipients(tenant, message)
            .expect("read")
            .is_some_and(|(_, recipients)| {
                recipients
                    .iter()
                    .all(|r| r.status == RecipientStatus::Delivered)
            })
    };
    for _ in 0..6000 {
        if delivered() {
            break;
        }
        tokio::time::advance(Duration::from_millis(10)).await;
        tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_micros(200)))
            .await
            .expect("the pause ends");
    }
    assert!(delivered(), "sent at its time after the move");
    assert_eq!(
        tables::SCHEDULE.get(engine.store(), &key).expect("read"),
        None
    );
    engine.shutdown().await;
}
