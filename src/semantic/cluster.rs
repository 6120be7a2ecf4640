//! KMeans clustering of golden ∪ production with size-aware gap scores.

use linfa::traits::{Fit, Predict};
use linfa::DatasetBase;
use linfa_clustering::KMeans;
use ndarray::{concatenate, Array2, ArrayView2, Axis};
use rayon::prelude::*;
use statrs::distribution::{ContinuousCDF, Normal};

use super::error::{Result, SemanticError};
use super::linalg::{check_unit_rows, rng, subsample};
use super::params::SemanticParams;
use super::pca::{principal_axes, project};

/// Ratio of production share to golden share with a confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GapScore {
    /// Point estimate of `(a/n₁)/(b/n₀)` (after the zero-cell correction).
    pub ratio: f64,
    /// Lower confidence bound — the gap score used for ranking.
    pub lower: f64,
    /// Upper confidence bound.
    pub upper: f64,
}

/// What a cluster says about the golden set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterVerdict {
    /// Production is significantly over-represented (lower bound above
    /// `gap_min_ratio`) and at least `min_uncovered` of its production
    /// members are uncovered: golden is missing this region.
    Gap,
    /// Over-represented, but golden still covers it (too few uncovered
    /// traces): a traffic-mix shift rather than a coverage hole.
    OverrepresentedCovered,
    /// No significant difference in share.
    Balanced,
    /// Production is significantly under-represented (upper bound < 1):
    /// golden covers something production no longer sends.
    Underrepresented,
}

/// One non-empty cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSummary {
    /// Cluster id (`0..k`, dense).
    pub id: usize,
    /// Golden rows in the cluster.
    pub golden_count: usize,
    /// Production rows in the cluster.
    pub production_count: usize,
    /// Uncovered production rows in the cluster.
    pub uncovered_count: usize,
    /// Golden row indices.
    pub golden_members: Vec<usize>,
    /// Production row indices.
    pub production_members: Vec<usize>,
    /// Uncovered production row indices (subset of `production_members`).
    pub uncovered_members: Vec<usize>,
    /// Size-aware over-representation score ([`gap_score`]).
    pub gap: GapScore,
    /// Verdict.
    pub verdict: ClusterVerdict,
}

/// Outcome of [`cluster_gaps`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClusteringResult {
    /// Number of non-empty clusters reported.
    pub k: usize,
    /// Silhouette of the chosen `k` on the selection subsample (`None` when
    /// `k` was configured or the range was empty).
    pub silhouette: Option<f64>,
    /// Cluster id of every golden row.
    pub golden_assignment: Vec<usize>,
    /// Cluster id of every production row passed in.
    pub production_assignment: Vec<usize>,
    /// Per-cluster summaries, indexed by id.
    pub clusters: Vec<ClusterSummary>,
    /// Ids of [`ClusterVerdict::Gap`] clusters, best (highest lower bound)
    /// first; ties by more uncovered traces, then id.
    pub gap_ranking: Vec<usize>,
    /// Uncovered production rows that are in no gap cluster (never dropped).
    pub outliers: Vec<usize>,
}

