//! What the senders report, and how it adds up: per-request events go into one overall HDR
//! histogram and into one bucket per second of the run (by when the answer came), which give
//! the summary and the per-second series that the progress bar and the plot show.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::e2e::Latency;
use crate::e2e::summary::per_second;

/// Highest latency the histograms hold (µs); longer ones are recorded as this.
const MAX_MICROS: u64 = 600_000_000;

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: accepted.
    Accepted,
    /// 402: not enough credits.
    PaymentRequired,
    /// 429: rate-limited.
    RateLimited,
    /// Any other HTTP status.
    OtherStatus,
    /// No HTTP answer (connect, reset, timeout).
    Transport,
}

impl Outcome {
    /// The outcome of an HTTP answer with `status`.
    pub fn of_status(status: u16) -> Self {
        match status {
            200..=299 => Self::Accepted,
            402 => Self::PaymentRequired,
            429 => Self::RateLimited,
            _ => Self::OtherStatus,
        }
    }
}

/// One finished request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// When the answer (or the error) came, from the start of the run.
    pub done_at: Duration,
    /// From the send (closed loop) or the due time (open loop) to the answer.
    pub latency: Duration,
    pub outcome: Outcome,
    /// Recipients the server accepted (`recipientsSent` of a 2xx; 0 otherwise).
    pub recipients: u64,
}

/// Figures of one second of the run (answers that came in `[second, second + 1)`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SecondStats {
    /// Seconds since the start at which this bucket begins.
    pub second: u64,
    /// How much of this second the run lasted (1 but for the last).
    pub secs: f64,
    pub requests: u64,
    pub accepted: u64,
    pub recipients_accepted: u64,
    pub errors: u64,
    /// Accepted requests a second (over the part of the second the run lasted).
    pub accepted_per_sec: f64,
    pub recipients_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

struct Bucket {
    requests: u64,
    accepted: u64,
    recipients: u64,
    errors: u64,
    histogram: Histogram<u64>,
}

impl Bucket {
    fn new() -> Self {
        Self {
            requests: 0,
            accepted: 0,
            recipients: 0,
            errors: 0,
            // Two significant digits are plenty per second, and auto-resizing keeps a bucket
            // as small as its longest latency allows.
            histogram: Histogram::new(2).expect("2 significant figures are valid"),
        }
    }
}

fn micros(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_MICROS)
}

/// Running totals of a run.
pub struct Recorder {
    histogram: Histogram<u64>,
    buckets: Vec<Bucket>,
    pub counts: Counts,
}

/// Requests by outcome.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Requests that finished (answered or failed).
    pub requests: u64,
    pub accepted: u64,
    pub status_402: u64,
    pub status_429: u64,
    pub status_other: u64,
    pub transport_errors: u64,
    pub recipients_accepted: u64,
}

impl Counts {
    /// Everything but 2xx.
    pub fn errors(&self) -> u64 {
        self.requests - self.accepted
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    pub fn new() -> Self {
        Self {
            histogram: Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid bounds"),
            buckets: Vec::new(),
            counts: Counts::default(),
        }
    }

    pub fn record(&mut self, event: &Event) {
        let micros = micros(event.latency);
        self.histogram.saturating_record(micros);
        let second = usize::try_from(event.done_at.as_secs()).unwrap_or(usize::MAX);
        // A late answer far past the end would otherwise allocate a bucket for every second.
        let second = second.min(100_000);
        while self.buckets.len() <= second {
            self.buckets.push(Bucket::new());
        }
        let bucket = &mut self.buckets[second];
        bucket.requests += 1;
        // Auto-resizing: this only fails beyond u64 range, which `micros` rules out.
        let _ = bucket.histogram.record(micros);
        let counts = &mut self.counts;
        counts.requests += 1;
        match event.outcome {
            Outcome::Accepted => {
                counts.accepted += 1;
                counts.recipients_accepted += event.recipients;
                bucket.accepted += 1;
                bucket.recipients += event.recipients;
            }
            Outcome::PaymentRequired => counts.status_402 += 1,
            Outcome::RateLimited => counts.status_429 += 1,
            Outcome::OtherStatus => counts.status_other += 1,
            Outcome::Transport => counts.transport_errors += 1,
        }
        if event.outcome != Outcome::Accepted {
            bucket.errors += 1;
        }
    }

    /// Latency quantiles of the whole run.
    pub fn latency(&self) -> Latency {
        Latency::from_micros(&self.histogram)
    }

    /// One entry per second from the start to `elapsed` (the run's length); the last,
    /// partial second's rates are over the part of it that the run lasted.
    pub fn per_second(&self, elapsed: Duration) -> Vec<SecondStats> {
        let whole = elapsed.as_secs_f64();
        self.buckets
            .iter()
            .enumerate()
            .map(|(second, bucket)| {
                let start = second as f64;
                // At least a tenth of a second, so that a sliver at the end does not explode.
                let lasted = (whole - start).clamp(0.0, 1.0);
                let width = lasted.max(0.1);
                let ms = |q: f64| {
                    if bucket.histogram.is_empty() {
                        0.0
                    } else {
                        bucket.histogram.value_at_quantile(q) as f64 / 1000.0
                    }
                };
                SecondStats {
                    second: second as u64,
                    secs: lasted,
                    requests: bucket.requests,
                    accepted: bucket.accepted,
                    recipients_accepted: bucket.recipients,
                    errors: bucket.errors,
                    accepted_per_sec: bucket.accepted as f64 / width,
                    recipients_per_sec: bucket.recipients as f64 / width,
                    p50_ms: ms(0.5),
                    p99_ms: ms(0.99),
                }
            })
            .collect()
    }
}

/// Everything an `http` run measured.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct HttpSummary {
    pub mode: String,
    pub loop_kind: String,
    /// Requests a second asked for (open loop only).
    pub rate: Option<f64>,
    pub connections: usize,
    pub recipients_per_request: usize,
    /// From the start to the last answer.
    pub elapsed_secs: f64,
    #[serde(flatten)]
    pub counts: Counts,
    /// Open loop: requests due before the end that no sender got to in time (the generator
    /// fell behind); they have no latency in the histogram.
    pub not_sent_behind_schedule: u64,
    pub accepted_requests_per_sec: f64,
    pub accepted_recipients_per_sec: f64,
    pub latency: Latency,
    /// A few of the non-2xx answers or transport errors, verbatim.
    pub error_samples: Vec<String>,
    pub notes: Vec<String>,
    pub per_second: Vec<SecondStats>,
}

