//! Gateways with other settings: an admin token, an unreachable engine.

use berth_server::Config;
use berth_tests::{DOCKER_HOST, http, spawn_gateway};

#[tokio::test]
async fn admin_token_guards_every_api_route_but_health() {
    let mut config = Config::local(DOCKER_HOST);
    config.admin_token = Some("s3cret".into());
    let addr = spawn_gateway(config);
    let url = |p: &str| format!("http://{addr}{p}");
    let client = http();
    assert_eq!(
        client
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
    ] {
        assert_eq!(
            client.get(url(path)).send().await.unwrap().status(),
            401,
            "{path}"
        );
        let wrong = client
            .get(url(path))
            .bearer_auth("nope")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{path}");
    }
    let ok = client
        .get(url("/api/runs"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body: serde_json::Value = client
        .get(url("/api/runs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["error"]["code"], 401);
}

#[tokio::test]
async fn an_unreachable_engine_is_reported_plainly() {
    let addr = spawn_gateway(Config::local("unix:///nonexistent/docker.sock"));
    let url = |p: &str| format!("http://{addr}{p}");
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
