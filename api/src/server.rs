//! Starting and stopping Flit: open the store, start the engine, bootstrap, serve HTTP until
//! told to stop, then shut down in order (stop accepting, drain requests, stop actors).
//!
//! HTTP/1.1 is served by hyper's connection builder rather than `axum::serve`, which takes no
//! configuration: every connection gets a header-read deadline, so a client that opens a
//! connection and sends its request head slowly or not at all (slow loris), or leaves a
//! keep-alive connection idle, is disconnected instead of holding a socket forever. A body
//! gets its own deadline, and one announced larger than the limit is refused before a byte of
//! it is read. With `[tls]` set, every connection is TLS (`tls.rs`): the handshake must finish
//! within the same header-read timeout, so a client that connects and says nothing cannot
//! hold a connection before hyper's own deadline even starts.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::Listener;
use flit_engine::{Engine, EngineConfig, EngineError, WebhookSettings};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_rustls::{Accept, TlsAcceptor};

use crate::config::Config;
use crate::error::ApiError;
use crate::ratelimit::RateLimiter;
use crate::state::AppState;
use crate::{app_with_limits, bootstrap};

/// A running server; dropping it does not stop it, `shutdown()` does.
pub struct Server {
    pub addr: SocketAddr,
    /// Where the SMPP server listens, when `[smpp_server] listen` is set.
    pub smpp_addr: Option<SocketAddr>,
    /// The first operator's one-time setup link, made at this start while no operator exists.
    pub setup_url: Option<String>,
    pub engine: Engine,
    smpp: Option<crate::smpp_listener::SmppListener>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Server {
    /// Opens everything and starts listening; returns once the port is bound.
    pub async fn start(
        config: Config,
        metrics: Option<PrometheusHandle>,
    ) -> anyhow::Result<Server> {
        // Before the store is opened: a bad certificate should stop the start, not a handshake.
        let tls = config.tls.as_ref().map(crate::tls::acceptor).transpose()?;
        let smpp_tls = match (&config.tls, config.smpp_server.tls) {
            (Some(tls), true) => Some(crate::tls::smpp_acceptor(tls)?),
            _ => None,
        };
        let engine = open_engine(&config).await?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let admin_token_hash = bootstrap::admin_token(&engine, &config).await?;
        bootstrap::default_tenant(&engine, &config, addr).await?;

        if let Some(handle) = &metrics {
            crate::telemetry::spawn_upkeep(handle.clone());
        }
        let state = Arc::new(AppState {
            engine: engine.clone(),
            limiter: RateLimiter::default(),
            admin_token_hash,
            metrics,
            public_url: config.devices.public_url.clone(),
            tls: config.tls.is_some(),
            sign_ins: Default::default(),
        });
        let router = router(state, &config);
        let (stop, stopped) = oneshot::channel::<()>();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let task = tokio::spawn(serve(
            listener,
            router,
            tls,
            config.header_read_timeout,
            config.max_connections,
            stopped,
        ));
        tracing::info!(%addr, scheme, storage = %config.storage, "Flit is listening");
        let setup_url = bootstrap::operator_setup(&engine, &config, addr).await?;
        if engine.is_sandbox() {
            tracing::warn!("{}", crate::SANDBOX_WARNING);
        }
        let smpp = match config.smpp_server.listen {
            Some(listen) => Some(
                crate::smpp_listener::SmppListener::start(engine.clone(), listen, smpp_tls).await?,
            ),
            None => None,
        };
        Ok(Server {
            addr,
            setup_url,
            smpp_addr: smpp.as_ref().map(|smpp| smpp.addr),
            smpp,
            engine,
            stop,
            task,
        })
    }

    /// Stops accepting, lets in-flight requests finish, stops the actors.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        if let Some(smpp) = self.smpp {
            let grace = self.engine.config().smpp_server.response_timeout * 2;
            smpp.shutdown(&self.engine, grace).await;
        }
        let served = self.task.await.context("server task panicked")?;
        self.engine.shutdown().await;
        served
    }
}

/// Makes the data dir private (warning about whatever was open to others), reads or makes
/// the secret key, then opens the store in the data dir and starts the engine on it, as
/// `config` says.
pub async fn open_engine(config: &Config) -> anyhow::Result<Engine> {
    for tightened in crate::data_dir::secure(&config.data_dir)? {
        tracing::warn!(
            path = %tightened.path.display(),
            was = format!("{:03o}", tightened.was),
            "was open to other users: made private to Flit's user"
        );
    }
    let key = crate::secret_key::load_or_create(config)?;
    let store_dir = config.data_dir.join(crate::config::STORE_DIR);
    let opened = Engine::open(
        &store_dir,
        config.storage,
        EngineConfig {
            default_country: config.default_country,
            max_backlog: config.max_backlog,
            webhooks: webhook_settings(&config.webhooks)?,
            devices: config.devices.times,
            smpp_server: config.smpp_server.settings.clone(),
            secret_key: Some(key.key.clone()),
            ..EngineConfig::default()
        },
    )
    .await;
    match opened {
        Ok(engine) => Ok(engine),
        Err(EngineError::SecretKey(error)) => Err(key.refused(error, &store_dir)),
        Err(error) => Err(anyhow::Error::from(error))
            .with_context(|| format!("cannot open the store in {}", store_dir.display())),
    }
}

