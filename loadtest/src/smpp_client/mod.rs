//! `flit-loadtest smpp-client`: an ESME that load-tests an SMPP 3.4 server (Flit's, for its
//! customers) over its wire only. N transceiver binds share the run's messages, each keeping up
//! to a window of `submit_sm` awaiting their answers; it measures submit-to-answer latency,
//! retries throttled submits after a pause, counts refusals by status, answers every
//! `deliver_sm` and `enquire_link` at once, and with `--receipts` waits until a receipt has
//! come for every accepted submit. The account is given (`--system-id`, `--password`) or made
//! through the admin API (`--admin-token`) and deleted at the end.
//!
//! `session` is one bind, `pdu` what it writes and reads (through `rusmpp` only), `receipts`
//! the run's ledger of accepted ids and receipts, `account` the admin calls, `summary` the
//! figures.

mod account;
pub mod pdu;
mod receipts;
mod session;
mod summary;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use clap::Args;
use hdrhistogram::Histogram;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::e2e::summary::per_second;
use crate::e2e::{Latency, NumberPlan, numbers};
use crate::http::parse_duration;
use crate::smsc::encode_and_split;
use account::{AccountLimits, Credentials};
use receipts::Receipts;
use session::{BindReport, Settings, Work};
pub use summary::SmppClientSummary;

/// Arguments of `flit-loadtest smpp-client`.
#[derive(Debug, Clone, Args)]
pub struct SmppClientArgs {
    /// Host of the SMPP server.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port of the SMPP server.
    #[arg(long, default_value_t = 2775)]
    pub port: u16,
    /// system_id of an existing SMPP account (with --password); wins over --admin-token.
    #[arg(long, requires = "password")]
    pub system_id: Option<String>,
    /// Password of that account.
    #[arg(long, requires = "system_id")]
    pub password: Option<String>,
    /// Base URL of Flit's HTTP API, for --admin-token.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Admin token: instead of --system-id/--password, create a throwaway tenant with credits
    /// and an SMPP account of it (deleted at the end; the tenant stays).
    #[arg(long, env = "FLIT_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Transceiver binds.
    #[arg(long, default_value_t = 4)]
    pub binds: usize,
    /// submit_sm awaiting their submit_sm_resp at most, per bind (1: strictly one at a time).
    #[arg(long, default_value_t = 100)]
    pub window: u32,
    /// Messages to send in total, each to a distinct number.
    #[arg(long, default_value_t = 10_000)]
    pub messages: u64,
    /// Ask for delivery receipts (registered_delivery 1) and wait for one per accepted submit.
    #[arg(long)]
    pub receipts: bool,
    /// With --receipts: how long to wait for them after the last submit's answer.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub receipt_timeout: Duration,
    /// Text of every message: GSM 7-bit, one SMS (160 characters at most).
    #[arg(long, default_value = "Flit SMPP load test: your code is 123456.")]
    pub text: String,
    /// Alphanumeric source address (TON 5); the throwaway tenant's sender ID is `LoadTest`.
    #[arg(long, default_value = "LoadTest")]
    pub source: String,
    /// How long a bind holds back after a throttling answer before it submits again.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pub throttle_pause: Duration,
    /// How long a submit may wait for its answer before it is given up.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub response_timeout: Duration,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl SmppClientArgs {
    /// Arguments for a run against `host:port` with an existing account, every other setting
    /// at its command-line default.
    pub fn with_account(host: &str, port: u16, system_id: &str, password: &str) -> Self {
        Self {
            host: host.to_owned(),
            port,
            system_id: Some(system_id.to_owned()),
            password: Some(password.to_owned()),
            url: "http://127.0.0.1:8080".to_owned(),
            admin_token: None,
            binds: 4,
            window: 100,
            messages: 10_000,
            receipts: false,
            receipt_timeout: Duration::from_secs(60),
            text: "Flit SMPP load test: your code is 123456.".to_owned(),
            source: "LoadTest".to_owned(),
            throttle_pause: Duration::from_millis(100),
            response_timeout: Duration::from_secs(30),
            json: false,
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        ensure!(
            self.system_id.is_some() || self.admin_token.is_some(),
            "give --system-id and --password, or --admin-token TOKEN to create an SMPP account"
        );
        ensure!(self.binds >= 1, "--binds must be at least 1");
        ensure!(self.window >= 1, "--window must be at least 1");
        ensure!(
            (1..=numbers::MAX_NUMBERS).contains(&self.messages),
            "--messages must be from 1 to {}",
            numbers::MAX_NUMBERS
        );
        ensure!(
            !self.response_timeout.is_zero(),
            "--response-timeout must be above 0"
        );
        Ok(())
    }

    /// The text as `short_message` octets: GSM 7-bit, one septet an octet, in one part.
    fn user_data(&self) -> anyhow::Result<Vec<u8>> {
        ensure!(!self.text.is_empty(), "--text must not be empty");
        match encode_and_split(&self.text).as_slice() {
            [part] if part.data_coding == 0 => Ok(part.user_data.clone()),
            _ => anyhow::bail!(
                "--text must be GSM 7-bit and fit one SMS (160 septets): {:?}",
                self.text
            ),
        }
    }
}

/// Runs the load and prints its summary.
pub async fn run(args: SmppClientArgs) -> anyhow::Result<()> {
    let summary = execute(&args).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("flit-loadtest smpp-client summary");
        print!("{}", summary.table());
    }
    Ok(())
}

