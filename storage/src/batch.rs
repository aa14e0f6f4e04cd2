//! `Batch`: an ordered list of writes, possibly across several trees, that is applied
//! all-or-nothing.

/// One write inside a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    Put {
        tree: &'static str,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        tree: &'static str,
        key: Vec<u8>,
    },
}

impl BatchOp {
    pub fn tree(&self) -> &'static str {
        match self {
            BatchOp::Put { tree, .. } | BatchOp::Delete { tree, .. } => tree,
        }
    }

    pub fn key(&self) -> &[u8] {
        match self {
            BatchOp::Put { key, .. } | BatchOp::Delete { key, .. } => key,
        }
    }
}

/// An ordered list of puts and deletes across any trees. Ops apply in order, so a later op on the
/// same key wins. The whole batch becomes visible and durable atomically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    ops: Vec<BatchOp>,
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        Batch {
            ops: Vec::with_capacity(n),
        }
    }

    /// Sets `key` in `tree` to `value`.
    ///
    /// # Panics
    ///
    /// If `tree` is empty, longer than [`MAX_TREE_NAME_LEN`], not ASCII, or contains NUL (tree
    /// names are compile-time constants, so this is a programming error, not a runtime
    /// condition).
    pub fn put(&mut self, tree: &'static str, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        assert_tree_name(tree);
        self.ops.push(BatchOp::Put {
            tree,
            key: key.into(),
            value: value.into(),
        });
    }

    /// Removes `key` from `tree` (a no-op if it is absent).
    ///
    /// # Panics
    ///
    /// Same as [`Batch::put`].
    pub fn delete(&mut self, tree: &'static str, key: impl Into<Vec<u8>>) {
        assert_tree_name(tree);
        self.ops.push(BatchOp::Delete {
            tree,
            key: key.into(),
        });
    }

    /// Number of ops.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Appends `other`'s ops after this batch's ops.
    pub fn extend(&mut self, other: Batch) {
        self.ops.extend(other.ops);
    }

    /// The ops in application order; what a [`crate::Backend`] applies.
    pub fn ops(&self) -> &[BatchOp] {
        &self.ops
    }
}

/// The longest tree name: fjall's keyspace names are at most 255 bytes.
pub const MAX_TREE_NAME_LEN: usize = 255;

/// Whether `tree` is a usable tree name: non-empty ASCII without NUL, at most
/// [`MAX_TREE_NAME_LEN`] bytes. NUL is the separator of the sled backend's key space, so
/// allowing it would let one tree read another's keys.
pub fn is_valid_tree_name(tree: &str) -> bool {
    !tree.is_empty() && tree.len() <= MAX_TREE_NAME_LEN && tree.is_ascii() && !tree.contains('\0')
}

pub(crate) fn check_tree_name(tree: &str) -> Result<(), crate::StorageError> {
    if is_valid_tree_name(tree) {
        Ok(())
    } else {
        Err(crate::StorageError::InvalidTreeName(tree.to_owned()))
    }
}

fn assert_tree_name(tree: &str) {
    assert!(
        is_valid_tree_name(tree),
        "invalid tree name {tree:?}: must be non-empty ASCII without NUL, at most 255 bytes"
    );
}
