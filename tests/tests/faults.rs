//! Faults injected with real processes and real signals (issue 13): an engine's dockerd killed
//! with SIGKILL while runs stream output, wait and pull; a registry killed mid-layer; the
//! gateway's data directory turned full and read-only mid-run. Each test raises what it breaks
//! itself (`berth_tests::faults`: its own dockerd, registry, slow proxy, filesystem), never the
//! test bed's, and guards tear them down however it ends. Measured figures are printed
//! (`--nocapture`) and written up in docs/RELIABILITY.md.

use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use berth_server::Config;
use berth_tests::faults::{DataDisk, Dockerd, Registry, SlowProxy, push_large_image};
use berth_tests::{
    ADMIN_TOKEN, Client, DOCKER_HOST, FIXTURE, StoppableGateway, error_message, http, json_of,
    status_and_json, text_of,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Fault tests kill daemons and fill disks, and time what follows on two shared cores: they
/// take turns.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A shell loop that prints all the time; it ends by itself after two minutes.
const TICKER: &str = "i=0; while [ $i -lt 600 ]; do echo tick; sleep 0.2; i=$((i+1)); done";

// The gateway's log, as its tracing lines, and the panics of its threads.

static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends every gateway's log of this test binary into [`LOG`] and records panics raised in the
/// server's code; once per process.
fn capture() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
            .with_writer(|| LogWriter)
            .init();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(at) = info.location()
                && at.file().contains("server/src")
            {
                PANICS.lock().unwrap().push(format!("{at}: {info}"));
            }
            previous(info);
        }));
    });
}

/// The captured log lines that contain every one of `words`.
fn log_lines(words: &[&str]) -> Vec<String> {
    let log = String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned();
    log.lines()
        .filter(|l| words.iter().all(|w| l.contains(w)))
        .map(str::to_string)
        .collect()
}

fn server_panics() -> Vec<String> {
    PANICS.lock().unwrap().clone()
}

/// A gateway of the test's own (admin token only: admins may run anything) with `config`.
fn gateway(mut config: Config) -> StoppableGateway {
    capture();
    config.admin_token = Some(ADMIN_TOKEN.into());
    StoppableGateway::start(config)
}

/// A gateway whose one engine, named `name`, is `host` (an engines file).
fn gateway_on(name: &str, host: &str) -> (StoppableGateway, Config) {
    let mut config = Config::local(host);
    let file = config.data_dir.with_extension("engines.toml");
    std::fs::write(&file, format!("[engines.{name}]\nhost = \"{host}\"\n")).unwrap();
    config.engines = Some(file);
    (gateway(config.clone()), config)
}

async fn get(gw: &StoppableGateway, path: &str) -> Value {
    json_of(http().get(gw.url(path))).await
}

