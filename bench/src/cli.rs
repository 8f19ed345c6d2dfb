//! The official docker CLI, timed by wall clock from spawn to exit.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::consume::Consumer;
use crate::procstat::{self, Reaped};

/// Where the CLI's stdout goes.
#[derive(Clone, Copy)]
pub enum Out {
    /// `> /dev/null`: the CLI writes, nobody reads.
    Null,
    /// A pipe this process reads, optionally slowly: (bytes per second, for how long).
    Pipe {
        slow: Option<(f64, Duration)>,
        fingerprint: bool,
    },
}

pub struct CliRun {
    pub elapsed: Duration,
    /// When the CLI exited.
    pub ended: Instant,
    pub consumer: Consumer,
    pub reaped: Reaped,
    /// (seconds since spawn, RSS) samples, when asked for.
    pub rss_samples: Vec<(f64, u64)>,
}

/// Runs `docker <args>`; `sample` takes the CLI's RSS every so often while it runs; `ready`
/// is told when the first byte of output arrived.
// The child is reaped by `procstat::wait4` (for its rusage), not `Child::wait`.
#[allow(clippy::zombie_processes)]
pub fn docker(
    args: &[&str],
    out: Out,
    sample: Option<Duration>,
    ready: Option<std::sync::mpsc::Sender<()>>,
) -> CliRun {
    let mut ready = ready;
    let started = Instant::now();
    let mut cmd = Command::new("docker");
    cmd.args(args).stdin(Stdio::null()).stderr(Stdio::null());
    match out {
        Out::Null => cmd.stdout(Stdio::null()),
        Out::Pipe { .. } => cmd.stdout(Stdio::piped()),
    };
    let mut child = cmd.spawn().expect("the docker CLI starts");
    let pid = child.id();
    let sampler = sample.map(|every| {
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            let t0 = Instant::now();
            // /proc/<pid> stays readable until the child is reaped (a zombie has no memory).
            while let Some((rss, _)) = procstat::rss(pid).filter(|(rss, _)| *rss > 0) {
                samples.push((t0.elapsed().as_secs_f64(), rss));
                std::thread::sleep(every);
            }
            samples
        })
    });
    let mut consumer = Consumer::new(started);
    if let Out::Pipe { slow, fingerprint } = out {
        if fingerprint {
            consumer = consumer.fingerprinting();
        }
        let mut stdout = child.stdout.take().expect("piped");
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            consumer.take(&buf[..n]);
            if let Some(r) = ready.take() {
                let _ = r.send(());
            }
            if let Some((rate, window)) = slow
                && started.elapsed() < window
            {
                std::thread::sleep(Duration::from_secs_f64(n as f64 / rate));
            }
        }
    }
    let reaped = procstat::wait4(pid).expect("wait4 the docker CLI");
    let elapsed = started.elapsed();
    let rss_samples = sampler
        .map(|s| s.join().expect("sampler"))
        .unwrap_or_default();
    CliRun {
        elapsed,
        ended: started + elapsed,
        consumer,
        reaped,
        rss_samples,
    }
}

/// Runs `docker <args>` and returns its stdout, for set-up and clean-up steps.
pub fn quiet(args: &[&str]) -> String {
    Command::new("docker")
        .args(args)
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
