//! Memory, CPUs and pids: maxima, and the defaults an allowed request gets.

use berth_shared::models::HostConfig;
use berth_shared::plan::Plan;

use super::deny;
use crate::policy::{Denial, Rules};

const NANO: i64 = 1_000_000_000;
/// The CFS period the kernel (and the daemon) use when `--cpu-period` is not given, in µs.
const DEFAULT_CPU_PERIOD: i64 = 100_000;
/// The resource limits an allowed request gets where it set none (see [`resources`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Defaults {
    memory: Option<i64>,
    nano_cpus: Option<i64>,
    cpu_quota: Option<i64>,
    pids: Option<i64>,
}

impl Defaults {
    /// Fills them into the request that was checked.
    pub fn apply(self, plan: &mut Plan) {
        let host = plan.body.host_config.get_or_insert_default();
        if let Some(m) = self.memory {
            host.memory = Some(m);
        }
        if let Some(n) = self.nano_cpus {
            host.nano_cpus = Some(n);
        }
        if let Some(q) = self.cpu_quota {
            host.cpu_quota = Some(q);
        }
        if let Some(p) = self.pids {
            host.pids_limit = Some(p);
        }
    }
}

/// `1073741824` as `1g`, for messages in the flag's own units.
fn size(bytes: i64) -> String {
    for (unit, scale) in [("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if bytes >= scale && bytes % scale == 0 {
            return format!("{}{unit}", bytes / scale);
        }
    }
    format!("{bytes} bytes")
}

/// NanoCPUs as `--cpus` writes them: `1.5`.
fn cpus(nano: i64) -> String {
    let whole = nano / NANO;
    let frac = nano % NANO;
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{frac:09}")
            .trim_end_matches('0')
            .to_string()
    }
}

/// Memory, CPUs and pids: a request above a maximum is denied; a missing value gets the
/// default (which falls back to the maximum). `0` means "not set" for each of them, as for
/// the daemon.
pub(super) fn resources(rules: &Rules, host: &HostConfig) -> Result<Defaults, Denial> {
    let mut defaults = Defaults::default();

    let memory = host.memory.filter(|m| *m > 0);
    if let Some(max) = rules.memory.max {
        if let Some(m) = memory
            && m > max
        {
            deny(
                "memory",
                format!("--memory {} is above the maximum {}", size(m), size(max)),
            )?;
        }
        // Memory plus swap: unlimited swap, or more than the maximum again as swap, would
        // let the container use the host's swap past the memory maximum.
        match host.memory_swap {
            Some(s) if s < 0 => deny(
                "memory",
                format!(
                    "--memory-swap {s} (unlimited swap) is not allowed; the maximum memory is {}",
                    size(max)
                ),
            )?,
            Some(s) if s > max.saturating_mul(2) => deny(
                "memory",
                format!(
                    "--memory-swap {} is above the maximum {} (twice the maximum memory)",
                    size(s),
                    size(max.saturating_mul(2))
                ),
            )?,
            _ => {}
        }
    }
    if memory.is_none() {
        defaults.memory = rules.memory.default;
    }

    let nano = host.nano_cpus.filter(|n| *n > 0);
    let quota = host.cpu_quota.filter(|q| *q > 0);
    let period = host.cpu_period.filter(|p| *p > 0);
    if let Some(max) = rules.cpus.max {
        if let Some(n) = nano
            && n > max
        {
            deny(
                "cpus",
                format!("--cpus {} is above the maximum {}", cpus(n), cpus(max)),
            )?;
        }
        // A negative quota is "no limit" to the kernel, and the daemon lets it override the
        // NanoCPUs the default would fill in.
        if let Some(q) = host.cpu_quota.filter(|q| *q < 0) {
            deny(
                "cpus",
                format!(
                    "--cpu-quota {q} (unlimited) is not allowed; the maximum is {} CPUs",
                    cpus(max)
                ),
            )?;
        }
        if let Some(q) = quota {
            let p = period.unwrap_or(DEFAULT_CPU_PERIOD);
            let n =
                (i128::from(q) * i128::from(NANO) / i128::from(p)).min(i128::from(i64::MAX)) as i64;
            if n > max {
                deny(
                    "cpus",
                    format!(
                        "--cpu-quota {q} with --cpu-period {p} is {} CPUs, above the maximum {}",
                        cpus(n),
                        cpus(max)
                    ),
                )?;
            }
        }
        // Real-time scheduling can starve the host whatever the CFS limits say.
        if let Some(rt) = host.cpu_realtime_runtime.filter(|r| *r > 0) {
            deny(
                "cpus",
                format!("--cpu-rt-runtime {rt}: real-time scheduling is not allowed"),
            )?;
        }
    }
    if nano.is_none()
        && quota.is_none()
        && let Some(d) = rules.cpus.default
    {
        // The daemon refuses NanoCpus together with a CPU period, so a request that set only
        // `--cpu-period` gets its default as a quota over that period.
        match period {
            Some(p) => {
                let q = (i128::from(d) * i128::from(p) / i128::from(NANO)) as i64;
                // The kernel's minimum quota is 1ms.
                defaults.cpu_quota = Some(q.max(1000));
            }
            None => defaults.nano_cpus = Some(d),
        }
    }

    match host.pids_limit.unwrap_or(0) {
        p if p < 0 => {
            if let Some(max) = rules.pids.max {
                deny(
                    "pids",
                    format!("--pids-limit {p} (unlimited) is not allowed; the maximum is {max}"),
                )?;
            }
        }
        0 => defaults.pids = rules.pids.default,
        p => {
            if let Some(max) = rules.pids.max
                && p > max
            {
                deny(
                    "pids",
                    format!("--pids-limit {p} is above the maximum {max}"),
                )?;
            }
        }
    }
    Ok(defaults)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_units_in_messages() {
        assert_eq!(size(1 << 30), "1g");
        assert_eq!(size(3 << 29), "1536m");
        assert_eq!(size(100), "100 bytes");
        assert_eq!(cpus(1_500_000_000), "1.5");
        assert_eq!(cpus(2 * NANO), "2");
        assert_eq!(cpus(1_000_000), "0.001");
    }
}
