//! One gateway in front of several engines: the test bed's two dockerds (`scripts/testbed.sh`),
//! listed in an engines file as `one` (zone a) and `two` (zone b). A run on a named engine lands
//! there and only there and is acted on there; placement spreads runs, follows labels, skips
//! full and unreachable engines and refuses when none fits; the policy's `allowed_engines`
//! holds for operators; the engines' status, merged listings, and container names that exist on
//! both engines. Every placement is checked against the engines themselves with the docker CLI.

use std::time::{Duration, Instant};

use berth_server::Config;
use berth_tests::team::{self, Team};
use berth_tests::testbed::{SecondEngine, kill_second_engine};
use berth_tests::{
    Client, DOCKER_HOST, FIXTURE, SECOND_DOCKER_HOST, StoppableGateway, assert_rule,
    containers_of_run_on, docker_on, error_message, http_as, json_of, poll_exit, poll_json,
    run_id_of, status_and_json, status_of, text_of, unique,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// The test bed's engines as the engines file names them, with their zone label.
const ENGINES: [(&str, &str, &str); 2] =
    [("one", DOCKER_HOST, "a"), ("two", SECOND_DOCKER_HOST, "b")];

/// A socket nothing listens on: an engine that never answers.
const ABSENT_HOST: &str = "unix:///var/run/berth-testbed-absent.sock";

/// Placement looks at the engines' running containers, which every test here changes: the
/// tests of this file take turns.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn host_of(engine: &str) -> &'static str {
    ENGINES
        .iter()
        .find(|(name, ..)| *name == engine)
        .map(|(_, host, _)| *host)
        .unwrap_or_else(|| panic!("no engine {engine} in the test bed"))
}

/// `[engines.one]` and `[engines.two]`, in that order, each with `max_runs` when given.
fn engines_toml(max_runs: [Option<u32>; 2]) -> String {
    let mut toml = String::new();
    for ((name, host, zone), max) in ENGINES.iter().zip(max_runs) {
        toml += &format!("[engines.{name}]\nhost = \"{host}\"\nlabels = {{ zone = \"{zone}\" }}\n");
        if let Some(max) = max {
            toml += &format!("max_runs = {max}\n");
        }
        toml += "\n";
    }
    toml
}

/// The operators' policy: the fixture, and `allowed_engines` when given (a TOML array).
fn policy(allowed_engines: Option<&str>) -> String {
    let mut policy = String::from(
        r#"[operator]
allowed_images = ["berth-fixture:*"]
allowed_networks = ["default"]
max_concurrent_runs = 20
max_run_seconds = 120
runs_per_minute = 200
"#,
    );
    if let Some(list) = allowed_engines {
        policy += &format!("allowed_engines = {list}\n");
    }
    policy
}

/// A gateway (with `Team`'s users and admin token) over the engines of `engines_toml`, once
/// its engines in `reachable` answer in `GET /api/engines`.
async fn gateway_with(engines_toml: &str, policy: &str, reachable: &[&str]) -> Team {
    for (name, host, _) in ENGINES {
        assert!(
            docker_on(host, &["version", "--format", "{{.Server.APIVersion}}"]).0,
            "engine {name}: no Docker engine at {host}: run scripts/testbed.sh"
        );
    }
    let mut config = Config::local(DOCKER_HOST);
    let file = config.data_dir.with_extension("engines.toml");
    std::fs::write(&file, engines_toml).unwrap();
    config.engines = Some(file);
    let team = Team::with_config(config, policy).await;
    // Engines are looked at in the background: wait (10 s at most) until they have been.
    let engines = poll_json(
        || http_as(&team.admin).get(team.url("/api/engines")),
        100,
        Duration::from_millis(100),
        |list| {
            reachable
                .iter()
                .all(|name| engine_in(list, name)["reachable"] == true)
        },
    )
    .await;
    for name in reachable {
        assert_eq!(
            engine_in(&engines, name)["reachable"],
            true,
            "{name}: {engines}"
        );
    }
    team
}

/// The test bed's two engines, without limits; operators may use every engine.
async fn gateway() -> Team {
    gateway_with(&engines_toml([None, None]), &policy(None), &["one", "two"]).await
}

/// The entry of `name` in a `GET /api/engines` answer (`null` when absent).
fn engine_in<'a>(engines: &'a Value, name: &str) -> &'a Value {
    engines
        .as_array()
        .and_then(|list| list.iter().find(|e| e["name"] == name))
        .unwrap_or(&Value::Null)
}

/// The engines (by name) that hold containers of `run_id`.
fn engines_of_run(run_id: &str) -> Vec<&'static str> {
    ENGINES
        .iter()
        .filter(|(_, host, _)| !containers_of_run_on(host, run_id).is_empty())
        .map(|(name, ..)| *name)
        .collect()
}

/// A request for `-d sleep 30` (a run in progress for 30 s), with the `extra` fields
/// (`engine`, `engine_labels`).
fn sleeper(extra: Value) -> Value {
    let mut body = json!({"argv": ["-d", FIXTURE, "sleep", "30"]});
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

/// Creates `body` as `token`, asserts it was accepted, that Berth recorded an engine for it and
/// that its container is on that engine and no other; returns the run id and the engine.
async fn placed(team: &Team, token: &str, body: Value) -> (String, String) {
    let (code, created) = team.create(token, body.clone()).await;
    assert_eq!(code, 201, "{body}: {created}");
    let run_id = run_id_of(&created);
    let info = team.get_json(token, &format!("/api/runs/{run_id}")).await;
    let engine = info["engine"].as_str().unwrap_or_default().to_string();
    assert_eq!(engines_of_run(&run_id), [engine.as_str()], "{body}: {info}");
    (run_id, engine)
}

/// Removes every run of the gateway (`DELETE /api/runs/{id}`) and asserts that this removed
/// the containers of `runs` from whichever engine they were on.
async fn clean_up(team: &Team, runs: &[String]) {
    team.remove_all_runs().await;
    for run_id in runs {
        assert_eq!(engines_of_run(run_id), Vec::<&str>::new(), "run {run_id}");
    }
}

/// Polls a run of `team` until it has an exit code (30 s at most).
async fn exited(team: &Team, run_id: &str) -> Value {
    let path = format!("/api/runs/{run_id}");
    let req = || http_as(&team.admin).get(team.url(&path));
    poll_exit(req, 300, Duration::from_millis(100)).await
}

/// What a WebSocket client saw: the events as JSON, and the output (both streams).
#[derive(Debug, Default)]
struct Seen {
    events: Vec<Value>,
    output: Vec<u8>,
}

impl Seen {
    fn event(&self, kind: &str) -> Option<&Value> {
        self.events.iter().find(|e| e["type"] == kind)
    }
    fn kinds(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| e["type"].as_str())
            .collect()
    }
    fn output_str(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }
}

