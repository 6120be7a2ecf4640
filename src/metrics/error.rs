use std::path::PathBuf;

/// Errors raised while *building* metric extractors (tokenizers, schemas,
/// regexes). Extraction itself never fails: a text that cannot be parsed as
/// JSON is a metric value (`json_valid = false`), not an error.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A `tokenizer.json` file could not be read, parsed or used.
    #[error("failed to load tokenizer file {}: {message}", .path.display())]
    TokenizerFile { path: PathBuf, message: String },

    /// A built-in tiktoken encoding could not be constructed.
    #[error("failed to build built-in tokenizer {name}: {message}")]
    TokenizerBuiltin { name: &'static str, message: String },

    /// A tokenizer spec string was not one of the accepted forms.
    #[error(
        "invalid tokenizer spec {spec:?}: expected \"o200k_base\", \"cl100k_base\" \
         or \"file:<path to tokenizer.json>\""
    )]
    TokenizerSpec { spec: String },

    /// The output JSON Schema text is not JSON at all.
    #[error("output JSON Schema is not valid JSON: {error}")]
    SchemaJson { error: serde_json::Error },

    /// The output JSON Schema is JSON but not a valid schema (or references
    /// something that cannot be resolved offline).
    #[error("invalid output JSON Schema: {message}")]
    Schema { message: String },

    /// A schema was given while the output format was explicitly `text`.
    #[error("output_schema requires output_format \"json\" (got \"text\")")]
    SchemaNeedsJson,

    /// A full-match regex did not compile. `field` is `output_regex` or
    /// `input_regex`.
    #[error("invalid {field} {pattern:?}: {error}")]
    Regex {
        field: &'static str,
        pattern: String,
        error: regex::Error,
    },
}
