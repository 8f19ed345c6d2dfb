//! The engine's containers as Berth answers for them. Listings and inspect documents are the
//! Engine API's own models (`crate::models`); this is what Berth adds.

use serde::{Deserialize, Serialize};

/// `POST /api/containers/{id}/attach` answer: the run that follows the container (201 a new
/// one, 200 the run of the container still in progress). Watch it on `/api/runs/{run_id}/ws`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachedRun {
    pub run_id: String,
}
