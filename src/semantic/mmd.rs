//! Maximum mean discrepancy with a Gaussian kernel and a permutation test.

use ndarray::linalg::general_mat_mul;
use ndarray::parallel::prelude::*;
use ndarray::{concatenate, s, Array2, ArrayView2, Axis};
use rand::seq::SliceRandom;

use super::error::{Result, SemanticError};
use super::linalg::{check_matrix, gram_sym, median_in_place, rng, subsample, ROW_BLOCK};

/// Outcome of [`mmd_test`].
#[derive(Debug, Clone, PartialEq)]
pub struct MmdResult {
    /// Unbiased MMD² estimate on the rows actually used.
    pub mmd2: f64,
    /// Permutation p-value `(k + 1) / (B + 1)`.
    pub p_value: f64,
    /// Gaussian kernel bandwidth σ (median heuristic).
    pub bandwidth: f64,
    /// Number of permutations `B`.
    pub permutations: usize,
    /// Reference rows used (after the memory cap).
    pub n_ref_used: usize,
    /// Current rows used (after the memory cap).
    pub n_cur_used: usize,
}

/// Permutations evaluated per batched matrix product.
const PERM_BATCH: usize = 128;

/// Rows of the pooled sample whose pairwise distances feed the median
/// heuristic inside [`mmd_test`] (≤ 499 500 pairs).
const MEDIAN_ROWS: usize = 1000;

/// Squared Euclidean distance from Gram entries,
/// `‖zᵢ − zⱼ‖² = ‖zᵢ‖² + ‖zⱼ‖² − 2 zᵢ·zⱼ`, clamped at 0.
fn sq_dist(ni: f32, nj: f32, g: f32) -> f32 {
    (ni + nj - 2.0 * g).max(0.0)
}

/// Median Euclidean distance over the pairs `i < j` of `rows`, read from a
/// Gram matrix.
fn median_distance(g: &Array2<f32>, rows: &[usize]) -> Result<f64> {
    let mut d = Vec::with_capacity(rows.len() * rows.len().saturating_sub(1) / 2);
    for (a, &i) in rows.iter().enumerate() {
        for &j in &rows[a + 1..] {
            d.push(f64::from(sq_dist(g[[i, i]], g[[j, j]], g[[i, j]])).sqrt());
        }
    }
    let med = median_in_place(&mut d).ok_or(SemanticError::TooFewRows {
        what: "pooled sample",
        need: 2,
        got: rows.len(),
    })?;
    if med > 0.0 && med.is_finite() {
        Ok(med)
    } else {
        Err(SemanticError::Degenerate(
            "median pairwise distance is zero (over half the pooled pairs coincide)".into(),
        ))
    }
}

/// Turns a Gram matrix into the Gaussian kernel matrix
/// `exp(−‖zᵢ − zⱼ‖²/(2σ²))` in place (diagonal exactly 1).
fn gram_to_kernel(g: &mut Array2<f32>, bandwidth: f64) {
    let c = (1.0 / (2.0 * bandwidth * bandwidth)) as f32;
    let norms: Vec<f32> = g.diag().to_vec();
    g.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(i, mut row)| {
            let ni = norms[i];
            for (v, &nj) in row.iter_mut().zip(&norms) {
                *v = (-sq_dist(ni, nj, *v) * c).exp();
            }
            row[i] = 1.0;
        });
}

/// Unbiased MMD² from a pooled kernel matrix whose first `m` rows are X.
fn mmd2_from_kernel(k: &Array2<f32>, m: usize) -> f64 {
    let n = k.nrows() - m;
    let block_sum = |r0: usize, r1: usize, c0: usize, c1: usize| -> f64 {
        k.slice(s![r0..r1, c0..c1])
            .axis_iter(Axis(0))
            .map(|r| r.iter().map(|&v| f64::from(v)).sum::<f64>())
            .sum()
    };
    let total = m + n;
    let sxx = block_sum(0, m, 0, m) - (0..m).map(|i| f64::from(k[[i, i]])).sum::<f64>();
    let syy = block_sum(m, total, m, total) - (m..total).map(|i| f64::from(k[[i, i]])).sum::<f64>();
    let sxy = block_sum(0, m, m, total);
    let (mf, nf) = (m as f64, n as f64);
    sxx / (mf * (mf - 1.0)) + syy / (nf * (nf - 1.0)) - 2.0 * sxy / (mf * nf)
}

