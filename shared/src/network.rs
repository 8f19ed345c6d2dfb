//! Networking flags: `--network` (plain and advanced CSV form), `--network-alias`, `--ip`,
//! `--ip6`, `--mac-address`, `--link-local-ip`, `--link`, `--dns*` and `--add-host`, and the
//! NetworkingConfig the CLI derives from them (cli `parseNetworkOpts`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bollard_stubs::models::{EndpointIpamConfig, EndpointSettings};

use crate::units;

/// Go's `net.ParseIP(...).String()`: canonical form, IPv4-mapped IPv6 shown as IPv4.
pub fn canonical_ip(s: &str) -> Option<String> {
    match s.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Some(v4.to_string()),
            None => Some(v6.to_string()),
        },
        IpAddr::V4(v4) => Some(v4.to_string()),
    }
}

/// `net.ParseMAC`: 6, 8 or 20 octets as `xx:xx…`, `xx-xx…` or `xxxx.xxxx…`.
pub fn valid_mac(s: &str) -> bool {
    let hex = |p: &str, n: usize| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit());
    let octets = |groups: Vec<&str>, width: usize| {
        let n = groups.len() * width / 2;
        matches!(n, 6 | 8 | 20) && groups.iter().all(|g| hex(g, width))
    };
    if s.len() < 14 {
        return false;
    }
    match s.as_bytes()[2] {
        b':' => octets(s.split(':').collect(), 2),
        b'-' => octets(s.split('-').collect(), 2),
        _ if s.as_bytes()[4] == b'.' => octets(s.split('.').collect(), 4),
        _ => false,
    }
}

/// `--dns-search` (`opts.ValidateDNSSearch`), returning the cleaned domain.
pub fn dns_search(value: &str) -> Result<String, String> {
    let v = value.trim_matches(' ');
    if v == "." {
        return Ok(v.to_string());
    }
    let bad = || format!("{v} is not a valid domain");
    if !v.chars().any(|c| c.is_ascii_alphabetic()) {
        return Err(bad());
    }
    // The CLI's regexp: dot-separated labels of [a-zA-Z0-9-] not starting or ending with '-'
    // (each optionally preceded by ':', an accident of its `(:?` groups), then `\.?\s*`.
    let body = v.trim_end_matches(char::is_whitespace);
    let body = body.strip_suffix('.').unwrap_or(body);
    let label_ok = |l: &str| {
        let l = l.strip_prefix(':').unwrap_or(l);
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if body.split('.').all(label_ok) && body.len() < 255 {
        Ok(body.to_string())
    } else {
        Err(bad())
    }
}

/// `--add-host` (`opts.ValidateExtraHost`): `host:ip` or `host=ip`, IPv6 possibly in
/// brackets, or `host-gateway`; sent as `host:ip`.
pub fn extra_host(value: &str) -> Result<String, String> {
    let (k, v) = value
        .split_once('=')
        .or_else(|| value.split_once(':'))
        .filter(|(k, _)| !k.is_empty() && !k.contains(':'))
        .ok_or_else(|| format!("bad format for add-host: {}", units::go_quote(value)))?;
    let mut v = v;
    if v != "host-gateway" {
        if v.len() > 2 && v.starts_with('[') && v.ends_with(']') {
            v = &v[1..v.len() - 1];
        }
        if canonical_ip(v.trim()).is_none() {
            return Err(format!(
                "invalid IP address in add-host: {}",
                units::go_quote(v)
            ));
        }
    }
    Ok(format!("{k}:{v}"))
}

/// `--link` (`opts.ValidateLink`): `name[:alias]`.
pub fn validate_link(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("empty string specified for links".to_string());
    }
    if value.splitn(3, ':').count() > 2 {
        return Err(format!("bad format for links: {value}"));
    }
    Ok(())
}

