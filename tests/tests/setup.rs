//! The first visit: with no users, `POST /api/setup` creates the first admin given the
//! one-time setup token Berth wrote to `<data-dir>/admin-token`, and signs them in; after that
//! the token is spent (as a bearer token too) and setup answers 409.

use std::net::SocketAddr;

use berth_server::Config;
use berth_tests::{DOCKER_HOST, http_as, spawn_gateway, status_and_json};
use serde_json::{Value, json};

/// A fresh gateway without `BERTH_ADMIN_TOKEN`: its address and the generated setup token.
fn fresh_gateway() -> (SocketAddr, String, std::path::PathBuf) {
    let config = Config::local(DOCKER_HOST);
    let file = config.data_dir.join("admin-token");
    let addr = spawn_gateway(config);
    let token = std::fs::read_to_string(&file).expect("the setup token was written");
    (addr, token.trim().to_string(), file)
}

async fn setup(addr: SocketAddr, body: Value) -> (u16, Value, Option<String>) {
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/api/setup"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let cookie = resp
        .headers()
        .get("set-cookie")
        .map(|c| c.to_str().unwrap().to_string());
    (status, resp.json().await.unwrap_or(Value::Null), cookie)
}

async fn needed(addr: SocketAddr) -> bool {
    let (status, body) =
        status_and_json(reqwest::Client::new().get(format!("http://{addr}/api/setup"))).await;
    assert_eq!(status, 200, "{body}");
    body["needed"].as_bool().expect("needed is a bool")
}

#[tokio::test]
async fn the_first_admin_is_created_once_with_the_setup_token() {
    let (addr, token, file) = fresh_gateway();
    assert!(needed(addr).await);

    let (status, body, _) = setup(
        addr,
        json!({"token": "not-the-token", "username": "ann", "password": "a long password"}),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    let (status, body, _) = setup(
        addr,
        json!({"token": token, "username": "ann", "password": "short"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("password"),
        "{body}"
    );
    let (status, body, _) = setup(
        addr,
        json!({"token": token, "username": "Not A Name", "password": "a long password"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(needed(addr).await, "nothing was created by the bad tries");

    let (status, me, cookie) = setup(
        addr,
        json!({"token": format!("{token}\n"), "username": "ann", "password": "a long password"}),
    )
    .await;
    assert_eq!(status, 201, "{me}");
    assert_eq!(
        (me["username"].as_str(), me["role"].as_str()),
        (Some("ann"), Some("admin"))
    );
    // Signed in at once: the cookie is a session.
    let cookie = cookie.expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let (status, me) = status_and_json(
        reqwest::Client::new()
            .get(format!("http://{addr}/api/me"))
            .header("cookie", &session),
    )
    .await;
    assert_eq!((status, me["username"].as_str()), (200, Some("ann")));

    // Setup is over: the page says so, the token is spent (its file gone), and it creates
    // nobody, through setup or as a bearer token.
    assert!(!needed(addr).await);
    assert!(!file.exists(), "the setup token's file is removed");
    let (status, body, _) = setup(
        addr,
        json!({"token": token, "username": "mallory", "password": "a long password"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let user = json!({"username": "mallory", "password": "a long password", "role": "admin"});
    let (status, _) = status_and_json(
        http_as(&token)
            .post(format!("http://{addr}/api/users"))
            .json(&user),
    )
    .await;
    assert_eq!(status, 401, "the spent token still acts as admin");
    let (status, users) = status_and_json(
        reqwest::Client::new()
            .get(format!("http://{addr}/api/users"))
            .header("cookie", &session),
    )
    .await;
    assert_eq!(status, 200);
    let names: Vec<_> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].clone())
        .collect();
    assert_eq!(names, vec![json!("ann")]);
}

#[tokio::test]
async fn two_visitors_at_once_make_one_first_admin() {
    let (addr, token, _) = fresh_gateway();
    let tries = (0..4).map(|i| {
        setup(
            addr,
            json!({"token": token, "username": format!("admin{i}"), "password": "a long password"}),
        )
    });
    let results = futures_util::future::join_all(tries).await;
    let created: Vec<_> = results.iter().filter(|(s, _, _)| *s == 201).collect();
    assert_eq!(created.len(), 1, "{results:?}");
    for (status, body, _) in &results {
        assert!(
            *status == 201 || *status == 409 || *status == 401,
            "{status} {body}"
        );
    }
}
