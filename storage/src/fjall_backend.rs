//! The fjall backend: a log-structured merge tree. Every tree is a fjall keyspace (an LSM tree of
//! its own) in one fjall database, and every keyspace shares the database's journal, so a group
//! commit is one fjall write batch: one journal record, atomic across keyspaces, made durable
//! by one `fdatasync`.
//!
//! Durability (read in fjall 3.1's source): `WriteBatch::commit` with
//! `durability(Some(PersistMode::SyncData))` writes the batch to the journal as a start marker
//! (item count, sequence number), the items, and an end marker (xxh3 checksum of the items and
//! a magic trailer), flushes its buffer to the file and calls `File::sync_data` before it
//! inserts anything into the memtables; the journal writer's mutex is held throughout. So a
//! group is neither visible nor acknowledged before it is on disk, and one that failed is never
//! visible in this process. On open, fjall replays the journals batch by batch: an entry that
//! does not decode (a torn tail, or the zeros of the journal's preallocated space) ends the
//! journal, which is truncated back to the end of the last complete batch, so a batch whose
//! end marker never reached the disk is dropped as a whole.
//!
//! Errors: when writing or syncing the journal fails, fjall marks the database poisoned and
//! refuses every later write (`Poisoned`) until it is reopened. The failed group may still be
//! on disk (its bytes reached the file and only the sync failed) and be replayed at the next
//! open, so its outcome is unknown; the store fails stop on it like on any other backend. A
//! background flush or compaction that fails poisons the database too.
//!
//! Reads go through a fjall snapshot taken at the latest published sequence number: a get
//! or a page sees every batch either whole or not at all, never a batch half inserted into
//! the memtables.
//!
//! fjall writes its journals, tables and version files with the umask's mode, some from its
//! worker threads, and cannot be told otherwise: [`PrivateFiles`] takes the group and other
//! bits off them on a timer while writes or background work may be creating files, after each
//! new keyspace, and once more when the database has closed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fjall::config::CompressionPolicy;
use fjall::{CompressionType, Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};

use crate::scan::collect_page;
use crate::{Backend, Batch, BatchOp, Page, Scan, StorageError, check_tree_name};

/// The block cache, the same as the other backends' page caches.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Each keyspace's memtable is sealed and flushed to a table once it holds this much (fjall's
/// default is 64 MiB, and its cap on all memtables together is not enforced in 3.1). A tree
/// holds the memtable being filled plus the sealed ones waiting for their flush (fjall stalls
/// its writes at four), and a few of Flit's 33 trees take nearly all writes (messages,
/// recipients, dispatch, ledger, idempotency), so memtables normally cost a few tens of MiB
/// beside the cache: 1,000,000 queued recipients must fit in 256 MB of resident memory
/// (measured: 164–171 MB with them parked behind a dead bind, redb 194 MB). Smaller memtables
/// only mean more, smaller level-0 tables, which compaction merges anyway. fjall stores this
/// setting with each keyspace when it creates it: a change here applies to new trees only.
const MEMTABLE_BYTES: u64 = 8 * 1024 * 1024;

/// Sealed journals are deleted once every memtable with data in them is flushed. A tree that is
/// rarely written keeps its small memtable, and with it every journal since, so once the
/// sealed journals reach this size fjall flushes the stragglers. fjall's minimum (its default is
/// 512 MiB): it bounds the disk the journals take and what a restart replays.
const MAX_JOURNAL_BYTES: u64 = 64 * 1024 * 1024;

/// fjall's worker threads flush memtables and compact tables. With two or more, the first one
/// leaves compactions to the others and takes flushes only, so a flush never waits behind a long
/// compaction (waiting flushes stall writes). Two is also all a two-core server can give to
/// background work beside the commit thread and the async workers; fjall's default is one per
/// core up to four.
const WORKER_THREADS: usize = 2;

