//! The storage conformance suite: every case is written once, as a function of `BackendKind`, and
//! run against every backend on a fresh temp dir (`sled_<case>`, `redb_<case>` and
//! `fjall_<case>`). Keys and values are checked against a `BTreeMap` model wherever order
//! matters.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::ops::Bound;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flit_storage::{
    BackendKind, Batch, FORMAT_VERSION, Page, Scan, StorageError, Store, StoreOptions, decode,
    encode,
};
use tempfile::TempDir;

/// A store on its own temp dir; `reopen` drops it and opens the same dir again.
struct TestStore {
    kind: BackendKind,
    dir: TempDir,
    store: Store,
}

impl TestStore {
    fn open(kind: BackendKind) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(kind, dir.path(), StoreOptions::default()).unwrap();
        TestStore { kind, dir, store }
    }

    fn reopen(self) -> Self {
        let TestStore { kind, dir, store } = self;
        drop(store);
        let store = Store::open(kind, dir.path(), StoreOptions::default()).unwrap();
        TestStore { kind, dir, store }
    }

    fn put(&self, tree: &'static str, key: &[u8], value: &[u8]) {
        let mut batch = Batch::new();
        batch.put(tree, key, value);
        self.store.commit_blocking(batch).unwrap();
    }

    fn delete(&self, tree: &'static str, key: &[u8]) {
        let mut batch = Batch::new();
        batch.delete(tree, key);
        self.store.commit_blocking(batch).unwrap();
    }

    fn get(&self, tree: &str, key: &[u8]) -> Option<Vec<u8>> {
        self.store.get(tree, key).unwrap()
    }

    fn keys(&self, scan: &Scan) -> Vec<Vec<u8>> {
        let page = self.store.scan(scan).unwrap();
        page.items.into_iter().map(|(key, _)| key).collect()
    }

    /// Commits `model` into `tree` in one batch.
    fn load(&self, tree: &'static str, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
        let mut batch = Batch::with_capacity(model.len());
        for (key, value) in model {
            batch.put(tree, key.clone(), value.clone());
        }
        self.store.commit_blocking(batch).unwrap();
    }

    /// Follows `next` cursors from `scan` to the end, returning every page.
    fn all_pages(&self, scan: Scan) -> Vec<Page> {
        let mut pages = Vec::new();
        let mut cursor: Option<Vec<u8>> = None;
        loop {
            let mut this = scan.clone();
            this.after = cursor.take();
            let page = self.store.scan(&this).unwrap();
            cursor = page.next.clone();
            pages.push(page);
            if cursor.is_none() {
                return pages;
            }
            assert!(pages.len() < 10_000, "paging does not terminate");
        }
    }
}

/// Keys with awkward bytes (0x00, 0xFF, shared prefixes, different lengths), in random order.
fn awkward_model() -> BTreeMap<Vec<u8>, Vec<u8>> {
    let keys: [&[u8]; 14] = [
        b"b",
        b"a",
        b"ab",
        b"abc",
        b"abd",
        b"ab\xff",
        b"ab\xff\xff",
        b"ac",
        b"a\x00",
        b"\x00",
        b"\xff",
        b"\xff\xff",
        b"zz",
        b"abc\x00",
    ];
    keys.iter()
        .enumerate()
        .map(|(i, key)| (key.to_vec(), format!("v{i}").into_bytes()))
        .collect()
}

fn numbered_model(n: u32) -> BTreeMap<Vec<u8>, Vec<u8>> {
    (0..n)
        .map(|i| (i.to_be_bytes().to_vec(), i.to_le_bytes().to_vec()))
        .collect()
}

