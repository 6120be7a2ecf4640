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

/// Neighbours `κ` in a candidate's local density (see [`select_proposals`]).
pub const DENSITY_NEIGHBOURS: usize = 5;

/// Most candidates per group in [`select_proposals`]; a larger group is
/// thinned to an evenly strided subsample of this size (density is then
/// estimated within the subsample).
pub const MAX_CANDIDATES: usize = 2000;

/// Cosine at or above which two picks of one group are variations of one
/// question; [`select_proposals`] first looks for picks below it.
pub const DIVERSITY_COS: f32 = 0.85;

/// Local density of every row of `x` (unit rows) among the others:
/// `ρᵢ` = mean of the `κ = min(κ_max, m − 1)` largest cosines `xᵢ·xⱼ`,
/// `j ≠ i` (0 when `m = 1`).
fn local_density(x: ArrayView2<f32>, kappa_max: usize) -> Vec<f32> {
    let m = x.nrows();
    let kappa = kappa_max.min(m.saturating_sub(1));
    if kappa == 0 {
        return vec![0.0; m];
    }
    let gram = x.dot(&x.t());
    gram.outer_iter()
        .enumerate()
        .map(|(i, row)| {
            let mut others: Vec<f32> = row
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, &c)| c)
                .collect();
            others.select_nth_unstable_by(kappa - 1, |a, b| b.total_cmp(a));
            others[..kappa].iter().sum::<f32>() / kappa as f32
        })
        .collect()
}

