//! Gateways with other settings: authentication required, a generated bootstrap token, an
//! unreachable engine.

use std::time::Duration;

use berth_server::Config;
use berth_tests::{
    Client, DOCKER_HOST, FIXTURE, http_as, json_of, poll_json, run_id_of, run_ids, spawn_gateway,
    status_of, text_of,
};
use serde_json::json;

#[tokio::test]
async fn every_api_route_but_health_needs_credentials() {
    let mut config = Config::local(DOCKER_HOST);
    config.admin_token = Some("s3cret".into());
    let addr = spawn_gateway(config);
    let url = |p: &str| format!("http://{addr}{p}");
    let anonymous = reqwest::Client::new();
    assert_eq!(status_of(anonymous.get(url("/api/health"))).await, 200);
    for path in [
        "/api/runs",
        "/api/containers",
        "/api/images",
        "/api/runs/x",
        "/api/runs/ws",
        "/api/me",
        "/api/audit",
    ] {
        assert_eq!(status_of(anonymous.get(url(path))).await, 401, "{path}");
        let wrong = status_of(http_as("nope").get(url(path))).await;
        assert_eq!(wrong, 401, "{path}");
    }
    let body = json_of(anonymous.get(url("/api/runs"))).await;
    assert_eq!(body["error"]["code"], 401);
    let me = json_of(http_as("s3cret").get(url("/api/me"))).await;
    assert_eq!(
        me,
        json!({"username": "admin-token", "role": "admin", "team": "", "may_run": true})
    );
}

#[tokio::test]
async fn with_no_users_and_no_token_a_bootstrap_token_is_generated() {
    let config = Config::local(DOCKER_HOST);
    let token_file = config.data_dir.join("admin-token");
    let addr = spawn_gateway(config);
    let token = std::fs::read_to_string(&token_file).expect("the token file exists");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "only the gateway's user may read it");
    let me = http_as(token.trim()).get(format!("http://{addr}/api/me"));
    assert_eq!(status_of(me).await, 200);
}

#[tokio::test]
async fn an_unreachable_engine_is_reported_plainly() {
    let mut config = Config::local("unix:///nonexistent/docker.sock");
    config.admin_token = Some("t".into());
    let addr = spawn_gateway(config);
    let url = |p: &str| format!("http://{addr}{p}");
    let http = || http_as("t");
    let health = json_of(http().get(url("/api/health"))).await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["engine"]["reachable"], false);
    assert!(
        health["engine"]["error"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/docker.sock")
    );
    let create = http()
        .post(url("/api/runs"))
        .json(&json!({"argv": ["busybox"]}));
    assert_eq!(status_of(create).await, 502);
    assert_eq!(status_of(http().get(url("/api/containers"))).await, 502);
}

#[tokio::test]
async fn finished_runs_beyond_memory_come_back_from_the_store() {
    let mut config = Config::local(DOCKER_HOST);
    config.admin_token = Some("t".into());
    config.max_finished_runs = 1;
    let addr = spawn_gateway(config);
    let url = |p: &str| format!("http://{addr}{p}");
    let mut ids = Vec::new();
    for i in 0..3 {
        let body = json!({"argv": ["--rm", FIXTURE, "echo", format!("run {i}")]});
        let created = json_of(http_as("t").post(url("/api/runs")).json(&body)).await;
        let id = run_id_of(&created);
        let run = url(&format!("/api/runs/{id}"));
        poll_json(
            || http_as("t").get(&run),
            100,
            Duration::from_millis(50),
            |info| info["state"] == "exited",
        )
        .await;
        ids.push(id);
    }
    // Give the last save a moment: it happens right after the exit is recorded.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let listed = json_of(http_as("t").get(url("/api/runs"))).await;
    assert_eq!(
        run_ids(&listed),
        ids.iter().rev().map(String::as_str).collect::<Vec<_>>(),
        "newest first, all three"
    );
    for (i, id) in ids.iter().enumerate() {
        let out = text_of(http_as("t").get(url(&format!("/api/runs/{id}/output")))).await;
        assert_eq!(out, format!("run {i}\n"));
    }
    let t = Client::watch_as(addr, "t", &ids[0]).await.finish().await;
    assert_eq!(
        (t.stdout_str(), t.exit_code()),
        ("run 0\n".to_string(), Some(0))
    );
}

/// `/api/ready` answers 200 when the store and the default engine answer, 503 (saying which
/// does not) otherwise, without credentials; `/api/health` stays 200 either way.
#[tokio::test]
async fn readiness_follows_the_engine_and_the_store() {
    let up = spawn_gateway(Config::local(DOCKER_HOST));
    let (code, body) =
        berth_tests::status_and_json(reqwest::Client::new().get(format!("http://{up}/api/ready")))
            .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body, json!({"ready": true, "engine": "ok", "store": "ok"}));

    let down = spawn_gateway(Config::local("unix:///var/run/berth-testbed-absent.sock"));
    let (code, body) = berth_tests::status_and_json(
        reqwest::Client::new().get(format!("http://{down}/api/ready")),
    )
    .await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["store"], "ok");
    assert!(
        body["engine"]
            .as_str()
            .unwrap_or_default()
            .contains("berth-testbed-absent"),
        "{body}"
    );
    let health = status_of(reqwest::Client::new().get(format!("http://{down}/api/health"))).await;
    assert_eq!(health, 200, "liveness is not readiness");
}
