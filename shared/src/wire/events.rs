//! The run WebSockets (`/api/runs/ws`, `/api/runs/{run_id}/ws`): what a client sends, the
//! events the gateway sends as text, and the stream byte of its binary output frames.

use serde::{Deserialize, Serialize};

use super::runs::RunRequest;

/// Text messages a client sends on a run WebSocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The first message on `/api/containers/{id}/exec`: `docker exec`.
    Exec(Box<ExecRequest>),
}

/// What to run in a running container (`docker exec [-it] [-u USER] [-w DIR] [-e K=V]
/// [--privileged] CONTAINER CMD…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExecRequest {
    pub cmd: Vec<String>,
    #[serde(default)]
    pub tty: bool,
    /// Stdin attached (`-i`).
    #[serde(default)]
    pub interactive: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cols: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default)]
    pub privileged: bool,
}

/// One progress line of an image pull.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent {
    Accepted {
        run_id: String,
        /// The engine the run was placed on.
        #[serde(default)]
        engine: String,
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
    /// The only answer to a watch whose `from` is past the output the run has `produced` (a
    /// gateway restarted meanwhile read the run back with less); a close follows. The run is
    /// not affected: watching again from the start (no `from`) is never refused this way.
    ResumeRefused {
        produced: u64,
    },
    /// A demo session's run ends at `at` (RFC 3339), a minute from now unless extended.
    Expiring {
        at: String,
    },
    /// An exec console's process was created (`/api/containers/{id}/exec`).
    ExecStarted {
        exec_id: String,
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
        let refused = ServerEvent::ResumeRefused { produced: 13 };
        assert_eq!(
            serde_json::to_string(&refused).unwrap(),
            r#"{"type":"resume_refused","produced":13}"#
        );
        assert!(!refused.is_terminal(), "the run goes on");
    }
}
