//! Berth's gateway: performs `docker run` against a Docker engine and streams it to browsers.
//!
//! Layers, each a module: `engine` (the Engine API client), `run` (the run sequence and each
//! run's journal), `api` (HTTP and WebSocket), `config`.

pub mod api;
pub mod config;
pub mod engine;
pub mod run;

use std::future::Future;
use std::net::SocketAddr;

pub use config::Config;

/// Binds the listener and returns its address with the server future to drive.
pub async fn bind(
    config: Config,
) -> std::io::Result<(SocketAddr, impl Future<Output = std::io::Result<()>>)> {
    let state = api::AppState::new(&config).map_err(std::io::Error::other)?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let app = api::router(state, &config);
    Ok((addr, async move { axum::serve(listener, app).await }))
}
