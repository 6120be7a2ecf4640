//! Notification dedup: decide from the last sent record whether a group is due.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Whether a notification reports a firing or a fully resolved group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationStatus {
    /// At least one alert of the group is firing.
    Firing,
    /// Every alert of the group resolved.
    Resolved,
}

impl NotificationStatus {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationStatus::Firing => "firing",
            NotificationStatus::Resolved => "resolved",
        }
    }
}

impl fmt::Display for NotificationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was last notified for one (receiver, group). The caller stores it when it enqueues
/// the notification in the outbox (delivery is the outbox's job), and passes it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentRecord {
    /// Receiver name.
    pub receiver: String,
    /// Group key.
    pub group_key: String,
    /// Status of the last notification.
    pub status: NotificationStatus,
    /// Fingerprints reported as firing.
    pub firing: BTreeSet<String>,
    /// Fingerprints reported as resolved.
    pub resolved: BTreeSet<String>,
    /// When it was enqueued.
    pub sent_at: DateTime<Utc>,
    /// Idempotency key of that notification.
    pub idempotency_key: String,
}

/// The group as it is now, reduced to what dedup needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupStatus {
    /// Unsilenced firing alerts: fingerprint → when the current episode started firing.
    pub firing: BTreeMap<String, DateTime<Utc>>,
    /// Resolved alerts: fingerprint → when they resolved.
    pub resolved: BTreeMap<String, DateTime<Utc>>,
    /// Firing alerts muted by a silence (left out of `firing`).
    pub silenced: usize,
}

/// Why a group is (or is not) notified now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", content = "detail", rename_all = "snake_case")]
pub enum NotifyReason {
    /// Firing, and the group has no firing notification on record.
    FirstFiring,
    /// Already notified as firing, and an alert joined or fired again since.
    NewlyFiring,
    /// Every alert notified as firing has resolved (and the receiver wants resolutions).
    Resolved,
    /// Still firing, and some alerts notified as firing resolved since.
    PartiallyResolved,
    /// Still firing and `repeat_interval` has passed since the last notification.
    RepeatElapsed,
    /// Nothing new to say.
    Suppressed(String),
    /// The only firing alerts are silenced.
    Silenced,
}

impl NotifyReason {
    /// Whether a notification should be enqueued.
    pub fn should_send(&self) -> bool {
        !matches!(self, NotifyReason::Suppressed(_) | NotifyReason::Silenced)
    }
}

impl fmt::Display for NotifyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifyReason::FirstFiring => f.write_str("first firing notification"),
            NotifyReason::NewlyFiring => f.write_str("new alerts firing"),
            NotifyReason::Resolved => f.write_str("resolved"),
            NotifyReason::PartiallyResolved => f.write_str("some alerts resolved"),
            NotifyReason::RepeatElapsed => f.write_str("repeat interval elapsed"),
            NotifyReason::Suppressed(why) => write!(f, "suppressed: {why}"),
            NotifyReason::Silenced => f.write_str("silenced"),
        }
    }
}

