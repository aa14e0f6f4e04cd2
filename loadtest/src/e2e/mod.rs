//! `flit-loadtest e2e`: an end-to-end run against a live Flit server through its public HTTP
//! API only. It starts simulated SMSCs in-process, has Flit bind to them (admin API), sends
//! distinct numbers through `POST /api/v1/sms/send` from closed-loop senders, waits until the
//! SMSCs have acked every segment's receipt, confirms through the history that every message is
//! final and delivered, and reports throughput, latency, losses and duplicates. With
//! `--webhooks` it also registers an in-process webhook receiver and waits for a final event per
//! recipient. The binds, the route and the webhook it created are removed at the end.

pub(crate) mod client;
mod monitor;
pub(crate) mod numbers;
pub(crate) mod summary;
pub mod webhooks;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use clap::Args;
use futures::StreamExt as _;
use hdrhistogram::Histogram;
use serde_json::Value;
use tokio::time::Instant;

use crate::plot::{self, Line, Panel};
use crate::smsc::{self, SmscConfig, SmscHandle};
use crate::webhook::WebhookReceiverHandle;
use client::{Created, Flit, Setup};
pub use monitor::SecondRates;
use monitor::{Monitor, Totals};
pub use numbers::NumberPlan;
pub use summary::{Latency, SmscSummary, Summary};
use webhooks::WebhookSummary;

/// Arguments of `flit-loadtest e2e`.
#[derive(Debug, Clone, Args)]
pub struct E2eArgs {
    /// Base URL of the Flit server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The server's admin token.
    #[arg(long, env = "FLIT_ADMIN_TOKEN")]
    pub admin_token: String,
    /// Simulated SMSCs to start, one bind each.
    #[arg(long, default_value_t = 1)]
    pub binds: usize,
    /// Window (in-flight submits) of each bind.
    #[arg(long, default_value_t = 50)]
    pub window: u32,
    /// Recipients to send in total (each a distinct number).
    #[arg(long, default_value_t = 20_000)]
    pub messages: u64,
    /// Recipients per `POST /api/v1/sms/send` (at most 1000).
    #[arg(long, default_value_t = 100)]
    pub recipients_per_request: usize,
    /// Concurrent closed-loop senders.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// Text of every message.
    #[arg(long, default_value = "Flit e2e load test: your code is 123456.")]
    pub text: String,
    /// Delay between submit_sm_resp and the delivery receipt at the SMSCs.
    #[arg(long, default_value_t = 100)]
    pub receipt_delay_ms: u64,
    /// Delay before each SMSC answers a submit_sm (0 answers at once, so a bind's window
    /// never fills: the SMSCs then see at most one submit outstanding).
    #[arg(long, default_value_t = 0)]
    pub smsc_latency_ms: u64,
    /// Seconds after the last send to wait for every recipient to be final.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Draw segments submitted/s, receipts/s and recipients accepted/s per second into this
    /// PNG.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Also check webhooks: start a receiver on 127.0.0.1, register it with the run's API key
    /// for message.sent, message.delivered and message.failed, and wait (within
    /// --timeout-secs) for a delivered or failed event per recipient. Flit must run with
    /// FLIT_WEBHOOKS_ALLOW_PRIVATE_NETWORKS=true to deliver to 127.0.0.1.
    #[arg(long)]
    pub webhooks: bool,
    /// With --webhooks: answer 500 to the first N attempts of every event, so that each is
    /// delivered only by Flit's retries.
    #[arg(long, default_value_t = 0, requires = "webhooks")]
    pub webhook_fail_first: u32,
    /// With --webhooks: the receiver's delay before every answer.
    #[arg(long, default_value_t = 0, requires = "webhooks")]
    pub webhook_latency_ms: u64,
}

impl E2eArgs {
    fn validate(&self) -> anyhow::Result<()> {
        ensure!(self.binds >= 1, "--binds must be at least 1");
        ensure!(self.window >= 1, "--window must be at least 1");
        ensure!(self.connections >= 1, "--connections must be at least 1");
        ensure!(
            (1..=1000).contains(&self.recipients_per_request),
            "--recipients-per-request must be from 1 to 1000"
        );
        ensure!(
            (1..=numbers::MAX_NUMBERS).contains(&self.messages),
            "--messages must be from 1 to {}",
            numbers::MAX_NUMBERS
        );
        ensure!(!self.text.is_empty(), "--text must not be empty");
        Ok(())
    }
}

