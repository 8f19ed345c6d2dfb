//! The first visit: with no user yet, the setup page creates the first admin, given the
//! one-time setup token (`<data-dir>/admin-token`, printed by `scripts/run.sh`), and signs them
//! in. Once anyone exists, setup is over for good: `POST` answers 409 and the generated token
//! no longer works.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_shared::wire::{Role, Setup, SetupStatus};

use super::error::ApiError;
use super::request::json_body;
use super::users::{me_of, new_user, session_cookie};
use super::{Action, AppState, Outcome};
use crate::auth::{ADMIN_TOKEN_USER, AuthError, Principal, SESSION_SECONDS, Via};

#[utoipa::path(
    get, path = "/api/setup", tag = "users", summary = "Whether the first admin is still to be created",
    security(()),
    responses((status = 200, description = "Whether the first admin is still to be created.", body = SetupStatus)),
)]
pub async fn status(State(app): State<AppState>) -> Result<Json<SetupStatus>, ApiError> {
    Ok(Json(SetupStatus {
        needed: app.store.user_count().await? == 0,
    }))
}

#[utoipa::path(
    post, path = "/api/setup", tag = "users", summary = "Create the first admin",
    security(()),
    request_body = Setup,
    responses(
        (status = 201, description = "The first admin, signed in.", body = berth_shared::wire::Me, headers(("set-cookie" = String))),
        (status = 400, description = "A bad username or password."),
        (status = 401, description = "Not the setup token."),
        (status = 409, description = "Berth is set up already."),
        (status = 429, description = "Too many tries from this address."),
    ),
)]
pub async fn create_first_admin(
    State(app): State<AppState>,
    ConnectInfo(remote): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // Guessing the token is signing in: the same per-address allowance.
    if !app.auth.sign_ins().allow_address(remote.ip()) {
        return Err(ApiError::TooManyRequests(
            "too many tries; try again in a few minutes".into(),
        ));
    }
    let req: Setup = json_body(&body)?;
    let set_up = || ApiError::Conflict("Berth is set up already: sign in".into());
    if app.store.user_count().await? > 0 {
        return Err(set_up());
    }
    if !app.auth.is_admin_token(req.token.trim()) {
        app.audit_anonymous(
            Action::UserCreate,
            "setup",
            "wrong setup token",
            &remote.to_string(),
        )
        .await;
        return Err(ApiError::Auth(AuthError::Invalid));
    }
    let row = new_user(&req.username, &req.password, Role::Admin, String::new()).await?;
    if !app.store.create_first_user(row.clone()).await? {
        return Err(set_up());
    }
    app.auth.end_setup();
    let setup = Principal {
        user_id: ADMIN_TOKEN_USER.into(),
        username: ADMIN_TOKEN_USER.into(),
        role: Role::Admin,
        team: String::new(),
        via: Via::AdminToken,
        remote: remote.to_string(),
    };
    app.audit(
        &setup,
        Action::UserCreate,
        &row.username,
        Outcome::Ok,
        "first admin, by the setup page",
    )
    .await;
    let session = app.auth.open_session(&row.username).await?;
    let admin = Principal {
        user_id: row.id,
        username: row.username,
        role: Role::Admin,
        team: String::new(),
        via: Via::Session,
        remote: remote.to_string(),
    };
    let cookie = session_cookie(&session, SESSION_SECONDS, &headers, app.public_https);
    Ok((
        StatusCode::CREATED,
        [(header::SET_COOKIE, cookie)],
        Json(me_of(&admin, &app)),
    )
        .into_response())
}
