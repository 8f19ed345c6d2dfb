//! The test bed's second engine taken away and brought back, for the fault tests of a gateway
//! with several engines (`tests/tests/engines.rs`): its dockerd killed with SIGKILL, and
//! started again with the test bed's own command (`scripts/testbed.sh --launch-second-engine`).
//!
//! A test that kills it holds a [`SecondEngine`] guard, which brings the engine back when the
//! test ends, however it ends (an assertion that fails included).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The second engine's socket, as a path (`SECOND_DOCKER_HOST` without `unix://`).
pub const SECOND_SOCKET: &str = "/var/run/berth-testbed-2.sock";
/// The second dockerd's pid file (`--pidfile` in `scripts/testbed.sh`).
pub const SECOND_PID_FILE: &str = "/var/run/berth-testbed-2.pid";
/// The pid file of the second dockerd's containerd (in its exec root).
pub const SECOND_CONTAINERD_PID_FILE: &str =
    "/var/run/berth-testbed-2-exec/containerd/containerd.pid";
/// How long the second dockerd may take to answer after its start: when containers were
/// running it stops them first (10 s for one that ignores SIGTERM).
pub const SECOND_START_LIMIT: Duration = Duration::from_secs(120);

/// How often a wait for the engine looks again.
const POLL: Duration = Duration::from_millis(50);

/// Whether the engine on the unix socket `socket` answers `GET /_ping` with 200 (1 s at most).
pub fn answers(socket: &str) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    let limit = Some(Duration::from_secs(1));
    if stream.set_read_timeout(limit).is_err() || stream.set_write_timeout(limit).is_err() {
        return false;
    }
    if stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .is_err()
    {
        return false;
    }
    // HTTP/1.0: the daemon closes after its answer; a timeout keeps what came.
    let mut answer = Vec::new();
    let _ = stream.take(4096).read_to_end(&mut answer);
    answer.starts_with(b"HTTP/1.1 200") || answer.starts_with(b"HTTP/1.0 200")
}

/// Whether process `pid` lives (a zombie, dead but not yet reaped, does not).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command's closing parenthesis.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// Whether there is a process `pid`, living or a zombie: dockerd counts both when it looks at
/// the pids its pid files name.
pub fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn pid_in(file: &str) -> Option<u32> {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|text| text.trim().parse().ok())
}

/// The pid in the second dockerd's pid file, if there is one.
pub fn second_pid() -> Option<u32> {
    pid_in(SECOND_PID_FILE)
}

/// Waits (10 s at most) until the processes of a killed second dockerd, itself and its
/// containerd, are reaped: a new dockerd that finds its containerd's pid still there (a zombie
/// too) takes it for a containerd that still runs, waits for its socket and gives up.
fn wait_until_reaped(dockerd: Option<u32>) -> Result<(), String> {
    let containerd = pid_in(SECOND_CONTAINERD_PID_FILE);
    let since = Instant::now();
    for pid in [dockerd, containerd].into_iter().flatten() {
        while exists(pid) && !alive(pid) {
            if since.elapsed() > Duration::from_secs(10) {
                return Err(format!(
                    "process {pid} of the killed second engine not reaped {:?} after its end",
                    since.elapsed()
                ));
            }
            std::thread::sleep(POLL);
        }
    }
    Ok(())
}

/// The second dockerd's log (`$BERTH_TESTBED_DIR/dockerd-2.log`, as `scripts/testbed.sh` has it).
fn second_log() -> PathBuf {
    let state = std::env::var_os("BERTH_TESTBED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/berth-testbed"));
    state.join("dockerd-2.log")
}

/// The last lines of the second dockerd's log, for a failure message.
pub fn second_log_tail() -> String {
    let log = std::fs::read_to_string(second_log()).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Kills the second dockerd with SIGKILL (its containerd goes with it; the containers'
/// shims stay, and so do the containers) and waits (5 s at most) until it is gone and its
/// socket no longer answers. Returns the instant of the kill.
pub fn kill_second_engine() -> Instant {
    let pid = second_pid().expect("the second dockerd's pid file");
    assert!(alive(pid), "the second dockerd (pid {pid}) is not running");
    let killed = Instant::now();
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -KILL {pid}: {status}");
    while alive(pid) || answers(SECOND_SOCKET) {
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "the second dockerd (pid {pid}) still there {:?} after SIGKILL",
            killed.elapsed()
        );
        std::thread::sleep(POLL);
    }
    killed
}

/// When the second dockerd was started again, and when it first answered.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    pub launched: Instant,
    pub answered: Instant,
}

