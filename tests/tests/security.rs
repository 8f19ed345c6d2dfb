//! The adversarial review's findings, each reproduced through the API against the real
//! engine, under a realistic, permissive policy (docs/policy.example.toml's shape: fixture
//! images, a read-only and a writable host path, named volumes, resource maxima and limits)
//! and with admin *users* inside the operators' teams.

use std::path::PathBuf;
use std::time::Duration;

use berth_shared::wire::{ClientMessage, RunRequest, ServerEvent};
use berth_tests::team::Team;
use berth_tests::{
    Client, FIXTURE, assert_rule, docker, error_message, http_as, run_id_of, status_of, unique,
};
use serde_json::{Value, json};

/// Host directories of the policy: one read-only, one writable (the same for every test).
fn host_dirs() -> (PathBuf, PathBuf) {
    let ro = std::env::temp_dir().join("berth-security-ro");
    let rw = std::env::temp_dir().join("berth-security-rw");
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::create_dir_all(&rw).unwrap();
    (ro, rw)
}

fn policy(max_concurrent: u32, max_seconds: u32, per_minute: u32) -> String {
    let (ro, rw) = host_dirs();
    format!(
        r#"[operator]
allowed_images = ["berth-fixture:*", "127.0.0.1:5000/berth/*"]
allowed_networks = ["default", "bridge", "none"]
allow_named_volumes = true
allowed_host_paths = ["{}", "{}:rw"]
default_memory = "64m"
max_memory = "256m"
default_cpus = 0.5
max_cpus = 1
default_pids = 64
max_pids = 128
max_concurrent_runs = {max_concurrent}
max_run_seconds = {max_seconds}
runs_per_minute = {per_minute}
"#,
        ro.display(),
        rw.display()
    )
}

/// The review's policy: 4 runs at once, 60 s each.
fn permissive() -> String {
    policy(4, 60, 100)
}

/// `Team` plus rex (an admin user in team red) and carol (an operator in team red).
struct Crew {
    team: Team,
    rex: String,
    carol: String,
}

impl Crew {
    async fn new(policy: &str) -> Crew {
        let team = Team::new(policy).await;
        let rex = team.user("rex", "admin", "red").await;
        let carol = team.user("carol", "operator", "red").await;
        Crew { team, rex, carol }
    }

    async fn run(&self, token: &str, argv: &[&str]) -> (u16, Value) {
        self.team.create(token, json!({"argv": argv})).await
    }

    async fn post(&self, token: &str, path: &str) -> u16 {
        status_of(http_as(token).post(self.team.url(path))).await
    }
}

