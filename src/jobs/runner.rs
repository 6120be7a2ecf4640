//! One run of a job: sample → metrics → tests → verdicts → findings, written
//! atomically with the run's final status.
//!
//! The structural stage streams: the sampled ids are fetched in chunks of
//! [`CHUNK`] traces and each chunk is reduced to per-trace metric rows at once,
//! so a run over 1M traces holds their metric values, not their texts. The few
//! example traces behind a finding are fetched again by id. Only the semantic
//! stage, when enabled, keeps the sampled traces (it embeds their texts).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::config::JobSpec;
use super::error::JobError;
use super::hypothesis::{decide_verdicts, test_metric, CurColumn};
use super::profile::{RefColumn, ReferenceProfile};
use super::sampling::{sample_key, BottomK};
use crate::metrics::{
    Extractor, MetricId, MetricKind, MetricTable, Side, TokenCounter, Vocabulary,
};
use crate::store::{Finding, FindingKind, RunStatus, Store, StoreError, Trace, Verdict};

/// Bumped when metric definitions change, so stored profiles are recomputed.
const PROFILE_VERSION: &str = "metrics-v1";

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
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            now: Utc::now(),
            window: None,
            sample_size: None,
            embedder: None,
            holder: None,
        }
    }
}

/// What a finished run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run_id: i64,
    pub summary: Value,
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
    match analyze(store, spec, opts, export).await {
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

fn settings_hash(spec: &JobSpec, expectations: &super::config::ExpectationsSource) -> String {
    let s = format!(
        "{PROFILE_VERSION}|{:?}|{}|{}|{}",
        expectations, spec.tokenizer, spec.language_detection, spec.language_sample
    );
    crate::store::content_hash(&s)[..16].to_string()
}

/// Ids of the sampled traces of `[from, to)` (sorted), optionally restricted to
/// some sources, and the number of traces in the window.
async fn sample_ids(
    store: &Store,
    spec: &JobSpec,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    k: usize,
) -> Result<(usize, Vec<i64>), StoreError> {
    let mut n = 0;
    let mut sample = BottomK::new(k);
    store
        .for_each_window_trace(
            from.timestamp_millis(),
            to.timestamp_millis(),
            |id, source, external_id| {
                if let Some(src) = &spec.sources {
                    if !src.iter().any(|s| s == source) {
                        return;
                    }
                }
                n += 1;
                sample.push(sample_key(spec.seed, source, external_id), id);
            },
        )
        .await?;
    Ok((n, sample.into_ids()))
}

/// Traces fetched from the store and reduced to metric values per step of the
/// streaming structural stage: only one or two chunks' texts are in memory.
const CHUNK: usize = 10_000;

/// The operational fields of one trace (what [`operational_findings`] compares),
/// compact: a missing number is NaN (the comparison drops non-finite values
/// anyway), a missing flag is `None`.
#[derive(Debug, Clone, Copy)]
struct OpValues {
    latency_ms: f64,
    prompt_tokens: f64,
    completion_tokens: f64,
    cost: f64,
    is_error: Option<bool>,
    /// `feedback <= 0`.
    negative_feedback: Option<bool>,
}

impl OpValues {
    fn of(t: &Trace) -> Self {
        OpValues {
            latency_ms: t.latency_ms.unwrap_or(f64::NAN),
            prompt_tokens: t.prompt_tokens.map_or(f64::NAN, |x| x as f64),
            completion_tokens: t.completion_tokens.map_or(f64::NAN, |x| x as f64),
            cost: t.cost.unwrap_or(f64::NAN),
            is_error: t.is_error,
            negative_feedback: t.feedback.map(|x| x <= 0.0),
        }
    }
}

/// A production sample reduced to what the run needs, in trace-id order.
#[derive(Default)]
struct Sample {
    ids: Vec<i64>,
    /// The metrics other than language, by column.
    rows: MetricTable,
    /// The language metrics of the rows measured with language detection (a
    /// prefix of the sample).
    lang_rows: MetricTable,
    /// Filled when the operational comparison is on.
    op: Vec<OpValues>,
    /// The full traces, kept only when the semantic stage needs their texts.
    traces: Vec<Trace>,
}

/// Extractors of a run: without and (optionally) with language detection, and
/// how many leading rows get language detection.
#[derive(Clone)]
struct Extractors {
    plain: Arc<Extractor>,
    lang: Option<Arc<Extractor>>,
    lang_n: usize,
    /// The tested metrics measured by `plain` (all but language).
    plain_metrics: Vec<MetricId>,
    /// The tested language metrics, measured by `lang`.
    lang_metrics: Vec<MetricId>,
}

impl Extractors {
    /// Empty tables for the metrics these extractors measure.
    fn tables(&self) -> (MetricTable, MetricTable) {
        (
            MetricTable::new(&self.plain_metrics),
            MetricTable::new(&self.lang_metrics),
        )
    }
}

/// Fetches `ids` from the store in chunks of [`CHUNK`] and reduces each chunk to
/// metric rows (when `ex` is given) and operational values (when `keep_op`),
/// fetching the next chunk while the current one is measured. Texts are dropped
/// with their chunk unless `keep_traces`.
async fn stream_sample(
    store: &Store,
    ids: &[i64],
    ex: Option<Extractors>,
    keep_op: bool,
    keep_traces: bool,
) -> Result<Sample, JobError> {
    let mut out = Sample::default();
    if let Some(ex) = &ex {
        (out.rows, out.lang_rows) = ex.tables();
    }
    let mut chunks = ids.chunks(CHUNK);
    let mut next = match chunks.next() {
        Some(c) => Some(store.traces_by_ids(c).await?),
        None => None,
    };
    while let Some(batch) = next.take() {
        let offset = out.ids.len();
        let ex = ex.clone();
        let work = tokio::task::spawn_blocking(move || {
            let (rows, lang_rows) = match &ex {
                Some(ex) => {
                    let pairs: Vec<(&str, &str)> = batch
                        .iter()
                        .map(|t| (t.input.as_str(), t.output.as_str()))
                        .collect();
                    let rows = ex.plain.extract_all(&pairs);
                    let lang_rows = match &ex.lang {
                        Some(l) => {
                            let m = ex.lang_n.saturating_sub(offset).min(pairs.len());
                            l.extract_all(&pairs[..m])
                        }
                        None => Vec::new(),
                    };
                    (rows, lang_rows)
                }
                None => (Vec::new(), Vec::new()),
            };
            (batch, rows, lang_rows)
        });
        let fetch = async {
            match chunks.next() {
                Some(c) => store.traces_by_ids(c).await.map(Some),
                None => Ok(None),
            }
        };
        let (done, fetched) = tokio::join!(work, fetch);
        let (batch, rows, lang_rows) = done.map_err(|e| JobError::Internal(e.to_string()))?;
        next = fetched?;
        out.ids.extend(batch.iter().map(|t| t.id));
        out.rows.extend(&rows);
        out.lang_rows.extend(&lang_rows);
        if keep_op {
            out.op.extend(batch.iter().map(OpValues::of));
        }
        if keep_traces {
            out.traces.extend(batch);
        }
    }
    Ok(out)
}

/// Golden texts are read a page of this many examples at a time.
const GOLDEN_PAGE: i64 = 10_000;

/// One page of golden texts: `(id, input, expected_output)`.
type GoldenPage = Vec<(i64, String, String)>;

/// Reads the golden set's texts a page at a time (the next page is read while
/// `f` works on the current one, off the async workers) and folds them into
/// `state`: a run never holds the whole golden set's texts.
async fn fold_golden_pages<S, F>(
    store: &Store,
    set: &str,
    version: i64,
    mut state: S,
    f: F,
) -> Result<S, JobError>
where
    S: Send + 'static,
    F: Fn(&mut S, GoldenPage) + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let mut next = Some(
        store
            .golden_texts_page(set, version, i64::MIN, GOLDEN_PAGE)
            .await?,
    );
    while let Some(page) = next.take() {
        let Some(last) = page.last().map(|p| p.0) else {
            break;
        };
        let more = page.len() as i64 == GOLDEN_PAGE;
        let f = Arc::clone(&f);
        let work = tokio::task::spawn_blocking(move || {
            f(&mut state, page);
            state
        });
        let fetch = async {
            if more {
                store
                    .golden_texts_page(set, version, last, GOLDEN_PAGE)
                    .await
                    .map(Some)
            } else {
                Ok(None)
            }
        };
        let (done, fetched) = tokio::join!(work, fetch);
        state = done.map_err(|e| JobError::Internal(e.to_string()))?;
        next = fetched?;
    }
    Ok(state)
}

