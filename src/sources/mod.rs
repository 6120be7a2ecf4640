//! External trace sources (`[[sources]]`): the daemon reads traces where the
//! application already logs them, so it need not push to us.
//!
//! - `kind = "sql"` ([`sql`]): a read-only query against the application's own
//!   PostgreSQL or SQLite database, read incrementally by a stored (ts, id)
//!   watermark, at most `max_rows` per page.
//! - `kind = "jsonl"` ([`jsonl`]): a glob of JSONL log files, tailed with stored
//!   byte offsets that survive rotation (rename or copy-truncate) and truncation;
//!   malformed lines are counted and reported with file and line, never fatal.
//!
//! Each source is polled on its own interval by one task and lands in the same
//! `traces` table as pushed traces (source = the source's name). Delivery is
//! exactly-once by construction: every trace has a deterministic external id
//! (the row's id, the record's id, or the line's position in its file), the
//! store ignores a (source, id) it already holds, and the read position is saved
//! after the traces are stored — a crash in between re-reads, never loses.

mod error;
pub mod jsonl;
pub mod sql;

pub use error::{RowError, SourceError};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::watch;

use crate::config::{ConfigDuration, ConfigError, SecretRef};
use crate::ingest::IngestConfig;
use crate::store::Store;

/// One `[[sources]]` entry as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SourceConfig {
    Sql(SqlSourceConfig),
    Jsonl(JsonlSourceConfig),
}

/// `kind = "sql"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SqlSourceConfig {
    /// Source name, stored with each trace (`source` column) and used by jobs' `sources`.
    pub name: String,
    /// Database URL (`postgres://…` or `sqlite://…`). Prefer `url_env` / `url_file`
    /// when it holds a password.
    pub url: Option<String>,
    pub url_env: Option<String>,
    pub url_file: Option<PathBuf>,
    /// Table (or view) to read, e.g. `conversations` or `app.chat_log`.
    pub table: Option<String>,
    /// Instead of `table`: a SELECT whose result is read as the table (use it to
    /// join, filter or cast columns).
    pub query: Option<String>,
    /// Which column holds what.
    pub columns: SqlColumns,
    /// How often to poll (default "30s").
    #[serde(default = "default_sql_interval")]
    pub poll_interval: String,
    /// Rows per page; a poll reads pages until it is caught up (default 5000).
    #[serde(default = "default_max_rows")]
    pub max_rows: i64,
}

/// Column names of a `sql` source. `input` and `ts` are required.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct SqlColumns {
    pub input: String,
    pub ts: String,
    /// A unique id column (integer or text). Without one, a trace's id is a hash
    /// of its input, output and timestamp, and the watermark is the timestamp alone.
    pub id: Option<String>,
    pub output: Option<String>,
    pub model: Option<String>,
    pub latency_ms: Option<String>,
    pub prompt_tokens: Option<String>,
    pub completion_tokens: Option<String>,
    pub cost: Option<String>,
    pub error: Option<String>,
    pub feedback: Option<String>,
    /// A JSON (or JSON text) column kept as the trace's metadata.
    pub metadata: Option<String>,
}

/// `kind = "jsonl"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JsonlSourceConfig {
    pub name: String,
    /// Glob of log files, e.g. "/var/log/app/llm.jsonl*". Include the rotated
    /// names so lines written just before a rotation are still read.
    pub path: String,
    /// How often to look for new lines (default "5s").
    #[serde(default = "default_jsonl_interval")]
    pub poll_interval: String,
    /// Field mapping; the top-level `[ingest]` mapping when absent.
    pub mapping: Option<IngestConfig>,
}

fn default_sql_interval() -> String {
    "30s".into()
}
fn default_jsonl_interval() -> String {
    "5s".into()
}
fn default_max_rows() -> i64 {
    5000
}

impl SourceConfig {
    pub fn name(&self) -> &str {
        match self {
            SourceConfig::Sql(c) => &c.name,
            SourceConfig::Jsonl(c) => &c.name,
        }
    }
}

/// Reserved source names: traces from the CLI and HTTP ingest.
const RESERVED: [&str; 2] = ["cli", "http"];

/// A checked source, ready to poll.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub name: String,
    pub poll_interval: Duration,
    pub kind: SourceKind,
}

#[derive(Debug, Clone)]
pub enum SourceKind {
    Sql(Box<sql::SqlSpec>),
    Jsonl(jsonl::JsonlSpec),
}

