//! What the container may do on its host: capabilities, security options and the namespaces it
//! shares.

use std::collections::BTreeSet;

use super::{PlanError, non_empty, some_if};
use crate::spec::RunSpec;
use crate::units;

/// `client.normalizeCapabilities`: upper-case, `CAP_` prefix (except `ALL`), deduped, sorted.
pub(super) fn capabilities(caps: &[String]) -> Option<Vec<String>> {
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
pub(super) fn security_opts(values: &[String]) -> Result<(Option<Vec<String>>, bool), PlanError> {
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
pub(super) fn namespaces(spec: &RunSpec) -> Result<(), PlanError> {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::plan::tests::{host, plan};

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
}
