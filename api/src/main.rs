//! The `flit` binary.

use std::process::ExitCode;

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
    /// Manage a running server: tenants, keys, credits, sender IDs, binds, routes, SMPP
    /// accounts and operator accounts.
    Admin(AdminArgs),
    /// Certificates for serving https on a LAN (a local CA for the phones to trust).
    Tls(TlsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // One line an operator can read (and a script can grep), never a backtrace: the
        // error's own words and its causes are the whole story of a failed start or call.
        Err(error) => {
            eprintln!("error: {}", error_line(&error));
            ExitCode::FAILURE
        }
    }
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

/// An error and its causes on one line, `what failed: why: root cause`. A message that already
/// ends with its cause's words (`cannot read x: No such file`) does not repeat them, and a
/// message of several lines is folded into one.
fn error_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let words = cause
            .to_string()
            .lines()
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if line.is_empty() {
            line = words;
        } else if !line.ends_with(&words) {
            line.push_str(": ");
            line.push_str(&words);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read flit.toml: {source}")]
    struct SaysItsCause {
        source: std::io::Error,
    }

    #[test]
    fn an_error_and_its_causes_make_one_line() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let chained = anyhow::Error::new(io()).context("cannot open the store in /data");
        assert_eq!(
            error_line(&chained),
            "cannot open the store in /data: No such file"
        );
        let repeated = anyhow::Error::new(SaysItsCause { source: io() });
        assert_eq!(error_line(&repeated), "cannot read flit.toml: No such file");
        let folded = anyhow::anyhow!("first line\n  second line\n").context("outer");
        assert_eq!(error_line(&folded), "outer: first line second line");
    }
}
