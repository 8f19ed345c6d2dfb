//! Access to the host beyond namespaces: capabilities, devices (and the block-I/O throttles
//! that name them), security options, sysctls, runtimes, published ports, logging,
//! annotations, restart policies, the OOM killer and ulimits.

use std::collections::BTreeMap;

use berth_shared::models::{HostConfig, RestartPolicyNameEnum};

use super::super::glob::glob;
use super::super::normalize_capability;
use super::{Check, deny};
use crate::policy::Rules;

pub(super) fn capabilities(rules: &Rules, host: &HostConfig) -> Check {
    for cap in host.cap_add.iter().flatten() {
        // Normalised again, so a request that did not come through the CLI's normalisation
        // (`sys_admin`, `all`) is compared in the same form.
        let cap = normalize_capability(cap);
        if !rules.capabilities.contains(&cap) {
            let why = if cap == "ALL" {
                "grants every capability"
            } else {
                "is not in the allowed capabilities"
            };
            deny("capabilities", format!("--cap-add {cap} {why}"))?;
        }
    }
    Ok(())
}

/// Whether `path` is one of the allowed host devices, compared as written: the daemon
/// resolves it on the host, so a path with `..` (`/dev/../etc/shadow`) is never one.
fn allowed_device(rules: &Rules, path: &str) -> bool {
    !path.split('/').any(|c| c == "..") && rules.devices.iter().any(|a| a == path)
}

pub(super) fn devices(rules: &Rules, host: &HostConfig) -> Check {
    for d in host.devices.iter().flatten() {
        let path = d.path_on_host.as_deref().unwrap_or("");
        if !allowed_device(rules, path) {
            deny(
                "devices",
                format!("--device {path}: the host device {path} is not allowed"),
            )?;
        }
    }
    // The throttles name host devices too, and the daemon stats each path: an answer that
    // differs for existing and missing paths would tell what is on the host.
    let throttles = [
        ("--device-read-bps", &host.blkio_device_read_bps),
        ("--device-write-bps", &host.blkio_device_write_bps),
        ("--device-read-iops", &host.blkio_device_read_iops),
        ("--device-write-iops", &host.blkio_device_write_iops),
    ];
    for (flag, list) in throttles {
        for t in list.iter().flatten() {
            let path = t.path.as_deref().unwrap_or("");
            if !allowed_device(rules, path) {
                deny(
                    "devices",
                    format!("{flag} {path}: the host device {path} is not allowed"),
                )?;
            }
        }
    }
    for w in host.blkio_weight_device.iter().flatten() {
        let path = w.path.as_deref().unwrap_or("");
        if !allowed_device(rules, path) {
            deny(
                "devices",
                format!("--blkio-weight-device {path}: the host device {path} is not allowed"),
            )?;
        }
    }
    if !rules.allow_device_requests
        && let Some(r) = host.device_requests.iter().flatten().next()
    {
        let ids = r.device_ids.clone().unwrap_or_default().join(",");
        let flag = if r.driver.as_deref() == Some("cdi") {
            format!("--device {ids} (a CDI device)")
        } else if ids.is_empty() {
            match r.count {
                Some(-1) => "--gpus all".to_string(),
                Some(n) => format!("--gpus {n}"),
                None => "--gpus".to_string(),
            }
        } else {
            format!("--gpus device={ids}")
        };
        deny(
            "device-requests",
            format!("{flag} requests host devices, which is not allowed"),
        )?;
    }
    if !rules.allow_device_cgroup_rules
        && let Some(r) = host.device_cgroup_rules.iter().flatten().next()
    {
        deny(
            "devices",
            format!("--device-cgroup-rule {r:?} opens host devices to the container"),
        )?;
    }
    Ok(())
}

/// `--security-opt` values that never weaken the defaults.
const SAFE_SECURITY_OPTS: &[&str] = &[
    "no-new-privileges",
    "no-new-privileges=true",
    "no-new-privileges:true",
    "no-new-privileges=false",
    "no-new-privileges:false",
    "seccomp=builtin",
    "seccomp:builtin",
    "apparmor=docker-default",
    "apparmor:docker-default",
];

pub(super) fn security(rules: &Rules, host: &HostConfig) -> Check {
    let allowed =
        |o: &str| SAFE_SECURITY_OPTS.contains(&o) || rules.security_opts.iter().any(|a| a == o);
    for opt in host.security_opt.iter().flatten() {
        if allowed(opt) {
            continue;
        }
        // The CLI accepts `key=value` and `key:value`.
        let (key, value) = opt.split_once(['=', ':']).unwrap_or((opt, ""));
        let why = match (key, value) {
            ("seccomp", "unconfined") => "turns off the seccomp system call filter",
            ("apparmor", "unconfined") => "turns off the AppArmor profile",
            ("apparmor", _) => "replaces the AppArmor profile",
            ("label", "disable") => "turns off SELinux separation",
            ("label", _) => "changes the SELinux label",
            ("seccomp", _) => "replaces the seccomp profile",
            _ => "is not an allowed security option",
        };
        deny("security-opt", format!("--security-opt {opt} {why}"))?;
    }
    // `systempaths=unconfined` reaches the request as empty MaskedPaths and ReadonlyPaths;
    // any explicit list replaces the daemon's masks of /proc and /sys.
    if (host.masked_paths.is_some() || host.readonly_paths.is_some())
        && !allowed("systempaths=unconfined")
    {
        deny(
            "security-opt",
            "--security-opt systempaths=unconfined unmasks the host's /proc and /sys paths",
        )?;
    }
    Ok(())
}

