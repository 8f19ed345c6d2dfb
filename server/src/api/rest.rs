//! REST handlers. Each takes the authenticated `Principal` and checks what it may see or do:
//! runs and Berth's containers by their owner and team; other containers are read-only for
//! non-admins.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_shared::models::{ContainerInspectResponse, ContainerSummary, ImageSummary};
use berth_shared::wire::{EngineHealth, Health, RunCreated, RunInfo, RunRequest, RunState};
use berth_shared::{LABEL_OWNER, LABEL_RUN_ID, LABEL_TEAM};
use serde::Deserialize;

use super::error::ApiError;
use super::{AppState, Outcome, plan_for};
use crate::auth::Principal;
use crate::run::Run;

type ApiResult<T> = Result<T, ApiError>;

/// Runs listed by `GET /api/runs`, newest first.
const HISTORY_LIMIT: u32 = 1000;

pub async fn health(State(app): State<AppState>) -> Json<Health> {
    let engine = match app.engine.ping().await {
        Ok(ping) => EngineHealth {
            reachable: true,
            api_version: Some(ping.api_version),
            version: app.engine.version().await.ok().and_then(|v| v.version),
            error: None,
        },
        Err(e) => EngineHealth {
            reachable: false,
            api_version: None,
            version: None,
            error: Some(e.to_string()),
        },
    };
    Json(Health {
        status: "ok".into(),
        engine,
    })
}

pub async fn no_such_route() -> ApiError {
    ApiError::NotFound("no such API route".into())
}

/// A JSON request body, whatever its content type says (`curl -d` sends a form type).
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// A run `user` may see; others' runs are "not found", so their ids leak nothing.
pub async fn visible_run(app: &AppState, user: &Principal, id: &str) -> ApiResult<Arc<Run>> {
    app.runs
        .find(id)
        .await
        .filter(|run| {
            let (owner, team) = run.owner();
            user.sees(&owner, &team)
        })
        .ok_or_else(|| ApiError::NotFound(format!("no such run: {id}")))
}

/// A run `user` may act on.
async fn actionable_run(app: &AppState, user: &Principal, id: &str) -> ApiResult<Arc<Run>> {
    let run = visible_run(app, user, id).await?;
    let (owner, team) = run.owner();
    if user.acts_on(&owner, &team) {
        Ok(run)
    } else {
        Err(ApiError::Forbidden(format!(
            "you may watch run {id} but not act on it"
        )))
    }
}

/// `POST /api/runs`: answers once the container has started (or been created, with
/// `"start": false`). The run goes on in the background, its output captured.
pub async fn create_run(
    State(app): State<AppState>,
    user: Principal,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<RunCreated>)> {
    let req: RunRequest = json_body(&body)?;
    if req.cols.is_some() || req.rows.is_some() {
        return Err(ApiError::BadRequest(
            "cols and rows are for the WebSocket API".into(),
        ));
    }
    let (mut plan, argv) = plan_for(&req)?;
    let max_seconds = app.authorize_run(&user, &mut plan).await?;
    let run = app.runs.launch(
        plan,
        argv,
        req.start.unwrap_or(true),
        &(&user).into(),
        max_seconds,
    );
    let info = run.launched().await;
    if info.state == RunState::Failed {
        let failure = run.failure().expect("a failed run records its failure");
        app.audit(
            &user,
            "run.create",
            &run.id,
            Outcome::Failed,
            &failure.message,
        )
        .await;
        return Err(ApiError::RunFailed(failure));
    }
    app.audit(&user, "run.create", &run.id, Outcome::Ok, &info.image)
        .await;
    Ok((
        StatusCode::CREATED,
        Json(RunCreated {
            run_id: run.id.clone(),
            container_id: info.container_id.unwrap_or_default(),
            warnings: info.warnings,
        }),
    ))
}

pub async fn list_runs(State(app): State<AppState>, user: Principal) -> Json<Vec<RunInfo>> {
    let runs = app.runs.history(HISTORY_LIMIT).await;
    Json(
        runs.into_iter()
            .filter(|i| user.sees(&i.owner, &i.team))
            .collect(),
    )
}

pub async fn get_run(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<RunInfo>> {
    Ok(Json(visible_run(&app, &user, &id).await?.info()))
}

/// The captured output, stdout and stderr interleaved as produced. `X-Berth-Output-Dropped`
/// says how many bytes before it were no longer retained.
pub async fn run_output(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let run = visible_run(&app, &user, &id).await?;
    let (dropped, chunks) = run.journal.output();
    let mut body = Vec::with_capacity(chunks.iter().map(|(_, d)| d.len()).sum());
    for (_, data) in &chunks {
        body.extend_from_slice(data);
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::HeaderName::from_static("x-berth-output-dropped"),
                dropped.to_string(),
            ),
        ],
        body,
    )
        .into_response())
}

fn container_of(run: &Run) -> ApiResult<String> {
    run.container_id()
        .ok_or_else(|| ApiError::Conflict(format!("run {} has no container yet", run.id)))
}

#[derive(Deserialize)]
pub struct StopQuery {
    /// Seconds to wait before killing.
    t: Option<u32>,
}

pub async fn stop_run(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
    q: Result<Query<StopQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let q = query(q)?;
    let run = actionable_run(&app, &user, &id).await?;
    let container = container_of(&run)?;
    // A client that stopped reading must not keep the container from stopping.
    run.journal.release_primary();
    let result = app.engine.stop(&container, q.t).await;
    audited(&app, &user, "run.stop", &id, result).await
}

