//! Gap regions: label-blind partitions of golden ∪ production at several
//! scales, each region tested for too little golden with a design-effect
//! (Rao–Scott) corrected binomial test, Holm-adjusted over every region.
//!
//! Why not a permutation of trace labels: real traffic repeats paraphrases of
//! the same question, and a whole group of them lands on one side of the
//! golden/production split. Labels are then correlated in space, a trace-level
//! permutation null is far too narrow, and a test built on it reports the
//! golden set's chance thin spots as new topics (on BANKING77 split by
//! near-duplicate groups, a kNN novelty scan fired in 20 of 20 no-drift runs).
//! The clumping is measured instead, from the data, as the variance of the
//! golden share across regions relative to binomial variance (the design
//! effect), and every region's count is deflated by it.

use ndarray::ArrayView2;
use statrs::function::beta::beta_reg;

use super::error::Result;
use super::linalg::{check_unit_rows, rng};
use super::params::SemanticParams;
use super::pca::{principal_axes, project};
use super::scan::pooled_sample;
use super::units::{near_duplicate_units, FOLD_UNIT_COS};

/// Median of the χ² distribution with one degree of freedom
/// (`scipy.stats.chi2.median(1)` = 0.454936423119572…).
pub const CHI2_1_MEDIAN: f64 = 0.454_936_423_119_572;

/// Regions with fewer pooled rows than this are not tested.
pub const MIN_REGION_ROWS: usize = 5;

/// Neighbours that decide whether a gap member is locally uncovered, at a
/// baseline golden share above about 0.26 (see [`member_neighbours`] and
/// [`region_scan`], step 6).
pub const MEMBER_NEIGHBOURS: usize = 10;

/// Lower-tail level that keeps a gap member (see [`region_scan`], step 6).
pub const MEMBER_TAIL: f64 = 0.05;

/// One region found significantly short of golden examples.
#[derive(Debug, Clone, PartialEq)]
pub struct GapRegion {
    /// Production row indices (into the `production` argument), ascending.
    pub production: Vec<usize>,
    /// Golden rows in the region (of the rows used).
    pub golden_count: usize,
    /// Pooled rows in the region (golden + production used).
    pub rows: usize,
    /// One-sided p-value that the region holds so few golden rows
    /// (design-effect corrected binomial; see [`region_scan`]).
    pub p_value: f64,
    /// Holm-adjusted p-value over every region tested at every scale.
    pub p_holm: f64,
    /// Target rows per region of the partition it came from.
    pub scale: usize,
}

/// Outcome of [`region_scan`].
#[derive(Debug, Clone, PartialEq)]
pub struct RegionScan {
    /// Distinct golden rows used (`m₀`).
    pub golden_used: usize,
    /// Distinct production rows used (`m₁`).
    pub production_used: usize,
    /// Golden share of the pooled rows, `π₀ = m₀ / (m₀ + m₁)`.
    pub pi0: f64,
    /// Design effect of the middle scale (the clumping of the data, ≥ 1).
    pub design_effect: f64,
    /// Design effect per scale, in `params.region_sizes()` order.
    pub design_effects: Vec<f64>,
    /// Baseline golden share per scale (see [`baseline_share`]).
    pub baselines: Vec<f64>,
    /// Intraclass correlation of the golden/production label within
    /// near-duplicate units, per scale (see [`unit_icc`]; 0 when labels do
    /// not clump within units, 1 when every unit sits wholly on one side).
    pub unit_iccs: Vec<f64>,
    /// Regions tested (the Holm family size: those that could be significant).
    pub tested: usize,
    /// Regions with `p_holm < alpha`, overlapping ones merged (the union of
    /// their production rows, the smallest p-values kept), most significant
    /// first.
    pub gaps: Vec<GapRegion>,
}

