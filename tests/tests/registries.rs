//! Private registries: the test bed's registry on 127.0.0.1:5001 asks for htpasswd credentials
//! (`scripts/testbed.sh`). A pull sends the run owner's team's credential, else a global one,
//! else none; another team's is never sent (the registry's own log names the user of every
//! request it authorized); no password comes back out of the gateway, its database or its audit
//! log.

use berth_tests::team::Team;
use berth_tests::{docker, error_message, http_as, status_and_json, status_of};
use serde_json::{Value, json};

const PRIVATE: &str = "127.0.0.1:5001/private/app:latest";
const REGISTRY_LOG: &str = "/var/lib/berth-testbed/registry-private.log";
/// The test bed's users of the private registry (scripts/testbed.sh).
const RED_USER: (&str, &str) = ("red-puller", "red-registry-pass");
const EVERYONE_USER: (&str, &str) = ("everyone-puller", "everyone-registry-pass");

const POLICY: &str = r#"
[operator]
allowed_images = ["berth-fixture:*", "127.0.0.1:5001/private/*"]
allowed_networks = ["none"]
"#;

/// Pulls share the engine's image store, so the tests of this file take turns.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How many log lines of the private registry (at debug, a few per request) name `user`.
fn authorized_as(user: &str) -> usize {
    let log = std::fs::read(REGISTRY_LOG).expect("the private registry's log (scripts/testbed.sh)");
    String::from_utf8_lossy(&log)
        .lines()
        .filter(|l| l.contains(&format!("auth.user.name={user} ")))
        .count()
}

/// Runs the private image as `token` after removing the engine's copy (so that it is pulled):
/// the status and the body.
async fn run_private(team: &Team, token: &str) -> (u16, Value) {
    docker(&["rmi", "-f", PRIVATE]);
    assert!(!docker(&["image", "inspect", PRIVATE]).0);
    let body = json!({"argv": ["--rm", "--network", "none", PRIVATE, "cat", "/etc/berth-marker"]});
    team.create(token, body).await
}

async fn add(team: &Team, user: (&str, &str), team_name: Option<&str>) -> Value {
    let body = json!({"server": "127.0.0.1:5001", "username": user.0, "password": user.1, "team": team_name});
    let (code, created) = status_and_json(
        http_as(&team.admin)
            .post(team.url("/api/registries"))
            .json(&body),
    )
    .await;
    assert_eq!(code, 201, "{created}");
    created
}

fn assert_pull_refused(code: u16, body: &Value) {
    assert!(code >= 400, "{body}");
    assert_eq!(body["error"]["exit_code"], 125, "{body}");
    let said = error_message(body).to_lowercase();
    assert!(
        said.contains("unauthorized") || said.contains("no basic auth credentials"),
        "the registry's own message: {body}"
    );
}

#[tokio::test]
async fn a_pull_uses_the_owners_teams_credential_else_a_global_one() {
    let _turn = TURN.lock().await;
    let team = Team::new(POLICY).await;

    // No credential: the registry refuses, and the run says so with 125.
    let (code, body) = run_private(&team, &team.alice).await;
    assert_pull_refused(code, &body);

    // Red's credential: alice (red) pulls with it.
    let red = add(&team, RED_USER, Some("red")).await;
    assert_eq!(red["team"], "red");
    assert_eq!(red["server"], "127.0.0.1:5001");
    let before = authorized_as(RED_USER.0);
    let (code, body) = run_private(&team, &team.alice).await;
    assert_eq!(code, 201, "{body}");
    let after = authorized_as(RED_USER.0);
    assert!(
        after > before,
        "the registry saw red's user: {before} → {after}"
    );

    // Bob is blue: red's credential is not his, so the pull goes anonymous and fails; the
    // registry authorized nothing more as red's user.
    let before = authorized_as(RED_USER.0);
    let (code, body) = run_private(&team, &team.bob).await;
    assert_pull_refused(code, &body);
    assert_eq!(
        authorized_as(RED_USER.0),
        before,
        "red's credential was not sent for blue"
    );

    // A global credential: everyone's runs use it, red's still its own.
    add(&team, EVERYONE_USER, None).await;
    let (before_red, before_all) = (authorized_as(RED_USER.0), authorized_as(EVERYONE_USER.0));
    let (code, body) = run_private(&team, &team.bob).await;
    assert_eq!(code, 201, "{body}");
    assert!(authorized_as(EVERYONE_USER.0) > before_all);
    assert_eq!(authorized_as(RED_USER.0), before_red);
    let before_all = authorized_as(EVERYONE_USER.0);
    let (code, body) = run_private(&team, &team.alice).await;
    assert_eq!(code, 201, "{body}");
    assert!(
        authorized_as(RED_USER.0) > before_red,
        "the team's comes first"
    );
    assert_eq!(authorized_as(EVERYONE_USER.0), before_all);

    // A wrong password for blue: the registry's refusal, 125, and nothing of the password.
    add(&team, (RED_USER.0, "not-the-password"), Some("blue")).await;
    let (code, body) = run_private(&team, &team.bob).await;
    assert_pull_refused(code, &body);
    assert!(!body.to_string().contains("not-the-password"), "{body}");
    docker(&["rmi", "-f", PRIVATE]);
    team.remove_all_runs().await;
}

