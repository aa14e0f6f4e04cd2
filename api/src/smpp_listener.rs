//! The SMPP server's listener (SPEC §14, `[smpp_server]`): customers' software connects over
//! TCP, or over TLS with the same certificate as https, and each accepted connection is handed
//! to the engine, which speaks SMPP on it (`Engine::serve_smpp`). Connections are bounded in
//! number like HTTP's; a TLS handshake is bounded in time. At shutdown the listener stops
//! accepting, the sessions are told to unbind (answering the submits they hold first), and
//! shutdown waits for them a bounded time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use flit_engine::Engine;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// Customer connections open at once at most.
const MAX_CONNECTIONS: usize = 10_000;
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// How often what waited too long for a customer is given up (`Engine::expire_smpp_held`).
const EXPIRY_EVERY: Duration = Duration::from_secs(600);

/// A running SMPP listener.
pub struct SmppListener {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl SmppListener {
    /// Listens on `listen`; returns once the port is bound.
    pub async fn start(
        engine: Engine,
        listen: SocketAddr,
        tls: Option<TlsAcceptor>,
    ) -> anyhow::Result<SmppListener> {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen for SMPP on {listen}"))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let scheme = if tls.is_some() {
            "smpp over tls"
        } else {
            "smpp"
        };
        tracing::info!(%addr, scheme, "SMPP server is listening");
        let task = tokio::spawn(accept(listener, engine, tls, stopped));
        Ok(SmppListener { addr, stop, task })
    }

    /// Stops accepting, unbinds every session and waits for them (at most `grace`, after
    /// which those left are dropped).
    pub async fn shutdown(self, engine: &Engine, grace: Duration) {
        let _ = self.stop.send(());
        engine.close_smpp_sessions();
        let abort = self.task.abort_handle();
        if tokio::time::timeout(grace, self.task).await.is_err() {
            tracing::warn!("SMPP sessions still open after {grace:?}; closing them");
            // Dropping the accept task's set of sessions ends every one of them.
            abort.abort();
        }
    }
}

async fn accept(
    listener: TcpListener,
    engine: Engine,
    tls: Option<TlsAcceptor>,
    mut stopped: oneshot::Receiver<()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut sessions = JoinSet::new();
    let mut expiry = tokio::time::interval(EXPIRY_EVERY);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stopped => break,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
            _ = expiry.tick() => {
                let engine = engine.clone();
                tokio::spawn(async move {
                    if let Err(error) = engine.expire_smpp_held().await {
                        tracing::warn!(%error, "giving up what waited too long for SMPP customers failed");
                    }
                });
                continue;
            }
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::warn!(%error, "accepting an SMPP connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::counter!("flit_smpp_server_connections_refused_total").increment(1);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (engine, tls) = (engine.clone(), tls.clone());
        sessions.spawn(async move {
            let _slot = slot;
            match tls {
                None => engine.serve_smpp(stream, peer).await,
                Some(tls) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                        Ok(Ok(stream)) => engine.serve_smpp(stream, peer).await,
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, %error, "SMPP TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "SMPP TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    while sessions.join_next().await.is_some() {}
}
