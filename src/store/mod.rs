//! The only module that issues SQL. Everything else calls methods on [`Store`].
//!
//! One store API over two backends: SQLite (the embedded default, a file created on
//! first use, WAL, busy timeout) and PostgreSQL (production, several replicas), chosen
//! by the URL scheme. Migrations live in `migrations/{sqlite,postgres}/`, are embedded
//! in the binary and applied by [`Store::connect`].
//!
//! The SQL is written once with `$N` placeholders, which both backends accept, and
//! run against whichever pool is open through the `on_pool!` macro; where the two
//! dialects really differ the difference stays inside this module as an explicit
//! `match` on the pool. Timestamps are stored as epoch milliseconds in both backends.

mod alerts;
mod coordination;
mod decisions;
mod details;
mod embeddings;
mod exclusions;
mod findings;
mod gaps;
mod golden;
mod labels;
mod migrations;
mod proposals;
mod runs;
mod summary;
mod traces;
mod types;

pub use alerts::{
    AlertEvaluation, AlertTransition, DeliveryAttempt, NewSilence, OutboxCounts, OutboxFilter,
    OutboxRow, OutboxStatus, SilenceRow,
};
pub use coordination::{AlertCount, LatestFinding, LeaseClaim, MetricsSnapshot, SourceStateRow};
pub use decisions::{
    DecideOutcome, Decision, ProposalFilter, ProposalStatus, Refusal, RefusalKind, ReviewAction,
};
pub use details::{Example, ExampleTrace, ExcludedBy, FindingDetails, Quantiles};
pub use exclusions::{ExclusionScope, NewExclusion, TopicExclusion};
pub use gaps::{KnownGap, SeenGap};
pub use golden::GoldenChange;
pub use labels::{EnsembleVerdict, JudgeVerdict, Label, NewLabel};
pub use proposals::ProgressRow;
pub use runs::RunFilter;
pub use summary::{
    negative_feedback, CacheCounts, GapCluster, GapRegions, MapPoint, OutputFormatSummary,
    RunSummary, SemanticShift, SemanticSummary, StageTimings, SurfaceRegion,
};
pub use traces::WindowTrace;
pub use types::*;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::ConnectOptions;

/// Errors of the store. Callers match on `NotFound` and `Conflict`; the rest is context.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A uniqueness or state constraint refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The URL names no backend driftwatch knows, or does not parse: a
    /// configuration error.
    #[error("database url {0}: {1}")]
    BadUrl(String, String),
    /// Connecting to or opening the database failed. `reason` is the
    /// innermost cause (e.g. "Connection refused (os error 111)"), once.
    #[error("cannot open the store {url}: {reason}")]
    Open { url: String, reason: String },
    /// Applying migrations failed.
    #[error("failed to migrate store: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database refuses writes: a read-only SQLite file, or a PostgreSQL
    /// session that is read-only (a standby, `default_transaction_read_only`).
    #[error("the store is read-only: {0}")]
    ReadOnly(String),
    /// Stored data could not be decoded (e.g. corrupt JSON).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error(transparent)]
    Db(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound("row".into()),
            sqlx::Error::Database(ref d) if d.is_unique_violation() => {
                StoreError::Conflict(d.constraint().unwrap_or("unique").to_string())
            }
            sqlx::Error::Database(ref d) if is_read_only(d.as_ref()) => {
                StoreError::ReadOnly(d.message().to_string())
            }
            other => StoreError::Db(other),
        }
    }
}

/// SQLite's `SQLITE_READONLY` (8, and its extended codes `8 + 256·k`) and
/// PostgreSQL's `read_only_sql_transaction` (SQLSTATE 25006).
fn is_read_only(d: &dyn sqlx::error::DatabaseError) -> bool {
    match d.code().as_deref() {
        Some("25006") => true,
        Some(c) => c.parse::<i64>().is_ok_and(|n| n & 0xff == 8),
        None => false,
    }
}

