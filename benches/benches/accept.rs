//! The in-process accept path, for every backend, through `flit_engine::Engine`'s public API:
//! `Engine::send` of 1 recipient one at a time (the latency of one durable accept), of
//! 1 recipient from 64 concurrent senders (throughput: the tenant actor and group commit at
//! work), and of 1,000 recipients in one send; and credit reservation through the tenant actor,
//! `Engine::add_credits`, one at a time and 64 concurrent.
//!
//! Stores live under the target dir, not /tmp, so that fsync hits a real disk even where /tmp
//! is tmpfs. No bind is configured, so every accepted recipient is also dispatched, in the
//! background, to the sandbox simulator (router, bind actor, status writer, and a receipt one
//! second later): that work shares the CPUs and the store's commit thread with the accepts
//! measured here. After each benchmark the bench waits for the sandbox to finish what it was
//! given, so one benchmark's backlog does not run into the next.

// A bench is a harness like a test: a broken fixture should stop it loudly.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use flit_engine::TransactionKind;
use flit_engine::ids::TenantId;
use flit_engine::{BackendKind, CommitStats};
use flit_engine::{Content, Engine, EngineConfig, NewTenant, SendRequest};
use tempfile::TempDir;
use tokio::runtime::Runtime;

const CONCURRENT: usize = 64;
const BULK_RECIPIENTS: usize = 1_000;
/// Enough for any run: sends cost 1 credit per part per recipient.
const SEED_CREDITS: i64 = 100_000_000_000;

struct Fixture {
    _dir: TempDir,
    engine: Engine,
    tenant: TenantId,
}

async fn fixture(kind: BackendKind) -> Fixture {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let engine = Engine::open(dir.path(), kind, EngineConfig::default())
        .await
        .unwrap();
    let tenant = engine
        .create_tenant(NewTenant {
            name: "bench".into(),
            ..NewTenant::default()
        })
        .await
        .unwrap()
        .id;
    engine
        .add_credits(
            tenant,
            TransactionKind::Purchase,
            SEED_CREDITS,
            "seed".into(),
            None,
        )
        .await
        .unwrap();
    engine.create_sender_id(tenant, "Flit").await.unwrap();
    assert!(engine.is_sandbox());
    Fixture {
        _dir: dir,
        engine,
        tenant,
    }
}

/// Valid Ghanaian mobile numbers (MTN `024`); none ends in `0000`, which the sandbox fails.
fn numbers(count: usize) -> Vec<String> {
    (0..count)
        .map(|n| format!("024{:07}", 1_234_567 + n))
        .collect()
}

fn request(recipients: Vec<String>) -> SendRequest {
    SendRequest {
        recipients,
        content: Content::Text("Your code is 123456. It expires in 10 minutes.".into()),
        ..SendRequest::default()
    }
}

