//! `flit-loadtest http`: HTTP submit load against a live Flit server through
//! `POST /api/v1/sms/send` only, single or bulk, closed loop (each connection sends its next
//! request when the previous one has answered) or open loop (a fixed schedule, latency from
//! each request's due time), bounded by a request count and a duration, whichever ends first.
//! It shows a progress bar while it runs, prints a summary table (or JSON) at the end, and can
//! draw throughput and latency over time into a PNG.

mod record;
mod schedule;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::e2e::NumberPlan;
use crate::e2e::client::{self, Created, Flit};
use crate::e2e::numbers;
use crate::plot::{self, Line, Panel};
pub use record::{Counts, Event, HttpSummary, Outcome, Recorder, SecondStats};
pub use schedule::{Schedule, parse_duration};

/// One recipient a request, or many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Single,
    Bulk,
}

/// Arguments of `flit-loadtest http`.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Base URL of the Flit server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// API key to send with (`Authorization: Bearer`); wins over --admin-token.
    #[arg(long, env = "FLIT_API_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Admin token: instead of --key, create a throwaway tenant with plenty of credits and a
    /// rate limit the test does not reach, and send with its key.
    #[arg(long, env = "FLIT_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// One recipient a request (single) or --recipients-per-request of them (bulk).
    #[arg(long, value_enum, default_value_t = Mode::Single)]
    pub mode: Mode,
    /// Recipients per request in bulk mode (1 to 1000).
    #[arg(long, default_value_t = 1000)]
    pub recipients_per_request: usize,
    /// Concurrent connections (requests in flight at most).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Open loop: this many requests a second on a fixed schedule. Absent: closed loop.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Stop after this many requests (or at --duration, whichever comes first).
    #[arg(long)]
    pub requests: Option<u64>,
    /// Stop sending after this long (30s, 500ms, 2m, …).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Text of every message.
    #[arg(long, default_value = "Flit load test: your code is 123456.")]
    pub text: String,
    /// Print the summary as JSON instead of a table (and no progress bar).
    #[arg(long)]
    pub json: bool,
    /// Draw throughput and latency per second into this PNG.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

impl HttpArgs {
    fn validate(&self) -> anyhow::Result<()> {
        ensure!(
            self.key.is_some() || self.admin_token.is_some(),
            "give --key API_KEY, or --admin-token TOKEN to create a throwaway tenant"
        );
        ensure!(self.connections >= 1, "--connections must be at least 1");
        ensure!(
            (1..=1000).contains(&self.recipients_per_request),
            "--recipients-per-request must be from 1 to 1000"
        );
        if let Some(rate) = self.rate {
            ensure!(
                Schedule::new(rate).is_some(),
                "--rate must be a number of requests a second above 0"
            );
        }
        ensure!(self.requests != Some(0), "--requests must be at least 1");
        ensure!(!self.duration.is_zero(), "--duration must be above 0");
        ensure!(!self.text.is_empty(), "--text must not be empty");
        Ok(())
    }

    /// Recipients in each request.
    pub fn recipients_per_request(&self) -> usize {
        match self.mode {
            Mode::Single => 1,
            Mode::Bulk => self.recipients_per_request,
        }
    }
}

/// Runs the load, prints the summary, and draws the plot if asked.
pub async fn run(args: HttpArgs) -> anyhow::Result<()> {
    let summary = execute(&args).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("flit-loadtest http summary");
        print!("{}", summary.table());
    }
    if let Some(path) = &args.plot {
        plot::draw_png(path, &chart_title(&args), &panels(&summary.per_second))?;
        eprintln!("http: plot written to {}", path.display());
    }
    Ok(())
}

fn chart_title(args: &HttpArgs) -> String {
    let pacing = match args.rate {
        Some(rate) => format!("open loop {rate}/s"),
        None => "closed loop".to_owned(),
    };
    let mode = match args.mode {
        Mode::Single => "single (1 recipient a request)".to_owned(),
        Mode::Bulk => format!(
            "bulk ({} recipients a request)",
            args.recipients_per_request()
        ),
    };
    format!(
        "flit-loadtest http: {mode}, {} connections, {pacing}",
        args.connections
    )
}