/// Polls `GET path` ([`berth_tests::poll_until`]); an answer that is not JSON counts as `null`.
async fn poll_until(
    gw: &StoppableGateway,
    path: &str,
    since: Instant,
    limit: Duration,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> (Value, Duration) {
    let answer = || async {
        match http().get(gw.url(path)).send().await {
            Ok(resp) => resp.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    };
    let what = format!("{what} (GET {path})");
    berth_tests::poll_until(answer, since, limit, &what, done).await
}

/// A run over `/api/runs/ws`, read as it goes.
struct Live {
    socket: berth_tests::Socket,
    events: Vec<Value>,
    output: Vec<u8>,
    open: bool,
}

impl Live {
    async fn run(gw: &StoppableGateway, argv: &[&str]) -> Live {
        let client = Client::connect_to(gw.addr, "/api/runs/ws", ADMIN_TOKEN)
            .await
            .expect("WebSocket connects");
        let mut socket = client.socket;
        let first = json!({"type": "run", "argv": argv});
        socket
            .send(Message::text(first.to_string()))
            .await
            .expect("send");
        Live {
            socket,
            events: Vec::new(),
            output: Vec::new(),
            open: true,
        }
    }

    async fn step(&mut self) {
        match self.socket.next().await {
            Some(Ok(Message::Text(text))) => self
                .events
                .push(serde_json::from_str(text.as_str()).expect("events are JSON")),
            Some(Ok(Message::Binary(frame))) => self.output.extend_from_slice(&frame[1..]),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => self.open = false,
            Some(Ok(_)) => {}
        }
    }

    /// Reads until `done` holds (`limit` at most, while the socket is open).
    async fn until(&mut self, limit: Duration, what: &str, done: impl Fn(&Live) -> bool) {
        let since = Instant::now();
        let _ = tokio::time::timeout(limit, async {
            while self.open && !done(self) {
                self.step().await;
            }
        })
        .await;
        assert!(
            done(self),
            "{what}: not within {limit:?} (waited {:?}, open: {}); saw {:?}",
            since.elapsed(),
            self.open,
            self.kinds()
        );
    }

    /// Reads until the server closes (`limit` at most): how long after `since` it had.
    async fn closed(&mut self, since: Instant, limit: Duration) -> Duration {
        let _ = tokio::time::timeout(limit, async {
            while self.open {
                self.step().await;
            }
        })
        .await;
        let after = since.elapsed();
        assert!(
            !self.open,
            "still open {after:?} on; saw {:?}",
            self.kinds()
        );
        after
    }

    fn event(&self, kind: &str) -> Option<&Value> {
        self.events.iter().find(|e| e["type"] == kind)
    }

    fn kinds(&self) -> Vec<String> {
        self.events
            .iter()
            .map(|e| e["type"].as_str().unwrap_or("?").to_string())
            .collect()
    }

    fn output_str(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }

    fn run_id(&self) -> String {
        self.event("accepted").expect("accepted")["run_id"]
            .as_str()
            .expect("a run id")
            .to_string()
    }

    /// The most bytes any layer's download had reached.
    fn pulled(&self) -> u64 {
        self.events
            .iter()
            .filter(|e| e["type"] == "pull" && e["status"] == "Downloading")
            .filter_map(|e| e["current"].as_u64())
            .max()
            .unwrap_or(0)
    }
}

/// Runs `argv` to its end over the WebSocket (60 s at most).
async fn run_to_end(gw: &StoppableGateway, argv: &[&str]) -> Live {
    let mut live = Live::run(gw, argv).await;
    live.closed(Instant::now(), Duration::from_secs(60)).await;
    live
}

/// `POST /api/runs` of a detached run: its id.
async fn detached(gw: &StoppableGateway, argv: &[&str]) -> String {
    let argv: Vec<&str> = [&["-d"][..], argv].concat();
    let (code, body) = status_and_json(
        http()
            .post(gw.url("/api/runs"))
            .json(&json!({"argv": argv})),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    body["run_id"].as_str().expect("a run_id").to_string()
}

fn said(value: &Value, field: &str) -> String {
    value[field].as_str().unwrap_or_default().to_string()
}

/// The engine `name` in `/api/health`'s `engines`.
fn health_of<'a>(health: &'a Value, name: &str) -> &'a Value {
    health["engines"]
        .as_array()
        .and_then(|l| l.iter().find(|e| e["name"] == name))
        .unwrap_or(&Value::Null)
}

/// What docker inspect says of `container`: (status, exit code).
fn inspect(dockerd: &Dockerd, container: &str) -> (String, i64) {
    let (ok, out, err) = dockerd.docker(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
        container,
    ]);
    assert!(ok, "docker inspect {container}: {err}");
    let (status, code) = out.trim().split_once(' ').unwrap_or_default();
    (status.to_string(), code.parse().expect("an exit code"))
}

