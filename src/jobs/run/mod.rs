//! One run of a job: sample → metrics → tests → verdicts → findings, written
//! atomically with the run's final status. This file orchestrates the stages:
//! `structural` (sample, reference profile, streaming measurement, tests),
//! `operational` (against the previous window), `semantic` (embeddings, gaps,
//! proposals), `answers` (production answers against the golden set's expected
//! outputs), `examples` (traces behind a finding) and `export` (metric CSVs).

pub(super) mod answers;
mod examples;
mod export;
pub(super) mod judge;
mod operational;
pub(super) mod semantic;
mod structural;

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::config::JobSpec;
use super::error::JobError;
use super::hypothesis::decide_verdicts;
use crate::store::{
    Finding, FindingKind, GoldenExample, NewProposal, RunStatus, RunSummary, SemanticSummary,
    StageTimings, Store, Verdict,
};
use examples::attach_examples;
use export::export_samples;
pub use export::write_metrics_csv;
use operational::operational_findings;
use structural::{
    prepare_reference, previous_window, sample_ids, stream_sample, test_structural, Reference,
};

/// Overrides for one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// End of the window (exclusive).
    pub now: DateTime<Utc>,
    pub window: Option<Duration>,
    pub sample_size: Option<usize>,
    /// Needed when the job's semantic stage is enabled.
    pub embedder: Option<super::SharedEmbedder>,
    /// The daemon process running it (recorded on the run; `None` for the CLI).
    pub holder: Option<String>,
    /// `[review.ensemble]`: pre-label the run's proposals (`None`: off).
    pub ensemble: Option<std::sync::Arc<super::Prelabeler>>,
}

impl RunOptions {
    /// A run whose window ends at `now`, with the job's own window and sample
    /// size and `embedder` for the semantic stage.
    pub fn at(now: DateTime<Utc>, embedder: Option<super::SharedEmbedder>) -> RunOptions {
        RunOptions {
            now,
            window: None,
            sample_size: None,
            embedder,
            holder: None,
            ensemble: None,
        }
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions::at(Utc::now(), None)
    }
}

/// What a finished run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run_id: i64,
    pub summary: RunSummary,
    pub findings: Vec<Finding>,
}

/// Runs `spec` once: records the run, analyses, and writes findings and the final
/// status in one transaction; on error the run is marked failed with the reason.
pub async fn run_job(
    store: &Store,
    spec: &JobSpec,
    opts: &RunOptions,
) -> Result<RunOutcome, JobError> {
    run_job_inner(store, spec, opts, None).await
}

/// [`run_job`], also writing the per-trace metric values of both samples to
/// `dir/golden.csv` and `dir/production.csv` (see [`write_metrics_csv`]), e.g.
/// to run another drift tool on exactly the columns driftwatch tested.
pub async fn run_job_exporting_metrics(
    store: &Store,
    spec: &JobSpec,
    opts: &RunOptions,
    dir: &Path,
) -> Result<RunOutcome, JobError> {
    run_job_inner(store, spec, opts, Some(dir)).await
}

async fn run_job_inner(
    store: &Store,
    spec: &JobSpec,
    opts: &RunOptions,
    export: Option<&Path>,
) -> Result<RunOutcome, JobError> {
    let run_id = store
        .start_run_as(&spec.name, opts.holder.as_deref())
        .await?;
    tracing::info!(message = "Run started.", job = %spec.name, run_id);
    match analyze(store, spec, opts, export, run_id).await {
        Ok((summary, mut findings, proposals)) => {
            for f in &mut findings {
                f.run_id = run_id;
            }
            if let Err(e) = store.finish_run(run_id, &summary, &findings).await {
                let _ = store
                    .fail_run(
                        run_id,
                        RunStatus::Failed,
                        &format!("saving findings failed: {e}"),
                    )
                    .await;
                return Err(e.into());
            }
            if let Err(e) = store.insert_proposals(run_id, &proposals).await {
                tracing::error!(message = "Storing proposals failed.", run_id, error = %e);
            } else if let (Some(pl), false) = (&opts.ensemble, proposals.is_empty()) {
                // The run stands whatever the models do: a failed pre-label is logged.
                let queued = store
                    .list_proposals(&crate::store::ProposalFilter {
                        run_id: Some(run_id),
                        ..Default::default()
                    })
                    .await;
                let r = match queued {
                    Ok(ps) => super::prelabel(store, opts.embedder.as_ref(), pl, &ps).await,
                    Err(e) => Err(e.into()),
                };
                if let Err(e) = r {
                    tracing::warn!(message = "Ensemble pre-labelling failed.", run_id, error = %e);
                }
            }
            let drifted = findings
                .iter()
                .filter(|f| f.verdict == Verdict::Drifted)
                .count();
            tracing::info!(message = "Run finished.", job = %spec.name, run_id, drifted);
            let findings = store.findings(run_id).await?;
            Ok(RunOutcome {
                run_id,
                summary,
                findings,
            })
        }
        Err(e) => {
            tracing::warn!(message = "Run failed.", job = %spec.name, run_id, error = %e);
            let _ = store
                .fail_run(run_id, RunStatus::Failed, &e.to_string())
                .await;
            Err(e)
        }
    }
}

