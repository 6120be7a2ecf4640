//! Novelty scan: regions of embedding space that production fills and golden
//! does not, found as connected groups of production-only neighbourhoods and
//! tested by label permutation.
//!
//! Coverage asks, trace by trace, whether a golden example is near; its power
//! is bounded by the golden set's size (the threshold is a golden quantile),
//! and a new topic whose traces sit at moderate similarity to some golden
//! example is only partly "uncovered". KMeans, run for the whole space, tends
//! to spread a topic of a few percent over several large clusters. The scan
//! looks for what a new topic is locally: many production traces that are each
//! other's nearest neighbours with no golden example among them.

use std::collections::HashSet;

use ndarray::{concatenate, Array2, ArrayView2, Axis};
use rand::seq::SliceRandom;

use super::error::Result;
use super::linalg::{check_unit_rows, gram_sym, rng, subsample, SeededRng};

/// Most production rows the scan uses per golden row (see [`novelty_scan`]).
pub const MAX_RATIO: usize = 2;

/// One group of production rows found by [`novelty_scan`].
#[derive(Debug, Clone, PartialEq)]
pub struct ScanComponent {
    /// Production row indices (into the `production` argument), ascending.
    pub members: Vec<usize>,
    /// Permutation p-value of a group this large: `(1 + #{b : M_b ≥ size})
    /// / (B + 1)` with `M_b` the largest group under permuted labels.
    pub p_value: f64,
}

/// Outcome of [`novelty_scan`].
#[derive(Debug, Clone, PartialEq)]
pub struct ScanResult {
    /// Neighbours per row.
    pub k: usize,
    /// Distinct golden rows used (`m₀`).
    pub golden_used: usize,
    /// Distinct production rows used (`m₁`).
    pub production_used: usize,
    /// Permutations `B`.
    pub permutations: usize,
    /// Size of the largest observed group (0 when there is none).
    pub largest: usize,
    /// p-value of the largest group (1 when there is none).
    pub p_value: f64,
    /// Groups of at least two rows, largest first (ties by first member).
    pub components: Vec<ScanComponent>,
}

/// Finds groups of production rows whose neighbourhoods hold no golden row and
/// tests their size against label permutations.
///
/// # Definition
///
/// 1. Exact duplicate rows are dropped within each side (the same text asked
///    many times is one point of text space, not a region), then golden is
///    subsampled to `m₀ = min(n_golden, per_side_cap)` rows and production to
///    `m₁ = min(n_production, per_side_cap, MAX_RATIO · m₀)`, so production is
///    at most [`MAX_RATIO`] times golden: the more production dominates, the
///    more often a neighbourhood holds no golden row by chance, and the less a
///    group means.
/// 2. On the `m₀ + m₁` pooled unit rows, the `k` nearest neighbours of every row by
///    cosine (self excluded, ties by index) define a directed graph `E`; it is
///    built once and does not depend on the labels.
/// 3. Given labels, a production row is *pure* when all its `k` neighbours are
///    production. Groups are the weakly connected components of `E` restricted
///    to pure rows; the statistic is the size of each group.
/// 4. Under H₀ (golden and production drawn from one distribution) the labels
///    are exchangeable given the pooled rows, so `B` uniform permutations of the
///    labels give the null distribution of the *largest* group `M`. A group of
///    size `s` gets `p = (1 + #{b : M_b ≥ s}) / (B + 1)`; comparing every group
///    with the null maximum controls the family-wise error over groups (the
///    max-statistic method).
///
/// # Remarks
///
/// The `(m₀ + m₁)²` similarity matrix is the memory bound (2000 a side:
/// 64 MB). With fewer than `k + 1` rows on a side nothing is tested (`p = 1`). Deterministic
/// for a given `seed`.
///
/// # Reference
///
/// Schilling (1986), *Multivariate two-sample tests based on nearest
/// neighbors*, JASA 81:799–806 (neighbour-label statistics, permutation
/// null); Westfall & Young (1993), *Resampling-Based Multiple Testing*, §2
/// (single-step max-statistic adjustment); Phipson & Smyth (2010) for the
/// `(b + 1)/(B + 1)` p-value.
pub fn novelty_scan(
    golden: ArrayView2<f32>,
    production: ArrayView2<f32>,
    k: usize,
    per_side_cap: usize,
    permutations: usize,
    seed: u64,
) -> Result<ScanResult> {
    let d = check_unit_rows(golden, "golden", None)?;
    check_unit_rows(production, "production", Some(d))?;
    let g_rows = distinct_rows(golden);
    let p_rows = distinct_rows(production);
    let m0 = g_rows.len().min(per_side_cap);
    let m1 = p_rows.len().min(per_side_cap).min(MAX_RATIO * m0);
    let empty = ScanResult {
        k,
        golden_used: m0,
        production_used: m1,
        permutations,
        largest: 0,
        p_value: 1.0,
        components: Vec::new(),
    };
    if k == 0 || m0.min(m1) < k + 1 {
        return Ok(empty);
    }
    let mut r = rng(seed, 0x5CA7);
    let (p_pick, pooled) = pooled_sample(golden, production, (&g_rows, m0), (&p_rows, m1), &mut r);
    let knn = knn_lists(pooled.view(), k);
    drop(pooled);

    let observed: Vec<bool> = (0..m0 + m1).map(|i| i >= m0).collect();
    let groups = groups(&knn, k, &observed);
    let mut null_max = Vec::with_capacity(permutations);
    let mut labels = observed.clone();
    for _ in 0..permutations {
        labels.shuffle(&mut r);
        null_max.push(
            groups_sizes(&knn, k, &labels)
                .into_iter()
                .max()
                .unwrap_or(0),
        );
    }
    let p_of = |s: usize| {
        (1 + null_max.iter().filter(|&&x| x >= s).count()) as f64 / (permutations + 1) as f64
    };
    let mut components: Vec<ScanComponent> = groups
        .into_iter()
        .filter(|g| g.len() >= 2)
        .map(|g| {
            let mut members: Vec<usize> = g.into_iter().map(|i| p_pick[i - m0]).collect();
            members.sort_unstable();
            ScanComponent {
                p_value: p_of(members.len()),
                members,
            }
        })
        .collect();
    components.sort_by(|a, b| {
        b.members
            .len()
            .cmp(&a.members.len())
            .then(a.members[0].cmp(&b.members[0]))
    });
    let largest = components.first().map_or(0, |c| c.members.len());
    Ok(ScanResult {
        largest,
        p_value: if largest == 0 { 1.0 } else { p_of(largest) },
        components,
        ..empty
    })
}

