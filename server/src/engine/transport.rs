//! HTTP to the engine (its unix socket, or TCP with or without TLS: `connect.rs`), with API
//! version negotiation and the daemon's error body (`{"message": …}`) turned into
//! [`EngineError::Daemon`].

use std::sync::RwLock;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Method, Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::connect::{ConnectError, Connector, EngineStream, TlsOptions};
use super::error::{EngineError, Result};

/// The newest API version Berth speaks (that of its generated model crate).
pub const MAX_API_VERSION: &str = "1.53";
/// The oldest daemon API Berth accepts, as the docker CLI.
pub const MIN_API_VERSION: &str = "1.40";
/// Error bodies larger than this are cut: a message is never that long.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// JSON answers larger than this are refused (a container list of thousands is well under).
pub const MAX_JSON_BODY: usize = 64 * 1024 * 1024;

/// Query string characters left as they are (`url.Values.Encode` escapes the rest).
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub struct Transport {
    /// `DOCKER_HOST` as given, for messages.
    pub host: String,
    connector: Connector,
    /// `host:port` (`docker` for a socket), the authority of request URIs: the connector
    /// decides where and how to connect, the URI only names the host.
    pub authority: String,
    client: Client<Connector, Full<Bytes>>,
    /// The negotiated API version, once a ping succeeded.
    version: RwLock<Option<String>>,
}

/// Parses "1.41" into (1, 41) for comparison.
fn version_key(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The version to speak: the daemon's if it is lower than ours (`NegotiateAPIVersion`).
pub fn negotiate(daemon: Option<&str>) -> Result<String> {
    let Some(daemon) = daemon.filter(|d| version_key(d).is_some()) else {
        // A daemon that does not say is old: the CLI falls back to 1.24; we need at least MIN.
        return Err(EngineError::TooOld {
            daemon: daemon.unwrap_or("unknown").to_string(),
            minimum: MIN_API_VERSION,
        });
    };
    if version_key(daemon) < version_key(MIN_API_VERSION) {
        return Err(EngineError::TooOld {
            daemon: daemon.to_string(),
            minimum: MIN_API_VERSION,
        });
    }
    Ok(if version_key(daemon) < version_key(MAX_API_VERSION) {
        daemon.trim().to_string()
    } else {
        MAX_API_VERSION.to_string()
    })
}

pub fn encode_query(pairs: &[(&str, &str)]) -> String {
    let mut q = String::new();
    for (k, v) in pairs {
        q.push(if q.is_empty() { '?' } else { '&' });
        q.extend(utf8_percent_encode(k, QUERY));
        q.push('=');
        q.extend(utf8_percent_encode(v, QUERY));
    }
    q
}

/// A path segment (container ID or name) escaped for use in a URL path.
pub fn segment(s: &str) -> String {
    utf8_percent_encode(s, QUERY).to_string()
}

/// Idle connections to an engine kept for the next calls.
const IDLE_CONNECTIONS: usize = 16;

impl Transport {
    pub fn new(docker_host: &str, tls: &TlsOptions) -> Result<Self> {
        Ok(Self::with_connector(
            docker_host,
            Connector::new(docker_host, tls)?,
        ))
    }

    /// HTTP over the connections `connector` opens; `host` names the engine in messages.
    pub fn with_connector(host: &str, connector: Connector) -> Self {
        Transport {
            host: host.to_string(),
            authority: connector.authority(),
            // hyper keeps every idle connection for 90 s by default, however many a burst
            // opened (each run's `wait` holds one): after 50 runs at once, 150 descriptors
            // (and as many daemon connections) stayed open long after the runs.
            client: Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(IDLE_CONNECTIONS)
                .build(connector.clone()),
            connector,
            version: RwLock::new(None),
        }
    }

    /// A connection of its own, outside the pool (for the attach hijack).
    pub async fn connect(&self) -> Result<EngineStream> {
        self.connector
            .connect()
            .await
            .map_err(|e| e.to_engine_error(&self.host))
    }

    /// A failed request: the connector's own error when it could not connect, else the chain.
    fn request_failed(&self, e: hyper_util::client::legacy::Error) -> EngineError {
        if e.is_connect() {
            let mut source = std::error::Error::source(&e);
            while let Some(inner) = source {
                if let Some(c) = inner.downcast_ref::<ConnectError>() {
                    return c.to_engine_error(&self.host);
                }
                source = inner.source();
            }
        }
        self.unreachable(error_chain(&e))
    }

    pub fn unreachable(&self, reason: impl std::fmt::Display) -> EngineError {
        EngineError::Unreachable {
            host: self.host.clone(),
            reason: reason.to_string(),
        }
    }

    pub fn uri(&self, path_and_query: &str) -> Result<hyper::Uri> {
        format!("http://{}{path_and_query}", self.authority)
            .parse()
            .map_err(|e| EngineError::Protocol(format!("bad request path: {e}")))
    }

    /// `GET /_ping` (unversioned): sets the negotiated version from the `Api-Version` header.
    pub async fn ping(&self) -> Result<(String, Option<String>)> {
        let resp = self
            .send(Method::GET, "/_ping".to_string(), None, &[])
            .await?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        // HeaderMap lookups are case-insensitive: `API-Version` (20.10) and `Api-Version` both match.
        let daemon_version = header("api-version");
        let os_type = header("ostype");
        let version = negotiate(daemon_version.as_deref())?;
        *self.version.write().expect("version lock") = Some(version.clone());
        Ok((version, os_type))
    }

    /// The negotiated version, pinging first if no ping has succeeded yet.
    pub async fn api_version(&self) -> Result<String> {
        if let Some(v) = self.version.read().expect("version lock").clone() {
            return Ok(v);
        }
        Ok(self.ping().await?.0)
    }

    /// A versioned path: `/v1.41/containers/create?…`.
    pub async fn versioned(&self, path: &str, query: &[(&str, &str)]) -> Result<String> {
        Ok(format!(
            "/v{}{}{}",
            self.api_version().await?,
            path,
            encode_query(query)
        ))
    }

    /// Sends a request on a versioned path; an error status becomes `EngineError::Daemon`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        json: Option<Vec<u8>>,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<Response<Incoming>> {
        let path = self.versioned(path, query).await?;
        self.send(method, path, json, headers).await
    }

    async fn send(
        &self,
        method: Method,
        path_and_query: String,
        json: Option<Vec<u8>>,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<Response<Incoming>> {
        let mut req = Request::builder()
            .method(method)
            .uri(self.uri(&path_and_query)?);
        if json.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let req = req
            .body(Full::new(Bytes::from(json.unwrap_or_default())))
            .map_err(|e| EngineError::Protocol(e.to_string()))?;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| self.request_failed(e))?;
        if resp.status().is_client_error() || resp.status().is_server_error() {
            return Err(daemon_error(resp).await);
        }
        Ok(resp)
    }
}

