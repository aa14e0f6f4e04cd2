//! The `flit` binary.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use flit_api::admin_cli::{self, AdminArgs};
use flit_api::config::{Config, Overrides};
use flit_api::server::{Server, shutdown_signal};
use flit_api::tls_cli::{self, TlsArgs};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "flit",
    version,
    about = "Flit: a self-hosted SMS dispatch engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Overrides),
    /// Manage a running server: tenants, keys, credits, sender IDs, binds and routes.
    Admin(AdminArgs),
    /// Certificates for serving https on a LAN (a local CA for the phones to trust).
    Tls(TlsArgs),
}

/// A failure is one line on stderr (`error: …`, its causes after colons) and exit status 1.
fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve(overrides) => {
                let config = Config::load(overrides)?;
                let metrics = flit_api::telemetry::prometheus_builder()?
                    .install_recorder()
                    .ok();
                let server = Server::start(config, metrics).await?;
                shutdown_signal().await;
                tracing::info!("shutting down");
                server.shutdown().await
            }
            Command::Admin(args) => admin_cli::run(args).await,
            Command::Tls(args) => tls_cli::run(args),
        }
    })
}
