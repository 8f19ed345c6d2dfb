//! `docker run` arguments to a [`RunSpec`], with the docker CLI's flag grammar (spf13/pflag,
//! interspersed=false), and back again.
//!
//! Grammar: `--flag=value`, `--flag value`, `-f value`, `-fvalue`, `-f=value`, combined short
//! booleans (`-it`, `-itd`, `-ie FOO=1`), repeated flags, `--flag=false` for booleans, `--` to
//! end the flags. Flag parsing stops at the first positional argument, the image: everything
//! after it is the command, even when it looks like a flag.

use crate::shell;
use crate::spec::RunSpec;
use crate::units;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgvError {
    #[error("unknown flag: --{0}")]
    UnknownFlag(String),
    #[error("unknown shorthand flag: '{0}' in -{1}")]
    UnknownShorthand(char, String),
    #[error("flag needs an argument: --{0}")]
    NeedsArgument(&'static str),
    #[error("flag needs an argument: '{0}' in -{1}")]
    ShortNeedsArgument(char, String),
    #[error("invalid argument \"{value}\" for \"{flag}\" flag: {reason}")]
    InvalidArgument {
        value: String,
        flag: String,
        reason: String,
    },
    #[error("\"docker run\" requires at least 1 argument")]
    MissingImage,
    /// A docker flag Berth deliberately does not support; the message says why.
    #[error("{0}")]
    Refused(String),
}

/// Where a flag's value lives in the spec.
#[derive(Clone, Copy)]
enum Field {
    Bool(fn(&mut RunSpec) -> &mut bool),
    /// A boolean whose absence differs from `false` (the CLI checks `flags.Changed`).
    OptBool(fn(&mut RunSpec) -> &mut Option<bool>),
    /// Single-valued: the last occurrence wins.
    Value(fn(&mut RunSpec) -> &mut Option<String>),
    /// Repeatable: each occurrence appends.
    List(fn(&mut RunSpec) -> &mut Vec<String>),
    /// A docker flag Berth refuses, with the reason. `true` when the flag is a boolean.
    Refused(&'static str, bool),
}

struct Flag {
    long: &'static str,
    short: Option<char>,
    field: Field,
    /// A hidden alias (`--net`, `--net-alias`, `--dns-opt`): parsed, never rendered.
    alias: bool,
}

impl Flag {
    /// The flag as pflag names it in errors: `-m, --memory` or `--shm-size`.
    fn display(&self) -> String {
        match self.short {
            Some(c) => format!("-{c}, --{}", self.long),
            None => format!("--{}", self.long),
        }
    }
    fn is_bool(&self) -> bool {
        matches!(
            self.field,
            Field::Bool(_) | Field::OptBool(_) | Field::Refused(_, true)
        )
    }
}

macro_rules! flag {
    ($long:literal, $short:expr, $kind:ident, $field:ident) => {
        Flag {
            long: $long,
            short: $short,
            field: Field::$kind(|s| &mut s.$field),
            alias: false,
        }
    };
    ($long:literal, alias of $field:ident, $kind:ident) => {
        Flag {
            long: $long,
            short: None,
            field: Field::$kind(|s| &mut s.$field),
            alias: true,
        }
    };
}

const WINDOWS_ONLY: &str = "is only supported on a Docker daemon running on windows, but the Docker daemon is running on linux";

/// Every flag Berth accepts, in `docker run --help` order, then hidden aliases and refusals.
const FLAGS: &[Flag] = &[
    flag!("add-host", None, List, add_host),
    flag!("annotation", None, List, annotation),
    flag!("attach", Some('a'), List, attach),
    flag!("blkio-weight", None, Value, blkio_weight),
    flag!("blkio-weight-device", None, List, blkio_weight_device),
    flag!("cap-add", None, List, cap_add),
    flag!("cap-drop", None, List, cap_drop),
    flag!("cgroup-parent", None, Value, cgroup_parent),
    flag!("cgroupns", None, Value, cgroupns),
    flag!("cpu-period", None, Value, cpu_period),
    flag!("cpu-quota", None, Value, cpu_quota),
    flag!("cpu-rt-period", None, Value, cpu_rt_period),
    flag!("cpu-rt-runtime", None, Value, cpu_rt_runtime),
    flag!("cpu-shares", Some('c'), Value, cpu_shares),
    flag!("cpus", None, Value, cpus),
    flag!("cpuset-cpus", None, Value, cpuset_cpus),
    flag!("cpuset-mems", None, Value, cpuset_mems),
    flag!("detach", Some('d'), Bool, detach),
    flag!("detach-keys", None, Value, detach_keys),
    flag!("device", None, List, device),
    flag!("device-cgroup-rule", None, List, device_cgroup_rule),
    flag!("device-read-bps", None, List, device_read_bps),
    flag!("device-read-iops", None, List, device_read_iops),
    flag!("device-write-bps", None, List, device_write_bps),
    flag!("device-write-iops", None, List, device_write_iops),
    flag!("dns", None, List, dns),
    flag!("dns-option", None, List, dns_option),
    flag!("dns-search", None, List, dns_search),
    flag!("domainname", None, Value, domainname),
    flag!("entrypoint", None, Value, entrypoint),
    flag!("env", Some('e'), List, env),
    flag!("expose", None, List, expose),
    flag!("gpus", None, List, gpus),
    flag!("group-add", None, List, group_add),
    flag!("health-cmd", None, Value, health_cmd),
    flag!("health-interval", None, Value, health_interval),
    flag!("health-retries", None, Value, health_retries),
    flag!("health-start-interval", None, Value, health_start_interval),
    flag!("health-start-period", None, Value, health_start_period),
    flag!("health-timeout", None, Value, health_timeout),
    flag!("hostname", Some('h'), Value, hostname),
    flag!("init", None, OptBool, init),
    flag!("interactive", Some('i'), Bool, interactive),
    flag!("ip", None, Value, ip),
    flag!("ip6", None, Value, ip6),
    flag!("ipc", None, Value, ipc),
    flag!("isolation", None, Value, isolation),
    flag!("kernel-memory", None, Value, kernel_memory),
    flag!("label", Some('l'), List, label),
    flag!("link", None, List, link),
    flag!("link-local-ip", None, List, link_local_ip),
    flag!("log-driver", None, Value, log_driver),
    flag!("log-opt", None, List, log_opt),
    flag!("mac-address", None, Value, mac_address),
    flag!("memory", Some('m'), Value, memory),
    flag!("memory-reservation", None, Value, memory_reservation),
    flag!("memory-swap", None, Value, memory_swap),
    flag!("memory-swappiness", None, Value, memory_swappiness),
    flag!("mount", None, List, mount),
    flag!("name", None, Value, name),
    flag!("network", None, List, network),
    flag!("network-alias", None, List, network_alias),
    flag!("no-healthcheck", None, Bool, no_healthcheck),
    flag!("oom-kill-disable", None, Bool, oom_kill_disable),
    flag!("oom-score-adj", None, Value, oom_score_adj),
    flag!("pid", None, Value, pid),
    flag!("pids-limit", None, Value, pids_limit),
    flag!("platform", None, Value, platform),
    flag!("privileged", None, Bool, privileged),
    flag!("publish", Some('p'), List, publish),
    flag!("publish-all", Some('P'), Bool, publish_all),
    flag!("pull", None, Value, pull),
    flag!("quiet", Some('q'), Bool, quiet),
    flag!("read-only", None, Bool, read_only),
    flag!("restart", None, Value, restart),
    flag!("rm", None, Bool, rm),
    flag!("runtime", None, Value, runtime),
    flag!("security-opt", None, List, security_opt),
    flag!("shm-size", None, Value, shm_size),
    flag!("sig-proxy", None, Bool, sig_proxy),
    flag!("stop-signal", None, Value, stop_signal),
    flag!("stop-timeout", None, Value, stop_timeout),
    flag!("storage-opt", None, List, storage_opt),
    flag!("sysctl", None, List, sysctl),
    flag!("tmpfs", None, List, tmpfs),
    flag!("tty", Some('t'), Bool, tty),
    flag!("ulimit", None, List, ulimit),
    flag!("user", Some('u'), Value, user),
    flag!("userns", None, Value, userns),
    flag!("uts", None, Value, uts),
    flag!("volume", Some('v'), List, volume),
    flag!("volume-driver", None, Value, volume_driver),
    flag!("volumes-from", None, List, volumes_from),
    flag!("workdir", Some('w'), Value, workdir),
    flag!("net", alias of network, List),
    flag!("net-alias", alias of network_alias, List),
    flag!("dns-opt", alias of dns_option, List),
    refused(
        "env-file",
        "--env-file reads a file on the gateway host, which Berth never does; pass the variables with -e, or as env in the structured spec",
        false,
    ),
    refused(
        "label-file",
        "--label-file reads a file on the gateway host, which Berth never does; pass the labels with -l, or as label in the structured spec",
        false,
    ),
    refused(
        "cidfile",
        "--cidfile writes a file on the gateway host, which Berth never does; the container ID is in the run's output",
        false,
    ),
    refused(
        "use-api-socket",
        "--use-api-socket would give the container the gateway host's Docker API socket; Berth does not allow it",
        true,
    ),
    refused("cpu-count", WINDOWS_ONLY, false),
    refused("cpu-percent", WINDOWS_ONLY, false),
    refused("io-maxbandwidth", WINDOWS_ONLY, false),
    refused("io-maxiops", WINDOWS_ONLY, false),
];

const fn refused(long: &'static str, why: &'static str, is_bool: bool) -> Flag {
    Flag {
        long,
        short: None,
        field: Field::Refused(why, is_bool),
        alias: false,
    }
}

fn by_long(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.long == name)
}

fn by_short(c: char) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.short == Some(c))
}