impl StoreError {
    /// Whether retrying later can succeed without anyone changing the
    /// request: the database is unreachable, busy or (for now) read-only.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::ReadOnly(_) => true,
            StoreError::Db(e) => {
                matches!(
                    e,
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::WorkerCrashed
                        | sqlx::Error::Tls(_)
                        | sqlx::Error::Protocol(_)
                ) || matches!(e, sqlx::Error::Database(d) if d.code().is_some_and(|c| {
                    // SQLite BUSY/LOCKED; PostgreSQL classes 08 (connection),
                    // 53 (insufficient resources), 57P (operator intervention),
                    // 40001/40P01 (serialization failure, deadlock).
                    c == "5" || c == "6" || c.starts_with("08") || c.starts_with("53")
                        || c.starts_with("57P") || c == "40001" || c == "40P01"
                }))
            }
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// Runs the same code against whichever pool is open: `$pool` is bound to the
/// concrete pool, so query builders are type-checked for each backend.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Pg($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Handle to the trace store. Cheap to clone (a pool inside).
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: Pool,
    url: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("url", &redact_url(&self.url))
            .finish()
    }
}

/// Hides a password in a database URL for logs and `Debug`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Which backend a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Store {
    /// Opens (creating a SQLite file on first use) and migrates the store at `url`.
    pub async fn connect(url: &str) -> Result<Store> {
        let open_err = |e: sqlx::Error| StoreError::Open {
            url: redact_url(url),
            reason: innermost(&e),
        };
        let bad_url = |e: sqlx::Error| StoreError::BadUrl(redact_url(url), innermost(&e));
        let pool = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(bad_url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .log_statements(tracing::log::LevelFilter::Trace);
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts)
                .await
                .map_err(open_err)?;
            migrations::sqlite().run(&pool).await?;
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let opts = PgConnectOptions::from_str(url)
                .map_err(bad_url)?
                .log_statements(tracing::log::LevelFilter::Trace);
            // One direct connection first: a pool retries a refused or
            // rejected connection until its acquire timeout and then reports
            // only "pool timed out", hiding the cause.
            match tokio::time::timeout(Duration::from_secs(10), opts.connect()).await {
                Ok(Ok(conn)) => drop(conn),
                Ok(Err(e)) => return Err(open_err(e)),
                Err(_) => {
                    return Err(StoreError::Open {
                        url: redact_url(url),
                        reason: "no answer within 10 s".into(),
                    })
                }
            }
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await
                .map_err(open_err)?;
            migrations::postgres().run(&pool).await?;
            Pool::Pg(pool)
        } else {
            return Err(StoreError::BadUrl(
                redact_url(url),
                "unsupported scheme: expected sqlite://PATH or postgres://…".into(),
            ));
        };
        Ok(Store {
            pool,
            url: url.to_string(),
        })
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Pg(_) => Backend::Postgres,
        }
    }

    /// The URL with any password hidden.
    pub fn display_url(&self) -> String {
        redact_url(&self.url)
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Whether the store takes writes, for readiness checks: a write
    /// statement that touches no row still needs a write transaction, which a
    /// read-only database refuses ([`StoreError::ReadOnly`]).
    pub async fn check_writable(&self) -> Result<()> {
        on_pool!(self, p => sqlx::query("UPDATE runs SET id = id WHERE 1 = 0").execute(p).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }
}

/// The most specific message of a sqlx error chain, once: the database's
/// own message for a database error, the OS error for I/O, else sqlx's text.
fn innermost(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => db.message().to_string(),
        sqlx::Error::Io(io) => io.to_string(),
        other => {
            let mut msg = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(s) = src {
                msg = s.to_string();
                src = s.source();
            }
            msg
        }
    }
}

impl StoreError {
    /// Whether the error is the configuration's (a database URL that cannot
    /// be used), as opposed to the database being unreachable.
    pub fn is_config(&self) -> bool {
        matches!(self, StoreError::BadUrl(..))
    }
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(s: Option<String>) -> Result<Option<T>> {
    match s {
        None => Ok(None),
        Some(s) => serde_json::from_str(&s)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("json column: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_password_only() {
        assert_eq!(
            redact_url("postgres://dw:secret@db:5432/x"),
            "postgres://dw:***@db:5432/x"
        );
        assert_eq!(
            redact_url("postgres://dw@db:5432/x"),
            "postgres://dw@db:5432/x"
        );
        assert_eq!(redact_url("sqlite://a.db"), "sqlite://a.db");
    }
}
