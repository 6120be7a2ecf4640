//! `StaticEmbedder`: a static token table distilled from the local sentence
//! model, looked up with no transformer at run time (Model2Vec's recipe,
//! Tulkens & van Dongen 2024, as model2vec 0.10's `distill` does it).
//!
//! Distillation (once; [`distill`], about 15 s on 2 cores for MiniLM's 30,522
//! tokens, cached next to the model as [`TABLE_FILE`]):
//! 1. every WordPiece token but `[unusedN]` runs through the ONNX model alone,
//!    as `[CLS] tok [SEP]`, and the three output positions are averaged (the
//!    sentence model's mean pooling);
//! 2. the token vectors are centred (their mean is subtracted). Model2Vec then
//!    projects on the top principal components; a projection on *all* of them is
//!    a rotation, which changes no cosine, so keeping every dimension is centring
//!    alone, and the table keeps all 384;
//! 3. each row is scaled by a SIF weight `a / (a + p)`, with `p` a Zipf estimate
//!    of the token's probability from its rank in vocabulary order,
//!    `p ∝ 1 / (rank + 2)`, and `a = 1e-4` (model2vec's default; `1e-3` found
//!    fewer held-out intents on the detection benchmark, BENCHMARKS.md).
//!
//! A text's vector is the mean of its tokens' rows (the model's own tokenizer,
//! no special tokens, at most [`MAX_TOKENS`]), L2-normalised. It is ~100× faster
//! than the transformer and much weaker at separating near topics; see
//! BENCHMARKS.md ("A static embedding distilled from MiniLM").

use std::path::{Path, PathBuf};

use ndarray::{Array2, Axis};
use ort::session::Session;
use ort::value::Value;

use super::config::EmbedConfig;
use super::error::{one_line, EmbedError};
use super::local::{model_hash, read, runtime};
use super::vector::l2_normalize;
use super::Embedder;

/// The cached table's file name, in the model folder (or the state folder when
/// that is read-only).
pub const TABLE_FILE: &str = "static-distilled.f32";
/// Tokens of a text that count (a mean over more changes little).
pub const MAX_TOKENS: usize = 512;
/// The SIF parameter `a`.
const SIF: f64 = 1e-4;
/// Header: magic, then the source model's 12-hex hash, rows and dim (u32 LE).
const MAGIC: &[u8; 8] = b"DWSTATv1";
/// Tokens per model call while distilling.
const BATCH: usize = 256;

/// A distilled table: one row per token id (zero for special and unused ids).
pub struct StaticTable {
    rows: Array2<f32>,
    /// Ids never averaged into a text (special tokens, `[unusedN]`).
    skip: Vec<bool>,
}

fn model_err(what: &str, e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Model(one_line(&format!("{what}: {e}"), 400))
}

/// What distillation and lookup need from `tokenizer.json`.
struct Vocab {
    /// Token ids in vocabulary order that get a row.
    ids: Vec<u32>,
    /// Which ids a text skips (special tokens, `[unusedN]`).
    skip: Vec<bool>,
    cls: i64,
    sep: i64,
}

fn vocabulary(tokenizer_json: &[u8]) -> Result<Vocab, EmbedError> {
    let tj: serde_json::Value =
        serde_json::from_slice(tokenizer_json).map_err(|e| model_err("tokenizer.json", e))?;
    let vocab = tj["model"]["vocab"]
        .as_object()
        .ok_or_else(|| EmbedError::Model("tokenizer.json has no model.vocab map".into()))?;
    let n = vocab
        .values()
        .filter_map(|v| v.as_u64())
        .max()
        .map_or(0, |m| m as usize + 1);
    let mut skip = vec![false; n];
    let mut ids = Vec::with_capacity(n);
    for (tok, id) in vocab {
        let Some(id) = id.as_u64() else { continue };
        if tok.starts_with("[unused") && tok.ends_with(']') {
            skip[id as usize] = true;
        } else {
            ids.push(id as u32);
        }
    }
    for a in tj["added_tokens"].as_array().into_iter().flatten() {
        if a["special"].as_bool() == Some(true) {
            if let Some(id) = a["id"].as_u64().filter(|&i| (i as usize) < n) {
                skip[id as usize] = true;
            }
        }
    }
    ids.sort_unstable();
    let special = |name: &str| {
        vocab
            .get(name)
            .and_then(|v| v.as_i64())
            .ok_or_else(|| EmbedError::Model(format!("tokenizer.json has no {name} token")))
    };
    Ok(Vocab {
        cls: special("[CLS]")?,
        sep: special("[SEP]")?,
        ids,
        skip,
    })
}