/// Sysctls, runtime, published ports, logging, annotations.
pub(super) fn other(rules: &Rules, host: &HostConfig) -> Check {
    let sysctls: BTreeMap<_, _> = host.sysctls.iter().flatten().collect();
    for (k, v) in sysctls {
        if !rules.sysctls.iter().any(|p| glob(p, k, false)) {
            deny(
                "sysctls",
                format!("--sysctl {k}={v}: the sysctl {k} is not allowed"),
            )?;
        }
    }
    let runtime = host.runtime.as_deref().unwrap_or("");
    if !runtime.is_empty() && runtime != "runc" && !rules.runtimes.iter().any(|r| r == runtime) {
        deny(
            "runtime",
            format!("--runtime {runtime}: only the default runtime (runc) is allowed"),
        )?;
    }
    if !rules.allow_published_ports {
        let published: BTreeMap<_, _> = host
            .port_bindings
            .iter()
            .flatten()
            .filter(|(_, b)| b.as_ref().is_some_and(|b| !b.is_empty()))
            .collect();
        if let Some((port, _)) = published.into_iter().next() {
            deny(
                "ports",
                format!("-p {port}: publishing ports on the host is not allowed"),
            )?;
        }
        if host.publish_all_ports == Some(true) {
            deny(
                "ports",
                "-P publishes ports on the host, which is not allowed",
            )?;
        }
    }
    if let Some(log) = &host.log_config {
        let driver = log.typ.as_deref().unwrap_or("");
        if !driver.is_empty() && !rules.log_drivers.iter().any(|d| d == driver) {
            deny(
                "log-driver",
                format!("--log-driver {driver} is not allowed (the daemon's default is)"),
            )?;
        }
        let opts: BTreeMap<_, _> = log.config.iter().flatten().collect();
        if let Some((k, v)) = opts.into_iter().next()
            && !rules.allow_log_options
        {
            deny(
                "log-driver",
                format!("--log-opt {k}={v}: logging options are not allowed"),
            )?;
        }
    }
    if !rules.allow_annotations
        && let Some((k, v)) = host
            .annotations
            .iter()
            .flatten()
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .next()
    {
        deny(
            "annotations",
            format!("--annotation {k}={v}: OCI runtime annotations are not allowed"),
        )?;
    }
    Ok(())
}

/// Settings that let a container outlive the gateway's control or weigh on the host beyond its
/// resource limits: restart policies, OOM-killer exemptions, raised resource limits.
pub(super) fn host_stability(rules: &Rules, host: &HostConfig) -> Check {
    let restart = host.restart_policy.as_ref().and_then(|r| r.name);
    if let Some(name) =
        restart.filter(|n| !matches!(n, RestartPolicyNameEnum::EMPTY | RestartPolicyNameEnum::NO))
        && !rules.allow_restart_policies
    {
        deny(
            "restart",
            format!(
                "--restart {name}: restart policies are not allowed (the container would come back after the daemon restarts, outside Berth's runs)"
            ),
        )?;
    }
    if !rules.allow_oom_adjustments {
        // Within a memory limit the kernel pauses the container instead (the daemon warns
        // the same); without one, the host's processes are what the OOM killer has left.
        let memory_limited = host.memory.is_some_and(|m| m > 0) || rules.memory.default.is_some();
        if host.oom_kill_disable == Some(true) && !memory_limited {
            deny(
                "oom",
                "--oom-kill-disable without a memory limit (-m) is not allowed: the OOM killer would pick host processes instead",
            )?;
        }
        if let Some(adj) = host.oom_score_adj.filter(|a| *a < 0) {
            deny(
                "oom",
                format!(
                    "--oom-score-adj {adj}: a negative score makes the OOM killer pick host processes first; only 0 or above is allowed"
                ),
            )?;
        }
    }
    for ulimit in host.ulimits.iter().flatten() {
        let name = ulimit.name.as_deref().unwrap_or("");
        if !rules.ulimits.iter().any(|u| u == name) {
            deny(
                "ulimits",
                format!(
                    "--ulimit {name}: this limit may not be set (allowed: {})",
                    list(&rules.ulimits)
                ),
            )?;
        }
    }
    Ok(())
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}
