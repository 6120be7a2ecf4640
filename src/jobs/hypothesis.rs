//! Testing one metric, golden vs production, and deciding verdicts for a run.
//!
//! p-values always come from a significance test matched to the metric's type —
//! two-sample KS for numbers, χ² homogeneity for categories, the pooled
//! two-proportion z-test for rates — so the Benjamini–Hochberg correction runs
//! over real p-values. The *effect size* a finding must also exceed is chosen by
//! reference size like Evidently's defaults: KS D (n ≤ 1000) or Wasserstein-1
//! normalised by the reference std (n > 1000) for numbers; Jensen–Shannon
//! distance for categories; the absolute rate difference for rates. A per-metric
//! override picks PSI, Wasserstein or KS explicitly.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::config::{EffectFloors, TestChoice};
use super::profile::RefColumn;
use crate::stats;
use crate::store::{Finding, FindingDetails, FindingKind, Verdict};

/// Reference size up to which KS D (and χ²) are the effect measures, as in Evidently.
pub const SMALL_REFERENCE: usize = 1000;

/// Production values of one metric.
#[derive(Debug)]
pub enum CurColumn<'a> {
    Numeric(&'a mut [f64]),
    Rate {
        successes: u64,
        n: u64,
    },
    Categorical(&'a [String]),
    /// A categorical column given as counts per label (what a metric table
    /// holds): tested exactly as [`CurColumn::Categorical`] with those values.
    CategoryCounts(BTreeMap<&'a str, u64>),
}

/// The outcome of testing one metric, before the run-wide correction.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricTest {
    pub test: &'static str,
    pub statistic: Option<f64>,
    pub p_value: Option<f64>,
    pub effect_size: Option<f64>,
    pub threshold: Option<f64>,
    pub ref_n: usize,
    pub cur_n: usize,
    /// Summaries for reports; `skipped` set when not tested.
    pub details: FindingDetails,
}

fn skipped(reason: String, ref_n: usize, cur_n: usize) -> MetricTest {
    MetricTest {
        test: "none",
        statistic: None,
        p_value: None,
        effect_size: None,
        threshold: None,
        ref_n,
        cur_n,
        details: FindingDetails::skipped(reason),
    }
}

fn summary(sorted: &[f64]) -> Value {
    let q = |p: f64| stats::quantile(sorted, p);
    json!({
        "mean": stats::mean(sorted),
        "p05": q(0.05),
        "p50": q(0.5),
        "p95": q(0.95),
    })
}

/// The `k`-th smallest value (from 0, in `f64::total_cmp` order) of the two
/// sorted slices together, i.e. `pooled[k]` of their sorted concatenation,
/// found by bisection without building it. `k` < `a.len() + b.len()`.
fn kth_of_two_sorted(a: &[f64], b: &[f64], k: usize) -> f64 {
    // Take `i` values from `a` and `total - i` from `b`: the smallest `i` with
    // a[i] >= b[total - i - 1] is the split of the first `total` values.
    let total = k + 1;
    let (mut lo, mut hi) = (total.saturating_sub(b.len()), total.min(a.len()));
    while lo < hi {
        let i = (lo + hi) / 2;
        if a[i].total_cmp(&b[total - i - 1]).is_lt() {
            lo = i + 1;
        } else {
            hi = i;
        }
    }
    let (i, j) = (lo, total - lo);
    match (i, j) {
        (0, _) => b[j - 1],
        (_, 0) => a[i - 1],
        _ => a[i - 1].max_by_total(b[j - 1]),
    }
}

/// Extension: `max` in `total_cmp` order.
trait MaxByTotal {
    fn max_by_total(self, other: Self) -> Self;
}

impl MaxByTotal for f64 {
    fn max_by_total(self, other: f64) -> f64 {
        if self.total_cmp(&other).is_lt() {
            other
        } else {
            self
        }
    }
}

/// [`stats::quantile`] of the sorted concatenation of two sorted slices,
/// without building it: the two order statistics the quantile interpolates
/// between are found in place and interpolated by `stats::quantile` itself
/// (on two values, at the same fraction), so the result is bit-identical.
fn pooled_quantile(a: &[f64], b: &[f64], q: f64) -> Option<f64> {
    let (i, j, gamma) = stats::quantile_positions(a.len() + b.len(), q)?;
    let pair = [kth_of_two_sorted(a, b, i), kth_of_two_sorted(a, b, j)];
    stats::quantile(&pair, gamma)
}

/// 20 equal-width bins over the pooled 1st–99th percentile range, for charts.
/// `r` and `c` are sorted.
fn chart_histogram(r: &[f64], c: &[f64]) -> Value {
    let lo = pooled_quantile(r, c, 0.01).unwrap_or(0.0);
    let mut hi = pooled_quantile(r, c, 0.99).unwrap_or(1.0);
    if !(hi > lo) {
        hi = lo + 1.0;
    }
    let bins = 20usize;
    let w = (hi - lo) / bins as f64;
    let count = |xs: &[f64]| {
        let mut h = vec![0u64; bins];
        for &x in xs {
            let i = (((x - lo) / w).floor().max(0.0) as usize).min(bins - 1);
            h[i] += 1;
        }
        h
    };
    json!({ "lo": lo, "hi": hi, "reference": count(r), "production": count(c) })
}

/// Tests one metric. `choice` overrides the default effect measure.
pub fn test_metric(
    reference: &RefColumn,
    current: CurColumn<'_>,
    floors: &EffectFloors,
    choice: Option<TestChoice>,
    min_samples: usize,
) -> MetricTest {
    let ref_n = reference.len();
    let cur_n = match &current {
        CurColumn::Numeric(v) => v.len(),
        CurColumn::Rate { n, .. } => *n as usize,
        CurColumn::Categorical(v) => v.len(),
        CurColumn::CategoryCounts(c) => c.values().sum::<u64>() as usize,
    };
    if ref_n < min_samples || cur_n < min_samples {
        return skipped(
            format!(
                "too few values: {ref_n} golden, {cur_n} production (min_samples {min_samples})"
            ),
            ref_n,
            cur_n,
        );
    }
    match (reference, current) {
        (RefColumn::Numeric { sorted: r }, CurColumn::Numeric(c)) => {
            // Values equal in total order are identical bits: unstable is exact.
            c.sort_unstable_by(f64::total_cmp);
            let c: &[f64] = c;
            let ks = match stats::ks_2samp_sorted(r, c) {
                Ok(k) => k,
                Err(e) => return skipped(format!("KS failed: {e}"), ref_n, cur_n),
            };
            let edges = stats::quantile_bin_edges(r, 10);
            let psi = stats::psi(&stats::histogram(r, &edges), &stats::histogram(c, &edges)).ok();
            let wn = stats::wasserstein_normed(r, c).ok();
            let choice = choice.unwrap_or(if ref_n <= SMALL_REFERENCE {
                TestChoice::Ks
            } else {
                TestChoice::Wasserstein
            });
            let (test, effect, threshold) = match choice {
                TestChoice::Psi => ("psi", psi, floors.psi),
                TestChoice::Wasserstein => ("wasserstein_normed", wn, floors.wasserstein),
                _ => ("ks", Some(ks.statistic), floors.ks),
            };
            MetricTest {
                test,
                statistic: effect,
                p_value: Some(ks.p_value),
                effect_size: effect,
                threshold: Some(threshold),
                ref_n,
                cur_n,
                details: FindingDetails {
                    reference: Some(summary(r)),
                    production: Some(summary(c)),
                    ..Default::default()
                }
                .with("p_from", "ks")
                .with("ks_d", ks.statistic)
                .with("psi", psi)
                .with("wasserstein_normed", wn)
                .with("histogram", chart_histogram(r, c)),
            }
        }
        (
            RefColumn::Rate {
                successes: rs,
                n: rn,
            },
            CurColumn::Rate {
                successes: cs,
                n: cn,
            },
        ) => {
            let z = match stats::two_proportion_ztest(*rs, *rn, cs, cn) {
                Ok(z) => z,
                Err(e) => return skipped(format!("z-test failed: {e}"), ref_n, cur_n),
            };
            let (pr, pc) = (*rs as f64 / *rn as f64, cs as f64 / cn as f64);
            MetricTest {
                test: "z",
                statistic: Some(z.statistic),
                p_value: Some(z.p_value),
                effect_size: Some((pc - pr).abs()),
                threshold: Some(floors.rate),
                ref_n,
                cur_n,
                details: FindingDetails {
                    reference_rate: Some(pr),
                    production_rate: Some(pc),
                    ..Default::default()
                },
            }
        }
        (
            RefColumn::Categorical { counts },
            current @ (CurColumn::Categorical(_) | CurColumn::CategoryCounts(_)),
        ) => {
            let cur: BTreeMap<&str, u64> = match current {
                CurColumn::CategoryCounts(c) => c,
                CurColumn::Categorical(c) => {
                    let mut cur = BTreeMap::new();
                    for x in c {
                        *cur.entry(x.as_str()).or_insert(0) += 1;
                    }
                    cur
                }
                _ => unreachable!("matched above"),
            };
            let keys: Vec<&str> = counts
                .keys()
                .map(String::as_str)
                .chain(cur.keys().copied())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let rv: Vec<u64> = keys
                .iter()
                .map(|k| counts.get(*k).copied().unwrap_or(0))
                .collect();
            let cv: Vec<u64> = keys
                .iter()
                .map(|k| cur.get(k).copied().unwrap_or(0))
                .collect();
            let (keys, rv, cv) = pool_rare(keys, rv, cv);
            let chi = match stats::chi2_categories(&rv, &cv) {
                Ok(t) => t,
                Err(e) => return skipped(format!("chi2 failed: {e}"), ref_n, cur_n),
            };
            let js = stats::jensen_shannon_distance(&rv, &cv).ok();
            let share = |v: &[u64]| -> BTreeMap<String, f64> {
                let t: u64 = v.iter().sum();
                keys.iter()
                    .zip(v)
                    .map(|(k, n)| (k.to_string(), *n as f64 / t.max(1) as f64))
                    .collect()
            };
            let test = if ref_n <= SMALL_REFERENCE && choice != Some(TestChoice::Js) {
                "chi2"
            } else {
                "js"
            };
            MetricTest {
                test,
                statistic: if test == "chi2" {
                    Some(chi.statistic)
                } else {
                    js
                },
                p_value: Some(chi.p_value),
                effect_size: js,
                threshold: Some(floors.js),
                ref_n,
                cur_n,
                details: FindingDetails {
                    reference: Some(json!(share(&rv))),
                    production: Some(json!(share(&cv))),
                    ..Default::default()
                }
                .with("p_from", "chi2")
                .with("js_distance", js)
                .with("chi2", chi.statistic),
            }
        }
        _ => skipped(
            "reference and production columns differ in type".into(),
            ref_n,
            cur_n,
        ),
    }
}

/// The run's one decision rule.
///
/// 1. Every tested finding (a p-value, not skipped) is adjusted for
///    multiplicity: Benjamini–Hochberg across the run's findings, except the
///    findings of a family already adjusted family-wise where it was computed
///    (`details.family` set, e.g. gap regions: Holm over every region tested),
///    which keep that adjusted p.
/// 2. A finding is `Drifted` iff its adjusted p < `alpha` **and** its effect
///    size ≥ its floor (`threshold`; no floor → any effect). Otherwise `Ok`.
///
/// Skipped findings keep `Verdict::Skipped`. So no finding is ever drifted
/// with an adjusted p at or above α or an effect under its floor, and the
/// adjusted p the report shows is the one that decided.
pub fn decide_verdicts(findings: &mut [Finding], alpha: f64) {
    let tested = |f: &Finding| f.verdict != Verdict::Skipped && f.p_value.is_some();
    let own_family = |f: &Finding| f.details.family.is_some();
    let idx: Vec<usize> = findings
        .iter()
        .enumerate()
        .filter(|(_, f)| tested(f) && !own_family(f))
        .map(|(i, _)| i)
        .collect();
    let ps: Vec<f64> = idx
        .iter()
        .map(|&i| findings[i].p_value.unwrap_or(1.0))
        .collect();
    let adj = stats::benjamini_hochberg(&ps);
    for (&i, &pa) in idx.iter().zip(&adj) {
        findings[i].p_adjusted = Some(pa);
    }
    for f in findings.iter_mut().filter(|f| tested(f)) {
        let pa = f.p_adjusted.or(f.p_value).unwrap_or(1.0);
        f.p_adjusted = Some(pa);
        let big_enough = match (f.effect_size, f.threshold) {
            (Some(e), Some(t)) => e >= t,
            (Some(_), None) => true,
            _ => false,
        };
        f.verdict = if pa < alpha && big_enough {
            Verdict::Drifted
        } else {
            Verdict::Ok
        };
    }
}

/// A finding from one metric's test, before the run-wide verdicts.
pub(super) fn to_finding(
    job: &str,
    kind: FindingKind,
    metric: &str,
    side: &str,
    t: MetricTest,
) -> Finding {
    let verdict = if t.p_value.is_none() {
        Verdict::Skipped
    } else {
        Verdict::Ok
    };
    Finding {
        id: 0,
        run_id: 0,
        job: job.to_string(),
        kind,
        metric: metric.to_string(),
        side: side.to_string(),
        test: t.test.to_string(),
        statistic: t.statistic,
        p_value: t.p_value,
        p_adjusted: None,
        effect_size: t.effect_size,
        threshold: t.threshold,
        verdict,
        ref_n: t.ref_n as i64,
        cur_n: t.cur_n as i64,
        details: t.details,
    }
}

/// Name of the pooled rare categories.
pub const OTHER_CATEGORY: &str = "(other)";

/// Smallest expected count a category keeps its own column at.
const MIN_EXPECTED: f64 = 5.0;

/// Pools the categories whose expected count is below [`MIN_EXPECTED`] in
/// either sample into one [`OTHER_CATEGORY`] column (kept last), before the
/// χ² test and the Jensen–Shannon effect.
///
/// Why: χ² is anti-conservative when expected counts are small (Cochran's
/// rule: none below 1 and at most a fifth below 5; Agresti 2013, §3.2.1), and a
/// scatter of rare categories (one text in a hundred given a neighbouring
/// language) inflates the JS distance by noise alone: with 200 texts a side
/// it reached the 0.1 floor on samples that did not differ. A real shift into
/// a new category of a few per cent still shows, in the pooled column.
/// Expected counts are `Eᵢⱼ = Rᵢ·Cⱼ / N` as in [`stats::chi2_categories`].
pub(crate) fn pool_rare(
    keys: Vec<&str>,
    rv: Vec<u64>,
    cv: Vec<u64>,
) -> (Vec<&str>, Vec<u64>, Vec<u64>) {
    let (rt, ct) = (rv.iter().sum::<u64>() as f64, cv.iter().sum::<u64>() as f64);
    let n = rt + ct;
    if n == 0.0 {
        return (keys, rv, cv);
    }
    let small = rt.min(ct);
    let (mut k2, mut r2, mut c2) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ro, mut co, mut pooled) = (0u64, 0u64, 0usize);
    for ((k, r), c) in keys.into_iter().zip(rv).zip(cv) {
        if small * (r + c) as f64 / n < MIN_EXPECTED {
            ro += r;
            co += c;
            pooled += 1;
        } else {
            k2.push(k);
            r2.push(r);
            c2.push(c);
        }
    }
    if pooled > 0 {
        k2.push(OTHER_CATEGORY);
        r2.push(ro);
        c2.push(co);
    }
    (k2, r2, c2)
}

