//! Inside running containers in the dashboard, end to end (issue 15): the built `dist/` served
//! by an in-process gateway, driven in headless Chromium against the real engine. An admin
//! opens a running container's console from the Containers page (a new tab), types into its
//! shell and sees the answer, and ends it; a console opened from a running run's page answers
//! `echo hi`; a run's page shows its live CPU and memory charts with the numbers, and the CPU
//! chart rises for a busy loop; an admin adds a registry credential on `/registries`, sees it listed
//! without its password, and deletes it. Screenshots land with the other
//! E2E tests'.
//!
//! Needs what tests/tests/e2e.rs needs: `dist/` (trunk build --release) and Debian's chromium
//! and chromium-driver. Missing either fails the tests, it never skips them.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use berth_tests::browser::{Browser, WAIT, dashboard_gateway, one_at_a_time};
use berth_tests::{FIXTURE, docker, unique};
use fantoccini::Locator;
use serde_json::json;

/// The bootstrap token of this file's gateway, and the dashboard admin it creates.
const ADMIN_TOKEN: &str = "console-e2e-admin-token";
const ADMIN: &str = "console-admin";
const PASSWORD: &str = "console e2e correct horse battery";

const DESKTOP: (u32, u32) = (1280, 900);

/// The gateway serving the built dashboard, with an admin user.
async fn base() -> String {
    static BASE: OnceLock<String> = OnceLock::new();
    if let Some(b) = BASE.get() {
        return b.clone();
    }
    let base = dashboard_gateway(ADMIN_TOKEN, None, ADMIN, PASSWORD).await;
    BASE.get_or_init(|| base).clone()
}

/// A browser signed in as the admin (through the API), on the Run page.
async fn admin_browser() -> Browser {
    let b = Browser::launch(&base().await, DESKTOP.0, DESKTOP.1).await;
    b.goto("/login").await;
    b.sign_in(ADMIN, PASSWORD).await;
    b.goto("/").await;
    b.find("[data-testid=whoami]").await;
    b
}

/// Removes the container when the test ends, passed or failed.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        docker(&["rm", "-f", &self.0]);
    }
}

