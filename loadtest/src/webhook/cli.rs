//! `flit-loadtest webhook-receiver`: runs the receiver until Ctrl-C (or for a set time),
//! printing a progress line every few seconds and a summary at the end. `GET /stats` on the
//! same port serves the counters as JSON meanwhile.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use tokio::time::Instant;

use super::{WebhookReceiver, WebhookReceiverConfig, WebhookStats, WebhookTimeline};

const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Arguments of `flit-loadtest webhook-receiver`.
#[derive(Debug, Args)]
pub struct WebhookReceiverArgs {
    /// Address to listen on (port 0 picks one).
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub listen: SocketAddr,
    /// A webhook secret (`whsec_…`) to check signatures against; repeat it to accept the old
    /// and new secret of a rotation.
    #[arg(long = "secret", required = true)]
    pub secrets: Vec<String>,
    /// Answer --fail-status to the first N attempts of every event id, then 200.
    #[arg(long, default_value_t = 0)]
    pub fail_first: u32,
    /// Probability of answering --fail-status to an attempt --fail-first let through.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// HTTP status of injected failures (not 2xx).
    #[arg(long, default_value_t = 500)]
    pub fail_status: u16,
    /// Delay before every answer.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration_secs: Option<u64>,
    /// Print the final summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

impl WebhookReceiverArgs {
    pub fn to_config(&self) -> WebhookReceiverConfig {
        WebhookReceiverConfig {
            listen: self.listen,
            secrets: self.secrets.clone(),
            fail_first: self.fail_first,
            fail_rate: self.fail_rate,
            fail_status: self.fail_status,
            latency: Duration::from_millis(self.latency_ms),
            // A long run is read through its counters; keeping every event would only grow.
            record_events: false,
        }
    }
}

fn progress_line(elapsed: Duration, stats: &WebhookStats, previous: &WebhookStats) -> String {
    let secs = PROGRESS_EVERY.as_secs_f64();
    format!(
        "[{:>6.1}s] unique {} (+{:.0}/s)  attempts {} (+{:.0}/s)  dups {}  bad sigs {}  injected {}  malformed {}",
        elapsed.as_secs_f64(),
        stats.unique_events,
        (stats.unique_events - previous.unique_events) as f64 / secs,
        stats.attempts,
        (stats.attempts - previous.attempts) as f64 / secs,
        stats.duplicates,
        stats.bad_signatures,
        stats.injected_failures,
        stats.malformed,
    )
}

/// Unique events a second from the first to the last one accepted (0 with fewer than two
/// moments to measure between).
pub fn unique_per_sec(stats: &WebhookStats, timeline: &WebhookTimeline) -> f64 {
    match (timeline.first_accepted, timeline.last_accepted) {
        (Some(first), Some(last)) if last > first => {
            stats.unique_events as f64 / (last - first).as_secs_f64()
        }
        _ => 0.0,
    }
}

fn summary_table(stats: &WebhookStats, elapsed: Duration, per_sec: f64) -> String {
    let mut out = format!(
        "webhook receiver summary after {:.1}s\n",
        elapsed.as_secs_f64()
    );
    let mut row = |name: &str, value: String| {
        let _ = writeln!(out, "  {name:<20} {value:>12}");
    };
    row("attempts", stats.attempts.to_string());
    row("accepted (2xx)", stats.accepted.to_string());
    row("unique events", stats.unique_events.to_string());
    row("unique events/s", format!("{per_sec:.1}"));
    row("duplicates", stats.duplicates.to_string());
    row("bad signatures", stats.bad_signatures.to_string());
    row("injected failures", stats.injected_failures.to_string());
    row("malformed", stats.malformed.to_string());
    row("recipients", stats.recipients.to_string());
    row("recipients final", stats.recipients_final.to_string());
    row("final conflicts", stats.final_conflicts.to_string());
    for (event_type, count) in &stats.by_type {
        row(event_type, count.to_string());
    }
    for (status, count) in &stats.recipients_by_status {
        row(&format!("recipients {status}"), count.to_string());
    }
    out
}

/// Runs the receiver until Ctrl-C or `--duration-secs`.
pub async fn run(args: WebhookReceiverArgs) -> anyhow::Result<()> {
    let mut receiver = WebhookReceiver::start(args.to_config()).await?;
    eprintln!(
        "flit-loadtest webhook-receiver listening on {} (stats at {}stats)",
        receiver.url(),
        receiver.url()
    );
    let started = Instant::now();
    let mut ticker = tokio::time::interval_at(started + PROGRESS_EVERY, PROGRESS_EVERY);
    let mut previous = WebhookStats::default();
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
                let stats = receiver.stats();
                eprintln!("{}", progress_line(started.elapsed(), &stats, &previous));
                previous = stats;
            }
        }
    }
    let elapsed = started.elapsed();
    receiver.stop().await;
    // Read after the stop, so that requests in flight at the end are in the figures.
    let stats = receiver.stats();
    let per_sec = unique_per_sec(&stats, &receiver.timeline());
    if args.json {
        let summary = serde_json::json!({
            "elapsed_secs": elapsed.as_secs_f64(),
            "unique_per_sec": per_sec,
            "stats": stats,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary_table(&stats, elapsed, per_sec));
    }
    Ok(())
}