/// How pflag names a flag in `invalid argument … for "<flag>" flag` errors: `-m, --memory`.
pub fn flag_display(long: &str) -> String {
    by_long(long).map_or_else(|| format!("--{long}"), Flag::display)
}

fn parse_bool(flag: &Flag, value: &str) -> Result<bool, ArgvError> {
    units::parse_bool(value).map_err(|reason| ArgvError::InvalidArgument {
        value: value.to_string(),
        flag: flag.display(),
        reason,
    })
}

fn apply(spec: &mut RunSpec, flag: &Flag, value: &str) -> Result<(), ArgvError> {
    match flag.field {
        Field::Bool(f) => *f(spec) = parse_bool(flag, value)?,
        Field::OptBool(f) => *f(spec) = Some(parse_bool(flag, value)?),
        Field::Value(f) => *f(spec) = Some(value.to_string()),
        Field::List(f) => f(spec).push(value.to_string()),
        Field::Refused(why, _) if why == WINDOWS_ONLY => {
            return Err(ArgvError::Refused(format!("\"--{}\" {why}", flag.long)));
        }
        Field::Refused(why, _) => return Err(ArgvError::Refused(why.to_string())),
    }
    Ok(())
}

/// Parses the arguments that follow `docker run`.
pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<RunSpec, ArgvError> {
    let mut spec = RunSpec::default();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_ref();
        i += 1;
        if arg == "--" {
            break;
        }
        if let Some(body) = arg.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let flag = by_long(name).ok_or_else(|| ArgvError::UnknownFlag(name.to_string()))?;
            let value = match inline {
                Some(v) => v,
                None if flag.is_bool() => "true",
                None => {
                    let v = args.get(i).ok_or(ArgvError::NeedsArgument(flag.long))?;
                    i += 1;
                    v.as_ref()
                }
            };
            apply(&mut spec, flag, value)?;
        } else if arg.len() > 1 && arg.starts_with('-') {
            let shorts = &arg[1..];
            for (at, c) in shorts.char_indices() {
                let flag = by_short(c)
                    .ok_or_else(|| ArgvError::UnknownShorthand(c, shorts.to_string()))?;
                let rest = &shorts[at + c.len_utf8()..];
                // `-t=false`, `-e=FOO`: pflag takes what follows '=' as the value.
                if let Some(v) = rest.strip_prefix('=') {
                    apply(&mut spec, flag, v)?;
                    break;
                }
                if flag.is_bool() {
                    apply(&mut spec, flag, "true")?;
                    continue;
                }
                let value = if !rest.is_empty() {
                    rest
                } else {
                    let v = args
                        .get(i)
                        .ok_or_else(|| ArgvError::ShortNeedsArgument(c, shorts.to_string()))?;
                    i += 1;
                    v.as_ref()
                };
                apply(&mut spec, flag, value)?;
                break;
            }
        } else {
            i -= 1;
            break;
        }
    }
    let mut positional = args[i..].iter().map(|s| s.as_ref().to_string());
    spec.image = positional.next().ok_or(ArgvError::MissingImage)?;
    spec.command = positional.collect();
    Ok(spec)
}

