//! `flit-loadtest devices-bench`: phones as a channel, measured. Against a running `flit serve`
//! it creates a registration token, starts N simulated phones with it (the same
//! [`DevicePool`] `flit-loadtest devices` runs), lifts each phone's send limits, waits until
//! every phone holds its event stream open, and then measures one of:
//!
//! - `throughput`: M FlixySMS sends (`POST /flixy/api/v1/sms/send` without a `device_id`: the
//!   server picks the least loaded online phone) from a bounded number of concurrent senders;
//!   messages/s from the first send to the last Delivered report the server took, and to the
//!   moment the tenant's history shows every message DELIVERED.
//! - `latency`: sends at a steady rate (open loop); for each, the gap from its 2xx (and from its
//!   request) to the arrival of the `MessageEnqueued` that led the phone to pull it.
//! - `memory`: nothing sent; only the server's resident memory before and after.
//!
//! With `--server-pid` every mode reports the server's resident memory before the phones
//! start and once they are all connected and idle, and the difference per phone.
//!
//! A tenant pairs at most 500 phones on Flit, so with `--admin-token` more phones than
//! `--phones-per-tenant` are spread over as many throwaway tenants as it takes: the first
//! tenant's phones register with its registration token, the others' with one-time pairing
//! codes of their tenant (the pool hands phone i code i), and sends go to the tenants in turn.
//!
//! `api` holds the tenant and admin calls, `ids` the pairing of a send's UUID with a phone's
//! message id, `latency` that pairing and the distributions, `memory` the RSS reading, `report`
//! the summary.

mod api;
mod ids;
mod latency;
mod memory;
mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use clap::{Args, ValueEnum};
use futures::StreamExt as _;
use time::OffsetDateTime;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::devices::{DevicePool, DevicesConfig};
use api::{BenchApi, LiftOutcome, SendOutcome};
pub use report::{
    BenchReport, LatencyReport, MemoryReport, SendCounts, SetupReport, ThroughputReport,
};

/// Progress lines on stderr this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// Concurrent `PATCH /api/v1/devices/{id}` calls while lifting limits.
const LIFT_CONCURRENCY: usize = 16;
/// How often the tenant's history is asked how many messages are DELIVERED.
const STATUS_POLL: Duration = Duration::from_millis(100);
/// Extra credits a throwaway tenant gets beyond one per message.
const CREDIT_MARGIN: u64 = 1_000;
/// Phones Flit lets one tenant pair (`MAX_DEVICES` in the engine).
const SERVER_PHONES_PER_TENANT: usize = 500;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Messages/s through the phones, from the first send to the last Delivered report.
    Throughput,
    /// Send's 2xx → the phone's `MessageEnqueued`, at a steady rate.
    Latency,
    /// Only connect the phones (and read the server's memory with --server-pid).
    Memory,
}

impl Mode {
    fn default_devices(self) -> usize {
        match self {
            Mode::Throughput => 100,
            Mode::Latency | Mode::Memory => 1000,
        }
    }
}

