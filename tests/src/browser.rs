//! Headless Chromium for the dashboard's end-to-end tests: Debian's `chromium` driven through
//! its `chromedriver` (WebDriver) with fantoccini. Each [`Browser`] is a chromedriver on a free
//! port and one Chromium with a fresh profile, so two of them are two unrelated users.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a test waits for something to appear before it fails.
pub const WAIT: Duration = Duration::from_secs(45);

/// The workspace's `dist/` (Trunk's output), which the E2E gateway serves. Fails loudly when it
/// is missing: a skipped browser test would look like a passing one.
pub fn dist_dir() -> PathBuf {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist");
    let dist = dist.canonicalize().unwrap_or(dist);
    assert!(
        dist.join("index.html").is_file(),
        "the dashboard is not built: {} has no index.html. Build it with `trunk build --release` \
         (scripts/test.sh does) before running the E2E tests",
        dist.display()
    );
    let has_wasm = std::fs::read_dir(&dist)
        .map(|d| {
            d.flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "wasm"))
        })
        .unwrap_or(false);
    assert!(
        has_wasm,
        "{} has no .wasm: rebuild the dashboard",
        dist.display()
    );
    dist
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Runs one E2E test's body on its own runtime, one test at a time: two cores, and each
/// Chromium wants most of one. (A plain mutex taken before the runtime exists; a failed test
/// poisons it, which the next test ignores.)
pub fn one_at_a_time<F: Future<Output = ()>>(body: impl FnOnce() -> F) {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(body());
}

/// A gateway on the test bed's engine serving the built dashboard, with the bootstrap `token`,
/// `policy` when given, and an admin user `username` (with `password`) for the browsers to sign
/// in as: its base URL.
pub async fn dashboard_gateway(
    token: &str,
    policy: Option<&str>,
    username: &str,
    password: &str,
) -> String {
    let (ok, _, err) = crate::docker(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert!(
        ok,
        "no Docker engine at {}: run scripts/testbed.sh ({err})",
        crate::DOCKER_HOST
    );
    let mut config = berth_server::Config::local(crate::DOCKER_HOST);
    config.static_dir = dist_dir();
    config.admin_token = Some(token.into());
    if let Some(policy) = policy {
        let file = config.data_dir.with_extension("policy.toml");
        std::fs::write(&file, policy).expect("write the policy");
        config.policy = Some(file);
    }
    let base = format!("http://{}", crate::spawn_gateway(config));
    // A user to sign the browsers in with (the cookie session carries REST and WebSockets).
    let created = reqwest::Client::new()
        .post(format!("{base}/api/users"))
        .bearer_auth(token)
        .json(&json!({"username": username, "password": password, "role": "admin"}))
        .send()
        .await
        .expect("the gateway answers");
    let status = created.status().as_u16();
    assert!(
        status < 300 || status == 409,
        "creating the dashboard's admin: HTTP {status}: {}",
        created.text().await.unwrap_or_default()
    );
    base
}

/// Where screenshots go: the build folder (`target/screenshots`), so that a test run leaves
/// the checkout as it was; `docs/screenshots` with `BERTH_UPDATE_SCREENSHOTS=1`.
pub fn screenshot_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match std::env::var("BERTH_UPDATE_SCREENSHOTS").as_deref() {
        Ok("1") => root.join("docs/screenshots"),
        _ => root.join("target/screenshots"),
    }
}

pub struct Browser {
    pub client: Client,
    /// The dashboard's origin, `http://127.0.0.1:PORT`.
    pub base: String,
    driver: Child,
    driver_port: u16,
    session: Option<String>,
    profile: PathBuf,
    closed: bool,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a window of `width`×`height`.
    pub async fn launch(base: &str, width: u32, height: u32) -> Browser {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: `apt-get install chromium chromium-driver` (scripts/test.sh does)"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile =
            std::env::temp_dir().join(format!("berth-e2e-chromium-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).expect("profile dir");

        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--disable-dev-shm-usage",
                    "--hide-scrollbars",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let attempt = ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await;
            match attempt {
                Ok(c) => break c,
                Err(e) if started.elapsed() < Duration::from_secs(20) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no WebDriver session from chromedriver at {url}: {e}"),
            }
        };
        let session = client.session_id().await.ok().flatten();
        let browser = Browser {
            client,
            base: base.to_string(),
            driver,
            driver_port: port,
            session,
            profile,
            closed: false,
        };
        // Headless windows count the browser's frame; make the page itself this size.
        browser.resize(width, height).await;
        browser
    }

    /// Makes the viewport `width`×`height` CSS pixels.
    pub async fn resize(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("set window size");
        let inner = self
            .js("return [window.innerWidth, window.innerHeight]")
            .await;
        let (iw, ih) = (
            inner[0].as_u64().unwrap_or(0) as u32,
            inner[1].as_u64().unwrap_or(0) as u32,
        );
        if iw > 0 && ih > 0 && (iw != width || ih != height) {
            let _ = self
                .client
                .set_window_size(
                    width + (width - iw.min(width)),
                    height + (height - ih.min(height)),
                )
                .await;
        }
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("current URL")
            .path()
            .to_string()
    }

    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// The element matching `css`, once it exists.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element `{css}` within {WAIT:?}: {e}"))
    }