/// The input and output vocabularies of the golden set, built a page at a time.
async fn golden_vocabularies(
    store: &Store,
    set: &str,
    version: i64,
) -> Result<GoldenScan, JobError> {
    fold_golden_pages(store, set, version, GoldenScan::default(), |g, page| {
        let (input, output) = (&mut g.input, &mut g.output);
        let ((), json) = rayon::join(
            || page.iter().for_each(|p| input.add_document(&p.1)),
            || {
                page.iter()
                    .filter(|p| {
                        output.add_document(&p.2);
                        is_json_document(&p.2)
                    })
                    .count()
            },
        );
        g.json_outputs += json;
        g.outputs += page.len();
    })
    .await
}

/// What one pass over the golden texts collects.
#[derive(Default)]
struct GoldenScan {
    input: Vocabulary,
    output: Vocabulary,
    /// Expected outputs that are a JSON object or array, of `outputs`.
    json_outputs: usize,
    outputs: usize,
}

/// A JSON object or array (a bare number or string is not evidence of a JSON
/// output contract).
fn is_json_document(s: &str) -> bool {
    let t = s.trim_start();
    (t.starts_with('{') || t.starts_with('['))
        && serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok()
}

/// The golden set measured: metric tables like a production [`Sample`]'s, with
/// leave-one-out OOV rates.
struct Measured {
    ids: Vec<i64>,
    rows: MetricTable,
    lang_rows: MetricTable,
}

