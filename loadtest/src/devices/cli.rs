//! `flit-loadtest devices`: runs N simulated phones against a server until Ctrl-C or for a set
//! time, printing a progress line every few seconds and a summary at the end; fails when a
//! message was pulled by two phones.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use tokio::time::Instant;

use super::{DevicePool, DeviceStats, DevicesConfig, LatencySummary, PullOrder};

const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Arguments of `flit-loadtest devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// The server: `https://host:port` or the app's own form `https://host:port/mobile/v1`.
    #[arg(long)]
    pub url: String,
    /// The tenant's device-registration token (`Authorization: Bearer`); also what phones
    /// register again with after a 401.
    #[arg(long, env = "FLIT_REGISTRATION_TOKEN")]
    pub registration_token: Option<String>,
    /// A one-time pairing code (`Authorization: Code`); repeat it, one per device.
    #[arg(long = "code")]
    pub codes: Vec<String>,
    /// Number of simulated phones.
    #[arg(long, default_value_t = 1)]
    pub devices: usize,
    /// From Processed (handed to the radio) to Sent.
    #[arg(long, default_value_t = 1000)]
    pub sent_delay_ms: u64,
    /// From Sent to Delivered (or Failed).
    #[arg(long, default_value_t = 2000)]
    pub delivered_delay_ms: u64,
    /// Probability that a delivery report is a failure.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// How long a pulled message waits on the phone before the radio takes it (the window in
    /// which a cancel still works).
    #[arg(long, default_value_t = 0)]
    pub queue_delay_ms: u64,
    /// Received SMS per phone per minute, posted as signed `sms:received` webhooks.
    #[arg(long, default_value_t = 0.0)]
    pub inbound_per_minute: f64,
    /// Dropouts per phone per minute: the phone closes its stream and goes silent.
    #[arg(long, default_value_t = 0.0)]
    pub dropout_rate: f64,
    /// How long a dropout lasts.
    #[arg(long, default_value_t = 30)]
    pub dropout_secs: u64,
    /// A PEM file of certificates to trust instead of the system's roots.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// `order` of `GET /message` until the server's settings say otherwise.
    #[arg(long, value_enum, default_value_t = PullOrder::Fifo)]
    pub order: PullOrder,
    /// Spread the phones' start over this many seconds.
    #[arg(long, default_value_t = 0.0)]
    pub ramp_secs: f64,
    /// Seed of the phones' randomness.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration_secs: Option<u64>,
    /// Print the final summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

impl DevicesArgs {
    pub fn to_config(&self) -> anyhow::Result<DevicesConfig> {
        let ca_pem = match &self.ca_file {
            Some(path) => {
                Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
            }
            None => None,
        };
        anyhow::ensure!(
            self.ramp_secs >= 0.0 && self.ramp_secs.is_finite(),
            "--ramp-secs must be ≥ 0"
        );
        Ok(DevicesConfig {
            url: self.url.clone(),
            registration_token: self.registration_token.clone(),
            codes: self.codes.clone(),
            devices: self.devices,
            sent_delay: Duration::from_millis(self.sent_delay_ms),
            delivered_delay: Duration::from_millis(self.delivered_delay_ms),
            fail_rate: self.fail_rate,
            queue_delay: Duration::from_millis(self.queue_delay_ms),
            inbound_per_minute: self.inbound_per_minute,
            dropout_rate: self.dropout_rate,
            dropout_duration: Duration::from_secs(self.dropout_secs),
            ca_pem,
            order: self.order,
            ramp: Duration::from_secs_f64(self.ramp_secs),
            seed: self.seed,
            keep_log: false,
        })
    }
}