/// Opens the WebSocket `path` of `team` as `token`, sends `first` (raw JSON: the fields of the
/// spec, whether or not the wire types have them) and reads until the server closes.
async fn session(team: &Team, token: &str, path: &str, first: Value) -> Seen {
    let mut client = Client::connect_to(team.addr, path, token)
        .await
        .expect("WebSocket connects");
    let socket = &mut client.socket;
    socket
        .send(Message::text(first.to_string()))
        .await
        .expect("send");
    let mut seen = Seen::default();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(60), socket.next())
            .await
            .unwrap_or_else(|_| panic!("no message within 60 s; so far {:?}", seen.kinds()));
        match next {
            Some(Ok(Message::Text(text))) => {
                seen.events
                    .push(serde_json::from_str(text.as_str()).expect("events are JSON"));
            }
            Some(Ok(Message::Binary(frame))) => seen.output.extend_from_slice(&frame[1..]),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            Some(Ok(_)) => {}
        }
    }
    seen
}

/// `docker create` on an engine directly: the container's full ID.
fn created_on(host: &str, args: &[&str]) -> String {
    let (ok, out, err) = docker_on(host, &[&["create"], args].concat());
    assert!(ok, "docker -H {host} create {args:?}: {err}");
    out.trim().to_string()
}

/// `docker run -d` on an engine directly: the container's full ID.
fn started_on(host: &str, args: &[&str]) -> String {
    let (ok, out, err) = docker_on(host, &[&["run", "-d"], args].concat());
    assert!(ok, "docker -H {host} run -d {args:?}: {err}");
    out.trim().to_string()
}

/// Creates a container on an engine directly and runs it to its end: its full ID.
fn ran_on(host: &str, args: &[&str]) -> String {
    let id = created_on(host, args);
    let (ok, _, err) = docker_on(host, &["start", "-a", &id]);
    assert!(ok, "docker -H {host} start -a {id}: {err}");
    id
}

/// `docker inspect --format {{.State.Running}}` on an engine.
fn running_on(host: &str, container: &str) -> bool {
    let (_, out, _) = docker_on(
        host,
        &["inspect", "--format", "{{.State.Running}}", container],
    );
    out.trim() == "true"
}

/// Running containers of an engine, as the engine counts them.
fn running_count(host: &str) -> usize {
    let (ok, out, err) = docker_on(host, &["ps", "-q"]);
    assert!(ok, "{err}");
    out.lines().count()
}

#[tokio::test]
async fn a_run_on_a_named_engine_lands_there_and_only_there() {
    let _turn = TURN.lock().await;
    let team = gateway().await;
    let mut runs = Vec::new();

    // REST, argv form: on each engine in turn, output and record from that engine.
    for (name, ..) in ENGINES {
        let words = format!("on {name}");
        let body = json!({"argv": [FIXTURE, "echo", &words], "engine": name});
        let (code, created) = team.create(&team.admin, body).await;
        assert_eq!(code, 201, "{created}");
        let run_id = run_id_of(&created);
        let info = exited(&team, &run_id).await;
        assert_eq!(info["engine"], name, "{info}");
        assert_eq!(info["exit_code"], 0, "{info}");
        let output = format!("/api/runs/{run_id}/output");
        let got = text_of(http_as(&team.admin).get(team.url(&output))).await;
        assert_eq!(got, format!("{words}\n"));
        assert_eq!(engines_of_run(&run_id), [name]);
        let on_engine = containers_of_run_on(host_of(name), &run_id);
        assert_eq!(on_engine.len(), 1, "{on_engine:?}");
        let container_id = created["container_id"].as_str().unwrap();
        assert!(
            container_id.starts_with(&on_engine[0]),
            "{on_engine:?} {created}"
        );
        runs.push(run_id);
    }

    // REST, spec form, created only.
    let spec =
        json!({"spec": {"image": FIXTURE, "command": ["true"]}, "engine": "two", "start": false});
    let (code, created) = team.create(&team.admin, spec).await;
    assert_eq!(code, 201, "{created}");
    let spec_run = run_id_of(&created);
    assert_eq!(engines_of_run(&spec_run), ["two"]);
    let info = team
        .get_json(&team.admin, &format!("/api/runs/{spec_run}"))
        .await;
    assert_eq!(info["engine"], "two", "{info}");
    runs.push(spec_run);

    // WebSocket: the `accepted` event names the engine.
    let first = json!({"type": "run", "argv": [FIXTURE, "echo", "over ws"], "engine": "two"});
    let seen = session(&team, &team.admin, "/api/runs/ws", first).await;
    assert_eq!(
        seen.kinds(),
        ["accepted", "created", "started", "exit"],
        "{seen:?}"
    );
    let accepted = seen.event("accepted").unwrap();
    assert_eq!(accepted["engine"], "two", "{accepted}");
    assert_eq!(seen.event("exit").unwrap()["code"], 0);
    assert_eq!(seen.output_str(), "over ws\n");
    let ws_run = accepted["run_id"].as_str().unwrap().to_string();
    assert_eq!(engines_of_run(&ws_run), ["two"]);
    runs.push(ws_run);

    // The history says where each ran.
    let history = team.get_json(&team.admin, "/api/runs").await;
    let engine_of = |run_id: &str| {
        history
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["run_id"] == run_id)
            .map(|r| r["engine"].clone())
            .unwrap_or(Value::Null)
    };
    let expected = ["one", "two", "two", "two"];
    for (run_id, engine) in runs.iter().zip(expected) {
        assert_eq!(engine_of(run_id), engine, "run {run_id} in {history}");
    }

    clean_up(&team, &runs).await;
}

#[tokio::test]
async fn stop_kill_watch_and_delete_act_on_the_runs_engine() {
    let _turn = TURN.lock().await;
    let team = gateway().await;
    // A container of the same name on the other engine, which none of this may touch.
    let name = unique("engines-act");
    let decoy = started_on(DOCKER_HOST, &["--name", &name, FIXTURE, "sleep", "60"]);

    let body = json!({"argv": ["-d", "--name", &name, FIXTURE, "sleep", "30"], "engine": "two"});
    let (killed, engine) = placed(&team, &team.admin, body).await;
    assert_eq!(engine, "two");
    let path = format!("/api/runs/{killed}/kill?signal=KILL");
    let code = status_of(http_as(&team.admin).post(team.url(&path))).await;
    assert_eq!(code, 204);
    assert_eq!(exited(&team, &killed).await["exit_code"], 137);
    let container = &containers_of_run_on(SECOND_DOCKER_HOST, &killed)[0];
    assert!(!running_on(SECOND_DOCKER_HOST, container));
    assert!(
        running_on(DOCKER_HOST, &decoy),
        "the decoy on one was killed"
    );

    let (stopped, _) = placed(&team, &team.admin, sleeper(json!({"engine": "two"}))).await;
    let path = format!("/api/runs/{stopped}/stop?t=0");
    let code = status_of(http_as(&team.admin).post(team.url(&path))).await;
    assert_eq!(code, 204);
    let info = exited(&team, &stopped).await;
    assert_eq!(info["engine"], "two");
    let container = &containers_of_run_on(SECOND_DOCKER_HOST, &stopped)[0];
    assert!(!running_on(SECOND_DOCKER_HOST, container));
    assert!(
        running_on(DOCKER_HOST, &decoy),
        "the decoy on one was stopped"
    );

    // A watcher follows the output from the run's engine.
    let script = "echo one; sleep 1; echo two";
    let body = json!({"argv": [FIXTURE, "sh", "-c", script], "engine": "two"});
    let (watched, _) = placed(&team, &team.admin, body).await;
    let path = format!("/api/runs/{watched}/ws");
    let seen = session(&team, &team.admin, &path, json!({"type": "watch"})).await;
    assert_eq!(
        seen.kinds(),
        ["accepted", "created", "started", "exit"],
        "{seen:?}"
    );
    assert_eq!(seen.event("accepted").unwrap()["engine"], "two");
    assert_eq!(seen.event("exit").unwrap()["code"], 0);
    assert_eq!(seen.output_str(), "one\ntwo\n");

    // Deleting a run removes its container from its engine, not the decoy of the same name.
    let code =
        status_of(http_as(&team.admin).delete(team.url(&format!("/api/runs/{killed}")))).await;
    assert_eq!(code, 204);
    assert_eq!(engines_of_run(&killed), Vec::<&str>::new());
    assert!(
        running_on(DOCKER_HOST, &decoy),
        "the decoy on one was removed"
    );

    clean_up(&team, &[killed, stopped, watched]).await;
    docker_on(DOCKER_HOST, &["rm", "-f", &decoy]);
}