/// Arguments of `flit-loadtest devices-bench`.
#[derive(Debug, Clone, Args)]
pub struct DevicesBenchArgs {
    /// The server's base URL (`http://127.0.0.1:8080`, or https with --ca-file).
    #[arg(long)]
    pub url: String,
    /// An API key with the sms:send and devices:write scopes; its tenant needs the credits
    /// and the rate limit for the run (a fresh server's bootstrap tenant has 1,000 credits
    /// and 100 sends a minute: use --admin-token, or raise them first).
    #[arg(long, env = "FLIT_API_KEY")]
    pub key: Option<String>,
    /// Admin token: instead of --key, create a throwaway tenant with the credits the run needs
    /// and a rate limit it does not reach.
    #[arg(long, env = "FLIT_ADMIN_TOKEN")]
    pub admin_token: Option<String>,
    /// A PEM file of certificates to trust (the server's CA), for both the API and the phones.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// Simulated phones (default: 100 for throughput, 1,000 otherwise).
    #[arg(long)]
    pub devices: Option<usize>,
    /// Phones per tenant: more phones than this need --admin-token, which spreads them over
    /// as many throwaway tenants as it takes (Flit pairs at most 500 phones a tenant).
    #[arg(long, default_value_t = SERVER_PHONES_PER_TENANT)]
    pub phones_per_tenant: usize,
    /// Throughput: messages to send.
    #[arg(long, default_value_t = 10_000)]
    pub messages: usize,
    /// Throughput: concurrent senders, each with one request in flight.
    #[arg(long, default_value_t = 16)]
    pub senders: usize,
    /// Latency: sends per second.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Latency: seconds of sending.
    #[arg(long, default_value_t = 20.0)]
    pub duration_secs: f64,
    /// The server's process id, to read its resident memory (`/proc/<pid>/status`).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Once every phone is connected (and its limits lifted), wait this long before
    /// measuring: the phones' binds come up, and the keep-alive connections of the start-up
    /// burst are closed by the server (after its 15 s header-read timeout), so that each
    /// phone holds its event stream and nothing else.
    #[arg(long, default_value_t = 20.0)]
    pub settle_secs: f64,
    /// Spread the phones' start over this many seconds.
    #[arg(long, default_value_t = 0.0)]
    pub ramp_secs: f64,
    /// Give up if the phones are not all connected within this many seconds.
    #[arg(long, default_value_t = 120)]
    pub connect_timeout_secs: u64,
    /// Give up waiting for the phones to finish (report, or pull) after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub drain_timeout_secs: u64,
    /// Leave the phones' send limits as the server set them (a server without
    /// `PATCH /api/v1/devices/{id}`); the default lifts them and fails if it cannot.
    #[arg(long)]
    pub keep_limits: bool,
    /// A phone's Processed → Sent.
    #[arg(long, default_value_t = 0)]
    pub sent_delay_ms: u64,
    /// A phone's Sent → Delivered.
    #[arg(long, default_value_t = 0)]
    pub delivered_delay_ms: u64,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

impl DevicesBenchArgs {
    fn devices(&self) -> usize {
        self.devices.unwrap_or_else(|| self.mode.default_devices())
    }

    fn validate(&self) -> anyhow::Result<()> {
        ensure!(self.devices() > 0, "--devices must be at least 1");
        ensure!(
            self.key.is_some() || self.admin_token.is_some(),
            "give --key API_KEY (sms:send and devices:write), or --admin-token TOKEN for a throwaway tenant"
        );
        ensure!(self.senders > 0, "--senders must be at least 1");
        ensure!(
            self.phones_per_tenant > 0,
            "--phones-per-tenant must be at least 1"
        );
        ensure!(
            self.key.is_none() || self.tenant_count() == 1,
            "{} phones need {} tenants of at most {} phones each: give --admin-token instead \
             of --key, so that the run can make them",
            self.devices(),
            self.tenant_count(),
            self.phones_per_tenant
        );
        ensure!(
            self.rate > 0.0 && self.rate.is_finite(),
            "--rate must be a positive number"
        );
        ensure!(
            self.duration_secs > 0.0 && self.duration_secs.is_finite(),
            "--duration-secs must be a positive number"
        );
        ensure!(
            self.settle_secs >= 0.0 && self.settle_secs.is_finite(),
            "--settle-secs must be ≥ 0"
        );
        ensure!(
            self.ramp_secs >= 0.0 && self.ramp_secs.is_finite(),
            "--ramp-secs must be ≥ 0"
        );
        Ok(())
    }

    fn tenant_count(&self) -> usize {
        self.devices().div_ceil(self.phones_per_tenant)
    }

    /// Messages the run sends.
    fn planned_messages(&self) -> usize {
        match self.mode {
            Mode::Throughput => self.messages,
            Mode::Latency => (self.rate * self.duration_secs).round() as usize,
            Mode::Memory => 0,
        }
    }
}

pub async fn run(args: DevicesBenchArgs) -> anyhow::Result<()> {
    let json = args.json;
    let report = execute(&args).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.summary());
    }
    ensure!(
        report.phones.duplicates == 0,
        "{} messages were pulled by two phones: the server handed them out twice",
        report.phones.duplicates
    );
    Ok(())
}

