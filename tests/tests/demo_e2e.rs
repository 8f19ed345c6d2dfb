//! Demo environments in the dashboard, end to end (issue 14): the built `dist/` served by an
//! in-process gateway with a `[guest]` policy, driven in headless Chromium against the real
//! engine. An anonymous visitor opens a public template's page (`/try/{name}`), starts a
//! session, types into its terminal, is warned before the end, extends it, ends it and starts
//! again; two visitors share a template of capacity 1 (one waits in line, then gets the place);
//! an admin creates, edits and deletes a template on `/admin/templates`. Screenshots land in
//! the other E2E tests' (tests/src/browser.rs, `screenshot_dir`)..
//!
//! Needs what tests/tests/e2e.rs needs: `dist/` (trunk build --release) and Debian's chromium
//! and chromium-driver. Missing either fails the tests, it never skips them.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use berth_tests::browser::{Browser, WAIT, dashboard_gateway, one_at_a_time};
use berth_tests::{FIXTURE, unique};
use serde_json::{Value, json};

/// The bootstrap token of this file's gateway, and the dashboard admin it creates.
const ADMIN_TOKEN: &str = "demo-e2e-admin-token";
const ADMIN: &str = "demo-admin";
const PASSWORD: &str = "demo e2e correct horse battery";

/// Guests may run the fixture without a network, within these limits (a `[guest]` table must
/// set all three).
const POLICY: &str = "[operator]\nallowed_images = [\"berth-fixture:*\"]\n\n\
                      [guest]\nallowed_images = [\"berth-fixture:*\"]\nmax_memory = \"64m\"\n\
                      max_cpus = 0.5\nmax_pids = 64\n";

const DESKTOP: (u32, u32) = (1280, 860);
const PHONE: (u32, u32) = (390, 844);

/// The gateway serving the built dashboard, with the guest policy and an admin user.
async fn base() -> String {
    static BASE: OnceLock<String> = OnceLock::new();
    if let Some(b) = BASE.get() {
        return b.clone();
    }
    let base = dashboard_gateway(ADMIN_TOKEN, Some(POLICY), ADMIN, PASSWORD).await;
    BASE.get_or_init(|| base).clone()
}

