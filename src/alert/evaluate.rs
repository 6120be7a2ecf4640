//! After a run: findings → alert transitions → notifications → one store transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::convert::notify_findings;
use super::Result;
use crate::notify::{self, AlertState, AlertStatus, Alerting, PlanInput, RunFindings, Silence};
use crate::store::{self, AlertEvaluation, Store};

/// What one evaluation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EvalOutcome {
    /// Alerts of the job whose state changed (status or counters).
    pub changed: usize,
    /// Alerts of the job firing after the run.
    pub firing: usize,
    /// Alerts of the job pending (matching, not yet for `for` runs) after the run.
    pub pending: usize,
    /// Alerts that resolved in this run.
    pub resolved: usize,
    /// Notifications newly put in the outbox.
    pub enqueued: u64,
    /// Firing alerts (of any job) muted by a silence.
    pub silenced: usize,
    /// The run was evaluated before (or a later run was): nothing was written.
    pub already_evaluated: bool,
}

/// Evaluates the alert rules on a finished run of `job` and persists the outcome.
///
/// Loads the alert states, the silences in force and the sent records, advances the
/// job's alerts with [`notify::evaluate`], plans notifications with
/// [`notify::plan_notifications`] over every alert (so a group spanning jobs is
/// reported as a whole), and writes the changed states, their status transitions, the
/// outbox rows and the sent records in one transaction: a crash leaves either all of
/// it or none.
///
/// Evaluating a run again (e.g. a retried job) is a no-op: when an alert of the job
/// was already advanced by this run or a later one, nothing is written and
/// `already_evaluated` is set. Evaluations of one job must not run concurrently; the
/// job's run lease guarantees that.
#[tracing::instrument(skip_all, fields(job = %job, run_id = run_id))]
pub async fn evaluate_run(
    store: &Store,
    alerting: &Alerting,
    job: &str,
    run_id: i64,
    findings: &[store::Finding],
    now: DateTime<Utc>,
) -> Result<EvalOutcome> {
    let all = store.alert_states(None).await?;
    if let Some(seen) = all
        .iter()
        .filter(|s| s.label("job") == job && s.last_run_id >= run_id)
        .map(|s| s.last_run_id)
        .max()
    {
        tracing::info!(
            message = "Run already evaluated for alerts; skipping.",
            job,
            run_id,
            last_evaluated_run = seen
        );
        return Ok(EvalOutcome {
            already_evaluated: true,
            ..EvalOutcome::default()
        });
    }

    let findings = notify_findings(job, findings, alerting.config.examples);
    let prev: Vec<AlertState> = all
        .iter()
        .filter(|s| s.label("job") == job)
        .cloned()
        .collect();
    let run = RunFindings {
        job,
        run_id,
        findings: &findings,
    };
    let transitions = notify::evaluate(&alerting.rules, &run, &prev, now);

    let mut current: BTreeMap<String, AlertState> = all
        .into_iter()
        .map(|s| (s.fingerprint.clone(), s))
        .collect();
    for t in &transitions {
        current.insert(t.fingerprint.clone(), t.state.clone());
    }
    let alerts: Vec<AlertState> = current.into_values().collect();
    let silences: Vec<Silence> = store
        .silences(now, false)
        .await?
        .into_iter()
        .map(|r| r.silence)
        .collect();
    let sent = store.sent_records().await?;
    let plan = notify::plan_notifications(&PlanInput {
        alerts: &alerts,
        silences: &silences,
        routes: &alerting.routes,
        inhibit_rules: &alerting.inhibit_rules,
        links: alerting.config.link_base(),
        sent: &sent,
        run_id,
        now,
    });

    let enqueued = store
        .apply_alert_evaluation(&AlertEvaluation {
            run_id,
            now,
            transitions: &transitions,
            notifications: &plan.notifications,
        })
        .await?;

    for t in transitions.iter().filter(|t| t.status_changed()) {
        tracing::info!(
            message = "Alert changed status.",
            alert = t.state.alertname(),
            fingerprint = %t.fingerprint,
            job,
            metric = t.state.label("metric"),
            from = %t.from,
            to = %t.to,
            run_id
        );
    }
    for (fingerprint, silence) in &plan.silenced {
        tracing::info!(message = "Firing alert is silenced.", fingerprint = %fingerprint, silence = %silence);
    }
    for (fingerprint, cause) in &plan.inhibited {
        tracing::info!(message = "Firing alert is inhibited by its cause.", fingerprint = %fingerprint, cause = %cause);
    }
    for p in &plan.notifications {
        let n = &p.notification;
        tracing::info!(
            message = "Notification enqueued.",
            receiver = %n.receiver,
            group = %n.group_key,
            status = %n.status,
            reason = %n.reason,
            key = %n.idempotency_key
        );
    }
    for s in &plan.skipped {
        tracing::debug!(
            message = "Notification not due.",
            receiver = %s.receiver,
            group = %s.group_key,
            reason = %s.reason
        );
    }

    let of_job = |status: AlertStatus| {
        alerts
            .iter()
            .filter(|a| a.label("job") == job && a.status == status)
            .count()
    };
    Ok(EvalOutcome {
        changed: transitions.len(),
        firing: of_job(AlertStatus::Firing),
        pending: of_job(AlertStatus::Pending),
        resolved: transitions
            .iter()
            .filter(|t| t.status_changed() && t.to == AlertStatus::Resolved)
            .count(),
        enqueued,
        silenced: plan.silenced.len(),
        already_evaluated: false,
    })
}
