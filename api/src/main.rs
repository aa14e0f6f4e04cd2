//! The `flit` binary.

use clap::{Parser, Subcommand};
use flit_api::admin_cli::{self, AdminArgs};
use flit_api::config::{Config, Overrides};
use flit_api::logging::LogConfig;
use flit_api::server::{Server, shutdown_signal};
use flit_api::tls_cli::{self, TlsArgs};
use tracing_subscriber::filter::LevelFilter;

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
    // Boxed: every setting of the server is a field, the other commands have few.
    Serve(Box<Overrides>),
    /// Call the admin API of a running server.
    Admin(AdminArgs),
    /// Certificates for serving https on a LAN (a local CA for the phones to trust).
    Tls(TlsArgs),
}

fn main() -> anyhow::Result<()> {
    run(Cli::parse())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve(overrides) => {
            let config = Config::load(*overrides)?;
            config.log.install()?;
            runtime.block_on(async {
                let metrics = flit_api::telemetry::install_recorder().ok();
                let server = Server::start(config, metrics).await?;
                shutdown_signal().await;
                tracing::info!("shutting down");
                server.shutdown().await
            })
        }
        Command::Admin(args) => {
            cli_logs().install()?;
            runtime.block_on(admin_cli::run(args))
        }
        Command::Tls(args) => {
            cli_logs().install()?;
            tls_cli::run(args)
        }
    }
}

/// The subcommands that print their answer on stdout log only warnings and errors (or what
/// `RUST_LOG` asks for).
fn cli_logs() -> LogConfig {
    LogConfig {
        level: LevelFilter::WARN,
        rust_log: std::env::var("RUST_LOG")
            .ok()
            .filter(|filter| !filter.trim().is_empty()),
        ..LogConfig::default()
    }
}