/// Runs the benchmark and returns its report.
pub async fn execute(args: &DevicesBenchArgs) -> anyhow::Result<BenchReport> {
    args.validate()?;
    let ca_pem = match &args.ca_file {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
        }
        None => None,
    };
    let api = BenchApi::new(&args.url, ca_pem.as_deref())?;
    let devices = args.devices();
    let tenants = Tenants::set_up(args, &api).await?;
    let registration_token = api.registration_token(&tenants.keys[0]).await?;
    let codes = tenants.pairing_codes(&api).await?;

    let rss_before = args
        .server_pid
        .map(memory::resident_bytes)
        .transpose()
        .context("reading the server's memory (--server-pid)")?;
    let config = DevicesConfig {
        url: args.url.clone(),
        registration_token: Some(registration_token),
        codes,
        devices,
        sent_delay: Duration::from_millis(args.sent_delay_ms),
        delivered_delay: Duration::from_millis(args.delivered_delay_ms),
        ca_pem,
        ramp: Duration::from_secs_f64(args.ramp_secs),
        keep_log: true,
        ..DevicesConfig::default()
    };
    eprintln!(
        "devices-bench: starting {devices} phones against {}",
        config.mobile_base()
    );
    let pool = DevicePool::start(config)?;
    let started = Instant::now();
    let outcome = measure(args, &api, &tenants, &pool, started, rss_before).await;
    let phones = pool.stop().await;
    let (setup, memory, throughput, latency) = outcome?;
    Ok(BenchReport {
        mode: args.mode,
        url: args.url.clone(),
        devices,
        tenants: tenants.keys.len(),
        setup,
        memory,
        throughput,
        latency,
        phones,
    })
}

/// The tenants of a run and which of them each phone pairs with.
struct Tenants {
    /// One API key per tenant.
    keys: Vec<String>,
    /// Phone index → index into `keys`.
    of_phone: Vec<usize>,
}

impl Tenants {
    async fn set_up(args: &DevicesBenchArgs, api: &BenchApi) -> anyhow::Result<Self> {
        let devices = args.devices();
        let count = args.tenant_count();
        let keys = match (&args.key, &args.admin_token) {
            (Some(key), _) => vec![key.clone()],
            (None, Some(admin_token)) => {
                let credits = args.planned_messages().div_ceil(count) as u64 + CREDIT_MARGIN;
                let mut keys = Vec::with_capacity(count);
                for _ in 0..count {
                    let name = format!("devices-bench-{:08x}", rand::random::<u32>());
                    keys.push(api.create_tenant(admin_token, &name, credits).await?);
                    eprintln!("devices-bench: created tenant {name} with {credits} credits");
                }
                keys
            }
            (None, None) => bail!("no --key and no --admin-token"),
        };
        // Phones of every tenant but the first pair with codes, which the pool hands out by
        // phone index from the first phone on; the first tenant's phones come last.
        let mut of_phone = Vec::with_capacity(devices);
        for (tenant, share) in shares(devices, count).into_iter().enumerate().skip(1) {
            of_phone.extend(std::iter::repeat_n(tenant, share));
        }
        of_phone.resize(devices, 0);
        Ok(Self { keys, of_phone })
    }

    /// One pairing code for each phone that does not pair with the first tenant, in phone
    /// order. Each works for a minute: made just before the phones start.
    async fn pairing_codes(&self, api: &BenchApi) -> anyhow::Result<Vec<String>> {
        let mut codes = Vec::new();
        for &tenant in self.of_phone.iter().take_while(|&&tenant| tenant != 0) {
            codes.push(api.pairing_code(&self.keys[tenant]).await?);
        }
        Ok(codes)
    }

    /// The key message `index` is sent with: the tenants in turn.
    fn key_for_message(&self, index: usize) -> &str {
        &self.keys[index % self.keys.len()]
    }
}

/// `total` split into `parts` shares that differ by at most one, larger first.
fn shares(total: usize, parts: usize) -> Vec<usize> {
    let parts = parts.max(1);
    (0..parts)
        .map(|part| total / parts + usize::from(part < total % parts))
        .collect()
}

type Measured = (
    SetupReport,
    Option<MemoryReport>,
    Option<ThroughputReport>,
    Option<LatencyReport>,
);