/// Partitions golden ∪ production without looking at the labels, at every
/// scale of `params.region_sizes()`, and tests each region for a golden share
/// below the pooled share.
///
/// # Definition
///
/// 1. Exact duplicate rows are dropped within each side; golden is
///    subsampled to `m₀ = min(n₀, scan_per_side)` rows and production to
///    `m₁ = min(n₁, scan_per_side)`. `π₀ = m₀ / (m₀ + m₁)`; every
///    production row is used even when golden is small (until session 25
///    production was capped at `2·m₀`, which hid a third of the new topic
///    from a 600-row golden set; BENCHMARKS.md, session 25).
/// 2. The pooled rows are projected on their top `cluster_dims` principal
///    axes, and for every target size `s` a KMeans partition with
///    `k = ⌊(m₀ + m₁) / s⌋` clusters is fitted (labels are never used).
/// 3. The baseline share `π̂` is the pooled share of the interquartile regions
///    ([`baseline_share`]; `π̂ ≈ π₀` under H₀, robust to a large new topic).
///    In a region with `n` rows of which `g` are golden, under H₀ (golden and
///    production drawn from one distribution) `g ~ Binomial(n, π̂)` if
///    traces were independent. They are not: paraphrases come in groups that
///    land on one side together, which inflates the variance of `g` by the
///    design effect `φ`. Per scale, `φ̂ = max(1, median(zᵢ²) / m̃)` over
///    the regions with at least [`MIN_REGION_ROWS`] rows, with
///    `zᵢ = (gᵢ − nᵢπ̂) / √(nᵢπ̂(1 − π̂))` (the median makes it robust to the
///    few regions a real gap moves; `m̃` is the exact median of `zᵢ²` under
///    `Binomial(nᵢ, π̂)` for these regions' sizes, [`null_median_z2`], which
///    tends to χ²₁'s 0.4549 as regions grow).
///    A region made of a few large paraphrase groups varies more than the
///    median region: each region's own Kish design effect
///    ([`unit_design_effect`]) is computed from the near-duplicate units
///    among its rows ([`near_duplicate_units`] at cosine ≥ [`FOLD_UNIT_COS`],
///    none larger than the coarsest region) and the label's intraclass
///    correlation within units ([`unit_icc`]) over the rows of the regions
///    above the lowest quarter of golden shares ([`upper_regions`], which a
///    new topic leaves alone); the region is deflated by the larger of the two.
/// 4. Rao–Scott: the region's counts are divided by `φ̂`
///    (`ñ = n/φ̂`, `g̃ = g/φ̂`) and `p = P[X ≤ g̃]` for `X ~ Binomial(ñ, π₀)`,
///    continued to real arguments by the regularised incomplete beta:
///    `p = I₁₋π₀(ñ − g̃, g̃ + 1)`.
/// 5. The family is every region of every scale that could be significant:
///    a region's smallest attainable p (no golden row, `(1 − π̂)^{n/φ̂}`)
///    decides whether it is counted, by Tarone's rule
///    ([`crate::stats::tarone_family`]); a 12-row region can never reach
///    `α / 100` and so costs the others nothing. Holm's step-down adjustment
///    over the family controls the family-wise error at `α`. Significant
///    regions that share production rows are merged.
/// 6. Members: a region found short of golden holds the new topic *and*
///    whatever production rows of the neighbouring, covered topics KMeans
///    put with it. Of a row's `k` nearest pooled rows (cosine), `g_local`
///    are golden, and `π̂` is the baseline share of the middle scale; `k`
///    is [`member_neighbours`]`(π̂)`, 10 unless golden is under about a
///    quarter of the pooled rows. A gap keeps the rows whose `g_local` is in the lower
///    [`MEMBER_TAIL`] tail of `Binomial(k, π̂)` (`P[X ≤ g_local] <
///    MEMBER_TAIL`: with `π̂ = 1/3` and `k = 10`, no golden neighbour at
///    all); if fewer than [`MIN_REGION_ROWS`] rows pass, those with fewer
///    than half the golden neighbours `π̂` predicts (`2·g_local < k·π̂`);
///    if fewer than that still, every row. Only membership changes: which
///    regions are gaps, and their p-values, were decided in steps 1–5.
///
/// # Remarks
///
/// Without clumping `φ̂ ≈ 1` and the test is the exact binomial test. With
/// fewer than `MIN_REGION_ROWS` rows on a side nothing is tested. Deterministic
/// for a given seed.
///
/// # Reference
///
/// Rao & Scott (1992), *A simple method for the analysis of clustered binary
/// data*, Biometrics 48:577–585 (divide counts by the design effect); Kish
/// (1965), *Survey Sampling*, §8.2 (design effect); Holm (1979), *A simple
/// sequentially rejective multiple test procedure*, Scand. J. Statist.
/// 6:65–70; Tarone (1990), *A modified Bonferroni method for discrete data*,
/// Biometrics 46:515–522. The binomial CDF matches `scipy.stats.binom.cdf` at integer
/// arguments.
pub fn region_scan(
    golden: ArrayView2<f32>,
    production: ArrayView2<f32>,
    params: &SemanticParams,
) -> Result<RegionScan> {
    let d = check_unit_rows(golden, "golden", None)?;
    check_unit_rows(production, "production", Some(d))?;
    let g_rows = super::scan::distinct_rows(golden);
    let p_rows = super::scan::distinct_rows(production);
    let cap = params.scan_per_side();
    let m0 = g_rows.len().min(cap);
    let m1 = p_rows.len().min(cap);
    let n = m0 + m1;
    let pi0 = m0 as f64 / n.max(1) as f64;
    let mut out = RegionScan {
        golden_used: m0,
        production_used: m1,
        pi0,
        design_effect: 1.0,
        design_effects: Vec::new(),
        baselines: Vec::new(),
        unit_iccs: Vec::new(),
        tested: 0,
        gaps: Vec::new(),
    };
    if m0 < MIN_REGION_ROWS || m1 < MIN_REGION_ROWS || params.region_sizes().iter().all(|&s| s == 0)
    {
        return Ok(out);
    }
    let mut r = rng(params.seed(), 0x0004_E610);
    let (p_pick, pooled) = pooled_sample(golden, production, (&g_rows, m0), (&p_rows, m1), &mut r);
    let space = if params.cluster_dims() < d {
        let (mean, axes) = principal_axes(pooled.view(), params.cluster_dims(), 100);
        project(pooled.view(), &mean, &axes)
    } else {
        pooled.clone()
    };
    // Near-duplicate units of the pooled rows (labels unused), none larger
    // than the coarsest region.
    let max_size = params.region_sizes().iter().copied().max().unwrap_or(1);
    let units = near_duplicate_units(pooled.view(), FOLD_UNIT_COS, max_size);
    // (p, scale, golden count, rows, pooled members) of every tested region.
    let mut tested: Vec<(f64, usize, usize, usize, Vec<usize>)> = Vec::new();
    // Smallest p each region could reach (no golden row at all).
    let mut p_min: Vec<f64> = Vec::new();
    let ones = vec![1.0; n];
    for (si, &size) in params.region_sizes().iter().filter(|&&s| s > 0).enumerate() {
        let k = (n / size.max(1)).max(2);
        let centroids = super::kmeans::kmeans_fit(
            space.view(),
            &ones,
            k,
            1,
            None,
            params,
            0x0004_E610 + si as u64,
        )?;
        let assign = super::kmeans::nearest_centroid(space.view(), &centroids);
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); k];
        for (i, &c) in assign.iter().enumerate() {
            members[c].push(i);
        }
        let counts: Vec<(usize, usize)> = members
            .iter()
            .map(|m| (m.iter().filter(|&&i| i < m0).count(), m.len()))
            .collect();
        let base = baseline_share(&counts, pi0);
        let phi = design_effect(&counts, base);
        let covered: Vec<usize> = upper_regions(&counts)
            .unwrap_or_else(|| (0..k).collect())
            .into_iter()
            .flat_map(|c| members[c].iter().copied())
            .collect();
        let rho = unit_icc(&covered, &units, m0);
        out.design_effects.push(phi);
        out.baselines.push(base);
        out.unit_iccs.push(rho);
        for (m, &(g, rows)) in members.into_iter().zip(&counts) {
            if rows < MIN_REGION_ROWS {
                continue;
            }
            let phi = phi.max(unit_design_effect(&m, &units, rho));
            p_min.push(deflated_binomial_cdf(0, rows, base, phi));
            tested.push((deflated_binomial_cdf(g, rows, base, phi), size, g, rows, m));
        }
    }
    out.design_effect = out.design_effects[out.design_effects.len() / 2];
    // Step 5: only regions that could be significant enter the family.
    let family = crate::stats::tarone_family(&p_min, params.alpha());
    let tested: Vec<_> = tested
        .into_iter()
        .zip(family)
        .filter_map(|(t, keep)| keep.then_some(t))
        .collect();
    out.tested = tested.len();
    let ps: Vec<f64> = tested.iter().map(|t| t.0).collect();
    let holm = crate::stats::holm(&ps);
    let mut sig: Vec<GapRegion> = tested
        .into_iter()
        .zip(holm)
        .filter(|(_, h)| *h < params.alpha())
        .map(|((p, scale, g, rows, m), h)| {
            let mut production: Vec<usize> = m
                .iter()
                .filter(|&&i| i >= m0)
                .map(|&i| p_pick[i - m0])
                .collect();
            production.sort_unstable();
            GapRegion {
                production,
                golden_count: g,
                rows,
                p_value: p,
                p_holm: h,
                scale,
            }
        })
        .filter(|g| !g.production.is_empty())
        .collect();
    sig.sort_by(|a, b| a.p_value.total_cmp(&b.p_value).then(a.scale.cmp(&b.scale)));
    // Merge overlapping regions into the most significant one they touch.
    let mut merged: Vec<GapRegion> = Vec::new();
    for g in sig {
        match merged
            .iter_mut()
            .find(|m| shares_row(&m.production, &g.production))
        {
            Some(m) => {
                m.production.extend(g.production);
                m.production.sort_unstable();
                m.production.dedup();
                m.golden_count = m.golden_count.max(g.golden_count);
                m.rows = m.rows.max(g.rows);
            }
            None => merged.push(g),
        }
    }
    // Step 6: a gap keeps the production rows that are locally uncovered
    // (the n × n similarities are only worth computing when there is a gap).
    if !merged.is_empty() {
        trim_to_locally_uncovered(
            &mut merged,
            pooled.view(),
            &p_pick,
            m0,
            out.baselines[out.baselines.len() / 2],
        );
    }
    out.gaps = merged;
    Ok(out)
}

