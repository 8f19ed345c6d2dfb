//! Clients that vanish and clients that stall (issue 13), against the `berth` binary as a
//! child process, so that its memory (VmRSS), file descriptors and threads in `/proc/<pid>` are
//! the gateway's own.
//!
//! - 1,000 runs whose clients disconnect at random points (before `accepted`, during the pull,
//!   during output, during stdin) and at random speeds, by a close frame, a FIN or a reset:
//!   every run ends with a recorded state, every `--rm` container is gone, and the gateway's
//!   memory, descriptors and threads come back to their baseline.
//! - 200 watchers that stop reading for a minute: the gateway's memory stays within the bound
//!   of docs/BENCHMARKS.md, and the run's output reaches the client that started it on time.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_shared::wire::{ClientMessage, RunRequest, ServerEvent};
use berth_tests::{Client, FIXTURE, Transcript, docker, http_as, status_and_json};
use serde_json::{Value, json};
use support::{ADMIN, Berth, Usage, containers_labelled, data_dir, remove_containers_of};

/// The load user's policy: the limits raised far above what the test does at once.
const POLICY: &str = r#"[operator]
allowed_images = ["berth-fixture:*", "127.0.0.1:5000/berth-faults/*"]
allowed_networks = ["default", "none"]
max_concurrent_runs = 1000
runs_per_minute = 10000
max_run_seconds = 600
"#;

const PASSWORD: &str = "vanishing clients password";
/// Runs measured, and the runs before them that make the baseline.
const RUNS: usize = 1000;
const WARM_UP: usize = 50;
/// Clients at once.
const CONCURRENCY: usize = 50;

/// xorshift64*: reproducible noise without a dependency (the seed is printed).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A pause of 0 to `max_ms` milliseconds: the client's speed.
    fn pause(&mut self, max_ms: u64) -> Duration {
        Duration::from_millis(self.below(max_ms + 1))
    }
}

/// Where a client leaves its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Point {
    /// Right after sending its `run` message, before `accepted` can have come.
    BeforeAccepted,
    /// After the first `pull` event of a `--pull always` run.
    DuringPull,
    /// After a random number of output frames, read at a random speed.
    DuringOutput,
    /// While typing into a `-i` run.
    DuringStdin,
    /// It stays to the end (the control group).
    Never,
}

/// How it leaves.
#[derive(Debug, Clone, Copy)]
enum Leave {
    /// A WebSocket close frame, then the connection dropped.
    CloseFrame,
    /// The TCP connection closed (FIN) without a close frame.
    Fin,
    /// The TCP connection reset (SO_LINGER 0).
    Reset,
}

fn argv(point: Point, pull_image: &str) -> Vec<String> {
    let words: Vec<&str> = match point {
        Point::BeforeAccepted => vec!["--rm", FIXTURE, "echo", "hi"],
        Point::DuringPull => vec!["--rm", "--pull", "always", pull_image, "echo", "pulled"],
        Point::DuringOutput | Point::Never => vec!["--rm", FIXTURE, "seq", "1", "3000"],
        // Ends by itself a second after its last input, whoever left.
        Point::DuringStdin => vec![
            "--rm",
            "-i",
            FIXTURE,
            "sh",
            "-c",
            "while read -t 1 line; do echo \"got $line\"; done; echo eof",
        ],
    };
    words.into_iter().map(str::to_string).collect()
}

async fn leave(mut client: Client, how: Leave) {
    match how {
        Leave::CloseFrame => {
            let _ = client.socket.close(None).await;
        }
        Leave::Fin => {}
        Leave::Reset => {
            if let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = client.socket.get_ref() {
                // A zero linger never blocks: the close sends a reset at once.
                #[allow(deprecated)]
                let _ = tcp.set_linger(Some(Duration::ZERO));
            }
        }
    }
    drop(client);
}

/// Reads one message with a deadline: `false` once the socket is closed or nothing came.
async fn step(client: &mut Client) -> bool {
    tokio::time::timeout(Duration::from_secs(60), client.step())
        .await
        .unwrap_or(false)
}

