//! Simulated phones: N copies of the SMS Gate Android app in "private server" mode, speaking
//! `/mobile/v1` to a Flit server exactly as the app v1.68 does (`PROTOCOL.md` in this folder is
//! the contract, read from the app's source). Each phone registers with the tenant's
//! registration token or a pairing code, holds `GET /events` open, pulls `GET /message` when the
//! stream opens and on each `MessageEnqueued`, "sends" what it pulled and reports every step
//! with one `PATCH /message` (Processed, Sent, then Delivered or Failed), honours cancels,
//! posts signed `sms:received` webhooks for inbound SMS, drops out and comes back, and
//! registers again after a 401.
//!
//! A phone is two tokio tasks (its loop and its stream reader) sharing one pooled HTTPS client
//! with every other phone; a thousand fit on two cores. [`DevicePool`] runs them and counts
//! what they saw, above all [`DeviceStats::duplicates`]: a message pulled by two phones, which
//! must never happen. `wire` is the app's JSON, `sse` its stream framing, `client` its HTTP
//! calls, `phone` one phone's behaviour, `stats` the counters, `cli` the
//! `flit-loadtest devices` subcommand.

pub mod cli;
mod client;
mod phone;
pub mod sse;
mod stats;
pub mod wire;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::ensure;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use client::CallError;
pub(crate) use client::{HttpsClient, error_chain, https_client};
pub use stats::{DeviceStats, LatencySummary, PullRecord};
pub use wire::PullOrder;

use client::MobileApi;
use stats::PoolStats;

/// How long [`DevicePool::stop`] waits for the phones to notice before it aborts them.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What the phones do and how often.
#[derive(Debug, Clone)]
pub struct DevicesConfig {
    /// The server. The app's "server URL" is the `/mobile/v1` prefix itself; a URL without that
    /// path gets it appended.
    pub url: String,
    /// The tenant's device-registration token (`Authorization: Bearer`): first registration of
    /// phones without a code, and every re-registration after a 401, as in the app.
    pub registration_token: Option<String>,
    /// One-time pairing codes (`Authorization: Code`): phone i registers with `codes[i]`.
    pub codes: Vec<String>,
    pub devices: usize,
    /// From handing a message to the radio (Processed) to its sent report (Sent).
    pub sent_delay: Duration,
    /// From Sent to the delivery report (Delivered, or Failed at `fail_rate`); messages with
    /// `withDeliveryReport: false` stop at Sent.
    pub delivered_delay: Duration,
    /// Probability that a recipient's delivery report is a failure.
    pub fail_rate: f64,
    /// How long a pulled message waits in the phone's queue before the radio takes it; the
    /// radio takes one at a time, spaced by the `send_interval` settings when the server sets
    /// them. The window in which `MessageCancelled` still cancels.
    pub queue_delay: Duration,
    /// Received SMS per phone per minute (Poisson), each posted to every `sms:received` webhook
    /// the server lists.
    pub inbound_per_minute: f64,
    /// Dropouts per phone per minute (Poisson): the phone closes its stream and goes silent.
    pub dropout_rate: f64,
    /// How long a dropout lasts.
    pub dropout_duration: Duration,
    /// PEM certificates to trust instead of the system's roots (a private CA or a self-signed
    /// server certificate).
    pub ca_pem: Option<Vec<u8>>,
    /// The `order` of `GET /message` until the server's `messages.processing_order` says
    /// otherwise.
    pub order: PullOrder,
    /// Phones start spread evenly over this time, so that N registrations are not one burst.
    pub ramp: Duration,
    /// Seeds each phone's randomness (phone i uses `seed + i`), so that a run can be repeated.
    pub seed: u64,
    /// Keep a [`PullRecord`] of every first pull and the moment of every final report the
    /// server took (for measurements; off for soaks, where the log would only grow).
    pub keep_log: bool,
}

impl Default for DevicesConfig {
    fn default() -> Self {
        Self {
            url: "https://127.0.0.1:8443".to_owned(),
            registration_token: None,
            codes: Vec::new(),
            devices: 1,
            sent_delay: Duration::from_secs(1),
            delivered_delay: Duration::from_secs(2),
            fail_rate: 0.0,
            queue_delay: Duration::ZERO,
            inbound_per_minute: 0.0,
            dropout_rate: 0.0,
            dropout_duration: Duration::from_secs(30),
            ca_pem: None,
            order: PullOrder::Fifo,
            ramp: Duration::ZERO,
            seed: 1,
            keep_log: false,
        }
    }
}

