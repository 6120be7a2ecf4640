//! Reference-quantile bin edges and histogram counts (inputs to PSI / JS).

use super::descriptive::quantile;

/// Bin edges at the reference sample's quantiles, with open outer bins.
///
/// # Definition
/// For `n_bins = k`, the interior edges are the reference quantiles at
/// `q = 1/k, 2/k, …, (k−1)/k` (deciles for `k = 10`), computed by linear
/// interpolation (see [`quantile`]), followed by removal of duplicate
/// edges; the outer edges are `−∞` and `+∞`. The result is strictly
/// increasing and has at most `k + 1` entries, so every value lands in a bin.
///
/// # Remarks
/// * Duplicates arise from ties (e.g. a reference with many identical
///   values); they are collapsed, so heavily tied references yield fewer
///   bins than requested (a constant reference yields two bins split at that
///   constant).
/// * NaN and ±∞ reference values are ignored. An empty (or all non-finite)
///   reference, or `n_bins ≤ 1`, yields the single bin `[−∞, +∞]`.
/// * `O(n log n)`: sorts one copy of the finite reference values.
///
/// # Reference
/// Siddiqi, N. (2006), *Credit Risk Scorecards*, Wiley (PSI on
/// reference-decile bins). Interior edges match
/// `numpy.quantile(ref, [i / k for i in range(1, k)])` followed by
/// `numpy.unique`.
///
/// # Examples
/// ```text
/// let e = quantile_bin_edges(&[1.0, 2.0, 3.0, 4.0, 5.0], 4);
/// assert_eq!(e, vec![f64::NEG_INFINITY, 2.0, 3.0, 4.0, f64::INFINITY]);
/// ```
pub fn quantile_bin_edges(reference: &[f64], n_bins: usize) -> Vec<f64> {
    let mut sorted: Vec<f64> = reference
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    sorted.sort_unstable_by(f64::total_cmp);
    let mut edges = Vec::with_capacity(n_bins.max(1) + 1);
    edges.push(f64::NEG_INFINITY);
    if !sorted.is_empty() {
        for k in 1..n_bins {
            let q = k as f64 / n_bins as f64;
            if let Some(e) = quantile(&sorted, q) {
                // Quantiles are non-decreasing in q: dedup against the last edge.
                if e > *edges.last().unwrap_or(&f64::NEG_INFINITY) {
                    edges.push(e);
                }
            }
        }
    }
    edges.push(f64::INFINITY);
    edges
}

