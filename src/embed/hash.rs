//! `HashEmbedder`: a tiny deterministic embedder for unit tests.

use super::error::EmbedError;
use super::vector::l2_normalize;
use super::Embedder;

/// Default dimension of [`HashEmbedder`] vectors.
pub const HASH_DEFAULT_DIM: usize = 64;

/// Deterministic, dependency-free embedder for tests of code that only needs
/// *some* vectors (caching, storage, drift arithmetic, plumbing).
///
/// Each text is lower-cased, wrapped in one space on each side, and every
/// character trigram is hashed (FNV-1a, 64-bit) into one of `dim` buckets with a
/// ±1 sign taken from another hash bit; the result is L2-normalised. Texts that
/// share many trigrams get high cosine, so "near-duplicate" vs "unrelated" still
/// behaves sensibly, but there is **no semantics** (paraphrases with different
/// words score low). A text with fewer than one trigram (the empty string) maps
/// to the all-zero vector. Never use it in production.
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    dim: usize,
    model_id: String,
}

impl HashEmbedder {
    /// A hashed-trigram embedder with `dim` dimensions (`dim >= 1`).
    pub fn new(dim: usize) -> Self {
        let dim = dim.max(1);
        Self {
            dim,
            model_id: format!("hash-trigram-{dim}@v1"),
        }
    }

    /// One vector, without the `Result` wrapper.
    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0.0f32; self.dim];
        let chars: Vec<char> = std::iter::once(' ')
            .chain(text.chars().flat_map(char::to_lowercase))
            .chain(std::iter::once(' '))
            .collect();
        for w in chars.windows(3) {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for c in w {
                for b in (*c as u32).to_le_bytes() {
                    h ^= u64::from(b);
                    h = h.wrapping_mul(0x0000_0100_0000_01b3);
                }
            }
            let bucket = (h % self.dim as u64) as usize;
            let sign = if (h >> 63) == 0 { 1.0 } else { -1.0 };
            v[bucket] += sign;
        }
        l2_normalize(&mut v);
        v
    }
}

impl Default for HashEmbedder {
    fn default() -> Self {
        Self::new(HASH_DEFAULT_DIM)
    }
}

impl Embedder for HashEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::cosine;

    #[test]
    fn deterministic_normalised_and_sized() {
        let mut e = HashEmbedder::default();
        assert_eq!(e.dim(), 64);
        assert_eq!(e.model_id(), "hash-trigram-64@v1");
        let a = e.embed(&["Hello world", "Hello world"]).unwrap();
        assert_eq!(a[0], a[1]);
        assert_eq!(a[0].len(), 64);
        let norm: f32 = a[0].iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        // Same on a fresh instance: no hidden state.
        assert_eq!(HashEmbedder::new(64).embed_one("Hello world"), a[0]);
    }

    #[test]
    fn similar_text_scores_higher_than_unrelated() {
        let e = HashEmbedder::default();
        let a = e.embed_one("the quick brown fox jumps over the lazy dog");
        let b = e.embed_one("the quick brown fox jumped over a lazy dog");
        let c = e.embed_one("quarterly revenue grew twelve percent");
        assert!(cosine(&a, &b) > 0.7, "{}", cosine(&a, &b));
        assert!(cosine(&a, &c) < cosine(&a, &b));
    }

    #[test]
    fn empty_text_is_zero_vector() {
        let e = HashEmbedder::new(8);
        assert_eq!(e.embed_one(""), vec![0.0; 8]);
        assert_eq!(e.embed_one("x").len(), 8);
    }
}