/// Distils the table from the model in `model_dir` (see the module doc).
pub fn distill(
    model_dir: &Path,
    ort_lib: &Path,
    threads: usize,
) -> Result<StaticTable, EmbedError> {
    let env = runtime(ort_lib)?;
    let onnx = read(&model_dir.join("model.onnx"))?;
    let tok_json = read(&model_dir.join("tokenizer.json"))?;
    let Vocab {
        ids,
        skip,
        cls,
        sep,
    } = vocabulary(&tok_json)?;
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let mut session = Session::builder(&env)
        .map_err(|e| model_err("session", e))?
        .with_intra_threads(threads)
        .map_err(|e| model_err("session", e))?
        .commit_from_memory(&onnx)
        .map_err(|e| model_err("loading model.onnx", e))?;
    let token_types = session
        .inputs()
        .iter()
        .any(|i| i.name() == "token_type_ids");
    let mut vectors: Option<Array2<f32>> = None;
    for (b, chunk) in ids.chunks(BATCH).enumerate() {
        let n = chunk.len();
        let mut input = Vec::with_capacity(n * 3);
        for &id in chunk {
            input.extend([cls, i64::from(id), sep]);
        }
        let value = |v: Vec<i64>| Value::from_array(([n, 3], v)).map_err(|e| model_err("input", e));
        let mut inputs = ort::inputs![
            "input_ids" => value(input)?,
            "attention_mask" => value(vec![1; n * 3])?,
        ];
        if token_types {
            inputs.push(("token_type_ids".into(), value(vec![0; n * 3])?.into()));
        }
        let out = session.run(inputs).map_err(|e| model_err("inference", e))?;
        // [n, 3, dim]: every position is real, so the pooled vector is the plain mean.
        let (shape, hidden) = out[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| model_err("output", e))?;
        let dim = shape.get(2).copied().unwrap_or(0) as usize;
        if dim == 0 || hidden.len() != n * 3 * dim {
            return Err(EmbedError::Model(format!(
                "unexpected model output shape {shape:?}"
            )));
        }
        let v = vectors.get_or_insert_with(|| Array2::zeros((ids.len(), dim)));
        for r in 0..n {
            for c in 0..dim {
                let at = |pos: usize| hidden[(r * 3 + pos) * dim + c];
                v[[b * BATCH + r, c]] = (at(0) + at(1) + at(2)) / 3.0;
            }
        }
    }
    let mut vectors = vectors.ok_or_else(|| EmbedError::Model("empty vocabulary".into()))?;
    // Centre (what a full-rank PCA leaves of the table, up to a rotation).
    if let Some(mean) = vectors.mean_axis(Axis(0)) {
        vectors -= &mean;
    }
    // SIF weights from a Zipf law over the vocabulary rank.
    let z: f64 = (0..ids.len()).map(|r| 1.0 / (r as f64 + 2.0)).sum();
    let dim = vectors.ncols();
    let mut rows = Array2::<f32>::zeros((skip.len(), dim));
    for (rank, &id) in ids.iter().enumerate() {
        if skip[id as usize] {
            continue;
        }
        let p = 1.0 / (rank as f64 + 2.0) / z;
        let w = (SIF / (SIF + p)) as f32;
        rows.row_mut(id as usize).assign(&(&vectors.row(rank) * w));
    }
    Ok(StaticTable { rows, skip })
}