/// Measures the golden set a page at a time.
async fn measure_golden(
    store: &Store,
    set: &str,
    version: i64,
    ex: &Extractors,
) -> Result<Measured, JobError> {
    let (rows, lang_rows) = ex.tables();
    let init = Measured {
        ids: Vec::new(),
        rows,
        lang_rows,
    };
    let ex = ex.clone();
    fold_golden_pages(store, set, version, init, move |g, page| {
        let pairs: Vec<(&str, &str)> = page.iter().map(|p| (p.1.as_str(), p.2.as_str())).collect();
        g.rows.extend(&ex.plain.extract_golden_all(&pairs));
        if let Some(l) = &ex.lang {
            let m = ex.lang_n.saturating_sub(g.ids.len()).min(pairs.len());
            g.lang_rows.extend(&l.extract_golden_all(&pairs[..m]));
        }
        g.ids.extend(page.iter().map(|p| p.0));
    })
    .await
}

fn is_language(m: MetricId) -> bool {
    m.name().ends_with(".language")
}

/// Writes one sample's per-trace metric values as CSV: an `id` column, then one
/// column per metric in `metrics` order — numbers as they are tested, rates as
/// 0/1, categories as labels, an empty cell where the metric does not apply to
/// the row (language columns are filled only for the rows measured with
/// language detection, like the test uses them).
pub fn write_metrics_csv(
    path: &Path,
    metrics: &[MetricId],
    ids: &[i64],
    rows: &MetricTable,
    lang_rows: &MetricTable,
) -> Result<(), JobError> {
    let err = |e: &dyn std::fmt::Display| JobError::Export(format!("{}: {e}", path.display()));
    let mut w = csv::Writer::from_path(path).map_err(|e| err(&e))?;
    let mut header = vec!["id"];
    header.extend(metrics.iter().map(|m| m.name()));
    w.write_record(&header).map_err(|e| err(&e))?;
    let mut record: Vec<String> = Vec::with_capacity(header.len());
    for (i, id) in ids.iter().enumerate().take(rows.len()) {
        record.clear();
        record.push(id.to_string());
        for m in metrics {
            // A table answers `None` past its rows or for a metric it does
            // not hold: an empty cell.
            let table = if is_language(*m) { lang_rows } else { rows };
            let cell = match m.kind() {
                MetricKind::Numeric => table
                    .number_at(*m, i)
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                MetricKind::Rate => table
                    .flag_at(*m, i)
                    .map(|b| u8::from(b).to_string())
                    .unwrap_or_default(),
                MetricKind::Categorical => table
                    .category_at(*m, i)
                    .map(str::to_owned)
                    .unwrap_or_default(),
            };
            record.push(cell);
        }
        w.write_record(&record).map_err(|e| err(&e))?;
    }
    w.flush().map_err(|e| err(&e))?;
    Ok(())
}