#[cfg(test)]
mod pooling_tests {
    use super::*;

    #[test]
    fn rare_categories_are_pooled_before_testing() {
        // 500 golden vs 200 production: a category needs (r + c) ≥ 17.5 to
        // expect 5 in production.
        let (k, r, c) = pool_rare(
            vec!["deu", "eng", "nld", "spa", "und"],
            vec![1, 400, 2, 30, 67],
            vec![2, 150, 1, 20, 27],
        );
        assert_eq!(k, ["eng", "spa", "und", OTHER_CATEGORY]);
        assert_eq!(r, [400, 30, 67, 3]);
        assert_eq!(c, [150, 20, 27, 3]);
        // Nothing rare: unchanged, no extra column.
        let (k, _, _) = pool_rare(vec!["a", "b"], vec![50, 50], vec![50, 50]);
        assert_eq!(k, ["a", "b"]);
    }

    #[test]
    fn a_new_language_is_still_found_after_pooling_and_scattered_labels_are_not() {
        let reference = RefColumn::Categorical {
            counts: [("eng".to_string(), 950), ("und".to_string(), 50)]
                .into_iter()
                .collect(),
        };
        let floors = EffectFloors::default();
        let column = |parts: &[(&str, usize)]| -> Vec<String> {
            parts
                .iter()
                .flat_map(|(k, n)| std::iter::repeat_n(k.to_string(), *n))
                .collect()
        };
        // 10 % of 200 production texts in Spanish: expected 3.3 < 5, so it
        // is pooled, and the pooled column carries the shift.
        let spanish = column(&[("eng", 170), ("und", 10), ("spa", 20)]);
        let t = test_metric(
            &reference,
            CurColumn::Categorical(&spanish),
            &floors,
            None,
            30,
        );
        assert!(t.p_value.unwrap() < 1e-6, "{t:?}");
        assert!(t.effect_size.unwrap() >= floors.js, "{t:?}");
        // Three texts given three different neighbouring languages stay
        // under the effect floor (JS 0.087, as scipy's jensenshannon gives
        // for [950, 50, 0] vs [187, 10, 3], base 2).
        let scattered = column(&[
            ("eng", 187),
            ("und", 10),
            ("deu", 1),
            ("nld", 1),
            ("swe", 1),
        ]);
        let t = test_metric(
            &reference,
            CurColumn::Categorical(&scattered),
            &floors,
            None,
            30,
        );
        assert!(t.effect_size.unwrap() < floors.js, "{t:?}");
        // The same column given as counts per label is the same test.
        for values in [&spanish, &scattered] {
            let mut counts = BTreeMap::new();
            for v in values.iter() {
                *counts.entry(v.as_str()).or_insert(0u64) += 1;
            }
            let a = test_metric(
                &reference,
                CurColumn::Categorical(values),
                &floors,
                None,
                30,
            );
            let b = test_metric(
                &reference,
                CurColumn::CategoryCounts(counts),
                &floors,
                None,
                30,
            );
            assert_eq!(a, b);
        }
    }
}

