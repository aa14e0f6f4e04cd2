//! `flit-loadtest crash`: the crash test. It runs `flit serve` as a child process on a fresh
//! data dir, binds it to an in-process simulated SMSC, drives single, bulk and
//! 10,000-recipient group sends with an `Idempotency-Key` on every request, and kills the
//! server with SIGKILL again and again — at random moments of the steady load, right after a
//! group send is issued, during a burst of receipts, while the bind's window is busy —
//! restarting it each time and retrying every request a kill cut off with its key. Then it
//! drains and checks, from its own record of the 2xx answers, that nothing acknowledged was
//! lost, nothing was charged twice or without its message, every ledger balances, and the SMSC
//! saw no more duplicates than one window per kill.

pub mod check;
pub mod load;
pub mod process;
pub mod summary;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail, ensure};
use clap::Args;
use rand::{Rng as _, SeedableRng as _};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::e2e::NumberPlan;
use crate::e2e::client::{self, Created, Flit, Setup};
use crate::smsc::{self, SmscConfig, SmscHandle};
use load::{Ack, Kind, LoadShape, Plan, Request, Senders, ServerState};
use process::{FlitProcess, ServeCommand};
pub use summary::{CrashSummary, Kill, KillAim, TenantLedger};

/// Arguments of `flit-loadtest crash`.
#[derive(Debug, Clone, Args)]
pub struct CrashArgs {
    /// The `flit` binary to run as `flit serve`.
    #[arg(long)]
    pub flit: PathBuf,
    /// Storage backend of the server: sled, redb or fjall.
    #[arg(long, default_value = "sled")]
    pub storage: String,
    /// Data dir of the server (must not hold a store yet); a fresh one under the system's
    /// temporary directory when not given.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Keep the data dir (and the server's log) after a passing run.
    #[arg(long)]
    pub keep_data: bool,
    /// Port the server listens on (127.0.0.1); a free one when not given.
    #[arg(long)]
    pub port: Option<u16>,
    /// Times to kill the server with SIGKILL.
    #[arg(long, default_value_t = 20)]
    pub kills: u32,
    /// Concurrent closed-loop senders of single and bulk sends.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// One steady request in N is a bulk send (0: single sends only).
    #[arg(long, default_value_t = 10)]
    pub bulk_every: u32,
    /// Recipients of a bulk send.
    #[arg(long, default_value_t = 100)]
    pub bulk_size: usize,
    /// Contacts in the group that group sends go to (imported 10,000 a request).
    #[arg(long, default_value_t = 10_000)]
    pub group_size: usize,
    /// Shortest time the server serves load before a kill is prepared, in ms.
    #[arg(long, default_value_t = 500)]
    pub min_up_ms: u64,
    /// Longest time the server serves load before a kill is prepared, in ms.
    #[arg(long, default_value_t = 2500)]
    pub max_up_ms: u64,
    /// A kill aimed at a group send comes within this many ms of issuing it.
    #[arg(long, default_value_t = 400)]
    pub group_kill_ms: u64,
    /// Window (in-flight submits) of the bind.
    #[arg(long, default_value_t = 50)]
    pub window: u32,
    /// Delay before the SMSC answers a submit_sm, so the window holds submits in flight.
    #[arg(long, default_value_t = 5)]
    pub smsc_latency_ms: u64,
    /// Delay between submit_sm_resp and its delivery receipt.
    #[arg(long, default_value_t = 200)]
    pub receipt_delay_ms: u64,
    /// Longest wait for every acknowledged message to be final after the last kill, in s.
    #[arg(long, default_value_t = 300)]
    pub drain_timeout_secs: u64,
    /// Longest wait for a start of the server to answer /health, in s.
    #[arg(long, default_value_t = 60)]
    pub start_timeout_secs: u64,
    /// Seed of the kill schedule (random when not given; printed in the summary).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
}