/// Count values into the bins delimited by `edges`.
///
/// # Definition
/// With `b = edges.len() − 1` bins, bin `i` is `[edges[i], edges[i+1])` for
/// `i < b − 1` and the last bin is closed, `[edges[b−1], edges[b]]`.
/// Returns the `b` counts.
///
/// # Remarks
/// * `edges` must be sorted strictly ascending (as produced by
///   [`quantile_bin_edges`]); otherwise the counts are meaningless (but the
///   call does not panic). Fewer than two edges gives an empty vector.
/// * Values below the first edge or above the last are not counted, nor are
///   NaN values. With the `±∞` outer edges of [`quantile_bin_edges`] every
///   non-NaN value (including ±∞) is counted.
/// * `O(n log b)` by binary search, no allocation besides the result.
///
/// # Reference
/// Matches `numpy.histogram(values, bins=edges)[0]`.
///
/// # Examples
/// ```text
/// assert_eq!(histogram(&[0.5, 1.0, 2.0, 9.0], &[0.0, 1.0, 2.0]), vec![1, 2]);
/// ```
pub fn histogram(values: &[f64], edges: &[f64]) -> Vec<u64> {
    if edges.len() < 2 {
        return Vec::new();
    }
    let nb = edges.len() - 1;
    let (lo, hi) = (edges[0], edges[nb]);
    let mut counts = vec![0_u64; nb];
    for &v in values {
        if v.is_nan() || v < lo || v > hi {
            continue;
        }
        let idx = edges
            .partition_point(|&e| e <= v)
            .saturating_sub(1)
            .min(nb - 1);
        counts[idx] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{assert_close, lcg};
    use super::super::tol;
    use super::*;

    const NI: f64 = f64::NEG_INFINITY;
    const PI_: f64 = f64::INFINITY;

    // Expected values: numpy 2.4.6.
    // python3 -c "import numpy as np; x=[((i*7919) % 1000)/10.0 for i in range(523)]; print([repr(v) for v in np.unique(np.quantile(x, [k/10 for k in range(1, 10)]))])"
    #[test]
    fn quantile_bin_edges_match_numpy_deciles() {
        let x = lcg(523, 7919, 1000, 10.0, 0.0);
        let e = quantile_bin_edges(&x, 10);
        let expected: [f64; 9] = [
            9.66,
            19.84,
            30.02,
            40.040000000000006,
            50.0,
            60.14,
            70.34,
            79.82000000000001,
            89.86000000000001,
        ];
        assert_eq!(e.len(), expected.len() + 2);
        assert_eq!((e[0], e[e.len() - 1]), (NI, PI_));
        for (a, b) in e[1..e.len() - 1].iter().zip(expected) {
            assert_close(*a, b, tol::REL, 0.0);
        }
    }

    #[test]
    fn quantile_bin_edges_dedup_and_edge_cases() {
        assert_eq!(
            quantile_bin_edges(&[1.0, 2.0, 3.0, 4.0, 5.0], 4),
            vec![NI, 2.0, 3.0, 4.0, PI_]
        );
        // Heavy ties collapse edges. numpy 2.4.6:
        // python3 -c "import numpy as np; print([repr(v) for v in np.unique(np.quantile([0.0]*8+[1.0,2.0], [k/10 for k in range(1, 10)]))])"
        let tied = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0];
        assert_eq!(
            quantile_bin_edges(&tied, 10),
            vec![NI, 0.0, 0.20000000000000018, 1.0999999999999996, PI_]
        );
        assert_eq!(quantile_bin_edges(&[3.0; 5], 10), vec![NI, 3.0, PI_]);
        assert_eq!(quantile_bin_edges(&[], 10), vec![NI, PI_]);
        assert_eq!(
            quantile_bin_edges(&[f64::NAN, f64::INFINITY], 10),
            vec![NI, PI_]
        );
        assert_eq!(quantile_bin_edges(&[1.0, 2.0], 1), vec![NI, PI_]);
        assert_eq!(quantile_bin_edges(&[1.0, 2.0], 0), vec![NI, PI_]);
        // NaN ignored, not propagated.
        assert_eq!(
            quantile_bin_edges(&[1.0, f64::NAN, 3.0], 2),
            vec![NI, 2.0, PI_]
        );
    }

    // python3 -c "import numpy as np; x=[((i*7919) % 1000)/10.0 for i in range(523)]; print(np.histogram(x, bins=[0.0, 10.0, 25.5, 50.0, 99.9])[0].tolist())"
    #[test]
    fn histogram_matches_numpy() {
        let x = lcg(523, 7919, 1000, 10.0, 0.0);
        let expected: Vec<u64> = vec![54, 80, 127, 262];
        assert_eq!(histogram(&x, &[0.0, 10.0, 25.5, 50.0, 99.9]), expected);
    }

    // python3 -c "import numpy as np; print(np.histogram([0.5,1.0,2.0,9.0],[0.0,1.0,2.0])[0], np.histogram([-1.0,0.0,3.0],[0.0,1.0,2.0])[0], np.histogram([-np.inf,-1.0,0.0,5.0,np.inf],[-np.inf,0.0,np.inf])[0])"
    // → [1 2] [1 0] [2 3]
    #[test]
    fn histogram_edges_and_special_values() {
        assert_eq!(
            histogram(&[0.5, 1.0, 2.0, 9.0], &[0.0, 1.0, 2.0]),
            vec![1, 2]
        );
        assert_eq!(histogram(&[-1.0, 0.0, 3.0], &[0.0, 1.0, 2.0]), vec![1, 0]);
        let e = [NI, 0.0, PI_];
        assert_eq!(
            histogram(&[NI, -1.0, 0.0, 5.0, PI_, f64::NAN], &e),
            vec![2, 3]
        );
        assert_eq!(histogram(&[1.0], &[0.0]), Vec::<u64>::new());
        assert_eq!(histogram(&[], &[0.0, 1.0]), vec![0]);
        // Counts over quantile edges cover every non-NaN value.
        let x = lcg(1000, 7919, 1000, 10.0, 0.0);
        let c = histogram(&x, &quantile_bin_edges(&x, 10));
        assert_eq!(c.iter().sum::<u64>(), 1000);
        assert_eq!(c, vec![100; 10]);
    }
}
