//! What the engine stores and how it reads it back. `records` holds every stored record,
//! `tables` names every table with the type of its keys and of its values, and the types here
//! read and write them, so no call site pairs a tree name, a key encoding and a value type by
//! hand (bincode is positional: a value read under the wrong type is garbage, not an error).
//!
//! Key encodings are fixed: ids as their 16 bytes, numbers big-endian, the owning tenant first
//! wherever a tenant owns the record. Changing one is a migration of the data on disk.

pub(crate) mod records;
pub(crate) mod tables;

use std::marker::PhantomData;
use std::ops::Bound;

use flit_storage::{Batch, Scan, StorageError, Store, codec};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ids::{
    ApiKeyId, BindId, ContactId, DeliveryId, DeviceId, GroupId, InboundId, MessageId, RouteId,
    SenderId, SmppAccountId, SmppHeldId, TemplateId, TenantId, TransactionId, UserId, WebhookId,
};
use crate::numbers::Msisdn;
use crate::store::records::UnixMillis;

/// How a key, or the prefix of a key, is written.
pub(crate) trait Key {
    fn write(&self, out: &mut Vec<u8>);

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48);
        self.write(&mut out);
        out
    }
}

macro_rules! id_keys {
    ($($id:ty),*) => {$(
        impl Key for $id {
            fn write(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_bytes());
            }
        }
    )*};
}
id_keys!(
    ApiKeyId,
    BindId,
    ContactId,
    GroupId,
    InboundId,
    MessageId,
    RouteId,
    SenderId,
    SmppAccountId,
    SmppHeldId,
    TemplateId,
    UserId,
    TenantId,
    TransactionId,
    WebhookId,
    DeliveryId,
    DeviceId
);

impl Key for u32 {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
}

/// Big-endian, so key order is numeric order (an instant first makes a time index).
impl Key for u64 {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
}

impl Key for Msisdn {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.as_u64().to_be_bytes());
    }
}

/// A hash (an `Idempotency-Key`'s SHA-256).
impl Key for [u8; 32] {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl Key for String {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

/// The empty prefix: a scan over a whole table.
impl Key for () {
    fn write(&self, _out: &mut Vec<u8>) {}
}

impl<A: Key, B: Key> Key for (A, B) {
    fn write(&self, out: &mut Vec<u8>) {
        self.0.write(out);
        self.1.write(out);
    }
}

impl<A: Key, B: Key, C: Key> Key for (A, B, C) {
    fn write(&self, out: &mut Vec<u8>) {
        self.0.write(out);
        self.1.write(out);
        self.2.write(out);
    }
}

/// A name unique per tenant whatever its case: keyed lowercase.
#[derive(Clone, Debug)]
pub(crate) struct NameKey(String);

impl NameKey {
    pub(crate) fn of(name: &str) -> NameKey {
        NameKey(name.to_lowercase())
    }
}

impl Key for NameKey {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.0.as_bytes());
    }
}

/// A table whose keys are `K` and whose values are `V`, bincode-encoded.
pub(crate) struct Table<K, V> {
    name: &'static str,
    types: PhantomData<fn(&K) -> V>,
}

impl<K: Key, V: Serialize + DeserializeOwned> Table<K, V> {
    pub(crate) const fn new(name: &'static str) -> Self {
        Table {
            name,
            types: PhantomData,
        }
    }

    pub(crate) fn put(&self, batch: &mut Batch, key: &K, value: &V) {
        batch.put(self.name, key.encode(), codec::encode(value));
    }

    pub(crate) fn delete(&self, batch: &mut Batch, key: &K) {
        batch.delete(self.name, key.encode());
    }

    pub(crate) fn get(&self, store: &Store, key: &K) -> Result<Option<V>, StorageError> {
        store
            .get(self.name, &key.encode())?
            .map(|bytes| codec::decode(&bytes))
            .transpose()
    }

    pub(crate) fn decode(&self, bytes: &[u8]) -> Result<V, StorageError> {
        codec::decode(bytes)
    }

    /// A scan over the keys that start with `prefix` (a key, or the first fields of one).
    pub(crate) fn scan(&self, prefix: &impl Key) -> Scan {
        Scan::prefix(self.name, &prefix.encode())
    }

