//! [`RolePolicy::check`](super::RolePolicy::check) for a role with rules: each function below
//! is one group of rules, in the order they run; the first denial wins.
//!
//! Every field is read from the create request, with the flag that sets it named in the
//! message. Values the policy does not recognise are refused rather than passed on (fail
//! closed): a request is either understood and allowed, or denied.

use std::collections::BTreeMap;

use berth_shared::models::{
    HostConfig, HostConfigCgroupnsModeEnum, Mount, MountBindOptionsPropagationEnum, MountType,
    RestartPolicyNameEnum,
};
use berth_shared::plan::Plan;
use berth_shared::reference::{ImageRef, ImageSpec};

use super::glob::glob;
use super::host_paths::{self, BindRequest};
use super::{Denial, Facts, Rules, normalize_capability};

type Check = Result<(), Denial>;

fn deny(rule: &'static str, message: impl Into<String>) -> Check {
    Err(Denial::new(rule, message))
}

const NANO: i64 = 1_000_000_000;
/// The CFS period the kernel (and the daemon) use when `--cpu-period` is not given, in µs.
const DEFAULT_CPU_PERIOD: i64 = 100_000;

pub fn check(rules: &Rules, plan: &Plan, ctx: &Facts) -> Result<Defaults, Denial> {
    let empty = HostConfig::default();
    let host = plan.body.host_config.as_ref().unwrap_or(&empty);
    image(rules, plan)?;
    labels(plan)?;
    if host.privileged == Some(true) && !rules.allow_privileged {
        deny(
            "privileged",
            "--privileged gives the container every capability and every host device",
        )?;
    }
    mounts(rules, ctx, host)?;
    containers(rules, ctx, host, plan)?;
    namespaces(rules, ctx, host)?;
    networks(rules, ctx, host, plan)?;
    capabilities(rules, host)?;
    devices(rules, host)?;
    security(rules, host)?;
    other(rules, host)?;
    host_stability(rules, host)?;
    resources(rules, host)
}

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

/// Labels under `io.berth.` are how Berth recognises its containers and their runs, so a
/// request may not set them: the caller adds its own after the check.
fn labels(plan: &Plan) -> Check {
    let labels: BTreeMap<_, _> = plan.body.labels.iter().flatten().collect();
    match labels
        .into_iter()
        .find(|(k, _)| k.starts_with(berth_shared::LABEL_PREFIX))
    {
        Some((k, v)) => deny(
            "labels",
            format!(
                "-l {k}={v}: labels starting with {} are reserved for Berth",
                berth_shared::LABEL_PREFIX
            ),
        ),
        None => Ok(()),
    }
}

fn image(rules: &Rules, plan: &Plan) -> Check {
    // The daemon creates from `Config.Image`; `plan.image` is what Berth parsed it to. They
    // agree for every plan `plan::build` makes; a plan altered afterwards is refused rather
    // than checked by the wrong name.
    let written = plan.body.image.as_deref().unwrap_or("");
    if ImageSpec::parse(written).ok().as_ref() != Some(&plan.image) {
        return deny(
            "image-allowlist",
            format!("the image {written:?} does not match the request's parsed image"),
        );
    }
    image_spec(rules, &plan.image, "image")
}

fn image_spec(rules: &Rules, spec: &ImageSpec, what: &str) -> Check {
    match spec {
        // An ID names local content: there is no name to hold against the allowlist.
        ImageSpec::Id(id) if !rules.allow_image_ids => deny(
            "image-id",
            format!("{what} {id} is an image ID; run images by a name the policy allows"),
        ),
        ImageSpec::Id(_) => Ok(()),
        ImageSpec::Named(r) => named_image(rules, r, what),
    }
}

fn named_image(rules: &Rules, r: &ImageRef, what: &str) -> Check {
    if !rules.images.iter().any(|p| p.matches(r)) {
        let allowed: Vec<&str> = rules.images.iter().map(|p| p.text.as_str()).collect();
        return deny(
            "image-allowlist",
            format!(
                "{what} {} is not in the allowed images ({})",
                r.familiar_string(),
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            ),
        );
    }
    if rules.require_digest
        && !r
            .digest
            .as_deref()
            .is_some_and(|d| d.starts_with("sha256:"))
    {
        return deny(
            "digest-required",
            format!(
                "{what} {} is not pinned by digest; write it as {}@sha256:<digest>",
                r.familiar_string(),
                r.familiar_name()
            ),
        );
    }
    Ok(())
}

