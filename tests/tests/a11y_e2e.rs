//! Accessibility of every page of the dashboard (issue 15): axe-core's WCAG 2 A and AA rules
//! (2.0, 2.1 and 2.2), run inside headless Chromium on the built `dist/` served by an
//! in-process gateway against the real engine. Every page — the Run form (empty, with an inline
//! error, and for a viewer who may not run), a finished run's page with its output, a running
//! run's page with its live CPU and memory charts and Console button, Containers, Images,
//! Engines, History, Tokens (with a new token shown once), Registries, a console, Users, Audit,
//! Templates (and one being edited), a demo's try page for a guest (before, during and after a
//! session), the sign-in page (and after a wrong password), a run the policy refuses, "admins
//! only" and "not found", on a gateway with two engines — is checked in the light and the dark theme, at laptop
//! (1280×800) and phone (390×844) widths. The test fails listing every serious or critical
//! violation (rule, element, message); the lesser ones are printed.
//!
//! axe-core comes from npm (`package.json`, installed into node_modules by
//! scripts/dashboard-tools.sh) and is injected into each page through WebDriver; nothing is
//! fetched from a CDN. Needs what tests/tests/e2e.rs needs besides: `dist/` and Debian's
//! chromium and chromium-driver. Missing any of them fails the test, it never skips it.

use std::path::Path;
use std::time::{Duration, Instant};

use berth_server::Config;
use berth_tests::browser::{Browser, WAIT, dist_dir, one_at_a_time};
use berth_tests::{
    DOCKER_HOST, FIXTURE, PULLABLE, SECOND_DOCKER_HOST, docker, docker_on, spawn_gateway, unique,
};
use serde_json::{Value, json};

const ADMIN_TOKEN: &str = "a11y-e2e-admin-token";
const ADMIN: &str = "a11y-admin";
const PASSWORD: &str = "a11y e2e correct horse battery";

/// Operators and guests may run the fixture (guests for the demo's try page).
const POLICY: &str = "[operator]\nallowed_images = [\"berth-fixture:*\"]\n\n\
                      [guest]\nallowed_images = [\"berth-fixture:*\"]\nmax_memory = \"64m\"\n\
                      max_cpus = 0.5\nmax_pids = 64\n";

const LAPTOP: (u32, u32) = (1280, 800);
const PHONE: (u32, u32) = (390, 844);
const THEMES: [&str; 2] = ["light", "dark"];

/// WCAG 2.0, 2.1 and 2.2, levels A and AA, as axe-core tags its rules.
const TAGS: [&str; 5] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];

/// axe-core's browser build, from node_modules.
fn axe_source() -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. Install it with `npm ci` (scripts/dashboard-tools.sh does)",
            file.display()
        )
    })
}

/// One violation as found: where, the rule, and the element.
struct Found {
    page: String,
    combo: String,
    impact: String,
    rule: String,
    target: String,
    message: String,
}

struct Audit {
    axe: String,
    found: Vec<Found>,
    /// Serious or critical violations (nodes) per page, before any filter: the report's table.
    per_page: Vec<(String, usize, usize)>,
    runs: usize,
}

impl Audit {
    /// Checks the page the browser is on, in both themes at both widths, and leaves it at
    /// laptop width in the light theme.
    async fn check(&mut self, b: &Browser, page: &str) {
        self.check_in(b, page, &[LAPTOP, PHONE], &THEMES).await;
    }

