//! Multiple-testing adjustment across the columns of one drift check.

/// Benjamini–Hochberg adjusted p-values (false discovery rate).
///
/// # Definition
/// Sort the `m` p-values ascending, `p₍₁₎ ≤ … ≤ p₍ₘ₎`; the adjusted value of
/// rank `k` is `min(1, min_{j ≥ k} p₍ⱼ₎·m / j)`. Results are returned in
/// input order; rejecting where the adjusted value is ≤ α controls the FDR
/// at level α for independent (or positively dependent) tests.
///
/// # Remarks
/// * Output is monotone in the input (a smaller p never gets a larger
///   adjusted value), capped at 1, and tied inputs get identical outputs.
/// * NaN inputs are treated as 1 (least significant; they still count in
///   `m`), and inputs outside `[0, 1]` are clamped into it, so the output
///   never contains NaN. Empty input → empty output.
/// * `O(m log m)`; allocates the permutation and the result.
///
/// # Reference
/// Benjamini, Y. & Hochberg, Y. (1995), "Controlling the false discovery
/// rate", *J. R. Stat. Soc. B* 57(1), 289–300. Matches
/// `statsmodels.stats.multitest.multipletests(p, method='fdr_bh')[1]`.
///
/// # Examples
/// ```text
/// let adj = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.2]);
/// // [0.04, 0.05333333333333334, 0.05333333333333334, 0.2]
/// ```
pub fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    if m == 0 {
        return Vec::new();
    }
    let clean = |p: f64| if p.is_nan() { 1.0 } else { p.clamp(0.0, 1.0) };
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| clean(p_values[i]).total_cmp(&clean(p_values[j])));
    let mut out = vec![0.0; m];
    let mf = m as f64;
    let mut running = f64::INFINITY;
    for (k, &idx) in order.iter().enumerate().rev() {
        let raw = clean(p_values[idx]) / ((k + 1) as f64 / mf);
        running = running.min(raw);
        out[idx] = running.min(1.0);
    }
    out
}

/// Holm step-down adjusted p-values (family-wise error rate).
///
/// # Definition
/// Sort the `m` p-values ascending, `p₍₁₎ ≤ … ≤ p₍ₘ₎`; the adjusted value of
/// rank `k` is `min(1, max_{j ≤ k} (m − j + 1)·p₍ⱼ₎)`. Results are returned in
/// input order; rejecting where the adjusted value is < α controls the
/// family-wise error rate at α under any dependence between the tests.
///
/// # Remarks
/// NaN inputs are treated as 1 and inputs are clamped into `[0, 1]`, as in
/// [`benjamini_hochberg`]. Empty input → empty output.
///
/// # Reference
/// Holm, S. (1979), "A simple sequentially rejective multiple test
/// procedure", *Scand. J. Statist.* 6(2), 65–70. Matches
/// `statsmodels.stats.multitest.multipletests(p, method='holm')[1]`.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let clean = |p: f64| if p.is_nan() { 1.0 } else { p.clamp(0.0, 1.0) };
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| clean(p_values[i]).total_cmp(&clean(p_values[j])));
    let mut out = vec![0.0; m];
    let mut running = 0.0f64;
    for (k, &idx) in order.iter().enumerate() {
        running = running.max(clean(p_values[idx]) * (m - k) as f64);
        out[idx] = running.min(1.0);
    }
    out
}

