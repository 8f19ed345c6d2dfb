//! The engine's containers as Berth answers for them. Listings and inspect documents are the
//! Engine API's own models (`crate::models`); this is what Berth adds.

use serde::{Deserialize, Serialize};

/// `POST /api/containers/{id}/attach` answer: the run that follows the container (201 a new
/// one, 200 the run of the container still in progress). Watch it on `/api/runs/{run_id}/ws`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttachedRun {
    pub run_id: String,
}

/// One reading of a container's resource use (`GET /api/containers/{id}/stats`), computed as
/// `docker stats` computes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsSample {
    /// RFC 3339, the engine's time of the reading.
    pub at: String,
    pub cpu_percent: f64,
    pub online_cpus: u32,
    /// Without the page cache, as the CLI subtracts it.
    pub memory_bytes: u64,
    pub memory_limit_bytes: u64,
    pub pids: u64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
}
