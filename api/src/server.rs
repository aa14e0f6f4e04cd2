//! Starting and stopping Flit: open the store, start the engine, bootstrap, serve HTTP until
//! told to stop, then shut down in order (stop accepting, drain requests, stop actors).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use flit_engine::{Engine, EngineConfig};
use flit_storage::{Store, StoreOptions};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::ratelimit::RateLimiter;
use crate::state::AppState;
use crate::{app, bootstrap};

/// A running server; dropping it does not stop it, `shutdown()` does.
pub struct Server {
    pub addr: SocketAddr,
    pub engine: Engine,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Server {
    /// Opens everything and starts listening; returns once the port is bound.
    pub async fn start(
        config: Config,
        metrics: Option<PrometheusHandle>,
    ) -> anyhow::Result<Server> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
        let store_dir = config.data_dir.join("store");
        let store = Store::open(config.storage, &store_dir, StoreOptions::default())
            .with_context(|| format!("cannot open the store in {}", store_dir.display()))?;
        let engine = Engine::open(
            store,
            EngineConfig {
                default_country: config.default_country.clone(),
                ..EngineConfig::default()
            },
        )
        .await?;
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
        });
        let router = app(state, config.max_body_bytes);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .context("HTTP server failed")
        });
        tracing::info!(%addr, storage = %config.storage, "Flit is listening");
        if engine.is_sandbox() {
            tracing::warn!("{}", crate::SANDBOX_WARNING);
        }
        Ok(Server {
            addr,
            engine,
            stop,
            task,
        })
    }

    /// Stops accepting, lets in-flight requests finish, stops the actors.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        let served = self.task.await.context("server task panicked")?;
        self.engine.shutdown().await;
        served
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
