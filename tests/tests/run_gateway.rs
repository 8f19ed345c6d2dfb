//! The run gateway against the real dockerd and the loopback registry.

use std::time::Duration;

use berth_shared::wire::{ClientMessage, RunRequest, ServerEvent};
use berth_tests::*;
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn echo() {
    let t = run_to_end(&["--rm", FIXTURE, "echo", "hi"]).await;
    assert_eq!(t.stdout_str(), "hi\n");
    assert_eq!(t.kinds(), ["accepted", "created", "started", "exit"]);
    assert_eq!(t.exit_code(), Some(0));
    assert!(t.closed_normally);
}

#[tokio::test]
async fn stdout_and_stderr_apart_with_exit_3() {
    let t = run_to_end(&[
        "--rm",
        FIXTURE,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ])
    .await;
    assert_eq!(t.stdout_str(), "out\n");
    assert_eq!(t.stderr_str(), "err\n");
    assert_eq!(t.exit_code(), Some(3));
}

#[tokio::test]
async fn stdin_through_cat_until_close_stdin() {
    let mut c = Client::run(&["-i", "--rm", FIXTURE, "cat"]).await;
    c.send_stdin(b"hello\n").await;
    c.send_stdin(b"world\n").await;
    c.until(|t| t.stdout.len() >= 12).await;
    c.send(&ClientMessage::CloseStdin).await;
    let t = c.finish().await;
    assert_eq!(t.stdout_str(), "hello\nworld\n");
    assert_eq!(t.exit_code(), Some(0));
}

#[tokio::test]
async fn tty_resize_is_seen_by_stty() {
    // The container waits for a line, so the resize (sent first) has been applied by then:
    // client input reaches the container in order.
    let mut c = Client::run(&["-it", "--rm", FIXTURE, "sh", "-c", "read x; stty size"]).await;
    c.until(|t| t.kinds().contains(&"started")).await;
    c.send(&ClientMessage::Resize {
        cols: 123,
        rows: 45,
    })
    .await;
    c.send_stdin(b"go\r").await;
    let t = c.finish().await;
    assert!(t.stdout_str().contains("45 123"), "{:?}", t.stdout_str());
    assert!(t.stderr.is_empty(), "a TTY has one stream");
    assert_eq!(t.exit_code(), Some(0));
}

#[tokio::test]
async fn initial_terminal_size_from_the_run_message() {
    let req = RunRequest {
        argv: Some(
            ["-it", "--rm", FIXTURE, "sh", "-c", "read x; stty size"]
                .map(String::from)
                .to_vec(),
        ),
        cols: Some(90),
        rows: Some(20),
        ..Default::default()
    };
    let mut c = Client::run_request(req).await;
    c.until(|t| t.kinds().contains(&"started")).await;
    c.send_stdin(b"\r").await;
    let t = c.finish().await;
    assert!(t.stdout_str().contains("20 90"), "{:?}", t.stdout_str());
}

#[tokio::test]
async fn signals_are_forwarded() {
    let script = "trap 'echo got TERM; exit 7' TERM; echo ready; while true; do sleep 0.1; done";
    let mut c = Client::run(&["--rm", FIXTURE, "sh", "-c", script]).await;
    c.until(|t| t.stdout_str().contains("ready")).await;
    c.send(&ClientMessage::Signal {
        signal: "TERM".into(),
    })
    .await;
    let t = c.finish().await;
    assert_eq!(t.stdout_str(), "ready\ngot TERM\n");
    assert_eq!(t.exit_code(), Some(7));
}

#[tokio::test]
async fn rm_leaves_nothing_and_without_rm_the_container_stays() {
    let t = run_to_end(&["--rm", FIXTURE, "true"]).await;
    assert_eq!(t.exit_code(), Some(0));
    assert!(containers_of_run(&t.run_id().unwrap()).is_empty());

    let t = run_to_end(&[FIXTURE, "true"]).await;
    let left = containers_of_run(&t.run_id().unwrap());
    assert_eq!(left.len(), 1);
    docker(&["rm", "-f", &left[0]]);
}

