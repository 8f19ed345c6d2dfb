//! Resource-limit grammars: `--ulimit`, `--device-{read,write}-{bps,iops}`,
//! `--blkio-weight-device`, `--gpus`, `--device-cgroup-rule` and `--sysctl`, with the docker
//! CLI's validation and messages (cli `opts` package, go-units `ParseUlimit`).

use std::collections::{BTreeMap, HashMap};

use bollard_stubs::models::{
    DeviceRequest, ResourcesBlkioWeightDevice, ResourcesUlimits, ThrottleDevice,
};

use crate::units;

const ULIMIT_NAMES: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// Go's `strconv.ParseInt(s, 10, 64)` error text, as go-units returns it.
fn int10(s: &str) -> Result<i64, String> {
    let syntax = || {
        format!(
            "strconv.ParseInt: parsing {}: invalid syntax",
            units::go_quote(s)
        )
    };
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax());
    }
    s.parse().map_err(|_| {
        format!(
            "strconv.ParseInt: parsing {}: value out of range",
            units::go_quote(s)
        )
    })
}

/// `--ulimit name=soft[:hard]`; repeating a name replaces it; the list is sorted by name.
pub fn ulimits(values: &[String]) -> Result<Vec<ResourcesUlimits>, (String, String)> {
    let mut by_name = BTreeMap::new();
    for v in values {
        let fail = |e: String| (v.clone(), e);
        let (name, limits) = v
            .split_once('=')
            .ok_or_else(|| fail(format!("invalid ulimit argument: {v}")))?;
        if !ULIMIT_NAMES.contains(&name) {
            return Err(fail(format!("invalid ulimit type: {name}")));
        }
        let parts: Vec<&str> = limits.split(':').collect();
        let (soft, hard) = match parts[..] {
            [soft] => {
                let s = int10(soft).map_err(fail)?;
                (s, s)
            }
            [soft, hard] => {
                let h = int10(hard).map_err(fail)?;
                (int10(soft).map_err(fail)?, h)
            }
            _ => {
                return Err(fail(format!(
                    "too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
                )));
            }
        };
        if hard != -1 {
            if soft == -1 {
                return Err(fail(format!(
                    "ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: {hard}"
                )));
            }
            if soft > hard {
                return Err(fail(format!(
                    "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
                )));
            }
        }
        by_name.insert(name.to_string(), (soft, hard));
    }
    Ok(by_name
        .into_iter()
        .map(|(name, (soft, hard))| ResourcesUlimits {
            name: Some(name),
            soft: Some(soft),
            hard: Some(hard),
        })
        .collect())
}

fn device_path(val: &str) -> Result<(&str, &str), String> {
    let (k, v) = val
        .split_once(':')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("bad format: {val}"))?;
    if !k.starts_with("/dev/") {
        return Err(format!("bad format for device path: {val}"));
    }
    Ok((k, v))
}

/// `--device-read-bps`/`--device-write-bps`: `/dev/sda:1mb`.
pub fn throttle_bps(val: &str) -> Result<ThrottleDevice, String> {
    let (path, rate) = device_path(val)?;
    let rate = units::ram_in_bytes(rate).map_err(|_| {
        format!(
            "invalid rate for device: {val}. The correct format is <device-path>:<number>[<unit>]. \
             Number must be a positive integer. Unit is optional and can be kb, mb, or gb"
        )
    })?;
    Ok(ThrottleDevice {
        path: Some(path.to_string()),
        rate: Some(rate),
    })
}

/// `--device-read-iops`/`--device-write-iops`: `/dev/sda:1000`.
pub fn throttle_iops(val: &str) -> Result<ThrottleDevice, String> {
    let (path, rate) = device_path(val)?;
    // `strconv.ParseUint`: digits only (Rust's parsing would take a '+').
    let rate: i64 = Some(rate)
        .filter(|r| r.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|r| r.parse::<u64>().ok())
        .and_then(|r| i64::try_from(r).ok())
        .ok_or_else(|| {
            format!(
                "invalid rate for device: {val}. The correct format is <device-path>:<number>. \
                 Number must be a positive integer"
            )
        })?;
    Ok(ThrottleDevice {
        path: Some(path.to_string()),
        rate: Some(rate),
    })
}