/// The engine's webhook settings from the configuration, with the HTTP transport.
pub fn webhook_settings(config: &crate::config::WebhookConfig) -> anyhow::Result<WebhookSettings> {
    let mut roots = Vec::new();
    if let Some(path) = &config.ca_file {
        use tokio_rustls::rustls::pki_types::CertificateDer;
        use tokio_rustls::rustls::pki_types::pem::PemObject as _;
        for cert in CertificateDer::pem_file_iter(path)
            .with_context(|| format!("cannot read {}", path.display()))?
        {
            roots.push(cert.with_context(|| format!("bad certificate in {}", path.display()))?);
        }
    }
    Ok(WebhookSettings {
        allow_private_networks: config.allow_private_networks,
        max_attempts: config.max_attempts,
        timeout: config.timeout,
        backoff: flit_engine::Backoff {
            base: config.retry_base,
            ..WebhookSettings::default().backoff
        },
        transport: Some(Arc::new(crate::webhook_client::HttpTransport::new(roots)?)),
        ..WebhookSettings::default()
    })
}

/// Everything the server answers with: `app` behind the body limits of `config`. In-process
/// tests call this same router without a socket.
pub fn router(state: Arc<AppState>, config: &Config) -> Router {
    let limits = crate::BodyLimits::new(config.max_body_bytes, config.max_small_body_bytes);
    let guard = BodyGuard {
        limits,
        read_timeout: config.body_read_timeout,
        budget: BodyBudget::new(
            config.max_buffered_body_bytes,
            config.max_buffered_body_bytes_per_key,
        ),
        engine: state.engine.clone(),
    };
    app_with_limits(state, limits).layer(axum::middleware::from_fn_with_state(guard, guard_body))
}

/// Accepts connections until `stopped` fires, then asks every open connection to finish its
/// request in flight and close, and returns once all have. With `tls`, each connection first
/// completes a TLS handshake within `header_read_timeout`.
async fn serve(
    mut listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    header_read_timeout: Duration,
    max_connections: usize,
    mut stopped: oneshot::Receiver<()>,
) -> anyhow::Result<()> {
    let mut http = http1::Builder::new();
    // The timer starts when hyper waits for a request head: at connect, and again after each
    // answer on a keep-alive connection, so one deadline bounds both slow and idle clients.
    http.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    // `true` once shutdown begins; every connection task holds a receiver, so the sender's
    // `closed()` also tells when the last connection has ended.
    let (stopping, stopping_seen) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(max_connections));
    loop {
        let (stream, peer) = tokio::select! {
            // axum's `Listener` retries failed accepts (out of file descriptors, say) itself.
            accepted = Listener::accept(&mut listener) => accepted,
            _ = &mut stopped => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::counter!("flit_http_connections_refused_total").increment(1);
            tokio::spawn(refuse_connection(stream, tls.is_none()));
            continue;
        };
        let connection = Connection {
            http: http.clone(),
            // The console's sign-in limit counts failures by the caller's address too.
            // A thin wrapper per connection (the router itself is shared, not rebuilt).
            service: TowerToHyperService::new(tower::Layer::layer(
                &axum::Extension(axum::extract::ConnectInfo(peer)),
                router.clone(),
            )),
            peer,
            stop_seen: stopping_seen.clone(),
            _slot: slot,
        };
        match &tls {
            None => {
                tokio::spawn(connection.serve(stream));
            }
            Some(tls) => {
                let handshake = tls.accept(stream);
                tokio::spawn(connection.serve_tls(handshake, header_read_timeout));
            }
        }
    }
    drop(listener);
    drop(stopping_seen);
    let _ = stopping.send(true);
    stopping.closed().await;
    Ok(())
}

/// A connection over `max_connections` is told so and closed: in plain http with a 503 (the
/// client learns why), under TLS by closing it (no handshake is spent on it).
async fn refuse_connection(mut stream: TcpStream, plain: bool) {
    if plain {
        let body = r#"{"success":false,"error":"too many connections; retry shortly","code":"server_busy"}"#;
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
             retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            tokio::io::AsyncWriteExt::write_all(&mut stream, answer.as_bytes()),
        )
        .await;
    }
}

/// The router with the connection's peer address in every request's extensions.
type ConnectedRouter =
    axum::middleware::AddExtension<Router, axum::extract::ConnectInfo<SocketAddr>>;

