//! The server side of https: the `[tls]` certificate and key read into a rustls acceptor that
//! speaks HTTP/1.1 only. The files are read once, before the store is opened, so a missing
//! file, a bad PEM or a key that is not the certificate's stops `flit serve` at once with the
//! path and the reason, instead of failing every handshake later.
//!
//! The handshake itself is the server loop's (`server.rs`), which bounds it in time.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::{self, PemObject as _};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

use crate::config::TlsConfig;

/// Why the `[tls]` files cannot serve https.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls.cert {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("tls.key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("tls.cert {cert} and tls.key {key}: {source}")]
    Rejected {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

/// The ALPN protocol the server offers: hyper serves HTTP/1.1 only here, so a client that
/// would otherwise pick h2 is told so during the handshake.
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// Reads the certificate chain and key of `config` into an acceptor for the server loop.
pub fn acceptor(config: &TlsConfig) -> Result<TlsAcceptor, TlsError> {
    let mut server = server_config(config)?;
    server.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// The same certificate and key for the SMPP server, which offers no ALPN protocol: SMPP
/// clients name none.
pub fn smpp_acceptor(config: &TlsConfig) -> Result<TlsAcceptor, TlsError> {
    Ok(TlsAcceptor::from(Arc::new(server_config(config)?)))
}

fn server_config(config: &TlsConfig) -> Result<ServerConfig, TlsError> {
    let chain = certificates(&config.cert)?;
    let key = private_key(&config.key)?;
    // ring rather than aws-lc, as for the webhook client: it builds without cmake.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let rejected = |source| TlsError::Rejected {
        cert: config.cert.clone(),
        key: config.key.clone(),
        source,
    };
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(rejected)?
        .with_no_client_auth()
        // Checks too that the key is the certificate's.
        .with_single_cert(chain, key)
        .map_err(|source| match source {
            rustls::Error::InconsistentKeys(_) => TlsError::Key {
                path: config.key.clone(),
                reason: format!(
                    "this is not the private key of the certificate in {}",
                    config.cert.display()
                ),
            },
            source => rejected(source),
        })
}

/// Every certificate of a PEM file, the server's own first.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let error = |error| TlsError::Certificate {
        path: path.to_path_buf(),
        reason: pem_reason(error, "no certificate (BEGIN CERTIFICATE) in it"),
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(error)?;
    if chain.is_empty() {
        return Err(error(pem::Error::NoItemsFound));
    }
    Ok(chain)
}

/// The first private key of a PEM file.
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|error| TlsError::Key {
        path: path.to_path_buf(),
        reason: pem_reason(error, "no private key (BEGIN PRIVATE KEY) in it"),
    })
}

/// A PEM error as an operator reads it.
fn pem_reason(error: pem::Error, none_found: &str) -> String {
    match error {
        pem::Error::Io(error) => format!("cannot read it: {error}"),
        pem::Error::NoItemsFound => none_found.to_string(),
        error => format!("not a valid PEM file: {error}"),
    }
}
