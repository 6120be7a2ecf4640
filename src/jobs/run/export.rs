//! `driftwatch run --export-metrics DIR`: both samples' metric rows as CSV.

use std::path::Path;

use super::super::error::JobError;
use super::structural::{is_language, Measured, Sample};
use crate::metrics::{MetricId, MetricKind, MetricTable};

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
pub(super) fn export_samples(
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
