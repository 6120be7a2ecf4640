//! Deterministic sampling of a production window.
//!
//! Each trace stores a seed-independent hash `h(source, external_id)` (the first
//! 8 bytes of BLAKE3, written at ingest: [`trace_sample_hash`]). A run with seed
//! `s` orders the window by `h XOR mask(s)` (signed 64-bit; `mask` is another
//! BLAKE3) and takes the `k` smallest ("bottom-k" sampling). The database does
//! this itself ([`Store::sample_window`](crate::store::Store::sample_window)), so
//! a window of millions of traces is never streamed to the process. The sample
//! is uniform over the window, reproducible, and nested (the sample of size k is
//! a subset of the sample of size k' > k); a trace's membership does not depend
//! on its database id, so SQLite and PostgreSQL choose the same traces.
//!
//! XOR with a mask rather than a keyed hash per seed: SQL has no BLAKE3, and XOR
//! with a fixed mask keeps the hashes uniformly distributed, so each seed's
//! sample is still a uniform random sample. Two seeds' samples are not
//! independent of each other (a seed picks the traces whose top hash bits are
//! closest to its mask's), which a drift run does not need.
//! [`bottom_k_sample`] is the in-memory reference the store is tested against.

use crate::store::{trace_sample_hash, WindowTrace};

/// The mask a seed XORs onto every trace's sampling hash.
pub fn seed_mask(seed: u64) -> i64 {
    let mut h = blake3::Hasher::new();
    h.update(b"driftwatch sample seed");
    h.update(&seed.to_le_bytes());
    let out = h.finalize();
    i64::from_le_bytes(out.as_bytes()[..8].try_into().expect("8 bytes"))
}

/// The sampling key of one trace under `seed` (smaller is sampled first).
pub fn sample_key(seed: u64, source: &str, external_id: &str) -> i64 {
    trace_sample_hash(source, external_id) ^ seed_mask(seed)
}

/// Ids of the `k` traces with the smallest keys (ties by id), sorted by id:
/// what [`Store::sample_window`](crate::store::Store::sample_window) returns.
pub fn bottom_k_sample(traces: &[WindowTrace], k: usize, seed: u64) -> Vec<i64> {
    let mut keyed: Vec<(i64, i64)> = traces
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
    fn xor_as_or_minus_and_is_xor_on_signed_integers() {
        // The identity the store's SQL uses, on the edges of i64 and on hashes.
        let mut v = vec![
            0,
            1,
            -1,
            i64::MIN,
            i64::MAX,
            i64::MIN + 1,
            0x5555_5555_5555_5555,
        ];
        v.extend((0..200u64).map(seed_mask));
        for &a in &v {
            for &b in &v {
                assert_eq!((a | b).checked_sub(a & b), Some(a ^ b), "{a} {b}");
            }
        }
    }

    #[test]
    fn k_larger_than_window_takes_all() {
        assert_eq!(bottom_k_sample(&window(10), 50, 0).len(), 10);
    }
}
