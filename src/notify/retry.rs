//! Delivery retry: exponential backoff with full jitter; the caller stores `next_attempt_at`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::channels::SendError;
use crate::config::ConfigDuration;

/// Delay before the next attempt: uniform in `[0, min(max, base · 2^(attempt-1))]`
/// ("full jitter"). `attempt` is the number of attempts already made (1 after the first
/// failure); 0 is treated as 1.
pub fn backoff<R: Rng + ?Sized>(
    attempt: u32,
    base: Duration,
    max: Duration,
    rng: &mut R,
) -> Duration {
    let exp = attempt.saturating_sub(1).min(63);
    let cap = base
        .checked_mul(1u32.checked_shl(exp).unwrap_or(u32::MAX))
        .unwrap_or(max)
        .min(max);
    if cap.is_zero() {
        return cap;
    }
    let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.random_range(0..=nanos))
}

fn default_base() -> ConfigDuration {
    ConfigDuration::from_secs(30)
}

fn default_max() -> ConfigDuration {
    ConfigDuration::from_secs(3600)
}

fn default_attempts() -> u32 {
    10
}

/// Retry policy for outbox deliveries (`[alerting.retry]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// First backoff cap (default `30s`).
    #[serde(default = "default_base")]
    pub base: ConfigDuration,
    /// Largest backoff cap (default `1h`).
    #[serde(default = "default_max")]
    pub max: ConfigDuration,
    /// Give up after this many attempts (default 10).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Give up on a notification this long after it was queued, whatever the
    /// attempt count (default `24h`): it is marked dead, counted and logged.
    #[serde(default = "default_give_up_after")]
    pub give_up_after: ConfigDuration,
    /// How long the sender's claim on a batch of notifications lasts (default
    /// `10m`). A sender that dies mid-send holds its rows this long before
    /// another sender (a restart, a replica) retries them; keep it above the
    /// longest send (8 rows × 60 s send timeout by default would be safe at 8m+).
    #[serde(default = "default_claim_lease")]
    pub claim_lease: ConfigDuration,
}

fn default_claim_lease() -> ConfigDuration {
    ConfigDuration::from_secs(600)
}

fn default_give_up_after() -> ConfigDuration {
    ConfigDuration::from_secs(24 * 3600)
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: default_base(),
            max: default_max(),
            max_attempts: default_attempts(),
            give_up_after: default_give_up_after(),
            claim_lease: default_claim_lease(),
        }
    }
}

/// What to do with an outbox row after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// Mark the row dead.
    GiveUp(String),
}

impl RetryPolicy {
    /// Checks `base <= max` and `max_attempts >= 1`.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_attempts == 0 {
            return Err("max_attempts must be at least 1".into());
        }
        if self.base.0.is_zero() || self.base > self.max {
            return Err(format!(
                "need 0 < base ({}) <= max ({})",
                self.base, self.max
            ));
        }
        if self.claim_lease.0 < std::time::Duration::from_secs(10) {
            return Err(format!(
                "claim_lease must be at least 10s, got {}",
                self.claim_lease
            ));
        }
        Ok(())
    }

    /// Decides after attempt number `attempts` (1-based, counting the one that just failed).
    /// [`RetryPolicy::decide`], but a retryable failure of a notification queued
    /// at `created_at` more than `give_up_after` ago is given up on.
    pub fn decide_with_age<R: Rng + ?Sized>(
        &self,
        attempts: u32,
        created_at: DateTime<Utc>,
        err: &SendError,
        now: DateTime<Utc>,
        rng: &mut R,
    ) -> RetryDecision {
        let age = now - created_at;
        let limit =
            chrono::Duration::from_std(self.give_up_after.0).unwrap_or(chrono::Duration::MAX);
        match err {
            SendError::Retryable { reason } if age > limit => RetryDecision::GiveUp(format!(
                "gave up after {} (give_up_after {}): {reason}",
                humantime::format_duration(age.to_std().unwrap_or_default()),
                humantime::format_duration(self.give_up_after.0)
            )),
            _ => self.decide(attempts, err, now, rng),
        }
    }

    pub fn decide<R: Rng + ?Sized>(
        &self,
        attempts: u32,
        err: &SendError,
        now: DateTime<Utc>,
        rng: &mut R,
    ) -> RetryDecision {
        match err {
            SendError::Permanent { reason } => {
                RetryDecision::GiveUp(format!("permanent: {reason}"))
            }
            SendError::Retryable { reason } if attempts >= self.max_attempts => {
                RetryDecision::GiveUp(format!("gave up after {attempts} attempts: {reason}"))
            }
            SendError::Retryable { .. } => {
                let d = backoff(attempts, self.base.0, self.max.0, rng);
                let d = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
                RetryDecision::RetryAt(now + d)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn full_jitter_within_exponential_cap() {
        let mut rng = StdRng::seed_from_u64(7);
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        for attempt in 0u32..40 {
            let cap = Duration::from_secs(1u64 << attempt.saturating_sub(1).min(20)).min(max);
            for _ in 0..50 {
                let d = backoff(attempt, base, max, &mut rng);
                assert!(d <= cap, "attempt {attempt}: {d:?} > {cap:?}");
            }
        }
        // it really is jittered and really grows
        let samples: Vec<Duration> = (0..200).map(|_| backoff(6, base, max, &mut rng)).collect();
        assert!(samples.iter().any(|d| *d > Duration::from_secs(16)));
        assert!(samples.iter().any(|d| *d < Duration::from_secs(16)));
        assert_eq!(backoff(3, Duration::ZERO, max, &mut rng), Duration::ZERO);
        assert!(backoff(u32::MAX, base, max, &mut rng) <= max);
    }

    #[test]
    fn decisions() {
        let mut rng = StdRng::seed_from_u64(1);
        let p = RetryPolicy::default();
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let retry = SendError::Retryable {
            reason: "421".into(),
        };
        match p.decide(1, &retry, now, &mut rng) {
            RetryDecision::RetryAt(at) => {
                assert!(at >= now && at <= now + chrono::Duration::seconds(30))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            p.decide(10, &retry, now, &mut rng),
            RetryDecision::GiveUp(_)
        ));
        let perm = SendError::Permanent {
            reason: "550".into(),
        };
        assert!(matches!(
            p.decide(1, &perm, now, &mut rng),
            RetryDecision::GiveUp(_)
        ));
        assert!(p.validate().is_ok());
        let bad = RetryPolicy {
            max_attempts: 0,
            ..p
        };
        assert!(bad.validate().is_err());
        let short = RetryPolicy {
            claim_lease: ConfigDuration::from_secs(1),
            ..p
        };
        assert!(short.validate().unwrap_err().contains("claim_lease"));
    }

    #[test]
    fn old_notifications_are_given_up_by_age_not_only_attempts() {
        let p = RetryPolicy::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let now = Utc::now();
        let retry = SendError::Retryable {
            reason: "503".into(),
        };
        let fresh = p.decide_with_age(1, now - chrono::Duration::hours(1), &retry, now, &mut rng);
        assert!(matches!(fresh, RetryDecision::RetryAt(_)), "{fresh:?}");
        let old = p.decide_with_age(1, now - chrono::Duration::hours(25), &retry, now, &mut rng);
        match old {
            RetryDecision::GiveUp(why) => assert!(why.contains("give_up_after 1day"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
