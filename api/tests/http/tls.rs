//! https: the real server with a certificate from `flit tls init`'s own code, spoken to by a
//! client that trusts only that CA (as a phone that installed it); clients that speak plain
//! http, trust another CA or say nothing get no service and hold nothing; `flit tls init`
//! itself writes what `flit serve` then serves with.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use flit_api::config::{Config, TlsConfig};
use flit_api::tls_cli::{self, Host, InitArgs, TlsFiles};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::rustls::RootCertStore;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::common::{Api, Call, HttpsClient, TestServer};

/// A CA and a certificate for 127.0.0.1 made by `flit tls init`'s code in a temp dir.
fn certificates(dir: &Path) -> TlsFiles {
    let (files, _) = tls_cli::init(&InitArgs {
        dir: dir.to_path_buf(),
        hosts: vec![Host::Ip("127.0.0.1".parse().expect("ip"))],
        force: false,
    })
    .expect("certificates");
    files
}

/// `config` serving https with `files`.
fn with_tls(files: &TlsFiles, config: Config) -> Config {
    Config {
        tls: Some(TlsConfig {
            cert: files.cert.clone(),
            key: files.key.clone(),
        }),
        ..config
    }
}

async fn https_server(
    tls_dir: &Path,
    adjust: impl FnOnce(Config) -> Config,
) -> (TestServer, TlsFiles) {
    let files = certificates(tls_dir);
    let server =
        TestServer::start_tls(&files.ca_cert, |config| adjust(with_tls(&files, config))).await;
    (server, files)
}

#[tokio::test]
async fn health_and_a_send_answer_over_https_to_a_client_that_trusts_the_ca() {
    let tls_dir = tempfile::tempdir().expect("temp dir");
    let (server, files) = https_server(tls_dir.path(), |config| config).await;
    assert!(server.base.starts_with("https://"), "{}", server.base);

    let health = server.call(Call::get("/health")).await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.text);
    assert_eq!(health.body["status"], "ok");

    let sent = server
        .post(
            "/api/v1/sms/send",
            json!({"recipients": ["0201234567"], "message": "over https", "senderId": "MyBrand"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert_eq!(sent.body["success"], true);

    let stream = HttpsClient::trusting(&files.ca_cert)
        .connect(server.addr)
        .await
        .expect("handshake");
    assert_eq!(
        stream.get_ref().1.alpn_protocol(),
        Some(&b"http/1.1"[..]),
        "the server picks HTTP/1.1, the only protocol it serves"
    );

    let bootstrap: Value = serde_json::from_slice(
        &std::fs::read(server.data_dir.join("bootstrap.json")).expect("bootstrap.json"),
    )
    .expect("json");
    assert_eq!(
        bootstrap["baseUrl"],
        format!("https://{}/api/v1", server.addr),
        "the first start's base URL says https"
    );
    server.stop().await;
}

#[tokio::test]
async fn plain_http_to_the_https_port_gets_no_http_answer() {
    let tls_dir = tempfile::tempdir().expect("temp dir");
    let (server, _files) = https_server(tls_dir.path(), |config| config).await;

    let plain = server
        .client
        .get(format!("http://{}/health", server.addr))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert!(plain.is_err(), "plain http answered: {plain:?}");

    let health = server.call(Call::get("/health")).await;
    assert_eq!(health.status, StatusCode::OK, "https still serves");
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_fails_the_handshake() {
    let tls_dir = tempfile::tempdir().expect("temp dir");
    let (server, files) = https_server(tls_dir.path(), |config| config).await;

    let other_dir = tempfile::tempdir().expect("temp dir");
    let other_ca = certificates(other_dir.path()).ca_cert;
    let refused = HttpsClient::trusting(&other_ca)
        .send(server.addr, Call::get("/health"))
        .await;
    let error = refused.err().expect("another CA's client is refused");
    assert!(format!("{error:#}").contains("UnknownIssuer"), "{error:#}");

    let mut public_roots = RootCertStore::empty();
    public_roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    assert!(
        HttpsClient::with_roots(public_roots)
            .send(server.addr, Call::get("/health"))
            .await
            .is_err(),
        "the web's public roots do not vouch for a local CA"
    );

    let wrong_name = HttpsClient::trusting(&files.ca_cert)
        .connect_as(
            server.addr,
            ServerName::try_from("flit.example").expect("a name"),
        )
        .await;
    assert!(
        wrong_name.is_err(),
        "the certificate is for 127.0.0.1 only, not another name"
    );

    let health = server.call(Call::get("/health")).await;
    assert_eq!(health.status, StatusCode::OK, "the server serves on");
    server.stop().await;
}

/// Reads from `stream` until it closes; returns how long that took from `since`.
async fn closed_after(stream: &mut TcpStream, since: Instant) -> Duration {
    let mut buffer = [0u8; 256];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return since.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the connection is still open after 10 s"),
        }
    }
}

#[tokio::test]
async fn a_client_that_connects_and_says_nothing_is_dropped_after_the_handshake_timeout() {
    let tls_dir = tempfile::tempdir().expect("temp dir");
    let (server, _files) = https_server(tls_dir.path(), |config| Config {
        header_read_timeout: Duration::from_secs(1),
        ..config
    })
    .await;

    let opened = Instant::now();
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let waited = closed_after(&mut silent, opened).await;
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}, before the timeout"
    );

    let health = server.call(Call::get("/health")).await;
    assert_eq!(health.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_handshake_or_an_idle_tls_connection() {
    let tls_dir = tempfile::tempdir().expect("temp dir");
    // The default timeouts (15 s): shutdown must not wait them out.
    let (server, files) = https_server(tls_dir.path(), |config| config).await;
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let mut idle = HttpsClient::trusting(&files.ca_cert)
        .connect(server.addr)
        .await
        .expect("handshake");
    // Let the server's tasks take both connections.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let stopping = Instant::now();
    server.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        stopping.elapsed()
    );
    closed_after(&mut silent, stopping).await;
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buffer))
        .await
        .expect("the idle connection is closed");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "nothing but a close: {read:?}"
    );
}

