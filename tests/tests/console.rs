//! Inside running containers, against the real engine: `docker exec` over
//! `/api/containers/{id}/exec` (output frames, stdin with and without a TTY, exit codes as the
//! docker CLI reports them, who may and what the policy allows) and live resource use
//! (`/api/containers/{id}/stats`, and its WebSocket).

use std::time::Duration;

use berth_tests::team::Team;
use berth_tests::{Client, FIXTURE, docker, http_as, status_of, unique};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const POLICY: &str = r#"
[operator]
allowed_images = ["berth-fixture:*"]
allowed_networks = ["none"]
default_memory = "64m"
max_memory = "256m"
"#;

/// What an exec session gave: its text events and its output.
#[derive(Debug, Default)]
struct Console {
    events: Vec<Value>,
    output: String,
}

impl Console {
    fn exit(&self) -> Option<i64> {
        self.events
            .iter()
            .find(|e| e["type"] == "exit")
            .and_then(|e| e["code"].as_i64())
    }

    fn error(&self) -> Option<String> {
        self.events
            .iter()
            .find(|e| e["type"] == "error")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
    }
}

/// Execs `first` (the JSON of an `exec` message) in `container` as `token`, sends `stdin`
/// once the process printed `ready` (when given), and reads until the server closes.
async fn exec(team: &Team, token: &str, container: &str, first: Value, stdin: &[&str]) -> Console {
    let path = format!("/api/containers/{container}/exec");
    let mut client = Client::connect_to(team.addr, &path, token)
        .await
        .expect("connects");
    let socket = &mut client.socket;
    socket.send(Message::text(first.to_string())).await.unwrap();
    let mut seen = Console::default();
    let mut pending = stdin.iter();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .unwrap_or_else(|_| panic!("no message within 20 s: {seen:?}"));
        match next {
            Some(Ok(Message::Text(t))) => seen.events.push(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Binary(frame))) => {
                seen.output.push_str(&String::from_utf8_lossy(&frame[1..]));
                if seen.output.contains("ready")
                    && let Some(line) = pending.next()
                {
                    let mut data = vec![];
                    data.extend_from_slice(line.as_bytes());
                    socket.send(Message::binary(data)).await.unwrap();
                }
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            _ => {}
        }
    }
    seen
}

