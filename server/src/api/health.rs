//! `GET /api/health` (whether the gateway and its first engine answer, and every engine's
//! last state), `GET /api/ready` (whether it can serve), `GET /api/engines` (the fleet, its health and load), and the API's 404.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use berth_shared::wire::{EngineHealth, EngineState, EngineView, Health, Readiness};

use super::{ApiError, AppState};
use crate::auth::Principal;

#[utoipa::path(
    get, path = "/api/health", tag = "health", summary = "Liveness and the engines' health", security(()),
    responses((status = 200, description = "The gateway answers: the first engine asked now, every engine as last looked at.", body = berth_shared::wire::Health)),
)]
pub async fn health(State(app): State<AppState>) -> Json<Health> {
    let first = &app.engines.first().engine;
    let engine = match first.ping().await {
        Ok(ping) => EngineHealth {
            reachable: true,
            api_version: Some(ping.api_version),
            version: first.version().await.ok().and_then(|v| v.version),
            error: None,
        },
        Err(e) => EngineHealth {
            reachable: false,
            api_version: None,
            version: None,
            error: Some(e.to_string()),
        },
    };
    let engines = app
        .engines
        .all()
        .iter()
        .map(|m| EngineState {
            name: m.name.clone(),
            reachable: m.health().reachable,
        })
        .collect();
    Json(Health {
        status: "ok".into(),
        engine,
        engines,
    })
}

/// Every engine as the background checks last found it (never waiting on one now), with the
/// Berth runs in progress on it; how Berth reaches it is for admins.
#[utoipa::path(
    get, path = "/api/engines", tag = "health", summary = "The engines, their health and load",
    responses((status = 200, description = "Every engine, its health and load (`host` for admins only).", body = Vec<berth_shared::wire::EngineView>)),
)]
pub async fn engines(State(app): State<AppState>, user: Principal) -> Json<Vec<EngineView>> {
    let views = app.engines.all().iter().map(|m| {
        let health = m.health();
        EngineView {
            name: m.name.clone(),
            host: user.is_admin().then(|| m.host.clone()),
            reachable: health.reachable,
            version: health.version,
            api_version: health.api_version,
            os: health.os,
            arch: health.arch,
            kind: health.kind,
            labels: m.labels.clone(),
            max_runs: m.max_runs,
            runs: app.runs.on_engine(&m.name) as u64,
            containers_running: health.containers_running,
            error: health.error,
        }
    });
    Json(views.collect())
}

pub async fn no_such_route() -> ApiError {
    ApiError::NotFound("no such API route".into())
}

/// `GET /api/ready`: 200 when the store answers and the default engine does, 503 otherwise
/// (`/api/health` is the liveness answer). No credentials: it tells nothing but that.
#[utoipa::path(
    get, path = "/api/ready", tag = "health", summary = "Readiness: the store and the default engine", security(()),
    responses(
        (status = 200, description = "The store and the default engine answer.", body = berth_shared::wire::Readiness),
        (status = 503, description = "One of them does not.", body = berth_shared::wire::Readiness),
    ),
)]
pub async fn ready(State(app): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let first = &app.engines.first().engine;
    let engine = tokio::time::timeout(std::time::Duration::from_secs(2), first.ping()).await;
    let engine = match engine {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.message()),
        Err(_) => Err("no answer within 2 s".to_string()),
    };
    // A disk that refuses writes (read-only, full) is reported for as long as it does: runs go
    // on, and their records wait in memory (`store/writes.rs`). Logged by the store, once.
    let store = match app.store.write_failure() {
        Some(f) => Err(format!(
            "cannot write since {}: {}; {} writes wait to be written{}",
            f.since,
            f.error,
            f.waiting,
            match f.lost {
                0 => String::new(),
                n => format!(", {n} lost"),
            }
        )),
        None => app.store.user_count().await.map(|_| ()).map_err(|e| {
            tracing::warn!("readiness: the store does not answer: {e}");
            "the store does not answer".to_string()
        }),
    };
    let ready = engine.is_ok() && store.is_ok();
    let said = |r: &Result<(), String>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => e.clone(),
    };
    let body = Readiness {
        engine: said(&engine),
        ready,
        store: said(&store),
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
