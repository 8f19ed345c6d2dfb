//! The Docker Engine API client: typed calls over the unix socket or TCP, with or without TLS
//! (hyper 1, rustls).
//!
//! Models come from `bollard-stubs` (generated from the Engine API spec); written by hand are
//! only the parts no library provides in this shape: the attach hijack, the stream demuxer and
//! the incremental pull progress decoder.

mod attach;
mod connect;
pub mod demux;
mod error;
mod exec;
#[cfg(test)]
pub mod fake;
pub mod pull;
mod stats;
mod transport;

use std::collections::HashMap;
use std::sync::Arc;

use berth_shared::models::{
    ContainerCreateResponse, ContainerInspectResponse, ContainerSummary, ContainerWaitResponse,
    ImageSummary, SystemVersion,
};
use bytes::BytesMut;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Response};

pub use attach::{AttachOptions, Attached, StdinWriter};
pub use connect::{EngineStream, TlsOptions};
pub use demux::Frame;
pub use error::{EngineError, Result};
pub use exec::{ExecConfig, ExecState};
pub use pull::PullStream;
pub use stats::StatsStream;

/// How a named volume is mounted and whose it is: its driver, the options it was created
/// with and its labels.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct VolumeDriver {
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "Options", default)]
    pub options: Option<HashMap<String, String>>,
    #[serde(rename = "Labels", default)]
    pub labels: Option<HashMap<String, String>>,
}

/// `POST /volumes/create`, as `docker volume create` sends it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VolumeCreate {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "DriverOpts")]
    pub driver_opts: HashMap<String, String>,
    #[serde(rename = "Labels")]
    pub labels: HashMap<String, String>,
}
use transport::{Transport, read_body, read_json, segment};

/// A cheap-to-clone handle on one Docker engine.
#[derive(Clone)]
pub struct Engine {
    transport: Arc<Transport>,
}

/// What `GET /_ping` told us.
#[derive(Debug, Clone)]
pub struct Ping {
    /// The API version Berth speaks with this daemon.
    pub api_version: String,
    pub os_type: Option<String>,
}

/// `condition` of `POST /containers/{id}/wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NextExit,
    Removed,
}

/// A wait registered with the daemon; its answer arrives when the container exits.
pub struct Wait {
    body: Incoming,
}

impl Wait {
    /// The container's exit status. An error reported by the daemon in the wait answer is an
    /// error here (the CLI reports status 125 for it).
    pub async fn status(self) -> Result<i64> {
        let body = self
            .body
            .collect()
            .await
            .map_err(|e| EngineError::Stream(format!("waiting for the container: {e}")))?
            .to_bytes();
        let resp: ContainerWaitResponse = serde_json::from_slice(&body)
            .map_err(|e| EngineError::Protocol(format!("bad wait answer: {e}")))?;
        match resp.error.and_then(|e| e.message).filter(|m| !m.is_empty()) {
            Some(message) => Err(EngineError::Stream(message)),
            None => Ok(resp.status_code),
        }
    }
}

fn json_body<T: serde::Serialize>(value: &T) -> Result<Option<Vec<u8>>> {
    serde_json::to_vec(value)
        .map(Some)
        .map_err(|e| EngineError::Protocol(e.to_string()))
}

impl Engine {
    /// `docker_host` is `unix:///path/to/docker.sock` or `tcp://host:port` (plain HTTP).
    /// Nothing is contacted until the first call.
    pub fn new(docker_host: &str) -> Result<Self> {
        Self::with_tls(docker_host, &TlsOptions::default())
    }

    /// As [`Engine::new`], with TLS to a `tcp://` (or `https://`) engine as `tls` says; its
    /// certificates and key are read now.
    pub fn with_tls(docker_host: &str, tls: &TlsOptions) -> Result<Self> {
        Ok(Engine {
            transport: Arc::new(Transport::new(docker_host, tls)?),
        })
    }

