//! Per-text structural metrics of LLM traces: this module owns turning one
//! trace's input and output text into numbers, flags and labels — lengths
//! (chars, words, tokens under an OpenAI encoding (`bpe-openai`, exact to tiktoken) or a local
//! `tokenizer.json`), emptiness, JSON validity and JSON Schema conformance (a
//! schema configured, or the top-level shape of the golden answers,
//! [`JsonShape`]), full-match regex checks, language, character-class shares and
//! out-of-vocabulary rate against the golden dataset. Everything here is a
//! pure function of the text plus state built once per run ([`Extractor`]),
//! safe to call from many threads ([`Extractor::extract_all`] uses rayon).
//! The [`MetricId`] catalogue names every metric and pulls its column out of
//! a batch of [`TraceMetrics`]. There is no database access and no
//! statistics here: comparing golden and production columns with
//! two-sample tests is `crate::stats`'s job.

mod catalogue;
mod error;
mod expect;
mod extract;
mod pretok;
mod shape;
mod table;
mod text;
mod tokens;
mod values;
mod vocab;

pub use catalogue::{Column, Metric, MetricId, MetricKind, Side, UnknownMetric, UNDETERMINED};
pub use error::MetricsError;
pub use expect::{compile_schema, full_match_regex, Expectations, ExpectationsSpec, OutputFormat};
pub use extract::Extractor;
pub use shape::{describe_shape, required_keys, shape_violation, JsonShape, MAX_SHAPE_KEYS};
pub use table::MetricTable;
pub use tokens::{TokenCounter, TokenizerSpec};
pub use values::{language_code, LanguageCode, TextMetrics, TraceMetrics};
pub use vocab::Vocabulary;

/// Minimum trimmed length (chars) for language detection; shorter texts get
/// `language = None`.
pub const MIN_LANGUAGE_CHARS: usize = text::MIN_LANGUAGE_CHARS;