#[cfg(test)]
mod tests {

    fn gap(p: f64, p_family: f64, effect: f64) -> Finding {
        let mut f = crate::store::Finding {
            id: 0,
            run_id: 0,
            job: "j".into(),
            kind: crate::store::FindingKind::Coverage,
            metric: "input.gap.3".into(),
            side: "input".into(),
            test: "gap".into(),
            statistic: None,
            p_value: Some(p),
            p_adjusted: Some(p_family),
            effect_size: Some(effect),
            threshold: Some(0.005),
            verdict: Verdict::Ok,
            ref_n: 0,
            cur_n: 0,
            details: FindingDetails {
                gap: true,
                family: Some("gap_regions".into()),
                ..Default::default()
            },
        };
        f.verdict = Verdict::Ok;
        f
    }

    #[test]
    fn a_gap_verdict_follows_its_family_adjusted_p_and_its_floor() {
        // Raw p 0.001 but Holm over the regions 0.3: not drifted, and the
        // shown adjusted p is the family's, not a BH value.
        let mut fs = vec![
            gap(0.001, 0.3, 0.05),
            gap(1e-9, 1e-6, 0.002),
            gap(1e-9, 1e-6, 0.05),
        ];
        decide_verdicts(&mut fs, 0.05);
        assert_eq!(fs[0].verdict, Verdict::Ok);
        assert_eq!(fs[0].p_adjusted, Some(0.3));
        assert_eq!(fs[1].verdict, Verdict::Ok, "effect under its floor");
        assert_eq!(fs[2].verdict, Verdict::Drifted);
    }
    use super::*;