/// One client's run: connects, starts, leaves at `point`. The run id, when it got one, and
/// for the control group the transcript.
async fn one_client(
    addr: SocketAddr,
    token: &str,
    point: Point,
    how: Leave,
    noise: &mut Noise,
    pull_image: &str,
) -> (Option<String>, Option<Transcript>) {
    let mut client = Client::connect_to(addr, "/api/runs/ws", token)
        .await
        .expect("WebSocket connects");
    let req = RunRequest {
        argv: Some(argv(point, pull_image)),
        ..Default::default()
    };
    client.send(&ClientMessage::Run(Box::new(req))).await;
    if point == Point::BeforeAccepted {
        leave(client, how).await;
        return (None, None);
    }
    let run_id = loop {
        if let Some(id) = client.transcript.run_id() {
            break Some(id);
        }
        if !step(&mut client).await {
            break None;
        }
    };
    match point {
        Point::DuringPull => {
            while !client
                .transcript
                .events
                .iter()
                .any(|e| matches!(e, ServerEvent::Pull(_)))
                && step(&mut client).await
            {}
        }
        Point::DuringOutput => {
            let frames = noise.below(20) + 1;
            let mut seen = 0;
            while seen < frames && step(&mut client).await {
                if !client.transcript.stdout.is_empty() {
                    seen += 1;
                    tokio::time::sleep(noise.pause(30)).await;
                }
            }
        }
        Point::DuringStdin => {
            while !client.transcript.kinds().contains(&"started") && step(&mut client).await {}
            for i in 0..noise.below(4) {
                client.send_stdin(format!("line {i}\n").as_bytes()).await;
                tokio::time::sleep(noise.pause(200)).await;
            }
        }
        Point::Never => return (run_id, Some(client.finish().await)),
        Point::BeforeAccepted => unreachable!(),
    }
    tokio::time::sleep(noise.pause(20)).await;
    leave(client, how).await;
    (run_id, None)
}

