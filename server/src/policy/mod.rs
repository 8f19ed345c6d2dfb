//! The run policy: what each role may ask the engine to create.
//!
//! Berth holds root-equivalent access to its host, so every non-admin request is checked
//! against per-role rules loaded from a TOML file (docs/POLICY.md documents the rules and the
//! schema; docs/policy.example.toml is an example). Admins are unrestricted; viewers may run
//! nothing; operators may run what the `[operator]` table allows, and nothing without it.
//!
//! The check runs on the final create request ([`Plan::body`]), never on argv text: the argv
//! and the structured JSON form both become that request, and several flags can reach the
//! same field (`-v` and `--mount`, `--gpus` and CDI `--device`), so only the request says
//! what the daemon will really do.

mod check;
mod glob;
mod host_paths;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use berth_shared::plan::Plan;
use berth_shared::units;
use berth_shared::wire::Role;
use serde::Deserialize;

pub use check::Defaults;
use glob::ImagePattern;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read the policy file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A TOML syntax error, an unknown key or a value of the wrong type.
    #[error("invalid policy file: {0}")]
    Toml(String),
    /// Well-formed TOML that makes no sense as a policy (a default above its maximum, …).
    #[error("invalid policy: {0}")]
    Invalid(String),
}

/// Why a request was refused: the rule and, in terms of the flags, what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("denied by policy rule `{rule}`: {message}")]
pub struct Denial {
    pub rule: &'static str,
    pub message: String,
}

impl Denial {
    fn new(rule: &'static str, message: impl Into<String>) -> Denial {
        Denial {
            rule,
            message: message.into(),
        }
    }
}

/// What the check needs to know that is not in the plan: who asks, and what the engine says
/// of the containers and volumes the plan names ([`RolePolicy::lookups`]).
pub struct Facts<'a> {
    pub role: Role,
    /// Containers (names or IDs as written in the plan) that the requester owns; used for
    /// --volumes-from, --link, --network container:X, --pid/--ipc container:X.
    pub own_containers: &'a HashSet<String>,
    /// The named volumes of the request that already exist (see
    /// [`RolePolicy::referenced_volumes`]); a volume not listed is created by the daemon with
    /// the request's own driver and options.
    pub volumes: &'a HashMap<String, ExistingVolume>,
}

/// A role that may run nothing at all (viewers; operators without an `[operator]` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("role {} may not run containers", .0.as_str())]
pub struct MayNotRun(pub Role);

/// The names [`RolePolicy::lookups`] asks the caller to look up.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Lookups {
    pub containers: Vec<String>,
    pub volumes: Vec<String>,
}

/// What the engine says of an existing named volume.
#[derive(Debug, Clone, Default)]
pub struct ExistingVolume {
    pub driver: String,
    /// Created with driver options (`--opt`), which can mount host paths or devices.
    pub has_options: bool,
    /// The requester may use it as theirs: Berth created it for a run of theirs or their
    /// team's checked under the rules in force (see `Principal::may_use`).
    pub owned: bool,
}

/// The rules of every role.
#[derive(Debug, Clone)]
pub struct Policy {
    admin: RolePolicy,
    operator: RolePolicy,
    viewer: RolePolicy,
    /// Visitors of public demo templates: their sessions' create bodies are checked against it,
    /// and without it no template can be public.
    guest: RolePolicy,
    /// `[team.NAME]`: the rules of that team's operators instead of `[operator]`'s.
    teams: HashMap<String, RolePolicy>,
    /// Identifies these rules (a digest of the file): on the containers and volumes of the
    /// runs checked under them, so that only those count as a requester's own.
    digest: Option<String>,
}

