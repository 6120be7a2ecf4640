//! `[embedding]` configuration: which backend, where its files are, how to batch.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::EmbedError;
use crate::config::ConfigError;

/// Default model directory, relative to the base directory (the repo root / config dir).
pub const DEFAULT_MODEL_DIR: &str = "models/all-MiniLM-L6-v2";
/// Default ONNX Runtime shared library, relative to the base directory.
pub const DEFAULT_ONNXRUNTIME_LIB: &str = "models/onnxruntime/libonnxruntime.so";
/// Environment variable that, when set and non-empty, overrides `onnxruntime_lib`.
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";
/// Environment variable naming a models folder laid out as `models/` (what
/// `scripts/fetch-model.sh --dest DIR` writes): the first place looked.
pub const MODEL_DIR_ENV: &str = "DRIFTWATCH_MODEL_DIR";

/// One place the local model may be: the model directory and the ONNX Runtime
/// library that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPlace {
    /// Where it comes from (`DRIFTWATCH_MODEL_DIR`, `[embedding] model_dir`, …).
    pub source: &'static str,
    pub model_dir: PathBuf,
    pub onnxruntime_lib: PathBuf,
}

/// Which embedder [`build_embedder`](super::build_embedder) constructs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Backend {
    /// all-MiniLM-L6-v2 (or another BERT-style ONNX model) run in-process on ONNX Runtime.
    #[default]
    #[serde(rename = "local")]
    Local,
    /// An OpenAI-compatible `POST /v1/embeddings` server.
    #[serde(rename = "openai")]
    OpenAi,
    /// A static token table distilled from the local model (Model2Vec's
    /// recipe): ~100× faster, much weaker on near topics (BENCHMARKS.md).
    /// Distilled on first use and cached next to the model.
    #[serde(rename = "static")]
    Static,
    /// Deterministic hashed-trigram vectors. For tests only: no semantics.
    #[serde(rename = "hash")]
    Hash,
}

/// The `[embedding]` section. Every field has a default (see [`EmbedConfig::default`]),
/// so an empty section means "local model from `models/`".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedConfig {
    /// Embedding backend: `"local"` (default), `"static"` (a table distilled
    /// from the local model), `"openai"`, or `"hash"` (tests only).
    pub backend: Backend,
    /// Local backend: directory holding `model.onnx`, `tokenizer.json`, `config.json`,
    /// `special_tokens_map.json` and `tokenizer_config.json`. Relative paths are
    /// resolved against the base directory. Default `models/all-MiniLM-L6-v2`.
    pub model_dir: PathBuf,
    /// Local backend: ONNX Runtime shared library (>= 1.24). Relative paths are
    /// resolved against the base directory; the `ORT_DYLIB_PATH` environment
    /// variable, when set, overrides it. Default `models/onnxruntime/libonnxruntime.so`.
    pub onnxruntime_lib: PathBuf,
    /// Most texts per model call (local) or per HTTP request (openai). Default 32.
    pub batch_size: usize,
    /// Local backend: texts are truncated to this many tokens (special tokens included).
    /// Default 256, the length all-MiniLM-L6-v2 was trained with.
    pub max_length: usize,
    /// Local backend: ONNX Runtime intra-op threads; 0 means one per available core. Default 0.
    pub threads: usize,
    /// Local backend: a batch is closed before (longest text in it, in tokens) ×
    /// (texts in it) would exceed this; bounds activation memory. Default 1024:
    /// measured on 2 cores with mixed-length texts at batch 64, peak RSS was
    /// ~334 MiB at 1024, ~470 MiB at 2048, ~1 GiB at 8192 and ~1.8 GiB at 16384,
    /// with the same or better throughput per CPU-second at the smaller budgets
    /// (CPU inference gains nothing from big batches).
    pub batch_token_budget: usize,
    /// Local backend: sort texts by token count before batching so each batch pads
    /// little (results are returned in input order either way). Default true;
    /// false exists for benchmarks.
    pub sort_by_length: bool,
    /// OpenAI backend: base URL; requests go to `{url}/v1/embeddings` (a trailing
    /// `/v1` in `url` is not doubled). Required for `backend = "openai"`.
    pub url: Option<String>,
    /// OpenAI backend: the `model` field sent with each request. Required for `backend = "openai"`.
    pub model: Option<String>,
    /// OpenAI backend: name of the environment variable holding the API key. Secrets
    /// are never written in the config itself. At most one of `api_key_env` and
    /// `api_key_file`; with neither, no `Authorization` header is sent.
    pub api_key_env: Option<String>,
    /// OpenAI backend: file whose (trimmed) content is the API key; relative paths
    /// are resolved against the base directory.
    pub api_key_file: Option<PathBuf>,
    /// OpenAI backend: whole-request timeout in seconds. Default 30.
    pub timeout_secs: u64,
    /// OpenAI backend: the vector dimension, if known. When unset, the constructor
    /// embeds one probe text to learn it (so a misconfigured server fails at startup).
    /// Hash backend: the dimension (default 64).
    pub dim: Option<usize>,
}