/// The arguments that `parse` turns back into `spec`: flags in a canonical order, then the
/// image and the command (after `--` when the image itself starts with '-').
pub fn render(spec: &RunSpec) -> Vec<String> {
    let defaults = RunSpec::default();
    let mut spec = spec.clone();
    let mut defaults_mut = defaults.clone();
    let mut out = Vec::new();
    for flag in FLAGS.iter().filter(|f| !f.alias) {
        match flag.field {
            Field::Bool(f) => {
                let (value, default) = (*f(&mut spec), *f(&mut defaults_mut));
                if value != default {
                    out.push(if value {
                        format!("--{}", flag.long)
                    } else {
                        format!("--{}=false", flag.long)
                    });
                }
            }
            Field::OptBool(f) => match *f(&mut spec) {
                Some(true) => out.push(format!("--{}", flag.long)),
                Some(false) => out.push(format!("--{}=false", flag.long)),
                None => {}
            },
            Field::Value(f) => {
                if let Some(v) = f(&mut spec) {
                    out.push(format!("--{}={v}", flag.long));
                }
            }
            Field::List(f) => {
                for v in f(&mut spec).iter() {
                    out.push(format!("--{}={v}", flag.long));
                }
            }
            Field::Refused(..) => {}
        }
    }
    if spec.image.starts_with('-') {
        out.push("--".to_string());
    }
    out.push(spec.image.clone());
    out.extend(spec.command.iter().cloned());
    out
}

