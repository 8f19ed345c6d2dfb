//! Processes and filesystems of a fault test's own, to kill and break (`tests/tests/faults.rs`):
//! a `dockerd` apart from the test bed's (its own socket, data root, exec root, pid file and
//! cgroup parent, networking off), a Debian `docker-registry` on a loopback port, a TCP proxy
//! that slows what a registry sends (so that a kill lands mid-layer), and small filesystems
//! for a gateway's data directory (a tmpfs to fill, an ext4 image the kernel turns read-only).
//!
//! Each is a guard: dropped, however the test ends, it kills what it started (the daemon, its
//! containerd, the containers' shims and processes), unmounts what it mounted and removes its
//! files. The test bed's engines and registries are never touched.

use std::io::{Read, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::testbed::{alive, answers, exists};
use crate::{FIXTURE, docker, free_port};

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(50);
/// How long a dockerd of a test may take to answer after its start (a restart after SIGKILL
/// waits for its old containerd's end, ~20 s on the test bed).
pub const DOCKERD_START_LIMIT: Duration = Duration::from_secs(90);

/// A directory of this test process's own for `name`, empty.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(format!("/tmp/berth-faults-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

fn run(cmd: &str, args: &[&str]) -> (bool, String) {
    match Command::new(cmd).args(args).stdin(Stdio::null()).output() {
        Ok(out) => (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
        Err(e) => (false, format!("{cmd}: {e}")),
    }
}

/// Mount points at or under `dir`, deepest first.
fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.display().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut points: Vec<String> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .filter(|p| *p == prefix || p.starts_with(&format!("{prefix}/")))
        .map(str::to_string)
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    points
}

/// Kills (SIGKILL) every process whose command line names `dir`: what a dockerd of a test
/// started there (its containerd, the containers' shims).
fn kill_processes_naming(dir: &Path) {
    let needle = dir.display().to_string();
    let me = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&needle) {
            let _ = run("kill", &["-KILL", &pid.to_string()]);
        }
    }
}

/// A `dockerd` of a test's own on `unix:///tmp/berth-faults-PID-NAME/docker.sock`, with the
/// test bed's networking flags (no bridge, no iptables: `--network none` only) and its
/// containers under the cgroup parent `/berth-faults-PID-NAME`, so that they can be found and
/// killed whatever the daemon's state.
pub struct Dockerd {
    pub name: String,
    dir: PathBuf,
    flags: Vec<String>,
    child: Option<Child>,
}

/// When a dockerd was started, and when it first answered.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    pub launched: Instant,
    pub answered: Instant,
}

impl Started {
    pub fn took(&self) -> Duration {
        self.answered - self.launched
    }
}

impl Dockerd {
    /// Starts it with `flags` besides the test bed's (`--live-restore`: its containers then
    /// outlive the daemon) and waits until it answers; the test bed's fixture is loaded into it.
    pub fn start(name: &str, flags: &[&str]) -> Dockerd {
        let mut d = Dockerd {
            name: name.into(),
            dir: scratch(name),
            flags: flags.iter().map(|f| f.to_string()).collect(),
            child: None,
        };
        d.launch().unwrap_or_else(|e| panic!("{e}"));
        let (ok, out, err) = docker(&["image", "inspect", FIXTURE]);
        assert!(ok, "the test bed's {FIXTURE}: {out}{err}");
        let load = format!(
            "docker -H unix:///var/run/docker.sock save {FIXTURE} | docker -H {} load",
            d.host()
        );
        let (ok, said) = run("sh", &["-c", &load]);
        assert!(ok, "loading {FIXTURE} into {}: {said}", d.name);
        d
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    /// `unix:///…`, as `DOCKER_HOST` and the engines file have it.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("docker.pid")
    }

    fn exec_root(&self) -> PathBuf {
        self.dir.join("exec")
    }

    fn containerd_pid_file(&self) -> PathBuf {
        self.exec_root().join("containerd/containerd.pid")
    }

    fn cgroup_parent(&self) -> String {
        format!("/berth-faults-{}-{}", std::process::id(), self.name)
    }

    pub fn answers(&self) -> bool {
        answers(&self.socket().display().to_string())
    }

    /// The docker CLI against it: (success, stdout, stderr).
    pub fn docker(&self, args: &[&str]) -> (bool, String, String) {
        crate::docker_on(&self.host(), args)
    }

