//! The first round of checks: each flag's value as pflag checks it while parsing the flags
//! (`invalid argument "…" for "…" flag: …`), all before the checks of the CLI's `parse`
//! (`host.rs`). pflag checks them in the order of the arguments, Berth in the fixed order
//! below; the first error is the one reported.

use bollard_stubs::models::Mount;

use super::resources::ResourceValues;
use super::{PlanError, each, int64, opt};
use crate::spec::RunSpec;
use crate::{mounts, network, resources, units};

/// The values checked, for the create request: the host config's, but for `kernel_memory`
/// and `stop_timeout`.
pub(super) struct FlagValues {
    pub resources: ResourceValues,
    /// `--kernel-memory`, not in the body: see [`super::Plan::kernel_memory`].
    pub kernel_memory: Option<i64>,
    pub shm_size: Option<i64>,
    pub oom_score_adj: Option<i64>,
    /// `--stop-timeout`, in the container's config.
    pub stop_timeout: Option<i64>,
    /// `--dns`, each address in its canonical form.
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    /// `--add-host`, as `host:ip`.
    pub extra_hosts: Vec<String>,
    pub mounts: Vec<Mount>,
}

/// Checks every flag's value, in Berth's order; `--ip`, `--ip6`, `--link`, `--network` and
/// `--sysctl` are only checked here, and used as given.
pub(super) fn flag_values(spec: &RunSpec) -> Result<FlagValues, PlanError> {
    let memory = opt("memory", &spec.memory, units::ram_in_bytes)?;
    let memory_reservation = opt(
        "memory-reservation",
        &spec.memory_reservation,
        units::ram_in_bytes,
    )?;
    let memory_swap = opt("memory-swap", &spec.memory_swap, |v| {
        if v == "-1" {
            Ok(-1)
        } else {
            units::ram_in_bytes(v)
        }
    })?;
    let kernel_memory = opt("kernel-memory", &spec.kernel_memory, units::ram_in_bytes)?;
    let shm_size = opt("shm-size", &spec.shm_size, units::ram_in_bytes)?;
    let swappiness = opt("memory-swappiness", &spec.memory_swappiness, int64)?.unwrap_or(-1);
    let nano_cpus = opt("cpus", &spec.cpus, units::parse_cpus)?;
    let cpu_shares = opt("cpu-shares", &spec.cpu_shares, int64)?;
    let cpu_period = opt("cpu-period", &spec.cpu_period, int64)?;
    let cpu_quota = opt("cpu-quota", &spec.cpu_quota, int64)?;
    let cpu_rt_period = opt("cpu-rt-period", &spec.cpu_rt_period, int64)?;
    let cpu_rt_runtime = opt("cpu-rt-runtime", &spec.cpu_rt_runtime, int64)?;
    let blkio_weight = opt("blkio-weight", &spec.blkio_weight, |v| {
        units::parse_uint(v, 16)
    })?;
    let oom_score_adj = opt("oom-score-adj", &spec.oom_score_adj, int64)?;
    let pids_limit = opt("pids-limit", &spec.pids_limit, int64)?.unwrap_or(0);
    let stop_timeout = opt("stop-timeout", &spec.stop_timeout, int64)?;
    opt("ip", &spec.ip, network::flag_ip)?;
    opt("ip6", &spec.ip6, network::flag_ip)?;
    let dns = each("dns", &spec.dns, |v| {
        network::canonical_ip(v.trim())
            .ok_or_else(|| format!("IP address is not correctly formatted: {v}"))
    })?;
    let dns_search = each("dns-search", &spec.dns_search, network::dns_search)?;
    let extra_hosts = each("add-host", &spec.add_host, network::extra_host)?;
    each("link", &spec.link, network::validate_link)?;
    each("network", &spec.network, network::validate_network)?;
    each("sysctl", &spec.sysctl, resources::sysctl)?;
    each(
        "device-cgroup-rule",
        &spec.device_cgroup_rule,
        resources::device_cgroup_rule,
    )?;
    let weight_devices = each(
        "blkio-weight-device",
        &spec.blkio_weight_device,
        resources::weight_device,
    )?;
    let read_bps = each(
        "device-read-bps",
        &spec.device_read_bps,
        resources::throttle_bps,
    )?;
    let write_bps = each(
        "device-write-bps",
        &spec.device_write_bps,
        resources::throttle_bps,
    )?;
    let read_iops = each(
        "device-read-iops",
        &spec.device_read_iops,
        resources::throttle_iops,
    )?;
    let write_iops = each(
        "device-write-iops",
        &spec.device_write_iops,
        resources::throttle_iops,
    )?;
    let ulimits =
        resources::ulimits(&spec.ulimit).map_err(|(v, e)| PlanError::argument("ulimit", &v, e))?;
    let gpus = each("gpus", &spec.gpus, resources::gpus)?;
    let mount_list = each("mount", &spec.mount, mounts::mount)?;
    Ok(FlagValues {
        resources: ResourceValues {
            memory,
            memory_reservation,
            memory_swap,
            swappiness,
            nano_cpus,
            cpu_shares,
            cpu_period,
            cpu_quota,
            cpu_rt_period,
            cpu_rt_runtime,
            blkio_weight,
            pids_limit,
            weight_devices,
            read_bps,
            write_bps,
            read_iops,
            write_iops,
            ulimits,
            gpus,
        },
        kernel_memory,
        shm_size,
        oom_score_adj,
        stop_timeout,
        dns,
        dns_search,
        extra_hosts,
        mounts: mount_list,
    })
}
