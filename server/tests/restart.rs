//! Durable history across a crash and a stop of the gateway process: the `berth` binary is
//! started, killed with SIGKILL (or stopped with SIGTERM) mid-run and started again on the same
//! data directory. What it logs meanwhile (at debug) holds no secret: no password, token or
//! registry credential.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_tests::free_port;

const TOKEN: &str = "restart-test-admin-token";
const PASSWORD: &str = "restart test password";
/// The test bed's private registry (scripts/testbed.sh) and its global user's password.
const PRIVATE_IMAGE: &str = "127.0.0.1:5001/private/app:latest";
const REGISTRY_PASSWORD: &str = "everyone-registry-pass";

struct Gateway {
    child: Child,
    url: String,
    log: Arc<Mutex<String>>,
}

impl Gateway {
    fn start(data_dir: &std::path::Path, port: u16) -> Gateway {
        Gateway::start_with(data_dir, port, &[])
    }

    fn start_with(data_dir: &std::path::Path, port: u16, env: &[(&str, &str)]) -> Gateway {
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--static-dir",
                "/nonexistent",
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .env("BERTH_ADMIN_TOKEN", TOKEN)
            .env("BERTH_LOG", "debug")
            .env_remove("DOCKER_HOST")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("berth starts");
        // Keep everything it logs, to check that no secret is ever written there.
        let log = Arc::new(Mutex::new(String::new()));
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|p| Box::new(p) as _),
        ] {
            let log = log.clone();
            let pipe = pipe.unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    log.lock().unwrap().push_str(&line);
                    log.lock().unwrap().push('\n');
                }
            });
        }
        let url = format!("http://127.0.0.1:{port}");
        let gateway = Gateway { child, url, log };
        for _ in 0..100 {
            if reqwest::blocking::get(format!("{}/api/health", gateway.url)).is_ok() {
                return gateway;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("berth did not come up: {}", gateway.log.lock().unwrap());
    }

    fn client(&self, token: &str) -> reqwest::blocking::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
        reqwest::blocking::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap()
    }

    fn get(&self, token: &str, path: &str) -> serde_json::Value {
        self.client(token)
            .get(format!("{}{path}", self.url))
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    /// Polls the run's record until it has an exit code (10 s at most) and returns it.
    fn wait_for_exit(&self, token: &str, run_id: &str) -> serde_json::Value {
        let mut info = serde_json::Value::Null;
        for _ in 0..100 {
            info = self.get(token, &format!("/api/runs/{run_id}"));
            if !info["exit_code"].is_null() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        info
    }

    /// Starts `sh -c script` in the fixture as `token`: the answer of `POST /api/runs`.
    fn run_script(&self, token: &str, script: &str) -> serde_json::Value {
        self.run_argv(token, &["berth-fixture", "sh", "-c", script])
    }

    /// Starts `docker run ARGV` as `token`: the answer of `POST /api/runs`.
    fn run_argv(&self, token: &str, argv: &[&str]) -> serde_json::Value {
        self.client(token)
            .post(format!("{}/api/runs", self.url))
            .json(&serde_json::json!({ "argv": argv }))
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    fn output(&self, token: &str, run_id: &str) -> String {
        self.client(token)
            .get(format!("{}/api/runs/{run_id}/output", self.url))
            .send()
            .unwrap()
            .text()
            .unwrap()
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    /// SIGTERM, as a service manager stops it: the process must end by itself, successfully.
    fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "berth exited with {status}");
                // The log threads end with the pipes.
                std::thread::sleep(Duration::from_millis(100));
                return self.log.lock().unwrap().clone();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("berth did not stop within 10 s of SIGTERM");
    }
}

/// An empty data directory of this test process's, named `name`.
fn fresh_data_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("berth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_run_survives_a_gateway_crash() {
    let data_dir = fresh_data_dir("restart");
    let port = free_port();
    let first = Gateway::start(&data_dir, port);

    // A user and a token, so the run belongs to someone and secrets went through the gateway.
    let admin = first.client(TOKEN);
    let user = serde_json::json!({"username": "carol", "password": PASSWORD, "role": "admin"});
    assert_eq!(
        admin
            .post(format!("{}/api/users", first.url))
            .json(&user)
            .send()
            .unwrap()
            .status(),
        201
    );
    let login = reqwest::blocking::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let resp = login
        .post(format!("{}/api/login", first.url))
        .json(&serde_json::json!({"username": "carol", "password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let token: serde_json::Value = login
        .post(format!("{}/api/tokens", first.url))
        .json(&serde_json::json!({"name": "restart"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = token["token"].as_str().unwrap().to_string();

    let created = first.run_script(&token, "echo before; sleep 4; echo after; exit 3");
    let run_id = created["run_id"].as_str().expect("a run id").to_string();
    let container = created["container_id"].as_str().unwrap().to_string();
    for _ in 0..50 {
        if first.output(&token, &run_id) == "before\n" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // A registry credential, used by a pull from the test bed's private registry: its
    // password must not reach the log either.
    let credential = serde_json::json!({"server": "127.0.0.1:5001", "username": "everyone-puller",
        "password": REGISTRY_PASSWORD, "team": null});
    let added = first
        .client(TOKEN)
        .post(format!("{}/api/registries", first.url))
        .json(&credential)
        .send()
        .unwrap();
    assert_eq!(added.status(), 201);
    let _ = Command::new("docker")
        .args(["rmi", "-f", PRIVATE_IMAGE])
        .output();
    let pulled = first.run_argv(&token, &["--rm", PRIVATE_IMAGE, "true"]);
    let pulled_id = pulled["run_id"].as_str().expect("the pull ran").to_string();
    assert_eq!(
        first.wait_for_exit(&token, &pulled_id)["exit_code"],
        0,
        "{pulled}"
    );
    let first_log = first.log.lock().unwrap().clone();
    first.kill();

    let second = Gateway::start(&data_dir, port);
    let runs = second.get(&token, "/api/runs");
    let run = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == run_id.as_str())
        .cloned();
    let run = run.expect("the run is still listed after the restart");
    assert_eq!(run["owner"], "carol");
    // Watching shows the output from before and after the restart, and the exit.
    let info = second.wait_for_exit(&token, &run_id);
    assert_eq!(info["exit_code"], 3, "{info}");
    assert_eq!(info["state"], "exited");
    assert_eq!(second.output(&token, &run_id), "before\nafter\n");

    // And once more: the finished run and its transcript come back from the store.
    let second_log = second.log.lock().unwrap().clone();
    second.kill();
    let third = Gateway::start(&data_dir, port);
    let info = third.get(&token, &format!("/api/runs/{run_id}"));
    assert_eq!(
        (info["state"].as_str(), info["exit_code"].as_i64()),
        (Some("exited"), Some(3))
    );
    assert_eq!(third.output(&token, &run_id), "before\nafter\n");
    let third_log = third.log.lock().unwrap().clone();
    third.kill();

    let _ = Command::new("docker")
        .args(["rm", "-f", &container])
        .output();
    let logs = format!("{first_log}{second_log}{third_log}");
    assert!(
        logs.contains("run accepted"),
        "the logs were captured: {logs}"
    );
    let (_, secret) = token.rsplit_once('_').unwrap();
    for s in [TOKEN, PASSWORD, token.as_str(), secret, REGISTRY_PASSWORD] {
        assert!(!logs.contains(s), "a secret in the logs: {s}");
    }
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// A `--rm` container that ends while Berth is down is removed by the engine with its exit
/// status; the engine's event log still has it, and the run is recorded with it.
#[test]
fn a_rm_container_that_ends_while_berth_is_down_keeps_its_exit_status() {
    let data_dir = fresh_data_dir("rm-down");
    let port = free_port();
    let first = Gateway::start(&data_dir, port);
    let script = "echo hi; sleep 2; exit 7";
    let created = first.run_argv(TOKEN, &["--rm", "berth-fixture", "sh", "-c", script]);
    let run_id = created["run_id"].as_str().expect("a run id").to_string();
    let container = created["container_id"].as_str().unwrap().to_string();
    for _ in 0..50 {
        if first.output(TOKEN, &run_id) == "hi\n" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    first.kill();
    let gone = || {
        !Command::new("docker")
            .args(["container", "inspect", &container])
            .output()
            .unwrap()
            .status
            .success()
    };
    for _ in 0..100 {
        if gone() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(gone(), "the engine removed the --rm container");

    let second = Gateway::start(&data_dir, port);
    let info = second.wait_for_exit(TOKEN, &run_id);
    assert_eq!(
        (info["state"].as_str(), info["exit_code"].as_i64()),
        (Some("exited"), Some(7)),
        "{info}"
    );
    second.kill();
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn a_stopped_gateway_records_its_runs_and_follows_them_again() {
    let data_dir = fresh_data_dir("stop");
    let port = free_port();
    let first = Gateway::start(&data_dir, port);
    let created = first.run_script(TOKEN, "sleep 3; echo done");
    let run_id = created["run_id"].as_str().expect("a run id").to_string();
    let log = first.stop();
    assert!(
        log.contains("stopped; runs in progress: 1 (their containers keep running"),
        "{log}"
    );

    // The container went on; the next start follows it to its end.
    let second = Gateway::start(&data_dir, port);
    let info = second.wait_for_exit(TOKEN, &run_id);
    assert_eq!(
        (info["state"].as_str(), info["exit_code"].as_i64()),
        (Some("exited"), Some(0)),
        "{info}"
    );
    assert_eq!(second.output(TOKEN, &run_id), "done\n");
    let container = info["container_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    second.stop();
    let _ = Command::new("docker")
        .args(["rm", "-f", &container])
        .output();
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// SIGTERM with a watcher and a request in flight: the watcher's WebSocket closes with 1001
/// "going away" at once (the dashboard then reconnects), the request in flight is answered,
/// nothing new is accepted, and the process exits 0 within the grace.
#[test]
fn sigterm_closes_websockets_with_1001_and_answers_requests_in_flight() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    let data_dir = fresh_data_dir("sigterm");
    let port = free_port();
    let gateway = Gateway::start(&data_dir, port);
    // sh as the container's first process ignores SIGTERM: a stop takes its whole timeout.
    let created = gateway.run_script(TOKEN, "echo ready; sleep 60");
    let run_id = created["run_id"].as_str().expect("a run id").to_string();
    let container = created["container_id"].as_str().unwrap().to_string();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut ws = rt.block_on(async {
        let mut req =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                format!("ws://127.0.0.1:{port}/api/runs/{run_id}/ws"),
            )
            .unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("ws");
        ws.send(Message::text(r#"{"type":"watch"}"#)).await.unwrap();
        // Until the output is there: the watcher is following the run.
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(b))) if b.ends_with(b"ready\n") => break ws,
                Some(Ok(_)) => {}
                other => panic!("the watch ended early: {other:?}"),
            }
        }
    });

    // A request that takes 3 s: the stop waits out its timeout before killing.
    let stopper = {
        let client = gateway.client(TOKEN);
        let url = format!("{}/api/runs/{run_id}/stop?t=3", gateway.url);
        std::thread::spawn(move || client.post(url).send().map(|r| r.status().as_u16()))
    };
    std::thread::sleep(Duration::from_millis(500));
    let pid = gateway.child.id().to_string();
    let signalled = std::time::Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );

    let close = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(frame))) => break frame,
                    Some(Ok(_)) => {}
                    other => panic!("the socket ended without a close frame: {other:?}"),
                }
            }
        })
        .await
        .expect("the watcher was told within 2 s")
    });
    let close = close.expect("a close frame with a code");
    assert_eq!(close.code, CloseCode::Away, "{close:?}");
    assert_eq!(close.reason.as_str(), "Berth is stopping");

    // Nothing new is accepted while the request in flight finishes.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "a connection accepted after SIGTERM"
    );
    assert_eq!(
        stopper.join().unwrap().expect("the stop was answered"),
        204,
        "the request in flight finished"
    );
    let log = gateway.stop();
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(10), "stopped after {took:?}");
    assert!(log.contains("stopped; runs in progress"), "{log}");

    let _ = Command::new("docker")
        .args(["rm", "-f", &container])
        .output();
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// `BERTH_LOG_FORMAT=json`: one JSON object a line; a request's lines carry its method, route
/// template (never the raw path with its ids) and user, and its answer line the status and
/// latency; no secret.
#[test]
fn json_logs_carry_the_request_context_and_no_secret() {
    let data_dir = fresh_data_dir("json");
    let port = free_port();
    let env = [
        ("BERTH_LOG_FORMAT", "json"),
        ("BERTH_LOG", "info,tower_http=debug"),
    ];
    let gateway = Gateway::start_with(&data_dir, port, &env);
    let created = gateway.run_script(TOKEN, "echo hi");
    let run_id = created["run_id"].as_str().expect("a run id").to_string();
    let info = gateway.wait_for_exit(TOKEN, &run_id);
    assert_eq!(info["exit_code"], 0, "{info}");
    let log = gateway.stop();

    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let answered = lines
        .iter()
        .find(|l| l["span"]["route"] == "/api/runs/{run_id}" && l["fields"]["status"] == 200)
        .unwrap_or_else(|| panic!("no answer line for GET /api/runs/{{run_id}}:\n{log}"));
    assert_eq!(answered["span"]["method"], "GET", "{answered}");
    assert_eq!(answered["span"]["user"], "admin-token", "{answered}");
    assert!(answered["fields"]["latency"].is_string(), "{answered}");
    assert!(
        !log.contains(&format!("/api/runs/{run_id}")),
        "a raw path in the log"
    );
    assert!(!log.contains(TOKEN), "the admin token in the log");
    let _ = std::fs::remove_dir_all(&data_dir);
}
