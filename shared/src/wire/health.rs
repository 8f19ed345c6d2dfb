//! `GET /api/health`: whether the gateway and its engine answer.

use serde::{Deserialize, Serialize};

/// `GET /api/health` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub engine: EngineHealth,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineHealth {
    pub reachable: bool,
    pub api_version: Option<String>,
    pub version: Option<String>,
    /// Why the engine is unreachable, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
