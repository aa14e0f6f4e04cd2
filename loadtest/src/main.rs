//! The `flit-loadtest` binary: parses the command line and hands over to a library module.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "flit-loadtest",
    version,
    about = "Load generator and simulated peers for Flit"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a simulated SMSC (SMPP 3.4 server) with receipts and fault injection.
    Smsc(flit_loadtest::smsc::cli::SmscArgs),
    /// Send HTTP submit load (`POST /api/v1/sms/send`) to a live server, closed or open loop,
    /// and report throughput, latency and status counts.
    Http(flit_loadtest::http::HttpArgs),
    /// Run an end-to-end test against a live server: simulated SMSCs, HTTP submit load, and a
    /// wait for every receipt.
    E2e(flit_loadtest::e2e::E2eArgs),
    /// Load-test an SMPP 3.4 server as an ESME: transceiver binds with a window of submit_sm
    /// each, latency and status counts, and optionally a wait for every delivery receipt.
    SmppClient(flit_loadtest::smpp_client::SmppClientArgs),
    /// Run the crash test: start `flit serve`, drive load through a simulated SMSC, kill the
    /// server with SIGKILL again and again, restart it, then check that nothing acknowledged
    /// was lost or charged twice and that every ledger balances.
    Crash(flit_loadtest::crash::CrashArgs),
    /// Run simulated phones speaking the SMS Gate app's protocol (`/mobile/v1`) against a
    /// server: registration, events, pulls, state reports, inbound webhooks, dropouts.
    Devices(flit_loadtest::devices::cli::DevicesArgs),
    /// Measure phones as a channel against a server: messages/s through N simulated phones,
    /// send-to-`MessageEnqueued` latency, and the server's memory per connected phone.
    DevicesBench(flit_loadtest::devices_bench::DevicesBenchArgs),
    /// Run a webhook receiver: check signatures, dedupe by event id, count what arrives, inject
    /// failures and latency; `GET /stats` serves the counters as JSON.
    WebhookReceiver(flit_loadtest::webhook::cli::WebhookReceiverArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Smsc(args) => flit_loadtest::smsc::cli::run(args).await,
        Command::Http(args) => flit_loadtest::http::run(args).await,
        Command::E2e(args) => flit_loadtest::e2e::run(args).await,
        Command::SmppClient(args) => flit_loadtest::smpp_client::run(args).await,
        Command::Crash(args) => flit_loadtest::crash::run(args).await,
        Command::Devices(args) => flit_loadtest::devices::cli::run(args).await,
        Command::DevicesBench(args) => flit_loadtest::devices_bench::run(args).await,
        Command::WebhookReceiver(args) => flit_loadtest::webhook::cli::run(args).await,
    }
}