/// Finding 1: an operator may not use a teammate admin's container — not its volumes, not
/// its namespaces, not its links, not the container or run actions — while a teammate
/// operator's checked container and the operator's own still count as theirs.
#[tokio::test]
async fn a_teammate_admins_container_is_nobody_elses() {
    let crew = Crew::new(&permissive()).await;
    let team = &crew.team;
    let box_name = unique("box");
    let (code, created) = crew
        .run(
            &crew.rex,
            &[
                "-d", "--name", &box_name, "-v", "/:/host", FIXTURE, "sleep", "3000",
            ],
        )
        .await;
    assert_eq!(code, 201, "{created}");
    let rex_run = run_id_of(&created);

    let marker = unique("pwned");
    let shadow = format!("cat /host/etc/shadow; echo x > /host/tmp/{marker}");
    let volumes_from = [
        "--rm",
        "--volumes-from",
        &box_name,
        FIXTURE,
        "sh",
        "-c",
        &shadow,
    ];
    let (code, body) = crew.run(&team.alice, &volumes_from).await;
    assert_rule(code, &body, "volumes-from");
    let pid = format!("container:{box_name}");
    let link = format!("{box_name}:b");
    let attempts = [
        (
            json!({"argv": ["--pid", &pid, FIXTURE, "true"]}),
            "container-namespace",
        ),
        (
            json!({"argv": ["--network", &pid, FIXTURE, "true"]}),
            "container-namespace",
        ),
        (
            json!({"argv": ["--ipc", &pid, FIXTURE, "true"]}),
            "container-namespace",
        ),
        (json!({"argv": ["--link", &link, FIXTURE, "true"]}), "links"),
        (
            json!({"spec": {"image": FIXTURE, "volumes_from": [&box_name]}}),
            "volumes-from",
        ),
        (
            json!({"spec": {"image": FIXTURE, "pid": &pid}}),
            "container-namespace",
        ),
        (
            json!({"spec": {"image": FIXTURE, "network": [&pid]}}),
            "container-namespace",
        ),
        (
            json!({"spec": {"image": FIXTURE, "link": [&link]}}),
            "links",
        ),
    ];
    for (request, rule) in attempts {
        let (code, body) = team.create(&team.alice, request.clone()).await;
        assert_rule(code, &body, rule);
    }
    assert!(!std::env::temp_dir().join(&marker).exists());

    // She sees the container (her team's) but may not act on it or on rex's run.
    let container = format!("/api/containers/{box_name}");
    let seen = status_of(http_as(&team.alice).get(team.url(&container))).await;
    assert_eq!(seen, 200);
    for action in ["kill", "stop", "attach"] {
        let path = format!("{container}/{action}");
        assert_eq!(crew.post(&team.alice, &path).await, 403, "{action}");
    }
    let removed = status_of(http_as(&team.alice).delete(team.url(&container))).await;
    assert_eq!(removed, 403);
    for action in ["kill", "stop"] {
        let path = format!("/api/runs/{rex_run}/{action}");
        assert_eq!(crew.post(&team.alice, &path).await, 403, "run {action}");
    }
    assert_eq!(team.delete_run(&team.alice, &rex_run).await, 403);
    // Watching is allowed; signals and input are not.
    let mut watch = Client::watch_as(team.addr, &team.alice, &rex_run).await;
    watch.until(|t| t.kinds().contains(&"started")).await;
    let kill = ClientMessage::Signal {
        signal: "KILL".into(),
    };
    watch.send(&kill).await;
    watch.until(|t| t.kinds().contains(&"warning")).await;
    let (running, ..) = docker(&["inspect", "--format", "{{.State.Running}}", &box_name]);
    assert!(running);

    // A teammate operator's container, checked under these rules, counts as hers; so do her own.
    let carols = unique("carols");
    let (code, body) = crew
        .run(
            &crew.carol,
            &["-d", "--name", &carols, FIXTURE, "sleep", "60"],
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = team
        .create_only(&team.alice, &["--volumes-from", &carols, FIXTURE, "true"])
        .await;
    assert_eq!(code, 201, "{body}");
    let own = format!("container:{}", body["container_id"].as_str().unwrap());
    let (code, body) = team
        .create_only(&team.alice, &["--pid", &own, FIXTURE, "true"])
        .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(
        crew.post(&crew.carol, &format!("/api/containers/{carols}/kill"))
            .await,
        204
    );

    // The denials are in the audit log with their rules.
    let audit = team.get_json(&team.admin, "/api/audit?limit=500").await;
    let denied: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "alice" && e["outcome"] == "denied")
        .filter_map(|e| e["detail"].as_str())
        .collect();
    for rule in ["`volumes-from`", "`container-namespace`", "`links`"] {
        assert!(
            denied.iter().any(|d| d.contains(rule)),
            "{rule} in {denied:?}"
        );
    }
    team.remove_all_runs().await;
}

