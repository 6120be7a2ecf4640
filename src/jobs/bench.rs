//! `driftwatch bench tests`: the structural test stage alone, on metric columns
//! exported by `driftwatch run --export-metrics` — the very input a peer tool
//! such as Evidently gets — with the runner's own test and verdict code
//! ([`test_metric`], [`decide_verdicts`]), so the two can be compared as whole
//! processes on the same data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use super::config::JobSpec;
use super::profile::RefColumn;
use super::runner::{to_finding, JobError};
use super::testing::{decide_verdicts, test_metric, CurColumn};
use crate::metrics::{Column, MetricId, MetricKind};
use crate::store::{Finding, FindingKind};

/// What testing the exported columns gave.
#[derive(Debug, Clone)]
pub struct BenchTests {
    /// One finding per metric column, verdicts decided as in a run.
    pub findings: Vec<Finding>,
    pub golden_rows: usize,
    pub production_rows: usize,
    /// Reading and parsing both CSV files.
    pub load_ms: u64,
    /// Testing every column and deciding verdicts.
    pub tests_ms: u64,
}

/// The metric columns of one exported CSV (`id` and unknown columns ignored;
/// an empty cell is a value the metric does not have for that row).
struct Columns {
    metrics: Vec<MetricId>,
    columns: Vec<Column>,
    rows: usize,
}

fn read_columns(path: &Path) -> Result<Columns, JobError> {
    let err = |e: &dyn std::fmt::Display| JobError::Export(format!("{}: {e}", path.display()));
    let mut r = csv::Reader::from_path(path).map_err(|e| err(&e))?;
    let header = r.byte_headers().map_err(|e| err(&e))?.clone();
    // (column index, metric) for each metric column.
    let mut picked: Vec<(usize, MetricId)> = Vec::new();
    for (i, name) in header.iter().enumerate() {
        if let Some(m) = std::str::from_utf8(name)
            .ok()
            .and_then(|n| n.parse::<MetricId>().ok())
        {
            picked.push((i, m));
        }
    }
    if picked.is_empty() {
        return Err(err(&"no metric columns (expected e.g. output.chars)"));
    }
    let mut columns: Vec<Column> = picked
        .iter()
        .map(|(_, m)| match m.kind() {
            MetricKind::Numeric => Column::Numeric(Vec::new()),
            MetricKind::Rate => Column::Rate { successes: 0, n: 0 },
            MetricKind::Categorical => Column::Categorical(Vec::new()),
        })
        .collect();
    let mut record = csv::ByteRecord::new();
    let mut rows = 0usize;
    while r.read_byte_record(&mut record).map_err(|e| err(&e))? {
        rows += 1;
        for ((i, m), col) in picked.iter().zip(&mut columns) {
            let cell = record.get(*i).unwrap_or_default();
            if cell.is_empty() {
                continue;
            }
            let bad = || {
                err(&format!(
                    "line {}: {}: not a value: {:?}",
                    rows + 1,
                    m.name(),
                    String::from_utf8_lossy(cell)
                ))
            };
            let text = std::str::from_utf8(cell).map_err(|_| bad())?;
            match col {
                Column::Numeric(v) => v.push(text.parse::<f64>().map_err(|_| bad())?),
                Column::Rate { successes, n } => {
                    *successes += match text {
                        "1" => 1,
                        "0" => 0,
                        _ => return Err(bad()),
                    };
                    *n += 1;
                }
                Column::Categorical(v) => v.push(text.to_string()),
            }
        }
    }
    Ok(Columns {
        metrics: picked.into_iter().map(|(_, m)| m).collect(),
        columns,
        rows,
    })
}

/// Reads `dir/golden.csv` and `dir/production.csv` and tests every metric
/// column the two share with `spec`'s thresholds, test overrides and alpha.
pub fn test_exported_metrics(dir: &Path, spec: &JobSpec) -> Result<BenchTests, JobError> {
    let t = Instant::now();
    let paths: [PathBuf; 2] = [dir.join("golden.csv"), dir.join("production.csv")];
    let (golden, production) = rayon::join(|| read_columns(&paths[0]), || read_columns(&paths[1]));
    let (golden, mut production) = (golden?, production?);
    let load_ms = t.elapsed().as_millis() as u64;

    let t = Instant::now();
    let reference: BTreeMap<MetricId, RefColumn> = golden
        .metrics
        .iter()
        .copied()
        .zip(golden.columns)
        .map(|(m, c)| (m, RefColumn::from_column(c)))
        .collect();
    // Columns are independent: test them in parallel, findings in column order.
    let mut findings: Vec<Finding> = production
        .metrics
        .par_iter()
        .zip(production.columns.par_iter_mut())
        .filter_map(|(m, col)| Some((m, col, reference.get(m)?)))
        .map(|(m, col, r)| {
            let cur = match col {
                Column::Numeric(v) => CurColumn::Numeric(v),
                Column::Rate { successes, n } => CurColumn::Rate {
                    successes: *successes,
                    n: *n,
                },
                Column::Categorical(v) => CurColumn::Categorical(v),
            };
            let test = test_metric(
                r,
                cur,
                &spec.effect_floors,
                spec.tests.get(m.name()).copied(),
                spec.min_samples,
            );
            to_finding(
                &spec.name,
                FindingKind::Structural,
                m.name(),
                m.side().as_str(),
                test,
            )
        })
        .collect();
    decide_verdicts(&mut findings, spec.alpha);
    Ok(BenchTests {
        findings,
        golden_rows: golden.rows,
        production_rows: production.rows,
        load_ms,
        tests_ms: t.elapsed().as_millis() as u64,
    })
}