impl Default for EmbedConfig {
    /// The single place where defaults live.
    fn default() -> Self {
        Self {
            backend: Backend::Local,
            model_dir: PathBuf::from(DEFAULT_MODEL_DIR),
            onnxruntime_lib: PathBuf::from(DEFAULT_ONNXRUNTIME_LIB),
            batch_size: 32,
            max_length: 256,
            threads: 0,
            batch_token_budget: 1024,
            sort_by_length: true,
            url: None,
            model: None,
            api_key_env: None,
            api_key_file: None,
            timeout_secs: 30,
            dim: None,
        }
    }
}

impl EmbedConfig {
    /// `model_dir` resolved against `base_dir`.
    pub fn resolved_model_dir(&self, base_dir: &Path) -> PathBuf {
        base_dir.join(&self.model_dir)
    }

    /// The places the local model is looked for, in order:
    ///
    /// 1. `$DRIFTWATCH_MODEL_DIR` (a folder laid out as `models/`);
    /// 2. the config's `model_dir` / `onnxruntime_lib` (absolute, or relative to
    ///    the config file's folder: the default `models/…` there);
    /// 3. `$STATE_DIRECTORY/models` (systemd's `StateDirectory=`);
    /// 4. `$XDG_DATA_HOME/driftwatch/models` (default `~/.local/share/…`);
    /// 5. `/var/lib/driftwatch/models`;
    /// 6. `/usr/share/driftwatch/models` (where a package puts it).
    ///
    /// Each `models` folder holds `<model name>/` (the default model's folder
    /// name, `all-MiniLM-L6-v2`) and `onnxruntime/libonnxruntime.so`.
    /// `ORT_DYLIB_PATH`, when set, replaces every place's library.
    pub fn model_places(
        &self,
        base_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<ModelPlace> {
        let var = |k: &str| env(k).filter(|v| !v.is_empty());
        let name = self
            .model_dir
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("all-MiniLM-L6-v2"));
        let root = |source: &'static str, dir: PathBuf| ModelPlace {
            source,
            model_dir: dir.join(&name),
            onnxruntime_lib: dir.join("onnxruntime/libonnxruntime.so"),
        };
        let mut places = Vec::new();
        if let Some(d) = var(MODEL_DIR_ENV) {
            places.push(root(MODEL_DIR_ENV, PathBuf::from(d)));
        }
        places.push(ModelPlace {
            source: "[embedding] model_dir",
            model_dir: self.resolved_model_dir(base_dir),
            onnxruntime_lib: base_dir.join(&self.onnxruntime_lib),
        });
        if let Some(d) = var("STATE_DIRECTORY") {
            // systemd may list several, separated by ':'.
            let first = d.split(':').next().unwrap_or_default().to_string();
            places.push(root(
                "$STATE_DIRECTORY",
                PathBuf::from(first).join("models"),
            ));
        }
        let xdg = var("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".local/share")));
        if let Some(d) = xdg {
            places.push(root("$XDG_DATA_HOME", d.join("driftwatch/models")));
        }
        places.push(root(
            "/var/lib",
            PathBuf::from("/var/lib/driftwatch/models"),
        ));
        places.push(root(
            "/usr/share",
            PathBuf::from("/usr/share/driftwatch/models"),
        ));
        if let Some(lib) = var(ORT_DYLIB_ENV) {
            for p in &mut places {
                p.onnxruntime_lib = base_dir.join(&lib);
            }
        }
        places
    }

