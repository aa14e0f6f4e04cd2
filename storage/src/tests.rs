//! Unit tests of the group-commit machinery with fault-injecting backends; the behaviour of the
//! real backends is pinned by `tests/conformance.rs`.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

/// Records every group it is given; fails writes while `fail` is set; `gate` holds the first
/// write until released so that later submissions pile up behind it.
#[derive(Default)]
struct RecordingBackend {
    groups: Mutex<Vec<Vec<Batch>>>,
    fail: AtomicBool,
    calls: AtomicUsize,
    gate: Mutex<()>,
}

impl Backend for Arc<RecordingBackend> {
    fn get(&self, _: &str, _: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(None)
    }
    fn scan(&self, _: &Scan) -> Result<Page, StorageError> {
        Ok(Page::default())
    }
    fn count(&self, _: &str, _: &[u8]) -> Result<u64, StorageError> {
        Ok(0)
    }
    fn write_durable(&self, batches: &[Batch]) -> Result<(), StorageError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let _held = self.gate.lock().unwrap();
        if self.fail.load(Ordering::SeqCst) {
            return Err(StorageError::Backend("injected".to_owned()));
        }
        self.groups.lock().unwrap().push(batches.to_vec());
        Ok(())
    }
}

fn one_op(key: u32) -> Batch {
    let mut batch = Batch::new();
    batch.put("t", key.to_be_bytes(), b"v".to_vec());
    batch
}