/// One accepted connection and what serving it needs.
struct Connection {
    http: http1::Builder,
    service: TowerToHyperService<ConnectedRouter>,
    peer: SocketAddr,
    /// Turns `true` when shutdown begins; held for as long as the connection lives, so
    /// shutdown waits for it.
    stop_seen: watch::Receiver<bool>,
    /// Its place under `max_connections`, given back when it closes.
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    /// Completes the TLS handshake within `timeout`, then serves HTTP over it. A connection
    /// still in its handshake when shutdown begins has no request in flight: it is dropped.
    async fn serve_tls(mut self, handshake: Accept<TcpStream>, timeout: Duration) {
        let peer = self.peer;
        let stream = tokio::select! {
            finished = tokio::time::timeout(timeout, handshake) => match finished {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            },
            _ = self.stop_seen.wait_for(|stop| *stop) => return,
        };
        self.serve(stream).await;
    }

    /// Serves HTTP/1.1 on `stream` until the client closes, a deadline passes, or shutdown
    /// lets the request in flight finish.
    async fn serve<S>(mut self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let connection = self
            .http
            .serve_connection(TokioIo::new(stream), self.service);
        let mut connection = std::pin::pin!(connection);
        let mut told_to_stop = false;
        loop {
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        tracing::debug!(%peer, %error, "HTTP connection ended with an error");
                    }
                    break;
                }
                _ = self.stop_seen.wait_for(|stop| *stop), if !told_to_stop => {
                    told_to_stop = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// The limits every request body is held to before any handler sees it.
#[derive(Clone)]
struct BodyGuard {
    limits: crate::BodyLimits,
    read_timeout: Duration,
    budget: BodyBudget,
    engine: Engine,
}

/// How much request bodies may hold in memory at once, in all and per API key, counted in
/// KiB as each request announces (or, without a length, may reach) its size. A request that
/// would go over waits for nothing: it is refused at once, so a crowd of clients announcing
/// big bodies and then stalling cannot hold the server's memory.
#[derive(Clone)]
struct BodyBudget {
    total: Arc<Semaphore>,
    per_key_kib: u32,
    per_key: Arc<dashmap::DashMap<flit_engine::ids::ApiKeyId, Arc<Semaphore>>>,
}

impl BodyBudget {
    fn new(total_bytes: usize, per_key_bytes: usize) -> BodyBudget {
        BodyBudget {
            total: Arc::new(Semaphore::new(kib(total_bytes) as usize)),
            per_key_kib: kib(per_key_bytes),
            per_key: Arc::default(),
        }
    }
}

/// Bytes in whole KiB, rounded up (at least one).
fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX)
}

/// Refuses at once a body whose `Content-Length` is over its route's limit (the size limit
/// proper only trips once that many bytes have arrived, which a client may never send) or
/// over what bodies may hold in memory now (503 in all, 429 for one key), and gives the body
/// `read_timeout` from now to arrive: a handler reading a body that stalls gets an error, and
/// the client a 408.
async fn guard_body(State(guard): State<BodyGuard>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    let limit = guard.limits.for_route(
        request
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map(axum::extract::MatchedPath::as_str),
    );
    if declared.is_some_and(|length| length > limit as u64) {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than this route accepts ({limit} bytes)"),
        )
        .into_response();
    }
    if request.body().is_end_stream() {
        // No body to wait for (most GETs): no timer either.
        return next.run(request).await;
    }
    let size = kib(declared.map_or(limit, |length| length as usize));
    let Ok(_held) = guard.budget.total.clone().try_acquire_many_owned(size) else {
        metrics::counter!("flit_http_bodies_refused_total", "scope" => "total").increment(1);
        return ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_busy",
                "too many request bodies are arriving at once; retry shortly",
            )
        }
        .into_response();
    };
    let key = crate::auth::presented_key(request.headers())
        .and_then(|secret| guard.engine.authenticate(secret));
    let _held_for_key = match key {
        Some(key) => {
            let budget = guard
                .budget
                .per_key
                .entry(key.id)
                .or_insert_with(|| Arc::new(Semaphore::new(guard.budget.per_key_kib as usize)))
                .clone();
            match budget.try_acquire_many_owned(size) {
                Ok(held) => Some(held),
                Err(_) => {
                    metrics::counter!("flit_http_bodies_refused_total", "scope" => "key")
                        .increment(1);
                    return ApiError {
                        retry_after: Some(1),
                        ..ApiError::new(
                            StatusCode::TOO_MANY_REQUESTS,
                            "too_many_bodies",
                            "this key has too many request bodies arriving at once; retry \
                             shortly",
                        )
                    }
                    .into_response();
                }
            }
        }
        None => None,
    };
    let expired = Arc::new(AtomicBool::new(false));
    let deadline = tokio::time::Instant::now() + guard.read_timeout;
    let request = request.map(|inner| {
        Body::new(DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            expired: expired.clone(),
        })
    });
    let response = next.run(request).await;
    // The handler saw a body error and answered 400; the real cause is the client's pace.
    if expired.load(Ordering::Acquire) && response.status() == StatusCode::BAD_REQUEST {
        return ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body did not arrive in time",
        )
        .into_response();
    }
    response
}

/// A request body that fails once its deadline passes.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    /// Set when the deadline cut the body short, so the answer can say 408.
    expired: Arc<AtomicBool>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(axum::Error::new(
                "the request body did not arrive in time",
            ))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