/// Writes `dir/golden.csv` (when the golden rows were measured) and
/// `dir/production.csv`.
fn export_samples(
    dir: &Path,
    metrics: &[MetricId],
    golden: Option<&Measured>,
    prod: &Sample,
) -> Result<(), JobError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| JobError::Export(format!("{}: {e}", dir.display())))?;
    if let Some(g) = golden {
        write_metrics_csv(
            &dir.join("golden.csv"),
            metrics,
            &g.ids,
            &g.rows,
            &g.lang_rows,
        )?;
    }
    write_metrics_csv(
        &dir.join("production.csv"),
        metrics,
        &prod.ids,
        &prod.rows,
        &prod.lang_rows,
    )
}

/// Logs the process's resident and peak resident memory (`VmRSS`, `VmHWM` in
/// `/proc/self/status`, Linux only) at debug level after a stage of a run, to
/// see where a run's memory goes (`DRIFTWATCH_LOG=driftwatch=debug`).
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
) -> Result<(Value, Vec<Finding>, Vec<crate::store::NewProposal>), JobError> {
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
    let tokens = TokenCounter::new(&spec.tokenizer)?;
    log_memory("tokenizer");
    let scan = golden_vocabularies(store, &spec.golden_set, version.version).await?;
    let (input_vocab, output_vocab) = (scan.input, scan.output);
    // An unconfigured output format is inferred from the golden set, so a job
    // whose golden answers are JSON measures JSON validity without config.
    let source = spec.expectations.inferred(scan.json_outputs, scan.outputs);
    let expectations = source.compile()?;
    let output_format = json!({
        "format": if source.output_format == crate::metrics::OutputFormat::Json { "json" } else { "text" },
        "inferred": source.infer_format,
        "golden_json_share": if scan.outputs > 0 { scan.json_outputs as f64 / scan.outputs as f64 } else { 0.0 },
    });
    let golden_n = input_vocab.documents();
    if golden_n == 0 {
        return Err(JobError::NoGolden(spec.golden_set.clone()));
    }
    log_memory("vocabularies");
    let extractor = Extractor::new(tokens, expectations)
        .with_language_detection(false)
        .with_vocabularies(Some(input_vocab), Some(output_vocab));
    let lang = spec
        .language_detection
        .then(|| extractor.clone().with_language_detection(true));
    let metrics: Vec<MetricId> = lang.as_ref().unwrap_or(&extractor).applicable_metrics();
    let (lang_metrics, plain_metrics): (Vec<MetricId>, Vec<MetricId>) =
        metrics.iter().partition(|m| is_language(**m));
    let ex = Extractors {
        plain: Arc::new(extractor),
        lang: lang.map(Arc::new),
        lang_n: spec.language_sample,
        plain_metrics,
        lang_metrics,
    };
    let hash = settings_hash(spec, &source);
    let cached = store
        .reference_profile(&spec.golden_set, version.version, &hash)
        .await?;
    let cached = match cached {
        Some(text) => tokio::task::spawn_blocking(move || {
            serde_json::from_str::<ReferenceProfile>(&text).ok()
        })
        .await
        .map_err(|e| JobError::Internal(e.to_string()))?,
        None => None,
    };
    log_memory("profile parsed");
    let golden_measured = if cached.is_none() || export.is_some() {
        Some(measure_golden(store, &spec.golden_set, version.version, &ex).await?)
    } else {
        None
    };
    let fresh_profile = cached.is_none();
    let profile = match cached {
        Some(p) => p,
        None => {
            let g = golden_measured
                .as_ref()
                .expect("measured when no profile is cached");
            let columns = metrics
                .iter()
                .map(|m| {
                    let table = if is_language(*m) {
                        &g.lang_rows
                    } else {
                        &g.rows
                    };
                    (
                        m.name().to_string(),
                        RefColumn::from_column(table.column(*m)),
                    )
                })
                .collect();
            let p = ReferenceProfile {
                golden_set: spec.golden_set.clone(),
                version: version.version,
                settings_hash: hash,
                n: g.ids.len(),
                columns,
            };
            let text = serde_json::to_string(&p).map_err(|e| JobError::Internal(e.to_string()))?;
            store
                .save_reference_profile(&spec.golden_set, version.version, &p.settings_hash, &text)
                .await?;
            p
        }
    };
    let golden_measured = golden_measured.filter(|_| export.is_some());
    let profile_ms = ms(t);
    log_memory("reference profile");

    // The operational comparison needs the previous window: when it holds
    // fewer than `min_samples` traces no operational test can run, so the
    // sample's operational values are not kept (40 bytes a trace).
    let t = Instant::now();
    let prev_from = from - (to - from);
    let operational = spec.operational
        && sample_ids(store, spec, prev_from, from, 0).await?.0 >= spec.min_samples;
    let operational_ms = ms(t);

    // The structural stage streams: texts are reduced to metric rows chunk by
    // chunk. Only the semantic stage keeps the sampled traces' texts.
    let t = Instant::now();
    let prod = stream_sample(store, &ids, Some(ex), operational, spec.semantic.enabled).await?;
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
    let mut findings = Vec::new();
    for m in &metrics {
        let Some(reference) = profile.columns.get(m.name()) else {
            continue;
        };
        let rows = if is_language(*m) {
            &prod.lang_rows
        } else {
            &prod.rows
        };
        let mut numeric;
        let cats;
        let cur = match m.kind() {
            MetricKind::Numeric => {
                numeric = rows.numeric_column(*m);
                CurColumn::Numeric(&mut numeric)
            }
            MetricKind::Rate => {
                let (successes, n) = rows.rate_counts(*m);
                CurColumn::Rate { successes, n }
            }
            MetricKind::Categorical => {
                cats = rows.categories(*m);
                CurColumn::Categorical(&cats)
            }
        };
        let t = test_metric(
            reference,
            cur,
            &spec.effect_floors,
            spec.tests.get(m.name()).copied(),
            spec.min_samples,
        );
        findings.push(to_finding(
            &spec.name,
            FindingKind::Structural,
            m.name(),
            m.side().as_str(),
            t,
        ));
    }
    let tests_ms = ms(t);
    log_memory("tests");
    let t = Instant::now();
    if operational {
        let (_, prev_ids) = sample_ids(store, spec, prev_from, from, k).await?;
        let previous = stream_sample(store, &prev_ids, None, true, false).await?;
        findings.extend(operational_findings(spec, &previous.op, &prod.op));
    }
    let operational_ms = operational_ms + ms(t);
    log_memory("operational");
    let mut semantic_summary = Value::Null;
    let mut proposals = Vec::new();
    let t = Instant::now();
    if spec.semantic.enabled {
        let embedder = opts
            .embedder
            .as_ref()
            .ok_or_else(|| JobError::NoEmbedder(spec.name.clone()))?;
        // The semantic stage embeds every golden text: only it loads them all.
        let golden = store
            .golden_examples(&spec.golden_set, Some(version.version))
            .await?;
        let out = super::semantic_stage::run_semantic(
            store,
            embedder,
            &spec.name,
            &spec.golden_set,
            spec.seed,
            spec.alpha,
            &spec.semantic,
            &golden,
            &prod.traces,
        )
        .await?;
        findings.extend(out.findings);
        semantic_summary = out.summary;
        proposals = out.proposals;
    }
    let semantic_ms = ms(t);
    log_memory("semantic");
    decide_verdicts(&mut findings, spec.alpha);
    let kind = super::semantic_stage::classify_semantic(&mut findings);
    // Proposals come from drifted topic gaps only (spot checks aside): a
    // diffuse shift, a chance outlier or a gap under its floor queues nothing.
    let drifted_gaps: std::collections::HashSet<i64> = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Drifted && f.details["gap"] == Value::Bool(true))
        .filter_map(|f| f.details["cluster"].as_i64())
        .collect();
    proposals.retain(|p| {
        p.kind == "spot_check" || p.cluster_id.is_some_and(|c| drifted_gaps.contains(&c))
    });
    if let Some(obj) = semantic_summary.as_object_mut() {
        obj.insert("shift".into(), json!(kind));
        obj.insert("proposals".into(), json!(proposals.len()));
    }
    attach_examples(store, &mut findings, &metrics, &prod).await?;
    log_memory("examples");

    let drifted = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Drifted)
        .count();
    let summary = json!({
        "golden_set": spec.golden_set,
        "golden_version": version.version,
        "golden_examples": golden_n,
        "window_start": from,
        "window_end": to,
        "window_traces": window_n,
        "sampled": prod.rows.len(),
        "seed": spec.seed,
        "alpha": spec.alpha,
        "tested": findings.iter().filter(|f| f.verdict != Verdict::Skipped).count(),
        "skipped": findings.iter().filter(|f| f.verdict == Verdict::Skipped).count(),
        "drifted": drifted,
        "reference_profile": if fresh_profile { "computed" } else { "cached" },
        "output_format": output_format,
        "duration_ms": started.elapsed().as_millis() as u64,
        "timings_ms": {
            "sample": sample_ms,
            "reference_profile": profile_ms,
            "measure": measure_ms,
            "export": export_ms,
            "tests": tests_ms,
            "operational": operational_ms,
            "semantic": semantic_ms,
        },
        "semantic": semantic_summary,
    });
    Ok((summary, findings, proposals))
}

