//! The dashboard end to end: the built `dist/` served by an in-process gateway, driven in
//! headless Chromium against the real engine and loopback registry. Screenshots of the main
//! screens land in target/screenshots/ (docs/screenshots/ with BERTH_UPDATE_SCREENSHOTS=1).
//!
//! Needs `dist/` (trunk build --release) and Debian's chromium + chromium-driver: the README's
//! test command provides both. Missing either fails the tests, it never skips them.
//!
//! Long on purpose: each test is one person's journey through the dashboard in one browser,
//! read top to bottom; what they share (the browser, sign-in, waiting) is in tests/src/.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use berth_server::Config;
use berth_tests::browser::{Browser, dashboard_gateway, dist_dir, one_at_a_time};
use berth_tests::{
    DOCKER_HOST, FIXTURE, PULLABLE, SECOND_DOCKER_HOST, docker, docker_on, spawn_gateway, unique,
};
use serde_json::json;

/// The bootstrap token of this file's gateway, and the dashboard user it creates.
const ADMIN_TOKEN: &str = "e2e-admin-token";
const USER: &str = "e2e-admin";
const PASSWORD: &str = "e2e correct horse battery";

/// The E2E gateway's run policy: operators may run the fixture image, unprivileged.
const POLICY: &str = "[operator]\nallowed_images = [\"berth-fixture:*\"]\n";

const DESKTOP: (u32, u32) = (1280, 860);
const PHONE: (u32, u32) = (390, 844);
/// How long a removed row or banner may take to leave the page.
const GONE_WITHIN: Duration = Duration::from_secs(30);

/// The gateway serving the built dashboard, with a dashboard user when the gateway has users.
async fn base() -> String {
    static BASE: OnceLock<String> = OnceLock::new();
    if let Some(b) = BASE.get() {
        return b.clone();
    }
    let base = dashboard_gateway(ADMIN_TOKEN, Some(POLICY), USER, PASSWORD).await;
    BASE.get_or_init(|| base).clone()
}

/// A signed-in browser on the dashboard.
async fn browser(size: (u32, u32)) -> Browser {
    browser_as(size, USER, PASSWORD).await
}

/// A browser signed in as `username` (through the API: the sign-in page has its own test).
async fn browser_as(size: (u32, u32), username: &str, password: &str) -> Browser {
    browser_on(&base().await, size, username, password).await
}

/// A browser on the gateway at `base`, signed in as `username`, on the Run page.
async fn browser_on(base: &str, size: (u32, u32), username: &str, password: &str) -> Browser {
    let b = Browser::launch(base, size.0, size.1).await;
    b.goto("/login").await;
    b.sign_in(username, password).await;
    b.goto("/").await;
    // The Run page: the form, or why this user cannot run.
    b.find("[data-testid=whoami]").await;
    b.find("[data-testid=run-command], [data-testid=run-forbidden]")
        .await;
    b
}

/// `POST /api/runs` from the browser, with its session: the status and the error message.
async fn post_run_from(b: &Browser, argv: &[&str]) -> (u64, String) {
    let answer = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/api/runs', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                 body: JSON.stringify({argv: arguments[0]})})
               .then(r => r.json().then(j => done([r.status, (j.error || {}).message || ''])),
                     e => done([0, String(e)]));",
            vec![json!(argv)],
        )
        .await
        .expect("POST /api/runs from the page");
    (
        answer[0].as_u64().unwrap_or(0),
        answer[1].as_str().unwrap_or_default().to_string(),
    )
}

/// Whether the focused element is inside the run page's terminal.
async fn focus_in_terminal(b: &Browser) -> bool {
    b.js("return document.activeElement.closest('[data-testid=terminal]') !== null")
        .await
        .as_bool()
        .unwrap_or(true)
}

/// A user made through the API with the gateway's bootstrap admin token; its name and password.
async fn api_user(role: &str, team: &str) -> (String, String) {
    let name = unique(&role[..2]);
    let password = format!("{name} password");
    let created = reqwest::Client::new()
        .post(format!("{}/api/users", base().await))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"username": name, "password": password, "role": role, "team": team}))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(
        created.status().as_u16(),
        201,
        "creating {role} {name}: {}",
        created.text().await.unwrap_or_default()
    );
    (name, password)
}

/// `GET /api/{path}` as the bootstrap admin: the JSON.
async fn admin_get(path: &str) -> serde_json::Value {
    let resp = reqwest::Client::new()
        .get(format!("{}/api/{path}", base().await))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("the gateway answers");
    assert!(
        resp.status().is_success(),
        "GET /api/{path}: {}",
        resp.status()
    );
    resp.json().await.expect("JSON")
}

