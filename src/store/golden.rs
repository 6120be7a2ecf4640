//! Golden sets: versioned, append-only. Every change is a new version; examples are
//! archived, never deleted, so any past version can be rebuilt.

use sqlx::{QueryBuilder, Row};

use super::types::{
    content_hash, ms_to_dt, without_nul, GoldenExample, GoldenVersion, NewGoldenExample, Provenance,
};
use super::{now_ms, on_pool, Result, Store, StoreError};

/// One change to a golden set, applied atomically as a new version.
#[derive(Debug, Clone, Default)]
pub struct GoldenChange {
    /// Human description stored with the version (`import golden.jsonl`, `accept proposal 12`).
    pub description: String,
    pub add: Vec<NewGoldenExample>,
    /// Ids of active examples of the set to archive.
    pub archive: Vec<i64>,
}

const GOLDEN_COLUMNS: &str =
    "id, set_name, input, expected_output, tags, provenance, proposal_id, \
     version_added, archived, version_archived, input_hash";

macro_rules! golden_from_row {
    ($row:expr) => {{
        let r = $row;
        let tags: String = r.try_get("tags")?;
        GoldenExample {
            id: r.try_get("id")?,
            set_name: r.try_get("set_name")?,
            input: r.try_get("input")?,
            expected_output: r.try_get("expected_output")?,
            tags: serde_json::from_str(&tags)
                .map_err(|e| StoreError::Corrupt(format!("golden tags: {e}")))?,
            provenance: Provenance::parse(&r.try_get::<String, _>("provenance")?),
            proposal_id: r.try_get("proposal_id")?,
            version_added: r.try_get("version_added")?,
            archived: r.try_get("archived")?,
            version_archived: r.try_get("version_archived")?,
            input_hash: r.try_get("input_hash")?,
        }
    }};
}

macro_rules! version_from_row {
    ($row:expr) => {{
        let r = $row;
        GoldenVersion {
            set_name: r.try_get("set_name")?,
            version: r.try_get("version")?,
            created_at: ms_to_dt(r.try_get("created_at_ms")?),
            change: r.try_get("change")?,
            added: r.try_get("added")?,
            archived: r.try_get("archived")?,
            active_count: r.try_get("active_count")?,
        }
    }};
}

/// A connection that applies a golden change inside a transaction its caller owns,
/// so the change commits or rolls back together with the caller's other writes
/// (accepting proposals). Implemented for both backends' connections.
pub(crate) trait GoldenTx {
    /// Applies `change` to `set` as one new version stamped `now` (epoch ms).
    /// Archiving an id that is not an active example of the set fails the change;
    /// the caller must then roll back.
    async fn apply_golden_change_in(
        &mut self,
        set: &str,
        change: &GoldenChange,
        now: i64,
    ) -> Result<GoldenVersion>;
}

/// Implements [`GoldenTx`] for one backend. `$lock` serializes changes to one set
/// among concurrent transactions (PostgreSQL); SQLite needs none, a transaction
/// that writes holds the database's single write lock.
macro_rules! impl_golden_tx {
    ($conn:ty, $lock:expr) => {
        impl GoldenTx for $conn {
            async fn apply_golden_change_in(
                &mut self,
                set: &str,
                change: &GoldenChange,
                now: i64,
            ) -> Result<GoldenVersion> {
                let lock: Option<&'static str> = $lock;
                if let Some(sql) = lock {
                    sqlx::query(sql).bind(set).execute(&mut *self).await?;
                }
                let current: Option<i64> = sqlx::query_scalar(
                    "SELECT MAX(version) FROM golden_versions WHERE set_name = $1",
                )
                .bind(set)
                .fetch_one(&mut *self)
                .await?;
                let version = current.unwrap_or(0) + 1;
                for chunk in change.add.chunks(500) {
                    let mut qb = QueryBuilder::new(
                        "INSERT INTO golden_examples (set_name, input, expected_output, tags, provenance, \
                         proposal_id, version_added, archived, input_hash, created_at_ms) ",
                    );
                    qb.push_values(chunk, |mut b, e| {
                        let provenance = if e.proposal_id.is_some() {
                            Provenance::AcceptedProposal
                        } else {
                            Provenance::Imported
                        };
                        let input = without_nul(&e.input);
                        b.push_bind(set)
                            .push_bind(input.to_string())
                            .push_bind(without_nul(&e.expected_output).into_owned())
                            .push_bind(
                                serde_json::to_string(&e.tags).unwrap_or_else(|_| "[]".into()),
                            )
                            .push_bind(provenance.as_str())
                            .push_bind(e.proposal_id)
                            .push_bind(version)
                            .push_bind(false)
                            .push_bind(content_hash(&input))
                            .push_bind(now);
                    });
                    qb.build().execute(&mut *self).await?;
                }
                for id in &change.archive {
                    let n = sqlx::query(
                        "UPDATE golden_examples SET archived = $1, version_archived = $2 \
                         WHERE id = $3 AND set_name = $4 AND archived = $5",
                    )
                    .bind(true)
                    .bind(version)
                    .bind(id)
                    .bind(set)
                    .bind(false)
                    .execute(&mut *self)
                    .await?
                    .rows_affected();
                    if n == 0 {
                        return Err(StoreError::NotFound(format!(
                            "golden example {id} is not an active example of set {set}"
                        )));
                    }
                }
                let active: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM golden_examples WHERE set_name = $1 AND archived = $2",
                )
                .bind(set)
                .bind(false)
                .fetch_one(&mut *self)
                .await?;
                sqlx::query(
                    "INSERT INTO golden_versions (set_name, version, created_at_ms, change, added, archived, active_count) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(set)
                .bind(version)
                .bind(now)
                .bind(&change.description)
                .bind(change.add.len() as i64)
                .bind(change.archive.len() as i64)
                .bind(active)
                .execute(&mut *self)
                .await?;
                Ok(GoldenVersion {
                    set_name: set.to_string(),
                    version,
                    created_at: ms_to_dt(now),
                    change: change.description.clone(),
                    added: change.add.len() as i64,
                    archived: change.archive.len() as i64,
                    active_count: active,
                })
            }
        }
    };
}

