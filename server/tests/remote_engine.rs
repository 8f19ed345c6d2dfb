//! The gateway against a remote engine, as the docker CLI reaches one: the test bed's engine
//! exposed on loopback TCP by socat, as plain HTTP (`DOCKER_HOST=tcp://…`) and behind TLS with
//! client certificates (`DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`; a CA, a server certificate for
//! 127.0.0.1 and a client certificate made here with the openssl CLI). Each runs containers
//! through the API: a pull, a REST run, and a WebSocket run with `-i` whose stdin goes through
//! the attach hijack and ends with a half-close. Then the failures: a server certificate from
//! another CA, and a missing certificate file at start.
//!
//! Needs the test bed (`scripts/testbed.sh`: the engine, its registry, socat and openssl).

use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use berth_server::Config;
use berth_shared::wire::{ClientMessage, RunRequest, ServerEvent};
use berth_tests::{
    Client, FIXTURE, REGISTRY_IMAGE, Transcript, free_port, http_as, json_of, poll_exit,
};
use serde_json::{Value, json};

const SOCKET: &str = "/var/run/docker.sock";
const TOKEN: &str = "remote-engine-admin-token";

/// A process group (socat and the children it forks per connection), killed when the test
/// ends, passed or not.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.wait();
    }
}

/// A directory removed, and containers removed from the engine, when the test ends.
struct Scratch {
    dir: PathBuf,
    containers: Vec<String>,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("berth-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch {
            dir,
            containers: Vec::new(),
        }
    }

    /// A container name of this test, removed at its end.
    fn name(&mut self) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "berth-remote-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        self.containers.push(name.clone());
        name
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.containers.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f"])
                .args(&self.containers)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// socat from `listen` (a socat address, `bind=127.0.0.1`) to the engine's socket. `-t 30`:
/// after stdin's half-close the output keeps flowing (socat's default ends it 0.5 s later).
/// (socat 1.7 sets no TLS session id context, so it cannot resume sessions; Berth, as the
/// docker CLI, never tries.)
fn socat(listen: String, port: u16) -> Killed {
    let child = Command::new("socat")
        .args(["-t", "30", &listen, &format!("UNIX-CONNECT:{SOCKET}")])
        .stdout(Stdio::null())
        // It logs the handshakes the failure tests make fail on purpose.
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("socat runs (scripts/testbed.sh installs it)");
    let socat = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "socat does not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    socat
}

fn plain_proxy() -> (Killed, u16) {
    let port = free_port();
    let listen = format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork");
    (socat(listen, port), port)
}

/// socat as a TLS engine: its certificate from `server`'s CA, client certificates required
/// and verified against that CA.
fn tls_proxy(server: &Path) -> (Killed, u16) {
    let port = free_port();
    let file = |name: &str| server.join(name).display().to_string();
    let listen = format!(
        "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},cafile={},verify=1",
        file("server.pem"),
        file("server-key.pem"),
        file("ca.pem")
    );
    (socat(listen, port), port)
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs (scripts/testbed.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// In `dir`: `ca.pem` (and its key), `server.pem`/`server-key.pem` for 127.0.0.1 and the
/// client's `cert.pem`/`key.pem`, both signed by that CA (P-256 keys: quick to make).
fn make_certs(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    // Named after its directory: two CAs of a test differ in name, not only in key.
    let ca_name = format!(
        "/CN=berth-test-ca-{}",
        dir.file_name().unwrap().to_string_lossy()
    );
    let ca = [
        &["req", "-x509", "-days", "2", "-subj", &ca_name][..],
        &key,
        &["-keyout", "ca-key.pem", "-out", "ca.pem"],
        &["-addext", "basicConstraints=critical,CA:TRUE"],
        &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    ]
    .concat();
    openssl(dir, &ca);
    for (name, key_file, cn, ext) in [
        (
            "server",
            "server-key.pem",
            "127.0.0.1",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        ),
        ("cert", "key.pem", "berth", "extendedKeyUsage=clientAuth\n"),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        let subject = format!("/CN={cn}");
        let csr = format!("{name}.csr");
        let req = [
            &["req", "-subj", &subject, "-keyout", key_file, "-out", &csr][..],
            &key,
        ]
        .concat();
        openssl(dir, &req);
        let (out, extfile) = (format!("{name}.pem"), format!("{name}.ext"));
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-days",
                "2",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-extfile",
                &extfile,
                "-out",
                &out,
            ],
        );
    }
}

