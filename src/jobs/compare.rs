//! `driftwatch compare`: the structural stage on two files, with no store.
//!
//! A golden file (the format `golden import` reads) and a production log (the
//! format `ingest` reads, through the same `[ingest]` field paths) go in;
//! findings decided by the one decision rule come out. Nothing is written. It
//! is the one-off check and CI gate beside the daemon: a run without a window,
//! a sample or a semantic stage. It measures every production record, as a peer
//! tool's report would, and shares every measuring and testing step with
//! `driftwatch run` (`jobs::measure`), so the two agree on the same texts.
//!
//! Memory: the golden texts are held while they are measured (a golden set is
//! curated, so small); production is read in batches by the ingest parser on
//! its own thread and each batch is reduced to metric values at once, so a
//! million traces cost their metric values, not their texts.

use std::io::{BufRead, Read};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::config::JobSpec;
use super::error::JobError;
use super::hypothesis::decide_verdicts;
use super::measure::{reference_columns, reference_side, test_structural, GoldenScan, InOrder};
use crate::ingest::{for_each_batch, IngestOptions, IngestReport, InputFormat};
use crate::metrics::{TokenCounter, TraceMetrics};
use crate::store::{Finding, OutputFormatSummary, Verdict};

/// Where the golden examples come from.
pub struct GoldenInput<R> {
    pub reader: R,
    pub format: InputFormat,
    /// Longest record accepted (`ingest::max_record_bytes`).
    pub max_record: usize,
}

/// What a comparison found, and what it read.
#[derive(Debug, Clone, Serialize)]
pub struct CompareOutcome {
    /// Every structural finding, verdicts decided.
    pub findings: Vec<Finding>,
    /// Findings whose verdict is drifted.
    pub drifted: usize,
    /// Golden examples read: `stored` is the number measured.
    pub golden: IngestReport,
    /// Production records read: `stored` is the number measured.
    pub production: IngestReport,
    /// The output format measured (configured or inferred from the golden set).
    pub output_format: OutputFormatSummary,
    /// Wall time of each step, in milliseconds.
    pub timings_ms: CompareTimings,
}

/// Wall time of each step of a comparison, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompareTimings {
    /// Reading, scanning and measuring the golden file.
    pub golden: u64,
    /// Reading and measuring the production file.
    pub production: u64,
    /// The tests and the decision rule.
    pub test: u64,
}

/// Production records are parsed and measured this many at a time: at 100k
/// traces against 10k golden examples, batches of 10,000 peaked at 158–162 MiB
/// and batches of 2,000 at 115–119 MiB, in the same time (BENCHMARKS.md).
const BATCH: usize = 2_000;

/// Production batches being measured at once, beyond the one being merged:
/// two per core of a small machine, so that both cores stay busy while the
/// parser thread fills the next batch (BENCHMARKS.md, session 18).
const IN_FLIGHT: usize = 4;

/// Compares the production log `production` (parsed by `opts`, whose
/// `batch_size` is ignored) with the golden examples of `golden`, under
/// `spec`'s metric settings, tests, effect floors and α. Bad records are
/// counted and listed by line in the outcome, never fatal. Fails when the
/// golden file holds no valid example, or the metric setup (tokenizer, schema,
/// regex) fails.
pub fn compare<R: BufRead>(
    spec: &JobSpec,
    golden: GoldenInput<R>,
    production: Box<dyn Read + Send>,
    opts: &IngestOptions,
) -> Result<CompareOutcome, JobError> {
    let t = Instant::now();
    TokenCounter::warm_up(&spec.tokenizer);
    let (examples, mut golden_report) =
        crate::golden::read_golden(golden.reader, golden.format, golden.max_record);
    if examples.is_empty() {
        return Err(JobError::Input(format!(
            "the golden file holds no valid example ({} records read, {} rejected)",
            golden_report.read, golden_report.rejected
        )));
    }
    // As `golden import` keeps a set: one example per input, the first.
    let mut seen = std::collections::HashSet::new();
    let pairs: Vec<(&str, &str)> = examples
        .iter()
        .filter(|e| seen.insert(e.input.as_str()))
        .map(|e| (e.input.as_str(), e.expected_output.as_str()))
        .collect();
    drop(seen);
    golden_report.duplicates = (examples.len() - pairs.len()) as u64;
    let mut scan = GoldenScan::default();
    scan.add(&pairs);
    let side = reference_side(spec, scan)?;
    let (mut g_rows, mut g_lang) = side.ex.tables();
    let measured = side.ex.plain.extract_golden_all(&pairs);
    g_rows.extend(&measured);
    g_lang.extend(&measured);
    golden_report.stored = pairs.len() as u64;
    drop(measured);
    drop(pairs);
    drop(examples);
    let reference = reference_columns(&side.metrics, &g_rows, &g_lang);
    drop((g_rows, g_lang));
    let golden_ms = ms(t);

    let t = Instant::now();
    let (mut rows, mut lang_rows) = side.ex.tables();
    let mut report = IngestReport::default();
    // Only input and output are measured: the model name and metadata are
    // skipped unbuilt.
    let opts = IngestOptions {
        batch_size: BATCH,
        map: opts.map.clone().without_extras(),
        ..opts.clone()
    };
    // Each batch is measured whole on the pool, several at once, so that no
    // core waits while one batch is split and gathered; the tables are
    // filled in file order.
    let mut work = InOrder::new();
    let mut merge = |measured: Vec<TraceMetrics>| {
        rows.extend(&measured);
        lang_rows.extend(&measured);
    };
    for_each_batch(production, &opts, |traces, read, errors| {
        report.read += read;
        for (line, reason) in errors {
            report.reject(line, reason);
        }
        report.stored += traces.len() as u64;
        let ex = Arc::clone(&side.ex.plain);
        work.spawn(move || {
            let pairs: Vec<(&str, &str)> = traces
                .iter()
                .map(|t| (t.input.as_str(), t.output.as_str()))
                .collect();
            ex.extract_all(&pairs)
        });
        while work.len() > IN_FLIGHT {
            merge(work.oldest().expect("work is pending"));
        }
    });
    while let Some(measured) = work.oldest() {
        merge(measured);
    }
    let production_ms = ms(t);

    let t = Instant::now();
    let mut findings = test_structural(spec, &side.metrics, &reference, &rows, &lang_rows);
    decide_verdicts(&mut findings, spec.alpha);
    let drifted = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Drifted)
        .count();
    Ok(CompareOutcome {
        findings,
        drifted,
        golden: golden_report,
        production: report,
        output_format: side.output_format,
        timings_ms: CompareTimings {
            golden: golden_ms,
            production: production_ms,
            test: ms(t),
        },
    })
}

fn ms(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}
