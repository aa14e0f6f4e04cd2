//! `flit-loadtest smsc`: runs the simulated SMSC until Ctrl-C, printing counters every second
//! and a summary at the end.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{ArgAction, Args, ValueEnum};

use super::{IdFormat, SmscConfig, SmscStats, ThrottleStorm};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum IdFormatArg {
    Hex,
    Decimal,
    /// Hex in submit_sm_resp, decimal in the receipt text.
    Mixed,
}

/// Arguments of `flit-loadtest smsc`.
#[derive(Debug, Args)]
pub struct SmscArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:2775")]
    pub listen: SocketAddr,
    /// Require this system_id (else bind_resp 0x0F).
    #[arg(long)]
    pub system_id: Option<String>,
    /// Require this password (else bind_resp 0x0E).
    #[arg(long)]
    pub password: Option<String>,
    /// Delay between submit_sm_resp and the delivery receipt.
    #[arg(long, default_value_t = 1000)]
    pub receipt_delay_ms: u64,
    /// Delay before answering each submit_sm.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Send each receipt before its submit_sm_resp (which waits for --latency-ms).
    #[arg(long)]
    pub receipts_before_response: bool,
    /// Answer every Nth submit_sm with ESME_RTHROTTLED (0x58).
    #[arg(long, conflicts_with = "throttle_rate")]
    pub throttle_every: Option<u64>,
    /// Probability of answering a submit_sm with ESME_RTHROTTLED.
    #[arg(long, default_value_t = 0.0)]
    pub throttle_rate: f64,
    /// A storm of throttles: after AFTER submits, answer the next COUNT with ESME_RTHROTTLED.
    #[arg(long, value_name = "AFTER:COUNT")]
    pub throttle_storm: Option<ThrottleStorm>,
    /// Answer every Nth submit_sm with a generic_nack.
    #[arg(long)]
    pub generic_nack_every: Option<u64>,
    /// The command_status of those generic_nacks.
    #[arg(long, default_value_t = 0x03)]
    pub generic_nack_status: u32,
    /// Answer every Nth submit_sm with an undecodable submit_sm_resp (it is still accepted).
    #[arg(long)]
    pub malformed_every: Option<u64>,
    /// After every Nth accepted submit_sm, also send a receipt for an id never handed out.
    #[arg(long)]
    pub stray_receipts_every: Option<u64>,
    /// Restart (drop every session, stop listening, listen again) after every Nth submit_sm.
    #[arg(long)]
    pub restart_every: Option<u64>,
    /// How long the listener stays closed during a restart.
    #[arg(long, default_value_t = 500)]
    pub restart_downtime_ms: u64,
    /// Drop the connection right after every Nth submit_sm.
    #[arg(long, conflicts_with = "disconnect_rate")]
    pub disconnect_every: Option<u64>,
    /// Probability of dropping the connection right after a submit_sm.
    #[arg(long, default_value_t = 0.0)]
    pub disconnect_rate: f64,
    /// Write garbage instead of every Nth submit_sm_resp.
    #[arg(long, conflicts_with = "garbage_rate")]
    pub garbage_every: Option<u64>,
    /// Probability of writing garbage instead of a submit_sm_resp.
    #[arg(long, default_value_t = 0.0)]
    pub garbage_rate: f64,
    /// Destinations ending with this get UNDELIV receipts.
    #[arg(long)]
    pub fail_suffix: Option<String>,
    /// Refuse destinations with this ending at submit with ESME_RINVDSTADR (0x0B).
    #[arg(long)]
    pub reject_suffix: Option<String>,
    /// Send delivery receipts.
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    pub receipts: bool,
    /// Message id format.
    #[arg(long, value_enum, default_value = "hex")]
    pub id_format: IdFormatArg,
    /// Never answer submits.
    #[arg(long)]
    pub silent: bool,
    /// Count a violation when a session has more than N unanswered submits.
    #[arg(long)]
    pub max_window_check: Option<u64>,
    /// Print the final summary as JSON.
    #[arg(long)]
    pub json: bool,
}

