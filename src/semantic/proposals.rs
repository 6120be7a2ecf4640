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
/// outliers as one group (`cluster: None`). The outlier group is used only
/// when [`ClusteringResult::outlier_p_value`] `< params.alpha() / (k + 1)`
/// (the same Bonferroni family as the clusters' uncovered-excess tests):
/// about `q` of production is uncovered by construction even without drift,
/// and proposing that tail would be noise (the outliers stay listed in the
/// clustering result either way). A group's candidates
/// are its uncovered production rows. Within a group:
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
    if clustering.outlier_p_value < params.alpha() / (clustering.k + 1) as f64 {
        groups.push((None, clustering.outliers.as_slice()));
    }
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
        exclude.axis_iter(Axis(0)).any(|e| dot(row, e) >= dup)
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
            picks.push(Pick {
                cluster,
                index: idx,
            });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::semantic::cluster::{ClusterSummary, ClusterVerdict, GapScore};
    use ndarray::Array2;

    fn xy(deg: f64) -> [f32; 3] {
        let r = deg.to_radians();
        [r.cos() as f32, r.sin() as f32, 0.0]
    }

    /// Rows 0–4 at 0°, 1°, 2°, 30°, 60° in the xy-plane (cluster 0), row 5 at
    /// 90° and row 6 at 180° (outliers), row 7 on the z axis (cluster 1).
    fn production() -> Array2<f32> {
        let mut rows: Vec<[f32; 3]> = [0.0, 1.0, 2.0, 30.0, 60.0, 90.0, 180.0]
            .iter()
            .map(|&d| xy(d))
            .collect();
        rows.push([0.0, 0.0, 1.0]);
        Array2::from_shape_vec((8, 3), rows.concat()).unwrap()
    }

    fn summary(id: usize, uncovered: Vec<usize>) -> ClusterSummary {
        ClusterSummary {
            id,
            golden_count: 0,
            production_count: uncovered.len(),
            uncovered_count: uncovered.len(),
            golden_members: vec![],
            production_members: uncovered.clone(),
            uncovered_members: uncovered,
            gap: GapScore {
                ratio: 2.0,
                lower: 1.5,
                upper: 3.0,
            },
            uncovered_p_value: 0.0,
            verdict: ClusterVerdict::Gap,
        }
    }

    fn clustering() -> ClusteringResult {
        ClusteringResult {
            k: 2,
            silhouette: None,
            golden_assignment: vec![],
            production_assignment: vec![0, 0, 0, 0, 0, 0, 0, 1],
            clusters: vec![summary(0, vec![0, 1, 2, 3, 4]), summary(1, vec![7])],
            gap_ranking: vec![1, 0],
            outliers: vec![5, 6],
            outlier_p_value: 0.0,
        }
    }

    fn params(per_cluster: usize, per_run: usize) -> SemanticParams {
        SemanticParams::builder()
            .proposals_per_cluster(per_cluster)
            .proposals_per_run(per_run)
            .check()
            .unwrap()
    }

    fn pick(cluster: Option<usize>, index: usize) -> Pick {
        Pick { cluster, index }
    }

    #[test]
    fn medoid_then_farthest_first_in_gap_order_then_outliers() {
        let p = production();
        let none = Array2::<f32>::zeros((0, 3));
        let picks = select_proposals(p.view(), &clustering(), none.view(), &params(3, 30)).unwrap();
        assert_eq!(
            picks,
            vec![
                pick(Some(1), 7),
                pick(Some(0), 3), // medoid of 0°,1°,2°,30°,60°
                pick(Some(0), 0), // 30° from the medoid, tie with 60° → lower index
                pick(Some(0), 4),
                pick(None, 5),
                pick(None, 6),
            ]
        );
    }

    #[test]
    fn near_duplicates_are_skipped() {
        let p = production();
        let none = Array2::<f32>::zeros((0, 3));
        // Room for all five: 1° and 2° are near-duplicates of 0° and are skipped.
        let picks = select_proposals(p.view(), &clustering(), none.view(), &params(5, 30)).unwrap();
        let from0: Vec<usize> = picks
            .iter()
            .filter(|k| k.cluster == Some(0))
            .map(|k| k.index)
            .collect();
        assert_eq!(from0, vec![3, 0, 4]);
        // An exclude row at 61° removes the 60° candidate.
        let exclude = Array2::from_shape_vec((1, 3), xy(61.0).to_vec()).unwrap();
        let picks =
            select_proposals(p.view(), &clustering(), exclude.view(), &params(5, 30)).unwrap();
        let from0: Vec<usize> = picks
            .iter()
            .filter(|k| k.cluster == Some(0))
            .map(|k| k.index)
            .collect();
        assert_eq!(from0, vec![3, 0]);
        // A looser threshold keeps them.
        let loose = SemanticParams::builder()
            .proposals_per_cluster(5)
            .near_duplicate_cos(1.0)
            .check()
            .unwrap();
        let none = Array2::<f32>::zeros((0, 3));
        let picks = select_proposals(p.view(), &clustering(), none.view(), &loose).unwrap();
        assert_eq!(picks.iter().filter(|k| k.cluster == Some(0)).count(), 5);
    }

    #[test]
    fn chance_level_outliers_are_not_proposed() {
        let p = production();
        let none = Array2::<f32>::zeros((0, 3));
        let mut c = clustering();
        c.outlier_p_value = 0.3;
        let picks = select_proposals(p.view(), &c, none.view(), &params(3, 30)).unwrap();
        assert!(picks.iter().all(|k| k.cluster.is_some()) && picks.len() == 4);
        c.outlier_p_value = 0.001;
        let picks = select_proposals(p.view(), &c, none.view(), &params(3, 30)).unwrap();
        assert_eq!(picks.iter().filter(|k| k.cluster.is_none()).count(), 2);
    }

    #[test]
    fn run_cap_is_respected() {
        let p = production();
        let none = Array2::<f32>::zeros((0, 3));
        let picks = select_proposals(p.view(), &clustering(), none.view(), &params(3, 4)).unwrap();
        assert_eq!(
            picks,
            vec![
                pick(Some(1), 7),
                pick(Some(0), 3),
                pick(Some(0), 0),
                pick(Some(0), 4)
            ]
        );
    }

    #[test]
    fn out_of_range_index_is_an_error() {
        let p = production();
        let mut c = clustering();
        c.outliers.push(99);
        let none = Array2::<f32>::zeros((0, 3));
        assert!(select_proposals(p.view(), &c, none.view(), &params(3, 30)).is_err());
        let bad_exclude = Array2::<f32>::zeros((1, 2));
        assert!(
            select_proposals(p.view(), &clustering(), bad_exclude.view(), &params(3, 30)).is_err()
        );
    }
}
