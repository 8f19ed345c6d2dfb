//! Demo environments (issue 14, docs/API.md "Demo environments") against the real engine:
//! templates and their validation, sessions opened by guests without an account (the
//! `berth_guest` cookie) and by signed-in users, guest isolation, the visitor's terminal, warm
//! pools that replay a container's output from its first byte, extending a session up to its
//! cap, TTL and idle reaping (the container gone from the engine within 2 s), capacity, the
//! queue and its promotion, one session per visitor, the per-address limit, the queue's bound,
//! deleting a template, a restart of the gateway, and the audit log.
//!
//! Every visitor connects from a loopback address of its own (127.0.0.0/8 all reach the
//! gateway on Linux), so the per-address limit of one test does not touch another's.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_server::Config;
use berth_shared::wire::ServerEvent;
use berth_tests::team::{ADMIN, Team};
use berth_tests::{
    Client, DOCKER_HOST, FIXTURE, PULLABLE, StoppableGateway, Transcript, docker, error_message,
    http_as, spawn_gateway, status_and_json, status_of, unique,
};
use reqwest::cookie::{CookieStore, Jar};
use serde_json::{Value, json};

/// A policy with a `[guest]` table: the fixture images, no network (the table's default),
/// and the limits a guest table must have.
const GUEST_POLICY: &str = r#"[operator]
allowed_images = ["berth-fixture:*", "127.0.0.1:5000/berth/*"]
allowed_networks = ["default", "none"]
max_concurrent_runs = 20
max_run_seconds = 600

[guest]
allowed_images = ["berth-fixture:*", "127.0.0.1:5000/berth/*"]
max_memory = "64m"
max_cpus = 0.5
max_pids = 64
max_run_seconds = 600
"#;

/// The same operators without a `[guest]` table: no template can be public.
const NO_GUEST_POLICY: &str = r#"[operator]
allowed_images = ["berth-fixture:*"]
allowed_networks = ["default", "none"]
"#;