/// Reads a JSON answer.
pub async fn read_json<T: serde::de::DeserializeOwned>(resp: Response<Incoming>) -> Result<T> {
    let body = read_body(resp, MAX_JSON_BODY).await?;
    serde_json::from_slice(&body).map_err(|e| EngineError::Protocol(format!("bad JSON: {e}")))
}

pub async fn read_body(resp: Response<Incoming>, limit: usize) -> Result<Bytes> {
    Limited::new(resp.into_body(), limit)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| EngineError::Stream(format!("reading the engine's answer: {e}")))
}

/// The daemon's `{"message": …}` error, or its plain-text body.
pub async fn daemon_error(resp: Response<Incoming>) -> EngineError {
    let status = resp.status();
    let body = read_body(resp, MAX_ERROR_BODY).await.unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        message: String,
    }
    let message = match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(b) => b.message,
        Err(_) if body.is_empty() => status.canonical_reason().unwrap_or("error").to_string(),
        Err(_) => String::from_utf8_lossy(&body).trim().to_string(),
    };
    EngineError::Daemon {
        status: status.as_u16(),
        message,
    }
}

/// A hyper error with its sources, e.g. "client error (Connect): No such file or directory".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_down_to_the_daemon() {
        assert_eq!(negotiate(Some("1.41")).unwrap(), "1.41");
        assert!(negotiate(Some(" 1.9 ")).is_err());
        assert_eq!(negotiate(Some("1.99")).unwrap(), MAX_API_VERSION);
        assert_eq!(negotiate(Some("1.45")).unwrap(), "1.45");
        assert!(negotiate(Some("1.39")).is_err());
        assert!(negotiate(None).is_err());
    }

    #[test]
    fn queries() {
        assert_eq!(
            encode_query(&[("name", "a b&c"), ("tag", "1.0")]),
            "?name=a%20b%26c&tag=1.0"
        );
        assert_eq!(segment("../x"), "..%2Fx");
    }
}
