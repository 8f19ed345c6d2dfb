//! What the kernel says about a process: resident memory and CPU time (`/proc/<pid>`), and for
//! a child that has exited, its own peak RSS and CPU from `wait4`.

use std::time::Duration;

/// Resident memory of `pid` in bytes: (current `VmRSS`, peak `VmHWM`).
pub fn rss(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn clock_tick() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

/// User + system CPU time `pid` has used so far.
pub fn cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 / clock_tick()))
}

/// How a child ended, with its resource use.
#[derive(Debug, Clone, Copy)]
pub struct Reaped {
    pub success: bool,
    pub cpu: Duration,
    pub max_rss: u64,
}

/// Waits for child `pid` (spawned by `std::process::Command`, never waited on otherwise) and
/// returns its own CPU time and peak RSS, which `Child::wait` does not give.
pub fn wait4(pid: u32) -> std::io::Result<Reaped> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: the pointers are valid for the duration of the call.
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        if r == pid as libc::pid_t {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ok(Reaped {
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        max_rss: usage.ru_maxrss as u64 * 1024,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let (rss, peak) = rss(std::process::id()).unwrap();
        assert!(rss > 0 && peak >= rss);
        assert!(cpu(std::process::id()).is_some());
        assert!(rss_of_missing().is_none());
    }

    fn rss_of_missing() -> Option<(u64, u64)> {
        rss(u32::MAX)
    }

    #[test]
    // Reaped by `wait4`, which is what is under test.
    #[allow(clippy::zombie_processes)]
    fn reaps_a_child_with_its_status() {
        let ok = std::process::Command::new("true").spawn().unwrap();
        assert!(wait4(ok.id()).unwrap().success);
        let bad = std::process::Command::new("false").spawn().unwrap();
        assert!(!wait4(bad.id()).unwrap().success);
    }
}
