//! A Docker engine inside the test process, so that what drives the engine (the run sequence,
//! its restore, the handlers) is tested without a daemon, bollard's mock transport in spirit.
//!
//! Only the daemon is fake: [`Engine::fake`] gives a real [`Engine`] whose connections are
//! in-memory pipes ([`tokio::io::duplex`]), each served by hyper's own HTTP/1 server with
//! upgrades, so requests, version negotiation, error bodies, chunked streams and the attach
//! hijack all go through the client's real code. The [`FakeEngine`] records every request in
//! the order it arrived and answers from a script:
//!
//! ```ignore
//! let fake = FakeEngine::new(); // `GET /_ping` answers API 1.47
//! let exit = Gate::new();
//! fake.on("POST /containers/create", Reply::error(404, "No such image: busybox:latest"))
//!     .on("POST /containers/create", Reply::created("c1"))
//!     .on("POST /containers/c1/attach", Reply::upgrade())
//!     .on("POST /containers/c1/wait", Reply::exited(0).after(&exit));
//! let engine = Engine::fake(fake.clone());
//! // … later: fake.attached().await gives the engine's end of the attach stream.
//! ```

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONNECTION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, UPGRADE};
use hyper::service::service_fn;
use hyper::upgrade::Upgraded;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, watch};

use super::Engine;
use super::connect::Connector;
use super::demux::mux;
use super::transport::Transport;

/// The API version the fake daemon announces (Docker 27).
pub const API_VERSION: &str = "1.47";
/// Bytes a pipe buffers each way.
const PIPE_BUFFER: usize = 64 * 1024;
/// How long a test waits for the gateway to do what it awaits (attach, a request).
const PATIENCE: Duration = Duration::from_secs(10);

type Body = UnsyncBoxBody<Bytes, Infallible>;

impl Engine {
    /// An engine whose daemon is `fake`.
    pub fn fake(fake: Arc<FakeEngine>) -> Engine {
        let connector = Connector::fake(fake);
        Engine {
            transport: Arc::new(Transport::with_connector("fake://engine", connector)),
        }
    }
}

/// A scripted daemon: answers by method and path, records every request.
pub struct FakeEngine {
    /// Answers by `"METHOD /path"` (unversioned): a request takes the first of its queue, the
    /// last one stays for every later request.
    script: Mutex<HashMap<String, VecDeque<Reply>>>,
    /// Every request, in the order the daemon received them.
    calls: Mutex<Vec<Call>>,
    /// Bumped on every request recorded, so that a test can await one.
    received: watch::Sender<()>,
    /// The daemon's ends of the attach connections it upgraded, for the test to take.
    attaches: mpsc::UnboundedSender<AttachPeer>,
    attached: tokio::sync::Mutex<mpsc::UnboundedReceiver<AttachPeer>>,
}

impl FakeEngine {
    /// A daemon that answers the ping (`API_VERSION`, linux) and `GET /version`, and nothing
    /// else until scripted: an unscripted request gets a 500 that names it.
    pub fn new() -> Arc<FakeEngine> {
        let (attaches, attached) = mpsc::unbounded_channel();
        let fake = FakeEngine {
            script: Mutex::default(),
            calls: Mutex::default(),
            received: watch::Sender::new(()),
            attaches,
            attached: tokio::sync::Mutex::new(attached),
        };
        let ping = Reply::text(200, "OK");
        fake.on("GET /_ping", ping.clone())
            .on("HEAD /_ping", ping)
            .on(
                "GET /version",
                Reply::json(
                    200,
                    serde_json::json!({
                        "Version": "27.5.1", "ApiVersion": API_VERSION,
                        "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64",
                    }),
                ),
            );
        Arc::new(fake)
    }

    /// Queues `reply` for `request` (`"POST /containers/create"`, unversioned, no query).
    pub fn on(&self, request: &str, reply: Reply) -> &Self {
        self.script
            .lock()
            .expect("script lock")
            .entry(request.to_string())
            .or_default()
            .push_back(reply);
        self
    }