#[tokio::test]
async fn pulls_from_the_loopback_registry_with_progress() {
    // Make sure the image is only in the registry.
    docker(&["rmi", "-f", PULLABLE]);
    let t = run_to_end(&["--rm", PULLABLE, "echo", "pulled"]).await;
    assert_eq!(t.stdout_str(), "pulled\n");
    assert_eq!(t.exit_code(), Some(0));
    let pulls: Vec<_> = t
        .events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Pull(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        pulls[0].status,
        "Unable to find image '127.0.0.1:5000/berth/pullable:latest' locally"
    );
    assert!(
        pulls.iter().any(|p| p.status == "Pull complete"),
        "{pulls:?}"
    );
    assert!(
        pulls
            .iter()
            .any(|p| p.total.is_some() && p.current.is_some()),
        "progress with sizes: {pulls:?}"
    );
    let kinds = t.kinds();
    let first_created = kinds.iter().position(|k| *k == "created").unwrap();
    assert!(
        kinds[..first_created]
            .iter()
            .all(|k| ["accepted", "pull"].contains(k))
    );

    // --pull always pulls even though the image is now present.
    let t = run_to_end(&["--rm", "--pull", "always", PULLABLE, "true"]).await;
    assert!(t.kinds().contains(&"pull"));
    assert_eq!(t.exit_code(), Some(0));
    docker(&["rmi", "-f", PULLABLE]);
}

#[tokio::test]
async fn pull_never_on_a_missing_image_is_125() {
    let t = run_to_end(&[
        "--rm",
        "--pull",
        "never",
        "127.0.0.1:5000/berth/absent:latest",
        "true",
    ])
    .await;
    t.assert_error(125, &["No such image: 127.0.0.1:5000/berth/absent:latest"]);
    assert!(!t.kinds().contains(&"pull"));
}

#[tokio::test]
async fn unreachable_registry_is_125_with_a_clear_message() {
    // Port 1 on loopback is closed.
    let t = run_to_end(&["--rm", "127.0.0.1:1/berth/busybox", "true"]).await;
    t.assert_error(125, &["127.0.0.1:1", "connection refused"]);
}

#[tokio::test]
async fn command_not_found_is_127() {
    let t = run_to_end(&["--rm", FIXTURE, "no-such-command"]).await;
    t.assert_error(127, &["executable file not found"]);
    assert!(
        containers_of_run(&t.run_id().unwrap()).is_empty(),
        "--rm removes a container that failed to start"
    );
}

#[tokio::test]
async fn not_executable_is_126() {
    let t = run_to_end(&["--rm", FIXTURE, "/bin/not-executable"]).await;
    t.assert_error(126, &["permission denied"]);
}

#[tokio::test]
async fn name_conflict_is_125() {
    let name = unique("conflict");
    assert!(docker(&["create", "--name", &name, FIXTURE, "true"]).0);
    let t = run_to_end(&["--rm", "--name", &name, FIXTURE, "true"]).await;
    docker(&["rm", "-f", &name]);
    let in_use = format!("The container name \"/{name}\" is already in use");
    t.assert_error(125, &[&in_use]);
}

fn seq_output(n: u32) -> Vec<u8> {
    (1..=n)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect()
}

#[tokio::test]
async fn ten_megabytes_byte_exact() {
    // 1..=1_400_000 is 10.2 MB, far above the gateway's 1 MiB capture limit in tests: the
    // client that started the run must still get every byte, through back-pressure.
    let t = run_to_end(&["--rm", FIXTURE, "seq", "1", "1400000"]).await;
    let want = seq_output(1_400_000);
    assert!(want.len() > 10_000_000);
    assert_eq!(t.stdout.len(), want.len());
    assert!(t.stdout == want, "output differs");
    assert_eq!(t.exit_code(), Some(0));
}