fn check_pair(x: ArrayView2<f32>, y: ArrayView2<f32>) -> Result<()> {
    let d = check_matrix(x, "reference", None)?;
    check_matrix(y, "current", Some(d))?;
    for (what, got) in [("reference", x.nrows()), ("current", y.nrows())] {
        if got < 2 {
            return Err(SemanticError::TooFewRows { what, need: 2, got });
        }
    }
    Ok(())
}

/// Unbiased squared maximum mean discrepancy between `x` and `y` with a
/// Gaussian kernel of fixed bandwidth.
///
/// # Definition
///
/// With `k(a, b) = exp(−‖a − b‖² / (2σ²))`, `m = |x|`, `n = |y|`:
///
/// ```text
/// MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(xᵢ,xⱼ) + 1/(n(n−1)) Σ_{i≠j} k(yᵢ,yⱼ) − 2/(mn) Σ_{i,j} k(xᵢ,yⱼ)
/// ```
///
/// Squared distances come from one pooled Gram matrix,
/// `‖a − b‖² = ‖a‖² + ‖b‖² − 2a·b` (so `2 − 2a·b` for unit rows), computed in
/// f32 and accumulated in f64.
///
/// # Remarks
///
/// Works for any finite vectors (unit norm not required). Errors when either
/// side has fewer than 2 rows, dimensions differ, a value is non-finite, or
/// `bandwidth` is not finite and positive. The estimate can be slightly
/// negative when the distributions agree; it is returned as is.
///
/// # Reference
///
/// Gretton, Borgwardt, Rasch, Schölkopf, Smola (2012), “A Kernel Two-Sample
/// Test”, JMLR 13:723–773, eq. (3). Matches the numpy computation
/// `K = exp(-cdist(Z, Z, 'sqeuclidean') / (2σ²))` followed by the three block
/// sums with the diagonals removed.
pub fn mmd2_unbiased(x: ArrayView2<f32>, y: ArrayView2<f32>, bandwidth: f64) -> Result<f64> {
    check_pair(x, y)?;
    if !(bandwidth.is_finite() && bandwidth > 0.0) {
        return Err(SemanticError::Degenerate(format!(
            "bandwidth must be finite and positive, got {bandwidth}"
        )));
    }
    let z = concatenate(Axis(0), &[x.view(), y.view()]).expect("same column count");
    let mut k = gram_sym(z.view());
    gram_to_kernel(&mut k, bandwidth);
    Ok(mmd2_from_kernel(&k, x.nrows()))
}

/// Median-heuristic bandwidth: the median Euclidean distance between
/// distinct pooled rows.
///
/// # Definition
///
/// `σ = median{ ‖zᵢ − zⱼ‖ : i < j }` over all rows `z` of the input — the
/// median of (unsquared) distances, averaging the two middle values when the
/// pair count is even.
///
/// # Remarks
///
/// Uses every pair, so it needs `O(n²)` memory: call it on at most a few
/// thousand rows ([`mmd_test`] calls it on its capped pooled sample).
/// Errors with fewer than 2 rows, non-finite values, or a zero median.
///
/// # Reference
///
/// Gretton et al. (2012), JMLR 13, §8; Garreau, Jitkrittum, Kanagawa (2017),
/// “Large sample analysis of the median heuristic”. Matches
/// `numpy.median(scipy.spatial.distance.pdist(Z))`.
pub fn median_heuristic_bandwidth(z: ArrayView2<f32>) -> Result<f64> {
    check_matrix(z, "pooled sample", None)?;
    if z.nrows() < 2 {
        return Err(SemanticError::TooFewRows {
            what: "pooled sample",
            need: 2,
            got: z.nrows(),
        });
    }
    let g = gram_sym(z);
    let rows: Vec<usize> = (0..z.nrows()).collect();
    median_distance(&g, &rows)
}