    /// A scan between two encoded keys.
    pub(crate) fn range(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Scan {
        Scan::range(self.name, start, end)
    }

    /// How many keys start with `prefix`.
    pub(crate) fn count(&self, store: &Store, prefix: &impl Key) -> Result<u64, StorageError> {
        store.count(self.name, &prefix.encode())
    }

    /// Deletes every record under `prefix`, a thousand keys a batch; returns how many.
    pub(crate) async fn clear(
        &self,
        store: &Store,
        prefix: &impl Key,
    ) -> Result<u64, StorageError> {
        clear_prefix(store, self.name, prefix.encode()).await
    }

    /// Deletes every record under `prefix` whose value `doomed` picks, walking the range a
    /// thousand keys at a time (reads off the async threads); returns how many.
    pub(crate) async fn remove_where(
        &self,
        store: &Store,
        prefix: &impl Key,
        doomed: impl Fn(&V) -> bool + Send + Sync + 'static,
    ) -> Result<u64, StorageError>
    where
        V: 'static,
    {
        let doomed = std::sync::Arc::new(doomed);
        let mut scan = self.scan(prefix);
        scan.limit = CLEAR_PAGE;
        let mut removed = 0;
        loop {
            let (page, doomed) = (scan.clone(), doomed.clone());
            let (keys, next) = off_async(store, move |store| {
                let page = store.scan(&page)?;
                let mut keys = Vec::new();
                for (key, value) in page.items {
                    if doomed(&codec::decode::<V>(&value)?) {
                        keys.push(key);
                    }
                }
                Ok((keys, page.next))
            })
            .await?;
            if !keys.is_empty() {
                let mut batch = Batch::with_capacity(keys.len());
                removed += keys.len() as u64;
                for key in keys {
                    batch.delete(self.name, key);
                }
                store.commit(batch).await?;
            }
            match next {
                Some(cursor) => scan.after = Some(cursor),
                None => return Ok(removed),
            }
        }
    }

    /// Every value under `prefix`, in key order.
    pub(crate) fn values(&self, store: &Store, prefix: &impl Key) -> Result<Vec<V>, StorageError> {
        self.read(store, &self.scan(prefix))
    }

    /// The values `scan` (one of this table's) finds.
    pub(crate) fn read(&self, store: &Store, scan: &Scan) -> Result<Vec<V>, StorageError> {
        debug_assert_eq!(scan.tree, self.name);
        store
            .scan(scan)?
            .items
            .iter()
            .map(|(_, value)| codec::decode(value))
            .collect()
    }
}

impl<K: Key, V: Serialize + DeserializeOwned> Table<(TenantId, K), V> {
    /// A tenant's records between two instants (inclusive), newest first: the second key
    /// field is a time-sortable id.
    pub(crate) fn newest_first(
        &self,
        tenant: TenantId,
        from: Option<UnixMillis>,
        until: Option<UnixMillis>,
    ) -> Scan {
        let start = tables::owned_time_bound(tenant, from.unwrap_or(0));
        let end = match until {
            Some(until) => {
                Bound::Excluded(tables::owned_time_bound(tenant, until.saturating_add(1)))
            }
            None => flit_storage::prefix_end(&tenant.encode()),
        };
        self.range(Bound::Included(start), end).reverse()
    }
}

impl<K: Key, V: Serialize + DeserializeOwned> Table<K, V> {
    /// Walks `scan` (one of this table's) in chunks, counting every value `keep` accepts and
    /// returning the ones on the asked page.
    pub(crate) fn paged(
        &self,
        store: &Store,
        mut scan: Scan,
        page: PageRequest,
        keep: impl Fn(&V) -> bool,
    ) -> Result<Paged<V>, StorageError> {
        const CHUNK: usize = 1024;
        let skip = (u64::from(page.page.max(1)) - 1).saturating_mul(u64::from(page.limit));
        let mut items = Vec::new();
        let mut total = 0u64;
        scan.limit = CHUNK;
        loop {
            let chunk = store.scan(&scan)?;
            for (_, value) in &chunk.items {
                let item: V = codec::decode(value)?;
                if !keep(&item) {
                    continue;
                }
                if total >= skip && items.len() < page.limit as usize {
                    items.push(item);
                }
                total += 1;
            }
            match chunk.next {
                Some(cursor) => scan.after = Some(cursor),
                None => break,
            }
        }
        Ok(Paged { items, total })
    }
}

/// One page of a listing, with the total that matched the filter.
#[derive(Debug)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// Page numbers start at 1.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    pub page: u32,
    pub limit: u32,
}

/// A table of keys alone (values are empty): memberships, whose count is a key count.
pub(crate) struct KeySet<K> {
    name: &'static str,
    types: PhantomData<fn(&K)>,
}

impl<K: Key> KeySet<K> {
    pub(crate) const fn new(name: &'static str) -> Self {
        KeySet {
            name,
            types: PhantomData,
        }
    }