impl StaticTable {
    /// Writes the table, tagged with the source model's hash.
    fn save(&self, path: &Path, hash: &str) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(32 + self.rows.len() * 4);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(hash.as_bytes());
        bytes.extend_from_slice(&(self.rows.nrows() as u32).to_le_bytes());
        bytes.extend_from_slice(&(self.rows.ncols() as u32).to_le_bytes());
        for x in &self.rows {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        // A name of its own, so two processes distilling at once do not mix.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp.{}.{n}", std::process::id()));
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, path)
    }

    /// Reads a table written for the model with `hash`; `None` when the file
    /// is missing, from another model or malformed (it is then distilled again).
    fn load(path: &Path, hash: &str, skip: Vec<bool>) -> Option<StaticTable> {
        let bytes = std::fs::read(path).ok()?;
        let head = 8 + hash.len();
        if bytes.len() < head + 8 || &bytes[..8] != MAGIC || &bytes[8..head] != hash.as_bytes() {
            return None;
        }
        let u = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4")) as usize;
        let (n, dim) = (u(head), u(head + 4));
        let body = &bytes[head + 8..];
        if n != skip.len() || body.len() != n * dim * 4 {
            return None;
        }
        let data: Vec<f32> = body
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4")))
            .collect();
        Some(StaticTable {
            rows: Array2::from_shape_vec((n, dim), data).ok()?,
            skip,
        })
    }
}

/// Static embeddings from a table distilled from the local model.
pub struct StaticEmbedder {
    table: StaticTable,
    tokenizer: tokenizers::Tokenizer,
    model_id: String,
}

impl StaticEmbedder {
    /// The table for the local model [`EmbedConfig::locate_model`] finds: read
    /// from its cache, or distilled now and cached (in the model folder, or,
    /// when that is read-only, under `$STATE_DIRECTORY/models` or
    /// `$XDG_DATA_HOME/driftwatch/models`).
    pub fn new(cfg: &EmbedConfig, base_dir: &Path) -> Result<Self, EmbedError> {
        cfg.validate()?;
        let place = cfg.locate_model(base_dir)?;
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let cache = var("STATE_DIRECTORY")
            .map(|d| PathBuf::from(d.split(':').next().unwrap_or_default()).join("models"))
            .or_else(|| {
                var("XDG_DATA_HOME")
                    .map(PathBuf::from)
                    .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".local/share")))
                    .map(|d| d.join("driftwatch/models"))
            });
        Self::with_paths(
            &place.model_dir,
            &place.onnxruntime_lib,
            cfg.threads,
            cache.as_deref(),
        )
    }

    /// Where the table of the model in `model_dir` is cached.
    pub fn table_paths(model_dir: &Path, cache_dir: Option<&Path>) -> Vec<PathBuf> {
        let mut v = vec![model_dir.join(TABLE_FILE)];
        if let Some(d) = cache_dir {
            let name = model_dir.file_name().map(PathBuf::from).unwrap_or_default();
            v.push(d.join(name).join(TABLE_FILE));
        }
        v
    }

    pub fn with_paths(
        model_dir: &Path,
        ort_lib: &Path,
        threads: usize,
        cache_dir: Option<&Path>,
    ) -> Result<Self, EmbedError> {
        let onnx_path = model_dir.join("model.onnx");
        if !onnx_path.is_file() {
            return Err(EmbedError::MissingModel { path: onnx_path });
        }
        let hash = model_hash(&read(&onnx_path)?);
        let tok_path = model_dir.join("tokenizer.json");
        let skip = vocabulary(&read(&tok_path)?)?.skip;
        let mut tokenizer = tokenizers::Tokenizer::from_file(&tok_path)
            .map_err(|e| model_err("tokenizer.json", e))?;
        tokenizer
            .with_truncation(None)
            .map_err(|e| model_err("tokenizer", e))?;
        tokenizer.with_padding(None);
        let paths = Self::table_paths(model_dir, cache_dir);
        let table = match paths
            .iter()
            .find_map(|p| StaticTable::load(p, &hash, skip.clone()))
        {
            Some(t) => t,
            None => {
                tracing::info!(model = %model_dir.display(), "distilling a static embedding table (once)");
                let t = distill(model_dir, ort_lib, threads)?;
                let saved = paths.iter().find(|p| {
                    p.parent()
                        .is_some_and(|d| std::fs::create_dir_all(d).is_ok())
                        && t.save(p, &hash).is_ok()
                });
                match saved {
                    Some(p) => tracing::info!(path = %p.display(), "static embedding table cached"),
                    None => tracing::warn!("no writable place for the static embedding table; it is distilled again next time"),
                }
                t
            }
        };
        let name = model_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "local-model".into());
        Ok(StaticEmbedder {
            model_id: format!("{name}-static@sha256:{hash}"),
            table,
            tokenizer,
        })
    }

    fn embed_one(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        // Only the start can count (MAX_TOKENS), so a 1 MB output is not
        // tokenized whole: a WordPiece token covers at least one byte, and
        // 16 bytes a token leaves room for long words and spaces.
        let mut end = text.len().min(MAX_TOKENS * 16);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let enc = self
            .tokenizer
            .encode_fast(&text[..end], false)
            .map_err(|e| model_err("tokenizing", e))?;
        let dim = self.table.rows.ncols();
        let mut v = vec![0f32; dim];
        let mut n = 0usize;
        for &id in enc.get_ids() {
            let id = id as usize;
            if id >= self.table.skip.len() || self.table.skip[id] {
                continue;
            }
            for (a, b) in v.iter_mut().zip(self.table.rows.row(id)) {
                *a += b;
            }
            n += 1;
            if n == MAX_TOKENS {
                break;
            }
        }
        if n == 0 || v.iter().all(|x| *x == 0.0) {
            // No known token (empty text): a fixed unit vector, so the
            // contract (every vector L2-normalised) holds.
            v[0] = 1.0;
        }
        l2_normalize(&mut v);
        Ok(v)
    }
}