    async fn check_in(&mut self, b: &Browser, page: &str, sizes: &[(u32, u32)], themes: &[&str]) {
        let present = b
            .js("return typeof window.axe === 'object'")
            .await
            .as_bool()
            .unwrap_or(false);
        if !present {
            b.client
                .execute(&self.axe, vec![])
                .await
                .unwrap_or_else(|e| panic!("injecting axe-core into {page}: {e}"));
        }
        let (mut serious, mut lesser) = (0, 0);
        let mut review: Vec<String> = Vec::new();
        for &(width, height) in sizes {
            b.resize(width, height).await;
            for &theme in themes {
                set_theme(b, theme).await;
                let combo = format!("{theme} {width}x{height}");
                let result = b
                    .client
                    .execute_async(
                        "const done = arguments[arguments.length - 1];
                         axe.run(document, {runOnly: {type: 'tag', values: arguments[0]},
                                            resultTypes: ['violations']})
                           .then(r => done({
                               violations: r.violations.map(v => ({
                                   id: v.id, impact: v.impact, help: v.help,
                                   nodes: v.nodes.map(n => ({target: n.target.join(' '),
                                                             impact: n.impact,
                                                             message: n.failureSummary}))})),
                               // What axe could not decide alone (e.g. text over an image).
                               review: r.incomplete.map(v => v.id + ' `' + v.nodes.map(n => n.target.join(' ')).join('`, `') + '`')}),
                                 e => done({error: String(e)}));",
                        vec![json!(TAGS)],
                    )
                    .await
                    .unwrap_or_else(|e| panic!("axe.run on {page} ({combo}): {e}"));
                self.runs += 1;
                assert!(
                    result.get("error").is_none(),
                    "axe.run on {page} ({combo}): {result}"
                );
                for r in result["review"].as_array().into_iter().flatten() {
                    let r = r.as_str().unwrap_or_default();
                    if !review.iter().any(|seen| seen == r) {
                        review.push(r.to_string());
                    }
                }
                for v in result["violations"].as_array().into_iter().flatten() {
                    for n in v["nodes"].as_array().into_iter().flatten() {
                        let impact = n["impact"]
                            .as_str()
                            .or(v["impact"].as_str())
                            .unwrap_or("?")
                            .to_string();
                        if matches!(impact.as_str(), "serious" | "critical") {
                            serious += 1;
                        } else {
                            lesser += 1;
                        }
                        self.found.push(Found {
                            page: page.to_string(),
                            combo: combo.clone(),
                            impact,
                            rule: v["id"].as_str().unwrap_or("?").to_string(),
                            target: n["target"].as_str().unwrap_or("?").to_string(),
                            message: format!(
                                "{}: {}",
                                v["help"].as_str().unwrap_or_default(),
                                n["message"].as_str().unwrap_or_default().replace('\n', " ")
                            ),
                        });
                    }
                }
            }
        }
        println!(
            "a11y: {page}: {serious} serious or critical, {lesser} lesser; for review: {}",
            if review.is_empty() {
                "none".to_string()
            } else {
                review.join(", ")
            }
        );
        self.per_page.push((page.to_string(), serious, lesser));
        b.resize(LAPTOP.0, LAPTOP.1).await;
        set_theme(b, "light").await;
    }
}

impl Audit {
    /// Checks the page as it is now, at laptop width in the light theme only (a state that
    /// does not last long enough for four runs).
    async fn check_one(&mut self, b: &Browser, page: &str) {
        self.check_in(b, page, &[LAPTOP], &["light"]).await;
    }
}

/// The theme as the header's switch sets it (`<html data-theme>`, remembered for reloads),
/// then two frames for the styles to apply.
async fn set_theme(b: &Browser, theme: &str) {
    b.client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             document.documentElement.setAttribute('data-theme', arguments[0]);
             localStorage.setItem('berth.theme', arguments[0]);
             requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
            vec![json!(theme)],
        )
        .await
        .expect("set the theme");
}

