//! Wasserstein-1 (earth mover's) distance between two empirical distributions.

use super::descriptive::std_dev;
use super::{check_finite, check_len, sorted_copy};

use super::{KahanSum, StatsError};

/// Floor applied to the reference standard deviation by [`wasserstein_normed`].
///
/// Evidently's value: `norm = max(np.std(reference), 0.001)`.
pub const WASSERSTEIN_MIN_NORM: f64 = 1e-3;

/// First Wasserstein distance between two samples.
///
/// # Definition
/// `W₁(a, b) = ∫ |F_a(x) − F_b(x)| dx`, with `F_a`, `F_b` the empirical CDFs;
/// in the data's units. Computed as `Σₖ |F_a(xₖ) − F_b(xₖ)|·(xₖ₊₁ − xₖ)` over
/// the merged sorted values `xₖ`.
///
/// # Remarks
/// * Ties need no special handling (zero-width steps contribute nothing).
/// * `O((n+m) log(n+m))`: one sorted copy of each input, then one merge pass
///   with a compensated sum. [`wasserstein_1_sorted`] skips the sort.
/// * Errors: an empty sample → [`StatsError::SampleTooSmall`]; any NaN or ±∞
///   (or a distance that overflows, for values near `±f64::MAX`) →
///   [`StatsError::NonFinite`]. Identical samples give exactly `0`.
///
/// # Reference
/// Ramdas, García Trillos & Cuturi (2017), "On Wasserstein two-sample testing
/// and related families of nonparametric tests", *Entropy* 19(2). Matches
/// `scipy.stats.wasserstein_distance(a, b)` (unweighted).
///
/// # Examples
/// ```text
/// assert_eq!(wasserstein_1(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0])?, 5.0);
/// ```
pub fn wasserstein_1(a: &[f64], b: &[f64]) -> Result<f64, StatsError> {
    validate(a, b)?;
    finite(w1_sorted(&sorted_copy(a), &sorted_copy(b)))
}

/// [`wasserstein_1`] on samples already sorted ascending (no copy, no sort).
///
/// # Definition
/// Identical to [`wasserstein_1`].
///
/// # Remarks
/// `O(n + m)`. Besides the errors of [`wasserstein_1`], returns
/// [`StatsError::InvalidArgument`] if either slice is not sorted ascending.
///
/// # Reference
/// As [`wasserstein_1`]; matches `scipy.stats.wasserstein_distance(a, b)`.
///
/// # Examples
/// ```text
/// assert_eq!(wasserstein_1_sorted(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0])?, 5.0);
/// ```
pub fn wasserstein_1_sorted(a: &[f64], b: &[f64]) -> Result<f64, StatsError> {
    validate(a, b)?;
    if !a.is_sorted() || !b.is_sorted() {
        return Err(StatsError::InvalidArgument(
            "wasserstein_1_sorted requires both samples sorted ascending".into(),
        ));
    }
    finite(w1_sorted(a, b))
}

/// Reject an overflowed result (inputs near ±f64::MAX).
fn finite(v: f64) -> Result<f64, StatsError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(StatsError::NonFinite)
    }
}

/// Wasserstein-1 distance divided by the reference sample's standard deviation.
///
/// # Definition
/// `W₁(reference, current) / max(σ_ref, 0.001)`, with `σ_ref` the
/// *population* standard deviation of `reference` (Evidently's "normed
/// Wasserstein", unitless; its default drift threshold is 0.1).
///
/// # Remarks
/// * Zero or tiny spread: the normaliser is floored at
///   [`WASSERSTEIN_MIN_NORM`] = 0.001 (Evidently's rule), so a constant
///   reference gives `W₁ / 0.001` — finite, and large whenever the current
///   sample moved at all — rather than a division by zero.
/// * Errors as [`wasserstein_1`] (empty → `SampleTooSmall`, NaN/±∞ →
///   `NonFinite`); never NaN.
///
/// # Reference
/// Evidently AI, `wasserstein_distance_norm` stat test
/// (`stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)`).
///
/// # Examples
/// ```text
/// // W1 = 5, std([0, 1, 3]) = 1.247219128924647
/// let w = wasserstein_normed(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0])?; // 4.0089186286863665
/// ```
pub fn wasserstein_normed(reference: &[f64], current: &[f64]) -> Result<f64, StatsError> {
    let w = wasserstein_1(reference, current)?;
    let sd = std_dev(reference).ok_or(StatsError::NonFinite)?;
    finite(w / sd.max(WASSERSTEIN_MIN_NORM))
}

fn validate(a: &[f64], b: &[f64]) -> Result<(), StatsError> {
    check_len(a.len(), 1)?;
    check_len(b.len(), 1)?;
    check_finite(a)?;
    check_finite(b)
}

