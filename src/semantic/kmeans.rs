//! Seeded KMeans: greedy weighted k-means++ seedings, Lloyd iterations as
//! linfa-clustering runs them, the lowest-inertia fit kept; and nearest-centroid
//! assignment. Used by the coarse clustering (`cluster`) and the region
//! partitions (`regions`).

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::Rng;
use rayon::prelude::*;

use super::error::{Result, SemanticError};
use super::linalg::{rng, SeededRng};
use super::params::SemanticParams;

/// Index drawn with probability proportional to `w` (uniform if all zero).
fn sample_weighted(w: &[f64], r: &mut SeededRng) -> usize {
    let total: f64 = w.iter().sum();
    if total.is_nan() || total <= 0.0 {
        return r.random_range(0..w.len());
    }
    let mut u = r.random::<f64>() * total;
    for (i, &v) in w.iter().enumerate() {
        if u < v {
            return i;
        }
        u -= v;
    }
    w.iter().rposition(|&v| v > 0.0).unwrap_or(0)
}

/// Greedy weighted k-means++ seeding: each step draws `2 + ⌊ln k⌋`
/// candidates with probability ∝ `wᵢ · D²ᵢ` and keeps the one that most
/// reduces the weighted potential `Σ wᵢ D²ᵢ`.
fn greedy_kmeanspp(x: ArrayView2<f32>, w: &[f64], k: usize, r: &mut SeededRng) -> Array2<f32> {
    let n = x.nrows();
    let norms: Vec<f32> = x.outer_iter().map(|row| row.dot(&row)).collect();
    let d2_to = |c: usize| -> Vec<f64> {
        let dots = x.dot(&x.row(c));
        (0..n)
            .map(|i| f64::from((norms[i] + norms[c] - 2.0 * dots[i]).max(0.0)))
            .collect()
    };
    let first = sample_weighted(w, r);
    let mut chosen = vec![first];
    let mut closest = d2_to(first);
    let trials = 2 + (k as f64).ln() as usize;
    while chosen.len() < k.min(n) {
        let mass: Vec<f64> = closest.iter().zip(w).map(|(d, w)| d * w).collect();
        let mut best: Option<(f64, usize, Vec<f64>)> = None;
        for _ in 0..trials {
            let cand = sample_weighted(&mass, r);
            let d = d2_to(cand);
            let merged: Vec<f64> = closest.iter().zip(&d).map(|(a, b)| a.min(*b)).collect();
            let pot: f64 = merged.iter().zip(w).map(|(d, w)| d * w).sum();
            if best.as_ref().is_none_or(|b| pot < b.0) {
                best = Some((pot, cand, merged));
            }
        }
        let (_, cand, merged) = best.expect("at least two trials");
        chosen.push(cand);
        closest = merged;
    }
    x.select(Axis(0), &chosen)
}

/// Index of the nearest centroid (squared Euclidean, first on ties) of every
/// row of `x`.
pub(super) fn nearest_centroid(x: ArrayView2<f32>, c: &Array2<f32>) -> Vec<usize> {
    let c_norms: Vec<f32> = c.outer_iter().map(|r| r.dot(&r)).collect();
    let dots = x.dot(&c.t());
    dots.outer_iter()
        .map(|row| {
            let mut best = (f32::INFINITY, 0);
            for (j, (&dot, &cn)) in row.iter().zip(&c_norms).enumerate() {
                let v = cn - 2.0 * dot;
                if v < best.0 {
                    best = (v, j);
                }
            }
            best.1
        })
        .collect()
}

/// Centroids of the best (lowest inertia) of linfa-clustering KMeans fits on
/// `fit`: one Lloyd run from each of `runs` [`greedy_kmeanspp`] seedings —
/// even runs with weights `w`, odd runs unweighted — plus one from `warm`
/// when given.
pub(super) fn kmeans_fit(
    fit: ArrayView2<f32>,
    w: &[f64],
    k: usize,
    runs: usize,
    warm: Option<Array2<f32>>,
    params: &SemanticParams,
    salt: u64,
) -> Result<Array2<f32>> {
    let mut r = rng(params.seed(), salt);
    let ones = vec![1.0; w.len()];
    let mut inits: Vec<Array2<f32>> = (0..runs)
        .map(|run| greedy_kmeanspp(fit, if run % 2 == 0 { w } else { &ones }, k, &mut r))
        .collect();
    inits.extend(warm);
    let mut best: Option<(f32, Array2<f32>)> = None;
    for init in inits {
        if init.ncols() != fit.ncols() || init.nrows() == 0 {
            return Err(SemanticError::Fit(format!(
                "KMeans init is {}×{}, data has {} columns",
                init.nrows(),
                init.ncols(),
                fit.ncols()
            )));
        }
        let (centroids, inertia) = lloyd(fit, init, params.kmeans_max_iter(), 1e-4);
        if best.as_ref().is_none_or(|b| inertia < b.0) {
            best = Some((inertia, centroids));
        }
    }
    Ok(best.expect("at least one run").1)
}