/// Finding 2: a negative CPU quota is "unlimited" and is refused under `max_cpus`, also
/// beside a period; a quota within the maximum is still allowed as asked.
#[tokio::test]
async fn negative_cpu_quotas_escape_nothing() {
    let team = Team::new(&permissive()).await;
    for request in [
        json!({"argv": ["--cpu-quota", "-1", FIXTURE, "true"], "start": false}),
        json!({"argv": ["--cpu-period", "50000", "--cpu-quota", "-1", FIXTURE, "true"], "start": false}),
        json!({"spec": {"image": FIXTURE, "cpu_quota": "-1"}, "start": false}),
    ] {
        let (code, body) = team.create(&team.alice, request).await;
        assert_rule(code, &body, "cpus");
    }
    let (code, body) = team
        .create_only(&team.alice, &["--cpu-quota", "50000", FIXTURE, "true"])
        .await;
    assert_eq!(code, 201, "{body}");
    let container = body["container_id"].as_str().unwrap();
    let format = "{{.HostConfig.CpuQuota}} {{.HostConfig.NanoCpus}}";
    let (_, out, _) = docker(&["inspect", "--format", format, container]);
    assert_eq!(out.trim(), "50000 0");
    team.remove_all_runs().await;
}

/// An `-it` run over the WebSocket that the client leaves with the detach keys: its
/// container goes on. Returns the container's id.
async fn detached_run(team: &Team, token: &str) -> String {
    let mut client = Client::connect_to(team.addr, "/api/runs/ws", token)
        .await
        .unwrap();
    let argv = ["-it", FIXTURE, "sh", "-c", "while :; do sleep 1; done"];
    let request = RunRequest {
        argv: Some(argv.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    client.send(&ClientMessage::Run(Box::new(request))).await;
    client.until(|t| t.kinds().contains(&"started")).await;
    client.send_stdin(b"\x10\x11").await;
    let transcript = client.finish().await;
    assert!(
        transcript.kinds().contains(&"detached"),
        "{:?}",
        transcript.kinds()
    );
    transcript
        .events
        .iter()
        .find_map(|e| match e {
            ServerEvent::Created { container_id, .. } => Some(container_id.clone()),
            _ => None,
        })
        .unwrap()
}

fn exists(container: &str) -> bool {
    docker(&["inspect", container]).0
}

/// Finding 3: a detached run counts while its container runs (attaching to it too), and the
/// deadline stops and removes its container, not just its journal.
#[tokio::test]
async fn detached_runs_count_and_meet_their_deadline() {
    let team = Team::new(&policy(2, 4, 100)).await;
    let first = detached_run(&team, &team.alice).await;
    let second = detached_run(&team, &team.alice).await;
    assert!(exists(&first) && exists(&second));
    let (code, body) = team
        .create(&team.alice, json!({"argv": [FIXTURE, "sleep", "30"]}))
        .await;
    assert_eq!(code, 429, "{body}");
    let attach = format!("/api/containers/{first}/attach");
    let attached = status_of(http_as(&team.alice).post(team.url(&attach))).await;
    assert_eq!(attached, 429, "an attach is a run too");

    // Past the 4 s deadline (and the 10 s stop grace the shell ignores), both are gone.
    for _ in 0..60 {
        if !exists(&first) && !exists(&second) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        !exists(&first) && !exists(&second),
        "removed at the deadline"
    );
    let (code, body) = team.create_only(&team.alice, &[FIXTURE, "true"]).await;
    assert_eq!(code, 201, "{body}");
    team.remove_all_runs().await;
}

/// Finding 3: attaching counts against runs per minute.
#[tokio::test]
async fn attaching_counts_against_runs_per_minute() {
    let team = Team::new(&policy(4, 60, 2)).await;
    let container = detached_run(&team, &team.alice).await;
    let attach = team.url(&format!("/api/containers/{container}/attach"));
    assert_eq!(status_of(http_as(&team.alice).post(&attach)).await, 201);
    let (code, body) = berth_tests::status_and_json(http_as(&team.alice).post(&attach)).await;
    assert_eq!(code, 429, "{body}");
    assert!(error_message(&body).contains("runs in a minute"), "{body}");
    docker(&["rm", "-f", &container]);
    team.remove_all_runs().await;
}

/// Finding 5 and issue 12: containers Berth did not create are not there for non-admins (404
/// on every route, absent from the list) unless their role's table says
/// `show_foreign_containers`; then read-only, with no environment, command, labels, mounts or
/// logs. Viewers (no table) never see them; admins see everything.
#[tokio::test]
async fn other_tools_containers_keep_their_secrets() {
    let name = unique("foreign");
    let (ok, _, err) = docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "-e",
        "SECRET=hunter2",
        "-l",
        "password=hunter2",
        "-v",
        "/tmp:/t",
        FIXTURE,
        "sh",
        "-c",
        "echo hunter2; sleep 60",
    ]);
    assert!(ok, "{err}");
    let path = format!("/api/containers/{name}");
    let listed_by = |listing: &Value| {
        listing
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["Names"][0] == format!("/{name}"))
            .cloned()
    };

    let hidden = Team::new(&permissive()).await;
    for token in [&hidden.alice, &hidden.vic, &hidden.bob] {
        for (method, route) in [
            ("GET", path.clone()),
            ("GET", format!("{path}/logs")),
            ("POST", format!("{path}/attach")),
            ("POST", format!("{path}/stop")),
            ("POST", format!("{path}/kill")),
            ("DELETE", format!("{path}?force=true")),
        ] {
            let req = http_as(token).request(method.parse().unwrap(), hidden.url(&route));
            assert_eq!(status_of(req).await, 404, "{method} {route}");
        }
        let listed = hidden.get_json(token, "/api/containers").await;
        assert!(listed_by(&listed).is_none(), "{listed}");
    }

    let shown = Team::new(&format!("{}show_foreign_containers = true\n", permissive())).await;
    for token in [&shown.alice, &shown.bob] {
        let inspect = shown.get_json(token, &path).await;
        assert!(inspect["Id"].is_string(), "{inspect}");
        assert!(!inspect.to_string().contains("hunter2"), "{inspect}");
        assert!(
            inspect["Config"]["Cmd"].is_null() && inspect["Args"].is_null(),
            "{inspect}"
        );
        assert!(inspect["Mounts"].is_null() && inspect["HostConfig"]["Binds"].is_null());
        let logs = status_of(http_as(token).get(shown.url(&format!("{path}/logs")))).await;
        assert_eq!(logs, 403);
        let kill = status_of(http_as(token).post(shown.url(&format!("{path}/kill")))).await;
        assert_eq!(kill, 403, "read-only");
        let listed = shown.get_json(token, "/api/containers").await;
        let entry = listed_by(&listed).expect("listed");
        assert!(!entry.to_string().contains("hunter2"), "{entry}");
        assert!(
            entry["Mounts"].is_null() && entry["Command"].is_null(),
            "{entry}"
        );
    }
    let as_viewer = status_of(http_as(&shown.vic).get(shown.url(&path))).await;
    assert_eq!(as_viewer, 404, "viewers have no table to show them");
    let inspect = shown.get_json(&shown.root, &path).await;
    assert!(inspect.to_string().contains("SECRET=hunter2"));
    docker(&["rm", "-f", &name]);
}

