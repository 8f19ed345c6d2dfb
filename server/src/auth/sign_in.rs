//! How often anyone may try to sign in: per client address, and per username across all
//! addresses. Every attempt counts, successful or not: each costs an argon2 verification
//! (tens of milliseconds of a core and 19 MiB), and a success is rare (sessions last 12 hours).
//!
//! The numbers are chosen so that one address alone can never use up a username's allowance
//! (it would lock the real user out): the username's burst is larger than an address's, and
//! refills faster than an address may go on trying. Locking a user out takes several
//! addresses trying for minutes.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::serve::client_key;

/// Attempts one client address (an IPv6 /64) may make at once: a household or office behind
/// one NAT signing in at the start of the day, and a person mistyping a few times.
pub const ADDRESS_BURST: u32 = 20;
/// Then one attempt per this long from that address.
pub const ADDRESS_EVERY: Duration = Duration::from_secs(15);
/// Attempts on one username at once, from all addresses together.
pub const USERNAME_BURST: u32 = 50;
/// Then one attempt on that username per this long: 8 640 guesses a day at most.
pub const USERNAME_EVERY: Duration = Duration::from_secs(10);

// One address must not be able to exhaust a username (see the module's comment).
const _: () = assert!(ADDRESS_BURST < USERNAME_BURST);
const _: () = assert!(USERNAME_EVERY.as_nanos() < ADDRESS_EVERY.as_nanos());

/// Keys whose allowance has refilled are dropped every this many checks: the limiters then
/// hold only the keys seen in the last few minutes (at most 300 s for an address, 500 s for a
/// username, after their last attempt) and those of the last this many checks.
const PRUNE_EVERY: u64 = 1024;

pub struct SignInLimiter {
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_username: DefaultKeyedRateLimiter<String>,
    checks: AtomicU64,
}

impl Default for SignInLimiter {
    fn default() -> Self {
        SignInLimiter {
            by_address: RateLimiter::keyed(quota(ADDRESS_BURST, ADDRESS_EVERY)),
            by_username: RateLimiter::keyed(quota(USERNAME_BURST, USERNAME_EVERY)),
            checks: AtomicU64::new(0),
        }
    }
}

fn quota(burst: u32, every: Duration) -> Quota {
    let burst = NonZeroU32::new(burst).expect("a burst of at least one");
    Quota::with_period(every)
        .expect("a non-zero period")
        .allow_burst(burst)
}

impl SignInLimiter {
    /// Counts an attempt from `ip`; `false` when its address has no attempts left.
    pub fn allow_address(&self, ip: IpAddr) -> bool {
        self.prune_now_and_then();
        self.by_address.check_key(&client_key(ip)).is_ok()
    }

    /// Counts an attempt on `username` (one that can exist: the caller checked); `false` when
    /// it has no attempts left.
    pub fn allow_username(&self, username: &str) -> bool {
        self.prune_now_and_then();
        self.by_username.check_key(&username.to_string()).is_ok()
    }

    /// The keys the limiters hold.
    #[cfg(test)]
    fn keys(&self) -> usize {
        self.by_address.len() + self.by_username.len()
    }

    fn prune_now_and_then(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.prune();
        }
    }

    fn prune(&self) {
        self.by_address.retain_recent();
        self.by_address.shrink_to_fit();
        self.by_username.retain_recent();
        self.by_username.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_address_gets_its_burst_then_waits() {
        let limits = SignInLimiter::default();
        for _ in 0..ADDRESS_BURST {
            assert!(limits.allow_address(ip("192.0.2.1")));
        }
        assert!(!limits.allow_address(ip("192.0.2.1")));
        assert!(
            !limits.allow_address(ip("::ffff:192.0.2.1")),
            "the same, mapped"
        );
        assert!(limits.allow_address(ip("192.0.2.2")), "another address");
    }

    #[test]
    fn ipv6_addresses_share_their_64() {
        let limits = SignInLimiter::default();
        for i in 0..ADDRESS_BURST {
            assert!(limits.allow_address(ip(&format!("2001:db8:0:1::{:x}", i + 1))));
        }
        assert!(!limits.allow_address(ip("2001:db8:0:1:ffff::1")));
        assert!(limits.allow_address(ip("2001:db8:0:2::1")), "another /64");
    }

    #[test]
    fn a_username_outlasts_one_address() {
        let limits = SignInLimiter::default();
        let mut allowed = 0;
        while limits.allow_address(ip("192.0.2.9")) {
            assert!(limits.allow_username("alice"));
            allowed += 1;
        }
        assert_eq!(allowed, ADDRESS_BURST);
        assert!(limits.allow_username("alice"), "alice has attempts left");
        for _ in 0..USERNAME_BURST - ADDRESS_BURST - 1 {
            assert!(limits.allow_username("alice"));
        }
        assert!(
            !limits.allow_username("alice"),
            "the username's burst is used up"
        );
        assert!(limits.allow_username("bob"));
    }

    #[test]
    fn pruning_drops_the_keys_of_refilled_allowances() {
        let limits = SignInLimiter {
            by_address: RateLimiter::keyed(quota(1, Duration::from_nanos(1))),
            by_username: RateLimiter::keyed(quota(1, Duration::from_nanos(1))),
            checks: AtomicU64::new(0),
        };
        for i in 0..PRUNE_EVERY * 3 {
            limits.allow_username(&format!("user{i}"));
        }
        assert!(
            limits.keys() < PRUNE_EVERY as usize,
            "{} keys after {} checks",
            limits.keys(),
            PRUNE_EVERY * 3
        );
    }
}