pub async fn run(args: DevicesArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    eprintln!(
        "flit-loadtest devices: {} phones against {}",
        config.devices,
        config.mobile_base()
    );
    let pool = DevicePool::start(config)?;
    let started = Instant::now();
    let mut ticker = tokio::time::interval_at(started + PROGRESS_EVERY, PROGRESS_EVERY);
    let mut previous = DeviceStats::default();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let until = async {
        match args.duration_secs {
            Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until);
    loop {
        tokio::select! {
            result = &mut ctrl_c => {
                result?;
                break;
            }
            () = &mut until => break,
            _ = ticker.tick() => {
                let stats = pool.stats();
                eprintln!("{}", progress_line(started.elapsed(), &stats, &previous));
                previous = stats;
            }
        }
    }
    let elapsed = started.elapsed();
    let stats = pool.stop().await;
    if args.json {
        let summary = serde_json::json!({
            "elapsed_secs": elapsed.as_secs_f64(),
            "stats": stats,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary_table(&stats, elapsed));
    }
    anyhow::ensure!(
        stats.duplicates == 0,
        "{} messages were pulled by two phones: the server handed them out twice",
        stats.duplicates
    );
    Ok(())
}

fn progress_line(elapsed: Duration, stats: &DeviceStats, previous: &DeviceStats) -> String {
    let secs = PROGRESS_EVERY.as_secs_f64();
    let rate = |now: u64, before: u64| now.saturating_sub(before) as f64 / secs;
    format!(
        "[{:>6.1}s] registered {} online {} sse {}  pulled {} (+{:.0}/s)  sent {} delivered {} (+{:.0}/s) failed {}  cancelled {}  dup {}  inbound {}  errors {}",
        elapsed.as_secs_f64(),
        stats.registered,
        stats.online,
        stats.sse_connected,
        stats.messages_pulled,
        rate(stats.messages_pulled, previous.messages_pulled),
        stats.sent,
        stats.delivered,
        rate(stats.delivered, previous.delivered),
        stats.failed,
        stats.cancelled,
        stats.duplicates,
        stats.inbound_posted,
        stats.pull_errors + stats.patch_errors + stats.protocol_errors + stats.registration_errors,
    )
}

/// The end-of-run summary as an aligned table.
pub fn summary_table(stats: &DeviceStats, elapsed: Duration) -> String {
    let per_sec = |n: u64| n as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    let latency = |l: &LatencySummary| {
        if l.count == 0 {
            "-".to_owned()
        } else {
            format!(
                "p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  (n={})",
                l.p50_ms, l.p99_ms, l.max_ms, l.count
            )
        }
    };
    let rows: Vec<(&str, String)> = vec![
        ("elapsed", format!("{:.1} s", elapsed.as_secs_f64())),
        (
            "registered",
            format!(
                "{} ({} registrations, {} after a 401, {} failed attempts)",
                stats.registered,
                stats.registrations,
                stats.reregistrations,
                stats.registration_errors
            ),
        ),
        (
            "streams",
            format!(
                "{} opened, {} failed or broke, {} dropouts",
                stats.sse_opens, stats.sse_failures, stats.dropouts
            ),
        ),
        (
            "events",
            format!(
                "{} enqueued, {} cancelled, {} other, {} unknown",
                stats.events_enqueued,
                stats.events_cancelled,
                stats.events_other,
                stats.events_unknown
            ),
        ),
        (
            "pulls",
            format!("{} ({} errors)", stats.pulls, stats.pull_errors),
        ),
        (
            "messages pulled",
            format!(
                "{} ({:.1}/s), {} recipients, {} re-listed",
                stats.messages_pulled,
                per_sec(stats.messages_pulled),
                stats.recipients_pulled,
                stats.repulls
            ),
        ),
        ("duplicates", stats.duplicates.to_string()),
        (
            "recipients",
            format!(
                "{} processed, {} sent, {} delivered ({:.1}/s), {} failed ({} expired)",
                stats.processed,
                stats.sent,
                stats.delivered,
                per_sec(stats.delivered),
                stats.failed,
                stats.expired
            ),
        ),
        ("cancelled", stats.cancelled.to_string()),
        (
            "reports",
            format!(
                "{} PATCH ok, {} errors, {} abandoned",
                stats.patches, stats.patch_errors, stats.patches_abandoned
            ),
        ),
        (
            "inbound",
            format!(
                "{} SMS, {} posted, {} failed, {} without webhook, {} with a made-up key",
                stats.inbound_generated,
                stats.inbound_posted,
                stats.inbound_failed,
                stats.inbound_no_webhook,
                stats.inbound_unverifiable
            ),
        ),
        ("protocol errors", stats.protocol_errors.to_string()),
        ("event → pull", latency(&stats.event_to_pull)),
        ("createdAt → pull", latency(&stats.created_to_pull)),
    ];
    let width = rows
        .iter()
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (name, value) in rows {
        let _ = writeln!(out, "{name:<width$}  {value}");
    }
    out
}
