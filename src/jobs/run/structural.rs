//! The structural stage: the sample of a window, the reference side (golden
//! vocabularies, the inferred output format, the reference profile, cached per
//! golden version and metric settings), streaming measurement, and the
//! per-metric tests.
//!
//! It streams: the sampled ids are fetched in chunks of [`CHUNK`] traces and each
//! chunk is reduced to per-trace metric rows at once, so a run over 1M traces
//! holds their metric values, not their texts. Only the semantic stage, when
//! enabled, keeps the sampled traces (it embeds their texts).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::super::config::JobSpec;
use super::super::error::JobError;
use super::super::measure::{self, reference_columns, reference_side, GoldenScan, ReferenceSide};
pub(super) use super::super::measure::{is_language, Extractors};
use super::super::profile::ReferenceProfile;
use super::super::sampling::seed_mask;
use super::log_memory;
use super::operational::OpValues;
use crate::metrics::{MetricId, MetricTable, TokenCounter};
use crate::store::{Finding, OutputFormatSummary, Store, StoreError, Trace};

/// Bumped when metric definitions change, so stored profiles are recomputed.
const PROFILE_VERSION: &str = "metrics-v4";

pub(super) fn settings_hash(
    spec: &JobSpec,
    expectations: &super::super::config::ExpectationsSource,
) -> String {
    let s = format!(
        "{PROFILE_VERSION}|{:?}|{}|{}",
        expectations, spec.tokenizer, spec.language_detection
    );
    crate::store::content_hash(&s)[..16].to_string()
}

/// Ids of the sampled traces of `[from, to)` (sorted), optionally restricted to
/// some sources, and the number of traces in the window. The database draws the
/// sample (see `jobs::sampling`).
pub(super) async fn sample_ids(
    store: &Store,
    spec: &JobSpec,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    k: usize,
) -> Result<(usize, Vec<i64>), StoreError> {
    let (n, ids) = store
        .sample_window(
            from.timestamp_millis(),
            to.timestamp_millis(),
            spec.sources.as_deref(),
            seed_mask(spec.seed),
            k,
        )
        .await?;
    Ok((n as usize, ids))
}

/// Traces fetched from the store and reduced to metric values per step of the
/// streaming structural stage: only one or two chunks' texts are in memory.
const CHUNK: usize = 10_000;

/// A production sample reduced to what the run needs, in trace-id order.
#[derive(Default)]
pub(super) struct Sample {
    pub ids: Vec<i64>,
    /// The metrics other than language, by column.
    pub rows: MetricTable,
    /// The language metrics of every row (a table of their own: the
    /// language metrics are categorical).
    pub lang_rows: MetricTable,
    /// Filled when the operational comparison is on.
    pub op: Vec<OpValues>,
    /// The full traces, kept only when the semantic stage needs their texts.
    pub traces: Vec<Trace>,
}

/// One chunk of the sample as fetched: whole traces when the run keeps them
/// (semantic or answers stage) or needs their operational values, else only
/// their texts (measuring needs no more, and fetching less is faster).
enum Batch {
    Traces(Vec<Trace>),
    Texts(Vec<(i64, String, String)>),
}

impl Batch {
    async fn fetch(store: &Store, ids: &[i64], whole: bool) -> Result<Batch, StoreError> {
        Ok(if whole {
            Batch::Traces(store.traces_by_ids(ids).await?)
        } else {
            Batch::Texts(store.trace_texts_by_ids(ids).await?)
        })
    }

    fn pairs(&self) -> Vec<(&str, &str)> {
        match self {
            Batch::Traces(b) => b
                .iter()
                .map(|t| (t.input.as_str(), t.output.as_str()))
                .collect(),
            Batch::Texts(b) => b.iter().map(|t| (t.1.as_str(), t.2.as_str())).collect(),
        }
    }

    fn ids(&self) -> Vec<i64> {
        match self {
            Batch::Traces(b) => b.iter().map(|t| t.id).collect(),
            Batch::Texts(b) => b.iter().map(|t| t.0).collect(),
        }
    }
}