impl Policy {
    /// Parses a policy file. Unknown keys are errors, so a misspelt rule never silently
    /// leaves its default in place.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let file: PolicyFile =
            toml::from_str(text).map_err(|e| PolicyError::Toml(e.to_string()))?;
        let operator = match file.operator {
            Some(rules) => RolePolicy {
                access: Access::Rules(Box::new(rules.validate()?)),
            },
            None => RolePolicy::nothing(),
        };
        let guest = match file.guest {
            Some(table) => RolePolicy {
                access: Access::Rules(Box::new(guest_rules(table)?)),
            },
            None => RolePolicy::nothing(),
        };
        let mut teams = HashMap::new();
        for (name, rules) in file.team.unwrap_or_default() {
            if !crate::auth::valid_name(&name) {
                return Err(PolicyError::Invalid(format!(
                    "[team.{name}]: team names are 1-32 of a-z 0-9 . _ -"
                )));
            }
            let rules = rules.validate().map_err(|e| match e {
                PolicyError::Invalid(m) => PolicyError::Invalid(format!("[team.{name}]: {m}")),
                other => other,
            })?;
            teams.insert(
                name,
                RolePolicy {
                    access: Access::Rules(Box::new(rules)),
                },
            );
        }
        let digest = crate::auth::sha256(text.as_bytes())[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Policy {
            operator,
            guest,
            teams,
            digest: Some(digest),
            ..Policy::deny_all()
        })
    }

    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Policy::from_toml(&text)
    }

    /// No policy file: default-deny for non-admins (operators may run nothing, viewers nothing).
    pub fn deny_all() -> Policy {
        Policy {
            admin: RolePolicy {
                access: Access::Unrestricted,
            },
            operator: RolePolicy::nothing(),
            viewer: RolePolicy::nothing(),
            guest: RolePolicy::nothing(),
            teams: HashMap::new(),
            digest: None,
        }
    }

    /// The digest recorded with each run checked under these rules; `None` when no rules
    /// check anything (no policy file).
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The rules for a user of `role` in `team`: an operator's team table if there is one,
    /// else their role's.
    pub fn for_user(&self, role: Role, team: &str) -> &RolePolicy {
        match (role, self.teams.get(team)) {
            (Role::Operator, Some(rules)) => rules,
            _ => self.for_role(role),
        }
    }

    /// The rules for a role (admins: no restriction at all).
    pub fn for_role(&self, role: Role) -> &RolePolicy {
        match role {
            Role::Admin => &self.admin,
            Role::Operator => &self.operator,
            Role::Viewer => &self.viewer,
            Role::Guest => &self.guest,
        }
    }
}

/// What one role may run.
#[derive(Debug, Clone)]
pub struct RolePolicy {
    access: Access,
}

#[derive(Debug, Clone)]
enum Access {
    /// Admins: every request as it is, no defaults, no counters.
    Unrestricted,
    /// Viewers, and operators without an `[operator]` table.
    Nothing,
    Rules(Box<Rules>),
}

impl RolePolicy {
    fn nothing() -> RolePolicy {
        RolePolicy {
            access: Access::Nothing,
        }
    }

    /// Whether [`check`](Self::check) looks at the request at all (and so at its [`Facts`]):
    /// not for admins, who are unrestricted, nor for roles that may run nothing.
    pub fn checks_requests(&self) -> bool {
        self.rules().is_some()
    }

    fn rules(&self) -> Option<&Rules> {
        match &self.access {
            Access::Rules(r) => Some(r),
            _ => None,
        }
    }

    /// Checks the final create request, never argv text: the first denial, or the defaults
    /// to fill in ([`Defaults::apply`]) once every rule has passed. The plan is not changed.
    pub fn check(&self, plan: &Plan, facts: &Facts) -> Result<Defaults, Denial> {
        match &self.access {
            Access::Unrestricted => Ok(Defaults::default()),
            Access::Nothing => Err(Denial::new("role", MayNotRun(facts.role).to_string())),
            Access::Rules(rules) => check::check(rules, plan, facts),
        }
    }

    /// What the engine must be asked before [`check`](Self::check) can decide: the containers
    /// the plan references (`--volumes-from`, `--link`, `container:` modes; each name or ID as
    /// written, `--link web:alias` gives `web`) and the named volumes it mounts. Nothing for
    /// roles whose requests are not looked at.
    pub fn lookups(&self, plan: &Plan) -> Lookups {
        if !self.checks_requests() {
            return Lookups::default();
        }
        Lookups {
            containers: check::referenced_containers(plan),
            volumes: check::referenced_volumes(plan),
        }
    }

