//! What reaches into other containers and the host's namespaces: `--volumes-from`, `--link`,
//! the `container:` and `host` modes, cgroups, and the networks a request joins.

use std::collections::BTreeMap;

use berth_shared::models::{HostConfig, HostConfigCgroupnsModeEnum};
use berth_shared::plan::Plan;

use super::super::glob::glob;
use super::{Check, deny};
use crate::policy::{Facts, Rules};

/// The containers a request names: `--volumes-from`, `--link` (legacy and per network), and
/// the `container:X` modes of `--network`, `--pid`, `--ipc`, `--uts`, `--userns`.
pub fn referenced_containers(plan: &Plan) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if !name.is_empty() && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    };
    if let Some(host) = &plan.body.host_config {
        for v in host.volumes_from.iter().flatten() {
            add(volumes_from_name(v));
        }
        for l in host.links.iter().flatten() {
            add(link_name(l));
        }
        for (_, mode) in namespace_modes(host) {
            if let Some(c) = mode.strip_prefix("container:") {
                add(c);
            }
        }
    }
    for (name, endpoint) in endpoints(plan) {
        if let Some(c) = name.strip_prefix("container:") {
            add(c);
        }
        for l in endpoint.links.iter().flatten() {
            add(link_name(l));
        }
    }
    out
}

/// `name[:ro|rw]`.
fn volumes_from_name(v: &str) -> &str {
    v.split(':').next().unwrap_or(v)
}

/// `name[:alias]`.
fn link_name(l: &str) -> &str {
    l.split(':').next().unwrap_or(l)
}

fn namespace_modes(host: &HostConfig) -> [(&'static str, &str); 5] {
    fn mode(m: &Option<String>) -> &str {
        m.as_deref().unwrap_or("")
    }
    [
        ("--network", mode(&host.network_mode)),
        ("--pid", mode(&host.pid_mode)),
        ("--ipc", mode(&host.ipc_mode)),
        ("--uts", mode(&host.uts_mode)),
        ("--userns", mode(&host.userns_mode)),
    ]
}

/// The networks of the request, sorted so the first denial is always the same one.
fn endpoints(plan: &Plan) -> BTreeMap<&str, &berth_shared::models::EndpointSettings> {
    plan.body
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.as_ref())
        .map(|e| e.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .unwrap_or_default()
}

fn owned(rules: &Rules, ctx: &Facts, name: &str) -> bool {
    rules.allow_foreign_containers || ctx.own_containers.contains(name)
}

pub(super) fn containers(rules: &Rules, ctx: &Facts, host: &HostConfig, plan: &Plan) -> Check {
    for v in host.volumes_from.iter().flatten() {
        let name = volumes_from_name(v);
        if !owned(rules, ctx, name) {
            deny(
                "volumes-from",
                format!("--volumes-from {v}: the container {name} is not one of yours"),
            )?;
        }
    }
    let per_network = endpoints(plan)
        .into_values()
        .flat_map(|e| e.links.iter().flatten());
    for l in host.links.iter().flatten().chain(per_network) {
        let name = link_name(l);
        if !owned(rules, ctx, name) {
            deny(
                "links",
                format!("--link {l}: the container {name} is not one of yours"),
            )?;
        }
    }
    Ok(())
}

/// `container:X` for a container the requester does not own.
fn foreign_namespace(rules: &Rules, ctx: &Facts, flag: &str, mode: &str) -> Check {
    match mode.strip_prefix("container:") {
        Some(name) if !owned(rules, ctx, name) => deny(
            "container-namespace",
            format!(
                "{flag} {mode} joins the namespaces of {name}, which is not one of your containers"
            ),
        ),
        _ => Ok(()),
    }
}

fn host_namespace(rules: &Rules, flag: &str, mode: &str) -> Check {
    if rules.allow_host_namespaces {
        return Ok(());
    }
    deny(
        "host-namespace",
        format!("{flag} {mode} shares a namespace with the host, which is not allowed"),
    )
}

pub(super) fn namespaces(rules: &Rules, ctx: &Facts, host: &HostConfig) -> Check {
    for (flag, mode) in namespace_modes(host) {
        if mode == "host" {
            host_namespace(rules, flag, mode)?;
            continue;
        }
        if mode.starts_with("container:") {
            foreign_namespace(rules, ctx, flag, mode)?;
            continue;
        }
        // The private modes; anything else is unknown here, so refused. Network names are
        // the `networks` rule's.
        let private = match flag {
            "--network" => true,
            "--ipc" => matches!(mode, "" | "none" | "private" | "shareable"),
            _ => mode.is_empty(),
        };
        if !private {
            host_namespace(rules, flag, mode)?;
        }
    }
    if host.cgroupns_mode == Some(HostConfigCgroupnsModeEnum::HOST) {
        host_namespace(rules, "--cgroupns", "host")?;
    }
    // `Cgroup` (no CLI flag) joins another container's cgroup.
    if let Some(c) = host.cgroup.as_deref().filter(|c| !c.is_empty()) {
        host_namespace(rules, "HostConfig.Cgroup", c)?;
    }
    if let Some(p) = host.cgroup_parent.as_deref().filter(|p| !p.is_empty())
        && !rules.allow_cgroup_parent
    {
        deny(
            "cgroup-parent",
            format!(
                "--cgroup-parent {p} places the container outside Berth's cgroup, beyond its resource limits"
            ),
        )?;
    }
    Ok(())
}

/// The network mode and every network of the request (`--network a --network b` attaches
/// both): host and other containers' namespaces, then the allowlist of network names.
pub(super) fn networks(rules: &Rules, ctx: &Facts, host: &HostConfig, plan: &Plan) -> Check {
    // No mode is the daemon's default network.
    let mode = host
        .network_mode
        .as_deref()
        .filter(|m| !m.is_empty())
        .unwrap_or("default");
    let endpoints = endpoints(plan);
    let names = std::iter::once(mode).chain(endpoints.keys().copied());
    for name in names {
        if name == "host" {
            host_namespace(rules, "--network", name)?;
        } else if name.starts_with("container:") {
            foreign_namespace(rules, ctx, "--network", name)?;
        } else if !rules.networks.iter().any(|p| glob(p, name, false)) {
            deny(
                "networks",
                format!("--network {name}: the network {name} is not allowed"),
            )?;
        }
    }
    for (name, endpoint) in endpoints {
        // Driver options reach the network driver, e.g. the bridge driver's
        // `com.docker.network.endpoint.sysctls`, which sets sysctls past the `sysctls` rule.
        if endpoint.driver_opts.as_ref().is_some_and(|o| !o.is_empty())
            && !rules.allow_network_driver_opts
        {
            deny(
                "networks",
                format!(
                    "--network name={name},driver-opt=…: network driver options are not allowed"
                ),
            )?;
        }
    }
    Ok(())
}