impl CrashArgs {
    /// The defaults of the command line for the `flit` binary at `flit`.
    pub fn new(flit: impl Into<PathBuf>, storage: &str) -> Self {
        Self {
            flit: flit.into(),
            storage: storage.to_owned(),
            data_dir: None,
            keep_data: false,
            port: None,
            kills: 20,
            connections: 8,
            bulk_every: 10,
            bulk_size: 100,
            group_size: 10_000,
            min_up_ms: 500,
            max_up_ms: 2500,
            group_kill_ms: 400,
            window: 50,
            smsc_latency_ms: 5,
            receipt_delay_ms: 200,
            drain_timeout_secs: 300,
            start_timeout_secs: 60,
            seed: None,
            json: false,
            quiet: false,
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        ensure!(
            matches!(self.storage.as_str(), "sled" | "redb" | "fjall"),
            "--storage must be sled, redb or fjall"
        );
        ensure!(self.kills >= 1, "--kills must be at least 1");
        ensure!(self.connections >= 1, "--connections must be at least 1");
        ensure!(
            (1..=1000).contains(&self.bulk_size),
            "--bulk-size must be from 1 to 1000"
        );
        ensure!(
            (1..=100_000).contains(&self.group_size),
            "--group-size must be from 1 to 100000"
        );
        ensure!(
            self.min_up_ms <= self.max_up_ms,
            "--min-up-ms must not exceed --max-up-ms"
        );
        ensure!(self.window >= 1, "--window must be at least 1");
        Ok(())
    }
}

/// Runs the crash test, prints its summary and fails when it found a violation.
pub async fn run(args: CrashArgs) -> anyhow::Result<()> {
    let summary = execute(&args).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("flit-loadtest crash summary");
        print!("{}", summary.table());
    }
    if !summary.passed() {
        bail!(
            "the crash test found {} violation(s)",
            summary.violations.len()
        );
    }
    Ok(())
}

/// Runs the crash test and returns its figures; `Err` only when the run itself could not be
/// carried out (the server would not start, the setup failed).
pub async fn execute(args: &CrashArgs) -> anyhow::Result<CrashSummary> {
    args.validate()?;
    let (data_dir, made_data_dir) = match &args.data_dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!(
                "flit-crash-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            )),
            true,
        ),
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    ensure!(
        !data_dir.join("store").exists(),
        "{} already holds a store; the crash test needs a fresh data dir",
        data_dir.display()
    );
    let port = match args.port {
        Some(port) => port,
        None => free_port()?,
    };
    let smsc = smsc::start(SmscConfig {
        system_id: Some("flit".into()),
        password: Some("secret".into()),
        receipt_delay: Duration::from_millis(args.receipt_delay_ms),
        latency: Duration::from_millis(args.smsc_latency_ms),
        receipts: true,
        record_received: true,
        max_window_check: Some(u64::from(args.window)),
        ..SmscConfig::default()
    })
    .await?;
    let mut server = FlitProcess::new(ServeCommand {
        binary: args.flit.clone(),
        data_dir: data_dir.clone(),
        listen: format!("127.0.0.1:{port}"),
        storage: args.storage.clone(),
        admin_token: format!("crash-{:016x}", rand::random::<u64>()),
        log: data_dir.join("flit.log"),
        env: Vec::new(),
    })?;
    let outcome = Run::new(args, &mut server, &smsc, &data_dir).go().await;
    server.stop().await;
    smsc.stop().await;
    let summary = outcome?;
    if made_data_dir && summary.passed() && !args.keep_data {
        let _ = std::fs::remove_dir_all(&data_dir);
    } else {
        eprintln!(
            "crash: data dir and server log kept in {}",
            data_dir.display()
        );
    }
    Ok(summary)
}

