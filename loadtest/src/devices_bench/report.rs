//! What a `devices-bench` run reports, as JSON (`--json`) and as an aligned summary.

use std::fmt::Write as _;

use serde::Serialize;
use tokio::time::Instant;

use super::Mode;
use super::api::SendOutcome;
use super::latency::{Distribution, Pairing};
use crate::devices::DeviceStats;

/// Distinct error texts kept as samples.
const ERROR_SAMPLES: usize = 5;

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub mode: Mode,
    pub url: String,
    pub devices: usize,
    /// Tenants the phones were spread over (and the sends, in turn).
    pub tenants: usize,
    pub setup: SetupReport,
    pub memory: Option<MemoryReport>,
    pub throughput: Option<ThroughputReport>,
    pub latency: Option<LatencyReport>,
    /// The pool's counters at the end.
    pub phones: DeviceStats,
}

#[derive(Debug, Clone, Serialize)]
pub struct SetupReport {
    /// From the pool's start to every phone registered with its stream open.
    pub connect_secs: f64,
    /// Whether every phone's limits were lifted (`false` with `--keep-limits`).
    pub limits_lifted: bool,
    /// Phones with an open stream when the measurement began.
    pub phones_connected: u64,
}

/// The server's `VmRSS` before the phones started and once they were connected and idle.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    pub before_bytes: u64,
    pub after_bytes: u64,
    /// `(after - before) / devices`, negative if the server gave memory back meanwhile.
    pub per_phone_bytes: f64,
    /// How long the phones had been connected and idle (after their limits were lifted).
    pub settle_secs: f64,
}

impl MemoryReport {
    pub fn new(before: u64, after: u64, devices: usize, settle_secs: f64) -> Self {
        Self {
            before_bytes: before,
            after_bytes: after,
            per_phone_bytes: (after as f64 - before as f64) / devices.max(1) as f64,
            settle_secs,
        }
    }
}

/// How the sends were answered.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SendCounts {
    pub sent: usize,
    pub accepted: usize,
    /// Answered, not 2xx.
    pub rejected: usize,
    /// No answer.
    pub transport_errors: usize,
    pub error_samples: Vec<String>,
}