/// `method path` with the bootstrap admin token: the status and the JSON answer.
async fn as_admin(base: &str, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("the gateway answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Starts a run through the API: its id.
async fn start_run(base: &str, argv: &[&str]) -> String {
    let (status, answer) = as_admin(
        base,
        reqwest::Method::POST,
        "/api/runs",
        json!({ "argv": argv }),
    )
    .await;
    assert_eq!(status, 201, "POST /api/runs {argv:?}: {answer}");
    answer["run_id"].as_str().expect("a run id").to_string()
}

/// Waits until the run's state is `state`.
async fn wait_run(base: &str, id: &str, state: &str) {
    let started = Instant::now();
    loop {
        let (_, run) = as_admin(
            base,
            reqwest::Method::GET,
            &format!("/api/runs/{id}"),
            Value::Null,
        )
        .await;
        if run["state"] == state {
            return;
        }
        assert!(
            started.elapsed() < WAIT,
            "run {id} never got to {state}: {run}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A gateway over the test bed's two engines (`one` and `two`: the pages then show engine chips,
/// the Run form's picker and the lists' filters), with the policy and the dashboard's admin.
async fn two_engine_gateway() -> String {
    let (ok, _, err) = docker(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert!(ok, "no Docker engine: run scripts/testbed.sh ({err})");
    let mut config = Config::local(DOCKER_HOST);
    config.static_dir = dist_dir();
    config.admin_token = Some(ADMIN_TOKEN.into());
    let policy = config.data_dir.with_extension("policy.toml");
    std::fs::write(&policy, POLICY).expect("write the policy");
    config.policy = Some(policy);
    let engines = config.data_dir.with_extension("engines.toml");
    std::fs::write(
        &engines,
        format!(
            "[engines.one]\nhost = \"{DOCKER_HOST}\"\nlabels = {{ zone = \"a\" }}\n\n\
             [engines.two]\nhost = \"{SECOND_DOCKER_HOST}\"\nlabels = {{ zone = \"b\" }}\n"
        ),
    )
    .expect("write the engines file");
    config.engines = Some(engines);
    let base = format!("http://{}", spawn_gateway(config));
    let (status, body) = as_admin(
        &base,
        reqwest::Method::POST,
        "/api/users",
        json!({"username": ADMIN, "password": PASSWORD, "role": "admin"}),
    )
    .await;
    assert_eq!(status, 201, "the dashboard's admin: {body}");
    base
}

/// Signs the browser out (through the API) and in again as `username`.
async fn sign_in_as(b: &Browser, username: &str, password: &str) {
    let status = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/api/logout', {method: 'POST'}).then(r => done(r.status), e => done(String(e)));",
            vec![],
        )
        .await
        .expect("sign-out script");
    assert!(
        status.as_u64().is_some_and(|s| s < 300),
        "signing out: {status}"
    );
    b.sign_in(username, password).await;
}

/// A user made with the bootstrap token: their password.
async fn api_user(base: &str, name: &str, role: &str) -> String {
    let password = format!("{name}'s long password");
    let (status, body) = as_admin(
        base,
        reqwest::Method::POST,
        "/api/users",
        json!({"username": name, "password": password, "role": role, "team": "readers"}),
    )
    .await;
    assert_eq!(status, 201, "a {role}: {body}");
    password
}

/// Removes the container when the test ends, passed or failed.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        docker(&["rm", "-f", &self.0]);
    }
}

#[test]
fn every_page_passes_axe_core_in_both_themes_at_laptop_and_phone_widths() {
    one_at_a_time(|| async {
        let started = Instant::now();
        let base = two_engine_gateway().await;
        let mut audit = Audit {
            axe: axe_source(),
            found: Vec::new(),
            per_page: Vec::new(),
            runs: 0,
        };

        // What the pages show: finished runs (one failed, with stderr), a run that goes on, a
        // running container, a token, a registry credential, a viewer, a public template.
        let ok_run = start_run(
            &base,
            &[FIXTURE, "sh", "-c", "echo hello from a finished run"],
        )
        .await;
        let bad_run = start_run(
            &base,
            &[
                FIXTURE,
                "sh",
                "-c",
                "echo some output; echo an error >&2; exit 3",
            ],
        )
        .await;
        let live_run = start_run(
            &base,
            &[
                "-m",
                "64m",
                FIXTURE,
                "sh",
                "-c",
                "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo tick $i; sleep 1; done",
            ],
        )
        .await;
        let name = unique("a11y");
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
        let _container = Container(name.clone());
        docker(&[
            "create",
            "--name",
            &format!("{name}-created"),
            FIXTURE,
            "true",
        ]);
        let _created = Container(format!("{name}-created"));
        let (status, body) = as_admin(
            &base,
            reqwest::Method::POST,
            "/api/registries",
            json!({"server": "registry.example.test:5443", "username": "robot",
                   "password": "a11y-registry-password", "team": null}),
        )
        .await;
        assert_eq!(status, 201, "a registry credential: {body}");
        let viewer = unique("vw");
        let viewer_password = api_user(&base, &viewer, "viewer").await;
        let operator = unique("op");
        let operator_password = api_user(&base, &operator, "operator").await;
        let template = unique("try").replace("berth-test-", "a11y-");
        let (status, body) = as_admin(
            &base,
            reqwest::Method::POST,
            "/api/templates",
            json!({"name": template, "title": "A shell to try",
                   "description": "Your own BusyBox shell, without a network.\nType anything.",
                   "argv": ["-it", "--network", "none", FIXTURE, "sh"],
                   "ttl_seconds": 600, "max_ttl_seconds": 1200, "idle_seconds": 120,
                   "capacity": 2, "access": "public"}),
        )
        .await;
        assert_eq!(status, 201, "a template: {body}");
        // A pull from the loopback registry: the run page keeps its progress per layer.
        for host in [DOCKER_HOST, SECOND_DOCKER_HOST] {
            docker_on(host, &["rmi", "-f", PULLABLE]);
        }
        let pull_run = start_run(&base, &[PULLABLE, "true"]).await;
        wait_run(&base, &pull_run, "exited").await;
        wait_run(&base, &ok_run, "exited").await;
        wait_run(&base, &bad_run, "exited").await;
        wait_run(&base, &live_run, "running").await;

        let b = Browser::launch(&base, LAPTOP.0, LAPTOP.1).await;

        // Signed out: the sign-in page, then after a wrong password.
        b.goto("/login").await;
        b.find("[data-testid=login-form]").await;
        audit.check(&b, "/login").await;
        b.type_into("#login-user", ADMIN).await;
        b.type_into("#login-password", "not the password").await;
        b.click("[data-testid=login-submit]").await;
        b.find("[data-testid=login-error]").await;
        audit.check(&b, "/login (wrong password)").await;

        // A guest on the demo's page, then in a session with its terminal and countdown.
        b.goto(&format!("/try/{template}")).await;
        b.find("[data-testid=demo-start]").await;
        audit.check(&b, "/try/{name}").await;
        b.click("[data-testid=demo-start]").await;
        b.find("[data-testid=demo-countdown]").await;
        b.wait_terminal("#", 1).await;
        audit.check(&b, "/try/{name} (session)").await;
        b.click("[data-testid=demo-end]").await;
        b.find("[data-testid=demo-ended]").await;
        audit.check(&b, "/try/{name} (ended)").await;

        // An admin on every page.
        b.sign_in(ADMIN, PASSWORD).await;
        // A token of theirs (the bootstrap token may not make one).
        let made = b
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 fetch('/api/tokens', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                       body: JSON.stringify({name: 'ci'})})
                   .then(r => done(r.status), e => done(String(e)));",
                vec![],
            )
            .await
            .expect("token script");
        assert_eq!(made, json!(201), "a token");
        b.goto("/").await;
        b.find("[data-testid=run-command]").await;
        audit.check(&b, "/ (Run)").await;
        b.paste_command(&format!("docker run --bogus {FIXTURE}"))
            .await;
        b.wait_text("#run-command-check", "bogus").await;
        audit.check(&b, "/ (Run, inline error)").await;

        b.goto(&format!("/runs/{bad_run}")).await;
        b.wait_text("[data-testid=run-status]", "exited").await;
        b.wait_terminal("an error", 1).await;
        audit.check(&b, "/runs/{id} (finished, with output)").await;
        b.goto(&format!("/runs/{ok_run}")).await;
        b.wait_text("[data-testid=run-status]", "exited").await;
        b.wait_terminal("hello from a finished run", 1).await;
        audit.check(&b, "/runs/{id} (exited 0)").await;

        b.goto(&format!("/runs/{pull_run}")).await;
        b.wait_text("[data-testid=pull-progress]", "Image pulled")
            .await;
        audit.check(&b, "/runs/{id} (pulled an image)").await;

        b.goto(&format!("/runs/{live_run}")).await;
        b.wait_text("[data-testid=run-status]", "running").await;
        b.wait_text("[data-testid=stats-memory-now]", "MiB").await;
        let console = b
            .find("[data-testid=run-inside] a[data-action=console]")
            .await
            .attr("href")
            .await
            .expect("href")
            .expect("the Console button's link");
        // The charts' text equivalents: a caption with the figure now, the line hidden from
        // screen readers, and a sentence with now, the peak and the limit.
        let charts = b
            .js(
                "return [...document.querySelectorAll('figure.stat-chart')].map(f => [
                     f.querySelector('figcaption').textContent,
                     f.querySelector('svg').getAttribute('aria-hidden'),
                     f.querySelector('.stat-sub').textContent]);",
            )
            .await;
        let charts = charts.as_array().expect("charts");
        assert_eq!(charts.len(), 2, "CPU and memory charts: {charts:?}");
        for (chart, figure) in charts.iter().zip(["%", "MiB"]) {
            assert!(
                chart[0].as_str().is_some_and(|c| c.contains(figure))
                    && chart[1] == "true"
                    && chart[2]
                        .as_str()
                        .is_some_and(|t| t.contains(" now ") && t.contains("peak")),
                "a chart without its text equivalent: {chart}"
            );
        }
        audit.check(&b, "/runs/{id} (running, live charts)").await;

        for (path, ready) in [
            ("/containers", "[data-testid=containers-table]"),
            ("/images", "[data-testid=images-table]"),
            ("/engines", "[data-testid=engines-table]"),
            ("/history", "[data-testid=run-history]"),
            ("/tokens", "[data-testid=tokens-table]"),
            ("/registries", "[data-testid=registries-table]"),
            ("/admin/users", "[data-testid=users-table]"),
            ("/admin/audit", "[data-testid=audit-table]"),
            ("/admin/templates", "[data-testid=templates-table]"),
        ] {
            b.goto(path).await;
            b.find(ready).await;
            // The lists fill in after their first answer (containers' usage after a second).
            tokio::time::sleep(Duration::from_millis(1500)).await;
            audit.check(&b, path).await;
        }

        // A new token, shown once; then a Revoke button armed ("Really revoke?").
        b.goto("/tokens").await;
        b.type_into("#nt-name", "deploy").await;
        b.click("[data-testid=new-token-submit]").await;
        b.find("[data-testid=token-once]").await;
        b.click("[data-testid=tokens-table] button[data-action=revoke]")
            .await;
        b.wait_text(
            "[data-testid=tokens-table] button[data-action=revoke]",
            "Really",
        )
        .await;
        // Armed for four seconds: check one combination while it is.
        audit
            .check_one(&b, "/tokens (new token, Revoke armed)")
            .await;
        b.goto("/tokens").await;
        b.find("[data-testid=tokens-table]").await;
        b.type_into("#nt-name", "deploy-2").await;
        b.click("[data-testid=new-token-submit]").await;
        b.find("[data-testid=token-once]").await;
        audit.check(&b, "/tokens (new token)").await;

        // A template being edited.
        b.goto("/admin/templates").await;
        b.click("[data-testid=templates-table] button[data-action=edit]")
            .await;
        b.find("[data-testid=template-form]").await;
        audit.check(&b, "/admin/templates (editing)").await;

        b.goto(&console).await;
        b.wait_text("[data-testid=console-status]", "shell running")
            .await;
        b.wait_terminal("#", 1).await;
        audit.check(&b, "/console/{engine}/{container}").await;

        b.goto("/no/such/page").await;
        b.wait_text("main", "Not found").await;
        audit.check(&b, "not found").await;

        // An operator whose run the policy refuses: the rule, on the form.
        sign_in_as(&b, &operator, &operator_password).await;
        b.goto("/").await;
        b.paste_command("docker run --rm busybox:latest true").await;
        b.wait_text("#run-command-check", "Valid").await;
        b.click("[data-testid=run-submit]").await;
        b.find("[data-testid=denial-message]").await;
        audit.check(&b, "/ (operator, denied by policy)").await;

        // A viewer: no Run form (why not, instead), and an admin page they may not see.
        sign_in_as(&b, &viewer, &viewer_password).await;
        b.goto("/").await;
        b.find("[data-testid=run-forbidden]").await;
        audit.check(&b, "/ (viewer, cannot run)").await;
        b.goto("/admin/users").await;
        b.find("[data-testid=admins-only]").await;
        audit.check(&b, "/admin/users (viewer, admins only)").await;
        b.close().await;

        let _ = as_admin(
            &base,
            reqwest::Method::POST,
            &format!("/api/runs/{live_run}/stop"),
            Value::Null,
        )
        .await;

        let took = started.elapsed();
        println!(
            "a11y: {} pages, {} axe runs, {:.0} s",
            audit.per_page.len(),
            audit.runs,
            took.as_secs_f64()
        );
        for f in audit
            .found
            .iter()
            .filter(|f| !matches!(f.impact.as_str(), "serious" | "critical"))
        {
            println!(
                "a11y (lesser, {}): {} [{}] {} `{}`: {}",
                f.impact, f.page, f.combo, f.rule, f.target, f.message
            );
        }
        let serious: Vec<String> = audit
            .found
            .iter()
            .filter(|f| matches!(f.impact.as_str(), "serious" | "critical"))
            .map(|f| {
                format!(
                    "{} [{}] {} ({}) `{}`: {}",
                    f.page, f.combo, f.rule, f.impact, f.target, f.message
                )
            })
            .collect();
        assert!(
            serious.is_empty(),
            "{} serious or critical axe-core violations:\n{}",
            serious.len(),
            serious.join("\n")
        );
    });
}
