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

pub async fn list_runs(State(app): State<AppState>, user: Principal) -> Json<Vec<RunInfo>> {
    let runs = app.runs.history(HISTORY_LIMIT).await;
    Json(runs.into_iter().filter(|i| user.sees(&i.owner())).collect())
}

pub async fn get_run(
    State(app): State<AppState>,
    UserOrGuest(user): UserOrGuest,
    Path(id): Path<String>,
) -> ApiResult<Json<RunInfo>> {
    Ok(Json(visible_run(&app, &user, &id).await?.info()))
}

/// The captured output, stdout and stderr interleaved as produced. `X-Berth-Output-Dropped`
/// says how many bytes before it were no longer retained.
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
pub async fn delete_run(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let run = actionable_run(&app, &user, &id).await?;
    let result = app.runs.remove(&run).await;
    audited(&app, &user, Action::RunDelete, &id, result).await
}
