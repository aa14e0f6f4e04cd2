//! The `flit` binary run as an operator runs it: `flit serve` as a child process on a fresh
//! data dir, its stdout and stderr written to files, stopped with SIGTERM, so a test reads
//! every line it wrote.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::time::Instant;

/// A running `flit serve`.
pub struct FlitProcess {
    child: std::process::Child,
    /// `http://127.0.0.1:<port>`, known once `ready` returns.
    pub base: String,
    logs: PathBuf,
}

/// What a stopped `flit serve` wrote.
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    /// Both streams, stdout first.
    pub fn both(&self) -> Vec<u8> {
        let mut both = self.stdout.clone();
        both.extend(&self.stderr);
        both
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("UTF-8 logs")
    }
}

impl FlitProcess {
    /// `flit serve --listen 127.0.0.1:0 --data-dir <data_dir> <args…>` (`args` may name its
    /// own `--listen`, for a restart that must keep the address) with `env` and none of
    /// the `FLIT_*`, `RUST_LOG` or `NO_COLOR` settings of the environment the tests run in;
    /// its output goes to `stdout` and `stderr` in `logs`.
    pub fn spawn(data_dir: &Path, logs: &Path, args: &[&str], env: &[(&str, &str)]) -> FlitProcess {
        let stdout = std::fs::File::create(logs.join("stdout")).expect("stdout file");
        let stderr = std::fs::File::create(logs.join("stderr")).expect("stderr file");
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_flit"));
        command.arg("serve");
        if !args.contains(&"--listen") {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        command.arg("--data-dir").arg(data_dir).args(args);
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("FLIT_") || name == "RUST_LOG" || name == "NO_COLOR" {
                command.env_remove(name.as_ref());
            }
        }
        let child = command
            .envs(env.iter().copied())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("flit starts");
        FlitProcess {
            child,
            base: String::new(),
            logs: logs.to_path_buf(),
        }
    }

    /// Waits for the first start to write `bootstrap.json`, which names the bound address, and
    /// for `/health` to answer; the bootstrap file's JSON.
    pub async fn ready(&mut self, data_dir: &Path) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        let bootstrap = data_dir.join("bootstrap.json");
        loop {
            if let Some(status) = self.child.try_wait().expect("poll child") {
                panic!(
                    "flit exited early: {status}; logs in {}",
                    self.logs.display()
                );
            }
            let parsed = std::fs::read(&bootstrap)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
            if let Some(url) = parsed.as_ref().and_then(|v| v["baseUrl"].as_str()) {
                self.base = url.trim_end_matches("/api/v1").to_string();
                let health = reqwest::get(format!("{}/health", self.base)).await;
                if health.is_ok_and(|r| r.status() == StatusCode::OK) {
                    return parsed.expect("parsed");
                }
            }
            assert!(Instant::now() < deadline, "flit did not start within 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then wait for a clean exit (so every log line is written).
    pub async fn stop(mut self) -> Output {
        let pid = self.child.id().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(exit) = self.child.try_wait().expect("poll child") {
                if !exit.success() {
                    let stderr = std::fs::read(self.logs.join("stderr")).unwrap_or_default();
                    let stderr = String::from_utf8_lossy(&stderr);
                    let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    panic!(
                        "flit exited with {exit}; the end of its stderr:\n{}",
                        tail.join("\n")
                    );
                }
                break;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("flit did not stop within 30 s of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Output {
            stdout: std::fs::read(self.logs.join("stdout")).expect("stdout"),
            stderr: std::fs::read(self.logs.join("stderr")).expect("stderr"),
        }
    }
}

impl FlitProcess {
    /// SIGKILL: no shutdown, nothing flushed beyond what was already durable.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for FlitProcess {
    fn drop(&mut self) {
        // A test that failed before `stop` leaves no server behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
