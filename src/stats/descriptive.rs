//! Descriptive helpers: mean, population standard deviation, linear quantile.

use super::KahanSum;

/// Arithmetic mean of a sample.
///
/// # Definition
/// `x̄ = (1/n)·Σ xᵢ`.
///
/// # Remarks
/// Summed with Neumaier compensation, so the result is within a few ulps of
/// the exact mean even for 10⁶ values. Returns `None` for an empty slice or if
/// any value is NaN or ±∞ (never a NaN result).
///
/// # Reference
/// Neumaier, A. (1974), *ZAMM* 54, 39–51. Matches `numpy.mean(x)`.
///
/// # Examples
/// ```text
/// assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
/// assert_eq!(mean(&[]), None);
/// ```
pub fn mean(x: &[f64]) -> Option<f64> {
    if x.is_empty() {
        return None;
    }
    let mut s = KahanSum::default();
    for &v in x {
        if !v.is_finite() {
            return None;
        }
        s.add(v);
    }
    let m = s.total() / x.len() as f64;
    m.is_finite().then_some(m)
}

/// Population standard deviation (divides by `n`, not `n − 1`).
///
/// # Definition
/// `σ = sqrt((1/n)·Σ (xᵢ − x̄)²)`.
///
/// # Remarks
/// *Population* convention (`ddof = 0`), which is NumPy's default and the
/// normaliser Evidently uses for normed Wasserstein. Two passes (mean first,
/// then squared deviations), both compensated; no allocation. A single value
/// gives `0`. Returns `None` for an empty slice or any NaN/±∞ value, or if
/// the squared deviations overflow.
///
/// # Reference
/// Chan, Golub & LeVeque (1983), "Algorithms for computing the sample
/// variance", *Am. Stat.* 37(3). Matches `numpy.std(x)` (`ddof=0`).
///
/// # Examples
/// ```text
/// assert_eq!(std_dev(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]), Some(2.0));
/// ```
pub fn std_dev(x: &[f64]) -> Option<f64> {
    let m = mean(x)?;
    let mut s = KahanSum::default();
    for &v in x {
        let d = v - m;
        s.add(d * d);
    }
    let sd = (s.total() / x.len() as f64).sqrt();
    sd.is_finite().then_some(sd)
}

/// Quantile of an already-sorted sample by linear interpolation.
///
/// # Definition
/// With `h = (n − 1)·q`, `i = ⌊h⌋` and `γ = h − i`:
/// `Q(q) = x₍ᵢ₎ + γ·(x₍ᵢ₊₁₎ − x₍ᵢ₎)` (Hyndman & Fan type 7), using NumPy's
/// symmetric form `x₍ᵢ₊₁₎ − (1 − γ)·(x₍ᵢ₊₁₎ − x₍ᵢ₎)` when `γ ≥ 0.5`.
///
/// # Remarks
/// `sorted` must be sorted ascending (not checked, `O(1)` lookup). Returns
/// `None` when `sorted` is empty, when `q` is NaN or outside `[0, 1]`, or when
/// the interpolated value is not finite (NaN or ±∞ among the neighbours).
///
/// # Reference
/// Hyndman, R. J. & Fan, Y. (1996), "Sample quantiles in statistical
/// packages", *Am. Stat.* 50(4). Matches `numpy.quantile(x, q)`
/// (`method='linear'`).
///
/// # Examples
/// ```text
/// assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
/// ```
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let (i, j, gamma) = quantile_positions(sorted.len(), q)?;
    let (a, b) = (sorted[i], sorted[j]);
    let diff = b - a;
    let v = if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    };
    v.is_finite().then_some(v)
}