/// Table files fjall keeps open (its default is 900). The process shares its descriptors with
/// every HTTP and SMPP connection, and the soft limit is 1024 on many systems; a table whose
/// descriptor was evicted is just opened again on its next read.
const MAX_OPEN_TABLES: usize = 256;

/// Every level's tables are lz4-compressed (fjall's default leaves the first two levels, where
/// nearly all of a Flit store lives, uncompressed). Measured on the release server under the
/// same fixed-rate load (4,000 single sends a second for 20 s, then 100,000 bulk recipients a
/// second for 15 s): tables took 18 MiB instead of 97–112 MiB, since neighbouring records
/// (recipient blocks above all) share most of their bytes, and server CPU per send stayed
/// within the run-to-run noise.
const TABLE_COMPRESSION: CompressionType = CompressionType::Lz4;

/// The journal is not compressed (fjall compresses values of 4 KiB and more by default): it
/// lives only until its memtables are flushed, so compressing it saves no lasting disk, and its
/// writes run on the commit thread, the one serial step every acknowledgement waits for.
const JOURNAL_COMPRESSION: CompressionType = CompressionType::None;

/// How often [`PrivateFiles`] looks for new files while they may be appearing.
const TIGHTEN_EVERY: Duration = Duration::from_secs(1);

/// How long after the last write [`PrivateFiles`] keeps looking whatever fjall reports: the
/// flushes a write triggers run on fjall's workers shortly after it.
const TIGHTEN_QUIET_AFTER: Duration = Duration::from_secs(10);

pub(crate) struct FjallBackend {
    /// Every keyspace by tree name, opened once: `Database::keyspace` takes a write lock and
    /// creates a keyspace that does not exist, which a read must not do. Filled at open with
    /// every keyspace on disk; only `write_durable` adds to it, so a tree missing here has never
    /// been written.
    keyspaces: RwLock<HashMap<Box<str>, Keyspace>>,
    db: Database,
    /// Declared last so that it is dropped last: its thread holds the database's last handle,
    /// so the database closes (its workers stopped, its journal synced, its lock released) when
    /// that thread is joined, and the final pass that follows sees every file fjall wrote.
    private: PrivateFiles,
}

impl FjallBackend {
    pub(crate) fn open(path: &Path) -> Result<Self, StorageError> {
        // Made here, the directory is 0700 from the start rather than the umask's mode.
        crate::private::create_dir(path)
            .map_err(|error| StorageError::backend("fjall create directory", error))?;
        // The entry naming it, which fjall (syncing what is inside) leaves to its creator.
        let parent = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty());
        sync_dir(parent.unwrap_or(Path::new(".")))?;
        let db = Database::builder(path)
            .cache_size(CACHE_BYTES)
            .journal_compression(JOURNAL_COMPRESSION)
            .max_journaling_size(MAX_JOURNAL_BYTES)
            .worker_threads(WORKER_THREADS)
            .max_cached_files(Some(MAX_OPEN_TABLES))
            .open()
            .map_err(|error| StorageError::backend("fjall open", error))?;
        let mut keyspaces = HashMap::new();
        for name in db.list_keyspace_names() {
            let keyspace = db
                .keyspace(&name, keyspace_options)
                .map_err(|error| StorageError::backend("fjall open keyspace", error))?;
            keyspaces.insert(Box::from(&*name), keyspace);
        }
        let private = PrivateFiles::start(path, &db)?;
        Ok(FjallBackend {
            keyspaces: RwLock::new(keyspaces),
            db,
            private,
        })
    }

    /// The keyspace of `tree`, or `None` when it was never written.
    fn existing(&self, tree: &str) -> Result<Option<Keyspace>, StorageError> {
        check_tree_name(tree)?;
        // A clone (an `Arc`) so that a long scan never holds the lock a new keyspace needs.
        Ok(self
            .keyspaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tree)
            .cloned())
    }

    /// The keyspace of `tree`, created (durably, before any batch can refer to it) if needed.
    /// Only the commit thread creates keyspaces.
    fn for_write(&self, tree: &'static str) -> Result<Keyspace, StorageError> {
        if let Some(keyspace) = self.existing(tree)? {
            return Ok(keyspace);
        }
        let keyspace = self
            .db
            .keyspace(tree, keyspace_options)
            .map_err(|error| StorageError::backend("fjall create keyspace", error))?;
        // fjall syncs the new keyspace's directory and files but not the entry naming that
        // directory in `keyspaces/`; a keyspace missing after a power cut would drop the
        // journal's records of it.
        sync_dir(&self.private.dir.join("keyspaces"))?;
        self.keyspaces
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(Box::from(tree), keyspace.clone());
        // Its directory, version file and the meta keyspace's new table have the umask's mode.
        self.private.tighten_now();
        Ok(keyspace)
    }
}

