//! Seeded KMeans: greedy weighted k-means++ seedings, linfa-clustering's Lloyd
//! iterations, the lowest-inertia fit kept; and nearest-centroid assignment. Used
//! by the coarse clustering (`cluster`) and the region partitions (`regions`).

use linfa::traits::Fit;
use linfa::DatasetBase;
use linfa_clustering::{KMeans, KMeansInit};
use ndarray::{Array2, ArrayView2, Axis};
use rand::Rng;

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
        // linfa's own RNG is never consulted with a precomputed init.
        let model = KMeans::params(init.nrows())
            .init_method(KMeansInit::Precomputed(init))
            .n_runs(1)
            .max_n_iterations(params.kmeans_max_iter())
            .tolerance(1e-4)
            .fit(&DatasetBase::from(fit))
            .map_err(|e| SemanticError::Fit(e.to_string()))?;
        if best.as_ref().is_none_or(|b| model.inertia() < b.0) {
            best = Some((model.inertia(), model.centroids().clone()));
        }
    }
    Ok(best.expect("at least one run").1)
}
