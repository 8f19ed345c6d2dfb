//! The first visit: creating the first admin with the one-time setup token
//! (`GET`/`POST /api/setup`).

use serde::{Deserialize, Serialize};

/// `GET /api/setup`: whether Berth still waits for its first admin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetupStatus {
    /// No user exists yet: `POST /api/setup` creates the first admin.
    pub needed: bool,
}

/// `POST /api/setup` body. (No `Debug`: it holds a password and the token.)
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Setup {
    /// The setup token: `<data-dir>/admin-token`, which `scripts/run.sh` prints (or
    /// `BERTH_ADMIN_TOKEN`).
    pub token: String,
    pub username: String,
    /// At least 8 characters.
    pub password: String,
}
