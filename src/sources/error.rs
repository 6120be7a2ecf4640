//! [`SourceError`]: why one poll of a source failed (the next interval retries).

use std::path::PathBuf;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// Storing traces or the read position failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A jsonl source's file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A jsonl source's pattern is not a valid glob.
    #[error("glob {pattern}")]
    Glob {
        pattern: String,
        #[source]
        source: glob::PatternError,
    },
    /// The app's database refused the connection.
    #[error("source `{name}`: cannot connect to {url}")]
    Connect {
        name: String,
        /// The URL with its password redacted.
        url: String,
        #[source]
        source: sqlx::Error,
    },
    /// The page query failed, or a row could not be read.
    #[error("source `{name}`: query failed: {sql}")]
    Query {
        name: String,
        sql: String,
        #[source]
        source: RowError,
    },
    /// The source's database URL was not resolved before polling.
    #[error("source `{0}`: database URL not resolved")]
    Unresolved(String),
    /// The stored read position does not parse.
    #[error("stored watermark")]
    Watermark(#[source] serde_json::Error),
    /// Encoding the read position failed.
    #[error("encoding the read position: {0}")]
    Encode(#[from] serde_json::Error),
    /// A blocking task panicked or was cancelled.
    #[error("internal error: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Why a page of the app's database could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// A column type driftwatch does not read.
    #[error("{0}")]
    Column(String),
}
