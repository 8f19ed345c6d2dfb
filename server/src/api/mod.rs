//! The HTTP and WebSocket API (docs/API.md) and the dashboard's static files.

mod auth;
mod error;
mod rest;
mod ws;

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use berth_shared::plan::{self, Plan};
use berth_shared::wire::RunRequest;
use berth_shared::{argv, spec::RunSpec};
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::engine::{Engine, EngineError};
use crate::run::Runs;
pub use error::ApiError;

/// Request bodies larger than this are refused with 413.
const MAX_BODY: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub runs: Arc<Runs>,
    admin_token: Option<Arc<str>>,
}

impl AppState {
    pub fn new(config: &Config) -> Result<Self, EngineError> {
        let engine = Engine::new(&config.docker_host)?;
        Ok(AppState {
            runs: Arc::new(Runs::new(
                engine.clone(),
                config.output_limit,
                config.max_finished_runs,
            )),
            engine,
            admin_token: config
                .admin_token
                .as_deref()
                .filter(|t| !t.is_empty())
                .map(Arc::from),
        })
    }
}

pub fn router(state: AppState, config: &Config) -> Router {
    let protected = Router::new()
        .route("/runs", post(rest::create_run).get(rest::list_runs))
        .route("/runs/ws", get(ws::run))
        .route(
            "/runs/{run_id}",
            get(rest::get_run).delete(rest::delete_run),
        )
        .route("/runs/{run_id}/ws", get(ws::watch))
        .route("/runs/{run_id}/output", get(rest::run_output))
        .route("/runs/{run_id}/stop", post(rest::stop_run))
        .route("/runs/{run_id}/kill", post(rest::kill_run))
        .route("/containers", get(rest::list_containers))
        .route(
            "/containers/{id}",
            get(rest::inspect_container).delete(rest::remove_container),
        )
        .route("/containers/{id}/stop", post(rest::stop_container))
        .route("/containers/{id}/kill", post(rest::kill_container))
        .route("/containers/{id}/logs", get(rest::container_logs))
        .route("/containers/{id}/attach", post(rest::attach_container))
        .route("/images", get(rest::list_images))
        .fallback(rest::no_such_route)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    let api = Router::new()
        .route("/health", get(rest::health))
        .merge(protected)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state);

    let index = config.static_dir.join("index.html");
    if !Path::new(&index).exists() {
        tracing::warn!(
            "no dashboard at {}: build it with `trunk build --release`; the API works without it",
            config.static_dir.display()
        );
    }
    let dashboard = ServeDir::new(&config.static_dir).fallback(ServeFile::new(index));
    Router::new()
        .nest("/api", api)
        .fallback_service(dashboard)
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
}

/// A run request's plan and the argv it is recorded with, or why it is invalid.
pub fn plan_for(req: &RunRequest) -> Result<(Plan, Vec<String>), ApiError> {
    let bad = |e: &dyn std::fmt::Display| ApiError::BadRequest(e.to_string());
    let (spec, argv): (RunSpec, Vec<String>) = match (&req.argv, &req.spec) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give either \"argv\" or \"spec\", not both".into(),
            ));
        }
        (None, None) => {
            return Err(ApiError::BadRequest(
                "a run needs \"argv\" (the arguments after `docker run`) or \"spec\"".into(),
            ));
        }
        (Some(a), None) => (argv::parse(a).map_err(|e| bad(&e))?, a.clone()),
        (None, Some(s)) => (s.clone(), argv::render(s)),
    };
    let plan = plan::build(&spec).map_err(|e| bad(&e))?;
    Ok((plan, argv))
}
