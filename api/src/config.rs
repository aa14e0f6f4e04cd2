//! Configuration: built-in defaults, then the TOML file (`--config`), then `FLIT_*`
//! environment variables, then command-line flags — each later source wins.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use flit_engine::{BackendKind, Country, Engine};
use serde::Deserialize;
use tracing_subscriber::filter::LevelFilter;

use crate::logging::{LogConfig, LogFormat};

/// Keys of the configuration file; every one can also come from `FLIT_<KEY>` or a flag.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub admin_token: Option<String>,
    pub storage: Option<String>,
    pub default_country: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub max_small_body_bytes: Option<usize>,
    pub max_buffered_body_bytes: Option<usize>,
    pub max_buffered_body_bytes_per_key: Option<usize>,
    pub max_connections: Option<usize>,
    pub header_read_timeout_secs: Option<u64>,
    pub body_read_timeout_secs: Option<u64>,
    pub max_backlog: Option<usize>,
    pub bootstrap_sender_ids: Option<Vec<String>>,
    pub webhooks: Option<WebhookFileConfig>,
    pub tls: Option<TlsFileConfig>,
    pub devices: Option<DevicesFileConfig>,
    pub smpp_server: Option<SmppServerFileConfig>,
    pub log_format: Option<String>,
    pub log_level: Option<String>,
    pub access_log: Option<bool>,
}

/// The `[devices]` table of the configuration file: the tenants' own phones.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicesFileConfig {
    pub offline_after_secs: Option<u64>,
    pub stuck_after_secs: Option<u64>,
    pub public_url: Option<String>,
}

/// The `[smpp_server]` table of the configuration file: Flit as its customers' SMSC.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmppServerFileConfig {
    pub listen: Option<SocketAddr>,
    pub tls: Option<bool>,
    pub bind_timeout_secs: Option<u64>,
    pub enquire_link_secs: Option<u64>,
    pub response_timeout_secs: Option<u64>,
    pub retry_secs: Option<u64>,
    pub held_hours: Option<u64>,
}

/// The `[webhooks]` table of the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFileConfig {
    pub allow_private_networks: Option<bool>,
    pub max_attempts: Option<u16>,
    pub timeout_secs: Option<u64>,
    pub retry_base_ms: Option<u64>,
    pub ca_file: Option<PathBuf>,
}