#[tokio::test]
async fn placement_spreads_runs_over_both_engines() {
    let _turn = TURN.lock().await;
    let team = gateway().await;
    // Engine one gets more running containers than two, so that the first run (no Berth run
    // anywhere yet) goes to two, against the file's order.
    let (one, two) = (
        running_count(DOCKER_HOST),
        running_count(SECOND_DOCKER_HOST),
    );
    let mut decoys = Vec::new();
    for _ in 0..(two + 2).saturating_sub(one) {
        let name = unique("engines-busy");
        decoys.push(started_on(
            DOCKER_HOST,
            &["--name", &name, FIXTURE, "sleep", "60"],
        ));
    }
    // The gateway counts running containers in the background: wait until it has.
    let one_is_busier = |list: &Value| {
        let running = |name| engine_in(list, name)["containers_running"].as_u64();
        matches!((running("one"), running("two")), (Some(one), Some(two)) if one >= two + 2)
    };
    let engines = poll_json(
        || http_as(&team.admin).get(team.url("/api/engines")),
        100,
        Duration::from_millis(100),
        one_is_busier,
    )
    .await;
    assert!(
        one_is_busier(&engines),
        "engine one has at least two more running containers: {engines}"
    );

    let mut runs = Vec::new();
    let mut order = Vec::new();
    for _ in 0..6 {
        let (run_id, engine) = placed(&team, &team.admin, sleeper(json!({}))).await;
        runs.push(run_id);
        order.push(engine);
    }
    assert_eq!(order, ["two", "one", "two", "one", "two", "one"]);
    for (name, host, _) in ENGINES {
        let here = runs
            .iter()
            .filter(|r| !containers_of_run_on(host, r).is_empty())
            .count();
        assert_eq!(here, 3, "runs on {name}");
    }
    let engines = team.get_json(&team.admin, "/api/engines").await;
    for (name, ..) in ENGINES {
        assert_eq!(engine_in(&engines, name)["runs"], 3, "{engines}");
    }

    clean_up(&team, &runs).await;
    for decoy in decoys {
        docker_on(DOCKER_HOST, &["rm", "-f", &decoy]);
    }
}

#[tokio::test]
async fn engine_labels_confine_placement() {
    let _turn = TURN.lock().await;
    let team = gateway().await;
    let mut runs = Vec::new();
    // Three on zone b, although placement would otherwise spread them.
    for _ in 0..3 {
        let body = sleeper(json!({"engine_labels": {"zone": "b"}}));
        let (run_id, engine) = placed(&team, &team.admin, body).await;
        assert_eq!(engine, "two");
        runs.push(run_id);
    }
    let body = sleeper(json!({"engine_labels": {"zone": "a"}}));
    let (run_id, engine) = placed(&team, &team.admin, body).await;
    assert_eq!(engine, "one");
    runs.push(run_id);

    // Over the WebSocket too.
    let first = json!({"type": "run", "argv": [FIXTURE, "true"], "engine_labels": {"zone": "b"}});
    let seen = session(&team, &team.admin, "/api/runs/ws", first).await;
    let accepted = seen.event("accepted").expect("accepted");
    assert_eq!(accepted["engine"], "two", "{seen:?}");
    assert_eq!(
        seen.event("exit").map(|e| e["code"].clone()),
        Some(json!(0))
    );
    runs.push(accepted["run_id"].as_str().unwrap().to_string());

    // No engine has zone c, nor zone a and a disk label.
    for labels in [json!({"zone": "c"}), json!({"zone": "a", "disk": "ssd"})] {
        let body = sleeper(json!({"engine_labels": labels}));
        let (code, refused) = team.create(&team.admin, body).await;
        assert_eq!(code, 503, "{labels}: {refused}");
        assert!(!error_message(&refused).is_empty(), "{refused}");
    }

    clean_up(&team, &runs).await;
}

#[tokio::test]
async fn full_engines_are_skipped_then_refused() {
    let _turn = TURN.lock().await;
    let engines = engines_toml([Some(1), Some(2)]);
    let team = gateway_with(&engines, &policy(None), &["one", "two"]).await;
    let listed = team.get_json(&team.admin, "/api/engines").await;
    assert_eq!(engine_in(&listed, "one")["max_runs"], 1, "{listed}");
    assert_eq!(engine_in(&listed, "two")["max_runs"], 2, "{listed}");

    let mut runs = Vec::new();
    let mut order = Vec::new();
    for _ in 0..3 {
        let (run_id, engine) = placed(&team, &team.admin, sleeper(json!({}))).await;
        runs.push(run_id);
        order.push(engine);
    }
    // One took a single run; once it had it, every run went to two.
    assert_eq!(order.iter().filter(|e| *e == "one").count(), 1, "{order:?}");
    assert_eq!(order.iter().filter(|e| *e == "two").count(), 2, "{order:?}");
    let listed = team.get_json(&team.admin, "/api/engines").await;
    assert_eq!(engine_in(&listed, "one")["runs"], 1, "{listed}");
    assert_eq!(engine_in(&listed, "two")["runs"], 2, "{listed}");

    // Both full: refused, naming the engines it considered; nothing was created.
    let (code, refused) = team.create(&team.admin, sleeper(json!({}))).await;
    assert_eq!(code, 503, "{refused}");
    let said = error_message(&refused);
    assert!(said.contains("one") && said.contains("two"), "{refused}");
    let (code, refused) = team
        .create(
            &team.admin,
            sleeper(json!({"engine_labels": {"zone": "b"}})),
        )
        .await;
    assert_eq!(code, 503, "{refused}");

    // A run that ends frees its engine.
    let on_one = runs[order.iter().position(|e| e == "one").unwrap()].clone();
    let path = format!("/api/runs/{on_one}/kill");
    assert_eq!(
        status_of(http_as(&team.admin).post(team.url(&path))).await,
        204
    );
    exited(&team, &on_one).await;
    let (run_id, engine) = placed(&team, &team.admin, sleeper(json!({}))).await;
    assert_eq!(engine, "one");
    runs.push(run_id);

    clean_up(&team, &runs).await;
}

