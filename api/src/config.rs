//! Configuration: built-in defaults, then the TOML file (`--config`), then `FLIT_*`
//! environment variables, then command-line flags — each later source wins.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use flit_storage::BackendKind;
use serde::Deserialize;

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
    pub bootstrap_sender_ids: Option<Vec<String>>,
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
    /// Storage backend: sled or redb [default: sled].
    #[arg(long, env = "FLIT_STORAGE")]
    pub storage: Option<String>,
    /// Country for local numbers of new tenants [default: GH].
    #[arg(long, env = "FLIT_DEFAULT_COUNTRY")]
    pub default_country: Option<String>,
    /// Largest request body in bytes [default: 4 MiB].
    #[arg(long, env = "FLIT_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Sender IDs approved for the bootstrap tenant, comma-separated [default: FlashSMS,MyBrand].
    #[arg(long, env = "FLIT_BOOTSTRAP_SENDER_IDS", value_delimiter = ',')]
    pub bootstrap_sender_ids: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// From `FLIT_ADMIN_TOKEN` or the file; `None` = keep or generate one.
    pub admin_token: Option<String>,
    pub storage: BackendKind,
    pub default_country: String,
    pub max_body_bytes: usize,
    pub bootstrap_sender_ids: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("unknown storage backend `{0}` (use sled or redb)")]
    Storage(String),
}

impl Config {
    pub fn load(overrides: Overrides) -> Result<Config, ConfigError> {
        let file = match &overrides.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let storage = overrides.storage.or(file.storage);
        let storage = match storage {
            Some(name) => name.parse().map_err(|_| ConfigError::Storage(name))?,
            None => BackendKind::default(),
        };
        Ok(Config {
            data_dir: overrides
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./flit-data")),
            listen: overrides
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            admin_token: std::env::var("FLIT_ADMIN_TOKEN")
                .ok()
                .filter(|token| !token.is_empty())
                .or(file.admin_token),
            storage,
            default_country: overrides
                .default_country
                .or(file.default_country)
                .unwrap_or_else(|| "GH".to_string()),
            max_body_bytes: overrides
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(crate::DEFAULT_MAX_BODY_BYTES),
            bootstrap_sender_ids: overrides
                .bootstrap_sender_ids
                .or(file.bootstrap_sender_ids)
                .unwrap_or_else(|| vec!["FlashSMS".to_string(), "MyBrand".to_string()]),
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_path_buf(),
        source,
    })
}
