//! Choosing production traces to propose as new golden items.

use ndarray::{ArrayView1, ArrayView2, Axis};

use super::cluster::ClusteringResult;
use super::error::{Result, SemanticError};
use super::linalg::{check_matrix, check_unit_rows};
use super::params::SemanticParams;

/// One proposed production trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    /// Gap cluster it came from; `None` for an outlier.
    pub cluster: Option<usize>,
    /// Row index into the production matrix.
    pub index: usize,
}

fn dot(a: ArrayView1<f32>, b: ArrayView1<f32>) -> f32 {
    a.dot(&b)
}

/// Picks representative, diverse, non-duplicate uncovered production traces.
///
/// # Definition
///
/// Groups are visited in order: the gap clusters of
/// [`ClusteringResult::gap_ranking`] (best gap score first), then the
/// outliers as one group (`cluster: None`). A group's candidates are its
/// uncovered production rows. Within a group:
///
/// 1. Medoid first: candidates are ranked by mean cosine to the other
///    candidates, `(xᵢ·Σⱼxⱼ − 1)/(m − 1)` (exact for unit rows, `O(m·d)`);
///    the best admissible one is picked.
/// 2. Farthest-first: repeatedly pick the admissible candidate maximising
///    its minimum cosine distance `1 − cos` to everything picked so far in
///    this run (ties to the lower row index).
/// 3. A candidate is inadmissible — and discarded — if its cosine to any row
///    of `exclude` or to any already-picked trace is ≥
///    `params.near_duplicate_cos()` (0.95 by default).
///
/// At most `params.proposals_per_cluster()` picks per group and
/// `params.proposals_per_run()` in total.
///
/// # Remarks
///
/// `exclude` is typically golden ∪ pending/rejected proposals; it may have
/// zero rows. Exclusion is checked lazily (only for candidates about to be
/// picked), so cost is `O(picks · |exclude| · d)` plus `O(m · d)` per pick.
/// Errors on non-unit/non-finite production rows, a dimension mismatch, or a
/// clustering index outside `production`.
///
/// # Reference
///
/// Gonzalez (1985), “Clustering to minimize the maximum intercluster
/// distance”, Theor. Comput. Sci. 38:293–306 (farthest-first traversal);
/// Kaufman & Rousseeuw (1990) medoid.
pub fn select_proposals(
    production: ArrayView2<f32>,
    clustering: &ClusteringResult,
    exclude: ArrayView2<f32>,
    params: &SemanticParams,
) -> Result<Vec<Pick>> {
    let d = check_unit_rows(production, "production", None)?;
    if exclude.nrows() > 0 {
        check_matrix(exclude, "exclude", Some(d))?;
    }
    let n = production.nrows();
    let mut groups: Vec<(Option<usize>, &[usize])> = clustering
        .gap_ranking
        .iter()
        .map(|&c| (Some(c), clustering.clusters[c].uncovered_members.as_slice()))
        .collect();
    groups.push((None, clustering.outliers.as_slice()));
    if let Some(&bad) = groups.iter().flat_map(|g| g.1.iter()).find(|&&i| i >= n) {
        return Err(SemanticError::LengthMismatch {
            what: "production (clustering refers to a row beyond it)",
            got: n,
            expected: bad + 1,
        });
    }
    let dup = params.near_duplicate_cos() as f32;
    let per_cluster = params.proposals_per_cluster();
    let per_run = params.proposals_per_run();
    let mut picks: Vec<Pick> = Vec::new();
    let excluded = |i: usize| {
        let row = production.row(i);
        exclude
            .axis_iter(Axis(0))
            .any(|e| dot(row, e) >= dup)
    };
    for (cluster, members) in groups {
        if picks.len() >= per_run {
            break;
        }
        let m = members.len();
        if m == 0 {
            continue;
        }
        // Mean cosine to the other candidates.
        let mut sum = vec![0.0f32; d];
        for &i in members {
            sum.iter_mut()
                .zip(production.row(i).iter())
                .for_each(|(s, &v)| *s += v);
        }
        let sum = ndarray::Array1::from(sum);
        let centrality: Vec<f32> = members
            .iter()
            .map(|&i| {
                if m > 1 {
                    (production.row(i).dot(&sum) - 1.0) / (m - 1) as f32
                } else {
                    0.0
                }
            })
            .collect();
        // Minimum cosine distance to every pick so far (global).
        let mut min_dist: Vec<f32> = members
            .iter()
            .map(|&i| {
                picks
                    .iter()
                    .map(|p| 1.0 - dot(production.row(i), production.row(p.index)))
                    .fold(f32::INFINITY, f32::min)
            })
            .collect();
        let mut alive = vec![true; m];
        let mut taken = 0usize;
        while taken < per_cluster && picks.len() < per_run {
            let best = (0..m).filter(|&j| alive[j]).max_by(|&a, &b| {
                let (ka, kb) = if taken == 0 {
                    (centrality[a], centrality[b])
                } else {
                    (min_dist[a], min_dist[b])
                };
                ka.total_cmp(&kb).then(members[b].cmp(&members[a]))
            });
            let Some(j) = best else { break };
            alive[j] = false;
            let idx = members[j];
            if min_dist[j] <= 1.0 - dup || excluded(idx) {
                continue;
            }
            picks.push(Pick { cluster, index: idx });
            taken += 1;
            let row = production.row(idx);
            for (l, md) in min_dist.iter_mut().enumerate() {
                if alive[l] {
                    *md = md.min(1.0 - dot(production.row(members[l]), row));
                }
            }
        }
    }
    Ok(picks)
}
