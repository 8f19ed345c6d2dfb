//! The client's address for everything after it (sign-in limits, audit, guests' sessions per
//! address): the connection's peer, or behind a trusted proxy the address it forwarded
//! (`crate::clients`). WebSocket upgrades are counted here, per client.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

pub async fn client_address(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        let client = app.trusted_proxies.client(peer, forwarded);
        let upgrade = req
            .headers()
            .get("upgrade")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
        if upgrade && !app.upgrades.allow(client.ip()) {
            tracing::debug!("{client}: WebSocket refused, too many opened lately");
            return ApiError::TooManyRequests(
                "too many WebSockets opened from your address; try again in a few seconds".into(),
            )
            .into_response();
        }
        req.extensions_mut().insert(ConnectInfo(client));
    }
    next.run(req).await
}