/// An operator's limits count every engine's runs, and the run-time limit stops and removes a
/// container on the engine it runs on: two runs in progress on engine two (one detached) leave
/// alice no room on engine one nor anywhere placement could put her; past the deadline both
/// containers are gone from engine two, and she may run again.
#[tokio::test]
async fn limits_hold_on_the_second_engine() {
    let _turn = TURN.lock().await;
    let policy = policy(None)
        .replace("max_concurrent_runs = 20", "max_concurrent_runs = 2")
        .replace("max_run_seconds = 120", "max_run_seconds = 3");
    let team = gateway_with(&engines_toml([None, None]), &policy, &["one", "two"]).await;
    let detached = sleeper(json!({"engine": "two"}));
    let attached = json!({"argv": [FIXTURE, "sleep", "60"], "engine": "two"});
    let (first, _) = placed(&team, &team.alice, detached).await;
    let (second, _) = placed(&team, &team.alice, attached).await;
    let containers: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|run_id| containers_of_run_on(SECOND_DOCKER_HOST, run_id))
        .collect();
    assert_eq!(containers.len(), 2, "{containers:?}");

    let (code, body) = team
        .create(&team.alice, sleeper(json!({"engine": "one"})))
        .await;
    assert_eq!(code, 429, "runs on engine two count on engine one: {body}");
    let (code, body) = team.create(&team.alice, sleeper(json!({}))).await;
    assert_eq!(code, 429, "and for placement: {body}");
    // Past the 3 s deadline and the 10 s stop grace `sleep` ignores, both are gone from two.
    let gone = |id: &String| !docker_on(SECOND_DOCKER_HOST, &["inspect", id]).0;
    let since = Instant::now();
    while !containers.iter().all(gone) && since.elapsed() < Duration::from_secs(40) {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        containers.iter().all(gone),
        "removed from engine two at the deadline"
    );
    for run_id in [&first, &second] {
        let info = exited(&team, run_id).await;
        assert_eq!(info["engine"], "two", "{info}");
    }
    let info = exited(&team, &second).await;
    assert!(said(&info, "error").contains("maximum run time"), "{info}");
    let (run_id, _) = placed(&team, &team.alice, sleeper(json!({"engine": "one"}))).await;
    clean_up(&team, &[first, second, run_id]).await;
}

