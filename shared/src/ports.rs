//! `-p/--publish` and `--expose`: the go-connections `nat` port grammar
//! `[ip:][host[-end]:]container[-end][/proto]`, the long form `published=,target=,protocol=`,
//! and `--expose` ranges.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use bollard_stubs::models::PortBinding;

/// ExposedPorts and PortBindings, keyed `80/tcp`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Ports {
    pub exposed: BTreeSet<String>,
    pub bindings: BTreeMap<String, Vec<PortBinding>>,
}

/// `convertToStandardNotation`: `published=8080,target=80,protocol=udp` → `8080:80/udp`.
fn standard_notation(publish: &str) -> Result<String, String> {
    if !publish.contains('=') {
        return Ok(publish.to_string());
    }
    let mut params = BTreeMap::from([("protocol", "tcp")]);
    for param in publish.split(',') {
        match param.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                params.insert(k, v);
            }
            _ => {
                return Err(format!(
                    "invalid publish opts format (should be name=value but got '{param}')"
                ));
            }
        }
    }
    let get = |k| params.get(k).copied().unwrap_or("");
    Ok(format!(
        "{}:{}/{}",
        get("published"),
        get("target"),
        get("protocol")
    ))
}

/// nat's `parsePortNumber`.
fn port_number(raw: &str) -> Result<u32, String> {
    if raw.is_empty() {
        return Err("value is empty".to_string());
    }
    // The v28 CLI's go-connections parses with `strconv.ParseUint`, which takes no sign.
    if raw.starts_with(['+', '-']) {
        return Err("invalid syntax".to_string());
    }
    let n: i64 = raw.parse().map_err(|_| {
        if raw
            .trim_start_matches(['-', '+'])
            .chars()
            .all(|c| c.is_ascii_digit())
        {
            "value out of range".to_string()
        } else {
            "invalid syntax".to_string()
        }
    })?;
    if !(0..=65535).contains(&n) {
        return Err("value out of range (0–65535)".to_string());
    }
    Ok(n as u32)
}

/// nat's `parsePortRange`: `80` or `8000-8010`.
fn port_range(ports: &str) -> Result<(u32, u32), String> {
    if ports.is_empty() {
        return Err("empty string specified for ports".to_string());
    }
    let (start, end) = match ports.split_once('-') {
        Some((s, e)) => (s, Some(e)),
        None => (ports, None),
    };
    let s = port_number(start).map_err(|e| format!("invalid start port '{start}': {e}"))?;
    let Some(end) = end.filter(|e| *e != start) else {
        return Ok((s, s));
    };
    let e = port_number(end).map_err(|e| format!("invalid end port '{end}': {e}"))?;
    if e < s {
        return Err(format!("invalid port range: {ports}"));
    }
    Ok((s, e))
}

/// nat's `splitParts`: everything before the last two colons is the IP (so bare IPv6 works).
fn split_parts(raw: &str) -> (String, &str, &str) {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    }
}

/// nat's `ParsePortSpec`: one `-p` value to (port key, binding) pairs.
fn port_spec(raw: &str) -> Result<Vec<(String, PortBinding)>, String> {
    let (mut ip, host_port, container) = split_parts(raw);
    let (container_port, proto) = match container.split_once('/') {
        Some((p, proto)) => (p, if proto.is_empty() { "tcp" } else { proto }),
        None => (container, "tcp"),
    };
    if container_port.is_empty() {
        return Err(format!("no port specified: {raw}<empty>"));
    }
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    if let Some(inner) = ip.strip_prefix('[') {
        match inner.strip_suffix(']') {
            Some(addr) if !addr.contains(['[', ']']) => ip = addr.to_string(),
            _ => {
                return Err(format!(
                    "invalid IP address {ip}: address {ip}:: missing ']' in address"
                ));
            }
        }
    }
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    let (start, end) = port_range(container_port)
        .map_err(|_| format!("invalid containerPort: {container_port}"))?;
    let (host_start, host_end) = if host_port.is_empty() {
        (0, 0)
    } else {
        let range = port_range(host_port).map_err(|_| format!("invalid hostPort: {host_port}"))?;
        if end - start != range.1 - range.0 && end != start {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {container_port} and {host_port}"
            ));
        }
        range
    };
    let count = end - start + 1;
    Ok((0..count)
        .map(|i| {
            let mut host = String::new();
            if !host_port.is_empty() {
                host = (host_start + i).to_string();
                // One container port published on a host range: the daemon picks from the range.
                if count == 1 && host_start != host_end {
                    host = format!("{host}-{host_end}");
                }
            }
            let binding = PortBinding {
                host_ip: Some(ip.clone()),
                host_port: Some(host),
            };
            (format!("{}/{proto}", start + i), binding)
        })
        .collect())
}

/// `--expose` (`network.ParsePortRange`): `80`, `8080-8082/tcp`; any protocol name is kept.
fn expose_range(value: &str) -> Result<Vec<String>, String> {
    let wrap = |e: String| format!("invalid range format for --expose: {e}");
    if value.is_empty() {
        return Err(wrap("invalid port range: value is empty".to_string()));
    }
    let (range, proto) = value.split_once('/').unwrap_or((value, ""));
    let proto = if proto.is_empty() {
        "tcp".to_string()
    } else {
        proto.to_ascii_lowercase()
    };
    let number = |s: &str| -> Result<u32, String> {
        if s.is_empty() {
            return Err("value is empty".to_string());
        }
        if !s.chars().all(|c| c.is_ascii_digit()) {
            return Err("invalid syntax".to_string());
        }
        s.parse::<u16>()
            .map(u32::from)
            .map_err(|_| "value out of range".to_string())
    };
    let (start, end) = range
        .split_once('-')
        .map_or((range, None), |(s, e)| (s, Some(e)));
    let s = number(start).map_err(|e| wrap(format!("invalid start port '{start}': {e}")))?;
    let e = match end.filter(|e| *e != start) {
        None => s,
        Some(end) => number(end).map_err(|e| wrap(format!("invalid end port '{end}': {e}")))?,
    };
    if e < s {
        return Err(wrap(format!("invalid port range: {value}")));
    }
    Ok((s..=e).map(|p| format!("{p}/{proto}")).collect())
}

