//! The audit log as `GET /api/audit` answers it (a JSON array, or JSON lines).

use serde::{Deserialize, Serialize};

/// One audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Increasing; `before=ID` pages back from it.
    pub id: i64,
    /// RFC 3339.
    pub at: String,
    /// Who: a username, `admin-token`, or `-` when unauthenticated.
    pub actor: String,
    /// What, e.g. `run.create`, `user.delete`, `login`.
    pub action: String,
    /// On what: a run id, a container, a username.
    pub target: String,
    /// `ok`, `denied` or `failed`.
    pub outcome: String,
    /// Why: the rule that denied, the error.
    pub detail: String,
    /// From where: the client address.
    pub remote: String,
}
