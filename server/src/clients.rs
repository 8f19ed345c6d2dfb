//! Who a request comes from, and how often one client may open a WebSocket.
//!
//! Behind a reverse proxy every connection comes from the proxy: the client's own address is
//! in `X-Forwarded-For`, which anyone can also send. It is believed only when the connection
//! comes from a proxy listed in `BERTH_TRUSTED_PROXIES`, and only as far as the chain of
//! trusted proxies goes: the rightmost address that is not a trusted proxy is the client (the
//! ones left of it were written by the client itself).

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

use crate::serve::client_key;

/// The proxies whose `X-Forwarded-For` is believed: addresses or networks (`10.0.0.2`,
/// `fd00::/8`).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list; an address alone is a network of one.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let net = match item.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => match item.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip),
                    Err(_) => {
                        return Err(format!(
                            "{item:?} is neither an IP address nor a network (10.0.0.2, 10.0.0.0/8)"
                        ));
                    }
                },
            };
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }
}

impl TrustedProxies {
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client a request from `peer` stands for, given its `X-Forwarded-For` headers (in
    /// the order received). A proxy that forwards without the header is the client itself.
    pub fn client<'a>(
        &self,
        peer: SocketAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    ) -> SocketAddr {
        if !self.trusts(peer.ip()) {
            return peer;
        }
        let mut client = peer;
        let hops = forwarded_for
            .rev()
            .flat_map(|header| header.rsplit(',').map(str::trim));
        for hop in hops {
            let Ok(ip) = hop.parse::<IpAddr>() else {
                // Garbage in the chain: nothing left of it can be believed.
                break;
            };
            client = SocketAddr::new(ip, 0);
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// WebSockets one client (see [`client_key`]) may open in a burst; then at the configured
/// rate. A dashboard opens one per page and per run it follows.
const UPGRADE_BURST_SECONDS: u32 = 10;
/// Keys whose allowance refilled are dropped every this many checks, bounding the memory.
const PRUNE_EVERY: u64 = 1024;

/// How often one client may open a WebSocket.
pub struct UpgradeLimiter {
    by_client: DefaultKeyedRateLimiter<IpAddr>,
    checks: AtomicU64,
}

impl UpgradeLimiter {
    /// `per_second` upgrades, after a burst of ten seconds' worth.
    pub fn new(per_second: NonZeroU32) -> Self {
        let burst = per_second.saturating_mul(NonZeroU32::new(UPGRADE_BURST_SECONDS).unwrap());
        UpgradeLimiter {
            by_client: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts an upgrade from `ip`; `false` when its client has none left for now.
    pub fn allow(&self, ip: IpAddr) -> bool {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.by_client.retain_recent();
            self.by_client.shrink_to_fit();
        }
        self.by_client.check_key(&client_key(ip)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(s: &str) -> SocketAddr {
        SocketAddr::new(s.parse().unwrap(), 40000)
    }

    #[test]
    fn parses_addresses_and_networks() {
        let p: TrustedProxies = "10.0.0.2, 192.0.2.0/24,2001:db8::/32".parse().unwrap();
        assert!(p.trusts("10.0.0.2".parse().unwrap()));
        assert!(!p.trusts("10.0.0.3".parse().unwrap()));
        assert!(p.trusts("192.0.2.77".parse().unwrap()));
        assert!(
            p.trusts("::ffff:192.0.2.77".parse().unwrap()),
            "mapped IPv4"
        );
        assert!(p.trusts("2001:db8::5".parse().unwrap()));
        assert!("".parse::<TrustedProxies>().unwrap().0.is_empty());
        let err = "10.0.0.0/33".parse::<TrustedProxies>().unwrap_err();
        assert!(err.contains("10.0.0.0/33"), "{err}");
        assert!("proxy.example".parse::<TrustedProxies>().is_err());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let p: TrustedProxies = "127.0.0.1, 10.0.0.0/8".parse().unwrap();
        let ip = |a: SocketAddr| a.ip().to_string();
        // Straight from a client: its header is its own invention.
        assert_eq!(
            ip(p.client(peer("198.51.100.9"), ["203.0.113.1"].into_iter())),
            "198.51.100.9"
        );
        // Through the proxy: the address the proxy appended.
        assert_eq!(
            ip(p.client(peer("127.0.0.1"), ["203.0.113.1"].into_iter())),
            "203.0.113.1"
        );
        // A client that sends its own header: only the rightmost untrusted hop counts.
        assert_eq!(
            ip(p.client(peer("127.0.0.1"), ["6.6.6.6, 203.0.113.1"].into_iter())),
            "203.0.113.1"
        );
        // Two proxies in a row, across two headers.
        assert_eq!(
            ip(p.client(peer("127.0.0.1"), ["203.0.113.1", "10.1.2.3"].into_iter())),
            "203.0.113.1"
        );
        // Garbage stops the walk at the last address believed.
        assert_eq!(
            ip(p.client(
                peer("127.0.0.1"),
                ["203.0.113.1, junk, 10.1.2.3"].into_iter()
            )),
            "10.1.2.3"
        );
        // No header: the proxy itself.
        assert_eq!(
            ip(p.client(peer("127.0.0.1"), std::iter::empty())),
            "127.0.0.1"
        );
    }

    #[test]
    fn upgrades_are_limited_per_client() {
        let limits = UpgradeLimiter::new(NonZeroU32::new(1).unwrap());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..UPGRADE_BURST_SECONDS {
            assert!(limits.allow(a));
        }
        assert!(!limits.allow(a), "past the burst");
        assert!(limits.allow("192.0.2.2".parse().unwrap()), "another client");
    }
}
