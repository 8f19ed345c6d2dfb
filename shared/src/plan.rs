//! A [`RunSpec`] turned into what the gateway sends to the engine: the create request body and
//! the client-side run options (`runContainer`'s inputs). All validation happens here, before
//! anything is created, so a bad request leaves nothing behind.

use std::collections::{BTreeSet, HashMap};

use bollard_stubs::models::{
    ContainerCreateBody, HealthConfig, HostConfig, HostConfigLogConfig, NetworkingConfig,
    RestartPolicy,
};

use crate::argv::flag_display;
use crate::reference::{ImageSpec, ReferenceError};
use crate::spec::RunSpec;
use crate::{mounts, network, ports, resources, units};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("invalid pull option: '{0}': must be one of \"always\", \"missing\" or \"never\"")]
    PullPolicy(String),
    #[error("conflicting options: cannot specify both --attach and --detach")]
    AttachAndDetach,
    #[error(
        "invalid argument \"{0}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"
    )]
    AttachStream(String),
    #[error(
        "-e {0}: a variable without a value is taken from the docker CLI's own environment, which a browser request does not have; write {0}=VALUE"
    )]
    EnvWithoutValue(String),
    #[error("invalid environment variable: {0}")]
    EnvEmptyName(String),
    #[error("invalid detach keys ({0}): {1}")]
    DetachKeys(String, String),
    /// A value the flag's grammar rejects, worded as pflag does.
    #[error("invalid argument \"{value}\" for \"{flag}\" flag: {reason}")]
    InvalidArgument {
        value: String,
        flag: String,
        reason: String,
    },
    /// Any other check of the docker CLI, with its message.
    #[error("{0}")]
    Invalid(String),
    /// Something Berth deliberately does not do (it would touch the gateway host).
    #[error("{0}")]
    Refused(String),
    /// A feature the daemon's API version is too old for, worded as the CLI words it.
    #[error("{0}")]
    ApiVersion(String),
}

impl PlanError {
    /// `invalid argument "<value>" for "<flag>" flag: <reason>` for the flag `--<long>`.
    fn argument(long: &str, value: &str, reason: String) -> PlanError {
        PlanError::InvalidArgument {
            value: value.to_string(),
            flag: flag_display(long),
            reason,
        }
    }
}

impl From<String> for PlanError {
    fn from(message: String) -> Self {
        PlanError::Invalid(message)
    }
}

/// `--pull`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    #[default]
    Missing,
    Always,
    Never,
}

/// Everything the run sequence needs, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub image: ImageSpec,
    /// `?name=` of the create call.
    pub name: Option<String>,
    /// `?platform=` of the create and pull calls.
    pub platform: Option<String>,
    pub body: ContainerCreateBody,
    pub detach: bool,
    pub pull: PullPolicy,
    pub detach_keys: Option<String>,
    pub sig_proxy: bool,
    /// `--kernel-memory` in bytes: the v28 CLI still sends `HostConfig.KernelMemory` to a
    /// daemon whose API is 1.40 or 1.41 (the field was deprecated in 1.42 and is not in the
    /// models), so [`Plan::create_json`] adds it for those versions only.
    pub kernel_memory: Option<i64>,
    /// What the CLI refuses when the daemon's API is older: see [`Plan::check_api_version`].
    pub requires: Vec<ApiRequirement>,
}

/// A feature that needs a minimum Engine API version, as the docker CLI checks it: flags
/// annotated with a version (`"--annotation"`), and the client library's own checks
/// (`"specify mac-address per network"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRequirement {
    /// Quoted in the message: `--annotation`, or the client's feature description.
    pub feature: &'static str,
    pub version: &'static str,
    /// A flag check (cobra, before anything else), or a check of the client library at create.
    pub flag: bool,
}

/// "1.41" as (1, 41); unparsable versions compare lowest.
fn api_version_key(v: &str) -> (u32, u32) {
    v.trim()
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .unwrap_or((0, 0))
}

impl Plan {
    /// The docker CLI's refusals of features the negotiated API `version` is too old for:
    /// first every flag check (one line each, in flag order), then the client's own checks.
    /// The message is the CLI's: `"--annotation" requires API version 1.43, but the Docker
    /// daemon API version is 1.41`.
    pub fn check_api_version(&self, version: &str) -> Result<(), PlanError> {
        let too_new = |r: &&ApiRequirement| api_version_key(version) < api_version_key(r.version);
        let message = |r: &ApiRequirement| {
            format!(
                "\"{}\" requires API version {}, but the Docker daemon API version is {version}",
                r.feature, r.version
            )
        };
        for flags in [true, false] {
            let lines: Vec<String> = self
                .requires
                .iter()
                .filter(|r| r.flag == flags)
                .filter(too_new)
                .map(message)
                .collect();
            if !lines.is_empty() {
                return Err(PlanError::ApiVersion(lines.join("\n")));
            }
        }
        Ok(())
    }

    /// The JSON body of `POST /containers/create` for the negotiated API `version`, as the
    /// v28 CLI sends it: refused when [`Plan::check_api_version`] refuses, and with
    /// `HostConfig.KernelMemory` for API 1.40 and 1.41.
    pub fn create_json(&self, version: &str) -> Result<serde_json::Value, PlanError> {
        self.check_api_version(version)?;
        let mut body = serde_json::to_value(&self.body).expect("the create body serializes");
        let key = api_version_key(version);
        if let Some(kernel_memory) = self.kernel_memory
            && ((1, 40)..(1, 42)).contains(&key)
            && let Some(host) = body.get_mut("HostConfig").and_then(|h| h.as_object_mut())
        {
            host.insert("KernelMemory".into(), kernel_memory.into());
        }
        Ok(body)
    }