/// The two panels of the chart: throughput and latency per second.
pub fn panels(seconds: &[SecondStats]) -> Vec<Panel> {
    // A last second that the run barely reached holds the stragglers answered after the end:
    // its rate over a sliver of time says little, so the chart leaves it out (JSON keeps it).
    let shown: Vec<&SecondStats> = seconds.iter().filter(|s| s.secs >= 0.5).collect();
    let line = |name: &str, value: fn(&SecondStats) -> f64| Line {
        name: name.to_owned(),
        points: shown.iter().map(|s| (s.second as f64, value(s))).collect(),
    };
    let bulk = seconds.iter().any(|s| s.recipients_accepted != s.accepted);
    let mut throughput = vec![line("accepted requests/s", |s| s.accepted_per_sec)];
    if bulk {
        // Recipients dwarf requests in bulk: one line of them alone reads better.
        throughput = vec![line("accepted recipients/s", |s| s.recipients_per_sec)];
    }
    vec![
        Panel {
            title: "throughput (accepted per second)".into(),
            y_label: if bulk { "recipients/s" } else { "requests/s" }.into(),
            lines: throughput,
        },
        Panel {
            title: "latency per second".into(),
            y_label: "ms".into(),
            lines: vec![line("p50", |s| s.p50_ms), line("p99", |s| s.p99_ms)],
        },
    ]
}

/// Credits of a throwaway tenant: the most one grant may give (Flit's limit), far beyond what
/// a run spends.
const THROWAWAY_CREDITS: i64 = 1_000_000_000_000;

/// Distinct error samples the summary shows.
const ERROR_SAMPLES: usize = 5;
/// Error details the senders write out at most (the rest are only counted), from which the
/// distinct samples are picked.
const ERROR_DETAILS: usize = 200;

/// Runs the load and returns its figures.
pub async fn execute(args: &HttpArgs) -> anyhow::Result<HttpSummary> {
    args.validate()?;
    let flit = Flit::new(&args.url, args.connections)?;
    let key = match (&args.key, &args.admin_token) {
        (Some(key), _) => key.clone(),
        (None, Some(token)) => {
            let name = format!("loadtest-{:08x}", rand::random::<u32>());
            let mut created = Created::default();
            client::create_tenant(&flit, token, &name, THROWAWAY_CREDITS, &mut created).await?;
            eprintln!(
                "http: created tenant {name} ({})",
                created.tenant_id.as_deref().unwrap_or("?")
            );
            created.api_key.context("the setup made no API key")?
        }
        (None, None) => anyhow::bail!("no --key and no --admin-token"),
    };
    let rpr = args.recipients_per_request();
    let schedule = args.rate.and_then(Schedule::new);
    let show_bar = !args.json && std::io::stderr().is_terminal();
    let bar = progress_bar(show_bar)?;

    let (events, mut incoming) = mpsc::unbounded_channel::<(Event, Option<String>)>();
    let plan = NumberPlan::new(rand::random_range(0..numbers::MAX_NUMBERS));
    let next = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(AtomicUsize::new(0));
    let text: Arc<str> = Arc::from(args.text.as_str());
    let key: Arc<str> = Arc::from(key.as_str());
    let start = Instant::now();
    let deadline = start + args.duration;
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..args.connections {
        let sender = Sender {
            flit: flit.clone(),
            key: Arc::clone(&key),
            text: Arc::clone(&text),
            plan,
            rpr: rpr as u64,
            next: Arc::clone(&next),
            samples: Arc::clone(&samples),
            max_requests: args.requests,
            schedule,
            start,
            deadline,
            events: events.clone(),
        };
        senders.spawn(sender.run());
    }
    drop(events);

    // Collect until every sender has finished (they drop their channel ends).
    let mut recorder = Recorder::new();
    let mut error_samples = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    let mut last_rate = (start, 0u64, 0u64);
    let mut last_answer = start;
    loop {
        tokio::select! {
            event = incoming.recv() => match event {
                Some((event, sample)) => {
                    recorder.record(&event);
                    last_answer = last_answer.max(start + event.done_at);
                    if let Some(sample) = sample
                        && error_samples.len() < ERROR_SAMPLES
                        && !error_samples.contains(&sample)
                    {
                        error_samples.push(sample);
                    }
                }
                None => break,
            },
            _ = ticker.tick() => {
                let now = Instant::now();
                let counts = recorder.counts;
                let (then, accepted, recipients) = last_rate;
                let secs = now.duration_since(then).as_secs_f64();
                if secs >= 1.0 {
                    let per_sec = |now: u64, before: u64| (now - before) as f64 / secs;
                    bar.set_message(format!(
                        "{} requests  {:.0} accepted/s ({:.0} recipients/s)  {} errors",
                        counts.requests,
                        per_sec(counts.accepted, accepted),
                        per_sec(counts.recipients_accepted, recipients),
                        counts.errors(),
                    ));
                    last_rate = (now, counts.accepted, counts.recipients_accepted);
                }
                let by_time = now.duration_since(start).as_secs_f64() / args.duration.as_secs_f64();
                let by_count = args
                    .requests
                    .map_or(0.0, |max| counts.requests as f64 / max as f64);
                bar.set_position((by_time.max(by_count).min(1.0) * 1000.0) as u64);
            }
        }
    }
    while let Some(joined) = senders.join_next().await {
        joined.context("a sender task failed")?;
    }
    bar.finish_and_clear();

    let elapsed = last_answer.duration_since(start);
    let mut summary = HttpSummary {
        mode: match args.mode {
            Mode::Single => "single",
            Mode::Bulk => "bulk",
        }
        .into(),
        loop_kind: if schedule.is_some() { "open" } else { "closed" }.into(),
        rate: schedule.map(|s| s.rate()),
        connections: args.connections,
        recipients_per_request: rpr,
        error_samples,
        ..HttpSummary::default()
    };
    summary.fill(&recorder, elapsed);
    if let Some(schedule) = schedule {
        let due = schedule.due_before(args.duration);
        let due = args.requests.map_or(due, |max| due.min(max));
        summary.not_sent_behind_schedule = due.saturating_sub(recorder.counts.requests);
        if summary.not_sent_behind_schedule > 0 {
            summary.notes.push(format!(
                "{} requests due before the end were never sent: every connection was busy \
                 (raise --connections or lower --rate); the latency figures leave them out",
                summary.not_sent_behind_schedule
            ));
        }
    }
    if recorder.counts.status_402 > 0 {
        summary
            .notes
            .push("402: the tenant ran out of credits".to_owned());
    }
    if recorder.counts.status_429 > 0 {
        summary
            .notes
            .push("429: the key's rate limit was reached".to_owned());
    }
    Ok(summary)
}