/// The status and JSON of `GET /api/me` with `token` as the bearer.
async fn me_with(token: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .get(format!("{}/api/me", base().await))
        .bearer_auth(token)
        .send()
        .await
        .expect("the gateway answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

/// Waits until the browser is at `path` (query aside).
async fn wait_path(b: &Browser, path: &str) {
    let started = Instant::now();
    loop {
        let now = b.path().await;
        if now == path {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never got to {path}; still at {now}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pastes `line` into the command field, runs it, and waits for its run page.
async fn run(b: &Browser, line: &str) -> String {
    b.goto("/").await;
    b.paste_command(line).await;
    b.wait_text("#run-command-check", "Valid").await;
    b.click("[data-testid=run-submit]").await;
    let started = Instant::now();
    loop {
        let path = b.path().await;
        if let Some(id) = path.strip_prefix("/runs/") {
            b.find("[data-testid=terminal] .xterm").await;
            return id.to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "submitting {line:?} never opened its run page (still at {path})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn a_pasted_command_shows_its_output_and_exit_status() {
    one_at_a_time(|| async {
        let b = browser(DESKTOP).await;
        run(
            &b,
            &format!(
                "docker run --rm -e GREETING=hello {FIXTURE} sh -c 'echo \"$GREETING from Berth\"; \
             echo \"a line on stderr\" >&2; for i in 1 2 3; do echo \"step $i of 3\"; done'"
            ),
        )
        .await;
        let status = b.wait_text("[data-testid=run-status]", "exited 0").await;
        assert!(status.contains("exited 0"), "{status}");
        let text = b.wait_terminal("step 3 of 3", 1).await;
        assert!(text.contains("hello from Berth"), "{text}");
        assert!(text.contains("a line on stderr"), "{text}");
        // Without a TTY, stderr is drawn in its own colour.
        let colour = b
        .js("const t = document.querySelector('[data-testid=terminal] .term-host').__berth.term;
             const buf = t.buffer.active;
             const colourOf = (needle) => {
               for (let i = 0; i < buf.length; i++) {
                 const line = buf.getLine(i);
                 const at = line.translateToString(true).indexOf(needle);
                 if (at >= 0) { const c = line.getCell(at); return c.isFgDefault() ? 'default' : c.getFgColor(); }
               }
               return 'missing';
             };
             return [colourOf('a line on stderr'), colourOf('hello from Berth')];")
        .await;
        assert_eq!(colour, json!([209, "default"]), "stderr and stdout colours");
        b.screenshot("run").await;
        b.close().await;
    });
}

#[test]
fn typing_into_an_interactive_cat() {
    one_at_a_time(|| async {
        let b = browser(DESKTOP).await;
        run(&b, &format!("docker run -i --rm {FIXTURE} cat")).await;
        b.wait_text("[data-testid=run-status]", "running").await;
        b.click("[data-testid=terminal]").await;
        b.type_into("[data-testid=terminal] textarea", "hello through stdin\n")
            .await;
        // Once echoed as typed, once written back by cat.
        b.wait_terminal("hello through stdin", 2).await;
        b.screenshot("interactive").await;
        // Ctrl-D: end of input, so cat exits 0.
        b.type_into("[data-testid=terminal] textarea", "\u{E009}d\u{E000}")
            .await;
        b.wait_text("[data-testid=run-status]", "exited 0").await;
        b.close().await;
    });
}

#[test]
fn a_pull_from_the_loopback_registry_shows_layer_progress() {
    one_at_a_time(|| async {
        let _ = docker(&["rmi", "-f", PULLABLE]);
        let b = browser(DESKTOP).await;
        run(
            &b,
            &format!("docker run --rm {PULLABLE} echo pulled and ran"),
        )
        .await;
        let progress = b.wait_text("[data-testid=pull-progress]", "layers").await;
        b.wait_text("[data-testid=run-status]", "exited 0").await;
        let progress_done = b
            .wait_text("[data-testid=pull-progress]", "Pull complete")
            .await;
        assert!(progress.contains("of"), "{progress}");
        assert!(
            progress_done.contains("Unable to find image"),
            "the pull's first line is missing: {progress_done}"
        );
        b.wait_terminal("pulled and ran", 1).await;
        b.screenshot("pull").await;
        b.close().await;
    });
}

#[test]
fn a_run_url_shows_the_same_run_in_another_browser_and_after_a_reload() {
    one_at_a_time(|| async {
        let a = browser(DESKTOP).await;
        let id = run(
        &a,
        &format!(
            "docker run --rm {FIXTURE} sh -c 'for i in 1 2 3 4 5 6; do echo shared-line-$i; sleep 0.5; done'"
        ),
    )
    .await;
        a.wait_terminal("shared-line-2", 1).await;

        // Another browser (its own profile and session) opens the URL while the run goes on.
        let b = browser(DESKTOP).await;
        b.goto(&format!("/runs/{id}")).await;
        b.wait_text("[data-testid=run-status]", "exited 0").await;
        let seen_by_b = b.wait_terminal("shared-line-6", 1).await;

        // The first browser reloads mid-run or after it: same run, full output, nothing doubled.
        a.client.refresh().await.expect("reload");
        a.wait_text("[data-testid=run-status]", "exited 0").await;
        let seen_by_a = a.wait_terminal("shared-line-6", 1).await;
        for text in [&seen_by_a, &seen_by_b] {
            for i in 1..=6 {
                assert_eq!(
                    text.matches(&format!("shared-line-{i}")).count(),
                    1,
                    "line {i} once, in:\n{text}"
                );
            }
        }
        b.close().await;
        a.close().await;
    });
}

#[test]
fn a_bad_flag_is_reported_inline_before_submitting() {
    one_at_a_time(|| async {
        let b = browser(DESKTOP).await;
        b.paste_command(&format!("docker run --rm --bogus-flag {FIXTURE}"))
            .await;
        let error = b
            .wait_text("[data-testid=run-error]", "unknown flag: --bogus-flag")
            .await;
        assert!(error.contains("unknown flag"), "{error}");
        let submit = b.find("[data-testid=run-submit]").await;
        assert!(
            !submit.is_enabled().await.unwrap(),
            "a command with an error cannot be submitted"
        );
        // Fixing it in the form (the image field) fixes the command line too.
        b.paste_command("docker run -m 12x").await;
        b.wait_text("[data-testid=run-error]", "").await;
        b.type_into("#f-image", FIXTURE).await;
        b.wait_text("[data-testid=run-error]", "invalid argument \"12x\"")
            .await;
        let line = b
            .find("[data-testid=run-command]")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default();
        assert!(
            line.contains(FIXTURE),
            "the form edited the command: {line}"
        );
        b.screenshot("form-error").await;

        // A pasted command fills the form; "Copy as docker run" copies it.
        b.paste_command(&format!(
            "docker run --rm -e A=1 -p 8080:80 {FIXTURE} echo hi"
        ))
        .await;
        b.wait_text("#run-command-check", "Valid").await;
        let value = |css: &'static str| {
            let b = &b;
            async move {
                b.find(css)
                    .await
                    .prop("value")
                    .await
                    .unwrap()
                    .unwrap_or_default()
            }
        };
        assert_eq!(value("#f-image").await, FIXTURE);
        assert_eq!(value("#f-environment").await, "A=1");
        assert_eq!(value("#f-ports").await, "8080:80");
        assert_eq!(value("#f-command-and-arguments").await, "echo hi");
        b.click("[data-testid=copy-command]").await;
        b.wait_text("[data-testid=copy-command]", "Copied").await;
        b.close().await;
    });
}

#[test]
fn stopping_a_running_container_from_the_list() {
    one_at_a_time(|| async {
        let name = unique("e2e-stop");
        let (ok, _, err) = docker(&[
            "run",
            "-d",
            "--name",
            &name,
            FIXTURE,
            "sh",
            "-c",
            "trap 'exit 0' TERM; while true; do sleep 1; done",
        ]);
        assert!(ok, "docker run -d: {err}");
        let b = browser(DESKTOP).await;
        b.goto("/containers").await;
        let row = format!("[data-testid=containers-table] tr[data-container='{name}']");
        b.wait_text(&row, "running").await;
        b.screenshot("containers").await;
        b.click(&format!("{row} button[data-action=stop]")).await;
        b.wait_text(&row, "exited").await;
        b.close().await;
        docker(&["rm", "-f", &name]);
    });
}

#[test]
fn a_hundred_thousand_lines_do_not_freeze_the_page() {
    one_at_a_time(|| async {
        let b = browser(DESKTOP).await;
        let started = Instant::now();
        run(&b, &format!("docker run --rm {FIXTURE} seq 1 100000")).await;
        b.wait_text("[data-testid=run-status]", "exited 0").await;
        // The page answers while xterm is still drawing: a script round trip stays short.
        let t = Instant::now();
        b.js("return 1").await;
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "the page took {:?} to answer",
            t.elapsed()
        );
        let text = b.wait_terminal("\n100000", 1).await;
        assert!(
            text.contains("\n99999\n"),
            "the end of the output is missing"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "100 000 lines took {:?}",
            started.elapsed()
        );
        b.close().await;
    });
}

/// The screens the README shows: history, a phone-width run, the dark theme.
#[test]
fn screenshots_of_history_phone_and_dark_theme() {
    one_at_a_time(|| async {
        let b = browser(DESKTOP).await;
        run(
            &b,
            &format!("docker run --rm {FIXTURE} sh -c 'echo exiting with 3; exit 3'"),
        )
        .await;
        b.wait_text("[data-testid=run-status]", "exited 3").await;
        run(&b, &format!("docker run --rm {FIXTURE} no-such-command")).await;
        b.wait_text("[data-testid=run-status]", "error 127").await;
        b.goto("/history").await;
        b.wait_text("[data-testid=run-history]", "error 127").await;
        b.wait_text("[data-testid=run-history]", "exited 3").await;
        b.screenshot("history").await;

        // Dark theme, chosen with the header's switch (auto → dark).
        let id = run(
            &b,
            &format!(
                "docker run --rm {FIXTURE} sh -c 'echo dark and light; ls -l /bin | head -n 20'"
            ),
        )
        .await;
        b.wait_text("[data-testid=run-status]", "exited 0").await;
        b.click("[data-testid=theme-toggle]").await;
        b.wait_text("[data-testid=theme-toggle]", "Dark").await;
        b.screenshot("dark").await;
        b.close().await;

        let phone = browser(PHONE).await;
        phone.goto(&format!("/runs/{id}")).await;
        phone
            .wait_text("[data-testid=run-status]", "exited 0")
            .await;
        phone.wait_terminal("dark and light", 1).await;
        phone.screenshot("phone").await;
        phone.goto("/history").await;
        phone
            .wait_text("[data-testid=run-history]", "exited 3")
            .await;
        phone.screenshot("phone-history").await;
        phone.close().await;
    });
}

/// Signed out, any page leads to the sign-in page; signing in comes back to that page, with
/// the user in the header; signing out goes back to the sign-in page.
#[test]
fn a_signed_out_browser_signs_in_on_the_login_page_and_out_again() {
    one_at_a_time(|| async {
        let (name, password) = api_user("operator", "web").await;
        let b = Browser::launch(&base().await, DESKTOP.0, DESKTOP.1).await;
        b.goto("/history").await;
        wait_path(&b, "/login").await;
        let search = b.js("return location.search").await;
        assert_eq!(search, json!("?next=%2Fhistory"), "where to come back to");

        b.type_into("#login-user", &name).await;
        b.type_into("#login-password", "not the password").await;
        b.click("[data-testid=login-submit]").await;
        b.wait_text("[data-testid=login-error]", "Wrong username or password")
            .await;
        b.screenshot("login").await;

        b.type_into("#login-password", &password).await;
        b.click("[data-testid=login-submit]").await;
        wait_path(&b, "/history").await;
        b.wait_text("[data-testid=whoami]", &name).await;
        b.wait_text("[data-testid=whoami-role]", "operator").await;
        b.wait_text("main h1", "History").await;

        b.click("[data-testid=sign-out]").await;
        wait_path(&b, "/login").await;
        b.wait_gone("[data-testid=whoami]", GONE_WITHIN).await;
        // The session is over on the server too.
        let status = b
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 fetch('/api/me').then(r => done(r.status), e => done(String(e)));",
                vec![],
            )
            .await
            .expect("fetch /api/me");
        assert_eq!(status, json!(401), "/api/me after signing out");
        b.close().await;
    });
}

/// An admin adds a user (and is told inline when the name is taken or invalid), creates an API
/// token that is shown once and works as a bearer, then revokes it and it stops working.
#[test]
fn an_admin_manages_users_and_tokens_in_the_dashboard() {
    one_at_a_time(|| async {
        let b = browser(DESKTOP).await;
        b.wait_text("[data-testid=nav]", "Users").await;
        b.goto("/admin/users").await;
        b.wait_text("[data-testid=users-table]", USER).await;

        let name = unique("ui");
        b.type_into("#nu-name", &name).await;
        b.type_into("#nu-password", "a long password").await;
        b.find("#nu-role")
            .await
            .select_by_value("viewer")
            .await
            .expect("choose the role");
        b.type_into("#nu-team", "web").await;
        b.click("[data-testid=new-user-submit]").await;
        b.wait_text(&format!("tr[data-user='{name}']"), "viewer")
            .await;
        let users = admin_get("users").await;
        let made = users
            .as_array()
            .and_then(|u| u.iter().find(|u| u["username"] == json!(name)))
            .unwrap_or_else(|| panic!("{name} is not among the users: {users}"));
        assert_eq!(made["role"], json!("viewer"));
        assert_eq!(made["team"], json!("web"));

        // The same name again: the server's 409, inline.
        b.type_into("#nu-name", &name).await;
        b.type_into("#nu-password", "a long password").await;
        b.click("[data-testid=new-user-submit]").await;
        let error = b
            .wait_text("[data-testid=new-user-error]", "already exists")
            .await;
        assert!(error.contains("taken"), "{error}");
        b.screenshot("users").await;

        // A bad name: the server's 400, inline.
        let field = b.find("#nu-name").await;
        field.clear().await.expect("clear");
        field.send_keys("Not Valid").await.expect("type");
        b.click("[data-testid=new-user-submit]").await;
        b.wait_text("[data-testid=new-user-error]", "username: 1 to 32")
            .await;

        // Delete the new user (asks once more).
        b.confirm_click(&format!("tr[data-user='{name}'] [data-action=delete]"))
            .await;
        b.wait_gone(&format!("tr[data-user='{name}']"), GONE_WITHIN)
            .await;
        let users = admin_get("users").await;
        assert!(
            !users.to_string().contains(&format!("\"{name}\"")),
            "{name} is still a user: {users}"
        );

        // A token, shown once.
        b.goto("/tokens").await;
        b.find("[data-testid=new-token]").await;
        let token_name = unique("token");
        b.type_into("#nt-name", &token_name).await;
        b.click("[data-testid=new-token-submit]").await;
        b.wait_text("[data-testid=token-once]", "you will not see it again")
            .await;
        let token = b
            .find("[data-testid=new-token-value]")
            .await
            .prop("value")
            .await
            .expect("read the token")
            .unwrap_or_default();
        assert!(token.starts_with("berth_"), "{token:?}");
        b.wait_text("[data-testid=tokens-table]", &token_name).await;
        b.screenshot("tokens").await;

        let (status, me) = me_with(&token).await;
        assert_eq!(status, 200, "the new token as a bearer: {me}");
        assert_eq!(me["username"], json!(USER));

        // Once: a fresh page lists it without its secret.
        b.goto("/tokens").await;
        b.wait_text("[data-testid=tokens-table]", &token_name).await;
        let source = b.client.source().await.expect("page source");
        assert!(!source.contains(&token), "the secret is shown again");

        let tokens = admin_get("tokens").await;
        let id = tokens
            .as_array()
            .and_then(|t| t.iter().find(|t| t["name"] == json!(token_name)))
            .and_then(|t| t["id"].as_str())
            .unwrap_or_else(|| panic!("{token_name} is not among the tokens: {tokens}"))
            .to_string();
        b.confirm_click(&format!("tr[data-token='{id}'] [data-action=revoke]"))
            .await;
        b.wait_gone(&format!("tr[data-token='{id}']"), GONE_WITHIN)
            .await;
        let (status, _) = me_with(&token).await;
        assert_eq!(status, 401, "a revoked token still works");
        b.close().await;
    });
}

/// A viewer sees no admin pages, no Run entry and no run form, but why not; so does an operator
/// the policy gives no rules to; the gateway refuses their runs all the same. An operator whose
/// run the policy refuses sees the server's reason on the form, naming the rule.
#[test]
fn viewers_and_policy_denials_are_told_clearly_why_they_cannot_run() {
    one_at_a_time(|| async {
        let (viewer, password) = api_user("viewer", "web").await;
        let b = browser_as(DESKTOP, &viewer, &password).await;
        b.wait_text("[data-testid=whoami-role]", "viewer").await;
        let nav = b.wait_text("[data-testid=nav]", "Tokens").await;
        assert!(
            !nav.contains("Users") && !nav.contains("Audit") && !nav.contains("Run"),
            "a viewer's nav: {nav}"
        );
        b.wait_text(
            "[data-testid=run-forbidden]",
            "Your role (viewer) cannot run containers",
        )
        .await;
        for css in ["[data-testid=run-command]", "[data-testid=run-submit]"] {
            assert!(
                b.client
                    .find_all(fantoccini::Locator::Css(css))
                    .await
                    .expect("find")
                    .is_empty(),
                "a viewer is offered {css}"
            );
        }
        // Not only hidden: the gateway refuses the viewer's run.
        let (status, message) = post_run_from(&b, &[FIXTURE, "echo", "hi"]).await;
        assert_eq!(status, 403, "a viewer's run: {message}");
        b.goto("/admin/users").await;
        b.wait_text("[data-testid=admins-only]", "for admins").await;
        b.close().await;

        let (operator, password) = api_user("operator", "web").await;
        let b = browser_as(DESKTOP, &operator, &password).await;
        b.wait_text("[data-testid=nav]", "Run").await;
        b.paste_command(&format!("docker run --rm --privileged {FIXTURE} echo hi"))
            .await;
        b.wait_text("#run-command-check", "Valid").await;
        b.click("[data-testid=run-submit]").await;
        let error = b
            .wait_text(
                "[data-testid=submit-error]",
                "denied by policy rule `privileged`",
            )
            .await;
        assert!(error.contains("Not allowed"), "{error}");
        assert_eq!(b.path().await, "/", "a denied run opened a run page");
        b.screenshot("policy-denied").await;
        b.close().await;

        // A gateway without a policy file: operators may run nothing, and are told so.
        let mut config = Config::local(DOCKER_HOST);
        config.static_dir = dist_dir();
        config.admin_token = Some(ADMIN_TOKEN.into());
        let strict = format!("http://{}", spawn_gateway(config));
        let (name, password) = (unique("op"), "an operator password");
        let created = reqwest::Client::new()
            .post(format!("{strict}/api/users"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"username": name, "password": password, "role": "operator"}))
            .send()
            .await
            .expect("the gateway answers");
        assert_eq!(created.status().as_u16(), 201, "creating operator {name}");
        let b = browser_on(&strict, DESKTOP, &name, password).await;
        b.wait_text(
            "[data-testid=run-forbidden]",
            "The policy does not let operators run containers; ask an admin",
        )
        .await;
        let nav = b.wait_text("[data-testid=nav]", "Containers").await;
        assert!(!nav.contains("Run"), "an operator without rules: {nav}");
        b.screenshot("cannot-run").await;
        let (status, message) = post_run_from(&b, &[FIXTURE, "echo", "hi"]).await;
        assert_eq!(status, 403, "{message}");
        assert!(message.contains("may not run"), "{message}");
        b.close().await;
    });
}

/// The audit log lists sign-ins and user changes, newest first, and exports JSON lines.
#[test]
fn the_audit_page_lists_sign_ins_and_user_changes() {
    one_at_a_time(|| async {
        let b = browser(DESKTOP).await;
        let (name, _) = api_user("viewer", "").await;
        b.goto("/admin/audit").await;
        let table = b.wait_text("[data-testid=audit-table]", &name).await;
        assert!(table.contains("user.create"), "{table}");
        assert!(table.contains("login"), "{table}");
        // Newest first.
        let rows: Vec<i64> = b
            .js("return [...document.querySelectorAll('[data-audit]')].map(r => Number(r.dataset.audit))")
            .await
            .as_array()
            .expect("ids")
            .iter()
            .filter_map(|v| v.as_i64())
            .collect();
        assert!(
            rows.windows(2).all(|w| w[0] > w[1]),
            "not newest first: {rows:?}"
        );
        b.screenshot("audit").await;
        // At phone width the table becomes cards.
        b.resize(PHONE.0, PHONE.1).await;
        b.wait_text("[data-testid=audit-table]", &name).await;
        b.screenshot("phone-audit").await;
        b.resize(DESKTOP.0, DESKTOP.1).await;

        // The export link downloads the whole log as JSON lines, with the session cookie.
        let href = b
            .find("[data-testid=audit-export]")
            .await
            .attr("href")
            .await
            .expect("href")
            .unwrap_or_default();
        assert_eq!(href, "/api/audit?format=jsonl&limit=100000");
        let body = b
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 fetch(arguments[0]).then(r => r.text()).then(done, e => done(String(e)));",
                vec![json!(href)],
            )
            .await
            .expect("fetch the export");
        let body = body.as_str().unwrap_or_default();
        let lines: Vec<serde_json::Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert!(
            lines
                .iter()
                .any(|e| e["action"] == json!("user.create") && e["target"] == json!(name)),
            "the export lacks the user creation"
        );
        b.close().await;
    });
}

/// The gateway serves dist/ on the API's origin: compressed, and index.html for app routes
/// (so a run URL works when opened or reloaded), never for API paths.
#[test]
fn the_gateway_serves_the_dashboard_compressed_with_an_app_fallback() {
    one_at_a_time(|| async {
        let base = base().await;
        let http = reqwest::Client::new();
        let page = http
            .get(format!("{base}/runs/some-run-id"))
            .send()
            .await
            .expect("GET a run URL");
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        let wasm = html
            .split('"')
            .find(|s| s.ends_with("_bg.wasm"))
            .unwrap_or_else(|| panic!("index.html names no wasm:\n{html}"))
            .to_string();
        for asset in [wasm.as_str(), "/vendor/xterm.mjs"] {
            let resp = http
                .get(format!("{base}{asset}"))
                .header("Accept-Encoding", "gzip, br")
                .send()
                .await
                .expect("GET an asset");
            assert_eq!(resp.status(), 200, "{asset}");
            let encoding = resp
                .headers()
                .get("content-encoding")
                .map(|v| v.to_str().unwrap_or_default().to_string());
            assert!(
                matches!(encoding.as_deref(), Some("gzip" | "br")),
                "{asset} is served uncompressed ({encoding:?})"
            );
        }
        let api = http
            .get(format!("{base}/api/no-such-route"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("GET an unknown API path");
        assert_eq!(api.status(), 404, "an unknown API path is not the app");
    });
}

/// The page's terminal size as `stty size` prints it: "ROWS COLS".
async fn tty_size(b: &Browser) -> String {
    let size = b
        .js(
            "const t = document.querySelector('[data-testid=terminal] .term-host').__berth.term;
             return t.rows + ' ' + t.cols;",
        )
        .await;
    size.as_str().unwrap_or_default().to_string()
}

/// `-it`: keys go to a real TTY, whose size follows the terminal on the page.
#[test]
fn a_tty_shell_takes_keys_and_follows_the_terminal_size() {
    one_at_a_time(|| async {
        let b = browser(DESKTOP).await;
        run(&b, &format!("docker run -it --rm {FIXTURE} sh")).await;
        b.wait_text("[data-testid=run-status]", "running").await;
        b.click("[data-testid=terminal]").await;
        let term = "[data-testid=terminal] textarea";
        b.type_into(term, "echo answer=$((6*7))\n").await;
        b.wait_terminal("answer=42", 1).await;
        b.type_into(term, "stty size\n").await;
        b.wait_terminal(&tty_size(&b).await, 1).await;

        // A narrower window: the TTY is resized with the terminal.
        b.resize(900, 700).await;
        let small = tty_size(&b).await;
        b.type_into(term, "clear; stty size\n").await;
        b.wait_terminal(&small, 1).await;
        b.type_into(term, "exit 0\n").await;
        b.wait_text("[data-testid=run-status]", "exited 0").await;
        b.close().await;
    });
}

/// Starts a run of eight numbered lines with every WebSocket of the page recorded (and what it
/// sends, in `window.__sent`; a watch's `from` is replaced by `refuse_from` once, when given),
/// and cuts them all once the second line shows. Returns the terminal's text at the end, having
/// checked that every line is there exactly once.
async fn run_and_drop_the_connection(b: &Browser, refuse_from: Option<u64>) -> String {
    // Keep a handle on every WebSocket the page opens, to cut them from the outside.
    b.client
        .execute(
            r#"const Native = window.WebSocket;
             window.__sockets = [];
             window.__sent = [];
             window.__refuseFrom = arguments[0];
             window.WebSocket = class extends Native {
               constructor(...args) { super(...args); window.__sockets.push(this); }
               send(data) {
                 if (typeof data === 'string') {
                   if (window.__refuseFrom !== null && data.includes('"from"')) {
                     data = data.replace(/"from":\d+/, '"from":' + window.__refuseFrom);
                     window.__refuseFrom = null;
                   }
                   window.__sent.push(data);
                 }
                 return super.send(data);
               }
             };
             return null;"#,
            vec![json!(refuse_from)],
        )
        .await
        .expect("record the page's WebSockets");
    b.paste_command(&format!(
        "docker run --rm {FIXTURE} sh -c 'for i in 1 2 3 4 5 6 7 8; do echo drop-line-$i; sleep 0.4; done'"
    ))
    .await;
    b.wait_text("#run-command-check", "Valid").await;
    b.click("[data-testid=run-submit]").await;
    b.wait_terminal("drop-line-2", 1).await;
    b.js("window.__sockets.forEach(s => s.close()); return null;")
        .await;
    b.wait_text("[data-testid=run-status]", "exited 0").await;
    let text = b.wait_terminal("drop-line-8", 1).await;
    for i in 1..=8 {
        assert_eq!(
            text.matches(&format!("drop-line-{i}\n")).count()
                + usize::from(text.ends_with(&format!("drop-line-{i}"))),
            1,
            "line {i} once, in:\n{text}"
        );
    }
    text
}

/// The first messages the page sent on its WebSockets, parsed.
async fn sent_messages(b: &Browser) -> Vec<serde_json::Value> {
    b.js("return window.__sent")
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|m| serde_json::from_str(m.as_str()?).ok())
        .collect()
}

/// The run's WebSocket drops mid-run: the page reconnects as a watcher of the same run, asks
/// only for the output after what it has (`from`), and shows every line once.
#[test]
fn a_dropped_connection_resumes_without_losing_or_doubling_output() {
    one_at_a_time(|| async {
        let b = browser(DESKTOP).await;
        run_and_drop_the_connection(&b, None).await;
        let sent = sent_messages(&b).await;
        let resumed = sent
            .iter()
            .find(|m| m["type"] == json!("watch"))
            .unwrap_or_else(|| panic!("the page never reconnected as a watcher: {sent:?}"));
        let from = resumed["from"].as_u64().unwrap_or(0);
        // At least "drop-line-1\ndrop-line-2\n" was on the page when the socket dropped.
        assert!(from >= 24, "the reconnect asked for output from {resumed}");
        b.close().await;
    });
}

/// The gateway refuses a resume (`from` past its output, as after a restart that read the run
/// back with less): the page clears the terminal and watches the whole run again, once.
#[test]
fn a_refused_resume_replays_the_whole_run_once() {
    one_at_a_time(|| async {
        let b = browser(DESKTOP).await;
        run_and_drop_the_connection(&b, Some(1 << 40)).await;
        let watches: Vec<_> = sent_messages(&b)
            .await
            .into_iter()
            .filter(|m| m["type"] == json!("watch"))
            .collect();
        assert!(
            watches.len() >= 2
                && watches[0]["from"] == json!(1u64 << 40)
                && watches[1].get("from").is_none(),
            "a refused resume, then a watch from the start: {watches:?}"
        );
        b.close().await;
    });
}

/// Tab leaves a terminal that takes no input; one that does keeps Tab, and Ctrl+Shift+Down /
/// Ctrl+Shift+Up (shown next to it) move focus to the controls below / above it.
#[test]
fn the_keyboard_can_leave_the_terminal() {
    one_at_a_time(|| async {
        let b = browser(DESKTOP).await;
        let term = "[data-testid=terminal] textarea";
        run(&b, &format!("docker run --rm {FIXTURE} echo no input here")).await;
        b.wait_text("[data-testid=run-status]", "exited 0").await;
        b.click("[data-testid=terminal]").await;
        assert!(
            focus_in_terminal(&b).await,
            "clicking the terminal focuses it"
        );
        b.type_into(term, "\u{E004}").await;
        assert!(
            !focus_in_terminal(&b).await,
            "Tab stayed in an output-only terminal"
        );
        b.wait_gone("[data-testid=terminal-keys]", GONE_WITHIN)
            .await;

        run(&b, &format!("docker run -i --rm {FIXTURE} cat")).await;
        b.wait_text("[data-testid=run-status]", "running").await;
        b.wait_text("[data-testid=terminal-keys]", "leaves the terminal")
            .await;
        b.click("[data-testid=terminal]").await;
        b.type_into(term, "\u{E004}").await;
        assert!(
            focus_in_terminal(&b).await,
            "Tab left a terminal that takes input"
        );
        b.type_into(term, "\u{E009}\u{E008}\u{E015}\u{E000}").await;
        let below = b
            .js("const el = document.activeElement;
                 return [el.closest('[data-testid=terminal]') === null, el.closest('.controls') !== null]")
            .await;
        assert_eq!(
            below,
            json!([true, true]),
            "Ctrl+Shift+Down: focus on the controls below"
        );
        b.click("[data-testid=terminal]").await;
        b.type_into(term, "\u{E009}\u{E008}\u{E013}\u{E000}").await;
        let above = b
            .js("const el = document.activeElement;
                 const t = document.querySelector('[data-testid=terminal]');
                 return el !== document.body
                   && !!(t.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_PRECEDING)")
            .await;
        assert_eq!(
            above,
            json!(true),
            "Ctrl+Shift+Up: focus on a control above"
        );
        // The run still takes keys: Ctrl-D ends cat.
        b.type_into(term, "\u{E009}d\u{E000}").await;
        b.wait_text("[data-testid=run-status]", "exited 0").await;
        b.close().await;
    });
}

/// The test bed's two dockerds as a gateway's engines file names them: `one` (zone a), then
/// `two` (zone b).
fn two_engines_toml() -> String {
    format!(
        "[engines.one]\nhost = \"{DOCKER_HOST}\"\nlabels = {{ zone = \"a\" }}\n\n\
         [engines.two]\nhost = \"{SECOND_DOCKER_HOST}\"\nlabels = {{ zone = \"b\" }}\n"
    )
}

/// A gateway of its own over the two engines of [`two_engines_toml`], with the dashboard user.
async fn two_engine_gateway() -> String {
    // A minute's grace: the fault tests of tests/tests/engines.rs, if they run meanwhile, kill
    // the second engine and start it again.
    let started = Instant::now();
    for host in [DOCKER_HOST, SECOND_DOCKER_HOST] {
        loop {
            let (ok, _, err) = docker_on(host, &["version", "--format", "{{.Server.APIVersion}}"]);
            if ok {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no Docker engine at {host}: run scripts/testbed.sh ({err})"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    let mut config = Config::local(DOCKER_HOST);
    config.static_dir = dist_dir();
    config.admin_token = Some(ADMIN_TOKEN.into());
    let engines = config.data_dir.with_extension("engines.toml");
    std::fs::write(&engines, two_engines_toml()).expect("write the engines file");
    config.engines = Some(engines);
    let base = format!("http://{}", spawn_gateway(config));
    let created = reqwest::Client::new()
        .post(format!("{base}/api/users"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"username": USER, "password": PASSWORD, "role": "admin"}))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(created.status().as_u16(), 201, "creating {USER}");
    base
}

/// Whether the engine at `host` has a container named `name`.
fn has_container(host: &str, name: &str) -> bool {
    docker_on(host, &["container", "inspect", "--format", "{{.Id}}", name]).0
}

/// With two engines: the Engines page lists both, reachable, with their labels (and, for an
/// admin, their hosts); the Run form's picker (Automatic by default) sends a run to `two`,
/// where the engine itself has it, and the run page and the history say `two`. On the
/// containers page, where the same name is now on both engines, each row names its engine,
/// the filter keeps to one, and Remove removes the row's container and not its namesake.
#[test]
fn a_run_goes_to_the_engine_picked_on_the_form() {
    one_at_a_time(|| async {
        let base = two_engine_gateway().await;
        let b = browser_on(&base, DESKTOP, USER, PASSWORD).await;
        b.wait_text("[data-testid=nav]", "Engines").await;
        b.click("[data-testid=nav] a[href='/engines']").await;
        wait_path(&b, "/engines").await;
        for name in ["one", "two"] {
            b.find(&format!(
                "[data-testid=engines-table] tr[data-engine='{name}'][data-reachable=true]"
            ))
            .await;
        }
        let table = b.wait_text("[data-testid=engines-table]", "zone=b").await;
        assert!(table.contains("zone=a"), "{table}");
        assert!(
            table.contains(SECOND_DOCKER_HOST),
            "an admin sees the hosts: {table}"
        );
        // The header agrees: no banner, both engines up.
        b.wait_gone("[data-testid=banner]", GONE_WITHIN).await;
        let status = b
            .wait_text("[data-testid=engine-status]", "2 engines")
            .await;
        assert_eq!(status, "2 engines", "the header's engine status");
        b.screenshot("engines").await;

        // The form: Automatic unless chosen; the engine is no docker flag.
        b.goto("/").await;
        let picker = b.find("[data-testid=run-engine]").await;
        b.find("[data-testid=run-engine] option[value=two]").await;
        let chosen = |el: &fantoccini::elements::Element| {
            let el = el.clone();
            async move { el.prop("value").await.unwrap().unwrap_or_default() }
        };
        assert_eq!(chosen(&picker).await, "", "Automatic by default");
        let name = unique("e2e-pick");
        let line = format!("docker run --name {name} {FIXTURE} echo ran on engine two");
        b.paste_command(&line).await;
        b.wait_text("#run-command-check", "Valid").await;
        picker
            .select_by_value("two")
            .await
            .expect("pick engine two");
        assert_eq!(chosen(&picker).await, "two");
        let command = b
            .find("[data-testid=run-command]")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default();
        assert_eq!(command, line, "picking an engine changed the command line");
        b.screenshot("run-engine-picker").await;

        b.click("[data-testid=run-submit]").await;
        let started = Instant::now();
        let id = loop {
            if let Some(id) = b.path().await.strip_prefix("/runs/") {
                break id.to_string();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the run page never opened"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        b.wait_text("[data-testid=run-status]", "exited 0").await;
        b.wait_terminal("ran on engine two", 1).await;
        b.wait_text("[data-testid=run-engine]", "two").await;
        assert!(
            has_container(SECOND_DOCKER_HOST, &name) && !has_container(DOCKER_HOST, &name),
            "{name} is not on engine two alone"
        );
        b.goto("/history").await;
        b.wait_text(&format!("tr[data-run='{id}']"), "exited 0")
            .await;
        b.wait_text(&format!("tr[data-run='{id}'] td[data-label=Engine]"), "two")
            .await;

        // The same name on engine one too: two rows, each with its engine.
        let (ok, _, err) = docker_on(DOCKER_HOST, &["create", "--name", &name, FIXTURE, "true"]);
        assert!(ok, "docker create on engine one: {err}");
        b.goto("/containers").await;
        let on = |engine: &str| format!("tr[data-container='{name}'][data-engine='{engine}']");
        b.wait_text(&format!("{} td[data-label=Engine]", on("one")), "one")
            .await;
        b.wait_text(&format!("{} td[data-label=Engine]", on("two")), "two")
            .await;
        b.find("[data-testid=engine-filter]")
            .await
            .select_by_value("two")
            .await
            .expect("filter on engine two");
        b.wait_gone(&on("one"), GONE_WITHIN).await;
        let engines_shown = b
            .js("return [...new Set([...document.querySelectorAll('[data-testid=containers-table] tr[data-engine]')].map(r => r.dataset.engine))]")
            .await;
        assert_eq!(engines_shown, json!(["two"]), "the filter on engine two");
        b.find("[data-testid=engine-filter]")
            .await
            .select_by_value("")
            .await
            .expect("all engines again");
        b.wait_text(&on("one"), "one").await;
        b.confirm_click(&format!("{} button[data-action=remove]", on("two")))
            .await;
        b.wait_gone(&on("two"), GONE_WITHIN).await;
        b.find(&on("one")).await;
        assert!(
            !has_container(SECOND_DOCKER_HOST, &name),
            "engine two still has {name}"
        );
        assert!(
            has_container(DOCKER_HOST, &name),
            "removing the container on engine two removed its namesake on engine one"
        );
        docker(&["rm", "-f", &name]);

        // Each engine's images, each row with its engine; "Run…" runs it where it is.
        b.goto("/images").await;
        for engine in ["one", "two"] {
            b.find(&format!(
                "[data-testid=images-table] tr[data-engine={engine}]"
            ))
            .await;
        }
        b.click("[data-testid=images-table] tr[data-engine=two] .row-actions button")
            .await;
        wait_path(&b, "/").await;
        b.find("[data-testid=run-engine] option[value=two]").await;
        let picker = b.find("[data-testid=run-engine]").await;
        assert_eq!(chosen(&picker).await, "two", "Run… on engine two's image");
        b.close().await;
    });
}