    /// [`may_run`](Self::may_run) as the refusal every caller gives.
    pub fn allows_running(&self, role: Role) -> Result<(), MayNotRun> {
        match self.access {
            Access::Nothing => Err(MayNotRun(role)),
            _ => Ok(()),
        }
    }

    /// Whether this role may run on the engine `name` (`allowed_engines`; admins and roles
    /// without the key: every engine).
    pub fn allows_engine(&self, name: &str) -> bool {
        match self.rules().and_then(|r| r.engines.as_ref()) {
            Some(patterns) => patterns.iter().any(|p| glob::glob(p, name, false)),
            None => true,
        }
    }

    /// What this role may do with `docker exec` (admins: all of it; roles that may run
    /// nothing: nothing).
    pub fn exec(&self) -> ExecRules {
        match &self.access {
            Access::Unrestricted => ExecRules {
                allowed: true,
                privileged: true,
                user: true,
            },
            Access::Nothing => ExecRules {
                allowed: false,
                privileged: false,
                user: false,
            },
            Access::Rules(r) => r.exec,
        }
    }

    /// Whether this role is shown containers Berth did not create (admins: always).
    pub fn shows_foreign_containers(&self) -> bool {
        match &self.access {
            Access::Unrestricted => true,
            Access::Nothing => false,
            Access::Rules(r) => r.show_foreign_containers,
        }
    }

    /// Whether an image named `reference` (a repository tag) is one this role may run, for
    /// listing images: by `allowed_images` for roles with rules; every image otherwise.
    pub fn lists_image(&self, reference: &str) -> bool {
        let Some(rules) = self.rules() else {
            return true;
        };
        berth_shared::reference::ImageRef::parse_normalized(reference)
            .is_ok_and(|r| rules.images.iter().any(|p| p.matches(&r)))
    }

    /// Runs a user of this role may have going at once (the caller counts and refuses).
    pub fn max_concurrent_runs(&self) -> Option<u32> {
        self.rules().and_then(|r| r.max_concurrent_runs)
    }

    /// Seconds after which the caller stops and removes a run's container.
    pub fn max_run_seconds(&self) -> Option<u64> {
        self.rules().and_then(|r| r.max_run_seconds)
    }

    /// Runs a user of this role may start per minute.
    pub fn runs_per_minute(&self) -> Option<u32> {
        self.rules().and_then(|r| r.runs_per_minute)
    }

    /// Whether this role may run anything at all: false for viewers and deny_all operators.
    pub fn may_run(&self) -> bool {
        !matches!(self.access, Access::Nothing)
    }
}

/// The policy file. Only operators have rules: admins are unrestricted and viewers never run,
/// so an `[admin]` or `[viewer]` table is an error rather than something that looks effective.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    operator: Option<RulesFile>,
    /// Read as a table first: its defaults differ from `[operator]`'s (see [`guest_rules`]).
    guest: Option<toml::Table>,
    /// `[team.NAME]` tables, checked in name order: the same file always gets the same error.
    team: Option<BTreeMap<String, RulesFile>>,
}

/// The `[guest]` table: the keys of `[operator]`, with `allowed_networks` only `none` unless
/// it says otherwise, and memory, CPU and pids maxima required, since a public template hands a
/// shell to anyone.
fn guest_rules(mut table: toml::Table) -> Result<Rules, PolicyError> {
    table
        .entry("allowed_networks")
        .or_insert_with(|| toml::Value::Array(vec!["none".into()]));
    let file =
        RulesFile::deserialize(table).map_err(|e| PolicyError::Toml(format!("in [guest]: {e}")))?;
    for (key, missing) in [
        ("max_memory", file.max_memory.is_none()),
        ("max_cpus", file.max_cpus.is_none()),
        ("max_pids", file.max_pids.is_none()),
    ] {
        if missing {
            return Err(PolicyError::Invalid(format!(
                "[guest] needs {key}: guests get a shell on the engine, so their memory, CPUs \
                 and processes are always limited"
            )));
        }
    }
    file.validate()
}