    /// The last lines of its log, for a failure message.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    fn launch(&mut self) -> Result<Started, String> {
        if self.answers() {
            return Err(format!("{} already answers", self.name));
        }
        // A killed daemon leaves its pid file, and its containerd's: dockerd refuses to start
        // while the one names a process, and waits for the other's socket while it does (a
        // zombie too). Both are gone once reaped; what is left names nothing.
        let since = Instant::now();
        let containerd = std::fs::read_to_string(self.containerd_pid_file())
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        if let Some(pid) = containerd {
            while exists(pid) && since.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(POLL);
            }
            if !alive(pid) {
                let _ = std::fs::remove_file(self.containerd_pid_file());
            }
        }
        let _ = std::fs::remove_file(self.pid_file());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("dockerd.log"))
            .map_err(|e| format!("dockerd.log: {e}"))?;
        let mut cmd = Command::new("dockerd");
        cmd.arg("--host")
            .arg(self.host())
            .arg("--data-root")
            .arg(self.dir.join("data"))
            .arg("--exec-root")
            .arg(self.exec_root())
            .arg("--pidfile")
            .arg(self.pid_file())
            .arg("--cgroup-parent")
            .arg(self.cgroup_parent())
            .args(["--bridge=none", "--iptables=false", "--ip-masq=false"])
            .args(&self.flags);
        let launched = Instant::now();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("dockerd: {e}"))?;
        self.child = Some(child);
        loop {
            if self.answers() {
                return Ok(Started {
                    launched,
                    answered: Instant::now(),
                });
            }
            let child = self.child.as_mut().expect("a child");
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Err(format!(
                    "dockerd {} exited ({status}) {:?} after its start:\n{}",
                    self.name,
                    launched.elapsed(),
                    self.log_tail()
                ));
            }
            if launched.elapsed() > DOCKERD_START_LIMIT {
                return Err(format!(
                    "dockerd {} did not answer within {DOCKERD_START_LIMIT:?}:\n{}",
                    self.name,
                    self.log_tail()
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Kills the daemon with SIGKILL (its containerd goes with it; the containers' shims stay)
    /// and waits (5 s at most) until it is reaped and its socket no longer answers. Returns the
    /// instant of the kill.
    pub fn kill(&mut self) -> Instant {
        let mut child = self.child.take().expect("a running dockerd");
        let killed = Instant::now();
        child.kill().expect("SIGKILL to dockerd");
        child.wait().expect("dockerd reaped");
        while self.answers() {
            assert!(
                killed.elapsed() < Duration::from_secs(5),
                "{} still answers {:?} after SIGKILL",
                self.name,
                killed.elapsed()
            );
            std::thread::sleep(POLL);
        }
        killed
    }

    /// Starts the daemon again (it must be down) and waits until it answers.
    pub fn restart(&mut self) -> Started {
        self.launch().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Kills the processes of the containers under its cgroup parent.
    fn kill_containers(&self) {
        for controller in ["pids", "memory", "cpu", "systemd"] {
            let root = PathBuf::from(format!(
                "/sys/fs/cgroup/{controller}{}",
                self.cgroup_parent()
            ));
            let Ok(groups) = std::fs::read_dir(&root) else {
                continue;
            };
            for group in groups.flatten().filter(|g| g.path().is_dir()) {
                let procs = std::fs::read_to_string(group.path().join("cgroup.procs"));
                for pid in procs.unwrap_or_default().lines() {
                    let _ = run("kill", &["-KILL", pid]);
                }
            }
        }
    }

    fn remove_cgroups(&self) {
        for controller in [
            "pids", "memory", "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio", "systemd",
            "unified",
        ] {
            let root = PathBuf::from(format!(
                "/sys/fs/cgroup/{controller}{}",
                self.cgroup_parent()
            ));
            if let Ok(groups) = std::fs::read_dir(&root) {
                for group in groups.flatten().filter(|g| g.path().is_dir()) {
                    let _ = std::fs::remove_dir(group.path());
                }
            }
            let _ = std::fs::remove_dir(&root);
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // No panic here: this may run while a failed assertion unwinds.
        if self.answers() {
            let (_, ids, _) = self.docker(&["ps", "-aq"]);
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                self.docker(&[&["rm", "-f"][..], &ids[..]].concat());
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        kill_processes_naming(&self.dir);
        self.kill_containers();
        std::thread::sleep(Duration::from_millis(200));
        for point in mounts_under(&self.dir) {
            let _ = run("umount", &["-l", &point]);
        }
        self.remove_cgroups();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Debian's `docker-registry` on `127.0.0.1:PORT`, its storage in a directory of the test's.
pub struct Registry {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Registry {
    pub fn start(name: &str) -> Registry {
        let dir = scratch(name);
        let port = free_port();
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("storage").display()
        );
        std::fs::write(dir.join("config.yml"), config).expect("the registry's config");
        let mut r = Registry {
            port,
            dir,
            child: None,
        };
        r.restart();
        r
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `127.0.0.1:PORT`, as image references name it.
    pub fn host(&self) -> String {
        self.addr().to_string()
    }

    /// Whether `GET /v2/` answers 200.
    pub fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect_timeout(&self.addr(), Duration::from_secs(1)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"GET /v2/ HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut head = [0u8; 12];
        s.read_exact(&mut head).is_ok() && head.ends_with(b"200")
    }

    /// Starts it (again) and waits (30 s at most) until it answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the registry runs already");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("registry.log"))
            .expect("registry.log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("registry.log"))
            .stderr(log)
            .spawn()
            .expect("docker-registry starts");
        self.child = Some(child);
        let since = Instant::now();
        while !self.answers() {
            assert!(
                since.elapsed() < Duration::from_secs(30),
                "the registry on {} did not answer within 30 s",
                self.host()
            );
            std::thread::sleep(POLL);
        }
    }

    /// SIGKILL; returns once it is reaped.
    pub fn kill(&mut self) -> Instant {
        let mut child = self.child.take().expect("a running registry");
        let killed = Instant::now();
        child.kill().expect("SIGKILL to the registry");
        child.wait().expect("the registry reaped");
        killed
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback TCP proxy in front of `upstream` that passes what the client sends as it comes
/// and what upstream sends at most `rate` bytes a second (0: as fast as it comes). While
/// upstream refuses connections, so does the proxy: it stops listening at the first refusal
/// and listens again on the same port once upstream answers, so that a client sees what it
/// would see without it (`connection refused`). Ends with the guard.
pub struct SlowProxy {
    pub addr: SocketAddr,
    rate: Arc<AtomicU64>,
    accept: tokio::task::JoinHandle<()>,
}

fn proxy_listener(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(64)
}

impl SlowProxy {
    pub async fn start(upstream: SocketAddr, rate: u64) -> SlowProxy {
        let listener = proxy_listener("127.0.0.1:0".parse().unwrap()).expect("the proxy binds");
        let addr = listener.local_addr().unwrap();
        let rate = Arc::new(AtomicU64::new(rate));
        let limit = Arc::clone(&rate);
        let accept = tokio::spawn(async move {
            let mut listener = Some(listener);
            loop {
                let Some(open) = &listener else {
                    // Upstream refused: listen again once it answers.
                    tokio::time::sleep(POLL).await;
                    if tokio::net::TcpStream::connect(upstream).await.is_ok() {
                        listener = proxy_listener(addr).ok();
                    }
                    continue;
                };
                let Ok((client, _)) = open.accept().await else {
                    return;
                };
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    listener = None;
                    continue;
                };
                let limit = Arc::clone(&limit);
                tokio::spawn(pipe(client, server, limit));
            }
        });
        SlowProxy { addr, rate, accept }
    }

    /// `127.0.0.1:PORT`, as image references name it.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Waits (10 s at most) until it listens again (after upstream came back).
    pub async fn until_listening(&self) {
        let since = Instant::now();
        while tokio::net::TcpStream::connect(self.addr).await.is_err() {
            assert!(
                since.elapsed() < Duration::from_secs(10),
                "the proxy on {} does not listen again",
                self.addr
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Bytes a second from upstream from now on (0: unlimited).
    pub fn set_rate(&self, rate: u64) {
        self.rate.store(rate, Ordering::Relaxed);
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Copies both ways until either side ends, upstream's bytes at most `limit` a second.
async fn pipe(client: tokio::net::TcpStream, server: tokio::net::TcpStream, limit: Arc<AtomicU64>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = tokio::io::copy(&mut client_read, &mut server_write);
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
            let rate = limit.load(Ordering::Relaxed);
            if rate > 0 {
                tokio::time::sleep(Duration::from_secs_f64(n as f64 / rate as f64)).await;
            }
        }
        let _ = client_write.shutdown().await;
    };
    // Either side's end ends both (the registry killed: the client sees the connection close
    // mid-body).
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

/// Pushes to `registry`, as `REGISTRY/REPO:latest`, the fixture with one more layer of `mib`
/// MiB of random bytes (`/big`), built on `dockerd`, and removes it from `dockerd` again so
/// that a run of it pulls that layer. Returns the repository path (`REPO`).
pub fn push_large_image(dockerd: &Dockerd, registry: &Registry, repo: &str, mib: u32) {
    let build = format!("berth-faults-build-{}", std::process::id());
    let fill = format!("dd if=/dev/urandom of=/big bs=1048576 count={mib} 2>/dev/null");
    let (ok, out, err) = dockerd.docker(&[
        "run",
        "--name",
        &build,
        "--network",
        "none",
        FIXTURE,
        "sh",
        "-c",
        &fill,
    ]);
    assert!(ok, "building the large layer: {out}{err}");
    let image = format!("{}/{repo}:latest", registry.host());
    let (ok, out, err) = dockerd.docker(&["commit", &build, &image]);
    assert!(ok, "docker commit: {out}{err}");
    dockerd.docker(&["rm", "-f", &build]);
    let (ok, out, err) = dockerd.docker(&["push", &image]);
    assert!(ok, "docker push {image}: {out}{err}");
    let (ok, out, err) = dockerd.docker(&["rmi", &image]);
    assert!(ok, "docker rmi {image}: {out}{err}");
}

/// A filesystem mounted at a directory of the test's own, for a gateway's data directory:
/// a tmpfs of a given size (to fill), or an ext4 image on a loop device mounted with
/// `errors=remount-ro` (which the kernel turns read-only on an error, as a failing disk is).
/// Dropped, it is unmounted and its files removed.
pub struct DataDisk {
    pub path: PathBuf,
    dir: PathBuf,
    /// The ext4 image's loop devices (a new one each time it is mounted again).
    loops: Vec<String>,
}

impl DataDisk {
    /// A tmpfs of `size` (`mount -o size=`, e.g. `8m`).
    pub fn tmpfs(name: &str, size: &str) -> DataDisk {
        let dir = scratch(name);
        let path = dir.join("data");
        std::fs::create_dir_all(&path).unwrap();
        let size = format!("size={size}");
        let (ok, said) = run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &size,
                "tmpfs",
                &path.display().to_string(),
            ],
        );
        assert!(ok, "mounting a tmpfs at {}: {said}", path.display());
        DataDisk {
            path,
            dir,
            loops: Vec::new(),
        }
    }

    /// An ext4 filesystem of `mib` MiB in an image file, on a loop device.
    pub fn ext4(name: &str, mib: u32) -> DataDisk {
        let dir = scratch(name);
        let path = dir.join("data");
        std::fs::create_dir_all(&path).unwrap();
        let image = dir.join("disk.img").display().to_string();
        let file = std::fs::File::create(&image).unwrap();
        file.set_len(u64::from(mib) << 20).unwrap();
        let (ok, said) = run("mkfs.ext4", &["-q", &image]);
        assert!(ok, "mkfs.ext4: {said}");
        let mut disk = DataDisk {
            path,
            dir,
            loops: Vec::new(),
        };
        disk.mount_ext4();
        disk
    }

    fn image(&self) -> String {
        self.dir.join("disk.img").display().to_string()
    }

    fn mount_ext4(&mut self) {
        let (ok, dev) = run("losetup", &["-f", "--show", &self.image()]);
        assert!(ok, "losetup: {dev}");
        let dev = dev.trim().to_string();
        self.loops.push(dev.clone());
        let (ok, said) = run(
            "mount",
            &[
                "-o",
                "errors=remount-ro",
                &dev,
                &self.path.display().to_string(),
            ],
        );
        assert!(ok, "mounting {dev} at {}: {said}", self.path.display());
    }

    /// The kernel's own read-only turn: an ext4 error (`/sys/fs/ext4/DEV/trigger_fs_error`)
    /// with `errors=remount-ro`. From then on every write to it fails with EROFS, through the
    /// files already open too; it stays so until it is mounted again.
    pub fn turn_read_only(&self) {
        let dev = self.loops.last().expect("an ext4 disk");
        let name = Path::new(dev).file_name().unwrap().to_string_lossy();
        let trigger = format!("/sys/fs/ext4/{name}/trigger_fs_error");
        std::fs::write(&trigger, "1").unwrap_or_else(|e| panic!("{trigger}: {e}"));
        let probe = self.path.join(".probe");
        assert!(
            std::fs::write(&probe, "x").is_err(),
            "{} still takes writes after an ext4 error",
            self.path.display()
        );
    }

    /// The disk back: the read-only filesystem unmounted (lazily: the gateway still holds its
    /// files), checked, and mounted again read-write at the same place.
    pub fn mount_again(&mut self) {
        let (ok, said) = run("umount", &["-l", &self.path.display().to_string()]);
        assert!(ok, "umount -l: {said}");
        // Exit status 1: errors corrected, which is what an ext4 error leaves to do.
        let out = Command::new("e2fsck")
            .args(["-fy", &self.image()])
            .output()
            .expect("e2fsck runs");
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "e2fsck: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        self.mount_ext4();
    }

    /// Fills it: a file that takes every free byte. Returns the file, to remove to free it.
    pub fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).expect("the filler");
        let block = vec![0x5au8; 64 * 1024];
        loop {
            if file.write_all(&block).is_err() {
                break;
            }
        }
        // What is left is smaller than a block: a byte at a time.
        while file.write_all(&[0]).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for DataDisk {
    fn drop(&mut self) {
        for point in mounts_under(&self.dir) {
            let _ = run("umount", &["-l", &point]);
        }
        for dev in &self.loops {
            let _ = run("losetup", &["-d", dev]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
