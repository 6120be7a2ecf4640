//! Deterministic sampling of a production window.
//!
//! Each trace gets a key `h(seed, source, external_id)` (the first 8 bytes of
//! BLAKE3); the sample of size k is the k traces with the smallest keys
//! ("bottom-k" sampling). It is uniform over the window, reproducible, and
//! nested: the sample of size k is a subset of the sample of size k' > k, and a
//! trace's membership does not depend on its database id, so the same traces are
//! chosen on SQLite and PostgreSQL.

use std::collections::BinaryHeap;

use crate::store::WindowTrace;

/// The sampling key of one trace.
pub fn sample_key(seed: u64, source: &str, external_id: &str) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_le_bytes());
    h.update(source.as_bytes());
    h.update(&[0x1f]);
    h.update(external_id.as_bytes());
    let out = h.finalize();
    u64::from_le_bytes(out.as_bytes()[..8].try_into().expect("8 bytes"))
}

/// Ids of the `k` traces with the smallest keys, sorted by id.
pub fn bottom_k_sample(traces: &[WindowTrace], k: usize, seed: u64) -> Vec<i64> {
    let mut keyed: Vec<(u64, i64)> = traces
        .iter()
        .map(|t| (sample_key(seed, &t.source, &t.external_id), t.id))
        .collect();
    if keyed.len() > k {
        keyed.select_nth_unstable(k);
        keyed.truncate(k);
    }
    let mut ids: Vec<i64> = keyed.into_iter().map(|(_, id)| id).collect();
    ids.sort_unstable();
    ids
}

/// [`bottom_k_sample`] over a stream: push each trace's key and id, keep only
/// the `k` smallest `(key, id)` pairs (O(k) memory, however large the window).
#[derive(Debug, Clone)]
pub struct BottomK {
    k: usize,
    heap: BinaryHeap<(u64, i64)>,
}

impl BottomK {
    pub fn new(k: usize) -> Self {
        BottomK {
            k,
            heap: BinaryHeap::new(),
        }
    }

    /// Offers one trace.
    pub fn push(&mut self, key: u64, id: i64) {
        if self.heap.len() < self.k {
            self.heap.push((key, id));
        } else if let Some(mut top) = self.heap.peek_mut() {
            if (key, id) < *top {
                *top = (key, id);
            }
        }
    }

    /// The sampled ids, sorted.
    pub fn into_ids(self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.heap.into_iter().map(|(_, id)| id).collect();
        ids.sort_unstable();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(n: usize) -> Vec<WindowTrace> {
        (0..n)
            .map(|i| WindowTrace {
                id: i as i64 * 3 + 1,
                source: "s".into(),
                external_id: format!("e{i}"),
            })
            .collect()
    }

    #[test]
    fn smaller_sample_is_subset_of_larger() {
        let w = window(5000);
        let small = bottom_k_sample(&w, 100, 7);
        let large = bottom_k_sample(&w, 1000, 7);
        assert_eq!(small.len(), 100);
        assert!(small.iter().all(|id| large.binary_search(id).is_ok()));
        // Deterministic, and another seed gives another sample.
        assert_eq!(small, bottom_k_sample(&w, 100, 7));
        assert_ne!(small, bottom_k_sample(&w, 100, 8));
    }

    #[test]
    fn sample_is_roughly_uniform_over_the_window() {
        let w = window(10_000);
        let s = bottom_k_sample(&w, 2000, 1);
        // ids are increasing with position: the first half of the window should hold ~half.
        let first_half = s.iter().filter(|&&id| id < 5000 * 3).count();
        assert!((900..1100).contains(&first_half), "{first_half}");
    }

    #[test]
    fn streaming_bottom_k_equals_the_batch_sample() {
        let w = window(5000);
        for k in [0, 1, 100, 4999, 5000, 6000] {
            let mut b = BottomK::new(k);
            for t in &w {
                b.push(sample_key(3, &t.source, &t.external_id), t.id);
            }
            assert_eq!(b.into_ids(), bottom_k_sample(&w, k, 3), "k = {k}");
        }
    }

    #[test]
    fn k_larger_than_window_takes_all() {
        assert_eq!(bottom_k_sample(&window(10), 50, 0).len(), 10);
    }
}
