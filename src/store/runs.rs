//! Analysis runs: one row per run of a job, from `running` to a final status.

use sqlx::Row;

use super::types::{ms_to_dt, Run, RunStatus};
use super::{now_ms, on_pool, parse_json, Result, Store, StoreError};

/// Which runs to list.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub job: Option<String>,
    pub limit: Option<i64>,
}

macro_rules! run_from_row {
    ($row:expr) => {{
        let r = $row;
        let finished: Option<i64> = r.try_get("finished_at_ms")?;
        Run {
            id: r.try_get("id")?,
            job: r.try_get("job")?,
            started_at: ms_to_dt(r.try_get("started_at_ms")?),
            finished_at: finished.map(ms_to_dt),
            status: RunStatus::parse(&r.try_get::<String, _>("status")?),
            summary: parse_json(r.try_get("summary")?)?,
            error: r.try_get("error")?,
        }
    }};
}

const RUN_COLUMNS: &str = "id, job, started_at_ms, finished_at_ms, status, summary, error";

impl Store {
    /// Records the start of a run of `job` and returns its id.
    pub async fn start_run(&self, job: &str) -> Result<i64> {
        self.start_run_as(job, None).await
    }

    /// Starts a run recorded as executed by daemon process `holder` (see leases).
    pub async fn start_run_as(&self, job: &str, holder: Option<&str>) -> Result<i64> {
        on_pool!(self, p => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO runs (job, started_at_ms, status, holder) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(job)
            .bind(now_ms())
            .bind(RunStatus::Running.as_str())
            .bind(holder)
            .fetch_one(p)
            .await?;
            Ok(id)
        })
    }

    /// Marks a running run failed or aborted with a reason. A run that already
    /// finished is left as it is.
    pub async fn fail_run(&self, id: i64, status: RunStatus, error: &str) -> Result<()> {
        on_pool!(self, p => {
            sqlx::query(
                "UPDATE runs SET status = $1, error = $2, finished_at_ms = $3 WHERE id = $4 AND status = $5",
            )
            .bind(status.as_str())
            .bind(error)
            .bind(now_ms())
            .bind(id)
            .bind(RunStatus::Running.as_str())
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Every `running` run with its holder (the process that runs it).
    pub async fn running_runs(&self) -> Result<Vec<(i64, Option<String>)>> {
        on_pool!(self, p => {
            sqlx::query("SELECT id, holder FROM runs WHERE status = $1 ORDER BY id")
                .bind(RunStatus::Running.as_str())
                .fetch_all(p)
                .await?
                .into_iter()
                .map(|r| Ok((r.try_get("id")?, r.try_get("holder")?)))
                .collect::<Result<Vec<_>>>()
        })
    }

    /// Marks these runs aborted with `reason` (those still running).
    pub async fn abort_runs(&self, ids: &[i64], reason: &str) -> Result<u64> {
        let mut n = 0;
        for &id in ids {
            n += on_pool!(self, p => {
                sqlx::query(
                    "UPDATE runs SET status = $1, error = $2, finished_at_ms = $3 WHERE id = $4 AND status = $5",
                )
                .bind(RunStatus::Aborted.as_str())
                .bind(reason)
                .bind(now_ms())
                .bind(id)
                .bind(RunStatus::Running.as_str())
                .execute(p)
                .await?
                .rows_affected()
            });
        }
        Ok(n)
    }

    pub async fn get_run(&self, id: i64) -> Result<Run> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
        on_pool!(self, p => {
            let r = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id)
                .fetch_optional(p)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("run {id}")))?;
            Ok(run_from_row!(r))
        })
    }

    /// Runs, newest first.
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE ($1 IS NULL OR job = $1) ORDER BY id DESC LIMIT $2"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(filter.job.as_deref())
                .bind(filter.limit.unwrap_or(100))
                .fetch_all(p)
                .await?;
            rows.into_iter().map(|r| Ok(run_from_row!(r))).collect()
        })
    }
}