/// Size-aware over-representation of a cluster in production relative to
/// golden: Katz log risk-ratio confidence interval.
///
/// # Definition
///
/// With `a` of `n₁` production rows and `b` of `n₀` golden rows in the
/// cluster: if any cell of the 2×2 table `[[a, n₁−a], [b, n₀−b]]` is zero,
/// add ½ to all four cells (Haldane–Anscombe), so `a' = a + ½`,
/// `n₁' = n₁ + 1`, etc. Then
///
/// ```text
/// RR = (a'/n₁') / (b'/n₀')
/// SE = √(1/a' − 1/n₁' + 1/b' − 1/n₀')
/// [lower, upper] = RR · exp(∓ z SE),   z = Φ⁻¹(1 − (1 − confidence)/2)
/// ```
///
/// The lower bound is the gap score: small clusters have wide intervals, so
/// a 10-trace cluster with a large ratio ranks below a 400-trace cluster
/// with a moderate one.
///
/// # Remarks
///
/// Errors when a total is zero, a count exceeds its total, or
/// `confidence ∉ (0, 1)`.
///
/// # Reference
///
/// Katz, Baptista, Azen, Pike (1978), Biometrics 34:469–474. Matches
/// `statsmodels.stats.contingency_tables.Table2x2([[a, n1-a], [b, n0-b]])
/// .riskratio_confint(alpha=1-confidence)` (which applies the same ½ shift).
pub fn gap_score(
    production_count: usize,
    production_total: usize,
    golden_count: usize,
    golden_total: usize,
    confidence: f64,
) -> Result<GapScore> {
    if production_total == 0 || golden_total == 0 {
        return Err(SemanticError::Degenerate("gap score needs non-empty totals".into()));
    }
    if production_count > production_total || golden_count > golden_total {
        return Err(SemanticError::Degenerate("cluster count exceeds its total".into()));
    }
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(SemanticError::InvalidParam {
            name: "gap_confidence",
            reason: "must be in (0, 1)",
        });
    }
    let cells = [
        production_count,
        production_total - production_count,
        golden_count,
        golden_total - golden_count,
    ];
    let c = if cells.contains(&0) { 0.5 } else { 0.0 };
    let a = production_count as f64 + c;
    let n1 = production_total as f64 + 2.0 * c;
    let b = golden_count as f64 + c;
    let n0 = golden_total as f64 + 2.0 * c;
    let ratio = (a / n1) / (b / n0);
    let se = (1.0 / a - 1.0 / n1 + 1.0 / b - 1.0 / n0).max(0.0).sqrt();
    let z = Normal::standard().inverse_cdf(1.0 - (1.0 - confidence) / 2.0);
    Ok(GapScore {
        ratio,
        lower: ratio * (-z * se).exp(),
        upper: ratio * (z * se).exp(),
    })
}

/// Pairwise Euclidean distances in f64 (`O(n²)` memory).
fn euclidean_matrix(x: ArrayView2<f32>) -> Array2<f64> {
    let xf = x.mapv(f64::from);
    let g = xf.dot(&xf.t());
    let norms: Vec<f64> = g.diag().to_vec();
    let mut d = g;
    d.indexed_iter_mut().for_each(|((i, j), v)| {
        *v = if i == j {
            0.0
        } else {
            (norms[i] + norms[j] - 2.0 * *v).max(0.0).sqrt()
        };
    });
    d
}

fn silhouette_from_dist(d: &Array2<f64>, labels: &[usize]) -> Result<f64> {
    let n = labels.len();
    let k = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut sizes = vec![0usize; k];
    labels.iter().for_each(|&l| sizes[l] += 1);
    let n_labels = sizes.iter().filter(|&&s| s > 0).count();
    if n_labels < 2 || n_labels > n - 1 {
        return Err(SemanticError::Degenerate(format!(
            "silhouette needs 2 ≤ clusters ≤ n − 1, got {n_labels} clusters for {n} points"
        )));
    }
    let total: f64 = (0..n)
        .into_par_iter()
        .map(|i| {
            let own = labels[i];
            if sizes[own] == 1 {
                return 0.0;
            }
            let mut sums = vec![0.0f64; k];
            for (j, &l) in labels.iter().enumerate() {
                sums[l] += d[[i, j]];
            }
            let a = sums[own] / (sizes[own] - 1) as f64;
            let b = (0..k)
                .filter(|&c| c != own && sizes[c] > 0)
                .map(|c| sums[c] / sizes[c] as f64)
                .fold(f64::INFINITY, f64::min);
            let m = a.max(b);
            if m > 0.0 {
                (b - a) / m
            } else {
                0.0
            }
        })
        .sum();
    Ok(total / n as f64)
}

/// Mean silhouette coefficient with Euclidean distance.
///
/// # Definition
///
/// For point `i` in cluster `C`: `a(i)` = mean distance to the other members
/// of `C`, `b(i)` = smallest mean distance to the members of another cluster,
/// `s(i) = (b − a)/max(a, b)` (0 when `|C| = 1`). Returns the mean of
/// `s(i)`. For unit rows Euclidean distance is `√(2 − 2 cos)`, a monotone
/// function of cosine distance, and is the metric KMeans optimises.
///
/// # Remarks
///
/// `O(n²)` memory: meant for the ≤ 2000-point selection subsample. Errors
/// when lengths differ, input is non-finite, or the number of non-empty
/// clusters is not in `[2, n − 1]`.
///
/// # Reference
///
/// Rousseeuw (1987), J. Comput. Appl. Math. 20:53–65. Matches
/// `sklearn.metrics.silhouette_score(X, labels)` (metric='euclidean').
pub fn silhouette_score(x: ArrayView2<f32>, labels: &[usize]) -> Result<f64> {
    super::linalg::check_matrix(x, "points", None)?;
    if labels.len() != x.nrows() {
        return Err(SemanticError::LengthMismatch {
            what: "labels",
            got: labels.len(),
            expected: x.nrows(),
        });
    }
    silhouette_from_dist(&euclidean_matrix(x), labels)
}

