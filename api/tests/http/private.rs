//! The data dir is Flit's user's alone: no file or folder other users can open, on either
//! backend, and one left open to them is made private at start.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::carrier::{add_bind, send, smsc_with, wait_bound};
use crate::common::{Api, TestServer};

/// Every path under `dir` (itself included) whose mode has a group or other bit.
fn shared_paths(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut shared = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let metadata = std::fs::symlink_metadata(&path).expect("metadata");
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            shared.push((path.clone(), format!("{mode:03o}")));
        }
        if metadata.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read dir") {
                pending.push(entry.expect("entry").path());
            }
        }
    }
    shared
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o7777
}

async fn a_new_data_dir_holds_nothing_other_users_can_open(storage: &str) {
    let root = tempfile::tempdir().expect("temp dir");
    let data_dir = root.path().join("flit-data");
    let smsc = smsc_with(|_| {}).await;
    let server = TestServer::start_in(data_dir.clone(), storage).await;
    let bind = add_bind(&server, "sim", smsc.addr.port(), json!({})).await;
    wait_bound(&server, &bind).await;
    let id = send(&server, &["0201234567"], "private, please").await;
    server.settled(&id, Duration::from_secs(15)).await;
    assert_eq!(mode(&data_dir), 0o700);
    for file in ["admin-token", "bootstrap.json"] {
        let path = data_dir.join(file);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{file}");
        }
    }
    assert_eq!(shared_paths(&data_dir), vec![], "while serving");
    server.stop().await;
    assert_eq!(shared_paths(&data_dir), vec![], "once stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_redb_data_dir_holds_nothing_other_users_can_open() {
    a_new_data_dir_holds_nothing_other_users_can_open("redb").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_sled_data_dir_holds_nothing_other_users_can_open() {
    a_new_data_dir_holds_nothing_other_users_can_open("sled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_open_to_others_is_made_private_at_start() {
    let root = tempfile::tempdir().expect("temp dir");
    let data_dir = root.path().join("flit-data");
    let server = TestServer::start_in(data_dir.clone(), "sled").await;
    server.stop().await;
    // As a copy made with the wrong umask would leave it.
    let mut pending = vec![data_dir.clone()];
    while let Some(path) = pending.pop() {
        let loose = if path.is_dir() {
            pending.extend(
                std::fs::read_dir(&path)
                    .expect("read dir")
                    .map(|entry| entry.expect("entry").path()),
            );
            0o775
        } else {
            0o664
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).expect("chmod");
    }
    assert!(shared_paths(&data_dir).len() > 5);
    let server = TestServer::start_in(data_dir.clone(), "sled").await;
    assert_eq!(shared_paths(&data_dir), vec![]);
    assert_eq!(server.balance().await, 1000, "and the data is all there");
    server.stop().await;
}