/// The options of a keyspace fjall creates; an existing keyspace keeps the ones it was created
/// with (fjall stores them).
fn keyspace_options() -> KeyspaceCreateOptions {
    KeyspaceCreateOptions::default()
        .max_memtable_size(MEMTABLE_BYTES)
        .data_block_compression_policy(CompressionPolicy::all(TABLE_COMPRESSION))
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    std::fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|error| StorageError::backend("fjall fsync directory", error))
}

fn owned(guard: fjall::Guard) -> Result<(Vec<u8>, Vec<u8>), StorageError> {
    guard
        .into_inner()
        .map(|(key, value)| (key.to_vec(), value.to_vec()))
        .map_err(|error| StorageError::backend("fjall scan", error))
}

impl Backend for FjallBackend {
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let Some(keyspace) = self.existing(tree)? else {
            return Ok(None);
        };
        let value = self
            .db
            .snapshot()
            .get(&keyspace, key)
            .map_err(|error| StorageError::backend("fjall get", error))?;
        Ok(value.map(|value| value.to_vec()))
    }

    fn scan(&self, scan: &Scan) -> Result<Page, StorageError> {
        let keyspace = self.existing(scan.tree)?;
        let (Some(keyspace), Some(bounds)) = (keyspace, scan.effective_bounds()) else {
            return Ok(Page::default());
        };
        let snapshot = self.db.snapshot();
        let range = snapshot.range::<Vec<u8>, _>(&keyspace, bounds);
        if scan.reverse {
            collect_page(range.rev().map(owned), scan.limit)
        } else {
            collect_page(range.map(owned), scan.limit)
        }
    }

    fn count(&self, tree: &str, prefix: &[u8]) -> Result<u64, StorageError> {
        let Some(keyspace) = self.existing(tree)? else {
            return Ok(0);
        };
        let mut count = 0;
        for guard in self.db.snapshot().prefix(&keyspace, prefix) {
            guard
                .key()
                .map_err(|error| StorageError::backend("fjall count", error))?;
            count += 1;
        }
        Ok(count)
    }

    fn write_durable(&self, batches: &[Batch]) -> Result<(), StorageError> {
        if batches.iter().all(Batch::is_empty) {
            // Earlier groups were synced before they were acknowledged: nothing new to sync.
            return Ok(());
        }
        // The whole group is ONE fjall batch: one journal record under one sequence number, so
        // a crash keeps all of it or none, and one sync. Within it a later write to a key
        // replaces an earlier one (the memtable's skip list keeps one entry per key and
        // sequence number, the last inserted; replay inserts in the same order), which is the
        // state applying the batches one after another leaves.
        let ops: usize = batches.iter().map(Batch::len).sum();
        let mut write = fjall::OwnedWriteBatch::with_capacity(self.db.clone(), ops)
            .durability(Some(PersistMode::SyncData));
        let mut handles: HashMap<&'static str, Keyspace> = HashMap::new();
        for op in batches.iter().flat_map(Batch::ops) {
            let keyspace = match handles.get(op.tree()) {
                Some(keyspace) => keyspace,
                None => {
                    let keyspace = self.for_write(op.tree())?;
                    handles.entry(op.tree()).or_insert(keyspace)
                }
            };
            match op {
                BatchOp::Put { key, value, .. } => {
                    write.insert(keyspace, key.as_slice(), value.as_slice());
                }
                BatchOp::Delete { key, .. } => write.remove(keyspace, key.as_slice()),
            }
        }
        write
            .commit()
            .map_err(|error| StorageError::backend("fjall commit", error))?;
        self.private.wrote();
        Ok(())
    }
}

