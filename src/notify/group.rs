//! Grouping alerts by `group_by` labels and the [`Notification`] an outbox row carries.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::dedup::{NotificationStatus, NotifyReason, SentRecord};
use super::state::{AlertState, AlertStatus};

/// `group_by` value meaning "every label" (one group per alert).
pub const GROUP_BY_ALL: &str = "...";

/// Alerts of one receiver sharing the same values of the `group_by` labels.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertGroup {
    /// Receiver name.
    pub receiver: String,
    /// `receiver:{label="value",...}` over the group labels.
    pub group_key: String,
    /// The `group_by` labels and their values (missing labels are left out).
    pub group_labels: BTreeMap<String, String>,
    /// Members, in input order.
    pub alerts: Vec<AlertState>,
}

/// The group key of a label set: `receiver:{a="x",b="y"}` (labels sorted, values escaped).
pub fn group_key(receiver: &str, group_labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = group_labels
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{receiver}:{{{}}}", inner.join(","))
}

fn group_labels_of(group_by: &[String], alert: &AlertState) -> BTreeMap<String, String> {
    if group_by.iter().any(|g| g == GROUP_BY_ALL) {
        return alert.labels.clone();
    }
    group_by
        .iter()
        .filter_map(|g| alert.labels.get(g).map(|v| (g.clone(), v.clone())))
        .collect()
}

/// Splits `alerts` into groups by the values of `group_by` (`["..."]` = every label),
/// sorted by group key.
pub fn group_alerts(receiver: &str, group_by: &[String], alerts: &[AlertState]) -> Vec<AlertGroup> {
    let mut groups: BTreeMap<String, AlertGroup> = BTreeMap::new();
    for a in alerts {
        let labels = group_labels_of(group_by, a);
        let key = group_key(receiver, &labels);
        groups
            .entry(key.clone())
            .or_insert_with(|| AlertGroup {
                receiver: receiver.to_owned(),
                group_key: key,
                group_labels: labels,
                alerts: Vec::new(),
            })
            .alerts
            .push(a.clone());
    }
    groups.into_values().collect()
}

/// One notification for one receiver; serialise it as JSON into an outbox row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Group key (see [`group_key`]).
    pub group_key: String,
    /// Group labels.
    pub group_labels: BTreeMap<String, String>,
    /// Receiver name.
    pub receiver: String,
    /// `firing` if any alert in it fires, else `resolved`.
    pub status: NotificationStatus,
    /// Why it was sent.
    pub reason: NotifyReason,
    /// Firing alerts first (critical first), then resolved ones.
    pub alerts: Vec<AlertState>,
    /// Deterministic key: receiver, group, status, run and alert set; email Message-ID,
    /// webhook `Idempotency-Key`, file name. Use it as the outbox row's unique key.
    pub idempotency_key: String,
    /// When it was planned.
    pub created_at: DateTime<Utc>,
    /// Run that triggered it (`driftwatch report <run_id>`).
    pub run_id: i64,
    /// Report, review and dashboard links and the silence command (set by the
    /// planner; older outbox rows have none).
    #[serde(default)]
    pub links: super::links::Links,
}

/// The idempotency key: first 32 hex chars of SHA-256 over receiver, group key, status,
/// run id and the sorted firing / resolved fingerprints.
pub fn idempotency_key(
    receiver: &str,
    group_key: &str,
    status: NotificationStatus,
    run_id: i64,
    alerts: &[AlertState],
) -> String {
    let mut firing: Vec<&str> = Vec::new();
    let mut resolved: Vec<&str> = Vec::new();
    for a in alerts {
        if a.status == AlertStatus::Firing {
            firing.push(&a.fingerprint);
        } else {
            resolved.push(&a.fingerprint);
        }
    }
    firing.sort_unstable();
    resolved.sort_unstable();
    let mut h = Sha256::new();
    for part in [
        "driftwatch-notify-v1",
        receiver,
        group_key,
        status.as_str(),
        &run_id.to_string(),
        &firing.join(","),
        &resolved.join(","),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..16])
}

impl Notification {
    /// Builds a notification from a group's alerts (firing and resolved ones to report).
    pub fn new(
        group: &AlertGroup,
        mut alerts: Vec<AlertState>,
        reason: NotifyReason,
        run_id: i64,
        now: DateTime<Utc>,
    ) -> Self {
        alerts.sort_by(|a, b| {
            let rank = |s: &AlertState| {
                (
                    s.status != AlertStatus::Firing,
                    s.label("severity") != "critical",
                )
            };
            rank(a).cmp(&rank(b)).then_with(|| a.labels.cmp(&b.labels))
        });
        let status = if alerts.iter().any(|a| a.status == AlertStatus::Firing) {
            NotificationStatus::Firing
        } else {
            NotificationStatus::Resolved
        };
        let idempotency_key =
            idempotency_key(&group.receiver, &group.group_key, status, run_id, &alerts);
        Notification {
            group_key: group.group_key.clone(),
            group_labels: group.group_labels.clone(),
            receiver: group.receiver.clone(),
            status,
            reason,
            alerts,
            idempotency_key,
            created_at: now,
            run_id,
            links: super::links::Links {
                report_command: format!("driftwatch report {run_id}"),
                ..Default::default()
            },
        }
    }

