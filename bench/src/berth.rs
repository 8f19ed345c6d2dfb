//! Berth as a separate release process (so its memory and CPU are its own), and WebSocket
//! clients of it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_shared::wire::{ClientMessage, RunRequest, ServerEvent};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::consume::Consumer;
use crate::procstat;

pub struct Berth {
    child: Child,
    pub addr: SocketAddr,
    /// The gateway's admin token: every API request but health needs a bearer token.
    pub token: String,
    data_dir: PathBuf,
}

impl Berth {
    /// Starts `berth serve` on a free loopback port, driving `DOCKER_HOST` alone (the engine
    /// `local`), and waits until it answers.
    pub fn start(binary: &Path, output_limit: usize) -> Berth {
        Berth::launch(binary, output_limit, Extra::default())
    }

    /// The same with `--engines FILE`, the file holding `engines` (TOML `[engines.NAME]`
    /// tables), written into the gateway's data directory.
    pub fn with_engines(binary: &Path, output_limit: usize, engines: &str) -> Berth {
        Berth::launch(
            binary,
            output_limit,
            Extra {
                engines: Some(engines),
                ..Extra::default()
            },
        )
    }

    /// The same with `--policy FILE`, the file holding `policy` (TOML, docs/POLICY.md),
    /// and the environment variables `env` on top of the usual ones.
    pub fn with_policy(
        binary: &Path,
        output_limit: usize,
        policy: &str,
        env: &[(&str, &str)],
    ) -> Berth {
        Berth::launch(
            binary,
            output_limit,
            Extra {
                policy: Some(policy),
                env,
                ..Extra::default()
            },
        )
    }

    fn launch(binary: &Path, output_limit: usize, extra: Extra) -> Berth {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let token = format!("bench-{}-{port}", std::process::id());
        let data_dir =
            std::env::temp_dir().join(format!("berth-bench-{}-{port}", std::process::id()));
        // Appended to: the placement section runs two gateways at once.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(std::env::temp_dir().join("berth-bench-server.log"))
            .expect("log file");
        let mut command = Command::new(binary);
        command.args(["serve", "--listen", &addr.to_string()]);
        for (flag, name, text) in [
            ("--engines", "engines.toml", extra.engines),
            ("--policy", "policy.toml", extra.policy),
        ] {
            if let Some(text) = text {
                std::fs::create_dir_all(&data_dir).expect("the data directory");
                let file = data_dir.join(name);
                std::fs::write(&file, text).expect("a configuration file");
                command.arg(flag).arg(file);
            }
        }
        let mut child = command
            .arg("--static-dir")
            .arg(data_dir.join("no-dashboard"))
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--output-limit", &output_limit.to_string()])
            .env("DOCKER_HOST", "unix:///var/run/docker.sock")
            .env("BERTH_LOG", "warn")
            .env("BERTH_ADMIN_TOKEN", &token)
            .env_remove("BERTH_POLICY")
            .env_remove("BERTH_ENGINES")
            .env_remove("BERTH_PUBLIC_ORIGIN")
            .envs(extra.env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("berth starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "berth exited ({status}) before listening: see {}",
                    std::env::temp_dir()
                        .join("berth-bench-server.log")
                        .display()
                );
            }
            assert!(Instant::now() < deadline, "berth did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Berth {
            child,
            addr,
            token,
            data_dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// (current, peak) resident memory in bytes.
    pub fn rss(&self) -> (u64, u64) {
        procstat::rss(self.pid()).unwrap_or_default()
    }

    pub fn cpu(&self) -> Duration {
        procstat::cpu(self.pid()).unwrap_or_default()
    }

    /// The gateway's `io.berth.instance` label value (`<data-dir>/instance-id`).
    pub fn instance(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("instance-id"))
            .map(|id| id.trim().to_string())
            .unwrap_or_default()
    }

    /// A REST GET, answered as text (HTTP/1.0 so the body ends at the close).
    pub fn get(&self, path: &str) -> Option<String> {
        let mut s = TcpStream::connect(self.addr).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.0\r\nHost: berth\r\nAuthorization: Bearer {}\r\n\r\n",
            self.token
        )
        .ok()?;
        let mut answer = String::new();
        s.read_to_string(&mut answer).ok()?;
        answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
    }
}

/// What a gateway is started with beyond the defaults.
#[derive(Default)]
struct Extra<'a> {
    /// An engines file's text (`--engines`).
    engines: Option<&'a str>,
    /// A policy file's text (`--policy`).
    policy: Option<&'a str>,
    env: &'a [(&'a str, &'a str)],
}