/// Merge pass over two sorted, finite, non-empty slices.
fn w1_sorted(a: &[f64], b: &[f64]) -> f64 {
    let (n, m) = (a.len(), b.len());
    let (nf, mf) = (n as f64, m as f64);
    let (mut i, mut j) = (0, 0);
    let mut acc = KahanSum::default();
    let head = |i: usize, j: usize| -> f64 {
        match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => f64::NAN,
        }
    };
    let mut v = head(0, 0);
    loop {
        while i < n && a[i] <= v {
            i += 1;
        }
        while j < m && b[j] <= v {
            j += 1;
        }
        if i == n && j == m {
            break;
        }
        let next = head(i, j);
        acc.add((i as f64 / nf - j as f64 / mf).abs() * (next - v));
        v = next;
    }
    acc.total()
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{assert_close, lcg};
    use super::super::tol;
    use super::*;

    // Expected values: scipy 1.17.1 / numpy 2.4.6.
    // python3 -c "from scipy.stats import wasserstein_distance as w; print(repr(w([0.0, 1.0, 3.0], [5.0, 6.0, 8.0])), repr(w([1.0, 1.0, 2.0, 2.0, 2.0, 7.5], [2.0, 2.0, 3.0])), repr(w([0.5], [-1.5, 4.0, 4.0, 10.25])))"
    #[test]
    fn wasserstein_1_matches_scipy_small() {
        let cases: [(&[f64], &[f64], f64); 3] = [
            (&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0], 5.0),
            (
                &[1.0, 1.0, 2.0, 2.0, 2.0, 7.5],
                &[2.0, 2.0, 3.0],
                1.2499999999999998,
            ),
            (&[0.5], &[-1.5, 4.0, 4.0, 10.25], 4.6875),
        ];
        for (a, b, e) in cases {
            assert_close(wasserstein_1(a, b).unwrap(), e, tol::REL, 0.0);
            assert_close(wasserstein_1(b, a).unwrap(), e, tol::REL, 0.0);
        }
    }

    // python3 -c "import numpy as np; from scipy.stats import wasserstein_distance as w; lcg=lambda n,m,M,d,s: [((i*m) % M)/d + s for i in range(n)]; a=lcg(3000,7919,10007,100.0,0.0); b=lcg(1234,104729,10007,50.0,-3.0); print(repr(w(a,b)), repr(w(a,b)/max(np.std(a),0.001)))"
    #[test]
    fn wasserstein_matches_scipy_larger_and_normed_matches_evidently() {
        let a = lcg(3000, 7919, 10007, 100.0, 0.0);
        let b = lcg(1234, 104729, 10007, 50.0, -3.0);
        assert_close(
            wasserstein_1(&a, &b).unwrap(),
            46.75556921663966,
            tol::REL,
            0.0,
        );
        assert_close(
            wasserstein_normed(&a, &b).unwrap(),
            1.618550289649326,
            tol::REL,
            0.0,
        );
        let (mut sa, mut sb) = (a.clone(), b.clone());
        sa.sort_by(f64::total_cmp);
        sb.sort_by(f64::total_cmp);
        assert_eq!(wasserstein_1_sorted(&sa, &sb), wasserstein_1(&a, &b));
    }

    // python3 -c "import numpy as np; from scipy.stats import wasserstein_distance as w; print(repr(w([0.0,1.0,3.0],[5.0,6.0,8.0])/max(np.std([0.0,1.0,3.0]),0.001)), repr(w([2.0,2.0,2.0],[2.0,2.5])/max(np.std([2.0,2.0,2.0]),0.001)))"
    #[test]
    fn wasserstein_normed_matches_evidently_incl_zero_std() {
        let v = wasserstein_normed(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0]).unwrap();
        assert_close(v, 4.0089186286863665, tol::REL, 0.0);
        // Constant reference: std 0 → normaliser floored at 0.001.
        let v = wasserstein_normed(&[2.0, 2.0, 2.0], &[2.0, 2.5]).unwrap();
        assert_close(v, 250.0, tol::REL, 0.0);
        assert_eq!(wasserstein_normed(&[2.0, 2.0], &[2.0]).unwrap(), 0.0);
    }

    #[test]
    fn wasserstein_identical_and_errors() {
        let x = lcg(100, 7919, 1000, 10.0, 0.0);
        assert_eq!(wasserstein_1(&x, &x).unwrap(), 0.0);
        let too_small = Err(StatsError::SampleTooSmall { needed: 1, got: 0 });
        assert_eq!(wasserstein_1(&[], &[1.0]), too_small);
        assert_eq!(wasserstein_normed(&[1.0], &[]), too_small);
        assert_eq!(
            wasserstein_1(&[f64::NAN], &[1.0]),
            Err(StatsError::NonFinite)
        );
        assert_eq!(
            wasserstein_normed(&[1.0], &[f64::NEG_INFINITY]),
            Err(StatsError::NonFinite)
        );
        assert!(matches!(
            wasserstein_1_sorted(&[1.0], &[3.0, 2.0]),
            Err(StatsError::InvalidArgument(_))
        ));
        // Huge but finite values whose distance overflows are rejected, not inf.
        assert_eq!(
            wasserstein_1(&[-f64::MAX, f64::MAX], &[f64::MAX]),
            Err(StatsError::NonFinite)
        );
        assert_eq!(wasserstein_1(&[-f64::MAX, f64::MAX], &[0.0]), Ok(f64::MAX));
        assert_eq!(
            wasserstein_normed(&[-f64::MAX, f64::MAX], &[0.0]),
            Err(StatsError::NonFinite)
        );
    }
}