/// Runs the e2e test and prints its summary.
pub async fn run(args: E2eArgs) -> anyhow::Result<()> {
    let summary = execute(&args).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("flit-loadtest e2e summary");
        print!("{}", summary.table());
    }
    if let Some(path) = &args.plot {
        let title = format!(
            "flit-loadtest e2e: {} recipients, {} a request, {} connections, {} bind(s) w{}",
            args.messages, args.recipients_per_request, args.connections, args.binds, args.window
        );
        plot::draw_png(path, &title, &panels(&summary.per_second))?;
        eprintln!("e2e: plot written to {}", path.display());
    }
    Ok(())
}

/// The chart's panels: the SMSC side (segments submitted and receipts a second) over the HTTP
/// side (recipients accepted a second).
pub fn panels(seconds: &[monitor::SecondRates]) -> Vec<Panel> {
    let line = |name: &str, value: fn(&monitor::SecondRates) -> f64| Line {
        name: name.to_owned(),
        points: seconds.iter().map(|s| (s.second, value(s))).collect(),
    };
    vec![
        Panel {
            title: "SMSC side: segments submitted and receipts per second".into(),
            y_label: "per second".into(),
            lines: vec![
                line("submit_sm/s", |s| s.submit_sm_per_sec),
                line("receipts/s", |s| s.receipts_per_sec),
            ],
        },
        Panel {
            title: "HTTP side: recipients accepted per second".into(),
            y_label: "recipients/s".into(),
            lines: vec![line("accepted/s", |s| s.accepted_per_sec)],
        },
    ]
}

/// Runs the e2e test and returns its figures (the binds and route it created are removed
/// whatever happens).
pub async fn execute(args: &E2eArgs) -> anyhow::Result<Summary> {
    args.validate()?;
    let mut smscs = Vec::with_capacity(args.binds);
    for _ in 0..args.binds {
        smscs.push(
            smsc::start(SmscConfig {
                system_id: Some("flit".into()),
                password: Some("secret".into()),
                receipt_delay: Duration::from_millis(args.receipt_delay_ms),
                latency: Duration::from_millis(args.smsc_latency_ms),
                receipts: true,
                record_received: false,
                max_window_check: Some(u64::from(args.window)),
                ..SmscConfig::default()
            })
            .await?,
        );
    }
    let smscs = Arc::new(smscs);
    let mut receiver = if args.webhooks {
        Some(
            webhooks::start_receiver(
                args.webhook_fail_first,
                Duration::from_millis(args.webhook_latency_ms),
            )
            .await?,
        )
    } else {
        None
    };
    let flit = Flit::new(&args.url, args.connections)?;
    let mut created = Created::default();
    let outcome = drive(
        args,
        &flit,
        Arc::clone(&smscs),
        receiver.as_ref(),
        &mut created,
    )
    .await;
    let problems = client::tear_down(&flit, &args.admin_token, &created).await;
    for problem in &problems {
        eprintln!("cleanup: {problem}");
    }
    if let Some(receiver) = &mut receiver {
        receiver.stop().await;
    }
    if let Ok(smscs) = Arc::try_unwrap(smscs) {
        for smsc in smscs {
            smsc.stop().await;
        }
    }
    let mut summary = outcome?;
    summary.notes.extend(problems);
    Ok(summary)
}

/// What one closed-loop sender saw.
struct SenderResult {
    histogram: Histogram<u64>,
    ok: u64,
    other: u64,
    accepted: u64,
    /// (message id, recipients sent) of every 2xx.
    messages: Vec<(String, u64)>,
    /// (creditsUsed, recipientsSent) of the first 2xx.
    first: Option<(i64, u64)>,
    errors: Vec<String>,
}

const ERROR_SAMPLES: usize = 5;

