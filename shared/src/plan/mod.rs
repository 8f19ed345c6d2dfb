//! A [`RunSpec`] turned into what the gateway sends to the engine: the create request body and
//! the client-side run options (`runContainer`'s inputs). All validation happens here, before
//! anything is created, so a bad request leaves nothing behind.
//!
//! [`build`] runs in stages, each in its own file. It checks everything first, in one fixed
//! order (the first error found is the one reported, so the order is part of the behaviour):
//! the attached streams and the environment (`container.rs`), every flag's value as pflag
//! checks it while parsing (`values.rs`), then the checks of the CLI's `parse`, in its order
//! (`host.rs`). Then it assembles what can no longer fail: the API versions the plan needs
//! (`requirements.rs`), the host config (`host.rs`, its resources in `resources.rs`, its
//! capabilities, security options and namespaces in `security.rs`) and the create body around
//! it (`container.rs`).

mod container;
mod host;
mod requirements;
mod resources;
mod security;
mod values;

use std::collections::HashMap;

use bollard_stubs::models::ContainerCreateBody;

use crate::argv::flag_display;
use crate::reference::{ImageSpec, ReferenceError};
use crate::spec::RunSpec;
use crate::units;
use requirements::api_version_key;

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
    let streams = container::streams(spec)?;
    let environment = container::environment(spec)?;
    let values = values::flag_values(spec)?;
    let (host, config) = host::parse_checks(spec, values.resources.swappiness)?;
    // Everything is checked: what follows cannot fail.
    let requires = requirements::requirements(spec, &config.endpoints);
    let (kernel_memory, stop_timeout) = (values.kernel_memory, values.stop_timeout);
    let host_config = host::host_config(spec, values, host);
    let body = container::create_body(
        spec,
        streams,
        environment,
        stop_timeout,
        config,
        host_config,
    );
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
    use serde_json::json;

    use super::*;
    use crate::argv::parse;

    pub(super) fn plan(args: &[&str]) -> Result<Plan, String> {
        build(&parse(args).map_err(|e| e.to_string())?).map_err(|e| e.to_string())
    }

    pub(super) fn host(args: &[&str]) -> serde_json::Value {
        let p = plan(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        serde_json::to_value(p.body.host_config.unwrap()).unwrap()
    }
    pub(super) fn body(args: &[&str]) -> serde_json::Value {
        serde_json::to_value(plan(args).unwrap_or_else(|e| panic!("{args:?}: {e}")).body).unwrap()
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
