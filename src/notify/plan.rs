//! Chains the pure stages after a run: route → silence → group → dedup → notification.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::dedup::{should_notify, GroupStatus, NotifyReason, SentRecord};
use super::group::{group_alerts, Notification};
use super::silence::{is_silenced, Matcher, Silence};
use super::state::{AlertState, AlertStatus};

/// A resolved route: which alerts go to which receiver and how they are grouped.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Receiver name.
    pub receiver: String,
    /// All must match for an alert to take this route; empty = every alert.
    pub matchers: Vec<Matcher>,
    /// Grouping labels (`["..."]` = every label).
    pub group_by: Vec<String>,
    /// Re-notify interval for a still-firing group.
    pub repeat_interval: Duration,
    /// Whether the receiver is told about resolutions.
    pub send_resolved: bool,
}

/// Everything the planner needs; all of it is loaded by the caller.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// Current alert states (after persisting [`evaluate`](super::evaluate)'s transitions).
    pub alerts: &'a [AlertState],
    /// Silences (expired ones are ignored).
    pub silences: &'a [Silence],
    /// Routes.
    pub routes: &'a [Route],
    /// Last sent record per (receiver, group key).
    pub sent: &'a [SentRecord],
    /// Run that triggered planning.
    pub run_id: i64,
    /// Clock.
    pub now: DateTime<Utc>,
}

/// A notification to enqueue, with the record to store in the same transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedNotification {
    /// Outbox payload.
    pub notification: Notification,
    /// Replaces the (receiver, group key) sent record.
    pub record: SentRecord,
}

/// A group that was considered and not notified.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedGroup {
    /// Receiver.
    pub receiver: String,
    /// Group key.
    pub group_key: String,
    /// Why not (`Suppressed(..)` or `Silenced`).
    pub reason: NotifyReason,
}

/// The planner's decisions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// To enqueue.
    pub notifications: Vec<PlannedNotification>,
    /// Not due, with reasons (for logs / `driftwatch alerts`).
    pub skipped: Vec<SkippedGroup>,
    /// Firing alerts muted: (fingerprint, silence id).
    pub silenced: Vec<(String, String)>,
}

