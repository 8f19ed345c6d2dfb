//! The second round of checks, the CLI's `parse` in its order, and the host config: binds and
//! tmpfs mounts, published ports, devices, restart policy, logging, storage, isolation and
//! networking, with the flag values and the resources.

use std::collections::{BTreeMap, HashMap};

use bollard_stubs::models::{
    DeviceMapping, HostConfig, HostConfigIsolationEnum, HostConfigLogConfig, PortBinding,
    RestartPolicy,
};

use super::container::{ConfigParts, healthcheck};
use super::security::{capabilities, namespaces, security_opts};
use super::values::FlagValues;
use super::{PlanError, enum_value, non_empty, non_empty_map, some_if};
use crate::spec::RunSpec;
use crate::{mounts, network, ports, resources};

/// What the checks of the CLI's `parse` give the host config.
pub(super) struct HostParts {
    /// `-v` with a source, verbatim.
    pub binds: Vec<String>,
    pub tmpfs: HashMap<String, String>,
    /// `-p`, keyed `80/tcp`.
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    /// `--device`: the host's devices, and CDI device names.
    pub devices: Vec<DeviceMapping>,
    pub cdi_devices: Vec<String>,
    pub restart: RestartPolicy,
    pub log_opts: HashMap<String, String>,
    pub security_opt: Option<Vec<String>>,
    /// `--security-opt systempaths=unconfined`: empty MaskedPaths and ReadonlyPaths.
    pub unconfined_paths: bool,
    pub storage_opt: HashMap<String, String>,
    pub isolation: Option<HostConfigIsolationEnum>,
    pub network_mode: String,
}

/// The checks of the CLI's `parse`, in its order, once every flag's value is checked
/// (`swappiness` is `--memory-swappiness`, -1 when not given).
pub(super) fn parse_checks(
    spec: &RunSpec,
    swappiness: i64,
) -> Result<(HostParts, ConfigParts), PlanError> {
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
    let log_opts = log_opts(spec)?;
    let (security_opt, unconfined_paths) = security_opts(&spec.security_opt)?;
    let storage_opt = storage_opts(&spec.storage_opt)?;
    let healthcheck = healthcheck(spec)?;
    let restart_is_none = matches!(
        restart.name.map(|n| n.to_string()).as_deref(),
        Some("no" | "")
    );
    if spec.rm && !restart_is_none {
        return Err(PlanError::Invalid(
            "conflicting options: cannot specify both --restart and --rm".into(),
        ));
    }
    let isolation = isolation(spec.isolation.as_deref())?;
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
    let host = HostParts {
        binds: volumes.binds,
        tmpfs,
        port_bindings: ports.bindings,
        devices,
        cdi_devices,
        restart,
        log_opts,
        security_opt,
        unconfined_paths,
        storage_opt,
        isolation,
        network_mode,
    };
    let config = ConfigParts {
        exposed_ports: ports.exposed,
        volumes: volumes.volumes,
        healthcheck,
        endpoints,
    };
    Ok((host, config))
}

/// The host config: what `parse` gave, the flag values, and the fields of `spec` taken as given.
pub(super) fn host_config(spec: &RunSpec, values: FlagValues, parts: HostParts) -> HostConfig {
    HostConfig {
        binds: non_empty(parts.binds),
        log_config: Some(HostConfigLogConfig {
            typ: Some(spec.log_driver.clone().unwrap_or_default()),
            config: Some(parts.log_opts),
        }),
        network_mode: Some(parts.network_mode),
        port_bindings: Some(
            parts
                .port_bindings
                .into_iter()
                .map(|(k, v)| (k, Some(v)))
                .collect(),
        ),
        restart_policy: Some(parts.restart),
        auto_remove: Some(spec.rm),
        volume_driver: spec.volume_driver.clone(),
        volumes_from: non_empty(spec.volumes_from.clone()),
        mounts: non_empty(values.mounts),
        annotations: non_empty_map(resources::kv_map(&spec.annotation)),
        cap_add: capabilities(&spec.cap_add),
        cap_drop: capabilities(&spec.cap_drop),
        cgroupns_mode: spec
            .cgroupns
            .as_deref()
            .filter(|m| !m.is_empty())
            .and_then(enum_value),
        dns: Some(values.dns),
        dns_options: Some(spec.dns_option.clone()),
        dns_search: Some(values.dns_search),
        extra_hosts: non_empty(values.extra_hosts),
        group_add: non_empty(spec.group_add.clone()),
        ipc_mode: spec.ipc.clone(),
        links: non_empty(spec.link.clone()),
        oom_score_adj: values.oom_score_adj,
        pid_mode: spec.pid.clone(),
        privileged: some_if(spec.privileged, true),
        publish_all_ports: some_if(spec.publish_all, true),
        readonly_rootfs: some_if(spec.read_only, true),
        security_opt: parts.security_opt,
        storage_opt: non_empty_map(parts.storage_opt),
        tmpfs: non_empty_map(parts.tmpfs),
        uts_mode: spec.uts.clone(),
        userns_mode: spec.userns.clone(),
        shm_size: values.shm_size,
        sysctls: non_empty_map(resources::kv_map(&spec.sysctl)),
        runtime: spec.runtime.clone(),
        isolation: parts.isolation,
        masked_paths: some_if(parts.unconfined_paths, Vec::new()),
        readonly_paths: some_if(parts.unconfined_paths, Vec::new()),
        init: spec.init,
        ..values
            .resources
            .into_host_config(spec, parts.devices, parts.cdi_devices)
    }
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

/// `--log-opt` (`parseLoggingOpts`): none for the `none` driver.
fn log_opts(spec: &RunSpec) -> Result<HashMap<String, String>, PlanError> {
    if spec.log_driver.as_deref() == Some("none") && !spec.log_opt.is_empty() {
        return Err(PlanError::Invalid(
            "invalid logging opts for driver none".into(),
        ));
    }
    Ok(resources::kv_map(&spec.log_opt))
}

/// `--storage-opt` (`parseStorageOpts`): `key=value` each.
fn storage_opts(values: &[String]) -> Result<HashMap<String, String>, PlanError> {
    let mut storage_opt = HashMap::new();
    for o in values {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| PlanError::Invalid("invalid storage option".into()))?;
        storage_opt.insert(k.to_string(), v.to_string());
    }
    Ok(storage_opt)
}

/// The CLI passes any value through; a Linux daemon accepts only `default` (or none) and
/// answers anything else with this message (and a 500 status, hence the check here).
fn isolation(value: Option<&str>) -> Result<Option<HostConfigIsolationEnum>, PlanError> {
    match value.filter(|i| !i.is_empty()) {
        None => Ok(None),
        Some("default") => Ok(enum_value("default")),
        Some(i) => Err(PlanError::Invalid(format!(
            "Invalid isolation: \"{i}\" - linux only supports 'default'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::plan::tests::{body, host, plan};

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
}
