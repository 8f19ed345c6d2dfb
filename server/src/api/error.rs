//! Every API error, mapped once to an HTTP status and the `{"error":{…}}` body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_shared::wire::{ApiError as Body, ApiErrorBody};

use crate::admission::Refusal;
use crate::auth::AuthError;
use crate::demo::{SessionError, TemplateError};
use crate::engine::EngineError;
use crate::policy::Denial;
use crate::run::{ActionError, Failure};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// No engine can take a run now.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A run refused by the policy: 403 on REST, an `error` event (125) on the WebSocket.
    #[error(transparent)]
    Denied(#[from] Denial),
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A run that failed before its command ran.
    #[error("{}", .0.message)]
    RunFailed(Failure),
    /// 409 naming the visitor's session on the template.
    #[error("{message}")]
    SessionExists { message: String, session_id: String },
    /// 503 with `Retry-After`: a demo queue is full.
    #[error("{0}")]
    QueueFull(String),
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> ApiError {
        let message = e.to_string();
        match e {
            SessionError::NoTemplate(_) | SessionError::NoSession(_) => ApiError::NotFound(message),
            SessionError::Exists(session_id) => ApiError::SessionExists {
                message,
                session_id,
            },
            SessionError::PerAddress(_) => ApiError::TooManyRequests(message),
            SessionError::QueueFull(_) => ApiError::QueueFull(message),
            SessionError::NotRunning(_) | SessionError::AtCap(_) => ApiError::Conflict(message),
            SessionError::Refused(r) => r.into(),
            SessionError::Failed(f) => ApiError::RunFailed(f),
        }
    }
}

impl From<TemplateError> for ApiError {
    fn from(e: TemplateError) -> ApiError {
        let message = e.to_string();
        match e {
            TemplateError::Invalid(_) | TemplateError::Pull { .. } => ApiError::BadRequest(message),
            // A template the policy refuses is a bad template, not a forbidden admin.
            TemplateError::Refused(Refusal::Denied(_) | Refusal::MayNotRun(_)) => {
                ApiError::BadRequest(message)
            }
            TemplateError::Refused(r) => r.into(),
            TemplateError::Exists(_) => ApiError::Conflict(message),
            TemplateError::NotFound(_) => ApiError::NotFound(message),
            TemplateError::Store(e) => ApiError::Store(e),
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> ApiError {
        match r {
            Refusal::Invalid(m) => ApiError::BadRequest(m),
            Refusal::MayNotRun(e) => ApiError::Forbidden(e.to_string()),
            Refusal::Denied(d) => ApiError::Denied(d),
            Refusal::Limit(m) => ApiError::TooManyRequests(m),
            Refusal::Engine(e) => ApiError::Engine(e),
            Refusal::NoEngine(m) => ApiError::Unavailable(m),
        }
    }
}

impl From<ActionError> for ApiError {
    fn from(e: ActionError) -> ApiError {
        match e {
            ActionError::NoContainer(_) => ApiError::Conflict(e.to_string()),
            ActionError::Engine(e) => ApiError::Engine(e),
        }
    }
}

/// The status for a daemon refusal: its own 4xx passes through, anything else is a bad gateway.
fn daemon_status(status: Option<u16>) -> StatusCode {
    match status {
        Some(s @ (400 | 404 | 409)) => StatusCode::from_u16(s).expect("valid status"),
        _ => StatusCode::BAD_GATEWAY,
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) | ApiError::SessionExists { .. } => StatusCode::CONFLICT,
            ApiError::Auth(AuthError::Store(_)) | ApiError::Store(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ApiError::Auth(AuthError::ForeignOrigin(_)) => StatusCode::FORBIDDEN,
            ApiError::Auth(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::Denied(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::QueueFull(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Engine(EngineError::Daemon { status, .. }) => daemon_status(Some(*status)),
            ApiError::Engine(_) => StatusCode::BAD_GATEWAY,
            ApiError::RunFailed(f) if f.unreachable => StatusCode::BAD_GATEWAY,
            ApiError::RunFailed(f) => daemon_status(f.daemon_status),
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::Engine(e) => e.message(),
            // Details of a storage failure stay in the log.
            ApiError::Store(_) | ApiError::Auth(AuthError::Store(_)) => {
                "internal storage error".into()
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!("{self}");
        }
        let exit_code = match &self {
            ApiError::RunFailed(f) => Some(f.code),
            _ => None,
        };
        let session_id = match &self {
            ApiError::SessionExists { session_id, .. } => Some(session_id.clone()),
            _ => None,
        };
        let body = Body {
            error: ApiErrorBody {
                code: status.as_u16(),
                message: self.message(),
                exit_code,
                session_id,
            },
        };
        let mut resp = (status, Json(body)).into_response();
        if let ApiError::QueueFull(_) = self {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("30"),
            );
        }
        resp
    }
}
