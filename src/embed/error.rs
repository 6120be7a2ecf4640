//! The one error type of the embedding layer.

use std::path::PathBuf;

/// Everything that can go wrong while building an embedder or embedding text.
///
/// Every variant's `Display` is a single line (embedded reasons have their
/// newlines folded), so it can go straight into a log line or a CLI error.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A file or directory of the local model is not there.
    #[error("embedding model not found: {} is missing; run scripts/fetch-model.sh", path.display())]
    MissingModel {
        /// The missing path.
        path: PathBuf,
    },
    /// The local model is in none of the places looked.
    #[error(
        "embedding model not found; looked in {looked}; run scripts/fetch-model.sh (--dest DIR for another folder) or set DRIFTWATCH_MODEL_DIR"
    )]
    ModelNotFound {
        /// Every place looked, in order, with where it came from.
        looked: String,
    },
    /// The ONNX Runtime shared library is not there.
    #[error(
        "ONNX Runtime library not found: {} is missing; run scripts/fetch-model.sh or set ORT_DYLIB_PATH",
        path.display()
    )]
    MissingRuntime {
        /// The missing path.
        path: PathBuf,
    },
    /// The ONNX Runtime library exists but could not be loaded (wrong file, too old, ...).
    #[error(
        "cannot load ONNX Runtime from {}: {reason}; run scripts/fetch-model.sh for a compatible (>= 1.24) library",
        path.display()
    )]
    RuntimeLoad {
        /// The library that failed to load.
        path: PathBuf,
        /// Why, as reported by the loader.
        reason: String,
    },
    /// The configuration is inconsistent or incomplete.
    #[error("invalid embedding config: {0}")]
    Config(String),
    /// Reading a local file failed.
    #[error("cannot read {}: {reason}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The local model failed to load or to run.
    #[error("local embedding model error: {0}")]
    Model(String),
    /// The HTTP request to an embedding server failed before a response arrived.
    #[error("embedding request to {url} failed: {reason}")]
    Http {
        /// The endpoint.
        url: String,
        /// Transport-level reason.
        reason: String,
    },
    /// The embedding server answered with a non-success status.
    #[error("embedding server {url} answered HTTP {status}: {body}")]
    Status {
        /// The endpoint.
        url: String,
        /// HTTP status code.
        status: u16,
        /// The start of the response body (one line, truncated).
        body: String,
    },
    /// The embedding server's answer could not be used.
    #[error("bad embedding response from {url}: {reason}")]
    Response {
        /// The endpoint.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
    /// Stored vector bytes are not a whole number of little-endian f32 values.
    #[error("invalid vector bytes: {0}")]
    Bytes(String),
}

/// Fold a multi-line message into one line and cap its length (in chars).
pub(crate) fn one_line(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars + 3));
    let mut last_space = false;
    for (n, ch) in s.chars().enumerate() {
        if n >= max_chars {
            out.push_str("...");
            break;
        }
        let ch = if ch.is_control() { ' ' } else { ch };
        if ch == ' ' && last_space {
            continue;
        }
        last_space = ch == ' ';
        out.push(ch);
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_folds_newlines_and_truncates() {
        assert_eq!(one_line("a\nb\r\n  c", 100), "a b c");
        assert_eq!(one_line("abcdef", 3), "abc...");
        assert_eq!(one_line("", 10), "");
    }

    #[test]
    fn missing_model_message_is_one_line_and_names_script() {
        let e = EmbedError::MissingModel {
            path: PathBuf::from("/x/model.onnx"),
        };
        let s = e.to_string();
        assert!(!s.contains('\n'));
        assert!(s.contains("/x/model.onnx"));
        assert!(s.contains("scripts/fetch-model.sh"));
    }
}
