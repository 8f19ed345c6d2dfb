//! The HTTP and WebSocket API (docs/API.md) and the dashboard's static files.

mod access;
mod auth;
mod containers;
mod demo;
mod error;
mod health;
mod inside;
mod metrics;
mod registries;
mod request;
mod runs;
mod users;
mod ws;

use std::path::Path;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

pub use crate::app::AppState;
pub use crate::audit::{Action, Outcome};
use crate::config::Config;
pub use error::ApiError;

/// Request bodies larger than this are refused with 413.
const MAX_BODY: usize = 1024 * 1024;

pub fn router(state: AppState, config: &Config) -> Router {
    let api = Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/engines", get(health::engines))
        .route("/login", post(users::login))
        .route("/logout", post(users::logout))
        .route("/me", get(users::me))
        .route("/users", post(users::create_user).get(users::list_users))
        .route("/users/{username}", delete(users::delete_user))
        .route("/tokens", post(users::create_token).get(users::list_tokens))
        .route("/tokens/{id}", delete(users::delete_token))
        .route("/audit", get(users::audit))
        .route("/runs", post(runs::create_run).get(runs::list_runs))
        .route("/runs/ws", get(ws::run))
        .route(
            "/runs/{run_id}",
            get(runs::get_run).delete(runs::delete_run),
        )
        .route("/runs/{run_id}/ws", get(ws::watch))
        .route("/runs/{run_id}/output", get(runs::run_output))
        .route("/runs/{run_id}/stop", post(runs::stop_run))
        .route("/runs/{run_id}/kill", post(runs::kill_run))
        .route("/containers", get(containers::list_containers))
        .route(
            "/containers/{id}",
            get(containers::inspect_container).delete(containers::remove_container),
        )
        .route("/containers/{id}/stop", post(containers::stop_container))
        .route("/containers/{id}/kill", post(containers::kill_container))
        .route("/containers/{id}/logs", get(containers::container_logs))
        .route("/containers/{id}/exec", get(inside::exec))
        .route("/containers/{id}/stats", get(inside::stats))
        .route("/containers/{id}/stats/ws", get(inside::stats_ws))
        .route(
            "/containers/{id}/attach",
            post(containers::attach_container),
        )
        .route("/images", get(containers::list_images))
        .route(
            "/registries",
            post(registries::create_registry).get(registries::list_registries),
        )
        .route("/registries/{id}", delete(registries::delete_registry))
        .route(
            "/templates",
            post(demo::create_template).get(demo::list_templates),
        )
        .route(
            "/templates/{name}",
            get(demo::get_template)
                .put(demo::put_template)
                .delete(demo::delete_template),
        )
        .route("/templates/{name}/sessions", post(demo::open_session))
        .route("/sessions", get(demo::list_sessions))
        .route(
            "/sessions/{id}",
            get(demo::get_session).delete(demo::delete_session),
        )
        .route("/sessions/{id}/extend", post(demo::extend_session))
        .fallback(health::no_such_route)
        .layer(axum::middleware::from_fn(metrics::count))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state.clone());
    let metrics = Router::new()
        .route("/metrics", get(metrics::metrics))
        .with_state(state);

    let index = config.static_dir.join("index.html");
    if !Path::new(&index).exists() {
        tracing::warn!(
            "no dashboard at {}: build it with `trunk build --release`; the API works without it",
            config.static_dir.display()
        );
    }
    let dashboard = ServeDir::new(&config.static_dir).fallback(ServeFile::new(index));
    let dashboard = Router::new()
        .fallback_service(dashboard)
        .layer(axum::middleware::from_fn(cache_control));
    Router::new()
        .nest("/api", api)
        .merge(metrics)
        .merge(dashboard)
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
}

/// Trunk names built files with a content hash (`app-0123456789abcdef.js`,
/// `app-0123456789abcdef_bg.wasm`): those never change and are cached for good; everything else
/// (`index.html`, the SPA fallback, vendored files) is revalidated.
fn is_hashed(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .and_then(|file| file.split('.').next())
        .and_then(|stem| stem.rsplit_once('-'))
        .map(|(_, hash)| hash.trim_end_matches("_bg"))
        .is_some_and(|hash| hash.len() >= 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

async fn cache_control(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let hashed = is_hashed(req.uri().path());
    let mut resp = next.run(req).await;
    let value = if hashed {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static(value),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::is_hashed;

    #[test]
    fn only_content_hashed_files_are_immutable() {
        assert!(is_hashed("/berth-frontend-6a5ea7c67e17a82f.js"));
        assert!(is_hashed("/berth-frontend-6a5ea7c67e17a82f_bg.wasm"));
        assert!(is_hashed("/main-7c197f8b127a6846.css"));
        assert!(!is_hashed("/"));
        assert!(!is_hashed("/index.html"));
        assert!(!is_hashed("/runs/0123456789abcdef"));
        assert!(!is_hashed("/vendor/xterm.mjs"));
        assert!(!is_hashed("/my-page"));
    }
}
