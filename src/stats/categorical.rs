//! Tests for categorical and binary columns: chi-square homogeneity and the
//! pooled two-proportion z-test.

use statrs::distribution::{ChiSquared, ContinuousCDF};
use statrs::function::gamma::gamma_ur;

use super::{KahanSum, StatsError, TestResult};

/// Chi-square test of homogeneity for reference vs current category counts.
///
/// # Definition
/// Build the 2×K' contingency table whose rows are `ref_counts` and
/// `cur_counts`, after dropping every category that is zero in both
/// (K' ≤ K kept columns). With row totals `Rᵢ`, column totals `Cⱼ` and grand
/// total `N`, expected counts are `Eᵢⱼ = Rᵢ·Cⱼ / N` and
/// `χ² = Σᵢⱼ (Oᵢⱼ − Eᵢⱼ)² / Eᵢⱼ`, referred to a χ² distribution with
/// `df = K' − 1` degrees of freedom; `p = P(χ²_df ≥ χ²)`.
///
/// # Remarks
/// * No Yates continuity correction (also for K' = 2).
/// * Categories absent from both samples carry no information and would make
///   `Eᵢⱼ = 0`; they are dropped, which is why `df` counts only the kept
///   columns.
/// * K' = 1 (a single observed category): `df = 0`, the samples cannot
///   differ, and the result is `statistic = 0, p = 1` (SciPy's convention).
/// * Errors: different lengths → [`StatsError::InvalidArgument`]; no
///   categories or an all-zero row (e.g. an empty current window) →
///   [`StatsError::SampleTooSmall`]. Never NaN.
/// * Counts are converted to `f64` (exact below 2⁵³).
///
/// # Reference
/// Agresti, A. (2013), *Categorical Data Analysis*, 3rd ed., §3.2. Matches
/// `scipy.stats.chi2_contingency([ref, cur], correction=False)` on the table
/// with all-zero columns removed.
///
/// # Examples
/// ```text
/// let r = chi2_categories(&[10, 20, 30], &[20, 20, 20])?;
/// // r.statistic == 5.333333333333334, r.p_value == 0.0694834512228015 (df = 2)
/// ```
pub fn chi2_categories(ref_counts: &[u64], cur_counts: &[u64]) -> Result<TestResult, StatsError> {
    if ref_counts.len() != cur_counts.len() {
        return Err(StatsError::InvalidArgument(format!(
            "count vectors differ in length: {} vs {}",
            ref_counts.len(),
            cur_counts.len()
        )));
    }
    let r_tot = ref_counts.iter().fold(0_u64, |s, &c| s.saturating_add(c));
    let c_tot = cur_counts.iter().fold(0_u64, |s, &c| s.saturating_add(c));
    if r_tot == 0 || c_tot == 0 {
        return Err(StatsError::SampleTooSmall { needed: 1, got: 0 });
    }
    let (rt, ct) = (r_tot as f64, c_tot as f64);
    let n = rt + ct;
    let mut kept = 0_usize;
    let mut stat = KahanSum::default();
    for (&r, &c) in ref_counts.iter().zip(cur_counts) {
        if r == 0 && c == 0 {
            continue;
        }
        kept += 1;
        let col = r as f64 + c as f64;
        for (obs, row) in [(r as f64, rt), (c as f64, ct)] {
            let e = row * col / n;
            let d = obs - e;
            stat.add(d * d / e);
        }
    }
    if kept < 2 {
        return Ok(TestResult {
            statistic: 0.0,
            p_value: 1.0,
        });
    }
    let statistic = stat.total().max(0.0);
    let dist = ChiSquared::new((kept - 1) as f64)
        .map_err(|e| StatsError::InvalidArgument(e.to_string()))?;
    let p_value = dist.sf(statistic).clamp(0.0, 1.0);
    Ok(TestResult { statistic, p_value })
}