    fn col(v: Vec<f64>) -> RefColumn {
        let mut s = v;
        s.sort_by(f64::total_cmp);
        RefColumn::Numeric { sorted: s }
    }

    #[test]
    fn numeric_shift_found_and_small_samples_skipped() {
        let r = col((0..500).map(|i| (i % 50) as f64).collect());
        let mut c: Vec<f64> = (0..500).map(|i| (i % 50) as f64 * 0.25).collect();
        let t = test_metric(
            &r,
            CurColumn::Numeric(&mut c),
            &EffectFloors::default(),
            None,
            30,
        );
        assert_eq!(t.test, "ks");
        assert!(t.p_value.unwrap() < 1e-10);
        assert!(t.effect_size.unwrap() > 0.5);
        let mut few = vec![1.0; 5];
        let t = test_metric(
            &r,
            CurColumn::Numeric(&mut few),
            &EffectFloors::default(),
            None,
            30,
        );
        assert_eq!(t.test, "none");
        assert!(t.details.skipped.as_deref().unwrap().contains("too few"));
    }

    #[test]
    fn large_reference_uses_normed_wasserstein_as_effect() {
        let r = col((0..2000).map(|i| (i % 100) as f64).collect());
        let mut c: Vec<f64> = (0..2000).map(|i| (i % 100) as f64).collect();
        let t = test_metric(
            &r,
            CurColumn::Numeric(&mut c),
            &EffectFloors::default(),
            None,
            30,
        );
        assert_eq!(t.test, "wasserstein_normed");
        assert_eq!(t.effect_size, Some(0.0));
        assert!(t.p_value.unwrap() > 0.99);
    }

