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
use super::error::JobError;
use super::hypothesis::to_finding;
use super::hypothesis::{decide_verdicts, test_metric, CurColumn};
use super::profile::RefColumn;
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

impl Columns {
    fn empty(metrics: Vec<MetricId>) -> Columns {
        let columns = metrics
            .iter()
            .map(|m| match m.kind() {
                MetricKind::Numeric => Column::Numeric(Vec::new()),
                MetricKind::Rate => Column::Rate { successes: 0, n: 0 },
                MetricKind::Categorical => Column::Categorical(Vec::new()),
            })
            .collect();
        Columns {
            metrics,
            columns,
            rows: 0,
        }
    }

    /// Appends `other`'s rows (same metrics).
    fn append(&mut self, other: Columns) {
        for (a, b) in self.columns.iter_mut().zip(other.columns) {
            match (a, b) {
                (Column::Numeric(a), Column::Numeric(b)) => a.extend(b),
                (Column::Rate { successes, n }, Column::Rate { successes: s, n: m }) => {
                    *successes += s;
                    *n += m;
                }
                (Column::Categorical(a), Column::Categorical(b)) => a.extend(b),
                _ => unreachable!("same metrics, same kinds"),
            }
        }
        self.rows += other.rows;
    }
}

fn file_error(path: &Path, e: &dyn std::fmt::Display) -> JobError {
    JobError::Export(format!("{}: {e}", path.display()))
}

/// The metric columns of `path`'s header, as `(column index, metric)`, and
/// the byte offset where the data rows start.
fn read_header(path: &Path) -> Result<(Vec<(usize, MetricId)>, u64), JobError> {
    let mut r = csv::Reader::from_path(path).map_err(|e| file_error(path, &e))?;
    let header = r.byte_headers().map_err(|e| file_error(path, &e))?.clone();
    let picked: Vec<(usize, MetricId)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, name)| Some((i, std::str::from_utf8(name).ok()?.parse().ok()?)))
        .collect();
    if picked.is_empty() {
        return Err(file_error(
            path,
            &"no metric columns (expected e.g. output.chars)",
        ));
    }
    Ok((picked, r.position().byte()))
}

/// Parses the rows of `path` that start in bytes `[from, to)` (`from` is
/// `data_start` or any offset: a row is read by the part its first byte is in).
/// Rows must not contain quoted line breaks (the export writes none).
fn read_part(
    path: &Path,
    picked: &[(usize, MetricId)],
    data_start: u64,
    from: u64,
    to: u64,
) -> Result<Columns, JobError> {
    use std::io::{BufRead, BufReader, Seek, SeekFrom};
    let err = |e: &dyn std::fmt::Display| file_error(path, e);
    let file = std::fs::File::open(path).map_err(|e| err(&e))?;
    let mut file = BufReader::with_capacity(1 << 16, file);
    // The first row starting at or after `from`.
    let mut base = from;
    if from > data_start {
        file.seek(SeekFrom::Start(from - 1)).map_err(|e| err(&e))?;
        let mut skipped = Vec::new();
        base = from - 1 + file.read_until(b'\n', &mut skipped).map_err(|e| err(&e))? as u64;
    } else {
        file.seek(SeekFrom::Start(from)).map_err(|e| err(&e))?;
    }
    let mut out = Columns::empty(picked.iter().map(|(_, m)| *m).collect());
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(file);
    let mut record = csv::ByteRecord::new();
    while base + r.position().byte() < to {
        let at = base + r.position().byte();
        if !r.read_byte_record(&mut record).map_err(|e| err(&e))? {
            break;
        }
        out.rows += 1;
        for ((i, m), col) in picked.iter().zip(&mut out.columns) {
            let cell = record.get(*i).unwrap_or_default();
            if cell.is_empty() {
                continue;
            }
            let bad = || {
                err(&format!(
                    "row at byte {at}: {}: not a value: {:?}",
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
    Ok(out)
}

/// Reads the metric columns of one exported CSV, parsing `parts` byte ranges
/// of it in parallel; the columns keep the file's row order.
fn read_columns(path: &Path, parts: usize) -> Result<Columns, JobError> {
    let (picked, data_start) = read_header(path)?;
    let len = std::fs::metadata(path)
        .map_err(|e| file_error(path, &e))?
        .len();
    let parts = parts.max(1) as u64;
    let step = (len.saturating_sub(data_start) / parts).max(1);
    let bounds: Vec<(u64, u64)> = (0..parts)
        .map(|i| {
            let from = data_start + i * step;
            let to = if i + 1 == parts { len } else { from + step };
            (from, to)
        })
        .filter(|(from, to)| from < to)
        .collect();
    let read: Vec<Result<Columns, JobError>> = bounds
        .par_iter()
        .map(|(from, to)| read_part(path, &picked, data_start, *from, *to))
        .collect();
    let mut out = Columns::empty(picked.iter().map(|(_, m)| *m).collect());
    for part in read {
        out.append(part?);
    }
    Ok(out)
}

/// Reads `dir/golden.csv` and `dir/production.csv` and tests every metric
/// column the two share with `spec`'s thresholds, test overrides and alpha.
pub fn test_exported_metrics(dir: &Path, spec: &JobSpec) -> Result<BenchTests, JobError> {
    let t = Instant::now();
    let paths: [PathBuf; 2] = [dir.join("golden.csv"), dir.join("production.csv")];
    // The production file is ~10 times the golden one: split it across the
    // threads, the golden file is read alongside.
    let threads = rayon::current_num_threads();
    let (golden, production) = rayon::join(
        || read_columns(&paths[0], 1),
        || read_columns(&paths[1], threads),
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Split at any byte offsets, the parts give the whole file's columns in
    /// row order.
    #[test]
    fn parts_read_in_parallel_equal_one_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("production.csv");
        let mut text = String::from("id,output.chars,output.json_valid,input.language,extra\n");
        for i in 0..257 {
            let lang = if i % 3 == 0 {
                ""
            } else {
                ["eng", "fra"][i % 2]
            };
            let chars = if i % 7 == 0 {
                String::new()
            } else {
                format!("{}", i as f64 * 1.25)
            };
            text.push_str(&format!("{i},{chars},{},{lang},x\n", i % 2));
        }
        std::fs::write(&path, text).unwrap();
        let one = read_columns(&path, 1).unwrap();
        assert_eq!(one.rows, 257);
        assert_eq!(one.metrics.len(), 3);
        assert_eq!(
            one.columns[1],
            Column::Rate {
                successes: 128,
                n: 257
            }
        );
        for parts in [2, 3, 7, 64, 5000] {
            let many = read_columns(&path, parts).unwrap();
            assert_eq!(many.rows, one.rows, "{parts} parts");
            assert_eq!(many.columns, one.columns, "{parts} parts");
        }
    }

    #[test]
    fn a_bad_cell_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("golden.csv");
        std::fs::write(&path, "id,output.json_valid\n1,1\n2,yes\n").unwrap();
        let e = read_columns(&path, 1).err().unwrap().to_string();
        assert!(
            e.contains("output.json_valid") && e.contains("\"yes\""),
            "{e}"
        );
        std::fs::write(&path, "id,nothing\n1,1\n").unwrap();
        let e = read_columns(&path, 1).err().unwrap().to_string();
        assert!(e.contains("no metric columns"), "{e}");
    }
}