/// The engine a gateway drives (named `doomed` in its engines file) killed with SIGKILL while
/// its runs stream output, wait for their container, and pull; then started again. Its dockerd
/// runs with `--live-restore`, so the containers survive both the daemon's death and its
/// return (without it, dockerd stops them when it starts again: engines.rs covers that).
#[tokio::test(flavor = "multi_thread")]
async fn an_engine_killed_mid_run_ends_its_runs_fast_and_its_survivors_are_followed_again() {
    let _turn = TURN.lock().await;
    let engine = "doomed";
    let mut dockerd = tokio::task::block_in_place(|| Dockerd::start("engine", &["--live-restore"]));
    let registry = Registry::start("engine-registry");
    tokio::task::block_in_place(|| push_large_image(&dockerd, &registry, "faults/slow", 24));
    // Slow enough that the pull is still downloading at the kill.
    let proxy = SlowProxy::start(registry.addr(), 256 * 1024).await;
    let slow_image = format!("{}/faults/slow:latest", proxy.host());
    let (gw, _config) = gateway_on(engine, &dockerd.host());
    let since = Instant::now();
    poll_until(
        &gw,
        "/api/health",
        since,
        Duration::from_secs(10),
        "reachable",
        |h| health_of(h, engine)["reachable"] == true,
    )
    .await;

    // Streaming output, waiting, pulling: each over its own WebSocket.
    let mut ticker = Live::run(&gw, &[FIXTURE, "sh", "-c", TICKER]).await;
    ticker
        .until(Duration::from_secs(30), "two ticks", |l| {
            l.output_str().contains("tick\ntick\n")
        })
        .await;
    let mut waiter = Live::run(&gw, &[FIXTURE, "sleep", "300"]).await;
    waiter
        .until(Duration::from_secs(30), "started", |l| {
            l.event("started").is_some()
        })
        .await;
    let mut puller = Live::run(&gw, &[&slow_image, "true"]).await;
    puller
        .until(Duration::from_secs(30), "a layer downloading", |l| {
            l.pulled() > 0
        })
        .await;
    // Detached (REST): one that exits 7 on SIGTERM, and one that exits 9 by itself while the
    // engine is down.
    let trapper = detached(
        &gw,
        &[
            FIXTURE,
            "sh",
            "-c",
            "trap 'exit 7' TERM; while :; do sleep 0.2; done",
        ],
    )
    .await;
    let quick = detached(&gw, &[FIXTURE, "sh", "-c", "sleep 3; exit 9"]).await;
    let quick_started = Instant::now();
    let live_runs = [ticker.run_id(), waiter.run_id(), puller.run_id()];
    let all_runs: Vec<String> = live_runs
        .iter()
        .cloned()
        .chain([trapper.clone(), quick.clone()])
        .collect();

    let killed = tokio::task::block_in_place(|| dockerd.kill());
    eprintln!("{engine}'s dockerd killed (SIGKILL)");

    // Every run over a WebSocket ends within 2 s with a 125 that names the engine.
    let mut errors = Vec::new();
    for (what, live) in [
        ("streaming", &mut ticker),
        ("waiting", &mut waiter),
        ("pulling", &mut puller),
    ] {
        let ended = live.closed(killed, Duration::from_secs(10)).await;
        let error = live
            .event("error")
            .cloned()
            .unwrap_or_else(|| panic!("the {what} run: no error event, saw {:?}", live.kinds()));
        eprintln!(
            "the {what} run ended {ended:?} after the kill: {}",
            error["message"]
        );
        assert_eq!(error["code"], 125, "the {what} run: {error}");
        assert!(live.event("exit").is_none(), "{:?}", live.kinds());
        assert!(
            ended <= Duration::from_secs(2),
            "the {what} run ended {ended:?} after the kill (2 s at most): {error}"
        );
        errors.push((what.to_string(), said(&error, "message")));
    }
    // Every run's record says failed, 125, within 2 s of the kill.
    for run_id in &all_runs {
        let path = format!("/api/runs/{run_id}");
        let (info, after) = poll_until(
            &gw,
            &path,
            killed,
            Duration::from_secs(10),
            "recorded failed",
            |i| i["state"] == "failed",
        )
        .await;
        eprintln!(
            "run {run_id} recorded failed {after:?} after the kill: {}",
            info["error"]
        );
        assert_eq!(info["exit_code"], 125, "{info}");
        assert!(
            after <= Duration::from_secs(2),
            "run {run_id} recorded failed {after:?} after the kill (2 s at most): {info}"
        );
        errors.push((format!("the record of {run_id}"), said(&info, "error")));
    }

    // /api/health says unreachable within 5 s.
    let (health, after) = poll_until(
        &gw,
        "/api/health",
        killed,
        Duration::from_secs(10),
        "unreachable in /api/health",
        |h| h["engine"]["reachable"] == false && health_of(h, engine)["reachable"] == false,
    )
    .await;
    eprintln!(
        "/api/health said unreachable {after:?} after the kill: {}",
        health["engine"]
    );
    assert!(after <= Duration::from_secs(5), "{after:?}: {health}");
    assert!(!said(&health["engine"], "error").is_empty(), "{health}");

    // New runs fail fast: REST with 502, the WebSocket with a 125.
    for body in [
        json!({"argv": [FIXTURE, "true"]}),
        json!({"argv": [FIXTURE, "true"], "engine": engine}),
        json!({"argv": [&slow_image, "true"]}),
    ] {
        let asked = Instant::now();
        let (code, refused) = tokio::time::timeout(
            Duration::from_secs(30),
            status_and_json(http().post(gw.url("/api/runs")).json(&body)),
        )
        .await
        .expect("an answer within 30 s");
        let took = asked.elapsed();
        eprintln!("a new run while {engine} is down: {code} in {took:?}: {refused}");
        assert_eq!(code, 502, "{body}: {refused}");
        assert!(took <= Duration::from_secs(2), "{body}: {code} in {took:?}");
        errors.push((format!("POST {body}"), error_message(&refused)));
    }
    let asked = Instant::now();
    let mut refused = Live::run(&gw, &[FIXTURE, "true"]).await;
    let took = refused.closed(asked, Duration::from_secs(30)).await;
    let error = refused.event("error").cloned().expect("an error event");
    eprintln!("a new WebSocket run while {engine} is down ended in {took:?}: {error}");
    assert_eq!(error["code"], 125, "{error}");
    assert!(took <= Duration::from_secs(2), "{took:?}");
    errors.push(("a new WebSocket run".into(), said(&error, "message")));

    // Back: the quick one has exited by then (3 s after its start, the engine down).
    tokio::time::sleep_until((quick_started + Duration::from_secs(4)).into()).await;
    let started = tokio::task::block_in_place(|| dockerd.restart());
    eprintln!(
        "{engine}'s dockerd answered {:?} after its start ({:?} after the kill)",
        started.took(),
        killed.elapsed()
    );
    let (_, after) = poll_until(
        &gw,
        "/api/health",
        started.answered,
        Duration::from_secs(15),
        "reachable again in /api/health",
        |h| h["engine"]["reachable"] == true && health_of(h, engine)["reachable"] == true,
    )
    .await;
    eprintln!("/api/health said reachable {after:?} after the engine answered again");
    assert!(after <= Duration::from_secs(5), "{after:?}");

    // New runs work.
    let back = run_to_end(&gw, &[FIXTURE, "echo", "back"]).await;
    assert_eq!(
        back.event("exit").map(|e| e["code"].clone()),
        Some(json!(0)),
        "{:?}",
        back.kinds()
    );
    assert_eq!(back.output_str(), "back\n");

    // The containers survived (live restore): those still running are followed again, the
    // quick one has its real exit status; none is left at 125.
    let mut containers = Vec::new();
    for run_id in &all_runs {
        let path = format!("/api/runs/{run_id}");
        let info = get(&gw, &path).await;
        let Some(container) = info["container_id"].as_str().map(str::to_string) else {
            // The pulling run never had a container: its 125 stands.
            assert_eq!(run_id, &puller.run_id(), "{info}");
            continue;
        };
        let (status, code) = inspect(&dockerd, &container);
        let (info, after) = poll_until(
            &gw,
            &path,
            started.answered,
            Duration::from_secs(20),
            "followed again or exited",
            |i| i["state"] == "running" || i["state"] == "exited",
        )
        .await;
        eprintln!(
            "run {run_id}: docker inspect {status} {code}; recorded {} {} {after:?} after the engine answered",
            info["state"], info["exit_code"]
        );
        if status == "running" {
            assert_eq!(info["state"], "running", "{info}");
            // Its failure no longer stands.
            assert!(
                info["exit_code"].is_null() && info["error"].is_null(),
                "{info}"
            );
        } else {
            assert_eq!(info["state"], "exited", "{info}");
            assert_eq!(info["exit_code"], code, "{info}");
        }
        containers.push((run_id.clone(), container));
    }
    let quick_info = get(&gw, &format!("/api/runs/{quick}")).await;
    assert_eq!(quick_info["exit_code"], 9, "{quick_info}");
    // The ones still running, stopped through the gateway, record their real statuses.
    for (run_id, container) in &containers {
        if inspect(&dockerd, container).0 != "running" {
            continue;
        }
        let signal = if run_id == &trapper { "TERM" } else { "KILL" };
        let path = format!("/api/runs/{run_id}/kill?signal={signal}");
        let (code, body) = status_and_json(http().post(gw.url(&path))).await;
        assert_eq!(code, 204, "{path}: {body}");
        let (info, _) = poll_until(
            &gw,
            &format!("/api/runs/{run_id}"),
            Instant::now(),
            Duration::from_secs(20),
            "an exit code",
            |i| i["state"] == "exited",
        )
        .await;
        let (status, code) = inspect(&dockerd, container);
        eprintln!(
            "run {run_id} ({signal}): recorded {}, docker inspect {status} {code}",
            info["exit_code"]
        );
        assert_eq!(info["exit_code"], code, "{info}");
        let expected = if run_id == &trapper { 7 } else { 137 };
        assert_eq!(code, expected, "run {run_id}");
    }
    // No half-pulled image.
    let (present, _, _) = dockerd.docker(&["image", "inspect", &slow_image]);
    assert!(!present, "{slow_image} present after its pull was cut");

    for (at, message) in &errors {
        assert!(
            message.contains(&format!("engine {engine}")),
            "{at}: the error names the engine: {message:?}"
        );
    }
    gw.stop(Duration::from_secs(30)).await;
    drop((proxy, registry));
}

