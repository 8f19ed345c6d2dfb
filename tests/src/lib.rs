//! Test harness: a Berth gateway in this process against the real engine, and clients for
//! its WebSocket and REST APIs. The test bed (dockerd, registry, fixtures) comes from
//! `scripts/testbed.sh`, which the test command runs first.

pub mod team;

pub mod browser;

pub mod testbed;

pub mod faults;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use berth_server::Config;
use berth_shared::wire::{ClientMessage, RunRequest, ServerEvent};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

pub const DOCKER_HOST: &str = "unix:///var/run/docker.sock";
/// The test bed's second engine (another dockerd on this machine, `scripts/testbed.sh`), for
/// the tests of a gateway with several engines. It has the fixture too.
pub const SECOND_DOCKER_HOST: &str = "unix:///var/run/berth-testbed-2.sock";
/// The bootstrap admin token of the test gateways.
pub const ADMIN_TOKEN: &str = "test-admin-token";
/// Imported from busybox-static by the test bed.
pub const FIXTURE: &str = "berth-fixture:latest";
/// The fixture in the loopback registry.
pub const REGISTRY_IMAGE: &str = "127.0.0.1:5000/berth/busybox:latest";
/// An image with a layer of its own, only in the loopback registry: pulling it downloads.
pub const PULLABLE: &str = "127.0.0.1:5000/berth/pullable:latest";

/// Starts a gateway with `config` on its own runtime, for the life of the test process.
pub fn spawn_gateway(mut config: Config) -> SocketAddr {
    config.listen = "127.0.0.1:0".parse().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (addr, server) = berth_server::bind(config).await.expect("gateway binds");
            tx.send(addr).unwrap();
            server.await.unwrap();
        });
    });
    rx.recv().expect("gateway started")
}

/// A gateway on a runtime of its own that a test can stop, as SIGTERM stops `berth` (the same
/// shutdown: runs in progress are recorded, their containers keep running), to start another
/// on the same data directory. Dropped without [`StoppableGateway::stop`], it stops too.
pub struct StoppableGateway {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StoppableGateway {
    pub fn start(mut config: Config) -> StoppableGateway {
        config.listen = "127.0.0.1:0".parse().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let shutdown = async move {
                    let _ = stopped.await;
                };
                let (addr, server) = berth_server::bind_until(config, shutdown)
                    .await
                    .expect("gateway binds");
                tx.send(addr).unwrap();
                server.await.unwrap();
            });
            // Dropping the runtime ends every task of the gateway (health checks, followers).
        });
        let addr = rx.recv().expect("gateway started");
        StoppableGateway {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the gateway and waits (`limit` at most) until nothing of it runs any more;
    /// returns how long that took.
    pub async fn stop(mut self, limit: Duration) -> Duration {
        let since = std::time::Instant::now();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let thread = self.thread.take().expect("a gateway thread");
        let joined = tokio::task::spawn_blocking(move || thread.join());
        match tokio::time::timeout(limit, joined).await {
            Ok(Ok(Ok(()))) => since.elapsed(),
            Ok(_) => panic!("the gateway's thread panicked while stopping"),
            Err(_) => panic!("the gateway did not stop within {limit:?}"),
        }
    }
}

