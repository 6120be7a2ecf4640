//! Coordination between replicas: leases (one run per tick across replicas), the read
//! positions of external sources, and the gauges `/metrics` reads at scrape time.

use sqlx::Row;

use super::{now_ms, on_pool, Result, RunStatus, Store};

/// Outcome of trying to take a job's lease for one tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseClaim {
    /// This holder owns the lease until it releases it or stops renewing it.
    Won {
        /// The previous holder, when its lease had expired without release (it
        /// crashed or hung): its `running` runs of this job can be aborted.
        took_over_from: Option<String>,
    },
    /// Another holder runs this tick (or a newer one), or holds the lease now.
    Lost,
}

/// One source's stored position row.
#[derive(Debug, Clone)]
pub struct SourceStateRow {
    pub key: String,
    pub state: serde_json::Value,
}

/// A finding of a job's latest succeeded run, for the `/metrics` gauges.
#[derive(Debug, Clone)]
pub struct LatestFinding {
    pub job: String,
    pub metric: String,
    pub side: String,
    pub effect_size: Option<f64>,
    /// The effect-size floor the verdict used.
    pub threshold: Option<f64>,
    pub verdict: String,
    pub details: super::FindingDetails,
}

/// Pending or firing alerts of one job with the same name, incident and
/// severity labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AlertCount {
    pub job: String,
    pub alertname: String,
    pub incident: String,
    pub severity: String,
    pub status: String,
    pub count: i64,
}

/// The database-held state `/metrics` exports (same on every replica).
#[derive(Debug, Clone, Default)]
pub struct MetricsSnapshot {
    /// Succeeded run start time per job (epoch ms).
    pub last_success_ms: Vec<(String, i64)>,
    pub latest_findings: Vec<LatestFinding>,
    /// Alerts by (job, status) for status pending/firing.
    pub alerts: Vec<(String, String, i64)>,
    /// The same alerts by name, incident and severity.
    pub alerts_by_name: Vec<AlertCount>,
    pub outbox: super::OutboxCounts,
    /// Pending proposals per golden set.
    pub open_proposals: i64,
}