/// One `--network` value (cli `opts.NetworkAttachmentOpts`).
#[derive(Debug, Default, Clone, PartialEq)]
struct Attachment {
    target: String,
    aliases: Vec<String>,
    driver_opts: HashMap<String, String>,
    links: Vec<String>,
    ipv4: Option<String>,
    ipv6: Option<String>,
    link_local_ips: Vec<String>,
    mac_address: String,
    gw_priority: i64,
}

/// The CLI picks the advanced form when `\w+=\w+` occurs anywhere in the value.
fn is_long_syntax(value: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    value.char_indices().any(|(i, c)| {
        c == '='
            && value[..i].chars().next_back().is_some_and(word)
            && value[i + 1..].chars().next().is_some_and(word)
    })
}

fn parse_addr(v: &str) -> Result<String, String> {
    v.parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| format!("ParseAddr({}): unable to parse IP", units::go_quote(v)))
}

fn attachment(value: &str) -> Result<Attachment, String> {
    if !is_long_syntax(value) {
        return Ok(Attachment {
            target: value.to_string(),
            ..Default::default()
        });
    }
    let mut a = Attachment::default();
    for field in crate::csv::fields(value)? {
        let lower = field.to_lowercase();
        let (key, val) = lower
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| format!("invalid field {field}"))?;
        let (key, val) = (key.trim(), val.trim());
        match key {
            "name" => a.target = val.to_string(),
            "alias" => a.aliases.push(val.to_string()),
            "ip" => a.ipv4 = Some(parse_addr(val)?),
            "ip6" => a.ipv6 = Some(parse_addr(val)?),
            "mac-address" => a.mac_address = val.to_string(),
            "link-local-ip" => a.link_local_ips.push(parse_addr(val)?),
            "driver-opt" => {
                let (k, v) = val
                    .split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or("invalid key value pair format in driver options")?;
                a.driver_opts
                    .insert(k.trim().to_string(), v.trim().to_string());
            }
            "gw-priority" => {
                a.gw_priority = units::parse_int(val, 64).map_err(|e| {
                    let why = e.rsplit(": ").next().unwrap_or_default().to_string();
                    format!("invalid gw-priority ({val}): {why}")
                })?;
            }
            _ => return Err(format!("invalid field key {key}")),
        }
    }
    if a.target.is_empty() {
        return Err("network name/id is not specified".to_string());
    }
    Ok(a)
}

/// Checks every `--network` value, as pflag does when the flag is set.
pub fn validate_network(value: &str) -> Result<(), String> {
    attachment(value).map(drop)
}