impl HttpSummary {
    /// Fills in the totals and rates from `recorder` over a run of `elapsed`.
    pub fn fill(&mut self, recorder: &Recorder, elapsed: Duration) {
        self.elapsed_secs = elapsed.as_secs_f64();
        self.counts = recorder.counts;
        self.accepted_requests_per_sec = per_second(self.counts.accepted, elapsed);
        self.accepted_recipients_per_sec = per_second(self.counts.recipients_accepted, elapsed);
        self.latency = recorder.latency();
        self.per_second = recorder.per_second(elapsed);
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mut row = |name: &str, value: String| {
            let _ = writeln!(out, "  {name:<28} {value:>14}");
        };
        let setup = match self.rate {
            Some(rate) => format!("open {rate}/s"),
            None => "closed".to_owned(),
        };
        row(
            "mode",
            format!(
                "{} r{} c{}",
                self.mode, self.recipients_per_request, self.connections
            ),
        );
        row("loop", setup);
        row("elapsed (s)", format!("{:.2}", self.elapsed_secs));
        row("requests", self.counts.requests.to_string());
        row("accepted (2xx)", self.counts.accepted.to_string());
        row("402 (no credits)", self.counts.status_402.to_string());
        row("429 (rate-limited)", self.counts.status_429.to_string());
        row("other status", self.counts.status_other.to_string());
        row("transport errors", self.counts.transport_errors.to_string());
        if self.rate.is_some() {
            row(
                "not sent (behind schedule)",
                self.not_sent_behind_schedule.to_string(),
            );
        }
        row(
            "recipients accepted",
            self.counts.recipients_accepted.to_string(),
        );
        row(
            "accepted requests/s",
            format!("{:.1}", self.accepted_requests_per_sec),
        );
        row(
            "accepted recipients/s",
            format!("{:.0}", self.accepted_recipients_per_sec),
        );
        row("latency p50 (ms)", format!("{:.2}", self.latency.p50_ms));
        row("latency p90 (ms)", format!("{:.2}", self.latency.p90_ms));
        row("latency p99 (ms)", format!("{:.2}", self.latency.p99_ms));
        row("latency p99.9 (ms)", format!("{:.2}", self.latency.p999_ms));
        row("latency max (ms)", format!("{:.2}", self.latency.max_ms));
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

    fn event(done_ms: u64, latency_ms: u64, outcome: Outcome, recipients: u64) -> Event {
        Event {
            done_at: Duration::from_millis(done_ms),
            latency: Duration::from_millis(latency_ms),
            outcome,
            recipients,
        }
    }

    #[test]
    fn statuses_are_sorted_into_their_counts() {
        assert_eq!(Outcome::of_status(200), Outcome::Accepted);
        assert_eq!(Outcome::of_status(201), Outcome::Accepted);
        assert_eq!(Outcome::of_status(402), Outcome::PaymentRequired);
        assert_eq!(Outcome::of_status(429), Outcome::RateLimited);
        assert_eq!(Outcome::of_status(400), Outcome::OtherStatus);
        assert_eq!(Outcome::of_status(503), Outcome::OtherStatus);
        let mut recorder = Recorder::new();
        for (outcome, recipients) in [
            (Outcome::Accepted, 10),
            (Outcome::Accepted, 7),
            (Outcome::PaymentRequired, 0),
            (Outcome::RateLimited, 0),
            (Outcome::RateLimited, 0),
            (Outcome::OtherStatus, 0),
            (Outcome::Transport, 0),
        ] {
            recorder.record(&event(100, 5, outcome, recipients));
        }
        assert_eq!(
            recorder.counts,
            Counts {
                requests: 7,
                accepted: 2,
                status_402: 1,
                status_429: 2,
                status_other: 1,
                transport_errors: 1,
                recipients_accepted: 17,
            }
        );
        assert_eq!(recorder.counts.errors(), 5);
    }

    #[test]
    fn answers_are_bucketed_by_the_second_they_came_in() {
        let mut recorder = Recorder::new();
        // Second 0: 3 accepted (1 recipient each), latencies 1..3 ms.
        for (done, latency) in [(0, 1), (500, 2), (999, 3)] {
            recorder.record(&event(done, latency, Outcome::Accepted, 1));
        }
        // Second 1: nothing. Second 2: 2 accepted of 100 recipients, 1 error; and 2.5 s is
        // where the run ends.
        recorder.record(&event(2000, 10, Outcome::Accepted, 100));
        recorder.record(&event(2100, 30, Outcome::Accepted, 100));
        recorder.record(&event(2400, 50, Outcome::RateLimited, 0));
        let seconds = recorder.per_second(Duration::from_millis(2500));
        assert_eq!(seconds.len(), 3);
        assert_eq!(
            seconds.iter().map(|s| s.second).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(seconds[0].requests, 3);
        assert_eq!(seconds[0].accepted_per_sec, 3.0);
        assert_eq!(seconds[0].recipients_per_sec, 3.0);
        assert!((seconds[0].p50_ms - 2.0).abs() < 0.05, "{:?}", seconds[0]);
        assert!((seconds[0].p99_ms - 3.0).abs() < 0.05, "{:?}", seconds[0]);
        assert_eq!(
            seconds[1],
            SecondStats {
                second: 1,
                secs: 1.0,
                ..SecondStats::default()
            }
        );
        assert_eq!(seconds[2].secs, 0.5);
        // The last second lasted half a second: rates are over 0.5 s.
        assert_eq!(seconds[2].requests, 3);
        assert_eq!(seconds[2].accepted, 2);
        assert_eq!(seconds[2].errors, 1);
        assert_eq!(seconds[2].accepted_per_sec, 4.0);
        assert_eq!(seconds[2].recipients_per_sec, 400.0);
        assert!((seconds[2].p50_ms - 30.0).abs() < 0.5, "{:?}", seconds[2]);
        assert!((seconds[2].p99_ms - 50.0).abs() < 0.5, "{:?}", seconds[2]);
    }

    #[test]
    fn the_summary_adds_up() {
        let mut recorder = Recorder::new();
        for index in 0..1000u64 {
            recorder.record(&event(
                index * 4,
                index + 1,
                if index % 10 == 0 {
                    Outcome::OtherStatus
                } else {
                    Outcome::Accepted
                },
                if index % 10 == 0 { 0 } else { 1000 },
            ));
        }
        let mut summary = HttpSummary {
            mode: "bulk".into(),
            recipients_per_request: 1000,
            ..HttpSummary::default()
        };
        summary.fill(&recorder, Duration::from_secs(4));
        assert_eq!(summary.counts.requests, 1000);
        assert_eq!(summary.counts.accepted, 900);
        assert_eq!(summary.counts.status_other, 100);
        assert_eq!(summary.counts.recipients_accepted, 900_000);
        assert_eq!(summary.accepted_requests_per_sec, 225.0);
        assert_eq!(summary.accepted_recipients_per_sec, 225_000.0);
        assert!((summary.latency.p50_ms - 500.0).abs() < 1.0, "{summary:?}");
        assert!((summary.latency.p90_ms - 900.0).abs() < 1.0, "{summary:?}");
        assert!((summary.latency.p99_ms - 990.0).abs() < 1.0, "{summary:?}");
        assert!((summary.latency.max_ms - 1000.0).abs() < 1.0, "{summary:?}");
        assert_eq!(summary.per_second.len(), 4);
        assert_eq!(
            summary.per_second.iter().map(|s| s.requests).sum::<u64>(),
            1000
        );
        let table = summary.table();
        for name in [
            "accepted recipients/s",
            "accepted requests/s",
            "latency p99.9",
            "402",
            "429",
            "transport errors",
        ] {
            assert!(table.contains(name), "{name} missing from\n{table}");
        }
        let json = serde_json::to_value(&summary).expect("serialisable");
        assert_eq!(json["accepted"], 900);
        assert_eq!(json["status_429"], 0);
        assert_eq!(json["latency"]["p99_ms"], summary.latency.p99_ms);
        assert_eq!(json["per_second"][0]["second"], 0);
    }

    #[test]
    fn latencies_beyond_the_range_saturate() {
        let mut recorder = Recorder::new();
        recorder.record(&event(0, 0, Outcome::Accepted, 1));
        recorder.record(&event(0, 10_000_000, Outcome::Accepted, 1));
        let latency = recorder.latency();
        assert!(latency.max_ms >= 590_000.0, "{latency:?}");
        assert!(latency.p50_ms <= 0.01, "{latency:?}");
    }
}