fn volume_labels(name: &str) -> Value {
    let (_, out, _) = docker(&["volume", "inspect", "--format", "{{json .Labels}}", name]);
    serde_json::from_str(out.trim()).unwrap_or(Value::Null)
}

/// Finding 6: named volumes Berth creates are their owner's and team's; others' volumes,
/// admins' and other tools' are refused with `named-volume`.
#[tokio::test]
async fn named_volumes_have_owners() {
    let crew = Crew::new(&permissive()).await;
    let team = &crew.team;
    let blue = unique("blue-data");
    let bind = format!("{blue}:/x");
    let (code, body) = crew
        .run(
            &team.bob,
            &["-v", &bind, FIXTURE, "sh", "-c", "echo secret > /x/f"],
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let labels = volume_labels(&blue);
    assert_eq!(labels["io.berth.owner"], "bob", "{labels}");
    assert_eq!(labels["io.berth.team"], "blue", "{labels}");

    let outside = unique("outside");
    assert!(docker(&["volume", "create", &outside]).0);
    let admins = unique("admins");
    let (code, body) = crew
        .run(&crew.rex, &["-v", &format!("{admins}:/x"), FIXTURE, "true"])
        .await;
    assert_eq!(code, 201, "{body}");
    for name in [&blue, &outside, &admins] {
        let ro = format!("{name}:/x:ro");
        let (code, body) = team
            .create_only(&team.alice, &["-v", &ro, FIXTURE, "cat", "/x/f"])
            .await;
        assert_rule(code, &body, "named-volume");
        let mount = format!("type=volume,src={name},dst=/x,readonly");
        let (code, body) = team
            .create_only(&team.alice, &["--mount", &mount, FIXTURE, "true"])
            .await;
        assert_rule(code, &body, "named-volume");
        let spec = json!({"spec": {"image": FIXTURE, "volume": [&ro]}, "start": false});
        let (code, body) = team.create(&team.alice, spec).await;
        assert_rule(code, &body, "named-volume");
    }

    // Alice's new volume is hers, then her team's.
    let reds = unique("red-data");
    let bind = format!("{reds}:/x");
    let (code, body) = team
        .create_only(&team.alice, &["-v", &bind, FIXTURE, "true"])
        .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(volume_labels(&reds)["io.berth.owner"], "alice");
    let (code, body) = team
        .create_only(&team.alice, &["-v", &bind, FIXTURE, "true"])
        .await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = team
        .create_only(&crew.carol, &["-v", &bind, FIXTURE, "true"])
        .await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = team
        .create_only(&team.bob, &["-v", &bind, FIXTURE, "true"])
        .await;
    assert_rule(code, &body, "named-volume");
    team.remove_all_runs().await;
    docker(&["volume", "rm", &blue, &outside, &admins, &reds]);
}

/// Finding 7: the device throttles answer the same for existing and missing host paths.
#[tokio::test]
async fn device_throttles_are_no_host_path_oracle() {
    let team = Team::new(&permissive()).await;
    for flag in [
        "--device-read-bps",
        "--device-write-bps",
        "--device-read-iops",
        "--device-write-iops",
    ] {
        let answers = async |path: &str| {
            let value = format!("{path}:10");
            let (code, body) = team
                .create_only(&team.alice, &[flag, &value, FIXTURE, "true"])
                .await;
            assert_rule(code, &body, "devices");
            error_message(&body).replace(path, "PATH")
        };
        let existing = answers("/dev/../etc/shadow").await;
        let missing = answers("/dev/../etc/no-such-file").await;
        assert_eq!(existing, missing);
    }
    let spec = json!({"spec": {"image": FIXTURE, "device_read_bps": ["/dev/../etc/shadow:1mb"]}, "start": false});
    let (code, body) = team.create(&team.alice, spec).await;
    assert_rule(code, &body, "devices");
}

/// Finding 8: a new account with a deleted user's name inherits none of their runs or
/// containers.
#[tokio::test]
async fn a_reused_username_inherits_nothing() {
    let team = Team::new(&permissive()).await;
    let old = team.user("reuse", "operator", "red").await;
    let (code, body) = team.create_only(&old, &[FIXTURE, "true"]).await;
    assert_eq!(code, 201, "{body}");
    let run = run_id_of(&body);
    let container = body["container_id"].as_str().unwrap().to_string();
    let deleted = status_of(http_as(&team.admin).delete(team.url("/api/users/reuse"))).await;
    assert_eq!(deleted, 204);
    let new = team.user("reuse", "operator", "blue").await;

    let runs = team.get_json(&new, "/api/runs").await;
    assert!(!runs.to_string().contains(&run), "{runs}");
    let seen = status_of(http_as(&new).get(team.url(&format!("/api/runs/{run}")))).await;
    assert_eq!(seen, 404);
    assert_eq!(team.delete_run(&new, &run).await, 404);
    let kill = format!("/api/containers/{container}/kill");
    assert_eq!(status_of(http_as(&new).post(team.url(&kill))).await, 404);
    let (code, body) = team
        .create_only(&new, &["--volumes-from", &container, FIXTURE, "true"])
        .await;
    assert_rule(code, &body, "volumes-from");
    team.remove_all_runs().await;
}

/// Finding 9: a name conflict does not tell a non-admin the id of a container they may not
/// see.
#[tokio::test]
async fn name_conflicts_keep_the_other_containers_id() {
    let team = Team::new(&permissive()).await;
    let name = unique("taken");
    let (code, body) = team
        .create_only(&team.root, &["--name", &name, FIXTURE, "true"])
        .await;
    assert_eq!(code, 201, "{body}");
    let hidden = body["container_id"].as_str().unwrap().to_string();
    let (code, body) = team
        .create_only(&team.alice, &["--name", &name, FIXTURE, "true"])
        .await;
    assert_eq!(code, 409, "{body}");
    let said = error_message(&body);
    assert!(said.contains("already in use"), "{said}");
    assert!(!said.contains(&hidden[..12]), "{said}");
    // The run's record, which her team can read, says no more.
    let runs = team.get_json(&team.alice, "/api/runs").await;
    assert!(!runs.to_string().contains(&hidden[..12]), "{runs}");
    // The admin who may see everything still gets the daemon's own words.
    let (code, body) = team
        .create_only(&team.root, &["--name", &name, FIXTURE, "true"])
        .await;
    assert_eq!(code, 409);
    assert!(error_message(&body).contains(&hidden[..12]), "{body}");
    team.remove_all_runs().await;
}

/// An attach is as checked as the container it follows: a teammate may signal an attach to a
/// container checked under these rules, not one to a container no rules checked.
#[tokio::test]
async fn an_attach_is_as_checked_as_the_container_it_follows() {
    let crew = Crew::new(&permissive()).await;
    let team = &crew.team;
    // Alice's own checked container, and one of hers that no rules checked (as a Berth
    // before policy digests left them), made here with her id in the labels.
    let (code, checked) = crew.run(&team.alice, &["-d", FIXTURE, "sleep", "60"]).await;
    assert_eq!(code, 201, "{checked}");
    let record = team
        .get_json(&team.alice, &format!("/api/runs/{}", run_id_of(&checked)))
        .await;
    let alice_id = record["owner_id"].as_str().unwrap();
    let unchecked = unique("unchecked");
    let (ok, _, err) = docker(&[
        "run",
        "-d",
        "--name",
        &unchecked,
        "--label",
        "io.berth.run-id=0000000000000000",
        "--label",
        &format!("io.berth.owner-id={alice_id}"),
        "--label",
        "io.berth.owner=alice",
        "--label",
        "io.berth.team=red",
        FIXTURE,
        "sleep",
        "60",
    ]);
    assert!(ok, "{err}");
    let attach = async |container: &str| {
        let path = team.url(&format!("/api/containers/{container}/attach"));
        let (code, body) = berth_tests::status_and_json(http_as(&team.alice).post(path)).await;
        // 200: the container's own run, still in progress, is the one to follow.
        assert!([200, 201].contains(&code), "{body}");
        body["run_id"].as_str().unwrap().to_string()
    };
    let to_checked = attach(checked["container_id"].as_str().unwrap()).await;
    let to_unchecked = attach(&unchecked).await;
    let signal = async |run: &str| {
        crew.post(&crew.carol, &format!("/api/runs/{run}/kill?signal=CONT"))
            .await
    };
    assert_eq!(signal(&to_unchecked).await, 403);
    assert_eq!(signal(&to_checked).await, 204);
    docker(&["rm", "-f", &unchecked]);
    team.remove_all_runs().await;
}
