//! Analysis jobs: `[[jobs]]` config, checked into a [`JobSpec`], and the run that
//! samples a production window, measures it against the golden set's reference
//! profile and writes findings. Statistics come from `crate::stats`, per-text
//! metrics from `crate::metrics`; this module only orchestrates and decides
//! verdicts (Benjamini–Hochberg across the run, plus an effect-size floor).

mod backfill;
mod bench;
mod compare;
mod config;
mod embedding;
mod error;
mod hypothesis;
mod measure;
mod orphans;
mod prelabel;
mod profile;
mod run;
mod sampling;
mod scheduler;

pub use backfill::{backfill, embed_golden_version, parse_since, BackfillOptions, BackfillReport};
pub use bench::{test_exported_metrics, BenchTests};
pub use compare::{compare, CompareOutcome, CompareTimings, GoldenInput};
pub use config::{EffectFloors, JobConfig, JobSpec, TestChoice, Timing};
pub use embedding::{embed_cached, EmbedStats, Embedders, SharedEmbedder};
pub use error::JobError;
pub use hypothesis::{decide_verdicts, test_metric, MetricTest};
pub use orphans::{abort_orphaned_runs, cli_holder, holder_alive, hostname, orphaned};
pub use prelabel::{prelabel, PrelabelReport, Prelabeler};
pub use profile::{RefColumn, ReferenceProfile};
pub use run::answers::{AnswersConfig, DEFAULT_MATCH_COS};
pub use run::judge::{JudgeConfig, DEFAULT_JUDGE_PROMPT};
pub use run::semantic::{JobEmbedding, SemanticJobConfig};
pub use run::{run_job, run_job_exporting_metrics, write_metrics_csv, RunOptions, RunOutcome};
pub use sampling::{bottom_k_sample, sample_key, seed_mask};
pub use scheduler::{next_fire_times, run_scheduler, SchedulerCtx, SHUTDOWN_GRACE};
