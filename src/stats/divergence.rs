//! Divergences between binned distributions: PSI and Jensen–Shannon distance.

use super::{KahanSum, StatsError};

/// Proportion substituted for an empty bin by [`psi`] (Evidently's value).
pub const PSI_EPSILON: f64 = 1e-4;

/// Validate two count vectors; return their totals as `f64`.
fn totals(a: &[u64], b: &[u64]) -> Result<(f64, f64), StatsError> {
    if a.len() != b.len() {
        return Err(StatsError::InvalidArgument(format!(
            "count vectors differ in length: {} vs {}",
            a.len(),
            b.len()
        )));
    }
    let ta = a.iter().fold(0_u64, |s, &c| s.saturating_add(c));
    let tb = b.iter().fold(0_u64, |s, &c| s.saturating_add(c));
    for t in [ta, tb] {
        if t == 0 {
            return Err(StatsError::SampleTooSmall { needed: 1, got: 0 });
        }
    }
    Ok((ta as f64, tb as f64))
}

/// Population Stability Index between reference and current bin counts.
///
/// # Definition
/// With proportions `pᵢ = refᵢ / Σref` and `qᵢ = curᵢ / Σcur`, each replaced
/// by ε = [`PSI_EPSILON`] = 10⁻⁴ when it is exactly zero:
/// `PSI = Σᵢ (pᵢ − qᵢ)·ln(pᵢ / qᵢ)` (natural log; symmetric in the two
/// inputs; ≥ 0).
///
/// # Remarks
/// * Rule of thumb: < 0.1 no significant shift, 0.1–0.25 moderate, > 0.25
///   major (Evidently's default drift threshold is 0.1).
/// * The ε substitution (no renormalisation) keeps empty bins finite, as in
///   Evidently; ε is independent of sample size.
/// * Errors: different lengths → [`StatsError::InvalidArgument`]; no bins or
///   an all-zero count vector → [`StatsError::SampleTooSmall`]. Never NaN.
///
/// # Reference
/// Yurdakul, B. (2018), "Statistical properties of population stability
/// index", PhD thesis, Western Michigan University; Evidently AI `psi` stat
/// test (same ε). No SciPy equivalent; tests pin hand computations.
///
/// # Examples
/// ```text
/// // p = (0.5, 0.5), q = (0.25, 0.75): 0.25·ln 2 − 0.25·ln(2/3)
/// let v = psi(&[50, 50], &[25, 75])?; // 0.27465307216702745
/// ```
pub fn psi(ref_counts: &[u64], cur_counts: &[u64]) -> Result<f64, StatsError> {
    let (tr, tc) = totals(ref_counts, cur_counts)?;
    let mut s = KahanSum::default();
    for (&r, &c) in ref_counts.iter().zip(cur_counts) {
        let p = if r == 0 { PSI_EPSILON } else { r as f64 / tr };
        let q = if c == 0 { PSI_EPSILON } else { c as f64 / tc };
        s.add((p - q) * (p / q).ln());
    }
    Ok(s.total().max(0.0))
}