/// The `[tls] cert`, `key` of the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFileConfig {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// Values from the environment or flags (clap fills both); `None` falls through to the file.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// Configuration file (TOML).
    #[arg(long, env = "FLIT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where Flit keeps its data [default: ./flit-data].
    #[arg(long, env = "FLIT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "FLIT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Storage backend: redb, sled or fjall [default: the one the data dir holds, else redb].
    #[arg(long, env = "FLIT_STORAGE")]
    pub storage: Option<String>,
    /// Country for local numbers of new tenants [default: GH].
    #[arg(long, env = "FLIT_DEFAULT_COUNTRY")]
    pub default_country: Option<String>,
    /// Largest request body of a bulk route (a contact import) in bytes [default: 4 MiB].
    #[arg(long, env = "FLIT_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Largest request body of every other route in bytes [default: 1 MiB].
    #[arg(long, env = "FLIT_MAX_SMALL_BODY_BYTES")]
    pub max_small_body_bytes: Option<usize>,
    /// Request bodies held in memory at once, in all, in bytes (as announced); a request past
    /// it answers 503 `server_busy` [default: 64 MiB].
    #[arg(long, env = "FLIT_MAX_BUFFERED_BODY_BYTES")]
    pub max_buffered_body_bytes: Option<usize>,
    /// The same for the requests of one API key; past it, 429 `too_many_bodies`
    /// [default: 16 MiB].
    #[arg(long, env = "FLIT_MAX_BUFFERED_BODY_BYTES_PER_KEY")]
    pub max_buffered_body_bytes_per_key: Option<usize>,
    /// Open connections at most (phones hold one each); one more is answered 503 and
    /// closed [default: 10000].
    #[arg(long, env = "FLIT_MAX_CONNECTIONS", value_parser = clap::value_parser!(usize))]
    pub max_connections: Option<usize>,
    /// Seconds a client has to send a whole request head, counted from when the connection
    /// opens or its previous answer went out; a slower or idle connection is closed
    /// [default: 15].
    #[arg(long, env = "FLIT_HEADER_READ_TIMEOUT_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds a request body has to arrive in full once its head is in; a slower one
    /// answers 408 [default: 60].
    #[arg(long, env = "FLIT_BODY_READ_TIMEOUT_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub body_read_timeout_secs: Option<u64>,
    /// Recipients waiting for a carrier beyond which sends answer 503 `backlog_full`
    /// [default: 5000000].
    #[arg(long, env = "FLIT_MAX_BACKLOG", value_parser = clap::value_parser!(usize))]
    pub max_backlog: Option<usize>,
    /// Sender IDs approved for the bootstrap tenant, comma-separated [default:
    /// FlashSMS,MyBrand,Flowstates: the senders the seed APIs' examples use].
    #[arg(long, env = "FLIT_BOOTSTRAP_SENDER_IDS", value_delimiter = ',')]
    pub bootstrap_sender_ids: Option<Vec<String>>,
    /// Let webhooks reach private, loopback and link-local addresses (checked on the resolved
    /// address at every attempt) [default: false].
    #[arg(long, env = "FLIT_WEBHOOKS_ALLOW_PRIVATE_NETWORKS")]
    pub webhooks_allow_private_networks: Option<bool>,
    /// Attempts of one webhook event before it is given up [default: 12].
    #[arg(long, env = "FLIT_WEBHOOKS_MAX_ATTEMPTS", value_parser = clap::value_parser!(u16).range(1..))]
    pub webhooks_max_attempts: Option<u16>,
    /// Seconds one webhook attempt may take [default: 10].
    #[arg(long, env = "FLIT_WEBHOOKS_TIMEOUT_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub webhooks_timeout_secs: Option<u64>,
    /// Milliseconds before the first retry of a webhook event; each later wait doubles, up to
    /// an hour [default: 10000].
    #[arg(long, env = "FLIT_WEBHOOKS_RETRY_BASE_MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub webhooks_retry_base_ms: Option<u64>,
    /// PEM file of CA certificates trusted for https webhooks besides the public roots.
    #[arg(long, env = "FLIT_WEBHOOKS_CA_FILE")]
    pub webhooks_ca_file: Option<PathBuf>,
    /// PEM file of the server's certificate (its chain, leaf first); with --tls-key, Flit
    /// serves https instead of http (`flit tls init` makes one).
    #[arg(long, env = "FLIT_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM file of the private key of --tls-cert.
    #[arg(long, env = "FLIT_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Address the SMPP server for customers listens on (`127.0.0.1:2775`) [default: off].
    #[arg(long, env = "FLIT_SMPP_LISTEN")]
    pub smpp_listen: Option<SocketAddr>,
    /// Serve SMPP over TLS with the https certificate (--tls-cert, --tls-key) [default: false].
    #[arg(
        long,
        env = "FLIT_SMPP_TLS",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new(),
    )]
    pub smpp_tls: Option<bool>,
    /// Seconds without an open event stream or a pull after which a phone is offline and
    /// what waits for it goes to another phone [default: 1200].
    #[arg(long, env = "FLIT_DEVICES_OFFLINE_AFTER_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub devices_offline_after_secs: Option<u64>,
    /// Seconds after which a message a phone took and has not reported sent counts as stuck
    /// [default: 600].
    #[arg(long, env = "FLIT_DEVICES_STUCK_AFTER_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub devices_stuck_after_secs: Option<u64>,
    /// The https address phones reach Flit at (`https://flit.example.com`): the base of the
    /// webhook URL phones post received SMS to [default: the address each phone used].
    #[arg(long, env = "FLIT_DEVICES_PUBLIC_URL")]
    pub devices_public_url: Option<String>,
    /// How log lines are written on stdout: text, or json (one object per line) [default:
    /// text].
    #[arg(long, env = "FLIT_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// The most detailed of Flit's own events logged: error, warn, info, debug, trace or off;
    /// `RUST_LOG`, when set, replaces it with a full tracing filter [default: info].
    #[arg(long, env = "FLIT_LOG")]
    pub log_level: Option<String>,
    /// Log one line per request (`flit::access`): method, route, status, latency, and the
    /// tenant and key or phone it was authenticated as [default: false].
    #[arg(
        long,
        env = "FLIT_ACCESS_LOG",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new(),
    )]
    pub access_log: Option<bool>,
}