/// `docker run …` as one line a POSIX shell reads back into the same words.
pub fn render_command_line(spec: &RunSpec) -> String {
    let mut line = String::from("docker run");
    for word in render(spec) {
        line.push(' ');
        line.push_str(&shell::quote(&word));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> RunSpec {
        parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }
    fn err(args: &[&str]) -> String {
        parse(args).unwrap_err().to_string()
    }

    #[test]
    fn flags_stop_at_the_image() {
        let s = p(&["-it", "--rm", "--name", "x", "img", "sh", "-c", "--rm"]);
        assert!(s.interactive && s.tty && s.rm);
        assert_eq!(s.name.as_deref(), Some("x"));
        assert_eq!(s.image, "img");
        assert_eq!(s.command, ["sh", "-c", "--rm"]);
    }

    #[test]
    fn value_forms() {
        let s = p(&[
            "-eA=1",
            "-e",
            "B=2",
            "-e=C=3",
            "--env=D=4",
            "--env",
            "E=5",
            "img",
        ]);
        assert_eq!(s.env, ["A=1", "B=2", "C=3", "D=4", "E=5"]);
        let s = p(&["-ite", "X=1", "img"]);
        assert!(s.interactive && s.tty);
        assert_eq!(s.env, ["X=1"]);
        assert_eq!(
            p(&["-w", "/a", "-w", "/b", "img"]).workdir.as_deref(),
            Some("/b")
        );
        assert_eq!(p(&["--entrypoint=", "img"]).entrypoint.as_deref(), Some(""));
    }

    #[test]
    fn booleans() {
        assert!(!p(&["--sig-proxy=false", "img"]).sig_proxy);
        assert!(!p(&["-t=false", "img"]).tty);
        assert!(p(&["--tty=1", "img"]).tty);
        // A bool never takes the next word: `false` is the image.
        assert_eq!(p(&["--rm", "false"]).image, "false");
        assert_eq!(
            err(&["--rm=maybe", "img"]),
            r#"invalid argument "maybe" for "--rm" flag: strconv.ParseBool: parsing "maybe": invalid syntax"#
        );
    }

    #[test]
    fn double_dash_and_errors() {
        assert_eq!(p(&["--", "-img", "x"]).image, "-img");
        assert_eq!(err(&["-z", "img"]), "unknown shorthand flag: 'z' in -z");
        assert_eq!(err(&["-iz", "img"]), "unknown shorthand flag: 'z' in -iz");
        assert_eq!(err(&["--nope", "img"]), "unknown flag: --nope");
        assert_eq!(err(&["--name"]), "flag needs an argument: --name");
        assert_eq!(err(&["-e"]), "flag needs an argument: 'e' in -e");
        assert_eq!(err(&["-it"]), "\"docker run\" requires at least 1 argument");
        assert_eq!(err(&[]), "\"docker run\" requires at least 1 argument");
    }

    #[test]
    fn render_round_trips() {
        for args in [
            &[
                "-it",
                "--rm",
                "-e",
                "A=b c",
                "--sig-proxy=false",
                "img",
                "sh",
                "-c",
                "echo 'x'",
            ][..],
            &["--entrypoint=", "-u", "1:1", "--", "-weird"][..],
            &["-a", "stdout", "-l", "k", "--pull", "never", "img"][..],
        ] {
            let spec = p(args);
            assert_eq!(parse(&render(&spec)).unwrap(), spec);
        }
        let line = render_command_line(&p(&["-e", "A=b c", "img", "it's"]));
        assert_eq!(line, r#"docker run '--env=A=b c' img 'it'\''s'"#);
    }

    #[test]
    fn short_flags_aliases_and_bools() {
        let s = p(&[
            "-m512m", "-c", "2", "-p", "80:80", "-P", "-v", "/a:/b", "-q", "img",
        ]);
        assert_eq!(s.memory.as_deref(), Some("512m"));
        assert_eq!(s.cpu_shares.as_deref(), Some("2"));
        assert_eq!(s.publish, ["80:80"]);
        assert!(s.publish_all && s.quiet);
        assert_eq!(s.volume, ["/a:/b"]);
        let s = p(&[
            "--net",
            "n1",
            "--network=n2",
            "--net-alias",
            "a",
            "--dns-opt",
            "x",
            "--dns-option=y",
            "img",
        ]);
        assert_eq!(s.network, ["n1", "n2"]);
        assert_eq!(s.network_alias, ["a"]);
        assert_eq!(s.dns_option, ["x", "y"]);
        // `--init` is tri-state: absent, true, or an explicit false the CLI sends.
        assert_eq!(p(&["img"]).init, None);
        assert_eq!(p(&["--init", "img"]).init, Some(true));
        assert_eq!(p(&["--init=false", "img"]).init, Some(false));
        // Booleans never take the next word.
        let s = p(&[
            "--privileged",
            "--read-only",
            "--no-healthcheck",
            "--oom-kill-disable",
            "img",
            "x",
        ]);
        assert!(s.privileged && s.read_only && s.no_healthcheck && s.oom_kill_disable);
        assert_eq!(s.image, "img");
    }

    #[test]
    fn refused_flags() {
        assert_eq!(
            err(&["--env-file", "x.env", "img"]),
            "--env-file reads a file on the gateway host, which Berth never does; pass the variables with -e, or as env in the structured spec"
        );
        assert!(
            err(&["--label-file=l", "img"])
                .starts_with("--label-file reads a file on the gateway host")
        );
        assert!(
            err(&["--cidfile", "/tmp/id", "img"])
                .starts_with("--cidfile writes a file on the gateway host")
        );
        assert!(err(&["--use-api-socket", "img"]).starts_with("--use-api-socket would give"));
        assert_eq!(
            err(&["--cpu-count", "2", "img"]),
            r#""--cpu-count" is only supported on a Docker daemon running on windows, but the Docker daemon is running on linux"#
        );
    }

    #[test]
    fn every_flag_round_trips() {
        let mut args: Vec<String> = Vec::new();
        for flag in FLAGS.iter().filter(|f| !f.alias) {
            match flag.field {
                Field::Bool(_) => args.push(format!("--{}=true", flag.long)),
                Field::OptBool(_) => args.push(format!("--{}=false", flag.long)),
                Field::Value(_) => args.extend([format!("--{}", flag.long), "v a'l".into()]),
                Field::List(_) => {
                    args.extend([format!("--{}=x", flag.long), format!("--{}=y,z", flag.long)])
                }
                Field::Refused(..) => {}
            }
        }
        args.extend(["--sig-proxy=false".into(), "img".into(), "--rm".into()]);
        let spec = parse(&args).unwrap();
        assert!(!spec.sig_proxy && spec.tty && spec.init == Some(false));
        assert_eq!(spec.ulimit, ["x", "y,z"]);
        assert_eq!(spec.command, ["--rm"]);
        assert_eq!(parse(&render(&spec)).unwrap(), spec);
        // The JSON form round-trips too.
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<RunSpec>(&json).unwrap(), spec);
        assert_eq!(flag_display("memory"), "-m, --memory");
        assert_eq!(flag_display("shm-size"), "--shm-size");
    }
}
