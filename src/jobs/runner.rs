//! One run of a job: sample → metrics → tests → verdicts → findings, written
//! atomically with the run's final status.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::config::JobSpec;
use super::profile::{RefColumn, ReferenceProfile};
use super::sampling::bottom_k_sample;
use super::testing::{decide_verdicts, test_metric, CurColumn};
use crate::metrics::{Extractor, MetricId, MetricKind, Side, TokenCounter, TraceMetrics};
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

/// Why a run failed. The run row is marked failed with this text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The golden set has no examples.
    #[error("golden set `{0}` has no examples\nimport some with: driftwatch golden import FILE --set {0}")]
    NoGolden(String),
    /// The window holds no traces.
    #[error("no production traces between {from} and {to} (window {window})")]
    EmptyWindow {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        window: String,
    },
    /// Metric setup failed (tokenizer, schema, regex).
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    /// Embedding failed (model missing, server down…).
    #[error("embedding failed: {0}")]
    Embedding(String),
    /// The semantic analysis failed (e.g. too few rows).
    #[error("semantic analysis failed: {0}")]
    Semantic(String),
    /// The job needs an embedder and none was given.
    #[error("job `{0}` has the semantic stage enabled but no embedder is configured\nset [embedding] (run scripts/fetch-model.sh for the local model) or [jobs.semantic] enabled = false")]
    NoEmbedder(String),
    /// A blocking task panicked or was cancelled.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Runs `spec` once: records the run, analyses, and writes findings and the final
