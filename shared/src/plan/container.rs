//! The container's own configuration, the create body around the host config: the streams the
//! client attaches (`-a`, `-i`, `-d`), the environment and labels, the healthcheck, and the body
//! itself (image, command, TTY, user, working directory, …).

use std::collections::{BTreeSet, HashMap};

use bollard_stubs::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, NetworkingConfig,
};

use super::{PlanError, each, int64, non_empty, opt, some_if};
use crate::spec::RunSpec;
use crate::{resources, units};

/// The streams the client attaches to (`AttachStdin`, `AttachStdout`, `AttachStderr`).
pub(super) struct Streams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// `-a` (both outputs when not given), `-i` (adds stdin) and `-d` (none, and no `-a` with it).
pub(super) fn streams(spec: &RunSpec) -> Result<Streams, PlanError> {
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
    Ok(Streams {
        stdin: attach_stdin,
        stdout: attach_stdout,
        stderr: attach_stderr,
    })
}

/// `-e` and `-l`, checked.
pub(super) struct Environment {
    /// `NAME=VALUE`, each name once.
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
}

pub(super) fn environment(spec: &RunSpec) -> Result<Environment, PlanError> {
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
    Ok(Environment { env, labels })
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

/// `--health-*` and `--no-healthcheck`.
pub(super) fn healthcheck(spec: &RunSpec) -> Result<Option<HealthConfig>, PlanError> {
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

/// What the checks of the CLI's `parse` ([`super::host::parse_checks`]) give the container's
/// config.
pub(super) struct ConfigParts {
    /// `-p` and `--expose`, keyed `80/tcp`.
    pub exposed_ports: BTreeSet<String>,
    /// `-v` without a source: anonymous volumes.
    pub volumes: BTreeSet<String>,
    pub healthcheck: Option<HealthConfig>,
    /// `--network`, with what the legacy flags (`--network-alias`, `--ip`, `--link`, …) add.
    pub endpoints: HashMap<String, EndpointSettings>,
}

/// The create body: the container's config, with `host_config` in it.
pub(super) fn create_body(
    spec: &RunSpec,
    streams: Streams,
    environment: Environment,
    stop_timeout: Option<i64>,
    parts: ConfigParts,
    host_config: HostConfig,
) -> ContainerCreateBody {
    ContainerCreateBody {
        hostname: spec.hostname.clone(),
        domainname: spec.domainname.clone(),
        user: spec.user.clone(),
        attach_stdin: Some(streams.stdin),
        attach_stdout: Some(streams.stdout),
        attach_stderr: Some(streams.stderr),
        exposed_ports: non_empty(parts.exposed_ports.into_iter().collect()),
        tty: Some(spec.tty),
        open_stdin: Some(spec.interactive),
        stdin_once: Some(spec.interactive && streams.stdin),
        env: non_empty(environment.env),
        cmd: non_empty(spec.command.clone()),
        healthcheck: parts.healthcheck,
        image: Some(spec.image.clone()),
        volumes: Some(parts.volumes.into_iter().collect()),
        working_dir: spec.workdir.clone(),
        entrypoint: spec.entrypoint.as_ref().map(|e| vec![e.clone()]),
        labels: Some(environment.labels),
        stop_signal: spec.stop_signal.clone(),
        stop_timeout,
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(parts.endpoints),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::plan::Plan;
    use crate::plan::tests::{body, plan};

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
    fn a_repeated_env_name_keeps_its_last_value_once() {
        assert_eq!(
            body(&["-e", "A=1", "-e", "B=2", "-e", "A=3", "-e", "C=", "img"])["Env"],
            json!(["A=3", "B=2", "C="])
        );
        assert_eq!(body(&["-e", "A=x=y", "img"])["Env"], json!(["A=x=y"]));
        assert!(body(&["img"]).get("Env").is_none());
    }
}