/// A finding from one metric's test, before the run-wide verdicts.
pub(super) fn to_finding(
    job: &str,
    kind: FindingKind,
    metric: &str,
    side: &str,
    t: super::hypothesis::MetricTest,
) -> Finding {
    let verdict = if t.p_value.is_none() {
        Verdict::Skipped
    } else {
        Verdict::Ok
    };
    Finding {
        id: 0,
        run_id: 0,
        job: job.to_string(),
        kind,
        metric: metric.to_string(),
        side: side.to_string(),
        test: t.test.to_string(),
        statistic: t.statistic,
        p_value: t.p_value,
        p_adjusted: None,
        effect_size: t.effect_size,
        threshold: t.threshold,
        verdict,
        ref_n: t.ref_n as i64,
        cur_n: t.cur_n as i64,
        details: t.details,
    }
}

/// Latency, tokens, cost, error and negative-feedback rates: the golden set has
/// none of these, so the current window is compared with the previous one.
fn operational_findings(
    spec: &JobSpec,
    previous: &[OpValues],
    current: &[OpValues],
) -> Vec<Finding> {
    type NumFn = fn(&OpValues) -> f64;
    let numeric: [(&str, NumFn); 4] = [
        ("latency_ms", |t| t.latency_ms),
        ("prompt_tokens", |t| t.prompt_tokens),
        ("completion_tokens", |t| t.completion_tokens),
        ("cost", |t| t.cost),
    ];
    let mut out = Vec::new();
    for (name, f) in numeric {
        let r: Vec<f64> = previous.iter().map(f).filter(|x| x.is_finite()).collect();
        let mut c: Vec<f64> = current.iter().map(f).filter(|x| x.is_finite()).collect();
        if r.len() < spec.min_samples || c.len() < spec.min_samples {
            continue;
        }
        let mut rs = r;
        rs.sort_by(f64::total_cmp);
        let t = test_metric(
            &RefColumn::Numeric { sorted: rs },
            CurColumn::Numeric(&mut c),
            &spec.effect_floors,
            spec.tests.get(name).copied(),
            spec.min_samples,
        );
        out.push(to_finding(
            &spec.name,
            FindingKind::Operational,
            &format!("op.{name}"),
            "-",
            t,
        ));
    }
    type RateFn = fn(&OpValues) -> Option<bool>;
    let rates: [(&str, RateFn); 2] = [
        ("error_rate", |t| t.is_error),
        ("negative_feedback_rate", |t| t.negative_feedback),
    ];
    for (name, f) in rates {
        let count = |ts: &[OpValues]| {
            ts.iter()
                .filter_map(f)
                .fold((0u64, 0u64), |(s, n), b| (s + b as u64, n + 1))
        };
        let (rs, rn) = count(previous);
        let (cs, cn) = count(current);
        if (rn as usize) < spec.min_samples || (cn as usize) < spec.min_samples {
            continue;
        }
        let t = test_metric(
            &RefColumn::Rate {
                successes: rs,
                n: rn,
            },
            CurColumn::Rate {
                successes: cs,
                n: cn,
            },
            &spec.effect_floors,
            None,
            spec.min_samples,
        );
        out.push(to_finding(
            &spec.name,
            FindingKind::Operational,
            &format!("op.{name}"),
            "-",
            t,
        ));
    }
    out
}