    /// Waits until `css` exists and its text contains `needle`; returns that text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < WAIT {
            if let Ok(el) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = el.text().await
            {
                if text.contains(needle) {
                    return text;
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("`{css}` never contained {needle:?} within {WAIT:?}; last text: {last:?}");
    }

    /// Everything in the run page's terminal, scrollback included (read from xterm's buffer:
    /// the DOM shows only the visible rows).
    pub async fn terminal_text(&self) -> String {
        let v = self
            .js(
                "const h = document.querySelector('[data-testid=terminal] .term-host');
                 return h && h.__berth ? h.__berth.text() : null;",
            )
            .await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// Waits until the terminal holds `needle` at least `times` times; returns its text.
    pub async fn wait_terminal(&self, needle: &str, times: usize) -> String {
        let started = Instant::now();
        let mut text = String::new();
        while started.elapsed() < WAIT {
            text = self.terminal_text().await;
            if text.matches(needle).count() >= times {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the terminal never showed {needle:?} ×{times} within {WAIT:?}; it holds:\n{text}");
    }

    /// Signs the browser in as `username` through the API (the cookie then carries every
    /// request and WebSocket of the page); the sign-in page itself is tested on its own.
    pub async fn sign_in(&self, username: &str, password: &str) {
        let status = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 fetch('/api/login', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                      body: JSON.stringify({username: arguments[0], password: arguments[1]})})
                   .then(r => done(r.status), e => done(String(e)));",
                vec![json!(username), json!(password)],
            )
            .await
            .expect("sign-in script");
        assert_eq!(status, json!(200), "signing the browser in as {username}");
    }

    /// Waits until nothing matches `css`, failing after `within`.
    pub async fn wait_gone(&self, css: &str, within: Duration) {
        let started = Instant::now();
        while !self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("find")
            .is_empty()
        {
            assert!(started.elapsed() < within, "`{css}` is still on the page");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Presses a confirm-twice button: the first press arms it ("Really …?"), the second acts.
    pub async fn confirm_click(&self, css: &str) {
        self.click(css).await;
        self.wait_text(css, "Really").await;
        self.click(css).await;
    }

    /// Types `keys` into the element matching `css` (WebDriver key codes allowed).
    pub async fn type_into(&self, css: &str, keys: &str) {
        self.find(css)
            .await
            .send_keys(keys)
            .await
            .unwrap_or_else(|e| panic!("type into `{css}`: {e}"));
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click `{css}`: {e}"));
    }

    /// Replaces the command field's text, as a paste would.
    pub async fn paste_command(&self, line: &str) {
        let field = self.find("[data-testid=run-command]").await;
        field.clear().await.expect("clear the command field");
        field.send_keys(line).await.expect("type the command");
    }

    /// Saves a PNG of the page into [`screenshot_dir`].
    pub async fn screenshot(&self, name: &str) {
        // Let the last frame render (fonts, the terminal's rows).
        tokio::time::sleep(Duration::from_millis(400)).await;
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(screenshot_dir()).expect("screenshot dir");
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(path, png).expect("write screenshot");
    }

    /// Ends the WebDriver session (which quits Chromium), then chromedriver.
    pub async fn close(mut self) {
        let client = self.client.clone();
        let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        self.closed = true;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that failed never reached `close`: end the session by hand so Chromium quits
        // with it, instead of outliving chromedriver.
        if !self.closed
            && let Some(session) = &self.session
        {
            delete_session(self.driver_port, session);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `DELETE /session/{id}` on chromedriver, with a plain blocking socket (no runtime in `drop`).
fn delete_session(port: u16, session: &str) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let req = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).is_ok() {
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
    }
}
