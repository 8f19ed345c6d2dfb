//! `/api/registries`: credentials for private registries (admins manage them; others see
//! their team's and the global ones, never a password).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use berth_shared::wire::{NewRegistry, RegistryView};

use super::request::json_body;
use super::{Action, ApiError, AppState, Outcome};
use crate::auth::Principal;
use crate::registries::RegistryError;
use crate::store::RegistryRow;

type ApiResult<T> = Result<T, ApiError>;

fn view(row: RegistryRow) -> RegistryView {
    RegistryView {
        id: row.id,
        server: row.server,
        username: row.username,
        team: row.team,
        created_at: row.created_at,
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> ApiError {
        match e {
            RegistryError::Invalid(m) => ApiError::BadRequest(m),
            RegistryError::NotFound(_) => ApiError::NotFound(e.to_string()),
            RegistryError::Store(e) => ApiError::Store(e),
            RegistryError::Sealed => ApiError::Conflict(e.to_string()),
        }
    }
}

#[utoipa::path(
    post, path = "/api/registries", tag = "registries", summary = "Store a registry credential",
    request_body = berth_shared::wire::NewRegistry,
    responses(
        (status = 201, description = "Stored, the password sealed.", body = berth_shared::wire::RegistryView),
        (status = 400, description = "A bad server, username or team."),
        (status = 403, description = "Not an admin."),
    ),
)]
pub async fn create_registry(
    State(app): State<AppState>,
    user: Principal,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<RegistryView>)> {
    if !user.is_admin() {
        return Err(ApiError::Forbidden(
            "registry credentials are for admins to manage".into(),
        ));
    }
    let new: NewRegistry = json_body(&body)?;
    let row = app
        .registries
        .create(
            &new.server,
            &new.username,
            &new.password,
            new.team.as_deref(),
        )
        .await?;
    // The server and the username, never the password.
    let detail = format!(
        "{}@{} for {}",
        row.username,
        row.server,
        row.team.as_deref().unwrap_or("everyone")
    );
    app.audit(&user, Action::RegistryCreate, &row.id, Outcome::Ok, &detail)
        .await;
    Ok((StatusCode::CREATED, Json(view(row))))
}

#[utoipa::path(
    get, path = "/api/registries", tag = "registries", summary = "List registry credentials",
    responses((status = 200, description = "Admins: every credential; others: their team's and the global ones. Never a password.", body = Vec<berth_shared::wire::RegistryView>)),
)]
pub async fn list_registries(
    State(app): State<AppState>,
    user: Principal,
) -> Json<Vec<RegistryView>> {
    let rows = app.registries.list().into_iter().filter(|r| {
        user.is_admin() || r.team.is_none() || r.team.as_deref() == Some(user.team.as_str())
    });
    Json(rows.map(view).collect())
}

#[utoipa::path(
    delete, path = "/api/registries/{id}", tag = "registries", summary = "Delete a registry credential",
    params(("id" = String, Path, description = "The credential's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 403, description = "Not an admin."),
        (status = 404, description = "No such credential."),
    ),
)]
pub async fn delete_registry(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if !user.is_admin() {
        return Err(ApiError::Forbidden(
            "registry credentials are for admins to manage".into(),
        ));
    }
    app.registries.delete(&id).await?;
    app.audit(&user, Action::RegistryDelete, &id, Outcome::Ok, "")
        .await;
    Ok(StatusCode::NO_CONTENT)
}
