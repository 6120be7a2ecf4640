//! KMeans clustering of golden ∪ production with size-aware gap scores.

use ndarray::{concatenate, Array2, ArrayView2, Axis};
use rayon::prelude::*;
use statrs::distribution::{ContinuousCDF, Normal};

use super::coverage::CoverageResult;
use super::error::{Result, SemanticError};
use super::kmeans::{kmeans_fit, nearest_centroid};
use super::linalg::{check_unit_rows, rng, subsample};
use super::params::SemanticParams;
use super::pca::{principal_axes, project};
use super::regions::{region_scan, RegionScan};

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
    /// `gap_min_ratio`) and its uncovered production members are at least
    /// `min_uncovered` and significantly more than the no-drift tail:
    /// golden is missing this region.
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
    /// Calibrated p-value that this cluster's uncovered production rows
    /// exceed the no-drift tail rate ([`CoverageResult::excess_p_value`]).
    pub uncovered_p_value: f64,
    /// For a gap region ([`region_scan`]): its raw p-value and its
    /// Holm-adjusted p-value over every region tested. `None` for KMeans
    /// clusters.
    pub region_p: Option<(f64, f64)>,
    /// Verdict.
    pub verdict: ClusterVerdict,
}

/// Outcome of [`cluster_gaps`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClusteringResult {
    /// Number of clusters reported: the non-empty KMeans clusters, then one
    /// per novelty-scan group (whose members leave their KMeans cluster).
    pub k: usize,
    /// Silhouette of the chosen `k` on the selection subsample (`None` when
    /// `k` was configured or the range was empty).
    pub silhouette: Option<f64>,
    /// Cluster id of every golden row.
    pub golden_assignment: Vec<usize>,
    /// Cluster id of every analysed production row, in the order of
    /// `coverage.production_index`.
    pub production_assignment: Vec<usize>,
    /// Per-cluster summaries, indexed by id.
    pub clusters: Vec<ClusterSummary>,
    /// Ids of [`ClusterVerdict::Gap`] clusters, best (highest lower bound)
    /// first; ties by more uncovered traces, then id.
    pub gap_ranking: Vec<usize>,
    /// Uncovered production rows that are in no gap cluster (never dropped).
    pub outliers: Vec<usize>,
    /// Calibrated p-value that `outliers` exceed the uncovered tail expected
    /// without drift among the production rows outside gap clusters
    /// ([`CoverageResult::excess_p_value`]).
    pub outlier_p_value: f64,
    /// The gap-region test behind gap clusters (`None` when
    /// `region_sizes` are all zero).
    pub regions: Option<RegionScan>,
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
        return Err(SemanticError::Degenerate(
            "gap score needs non-empty totals".into(),
        ));
    }
    if production_count > production_total || golden_count > golden_total {
        return Err(SemanticError::Degenerate(
            "cluster count exceeds its total".into(),
        ));
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

/// Clusters golden ∪ production with KMeans and scores every cluster for
/// production over-representation and uncovered excess.
///
/// # Definition
///
/// 1. Pool golden rows then the production rows `coverage` analysed
///    (`coverage.production_index`). Draw the seeded fit subsample (at most
///    `params.kmeans_fit_cap()` pooled rows).
/// 2. Reduce: when `params.cluster_dims()` is below the embedding dimension,
///    every pooled row is projected on the top `cluster_dims` principal axes
///    of the fit subsample (orthogonal iteration, ≤ 100 steps). All
///    distances below are Euclidean in that space, which for unit rows
///    approximates `√(2 − 2 cos)`; linfa's KMeans is ~20× faster at 32
///    dimensions than at 384.
/// 3. One KMeans fit = `kmeans_runs` seedings, each followed by Lloyd
///    iterations in linfa-clustering (`KMeansInit::Precomputed`,
///    ≤ `kmeans_max_iter` iterations, tolerance 1e-4); the lowest-inertia
///    result is kept. Seeding is greedy k-means++ (`2 + ⌊ln k⌋`
///    D²-sampled candidates per step, keep the one lowering the potential
///    most, as scikit-learn does). Even-numbered seedings weight every
///    uncovered production row `uncovered_weight` (default 5, in both the
///    sampling and the potential) so that a small region of uncovered
///    traffic gets a centroid even when the rest of the data has far more
///    mass; odd-numbered seedings are unweighted, so a large uncovered region
///    cannot pull in two centroids and starve a real topic. (Over 20 seeds of
///    the test scenarios, plain k-means++ with one seeding merged a 5 % new
///    topic into an old one in about half the runs.)
/// 4. `k`: `params.k()` if set (capped at the pooled size); otherwise the
///    `k` in `params.k_range()` (clamped to `[2, s − 1]`, `s` = subsample
///    size) maximising [`silhouette_score`] (Euclidean, in the reduced space)
///    of a fit on a seeded subsample of at most `params.silhouette_sample()`
///    pooled rows (candidates run in parallel; ties keep the smaller `k`).
///    An empty range falls back to `min(k_min, pooled)`.
/// 5. Final fit with the chosen `k` on the fit subsample, with the winning
///    selection centroids as one extra start; every pooled row is assigned
///    to its nearest centroid. Empty clusters are dropped and ids renumbered
///    densely.
/// 6. Per cluster: [`gap_score`] with `a` = production members,
///    `n₁` = analysed production rows, `b` = golden members, `n₀` = golden
///    rows; `uncovered_p_value` = [`CoverageResult::excess_p_value`] of its
///    uncovered members among its production members. Verdict:
///    [`ClusterVerdict::Gap`] iff uncovered members ≥ `min_uncovered` and
///    `uncovered_p_value < alpha / (k + 1)` (Bonferroni over the `k` clusters
///    and the outlier group), whether or not the cluster's traffic share is
///    over-represented (`lower > gap_min_ratio`), which only ranks gaps;
///    `OverrepresentedCovered` if only over-represented;
///    `Underrepresented` if `upper < 1`; else `Balanced`. Requiring excess
///    uncovered traffic keeps chance fluctuations of an existing topic's
///    share (whose uncovered rows are just the calibrated `q` tail) from
///    being called gaps.
/// 7. Uncovered production rows outside every gap cluster are `outliers`;
///    `outlier_p_value` is the excess p-value of their count among the
///    production rows outside gap clusters ([`crate::semantic::select_proposals`]
///    proposes from them only when it is below `alpha / (k + 1)`).
///
/// Production indices in the result are rows of `production`;
/// `production_assignment` follows `coverage.production_index`.
///
/// # Remarks
///
/// Errors on empty, mismatched, non-finite or non-unit rows, or when
/// `coverage` does not describe `production` (index out of range or length
/// mismatch).
///
/// # Reference
///
/// Lloyd (1982); Arthur & Vassilvitskii (2007) k-means++ (greedy variant as
/// in `sklearn.cluster.kmeans_plusplus`); Rousseeuw (1987) silhouette;
/// Katz et al. (1978) risk-ratio interval. The selection loop mirrors
/// `max(range, key=lambda k: silhouette_score(X, KMeans(k).fit_predict(X)))`.
pub fn cluster_gaps(
    golden: ArrayView2<f32>,
    production: ArrayView2<f32>,
    coverage: &CoverageResult,
    params: &SemanticParams,
) -> Result<ClusteringResult> {
    let d = check_unit_rows(golden, "golden", None)?;
    check_unit_rows(production, "production", Some(d))?;
    let idx = &coverage.production_index;
    let uncovered = &coverage.uncovered;
    if uncovered.len() != idx.len() {
        return Err(SemanticError::LengthMismatch {
            what: "coverage.uncovered",
            got: uncovered.len(),
            expected: idx.len(),
        });
    }
    if let Some(&bad) = idx.iter().find(|&&i| i >= production.nrows()) {
        return Err(SemanticError::LengthMismatch {
            what: "production (coverage refers to a row beyond it)",
            got: production.nrows(),
            expected: bad + 1,
        });
    }
    let prod_owned = (idx.len() != production.nrows()).then(|| production.select(Axis(0), idx));
    let prod_used = prod_owned.as_ref().map_or(production.view(), |a| a.view());
    let (ng, np) = (golden.nrows(), prod_used.nrows());
    let total = ng + np;
    let regions = if params.region_sizes().iter().any(|&s| s > 0) {
        Some(region_scan(golden, prod_used, params)?)
    } else {
        None
    };
    let pooled =
        concatenate(Axis(0), &[golden.view(), prod_used.view()]).expect("same column count");
    drop(prod_owned);
    let fit_idx = subsample(
        total,
        params.kmeans_fit_cap(),
        &mut rng(params.seed(), 0xF17),
    );
    let weight: Vec<f64> = (0..total)
        .map(|i| {
            if i >= ng && uncovered[i - ng] {
                params.uncovered_weight()
            } else {
                1.0
            }
        })
        .collect();
    let pick = |rows: &[usize]| -> Vec<f64> { rows.iter().map(|&i| weight[i]).collect() };
    // Cluster in the top principal subspace (basis from the fit subsample).
    let space = if params.cluster_dims() < d {
        let basis_rows = pooled.select(Axis(0), &fit_idx);
        let (mean, axes) = principal_axes(basis_rows.view(), params.cluster_dims(), 100);
        project(pooled.view(), &mean, &axes)
    } else {
        pooled
    };

    let (k, silhouette, warm) = match params.k() {
        Some(k) => (k.min(total), None, None),
        None => {
            let sub_idx = subsample(
                total,
                params.silhouette_sample(),
                &mut rng(params.seed(), 0x51_1B),
            );
            let sub = space.select(Axis(0), &sub_idx);
            let sub_w = pick(&sub_idx);
            let (k_min, k_max) = params.k_range();
            let lo = k_min.max(2);
            let hi = k_max.min(sub.nrows().saturating_sub(1));
            if lo > hi {
                (k_min.min(total), None, None)
            } else {
                let dist = euclidean_matrix(sub.view());
                let scores: Vec<Result<(usize, f64, Array2<f32>)>> = (lo..=hi)
                    .into_par_iter()
                    .map(|k| {
                        let runs = params.kmeans_runs();
                        let centroids =
                            kmeans_fit(sub.view(), &sub_w, k, runs, None, params, k as u64)?;
                        let labels = nearest_centroid(sub.view(), &centroids);
                        let s = silhouette_from_dist(&dist, &labels).unwrap_or(f64::NEG_INFINITY);
                        Ok((k, s, centroids))
                    })
                    .collect();
                let mut best = (lo, f64::NEG_INFINITY, None);
                for s in scores {
                    let (k, v, c) = s?;
                    if v > best.1 {
                        best = (k, v, Some(c));
                    }
                }
                (best.0, best.1.is_finite().then_some(best.1), best.2)
            }
        }
    };

    let fit_rows = space.select(Axis(0), &fit_idx);
    let k = k.max(1);
    let centroids = kmeans_fit(
        fit_rows.view(),
        &pick(&fit_idx),
        k,
        params.kmeans_runs(),
        warm,
        params,
        0xF1A1,
    )?;
    drop(fit_rows);
    let raw = nearest_centroid(space.view(), &centroids);

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
    let mut assign: Vec<usize> = raw.iter().map(|&c| remap[c]).collect();
    let k_used = next;
    let summarise =
        |assign: &[usize], region_p: &[Option<(f64, f64)>]| -> Result<Vec<ClusterSummary>> {
            summarise_clusters(assign, region_p, ng, idx, uncovered, coverage, params)
        };
    let mut clusters = summarise(&assign, &vec![None; k_used])?;
    // Every significant gap region (Holm over all regions tested) becomes a
    // cluster of its own: its production rows leave their KMeans cluster.
    // Regions of one topic are often several cells of the fine partitions:
    // significant regions whose rows mostly sit in the same (coarse, label-
    // blind) KMeans cluster are one gap, with the smallest p-values.
    let mut by_host: Vec<(usize, Vec<usize>, f64, f64)> = Vec::new();
    for g in regions.iter().flat_map(|r| &r.gaps) {
        let mut home = vec![0usize; k_used];
        g.production.iter().for_each(|&j| home[assign[ng + j]] += 1);
        let host = (0..k_used)
            .max_by_key(|&c| (home[c], std::cmp::Reverse(c)))
            .unwrap_or(0);
        match by_host.iter_mut().find(|h| h.0 == host) {
            Some(h) => {
                h.1.extend(&g.production);
                h.2 = h.2.min(g.p_value);
                h.3 = h.3.min(g.p_holm);
            }
            None => by_host.push((host, g.production.clone(), g.p_value, g.p_holm)),
        }
    }
    let mut scan_p: Vec<Option<(f64, f64)>> = vec![None; k_used];
    for (_, members, p, holm) in by_host {
        for &j in &members {
            assign[ng + j] = scan_p.len();
        }
        scan_p.push(Some((p, holm)));
    }
    if scan_p.len() > k_used {
        // Renumber densely: a KMeans cluster may have lost every member.
        let mut used = vec![false; scan_p.len()];
        assign.iter().for_each(|&c| used[c] = true);
        let mut remap = vec![usize::MAX; scan_p.len()];
        let mut kept = Vec::new();
        for c in 0..scan_p.len() {
            if used[c] {
                remap[c] = kept.len();
                kept.push(scan_p[c]);
            }
        }
        assign.iter_mut().for_each(|c| *c = remap[*c]);
        clusters = summarise(&assign, &kept)?;
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
        .filter(|&j| uncovered[j] && clusters[assign[ng + j]].verdict != ClusterVerdict::Gap)
        .map(|j| idx[j])
        .collect();
    let outside_gaps = np
        - gap_ranking
            .iter()
            .map(|&c| clusters[c].production_count)
            .sum::<usize>();
    let outlier_p_value = coverage.excess_p_value(outliers.len(), outside_gaps);
    Ok(ClusteringResult {
        k: clusters.len(),
        silhouette,
        golden_assignment: assign[..ng].to_vec(),
        production_assignment: assign[ng..].to_vec(),
        clusters,
        gap_ranking,
        outliers,
        outlier_p_value,
        regions,
    })
}

/// Member lists, counts, gap scores, uncovered-excess tests and verdicts of
/// every cluster id in `assign` (golden rows first, then the analysed
/// production rows in `coverage.production_index` order); cluster `c` is a
/// novelty-scan cluster when `scan_p[c]` is set.
#[allow(clippy::too_many_arguments)]
fn summarise_clusters(
    assign: &[usize],
    region_p: &[Option<(f64, f64)>],
    ng: usize,
    idx: &[usize],
    uncovered: &[bool],
    coverage: &CoverageResult,
    params: &SemanticParams,
) -> Result<Vec<ClusterSummary>> {
    let np = idx.len();
    let mut clusters: Vec<ClusterSummary> = region_p
        .iter()
        .enumerate()
        .map(|(id, &region_p)| ClusterSummary {
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
            uncovered_p_value: 1.0,
            region_p,
            verdict: ClusterVerdict::Balanced,
        })
        .collect();
    for (i, &c) in assign[..ng].iter().enumerate() {
        clusters[c].golden_members.push(i);
    }
    for (j, &c) in assign[ng..].iter().enumerate() {
        clusters[c].production_members.push(idx[j]);
        // In a gap region every production member is a candidate for review:
        // a near topic's traces often clear the global coverage threshold
        // (they resemble a neighbouring intent) and are still the new topic.
        if uncovered[j] || clusters[c].region_p.is_some() {
            clusters[c].uncovered_members.push(idx[j]);
        }
    }
    for c in clusters.iter_mut() {
        c.golden_count = c.golden_members.len();
        c.production_count = c.production_members.len();
        c.uncovered_count = c.uncovered_members.len();
        c.gap = gap_score(
            c.production_count,
            np,
            c.golden_count,
            ng,
            params.gap_confidence(),
        )?;
        c.uncovered_p_value = local_excess_p_value(
            coverage,
            &c.golden_members,
            c.uncovered_count,
            c.production_count,
        );
        let over = c.gap.lower > params.gap_min_ratio();
        // Gaps come from the gap-region test alone (family-wise over every
        // region); a KMeans cluster only describes the traffic mix.
        c.verdict = if c.region_p.is_some() {
            ClusterVerdict::Gap
        } else if over {
            ClusterVerdict::OverrepresentedCovered
        } else if c.gap.upper < 1.0 {
            ClusterVerdict::Underrepresented
        } else {
            ClusterVerdict::Balanced
        };
    }
    Ok(clusters)
}

/// Pseudo-count strength of the global tail rate `q` in [`local_excess_p_value`].
pub const LOCAL_PRIOR_STRENGTH: f64 = 20.0;

/// Locally calibrated p-value that `k` of a cluster's `m` production rows are uncovered.
///
/// # Definition
///
/// The cluster's no-drift uncovered rate is estimated from its own golden
/// members: `u` of the `n` calibrated golden members fall below the threshold
/// by leave-one-out. With a Beta prior centred on the global tail rate `q`
/// and strength `s` = [`LOCAL_PRIOR_STRENGTH`], the rate's posterior is
/// `Beta(u + q·s, n − u + (1 − q)·s)`, and the p-value is `P[X ≥ k]` for
/// `X ~ BetaBin(m, u + q·s, n − u + (1 − q)·s)`.
///
/// # Remarks
///
/// Sparse regions of the golden set (a heterogeneous topic whose examples are
/// far from each other) have a higher uncovered rate under no drift; a global
/// rate would call them gaps. A new topic has few golden members, so its
/// estimate stays near `q` and its excess stays significant. `1` when `k = 0`.
///
/// # Reference
///
/// Beta-binomial posterior predictive (Gelman et al., *Bayesian Data
/// Analysis*, 3rd ed., §2.4); matches `scipy.stats.betabinom.sf(k-1, m, a, b)`.
pub fn local_excess_p_value(
    coverage: &CoverageResult,
    golden_members: &[usize],
    k: usize,
    m: usize,
) -> f64 {
    let (mut n, mut u) = (0usize, 0usize);
    for &g in golden_members {
        if let Some(Some(x)) = coverage.golden_loo_uncovered.get(g) {
            n += 1;
            u += usize::from(*x);
        }
    }
    let q = coverage.q;
    let a = u as f64 + q * LOCAL_PRIOR_STRENGTH;
    let b = (n - u) as f64 + (1.0 - q) * LOCAL_PRIOR_STRENGTH;
    crate::semantic::beta_binomial_sf_ge(k as u64, m as u64, a, b).unwrap_or(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::semantic::coverage::coverage;
    use crate::semantic::testutil::{blobs, centers, test_rng};
    use ndarray::array;

    // statsmodels 0.15.0:
    //   Table2x2(np.array([[a, n1-a], [b, n0-b]])).riskratio, .riskratio_confint(alpha=0.05)
    //   (400, 2000, 200, 2000): 2.0, (1.707669938667654, 2.342373025036004)
    //   (10, 2000, 1, 2000):   10.0, (1.2813216861895838, 78.04441388749277)
    #[test]
    fn gap_score_matches_statsmodels() {
        let s = gap_score(400, 2000, 200, 2000, 0.95).unwrap();
        assert!((s.ratio - 2.0).abs() < 1e-12);
        assert!(
            (s.lower / 1.707_669_938_667_654 - 1.0).abs() < 1e-9,
            "{s:?}"
        );
        assert!(
            (s.upper / 2.342_373_025_036_004 - 1.0).abs() < 1e-9,
            "{s:?}"
        );
        let s = gap_score(10, 2000, 1, 2000, 0.95).unwrap();
        assert!((s.ratio - 10.0).abs() < 1e-12);
        assert!(
            (s.lower / 1.281_321_686_189_583_8 - 1.0).abs() < 1e-9,
            "{s:?}"
        );
        assert!(
            (s.upper / 78.044_413_887_492_77 - 1.0).abs() < 1e-9,
            "{s:?}"
        );
    }

    // Zero cell: ½ is added to all four cells (statsmodels only replaces the
    // zero cell, so this is pinned to numpy instead):
    //   a,n1,b,n0 = 10.5,2001.,0.5,2001.; rr=(a/n1)/(b/n0)
    //   se=np.sqrt(1/a-1/n1+1/b-1/n0); z=scipy.stats.norm.ppf(0.975)
    //   rr, rr*np.exp(-z*se), rr*np.exp(z*se)
    //   = 21.0, 1.2314146413670195, 358.1247007997538
    #[test]
    fn gap_score_zero_cell_matches_numpy() {
        let s = gap_score(10, 2000, 0, 2000, 0.95).unwrap();
        assert!((s.ratio - 21.0).abs() < 1e-12);
        assert!(
            (s.lower / 1.231_414_641_367_019_5 - 1.0).abs() < 1e-9,
            "{s:?}"
        );
        assert!(
            (s.upper / 358.124_700_799_753_8 - 1.0).abs() < 1e-9,
            "{s:?}"
        );
    }

    #[test]
    fn small_extreme_cluster_does_not_outrank_large_moderate_one() {
        let small = gap_score(10, 2000, 0, 2000, 0.95).unwrap();
        let large = gap_score(400, 2000, 200, 2000, 0.95).unwrap();
        assert!(small.ratio > 10.0 * large.ratio);
        assert!(large.lower > small.lower, "{large:?} vs {small:?}");
    }

    #[test]
    fn gap_score_edge_cases_are_errors() {
        assert!(gap_score(1, 0, 1, 10, 0.95).is_err());
        assert!(gap_score(11, 10, 1, 10, 0.95).is_err());
        assert!(gap_score(1, 10, 1, 10, 1.0).is_err());
        // Everything in one cluster on both sides: cells (n, 0, n, 0) → finite.
        let s = gap_score(10, 10, 10, 10, 0.95).unwrap();
        assert!(s.lower.is_finite() && s.upper.is_finite());
    }

    // sklearn 1.9.1: silhouette_score(np.array([[0,0],[.1,.2],[.2,.1],[3,3],[3.1,2.9],
    //   [2.9,3.2],[10,0]],np.float32).astype(float), [0,0,0,1,1,1,2]) = 0.8117261107771359
    #[test]
    fn silhouette_matches_sklearn() {
        let x = array![
            [0.0f32, 0.0],
            [0.1, 0.2],
            [0.2, 0.1],
            [3.0, 3.0],
            [3.1, 2.9],
            [2.9, 3.2],
            [10.0, 0.0]
        ];
        let s = silhouette_score(x.view(), &[0, 0, 0, 1, 1, 1, 2]).unwrap();
        assert!((s - 0.811_726_110_777_135_9).abs() < 1e-12, "{s}");
        assert!(silhouette_score(x.view(), &[0; 7]).is_err());
        assert!(silhouette_score(x.view(), &[0, 1]).is_err());
    }

    #[test]
    fn clustering_recovers_blobs_and_flags_the_gap() {
        let mut r = test_rng(20);
        let c = centers(6, 32, &mut r);
        let (g, gid) = blobs(300, &c, &[1.0, 1.0, 1.0, 1.0, 1.0, 0.0], 0.5, &mut r);
        let (p, pid) = blobs(300, &c, &[1.0, 1.0, 1.0, 1.0, 1.0, 1.5], 0.5, &mut r);
        let cov = coverage(g.view(), p.view(), 0.05, 1_000_000_000, 2000, 1).unwrap();
        let params = SemanticParams::builder()
            .seed(1)
            .k_range((3, 10))
            .check()
            .unwrap();
        let res = cluster_gaps(g.view(), p.view(), &cov, &params).unwrap();
        // Silhouette picks the 6 blobs; the gap region then takes the new
        // blob's rows out of its KMeans cluster (which may be left empty).
        let kmeans = res.clusters.iter().filter(|c| c.region_p.is_none()).count();
        assert!(
            (5..=6).contains(&kmeans),
            "silhouette should pick the 6 blobs: {kmeans}"
        );
        // Every cluster is pure.
        for cl in &res.clusters {
            let mut blobs_in: Vec<usize> = cl
                .golden_members
                .iter()
                .map(|&i| gid[i])
                .chain(cl.production_members.iter().map(|&i| pid[i]))
                .collect();
            blobs_in.sort_unstable();
            blobs_in.dedup();
            assert_eq!(blobs_in.len(), 1, "cluster {} mixes blobs", cl.id);
        }
        assert_eq!(res.gap_ranking.len(), 1);
        let gap = &res.clusters[res.gap_ranking[0]];
        assert_eq!(gap.golden_count, 0);
        assert!(gap.production_members.iter().all(|&i| pid[i] == 5));
        let new_rows = pid.iter().filter(|&&b| b == 5).count();
        assert!(
            gap.production_count * 10 >= new_rows * 8,
            "{} of {new_rows}",
            gap.production_count
        );
        assert_eq!(gap.verdict, ClusterVerdict::Gap);
        let (p, holm) = gap.region_p.expect("a gap comes from the region test");
        assert!(p <= holm && holm < 0.05, "{p} {holm}");
        // Outliers: exactly the uncovered rows outside the gap, never dropped.
        let want: Vec<usize> = (0..300)
            .filter(|&i| cov.uncovered[i] && !gap.production_members.contains(&i))
            .collect();
        assert_eq!(res.outliers, want);
        let total: usize = res
            .clusters
            .iter()
            .map(|c| c.golden_count + c.production_count)
            .sum();
        assert_eq!(total, 600);
        assert!(res
            .clusters
            .iter()
            .filter(|c| c.verdict != ClusterVerdict::Gap)
            .filter(|c| c.production_members.iter().all(|&i| pid[i] != 5))
            .all(|c| c.uncovered_p_value > 0.01));
    }

    #[test]
    fn configured_k_is_used_and_coverage_must_match() {
        let mut r = test_rng(21);
        let c = centers(3, 16, &mut r);
        let (g, _) = blobs(60, &c, &[1.0; 3], 0.5, &mut r);
        let (p, _) = blobs(60, &c, &[1.0; 3], 0.5, &mut r);
        let cov = coverage(g.view(), p.view(), 0.05, 1_000_000_000, 2000, 1).unwrap();
        let params = SemanticParams::builder().k(Some(3)).check().unwrap();
        let res = cluster_gaps(g.view(), p.view(), &cov, &params).unwrap();
        assert_eq!((res.k, res.silhouette), (3, None));
        assert!(res.gap_ranking.is_empty());
        let mut bad = cov.clone();
        bad.uncovered.pop();
        assert!(matches!(
            cluster_gaps(g.view(), p.view(), &bad, &params),
            Err(SemanticError::LengthMismatch { .. })
        ));
        assert!(matches!(
            cluster_gaps(g.view(), p.slice(ndarray::s![..30, ..]), &cov, &params),
            Err(SemanticError::LengthMismatch { .. })
        ));
    }
}