fn progress_bar(show: bool) -> anyhow::Result<ProgressBar> {
    if !show {
        return Ok(ProgressBar::hidden());
    }
    let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr_with_hz(4));
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} [{bar:30}] {msg}")
            .context("the progress bar template")?
            .progress_chars("=> "),
    );
    bar.set_message("starting…");
    Ok(bar)
}

/// One connection's loop.
struct Sender {
    flit: Flit,
    key: Arc<str>,
    text: Arc<str>,
    plan: NumberPlan,
    rpr: u64,
    next: Arc<AtomicU64>,
    samples: Arc<AtomicUsize>,
    max_requests: Option<u64>,
    schedule: Option<Schedule>,
    start: Instant,
    deadline: Instant,
    events: mpsc::UnboundedSender<(Event, Option<String>)>,
}

impl Sender {
    async fn run(self) {
        loop {
            // Closed loop and open loop alike stop sending at the deadline; in open loop the
            // requests taken in order from one counter are due on the schedule, so a request
            // that waits for a free connection is charged the wait.
            if Instant::now() >= self.deadline {
                break;
            }
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if self.max_requests.is_some_and(|max| index >= max) {
                break;
            }
            let due = match self.schedule {
                Some(schedule) => {
                    let due = self.start + schedule.offset(index);
                    if due >= self.deadline {
                        break;
                    }
                    tokio::time::sleep_until(due).await;
                    due
                }
                None => Instant::now(),
            };
            let first = index.saturating_mul(self.rpr);
            let recipients = self.plan.batch(first, first.saturating_add(self.rpr));
            let answer = self.flit.send_sms(&self.key, &recipients, &self.text).await;
            let done = Instant::now();
            let (outcome, accepted, detail) = match answer {
                Ok((status, body)) => {
                    let outcome = Outcome::of_status(status.as_u16());
                    if outcome == Outcome::Accepted {
                        (outcome, recipients_sent(&body), None)
                    } else {
                        (
                            outcome,
                            0,
                            Some(format!("HTTP {status}: {}", client::truncate(&body, 200))),
                        )
                    }
                }
                Err(error) => (Outcome::Transport, 0, Some(format!("transport: {error}"))),
            };
            let sample =
                detail.filter(|_| self.samples.fetch_add(1, Ordering::Relaxed) < ERROR_DETAILS);
            let event = Event {
                done_at: done.duration_since(self.start),
                latency: done.duration_since(due),
                outcome,
                recipients: accepted,
            };
            if self.events.send((event, sample)).is_err() {
                break;
            }
        }
    }
}