#[tokio::test]
async fn the_policy_gives_operators_only_their_engines() {
    let _turn = TURN.lock().await;
    let engines = engines_toml([None, None]);
    let team = gateway_with(&engines, &policy(Some(r#"["on*"]"#)), &["one", "two"]).await;
    let mut runs = Vec::new();

    // Engine two is not alice's: as argv, as spec, over the WebSocket.
    let argv = json!({"argv": [FIXTURE, "true"], "engine": "two", "start": false});
    let (code, body) = team.create(&team.alice, argv).await;
    assert_rule(code, &body, "engine");
    let spec =
        json!({"spec": {"image": FIXTURE, "command": ["true"]}, "engine": "two", "start": false});
    let (code, body) = team.create(&team.alice, spec).await;
    assert_rule(code, &body, "engine");
    let first = json!({"type": "run", "argv": [FIXTURE, "true"], "engine": "two"});
    let seen = session(&team, &team.alice, "/api/runs/ws", first).await;
    let error = seen.event("error").unwrap_or_else(|| panic!("{seen:?}"));
    assert_eq!(error["code"], 125, "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`engine`"),
        "{error}"
    );
    assert!(seen.event("created").is_none(), "{seen:?}");

    // Engine one is (the pattern `on*`), as argv and as spec.
    let argv = json!({"argv": [FIXTURE, "true"], "engine": "one", "start": false});
    let (code, created) = team.create(&team.alice, argv).await;
    assert_eq!(code, 201, "{created}");
    let run_id = run_id_of(&created);
    assert_eq!(engines_of_run(&run_id), ["one"]);
    runs.push(run_id);
    let spec =
        json!({"spec": {"image": FIXTURE, "command": ["true"]}, "engine": "one", "start": false});
    let (code, created) = team.create(&team.alice, spec).await;
    assert_eq!(code, 201, "{created}");
    runs.push(run_id_of(&created));

    // Placement only among her engines, however loaded: every run on one.
    for _ in 0..3 {
        let (run_id, engine) = placed(&team, &team.alice, sleeper(json!({}))).await;
        assert_eq!(engine, "one");
        runs.push(run_id);
    }
    // Zone b has no engine of hers.
    let (code, body) = team
        .create(
            &team.alice,
            sleeper(json!({"engine_labels": {"zone": "b"}})),
        )
        .await;
    assert_eq!(code, 503, "{body}");

    // An unknown engine is a bad request, for her and for an admin.
    for token in [&team.alice, &team.admin] {
        let body = json!({"argv": [FIXTURE, "true"], "engine": "three", "start": false});
        let (code, refused) = team.create(token, body).await;
        assert_eq!(code, 400, "{refused}");
        let spec = json!({"spec": {"image": FIXTURE}, "engine": "three", "start": false});
        let (code, refused) = team.create(token, spec).await;
        assert_eq!(code, 400, "{refused}");
    }

    // Admins are not restricted.
    let argv = json!({"argv": [FIXTURE, "true"], "engine": "two", "start": false});
    let (code, created) = team.create(&team.admin, argv).await;
    assert_eq!(code, 201, "{created}");
    let admins = run_id_of(&created);
    assert_eq!(engines_of_run(&admins), ["two"]);
    runs.push(admins);
    clean_up(&team, &runs).await;

    // Without `allowed_engines`, every engine.
    let open = gateway_with(&engines, &policy(None), &["one", "two"]).await;
    let argv = json!({"argv": [FIXTURE, "true"], "engine": "two", "start": false});
    let (code, created) = open.create(&open.alice, argv).await;
    assert_eq!(code, 201, "{created}");
    let run_id = run_id_of(&created);
    assert_eq!(engines_of_run(&run_id), ["two"]);
    clean_up(&open, &[run_id]).await;
}

#[tokio::test]
async fn engines_report_their_status_and_hosts_only_to_admins() {
    let _turn = TURN.lock().await;
    let team = gateway().await;
    let (run_id, _) = placed(&team, &team.admin, sleeper(json!({"engine": "two"}))).await;

    // Running containers are counted in the background: wait until two's has been.
    let as_admin = poll_json(
        || http_as(&team.admin).get(team.url("/api/engines")),
        100,
        Duration::from_millis(100),
        |list| engine_in(list, "two")["containers_running"].as_u64() >= Some(1),
    )
    .await;
    let (code, as_alice) =
        status_and_json(http_as(&team.alice).get(team.url("/api/engines"))).await;
    assert_eq!(code, 200, "{as_alice}");
    for list in [&as_admin, &as_alice] {
        assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    }
    for (name, host, zone) in ENGINES {
        let version = |format: &str| {
            let (ok, out, err) = docker_on(host, &["version", "--format", format]);
            assert!(ok, "{err}");
            out.trim().to_string()
        };
        for (list, admin) in [(&as_admin, true), (&as_alice, false)] {
            let e = engine_in(list, name);
            assert_eq!(e["reachable"], true, "{e}");
            assert_eq!(e["version"], version("{{.Server.Version}}"), "{e}");
            assert_eq!(e["api_version"], version("{{.Server.APIVersion}}"), "{e}");
            assert_eq!(e["os"], version("{{.Server.Os}}"), "{e}");
            assert_eq!(e["arch"], version("{{.Server.Arch}}"), "{e}");
            assert_eq!(e["kind"], "docker", "{e}");
            assert_eq!(e["labels"], json!({"zone": zone}), "{e}");
            assert!(e["max_runs"].is_null(), "{e}");
            assert!(e["containers_running"].is_u64(), "{e}");
            assert!(e["error"].is_null(), "{e}");
            let runs = if name == "two" { 1 } else { 0 };
            assert_eq!(e["runs"], runs, "{e}");
            if admin {
                assert_eq!(e["host"], host, "{e}");
            } else {
                assert!(e.get("host").is_none(), "an operator sees no host: {e}");
            }
        }
    }
    let two = engine_in(&as_admin, "two");
    assert!(two["containers_running"].as_u64().unwrap() >= 1, "{two}");

    clean_up(&team, &[run_id]).await;
}

#[tokio::test]
async fn an_unreachable_engine_is_reported_and_skipped() {
    let _turn = TURN.lock().await;
    // First in the file, so that order alone would pick it.
    let engines = format!(
        "[engines.gone]\nhost = \"{ABSENT_HOST}\"\n\n{}",
        engines_toml([None, None])
    );
    let team = gateway_with(&engines, &policy(None), &["one", "two"]).await;
    // Until its first look at an engine, the gateway has no error to report for it.
    let listed = poll_json(
        || http_as(&team.admin).get(team.url("/api/engines")),
        100,
        Duration::from_millis(100),
        |list| engine_in(list, "gone")["error"].is_string(),
    )
    .await;
    let gone = engine_in(&listed, "gone");
    assert_eq!(gone["reachable"], false, "{listed}");
    assert!(
        !gone["error"].as_str().unwrap_or_default().is_empty(),
        "{gone}"
    );
    let health = json_of(http_as("").get(team.url("/api/health"))).await;
    let entry = health["engines"]
        .as_array()
        .and_then(|l| l.iter().find(|e| e["name"] == "gone"));
    assert_eq!(
        entry.map(|e| e["reachable"].clone()),
        Some(json!(false)),
        "{health}"
    );

    let mut runs = Vec::new();
    for _ in 0..2 {
        let (run_id, engine) = placed(&team, &team.admin, sleeper(json!({}))).await;
        assert_ne!(engine, "gone");
        runs.push(run_id);
    }
    let body = json!({"argv": [FIXTURE, "true"], "engine": "gone"});
    let (code, refused) = team.create(&team.admin, body).await;
    assert_eq!(code, 502, "{refused}");

    clean_up(&team, &runs).await;
}

#[tokio::test]
async fn listings_merge_both_engines_and_filter_by_engine() {
    let _turn = TURN.lock().await;
    let team = gateway().await;
    let on_one = created_on(
        DOCKER_HOST,
        &["--name", &unique("engines-list"), FIXTURE, "true"],
    );
    let on_two = created_on(
        SECOND_DOCKER_HOST,
        &["--name", &unique("engines-list"), FIXTURE, "true"],
    );

    // A listing as the admin: `/api/containers…` or `/api/images…`.
    let listing = |path: String| {
        let team = &team;
        async move {
            let (code, list) = status_and_json(http_as(&team.admin).get(team.url(&path))).await;
            assert_eq!(code, 200, "{path}: {list}");
            list.as_array().cloned().unwrap_or_default()
        }
    };
    let list = |query: &'static str| listing(format!("/api/containers{query}"));
    let engine_of = |list: &[Value], id: &str| {
        list.iter()
            .find(|c| c["Id"] == id)
            .map(|c| c["engine"].clone())
            .unwrap_or(Value::Null)
    };
    let all = list("").await;
    assert_eq!(engine_of(&all, &on_one), "one");
    assert_eq!(engine_of(&all, &on_two), "two");
    assert!(
        all.iter()
            .all(|c| c["engine"] == "one" || c["engine"] == "two")
    );
    let only_two = list("?engine=two").await;
    assert_eq!(engine_of(&only_two, &on_two), "two");
    assert_eq!(engine_of(&only_two, &on_one), Value::Null);
    assert!(only_two.iter().all(|c| c["engine"] == "two"));
    let only_one = list("?engine=one").await;
    assert_eq!(engine_of(&only_one, &on_one), "one");
    assert_eq!(engine_of(&only_one, &on_two), Value::Null);
    assert!(only_one.iter().all(|c| c["engine"] == "one"));

    // Images: the fixture is on both, each entry says where.
    let images = |query: &'static str| listing(format!("/api/images{query}"));
    let fixture_on = |list: &[Value], engine: &str| {
        list.iter().any(|i| {
            i["engine"] == engine
                && i["RepoTags"]
                    .as_array()
                    .is_some_and(|tags| tags.iter().any(|t| t == FIXTURE))
        })
    };
    let all = images("").await;
    assert!(
        fixture_on(&all, "one") && fixture_on(&all, "two"),
        "{all:?}"
    );
    assert!(
        all.iter()
            .all(|i| i["engine"] == "one" || i["engine"] == "two")
    );
    let only_two = images("?engine=two").await;
    assert!(fixture_on(&only_two, "two"), "{only_two:?}");
    assert!(
        only_two.iter().all(|i| i["engine"] == "two"),
        "{only_two:?}"
    );

    docker_on(DOCKER_HOST, &["rm", "-f", &on_one]);
    docker_on(SECOND_DOCKER_HOST, &["rm", "-f", &on_two]);
}

#[tokio::test]
async fn a_name_on_both_engines_needs_the_engine() {
    let _turn = TURN.lock().await;
    let team = gateway().await;
    let name = unique("engines-twin");
    let on_one = ran_on(DOCKER_HOST, &["--name", &name, FIXTURE, "echo", "from one"]);
    let on_two = ran_on(
        SECOND_DOCKER_HOST,
        &["--name", &name, FIXTURE, "echo", "from two"],
    );
    let admin = http_as(&team.admin);
    let base = format!("/api/containers/{name}");

    let (code, body) = status_and_json(admin.get(team.url(&base))).await;
    assert_eq!(code, 409, "{body}");
    assert!(
        error_message(&body).contains("engine"),
        "asks for the engine: {body}"
    );
    let logs = format!("{base}/logs");
    assert_eq!(status_of(admin.get(team.url(&logs))).await, 409);
    let forced = format!("{base}?force=true");
    assert_eq!(status_of(admin.delete(team.url(&forced))).await, 409);
    assert!(docker_on(DOCKER_HOST, &["inspect", &on_one]).0);
    assert!(docker_on(SECOND_DOCKER_HOST, &["inspect", &on_two]).0);

    for (engine, id, said) in [
        ("two", &on_two, "from two\n"),
        ("one", &on_one, "from one\n"),
    ] {
        let path = format!("{base}?engine={engine}");
        let (code, body) = status_and_json(admin.get(team.url(&path))).await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["Id"], **id, "{engine}");
        let path = format!("{logs}?engine={engine}");
        assert_eq!(text_of(admin.get(team.url(&path))).await, said);
    }

    // Removed from two only; then the name is one's alone, found without saying so.
    let path = format!("{base}?force=true&engine=two");
    assert_eq!(status_of(admin.delete(team.url(&path))).await, 204);
    assert!(!docker_on(SECOND_DOCKER_HOST, &["inspect", &on_two]).0);
    assert!(docker_on(DOCKER_HOST, &["inspect", &on_one]).0);
    let (code, body) = status_and_json(admin.get(team.url(&base))).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["Id"], on_one);

    // A container on two alone is acted on there without `?engine`.
    let lone = unique("engines-lone");
    let lone_id = started_on(
        SECOND_DOCKER_HOST,
        &["--name", &lone, FIXTURE, "sleep", "60"],
    );
    let path = format!("/api/containers/{lone}");
    let (code, body) = status_and_json(admin.get(team.url(&path))).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["Id"], lone_id);
    let kill = format!("{path}/kill");
    assert_eq!(status_of(admin.post(team.url(&kill))).await, 204);
    let mut tries = 0;
    while running_on(SECOND_DOCKER_HOST, &lone_id) && tries < 50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        tries += 1;
    }
    assert!(!running_on(SECOND_DOCKER_HOST, &lone_id));

    docker_on(DOCKER_HOST, &["rm", "-f", &on_one]);
    docker_on(SECOND_DOCKER_HOST, &["rm", "-f", &on_two, &lone_id]);
}