/// A seeded subsample of `m₀` of the rows `g_rows` of `golden` and `m₁` of the
/// rows `p_rows` of `production` (golden drawn first), and the pooled matrix
/// (golden rows first). Returns the picked production row indices.
pub(super) fn pooled_sample(
    golden: ArrayView2<f32>,
    production: ArrayView2<f32>,
    (g_rows, m0): (&[usize], usize),
    (p_rows, m1): (&[usize], usize),
    r: &mut SeededRng,
) -> (Vec<usize>, Array2<f32>) {
    let g_pick: Vec<usize> = subsample(g_rows.len(), m0, r)
        .into_iter()
        .map(|i| g_rows[i])
        .collect();
    let p_pick: Vec<usize> = subsample(p_rows.len(), m1, r)
        .into_iter()
        .map(|i| p_rows[i])
        .collect();
    let pooled = concatenate(
        Axis(0),
        &[
            golden.select(Axis(0), &g_pick).view(),
            production.select(Axis(0), &p_pick).view(),
        ],
    )
    .expect("same column count");
    (p_pick, pooled)
}

/// Indices of the first occurrence of every distinct row (bitwise equality).
pub(super) fn distinct_rows(x: ArrayView2<f32>) -> Vec<usize> {
    let mut seen = HashSet::with_capacity(x.nrows());
    x.axis_iter(Axis(0))
        .enumerate()
        .filter(|(_, row)| seen.insert(row.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()))
        .map(|(i, _)| i)
        .collect()
}

/// The `k` most similar other rows of every row, flattened (`n × k`), most
/// similar first; ties broken by the lower index.
pub(super) fn knn_lists(x: ArrayView2<f32>, k: usize) -> Vec<usize> {
    let sim = gram_sym(x);
    let n = x.nrows();
    let mut out = vec![0usize; n * k];
    let mut best: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
    for (i, row) in sim.axis_iter(Axis(0)).enumerate() {
        best.clear();
        for (j, &v) in row.iter().enumerate() {
            if j == i {
                continue;
            }
            // Keep `best` sorted by similarity descending, index ascending.
            if best.len() == k && v <= best[k - 1].0 {
                continue;
            }
            let at = best.partition_point(|&(bv, bj)| bv > v || (bv == v && bj < j));
            best.insert(at, (v, j));
            best.truncate(k);
        }
        for (slot, &(_, j)) in out[i * k..(i + 1) * k].iter_mut().zip(&best) {
            *slot = j;
        }
    }
    out
}

/// Union–find root with path halving.
fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Parent array of the components of pure rows (`None` when no row is pure).
fn union_pure(knn: &[usize], k: usize, production: &[bool]) -> Option<(Vec<usize>, Vec<bool>)> {
    let n = production.len();
    let pure: Vec<bool> = (0..n)
        .map(|i| production[i] && knn[i * k..(i + 1) * k].iter().all(|&j| production[j]))
        .collect();
    if !pure.contains(&true) {
        return None;
    }
    let mut parent: Vec<usize> = (0..n).collect();
    for i in (0..n).filter(|&i| pure[i]) {
        for &j in &knn[i * k..(i + 1) * k] {
            if pure[j] {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                if a != b {
                    parent[a.max(b)] = a.min(b);
                }
            }
        }
    }
    Some((parent, pure))
}

