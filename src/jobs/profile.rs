//! The golden set's reference profile: one column per metric (sorted values,
//! rate counts or category counts), computed once per golden version and
//! settings and stored, so a run only measures the production sample.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::{Column, MetricId, TraceMetrics};

/// One metric's reference distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RefColumn {
    /// Values sorted ascending (NaN never stored).
    Numeric {
        sorted: Vec<f64>,
    },
    Rate {
        successes: u64,
        n: u64,
    },
    Categorical {
        counts: BTreeMap<String, u64>,
    },
}

impl RefColumn {
    /// Builds the column of `metric` over `rows`.
    pub fn of(metric: MetricId, rows: &[TraceMetrics]) -> RefColumn {
        RefColumn::from_column(metric.column(rows))
    }

    /// Builds a column from a metric's values (NaN dropped, numbers sorted).
    pub fn from_column(column: Column) -> RefColumn {
        match column {
            Column::Numeric(mut v) => {
                v.retain(|x| x.is_finite());
                // Values equal in total order are identical bits: unstable is exact.
                v.sort_unstable_by(f64::total_cmp);
                RefColumn::Numeric { sorted: v }
            }
            Column::Rate { successes, n } => RefColumn::Rate { successes, n },
            Column::Categorical(c) => {
                let mut counts = BTreeMap::new();
                for x in c {
                    *counts.entry(x).or_insert(0) += 1;
                }
                RefColumn::Categorical { counts }
            }
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            RefColumn::Numeric { sorted } => sorted.len(),
            RefColumn::Rate { n, .. } => *n as usize,
            RefColumn::Categorical { counts } => counts.values().sum::<u64>() as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every metric column of a golden version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceProfile {
    pub golden_set: String,
    pub version: i64,
    pub settings_hash: String,
    pub n: usize,
    pub columns: BTreeMap<String, RefColumn>,
}

impl ReferenceProfile {
    pub fn build(
        golden_set: &str,
        version: i64,
        settings_hash: &str,
        metrics: &[MetricId],
        rows: &[TraceMetrics],
    ) -> ReferenceProfile {
        ReferenceProfile {
            golden_set: golden_set.into(),
            version,
            settings_hash: settings_hash.into(),
            n: rows.len(),
            columns: metrics
                .iter()
                .map(|m| (m.name().to_string(), RefColumn::of(*m, rows)))
                .collect(),
        }
    }
}
