//! The `berth` binary as a child process of a test, so that what `/proc/<pid>` says of it
//! (memory, file descriptors, threads) is the gateway's own, and so that it can be killed with
//! SIGKILL and started again on the same data directory. Shared by the fault tests of this
//! directory (`kill_under_load.rs`, `clients.rs`).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// The admin token of these gateways.
pub const ADMIN: &str = "fault-tests-admin-token";
/// Lines of the gateway's log kept for a failure message.
const LOG_LINES: usize = 400;

pub struct Berth {
    child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    log: Arc<Mutex<std::collections::VecDeque<String>>>,
}

impl Berth {
    /// Starts `berth serve` on `port` (0: any) with `data_dir`, `args` added and `env` set; waits
    /// until `/api/health` answers.
    pub async fn start(data_dir: &Path, port: u16, args: &[&str], env: &[(&str, &str)]) -> Berth {
        let port = if port == 0 {
            berth_tests::free_port()
        } else {
            port
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env("BERTH_ADMIN_TOKEN", ADMIN)
            .env("BERTH_LOG", "info")
            .env("BERTH_NO_ENGINE_INSTALL", "1")
            .env_remove("DOCKER_HOST")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("berth starts");
        let log = Arc::new(Mutex::new(std::collections::VecDeque::new()));
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|p| Box::new(p) as _),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe.unwrap()).lines().map_while(Result::ok) {
                    let mut log = log.lock().unwrap();
                    log.push_back(line);
                    if log.len() > LOG_LINES {
                        log.pop_front();
                    }
                }
            });
        }
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let berth = Berth {
            child,
            addr,
            data_dir: data_dir.to_path_buf(),
            log,
        };
        let health = format!("http://{addr}/api/health");
        for _ in 0..600 {
            if reqwest::get(&health).await.is_ok() {
                return berth;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("berth did not come up within 60 s:\n{}", berth.log_tail());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The last lines it logged.
    pub fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap();
        log.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// This gateway's instance id (on the `io.berth.instance` label of its containers).
    pub fn instance(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("instance-id"))
            .expect("the instance id")
            .trim()
            .to_string()
    }

    /// SIGKILL, and waits until the process is gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What `/proc/<pid>` says now.
    pub fn usage(&self) -> Usage {
        Usage::of(self.pid())
    }

    /// `GET path` as the admin: the JSON answer.
    pub async fn get(&self, path: &str) -> Value {
        berth_tests::json_of(berth_tests::http_as(ADMIN).get(self.url(path))).await
    }

    /// `GET /metrics` as the admin: the value of the unlabelled sample `name`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text =
            berth_tests::text_of(berth_tests::http_as(ADMIN).get(self.url("/metrics"))).await;
        text.lines()
            .find_map(|line| {
                let (key, value) = line.split_once(' ')?;
                (key == name).then(|| value.trim().parse().ok())?
            })
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process's resident memory, open file descriptors and threads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    pub rss_kib: u64,
    pub fds: usize,
    pub tasks: usize,
}

impl Usage {
    pub fn of(pid: u32) -> Usage {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("its status");
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS");
        let count = |dir: &str| {
            std::fs::read_dir(format!("/proc/{pid}/{dir}"))
                .expect("a /proc directory")
                .count()
        };
        Usage {
            rss_kib,
            fds: count("fd"),
            tasks: count("task"),
        }
    }

    pub fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }
}

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "VmRSS {:.1} MiB, {} fds, {} tasks",
            self.rss_mib(),
            self.fds,
            self.tasks
        )
    }
}

/// A fresh data directory under the temporary directory.
pub fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("berth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The engine's containers (all states) carrying the label `filter` (`key=value`).
pub fn containers_labelled(filter: &str) -> Vec<String> {
    let (_, out, _) = berth_tests::docker(&[
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        &format!("label={filter}"),
    ]);
    out.lines().map(str::to_string).collect()
}

/// Removes every container of a gateway's instance (clean-up, whatever the test left).
pub fn remove_containers_of(instance: &str) {
    let ids = containers_labelled(&format!("io.berth.instance={instance}"));
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(ids.iter().map(String::as_str));
        berth_tests::docker(&args);
    }
}