#[test]
fn an_admin_opens_a_console_from_the_containers_page() {
    one_at_a_time(|| async {
        let name = unique("console");
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

        let b = admin_browser().await;
        b.goto("/containers").await;
        let row = format!("[data-testid=containers-table] tr[data-container='{name}']");
        b.wait_text(&row, "running").await;
        // Its current CPU and memory, from one stats sample.
        b.wait_text(&format!("{row} [data-testid=container-usage]"), "CPU")
            .await;

        // The Console button opens the console in a new tab.
        let first = b.client.window().await.expect("the window");
        b.click(&format!("{row} a[data-action=console]")).await;
        let started = Instant::now();
        let console = loop {
            let windows = b.client.windows().await.expect("windows");
            if let Some(w) = windows.into_iter().find(|w| *w != first) {
                break w;
            }
            assert!(started.elapsed() < WAIT, "no console tab opened");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        b.client
            .switch_to_window(console)
            .await
            .expect("switch to the console tab");
        assert!(
            b.path().await.starts_with("/console/"),
            "the console's URL: {}",
            b.path().await
        );
        b.wait_text("[data-testid=console-container]", &name).await;
        b.wait_text("[data-testid=console-status]", "shell running")
            .await;
        b.click("[data-testid=terminal]").await;
        let term = "[data-testid=terminal] textarea";
        b.type_into(term, "echo $((6*7))\n").await;
        // The typed line holds "6*7"; only the shell's answer holds "42".
        let text = b.wait_terminal("42", 1).await;
        assert!(text.contains("echo $((6*7))"), "{text}");
        // The TTY has the terminal's size.
        b.type_into(term, "stty size\n").await;
        let size = b
            .js("const t = document.querySelector('[data-testid=terminal] .term-host').__berth.term;
                 return t.rows + ' ' + t.cols;")
            .await;
        b.wait_terminal(size.as_str().unwrap_or("?"), 1).await;
        b.screenshot("console").await;

        b.type_into(term, "exit 3\n").await;
        b.wait_text("[data-testid=console-status]", "exited with 3")
            .await;
        b.find("[data-testid=console-again]").await;
        // The container goes on.
        let (_, state, _) = docker(&["inspect", "-f", "{{.State.Status}}", &name]);
        assert_eq!(state.trim(), "running");
        b.close().await;
    });
}

#[test]
fn a_running_run_shows_live_cpu_and_memory_charts() {
    one_at_a_time(|| async {
        let b = admin_browser().await;
        b.paste_command(&format!(
            "docker run --rm -m 64m {FIXTURE} sh -c 'trap \"exit 0\" TERM; \
             while true; do i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 1; done'"
        ))
        .await;
        b.wait_text("#run-command-check", "Valid").await;
        b.click("[data-testid=run-submit]").await;
        b.wait_text("[data-testid=run-status]", "running").await;
        b.find("[data-testid=run-inside] a[data-action=console]")
            .await;
        let cpu = b.wait_text("[data-testid=stats-cpu-now]", "%").await;
        assert!(cpu.ends_with('%'), "{cpu}");
        // Its own limit, not the host's memory.
        let memory = b
            .wait_text("[data-testid=stats-memory-now]", "/ 64.0 MiB")
            .await;
        assert!(memory.contains("MiB") || memory.contains("KiB"), "{memory}");
        // A few seconds of samples make a line; the numbers are its text alternative.
        let started = Instant::now();
        loop {
            let points = b
                .js(
                    "const l = document.querySelector('[data-testid=stats-cpu] polyline');
                     return l ? l.getAttribute('points').split(' ').length : 0;",
                )
                .await
                .as_u64()
                .unwrap_or(0);
            if points >= 5 {
                break;
            }
            assert!(
                started.elapsed() < WAIT,
                "the CPU chart has {points} points"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let label = b
            .js("return document.querySelector('[data-testid=stats-memory] .stat-sub').textContent;")
            .await;
        assert!(
            label
                .as_str()
                .unwrap_or_default()
                .contains("of its 64.0 MiB limit"),
            "{label}"
        );
        b.wait_text("[data-testid=stats-more]", "processes").await;
        b.js("document.querySelector('[data-testid=live-stats]').scrollIntoView({block: 'end'});")
            .await;
        b.screenshot("stats").await;
        b.click("[data-testid=run-stop]").await;
        b.wait_text("[data-testid=run-status]", "exited").await;
        b.wait_gone("[data-testid=live-stats]", WAIT).await;
        b.close().await;
    });
}

/// Switches the browser to the tab that is not `first`, once one opens.
async fn switch_to_new_tab(b: &Browser, first: &fantoccini::wd::WindowHandle) {
    let started = Instant::now();
    let tab = loop {
        let windows = b.client.windows().await.expect("windows");
        if let Some(w) = windows.into_iter().find(|w| w != first) {
            break w;
        }
        assert!(started.elapsed() < WAIT, "no new tab opened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    b.client
        .switch_to_window(tab)
        .await
        .expect("switch to the new tab");
}

/// Waits until a line of the terminal is exactly `line` (trailing blanks aside): the shell's
/// answer, not the typed command that holds it.
async fn wait_terminal_line(b: &Browser, line: &str) -> String {
    let started = Instant::now();
    loop {
        let text = b.terminal_text().await;
        if text.lines().any(|l| l.trim_end() == line) {
            return text;
        }
        assert!(
            started.elapsed() < WAIT,
            "the terminal never showed a line {line:?}; it holds:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn a_console_opened_from_a_running_runs_page_answers_echo_hi() {
    one_at_a_time(|| async {
        let b = admin_browser().await;
        b.paste_command(&format!(
            "docker run --rm {FIXTURE} sh -c 'trap \"exit 0\" TERM; while true; do sleep 1; done'"
        ))
        .await;
        b.wait_text("#run-command-check", "Valid").await;
        b.click("[data-testid=run-submit]").await;
        b.wait_text("[data-testid=run-status]", "running").await;
        let run_page = b.path().await;
        assert!(run_page.starts_with("/runs/"), "{run_page}");

        // The run page's Console button opens a shell in the run's container, in a new tab.
        let first = b.client.window().await.expect("the window");
        b.click("[data-testid=run-inside] a[data-action=console]")
            .await;
        switch_to_new_tab(&b, &first).await;
        assert!(
            b.path().await.starts_with("/console/"),
            "the console's URL: {}",
            b.path().await
        );
        b.wait_text("[data-testid=console-status]", "shell running")
            .await;
        b.click("[data-testid=terminal]").await;
        b.type_into("[data-testid=terminal] textarea", "echo hi\n")
            .await;
        let text = wait_terminal_line(&b, "hi").await;
        assert!(text.contains("echo hi"), "{text}");

        // Back on the run's page, the run goes on; stopping it ends the console's shell too.
        b.client
            .switch_to_window(first)
            .await
            .expect("back to the run's tab");
        b.wait_text("[data-testid=run-status]", "running").await;
        b.click("[data-testid=run-stop]").await;
        b.wait_text("[data-testid=run-status]", "exited").await;
        b.close().await;
    });
}

/// The CPU chart's current figure, in percent ("97 %" → 97.0).
async fn cpu_now(b: &Browser) -> Option<f64> {
    let text = b
        .js(
            "const e = document.querySelector('[data-testid=stats-cpu-now]');
             return e ? e.textContent : '';",
        )
        .await;
    text.as_str()?
        .trim()
        .trim_end_matches('%')
        .trim()
        .parse()
        .ok()
}

/// The CPU chart's line: its `points` as (x, y), y down from the top of a 40-high box.
async fn cpu_line(b: &Browser) -> Vec<(f64, f64)> {
    let points = b
        .js(
            "const l = document.querySelector('[data-testid=stats-cpu] polyline');
             return l ? l.getAttribute('points') : '';",
        )
        .await;
    points
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| {
            let (x, y) = p.split_once(',')?;
            Some((x.parse().ok()?, y.parse().ok()?))
        })
        .collect()
}

#[test]
fn the_cpu_chart_moves_for_a_busy_container() {
    one_at_a_time(|| async {
        let b = admin_browser().await;
        // Idle for its first seconds, then a busy loop: the chart must rise from the floor.
        b.paste_command(&format!(
            "docker run --rm {FIXTURE} sh -c 'trap \"exit 0\" TERM; sleep 4; while :; do :; done'"
        ))
        .await;
        b.wait_text("#run-command-check", "Valid").await;
        b.click("[data-testid=run-submit]").await;
        b.wait_text("[data-testid=run-status]", "running").await;
        b.wait_text("[data-testid=stats-cpu-now]", "%").await;
        let before = cpu_line(&b).await;

        // A busy loop takes most of a CPU; the machine is shared, so ask for a quarter of one.
        const BUSY: f64 = 25.0;
        let started = Instant::now();
        let mut seen = Vec::new();
        let now = loop {
            if let Some(now) = cpu_now(&b).await {
                seen.push(now);
                if now >= BUSY {
                    break now;
                }
            }
            assert!(
                started.elapsed() < WAIT,
                "the CPU figure never reached {BUSY} % for a busy loop; it showed {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        // The line moved: new points, rising well above the floor (y = 39 is 0 %, the top of
        // the chart is its peak).
        let after = cpu_line(&b).await;
        assert_ne!(before, after, "the CPU chart's line did not change");
        let top = after.iter().map(|&(_, y)| y).fold(f64::MAX, f64::min);
        assert!(
            top < 20.0,
            "the line stays near the floor ({top}) at {now} %: {after:?}"
        );
        // Its text equivalent says so too.
        let summary = b
            .js("return document.querySelector('[data-testid=stats-cpu] .stat-sub').textContent;")
            .await;
        let summary = summary.as_str().unwrap_or_default().to_string();
        assert!(summary.starts_with("CPU now "), "{summary}");
        let peak: f64 = summary
            .split("peak ")
            .nth(1)
            .and_then(|r| r.split('%').next())
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no peak in {summary:?}"));
        assert!(peak >= BUSY, "{summary}");

        b.click("[data-testid=run-stop]").await;
        b.wait_text("[data-testid=run-status]", "exited").await;
        b.close().await;
    });
}

#[test]
fn an_admin_adds_and_deletes_a_registry_credential() {
    one_at_a_time(|| async {
        // A user in a team, so the picker offers it.
        let team = "pullers";
        let member = unique("rg");
        let created = reqwest::Client::new()
            .post(format!("{}/api/users", base().await))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"username": member, "password": "a long password", "role": "operator", "team": team}))
            .send()
            .await
            .expect("the gateway answers");
        assert_eq!(created.status().as_u16(), 201);

        let b = admin_browser().await;
        b.click("[data-testid=nav] a[href='/registries']").await;
        b.find("[data-testid=new-registry]").await;
        let server = format!("{}.example.test:5443", unique("reg").replace('-', ""));
        let password = "s3cret-e2e-registry-password";
        b.type_into("#nr-server", &server).await;
        b.type_into("#nr-username", "robot").await;
        b.type_into("#nr-password", password).await;
        b.wait_text("#nr-team", &format!("team {team}")).await;
        b.client
            .find(Locator::Css("#nr-team"))
            .await
            .expect("the team picker")
            .select_by_value(team)
            .await
            .expect("pick the team");
        b.click("[data-testid=new-registry-submit]").await;

        let row = format!("[data-testid=registries-table] tr[data-registry='{server}']");
        let text = b.wait_text(&row, "robot").await;
        assert!(text.contains(team), "{text}");
        // The password is nowhere on the page, not even left in its field.
        let page = b
            .js("return document.body.innerText + document.body.innerHTML + document.querySelector('#nr-password').value;")
            .await;
        assert!(
            !page.as_str().unwrap_or_default().contains(password),
            "the password is on the page"
        );
        // Nor in the API's answer.
        let listed = reqwest::Client::new()
            .get(format!("{}/api/registries", base().await))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("the gateway answers")
            .text()
            .await
            .expect("text");
        assert!(listed.contains(&server) && !listed.contains(password));
        b.screenshot("registries").await;

        b.confirm_click(&format!("{row} button[data-action=delete]"))
            .await;
        b.wait_gone(&row, WAIT).await;
        b.close().await;
    });
}