#[tokio::test]
async fn credentials_are_admins_to_manage_and_never_shown() {
    let _turn = TURN.lock().await;
    let team = Team::new(POLICY).await;
    let red = add(&team, RED_USER, Some("red")).await;
    let global = add(&team, EVERYONE_USER, None).await;
    assert!(red.get("password").is_none(), "{red}");

    // Operators may not add or delete; they list their team's and the global ones.
    let body = json!({"server": "127.0.0.1:5001", "username": "x", "password": "y", "team": "red"});
    let code = status_of(
        http_as(&team.alice)
            .post(team.url("/api/registries"))
            .json(&body),
    )
    .await;
    assert_eq!(code, 403);
    let path = format!("/api/registries/{}", red["id"].as_str().unwrap());
    assert_eq!(
        status_of(http_as(&team.alice).delete(team.url(&path))).await,
        403
    );
    let ids = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let as_alice = team.get_json(&team.alice, "/api/registries").await;
    assert_eq!(ids(&as_alice).len(), 2, "{as_alice}");
    let as_bob = team.get_json(&team.bob, "/api/registries").await;
    assert_eq!(ids(&as_bob), [global["id"].as_str().unwrap()], "{as_bob}");
    let as_admin = team.get_json(&team.admin, "/api/registries").await;
    assert_eq!(ids(&as_admin).len(), 2);

    // Bad entries are refused, clearly.
    for (body, needle) in [
        (
            json!({"server": "a b", "username": "u", "password": "p"}),
            "server",
        ),
        (
            json!({"server": "r.example", "username": "", "password": "p"}),
            "username",
        ),
        (
            json!({"server": "r.example", "username": "u", "password": ""}),
            "password",
        ),
        (
            json!({"server": "r.example", "username": "u", "password": "p", "team": "Red!"}),
            "team",
        ),
        (json!({"server": "r.example", "username": "u"}), "password"),
    ] {
        let (code, refused) = status_and_json(
            http_as(&team.admin)
                .post(team.url("/api/registries"))
                .json(&body),
        )
        .await;
        assert_eq!(code, 400, "{body}: {refused}");
        assert!(error_message(&refused).contains(needle), "{refused}");
    }

    // No password anywhere: answers, the audit log, the database file.
    for list in [&as_alice, &as_bob, &as_admin] {
        assert!(!list.to_string().contains("registry-pass"), "{list}");
    }
    let audit = team.get_json(&team.admin, "/api/audit?limit=100").await;
    assert!(audit.to_string().contains("registry.create"), "{audit}");
    assert!(!audit.to_string().contains("registry-pass"), "{audit}");
    let db = std::fs::read(team.data_dir.join("berth.db")).unwrap();
    for secret in [RED_USER.1, EVERYONE_USER.1] {
        assert!(
            !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} in the database"
        );
    }
    let key = team.data_dir.join("secret.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Deleted: gone from the list, and a second delete is 404.
    let path = format!("/api/registries/{}", red["id"].as_str().unwrap());
    assert_eq!(
        status_of(http_as(&team.admin).delete(team.url(&path))).await,
        204
    );
    assert_eq!(
        status_of(http_as(&team.admin).delete(team.url(&path))).await,
        404
    );
    let as_alice = team.get_json(&team.alice, "/api/registries").await;
    assert_eq!(ids(&as_alice), [global["id"].as_str().unwrap()]);
}