#[tokio::test]
async fn bad_certificate_files_stop_the_start_with_the_reason() {
    let tls_dir = tempfile::tempdir().expect("temp dir");
    let files = certificates(tls_dir.path());
    let other_dir = tempfile::tempdir().expect("temp dir");
    let other = certificates(other_dir.path());
    let not_pem = tls_dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello\n").expect("write");
    let missing = tls_dir.path().join("missing.pem");

    let cases = [
        (missing.clone(), files.key.clone(), "cannot read it"),
        (not_pem.clone(), files.key.clone(), "no certificate"),
        (files.cert.clone(), not_pem.clone(), "no private key"),
        (files.cert.clone(), other.key.clone(), "not the private key"),
        (files.key.clone(), files.key.clone(), "no certificate"),
    ];
    for (cert, key, reason) in cases {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let config = Config {
            tls: Some(TlsConfig {
                cert: cert.clone(),
                key: key.clone(),
            }),
            ..flit_api::config::Config::load(flit_api::config::Overrides {
                data_dir: Some(data_dir.path().to_path_buf()),
                listen: Some("127.0.0.1:0".parse().expect("addr")),
                ..Default::default()
            })
            .expect("config")
        };
        let error = match flit_api::server::Server::start(config, None).await {
            Ok(_) => panic!("started with cert {cert:?} and key {key:?}"),
            Err(error) => format!("{error:#}"),
        };
        assert!(error.contains(reason), "{reason}: {error}");
        assert!(
            error.contains(&*cert.to_string_lossy()) || error.contains(&*key.to_string_lossy()),
            "the error names the file: {error}"
        );
        assert!(
            !data_dir.path().join("store").exists(),
            "nothing is opened before the certificate is read"
        );
    }
}