/// Fits linfa KMeans on `fit` and returns the nearest-centroid labels of
/// `predict_on`.
fn kmeans_labels(
    fit: ArrayView2<f32>,
    predict_on: ArrayView2<f32>,
    k: usize,
    runs: usize,
    params: &SemanticParams,
    salt: u64,
) -> Result<Vec<usize>> {
    let model = KMeans::params_with_rng(k, rng(params.seed(), salt))
        .n_runs(runs)
        .max_n_iterations(params.kmeans_max_iter())
        .tolerance(1e-4)
        .fit(&DatasetBase::from(fit))
        .map_err(|e| SemanticError::Fit(e.to_string()))?;
    Ok(model.predict(&predict_on).to_vec())
}

/// Clusters golden ∪ production with KMeans and scores every cluster for
/// production over-representation.
///
/// # Definition
///
/// 1. Pool golden rows then production rows. Draw the seeded fit subsample
///    (at most `params.kmeans_fit_cap()` pooled rows).
/// 2. Reduce: when `params.cluster_dims()` is below the embedding dimension,
///    every pooled row is projected on the top `cluster_dims` principal axes
///    of the fit subsample (orthogonal iteration, ≤ 100 steps). All
///    distances below are Euclidean in that space, which for unit rows
///    approximates `√(2 − 2 cos)`; linfa's KMeans is ~20× faster at 32
///    dimensions than at 384.
/// 3. `k`: `params.k()` if set (capped at the pooled size); otherwise the
///    `k` in `params.k_range()` (clamped to `[2, s − 1]`, `s` = subsample
///    size) maximising [`silhouette_score`] (Euclidean) on a seeded
///    subsample of at most `params.silhouette_sample()` pooled rows, each
///    candidate fitted once (one k-means++ start) on that subsample
///    (candidates run in parallel; ties keep the smaller `k`). An empty range
///    falls back to `min(k_min, pooled)`.
/// 4. Final linfa-clustering KMeans (k-means++ init, `kmeans_runs` restarts,
///    ≤ `kmeans_max_iter` Lloyd iterations, tolerance 1e-4, seeded) on the
///    fit subsample; every pooled row is then assigned to its nearest
///    centroid. Empty clusters are dropped and ids renumbered densely.
/// 5. Per cluster: [`gap_score`] with `a` = production members,
///    `n₁` = production rows, `b` = golden members, `n₀` = golden rows.
///    Verdict: [`ClusterVerdict::Gap`] iff `lower > gap_min_ratio` and
///    uncovered members ≥ `min_uncovered`; `OverrepresentedCovered` if only
///    the first holds; `Underrepresented` if `upper < 1`; else `Balanced`.
/// 6. Uncovered production rows outside every gap cluster are `outliers`.
///
/// # Remarks
///
/// Errors on empty, mismatched, non-finite or non-unit rows, or when
/// `uncovered.len() != production.nrows()`.
///
/// # Reference
///
/// Lloyd (1982); Arthur & Vassilvitskii (2007) k-means++; Rousseeuw (1987)
/// silhouette; Katz et al. (1978) risk-ratio interval. The selection loop
/// mirrors `max(range, key=lambda k: silhouette_score(X, KMeans(k).fit_predict(X)))`.
pub fn cluster_gaps(
    golden: ArrayView2<f32>,
    production: ArrayView2<f32>,
    uncovered: &[bool],
    params: &SemanticParams,
) -> Result<ClusteringResult> {
    let d = check_unit_rows(golden, "golden", None)?;
    check_unit_rows(production, "production", Some(d))?;
    if uncovered.len() != production.nrows() {
        return Err(SemanticError::LengthMismatch {
            what: "uncovered",
            got: uncovered.len(),
            expected: production.nrows(),
        });
    }
    let (ng, np) = (golden.nrows(), production.nrows());
    let total = ng + np;
    let pooled = concatenate(Axis(0), &[golden.view(), production.view()]).expect("same column count");
    let fit_idx = subsample(total, params.kmeans_fit_cap(), &mut rng(params.seed(), 0xF17));
    // Cluster in the top principal subspace (basis from the fit subsample).
    let space = if params.cluster_dims() < d {
        let basis_rows = pooled.select(Axis(0), &fit_idx);
        let (mean, axes) = principal_axes(basis_rows.view(), params.cluster_dims(), 100);
        project(pooled.view(), &mean, &axes)
    } else {
        pooled
    };

    let (k, silhouette) = match params.k() {
        Some(k) => (k.min(total), None),
        None => {
            let sub_idx = subsample(total, params.silhouette_sample(), &mut rng(params.seed(), 0x51_1B));
            let sub = space.select(Axis(0), &sub_idx);
            let (k_min, k_max) = params.k_range();
            let lo = k_min.max(2);
            let hi = k_max.min(sub.nrows().saturating_sub(1));
            if lo > hi {
                (k_min.min(total), None)
            } else {
                let dist = euclidean_matrix(sub.view());
                let scores: Vec<Result<(usize, f64)>> = (lo..=hi)
                    .into_par_iter()
                    .map(|k| {
                        let labels =
                            kmeans_labels(sub.view(), sub.view(), k, 1, params, 0x5E1 + k as u64)?;
                        let s = silhouette_from_dist(&dist, &labels).unwrap_or(f64::NEG_INFINITY);
                        Ok((k, s))
                    })
                    .collect();
                let mut best = (lo, f64::NEG_INFINITY);
                for s in scores {
                    let (k, v) = s?;
                    if v > best.1 {
                        best = (k, v);
                    }
                }
                (best.0, best.1.is_finite().then_some(best.1))
            }
        }
    };

    let fit_rows = space.select(Axis(0), &fit_idx);
    let k = k.max(1);
    let raw = kmeans_labels(
        fit_rows.view(),
        space.view(),
        k,
        params.kmeans_runs(),
        params,
        0xF1A1,
    )?;
    drop(fit_rows);

    // Dense renumbering of non-empty clusters.
    let mut used = vec![false; k];
    raw.iter().for_each(|&c| used[c] = true);
    let mut remap = vec![usize::MAX; k];
    let mut next = 0;
    for c in 0..k {
        if used[c] {
            remap[c] = next;
            next += 1;
        }
    }
    let assign: Vec<usize> = raw.iter().map(|&c| remap[c]).collect();
    let k_used = next;
    let mut clusters: Vec<ClusterSummary> = (0..k_used)
        .map(|id| ClusterSummary {
            id,
            golden_count: 0,
            production_count: 0,
            uncovered_count: 0,
            golden_members: Vec::new(),
            production_members: Vec::new(),
            uncovered_members: Vec::new(),
            gap: GapScore {
                ratio: 0.0,
                lower: 0.0,
                upper: 0.0,
            },
            verdict: ClusterVerdict::Balanced,
        })
        .collect();
    for (i, &c) in assign[..ng].iter().enumerate() {
        clusters[c].golden_members.push(i);
    }
    for (i, &c) in assign[ng..].iter().enumerate() {
        clusters[c].production_members.push(i);
        if uncovered[i] {
            clusters[c].uncovered_members.push(i);
        }
    }
    for c in clusters.iter_mut() {
        c.golden_count = c.golden_members.len();
        c.production_count = c.production_members.len();
        c.uncovered_count = c.uncovered_members.len();
        c.gap = gap_score(c.production_count, np, c.golden_count, ng, params.gap_confidence())?;
        let over = c.gap.lower > params.gap_min_ratio();
        c.verdict = if over && c.uncovered_count >= params.min_uncovered() {
            ClusterVerdict::Gap
        } else if over {
            ClusterVerdict::OverrepresentedCovered
        } else if c.gap.upper < 1.0 {
            ClusterVerdict::Underrepresented
        } else {
            ClusterVerdict::Balanced
        };
    }
    let mut gap_ranking: Vec<usize> = clusters
        .iter()
        .filter(|c| c.verdict == ClusterVerdict::Gap)
        .map(|c| c.id)
        .collect();
    gap_ranking.sort_by(|&a, &b| {
        let (ca, cb) = (&clusters[a], &clusters[b]);
        cb.gap
            .lower
            .total_cmp(&ca.gap.lower)
            .then(cb.uncovered_count.cmp(&ca.uncovered_count))
            .then(a.cmp(&b))
    });
    let outliers: Vec<usize> = (0..np)
        .filter(|&i| uncovered[i] && clusters[assign[ng + i]].verdict != ClusterVerdict::Gap)
        .collect();
    Ok(ClusteringResult {
        k: k_used,
        silhouette,
        golden_assignment: assign[..ng].to_vec(),
        production_assignment: assign[ng..].to_vec(),
        clusters,
        gap_ranking,
        outliers,
    })
}
