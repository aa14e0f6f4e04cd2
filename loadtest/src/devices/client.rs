//! The phones' HTTP client: one pooled hyper client over rustls (ring) shared by every phone,
//! and one method per call the app makes, each answering the way the app's ktor client does:
//! any non-2xx is an error (401 kept apart, the one status a phone acts on), and a JSON answer
//! must say `application/json` or ktor cannot read it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode};
use hyper_rustls::ConfigBuilderExt as _;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::wire::{
    DevicePatchRequest, MessagePatch, PullOrder, PulledMessage, RegisterRequest, RegisterResponse,
    SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookEntry,
};

/// The app's user agent (`GatewayApi.kt`), marked as simulated.
const APP_USER_AGENT: &str = "me.capcom.smsgateway/1.68.0-sim";
/// OkHttp's default connect timeout, which the app's API client keeps.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The webhook client's whole-request timeout, used for every short call: a load test must
/// not hang on a server that never answers.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How a call failed, as the phone needs to tell it apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// 401: the device token (or the registration credential) is not accepted.
    Unauthorized,
    /// Any other non-2xx status.
    Status(u16),
    /// No answer: connect, TLS, timeout or a broken body.
    Transport(String),
    /// A 2xx the app could not read: wrong content type or JSON that does not fit.
    Protocol(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unauthorized => f.write_str("401 Unauthorized"),
            Self::Status(status) => write!(f, "HTTP {status}"),
            Self::Transport(why) => write!(f, "transport: {why}"),
            Self::Protocol(why) => write!(f, "protocol: {why}"),
        }
    }
}

/// How `POST /device` authenticates (PROTOCOL.md §2).
#[derive(Debug, Clone, Copy)]
pub enum RegisterAuth<'a> {
    /// `Authorization: Bearer <registration token>`.
    Token(&'a str),
    /// `Authorization: Code <one-time code>`.
    Code(&'a str),
    /// No `Authorization` at all: what the app sends with no private token set.
    None,
}

/// A pooled hyper client over rustls (ring) that also speaks plain http.
pub(crate) type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The one client construction every phone (and `devices-bench`'s own API calls) uses: it
/// trusts `ca_pem` when given, and the system's roots otherwise.
pub(crate) fn https_client(ca_pem: Option<&[u8]>) -> anyhow::Result<HttpsClient> {
    // ring, as everywhere in Flit: aws-lc needs cmake, and a simulated phone needs no
    // post-quantum key exchange (the one thing rustls deprecates ring's provider for).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("rustls rejects its own default protocol versions")?;
    let tls = match ca_pem {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.context("reading a certificate of the CA file")?;
                roots
                    .add(cert)
                    .context("adding a certificate of the CA file")?;
            }
            anyhow::ensure!(!roots.is_empty(), "the CA file holds no certificate");
            builder.with_root_certificates(roots)
        }
        None => builder
            .with_native_roots()
            .context("loading the system's root certificates")?,
    }
    .with_no_client_auth();
    let mut connector = HttpConnector::new();
    connector.enforce_http(false);
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    connector.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector);
    Ok(Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(https))
}

/// The `/mobile/v1` API of one server, cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct MobileApi {
    http: HttpsClient,
    /// `https://host/mobile/v1`, no trailing slash.
    base: Arc<str>,
}