/// Decides which notifications are due. Only `Firing` and `Resolved` alerts take part;
/// resolved alerts are reported only to groups that were told they were firing.
pub fn plan_notifications(input: &PlanInput<'_>) -> Plan {
    let mut plan = Plan::default();
    let mut muted: BTreeMap<&str, &str> = BTreeMap::new();
    for a in input.alerts {
        if a.status != AlertStatus::Firing {
            continue;
        }
        if let Some(id) = is_silenced(&a.labels, input.silences, input.now) {
            muted.insert(&a.fingerprint, id);
            plan.silenced.push((a.fingerprint.clone(), id.to_owned()));
        }
    }
    let sent: BTreeMap<(&str, &str), &SentRecord> = input
        .sent
        .iter()
        .map(|r| ((r.receiver.as_str(), r.group_key.as_str()), r))
        .collect();

    for route in input.routes {
        let routed: Vec<AlertState> = input
            .alerts
            .iter()
            .filter(|a| matches!(a.status, AlertStatus::Firing | AlertStatus::Resolved))
            .filter(|a| route.matchers.iter().all(|m| m.matches(&a.labels)))
            .cloned()
            .collect();
        for group in group_alerts(&route.receiver, &route.group_by, &routed) {
            let prev = sent
                .get(&(group.receiver.as_str(), group.group_key.as_str()))
                .copied();
            let mut status = GroupStatus::default();
            for a in &group.alerts {
                match a.status {
                    AlertStatus::Firing if muted.contains_key(a.fingerprint.as_str()) => {
                        status.silenced += 1;
                    }
                    AlertStatus::Firing => {
                        status
                            .firing
                            .insert(a.fingerprint.clone(), a.fired_at.unwrap_or(a.since));
                    }
                    _ => {
                        status
                            .resolved
                            .insert(a.fingerprint.clone(), a.resolved_at.unwrap_or(a.since));
                    }
                }
            }
            let reason = should_notify(
                prev,
                input.now,
                &status,
                route.repeat_interval,
                route.send_resolved,
            );
            if !reason.should_send() {
                plan.skipped.push(SkippedGroup {
                    receiver: group.receiver.clone(),
                    group_key: group.group_key.clone(),
                    reason,
                });
                continue;
            }
            let told_firing = |fp: &str| {
                prev.is_some_and(|p| {
                    p.status == super::dedup::NotificationStatus::Firing && p.firing.contains(fp)
                })
            };
            let members: Vec<AlertState> = group
                .alerts
                .iter()
                .filter(|a| {
                    if a.status == AlertStatus::Firing {
                        status.firing.contains_key(&a.fingerprint)
                    } else {
                        route.send_resolved && told_firing(&a.fingerprint)
                    }
                })
                .cloned()
                .collect();
            let notification = Notification::new(&group, members, reason, input.run_id, input.now);
            let record = notification.sent_record();
            plan.notifications.push(PlannedNotification {
                notification,
                record,
            });
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::super::dedup::NotificationStatus;
    use super::super::silence::parse_matchers;
    use super::super::tests::fixtures::{alert, t};
    use super::*;

    fn route(send_resolved: bool) -> Route {
        Route {
            receiver: "ops".into(),
            matchers: vec![],
            group_by: vec!["job".into()],
            repeat_interval: Duration::hours(4),
            send_resolved,
        }
    }

    #[test]
    fn full_cycle_first_suppressed_resolved() {
        let a = alert("support", "output.json_valid", AlertStatus::Firing);
        let routes = [route(true)];
        let p1 = plan_notifications(&PlanInput {
            alerts: std::slice::from_ref(&a),
            silences: &[],
            routes: &routes,
            sent: &[],
            run_id: 1,
            now: t(0),
        });
        assert_eq!(p1.notifications.len(), 1);
        let n = &p1.notifications[0];
        assert_eq!(n.notification.reason, NotifyReason::FirstFiring);
        let sent = vec![n.record.clone()];

        let p2 = plan_notifications(&PlanInput {
            alerts: std::slice::from_ref(&a),
            silences: &[],
            routes: &routes,
            sent: &sent,
            run_id: 2,
            now: t(3600),
        });
        assert!(p2.notifications.is_empty());
        assert!(matches!(p2.skipped[0].reason, NotifyReason::Suppressed(_)));

        let mut r = a.clone();
        r.status = AlertStatus::Resolved;
        r.resolved_at = Some(t(7200));
        let p3 = plan_notifications(&PlanInput {
            alerts: std::slice::from_ref(&r),
            silences: &[],
            routes: &routes,
            sent: &sent,
            run_id: 3,
            now: t(7200),
        });
        let n3 = &p3.notifications[0].notification;
        assert_eq!(n3.status, NotificationStatus::Resolved);
        assert_eq!(n3.reason, NotifyReason::Resolved);
        assert_eq!(n3.alerts.len(), 1);
        let sent = vec![p3.notifications[0].record.clone()];
        let p4 = plan_notifications(&PlanInput {
            alerts: std::slice::from_ref(&r),
            silences: &[],
            routes: &routes,
            sent: &sent,
            run_id: 4,
            now: t(9000),
        });
        assert!(p4.notifications.is_empty(), "resolution is told once");
    }

    #[test]
    fn silences_and_route_matchers() {
        let a = alert("support", "output.json_valid", AlertStatus::Firing);
        let b = alert("billing", "output.length", AlertStatus::Firing);
        let s = Silence {
            id: "s1".into(),
            matchers: parse_matchers(&["job=support"]).unwrap(),
            starts_at: t(-10),
            ends_at: t(10),
            created_by: "ops".into(),
            comment: String::new(),
        };
        let mut only_billing = route(true);
        only_billing.matchers = parse_matchers(&["job=billing"]).unwrap();
        let routes = [route(true), only_billing];
        let alerts = [a, b];
        let p = plan_notifications(&PlanInput {
            alerts: &alerts,
            silences: std::slice::from_ref(&s),
            routes: &routes,
            sent: &[],
            run_id: 1,
            now: t(0),
        });
        assert_eq!(p.silenced.len(), 1);
        assert_eq!(p.notifications.len(), 2, "billing via both routes");
        assert!(p
            .notifications
            .iter()
            .all(|n| n.notification.group_labels["job"] == "billing"));
        assert_eq!(p.skipped.len(), 1);
        assert_eq!(p.skipped[0].reason, NotifyReason::Silenced);
        // after expiry the silenced alert notifies
        let p = plan_notifications(&PlanInput {
            alerts: &alerts,
            silences: std::slice::from_ref(&s),
            routes: &routes[..1],
            sent: &[],
            run_id: 1,
            now: t(10),
        });
        assert_eq!(p.notifications.len(), 2);
    }
}