/// Picks representative, non-duplicate uncovered production traces from the
/// dense parts of each gap.
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
/// clustering result either way). A group's candidates are its uncovered
/// production rows (thinned to every `⌈m / MAX_CANDIDATES⌉`-th when there
/// are more than [`MAX_CANDIDATES`]). Within a group of `m` candidates:
///
/// 1. Local density: `ρᵢ = (1/κ) Σ_{j ∈ Nκ(i)} xᵢ·xⱼ`, the mean cosine to
///    its `κ = min(DENSITY_NEIGHBOURS, m − 1)` nearest other candidates
///    `Nκ(i)` (`ρᵢ = 0` when `m = 1`). Only candidates count as neighbours:
///    the density is that of the *uncovered* traffic, so a new topic's
///    traces (many, close together) outrank the sparse uncovered tail of a
///    covered, heterogeneous topic that shares the cluster (far from each
///    other).
/// 2. Candidates are visited in decreasing `ρᵢ` (ties to the lower row
///    index) and picked unless inadmissible: its cosine to any row of
///    `exclude` or to any trace already picked in this run is ≥
///    `params.near_duplicate_cos()` (0.95 by default), so picks are never
///    paraphrases of each other or of golden.
/// 3. Diversity first: the visit of step 2 is made twice. The first pass
///    only considers the denser half of the candidates (`ρᵢ` at or above the
///    group's median) and also skips a candidate whose cosine to a pick of
///    the same group is ≥ [`DIVERSITY_COS`], so a gap's picks cover its
///    different questions rather than three wordings of its densest one;
///    the second pass fills the remaining slots by step 2 alone. Restricting
///    the first pass to the denser half keeps it from reaching for the
///    sparse uncovered tail of other topics that shares a cluster.
///
/// At most `params.proposals_per_cluster()` picks per group and
/// `params.proposals_per_run()` in total.
///
/// # Remarks
///
/// Picking in density order replaced medoid-then-farthest-first: with a 5 %
/// new topic, farthest-first went from the topic's medoid straight to the
/// far-flung uncovered traces of other topics sharing the gap cluster. Pure
/// density order in turn gave three wordings of the densest question (the
/// demo's "how long can pizza stay in the fridge"), hence step 3.
/// `exclude` is typically golden ∪ pending/rejected proposals; it may have
/// zero rows. Exclusion is checked lazily (only for candidates about to be
/// picked). Cost per group `O(m²·d)` time and `O(m²)` memory for the
/// density (`m ≤ MAX_CANDIDATES`), plus `O(picks · |exclude| · d)`.
/// Errors on non-unit/non-finite production rows, a dimension mismatch, or a
/// clustering index outside `production`.
///
/// # Reference
///
/// `k`-nearest-neighbour density estimation (Loftsgaarden & Quesenberry
/// 1965, Ann. Math. Statist. 36:1049–1051), here with the mean cosine
/// similarity to the `κ` nearest neighbours in place of the inverse `κ`-th
/// radius (both are monotone in how crowded the neighbourhood is).
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
        if members.is_empty() {
            continue;
        }
        let stride = members.len().div_ceil(MAX_CANDIDATES);
        let cands: Vec<usize> = members.iter().copied().step_by(stride).collect();
        let rho = local_density(
            production.select(Axis(0), &cands).view(),
            DENSITY_NEIGHBOURS,
        );
        let mut order: Vec<usize> = (0..cands.len()).collect();
        order.sort_by(|&a, &b| rho[b].total_cmp(&rho[a]).then(cands[a].cmp(&cands[b])));
        let median = {
            let mut r = rho.clone();
            r.sort_by(f32::total_cmp);
            r[r.len() / 2]
        };
        let first = picks.len();
        for diverse in [true, false] {
            for &j in &order {
                if picks.len() - first >= per_cluster || picks.len() >= per_run {
                    break;
                }
                if diverse && rho[j] < median {
                    continue;
                }
                let idx = cands[j];
                let row = production.row(idx);
                let too_close = |p: &Pick, own: bool| {
                    let c = dot(row, production.row(p.index));
                    c >= dup || (diverse && own && c >= DIVERSITY_COS)
                };
                if picks.iter().any(|p| p.index == idx)
                    || picks[..first].iter().any(|p| too_close(p, false))
                    || picks[first..].iter().any(|p| too_close(p, true))
                    || excluded(idx)
                {
                    continue;
                }
                picks.push(Pick {
                    cluster,
                    index: idx,
                });
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

    /// Unit vector at `polar`° from the x axis, rotated `azimuth`° about it.
    fn dir(polar: f64, azimuth: f64) -> [f32; 3] {
        let (p, a) = (polar.to_radians(), azimuth.to_radians());
        [
            p.cos() as f32,
            (p.sin() * a.cos()) as f32,
            (p.sin() * a.sin()) as f32,
        ]
    }

    /// Cluster 0 (uncovered: rows 0–11 and 15): a dense clump — row 0 on
    /// the x axis, rows 1–8 a ring 25°–32° around it, row 15 at 3° (a
    /// near-duplicate of row 0) — plus sparse stragglers 9–11 at 100°–120°.
    /// Cluster 1: row 12 at 180°. Outliers: rows 13 and 14 at 150°.
    ///
    /// Local density (κ = 5; numpy): 15: 0.919, 0: 0.916, 1: 0.903,
    /// 2: 0.899, 3: 0.894, 4: 0.882, 5: 0.873, 7: 0.867, 6: 0.866,
    /// 8: 0.865, 9: 0.083, 11: −0.012, 10: −0.160. Cosines: 0·15 = 0.999,
    /// ring neighbours 0.92–0.946, 13·14 = 0.5.
    fn production() -> Array2<f32> {
        let mut rows = vec![dir(0.0, 0.0)];
        rows.extend((1..=8).map(|r| dir(24.0 + r as f64, 45.0 * (r - 1) as f64)));
        rows.extend([dir(100.0, 20.0), dir(120.0, 150.0), dir(110.0, 260.0)]);
        rows.extend([dir(180.0, 0.0), dir(150.0, 90.0), dir(150.0, 270.0)]);
        rows.push(dir(3.0, 0.0));
        Array2::from_shape_vec((16, 3), rows.concat()).unwrap()
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
            region_p: None,
            verdict: ClusterVerdict::Gap,
        }
    }

    fn clustering() -> ClusteringResult {
        let mut c0: Vec<usize> = (0..12).collect();
        c0.push(15);
        let mut assignment = vec![0; 16];
        assignment[12] = 1;
        ClusteringResult {
            k: 2,
            silhouette: None,
            golden_assignment: vec![],
            production_assignment: assignment,
            clusters: vec![summary(0, c0), summary(1, vec![12])],
            gap_ranking: vec![1, 0],
            outliers: vec![13, 14],
            outlier_p_value: 0.0,
            regions: None,
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

    fn from0(picks: &[Pick]) -> Vec<usize> {
        picks
            .iter()
            .filter(|k| k.cluster == Some(0))
            .map(|k| k.index)
            .collect()
    }

    #[test]
    fn local_density_is_mean_cosine_to_nearest_neighbours() {
        let deg = |d: f64| [d.to_radians().cos() as f32, d.to_radians().sin() as f32];
        let x = Array2::from_shape_vec((3, 2), [deg(0.0), deg(10.0), deg(90.0)].concat()).unwrap();
        let c = |d: f64| d.to_radians().cos() as f32;
        let rho = local_density(x.view(), 1);
        for (got, want) in rho.iter().zip([c(10.0), c(10.0), c(80.0)]) {
            assert!((got - want).abs() < 1e-6, "{rho:?}");
        }
        let rho = local_density(x.view(), 5); // κ capped at m − 1 = 2
        let want = [c(10.0) + c(90.0), c(10.0) + c(80.0), c(90.0) + c(80.0)];
        for (got, want) in rho.iter().zip(want) {
            assert!((got - want / 2.0).abs() < 1e-6, "{rho:?}");
        }
        assert_eq!(local_density(x.slice(ndarray::s![..1, ..]), 5), vec![0.0]);
    }

    #[test]
    fn dense_clump_first_in_gap_order_then_outliers() {
        let p = production();
        let none = Array2::<f32>::zeros((0, 3));
        let picks = select_proposals(p.view(), &clustering(), none.view(), &params(3, 30)).unwrap();
        assert_eq!(
            picks,
            vec![
                pick(Some(1), 12),
                pick(Some(0), 15), // densest
                // Diversity first: rows 0–4 are ≥ 0.85 to 15; 5 sits on the far
                // side of the ring (0.848). Then density order fills the third
                // slot (row 0 is a near-duplicate of 15).
                pick(Some(0), 5),
                pick(Some(0), 1),
                pick(None, 13), // equal density, lower index first
                pick(None, 14),
            ]
        );
    }

    #[test]
    fn sparse_stragglers_come_last() {
        let p = production();
        let none = Array2::<f32>::zeros((0, 3));
        let loose = SemanticParams::builder()
            .proposals_per_cluster(13)
            .near_duplicate_cos(1.0)
            .check()
            .unwrap();
        let picks = select_proposals(p.view(), &clustering(), none.view(), &loose).unwrap();
        assert_eq!(
            from0(&picks),
            vec![15, 5, 0, 1, 2, 3, 4, 7, 6, 8, 9, 11, 10]
        );
    }

    #[test]
    fn near_duplicates_are_skipped() {
        let p = production();
        let none = Array2::<f32>::zeros((0, 3));
        // Room for all thirteen: only row 0 (0.999 to row 15) is skipped.
        let picks =
            select_proposals(p.view(), &clustering(), none.view(), &params(13, 30)).unwrap();
        assert_eq!(from0(&picks), vec![15, 5, 1, 2, 3, 4, 7, 6, 8, 9, 11, 10]);
        // An exclude row at 4° removes rows 0 and 15 (ring rows are ≤ 0.933 to it);
        // the picks are then spread round the ring (1 at 0°, 3 at 90°, 5 at 180°
        // azimuth; 2 and 4 are ≥ 0.85 to a pick).
        let exclude = Array2::from_shape_vec((1, 3), dir(4.0, 0.0).to_vec()).unwrap();
        let picks =
            select_proposals(p.view(), &clustering(), exclude.view(), &params(3, 30)).unwrap();
        assert_eq!(from0(&picks), vec![1, 3, 5]);
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
                pick(Some(1), 12),
                pick(Some(0), 15),
                pick(Some(0), 5),
                pick(Some(0), 1)
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