    /// The first of [`EmbedConfig::model_places`] whose model folder holds a
    /// `model.onnx`, or an error listing every place looked.
    pub fn locate_model(&self, base_dir: &Path) -> Result<ModelPlace, EmbedError> {
        let places = self.model_places(base_dir, &|k| std::env::var(k).ok());
        places
            .iter()
            .find(|p| p.model_dir.join("model.onnx").is_file())
            .cloned()
            .ok_or_else(|| EmbedError::ModelNotFound {
                looked: places
                    .iter()
                    .map(|p| format!("{} ({})", p.model_dir.display(), p.source))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// `[embedding]` checked, in the config's one check shape.
    pub fn check(&self, at: &str) -> Result<(), Vec<ConfigError>> {
        self.validate()
            .map_err(|e| vec![ConfigError::new(at, e.to_string())])
    }

    /// Check the numeric fields; called by every constructor.
    pub fn validate(&self) -> Result<(), EmbedError> {
        if self.batch_size == 0 {
            return Err(EmbedError::Config("batch_size must be at least 1".into()));
        }
        if self.max_length < 2 {
            return Err(EmbedError::Config("max_length must be at least 2".into()));
        }
        if self.batch_token_budget == 0 {
            return Err(EmbedError::Config(
                "batch_token_budget must be at least 1".into(),
            ));
        }
        if self.timeout_secs == 0 {
            return Err(EmbedError::Config("timeout_secs must be at least 1".into()));
        }
        if self.dim == Some(0) {
            return Err(EmbedError::Config("dim must be at least 1".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    #[test]
    fn the_model_is_looked_for_in_a_documented_order() {
        let env: HashMap<&str, &str> = [
            ("DRIFTWATCH_MODEL_DIR", "/opt/dw/models"),
            ("STATE_DIRECTORY", "/var/lib/private/driftwatch:/other"),
            ("HOME", "/home/u"),
        ]
        .into_iter()
        .collect();
        let places = EmbedConfig::default().model_places(Path::new("/etc/driftwatch"), &|k| {
            env.get(k).map(|v| v.to_string())
        });
        let dirs: Vec<(&str, String)> = places
            .iter()
            .map(|p| (p.source, p.model_dir.display().to_string()))
            .collect();
        assert_eq!(
            dirs,
            [
                (
                    "DRIFTWATCH_MODEL_DIR",
                    "/opt/dw/models/all-MiniLM-L6-v2".to_string()
                ),
                (
                    "[embedding] model_dir",
                    "/etc/driftwatch/models/all-MiniLM-L6-v2".into()
                ),
                (
                    "$STATE_DIRECTORY",
                    "/var/lib/private/driftwatch/models/all-MiniLM-L6-v2".into()
                ),
                (
                    "$XDG_DATA_HOME",
                    "/home/u/.local/share/driftwatch/models/all-MiniLM-L6-v2".into()
                ),
                (
                    "/var/lib",
                    "/var/lib/driftwatch/models/all-MiniLM-L6-v2".into()
                ),
                (
                    "/usr/share",
                    "/usr/share/driftwatch/models/all-MiniLM-L6-v2".into()
                ),
            ]
        );
        assert_eq!(
            places[0].onnxruntime_lib,
            Path::new("/opt/dw/models/onnxruntime/libonnxruntime.so")
        );
        // ORT_DYLIB_PATH replaces every place's library; empty variables count as unset.
        let env2: HashMap<&str, &str> = [
            ("ORT_DYLIB_PATH", "/usr/lib/libonnxruntime.so"),
            ("DRIFTWATCH_MODEL_DIR", ""),
        ]
        .into_iter()
        .collect();
        let places = EmbedConfig::default()
            .model_places(Path::new("/srv"), &|k| env2.get(k).map(|v| v.to_string()));
        assert_eq!(places[0].source, "[embedding] model_dir");
        assert!(places
            .iter()
            .all(|p| p.onnxruntime_lib == Path::new("/usr/lib/libonnxruntime.so")));
    }

    use super::*;

    #[test]
    fn empty_section_gives_defaults() {
        let cfg: EmbedConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(cfg, EmbedConfig::default());
        assert_eq!(cfg.backend, Backend::Local);
        assert_eq!(cfg.batch_size, 32);
        assert_eq!(cfg.max_length, 256);
        assert_eq!(cfg.batch_token_budget, 1024);
        assert!(cfg.sort_by_length);
        cfg.validate().unwrap();
    }

    #[test]
    fn parses_openai_section() {
        let cfg: EmbedConfig = serde_json::from_str(
            r#"{"backend":"openai","url":"http://127.0.0.1:9","model":"m","api_key_env":"KEY","timeout_secs":5}"#,
        )
        .unwrap();
        assert_eq!(cfg.backend, Backend::OpenAi);
        assert_eq!(cfg.url.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(cfg.api_key_env.as_deref(), Some("KEY"));
        assert_eq!(cfg.timeout_secs, 5);
    }

    #[test]
    fn rejects_unknown_fields_and_backends() {
        let e = serde_json::from_str::<EmbedConfig>(r#"{"api_key":"sk-inline"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        assert!(serde_json::from_str::<EmbedConfig>(r#"{"backend":"cohere"}"#).is_err());
    }

    #[test]
    fn validate_rejects_zeroes() {
        let cfg = EmbedConfig {
            batch_size: 0,
            ..EmbedConfig::default()
        };
        assert!(cfg
            .validate()
            .unwrap_err()
            .to_string()
            .contains("batch_size"));
        let cfg = EmbedConfig {
            batch_token_budget: 0,
            ..EmbedConfig::default()
        };
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn relative_paths_resolve_against_base() {
        let cfg = EmbedConfig::default();
        assert_eq!(
            cfg.resolved_model_dir(Path::new("/srv/dw")),
            PathBuf::from("/srv/dw/models/all-MiniLM-L6-v2")
        );
        let abs = EmbedConfig {
            model_dir: PathBuf::from("/opt/m"),
            ..EmbedConfig::default()
        };
        assert_eq!(
            abs.resolved_model_dir(Path::new("/srv")),
            PathBuf::from("/opt/m")
        );
    }
}