/// Keeps the files fjall creates private while the database is open, and once more as it
/// closes. fjall creates journals, tables and version files with the umask's mode, partly from
/// its worker threads, and offers no way to choose the mode. The store's directory is 0700, so
/// no other user can reach them meanwhile; this is the second lock, for a directory that gets
/// copied or loosened. Walking the directory costs a `stat` per file (about 90 entries after a
/// few million sends), so it is not done per commit (20,000 commits a second) but by a thread
/// of its own, at most once a second and only while files may be appearing: within a while of
/// the last write, while fjall flushes or compacts, and once after each compaction run.
struct PrivateFiles {
    dir: PathBuf,
    shared: Arc<TightenShared>,
    thread: Option<JoinHandle<()>>,
}

struct TightenShared {
    /// Bumped by each group commit; the thread compares it with what it saw last time.
    writes: AtomicU64,
    stop: Mutex<bool>,
    wake: Condvar,
}

impl PrivateFiles {
    fn start(dir: &Path, db: &Database) -> Result<Self, StorageError> {
        let shared = Arc::new(TightenShared {
            writes: AtomicU64::new(0),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            let dir = dir.to_path_buf();
            // This handle keeps the database open until the thread ends, which is why the drop
            // below joins the thread before its last pass.
            let db = db.clone();
            let activity = move || Activity {
                busy: db.outstanding_flushes() > 0 || db.active_compactions() > 0,
                compactions: db.compactions_completed(),
            };
            std::thread::Builder::new()
                .name("flit-fjall-private".to_owned())
                .spawn(move || tighten_loop(&dir, &shared, activity))
                .map_err(|error| StorageError::backend("spawn fjall private-files thread", error))?
        };
        Ok(PrivateFiles {
            dir: dir.to_path_buf(),
            shared,
            thread: Some(thread),
        })
    }

    fn wrote(&self) {
        self.shared.writes.fetch_add(1, Ordering::Relaxed);
    }

    fn tighten_now(&self) {
        tighten_logged(&self.dir);
    }
}

impl Drop for PrivateFiles {
    fn drop(&mut self) {
        *self
            .shared
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("fjall private-files thread panicked");
        }
        tighten_logged(&self.dir);
    }
}

/// What fjall's workers are doing, as far as new files go.
struct Activity {
    /// A flush queued or a compaction running: files may be appearing.
    busy: bool,
    /// Compaction runs finished so far. One follows every flush (even when nothing needs
    /// merging), so a change means a flush or a compaction has finished since it was last read,
    /// and with it the files it wrote.
    compactions: usize,
}

fn tighten_loop(dir: &Path, shared: &TightenShared, activity: impl Fn() -> Activity) {
    let mut seen_writes = shared.writes.load(Ordering::Relaxed);
    let mut seen_compactions = activity().compactions;
    // Opening may have started flushes and compactions of what the journal held.
    let mut last_write = Instant::now();
    let mut stop = shared.stop.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        stop = shared
            .wake
            .wait_timeout(stop, TIGHTEN_EVERY)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        if *stop {
            return;
        }
        let writes = shared.writes.load(Ordering::Relaxed);
        if writes != seen_writes {
            seen_writes = writes;
            last_write = Instant::now();
        }
        let now = activity();
        if last_write.elapsed() < TIGHTEN_QUIET_AFTER
            || now.busy
            || now.compactions != seen_compactions
        {
            tighten_logged(dir);
        }
        seen_compactions = now.compactions;
    }
}