#[tokio::test]
async fn health_lists_both_engines() {
    let _turn = TURN.lock().await;
    let team = gateway().await;
    let health = json_of(http_as("").get(team.url("/api/health"))).await;
    assert_eq!(health["status"], "ok", "{health}");
    assert!(health["engine"]["reachable"].is_boolean(), "{health}");
    let engines = health["engines"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        engines,
        [
            json!({"name": "one", "reachable": true}),
            json!({"name": "two", "reachable": true})
        ],
        "{health}"
    );
}

// Faults: engine two taken away (its dockerd killed with SIGKILL) and brought back, and the
// gateway itself stopped and started again. Each holds the turn for its whole duration, and
// a `SecondEngine` guard that brings engine two back however the test ends.

/// A shell loop that prints all the time, for runs whose output must be seen to go on; it ends
/// by itself after two minutes, should a failed test leave it behind.
const TICKER: &str = "i=0; while [ $i -lt 600 ]; do echo tick; sleep 0.2; i=$((i+1)); done";

/// Polls `GET path` of `team` as its admin ([`berth_tests::poll_until`]).
async fn poll_until(
    team: &Team,
    path: &str,
    since: Instant,
    limit: Duration,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> (Value, Duration) {
    let what = format!("{what} (GET {path})");
    berth_tests::poll_until(
        || team.get_json(&team.admin, path),
        since,
        limit,
        &what,
        done,
    )
    .await
}

/// The record of `run_id` (`GET /api/runs/{id}`).
async fn record(team: &Team, run_id: &str) -> Value {
    team.get_json(&team.admin, &format!("/api/runs/{run_id}"))
        .await
}

/// The runs of a fault test, whose containers it removes from both engines if the test fails
/// (when it passes, `clean_up` has). Declared before the test's `SecondEngine`, so that it is
/// dropped after it: once engine two is back.
#[derive(Default)]
struct Leftovers(std::sync::Mutex<Vec<String>>);

impl Leftovers {
    fn keep(&self, run_id: &str) {
        self.0.lock().unwrap().push(run_id.to_string());
    }
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for run_id in self.0.lock().unwrap().iter() {
            for (_, host, _) in ENGINES {
                for container in containers_of_run_on(host, run_id) {
                    docker_on(host, &["rm", "-f", &container]);
                }
            }
        }
    }
}

/// A run over `/api/runs/ws` of `team`, read as it goes: its events as JSON and its output.
struct Live {
    client: Client,
    seen: Seen,
    open: bool,
}

impl Live {
    /// Opens the run socket as the admin and sends `first` (raw JSON).
    async fn run(team: &Team, first: Value) -> Live {
        let mut client = Client::connect_to(team.addr, "/api/runs/ws", &team.admin)
            .await
            .expect("WebSocket connects");
        client
            .socket
            .send(Message::text(first.to_string()))
            .await
            .expect("send");
        Live {
            client,
            seen: Seen::default(),
            open: true,
        }
    }

    async fn step(&mut self) {
        match self.client.socket.next().await {
            Some(Ok(Message::Text(text))) => self
                .seen
                .events
                .push(serde_json::from_str(text.as_str()).expect("events are JSON")),
            Some(Ok(Message::Binary(frame))) => self.seen.output.extend_from_slice(&frame[1..]),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => self.open = false,
            Some(Ok(_)) => {}
        }
    }

    /// Reads until `done` holds for what it saw (`limit` at most, and while the socket is
    /// open); panics naming `what` otherwise.
    async fn until(&mut self, limit: Duration, what: &str, done: impl Fn(&Seen) -> bool) {
        let since = Instant::now();
        let _ = tokio::time::timeout(limit, async {
            while self.open && !done(&self.seen) {
                self.step().await;
            }
        })
        .await;
        assert!(
            done(&self.seen),
            "{what}: not within {limit:?} (waited {:?}, socket open: {}); saw {:?}, output {:?}",
            since.elapsed(),
            self.open,
            self.seen.kinds(),
            self.seen.output_str()
        );
    }

    /// Reads until the server closes, `limit` at most: how long after `since` it had closed.
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
            "the run's socket still open {after:?} on (waited {limit:?} at most); saw {:?}",
            self.seen.kinds()
        );
        after
    }

    fn run_id(&self) -> String {
        let accepted = self.seen.event("accepted").expect("accepted");
        accepted["run_id"].as_str().expect("a run id").to_string()
    }
}

/// The message of a record's or an event's error, or "".
fn said(value: &Value, field: &str) -> String {
    value[field].as_str().unwrap_or_default().to_string()
}

/// Starts the ticker on engine two over the WebSocket and reads until it ticked twice.
async fn ticker_on_two(team: &Team) -> Live {
    let first = json!({"type": "run", "argv": [FIXTURE, "sh", "-c", TICKER], "engine": "two"});
    let mut live = Live::run(team, first).await;
    live.until(
        Duration::from_secs(30),
        "two ticks from engine two",
        |seen| seen.output_str().contains("tick\ntick\n"),
    )
    .await;
    let accepted = live.seen.event("accepted").expect("accepted");
    assert_eq!(accepted["engine"], "two", "{accepted}");
    live
}

/// Waits (10 s at most) until every one of `runs` is `running` by its record.
async fn all_running(team: &Team, runs: &[String]) {
    for run_id in runs {
        let path = format!("/api/runs/{run_id}");
        let since = Instant::now();
        let limit = Duration::from_secs(10);
        poll_until(team, &path, since, limit, "state running", |info| {
            info["state"] == "running"
        })
        .await;
    }
}

/// What the runs on engine two said when it was killed.
struct Killed {
    at: Instant,
    /// Each error message with where it was read (the WebSocket, a record).
    errors: Vec<(String, String)>,
}

impl Killed {
    /// Every error names the engine. Checked last in each test, so that one failing wording
    /// does not hide how the rest behaved.
    fn assert_errors_name_engine_two(&self) {
        for (at, message) in &self.errors {
            assert!(
                message.contains("engine two"),
                "the error of {at} names engine two: {message:?}"
            );
        }
    }
}

