//! `/api/registries`: the credentials pulls send to private registries.

use serde::{Deserialize, Serialize};

/// `POST /api/registries` body. (No `Debug`: it holds a password.)
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewRegistry {
    /// `registry.example.com`, `127.0.0.1:5001`, `docker.io`.
    pub server: String,
    pub username: String,
    pub password: String,
    /// The team whose runs use it; `null`: everyone's.
    #[serde(default)]
    pub team: Option<String>,
}

/// A credential as the API shows it: never its password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegistryView {
    pub id: String,
    pub server: String,
    pub username: String,
    pub team: Option<String>,
    pub created_at: String,
}
