//! Login throttling: after repeated failed logins for one account name, or
//! from one client address, further attempts are refused with 429 and
//! `Retry-After` — before the password is even checked, so that a correct
//! guess after the limit does not get in. Failures are metered with
//! `governor`'s keyed GCRA limiters (`throttle.failures_per_account` and
//! `throttle.failures_per_address` within `throttle.window_secs`); the
//! limits are per instance.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::ThrottleSettings;
use crate::error::{Code, Error};

/// Keys kept before stale limiter state is dropped.
const RETAIN_AFTER: usize = 10_000;

/// Failures of one kind of key, and the keys currently locked out.
struct Meter<K: Hash + Eq + Clone> {
    failures: DefaultKeyedRateLimiter<K>,
    locked_until: Mutex<HashMap<K, Instant>>,
}

impl<K: Hash + Eq + Clone> Meter<K> {
    fn new(allowed: u32, window: Duration) -> Meter<K> {
        let allowed = NonZeroU32::new(allowed.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(window / allowed.get())
            .unwrap_or_else(|| Quota::per_second(allowed))
            .allow_burst(allowed);
        Meter {
            failures: RateLimiter::keyed(quota),
            locked_until: Mutex::new(HashMap::new()),
        }
    }

    fn locked(&self, key: &K) -> Option<Duration> {
        let mut locked = self.locked_until.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match locked.get(key) {
            Some(until) if *until > now => Some(*until - now),
            Some(_) => {
                locked.remove(key);
                None
            }
            None => None,
        }
    }

    /// Meters a failure; once over the limit, locks the key until the
    /// meter would allow another.
    fn fail(&self, key: &K) -> Option<Duration> {
        if self.failures.len() > RETAIN_AFTER {
            self.failures.retain_recent();
        }
        let wait = self
            .failures
            .check_key(key)
            .err()
            .map(|not_until| not_until.wait_time_from(DefaultClock::default().now()))?;
        let mut locked = self.locked_until.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if locked.len() > RETAIN_AFTER {
            locked.retain(|_, until| *until > now);
        }
        locked.insert(key.clone(), now + wait);
        Some(wait)
    }
}

pub struct LoginThrottle {
    by_account: Meter<String>,
    by_address: Meter<IpAddr>,
    trust_forwarded: bool,
}

impl LoginThrottle {
    pub fn new(settings: &ThrottleSettings) -> LoginThrottle {
        let window = Duration::from_secs(settings.window_secs);
        LoginThrottle {
            by_account: Meter::new(settings.failures_per_account, window),
            by_address: Meter::new(settings.failures_per_address, window),
            trust_forwarded: settings.trust_forwarded_for,
        }
    }

    /// The client's address: the peer, or with `throttle.trust_forwarded_for`
    /// (behind a load balancer that sets it) the first forwarded address.
    pub fn client_address(&self, req: &HttpRequest) -> Option<IpAddr> {
        let info = req.connection_info();
        let text = if self.trust_forwarded {
            info.realip_remote_addr()
        } else {
            info.peer_addr()
        }?;
        text.parse::<IpAddr>()
            .ok()
            .or_else(|| text.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
    }

    /// Refuses an attempt while the name or the address is locked out.
    pub fn check(&self, name: &str, address: Option<IpAddr>) -> Result<(), Error> {
        let waits = [
            self.by_account.locked(&name.to_lowercase()),
            address.and_then(|a| self.by_address.locked(&a)),
        ];
        match waits.into_iter().flatten().max() {
            Some(wait) => Err(too_many(wait)),
            None => Ok(()),
        }
    }

    /// Meters a failed attempt; refuses it outright when it crosses a limit.
    pub fn failed(&self, name: &str, address: Option<IpAddr>) -> Result<(), Error> {
        let waits = [
            self.by_account.fail(&name.to_lowercase()),
            address.and_then(|a| self.by_address.fail(&a)),
        ];
        match waits.into_iter().flatten().max() {
            Some(wait) => Err(too_many(wait)),
            None => Ok(()),
        }
    }
}

fn too_many(wait: Duration) -> Error {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Error::refused(
        Code::TooManyRequests,
        format!("too many failed logins; try again in {secs} s"),
    )
    .with("retry_after", secs.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(per_account: u32, per_address: u32) -> ThrottleSettings {
        ThrottleSettings {
            failures_per_account: per_account,
            failures_per_address: per_address,
            window_secs: 60,
            trust_forwarded_for: false,
        }
    }

    #[test]
    fn locks_an_account_after_its_failures() {
        let throttle = LoginThrottle::new(&settings(3, 100));
        let addr: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            throttle.check("Alice", Some(addr)).unwrap();
            throttle.failed("Alice", Some(addr)).unwrap();
        }
        let err = throttle.failed("alice", Some(addr)).unwrap_err();
        assert_eq!(err.code(), Code::TooManyRequests);
        assert!(
            throttle.check("ALICE", Some(addr)).is_err(),
            "names are compared case-insensitively"
        );
        assert!(
            throttle.check("bob", Some(addr)).is_ok(),
            "other accounts are not locked"
        );
    }

    #[test]
    fn locks_an_address_across_accounts() {
        let throttle = LoginThrottle::new(&settings(100, 2));
        let addr: IpAddr = "10.0.0.2".parse().unwrap();
        throttle.failed("a", Some(addr)).unwrap();
        throttle.failed("b", Some(addr)).unwrap();
        assert!(throttle.failed("c", Some(addr)).is_err());
        assert!(throttle.check("d", Some(addr)).is_err());
        assert!(
            throttle
                .check("d", Some("10.0.0.3".parse().unwrap()))
                .is_ok()
        );
    }
}