/// Two-sample MMD permutation test (reference vs current) with a
/// median-heuristic Gaussian kernel.
///
/// # Definition
///
/// 1. Memory cap: when `m + n > max_pooled`, each side is subsampled
///    (seeded, uniformly without replacement) to at most `max_pooled / 2`
///    rows; a side smaller than that keeps all its rows and the other side
///    gets the remainder. The sizes used are reported in
///    [`MmdResult::n_ref_used`] / [`MmdResult::n_cur_used`].
/// 2. σ = median Euclidean distance (unsquared) over all pairs of a seeded
///    subsample of at most 1000 of the pooled rows used (all of them when
///    there are at most 1000, which is then exactly
///    [`median_heuristic_bandwidth`]); `k(a,b) = exp(−‖a−b‖²/(2σ²))`.
/// 3. `mmd2` = [`mmd2_unbiased`] on the rows used.
/// 4. The pooled kernel matrix is built once; each of the `B = permutations`
///    seeded permutations only relabels rows. With label indicator `s`,
///    `r = K·1` and `T = 1ᵀK1`: `Σ_XX = sᵀKs − m`, `Σ_XY = sᵀr − sᵀKs`,
///    `Σ_YY = T − 2sᵀr + sᵀKs − n`; `Ks` is evaluated for 128 permutations at
///    a time as one matrix product. The Gram matrix is symmetric, so only
///    its upper block triangle is multiplied.
/// 5. `p = (k + 1)/(B + 1)` where `k` counts permuted statistics ≥ the
///    observed one (computed by the same batched path).
///
/// # Remarks
///
/// Memory is `(min(m+n, max_pooled))²` f32 (64 MiB at 4000). Errors when a
/// side has fewer than 2 rows, `permutations == 0`, `max_pooled < 4`, or the
/// bandwidth degenerates (see [`median_heuristic_bandwidth`]).
///
/// # Reference
///
/// Gretton et al. (2012), JMLR 13, eq. (3) and §8 (median heuristic);
/// Phipson & Smyth (2010), “Permutation p-values should never be zero” for
/// `(k+1)/(B+1)`. Equivalent to a numpy loop recomputing eq. (3) on
/// `K[np.ix_(perm, perm)]`.
pub fn mmd_test(
    reference: ArrayView2<f32>,
    current: ArrayView2<f32>,
    permutations: usize,
    max_pooled: usize,
    seed: u64,
) -> Result<MmdResult> {
    check_pair(reference, current)?;
    if permutations == 0 {
        return Err(SemanticError::InvalidParam {
            name: "permutations",
            reason: "must be at least 1",
        });
    }
    if max_pooled < 4 {
        return Err(SemanticError::InvalidParam {
            name: "mmd_max_pooled",
            reason: "must be at least 4",
        });
    }
    let (m0, n0) = (reference.nrows(), current.nrows());
    let (m, n) = if m0 + n0 <= max_pooled {
        (m0, n0)
    } else {
        let half = max_pooled / 2;
        if m0 <= half {
            (m0, max_pooled - m0)
        } else if n0 <= half {
            (max_pooled - n0, n0)
        } else {
            (half, max_pooled - half)
        }
    };
    let mut r = rng(seed, 0x004D_4D44);
    let xi = subsample(m0, m, &mut r);
    let yi = subsample(n0, n, &mut r);
    let z = concatenate(
        Axis(0),
        &[
            reference.select(Axis(0), &xi).view(),
            current.select(Axis(0), &yi).view(),
        ],
    )
    .expect("same column count");
    let total = m + n;
    let mut k = gram_sym(z.view());
    drop(z);
    let median_rows = subsample(total, MEDIAN_ROWS, &mut r);
    let bandwidth = median_distance(&k, &median_rows)?;
    gram_to_kernel(&mut k, bandwidth);
    let mmd2 = mmd2_from_kernel(&k, m);

    let row_sums: Vec<f64> = k
        .axis_iter(Axis(0))
        .map(|row| row.iter().map(|&v| f64::from(v)).sum())
        .collect();
    let t_all: f64 = row_sums.iter().sum();
    let diag_x = m as f64;
    let diag_y = n as f64;
    let (mf, nf) = (m as f64, n as f64);
    let stat = |s_ks: f64, s_r: f64| {
        let sxx = s_ks - diag_x;
        let sxy = s_r - s_ks;
        let syy = t_all - 2.0 * s_r + s_ks - diag_y;
        sxx / (mf * (mf - 1.0)) + syy / (nf * (nf - 1.0)) - 2.0 * sxy / (mf * nf)
    };

    // Column 0 of the first batch is the observed labelling.
    let mut perm: Vec<usize> = (0..total).collect();
    let mut observed = f64::NAN;
    let mut exceed = 0usize;
    let mut done = 0usize;
    let mut first = true;
    while done < permutations {
        let b = (permutations - done).min(PERM_BATCH) + usize::from(first);
        let mut s_mat = Array2::<f32>::zeros((total, b));
        for c in 0..b {
            if first && c == 0 {
                s_mat.slice_mut(s![..m, 0]).fill(1.0);
            } else {
                let (chosen, _) = perm.partial_shuffle(&mut r, m);
                for &i in chosen.iter() {
                    s_mat[[i, c]] = 1.0;
                }
            }
        }
        let mut ks = Array2::<f32>::zeros((total, b));
        ks.axis_chunks_iter_mut(Axis(0), ROW_BLOCK)
            .into_par_iter()
            .enumerate()
            .for_each(|(bi, mut chunk)| {
                let lo = bi * ROW_BLOCK;
                let rows = k.slice(s![lo..lo + chunk.nrows(), ..]);
                general_mat_mul(1.0, &rows, &s_mat, 0.0, &mut chunk);
            });
        for c in 0..b {
            let (mut s_ks, mut s_r) = (0.0f64, 0.0f64);
            for i in 0..total {
                if s_mat[[i, c]] != 0.0 {
                    s_ks += f64::from(ks[[i, c]]);
                    s_r += row_sums[i];
                }
            }
            let v = stat(s_ks, s_r);
            if first && c == 0 {
                observed = v;
            } else if v >= observed {
                exceed += 1;
            }
        }
        done += b - usize::from(first);
        first = false;
    }
    Ok(MmdResult {
        mmd2,
        p_value: (exceed as f64 + 1.0) / (permutations as f64 + 1.0),
        bandwidth,
        permutations,
        n_ref_used: m,
        n_cur_used: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::semantic::testutil::{blobs, centers, test_rng};
    use ndarray::{array, Array2};

    fn xy() -> (Array2<f32>, Array2<f32>) {
        let x = array![
            [0.1f32, 0.2, 0.3],
            [0.4, 0.1, 0.0],
            [0.2, 0.2, 0.9],
            [0.5, 0.5, 0.5]
        ];
        let y = array![
            [1.0f32, 0.0, 0.2],
            [0.9, 0.1, 0.1],
            [0.3, 0.8, 0.4],
            [0.0, 0.0, 1.0],
            [0.7, 0.2, 0.6]
        ];
        (x, y)
    }

    // numpy 2.4.6, scipy 1.17.1 (inputs cast f32 → f64 as in Rust):
    // X=np.array([[.1,.2,.3],[.4,.1,0],[.2,.2,.9],[.5,.5,.5]],np.float32).astype(float)
    // Y=np.array([[1,0,.2],[.9,.1,.1],[.3,.8,.4],[0,0,1],[.7,.2,.6]],np.float32).astype(float)
    // Z=np.vstack([X,Y]); K=np.exp(-cdist(Z,Z,'sqeuclidean')/(2*.5**2)); m,n=4,5
    // (K[:m,:m].sum()-m)/(m*(m-1))+(K[m:,m:].sum()-n)/(n*(n-1))-2*K[:m,m:].mean()
    //   = 0.012782611589295723
    #[test]
    fn mmd2_unbiased_matches_numpy() {
        let (x, y) = xy();
        let v = mmd2_unbiased(x.view(), y.view(), 0.5).unwrap();
        // f32 Gram products: agreement to ~1e-7 absolute.
        assert!((v - 0.012_782_611_589_295_723).abs() < 1e-6, "{v}");
    }

    // Same X, Y: np.median(scipy.spatial.distance.pdist(np.vstack([X,Y])))
    //   = 0.7138336100175142
    #[test]
    fn median_heuristic_bandwidth_matches_numpy() {
        let (x, y) = xy();
        let z = ndarray::concatenate(Axis(0), &[x.view(), y.view()]).unwrap();
        let s = median_heuristic_bandwidth(z.view()).unwrap();
        assert!((s - 0.713_833_610_017_514_2).abs() < 1e-6, "{s}");
    }

    #[test]
    fn mmd_test_small_pool_uses_full_median_and_same_statistic() {
        let (x, y) = xy();
        let res = mmd_test(x.view(), y.view(), 200, 4000, 3).unwrap();
        assert!((res.bandwidth - 0.713_833_610_017_514_2).abs() < 1e-6);
        let direct = mmd2_unbiased(x.view(), y.view(), res.bandwidth).unwrap();
        assert!((res.mmd2 - direct).abs() < 1e-9);
        assert_eq!(
            (res.n_ref_used, res.n_cur_used, res.permutations),
            (4, 5, 200)
        );
        assert!(res.p_value >= 1.0 / 201.0 && res.p_value <= 1.0);
    }

    #[test]
    fn mmd_test_is_deterministic_for_a_seed() {
        let (x, y) = xy();
        let a = mmd_test(x.view(), y.view(), 100, 4000, 11).unwrap();
        let b = mmd_test(x.view(), y.view(), 100, 4000, 11).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn mmd_test_caps_pooled_size() {
        let mut r = test_rng(1);
        let c = centers(3, 16, &mut r);
        let (g, _) = blobs(300, &c, &[1.0; 3], 0.5, &mut r);
        let (p, _) = blobs(50, &c, &[1.0; 3], 0.5, &mut r);
        let res = mmd_test(g.view(), p.view(), 50, 200, 1).unwrap();
        assert_eq!((res.n_ref_used, res.n_cur_used), (150, 50));
        let res = mmd_test(p.view(), g.view(), 50, 120, 1).unwrap();
        assert_eq!((res.n_ref_used, res.n_cur_used), (50, 70));
        let res = mmd_test(g.view(), g.view(), 50, 101, 1).unwrap();
        assert_eq!((res.n_ref_used, res.n_cur_used), (50, 51));
    }

    #[test]
    fn mmd_test_detects_a_shift() {
        let mut r = test_rng(2);
        let c = centers(4, 16, &mut r);
        let (g, _) = blobs(300, &c, &[1.0, 1.0, 1.0, 0.0], 0.5, &mut r);
        let (p, _) = blobs(300, &c, &[1.0, 1.0, 1.0, 1.0], 0.5, &mut r);
        let res = mmd_test(g.view(), p.view(), 200, 4000, 5).unwrap();
        assert!(res.mmd2 > 0.0);
        assert!((res.p_value - 1.0 / 201.0).abs() < 1e-12, "{res:?}");
    }

    #[test]
    fn mmd_errors_instead_of_nan() {
        let (x, y) = xy();
        let one = array![[1.0f32, 0.0, 0.0]];
        assert!(matches!(
            mmd2_unbiased(one.view(), y.view(), 1.0),
            Err(SemanticError::TooFewRows { .. })
        ));
        assert!(matches!(
            mmd2_unbiased(x.view(), y.view(), 0.0),
            Err(SemanticError::Degenerate(_))
        ));
        assert!(matches!(
            mmd_test(x.view(), y.view(), 0, 4000, 0),
            Err(SemanticError::InvalidParam { .. })
        ));
        let same = Array2::<f32>::from_elem((5, 3), 0.5);
        assert!(matches!(
            mmd_test(same.view(), same.view(), 10, 4000, 0),
            Err(SemanticError::Degenerate(_))
        ));
        let bad = array![[f32::NAN, 0.0, 0.0], [1.0, 0.0, 0.0]];
        assert!(matches!(
            mmd2_unbiased(bad.view(), y.view(), 1.0),
            Err(SemanticError::NonFinite { .. })
        ));
        let wide = array![[1.0f32, 0.0], [0.0, 1.0]];
        assert!(matches!(
            mmd2_unbiased(x.view(), wide.view(), 1.0),
            Err(SemanticError::DimensionMismatch { .. })
        ));
    }
}
