//! flit-storage owns Flit's embedded store and is the only crate that knows sled, redb or fjall
//! exist. It offers named, ordered byte trees; atomic batches of puts and deletes across trees;
//! paged range scans; and durable writes through a group-commit thread that lets many
//! concurrent writers share one fsync. Three backends sit behind the narrow [`Backend`] trait —
//! sled (the design's choice), redb (stable file format, ACID, B-tree) and fjall (a
//! log-structured merge tree whose journal takes each group as one appended record) — and one
//! conformance suite (`tests/conformance.rs`) holds all three to the same behaviour. Values are
//! encoded by [`codec`]: serde + bincode behind a format-version byte.
//!
//! Invariants: a batch is applied all-or-nothing and batches apply in `submit` order; a commit
//! ticket resolves only after its batch is on disk; no disk I/O for writes happens on the
//! caller's thread; after one failed group commit every later write fails (`Failed`), so no
//! acknowledgement is ever built on a write whose fate is unknown; the store's directory and
//! files are its user's alone (0700 and 0600, whatever the umask).

mod batch;
pub mod codec;
mod error;
mod fjall_backend;
mod private;
mod redb_backend;
mod scan;
mod sled_backend;
mod store;

use std::fmt;
use std::str::FromStr;

pub(crate) use batch::check_tree_name;
pub use batch::{Batch, BatchOp, MAX_TREE_NAME_LEN, is_valid_tree_name};
pub use codec::{FORMAT_VERSION, decode, encode, try_encode};
pub use error::StorageError;
pub use scan::{Page, Scan, prefix_end};
pub use store::{CommitStats, CommitTicket, Store};

/// Which embedded database backs a [`Store`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// sled 0.34: passes the crash test too; faster end to end through binds, slower on the
    /// HTTP accept path, and its latency suffers for a while after large write volumes.
    Sled,
    /// redb: stable on-disk format, ACID transactions. The default: it passes the crash test
    /// and accepts single and bulk sends faster (BENCHMARKS.md).
    #[default]
    Redb,
    /// fjall 3: a log-structured merge tree, one keyspace per tree. Write-optimised: a group
    /// commit appends one record to its journal and syncs it once; tables are written and
    /// merged by background threads.
    Fjall,
}

impl BackendKind {
    pub const ALL: [BackendKind; 3] = [BackendKind::Sled, BackendKind::Redb, BackendKind::Fjall];

    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Sled => "sled",
            BackendKind::Redb => "redb",
            BackendKind::Fjall => "fjall",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackendKind {
    type Err = StorageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sled" => Ok(BackendKind::Sled),
            "redb" => Ok(BackendKind::Redb),
            "fjall" => Ok(BackendKind::Fjall),
            _ => Err(StorageError::UnknownBackend(s.to_owned())),
        }
    }
}

/// Tuning for a [`Store`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Upper bound on the batches one group commit applies before syncing; bounds the latency a
    /// huge backlog adds to the first batch in it. Values below 1 are treated as 1.
    pub max_batches_per_commit: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_batches_per_commit: 4096,
        }
    }
}

/// The one narrow trait every backend implements. Reads may run on any thread concurrently with
/// `write_durable`, which the store calls from its single commit thread only.
pub trait Backend: Send + Sync + 'static {
    /// The value of `key` in `tree`, if any. A tree never written to reads as empty.
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    /// One page of `scan`.
    fn scan(&self, scan: &Scan) -> Result<Page, StorageError>;
    /// Number of keys in `tree` starting with `prefix`.
    fn count(&self, tree: &str, prefix: &[u8]) -> Result<u64, StorageError>;
    /// Apply every batch atomically (each batch all-or-nothing, in order) and make all of them
    /// durable on disk with ONE sync before returning. The built-in backends apply the whole
    /// call as one atomic unit, so no state between two batches of one call is ever visible.
    /// On error the outcome is UNKNOWN: redb rolls the transaction back, but sled may already
    /// have applied the group in memory (and may persist it later) when only the sync failed,
    /// and fjall may have written the group's journal record, which a reopen replays, when
    /// only its sync failed (it never shows the group to reads, and refuses later writes).
    /// The store therefore fails stop: after an error it refuses every later write.
    fn write_durable(&self, batches: &[Batch]) -> Result<(), StorageError>;
}

#[cfg(test)]
mod tests;
