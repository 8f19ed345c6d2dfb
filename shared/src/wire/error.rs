//! The body of every API error.

use serde::{Deserialize, Serialize};

/// The body of every API error: `{"error":{"code":N,"message":"…"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    pub error: ApiErrorBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiErrorBody {
    /// The HTTP status.
    pub code: u16,
    pub message: String,
    /// For a failed run: the exit status `docker run` would have given (125, 126, 127).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// A demo visitor's session that stands in the way (409 on opening a second one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}