impl Drop for Berth {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// How a client reads.
#[derive(Clone, Copy, Default)]
pub struct Reading {
    /// Read at most this many bytes per second for this long after connecting, then at full
    /// speed: a slow consumer.
    pub slow: Option<(f64, Duration)>,
    pub fingerprint: bool,
}

/// What one WebSocket client saw.
pub struct Session {
    pub consumer: Consumer,
    /// From connecting to the `exit` event.
    pub to_exit: Option<Duration>,
    pub exit_code: Option<i64>,
    pub run_id: Option<String>,
    /// The engine the run was placed on (the `accepted` event's).
    pub engine: Option<String>,
    pub container_id: Option<String>,
    pub error: Option<String>,
    pub gap_events: u64,
    pub gap_bytes: u64,
    /// When the server closed (or the connection failed).
    pub ended: Instant,
}

fn argv_request(argv: &[&str], engine: Option<&str>) -> ClientMessage {
    ClientMessage::Run(Box::new(RunRequest {
        argv: Some(argv.iter().map(|s| s.to_string()).collect()),
        engine: engine.map(str::to_string),
        ..Default::default()
    }))
}

/// Where a client connects: the gateway's address and who it is.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub credential: Credential,
}

/// How a client says who it is.
#[derive(Clone)]
pub enum Credential {
    /// `Authorization: Bearer TOKEN`.
    Bearer(String),
    /// `Cookie: NAME=VALUE` (a demo guest's `berth_guest`).
    Cookie(String),
}

impl Credential {
    /// The request header that carries it.
    pub fn header(&self) -> (&'static str, String) {
        match self {
            Credential::Bearer(token) => ("authorization", format!("Bearer {token}")),
            Credential::Cookie(cookie) => ("cookie", cookie.clone()),
        }
    }
}

impl Berth {
    /// The gateway as its admin.
    pub fn target(&self) -> Target {
        Target {
            addr: self.addr,
            credential: Credential::Bearer(self.token.clone()),
        }
    }
}

/// Starts `docker run <argv>` over `/api/runs/ws` and follows it to the end.
pub async fn run(to: &Target, argv: &[&str], reading: Reading) -> Session {
    run_on(to, argv, None, reading).await
}

/// The same on the engine named, or where Berth places it (`None`).
pub async fn run_on(to: &Target, argv: &[&str], engine: Option<&str>, reading: Reading) -> Session {
    let first = argv_request(argv, engine);
    session(to, "/api/runs/ws", &first, reading, None).await
}

/// Watches a run from the start; `ready` fires once the server has answered.
pub async fn watch(
    to: &Target,
    run_id: &str,
    reading: Reading,
    ready: Option<oneshot::Sender<()>>,
) -> Session {
    let path = format!("/api/runs/{run_id}/ws");
    session(
        to,
        &path,
        &ClientMessage::Watch { from: None },
        reading,
        ready,
    )
    .await
}

async fn session(
    to: &Target,
    path: &str,
    first: &ClientMessage,
    reading: Reading,
    mut ready: Option<oneshot::Sender<()>>,
) -> Session {
    let started = Instant::now();
    let mut consumer = Consumer::new(started);
    if reading.fingerprint {
        consumer = consumer.fingerprinting();
    }
    let mut s = Session {
        consumer,
        to_exit: None,
        exit_code: None,
        run_id: None,
        engine: None,
        container_id: None,
        error: None,
        gap_events: 0,
        gap_bytes: 0,
        ended: started,
    };
    let mut request = format!("ws://{}{path}", to.addr)
        .into_client_request()
        .expect("a valid URL");
    let (name, value) = to.credential.header();
    request
        .headers_mut()
        .insert(name, value.parse().expect("a header value"));
    let mut socket = match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => socket,
        Err(e) => {
            s.error = Some(format!("connect: {e}"));
            s.ended = Instant::now();
            return s;
        }
    };
    let text = serde_json::to_string(first).expect("serialises");
    if let Err(e) = socket.send(Message::text(text)).await {
        s.error = Some(format!("send: {e}"));
        s.ended = Instant::now();
        return s;
    }
    while let Some(msg) = socket.next().await {
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                s.error = Some(format!("read: {e}"));
                break;
            }
        };
        match msg {
            Message::Binary(b) => {
                s.consumer.take(&b[1..]);
                if let Some((rate, window)) = reading.slow
                    && started.elapsed() < window
                {
                    tokio::time::sleep(Duration::from_secs_f64(b.len() as f64 / rate)).await;
                }
            }
            Message::Text(t) => {
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
                match serde_json::from_str::<ServerEvent>(t.as_str()) {
                    Ok(ServerEvent::Accepted { run_id, engine }) => {
                        s.run_id = Some(run_id);
                        s.engine = Some(engine);
                    }
                    Ok(ServerEvent::Created { container_id, .. }) => {
                        s.container_id = Some(container_id)
                    }
                    Ok(ServerEvent::Exit { code }) => {
                        s.to_exit = Some(started.elapsed());
                        s.exit_code = Some(code);
                    }
                    Ok(ServerEvent::Gap { bytes }) => {
                        s.gap_events += 1;
                        s.gap_bytes += bytes;
                    }
                    Ok(ServerEvent::Error { message, .. }) => s.error = Some(message),
                    Ok(ServerEvent::Detached { container_id }) => {
                        s.container_id = Some(container_id)
                    }
                    Ok(_) => {}
                    Err(e) => s.error = Some(format!("bad event {t}: {e}")),
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    s.ended = Instant::now();
    s
}
