//! The figures of an e2e run, their arithmetic, and how they are printed (a table, or JSON).

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Events per second over `elapsed`; 0 when nothing happened or no time passed.
pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if count == 0 || secs <= 0.0 {
        0.0
    } else {
        count as f64 / secs
    }
}

/// Parts per recipient from a send answer: `creditsUsed / recipientsSent` at one credit a part.
pub fn parts_per_recipient(credits_used: i64, recipients_sent: u64) -> Option<u64> {
    let credits = u64::try_from(credits_used).ok()?;
    if recipients_sent == 0 || credits == 0 || !credits.is_multiple_of(recipients_sent) {
        return None;
    }
    Some(credits / recipients_sent)
}

/// Parts the SMSCs accepted beyond the segments sent (0 when not above).
pub fn duplicated(accepted_parts: u64, expected_segments: u64) -> u64 {
    accepted_parts.saturating_sub(expected_segments)
}

/// Request latency in milliseconds at the usual quantiles.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// From a histogram of microseconds.
    pub fn from_micros(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        Self {
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: histogram.max() as f64 / 1000.0,
        }
    }
}

/// One simulated SMSC's share of the run.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SmscSummary {
    pub port: u16,
    pub submits: u64,
    pub accepted: u64,
    pub receipts_sent: u64,
    pub receipts_acked: u64,
    pub max_window_seen: u64,
    pub window_violations: u64,
}

/// Everything the run measured.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    pub binds: usize,
    pub window: u32,
    pub connections: usize,
    pub recipients_per_request: usize,
    pub receipt_delay_ms: u64,
    pub smsc_latency_ms: u64,
    pub requests: u64,
    pub requests_2xx: u64,
    pub requests_other: u64,
    /// A few of the non-2xx answers or transport errors, verbatim.
    pub error_samples: Vec<String>,
    pub recipients_offered: u64,
    pub recipients_accepted: u64,
    pub parts_per_recipient: u64,
    pub segments: u64,
    pub http_secs: f64,
    pub accepted_per_sec: f64,
    pub requests_per_sec: f64,
    pub latency: Latency,
    /// From the first send to the last receipt (0 when not every receipt came).
    pub e2e_secs: f64,
    pub e2e_segments_per_sec: f64,
    pub submits: u64,
    pub submit_sm_per_sec: f64,
    pub receipts: u64,
    pub receipts_per_sec: f64,
    /// Seconds from the first send until the API showed every message final.
    pub api_final_secs: f64,
    pub messages: u64,
    pub messages_delivered: u64,
    pub messages_not_delivered: u64,
    pub recipients_delivered: u64,
    pub recipients_failed: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub smscs: Vec<SmscSummary>,
    /// Rates in each second of the run (from the monitor's per-second samples).
    pub per_second: Vec<super::monitor::SecondRates>,
    /// The webhook leg (`--webhooks` only; absent from the JSON without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<super::webhooks::WebhookSummary>,
    /// Problems seen while checking or cleaning up.
    pub notes: Vec<String>,
}