/// A role's table as written. Everything absent is denied, or unlimited for the counters and
/// resources without a maximum.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RulesFile {
    allowed_images: Vec<String>,
    require_digest: bool,
    allow_image_ids: bool,

    allow_privileged: bool,
    allow_host_binds: bool,
    allowed_host_paths: Vec<String>,
    allow_named_volumes: bool,
    allowed_volume_drivers: Vec<String>,
    allow_volume_options: bool,
    allow_host_namespaces: bool,
    allow_foreign_containers: bool,
    allow_cgroup_parent: bool,
    allowed_capabilities: Vec<String>,
    allowed_devices: Vec<String>,
    allow_device_requests: bool,
    allow_device_cgroup_rules: bool,
    allowed_security_opts: Vec<String>,
    allowed_sysctls: Vec<String>,
    allowed_runtimes: Vec<String>,
    allowed_networks: Vec<String>,
    allow_network_driver_opts: bool,
    allow_published_ports: bool,
    allowed_log_drivers: Vec<String>,
    allow_log_options: bool,
    allow_annotations: bool,
    allow_restart_policies: bool,
    allow_oom_adjustments: bool,
    allowed_ulimits: Vec<String>,
    /// Glob patterns of engine names; absent: every engine.
    allowed_engines: Option<Vec<String>>,
    /// Containers Berth did not create are listed (read-only, redacted).
    show_foreign_containers: bool,
    /// `docker exec` into the role's containers (default on), `--privileged`, `--user`.
    allow_exec: bool,
    allow_exec_privileged: bool,
    allow_exec_user: bool,

    default_memory: Option<ByteSize>,
    max_memory: Option<ByteSize>,
    default_cpus: Option<Cpus>,
    max_cpus: Option<Cpus>,
    default_pids: Option<i64>,
    max_pids: Option<i64>,

    max_concurrent_runs: Option<u32>,
    max_run_seconds: Option<u64>,
    runs_per_minute: Option<u32>,
}

impl Default for RulesFile {
    fn default() -> Self {
        RulesFile {
            allowed_images: Vec::new(),
            require_digest: false,
            allow_image_ids: false,
            allow_privileged: false,
            allow_host_binds: false,
            allowed_host_paths: Vec::new(),
            allow_named_volumes: false,
            allowed_volume_drivers: Vec::new(),
            allow_volume_options: false,
            allow_host_namespaces: false,
            allow_foreign_containers: false,
            allow_cgroup_parent: false,
            allowed_capabilities: Vec::new(),
            allowed_devices: Vec::new(),
            allow_device_requests: false,
            allow_device_cgroup_rules: false,
            allowed_security_opts: Vec::new(),
            allowed_sysctls: Vec::new(),
            allowed_runtimes: Vec::new(),
            // The daemon's own networks; without `--network` the request names `default`.
            allowed_networks: ["default", "bridge", "none"].map(String::from).to_vec(),
            allow_network_driver_opts: false,
            allow_published_ports: false,
            allowed_log_drivers: Vec::new(),
            allow_log_options: false,
            allow_annotations: false,
            allow_restart_policies: false,
            allow_oom_adjustments: false,
            allowed_ulimits: Vec::new(),
            allowed_engines: None,
            show_foreign_containers: false,
            allow_exec: true,
            allow_exec_privileged: false,
            allow_exec_user: false,
            default_memory: None,
            max_memory: None,
            default_cpus: None,
            max_cpus: None,
            default_pids: None,
            max_pids: None,
            max_concurrent_runs: None,
            max_run_seconds: None,
            runs_per_minute: None,
        }
    }
}

