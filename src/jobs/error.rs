//! [`JobError`]: why a run failed.

use chrono::{DateTime, Utc};

use crate::embed::EmbedError;
use crate::store::StoreError;

/// Why a run failed. The run row is marked failed with this text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The golden set has no examples.
    #[error("golden set `{0}` has no examples\nimport some with: driftwatch golden import FILE --set {0}")]
    NoGolden(String),
    /// An input file of `driftwatch compare` cannot be used.
    #[error("{0}")]
    Input(String),
    /// The window holds no traces.
    #[error("no production traces between {from} and {to} (window {window})")]
    EmptyWindow {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        window: String,
    },
    /// Metric setup failed (tokenizer, schema, regex).
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    /// Embedding failed (model missing, server down, a corrupt cached vector…).
    #[error("embedding failed: {0}")]
    Embedding(#[from] EmbedError),
    /// The semantic analysis failed (e.g. too few rows).
    #[error("semantic analysis failed: {0}")]
    Semantic(String),
    /// The job needs an embedder and none was given.
    #[error("job `{0}` has the semantic stage enabled but no embedder is configured\nset [embedding] (run scripts/fetch-model.sh for the local model) or [jobs.semantic] enabled = false")]
    NoEmbedder(String),
    /// Writing the exported metric CSVs failed.
    #[error("exporting metrics failed: {0}")]
    Export(String),
    /// A blocking task panicked or was cancelled.
    #[error("internal error: {0}")]
    Internal(String),
}
