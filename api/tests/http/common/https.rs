//! `HttpsClient`: HTTP/1.1 over TLS to a `TestServer` that serves https, trusting exactly the
//! roots a test gives it. hyper over tokio-rustls with ring, as the server: reqwest's rustls
//! feature brings aws-lc, and its provider-less one needs a process-wide provider that the
//! `flit` binary's own client (built with the same features under test) does not install.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use super::{Call, Reply};

#[derive(Clone)]
pub struct HttpsClient {
    connector: TlsConnector,
}

impl HttpsClient {
    /// A client that trusts only the CA certificate(s) in the PEM file `ca`.
    pub fn trusting(ca: &Path) -> HttpsClient {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).expect("CA file") {
            roots.add(cert.expect("CA PEM")).expect("a CA certificate");
        }
        HttpsClient::with_roots(roots)
    }

    pub fn with_roots(roots: RootCertStore) -> HttpsClient {
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        HttpsClient {
            connector: TlsConnector::from(Arc::new(config)),
        }
    }

    /// A TLS connection to `addr`, checked against the certificate as `name`.
    pub async fn connect_as(
        &self,
        addr: SocketAddr,
        name: ServerName<'static>,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(addr).await?;
        self.connector.connect(name, tcp).await
    }

    /// A TLS connection to `addr`, checked against the certificate as its IP address.
    pub async fn connect(&self, addr: SocketAddr) -> std::io::Result<TlsStream<TcpStream>> {
        self.connect_as(addr, ServerName::IpAddress(addr.ip().into()))
            .await
    }

    /// Sends `call` on a new connection and reads the whole answer; `Err` says why there is
    /// none (the handshake failed, say).
    pub async fn send(&self, addr: SocketAddr, call: Call) -> anyhow::Result<Reply> {
        let stream = self.connect(addr).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let mut request = hyper::Request::builder()
            .method(call.method)
            .uri(call.path)
            .header("host", addr.to_string());
        for (name, value) in &call.headers {
            request = request.header(name, value);
        }
        let request = request.body(Full::new(Bytes::from(call.body.unwrap_or_default())))?;
        let response = sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await?.to_bytes();
        Ok(Reply::new(parts.status, parts.headers, &bytes))
    }
}