#[derive(Deserialize)]
pub struct KillQuery {
    signal: Option<String>,
}

/// A signal as the Engine API takes it: a name (`TERM`, `SIGTERM`, `SIGRTMIN+3`) or a number.
pub fn valid_signal(signal: &str) -> bool {
    !signal.is_empty()
        && signal.len() <= 16
        && signal
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-')
}

/// The signal to send: `KILL` by default, as `docker kill`.
fn checked_signal(signal: Option<String>) -> ApiResult<String> {
    let signal = signal.unwrap_or_else(|| "KILL".into());
    if valid_signal(&signal) {
        Ok(signal)
    } else {
        Err(ApiError::BadRequest(format!("invalid signal {signal:?}")))
    }
}

/// Records an action's outcome and answers 204 or the error.
async fn audited(
    app: &AppState,
    user: &Principal,
    action: &str,
    target: &str,
    result: Result<(), impl Into<ApiError>>,
) -> ApiResult<StatusCode> {
    let result = result.map_err(Into::into);
    match &result {
        Ok(()) => app.audit(user, action, target, Outcome::Ok, "").await,
        Err(e) => {
            app.audit(user, action, target, Outcome::Failed, &e.message())
                .await
        }
    }
    result.map(|()| StatusCode::NO_CONTENT)
}

pub async fn kill_run(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
    q: Result<Query<KillQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let signal = checked_signal(query(q)?.signal)?;
    let run = actionable_run(&app, &user, &id).await?;
    let container = container_of(&run)?;
    run.journal.release_primary();
    let result = app.engine.kill(&container, &signal).await;
    audited(&app, &user, "run.kill", &id, result).await
}

/// Removes the run's container (forcibly, with its anonymous volumes) and forgets the run.
pub async fn delete_run(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let run = actionable_run(&app, &user, &id).await?;
    run.journal.release_primary();
    let removed = match run.container_id() {
        // Already gone (--rm, or removed by hand) is fine.
        Some(container) => match app.engine.remove(&container, true).await {
            Err(e) if e.status() == Some(404) => Ok(()),
            other => other,
        },
        None => Ok(()),
    };
    if removed.is_ok() {
        app.runs.forget(&id).await;
    }
    audited(&app, &user, "run.delete", &id, removed).await
}

/// Owner and team of a Berth container; `None` for containers Berth did not create.
fn berth_owner(labels: Option<&HashMap<String, String>>) -> Option<(String, String)> {
    let labels = labels?;
    labels.get(LABEL_RUN_ID)?;
    let get = |k| labels.get(k).cloned().unwrap_or_default();
    Some((get(LABEL_OWNER), get(LABEL_TEAM)))
}

/// Whether `user` sees a container: admins all; others their own and their team's Berth
/// containers, and containers Berth did not create (read-only).
fn sees_container(user: &Principal, labels: Option<&HashMap<String, String>>) -> bool {
    match berth_owner(labels) {
        Some((owner, team)) => user.sees(&owner, &team),
        None => true,
    }
}

/// Inspects a container `user` sees; one they do not is 404, as if it did not exist.
async fn visible_container(
    app: &AppState,
    user: &Principal,
    id: &str,
) -> ApiResult<ContainerInspectResponse> {
    let container = app.engine.inspect(id).await?;
    if sees_container(user, labels_of(&container)) {
        Ok(container)
    } else {
        Err(ApiError::NotFound(format!("No such container: {id}")))
    }
}

/// Inspects a container `user` may act on.
async fn actionable_container(
    app: &AppState,
    user: &Principal,
    id: &str,
) -> ApiResult<ContainerInspectResponse> {
    let container = visible_container(app, user, id).await?;
    let allowed = user.is_admin()
        || berth_owner(labels_of(&container)).is_some_and(|(o, t)| user.acts_on(&o, &t));
    if !allowed {
        return Err(ApiError::Forbidden(format!(
            "container {id} is read-only for you"
        )));
    }
    Ok(container)
}

fn labels_of(container: &ContainerInspectResponse) -> Option<&HashMap<String, String>> {
    container.config.as_ref().and_then(|c| c.labels.as_ref())
}

pub async fn list_containers(
    State(app): State<AppState>,
    user: Principal,
) -> ApiResult<Json<Vec<ContainerSummary>>> {
    let all = app.engine.list_containers(None).await?;
    Ok(Json(
        all.into_iter()
            .filter(|c| sees_container(&user, c.labels.as_ref()))
            .collect(),
    ))
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
    audited(&app, &user, "container.stop", &id, result).await
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
    audited(&app, &user, "container.kill", &id, result).await
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
    audited(&app, &user, "container.remove", &id, result).await
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
    let label = labels_of(&container).and_then(|l| l.get(LABEL_RUN_ID));
    if let Some(run) = label.and_then(|run_id| app.runs.get(run_id))
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
    let run = app
        .runs
        .attach(&container, app.runs.record(&(&user).into()));
    app.audit(&user, "container.attach", &id, Outcome::Ok, &run.id)
        .await;
    Ok((
        StatusCode::CREATED,
        Json(AttachedRun {
            run_id: run.id.clone(),
        }),
    ))
}

#[derive(serde::Serialize)]
pub struct AttachedRun {
    run_id: String,
}