/// Tarone's family for discrete tests: which of `m` tests can reach
/// significance at all.
///
/// # Definition
/// A discrete test `i` has a smallest attainable p-value `p*ᵢ` (a region's
/// p when it holds no golden row at all). Let `m(K) = #{i : p*ᵢ ≤ α/K}`;
/// `K` is the smallest integer with `m(K) ≤ K`. Test `i` is in the family
/// when `p*ᵢ ≤ α/K`. Tests outside it could never be rejected by a Bonferroni
/// threshold of `α/K`, so they are not counted, and a Bonferroni or Holm
/// correction over the family alone controls the family-wise error at `α`
/// (the family depends on the `p*ᵢ` only, never on the observed p-values).
///
/// # Remarks
/// Returns one flag per input (`true` = in the family). NaN `p*` is treated
/// as 1. `O(m log m)`.
///
/// # Reference
/// Tarone, R. E. (1990), "A modified Bonferroni method for discrete data",
/// *Biometrics* 46(2), 515–522; Hommel, G. & Krummenauer, F. (1998),
/// "Improvements and modifications of Tarone's multiple test procedure for
/// discrete data", *Biometrics* 54(2), 673–681 (step-down within the family).
pub fn tarone_family(p_min: &[f64], alpha: f64) -> Vec<bool> {
    let clean = |p: f64| if p.is_nan() { 1.0 } else { p.clamp(0.0, 1.0) };
    let mut sorted: Vec<f64> = p_min.iter().map(|&p| clean(p)).collect();
    sorted.sort_by(f64::total_cmp);
    // m(K) is non-increasing in K; the smallest K with m(K) ≤ K lies in 1..=m.
    let m_of = |k: usize| sorted.partition_point(|&p| p <= alpha / k as f64);
    let k = (1..=p_min.len().max(1))
        .find(|&k| m_of(k) <= k)
        .unwrap_or(p_min.len().max(1));
    p_min
        .iter()
        .map(|&p| clean(p) <= alpha / k as f64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_util::assert_close;
    use super::super::tol;
    use super::*;

    fn check(p: &[f64], expected: &[f64]) {
        let adj = benjamini_hochberg(p);
        assert_eq!(adj.len(), expected.len());
        for (a, e) in adj.iter().zip(expected) {
            assert_close(*a, *e, tol::REL, 0.0);
        }
    }

    // python3 -c "from statsmodels.stats.multitest import multipletests as mt; print([repr(v) for v in mt([0.01, 0.04, 0.03, 0.2, 0.005], method='holm')[1]])"
    #[test]
    fn holm_matches_statsmodels() {
        let adj = holm(&[0.01, 0.04, 0.03, 0.2, 0.005]);
        let expected = [0.04, 0.09, 0.09, 0.2, 0.025];
        for (a, e) in adj.iter().zip(expected) {
            assert_close(*a, e, tol::REL, 0.0);
        }
        assert!(holm(&[]).is_empty());
    }

    // Expected values: statsmodels 0.15.0, printing
    // [repr(v) for v in multipletests(p, method='fdr_bh')[1]] for each p:
    // python3 -c "from statsmodels.stats.multitest import multipletests as mt; print([repr(v) for v in mt([0.01, 0.04, 0.03, 0.2], method='fdr_bh')[1]])"
    #[test]
    fn benjamini_hochberg_matches_statsmodels_unsorted() {
        check(
            &[0.01, 0.04, 0.03, 0.2],
            &[0.04, 0.05333333333333334, 0.05333333333333334, 0.2],
        );
    }

    // python3 -c "from statsmodels.stats.multitest import multipletests as mt; print([repr(v) for v in mt([0.02, 0.5, 0.02, 0.001, 0.02, 0.9, 0.5], method='fdr_bh')[1]])"
    #[test]
    fn benjamini_hochberg_matches_statsmodels_ties() {
        check(
            &[0.02, 0.5, 0.02, 0.001, 0.02, 0.9, 0.5],
            &[
                0.035,
                0.5833333333333334,
                0.035,
                0.007,
                0.035,
                0.9,
                0.5833333333333334,
            ],
        );
    }

    // python3 -c "from statsmodels.stats.multitest import multipletests as mt; print([repr(v) for v in mt([0.9, 0.95, 0.99], method='fdr_bh')[1]], [repr(v) for v in mt([1e-300, 0.3], method='fdr_bh')[1]])"
    #[test]
    fn benjamini_hochberg_matches_statsmodels_capped_and_tiny() {
        check(&[0.9, 0.95, 0.99], &[0.99, 0.99, 0.99]);
        check(&[1e-300, 0.3], &[2e-300, 0.3]);
    }

    #[test]
    fn benjamini_hochberg_edge_cases() {
        assert!(benjamini_hochberg(&[]).is_empty());
        assert_eq!(benjamini_hochberg(&[0.3]), vec![0.3]);
        // NaN → treated as 1; out-of-range inputs clamped; output never NaN.
        assert_eq!(benjamini_hochberg(&[f64::NAN, 0.01]), vec![1.0, 0.02]);
        assert_eq!(benjamini_hochberg(&[1.5, -0.1]), vec![1.0, 0.0]);
        // Monotone in the input and capped at 1.
        let p = [0.04, 0.001, 0.3, 0.049, 0.5, 0.0];
        let adj = benjamini_hochberg(&p);
        for i in 0..p.len() {
            assert!(adj[i] >= p[i] && adj[i] <= 1.0);
            for j in 0..p.len() {
                if p[i] <= p[j] {
                    assert!(adj[i] <= adj[j]);
                }
            }
        }
    }

    // Worked by hand: α = 0.05, p* = [1e-4, 0.004, 0.009, 0.02, 0.3, 0.3].
    // K = 1: m = 4 (those with p* ≤ 0.05) > 1; K = 2 (0.025): 4 > 2;
    // K = 3 (0.0167): 3 ≤ 3, so K = 3 and the family is the first three.
    #[test]
    fn tarone_family_drops_tests_that_cannot_reach_significance() {
        let fam = tarone_family(&[0.3, 1e-4, 0.02, 0.004, 0.3, 0.009], 0.05);
        assert_eq!(fam, vec![false, true, false, true, false, true]);
        // Every test attainable: the family is all of them (plain Holm).
        assert_eq!(tarone_family(&[0.0, 0.0, 0.0], 0.05), vec![true; 3]);
        // No test can reach α at all: an empty family.
        assert_eq!(tarone_family(&[0.5, f64::NAN], 0.05), vec![false, false]);
        assert!(tarone_family(&[], 0.05).is_empty());
    }
}
