//! How the engine's webhook dispatcher reaches endpoints: the JSON body of an event, and one
//! HTTP/1.1 POST to the address the engine resolved and checked (plain TCP, or TLS with the
//! URL's host as the server name). Connections are kept alive and reused for the same address
//! and host: a busy endpoint gets a stream of POSTs over a few connections instead of a TCP
//! (and TLS) handshake per event. Nothing here decides whether or when to send: that is the
//! engine's (`flit_engine::WebhookTransport`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use flit_engine::{EventData, Target, WebhookEvent, WebhookRequest, WebhookTransport};
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::timefmt::iso;

/// Idle connections kept per endpoint (address, scheme and host): as many as a webhook's
/// concurrent attempts need, bounded so that a burst leaves no crowd of sockets behind.
const MAX_IDLE_PER_ENDPOINT: usize = 32;
/// An idle connection older than this is closed rather than reused: servers close theirs after
/// a while (often 5 to 60 s), and a POST on a connection the server is closing is lost.
const IDLE_FOR: Duration = Duration::from_secs(4);
/// An answer's body is read (and thrown away) up to this size so that its connection can carry
/// the next POST; a larger one closes the connection instead.
const MAX_DRAINED_BODY: usize = 64 * 1024;

pub struct HttpTransport {
    tls: TlsConnector,
    idle: IdlePool,
}

/// Where a kept connection goes: the checked address, and the host its requests (and TLS
/// session) name.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Endpoint {
    address: SocketAddr,
    https: bool,
    host: String,
}

struct Idle {
    sender: SendRequest<Full<Bytes>>,
    since: Instant,
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
            idle: Arc::default(),
        })
    }
}

/// A connection ready for a request: a kept one, or one opened now.
struct Lease {
    sender: SendRequest<Full<Bytes>>,
    reused: bool,
}

type IdlePool = Arc<Mutex<Kept>>;

/// The idle connections by endpoint, and when the stale ones of every endpoint were last let go.
#[derive(Default)]
struct Kept {
    endpoints: HashMap<Endpoint, Vec<Idle>>,
    swept: Option<Instant>,
}

fn take_idle(pool: &IdlePool, endpoint: &Endpoint) -> Option<SendRequest<Full<Bytes>>> {
    let mut pool = pool.lock().unwrap_or_else(PoisonError::into_inner);
    let kept = pool.endpoints.get_mut(endpoint)?;
    // Newest first: the oldest are the likeliest to have been closed by the server.
    let found = std::iter::from_fn(|| kept.pop())
        .find(|idle| idle.since.elapsed() < IDLE_FOR && !idle.sender.is_closed())
        .map(|idle| idle.sender);
    if kept.is_empty() {
        pool.endpoints.remove(endpoint);
    }
    found
}

fn keep_idle(pool: &IdlePool, endpoint: Endpoint, sender: SendRequest<Full<Bytes>>) {
    let mut pool = pool.lock().unwrap_or_else(PoisonError::into_inner);
    let fresh = |idle: &Idle| idle.since.elapsed() < IDLE_FOR && !idle.sender.is_closed();
    // Endpoints no event goes to any more would keep their connections: once per idle period,
    // not per attempt, every endpoint's stale ones go.
    if pool.swept.is_none_or(|swept| swept.elapsed() >= IDLE_FOR) {
        pool.endpoints.retain(|_, kept| {
            kept.retain(fresh);
            !kept.is_empty()
        });
        pool.swept = Some(Instant::now());
    }
    let kept = pool.endpoints.entry(endpoint).or_default();
    kept.retain(fresh);
    if kept.len() < MAX_IDLE_PER_ENDPOINT {
        kept.push(Idle {
            sender,
            since: Instant::now(),
        });
    }
}

async fn connect(
    tls: &TlsConnector,
    endpoint: &Endpoint,
) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(endpoint.address)
        .await
        .map_err(|error| format!("cannot connect to {}: {error}", endpoint.address))?;
    let _ = stream.set_nodelay(true);
    if endpoint.https {
        let name = ServerName::try_from(endpoint.host.clone())
            .map_err(|error| format!("bad TLS server name: {error}"))?;
        let stream = tls
            .connect(name, stream)
            .await
            .map_err(|error| format!("TLS handshake failed: {error}"))?;
        handshake(stream).await
    } else {
        handshake(stream).await
    }
}

async fn handshake<IO>(io: IO) -> Result<SendRequest<Full<Bytes>>, String>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|error| format!("HTTP handshake failed: {error}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Reads the answer's body to its end (bounded), so that its connection may carry another
/// request; `false` when the connection must not be reused.
async fn drain(response: hyper::Response<Incoming>) -> bool {
    let mut body = response.into_body();
    let mut read = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return false };
        if let Some(data) = frame.data_ref() {
            read += data.len();
            if read > MAX_DRAINED_BODY {
                return false;
            }
        }
    }
    true
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
        let pool = Arc::clone(&self.idle);
        Box::pin(async move {
            let WebhookRequest {
                target,
                address,
                headers,
                body,
            } = request;
            let mut http = build(&target, &headers, body)?;
            let endpoint = Endpoint {
                address,
                https: target.https,
                host: target.host,
            };
            loop {
                let lease = match take_idle(&pool, &endpoint) {
                    Some(sender) => Lease {
                        sender,
                        reused: true,
                    },
                    None => Lease {
                        sender: connect(&tls, &endpoint).await?,
                        reused: false,
                    },
                };
                let mut sender = lease.sender;
                // A kept connection turns ready once it has finished the previous exchange,
                // which may be a moment after its answer was read; one the server has closed
                // meanwhile fails here, before anything is written to it.
                if lease.reused && sender.ready().await.is_err() {
                    continue;
                }
                match sender.try_send_request(http).await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        if drain(response).await {
                            keep_idle(&pool, endpoint, sender);
                        }
                        return Ok(status);
                    }
                    Err(mut failed) => match failed.take_message() {
                        // Never written: a kept connection the server had closed. The request
                        // goes out on another one.
                        Some(unsent) if lease.reused => http = unsent,
                        _ => return Err(format!("no answer: {}", failed.error())),
                    },
                }
            }
        })
    }
}

/// The POST to `target`, with its Host header as the URL names it.
fn build(
    target: &Target,
    headers: &[(&'static str, String)],
    body: Vec<u8>,
) -> Result<Request<Full<Bytes>>, String> {
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
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|error| format!("cannot build the request: {error}"))
}
