//! `/api/containers` and `/api/images`: the engine's containers and images as each user may
//! see them (`access`), the actions on them, and `docker attach`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_shared::RunLabels;
use berth_shared::models::{ContainerInspectResponse, ContainerSummary, ImageSummary};
use berth_shared::wire::AttachedRun;
use serde::Deserialize;

use super::access::{
    actionable_container, labels_of, reads_logs, visible_container, visible_containers,
};
use super::request::{KillQuery, StopQuery, audited, checked_signal, query};
use super::{Action, ApiError, AppState, Outcome};
use crate::auth::Principal;

type ApiResult<T> = Result<T, ApiError>;

pub async fn list_containers(
    State(app): State<AppState>,
    user: Principal,
) -> ApiResult<Json<Vec<ContainerSummary>>> {
    let all = app.engine.list_containers(None).await?;
    Ok(Json(visible_containers(&user, all)))
}

pub async fn list_images(
    State(app): State<AppState>,
    _user: Principal,
) -> ApiResult<Json<Vec<ImageSummary>>> {
    Ok(Json(app.engine.list_images().await?))
}

pub async fn inspect_container(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ContainerInspectResponse>> {
    Ok(Json(visible_container(&app, &user, &id).await?))
}

pub async fn stop_container(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
    q: Result<Query<StopQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let q = query(q)?;
    actionable_container(&app, &user, &id).await?;
    let result = app.engine.stop(&id, q.t).await;
    audited(&app, &user, Action::ContainerStop, &id, result).await
}

pub async fn kill_container(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
    q: Result<Query<KillQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let signal = checked_signal(query(q)?.signal)?;
    actionable_container(&app, &user, &id).await?;
    let result = app.engine.kill(&id, &signal).await;
    audited(&app, &user, Action::ContainerKill, &id, result).await
}

#[derive(Deserialize)]
pub struct RemoveQuery {
    #[serde(default)]
    force: bool,
}

pub async fn remove_container(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
    q: Result<Query<RemoveQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let q = query(q)?;
    actionable_container(&app, &user, &id).await?;
    let result = app.engine.remove(&id, q.force).await;
    audited(&app, &user, Action::ContainerRemove, &id, result).await
}

#[derive(Deserialize)]
pub struct LogsQuery {
    tail: Option<u32>,
}

/// A container's logs (stdout and stderr interleaved), at most `tail` lines when given.
pub async fn container_logs(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
    q: Result<Query<LogsQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let container = visible_container(&app, &user, &id).await?;
    reads_logs(&user, &container)?;
    let tty = container.config.and_then(|c| c.tty).unwrap_or(false);
    let frames = app.engine.logs(&id, tty, q.tail).await?;
    let body: Vec<u8> = frames.iter().flat_map(|f| f.data.iter().copied()).collect();
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response())
}

/// `docker attach`: a run that follows a running container, watched like any run. A container
/// that belongs to a run still in progress answers with that run.
pub async fn attach_container(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<AttachedRun>)> {
    let container = actionable_container(&app, &user, &id).await?;
    let labels = labels_of(&container).and_then(RunLabels::from_labels);
    if let Some(run) = labels.as_ref().and_then(|l| app.runs.get(&l.run_id))
        && !run.journal.is_finished()
    {
        return Ok((
            StatusCode::OK,
            Json(AttachedRun {
                run_id: run.id.clone(),
            }),
        ));
    }
    if !container
        .state
        .as_ref()
        .and_then(|s| s.running)
        .unwrap_or(false)
    {
        return Err(ApiError::Conflict(
            "You cannot attach to a stopped container, start it first".into(),
        ));
    }
    let (mut owner, turn) = app.admit_attach(&user, &id).await?;
    // The attach run is as checked as the container it follows: teammates act on it (input,
    // signals) only where they could act on that container.
    let followed = labels.and_then(|l| l.owner).and_then(|o| o.policy);
    owner.policy = owner.policy.filter(|p| followed.as_ref() == Some(p));
    let run = app.runs.attach(&container, app.runs.new_record(&owner));
    drop(turn);
    app.audit(&user, Action::ContainerAttach, &id, Outcome::Ok, &run.id)
        .await;
    Ok((
        StatusCode::CREATED,
        Json(AttachedRun {
            run_id: run.id.clone(),
        }),
    ))
}
