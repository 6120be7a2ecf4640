//! Embedding through the cache: every text is embedded at most once per model.
//! A run asks the store first, embeds only the misses (deduplicated, in batches,
//! on a blocking thread — never on the async workers) and stores them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ndarray::Array2;

use super::error::JobError;
use crate::embed::{le_bytes_to_vec, vec_to_le_bytes, EmbedConfig, Embedder};
use crate::store::{content_hash, Store};

/// Texts embedded per blocking call and per cache write.
const CHUNK: usize = 256;

/// An embedder shared by runs (loading the model takes ~0.5 s; keep one).
#[derive(Clone)]
pub struct SharedEmbedder {
    inner: Arc<Mutex<Box<dyn Embedder>>>,
    model_id: String,
    dim: usize,
}

impl std::fmt::Debug for SharedEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedEmbedder")
            .field("model_id", &self.model_id)
            .finish()
    }
}

impl SharedEmbedder {
    pub fn new(e: Box<dyn Embedder>) -> SharedEmbedder {
        SharedEmbedder {
            model_id: e.model_id().to_string(),
            dim: e.dim(),
            inner: Arc::new(Mutex::new(e)),
        }
    }

    /// Builds the configured embedder (loads the model).
    pub fn build(
        cfg: &EmbedConfig,
        base_dir: &std::path::Path,
    ) -> Result<SharedEmbedder, crate::embed::EmbedError> {
        Ok(SharedEmbedder::new(crate::embed::build_embedder(
            cfg, base_dir,
        )?))
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }
    pub fn dim(&self) -> usize {
        self.dim
    }
}

/// The embedders a process keeps: one per distinct embedding setting its
/// semantic jobs use (`[embedding]`, or a job's `embedding = "static"`).
#[derive(Clone, Default, Debug)]
pub struct Embedders(Vec<(EmbedConfig, SharedEmbedder)>);

impl Embedders {
    /// One embedder per setting the enabled semantic `jobs` use, reusing those
    /// of `current` whose settings did not change. A failure names the first
    /// job that needs the embedder that failed.
    pub fn for_jobs(
        jobs: &[super::JobSpec],
        global: &EmbedConfig,
        base_dir: &std::path::Path,
        current: &Embedders,
    ) -> Result<Embedders, (String, crate::embed::EmbedError)> {
        let mut out = Embedders::default();
        for job in jobs.iter().filter(|j| j.semantic.enabled) {
            let cfg = job.semantic.embed_config(global);
            if out.get(&cfg).is_some() {
                continue;
            }
            let e = match current.get(&cfg) {
                Some(e) => e,
                None => SharedEmbedder::build(&cfg, base_dir).map_err(|e| (job.name.clone(), e))?,
            };
            out.0.push((cfg, e));
        }
        Ok(out)
    }

    /// The embedder built for `cfg`.
    pub fn get(&self, cfg: &EmbedConfig) -> Option<SharedEmbedder> {
        self.0
            .iter()
            .find(|(c, _)| c == cfg)
            .map(|(_, e)| e.clone())
    }

    /// The embedder of `job` (None when its semantic stage is off).
    pub fn for_job(&self, job: &super::JobSpec, global: &EmbedConfig) -> Option<SharedEmbedder> {
        job.semantic
            .enabled
            .then(|| self.get(&job.semantic.embed_config(global)))
            .flatten()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Cache hits and misses of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct EmbedStats {
    pub hits: u64,
    pub misses: u64,
}

impl std::ops::AddAssign for EmbedStats {
    fn add_assign(&mut self, o: EmbedStats) {
        self.hits += o.hits;
        self.misses += o.misses;
    }
}

/// Vectors for `texts` (rows in input order), through the cache.
pub async fn embed_cached(
    store: &Store,
    embedder: &SharedEmbedder,
    texts: &[&str],
    progress: Option<&indicatif::ProgressBar>,
) -> Result<(Array2<f32>, EmbedStats), JobError> {
    let hashes: Vec<String> = texts.iter().map(|t| content_hash(t)).collect();
    let mut unique: Vec<String> = hashes.clone();
    unique.sort();
    unique.dedup();
    let mut cached: HashMap<String, Vec<f32>> = HashMap::with_capacity(unique.len());
    for (h, bytes) in store.cached_embeddings(&embedder.model_id, &unique).await? {
        let v = le_bytes_to_vec(&bytes)?;
        if v.len() == embedder.dim {
            cached.insert(h, v);
        }
    }
    let mut stats = EmbedStats {
        hits: cached.len() as u64,
        misses: 0,
    };
    // Misses, one text per distinct hash.
    let mut seen = std::collections::HashSet::new();
    let misses: Vec<(String, String)> = hashes
        .iter()
        .zip(texts)
        .filter(|(h, _)| !cached.contains_key(*h) && seen.insert((*h).clone()))
        .map(|(h, t)| (h.clone(), t.to_string()))
        .collect();
    stats.misses = misses.len() as u64;
    crate::telemetry::METRICS.embedding_cache(stats.hits, stats.misses);
    if let Some(pb) = progress {
        pb.set_length(misses.len() as u64);
    }
    for chunk in misses.chunks(CHUNK) {
        let e = embedder.clone();
        let owned: Vec<String> = chunk.iter().map(|(_, t)| t.clone()).collect();
        let vecs = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
            let mut guard = e.inner.lock().unwrap_or_else(|p| p.into_inner());
            guard.embed(&refs)
        })
        .await
        .map_err(|e| JobError::Internal(e.to_string()))??;
        let rows: Vec<(String, Vec<u8>)> = chunk
            .iter()
            .zip(&vecs)
            .map(|((h, _), v)| (h.clone(), vec_to_le_bytes(v)))
            .collect();
        store
            .put_embeddings(&embedder.model_id, embedder.dim, &rows)
            .await?;
        for ((h, _), v) in chunk.iter().zip(vecs) {
            cached.insert(h.clone(), v);
        }
        if let Some(pb) = progress {
            pb.inc(chunk.len() as u64);
        }
    }
    let mut m = Array2::<f32>::zeros((texts.len(), embedder.dim));
    for (i, h) in hashes.iter().enumerate() {
        let v = cached
            .get(h)
            .ok_or_else(|| JobError::Internal(format!("no vector for {h}")))?;
        m.row_mut(i)
            .assign(&ndarray::ArrayView1::from(v.as_slice()));
    }
    tracing::info!(message = "Embedded through cache.", model = %embedder.model_id, hits = stats.hits, misses = stats.misses);
    Ok((m, stats))
}