/// `flit <args>`, run as an operator would.
fn flit(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_flit"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("flit runs")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn flit_tls_init_writes_what_flit_serve_then_serves_https_with() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("data").join("tls");
    let dir_arg = dir.to_str().expect("a UTF-8 path");
    let init = flit(&[
        "tls",
        "init",
        "--dir",
        dir_arg,
        "--host",
        "127.0.0.1",
        "--host",
        "flit.lan",
    ]);
    let printed = String::from_utf8_lossy(&init.stdout).into_owned();
    assert!(
        init.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let files = TlsFiles::in_dir(&dir);
    for (path, expected) in [
        (&files.ca_key, 0o600),
        (&files.key, 0o600),
        (&files.ca_cert, 0o600),
        (&files.cert, 0o600),
    ] {
        assert_eq!(mode(path), expected, "{}", path.display());
        assert!(
            printed.contains(&*path.file_name().expect("name").to_string_lossy()),
            "{printed}"
        );
    }
    assert!(
        printed.contains(&*files.ca_cert.to_string_lossy()),
        "names the CA file to install: {printed}"
    );
    let command = printed
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("flit serve "))
        .unwrap_or_else(|| panic!("prints the serve command: {printed}"))
        .to_string();
    assert_eq!(
        command,
        format!(
            "flit serve --tls-cert {} --tls-key {}",
            files.cert.display(),
            files.key.display()
        )
    );

    let ca_before = std::fs::read(&files.ca_cert).expect("CA");
    let again = flit(&["tls", "init", "--dir", dir_arg, "--host", "127.0.0.1"]);
    assert!(!again.status.success(), "a second run without --force");
    let refusal = String::from_utf8_lossy(&again.stderr);
    assert!(refusal.contains("--force"), "{refusal}");
    assert_eq!(
        std::fs::read(&files.ca_cert).expect("CA"),
        ca_before,
        "nothing replaced"
    );

    // The printed command, as printed, on a fresh data dir.
    let data_dir = root.path().join("data");
    let mut args: Vec<&str> = command.split_whitespace().skip(1).collect();
    let data_dir_arg = data_dir.to_str().expect("a UTF-8 path");
    args.extend(["--listen", "127.0.0.1:0", "--data-dir", data_dir_arg]);
    let mut serving = tokio::process::Command::new(env!("CARGO_BIN_EXE_flit"))
        .args(&args)
        .env("FLIT_ADMIN_TOKEN", "tls-test-admin-token")
        .env_remove("FLIT_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("flit serve starts");
    let addr = served_at(&data_dir, &mut serving).await;
    let health = HttpsClient::trusting(&files.ca_cert)
        .send(addr, Call::get("/health"))
        .await
        .expect("https /health");
    assert_eq!(health.status, StatusCode::OK, "{}", health.text);
    serving.kill().await.expect("stopped");

    let forced = flit(&[
        "tls",
        "init",
        "--dir",
        dir_arg,
        "--host",
        "127.0.0.1",
        "--force",
    ]);
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert_ne!(
        std::fs::read(&files.ca_cert).expect("CA"),
        ca_before,
        "--force makes a new CA"
    );
    assert_eq!(mode(&files.ca_key), 0o600);
    assert_eq!(mode(&files.key), 0o600);
}

/// The address a `flit serve` child bound, from the https base URL its first start writes.
async fn served_at(data_dir: &Path, child: &mut tokio::process::Child) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("poll child") {
            panic!("flit serve exited early: {status}");
        }
        let url = std::fs::read(data_dir.join("bootstrap.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .and_then(|bootstrap| bootstrap["baseUrl"].as_str().map(str::to_string));
        if let Some(url) = url {
            let addr = url
                .strip_prefix("https://")
                .and_then(|rest| rest.strip_suffix("/api/v1"))
                .unwrap_or_else(|| panic!("an https base URL: {url}"));
            return addr.parse().expect("an address");
        }
        assert!(
            Instant::now() < deadline,
            "flit serve did not start in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
