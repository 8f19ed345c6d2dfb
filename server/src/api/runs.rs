//! `/api/runs`: start a run, list and read runs, stop, kill and remove them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_shared::wire::{RunCreated, RunInfo, RunRequest, RunState};

use super::access::{actionable_run, visible_run};
use super::auth::UserOrGuest;
use super::request::{KillQuery, StopQuery, audited, checked_signal, json_body, query};
use super::{Action, ApiError, AppState, Outcome};
use crate::auth::Principal;

type ApiResult<T> = Result<T, ApiError>;

/// Runs listed by `GET /api/runs`, newest first.
const HISTORY_LIMIT: u32 = 1000;

/// `POST /api/runs`: answers once the container has started (or been created, with
/// `"start": false`). The run goes on in the background, its output captured.
#[utoipa::path(
    post, path = "/api/runs", tag = "runs", summary = "Start a run",
    request_body = berth_shared::wire::RunRequest,
    responses(
        (status = 201, description = "The container has started (or been created, with `\"start\": false`); the run goes on.", body = berth_shared::wire::RunCreated),
        (status = 400, description = "Bad input: invalid JSON, bad `docker run` arguments."),
        (status = 403, description = "Not allowed: the role, or a policy rule (the message names it)."),
        (status = 404, description = "A daemon 404, e.g. no such image with `--pull never` (`exit_code` 125)."),
        (status = 409, description = "A daemon 409, e.g. the container name is in use (`exit_code` 125)."),
        (status = 429, description = "Too many runs at once or per minute for the role."),
        (status = 502, description = "The engine is unreachable or failed."),
        (status = 503, description = "No engine can take the run now."),
    ),
)]
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
    let admitted = app.admit(&user, &req).await?;
    let run = app.launch(admitted, req.start.unwrap_or(true));
    let info = run.launched().await;
    if info.state == RunState::Failed {
        let failure = run.failure().expect("a failed run records its failure");
        app.audit(
            &user,
            Action::RunCreate,
            &run.id,
            Outcome::Failed,
            &failure.message,
        )
        .await;
        return Err(ApiError::RunFailed(failure));
    }
    app.audit(&user, Action::RunCreate, &run.id, Outcome::Ok, &info.image)
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

#[utoipa::path(
    get, path = "/api/runs", tag = "runs", summary = "List runs",
    responses((status = 200, description = "The runs you may see, newest first (at most 1000).", body = Vec<berth_shared::wire::RunInfo>)),
)]
pub async fn list_runs(State(app): State<AppState>, user: Principal) -> Json<Vec<RunInfo>> {
    let runs = app.runs.history(HISTORY_LIMIT).await;
    Json(runs.into_iter().filter(|i| user.sees(&i.owner())).collect())
}

#[utoipa::path(
    get, path = "/api/runs/{run_id}", tag = "runs", summary = "Describe a run",
    security(("bearer" = []), ("session" = []), ("guest" = [])),
    params(("run_id" = String, Path, description = "The run's id."),),
    responses(
        (status = 200, description = "The run.", body = berth_shared::wire::RunInfo),
        (status = 404, description = "No such run (or not one you may see)."),
    ),
)]
pub async fn get_run(
    State(app): State<AppState>,
    UserOrGuest(user): UserOrGuest,
    Path(id): Path<String>,
) -> ApiResult<Json<RunInfo>> {
    Ok(Json(visible_run(&app, &user, &id).await?.info()))
}

/// The captured output, stdout and stderr interleaved as produced. `X-Berth-Output-Dropped`
/// says how many bytes before it were no longer retained.
#[utoipa::path(
    get, path = "/api/runs/{run_id}/output", tag = "runs", summary = "A run's retained output",
    security(("bearer" = []), ("session" = []), ("guest" = [])),
    params(("run_id" = String, Path, description = "The run's id."),),
    responses(
        (status = 200, description = "The retained output bytes, stdout and stderr interleaved as produced.",
            body = String, content_type = "application/octet-stream",
            headers(("x-berth-output-dropped" = u64, description = "Bytes dropped before these."))),
        (status = 404, description = "No such run."),
    ),
)]
pub async fn run_output(
    State(app): State<AppState>,
    UserOrGuest(user): UserOrGuest,
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

#[utoipa::path(
    post, path = "/api/runs/{run_id}/stop", tag = "runs", summary = "Stop a run's container",
    params(("run_id" = String, Path, description = "The run's id."), ("t" = Option<u32>, Query, description = "Seconds to wait before killing (the container's stop timeout by default).")),
    responses(
        (status = 204, description = "Stopped."),
        (status = 403, description = "A run you may watch but not act on."),
        (status = 404, description = "No such run."),
        (status = 409, description = "The run has no container yet."),
    ),
)]
pub async fn stop_run(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
    q: Result<Query<StopQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let q = query(q)?;
    let run = actionable_run(&app, &user, &id).await?;
    let result = run.stop(q.t).await;
    audited(&app, &user, Action::RunStop, &id, result).await
}

#[utoipa::path(
    post, path = "/api/runs/{run_id}/kill", tag = "runs", summary = "Signal a run's container",
    params(("run_id" = String, Path, description = "The run's id."), ("signal" = Option<String>, Query, description = "A signal name (`TERM`, `SIGKILL`) or number; `KILL` by default.")),
    responses(
        (status = 204, description = "Signalled."),
        (status = 400, description = "A bad signal."),
        (status = 403, description = "A run you may watch but not act on."),
        (status = 404, description = "No such run."),
        (status = 409, description = "The run has no container yet."),
    ),
)]
pub async fn kill_run(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
    q: Result<Query<KillQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let signal = checked_signal(query(q)?.signal)?;
    let run = actionable_run(&app, &user, &id).await?;
    let result = run.kill(&signal).await;
    audited(&app, &user, Action::RunKill, &id, result).await
}

/// Removes the run's container (forcibly, with its anonymous volumes) and forgets the run.
#[utoipa::path(
    delete, path = "/api/runs/{run_id}", tag = "runs", summary = "Remove a run and its container",
    params(("run_id" = String, Path, description = "The run's id."),),
    responses(
        (status = 204, description = "Its container removed (forced, with anonymous volumes), the run forgotten."),
        (status = 403, description = "A run you may watch but not act on."),
        (status = 404, description = "No such run."),
    ),
)]
pub async fn delete_run(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let run = actionable_run(&app, &user, &id).await?;
    let result = app.runs.remove(&run).await;
    audited(&app, &user, Action::RunDelete, &id, result).await
}