/// Step 6 of [`region_scan`]: `pooled` holds the `m0` golden rows then the
/// production rows `p_pick`; `base` is the baseline golden share.
fn trim_to_locally_uncovered(
    merged: &mut [GapRegion],
    pooled: ArrayView2<f32>,
    p_pick: &[usize],
    m0: usize,
    base: f64,
) {
    let kk = member_neighbours(base).min(pooled.nrows() - 1);
    let knn = super::scan::knn_lists(pooled, kk);
    let pooled_of: std::collections::HashMap<usize, usize> = p_pick
        .iter()
        .enumerate()
        .map(|(t, &j)| (j, m0 + t))
        .collect();
    for g in merged {
        let near: Vec<(usize, usize)> = g
            .production
            .iter()
            .map(|&j| {
                let i = pooled_of[&j];
                let golden = knn[i * kk..(i + 1) * kk]
                    .iter()
                    .filter(|&&x| x < m0)
                    .count();
                (j, golden)
            })
            .collect();
        g.production = uncovered_members(&near, kk, base);
    }
}

/// Neighbours a gap member is judged by at baseline golden share `base`:
/// [`MEMBER_NEIGHBOURS`] while a row with none golden among them is in the
/// [`MEMBER_TAIL`] tail (`(1 − π̂)¹⁰ < 0.05`, i.e. `π̂ > 0.259`); below
/// that, when golden is much smaller than production, no count is in the
/// tail and members fell back to the looser rule. Then `k` is as many as
/// keep the expected golden count `k·π̂` at the 10/3 it is at `π̂ = 1/3`,
/// so no golden neighbour is as unlikely under H₀ as there
/// (`(1 − π̂)^k ≈ (2/3)¹⁰ ≈ 0.017`); at most four times
/// [`MEMBER_NEIGHBOURS`].
///
/// Why not the same formula everywhere: at `π̂` just under 1/3 it asks for an
/// 11th neighbour, fewer rows pass the stricter tail, and a gap with fewer
/// than [`MIN_REGION_ROWS`] of them falls back to the looser rule; on the
/// CLINC150 far topic that lost 3 of 14 detections (BENCHMARKS.md, session 25).
pub fn member_neighbours(base: f64) -> usize {
    let k = MEMBER_NEIGHBOURS;
    if deflated_binomial_cdf(0, k, base, 1.0) < MEMBER_TAIL {
        return k;
    }
    let expected = k as f64 / 3.0;
    // The 1e-9 keeps rounding from asking for one more neighbour.
    let wanted = (expected / base.max(1e-9) - 1e-9).ceil() as usize;
    wanted.clamp(k, 4 * k)
}