/// Everything between the pool's start and its stop, so that the pool is stopped whatever
/// goes wrong here.
async fn measure(
    args: &DevicesBenchArgs,
    api: &BenchApi,
    tenants: &Tenants,
    pool: &DevicePool,
    started: Instant,
    rss_before: Option<u64>,
) -> anyhow::Result<Measured> {
    let devices = args.devices();
    wait_connected(
        pool,
        devices,
        Duration::from_secs(args.connect_timeout_secs),
    )
    .await?;
    let connect_secs = started.elapsed().as_secs_f64();
    eprintln!("devices-bench: {devices} phones connected in {connect_secs:.1} s");
    let limits_lifted = if args.keep_limits {
        false
    } else {
        lift_limits(api, tenants, pool).await?;
        true
    };
    tokio::time::sleep(Duration::from_secs_f64(args.settle_secs)).await;
    let memory = match (args.server_pid, rss_before) {
        (Some(pid), Some(before)) => {
            let after = memory::resident_bytes(pid).context("reading the server's memory")?;
            Some(MemoryReport::new(before, after, devices, args.settle_secs))
        }
        _ => None,
    };
    let setup = SetupReport {
        connect_secs,
        limits_lifted,
        phones_connected: pool.stats().sse_connected,
    };
    let (throughput, latency) = match args.mode {
        Mode::Throughput => (Some(throughput(args, api, tenants, pool).await?), None),
        Mode::Latency => (None, Some(latency(args, api, tenants, pool).await?)),
        Mode::Memory => (None, None),
    };
    Ok((setup, memory, throughput, latency))
}