    /// Every request so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("calls lock").clone()
    }

    /// Every request so far as `"METHOD /path"`, in order.
    pub fn trace(&self) -> Vec<String> {
        self.calls().iter().map(Call::to_string).collect()
    }

    /// The requests made as `request` (`"METHOD /path"`), in order.
    pub fn calls_to(&self, request: &str) -> Vec<Call> {
        let mut calls = self.calls();
        calls.retain(|c| c.to_string() == request);
        calls
    }

    /// Waits (bounded) until `request` (`"METHOD /path"`) has been received.
    pub async fn received(&self, request: &str) -> Call {
        let mut changes = self.received.subscribe();
        let found = async {
            loop {
                changes.borrow_and_update();
                if let Some(call) = self.calls_to(request).pop() {
                    return call;
                }
                changes.changed().await.expect("the fake engine lives");
            }
        };
        tokio::time::timeout(PATIENCE, found)
            .await
            .unwrap_or_else(|_| panic!("no {request} within {PATIENCE:?}: {:?}", self.trace()))
    }

    /// The daemon's end of the next attach connection the gateway hijacked (bounded wait).
    pub async fn attached(&self) -> AttachPeer {
        let mut attached = self.attached.lock().await;
        tokio::time::timeout(PATIENCE, attached.recv())
            .await
            .unwrap_or_else(|_| panic!("no attach within {PATIENCE:?}: {:?}", self.trace()))
            .expect("the fake engine lives")
    }

    /// The gateway's end of a new connection, whose other end this daemon serves.
    pub(super) fn connect(self: &Arc<Self>) -> DuplexStream {
        let (gateway, daemon) = tokio::io::duplex(PIPE_BUFFER);
        let fake = Arc::clone(self);
        tokio::spawn(async move {
            let service = service_fn(move |req| Arc::clone(&fake).answer(req));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(daemon), service)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!("fake engine connection: {e}");
            }
        });
        gateway
    }

    async fn answer(
        self: Arc<Self>,
        mut req: Request<Incoming>,
    ) -> Result<Response<Body>, Infallible> {
        let upgrade = hyper::upgrade::on(&mut req);
        let (head, body) = req.into_parts();
        let body = match body.collect().await {
            Ok(body) => body.to_bytes(),
            Err(e) => Bytes::from(format!("(the request body broke: {e})")),
        };
        let call = Call::new(head.method, head.uri, head.headers, body);
        let reply = self.next_reply(&call.to_string());
        self.calls.lock().expect("calls lock").push(call);
        self.received.send_replace(());
        if reply.upgrade {
            let attaches = self.attaches.clone();
            tokio::spawn(async move {
                match upgrade.await {
                    Ok(io) => {
                        let _ = attaches.send(AttachPeer {
                            io: TokioIo::new(io),
                        });
                    }
                    Err(e) => tracing::debug!("fake engine upgrade: {e}"),
                }
            });
        }
        Ok(reply.response())
    }

    fn next_reply(&self, request: &str) -> Reply {
        let mut script = self.script.lock().expect("script lock");
        match script.get_mut(request) {
            Some(queue) if queue.len() > 1 => queue.pop_front().expect("not empty"),
            Some(queue) if !queue.is_empty() => queue[0].clone(),
            _ => Reply::error(500, &format!("fake engine: nothing scripted for {request}")),
        }
    }
}

/// One request the daemon received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    /// Without the version prefix: `/containers/create`.
    pub path: String,
    /// The version prefix's (`/v1.47/…`), if the path had one.
    pub version: Option<String>,
    /// Decoded, in order.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Call {
    fn new(method: Method, uri: hyper::Uri, headers: HeaderMap, body: Bytes) -> Call {
        let full = uri.path();
        let (version, path) = match full.strip_prefix("/v").and_then(|r| r.split_once('/')) {
            Some((v, rest))
                if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.') =>
            {
                (Some(v.to_string()), format!("/{rest}"))
            }
            _ => (None, full.to_string()),
        };
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let query = uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        Call {
            method,
            path,
            version,
            query,
            headers,
            body,
        }
    }

    /// The value of query parameter `key`, if sent.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON (`null` when empty).
    pub fn json(&self) -> serde_json::Value {
        if self.body.is_empty() {
            return serde_json::Value::Null;
        }
        serde_json::from_slice(&self.body).expect("a JSON request body")
    }
}

/// `"POST /containers/create"`: how requests are scripted and traced.
impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// Opens once; what waits on it goes on from then on (a wait answered when the test says the
/// container exited).
#[derive(Clone)]
pub struct Gate(Arc<watch::Sender<bool>>);

