//! `GET /metrics`: the Prometheus exposition, for admins or the `BERTH_METRICS_TOKEN` bearer;
//! and the layer counting every API request by its route template.

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::AppState;

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
    let resp = next.run(req).await;
    crate::metrics::http_request(route, resp.status().as_u16());
    resp
}