/// `--blkio-weight-device`: `/dev/sda:300` (10 to 1000, or 0).
pub fn weight_device(val: &str) -> Result<ResourcesBlkioWeightDevice, String> {
    let (path, weight) = device_path(val)?;
    let weight: u16 = Some(weight)
        .filter(|w| w.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| format!("invalid weight for device: {val}"))?;
    if weight > 0 && !(10..=1000).contains(&weight) {
        return Err(format!("invalid weight for device: {val}"));
    }
    Ok(ResourcesBlkioWeightDevice {
        path: Some(path.to_string()),
        weight: Some(usize::from(weight)),
    })
}

fn gpu_count(s: &str) -> Result<i64, String> {
    if s == "all" {
        return Ok(-1);
    }
    units::parse_int(s, 64).map_err(|e| {
        let why = e.rsplit(": ").next().unwrap_or_default().to_string();
        format!(r#"invalid count ({s}): value must be either "all" or an integer: {why}"#)
    })
}

/// One `--gpus` value (cli `opts.GpuOpts`): `all`, `2`, or CSV of
/// `count=,driver=,device=,capabilities=,options=`.
pub fn gpus(value: &str) -> Result<DeviceRequest, String> {
    let mut req = DeviceRequest {
        driver: Some(String::new()),
        count: Some(0),
        ..Default::default()
    };
    let mut seen = Vec::new();
    for field in crate::csv::fields(value)? {
        let (key, val) = field
            .split_once('=')
            .map_or((field.as_str(), None), |(k, v)| (k, Some(v)));
        if seen.contains(&key.to_string()) {
            return Err(format!(
                "gpu request key '{key}' can be specified only once"
            ));
        }
        seen.push(key.to_string());
        let Some(val) = val else {
            seen.push("count".to_string());
            req.count = Some(gpu_count(key)?);
            continue;
        };
        match key {
            "driver" => req.driver = Some(val.to_string()),
            "count" => req.count = Some(gpu_count(val)?),
            "device" => req.device_ids = Some(val.split(',').map(str::to_string).collect()),
            "capabilities" => {
                let mut caps: Vec<String> = val.split(',').map(str::to_string).collect();
                caps.push("gpu".to_string());
                req.capabilities = Some(vec![caps]);
            }
            "options" => {
                let opts = crate::csv::fields(val)
                    .map_err(|e| format!("failed to read gpu options: {e}"))?;
                req.options = Some(kv_map(&opts));
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if !seen.iter().any(|k| k == "count") && req.device_ids.is_none() {
        req.count = Some(1);
    }
    req.options.get_or_insert_default();
    req.capabilities
        .get_or_insert_with(|| vec![vec!["gpu".to_string()]]);
    Ok(req)
}

/// `opts.ConvertKVStringsToMap`: `k=v` → k:v, a bare `k` → k:"".
pub fn kv_map(values: &[String]) -> HashMap<String, String> {
    values
        .iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// `--device-cgroup-rule`: `^[acb] ([0-9]+|\*):([0-9]+|\*) [rwm]{1,3}$`.
pub fn device_cgroup_rule(val: &str) -> Result<(), String> {
    let number = |s: &str| s == "*" || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    let ok = match val.split(' ').collect::<Vec<_>>()[..] {
        [kind, numbers, mode] => {
            matches!(kind, "a" | "b" | "c")
                && numbers
                    .split_once(':')
                    .is_some_and(|(a, b)| number(a) && number(b))
                && (1..=3).contains(&mode.len())
                && mode.bytes().all(|b| b"rwm".contains(&b))
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("invalid device cgroup format '{val}'"))
    }
}

/// `--sysctl` (`opts.ValidateSysctl`): the namespaced sysctls the CLI allows.
pub fn sysctl(val: &str) -> Result<(), String> {
    const ALLOWED: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    match val.split_once('=') {
        Some((k, _))
            if !k.is_empty()
                && (ALLOWED.contains(&k)
                    || k.starts_with("net.")
                    || k.starts_with("fs.mqueue.")) =>
        {
            Ok(())
        }
        _ => Err(format!("sysctl '{val}' is not allowed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ulimit_grammar() {
        let u = ulimits(&s(&["nofile=1024:2048", "core=0", "nproc=10", "nproc=-1"])).unwrap();
        let got: Vec<_> = u
            .iter()
            .map(|u| (u.name.clone().unwrap(), u.soft.unwrap(), u.hard.unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("core".into(), 0, 0),
                ("nofile".into(), 1024, 2048),
                ("nproc".into(), -1, -1)
            ]
        );
        let err = |v: &str| ulimits(&s(&[v])).unwrap_err().1;
        assert_eq!(err("nofile"), "invalid ulimit argument: nofile");
        assert_eq!(err("foo=1"), "invalid ulimit type: foo");
        assert_eq!(
            err("nofile=a"),
            r#"strconv.ParseInt: parsing "a": invalid syntax"#
        );
        assert_eq!(
            err("nofile=2:1"),
            "ulimit soft limit must be less than or equal to hard limit: 2 > 1"
        );
        assert_eq!(
            err("nofile=1:2:3"),
            "too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`"
        );
        assert_eq!(
            err("nofile=-1:10"),
            "ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: 10"
        );
    }

    #[test]
    fn block_io() {
        assert_eq!(throttle_bps("/dev/sda:1mb").unwrap().rate, Some(1048576));
        assert_eq!(throttle_iops("/dev/sda:1000").unwrap().rate, Some(1000));
        assert!(
            throttle_bps("/dev/sda:x")
                .unwrap_err()
                .starts_with("invalid rate for device: /dev/sda:x. The correct format")
        );
        assert_eq!(
            throttle_bps("sda:1").unwrap_err(),
            "bad format for device path: sda:1"
        );
        assert_eq!(
            throttle_iops("/dev/sda").unwrap_err(),
            "bad format: /dev/sda"
        );
        assert_eq!(weight_device("/dev/sda:300").unwrap().weight, Some(300));
        assert_eq!(
            weight_device("/dev/sda:5").unwrap_err(),
            "invalid weight for device: /dev/sda:5"
        );
    }

    #[test]
    fn gpu_requests() {
        let j = |v: &str| serde_json::to_value(gpus(v).unwrap()).unwrap();
        assert_eq!(
            j("all"),
            serde_json::json!({"Driver":"","Count":-1,"Capabilities":[["gpu"]],"Options":{}})
        );
        assert_eq!(
            j(r#"driver=nvidia,"device=0,1",capabilities=compute,options=a=b"#),
            serde_json::json!({"Driver":"nvidia","Count":0,"DeviceIDs":["0","1"],"Capabilities":[["compute","gpu"]],"Options":{"a":"b"}})
        );
        assert_eq!(j("count=2")["Count"], 2);
        assert_eq!(
            gpus("foo").unwrap_err(),
            r#"invalid count (foo): value must be either "all" or an integer: invalid syntax"#
        );
        assert_eq!(
            gpus("count=1,count=2").unwrap_err(),
            "gpu request key 'count' can be specified only once"
        );
        assert_eq!(gpus("x=1").unwrap_err(), "unexpected key 'x' in 'x=1'");
    }

    #[test]
    fn rules_and_sysctls() {
        assert!(device_cgroup_rule("c 1:3 rwm").is_ok() && device_cgroup_rule("a *:* r").is_ok());
        assert_eq!(
            device_cgroup_rule("x").unwrap_err(),
            "invalid device cgroup format 'x'"
        );
        assert!(sysctl("net.ipv4.ip_forward=1").is_ok() && sysctl("kernel.shmmax=1").is_ok());
        assert_eq!(
            sysctl("kernel.foo=1").unwrap_err(),
            "sysctl 'kernel.foo=1' is not allowed"
        );
        assert_eq!(
            sysctl("net.x").unwrap_err(),
            "sysctl 'net.x' is not allowed"
        );
    }

    #[test]
    fn signed_device_numbers_are_refused_as_by_the_cli() {
        assert_eq!(
            throttle_iops("/dev/null:+5").unwrap_err(),
            "invalid rate for device: /dev/null:+5. The correct format is <device-path>:<number>. \
             Number must be a positive integer"
        );
        assert_eq!(throttle_iops("/dev/null:5").unwrap().rate, Some(5));
        assert_eq!(
            weight_device("/dev/null:+300").unwrap_err(),
            "invalid weight for device: /dev/null:+300"
        );
        assert_eq!(weight_device("/dev/null:300").unwrap().weight, Some(300));
    }
}