/// A client with the bootstrap admin token.
fn admin() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {ADMIN_TOKEN}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// `method path` as the admin, with `body` as JSON: the status and the JSON answer.
async fn as_admin(method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = admin().request(method, format!("{}{path}", base().await));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("the gateway answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A public template of a shell with a terminal and no network, `extra` set over the usual
/// terms; created through the API. Returns its name.
async fn public_shell(extra: Value) -> String {
    let name = unique("try").replace("berth-test-", "e2e-");
    let mut body = json!({
        "name": name,
        "title": "A shell to try",
        "description": "Your own BusyBox shell, without a network.\nType anything.",
        "argv": ["-it", "--network", "none", FIXTURE, "sh"],
        "ttl_seconds": 600,
        "max_ttl_seconds": 1200,
        "idle_seconds": 120,
        "capacity": 2,
        "access": "public",
    });
    for (key, value) in extra.as_object().expect("an object") {
        body[key] = value.clone();
    }
    let (status, created) = as_admin(reqwest::Method::POST, "/api/templates", Some(body)).await;
    assert_eq!(status, 201, "creating template {name}: {created}");
    name
}

async fn delete_template(name: &str) {
    let (status, body) = as_admin(
        reqwest::Method::DELETE,
        &format!("/api/templates/{name}"),
        None,
    )
    .await;
    assert!(
        status == 204 || status == 404,
        "deleting {name}: {status} {body}"
    );
}

/// The template as the admin's API shows it.
async fn template(name: &str) -> Value {
    let (status, body) = as_admin(
        reqwest::Method::GET,
        &format!("/api/templates/{name}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "GET template {name}: {body}");
    body
}

/// Waits until `check` holds for the template's API view.
async fn wait_template(name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let t = template(name).await;
        if check(&t) {
            return t;
        }
        assert!(
            started.elapsed() < WAIT,
            "template {name} never had {what}: {t}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A browser of nobody in particular: no account, no cookie.
async fn visitor(size: (u32, u32)) -> Browser {
    Browser::launch(&base().await, size.0, size.1).await
}

/// A browser signed in as the admin, on the Run page.
async fn admin_browser(size: (u32, u32)) -> Browser {
    let b = Browser::launch(&base().await, size.0, size.1).await;
    b.goto("/login").await;
    b.sign_in(ADMIN, PASSWORD).await;
    b.goto("/").await;
    b.find("[data-testid=whoami]").await;
    b
}

/// Types `keys` into the terminal (xterm's hidden textarea).
async fn type_in_terminal(b: &Browser, keys: &str) {
    b.click("[data-testid=terminal]").await;
    b.type_into("[data-testid=terminal] textarea", keys).await;
}

/// The terminal's size as xterm has it: (rows, cols).
async fn terminal_size(b: &Browser) -> (u64, u64) {
    let size = b
        .js(
            "const t = document.querySelector('[data-testid=terminal] .term-host').__berth;
             return [t.rows(), t.cols()];",
        )
        .await;
    (size[0].as_u64().unwrap(), size[1].as_u64().unwrap())
}

/// Waits until the terminal shows `needle`; says what the page shows when it never does.
async fn wait_terminal(b: &Browser, needle: &str) -> String {
    let started = Instant::now();
    loop {
        let text = b.terminal_text().await;
        if text.contains(needle) {
            return text;
        }
        if started.elapsed() > WAIT {
            let page = b
                .js("const m = document.querySelector('main');
                     return [m ? m.innerText : 'no main',
                             document.querySelectorAll('[data-testid=terminal] .term-host').length];")
                .await;
            panic!(
                "the terminal never showed {needle:?} within {WAIT:?}; it holds:\n{text}\npage: {page}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// On `/try/{name}`: Start, then the terminal with the shell's prompt and the countdown.
async fn start_session(b: &Browser) {
    b.click("[data-testid=demo-start]").await;
    b.find("[data-testid=demo-session]").await;
    b.find("[data-testid=terminal] .xterm").await;
    b.wait_text("[data-testid=demo-countdown]", ":").await;
    wait_terminal(b, "#").await;
}

/// The engine's containers of Berth's run `run_id` (running or not).
fn containers_of(run_id: &str) -> Vec<String> {
    berth_tests::containers_of_run(run_id)
}

/// The run of the template's running session, as the admin's session list says.
async fn running_run_of(name: &str) -> Option<String> {
    let (status, sessions) = as_admin(
        reqwest::Method::GET,
        &format!("/api/sessions?template={name}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{sessions}");
    sessions.as_array()?.iter().find_map(|s| {
        (s["state"] == "running")
            .then(|| s["run_id"].as_str().map(str::to_string))
            .flatten()
    })
}

#[test]
fn an_anonymous_visitor_tries_a_public_template() {
    one_at_a_time(|| async {
        // 70 s: the gateway's `expiring` comes 60 s before the end, 10 s after the start.
        let name = public_shell(json!({"ttl_seconds": 70})).await;
        let b = visitor(DESKTOP).await;
        b.goto(&format!("/try/{name}")).await;
        b.wait_text("[data-testid=demo-title]", "A shell to try")
            .await;
        b.wait_text("[data-testid=demo-description]", "without a network")
            .await;
        b.wait_text("[data-testid=demo-start-card]", "1 min 10 s")
            .await;
        // Nobody is signed in, and nobody is sent to sign in.
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(b.path().await, format!("/try/{name}"));
        assert!(
            b.client
                .find_all(fantoccini::Locator::Css(
                    "[data-testid=whoami], [data-testid=nav]"
                ))
                .await
                .unwrap()
                .is_empty(),
            "an anonymous visitor has no user menu and no navigation"
        );

        start_session(&b).await;
        // The visitor's keys go to the shell, though nobody is signed in.
        type_in_terminal(&b, "echo $((6*7))\n").await;
        wait_terminal(&b, "42").await;
        let run_id = running_run_of(&name).await.expect("a running session");
        assert_eq!(containers_of(&run_id).len(), 1, "the session's container");
        wait_template(&name, "a running session", |t| {
            t["sessions"]["running"] == 1
        })
        .await;
        b.screenshot("try").await;

        // A minute before the end: the warning, with the countdown.
        let warning = b
            .wait_text("[data-testid=demo-expiring]", "This session ends in")
            .await;
        assert!(
            warning.contains("ends in 0:") || warning.contains("ends in 1:0"),
            "about a minute left: {warning}"
        );
        b.screenshot("try-expiring").await;
        let before = b
            .find("[data-testid=demo-countdown]")
            .await
            .text()
            .await
            .unwrap();
        b.click("[data-testid=demo-extend]").await;
        b.wait_text("[data-testid=demo-notice]", "Extended").await;
        b.wait_gone("[data-testid=demo-expiring]", WAIT).await;
        let after = b
            .find("[data-testid=demo-countdown]")
            .await
            .text()
            .await
            .unwrap();
        assert!(
            after.starts_with("1:"),
            "extended to 70 s from now: {before} → {after}"
        );

        // Phone width: the page fits, and the TTY follows the terminal's new size.
        b.resize(PHONE.0, PHONE.1).await;
        // (The window takes two steps to its size: wait until the terminal has kept one.)
        let started = Instant::now();
        let mut seen = (terminal_size(&b).await, Instant::now());
        let (rows, cols) = loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let size = terminal_size(&b).await;
            if size != seen.0 {
                seen = (size, Instant::now());
            } else if seen.1.elapsed() > Duration::from_secs(1)
                || started.elapsed() > Duration::from_secs(10)
            {
                break size;
            }
        };
        assert!(cols < 60, "the terminal fits a phone: {cols} columns");
        let overflow = b
            .js("return document.documentElement.scrollWidth - window.innerWidth")
            .await;
        assert!(
            overflow.as_i64().unwrap_or(0) <= 0,
            "nothing sticks out at phone width: {overflow}"
        );
        type_in_terminal(&b, "echo tty=$(stty size)\n").await;
        wait_terminal(&b, &format!("tty={rows} {cols}")).await;
        b.screenshot("phone-try").await;
        b.resize(DESKTOP.0, DESKTOP.1).await;

        // End: the ending, the container gone, and Start again.
        b.click("[data-testid=demo-end]").await;
        b.wait_text("[data-testid=demo-ending]", "You ended this session.")
            .await;
        let started = Instant::now();
        while !containers_of(&run_id).is_empty() {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the ended session's container is still there"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let text = b.terminal_text().await;
        assert!(text.contains("42"), "the output stays: {text}");
        b.screenshot("try-ended").await;

        b.click("[data-testid=demo-again]").await;
        b.find("[data-testid=demo-session]").await;
        b.wait_text("[data-testid=demo-countdown]", ":").await;
        wait_terminal(&b, "#").await;
        let text = b.terminal_text().await;
        assert!(
            !text.contains("42"),
            "a new session, a new terminal: {text}"
        );
        type_in_terminal(&b, "echo again-$((2+3))\n").await;
        wait_terminal(&b, "again-5").await;

        // A reload finds the same session again.
        b.client.refresh().await.expect("reload");
        b.find("[data-testid=demo-session]").await;
        wait_terminal(&b, "again-5").await;
        // So does Start on a page that forgot it (the gateway's 409 names it).
        b.js("localStorage.clear(); return 1").await;
        b.goto(&format!("/try/{name}")).await;
        b.wait_text("[data-testid=demo-start]", "Start").await;
        b.click("[data-testid=demo-start]").await;
        b.find("[data-testid=demo-session]").await;
        wait_terminal(&b, "again-5").await;
        wait_template(&name, "still one session", |t| {
            t["sessions"]["running"] == 1
        })
        .await;

        // The command ending ends the session too.
        type_in_terminal(&b, "exit\n").await;
        b.wait_text(
            "[data-testid=demo-ending]",
            "The program in this session ended.",
        )
        .await;
        wait_template(&name, "no session", |t| {
            t["sessions"]["running"] == 0 && t["sessions"]["queued"] == 0
        })
        .await;
        b.close().await;
        delete_template(&name).await;
    });
}

#[test]
fn a_visitor_waits_in_line_then_gets_the_place() {
    one_at_a_time(|| async {
        let name = public_shell(json!({"capacity": 1})).await;
        let first = visitor(DESKTOP).await;
        first.goto(&format!("/try/{name}")).await;
        start_session(&first).await;

        let second = visitor(DESKTOP).await;
        second.goto(&format!("/try/{name}")).await;
        second.click("[data-testid=demo-start]").await;
        let queue = second
            .wait_text("[data-testid=demo-queue]", "You are number 1 in line.")
            .await;
        assert!(queue.contains("Leave the queue"), "{queue}");
        wait_template(&name, "one running and one queued", |t| {
            t["sessions"]["running"] == 1 && t["sessions"]["queued"] == 1
        })
        .await;
        // The queue keeps its place while the page polls (well within the gateway's 30 s).
        tokio::time::sleep(Duration::from_secs(4)).await;
        second
            .wait_text("[data-testid=demo-queue]", "number 1 in line")
            .await;
        second.screenshot("try-queued").await;

        // The first visitor ends theirs: the second gets the place and a terminal.
        first.click("[data-testid=demo-end]").await;
        first
            .wait_text("[data-testid=demo-ending]", "You ended this session.")
            .await;
        second.find("[data-testid=demo-session]").await;
        second.find("[data-testid=terminal] .xterm").await;
        wait_terminal(&second, "#").await;
        type_in_terminal(&second, "echo promoted-$((40+2))\n").await;
        wait_terminal(&second, "promoted-42").await;

        second.click("[data-testid=demo-end]").await;
        second
            .wait_text("[data-testid=demo-ending]", "You ended this session.")
            .await;
        second.close().await;
        first.close().await;
        delete_template(&name).await;
    });
}

#[test]
fn a_session_that_runs_out_says_why() {
    one_at_a_time(|| async {
        // Its time: the page is open until the end.
        let short = public_shell(json!({"ttl_seconds": 10, "max_ttl_seconds": 10})).await;
        let b = visitor(DESKTOP).await;
        b.goto(&format!("/try/{short}")).await;
        b.wait_text("[data-testid=demo-start-card]", "10 s").await;
        start_session(&b).await;
        b.wait_text("[data-testid=demo-expiring]", "This session ends in")
            .await;
        // Already as long as it can be.
        b.click("[data-testid=demo-extend]").await;
        b.wait_text("[data-testid=demo-notice]", "cannot be extended")
            .await;
        b.wait_text("[data-testid=demo-ending]", "This session expired.")
            .await;
        b.find("[data-testid=demo-again]").await;

        // Without input and without the page for the idle limit: told when coming back.
        let idle = public_shell(json!({"idle_seconds": 5})).await;
        b.goto(&format!("/try/{idle}")).await;
        start_session(&b).await;
        // (Chromium keeps the page, socket and all, in its back-forward cache: the page hangs
        // up as it goes.)
        b.client.goto("about:blank").await.expect("leave the page");
        wait_template(&idle, "no session", |t| t["sessions"]["running"] == 0).await;
        b.client.back().await.expect("back to the page");
        b.wait_text(
            "[data-testid=demo-ending]",
            "Ended after 5 seconds without input.",
        )
        .await;
        b.close().await;
        delete_template(&short).await;
        delete_template(&idle).await;
    });
}

#[test]
fn an_admin_creates_edits_and_deletes_a_template() {
    one_at_a_time(|| async {
        let b = admin_browser(DESKTOP).await;
        // The admin nav has the page, and the header still fits a laptop's width (on a second
        // row if it must, never beyond the window).
        b.wait_text("[data-testid=nav]", "Templates").await;
        b.wait_text("[data-testid=engine-status]", "Docker").await;
        let header = b
            .js("const h = document.querySelector('.topbar');
                 return [h.scrollWidth, h.clientWidth];")
            .await;
        assert!(
            header[0].as_u64() <= header[1].as_u64(),
            "the header overflows at {DESKTOP:?}: [scroll width, width] {header}"
        );
        b.click("[data-testid=nav] a[href='/admin/templates']")
            .await;
        b.find("[data-testid=template-form]").await;

        let name = unique("adm").replace("berth-test-", "e2e-");
        b.type_into("#tpl-name", &name).await;
        b.type_into("#tpl-title", "BusyBox in your browser").await;
        b.type_into("#tpl-description", "A shell without a network.")
            .await;
        // The Run page's box, with its inline parsing.
        let command = b.find("[data-testid=tpl-command]").await;
        command
            .send_keys(&format!("docker run -it --bogus {FIXTURE} sh"))
            .await
            .unwrap();
        b.wait_text("[data-testid=tpl-command-error]", "unknown flag: --bogus")
            .await;
        let submit = b.find("[data-testid=template-submit]").await;
        assert!(
            !submit.is_enabled().await.unwrap(),
            "a bad command cannot be saved"
        );

        // A command the guests' policy refuses (a network other than none): the server's rule,
        // inline.
        command.clear().await.unwrap();
        command
            .send_keys(&format!("docker run -it --network default {FIXTURE} sh"))
            .await
            .unwrap();
        b.wait_text("#tpl-command-check", "Valid").await;
        let warm = b.find("#tpl-warm").await;
        warm.clear().await.unwrap();
        warm.send_keys("1").await.unwrap();
        b.click("[data-testid=template-submit]").await;
        let refused = b.wait_text("[data-testid=template-error]", "rule").await;
        assert!(refused.contains("Not valid"), "{refused}");

        command.clear().await.unwrap();
        command
            .send_keys(&format!("docker run -it --network none {FIXTURE} sh"))
            .await
            .unwrap();
        b.wait_text("#tpl-command-check", "Valid").await;
        b.click("[data-testid=template-submit]").await;
        b.wait_text("[data-testid=templates-notice]", &format!("Created {name}"))
            .await;

        // Listed, with its link and its counts; the warm container gets ready.
        let row = format!("[data-testid=templates-table] tr[data-template='{name}']");
        let listed = b.wait_text(&row, "BusyBox in your browser").await;
        assert!(listed.contains("0 of 5 running"), "{listed}");
        let link = b.find(&format!("{row} [data-testid=template-link]")).await;
        let href = link.attr("href").await.unwrap().unwrap_or_default();
        assert_eq!(href, format!("/try/{name}"));
        let text = link.text().await.unwrap();
        assert_eq!(text, format!("{}/try/{name}", base().await));
        b.wait_text(&format!("{row} [data-testid=template-queued]"), "0")
            .await;
        b.wait_text(&format!("{row} [data-testid=template-ready]"), "1")
            .await;
        let t = template(&name).await;
        assert_eq!(
            t["argv"],
            json!(["-it", "--network", "none", FIXTURE, "sh"])
        );
        assert_eq!(t["access"], "public");
        assert_eq!(t["warm"], 1);
        // The whole page, form and list, in one picture.
        b.resize(DESKTOP.0, 1280).await;
        b.js("window.scrollTo(0, 0); return 1").await;
        b.screenshot("templates").await;
        b.resize(DESKTOP.0, DESKTOP.1).await;
        b.click(&format!("{row} [data-testid=copy-link]")).await;
        b.wait_text(&format!("{row} [data-testid=copy-link]"), "Copied")
            .await;

        // Edit: the form fills with it, the name stays.
        b.click(&format!("{row} button[data-action=edit]")).await;
        b.wait_text(".template-form .card-title", &name).await;
        let title = b.find("#tpl-title").await;
        assert_eq!(
            title.prop("value").await.unwrap().unwrap_or_default(),
            "BusyBox in your browser"
        );
        let line = b
            .find("[data-testid=tpl-command]")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default();
        assert!(line.contains("--network none"), "{line}");
        title.clear().await.unwrap();
        title.send_keys("A renamed shell").await.unwrap();
        let capacity = b.find("#tpl-capacity").await;
        capacity.clear().await.unwrap();
        capacity.send_keys("3").await.unwrap();
        b.click("[data-testid=template-submit]").await;
        b.wait_text("[data-testid=templates-notice]", &format!("Saved {name}"))
            .await;
        let listed = b.wait_text(&row, "A renamed shell").await;
        assert!(listed.contains("0 of 3 running"), "{listed}");
        assert_eq!(template(&name).await["title"], "A renamed shell");

        // Delete: gone from the list and from the API.
        b.confirm_click(&format!("{row} button[data-action=delete]"))
            .await;
        b.wait_gone(&row, WAIT).await;
        b.wait_text("[data-testid=templates-notice]", &format!("Deleted {name}"))
            .await;
        let (status, _) = as_admin(
            reqwest::Method::GET,
            &format!("/api/templates/{name}"),
            None,
        )
        .await;
        assert_eq!(status, 404, "the template is gone");

        // At phone width the page still works (rows become cards).
        b.resize(PHONE.0, PHONE.1).await;
        b.find("[data-testid=template-form]").await;
        let overflow = b
            .js("return document.documentElement.scrollWidth - window.innerWidth")
            .await;
        assert!(
            overflow.as_i64().unwrap_or(0) <= 0,
            "nothing sticks out at phone width: {overflow}"
        );
        b.close().await;
    });
}
