//! `/api/templates` and `/api/sessions`: demo environments (docs/API.md, "Demo environments").
//! Templates are admins'; their sessions are visitors', guests without an account included.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_shared::wire::{
    Extended, SessionInfo, SessionRequest, Template, TemplateAccess, TemplateRequest,
};
use serde::Deserialize;

use super::auth::{Caller, address_of};
use super::request::{json_body, query};
use super::{ApiError, AppState};
use crate::auth::{GUEST_COOKIE, GUEST_SECONDS, Principal, guest_principal, random_secret};
use crate::demo::{Opened, StoredTemplate, Visitor};
use crate::time::rfc3339_at;

type ApiResult<T> = Result<T, ApiError>;

/// Whether `caller` may open sessions on (and see) `template`: public ones anyone, the others
/// signed-in users.
fn may_open(caller: &Caller, template: &StoredTemplate) -> bool {
    template.is_public() || matches!(caller, Caller::User(_))
}

fn admin_only(user: &Principal) -> ApiResult<()> {
    if user.is_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "templates are for admins to manage".into(),
        ))
    }
}

#[utoipa::path(
    get, path = "/api/templates", tag = "demo", summary = "List demo templates",
    security((), ("bearer" = []), ("session" = []), ("guest" = [])),
    responses((status = 200, description = "The templates you may open: public ones for anyone, all for signed-in users.", body = Vec<berth_shared::wire::Template>)),
)]
pub async fn list_templates(State(app): State<AppState>, caller: Caller) -> Json<Vec<Template>> {
    Json(app.demo.views(|t| may_open(&caller, t)))
}