fn wait_for_calls(backend: &RecordingBackend, calls: usize) {
    for _ in 0..1000 {
        if backend.calls.load(Ordering::SeqCst) >= calls {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("commit thread never called write_durable");
}

#[test]
fn queued_batches_share_one_write_in_submit_order() {
    let backend = Arc::new(RecordingBackend::default());
    let store = Store::with_backend(
        BackendKind::Sled,
        Box::new(Arc::clone(&backend)),
        StoreOptions::default(),
    )
    .unwrap();
    let gate = backend.gate.lock().unwrap();
    let first = store.submit(one_op(0));
    wait_for_calls(&backend, 1);
    let rest: Vec<_> = (1..=10).map(|key| store.submit(one_op(key))).collect();
    drop(gate);
    first.wait_blocking().unwrap();
    for ticket in rest {
        ticket.wait_blocking().unwrap();
    }
    let groups = backend.groups.lock().unwrap();
    assert_eq!(
        groups.len(),
        2,
        "the ten batches queued behind the first form one group"
    );
    let keys: Vec<Vec<u8>> = groups[1]
        .iter()
        .map(|batch| batch.ops()[0].key().to_vec())
        .collect();
    let expected: Vec<Vec<u8>> = (1..=10u32).map(|key| key.to_be_bytes().to_vec()).collect();
    assert_eq!(keys, expected);
    assert_eq!(
        store.stats(),
        CommitStats {
            batches: 11,
            syncs: 2,
            ops: 11
        }
    );
}

#[test]
fn max_batches_per_commit_caps_a_group() {
    let backend = Arc::new(RecordingBackend::default());
    let options = StoreOptions {
        max_batches_per_commit: 3,
    };
    let store =
        Store::with_backend(BackendKind::Sled, Box::new(Arc::clone(&backend)), options).unwrap();
    let gate = backend.gate.lock().unwrap();
    let first = store.submit(one_op(0));
    wait_for_calls(&backend, 1);
    let rest: Vec<_> = (1..=7).map(|key| store.submit(one_op(key))).collect();
    drop(gate);
    first.wait_blocking().unwrap();
    rest.into_iter()
        .for_each(|ticket| ticket.wait_blocking().unwrap());
    let sizes: Vec<usize> = backend
        .groups
        .lock()
        .unwrap()
        .iter()
        .map(Vec::len)
        .collect();
    assert_eq!(sizes, vec![1, 3, 3, 1]);
}

#[test]
fn a_failed_write_fails_its_group_and_every_later_write() {
    let backend = Arc::new(RecordingBackend::default());
    let store = Store::with_backend(
        BackendKind::Redb,
        Box::new(Arc::clone(&backend)),
        StoreOptions::default(),
    )
    .unwrap();
    backend.fail.store(true, Ordering::SeqCst);
    let gate = backend.gate.lock().unwrap();
    let first = store.submit(one_op(0));
    wait_for_calls(&backend, 1);
    let rest: Vec<_> = (1..=5).map(|key| store.submit(one_op(key))).collect();
    drop(gate);
    let injected = StorageError::Backend("injected".to_owned());
    let failed = StorageError::Failed(injected.to_string());
    assert_eq!(first.wait_blocking(), Err(injected));
    for ticket in rest {
        assert_eq!(ticket.wait_blocking(), Err(failed.clone()));
    }
    assert_eq!(store.stats(), CommitStats::default());
    // Fail-stop: even once the backend would work again, nothing more is written, because
    // what the failed group left on disk is unknown.
    backend.fail.store(false, Ordering::SeqCst);
    let calls = backend.calls.load(Ordering::SeqCst);
    assert_eq!(store.commit_blocking(one_op(9)), Err(failed));
    assert_eq!(backend.calls.load(Ordering::SeqCst), calls);
    assert_eq!(store.stats().batches, 0);
}

#[test]
fn dropping_the_last_handle_finishes_queued_work_first() {
    let backend = Arc::new(RecordingBackend::default());
    let store = Store::with_backend(
        BackendKind::Sled,
        Box::new(Arc::clone(&backend)),
        StoreOptions::default(),
    )
    .unwrap();
    let gate = backend.gate.lock().unwrap();
    let tickets: Vec<_> = (0..20).map(|key| store.submit(one_op(key))).collect();
    let dropper = std::thread::spawn(move || drop(store));
    std::thread::sleep(Duration::from_millis(20));
    drop(gate);
    dropper.join().unwrap();
    for ticket in tickets {
        ticket.wait_blocking().unwrap();
    }
    let written: usize = backend.groups.lock().unwrap().iter().map(Vec::len).sum();
    assert_eq!(written, 20);
}

struct PanickingBackend;

impl Backend for PanickingBackend {
    fn get(&self, _: &str, _: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(None)
    }
    fn scan(&self, _: &Scan) -> Result<Page, StorageError> {
        Ok(Page::default())
    }
    fn count(&self, _: &str, _: &[u8]) -> Result<u64, StorageError> {
        Ok(0)
    }
    fn write_durable(&self, _: &[Batch]) -> Result<(), StorageError> {
        panic!("injected backend panic");
    }
}

#[test]
fn a_dead_commit_thread_turns_writes_into_closed_errors() {
    let store = Store::with_backend(
        BackendKind::Sled,
        Box::new(PanickingBackend),
        StoreOptions::default(),
    )
    .unwrap();
    assert_eq!(store.commit_blocking(one_op(1)), Err(StorageError::Closed));
    // Later submissions fail at once instead of hanging.
    assert_eq!(store.commit_blocking(one_op(2)), Err(StorageError::Closed));
}

#[test]
fn backend_kind_parses_and_prints() {
    assert_eq!("sled".parse::<BackendKind>().unwrap(), BackendKind::Sled);
    assert_eq!("Redb".parse::<BackendKind>().unwrap(), BackendKind::Redb);
    assert_eq!(" fjall".parse::<BackendKind>().unwrap(), BackendKind::Fjall);
    for kind in BackendKind::ALL {
        assert_eq!(kind.to_string().parse::<BackendKind>().unwrap(), kind);
    }
    assert!(matches!(
        "rocks".parse::<BackendKind>(),
        Err(StorageError::UnknownBackend(_))
    ));
    assert_eq!(BackendKind::Redb.to_string(), "redb");
    assert_eq!(BackendKind::Fjall.to_string(), "fjall");
    assert_eq!(BackendKind::default(), BackendKind::Redb);
}

#[test]
fn a_dir_with_one_backends_data_keeps_that_backend() {
    for kind in BackendKind::ALL {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Store::existing_backend(dir.path()), None, "empty");
        drop(Store::open(kind, dir.path(), StoreOptions::default()).unwrap());
        assert_eq!(Store::existing_backend(dir.path()), Some(kind));
        for other in BackendKind::ALL.into_iter().filter(|other| *other != kind) {
            let both = tempfile::tempdir().unwrap();
            drop(Store::open(kind, both.path(), StoreOptions::default()).unwrap());
            drop(Store::open(other, both.path(), StoreOptions::default()).unwrap());
            assert_eq!(
                Store::existing_backend(both.path()),
                None,
                "{kind} and {other}: the operator must choose"
            );
        }
    }
}

#[test]
#[should_panic(expected = "invalid tree name")]
fn a_tree_name_with_nul_is_rejected() {
    Batch::new().put("bad\0tree", b"k".to_vec(), b"v".to_vec());
}

#[test]
fn handles_and_tickets_cross_threads_and_tasks() {
    fn send_sync_static<T: Send + Sync + 'static>() {}
    fn send_static_future<
        T: std::future::Future<Output = Result<(), StorageError>> + Send + 'static,
    >() {
    }
    send_sync_static::<Store>();
    send_sync_static::<StorageError>();
    send_static_future::<CommitTicket>();
}