/// Asks `answer` every 50 ms, `limit` at most, until `done` holds for what it says: that
/// answer, and how long after `since` it held. Panics naming `what`, with the last answer and
/// the time waited, when it does not hold in time.
pub async fn poll_until<F: Future<Output = Value>>(
    mut answer: impl FnMut() -> F,
    since: std::time::Instant,
    limit: Duration,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> (Value, Duration) {
    let mut last = Value::Null;
    let polled = tokio::time::timeout(limit, async {
        loop {
            last = answer().await;
            if done(&last) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let after = since.elapsed();
    assert!(
        polled.is_ok(),
        "{what}: not within {limit:?} ({after:?} after the start of the wait's clock); said {last}"
    );
    (last, after)
}

/// A loopback port free at the time of asking, for a process or proxy to listen on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The shared gateway of this test binary, against the real engine.
pub fn gateway() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        assert!(
            docker(&["version", "--format", "{{.Server.APIVersion}}"]).0,
            "no Docker engine at {DOCKER_HOST}: run scripts/testbed.sh (the README's test command does)"
        );
        let mut config = Config::local(DOCKER_HOST);
        config.output_limit = 1024 * 1024;
        config.admin_token = Some(ADMIN_TOKEN.into());
        spawn_gateway(config)
    })
}

/// Runs the official docker CLI; returns (success, stdout, stderr).
pub fn docker(args: &[&str]) -> (bool, String, String) {
    docker_on(DOCKER_HOST, args)
}

/// Runs the official docker CLI against the engine at `host` (`docker -H host …`); returns
/// (success, stdout, stderr).
pub fn docker_on(host: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("docker")
        .arg("-H")
        .arg(host)
        .args(args)
        .output()
        .expect("docker CLI runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The message of an API error answer (`{"error":{"message"}}`), or "".
pub fn error_message(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Asserts a policy denial (403) naming `rule`.
pub fn assert_rule(code: u16, body: &Value, rule: &str) {
    assert_eq!(code, 403, "{body}");
    assert!(
        error_message(body).contains(&format!("`{rule}`")),
        "rule {rule}: {body}"
    );
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "berth-test-{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Everything a client saw of a run.
#[derive(Debug, Default)]
pub struct Transcript {
    pub events: Vec<ServerEvent>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Output in arrival order, stream-tagged.
    pub closed_normally: bool,
}

impl Transcript {
    pub fn exit_code(&self) -> Option<i64> {
        self.events.iter().find_map(|e| match e {
            ServerEvent::Exit { code } => Some(*code),
            _ => None,
        })
    }
    pub fn error(&self) -> Option<(i32, String)> {
        self.events.iter().find_map(|e| match e {
            ServerEvent::Error { code, message } => Some((*code, message.clone())),
            _ => None,
        })
    }
    /// Asserts that the run failed: an error event with the exit status `code`, whose
    /// message contains every one of `wording`.
    pub fn assert_error(&self, code: i32, wording: &[&str]) {
        let (got, message) = self.error().expect("an error event");
        assert_eq!(got, code, "{message}");
        for w in wording {
            assert!(message.contains(w), "{w:?} in {message:?}");
        }
    }
    pub fn run_id(&self) -> Option<String> {
        self.events.iter().find_map(|e| match e {
            ServerEvent::Accepted { run_id, .. } => Some(run_id.clone()),
            _ => None,
        })
    }
    pub fn kinds(&self) -> Vec<&'static str> {
        self.events
            .iter()
            .map(|e| match e {
                ServerEvent::Accepted { .. } => "accepted",
                ServerEvent::Pull(_) => "pull",
                ServerEvent::Created { .. } => "created",
                ServerEvent::Started => "started",
                ServerEvent::Exit { .. } => "exit",
                ServerEvent::Detached { .. } => "detached",
                ServerEvent::Error { .. } => "error",
                ServerEvent::Gap { .. } => "gap",
                ServerEvent::Warning { .. } => "warning",
                ServerEvent::ResumeRefused { .. } => "resume_refused",
                ServerEvent::Expiring { .. } => "expiring",
                ServerEvent::ExecStarted { .. } => "exec_started",
            })
            .collect()
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A WebSocket client on a run.
pub struct Client {
    pub socket: Socket,
    pub transcript: Transcript,
}

impl Client {
    /// Connects as the admin of the shared test gateway.
    pub async fn connect(path: &str) -> Client {
        Self::connect_to(gateway(), path, ADMIN_TOKEN)
            .await
            .expect("WebSocket connects")
    }

    /// Connects to `addr` with a bearer token (none when empty).
    pub async fn connect_to(
        addr: SocketAddr,
        path: &str,
        token: &str,
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://{addr}{path}").into_client_request()?;
        if !token.is_empty() {
            let bearer = format!("Bearer {token}").parse().expect("header value");
            request.headers_mut().insert("authorization", bearer);
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Client {
            socket,
            transcript: Transcript::default(),
        })
    }

    /// Starts `docker run <argv>` over `/api/runs/ws`.
    pub async fn run(argv: &[&str]) -> Client {
        Self::run_request(RunRequest {
            argv: Some(argv.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        })
        .await
    }

    pub async fn run_request(req: RunRequest) -> Client {
        let mut c = Client::connect("/api/runs/ws").await;
        c.send(&ClientMessage::Run(Box::new(req))).await;
        c
    }

    /// Watches a run of the shared test gateway as its admin.
    pub async fn watch(run_id: &str) -> Client {
        Self::watch_as(gateway(), ADMIN_TOKEN, run_id).await
    }

    /// Watches a run from its start on the gateway at `addr`, as `token`: the watch socket
    /// of tests with gateways (and users) of their own.
    pub async fn watch_as(addr: SocketAddr, token: &str, run_id: &str) -> Client {
        let path = format!("/api/runs/{run_id}/ws");
        let mut c = Self::connect_to(addr, &path, token)
            .await
            .expect("WebSocket connects");
        c.send(&ClientMessage::Watch { from: None }).await;
        c
    }

    pub async fn send(&mut self, msg: &ClientMessage) {
        let text = serde_json::to_string(msg).unwrap();
        self.socket.send(Message::text(text)).await.expect("send");
    }

    pub async fn send_stdin(&mut self, data: &[u8]) {
        self.socket
            .send(Message::binary(data.to_vec()))
            .await
            .expect("send stdin");
    }

    /// Reads one message into the transcript; `false` once the socket is closed.
    pub async fn step(&mut self) -> bool {
        match tokio::time::timeout(Duration::from_secs(60), self.socket.next()).await {
            Err(_) => panic!(
                "no message within 60 s; so far: {:?}",
                self.transcript.kinds()
            ),
            Ok(None) | Ok(Some(Err(_))) => false,
            Ok(Some(Ok(msg))) => match msg {
                Message::Text(t) => {
                    let event: ServerEvent =
                        serde_json::from_str(t.as_str()).expect("events are JSON");
                    self.transcript.events.push(event);
                    true
                }
                Message::Binary(b) => {
                    assert!(!b.is_empty(), "empty output frame");
                    match b[0] {
                        1 => self.transcript.stdout.extend_from_slice(&b[1..]),
                        2 => self.transcript.stderr.extend_from_slice(&b[1..]),
                        other => panic!("unknown stream byte {other}"),
                    }
                    true
                }
                Message::Close(frame) => {
                    self.transcript.closed_normally =
                        frame.is_some_and(|f| u16::from(f.code) == 1000);
                    false
                }
                _ => true,
            },
        }
    }

    /// Reads until `pred` holds for the transcript.
    pub async fn until(&mut self, pred: impl Fn(&Transcript) -> bool) {
        while !pred(&self.transcript) {
            assert!(
                self.step().await,
                "closed before the condition; saw {:?}",
                self.transcript.kinds()
            );
        }
    }

    /// Reads until the server closes.
    pub async fn finish(mut self) -> Transcript {
        while self.step().await {}
        self.transcript
    }
}

/// Runs to completion over the WebSocket.
pub async fn run_to_end(argv: &[&str]) -> Transcript {
    Client::run(argv).await.finish().await
}

/// An HTTP client that authenticates as the admin of the test gateways.
pub fn http() -> reqwest::Client {
    http_as(ADMIN_TOKEN)
}

/// An HTTP client that sends `token` as its bearer token.
pub fn http_as(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if !token.is_empty() {
        let value = format!("Bearer {token}").parse().expect("header value");
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("HTTP client")
}

pub fn url(path: &str) -> String {
    format!("http://{}{path}", gateway())
}

// Request helpers. Nearly every REST check sends one request and looks at its status, its
// JSON or its text; these keep that send/parse chain (and where it panics) in one place, for
// any client (admin, a team member, anonymous, a browser with cookies) and any gateway.

/// Sends `req`; the answer's status.
pub async fn status_of(req: reqwest::RequestBuilder) -> u16 {
    req.send().await.unwrap().status().as_u16()
}

/// Sends `req`; the answer's body parsed as JSON (panics when it is not JSON).
pub async fn json_of(req: reqwest::RequestBuilder) -> Value {
    req.send().await.unwrap().json().await.unwrap()
}

/// Sends `req`; the answer's body as text (run output, container logs).
pub async fn text_of(req: reqwest::RequestBuilder) -> String {
    req.send().await.unwrap().text().await.unwrap()
}

/// Sends `req`; the status and the JSON body (`null` when there is none), for checks on both.
pub async fn status_and_json(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// `GET path` on the shared gateway as admin, as JSON.
pub async fn get_json(path: &str) -> Value {
    json_of(http().get(url(path))).await
}

/// What the shared gateway recorded of a run's output (`GET /api/runs/{id}/output`).
pub async fn run_output(run_id: &str) -> String {
    text_of(http().get(url(&format!("/api/runs/{run_id}/output")))).await
}

/// `POST /api/runs` with `body` on the shared gateway as admin: (status, JSON body).
pub async fn create_run(body: Value) -> (u16, Value) {
    status_and_json(http().post(url("/api/runs")).json(&body)).await
}

/// The `run_id` in the answer to a run's creation (or an attach).
pub fn run_id_of(created: &Value) -> String {
    created["run_id"].as_str().expect("a run_id").to_string()
}

/// The `run_id`s of a `GET /api/runs` listing, in its order.
pub fn run_ids(listing: &Value) -> Vec<&str> {
    listing
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect()
}

/// Sends `req()` up to `tries` times, `every` apart, until `done` holds for the JSON answer;
/// returns the last answer either way, so the caller states what it expected of it. Runs end
/// on the engine's schedule, so tests that look at a finished run wait for it this way.
pub async fn poll_json(
    req: impl Fn() -> reqwest::RequestBuilder,
    tries: usize,
    every: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut answer = Value::Null;
    for i in 0..tries {
        if i > 0 {
            tokio::time::sleep(every).await;
        }
        answer = json_of(req()).await;
        if done(&answer) {
            break;
        }
    }
    answer
}

/// Polls a run's record with `req()` (a `GET /api/runs/{id}` on any gateway, as anyone who
/// may see the run), at most `tries` times `every` apart, until it has an exit code; asserts
/// that it got one and returns the record.
pub async fn poll_exit(
    req: impl Fn() -> reqwest::RequestBuilder,
    tries: usize,
    every: Duration,
) -> Value {
    let info = poll_json(req, tries, every, |info| !info["exit_code"].is_null()).await;
    let waited = every * tries as u32;
    assert!(
        !info["exit_code"].is_null(),
        "the run did not end within {waited:?}: {info}"
    );
    info
}

/// Polls `GET /api/runs/{id}` on the shared gateway until it has an exit code (30 s at most).
pub async fn wait_for_exit(run_id: &str) -> Value {
    let path = format!("/api/runs/{run_id}");
    poll_exit(|| http().get(url(&path)), 300, Duration::from_millis(100)).await
}

/// Containers carrying Berth's label for `run_id`.
pub fn containers_of_run(run_id: &str) -> Vec<String> {
    let filter = format!("label=io.berth.run-id={run_id}");
    let (_, out, _) = docker(&["ps", "-aq", "--filter", &filter]);
    out.lines().map(str::to_string).collect()
}

/// Containers carrying Berth's label for `run_id` on the engine at `host`.
pub fn containers_of_run_on(host: &str, run_id: &str) -> Vec<String> {
    let filter = format!("label=io.berth.run-id={run_id}");
    let (_, out, _) = docker_on(host, &["ps", "-aq", "--filter", &filter]);
    out.lines().map(str::to_string).collect()
}