async fn drive(
    args: &E2eArgs,
    flit: &Flit,
    smscs: Arc<Vec<SmscHandle>>,
    receiver: Option<&WebhookReceiverHandle>,
    created: &mut Created,
) -> anyhow::Result<Summary> {
    let tenant_name = format!("loadtest-{:08x}", rand::random::<u32>());
    let setup = Setup {
        admin_token: &args.admin_token,
        tenant_name: tenant_name.clone(),
        // Enough for the longest text (six parts) to every number, and then some.
        credits: i64::try_from(args.messages)
            .unwrap_or(i64::MAX / 16)
            .saturating_mul(8)
            .saturating_add(1000),
        smsc_ports: smscs.iter().map(|s| s.addr.port()).collect(),
        window: args.window,
    };
    client::set_up(flit, &setup, created).await?;
    let key = created
        .api_key
        .clone()
        .context("the setup made no API key")?;
    client::wait_bound(
        flit,
        &args.admin_token,
        &created.bind_ids,
        Duration::from_secs(30),
    )
    .await?;
    if let Some(receiver) = receiver {
        webhooks::register(flit, &key, receiver, created).await?;
        eprintln!(
            "e2e: webhook {} posts to {}",
            created.webhook_id.as_deref().unwrap_or("?"),
            receiver.url()
        );
    }
    eprintln!(
        "e2e: tenant {tenant_name} ({}), {} bind(s) bound; sending {} recipients, {} a request, {} connections",
        created.tenant_id.as_deref().unwrap_or("?"),
        created.bind_ids.len(),
        args.messages,
        args.recipients_per_request,
        args.connections,
    );

    // HTTP phase: closed-loop senders take request numbers from one counter.
    let accepted = Arc::new(AtomicU64::new(0));
    let monitor = Monitor::start(
        Arc::clone(&smscs),
        Arc::clone(&accepted),
        args.messages,
        false,
    );
    let plan = NumberPlan::new(rand::random_range(0..numbers::MAX_NUMBERS));
    let rpr = args.recipients_per_request as u64;
    let requests = args.messages.div_ceil(rpr);
    let next = Arc::new(AtomicU64::new(0));
    let text: Arc<str> = Arc::from(args.text.as_str());
    let key: Arc<str> = Arc::from(key.as_str());
    let first_send = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..args.connections {
        let (flit, next, accepted, text, key) = (
            flit.clone(),
            Arc::clone(&next),
            Arc::clone(&accepted),
            Arc::clone(&text),
            Arc::clone(&key),
        );
        let total = args.messages;
        senders.spawn(async move {
            let mut result = SenderResult {
                histogram: Histogram::new_with_bounds(1, 600_000_000, 3)?,
                ok: 0,
                other: 0,
                accepted: 0,
                messages: Vec::new(),
                first: None,
                errors: Vec::new(),
            };
            loop {
                let request = next.fetch_add(1, Ordering::Relaxed);
                if request >= requests {
                    break;
                }
                let start = request * rpr;
                let numbers = plan.batch(start, (start + rpr).min(total));
                let sent_at = std::time::Instant::now();
                let answer = flit.send_sms(&key, &numbers, &text).await;
                let micros = u64::try_from(sent_at.elapsed().as_micros()).unwrap_or(u64::MAX);
                result.histogram.saturating_record(micros.max(1));
                match answer {
                    Ok((status, body)) if status.is_success() => {
                        let data: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                        let data = data.get("data").unwrap_or(&Value::Null);
                        let sent = data
                            .get("recipientsSent")
                            .and_then(Value::as_u64)
                            .unwrap_or(0);
                        let credits = data.get("creditsUsed").and_then(Value::as_i64).unwrap_or(0);
                        match data.get("messageId").and_then(Value::as_str) {
                            Some(id) => result.messages.push((id.to_owned(), sent)),
                            None if result.errors.len() < ERROR_SAMPLES => result.errors.push(
                                format!("2xx without messageId: {}", client::truncate(&body, 200)),
                            ),
                            None => {}
                        }
                        result.ok += 1;
                        result.accepted += sent;
                        accepted.fetch_add(sent, Ordering::Relaxed);
                        if result.first.is_none() && sent > 0 {
                            result.first = Some((credits, sent));
                        }
                    }
                    Ok((status, body)) => {
                        result.other += 1;
                        if result.errors.len() < ERROR_SAMPLES {
                            result
                                .errors
                                .push(format!("HTTP {status}: {}", client::truncate(&body, 200)));
                        }
                    }
                    Err(error) => {
                        result.other += 1;
                        if result.errors.len() < ERROR_SAMPLES {
                            result.errors.push(format!("transport: {error}"));
                        }
                    }
                }
            }
            anyhow::Ok(result)
        });
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut summary = Summary {
        binds: args.binds,
        window: args.window,
        connections: args.connections,
        recipients_per_request: args.recipients_per_request,
        receipt_delay_ms: args.receipt_delay_ms,
        smsc_latency_ms: args.smsc_latency_ms,
        requests,
        recipients_offered: args.messages,
        ..Summary::default()
    };
    let mut messages: Vec<(String, u64)> = Vec::new();
    let mut first = None;
    while let Some(joined) = senders.join_next().await {
        let result = joined.context("a sender task failed")??;
        histogram.add(&result.histogram)?;
        summary.requests_2xx += result.ok;
        summary.requests_other += result.other;
        summary.recipients_accepted += result.accepted;
        messages.extend(result.messages);
        first = first.or(result.first);
        for error in result.errors {
            if summary.error_samples.len() < ERROR_SAMPLES {
                summary.error_samples.push(error);
            }
        }
    }
    let last_send = Instant::now();
    let http_elapsed = last_send.duration_since(first_send);
    summary.http_secs = http_elapsed.as_secs_f64();
    summary.accepted_per_sec = summary::per_second(summary.recipients_accepted, http_elapsed);
    summary.requests_per_sec = summary::per_second(summary.requests_2xx, http_elapsed);
    summary.latency = Latency::from_micros(&histogram);
    summary.messages = messages.len() as u64;
    eprintln!(
        "e2e: HTTP phase done in {:.2}s: {} 2xx, {} other, {} recipients accepted",
        summary.http_secs,
        summary.requests_2xx,
        summary.requests_other,
        summary.recipients_accepted
    );

    // Receipt phase: wait for the SMSCs to have every segment's receipt acked.
    let parts = match first {
        Some((credits, sent)) => {
            summary::parts_per_recipient(credits, sent).with_context(|| {
                format!(
                    "creditsUsed {credits} is not a whole number of parts for {sent} recipients"
                )
            })?
        }
        None => 0,
    };
    summary.parts_per_recipient = parts;
    summary.segments = parts * summary.recipients_accepted;
    let expected = summary.segments;
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    let (timeline, all_receipts) = monitor
        .wait_until(deadline, |totals: &Totals| {
            totals.receipts_acked >= expected
        })
        .await;
    if all_receipts {
        let last = timeline.last_receipt.unwrap_or(first_send);
        let e2e = last.saturating_duration_since(first_send);
        summary.e2e_secs = e2e.as_secs_f64();
        summary.e2e_segments_per_sec = summary::per_second(expected, e2e);
        eprintln!("e2e: every receipt acked after {:.2}s", summary.e2e_secs);
    } else {
        summary.notes.push(format!(
            "only {} of {expected} receipts acked within {}s of the last send",
            timeline.totals.receipts_acked, args.timeout_secs
        ));
    }

    // API phase: the history must show every message final (and delivered).
    let wanted: HashMap<&str, u64> = messages.iter().map(|(id, n)| (id.as_str(), *n)).collect();
    let listed_final = loop {
        let listed = client::list_messages(flit, &key).await?;
        let mut finals = 0u64;
        let mut delivered = 0u64;
        for message in listed.iter().filter(|m| wanted.contains_key(m.id.as_str())) {
            match message.status.as_str() {
                "DELIVERED" => {
                    finals += 1;
                    delivered += 1;
                }
                "FAILED" | "CANCELLED" => finals += 1,
                _ => {}
            }
        }
        summary.messages_delivered = delivered;
        if finals == wanted.len() as u64 {
            summary.api_final_secs = first_send.elapsed().as_secs_f64();
            break finals;
        }
        if Instant::now() >= deadline {
            break finals;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    summary.messages_not_delivered = summary.messages - summary.messages_delivered;
    if listed_final < summary.messages {
        summary.notes.push(format!(
            "the history shows {listed_final} of {} messages final at the deadline",
            summary.messages
        ));
    }

    // Per-recipient check: a DELIVERED message may still hide FAILED recipients.
    let counts: Vec<(u64, anyhow::Result<client::RecipientCounts>)> =
        futures::stream::iter(messages.iter())
            .map(|(id, sent)| {
                let key = Arc::clone(&key);
                async move { (*sent, client::recipient_counts(flit, &key, id).await) }
            })
            .buffer_unordered(args.connections)
            .collect()
            .await;
    for (sent, count) in counts {
        match count {
            Ok(count) => {
                summary.recipients_delivered += count.delivered;
                summary.recipients_failed += count.failed;
                summary.lost += count.pending;
                if count.delivered + count.failed + count.pending != sent {
                    summary.notes.push(format!(
                        "a message lists {} recipients but {sent} were accepted",
                        count.delivered + count.failed + count.pending
                    ));
                }
            }
            Err(error) => {
                summary.lost += sent;
                summary.notes.push(format!("{error:#}"));
            }
        }
    }

    // Webhook side: a final event for every recipient, within the same deadline.
    if let Some(receiver) = receiver {
        let all = webhooks::wait_final(receiver, summary.recipients_accepted, deadline).await;
        let figures = WebhookSummary::from_receiver(
            &receiver.stats(),
            &receiver.timeline(),
            last_send,
            args.webhook_fail_first,
            Duration::from_millis(args.webhook_latency_ms),
        );
        if all {
            eprintln!(
                "e2e: every recipient's final webhook came {:.2}s after the last send",
                figures.last_send_to_last_webhook_secs
            );
        }
        summary.notes.extend(figures.problems(
            summary.recipients_accepted,
            summary.recipients_delivered,
            args.timeout_secs,
        ));
        summary.webhooks = Some(figures);
    }

    // SMSC side: totals, rates and windows.
    let timeline = monitor.timeline();
    summary.per_second = monitor::rates(&monitor.samples());
    monitor.stop();
    let totals = timeline.totals;
    summary.submits = totals.submits;
    summary.receipts = totals.receipts_acked;
    if let (Some(a), Some(b)) = (timeline.first_submit, timeline.last_submit) {
        summary.submit_sm_per_sec = summary::per_second(totals.submits, b - a);
    }
    if let (Some(a), Some(b)) = (timeline.first_receipt, timeline.last_receipt) {
        summary.receipts_per_sec = summary::per_second(totals.receipts_acked, b - a);
    }
    summary.duplicated = summary::duplicated(totals.accepted, expected);
    summary.smscs = smscs
        .iter()
        .map(|smsc| {
            let stats = smsc.stats();
            SmscSummary {
                port: smsc.addr.port(),
                submits: stats.submits,
                accepted: stats.accepted,
                receipts_sent: stats.receipts_sent,
                receipts_acked: stats.receipts_acked,
                max_window_seen: stats.max_outstanding_seen,
                window_violations: stats.window_violations,
            }
        })
        .collect();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: E2eArgs,
    }

    fn parse(extra: &[&str]) -> Result<E2eArgs, clap::Error> {
        let base = ["e2e", "--admin-token", "t"];
        Cli::try_parse_from(base.iter().chain(extra)).map(|cli| cli.args)
    }

    #[test]
    fn webhooks_are_off_unless_asked_for_and_their_knobs_need_the_flag() {
        let plain = parse(&[]).expect("parses");
        assert!(!plain.webhooks);
        let with = parse(&[
            "--webhooks",
            "--webhook-fail-first",
            "2",
            "--webhook-latency-ms",
            "30",
        ])
        .expect("parses");
        assert!(with.webhooks);
        assert_eq!((with.webhook_fail_first, with.webhook_latency_ms), (2, 30));
        assert!(parse(&["--webhook-fail-first", "2"]).is_err());
        assert!(parse(&["--webhook-latency-ms", "30"]).is_err());
    }
}
