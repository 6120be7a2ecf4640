//! Near-duplicate units: rows that say the same thing in other words.
//!
//! Real traffic repeats paraphrases of one question, and a whole group of
//! them often lands on one side of the golden/production split. Tests that
//! treat every row as independent then see a difference that is only the
//! luck of which side each group fell on. The cure used here is the one of
//! grouped cross-validation: find the groups without looking at the labels,
//! and never let one group sit on both sides of a train/test split.

use ndarray::{s, ArrayView2};
use rayon::prelude::*;

use super::linalg::ROW_BLOCK;

/// Cosine at which the domain classifier's folds keep rows together
/// ([`near_duplicate_units`]): paraphrases, and the close rewordings that
/// chain them. Lower than [`NEAR_DUPLICATE_COS`] because a paraphrase group
/// seen through a sample has lost the rows that linked it: on BANKING77 split
/// by groups found over the whole data set at 0.9, units found at 0.9 within
/// a 2,000-row sample leave the classifier an AUC of ≈ 0.6 under no drift.
pub const FOLD_UNIT_COS: f32 = 0.8;

/// Cosine at or above which two inputs are near-duplicates (paraphrases of
/// one question). With all-MiniLM-L6-v2, pairs
/// above 0.9 are rewordings ("how do I top up my card" / "how can I top up my
/// card"); pairs between 0.7 and 0.9 are usually different questions of one
/// topic.
pub const NEAR_DUPLICATE_COS: f32 = 0.9;

