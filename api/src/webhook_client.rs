//! How the engine's webhook dispatcher reaches endpoints: the JSON body of an event, and one
//! HTTP/1.1 POST over a fresh connection to the address the engine resolved and checked
//! (plain TCP, or TLS with the URL's host as the server name). Nothing here decides whether
//! or when to send: that is the engine's (`flit_engine::WebhookTransport`).

use std::sync::Arc;

use bytes::Bytes;
use flit_engine::{EventData, WebhookEvent, WebhookRequest, WebhookTransport};
use futures::future::BoxFuture;
use http_body_util::Full;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::timefmt::iso;

pub struct HttpTransport {
    tls: TlsConnector,
}

impl HttpTransport {
    /// Trusts the web's public roots, plus `extra_roots` (an operator's own CA).
    pub fn new(extra_roots: Vec<CertificateDer<'static>>) -> anyhow::Result<HttpTransport> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for root in extra_roots {
            roots.add(root)?;
        }
        // ring rather than aws-lc: it builds without cmake, and webhooks need no post-quantum
        // key exchange yet.
        #[allow(deprecated)]
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(HttpTransport {
            tls: TlsConnector::from(Arc::new(config)),
        })
    }
}

/// The JSON body every attempt of an event carries.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventBody<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    created_at: String,
    data: DataBody<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum DataBody<'a> {
    #[serde(rename_all = "camelCase")]
    Message {
        message_id: String,
        /// `None` for an event about the whole message (`message.cancelled`).
        recipient: Option<String>,
        status: &'static str,
        error_code: Option<&'a str>,
        parts: u16,
        recipients: u32,
    },
    #[serde(rename_all = "camelCase")]
    Received {
        inbound_id: String,
        from: &'a str,
        to: &'a str,
        text: &'a str,
        parts: u8,
        received_at: String,
    },
}

impl WebhookTransport for HttpTransport {
    fn body(&self, event: &WebhookEvent) -> Vec<u8> {
        let data = match &event.data {
            EventData::Message {
                message,
                recipient,
                status,
                error,
                parts,
                recipients,
            } => DataBody::Message {
                message_id: message.to_string(),
                recipient: recipient.map(|number| number.to_string()),
                status: status.as_str(),
                error_code: error.as_deref(),
                parts: *parts,
                recipients: *recipients,
            },
            EventData::Received(inbound) => DataBody::Received {
                inbound_id: inbound.id.to_string(),
                from: &inbound.from,
                to: &inbound.to,
                text: &inbound.text,
                parts: inbound.parts,
                received_at: iso(inbound.received_at),
            },
        };
        let body = EventBody {
            id: event.id.to_string(),
            kind: event.kind.as_str(),
            created_at: iso(event.created_at),
            data,
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }

    fn post(&self, request: WebhookRequest) -> BoxFuture<'static, Result<u16, String>> {
        let tls = self.tls.clone();
        Box::pin(async move {
            let stream = TcpStream::connect(request.address)
                .await
                .map_err(|error| format!("cannot connect to {}: {error}", request.address))?;
            let _ = stream.set_nodelay(true);
            if request.target.https {
                let name = ServerName::try_from(request.target.host.clone())
                    .map_err(|error| format!("bad TLS server name: {error}"))?;
                let stream = tls
                    .connect(name, stream)
                    .await
                    .map_err(|error| format!("TLS handshake failed: {error}"))?;
                exchange(stream, request).await
            } else {
                exchange(stream, request).await
            }
        })
    }
}

/// Sends the request on `io` and reads the status line (the answer's body is not needed).
async fn exchange<IO>(io: IO, request: WebhookRequest) -> Result<u16, String>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|error| format!("HTTP handshake failed: {error}"))?;
    tokio::spawn(connection);
    let target = &request.target;
    let default_port = if target.https { 443 } else { 80 };
    let host = if target.host.contains(':') {
        format!("[{}]", target.host)
    } else {
        target.host.clone()
    };
    let host = if target.port == default_port {
        host
    } else {
        format!("{host}:{}", target.port)
    };
    let mut builder = Request::post(target.path.as_str()).header(hyper::header::HOST, host);
    for (name, value) in &request.headers {
        builder = builder.header(*name, value.as_str());
    }
    let http = builder
        .body(Full::new(Bytes::from(request.body)))
        .map_err(|error| format!("cannot build the request: {error}"))?;
    let response = sender
        .send_request(http)
        .await
        .map_err(|error| format!("no answer: {error}"))?;
    Ok(response.status().as_u16())
}