#[tokio::test]
async fn binary_output_byte_exact_through_a_tty_less_stream() {
    // Every byte value, stdout and stderr interleaved; each stream must stay in order.
    let script = "i=0; while [ $i -lt 50 ]; do printf '\\000\\001\\377o%d' $i; printf 'e%d' $i >&2; i=$((i+1)); done";
    let t = run_to_end(&["--rm", FIXTURE, "sh", "-c", script]).await;
    let out: Vec<u8> = (0..50)
        .flat_map(|i| [&[0u8, 1, 255, b'o'][..], format!("{i}").as_bytes()].concat())
        .collect();
    let err: String = (0..50).map(|i| format!("e{i}")).collect();
    assert_eq!(t.stdout, out);
    assert_eq!(t.stderr_str(), err);
}

#[tokio::test]
async fn early_output_is_never_lost() {
    for _ in 0..15 {
        let t = run_to_end(&["--rm", FIXTURE, "echo", "first"]).await;
        assert_eq!(t.stdout_str(), "first\n");
        assert_eq!(t.exit_code(), Some(0));
    }
}

#[tokio::test]
async fn detach_returns_after_start_and_the_run_is_still_recorded() {
    let t = run_to_end(&[
        "-d",
        "--rm",
        FIXTURE,
        "sh",
        "-c",
        "echo background; sleep 1; exit 4",
    ])
    .await;
    assert_eq!(t.kinds(), ["accepted", "created", "started", "detached"]);
    let ServerEvent::Detached { container_id } = &t.events[3] else {
        panic!()
    };
    assert_eq!(container_id.len(), 64);
    let run_id = t.run_id().unwrap();
    let info = wait_for_exit(&run_id).await;
    assert_eq!(info["exit_code"], 4);
    assert_eq!(info["state"], "exited");
    assert_eq!(run_output(&run_id).await, "background\n");
}

#[tokio::test]
async fn a_late_watcher_gets_the_full_output() {
    let script = "echo one; sleep 1; echo two >&2; exit 2";
    let (status, created) =
        create_run(json!({"argv": ["--rm", FIXTURE, "sh", "-c", script]})).await;
    assert_eq!(status, 201);
    let run_id = run_id_of(&created);
    assert_eq!(created["container_id"].as_str().unwrap().len(), 64);

    tokio::time::sleep(Duration::from_millis(300)).await;
    let live = Client::watch(&run_id).await.finish().await;
    assert_eq!(live.stdout_str(), "one\n");
    assert_eq!(live.stderr_str(), "two\n");
    assert_eq!(live.kinds(), ["accepted", "created", "started", "exit"]);
    assert_eq!(live.exit_code(), Some(2));

    // After the end, a watcher gets the same replay.
    let after = Client::watch(&run_id).await.finish().await;
    assert_eq!(
        (after.stdout, after.stderr, after.events),
        (live.stdout, live.stderr, live.events)
    );
}

#[tokio::test]
async fn a_disconnected_clients_run_finishes_and_is_recorded() {
    let mut c = Client::run(&[
        "--rm",
        FIXTURE,
        "sh",
        "-c",
        "echo before; sleep 1; echo after; exit 5",
    ])
    .await;
    c.until(|t| t.kinds().contains(&"started")).await;
    let run_id = c.transcript.run_id().unwrap();
    drop(c);
    let info = wait_for_exit(&run_id).await;
    assert_eq!(info["exit_code"], 5);
    assert_eq!(run_output(&run_id).await, "before\nafter\n");
}

#[tokio::test]
async fn detach_message_leaves_the_run_going() {
    let mut c = Client::run(&["--rm", FIXTURE, "sh", "-c", "echo up; sleep 1; exit 6"]).await;
    c.until(|t| t.stdout_str() == "up\n").await;
    c.send(&ClientMessage::Detach).await;
    let t = c.finish().await;
    assert_eq!(t.kinds().last(), Some(&"detached"));
    assert!(t.closed_normally);
    assert_eq!(wait_for_exit(&t.run_id().unwrap()).await["exit_code"], 6);
}

