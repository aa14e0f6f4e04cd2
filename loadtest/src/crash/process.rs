//! The `flit serve` child process: started on one data dir and port, waited for until
//! `GET /health` answers, killed with SIGKILL (no shutdown of any kind) and started again.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// How to start the server.
#[derive(Debug, Clone)]
pub struct ServeCommand {
    /// The `flit` binary.
    pub binary: PathBuf,
    pub data_dir: PathBuf,
    /// `127.0.0.1:PORT`, the same on every start so clients keep their base URL.
    pub listen: String,
    /// `sled`, `redb` or `fjall`.
    pub storage: String,
    pub admin_token: String,
    /// Where the server's stdout and stderr go, appended over every start.
    pub log: PathBuf,
    /// More environment for the server (`FLIT_*` settings).
    pub env: Vec<(String, String)>,
}

/// The server child, when one runs.
pub struct FlitProcess {
    command: ServeCommand,
    http: reqwest::Client,
    child: Option<Child>,
    starts: u32,
}

impl FlitProcess {
    pub fn new(command: ServeCommand) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .context("building the health-check client")?;
        Ok(Self {
            command,
            http,
            child: None,
            starts: 0,
        })
    }

    pub fn admin_token(&self) -> &str {
        &self.command.admin_token
    }

    /// The running server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.command.listen)
    }

    /// Starts the server and waits until `GET /health` answers 200; returns the time from
    /// spawn to that answer (opening the store, recovery and bind included).
    pub async fn start(&mut self, timeout: Duration) -> anyhow::Result<Duration> {
        if self.child.is_some() {
            bail!("the server is already running");
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.command.log)
            .with_context(|| format!("opening {}", self.command.log.display()))?;
        let stderr = log
            .try_clone()
            .context("duplicating the server log handle")?;
        self.starts += 1;
        let spawned = Instant::now();
        let child = Command::new(&self.command.binary)
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.command.data_dir)
            .arg("--listen")
            .arg(&self.command.listen)
            .arg("--storage")
            .arg(&self.command.storage)
            .env("FLIT_ADMIN_TOKEN", &self.command.admin_token)
            .env(
                "RUST_LOG",
                std::env::var("FLIT_CRASH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(self.command.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.command.binary.display()))?;
        self.child = Some(child);
        let health = format!("{}/health", self.base_url());
        let deadline = spawned + timeout;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait().context("polling the server process")?
            {
                self.child = None;
                bail!(
                    "start {} of the server exited with {status} before serving (log: {})",
                    self.starts,
                    self.command.log.display()
                );
            }
            if let Ok(response) = self.http.get(&health).send().await
                && response.status().is_success()
            {
                return Ok(spawned.elapsed());
            }
            if Instant::now() >= deadline {
                bail!(
                    "start {} of the server did not answer /health within {timeout:?} (log: {})",
                    self.starts,
                    self.command.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGKILL, then waits for the process to be gone (so its file locks are released).
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            bail!("no server to kill");
        };
        child
            .start_kill()
            .context("sending SIGKILL to the server")?;
        child
            .wait()
            .await
            .context("waiting for the killed server")?;
        Ok(())
    }

    /// Kills the server if it runs (the end of a run; nothing is checked after this).
    pub async fn stop(&mut self) {
        if self.child.is_some() {
            let _ = self.kill().await;
        }
    }
}
