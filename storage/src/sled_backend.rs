//! The sled backend. Every logical tree lives in ONE sled tree under keys
//! `tree_name ++ 0x00 ++ key`, because sled 0.34's `apply_batch` is atomic within a single tree
//! only; a flat key space makes every cross-tree [`Batch`] one atomic sled batch. Tree names
//! carry no NUL, so `0x00` ends the name and no tree's keys fall inside another's range (not even
//! "msg" and "msgs").
//!
//! Durability: sled 0.34's `flush()` ends in `sync_file_range` on Linux, which neither flushes the
//! disk's write cache nor the file's metadata, and it never fsyncs the separate files it writes
//! for large pages (`blobs/`); only its background thread calls `fsync`, every 500 ms. So after
//! `flush()` this backend fsyncs, itself, any blob file written since the last group and then the
//! log file `db`: the one real sync per group that the [`Backend`] contract asks for.

use std::fs::File;
use std::ops::Bound;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::scan::collect_page;
use crate::{Backend, Batch, BatchOp, Page, Scan, StorageError, check_tree_name};

const SEPARATOR: u8 = 0x00;

pub(crate) struct SledBackend {
    db: sled::Db,
    /// sled's log file, opened by us only to `fsync` it (see the module doc).
    log_file: File,
    /// sled's directory, made private again when the backend closes.
    dir: PathBuf,
    blobs_dir: PathBuf,
    /// Highest blob id already fsynced; blob ids are log sequence numbers, so they only grow.
    /// Only the commit thread touches it; the mutex just makes the backend `Sync`.
    synced_blob: Mutex<i64>,
}

impl SledBackend {
    pub(crate) fn open(path: &Path) -> Result<Self, StorageError> {
        crate::private::create_dir(path)
            .map_err(|error| StorageError::backend("sled create directory", error))?;
        let db = open_with_retry(path)?;
        let log_file = File::open(path.join("db"))
            .map_err(|error| StorageError::backend("sled open log file for fsync", error))?;
        let backend = SledBackend {
            db,
            log_file,
            dir: path.to_path_buf(),
            blobs_dir: path.join("blobs"),
            synced_blob: Mutex::new(i64::MIN),
        };
        // Blobs left by an earlier run (perhaps one that crashed) get their fsync now; so do the
        // directory entries sled created.
        backend.sync_new_blobs()?;
        sync_dir(path)?;
        Ok(backend)
    }

    /// Fsyncs every blob file newer than the last one synced, then the blob directory.
    fn sync_new_blobs(&self) -> Result<(), StorageError> {
        let entries = match std::fs::read_dir(&self.blobs_dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(StorageError::backend("sled list blobs", error)),
        };
        let mut synced = self
            .synced_blob
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut newest = *synced;
        for entry in entries {
            let entry = entry.map_err(|error| StorageError::backend("sled list blobs", error))?;
            let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<i64>().ok())
            else {
                continue;
            };
            if id <= *synced {
                continue;
            }
            // sled writes a blob with the umask's mode: private it is, in a private directory.
            let private = std::fs::Permissions::from_mode(crate::private::FILE_MODE);
            match File::open(entry.path())
                .and_then(|file| file.set_permissions(private).and(Ok(file)))
                .and_then(|file| file.sync_all())
            {
                Ok(()) => newest = newest.max(id),
                // sled deletes blobs it has rewritten; a vanished one needs no sync.
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(StorageError::backend("sled fsync blob", error)),
            }
        }
        if newest > *synced {
            sync_dir(&self.blobs_dir)?;
            *synced = newest;
        }
        Ok(())
    }
}

/// The snapshots sled wrote while open have the umask's mode; they are made private as the
/// store closes (and again at the next open, after a crash).
impl Drop for SledBackend {
    fn drop(&mut self) {
        if let Err(error) = crate::private::tighten(&self.dir) {
            let dir = self.dir.display();
            tracing::warn!(%dir, %error, "cannot make the sled files private");
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|error| StorageError::backend("sled fsync directory", error))
}

/// `tree ++ 0x00`: the prefix of every key of `tree`.
fn tree_prefix(tree: &str) -> Result<Vec<u8>, StorageError> {
    check_tree_name(tree)?;
    let mut prefix = Vec::with_capacity(tree.len() + 1);
    prefix.extend_from_slice(tree.as_bytes());
    prefix.push(SEPARATOR);
    Ok(prefix)
}

fn full_key(tree_prefix: &[u8], key: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(tree_prefix.len() + key.len());
    full.extend_from_slice(tree_prefix);
    full.extend_from_slice(key);
    full
}

/// `tree ++ 0x01`: just past the last possible key of `tree`.
fn tree_end(tree_prefix: &[u8]) -> Vec<u8> {
    let mut end = tree_prefix.to_vec();
    if let Some(last) = end.last_mut() {
        *last = SEPARATOR + 1;
    }
    end
}

impl Backend for SledBackend {
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let prefix = tree_prefix(tree)?;
        let value = self
            .db
            .get(full_key(&prefix, key))
            .map_err(|error| StorageError::backend("sled get", error))?;
        Ok(value.map(|value| value.to_vec()))
    }

