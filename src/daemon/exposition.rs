//! `/metrics`: the daemon's Prometheus exposition (OpenMetrics text, encoded by
//! prometheus-client).
//!
//! Two kinds of series. Process counters and histograms ([`crate::telemetry`]) count
//! what this process did. Database gauges are read from the store at each scrape,
//! so every replica reports the same, current state: latest effect size and verdict
//! per job/metric, coverage, firing alerts, outbox backlog and dead letters, open
//! proposals, time of the last succeeded run.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::store::MetricsSnapshot;
use crate::telemetry::{
    AlertNameLabels, FindingLabels, JobLabel, JobStatus, VerdictLabels, METRICS,
};

/// State `/metrics` reports besides the counters.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// The store answered the scrape's queries.
    pub store_up: bool,
    /// The embedding model is loaded (or no job needs one).
    pub model_ready: bool,
}

/// Encodes every series: this process's counters and, when the store answered,
/// the database gauges of `snapshot`.
pub fn render(snapshot: Option<&MetricsSnapshot>, health: &Health) -> String {
    let mut reg = Registry::with_prefix("driftwatch");
    METRICS.register(&mut reg);
    let up = Gauge::<i64>::default();
    up.set(health.store_up as i64);
    reg.register("store_up", "1 when the store answered this scrape", up);
    let model = Gauge::<i64>::default();
    model.set(health.model_ready as i64);
    reg.register(
        "model_ready",
        "1 when the embedding model is loaded or not needed",
        model,
    );
    if let Some(s) = snapshot {
        register_snapshot(&mut reg, s);
    }
    let mut out = String::new();
    encode(&mut out, &reg).expect("writing to a String cannot fail");
    out
}

fn register_snapshot(reg: &mut Registry, s: &MetricsSnapshot) {
    let last = Family::<JobLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    for (job, ms) in &s.last_success_ms {
        last.get_or_create(&JobLabel {
            driftwatch_job: job.clone(),
        })
        .set(*ms as f64 / 1000.0);
    }
    reg.register(
        "last_success_timestamp_seconds",
        "Start time of the latest succeeded run per job",
        last,
    );
    let effect = Family::<FindingLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let floor = Family::<FindingLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let rate = Family::<FindingLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let drifted = Family::<VerdictLabels, Gauge>::default();
    let coverage = Family::<JobLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    for f in &s.latest_findings {
        let l = FindingLabels {
            driftwatch_job: f.job.clone(),
            metric: f.metric.clone(),
            side: f.side.clone(),
        };
        if let Some(e) = f.effect_size.filter(|e| e.is_finite()) {
            effect.get_or_create(&l).set(e);
        }
        if let Some(t) = f.threshold.filter(|t| t.is_finite()) {
            floor.get_or_create(&l).set(t);
        }
        if let Some(r) = f.details.production_rate.filter(|r| r.is_finite()) {
            rate.get_or_create(&l).set(r);
        }
        drifted
            .get_or_create(&VerdictLabels {
                driftwatch_job: f.job.clone(),
                metric: f.metric.clone(),
                side: f.side.clone(),
                verdict: f.verdict.clone(),
            })
            .set(1);
        if f.metric == "input.coverage" {
            if let Some(c) = f.details.coverage {
                coverage
                    .get_or_create(&JobLabel {
                        driftwatch_job: f.job.clone(),
                    })
                    .set(c);
            }
        }
    }
    reg.register(
        "effect_size",
        "Effect size of each metric in the job's latest succeeded run",
        effect,
    );
    reg.register(
        "effect_floor",
        "The effect-size floor each metric's verdict used in the job's latest succeeded run \
         (a finding drifts only above it)",
        floor,
    );
    reg.register(
        "production_rate",
        "The production side of a rate metric in the job's latest succeeded run: answer \
         agreement (answer.FIELD), negative feedback, errors, valid JSON, empty outputs",
        rate,
    );
    reg.register(
        "verdict",
        "1 for the verdict (drift, ok, skipped, …) of each metric in the job's latest succeeded run",
        drifted,
    );
    reg.register(
        "coverage_ratio",
        "Share of production inputs covered by the golden set, latest run",
        coverage,
    );
    let alerts = Family::<JobStatus, Gauge>::default();
    // Zero for every job that ran, so "no alert" is a value, not a missing series.
    for (job, _) in &s.last_success_ms {
        for status in ["pending", "firing"] {
            let _ = alerts.get_or_create(&JobStatus {
                driftwatch_job: job.clone(),
                status: status.into(),
            });
        }
    }
    for (job, status, n) in &s.alerts {
        alerts
            .get_or_create(&JobStatus {
                driftwatch_job: job.clone(),
                status: status.clone(),
            })
            .set(*n);
    }
    reg.register(
        "alerts",
        "Alerts pending or firing, by job and status",
        alerts,
    );
    let by_name = Family::<AlertNameLabels, Gauge>::default();
    for a in &s.alerts_by_name {
        by_name
            .get_or_create(&AlertNameLabels {
                driftwatch_job: a.job.clone(),
                alertname: a.alertname.clone(),
                incident: a.incident.clone(),
                severity: a.severity.clone(),
                status: a.status.clone(),
            })
            .set(a.count);
    }
    reg.register(
        "alerts_by_name",
        "Alerts pending or firing, by job, alert name, incident, severity and status",
        by_name,
    );
    let backlog = Gauge::<i64>::default();
    backlog.set(s.outbox.backlog());
    reg.register(
        "outbox_backlog",
        "Notifications waiting to be delivered",
        backlog,
    );
    let dead = Gauge::<i64>::default();
    dead.set(s.outbox.dead);
    reg.register(
        "outbox_dead",
        "Notifications given up on after their retries",
        dead,
    );
    let open = Gauge::<i64>::default();
    open.set(s.open_proposals);
    reg.register(
        "proposals_pending",
        "Proposed golden examples waiting for review",
        open,
    );
}