/// A shell with a terminal and no network, as a public template must be.
fn shell() -> Vec<String> {
    ["-it", "--network", "none", FIXTURE, "sh"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// A shell that prints a banner first: what a warm claim must replay.
fn banner_shell() -> Vec<String> {
    let script = "echo banner-ready; exec sh";
    ["-it", "--network", "none", FIXTURE, "sh", "-c", script]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// A public template `name` of `argv` (1 minute, 1 minute idle, 2 at once), with the fields
/// of `extra` set over it.
fn template(name: &str, argv: &[String], extra: Value) -> Value {
    let mut body = json!({
        "name": name,
        "title": "A shell",
        "description": "A shell in a container, for a test.",
        "argv": argv,
        "ttl_seconds": 60,
        "idle_seconds": 60,
        "capacity": 2,
        "access": "public",
    });
    for (key, value) in extra.as_object().unwrap() {
        if value.is_null() {
            body.as_object_mut().unwrap().remove(key);
        } else {
            body[key] = value.clone();
        }
    }
    body
}

/// Settings of a gateway of the test's own: `policy`, `Team`'s admin token.
fn config_with(policy: &str) -> Config {
    let mut config = Config::local(DOCKER_HOST);
    config.admin_token = Some(ADMIN.into());
    let file = config.data_dir.with_extension("policy.toml");
    std::fs::write(&file, policy).unwrap();
    config.policy = Some(file);
    config
}

/// Settings with the guest policy.
fn guest_config() -> Config {
    config_with(GUEST_POLICY)
}

/// A gateway of `config` (from [`guest_config`]) with its admin only: each user's password
/// sign-in costs a second or more, so only the tests that need users make them ([`crew`]).
fn gateway_with(config: Config) -> Team {
    let data_dir = config.data_dir.clone();
    Team::admin_only(spawn_gateway(config), data_dir)
}

fn gateway() -> Team {
    gateway_with(guest_config())
}

/// A gateway with the guest policy and `Team`'s users (alice, bob, vic, root).
async fn crew() -> Team {
    Team::new(GUEST_POLICY).await
}

/// `POST /api/templates` as `token`: (status, body).
async fn create_template(team: &Team, token: &str, body: &Value) -> (u16, Value) {
    status_and_json(http_as(token).post(team.url("/api/templates")).json(body)).await
}

/// Creates `body` as the admin and asserts it was created; returns the template.
async fn created_template(team: &Team, body: &Value) -> Value {
    let (code, created) = create_template(team, &team.admin, body).await;
    assert_eq!(code, 201, "{body}: {created}");
    created
}

/// `GET /api/templates/{name}` as the admin.
async fn template_info(team: &Team, name: &str) -> (u16, Value) {
    let path = format!("/api/templates/{name}");
    status_and_json(http_as(&team.admin).get(team.url(&path))).await
}

/// `DELETE /api/templates/{name}` as the admin: the status.
async fn delete_template(team: &Team, name: &str) -> u16 {
    let path = format!("/api/templates/{name}");
    status_of(http_as(&team.admin).delete(team.url(&path))).await
}

/// Polls the template (as the admin) until `done` holds for it, `limit` at most; returns the
/// last answer.
async fn template_until(
    team: &Team,
    name: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let since = Instant::now();
    loop {
        let (code, info) = template_info(team, name).await;
        assert_eq!(code, 200, "{info}");
        if done(&info) || since.elapsed() > limit {
            return info;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (20 s at most) until the template's pool has `ready` containers ready, and asserts it.
async fn pool_ready(team: &Team, name: &str, ready: u64) -> Value {
    let limit = Duration::from_secs(20);
    let info = template_until(team, name, limit, |t| t["pool"]["ready"] == ready).await;
    assert_eq!(info["pool"]["ready"], ready, "{info}");
    info
}

/// The audit log, newest first, as the admin.
async fn audit(team: &Team) -> Vec<Value> {
    let (code, entries) =
        status_and_json(http_as(&team.admin).get(team.url("/api/audit?limit=1000"))).await;
    assert_eq!(code, 200, "{entries}");
    entries.as_array().unwrap().clone()
}

/// The audit entries of `action` on `target` (a template's name, or a session id, which the
/// log writes as `template/session`).
fn audited<'a>(entries: &'a [Value], action: &str, target: &str) -> Vec<&'a Value> {
    entries
        .iter()
        .filter(|e| e["action"] == action)
        .filter(|e| {
            let t = e["target"].as_str().unwrap_or_default();
            t == target || t.ends_with(&format!("/{target}"))
        })
        .collect()
}

/// A template name no other test uses (`berth_tests::unique` without its `berth-test-`, to
/// keep within the 32 characters of a name): `prefix` at most 14 characters.
fn tname(prefix: &str) -> String {
    let name = unique(prefix).replacen("berth-test-", "", 1);
    assert!(name.len() <= 32, "{name}");
    name
}

/// A loopback address no other visitor of this test binary uses.
fn fresh_ip() -> IpAddr {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    IpAddr::from([127, 14, (n / 250) as u8, (n % 250 + 1) as u8])
}

/// A visitor's browser: its own loopback address and cookie jar, no credentials but what the
/// gateway gives it (the `berth_guest` cookie), or a bearer token for a signed-in visitor.
struct Visitor {
    http: reqwest::Client,
    jar: Arc<Jar>,
    addr: SocketAddr,
    ip: IpAddr,
}

impl Visitor {
    /// An anonymous visitor from an address of its own.
    fn new(addr: SocketAddr) -> Visitor {
        Visitor::from_ip(addr, fresh_ip())
    }

    /// An anonymous visitor from `ip`.
    fn from_ip(addr: SocketAddr, ip: IpAddr) -> Visitor {
        Visitor::build(addr, ip, "")
    }

    /// A signed-in visitor (`token`), from an address of its own.
    fn user(addr: SocketAddr, token: &str) -> Visitor {
        Visitor::build(addr, fresh_ip(), token)
    }

    fn build(addr: SocketAddr, ip: IpAddr, token: &str) -> Visitor {
        let jar = Arc::new(Jar::default());
        let mut headers = reqwest::header::HeaderMap::new();
        if !token.is_empty() {
            let value = format!("Bearer {token}").parse().expect("header value");
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .default_headers(headers)
            .local_address(ip)
            .build()
            .unwrap();
        Visitor {
            http,
            jar,
            addr,
            ip,
        }
    }

    /// The same browser (its address, its cookies) on the gateway at `addr` (cookies are per
    /// host, not per port).
    fn at(&self, addr: SocketAddr) -> Visitor {
        let http = reqwest::Client::builder()
            .cookie_provider(self.jar.clone())
            .local_address(self.ip)
            .build()
            .unwrap();
        Visitor {
            http,
            jar: self.jar.clone(),
            addr,
            ip: self.ip,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The `Cookie` header this visitor's browser sends the gateway, if any.
    fn cookie(&self) -> Option<String> {
        let url = self.url("/").parse().unwrap();
        self.jar
            .cookies(&url)
            .map(|v| v.to_str().unwrap().to_string())
    }

    /// `POST /api/templates/{name}/sessions` with `body`: the whole answer.
    async fn open(&self, template: &str, body: Value) -> reqwest::Response {
        let path = format!("/api/templates/{template}/sessions");
        self.http
            .post(self.url(&path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Opens a session on `template` (an 80×24 terminal): (status, body).
    async fn start(&self, template: &str) -> (u16, Value) {
        let resp = self.open(template, json!({"cols": 80, "rows": 24})).await;
        let code = resp.status().as_u16();
        (code, resp.json().await.unwrap_or(Value::Null))
    }

    /// Opens a session that must be running at once (201); returns it.
    async fn running(&self, template: &str) -> Value {
        let (code, session) = self.start(template).await;
        assert_eq!(code, 201, "{session}");
        assert_eq!(session["state"], "running", "{session}");
        session
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        status_and_json(self.http.get(self.url(path))).await
    }

    /// `GET /api/sessions/{id}`.
    async fn session(&self, id: &str) -> (u16, Value) {
        self.get(&format!("/api/sessions/{id}")).await
    }

    /// `POST /api/sessions/{id}/extend`.
    async fn extend(&self, id: &str) -> (u16, Value) {
        let path = format!("/api/sessions/{id}/extend");
        status_and_json(self.http.post(self.url(&path))).await
    }

    /// `DELETE /api/sessions/{id}`: the status.
    async fn end(&self, id: &str) -> u16 {
        let path = format!("/api/sessions/{id}");
        status_of(self.http.delete(self.url(&path))).await
    }

    /// Opens the WebSocket `path` from this visitor's address with its cookie (and token).
    async fn connect(
        &self,
        path: &str,
        token: &str,
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://{}{path}", self.addr).into_client_request()?;
        if let Some(cookie) = self.cookie() {
            request
                .headers_mut()
                .insert("cookie", cookie.parse().unwrap());
        }
        if !token.is_empty() {
            let bearer = format!("Bearer {token}").parse().unwrap();
            request.headers_mut().insert("authorization", bearer);
        }
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(self.ip, 0)).unwrap();
        let stream = socket.connect(self.addr).await.unwrap();
        let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
        let (socket, _) = tokio_tungstenite::client_async(request, stream).await?;
        Ok(Client {
            socket,
            transcript: Transcript::default(),
        })
    }

    /// Watches `run_id` from its start, as this visitor.
    async fn watch(&self, run_id: &str) -> Client {
        let path = format!("/api/runs/{run_id}/ws");
        let mut client = self.connect(&path, "").await.expect("WebSocket connects");
        client.send(&watch()).await;
        client
    }

    /// The status of a WebSocket upgrade on `path` (101 when it is accepted).
    async fn upgrade_status(&self, path: &str) -> u16 {
        match self.connect(path, "").await {
            Ok(_) => 101,
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
            Err(e) => panic!("upgrade of {path}: {e}"),
        }
    }
}

fn watch() -> berth_shared::wire::ClientMessage {
    berth_shared::wire::ClientMessage::Watch { from: None }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// An RFC 3339 UTC time (`2026-01-01T00:00:00.123Z`) in Unix seconds.
fn unix_of(time: &str) -> f64 {
    let t = time
        .strip_suffix('Z')
        .or_else(|| time.strip_suffix("+00:00"))
        .unwrap_or_else(|| panic!("{time:?} is not a UTC RFC 3339 time"));
    let (date, clock) = t.split_once('T').expect("a date and a time");
    let date: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let clock: Vec<f64> = clock.split(':').map(|p| p.parse().unwrap()).collect();
    let (y, m, d) = (date[0], date[1], date[2]);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days as f64 * 86_400.0 + clock[0] * 3600.0 + clock[1] * 60.0 + clock[2]
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The container of a session's run (its record's `container_id`), as the admin sees it.
async fn container_of(team: &Team, session: &Value) -> String {
    let path = format!("/api/runs/{}", str_of(session, "run_id"));
    let record = team.get_json(&team.admin, &path).await;
    str_of(&record, "container_id").to_string()
}

/// Whether the engine has a container `id` (any state).
fn exists(id: &str) -> bool {
    docker(&["inspect", id]).0
}

/// Waits until the engine no longer has container `id`, `limit` at most; returns whether it
/// went.
async fn gone_within(id: &str, limit: Duration) -> bool {
    let since = Instant::now();
    loop {
        if !exists(id) {
            return true;
        }
        if since.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The session a 409 names: docs/API.md gives the answer as
/// `{"error":{"code":409,"message":…,"session_id":…}}`.
fn named_session(body: &Value) -> &Value {
    &body["error"]["session_id"]
}

/// Polls `GET /api/sessions/{id}` as `visitor` until `done` holds, `limit` at most; returns the
/// last answer and how long it took.
async fn session_until(
    visitor: &Visitor,
    id: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> (Value, Duration) {
    let since = Instant::now();
    loop {
        let (code, info) = visitor.session(id).await;
        assert_eq!(code, 200, "{info}");
        if done(&info) || since.elapsed() > limit {
            return (info, since.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every container on the engine that the template `name`'s pool started (full ids): they
/// carry the pool's owner id, `io.berth.owner-id=pool-<name>`. Labels never change, so one a
/// session took is among them.
fn pool_started(name: &str) -> Vec<String> {
    let filter = format!("label=io.berth.owner-id=pool-{name}");
    let (_, out, _) = docker(&["ps", "-aq", "--no-trunc", "--filter", &filter]);
    out.lines().map(str::to_string).collect()
}

/// The pool's containers on the engine that no session took (`taken`: the sessions'
/// containers).
fn pool_containers(name: &str, taken: &[&str]) -> Vec<String> {
    pool_started(name)
        .into_iter()
        .filter(|id| !taken.contains(&id.as_str()))
        .collect()
}

/// Every container on the engine that the gateway on `data_dir` made (its
/// `io.berth.instance` label: `<data-dir>/instance-id`).
fn containers_of_gateway(data_dir: &Path) -> Vec<String> {
    let Ok(instance) = std::fs::read_to_string(data_dir.join("instance-id")) else {
        return Vec::new();
    };
    let filter = format!("label=io.berth.instance={}", instance.trim());
    let (_, out, _) = docker(&["ps", "-aq", "--filter", &filter]);
    out.lines().map(str::to_string).collect()
}

/// A test's clean-up, however the test ends: dropped, it deletes the gateway's templates (so
/// that no pool refills) and removes every container the gateway made. At the end of a test
/// that passed, [`Sweep::finish`] asserts first that nothing was left behind.
struct Sweep {
    /// The gateway now (a restart test moves it to the second gateway).
    addr: SocketAddr,
    data_dir: PathBuf,
}

impl Sweep {
    fn new(team: &Team) -> Sweep {
        Sweep {
            addr: team.addr,
            data_dir: team.data_dir.clone(),
        }
    }

    /// Asserts that no container of the gateway is left on the engine (15 s at most after the
    /// test's last DELETE: removals take their time on a loaded engine; the 2 s bound of
    /// reaping is the TTL and idle tests' to check).
    async fn finish(self) {
        let since = Instant::now();
        let mut left = containers_of_gateway(&self.data_dir);
        while !left.is_empty() && since.elapsed() < Duration::from_secs(15) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            left = containers_of_gateway(&self.data_dir);
        }
        let format = "{{.ID}} {{.Status}} owner={{.Label \"io.berth.owner\"}} \
                      run={{.Label \"io.berth.run-id\"}} {{.Command}}";
        let described: Vec<String> = left
            .iter()
            .map(|id| {
                docker(&[
                    "ps",
                    "-a",
                    "--filter",
                    &format!("id={id}"),
                    "--format",
                    format,
                ])
                .1
            })
            .collect();
        assert!(left.is_empty(), "containers left behind: {described:?}");
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        let (addr, data_dir) = (self.addr, self.data_dir.clone());
        let cleaning = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let admin = http_as(ADMIN);
                let list = admin.get(format!("http://{addr}/api/templates"));
                let listed = tokio::time::timeout(Duration::from_secs(5), list.send()).await;
                if let Ok(Ok(resp)) = listed
                    && let Ok(Value::Array(templates)) = resp.json::<Value>().await
                {
                    for t in templates {
                        let name = t["name"].as_str().unwrap_or_default();
                        let delete = admin.delete(format!("http://{addr}/api/templates/{name}"));
                        let _ = tokio::time::timeout(Duration::from_secs(5), delete.send()).await;
                    }
                }
            });
            for id in containers_of_gateway(&data_dir) {
                docker(&["rm", "-f", &id]);
            }
        });
        let _ = cleaning.join();
    }
}

// ---------------------------------------------------------------------------------------------
// Templates

/// Every field of a template is checked, with a 400 that says what is wrong; only admins
/// create templates; names are unique; the answer echoes the body with its pool and sessions.
#[tokio::test]
async fn templates_are_validated() {
    let team = crew().await;
    let sweep = Sweep::new(&team);
    let name = tname("valid");
    let sh = shell();
    let bad_names = [
        "".to_string(),
        "Shell".to_string(),
        "a shell".to_string(),
        "a/b".to_string(),
        "x".repeat(33),
    ];
    for bad in &bad_names {
        let (code, body) =
            create_template(&team, &team.admin, &template(bad, &sh, json!({}))).await;
        assert_eq!(code, 400, "name {bad:?}: {body}");
        assert!(error_message(&body).contains("name"), "{body}");
    }
    let spec = json!({"image": FIXTURE, "command": ["sh"], "tty": true, "interactive": true,
                      "network": ["none"]});
    // Each refused with a message that names what is wrong.
    let cases = [
        (json!({"spec": spec}), "argv"),
        (json!({"argv": null}), "argv"),
        (json!({"ttl_seconds": 9}), "ttl_seconds"),
        (json!({"idle_seconds": 4}), "idle_seconds"),
        (json!({"capacity": 0}), "capacity"),
        (json!({"capacity": 1001}), "capacity"),
        (json!({"warm": 101}), "warm"),
        (json!({"max_ttl_seconds": 30}), "max_ttl_seconds"),
        (json!({"access": "everyone"}), "everyone"),
        (json!({"bogus": 1}), "bogus"),
        (json!({"command": "rm -rf /"}), "command"),
    ];
    for (extra, named) in cases {
        let body = template(&name, &sh, extra.clone());
        let (code, answer) = create_template(&team, &team.admin, &body).await;
        assert_eq!(code, 400, "{extra}: {answer}");
        assert!(error_message(&answer).contains(named), "{extra}: {answer}");
    }
    // argv is parsed as a run's: the CLI's own words.
    let bogus: Vec<String> = ["--bogus", FIXTURE, "sh"].map(String::from).to_vec();
    let (code, body) =
        create_template(&team, &team.admin, &template(&name, &bogus, json!({}))).await;
    assert_eq!(code, 400, "{body}");
    assert!(
        error_message(&body).contains("unknown flag: --bogus"),
        "{body}"
    );
    let no_image: Vec<String> = vec!["-it".into()];
    let (code, body) =
        create_template(&team, &team.admin, &template(&name, &no_image, json!({}))).await;
    assert_eq!(code, 400, "{body}");
    let bad_value: Vec<String> = ["-m", "lots", FIXTURE, "sh"].map(String::from).to_vec();
    let (code, body) =
        create_template(&team, &team.admin, &template(&name, &bad_value, json!({}))).await;
    assert_eq!(code, 400, "{body}");
    assert!(error_message(&body).contains("lots"), "{body}");

    // A public template must pass [guest], naming the rule.
    let privileged: Vec<String> = ["-it", "--privileged", "--network", "none", FIXTURE, "sh"]
        .map(String::from)
        .to_vec();
    let (code, body) =
        create_template(&team, &team.admin, &template(&name, &privileged, json!({}))).await;
    assert_eq!(code, 400, "{body}");
    assert!(error_message(&body).contains("`privileged`"), "{body}");
    // [guest]'s networks are `none` only: the default network is refused.
    let networked: Vec<String> = ["-it", FIXTURE, "sh"].map(String::from).to_vec();
    let (code, body) =
        create_template(&team, &team.admin, &template(&name, &networked, json!({}))).await;
    assert_eq!(code, 400, "{body}");
    assert!(error_message(&body).contains("`networks`"), "{body}");
    let over_limit: Vec<String> = ["-it", "-m", "1g", "--network", "none", FIXTURE, "sh"]
        .map(String::from)
        .to_vec();
    let (code, body) =
        create_template(&team, &team.admin, &template(&name, &over_limit, json!({}))).await;
    assert_eq!(code, 400, "{body}");
    assert!(error_message(&body).contains("`memory`"), "{body}");
    let spec_privileged = json!({"argv": null, "spec": {"image": FIXTURE, "command": ["sh"],
        "privileged": true, "network": ["none"]}});
    let (code, body) =
        create_template(&team, &team.admin, &template(&name, &sh, spec_privileged)).await;
    assert_eq!(code, 400, "{body}");
    assert!(error_message(&body).contains("`privileged`"), "{body}");
    // max_ttl_seconds within [guest]'s max_run_seconds (600).
    let (code, body) = create_template(
        &team,
        &team.admin,
        &template(&name, &sh, json!({"max_ttl_seconds": 601})),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(error_message(&body).contains("`max_run_seconds`"), "{body}");
    // The same argv as a `users` template is not a guest's: the [guest] table does not apply.
    let users_name = tname("valid-users");
    let users = template(&users_name, &networked, json!({"access": "users"}));
    created_template(&team, &users).await;

    // Only admins create templates.
    let body = template(&name, &sh, json!({}));
    let (code, answer) = create_template(&team, &team.alice, &body).await;
    assert_eq!(code, 403, "{answer}");
    let (code, answer) = create_template(&team, &team.root, &body).await;
    assert_eq!(code, 201, "an admin user: {answer}");
    assert_eq!(delete_template(&team, &name).await, 204);
    let (code, answer) = create_template(&team, "", &body).await;
    assert_eq!(code, 401, "{answer}");

    // Created: the body back, max_ttl_seconds filled in, its pool and sessions.
    let created = created_template(&team, &body).await;
    for key in [
        "name",
        "title",
        "description",
        "argv",
        "ttl_seconds",
        "idle_seconds",
        "capacity",
        "access",
    ] {
        assert_eq!(created[key], body[key], "{key}: {created}");
    }
    assert_eq!(created["max_ttl_seconds"], 60, "{created}");
    assert_eq!(created["warm"], 0, "{created}");
    assert_eq!(
        created["pool"],
        json!({"target": 0, "ready": 0}),
        "{created}"
    );
    assert_eq!(
        created["sessions"],
        json!({"running": 0, "queued": 0}),
        "{created}"
    );
    assert!(created["created_at"].is_string() && created["updated_at"].is_string());
    let (code, answer) = create_template(&team, &team.admin, &body).await;
    assert_eq!(code, 409, "the name is taken: {answer}");

    // Listings: admins all, anonymous visitors the public ones, users what they may open.
    let listed = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap_or_else(|| panic!("a list: {list}"))
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    };
    let all = team.get_json(&team.admin, "/api/templates").await;
    assert!(
        listed(&all).contains(&name) && listed(&all).contains(&users_name),
        "{all}"
    );
    let anonymous = Visitor::new(team.addr);
    let (code, public) = anonymous.get("/api/templates").await;
    assert_eq!(code, 200, "{public}");
    assert_eq!(listed(&public), vec![name.clone()], "{public}");
    let (code, _) = anonymous.get(&format!("/api/templates/{users_name}")).await;
    assert_eq!(code, 404, "a users template is not an anonymous visitor's");
    let (code, one) = anonymous.get(&format!("/api/templates/{name}")).await;
    assert_eq!(
        (code, one["name"].as_str()),
        (200, Some(name.as_str())),
        "{one}"
    );
    let viewers = team.get_json(&team.vic, "/api/templates").await;
    assert!(listed(&viewers).contains(&users_name), "{viewers}");

    // PUT replaces; the route's name must be the body's.
    let path = format!("/api/templates/{name}");
    let mut changed = body.clone();
    changed["title"] = json!("Another shell");
    changed["ttl_seconds"] = json!(120);
    let put = http_as(&team.admin).put(team.url(&path)).json(&changed);
    let (code, updated) = status_and_json(put).await;
    assert_eq!(code, 200, "{updated}");
    assert_eq!(
        (updated["title"].as_str(), updated["ttl_seconds"].as_u64()),
        (Some("Another shell"), Some(120)),
        "{updated}"
    );
    let (_, again) = template_info(&team, &name).await;
    assert_eq!(again["title"], "Another shell", "{again}");
    let mut renamed = changed.clone();
    renamed["name"] = json!(tname("renamed"));
    let put = http_as(&team.admin).put(team.url(&path)).json(&renamed);
    assert_eq!(status_of(put).await, 400, "a body naming another template");
    let put = http_as(&team.alice).put(team.url(&path)).json(&changed);
    assert_eq!(status_of(put).await, 403);
    let mut privileged_put = changed.clone();
    privileged_put["argv"] = json!(privileged);
    let put = http_as(&team.admin)
        .put(team.url(&path))
        .json(&privileged_put);
    let (code, answer) = status_and_json(put).await;
    assert_eq!(code, 400, "{answer}");
    assert!(error_message(&answer).contains("`privileged`"), "{answer}");
    let mut absent = changed.clone();
    absent["name"] = json!(tname("missing"));
    let missing = format!("/api/templates/{}", str_of(&absent, "name"));
    let put = http_as(&team.admin).put(team.url(&missing)).json(&absent);
    assert_eq!(status_of(put).await, 404);
    assert_eq!(
        status_of(http_as(&team.alice).delete(team.url(&path))).await,
        403
    );

    assert_eq!(delete_template(&team, &name).await, 204);
    assert_eq!(delete_template(&team, &users_name).await, 204);
    assert_eq!(template_info(&team, &name).await.0, 404);
    assert_eq!(delete_template(&team, &name).await, 404);
    sweep.finish().await;
}

/// Without a `[guest]` table no template can be public; `users` templates still can be made.
#[tokio::test]
async fn public_templates_need_a_guest_table() {
    let team = gateway_with(config_with(NO_GUEST_POLICY));
    let sweep = Sweep::new(&team);
    let name = tname("noguest");
    let (code, body) =
        create_template(&team, &team.admin, &template(&name, &shell(), json!({}))).await;
    assert_eq!(code, 400, "{body}");
    assert!(error_message(&body).contains("[guest]"), "{body}");
    let users = template(&name, &shell(), json!({"access": "users"}));
    created_template(&team, &users).await;
    assert_eq!(delete_template(&team, &name).await, 204);
    sweep.finish().await;
}

/// A template whose image is missing is pulled once, at creation; one that cannot be pulled is
/// a 400 with the registry's words.
#[tokio::test]
async fn missing_images_are_pulled_at_creation() {
    let team = gateway();
    let sweep = Sweep::new(&team);
    docker(&["rmi", "-f", PULLABLE]);
    assert!(!docker(&["image", "inspect", PULLABLE]).0);
    let name = tname("pull");
    let argv: Vec<String> = ["-it", "--network", "none", PULLABLE, "sh"]
        .map(String::from)
        .to_vec();
    created_template(&team, &template(&name, &argv, json!({}))).await;
    assert!(
        docker(&["image", "inspect", PULLABLE]).0,
        "pulled at creation"
    );
    // Its sessions start without a pull.
    let visitor = Visitor::new(team.addr);
    let session = visitor.running(&name).await;
    let mut client = visitor.watch(str_of(&session, "run_id")).await;
    client.until(|t| t.stdout_str().contains("# ")).await;
    assert!(
        !client.transcript.kinds().contains(&"pull"),
        "{:?}",
        client.transcript.kinds()
    );
    assert_eq!(visitor.end(str_of(&session, "session_id")).await, 204);

    let absent = "127.0.0.1:5000/berth/absent:latest";
    let argv: Vec<String> = ["-it", "--network", "none", absent, "sh"]
        .map(String::from)
        .to_vec();
    let other = tname("pull-absent");
    let (code, body) =
        create_template(&team, &team.admin, &template(&other, &argv, json!({}))).await;
    assert_eq!(code, 400, "{body}");
    let said = error_message(&body);
    assert!(said.contains("berth/absent"), "{said}");
    assert!(
        said.contains("not found") || said.contains("unknown"),
        "{said}"
    );
    let unreachable: Vec<String> = [
        "-it",
        "--network",
        "none",
        "127.0.0.1:1/berth/busybox",
        "sh",
    ]
    .map(String::from)
    .to_vec();
    let users = template(&other, &unreachable, json!({"access": "users"}));
    let (code, body) = create_template(&team, &team.admin, &users).await;
    assert_eq!(code, 400, "{body}");
    assert!(
        error_message(&body).contains("connection refused"),
        "{body}"
    );
    assert_eq!(
        template_info(&team, &other).await.0,
        404,
        "nothing was created"
    );
    assert_eq!(delete_template(&team, &name).await, 204);
    sweep.finish().await;
}

// ---------------------------------------------------------------------------------------------
// Sessions

/// An anonymous visitor opens a session on a public template: a guest cookie (HttpOnly,
/// SameSite=Strict), its own session and run, a terminal that takes its input, and an end that
/// removes the container.
#[tokio::test]
async fn a_guest_opens_a_public_session_without_an_account() {
    let team = gateway();
    let sweep = Sweep::new(&team);
    let name = tname("guest");
    created_template(&team, &template(&name, &shell(), json!({}))).await;
    let visitor = Visitor::new(team.addr);

    // The visitor cannot change what the template runs.
    let resp = visitor
        .open(&name, json!({"argv": ["--privileged", FIXTURE, "sh"]}))
        .await;
    assert_eq!(resp.status().as_u16(), 400);

    let before = now_unix();
    let resp = visitor.open(&name, json!({"cols": 100, "rows": 30})).await;
    assert_eq!(resp.status().as_u16(), 201);
    let cookies: Vec<String> = resp
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let session: Value = resp.json().await.unwrap();
    let guest = cookies
        .iter()
        .find(|c| c.starts_with("berth_guest="))
        .unwrap_or_else(|| panic!("a berth_guest cookie in {cookies:?}"));
    let attributes: Vec<String> = guest
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    for wanted in ["httponly", "samesite=strict", "path=/"] {
        assert!(
            attributes.iter().any(|a| a == wanted),
            "{wanted} in {guest}"
        );
    }
    assert!(
        !attributes.iter().any(|a| a == "secure"),
        "not Secure over http: {guest}"
    );
    let max_age = attributes
        .iter()
        .find_map(|a| a.strip_prefix("max-age="))
        .and_then(|v| v.parse::<u64>().ok());
    assert_eq!(max_age, Some(24 * 3600), "24 hours: {guest}");

    assert_eq!(session["state"], "running", "{session}");
    assert_eq!(session["template"], name.as_str(), "{session}");
    assert_eq!(session["warm"], false, "{session}");
    let id = str_of(&session, "session_id").to_string();
    let run_id = str_of(&session, "run_id").to_string();
    let expires = unix_of(str_of(&session, "expires_at"));
    assert!(
        (expires - (before + 60.0)).abs() < 3.0,
        "expires a minute from now: {session}"
    );
    assert!(session["created_at"].is_string(), "{session}");

    let (code, info) = visitor.session(&id).await;
    assert_eq!(code, 200, "{info}");
    for key in [
        "session_id",
        "template",
        "state",
        "run_id",
        "expires_at",
        "created_at",
    ] {
        assert_eq!(info[key], session[key], "{key}: {info}");
    }
    assert!(info["ended_reason"].is_null(), "{info}");
    let (code, run) = visitor.get(&format!("/api/runs/{run_id}")).await;
    assert_eq!(code, 200, "the guest sees its run: {run}");
    assert_eq!(run["tty"], true, "{run}");
    let container = container_of(&team, &session).await;
    let format = "{{.State.Running}} {{.HostConfig.NetworkMode}} {{.HostConfig.Memory}}";
    let (_, out, _) = docker(&["inspect", "--format", format, &container]);
    assert_eq!(
        out.trim(),
        format!("true none {}", 64 * 1024 * 1024),
        "[guest]'s limits"
    );

    // The terminal: the visitor's size, its input, its output.
    let mut client = visitor.watch(&run_id).await;
    client.until(|t| t.stdout_str().contains("# ")).await;
    client.send_stdin(b"stty size; echo hi-$((6*7))\n").await;
    client.until(|t| t.stdout_str().contains("hi-42")).await;
    assert!(
        client.transcript.stdout_str().contains("30 100"),
        "{}",
        client.transcript.stdout_str()
    );
    let output = visitor.url(&format!("/api/runs/{run_id}/output"));
    let output = berth_tests::text_of(visitor.http.get(output)).await;
    assert!(output.contains("hi-42"), "its run's output: {output:?}");

    // The visitor ends it: 204, the container gone within 2 s, the watcher told and closed.
    let ended_at = Instant::now();
    assert_eq!(visitor.end(&id).await, 204);
    assert!(
        gone_within(&container, Duration::from_secs(2)).await,
        "removed: {:?}",
        ended_at.elapsed()
    );
    let transcript = tokio::time::timeout(Duration::from_secs(10), client.finish())
        .await
        .expect("the watcher is closed");
    let kinds = transcript.kinds();
    assert!(
        kinds.contains(&"exit") || kinds.contains(&"error"),
        "{kinds:?}"
    );
    let (code, info) = visitor.session(&id).await;
    assert_eq!(code, 200, "{info}");
    assert_eq!(info["state"], "ended", "{info}");
    assert_eq!(info["ended_reason"], "ended", "{info}");

    // The admin lists its sessions, with the visitor.
    let listing = team
        .get_json(&team.admin, &format!("/api/sessions?template={name}"))
        .await;
    let entry = listing
        .as_array()
        .unwrap_or_else(|| panic!("{listing}"))
        .iter()
        .find(|s| s["session_id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} in {listing}"))
        .clone();
    assert!(str_of(&entry, "visitor").starts_with("guest-"), "{entry}");
    assert_eq!(delete_template(&team, &name).await, 204);
    sweep.finish().await;
}

/// A guest reaches its own sessions and their runs, nothing else: another guest's session and
/// run are 404, every other route 401; a signed-in user does not see a guest's session either.
#[tokio::test]
async fn guests_see_only_their_own() {
    let team = crew().await;
    let sweep = Sweep::new(&team);
    let name = tname("isolation");
    let users_name = tname("isolation-users");
    created_template(&team, &template(&name, &shell(), json!({}))).await;
    created_template(
        &team,
        &template(&users_name, &shell(), json!({"access": "users"})),
    )
    .await;
    let ann = Visitor::new(team.addr);
    let bea = Visitor::new(team.addr);
    let anns = ann.running(&name).await;
    let beas = bea.running(&name).await;
    assert_ne!(anns["session_id"], beas["session_id"]);
    let (id, run_id) = (str_of(&anns, "session_id"), str_of(&anns, "run_id"));
    let container = container_of(&team, &anns).await;

    // Bea and alice, and a cookie nobody was given, find nothing of ann's.
    let alice = Visitor::user(team.addr, &team.alice);
    let forged = Visitor::new(team.addr);
    let url = forged.url("/").parse().unwrap();
    forged
        .jar
        .add_cookie_str("berth_guest=forged-value; Path=/", &url);
    for (who, other) in [("bea", &bea), ("alice", &alice), ("forged", &forged)] {
        for path in [
            format!("/api/sessions/{id}"),
            format!("/api/runs/{run_id}"),
            format!("/api/runs/{run_id}/output"),
        ] {
            let (code, body) = other.get(&path).await;
            assert!(
                [404, 401].contains(&code),
                "{who} GET {path}: {code} {body}"
            );
            if who != "forged" {
                assert_eq!(code, 404, "{who} GET {path}: {body}");
            }
        }
        let (code, body) = other.extend(id).await;
        assert!([404, 401].contains(&code), "{who} extend: {code} {body}");
        assert!([404, 401].contains(&other.end(id).await), "{who} DELETE");
        let ws = other
            .upgrade_status(&format!("/api/runs/{run_id}/ws"))
            .await;
        assert!([404, 401].contains(&ws), "{who} watch: {ws}");
        for action in ["stop", "kill"] {
            let path = other.url(&format!("/api/runs/{run_id}/{action}"));
            let code = status_of(other.http.post(path)).await;
            assert!([404, 401].contains(&code), "{who} {action}: {code}");
            if who == "alice" {
                assert_eq!(code, 404, "another visitor's run: {action}");
            }
        }
    }
    assert_eq!(bea.session(id).await.0, 404);
    assert_eq!(
        bea.upgrade_status(&format!("/api/runs/{run_id}/ws")).await,
        404
    );
    assert!(exists(&container), "still there after the others tried");
    let (code, info) = ann.session(id).await;
    assert_eq!(
        (code, info["state"].as_str()),
        (200, Some("running")),
        "{info}"
    );
    // The admin sees it.
    let seen = team
        .get_json(&team.admin, &format!("/api/sessions/{id}"))
        .await;
    assert_eq!(seen["session_id"], id, "{seen}");

    // Every other route is 401 for a guest, its own container's included.
    let gets = [
        "/api/me".to_string(),
        "/api/runs".to_string(),
        "/api/containers".to_string(),
        format!("/api/containers/{container}"),
        format!("/api/containers/{container}/logs"),
        "/api/images".to_string(),
        "/api/engines".to_string(),
        "/api/users".to_string(),
        "/api/tokens".to_string(),
        "/api/audit".to_string(),
        format!("/api/sessions?template={name}"),
    ];
    for path in &gets {
        let (code, body) = ann.get(path).await;
        assert_eq!(code, 401, "GET {path}: {body}");
    }
    let posts = [
        ("/api/runs".to_string(), json!({"argv": [FIXTURE, "true"]})),
        (
            "/api/templates".to_string(),
            template(&tname("by-guest"), &shell(), json!({})),
        ),
        (format!("/api/containers/{container}/kill"), json!({})),
        (format!("/api/containers/{container}/attach"), json!({})),
        ("/api/tokens".to_string(), json!({"name": "mine"})),
        (format!("/api/templates/{users_name}/sessions"), json!({})),
    ];
    for (path, body) in &posts {
        let code = status_of(ann.http.post(ann.url(path)).json(body)).await;
        assert_eq!(code, 401, "POST {path}");
    }
    let code = status_of(
        ann.http
            .delete(ann.url(&format!("/api/containers/{container}"))),
    )
    .await;
    assert_eq!(code, 401, "DELETE the container");
    let code = status_of(ann.http.delete(ann.url(&format!("/api/templates/{name}")))).await;
    assert_eq!(code, 401, "DELETE the template");
    assert_eq!(
        ann.upgrade_status("/api/runs/ws").await,
        401,
        "a run of its own"
    );
    // A `users` template is for signed-in users only, and not listed to guests.
    let (code, templates) = ann.get("/api/templates").await;
    assert_eq!(code, 200, "{templates}");
    assert!(!templates.to_string().contains(&users_name), "{templates}");
    assert!(exists(&container));

    assert_eq!(ann.end(id).await, 204);
    assert_eq!(bea.end(str_of(&beas, "session_id")).await, 204);
    assert_eq!(delete_template(&team, &name).await, 204);
    assert_eq!(delete_template(&team, &users_name).await, 204);
    sweep.finish().await;
}

/// `users` templates are for signed-in users of any role: viewers open sessions and type into
/// them; anonymous visitors get 401; one user's session is another's 404.
#[tokio::test]
async fn users_templates_are_for_signed_in_users() {
    let team = crew().await;
    let sweep = Sweep::new(&team);
    let name = tname("users");
    let networked: Vec<String> = ["-it", FIXTURE, "sh"].map(String::from).to_vec();
    created_template(
        &team,
        &template(&name, &networked, json!({"access": "users"})),
    )
    .await;
    let anonymous = Visitor::new(team.addr);
    let (code, body) = anonymous.start(&name).await;
    assert_eq!(code, 401, "{body}");
    assert!(
        anonymous.cookie().is_none(),
        "no guest identity for a users template"
    );

    let vic = Visitor::user(team.addr, &team.vic);
    let session = vic.running(&name).await;
    let id = str_of(&session, "session_id");
    let mut client = vic
        .connect(
            &format!("/api/runs/{}/ws", str_of(&session, "run_id")),
            &team.vic,
        )
        .await
        .expect("WebSocket connects");
    client.send(&watch()).await;
    client.until(|t| t.stdout_str().contains("# ")).await;
    client.send_stdin(b"echo viewer-$((6*7))\n").await;
    client.until(|t| t.stdout_str().contains("viewer-42")).await;
    assert!(
        !client.transcript.kinds().contains(&"warning"),
        "{:?}",
        client.transcript.events
    );

    let listing = team.url(&format!("/api/sessions?template={name}"));
    assert_eq!(status_of(http_as(&team.vic).get(&listing)).await, 403);
    assert_eq!(status_of(http_as(&team.bob).get(&listing)).await, 403);
    let bob = Visitor::user(team.addr, &team.bob);
    assert_eq!(bob.session(id).await.0, 404);
    let (code, info) = vic.session(id).await;
    assert_eq!(
        (code, info["state"].as_str()),
        (200, Some("running")),
        "{info}"
    );
    let listing = team
        .get_json(&team.admin, &format!("/api/sessions?template={name}"))
        .await;
    let visitor = listing[0]["visitor"].as_str();
    assert_eq!(visitor, Some("vic"), "{listing}");
    assert_eq!(vic.end(id).await, 204);
    assert_eq!(delete_template(&team, &name).await, 204);
    sweep.finish().await;
}

/// One session per visitor per template: a second POST while one runs or waits is a 409 naming
/// it; once it ended, the visitor may start again.
#[tokio::test]
async fn one_session_per_visitor_per_template() {
    let team = crew().await;
    let sweep = Sweep::new(&team);
    let name = tname("once");
    created_template(&team, &template(&name, &shell(), json!({"capacity": 1}))).await;
    let ann = Visitor::new(team.addr);
    let first = ann.running(&name).await;
    let (code, body) = ann.start(&name).await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(named_session(&body), &first["session_id"], "{body}");
    assert!(!error_message(&body).is_empty(), "{body}");

    // Queued, the same.
    let bea = Visitor::new(team.addr);
    let (code, queued) = bea.start(&name).await;
    assert_eq!(code, 202, "{queued}");
    let (code, body) = bea.start(&name).await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(named_session(&body), &queued["session_id"], "{body}");
    let (_, info) = template_info(&team, &name).await;
    assert_eq!(
        info["sessions"],
        json!({"running": 1, "queued": 1}),
        "{info}"
    );

    // A signed-in user, with two tokens of theirs, is one visitor.
    let users = tname("once-users");
    created_template(
        &team,
        &template(&users, &shell(), json!({"access": "users"})),
    )
    .await;
    let alice = Visitor::user(team.addr, &team.alice);
    let hers = alice.running(&users).await;
    let browser = berth_tests::team::browser();
    assert_eq!(
        team.sign_in(&browser, "alice", berth_tests::team::PASSWORD)
            .await
            .status(),
        200
    );
    let again = browser
        .post(team.url(&format!("/api/templates/{users}/sessions")))
        .json(&json!({}));
    let (code, body) = status_and_json(again).await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(named_session(&body), &hers["session_id"], "{body}");

    // Ended, a new one.
    assert_eq!(ann.end(str_of(&first, "session_id")).await, 204);
    // A new container: seconds on a loaded engine.
    let (second, _) = session_until(
        &bea,
        str_of(&queued, "session_id"),
        Duration::from_secs(15),
        |s| s["run_id"].is_string(),
    )
    .await;
    assert_eq!(second["state"], "running", "{second}");
    let (code, again) = ann.start(&name).await;
    assert_eq!(code, 202, "queued behind bea: {again}");
    assert_ne!(again["session_id"], first["session_id"]);
    assert_eq!(ann.end(str_of(&again, "session_id")).await, 204);
    assert_eq!(bea.end(str_of(&second, "session_id")).await, 204);
    assert_eq!(alice.end(str_of(&hers, "session_id")).await, 204);
    assert_eq!(delete_template(&team, &name).await, 204);
    assert_eq!(delete_template(&team, &users).await, 204);
    sweep.finish().await;
}

/// A warm pool keeps containers started ahead of demand; a session takes one (`warm: true`),
/// resized to the visitor's terminal, and the visitor's watch replays the container's output
/// from its first byte; the pool refills.
#[tokio::test]
async fn a_warm_claim_replays_the_banner() {
    let team = gateway();
    let sweep = Sweep::new(&team);
    let name = tname("warm");
    let created =
        created_template(&team, &template(&name, &banner_shell(), json!({"warm": 1}))).await;
    assert_eq!(created["pool"]["target"], 1, "{created}");
    pool_ready(&team, &name, 1).await;
    assert_eq!(
        pool_started(&name).len(),
        1,
        "one pool container on the engine"
    );

    let visitor = Visitor::new(team.addr);
    let resp = visitor.open(&name, json!({"cols": 100, "rows": 30})).await;
    assert_eq!(resp.status().as_u16(), 201);
    let session: Value = resp.json().await.unwrap();
    assert_eq!(session["warm"], true, "{session}");
    let mut client = visitor.watch(str_of(&session, "run_id")).await;
    client.until(|t| t.stdout_str().contains("# ")).await;
    let output = client.transcript.stdout_str();
    assert!(
        output.starts_with("banner-ready\r\n"),
        "from the first byte: {output:?}"
    );
    client.send_stdin(b"stty size\n").await;
    client.until(|t| t.stdout_str().contains("30 100")).await;

    // The pool refills: one ready again beside the session, two containers in all.
    let info = pool_ready(&team, &name, 1).await;
    assert_eq!(
        info["sessions"],
        json!({"running": 1, "queued": 0}),
        "{info}"
    );
    let container = container_of(&team, &session).await;
    assert_eq!(pool_containers(&name, &[&container]).len(), 1);
    assert_eq!(pool_started(&name).len(), 2);
    // The session's run is the visitor's now, not the pool's.
    let (code, run) = visitor
        .get(&format!("/api/runs/{}", str_of(&session, "run_id")))
        .await;
    assert_eq!(code, 200, "{run}");
    assert_eq!(delete_template(&team, &name).await, 204);
    assert!(gone_within(&container, Duration::from_secs(2)).await);
    sweep.finish().await;
}

/// A session that takes a warm container has its whole idle time, however long the container
/// waited in the pool, with or without a terminal size in its request.
#[tokio::test]
async fn a_warm_claim_starts_its_idle_clock() {
    let team = gateway();
    let sweep = Sweep::new(&team);
    let name = tname("warm-idle");
    let body = template(&name, &shell(), json!({"warm": 2, "idle_seconds": 5}));
    created_template(&team, &body).await;
    pool_ready(&team, &name, 2).await;
    // Older than the idle time in the pool.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let sized = Visitor::new(team.addr);
    let unsized_ = Visitor::new(team.addr);
    let with_size = sized.running(&name).await;
    let resp = unsized_.open(&name, json!({})).await;
    assert_eq!(resp.status().as_u16(), 201);
    let without_size: Value = resp.json().await.unwrap();
    assert_eq!(
        (with_size["warm"].as_bool(), without_size["warm"].as_bool()),
        (Some(true), Some(true)),
        "{with_size} {without_size}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (visitor, session) in [(&sized, &with_size), (&unsized_, &without_size)] {
        let (code, info) = visitor.session(str_of(session, "session_id")).await;
        assert_eq!(code, 200, "{info}");
        assert_eq!(
            info["state"], "running",
            "2 s into its 5 s of idle time: {info}"
        );
    }
    assert_eq!(delete_template(&team, &name).await, 204);
    sweep.finish().await;
}

/// Deleting a template ends its sessions (`ended`) and drains its pool: every container of it
/// gone from the engine within 2 s.
#[tokio::test]
async fn deleting_a_template_ends_its_sessions_and_drains_its_pool() {
    let team = gateway();
    let sweep = Sweep::new(&team);
    let name = tname("drain");
    created_template(
        &team,
        &template(&name, &shell(), json!({"warm": 2, "capacity": 3})),
    )
    .await;
    pool_ready(&team, &name, 2).await;
    let visitor = Visitor::new(team.addr);
    let session = visitor.running(&name).await;
    assert_eq!(session["warm"], true, "{session}");
    let container = container_of(&team, &session).await;
    pool_ready(&team, &name, 2).await;
    let pool = pool_containers(&name, &[&container]);
    assert_eq!(pool.len(), 2, "{pool:?}");

    let mut client = visitor.watch(str_of(&session, "run_id")).await;
    client.until(|t| t.stdout_str().contains("# ")).await;
    assert_eq!(delete_template(&team, &name).await, 204);
    for id in pool.iter().chain([&container]) {
        assert!(
            gone_within(id, Duration::from_secs(2)).await,
            "{id} removed"
        );
    }
    assert_eq!(pool_started(&name), Vec::<String>::new());
    let transcript = tokio::time::timeout(Duration::from_secs(10), client.finish())
        .await
        .expect("the watcher is closed");
    assert!(
        transcript.exit_code().is_some() || transcript.error().is_some(),
        "{:?}",
        transcript.kinds()
    );
    let (code, info) = visitor.session(str_of(&session, "session_id")).await;
    assert_eq!(code, 200, "{info}");
    assert_eq!(info["state"], "ended", "{info}");
    assert_eq!(info["ended_reason"], "ended", "{info}");
    assert_eq!(template_info(&team, &name).await.0, 404);
    let (code, _) = visitor.start(&name).await;
    assert_eq!(code, 404, "no sessions on a deleted template");
    sweep.finish().await;
}

/// Extending moves `expires_at` to now + ttl, at most start + max_ttl; at the cap, 409. The
/// gateway keeps these times in whole seconds: the test waits for the second it needs.
#[tokio::test]
async fn extend_moves_the_deadline_up_to_its_cap() {
    let team = gateway();
    let sweep = Sweep::new(&team);
    let name = tname("extend");
    let body = template(
        &name,
        &shell(),
        json!({"ttl_seconds": 10, "max_ttl_seconds": 12}),
    );
    created_template(&team, &body).await;
    let visitor = Visitor::new(team.addr);
    let session = visitor.running(&name).await;
    let id = str_of(&session, "session_id");
    let first = unix_of(str_of(&session, "expires_at"));
    // Its start: expires_at is start + ttl.
    let start = first - 10.0;
    assert!(
        (start - now_unix()).abs() < 2.0,
        "it started just now: {session}"
    );
    let until = |at: f64| async move {
        let wait = (at - now_unix()).max(0.0);
        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    };
    // A connected client is warned of the end (within a minute from the start), and again of
    // each new end.
    let mut client = visitor.watch(str_of(&session, "run_id")).await;
    let warned = |t: &Transcript| -> Vec<String> {
        t.events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Expiring { at } => Some(at.clone()),
                _ => None,
            })
            .collect()
    };
    client.until(|t| !warned(t).is_empty()).await;
    assert_eq!(warned(&client.transcript), [str_of(&session, "expires_at")]);

    // A second in: now + ttl, start + 11.
    until(start + 1.1).await;
    let (code, extended) = visitor.extend(id).await;
    assert_eq!(code, 200, "{extended}");
    assert_eq!(
        unix_of(str_of(&extended, "expires_at")),
        start + 11.0,
        "{extended} (started {start})"
    );
    let (_, info) = visitor.session(id).await;
    assert_eq!(info["expires_at"], extended["expires_at"], "{info}");
    client.until(|t| warned(t).len() == 2).await;
    assert_eq!(
        warned(&client.transcript)[1],
        str_of(&extended, "expires_at")
    );

    // Two seconds in, now + ttl is the cap, start + max_ttl.
    until(start + 2.1).await;
    let (code, capped) = visitor.extend(id).await;
    assert_eq!(code, 200, "{capped}");
    assert_eq!(
        unix_of(str_of(&capped, "expires_at")),
        start + 12.0,
        "{capped}"
    );
    let (code, refused) = visitor.extend(id).await;
    assert_eq!(code, 409, "at the cap: {refused}");
    assert!(!error_message(&refused).is_empty(), "{refused}");
    // Past the cap, still the cap.
    until(start + 3.1).await;
    let (code, refused) = visitor.extend(id).await;
    assert_eq!(code, 409, "at the cap: {refused}");
    let (_, info) = visitor.session(id).await;
    assert_eq!(info["expires_at"], capped["expires_at"], "{info}");
    // An admin may extend it too; at the cap, the same 409.
    let path = team.url(&format!("/api/sessions/{id}/extend"));
    assert_eq!(status_of(http_as(&team.admin).post(path)).await, 409);
    let entries = audit(&team).await;
    assert_eq!(
        audited(&entries, "session.extend", id).len(),
        2,
        "{entries:?}"
    );
    assert_eq!(visitor.end(id).await, 204);
    let (code, _) = visitor.extend(id).await;
    assert!([404, 409].contains(&code), "an ended session: {code}");
    assert_eq!(delete_template(&team, &name).await, 204);
    sweep.finish().await;
}

/// At `expires_at` the session ends (`expired`), its container goes from the engine within
/// 2 s, and a connected client was warned (`expiring`) and then gets the run's end and a close.
#[tokio::test]
async fn sessions_expire_and_their_containers_go() {
    let team = gateway();
    let sweep = Sweep::new(&team);
    let name = tname("ttl");
    created_template(
        &team,
        &template(&name, &shell(), json!({"ttl_seconds": 10})),
    )
    .await;
    let visitor = Visitor::new(team.addr);
    let session = visitor.running(&name).await;
    let id = str_of(&session, "session_id");
    let expires_at = str_of(&session, "expires_at").to_string();
    let expires = unix_of(&expires_at);
    let container = container_of(&team, &session).await;

    // Within a minute of its end from the start: the warning comes at once.
    let mut client = visitor.watch(str_of(&session, "run_id")).await;
    client
        .until(|t| {
            t.events
                .iter()
                .any(|e| matches!(e, ServerEvent::Expiring { .. }))
        })
        .await;
    let at = client
        .transcript
        .events
        .iter()
        .find_map(|e| match e {
            ServerEvent::Expiring { at } => Some(at.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        (unix_of(&at) - expires).abs() < 0.01,
        "{at} vs {expires_at}"
    );

    let reader = tokio::spawn(async move {
        tokio::time::timeout(Duration::from_secs(30), client.finish()).await
    });
    let wait = (expires - now_unix() - 0.5).max(0.0);
    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    assert!(exists(&container), "still there just before its end");
    let limit = expires + 2.0 - now_unix();
    assert!(
        gone_within(&container, Duration::from_secs_f64(limit.max(0.0))).await,
        "removed within 2 s of {expires_at} (now {})",
        now_unix() - expires
    );
    let transcript = reader.await.unwrap().expect("the watcher is closed");
    let kinds = transcript.kinds();
    assert!(
        kinds.contains(&"exit") || kinds.contains(&"error"),
        "{kinds:?}"
    );
    let (code, info) = visitor.session(id).await;
    assert_eq!(code, 200, "{info}");
    assert_eq!(info["state"], "ended", "{info}");
    assert_eq!(info["ended_reason"], "expired", "{info}");

    let entries = audit(&team).await;
    let ends = audited(&entries, "session.end", id);
    assert_eq!(ends.len(), 1, "{entries:?}");
    assert!(
        ends[0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("expired"),
        "{}",
        ends[0]
    );
    assert_eq!(delete_template(&team, &name).await, 204);
    sweep.finish().await;
}

/// A session with no input and no client connected for `idle_seconds` ends (`idle`), its
/// container gone within 2 s; one whose visitor holds its terminal does not.
#[tokio::test]
async fn idle_sessions_are_reaped() {
    let team = gateway();
    let sweep = Sweep::new(&team);
    let name = tname("idle");
    created_template(
        &team,
        &template(&name, &shell(), json!({"idle_seconds": 5})),
    )
    .await;
    let away = Visitor::new(team.addr);
    let here = Visitor::new(team.addr);
    let left = away.running(&name).await;
    let held = here.running(&name).await;
    let created = unix_of(str_of(&left, "created_at"));
    let left_container = container_of(&team, &left).await;
    let held_container = container_of(&team, &held).await;
    let mut client = here.watch(str_of(&held, "run_id")).await;
    client.until(|t| t.stdout_str().contains("# ")).await;

    let wait = (created + 4.5 - now_unix()).max(0.0);
    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    assert!(exists(&left_container), "not idle yet");
    let limit = created + 5.0 + 2.0 - now_unix();
    assert!(
        gone_within(&left_container, Duration::from_secs_f64(limit.max(0.0))).await,
        "removed within 2 s of its idle time (now {} s after its creation)",
        now_unix() - created
    );
    let (code, info) = away.session(str_of(&left, "session_id")).await;
    assert_eq!(code, 200, "{info}");
    assert_eq!(info["state"], "ended", "{info}");
    assert_eq!(info["ended_reason"], "idle", "{info}");

    // The held one lives on, past its idle time, and still answers.
    let (code, info) = here.session(str_of(&held, "session_id")).await;
    assert_eq!(
        (code, info["state"].as_str()),
        (200, Some("running")),
        "{info}"
    );
    assert!(exists(&held_container));
    client.send_stdin(b"echo still-$((6*7))\n").await;
    client.until(|t| t.stdout_str().contains("still-42")).await;
    assert_eq!(here.end(str_of(&held, "session_id")).await, 204);
    assert_eq!(delete_template(&team, &name).await, 204);
    sweep.finish().await;
}

/// With `capacity` sessions running, visitors wait in line (202, position 1, 2…); when a
/// session ends the head of the line is running within a second and the others move up.
#[tokio::test]
async fn capacity_then_queue_then_promotion() {
    let team = gateway();
    let sweep = Sweep::new(&team);
    let name = tname("queue");
    created_template(&team, &template(&name, &shell(), json!({"capacity": 1}))).await;
    let first = Visitor::new(team.addr);
    let second = Visitor::new(team.addr);
    let third = Visitor::new(team.addr);
    let running = first.running(&name).await;
    let (code, queued) = second.start(&name).await;
    assert_eq!(code, 202, "{queued}");
    assert_eq!(queued["state"], "queued", "{queued}");
    assert_eq!(queued["position"], 1, "{queued}");
    assert_eq!(queued["template"], name.as_str(), "{queued}");
    assert!(
        queued["run_id"].is_null() && queued["expires_at"].is_null(),
        "{queued}"
    );
    assert!(queued["created_at"].is_string(), "{queued}");
    let (code, last) = third.start(&name).await;
    assert_eq!(code, 202, "{last}");
    assert_eq!(last["position"], 2, "{last}");
    let (_, info) = template_info(&team, &name).await;
    assert_eq!(
        info["sessions"],
        json!({"running": 1, "queued": 2}),
        "{info}"
    );
    let second_id = str_of(&queued, "session_id");
    let (code, polled) = second.session(second_id).await;
    assert_eq!(code, 200, "{polled}");
    assert_eq!(
        (polled["state"].as_str(), polled["position"].as_u64()),
        (Some("queued"), Some(1)),
        "{polled}"
    );

    // The first ends: the second runs within a second, the third moves up.
    let since = Instant::now();
    assert_eq!(first.end(str_of(&running, "session_id")).await, 204);
    // Every answer on the way: one that says `running` says where (its run) and until when.
    let mut answers = Vec::new();
    let promoted = loop {
        let (code, info) = second.session(second_id).await;
        assert_eq!(code, 200, "{info}");
        answers.push(info.clone());
        if info["run_id"].is_string() || since.elapsed() > Duration::from_secs(3) {
            break info;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = since.elapsed();
    assert_eq!(promoted["state"], "running", "{promoted}");
    assert!(
        since.elapsed() < Duration::from_millis(1500),
        "promoted in {took:?}"
    );
    assert!(
        promoted["run_id"].is_string() && promoted["expires_at"].is_string(),
        "{promoted}"
    );
    assert!(promoted["position"].is_null(), "{promoted}");
    let mut client = second.watch(str_of(&promoted, "run_id")).await;
    client.until(|t| t.stdout_str().contains("# ")).await;
    let (_, moved) = third.session(str_of(&last, "session_id")).await;
    assert_eq!(
        (moved["state"].as_str(), moved["position"].as_u64()),
        (Some("queued"), Some(1)),
        "{moved}"
    );

    // A queued visitor that leaves the line leaves it: nobody waits behind an empty place.
    assert_eq!(third.end(str_of(&last, "session_id")).await, 204);
    let (_, left) = third.session(str_of(&last, "session_id")).await;
    assert_eq!(
        (left["state"].as_str(), left["ended_reason"].as_str()),
        (Some("ended"), Some("ended")),
        "{left}"
    );
    let (_, info) = template_info(&team, &name).await;
    assert_eq!(
        info["sessions"],
        json!({"running": 1, "queued": 0}),
        "{info}"
    );
    assert_eq!(second.end(second_id).await, 204);
    assert_eq!(delete_template(&team, &name).await, 204);
    let half: Vec<&Value> = answers
        .iter()
        .filter(|a| a["state"] == "running" && (a["run_id"].is_null() || a["expires_at"].is_null()))
        .collect();
    assert!(
        half.is_empty(),
        "{} of {} answers after the promotion said running without run_id or expires_at \
         (the last came {took:?} after the DELETE); the first: {}",
        half.len(),
        answers.len(),
        half.first().map(|a| a.to_string()).unwrap_or_default()
    );
    sweep.finish().await;
}

/// The queue is bounded (`max_queue`): beyond it, 503 with `Retry-After`.
#[tokio::test]
async fn the_queue_is_bounded() {
    let team = gateway();
    let sweep = Sweep::new(&team);
    let name = tname("bounded");
    created_template(
        &team,
        &template(&name, &shell(), json!({"capacity": 1, "max_queue": 1})),
    )
    .await;
    let first = Visitor::new(team.addr);
    let second = Visitor::new(team.addr);
    let third = Visitor::new(team.addr);
    let running = first.running(&name).await;
    let (code, queued) = second.start(&name).await;
    assert_eq!(code, 202, "{queued}");
    let resp = third.open(&name, json!({})).await;
    assert_eq!(resp.status().as_u16(), 503);
    let retry = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(
        retry.is_some_and(|s| s > 0),
        "Retry-After in seconds: {:?}",
        resp.headers()
    );
    let body: Value = resp.json().await.unwrap();
    assert!(!error_message(&body).is_empty(), "{body}");
    let (_, info) = template_info(&team, &name).await;
    assert_eq!(
        info["sessions"],
        json!({"running": 1, "queued": 1}),
        "{info}"
    );
    assert_eq!(second.end(str_of(&queued, "session_id")).await, 204);
    let (code, now_queued) = third.start(&name).await;
    assert_eq!(code, 202, "room again: {now_queued}");
    assert_eq!(third.end(str_of(&now_queued, "session_id")).await, 204);
    assert_eq!(first.end(str_of(&running, "session_id")).await, 204);
    assert_eq!(delete_template(&team, &name).await, 204);
    sweep.finish().await;
}

/// At most `guest_sessions_per_ip` running or queued sessions per client address, across
/// templates: beyond, 429; another address is not affected; an ended session frees its place.
#[tokio::test]
async fn sessions_per_address_are_limited() {
    let mut config = guest_config();
    config.guest_sessions_per_ip = 2;
    let team = gateway_with(config);
    let sweep = Sweep::new(&team);
    let one = tname("per-ip-one");
    let two = tname("per-ip-two");
    created_template(&team, &template(&one, &shell(), json!({"capacity": 5}))).await;
    created_template(&team, &template(&two, &shell(), json!({"capacity": 1}))).await;
    let ip = fresh_ip();
    let (a, b, c) = (
        Visitor::from_ip(team.addr, ip),
        Visitor::from_ip(team.addr, ip),
        Visitor::from_ip(team.addr, ip),
    );
    let elsewhere = Visitor::new(team.addr);
    let blocker = elsewhere.running(&two).await;
    let running = a.running(&one).await;
    // b waits in line on the other template: queued sessions count too.
    let (code, queued) = b.start(&two).await;
    assert_eq!(code, 202, "{queued}");
    let (code, body) = c.start(&one).await;
    assert_eq!(code, 429, "{body}");
    assert!(!error_message(&body).is_empty(), "{body}");
    let (code, body) = c.start(&two).await;
    assert_eq!(code, 429, "{body}");
    let (code, body) = a.start(&two).await;
    assert_eq!(code, 429, "the same visitor, another template: {body}");
    let (_, info) = template_info(&team, &one).await;
    assert_eq!(info["sessions"]["running"], 1, "{info}");

    // Another address is not affected; an ended session frees a place.
    let other = Visitor::new(team.addr);
    let theirs = other.running(&one).await;
    assert_eq!(a.end(str_of(&running, "session_id")).await, 204);
    let mine = c.running(&one).await;
    let (code, body) = a.start(&one).await;
    assert_eq!(code, 429, "{body}");

    for (v, s) in [
        (&b, &queued),
        (&c, &mine),
        (&other, &theirs),
        (&elsewhere, &blocker),
    ] {
        assert_eq!(v.end(str_of(s, "session_id")).await, 204);
    }
    assert_eq!(delete_template(&team, &one).await, 204);
    assert_eq!(delete_template(&team, &two).await, 204);
    sweep.finish().await;
}

/// Template changes and session starts and ends are in the audit log, with the visitor's
/// address and the reason a session ended.
#[tokio::test]
async fn templates_and_sessions_are_audited() {
    let team = gateway();
    let sweep = Sweep::new(&team);
    let name = tname("audit");
    let body = template(&name, &shell(), json!({}));
    created_template(&team, &body).await;
    let path = team.url(&format!("/api/templates/{name}"));
    let mut changed = body.clone();
    changed["title"] = json!("Changed");
    assert_eq!(
        status_of(http_as(&team.admin).put(&path).json(&changed)).await,
        200
    );
    let visitor = Visitor::new(team.addr);
    let session = visitor.running(&name).await;
    let id = str_of(&session, "session_id");
    assert_eq!(visitor.end(id).await, 204);
    assert_eq!(delete_template(&team, &name).await, 204);
    let entries = audit(&team).await;
    for action in ["template.create", "template.update", "template.delete"] {
        let rows = audited(&entries, action, &name);
        assert_eq!(rows.len(), 1, "{action}: {entries:?}");
        assert_eq!(rows[0]["actor"], "admin-token", "{}", rows[0]);
        assert_eq!(rows[0]["outcome"], "ok", "{}", rows[0]);
    }
    let visitor_ip = visitor.ip.to_string();
    for action in ["session.start", "session.end"] {
        let rows = audited(&entries, action, id);
        assert_eq!(rows.len(), 1, "{action}: {entries:?}");
        let remote = rows[0]["remote"].as_str().unwrap_or_default();
        assert!(
            remote.starts_with(&visitor_ip),
            "{action} from {visitor_ip}: {}",
            rows[0]
        );
        assert!(
            rows[0]["actor"]
                .as_str()
                .unwrap_or_default()
                .starts_with("guest-"),
            "{}",
            rows[0]
        );
    }
    let end = audited(&entries, "session.end", id)[0];
    assert!(
        end["detail"].as_str().unwrap_or_default().contains("ended"),
        "{end}"
    );
    sweep.finish().await;
}

/// A restart keeps templates, running sessions (their run, their container, their deadline,
/// their visitor) and leaves no pool container behind: the pool is `warm` containers again.
#[tokio::test]
async fn a_restart_keeps_templates_and_sessions() {
    let config = guest_config();
    let first = StoppableGateway::start(config.clone());
    let team = Team::admin_only(first.addr, config.data_dir.clone());
    let mut sweep = Sweep::new(&team);
    let name = tname("restart");
    let body = template(
        &name,
        &banner_shell(),
        json!({"warm": 1, "ttl_seconds": 300, "max_ttl_seconds": 600}),
    );
    let created = created_template(&team, &body).await;
    pool_ready(&team, &name, 1).await;
    let visitor = Visitor::new(first.addr);
    let session = visitor.running(&name).await;
    let id = str_of(&session, "session_id").to_string();
    let container = container_of(&team, &session).await;
    pool_ready(&team, &name, 1).await;
    let before = pool_containers(&name, &[&container]);
    assert_eq!(before.len(), 1, "{before:?}");
    let cookie = visitor.cookie().expect("a guest cookie");

    first.stop(Duration::from_secs(30)).await;
    let second = StoppableGateway::start(config.clone());
    let team = Team::admin_only(second.addr, config.data_dir.clone());
    sweep.addr = second.addr;

    let (code, info) = template_info(&team, &name).await;
    assert_eq!(code, 200, "{info}");
    for key in [
        "name",
        "title",
        "description",
        "argv",
        "ttl_seconds",
        "max_ttl_seconds",
        "idle_seconds",
        "capacity",
        "warm",
        "access",
        "created_at",
    ] {
        assert_eq!(info[key], created[key], "{key}: {info}");
    }
    // The visitor, with the same cookie, finds its session as it was.
    let visitor = visitor.at(second.addr);
    assert_eq!(visitor.cookie(), Some(cookie));
    let (code, after) = visitor.session(&id).await;
    assert_eq!(
        code, 200,
        "the guest is still the session's visitor: {after}"
    );
    for key in ["state", "run_id", "expires_at", "warm", "created_at"] {
        assert_eq!(after[key], session[key], "{key}: {after}");
    }
    let (_, out, _) = docker(&["inspect", "--format", "{{.State.Running}}", &container]);
    assert_eq!(out.trim(), "true", "the session's container runs on");
    // Its terminal takes input, and replays what the container printed before the restart.
    let mut client = visitor.watch(str_of(&session, "run_id")).await;
    client.until(|t| t.kinds().contains(&"started")).await;
    client.send_stdin(b"echo after-$((6*7))\n").await;
    client.until(|t| t.stdout_str().contains("after-42")).await;
    let output = client.transcript.stdout_str();
    assert!(output.starts_with("banner-ready\r\n"), "{output:?}");

    // The pool is one container again, not two: the one left from before is taken back or
    // replaced (removed), within a few seconds.
    let info = pool_ready(&team, &name, 1).await;
    assert_eq!(info["sessions"]["running"], 1, "{info}");
    let since = Instant::now();
    let mut pool = pool_containers(&name, &[&container]);
    while pool.len() != 1 && since.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        pool = pool_containers(&name, &[&container]);
    }
    assert_eq!(pool.len(), 1, "warm containers, no leftovers: {pool:?}");
    assert!(
        before.iter().all(|id| pool.contains(id) || !exists(id)),
        "the pool container from before {before:?} is the pool's or gone: {pool:?}"
    );

    assert_eq!(delete_template(&team, &name).await, 204);
    assert!(gone_within(&container, Duration::from_secs(2)).await);
    for id in pool {
        assert!(gone_within(&id, Duration::from_secs(2)).await, "{id}");
    }
    sweep.finish().await;
    second.stop(Duration::from_secs(30)).await;
}

/// What a session's container printed before a restart of the gateway is still its terminal's
/// after it: the run's output, and a visitor watching again, start with the same lines. (Not
/// the last prompt, which ends no line: after a restart the output comes from the engine's
/// logs, and the engine keeps an unfinished line to itself until it ends.)
#[tokio::test]
async fn a_restart_keeps_a_sessions_output() {
    let config = guest_config();
    let first = StoppableGateway::start(config.clone());
    let team = Team::admin_only(first.addr, config.data_dir.clone());
    let mut sweep = Sweep::new(&team);
    let name = tname("restart-out");
    created_template(&team, &template(&name, &shell(), json!({}))).await;
    let visitor = Visitor::new(first.addr);
    let session = visitor.running(&name).await;
    let run_id = str_of(&session, "run_id").to_string();
    let mut client = visitor.watch(&run_id).await;
    client.until(|t| t.stdout_str().contains("# ")).await;
    client.send_stdin(b"echo before-$((6*7))\n").await;
    client
        .until(|t| t.stdout_str().contains("before-42\r\n/ # "))
        .await;
    drop(client);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let output = format!("/api/runs/{run_id}/output");
    let before = berth_tests::text_of(visitor.http.get(visitor.url(&output))).await;
    assert!(before.contains("before-42\r\n/ # "), "{before:?}");

    first.stop(Duration::from_secs(30)).await;
    let second = StoppableGateway::start(config.clone());
    let team = Team::admin_only(second.addr, config.data_dir.clone());
    sweep.addr = second.addr;
    let visitor = visitor.at(second.addr);
    let mut client = visitor.watch(&run_id).await;
    client.until(|t| t.kinds().contains(&"started")).await;
    client.send_stdin(b"echo after-$((6*7))\n").await;
    client.until(|t| t.stdout_str().contains("after-42")).await;
    let watched = client.transcript.stdout_str();
    let after = berth_tests::text_of(visitor.http.get(visitor.url(&output))).await;
    let before = &before[..before.rfind('\n').expect("whole lines") + 1];
    assert!(
        after.starts_with(before),
        "the output after the restart begins with the output before it:\nbefore {before:?}\nafter  {after:?}"
    );
    assert!(watched.starts_with(before), "watched again: {watched:?}");
    assert_eq!(delete_template(&team, &name).await, 204);
    sweep.finish().await;
    second.stop(Duration::from_secs(30)).await;
}