/// The registry killed (SIGKILL) while the engine downloads a 100 MiB layer from it, through a
/// proxy that slows the download so that the kill lands mid-layer.
#[tokio::test(flavor = "multi_thread")]
async fn a_registry_killed_mid_pull_fails_the_run_and_a_retry_succeeds() {
    let _turn = TURN.lock().await;
    let dockerd =
        tokio::task::block_in_place(|| Dockerd::start("pull", &["--max-download-attempts=1"]));
    let mut registry = Registry::start("pull-registry");
    tokio::task::block_in_place(|| push_large_image(&dockerd, &registry, "faults/large", 100));
    let proxy = SlowProxy::start(registry.addr(), 4 << 20).await;
    let image = format!("{}/faults/large:latest", proxy.host());
    let (gw, _) = gateway_on("puller", &dockerd.host());

    let mut live = Live::run(&gw, &[&image, "echo", "pulled"]).await;
    live.until(Duration::from_secs(60), "10 MiB of the layer", |l| {
        l.pulled() >= 10 << 20
    })
    .await;
    let total = live
        .events
        .iter()
        .filter_map(|e| e["total"].as_u64())
        .max()
        .unwrap_or(0);
    let at_kill = live.pulled();
    let killed = tokio::task::block_in_place(|| registry.kill());
    eprintln!(
        "the registry killed (SIGKILL) with {at_kill} of {total} bytes of the layer downloaded"
    );
    assert!(
        at_kill < total,
        "the kill lands mid-layer: {at_kill} of {total}"
    );

    let ended = live.closed(killed, Duration::from_secs(150)).await;
    let error = live.event("error").cloned().unwrap_or_else(|| {
        panic!(
            "no error event, {ended:?} after the kill: {:?}",
            live.kinds()
        )
    });
    let message = said(&error, "message");
    // The engine's own retries: each a countdown ("Retrying in 5 seconds", … "in 1 second").
    let countdown: Vec<u64> = live
        .events
        .iter()
        .filter_map(|e| {
            said(e, "status")
                .strip_prefix("Retrying in ")
                .map(str::to_string)
        })
        .filter_map(|rest| rest.split(' ').next().and_then(|n| n.parse().ok()))
        .collect();
    let retries: Vec<u64> = countdown
        .iter()
        .enumerate()
        .filter(|(i, n)| *i == 0 || countdown[i - 1] < **n)
        .map(|(_, n)| *n)
        .collect();
    eprintln!(
        "the run ended {ended:?} after the kill, after the engine's retries in {retries:?} s: {message}"
    );
    // The engine retries once (`--max-download-attempts=1`; 5 times by default, for 76 s): its
    // countdown reached the watcher, and Berth did not give up before the engine did.
    assert_eq!(retries, [5], "{:?}", live.kinds());
    assert_eq!(error["code"], 125, "{error}");
    assert!(live.event("created").is_none(), "{:?}", live.kinds());
    assert!(live.event("exit").is_none(), "{:?}", live.kinds());
    // Clear: which registry, and what it did (the engine's words, as the docker CLI shows
    // them): the layer's connection cut (`EOF` or reset, as the kill reaches the proxy), or
    // refused once the engine starts over.
    assert!(
        message.contains(&proxy.host()),
        "the message names the registry: {message}"
    );
    let went_away = [": EOF", "connection reset by peer", "connection refused"];
    assert!(
        went_away.iter().any(|w| message.contains(w)),
        "the message says the registry went away: {message}"
    );
    let record = get(&gw, &format!("/api/runs/{}", live.run_id())).await;
    assert_eq!(record["state"], "failed", "{record}");
    assert_eq!(record["exit_code"], 125, "{record}");

    // No half-pulled image: not on the engine, not in Berth's images.
    let (present, _, _) = dockerd.docker(&["image", "inspect", &image]);
    assert!(!present, "{image} present on the engine after a cut pull");
    let images = get(&gw, "/api/images").await;
    assert!(
        !images.to_string().contains("faults/large"),
        "Berth lists the cut image: {images}"
    );

    // The registry back: the same run pulls and runs.
    tokio::task::block_in_place(|| registry.restart());
    proxy.set_rate(0);
    proxy.until_listening().await;
    let since = Instant::now();
    let retry = run_to_end(&gw, &[&image, "echo", "pulled"]).await;
    eprintln!(
        "the retry ended {:?} after its start: {:?}",
        since.elapsed(),
        retry.kinds().last()
    );
    assert_eq!(
        retry.event("exit").map(|e| e["code"].clone()),
        Some(json!(0)),
        "{:?} {:?}",
        retry.kinds(),
        retry.event("error")
    );
    assert_eq!(retry.output_str(), "pulled\n");
    let (present, _, _) = dockerd.docker(&["image", "inspect", &image]);
    assert!(present, "{image} on the engine after the retry");
    gw.stop(Duration::from_secs(30)).await;
}

