//! Messages between the dashboard (or any client) and the gateway. docs/API.md documents them.

use serde::{Deserialize, Serialize};

use crate::spec::RunSpec;

/// What to run: the arguments that would follow `docker run`, or the structured spec.
/// Exactly one of the two is given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
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
}

/// Text messages a client sends on a run WebSocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// The first message on `/api/runs/ws`.
    Run(Box<RunRequest>),
    /// The first message on `/api/runs/{run_id}/ws`. `from`: output bytes the client already
    /// has (it reconnects); the replay then sends all events again but output only after them.
    Watch {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<u64>,
    },
    Resize {
        cols: u16,
        rows: u16,
    },
    /// A signal name (`TERM`, `SIGKILL`) or number.
    Signal {
        signal: String,
    },
    CloseStdin,
    Detach,
}

/// One progress line of an image pull.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullProgress {
    /// The layer ID, or the tag for whole-image lines; empty for lines about no layer.
    pub id: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// Text events the gateway sends on a run WebSocket, in this order: `accepted`, zero or more
/// `pull`, `created`, `started`, then `exit` (or `detached`); or `error` at any point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent {
    Accepted {
        run_id: String,
    },
    Pull(PullProgress),
    Created {
        container_id: String,
        warnings: Vec<String>,
    },
    Started,
    Exit {
        code: i64,
    },
    Detached {
        container_id: String,
    },
    Error {
        code: i32,
        message: String,
    },
    /// To a watcher that fell behind the run's retained output: `bytes` were dropped here.
    Gap {
        bytes: u64,
    },
    /// Something this client sent could not be acted on; the run goes on.
    Warning {
        message: String,
    },
}

impl ServerEvent {
    /// Whether the run ends with this event.
    pub fn is_terminal(&self) -> bool {
        matches!(self, ServerEvent::Exit { .. } | ServerEvent::Error { .. })
    }
}

/// First byte of a binary output frame.
pub const STREAM_STDOUT: u8 = 1;
pub const STREAM_STDERR: u8 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shapes_match_the_api_contract() {
        let m: ClientMessage = serde_json::from_str(r#"{"type":"run","argv":["img"]}"#).unwrap();
        assert_eq!(
            m,
            ClientMessage::Run(Box::new(RunRequest {
                argv: Some(vec!["img".into()]),
                ..Default::default()
            }))
        );
        let m: ClientMessage =
            serde_json::from_str(r#"{"type":"resize","cols":80,"rows":24}"#).unwrap();
        assert_eq!(m, ClientMessage::Resize { cols: 80, rows: 24 });
        let m: ClientMessage = serde_json::from_str(r#"{"type":"close_stdin"}"#).unwrap();
        assert_eq!(m, ClientMessage::CloseStdin);
        assert!(
            serde_json::from_str::<ClientMessage>(r#"{"type":"run","argv":[],"bogus":1}"#).is_err()
        );

        let e = ServerEvent::Pull(PullProgress {
            id: "l1".into(),
            status: "Downloading".into(),
            current: Some(1),
            total: Some(2),
        });
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"pull","id":"l1","status":"Downloading","current":1,"total":2}"#
        );
        assert_eq!(
            serde_json::to_string(&ServerEvent::Started).unwrap(),
            r#"{"type":"started"}"#
        );
        assert_eq!(
            serde_json::to_string(&ServerEvent::Exit { code: 3 }).unwrap(),
            r#"{"type":"exit","code":3}"#
        );
    }
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Accepted, being created.
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

/// A run as `GET /api/runs` and `GET /api/runs/{run_id}` describe it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub run_id: String,
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

/// `POST /api/runs` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunCreated {
    pub run_id: String,
    pub container_id: String,
    pub warnings: Vec<String>,
}

/// `GET /api/health` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub engine: EngineHealth,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineHealth {
    pub reachable: bool,
    pub api_version: Option<String>,
    pub version: Option<String>,
    /// Why the engine is unreachable, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The body of every API error: `{"error":{"code":N,"message":"…"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: ApiErrorBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    /// The HTTP status.
    pub code: u16,
    pub message: String,
    /// For a failed run: the exit status `docker run` would have given (125, 126, 127).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

/// What a user may do (docs/API.md, "Roles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including users, tokens, audit and other people's runs.
    Admin,
    /// Runs containers within the policy and manages their own (and their team's) runs.
    Operator,
    /// Watches their team's runs; no input, no actions.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }
}
