//! The gap table of `/review`: the gap clusters of each job's latest run, as
//! the run summaries recorded them, in the data team's order (most negative
//! user feedback first, then gap score).

use std::collections::HashMap;

use serde::Serialize;

use crate::review::{ProposalFilter, ProposalStatus};
use crate::store::{RunFilter, Store, StoreError};

/// Runs looked at to find each job's latest one.
pub(super) const RECENT_RUNS: i64 = 200;

/// One gap cluster of a job's latest run, as the run summary recorded it.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Gap {
    pub(super) job: String,
    pub(super) run_id: i64,
    pub(super) cluster: i64,
    pub(super) rank: i64,
    pub(super) label: String,
    pub(super) production: i64,
    pub(super) golden: i64,
    pub(super) uncovered: i64,
    pub(super) gap_ratio: Option<f64>,
    pub(super) gap_lower: Option<f64>,
    pub(super) examples: Vec<String>,
    pub(super) pending: usize,
    /// Share of the gap's traces with feedback that is negative, and how many
    /// carry feedback.
    pub(super) negative_feedback: Option<(f64, u64)>,
    /// "excluded by «who»: «reason» (scope)" when the gap is inside a topic
    /// the data team excluded.
    pub(super) excluded: Option<String>,
}

impl Gap {
    /// Traces of the gap with negative user feedback.
    fn negative_count(&self) -> u64 {
        self.negative_feedback
            .map_or(0, |(share, n)| (share * n as f64).round() as u64)
    }

    /// Share of the cluster's production traces that have a close golden example.
    pub(super) fn coverage(&self) -> Option<f64> {
        (self.production > 0).then(|| 1.0 - self.uncovered as f64 / self.production as f64)
    }
}

/// Run-level semantic numbers of a job's latest run.
#[derive(Debug, Serialize)]
pub(super) struct JobCoverage {
    pub(super) job: String,
    run_id: i64,
    coverage: Option<f64>,
}

/// Gap clusters of the latest run (with a semantic section) of each job,
/// ranked by gap score: the lower bound of the gap ratio, then the run's rank.
pub(super) async fn latest_gaps(
    store: &Store,
    job: Option<&str>,
) -> Result<(Vec<Gap>, Vec<JobCoverage>), StoreError> {
    let runs = store
        .list_runs(&RunFilter {
            job: job.map(str::to_string),
            limit: Some(RECENT_RUNS),
        })
        .await?;
    let mut seen = std::collections::HashSet::new();
    let mut gaps = Vec::new();
    let mut jobs = Vec::new();
    for run in runs {
        let Some(sem) = run.summary.as_ref().and_then(|s| s.semantic.as_ref()) else {
            continue;
        };
        if !seen.insert(run.job.clone()) {
            continue;
        }
        jobs.push(JobCoverage {
            job: run.job.clone(),
            run_id: run.id,
            coverage: sem.coverage,
        });
        let pending = store
            .list_proposals(&ProposalFilter {
                status: Some(ProposalStatus::Pending),
                job: Some(run.job.clone()),
                run_id: Some(run.id),
                ..ProposalFilter::default()
            })
            .await?;
        let mut per_cluster: HashMap<i64, usize> = HashMap::new();
        for p in &pending {
            if let Some(c) = p.cluster_id {
                *per_cluster.entry(c).or_default() += 1;
            }
        }
        for c in &sem.clusters {
            let Some(rank) = c.gap_rank else {
                continue;
            };
            // Proposals carry the gap's stable id.
            let cluster = c.gap_id.unwrap_or(c.cluster);
            gaps.push(Gap {
                job: run.job.clone(),
                run_id: run.id,
                cluster,
                rank: rank as i64,
                label: c.label.clone().unwrap_or_default(),
                production: c.production_count as i64,
                golden: c.golden_count as i64,
                uncovered: c.uncovered_count as i64,
                gap_ratio: c.gap_ratio,
                gap_lower: c.gap_lower,
                examples: c.examples.iter().take(3).cloned().collect(),
                pending: per_cluster.get(&cluster).copied().unwrap_or(0),
                negative_feedback: c.negative_feedback.zip(c.feedback_n),
                excluded: c
                    .other
                    .get("excluded")
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
            });
        }
    }
    rank_gaps(&mut gaps);
    Ok((gaps, jobs))
}

/// The data team's order: gaps whose traces collect the most negative user
/// feedback first (a topic the golden set lacks *and* users dislike), then by
/// gap score.
fn rank_gaps(gaps: &mut [Gap]) {
    gaps.sort_by(|a, b| {
        b.negative_count()
            .cmp(&a.negative_count())
            .then(
                b.gap_lower
                    .unwrap_or(f64::NEG_INFINITY)
                    .total_cmp(&a.gap_lower.unwrap_or(f64::NEG_INFINITY)),
            )
            .then(a.rank.cmp(&b.rank))
            .then(a.job.cmp(&b.job))
    });
}

fn feedback_cell(f: Option<(f64, u64)>) -> String {
    f.map_or_else(
        || "-".into(),
        |(share, n)| format!("{:.0}% of {n}", share * 100.0),
    )
}

/// A gap as `gaps.html` draws it: the gap, its coverage and feedback cell.
#[derive(Debug, Serialize)]
pub(super) struct GapRow<'a> {
    #[serde(flatten)]
    gap: &'a Gap,
    coverage: Option<f64>,
    feedback: String,
}

/// The rows of the gap table, in the order given.
pub(super) fn gap_rows(gaps: &[Gap]) -> Vec<GapRow<'_>> {
    gaps.iter()
        .map(|g| GapRow {
            gap: g,
            coverage: g.coverage(),
            feedback: feedback_cell(g.negative_feedback),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(cluster: i64, gap_lower: f64, negative_feedback: Option<(f64, u64)>) -> Gap {
        Gap {
            job: "j".into(),
            run_id: 1,
            cluster,
            rank: cluster,
            label: String::new(),
            production: 10,
            golden: 0,
            uncovered: 10,
            gap_ratio: None,
            gap_lower: Some(gap_lower),
            examples: Vec::new(),
            pending: 0,
            negative_feedback,
            excluded: None,
        }
    }

    #[test]
    fn gaps_users_dislike_rank_first_then_by_gap_score() {
        let mut gaps = vec![
            gap(1, 0.9, None),
            gap(2, 0.5, Some((0.5, 12))),
            gap(3, 0.7, Some((0.1, 10))),
            gap(4, 0.8, Some((0.0, 30))),
        ];
        rank_gaps(&mut gaps);
        let order: Vec<i64> = gaps.iter().map(|g| g.cluster).collect();
        // 6 negative, 1 negative, then none: by gap score (0.9 before 0.8).
        assert_eq!(order, [2, 3, 1, 4]);
        assert_eq!(feedback_cell(Some((0.5, 12))), "50% of 12");
        assert_eq!(feedback_cell(None), "-");
    }
}