/// Jensen–Shannon distance (base 2) between two count vectors.
///
/// # Definition
/// Normalise to `p = P/ΣP`, `q = Q/ΣQ`, let `m = (p + q)/2`, then
/// `JSD = sqrt( (KL(p‖m) + KL(q‖m)) / 2 )` with `KL(x‖y) = Σ xᵢ·log₂(xᵢ/yᵢ)`
/// and `0·log 0 = 0`. The distance lies in `[0, 1]`.
///
/// # Remarks
/// * Empty bins need no smoothing: `mᵢ > 0` wherever `pᵢ` or `qᵢ` is.
/// * Tiny negative rounding before the square root is clamped to 0, so
///   identical inputs give exactly 0 and the result is never NaN.
/// * Errors: different lengths → [`StatsError::InvalidArgument`]; no bins or
///   an all-zero count vector → [`StatsError::SampleTooSmall`].
///
/// # Reference
/// Lin, J. (1991), "Divergence measures based on the Shannon entropy", *IEEE
/// Trans. Inf. Theory* 37(1); Endres & Schindelin (2003). Matches
/// `scipy.spatial.distance.jensenshannon(p, q, base=2)`.
///
/// # Examples
/// ```text
/// let d = jensen_shannon_distance(&[1, 0], &[0, 1])?; // 1.0
/// ```
pub fn jensen_shannon_distance(p_counts: &[u64], q_counts: &[u64]) -> Result<f64, StatsError> {
    let (tp, tq) = totals(p_counts, q_counts)?;
    let rel_entr = |x: f64, y: f64| if x > 0.0 { x * (x / y).ln() } else { 0.0 };
    let mut left = KahanSum::default();
    let mut right = KahanSum::default();
    for (&a, &b) in p_counts.iter().zip(q_counts) {
        let p = a as f64 / tp;
        let q = b as f64 / tq;
        let m = (p + q) / 2.0;
        left.add(rel_entr(p, m));
        right.add(rel_entr(q, m));
    }
    let js = (left.total() + right.total()) / std::f64::consts::LN_2;
    Ok((js / 2.0).max(0.0).sqrt().min(1.0))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::assert_close;
    use super::super::tol;
    use super::*;

    #[test]
    fn psi_matches_hand_computation() {
        // p = (0.5, 0.5), q = (0.25, 0.75).
        let expected = 0.25 * 2.0_f64.ln() + (-0.25) * (0.5_f64 / 0.75).ln();
        assert_close(psi(&[50, 50], &[25, 75]).unwrap(), expected, tol::REL, 0.0);
        assert_close(psi(&[25, 75], &[50, 50]).unwrap(), expected, tol::REL, 0.0);
    }

    // Empty bins use eps = 1e-4 (numpy 2.4.6):
    // python3 -c "import numpy as np; e=1e-4; p=np.array([10,0,30,60])/100; q=np.array([0,20,20,60])/100; p=np.where(p==0,e,p); q=np.where(q==0,e,q); print(repr(np.sum((p-q)*np.log(p/q))))"
    #[test]
    fn psi_matches_hand_computation_with_empty_bins() {
        let v = psi(&[10, 0, 30, 60], &[0, 20, 20, 60]).unwrap();
        assert_close(v, PSI_EMPTY_BINS, tol::REL, 0.0);
    }
    const PSI_EMPTY_BINS: f64 = 2.250051664843594;

    #[test]
    fn psi_identical_is_zero_and_errors() {
        assert_eq!(psi(&[3, 0, 7], &[6, 0, 14]).unwrap(), 0.0);
        assert_eq!(
            psi(&[1, 2], &[1]),
            Err(StatsError::InvalidArgument(
                "count vectors differ in length: 2 vs 1".into()
            ))
        );
        let small = Err(StatsError::SampleTooSmall { needed: 1, got: 0 });
        assert_eq!(psi(&[], &[]), small);
        assert_eq!(psi(&[0, 0], &[1, 2]), small);
        assert_eq!(psi(&[1, 2], &[0, 0]), small);
    }

    // Expected values: scipy 1.17.1.
    // python3 -c "from scipy.spatial.distance import jensenshannon as j; print(repr(j([10,0,30,60],[0,20,20,60],base=2)), repr(j([1,2,3,4,5],[5,4,3,2,1],base=2)), repr(j([1,0],[0,1],base=2)))"
    #[test]
    fn jensen_shannon_distance_matches_scipy() {
        let cases: [(&[u64], &[u64], f64); 3] = [
            (&[10, 0, 30, 60], &[0, 20, 20, 60], 0.3965631745212014),
            (&[1, 2, 3, 4, 5], &[5, 4, 3, 2, 1], 0.41553904475856723),
            (&[1, 0], &[0, 1], 1.0),
        ];
        for (p, q, e) in cases {
            assert_close(jensen_shannon_distance(p, q).unwrap(), e, tol::REL, 0.0);
            assert_close(jensen_shannon_distance(q, p).unwrap(), e, tol::REL, 0.0);
        }
    }

    #[test]
    fn jensen_shannon_identical_and_errors() {
        assert_eq!(
            jensen_shannon_distance(&[3, 0, 7], &[6, 0, 14]).unwrap(),
            0.0
        );
        assert_eq!(jensen_shannon_distance(&[1, 0], &[0, 1]).unwrap(), 1.0);
        assert!(matches!(
            jensen_shannon_distance(&[1], &[1, 2]),
            Err(StatsError::InvalidArgument(_))
        ));
        assert_eq!(
            jensen_shannon_distance(&[0], &[5]),
            Err(StatsError::SampleTooSmall { needed: 1, got: 0 })
        );
    }
}