/// Sizes of the groups of pure rows under `production` labels.
fn groups_sizes(knn: &[usize], k: usize, production: &[bool]) -> Vec<usize> {
    let Some((mut parent, pure)) = union_pure(knn, k, production) else {
        return Vec::new();
    };
    let mut size = vec![0usize; parent.len()];
    for i in (0..pure.len()).filter(|&i| pure[i]) {
        let root = find(&mut parent, i);
        size[root] += 1;
    }
    size.into_iter().filter(|&s| s > 0).collect()
}

/// Groups of pure rows (pooled indices) under `production` labels.
fn groups(knn: &[usize], k: usize, production: &[bool]) -> Vec<Vec<usize>> {
    let Some((mut parent, pure)) = union_pure(knn, k, production) else {
        return Vec::new();
    };
    let mut by_root: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for i in (0..pure.len()).filter(|&i| pure[i]) {
        let root = find(&mut parent, i);
        by_root.entry(root).or_default().push(i);
    }
    by_root.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::semantic::testutil::{blobs, centers, test_rng, with_new_blob};
    use ndarray::array;

    #[test]
    fn knn_lists_are_nearest_first_without_self() {
        // Four points on a circle at 0°, 10°, 100°, 180°.
        let deg = |a: f32| {
            let r = a.to_radians();
            [r.cos(), r.sin()]
        };
        let rows: Vec<[f32; 2]> = [0.0, 10.0, 100.0, 180.0].iter().map(|&a| deg(a)).collect();
        let x = ndarray::Array2::from_shape_vec((4, 2), rows.concat()).unwrap();
        assert_eq!(knn_lists(x.view(), 2), vec![1, 2, 0, 2, 3, 1, 2, 1]);
    }

    #[test]
    fn groups_follow_pure_rows_only() {
        // Rows 0..4; 0 is golden. k = 1: 1→2, 2→1, 3→0, 4→3.
        let knn = vec![1, 2, 1, 0, 3];
        let labels = [false, true, true, true, true];
        // 1 and 2 are pure (their neighbour is production); 3 points at golden
        // row 0, so it is not pure, and 4 (pointing at 3) is pure but alone.
        assert_eq!(groups(&knn, 1, &labels), vec![vec![1, 2], vec![4]]);
        let mut s = groups_sizes(&knn, 1, &labels);
        s.sort_unstable();
        assert_eq!(s, vec![1, 2]);
    }

    #[test]
    fn duplicates_count_once() {
        let x = array![
            [1.0f32, 0.0],
            [0.0, 1.0],
            [1.0, 0.0],
            [0.0, 1.0],
            [0.6, 0.8]
        ];
        assert_eq!(distinct_rows(x.view()), vec![0, 1, 4]);
    }

    #[test]
    fn a_new_blob_is_one_significant_group() {
        let mut r = test_rng(41);
        let c = centers(9, 32, &mut r);
        let old = c.slice(ndarray::s![..8, ..]).to_owned();
        let (g, _) = blobs(400, &old, &[1.0; 8], 0.6, &mut r);
        let (p, pid) = with_new_blob(400, 30, &c, 8, 0.6, &mut r);
        let res = novelty_scan(g.view(), p.view(), 5, 2000, 200, 7).unwrap();
        let top = &res.components[0];
        assert!(res.p_value < 0.05, "{res:?}");
        let from_new = top.members.iter().filter(|&&i| pid[i] == 8).count();
        assert!(
            from_new * 10 >= top.members.len() * 9 && from_new >= 10,
            "{from_new} of {} from the new blob",
            top.members.len()
        );
        // Deterministic for a seed.
        assert_eq!(
            res,
            novelty_scan(g.view(), p.view(), 5, 2000, 200, 7).unwrap()
        );
    }

    /// Same distribution on both sides, 40 seeds: the largest group is
    /// significant at α = 0.05 in at most 4 runs (expected 2; 4 is the 95th
    /// percentile of Binomial(40, 0.05)).
    #[test]
    fn no_drift_false_positive_rate_is_at_most_alpha() {
        let mut fired = 0;
        for seed in 0..40u64 {
            let mut r = test_rng(7000 + seed);
            let c = centers(8, 32, &mut r);
            let (g, _) = blobs(300, &c, &[1.0; 8], 0.6, &mut r);
            let (p, _) = blobs(300, &c, &[1.0; 8], 0.6, &mut r);
            let res = novelty_scan(g.view(), p.view(), 5, 2000, 100, seed).unwrap();
            fired += usize::from(res.p_value < 0.05);
        }
        assert!(fired <= 4, "fired {fired} of 40");
    }

    #[test]
    fn too_few_rows_test_nothing() {
        let x = array![[1.0f32, 0.0], [0.0, 1.0]];
        let res = novelty_scan(x.view(), x.view(), 5, 2000, 10, 1).unwrap();
        assert_eq!((res.largest, res.p_value), (0, 1.0));
    }
}
