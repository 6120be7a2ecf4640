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

/// A resolved inhibit rule (see [`super::InhibitRuleConfig`]).
#[derive(Debug, Clone, PartialEq)]
pub struct InhibitRule {
    /// Every one must match the cause.
    pub source: Vec<Matcher>,
    /// Every one must match the consequence.
    pub target: Vec<Matcher>,
    /// Labels cause and consequence share.
    pub equal: Vec<String>,
}

impl InhibitRule {
    /// Whether firing `source` mutes `target` under this rule. As in
    /// Alertmanager, an alert that matches both sides of the rule cannot be
    /// muted by another alert that does (nor by itself).
    pub fn mutes(&self, source: &AlertState, target: &AlertState) -> bool {
        let is_source = |a: &AlertState| self.source.iter().all(|m| m.matches(&a.labels));
        let is_target = |a: &AlertState| self.target.iter().all(|m| m.matches(&a.labels));
        let both = |a: &AlertState| is_source(a) && is_target(a);
        source.fingerprint != target.fingerprint
            && is_source(source)
            && is_target(target)
            && !(both(source) && both(target))
            && self
                .equal
                .iter()
                .all(|l| source.labels.get(l) == target.labels.get(l))
    }
}

/// The firing alert that inhibits each inhibited firing alert: (target
/// fingerprint, source fingerprint). Only firing alerts inhibit, as in
/// Alertmanager; a silenced cause still inhibits its consequences.
pub fn inhibited<'a>(
    alerts: &'a [AlertState],
    rules: &[InhibitRule],
) -> BTreeMap<&'a str, &'a str> {
    let firing: Vec<&AlertState> = alerts
        .iter()
        .filter(|a| a.status == AlertStatus::Firing)
        .collect();
    let mut out = BTreeMap::new();
    for t in &firing {
        if let Some(s) = firing.iter().find(|s| rules.iter().any(|r| r.mutes(s, t))) {
            out.insert(t.fingerprint.as_str(), s.fingerprint.as_str());
        }
    }
    out
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
    /// Inhibit rules.
    pub inhibit_rules: &'a [InhibitRule],
    /// Where links point.
    pub links: super::links::LinkBase<'a>,
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
    /// Firing alerts inhibited: (fingerprint, fingerprint of the firing cause).
    pub inhibited: Vec<(String, String)>,
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
    for (target, source) in inhibited(input.alerts, input.inhibit_rules) {
        if !muted.contains_key(target) {
            muted.insert(target, source);
            plan.inhibited.push((target.to_owned(), source.to_owned()));
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
            let mut notification =
                Notification::new(&group, members, reason, input.run_id, input.now);
            let job = notification
                .group_labels
                .get("job")
                .cloned()
                .unwrap_or_else(|| {
                    notification
                        .common_labels()
                        .get("job")
                        .cloned()
                        .unwrap_or_default()
                });
            let silence_by = if notification.group_labels.is_empty() {
                notification.common_labels()
            } else {
                notification.group_labels.clone()
            };
            let topic = notification
                .alerts
                .iter()
                .any(|a| a.label("incident").starts_with("topic."));
            notification.links =
                super::links::Links::build(input.links, input.run_id, &job, &silence_by, topic);
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

    /// An alert of `job` on `metric` whose `incident` label is `incident`.
    fn of(job: &str, metric: &str, incident: &str, status: AlertStatus) -> AlertState {
        let mut a = alert(job, metric, status);
        a.labels.insert("incident".into(), incident.into());
        a.fingerprint = super::super::fingerprint(&a.labels);
        a
    }

    fn notified(alerts: &[AlertState], rules: &[InhibitRule]) -> (Vec<String>, Plan) {
        let routes = [Route {
            group_by: vec!["job".into(), "incident".into()],
            ..route(true)
        }];
        let plan = plan_notifications(&PlanInput {
            alerts,
            silences: &[],
            routes: &routes,
            inhibit_rules: rules,
            links: Default::default(),
            sent: &[],
            run_id: 1,
            now: t(0),
        });
        let mut metrics: Vec<String> = plan
            .notifications
            .iter()
            .flat_map(|n| n.notification.alerts.iter())
            .map(|a| format!("{}/{}", a.label("job"), a.label("metric")))
            .collect();
        metrics.sort();
        (metrics, plan)
    }

    #[test]
    fn a_firing_cause_inhibits_its_consequences_in_the_same_job_only() {
        let defaults = super::super::AlertingConfig::default()
            .inhibit_rules()
            .unwrap();
        let json = of(
            "support",
            "output.json_valid",
            "outputs",
            AlertStatus::Firing,
        );
        assert_eq!(json.label("severity"), "critical");
        let mmd = of(
            "support",
            "output.mmd",
            "output_semantic",
            AlertStatus::Firing,
        );
        let other_job = of(
            "billing",
            "output.mmd",
            "output_semantic",
            AlertStatus::Firing,
        );
        let gap = of("support", "input.gap.2", "topic.2", AlertStatus::Firing);
        let coverage = of(
            "support",
            "input.coverage",
            "input_semantic",
            AlertStatus::Firing,
        );
        let cost = of("support", "op.cost", "usage", AlertStatus::Firing);
        let all = [
            json.clone(),
            mmd.clone(),
            other_job,
            gap,
            coverage.clone(),
            cost.clone(),
        ];
        let (sent, plan) = notified(&all, &defaults);
        assert_eq!(
            sent,
            [
                "billing/output.mmd",
                "support/input.gap.2",
                "support/output.json_valid"
            ]
        );
        let mut inhibited = plan.inhibited.clone();
        inhibited.sort();
        let mut want = vec![
            (mmd.fingerprint.clone(), json.fingerprint.clone()),
            (coverage.fingerprint.clone(), all[3].fingerprint.clone()),
            (cost.fingerprint.clone(), json.fingerprint.clone()),
        ];
        want.sort();
        assert_eq!(inhibited, want);

        // Once the cause resolves, the consequence is told.
        let resolved = of(
            "support",
            "output.json_valid",
            "outputs",
            AlertStatus::Resolved,
        );
        let (sent, plan) = notified(&[resolved, mmd.clone()], &defaults);
        assert_eq!(sent, ["support/output.mmd"]);
        assert!(plan.inhibited.is_empty());
        // A warning-level output change is no cause: its embedding shift is news.
        let mut chars = of("support", "output.chars", "outputs", AlertStatus::Firing);
        assert_eq!(chars.label("severity"), "warning");
        chars.fingerprint = super::super::fingerprint(&chars.labels);
        let (sent, _) = notified(&[chars, mmd.clone()], &defaults);
        assert_eq!(sent, ["support/output.chars", "support/output.mmd"]);
        // `inhibit_rules = []`: nothing is muted.
        let (sent, _) = notified(&[json, mmd], &[]);
        assert_eq!(sent, ["support/output.json_valid", "support/output.mmd"]);
    }

    #[test]
    fn an_alert_never_inhibits_itself() {
        let rule = InhibitRule {
            source: parse_matchers(&["incident=outputs".to_owned()]).unwrap(),
            target: parse_matchers(&["incident=outputs".to_owned()]).unwrap(),
            equal: vec!["job".into()],
        };
        let a = of("support", "output.chars", "outputs", AlertStatus::Firing);
        let (sent, plan) = notified(std::slice::from_ref(&a), std::slice::from_ref(&rule));
        assert_eq!(sent, ["support/output.chars"]);
        assert!(plan.inhibited.is_empty());
        // Nor do two alerts that both match both sides mute each other.
        let b = of("support", "output.words", "outputs", AlertStatus::Firing);
        let (sent, _) = notified(&[a, b], &[rule]);
        assert_eq!(sent, ["support/output.chars", "support/output.words"]);
    }

    #[test]
    fn full_cycle_first_suppressed_resolved() {
        let a = alert("support", "output.json_valid", AlertStatus::Firing);
        let routes = [route(true)];
        let p1 = plan_notifications(&PlanInput {
            alerts: std::slice::from_ref(&a),
            silences: &[],
            routes: &routes,
            inhibit_rules: &[],
            links: Default::default(),
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
            inhibit_rules: &[],
            links: Default::default(),
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
            inhibit_rules: &[],
            links: Default::default(),
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
            inhibit_rules: &[],
            links: Default::default(),
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
            inhibit_rules: &[],
            links: Default::default(),
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
            inhibit_rules: &[],
            links: Default::default(),
            sent: &[],
            run_id: 1,
            now: t(10),
        });
        assert_eq!(p.notifications.len(), 2);
    }
}