impl DevicesConfig {
    fn validate(&self) -> anyhow::Result<()> {
        ensure!(self.devices > 0, "at least one device");
        ensure!(
            (0.0..=1.0).contains(&self.fail_rate),
            "the fail rate must be within 0..=1, got {}",
            self.fail_rate
        );
        ensure!(
            self.inbound_per_minute >= 0.0 && self.inbound_per_minute.is_finite(),
            "inbound per minute must be a finite number ≥ 0"
        );
        ensure!(
            self.dropout_rate >= 0.0 && self.dropout_rate.is_finite(),
            "the dropout rate must be a finite number ≥ 0"
        );
        ensure!(
            self.registration_token.is_some() || self.codes.len() >= self.devices,
            "{} devices need a registration token or {} pairing codes, got {}",
            self.devices,
            self.devices,
            self.codes.len()
        );
        ensure!(
            self.url.starts_with("https://") || self.url.starts_with("http://"),
            "the URL must start with https:// (or http:// for a local test), got {:?}",
            self.url
        );
        Ok(())
    }

    /// The app's "server URL": `…/mobile/v1`.
    pub fn mobile_base(&self) -> String {
        let url = self.url.trim_end_matches('/');
        if url.ends_with("/mobile/v1") {
            url.to_owned()
        } else {
            format!("{url}/mobile/v1")
        }
    }
}

/// What every phone of a pool shares.
struct Shared {
    api: MobileApi,
    config: DevicesConfig,
    stats: PoolStats,
    /// Each phone's current device id, for tests and reports.
    device_ids: Mutex<Vec<Option<String>>>,
}

/// A running pool of simulated phones.
pub struct DevicePool {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    phones: Vec<JoinHandle<()>>,
}

impl DevicePool {
    /// Starts `config.devices` phones (spread over `config.ramp`). Must be called inside a
    /// tokio runtime.
    pub fn start(config: DevicesConfig) -> anyhow::Result<Self> {
        config.validate()?;
        let api = MobileApi::new(&config.mobile_base(), config.ca_pem.as_deref())?;
        let devices = config.devices;
        let shared = Arc::new(Shared {
            api,
            stats: PoolStats::new(config.keep_log),
            device_ids: Mutex::new(vec![None; devices]),
            config,
        });
        let cancel = CancellationToken::new();
        let phones = (0..devices)
            .map(|index| {
                let start_after = shared.config.ramp.mul_f64(index as f64 / devices as f64);
                let phone = phone::Phone::new(Arc::clone(&shared), index);
                tokio::spawn(phone.run(start_after, cancel.child_token()))
            })
            .collect();
        Ok(Self {
            shared,
            cancel,
            phones,
        })
    }

    /// The counters so far.
    pub fn stats(&self) -> DeviceStats {
        self.shared.stats.snapshot()
    }

    /// Every message pulled for the first time so far, with the event that led to its pull;
    /// empty unless `keep_log` was set.
    pub fn pull_log(&self) -> Vec<PullRecord> {
        self.shared.stats.pull_log()
    }

    /// When the server last took a phone's report of a final state (Delivered, Failed,
    /// Cancelled): the end of the work the phones were given.
    pub fn last_final_report(&self) -> Option<Instant> {
        self.shared.stats.last_final_report()
    }

    /// When the server took each final report, oldest first; empty unless `keep_log` was set.
    pub fn final_report_times(&self) -> Vec<Instant> {
        self.shared.stats.final_report_times()
    }

    /// Each phone's device id, `None` until it registered.
    pub fn device_ids(&self) -> Vec<Option<String>> {
        self.shared
            .device_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops every phone (streams closed, nothing more sent) and returns the final counters.
    pub async fn stop(self) -> DeviceStats {
        self.cancel.cancel();
        for phone in self.phones {
            let abort = phone.abort_handle();
            if tokio::time::timeout(STOP_GRACE, phone).await.is_err() {
                abort.abort();
            }
        }
        self.shared.stats.snapshot()
    }
}