fn human(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Decides whether the group is due, Alertmanager style.
///
/// Firing: first time → `FirstFiring`; an alert not notified before, or whose episode fired
/// after the last notification → `NewlyFiring`; resolved alerts that were notified as
/// firing and `send_resolved` → `PartiallyResolved`; `repeat_interval` passed →
/// `RepeatElapsed`; otherwise `Suppressed`. Nothing firing: firing alerts all silenced →
/// `Silenced`; alerts notified as firing resolved → `Resolved` (or `Suppressed` without
/// `send_resolved`); otherwise `Suppressed`.
pub fn should_notify(
    prev: Option<&SentRecord>,
    now: DateTime<Utc>,
    current: &GroupStatus,
    repeat_interval: Duration,
    send_resolved: bool,
) -> NotifyReason {
    let prev_firing = prev
        .filter(|p| p.status == NotificationStatus::Firing)
        .map(|p| &p.firing)
        .filter(|f| !f.is_empty());
    let newly_resolved =
        prev_firing.is_some_and(|pf| current.resolved.keys().any(|k| pf.contains(k)));

    if !current.firing.is_empty() {
        let (Some(p), Some(pf)) = (prev, prev_firing) else {
            return NotifyReason::FirstFiring;
        };
        let new = current
            .firing
            .iter()
            .any(|(fp, fired_at)| !pf.contains(fp) || *fired_at > p.sent_at);
        if new {
            return NotifyReason::NewlyFiring;
        }
        if newly_resolved && send_resolved {
            return NotifyReason::PartiallyResolved;
        }
        let elapsed = now - p.sent_at;
        if elapsed >= repeat_interval {
            return NotifyReason::RepeatElapsed;
        }
        return NotifyReason::Suppressed(format!(
            "notified {} ago, repeat in {}",
            human(elapsed),
            human(repeat_interval - elapsed)
        ));
    }
    if current.silenced > 0 && !newly_resolved {
        return NotifyReason::Silenced;
    }
    if current.resolved.is_empty() {
        return NotifyReason::Suppressed("nothing firing".into());
    }
    if !newly_resolved {
        return NotifyReason::Suppressed(match prev {
            None => "resolved alerts were never notified as firing".into(),
            Some(p) if p.status == NotificationStatus::Resolved => {
                "resolution already notified".into()
            }
            Some(_) => "resolved alerts were not notified as firing".into(),
        });
    }
    if !send_resolved {
        return NotifyReason::Suppressed("receiver does not send resolved notifications".into());
    }
    NotifyReason::Resolved
}

#[cfg(test)]
mod tests {
    use super::super::tests::fixtures::t;
    use super::*;

    fn rec(status: NotificationStatus, firing: &[&str], sent_at: i64) -> SentRecord {
        SentRecord {
            receiver: "ops".into(),
            group_key: "g".into(),
            status,
            firing: firing.iter().map(|s| s.to_string()).collect(),
            resolved: BTreeSet::new(),
            sent_at: t(sent_at),
            idempotency_key: "k".into(),
        }
    }

    fn group(firing: &[(&str, i64)], resolved: &[&str], silenced: usize) -> GroupStatus {
        GroupStatus {
            firing: firing
                .iter()
                .map(|(f, at)| (f.to_string(), t(*at)))
                .collect(),
            resolved: resolved.iter().map(|f| (f.to_string(), t(0))).collect(),
            silenced,
        }
    }

    const H: i64 = 3600;
    use NotificationStatus::{Firing, Resolved};

    fn rep() -> Duration {
        Duration::hours(4)
    }

    #[test]
    fn first_firing() {
        let r = should_notify(None, t(H), &group(&[("a", 0)], &[], 0), rep(), true);
        assert_eq!(r, NotifyReason::FirstFiring);
        assert!(r.should_send());
        // a group whose last notification was a resolution fires "first" again
        let p = rec(Resolved, &[], 0);
        let r = should_notify(Some(&p), t(H), &group(&[("a", 10)], &[], 0), rep(), true);
        assert_eq!(r, NotifyReason::FirstFiring);
    }

    #[test]
    fn newly_firing() {
        let p = rec(Firing, &["a"], 100);
        let g = group(&[("a", 0), ("b", 50)], &[], 0);
        assert_eq!(
            should_notify(Some(&p), t(200), &g, rep(), true),
            NotifyReason::NewlyFiring
        );
        // same set, but "a" fired again after the last notification (re-fire between runs)
        let g = group(&[("a", 150)], &[], 0);
        assert_eq!(
            should_notify(Some(&p), t(200), &g, rep(), true),
            NotifyReason::NewlyFiring
        );
    }

    #[test]
    fn repeat_and_suppressed() {
        let p = rec(Firing, &["a"], 0);
        let g = group(&[("a", 0)], &[], 0);
        let r = should_notify(Some(&p), t(H), &g, rep(), true);
        assert_eq!(
            r,
            NotifyReason::Suppressed("notified 1h00m ago, repeat in 3h00m".into())
        );
        assert!(!r.should_send());
        assert_eq!(
            r.to_string(),
            "suppressed: notified 1h00m ago, repeat in 3h00m"
        );
        assert_eq!(
            should_notify(Some(&p), t(4 * H), &g, rep(), true),
            NotifyReason::RepeatElapsed
        );
    }

    #[test]
    fn resolved() {
        let p = rec(Firing, &["a"], 0);
        let g = group(&[], &["a"], 0);
        assert_eq!(
            should_notify(Some(&p), t(H), &g, rep(), true),
            NotifyReason::Resolved
        );
        assert!(matches!(
            should_notify(Some(&p), t(H), &g, rep(), false),
            NotifyReason::Suppressed(w) if w.contains("does not send resolved")
        ));
        // already told
        let done = rec(Resolved, &[], 10);
        assert_eq!(
            should_notify(Some(&done), t(H), &g, rep(), true),
            NotifyReason::Suppressed("resolution already notified".into())
        );
        // never told it was firing
        assert!(!should_notify(None, t(H), &g, rep(), true).should_send());
        // partial
        let p2 = rec(Firing, &["a", "b"], 0);
        let g2 = group(&[("b", 0)], &["a"], 0);
        assert_eq!(
            should_notify(Some(&p2), t(H), &g2, rep(), true),
            NotifyReason::PartiallyResolved
        );
        assert!(!should_notify(Some(&p2), t(H), &g2, rep(), false).should_send());
    }

    #[test]
    fn silenced() {
        let g = group(&[], &[], 2);
        assert_eq!(
            should_notify(None, t(H), &g, rep(), true),
            NotifyReason::Silenced
        );
        assert_eq!(NotifyReason::Silenced.to_string(), "silenced");
        // silencing a notified alert does not claim it resolved
        let p = rec(Firing, &["a"], 0);
        assert_eq!(
            should_notify(Some(&p), t(H), &g, rep(), true),
            NotifyReason::Silenced
        );
        // nothing at all
        assert_eq!(
            should_notify(None, t(H), &GroupStatus::default(), rep(), true),
            NotifyReason::Suppressed("nothing firing".into())
        );
    }

    #[test]
    fn reason_serde() {
        let j = serde_json::to_value(NotifyReason::Suppressed("x".into())).unwrap();
        assert_eq!(j, serde_json::json!({"reason":"suppressed","detail":"x"}));
        let j = serde_json::to_value(NotifyReason::FirstFiring).unwrap();
        assert_eq!(j, serde_json::json!({"reason":"first_firing"}));
        let back: NotifyReason = serde_json::from_value(j).unwrap();
        assert_eq!(back, NotifyReason::FirstFiring);
    }
}