impl SmscArgs {
    pub fn to_config(&self) -> anyhow::Result<SmscConfig> {
        for (name, rate) in [
            ("--throttle-rate", self.throttle_rate),
            ("--disconnect-rate", self.disconnect_rate),
            ("--garbage-rate", self.garbage_rate),
        ] {
            anyhow::ensure!(
                (0.0..=1.0).contains(&rate),
                "{name} must be within 0..=1, got {rate}"
            );
        }
        Ok(SmscConfig {
            listen: self.listen,
            system_id: self.system_id.clone(),
            password: self.password.clone(),
            receipt_delay: Duration::from_millis(self.receipt_delay_ms),
            latency: Duration::from_millis(self.latency_ms),
            receipts_before_response: self.receipts_before_response,
            throttle_every: self.throttle_every,
            throttle_rate: self.throttle_rate,
            throttle_storm: self.throttle_storm,
            generic_nack_every: self.generic_nack_every,
            generic_nack_status: self.generic_nack_status,
            malformed_every: self.malformed_every,
            stray_receipts_every: self.stray_receipts_every,
            restart_every: self.restart_every,
            restart_downtime: Duration::from_millis(self.restart_downtime_ms),
            disconnect_every: self.disconnect_every,
            disconnect_rate: self.disconnect_rate,
            garbage_every: self.garbage_every,
            garbage_rate: self.garbage_rate,
            fail_suffix: self.fail_suffix.clone(),
            reject_suffix: self.reject_suffix.clone(),
            receipts: self.receipts,
            id_format: match self.id_format {
                IdFormatArg::Hex => IdFormat::Hex,
                IdFormatArg::Decimal => IdFormat::Decimal,
                IdFormatArg::Mixed => IdFormat::HexRespDecimalReceipt,
            },
            silent: self.silent,
            max_window_check: self.max_window_check,
            record_received: false,
        })
    }
}

fn progress_line(stats: &SmscStats, previous: &SmscStats) -> String {
    format!(
        "bound={} submits={} (+{}/s) accepted={} parts={} receipts={} (+{}/s) queued={} throttled={} disconnects={} garbage={} max_window={}",
        stats.bound_sessions,
        stats.submits,
        stats.submits - previous.submits,
        stats.accepted,
        stats.parts,
        stats.receipts_sent,
        stats.receipts_sent - previous.receipts_sent,
        stats.receipts_queued,
        stats.throttled,
        stats.disconnects,
        stats.garbage_sent,
        stats.max_outstanding_seen,
    )
}

fn summary_table(stats: &SmscStats, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(f64::EPSILON);
    let rows: [(&str, u64); 25] = [
        ("connections", stats.connections),
        ("restarts", stats.restarts),
        ("binds", stats.binds),
        ("bind failures", stats.bind_failures),
        ("unbinds", stats.unbinds),
        ("enquire_links", stats.enquire_links),
        ("generic_nacks", stats.generic_nacks),
        ("submits", stats.submits),
        ("accepted", stats.accepted),
        ("parts", stats.parts),
        ("messages", stats.messages),
        ("throttled", stats.throttled),
        ("disconnects", stats.disconnects),
        ("garbage sent", stats.garbage_sent),
        ("nacked submits", stats.nacked_submits),
        ("malformed sent", stats.malformed_sent),
        ("stray receipts", stats.stray_receipts),
        ("ignored", stats.ignored),
        ("receipts sent", stats.receipts_sent),
        ("receipts acked", stats.receipts_acked),
        ("receipts queued", stats.receipts_queued),
        ("inbound sent", stats.inbound_sent),
        ("deliver errors", stats.deliver_errors),
        ("max outstanding", stats.max_outstanding_seen),
        ("window violations", stats.window_violations),
    ];
    let mut out = format!("SMSC summary after {secs:.1}s\n");
    for (name, value) in rows {
        out.push_str(&format!("  {name:<18} {value:>10}\n"));
    }
    out.push_str(&format!(
        "  {:<18} {:>10.1}\n  {:<18} {:>10.1}\n",
        "submit_sm/s",
        stats.submits as f64 / secs,
        "receipts/s",
        stats.receipts_sent as f64 / secs
    ));
    out
}

/// Runs the SMSC until Ctrl-C.
pub async fn run(args: SmscArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    let smsc = super::start(config).await?;
    eprintln!("flit-loadtest smsc listening on {}", smsc.addr);
    let started = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let mut previous = smsc.stats();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            result = &mut ctrl_c => {
                result?;
                break;
            }
            _ = ticker.tick() => {
                let stats = smsc.stats();
                eprintln!("{}", progress_line(&stats, &previous));
                previous = stats;
            }
        }
    }
    let stats = smsc.stats();
    let elapsed = started.elapsed();
    smsc.stop().await;
    if args.json {
        let summary = serde_json::json!({
            "elapsed_secs": elapsed.as_secs_f64(),
            "stats": stats,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary_table(&stats, elapsed));
    }
    Ok(())
}
