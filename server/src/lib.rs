//! Berth's gateway: performs `docker run` against a Docker engine and streams it to browsers.
//!
//! Layers, lowest first; each uses only those before it in this list (and `config`, the
//! settings read at start):
//! - `time`, `store` (SQLite), `engine` (the Engine API client), `auth` (identities, sign-in
//!   limits), `policy` (pure rules on a create request), `registries` (pull credentials);
//! - `run` (the run sequence, each run's journal, restore after a restart);
//! - `app` (the state every request shares, and start-up), `audit`, `admission` (whether a
//!   run may go ahead, and as whose), `demo` (templates, sessions, pools: runs on visitors'
//!   behalf);
//! - `api` (HTTP and WebSocket handlers, access checks, errors), `serve` (the connection
//!   loop).
//!
//! docs/ARCHITECTURE.md follows a run request through them.

pub mod admission;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod clients;
pub mod config;
pub mod demo;
pub mod engine;
pub mod engines;
#[doc(hidden)]
pub mod fuzzing;
pub mod metrics;
pub mod policy;
pub mod registries;
pub mod run;
pub mod serve;
pub mod shutdown;
pub mod stats;
pub mod store;
pub mod time;

use std::future::Future;
use std::net::SocketAddr;

pub use config::Config;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Engine(#[from] engine::EngineError),
    #[error(transparent)]
    Engines(#[from] engines::EnginesError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Policy(#[from] policy::PolicyError),
    #[error("secret key: {0}")]
    SecretKey(String),
    #[error("data directory {0}: {1}")]
    DataDir(std::path::PathBuf, std::io::Error),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
}

/// Sets the gateway up and binds the listener; returns its address with the server future,
/// which runs until the server fails.
pub async fn bind(
    config: Config,
) -> Result<(SocketAddr, impl Future<Output = std::io::Result<()>>), StartError> {
    bind_until(config, std::future::pending()).await
}

/// As [`bind`], with a server future that ends once `shutdown` completes, after recording the
/// runs in progress (their containers keep running; the next start follows them again).
pub async fn bind_until(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, impl Future<Output = std::io::Result<()>>), StartError> {
    let state = app::AppState::new(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError::Listen(config.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Listen(config.listen, e))?;
    let runs = state.runs.clone();
    let stopping = state.shutdown.clone();
    let app = api::router(state, &config);
    let max_per_address = config.max_connections_per_address;
    let proxies = config.trusted_proxies.clone();
    Ok((addr, async move {
        let serving = serve::serve(listener, app, max_per_address, proxies, stopping.clone());
        tokio::select! {
            served = serving => return served,
            () = shutdown => {}
        }
        // The listener went with `serving`: nothing new is accepted from here on.
        tracing::info!("stopping: requests in flight finish, WebSockets close");
        if !stopping.stop(crate::shutdown::GRACE).await {
            tracing::warn!(
                "stopping: connections still open after {:?}; closing them",
                crate::shutdown::GRACE
            );
        }
        let n = runs.persist_in_progress().await;
        tracing::info!(
            "stopped; runs in progress: {n} (their containers keep running and are followed again on the next start)"
        );
        Ok(())
    }))
}
