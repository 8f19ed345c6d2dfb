//! The gateway SIGKILLed under load (issue 13): 50 runs in progress, some with watchers, some
//! pulling through a throttled registry, a demo template with a warm pool and a live session.
//! After the restart every run is reconciled: exit statuses recorded (also of runs that ended
//! while the gateway was down), output continued from the engine's logs (a watcher that
//! reconnects gets exactly the bytes it missed), no run listed twice, no container of the
//! gateway without a run, the pool back at its size without leftovers, the session running on
//! with its terminal.

mod support;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_shared::wire::{ClientMessage, RunRequest};
use berth_tests::{Client, FIXTURE, docker, http_as, json_of, status_and_json, text_of};
use reqwest::cookie::{CookieStore, Jar};
use serde_json::{Value, json};
use support::{ADMIN, Berth, containers_labelled, data_dir, remove_containers_of};

/// A `[guest]` table, so that a template can be public.
const POLICY: &str = r#"[guest]
allowed_images = ["berth-fixture:*"]
max_memory = "64m"
max_cpus = 0.5
max_pids = 64
max_run_seconds = 600
"#;

/// Runs followed again after the restart and released then (no `--rm`).
const FOLLOWED: usize = 22;
/// Of those, how many have a watcher connected when the gateway is killed.
const WATCHED: usize = 10;
/// `--rm` runs followed again and released after the restart.
const REMOVED: usize = 10;
/// Runs that end while the gateway is down (no `--rm`: the engine keeps their status).
const ENDED_WHILE_DOWN: usize = 10;
/// Runs pulling an image through the throttled registry when the gateway is killed.
const PULLING: usize = 5;
/// The demo template's warm pool.
const WARM: u64 = 2;
/// Live demo sessions when the gateway is killed.
const SESSIONS: usize = 2;

/// A TCP proxy to the test bed's registry (127.0.0.1:5000) that sends what the registry
/// answers at about 64 KiB/s: a pull through it of a 3 MB layer takes most of a minute. Its
/// port; it lives as long as the test process.
fn throttled_registry() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            let Ok(upstream) = TcpStream::connect("127.0.0.1:5000") else {
                continue;
            };
            let (mut c_in, mut u_out) =
                (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c_in, &mut u_out);
                let _ = u_out.shutdown(std::net::Shutdown::Write);
            });
            let (mut u_in, mut c_out) = (upstream, client);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match u_in.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if c_out.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(60));
                }
                let _ = c_out.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    port
}

/// An image with a 3 MB layer of its own, pushed to the test bed's registry as
/// `127.0.0.1:5000/berth-faults/pull-<pid>` and removed from the engine, so that a run of it
/// must download that layer. Returns its repository path (without the registry).
fn pushed_image() -> String {
    let path = format!("berth-faults/pull-{}:latest", std::process::id());
    let tag = format!("127.0.0.1:5000/{path}");
    let maker = format!("berth-faults-maker-{}", std::process::id());
    let _ = docker(&["rm", "-f", &maker]);
    let (ok, _, err) = docker(&[
        "run",
        "--name",
        &maker,
        "--network",
        "none",
        FIXTURE,
        "sh",
        "-c",
        "head -c 3000000 /dev/urandom > /blob",
    ]);
    assert!(ok, "making the image's layer: {err}");
    let (ok, _, err) = docker(&["commit", &maker, &tag]);
    assert!(ok, "docker commit: {err}");
    let _ = docker(&["rm", "-f", &maker]);
    let (ok, _, err) = docker(&["push", &tag]);
    assert!(ok, "docker push {tag}: {err}");
    let (ok, _, err) = docker(&["rmi", &tag]);
    assert!(ok, "docker rmi {tag}: {err}");
    path
}

/// A gated run's script: prints `begin-<n>`, waits for the file `/gate/<gate>`, prints
/// `end-<n>` and exits with `code`.
fn gated(n: usize, gate: &str, code: i32) -> String {
    format!(
        "echo begin-{n}; while [ ! -e /gate/{gate} ]; do sleep 0.1; done; echo end-{n}; exit {code}"
    )
}