impl_golden_tx!(sqlx::SqliteConnection, None);
impl_golden_tx!(
    sqlx::PgConnection,
    Some("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
);

impl Store {
    /// Applies `change` to golden set `set` as one new version, in one transaction.
    /// Archiving an id that is not an active example of the set fails the whole change.
    #[tracing::instrument(skip_all, fields(set = set))]
    pub async fn apply_golden_change(
        &self,
        set: &str,
        change: &GoldenChange,
    ) -> Result<GoldenVersion> {
        let now = now_ms();
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            match GoldenTx::apply_golden_change_in(&mut *tx, set, change, now).await {
                Ok(version) => {
                    tx.commit().await?;
                    Ok(version)
                }
                Err(e) => {
                    // Roll back now: a dropped transaction is only rolled back
                    // when its connection is next used, and until then it holds
                    // SQLite's write lock against every other pooled connection
                    // (seen once under load as "database is locked").
                    let _ = tx.rollback().await;
                    Err(e)
                }
            }
        })
    }

    /// Examples of `set` as they were at `version` (the latest when `None`), in id order.
    pub async fn golden_examples(
        &self,
        set: &str,
        version: Option<i64>,
    ) -> Result<Vec<GoldenExample>> {
        let v = match version {
            Some(v) => v,
            None => match self.latest_golden_version(set).await? {
                Some(v) => v.version,
                None => return Ok(Vec::new()),
            },
        };
        let sql = format!(
            "SELECT {GOLDEN_COLUMNS} FROM golden_examples WHERE set_name = $1 AND version_added <= $2 \
             AND (version_archived IS NULL OR version_archived > $2) ORDER BY id"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(set).bind(v).fetch_all(p).await?;
            rows.into_iter().map(|r| Ok(golden_from_row!(r))).collect()
        })
    }

    /// Up to `limit` examples of `set` at `version` with an id above `after_id`,
    /// in id order, as `(id, input, expected_output)`: the texts only, a page at
    /// a time, so a run can read a large golden set without holding it.
    pub async fn golden_texts_page(
        &self,
        set: &str,
        version: i64,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String, String)>> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT id, input, expected_output FROM golden_examples WHERE set_name = $1 \
                 AND version_added <= $2 AND (version_archived IS NULL OR version_archived > $2) \
                 AND id > $3 ORDER BY id LIMIT $4",
            )
            .bind(set)
            .bind(version)
            .bind(after_id)
            .bind(limit)
            .fetch_all(p)
            .await?;
            rows.into_iter()
                .map(|r| Ok((r.try_get("id")?, r.try_get("input")?, r.try_get("expected_output")?)))
                .collect()
        })
    }

    /// Every example of `set`, archived ones included, in id order.
    pub async fn golden_examples_all(&self, set: &str) -> Result<Vec<GoldenExample>> {
        let sql =
            format!("SELECT {GOLDEN_COLUMNS} FROM golden_examples WHERE set_name = $1 ORDER BY id");
        on_pool!(self, p => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(set).fetch_all(p).await?;
            rows.into_iter().map(|r| Ok(golden_from_row!(r))).collect()
        })
    }

    /// The newest version of `set`, if it has any.
    pub async fn latest_golden_version(&self, set: &str) -> Result<Option<GoldenVersion>> {
        on_pool!(self, p => {
            let row = sqlx::query(
                "SELECT set_name, version, created_at_ms, change, added, archived, active_count \
                 FROM golden_versions WHERE set_name = $1 ORDER BY version DESC LIMIT 1",
            )
            .bind(set)
            .fetch_optional(p)
            .await?;
            match row {
                Some(r) => Ok(Some(version_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    /// All versions of `set` (every set when `None`), oldest first.
    pub async fn golden_versions(&self, set: Option<&str>) -> Result<Vec<GoldenVersion>> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT set_name, version, created_at_ms, change, added, archived, active_count \
                 FROM golden_versions WHERE ($1 IS NULL OR set_name = $1) ORDER BY set_name, version",
            )
            .bind(set)
            .fetch_all(p)
            .await?;
            rows.into_iter().map(|r| Ok(version_from_row!(r))).collect()
        })
    }

    /// Which set an example belongs to.
    pub async fn golden_example(&self, id: i64) -> Result<GoldenExample> {
        let sql = format!("SELECT {GOLDEN_COLUMNS} FROM golden_examples WHERE id = $1");
        on_pool!(self, p => {
            let r = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id)
                .fetch_optional(p)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("golden example {id}")))?;
            Ok(golden_from_row!(r))
        })
    }
}
