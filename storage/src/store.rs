//! `Store`: the handle the rest of Flit uses. Reads go straight to the backend; writes go through
//! a group-commit queue served by one dedicated OS thread per store, which applies everything
//! queued in one `Backend::write_durable` call (one sync) and then completes each ticket. Many
//! concurrent writers therefore share a single fsync, and no async worker thread ever blocks on
//! disk.

use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::fjall_backend::FjallBackend;
use crate::redb_backend::RedbBackend;
use crate::sled_backend::SledBackend;
use crate::{Backend, BackendKind, Batch, Page, Scan, StorageError, StoreOptions};

/// Where each backend keeps its data inside the store directory: a file (redb) or a directory
/// (sled, fjall). Distinct names let the backends share a data directory and let `open` notice
/// data written by another one.
fn data_path(dir: &Path, kind: BackendKind) -> PathBuf {
    dir.join(match kind {
        BackendKind::Sled => "sled",
        BackendKind::Redb => "flit.redb",
        BackendKind::Fjall => "fjall",
    })
}

/// A handle to an open store. Cheap to clone; the store closes when the last clone is dropped,
/// and that drop blocks until the batches already queued are durable and the backend is closed
/// (so the directory can be reopened at once).
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

/// Cumulative group-commit counters since the store was opened (successful commits only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Batches made durable (empty batches included).
    pub batches: u64,
    /// Group commits performed: calls to `Backend::write_durable`, each at most one sync.
    pub syncs: u64,
    /// Ops (puts + deletes) made durable.
    pub ops: u64,
}

/// Resolves once its batch is durable (or failed). Await it, or call
/// [`CommitTicket::wait_blocking`] from a non-async thread. Dropping it does not cancel the write.
#[must_use = "a commit ticket does nothing unless awaited; drop it explicitly to fire and forget"]
#[derive(Debug)]
pub struct CommitTicket {
    done: oneshot::Receiver<Result<(), StorageError>>,
}

impl CommitTicket {
    fn resolved(result: Result<(), StorageError>) -> Self {
        let (tx, done) = oneshot::channel();
        // The receiver is alive (it is returned below), so this send cannot fail.
        let _ = tx.send(result);
        CommitTicket { done }
    }

    /// Blocks the current thread until the batch is durable.
    ///
    /// # Panics
    ///
    /// When called from within an async runtime (tokio forbids blocking there); `.await` instead.
    pub fn wait_blocking(self) -> Result<(), StorageError> {
        self.done
            .blocking_recv()
            .unwrap_or(Err(StorageError::Closed))
    }
}

impl Future for CommitTicket {
    type Output = Result<(), StorageError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The sender is only dropped unanswered when the commit thread died mid-group.
        Pin::new(&mut self.done)
            .poll(cx)
            .map(|received| received.unwrap_or(Err(StorageError::Closed)))
    }
}

impl Store {
    /// The backend whose data is in `dir`, if exactly one has data there: a data dir keeps
    /// its backend when the operator names none, whatever the default is.
    pub fn existing_backend(dir: &Path) -> Option<BackendKind> {
        let mut found = BackendKind::ALL
            .into_iter()
            .filter(|kind| data_path(dir, *kind).exists());
        match (found.next(), found.next()) {
            (Some(kind), None) => Some(kind),
            _ => None,
        }
    }

    /// Opens (creating if needed) a store of `kind` in `dir`. The directory and everything in
    /// it are made private to the process's user (0700 and 0600, group and other bits off).
    pub fn open(
        kind: BackendKind,
        dir: &Path,
        options: StoreOptions,
    ) -> Result<Store, StorageError> {
        let io_error = |error: std::io::Error| StorageError::Io {
            path: dir.to_path_buf(),
            message: error.to_string(),
        };
        crate::private::create_dir(dir).map_err(io_error)?;
        let path = data_path(dir, kind);
        if !path.exists() {
            let others = BackendKind::ALL
                .into_iter()
                .filter(|other| *other != kind)
                .map(|other| data_path(dir, other))
                .filter(|other| other.exists());
            for other in others {
                tracing::warn!(
                    dir = %dir.display(),
                    backend = %kind,
                    found = %other.display(),
                    "opening an empty {kind} store next to data of another backend; \
                     that data will not be visible"
                );
            }
        }
        let backend: Box<dyn Backend> = match kind {
            BackendKind::Sled => Box::new(SledBackend::open(&path)?),
            BackendKind::Redb => Box::new(RedbBackend::open(&path)?),
            BackendKind::Fjall => Box::new(FjallBackend::open(&path)?),
        };
        // The backends create their files with the umask's mode; the store is private.
        crate::private::tighten(dir).map_err(io_error)?;
        Store::with_backend(kind, backend, options)
    }

