//! Demo environments: templates an admin defines (`/api/templates`), and the sessions visitors
//! open on them (`/api/templates/{name}/sessions`, `/api/sessions/{id}`), each a run of the
//! template's command with a terminal, a time limit, idle reaping, a queue and a warm pool.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::spec::RunSpec;

/// Who may open sessions on a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TemplateAccess {
    /// Anyone with the link, without an account (a guest identity in a cookie).
    Public,
    /// Signed-in users of any role, viewers included.
    Users,
}

/// `POST /api/templates` and `PUT /api/templates/{name}` body: what every session runs (the
/// arguments after `docker run`, or the structured spec: exactly one), and its terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    pub name: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<RunSpec>,
    /// The engine sessions run on; without it each session is placed like a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_labels: Option<BTreeMap<String, String>>,
    /// A session's life, and the most `extend` can make of it (from its start).
    pub ttl_seconds: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ttl_seconds: Option<u64>,
    /// A session with no input and no client connected for this long ends.
    pub idle_seconds: u64,
    /// Sessions running at once; more wait in the queue.
    pub capacity: u32,
    /// Containers kept started ahead of demand.
    #[serde(default)]
    pub warm: u32,
    /// Visitors waiting at most (default `capacity` × 10); more are refused with 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queue: Option<u32>,
    pub access: TemplateAccess,
}

/// A template as the API describes it: its request (with `max_ttl_seconds` filled in), its
/// pool and its sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Template {
    #[serde(flatten)]
    pub request: TemplateRequest,
    pub created_at: String,
    pub updated_at: String,
    pub pool: PoolStatus,
    pub sessions: SessionCounts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PoolStatus {
    /// Containers the pool keeps ready (the template's `warm`).
    pub target: u32,
    /// Containers started and waiting for a visitor.
    pub ready: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionCounts {
    pub running: u32,
    pub queued: u32,
}

/// `POST /api/templates/{name}/sessions` body (optional): the visitor's terminal size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cols: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Waiting for a place: `position` 1 is next.
    Queued,
    Running,
    Ended,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EndedReason {
    /// Its time (`expires_at`) was up.
    Expired,
    /// No input and no client for the template's `idle_seconds` (queued: no poll for 30 s).
    Idle,
    /// The visitor or an admin ended it.
    Ended,
    /// The container's command ended.
    Exited,
    /// It failed: the engine could not run it.
    Engine,
}

impl EndedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndedReason::Expired => "expired",
            EndedReason::Idle => "idle",
            EndedReason::Ended => "ended",
            EndedReason::Exited => "exited",
            EndedReason::Engine => "engine",
        }
    }

    pub fn parse(s: &str) -> Option<EndedReason> {
        [
            EndedReason::Expired,
            EndedReason::Idle,
            EndedReason::Ended,
            EndedReason::Exited,
            EndedReason::Engine,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// A session: `GET /api/sessions/{id}`, and the answer of `POST …/sessions` (201 running, 202
/// queued).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    pub session_id: String,
    pub template: String,
    pub state: SessionState,
    /// While queued: 1 is next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    /// Once running: the run that is its terminal (`/api/runs/{run_id}/ws`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// RFC 3339; while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Whether its container came from the warm pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_reason: Option<EndedReason>,
    /// RFC 3339.
    pub created_at: String,
    /// Who opened it (a username, or `guest-…`); listed to admins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor: Option<String>,
}

/// `POST /api/sessions/{id}/extend` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Extended {
    pub expires_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_refuse_unknown_fields_and_sessions_say_only_what_applies() {
        let t: TemplateRequest = serde_json::from_str(
            r#"{"name":"shell","title":"A shell","argv":["-it","img","sh"],"ttl_seconds":600,
                "idle_seconds":120,"capacity":5,"access":"public"}"#,
        )
        .unwrap();
        assert_eq!((t.warm, t.max_ttl_seconds), (0, None));
        assert!(
            serde_json::from_str::<TemplateRequest>(
                r#"{"name":"x","title":"x","ttl_seconds":1,"idle_seconds":1,"capacity":1,
                    "access":"public","bogus":1}"#
            )
            .is_err()
        );
        let queued = SessionInfo {
            session_id: "s1".into(),
            template: "shell".into(),
            state: SessionState::Queued,
            position: Some(2),
            run_id: None,
            expires_at: None,
            warm: None,
            ended_reason: None,
            created_at: "2026-01-01T00:00:00Z".into(),
            visitor: None,
        };
        assert_eq!(
            serde_json::to_string(&queued).unwrap(),
            r#"{"session_id":"s1","template":"shell","state":"queued","position":2,"created_at":"2026-01-01T00:00:00Z"}"#
        );
        assert_eq!(EndedReason::parse("idle"), Some(EndedReason::Idle));
    }
}