/// Kills engine two's dockerd and asserts that the WebSocket run `live` on it ends within 2 s
/// with a 125, that the records of `runs` on it (the WebSocket run's among them) say `failed`
/// (125, the WebSocket's message for its run), and that `/api/engines` shows two unreachable
/// within 5 s. Returns the instant of the kill and the messages, which must name the engine.
async fn kill_two_and_see_its_runs_fail(team: &Team, live: &mut Live, runs: &[String]) -> Killed {
    let killed = kill_second_engine();
    let mut errors = Vec::new();
    eprintln!("engine two's dockerd killed (SIGKILL)");

    let ended = live.closed(killed, Duration::from_secs(10)).await;
    eprintln!(
        "the WebSocket run on two ended {ended:?} after the kill: {:?}",
        live.seen.kinds()
    );
    let error = live.seen.event("error").cloned().unwrap_or_else(|| {
        panic!(
            "no error event; {ended:?} after the kill saw {:?}",
            live.seen.kinds()
        )
    });
    assert_eq!(error["code"], 125, "{error}, {ended:?} after the kill");
    let message = said(&error, "message");
    errors.push((
        format!("the WebSocket of run {}", live.run_id()),
        message.clone(),
    ));
    assert!(live.seen.event("exit").is_none(), "{:?}", live.seen.kinds());
    assert!(
        ended <= Duration::from_secs(2),
        "the WebSocket run ended {ended:?} after the kill (2 s at most): {error}"
    );

    let limit = Duration::from_secs(10);
    for run_id in runs {
        let path = format!("/api/runs/{run_id}");
        let (info, after) = poll_until(team, &path, killed, limit, "state failed", |info| {
            info["state"] == "failed"
        })
        .await;
        eprintln!(
            "run {run_id} on two recorded failed {after:?} after the kill: {}",
            info["error"]
        );
        assert_eq!(info["engine"], "two", "{info}");
        assert_eq!(info["exit_code"], 125, "{info}, {after:?} after the kill");
        assert!(!said(&info, "error").is_empty(), "{info}");
        errors.push((format!("the record of run {run_id}"), said(&info, "error")));
    }
    let ws_record = record(team, &live.run_id()).await;
    assert_eq!(said(&ws_record, "error"), message, "{ws_record}");

    let (engines, after) = poll_until(
        team,
        "/api/engines",
        killed,
        limit,
        "two unreachable",
        |list| engine_in(list, "two")["reachable"] == false,
    )
    .await;
    eprintln!(
        "/api/engines showed two unreachable {after:?} after the kill: {}",
        engine_in(&engines, "two")
    );
    assert!(
        after <= Duration::from_secs(5),
        "two shown unreachable {after:?} after the kill (5 s at most): {engines}"
    );
    assert!(
        !said(engine_in(&engines, "two"), "error").is_empty(),
        "{engines}"
    );
    assert_eq!(engine_in(&engines, "one")["reachable"], true, "{engines}");
    Killed { at: killed, errors }
}

#[tokio::test]
async fn an_engine_that_dies_mid_run_ends_its_runs_and_is_avoided() {
    let _turn = TURN.lock().await;
    let left = Leftovers::default();
    let two = SecondEngine::guard().await;
    let team = gateway().await;

    // On two: a WebSocket run that prints all the time, and a detached REST run.
    let mut live = ticker_on_two(&team).await;
    let ws_run = live.run_id();
    left.keep(&ws_run);
    let body = json!({"argv": ["-d", FIXTURE, "sleep", "300"], "engine": "two"});
    let (rest_run, _) = placed(&team, &team.admin, body).await;
    left.keep(&rest_run);
    // On one: a detached run that prints all the time.
    let body = json!({"argv": ["-d", FIXTURE, "sh", "-c", TICKER], "engine": "one"});
    let (on_one, _) = placed(&team, &team.admin, body).await;
    left.keep(&on_one);
    let mut runs = vec![ws_run.clone(), rest_run.clone(), on_one.clone()];
    all_running(&team, &runs).await;

    let on_two = [ws_run, rest_run];
    let kill = kill_two_and_see_its_runs_fail(&team, &mut live, &on_two).await;
    let killed = kill.at;

    // The run on one goes on: running, by its record and by engine one, and still printing.
    let one_path = format!("/api/runs/{on_one}");
    let info = record(&team, &on_one).await;
    assert_eq!(
        info["state"],
        "running",
        "{info}, {:?} after the kill",
        killed.elapsed()
    );
    let bytes = info["output_bytes"].as_u64().unwrap_or_default();
    let since = Instant::now();
    let (info, after) = poll_until(
        &team,
        &one_path,
        since,
        Duration::from_secs(5),
        "more output from the run on one",
        |info| info["output_bytes"].as_u64() > Some(bytes),
    )
    .await;
    eprintln!(
        "the run on one printed on ({} bytes, {after:?} after {bytes}), {:?} after the kill",
        info["output_bytes"],
        killed.elapsed()
    );
    assert_eq!(info["state"], "running", "{info}");
    let container = &containers_of_run_on(DOCKER_HOST, &on_one)[0];
    assert!(running_on(DOCKER_HOST, container), "{info}");

    // A placed run lands on one: two, with no Berth run in progress left, would be picked if
    // it were not skipped for not answering.
    let (placed_run, engine) = placed(&team, &team.admin, sleeper(json!({}))).await;
    left.keep(&placed_run);
    assert_eq!(engine, "one", "{:?} after the kill", killed.elapsed());
    runs.push(placed_run);

    // A run that names two fails fast.
    let body = json!({"argv": [FIXTURE, "true"], "engine": "two"});
    let since = Instant::now();
    let (code, refused) =
        tokio::time::timeout(Duration::from_secs(30), team.create(&team.admin, body))
            .await
            .expect("an answer within 30 s");
    let took = since.elapsed();
    eprintln!("a run naming two: {code} {refused} in {took:?}");
    assert_eq!(code, 502, "{refused} in {took:?}");
    assert!(
        error_message(&refused).contains("two"),
        "names the engine: {refused} in {took:?}"
    );
    assert!(
        took <= Duration::from_secs(3),
        "a run naming two answered {code} in {took:?} (3 s at most): {refused}"
    );

    // Two back, then every run and container of the test removed from both engines.
    let started = two.restart().await;
    eprintln!("engine two answered {:?} after its start", started.took());
    clean_up(&team, &runs).await;
    kill.assert_errors_name_engine_two();
}