impl Started {
    /// From its start to its first answer.
    pub fn took(&self) -> Duration {
        self.answered - self.launched
    }
}

/// Starts the second dockerd again with the test bed's command and waits until it answers
/// ([`SECOND_START_LIMIT`] at most, as long as it lives), looking every 50 ms so that the
/// instant it answered is known closely. The pid file a killed daemon leaves is removed first
/// (dockerd refuses to start while its pid file names a process that exists). Containers
/// are left as the daemon leaves them (it stops those that were running): tests look at them.
pub fn start_second_engine() -> Result<Started, String> {
    if answers(SECOND_SOCKET) {
        return Err(format!("the engine on {SECOND_SOCKET} already answers"));
    }
    if let Some(pid) = second_pid()
        && !alive(pid)
    {
        wait_until_reaped(Some(pid))?;
        std::fs::remove_file(SECOND_PID_FILE)
            .map_err(|e| format!("removing the stale {SECOND_PID_FILE}: {e}"))?;
    } else {
        wait_until_reaped(None)?;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/testbed.sh");
    let launched = Instant::now();
    let out = Command::new("bash")
        .args([script, "--launch-second-engine"])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{script}: {e}"))?;
    let said = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{script} --launch-second-engine: {} {said}",
            out.status
        ));
    }
    let pid: u32 = said
        .trim()
        .parse()
        .map_err(|_| format!("{script} --launch-second-engine printed {said:?}, not a pid"))?;
    loop {
        if answers(SECOND_SOCKET) {
            return Ok(Started {
                launched,
                answered: Instant::now(),
            });
        }
        if !alive(pid) {
            return Err(format!(
                "the second dockerd (pid {pid}) exited {:?} after its start:\n{}",
                launched.elapsed(),
                second_log_tail()
            ));
        }
        if launched.elapsed() > SECOND_START_LIMIT {
            return Err(format!(
                "the second dockerd (pid {pid}) did not answer within {SECOND_START_LIMIT:?}:\n{}",
                second_log_tail()
            ));
        }
        std::thread::sleep(POLL);
    }
}

/// Held by a test that takes the second engine away: made once the engine answers (started
/// again if it did not), and when dropped, however the test ends, starts it again if it does
/// not answer and waits until it does. Declare it after the test's lock, so that the engine
/// is back before the next test gets the lock.
pub struct SecondEngine {
    _private: (),
}

impl SecondEngine {
    pub async fn guard() -> SecondEngine {
        let back = tokio::task::spawn_blocking(bring_back)
            .await
            .expect("bringing the second engine back");
        if let Err(e) = back {
            panic!("the second engine does not answer: {e}");
        }
        SecondEngine { _private: () }
    }

    /// Starts the second engine again now (it must be down) and waits until it answers.
    pub async fn restart(&self) -> Started {
        tokio::task::spawn_blocking(start_second_engine)
            .await
            .expect("starting the second engine")
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Starts the second engine if it does not answer; waits until it does.
fn bring_back() -> Result<(), String> {
    if answers(SECOND_SOCKET) {
        return Ok(());
    }
    // A daemon still on its way up (its socket not there yet) is waited for, not doubled.
    if let Some(pid) = second_pid().filter(|pid| alive(*pid)) {
        let since = Instant::now();
        while alive(pid) && !answers(SECOND_SOCKET) && since.elapsed() < SECOND_START_LIMIT {
            std::thread::sleep(POLL);
        }
        if answers(SECOND_SOCKET) {
            return Ok(());
        }
        if alive(pid) {
            return Err(format!(
                "the second dockerd (pid {pid}) lives but did not answer within {SECOND_START_LIMIT:?}"
            ));
        }
    }
    let started = start_second_engine()?;
    eprintln!(
        "the second engine is back, {:?} after its start",
        started.took()
    );
    Ok(())
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        // No panic here: this may run while a failed assertion unwinds.
        if let Err(e) = bring_back() {
            eprintln!("could not bring the second engine back: {e}");
        }
    }
}
