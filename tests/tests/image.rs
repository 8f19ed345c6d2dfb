//! Berth as a container image (the root `Dockerfile`): `scripts/image.sh` builds `berth:latest`
//! offline (a static musl `berth` and the dashboard, FROM scratch), and the image runs as the
//! README runs it — the engine's socket mounted, a named volume for its data, `--network host`
//! — against the test bed's engine: it serves the dashboard and the API, writes its admin
//! token to the volume, runs a container, stops on SIGTERM, and a second container on the same
//! volume finds the first one's users and runs. Whatever the test made is removed, however it
//! ends.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use berth_tests::{
    FIXTURE, docker, free_port, http_as, json_of, poll_exit, status_and_json, status_of, text_of,
    unique,
};
use serde_json::{Value, json};

/// What `scripts/image.sh` tags by default.
const IMAGE: &str = "berth:latest";
const PASSWORD: &str = "a long password for ann";

/// Removes the test's Berth containers, the containers of its runs and its volume when
/// dropped, so that nothing is left behind even when an assertion fails.
struct Leftovers {
    containers: Vec<String>,
    runs: Vec<String>,
    volume: String,
}

impl Leftovers {
    /// Removes everything now and says what could not be removed.
    fn remove(&mut self) -> Vec<String> {
        let mut failed = Vec::new();
        let mut ids: Vec<String> = std::mem::take(&mut self.containers);
        for run in std::mem::take(&mut self.runs) {
            let filter = format!("label=io.berth.run-id={run}");
            let (_, out, _) = docker(&["ps", "-aq", "--filter", &filter]);
            ids.extend(out.lines().map(str::to_string));
        }
        for id in ids {
            let (ok, _, err) = docker(&["rm", "-f", &id]);
            if !ok && !err.contains("No such container") {
                failed.push(format!("container {id}: {err}"));
            }
        }
        if !self.volume.is_empty() {
            let volume = std::mem::take(&mut self.volume);
            let (ok, _, err) = docker(&["volume", "rm", "-f", &volume]);
            if !ok {
                failed.push(format!("volume {volume}: {err}"));
            }
        }
        failed
    }
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        // No panic here: this may run while a failed assertion unwinds.
        for failure in self.remove() {
            eprintln!("left behind: {failure}");
        }
    }
}

/// Builds the image with `scripts/image.sh`. The test command builds the dashboard first; a
/// dist/ already there is packaged as it is (the script builds it when there is none).
fn build_image() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut script = Command::new("bash");
    script
        .arg(root.join("scripts/image.sh"))
        .env("BERTH_IMAGE", IMAGE);
    if root.join("dist/index.html").is_file() {
        script.env("BERTH_SKIP_DASHBOARD", "1");
    }
    let started = Instant::now();
    let out = script.output().expect("bash runs scripts/image.sh");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "scripts/image.sh: {}\n{}{said}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    // Its last line: the image's size.
    eprintln!(
        "scripts/image.sh took {:?}: {}",
        started.elapsed(),
        said.lines().last().unwrap_or_default()
    );
}

/// A field of `docker inspect` (a Go template) of a container, or the error.
fn inspect(container: &str, format: &str) -> Result<String, String> {
    match docker(&["inspect", "--format", format, container]) {
        (true, out, _) => Ok(out.trim().to_string()),
        (false, _, err) => Err(err),
    }
}

/// Starts the image as the README says, on loopback `port`, with `volume` as its data.
fn start_berth(name: &str, volume: &str, port: u16) {
    let data = format!("{volume}:/var/lib/berth");
    let listen = format!("BERTH_LISTEN=127.0.0.1:{port}");
    let (ok, _, err) = docker(&[
        "run",
        "-d",
        "--name",
        name,
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        "-v",
        &data,
        "--network",
        "host",
        "-e",
        &listen,
        IMAGE,
    ]);
    assert!(ok, "docker run {IMAGE}: {err}");
}

