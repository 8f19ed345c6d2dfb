//! REST handlers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_shared::models::{ContainerInspectResponse, ContainerSummary, ImageSummary};
use berth_shared::wire::{EngineHealth, Health, RunCreated, RunInfo, RunRequest, RunState};
use serde::Deserialize;

use super::error::ApiError;
use super::{AppState, plan_for};
use crate::run::Run;

type ApiResult<T> = Result<T, ApiError>;

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

fn run_by_id(app: &AppState, id: &str) -> ApiResult<std::sync::Arc<Run>> {
    app.runs
        .get(id)
        .ok_or_else(|| ApiError::NotFound(format!("no such run: {id}")))
}

/// A JSON request body, whatever its content type says (`curl -d` sends a form type).
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

/// `POST /api/runs`: answers once the container has started (or been created, with
/// `"start": false`). The run goes on in the background, its output captured.
pub async fn create_run(
    State(app): State<AppState>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<RunCreated>)> {
    let req: RunRequest = json_body(&body)?;
    if req.cols.is_some() || req.rows.is_some() {
        return Err(ApiError::BadRequest(
            "cols and rows are for the WebSocket API".into(),
        ));
    }
    let (plan, argv) = plan_for(&req)?;
    let run = app.runs.launch(plan, argv, req.start.unwrap_or(true));
    let info = run.launched().await;
    if info.state == RunState::Failed {
        let failure = run.failure().expect("a failed run records its failure");
        return Err(ApiError::RunFailed(failure));
    }
    Ok((
        StatusCode::CREATED,
        Json(RunCreated {
            run_id: run.id.clone(),
            container_id: info.container_id.unwrap_or_default(),
            warnings: info.warnings,
        }),
    ))
}

pub async fn list_runs(State(app): State<AppState>) -> Json<Vec<RunInfo>> {
    Json(app.runs.list().iter().map(|r| r.info()).collect())
}

pub async fn get_run(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<RunInfo>> {
    Ok(Json(run_by_id(&app, &id)?.info()))
}

/// The captured output, stdout and stderr interleaved as produced. `X-Berth-Output-Dropped`
/// says how many bytes before it were no longer retained.
pub async fn run_output(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let run = run_by_id(&app, &id)?;
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
    Path(id): Path<String>,
    query: Result<Query<StopQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let container = container_of(&*run_by_id(&app, &id)?)?;
    app.engine.stop(&container, q.t).await?;
    Ok(StatusCode::NO_CONTENT)
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

pub async fn kill_run(
    State(app): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<KillQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let signal = checked_signal(q.signal)?;
    let container = container_of(&*run_by_id(&app, &id)?)?;
    app.engine.kill(&container, &signal).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes the run's container (forcibly, with its anonymous volumes) and forgets the run.
pub async fn delete_run(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let run = run_by_id(&app, &id)?;
    if let Some(container) = run.container_id() {
        match app.engine.remove(&container, true).await {
            // Already gone (--rm, or removed by hand): nothing left to do.
            Err(e) if e.status() == Some(404) => {}
            other => other?,
        }
    }
    app.runs.forget(&id);
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_containers(
    State(app): State<AppState>,
) -> ApiResult<Json<Vec<ContainerSummary>>> {
    Ok(Json(app.engine.list_containers(None).await?))
}

pub async fn list_images(State(app): State<AppState>) -> ApiResult<Json<Vec<ImageSummary>>> {
    Ok(Json(app.engine.list_images().await?))
}

pub async fn inspect_container(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ContainerInspectResponse>> {
    Ok(Json(app.engine.inspect(&id).await?))
}

pub async fn stop_container(
    State(app): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<StopQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    app.engine.stop(&id, q.t).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn kill_container(
    State(app): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<KillQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    app.engine.kill(&id, &checked_signal(q.signal)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct RemoveQuery {
    #[serde(default)]
    force: bool,
}

pub async fn remove_container(
    State(app): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<RemoveQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    app.engine.remove(&id, q.force).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct LogsQuery {
    tail: Option<u32>,
}

/// A container's logs (stdout and stderr interleaved), at most `tail` lines when given.
pub async fn container_logs(
    State(app): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let tty = app
        .engine
        .inspect(&id)
        .await?
        .config
        .and_then(|c| c.tty)
        .unwrap_or(false);
    let frames = app.engine.logs(&id, tty, q.tail).await?;
    let body: Vec<u8> = frames.iter().flat_map(|f| f.data.iter().copied()).collect();
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response())
}

/// `docker attach`: a run that follows a running container, watched like any run. A container
/// that belongs to a run still in progress answers with that run.
pub async fn attach_container(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<AttachedRun>)> {
    let container = app.engine.inspect(&id).await?;
    let label = container
        .config
        .as_ref()
        .and_then(|c| c.labels.as_ref())
        .and_then(|l| l.get(berth_shared::LABEL_RUN_ID));
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
    let run = app.runs.attach(&container);
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
