//! `GET /api/health`: whether the gateway and its engine answer; and the API's 404.

use axum::Json;
use axum::extract::State;
use berth_shared::wire::{EngineHealth, Health};

use super::{ApiError, AppState};

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