/// One Lloyd run from `init`, step for step as linfa-clustering 0.8's
/// `KMeans::fit` with `KMeansInit::Precomputed` and `n_runs(1)` (a unit test
/// checks the two agree bit for bit): assign every row to its nearest centroid
/// (squared Euclidean distance summed in coordinate order, the first centroid
/// on ties); move each centroid to the mean of its rows *and its old position*
/// (linfa's "m_k-means" update, which keeps an empty cluster where it was);
/// stop once the centroids moved less than `tol` (Euclidean norm over all
/// coordinates) or after `max_iter` rounds. Returns the centroids and the
/// inertia (mean squared distance of a row to its centroid, measured before
/// the last move), as linfa reports them.
///
/// Written out on slices rather than called: linfa's generic code is
/// instantiated in this crate, and unoptimised (the test profile) it ran
/// about 50× slower than this loop, a third of the integration suite.
fn lloyd(x: ArrayView2<f32>, init: Array2<f32>, max_iter: u64, tol: f32) -> (Array2<f32>, f32) {
    let (n, d) = x.dim();
    let k = init.nrows();
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let mut centroids = init.as_standard_layout().into_owned();
    let mut rounds = 0;
    let inertia = loop {
        let cs = centroids.as_slice().expect("standard layout");
        // Rows are independent: assigned in parallel, as linfa does.
        let (member, dists): (Vec<usize>, Vec<f32>) = xs
            .par_chunks_exact(d)
            .map(|row| {
                let mut best = (0, sq_dist(&cs[..d], row));
                for (j, c) in cs.chunks_exact(d).enumerate() {
                    let v = sq_dist(c, row);
                    if v < best.1 {
                        best = (j, v);
                    }
                }
                best
            })
            .unzip();
        let mut sums = vec![0f32; k * d];
        let mut counts = vec![1usize; k];
        for (row, &m) in xs.chunks_exact(d).zip(&member) {
            for (s, &v) in sums[m * d..(m + 1) * d].iter_mut().zip(row) {
                *s += v;
            }
            counts[m] += 1;
        }
        for (j, (s, c)) in sums.chunks_exact_mut(d).zip(cs.chunks_exact(d)).enumerate() {
            let count = counts[j] as f32;
            for (s, &c) in s.iter_mut().zip(c) {
                *s = (*s + c) / count;
            }
        }
        let moved = ((sq_dist(cs, &sums) as f64).sqrt()) as f32;
        centroids = Array2::from_shape_vec((k, d), sums).expect("k × d");
        rounds += 1;
        if moved < tol || rounds == max_iter {
            // ndarray's own sum, so the rounding is linfa's.
            break Array1::from(dists).sum();
        }
    };
    (centroids, inertia / n as f32)
}

/// Σ (aᵢ − bᵢ)², accumulated in order (as ndarray-stats' `sq_l2_dist`).
///
/// A `while` loop, not `zip` or a range: the hottest loop of the semantic
/// stage, and unoptimised (the test profile) an iterator costs a call per
/// element.
fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = 0f32;
    let mut i = 0;
    while i < n {
        let t = a[i] - b[i];
        acc += t * t;
        i += 1;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa::traits::Fit;
    use linfa::DatasetBase;
    use linfa_clustering::{KMeans, KMeansInit};
    use rand::SeedableRng;

    /// Our Lloyd loop against linfa-clustering 0.8 itself (a dev-dependency
    /// kept for this): the same centroids and inertia, bit for bit, on
    /// random clouds, duplicated rows (ties), more centroids than clusters
    /// (empty ones) and an iteration cap that stops before convergence.
    #[test]
    fn lloyd_is_linfa_bit_for_bit() {
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for case in 0..24 {
            let n = 20 + case * 13;
            let d = 1 + case % 9;
            let k = 1 + case % 7;
            let mut x = Array2::from_shape_fn((n, d), |_| r.random_range(-1.0f32..1.0));
            if case % 3 == 0 {
                // Exact duplicates and a tight blob: ties and empty clusters.
                for i in n / 2..n {
                    let src = x.row(i % 5).to_owned();
                    x.row_mut(i).assign(&src);
                }
            }
            let init = x.select(Axis(0), &(0..k).map(|j| (j * 7) % n).collect::<Vec<_>>());
            let max_iter = if case % 4 == 1 { 2 } else { 100 };
            let theirs = KMeans::params(k)
                .init_method(KMeansInit::Precomputed(init.clone()))
                .n_runs(1)
                .max_n_iterations(max_iter)
                .tolerance(1e-4)
                .fit(&DatasetBase::from(x.view()))
                .unwrap();
            let (c, inertia) = lloyd(x.view(), init, max_iter, 1e-4);
            assert_eq!(c, theirs.centroids(), "case {case}: centroids");
            assert_eq!(
                inertia.to_bits(),
                theirs.inertia().to_bits(),
                "case {case}: inertia {inertia} vs {}",
                theirs.inertia()
            );
        }
    }
}
