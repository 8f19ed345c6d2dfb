//! The run policy through the API: each known bypass as argv and as a structured spec is
//! denied for an operator, naming the rule; an admin may; limits and the run-time limit hold.

use std::time::Duration;

use berth_tests::team::Team;
use berth_tests::{FIXTURE, assert_rule, docker, http_as, poll_exit, run_id_of};
use serde_json::{Value, json};

const POLICY: &str = include_str!("../fixtures/policy.toml");

/// (rule, argv before the image and command, the same as spec fields)
#[rustfmt::skip]
fn bypasses() -> Vec<(&'static str, Vec<&'static str>, Value)> {
    let volume_opts = "type=volume,dst=/x,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=/";
    vec![
        ("privileged",      vec!["--privileged"],                            json!({"privileged": true})),
        ("host-bind",       vec!["-v", "/:/host"],                           json!({"volume": ["/:/host"]})),
        ("host-bind",       vec!["--mount", "type=bind,src=/,dst=/host"],    json!({"mount": ["type=bind,src=/,dst=/host"]})),
        ("volume-options",  vec!["--mount", volume_opts],                    json!({"mount": [volume_opts]})),
        ("capabilities",    vec!["--cap-add", "SYS_ADMIN"],                  json!({"cap_add": ["SYS_ADMIN"]})),
        ("capabilities",    vec!["--cap-add=all"],                           json!({"cap_add": ["all"]})),
        ("capabilities",    vec!["--cap-add", "cap_sys_admin"],              json!({"cap_add": ["cap_sys_admin"]})),
        ("host-namespace",  vec!["--pid", "host"],                           json!({"pid": "host"})),
        ("host-namespace",  vec!["--ipc", "host"],                           json!({"ipc": "host"})),
        ("host-namespace",  vec!["--uts", "host"],                           json!({"uts": "host"})),
        ("host-namespace",  vec!["--userns", "host"],                        json!({"userns": "host"})),
        ("host-namespace",  vec!["--network", "host"],                       json!({"network": ["host"]})),
        ("host-namespace",  vec!["--cgroupns", "host"],                      json!({"cgroupns": "host"})),
        ("devices",         vec!["--device", "/dev/sda"],                    json!({"device": ["/dev/sda"]})),
        ("device-requests", vec!["--gpus", "all"],                           json!({"gpus": ["all"]})),
        ("security-opt",    vec!["--security-opt", "seccomp=unconfined"],    json!({"security_opt": ["seccomp=unconfined"]})),
        ("security-opt",    vec!["--security-opt", "apparmor=unconfined"],   json!({"security_opt": ["apparmor=unconfined"]})),
        ("security-opt",    vec!["--security-opt", "systempaths=unconfined"], json!({"security_opt": ["systempaths=unconfined"]})),
        ("security-opt",    vec!["--security-opt", "label=disable"],         json!({"security_opt": ["label=disable"]})),
        ("sysctls",         vec!["--sysctl", "net.ipv4.ip_forward=1"],       json!({"sysctl": ["net.ipv4.ip_forward=1"]})),
        ("memory",          vec!["-m", "2g"],                                json!({"memory": "2g"})),
        ("cpus",            vec!["--cpus", "1.5"],                           json!({"cpus": "1.5"})),
        ("pids",            vec!["--pids-limit", "-1"],                      json!({"pids_limit": "-1"})),
        ("runtime",         vec!["--runtime", "foo"],                        json!({"runtime": "foo"})),
        ("cgroup-parent",   vec!["--cgroup-parent", "/"],                    json!({"cgroup_parent": "/"})),
        ("restart",         vec!["--restart", "always"],                     json!({"restart": "always"})),
        ("oom",             vec!["--oom-score-adj", "-1000"],                json!({"oom_score_adj": "-1000"})),
        ("ulimits",         vec!["--ulimit", "nofile=1048576"],              json!({"ulimit": ["nofile=1048576"]})),
        ("host-bind",       vec!["-v", "/etc:/etc:ro"],                      json!({"volume": ["/etc:/etc:ro"]})),
    ]
}