    /// A clearly-labelled synthetic firing notification (job `driftwatch-test`), for
    /// "send a test alert" commands and demos.
    pub fn sample(receiver: &str, now: DateTime<Utc>) -> Self {
        use super::rules::{Finding, FindingKind, RuleConfig, Side};
        let finding = Finding {
            job: "driftwatch-test".into(),
            kind: FindingKind::Structural,
            metric: "output.json_valid".into(),
            side: Side::Output,
            test: "chi2".into(),
            statistic: 42.0,
            p_value: 1e-6,
            p_adjusted: 1e-5,
            effect_size: 0.42,
            threshold: 0.2,
            drifted: true,
            coverage: None,
            run_id: 0,
            examples: vec!["(test notification: no real trace)".into()],
            note: None,
            change: None,
        };
        let mut rule = RuleConfig::new("DriftwatchTestAlert");
        rule.summary = Some("Test notification from driftwatch; no action needed".into());
        let labels = rule.alert_labels(&finding);
        let alert = AlertState {
            fingerprint: super::state::fingerprint(&labels),
            labels,
            status: AlertStatus::Firing,
            active_runs: 1,
            inactive_runs: 0,
            since: now,
            started_at: now,
            fired_at: Some(now),
            resolved_at: None,
            value: Some(finding.effect_size),
            first_run_id: 0,
            last_run_id: 0,
            summary: rule.summary_for(&finding),
            runbook_url: None,
            last_match: Some(finding),
        };
        let group = &group_alerts(receiver, &["job".into()], std::slice::from_ref(&alert))[0];
        let mut n = Notification::new(group, vec![alert], NotifyReason::FirstFiring, 0, now);
        // unique per call time, so repeated tests are not deduplicated by receivers
        n.idempotency_key = format!(
            "test-{}-{}",
            now.timestamp_millis(),
            &n.idempotency_key[..8]
        );
        n
    }

    /// Firing alerts.
    pub fn firing(&self) -> impl Iterator<Item = &AlertState> {
        self.alerts
            .iter()
            .filter(|a| a.status == AlertStatus::Firing)
    }

    /// Resolved alerts.
    pub fn resolved(&self) -> impl Iterator<Item = &AlertState> {
        self.alerts
            .iter()
            .filter(|a| a.status != AlertStatus::Firing)
    }

    /// Labels with the same value in every alert.
    pub fn common_labels(&self) -> BTreeMap<String, String> {
        let mut it = self.alerts.iter();
        let Some(first) = it.next() else {
            return self.group_labels.clone();
        };
        let mut common = first.labels.clone();
        for a in it {
            common.retain(|k, v| a.labels.get(k) == Some(v));
        }
        common
    }

    /// The record to store once this notification is enqueued.
    pub fn sent_record(&self) -> SentRecord {
        SentRecord {
            receiver: self.receiver.clone(),
            group_key: self.group_key.clone(),
            status: self.status,
            firing: self.firing().map(|a| a.fingerprint.clone()).collect(),
            resolved: self.resolved().map(|a| a.fingerprint.clone()).collect(),
            sent_at: self.created_at,
            idempotency_key: self.idempotency_key.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::fixtures::{alert, t};
    use super::*;

    #[test]
    fn groups_by_labels() {
        let a = alert("support", "output.json_valid", AlertStatus::Firing);
        let b = alert("support", "output.length", AlertStatus::Firing);
        let c = alert("billing", "output.length", AlertStatus::Firing);
        let by = vec!["job".to_string(), "alertname".to_string()];
        let g = group_alerts("ops", &by, &[a.clone(), b.clone(), c.clone()]);
        assert_eq!(g.len(), 2);
        assert_eq!(
            g[0].group_key,
            r#"ops:{alertname="DriftDetected",job="billing"}"#
        );
        assert_eq!(g[1].alerts.len(), 2);
        let all = group_alerts("ops", &[GROUP_BY_ALL.to_string()], &[a, b, c]);
        assert_eq!(all.len(), 3);
    }

    #[test]
    fn notification_order_key_and_json_roundtrip() {
        let mut warn = alert("support", "output.length", AlertStatus::Firing);
        warn.labels.insert("severity".into(), "warning".into());
        let mut crit = alert("support", "output.json_valid", AlertStatus::Firing);
        crit.labels.insert("severity".into(), "critical".into());
        let res = alert("support", "input.length", AlertStatus::Resolved);
        let by = vec!["job".to_string()];
        let g = &group_alerts("ops", &by, &[warn.clone(), crit.clone(), res.clone()])[0];
        let n = Notification::new(g, g.alerts.clone(), NotifyReason::FirstFiring, 9, t(0));
        let order: Vec<&str> = n.alerts.iter().map(|a| a.label("metric")).collect();
        assert_eq!(
            order,
            ["output.json_valid", "output.length", "input.length"]
        );
        assert_eq!(n.status, NotificationStatus::Firing);
        assert_eq!(n.firing().count(), 2);
        assert_eq!(
            n.common_labels().get("job").map(String::as_str),
            Some("support")
        );
        assert!(!n.common_labels().contains_key("metric"));
        assert_eq!(n.idempotency_key.len(), 32);
        // deterministic regardless of input order; different run → different key
        let n2 = Notification::new(
            g,
            vec![res.clone(), crit.clone(), warn.clone()],
            NotifyReason::FirstFiring,
            9,
            t(100),
        );
        assert_eq!(n.idempotency_key, n2.idempotency_key);
        let n3 = Notification::new(g, g.alerts.clone(), NotifyReason::FirstFiring, 10, t(0));
        assert_ne!(n.idempotency_key, n3.idempotency_key);
        let json = serde_json::to_string(&n).unwrap();
        let back: Notification = serde_json::from_str(&json).unwrap();
        assert_eq!(back, n);
        let sample = Notification::sample("ops", t(5));
        assert_eq!(sample.firing().count(), 1);
        assert!(sample.idempotency_key.starts_with("test-5000-"));
        let rec = n.sent_record();
        assert_eq!(rec.firing.len(), 2);
        assert_eq!(rec.resolved.len(), 1);
    }
}
