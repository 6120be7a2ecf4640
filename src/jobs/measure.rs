//! The structural stage's parts that know nothing of where texts come from,
//! shared by a run (`run::structural`, texts from the store) and `compare`
//! (texts from two files): the pass over the golden texts (vocabularies and the
//! share of JSON answers), the extractors built from it, the reference columns,
//! and the per-metric tests against them. One code path, so `driftwatch
//! compare` and `driftwatch run` reach the same findings on the same texts.

use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use rayon::prelude::*;

use super::config::{ExpectationsSource, JobSpec};
use super::error::JobError;
use super::hypothesis::{test_metric, to_finding, CurColumn};
use super::profile::RefColumn;
use crate::metrics::{
    Extractor, JsonShape, MetricId, MetricKind, MetricTable, TokenCounter, Vocabulary,
};
use crate::store::{Finding, FindingKind, OutputFormatSummary};
use crate::text::json_document;

/// Work handed to the rayon pool, taken back in the order it was handed
/// over whatever order the pool finishes it in: `compare` measures several
/// batches at once (so that no core waits while one batch is split and
/// gathered) and still fills its tables in file order, so a table, and every
/// sum over it, is the same however the pool scheduled the work.
pub(crate) struct InOrder<T> {
    queue: VecDeque<Receiver<std::thread::Result<T>>>,
}

