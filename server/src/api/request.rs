//! What handlers take from requests (JSON bodies, queries, signals) and how they answer an
//! audited action.

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use serde::Deserialize;

use super::{Action, ApiError, AppState, Outcome};
use crate::auth::Principal;

type ApiResult<T> = Result<T, ApiError>;

/// A JSON request body, whatever its content type says (`curl -d` sends a form type).
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

pub fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StopQuery {
    /// Seconds to wait before killing.
    pub t: Option<u32>,
    /// Container routes: the engine (`?engine=NAME`).
    pub engine: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KillQuery {
    /// A signal name (`TERM`, `SIGKILL`) or number; `KILL` by default.
    pub signal: Option<String>,
    /// Container routes: the engine (`?engine=NAME`).
    pub engine: Option<String>,
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
pub fn checked_signal(signal: Option<String>) -> ApiResult<String> {
    let signal = signal.unwrap_or_else(|| "KILL".into());
    if valid_signal(&signal) {
        Ok(signal)
    } else {
        Err(ApiError::BadRequest(format!("invalid signal {signal:?}")))
    }
}

/// Records an action's outcome and answers 204 or the error.
pub async fn audited(
    app: &AppState,
    user: &Principal,
    action: Action,
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
