//! `GET /api/health`: whether the gateway and its engine answer.

use serde::{Deserialize, Serialize};

/// `GET /api/health` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub status: String,
    /// The first engine (the only one without an engines file), looked at now.
    pub engine: EngineHealth,
    /// Every engine, as the background checks last found it.
    #[serde(default)]
    pub engines: Vec<super::EngineState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EngineHealth {
    pub reachable: bool,
    pub api_version: Option<String>,
    pub version: Option<String>,
    /// Why the engine is unreachable, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /api/ready` answer (200 when ready, 503 otherwise): `"ok"`, or why not, for each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Readiness {
    /// The default engine: `ok`, or why it is not.
    pub engine: String,
    pub ready: bool,
    /// The store (the database): `ok`, or `the store does not answer`.
    pub store: String,
}