/// Fetches `ids` from the store in chunks of [`CHUNK`] and reduces each chunk to
/// metric rows (when `ex` is given) and operational values (when `keep_op`),
/// fetching the next chunk while the current one is measured. Texts are dropped
/// with their chunk unless `keep_traces`.
pub(super) async fn stream_sample(
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
    let whole = keep_op || keep_traces;
    let mut chunks = ids.chunks(CHUNK);
    let mut next = match chunks.next() {
        Some(c) => Some(Batch::fetch(store, c, whole).await?),
        None => None,
    };
    while let Some(batch) = next.take() {
        let ex = ex.clone();
        let work = tokio::task::spawn_blocking(move || {
            let rows = match &ex {
                Some(ex) => ex.plain.extract_all(&batch.pairs()),
                None => Vec::new(),
            };
            (batch, rows)
        });
        let fetch = async {
            match chunks.next() {
                Some(c) => Batch::fetch(store, c, whole).await.map(Some),
                None => Ok(None),
            }
        };
        let (done, fetched) = tokio::join!(work, fetch);
        let (batch, rows) = done.map_err(|e| JobError::Internal(e.to_string()))?;
        next = fetched?;
        out.ids.extend(batch.ids());
        out.rows.extend(&rows);
        out.lang_rows.extend(&rows);
        if let Batch::Traces(batch) = batch {
            if keep_op {
                out.op.extend(batch.iter().map(OpValues::of));
            }
            if keep_traces {
                out.traces.extend(batch);
            }
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
        let pairs: Vec<(&str, &str)> = page.iter().map(|p| (p.1.as_str(), p.2.as_str())).collect();
        g.add(&pairs);
    })
    .await
}

/// The golden set measured: metric tables like a production [`Sample`]'s, with
/// leave-one-out OOV rates.
pub(super) struct Measured {
    pub ids: Vec<i64>,
    pub rows: MetricTable,
    pub lang_rows: MetricTable,
}

/// Measures the golden set a page at a time.
pub(super) async fn measure_golden(
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
        let rows = ex.plain.extract_golden_all(&pairs);
        g.rows.extend(&rows);
        g.lang_rows.extend(&rows);
        g.ids.extend(page.iter().map(|p| p.0));
    })
    .await
}

/// The previous window's sample, for the operational comparison (the golden set
/// has no latency, cost or feedback): `None` when the job has it off or the
/// previous window holds fewer than `min_samples` traces. The window is read once.
pub(super) async fn previous_window(
    store: &Store,
    spec: &JobSpec,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    k: usize,
) -> Result<Option<Vec<i64>>, StoreError> {
    if !spec.operational && !spec.answers.enabled() {
        return Ok(None);
    }
    let (n, ids) = sample_ids(store, spec, from - (to - from), from, k).await?;
    Ok((n >= spec.min_samples).then_some(ids))
}

/// The reference side of a run: the extractors (with the golden vocabularies),
/// the metrics tested, and the golden set's reference profile (cached, or
/// measured now).
pub(super) struct Reference {
    pub ex: Extractors,
    pub metrics: Vec<MetricId>,
    pub profile: ReferenceProfile,
    /// The profile was computed by this run (not read from the cache).
    pub fresh_profile: bool,
    /// The golden rows, kept when they are exported.
    pub golden_measured: Option<Measured>,
    /// What the run summary says about the output format (configured or inferred).
    pub output_format: OutputFormatSummary,
    pub golden_n: usize,
}

/// Builds the [`Reference`] of a run over golden set version `version`.
pub(super) async fn prepare_reference(
    store: &Store,
    spec: &JobSpec,
    version: i64,
    export: bool,
) -> Result<Reference, JobError> {
    TokenCounter::warm_up(&spec.tokenizer);
    let scan = golden_vocabularies(store, &spec.golden_set, version).await?;
    log_memory("vocabularies");
    let ReferenceSide {
        ex,
        metrics,
        source,
        output_format,
        golden_n,
    } = reference_side(spec, scan)?;
    log_memory("tokenizer");
    let hash = settings_hash(spec, &source);
    let cached = store
        .reference_profile(&spec.golden_set, version, &hash)
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
    let golden_measured = if cached.is_none() || export {
        Some(measure_golden(store, &spec.golden_set, version, &ex).await?)
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
            let columns = reference_columns(&metrics, &g.rows, &g.lang_rows);
            let p = ReferenceProfile {
                golden_set: spec.golden_set.clone(),
                version,
                settings_hash: hash,
                n: g.ids.len(),
                columns,
            };
            let text = serde_json::to_string(&p).map_err(|e| JobError::Internal(e.to_string()))?;
            store
                .save_reference_profile(&spec.golden_set, version, &p.settings_hash, &text)
                .await?;
            p
        }
    };
    Ok(Reference {
        ex,
        metrics,
        profile,
        fresh_profile,
        golden_measured: golden_measured.filter(|_| export),
        output_format,
        golden_n,
    })
}

/// Tests every metric of `metrics` the reference profile has against the
/// production sample: one finding per metric, before the run-wide verdicts.
pub(super) fn test_structural(
    spec: &JobSpec,
    metrics: &[MetricId],
    profile: &ReferenceProfile,
    prod: &Sample,
) -> Vec<Finding> {
    measure::test_structural(spec, metrics, &profile.columns, &prod.rows, &prod.lang_rows)
}
