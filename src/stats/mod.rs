//! Two-sample statistics for drift detection, as pure functions over slices.
//!
//! This module owns the numerical core of driftwatch: the two-sample
//! Kolmogorov–Smirnov test, Wasserstein-1 distance (raw and normed by the
//! reference standard deviation), quantile binning with the Population
//! Stability Index and Jensen–Shannon distance, the chi-square test of
//! homogeneity for categorical columns, the pooled two-proportion z-test,
//! Benjamini–Hochberg adjustment, and the descriptive helpers they share.
//! Every function is deterministic, allocation-light, and pinned by unit tests
//! to values computed once with SciPy / statsmodels.
//!
//! It must not do anything else: no database, no file or network I/O, no
//! logging, no global state, no configuration, and no dependency on any other
//! module of the crate (only `std`, `statrs` and `thiserror`), so it can be
//! tested and reused on its own.
//!
//! Conventions shared by every function:
//! * Invalid input (empty or too-small samples, NaN or ±∞ values, mismatched
//!   lengths) yields `Err(StatsError)`; a successful result is never NaN.
//! * Variance and standard deviation are *population* (divide by `n`, NumPy's
//!   default `ddof = 0`), matching Evidently's normaliser for Wasserstein.
//! * Quantiles use linear interpolation between order statistics (Hyndman &
//!   Fan type 7, NumPy's default `method = "linear"`).

mod binning;
mod categorical;
mod ddouble;
mod descriptive;
mod divergence;
mod kolmogorov;
mod ks;
mod multiple;
mod wasserstein;

pub use binning::{histogram, quantile_bin_edges};
pub use categorical::{chi2_categories, two_proportion_ztest};
pub use descriptive::{mean, quantile, quantile_positions, std_dev};
pub use divergence::{jensen_shannon_distance, psi};
pub use ks::{ks_2samp, ks_2samp_sorted};
pub use multiple::{benjamini_hochberg, holm, tarone_family};
pub use wasserstein::{wasserstein_1, wasserstein_1_sorted, wasserstein_normed};

// Constants the functions above are defined with.
pub use divergence::PSI_EPSILON;
pub use ks::KS_EXACT_MAX_N;
pub use wasserstein::WASSERSTEIN_MIN_NORM;

/// Why a statistic could not be computed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum StatsError {
    /// A sample (or a count table's total) has fewer observations than the
    /// statistic needs; `needed` is the minimum, `got` what was supplied.
    #[error("sample too small: needed at least {needed} observation(s), got {got}")]
    SampleTooSmall {
        /// Minimum number of observations required.
        needed: usize,
        /// Number of observations supplied.
        got: usize,
    },
    /// An input value was NaN or ±∞.
    #[error("input contains a non-finite value (NaN or infinity)")]
    NonFinite,
    /// Inputs are inconsistent (e.g. mismatched lengths, a count larger than
    /// its total, unsorted data passed to a `*_sorted` function).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Outcome of a hypothesis test: the test statistic and its p-value.
///
/// `p_value` is always in `[0, 1]` and `statistic` is always finite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestResult {
    /// The test statistic (KS `D`, Pearson χ², or z).
    pub statistic: f64,
    /// The p-value under the null hypothesis, in `[0, 1]`.
    pub p_value: f64,
}

/// Tolerances used by the tests that compare against SciPy / statsmodels.
///
/// A value `a` matches a reference `e` when `|a − e| ≤ abs + rel·|e|`
/// (NumPy's `isclose` rule). Tests use [`tol::REL`] unless a named override
/// below says otherwise.
pub mod tol {
    /// Default relative tolerance against reference values.
    pub const REL: f64 = 1e-12;
    /// Default absolute tolerance (used for quantities that should be zero).
    pub const ABS: f64 = 1e-9;
}

/// Fail with `NonFinite` if any value is NaN or ±∞.
fn check_finite(x: &[f64]) -> Result<(), StatsError> {
    if x.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(StatsError::NonFinite)
    }
}

/// Fail with `SampleTooSmall` if `x` has fewer than `needed` elements.
fn check_len(len: usize, needed: usize) -> Result<(), StatsError> {
    if len < needed {
        Err(StatsError::SampleTooSmall { needed, got: len })
    } else {
        Ok(())
    }
}

/// A sorted copy of `x` (ascending; caller has rejected NaN).
fn sorted_copy(x: &[f64]) -> Vec<f64> {
    let mut v = x.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    v
}

/// Neumaier-compensated running sum (no allocation).
#[derive(Debug, Clone, Copy, Default)]
struct KahanSum {
    sum: f64,
    comp: f64,
}

impl KahanSum {
    #[inline]
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.comp += (self.sum - t) + x;
        } else {
            self.comp += (x - t) + self.sum;
        }
        self.sum = t;
    }

    #[inline]
    fn total(&self) -> f64 {
        self.sum + self.comp
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    /// Assert `|actual − expected| ≤ abs + rel·|expected|`.
    #[track_caller]
    pub(crate) fn assert_close(actual: f64, expected: f64, rel: f64, abs: f64) {
        let diff = (actual - expected).abs();
        assert!(
            diff <= abs + rel * expected.abs(),
            "actual {actual:e} vs expected {expected:e}: diff {diff:e} (rel {:e})",
            if expected != 0.0 {
                diff / expected.abs()
            } else {
                f64::INFINITY
            }
        );
    }

    /// The deterministic pseudo-sample `((i·mult) mod modulus) / div + shift`,
    /// `i = 0..n`, reproduced in the Python one-liners as
    /// `[((i*mult) % modulus) / div + shift for i in range(n)]`.
    pub(crate) fn lcg(n: usize, mult: usize, modulus: usize, div: f64, shift: f64) -> Vec<f64> {
        (0..n)
            .map(|i| ((i * mult) % modulus) as f64 / div + shift)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kahan_sum_is_compensated() {
        let mut s = KahanSum::default();
        for x in [1.0, 1e100, 1.0, -1e100] {
            s.add(x);
        }
        assert_eq!(s.total(), 2.0);
    }

    #[test]
    fn errors_display() {
        let e = StatsError::SampleTooSmall { needed: 1, got: 0 };
        assert_eq!(
            e.to_string(),
            "sample too small: needed at least 1 observation(s), got 0"
        );
        assert!(StatsError::NonFinite.to_string().contains("non-finite"));
        let msg = StatsError::InvalidArgument("x".into()).to_string();
        assert!(msg.contains('x'));
    }

    #[test]
    fn helpers_validate() {
        assert_eq!(check_finite(&[1.0, f64::NAN]), Err(StatsError::NonFinite));
        assert_eq!(
            check_finite(&[1.0, f64::INFINITY]),
            Err(StatsError::NonFinite)
        );
        assert_eq!(check_finite(&[]), Ok(()));
        assert_eq!(
            check_len(0, 1),
            Err(StatsError::SampleTooSmall { needed: 1, got: 0 })
        );
        assert_eq!(sorted_copy(&[3.0, -1.0, 2.0]), vec![-1.0, 2.0, 3.0]);
    }
}