fn model_range(
    model: &BTreeMap<Vec<u8>, Vec<u8>>,
    start: &Bound<Vec<u8>>,
    end: &Bound<Vec<u8>>,
) -> Vec<Vec<u8>> {
    model
        .keys()
        .filter(|key| {
            let above = match start {
                Bound::Included(s) => *key >= s,
                Bound::Excluded(s) => *key > s,
                Bound::Unbounded => true,
            };
            let below = match end {
                Bound::Included(e) => *key <= e,
                Bound::Excluded(e) => *key < e,
                Bound::Unbounded => true,
            };
            above && below
        })
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The cases.

fn put_get_delete(kind: BackendKind) {
    let t = TestStore::open(kind);
    assert_eq!(t.store.kind(), kind);
    assert_eq!(t.get("msg", b"k"), None);
    t.put("msg", b"k", b"v");
    assert_eq!(t.get("msg", b"k"), Some(b"v".to_vec()));
    t.delete("msg", b"k");
    assert_eq!(t.get("msg", b"k"), None);
    // Deleting an absent key is not an error.
    t.delete("msg", b"never-there");
    assert_eq!(t.store.count("msg", b"").unwrap(), 0);
}

fn overwrite_replaces_the_value(kind: BackendKind) {
    let t = TestStore::open(kind);
    t.put("msg", b"k", b"first");
    t.put("msg", b"k", b"second, longer than the first");
    assert_eq!(
        t.get("msg", b"k"),
        Some(b"second, longer than the first".to_vec())
    );
    t.put("msg", b"k", b"");
    assert_eq!(
        t.get("msg", b"k"),
        Some(Vec::new()),
        "an empty value is a value, not a delete"
    );
    assert_eq!(t.store.count("msg", b"").unwrap(), 1);
}

fn later_ops_in_a_batch_win(kind: BackendKind) {
    let t = TestStore::open(kind);
    t.put("msg", b"deleted-then-put", b"old");
    let mut batch = Batch::new();
    batch.put("msg", b"put-twice".to_vec(), b"one".to_vec());
    batch.put("msg", b"put-twice".to_vec(), b"two".to_vec());
    batch.put("msg", b"put-then-deleted".to_vec(), b"x".to_vec());
    batch.delete("msg", b"put-then-deleted".to_vec());
    batch.delete("msg", b"deleted-then-put".to_vec());
    batch.put("msg", b"deleted-then-put".to_vec(), b"new".to_vec());
    assert_eq!(batch.len(), 6);
    t.store.commit_blocking(batch).unwrap();
    let check = |t: &TestStore| {
        assert_eq!(t.get("msg", b"put-twice"), Some(b"two".to_vec()));
        assert_eq!(t.get("msg", b"put-then-deleted"), None);
        assert_eq!(t.get("msg", b"deleted-then-put"), Some(b"new".to_vec()));
    };
    check(&t);
    // Recovered from the log too, where the ops of one batch may share one sequence number.
    check(&t.reopen());
}

fn unknown_tree_reads_as_empty(kind: BackendKind) {
    let t = TestStore::open(kind);
    t.put("other", b"k", b"v");
    assert_eq!(t.get("never_written", b"k"), None);
    assert_eq!(
        t.store.scan(&Scan::prefix("never_written", b"")).unwrap(),
        Page::default()
    );
    assert_eq!(t.store.count("never_written", b"").unwrap(), 0);
}

fn invalid_tree_names_are_rejected_on_read(kind: BackendKind) {
    let t = TestStore::open(kind);
    let too_long = "t".repeat(flit_storage::MAX_TREE_NAME_LEN + 1);
    for name in ["", "a\0b", "tr\u{e9}e", &too_long] {
        assert!(
            matches!(
                t.store.get(name, b"k"),
                Err(StorageError::InvalidTreeName(_))
            ),
            "{name:?}"
        );
        assert!(
            matches!(
                t.store.count(name, b""),
                Err(StorageError::InvalidTreeName(_))
            ),
            "{name:?}"
        );
    }
    // The longest valid name works (a tree name is a `&'static str`, hence the leak).
    let longest: &'static str = "t".repeat(flit_storage::MAX_TREE_NAME_LEN).leak();
    t.put(longest, b"k", b"v");
    assert_eq!(t.reopen().get(longest, b"k"), Some(b"v".to_vec()));
}

fn prefix_scan_is_ordered(kind: BackendKind) {
    let t = TestStore::open(kind);
    let model = awkward_model();
    t.load("msg", &model);
    for prefix in [&b""[..], b"a", b"ab", b"ab\xff", b"\xff", b"\x00", b"q"] {
        let expected: Vec<Vec<u8>> = model
            .keys()
            .filter(|key| key.starts_with(prefix))
            .cloned()
            .collect();
        let page = t.store.scan(&Scan::prefix("msg", prefix)).unwrap();
        let keys: Vec<Vec<u8>> = page.items.iter().map(|(key, _)| key.clone()).collect();
        assert_eq!(keys, expected, "prefix {prefix:?}");
        assert_eq!(page.next, None);
        for (key, value) in &page.items {
            assert_eq!(Some(value), model.get(key));
        }
        assert_eq!(
            t.store.count("msg", prefix).unwrap(),
            expected.len() as u64,
            "count {prefix:?}"
        );
    }
}

fn range_scan_honours_every_bound_kind(kind: BackendKind) {
    let t = TestStore::open(kind);
    let model = awkward_model();
    t.load("msg", &model);
    let points: [&[u8]; 5] = [b"", b"ab", b"abc", b"ab\xff", b"\xff"];
    let mut bounds = vec![Bound::Unbounded];
    for point in points {
        bounds.push(Bound::Included(point.to_vec()));
        bounds.push(Bound::Excluded(point.to_vec()));
    }
    for start in &bounds {
        for end in &bounds {
            let expected = model_range(&model, start, end);
            let scan = Scan::range("msg", start.clone(), end.clone());
            assert_eq!(t.keys(&scan), expected, "forward {start:?}..{end:?}");
            let mut reversed = expected.clone();
            reversed.reverse();
            assert_eq!(
                t.keys(&scan.reverse()),
                reversed,
                "reverse {start:?}..{end:?}"
            );
        }
    }
}

fn reverse_scan_is_descending(kind: BackendKind) {
    let t = TestStore::open(kind);
    let model = awkward_model();
    t.load("msg", &model);
    let mut expected: Vec<Vec<u8>> = model
        .keys()
        .filter(|k| k.starts_with(b"ab"))
        .cloned()
        .collect();
    expected.reverse();
    assert_eq!(t.keys(&Scan::prefix("msg", b"ab").reverse()), expected);
    let page = t
        .store
        .scan(&Scan::prefix("msg", b"").reverse().limit(2))
        .unwrap();
    assert_eq!(
        page.items,
        vec![
            (b"\xff\xff".to_vec(), model[&b"\xff\xff".to_vec()].clone()),
            (b"\xff".to_vec(), model[&b"\xff".to_vec()].clone()),
        ]
    );
    assert_eq!(page.next, Some(b"\xff".to_vec()));
}

fn check_paging(t: &TestStore, scan: Scan, expected: &[Vec<u8>], page_size: usize) {
    let pages = t.all_pages(scan.limit(page_size));
    let seen: Vec<Vec<u8>> = pages
        .iter()
        .flat_map(|page| page.items.iter().map(|(key, _)| key.clone()))
        .collect();
    assert_eq!(
        seen, expected,
        "every key exactly once, in order (page size {page_size})"
    );
    for page in &pages[..pages.len() - 1] {
        assert_eq!(page.items.len(), page_size);
        assert_eq!(page.next.as_ref(), page.items.last().map(|(key, _)| key));
    }
    assert!(pages.last().unwrap().items.len() <= page_size);
    assert_eq!(pages.len(), expected.len().div_ceil(page_size).max(1));
}

fn cursor_paging_visits_every_key_once_forward(kind: BackendKind) {
    let t = TestStore::open(kind);
    let model = numbered_model(100);
    t.load("msg", &model);
    let all: Vec<Vec<u8>> = model.keys().cloned().collect();
    for page_size in [1, 7, 10, 99, 100, 101] {
        check_paging(&t, Scan::prefix("msg", b""), &all, page_size);
    }
    // Paging inside explicit bounds stays inside them.
    let start = Bound::Excluded(10u32.to_be_bytes().to_vec());
    let end = Bound::Included(90u32.to_be_bytes().to_vec());
    let expected = model_range(&model, &start, &end);
    check_paging(&t, Scan::range("msg", start, end), &expected, 8);
    // A cursor outside the range: before it changes nothing, past it ends the scan.
    let before = Scan::prefix("msg", b"").after(Vec::new());
    assert_eq!(t.keys(&before), all);
    let past = Scan::prefix("msg", b"").after(vec![0xff; 5]);
    assert_eq!(t.store.scan(&past).unwrap(), Page::default());
}

fn cursor_paging_visits_every_key_once_reverse(kind: BackendKind) {
    let t = TestStore::open(kind);
    let model = numbered_model(100);
    t.load("msg", &model);
    let mut all: Vec<Vec<u8>> = model.keys().cloned().collect();
    all.reverse();
    for page_size in [1, 7, 10, 99, 100, 101] {
        check_paging(&t, Scan::prefix("msg", b"").reverse(), &all, page_size);
    }
    let start = Bound::Included(10u32.to_be_bytes().to_vec());
    let end = Bound::Excluded(90u32.to_be_bytes().to_vec());
    let mut expected = model_range(&model, &start, &end);
    expected.reverse();
    check_paging(&t, Scan::range("msg", start, end).reverse(), &expected, 8);
}

fn paging_survives_writes_between_pages(kind: BackendKind) {
    let t = TestStore::open(kind);
    t.load("msg", &numbered_model(20));
    let first = t.store.scan(&Scan::prefix("msg", b"").limit(5)).unwrap();
    let cursor = first.next.unwrap();
    // The cursor is a key, not a position: deleting it and inserting before it shifts nothing.
    t.delete("msg", &cursor);
    t.put("msg", &1u32.to_be_bytes()[..3], b"before the cursor");
    let rest = t.keys(&Scan::prefix("msg", b"").after(cursor));
    let expected: Vec<Vec<u8>> = (5u32..20).map(|i| i.to_be_bytes().to_vec()).collect();
    assert_eq!(rest, expected);
}

fn limit_truncates_and_sets_next_only_when_more_remain(kind: BackendKind) {
    let t = TestStore::open(kind);
    t.load("msg", &numbered_model(10));
    let page = t.store.scan(&Scan::prefix("msg", b"").limit(3)).unwrap();
    assert_eq!(page.items.len(), 3);
    assert_eq!(page.next, Some(2u32.to_be_bytes().to_vec()));
    let exact = t.store.scan(&Scan::prefix("msg", b"").limit(10)).unwrap();
    assert_eq!(exact.items.len(), 10);
    assert_eq!(
        exact.next, None,
        "no next when the page ends exactly at the last key"
    );
    let zero = t.store.scan(&Scan::prefix("msg", b"").limit(0)).unwrap();
    assert_eq!(zero, Page::default());
    let last_page = t
        .store
        .scan(
            &Scan::prefix("msg", b"")
                .after(7u32.to_be_bytes().to_vec())
                .limit(2),
        )
        .unwrap();
    assert_eq!(last_page.items.len(), 2);
    assert_eq!(last_page.next, None);
}

fn trees_are_isolated(kind: BackendKind) {
    let t = TestStore::open(kind);
    let mut batch = Batch::new();
    // "msg" is a prefix of "msgs" and "msg_idx"; keys are chosen to collide with the
    // other tree's name bytes too.
    batch.put("msg", b"k".to_vec(), b"msg".to_vec());
    batch.put("msgs", b"k".to_vec(), b"msgs".to_vec());
    batch.put("msg_idx", b"k".to_vec(), b"msg_idx".to_vec());
    batch.put("msg", b"s\x00k".to_vec(), b"looks like msgs/k".to_vec());
    batch.put("msg", b"\xff\xff".to_vec(), b"high".to_vec());
    batch.put("ms", b"g".to_vec(), b"ms".to_vec());
    t.store.commit_blocking(batch).unwrap();

    assert_eq!(t.get("msg", b"k"), Some(b"msg".to_vec()));
    assert_eq!(t.get("msgs", b"k"), Some(b"msgs".to_vec()));
    assert_eq!(t.get("msg_idx", b"k"), Some(b"msg_idx".to_vec()));
    assert_eq!(t.get("msgs", b"\x00k"), None);
    assert_eq!(
        t.keys(&Scan::prefix("msg", b"")),
        vec![b"k".to_vec(), b"s\x00k".to_vec(), b"\xff\xff".to_vec()]
    );
    assert_eq!(t.keys(&Scan::prefix("msgs", b"")), vec![b"k".to_vec()]);
    assert_eq!(t.keys(&Scan::prefix("ms", b"")), vec![b"g".to_vec()]);
    let unbounded = Scan::range("msg", Bound::Unbounded, Bound::Unbounded);
    assert_eq!(t.keys(&unbounded).len(), 3);
    assert_eq!(t.keys(&unbounded.reverse()).len(), 3);
    assert_eq!(t.store.count("msg", b"").unwrap(), 3);
    assert_eq!(t.store.count("msgs", b"").unwrap(), 1);

    t.delete("msgs", b"k");
    assert_eq!(
        t.get("msg", b"k"),
        Some(b"msg".to_vec()),
        "a delete in one tree leaves the other"
    );
}

fn atomic_batch_across_trees(kind: BackendKind) {
    let t = TestStore::open(kind);
    t.put("queue", b"m1", b"pending");
    // Move a message from the queue to the sent tree and bump a counter, all in one batch.
    let mut batch = Batch::new();
    batch.delete("queue", b"m1".to_vec());
    batch.put("sent", b"m1".to_vec(), b"sent".to_vec());
    batch.put("counters", b"sent".to_vec(), encode(&1u64));
    let mut second = Batch::new();
    second.put("audit", b"m1".to_vec(), b"moved".to_vec());
    batch.extend(second);
    assert_eq!(batch.len(), 4);
    t.store.commit_blocking(batch).unwrap();

    let check = |t: &TestStore| {
        assert_eq!(t.get("queue", b"m1"), None);
        assert_eq!(t.get("sent", b"m1"), Some(b"sent".to_vec()));
        assert_eq!(
            decode::<u64>(&t.get("counters", b"sent").unwrap()).unwrap(),
            1
        );
        assert_eq!(t.get("audit", b"m1"), Some(b"moved".to_vec()));
    };
    check(&t);
    check(&t.reopen());
}

fn many_concurrent_committers_share_syncs(kind: BackendKind) {
    const TASKS: u32 = 200;
    let t = TestStore::open(kind);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..TASKS {
            let store = t.store.clone();
            tasks.push(tokio::spawn(async move {
                let mut batch = Batch::new();
                batch.put("msg", i.to_be_bytes(), i.to_le_bytes());
                batch.put("idx", i.to_be_bytes(), Vec::new());
                store.commit(batch).await
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
    });
    let stats = t.store.stats();
    assert_eq!(stats.batches, u64::from(TASKS));
    assert_eq!(stats.ops, 2 * u64::from(TASKS));
    assert!(stats.syncs >= 1);
    assert!(
        stats.syncs < stats.batches,
        "group commit did not group: {stats:?}"
    );
    assert_eq!(t.store.count("msg", b"").unwrap(), u64::from(TASKS));
    let t = t.reopen();
    for i in 0..TASKS {
        assert_eq!(
            t.get("msg", &i.to_be_bytes()),
            Some(i.to_le_bytes().to_vec())
        );
    }
    assert_eq!(t.store.count("idx", b"").unwrap(), u64::from(TASKS));
}

fn submit_order_is_application_order(kind: BackendKind) {
    let t = TestStore::open(kind);
    // Fire-and-forget tickets for successive values of one key; the last submitted must win.
    let tickets: Vec<_> = (0u32..500)
        .map(|i| {
            let mut batch = Batch::new();
            batch.put("msg", b"k".to_vec(), i.to_be_bytes());
            t.store.submit(batch)
        })
        .collect();
    for ticket in tickets {
        ticket.wait_blocking().unwrap();
    }
    assert_eq!(t.get("msg", b"k"), Some(499u32.to_be_bytes().to_vec()));
    // Batches that shared a group commit keep their order when the log is replayed.
    assert_eq!(
        t.reopen().get("msg", b"k"),
        Some(499u32.to_be_bytes().to_vec())
    );
}

fn reopen_sees_every_committed_write(kind: BackendKind) {
    let t = TestStore::open(kind);
    let model = numbered_model(300);
    for chunk in model.iter().collect::<Vec<_>>().chunks(37) {
        let mut batch = Batch::new();
        for (key, value) in chunk {
            batch.put("msg", (*key).clone(), (*value).clone());
        }
        t.store.commit_blocking(batch).unwrap();
    }
    t.delete("msg", &7u32.to_be_bytes());
    let clone = t.store.clone();
    let t = t.reopen_after(clone);
    let mut expected = model.clone();
    expected.remove(7u32.to_be_bytes().as_slice());
    let page = t.store.scan(&Scan::prefix("msg", b"")).unwrap();
    assert_eq!(page.items, expected.into_iter().collect::<Vec<_>>());
    // And it is writable again.
    t.put("msg", b"after", b"reopen");
    assert_eq!(t.reopen().get("msg", b"after"), Some(b"reopen".to_vec()));
}

impl TestStore {
    /// Reopens once the extra handle `other` is dropped too: the store closes with its last handle.
    fn reopen_after(self, other: Store) -> Self {
        drop(other);
        self.reopen()
    }
}

fn an_empty_batch_commits(kind: BackendKind) {
    let t = TestStore::open(kind);
    let batch = Batch::new();
    assert!(batch.is_empty());
    t.store.commit_blocking(batch).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(t.store.commit(Batch::default())).unwrap();
    assert_eq!(t.store.stats().batches, 2);
    assert_eq!(t.store.stats().ops, 0);
}

fn codec_roundtrip_and_unknown_version(kind: BackendKind) {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Message {
        id: u64,
        to: String,
        parts: Vec<String>,
        status: Status,
        callback: Option<String>,
    }
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    enum Status {
        Queued,
        Failed { code: u16 },
    }
    let t = TestStore::open(kind);
    let message = Message {
        id: 42,
        to: "+233201234567".to_owned(),
        parts: vec!["héllo".to_owned(), "wörld".to_owned()],
        status: Status::Failed { code: 8 },
        callback: None,
    };
    let bytes = encode(&message);
    assert_eq!(bytes[0], FORMAT_VERSION);
    t.put("msg", b"42", &bytes);
    let stored = t.get("msg", b"42").unwrap();
    assert_eq!(decode::<Message>(&stored).unwrap(), message);
    assert_eq!(
        decode::<Status>(&encode(&Status::Queued)).unwrap(),
        Status::Queued
    );

    let mut future = stored.clone();
    future[0] = FORMAT_VERSION + 1;
    assert_eq!(
        decode::<Message>(&future),
        Err(StorageError::UnknownFormatVersion(FORMAT_VERSION + 1))
    );
    assert!(matches!(
        decode::<Message>(&[]),
        Err(StorageError::Codec(_))
    ));
    assert!(matches!(
        decode::<Message>(&stored[..stored.len() - 1]),
        Err(StorageError::Codec(_))
    ));
    let mut trailing = stored;
    trailing.push(0);
    assert!(matches!(
        decode::<Message>(&trailing),
        Err(StorageError::Codec(_))
    ));
}

fn large_values_roundtrip(kind: BackendKind) {
    let t = TestStore::open(kind);
    let big: Vec<u8> = (0..1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
    let mut batch = Batch::new();
    batch.put("blob", b"one".to_vec(), big.clone());
    batch.put(
        "blob",
        b"two".to_vec(),
        big.iter().rev().copied().collect::<Vec<u8>>(),
    );
    t.store.commit_blocking(batch).unwrap();
    assert_eq!(t.get("blob", b"one").as_deref(), Some(&big[..]));
    let t = t.reopen();
    assert_eq!(t.get("blob", b"one").as_deref(), Some(&big[..]));
    let page = t.store.scan(&Scan::prefix("blob", b"t")).unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].1.len(), big.len());
    assert_eq!(page.items[0].1[0], big[big.len() - 1]);
}

/// Every path under `dir` (itself included) whose mode has a group or other bit, with the mode.
fn shared_paths(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut shared = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            shared.push((path.clone(), mode));
        }
        if metadata.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        }
    }
    shared
}

