//! Sign-in, users, API tokens and the audit log.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_shared::wire::{CreatedToken, Login, Me, NewToken, NewUser, TokenView, UserView};
use serde::Deserialize;

use super::error::ApiError;
use super::request::json_body;
use super::{Action, AppState, Outcome};
use crate::auth::{
    ADMIN_TOKEN_USER, AuthError, Principal, SESSION_COOKIE, SESSION_SECONDS, hash_password,
    valid_name,
};
use crate::store::UserRow;

type ApiResult<T> = Result<T, ApiError>;

/// Who `p` is, for the dashboard: `may_run` lets it show the run form only to those the role
/// and the policy let run anything at all (each run is still checked in full).
pub(super) fn me_of(p: &Principal, app: &AppState) -> Me {
    Me {
        username: p.username.clone(),
        role: p.role,
        team: p.team.clone(),
        may_run: app.policy.for_user(p.role, &p.team).may_run(),
    }
}

fn require_admin(user: &Principal) -> ApiResult<()> {
    if user.is_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only admins may do this".into()))
    }
}

/// `Secure` when the browser reached Berth over TLS (directly or through a proxy that says so).
pub(super) fn session_cookie(
    value: &str,
    max_age: i64,
    headers: &HeaderMap,
    public_https: bool,
) -> HeaderValue {
    let forwarded_https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let secure = if public_https || forwarded_https {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .expect("cookie is ASCII")
}

fn too_many_sign_ins() -> ApiError {
    ApiError::TooManyRequests("too many failed sign-ins; try again in a few minutes".into())
}

/// `POST /api/login`: a session cookie for a username and password.
#[utoipa::path(
    post, path = "/api/login", tag = "users", summary = "Sign in (a session cookie)", security(()),
    request_body = berth_shared::wire::Login,
    responses(
        (status = 200, description = "Signed in; the session cookie comes with it.", body = berth_shared::wire::Me,
            headers(("set-cookie" = String, description = "`berth_session=…; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200`"))),
        (status = 401, description = "Wrong username or password."),
        (status = 429, description = "Too many sign-ins from this address or for this username."),
    ),
)]
pub async fn login(
    State(app): State<AppState>,
    headers: HeaderMap,
    parts: axum::extract::ConnectInfo<std::net::SocketAddr>,
    body: Bytes,
) -> ApiResult<Response> {
    let remote = parts.0.to_string();
    // The address first, before anything of the request is looked at or argon2 runs. Not
    // audited: one address could then add a row per request, as fast as it can send them.
    if !app.auth.sign_ins().allow_address(parts.0.ip()) {
        tracing::debug!("sign-in from {remote} refused: too many attempts from its address");
        return Err(too_many_sign_ins());
    }
    let req: Login = json_body(&body)?;
    // No account has such a name: refused as a wrong password is (nothing tells it apart),
    // but neither counted nor audited, so megabytes of "username" are kept nowhere.
    if !valid_name(&req.username) {
        return Err(ApiError::Auth(AuthError::Invalid));
    }
    if !app.auth.sign_ins().allow_username(&req.username) {
        app.audit_anonymous(
            Action::Login,
            &req.username,
            "too many failed sign-ins",
            &remote,
        )
        .await;
        return Err(too_many_sign_ins());
    }
    match app.auth.login(&req.username, &req.password).await {
        Ok((user, session)) => {
            let principal = Principal {
                user_id: user.id,
                username: user.username,
                role: user.role,
                team: user.team,
                via: crate::auth::Via::Session,
                remote,
            };
            app.audit(
                &principal,
                Action::Login,
                &principal.username,
                Outcome::Ok,
                "",
            )
            .await;
            let me = me_of(&principal, &app);
            let cookie = session_cookie(&session, SESSION_SECONDS, &headers, app.public_https);
            Ok(([(header::SET_COOKIE, cookie)], Json(me)).into_response())
        }
        Err(AuthError::Invalid) => {
            app.audit_anonymous(
                Action::Login,
                &req.username,
                "wrong username or password",
                &remote,
            )
            .await;
            Err(ApiError::Auth(AuthError::Invalid))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /api/logout`: ends the browser session.
#[utoipa::path(
    post, path = "/api/logout", tag = "users", summary = "Sign out",
    responses((status = 204, description = "Signed out; the cookie is cleared.", headers(("set-cookie" = String)))),
)]
pub async fn logout(
    State(app): State<AppState>,
    user: Principal,
    headers: HeaderMap,
) -> ApiResult<Response> {
    app.auth.logout(&headers).await?;
    app.audit(&user, Action::Logout, &user.username, Outcome::Ok, "")
        .await;
    let cookie = session_cookie("", 0, &headers, app.public_https);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

#[utoipa::path(
    get, path = "/api/me", tag = "users", summary = "Who is signed in",
    responses((status = 200, description = "Who is signed in.", body = berth_shared::wire::Me)),
)]
pub async fn me(State(app): State<AppState>, user: Principal) -> Json<Me> {
    Json(me_of(&user, &app))
}

#[utoipa::path(
    post, path = "/api/users", tag = "users", summary = "Create a user",
    request_body = berth_shared::wire::NewUser,
    responses(
        (status = 201, description = "Created.", body = berth_shared::wire::UserView),
        (status = 400, description = "A bad username, team or password."),
        (status = 403, description = "Not an admin."),
        (status = 409, description = "The username is taken."),
    ),
)]
pub async fn create_user(
    State(app): State<AppState>,
    user: Principal,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    require_admin(&user)?;
    let req: NewUser = json_body(&body)?;
    let row = new_user(&req.username, &req.password, req.role, req.team).await?;
    if !app.store.create_user(row.clone()).await? {
        app.audit(
            &user,
            Action::UserCreate,
            &req.username,
            Outcome::Failed,
            "username taken",
        )
        .await;
        return Err(ApiError::Conflict(format!(
            "user {} already exists",
            req.username
        )));
    }
    let detail = format!("role {}", row.role.as_str());
    app.audit(
        &user,
        Action::UserCreate,
        &req.username,
        Outcome::Ok,
        &detail,
    )
    .await;
    Ok((StatusCode::CREATED, Json(row.into())))
}

#[utoipa::path(
    get, path = "/api/users", tag = "users", summary = "List the users",
    responses(
        (status = 200, description = "The users, never their password hashes.", body = Vec<berth_shared::wire::UserView>),
        (status = 403, description = "Not an admin."),
    ),
)]
pub async fn list_users(
    State(app): State<AppState>,
    user: Principal,
) -> ApiResult<Json<Vec<UserView>>> {
    require_admin(&user)?;
    Ok(Json(
        app.store
            .users()
            .await?
            .into_iter()
            .map(UserView::from)
            .collect(),
    ))
}

#[utoipa::path(
    delete, path = "/api/users/{username}", tag = "users", summary = "Delete a user",
    params(("username" = String, Path)),
    responses(
        (status = 204, description = "Deleted, with their tokens and sessions."),
        (status = 403, description = "Not an admin."),
        (status = 404, description = "No such user."),
    ),
)]
pub async fn delete_user(
    State(app): State<AppState>,
    user: Principal,
    Path(username): Path<String>,
) -> ApiResult<StatusCode> {
    require_admin(&user)?;
    if !app.store.delete_user(&username).await? {
        return Err(ApiError::NotFound(format!("no such user: {username}")));
    }
    app.audit(&user, Action::UserDelete, &username, Outcome::Ok, "")
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/api/tokens", tag = "users", summary = "Create an API token",
    request_body = berth_shared::wire::NewToken,
    responses(
        (status = 201, description = "The token, shown this once.", body = berth_shared::wire::CreatedToken),
        (status = 400, description = "A bad name, or the bootstrap admin token asking."),
    ),
)]
pub async fn create_token(
    State(app): State<AppState>,
    user: Principal,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let req: NewToken = json_body(&body)?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ApiError::BadRequest("name: 1 to 64 characters".into()));
    }
    if user.username == ADMIN_TOKEN_USER {
        return Err(ApiError::BadRequest(
            "the bootstrap admin token cannot own API tokens: create an admin user first".into(),
        ));
    }
    let (row, token) = app.auth.create_token(&user.username, name).await?;
    app.audit(&user, Action::TokenCreate, &row.id, Outcome::Ok, name)
        .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: row.id,
            name: row.name,
            token,
        }),
    ))
}

/// Your tokens (admins: everyone's), without their secrets.
#[utoipa::path(
    get, path = "/api/tokens", tag = "users", summary = "List API tokens",
    responses((status = 200, description = "Your tokens (admins: everyone's), without their secrets.", body = Vec<berth_shared::wire::TokenView>)),
)]
pub async fn list_tokens(
    State(app): State<AppState>,
    user: Principal,
) -> ApiResult<Json<Vec<TokenView>>> {
    let owner = (!user.is_admin()).then_some(user.username.as_str());
    let tokens = app.store.tokens(owner).await?;
    Ok(Json(tokens.into_iter().map(TokenView::from).collect()))
}

#[utoipa::path(
    delete, path = "/api/tokens/{id}", tag = "users", summary = "Revoke an API token",
    params(("id" = String, Path, description = "The token's id.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 404, description = "No such token of yours."),
    ),
)]
pub async fn delete_token(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let token = app
        .store
        .token(&id)
        .await?
        .filter(|t| user.is_admin() || t.username == user.username);
    if token.is_none() || !app.store.delete_token(&id).await? {
        return Err(ApiError::NotFound(format!("no such token: {id}")));
    }
    app.audit(&user, Action::TokenDelete, &id, Outcome::Ok, "")
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// At most this many entries (default 1000, at most 100000).
    limit: Option<u32>,
    /// Only entries older than this id (paging back).
    before: Option<i64>,
    /// `jsonl` for JSON lines (an export); JSON array otherwise.
    format: Option<String>,
}

#[utoipa::path(
    get, path = "/api/audit", tag = "users", summary = "Read the audit log",
    params(AuditQuery),
    responses(
        (status = 200, description = "Audit entries, newest first.", content(
            (Vec<berth_shared::wire::AuditEntry> = "application/json"),
            (String = "application/x-ndjson"),
        )),
        (status = 400, description = "A bad query."),
        (status = 403, description = "Not an admin."),
    ),
)]
pub async fn audit(
    State(app): State<AppState>,
    user: Principal,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Response> {
    require_admin(&user)?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let entries = app
        .store
        .audit(q.limit.unwrap_or(1000).min(100_000), q.before)
        .await?;
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(entries).into_response()),
        Some("jsonl") => {
            let mut body = String::new();
            for e in &entries {
                body.push_str(&serde_json::to_string(e).expect("audit entries serialise"));
                body.push('\n');
            }
            Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
        }
        Some(other) => Err(ApiError::BadRequest(format!(
            "format {other:?}: use json or jsonl"
        ))),
    }
}

/// A user's row once its fields are checked, with the password hashed (off the runtime).
pub(super) async fn new_user(
    username: &str,
    password: &str,
    role: berth_shared::wire::Role,
    team: String,
) -> ApiResult<UserRow> {
    if !valid_name(username) || username == ADMIN_TOKEN_USER {
        return Err(ApiError::BadRequest(
            "username: 1 to 32 of a-z, 0-9, '.', '_', '-', starting with a letter or digit".into(),
        ));
    }
    if !team.is_empty() && !valid_name(&team) {
        return Err(ApiError::BadRequest(
            "team: 1 to 32 of a-z, 0-9, '.', '_', '-'".into(),
        ));
    }
    if password.chars().count() < 8 || password.len() > 1024 {
        return Err(ApiError::BadRequest(
            "password: at least 8 characters".into(),
        ));
    }
    let password = password.to_string();
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::Forbidden(e.to_string()))?;
    Ok(UserRow {
        id: crate::auth::random_secret()[..32].to_string(),
        username: username.to_string(),
        password_hash,
        role,
        team,
        created_at: crate::time::rfc3339_now(),
    })
}
