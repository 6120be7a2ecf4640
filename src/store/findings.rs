//! Findings of runs and the golden reference profiles they are tested against.

use sqlx::{QueryBuilder, Row};

use super::types::{Finding, FindingKind, RunStatus, Verdict};
use super::{now_ms, on_pool, Result, Store, StoreError};

const FINDING_COLUMNS: &str =
    "id, run_id, job, kind, metric, side, test, statistic, p_value, p_adjusted, \
     effect_size, threshold, verdict, ref_n, cur_n, details";

macro_rules! finding_from_row {
    ($row:expr) => {{
        let r = $row;
        let details: String = r.try_get("details")?;
        Finding {
            id: r.try_get("id")?,
            run_id: r.try_get("run_id")?,
            job: r.try_get("job")?,
            kind: FindingKind::parse(&r.try_get::<String, _>("kind")?),
            metric: r.try_get("metric")?,
            side: r.try_get("side")?,
            test: r.try_get("test")?,
            statistic: r.try_get("statistic")?,
            p_value: r.try_get("p_value")?,
            p_adjusted: r.try_get("p_adjusted")?,
            effect_size: r.try_get("effect_size")?,
            threshold: r.try_get("threshold")?,
            verdict: Verdict::parse(&r.try_get::<String, _>("verdict")?),
            ref_n: r.try_get("ref_n")?,
            cur_n: r.try_get("cur_n")?,
            details: super::details::parse(&details)
                .map_err(|e| StoreError::Corrupt(format!("finding details: {e}")))?,
        }
    }};
}

/// Non-finite numbers cannot be stored portably: they become NULL.
fn finite(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite())
}

impl Store {
    /// Finishes a run: writes its findings and marks it succeeded, in one
    /// transaction, so a run is never left half-written. A run that is no longer
    /// `running` (aborted meanwhile) is not touched and `Conflict` is returned.
    #[tracing::instrument(skip_all, fields(run_id, n = findings.len()))]
    pub async fn finish_run(
        &self,
        run_id: i64,
        summary: &super::RunSummary,
        findings: &[Finding],
    ) -> Result<()> {
        let summary = serde_json::to_string(summary)
            .map_err(|e| StoreError::Corrupt(format!("run summary: {e}")))?;
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE runs SET status = $1, summary = $2, finished_at_ms = $3 WHERE id = $4 AND status = $5",
            )
            .bind(RunStatus::Succeeded.as_str())
            .bind(&summary)
            .bind(now_ms())
            .bind(run_id)
            .bind(RunStatus::Running.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(StoreError::Conflict(format!("run {run_id} is no longer running")));
            }
            for chunk in findings.chunks(500) {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO findings (run_id, job, kind, metric, side, test, statistic, p_value, \
                     p_adjusted, effect_size, threshold, verdict, ref_n, cur_n, details) ",
                );
                qb.push_values(chunk, |mut b, f| {
                    b.push_bind(run_id)
                        .push_bind(&f.job)
                        .push_bind(f.kind.as_str())
                        .push_bind(&f.metric)
                        .push_bind(&f.side)
                        .push_bind(&f.test)
                        .push_bind(finite(f.statistic))
                        .push_bind(finite(f.p_value))
                        .push_bind(finite(f.p_adjusted))
                        .push_bind(finite(f.effect_size))
                        .push_bind(finite(f.threshold))
                        .push_bind(f.verdict.as_str())
                        .push_bind(f.ref_n)
                        .push_bind(f.cur_n)
                        .push_bind(f.details.to_string());
                });
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Findings of a run, drifted first, then by kind and metric.
    pub async fn findings(&self, run_id: i64) -> Result<Vec<Finding>> {
        let sql = format!("SELECT {FINDING_COLUMNS} FROM findings WHERE run_id = $1 ORDER BY id");
        let mut out: Vec<Finding> = on_pool!(self, p => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(run_id).fetch_all(p).await?;
            rows.into_iter().map(|r| Ok(finding_from_row!(r))).collect::<Result<Vec<_>>>()
        })?;
        out.sort_by_key(|f| {
            (
                f.verdict != Verdict::Drifted,
                f.verdict == Verdict::Skipped,
                f.id,
            )
        });
        Ok(out)
    }

    /// A stored reference profile (JSON), if computed before.
    pub async fn reference_profile(
        &self,
        set: &str,
        version: i64,
        settings_hash: &str,
    ) -> Result<Option<String>> {
        on_pool!(self, p => {
            let v: Option<String> = sqlx::query_scalar(
                "SELECT profile FROM reference_profiles WHERE set_name = $1 AND version = $2 AND settings_hash = $3",
            )
            .bind(set)
            .bind(version)
            .bind(settings_hash)
            .fetch_optional(p)
            .await?;
            Ok(v)
        })
    }

    /// Stores a reference profile; a concurrent writer's identical row wins silently.
    pub async fn save_reference_profile(
        &self,
        set: &str,
        version: i64,
        settings_hash: &str,
        profile: &str,
    ) -> Result<()> {
        on_pool!(self, p => {
            sqlx::query(
                "INSERT INTO reference_profiles (set_name, version, settings_hash, profile, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (set_name, version, settings_hash) DO NOTHING",
            )
            .bind(set)
            .bind(version)
            .bind(settings_hash)
            .bind(profile)
            .bind(now_ms())
            .execute(p)
            .await?;
        });
        Ok(())
    }
}