/// Unit id of every row: single-linkage clusters of the rows at cosine
/// similarity `min_cos`, no cluster larger than `max_unit`. Ids are dense,
/// numbered by first row.
///
/// # Definition
///
/// Size-constrained single linkage: every pair with `⟨xᵢ, xⱼ⟩ ≥ min_cos`
/// is visited from the most similar down (ties by index) and joins the two
/// units unless the joined unit would exceed `max_unit` rows. Without the
/// cap this is plain single linkage — rows `i` and `j` share a unit when a
/// chain `i = a₀, …, a_m = j` has `⟨x_{a_t}, x_{a_{t+1}}⟩ ≥ min_cos` at every
/// step; with it, the strongest links form units first and a long chain is
/// cut at its weakest links. Labels (golden or production) are never used,
/// so the units are a fixed partition under the null hypothesis and any
/// test that moves whole units keeps its level.
///
/// # Remarks
///
/// Rows must be unit vectors (cosine = dot product). `O(n² d)` work in
/// `ROW_BLOCK`-row tiles; the pairs above `min_cos` are held and sorted.
///
/// # Reference
///
/// Gower & Ross (1969), *Minimum spanning trees and single linkage cluster
/// analysis*, JRSS C 18:54–64. Grouped folds as in scikit-learn's
/// `GroupKFold`.
pub fn near_duplicate_units(x: ArrayView2<f32>, min_cos: f32, max_unit: usize) -> Vec<usize> {
    let n = x.nrows();
    let starts: Vec<usize> = (0..n).step_by(ROW_BLOCK).collect();
    let mut pairs: Vec<(f32, usize, usize)> = starts
        .par_iter()
        .flat_map_iter(|&i0| {
            let i1 = (i0 + ROW_BLOCK).min(n);
            let sims = x.slice(s![i0..i1, ..]).dot(&x.slice(s![i0.., ..]).t());
            let mut out = Vec::new();
            for (r, row) in sims.outer_iter().enumerate() {
                let i = i0 + r;
                for (c, &v) in row.iter().enumerate().skip(r + 1) {
                    if v >= min_cos {
                        out.push((v, i, i0 + c));
                    }
                }
            }
            out
        })
        .collect();
    // Strongest links first; a link that would make a unit larger than
    // `max_unit` is skipped.
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
    let max_unit = max_unit.max(1);
    let mut parent: Vec<usize> = (0..n).collect();
    let mut size = vec![1usize; n];
    for (_, a, b) in pairs {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb && size[ra] + size[rb] <= max_unit {
            let (lo, hi) = (ra.min(rb), ra.max(rb));
            parent[hi] = lo;
            size[lo] += size[hi];
        }
    }
    let mut id = vec![usize::MAX; n];
    let mut out = Vec::with_capacity(n);
    let mut next = 0;
    for i in 0..n {
        let r = find(&mut parent, i);
        if id[r] == usize::MAX {
            id[r] = next;
            next += 1;
        }
        out.push(id[r]);
    }
    out
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Assigns whole units to `folds` folds, keeping each fold's count of each
/// class near `1/folds` of the class (as scikit-learn's
/// `StratifiedGroupKFold`): units in a seeded random order, largest first
/// (stable for ties), each to the fold where it leaves the smallest sum of
/// squared excesses over the per-class targets (the lowest index on a tie).
/// Returns the fold of every row. A fold that held one side's whole units
/// would train a model biased towards the other side and score its own
/// rows backwards.
pub(crate) fn grouped_folds(
    units: &[usize],
    labels: &[bool],
    folds: usize,
    rng: &mut super::linalg::SeededRng,
) -> Vec<usize> {
    use rand::seq::SliceRandom;
    let folds = folds.max(1);
    let k = units.iter().max().map_or(0, |m| m + 1);
    let mut count = vec![[0usize; 2]; k];
    for (&u, &l) in units.iter().zip(labels) {
        count[u][usize::from(l)] += 1;
    }
    let total = [0, 1].map(|c| count.iter().map(|u| u[c]).sum::<usize>() as f64);
    let target = total.map(|t| t / folds as f64);
    let mut order: Vec<usize> = (0..k).filter(|&u| count[u][0] + count[u][1] > 0).collect();
    order.shuffle(rng);
    order.sort_by_key(|&u| std::cmp::Reverse(count[u][0] + count[u][1]));
    let mut fold_rows = vec![[0usize; 2]; folds];
    let mut fold_of_unit = vec![0usize; k];
    for u in order {
        let cost = |f: usize| -> f64 {
            (0..2)
                .map(|c| {
                    let v = (fold_rows[f][c] + count[u][c]) as f64 - target[c];
                    v.max(0.0).powi(2)
                })
                .sum()
        };
        let f = (0..folds)
            .min_by(|&a, &b| cost(a).total_cmp(&cost(b)).then(a.cmp(&b)))
            .unwrap_or(0);
        fold_of_unit[u] = f;
        fold_rows[f][0] += count[u][0];
        fold_rows[f][1] += count[u][1];
    }
    units.iter().map(|&u| fold_of_unit[u]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::semantic::linalg::rng;
    use ndarray::Array2;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn paraphrases_chain_into_one_unit_and_others_stay_apart() {
        // 0 ~ 1 (cos ≈ 0.995), 1 ~ 2 (≈ 0.98), 0 vs 2 ≈ 0.95: one chain.
        // 3 is orthogonal; 4 duplicates 3.
        let rows = [
            unit(&[1.0, 0.0, 0.0]),
            unit(&[1.0, 0.1, 0.0]),
            unit(&[1.0, 0.3, 0.0]),
            unit(&[0.0, 0.0, 1.0]),
            unit(&[0.0, 0.0, 1.0]),
        ];
        let x = Array2::from_shape_vec((5, 3), rows.concat()).unwrap();
        assert_eq!(
            near_duplicate_units(x.view(), 0.9, 100),
            vec![0, 0, 0, 1, 1]
        );
        // At 0.99 only the 0–1 link (0.995) holds.
        assert_eq!(
            near_duplicate_units(x.view(), 0.99, 100),
            vec![0, 0, 1, 2, 2]
        );
    }

    #[test]
    fn big_components_are_cut_at_max_unit() {
        let x = Array2::from_shape_vec((5, 2), [1.0f32, 0.0].repeat(5)).unwrap();
        assert_eq!(near_duplicate_units(x.view(), 0.9, 2), vec![0, 0, 1, 1, 2]);
    }

    #[test]
    fn grouped_folds_keep_units_whole_and_balance_each_class() {
        let units: Vec<usize> = (0..100).map(|i| i / 4).collect();
        // Units 0..10 are production, the rest golden.
        let labels: Vec<bool> = (0..100).map(|i| i < 40).collect();
        let folds = grouped_folds(&units, &labels, 5, &mut rng(3, 1));
        for u in 0..25 {
            let f: Vec<usize> = (0..100)
                .filter(|&i| units[i] == u)
                .map(|i| folds[i])
                .collect();
            assert!(f.iter().all(|&x| x == f[0]), "unit {u} split: {f:?}");
        }
        for f in 0..5 {
            let rows: Vec<usize> = (0..100).filter(|&i| folds[i] == f).collect();
            assert_eq!(rows.len(), 20);
            assert_eq!(rows.iter().filter(|&&i| labels[i]).count(), 8, "fold {f}");
        }
    }
}