/// `container.NetworkMode(n).IsUserDefined()`.
pub fn is_user_defined(mode: &str) -> bool {
    !matches!(mode, "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

/// The legacy single-network flags, applied to the first network.
#[derive(Debug, Default)]
pub struct Legacy<'a> {
    pub aliases: &'a [String],
    pub links: &'a [String],
    pub ip: Option<&'a str>,
    pub ip6: Option<&'a str>,
    pub mac_address: Option<&'a str>,
    pub link_local_ips: &'a [String],
}

/// `--ip`/`--ip6` (pflag `IP` flags).
pub fn flag_ip(value: &str) -> Result<IpAddr, String> {
    value
        .trim()
        .parse::<IpAddr>()
        .map_err(|_| format!("invalid string being converted to IP address: {value}"))
}

fn apply_legacy(n: &mut Attachment, legacy: &Legacy) -> Result<(), String> {
    let conflict = |what: &str| Err(format!("conflicting options: cannot specify both {what}"));
    if !n.aliases.is_empty() && !legacy.aliases.is_empty() {
        return conflict("--network-alias and per-network alias");
    }
    if !n.links.is_empty() && !legacy.links.is_empty() {
        return conflict("--link and per-network links");
    }
    if n.ipv4.is_some() && legacy.ip.is_some() {
        return conflict("--ip and per-network IPv4 address");
    }
    if n.ipv6.is_some() && legacy.ip6.is_some() {
        return conflict("--ip6 and per-network IPv6 address");
    }
    if !n.mac_address.is_empty() && legacy.mac_address.is_some() {
        return conflict("--mac-address and per-network MAC address");
    }
    if !n.link_local_ips.is_empty() && !legacy.link_local_ips.is_empty() {
        return conflict("--link-local-ip and per-network link-local IP addresses");
    }
    if !legacy.aliases.is_empty() {
        n.aliases = legacy.aliases.to_vec();
    }
    // On a user-defined network a link is an endpoint option; on the default bridge it is a
    // legacy link (HostConfig.Links only).
    if is_user_defined(&n.target) && !legacy.links.is_empty() {
        n.links = legacy.links.to_vec();
    }
    if let Some(ip) = legacy.ip {
        // The CLI keeps --ip only when it is an IPv4 address (`ip.To4()`).
        match flag_ip(ip)? {
            IpAddr::V4(v4) => n.ipv4 = Some(v4.to_string()),
            IpAddr::V6(v6) => n.ipv4 = v6.to_ipv4_mapped().map(|v4: Ipv4Addr| v4.to_string()),
        }
    }
    if let Some(ip) = legacy.ip6 {
        let v6: Ipv6Addr = match flag_ip(ip)? {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        n.ipv6 = Some(v6.to_string());
    }
    if let Some(mac) = legacy.mac_address {
        n.mac_address = mac.to_string();
    }
    if !legacy.link_local_ips.is_empty() {
        n.link_local_ips = legacy.link_local_ips.to_vec();
    }
    Ok(())
}

fn endpoint(a: &Attachment) -> Result<EndpointSettings, String> {
    if a.target.trim().is_empty() {
        return Err("no name set for network".to_string());
    }
    if !is_user_defined(&a.target) {
        if !a.aliases.is_empty() {
            return Err(
                "network-scoped aliases are only supported for user-defined networks".to_string(),
            );
        }
        if !a.links.is_empty() {
            return Err("links are only supported for user-defined networks".to_string());
        }
    }
    let mut ep = EndpointSettings::default();
    if a.gw_priority != 0 {
        ep.gw_priority = Some(a.gw_priority);
    }
    if !a.aliases.is_empty() {
        ep.aliases = Some(a.aliases.clone());
    }
    if !a.driver_opts.is_empty() {
        ep.driver_opts = Some(a.driver_opts.clone());
    }
    if !a.links.is_empty() {
        ep.links = Some(a.links.clone());
    }
    if a.ipv4.is_some() || a.ipv6.is_some() || !a.link_local_ips.is_empty() {
        ep.ipam_config = Some(EndpointIpamConfig {
            ipv4_address: a.ipv4.clone(),
            ipv6_address: a.ipv6.clone(),
            link_local_ips: (!a.link_local_ips.is_empty()).then(|| a.link_local_ips.clone()),
        });
    }
    if !a.mac_address.is_empty() {
        if !valid_mac(a.mac_address.trim()) {
            return Err(format!("{} is not a valid mac address", a.mac_address));
        }
        ep.mac_address = Some(a.mac_address.clone());
    }
    Ok(ep)
}

/// NetworkMode and the EndpointsConfig for the `--network` values and the legacy flags.
pub fn networking(
    networks: &[String],
    legacy: &Legacy,
) -> Result<(String, HashMap<String, EndpointSettings>), String> {
    let mut endpoints = HashMap::new();
    let attachments = networks
        .iter()
        .map(|n| attachment(n))
        .collect::<Result<Vec<_>, _>>()?;
    if attachments.is_empty() {
        let mut n = Attachment {
            target: "default".to_string(),
            ..Default::default()
        };
        apply_legacy(&mut n, legacy)?;
        endpoints.insert("default".to_string(), endpoint(&n)?);
    }
    let (mut user_defined, mut other) = (false, false);
    let count = attachments.len();
    for (i, mut n) in attachments.into_iter().enumerate() {
        if is_user_defined(&n.target) {
            user_defined = true;
        } else {
            other = true;
        }
        if i == 0 {
            apply_legacy(&mut n, legacy)?;
        }
        let ep = endpoint(&n)?;
        if endpoints.contains_key(&n.target) {
            return Err(format!(
                "network {} is specified multiple times",
                units::go_quote(&n.target)
            ));
        }
        // A single network without options gets no endpoint entry (the daemon creates it).
        if i == 0 && count == 1 && ep == EndpointSettings::default() {
            continue;
        }
        endpoints.insert(n.target.clone(), ep);
    }
    if user_defined && other {
        return Err(
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
                .to_string(),
        );
    }
    let mode = networks.first().map_or("default".to_string(), |n| {
        attachment(n).map(|a| a.target).unwrap_or_default()
    });
    Ok((mode, endpoints))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }
    fn net(networks: &[&str], legacy: &Legacy) -> Result<(String, serde_json::Value), String> {
        let (mode, eps) = networking(&s(networks), legacy)?;
        Ok((mode, serde_json::to_value(eps).unwrap()))
    }
    use serde_json::json;

    #[test]
    fn endpoints_like_the_cli() {
        assert_eq!(
            net(&[], &Legacy::default()).unwrap(),
            ("default".into(), json!({"default":{}}))
        );
        assert_eq!(
            net(&["net1"], &Legacy::default()).unwrap(),
            ("net1".into(), json!({}))
        );
        assert_eq!(
            net(&["name=net1"], &Legacy::default()).unwrap(),
            ("net1".into(), json!({}))
        );
        assert_eq!(
            net(&["net1", "name=net2"], &Legacy::default()).unwrap(),
            ("net1".into(), json!({"net1":{}, "net2":{}}))
        );
        let links = s(&["a:b"]);
        // `--link a:b` on the default network: only HostConfig.Links.
        let legacy = Legacy {
            links: &links,
            ..Default::default()
        };
        assert_eq!(net(&[], &legacy).unwrap().1, json!({"default":{}}));
        assert_eq!(net(&["bridge"], &legacy).unwrap().1, json!({}));
        let links = s(&["a:b", "c:d"]);
        let legacy = Legacy {
            links: &links,
            ..Default::default()
        };
        assert_eq!(
            net(&["userdefnet", "bar"], &legacy).unwrap().1,
            json!({"userdefnet":{"Links":["a:b","c:d"]}, "bar":{}})
        );
        let (links, aliases) = (s(&["foo:bar"]), s(&["web1"]));
        let legacy = Legacy {
            links: &links,
            aliases: &aliases,
            ip: Some("172.20.88.22"),
            ..Default::default()
        };
        assert_eq!(
            net(&["name=net1"], &legacy).unwrap().1,
            json!({"net1":{"Links":["foo:bar"],"Aliases":["web1"],"IPAMConfig":{"IPv4Address":"172.20.88.22"}}})
        );
        let legacy = Legacy {
            mac_address: Some("02:42:ac:11:00:02"),
            ..Default::default()
        };
        assert_eq!(
            net(&[], &legacy).unwrap().1,
            json!({"default":{"MacAddress":"02:42:ac:11:00:02"}})
        );
        assert_eq!(
            net(&["name=n1,alias=a1,alias=a2,ip=10.1.2.3,ip6=2001:db8::33,mac-address=02:42:ac:11:00:02,link-local-ip=169.254.1.1,driver-opt=com.x=Y,gw-priority=5"], &Legacy::default()).unwrap().1,
            json!({"n1":{"Aliases":["a1","a2"],"DriverOpts":{"com.x":"y"},"GwPriority":5,
                "MacAddress":"02:42:ac:11:00:02",
                "IPAMConfig":{"IPv4Address":"10.1.2.3","IPv6Address":"2001:db8::33","LinkLocalIPs":["169.254.1.1"]}}})
        );
    }

    #[test]
    fn network_errors() {
        let err = |n: &[&str], l: &Legacy| net(n, l).unwrap_err();
        let none = Legacy::default();
        assert_eq!(
            err(&["duplicate", "name=duplicate"], &none),
            r#"network "duplicate" is specified multiple times"#
        );
        assert_eq!(
            err(&["name=host", "net1"], &none),
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
        );
        let aliases = s(&["web1"]);
        let l = Legacy {
            aliases: &aliases,
            ..Default::default()
        };
        assert_eq!(
            err(&["name=net1,alias=web1"], &l),
            "conflicting options: cannot specify both --network-alias and per-network alias"
        );
        let l = Legacy {
            ip: Some("172.20.88.22"),
            ..Default::default()
        };
        assert_eq!(
            err(&["name=net1,ip=172.20.88.23"], &l),
            "conflicting options: cannot specify both --ip and per-network IPv4 address"
        );
        let l = Legacy {
            ip6: Some("2001:db8::33"),
            ..Default::default()
        };
        assert_eq!(
            err(&["name=net1,ip6=2001:db8::34"], &l),
            "conflicting options: cannot specify both --ip6 and per-network IPv6 address"
        );
        let lla = s(&["169.254.1.1"]);
        let l = Legacy {
            link_local_ips: &lla,
            ..Default::default()
        };
        assert_eq!(
            err(&["name=net1,link-local-ip=169.254.1.2"], &l),
            "conflicting options: cannot specify both --link-local-ip and per-network link-local IP addresses"
        );
        let l = Legacy {
            mac_address: Some("02:42:ac:11:00:02"),
            ..Default::default()
        };
        assert_eq!(
            err(&["name=net1,mac-address=02:42:ac:11:00:03"], &l),
            "conflicting options: cannot specify both --mac-address and per-network MAC address"
        );
        let l = Legacy {
            mac_address: Some("invalidMacAddress"),
            ..Default::default()
        };
        assert_eq!(err(&[], &l), "invalidMacAddress is not a valid mac address");
        assert_eq!(
            err(
                &["bridge"],
                &Legacy {
                    aliases: &aliases,
                    ..Default::default()
                }
            ),
            "network-scoped aliases are only supported for user-defined networks"
        );
        assert_eq!(err(&["name=a,alias"], &none), "invalid field alias");
        assert_eq!(err(&["foo=bar"], &none), "invalid field key foo");
        assert_eq!(err(&["alias=x"], &none), "network name/id is not specified");
        assert_eq!(
            err(&["name=a,ip=1.2.3"], &none),
            r#"ParseAddr("1.2.3"): unable to parse IP"#
        );
    }

    #[test]
    fn small_grammars() {
        assert!(
            valid_mac("92:d0:c6:0a:29:33")
                && valid_mac("92-d0-c6-0a-29-33")
                && valid_mac("0000.5e00.5301")
        );
        assert!(!valid_mac("invalidMacAddress") && !valid_mac("92:d0:c6:0a:29"));
        assert_eq!(dns_search("example.com."), Ok("example.com".to_string()));
        assert_eq!(dns_search("."), Ok(".".to_string()));
        assert_eq!(dns_search("123").unwrap_err(), "123 is not a valid domain");
        assert_eq!(
            dns_search("-a.com").unwrap_err(),
            "-a.com is not a valid domain"
        );
        assert_eq!(extra_host("a:1.2.3.4"), Ok("a:1.2.3.4".to_string()));
        assert_eq!(extra_host("b=::1"), Ok("b:::1".to_string()));
        assert_eq!(extra_host("c=[::1]"), Ok("c:::1".to_string()));
        assert_eq!(
            extra_host("gw:host-gateway"),
            Ok("gw:host-gateway".to_string())
        );
        assert_eq!(
            extra_host("foo").unwrap_err(),
            r#"bad format for add-host: "foo""#
        );
        assert_eq!(
            extra_host("foo:bar").unwrap_err(),
            r#"invalid IP address in add-host: "bar""#
        );
        assert_eq!(canonical_ip("::ffff:1.2.3.4").as_deref(), Some("1.2.3.4"));
        assert_eq!(canonical_ip("0:0::1").as_deref(), Some("::1"));
        assert_eq!(
            validate_link("a:b:c").unwrap_err(),
            "bad format for links: a:b:c"
        );
        assert!(validate_link("a").is_ok());
    }
}
