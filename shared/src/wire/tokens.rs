//! API tokens (`/api/tokens`): creating one, the secret shown once, and listing them.

use serde::{Deserialize, Serialize};

/// `POST /api/tokens` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What it is for, 1 to 64 characters.
    pub name: String,
}

/// `POST /api/tokens` answer: the secret, this once (only its hash is kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedToken {
    pub id: String,
    pub name: String,
    /// `berth_<id>_<secret>`, shown this once.
    pub token: String,
}

/// A token as `GET /api/tokens` lists it, without its secret or hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenView {
    pub id: String,
    /// Whose it is: it acts as this user.
    pub username: String,
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
}
