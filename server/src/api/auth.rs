//! The one place requests are authenticated: the `Principal` extractor. Every handler that
//! needs an identity takes a `Principal`; a failure is a 401 (403 for a cross-site request),
//! recorded in the audit log.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::error::ApiError;
use super::{Action, AppState};
use crate::auth::Principal;

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let remote = remote_addr(parts);
        match app
            .auth
            .authenticate(&parts.method, &parts.headers, remote.clone())
            .await
        {
            Ok(principal) => Ok(principal),
            Err(e) => {
                let target = parts.uri.path().to_string();
                app.audit_anonymous(Action::Auth, &target, &e.to_string(), &remote)
                    .await;
                Err(e.into())
            }
        }
    }
}

fn remote_addr(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_default()
}