/// The members a gap keeps (step 6 of [`region_scan`]): of `(row, golden
/// among its k nearest)` pairs, the rows in the lower [`MEMBER_TAIL`] tail of
/// `Binomial(k, base)`; failing [`MIN_REGION_ROWS`] of those, the rows under
/// half the expected count; failing that, every row. Order is kept.
fn uncovered_members(near: &[(usize, usize)], k: usize, base: f64) -> Vec<usize> {
    let tiers: [&dyn Fn(usize) -> bool; 2] = [
        &|g| deflated_binomial_cdf(g, k, base, 1.0) < MEMBER_TAIL,
        &|g| 2.0 * (g as f64) < k as f64 * base,
    ];
    for keep in tiers {
        let kept: Vec<usize> = near
            .iter()
            .filter(|&&(_, g)| keep(g))
            .map(|&(j, _)| j)
            .collect();
        if kept.len() >= MIN_REGION_ROWS {
            return kept;
        }
    }
    near.iter().map(|&(j, _)| j).collect()
}

fn shares_row(a: &[usize], b: &[usize]) -> bool {
    b.iter().any(|x| a.binary_search(x).is_ok())
}

/// Robust baseline golden share: the pooled share of the regions (with at
/// least [`MIN_REGION_ROWS`] rows) whose own share lies between the 25th and
/// 75th percentile of region shares; `pi0` when fewer than four regions
/// qualify. A large new topic fills many regions with production only, which
/// lowers the pooled share `π₀` and makes every *other* region look rich in
/// golden; the interquartile regions are the covered traffic, so the baseline
/// and the design effect stay right until a quarter of the regions move.
pub fn baseline_share(counts: &[(usize, usize)], pi0: f64) -> f64 {
    let Some(mid) = interquartile_regions(counts) else {
        return pi0;
    };
    let (g, n) = mid.iter().fold((0usize, 0usize), |(g, n), &c| {
        (g + counts[c].0, n + counts[c].1)
    });
    if n == 0 {
        pi0
    } else {
        g as f64 / n as f64
    }
}

/// The regions (indices into `counts`) with at least [`MIN_REGION_ROWS`]
/// rows whose golden share lies between the 25th and 75th percentile of
/// those regions' shares: the covered traffic, which a new topic leaves
/// alone. `None` when fewer than four regions qualify.
fn interquartile_regions(counts: &[(usize, usize)]) -> Option<Vec<usize>> {
    let by_share = regions_by_share(counts)?;
    let (lo, hi) = (by_share.len() / 4, by_share.len() - by_share.len() / 4);
    Some(by_share[lo..hi].to_vec())
}

/// The regions above the 25th percentile of golden share (as
/// [`interquartile_regions`], with the golden-rich quarter kept): where the
/// clumping of labels is measured. A new topic only lowers the share of its
/// own regions, so none of them is here; a paraphrase group that landed
/// wholly in golden is, and under no drift which side a group lands on does
/// not depend on where it lies, so the clumping seen here holds everywhere.
fn upper_regions(counts: &[(usize, usize)]) -> Option<Vec<usize>> {
    let by_share = regions_by_share(counts)?;
    Some(by_share[by_share.len() / 4..].to_vec())
}

/// Regions with at least [`MIN_REGION_ROWS`] rows, by ascending golden share
/// (ties by index); `None` when fewer than four.
fn regions_by_share(counts: &[(usize, usize)]) -> Option<Vec<usize>> {
    let mut shares: Vec<(f64, usize)> = counts
        .iter()
        .enumerate()
        .filter(|(_, &(_, n))| n >= MIN_REGION_ROWS)
        .map(|(c, &(g, n))| (g as f64 / n as f64, c))
        .collect();
    if shares.len() < 4 {
        return None;
    }
    shares.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    Some(shares.into_iter().map(|s| s.1).collect())
}

