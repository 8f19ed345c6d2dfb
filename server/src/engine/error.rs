use std::path::PathBuf;

use thiserror::Error;

/// What can go wrong talking to the Docker engine.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The engine could not be reached or the connection broke.
    #[error("cannot reach the Docker engine at {host}: {reason}")]
    Unreachable { host: String, reason: String },
    /// The daemon answered with an error status; `message` is the daemon's own.
    #[error("Error response from daemon: {message}")]
    Daemon { status: u16, message: String },
    /// An error reported inside a streaming response (pull `errorDetail`, attach system error).
    #[error("{0}")]
    Stream(String),
    /// The daemon's answer did not have the expected shape.
    #[error("unexpected answer from the Docker engine: {0}")]
    Protocol(String),
    /// The daemon speaks an API older than Berth supports.
    #[error(
        "the Docker engine's API version {daemon} is older than the minimum {minimum} Berth supports"
    )]
    TooOld {
        daemon: String,
        minimum: &'static str,
    },
    /// The TLS handshake with a `tcp://` engine failed (e.g. its certificate is not signed by
    /// `ca.pem`).
    #[error("TLS handshake with the Docker engine at {host} failed: {reason}")]
    TlsHandshake { host: String, reason: String },
    /// A file of `DOCKER_CERT_PATH` is missing, unreadable or not what it should be.
    #[error("TLS file {}: {reason}", path.display())]
    TlsFile { path: PathBuf, reason: String },
    /// The TLS material does not make a client configuration (e.g. a key not matching its
    /// certificate).
    #[error("TLS to the Docker engine: {0}")]
    TlsConfig(String),
    /// `DOCKER_HOST` is not a form Berth can use.
    #[error(
        "unsupported DOCKER_HOST {0:?}: Berth talks to the engine at unix:///path, tcp://host:port or https://host:port"
    )]
    UnsupportedHost(String),
}

impl EngineError {
    /// The daemon's HTTP status, if the daemon answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            EngineError::Daemon { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the engine could not be reached at all (no answer, or no TLS session).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            EngineError::Unreachable { .. } | EngineError::TlsHandshake { .. }
        )
    }

    /// The message a user should see: the daemon's own message where there is one.
    pub fn message(&self) -> String {
        match self {
            EngineError::Daemon { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
