//! Shared test fixtures.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::super::dedup::NotifyReason;
use super::super::group::{group_alerts, Notification};
use super::super::rules::{Finding, FindingKind, RuleConfig, Side};
use super::super::state::{fingerprint, AlertState, AlertStatus};

/// Seconds since the epoch as a UTC time.
pub(crate) fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).expect("valid timestamp")
}

/// A structural output finding of job `support`, run 7.
pub(crate) fn finding(metric: &str, drifted: bool) -> Finding {
    Finding {
        job: "support".into(),
        kind: FindingKind::Structural,
        metric: metric.into(),
        side: Side::Output,
        test: "ks".into(),
        statistic: 0.41,
        p_value: 0.0001,
        p_adjusted: 0.002,
        effect_size: 0.35,
        threshold: 0.2,
        drifted,
        coverage: None,
        run_id: 7,
        examples: vec![
            "{\"answer\": <b>broken</b>".into(),
            "Sorry, I cannot help with that.".into(),
            "plain text instead of JSON".into(),
            "a fourth example that is never shown".into(),
        ],
        note: None,
        change: Some("100.0% → 59.9%".into()),
    }
}

/// An alert of rule `DriftDetected` (warning) for `job`/`metric`, fired at t(0).
pub(crate) fn alert(job: &str, metric: &str, status: AlertStatus) -> AlertState {
    let mut f = finding(metric, true);
    f.job = job.into();
    let rule = RuleConfig::new("DriftDetected");
    let labels = rule.alert_labels(&f);
    AlertState {
        fingerprint: fingerprint(&labels),
        labels,
        status,
        active_runs: 2,
        inactive_runs: 0,
        since: t(0),
        started_at: t(-3600),
        fired_at: Some(t(0)),
        resolved_at: (status == AlertStatus::Resolved).then(|| t(600)),
        value: Some(0.35),
        first_run_id: 6,
        last_run_id: 7,
        summary: rule.summary_for(&f),
        runbook_url: None,
        last_match: Some(f),
    }
}

/// A fresh, empty directory under the system temp dir.
pub(crate) fn tempdir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "driftwatch-notify-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A firing notification for job `support` with two alerts on `output.json_valid`
/// (warning and critical), run 42, created at t(0).
pub(crate) fn two_firing() -> Notification {
    let a = alert("support", "output.json_valid", AlertStatus::Firing);
    let mut b = alert("support", "output.json_valid", AlertStatus::Firing);
    b.labels.insert("severity".into(), "critical".into());
    b.fingerprint = fingerprint(&b.labels);
    let g = &group_alerts("ops", &["job".into()], &[a, b])[0];
    Notification::new(g, g.alerts.clone(), NotifyReason::FirstFiring, 42, t(0))
}
