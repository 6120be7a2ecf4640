//! Gap identity across runs: the same uncovered region found again keeps its id.
//!
//! A run's gap clusters are numbered afresh each time (KMeans ids), so without
//! this a gap renamed from `input.cluster.16` to `input.cluster.15` between two
//! runs on the same data resolves one alert and fires another. A gap is
//! described by the unit-length mean of its production members' embeddings
//! and by its members (trace ids); two gaps are the same region when their
//! centroids are within [`SAME_GAP_COS`] (the same topic in another sample) or
//! when at least [`SAME_GAP_OVERLAP`] of the smaller one's members are in the
//! other (the same traces, the region cut differently: two sub-topics merged
//! into one gap keep the id of the one they share most with). Matching is
//! one-to-one, strongest pair first.

use ndarray::ArrayView2;

/// Cosine at or above which two gap centroids are one region. Measured with
/// all-MiniLM-L6-v2 on BANKING77 (77 intents of one domain, the hard case):
/// centroids of two disjoint 40-query samples of one intent are at cosine
/// 0.943–0.998 (median 0.985; 15-query samples: median 0.961, 5th percentile
/// 0.913), centroids of two different intents at median 0.317, 99th
/// percentile 0.794 and at most 0.900 (1 pair of 2,926).
pub const SAME_GAP_COS: f32 = 0.9;

/// Share of the smaller gap's members that must be in the other for two gaps
/// to be one region (overlap coefficient `|A ∩ B| / min(|A|, |B|)`).
pub const SAME_GAP_OVERLAP: f64 = 0.5;

/// What identifies a gap: its centroid ([`gap_centroid`]) and its members.
#[derive(Debug, Clone, Copy)]
pub struct GapSignature<'a> {
    /// Unit-length centroid (empty: unknown).
    pub centroid: &'a [f32],
    /// Member ids (trace ids), any order.
    pub members: &'a [String],
}

fn overlap(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let large: std::collections::HashSet<&String> = large.iter().collect();
    small.iter().filter(|m| large.contains(m)).count() as f64 / small.len() as f64
}

/// Unit-length mean of the rows `members` of `x` (unit rows); empty when
/// `members` is empty or the mean is zero.
pub fn gap_centroid(x: ArrayView2<f32>, members: &[usize]) -> Vec<f32> {
    let mut c = vec![0f32; x.ncols()];
    for &i in members {
        for (a, b) in c.iter_mut().zip(x.row(i)) {
            *a += b;
        }
    }
    if members.is_empty() || c.iter().all(|v| *v == 0.0) {
        return Vec::new();
    }
    crate::embed::l2_normalize(&mut c);
    c
}

/// For each of `current`, the id of the known gap it continues, or `None` for
/// a new gap. A pair qualifies when its centroids are at cosine ≥ `min_cos`
/// or its members overlap by ≥ `min_overlap`; qualifying pairs are taken
/// greedily by the larger of the two scores (ties: lower current index, then
/// lower known id), each known gap at most once. Centroids of another
/// dimension are never compared.
pub fn match_gaps(
    known: &[(i64, GapSignature<'_>)],
    current: &[GapSignature<'_>],
    min_cos: f32,
    min_overlap: f64,
) -> Vec<Option<i64>> {
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (ci, c) in current.iter().enumerate() {
        for (ki, (_, k)) in known.iter().enumerate() {
            // 0 for another dimension or an unknown (empty) centroid.
            let cos = crate::embed::cosine(c.centroid, k.centroid);
            let ov = overlap(c.members, k.members);
            let by_cos = (cos >= min_cos).then_some(f64::from(cos));
            let by_members = (ov >= min_overlap).then_some(ov);
            if let Some(score) = by_cos.into_iter().chain(by_members).reduce(f64::max) {
                pairs.push((score, ci, ki));
            }
        }
    }
    pairs.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then(known[a.2].0.cmp(&known[b.2].0))
    });
    let mut out = vec![None; current.len()];
    let mut taken = vec![false; known.len()];
    for (_, ci, ki) in pairs {
        if out[ci].is_none() && !taken[ki] {
            out[ci] = Some(known[ki].0);
            taken[ki] = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn sig<'a>(centroid: &'a [f32], members: &'a [String]) -> GapSignature<'a> {
        GapSignature { centroid, members }
    }

    fn ids(r: std::ops::Range<u32>) -> Vec<String> {
        r.map(|i| format!("t{i}")).collect()
    }

    #[test]
    fn the_same_region_keeps_its_id_and_a_new_one_gets_none() {
        let none: Vec<String> = Vec::new();
        let a = [1.0f32, 0.0, 0.0];
        let b = [0.0f32, 1.0, 0.0];
        let a2 = [0.99f32, 0.141, 0.0]; // cos(a, a2) ≈ 0.99
        let c = [0.0f32, 0.0, 1.0];
        let known = [(7, sig(&a, &none)), (9, sig(&b, &none))];
        let m = |cur: &[GapSignature<'_>]| match_gaps(&known, cur, SAME_GAP_COS, SAME_GAP_OVERLAP);
        assert_eq!(
            m(&[sig(&c, &none), sig(&a2, &none), sig(&b, &none)]),
            [None, Some(7), Some(9)]
        );
        // One known gap continues at most one current gap: the closer one.
        assert_eq!(m(&[sig(&a2, &none), sig(&a, &none)]), [None, Some(7)]);
        assert_eq!(
            match_gaps(&[], &[sig(&a, &none)], SAME_GAP_COS, SAME_GAP_OVERLAP),
            [None]
        );
        let short = [1.0f32, 0.0];
        assert_eq!(m(&[sig(&short, &none)]), [None]);
    }

    #[test]
    fn two_gaps_merged_into_one_keep_the_id_they_share_most_with() {
        // Run 1 cut the topic in two (t0..t30 and t30..t50); run 2 found one
        // gap over t5..t50, its centroid between the two.
        let (a, b, ab) = ([1.0f32, 0.0], [0.0f32, 1.0], [0.8f32, 0.6]);
        let (ma, mb, mab) = (ids(0..30), ids(30..50), ids(5..50));
        let known = [(1, sig(&a, &ma)), (2, sig(&b, &mb))];
        // Overlap with gap 2 is 20/20, with gap 1 25/30: gap 2 wins.
        assert_eq!(
            match_gaps(&known, &[sig(&ab, &mab)], SAME_GAP_COS, SAME_GAP_OVERLAP),
            [Some(2)]
        );
        // A few shared traces do not make two different topics one.
        let far = [0.0f32, 1.0];
        let few = ids(28..40);
        let only = [(1, sig(&a, &ma))];
        assert_eq!(
            match_gaps(&only, &[sig(&far, &few)], SAME_GAP_COS, SAME_GAP_OVERLAP),
            [None]
        );
    }

    #[test]
    fn the_centroid_is_the_normalised_mean_of_the_members() {
        let x = array![[1.0f32, 0.0], [0.0, 1.0], [-1.0, 0.0]];
        let c = gap_centroid(x.view(), &[0, 1]);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!((c[0] - h).abs() < 1e-6 && (c[1] - h).abs() < 1e-6, "{c:?}");
        assert!(gap_centroid(x.view(), &[]).is_empty());
        assert!(gap_centroid(x.view(), &[0, 2]).is_empty());
    }
}
