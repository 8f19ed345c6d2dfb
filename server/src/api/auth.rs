//! The one place requests are authenticated: the `Principal` extractor. Every handler that
//! needs an identity takes a `Principal`; a failure is a 401 (403 for a cross-site request),
//! recorded in the audit log. A demo guest (the `berth_guest` cookie) is no `Principal`: only
//! the routes open to guests take one, through `UserOrGuest` or `Caller`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use super::error::ApiError;
use super::{Action, AppState};
use crate::auth::{AuthError, Principal, SESSION_COOKIE};

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let remote = remote_addr(parts);
        match app
            .auth
            .authenticate(&parts.method, &parts.headers, remote.clone())
            .await
        {
            Ok(principal) => {
                tracing::Span::current().record("user", principal.username.as_str());
                Ok(principal)
            }
            Err(e) => {
                crate::metrics::auth_failure();
                let target = parts.uri.path().to_string();
                app.audit_anonymous(Action::Auth, &target, &e.to_string(), &remote)
                    .await;
                Err(e.into())
            }
        }
    }
}

/// Who calls a route open to demo visitors: a user (bearer token or session), a guest, or
/// nobody yet. Credentials that are given must be valid: a bad token is a 401, not a guest.
pub enum Caller {
    User(Principal),
    Guest(Principal),
    Nobody { remote: String },
}

impl Caller {
    /// The user or guest, if any.
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Caller::User(p) | Caller::Guest(p) => Some(p),
            Caller::Nobody { .. } => None,
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let user_credentials = parts.headers.contains_key(header::AUTHORIZATION)
            || crate::auth::cookie(&parts.headers, SESSION_COOKIE).is_some();
        if user_credentials {
            return Principal::from_request_parts(parts, app)
                .await
                .map(Caller::User);
        }
        let remote = remote_addr(parts);
        match app
            .auth
            .guest(&parts.method, &parts.headers, remote.clone())?
        {
            Some(guest) => Ok(Caller::Guest(guest)),
            None => Ok(Caller::Nobody { remote }),
        }
    }
}

/// A user or a guest: the routes of runs a guest may have (its sessions'). Nobody is a 401.
pub struct UserOrGuest(pub Principal);

impl FromRequestParts<AppState> for UserOrGuest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, app).await? {
            Caller::User(p) | Caller::Guest(p) => Ok(UserOrGuest(p)),
            Caller::Nobody { remote } => {
                let target = parts.uri.path().to_string();
                let e = AuthError::Missing;
                app.audit_anonymous(Action::Auth, &target, &e.to_string(), &remote)
                    .await;
                Err(e.into())
            }
        }
    }
}

/// The client's address without its port (`192.0.2.7`, `2001:db8::1`).
pub fn address_of(remote: &str) -> String {
    remote
        .parse::<SocketAddr>()
        .map_or_else(|_| remote.to_string(), |a| a.ip().to_string())
}

fn remote_addr(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_default()
}