impl Default for Gate {
    fn default() -> Gate {
        Gate(Arc::new(watch::Sender::new(false)))
    }
}

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    pub fn open(&self) {
        self.0.send_replace(true);
    }

    async fn opened(&self) {
        let mut open = self.0.subscribe();
        let _ = open.wait_for(|o| *o).await;
    }
}

/// One scripted answer.
#[derive(Clone)]
pub struct Reply {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The body, one HTTP chunk each when there are several (or a gate).
    chunks: Vec<Bytes>,
    /// The status and headers go at once, the body once this opens: the daemon's wait, which
    /// flushes its 200 when the wait is registered and answers when the container exits.
    gate: Option<Gate>,
    /// A 101 whose upgraded connection goes to [`FakeEngine::attached`].
    upgrade: bool,
}

impl Reply {
    fn new(status: u16, content_type: &'static str, chunks: Vec<Bytes>) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).expect("an HTTP status"),
            headers: vec![(CONTENT_TYPE, HeaderValue::from_static(content_type))],
            chunks,
            gate: None,
            upgrade: false,
        }
    }

    pub fn text(status: u16, text: &'static str) -> Reply {
        Reply::new(
            status,
            "text/plain; charset=utf-8",
            vec![Bytes::from_static(text.as_bytes())],
        )
    }

    pub fn json(status: u16, value: serde_json::Value) -> Reply {
        let body = Bytes::from(value.to_string());
        Reply::new(status, "application/json", vec![body])
    }

    /// The daemon's error body, `{"message": …}`.
    pub fn error(status: u16, message: &str) -> Reply {
        Reply::json(status, serde_json::json!({ "message": message }))
    }

    /// A status without a body (`204` of start).
    pub fn empty(status: u16) -> Reply {
        Reply::new(status, "text/plain", Vec::new())
    }

    /// `201` of `POST /containers/create`.
    pub fn created(id: &str) -> Reply {
        Reply::json(201, serde_json::json!({ "Id": id, "Warnings": [] }))
    }

    /// `200` of `POST /containers/{id}/wait` once the container exited with `code`.
    pub fn exited(code: i64) -> Reply {
        Reply::json(
            200,
            serde_json::json!({ "StatusCode": code, "Error": null }),
        )
    }

    /// `GET /containers/{id}/json` of a container that runs or not.
    pub fn inspect(id: &str, running: bool) -> Reply {
        let status = if running { "running" } else { "exited" };
        let state = serde_json::json!({ "Status": status, "Running": running });
        Reply::json(200, serde_json::json!({ "Id": id, "State": state }))
    }

    /// A pull's progress (`POST /images/create`): the messages `\r\n`-terminated, one chunk
    /// each, as the daemon flushes them.
    pub fn progress(messages: &[serde_json::Value]) -> Reply {
        let lines = messages.iter().map(|m| Bytes::from(format!("{m}\r\n")));
        Reply::new(200, "application/json", lines.collect())
    }

    /// `101 UPGRADED` of `POST /containers/{id}/attach`.
    pub fn upgrade() -> Reply {
        let mut reply = Reply::new(101, "application/vnd.docker.multiplexed-stream", Vec::new());
        reply
            .headers
            .push((CONNECTION, HeaderValue::from_static("Upgrade")));
        reply
            .headers
            .push((UPGRADE, HeaderValue::from_static("tcp")));
        reply.upgrade = true;
        reply
    }

    /// The same answer, its body held back until `gate` opens.
    pub fn after(mut self, gate: &Gate) -> Reply {
        self.gate = Some(gate.clone());
        self
    }

    fn response(self) -> Response<Body> {
        let body = match (self.gate, self.chunks.as_slice()) {
            (None, []) => Empty::new().boxed_unsync(),
            (None, [one]) => Full::new(one.clone()).boxed_unsync(),
            (gate, _) => {
                let frames = futures_util::stream::iter(self.chunks).then(move |chunk| {
                    let gate = gate.clone();
                    async move {
                        if let Some(gate) = gate {
                            gate.opened().await;
                        }
                        Ok(Frame::data(chunk))
                    }
                });
                StreamBody::new(frames).boxed_unsync()
            }
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = self.status;
        let headers = resp.headers_mut();
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        // Every answer of the daemon says what it is.
        headers.insert("api-version", HeaderValue::from_static(API_VERSION));
        headers.insert("ostype", HeaderValue::from_static("linux"));
        headers.insert("server", HeaderValue::from_static("Docker/27.5.1 (linux)"));
        resp
    }
}