/// `data.recipientsSent` of a send answer (0 when missing).
fn recipients_sent(body: &str) -> u64 {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|value| {
            value
                .pointer("/data/recipientsSent")
                .and_then(Value::as_u64)
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_sent_comes_from_the_answer() {
        assert_eq!(
            recipients_sent(r#"{"success":true,"data":{"messageId":"m","recipientsSent":1000}}"#),
            1000
        );
        assert_eq!(recipients_sent(r#"{"success":true,"data":{}}"#), 0);
        assert_eq!(recipients_sent("not json"), 0);
    }

    #[test]
    fn single_mode_sends_one_recipient_a_request() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            http: HttpArgs,
        }
        let args = Cli::try_parse_from(["x", "--key", "k", "--recipients-per-request", "50"])
            .expect("parses")
            .http;
        assert_eq!(args.mode, Mode::Single);
        assert_eq!(args.recipients_per_request(), 1);
        assert_eq!(args.duration, Duration::from_secs(30));
        assert_eq!(args.connections, 64);
        assert!(args.validate().is_ok());
        let bulk = Cli::try_parse_from([
            "x",
            "--key",
            "k",
            "--mode",
            "bulk",
            "--rate",
            "50",
            "--duration",
            "500ms",
        ])
        .expect("parses")
        .http;
        assert_eq!(bulk.recipients_per_request(), 1000);
        assert_eq!(bulk.rate, Some(50.0));
        assert_eq!(bulk.duration, Duration::from_millis(500));
        let bad = Cli::try_parse_from(["x", "--key", "k", "--rate", "0"])
            .expect("parses")
            .http;
        assert!(bad.validate().is_err());
    }

    #[test]
    fn the_panels_show_requests_or_recipients_and_two_quantiles() {
        let seconds = [
            SecondStats {
                second: 0,
                secs: 1.0,
                accepted: 10,
                recipients_accepted: 10,
                accepted_per_sec: 10.0,
                recipients_per_sec: 10.0,
                p50_ms: 1.0,
                p99_ms: 3.0,
                ..SecondStats::default()
            },
            SecondStats {
                second: 1,
                secs: 1.0,
                accepted: 12,
                recipients_accepted: 12,
                accepted_per_sec: 12.0,
                recipients_per_sec: 12.0,
                p50_ms: 2.0,
                p99_ms: 4.0,
                ..SecondStats::default()
            },
        ];
        let single = panels(&seconds);
        assert_eq!(single.len(), 2);
        assert_eq!(single[0].lines[0].name, "accepted requests/s");
        assert_eq!(single[0].lines[0].points, vec![(0.0, 10.0), (1.0, 12.0)]);
        assert_eq!(single[1].lines[1].name, "p99");
        assert_eq!(single[1].lines[1].points, vec![(0.0, 3.0), (1.0, 4.0)]);
        // A last second that lasted 0.2 s is not drawn.
        let mut tail = seconds.to_vec();
        tail.push(SecondStats {
            second: 2,
            secs: 0.2,
            accepted_per_sec: 300.0,
            ..SecondStats::default()
        });
        assert_eq!(panels(&tail)[0].lines[0].points.len(), 2);
        let mut bulk = seconds.to_vec();
        bulk[0].recipients_accepted = 10_000;
        bulk[0].recipients_per_sec = 10_000.0;
        assert_eq!(panels(&bulk)[0].lines[0].name, "accepted recipients/s");
    }
}