    /// Wraps any backend; `open` for the real ones, fault-injecting backends in unit tests.
    pub(crate) fn with_backend(
        kind: BackendKind,
        backend: Box<dyn Backend>,
        options: StoreOptions,
    ) -> Result<Store, StorageError> {
        let shared = Arc::new(Shared {
            backend,
            queue: Mutex::new(Queue::default()),
            queued: Condvar::new(),
            max_batches_per_commit: options.max_batches_per_commit.max(1),
            batches: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            ops: AtomicU64::new(0),
        });
        let worker_shared = Arc::clone(&shared);
        let worker = std::thread::Builder::new()
            .name(format!("flit-commit-{kind}"))
            .spawn(move || commit_loop(&worker_shared))
            .map_err(|error| StorageError::backend("spawn commit thread", error))?;
        Ok(Store {
            inner: Arc::new(StoreInner {
                kind,
                shared,
                worker: Some(worker),
            }),
        })
    }

    pub fn kind(&self) -> BackendKind {
        self.inner.kind
    }

    /// Reads one key. Sees every write whose ticket has resolved (on sled, possibly also writes
    /// applied but not yet synced; on redb and fjall, only whole groups that are on disk).
    pub fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.shared.backend.get(tree, key)
    }

    /// Reads one page of a range scan. On redb and fjall a page is a consistent snapshot; on
    /// sled it is not (sled iterators step through the live tree), so a page read while a batch
    /// lands may hold part of it. Reads run on the caller's thread: they are in-memory most of
    /// the time, but a large scan from async code belongs in `spawn_blocking`.
    pub fn scan(&self, scan: &Scan) -> Result<Page, StorageError> {
        self.inner.shared.backend.scan(scan)
    }

    /// Counts the keys of `tree` starting with `prefix` (all keys when it is empty). Walks the
    /// keys, so it costs O(matches).
    pub fn count(&self, tree: &str, prefix: &[u8]) -> Result<u64, StorageError> {
        self.inner.shared.backend.count(tree, prefix)
    }

    /// Queues `batch` and returns a ticket that resolves once it is durable. Batches are applied
    /// in the order of `submit` calls. Never blocks on I/O (only on a short queue lock), so actors
    /// may call it from their handlers and await the ticket elsewhere.
    pub fn submit(&self, batch: Batch) -> CommitTicket {
        let shared = &self.inner.shared;
        let (done_tx, done) = oneshot::channel();
        {
            let mut queue = shared.lock_queue();
            if queue.worker_gone {
                return CommitTicket::resolved(Err(StorageError::Closed));
            }
            if let Some(failure) = &queue.failed {
                return CommitTicket::resolved(Err(failure.clone()));
            }
            queue.pending.push_back(Pending {
                batch,
                done: done_tx,
            });
        }
        shared.queued.notify_one();
        CommitTicket { done }
    }

    /// Submits `batch` and waits until it is durable.
    pub async fn commit(&self, batch: Batch) -> Result<(), StorageError> {
        self.submit(batch).await
    }

    /// Submits `batch` and blocks the calling thread until it is durable.
    ///
    /// # Panics
    ///
    /// When called from within an async runtime; use [`Store::commit`] there.
    pub fn commit_blocking(&self, batch: Batch) -> Result<(), StorageError> {
        self.submit(batch).wait_blocking()
    }

    pub fn stats(&self) -> CommitStats {
        let shared = &self.inner.shared;
        CommitStats {
            batches: shared.batches.load(Ordering::Relaxed),
            syncs: shared.syncs.load(Ordering::Relaxed),
            ops: shared.ops.load(Ordering::Relaxed),
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("kind", &self.inner.kind)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Owned by the `Store` clones; dropping it stops and joins the commit thread.
struct StoreInner {
    kind: BackendKind,
    shared: Arc<Shared>,
    /// Joined on drop so that the backend (and its file lock) is released by the time the last
    /// `Store` handle is gone, and a reopen in the same process succeeds.
    worker: Option<JoinHandle<()>>,
}

impl Drop for StoreInner {
    fn drop(&mut self) {
        self.shared.lock_queue().closing = true;
        self.shared.queued.notify_all();
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            tracing::error!(backend = %self.kind, "storage commit thread panicked");
        }
    }
}

/// State shared by the handles and the commit thread.
struct Shared {
    backend: Box<dyn Backend>,
    queue: Mutex<Queue>,
    /// Signalled when a batch is queued or the store starts closing.
    queued: Condvar,
    max_batches_per_commit: usize,
    batches: AtomicU64,
    syncs: AtomicU64,
    ops: AtomicU64,
}

impl Shared {
    fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        // The critical sections only move items in and out of the deque, so a poisoned lock
        // still guards a consistent queue.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Default)]
struct Queue {
    pending: VecDeque<Pending>,
    /// The last handle is gone: finish what is queued, then exit.
    closing: bool,
    /// The commit thread has exited; new submissions fail at once with `Closed`.
    worker_gone: bool,
    /// Set by the first failed group commit; every write after it fails with this.
    failed: Option<StorageError>,
}

struct Pending {
    batch: Batch,
    done: oneshot::Sender<Result<(), StorageError>>,
}

fn commit_loop(shared: &Shared) {
    // Runs on normal exit and on panic, so no submitter waits forever on a dead thread.
    let _exit = WorkerExit(shared);
    loop {
        let group: Vec<Pending> = {
            let mut queue = shared.lock_queue();
            while queue.pending.is_empty() && !queue.closing {
                queue = shared
                    .queued
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if queue.pending.is_empty() {
                return;
            }
            let take = queue.pending.len().min(shared.max_batches_per_commit);
            queue.pending.drain(..take).collect()
        };
        let (batches, done): (Vec<Batch>, Vec<_>) = group
            .into_iter()
            .map(|pending| (pending.batch, pending.done))
            .unzip();
        let ops: usize = batches.iter().map(Batch::len).sum();
        let started = Instant::now();
        let earlier_failure = shared.lock_queue().failed.clone();
        let result = match earlier_failure {
            Some(failure) => Err(failure),
            None => shared.backend.write_durable(&batches),
        };
        if let Err(error) = &result {
            let mut queue = shared.lock_queue();
            if queue.failed.is_none() {
                queue.failed = Some(StorageError::Failed(error.to_string()));
            }
        }
        let elapsed = started.elapsed();
        match &result {
            Ok(()) => {
                shared
                    .batches
                    .fetch_add(batches.len() as u64, Ordering::Relaxed);
                shared.syncs.fetch_add(1, Ordering::Relaxed);
                shared.ops.fetch_add(ops as u64, Ordering::Relaxed);
                metrics::histogram!("flit_storage_commit_seconds").record(elapsed.as_secs_f64());
                metrics::histogram!("flit_storage_commit_batches").record(batches.len() as f64);
                tracing::debug!(batches = batches.len(), ops, ?elapsed, "group commit");
            }
            Err(error) => {
                metrics::counter!("flit_storage_commit_failures_total").increment(1);
                tracing::warn!(batches = batches.len(), ops, ?elapsed, %error, "group commit failed");
            }
        }
        for done in done {
            // A dropped ticket just means nobody is waiting for this one.
            let _ = done.send(result.clone());
        }
    }
}

struct WorkerExit<'a>(&'a Shared);

impl Drop for WorkerExit<'_> {
    fn drop(&mut self) {
        let orphans = {
            let mut queue = self.0.lock_queue();
            queue.worker_gone = true;
            std::mem::take(&mut queue.pending)
        };
        for pending in orphans {
            let _ = pending.done.send(Err(StorageError::Closed));
        }
    }
}