/// A running container of `token`'s, started through Berth: its id.
async fn sleeper(team: &Team, token: &str) -> String {
    let body = json!({"argv": ["-d", "--network", "none", FIXTURE, "sleep", "120"]});
    let (code, created) = team.create(token, body).await;
    assert_eq!(code, 201, "{created}");
    created["container_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn exec_runs_a_command_and_reports_its_exit_as_the_cli_does() {
    let team = Team::new(POLICY).await;
    let container = sleeper(&team, &team.alice).await;

    // Without a TTY: stdout and stderr frames, the exit code from the engine.
    let first = json!({"type": "exec", "cmd": ["sh", "-c", "echo out; echo err >&2; exit 3"]});
    let seen = exec(&team, &team.alice, &container, first, &[]).await;
    assert_eq!(seen.events[0]["type"], "exec_started", "{seen:?}");
    assert!(seen.events[0]["exec_id"].is_string());
    assert!(
        seen.output.contains("out") && seen.output.contains("err"),
        "{seen:?}"
    );
    assert_eq!(seen.exit(), Some(3), "{seen:?}");

    // With a TTY and stdin: a shell that takes keys, sized as asked.
    let first = json!({"type": "exec", "cmd": ["sh", "-c", "sleep 0.5; stty size; echo ready; read x; echo got-$x; exit 5"],
                       "tty": true, "interactive": true, "cols": 91, "rows": 27});
    let seen = exec(&team, &team.alice, &container, first, &["42\n"]).await;
    assert!(seen.output.contains("27 91"), "{seen:?}");
    assert!(seen.output.contains("got-42"), "{seen:?}");
    assert_eq!(seen.exit(), Some(5), "{seen:?}");

    // A command that is not there: 126, as `docker exec` on this engine reports it.
    let cli = std::process::Command::new("docker")
        .args(["exec", &container, "no-such-command"])
        .status()
        .unwrap()
        .code();
    let first = json!({"type": "exec", "cmd": ["no-such-command"]});
    let seen = exec(&team, &team.alice, &container, first, &[]).await;
    assert_eq!(seen.exit().map(|c| c as i32), cli, "{seen:?}");

    // Every exec is audited with its command line.
    let audit = team.get_json(&team.admin, "/api/audit?limit=50").await;
    let execs: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "container.exec" && e["outcome"] == "ok")
        .collect();
    assert!(
        execs.iter().any(|e| e["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("no-such-command")),
        "{execs:?}"
    );

    // A stopped container: the daemon's refusal, as the CLI prints it.
    docker(&["stop", "-t", "0", &container]);
    let first = json!({"type": "exec", "cmd": ["true"]});
    let seen = exec(&team, &team.alice, &container, first, &[]).await;
    let error = seen.error().unwrap_or_default();
    assert!(error.contains("is not running"), "{seen:?}");
    team.remove_all_runs().await;
}

#[tokio::test]
async fn exec_is_for_those_who_act_on_the_container_within_the_policy() {
    let team = Team::new(POLICY).await;
    let alices = sleeper(&team, &team.alice).await;
    let foreign = unique("foreign");
    assert!(
        docker(&[
            "run",
            "-d",
            "--name",
            &foreign,
            "--network",
            "none",
            FIXTURE,
            "sleep",
            "60"
        ])
        .0
    );
    let ws_status = async |token: &str, container: &str| {
        let path = format!("/api/containers/{container}/exec");
        match Client::connect_to(team.addr, &path, token).await {
            Ok(_) => 101,
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
            Err(e) => panic!("{e}"),
        }
    };
    // Viewers never; another team's container and other tools' do not exist for operators.
    assert_eq!(ws_status(&team.vic, &alices).await, 403);
    assert_eq!(ws_status(&team.bob, &alices).await, 404);
    assert_eq!(ws_status(&team.alice, &foreign).await, 404);
    assert_eq!(ws_status(&team.root, &foreign).await, 101);

    // --privileged and another user are the policy's to allow.
    for (first, rule) in [
        (
            json!({"type": "exec", "cmd": ["true"], "privileged": true}),
            "allow_exec_privileged",
        ),
        (
            json!({"type": "exec", "cmd": ["true"], "user": "nobody"}),
            "allow_exec_user",
        ),
    ] {
        let seen = exec(&team, &team.alice, &alices, first.clone(), &[]).await;
        assert!(
            seen.error().unwrap_or_default().contains(rule),
            "{first}: {seen:?}"
        );
        // Berth lets an admin; whether the engine can (privileges in this sandbox) is its own.
        let seen = exec(&team, &team.root, &alices, first.clone(), &[]).await;
        assert!(
            seen.error().is_none() && seen.exit().is_some(),
            "an admin may: {seen:?}"
        );
    }
    let audit = team.get_json(&team.admin, "/api/audit?limit=50").await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "container.exec" && e["outcome"] == "denied"),
        "{audit}"
    );
    docker(&["rm", "-f", &foreign]);
    team.remove_all_runs().await;

    // A role's table may switch exec off, and allow the options.
    let team = Team::new(&format!("{POLICY}allow_exec = false\n")).await;
    let alices = sleeper(&team, &team.alice).await;
    let seen = exec(
        &team,
        &team.alice,
        &alices,
        json!({"type": "exec", "cmd": ["true"]}),
        &[],
    )
    .await;
    assert!(
        seen.error().unwrap_or_default().contains("may not exec"),
        "{seen:?}"
    );
    team.remove_all_runs().await;
    let team = Team::new(&format!("{POLICY}allow_exec_user = true\n")).await;
    let alices = sleeper(&team, &team.alice).await;
    let first = json!({"type": "exec", "cmd": ["id", "-u"], "user": "nobody"});
    let seen = exec(&team, &team.alice, &alices, first, &[]).await;
    assert!(seen.output.contains("65534"), "{seen:?}");
    team.remove_all_runs().await;
}