/// All `-p` and `--expose` values: published ports are exposed too.
pub fn parse(publish: &[String], expose: &[String]) -> Result<Ports, String> {
    let mut ports = Ports::default();
    for p in publish {
        for (port, binding) in port_spec(&standard_notation(p)?)? {
            ports.exposed.insert(port.clone());
            ports.bindings.entry(port).or_default().push(binding);
        }
    }
    for e in expose {
        ports.exposed.extend(expose_range(e)?);
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }
    fn bindings(p: &Ports, port: &str) -> Vec<(String, String)> {
        p.bindings[port]
            .iter()
            .map(|b| (b.host_ip.clone().unwrap(), b.host_port.clone().unwrap()))
            .collect()
    }
    fn b(ip: &str, port: &str) -> (String, String) {
        (ip.to_string(), port.to_string())
    }

    #[test]
    fn publish_forms() {
        let p = parse(&s(&["8080:80"]), &[]).unwrap();
        assert_eq!(p.exposed, BTreeSet::from(["80/tcp".to_string()]));
        assert_eq!(bindings(&p, "80/tcp"), [b("", "8080")]);

        let p = parse(&s(&["[::1]:8080:80/UDP", "127.0.0.1::53/udp", "90"]), &[]).unwrap();
        assert_eq!(bindings(&p, "80/udp"), [b("::1", "8080")]);
        assert_eq!(bindings(&p, "53/udp"), [b("127.0.0.1", "")]);
        assert_eq!(bindings(&p, "90/tcp"), [b("", "")]);

        let p = parse(&s(&["::1:8080:80"]), &[]).unwrap();
        assert_eq!(bindings(&p, "80/tcp"), [b("::1", "8080")]);

        let p = parse(&s(&["9000-9001:90-91/sctp", "8000-8010:80"]), &[]).unwrap();
        assert_eq!(bindings(&p, "90/sctp"), [b("", "9000")]);
        assert_eq!(bindings(&p, "91/sctp"), [b("", "9001")]);
        assert_eq!(bindings(&p, "80/tcp"), [b("", "8000-8010")]);

        let p = parse(
            &s(&["published=8080,target=80,protocol=udp", "target=81"]),
            &[],
        )
        .unwrap();
        assert_eq!(bindings(&p, "80/udp"), [b("", "8080")]);
        assert_eq!(bindings(&p, "81/tcp"), [b("", "")]);

        let p = parse(&s(&["80:80", "81:80"]), &[]).unwrap();
        assert_eq!(bindings(&p, "80/tcp"), [b("", "80"), b("", "81")]);
    }

    #[test]
    fn publish_errors() {
        let err = |v: &str| parse(&s(&[v]), &[]).unwrap_err();
        assert_eq!(
            err("published=1500,target:444"),
            "invalid publish opts format (should be name=value but got 'target:444')"
        );
        assert_eq!(err("80:80/foo"), "invalid proto: foo");
        assert_eq!(err("1.2.3:80:80"), "invalid IP address: 1.2.3");
        assert_eq!(err("a:80"), "invalid hostPort: a");
        assert_eq!(err("80:x"), "invalid containerPort: x");
        assert_eq!(err("8080:"), "no port specified: 8080:<empty>");
        assert_eq!(
            err("80-81:90-93"),
            "invalid ranges specified for container and host Ports: 90-93 and 80-81"
        );
    }

    #[test]
    fn expose() {
        let p = parse(&[], &s(&["8080-8082/tcp", "8080/ncp"])).unwrap();
        assert_eq!(p.exposed.len(), 4);
        assert!(p.exposed.contains("8082/tcp") && p.exposed.contains("8080/ncp"));
        assert!(p.bindings.is_empty());
        // `--publish=80 --expose=80-81/tcp` ⇒ exactly {80/tcp, 81/tcp}.
        let p = parse(&s(&["80"]), &s(&["80-81/tcp"])).unwrap();
        assert_eq!(
            p.exposed,
            BTreeSet::from(["80/tcp".to_string(), "81/tcp".to_string()])
        );
        let err = |v: &str| parse(&[], &s(&[v])).unwrap_err();
        assert_eq!(
            err("8080:9090"),
            "invalid range format for --expose: invalid start port '8080:9090': invalid syntax"
        );
        assert_eq!(
            err("/tcp"),
            "invalid range format for --expose: invalid start port '': value is empty"
        );
        assert_eq!(
            err("1234567890-8080/tcp"),
            "invalid range format for --expose: invalid start port '1234567890': value out of range"
        );
        assert_eq!(
            err("90-80"),
            "invalid range format for --expose: invalid port range: 90-80"
        );
    }

    #[test]
    fn a_signed_port_is_refused_as_by_the_v28_cli() {
        // Found by the fuzz corpus: Rust's integer parsing takes a '+', Go's ParseUint not.
        assert_eq!(
            parse(&["+1:80".into()], &[]).unwrap_err(),
            "invalid hostPort: +1"
        );
        assert_eq!(
            parse(&["80:+81".into()], &[]).unwrap_err(),
            "invalid containerPort: +81"
        );
        assert!(parse(&["1-+3:1-3".into()], &[]).is_err());
        assert!(parse(&[], &["+90".into()]).is_err());
    }
}