impl<T: Send + 'static> InOrder<T> {
    pub fn new() -> Self {
        InOrder {
            queue: VecDeque::new(),
        }
    }

    /// Results not yet taken back.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Runs `f` on the pool. A panic in `f` is caught there and raised again
    /// where its result is taken back (the pool would otherwise abort).
    pub fn spawn(&mut self, f: impl FnOnce() -> T + Send + 'static) {
        let (tx, rx) = sync_channel(1);
        rayon::spawn(move || {
            // The receiver is gone only when the caller gave up on the work.
            let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
        });
        self.queue.push_back(rx);
    }

    /// The oldest result not yet taken back, waited for on this thread;
    /// `None` when nothing is pending. Not for an async task: it blocks.
    pub fn oldest(&mut self) -> Option<T> {
        let rx = self.queue.pop_front()?;
        match rx
            .recv()
            .expect("a pool task sends its result before it ends")
        {
            Ok(v) => Some(v),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// What one pass over the golden texts collects.
#[derive(Default)]
pub(crate) struct GoldenScan {
    pub input: Vocabulary,
    pub output: Vocabulary,
    /// Expected outputs that are a JSON object or array, of `outputs`.
    pub json_outputs: usize,
    pub outputs: usize,
    /// Top-level keys and their types over the outputs that are JSON objects.
    pub shape: JsonShape,
}

impl GoldenScan {
    /// Adds a page of golden `(input, expected output)` texts.
    pub fn add<S: AsRef<str> + Sync>(&mut self, page: &[(S, S)]) {
        let (input, output, shape) = (&mut self.input, &mut self.output, &mut self.shape);
        // Answers are longer than questions: their JSON check goes with the
        // input vocabulary, so the two halves take about as long.
        let (json, ()) = rayon::join(
            || {
                input.add_documents(page.iter().map(|p| p.0.as_ref()));
                let mut json = 0;
                for p in page {
                    match json_document(p.1.as_ref()) {
                        Some(serde_json::Value::Object(o)) => {
                            shape.add_object(&o);
                            json += 1;
                        }
                        Some(_) => json += 1,
                        None => {}
                    }
                }
                json
            },
            || output.add_documents(page.iter().map(|p| p.1.as_ref())),
        );
        self.json_outputs += json;
        self.outputs += page.len();
    }
}

/// The extractor of a run (detecting language on every row when the job
/// does) and the metrics of each table.
#[derive(Clone)]
pub(crate) struct Extractors {
    pub plain: Arc<Extractor>,
    /// The tested metrics measured by `plain` (all but language).
    pub plain_metrics: Vec<MetricId>,
    /// The tested language metrics.
    pub lang_metrics: Vec<MetricId>,
}

impl Extractors {
    /// Empty tables for the metrics these extractors measure.
    pub fn tables(&self) -> (MetricTable, MetricTable) {
        (
            MetricTable::new(&self.plain_metrics),
            MetricTable::new(&self.lang_metrics),
        )
    }
}

/// The reference side as far as the golden texts decide it.
pub(crate) struct ReferenceSide {
    pub ex: Extractors,
    /// Every tested metric, language ones included.
    pub metrics: Vec<MetricId>,
    /// The expectations after inferring the output format from the golden set.
    pub source: ExpectationsSource,
    /// What the run summary says about the output format.
    pub output_format: OutputFormatSummary,
    /// Golden examples scanned.
    pub golden_n: usize,
}

/// Builds the extractors from a finished [`GoldenScan`]: an unconfigured
/// output format is inferred from the golden set, so a job whose golden answers
/// are JSON measures JSON validity without config.
pub(crate) fn reference_side(spec: &JobSpec, scan: GoldenScan) -> Result<ReferenceSide, JobError> {
    let source = spec
        .expectations
        .inferred(scan.json_outputs, scan.outputs, &scan.shape);
    let expectations = source.compile()?;
    let output_format = OutputFormatSummary {
        format: if source.output_format == crate::metrics::OutputFormat::Json {
            "json"
        } else {
            "text"
        }
        .to_string(),
        inferred: source.infer_format,
        golden_json_share: if scan.outputs > 0 {
            scan.json_outputs as f64 / scan.outputs as f64
        } else {
            0.0
        },
        required_keys: source.inferred_required_keys(),
    };
    let golden_n = scan.input.documents();
    if golden_n == 0 {
        return Err(JobError::NoGolden(spec.golden_set.clone()));
    }
    if let Some(n) = spec.language_sample {
        tracing::warn!(
            message = "`language_sample` is no longer used: language is detected on every trace.",
            job = %spec.name,
            language_sample = n
        );
    }
    let tokens = TokenCounter::new(&spec.tokenizer)?;
    let extractor = Extractor::new(tokens, expectations)
        .with_language_detection(spec.language_detection)
        .with_vocabularies(Some(scan.input), Some(scan.output));
    let metrics: Vec<MetricId> = extractor.applicable_metrics();
    let (lang_metrics, plain_metrics): (Vec<MetricId>, Vec<MetricId>) =
        metrics.iter().partition(|m| is_language(**m));
    Ok(ReferenceSide {
        ex: Extractors {
            plain: Arc::new(extractor),
            plain_metrics,
            lang_metrics,
        },
        metrics,
        source,
        output_format,
        golden_n,
    })
}

pub(crate) fn is_language(m: MetricId) -> bool {
    m.name().ends_with(".language")
}

/// The reference column of every metric of `metrics`, from the golden set's
/// measured tables.
pub(crate) fn reference_columns(
    metrics: &[MetricId],
    rows: &MetricTable,
    lang_rows: &MetricTable,
) -> BTreeMap<String, RefColumn> {
    metrics
        .iter()
        .map(|m| {
            let table = if is_language(*m) { lang_rows } else { rows };
            (
                m.name().to_string(),
                RefColumn::from_column(table.column(*m)),
            )
        })
        .collect()
}

/// Tests every metric of `metrics` that `reference` has against the production
/// tables: one finding per metric, before the run-wide verdicts.
pub(crate) fn test_structural(
    spec: &JobSpec,
    metrics: &[MetricId],
    reference: &BTreeMap<String, RefColumn>,
    rows: &MetricTable,
    lang_rows: &MetricTable,
) -> Vec<Finding> {
    // Metrics are tested side by side (a million-row numeric column takes
    // tens of milliseconds to sort); `collect` keeps catalogue order.
    metrics
        .par_iter()
        .filter_map(|m| {
            let reference = reference.get(m.name())?;
            let rows = if is_language(*m) { lang_rows } else { rows };
            let mut numeric;
            let cur = match m.kind() {
                MetricKind::Numeric => {
                    numeric = rows.numeric_column(*m);
                    CurColumn::Numeric(&mut numeric)
                }
                MetricKind::Rate => {
                    let (successes, n) = rows.rate_counts(*m);
                    CurColumn::Rate { successes, n }
                }
                MetricKind::Categorical => CurColumn::CategoryCounts(rows.category_counts(*m)),
            };
            let tested = test_metric(
                reference,
                cur,
                &spec.effect_floors,
                spec.tests.get(m.name()).copied(),
                spec.min_samples,
            );
            Some(to_finding(
                &spec.name,
                FindingKind::Structural,
                m.name(),
                m.side().as_str(),
                tested,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Results come back in the order the work was handed over, though the
    /// first pieces take longest; a panic in a piece is raised where its
    /// result is taken back, not lost and not an abort.
    #[test]
    fn in_order_returns_results_in_spawn_order_and_raises_panics() {
        let mut work = InOrder::new();
        for i in 0..12u64 {
            work.spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(
                    30u64.saturating_sub(i * 3),
                ));
                i
            });
        }
        assert_eq!(work.len(), 12);
        let got: Vec<u64> = std::iter::from_fn(|| work.oldest()).collect();
        assert_eq!(got, (0..12).collect::<Vec<_>>());
        assert_eq!(work.len(), 0);

        let mut work = InOrder::new();
        work.spawn(|| 1);
        work.spawn(|| -> i32 { panic!("measuring failed") });
        assert_eq!(work.oldest(), Some(1));
        let raised = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work.oldest()));
        let message = raised.unwrap_err();
        assert_eq!(message.downcast_ref::<&str>(), Some(&"measuring failed"));
    }
}
