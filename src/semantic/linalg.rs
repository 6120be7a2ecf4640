//! Shared numeric plumbing: validation, seeded subsampling and blocked,
//! rayon-parallel matrix products. Nothing here is public outside the module.

use ndarray::linalg::general_mat_mul;
use ndarray::parallel::prelude::*;
use ndarray::{s, Array2, ArrayView2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::error::{Result, SemanticError};

/// Tolerance on |‖x‖ − 1| for rows that must be unit-normalised.
pub(crate) const NORM_TOL: f32 = 1e-3;

/// Rows of the left operand handled by one rayon task in blocked products.
pub(crate) const ROW_BLOCK: usize = 256;

/// Columns (right-operand rows) per tile in the nearest-neighbour scan, so a
/// tile is at most `ROW_BLOCK × COL_BLOCK` f32 = 2 MiB per worker.
pub(crate) const COL_BLOCK: usize = 2048;

/// Cosine at or above which two unit vectors count as the same point
/// (“exact duplicate” up to f32 rounding).
pub(crate) const DUPLICATE_COS: f32 = 1.0 - 1e-5;

/// The module's seeded generator (ChaCha8: portable, reproducible streams).
pub(crate) type SeededRng = ChaCha8Rng;

/// Seeded generator; `salt` separates the streams of different routines that
/// share one user seed.
pub(crate) fn rng(seed: u64, salt: u64) -> SeededRng {
    // splitmix64 of (seed ^ salt) so nearby seeds give unrelated streams.
    let mut z =
        (seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    SeededRng::seed_from_u64(z ^ (z >> 31))
}

/// Sorted, seeded uniform subsample of `k` distinct indices out of `0..n`
/// (all of them when `k >= n`).
pub(crate) fn subsample(n: usize, k: usize, rng: &mut SeededRng) -> Vec<usize> {
    if k >= n {
        return (0..n).collect();
    }
    let mut idx = rand::seq::index::sample(rng, n, k).into_vec();
    idx.sort_unstable();
    idx
}

/// Checks that `x` is non-empty, finite and (when `expected_dim` is given)
/// has that many columns. Returns the column count.
pub(crate) fn check_matrix(
    x: ArrayView2<f32>,
    what: &'static str,
    expected_dim: Option<usize>,
) -> Result<usize> {
    if x.nrows() == 0 || x.ncols() == 0 {
        return Err(SemanticError::Empty { what });
    }
    if let Some(d) = expected_dim {
        if x.ncols() != d {
            return Err(SemanticError::DimensionMismatch {
                what,
                got: x.ncols(),
                expected: d,
            });
        }
    }
    if let Some(row) = x
        .axis_iter(Axis(0))
        .position(|r| r.iter().any(|v| !v.is_finite()))
    {
        return Err(SemanticError::NonFinite { what, row });
    }
    Ok(x.ncols())
}

/// [`check_matrix`] plus unit L2 norm of every row (within [`NORM_TOL`]).
pub(crate) fn check_unit_rows(
    x: ArrayView2<f32>,
    what: &'static str,
    expected_dim: Option<usize>,
) -> Result<usize> {
    let d = check_matrix(x, what, expected_dim)?;
    for (row, r) in x.axis_iter(Axis(0)).enumerate() {
        let norm = r.dot(&r).sqrt();
        if (norm - 1.0).abs() > NORM_TOL {
            return Err(SemanticError::NotNormalized { what, row, norm });
        }
    }
    Ok(d)
}

/// Symmetric `a · aᵀ` (f32): only blocks on or above the diagonal are
/// multiplied (half the work of a full product), then mirrored.
pub(crate) fn gram_sym(a: ArrayView2<f32>) -> Array2<f32> {
    let n = a.nrows();
    let mut out = Array2::<f32>::zeros((n, n));
    out.axis_chunks_iter_mut(Axis(0), ROW_BLOCK)
        .into_par_iter()
        .enumerate()
        .for_each(|(i, mut chunk)| {
            let lo = i * ROW_BLOCK;
            let rows = a.slice(s![lo..lo + chunk.nrows(), ..]);
            let cols = a.slice(s![lo.., ..]);
            let mut dst = chunk.slice_mut(s![.., lo..]);
            general_mat_mul(1.0, &rows, &cols.t(), 0.0, &mut dst);
        });
    const T: usize = 64;
    for bi in (0..n).step_by(T) {
        for bj in (0..bi).step_by(T) {
            for i in bi..(bi + T).min(n) {
                for j in bj..(bj + T).min(n) {
                    out[[i, j]] = out[[j, i]];
                }
            }
        }
        for i in bi..(bi + T).min(n) {
            for j in bi..i {
                out[[i, j]] = out[[j, i]];
            }
        }
    }
    out
}

/// For each row of `queries`, the maximum dot product with any row of `refs`
/// and the index of that row (first on ties), computed in
/// `ROW_BLOCK × COL_BLOCK` tiles so memory stays bounded.
///
/// When `self_index` is given, query `i` ignores reference `self_index[i]` and
/// every reference whose dot product is ≥ [`DUPLICATE_COS`] (exact duplicates).
/// Every query ignores references whose dot product is ≥ `ceiling` (pass
/// `f32::INFINITY` to keep them all). A query with no admissible reference
/// gets `(f32::NEG_INFINITY, usize::MAX)`.
pub(crate) fn nearest_neighbours(
    queries: ArrayView2<f32>,
    refs: ArrayView2<f32>,
    self_index: Option<&[usize]>,
    ceiling: f32,
) -> (Vec<f32>, Vec<usize>) {
    let nq = queries.nrows();
    let mut best_sim = vec![f32::NEG_INFINITY; nq];
    let mut best_idx = vec![usize::MAX; nq];
    best_sim
        .par_chunks_mut(ROW_BLOCK)
        .zip(best_idx.par_chunks_mut(ROW_BLOCK))
        .enumerate()
        .for_each(|(bi, (sims, idxs))| {
            let lo = bi * ROW_BLOCK;
            let q = queries.slice(s![lo..lo + sims.len(), ..]);
            let mut tile = Array2::<f32>::zeros((sims.len(), COL_BLOCK.min(refs.nrows())));
            let mut c0 = 0;
            while c0 < refs.nrows() {
                let c1 = (c0 + COL_BLOCK).min(refs.nrows());
                let r = refs.slice(s![c0..c1, ..]);
                let mut t = tile.slice_mut(s![.., ..c1 - c0]);
                general_mat_mul(1.0, &q, &r.t(), 0.0, &mut t);
                for (qi, row) in t.axis_iter(Axis(0)).enumerate() {
                    let own = self_index.map(|s| s[lo + qi]);
                    let (mut bs, mut bj) = (sims[qi], idxs[qi]);
                    for (cj, &v) in row.iter().enumerate() {
                        if v > bs && v < ceiling {
                            let j = c0 + cj;
                            if own.is_some() && (own == Some(j) || v >= DUPLICATE_COS) {
                                continue;
                            }
                            bs = v;
                            bj = j;
                        }
                    }
                    sims[qi] = bs;
                    idxs[qi] = bj;
                }
                c0 = c1;
            }
        });
    (best_sim, best_idx)
}

/// Column means of `x` in f64.
pub(crate) fn mean_row(x: ArrayView2<f32>) -> Vec<f64> {
    let mut m = vec![0.0f64; x.ncols()];
    for r in x.axis_iter(Axis(0)) {
        for (acc, &v) in m.iter_mut().zip(r.iter()) {
            *acc += f64::from(v);
        }
    }
    let n = x.nrows().max(1) as f64;
    m.iter_mut().for_each(|v| *v /= n);
    m
}

/// Median of `v` (average of the two middle values for even length, like
/// `numpy.median`). `v` is reordered. Returns `None` when empty.
pub(crate) fn median_in_place(v: &mut [f64]) -> Option<f64> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    let mid = n / 2;
    let (lower, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let hi = *m;
    if n % 2 == 1 {
        Some(hi)
    } else {
        let lo = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some((lo + hi) * 0.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::Rng;

    fn random(n: usize, d: usize, seed: u64) -> Array2<f32> {
        let mut r = rng(seed, 1);
        let mut x = Array2::from_shape_fn((n, d), |_| r.random::<f32>() - 0.5);
        for mut row in x.outer_iter_mut() {
            let norm = row.dot(&row).sqrt();
            row.mapv_inplace(|v| v / norm);
        }
        x
    }

    #[test]
    fn gram_sym_equals_full_product_across_blocks() {
        let x = random(300, 5, 1);
        let g = gram_sym(x.view());
        let full = x.dot(&x.t());
        assert!(g.iter().zip(full.iter()).all(|(a, b)| (a - b).abs() < 1e-5));
    }

    #[test]
    fn nearest_neighbours_match_brute_force_across_tiles() {
        let q = random(300, 4, 2);
        let refs = random(2100, 4, 3);
        let (sim, idx) = nearest_neighbours(q.view(), refs.view(), None, f32::INFINITY);
        let full = q.dot(&refs.t());
        for i in 0..300 {
            let best = full
                .row(i)
                .iter()
                .copied()
                .fold(f32::NEG_INFINITY, f32::max);
            assert!((sim[i] - best).abs() < 1e-5);
            assert!((full[[i, idx[i]]] - best).abs() < 1e-5);
        }
        // Leave-one-out: a row never matches itself or an exact duplicate.
        let dup = ndarray::concatenate(Axis(0), &[refs.view(), refs.slice(s![..10, ..])]).unwrap();
        let own: Vec<usize> = (0..dup.nrows()).collect();
        let (sim, idx) = nearest_neighbours(dup.view(), dup.view(), Some(&own), f32::INFINITY);
        assert!(idx.iter().enumerate().all(|(i, &j)| i != j));
        assert!(sim.iter().all(|&s| s < DUPLICATE_COS));
    }

    #[test]
    fn median_matches_numpy_convention() {
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median_in_place(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median_in_place(&mut []), None);
    }

    #[test]
    fn subsample_is_sorted_distinct_and_seeded() {
        let a = subsample(1000, 50, &mut rng(7, 0));
        let b = subsample(1000, 50, &mut rng(7, 0));
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0] < w[1]) && a.len() == 50);
        assert_eq!(subsample(5, 10, &mut rng(7, 0)), vec![0, 1, 2, 3, 4]);
        assert_ne!(a, subsample(1000, 50, &mut rng(8, 0)));
    }
}
