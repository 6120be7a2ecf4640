//! [`FailureLimiter`]: refuses a client address after too many failed sign-ins or
//! bearer tokens in a window (a leaf: the ingest API and the review page's
//! `/login` both use it).
//!
//! A fixed window per address, held in memory: after `max` failures within
//! `window` the address is refused until the window that started with its first
//! failure ends. Successes do not reset it, so a guesser cannot interleave a
//! known-good token. The table is pruned as it grows, so a flood of addresses
//! cannot grow it without bound. We wrote this (~60 lines) rather than take a
//! rate-limit crate: what is counted is failures, not requests, and that is one
//! map.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept before expired ones are pruned.
const PRUNE_AT: usize = 10_000;

#[derive(Debug)]
pub struct FailureLimiter {
    max: u32,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailureLimiter {
    pub fn new(max: u32, window: Duration) -> FailureLimiter {
        FailureLimiter {
            max,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `addr` has used up its failures in the current window.
    pub fn is_blocked(&self, addr: IpAddr, now: Instant) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(&addr)
            .is_some_and(|(start, n)| now.duration_since(*start) < self.window && *n >= self.max)
    }

    /// Counts a failure of `addr`; returns the failures in its current window.
    pub fn fail(&self, addr: IpAddr, now: Instant) -> u32 {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= PRUNE_AT {
            let window = self.window;
            seen.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let e = seen.entry(addr).or_insert((now, 0));
        if now.duration_since(e.0) >= self.window {
            *e = (now, 0);
        }
        e.1 += 1;
        e.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_max_failures_until_its_window_ends() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        for i in 1..=3 {
            assert!(!l.is_blocked(a, t0));
            assert_eq!(l.fail(a, t0), i);
        }
        assert!(l.is_blocked(a, t0 + Duration::from_secs(59)));
        assert!(!l.is_blocked(b, t0), "other addresses are not affected");
        assert!(
            !l.is_blocked(a, t0 + Duration::from_secs(60)),
            "the window ended"
        );
        assert_eq!(l.fail(a, t0 + Duration::from_secs(61)), 1, "a new window");
    }
}