/// How webhooks are delivered (the `[webhooks]` table).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub allow_private_networks: bool,
    pub max_attempts: u16,
    pub timeout: Duration,
    /// The wait before the first retry (doubling after each, up to an hour).
    pub retry_base: Duration,
    pub ca_file: Option<PathBuf>,
}

/// The certificate and key `flit serve` answers https with (the `[tls]` table).
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// PEM: the server's certificate first, then any intermediates.
    pub cert: PathBuf,
    /// PEM: the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// From `FLIT_ADMIN_TOKEN` or the file; `None` = keep or generate one.
    pub admin_token: Option<String>,
    /// From `FLIT_SECRET_KEY` only (never the config file, which is often shared or backed up
    /// with the data); `None` = the key file in the data dir (`secret_key.rs`).
    pub secret_key: Option<flit_engine::secrets::SecretKey>,
    pub storage: BackendKind,
    pub default_country: Country,
    /// The largest body of a bulk route (a contact import).
    pub max_body_bytes: usize,
    /// The largest body of every other route.
    pub max_small_body_bytes: usize,
    /// What request bodies may hold in memory at once, in all and per API key.
    pub max_buffered_body_bytes: usize,
    pub max_buffered_body_bytes_per_key: usize,
    /// Open connections at most.
    pub max_connections: usize,
    /// How long a connection may take to send a request head, from when it opens or from its
    /// previous answer: bounds slow-loris clients and idle keep-alive connections alike.
    pub header_read_timeout: Duration,
    /// How long a request body may take to arrive once its head is in: bounds clients that
    /// announce a body and then send it slowly or not at all.
    pub body_read_timeout: Duration,
    /// Recipients accepted and not yet handed to a carrier beyond which sends are refused.
    pub max_backlog: usize,
    pub bootstrap_sender_ids: Vec<String>,
    pub webhooks: WebhookConfig,
    /// `Some`: serve https only, and bound the TLS handshake by `header_read_timeout` too.
    pub tls: Option<TlsConfig>,
    pub devices: DevicesConfig,
    pub smpp_server: SmppServerConfig,
    pub log: LogConfig,
}

/// The SMPP server for customers (the `[smpp_server]` table); off without `listen`.
#[derive(Debug, Clone, Default)]
pub struct SmppServerConfig {
    pub listen: Option<SocketAddr>,
    /// Over TLS, with the `[tls]` certificate.
    pub tls: bool,
    pub settings: flit_engine::SmppServerSettings,
}

/// The tenants' own phones (the `[devices]` table).
#[derive(Debug, Clone)]
pub struct DevicesConfig {
    pub times: flit_engine::DeviceTimes,
    /// Where phones reach Flit, without a trailing `/`.
    pub public_url: Option<String>,
}

/// Where the store lives inside the data dir.
pub const STORE_DIR: &str = "store";

/// The default of `header_read_timeout`: ample for a real client on a slow link, short
/// enough that stalled connections do not pile up.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(15);

/// The default of `body_read_timeout`: the largest body (4 MiB by default) at about half a
/// megabit a second.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `at` is `, line L, column C` when the parser knows where.
    #[error("config file {path}{at}: {message}")]
    Parse {
        path: PathBuf,
        at: String,
        message: String,
    },
    #[error("unknown storage backend `{0}` (use redb, sled or fjall)")]
    Storage(String),
    #[error(
        "smpp_server.tls needs the https certificate and key (tls.cert and tls.key, --tls-cert \
         and --tls-key)"
    )]
    SmppTlsWithoutCert,
    #[error("`{0}` must be at least 1")]
    ZeroTimeout(&'static str),
    #[error("`{0}` is not an ISO 3166 country code (default_country)")]
    Country(String),
    /// Names the half that is set.
    #[error(
        "https needs both tls.cert and tls.key (--tls-cert and --tls-key, FLIT_TLS_CERT and \
         FLIT_TLS_KEY), but only tls.{0} is set"
    )]
    TlsHalf(&'static str),
    #[error("devices.public_url `{0}` is not an http(s) URL (https://flit.example.com)")]
    PublicUrl(String),
    #[error("unknown log format `{0}` (use text or json)")]
    LogFormat(String),
    #[error("unknown log level `{0}` (use error, warn, info, debug, trace or off)")]
    LogLevel(String),
    #[error(
        "{} must be 32 bytes as 64 hex digits or in base64 (`openssl rand -hex 32` makes one)",
        crate::secret_key::KEY_ENV
    )]
    SecretKey,
}