/// A role's rules, validated: patterns parsed, capabilities normalised, units in bytes and
/// NanoCPUs, each default no higher than its maximum.
#[derive(Debug, Clone)]
struct Rules {
    images: Vec<ImagePattern>,
    require_digest: bool,
    allow_image_ids: bool,
    allow_privileged: bool,
    allow_host_binds: bool,
    host_paths: Vec<host_paths::HostPath>,
    allow_named_volumes: bool,
    volume_drivers: Vec<String>,
    allow_volume_options: bool,
    allow_host_namespaces: bool,
    allow_foreign_containers: bool,
    allow_cgroup_parent: bool,
    capabilities: Vec<String>,
    devices: Vec<String>,
    allow_device_requests: bool,
    allow_device_cgroup_rules: bool,
    security_opts: Vec<String>,
    sysctls: Vec<String>,
    runtimes: Vec<String>,
    networks: Vec<String>,
    allow_network_driver_opts: bool,
    allow_published_ports: bool,
    log_drivers: Vec<String>,
    allow_log_options: bool,
    allow_annotations: bool,
    allow_restart_policies: bool,
    allow_oom_adjustments: bool,
    ulimits: Vec<String>,
    engines: Option<Vec<String>>,
    show_foreign_containers: bool,
    exec: ExecRules,
    memory: Limit,
    cpus: Limit,
    pids: Limit,
    max_concurrent_runs: Option<u32>,
    max_run_seconds: Option<u64>,
    runs_per_minute: Option<u32>,
}

/// What a role may do with `docker exec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecRules {
    pub allowed: bool,
    pub privileged: bool,
    /// `--user` other than the container's own.
    pub user: bool,
}

/// A resource's default and maximum. The default falls back to the maximum, so a role with a
/// maximum never runs unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Limit {
    default: Option<i64>,
    max: Option<i64>,
}

impl Limit {
    fn new(name: &str, default: Option<i64>, max: Option<i64>) -> Result<Limit, PolicyError> {
        for (key, v) in [("default", default), ("max", max)] {
            if v.is_some_and(|v| v <= 0) {
                return Err(PolicyError::Invalid(format!(
                    "{key}_{name} must be greater than 0"
                )));
            }
        }
        if let (Some(d), Some(m)) = (default, max)
            && d > m
        {
            return Err(PolicyError::Invalid(format!(
                "default_{name} is above max_{name}"
            )));
        }
        Ok(Limit {
            default: default.or(max),
            max,
        })
    }
}

/// `CAP_SYS_ADMIN` for `sys_admin`, `cap_sys_admin`, …; `ALL` stays `ALL` (the docker CLI's
/// `normalizeCapabilities`, which the create request has already been through).
fn normalize_capability(c: &str) -> String {
    let c = c.trim().to_uppercase();
    if c == "ALL" || c.starts_with("CAP_") {
        c
    } else {
        format!("CAP_{c}")
    }
}

