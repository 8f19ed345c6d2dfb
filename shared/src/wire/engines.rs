//! `GET /api/engines`: the engines Berth drives, their health and load.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One engine as `GET /api/engines` describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EngineView {
    pub name: String,
    /// How Berth reaches it (`unix:///…`, `tcp://…`): shown to admins only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub reachable: bool,
    pub version: Option<String>,
    pub api_version: Option<String>,
    pub os: Option<String>,
    pub arch: Option<String>,
    /// `docker`, or `podman` (its Docker-compatible API), once it has answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub max_runs: Option<u32>,
    /// Berth runs in progress on it.
    pub runs: u64,
    pub containers_running: u64,
    /// Why it is unreachable, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An engine in `GET /api/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EngineState {
    pub name: String,
    pub reachable: bool,
}

/// An engine's object in a listing of every engine's (containers, images): the engine's own
/// fields and `"engine"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnEngine<T> {
    #[serde(flatten)]
    pub item: T,
    pub engine: String,
}