/// The daemon's end of a hijacked attach connection: the container's side.
pub struct AttachPeer {
    io: TokioIo<Upgraded>,
}

impl AttachPeer {
    /// Writes `data` as the container's output on `stream` (1 stdout, 2 stderr), one
    /// multiplexed frame (a container without a TTY).
    pub async fn frame(&mut self, stream: u8, data: &[u8]) {
        self.raw(&mux(stream, data)).await;
    }

    /// Writes `data` as it is (a container with a TTY).
    pub async fn raw(&mut self, data: &[u8]) {
        self.io
            .write_all(data)
            .await
            .expect("writing to the gateway");
        self.io.flush().await.expect("writing to the gateway");
    }

    /// Reads `n` bytes of the container's stdin.
    pub async fn read_stdin(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        let read = tokio::time::timeout(PATIENCE, self.io.read_exact(&mut buf));
        read.await.expect("stdin in time").expect("reading stdin");
        buf
    }

    /// Reads the container's stdin until the gateway closes it (a half-close, or the whole
    /// connection).
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(PATIENCE, self.io.read_to_end(&mut buf));
        read.await
            .expect("the end of stdin in time")
            .expect("reading stdin");
        buf
    }
}

mod tests {
    use super::*;
    use crate::engine::EngineError;

    #[tokio::test]
    async fn versions_paths_and_maps_daemon_errors() {
        let fake = FakeEngine::new();
        fake.on(
            "DELETE /containers/x%2Fy",
            Reply::error(404, "No such container: x/y"),
        )
        .on("POST /containers/c/start", Reply::error(500, "first"))
        .on("POST /containers/c/start", Reply::empty(204));
        let engine = Engine::fake(fake.clone());
        assert_eq!(engine.api_version().await.unwrap(), API_VERSION);
        let err = engine.remove("x/y", true).await.unwrap_err();
        assert!(
            matches!(&err, EngineError::Daemon { status: 404, message } if message == "No such container: x/y"),
            "{err:?}"
        );
        assert!(engine.start("c").await.is_err(), "the first answer first");
        engine.start("c").await.unwrap();
        engine.start("c").await.unwrap();
        let err = engine.kill("c", "TERM").await.unwrap_err();
        assert!(
            err.message()
                .contains("nothing scripted for POST /containers/c/kill"),
            "{err}"
        );
        let calls = fake.calls();
        assert_eq!(calls[0].to_string(), "GET /_ping");
        assert_eq!(calls[0].version, None);
        assert_eq!(calls[1].version.as_deref(), Some(API_VERSION));
        assert_eq!(calls[1].param("force"), Some("1"));
        assert_eq!(calls[5].param("signal"), Some("TERM"));
    }

    #[tokio::test]
    async fn attach_is_a_duplex_and_waits_answer_when_released() {
        let fake = FakeEngine::new();
        let exit = Gate::new();
        fake.on("POST /containers/c/attach", Reply::upgrade())
            .on("POST /containers/c/wait", Reply::exited(5).after(&exit));
        let engine = Engine::fake(fake.clone());
        let opts = super::super::AttachOptions {
            stdin: true,
            stdout: true,
            ..Default::default()
        };
        let mut attached = engine.attach("c", &opts).await.unwrap();
        let mut peer = fake.attached().await;
        // The wait is registered (its headers came) though it has not answered.
        let wait = engine
            .wait("c", super::super::WaitCondition::NextExit)
            .await
            .unwrap();
        attached.stdin.write(b"ping").await.unwrap();
        attached.stdin.close().await.unwrap();
        assert_eq!(peer.read_to_end().await, b"ping");
        peer.frame(2, b"pong").await;
        drop(peer);
        let frame = attached.output.next().await.unwrap().unwrap();
        assert_eq!((frame.stream, &frame.data[..]), (2, &b"pong"[..]));
        assert!(attached.output.next().await.unwrap().is_none());
        exit.open();
        assert_eq!(wait.status().await.unwrap(), 5);
        let attach = &fake.calls_to("POST /containers/c/attach")[0];
        assert_eq!(attach.header("upgrade"), Some("tcp"));
    }
}