fn the_store_is_private_to_its_user(kind: BackendKind) {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("store");
    let store = Store::open(kind, &dir, StoreOptions::default()).unwrap();
    let mut batch = Batch::new();
    batch.put("small", b"k".to_vec(), b"v".to_vec());
    // Large enough for sled to write it to a file of its own (a blob).
    batch.put("big", b"k".to_vec(), vec![7u8; 512 * 1024]);
    store.commit_blocking(batch).unwrap();
    assert_eq!(shared_paths(&dir), vec![], "while open");
    drop(store);
    assert_eq!(shared_paths(&dir), vec![], "once closed");

    // A store left readable by others (copied with the wrong umask, say) is made private.
    use std::os::unix::fs::PermissionsExt;
    let loose = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    loose(&dir, 0o755);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        loose(&path, if path.is_dir() { 0o775 } else { 0o644 });
    }
    assert!(!shared_paths(&dir).is_empty());
    let store = Store::open(kind, &dir, StoreOptions::default()).unwrap();
    assert_eq!(shared_paths(&dir), vec![], "reopened");
    assert_eq!(
        store.get("small", b"k").unwrap().as_deref(),
        Some(&b"v"[..])
    );
}

/// Kills a writer process mid-stream (SIGKILL, so no destructor runs) and checks on reopen that
/// every acknowledged batch survived and no batch survived in part. This is a process crash, not
/// a power cut: it tests log recovery and batch atomicity, not fsync.
fn crash_mid_write_keeps_batches_whole(kind: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let test_name = format!("{kind}_crash_mid_write_keeps_batches_whole");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &test_name, "--nocapture", "--test-threads=1"])
        .env(CRASH_CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = BTreeSet::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    while acked.len() < 300 && started.elapsed() < Duration::from_secs(20) {
        match lines.next() {
            Some(line) => {
                if let Some(seq) = line.unwrap().strip_prefix("acked ") {
                    acked.insert(seq.parse::<u32>().unwrap());
                }
            }
            None => break,
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        acked.len() >= 50,
        "the writer acknowledged only {} batches",
        acked.len()
    );

    let store = Store::open(kind, dir.path(), StoreOptions::default()).unwrap();
    let present: BTreeSet<u32> = ["crash_a", "crash_b", "crash_c"]
        .into_iter()
        .map(|tree| {
            let page = store.scan(&Scan::prefix(tree, b"")).unwrap();
            page.items
                .iter()
                .map(|(key, _)| u32::from_be_bytes(key[..].try_into().unwrap()))
                .collect()
        })
        .reduce(|a: BTreeSet<u32>, b| {
            assert_eq!(a, b, "a batch survived in some trees but not others");
            a
        })
        .unwrap();
    let lost: Vec<&u32> = acked.difference(&present).collect();
    assert!(
        lost.is_empty(),
        "acknowledged batches lost after the crash: {lost:?}"
    );
    for seq in &present {
        let value = store.get("crash_a", &seq.to_be_bytes()).unwrap().unwrap();
        assert_eq!(value, crash_value(*seq), "batch {seq} was torn");
    }
}

const CRASH_CHILD_DIR: &str = "FLIT_STORAGE_CRASH_CHILD_DIR";

fn crash_value(seq: u32) -> Vec<u8> {
    let mut value = seq.to_be_bytes().repeat(1024);
    value.truncate(4000);
    value
}

/// The writer half of the crash test, run in the child process: 4 threads commit 3-tree batches
/// until killed and print each acknowledgement.
fn crash_child(kind: BackendKind, dir: &std::path::Path) {
    let store = Store::open(kind, dir, StoreOptions::default()).unwrap();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            let next = std::sync::Arc::clone(&next);
            std::thread::spawn(move || {
                // Bounded, so an orphaned child (the parent test died) still exits.
                loop {
                    let seq = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if seq >= 100_000 {
                        return;
                    }
                    let mut batch = Batch::new();
                    for tree in ["crash_a", "crash_b", "crash_c"] {
                        batch.put(tree, seq.to_be_bytes(), crash_value(seq));
                    }
                    store.commit_blocking(batch).unwrap();
                    println!("acked {seq}");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Every case, once per backend.

macro_rules! conformance {
    ($($case:ident => $sled:ident, $redb:ident, $fjall:ident;)*) => {
        $(
            #[test]
            fn $sled() {
                $case(BackendKind::Sled);
            }

            #[test]
            fn $redb() {
                $case(BackendKind::Redb);
            }

            #[test]
            fn $fjall() {
                $case(BackendKind::Fjall);
            }
        )*
    };
}

conformance! {
    put_get_delete => sled_put_get_delete, redb_put_get_delete, fjall_put_get_delete;
    overwrite_replaces_the_value =>
        sled_overwrite_replaces_the_value,
        redb_overwrite_replaces_the_value,
        fjall_overwrite_replaces_the_value;
    later_ops_in_a_batch_win =>
        sled_later_ops_in_a_batch_win,
        redb_later_ops_in_a_batch_win,
        fjall_later_ops_in_a_batch_win;
    unknown_tree_reads_as_empty =>
        sled_unknown_tree_reads_as_empty,
        redb_unknown_tree_reads_as_empty,
        fjall_unknown_tree_reads_as_empty;
    invalid_tree_names_are_rejected_on_read =>
        sled_invalid_tree_names_are_rejected_on_read,
        redb_invalid_tree_names_are_rejected_on_read,
        fjall_invalid_tree_names_are_rejected_on_read;
    prefix_scan_is_ordered =>
        sled_prefix_scan_is_ordered, redb_prefix_scan_is_ordered, fjall_prefix_scan_is_ordered;
    range_scan_honours_every_bound_kind =>
        sled_range_scan_honours_every_bound_kind,
        redb_range_scan_honours_every_bound_kind,
        fjall_range_scan_honours_every_bound_kind;
    reverse_scan_is_descending =>
        sled_reverse_scan_is_descending,
        redb_reverse_scan_is_descending,
        fjall_reverse_scan_is_descending;
    cursor_paging_visits_every_key_once_forward =>
        sled_cursor_paging_visits_every_key_once_forward,
        redb_cursor_paging_visits_every_key_once_forward,
        fjall_cursor_paging_visits_every_key_once_forward;
    cursor_paging_visits_every_key_once_reverse =>
        sled_cursor_paging_visits_every_key_once_reverse,
        redb_cursor_paging_visits_every_key_once_reverse,
        fjall_cursor_paging_visits_every_key_once_reverse;
    paging_survives_writes_between_pages =>
        sled_paging_survives_writes_between_pages,
        redb_paging_survives_writes_between_pages,
        fjall_paging_survives_writes_between_pages;
    limit_truncates_and_sets_next_only_when_more_remain =>
        sled_limit_truncates_and_sets_next_only_when_more_remain,
        redb_limit_truncates_and_sets_next_only_when_more_remain,
        fjall_limit_truncates_and_sets_next_only_when_more_remain;
    trees_are_isolated =>
        sled_trees_are_isolated, redb_trees_are_isolated, fjall_trees_are_isolated;
    atomic_batch_across_trees =>
        sled_atomic_batch_across_trees,
        redb_atomic_batch_across_trees,
        fjall_atomic_batch_across_trees;
    many_concurrent_committers_share_syncs =>
        sled_many_concurrent_committers_share_syncs,
        redb_many_concurrent_committers_share_syncs,
        fjall_many_concurrent_committers_share_syncs;
    submit_order_is_application_order =>
        sled_submit_order_is_application_order,
        redb_submit_order_is_application_order,
        fjall_submit_order_is_application_order;
    reopen_sees_every_committed_write =>
        sled_reopen_sees_every_committed_write,
        redb_reopen_sees_every_committed_write,
        fjall_reopen_sees_every_committed_write;
    an_empty_batch_commits =>
        sled_an_empty_batch_commits, redb_an_empty_batch_commits, fjall_an_empty_batch_commits;
    codec_roundtrip_and_unknown_version =>
        sled_codec_roundtrip_and_unknown_version,
        redb_codec_roundtrip_and_unknown_version,
        fjall_codec_roundtrip_and_unknown_version;
    large_values_roundtrip =>
        sled_large_values_roundtrip, redb_large_values_roundtrip, fjall_large_values_roundtrip;
    the_store_is_private_to_its_user =>
        sled_the_store_is_private_to_its_user,
        redb_the_store_is_private_to_its_user,
        fjall_the_store_is_private_to_its_user;
    crash_mid_write_keeps_batches_whole_or_child =>
        sled_crash_mid_write_keeps_batches_whole,
        redb_crash_mid_write_keeps_batches_whole,
        fjall_crash_mid_write_keeps_batches_whole;
}

/// In the parent test process this is the crash test; in the child it spawns, the writer.
fn crash_mid_write_keeps_batches_whole_or_child(kind: BackendKind) {
    match std::env::var_os(CRASH_CHILD_DIR) {
        Some(dir) => crash_child(kind, std::path::Path::new(&dir)),
        None => crash_mid_write_keeps_batches_whole(kind),
    }
}
