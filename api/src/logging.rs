//! The log stream of `flit serve`: one line per event on stdout, as text or as JSON, filtered
//! by a level for Flit's own events (`RUST_LOG`, when set, replaces that filter), with the
//! access log (`flit::access`, one event per request, written in `telemetry::track_http`)
//! switched on or off on its own.

use std::fmt;
use std::io::IsTerminal;
use std::str::FromStr;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{Directive, LevelFilter};

/// The target of the access log's events, so it can be switched on and off (and shipped)
/// apart from the rest.
pub const ACCESS_TARGET: &str = "flit::access";

/// How each log line is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `2025-01-01T12:00:00.000000Z  INFO flit_api::server: Flit is listening addr=…`.
    #[default]
    Text,
    /// One JSON object per line, its fields at the top level next to `timestamp`, `level`,
    /// `target` and `message`.
    Json,
}

impl FromStr for LogFormat {
    type Err = ();

    fn from_str(name: &str) -> Result<LogFormat, ()> {
        match name.to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(()),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

/// What `flit serve` logs and how (`log_format`, `log_level`, `access_log`).
#[derive(Debug, Clone)]
pub struct LogConfig {
    pub format: LogFormat,
    /// The most detailed level of Flit's own events (targets `flit…`); the libraries Flit
    /// uses log at `warn` (or less, with `error` or `off`).
    pub level: LevelFilter,
    /// A `RUST_LOG` filter (`info,flit_engine::dispatch=debug`), which replaces `level` for
    /// everything but the access log.
    pub rust_log: Option<String>,
    /// One `flit::access` event per request, whatever the level.
    pub access_log: bool,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            format: LogFormat::Text,
            level: LevelFilter::INFO,
            rust_log: None,
            access_log: false,
        }
    }
}

/// Why `RUST_LOG` cannot be used as the filter.
#[derive(Debug, thiserror::Error)]
#[error("RUST_LOG `{filter}` is not a tracing filter: {reason}")]
pub struct FilterError {
    filter: String,
    reason: String,
}

impl LogConfig {
    /// The filter these settings describe: `RUST_LOG` if set, else Flit's targets at `level`
    /// and every other at `warn` at most; then the access log on (at `info`) or off, which
    /// neither overrides.
    pub fn filter(&self) -> Result<EnvFilter, FilterError> {
        let filter = match &self.rust_log {
            Some(rust_log) => {
                EnvFilter::builder()
                    .parse(rust_log)
                    .map_err(|error| FilterError {
                        filter: rust_log.clone(),
                        reason: error.to_string(),
                    })?
            }
            None => {
                let libraries = self.level.min(LevelFilter::WARN);
                // `flit` matches every target that starts with it: `flit_api`,
                // `flit_engine`, `flit_storage` and the binary's own `flit`.
                EnvFilter::default()
                    .add_directive(libraries.into())
                    .add_directive(directive(&format!("flit={}", self.level)))
            }
        };
        let access = if self.access_log { "info" } else { "off" };
        Ok(filter.add_directive(directive(&format!("{ACCESS_TARGET}={access}"))))
    }

    /// Installs these settings as the process's subscriber, writing to stdout, with ANSI
    /// colours only when stdout is a terminal (and `NO_COLOR` is not set): a log written to a
    /// file or a pipe carries no escape codes.
    pub fn install(&self) -> Result<(), FilterError> {
        let filter = self.filter()?;
        let colour = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(colour);
        // A subscriber installed earlier in this process (a test's) stays.
        let _ = match self.format {
            LogFormat::Text => builder.try_init(),
            LogFormat::Json => builder.json().flatten_event(true).try_init(),
        };
        Ok(())
    }
}

/// A directive built from parts this module wrote, so always well-formed.
fn directive(text: &str) -> Directive {
    text.parse().unwrap_or_else(|_| LevelFilter::WARN.into())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::Level;
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Records the target and level of every event that got through the filter.
    struct Passed(Arc<Mutex<Vec<(String, Level)>>>);

    impl<S: tracing::Subscriber> Layer<S> for Passed {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            let metadata = event.metadata();
            if let Ok(mut passed) = self.0.lock() {
                passed.push((metadata.target().to_string(), *metadata.level()));
            }
        }
    }

    /// Which of a fixed set of events `config`'s filter lets through.
    fn passed(config: &LogConfig) -> Vec<(String, Level)> {
        let passed = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry()
            .with(config.filter().expect("a filter"))
            .with(Passed(passed.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(target: "flit_storage::store", "e");
            tracing::warn!(target: "flit_engine::dispatch", "w");
            tracing::info!(target: "flit_api::server", "i");
            tracing::debug!(target: "flit_engine::dispatch", "d");
            tracing::info!(target: "flit", "i");
            tracing::warn!(target: "hyper::proto", "w");
            tracing::info!(target: "hyper::proto", "i");
            tracing::info!(target: "flit::access", "request");
        });
        passed.lock().expect("not poisoned").clone()
    }

    fn names(passed: &[(String, Level)]) -> Vec<String> {
        passed
            .iter()
            .map(|(target, level)| format!("{level} {target}"))
            .collect()
    }

    #[test]
    fn the_level_is_flits_own_and_libraries_stay_at_warn() {
        let info = passed(&LogConfig::default());
        assert_eq!(
            names(&info),
            [
                "ERROR flit_storage::store",
                "WARN flit_engine::dispatch",
                "INFO flit_api::server",
                "INFO flit",
                "WARN hyper::proto",
            ]
        );
        let debug = passed(&LogConfig {
            level: LevelFilter::DEBUG,
            ..LogConfig::default()
        });
        assert!(names(&debug).contains(&"DEBUG flit_engine::dispatch".to_string()));
        assert!(!names(&debug).contains(&"INFO hyper::proto".to_string()));
        let error = passed(&LogConfig {
            level: LevelFilter::ERROR,
            ..LogConfig::default()
        });
        assert_eq!(names(&error), ["ERROR flit_storage::store"]);
    }

    #[test]
    fn the_access_log_has_its_own_switch() {
        let on = LogConfig {
            access_log: true,
            level: LevelFilter::ERROR,
            ..LogConfig::default()
        };
        assert!(names(&passed(&on)).contains(&"INFO flit::access".to_string()));
        // RUST_LOG replaces the level, not the switch.
        let everything_but_access = LogConfig {
            rust_log: Some("trace".to_string()),
            ..LogConfig::default()
        };
        let passed = names(&passed(&everything_but_access));
        assert!(
            passed.contains(&"INFO hyper::proto".to_string()),
            "{passed:?}"
        );
        assert!(
            !passed.contains(&"INFO flit::access".to_string()),
            "{passed:?}"
        );
    }

    #[test]
    fn rust_log_is_checked() {
        let bad = LogConfig {
            rust_log: Some("flit=loud".to_string()),
            ..LogConfig::default()
        };
        let error = bad.filter().expect_err("not a level");
        assert!(error.to_string().contains("flit=loud"), "{error}");
    }

    #[test]
    fn formats_read_in_any_case() {
        assert_eq!("json".parse(), Ok(LogFormat::Json));
        assert_eq!("TEXT".parse(), Ok(LogFormat::Text));
        assert!("yaml".parse::<LogFormat>().is_err());
    }
}