impl RulesFile {
    fn validate(self) -> Result<Rules, PolicyError> {
        let images = self
            .allowed_images
            .iter()
            .map(|p| ImagePattern::parse(p).map_err(PolicyError::Invalid))
            .collect::<Result<_, _>>()?;
        for (key, list) in [
            ("allowed_volume_drivers", &self.allowed_volume_drivers),
            ("allowed_capabilities", &self.allowed_capabilities),
            ("allowed_devices", &self.allowed_devices),
            ("allowed_security_opts", &self.allowed_security_opts),
            ("allowed_sysctls", &self.allowed_sysctls),
            ("allowed_runtimes", &self.allowed_runtimes),
            ("allowed_networks", &self.allowed_networks),
            ("allowed_log_drivers", &self.allowed_log_drivers),
            ("allowed_ulimits", &self.allowed_ulimits),
            (
                "allowed_engines",
                self.allowed_engines.as_ref().unwrap_or(&Vec::new()),
            ),
        ] {
            if list.iter().any(|v| v.trim().is_empty() || v.trim() != v) {
                return Err(PolicyError::Invalid(format!(
                    "{key}: entries must be non-empty, without surrounding spaces"
                )));
            }
        }
        if self.allowed_devices.iter().any(|d| !d.starts_with('/')) {
            return Err(PolicyError::Invalid(
                "allowed_devices: entries are absolute host paths such as /dev/fuse".into(),
            ));
        }
        let host_paths: Vec<_> = self
            .allowed_host_paths
            .iter()
            .map(|p| host_paths::HostPath::parse(p))
            .collect::<Result<_, _>>()?;
        host_paths::check_overlaps(&host_paths)?;
        if self.allow_host_binds && !host_paths.is_empty() {
            return Err(PolicyError::Invalid(
                "allow_host_binds already allows every host path: leave out allowed_host_paths, or allow_host_binds".into(),
            ));
        }
        for (key, v) in [
            (
                "max_concurrent_runs",
                self.max_concurrent_runs.map(u64::from),
            ),
            ("max_run_seconds", self.max_run_seconds),
            ("runs_per_minute", self.runs_per_minute.map(u64::from)),
        ] {
            if v == Some(0) {
                return Err(PolicyError::Invalid(format!(
                    "{key} must be greater than 0 (leave it out for no limit)"
                )));
            }
        }
        Ok(Rules {
            images,
            require_digest: self.require_digest,
            allow_image_ids: self.allow_image_ids,
            allow_privileged: self.allow_privileged,
            allow_host_binds: self.allow_host_binds,
            host_paths,
            allow_named_volumes: self.allow_named_volumes,
            volume_drivers: self.allowed_volume_drivers,
            allow_volume_options: self.allow_volume_options,
            allow_host_namespaces: self.allow_host_namespaces,
            allow_foreign_containers: self.allow_foreign_containers,
            allow_cgroup_parent: self.allow_cgroup_parent,
            capabilities: self
                .allowed_capabilities
                .iter()
                .map(|c| normalize_capability(c))
                .collect(),
            devices: self.allowed_devices,
            allow_device_requests: self.allow_device_requests,
            allow_device_cgroup_rules: self.allow_device_cgroup_rules,
            security_opts: self.allowed_security_opts,
            sysctls: self.allowed_sysctls,
            runtimes: self.allowed_runtimes,
            networks: self.allowed_networks,
            allow_network_driver_opts: self.allow_network_driver_opts,
            allow_published_ports: self.allow_published_ports,
            log_drivers: self.allowed_log_drivers,
            allow_log_options: self.allow_log_options,
            allow_annotations: self.allow_annotations,
            allow_restart_policies: self.allow_restart_policies,
            allow_oom_adjustments: self.allow_oom_adjustments,
            ulimits: self.allowed_ulimits,
            engines: self.allowed_engines,
            show_foreign_containers: self.show_foreign_containers,
            exec: ExecRules {
                allowed: self.allow_exec,
                privileged: self.allow_exec_privileged,
                user: self.allow_exec_user,
            },
            memory: Limit::new(
                "memory",
                self.default_memory.map(|b| b.0),
                self.max_memory.map(|b| b.0),
            )?,
            cpus: Limit::new(
                "cpus",
                self.default_cpus.map(|c| c.0),
                self.max_cpus.map(|c| c.0),
            )?,
            pids: Limit::new("pids", self.default_pids, self.max_pids)?,
            max_concurrent_runs: self.max_concurrent_runs,
            max_run_seconds: self.max_run_seconds,
            runs_per_minute: self.runs_per_minute,
        })
    }
}

/// A memory size: an integer number of bytes, or a string with the `-m` flag's binary units
/// (`"512m"`, `"1g"`, `"1.5GiB"`; 1g = 1073741824).
#[derive(Debug, Clone, Copy)]
struct ByteSize(i64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a size such as \"512m\" or \"1g\", or a number of bytes")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                units::ram_in_bytes(v).map(ByteSize).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A number of CPUs as `--cpus` takes it: a number (`0.5`, `2`) or a string (`"1.5"`), kept
/// in NanoCPUs.
#[derive(Debug, Clone, Copy)]
struct Cpus(i64);

impl<'de> Deserialize<'de> for Cpus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Cpus;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number of CPUs such as 0.5 or 2")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Cpus, E> {
                v.checked_mul(1_000_000_000)
                    .map(Cpus)
                    .ok_or_else(|| E::custom("too many CPUs"))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Cpus, E> {
                // Through the decimal text, so 0.1 is exactly 100000000 NanoCPUs.
                self.visit_str(&v.to_string())
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Cpus, E> {
                units::parse_cpus(v).map(Cpus).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}
