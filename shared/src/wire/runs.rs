//! Runs: what to run (`POST /api/runs`, the first message of `/api/runs/ws`) and how the gateway
//! describes a run (`GET /api/runs`, `GET /api/runs/{run_id}`).

use serde::{Deserialize, Serialize};

use crate::spec::RunSpec;

/// What to run: the arguments that would follow `docker run`, or the structured spec.
/// Exactly one of the two is given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<RunSpec>,
    /// REST only: `false` creates without starting, like `docker create`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<bool>,
    /// The client's terminal size, applied as soon as the container starts (with `-t`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cols: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u16>,
    /// The engine to run on; without it Berth places the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// Placement only among engines with all of these labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_labels: Option<std::collections::BTreeMap<String, String>>,
}

/// `POST /api/runs` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunCreated {
    pub run_id: String,
    pub container_id: String,
    pub warnings: Vec<String>,
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Accepted, being created.
    #[default]
    Pending,
    /// Pulling its image.
    Pulling,
    /// Created and not started (`"start": false`), or about to start.
    Created,
    Running,
    /// The container exited; `exit_code` holds its status.
    Exited,
    /// The run failed before or while starting; `exit_code` is 125, 126 or 127.
    Failed,
}

/// A run as `GET /api/runs` and `GET /api/runs/{run_id}` describe it. (`Default`: a run nothing
/// is known of yet, e.g. what a client folds the events it receives into, `RunInfo::apply`.)
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunInfo {
    pub run_id: String,
    /// The engine it runs on (records of a Berth with one engine have it empty: `local`).
    #[serde(default)]
    pub engine: String,
    /// Who started it, and their team (empty when none).
    pub owner: String,
    pub team: String,
    /// The owner's stable id (records of a Berth that kept none have it empty).
    #[serde(default)]
    pub owner_id: String,
    /// The digest of the policy the request was checked under; none for admins' runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    pub state: RunState,
    pub exit_code: Option<i64>,
    /// Why the run failed, when it did.
    pub error: Option<String>,
    pub image: String,
    /// The arguments after `docker run` (rendered from the spec when a spec was given).
    pub argv: Vec<String>,
    pub container_id: Option<String>,
    /// The daemon's warnings from create.
    pub warnings: Vec<String>,
    pub tty: bool,
    pub interactive: bool,
    pub detach: bool,
    /// RFC 3339 times.
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Bytes of output produced so far (retained or not).
    pub output_bytes: u64,
}

impl RunInfo {
    pub fn owner(&self) -> crate::Owner {
        crate::Owner {
            user_id: self.owner_id.clone(),
            username: self.owner.clone(),
            team: self.team.clone(),
            policy: self.policy.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_request_refuses_unknown_fields_and_sends_only_what_is_set() {
        let r: RunRequest = serde_json::from_str(r#"{"argv":["img"],"cols":80}"#).unwrap();
        assert_eq!(r.argv.as_deref(), Some(&["img".to_string()][..]));
        assert_eq!(r.cols, Some(80));
        assert!(serde_json::from_str::<RunRequest>(r#"{"argv":[],"bogus":1}"#).is_err());
        let r = RunRequest {
            argv: Some(vec!["img".into()]),
            ..Default::default()
        };
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"argv":["img"]}"#);
    }
}