#[tokio::test]
async fn bad_arguments_are_125_on_the_socket_and_400_on_rest() {
    let t = run_to_end(&["--nope", FIXTURE]).await;
    assert_eq!(t.error(), Some((125, "unknown flag: --nope".to_string())));
    assert!(t.run_id().is_none(), "nothing was started");

    let (status, body) = create_run(json!({"argv": ["-z", FIXTURE]})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], 400);
    assert_eq!(
        body["error"]["message"],
        "unknown shorthand flag: 'z' in -z"
    );
}

#[tokio::test]
async fn rest_create_only_then_delete() {
    let name = unique("created");
    let spec = json!({"image": FIXTURE, "command": ["true"], "name": name});
    let (status, created) = create_run(json!({"spec": spec, "start": false})).await;
    assert_eq!(status, 201);
    let (_, status, _) = docker(&["inspect", "--format", "{{.State.Status}}", &name]);
    assert_eq!(status.trim(), "created");
    let run_id = run_id_of(&created);
    let run = format!("/api/runs/{run_id}");
    let info = get_json(&run).await;
    assert_eq!(info["state"], "created");
    assert_eq!(
        info["argv"],
        json!([format!("--name={name}"), FIXTURE, "true"])
    );

    let runs = get_json("/api/runs").await;
    assert!(run_ids(&runs).contains(&run_id.as_str()), "{runs}");

    assert_eq!(status_of(http().delete(url(&run))).await, 204);
    assert!(!docker(&["inspect", &name]).0, "the container is gone");
    assert_eq!(status_of(http().get(url(&run))).await, 404);
}

#[tokio::test]
async fn rest_failures_map_to_http_statuses() {
    let name = unique("rest-conflict");
    assert!(docker(&["create", "--name", &name, FIXTURE]).0);
    let (status, body) = create_run(json!({"argv": ["--name", name, FIXTURE]})).await;
    docker(&["rm", "-f", &name]);
    assert_eq!(status, 409);
    assert_eq!(body["error"]["exit_code"], 125);

    let (_, body) = create_run(json!({"argv": ["--rm", FIXTURE, "no-such-command"]})).await;
    assert!(resp_status_is_4xx_or_502(&body), "{body}");
    assert_eq!(body["error"]["exit_code"], 127);
}

fn resp_status_is_4xx_or_502(body: &serde_json::Value) -> bool {
    let code = body["error"]["code"].as_u64().unwrap();
    (400..500).contains(&code) || code == 502
}

#[tokio::test]
async fn stop_and_kill_a_running_run() {
    let (_, created) = create_run(json!({"argv": [FIXTURE, "sleep", "60"]})).await;
    let run_id = run_id_of(&created);
    let run = format!("/api/runs/{run_id}");
    let post = |action: &str| status_of(http().post(url(&format!("{run}/{action}"))));
    assert_eq!(post("kill?signal=KILL").await, 204);
    assert_eq!(wait_for_exit(&run_id).await["exit_code"], 137);
    assert_eq!(post("kill?signal=../x").await, 400);
    assert_eq!(
        post("stop").await,
        204,
        "stopping a stopped container is fine"
    );
    status_of(http().delete(url(&run))).await;
}

