//! This process's counters ([`Metrics`], one global instance, [`METRICS`]): runs by
//! job and status, run durations, traces ingested and rejected per source,
//! embedding cache hits and misses, failed source polls, skipped ticks. A leaf:
//! ingest paths, jobs and sources report here without knowing about the daemon,
//! whose `/metrics` exposition (`daemon::exposition`) encodes them.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

// The analysis job's label is `driftwatch_job`, not `job`: a scraping Prometheus
// sets `job` (and `instance`) on every series itself, and an exported `job`
// would clash with it and be renamed `exported_job` (Prometheus' "Writing
// exporters" guide: avoid the target labels).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobStatus {
    pub driftwatch_job: String,
    pub status: String,
}

/// An alert's name, incident and severity labels (`/metrics` alerts by name).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertNameLabels {
    pub driftwatch_job: String,
    pub alertname: String,
    pub incident: String,
    pub severity: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabel {
    pub driftwatch_job: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FindingLabels {
    pub driftwatch_job: String,
    pub metric: String,
    pub side: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    pub driftwatch_job: String,
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
                    driftwatch_job: job.to_string(),
                    status: status.into(),
                });
            }
            let l = JobLabel {
                driftwatch_job: job.to_string(),
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
                driftwatch_job: job.into(),
                status: status.into(),
            })
            .inc();
        self.run_duration
            .get_or_create(&JobLabel {
                driftwatch_job: job.into(),
            })
            .observe(secs);
    }

    /// A scheduled tick of `job` was not run here (store unreachable).
    pub fn tick_skipped(&self, job: &str) {
        self.skipped_ticks
            .get_or_create(&JobLabel {
                driftwatch_job: job.into(),
            })
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

    /// Registers every counter and histogram of this process in `reg`.
    pub fn register(&self, reg: &mut Registry) {
        reg.register(
            "runs",
            "Runs executed by this process, by job and final status",
            self.runs.clone(),
        );
        reg.register(
            "run_duration_seconds",
            "Wall time of runs executed by this process",
            self.run_duration.clone(),
        );
        reg.register(
            "traces_ingested",
            "Traces stored by this process (HTTP ingest and sources), by source",
            self.ingested.clone(),
        );
        reg.register(
            "traces_rejected",
            "Records rejected as malformed by this process, by source",
            self.rejected.clone(),
        );
        reg.register(
            "source_errors",
            "Failed polls of external sources",
            self.source_errors.clone(),
        );
        reg.register(
            "ticks_skipped",
            "Scheduled ticks not run because the store was unreachable",
            self.skipped_ticks.clone(),
        );
        reg.register(
            "embedding_cache_hits",
            "Texts whose embedding was found in the cache",
            self.cache_hits.clone(),
        );
        reg.register(
            "embedding_cache_misses",
            "Texts embedded by the model (cache misses)",
            self.cache_misses.clone(),
        );
    }
}