fn rule_of(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Asserts that alice may not create `request` (a run's JSON) and is told the `rule` that
/// forbids it. Each bypass is tried as argv and as a spec, so this is said once for both.
async fn assert_denied(team: &Team, request: Value, rule: &str) {
    let (code, body) = team.create(&team.alice, request.clone()).await;
    assert_eq!(code, 403, "{request}: {body}");
    assert!(
        rule_of(&body).contains(&format!("`{rule}`")),
        "{request} names rule {rule}: {body}"
    );
}

/// A bypass's flags, then the image and its command.
fn argv_with(flags: &[&'static str]) -> Vec<&'static str> {
    [flags, &[FIXTURE, "true"]].concat()
}

#[tokio::test]
async fn each_bypass_is_denied_as_argv_and_as_spec_and_allowed_for_an_admin() {
    let team = Team::new(POLICY).await;
    for (rule, flags, mut spec) in bypasses() {
        let argv = argv_with(&flags);
        assert_denied(&team, json!({"argv": argv, "start": false}), rule).await;

        spec["image"] = json!(FIXTURE);
        spec["command"] = json!(["true"]);
        assert_denied(&team, json!({"spec": spec, "start": false}), rule).await;
    }
    // The admin may create every one of them (created, never started).
    for (_, flags, _) in bypasses()
        .into_iter()
        .filter(|(r, ..)| !["runtime", "device-requests", "devices"].contains(r))
    {
        let (code, body) = team.create_only(&team.root, &argv_with(&flags)).await;
        assert_eq!(code, 201, "admin {flags:?}: {body}");
        team.delete_run(&team.root, &run_id_of(&body)).await;
    }
    // Denials are audited with the rule.
    let audit = team.get_json(&team.admin, "/api/audit?limit=500").await;
    let denied = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "denied" && e["actor"] == "alice")
        .count();
    assert_eq!(denied, bypasses().len() * 2);
}

#[tokio::test]
async fn images_defaults_and_foreign_containers() {
    let team = Team::new(POLICY).await;
    // The images list of an operator holds what the policy lets them run; admins', all.
    let other = berth_tests::unique("berth-unlisted").to_lowercase();
    assert!(docker(&["tag", FIXTURE, &format!("{other}:latest")]).0);
    let tags = |list: &Value| -> Vec<String> {
        let tags = list.as_array().unwrap().iter();
        tags.flat_map(|i| i["RepoTags"].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t.as_str().map(String::from))
            .collect()
    };
    let as_alice = tags(&team.get_json(&team.alice, "/api/images").await);
    assert!(as_alice.contains(&FIXTURE.to_string()), "{as_alice:?}");
    assert!(
        !as_alice.iter().any(|t| t.starts_with(&other)),
        "{as_alice:?}"
    );
    let as_admin = tags(&team.get_json(&team.admin, "/api/images").await);
    assert!(
        as_admin.contains(&format!("{other}:latest")),
        "{as_admin:?}"
    );
    docker(&["rmi", &format!("{other}:latest")]);
    let (code, body) = team
        .create_only(&team.alice, &["127.0.0.1:5000/other/img", "true"])
        .await;
    assert_eq!(code, 403);
    assert!(rule_of(&body).contains("`image-allowlist`"), "{body}");

    // An allowed request gets the policy's defaults.
    let (code, body) = team.create_only(&team.alice, &[FIXTURE, "true"]).await;
    assert_eq!(code, 201, "{body}");
    let container = body["container_id"].as_str().unwrap();
    let (_, out, _) = docker(&[
        "inspect",
        "--format",
        "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{index .Config.Labels \"io.berth.owner\"}}",
        container,
    ]);
    assert_eq!(
        out.trim(),
        format!("{} 500000000 64 alice", 64 * 1024 * 1024)
    );

    // --volumes-from and --link: her own container is fine, bob's is not.
    let (_, bobs) = team.create_only(&team.bob, &[FIXTURE, "true"]).await;
    let bobs = bobs["container_id"].as_str().unwrap();
    let from = async |source: &str| {
        let argv = ["--volumes-from", source, FIXTURE, "true"];
        team.create_only(&team.alice, &argv).await
    };
    let (code, body) = from(bobs).await;
    assert_eq!(code, 403, "{body}");
    assert!(rule_of(&body).contains("`volumes-from`"), "{body}");
    let (code, body) = from(container).await;
    assert_eq!(code, 201, "{body}");
    team.remove_all_runs().await;
}

#[tokio::test]
async fn concurrency_and_run_time_limits() {
    let policy = POLICY
        .replace("max_concurrent_runs = 3", "max_concurrent_runs = 2")
        .replace("max_run_seconds = 600", "max_run_seconds = 2");
    let team = Team::new(&policy).await;
    let sleeper = json!({"argv": [FIXTURE, "sleep", "60"]});
    let (a, first) = team.create(&team.alice, sleeper.clone()).await;
    let (b, _) = team.create(&team.alice, sleeper.clone()).await;
    assert_eq!((a, b), (201, 201));
    let (code, body) = team.create(&team.alice, sleeper.clone()).await;
    assert_eq!(code, 429, "{body}");
    // Another user has their own allowance.
    assert_eq!(team.create(&team.bob, sleeper.clone()).await.0, 201);

    // After the maximum run time Berth stops and removes the container.
    let run = first["run_id"].as_str().unwrap();
    let container = first["container_id"].as_str().unwrap();
    let run = team.url(&format!("/api/runs/{run}"));
    // Stopped by the run-time limit (2 s) well within the 20 s of polling.
    let info = poll_exit(
        || http_as(&team.alice).get(&run),
        100,
        Duration::from_millis(200),
    )
    .await;
    assert!(
        info["error"]
            .as_str()
            .unwrap_or_default()
            .contains("maximum run time"),
        "{info}"
    );
    for _ in 0..50 {
        if !docker(&["inspect", container]).0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !docker(&["inspect", container]).0,
        "the container was removed"
    );
    // With one run ended, alice may start another.
    let (code, body) = team.create(&team.alice, sleeper).await;
    assert_eq!(code, 201, "{body}");
    team.remove_all_runs().await;
}

#[tokio::test]
async fn allowed_host_paths_are_mounted_read_only_and_nothing_else() {
    let shared = std::env::temp_dir().join(berth_tests::unique("berth-shared"));
    std::fs::create_dir_all(shared.join("sub")).unwrap();
    std::fs::write(shared.join("sub/greeting"), "hello from the host\n").unwrap();
    let dir = shared.to_str().unwrap();
    let policy = format!("{POLICY}allowed_host_paths = [\"{dir}\"]\n");
    let team = Team::new(&policy).await;

    // Below an allowed directory, read-only: the container reads the host's file.
    let bind = format!("{dir}/sub:/data:ro");
    let request = json!({"argv": ["-v", bind, FIXTURE, "cat", "/data/greeting"]});
    let (code, created) = team.create(&team.alice, request).await;
    assert_eq!(code, 201, "{created}");
    let run = team.url(&format!("/api/runs/{}", run_id_of(&created)));
    let info = poll_exit(
        || http_as(&team.alice).get(&run),
        100,
        Duration::from_millis(100),
    )
    .await;
    assert_eq!(info["exit_code"], 0, "{info}");
    let output = berth_tests::text_of(http_as(&team.alice).get(format!("{run}/output"))).await;
    assert_eq!(output, "hello from the host\n");

    // Read-write, a way out by `..`, and a look-alike prefix are denied.
    for volume in [
        format!("{dir}:/data"),
        format!("{dir}/../..:/data:ro"),
        format!("{dir}x:/data:ro"),
    ] {
        let request = json!({"argv": ["-v", volume, FIXTURE, "true"], "start": false});
        assert_denied(&team, request, "host-bind").await;
    }
    team.remove_all_runs().await;
    std::fs::remove_dir_all(&shared).unwrap();
}

#[tokio::test]
async fn existing_volumes_are_mounted_only_as_the_policy_allows() {
    let team = Team::new(POLICY).await;
    let plain = berth_tests::unique("plain");
    let with_options = berth_tests::unique("with-options");
    // Volumes are mounted only by their owners (security.rs covers that): these two are made
    // alice's the way Berth labels hers, with her id and the policy's digest from a run record.
    let (_, created) = team.create_only(&team.alice, &[FIXTURE, "true"]).await;
    let record = team
        .get_json(&team.alice, &format!("/api/runs/{}", run_id_of(&created)))
        .await;
    let labels = [
        "--label".to_string(),
        format!("io.berth.owner-id={}", record["owner_id"].as_str().unwrap()),
        "--label".to_string(),
        format!("io.berth.policy={}", record["policy"].as_str().unwrap()),
    ];
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    assert!(docker(&[&["volume", "create"][..], &labels, &[&plain]].concat()).0);
    // The local driver's options mount what they name (here a harmless tmpfs; `o=bind` with a
    // host path would be the escape).
    let tmpfs = [
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=1m",
    ];
    assert!(docker(&[&["volume", "create"][..], &labels, &tmpfs, &[&with_options]].concat()).0);

    let volume = |name: &str| format!("{name}:/data");
    let (code, body) = team
        .create_only(&team.alice, &["-v", &volume(&plain), FIXTURE, "true"])
        .await;
    assert_eq!(code, 201, "{body}");
    let mount = format!("type=volume,src={with_options},dst=/data");
    for argv in [
        vec!["-v", &volume(&with_options), FIXTURE, "true"],
        vec!["--mount", &mount, FIXTURE, "true"],
    ] {
        let (code, body) = team.create_only(&team.alice, &argv).await;
        assert_eq!(code, 403, "{argv:?}: {body}");
        assert!(rule_of(&body).contains("`volume-options`"), "{body}");
    }
    team.remove_all_runs().await;
    docker(&["volume", "rm", &plain, &with_options]);
}

/// `[team.red]` replaces `[operator]` for red's operators (alice), and only for them: what it
/// allows red, blue (bob, under `[operator]`) may not run, and the reverse; as argv and as
/// spec; `GET /api/me` says what each may do; viewers of red still run nothing.
#[tokio::test]
async fn team_tables_allow_and_deny_per_team() {
    let policy = format!(
        "{POLICY}\n[team.red]\nallowed_images = [\"berth-fixture:*\"]\nallowed_networks = [\"none\"]\nmax_run_seconds = 60\n"
    );
    let policy = policy.replacen(
        "allowed_images = [",
        "allowed_images = [\"127.0.0.1:5000/blue/*\", ",
        1,
    );
    let team = Team::new(&policy).await;
    let as_argv =
        |network: &str| json!({"argv": ["--network", network, FIXTURE, "true"], "start": false});
    let as_spec = |network: &str| json!({"spec": {"image": FIXTURE, "command": ["true"], "network": [network]}, "start": false});
    for body in [as_argv("none"), as_spec("none")] {
        let (code, created) = team.create(&team.alice, body.clone()).await;
        assert_eq!(
            code, 201,
            "red may run the fixture without a network: {body} {created}"
        );
    }
    for body in [as_argv("default"), as_spec("default")] {
        let (code, refused) = team.create(&team.alice, body.clone()).await;
        assert_rule(code, &refused, "networks");
    }
    let blue_image =
        json!({"argv": ["--network", "none", "127.0.0.1:5000/blue/app", "true"], "start": false});
    let (code, refused) = team.create(&team.alice, blue_image.clone()).await;
    assert_rule(code, &refused, "image-allowlist");
    // Bob is blue: [operator] as it was, which has no `none`-only rule but its own images.
    let (code, created) = team.create(&team.bob, as_argv("default")).await;
    assert_eq!(code, 201, "{created}");
    for who in [&team.alice, &team.bob] {
        let me = team.get_json(who, "/api/me").await;
        assert_eq!(me["may_run"], true, "{me}");
    }
    let me = team.get_json(&team.vic, "/api/me").await;
    assert_eq!(me["may_run"], false, "{me}");
    let (code, _) = team.create(&team.vic, as_argv("none")).await;
    assert_eq!(code, 403);
    team.remove_all_runs().await;
}
