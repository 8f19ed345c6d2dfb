//! `GET /metrics`: the Prometheus exposition, for admins or the `BERTH_METRICS_TOKEN` bearer;
//! and the layer counting every API request by its route template.

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::AppState;

#[utoipa::path(
    get, path = "/metrics", tag = "meta", summary = "Prometheus metrics",
    description = "The Prometheus text exposition (docs/API.md, \"Metrics\"): for admins, or the bearer `BERTH_METRICS_TOKEN`.",
    responses(
        (status = 200, description = "The metrics.", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "No or bad credentials.", body = String, content_type = "text/plain"),
        (status = 403, description = "Not an admin.", body = String, content_type = "text/plain"),
    ),
)]
pub async fn metrics(State(app): State<AppState>, headers: HeaderMap, req: Request) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let by_token = match (bearer, app.metrics_token.as_deref()) {
        (Some(given), Some(token)) => bool::from(given.as_bytes().ct_eq(token.as_bytes())),
        _ => false,
    };
    if !by_token {
        let remote = req
            .extensions()
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.to_string())
            .unwrap_or_default();
        match app.auth.authenticate(&Method::GET, &headers, remote).await {
            Ok(p) if p.is_admin() => {}
            Ok(_) => return (StatusCode::FORBIDDEN, "metrics are for admins\n").into_response(),
            Err(_) => {
                crate::metrics::auth_failure();
                return (
                    StatusCode::UNAUTHORIZED,
                    "send the admin token or BERTH_METRICS_TOKEN\n",
                )
                    .into_response();
            }
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(&app),
    )
        .into_response()
}

/// Counts the request by its route template (never the raw path, whose ids would make a
/// series each) and status.
pub async fn count(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    // The request's span (`api::request_span`) learns its route here, after routing.
    tracing::Span::current().record("route", route.as_str());
    let resp = next.run(req).await;
    crate::metrics::http_request(route, resp.status().as_u16());
    resp
}