impl Embedder for StaticEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dim(&self) -> usize {
        self.table.rows.ncols()
    }

    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        texts.iter().map(|t| self.embed_one(t)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::cosine;
    use crate::embed::testkit::{model_dir, ort_lib};

    #[test]
    fn distilled_table_is_cached_and_embeds_by_meaning() {
        let dir = tempfile::tempdir().unwrap();
        // A copy of the model folder, so the table is written to the temp dir.
        let m = dir.path().join("all-MiniLM-L6-v2");
        std::fs::create_dir_all(&m).unwrap();
        for f in ["model.onnx", "tokenizer.json"] {
            std::fs::copy(model_dir().join(f), m.join(f)).unwrap();
        }
        let mut e = StaticEmbedder::with_paths(&m, &ort_lib(), 0, None).unwrap();
        let written = std::fs::metadata(m.join(TABLE_FILE))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(e.dim(), 384);
        assert!(e.model_id().starts_with("all-MiniLM-L6-v2-static@sha256:"));
        let v = e
            .embed(&[
                "How do I reset my password?",
                "I forgot my password, how can I change it?",
                "What is the weather like in Paris tomorrow?",
                "",
            ])
            .unwrap();
        for x in &v {
            let norm: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "{norm}");
        }
        let same = cosine(&v[0], &v[1]);
        let other = cosine(&v[0], &v[2]);
        assert!(
            same > other + 0.2,
            "paraphrase {same} vs other topic {other}"
        );
        // The second build reads the cache (not rewritten) and gives the same vectors.
        let mut again = StaticEmbedder::with_paths(&m, &ort_lib(), 0, None).unwrap();
        let now = std::fs::metadata(m.join(TABLE_FILE))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(now, written);
        assert_eq!(
            again.embed(&["How do I reset my password?"]).unwrap()[0],
            v[0]
        );
        // A table from another model is not used: it is distilled again.
        let mut bytes = std::fs::read(m.join(TABLE_FILE)).unwrap();
        bytes[8] ^= 1;
        std::fs::write(m.join(TABLE_FILE), &bytes).unwrap();
        StaticEmbedder::with_paths(&m, &ort_lib(), 0, None).unwrap();
        assert_ne!(std::fs::read(m.join(TABLE_FILE)).unwrap(), bytes);
    }
}
