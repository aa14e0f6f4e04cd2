//! The redb backend: one redb table per tree (`&[u8] -> &[u8]`), one write transaction per group
//! commit with `Durability::Immediate`, so a group costs one commit and its fsyncs. A table that
//! was never written reads as empty.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::ops::Bound;
use std::path::Path;

use redb::{
    Database, ReadOnlyTable, ReadableDatabase, ReadableTableMetadata, TableDefinition, TableError,
};

use crate::scan::collect_page;
use crate::{Backend, Batch, BatchOp, Page, Scan, StorageError, check_tree_name};

/// The page cache, the same as the sled backend's.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

type TreeTable<'a> = TableDefinition<'a, &'static [u8], &'static [u8]>;

pub(crate) struct RedbBackend {
    db: Database,
}

impl RedbBackend {
    pub(crate) fn open(path: &Path) -> Result<Self, StorageError> {
        // redb initialises an empty file as a new database: made here, it is 0600 from the
        // start rather than the umask's mode until the store tightens it.
        crate::private::create_file(path)
            .map_err(|error| StorageError::backend("redb create file", error))?;
        // redb's own default is a 1 GiB page cache, which a long-running server fills with
        // pages it read once (a restart's re-queue scan, say); the hot pages fit in far less.
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|error| StorageError::backend("redb open", error))?;
        Ok(RedbBackend { db })
    }

    /// Runs `read` on the tree's table in a fresh read transaction, or returns `None` when the
    /// table has never been created.
    fn with_table<T>(
        &self,
        tree: &str,
        read: impl FnOnce(&ReadOnlyTable<&'static [u8], &'static [u8]>) -> Result<T, StorageError>,
    ) -> Result<Option<T>, StorageError> {
        check_tree_name(tree)?;
        let txn = self
            .db
            .begin_read()
            .map_err(|error| StorageError::backend("redb begin_read", error))?;
        let table = match txn.open_table(TreeTable::new(tree)) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(error) => return Err(StorageError::backend("redb open_table", error)),
        };
        read(&table).map(Some)
    }
}

fn as_slice_bound(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    bound.as_ref().map(Vec::as_slice)
}

impl Backend for RedbBackend {
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let value = self.with_table(tree, |table| {
            let value = table
                .get(key)
                .map_err(|error| StorageError::backend("redb get", error))?;
            Ok(value.map(|value| value.value().to_vec()))
        })?;
        Ok(value.flatten())
    }

    fn scan(&self, scan: &Scan) -> Result<Page, StorageError> {
        let Some((lower, upper)) = scan.effective_bounds() else {
            check_tree_name(scan.tree)?;
            return Ok(Page::default());
        };
        let page = self.with_table(scan.tree, |table| {
            let range = table
                .range::<&[u8]>((as_slice_bound(&lower), as_slice_bound(&upper)))
                .map_err(|error| StorageError::backend("redb range", error))?;
            let own = |item: Result<_, redb::StorageError>| {
                item.map(
                    |(key, value): (redb::AccessGuard<&[u8]>, redb::AccessGuard<&[u8]>)| {
                        (key.value().to_vec(), value.value().to_vec())
                    },
                )
                .map_err(|error| StorageError::backend("redb scan", error))
            };
            if scan.reverse {
                collect_page(range.rev().map(own), scan.limit)
            } else {
                collect_page(range.map(own), scan.limit)
            }
        })?;
        Ok(page.unwrap_or_default())
    }

    fn count(&self, tree: &str, prefix: &[u8]) -> Result<u64, StorageError> {
        let count = self.with_table(tree, |table| {
            if prefix.is_empty() {
                return table
                    .len()
                    .map_err(|error| StorageError::backend("redb len", error));
            }
            let upper = crate::scan::prefix_end(prefix);
            let range = table
                .range::<&[u8]>((Bound::Included(prefix), as_slice_bound(&upper)))
                .map_err(|error| StorageError::backend("redb range", error))?;
            let mut count = 0;
            for item in range {
                item.map_err(|error| StorageError::backend("redb count", error))?;
                count += 1;
            }
            Ok(count)
        })?;
        Ok(count.unwrap_or(0))
    }

    fn write_durable(&self, batches: &[Batch]) -> Result<(), StorageError> {
        if batches.iter().all(Batch::is_empty) {
            // Earlier groups were committed durably before they were acknowledged.
            return Ok(());
        }
        // One transaction for the whole group: if any op fails the transaction is dropped
        // (aborted), so every batch of the group fails together and none is half-applied.
        let txn = self
            .db
            .begin_write()
            .map_err(|error| StorageError::backend("redb begin_write", error))?;
        {
            let mut tables = HashMap::new();
            for op in batches.iter().flat_map(Batch::ops) {
                let table = match tables.entry(op.tree()) {
                    Entry::Occupied(entry) => entry.into_mut(),
                    Entry::Vacant(entry) => {
                        check_tree_name(op.tree())?;
                        let table = txn
                            .open_table(TreeTable::new(op.tree()))
                            .map_err(|error| StorageError::backend("redb open_table", error))?;
                        entry.insert(table)
                    }
                };
                match op {
                    BatchOp::Put { key, value, .. } => {
                        table
                            .insert(key.as_slice(), value.as_slice())
                            .map_err(|error| StorageError::backend("redb insert", error))?;
                    }
                    BatchOp::Delete { key, .. } => {
                        table
                            .remove(key.as_slice())
                            .map_err(|error| StorageError::backend("redb remove", error))?;
                    }
                }
            }
        }
        txn.commit()
            .map_err(|error| StorageError::backend("redb commit", error))?;
        Ok(())
    }
}
