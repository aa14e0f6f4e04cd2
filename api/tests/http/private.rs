//! The data dir is Flit's user's alone, and the SMPP bind passwords in it are sealed: no file
//! or folder other users can open, on either backend; no bind password in any file's bytes
//! after a bind is created, after a restart and after the bind is deleted; a data dir from
//! before sealing is sealed at start and its binds still authenticate; a wrong or missing key
//! stops the start with a message naming it; and no log line carries a password.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use flit_api::secret_key::{KEY_ENV, KEY_FILE};
use flit_engine::ids::{BindId, TenantId};
use flit_engine::secrets::SecretKey;
use flit_storage::{BackendKind, Batch, Scan, Store, StoreOptions};
use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::carrier::{add_bind, send, smsc_with, wait_bound};
use crate::common::{ADMIN_TOKEN, Api, TestServer};

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

/// Every file under `dir` whose bytes hold `needle` anywhere: `strings`, without the minimum.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read dir") {
                pending.push(entry.expect("entry").path());
            }
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|window| window == needle)
        {
            found.push(path);
        }
    }
    found
}

/// Eight characters (SMPP's most) no file holds by chance.
fn distinctive_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..8)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
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
    for file in ["admin-token", "bootstrap.json", KEY_FILE] {
        let path = data_dir.join(file);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{file}");
        }
    }
    assert_eq!(mode(&data_dir.join(KEY_FILE)), 0o600);
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
async fn a_new_fjall_data_dir_holds_nothing_other_users_can_open() {
    a_new_data_dir_holds_nothing_other_users_can_open("fjall").await;
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

async fn no_file_holds_a_bind_password(storage: &str) {
    let password = distinctive_password();
    let smsc = smsc_with(|config| config.password = Some(password.clone())).await;
    let root = tempfile::tempdir().expect("temp dir");
    let data_dir = root.path().join("flit-data");
    let server = TestServer::start_in(data_dir.clone(), storage).await;
    let bind = add_bind(
        &server,
        "sealed",
        smsc.addr.port(),
        json!({"password": password}),
    )
    .await;
    wait_bound(&server, &bind).await;
    for path in ["/binds".to_string(), format!("/binds/{bind}")] {
        let reply = server.admin(Method::GET, &path, None).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(!reply.text.contains(&password), "{path}: {}", reply.text);
    }
    assert_eq!(
        files_holding(&data_dir, password.as_bytes()),
        Vec::<PathBuf>::new()
    );

    // The SMSC takes only the right password: binding again after a restart shows it was
    // unsealed with the key from the key file.
    let server = server.restart().await;
    wait_bound(&server, &bind).await;
    assert!(smsc.stats().binds >= 2, "{:?}", smsc.stats());
    assert_eq!(smsc.stats().bind_failures, 0);
    assert_eq!(
        files_holding(&data_dir, password.as_bytes()),
        Vec::<PathBuf>::new()
    );

    let deleted = server
        .admin(Method::DELETE, &format!("/binds/{bind}"), None)
        .await;
    assert!(deleted.status.is_success(), "{}", deleted.body);
    let server = server.restart().await;
    let gone = server
        .admin(Method::GET, &format!("/binds/{bind}"), None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    server.stop().await;
    assert_eq!(
        files_holding(&data_dir, password.as_bytes()),
        Vec::<PathBuf>::new()
    );
    let kind: BackendKind = storage.parse().expect("backend");
    let store = Store::open(kind, &data_dir.join("store"), StoreOptions::default()).expect("store");
    for tree in ["smpp_binds", "binds"] {
        let page = store.scan(&Scan::prefix(tree, b"")).expect("scan");
        assert!(page.items.is_empty(), "{tree} still holds a bind");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_redb_file_holds_a_bind_password() {
    no_file_holds_a_bind_password("redb").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_sled_file_holds_a_bind_password() {
    no_file_holds_a_bind_password("sled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fjall_file_holds_a_bind_password() {
    no_file_holds_a_bind_password("fjall").await;
}

/// A bind record as the code before sealing stored it (table `binds`, bincode behind the
/// format byte, the password in clear): the layout of a real data dir of that time.
#[derive(serde::Serialize)]
struct ClearBind {
    id: BindId,
    name: String,
    host: String,
    port: u16,
    system_id: String,
    password: String,
    system_type: String,
    bind_mode: String,
    window_size: u32,
    tps: u32,
    gsm7: String,
    concatenation: String,
    tenant: Option<TenantId>,
    created_at: i64,
}

/// A data dir from before sealing: a store whose one bind keeps its password in clear, and
/// no key file.
async fn clear_password_data_dir(
    data_dir: &Path,
    kind: BackendKind,
    port: u16,
    password: &str,
) -> BindId {
    let store = Store::open(kind, &data_dir.join("store"), StoreOptions::default()).expect("store");
    let id = BindId::new();
    let record = ClearBind {
        id,
        name: "from-before".into(),
        host: "127.0.0.1".into(),
        port,
        system_id: "flit".into(),
        password: password.into(),
        system_type: String::new(),
        bind_mode: "transceiver".into(),
        window_size: 10,
        tps: 0,
        gsm7: "unpacked".into(),
        concatenation: "udh".into(),
        tenant: None,
        created_at: 1_700_000_000_000,
    };
    let mut batch = Batch::new();
    batch.put(
        "binds",
        id.to_bytes().to_vec(),
        flit_storage::encode(&record),
    );
    store.commit(batch).await.expect("written");
    id
}

async fn clear_passwords_are_sealed_at_start_and_still_bind(storage: &str) {
    let kind: BackendKind = storage.parse().expect("backend");
    let password = distinctive_password();
    let smsc = smsc_with(|config| config.password = Some(password.clone())).await;
    let root = tempfile::tempdir().expect("temp dir");
    let data_dir = root.path().join("flit-data");
    let id = clear_password_data_dir(&data_dir, kind, smsc.addr.port(), &password).await;
    assert!(!data_dir.join(KEY_FILE).exists());

    let server = TestServer::start_in(data_dir.clone(), storage).await;
    let bind = id.to_string();
    wait_bound(&server, &bind).await;
    let listed = server
        .admin(Method::GET, &format!("/binds/{bind}"), None)
        .await;
    assert_eq!(
        listed.body["data"]["name"], "from-before",
        "{}",
        listed.body
    );
    assert_eq!(listed.body["data"]["windowSize"], 10);
    assert!(
        data_dir.join(KEY_FILE).exists(),
        "the first start made the key"
    );

    // Sealed for good: after a restart the bind authenticates with the unsealed password.
    let server = server.restart().await;
    wait_bound(&server, &bind).await;
    let id = send(&server, &["0201234567"], "still carried").await;
    let report = server.settled(&id, Duration::from_secs(15)).await;
    assert_eq!(report["status"], "DELIVERED", "{report}");
    assert_eq!(smsc.stats().bind_failures, 0);
    server.stop().await;

    let store = Store::open(kind, &data_dir.join("store"), StoreOptions::default()).expect("store");
    let clear = store.scan(&Scan::prefix("binds", b"")).expect("scan");
    assert!(clear.items.is_empty(), "the clear record is gone");
    let sealed = store.scan(&Scan::prefix("smpp_binds", b"")).expect("scan");
    assert_eq!(sealed.items.len(), 1);
    let value = &sealed.items[0].1;
    assert!(
        !value
            .windows(password.len())
            .any(|window| window == password.as_bytes()),
        "the stored record holds the password sealed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_passwords_of_a_redb_data_dir_are_sealed_at_start_and_still_bind() {
    clear_passwords_are_sealed_at_start_and_still_bind("redb").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_passwords_of_a_sled_data_dir_are_sealed_at_start_and_still_bind() {
    clear_passwords_are_sealed_at_start_and_still_bind("sled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_passwords_of_a_fjall_data_dir_are_sealed_at_start_and_still_bind() {
    clear_passwords_are_sealed_at_start_and_still_bind("fjall").await;
}

/// Starts a server on `data_dir` as the tests do, with the key from `FLIT_SECRET_KEY` set to
/// `key` if given; the start's error, if it fails.
async fn start_error(data_dir: &Path, key: Option<SecretKey>) -> Option<String> {
    let config = flit_api::config::Config::load(flit_api::config::Overrides {
        data_dir: Some(data_dir.to_path_buf()),
        listen: Some("127.0.0.1:0".parse().expect("addr")),
        ..Default::default()
    })
    .expect("config");
    let config = flit_api::config::Config {
        admin_token: Some(ADMIN_TOKEN.to_string()),
        secret_key: key,
        ..config
    };
    match flit_api::server::Server::start(config, None).await {
        Ok(server) => {
            server.shutdown().await.expect("clean shutdown");
            None
        }
        Err(error) => Some(format!("{error:#}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_key_stops_the_start_and_names_where_the_key_comes_from() {
    let root = tempfile::tempdir().expect("temp dir");
    let data_dir = root.path().join("flit-data");
    let server = TestServer::start_in(data_dir.clone(), "redb").await;
    add_bind(&server, "sealed", 2775, json!({})).await;
    server.stop().await;
    let key_file = data_dir.join(KEY_FILE);
    let right = std::fs::read(&key_file).expect("key file");
    let other_key = || SecretKey::from_bytes(&SecretKey::generate_bytes());

    std::fs::write(&key_file, SecretKey::generate_bytes()).expect("another key");
    let error = start_error(&data_dir, None).await.expect("refused");
    assert!(error.contains(&*key_file.to_string_lossy()), "{error}");
    assert!(error.contains(KEY_ENV), "{error}");
    assert!(error.contains("not the key"), "{error}");

    std::fs::remove_file(&key_file).expect("removed");
    let error = start_error(&data_dir, None).await.expect("refused");
    assert!(error.contains(&*key_file.to_string_lossy()), "{error}");
    assert!(error.contains("missing"), "{error}");
    assert!(
        !key_file.exists(),
        "no new key takes the place of the lost one"
    );

    let error = start_error(&data_dir, Some(other_key()))
        .await
        .expect("refused");
    assert!(error.contains(KEY_ENV), "{error}");

    std::fs::write(&key_file, &right).expect("restored");
    assert_eq!(
        start_error(&data_dir, None).await,
        None,
        "the right key starts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_from_the_environment_leaves_no_key_file_and_opens_the_store_again() {
    let smsc = smsc_with(|_| {}).await;
    let key = SecretKey::from_bytes(&[0x3c; SecretKey::LEN]);
    let root = tempfile::tempdir().expect("temp dir");
    let data_dir = root.path().join("flit-data");
    let with_key = |config| flit_api::config::Config {
        secret_key: Some(key.clone()),
        ..config
    };
    let server = TestServer::start_in_adjusted(data_dir.clone(), "redb", with_key).await;
    let bind = add_bind(&server, "sim", smsc.addr.port(), json!({})).await;
    wait_bound(&server, &bind).await;
    server.stop().await;
    assert!(!data_dir.join(KEY_FILE).exists());
    let server = TestServer::start_in_adjusted(data_dir.clone(), "redb", with_key).await;
    wait_bound(&server, &bind).await;
    server.stop().await;
    assert!(
        start_error(&data_dir, None).await.is_some(),
        "without the key, the store does not open"
    );
}

/// `flit serve` at the most verbose log level, a bind created and bound, a restart: nothing it
/// prints holds the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_line_holds_a_bind_password() {
    let password = distinctive_password();
    let smsc = smsc_with(|config| config.password = Some(password.clone())).await;
    let root = tempfile::tempdir().expect("temp dir");
    let data_dir = root.path().join("flit-data");
    let client = reqwest::Client::new();
    let mut printed = String::new();
    for start in 0..2 {
        let log = root.path().join(format!("flit-{start}.log"));
        let binds = smsc.stats().binds;
        let (mut child, base) = serve(&data_dir, &log).await;
        if start == 0 {
            let created = client
                .post(format!("{base}/admin/v1/binds"))
                .bearer_auth(ADMIN_TOKEN)
                .json(&json!({
                    "name": "logged", "host": "127.0.0.1", "port": smsc.addr.port(),
                    "systemId": "flit", "password": password,
                }))
                .send()
                .await
                .expect("created");
            assert_eq!(created.status(), StatusCode::CREATED);
        }
        smsc.wait_for_stats(Duration::from_secs(10), |stats| stats.binds > binds)
            .await
            .expect("bound");
        child.kill().await.expect("stopped");
        printed.push_str(&std::fs::read_to_string(&log).expect("log"));
    }
    assert_eq!(smsc.stats().bind_failures, 0);
    assert!(printed.contains("SMPP session bound"), "{printed}");
    assert!(!printed.contains(&password), "{printed}");
}

/// `flit serve` on `data_dir` and a free port, every line it prints to `log`; returns once it
/// answers `/health`, with its base URL.
async fn serve(data_dir: &Path, log: &Path) -> (tokio::process::Child, String) {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let out = std::fs::File::create(log).expect("log file");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_flit"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data_dir)
        .env("FLIT_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "trace")
        .env_remove("FLIT_CONFIG")
        .env_remove(KEY_ENV)
        .stdout(out.try_clone().expect("log file"))
        .stderr(out)
        .kill_on_drop(true)
        .spawn()
        .expect("flit serve starts");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("poll child") {
            panic!("flit serve exited early: {status}");
        }
        if let Ok(health) = reqwest::get(format!("{base}/health")).await
            && health.status().is_success()
        {
            return (child, base);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "flit serve did not start in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