impl Summary {
    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mut row = |name: &str, value: String| {
            let _ = writeln!(out, "  {name:<26} {value:>14}");
        };
        row(
            "setup",
            format!(
                "{}b w{} c{} r{}",
                self.binds, self.window, self.connections, self.recipients_per_request
            ),
        );
        row(
            "SMSC latency/receipt (ms)",
            format!("{}/{}", self.smsc_latency_ms, self.receipt_delay_ms),
        );
        row("requests", self.requests.to_string());
        row("requests 2xx", self.requests_2xx.to_string());
        row("requests other", self.requests_other.to_string());
        row("recipients accepted", self.recipients_accepted.to_string());
        row("parts per recipient", self.parts_per_recipient.to_string());
        row("segments", self.segments.to_string());
        row("HTTP phase (s)", format!("{:.2}", self.http_secs));
        row("accepted/s", format!("{:.0}", self.accepted_per_sec));
        row("requests/s", format!("{:.1}", self.requests_per_sec));
        row("latency p50 (ms)", format!("{:.2}", self.latency.p50_ms));
        row("latency p90 (ms)", format!("{:.2}", self.latency.p90_ms));
        row("latency p99 (ms)", format!("{:.2}", self.latency.p99_ms));
        row("latency p99.9 (ms)", format!("{:.2}", self.latency.p999_ms));
        row("latency max (ms)", format!("{:.2}", self.latency.max_ms));
        row("end to end (s)", format!("{:.2}", self.e2e_secs));
        row(
            "e2e segments/s",
            format!("{:.0}", self.e2e_segments_per_sec),
        );
        row("submit_sm", self.submits.to_string());
        row("submit_sm/s", format!("{:.0}", self.submit_sm_per_sec));
        row("receipts", self.receipts.to_string());
        row("receipts/s", format!("{:.0}", self.receipts_per_sec));
        row("API all final (s)", format!("{:.2}", self.api_final_secs));
        row(
            "messages delivered",
            format!("{}/{}", self.messages_delivered, self.messages),
        );
        row(
            "recipients delivered",
            self.recipients_delivered.to_string(),
        );
        row("recipients failed", self.recipients_failed.to_string());
        row("lost", self.lost.to_string());
        row("duplicated", self.duplicated.to_string());
        for (index, smsc) in self.smscs.iter().enumerate() {
            row(
                &format!("smsc{index} max window"),
                format!("{} (of {})", smsc.max_window_seen, self.window),
            );
            row(
                &format!("smsc{index} submits/receipts"),
                format!("{}/{}", smsc.submits, smsc.receipts_acked),
            );
        }
        if let Some(webhooks) = &self.webhooks {
            row(
                "webhook fail-first/latency",
                format!("{}/{}ms", webhooks.fail_first, webhooks.latency_ms),
            );
            row("webhooks received", webhooks.received.to_string());
            row("webhook attempts", webhooks.attempts.to_string());
            row("webhook duplicates", webhooks.duplicates.to_string());
            row(
                "webhook bad signatures",
                webhooks.bad_signatures.to_string(),
            );
            row(
                "webhook recipients final",
                webhooks.recipients_final.to_string(),
            );
            row(
                "webhook deliveries/s",
                format!("{:.0}", webhooks.deliveries_per_sec),
            );
            row(
                "last send to webhook (s)",
                format!("{:.2}", webhooks.last_send_to_last_webhook_secs),
            );
        }
        for sample in &self.error_samples {
            let _ = writeln!(out, "  error: {sample}");
        }
        for note in &self.notes {
            let _ = writeln!(out, "  note: {note}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_counts() {
        assert_eq!(per_second(1000, Duration::from_millis(500)), 2000.0);
        assert_eq!(per_second(0, Duration::from_secs(1)), 0.0);
        assert_eq!(per_second(5, Duration::ZERO), 0.0);
        assert_eq!(parts_per_recipient(300, 100), Some(3));
        assert_eq!(parts_per_recipient(100, 100), Some(1));
        assert_eq!(parts_per_recipient(101, 100), None);
        assert_eq!(parts_per_recipient(0, 100), None);
        assert_eq!(parts_per_recipient(100, 0), None);
        assert_eq!(duplicated(20_050, 20_000), 50);
        assert_eq!(duplicated(19_000, 20_000), 0);
    }

    #[test]
    fn latency_quantiles_come_from_the_histogram_in_ms() {
        let mut histogram =
            Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
        for micros in 1..=1000u64 {
            histogram.record(micros * 1000).expect("in range");
        }
        let latency = Latency::from_micros(&histogram);
        assert!((latency.p50_ms - 500.0).abs() < 1.0, "{latency:?}");
        assert!((latency.p90_ms - 900.0).abs() < 1.0, "{latency:?}");
        assert!((latency.p99_ms - 990.0).abs() < 1.0, "{latency:?}");
        assert!((latency.max_ms - 1000.0).abs() < 1.0, "{latency:?}");
        let empty = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
        assert_eq!(Latency::from_micros(&empty), Latency::default());
    }

    #[test]
    fn the_table_names_every_headline_figure() {
        let summary = Summary {
            smscs: vec![SmscSummary::default()],
            ..Summary::default()
        };
        let table = summary.table();
        for name in [
            "accepted/s",
            "latency p99.9",
            "e2e segments/s",
            "submit_sm/s",
            "receipts/s",
            "lost",
            "duplicated",
            "smsc0 max window",
        ] {
            assert!(table.contains(name), "{name} missing from\n{table}");
        }
        assert!(
            !table.contains("webhook"),
            "webhook rows without --webhooks"
        );
    }

    #[test]
    fn webhook_figures_show_only_when_the_run_had_webhooks() {
        let without = serde_json::to_value(Summary::default()).expect("serialisable");
        assert!(without.get("webhooks").is_none(), "{without}");
        let summary = Summary {
            webhooks: Some(super::super::webhooks::WebhookSummary {
                received: 42,
                ..Default::default()
            }),
            ..Summary::default()
        };
        let with = serde_json::to_value(&summary).expect("serialisable");
        assert_eq!(with["webhooks"]["received"], 42);
        let table = summary.table();
        for name in [
            "webhooks received",
            "webhook duplicates",
            "webhook bad signatures",
            "webhook deliveries/s",
            "last send to webhook (s)",
        ] {
            assert!(table.contains(name), "{name} missing from\n{table}");
        }
    }
}