/// A port that was free a moment ago.
fn free_port() -> anyhow::Result<u16> {
    let listener =
        std::net::TcpListener::bind(("127.0.0.1", 0)).context("looking for a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A tenant of the run.
#[derive(Debug, Clone)]
struct Tenant {
    name: String,
    key: String,
}

struct Run<'a> {
    args: &'a CrashArgs,
    server: &'a mut FlitProcess,
    smsc: &'a SmscHandle,
    data_dir: &'a std::path::Path,
    admin_token: String,
    started: Instant,
}

impl<'a> Run<'a> {
    fn new(
        args: &'a CrashArgs,
        server: &'a mut FlitProcess,
        smsc: &'a SmscHandle,
        data_dir: &'a std::path::Path,
    ) -> Self {
        let admin_token = server.admin_token().to_owned();
        Self {
            args,
            server,
            smsc,
            data_dir,
            admin_token,
            started: Instant::now(),
        }
    }

    fn progress(&self, line: &str) {
        if !self.args.quiet {
            eprintln!(
                "[{:>6.1}s] crash: {line}",
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    async fn go(mut self) -> anyhow::Result<CrashSummary> {
        let args = self.args;
        let start_timeout = Duration::from_secs(args.start_timeout_secs);
        let seed = args.seed.unwrap_or_else(rand::random);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        self.started = Instant::now();
        self.server.start(start_timeout).await?;
        let base = self.server.base_url();
        let flit = Flit::new(&base, args.connections + 4)?;

        // Two tenants share the load; the first also owns the group. The bootstrap's default
        // tenant is checked too.
        let credits = 10_000_000_000;
        let mut first = Created::default();
        client::set_up(
            &flit,
            &Setup {
                admin_token: &self.admin_token,
                tenant_name: "crash-a".into(),
                credits,
                smsc_ports: vec![self.smsc.addr.port()],
                window: args.window,
            },
            &mut first,
        )
        .await?;
        let mut second = Created::default();
        client::create_tenant(&flit, &self.admin_token, "crash-b", credits, &mut second).await?;
        client::wait_bound(
            &flit,
            &self.admin_token,
            &first.bind_ids,
            Duration::from_secs(30),
        )
        .await?;
        let bootstrap: Value = serde_json::from_slice(
            &std::fs::read(self.data_dir.join("bootstrap.json"))
                .context("reading bootstrap.json")?,
        )
        .context("parsing bootstrap.json")?;
        let tenants = vec![
            Tenant {
                name: "crash-a".into(),
                key: first.api_key.clone().context("no key for crash-a")?,
            },
            Tenant {
                name: "crash-b".into(),
                key: second.api_key.clone().context("no key for crash-b")?,
            },
            Tenant {
                name: "default".into(),
                key: bootstrap["apiKey"]
                    .as_str()
                    .context("bootstrap.json has no apiKey")?
                    .to_owned(),
            },
        ];
        // What it takes to look into the data dir after a failed run.
        std::fs::write(
            self.data_dir.join("crash-run.json"),
            serde_json::to_vec_pretty(&json!({
                "url": base,
                "adminToken": self.admin_token,
                "tenants": tenants.iter().map(|t| json!({"name": t.name, "key": t.key})).collect::<Vec<_>>(),
            }))?,
        )
        .context("writing crash-run.json")?;
        let numbers = NumberPlan::new(rng.random_range(0..crate::e2e::numbers::MAX_NUMBERS));
        let group_size = args.group_size as u64;
        let group_numbers = numbers.batch(0, group_size);
        let group_id = self
            .make_group(&flit, &tenants[0].key, &group_numbers)
            .await?;
        self.progress(&format!(
            "{} serving on {base}, bound to the SMSC on port {}; group of {group_size} contacts ready",
            args.storage,
            self.smsc.addr.port()
        ));

        // Steady load, on until the last kill is behind.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(args.connections * 2)
            .tcp_nodelay(true)
            .build()
            .context("building the HTTP client")?;
        let (state, state_rx) = watch::channel(ServerState {
            generation: 1,
            up: true,
        });
        let senders = Senders {
            http,
            base: Arc::from(base.as_str()),
            keys: Arc::new(tenants.iter().take(2).map(|t| t.key.clone()).collect()),
            state: state_rx,
            record: Arc::default(),
            abandon: Arc::new(AtomicBool::new(false)),
        };
        let plan = Arc::new(Plan::new(
            numbers,
            group_size,
            LoadShape {
                tenants: 2,
                bulk_every: args.bulk_every,
                bulk_size: args.bulk_size,
            },
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let steady: Vec<JoinHandle<()>> = (0..args.connections)
            .map(|_| {
                tokio::spawn(load::steady_sender(
                    senders.clone(),
                    Arc::clone(&plan),
                    Arc::clone(&stop),
                ))
            })
            .collect();
        let mut groups: Vec<JoinHandle<Option<Ack>>> = Vec::new();
        let mut kills = Vec::new();
        let mut kill_times = Vec::new();

        for index in 0..args.kills {
            let aim = KillAim::CYCLE[index as usize % KillAim::CYCLE.len()];
            tokio::time::sleep(Duration::from_millis(
                rng.random_range(args.min_up_ms..=args.max_up_ms),
            ))
            .await;
            let on_target = match aim {
                KillAim::Steady => true,
                KillAim::GroupSend => {
                    groups.push(spawn_group(&senders, &plan, &group_id));
                    tokio::time::sleep(Duration::from_millis(
                        rng.random_range(0..=args.group_kill_ms),
                    ))
                    .await;
                    true
                }
                KillAim::ReceiptBurst => {
                    let mut group = spawn_group(&senders, &plan, &group_id);
                    let acked =
                        match tokio::time::timeout(Duration::from_secs(30), &mut group).await {
                            Ok(answered) => matches!(answered, Ok(Some(_))),
                            // Still going: joined with the rest at the end.
                            Err(_) => {
                                groups.push(group);
                                false
                            }
                        };
                    // As many receipts as a quarter of the group have gone out since its
                    // acknowledgement: its receipts are streaming in.
                    let before = self.smsc.stats().receipts_sent;
                    let target = (group_size / 4).max(1);
                    acked
                        && self
                            .smsc
                            .wait_for_stats(Duration::from_secs(20), |s| {
                                s.receipts_sent >= before + target
                            })
                            .await
                            .is_ok()
                }
                KillAim::MidWindow => self.wait_busy_window().await,
            };
            let smsc_accepted = self.smsc.stats().accepted;
            let at_secs = self.started.elapsed().as_secs_f64();
            kill_times.push(SystemTime::now());
            state.send_modify(|s| s.up = false);
            self.server.kill().await?;
            let restart = self.server.start(start_timeout).await?;
            state.send_modify(|s| {
                s.generation += 1;
                s.up = true;
            });
            let kill = Kill {
                aim,
                on_target,
                at_secs,
                smsc_accepted,
                restart_ms: restart.as_secs_f64() * 1000.0,
                duplicates: 0,
            };
            let record = load::lock(&senders.record);
            self.progress(&format!(
                "kill {}/{} ({:?}{}) at {at_secs:.1}s, serving again in {:.0} ms; {} acknowledged, {} cut off so far",
                index + 1,
                args.kills,
                aim,
                if on_target { "" } else { ", off target" },
                kill.restart_ms,
                record.acks.len(),
                record.cut_off
            ));
            drop(record);
            kills.push(kill);
        }

        // Load on the last start for a while, then let every sender finish its request.
        tokio::time::sleep(Duration::from_millis(args.min_up_ms)).await;
        stop.store(true, Ordering::Relaxed);
        let drain_deadline = Instant::now() + Duration::from_secs(args.drain_timeout_secs);
        for task in steady.into_iter().chain(
            groups
                .into_iter()
                .map(|g| tokio::spawn(async move { drop(g.await) })),
        ) {
            let left = drain_deadline.saturating_duration_since(Instant::now());
            let mut task = task;
            if tokio::time::timeout(left, &mut task).await.is_err() {
                senders.abandon.store(true, Ordering::Relaxed);
                let _ = task.await;
            }
        }
        self.progress("load stopped; draining");
        let drain_started = Instant::now();
        let record = std::mem::take(&mut *load::lock(&senders.record));
        let mut summary = CrashSummary {
            storage: args.storage.clone(),
            seed,
            kills,
            attempts: record.attempts,
            cut_off: record.cut_off,
            transport_errors: record.transport_errors,
            server_errors: record.server_errors,
            rejected: record.rejected.len() as u64,
            abandoned: record.abandoned,
            duplicate_bound: u64::from(args.window) * u64::from(args.kills),
            ..CrashSummary::default()
        };
        summary.restart_figures();
        summary
            .samples
            .extend(record.rejected.iter().take(5).cloned());
        let acks = record.acks;
        summary.acknowledged = acks.len() as u64;
        summary.acknowledged_recipients = acks.iter().map(|a| a.answer.recipients_sent).sum();
        summary.acknowledged_group_sends = acks
            .iter()
            .filter(|a| a.request.kind == Kind::Group)
            .count() as u64;
        summary.acknowledged_after_retry = acks.iter().filter(|a| a.attempts > 1).count() as u64;

        let keys: Vec<String> = tenants.iter().map(|t| t.key.clone()).collect();
        let finality =
            check::wait_final(&flit, &keys, &acks, drain_deadline, args.connections * 2).await;
        summary.drain_secs = drain_started.elapsed().as_secs_f64();
        summary.missing = finality.missing.len() as u64;
        summary.not_final = finality.not_final.len() as u64;
        summary.lost = summary.missing + summary.not_final;
        summary.count_mismatch = finality.count_mismatch.len() as u64;
        summary.delivered_messages = finality.delivered;
        summary.failed_messages = finality.failed;
        for id in finality.missing.iter().take(5) {
            summary.samples.push(format!("missing: {id}"));
        }
        for id in finality.not_final.iter().take(5) {
            summary.samples.push(format!("not final: {id}"));
        }
        summary
            .samples
            .extend(finality.count_mismatch.iter().take(5).cloned());
        self.progress(&format!(
            "drained in {:.1}s; checking replays, ledgers, history and the SMSC",
            summary.drain_secs
        ));
        self.wait_smsc_quiet().await;

        // A retry of a request after the run must give its first answer again.
        let mut replays: Vec<Ack> = acks
            .iter()
            .filter(|a| a.attempts > 1 || a.request.kind == Kind::Group)
            .cloned()
            .collect();
        replays.extend(acks.iter().filter(|a| a.attempts == 1).take(50).cloned());
        let mismatches = check::replay_all(&senders, &replays, args.connections).await;
        summary.replayed = replays.len() as u64;
        summary.replay_mismatches = mismatches.len() as u64;
        summary.samples.extend(mismatches.into_iter().take(5));

        self.check_ledgers(&flit, &tenants, &acks, &mut summary)
            .await?;
        let acknowledged: HashSet<&str> =
            acks.iter().map(|a| a.answer.message_id.as_str()).collect();
        for tenant in tenants.iter().take(2) {
            let listed = client::list_messages(&flit, &tenant.key).await?;
            for message in listed {
                if !acknowledged.contains(message.id.as_str()) {
                    summary.unacknowledged_messages += 1;
                    if summary.samples.len() < 40 {
                        summary.samples.push(format!(
                            "{}: message {} ({}) was never acknowledged",
                            tenant.name, message.id, message.status
                        ));
                    }
                }
            }
        }
        summary.smsc = check::check_smsc(&self.smsc.received(), &acks, &group_numbers, &kill_times);
        for (kill, duplicates) in summary
            .kills
            .iter_mut()
            .zip(&summary.smsc.duplicates_per_kill)
        {
            kill.duplicates = *duplicates;
        }
        summary.window_violations = self.smsc.stats().window_violations;
        summary.elapsed_secs = self.started.elapsed().as_secs_f64();
        summary.violations = violations(&summary);
        Ok(summary)
    }

    /// Creates the group and imports its contacts, 10,000 a request.
    async fn make_group(
        &self,
        flit: &Flit,
        key: &str,
        numbers: &[String],
    ) -> anyhow::Result<String> {
        let group = flit
            .call(
                Method::POST,
                "/api/v1/contacts/groups",
                key,
                Some(&json!({ "name": "crash-group" })),
            )
            .await
            .context("creating the group")?;
        let group_id = group["id"]
            .as_str()
            .context("the group has no id")?
            .to_owned();
        let mut created = 0;
        for (chunk_index, chunk) in numbers.chunks(10_000).enumerate() {
            let contacts: Vec<Value> = chunk
                .iter()
                .enumerate()
                .map(|(i, phone)| {
                    json!({ "phone": phone, "firstName": format!("C{}", chunk_index * 10_000 + i) })
                })
                .collect();
            let imported = flit
                .call(
                    Method::POST,
                    "/api/v1/contacts/import",
                    key,
                    Some(&json!({ "contacts": contacts, "groupId": group_id })),
                )
                .await
                .context("importing the group's contacts")?;
            created += imported["created"].as_u64().unwrap_or(0);
        }
        ensure!(
            created == numbers.len() as u64,
            "the import created {created} contacts of {}",
            numbers.len()
        );
        Ok(group_id)
    }

    /// Waits until the SMSC is taking submits (several in the last 10 ms): the bind's window
    /// then holds submits in flight. False when that did not happen within 5 s.
    async fn wait_busy_window(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut before = self.smsc.stats().submits;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let now = self.smsc.stats().submits;
            if now >= before + 5 {
                return true;
            }
            before = now;
        }
        false
    }

    /// Waits (at most 10 s) until the SMSC has taken no submit for a second, so that any late
    /// resend is counted.
    async fn wait_smsc_quiet(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut before = self.smsc.stats().submits;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = self.smsc.stats().submits;
            if now == before {
                return;
            }
            before = now;
        }
    }

    async fn check_ledgers(
        &self,
        flit: &Flit,
        tenants: &[Tenant],
        acks: &[Ack],
        summary: &mut CrashSummary,
    ) -> anyhow::Result<()> {
        for (index, tenant) in tenants.iter().enumerate() {
            let acknowledged: HashMap<String, i64> = acks
                .iter()
                .filter(|a| a.request.tenant == index)
                .map(|a| (a.answer.message_id.clone(), a.answer.credits_used))
                .collect();
            let (entries, balance) = check::fetch_ledger(flit, &tenant.key)
                .await
                .with_context(|| format!("reading the ledger of {}", tenant.name))?;
            let checked = check::check_ledger(&entries, balance, &acknowledged);
            let mut without = Vec::new();
            for message in &checked.charged_unacknowledged {
                if check::message_status(flit, &tenant.key, message).await
                    == Err(check::StatusError::NotFound)
                {
                    without.push(message.clone());
                }
            }
            summary.double_charged += checked.double_charged.len() as u64;
            summary.charges_without_message += without.len() as u64;
            summary.charged_unacknowledged +=
                (checked.charged_unacknowledged.len() - without.len()) as u64;
            summary.uncharged += checked.uncharged.len() as u64;
            for id in checked
                .double_charged
                .iter()
                .chain(&checked.charged_unacknowledged)
                .chain(&checked.uncharged)
                .chain(&checked.amount_mismatch)
                .take(10)
            {
                summary
                    .samples
                    .push(format!("{}: ledger anomaly on {id}", tenant.name));
            }
            summary.ledgers.push(TenantLedger {
                tenant: tenant.name.clone(),
                check: checked,
                charges_without_message: without,
            });
        }
        Ok(())
    }
}

fn spawn_group(senders: &Senders, plan: &Plan, group_id: &str) -> JoinHandle<Option<Ack>> {
    let request = Request::group(plan.next_id(), 0, group_id);
    let senders = senders.clone();
    tokio::spawn(async move { senders.drive(request).await })
}

/// Everything in `summary` that breaks the crash test's rules.
pub fn violations(summary: &CrashSummary) -> Vec<String> {
    let mut out = Vec::new();
    let mut rule = |count: u64, what: &str| {
        if count > 0 {
            out.push(format!("{count} {what}"));
        }
    };
    rule(
        summary.missing,
        "acknowledged message(s) missing after the drain",
    );
    rule(
        summary.not_final,
        "acknowledged message(s) not final at the drain's deadline",
    );
    rule(
        summary.count_mismatch,
        "message(s) stored with another recipient count than acknowledged",
    );
    rule(summary.double_charged, "message(s) charged more than once");
    rule(
        summary.charges_without_message,
        "charge(s) whose message does not exist",
    );
    rule(
        summary.charged_unacknowledged,
        "charged message(s) that no answer acknowledged (a retry did not get the first answer)",
    );
    rule(
        summary.uncharged,
        "acknowledged message(s) without their charge",
    );
    rule(
        summary
            .ledgers
            .iter()
            .map(|l| l.check.amount_mismatch.len() as u64)
            .sum(),
        "charge(s) of another amount than acknowledged",
    );
    rule(
        summary
            .ledgers
            .iter()
            .filter(|l| !l.check.balances())
            .count() as u64,
        "tenant ledger(s) that do not balance",
    );
    rule(
        summary.unacknowledged_messages,
        "stored message(s) that no answer acknowledged",
    );
    rule(
        summary.replay_mismatches,
        "retried request(s) that did not get the first answer",
    );
    rule(
        summary.smsc.unsent,
        "acknowledged recipient(s) never submitted to the SMSC",
    );
    rule(
        summary.smsc.unknown,
        "submit(s) at the SMSC of no acknowledged request",
    );
    rule(
        summary.rejected,
        "request(s) refused with a 4xx (no refusal is expected)",
    );
    rule(summary.abandoned, "request(s) never answered");
    if summary.smsc.duplicates > summary.duplicate_bound {
        out.push(format!(
            "{} duplicates at the SMSC, above the bound of {} (window × kills)",
            summary.smsc.duplicates, summary.duplicate_bound
        ));
    }
    out
}