fn tighten_logged(dir: &Path) {
    if let Err(error) = crate::private::tighten(dir) {
        let dir = dir.display();
        tracing::warn!(%dir, %error, "cannot make the fjall files private");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn batch(tree: &'static str, key: &[u8], value: &[u8]) -> Batch {
        let mut batch = Batch::new();
        batch.put(tree, key, value);
        batch
    }

    /// One batch over three trees whose values make it span a few pages of the journal.
    fn three_tree_batch(key: &[u8], fill: u8) -> Batch {
        let mut batch = Batch::new();
        for tree in ["a", "b", "c"] {
            batch.put(tree, key, vec![fill; 3000]);
        }
        batch
    }

    fn in_trees(backend: &FjallBackend, key: &[u8]) -> Vec<bool> {
        ["a", "b", "c"]
            .into_iter()
            .map(|tree| backend.get(tree, key).unwrap().is_some())
            .collect()
    }

    /// The journal being written: fjall names them by number and writes the highest.
    fn active_journal(path: &Path) -> PathBuf {
        std::fs::read_dir(path)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter_map(|path| {
                let number = path.file_name()?.to_str()?.strip_suffix(".jnl")?;
                Some((number.parse::<u64>().ok()?, path))
            })
            .max()
            .unwrap()
            .1
    }

    /// Where the journal's records end: a record ends with a non-zero trailer, and what follows
    /// is unwritten (zeros of the preallocated space, or nothing).
    fn records_end(journal: &Path) -> u64 {
        let bytes = std::fs::read(journal).unwrap();
        bytes.iter().rposition(|byte| *byte != 0).unwrap() as u64 + 1
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }

    #[test]
    fn a_batch_torn_anywhere_in_the_journal_is_dropped_whole() {
        let dir = tempfile::tempdir().unwrap();
        let pristine = dir.path().join("pristine");
        let backend = FjallBackend::open(&pristine).unwrap();
        backend
            .write_durable(&[three_tree_batch(b"kept", 1)])
            .unwrap();
        drop(backend);
        let kept_end = records_end(&active_journal(&pristine));
        let backend = FjallBackend::open(&pristine).unwrap();
        backend
            .write_durable(&[three_tree_batch(b"torn", 2)])
            .unwrap();
        drop(backend);
        let journal = active_journal(&pristine);
        let torn_end = records_end(&journal);
        assert!(torn_end > kept_end + 9000, "{kept_end}..{torn_end}");

        // The torn batch's record cut at its first byte, in its items, and one byte short of
        // its end marker's trailer: what a crash leaves when only part of it reached the disk.
        for cut in [kept_end + 1, (kept_end + torn_end) / 2, torn_end - 1] {
            let copy = dir.path().join(format!("cut-{cut}"));
            copy_dir(&pristine, &copy);
            let copied_journal = copy.join(journal.file_name().unwrap());
            std::fs::OpenOptions::new()
                .write(true)
                .open(&copied_journal)
                .unwrap()
                .set_len(cut)
                .unwrap();
            let backend = FjallBackend::open(&copy).unwrap();
            assert_eq!(in_trees(&backend, b"kept"), [true; 3], "cut at {cut}");
            assert_eq!(in_trees(&backend, b"torn"), [false; 3], "cut at {cut}");
            // The journal was cut back to whole records, so what follows reads back.
            backend
                .write_durable(&[three_tree_batch(b"after", 3)])
                .unwrap();
            drop(backend);
            let backend = FjallBackend::open(&copy).unwrap();
            assert_eq!(in_trees(&backend, b"kept"), [true; 3], "cut at {cut}");
            assert_eq!(in_trees(&backend, b"torn"), [false; 3], "cut at {cut}");
            assert_eq!(in_trees(&backend, b"after"), [true; 3], "cut at {cut}");
        }
    }

    #[test]
    fn the_last_write_of_a_group_wins_in_memory_in_tables_and_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fjall");
        let backend = FjallBackend::open(&path).unwrap();
        let mut first = batch("t", b"deleted-then-put", b"old");
        first.put("t", b"put-twice", b"one");
        first.put("t", b"put-then-deleted", b"x");
        first.delete("t", b"deleted-then-put");
        let mut second = batch("t", b"put-twice", b"two");
        second.delete("t", b"put-then-deleted");
        second.put("t", b"deleted-then-put", b"new");
        backend.write_durable(&[first, second]).unwrap();
        let check = |backend: &FjallBackend, when: &str| {
            let get = |key: &[u8]| backend.get("t", key).unwrap();
            assert_eq!(get(b"put-twice"), Some(b"two".to_vec()), "{when}");
            assert_eq!(get(b"put-then-deleted"), None, "{when}");
            assert_eq!(get(b"deleted-then-put"), Some(b"new".to_vec()), "{when}");
            assert_eq!(backend.count("t", b"").unwrap(), 2, "{when}");
        };
        check(&backend, "in the memtable");
        let keyspace = backend.existing("t").unwrap().unwrap();
        keyspace.rotate_memtable_and_wait().unwrap();
        assert!(keyspace.table_count() > 0);
        drop(keyspace);
        check(&backend, "flushed to a table");
        drop(backend);
        check(&FjallBackend::open(&path).unwrap(), "reopened");
    }

    /// Paths under `dir` whose mode has a group or other bit.
    fn shared_paths(dir: &Path) -> Vec<PathBuf> {
        let mut shared = Vec::new();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(path) = pending.pop() {
            let Ok(metadata) = std::fs::symlink_metadata(&path) else {
                continue; // removed meanwhile (a compacted table, an old version)
            };
            if metadata.permissions().mode() & crate::private::SHARED_BITS != 0 {
                shared.push(path.clone());
            }
            if metadata.is_dir() {
                for entry in std::fs::read_dir(&path).into_iter().flatten() {
                    pending.push(entry.unwrap().path());
                }
            }
        }
        shared
    }

    #[test]
    fn files_fjall_writes_in_the_background_are_made_private_while_it_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fjall");
        // Opened without the store, whose open tightens everything once: here only the
        // backend's own passes do.
        let backend = FjallBackend::open(&path).unwrap();
        for round in 0..3u8 {
            backend
                .write_durable(&[three_tree_batch(&[round], round)])
                .unwrap();
            // A flush, on a fjall worker thread, writes a table and a version file.
            let keyspace = backend.existing("a").unwrap().unwrap();
            keyspace.rotate_memtable_and_wait().unwrap();
        }
        let started = Instant::now();
        while !shared_paths(&path).is_empty() {
            assert!(
                started.elapsed() < 4 * TIGHTEN_EVERY,
                "still open to others: {:?}",
                shared_paths(&path)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(backend);
        assert_eq!(shared_paths(&path), Vec::<PathBuf>::new(), "once closed");
    }

    #[test]
    fn reopening_right_after_a_drop_finds_the_lock_released() {
        let dir = tempfile::tempdir().unwrap();
        for round in 0..10u8 {
            let backend = FjallBackend::open(dir.path()).unwrap();
            backend
                .write_durable(&[batch("t", &[round], b"v")])
                .unwrap();
            drop(backend);
        }
        let backend = FjallBackend::open(dir.path()).unwrap();
        assert_eq!(backend.count("t", b"").unwrap(), 10);
    }

    #[test]
    fn a_second_open_of_the_same_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _held = FjallBackend::open(dir.path()).unwrap();
        assert!(FjallBackend::open(dir.path()).is_err());
    }
}
