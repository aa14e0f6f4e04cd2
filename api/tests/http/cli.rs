//! A failing `flit` command says why in one line, `error: what: why: root cause`, and exits 1:
//! no backtrace, even with `RUST_BACKTRACE` set, and nothing on stdout.

use std::process::Output;

use crate::common::TestServer;

/// `flit <args>` as a shell runs it, with backtraces asked for.
async fn flit(args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_flit"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("FLIT_") {
            command.env_remove(&name);
        }
    }
    command
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .await
        .expect("flit runs")
}

/// The one line a failed command printed, checked for the shape every failure has.
fn error_line(output: &Output) -> String {
    let stderr = String::from_utf8(output.stderr.clone()).expect("UTF-8");
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty(), "{:?}", output.stdout);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line, not a backtrace: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_string()
}

#[tokio::test]
async fn admin_against_a_server_that_is_down() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let output = flit(&["admin", "--url", &url, "--token", "t", "tenants", "list"]).await;
    let line = error_line(&output);
    assert!(
        line.starts_with(&format!(
            "error: cannot reach {url}/admin/v1/tenants: error sending request: "
        )),
        "{line}"
    );
    assert!(line.contains("Connection refused"), "{line}");
}

#[tokio::test]
async fn admin_refused_by_the_server() {
    let server = TestServer::start().await;
    let output = flit(&[
        "admin",
        "--url",
        &server.base,
        "--token",
        "not-the-token",
        "tenants",
        "list",
    ])
    .await;
    assert_eq!(
        error_line(&output),
        "error: 401 Unauthorized: invalid admin token (check --token, FLIT_ADMIN_TOKEN or \
         --data-dir)"
    );
}

#[tokio::test]
async fn serve_with_a_bad_configuration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.toml");
    let missing = missing.to_str().expect("UTF-8 path");
    assert_eq!(
        error_line(&flit(&["serve", "--config", missing]).await),
        format!("error: cannot read config file {missing}: No such file or directory (os error 2)")
    );

    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "listen = \"127.0.0.1:8080\"\nstorage = \n").expect("write");
    let broken = broken.to_str().expect("UTF-8 path");
    let line = error_line(&flit(&["serve", "--config", broken]).await);
    assert!(
        line.starts_with(&format!("error: config file {broken}, line 2, column 11: ")),
        "{line}"
    );

    let data_dir = dir.path().join("data");
    let data_dir = data_dir.to_str().expect("UTF-8 path");
    assert_eq!(
        error_line(&flit(&["serve", "--data-dir", data_dir, "--log-format", "yaml"]).await),
        "error: unknown log format `yaml` (use text or json)"
    );
}
