//! Storage commit benchmarks, for every backend, through `flit_storage::Store`'s public API:
//! one committer with 1-op batches (the latency of one durable commit), one committer with
//! 1,000-op batches (bulk throughput), and 64 concurrent committers of 1-op batches (what group
//! commit buys: many writers sharing one sync). Stores live under the target dir, not /tmp,
//! so that fsync hits a real disk even where /tmp is tmpfs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use flit_storage::{BackendKind, Batch, Store, StoreOptions};
use tempfile::TempDir;

/// About the size of an encoded message record.
const VALUE_LEN: usize = 200;
const CONCURRENT_COMMITTERS: u64 = 64;

fn open(kind: BackendKind) -> (TempDir, Store) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let store = Store::open(kind, dir.path(), StoreOptions::default()).expect("open store");
    (dir, store)
}

/// A batch of `ops` puts under fresh keys (so the store grows, as a message store does).
fn batch(next_key: &AtomicU64, ops: u64) -> Batch {
    let mut batch = Batch::with_capacity(ops as usize);
    for _ in 0..ops {
        let key = next_key.fetch_add(1, Ordering::Relaxed);
        batch.put("bench", key.to_be_bytes(), vec![0x5a; VALUE_LEN]);
    }
    batch
}

fn commits(c: &mut Criterion) {
    let mut group = c.benchmark_group("storage_commit");
    for kind in BackendKind::ALL {
        let (_dir, store) = open(kind);
        let next_key = AtomicU64::new(0);

        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("1_op_batch", kind), |b| {
            b.iter(|| store.commit_blocking(batch(&next_key, 1)).expect("commit"));
        });

        group.throughput(Throughput::Elements(1000));
        group.bench_function(BenchmarkId::new("1000_op_batch", kind), |b| {
            b.iter(|| {
                store
                    .commit_blocking(batch(&next_key, 1000))
                    .expect("commit")
            });
        });

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("tokio runtime");
        let next_key = Arc::new(next_key);
        let before = store.stats();
        group.throughput(Throughput::Elements(CONCURRENT_COMMITTERS));
        group.bench_function(BenchmarkId::new("64_concurrent_1_op_batches", kind), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let committers: Vec<_> = (0..CONCURRENT_COMMITTERS)
                        .map(|_| {
                            let store = store.clone();
                            let next_key = Arc::clone(&next_key);
                            tokio::spawn(async move { store.commit(batch(&next_key, 1)).await })
                        })
                        .collect();
                    for committer in committers {
                        committer.await.expect("join").expect("commit");
                    }
                });
            });
        });
        let after = store.stats();
        let (batches, syncs) = (after.batches - before.batches, after.syncs - before.syncs);
        eprintln!(
            "{kind}, 64 concurrent committers: {batches} batches in {syncs} syncs \
             ({:.1} batches per sync)",
            batches as f64 / syncs.max(1) as f64
        );
    }
    group.finish();
}

criterion_group!(benches, commits);
criterion_main!(benches);