    fn finding(p: f64, effect: f64, floor: f64) -> Finding {
        Finding {
            id: 0,
            run_id: 0,
            job: "j".into(),
            kind: crate::store::FindingKind::Structural,
            metric: "m".into(),
            side: "input".into(),
            test: "ks".into(),
            statistic: None,
            p_value: Some(p),
            p_adjusted: None,
            effect_size: Some(effect),
            threshold: Some(floor),
            verdict: Verdict::Ok,
            ref_n: 100,
            cur_n: 100,
            details: FindingDetails::default(),
        }
    }

    #[test]
    fn a_finding_needs_significance_and_effect() {
        // Significant but trivial; large but not significant after BH; both.
        let mut f = vec![
            finding(1e-9, 0.01, 0.1),
            finding(0.04, 0.5, 0.1),
            finding(1e-6, 0.3, 0.1),
        ];
        // add more null tests so BH pushes 0.04 up
        for _ in 0..5 {
            f.push(finding(0.8, 0.0, 0.1));
        }
        decide_verdicts(&mut f, 0.05);
        assert_eq!(f[0].verdict, Verdict::Ok);
        assert_eq!(f[1].verdict, Verdict::Ok);
        assert!(f[1].p_adjusted.unwrap() > 0.05);
        assert_eq!(f[2].verdict, Verdict::Drifted);
    }