impl Config {
    pub fn load(overrides: Overrides) -> Result<Config, ConfigError> {
        let file = match &overrides.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = overrides
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./flit-data"));
        let storage = overrides.storage.or(file.storage);
        let storage = match storage {
            Some(name) => name.parse().map_err(|_| ConfigError::Storage(name))?,
            // Unnamed: the backend the data dir already holds, else the default.
            None => Engine::existing_backend(&data_dir.join(STORE_DIR)).unwrap_or_default(),
        };
        let header_read_timeout = timeout(
            "header_read_timeout_secs",
            overrides
                .header_read_timeout_secs
                .or(file.header_read_timeout_secs),
            DEFAULT_HEADER_READ_TIMEOUT,
        )?;
        let body_read_timeout = timeout(
            "body_read_timeout_secs",
            overrides
                .body_read_timeout_secs
                .or(file.body_read_timeout_secs),
            DEFAULT_BODY_READ_TIMEOUT,
        )?;
        let webhook_file = file.webhooks.unwrap_or_default();
        let webhooks = WebhookConfig {
            allow_private_networks: overrides
                .webhooks_allow_private_networks
                .or(webhook_file.allow_private_networks)
                .unwrap_or(false),
            max_attempts: overrides
                .webhooks_max_attempts
                .or(webhook_file.max_attempts)
                .unwrap_or(12)
                .max(1),
            timeout: timeout(
                "webhooks.timeout_secs",
                overrides
                    .webhooks_timeout_secs
                    .or(webhook_file.timeout_secs),
                Duration::from_secs(10),
            )?,
            retry_base: Duration::from_millis(
                overrides
                    .webhooks_retry_base_ms
                    .or(webhook_file.retry_base_ms)
                    .unwrap_or(10_000)
                    .max(1),
            ),
            ca_file: overrides.webhooks_ca_file.or(webhook_file.ca_file),
        };
        let tls_file = file.tls.unwrap_or_default();
        let tls = match (
            overrides.tls_cert.or(tls_file.cert),
            overrides.tls_key.or(tls_file.key),
        ) {
            (Some(cert), Some(key)) => Some(TlsConfig { cert, key }),
            (None, None) => None,
            (Some(_), None) => return Err(ConfigError::TlsHalf("cert")),
            (None, Some(_)) => return Err(ConfigError::TlsHalf("key")),
        };
        let devices_file = file.devices.unwrap_or_default();
        let device_defaults = flit_engine::DeviceTimes::default();
        let public_url = overrides
            .devices_public_url
            .or(devices_file.public_url)
            .map(|url| url.trim_end_matches('/').to_string());
        if let Some(url) = &public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(ConfigError::PublicUrl(url.clone()));
        }
        let devices = DevicesConfig {
            times: flit_engine::DeviceTimes {
                offline_after: timeout(
                    "devices.offline_after_secs",
                    overrides
                        .devices_offline_after_secs
                        .or(devices_file.offline_after_secs),
                    device_defaults.offline_after,
                )?,
                stuck_after: timeout(
                    "devices.stuck_after_secs",
                    overrides
                        .devices_stuck_after_secs
                        .or(devices_file.stuck_after_secs),
                    device_defaults.stuck_after,
                )?,
            },
            public_url,
        };
        let smpp_file = file.smpp_server.unwrap_or_default();
        let smpp_defaults = flit_engine::SmppServerSettings::default();
        let smpp_server = SmppServerConfig {
            listen: overrides.smpp_listen.or(smpp_file.listen),
            tls: overrides.smpp_tls.or(smpp_file.tls).unwrap_or(false),
            settings: flit_engine::SmppServerSettings {
                bind_timeout: timeout(
                    "smpp_server.bind_timeout_secs",
                    smpp_file.bind_timeout_secs,
                    smpp_defaults.bind_timeout,
                )?,
                enquire_link: timeout(
                    "smpp_server.enquire_link_secs",
                    smpp_file.enquire_link_secs,
                    smpp_defaults.enquire_link,
                )?,
                response_timeout: timeout(
                    "smpp_server.response_timeout_secs",
                    smpp_file.response_timeout_secs,
                    smpp_defaults.response_timeout,
                )?,
                retry: timeout(
                    "smpp_server.retry_secs",
                    smpp_file.retry_secs,
                    smpp_defaults.retry,
                )?,
                held_for: timeout(
                    "smpp_server.held_hours",
                    smpp_file.held_hours.map(|hours| hours.saturating_mul(3600)),
                    smpp_defaults.held_for,
                )?,
                ..smpp_defaults
            },
        };
        if smpp_server.tls && tls.is_none() {
            return Err(ConfigError::SmppTlsWithoutCert);
        }
        let log = LogConfig {
            format: match overrides.log_format.or(file.log_format) {
                Some(name) => name.parse().map_err(|()| ConfigError::LogFormat(name))?,
                None => LogFormat::default(),
            },
            level: match overrides.log_level.or(file.log_level) {
                Some(name) => name
                    .parse::<LevelFilter>()
                    .map_err(|_| ConfigError::LogLevel(name))?,
                None => LevelFilter::INFO,
            },
            rust_log: std::env::var("RUST_LOG")
                .ok()
                .filter(|filter| !filter.trim().is_empty()),
            access_log: overrides.access_log.or(file.access_log).unwrap_or(false),
        };
        Ok(Config {
            data_dir,
            listen: overrides
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            admin_token: std::env::var("FLIT_ADMIN_TOKEN")
                .ok()
                .filter(|token| !token.is_empty())
                .or(file.admin_token),
            secret_key: match std::env::var_os(crate::secret_key::KEY_ENV) {
                Some(text) if !text.is_empty() => Some(
                    text.to_str()
                        .and_then(crate::secret_key::parse_key_text)
                        .ok_or(ConfigError::SecretKey)?,
                ),
                _ => None,
            },
            storage,
            default_country: match overrides.default_country.or(file.default_country) {
                Some(code) => code.parse().map_err(|_| ConfigError::Country(code))?,
                None => Country::GHANA,
            },
            max_body_bytes: overrides
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(crate::DEFAULT_MAX_BODY_BYTES),
            max_small_body_bytes: overrides
                .max_small_body_bytes
                .or(file.max_small_body_bytes)
                .unwrap_or(crate::DEFAULT_MAX_SMALL_BODY_BYTES)
                .max(1),
            max_buffered_body_bytes: overrides
                .max_buffered_body_bytes
                .or(file.max_buffered_body_bytes)
                .unwrap_or(64 * 1024 * 1024)
                .max(1),
            max_buffered_body_bytes_per_key: overrides
                .max_buffered_body_bytes_per_key
                .or(file.max_buffered_body_bytes_per_key)
                .unwrap_or(16 * 1024 * 1024)
                .max(1),
            max_connections: overrides
                .max_connections
                .or(file.max_connections)
                .unwrap_or(10_000)
                .max(1),
            header_read_timeout,
            body_read_timeout,
            max_backlog: overrides
                .max_backlog
                .or(file.max_backlog)
                .unwrap_or(flit_engine::DEFAULT_MAX_BACKLOG),
            bootstrap_sender_ids: overrides
                .bootstrap_sender_ids
                .or(file.bootstrap_sender_ids)
                .unwrap_or_else(|| {
                    ["FlashSMS", "MyBrand", "Flowstates"]
                        .map(str::to_string)
                        .to_vec()
                }),
            webhooks,
            tls,
            devices,
            smpp_server,
            log,
        })
    }
}

