//! Who may do what: every role against every endpoint, REST and WebSocket; sessions and
//! cross-site requests; no secret in any answer or in the audit log.

use berth_shared::wire::{ClientMessage, RunRequest};
use berth_tests::team::{PASSWORD, Team, browser};
use berth_tests::{
    Client, FIXTURE, docker, http_as, json_of, run_id_of, run_ids, status_of, unique,
};
use serde_json::{Value, json};

const POLICY: &str = include_str!("../fixtures/policy.toml");

async fn status(team: &Team, token: &str, method: &str, path: &str, body: Option<Value>) -> u16 {
    let client = http_as(token);
    let url = team.url(path);
    let req = match method {
        "GET" => client.get(url),
        "POST" => client.post(url),
        "DELETE" => client.delete(url),
        other => panic!("{other}"),
    };
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    status_of(req).await
}

async fn ws_status(team: &Team, token: &str, path: &str) -> u16 {
    match Client::connect_to(team.addr, path, token).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("{path}: {e}"),
    }
}

#[tokio::test]
async fn every_role_against_every_endpoint() {
    let team = Team::new(POLICY).await;
    let sleeper = json!({"argv": [FIXTURE, "sleep", "60"]});
    let (code, body) = team.create(&team.alice, sleeper.clone()).await;
    assert_eq!(code, 201, "{body}");
    let run_a = run_id_of(&body);
    let container_a = body["container_id"].as_str().unwrap().to_string();
    let (code, body) = team.create(&team.bob, sleeper.clone()).await;
    assert_eq!(code, 201, "{body}");
    let run_b = run_id_of(&body);
    let foreign = unique("foreign");
    assert!(docker(&["run", "-d", "--name", &foreign, FIXTURE, "sleep", "60"]).0);

    // (who, token) × expected status per endpoint. alice owns run A; vic is in alice's team
    // (watch only); bob is in another team; root is an admin user; admin is the bootstrap token.
    let who = [
        ("admin", &team.admin),
        ("root", &team.root),
        ("alice", &team.alice),
        ("bob", &team.bob),
        ("vic", &team.vic),
    ];
    let a = format!("/api/runs/{run_a}");
    let c = format!("/api/containers/{container_a}");
    let f = format!("/api/containers/{foreign}");
    #[rustfmt::skip]
    let matrix: Vec<(&str, String, Option<Value>, [u16; 5])> = vec![
        //                                                             admin root alice bob vic
        ("GET", "/api/me".into(), None,                                [200, 200, 200, 200, 200]),
        ("GET", "/api/runs".into(), None,                              [200, 200, 200, 200, 200]),
        ("GET", a.clone(), None,                                       [200, 200, 200, 404, 200]),
        ("GET", format!("{a}/output"), None,                           [200, 200, 200, 404, 200]),
        ("POST", format!("{a}/kill?signal=CONT"), None,                [204, 204, 204, 404, 403]),
        ("POST", format!("{a}/stop?t=x"), None,                        [400, 400, 400, 400, 400]),
        ("GET", "/api/containers".into(), None,                        [200, 200, 200, 200, 200]),
        ("GET", c.clone(), None,                                       [200, 200, 200, 404, 200]),
        ("GET", format!("{c}/logs"), None,                             [200, 200, 200, 404, 200]),
        ("POST", format!("{c}/kill?signal=CONT"), None,                [204, 204, 204, 404, 403]),
        ("GET", f.clone(), None,                                       [200, 200, 404, 404, 404]),
        ("GET", format!("{f}/logs"), None,                             [200, 200, 404, 404, 404]),
        ("POST", format!("{f}/kill?signal=CONT"), None,                [204, 204, 404, 404, 404]),
        ("POST", format!("{f}/attach"), None,                          [201, 201, 404, 404, 404]),
        ("POST", format!("{f}/stop?t=1"), None,                        [204, 204, 404, 404, 404]),
        // Stopped by then: the first admin removes it, and it is gone for everyone after.
        ("DELETE", f.clone(), None,                                    [204, 404, 404, 404, 404]),
        ("GET", "/api/images".into(), None,                            [200, 200, 200, 200, 200]),
        ("GET", "/api/users".into(), None,                             [200, 200, 403, 403, 403]),
        ("POST", "/api/users".into(), Some(json!({"username": "x", "password": "short", "role": "viewer"})),
                                                                       [400, 400, 403, 403, 403]),
        ("DELETE", "/api/users/nobody".into(), None,                   [404, 404, 403, 403, 403]),
        ("GET", "/api/audit".into(), None,                             [200, 200, 403, 403, 403]),
        ("GET", "/api/tokens".into(), None,                            [200, 200, 200, 200, 200]),
        ("POST", "/api/tokens".into(), Some(json!({"name": ""})),      [400, 400, 400, 400, 400]),
        ("DELETE", "/api/tokens/nope".into(), None,                    [404, 404, 404, 404, 404]),
        ("POST", "/api/runs".into(), Some(json!({"argv": [FIXTURE, "true"], "start": false})),
                                                                       [201, 201, 201, 201, 403]),
    ];
    for (method, path, body, expected) in &matrix {
        for ((name, token), want) in who.iter().zip(expected) {
            let got = status(&team, token, method, path, body.clone()).await;
            assert_eq!(got, *want, "{name}: {method} {path}");
        }
        let anonymous = status(&team, "", method, path, body.clone()).await;
        assert_eq!(anonymous, 401, "anonymous: {method} {path}");
    }

    // Listings are filtered: each sees their own and their team's.
    for ((name, token), (sees_a, sees_b)) in who.iter().zip([
        (true, true),
        (true, true),
        (true, false),
        (false, true),
        (true, false),
    ]) {
        let runs = team.get_json(token, "/api/runs").await;
        let ids = run_ids(&runs);
        assert_eq!(
            (ids.contains(&run_a.as_str()), ids.contains(&run_b.as_str())),
            (sees_a, sees_b),
            "{name} lists {ids:?}"
        );
        let containers = team.get_json(token, "/api/containers").await;
        let has_a = containers
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["Id"] == container_a.as_str());
        assert_eq!(has_a, sees_a, "{name} lists containers");
    }

    // WebSockets: upgrading needs credentials; watching needs visibility.
    let watch = format!("/api/runs/{run_a}/ws");
    for ((name, token), want) in who.iter().zip([101, 101, 101, 404, 101]) {
        assert_eq!(
            ws_status(&team, token, &watch).await,
            want,
            "{name} watches"
        );
        assert_eq!(
            ws_status(&team, token, "/api/runs/ws").await,
            101,
            "{name} opens a run socket"
        );
    }
    assert_eq!(ws_status(&team, "", &watch).await, 401);
    assert_eq!(ws_status(&team, "", "/api/runs/ws").await, 401);

    // A viewer cannot start a run over the socket, nor send input to one it watches.
    let mut c = Client::connect_to(team.addr, "/api/runs/ws", &team.vic)
        .await
        .unwrap();
    c.send(&ClientMessage::Run(Box::new(RunRequest {
        argv: Some(vec![FIXTURE.into(), "true".into()]),
        ..Default::default()
    })))
    .await;
    let t = c.finish().await;
    assert_eq!(
        t.error(),
        Some((125, "role viewer may not run containers".to_string()))
    );
    let mut w = Client::watch_as(team.addr, &team.vic, &run_a).await;
    w.until(|t| t.kinds().contains(&"started")).await;
    w.send(&ClientMessage::Signal {
        signal: "KILL".into(),
    })
    .await;
    w.until(|t| t.kinds().contains(&"warning")).await;
    let info = team.get_json(&team.alice, &a).await;
    assert_eq!(info["state"], "running", "the viewer's signal was not sent");

    // /api/me says who may run at all, so the dashboard offers the run form only to them.
    for (token, may_run) in [
        (&team.admin, true),
        (&team.root, true),
        (&team.alice, true),
        (&team.vic, false),
    ] {
        let me = team.get_json(token, "/api/me").await;
        assert_eq!(me["may_run"], may_run, "{me}");
    }
    let no_policy = Team::new("").await;
    let me = no_policy.get_json(&no_policy.alice, "/api/me").await;
    assert_eq!(
        me["may_run"], false,
        "an operator without a policy runs nothing: {me}"
    );

    // Acting: bob and vic cannot delete alice's run; alice can.
    assert_eq!(team.delete_run(&team.bob, &run_a).await, 404);
    assert_eq!(team.delete_run(&team.vic, &run_a).await, 403);
    assert_eq!(team.delete_run(&team.alice, &run_a).await, 204);
    assert_eq!(team.delete_run(&team.bob, &run_b).await, 204);
    docker(&["rm", "-f", &foreign]);
    team.remove_all_runs().await;
}