/// Logs the process's resident and peak resident memory (`VmRSS`, `VmHWM` in
/// `/proc/self/status`, Linux only) at debug level after a stage of a run, to
/// see where a run's memory goes (`DRIFTWATCH_LOG=driftwatch=debug`).
/// The golden set's examples at `version`, read once for the stages that need
/// them all (semantic, answers).
async fn golden_examples<'a>(
    store: &Store,
    spec: &JobSpec,
    version: i64,
    cache: &'a mut Option<Vec<GoldenExample>>,
) -> Result<&'a [GoldenExample], JobError> {
    if cache.is_none() {
        *cache = Some(
            store
                .golden_examples(&spec.golden_set, Some(version))
                .await?,
        );
    }
    Ok(cache.as_deref().unwrap_or(&[]))
}

fn log_memory(stage: &str) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return;
    };
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    tracing::debug!(
        message = "Run memory.",
        stage,
        rss_mib = kib("VmRSS:").map(|k| k / 1024),
        peak_mib = kib("VmHWM:").map(|k| k / 1024)
    );
}

fn ms(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}

async fn analyze(
    store: &Store,
    spec: &JobSpec,
    opts: &RunOptions,
    export: Option<&Path>,
    run_id: i64,
) -> Result<(RunSummary, Vec<Finding>, Vec<NewProposal>), JobError> {
    let started = Instant::now();
    log_memory("start");
    let version = store
        .latest_golden_version(&spec.golden_set)
        .await?
        .ok_or_else(|| JobError::NoGolden(spec.golden_set.clone()))?;
    if version.active_count == 0 {
        return Err(JobError::NoGolden(spec.golden_set.clone()));
    }
    let window = opts.window.unwrap_or(spec.window);
    let k = opts.sample_size.unwrap_or(spec.sample_size);
    let to = opts.now;
    let from = to - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::days(1));
    let t = Instant::now();
    let (window_n, ids) = sample_ids(store, spec, from, to, k).await?;
    let sample_ms = ms(t);
    log_memory("sample");
    if ids.is_empty() {
        return Err(JobError::EmptyWindow {
            from,
            to,
            window: humantime::format_duration(window).to_string(),
        });
    }

    // The golden set's texts are read a page at a time: once for the
    // vocabularies production OOV rates are scored against, and a second time
    // to measure them only when the reference profile is not cached yet (or
    // the golden rows are exported).
    let t = Instant::now();
    let Reference {
        ex,
        metrics,
        profile,
        fresh_profile,
        golden_measured,
        output_format,
        golden_n,
    } = prepare_reference(store, spec, version.version, export.is_some()).await?;
    let golden_measured = golden_measured.filter(|_| export.is_some());
    let profile_ms = ms(t);
    log_memory("reference profile");

    // The operational comparison needs the previous window: when it holds
    // fewer than `min_samples` traces no operational test can run, so the
    // sample's operational values are not kept (40 bytes a trace).
    let t = Instant::now();
    let previous_ids = previous_window(store, spec, from, to, k).await?;
    let operational = spec.operational && previous_ids.is_some();
    let operational_ms = ms(t);

    // The structural stage streams: texts are reduced to metric rows chunk by
    // chunk. Only the semantic stage keeps the sampled traces' texts.
    let t = Instant::now();
    let keep_texts = spec.semantic.enabled || spec.answers.enabled();
    let prod = stream_sample(store, &ids, Some(ex), operational, keep_texts).await?;
    drop(ids);
    let measure_ms = ms(t);
    log_memory("production metrics");
    if prod.rows.is_empty() {
        return Err(JobError::EmptyWindow {
            from,
            to,
            window: humantime::format_duration(window).to_string(),
        });
    }

    let mut export_ms = None;
    let prod = match export {
        Some(dir) => {
            let t = Instant::now();
            let dir = dir.to_path_buf();
            let metrics = metrics.clone();
            let (prod, res) = tokio::task::spawn_blocking(move || {
                let res = export_samples(&dir, &metrics, golden_measured.as_ref(), &prod);
                (prod, res)
            })
            .await
            .map_err(|e| JobError::Internal(e.to_string()))?;
            res?;
            export_ms = Some(ms(t));
            prod
        }
        None => prod,
    };

    let t = Instant::now();
    let mut findings = test_structural(spec, &metrics, &profile, &prod);
    let tests_ms = ms(t);
    log_memory("tests");
    let t = Instant::now();
    // The answers stage compares with the previous window's answers too.
    let mut previous_traces = None;
    if let Some(prev_ids) = previous_ids {
        let previous =
            stream_sample(store, &prev_ids, None, operational, spec.answers.enabled()).await?;
        if operational {
            findings.extend(operational_findings(spec, &previous.op, &prod.op));
        }
        previous_traces = Some(previous.traces);
    }
    let operational_ms = operational_ms + ms(t);
    log_memory("operational");
    let mut golden_all: Option<Vec<GoldenExample>> = None;
    let mut semantic_summary: Option<SemanticSummary> = None;
    let mut proposals = Vec::new();
    let t = Instant::now();
    if spec.semantic.enabled {
        let embedder = opts
            .embedder
            .as_ref()
            .ok_or_else(|| JobError::NoEmbedder(spec.name.clone()))?;
        // The semantic stage embeds every golden text: only it (and the
        // answers stage) load them all.
        let golden = golden_examples(store, spec, version.version, &mut golden_all).await?;
        let out = semantic::run_semantic(
            store,
            embedder,
            run_id,
            &spec.name,
            &spec.golden_set,
            spec.seed,
            &spec.semantic_params,
            &spec.semantic,
            golden,
            &prod.traces,
        )
        .await?;
        // The structural tests, like the run-wide semantic ones, treat traces
        // as independent: deflate them by the clumping the gap regions
        // measured (paraphrase groups land whole on one side, and their
        // lengths, words and casing come with them).
        for f in findings
            .iter_mut()
            .filter(|f| f.kind == FindingKind::Structural)
        {
            semantic::deflate(f, out.design_effect);
        }
        findings.extend(out.findings);
        semantic_summary = Some(out.summary);
        proposals = out.proposals;
    }
    let semantic_ms = ms(t);
    log_memory("semantic");
    let mut answers_ms = None;
    if spec.answers.enabled() {
        let t = Instant::now();
        let golden = golden_examples(store, spec, version.version, &mut golden_all).await?;
        findings.extend(
            answers::run_answers(
                store,
                opts.embedder.as_ref(),
                &spec.name,
                &spec.answers,
                spec.effect_floors.rate,
                golden,
                &prod.traces,
                previous_traces.as_deref(),
            )
            .await?,
        );
        answers_ms = Some(ms(t));
        log_memory("answers");
    }
    drop(golden_all);
    decide_verdicts(&mut findings, spec.alpha);
    let kind = semantic::classify_semantic(&mut findings);
    // Proposals come from drifted topic gaps only (spot checks aside): a
    // diffuse shift, a chance outlier or a gap under its floor queues nothing.
    let drifted_gaps: std::collections::HashSet<i64> = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Drifted && f.details.gap && f.details.excluded.is_none())
        .filter_map(|f| f.details.gap_id)
        .collect();
    proposals.retain(|p| {
        p.kind == "spot_check" || p.cluster_id.is_some_and(|c| drifted_gaps.contains(&c))
    });
    if let Some(sem) = semantic_summary.as_mut() {
        sem.shift = Some(kind);
        sem.proposals = proposals.len() as u64;
    }
    attach_examples(store, &mut findings, &metrics, &prod).await?;
    log_memory("examples");

    let count = |v: Verdict| findings.iter().filter(|f| f.verdict == v).count() as u64;
    let summary = RunSummary {
        golden_set: spec.golden_set.clone(),
        golden_version: version.version,
        golden_examples: golden_n as u64,
        window_start: Some(from),
        window_end: Some(to),
        window_traces: window_n as u64,
        sampled: prod.rows.len() as u64,
        seed: spec.seed,
        alpha: spec.alpha,
        tested: findings.len() as u64 - count(Verdict::Skipped),
        skipped: count(Verdict::Skipped),
        drifted: count(Verdict::Drifted),
        reference_profile: if fresh_profile { "computed" } else { "cached" }.to_string(),
        output_format: Some(output_format),
        duration_ms: started.elapsed().as_millis() as u64,
        timings_ms: StageTimings {
            sample: sample_ms,
            reference_profile: profile_ms,
            measure: measure_ms,
            export: export_ms,
            tests: tests_ms,
            operational: operational_ms,
            semantic: semantic_ms,
            answers: answers_ms,
        },
        semantic: semantic_summary,
        other: Default::default(),
    };
    Ok((summary, findings, proposals))
}
