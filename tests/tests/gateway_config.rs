//! Gateways with other settings: authentication required, a generated bootstrap token, an
//! unreachable engine.

use berth_server::Config;
use berth_tests::{DOCKER_HOST, http_as, spawn_gateway};

#[tokio::test]
async fn every_api_route_but_health_needs_credentials() {
    let mut config = Config::local(DOCKER_HOST);
    config.admin_token = Some("s3cret".into());
    let addr = spawn_gateway(config);
    let url = |p: &str| format!("http://{addr}{p}");
    let anonymous = reqwest::Client::new();
    assert_eq!(
        anonymous
            .get(url("/api/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    for path in [
        "/api/runs",
        "/api/containers",
        "/api/images",
        "/api/runs/x",
        "/api/runs/ws",
        "/api/me",
        "/api/audit",
    ] {
        assert_eq!(
            anonymous.get(url(path)).send().await.unwrap().status(),
            401,
            "{path}"
        );
        let wrong = http_as("nope").get(url(path)).send().await.unwrap();
        assert_eq!(wrong.status(), 401, "{path}");
    }
    let body: serde_json::Value = anonymous
        .get(url("/api/runs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["error"]["code"], 401);
    let me: serde_json::Value = http_as("s3cret")
        .get(url("/api/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        me,
        serde_json::json!({"username": "admin-token", "role": "admin", "team": ""})
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
    let me = http_as(token.trim())
        .get(format!("http://{addr}/api/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
}

#[tokio::test]
async fn an_unreachable_engine_is_reported_plainly() {
    let mut config = Config::local("unix:///nonexistent/docker.sock");
    config.admin_token = Some("t".into());
    let addr = spawn_gateway(config);
    let url = |p: &str| format!("http://{addr}{p}");
    let http = || http_as("t");
    let health: serde_json::Value = http()
        .get(url("/api/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["engine"]["reachable"], false);
    assert!(
        health["engine"]["error"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/docker.sock")
    );
    let resp = http()
        .post(url("/api/runs"))
        .json(&serde_json::json!({"argv": ["busybox"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(
        http()
            .get(url("/api/containers"))
            .send()
            .await
            .unwrap()
            .status(),
        502
    );
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
        let body =
            serde_json::json!({"argv": ["--rm", berth_tests::FIXTURE, "echo", format!("run {i}")]});
        let created: serde_json::Value = http_as("t")
            .post(url("/api/runs"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["run_id"].as_str().unwrap().to_string();
        for _ in 0..100 {
            let info: serde_json::Value = http_as("t")
                .get(url(&format!("/api/runs/{id}")))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if info["state"] == "exited" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        ids.push(id);
    }
    // Give the last save a moment: it happens right after the exit is recorded.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let listed: serde_json::Value = http_as("t")
        .get(url("/api/runs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        ids.iter().rev().map(String::as_str).collect::<Vec<_>>(),
        "newest first, all three"
    );
    for (i, id) in ids.iter().enumerate() {
        let out = http_as("t")
            .get(url(&format!("/api/runs/{id}/output")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(out, format!("run {i}\n"));
    }
    let t = berth_tests::Client::connect_to(addr, &format!("/api/runs/{}/ws", ids[0]), "t")
        .await
        .unwrap();
    let mut t = t;
    t.send(&berth_shared::wire::ClientMessage::Watch { from: None })
        .await;
    let t = t.finish().await;
    assert_eq!(
        (t.stdout_str(), t.exit_code()),
        ("run 0\n".to_string(), Some(0))
    );
}