/// Waits (30 s at most) until the containerised Berth answers `GET /api/health`.
async fn wait_until_up(name: &str, base: &str) -> Value {
    let client = http_as("");
    let since = Instant::now();
    loop {
        if let Ok(resp) = client.get(format!("{base}/api/health")).send().await
            && resp.status() == 200
        {
            return resp.json().await.expect("health as JSON");
        }
        let running = inspect(name, "{{.State.Running}}");
        if running.as_deref() != Ok("true") || since.elapsed() > Duration::from_secs(30) {
            let (_, out, err) = docker(&["logs", name]);
            panic!(
                "{name} does not answer on {base} after {:?} (running: {running:?}):\n{out}{err}",
                since.elapsed()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `command` (BusyBox's, in a container of the test bed's fixture, without a network) on the
/// volume, mounted read-only at /data; its output.
fn on_volume(volume: &str, command: &[&str]) -> String {
    let data = format!("{volume}:/data:ro");
    let mut args = vec!["run", "--rm", "--network", "none", "-v", &data, FIXTURE];
    args.extend(command);
    let (ok, out, err) = docker(&args);
    assert!(ok, "{command:?} on the volume: {err}");
    out
}

#[tokio::test]
async fn the_image_serves_berth_and_runs_containers_on_the_mounted_engine() {
    assert!(
        docker(&["version", "--format", "{{.Server.APIVersion}}"]).0,
        "no Docker engine: run scripts/testbed.sh (the README's test command does)"
    );
    build_image();
    let size: u64 = inspect(IMAGE, "{{.Size}}")
        .expect("the image is there")
        .parse()
        .unwrap();
    assert!(size < 50_000_000, "{IMAGE} is {size} bytes");

    let name = unique("image");
    let volume = unique("image-data");
    let mut leftovers = Leftovers {
        containers: vec![name.clone()],
        runs: Vec::new(),
        volume: volume.clone(),
    };
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    start_berth(&name, &volume, port);
    let health = wait_until_up(&name, &base).await;
    assert_eq!(health["engine"]["reachable"], true, "{health}");

    // The dashboard, from the image's dist/: the page and the wasm it loads.
    let page = http_as("").get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let kind = page.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("text/html"), "{kind}");
    let html = page.text().await.unwrap();
    assert!(html.contains("<title>Berth</title>"), "{html}");
    let end = html.find("_bg.wasm").expect("the page loads a wasm module") + "_bg.wasm".len();
    let start = html[..end].rfind('/').expect("an absolute path");
    let wasm = http_as("")
        .get(format!("{base}{}", &html[start..end]))
        .send()
        .await
        .unwrap();
    assert_eq!(wasm.status(), 200, "{}", &html[start..end]);
    assert!(wasm.bytes().await.unwrap().starts_with(b"\0asm"));

    // The API needs credentials: the admin token Berth generated into the volume.
    assert_eq!(
        status_of(http_as("").get(format!("{base}/api/runs"))).await,
        401
    );
    let token = on_volume(&volume, &["cat", "/data/admin-token"])
        .trim()
        .to_string();
    assert!(!token.is_empty(), "an empty admin token");
    let admin = http_as(&token);
    let user = json!({"username": "ann", "password": PASSWORD, "role": "admin"});
    let (status, body) = status_and_json(admin.post(format!("{base}/api/users")).json(&user)).await;
    assert_eq!(status, 201, "{body}");

    // A run through the containerised Berth: a container on the test bed's engine.
    let script = "echo hello from the image; exit 3";
    let argv = json!({"argv": ["--network", "none", FIXTURE, "sh", "-c", script]});
    let (status, created) =
        status_and_json(admin.post(format!("{base}/api/runs")).json(&argv)).await;
    assert_eq!(status, 201, "{created}");
    let run_id = created["run_id"].as_str().expect("a run_id").to_string();
    leftovers.runs.push(run_id.clone());
    let container = created["container_id"].as_str().unwrap().to_string();
    let run = format!("{base}/api/runs/{run_id}");
    let info = poll_exit(|| admin.get(&run), 300, Duration::from_millis(100)).await;
    assert_eq!(
        (info["state"].as_str(), info["exit_code"].as_i64()),
        (Some("exited"), Some(3))
    );
    let output = text_of(admin.get(format!("{run}/output"))).await;
    assert_eq!(output, "hello from the image\n");
    let label = inspect(&container, "{{index .Config.Labels \"io.berth.run-id\"}}");
    assert_eq!(label.as_deref(), Ok(run_id.as_str()));
    assert_eq!(
        inspect(&container, "{{.State.ExitCode}}").as_deref(),
        Ok("3")
    );
    let header = on_volume(&volume, &["head", "-c", "15", "/data/berth.db"]);
    assert_eq!(header, "SQLite format 3", "no database on the volume");

    // SIGTERM (docker stop) ends Berth cleanly, as PID 1 of its container.
    let stopping = Instant::now();
    let (ok, _, err) = docker(&["stop", "--time", "20", &name]);
    assert!(ok, "docker stop: {err}");
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "{:?}",
        stopping.elapsed()
    );
    assert_eq!(inspect(&name, "{{.State.ExitCode}}").as_deref(), Ok("0"));
    let (ok, _, err) = docker(&["rm", &name]);
    assert!(ok, "docker rm: {err}");

    // Another container on the same volume: the users and the runs are still there. With a
    // user, no admin token is generated any more: ann signs in with her password.
    let again = unique("image-again");
    leftovers.containers.push(again.clone());
    start_berth(&again, &volume, port);
    wait_until_up(&again, &base).await;
    assert_eq!(status_of(admin.get(format!("{base}/api/runs"))).await, 401);
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let login = json!({"username": "ann", "password": PASSWORD});
    let (status, me) =
        status_and_json(browser.post(format!("{base}/api/login")).json(&login)).await;
    assert_eq!((status, me["role"].as_str()), (200, Some("admin")), "{me}");
    let info = json_of(browser.get(&run)).await;
    assert_eq!(info["exit_code"], 3, "{info}");

    // Removing the run removes its container from the engine.
    let removed = browser.delete(&run).header("Origin", &base);
    assert_eq!(status_of(removed).await, 204);
    assert!(
        inspect(&container, "{{.Id}}").is_err(),
        "{container} is still there"
    );
    assert_eq!(status_of(browser.get(&run)).await, 404);

    // Nothing left: both Berth containers and the volume go.
    let (ok, _, err) = docker(&["rm", "-f", &again]);
    assert!(ok, "docker rm -f: {err}");
    let failures = leftovers.remove();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(
        !docker(&["volume", "inspect", &volume]).0,
        "{volume} is still there"
    );
    assert!(inspect(&name, "{{.Id}}").is_err() && inspect(&again, "{{.Id}}").is_err());
}