    fn scan(&self, scan: &Scan) -> Result<Page, StorageError> {
        let prefix = tree_prefix(scan.tree)?;
        let Some((lower, upper)) = scan.effective_bounds() else {
            return Ok(Page::default());
        };
        // Unbounded ends are clamped to the tree's own slice of the shared key space.
        let lower = match lower {
            Bound::Included(key) => Bound::Included(full_key(&prefix, &key)),
            Bound::Excluded(key) => Bound::Excluded(full_key(&prefix, &key)),
            Bound::Unbounded => Bound::Included(prefix.clone()),
        };
        let upper = match upper {
            Bound::Included(key) => Bound::Included(full_key(&prefix, &key)),
            Bound::Excluded(key) => Bound::Excluded(full_key(&prefix, &key)),
            Bound::Unbounded => Bound::Excluded(tree_end(&prefix)),
        };
        let range = self.db.range::<Vec<u8>, _>((lower, upper));
        let strip = |item: sled::Result<(sled::IVec, sled::IVec)>| {
            item.map(|(key, value)| (key[prefix.len()..].to_vec(), value.to_vec()))
                .map_err(|error| StorageError::backend("sled scan", error))
        };
        if scan.reverse {
            collect_page(range.rev().map(strip), scan.limit)
        } else {
            collect_page(range.map(strip), scan.limit)
        }
    }

    fn count(&self, tree: &str, prefix: &[u8]) -> Result<u64, StorageError> {
        let full_prefix = full_key(&tree_prefix(tree)?, prefix);
        let mut count = 0;
        for key in self.db.scan_prefix(full_prefix).keys() {
            key.map_err(|error| StorageError::backend("sled count", error))?;
            count += 1;
        }
        Ok(count)
    }

    fn write_durable(&self, batches: &[Batch]) -> Result<(), StorageError> {
        if batches.iter().all(Batch::is_empty) {
            // Earlier groups were flushed before they were acknowledged: nothing new to sync.
            return Ok(());
        }
        // The whole group becomes ONE sled batch: sled logs and stabilises every `apply_batch`
        // separately (a write + sync_file_range each), so per-batch calls would undo the
        // grouping. sled::Batch keeps the last write per key, which is exactly the state that
        // applying the batches one after another leaves; the group is then all-or-nothing,
        // which implies each batch is.
        let mut sled_batch = sled::Batch::default();
        for op in batches.iter().flat_map(Batch::ops) {
            let key = full_key(&tree_prefix(op.tree())?, op.key());
            match op {
                BatchOp::Put { value, .. } => sled_batch.insert(key, value.as_slice()),
                BatchOp::Delete { .. } => sled_batch.remove(key),
            }
        }
        self.db
            .apply_batch(sled_batch)
            .map_err(|error| StorageError::backend("sled apply_batch", error))?;
        self.db
            .flush()
            .map_err(|error| StorageError::backend("sled flush", error))?;
        // Blobs first: the log records written by `flush` point at them.
        self.sync_new_blobs()?;
        self.log_file
            .sync_all()
            .map_err(|error| StorageError::backend("sled fsync log", error))
    }
}

/// sled's page cache (its default is 1 GiB, which a large send fills): memory stays bounded
/// and the operating system's page cache still holds what is hot.
const SLED_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// sled's background flusher can still hold the directory's file lock for a moment after the
/// previous `Db` in this process was dropped (a restart in place, or a test reopening its
/// store); a lock held by another process stays held, so this gives up after a short wait.
fn open_with_retry(path: &Path) -> Result<sled::Db, StorageError> {
    let mut wait = std::time::Duration::from_millis(5);
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        match sled::Config::new()
            .path(path)
            .cache_capacity(SLED_CACHE_BYTES)
            .open()
        {
            Ok(db) => return Ok(db),
            // sled reports a held lock as an `Other` I/O error carrying this sentence.
            Err(sled::Error::Io(error))
                if error.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < give_up =>
            {
                std::thread::sleep(wait);
                wait = (wait * 2).min(std::time::Duration::from_millis(200));
            }
            Err(error) => return Err(StorageError::backend("sled open", error)),
        }
    }
}

#[cfg(test)]
mod lock_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reopening_right_after_a_drop_waits_out_the_flusher() {
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..20 {
            let backend = SledBackend::open(dir.path()).unwrap();
            drop(backend);
        }
    }

    #[test]
    fn a_lock_that_stays_held_is_refused_after_a_wait() {
        let dir = tempfile::tempdir().unwrap();
        let _held = SledBackend::open(dir.path()).unwrap();
        let started = std::time::Instant::now();
        assert!(SledBackend::open(dir.path()).is_err());
        assert!(started.elapsed() >= std::time::Duration::from_secs(2));
    }
}