fn clip(s: &str, n: usize) -> String {
    crate::text::truncate(s, n)
}

/// Puts up to three example traces behind each drifted structural finding: the
/// failing outputs for rates, the most extreme values in the direction of the
/// shift for numbers, the grown category for languages. The rows hold no texts:
/// the few picked traces are fetched again by id (`ids[i]` is row `i`'s trace).
async fn attach_examples(
    store: &Store,
    findings: &mut [Finding],
    metrics: &[MetricId],
    prod: &Sample,
) -> Result<(), StoreError> {
    let ids = &prod.ids;
    let picks = pick_examples(findings, metrics, &prod.rows, &prod.lang_rows);
    let mut wanted: Vec<i64> = picks
        .iter()
        .flat_map(|(_, _, p)| p.iter().filter_map(|(i, _)| ids.get(*i).copied()))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let traces = store.traces_by_ids(&wanted).await?;
    let by_id: HashMap<i64, &Trace> = traces.iter().map(|t| (t.id, t)).collect();
    fn text_of(t: &Trace, side: Side) -> &str {
        if side == Side::Input {
            &t.input
        } else {
            &t.output
        }
    }
    for (fi, side, p) in picks {
        let examples: Vec<Value> = p
            .into_iter()
            .filter_map(|(i, v)| {
                let t = ids.get(i).and_then(|id| by_id.get(id))?;
                Some(json!({"trace_id": t.id, "external_id": t.external_id, "value": v, "text": clip(text_of(t, side), 300)}))
            })
            .collect();
        if let Value::Object(d) = &mut findings[fi].details {
            d.insert("examples".into(), Value::Array(examples));
        }
    }
    Ok(())
}

