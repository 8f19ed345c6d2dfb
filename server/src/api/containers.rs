//! `/api/containers` and `/api/images`: every engine's containers and images as each user may
//! see them (`access`), each with its engine; the actions on them, and `docker attach`. A
//! container is found on the engine `?engine=` names, or on the one engine that has it.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_shared::RunLabels;
use berth_shared::models::{ContainerInspectResponse, ContainerSummary, ImageSummary};
use berth_shared::wire::AttachedRun;
use serde::Deserialize;

use std::sync::Arc;
use std::time::Duration;

use berth_shared::wire::OnEngine;

use super::access::{
    Found, actionable_container, engine_named, labels_of, reads_logs, visible_container,
    visible_containers,
};
use super::request::{KillQuery, StopQuery, audited, checked_signal, query};
use super::{Action, ApiError, AppState, Outcome};
use crate::auth::Principal;
use crate::engine::{Engine, EngineError};
use crate::engines::Member;

type ApiResult<T> = Result<T, ApiError>;

/// `?engine=NAME`: one engine.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EngineQuery {
    /// The engine (`/api/engines`); without it, every engine (a container: the one that has it).
    pub(super) engine: Option<String>,
}

/// How long a listing waits for one engine: one that does not answer is left out (and shows
/// as unreachable in `/api/engines`), never waited on.
const LISTING_TIMEOUT: Duration = Duration::from_secs(2);

/// `list` of each engine `q` selects (all reachable ones without `?engine=`), each item with
/// its engine's name. With one engine, its failure is the answer.
async fn on_engines<T, F>(app: &AppState, q: &EngineQuery, list: F) -> ApiResult<Vec<OnEngine<T>>>
where
    F: AsyncFn(&Engine) -> Result<Vec<T>, EngineError>,
{
    let engines: Vec<Arc<Member>> = match &q.engine {
        Some(name) => vec![engine_named(app, name)?],
        None => app.engines.all().to_vec(),
    };
    let single = engines.len() == 1;
    let mut all = Vec::new();
    for member in engines.iter().filter(|m| single || m.is_reachable()) {
        let listed = match tokio::time::timeout(LISTING_TIMEOUT, list(&member.engine)).await {
            Ok(listed) => listed,
            Err(_) if !single => continue,
            Err(_) => {
                return Err(ApiError::Engine(EngineError::Stream(format!(
                    "engine {} did not answer within {LISTING_TIMEOUT:?}",
                    member.name
                ))));
            }
        };
        match listed {
            Ok(items) => all.extend(items.into_iter().map(|item| OnEngine {
                item,
                engine: member.name.clone(),
            })),
            Err(e) if single => return Err(e.into()),
            Err(e) => tracing::debug!(engine = %member.name, "listing: {}", e.message()),
        }
    }
    Ok(all)
}

#[utoipa::path(
    get, path = "/api/containers", tag = "containers", summary = "List the engines' containers",
    params(EngineQuery),
    responses((status = 200, description = "The containers you may see, of every engine that answers within 2 s (or of one).", body = Vec<super::openapi::ContainerOnEngine>)),
)]
pub async fn list_containers(
    State(app): State<AppState>,
    user: Principal,
    q: Result<Query<EngineQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<OnEngine<ContainerSummary>>>> {
    let q = query(q)?;
    let all = on_engines(&app, &q, async |e: &Engine| e.list_containers(None).await).await?;
    Ok(Json(visible_containers(&app, &user, all)))
}

/// Every engine's images; for a role with rules, those it may run, with the tags it may run.
#[utoipa::path(
    get, path = "/api/images", tag = "containers", summary = "List the engines' images",
    params(EngineQuery),
    responses((status = 200, description = "The images (for a role with rules: those it may run, with those tags).", body = Vec<super::openapi::ImageOnEngine>)),
)]
pub async fn list_images(
    State(app): State<AppState>,
    user: Principal,
    q: Result<Query<EngineQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<OnEngine<ImageSummary>>>> {
    let q = query(q)?;
    let all = on_engines(&app, &q, async |e: &Engine| e.list_images().await).await?;
    let rules = app.policy.for_user(user.role, &user.team);
    if !rules.checks_requests() {
        return Ok(Json(all));
    }
    let runnable = all.into_iter().filter_map(|mut i| {
        i.item.repo_tags.retain(|t| rules.lists_image(t));
        (!i.item.repo_tags.is_empty()).then_some(i)
    });
    Ok(Json(runnable.collect()))
}

#[utoipa::path(
    get, path = "/api/containers/{id}", tag = "containers", summary = "Inspect a container",
    params(("id" = String, Path, description = "A container's ID, ID prefix or name."), EngineQuery),
    responses(
        (status = 200, description = "The inspect document.", body = super::openapi::InspectOnEngine),
        (status = 404, description = "No such container (or not one you may see)."),
        (status = 409, description = "Found on several engines: name one with `?engine=`."),
    ),
)]
pub async fn inspect_container(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
    q: Result<Query<EngineQuery>, QueryRejection>,
) -> ApiResult<Json<OnEngine<ContainerInspectResponse>>> {
    let q = query(q)?;
    let found = visible_container(&app, &user, &id, q.engine.as_deref()).await?;
    Ok(Json(OnEngine {
        item: found.container,
        engine: found.engine.name.clone(),
    }))
}

