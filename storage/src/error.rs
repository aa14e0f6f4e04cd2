//! The one error type of flit-storage. It is `Clone` because a single failed group commit has to
//! be reported to every ticket in the group.

use std::path::PathBuf;

/// Everything that can go wrong in the store. Backend errors are flattened to strings (with the
/// operation that failed) so that callers never depend on a backend's types.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum StorageError {
    /// The backend (sled, redb or fjall) reported an error; the string names the operation and
    /// the cause.
    #[error("storage backend: {0}")]
    Backend(String),
    /// A value could not be encoded or decoded.
    #[error("codec: {0}")]
    Codec(String),
    /// A stored value starts with a format-version byte this build does not understand.
    #[error("unknown value format version {0}")]
    UnknownFormatVersion(u8),
    /// The store is shutting down (or its commit thread died) and no longer accepts writes.
    #[error("store is closed")]
    Closed,
    /// An earlier group commit failed, so what is on disk is no longer known to match what was
    /// acknowledged; the store refuses every write until it is reopened (fail-stop).
    #[error("store failed earlier and accepts no more writes: {0}")]
    Failed(String),
    /// A tree name was empty, too long, not ASCII, or contained NUL.
    #[error("invalid tree name {0:?}: must be non-empty ASCII without NUL, at most 255 bytes")]
    InvalidTreeName(String),
    /// `BackendKind::from_str` got a name it does not know.
    #[error("unknown storage backend {0:?} (expected \"sled\", \"redb\" or \"fjall\")")]
    UnknownBackend(String),
    /// Preparing the data directory failed.
    #[error("storage directory {path}: {message}")]
    Io { path: PathBuf, message: String },
}

impl StorageError {
    /// Wraps a backend error with the operation that produced it.
    pub(crate) fn backend(operation: &str, error: impl std::fmt::Display) -> Self {
        StorageError::Backend(format!("{operation}: {error}"))
    }
}
