//! `/metrics`: the daemon's Prometheus exposition (OpenMetrics text, encoded by
//! prometheus-client).
//!
//! Two kinds of series. Process counters and histograms ([`Metrics`], one global
//! instance) count what this process did: runs by job and status, run
//! durations, traces ingested and rejected per source, embedding cache hits and
//! misses. Database gauges are read from the store at each scrape, so every
//! replica reports the same, current state: latest effect size and verdict per
//! job/metric, coverage, firing alerts, outbox backlog and dead letters, open
//! proposals, time of the last succeeded run.

use std::sync::LazyLock;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::store::MetricsSnapshot;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobStatus {
    pub job: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabel {
    pub job: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FindingLabels {
    pub job: String,
    pub metric: String,
    pub side: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    pub job: String,
    pub metric: String,
    pub side: String,
    pub verdict: String,
}

/// Run durations: 100 ms to ~27 min.
fn duration_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.1, 2.0, 15,
    ))
}

/// This process's counters. Cheap to update from any task.
pub struct Metrics {
    runs: Family<JobStatus, Counter>,
    run_duration: Family<JobLabel, Histogram, fn() -> Histogram>,
    ingested: Family<SourceLabel, Counter>,
    rejected: Family<SourceLabel, Counter>,
    cache_hits: Counter,
    cache_misses: Counter,
    source_errors: Family<SourceLabel, Counter>,
    skipped_ticks: Family<JobLabel, Counter>,
}

/// The process-wide instance every component reports to.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    runs: Family::default(),
    run_duration: Family::new_with_constructor(duration_histogram),
    ingested: Family::default(),
    rejected: Family::default(),
    cache_hits: Counter::default(),
    cache_misses: Counter::default(),
    source_errors: Family::default(),
    skipped_ticks: Family::default(),
});

impl Metrics {
    /// Creates the series of these jobs and sources at zero, so they are exported
    /// (and `rate()` works) before anything happened.
    pub fn declare(&self, jobs: &[&str], sources: &[&str]) {
        for job in jobs {
            for status in ["succeeded", "failed", "aborted"] {
                let _ = self.runs.get_or_create(&JobStatus {
                    job: job.to_string(),
                    status: status.into(),
                });
            }
            let l = JobLabel {
                job: job.to_string(),
            };
            let _ = self.run_duration.get_or_create(&l);
            let _ = self.skipped_ticks.get_or_create(&l);
        }
        for source in sources.iter().chain(&["http"]) {
            let l = SourceLabel {
                source: source.to_string(),
            };
            let _ = self.ingested.get_or_create(&l);
            let _ = self.rejected.get_or_create(&l);
            if *source != "http" {
                let _ = self.source_errors.get_or_create(&l);
            }
        }
    }

    /// A run of `job` ended with `status` after `secs` seconds.
    pub fn run_finished(&self, job: &str, status: &str, secs: f64) {
        self.runs
            .get_or_create(&JobStatus {
                job: job.into(),
                status: status.into(),
            })
            .inc();
        self.run_duration
            .get_or_create(&JobLabel { job: job.into() })
            .observe(secs);
    }

    /// A scheduled tick of `job` was not run here (store unreachable).
    pub fn tick_skipped(&self, job: &str) {
        self.skipped_ticks
            .get_or_create(&JobLabel { job: job.into() })
            .inc();
    }

    /// Traces stored and records rejected by one ingest call or poll.
    pub fn ingest(&self, source: &str, stored: u64, rejected: u64) {
        let l = SourceLabel {
            source: source.into(),
        };
        self.ingested.get_or_create(&l).inc_by(stored);
        self.rejected.get_or_create(&l).inc_by(rejected);
    }

    /// A source poll failed (connection, query, file error).
    pub fn source_error(&self, source: &str) {
        self.source_errors
            .get_or_create(&SourceLabel {
                source: source.into(),
            })
            .inc();
    }

    pub fn embedding_cache(&self, hits: u64, misses: u64) {
        self.cache_hits.inc_by(hits);
        self.cache_misses.inc_by(misses);
    }
}

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
    let m = &*METRICS;
    let mut reg = Registry::with_prefix("driftwatch");
    reg.register(
        "runs",
        "Runs executed by this process, by job and final status",
        m.runs.clone(),
    );
    reg.register(
        "run_duration_seconds",
        "Wall time of runs executed by this process",
        m.run_duration.clone(),
    );
    reg.register(
        "traces_ingested",
        "Traces stored by this process (HTTP ingest and sources), by source",
        m.ingested.clone(),
    );
    reg.register(
        "traces_rejected",
        "Records rejected as malformed by this process, by source",
        m.rejected.clone(),
    );
    reg.register(
        "source_errors",
        "Failed polls of external sources",
        m.source_errors.clone(),
    );
    reg.register(
        "ticks_skipped",
        "Scheduled ticks not run because the store was unreachable",
        m.skipped_ticks.clone(),
    );
    reg.register(
        "embedding_cache_hits",
        "Texts whose embedding was found in the cache",
        m.cache_hits.clone(),
    );
    reg.register(
        "embedding_cache_misses",
        "Texts embedded by the model (cache misses)",
        m.cache_misses.clone(),
    );
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
        last.get_or_create(&JobLabel { job: job.clone() })
            .set(*ms as f64 / 1000.0);
    }
    reg.register(
        "last_success_timestamp_seconds",
        "Start time of the latest succeeded run per job",
        last,
    );
    let effect = Family::<FindingLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let drifted = Family::<VerdictLabels, Gauge>::default();
    let coverage = Family::<JobLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    for f in &s.latest_findings {
        let l = FindingLabels {
            job: f.job.clone(),
            metric: f.metric.clone(),
            side: f.side.clone(),
        };
        if let Some(e) = f.effect_size.filter(|e| e.is_finite()) {
            effect.get_or_create(&l).set(e);
        }
        drifted
            .get_or_create(&VerdictLabels {
                job: f.job.clone(),
                metric: f.metric.clone(),
                side: f.side.clone(),
                verdict: f.verdict.clone(),
            })
            .set(1);
        if f.metric == "input.coverage" {
            if let Some(c) = f.details.get("coverage").and_then(|v| v.as_f64()) {
                coverage
                    .get_or_create(&JobLabel { job: f.job.clone() })
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
                job: job.clone(),
                status: status.into(),
            });
        }
    }
    for (job, status, n) in &s.alerts {
        alerts
            .get_or_create(&JobStatus {
                job: job.clone(),
                status: status.clone(),
            })
            .set(*n);
    }
    reg.register(
        "alerts",
        "Alerts pending or firing, by job and status",
        alerts,
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