impl SendCounts {
    pub fn of(outcomes: &[SendOutcome]) -> Self {
        let mut counts = Self {
            sent: outcomes.len(),
            ..Self::default()
        };
        for outcome in outcomes {
            if outcome.accepted() {
                counts.accepted += 1;
                continue;
            }
            if outcome.status.is_some() {
                counts.rejected += 1;
            } else {
                counts.transport_errors += 1;
            }
            if let Some(error) = &outcome.error
                && counts.error_samples.len() < ERROR_SAMPLES
                && !counts.error_samples.contains(error)
            {
                counts.error_samples.push(error.clone());
            }
        }
        counts
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ThroughputReport {
    pub senders: usize,
    pub sends: SendCounts,
    /// First request → last answer.
    pub send_secs: f64,
    pub accepted_per_sec: f64,
    /// Whether every accepted message was reported final by its phone in time.
    pub drained: bool,
    /// First request → the last final report the server took.
    pub last_report_secs: Option<f64>,
    /// Accepted messages / `last_report_secs`: the headline.
    pub messages_per_sec: Option<f64>,
    /// First request → the final report that made 99 % of the accepted messages final.
    pub p99_report_secs: Option<f64>,
    /// Those 99 % / `p99_report_secs`: the rate without the last stragglers.
    pub messages_per_sec_to_p99_report: Option<f64>,
    /// The longest time between two consecutive final reports after the first (a phone told
    /// late shows here).
    pub longest_report_gap_secs: Option<f64>,
    /// First request → the history showed every accepted message DELIVERED (polled every
    /// 100 ms once the phones were done).
    pub all_delivered_secs: Option<f64>,
    pub messages_per_sec_to_delivered_status: Option<f64>,
    /// The history's DELIVERED count at its last poll.
    pub delivered_in_history: u64,
    /// The phones' Delivered and Failed recipients.
    pub delivered_by_phones: u64,
    pub failed_by_phones: u64,
}

impl ThroughputReport {
    #[allow(clippy::too_many_arguments)] // one constructor for one report's figures
    pub fn new(
        senders: usize,
        sends: SendCounts,
        first_request: Instant,
        last_answer: Instant,
        drained: bool,
        report_times: &[Instant],
        all_delivered_at: Option<Instant>,
        delivered_in_history: u64,
        phones: &DeviceStats,
    ) -> Self {
        let secs = |at: Instant| at.saturating_duration_since(first_request).as_secs_f64();
        let rate = |secs: f64| (secs > 0.0).then(|| sends.accepted as f64 / secs);
        let send_secs = secs(last_answer);
        let last_report_secs = drained
            .then(|| report_times.iter().max().copied())
            .flatten()
            .map(secs);
        let mut sorted = report_times.to_vec();
        sorted.sort_unstable();
        let p99_count = (sends.accepted as f64 * 0.99).ceil() as usize;
        let p99_report_secs = p99_count
            .checked_sub(1)
            .and_then(|index| sorted.get(index))
            .map(|at| secs(*at));
        let longest_report_gap_secs = sorted
            .windows(2)
            .map(|pair| pair[1].saturating_duration_since(pair[0]).as_secs_f64())
            .reduce(f64::max);
        let all_delivered_secs = all_delivered_at.map(secs);
        Self {
            senders,
            send_secs,
            accepted_per_sec: rate(send_secs).unwrap_or(0.0),
            drained,
            last_report_secs,
            messages_per_sec: last_report_secs.and_then(rate),
            p99_report_secs,
            messages_per_sec_to_p99_report: p99_report_secs
                .filter(|secs| *secs > 0.0)
                .map(|secs| p99_count as f64 / secs),
            longest_report_gap_secs,
            all_delivered_secs,
            messages_per_sec_to_delivered_status: all_delivered_secs.and_then(rate),
            delivered_in_history,
            delivered_by_phones: phones.delivered,
            failed_by_phones: phones.failed,
            sends,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    /// Sends per second asked for.
    pub rate: f64,
    /// From the first send to the last answer.
    pub sending_secs: f64,
    pub sends: SendCounts,
    pub pairing: Pairing,
}

impl BenchReport {
    /// The aligned summary printed without `--json`.
    pub fn summary(&self) -> String {
        let mut rows: Vec<(&str, String)> = vec![
            ("mode", format!("{:?}", self.mode).to_lowercase()),
            ("server", self.url.clone()),
            (
                "phones",
                format!(
                    "{} of {} tenant(s) ({} connected in {:.1} s, limits {})",
                    self.devices,
                    self.tenants,
                    self.setup.phones_connected,
                    self.setup.connect_secs,
                    if self.setup.limits_lifted {
                        "lifted"
                    } else {
                        "kept"
                    }
                ),
            ),
        ];
        if let Some(memory) = &self.memory {
            rows.push((
                "server RSS",
                format!(
                    "{:.1} MiB before the phones, {:.1} MiB with them idle for {:.0} s",
                    mib(memory.before_bytes),
                    mib(memory.after_bytes),
                    memory.settle_secs
                ),
            ));
            rows.push((
                "per phone",
                format!("{:.1} KiB", memory.per_phone_bytes / 1024.0),
            ));
        }
        if let Some(throughput) = &self.throughput {
            rows.push(("sends", sends_line(&throughput.sends)));
            rows.push((
                "send phase",
                format!(
                    "{:.2} s, {:.0} accepted/s ({} senders)",
                    throughput.send_secs, throughput.accepted_per_sec, throughput.senders
                ),
            ));
            rows.push((
                "to last report",
                match (throughput.last_report_secs, throughput.messages_per_sec) {
                    (Some(secs), Some(rate)) => format!("{secs:.2} s: {rate:.0} messages/s"),
                    _ => "not every message was reported in time".to_owned(),
                },
            ));
            rows.push((
                "to 99 % reported",
                match (
                    throughput.p99_report_secs,
                    throughput.messages_per_sec_to_p99_report,
                ) {
                    (Some(secs), Some(rate)) => format!("{secs:.2} s: {rate:.0} messages/s"),
                    _ => "-".to_owned(),
                },
            ));
            if let Some(gap) = throughput.longest_report_gap_secs {
                rows.push((
                    "longest gap",
                    format!("{:.0} ms between two final reports", gap * 1000.0),
                ));
            }
            rows.push((
                "to DELIVERED",
                match (
                    throughput.all_delivered_secs,
                    throughput.messages_per_sec_to_delivered_status,
                ) {
                    (Some(secs), Some(rate)) => format!("{secs:.2} s: {rate:.0} messages/s"),
                    _ => format!(
                        "the history showed {} DELIVERED at the end",
                        throughput.delivered_in_history
                    ),
                },
            ));
            rows.push((
                "phones reported",
                format!(
                    "{} delivered, {} failed",
                    throughput.delivered_by_phones, throughput.failed_by_phones
                ),
            ));
        }
        if let Some(latency) = &self.latency {
            let pairing = &latency.pairing;
            rows.push(("sends", sends_line(&latency.sends)));
            rows.push((
                "rate",
                format!(
                    "{:.1}/s asked, {:.1} s of sending",
                    latency.rate, latency.sending_secs
                ),
            ));
            rows.push((
                "pulled",
                format!(
                    "{} of {} ({} on an event, {} never)",
                    pairing.pulled, pairing.accepted, pairing.pulled_on_event, pairing.never_pulled
                ),
            ));
            rows.push(("2xx → event", distribution(&pairing.answer_to_event)));
            rows.push(("request → event", distribution(&pairing.request_to_event)));
            rows.push(("2xx → pulled", distribution(&pairing.answer_to_pull)));
            rows.push((
                "attribution",
                format!(
                    "{} events before their 2xx, {} pulls answered several events",
                    pairing.event_before_answer, pairing.pulls_answering_several_events
                ),
            ));
        }
        let phones = &self.phones;
        rows.push((
            "phone errors",
            format!(
                "{} registration, {} pull, {} report, {} protocol; {} duplicates",
                phones.registration_errors,
                phones.pull_errors,
                phones.patch_errors,
                phones.protocol_errors,
                phones.duplicates
            ),
        ));
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
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn sends_line(sends: &SendCounts) -> String {
    let mut line = format!(
        "{} sent, {} accepted, {} rejected, {} without answer",
        sends.sent, sends.accepted, sends.rejected, sends.transport_errors
    );
    for sample in &sends.error_samples {
        let _ = write!(line, "\n    {sample}");
    }
    line
}

fn distribution(d: &Distribution) -> String {
    if d.count == 0 {
        return "-".to_owned();
    }
    format!(
        "p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms  min {:.1} ms  (n={})",
        d.p50_ms, d.p90_ms, d.p99_ms, d.max_ms, d.min_ms, d.count
    )
}