impl MobileApi {
    /// A client for `base` (the app's "server URL", ending in `/mobile/v1`) that trusts
    /// `ca_pem` when given, and the system's roots otherwise.
    pub fn new(base: &str, ca_pem: Option<&[u8]>) -> anyhow::Result<Self> {
        let http = https_client(ca_pem)?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').into(),
        })
    }

    /// `POST /device`.
    pub async fn register(
        &self,
        auth: RegisterAuth<'_>,
        body: &RegisterRequest,
    ) -> Result<RegisterResponse, CallError> {
        let authorization = match auth {
            RegisterAuth::Token(token) => Some(format!("Bearer {token}")),
            RegisterAuth::Code(code) => Some(format!("Code {code}")),
            RegisterAuth::None => None,
        };
        let response = self
            .send(Method::POST, "/device", authorization, Some(json(body)?))
            .await?;
        read_json(response).await
    }

    /// `PATCH /device`.
    pub async fn patch_device(
        &self,
        token: &str,
        body: &DevicePatchRequest,
    ) -> Result<(), CallError> {
        self.send(Method::PATCH, "/device", bearer(token), Some(json(body)?))
            .await
            .map(drop)
    }

    /// `GET /message?order=…`: the bare array, read whole as Gson reads it (one bad item fails
    /// the lot).
    pub async fn pull(
        &self,
        token: &str,
        order: PullOrder,
    ) -> Result<Vec<PulledMessage>, CallError> {
        let path = format!("/message?order={}", order.as_query());
        let response = self.send(Method::GET, &path, bearer(token), None).await?;
        read_json(response).await
    }

    /// `PATCH /message` with one item, as the app always sends it.
    pub async fn patch_message(&self, token: &str, patch: &MessagePatch) -> Result<(), CallError> {
        self.send(
            Method::PATCH,
            "/message",
            bearer(token),
            Some(json(&[patch])?),
        )
        .await
        .map(drop)
    }

    /// `GET /webhooks`.
    pub async fn webhooks(&self, token: &str) -> Result<Vec<WebhookEntry>, CallError> {
        let response = self
            .send(Method::GET, "/webhooks", bearer(token), None)
            .await?;
        read_json(response).await
    }

    /// `GET /settings`, kept as JSON: the phone imports it key by key.
    pub async fn settings(&self, token: &str) -> Result<serde_json::Value, CallError> {
        let response = self
            .send(Method::GET, "/settings", bearer(token), None)
            .await?;
        read_json(response).await
    }

    /// `GET /events`: the open stream, once its headers say 2xx and `text/event-stream`
    /// (OkHttp fails the stream otherwise). No timeout: it is meant to stay open.
    pub async fn open_events(&self, token: &str) -> Result<Response<Incoming>, CallError> {
        let mut request = self.request(Method::GET, "/events", bearer(token), None)?;
        // OkHttp's EventSources adds it; a server may route on it.
        request
            .headers_mut()
            .insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| CallError::Transport(error_chain(&e)))?;
        check_status(response.status())?;
        let is_event_stream = content_type(&response)
            .is_some_and(|mime| mime.eq_ignore_ascii_case("text/event-stream"));
        if !is_event_stream {
            return Err(CallError::Protocol(format!(
                "/events answered Content-Type {:?}, not text/event-stream",
                content_type(&response)
            )));
        }
        Ok(response)
    }

    /// Posts one signed webhook to `url`, as the app's webhook worker does.
    pub async fn post_webhook(
        &self,
        url: &str,
        body: &str,
        timestamp: &str,
        signature: &str,
    ) -> Result<(), CallError> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header(CONTENT_TYPE, "application/json; charset=UTF-8")
            .header(USER_AGENT, APP_USER_AGENT)
            .header(TIMESTAMP_HEADER, timestamp)
            .header(SIGNATURE_HEADER, signature)
            .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
            .map_err(|e| CallError::Protocol(format!("webhook URL {url:?}: {e}")))?;
        let response = self.execute(request).await?;
        drain(response).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        authorization: Option<String>,
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>, CallError> {
        let request = self.request(method, path, authorization, body)?;
        self.execute(request).await
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        authorization: Option<String>,
        body: Option<Vec<u8>>,
    ) -> Result<Request<Full<Bytes>>, CallError> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(USER_AGENT, APP_USER_AGENT);
        if let Some(authorization) = authorization {
            builder = builder.header(AUTHORIZATION, authorization);
        }
        let body = match body {
            Some(bytes) => {
                builder = builder.header(CONTENT_TYPE, "application/json; charset=UTF-8");
                Full::new(Bytes::from(bytes))
            }
            None => Full::new(Bytes::new()),
        };
        builder
            .body(body)
            .map_err(|e| CallError::Protocol(format!("building {path}: {e}")))
    }

    /// Sends and waits for the headers, within [`REQUEST_TIMEOUT`]; a non-2xx is an error.
    async fn execute(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, CallError> {
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.http.request(request))
            .await
            .map_err(|_| CallError::Transport("no answer in time".to_owned()))?
            .map_err(|e| CallError::Transport(error_chain(&e)))?;
        if let Err(error) = check_status(response.status()) {
            // Read the body anyway so that the connection goes back to the pool.
            let _ = drain(response).await;
            return Err(error);
        }
        Ok(response)
    }
}

/// An error and its causes on one line: hyper's own message ("client error (Connect)") hides
/// whether it was a refused connection, DNS or a certificate.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn bearer(token: &str) -> Option<String> {
    Some(format!("Bearer {token}"))
}

fn json(body: &impl Serialize) -> Result<Vec<u8>, CallError> {
    serde_json::to_vec(body).map_err(|e| CallError::Protocol(format!("encoding a body: {e}")))
}

fn check_status(status: StatusCode) -> Result<(), CallError> {
    match status {
        status if status.is_success() => Ok(()),
        StatusCode::UNAUTHORIZED => Err(CallError::Unauthorized),
        status => Err(CallError::Status(status.as_u16())),
    }
}

fn content_type(response: &Response<Incoming>) -> Option<&str> {
    let value = response.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or(value).trim())
}

async fn body_bytes(response: Response<Incoming>) -> Result<Bytes, CallError> {
    tokio::time::timeout(REQUEST_TIMEOUT, response.into_body().collect())
        .await
        .map_err(|_| CallError::Transport("body not read in time".to_owned()))?
        .map(|collected| collected.to_bytes())
        .map_err(|e| CallError::Transport(format!("reading the body: {e}")))
}

async fn drain(response: Response<Incoming>) -> Result<(), CallError> {
    body_bytes(response).await.map(drop)
}

async fn read_json<T: DeserializeOwned>(response: Response<Incoming>) -> Result<T, CallError> {
    let is_json =
        content_type(&response).is_some_and(|mime| mime.eq_ignore_ascii_case("application/json"));
    let declared = content_type(&response).map(str::to_owned);
    let bytes = body_bytes(response).await?;
    if !is_json {
        return Err(CallError::Protocol(format!(
            "a JSON answer with Content-Type {declared:?}, which the app's client cannot read"
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        CallError::Protocol(format!(
            "{e}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        ))
    })
}