#[tokio::test]
async fn garbage_and_oversized_input_get_4xx_never_a_crash() {
    // Not JSON, wrong type, binary first, unknown fields.
    for first in [
        Message::text("not json"),
        Message::text(r#"{"type":"launch"}"#),
        Message::text(r#"{"type":"watch"}"#),
        Message::text(r#"{"type":"run"}"#),
        Message::text(r#"{"type":"run","argv":["x"],"spec":{"image":"x"}}"#),
        Message::text(r#"{"type":"run","argv":["x"],"bogus":true}"#),
        Message::binary(vec![0u8; 10]),
    ] {
        let mut c = Client::connect("/api/runs/ws").await;
        c.socket.send(first).await.unwrap();
        let t = c.finish().await;
        assert_eq!(t.error().map(|e| e.0), Some(125), "{:?}", t.events);
    }
    // An oversized message is refused.
    let mut c = Client::connect("/api/runs/ws").await;
    let _ = c
        .socket
        .send(Message::binary(vec![b'x'; 2 * 1024 * 1024]))
        .await;
    let t = c.finish().await;
    t.assert_error(125, &["too long"]);

    let client = http();
    let (status, body) = status_and_json(client.post(url("/api/runs")).body("not json")).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON body"),
        "{body}"
    );
    let json = |b: &str| {
        client
            .post(url("/api/runs"))
            .header("content-type", "application/json")
            .body(b.to_string())
    };
    assert_eq!(json("{").send().await.unwrap().status(), 400);
    assert_eq!(json("{}").send().await.unwrap().status(), 400);
    assert_eq!(json(r#"{"argv":"x"}"#).send().await.unwrap().status(), 400);
    let big = format!(r#"{{"argv":["{}"]}}"#, "a".repeat(2 * 1024 * 1024));
    // A client of its own: the gateway closes the connection after refusing the body.
    let oversized = http()
        .post(url("/api/runs"))
        .header("content-type", "application/json")
        .body(big);
    assert_eq!(status_of(oversized).await, 413);
    assert_eq!(status_of(client.get(url("/api/runs/nope"))).await, 404);
    assert_eq!(status_of(client.get(url("/api/nope"))).await, 404);
    let upgrade = status_of(client.get(url("/api/runs/nope/ws"))).await;
    assert_eq!(upgrade, 400, "not a WebSocket upgrade");
    match Client::connect_to(gateway(), "/api/runs/nope/ws", ADMIN_TOKEN).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 404),
        other => panic!("watching an unknown run: {:?}", other.map(|_| ())),
    }

    let health = json_of(client.get(url("/api/health"))).await;
    assert_eq!(health["engine"]["reachable"], true, "still serving");
}

#[tokio::test]
async fn health_lists_and_version() {
    let health = get_json("/api/health").await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["engine"]["reachable"], true);
    let (_, api, _) = docker(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert_eq!(health["engine"]["api_version"], api.trim());
    assert!(health["engine"]["version"].as_str().is_some());

    let images = get_json("/api/images").await;
    assert!(
        images
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["RepoTags"].to_string().contains(FIXTURE)),
        "{images}"
    );
    let (status, containers) = status_and_json(http().get(url("/api/containers"))).await;
    assert_eq!(status, 200);
    assert!(containers.is_array(), "{containers}");
}

#[tokio::test]
async fn containers_attach_logs_kill_and_remove() {
    let name = unique("attach");
    assert!(
        docker(&[
            "run",
            "-d",
            "-i",
            "--name",
            &name,
            FIXTURE,
            "sh",
            "-c",
            "echo hello; cat"
        ])
        .0
    );
    let base = format!("/api/containers/{name}");
    let post = |action: &str| http().post(url(&format!("{base}/{action}")));

    let (status, attached) = status_and_json(post("attach")).await;
    assert_eq!(status, 201);
    let mut w = Client::watch(&run_id_of(&attached)).await;
    w.until(|t| t.stdout_str() == "hello\n").await;
    w.send_stdin(b"abc\n").await;
    w.until(|t| t.stdout_str() == "hello\nabc\n").await;

    assert_eq!(status_of(post("kill?signal=KILL")).await, 204);
    let t = w.finish().await;
    assert_eq!(t.exit_code(), Some(137));

    let logs = text_of(http().get(url(&format!("{base}/logs")))).await;
    assert_eq!(logs, "hello\nabc\n");
    assert_eq!(get_json(&base).await["State"]["ExitCode"], 137);
    assert_eq!(
        status_of(post("attach")).await,
        409,
        "a stopped container cannot be attached"
    );

    assert_eq!(status_of(http().delete(url(&base))).await, 204);
    assert_eq!(status_of(http().get(url(&base))).await, 404);
    assert_eq!(status_of(post("stop")).await, 404);
}
