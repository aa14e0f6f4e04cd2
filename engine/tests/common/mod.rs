//! One way to set up an engine for the engine's integration tests, and paused time for those
//! that need hours to pass.

#![allow(dead_code)]

use std::time::Duration;

use flit_engine::BackendKind;
use flit_engine::TransactionKind;
use flit_engine::ids::TenantId;
use flit_engine::secrets::SecretKey;
use flit_engine::{Engine, EngineConfig, NewTenant};

/// An engine on a store of `kind` in `dir`, with the tests' secret key.
pub async fn engine(dir: &std::path::Path, kind: BackendKind) -> Engine {
    engine_with(
        dir,
        kind,
        EngineConfig {
            secret_key: Some(secret_key()),
            ..EngineConfig::default()
        },
    )
    .await
}

/// The secret key of the tests' engines: the same at every open, so a reopened store opens.
pub fn secret_key() -> SecretKey {
    SecretKey::from_bytes(&[0x5e; SecretKey::LEN])
}

/// An engine on a store of `kind` in `dir`, configured by `config`.
pub async fn engine_with(dir: &std::path::Path, kind: BackendKind, config: EngineConfig) -> Engine {
    Engine::open(dir, kind, config).await.expect("engine opens")
}

/// Paused time that moves only when the test moves it.
///
/// A paused tokio clock jumps to the next timer whenever the runtime has nothing to run, and
/// waiting for the store's commit thread (a thread of its own) looks like nothing to run: an
/// hour-long sleep would end during the first commit. A blocking task in flight stops those
/// jumps, so while a `HeldTime` lives, time moves only by `tokio::time::advance`, which its
/// methods call. Start the test with `#[tokio::test(start_paused = true)]` and hold time
/// before anything else.
pub struct HeldTime {
    /// Dropping it ends the blocking task, and time jumps again.
    _release: std::sync::mpsc::Sender<()>,
}

impl HeldTime {
    pub fn hold() -> HeldTime {
        let (release, held) = std::sync::mpsc::channel::<()>();
        tokio::task::spawn_blocking(move || {
            let _ = held.recv();
        });
        HeldTime { _release: release }
    }

    /// Lets `span` pass, in steps of a second at most, so timers fire in order and what each
    /// step starts (commits take real time on the store's thread) gets its turn.
    pub async fn pass(&self, span: Duration) {
        let mut left = span;
        while !left.is_zero() {
            let step = left.min(Duration::from_secs(1));
            tokio::time::advance(step).await;
            settle_a_moment().await;
            left -= step;
        }
    }

    /// Lets time pass in 10 ms steps until `done` says so, for at most `within` of it; panics
    /// naming `what` if it never does.
    pub async fn until(&self, within: Duration, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if done() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not within {within:?}"
            );
            tokio::time::advance(Duration::from_millis(10)).await;
            settle_a_moment().await;
        }
    }
}

/// Gives the store's commit thread a real moment, and the runtime's tasks their turns, without
/// moving the paused clock.
async fn settle_a_moment() {
    tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_micros(200)))
        .await
        .expect("the pause ends");
}

/// A tenant with `credits` and the approved sender ID `Flit`.
pub async fn funded_tenant(engine: &Engine, credits: i64) -> TenantId {
    let tenant = engine
        .create_tenant(NewTenant {
            name: "t".into(),
            sender_ids: Some(vec!["Flit".into()]),
            ..NewTenant::default()
        })
        .await
        .expect("tenant");
    engine
        .add_credits(
            tenant.id,
            TransactionKind::Purchase,
            credits,
            "seed".into(),
            None,
        )
        .await
        .expect("credits");
    tenant.id
}
