//! Topic exclusions in embedding space: which production rows, and which gaps,
//! fall inside a topic the data team excluded.
//!
//! An exclusion is a set of exemplar rows (the production inputs of the topic
//! when it was excluded). Two rules, both on unit-length rows:
//! - a **row** is inside an exclusion when its cosine to one of the
//!   exclusion's exemplars is ≥ `min_cos` (a job setting, default 0.8): a
//!   proposal candidate inside any exclusion is not proposed;
//! - a **gap** is inside an exclusion when its centroid is within
//!   [`SAME_GAP_COS`] of the exemplars' centroid — the same calibrated rule
//!   that says two gaps of different runs are one region
//!   ([`super::identity`]) — or when at least half of its production rows are
//!   inside it (the topic found again, cut into smaller gaps). A gap that only
//!   touches an excluded topic stays a gap; its rows inside the topic are
//!   simply never proposed.

use ndarray::ArrayView2;

use super::identity::{gap_centroid, SAME_GAP_COS};

/// Exemplar rows grouped by exclusion, with each group's centroid.
#[derive(Debug, Clone, Default)]
pub struct Exclusions {
    /// For each exemplar row, the index of its exclusion.
    owner: Vec<usize>,
    /// Unit-length centroid of each exclusion's exemplars (empty: none).
    centroids: Vec<Vec<f32>>,
}

impl Exclusions {
    /// `owner[i]` is the exclusion (0..n) exemplar row `i` of `exemplars` shows.
    pub fn new(exemplars: ArrayView2<f32>, owner: &[usize], n: usize) -> Exclusions {
        let centroids = (0..n)
            .map(|x| {
                let rows: Vec<usize> = (0..owner.len()).filter(|&i| owner[i] == x).collect();
                gap_centroid(exemplars, &rows)
            })
            .collect();
        Exclusions {
            owner: owner.to_vec(),
            centroids,
        }
    }

    /// For each row of `points`, the exclusion holding its most similar
    /// exemplar at cosine ≥ `min_cos`, if any.
    pub fn rows_inside(
        &self,
        points: ArrayView2<f32>,
        exemplars: ArrayView2<f32>,
        min_cos: f32,
    ) -> Vec<Option<usize>> {
        if exemplars.nrows() == 0 || exemplars.ncols() != points.ncols() {
            return vec![None; points.nrows()];
        }
        let sims = points.dot(&exemplars.t());
        sims.rows()
            .into_iter()
            .map(|row| {
                let (best, s) =
                    row.iter()
                        .enumerate()
                        .fold((0, f32::MIN), |a, (j, &s)| if s > a.1 { (j, s) } else { a });
                (s >= min_cos).then(|| self.owner[best])
            })
            .collect()
    }

    /// The exclusion a gap falls in: the one whose centroid is nearest the
    /// gap's `centroid` at cosine ≥ [`SAME_GAP_COS`], else the one holding at
    /// least half of the gap's `members` (by [`Exclusions::rows_inside`]'s
    /// verdicts `inside`) — a topic excluded whole and found again as two
    /// smaller gaps is still excluded.
    pub fn gap_inside(
        &self,
        centroid: &[f32],
        members: &[usize],
        inside: &[Option<usize>],
    ) -> Option<usize> {
        self.same_region(centroid).or_else(|| {
            let mut counts = vec![0usize; self.centroids.len()];
            for x in members
                .iter()
                .filter_map(|&i| inside.get(i).copied().flatten())
            {
                counts[x] += 1;
            }
            counts
                .iter()
                .enumerate()
                .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
                .filter(|(_, c)| **c > 0 && 2 * **c >= members.len())
                .map(|(i, _)| i)
        })
    }

    fn same_region(&self, centroid: &[f32]) -> Option<usize> {
        self.centroids
            .iter()
            .enumerate()
            .filter(|(_, c)| c.len() == centroid.len() && !c.is_empty())
            .map(|(i, c)| (i, c.iter().zip(centroid).map(|(a, b)| a * b).sum::<f32>()))
            .filter(|(_, s)| *s >= SAME_GAP_COS)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn unit(deg: f32) -> [f32; 2] {
        let r = deg.to_radians();
        [r.cos(), r.sin()]
    }

    fn rows(degs: &[f32]) -> Array2<f32> {
        Array2::from_shape_vec(
            (degs.len(), 2),
            degs.iter().flat_map(|d| unit(*d)).collect(),
        )
        .unwrap()
    }

    #[test]
    fn rows_near_an_exemplar_are_inside_its_exclusion() {
        // Exclusion 0 around 0°, exclusion 1 around 90°.
        let ex = rows(&[-5.0, 5.0, 85.0, 95.0]);
        let x = Exclusions::new(ex.view(), &[0, 0, 1, 1], 2);
        // cos 30° = 0.866 ≥ 0.8; cos 40° = 0.766 < 0.8.
        let p = rows(&[10.0, 45.0, 120.0, 200.0, 136.0]);
        assert_eq!(
            x.rows_inside(p.view(), ex.view(), 0.8),
            vec![Some(0), None, Some(1), None, None]
        );
        // No exemplars: nothing is inside.
        let none = Exclusions::default();
        let empty = Array2::<f32>::zeros((0, 2));
        assert_eq!(none.rows_inside(p.view(), empty.view(), 0.8), vec![None; 5]);
    }

    #[test]
    fn a_gap_is_inside_when_its_centroid_is_the_same_region() {
        let ex = rows(&[-10.0, 10.0, 80.0, 100.0]);
        let x = Exclusions::new(ex.view(), &[0, 0, 1, 1], 2);
        // cos 20° = 0.940 ≥ 0.9: same region; cos 30° = 0.866: another one.
        assert_eq!(x.gap_inside(&unit(20.0), &[], &[]), Some(0));
        assert_eq!(x.gap_inside(&unit(70.0), &[], &[]), Some(1));
        assert_eq!(x.gap_inside(&unit(45.0), &[], &[]), None);
        assert_eq!(
            x.gap_inside(&[1.0, 0.0, 0.0], &[], &[]),
            None,
            "other dimension"
        );
        // A gap elsewhere with half its rows inside exclusion 1 is in it; with
        // fewer than half, it is not.
        let inside = [Some(1), None, Some(1), Some(0), None];
        assert_eq!(x.gap_inside(&unit(45.0), &[0, 1, 2, 4], &inside), Some(1));
        assert_eq!(x.gap_inside(&unit(45.0), &[0, 1, 3, 4], &inside), None);
    }
}