/// The bytes each run during a store fault prints.
const TRANSCRIPT: usize = 256 * 1024;

/// What `yes TAG | head -c TRANSCRIPT` prints.
fn yes(tag: &str) -> String {
    let mut out = format!("{tag}\n").repeat(TRANSCRIPT / (tag.len() + 1) + 1);
    out.truncate(TRANSCRIPT);
    out
}

/// What the store faults share: a gateway on the test bed's engine with its data directory on
/// `disk`; runs before, during and after the fault (`break_it`, then `repair`); the failure
/// logged once and reported on `/api/ready`; no panic; and, after a restart of the gateway on
/// the same directory, the history of every run, those of the fault included.
async fn store_fault(
    disk: &mut DataDisk,
    break_it: impl FnOnce(&DataDisk),
    repair: impl FnOnce(&mut DataDisk),
) {
    let data_dir = disk.path.join("berth");
    let mut config = Config::local(DOCKER_HOST);
    config.data_dir = data_dir.clone();
    let db = data_dir.join("berth.db").display().to_string();
    let gw = gateway(config.clone());
    let ok = |gw: &StoppableGateway| {
        let url = gw.url("/api/ready");
        async move { status_and_json(http().get(url)).await }
    };
    let (code, ready) = ok(&gw).await;
    assert_eq!(code, 200, "{ready}");

    let mut runs = Vec::new();
    let before = run_to_end(&gw, &[FIXTURE, "echo", "before"]).await;
    assert_eq!(before.output_str(), "before\n");
    runs.push((before.run_id(), "before\n".to_string()));
    // What is written by then is on the disk (a disk that fails loses what it had not
    // written back yet: SQLite's synchronous=NORMAL does not sync each commit).
    let synced = std::process::Command::new("sync").status();
    assert!(synced.is_ok_and(|s| s.success()), "sync");

    break_it(disk);
    let broke = Instant::now();
    // Runs keep working, each printing 256 KiB (more than SQLite's log has room for: its
    // transcript must be written to new pages).
    for i in 0..3 {
        let tag = format!("during-{i}");
        let script = format!("yes {tag} | head -c {TRANSCRIPT}");
        let live = run_to_end(&gw, &[FIXTURE, "sh", "-c", &script]).await;
        assert_eq!(
            live.event("exit").map(|e| e["code"].clone()),
            Some(json!(0)),
            "run {i} during the fault: {:?} {:?}",
            live.kinds(),
            live.event("error")
        );
        let expected = yes(&tag);
        assert!(
            live.output_str() == expected,
            "run {i}'s output during the fault"
        );
        runs.push((live.run_id(), expected));
    }
    // Reported on /api/ready while it lasts.
    let (code, ready) = ok(&gw).await;
    eprintln!(
        "/api/ready during the fault ({:?} in): {code} {ready}",
        broke.elapsed()
    );
    assert_eq!(code, 503, "{ready}");
    assert!(said(&ready, "store").contains("cannot write"), "{ready}");
    assert_eq!(ready["engine"], "ok", "{ready}");
    // The history still answers, from memory.
    let (code, _) = status_and_json(http().get(gw.url("/api/runs"))).await;
    assert_eq!(code, 200);
    // Logged once.
    let failed = log_lines(&[&db, "cannot write"]);
    eprintln!("logged: {failed:?}");
    assert_eq!(failed.len(), 1, "the failure logged once: {failed:?}");
    let saving = log_lines(&["saving the run"]);
    assert!(saving.is_empty(), "no run logs its own failure: {saving:?}");

    repair(disk);
    let repaired = Instant::now();
    let (ready, after) = poll_until(
        &gw,
        "/api/ready",
        repaired,
        Duration::from_secs(10),
        "the store ready again",
        |r| r["store"] == "ok",
    )
    .await;
    eprintln!("/api/ready said the store is ok {after:?} after the repair: {ready}");
    let resumed = log_lines(&[&db, "the store writes again"]);
    eprintln!("logged: {resumed:?}");
    assert_eq!(resumed.len(), 1, "{resumed:?}");
    assert!(!resumed[0].contains("lost"), "{resumed:?}");
    let after_run = run_to_end(&gw, &[FIXTURE, "echo", "after"]).await;
    assert_eq!(after_run.output_str(), "after\n");
    runs.push((after_run.run_id(), "after\n".to_string()));
    let panics = server_panics();
    assert!(panics.is_empty(), "panics in the server: {panics:?}");
    gw.stop(Duration::from_secs(30)).await;

    // A new gateway on the same directory: every run's record and transcript, from the disk.
    let gw = gateway(config);
    for (run_id, output) in &runs {
        let info = get(&gw, &format!("/api/runs/{run_id}")).await;
        assert_eq!(
            info["exit_code"], 0,
            "run {run_id} after the restart: {info}"
        );
        let stored = text_of(http().get(gw.url(&format!("/api/runs/{run_id}/output")))).await;
        assert!(
            &stored == output,
            "run {run_id}'s transcript after the restart: {} bytes, {} expected",
            stored.len(),
            output.len()
        );
    }
    gw.stop(Duration::from_secs(30)).await;
    assert!(Path::new(&db).exists());
}

/// The data directory full (a 16 MiB tmpfs filled up) mid-run, then room again.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_data_disk_keeps_runs_going_and_history_resumes() {
    let _turn = TURN.lock().await;
    let mut disk = DataDisk::tmpfs("full", "16m");
    let filler = std::sync::Arc::new(Mutex::new(None));
    let keep = std::sync::Arc::clone(&filler);
    store_fault(
        &mut disk,
        move |disk| *keep.lock().unwrap() = Some(disk.fill()),
        move |_| {
            let file = filler.lock().unwrap().take().expect("the filler");
            std::fs::remove_file(file).expect("removing the filler");
        },
    )
    .await;
}

/// The data directory turned read-only by the kernel mid-run (ext4 with `errors=remount-ro`,
/// an error triggered: every write fails with EROFS, through open files too), then the disk
/// back (checked and mounted again: another filesystem, which the store opens again).
#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_data_disk_keeps_runs_going_and_history_resumes() {
    let _turn = TURN.lock().await;
    let mut disk = DataDisk::ext4("read-only", 32);
    store_fault(&mut disk, DataDisk::turn_read_only, DataDisk::mount_again).await;
}