    pub fn tty(&self) -> bool {
        self.body.tty.unwrap_or(false)
    }
    pub fn attach_stdin(&self) -> bool {
        self.body.attach_stdin.unwrap_or(false)
    }
    pub fn attach_stdout(&self) -> bool {
        self.body.attach_stdout.unwrap_or(false)
    }
    pub fn attach_stderr(&self) -> bool {
        self.body.attach_stderr.unwrap_or(false)
    }
    pub fn auto_remove(&self) -> bool {
        self.body
            .host_config
            .as_ref()
            .and_then(|h| h.auto_remove)
            .unwrap_or(false)
    }
    /// Adds a label (Berth's own `io.berth.*` ones).
    pub fn add_label(&mut self, key: &str, value: &str) {
        self.body
            .labels
            .get_or_insert_with(HashMap::new)
            .insert(key.to_string(), value.to_string());
    }
}

fn pull_policy(value: Option<&str>) -> Result<PullPolicy, PlanError> {
    match value {
        None | Some("missing") => Ok(PullPolicy::Missing),
        Some("always") => Ok(PullPolicy::Always),
        Some("never") => Ok(PullPolicy::Never),
        Some(other) => Err(PlanError::PullPolicy(other.to_string())),
    }
}

/// `term.ToBytes` as the CLI uses it for `--detach-keys`: comma-separated single characters
/// or `ctrl-<key>`.
pub fn detach_key_bytes(keys: &str) -> Result<Vec<u8>, PlanError> {
    let bad =
        |k: &str| PlanError::DetachKeys(keys.to_string(), format!("Unknown character: '{k}'"));
    let mut out = Vec::new();
    for key in keys.split(',') {
        let norm = key.trim().to_ascii_uppercase();
        if norm.len() == 1 {
            out.push(key.trim().as_bytes()[0]);
        } else if let Some(c) = norm.strip_prefix("CTRL-") {
            match c.as_bytes() {
                [b @ (b'@' | b'A'..=b'Z' | b'[' | b'\\' | b']' | b'^' | b'_')] => {
                    out.push(b - b'@')
                }
                _ => return Err(bad(key)),
            }
        } else {
            return Err(bad(key));
        }
    }
    Ok(out)
}