/// Waits until the sandbox has accepted and "delivered" all `sent` parts, so the next
/// benchmark does not share the machine with this one's dispatch backlog. Returns how long
/// that took.
async fn drain(engine: &Engine, sent: u64) -> Duration {
    let started = Instant::now();
    let mut last_progress = (Instant::now(), 0);
    loop {
        let binds = engine.binds();
        let accepted: u64 = binds.iter().map(|bind| bind.accepted).sum();
        let receipts: u64 = binds.iter().map(|bind| bind.receipts).sum();
        if accepted >= sent && receipts >= accepted {
            // The status writer commits the last receipts just after the bind counts them.
            tokio::time::sleep(Duration::from_millis(200)).await;
            return started.elapsed();
        }
        if receipts + accepted != last_progress.1 {
            last_progress = (Instant::now(), receipts + accepted);
        } else if last_progress.0.elapsed() > Duration::from_secs(30) {
            eprintln!("dispatch made no progress for 30 s; going on without draining");
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn report_drain(runtime: &Runtime, engine: &Engine, sent: &AtomicU64, what: &str) {
    let waited = runtime.block_on(drain(engine, sent.load(Ordering::Relaxed)));
    let binds = engine.binds();
    let accepted: u64 = binds.iter().map(|bind| bind.accepted).sum();
    eprintln!(
        "after {what}: waited {:.2} s for the sandbox to drain ({accepted} parts dispatched so far)",
        waited.as_secs_f64()
    );
}

/// Batches per sync since `before`: what group commit shared. During sends this includes the
/// status writer's batches.
fn report_commits(engine: &Engine, before: CommitStats, what: &str) {
    let after = engine.commit_stats();
    let (batches, syncs) = (after.batches - before.batches, after.syncs - before.syncs);
    if syncs == 0 {
        return; // filtered out
    }
    eprintln!(
        "{what}: {batches} batches in {syncs} syncs ({:.1} batches per sync)",
        batches as f64 / syncs.max(1) as f64
    );
}

fn accept(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("accept");
    // Iterations here take milliseconds: flat sampling keeps a run near the measurement time
    // (linear sampling would need 5,050 iterations at least) and bounds the dispatch backlog.
    group.sampling_mode(SamplingMode::Flat);
    for kind in BackendKind::ALL {
        let Fixture {
            _dir,
            engine,
            tenant,
        } = runtime.block_on(fixture(kind));
        let one = request(numbers(1));
        let bulk = request(numbers(BULK_RECIPIENTS));
        // Check the fixtures once: every recipient is accepted and charged.
        let outcome = runtime.block_on(engine.send(tenant, bulk.clone())).unwrap();
        assert_eq!(outcome.credits_used, BULK_RECIPIENTS as i64);
        // Parts handed to dispatch (every text here is one part per recipient).
        let sent = AtomicU64::new(BULK_RECIPIENTS as u64);
        report_drain(&runtime, &engine, &sent, &format!("{kind} warm-up"));

        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("send/1_recipient", kind), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iters {
                        engine.send(tenant, one.clone()).await.unwrap();
                    }
                    let elapsed = started.elapsed();
                    sent.fetch_add(iters, Ordering::Relaxed);
                    elapsed
                })
            });
        });
        report_drain(
            &runtime,
            &engine,
            &sent,
            &format!("{kind} send/1_recipient"),
        );

        let before = engine.commit_stats();
        group.throughput(Throughput::Elements(CONCURRENT as u64));
        group.bench_function(
            BenchmarkId::new("send/64_concurrent_1_recipient", kind),
            |b| {
                b.iter_custom(|iters| {
                    runtime.block_on(async {
                        let started = Instant::now();
                        for _ in 0..iters {
                            let sends: Vec<_> = (0..CONCURRENT)
                                .map(|_| {
                                    let engine = engine.clone();
                                    let request = one.clone();
                                    tokio::spawn(async move { engine.send(tenant, request).await })
                                })
                                .collect();
                            for send in sends {
                                send.await.unwrap().unwrap();
                            }
                        }
                        let elapsed = started.elapsed();
                        sent.fetch_add(iters * CONCURRENT as u64, Ordering::Relaxed);
                        elapsed
                    })
                });
            },
        );
        report_commits(
            &engine,
            before,
            &format!("{kind} send/64_concurrent_1_recipient"),
        );
        report_drain(
            &runtime,
            &engine,
            &sent,
            &format!("{kind} send/64_concurrent_1_recipient"),
        );

        group.throughput(Throughput::Elements(BULK_RECIPIENTS as u64));
        group.bench_function(BenchmarkId::new("send/1000_recipients", kind), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iters {
                        engine.send(tenant, bulk.clone()).await.unwrap();
                    }
                    let elapsed = started.elapsed();
                    sent.fetch_add(iters * BULK_RECIPIENTS as u64, Ordering::Relaxed);
                    elapsed
                })
            });
        });
        report_drain(
            &runtime,
            &engine,
            &sent,
            &format!("{kind} send/1000_recipients"),
        );

        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("add_credits/1", kind), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iters {
                        engine
                            .add_credits(tenant, TransactionKind::Bonus, 1, "bench".into(), None)
                            .await
                            .unwrap();
                    }
                    started.elapsed()
                })
            });
        });

        let before = engine.commit_stats();
        group.throughput(Throughput::Elements(CONCURRENT as u64));
        group.bench_function(BenchmarkId::new("add_credits/64_concurrent", kind), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iters {
                        let credits: Vec<_> = (0..CONCURRENT)
                            .map(|_| {
                                let engine = engine.clone();
                                tokio::spawn(async move {
                                    engine
                                        .add_credits(
                                            tenant,
                                            TransactionKind::Bonus,
                                            1,
                                            "bench".into(),
                                            None,
                                        )
                                        .await
                                })
                            })
                            .collect();
                        for credit in credits {
                            credit.await.unwrap().unwrap();
                        }
                    }
                    started.elapsed()
                })
            });
        });
        report_commits(
            &engine,
            before,
            &format!("{kind} add_credits/64_concurrent"),
        );

        runtime.block_on(engine.shutdown());
    }
    group.finish();
}

criterion_group!(benches, accept);
criterion_main!(benches);