/// Per drifted structural finding (by index): the side and the picked rows with
/// the value shown for each.
type Picks = Vec<(usize, Side, Vec<(usize, Value)>)>;

/// `rows` holds the metrics but language, `lang_rows` the language metrics of
/// the language-detected prefix of the sample.
fn pick_examples(
    findings: &[Finding],
    metrics: &[MetricId],
    rows: &MetricTable,
    lang_rows: &MetricTable,
) -> Picks {
    let by_name: HashMap<&str, MetricId> = metrics.iter().map(|m| (m.name(), *m)).collect();
    let mut out = Vec::new();
    for (fi, f) in findings
        .iter()
        .enumerate()
        .filter(|(_, f)| f.verdict == Verdict::Drifted && f.kind == FindingKind::Structural)
    {
        let Some(m) = by_name.get(f.metric.as_str()) else {
            continue;
        };
        let side = m.side();
        let mut picks: Vec<(usize, Value)> = Vec::new();
        match m.kind() {
            MetricKind::Rate => {
                let expected_true = !f.metric.ends_with(".empty");
                for i in 0..rows.len() {
                    if let Some(b) = rows.flag_at(*m, i) {
                        if b != expected_true {
                            picks.push((i, json!(b)));
                            if picks.len() == 3 {
                                break;
                            }
                        }
                    }
                }
            }
            MetricKind::Numeric => {
                let lower = f.details["production"]["p50"].as_f64()
                    < f.details["reference"]["p50"].as_f64()
                    || (f.details["production"]["p50"] == f.details["reference"]["p50"]
                        && f.details["production"]["mean"].as_f64()
                            < f.details["reference"]["mean"].as_f64());
                // The three most extreme values in the direction of the
                // shift, earlier rows first among equals.
                let before = |a: &(usize, f64), b: &(usize, f64)| {
                    let by_value = if lower {
                        a.1.total_cmp(&b.1)
                    } else {
                        b.1.total_cmp(&a.1)
                    };
                    by_value.then(a.0.cmp(&b.0)).is_lt()
                };
                let mut top: Vec<(usize, f64)> = Vec::with_capacity(4);
                for i in 0..rows.len() {
                    let Some(v) = rows.number_at(*m, i) else {
                        continue;
                    };
                    let pos = top.iter().take_while(|t| before(t, &(i, v))).count();
                    if pos < 3 {
                        top.insert(pos, (i, v));
                        top.truncate(3);
                    }
                }
                picks = top.into_iter().map(|(i, v)| (i, json!(v))).collect();
            }
            MetricKind::Categorical => {
                let grown = f.details["production"].as_object().and_then(|p| {
                    p.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_f64().unwrap_or(0.0)
                                    - f.details["reference"][k].as_f64().unwrap_or(0.0),
                            )
                        })
                        .max_by(|a, b| a.1.total_cmp(&b.1))
                        .map(|(k, _)| k)
                });
                // The rows the language test used, i.e. the
                // language-detected prefix of the sample.
                if let Some(cat) = grown {
                    for i in 0..lang_rows.len() {
                        if lang_rows.category_at(*m, i) == Some(cat.as_str()) {
                            picks.push((i, json!(cat)));
                            if picks.len() == 3 {
                                break;
                            }
                        }
                    }
                }
            }
        }
        out.push((fi, side, picks));
    }
    out
}
