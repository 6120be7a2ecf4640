//! `LocalEmbedder`: a BERT-style sentence-embedding ONNX model (all-MiniLM-L6-v2
//! by default) run in-process through fastembed on a dynamically loaded ONNX
//! Runtime library.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};
use ort::environment::Environment;
use sha2::{Digest, Sha256};

use super::batch::plan_batches;
use super::config::EmbedConfig;
use super::error::{one_line, EmbedError};
use super::Embedder;

/// The files a model directory must hold.
pub const MODEL_FILES: [&str; 5] = [
    "model.onnx",
    "tokenizer.json",
    "config.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
];

/// The `max_length` that does not show up in the model id.
const DEFAULT_MAX_LENGTH: usize = 256;

/// The ONNX Runtime library this process has loaded, and its one environment.
///
/// ONNX Runtime allows one environment per process and a loaded library cannot
/// be swapped, so the first successful [`LocalEmbedder`] fixes both; later ones
/// share them.
struct Runtime {
    path: PathBuf,
    env: Environment,
}

static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);

/// Load (once per process) the ONNX Runtime library at `lib` and return the
/// shared environment. Every failure is an [`EmbedError`], never a panic.
pub(super) fn runtime(lib: &Path) -> Result<Environment, EmbedError> {
    if !lib.is_file() {
        return Err(EmbedError::MissingRuntime {
            path: lib.to_path_buf(),
        });
    }
    let path = lib.canonicalize().map_err(|e| EmbedError::Io {
        path: lib.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut loaded = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(rt) = loaded.as_ref() {
        if rt.path == path {
            return Ok(rt.env.clone());
        }
        return Err(EmbedError::RuntimeLoad {
            path,
            reason: format!(
                "this process already loaded ONNX Runtime from {} and cannot switch libraries",
                rt.path.display()
            ),
        });
    }
    let load_err = |reason: String| EmbedError::RuntimeLoad {
        path: path.clone(),
        reason: one_line(&reason, 300),
    };
    let env = ort::init_from(&path)
        .map_err(|e| load_err(e.to_string()))?
        .with_name("driftwatch")
        .build()
        .map_err(|e| load_err(e.to_string()))?;
    *loaded = Some(Runtime {
        path,
        env: env.clone(),
    });
    Ok(env)
}

/// The first 12 hex digits of the SHA-256 of a `model.onnx`: the part of a
/// model id that changes with the model file.
pub(super) fn model_hash(onnx: &[u8]) -> String {
    Sha256::digest(onnx)
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn read(path: &Path) -> Result<Vec<u8>, EmbedError> {
    std::fs::read(path).map_err(|e| EmbedError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Sentence embeddings from a local ONNX model.
///
/// * Pooling is mean pooling over the attention mask (set explicitly: fastembed
///   would fall back to CLS for a user-defined model), outputs are L2-normalised.
/// * Texts are truncated to `max_length` tokens.
/// * **Length-sorted batching**: each call counts every text's tokens with the
///   model's own tokenizer (exact count including `[CLS]`/`[SEP]`, capped at
///   `max_length`; no word-count proxy), sorts texts by that count, cuts batches
///   bounded by `batch_size` texts and `batch_token_budget` padded tokens
///   (longest-in-batch × count), embeds them, and returns vectors in input order.
///   Sorting cuts padding, which is most of the work on mixed-length input; it can
///   be switched off ([`set_sort_by_length`](Self::set_sort_by_length)) for
///   benchmarks. A text's vector does not depend on its batch-mates (beyond
///   float rounding, ~1e-6).
/// * The model id is `<model dir name>@sha256:<first 12 hex of model.onnx's SHA-256>`,
///   with `:max<N>` appended when `max_length` is not 256, so vectors from
///   different model files or truncation settings never mix.
pub struct LocalEmbedder {
    model: TextEmbedding,
    model_id: String,
    dim: usize,
    max_length: usize,
    batch_size: usize,
    batch_token_budget: usize,
    sort_by_length: bool,
}

impl fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("model_id", &self.model_id)
            .field("dim", &self.dim)
            .field("max_length", &self.max_length)
            .field("batch_size", &self.batch_size)
            .field("batch_token_budget", &self.batch_token_budget)
            .field("sort_by_length", &self.sort_by_length)
            .finish_non_exhaustive()
    }
}

impl LocalEmbedder {
    /// Build from config: the model and ONNX Runtime found by
    /// [`EmbedConfig::locate_model`] (`DRIFTWATCH_MODEL_DIR`, the config's
    /// paths resolved against `base_dir`, then the state, data and system
    /// folders).
    pub fn new(cfg: &EmbedConfig, base_dir: &Path) -> Result<Self, EmbedError> {
        let place = cfg.locate_model(base_dir)?;
        Self::with_paths(&place.model_dir, &place.onnxruntime_lib, cfg)
    }

    /// Build from explicit paths (`cfg.model_dir`, `cfg.onnxruntime_lib` and
    /// `ORT_DYLIB_PATH` are ignored; the other fields apply).
    ///
    /// Fails with a one-line [`EmbedError`] naming the missing path and
    /// `scripts/fetch-model.sh` when the model directory, one of its
    /// [`MODEL_FILES`], or the library is missing, and with
    /// [`EmbedError::RuntimeLoad`] when the library cannot be loaded (e.g. older
    /// than 1.24).
    pub fn with_paths(
        model_dir: &Path,
        ort_lib: &Path,
        cfg: &EmbedConfig,
    ) -> Result<Self, EmbedError> {
        cfg.validate()?;
        if !model_dir.is_dir() {
            return Err(EmbedError::MissingModel {
                path: model_dir.to_path_buf(),
            });
        }
        for name in MODEL_FILES {
            let p = model_dir.join(name);
            if !p.is_file() {
                return Err(EmbedError::MissingModel { path: p });
            }
        }
        let env = runtime(ort_lib)?;

        let onnx = read(&model_dir.join("model.onnx"))?;
        let hex = model_hash(&onnx);
        let name = model_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "local-model".to_string());
        let mut model_id = format!("{name}@sha256:{hex}");
        if cfg.max_length != DEFAULT_MAX_LENGTH {
            model_id.push_str(&format!(":max{}", cfg.max_length));
        }

        let tokenizer_files = TokenizerFiles {
            tokenizer_file: read(&model_dir.join("tokenizer.json"))?,
            config_file: read(&model_dir.join("config.json"))?,
            special_tokens_map_file: read(&model_dir.join("special_tokens_map.json"))?,
            tokenizer_config_file: read(&model_dir.join("tokenizer_config.json"))?,
        };
        let user_model =
            UserDefinedEmbeddingModel::new(onnx, tokenizer_files).with_pooling(Pooling::Mean);
        let mut options = InitOptionsUserDefined::new()
            .with_environment(env)
            .with_max_length(cfg.max_length);
        if cfg.threads > 0 {
            options = options.with_intra_threads(cfg.threads);
        }
        let mut model =
            TextEmbedding::try_new_from_user_defined(user_model, options).map_err(|e| {
                EmbedError::Model(one_line(
                    &format!("loading {}: {e}", model_dir.display()),
                    400,
                ))
            })?;
        let probe = model
            .embed(["dimension probe"], Some(1))
            .map_err(|e| EmbedError::Model(one_line(&format!("probe run: {e}"), 400)))?;
        let dim = probe.first().map_or(0, Vec::len);
        if dim == 0 {
            return Err(EmbedError::Model(
                "probe run returned an empty vector".into(),
            ));
        }
        Ok(Self {
            model,
            model_id,
            dim,
            max_length: cfg.max_length,
            batch_size: cfg.batch_size,
            batch_token_budget: cfg.batch_token_budget,
            sort_by_length: cfg.sort_by_length,
        })
    }

    /// Whether texts are sorted by token count before batching.
    pub fn sort_by_length(&self) -> bool {
        self.sort_by_length
    }

    /// Turn length-sorted batching on or off (off only makes sense for benchmarks).
    pub fn set_sort_by_length(&mut self, on: bool) {
        self.sort_by_length = on;
    }

    /// Change the batch bounds (both at least 1).
    pub fn set_batching(&mut self, batch_size: usize, batch_token_budget: usize) {
        self.batch_size = batch_size.max(1);
        self.batch_token_budget = batch_token_budget.max(1);
    }

    /// Token count of each text as the model sees it: special tokens included,
    /// capped at `max_length`.
    pub fn token_counts(&self, texts: &[&str]) -> Result<Vec<usize>, EmbedError> {
        texts
            .iter()
            .map(|t| {
                self.model
                    .tokenizer
                    .encode_fast(*t, true)
                    .map(|enc| enc.len().min(self.max_length))
                    .map_err(|e| EmbedError::Model(one_line(&format!("tokenizing: {e}"), 400)))
            })
            .collect()
    }
}

impl Embedder for LocalEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let lengths = self.token_counts(texts)?;
        let plan = plan_batches(
            &lengths,
            self.batch_size,
            self.batch_token_budget,
            self.sort_by_length,
        );
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for batch in plan {
            let batch_texts: Vec<&str> = batch.iter().map(|&i| texts[i]).collect();
            let vectors = self
                .model
                .embed(&batch_texts, Some(batch_texts.len()))
                .map_err(|e| EmbedError::Model(one_line(&format!("inference: {e}"), 400)))?;
            if vectors.len() != batch.len() {
                return Err(EmbedError::Model(format!(
                    "model returned {} vectors for {} texts",
                    vectors.len(),
                    batch.len()
                )));
            }
            for (i, v) in batch.into_iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::testkit::{local_config, model_dir, ort_lib, shared_local};
    use crate::embed::{cosine, Embedder};

    /// First 8 dimensions, full L2 norm and sum of all 384 components of
    /// all-MiniLM-L6-v2 vectors, computed once with plain onnxruntime 1.24.4 +
    /// tokenizers + numpy (mean pooling, L2 norm, each sentence alone) by
    /// `benches/peer/reference_vectors.py`:
    ///
    /// ```text
    /// python3 -m venv /tmp/refvenv
    /// /tmp/refvenv/bin/pip install onnxruntime==1.24.4 tokenizers numpy
    /// scripts/fetch-model.sh
    /// /tmp/refvenv/bin/python benches/peer/reference_vectors.py
    /// ```
    struct Reference {
        head: [f32; 8],
        norm: f32,
        sum: f32,
    }

    /// Keep in sync with SENTENCES in benches/peer/reference_vectors.py.
    const REFERENCE_SENTENCES: [&str; 5] = [
        "The cat sits on the mat.",
        "How do I reset my password?",
        "Quarterly revenue grew by twelve percent compared to last year.",
        "Rust's borrow checker prevents data races at compile time.",
        "Ünïcödé text, emojis 🚀 and numbers 12345 are handled too.",
    ];

    #[rustfmt::skip]
    const REFERENCE: [Reference; 5] = [
        Reference { head: [0.130867, -0.032577, -0.022619, 0.039910, -0.036047, 0.041354, 0.032330, 0.040244], norm: 1.000000, sum: 0.079538 },
        Reference { head: [0.005373, -0.061111, -0.071281, -0.034230, -0.042787, 0.068429, 0.008457, 0.016022], norm: 1.000000, sum: -0.032879 },
        Reference { head: [0.091557, -0.021175, -0.050681, -0.071922, -0.017445, -0.029913, -0.049458, 0.015327], norm: 1.000000, sum: -0.166925 },
        Reference { head: [-0.068190, 0.047682, -0.022644, 0.015746, 0.034993, -0.066150, -0.030705, 0.006143], norm: 1.000000, sum: 0.376906 },
        Reference { head: [-0.050885, -0.023362, 0.022358, -0.067367, -0.052483, -0.040615, -0.006424, -0.051856], norm: 1.000000, sum: -0.300575 },
    ];

    #[test]
    fn matches_python_onnxruntime_reference() {
        let mut e = shared_local();
        assert_eq!(e.dim(), 384);
        let vs = e.embed(&REFERENCE_SENTENCES).unwrap();
        let mut worst = 0.0f32;
        for (i, (v, r)) in vs.iter().zip(&REFERENCE).enumerate() {
            assert_eq!(v.len(), 384);
            for (d, (got, want)) in v.iter().zip(&r.head).enumerate() {
                worst = worst.max((got - want).abs());
                assert!(
                    (got - want).abs() < 1e-3,
                    "sentence {i} dim {d}: got {got}, want {want}"
                );
            }
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - r.norm).abs() < 1e-3, "sentence {i} norm {norm}");
            let sum: f32 = v.iter().sum();
            assert!(
                (sum - r.sum).abs() < 1e-3,
                "sentence {i} sum {sum} vs {}",
                r.sum
            );
        }
        println!("largest deviation from the Python reference: {worst:e}");
    }

    #[test]
    fn model_id_names_model_and_hash() {
        let e = shared_local();
        assert_eq!(e.model_id(), "all-MiniLM-L6-v2@sha256:8199be6f699a");
    }

    #[test]
    fn paraphrases_close_unrelated_far() {
        let mut e = shared_local();
        // Python reference cosines: 0.82, 0.86, 0.97, 0.95.
        let pairs_close = [
            (
                "How do I reset my password?",
                "What are the steps to change my password?",
            ),
            (
                "A man is playing a guitar.",
                "A person is playing a guitar.",
            ),
            ("The cat sits on the mat.", "A cat is sitting on a mat."),
            (
                "I want to cancel my subscription.",
                "How can I cancel my subscription?",
            ),
        ];
        // Python reference cosines: 0.00, 0.00, -0.02, -0.06.
        let pairs_far = [
            (
                "How do I reset my password?",
                "Bananas are rich in potassium.",
            ),
            (
                "The weather is lovely today.",
                "Compile the kernel with debug symbols.",
            ),
            (
                "The invoice was paid late.",
                "My cat loves chasing laser pointers.",
            ),
            (
                "A man is playing a guitar.",
                "The stock market fell sharply on Monday.",
            ),
        ];
        for (a, b) in pairs_close {
            let v = e.embed(&[a, b]).unwrap();
            let c = cosine(&v[0], &v[1]);
            assert!(c > 0.7, "{a:?} vs {b:?}: cosine {c}");
        }
        for (a, b) in pairs_far {
            let v = e.embed(&[a, b]).unwrap();
            let c = cosine(&v[0], &v[1]);
            assert!(c < 0.3, "{a:?} vs {b:?}: cosine {c}");
        }
    }

    #[test]
    fn sorted_and_unsorted_batching_agree_in_input_order() {
        let texts: Vec<String> = (0..23)
            .map(|i| {
                let words = 1 + (i * 7) % 40;
                (0..words)
                    .map(|w| {
                        ["alpha", "drift", "monitor", "vector", "golden", "prompt"][(i + w) % 6]
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut e = shared_local();
        let (was_sorted, bs, budget) = (e.sort_by_length(), e.batch_size, e.batch_token_budget);
        e.set_batching(4, 8192);
        e.set_sort_by_length(true);
        let sorted = e.embed(&refs).unwrap();
        e.set_sort_by_length(false);
        let unsorted = e.embed(&refs).unwrap();
        // One text at a time: no padding at all.
        e.set_batching(1, 8192);
        let single = e.embed(&refs).unwrap();
        e.set_sort_by_length(was_sorted);
        e.set_batching(bs, budget);
        assert_eq!(sorted.len(), refs.len());
        for i in 0..refs.len() {
            for (a, b) in sorted[i].iter().zip(&unsorted[i]) {
                assert!((a - b).abs() < 1e-5, "text {i}: {a} vs {b}");
            }
            for (a, b) in sorted[i].iter().zip(&single[i]) {
                assert!((a - b).abs() < 1e-5, "text {i}: {a} vs {b} (single)");
            }
        }
        // And the order really is the input order: text i is most similar to itself.
        for i in 0..refs.len() {
            let own = cosine(&sorted[i], &single[i]);
            assert!(own > 0.9999, "text {i}: {own}");
        }
    }

    #[test]
    fn token_counts_are_exact_and_capped() {
        let e = shared_local();
        // [CLS] hello world [SEP]
        assert_eq!(e.token_counts(&["hello world"]).unwrap(), vec![4]);
        assert_eq!(e.token_counts(&[""]).unwrap(), vec![2]);
        let long = "word ".repeat(1000);
        assert_eq!(e.token_counts(&[&long]).unwrap(), vec![256]);
    }

    #[test]
    fn empty_input_and_long_text() {
        let mut e = shared_local();
        assert!(e.embed(&[]).unwrap().is_empty());
        let long = "the quick brown fox ".repeat(300);
        let v = e.embed(&[&long, ""]).unwrap();
        assert_eq!(v.len(), 2);
        assert!(v
            .iter()
            .all(|x| x.len() == 384 && x.iter().all(|f| f.is_finite())));
    }

    #[test]
    fn missing_model_dir_names_path_and_script() {
        let dir = std::env::temp_dir().join("driftwatch-embed-test-no-such-model");
        let err = LocalEmbedder::with_paths(&dir, &ort_lib(), &local_config()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, EmbedError::MissingModel { .. }), "{err:?}");
        assert!(!msg.contains('\n'), "{msg}");
        assert!(msg.contains(&*dir.to_string_lossy()), "{msg}");
        assert!(msg.contains("run scripts/fetch-model.sh"), "{msg}");
    }

    #[test]
    fn missing_model_file_names_that_file() {
        let dir = std::env::temp_dir().join(format!(
            "driftwatch-embed-test-partial-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("model.onnx"), b"x").unwrap();
        let err = LocalEmbedder::with_paths(&dir, &ort_lib(), &local_config()).unwrap_err();
        std::fs::remove_dir_all(&dir).ok();
        let msg = err.to_string();
        assert!(msg.contains("tokenizer.json"), "{msg}");
        assert!(msg.contains("run scripts/fetch-model.sh"), "{msg}");
    }

    #[test]
    fn missing_ort_lib_is_a_clear_error_not_a_panic() {
        let lib = std::env::temp_dir().join("driftwatch-embed-test-no-libonnxruntime.so");
        let err = LocalEmbedder::with_paths(&model_dir(), &lib, &local_config()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, EmbedError::MissingRuntime { .. }), "{err:?}");
        assert!(!msg.contains('\n'), "{msg}");
        assert!(msg.contains(&*lib.to_string_lossy()), "{msg}");
        assert!(msg.contains("run scripts/fetch-model.sh"), "{msg}");
    }

    #[test]
    fn garbage_ort_lib_is_a_clear_error_not_a_panic() {
        let lib = std::env::temp_dir().join(format!(
            "driftwatch-embed-test-garbage-{}.so",
            std::process::id()
        ));
        std::fs::write(&lib, b"not a shared library").unwrap();
        let err = LocalEmbedder::with_paths(&model_dir(), &lib, &local_config()).unwrap_err();
        std::fs::remove_file(&lib).ok();
        let msg = err.to_string();
        // Either dlopen refuses it, or (if another test loaded the real library
        // first) the process-wide runtime refuses to switch; both name the file.
        assert!(matches!(err, EmbedError::RuntimeLoad { .. }), "{err:?}");
        assert!(msg.contains("driftwatch-embed-test-garbage"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn invalid_config_is_rejected_before_loading() {
        let cfg = EmbedConfig {
            batch_size: 0,
            ..local_config()
        };
        let err = LocalEmbedder::with_paths(&model_dir(), &ort_lib(), &cfg).unwrap_err();
        assert!(matches!(err, EmbedError::Config(_)), "{err:?}");
    }

    #[test]
    fn max_length_shows_in_model_id() {
        let cfg = EmbedConfig {
            max_length: 128,
            threads: 1,
            ..local_config()
        };
        let e = LocalEmbedder::with_paths(&model_dir(), &ort_lib(), &cfg).unwrap();
        assert_eq!(e.model_id(), "all-MiniLM-L6-v2@sha256:8199be6f699a:max128");
        let long = "word ".repeat(1000);
        assert_eq!(e.token_counts(&[&long]).unwrap(), vec![128]);
    }

    /// Throughput and peak RSS of the local embedder on mixed-length texts.
    ///
    /// ```text
    /// DRIFTWATCH_BENCH_BATCH=32 DRIFTWATCH_BENCH_SORT=1 \
    ///   cargo test --release --lib -- --ignored --nocapture bench_local_throughput
    /// ```
    ///
    /// Env: `DRIFTWATCH_BENCH_N` (texts, default 2000), `DRIFTWATCH_BENCH_BATCH`
    /// (default 32), `DRIFTWATCH_BENCH_SORT` (1/0, default 1),
    /// `DRIFTWATCH_BENCH_BUDGET` (batch_token_budget, default from config),
    /// `DRIFTWATCH_BENCH_TEXTS` (also write the texts there as JSONL for
    /// `benches/peer/embed_peer.py`). Run one configuration per process so the
    /// peak RSS belongs to it.
    #[test]
    #[ignore = "benchmark; run with --release --ignored --nocapture"]
    fn bench_local_throughput() {
        let env_usize = |k: &str, d: usize| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        let n = env_usize("DRIFTWATCH_BENCH_N", 2000);
        let batch = env_usize("DRIFTWATCH_BENCH_BATCH", 32);
        let sort = env_usize("DRIFTWATCH_BENCH_SORT", 1) != 0;
        let budget = env_usize(
            "DRIFTWATCH_BENCH_BUDGET",
            EmbedConfig::default().batch_token_budget,
        );
        let texts = crate::embed::testkit::bench_texts(n);
        if let Ok(path) = std::env::var("DRIFTWATCH_BENCH_TEXTS") {
            let mut s = String::new();
            for t in &texts {
                s.push_str(&serde_json::json!({ "text": t }).to_string());
                s.push('\n');
            }
            std::fs::write(&path, s).unwrap();
            eprintln!("wrote {n} texts to {path}");
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let cfg = EmbedConfig {
            batch_size: batch,
            batch_token_budget: budget,
            sort_by_length: sort,
            ..local_config()
        };
        let t0 = std::time::Instant::now();
        let mut e = LocalEmbedder::with_paths(&model_dir(), &ort_lib(), &cfg).unwrap();
        let load = t0.elapsed();
        let lengths = e.token_counts(&refs).unwrap();
        let tokens: usize = lengths.iter().sum();
        let padded: usize = plan_batches(&lengths, batch, cfg.batch_token_budget, sort)
            .iter()
            .map(|b| b.len() * b.iter().map(|&i| lengths[i]).max().unwrap_or(0))
            .sum();
        e.embed(&refs[..8.min(refs.len())]).unwrap(); // warm-up
        let cpu0 = crate::embed::testkit::cpu_seconds();
        let t1 = std::time::Instant::now();
        let v = e.embed(&refs).unwrap();
        let secs = t1.elapsed().as_secs_f64();
        let cpu = crate::embed::testkit::cpu_seconds() - cpu0;
        assert_eq!(v.len(), n);
        println!(
            "driftwatch local: n={n} batch={batch} budget={budget} sorted={sort} load={:.2}s embed={secs:.2}s \
             cpu={cpu:.1}s {:.1} sentences/s ({:.1} per cpu-second) tokens={tokens} \
             padded_tokens={padded} peak_rss={} MiB",
            load.as_secs_f64(),
            n as f64 / secs,
            n as f64 / cpu.max(1e-9),
            crate::embed::testkit::peak_rss_mib()
        );
    }
}