/// Intraclass correlation of the label (golden when the pooled index is
/// below `m0`) within near-duplicate `units`, over the pooled `rows` given
/// (a unit is cut to the rows given), clamped to `[0, 1]`; 0 when no unit
/// holds two of the rows or every row has one label.
///
/// # Definition
///
/// The Fleiss–Cuzick estimator: with units of sizes `mⱼ` holding `yⱼ`
/// golden rows, `N = Σ mⱼ` over `K` units and `p̄ = Σ yⱼ / N`,
///
/// ```text
/// ρ̂ = 1 − Σ yⱼ (mⱼ − yⱼ) / mⱼ  /  ((N − K) p̄ (1 − p̄))
/// ```
///
/// the disagreement of labels within units against what independent labels
/// would give. A row alone in its unit adds nothing to either sum (only to
/// `p̄`), so the many questions asked once do not dilute the clumping of the
/// few asked many ways, as they do in the one-way ANOVA estimator. With
/// equal unit sizes it is Fleiss' κ for two categories.
///
/// # Reference
///
/// Fleiss & Cuzick (1979), *The reliability of dichotomous judgments:
/// unequal numbers of judges per subject*, Applied Psychological
/// Measurement 3:537–542; compared with other estimators in Ridout,
/// Demétrio & Firth (1999), *Estimating intraclass correlation for binary
/// data*, Biometrics 55:137–148. Equal sizes match
/// `statsmodels.stats.inter_rater.fleiss_kappa`.
pub fn unit_icc(rows: &[usize], units: &[usize], m0: usize) -> f64 {
    let mut by_unit: std::collections::BTreeMap<usize, (f64, f64)> = Default::default();
    for &i in rows {
        let e = by_unit.entry(units[i]).or_insert((0.0, 0.0));
        e.0 += 1.0;
        e.1 += f64::from(u8::from(i < m0));
    }
    let n = rows.len() as f64;
    let extra = n - by_unit.len() as f64;
    let p = by_unit.values().map(|u| u.1).sum::<f64>() / n.max(1.0);
    let expected = extra * p * (1.0 - p);
    if extra < 1.0 || expected <= 0.0 {
        return 0.0;
    }
    let observed: f64 = by_unit.values().map(|&(m, y)| y * (m - y) / m).sum();
    (1.0 - observed / expected).clamp(0.0, 1.0)
}

/// Kish's design effect of one region from the near-duplicate units among its
/// `members`: `1 + ρ (Σ cᵤ² / n − 1)`, with `cᵤ` the region's rows in unit
/// `u`, `n = Σ cᵤ` and `ρ` the label's intraclass correlation within units
/// ([`unit_icc`]). A region made of a few large paraphrase groups varies
/// far more than the median region the scale's `φ̂` describes.
///
/// Kish (1965), *Survey Sampling*, §8.2: `deff = 1 + (m̄ − 1)ρ` for clusters
/// of unequal size with `m̄ = Σ mᵤ² / Σ mᵤ`.
pub fn unit_design_effect(members: &[usize], units: &[usize], rho: f64) -> f64 {
    if members.is_empty() || rho <= 0.0 {
        return 1.0;
    }
    let mut ids: Vec<usize> = members.iter().map(|&i| units[i]).collect();
    ids.sort_unstable();
    let sq: usize = ids.chunk_by(|a, b| a == b).map(|c| c.len() * c.len()).sum();
    1.0 + rho * (sq as f64 / members.len() as f64 - 1.0)
}

/// Robust design effect of golden counts `(gᵢ, nᵢ)` against share `π₀` (step 3
/// of [`region_scan`]); 1 when fewer than three regions can be used.
///
/// `φ̂ = max(1, median(zᵢ²) / m̃)`, where `m̃` is the median of the same
/// statistic under the binomial null for these very regions
/// ([`null_median_z2`]): their counts are whole numbers, and for regions of a
/// few dozen rows the median of `zᵢ²` under `Binomial(nᵢ, π₀)` is not χ²₁'s
/// 0.4549 but anywhere in 0.40–0.50, which read as clumping that is not there.
pub fn design_effect(counts: &[(usize, usize)], pi0: f64) -> f64 {
    let used: Vec<(usize, usize)> = counts
        .iter()
        .copied()
        .filter(|&(_, n)| n >= MIN_REGION_ROWS)
        .collect();
    let mut z2: Vec<f64> = used
        .iter()
        .map(|&(g, n)| z_squared(g, n, pi0))
        .filter(|v| v.is_finite())
        .collect();
    if z2.len() < 3 {
        return 1.0;
    }
    let med = super::linalg::median_in_place(&mut z2).unwrap_or(0.0);
    let sizes: Vec<usize> = used.iter().map(|&(_, n)| n).collect();
    let null = null_median_z2(&sizes, pi0)
        .filter(|&m| m > 0.0)
        .unwrap_or(CHI2_1_MEDIAN);
    (med / null).max(1.0)
}

fn z_squared(g: usize, n: usize, pi0: f64) -> f64 {
    let e = n as f64 * pi0;
    (g as f64 - e).powi(2) / (e * (1.0 - pi0))
}

/// Median of `zᵢ² = (gᵢ − nᵢπ₀)² / (nᵢπ₀(1 − π₀))` when each region `i` is
/// equally likely and `gᵢ ~ Binomial(nᵢ, π₀)`: the exact median of that
/// mixture of discrete laws, by enumerating every count. `None` for no
/// region or `π₀` outside (0, 1). Tends to χ²₁'s median 0.4549 as the
/// regions grow.
pub fn null_median_z2(sizes: &[usize], pi0: f64) -> Option<f64> {
    use statrs::distribution::{Binomial, Discrete};
    if sizes.is_empty() || !(pi0 > 0.0 && pi0 < 1.0) {
        return None;
    }
    let w = 1.0 / sizes.len() as f64;
    let mut mass: Vec<(f64, f64)> = Vec::new();
    for &n in sizes {
        let b = Binomial::new(pi0, n as u64).ok()?;
        mass.extend((0..=n).map(|g| (z_squared(g, n, pi0), w * b.pmf(g as u64))));
    }
    mass.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut acc = 0.0;
    for (v, m) in &mass {
        acc += m;
        if acc >= 0.5 {
            return Some(*v);
        }
    }
    mass.last().map(|m| m.0)
}

