//! The HTTP and WebSocket API (docs/API.md) and the dashboard's static files.

mod access;
mod auth;
mod client;
mod containers;
mod demo;
mod error;
mod health;
mod inside;
mod metrics;
mod openapi;
mod registries;
pub(crate) mod request;
mod runs;
mod setup;
mod users;
mod ws;

use std::path::Path;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

pub use crate::app::AppState;
pub use crate::audit::{Action, Outcome};
use crate::config::Config;
pub use error::ApiError;

/// Request bodies larger than this are refused with 413.
const MAX_BODY: usize = 1024 * 1024;

/// Declares the routes of a router, each `method "path" => handler,`: the router (`$build`) is
/// made from this table and nothing else, and `$list` lists it (`(method, path)`), so what the
/// router serves can be compared with what `GET /api/openapi.json` describes
/// (tests/tests/openapi.rs). A new route goes in a table, never in a bare `.route(…)`.
macro_rules! route_table {
    ($list:ident, $build:ident; $($method:ident $path:literal => $handler:path,)*) => {
        pub const $list: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn $build() -> Router<AppState> {
            Router::new()$(.route($path, axum::routing::$method($handler)))*
        }
    };
}

// The routes under `/api` (paths relative to it).
route_table! { API_ROUTES, api_routes;
    get    "/health" => health::health,
    get    "/ready" => health::ready,
    get    "/openapi.json" => openapi::document,
    get    "/engines" => health::engines,
    get    "/setup" => setup::status,
    post   "/setup" => setup::create_first_admin,
    post   "/login" => users::login,
    post   "/logout" => users::logout,
    get    "/me" => users::me,
    post   "/users" => users::create_user,
    get    "/users" => users::list_users,
    delete "/users/{username}" => users::delete_user,
    post   "/tokens" => users::create_token,
    get    "/tokens" => users::list_tokens,
    delete "/tokens/{id}" => users::delete_token,
    get    "/audit" => users::audit,
    post   "/runs" => runs::create_run,
    get    "/runs" => runs::list_runs,
    get    "/runs/ws" => ws::run,
    get    "/runs/{run_id}" => runs::get_run,
    delete "/runs/{run_id}" => runs::delete_run,
    get    "/runs/{run_id}/ws" => ws::watch,
    get    "/runs/{run_id}/output" => runs::run_output,
    post   "/runs/{run_id}/stop" => runs::stop_run,
    post   "/runs/{run_id}/kill" => runs::kill_run,
    get    "/containers" => containers::list_containers,
    get    "/containers/{id}" => containers::inspect_container,
    delete "/containers/{id}" => containers::remove_container,
    post   "/containers/{id}/stop" => containers::stop_container,
    post   "/containers/{id}/kill" => containers::kill_container,
    get    "/containers/{id}/logs" => containers::container_logs,
    get    "/containers/{id}/exec" => inside::exec,
    get    "/containers/{id}/stats" => inside::stats,
    get    "/containers/{id}/stats/ws" => inside::stats_ws,
    post   "/containers/{id}/attach" => containers::attach_container,
    get    "/images" => containers::list_images,
    post   "/registries" => registries::create_registry,
    get    "/registries" => registries::list_registries,
    delete "/registries/{id}" => registries::delete_registry,
    post   "/templates" => demo::create_template,
    get    "/templates" => demo::list_templates,
    get    "/templates/{name}" => demo::get_template,
    put    "/templates/{name}" => demo::put_template,
    delete "/templates/{name}" => demo::delete_template,
    post   "/templates/{name}/sessions" => demo::open_session,
    get    "/sessions" => demo::list_sessions,
    get    "/sessions/{id}" => demo::get_session,
    delete "/sessions/{id}" => demo::delete_session,
    post   "/sessions/{id}/extend" => demo::extend_session,
}

// The routes outside `/api` (besides the dashboard's files).
route_table! { OTHER_ROUTES, other_routes;
    get    "/metrics" => metrics::metrics,
}

/// Every route of [`router`] as `(METHOD, full path)`, e.g. `("GET", "/api/runs/{run_id}")`.
pub fn routes() -> Vec<(String, String)> {
    let api = API_ROUTES.iter().map(|(m, p)| (m, format!("/api{p}")));
    let other = OTHER_ROUTES.iter().map(|(m, p)| (m, p.to_string()));
    api.chain(other)
        .map(|(m, p)| (m.to_ascii_uppercase(), p))
        .collect()
}

pub fn router(state: AppState, config: &Config) -> Router {
    let api = api_routes()
        .fallback(health::no_such_route)
        .layer(axum::middleware::from_fn(metrics::count))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state.clone());
    let metrics = other_routes().with_state(state.clone());

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
        .layer(axum::middleware::from_fn(cache_control))
        .layer(axum::middleware::from_fn(static_path_guard));
    Router::new()
        .nest("/api", api)
        .merge(metrics)
        .merge(dashboard)
        .layer(axum::middleware::from_fn_with_state(
            state,
            client::client_address,
        ))
        .layer(CompressionLayer::new())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(
                    tower_http::trace::DefaultOnResponse::new()
                        .latency_unit(tower_http::LatencyUnit::Millis),
                ),
        )
}

/// Each request's span: its method and, filled in once known, its route template (never the
/// raw path: ids, and nothing of the query, which is where a careless client would put a
/// secret) and who asked. Every log line of the request carries them (with
/// `BERTH_LOG_FORMAT=json`, as fields); `BERTH_LOG=tower_http=debug` adds a line per answer
/// with its status and latency.
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::info_span!(
        "request",
        method = %req.method(),
        route = tracing::field::Empty,
        user = tracing::field::Empty,
    )
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

/// Paths no file of the dashboard can have, answered 404 before the file service sees them: a
/// segment longer than a file name may be (the filesystem's ENAMETOOLONG was a 500), and a path
/// that begins with two slashes (`//vendor` is a directory, and the file service's redirect to
/// `//vendor/` would send a browser to the host `vendor`).
fn impossible_static_path(path: &str) -> bool {
    const NAME_MAX: usize = 255;
    path.starts_with("//")
        || path.starts_with("/\\")
        || path.split('/').any(|segment| segment.len() > NAME_MAX)
}

async fn static_path_guard(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if impossible_static_path(req.uri().path()) {
        return axum::response::IntoResponse::into_response(axum::http::StatusCode::NOT_FOUND);
    }
    next.run(req).await
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
    fn paths_no_dashboard_file_has_are_refused() {
        use super::impossible_static_path as impossible;
        assert!(impossible("//vendor"));
        assert!(impossible("/\\vendor"));
        assert!(impossible(&format!("/a/{}", "x".repeat(256))));
        assert!(!impossible(&format!("/a/{}", "x".repeat(255))));
        assert!(!impossible("/vendor/xterm.js"));
        assert!(!impossible("/runs/0123456789abcdef"));
    }

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