#[tokio::test]
async fn an_engine_that_returns_has_its_runs_looked_up_again() {
    let _turn = TURN.lock().await;
    let left = Leftovers::default();
    let two = SecondEngine::guard().await;
    let team = gateway().await;

    // On two: the ticker over the WebSocket; detached, a sleep (PID 1, it ignores the
    // daemon's SIGTERM: killed 10 s later), a shell that exits 143 on SIGTERM, and one that
    // exits 7 by itself while the engine is down.
    let mut live = ticker_on_two(&team).await;
    let mut runs = vec![live.run_id()];
    left.keep(&runs[0]);
    let detached = [
        "sleep 300",
        "trap 'exit 143' TERM; while :; do sleep 0.2; done",
        "sleep 2; exit 7",
    ];
    let mut quick_started = Instant::now();
    for script in detached {
        quick_started = Instant::now();
        let body = json!({"argv": ["-d", FIXTURE, "sh", "-c", script], "engine": "two"});
        let (run_id, _) = placed(&team, &team.admin, body).await;
        left.keep(&run_id);
        runs.push(run_id);
    }
    all_running(&team, &runs).await;
    let since_quick = quick_started.elapsed();
    assert!(
        since_quick < Duration::from_secs(2),
        "the run that exits 7 ran {since_quick:?} before the kill: it must still run at the kill"
    );

    let kill = kill_two_and_see_its_runs_fail(&team, &mut live, &runs).await;
    let killed = kill.at;

    // Nothing can be polled on an engine that is down: the quick one's container exits on its
    // own schedule, 2 s after its start; engine two comes back after that.
    tokio::time::sleep_until((quick_started + Duration::from_secs(3)).into()).await;
    let started = two.restart().await;
    eprintln!(
        "engine two answered {:?} after its start ({:?} after the kill)",
        started.took(),
        killed.elapsed()
    );
    let (engines, after) = poll_until(
        &team,
        "/api/engines",
        started.answered,
        Duration::from_secs(15),
        "two reachable again",
        |list| engine_in(list, "two")["reachable"] == true,
    )
    .await;
    eprintln!("/api/engines showed two reachable {after:?} after it answered again");
    assert!(
        after <= Duration::from_secs(5),
        "two shown reachable {after:?} after it answered again (5 s at most): {engines}"
    );

    // Each run on two gets the exit status its container really had.
    for run_id in &runs {
        let path = format!("/api/runs/{run_id}");
        let (info, after) = poll_until(
            &team,
            &path,
            started.answered,
            Duration::from_secs(20),
            "state exited once two answers again",
            |info| info["state"] == "exited",
        )
        .await;
        let container = said(&info, "container_id");
        let (ok, out, err) = docker_on(
            SECOND_DOCKER_HOST,
            &[
                "inspect",
                "--format",
                "{{.State.Status}} {{.State.ExitCode}}",
                &container,
            ],
        );
        assert!(ok, "docker inspect {container}: {err}");
        let (status, code) = out.trim().split_once(' ').unwrap_or_default();
        eprintln!(
            "run {run_id} recorded exited {} {after:?} after two answered again; docker inspect: {status} {code}",
            info["exit_code"]
        );
        assert_eq!(status, "exited", "docker inspect {container}: {out}");
        let code: i64 = code.parse().expect("an exit code");
        assert_eq!(
            info["exit_code"], code,
            "the record against docker inspect ({status} {code}), {after:?} after two answered: {info}"
        );
    }

    clean_up(&team, &runs).await;
    kill.assert_errors_name_engine_two();
}

#[tokio::test]
async fn a_gateway_restart_keeps_every_runs_engine() {
    let _turn = TURN.lock().await;
    let left = Leftovers::default();
    let _two = SecondEngine::guard().await;
    let mut config = Config::local(DOCKER_HOST);
    let file = config.data_dir.with_extension("engines.toml");
    std::fs::write(&file, engines_toml([None, None])).unwrap();
    config.engines = Some(file);
    config.admin_token = Some(team::ADMIN.into());
    let both_reachable = |list: &Value| {
        ENGINES
            .iter()
            .all(|(name, ..)| engine_in(list, name)["reachable"] == true)
    };

    let first = StoppableGateway::start(config.clone());
    let team = Team::admin_only(first.addr, config.data_dir.clone());
    let limit = Duration::from_secs(10);
    let since = Instant::now();
    poll_until(
        &team,
        "/api/engines",
        since,
        limit,
        "both reachable",
        both_reachable,
    )
    .await;
    let mut runs = Vec::new();
    for (name, ..) in ENGINES {
        let (run_id, engine) = placed(&team, &team.admin, sleeper(json!({"engine": name}))).await;
        left.keep(&run_id);
        assert_eq!(engine, name);
        runs.push(run_id);
    }
    all_running(&team, &runs).await;

    let first_url = first.url("/api/health");
    let took = first.stop(Duration::from_secs(30)).await;
    eprintln!("the first gateway stopped in {took:?}");
    let gone = http_as("").get(&first_url).send().await;
    assert!(
        gone.is_err(),
        "the first gateway still answers after its stop: {gone:?}"
    );
    let containers: Vec<String> = ENGINES
        .iter()
        .zip(&runs)
        .map(|((name, host, _), run_id)| {
            let on_engine = containers_of_run_on(host, run_id);
            assert_eq!(on_engine.len(), 1, "run {run_id} on {name}: {on_engine:?}");
            assert!(
                running_on(host, &on_engine[0]),
                "run {run_id}'s container on {name} runs on without the gateway"
            );
            on_engine[0].clone()
        })
        .collect();

    let since = Instant::now();
    let second = StoppableGateway::start(config.clone());
    let team = Team::admin_only(second.addr, config.data_dir.clone());
    let (_, after) = poll_until(
        &team,
        "/api/engines",
        since,
        limit,
        "both reachable",
        both_reachable,
    )
    .await;
    eprintln!("the second gateway up, both engines reachable, {after:?} after its start");
    for ((name, ..), run_id) in ENGINES.iter().zip(&runs) {
        let info = record(&team, run_id).await;
        assert_eq!(info["engine"], *name, "{info}");
        assert_eq!(info["state"], "running", "{info}");
    }

    // Each is followed again on its engine: killed through the new gateway, the container on
    // that engine stops and the record has its status; the other engine's goes on.
    let order = [1, 0];
    for (i, &at) in order.iter().enumerate() {
        let (name, host, _) = ENGINES[at];
        let run_id = &runs[at];
        let since = Instant::now();
        let path = format!("/api/runs/{run_id}/kill?signal=KILL");
        let code = status_of(http_as(&team.admin).post(team.url(&path))).await;
        assert_eq!(code, 204, "killing run {run_id} on {name}");
        let path = format!("/api/runs/{run_id}");
        let (info, after) = poll_until(
            &team,
            &path,
            since,
            Duration::from_secs(30),
            "an exit code",
            |info| !info["exit_code"].is_null(),
        )
        .await;
        eprintln!(
            "run {run_id} on {name} recorded {} {after:?} after the kill",
            info["exit_code"]
        );
        assert_eq!(info["exit_code"], 137, "{info}, {after:?} after the kill");
        assert_eq!(info["state"], "exited", "{info}");
        assert_eq!(info["engine"], name, "{info}");
        let (_, out, _) = docker_on(
            host,
            &[
                "inspect",
                "--format",
                "{{.State.ExitCode}}",
                &containers[at],
            ],
        );
        assert!(
            !running_on(host, &containers[at]),
            "run {run_id}'s container on {name}"
        );
        assert_eq!(out.trim(), "137", "docker inspect on {name}");
        for &other in &order[i + 1..] {
            let (other_name, other_host, _) = ENGINES[other];
            assert!(
                running_on(other_host, &containers[other]),
                "run {}'s container on {other_name} still runs",
                runs[other]
            );
        }
    }

    clean_up(&team, &runs).await;
    second.stop(Duration::from_secs(30)).await;
}
