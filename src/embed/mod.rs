//! Text → vector. This module owns turning production LLM inputs/outputs and
//! golden-set texts into L2-normalised embedding vectors: the [`Embedder`]
//! trait, its backends (an in-process ONNX model via fastembed on a dynamically
//! loaded ONNX Runtime, a static token table distilled from that model, an
//! OpenAI-compatible HTTP server, and a hashed-trigram
//! embedder for tests), their `[embedding]` configuration, and the vector helpers
//! the rest of driftwatch shares (cosine similarity and the little-endian f32
//! byte encoding the vector cache stores). It must not do storage: no SQL, no
//! database, no cache lookups, no content hashing of texts (the store owns
//! those); it never downloads anything at run time (the model and the ONNX
//! Runtime library are provisioned by `scripts/fetch-model.sh`), and it never
//! holds secrets inline (API keys come from an environment variable or a file).
//!
//! Every vector an [`Embedder`] returns is L2-normalised, and every vector of
//! one [`Embedder::model_id`] is comparable with every other: the id changes
//! whenever the model (file hash), truncation or server model changes.

mod batch;
mod config;
mod distilled;
mod error;
mod hash;
mod local;
mod openai;
#[cfg(test)]
pub(crate) mod testkit;
mod vector;

use std::path::Path;

pub use config::{Backend, EmbedConfig, DEFAULT_MODEL_DIR, DEFAULT_ONNXRUNTIME_LIB, ORT_DYLIB_ENV};
pub use distilled::{distill, StaticEmbedder, StaticTable, TABLE_FILE};
pub use error::EmbedError;
pub use hash::{HashEmbedder, HASH_DEFAULT_DIM};
pub use local::{LocalEmbedder, MODEL_FILES};
pub use openai::OpenAiEmbedder;
pub use vector::{cosine, l2_normalize, le_bytes_to_vec, vec_to_le_bytes};

/// Something that turns texts into vectors.
///
/// Contract: `embed` returns exactly one vector per input text, in input order,
/// each of length [`dim`](Embedder::dim) and L2-normalised (an all-zero vector
/// is allowed only for [`HashEmbedder`] on empty text). Vectors with the same
/// [`model_id`](Embedder::model_id) are comparable; different ids must never be
/// mixed.
pub trait Embedder: Send {
    /// Stable identifier of the model that produced the vectors, e.g.
    /// `all-MiniLM-L6-v2@sha256:8199be6f699a`.
    fn model_id(&self) -> &str;
    /// Vector dimension.
    fn dim(&self) -> usize;
    /// Embed `texts`; an empty slice gives an empty result.
    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// Build the embedder `cfg.backend` names. Relative paths in `cfg` are resolved
/// against `base_dir` (normally the directory of the config file).
pub fn build_embedder(cfg: &EmbedConfig, base_dir: &Path) -> Result<Box<dyn Embedder>, EmbedError> {
    cfg.validate()?;
    Ok(match cfg.backend {
        Backend::Local => Box::new(LocalEmbedder::new(cfg, base_dir)?),
        Backend::Static => Box::new(StaticEmbedder::new(cfg, base_dir)?),
        Backend::OpenAi => Box::new(OpenAiEmbedder::new(cfg, base_dir)?),
        Backend::Hash => Box::new(HashEmbedder::new(cfg.dim.unwrap_or(HASH_DEFAULT_DIM))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn builds_hash_backend() {
        let cfg = EmbedConfig {
            backend: Backend::Hash,
            dim: Some(16),
            ..EmbedConfig::default()
        };
        let mut e = build_embedder(&cfg, Path::new("/")).unwrap();
        assert_eq!(e.dim(), 16);
        assert_eq!(e.embed(&["a b c", "d"]).unwrap().len(), 2);
    }

    #[test]
    fn builds_local_backend_from_base_dir() {
        let model_dir = testkit::model_dir();
        let cfg = EmbedConfig {
            model_dir: model_dir.clone(),
            onnxruntime_lib: testkit::ort_lib(),
            ..EmbedConfig::default()
        };
        let mut e = build_embedder(&cfg, Path::new("/nonexistent-base")).unwrap();
        assert_eq!(e.dim(), 384);
        assert!(e.model_id().starts_with("all-MiniLM-L6-v2@sha256:"));
        let v = e.embed(&["hello"]).unwrap();
        let norm: f32 = v[0].iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }

    #[test]
    fn local_backend_with_missing_files_names_the_script() {
        let base = PathBuf::from("/nonexistent-driftwatch-base");
        let cfg = EmbedConfig {
            onnxruntime_lib: testkit::ort_lib(),
            ..EmbedConfig::default()
        };
        let err = build_embedder(&cfg, &base)
            .err()
            .expect("must fail")
            .to_string();
        assert!(
            err.contains("/nonexistent-driftwatch-base/models/all-MiniLM-L6-v2"),
            "{err}"
        );
        assert!(err.contains("run scripts/fetch-model.sh"), "{err}");
    }
}