/// `P[X ≤ g/φ]` for `X ~ Binomial(n/φ, π₀)`, by the regularised incomplete
/// beta `I₁₋π₀(n/φ − g/φ, g/φ + 1)` (step 4 of [`region_scan`]).
pub fn deflated_binomial_cdf(g: usize, n: usize, pi0: f64, phi: f64) -> f64 {
    let (ne, ge) = (n as f64 / phi, g as f64 / phi);
    if ge >= ne || pi0 <= 0.0 {
        return 1.0;
    }
    if pi0 >= 1.0 {
        return 0.0;
    }
    beta_reg(ne - ge, ge + 1.0, 1.0 - pi0).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::semantic::testutil::{blobs, centers, test_rng, with_new_blob};

    // scipy 1.17.1:
    //   scipy.stats.binom.cdf(0, 30, 1/3)  = 5.215095050846565e-06
    //   scipy.stats.binom.cdf(3, 25, 1/3)  = 0.014890400143929682
    //   scipy.stats.binom.cdf(10, 30, 1/3) = 0.5847595987710096
    //   scipy.special.betainc(15.0, 1.0, 2/3) = 0.0022836582605211654   (g = 0, n = 30, φ = 2)
    //   scipy.special.betainc(26/1.7, 4/1.7 + 1, 2/3) = 0.05622448464095195   (g = 4, n = 30, φ = 1.7)
    #[test]
    fn deflated_cdf_matches_scipy() {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-10 * b;
        let third = 1.0 / 3.0;
        for (got, want) in [
            (
                deflated_binomial_cdf(0, 30, third, 1.0),
                5.215095050846565e-06,
            ),
            (
                deflated_binomial_cdf(3, 25, third, 1.0),
                0.014890400143929682,
            ),
            (
                deflated_binomial_cdf(10, 30, third, 1.0),
                0.5847595987710096,
            ),
            (
                deflated_binomial_cdf(0, 30, third, 2.0),
                0.0022836582605211654,
            ),
            (
                deflated_binomial_cdf(4, 30, third, 1.7),
                0.05622448464095195,
            ),
        ] {
            assert!(close(got, want), "{got} vs {want}");
        }
        assert_eq!(deflated_binomial_cdf(30, 30, 0.5, 1.0), 1.0);
    }

    #[test]
    fn design_effect_is_one_for_binomial_counts_and_large_for_clumps() {
        // Counts exactly at expectation: no extra variance.
        let even: Vec<(usize, usize)> = (0..50).map(|_| (10, 30)).collect();
        assert_eq!(design_effect(&even, 1.0 / 3.0), 1.0);
        // Regions all-golden or all-production: huge variance.
        let clumped: Vec<(usize, usize)> = (0..50)
            .map(|i| if i % 3 == 0 { (30, 30) } else { (0, 30) })
            .collect();
        assert!(design_effect(&clumped, 1.0 / 3.0) > 10.0);
        assert_eq!(design_effect(&[(1, 30)], 0.5), 1.0);
    }

    // statsmodels 0.15.0, fleiss_kappa([[3,0],[0,3],[2,1],[1,2],[0,3],[3,0]])
    //   = 0.5555555555555556 (six units of three rows, golden counts 3,0,2,1,0,3).
    // With singletons added (numpy, the formula above): units of 2, 2, 3 and
    // five singletons, golden counts 2, 1, 1 and 2 of the singletons:
    //   p̄ = 6/12, Σ y(m − y)/m = 0 + 0.5 + 2/3, N − K = 4,
    //   ρ = 1 − (7/6) / (4 · 0.25) = −1/6 → clamped to 0.
    #[test]
    fn unit_icc_is_the_fleiss_cuzick_estimator() {
        let all = |n: usize| (0..n).collect::<Vec<_>>();
        // Rows 0..9 golden, 9..18 production.
        let units = [0, 0, 0, 2, 2, 3, 5, 5, 5, 1, 1, 1, 2, 3, 3, 4, 4, 4];
        assert!((unit_icc(&all(18), &units, 9) - 0.555_555_555_555_555_6).abs() < 1e-12);
        // Units {0,1} {2,9} {3,10,11} and singletons 4..=8; golden rows < 6.
        let units = [0, 0, 1, 2, 3, 4, 5, 6, 7, 1, 2, 2];
        assert_eq!(unit_icc(&all(12), &units, 6), 0.0);
        // Every unit on one side: complete clumping, singletons or not.
        assert_eq!(unit_icc(&all(10), &[0, 0, 0, 0, 1, 1, 2, 2, 3, 4], 4), 1.0);
        // Only singletons, or a subset of rows that cuts every unit: nothing to measure.
        assert_eq!(unit_icc(&all(4), &[0, 1, 2, 3], 2), 0.0);
        assert_eq!(
            unit_icc(&[0, 3, 6], &[0, 0, 0, 1, 1, 1, 2, 2, 2, 2], 4),
            0.0
        );
    }

    #[test]
    fn a_region_of_large_pure_units_gets_a_large_design_effect() {
        // 20 rows: one unit of 10, one of 5, five singletons.
        let units: Vec<usize> = (0..20)
            .map(|i| match i {
                0..10 => 0,
                10..15 => 1,
                _ => i,
            })
            .collect();
        let members: Vec<usize> = (0..20).collect();
        // Σc² / n = (100 + 25 + 5) / 20 = 6.5.
        assert!((unit_design_effect(&members, &units, 1.0) - 6.5).abs() < 1e-12);
        assert!((unit_design_effect(&members, &units, 0.5) - 3.75).abs() < 1e-12);
        assert_eq!(unit_design_effect(&members, &units, 0.0), 1.0);
        // Only singletons in the region: no clumping whatever ρ is.
        assert_eq!(unit_design_effect(&[15, 16, 17], &units, 1.0), 1.0);
    }

    /// Traffic where most questions are asked once and a few are asked 25
    /// ways, split by question (each question's wordings all on one side,
    /// golden with probability 1/3). The median region holds no paraphrase
    /// group, so the scale's `φ̂` stays near 1; a region that a whole group
    /// fills varies far more, and only its own design effect keeps it from
    /// being reported as a gap (without it: gaps in 2 of these 10 seeds).
    #[test]
    fn a_few_large_paraphrase_groups_on_one_side_are_no_gap() {
        use crate::semantic::testutil::{normal, normalise_rows};
        use rand::Rng;
        let d = 32;
        let mut fired = 0;
        for seed in 0..10u64 {
            let mut r = test_rng(7700 + seed);
            let topics = centers(20, d, &mut r);
            let (mut golden, mut production) = (Vec::new(), Vec::new());
            let near = |base: &[f32],
                        spread: f64,
                        r: &mut crate::semantic::linalg::SeededRng|
             -> Vec<f32> {
                let s = spread / (d as f64).sqrt();
                base.iter().map(|&b| b + (s * normal(r)) as f32).collect()
            };
            for t in 0..20 {
                for q in 0..31 {
                    let question = near(&topics.row(t).to_vec(), 1.0, &mut r);
                    let wordings = if q == 0 { 25 } else { 1 };
                    let side = if r.random_bool(1.0 / 3.0) {
                        &mut golden
                    } else {
                        &mut production
                    };
                    for _ in 0..wordings {
                        side.extend(near(&question, 0.2, &mut r));
                    }
                }
            }
            let rows = |v: Vec<f32>| {
                let mut x = ndarray::Array2::from_shape_vec((v.len() / d, d), v).unwrap();
                normalise_rows(&mut x);
                x
            };
            let (g, p) = (rows(golden), rows(production));
            let params = SemanticParams::builder().seed(seed).check().unwrap();
            let res = region_scan(g.view(), p.view(), &params).unwrap();
            assert!(
                res.unit_iccs.iter().all(|&rho| rho > 0.5),
                "{:?}",
                res.unit_iccs
            );
            fired += usize::from(!res.gaps.is_empty());
        }
        assert_eq!(fired, 0, "gaps in {fired} of 10 no-drift seeds");
    }

    #[test]
    fn a_gap_keeps_its_most_uncovered_members_and_never_empties() {
        // k = 10 at π̂ = 1/3: P[X ≤ 0] = 0.017 < 0.05 ≤ P[X ≤ 1] = 0.104
        // (scipy.stats.binom.cdf(0, 10, 1/3), binom.cdf(1, 10, 1/3)).
        let near: Vec<(usize, usize)> = (0..20).map(|j| (j, j % 4)).collect();
        assert_eq!(uncovered_members(&near, 10, 1.0 / 3.0), [0, 4, 8, 12, 16]);
        // Fewer than five rows with no golden neighbour: those under half the
        // expected 3.3 golden neighbours (0 or 1) are kept.
        let few = &near[..16];
        assert_eq!(
            uncovered_members(few, 10, 1.0 / 3.0),
            [0, 1, 4, 5, 8, 9, 12, 13]
        );
        // Fewer still: every row, so a gap always keeps members.
        assert_eq!(
            uncovered_members(&near[..6], 10, 1.0 / 3.0),
            [0, 1, 2, 3, 4, 5]
        );
        // At π̂ = 1/2, P[X ≤ 1] = 0.011 < 0.05 ≤ P[X ≤ 2] = 0.055: one golden
        // neighbour still counts as uncovered.
        assert_eq!(
            uncovered_members(&near, 10, 0.5),
            [0, 1, 4, 5, 8, 9, 12, 13, 16, 17]
        );
    }

    #[test]
    fn a_small_golden_set_judges_members_by_more_neighbours() {
        assert_eq!(member_neighbours(0.5), 10);
        assert_eq!(member_neighbours(1.0 / 3.0), 10);
        // Still 10 while none of 10 golden is in the tail: 0.7¹⁰ = 0.028.
        assert_eq!(member_neighbours(0.3), 10);
        assert_eq!(member_neighbours(0.26), 10);
        // 600 golden against 2,000 production: π̂ ≈ 0.23, k = ⌈3.33 / 0.23⌉.
        let k = member_neighbours(0.23);
        assert_eq!(k, 15);
        // With 10 neighbours no count is in the 5 % tail there
        // (0.77¹⁰ = 0.073), so members fell back to the looser rule; with
        // 15, none golden is (0.77¹⁵ = 0.020, scipy.stats.binom.cdf(0, 15, 0.23)).
        assert!(deflated_binomial_cdf(0, 10, 0.23, 1.0) > MEMBER_TAIL);
        assert!((deflated_binomial_cdf(0, k, 0.23, 1.0) - 0.019_832).abs() < 1e-5);
        let near: Vec<(usize, usize)> = (0..20).map(|j| (j, j % 4)).collect();
        assert_eq!(uncovered_members(&near, k, 0.23), [0, 4, 8, 12, 16]);
        assert_eq!(member_neighbours(0.01), 40);
    }

    #[test]
    fn baseline_ignores_the_regions_a_large_topic_empties() {
        // 30 covered regions at share 0.4, 10 all-production regions.
        let mut counts: Vec<(usize, usize)> = (0..30).map(|_| (12, 30)).collect();
        counts.extend((0..10).map(|_| (0, 30)));
        let pooled = 360.0 / 1200.0;
        assert!((baseline_share(&counts, pooled) - 0.4).abs() < 1e-12);
        // So the covered regions show no extra variance.
        assert_eq!(design_effect(&counts, baseline_share(&counts, pooled)), 1.0);
        assert_eq!(baseline_share(&counts[..3], 0.3), 0.3);
    }

    #[test]
    fn the_null_median_of_z2_counts_whole_numbers() {
        // scipy: the mixture of binom(n, p) over the sizes, z² of every
        // count, weighted by binom.pmf / len(sizes), cumulative mass ≥ 0.5.
        for (sizes, p, want) in [
            (&[25usize][..], 1.0 / 3.0, 0.5),
            (&[50][..], 1.0 / 6.0, 0.4),
            (&[12, 25, 50][..], 0.23, 0.352_907_961_603_614),
        ] {
            let got = null_median_z2(sizes, p).unwrap();
            assert!((got - want).abs() < 1e-9, "{sizes:?} {p}: {got}");
        }
        // Large regions: χ²₁'s median.
        let big = null_median_z2(&[10_000], 0.3).unwrap();
        assert!((big - CHI2_1_MEDIAN).abs() < 0.01, "{big}");
        assert_eq!(null_median_z2(&[], 0.3), None);
    }

    #[test]
    fn a_small_golden_set_pools_every_production_row() {
        // Golden 300, production 1,500 with a new topic of 120 rows (8 %).
        // Production used to be capped at twice golden (600 rows, about 48
        // of the topic's); now every row is pooled, and the gap holds the
        // topic's rows, judged by 20 neighbours at π̂ ≈ 1/6.
        let mut r = test_rng(43);
        let c = centers(9, 32, &mut r);
        let old = c.slice(ndarray::s![..8, ..]).to_owned();
        let (g, _) = blobs(300, &old, &[1.0; 8], 0.6, &mut r);
        let (p, pid) = with_new_blob(1500, 120, &c, 8, 0.6, &mut r);
        let params = SemanticParams::builder().seed(5).check().unwrap();
        let res = region_scan(g.view(), p.view(), &params).unwrap();
        assert_eq!((res.golden_used, res.production_used), (300, 1500));
        assert!(!res.gaps.is_empty(), "{res:?}");
        let members: Vec<usize> = res.gaps.iter().flat_map(|g| g.production.clone()).collect();
        let new = members.iter().filter(|&&i| pid[i] == 8).count();
        assert!(
            new >= 80 && new * 10 >= members.len() * 9,
            "{new} of {}",
            members.len()
        );
    }

    #[test]
    fn a_new_blob_is_a_significant_region_and_no_drift_is_quiet() {
        let mut r = test_rng(41);
        let c = centers(9, 32, &mut r);
        let old = c.slice(ndarray::s![..8, ..]).to_owned();
        let (g, _) = blobs(400, &old, &[1.0; 8], 0.6, &mut r);
        let (p, pid) = with_new_blob(800, 60, &c, 8, 0.6, &mut r);
        let params = SemanticParams::builder().seed(3).check().unwrap();
        let res = region_scan(g.view(), p.view(), &params).unwrap();
        let top = res.gaps.first().expect("a gap region");
        let new = top.production.iter().filter(|&&i| pid[i] == 8).count();
        assert!(
            new * 10 >= top.production.len() * 8 && new >= 30,
            "{new} of {}",
            top.production.len()
        );
        assert!(top.p_holm < 0.05);
        assert_eq!(res, region_scan(g.view(), p.view(), &params).unwrap());

        let mut fired = 0;
        for seed in 0..20u64 {
            let mut r = test_rng(9000 + seed);
            let c = centers(8, 32, &mut r);
            let (g, _) = blobs(300, &c, &[1.0; 8], 0.6, &mut r);
            let (p, _) = blobs(600, &c, &[1.0; 8], 0.6, &mut r);
            let params = SemanticParams::builder().seed(seed).check().unwrap();
            fired += usize::from(
                !region_scan(g.view(), p.view(), &params)
                    .unwrap()
                    .gaps
                    .is_empty(),
            );
        }
        assert!(fired <= 2, "fired {fired} of 20 without drift");
    }
}