#[tokio::test]
async fn stats_are_sampled_and_streamed_until_the_container_stops() {
    let team = Team::new(POLICY).await;
    let container = sleeper(&team, &team.alice).await;
    let path = format!("/api/containers/{container}/stats");
    let sample = team.get_json(&team.vic, &path).await;
    assert_eq!(sample["memory_limit_bytes"], 64 * 1024 * 1024, "{sample}");
    for field in [
        "cpu_percent",
        "online_cpus",
        "memory_bytes",
        "pids",
        "net_rx_bytes",
        "block_read_bytes",
    ] {
        assert!(sample[field].is_number(), "{field}: {sample}");
    }
    assert!(sample["pids"].as_u64() >= Some(1), "{sample}");
    assert!(sample["at"].is_string());
    assert_eq!(
        status_of(http_as(&team.bob).get(team.url(&path))).await,
        404
    );

    // Two watchers at once get samples; both see the end when the container stops.
    let ws = format!("/api/containers/{container}/stats/ws");
    let mut first = Client::connect_to(team.addr, &ws, &team.alice)
        .await
        .unwrap();
    let mut second = Client::connect_to(team.addr, &ws, &team.vic).await.unwrap();
    for client in [&mut first, &mut second] {
        let mut samples = 0;
        while samples < 2 {
            let msg = tokio::time::timeout(Duration::from_secs(10), client.socket.next())
                .await
                .expect("a sample a second");
            if let Some(Ok(Message::Text(t))) = msg {
                let s: Value = serde_json::from_str(&t).unwrap();
                assert!(s["memory_bytes"].is_number(), "{s}");
                samples += 1;
            }
        }
    }
    docker(&["stop", "-t", "0", &container]);
    for client in [&mut first, &mut second] {
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match client.socket.next().await {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    _ => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "closed once the container stopped");
    }
    team.remove_all_runs().await;
}

/// Samples under real load: a container burning a CPU reads well above 50 %, and one holding
/// 40 MB reads what `docker stats --no-stream` says, within 10 %.
#[tokio::test]
async fn stats_follow_real_cpu_and_memory_use() {
    let team = Team::new(POLICY).await;
    let start = async |script: &str| {
        let body = json!({"argv": ["-d", "--network", "none", FIXTURE, "sh", "-c", script]});
        let (code, created) = team.create(&team.admin, body).await;
        assert_eq!(code, 201, "{created}");
        created["container_id"].as_str().unwrap().to_string()
    };
    let busy = start("yes > /dev/null").await;
    let holding = start("head -c 40000000 /dev/zero > /dev/shm/m; sleep 120").await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let sample = team
        .get_json(&team.admin, &format!("/api/containers/{busy}/stats"))
        .await;
    let cpu = sample["cpu_percent"].as_f64().unwrap();
    assert!(cpu > 50.0, "a busy loop: {sample}");

    let sample = team
        .get_json(&team.admin, &format!("/api/containers/{holding}/stats"))
        .await;
    let ours = sample["memory_bytes"].as_f64().unwrap();
    let (ok, out, err) = docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.MemUsage}}",
        &holding,
    ]);
    assert!(ok, "{err}");
    let used = out.split('/').next().unwrap().trim();
    let (number, unit) = used.split_at(used.find(|c: char| c.is_ascii_alphabetic()).unwrap());
    let scale = match unit {
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "B" => 1.0,
        other => panic!("unit {other}"),
    };
    let theirs = number.parse::<f64>().unwrap() * scale;
    assert!(
        (ours - theirs).abs() <= theirs * 0.10,
        "Berth {ours} bytes, docker stats {used} ({theirs} bytes)"
    );
    assert!(ours > 35_000_000.0, "it holds 40 MB: {sample}");
    team.remove_all_runs().await;
}
