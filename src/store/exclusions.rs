//! Topic exclusions: a topic the data team decided is out of scope or covered
//! elsewhere, with the production inputs that show it (its exemplars). The
//! semantic stage reads the active ones (`jobs::run::semantic`); the review
//! layer adds and lifts them (`review::exclude_topic`, `review::lift_exclusion`).
//! Lifting keeps the row, so the record of who decided what stays.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{QueryBuilder, Row};

use super::types::ms_to_dt;
use super::{now_ms, on_pool, Result, Store, StoreError};

/// Why a topic is kept out of the golden set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionScope {
    /// The application is not meant to answer it.
    OutOfScope,
    /// Another golden set or job covers it.
    CoveredElsewhere,
}

impl ExclusionScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ExclusionScope::OutOfScope => "out_of_scope",
            ExclusionScope::CoveredElsewhere => "covered_elsewhere",
        }
    }
    /// Reads `out_of_scope` / `covered_elsewhere` (or with dashes).
    pub fn parse(s: &str) -> Option<ExclusionScope> {
        match s.trim().replace('-', "_").as_str() {
            "out_of_scope" => Some(ExclusionScope::OutOfScope),
            "covered_elsewhere" => Some(ExclusionScope::CoveredElsewhere),
            _ => None,
        }
    }
    /// Words for pages and messages.
    pub fn words(self) -> &'static str {
        match self {
            ExclusionScope::OutOfScope => "out of scope",
            ExclusionScope::CoveredElsewhere => "covered elsewhere",
        }
    }
}

impl std::fmt::Display for ExclusionScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A topic exclusion to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewExclusion {
    pub job: String,
    pub golden_set: String,
    /// The stable gap id it came from, if any.
    pub gap_id: Option<i64>,
    pub label: String,
    pub scope: ExclusionScope,
    pub reason: String,
    /// Production inputs inside the topic.
    pub exemplars: Vec<String>,
    pub created_by: String,
}

/// A stored topic exclusion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicExclusion {
    pub id: i64,
    pub job: String,
    pub golden_set: String,
    pub gap_id: Option<i64>,
    pub label: String,
    pub scope: ExclusionScope,
    pub reason: String,
    pub exemplars: Vec<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub lifted_by: Option<String>,
    pub lifted_at: Option<DateTime<Utc>>,
}

impl TopicExclusion {
    pub fn active(&self) -> bool {
        self.lifted_at.is_none()
    }
}

const COLUMNS: &str = "id, job, golden_set, gap_id, label, scope, reason, exemplars, created_by, created_at_ms, lifted_by, lifted_at_ms";

macro_rules! exclusion_from_row {
    ($row:expr) => {{
        let r = $row;
        let scope: String = r.try_get("scope")?;
        let lifted: Option<i64> = r.try_get("lifted_at_ms")?;
        TopicExclusion {
            id: r.try_get("id")?,
            job: r.try_get("job")?,
            golden_set: r.try_get("golden_set")?,
            gap_id: r.try_get("gap_id")?,
            label: r.try_get("label")?,
            // Only this module writes the column.
            scope: ExclusionScope::parse(&scope).unwrap_or(ExclusionScope::OutOfScope),
            reason: r.try_get("reason")?,
            exemplars: serde_json::from_str(&r.try_get::<String, _>("exemplars")?)
                .unwrap_or_default(),
            created_by: r.try_get("created_by")?,
            created_at: ms_to_dt(r.try_get("created_at_ms")?),
            lifted_by: r.try_get("lifted_by")?,
            lifted_at: lifted.map(ms_to_dt),
        }
    }};
}

impl Store {
    /// Records a topic exclusion and returns it.
    pub async fn add_exclusion(&self, x: &NewExclusion) -> Result<TopicExclusion> {
        let exemplars = serde_json::Value::from(x.exemplars.clone()).to_string();
        let id: i64 = on_pool!(self, p => {
            sqlx::query_scalar(
                "INSERT INTO topic_exclusions (job, golden_set, gap_id, label, scope, reason, exemplars, created_by, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(&x.job)
            .bind(&x.golden_set)
            .bind(x.gap_id)
            .bind(&x.label)
            .bind(x.scope.as_str())
            .bind(&x.reason)
            .bind(&exemplars)
            .bind(&x.created_by)
            .bind(now_ms())
            .fetch_one(p)
            .await?
        });
        self.exclusion(id).await
    }

    /// One exclusion by id.
    pub async fn exclusion(&self, id: i64) -> Result<TopicExclusion> {
        let sql = format!("SELECT {COLUMNS} FROM topic_exclusions WHERE id = $1");
        on_pool!(self, p => {
            match sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(p).await? {
                Some(r) => Ok(exclusion_from_row!(r)),
                None => Err(StoreError::NotFound(format!("topic exclusion {id}"))),
            }
        })
    }

    /// Exclusions of `job` (every job when `None`), oldest first; lifted ones
    /// only when `with_lifted`.
    pub async fn exclusions(
        &self,
        job: Option<&str>,
        with_lifted: bool,
    ) -> Result<Vec<TopicExclusion>> {
        on_pool!(self, p => {
            let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM topic_exclusions WHERE 1 = 1"));
            if let Some(j) = job {
                qb.push(" AND job = ").push_bind(j);
            }
            if !with_lifted {
                qb.push(" AND lifted_at_ms IS NULL");
            }
            qb.push(" ORDER BY id");
            let mut out = Vec::new();
            for r in qb.build().fetch_all(p).await? {
                out.push(exclusion_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Lifts an active exclusion; lifting one already lifted is a conflict
    /// naming who lifted it.
    pub async fn lift_exclusion(&self, id: i64, by: &str) -> Result<TopicExclusion> {
        let n = on_pool!(self, p => {
            sqlx::query("UPDATE topic_exclusions SET lifted_by = $1, lifted_at_ms = $2 WHERE id = $3 AND lifted_at_ms IS NULL")
                .bind(by)
                .bind(now_ms())
                .bind(id)
                .execute(p)
                .await?
                .rows_affected()
        });
        let x = self.exclusion(id).await?;
        if n == 0 {
            return Err(StoreError::Conflict(format!(
                "topic exclusion {id} was already lifted by {}",
                x.lifted_by.as_deref().unwrap_or("someone")
            )));
        }
        Ok(x)
    }

    /// Input texts of the traces with these external ids (at most one text per
    /// id), for an exclusion's exemplars. External ids are unique per source,
    /// not indexed alone: this scans, which a reviewer's one-off action affords.
    pub async fn trace_inputs_by_external_ids(&self, ids: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            on_pool!(self, p => {
                let mut qb = QueryBuilder::new("SELECT input FROM traces WHERE external_id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(id);
                }
                qb.push(") ORDER BY id");
                for r in qb.build().fetch_all(p).await? {
                    out.push(r.try_get::<String, _>("input")?);
                }
            });
        }
        Ok(out)
    }
}