/// Pooled two-sample z-test for equal proportions, two-sided.
///
/// # Definition
/// With `p̂₁ = x₁/n₁`, `p̂₂ = x₂/n₂` and pooled `p̂ = (x₁ + x₂)/(n₁ + n₂)`:
/// `z = (p̂₁ − p̂₂) / sqrt(p̂·(1 − p̂)·(1/n₁ + 1/n₂))` and
/// `p = 2·(1 − Φ(|z|)) = erfc(|z|/√2)`.
///
/// # Remarks
/// * Degenerate pooled proportion (both samples all-0 or all-1, so the
///   standard error is 0): the proportions are identical and the result is
///   `statistic = 0, p = 1` (statsmodels would return NaN).
/// * The p-value is computed as the regularised upper incomplete gamma
///   `Q(1/2, z²/2)`, accurate to ~1e-15 relative even in the far tail.
/// * Errors: `n₁ = 0` or `n₂ = 0` → [`StatsError::SampleTooSmall`];
///   `x > n` → [`StatsError::InvalidArgument`]. Never NaN.
///
/// # Reference
/// Fleiss, Levin & Paik (2003), *Statistical Methods for Rates and
/// Proportions*, 3rd ed., §3.2. Matches
/// `statsmodels.stats.proportion.proportions_ztest([x1, x2], [n1, n2])`
/// (`alternative='two-sided'`, `prop_var=False`).
///
/// # Examples
/// ```text
/// let r = two_proportion_ztest(45, 100, 30, 100)?;
/// // r.statistic ≈ 2.1909, r.p_value ≈ 0.02846
/// ```
pub fn two_proportion_ztest(x1: u64, n1: u64, x2: u64, n2: u64) -> Result<TestResult, StatsError> {
    for n in [n1, n2] {
        if n == 0 {
            return Err(StatsError::SampleTooSmall { needed: 1, got: 0 });
        }
    }
    if x1 > n1 || x2 > n2 {
        return Err(StatsError::InvalidArgument(format!(
            "successes exceed trials: {x1}/{n1}, {x2}/{n2}"
        )));
    }
    let (x1f, n1f, x2f, n2f) = (x1 as f64, n1 as f64, x2 as f64, n2 as f64);
    let diff = x1f / n1f - x2f / n2f;
    let pooled = (x1f + x2f) / (n1f + n2f);
    let var = pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f);
    if var <= 0.0 {
        return Ok(TestResult {
            statistic: 0.0,
            p_value: 1.0,
        });
    }
    let z = diff / var.sqrt();
    let p_value = if z == 0.0 {
        1.0
    } else {
        gamma_ur(0.5, z * z / 2.0).clamp(0.0, 1.0)
    };
    Ok(TestResult {
        statistic: z,
        p_value,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::assert_close;
    use super::super::tol;
    use super::*;

    fn check(r: TestResult, stat: f64, p: f64) {
        assert_close(r.statistic, stat, tol::REL, 0.0);
        assert_close(r.p_value, p, tol::REL, 0.0);
    }

    // Expected values: scipy 1.17.1, printing `repr(r.statistic), repr(r.pvalue), r.dof` of
    // r = chi2_contingency(t, correction=False) for each table t:
    // python3 -c "from scipy.stats import chi2_contingency as c; [print(repr(r.statistic), repr(r.pvalue), r.dof) for r in (c(t, correction=False) for t in [[[10,20,30],[20,20,20]], [[12,3],[17,16]], [[5,17,40,1],[9,30,12,4]], [[500,1700,4000,100],[560,1650,4100,130]]])]"
    #[test]
    fn chi2_categories_matches_scipy() {
        check(
            chi2_categories(&[10, 20, 30], &[20, 20, 20]).unwrap(),
            5.333333333333334,
            0.0694834512228015,
        );
        check(
            chi2_categories(&[12, 3], &[17, 16]).unwrap(),
            3.498828576142551,
            0.061412253987091166,
        );
        check(
            chi2_categories(&[5, 17, 40, 1], &[9, 30, 12, 4]).unwrap(),
            21.170459503347047,
            9.703404787095189e-05,
        );
        check(
            chi2_categories(&[500, 1700, 4000, 100], &[560, 1650, 4100, 130]).unwrap(),
            7.752581101843803,
            0.05141167335227237,
        );
    }

    // All-zero columns are dropped before calling scipy (df = 2 here):
    // python3 -c "from scipy.stats import chi2_contingency as c; r=c([[10,30,5],[20,25,9]], correction=False); print(repr(r.statistic), repr(r.pvalue), r.dof)"
    // A zero in one row only is kept:
    // python3 -c "from scipy.stats import chi2_contingency as c; r=c([[0,10,5],[4,10,5]], correction=False); print(repr(r.statistic), repr(r.pvalue), r.dof)"
    #[test]
    fn chi2_categories_matches_scipy_with_zero_column() {
        check(
            chi2_categories(&[10, 0, 30, 5, 0], &[20, 0, 25, 9, 0]).unwrap(),
            4.146825396825396,
            0.1257558816649374,
        );
        check(
            chi2_categories(&[0, 10, 5], &[4, 10, 5]).unwrap(),
            3.578947368421052,
            0.16704806656928445,
        );
    }

    #[test]
    fn chi2_categories_degenerate_and_errors() {
        let one = TestResult {
            statistic: 0.0,
            p_value: 1.0,
        };
        // K' = 1 (df = 0): scipy returns (0.0, 1.0).
        assert_eq!(chi2_categories(&[7], &[3]).unwrap(), one);
        assert_eq!(chi2_categories(&[0, 7, 0], &[0, 3, 0]).unwrap(), one);
        // Identical proportions.
        assert_eq!(
            chi2_categories(&[1, 2, 3], &[2, 4, 6]).unwrap().p_value,
            1.0
        );
        let too_small = Err(StatsError::SampleTooSmall { needed: 1, got: 0 });
        assert_eq!(chi2_categories(&[], &[]), too_small);
        assert_eq!(chi2_categories(&[0, 0], &[1, 2]), too_small);
        assert_eq!(chi2_categories(&[1, 2], &[0, 0]), too_small);
        assert!(matches!(
            chi2_categories(&[1, 2], &[1]),
            Err(StatsError::InvalidArgument(_))
        ));
    }

    // Expected values: statsmodels 0.15.0, printing `repr(stat), repr(p)` of
    // proportions_ztest([x1, x2], [n1, n2]) for each case:
    // python3 -c "from statsmodels.stats.proportion import proportions_ztest as z; [print(repr(s), repr(p)) for s, p in (z([a,c],[b,d]) for a,b,c,d in [(45,100,30,100),(3,1000,17,1200),(0,50,5,10),(480000,1000000,49000,100000),(7,7,3,9)])]"
    #[test]
    fn two_proportion_ztest_matches_statsmodels() {
        let cases = [
            ((45, 100, 30, 100), 2.1908902300206647, 0.02845973691631055),
            (
                (3, 1000, 17, 1200),
                -2.7477819801428116,
                0.005999989118000868,
            ),
            ((0, 50, 5, 10), -5.222329678670935, 1.766860442187839e-07),
            (
                (480000, 1000000, 49000, 100000),
                -6.034627290360033,
                1.5932999581077924e-09,
            ),
            ((7, 7, 3, 9), 2.732520204255893, 0.006285181643384471),
        ];
        for ((x1, n1, x2, n2), stat, p) in cases {
            check(two_proportion_ztest(x1, n1, x2, n2).unwrap(), stat, p);
        }
    }

    #[test]
    fn two_proportion_ztest_edge_cases() {
        let null = TestResult {
            statistic: 0.0,
            p_value: 1.0,
        };
        // Pooled proportion 0 or 1 (statsmodels: NaN) → z = 0, p = 1.
        assert_eq!(two_proportion_ztest(0, 10, 0, 20).unwrap(), null);
        assert_eq!(two_proportion_ztest(10, 10, 20, 20).unwrap(), null);
        // Equal proportions → z = 0, p = 1.
        assert_eq!(two_proportion_ztest(5, 10, 10, 20).unwrap(), null);
        // Antisymmetric in the samples.
        let r = two_proportion_ztest(30, 100, 45, 100).unwrap();
        assert_close(r.statistic, -2.1908902300206647, tol::REL, 0.0);
        let too_small = Err(StatsError::SampleTooSmall { needed: 1, got: 0 });
        assert_eq!(two_proportion_ztest(0, 0, 1, 2), too_small);
        assert_eq!(two_proportion_ztest(1, 2, 0, 0), too_small);
        assert!(matches!(
            two_proportion_ztest(3, 2, 1, 2),
            Err(StatsError::InvalidArgument(_))
        ));
        // Extreme difference: p underflows towards 0 but is never NaN.
        let r = two_proportion_ztest(1_000_000, 1_000_000, 0, 1_000_000).unwrap();
        assert!(r.p_value >= 0.0 && r.p_value < 1e-300 && r.statistic > 1000.0);
    }
}