/// Where the type-7 quantile `q` of `n` sorted values lies: the 0-based order
/// statistics `(i, j)` it interpolates between and the weight `γ` of the
/// `j`-th ([`quantile`] is `v_i + (v_j − v_i)·γ`). `None` for `n = 0` or
/// `q ∉ [0, 1]`.
///
/// Hyndman & Fan (1996) definition 7: `h = (n − 1)q`, `i = ⌊h⌋`,
/// `j = min(i + 1, n − 1)`, `γ = h − i`.
pub fn quantile_positions(n: usize, q: f64) -> Option<(usize, usize, f64)> {
    if n == 0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let h = (n - 1) as f64 * q;
    let lo = h.floor();
    let (i, j) = if h >= (n - 1) as f64 {
        (n - 1, n - 1)
    } else {
        (lo as usize, lo as usize + 1)
    };
    Some((i, j, h - lo))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{assert_close, lcg};
    use super::super::tol;
    use super::*;

    #[test]
    fn quantile_positions_are_the_interpolated_order_statistics() {
        assert_eq!(quantile_positions(4, 0.5), Some((1, 2, 0.5)));
        assert_eq!(quantile_positions(4, 1.0), Some((3, 3, 0.0)));
        assert_eq!(quantile_positions(5, 0.0), Some((0, 1, 0.0)));
        assert_eq!(quantile_positions(0, 0.5), None);
        assert_eq!(quantile_positions(3, 1.5), None);
    }

    // Expected values: numpy 2.4.6.
    // python3 -c "import numpy as np; x=[((i*7919) % 1000)/10.0 for i in range(1001)]; print(repr(np.mean(x)), repr(np.std(x)))"
    #[test]
    fn mean_std_match_numpy() {
        let x = lcg(1001, 7919, 1000, 10.0, 0.0);
        assert_close(mean(&x).unwrap(), MEAN_EXPECTED, tol::REL, 0.0);
        assert_close(std_dev(&x).unwrap(), STD_EXPECTED, tol::REL, 0.0);
    }
    const MEAN_EXPECTED: f64 = 49.9000999000999;
    const STD_EXPECTED: f64 = 28.896193866494595;

    #[test]
    fn mean_std_hand_computed_and_edge_cases() {
        assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
        assert_eq!(
            std_dev(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]),
            Some(2.0)
        );
        assert_eq!(std_dev(&[42.0]), Some(0.0));
        assert_eq!(mean(&[]), None);
        assert_eq!(std_dev(&[]), None);
        assert_eq!(mean(&[1.0, f64::NAN]), None);
        assert_eq!(std_dev(&[1.0, f64::INFINITY]), None);
        assert_eq!(mean(&[f64::MAX, f64::MAX]), None);
    }

    // python3 -c "import numpy as np; x=sorted([((i*7919) % 1000)/10.0 for i in range(37)]); print([repr(np.quantile(x, q)) for q in [0.0, 0.1, 0.25, 0.3, 0.5, 0.7, 0.9, 0.95, 1.0]])"
    #[test]
    fn quantile_matches_numpy_linear() {
        let mut x = lcg(37, 7919, 1000, 10.0, 0.0);
        x.sort_by(f64::total_cmp);
        let qs = [0.0, 0.1, 0.25, 0.3, 0.5, 0.7, 0.9, 0.95, 1.0];
        let expected: [f64; 9] = [
            0.0,
            9.9,
            24.6,
            29.339999999999996,
            48.9,
            68.16,
            87.72,
            92.46,
            97.5,
        ];
        for (q, e) in qs.iter().zip(expected) {
            assert_close(quantile(&x, *q).unwrap(), e, tol::REL, 0.0);
        }
    }

    #[test]
    fn quantile_edge_cases() {
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        assert_eq!(quantile(&[7.0], 0.3), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[1.0, 2.0], 1.5), None);
        assert_eq!(quantile(&[1.0, 2.0], -0.1), None);
        assert_eq!(quantile(&[1.0, 2.0], f64::NAN), None);
        assert_eq!(quantile(&[1.0, f64::INFINITY], 0.75), None);
        assert_eq!(quantile(&[1.0, 2.0], 1.0), Some(2.0));
        assert_eq!(quantile(&[1.0, 2.0], 0.0), Some(1.0));
    }
}