/// `n` runs by `CONCURRENCY` clients at once; returns the run ids seen and the control group's
/// transcripts.
async fn vanishing_clients(
    addr: SocketAddr,
    token: &str,
    n: usize,
    seed: u64,
    pull_image: &str,
) -> (Vec<String>, Vec<Transcript>, [usize; 5]) {
    let next = Arc::new(AtomicUsize::new(0));
    let tasks = (0..CONCURRENCY).map(|slot| {
        let (next, token, pull_image) = (next.clone(), token.to_string(), pull_image.to_string());
        tokio::spawn(async move {
            let mut noise = Noise(seed ^ (slot as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let (mut ids, mut controls, mut points) = (Vec::new(), Vec::new(), [0usize; 5]);
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let (point, at) = match noise.below(100) {
                    0..20 => (Point::BeforeAccepted, 0),
                    20..40 => (Point::DuringPull, 1),
                    40..65 => (Point::DuringOutput, 2),
                    65..90 => (Point::DuringStdin, 3),
                    _ => (Point::Never, 4),
                };
                let how = match noise.below(3) {
                    0 => Leave::CloseFrame,
                    1 => Leave::Fin,
                    _ => Leave::Reset,
                };
                points[at] += 1;
                let (id, control) =
                    one_client(addr, &token, point, how, &mut noise, &pull_image).await;
                ids.extend(id);
                controls.extend(control);
            }
            (ids, controls, points)
        })
    });
    let (mut ids, mut controls, mut points) = (Vec::new(), Vec::new(), [0usize; 5]);
    for done in futures_util::future::join_all(tasks).await {
        let (i, c, p) = done.expect("a client task");
        ids.extend(i);
        controls.extend(c);
        for (total, k) in points.iter_mut().zip(p) {
            *total += k;
        }
    }
    (ids, controls, points)
}

/// Waits (`limit` at most) until the gateway has no run in progress and the engine no container
/// of it; returns how long that took.
async fn settled(berth: &Berth, instance: &str, limit: Duration) -> Duration {
    let since = Instant::now();
    loop {
        let active = berth.metric("berth_runs_active").await;
        let left = containers_labelled(&format!("io.berth.instance={instance}"));
        if active == 0.0 && left.is_empty() {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < limit,
            "after {limit:?}: {active} runs in progress, containers left {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Pushes the fixture as `127.0.0.1:5000/berth-faults/<name>-<pid>` (a tag of this test's own:
/// nobody else removes or re-pulls it); its reference.
fn pushed_fixture(name: &str) -> String {
    let tag = format!(
        "127.0.0.1:5000/berth-faults/{name}-{}:latest",
        std::process::id()
    );
    let (ok, _, err) = docker(&["tag", FIXTURE, &tag]);
    assert!(ok, "docker tag: {err}");
    let (ok, _, err) = docker(&["push", &tag]);
    assert!(ok, "docker push {tag}: {err}");
    tag
}

/// An operator with the load policy, and a token of theirs.
async fn load_user(berth: &Berth) -> String {
    let user =
        json!({"username": "load", "password": PASSWORD, "role": "operator", "team": "load"});
    let create = http_as(ADMIN).post(berth.url("/api/users")).json(&user);
    let (status, body) = status_and_json(create).await;
    assert_eq!(status, 201, "{body}");
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let login = browser
        .post(berth.url("/api/login"))
        .json(&json!({"username": "load", "password": PASSWORD}));
    assert_eq!(login.send().await.unwrap().status(), 200);
    let tokens = browser
        .post(berth.url("/api/tokens"))
        .json(&json!({"name": "load"}));
    let (status, token) = status_and_json(tokens).await;
    assert_eq!(status, 201, "{token}");
    token["token"].as_str().unwrap().to_string()
}

/// Threads of the tokio blocking pool that ran SQLite and file work go after 10 s idle; the
/// hyper pool's idle connections to the engine after 90 s. Measured after this pause.
const QUIET: Duration = Duration::from_secs(12);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_vanishing_clients_leave_nothing_behind() {
    let dir = data_dir("vanishing");
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let policy = policy.to_str().unwrap().to_string();
    let args = ["--static-dir", "/nonexistent", "--policy", policy.as_str()];
    let berth = Berth::start(&dir.join("data"), 0, &args, &[]).await;
    let instance = berth.instance();
    let token = load_user(&berth).await;
    let pull_image = pushed_fixture("clients");
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed:#x} (xorshift64*, per slot)");

    // Warm-up: the same mix, so that caches, pools and the finished-runs window are full.
    let started = Instant::now();
    vanishing_clients(
        berth.addr,
        &token,
        WARM_UP,
        seed.rotate_left(7),
        &pull_image,
    )
    .await;
    settled(&berth, &instance, Duration::from_secs(60)).await;
    tokio::time::sleep(QUIET).await;
    let baseline = berth.usage();
    let runs_before = berth.metric("berth_runs_started_total").await;
    eprintln!(
        "baseline after {WARM_UP} runs ({:?}): {baseline}",
        started.elapsed()
    );

    let started = Instant::now();
    let mut peak = baseline;
    let sampling = {
        let pid = berth.pid();
        let peak_kib = Arc::new(AtomicU64::new(baseline.rss_kib));
        let (peak_fds, peak_tasks) = (
            Arc::new(AtomicUsize::new(baseline.fds)),
            Arc::new(AtomicUsize::new(baseline.tasks)),
        );
        let (k, f, t) = (peak_kib.clone(), peak_fds.clone(), peak_tasks.clone());
        let task = tokio::spawn(async move {
            loop {
                let u = Usage::of(pid);
                k.fetch_max(u.rss_kib, Ordering::Relaxed);
                f.fetch_max(u.fds, Ordering::Relaxed);
                t.fetch_max(u.tasks, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        (task, peak_kib, peak_fds, peak_tasks)
    };
    let (ids, controls, points) =
        vanishing_clients(berth.addr, &token, RUNS, seed, &pull_image).await;
    let clients_took = started.elapsed();
    let settle = settled(&berth, &instance, Duration::from_secs(90)).await;
    sampling.0.abort();
    peak.rss_kib = sampling.1.load(Ordering::Relaxed);
    peak.fds = sampling.2.load(Ordering::Relaxed);
    peak.tasks = sampling.3.load(Ordering::Relaxed);
    eprintln!(
        "{RUNS} runs: clients done in {clients_took:?}, all ended and removed {settle:?} later; \
         before accepted / pull / output / stdin / stayed: {points:?}; peak {peak}"
    );

    // Back to the baseline, after the same quiet moment as before it (measured before the
    // checks below, which read the whole history back).
    tokio::time::sleep(QUIET).await;
    let after = berth.usage();

    // Every run has a final recorded state: those whose id a client saw, and every run the
    // gateway lists (the newest 1000 of its history).
    let started_runs = berth.metric("berth_runs_started_total").await - runs_before;
    assert!(
        started_runs as usize >= RUNS - points[0] && started_runs as usize <= RUNS,
        "{started_runs} runs started for {RUNS} clients ({} left before accepted)",
        points[0]
    );
    let listing = berth_tests::json_of(http_as(&token).get(berth.url("/api/runs"))).await;
    let listing = listing.as_array().unwrap();
    assert_eq!(listing.len(), 1000, "the history lists its newest 1000");
    let unfinished: Vec<&Value> = listing
        .iter()
        .filter(|r| r["finished_at"].is_null() || r["exit_code"].is_null())
        .collect();
    assert!(
        unfinished.is_empty(),
        "runs without a final state: {unfinished:?}"
    );
    let listed: std::collections::HashSet<&str> = listing
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    let mut not_ok = Vec::new();
    for id in &ids {
        let info = if listed.contains(id.as_str()) {
            listing
                .iter()
                .find(|r| r["run_id"] == id.as_str())
                .unwrap()
                .clone()
        } else {
            berth_tests::json_of(http_as(&token).get(berth.url(&format!("/api/runs/{id}")))).await
        };
        if info["state"] != "exited" || info["exit_code"] != 0 {
            not_ok.push(info);
        }
    }
    assert!(not_ok.is_empty(), "runs that did not exit 0: {not_ok:?}");
    for t in &controls {
        assert_eq!(t.exit_code(), Some(0), "{:?}", t.events);
        assert_eq!(
            t.stdout.len(),
            (1..=3000)
                .map(|i: u32| i.to_string().len() + 1)
                .sum::<usize>()
        );
    }
    assert!(
        berth.metric("berth_watchers_active").await == 0.0,
        "followers left"
    );

    eprintln!("baseline {baseline}; after {after}; peak {peak}");
    let grew_mib = after.rss_mib() - baseline.rss_mib();
    assert!(
        grew_mib <= 16.0 + baseline.rss_mib() * 0.25,
        "memory did not come back: baseline {baseline}, after {after}"
    );
    assert!(
        after.fds <= baseline.fds + 16,
        "file descriptors: baseline {baseline}, after {after}"
    );
    assert!(
        after.tasks <= baseline.tasks + 4,
        "threads: baseline {baseline}, after {after}"
    );

    berth.kill();
    remove_containers_of(&instance);
    let _ = docker(&["rmi", &pull_image]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Watchers that stall.
const STALLED: usize = 200;
/// For this long.
const STALL: Duration = Duration::from_secs(60);
/// The stalled gateway's retained output (`--output-limit`).
const OUTPUT_LIMIT: u64 = 1024 * 1024;
/// docs/BENCHMARKS.md, "Slow consumers": per connected watcher about 0.8 MiB (a batch of at
/// most 256 KiB plus tungstenite's 128 KiB write and read buffers), the retained output shared.
const PER_WATCHER_KIB: u64 = 800;

/// A WebSocket from `ip` whose receive buffer is small, so that a client that stops reading
/// stalls the gateway's writes at once instead of filling megabytes of kernel buffers.
async fn stalling_socket(addr: SocketAddr, ip: IpAddr, path: &str) -> Client {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    let bearer = format!("Bearer {ADMIN}").parse().unwrap();
    request.headers_mut().insert("authorization", bearer);
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind(SocketAddr::new(ip, 0)).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let (socket, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();
    Client {
        socket,
        transcript: Transcript::default(),
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stalled_watchers_neither_grow_memory_nor_slow_the_driver() {
    let dir = data_dir("stalled");
    let args = ["--static-dir", "/nonexistent", "--output-limit", "1m"];
    let berth = Berth::start(&dir.join("data"), 0, &args, &[]).await;
    let instance = berth.instance();

    // 256 KiB of lines and a time mark every second, for the stall and a little more.
    let seconds = STALL.as_secs() + 5;
    // Lines of 128 bytes, so that 256 KiB is whole lines and each mark begins a line.
    let line = "x".repeat(127);
    let script = format!(
        "i=0; while [ $i -lt {seconds} ]; do yes {line} | head -c 262144; echo \"t=$(date +%s)\"; sleep 1; i=$((i+1)); done; echo done"
    );
    let req = RunRequest {
        argv: Some(
            ["--rm", "--log-driver", "none", FIXTURE, "sh", "-c", &script]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ),
        ..Default::default()
    };
    let mut driver = Client::connect_to(berth.addr, "/api/runs/ws", ADMIN)
        .await
        .unwrap();
    driver.send(&ClientMessage::Run(Box::new(req))).await;
    driver.until(|t| !t.stdout.is_empty()).await;
    let run_id = driver.transcript.run_id().unwrap();
    // The driver reads at full speed, noting how late each time mark arrives.
    let driving = tokio::spawn(async move {
        let mut lags: Vec<f64> = Vec::new();
        let mut scanned = 0;
        while driver.step().await {
            let out = &driver.transcript.stdout;
            // Marks are whole lines: look at what arrived since the last complete one.
            let text = String::from_utf8_lossy(&out[scanned..]).into_owned();
            if let Some(last_nl) = text.rfind('\n') {
                for line in text[..last_nl].lines() {
                    if let Some(t) = line.strip_prefix("t=") {
                        lags.push(unix_now() - t.parse::<f64>().unwrap());
                    }
                }
                scanned += last_nl + 1;
            }
        }
        (driver.transcript, lags)
    });

    // The watchers connect, read until they have some output, and stop reading.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = berth.usage();
    let path = format!("/api/runs/{run_id}/ws");
    let mut watchers = Vec::new();
    for i in 0..STALLED {
        let ip = IpAddr::from([127, 13, (i / 50) as u8, 1]);
        let mut w = stalling_socket(berth.addr, ip, &path).await;
        w.send(&ClientMessage::Watch { from: None }).await;
        watchers.push(w);
    }
    for w in &mut watchers {
        w.until(|t| !t.stdout.is_empty()).await;
    }
    let stalled_at = Instant::now();
    eprintln!("{STALLED} watchers stalled; before them: {before}");
    let mut peak = berth.usage();
    while stalled_at.elapsed() < STALL {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = berth.usage();
        if now.rss_kib > peak.rss_kib {
            peak = now;
        }
    }
    let bound_kib = before.rss_kib + STALLED as u64 * PER_WATCHER_KIB + OUTPUT_LIMIT / 1024;
    eprintln!(
        "peak while stalled: {peak} (before the watchers {before}; bound {:.1} MiB)",
        bound_kib as f64 / 1024.0
    );
    assert!(
        peak.rss_kib <= bound_kib,
        "memory with {STALLED} stalled watchers: peak {peak}, before {before}, bound {bound_kib} KiB"
    );

    // The driver was not slowed: every time mark came within 2 s of its second (the mark is
    // the second, truncated, so up to 1 s of that is the mark's), and all the
    // output came, without a gap.
    let (transcript, lags) = driving.await.unwrap();
    let worst = lags.iter().cloned().fold(0.0, f64::max);
    eprintln!("driver: {} time marks, worst lag {worst:.2} s", lags.len());
    assert_eq!(transcript.exit_code(), Some(0), "{:?}", transcript.kinds());
    assert!(
        !transcript.kinds().contains(&"gap"),
        "the driver was skipped ahead"
    );
    assert_eq!(lags.len() as u64, seconds, "time marks");
    let expected = seconds * (262_144 + "t=0000000000\n".len() as u64) + "done\n".len() as u64;
    assert_eq!(transcript.stdout.len() as u64, expected);
    assert!(
        worst < 3.0,
        "a time mark reached the driver {worst:.2} s late"
    );

    // The watchers read again: skipped ahead past what was dropped, then the end.
    let resumed = watchers.into_iter().map(|w| {
        tokio::spawn(async move {
            let t = w.finish().await;
            (t.exit_code(), t.kinds().contains(&"gap"))
        })
    });
    for (i, done) in futures_util::future::join_all(resumed)
        .await
        .into_iter()
        .enumerate()
    {
        let (code, gap) = done.unwrap();
        assert_eq!(code, Some(0), "watcher {i}");
        assert!(gap, "watcher {i} was told of the output it missed");
    }
    let _ = http_as(ADMIN).get(berth.url("/api/health")).send().await;
    berth.kill();
    remove_containers_of(&instance);
    let _ = std::fs::remove_dir_all(&dir);
}