    pub fn host(&self) -> &str {
        &self.transport.host
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        json: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>> {
        self.transport.call(method, path, query, json, &[]).await
    }

    /// Pings the daemon and (re)negotiates the API version.
    pub async fn ping(&self) -> Result<Ping> {
        let (api_version, os_type) = self.transport.ping().await?;
        Ok(Ping {
            api_version,
            os_type,
        })
    }

    pub async fn version(&self) -> Result<SystemVersion> {
        read_json(self.call(Method::GET, "/version", &[], None).await?).await
    }

    /// How many containers run on it (`GET /info`'s `ContainersRunning`; only that field is
    /// read, so other daemons' fields cannot break it).
    pub async fn containers_running(&self) -> Result<u64> {
        #[derive(serde::Deserialize)]
        struct Info {
            #[serde(rename = "ContainersRunning", default)]
            running: u64,
        }
        let info: Info = read_json(self.call(Method::GET, "/info", &[], None).await?).await?;
        Ok(info.running)
    }

    /// The API version spoken with the daemon (negotiated on first use).
    pub async fn api_version(&self) -> Result<String> {
        self.transport.api_version().await
    }

    /// `body` is the create request as the version in use expects it (`Plan::create_json`).
    pub async fn create_container(
        &self,
        name: Option<&str>,
        platform: Option<&str>,
        body: &serde_json::Value,
    ) -> Result<ContainerCreateResponse> {
        let mut query = Vec::new();
        if let Some(name) = name {
            query.push(("name", name));
        }
        if let Some(platform) = platform {
            query.push(("platform", platform));
        }
        let resp = self
            .call(Method::POST, "/containers/create", &query, json_body(body)?)
            .await?;
        read_json(resp).await
    }

    /// `POST /images/create`: starts a pull of `image` (a full name) at `tag` (or digest), with
    /// `auth` as `X-Registry-Auth` (the base64url of an `AuthConfig`).
    pub async fn pull(
        &self,
        image: &str,
        tag: &str,
        platform: Option<&str>,
        auth: Option<&str>,
    ) -> Result<PullStream> {
        let mut query = vec![("fromImage", image), ("tag", tag)];
        if let Some(platform) = platform {
            query.push(("platform", platform));
        }
        // The CLI always sends credentials; anonymous is the base64url of "{}".
        let auth = [(
            HeaderName::from_static("x-registry-auth"),
            HeaderValue::from_str(auth.unwrap_or("e30=")).map_err(|_| {
                EngineError::Stream("a registry credential is not a valid header value".into())
            })?,
        )];
        let resp = self
            .transport
            .call(Method::POST, "/images/create", &query, None, &auth)
            .await?;
        Ok(PullStream::new(resp.into_body()))
    }

    pub async fn start(&self, id: &str) -> Result<()> {
        // 304 (already running) is not an error, like the CLI.
        self.call(
            Method::POST,
            &format!("/containers/{}/start", segment(id)),
            &[],
            None,
        )
        .await?;
        Ok(())
    }

    /// Registers a wait. Returns once the daemon has acknowledged it (it flushes the headers
    /// before waiting), so a container started afterwards cannot exit unseen.
    pub async fn wait(&self, id: &str, condition: WaitCondition) -> Result<Wait> {
        let condition = match condition {
            WaitCondition::NextExit => "next-exit",
            WaitCondition::Removed => "removed",
        };
        let path = format!("/containers/{}/wait", segment(id));
        let resp = self
            .call(Method::POST, &path, &[("condition", condition)], None)
            .await?;
        Ok(Wait {
            body: resp.into_body(),
        })
    }

    pub async fn resize(&self, id: &str, rows: u16, cols: u16) -> Result<()> {
        let (h, w) = (rows.to_string(), cols.to_string());
        let path = format!("/containers/{}/resize", segment(id));
        self.call(Method::POST, &path, &[("h", &h), ("w", &w)], None)
            .await?;
        Ok(())
    }

    pub async fn kill(&self, id: &str, signal: &str) -> Result<()> {
        let path = format!("/containers/{}/kill", segment(id));
        self.call(Method::POST, &path, &[("signal", signal)], None)
            .await?;
        Ok(())
    }

    /// `timeout` in seconds; `None` uses the container's StopTimeout (or the daemon's 10 s).
    pub async fn stop(&self, id: &str, timeout: Option<u32>) -> Result<()> {
        let t = timeout.map(|t| t.to_string());
        let mut query = Vec::new();
        if let Some(t) = &t {
            query.push(("t", t.as_str()));
        }
        self.call(
            Method::POST,
            &format!("/containers/{}/stop", segment(id)),
            &query,
            None,
        )
        .await?;
        Ok(())
    }

    pub async fn remove(&self, id: &str, force: bool) -> Result<()> {
        let query = [("force", if force { "1" } else { "0" }), ("v", "1")];
        self.call(
            Method::DELETE,
            &format!("/containers/{}", segment(id)),
            &query,
            None,
        )
        .await?;
        Ok(())
    }

    pub async fn inspect(&self, id: &str) -> Result<ContainerInspectResponse> {
        let path = format!("/containers/{}/json", segment(id));
        read_json(self.call(Method::GET, &path, &[], None).await?).await
    }

    /// A named volume's driver and driver options (`GET /volumes/{name}`): what the run policy
    /// needs to know before a run mounts it. Only these two fields are read, so a daemon's
    /// other fields (`Status`, `UsageData`, … which vary across versions) cannot break it.
    /// Whether the engine has the image (`GET /images/{name}/json`): a 404 error when not.
    pub async fn inspect_image(&self, name: &str) -> Result<()> {
        self.call(
            Method::GET,
            &format!("/images/{}/json", segment(name)),
            &[],
            None,
        )
        .await?;
        Ok(())
    }

    pub async fn inspect_volume(&self, name: &str) -> Result<VolumeDriver> {
        let path = format!("/volumes/{}", segment(name));
        read_json(self.call(Method::GET, &path, &[], None).await?).await
    }

    /// Creates a named volume; one of that name that exists already is answered as it is
    /// (the daemon's rule), so the caller checks whose the answer is.
    pub async fn create_volume(&self, volume: &VolumeCreate) -> Result<VolumeDriver> {
        let resp = self
            .call(Method::POST, "/volumes/create", &[], json_body(volume)?)
            .await?;
        read_json(resp).await
    }

    /// A container's logs so far (at most `tail` lines when given), as frames.
    pub async fn logs(&self, id: &str, tty: bool, tail: Option<u32>) -> Result<Vec<Frame>> {
        let tail = tail.map_or_else(|| "all".to_string(), |t| t.to_string());
        let query = [("stdout", "1"), ("stderr", "1"), ("tail", tail.as_str())];
        let path = format!("/containers/{}/logs", segment(id));
        let body = read_body(
            self.call(Method::GET, &path, &query, None).await?,
            transport::MAX_JSON_BODY,
        )
        .await?;
        if tty {
            Ok(vec![Frame {
                stream: 1,
                data: body,
            }])
        } else {
            demux::demux_all(BytesMut::from(&body[..]))
        }
    }

    /// How a container ended, by the engine's event log: the exit code and time (Unix
    /// nanoseconds) of its last `die` event, if the log still holds one. This is all that is
    /// left of a `--rm` container that ended, and was removed, while Berth was not watching.
    /// The daemon keeps only its last 256 events in memory (moby's `eventsLimit`), so a busy
    /// or restarted engine may have none.
    pub async fn recorded_exit(&self, id: &str) -> Result<Option<(i64, i64)>> {
        #[derive(serde::Deserialize)]
        struct Event {
            #[serde(rename = "Actor")]
            actor: Actor,
            #[serde(rename = "timeNano", default)]
            time_nano: i64,
        }
        #[derive(serde::Deserialize)]
        struct Actor {
            #[serde(rename = "Attributes", default)]
            attributes: HashMap<String, String>,
        }
        let filters = serde_json::json!({
            "type": ["container"],
            "container": [id],
            "event": ["die"],
        })
        .to_string();
        // With both ends given the daemon answers from its log and closes the stream; without
        // `until` it would stream new events for ever. `since=0` is the log's start.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let until = format!("{}.{:09}", now.as_secs(), now.subsec_nanos());
        let query = [
            ("since", "0"),
            ("until", until.as_str()),
            ("filters", filters.as_str()),
        ];
        let body = read_body(
            self.call(Method::GET, "/events", &query, None).await?,
            transport::MAX_JSON_BODY,
        )
        .await?;
        let last = serde_json::Deserializer::from_slice(&body)
            .into_iter::<Event>()
            .map_while(Result::ok)
            .last();
        Ok(last.and_then(|e| {
            let code = e.actor.attributes.get("exitCode")?.parse().ok()?;
            Some((code, e.time_nano))
        }))
    }

    /// All containers (running or not), optionally filtered by label (`key` or `key=value`).
    pub async fn list_containers(&self, label: Option<&str>) -> Result<Vec<ContainerSummary>> {
        let filters = label.map(|l| serde_json::json!({ "label": [l] }).to_string());
        let mut query = vec![("all", "1")];
        if let Some(f) = &filters {
            query.push(("filters", f.as_str()));
        }
        read_json(
            self.call(Method::GET, "/containers/json", &query, None)
                .await?,
        )
        .await
    }

    /// The containers that hold on to resources — running, paused or restarting — with
    /// every one of `labels` (`key=value`).
    pub async fn list_live_containers(&self, labels: &[&str]) -> Result<Vec<ContainerSummary>> {
        let filters = serde_json::json!({
            "label": labels,
            "status": ["running", "paused", "restarting"],
        })
        .to_string();
        let query = [("filters", filters.as_str())];
        read_json(
            self.call(Method::GET, "/containers/json", &query, None)
                .await?,
        )
        .await
    }

    pub async fn list_images(&self) -> Result<Vec<ImageSummary>> {
        read_json(self.call(Method::GET, "/images/json", &[], None).await?).await
    }

    /// `POST /containers/{id}/attach` hijacked into a raw bidirectional stream.
    pub async fn attach(&self, id: &str, opts: &AttachOptions) -> Result<Attached> {
        attach::attach(&self.transport, id, opts).await
    }
}

#[cfg(test)]
mod tests {
    use super::Engine;
    use super::fake::{FakeEngine, Reply};