#[utoipa::path(
    post, path = "/api/containers/{id}/stop", tag = "containers", summary = "Stop a container",
    params(("id" = String, Path, description = "A container's ID, ID prefix or name."), StopQuery),
    responses((status = 204, description = "Stopped."), (status = 404, description = "No such container.")),
)]
pub async fn stop_container(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
    q: Result<Query<StopQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let q = query(q)?;
    let found = actionable_container(&app, &user, &id, q.engine.as_deref()).await?;
    let result = found.engine.engine.stop(&id, q.t).await;
    audited(&app, &user, Action::ContainerStop, &id, result).await
}

#[utoipa::path(
    post, path = "/api/containers/{id}/kill", tag = "containers", summary = "Signal a container",
    params(("id" = String, Path, description = "A container's ID, ID prefix or name."), KillQuery),
    responses((status = 204, description = "Signalled."), (status = 400, description = "A bad signal."), (status = 404, description = "No such container.")),
)]
pub async fn kill_container(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
    q: Result<Query<KillQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let q = query(q)?;
    let signal = checked_signal(q.signal)?;
    let found = actionable_container(&app, &user, &id, q.engine.as_deref()).await?;
    let result = found.engine.engine.kill(&id, &signal).await;
    audited(&app, &user, Action::ContainerKill, &id, result).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RemoveQuery {
    /// Remove it even when running.
    #[serde(default)]
    force: bool,
    /// The engine (`?engine=NAME`).
    engine: Option<String>,
}

#[utoipa::path(
    delete, path = "/api/containers/{id}", tag = "containers", summary = "Remove a container",
    params(("id" = String, Path, description = "A container's ID, ID prefix or name."), RemoveQuery),
    responses(
        (status = 204, description = "Removed."),
        (status = 404, description = "No such container."),
        (status = 409, description = "Running, and no `force`."),
    ),
)]
pub async fn remove_container(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
    q: Result<Query<RemoveQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let q = query(q)?;
    let found = actionable_container(&app, &user, &id, q.engine.as_deref()).await?;
    let result = found.engine.engine.remove(&id, q.force).await;
    audited(&app, &user, Action::ContainerRemove, &id, result).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// At most this many lines, the last ones.
    tail: Option<u32>,
    /// The engine (`?engine=NAME`).
    engine: Option<String>,
}

/// A container's logs (stdout and stderr interleaved), at most `tail` lines when given.
#[utoipa::path(
    get, path = "/api/containers/{id}/logs", tag = "containers", summary = "A container's logs",
    params(("id" = String, Path, description = "A container's ID, ID prefix or name."), LogsQuery),
    responses(
        (status = 200, description = "Its logs so far, stdout and stderr interleaved.", body = String, content_type = "application/octet-stream"),
        (status = 404, description = "No such container."),
    ),
)]
pub async fn container_logs(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
    q: Result<Query<LogsQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let Found { engine, container } =
        visible_container(&app, &user, &id, q.engine.as_deref()).await?;
    reads_logs(&user, &container)?;
    let tty = container.config.and_then(|c| c.tty).unwrap_or(false);
    let frames = engine.engine.logs(&id, tty, q.tail).await?;
    let body: Vec<u8> = frames.iter().flat_map(|f| f.data.iter().copied()).collect();
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response())
}

/// `docker attach`: a run that follows a running container, watched like any run. A container
/// that belongs to a run still in progress answers with that run.
#[utoipa::path(
    post, path = "/api/containers/{id}/attach", tag = "containers", summary = "Attach to a container (`docker attach`)",
    params(("id" = String, Path, description = "A container's ID, ID prefix or name."), EngineQuery),
    responses(
        (status = 201, description = "A new run that follows the container: watch it on `/api/runs/{run_id}/ws`.", body = berth_shared::wire::AttachedRun),
        (status = 200, description = "The container's run, still in progress.", body = berth_shared::wire::AttachedRun),
        (status = 404, description = "No such container."),
        (status = 409, description = "A stopped container."),
    ),
)]
pub async fn attach_container(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
    q: Result<Query<EngineQuery>, QueryRejection>,
) -> ApiResult<(StatusCode, Json<AttachedRun>)> {
    let q = query(q)?;
    let Found { engine, container } =
        actionable_container(&app, &user, &id, q.engine.as_deref()).await?;
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
    let run = app
        .runs
        .attach(&container, app.runs.new_record(&owner), &engine);
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