/// status in one transaction; on error the run is marked failed with the reason.
pub async fn run_job(
    store: &Store,
    spec: &JobSpec,
    opts: &RunOptions,
) -> Result<RunOutcome, JobError> {
    let run_id = store
        .start_run_as(&spec.name, opts.holder.as_deref())
        .await?;
    tracing::info!(message = "Run started.", job = %spec.name, run_id);
    match analyze(store, spec, opts).await {
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

fn settings_hash(spec: &JobSpec) -> String {
    let s = format!(
        "{PROFILE_VERSION}|{:?}|{}|{}|{}",
        spec.expectations, spec.tokenizer, spec.language_detection, spec.language_sample
    );
    crate::store::content_hash(&s)[..16].to_string()
}

/// Sampled traces of `[from, to)`, optionally restricted to some sources.
async fn sample_window(
    store: &Store,
    spec: &JobSpec,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    k: usize,
) -> Result<(usize, Vec<Trace>), StoreError> {
    let mut window = store
        .window_traces(from.timestamp_millis(), to.timestamp_millis())
        .await?;
    if let Some(src) = &spec.sources {
        window.retain(|t| src.iter().any(|s| s == &t.source));
    }
    let ids = bottom_k_sample(&window, k, spec.seed);
    Ok((window.len(), store.traces_by_ids(&ids).await?))
}

struct Measured {
    rows: Vec<TraceMetrics>,
    /// Rows measured with language detection (a prefix of the sample).
    lang_rows: Vec<TraceMetrics>,
}

fn measure(
    extractor: &Extractor,
    lang: Option<&Extractor>,
    pairs: &[(&str, &str)],
    golden: bool,
    lang_n: usize,
) -> Measured {
    let rows = if golden {
        extractor.extract_golden_all(pairs)
    } else {
        extractor.extract_all(pairs)
    };
    let lang_rows = match lang {
        Some(l) => {
            let sub = &pairs[..pairs.len().min(lang_n)];
            if golden {
                l.extract_golden_all(sub)
            } else {
                l.extract_all(sub)
            }
        }
        None => Vec::new(),
    };
    Measured { rows, lang_rows }
}

fn is_language(m: MetricId) -> bool {
    m.name().ends_with(".language")
}

async fn analyze(
    store: &Store,
    spec: &JobSpec,
    opts: &RunOptions,
) -> Result<(Value, Vec<Finding>, Vec<crate::store::NewProposal>), JobError> {
    let started = Instant::now();
    let version = store
        .latest_golden_version(&spec.golden_set)
        .await?
        .ok_or_else(|| JobError::NoGolden(spec.golden_set.clone()))?;
    let golden = store
        .golden_examples(&spec.golden_set, Some(version.version))
        .await?;
    if golden.is_empty() {
        return Err(JobError::NoGolden(spec.golden_set.clone()));
    }
    let window = opts.window.unwrap_or(spec.window);
    let k = opts.sample_size.unwrap_or(spec.sample_size);
    let to = opts.now;
    let from = to - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::days(1));
    let (window_n, traces) = sample_window(store, spec, from, to, k).await?;
    if traces.is_empty() {
        return Err(JobError::EmptyWindow {
            from,
            to,
            window: humantime::format_duration(window).to_string(),
        });
    }

    // Metric extraction is CPU-bound: run it off the async workers.
    let tokens = TokenCounter::new(&spec.tokenizer)?;
    let expectations = spec.expectations.compile()?;
    let golden_pairs: Vec<(String, String)> = golden
        .iter()
        .map(|g| (g.input.clone(), g.expected_output.clone()))
        .collect();
    let hash = settings_hash(spec);
    let cached = store
        .reference_profile(&spec.golden_set, version.version, &hash)
        .await?;
    let lang_on = spec.language_detection;
    let lang_n = spec.language_sample;
    let spec_name = spec.golden_set.clone();
    let trace_pairs: Vec<(String, String)> = traces
        .iter()
        .map(|t| (t.input.clone(), t.output.clone()))
        .collect();
    let (profile, prod, metrics, fresh_profile) = tokio::task::spawn_blocking(move || {
        let extractor = Extractor::new(tokens, expectations)
            .with_language_detection(false)
            .with_golden_vocabularies(&golden_pairs);
        let lang = lang_on.then(|| extractor.clone().with_language_detection(true));
        let metrics: Vec<MetricId> = lang.as_ref().unwrap_or(&extractor).applicable_metrics();
        let (profile, fresh) = match cached
            .and_then(|p| serde_json::from_str::<ReferenceProfile>(&p).ok())
        {
            Some(p) => (p, false),
            None => {
                let gp: Vec<(&str, &str)> = golden_pairs
                    .iter()
                    .map(|(a, b)| (a.as_str(), b.as_str()))
                    .collect();
                let g = measure(&extractor, lang.as_ref(), &gp, true, lang_n);
                let mut p =
                    ReferenceProfile::build(&spec_name, version.version, &hash, &metrics, &g.rows);
                for m in metrics.iter().filter(|m| is_language(**m)) {
                    p.columns
                        .insert(m.name().to_string(), RefColumn::of(*m, &g.lang_rows));
                }
                (p, true)
            }
        };
        let tp: Vec<(&str, &str)> = trace_pairs
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let prod = measure(&extractor, lang.as_ref(), &tp, false, lang_n);
        (profile, prod, metrics, fresh)
    })
    .await
    .map_err(|e| JobError::Internal(e.to_string()))?;
    if fresh_profile {
        let text =
            serde_json::to_string(&profile).map_err(|e| JobError::Internal(e.to_string()))?;
        store
            .save_reference_profile(
                &spec.golden_set,
                version.version,
                &profile.settings_hash,
                &text,
            )
            .await?;
    }

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
                numeric = m.numeric_column(rows);
                CurColumn::Numeric(&mut numeric)
            }
            MetricKind::Rate => {
                let (successes, n) = m.rate_counts(rows);
                CurColumn::Rate { successes, n }
            }
            MetricKind::Categorical => {
                cats = m.categories(rows);
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
    if spec.operational {
        let prev_from = from - (to - from);
        let (_, previous) = sample_window(store, spec, prev_from, from, k).await?;
        findings.extend(operational_findings(spec, &previous, &traces));
    }
    let mut semantic_summary = Value::Null;
    let mut proposals = Vec::new();
    if spec.semantic.enabled {
        let embedder = opts
            .embedder
            .as_ref()
            .ok_or_else(|| JobError::NoEmbedder(spec.name.clone()))?;
        let out = super::semantic_stage::run_semantic(
            store,
            embedder,
            &spec.name,
            &spec.golden_set,
            spec.seed,
            spec.alpha,
            &spec.semantic,
            &golden,
            &traces,
        )
        .await?;
        findings.extend(out.findings);
        semantic_summary = out.summary;
        proposals = out.proposals;
    }
    decide_verdicts(&mut findings, spec.alpha);
    // Gap clusters are already gated by the clustering's own test (Bonferroni
    // over clusters); keep its verdict.
    for f in findings
        .iter_mut()
        .filter(|f| f.details["gap"] == Value::Bool(true))
    {
        f.verdict = Verdict::Drifted;
    }
    attach_examples(&mut findings, &metrics, &traces, &prod.rows);

    let drifted = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Drifted)
        .count();
    let summary = json!({
        "golden_set": spec.golden_set,
        "golden_version": version.version,
        "golden_examples": golden.len(),
        "window_start": from,
        "window_end": to,
        "window_traces": window_n,
        "sampled": traces.len(),
        "seed": spec.seed,
        "alpha": spec.alpha,
        "tested": findings.iter().filter(|f| f.verdict != Verdict::Skipped).count(),
        "skipped": findings.iter().filter(|f| f.verdict == Verdict::Skipped).count(),
        "drifted": drifted,
        "reference_profile": if fresh_profile { "computed" } else { "cached" },
        "duration_ms": started.elapsed().as_millis() as u64,
        "semantic": semantic_summary,
    });
    Ok((summary, findings, proposals))
}