/// `POST /api/runs` as the admin: the run id (the answer comes once the container started).
async fn start_run(berth: &Berth, argv: Vec<String>) -> String {
    let create = http_as(ADMIN).post(berth.url("/api/runs"));
    let (status, body) = status_and_json(create.json(&json!({ "argv": argv }))).await;
    assert_eq!(status, 201, "{body}");
    body["run_id"].as_str().unwrap().to_string()
}

/// Polls `GET /api/runs/{id}` until `done` holds (`limit` at most); the last record.
async fn record_until(
    berth: &Berth,
    run_id: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let since = Instant::now();
    loop {
        let info = berth.get(&format!("/api/runs/{run_id}")).await;
        if done(&info) || since.elapsed() > limit {
            return info;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The template's view as the admin.
async fn template(berth: &Berth, name: &str) -> Value {
    berth.get(&format!("/api/templates/{name}")).await
}

/// Waits until the template's pool has `ready` containers (90 s at most).
async fn pool_ready(berth: &Berth, name: &str, ready: u64) -> Value {
    let since = Instant::now();
    loop {
        let info = template(berth, name).await;
        if info["pool"]["ready"] == ready || since.elapsed() > Duration::from_secs(90) {
            assert_eq!(info["pool"]["ready"], ready, "{info}");
            return info;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A guest's browser: a cookie jar of its own.
fn guest() -> (reqwest::Client, Arc<Jar>) {
    let jar = Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    (client, jar)
}

/// The `Cookie` header the guest's browser sends the gateway (cookies are per host, not per
/// port, so the restarted gateway gets the same).
fn visitor_cookie(jar: &Jar, berth: &Berth) -> String {
    let url = berth.url("/").parse().unwrap();
    let cookie = jar.cookies(&url).expect("a guest cookie");
    cookie.to_str().unwrap().to_string()
}

/// Connects to a run's watch socket with a guest's cookie.
async fn watch_with_cookie(berth: &Berth, run_id: &str, cookie: &str) -> Client {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}/api/runs/{run_id}/ws", berth.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", cookie.parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut client = Client {
        socket,
        transcript: Default::default(),
    };
    client.send(&ClientMessage::Watch { from: None }).await;
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_killed_under_load_reconciles_every_run_pool_and_session() {
    let dir = data_dir("kill-under-load");
    let gates = dir.join("gates");
    std::fs::create_dir_all(&gates).unwrap();
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let policy_arg = policy.to_str().unwrap().to_string();
    let data = dir.join("data");
    let args = [
        "--static-dir",
        "/nonexistent",
        "--policy",
        policy_arg.as_str(),
    ];
    let env = [("BERTH_GUEST_SESSIONS_PER_IP", "100")];
    let port = berth_tests::free_port();
    let image_path = pushed_image();
    let proxy = throttled_registry();
    let first = Berth::start(&data, port, &args, &env).await;
    let instance = first.instance();

    // The demo template: a warm pool of two, and a live session of a guest that typed into it.
    let name = format!("kill-{}", std::process::id());
    let body = json!({
        "name": name, "title": "A shell", "argv": ["-it", "--network", "none", FIXTURE, "sh"],
        "ttl_seconds": 600, "idle_seconds": 600, "capacity": 4, "warm": WARM, "access": "public",
    });
    let created = http_as(ADMIN).post(first.url("/api/templates")).json(&body);
    let (status, answer) = status_and_json(created).await;
    assert_eq!(status, 201, "{answer}");
    pool_ready(&first, &name, WARM).await;
    let (visitor, jar) = guest();
    let opened = visitor
        .post(first.url(&format!("/api/templates/{name}/sessions")))
        .json(&json!({"cols": 80, "rows": 24}));
    let session = json_of(opened).await;
    assert_eq!(session["state"], "running", "{session}");
    let session_id = session["session_id"].as_str().unwrap().to_string();
    let session_run = session["run_id"].as_str().unwrap().to_string();
    let cookie = visitor_cookie(&jar, &first);
    let mut terminal = watch_with_cookie(&first, &session_run, &cookie).await;
    terminal.until(|t| t.stdout_str().contains("# ")).await;
    terminal.send_stdin(b"echo before-$((6*7))\n").await;
    terminal
        .until(|t| t.stdout_str().contains("before-42"))
        .await;

    // A second visitor's session, whose container will end while the gateway is down.
    let (doomed_visitor, _) = guest();
    let opened = doomed_visitor
        .post(first.url(&format!("/api/templates/{name}/sessions")))
        .json(&json!({"cols": 80, "rows": 24}));
    let doomed = json_of(opened).await;
    assert_eq!(doomed["state"], "running", "{doomed}");
    let doomed_id = doomed["session_id"].as_str().unwrap().to_string();
    let doomed_run = doomed["run_id"].as_str().unwrap().to_string();

    // The runs: gated scripts that wait for a file in a bind-mounted directory.
    let bind = format!("{}:/gate:ro", gates.display());
    let argv = |rm: bool, script: String| {
        let mut argv: Vec<String> = vec![];
        if rm {
            argv.push("--rm".into());
        }
        argv.extend(["-v".into(), bind.clone(), FIXTURE.into()]);
        argv.extend(["sh".into(), "-c".into(), script]);
        argv
    };
    let mut launches = Vec::new();
    for n in 0..FOLLOWED {
        launches.push((false, gated(n, "after", 7)));
    }
    for n in FOLLOWED..FOLLOWED + REMOVED {
        launches.push((true, gated(n, "after", 7)));
    }
    for n in FOLLOWED + REMOVED..FOLLOWED + REMOVED + ENDED_WHILE_DOWN {
        launches.push((false, gated(n, "down", 5)));
    }
    let started = Instant::now();
    let ids: Vec<String> = futures_util::future::join_all(
        launches
            .into_iter()
            .map(|(rm, script)| start_run(&first, argv(rm, script))),
    )
    .await;
    eprintln!(
        "{} gated runs started in {:?}",
        ids.len(),
        started.elapsed()
    );
    let followed = &ids[..FOLLOWED];
    let removed = &ids[FOLLOWED..FOLLOWED + REMOVED];
    let ended_while_down = &ids[FOLLOWED + REMOVED..];

    // Watchers on some, each having read its run's first line.
    let mut watchers = Vec::new();
    for (n, id) in followed.iter().enumerate().take(WATCHED) {
        let mut w = Client::watch_as(first.addr, ADMIN, id).await;
        let line = format!("begin-{n}\n");
        w.until(|t| t.stdout_str() == line).await;
        watchers.push(w);
    }

    // Runs pulling through the throttled registry: each has said `Downloading`.
    let pull_image = format!("127.0.0.1:{proxy}/{image_path}");
    let mut pullers = Vec::new();
    for _ in 0..PULLING {
        let req = RunRequest {
            argv: Some(vec![
                "--rm".into(),
                pull_image.clone(),
                "echo".into(),
                "pulled".into(),
            ]),
            ..Default::default()
        };
        let mut c = Client::connect_to(first.addr, "/api/runs/ws", ADMIN)
            .await
            .unwrap();
        c.send(&ClientMessage::Run(Box::new(req))).await;
        pullers.push(c);
    }
    let mut pulling = Vec::new();
    for c in &mut pullers {
        c.until(|t| {
            t.events.iter().any(|e| matches!(e, berth_shared::wire::ServerEvent::Pull(p)
                if p.status.starts_with("Downloading") || p.status.starts_with("Waiting") || p.status.starts_with("Pulling fs layer")))
        })
        .await;
        pulling.push(c.transcript.run_id().unwrap());
    }

    // 50 in progress (and the pool's and the session's), then SIGKILL.
    let listing = first.get("/api/runs").await;
    let in_progress = listing
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["exit_code"].is_null() && r["state"] != "failed")
        .count();
    assert!(
        in_progress >= FOLLOWED + REMOVED + ENDED_WHILE_DOWN + PULLING + WARM as usize + SESSIONS,
        "{in_progress} runs in progress: {listing}"
    );
    let mut taken = session_container(&first, &session_run).await;
    taken.extend(session_container(&first, &doomed_run).await);
    pool_ready(&first, &name, WARM).await;
    let pool_before = pool_containers(&name, &taken);
    assert_eq!(pool_before.len(), WARM as usize, "{pool_before:?}");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!("killing the gateway with {in_progress} runs in progress (load {load})");
    let killed = Instant::now();
    first.kill();
    let received: Vec<u64> = watchers
        .iter()
        .map(|w| w.transcript.stdout.len() as u64)
        .collect();
    drop(watchers);
    drop(pullers);
    drop(terminal);

    // While it is down: a pool container's command ends, and so does the second session's.
    let (ok, _, err) = docker(&["kill", &pool_before[0]]);
    assert!(ok, "{err}");
    let (ok, _, err) = docker(&["kill", &taken[1]]);
    assert!(ok, "{err}");
    // One pulling run had its container created and not started when the gateway died (made
    // here by hand, as the engine would have it: the run's labels, `--rm`).
    let half_made = pulling[0].clone();
    let (ok, _, err) = docker(&[
        "create",
        "--rm",
        "--label",
        &format!("io.berth.run-id={half_made}"),
        "--label",
        &format!("io.berth.instance={instance}"),
        FIXTURE,
        "true",
    ]);
    assert!(ok, "{err}");
    // And some runs end.
    std::fs::write(gates.join("down"), "").unwrap();
    let down_containers: Vec<String> = ended_while_down
        .iter()
        .flat_map(|id| containers_labelled(&format!("io.berth.run-id={id}")))
        .collect();
    assert_eq!(down_containers.len(), ENDED_WHILE_DOWN);
    let since = Instant::now();
    loop {
        let mut args = vec!["inspect", "--format", "{{.State.Running}}"];
        args.extend(down_containers.iter().map(String::as_str));
        let (_, out, _) = docker(&args);
        if out.lines().all(|l| l.trim() == "false") {
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "still running: {out}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let second = Berth::start(&data, port, &args, &env).await;
    eprintln!("restarted {:?} after the kill", killed.elapsed());
    std::fs::write(gates.join("after"), "").unwrap();

    // Watchers that reconnect get exactly what they missed.
    for (n, (id, from)) in followed.iter().zip(&received).enumerate().take(WATCHED) {
        let mut w = Client::connect_to(second.addr, &format!("/api/runs/{id}/ws"), ADMIN)
            .await
            .unwrap();
        w.send(&ClientMessage::Watch { from: Some(*from) }).await;
        let t = w.finish().await;
        assert_eq!(
            t.stdout_str(),
            format!("end-{n}\n"),
            "watcher {n}: {:?}",
            t.events
        );
        assert_eq!(t.exit_code(), Some(7), "watcher {n}: {:?}", t.events);
    }

    // Every run ends with its status and its whole output.
    let limit = Duration::from_secs(60);
    let ended = |info: &Value| !info["exit_code"].is_null();
    for (n, id) in followed.iter().chain(removed).enumerate() {
        let info = record_until(&second, id, limit, ended).await;
        assert_eq!(
            (info["state"].as_str(), info["exit_code"].as_i64()),
            (Some("exited"), Some(7)),
            "{info}"
        );
        let output =
            text_of(http_as(ADMIN).get(second.url(&format!("/api/runs/{id}/output")))).await;
        assert_eq!(output, format!("begin-{n}\nend-{n}\n"), "{id}");
    }
    for (i, id) in ended_while_down.iter().enumerate() {
        let n = FOLLOWED + REMOVED + i;
        let info = record_until(&second, id, limit, ended).await;
        assert_eq!(
            (info["state"].as_str(), info["exit_code"].as_i64()),
            (Some("exited"), Some(5)),
            "{info}"
        );
        let output =
            text_of(http_as(ADMIN).get(second.url(&format!("/api/runs/{id}/output")))).await;
        assert_eq!(output, format!("begin-{n}\nend-{n}\n"), "{id}");
    }
    for id in &pulling {
        let info = record_until(&second, id, limit, ended).await;
        assert_eq!(info["state"], "failed", "{info}");
        assert_eq!(info["exit_code"], 125, "{info}");
        let error = info["error"].as_str().unwrap_or_default();
        let why = match *id == half_made {
            true => "before the container was started",
            false => "before its container was created",
        };
        assert!(error.contains(why), "{why}: {info}");
        let left = containers_labelled(&format!("io.berth.run-id={id}"));
        assert!(
            left.is_empty(),
            "{id} never ran, yet its container stays: {left:?}"
        );
    }
    // `--rm` containers go once their runs end.
    let since = Instant::now();
    for id in removed {
        while !containers_labelled(&format!("io.berth.run-id={id}")).is_empty() {
            assert!(
                since.elapsed() < Duration::from_secs(20),
                "{id}'s --rm container stays"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // The session runs on, with its terminal; the pool is its size again, nothing left over.
    let me = visitor
        .get(second.url(&format!("/api/sessions/{session_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(
        (me["state"].as_str(), me["run_id"].as_str()),
        (Some("running"), Some(session_run.as_str())),
        "{me}"
    );
    let cookie = visitor_cookie(&jar, &second);
    let mut terminal = watch_with_cookie(&second, &session_run, &cookie).await;
    terminal
        .until(|t| t.stdout_str().contains("before-42"))
        .await;
    terminal.send_stdin(b"echo after-$((6*7))\n").await;
    terminal
        .until(|t| t.stdout_str().contains("after-42"))
        .await;
    drop(terminal);
    // The second session ended with its command, and its container went.
    let (code, info) =
        status_and_json(doomed_visitor.get(second.url(&format!("/api/sessions/{doomed_id}"))))
            .await;
    assert_eq!(code, 200, "{info}");
    assert_eq!(
        (info["state"].as_str(), info["ended_reason"].as_str()),
        (Some("ended"), Some("exited")),
        "{info}"
    );
    let since = Instant::now();
    while berth_tests::docker(&["inspect", &taken[1]]).0 {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "the ended session's container stays"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pool_ready(&second, &name, WARM).await;
    let since = Instant::now();
    let mut pool = pool_containers(&name, &taken);
    while pool.len() != WARM as usize && since.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        pool = pool_containers(&name, &taken);
    }
    assert_eq!(
        pool.len(),
        WARM as usize,
        "the pool's containers: {pool:?} (before: {pool_before:?})"
    );

    // No run listed twice; every container of the gateway belongs to a listed run.
    let listing = second.get("/api/runs").await;
    let listed: Vec<&str> = listing
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    let unique: HashSet<&str> = listed.iter().copied().collect();
    assert_eq!(unique.len(), listed.len(), "a run listed twice: {listed:?}");
    for id in ids.iter().chain(&pulling) {
        assert!(unique.contains(id.as_str()), "{id} is not listed");
    }
    let mut orphans = Vec::new();
    for container in containers_labelled(&format!("io.berth.instance={instance}")) {
        let (_, label, _) = docker(&[
            "inspect",
            "--format",
            "{{index .Config.Labels \"io.berth.run-id\"}}",
            &container,
        ]);
        if !unique.contains(label.trim()) {
            orphans.push((container, label.trim().to_string()));
        }
    }
    assert!(
        orphans.is_empty(),
        "containers without a listed run: {orphans:?}"
    );
    let states: HashMap<String, usize> =
        listing
            .as_array()
            .unwrap()
            .iter()
            .fold(HashMap::new(), |mut m, r| {
                *m.entry(r["state"].as_str().unwrap_or("?").to_string())
                    .or_default() += 1;
                m
            });
    eprintln!(
        "after the restart: {} runs listed, by state {states:?}",
        listed.len()
    );

    // Clean-up: the template (its session and pool), then every container of the gateway.
    let deleted = http_as(ADMIN).delete(second.url(&format!("/api/templates/{name}")));
    assert_eq!(deleted.send().await.unwrap().status(), 204);
    second.kill();
    remove_containers_of(&instance);
    let _ = docker(&["rmi", "-f", &pull_image]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The container of a run, from its record.
async fn session_container(berth: &Berth, run_id: &str) -> Vec<String> {
    let info = berth.get(&format!("/api/runs/{run_id}")).await;
    vec![
        info["container_id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    ]
}

/// The containers on the engine that the template `name`'s pool started and that are not in
/// `taken` (full ids).
fn pool_containers(name: &str, taken: &[String]) -> Vec<String> {
    containers_labelled(&format!("io.berth.owner-id=pool-{name}"))
        .into_iter()
        .filter(|id| !taken.contains(id))
        .collect()
}