/// Checks every `[[sources]]` entry (all errors at once, key paths `sources[i].…`).
/// Secrets are not resolved here; see [`resolve`].
pub fn check_all(
    sources: &[SourceConfig],
    ingest: &IngestConfig,
    base_dir: &std::path::Path,
) -> Result<Vec<SourceSpec>, Vec<ConfigError>> {
    let mut errs = Vec::new();
    let mut specs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, s) in sources.iter().enumerate() {
        let at = format!("sources[{i}]");
        let name = s.name();
        if name.trim().is_empty() {
            errs.push(ConfigError::new(format!("{at}.name"), "must not be empty"));
        } else if RESERVED.contains(&name) {
            errs.push(ConfigError::new(
                format!("{at}.name"),
                format!("`{name}` is reserved for traces ingested by the CLI and HTTP"),
            ));
        } else if !seen.insert(name.to_string()) {
            errs.push(ConfigError::new(
                format!("{at}.name"),
                format!("duplicate source name `{name}`"),
            ));
        }
        let interval_text = match s {
            SourceConfig::Sql(c) => &c.poll_interval,
            SourceConfig::Jsonl(c) => &c.poll_interval,
        };
        // A string parsed here, not a `ConfigDuration`: a source is an
        // internally tagged enum, and serde reports a type error inside one at
        // `sources[N]` only, which would hide every other error of the source.
        let interval = match interval_text.parse::<ConfigDuration>().map(|d| d.0) {
            Ok(d) if d >= Duration::from_millis(100) => Some(d),
            Ok(_) => {
                errs.push(ConfigError::new(
                    format!("{at}.poll_interval"),
                    format!("must be at least 100ms, got `{interval_text}`"),
                ));
                None
            }
            Err(e) => {
                errs.push(ConfigError::new(format!("{at}.poll_interval"), e));
                None
            }
        };
        let kind = match s {
            SourceConfig::Sql(c) => {
                sql::check(c, &at, &mut errs).map(|s| SourceKind::Sql(Box::new(s)))
            }
            SourceConfig::Jsonl(c) => {
                jsonl::check(c, &at, ingest, base_dir, &mut errs).map(SourceKind::Jsonl)
            }
        };
        if let (Some(poll_interval), Some(kind)) = (interval, kind) {
            specs.push(SourceSpec {
                name: name.to_string(),
                poll_interval,
                kind,
            });
        }
    }
    if errs.is_empty() {
        Ok(specs)
    } else {
        Err(errs)
    }
}

impl SqlSourceConfig {
    pub fn url_ref(&self) -> SecretRef {
        SecretRef::new(self.url_env.as_ref(), self.url_file.as_ref())
    }
}

/// Resolves the secrets of checked sources (a `sql` source's URL from env/file).
pub fn resolve(
    specs: &mut [SourceSpec],
    base_dir: &std::path::Path,
) -> Result<(), Vec<ConfigError>> {
    let mut errs = Vec::new();
    for (i, s) in specs.iter_mut().enumerate() {
        if let SourceKind::Sql(q) = &mut s.kind {
            if let Err(e) = q.resolve_url(&format!("sources[{i}].url"), base_dir) {
                errs.push(e);
            }
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Records read (rows or lines).
    pub read: u64,
    /// New traces stored.
    pub stored: u64,
    /// Records already stored (re-read after a restart or overlap).
    pub duplicates: u64,
    /// Of the duplicates, those whose content differs from the stored trace.
    pub conflicting: u64,
    /// Malformed records skipped (each logged with its position).
    pub rejected: u64,
}

impl PollReport {
    /// Adds what one batch insert did.
    pub fn add(&mut self, s: &crate::store::InsertStats) {
        self.stored += s.stored;
        self.duplicates += s.duplicates;
        self.conflicting += s.conflicting;
    }
}

/// Polls every source on its interval until `shutdown` turns true.
pub async fn run_sources(
    store: Store,
    specs: Vec<SourceSpec>,
    holder: Arc<str>,
    lease_ttl: Duration,
    shutdown: watch::Receiver<bool>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for spec in specs {
        tracing::info!(message = "Source polling.", source = %spec.name, every = ?spec.poll_interval);
        tasks.spawn(source_loop(
            store.clone(),
            spec,
            holder.clone(),
            lease_ttl,
            shutdown.clone(),
        ));
    }
    while tasks.join_next().await.is_some() {}
}

async fn source_loop(
    store: Store,
    spec: SourceSpec,
    holder: Arc<str>,
    lease_ttl: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut sql_state = sql::Connection::default();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let result = match &spec.kind {
            SourceKind::Sql(q) => {
                sql::poll_leased(
                    &store,
                    &spec.name,
                    q,
                    &mut sql_state,
                    &holder,
                    lease_ttl,
                    &shutdown,
                )
                .await
            }
            SourceKind::Jsonl(j) => jsonl::poll(&store, &spec.name, j, &shutdown).await,
        };
        match result {
            Ok(r) => {
                crate::telemetry::METRICS.ingest(&spec.name, r.stored, r.rejected);
                if r.read > 0 {
                    tracing::info!(
                        message = "Source polled.",
                        source = %spec.name,
                        read = r.read,
                        stored = r.stored,
                        duplicates = r.duplicates,
                        conflicting = r.conflicting,
                        rejected = r.rejected
                    );
                }
            }
            Err(e) => {
                crate::telemetry::METRICS.source_error(&spec.name);
                tracing::error!(message = "Source poll failed; retrying next interval.", source = %spec.name, error = %crate::text::error_chain(&e));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(spec.poll_interval) => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
    }
}

/// Polls one source once, outside the daemon (tests, `driftwatch sources poll`).
pub async fn poll_once(store: &Store, spec: &SourceSpec) -> Result<PollReport, SourceError> {
    let (_tx, rx) = watch::channel(false);
    match &spec.kind {
        SourceKind::Sql(q) => {
            let mut c = sql::Connection::default();
            sql::poll(store, &spec.name, q, &mut c, &rx).await
        }
        SourceKind::Jsonl(j) => jsonl::poll(store, &spec.name, j, &rx).await,
    }
}