    /// The quantiles of the pooled sample, computed in place, equal those of
    /// the sorted concatenation bit for bit (ties, signed zeros, uneven sizes).
    #[test]
    fn pooled_quantiles_equal_those_of_the_sorted_concatenation() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 33
        };
        for (na, nb) in [(0, 1), (1, 0), (1, 1), (5, 0), (3, 17), (40, 9), (100, 100)] {
            let mut a: Vec<f64> = (0..na).map(|_| (next() % 7) as f64 - 3.0).collect();
            let mut b: Vec<f64> = (0..nb).map(|_| (next() % 11) as f64 * 0.5 - 2.0).collect();
            if na > 0 {
                a[0] = -0.0;
            }
            a.sort_by(f64::total_cmp);
            b.sort_by(f64::total_cmp);
            let mut pooled: Vec<f64> = a.iter().chain(&b).copied().collect();
            pooled.sort_by(f64::total_cmp);
            for (k, want) in pooled.iter().enumerate() {
                let got = kth_of_two_sorted(&a, &b, k);
                assert_eq!(got.to_bits(), want.to_bits(), "k={k} of {na}+{nb}");
            }
            for q in [0.0, 0.01, 0.05, 0.3, 0.5, 0.99, 1.0] {
                let want = stats::quantile(&pooled, q).map(f64::to_bits);
                assert_eq!(pooled_quantile(&a, &b, q).map(f64::to_bits), want, "q={q}");
            }
        }
        assert_eq!(pooled_quantile(&[], &[], 0.5), None);
    }

    #[test]
    fn rate_drop_is_effect_in_points() {
        let r = RefColumn::Rate {
            successes: 200,
            n: 200,
        };
        let t = test_metric(
            &r,
            CurColumn::Rate {
                successes: 170,
                n: 200,
            },
            &EffectFloors::default(),
            None,
            30,
        );
        assert_eq!(t.test, "z");
        assert!((t.effect_size.unwrap() - 0.15).abs() < 1e-12);
        assert!(t.p_value.unwrap() < 1e-5);
    }
}