    pub(crate) fn insert(&self, batch: &mut Batch, key: &K) {
        batch.put(self.name, key.encode(), Vec::new());
    }

    pub(crate) fn remove(&self, batch: &mut Batch, key: &K) {
        batch.delete(self.name, key.encode());
    }

    pub(crate) fn scan(&self, prefix: &impl Key) -> Scan {
        Scan::prefix(self.name, &prefix.encode())
    }

    pub(crate) fn count(&self, store: &Store, prefix: &impl Key) -> Result<u64, StorageError> {
        store.count(self.name, &prefix.encode())
    }

    /// The last `N` bytes of every key under `prefix`, in key order: the key's last field
    /// when that is an id (16) or a hash (32).
    pub(crate) fn tails<const N: usize>(
        &self,
        store: &Store,
        prefix: &impl Key,
    ) -> Result<Vec<[u8; N]>, StorageError> {
        Ok(store
            .scan(&self.scan(prefix))?
            .items
            .iter()
            .filter_map(|(key, _)| {
                key.len()
                    .checked_sub(N)
                    .and_then(|at| key[at..].try_into().ok())
            })
            .collect())
    }

    /// Deletes every key under `prefix`, a thousand a batch; returns how many.
    pub(crate) async fn clear(
        &self,
        store: &Store,
        prefix: &impl Key,
    ) -> Result<u64, StorageError> {
        clear_prefix(store, self.name, prefix.encode()).await
    }
}

/// Keys deleted per batch by the clearing walks: a batch commits in well under a
/// millisecond's worth of other tenants' waiting, and memory holds one page.
const CLEAR_PAGE: usize = 1000;

/// Deletes every key of `tree` under `prefix`, a page a batch; returns how many.
async fn clear_prefix(
    store: &Store,
    tree: &'static str,
    prefix: Vec<u8>,
) -> Result<u64, StorageError> {
    let mut scan = flit_storage::Scan::prefix(tree, &prefix);
    scan.limit = CLEAR_PAGE;
    let mut removed = 0;
    loop {
        // From the start each time: what the last batch deleted is gone.
        let page = scan.clone();
        let keys = off_async(store, move |store| {
            Ok(store
                .scan(&page)?
                .items
                .into_iter()
                .map(|(key, _)| key)
                .collect::<Vec<_>>())
        })
        .await?;
        if keys.is_empty() {
            return Ok(removed);
        }
        let mut batch = Batch::with_capacity(keys.len());
        removed += keys.len() as u64;
        for key in keys {
            batch.delete(tree, key);
        }
        store.commit(batch).await?;
    }
}

/// Runs a read of the store on a blocking thread, so an async worker never waits on the disk.
pub(crate) async fn off_async<T: Send + 'static>(
    store: &Store,
    read: impl FnOnce(&Store) -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || read(&store))
        .await
        .map_err(|error| StorageError::Backend(format!("a store read stopped: {error}")))?
}

/// One value under a fixed key of a shared table (the store's own settings).
pub(crate) struct Cell<V> {
    table: &'static str,
    key: &'static [u8],
    types: PhantomData<fn() -> V>,
}

impl<V: Serialize + DeserializeOwned> Cell<V> {
    pub(crate) const fn new(table: &'static str, key: &'static [u8]) -> Self {
        Cell {
            table,
            key,
            types: PhantomData,
        }
    }

    pub(crate) fn put(&self, batch: &mut Batch, value: &V) {
        batch.put(self.table, self.key.to_vec(), codec::encode(value));
    }

    pub(crate) fn delete(&self, batch: &mut Batch) {
        batch.delete(self.table, self.key.to_vec());
    }

    pub(crate) fn get(&self, store: &Store) -> Result<Option<V>, StorageError> {
        store
            .get(self.table, self.key)?
            .map(|bytes| codec::decode(&bytes))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_keys_are_their_fields_in_order() {
        let tenant = TenantId::from_bytes([1; 16]);
        let message = MessageId::from_bytes([2; 16]);
        let mut expected = vec![1u8; 16];
        expected.extend_from_slice(&[2; 16]);
        expected.extend_from_slice(&7u32.to_be_bytes());
        assert_eq!((tenant, message, 7u32).encode(), expected);
        assert_eq!((tenant, message).encode(), expected[..32]);
        assert_eq!(().encode(), Vec::<u8>::new());
        assert_eq!((tenant, NameKey::of("Promo")).encode()[16..], *b"promo");
        // Numbers sort as their values: a later instant is a later key.
        assert!((255u64, message).encode() < (256u64, message).encode());
    }
}