/// Waits until every phone is registered with its event stream open.
async fn wait_connected(
    pool: &DevicePool,
    devices: usize,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut next_progress = Instant::now() + PROGRESS_EVERY;
    loop {
        let stats = pool.stats();
        if stats.registered as usize >= devices && stats.sse_connected as usize >= devices {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "after {timeout:?} only {} of {devices} phones were registered and {} connected \
                 ({} registration errors, {} stream failures); a file descriptor limit \
                 (`ulimit -n`) stops many phones on one machine",
                stats.registered,
                stats.sse_connected,
                stats.registration_errors,
                stats.sse_failures
            );
        }
        if Instant::now() >= next_progress {
            eprintln!(
                "devices-bench: registered {} connected {} of {devices}",
                stats.registered, stats.sse_connected
            );
            next_progress += PROGRESS_EVERY;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `PATCH /api/v1/devices/{id}` with no limits for every phone of the pool, with its
/// tenant's key.
async fn lift_limits(api: &BenchApi, tenants: &Tenants, pool: &DevicePool) -> anyhow::Result<()> {
    let phones: Vec<(usize, String)> = pool
        .device_ids()
        .into_iter()
        .enumerate()
        .filter_map(|(index, id)| Some((tenants.of_phone[index], id?)))
        .collect();
    let outcomes: Vec<anyhow::Result<LiftOutcome>> = futures::stream::iter(phones)
        .map(|(tenant, id)| async move { api.lift_limits(&tenants.keys[tenant], &id).await })
        .buffer_unordered(LIFT_CONCURRENCY)
        .collect()
        .await;
    for outcome in outcomes {
        if outcome? == LiftOutcome::NotServed {
            bail!(
                "this server has no PATCH /api/v1/devices/{{id}}: the phones' limits cannot be \
                 lifted (each takes 10 messages a minute by default); --keep-limits measures \
                 under them"
            );
        }
    }
    Ok(())
}

/// The recipient of message `index`: distinct Ghanaian mobile numbers.
fn recipient(index: usize) -> String {
    format!("+23324{:07}", index % 10_000_000)
}

fn text(index: usize) -> String {
    format!("devices-bench message {index}")
}

/// `M` sends from `senders` closed-loop senders, then the wait for every Delivered report
/// and for the history to show every message DELIVERED.
async fn throughput(
    args: &DevicesBenchArgs,
    api: &BenchApi,
    tenants: &Tenants,
    pool: &DevicePool,
) -> anyhow::Result<ThroughputReport> {
    // A little before now, in case the server's clock is a little behind this one.
    let since = OffsetDateTime::now_utc() - Duration::from_secs(1);
    let total = args.messages;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut senders = JoinSet::new();
    let keys: Arc<[String]> = tenants.keys.clone().into();
    for _ in 0..args.senders {
        let api = api.clone();
        let keys = Arc::clone(&keys);
        let next = Arc::clone(&next);
        senders.spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= total {
                    return outcomes;
                }
                let key = &keys[index % keys.len()];
                outcomes.push(api.send(key, &recipient(index), &text(index)).await);
            }
        });
    }
    let mut outcomes = Vec::with_capacity(total);
    let mut ticker = tokio::time::interval_at(start + PROGRESS_EVERY, PROGRESS_EVERY);
    loop {
        tokio::select! {
            joined = senders.join_next() => match joined {
                Some(result) => outcomes.extend(result.context("a sender panicked")?),
                None => break,
            },
            _ = ticker.tick() => progress(start, "sending", next.load(Ordering::Relaxed).min(total), total, pool),
        }
    }
    let sends = SendCounts::of(&outcomes);
    let first_request = outcomes
        .iter()
        .map(|outcome| outcome.requested_at)
        .min()
        .unwrap_or(start);
    let last_answer = outcomes
        .iter()
        .map(|outcome| outcome.answered_at)
        .max()
        .unwrap_or(start);
    let accepted = sends.accepted;
    let deadline = Instant::now() + Duration::from_secs(args.drain_timeout_secs);
    let mut next_progress = Instant::now() + PROGRESS_EVERY;
    let drained = loop {
        let stats = pool.stats();
        let finished = (stats.delivered + stats.failed) as usize;
        if finished >= accepted {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        if Instant::now() >= next_progress {
            progress(start, "draining", finished, accepted, pool);
            next_progress += PROGRESS_EVERY;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let report_times = pool.final_report_times();
    // The history's view: polled only now, so that its scans do not slow the run itself.
    let mut all_delivered_at = None;
    let mut delivered_in_history = 0;
    if drained && accepted > 0 {
        let deadline = Instant::now() + Duration::from_secs(args.drain_timeout_secs);
        loop {
            delivered_in_history = 0;
            for key in &tenants.keys {
                delivered_in_history += api.delivered_since(key, since).await?;
            }
            if delivered_in_history as usize >= accepted {
                all_delivered_at = Some(Instant::now());
                break;
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(STATUS_POLL).await;
        }
    }
    Ok(ThroughputReport::new(
        args.senders,
        sends,
        first_request,
        last_answer,
        drained,
        &report_times,
        all_delivered_at,
        delivered_in_history,
        &pool.stats(),
    ))
}

/// Sends at a steady rate (each send its own task, so a slow answer delays no other), then
/// waits until the phones have pulled every accepted message and pairs each send with its
/// pull.
async fn latency(
    args: &DevicesBenchArgs,
    api: &BenchApi,
    tenants: &Tenants,
    pool: &DevicePool,
) -> anyhow::Result<LatencyReport> {
    let count = args.planned_messages();
    let period = Duration::from_secs_f64(1.0 / args.rate);
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    let mut next_progress = start + PROGRESS_EVERY;
    for index in 0..count {
        tokio::time::sleep_until(start + period.mul_f64(index as f64)).await;
        let api = api.clone();
        let key = tenants.key_for_message(index).to_owned();
        tasks.spawn(async move { api.send(&key, &recipient(index), &text(index)).await });
        if Instant::now() >= next_progress {
            progress(start, "sending", index + 1, count, pool);
            next_progress += PROGRESS_EVERY;
        }
    }
    let mut outcomes: Vec<SendOutcome> = Vec::with_capacity(count);
    while let Some(joined) = tasks.join_next().await {
        outcomes.push(joined.context("a send panicked")?);
    }
    let sending_secs = start.elapsed().as_secs_f64();
    let sends = SendCounts::of(&outcomes);
    let deadline = Instant::now() + Duration::from_secs(args.drain_timeout_secs);
    loop {
        let pulled = pool.stats().messages_pulled as usize;
        if pulled >= sends.accepted || Instant::now() >= deadline {
            break;
        }
        if Instant::now() >= next_progress {
            progress(start, "waiting for pulls", pulled, sends.accepted, pool);
            next_progress += PROGRESS_EVERY;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pairing = latency::pair(&outcomes, &pool.pull_log());
    Ok(LatencyReport {
        rate: args.rate,
        sending_secs,
        sends,
        pairing,
    })
}

fn progress(start: Instant, phase: &str, done: usize, of: usize, pool: &DevicePool) {
    let stats = pool.stats();
    eprintln!(
        "[{:>6.1}s] {phase} {done}/{of}  pulled {}  delivered {}  failed {}  online {}  errors {}",
        start.elapsed().as_secs_f64(),
        stats.messages_pulled,
        stats.delivered,
        stats.failed,
        stats.sse_connected,
        stats.pull_errors + stats.patch_errors + stats.protocol_errors + stats.registration_errors,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_shared_out_evenly_larger_shares_first() {
        assert_eq!(shares(1000, 2), [500, 500]);
        assert_eq!(shares(1001, 3), [334, 334, 333]);
        assert_eq!(shares(100, 1), [100]);
        assert_eq!(shares(2, 3), [1, 1, 0]);
    }
}