/// A gateway in this process (the harness's), requiring this file's admin token.
fn spawn_gateway(mut config: Config) -> SocketAddr {
    config.admin_token = Some(TOKEN.into());
    berth_tests::spawn_gateway(config)
}

fn tls_config(docker_host: String, cert_path: &Path) -> Config {
    let mut config = Config::local(&docker_host);
    config.tls_verify = true;
    config.cert_path = Some(cert_path.to_path_buf());
    config
}

fn http() -> reqwest::Client {
    http_as(TOKEN)
}

async fn get_json(addr: SocketAddr, path: &str) -> Value {
    json_of(http().get(format!("http://{addr}{path}"))).await
}

/// `docker run <argv>` over `/api/runs/ws`; `stdin` is typed once the container started,
/// then closed.
async fn ws_run(addr: SocketAddr, argv: &[&str], stdin: Option<&[u8]>) -> Transcript {
    let mut c = Client::connect_to(addr, "/api/runs/ws", TOKEN)
        .await
        .expect("WebSocket connects");
    let run = RunRequest {
        argv: Some(argv.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    c.send(&ClientMessage::Run(Box::new(run))).await;
    if let Some(input) = stdin {
        c.until(|t| t.kinds().contains(&"started")).await;
        c.send_stdin(input).await;
        c.send(&ClientMessage::CloseStdin).await;
    }
    c.finish().await
}

/// Everything a run needs from the engine, through the gateway at `addr`.
async fn runs_containers(addr: SocketAddr, scratch: &mut Scratch) {
    let health = get_json(addr, "/api/health").await;
    assert_eq!(health["engine"]["reachable"], true, "{health}");
    assert!(health["engine"]["api_version"].is_string(), "{health}");

    // A pull streams its progress, then the image runs.
    let name = scratch.name();
    let argv = [
        "--rm",
        "--name",
        &name,
        "--pull",
        "always",
        REGISTRY_IMAGE,
        "echo",
        "pulled",
    ];
    let t = ws_run(addr, &argv, None).await;
    assert_eq!(t.exit_code(), Some(0), "{t:?}");
    assert_eq!(t.stdout, b"pulled\n");
    let pulls: Vec<_> = t
        .events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Pull(p) => Some(p.status.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        pulls.iter().any(|s| s.starts_with("Digest: sha256:")),
        "{pulls:?}"
    );

    // stdin through the hijacked connection; its half-close is the container's end of input,
    // and the output after it still arrives.
    let name = scratch.name();
    let script = "read line; echo got:$line; cat; echo stderr >&2; sleep 1; echo after-eof";
    let argv = ["-i", "--rm", "--name", &name, FIXTURE, "sh", "-c", script];
    let t = ws_run(addr, &argv, Some(b"hello\nsecond\nthird")).await;
    assert_eq!(t.exit_code(), Some(0), "{t:?}");
    assert_eq!(
        String::from_utf8_lossy(&t.stdout),
        "got:hello\nsecond\nthirdafter-eof\n"
    );
    assert_eq!(t.stderr, b"stderr\n");

    // REST: started in the background, followed by polling.
    let name = scratch.name();
    let body =
        json!({"argv": ["--name", &name, FIXTURE, "sh", "-c", "echo out; echo err >&2; exit 3"]});
    let resp = http()
        .post(format!("http://{addr}/api/runs"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let run_id = resp.json::<Value>().await.unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("http://{addr}/api/runs/{run_id}");
    let run = poll_exit(|| http().get(&path), 600, Duration::from_millis(100)).await;
    assert_eq!(run["exit_code"], 3, "{run}");
    let output = http()
        .get(format!("http://{addr}/api/runs/{run_id}/output"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut lines: Vec<_> = output.split(|b| *b == b'\n').collect();
    lines.sort();
    assert_eq!(lines, [&b""[..], b"err", b"out"]);
}

#[tokio::test]
async fn runs_over_plain_tcp() {
    let mut scratch = Scratch::new("remote-tcp");
    let (_socat, port) = plain_proxy();
    let addr = spawn_gateway(Config::local(&format!("tcp://127.0.0.1:{port}")));
    runs_containers(addr, &mut scratch).await;
}

#[tokio::test]
async fn runs_over_tls_with_client_certificates() {
    let mut scratch = Scratch::new("remote-tls");
    make_certs(&scratch.dir);
    let (_socat, port) = tls_proxy(&scratch.dir);
    let config = tls_config(format!("tcp://127.0.0.1:{port}"), &scratch.dir);
    let addr = spawn_gateway(config);
    runs_containers(addr, &mut scratch).await;
}

#[tokio::test]
async fn an_engine_certificate_from_another_ca_is_a_tls_error() {
    let scratch = Scratch::new("remote-wrong-ca");
    let (server, client) = (scratch.dir.join("server"), scratch.dir.join("client"));
    make_certs(&server);
    // The client trusts a CA of its own, but presents a certificate the engine accepts.
    make_certs(&client);
    for file in ["cert.pem", "key.pem"] {
        std::fs::copy(server.join(file), client.join(file)).unwrap();
    }
    let (_socat, port) = tls_proxy(&server);
    let addr = spawn_gateway(tls_config(format!("tcp://127.0.0.1:{port}"), &client));
    let health = get_json(addr, "/api/health").await;
    assert_eq!(health["engine"]["reachable"], false, "{health}");
    let error = health["engine"]["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "TLS handshake with the Docker engine at tcp://127.0.0.1:{port} failed: invalid peer certificate"
        )),
        "{error}"
    );
    assert!(error.contains("UnknownIssuer"), "{error}");
    let resp = http()
        .post(format!("http://{addr}/api/runs"))
        .json(&json!({"argv": [FIXTURE, "true"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
}

#[tokio::test]
async fn plain_http_to_a_tls_engine_and_a_closed_port_are_unreachable() {
    let scratch = Scratch::new("remote-unreachable");
    make_certs(&scratch.dir);
    let (_socat, port) = tls_proxy(&scratch.dir);
    let addr = spawn_gateway(Config::local(&format!("tcp://127.0.0.1:{port}")));
    let health = get_json(addr, "/api/health").await;
    assert_eq!(health["engine"]["reachable"], false, "{health}");

    let closed = free_port();
    let addr = spawn_gateway(Config::local(&format!("tcp://127.0.0.1:{closed}")));
    let health = get_json(addr, "/api/health").await;
    let error = health["engine"]["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "cannot reach the Docker engine at tcp://127.0.0.1:{closed}: Connection refused"
        )),
        "{error}"
    );
}

#[tokio::test]
async fn a_missing_or_bad_certificate_file_stops_the_start() {
    let scratch = Scratch::new("remote-missing-cert");
    make_certs(&scratch.dir);
    let host = "tcp://127.0.0.1:1".to_string();

    std::fs::write(scratch.dir.join("key.pem"), "not a key\n").unwrap();
    let err = berth_server::bind(tls_config(host.clone(), &scratch.dir))
        .await
        .err()
        .expect("a bad key stops the start")
        .to_string();
    let key = scratch.dir.join("key.pem");
    assert!(
        err.starts_with(&format!("TLS file {}: no private key in it", key.display())),
        "{err}"
    );

    std::fs::remove_file(scratch.dir.join("cert.pem")).unwrap();
    let cert = scratch.dir.join("cert.pem");
    let err = berth_server::bind(tls_config(host.clone(), &scratch.dir))
        .await
        .err()
        .expect("a missing certificate stops the start")
        .to_string();
    assert_eq!(
        err,
        format!(
            "TLS file {}: No such file or directory (os error 2)",
            cert.display()
        )
    );

    // The binary, configured as the docker CLI is: it says so and exits 1.
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(scratch.dir.join("data"))
        .env("DOCKER_HOST", &host)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", &scratch.dir)
        .env("BERTH_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let log = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains(&format!("cannot start: TLS file {}", cert.display())),
        "{log}"
    );
}