#[utoipa::path(
    get, path = "/api/templates/{name}", tag = "demo", summary = "Describe a demo template",
    security((), ("bearer" = []), ("session" = []), ("guest" = [])),
    params(("name" = String, Path, description = "The template's name."),),
    responses((status = 200, description = "The template.", body = berth_shared::wire::Template), (status = 404, description = "No such template (or not one you may open).")),
)]
pub async fn get_template(
    State(app): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Template>> {
    app.demo
        .template(&name)
        .filter(|t| may_open(&caller, t))
        .and_then(|_| app.demo.view(&name))
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no such template: {name}")))
}

#[utoipa::path(
    post, path = "/api/templates", tag = "demo", summary = "Create a demo template",
    request_body = berth_shared::wire::TemplateRequest,
    responses(
        (status = 201, description = "Created; its pool is being filled.", body = berth_shared::wire::Template),
        (status = 400, description = "A bad template, or one the policy refuses."),
        (status = 403, description = "Not an admin."),
        (status = 409, description = "The name is taken."),
    ),
)]
pub async fn create_template(
    State(app): State<AppState>,
    user: Principal,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Template>)> {
    admin_only(&user)?;
    let req: TemplateRequest = json_body(&body)?;
    let created = app.create_template(&user, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(
    put, path = "/api/templates/{name}", tag = "demo", summary = "Replace a demo template",
    params(("name" = String, Path, description = "The template's name."),),
    request_body = berth_shared::wire::TemplateRequest,
    responses(
        (status = 200, description = "Replaced; running sessions keep their terms, the pool is rebuilt.", body = berth_shared::wire::Template),
        (status = 400, description = "A bad template."),
        (status = 403, description = "Not an admin."),
        (status = 404, description = "No such template."),
    ),
)]
pub async fn put_template(
    State(app): State<AppState>,
    user: Principal,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Template>> {
    admin_only(&user)?;
    let req: TemplateRequest = json_body(&body)?;
    Ok(Json(app.update_template(&user, &name, req).await?))
}

#[utoipa::path(
    delete, path = "/api/templates/{name}", tag = "demo", summary = "Delete a demo template",
    params(("name" = String, Path, description = "The template's name."),),
    responses(
        (status = 204, description = "Deleted: its sessions end, its pool is drained."),
        (status = 403, description = "Not an admin."),
        (status = 404, description = "No such template."),
    ),
)]
pub async fn delete_template(
    State(app): State<AppState>,
    user: Principal,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    admin_only(&user)?;
    app.delete_template(&user, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/templates/{name}/sessions`: 201 running, 202 queued. An anonymous visitor of a
/// public template becomes a guest here (the cookie comes with the answer).
#[utoipa::path(
    post, path = "/api/templates/{name}/sessions", tag = "demo", summary = "Open a demo session",
    security((), ("bearer" = []), ("session" = []), ("guest" = [])),
    params(("name" = String, Path, description = "The template's name."),),
    request_body(content = Option<berth_shared::wire::SessionRequest>, description = "Optional: the visitor's terminal size."),
    responses(
        (status = 201, description = "Running: its terminal is `/api/runs/{run_id}/ws`. An anonymous visitor also gets the `berth_guest` cookie.", body = berth_shared::wire::SessionInfo,
            headers(("set-cookie" = String, description = "`berth_guest=…`, for a new guest"))),
        (status = 202, description = "Queued: poll `/api/sessions/{id}` at least every 30 s.", body = berth_shared::wire::SessionInfo),
        (status = 401, description = "A template for signed-in users, and no credentials."),
        (status = 404, description = "No such template."),
        (status = 409, description = "You have a session on it already (`session_id`)."),
        (status = 429, description = "Too many sessions from your address."),
        (status = 503, description = "The queue is full.", headers(("retry-after" = u32))),
    ),
)]
pub async fn open_session(
    State(app): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let template = app.demo.template(&name).filter(|t| may_open(&caller, t));
    let Some(template) = template else {
        return Err(match (&caller, app.demo.template(&name)) {
            (Caller::Nobody { .. } | Caller::Guest(_), Some(t))
                if t.request.access == TemplateAccess::Users =>
            {
                ApiError::Auth(crate::auth::AuthError::Missing)
            }
            _ => ApiError::NotFound(format!("no such template: {name}")),
        });
    };
    let size: SessionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        SessionRequest::default()
    } else {
        json_body(&body)?
    };
    let mut new_guest = None;
    let principal = match caller {
        Caller::User(p) | Caller::Guest(p) => p,
        Caller::Nobody { remote } => {
            let secret = random_secret();
            let guest = guest_principal(&secret, remote);
            new_guest = Some(secret);
            guest
        }
    };
    let visitor = Visitor {
        owner: principal.owner(None),
        guest: principal.role == berth_shared::wire::Role::Guest,
        admin: principal.is_admin(),
        address: address_of(&principal.remote),
    };
    let opened = app
        .open_session(template.name(), visitor, size.cols, size.rows)
        .await?;
    let (status, info) = match opened {
        Opened::Running(info) => (StatusCode::CREATED, info),
        Opened::Queued(info) => (StatusCode::ACCEPTED, info),
    };
    let mut resp = (status, Json(info)).into_response();
    if let Some(secret) = new_guest {
        let secure = if app.public_https { "; Secure" } else { "" };
        let cookie = format!(
            "{GUEST_COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/; Max-Age={GUEST_SECONDS}{secure}"
        );
        resp.headers_mut().insert(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).expect("a valid cookie"),
        );
    }
    Ok(resp)
}

/// The session `id` if `caller` is its visitor or an admin; others' are "not found".
async fn own_session(
    app: &AppState,
    caller: &Caller,
    id: &str,
    with_visitor: bool,
) -> ApiResult<SessionInfo> {
    let not_found = || ApiError::NotFound(format!("no such session: {id}"));
    let principal = caller.principal().ok_or_else(not_found)?;
    let (info, visitor) = app
        .demo
        .session(id, with_visitor)
        .await
        .ok_or_else(not_found)?;
    if principal.is_admin() || visitor.user_id == principal.user_id {
        Ok(info)
    } else {
        Err(not_found())
    }
}

#[utoipa::path(
    get, path = "/api/sessions/{id}", tag = "demo", summary = "Describe a demo session",
    security((), ("bearer" = []), ("session" = []), ("guest" = [])),
    params(("id" = String, Path, description = "The session's id."),),
    responses((status = 200, description = "The session.", body = berth_shared::wire::SessionInfo), (status = 404, description = "No such session of yours.")),
)]
pub async fn get_session(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionInfo>> {
    let admin = caller.principal().is_some_and(Principal::is_admin);
    Ok(Json(own_session(&app, &caller, &id, admin).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionsQuery {
    /// Only this template's.
    template: Option<String>,
}

#[utoipa::path(
    get, path = "/api/sessions", tag = "demo", summary = "List demo sessions",
    params(SessionsQuery),
    responses(
        (status = 200, description = "The sessions, newest first, with their visitors.", body = Vec<berth_shared::wire::SessionInfo>),
        (status = 403, description = "Not an admin."),
    ),
)]
pub async fn list_sessions(
    State(app): State<AppState>,
    user: Principal,
    q: Result<Query<SessionsQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<SessionInfo>>> {
    if !user.is_admin() {
        return Err(ApiError::Forbidden(
            "the list of sessions is for admins".into(),
        ));
    }
    let q = query(q)?;
    Ok(Json(app.demo.sessions(q.template.as_deref()).await))
}

#[utoipa::path(
    post, path = "/api/sessions/{id}/extend", tag = "demo", summary = "Extend a demo session",
    security((), ("bearer" = []), ("session" = []), ("guest" = [])),
    params(("id" = String, Path, description = "The session's id."),),
    responses(
        (status = 200, description = "Its new end: now + `ttl_seconds`, at most its start + `max_ttl_seconds`.", body = berth_shared::wire::Extended),
        (status = 404, description = "No such session of yours."),
        (status = 409, description = "Not running, or already at its longest."),
    ),
)]
pub async fn extend_session(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Extended>> {
    own_session(&app, &caller, &id, false).await?;
    let actor = caller.principal().map_or("-", |p| p.username.as_str());
    let expires = app.extend_session(&id, actor).await?;
    Ok(Json(Extended {
        expires_at: rfc3339_at(expires),
    }))
}

#[utoipa::path(
    delete, path = "/api/sessions/{id}", tag = "demo", summary = "End a demo session",
    security((), ("bearer" = []), ("session" = []), ("guest" = [])),
    params(("id" = String, Path, description = "The session's id."),),
    responses((status = 204, description = "Ended; its container is removed."), (status = 404, description = "No such session of yours.")),
)]
pub async fn delete_session(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    own_session(&app, &caller, &id, false).await?;
    app.end_session(&id, berth_shared::wire::EndedReason::Ended)
        .await;
    Ok(StatusCode::NO_CONTENT)
}