    /// The daemon's answer to `GET /events` is one JSON object a line; the last `die` counts.
    #[tokio::test]
    async fn a_recorded_exit_is_the_containers_last_die_event() {
        let fake = FakeEngine::new();
        let events = concat!(
            r#"{"Type":"container","Action":"die","Actor":{"ID":"abc","Attributes":{"exitCode":"3"}},"time":1,"timeNano":1000000000}"#,
            "\n",
            r#"{"Type":"container","Action":"die","Actor":{"ID":"abc","Attributes":{"exitCode":"7","image":"x"}},"time":2,"timeNano":2000000001}"#,
            "\n",
        );
        fake.on("GET /events", Reply::text(200, events));
        let engine = Engine::fake(fake.clone());
        assert_eq!(
            engine.recorded_exit("abc").await.unwrap(),
            Some((7, 2_000_000_001))
        );
        let call = &fake.calls_to("GET /events")[0];
        assert_eq!(call.param("since"), Some("0"));
        assert!(
            call.param("until").is_some(),
            "without it the stream never ends"
        );
        let filters: serde_json::Value =
            serde_json::from_str(call.param("filters").unwrap()).unwrap();
        assert_eq!(
            filters,
            serde_json::json!({"type": ["container"], "container": ["abc"], "event": ["die"]})
        );

        // A log that no longer holds the container says nothing.
        let fake = FakeEngine::new();
        fake.on("GET /events", Reply::text(200, ""));
        assert_eq!(Engine::fake(fake).recorded_exit("abc").await.unwrap(), None);
    }
}
