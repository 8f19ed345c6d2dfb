//! Berth's gateway: performs `docker run` against a Docker engine and streams it to browsers.
//!
//! Layers, each a module: `engine` (the Engine API client), `run` (the run sequence and each
//! run's journal), `api` (HTTP and WebSocket), `config`.

pub mod api;
pub mod auth;
pub mod config;
pub mod engine;
pub mod policy;
pub mod run;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;

pub use config::Config;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Engine(#[from] engine::EngineError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Policy(#[from] policy::PolicyError),
    #[error("data directory {0}: {1}")]
    DataDir(std::path::PathBuf, std::io::Error),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
}

/// Sets the gateway up and binds the listener; returns its address with the server future.
pub async fn bind(
    config: Config,
) -> Result<(SocketAddr, impl Future<Output = std::io::Result<()>>), StartError> {
    let state = api::AppState::new(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError::Listen(config.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Listen(config.listen, e))?;
    let app = api::router(state, &config).into_make_service_with_connect_info::<SocketAddr>();
    Ok((addr, async move { axum::serve(listener, app).await }))
}