/// A timeout in whole seconds; zero would disable nothing and close everything, so it is refused.
fn timeout(
    key: &'static str,
    seconds: Option<u64>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match seconds {
        Some(0) => Err(ConfigError::ZeroTimeout(key)),
        Some(seconds) => Ok(Duration::from_secs(seconds)),
        None => Ok(default),
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // toml's own rendering spans several lines (a caret under the spot); this says the same
    // in the one line a failed start prints.
    toml::from_str(&text).map_err(|error| {
        let at = error
            .span()
            .map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |at| at + 1) + 1;
                format!(", line {line}, column {column}")
            })
            .unwrap_or_default();
        ConfigError::Parse {
            path: path.to_path_buf(),
            at,
            message: error.message().trim().to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_default_and_can_be_set_but_not_to_zero() {
        let defaults = Config::load(Overrides::default()).expect("defaults load");
        assert_eq!(defaults.header_read_timeout, DEFAULT_HEADER_READ_TIMEOUT);
        assert_eq!(defaults.body_read_timeout, DEFAULT_BODY_READ_TIMEOUT);
        let set = Config::load(Overrides {
            header_read_timeout_secs: Some(3),
            body_read_timeout_secs: Some(7),
            ..Overrides::default()
        })
        .expect("set");
        assert_eq!(set.header_read_timeout, Duration::from_secs(3));
        assert_eq!(set.body_read_timeout, Duration::from_secs(7));
        for overrides in [
            Overrides {
                header_read_timeout_secs: Some(0),
                ..Overrides::default()
            },
            Overrides {
                body_read_timeout_secs: Some(0),
                ..Overrides::default()
            },
        ] {
            assert!(matches!(
                Config::load(overrides),
                Err(ConfigError::ZeroTimeout(_))
            ));
        }
    }

    #[test]
    fn the_file_sets_the_timeouts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("flit.toml");
        std::fs::write(
            &path,
            "header_read_timeout_secs = 5\nbody_read_timeout_secs = 9\n",
        )
        .expect("write");
        let config = Config::load(Overrides {
            config: Some(path),
            ..Overrides::default()
        })
        .expect("load");
        assert_eq!(config.header_read_timeout, Duration::from_secs(5));
        assert_eq!(config.body_read_timeout, Duration::from_secs(9));
    }

    #[test]
    fn webhooks_stay_off_private_networks_unless_allowed() {
        let defaults = Config::load(Overrides::default()).expect("defaults load");
        assert!(!defaults.webhooks.allow_private_networks);
        assert_eq!(defaults.webhooks.max_attempts, 12);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("flit.toml");
        std::fs::write(
            &path,
            "[webhooks]\nallow_private_networks = true\nmax_attempts = 3\n",
        )
        .expect("write");
        let config = Config::load(Overrides {
            config: Some(path),
            ..Overrides::default()
        })
        .expect("load");
        assert!(config.webhooks.allow_private_networks);
        assert_eq!(config.webhooks.max_attempts, 3);
    }

    #[test]
    fn tls_takes_a_cert_and_a_key_from_the_file_or_flags_and_never_one_alone() {
        assert!(
            Config::load(Overrides::default())
                .expect("defaults")
                .tls
                .is_none(),
            "plain http unless asked"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("flit.toml");
        std::fs::write(
            &path,
            "[tls]\ncert = \"file.pem\"\nkey = \"file-key.pem\"\n",
        )
        .expect("write");
        let from_file = Config::load(Overrides {
            config: Some(path.clone()),
            ..Overrides::default()
        })
        .expect("load")
        .tls
        .expect("tls");
        assert_eq!(from_file.cert, PathBuf::from("file.pem"));
        assert_eq!(from_file.key, PathBuf::from("file-key.pem"));
        let flag_wins = Config::load(Overrides {
            config: Some(path),
            tls_cert: Some("flag.pem".into()),
            ..Overrides::default()
        })
        .expect("load")
        .tls
        .expect("tls");
        assert_eq!(flag_wins.cert, PathBuf::from("flag.pem"));
        assert_eq!(flag_wins.key, PathBuf::from("file-key.pem"));

        for (overrides, set) in [
            (
                Overrides {
                    tls_cert: Some("cert.pem".into()),
                    ..Overrides::default()
                },
                "cert",
            ),
            (
                Overrides {
                    tls_key: Some("key.pem".into()),
                    ..Overrides::default()
                },
                "key",
            ),
        ] {
            let error = Config::load(overrides).expect_err("half of tls");
            assert!(matches!(error, ConfigError::TlsHalf(half) if half == set));
            assert!(
                error.to_string().contains("--tls-cert and --tls-key"),
                "{error}"
            );
        }
    }

    #[test]
    fn a_bad_file_is_named_with_the_line_and_column_on_one_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("flit.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:8080\"\nstorage = \n").expect("write");
        let error = Config::load(Overrides {
            config: Some(path.clone()),
            ..Overrides::default()
        })
        .expect_err("not TOML")
        .to_string();
        assert!(
            error.starts_with(&format!("config file {}", path.display())),
            "{error}"
        );
        assert!(error.contains("line 2, column 11"), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }

    #[test]
    fn log_settings_layer_like_the_rest_and_are_checked() {
        let defaults = Config::load(Overrides::default()).expect("defaults").log;
        assert_eq!(defaults.format, LogFormat::Text);
        assert_eq!(defaults.level, LevelFilter::INFO);
        assert!(!defaults.access_log);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("flit.toml");
        std::fs::write(
            &path,
            "log_format = \"json\"\nlog_level = \"debug\"\naccess_log = true\n",
        )
        .expect("write");
        let from_file = Config::load(Overrides {
            config: Some(path.clone()),
            ..Overrides::default()
        })
        .expect("load")
        .log;
        assert_eq!(from_file.format, LogFormat::Json);
        assert_eq!(from_file.level, LevelFilter::DEBUG);
        assert!(from_file.access_log);
        let flags_win = Config::load(Overrides {
            config: Some(path),
            log_format: Some("text".to_string()),
            log_level: Some("warn".to_string()),
            access_log: Some(false),
            ..Overrides::default()
        })
        .expect("load")
        .log;
        assert_eq!(flags_win.format, LogFormat::Text);
        assert_eq!(flags_win.level, LevelFilter::WARN);
        assert!(!flags_win.access_log);
        for (overrides, wrong) in [
            (
                Overrides {
                    log_format: Some("yaml".to_string()),
                    ..Overrides::default()
                },
                "yaml",
            ),
            (
                Overrides {
                    log_level: Some("loud".to_string()),
                    ..Overrides::default()
                },
                "loud",
            ),
        ] {
            let error = Config::load(overrides).expect_err("refused");
            assert!(error.to_string().contains(wrong), "{error}");
        }
    }

    #[test]
    fn every_backend_can_be_named_in_the_file_or_a_flag() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("flit.toml");
        for kind in BackendKind::ALL {
            std::fs::write(&path, format!("storage = \"{kind}\"\n")).expect("write");
            let from_file = Config::load(Overrides {
                config: Some(path.clone()),
                data_dir: Some(dir.path().to_path_buf()),
                ..Overrides::default()
            })
            .expect("load");
            assert_eq!(from_file.storage, kind);
            let from_flag = Config::load(Overrides {
                storage: Some(kind.to_string().to_uppercase()),
                data_dir: Some(dir.path().to_path_buf()),
                ..Overrides::default()
            })
            .expect("load");
            assert_eq!(from_flag.storage, kind);
        }
        let error = Config::load(Overrides {
            storage: Some("rocksdb".to_string()),
            ..Overrides::default()
        })
        .expect_err("not a backend")
        .to_string();
        for kind in BackendKind::ALL {
            assert!(error.contains(kind.as_str()), "{error}");
        }
    }

    #[test]
    fn an_unnamed_backend_is_the_one_the_data_dir_holds() {
        let dir = tempfile::tempdir().expect("temp dir");
        let load = |storage: Option<&str>| {
            Config::load(Overrides {
                data_dir: Some(dir.path().to_path_buf()),
                storage: storage.map(str::to_string),
                ..Overrides::default()
            })
            .expect("config")
            .storage
        };
        assert_eq!(load(None), BackendKind::default(), "an empty data dir");
        let store = dir.path().join(STORE_DIR);
        flit_storage::Store::open(
            BackendKind::Sled,
            &store,
            flit_storage::StoreOptions::default(),
        )
        .expect("a sled store");
        assert_eq!(load(None), BackendKind::Sled, "sled data keeps sled");
        assert_eq!(
            load(Some("redb")),
            BackendKind::Redb,
            "a named backend wins"
        );
        assert_eq!(load(Some("fjall")), BackendKind::Fjall);

        let fjall_dir = tempfile::tempdir().expect("temp dir");
        flit_storage::Store::open(
            BackendKind::Fjall,
            &fjall_dir.path().join(STORE_DIR),
            flit_storage::StoreOptions::default(),
        )
        .expect("a fjall store");
        let unnamed = Config::load(Overrides {
            data_dir: Some(fjall_dir.path().to_path_buf()),
            ..Overrides::default()
        })
        .expect("config");
        assert_eq!(
            unnamed.storage,
            BackendKind::Fjall,
            "fjall data keeps fjall"
        );
    }
}