#[tokio::test]
async fn sessions_refuse_cross_site_websockets_and_changes() {
    let team = Team::new(POLICY).await;
    let browser = browser();
    let resp = team.sign_in(&browser, "alice", PASSWORD).await;
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();

    let me = json_of(browser.get(team.url("/api/me"))).await;
    assert_eq!(me["username"], "alice");
    let own_origin = format!("http://{}", team.addr);
    let evil = "http://evil.example";
    let post = |origin: &str| {
        browser
            .post(team.url("/api/runs"))
            .header("origin", origin)
            .json(&json!({"argv": [FIXTURE, "true"], "start": false}))
    };
    assert_eq!(post(evil).send().await.unwrap().status(), 403);
    let ok = post(&own_origin).send().await.unwrap();
    assert_eq!(ok.status(), 201);
    let run_id = run_id_of(&ok.json().await.unwrap());

    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    for (origin, want) in [(evil, 403), (own_origin.as_str(), 101)] {
        let mut req = format!("ws://{}/api/runs/ws", team.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut().insert("cookie", session.parse().unwrap());
        req.headers_mut().insert("origin", origin.parse().unwrap());
        let got = match tokio_tungstenite::connect_async(req).await {
            Ok(_) => 101,
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
            Err(e) => panic!("{e}"),
        };
        assert_eq!(got, want, "WebSocket from {origin}");
    }

    let logout = browser
        .post(team.url("/api/logout"))
        .header("origin", &own_origin);
    assert_eq!(status_of(logout).await, 204);
    assert_eq!(status_of(browser.get(team.url("/api/me"))).await, 401);
    let wrong = team
        .sign_in(&reqwest::Client::new(), "alice", "wrong password")
        .await;
    assert_eq!(wrong.status(), 401);
    team.delete_run(&team.admin, &run_id).await;
}

#[tokio::test]
async fn secrets_are_never_shown_and_tokens_can_be_revoked() {
    let team = Team::new(POLICY).await;
    let users = team.get_json(&team.admin, "/api/users").await;
    let text = users.to_string();
    assert!(
        !text.contains("argon2") && !text.contains("password") && !text.contains(PASSWORD),
        "{text}"
    );
    let tokens = team.get_json(&team.admin, "/api/tokens").await;
    assert_eq!(tokens.as_array().unwrap().len(), 4, "{tokens}");
    let text = tokens.to_string();
    for secret in [&team.alice, &team.bob, &team.vic, &team.root] {
        assert!(!text.contains(secret.as_str()), "a token secret in {text}");
        let (_, secret_part) = secret.rsplit_once('_').unwrap();
        assert!(!text.contains(secret_part));
    }
    let audit = http_as(&team.admin)
        .get(team.url("/api/audit?format=jsonl"))
        .send()
        .await
        .unwrap();
    assert_eq!(audit.headers()["content-type"], "application/x-ndjson");
    let audit = audit.text().await.unwrap();
    assert!(audit.lines().count() >= 8, "{audit}");
    for line in audit.lines() {
        let entry: Value = serde_json::from_str(line).unwrap();
        for key in ["at", "actor", "action", "target", "outcome", "remote"] {
            assert!(entry.get(key).is_some(), "{key} in {line}");
        }
    }
    assert!(
        !audit.contains(PASSWORD) && !audit.contains(&team.alice) && !audit.contains(&team.admin)
    );
    assert!(audit.contains(r#""action":"user.create""#) && audit.contains(r#""action":"login""#));

    // Alice revokes her token: it stops working at once.
    let mine = team.get_json(&team.alice, "/api/tokens").await;
    assert_eq!(mine.as_array().unwrap().len(), 1, "only her own");
    let hers = format!("/api/tokens/{}", mine[0]["id"].as_str().unwrap());
    assert_eq!(status(&team, &team.bob, "DELETE", &hers, None).await, 404);
    assert_eq!(status(&team, &team.alice, "DELETE", &hers, None).await, 204);
    assert_eq!(
        status(&team, &team.alice, "GET", "/api/me", None).await,
        401
    );
    // A deleted user's token stops working too.
    assert_eq!(
        status(&team, &team.admin, "DELETE", "/api/users/bob", None).await,
        204
    );
    assert_eq!(status(&team, &team.bob, "GET", "/api/me", None).await, 401);
}