/// The source of a `-v` bind or a volume mount: as for the daemon, an absolute path is a host
/// path and anything else names a volume (the volume driver validates the name). A volume that
/// already exists is mounted as it was created: its driver and driver options are checked as if
/// this request gave them (a local volume with `o=bind,device=/` is a host bind).
fn volume_source(rules: &Rules, ctx: &Facts, flag: &str, bind: BindRequest) -> Check {
    let name = bind.source;
    if name.starts_with('/') {
        return host_bind(rules, flag, bind);
    }
    if !rules.allow_named_volumes {
        return deny(
            "named-volume",
            format!(
                "{flag} uses the named volume {name}; named volumes are not allowed (anonymous volumes and --tmpfs are)"
            ),
        );
    }
    let Some(existing) = ctx.volumes.get(name) else {
        return Ok(());
    };
    if !existing.owned {
        return deny(
            "named-volume",
            format!(
                "{flag}: the volume {name} is not one of yours or your team's (only volumes Berth created for your or your team's runs may be mounted)"
            ),
        );
    }
    volume_driver(rules, flag, &existing.driver)?;
    if existing.has_options && !rules.allow_volume_options {
        return deny(
            "volume-options",
            format!(
                "{flag}: the volume {name} was created with driver options, which can mount a host path or device; volumes with options are not allowed"
            ),
        );
    }
    Ok(())
}

/// Names of the volumes a request mounts (`-v name:…`, `--mount type=volume,src=name`): the
/// caller looks each up in the engine for [`Context::volumes`].
pub fn referenced_volumes(plan: &Plan) -> Vec<String> {
    let Some(host) = &plan.body.host_config else {
        return Vec::new();
    };
    let binds = host
        .binds
        .iter()
        .flatten()
        .filter_map(|b| bind_source(b))
        .map(|(source, _)| source);
    let mounts = host
        .mounts
        .iter()
        .flatten()
        .filter(|m| m.typ == Some(MountType::VOLUME))
        .filter_map(|m| m.source.as_deref());
    let mut names: Vec<String> = binds
        .chain(mounts)
        .filter(|s| !s.is_empty() && !s.starts_with('/'))
        .map(String::from)
        .collect();
    names.sort();
    names.dedup();
    names
}

fn host_bind(rules: &Rules, flag: &str, bind: BindRequest) -> Check {
    if rules.allow_host_binds {
        return Ok(());
    }
    host_paths::allow(&rules.host_paths, &bind).or_else(|reason| {
        deny(
            "host-bind",
            format!("{flag} mounts the host path {}; {reason}", bind.source),
        )
    })
}

/// The source and mode of a `Binds` entry `SRC:DST[:MODE]`; `None` for a container path alone
/// (an anonymous volume).
fn bind_source(bind: &str) -> Option<(&str, &str)> {
    let mut parts = bind.split(':');
    let source = parts.next()?;
    parts.next()?;
    Some((source, parts.next().unwrap_or("")))
}

/// A `-v SRC:DST[:MODE]` bind as the host-path rules see it.
fn bind_request<'a>(source: &'a str, mode: &str) -> BindRequest<'a> {
    let options: Vec<&str> = mode.split(',').collect();
    let host_options = options.iter().find_map(|o| match *o {
        "z" | "Z" => Some(format!(
            "the mode {o} (SELinux relabelling of the host files)"
        )),
        "shared" | "rshared" | "slave" | "rslave" => Some(format!("the propagation {o}")),
        _ => None,
    });
    BindRequest {
        source,
        read_only: options.contains(&"ro"),
        host_options,
    }
}

/// A `--mount type=bind` as the host-path rules see it.
fn mount_bind_request(m: &Mount) -> BindRequest<'_> {
    let options = m.bind_options.as_ref();
    let propagation = options
        .and_then(|o| o.propagation)
        .filter(|p| {
            !matches!(
                p,
                MountBindOptionsPropagationEnum::EMPTY
                    | MountBindOptionsPropagationEnum::PRIVATE
                    | MountBindOptionsPropagationEnum::RPRIVATE
            )
        })
        .map(|p| format!("bind-propagation={p}"));
    let create = options
        .and_then(|o| o.create_mountpoint)
        .unwrap_or(false)
        .then(|| "bind-create-src (creating the host path)".to_string());
    let writable_submounts = options
        .and_then(|o| o.read_only_non_recursive)
        .unwrap_or(false)
        .then(|| "bind-recursive=writable".to_string());
    BindRequest {
        source: m.source.as_deref().unwrap_or(""),
        read_only: m.read_only == Some(true),
        host_options: propagation.or(create).or(writable_submounts),
    }
}

fn volume_driver(rules: &Rules, flag: &str, driver: &str) -> Check {
    if driver.is_empty() || driver == "local" || rules.volume_drivers.iter().any(|d| d == driver) {
        return Ok(());
    }
    deny(
        "volume-driver",
        format!("{flag} uses the volume driver {driver}, which is not allowed"),
    )
}