fn to_finding(
    job: &str,
    kind: FindingKind,
    metric: &str,
    side: &str,
    t: super::testing::MetricTest,
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
fn operational_findings(spec: &JobSpec, previous: &[Trace], current: &[Trace]) -> Vec<Finding> {
    type NumFn = fn(&Trace) -> Option<f64>;
    let numeric: [(&str, NumFn); 4] = [
        ("latency_ms", |t| t.latency_ms),
        ("prompt_tokens", |t| t.prompt_tokens.map(|x| x as f64)),
        ("completion_tokens", |t| {
            t.completion_tokens.map(|x| x as f64)
        }),
        ("cost", |t| t.cost),
    ];
    let mut out = Vec::new();
    for (name, f) in numeric {
        let r: Vec<f64> = previous
            .iter()
            .filter_map(f)
            .filter(|x| x.is_finite())
            .collect();
        let mut c: Vec<f64> = current
            .iter()
            .filter_map(f)
            .filter(|x| x.is_finite())
            .collect();
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
    type RateFn = fn(&Trace) -> Option<bool>;
    let rates: [(&str, RateFn); 2] = [
        ("error_rate", |t| t.is_error),
        ("negative_feedback_rate", |t| t.feedback.map(|x| x <= 0.0)),
    ];
    for (name, f) in rates {
        let count = |ts: &[Trace]| {
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
    crate::cli::truncate(s, n)
}

/// Puts up to three example traces behind each drifted structural finding: the
/// failing outputs for rates, the most extreme values in the direction of the
/// shift for numbers, the grown category for languages.
fn attach_examples(
    findings: &mut [Finding],
    metrics: &[MetricId],
    traces: &[Trace],
    rows: &[TraceMetrics],
) {
    let by_name: HashMap<&str, MetricId> = metrics.iter().map(|m| (m.name(), *m)).collect();
    for f in findings
        .iter_mut()
        .filter(|f| f.verdict == Verdict::Drifted && f.kind == FindingKind::Structural)
    {
        let Some(m) = by_name.get(f.metric.as_str()) else {
            continue;
        };
        let side = m.side();
        fn text_of(t: &Trace, side: Side) -> &str {
            if side == Side::Input {
                &t.input
            } else {
                &t.output
            }
        }
        let mut picks: Vec<(usize, Value)> = Vec::new();
        match m.kind() {
            MetricKind::Rate => {
                let expected_true = !f.metric.ends_with(".empty");
                for (i, r) in rows.iter().enumerate() {
                    let one = vec![r.clone()];
                    let (s, n) = m.rate_counts(&one);
                    if n == 1 && ((s == 1) != expected_true) {
                        picks.push((i, json!(s == 1)));
                        if picks.len() == 3 {
                            break;
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
                let mut vals: Vec<(usize, f64)> = rows
                    .iter()
                    .enumerate()
                    .filter_map(|(i, r)| {
                        m.numeric_column(std::slice::from_ref(r))
                            .first()
                            .map(|v| (i, *v))
                    })
                    .collect();
                vals.sort_by(|a, b| {
                    if lower {
                        a.1.total_cmp(&b.1)
                    } else {
                        b.1.total_cmp(&a.1)
                    }
                });
                picks = vals
                    .into_iter()
                    .take(3)
                    .map(|(i, v)| (i, json!(v)))
                    .collect();
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
                if let Some(cat) = grown {
                    for (i, r) in rows.iter().enumerate() {
                        if side.of(r).language == Some(cat.as_str())
                            || (cat == crate::metrics::UNDETERMINED
                                && side.of(r).language.is_none()
                                && !side.of(r).empty)
                        {
                            picks.push((i, json!(cat)));
                            if picks.len() == 3 {
                                break;
                            }
                        }
                    }
                }
            }
        }
        let examples: Vec<Value> = picks
            .into_iter()
            .filter_map(|(i, v)| traces.get(i).map(|t| json!({"trace_id": t.id, "external_id": t.external_id, "value": v, "text": clip(text_of(t, side), 300)})))
            .collect();
        if let Value::Object(d) = &mut f.details {
            d.insert("examples".into(), Value::Array(examples));
        }
    }
}