/// Runs the load and returns its figures (an SMPP account it made is deleted whatever
/// happens).
pub async fn execute(args: &SmppClientArgs) -> anyhow::Result<SmppClientSummary> {
    args.validate()?;
    let user_data = args.user_data()?;
    let (credentials, made) = match (&args.system_id, &args.password, &args.admin_token) {
        (Some(system_id), Some(password), _) => (
            Credentials {
                system_id: system_id.clone(),
                password: password.clone(),
            },
            None,
        ),
        (_, _, Some(token)) => {
            let limits = AccountLimits {
                binds: args.binds,
                window: args.window,
                // A credit a message, retries and all, with room to spare.
                credits: i64::try_from(args.messages)
                    .unwrap_or(i64::MAX / 4)
                    .saturating_mul(4)
                    .saturating_add(1000),
            };
            let (credentials, made) = account::make(&args.url, token, limits).await?;
            (credentials, Some(made))
        }
        _ => anyhow::bail!("give --system-id with --password, or --admin-token"),
    };
    let outcome = drive(args, &credentials, user_data).await;
    let problem = match &made {
        Some(made) => made.delete().await,
        None => None,
    };
    let mut summary = outcome?;
    summary.notes.extend(problem);
    Ok(summary)
}

async fn drive(
    args: &SmppClientArgs,
    credentials: &Credentials,
    user_data: Vec<u8>,
) -> anyhow::Result<SmppClientSummary> {
    let server = format!("{}:{}", args.host, args.port);
    let settings = Arc::new(Settings {
        system_id: credentials.system_id.clone(),
        password: credentials.password.clone(),
        window: usize::try_from(args.window).context("--window does not fit in memory")?,
        template: pdu::SubmitTemplate::new(&args.source, user_data, args.receipts)?,
        throttle_pause: args.throttle_pause,
        response_timeout: args.response_timeout,
    });
    // Bind everything first, so that the measurement starts with every bind ready.
    let sessions = futures::future::try_join_all(
        (0..args.binds).map(|_| session::bind(&server, Arc::clone(&settings))),
    )
    .await?;
    eprintln!(
        "smpp-client: {} bind(s) to {server} as {}, window {}; sending {} messages{}",
        args.binds,
        credentials.system_id,
        args.window,
        args.messages,
        if args.receipts { " with receipts" } else { "" },
    );

    let work = Arc::new(Work::new(
        args.messages,
        NumberPlan::new(rand::random_range(0..numbers::MAX_NUMBERS)),
    ));
    let receipts = Arc::new(Receipts::default());
    let (stop, stop_rx) = watch::channel(false);
    let start = Instant::now();
    let mut submitted = Vec::with_capacity(args.binds);
    let mut tasks = Vec::with_capacity(args.binds);
    for session in sessions {
        let (done, done_rx) = oneshot::channel();
        submitted.push(done_rx);
        tasks.push(tokio::spawn(session.run(
            Arc::clone(&work),
            Arc::clone(&receipts),
            done,
            stop_rx.clone(),
        )));
    }
    // Err: that bind ended early, which ends its share of the submitting too.
    futures::future::join_all(submitted).await;
    let submit_elapsed = start.elapsed();
    let mut notes = Vec::new();
    if args.receipts && !receipts.wait_all_matched(args.receipt_timeout).await {
        notes.push(format!(
            "receipts still missing {:?} after the last answer",
            args.receipt_timeout
        ));
    }
    // Err: every bind ended already.
    let _ = stop.send(true);
    let mut reports = Vec::with_capacity(tasks.len());
    for (index, task) in tasks.into_iter().enumerate() {
        let report = task.await.with_context(|| format!("bind {index} failed"))?;
        if let Some(reason) = &report.ended_early {
            notes.push(format!("bind {index} ended early: {reason}"));
        }
        reports.push(report);
    }
    let elapsed = start.elapsed();

    let mut summary = sum(&reports)?;
    let counts = receipts.counts();
    let receipts_elapsed = receipts
        .last_match()
        .map_or(Duration::ZERO, |last| last.duration_since(start));
    summary.server = server;
    summary.system_id = credentials.system_id.clone();
    summary.binds = args.binds;
    summary.window = args.window;
    summary.messages = args.messages;
    summary.submit_secs = submit_elapsed.as_secs_f64();
    summary.submits_per_sec = per_second(summary.accepted, submit_elapsed);
    summary.receipts_requested = args.receipts;
    summary.receipts = counts.received;
    summary.receipts_matched = counts.matched;
    summary.receipts_missing = if args.receipts { counts.missing } else { 0 };
    summary.receipts_unknown = counts.unknown;
    summary.receipts_duplicate = counts.duplicates;
    summary.receipts_secs = receipts_elapsed.as_secs_f64();
    summary.receipts_per_sec = per_second(counts.matched, receipts_elapsed);
    summary.elapsed_secs = elapsed.as_secs_f64();
    if counts.repeated_ids > 0 {
        notes.push(format!(
            "{} accepted answers repeated a message id given before",
            counts.repeated_ids
        ));
    }
    summary.notes.extend(notes);
    Ok(summary)
}

/// The binds' counts added up (the run-wide figures are the caller's).
fn sum(reports: &[BindReport]) -> anyhow::Result<SmppClientSummary> {
    let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut summary = SmppClientSummary::default();
    for report in reports {
        latency.add(&report.latency)?;
        summary.submits += report.submits;
        summary.accepted += report.accepted;
        summary.accepted_without_id += report.accepted_without_id;
        summary.throttled += report.throttled;
        for (status, count) in &report.refused {
            summary.refused += count;
            *summary
                .refused_by_status
                .entry(summary::status_key(*status))
                .or_default() += count;
        }
        summary.timed_out += report.timed_out;
        summary.lost += report.lost;
        summary.unexpected_answers += report.unexpected_answers;
        summary.inbound += report.inbound;
        summary.enquire_links += report.enquire_links;
        summary.unbound += usize::from(report.unbound);
    }
    summary.latency = Latency::from_micros(&latency);
    Ok(summary)
}