/// `--mount` as the user would have written it, for messages.
fn mount_flag(m: &Mount) -> String {
    let mut parts = vec![format!(
        "type={}",
        m.typ.map(|t| t.to_string()).unwrap_or_default()
    )];
    if let Some(s) = m.source.as_deref().filter(|s| !s.is_empty()) {
        parts.push(format!("source={s}"));
    }
    if let Some(t) = &m.target {
        parts.push(format!("target={t}"));
    }
    let driver = m
        .volume_options
        .as_ref()
        .and_then(|v| v.driver_config.as_ref());
    if let Some(name) = driver.and_then(|d| d.name.as_deref()) {
        parts.push(format!("volume-driver={name}"));
    }
    let opts: BTreeMap<_, _> = driver
        .and_then(|d| d.options.as_ref())
        .into_iter()
        .flatten()
        .collect();
    for (k, v) in opts {
        parts.push(format!("volume-opt={k}={v}"));
    }
    format!("--mount {}", parts.join(","))
}

/// `-v` (Binds), `--mount` (Mounts) and `--volume-driver`. Both flags can bind a host path,
/// and a volume with the local driver's options `type=none,o=bind,device=/` is a host bind
/// too: all three ways are checked here.
fn mounts(rules: &Rules, ctx: &Facts, host: &HostConfig) -> Check {
    volume_driver(
        rules,
        "--volume-driver",
        host.volume_driver.as_deref().unwrap_or(""),
    )?;
    for bind in host.binds.iter().flatten() {
        if let Some((source, mode)) = bind_source(bind) {
            volume_source(
                rules,
                ctx,
                &format!("-v {bind}"),
                bind_request(source, mode),
            )?;
        }
    }
    for m in host.mounts.iter().flatten() {
        let flag = mount_flag(m);
        let source = m.source.as_deref().unwrap_or("");
        match m.typ {
            Some(MountType::BIND) => host_bind(rules, &flag, mount_bind_request(m))?,
            // A Windows named pipe: never within a list of directories.
            Some(MountType::NPIPE) if !rules.allow_host_binds => deny(
                "host-bind",
                format!("{flag} mounts the host pipe {source}; host bind mounts are not allowed"),
            )?,
            Some(MountType::NPIPE) => {}
            Some(MountType::TMPFS) => {}
            Some(MountType::IMAGE) => {
                let spec = ImageSpec::parse(source)
                    .map_err(|e| Denial::new("image-allowlist", format!("{flag}: {e}")))?;
                image_spec(rules, &spec, &format!("{flag}: the image"))?;
            }
            Some(MountType::VOLUME) => {
                let driver = m
                    .volume_options
                    .as_ref()
                    .and_then(|v| v.driver_config.as_ref());
                volume_driver(
                    rules,
                    &flag,
                    driver.and_then(|d| d.name.as_deref()).unwrap_or(""),
                )?;
                let reserved = m
                    .volume_options
                    .as_ref()
                    .and_then(|v| v.labels.as_ref())
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k)
                    .find(|k| k.starts_with(berth_shared::LABEL_PREFIX));
                if let Some(k) = reserved {
                    deny(
                        "labels",
                        format!(
                            "{flag}: volume-label {k}: labels starting with {} are reserved for Berth",
                            berth_shared::LABEL_PREFIX
                        ),
                    )?;
                }
                let has_options = driver
                    .and_then(|d| d.options.as_ref())
                    .is_some_and(|o| !o.is_empty());
                if has_options && !rules.allow_volume_options {
                    deny(
                        "volume-options",
                        format!(
                            "{flag} passes options to the volume driver, which can mount a host path or device (type=none,o=bind,device=/); volume-opt is not allowed"
                        ),
                    )?;
                }
                if !source.is_empty() {
                    let bind = BindRequest {
                        source,
                        read_only: m.read_only == Some(true),
                        host_options: None,
                    };
                    volume_source(rules, ctx, &flag, bind)?;
                }
            }
            Some(MountType::CLUSTER) | None => deny(
                "mount-type",
                format!("{flag}: only bind, volume, tmpfs and image mounts are understood"),
            )?,
        }
    }
    Ok(())
}

fn owned(rules: &Rules, ctx: &Facts, name: &str) -> bool {
    rules.allow_foreign_containers || ctx.own_containers.contains(name)
}

fn containers(rules: &Rules, ctx: &Facts, host: &HostConfig, plan: &Plan) -> Check {
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

fn namespaces(rules: &Rules, ctx: &Facts, host: &HostConfig) -> Check {
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
fn networks(rules: &Rules, ctx: &Facts, host: &HostConfig, plan: &Plan) -> Check {
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

fn capabilities(rules: &Rules, host: &HostConfig) -> Check {
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

fn devices(rules: &Rules, host: &HostConfig) -> Check {
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

fn security(rules: &Rules, host: &HostConfig) -> Check {
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
fn other(rules: &Rules, host: &HostConfig) -> Check {
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
fn host_stability(rules: &Rules, host: &HostConfig) -> Check {
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
fn resources(rules: &Rules, host: &HostConfig) -> Result<Defaults, Denial> {
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