/// Checks a flag's value with `check`, as pflag does when the flag is set.
fn arg<T>(
    long: &str,
    value: &str,
    check: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, PlanError> {
    check(value).map_err(|reason| PlanError::argument(long, value, reason))
}

/// An optional flag value through `check`.
fn opt<T>(
    long: &str,
    value: &Option<String>,
    check: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, PlanError> {
    value.as_deref().map(|v| arg(long, v, check)).transpose()
}

/// Each value of a repeatable flag through `check`.
fn each<T>(
    long: &str,
    values: &[String],
    check: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, PlanError> {
    values.iter().map(|v| arg(long, v, &check)).collect()
}

fn int64(s: &str) -> Result<i64, String> {
    units::parse_int(s, 64)
}

fn some_if<T>(cond: bool, value: T) -> Option<T> {
    cond.then_some(value)
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn non_empty_map(m: HashMap<String, String>) -> Option<HashMap<String, String>> {
    (!m.is_empty()).then_some(m)
}

fn enum_value<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

/// `-l` (`opts.ValidateLabel`).
fn label(value: &str) -> Result<(), String> {
    let key = value.split_once('=').map_or(value, |(k, _)| k);
    let key = key.trim_start_matches([' ', '\t']);
    if key.is_empty() {
        return Err(format!("invalid label '{value}': empty name"));
    }
    if key.contains([' ', '\t']) {
        return Err(format!("label '{key}' contains whitespaces"));
    }
    Ok(())
}

/// `--restart` (`opts.ParseRestartPolicy`); the names the daemon knows.
fn restart_policy(policy: Option<&str>) -> Result<RestartPolicy, PlanError> {
    let policy = policy.unwrap_or("no");
    let (name, count) = policy.split_once(':').unwrap_or((policy, ""));
    if policy.contains(':') && name.is_empty() {
        return Err(PlanError::Invalid(
            "invalid restart policy format: no policy provided before colon".into(),
        ));
    }
    let count: i64 = if count.is_empty() {
        0
    } else {
        count.parse::<i32>().map(i64::from).map_err(|_| {
            PlanError::Invalid(
                "invalid restart policy format: maximum retry count must be an integer".into(),
            )
        })?
    };
    // The CLI passes any name through and the daemon rejects it; the models only hold
    // the names the daemon knows, so the daemon's message is given here.
    let name = enum_value(name).ok_or_else(|| {
        PlanError::Invalid(format!(
            "invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        ))
    })?;
    Ok(RestartPolicy {
        name: Some(name),
        maximum_retry_count: Some(count),
    })
}

/// `client.normalizeCapabilities`: upper-case, `CAP_` prefix (except `ALL`), deduped, sorted.
fn capabilities(caps: &[String]) -> Option<Vec<String>> {
    let set: BTreeSet<String> = caps
        .iter()
        .map(|c| {
            let c = c.to_uppercase();
            if c == "ALL" || c.starts_with("CAP_") {
                c
            } else {
                format!("CAP_{c}")
            }
        })
        .collect();
    non_empty(set.into_iter().collect())
}

/// `--security-opt` (`parseSecurityOpts` and `parseSystemPaths`): the options to send, and
/// whether `systempaths=unconfined` asked for empty MaskedPaths/ReadonlyPaths.
fn security_opts(values: &[String]) -> Result<(Option<Vec<String>>, bool), PlanError> {
    let mut unconfined_paths = false;
    let mut out = Vec::new();
    for opt in values {
        let (k, v) = match opt.split_once('=') {
            Some(kv) => Some(kv),
            None if opt != "no-new-privileges" => opt.split_once(':'),
            None => None,
        }
        .unwrap_or((opt, ""));
        if v.is_empty() && k != "no-new-privileges" {
            return Err(PlanError::Invalid(format!(
                "invalid --security-opt: {}",
                units::go_quote(opt)
            )));
        }
        if k == "seccomp" && v != "builtin" && v != "unconfined" {
            return Err(PlanError::Refused(format!(
                "--security-opt {opt}: the docker CLI reads a seccomp profile file on its own host, which Berth never does; use seccomp=unconfined or seccomp=builtin"
            )));
        }
        if opt == "systempaths=unconfined" {
            unconfined_paths = true;
        } else {
            out.push(opt.clone());
        }
    }
    Ok((some_if(!values.is_empty(), out), unconfined_paths))
}

/// `--pid`, `--uts`, `--userns`, `--cgroupns`: the modes the CLI accepts.
fn namespaces(spec: &RunSpec) -> Result<(), PlanError> {
    let valid_container = |m: &str| {
        m.strip_prefix("container:")
            .is_some_and(|id| !id.is_empty())
    };
    let checks = [
        (
            &spec.pid,
            "--pid: invalid PID mode",
            &(|m: &str| m == "host" || valid_container(m)) as &dyn Fn(&str) -> bool,
        ),
        (&spec.uts, "--uts: invalid UTS mode", &|m: &str| m == "host"),
        (&spec.userns, "--userns: invalid USER mode", &|m: &str| {
            m == "host"
        }),
        (
            &spec.cgroupns,
            "--cgroupns: invalid CGROUP mode",
            &|m: &str| m == "host" || m == "private",
        ),
    ];
    for (value, message, valid) in checks {
        if let Some(m) = value.as_deref().filter(|m| !m.is_empty())
            && !valid(m)
        {
            return Err(PlanError::Invalid(message.to_string()));
        }
    }
    Ok(())
}

/// `--health-*` and `--no-healthcheck`.
fn healthcheck(spec: &RunSpec) -> Result<Option<HealthConfig>, PlanError> {
    let duration = |long: &str, v: &Option<String>| {
        Ok::<_, PlanError>(opt(long, v, units::parse_duration)?.unwrap_or(0))
    };
    let interval = duration("health-interval", &spec.health_interval)?;
    let timeout = duration("health-timeout", &spec.health_timeout)?;
    let start_period = duration("health-start-period", &spec.health_start_period)?;
    let start_interval = duration("health-start-interval", &spec.health_start_interval)?;
    let retries = opt("health-retries", &spec.health_retries, int64)?.unwrap_or(0);
    let cmd = spec.health_cmd.as_deref().unwrap_or("");
    let any = !cmd.is_empty()
        || interval != 0
        || timeout != 0
        || start_period != 0
        || retries != 0
        || start_interval != 0;
    if spec.no_healthcheck {
        if any {
            return Err(PlanError::Invalid(
                "--no-healthcheck conflicts with --health-* options".into(),
            ));
        }
        return Ok(Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        }));
    }
    if !any {
        return Ok(None);
    }
    for (value, name) in [
        (interval, "--health-interval"),
        (timeout, "--health-timeout"),
        (retries, "--health-retries"),
        (start_period, "--health-start-period"),
        (start_interval, "--health-start-interval"),
    ] {
        if value < 0 {
            return Err(PlanError::Invalid(format!("{name} cannot be negative")));
        }
    }
    Ok(Some(HealthConfig {
        test: some_if(
            !cmd.is_empty(),
            vec!["CMD-SHELL".to_string(), cmd.to_string()],
        ),
        interval: some_if(interval != 0, interval),
        timeout: some_if(timeout != 0, timeout),
        retries: some_if(retries != 0, retries),
        start_period: some_if(start_period != 0, start_period),
        start_interval: some_if(start_interval != 0, start_interval),
    }))
}

/// Validates `spec` and builds the create request the docker CLI (v28) would send for it.
///
/// HostConfig fields that the CLI always sends as an empty list or map, or as a pointer
/// (`Dns: []`, `PortBindings: {}`, `MemorySwappiness: -1`, `PidsLimit: 0`, …) are always set,
/// because the daemon keeps them as given and `docker inspect` shows the difference; plain
/// zero values (`""`, `0`, `false`) are left out, which the daemon reads the same way.
pub fn build(spec: &RunSpec) -> Result<Plan, PlanError> {
    let image = ImageSpec::parse(&spec.image)?;
    let pull = pull_policy(spec.pull.as_deref())?;
    if let Some(keys) = &spec.detach_keys {
        detach_key_bytes(keys)?;
    }

    let (mut attach_stdin, mut attach_stdout, mut attach_stderr) = (false, false, false);
    for stream in &spec.attach {
        match stream.to_ascii_lowercase().as_str() {
            "stdin" => attach_stdin = true,
            "stdout" => attach_stdout = true,
            "stderr" => attach_stderr = true,
            _ => return Err(PlanError::AttachStream(stream.clone())),
        }
    }
    if spec.attach.is_empty() {
        attach_stdout = true;
        attach_stderr = true;
    }
    if spec.interactive {
        attach_stdin = true;
    }
    if spec.detach {
        if !spec.attach.is_empty() {
            return Err(PlanError::AttachAndDetach);
        }
        (attach_stdin, attach_stdout, attach_stderr) = (false, false, false);
    }

    // The v28 CLI merges the variables into a map (for its proxy settings), so a repeated
    // name keeps its last value, once; the order it sends is the map's (random), here the
    // order of first appearance.
    let mut env: Vec<(&str, &str)> = Vec::new();
    for e in &spec.env {
        match e.split_once('=') {
            Some(("", _)) => return Err(PlanError::EnvEmptyName(e.clone())),
            Some((k, _)) => match env.iter_mut().find(|(name, _)| *name == k) {
                Some(slot) => slot.1 = e,
                None => env.push((k, e)),
            },
            None => return Err(PlanError::EnvWithoutValue(e.clone())),
        }
    }
    let env: Vec<String> = env.into_iter().map(|(_, e)| e.to_string()).collect();
    each("label", &spec.label, label)?;
    let labels = resources::kv_map(&spec.label);

    // Values checked as pflag checks them while parsing.
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
    let mut device_requests = each("gpus", &spec.gpus, resources::gpus)?;
    let mount_list = each("mount", &spec.mount, mounts::mount)?;

    // The checks of the CLI's `parse`, in its order.
    if let Some(mac) = &spec.mac_address
        && !network::valid_mac(mac.trim())
    {
        return Err(PlanError::Invalid(format!(
            "{mac} is not a valid mac address"
        )));
    }
    if swappiness != -1 && !(0..=100).contains(&swappiness) {
        return Err(PlanError::Invalid(format!(
            "invalid value: {swappiness}. Valid memory swappiness range is 0-100"
        )));
    }
    let volumes = mounts::volumes(&spec.volume)?;
    let tmpfs = mounts::tmpfs(&spec.tmpfs);
    let ports = ports::parse(&spec.publish, &spec.expose)?;
    let (devices, cdi_devices) = mounts::devices(&spec.device)?;
    namespaces(spec)?;
    let restart = restart_policy(spec.restart.as_deref())?;
    let log_opts = resources::kv_map(&spec.log_opt);
    if spec.log_driver.as_deref() == Some("none") && !spec.log_opt.is_empty() {
        return Err(PlanError::Invalid(
            "invalid logging opts for driver none".into(),
        ));
    }
    let (security_opt, unconfined_paths) = security_opts(&spec.security_opt)?;
    let mut storage_opt = HashMap::new();
    for o in &spec.storage_opt {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| PlanError::Invalid("invalid storage option".into()))?;
        storage_opt.insert(k.to_string(), v.to_string());
    }
    let healthcheck = healthcheck(spec)?;
    if !cdi_devices.is_empty() {
        device_requests.push(bollard_stubs::models::DeviceRequest {
            driver: Some("cdi".into()),
            count: Some(0),
            device_ids: Some(cdi_devices),
            ..Default::default()
        });
    }
    let restart_is_none = matches!(
        restart.name.map(|n| n.to_string()).as_deref(),
        Some("no" | "")
    );
    if spec.rm && !restart_is_none {
        return Err(PlanError::Invalid(
            "conflicting options: cannot specify both --restart and --rm".into(),
        ));
    }
    // The CLI passes any value through; a Linux daemon accepts only `default` (or none) and
    // answers anything else with this message (and a 500 status, hence the check here).
    let isolation = match spec.isolation.as_deref().filter(|i| !i.is_empty()) {
        None => None,
        Some("default") => enum_value("default"),
        Some(i) => {
            return Err(PlanError::Invalid(format!(
                "Invalid isolation: \"{i}\" - linux only supports 'default'"
            )));
        }
    };
    let (network_mode, endpoints) = network::networking(
        &spec.network,
        &network::Legacy {
            aliases: &spec.network_alias,
            links: &spec.link,
            ip: spec.ip.as_deref(),
            ip6: spec.ip6.as_deref(),
            mac_address: spec.mac_address.as_deref(),
            link_local_ips: &spec.link_local_ip,
        },
    )?;

    // Version checks of the v28 CLI: flags annotated with a minimum API version (checked when
    // the flag is given at all, whatever its value), then the client library's checks.
    let mut requires = Vec::new();
    for (given, feature, version) in [
        (!spec.annotation.is_empty(), "--annotation", "1.43"),
        (spec.cgroupns.is_some(), "--cgroupns", "1.41"),
        (!spec.gpus.is_empty(), "--gpus", "1.40"),
        (
            spec.health_start_interval.is_some(),
            "--health-start-interval",
            "1.44",
        ),
    ] {
        if given {
            requires.push(ApiRequirement {
                feature,
                version,
                flag: true,
            });
        }
    }
    if endpoints
        .values()
        .any(|e| e.mac_address.as_deref().is_some_and(|m| !m.is_empty()))
    {
        requires.push(ApiRequirement {
            feature: "specify mac-address per network",
            version: "1.44",
            flag: false,
        });
    }

    let host_config = HostConfig {
        binds: non_empty(volumes.binds),
        log_config: Some(HostConfigLogConfig {
            typ: Some(spec.log_driver.clone().unwrap_or_default()),
            config: Some(log_opts),
        }),
        network_mode: Some(network_mode),
        port_bindings: Some(
            ports
                .bindings
                .into_iter()
                .map(|(k, v)| (k, Some(v)))
                .collect(),
        ),
        restart_policy: Some(restart),
        auto_remove: Some(spec.rm),
        volume_driver: spec.volume_driver.clone(),
        volumes_from: non_empty(spec.volumes_from.clone()),
        mounts: non_empty(mount_list),
        annotations: non_empty_map(resources::kv_map(&spec.annotation)),
        cap_add: capabilities(&spec.cap_add),
        cap_drop: capabilities(&spec.cap_drop),
        cgroupns_mode: spec
            .cgroupns
            .as_deref()
            .filter(|m| !m.is_empty())
            .and_then(enum_value),
        dns: Some(dns),
        dns_options: Some(spec.dns_option.clone()),
        dns_search: Some(dns_search),
        extra_hosts: non_empty(extra_hosts),
        group_add: non_empty(spec.group_add.clone()),
        ipc_mode: spec.ipc.clone(),
        links: non_empty(spec.link.clone()),
        oom_score_adj,
        pid_mode: spec.pid.clone(),
        privileged: some_if(spec.privileged, true),
        publish_all_ports: some_if(spec.publish_all, true),
        readonly_rootfs: some_if(spec.read_only, true),
        security_opt,
        storage_opt: non_empty_map(storage_opt),
        tmpfs: non_empty_map(tmpfs),
        uts_mode: spec.uts.clone(),
        userns_mode: spec.userns.clone(),
        shm_size,
        sysctls: non_empty_map(resources::kv_map(&spec.sysctl)),
        runtime: spec.runtime.clone(),
        isolation,
        masked_paths: some_if(unconfined_paths, Vec::new()),
        readonly_paths: some_if(unconfined_paths, Vec::new()),
        init: spec.init,
        // Resources.
        cgroup_parent: spec.cgroup_parent.clone(),
        memory,
        memory_reservation,
        memory_swap,
        memory_swappiness: Some(swappiness),
        oom_kill_disable: Some(spec.oom_kill_disable),
        nano_cpus,
        cpu_shares,
        cpu_period,
        cpu_quota,
        cpu_realtime_period: cpu_rt_period,
        cpu_realtime_runtime: cpu_rt_runtime,
        cpuset_cpus: spec.cpuset_cpus.clone(),
        cpuset_mems: spec.cpuset_mems.clone(),
        pids_limit: Some(pids_limit),
        blkio_weight: blkio_weight.map(|w| w as u16),
        blkio_weight_device: Some(weight_devices),
        blkio_device_read_bps: Some(read_bps),
        blkio_device_write_bps: Some(write_bps),
        blkio_device_read_iops: Some(read_iops),
        blkio_device_write_iops: Some(write_iops),
        ulimits: Some(ulimits),
        device_cgroup_rules: non_empty(spec.device_cgroup_rule.clone()),
        devices: Some(devices),
        device_requests: non_empty(device_requests),
        ..Default::default()
    };
    let body = ContainerCreateBody {
        hostname: spec.hostname.clone(),
        domainname: spec.domainname.clone(),
        user: spec.user.clone(),
        attach_stdin: Some(attach_stdin),
        attach_stdout: Some(attach_stdout),
        attach_stderr: Some(attach_stderr),
        exposed_ports: non_empty(ports.exposed.into_iter().collect()),
        tty: Some(spec.tty),
        open_stdin: Some(spec.interactive),
        stdin_once: Some(spec.interactive && attach_stdin),
        env: non_empty(env),
        cmd: non_empty(spec.command.clone()),
        healthcheck,
        image: Some(spec.image.clone()),
        volumes: Some(volumes.volumes.into_iter().collect()),
        working_dir: spec.workdir.clone(),
        entrypoint: spec.entrypoint.as_ref().map(|e| vec![e.clone()]),
        labels: Some(labels),
        stop_signal: spec.stop_signal.clone(),
        stop_timeout,
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(endpoints),
        }),
        ..Default::default()
    };
    Ok(Plan {
        image,
        name: spec.name.clone(),
        platform: spec.platform.clone(),
        body,
        detach: spec.detach,
        pull,
        detach_keys: spec.detach_keys.clone(),
        sig_proxy: spec.sig_proxy,
        kernel_memory,
        requires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::argv::parse;

    fn plan(args: &[&str]) -> Result<Plan, String> {
        build(&parse(args).map_err(|e| e.to_string())?).map_err(|e| e.to_string())
    }

    #[test]
    fn attach_defaults_like_the_cli() {
        let streams = |p: Plan| (p.attach_stdin(), p.attach_stdout(), p.attach_stderr());
        assert_eq!(streams(plan(&["img"]).unwrap()), (false, true, true));
        assert_eq!(streams(plan(&["-i", "img"]).unwrap()), (true, true, true));
        assert_eq!(
            streams(plan(&["-a", "stdin", "img"]).unwrap()),
            (true, false, false)
        );
        assert_eq!(
            streams(plan(&["-a", "stdin", "-a", "stdout", "img"]).unwrap()),
            (true, true, false)
        );
        assert_eq!(
            streams(plan(&["-d", "-i", "img"]).unwrap()),
            (false, false, false)
        );
        assert_eq!(
            plan(&["-a", "invalid", "img"]).unwrap_err(),
            r#"invalid argument "invalid" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR"#
        );
        assert_eq!(
            plan(&["--attach", "stdin", "--detach", "img"]).unwrap_err(),
            "conflicting options: cannot specify both --attach and --detach"
        );
    }

    #[test]
    fn cli_fields() {
        let p = plan(&[
            "-it",
            "--rm",
            "--entrypoint=",
            "-e",
            "A=1",
            "-l",
            "k",
            "img",
            "x",
        ])
        .unwrap();
        assert_eq!(p.body.open_stdin, Some(true));
        assert_eq!(p.body.stdin_once, Some(true));
        assert_eq!(p.body.entrypoint, Some(vec![String::new()]));
        assert_eq!(p.body.cmd, Some(vec!["x".to_string()]));
        assert!(p.auto_remove());
        assert_eq!(p.body.labels.unwrap()["k"], "");
    }

    #[test]
    fn validation_errors() {
        assert_eq!(
            plan(&["--pull", "busybox:latest", "img"]).unwrap_err(),
            r#"invalid pull option: 'busybox:latest': must be one of "always", "missing" or "never""#
        );
        assert!(
            plan(&["-e", "HOME", "img"])
                .unwrap_err()
                .starts_with("-e HOME: a variable without a value")
        );
        assert_eq!(
            plan(&["--detach-keys", "shift-a", "img"]).unwrap_err(),
            "invalid detach keys (shift-a): Unknown character: 'shift-a'"
        );
        assert_eq!(detach_key_bytes("ctrl-p,ctrl-q").unwrap(), [16, 17]);
        assert_eq!(
            plan(&["Upper"]).unwrap_err(),
            "invalid reference format: repository name (library/Upper) must be lowercase"
        );
    }

    fn host(args: &[&str]) -> serde_json::Value {
        let p = plan(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        serde_json::to_value(p.body.host_config.unwrap()).unwrap()
    }
    fn body(args: &[&str]) -> serde_json::Value {
        serde_json::to_value(plan(args).unwrap_or_else(|e| panic!("{args:?}: {e}")).body).unwrap()
    }
    use serde_json::json;

    #[test]
    fn defaults_the_cli_always_sends() {
        let b = body(&["img"]);
        assert_eq!(b["Labels"], json!({}));
        assert_eq!(b["Volumes"], json!({}));
        assert_eq!(
            b["NetworkingConfig"],
            json!({"EndpointsConfig": {"default": {}}})
        );
        let h = &b["HostConfig"];
        assert_eq!(h["NetworkMode"], "default");
        assert_eq!(
            h["RestartPolicy"],
            json!({"Name": "no", "MaximumRetryCount": 0})
        );
        assert_eq!(h["LogConfig"], json!({"Type": "", "Config": {}}));
        assert_eq!(h["PidsLimit"], 0);
        assert_eq!(h["MemorySwappiness"], -1);
        assert_eq!(h["OomKillDisable"], false);
        assert_eq!(h["PortBindings"], json!({}));
        for list in [
            "Dns",
            "DnsOptions",
            "DnsSearch",
            "Devices",
            "Ulimits",
            "BlkioWeightDevice",
            "BlkioDeviceReadBps",
        ] {
            assert_eq!(h[list], json!([]), "{list}");
        }
        assert!(
            h.get("Init").is_none() && h.get("CapAdd").is_none() && h.get("SecurityOpt").is_none()
        );
    }

    #[test]
    fn resources() {
        let h = host(&[
            "-m",
            "1G",
            "--memory-swap=-1",
            "--memory-reservation",
            "512m",
            "--cpus",
            "1.5",
            "-c",
            "512",
            "--pids-limit",
            "100",
            "--shm-size",
            "128m",
            "--blkio-weight",
            "300",
            "--oom-kill-disable",
            "img",
        ]);
        assert_eq!(h["Memory"], 1073741824);
        assert_eq!(h["MemorySwap"], -1);
        assert_eq!(h["MemoryReservation"], 536870912);
        assert_eq!(h["NanoCpus"], 1_500_000_000i64);
        assert_eq!(h["CpuShares"], 512);
        assert_eq!(h["PidsLimit"], 100);
        assert_eq!(h["ShmSize"], 134217728);
        assert_eq!(h["BlkioWeight"], 300);
        assert_eq!(h["OomKillDisable"], true);
        assert_eq!(
            plan(&["--memory=invalid", "img"]).unwrap_err(),
            r#"invalid argument "invalid" for "-m, --memory" flag: invalid size: 'invalid'"#
        );
        assert_eq!(
            plan(&["-m", "lots", "img"]).unwrap_err(),
            r#"invalid argument "lots" for "-m, --memory" flag: invalid size: 'lots'"#
        );
        assert_eq!(
            plan(&["--shm-size=a128m", "img"]).unwrap_err(),
            r#"invalid argument "a128m" for "--shm-size" flag: strconv.ParseFloat: parsing "a128": invalid syntax"#
        );
        assert_eq!(
            plan(&["--cpu-shares", "x", "img"]).unwrap_err(),
            r#"invalid argument "x" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "x": invalid syntax"#
        );
        assert_eq!(
            plan(&["--memory-swappiness", "200", "img"]).unwrap_err(),
            "invalid value: 200. Valid memory swappiness range is 0-100"
        );
        assert_eq!(
            plan(&["--ulimit", "nofile", "img"]).unwrap_err(),
            r#"invalid argument "nofile" for "--ulimit" flag: invalid ulimit argument: nofile"#
        );
        assert_eq!(
            host(&["--ulimit", "nofile=1024:2048", "img"])["Ulimits"],
            json!([{"Name": "nofile", "Soft": 1024, "Hard": 2048}])
        );
        // --kernel-memory is accepted (and checked) but, as in the current CLI, not sent.
        assert!(
            host(&["--kernel-memory", "10m", "img"])
                .get("KernelMemory")
                .is_none()
        );
    }

    #[test]
    fn hostname_and_entrypoint() {
        let b = body(&[
            "--hostname=hostname.domainname",
            "--entrypoint=anything",
            "img",
        ]);
        assert_eq!(b["Hostname"], "hostname.domainname");
        assert!(b.get("Domainname").is_none());
        assert_eq!(b["Entrypoint"], json!(["anything"]));
    }

    #[test]
    fn volumes_and_devices() {
        let b = body(&["-v", "/tmp", "img"]);
        assert_eq!(b["Volumes"], json!({"/tmp": {}}));
        assert!(b["HostConfig"].get("Binds").is_none());
        let b = body(&["-v", "/hostTmp:/containerTmp:ro,Z", "-v", "/c2", "img"]);
        assert_eq!(
            b["HostConfig"]["Binds"],
            json!(["/hostTmp:/containerTmp:ro,Z"])
        );
        assert_eq!(b["Volumes"], json!({"/c2": {}}));
        assert!(
            plan(&["-v", "./x:/y", "img"])
                .unwrap_err()
                .contains("is relative")
        );
        let h = host(&["--device=/dev/snd", "--device=vendor.com/class=name", "img"]);
        assert_eq!(
            h["Devices"],
            json!([{"PathOnHost": "/dev/snd", "PathInContainer": "/dev/snd", "CgroupPermissions": "rwm"}])
        );
        assert_eq!(
            h["DeviceRequests"],
            json!([{"Driver": "cdi", "Count": 0, "DeviceIDs": ["vendor.com/class=name"]}])
        );
        assert_eq!(
            plan(&["--device", "./", "img"]).unwrap_err(),
            "./ is not an absolute path"
        );
        assert_eq!(
            plan(&["--device", "a:/b:ro", "img"]).unwrap_err(),
            "bad mode specified: ro"
        );
        assert_eq!(
            host(&["--tmpfs", "/run:rw,size=64m", "img"])["Tmpfs"],
            json!({"/run": "rw,size=64m"})
        );
    }

    #[test]
    fn ports_and_links() {
        let b = body(&["-p", "8080:80", "--expose", "81", "-P", "img"]);
        assert_eq!(b["ExposedPorts"], json!({"80/tcp": {}, "81/tcp": {}}));
        assert_eq!(
            b["HostConfig"]["PortBindings"],
            json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]})
        );
        assert_eq!(b["HostConfig"]["PublishAllPorts"], true);
        assert_eq!(
            plan(&["-p", "published=1500,target:444", "img"]).unwrap_err(),
            "invalid publish opts format (should be name=value but got 'target:444')"
        );
        let b = body(&["--link", "a:b", "img"]);
        assert_eq!(b["HostConfig"]["Links"], json!(["a:b"]));
        assert_eq!(
            b["NetworkingConfig"]["EndpointsConfig"],
            json!({"default": {}})
        );
        let b = body(&[
            "--network",
            "userdefnet",
            "--link",
            "a:b",
            "--network",
            "bar",
            "--link",
            "c:d",
            "img",
        ]);
        assert_eq!(b["HostConfig"]["NetworkMode"], "userdefnet");
        assert_eq!(
            b["NetworkingConfig"]["EndpointsConfig"],
            json!({"userdefnet": {"Links": ["a:b", "c:d"]}, "bar": {}})
        );
        assert_eq!(
            plan(&["--link", "a:b:c", "img"]).unwrap_err(),
            r#"invalid argument "a:b:c" for "--link" flag: bad format for links: a:b:c"#
        );
        assert_eq!(
            plan(&["--mac-address=invalidMacAddress", "img"]).unwrap_err(),
            "invalidMacAddress is not a valid mac address"
        );
        assert_eq!(
            body(&["--mac-address=92:d0:c6:0a:29:33", "img"])["NetworkingConfig"]["EndpointsConfig"],
            json!({"default": {"MacAddress": "92:d0:c6:0a:29:33"}})
        );
        assert_eq!(
            plan(&["--ip", "foo", "img"]).unwrap_err(),
            r#"invalid argument "foo" for "--ip" flag: invalid string being converted to IP address: foo"#
        );
        assert_eq!(
            plan(&[
                "--network",
                "name=net1,alias=web1",
                "--network-alias",
                "web1",
                "img"
            ])
            .unwrap_err(),
            "conflicting options: cannot specify both --network-alias and per-network alias"
        );
        let h = host(&[
            "--dns",
            "8.8.8.8",
            "--dns-search",
            "example.com",
            "--dns-option",
            "ndots:2",
            "--add-host",
            "b=::1",
            "img",
        ]);
        assert_eq!(
            (&h["Dns"], &h["DnsSearch"], &h["DnsOptions"]),
            (
                &json!(["8.8.8.8"]),
                &json!(["example.com"]),
                &json!(["ndots:2"])
            )
        );
        assert_eq!(h["ExtraHosts"], json!(["b:::1"]));
        assert_eq!(
            plan(&["--dns", "foo", "img"]).unwrap_err(),
            r#"invalid argument "foo" for "--dns" flag: IP address is not correctly formatted: foo"#
        );
    }

    #[test]
    fn namespaces_restart_health_logging() {
        assert_eq!(
            plan(&["--pid=container:", "img"]).unwrap_err(),
            "--pid: invalid PID mode"
        );
        assert_eq!(
            plan(&["--uts=container:", "img"]).unwrap_err(),
            "--uts: invalid UTS mode"
        );
        assert_eq!(
            plan(&["--userns=x", "img"]).unwrap_err(),
            "--userns: invalid USER mode"
        );
        assert_eq!(
            plan(&["--cgroupns=x", "img"]).unwrap_err(),
            "--cgroupns: invalid CGROUP mode"
        );
        assert_eq!(
            host(&["--pid=container:x", "--cgroupns", "host", "img"])["PidMode"],
            "container:x"
        );

        let restart = |r: &str| host(&["--restart", r, "img"])["RestartPolicy"].clone();
        assert_eq!(restart(""), json!({"Name": "", "MaximumRetryCount": 0}));
        assert_eq!(
            restart("on-failure:1"),
            json!({"Name": "on-failure", "MaximumRetryCount": 1})
        );
        assert_eq!(
            restart("unless-stopped"),
            json!({"Name": "unless-stopped", "MaximumRetryCount": 0})
        );
        assert_eq!(
            plan(&["--restart", ":1", "img"]).unwrap_err(),
            "invalid restart policy format: no policy provided before colon"
        );
        assert_eq!(
            plan(&["--restart", "always:2:3", "img"]).unwrap_err(),
            "invalid restart policy format: maximum retry count must be an integer"
        );
        assert!(
            plan(&["--restart", "anything:123", "img"])
                .unwrap_err()
                .starts_with("invalid restart policy: unknown policy 'anything'")
        );
        assert_eq!(
            plan(&["--rm", "--restart=always", "img"]).unwrap_err(),
            "conflicting options: cannot specify both --restart and --rm"
        );
        assert!(plan(&["--rm", "--restart=no", "img"]).is_ok());

        assert_eq!(
            body(&["--no-healthcheck", "img"])["Healthcheck"],
            json!({"Test": ["NONE"]})
        );
        assert_eq!(
            body(&[
                "--health-cmd=/check.sh -q",
                "--health-interval",
                "1m30s",
                "--health-retries",
                "3",
                "img"
            ])["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "/check.sh -q"], "Interval": 90_000_000_000i64, "Retries": 3})
        );
        assert_eq!(
            plan(&["--no-healthcheck", "--health-cmd=/check.sh -q", "img"]).unwrap_err(),
            "--no-healthcheck conflicts with --health-* options"
        );
        assert_eq!(
            plan(&["--health-timeout=-1s", "img"]).unwrap_err(),
            "--health-timeout cannot be negative"
        );
        assert_eq!(
            plan(&["--health-interval", "1d", "img"]).unwrap_err(),
            r#"invalid argument "1d" for "--health-interval" flag: time: unknown unit "d" in duration "1d""#
        );
        assert_eq!(
            plan(&["--log-driver=none", "--log-opt=anything", "img"]).unwrap_err(),
            "invalid logging opts for driver none"
        );
        assert_eq!(
            host(&["--log-driver=json-file", "--log-opt=max-size=10m", "img"])["LogConfig"],
            json!({"Type": "json-file", "Config": {"max-size": "10m"}})
        );
        let b = body(&[
            "--stop-signal",
            "SIGINT",
            "--stop-timeout",
            "5",
            "--init=false",
            "img",
        ]);
        assert_eq!(
            (
                &b["StopSignal"],
                &b["StopTimeout"],
                &b["HostConfig"]["Init"]
            ),
            (&json!("SIGINT"), &json!(5), &json!(false))
        );
    }

    #[test]
    fn security() {
        let h = host(&["--security-opt", "systempaths=unconfined", "img"]);
        assert_eq!(
            (&h["SecurityOpt"], &h["MaskedPaths"], &h["ReadonlyPaths"]),
            (&json!([]), &json!([]), &json!([]))
        );
        let h = host(&[
            "--security-opt",
            "no-new-privileges",
            "--security-opt",
            "seccomp=unconfined",
            "--security-opt",
            "label:disable",
            "img",
        ]);
        assert_eq!(
            h["SecurityOpt"],
            json!(["no-new-privileges", "seccomp=unconfined", "label:disable"])
        );
        assert!(h.get("MaskedPaths").is_none());
        assert_eq!(
            plan(&["--security-opt", "foo", "img"]).unwrap_err(),
            r#"invalid --security-opt: "foo""#
        );
        assert!(
            plan(&["--security-opt", "seccomp=/etc/profile.json", "img"])
                .unwrap_err()
                .contains("seccomp profile file")
        );
        let h = host(&[
            "--cap-add",
            "net_admin",
            "--cap-add",
            "CAP_NET_ADMIN",
            "--cap-add",
            "sys_time",
            "--cap-drop",
            "all",
            "img",
        ]);
        assert_eq!(h["CapAdd"], json!(["CAP_NET_ADMIN", "CAP_SYS_TIME"]));
        assert_eq!(h["CapDrop"], json!(["ALL"]));
        assert_eq!(
            plan(&["--sysctl", "kernel.foo=1", "img"]).unwrap_err(),
            r#"invalid argument "kernel.foo=1" for "--sysctl" flag: sysctl 'kernel.foo=1' is not allowed"#
        );
        assert_eq!(
            plan(&["--storage-opt", "foo", "img"]).unwrap_err(),
            "invalid storage option"
        );
        assert_eq!(
            plan(&["-l", "=x", "img"]).unwrap_err(),
            r#"invalid argument "=x" for "-l, --label" flag: invalid label '=x': empty name"#
        );
    }

    #[test]
    fn a_repeated_env_name_keeps_its_last_value_once() {
        assert_eq!(
            body(&["-e", "A=1", "-e", "B=2", "-e", "A=3", "-e", "C=", "img"])["Env"],
            json!(["A=3", "B=2", "C="])
        );
        assert_eq!(body(&["-e", "A=x=y", "img"])["Env"], json!(["A=x=y"]));
        assert!(body(&["img"]).get("Env").is_none());
    }

    #[test]
    fn isolation_is_checked_as_a_linux_daemon_does() {
        // The daemon answers these with a 500; Berth refuses them before create.
        assert_eq!(
            plan(&["--isolation", "hyperv", "img"]).unwrap_err(),
            r#"Invalid isolation: "hyperv" - linux only supports 'default'"#
        );
        assert_eq!(
            plan(&["--isolation=process", "img"]).unwrap_err(),
            r#"Invalid isolation: "process" - linux only supports 'default'"#
        );
        assert_eq!(
            host(&["--isolation", "default", "img"])["Isolation"],
            "default"
        );
        assert!(host(&["--isolation=", "img"]).get("Isolation").is_none());
    }

    #[test]
    fn api_version_checks_like_the_cli() {
        let p = plan(&[
            "--health-start-interval",
            "0s",
            "--annotation",
            "a=b",
            "--mac-address",
            "92:d0:c6:0a:29:33",
            "img",
        ])
        .unwrap();
        // Flag checks first, every one, in flag order; the value does not matter.
        assert_eq!(
            p.check_api_version("1.41").unwrap_err().to_string(),
            "\"--annotation\" requires API version 1.43, but the Docker daemon API version is 1.41\n\
             \"--health-start-interval\" requires API version 1.44, but the Docker daemon API version is 1.41"
        );
        assert_eq!(
            p.check_api_version("1.43").unwrap_err().to_string(),
            "\"--health-start-interval\" requires API version 1.44, but the Docker daemon API version is 1.43"
        );
        assert!(p.check_api_version("1.44").is_ok());
        assert!(p.check_api_version("1.53").is_ok());
        // Then the client's own check of a per-network MAC address.
        let mac = plan(&["--network", "name=n1,mac-address=92:d0:c6:0a:29:33", "img"]).unwrap();
        assert_eq!(
            mac.create_json("1.41").unwrap_err().to_string(),
            "\"specify mac-address per network\" requires API version 1.44, but the Docker daemon API version is 1.41"
        );
        assert!(mac.check_api_version("1.44").is_ok());
        assert_eq!(
            plan(&["--cgroupns", "host", "img"])
                .unwrap()
                .check_api_version("1.40")
                .unwrap_err()
                .to_string(),
            "\"--cgroupns\" requires API version 1.41, but the Docker daemon API version is 1.40"
        );
        assert!(plan(&["img"]).unwrap().requires.is_empty());
    }

    #[test]
    fn kernel_memory_is_sent_to_api_1_40_and_1_41_only() {
        let p = plan(&["--kernel-memory", "64m", "img"]).unwrap();
        assert_eq!(p.kernel_memory, Some(67108864));
        assert_eq!(
            p.create_json("1.41").unwrap()["HostConfig"]["KernelMemory"],
            67108864
        );
        assert_eq!(
            p.create_json("1.40").unwrap()["HostConfig"]["KernelMemory"],
            67108864
        );
        let newer = p.create_json("1.42").unwrap();
        assert!(newer["HostConfig"].get("KernelMemory").is_none());
        // Otherwise the JSON is the body as it is.
        assert_eq!(newer, serde_json::to_value(&p.body).unwrap());
        assert!(
            plan(&["img"]).unwrap().create_json("1.41").unwrap()["HostConfig"]
                .get("KernelMemory")
                .is_none()
        );
    }
}