impl Store {
    /// Tries to take the lease `name` for tick `fire_at_ms` until `now + ttl_ms`.
    ///
    /// Won when nobody holds it (no row, released, or expired) AND no holder has
    /// claimed this tick or a later one: so two replicas waking for the same tick
    /// run it once, and a replica that was asleep does not re-run a tick another
    /// replica already served. One atomic upsert on both backends.
    pub async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        fire_at_ms: i64,
        ttl_ms: i64,
    ) -> Result<LeaseClaim> {
        let now = now_ms();
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let before: Option<(String, i64)> = sqlx::query_as(
                "SELECT holder, expires_at_ms FROM leases WHERE name = $1",
            )
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
            let n = sqlx::query(
                "INSERT INTO leases (name, holder, fire_at_ms, expires_at_ms, updated_at_ms) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 fire_at_ms = excluded.fire_at_ms, expires_at_ms = excluded.expires_at_ms, \
                 updated_at_ms = excluded.updated_at_ms \
                 WHERE leases.expires_at_ms <= $5 AND leases.fire_at_ms < excluded.fire_at_ms",
            )
            .bind(name)
            .bind(holder)
            .bind(fire_at_ms)
            .bind(now + ttl_ms)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            if n == 0 {
                return Ok(LeaseClaim::Lost);
            }
            // expires_at_ms = 0 marks a clean release; a positive one that passed
            // means the holder stopped renewing without releasing.
            let took_over_from = before
                .filter(|(h, exp)| *exp > 0 && h != holder)
                .map(|(h, _)| h);
            Ok(LeaseClaim::Won { took_over_from })
        })
    }

    /// The last tick claimed under lease `name` (epoch ms), if any.
    pub async fn lease_fire_at(&self, name: &str) -> Result<Option<i64>> {
        let v: Option<i64> = on_pool!(self, p => sqlx::query_scalar(
            "SELECT fire_at_ms FROM leases WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(p)
        .await?);
        Ok(v)
    }

    /// Extends a lease this holder owns; false when it was lost (expired and
    /// taken by another holder).
    pub async fn renew_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool> {
        let now = now_ms();
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE leases SET expires_at_ms = $1, updated_at_ms = $2 WHERE name = $3 AND holder = $4",
        )
        .bind(now + ttl_ms)
        .bind(now)
        .bind(name)
        .bind(holder)
        .execute(p)
        .await?
        .rows_affected());
        Ok(n == 1)
    }

    /// Releases a lease this holder owns (keeps the tick it served).
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        on_pool!(self, p => sqlx::query(
            "UPDATE leases SET expires_at_ms = 0, updated_at_ms = $1 WHERE name = $2 AND holder = $3",
        )
        .bind(now_ms())
        .bind(name)
        .bind(holder)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Marks `holder`'s runs of `job` still `running` as aborted (the holder's
    /// lease expired: it crashed or hung). Returns how many.
    pub async fn abort_runs_of_holder(&self, job: &str, holder: &str, why: &str) -> Result<u64> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE runs SET status = $1, error = $2, finished_at_ms = $3 \
             WHERE status = $4 AND job = $5 AND holder = $6",
        )
        .bind(RunStatus::Aborted.as_str())
        .bind(why)
        .bind(now_ms())
        .bind(RunStatus::Running.as_str())
        .bind(job)
        .bind(holder)
        .execute(p)
        .await?
        .rows_affected());
        Ok(n)
    }

    /// Every stored position of source `source`.
    pub async fn source_state(&self, source: &str) -> Result<Vec<SourceStateRow>> {
        let rows: Vec<(String, String)> = on_pool!(self, p => sqlx::query_as(
            "SELECT key, state FROM source_state WHERE source = $1 ORDER BY key",
        )
        .bind(source)
        .fetch_all(p)
        .await?);
        rows.into_iter()
            .map(|(key, s)| {
                let state = serde_json::from_str(&s)
                    .map_err(|e| super::StoreError::Corrupt(format!("source_state {key}: {e}")))?;
                Ok(SourceStateRow { key, state })
            })
            .collect()
    }

    /// Stores one position of `source` (insert or replace).
    pub async fn put_source_state(
        &self,
        source: &str,
        key: &str,
        state: &serde_json::Value,
    ) -> Result<()> {
        on_pool!(self, p => sqlx::query(
            "INSERT INTO source_state (source, key, state, updated_at_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (source, key) DO UPDATE SET state = excluded.state, \
             updated_at_ms = excluded.updated_at_ms",
        )
        .bind(source)
        .bind(key)
        .bind(state.to_string())
        .bind(now_ms())
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Forgets one position of `source` (a file that no longer exists).
    pub async fn delete_source_state(&self, source: &str, key: &str) -> Result<()> {
        on_pool!(self, p => sqlx::query("DELETE FROM source_state WHERE source = $1 AND key = $2")
            .bind(source)
            .bind(key)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The database-held gauges of `/metrics`.
    pub async fn metrics_snapshot(&self) -> Result<MetricsSnapshot> {
        let succeeded = RunStatus::Succeeded.as_str();
        let last_success_ms: Vec<(String, i64)> = on_pool!(self, p => sqlx::query_as(
            "SELECT job, MAX(started_at_ms) FROM runs WHERE status = $1 GROUP BY job ORDER BY job",
        )
        .bind(succeeded)
        .fetch_all(p)
        .await?);
        let rows = on_pool!(self, p => sqlx::query(
            "SELECT f.job, f.metric, f.side, f.effect_size, f.threshold, f.verdict, f.details FROM findings f \
             WHERE f.run_id IN (SELECT MAX(id) FROM runs WHERE status = $1 GROUP BY job) \
             ORDER BY f.job, f.metric, f.side",
        )
        .bind(succeeded)
        .fetch_all(p)
        .await?
        .into_iter()
        .map(|r| -> Result<LatestFinding> {
            let details: String = r.try_get("details")?;
            Ok(LatestFinding {
                job: r.try_get("job")?,
                metric: r.try_get("metric")?,
                side: r.try_get("side")?,
                effect_size: r.try_get("effect_size")?,
                threshold: r.try_get("threshold")?,
                verdict: r.try_get("verdict")?,
                details: super::details::parse(&details).unwrap_or_default(),
            })
        })
        .collect::<Result<Vec<_>>>()?);
        let alerts: Vec<(String, String, i64)> = on_pool!(self, p => sqlx::query_as(
            "SELECT job, status, COUNT(*) FROM alerts WHERE status IN ('pending', 'firing') \
             GROUP BY job, status ORDER BY job, status",
        )
        .fetch_all(p)
        .await?);
        let labelled: Vec<(String, String, String)> = on_pool!(self, p => sqlx::query_as(
            "SELECT job, status, labels FROM alerts WHERE status IN ('pending', 'firing')",
        )
        .fetch_all(p)
        .await?);
        let mut by_name = std::collections::BTreeMap::<_, i64>::new();
        for (job, status, labels) in labelled {
            let labels: std::collections::BTreeMap<String, String> =
                serde_json::from_str(&labels).unwrap_or_default();
            let label = |k: &str| labels.get(k).cloned().unwrap_or_default();
            *by_name
                .entry((
                    job,
                    label("alertname"),
                    label("incident"),
                    label("severity"),
                    status,
                ))
                .or_default() += 1;
        }
        let alerts_by_name = by_name
            .into_iter()
            .map(
                |((job, alertname, incident, severity, status), count)| AlertCount {
                    job,
                    alertname,
                    incident,
                    severity,
                    status,
                    count,
                },
            )
            .collect();
        let open_proposals: i64 = on_pool!(self, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM proposals WHERE status = 'pending'",
        )
        .fetch_one(p)
        .await?);
        Ok(MetricsSnapshot {
            last_success_ms,
            latest_findings: rows,
            alerts,
            alerts_by_name,
            outbox: self.outbox_counts().await?,
            open_proposals,
        })
    }
}
