//! The gap registry: one row per gap a job has found, so the same uncovered
//! region keeps its id and label from run to run (matching is pure, in
//! `semantic::match_gaps`; this file only loads and saves).

use sqlx::Row;

use super::{on_pool, Result, Store};
use crate::embed::{le_bytes_to_vec, vec_to_le_bytes};

/// A gap a job has found before.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownGap {
    /// Per-job id (1, 2, …), the `N` of the `input.gap.N` metric.
    pub id: i64,
    /// The label it got when first found.
    pub label: String,
    /// Unit-length mean embedding of its production members when first found.
    pub centroid: Vec<f32>,
    /// External ids of its production traces when last seen.
    pub members: Vec<String>,
    pub first_run_id: i64,
    pub last_run_id: i64,
}

/// A gap of the current run: a known id, or `None` for a new one.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenGap {
    pub id: Option<i64>,
    pub label: String,
    pub centroid: Vec<f32>,
    /// External ids of its production traces.
    pub members: Vec<String>,
}

fn json_members(m: &[String]) -> String {
    serde_json::Value::from(m.to_vec()).to_string()
}

impl Store {
    /// Every gap `job` has found, by id.
    pub async fn known_gaps(&self, job: &str) -> Result<Vec<KnownGap>> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT id, label, centroid, members, first_run_id, last_run_id FROM gaps WHERE job = $1 ORDER BY id",
            )
            .bind(job)
            .fetch_all(p)
            .await?;
            rows.into_iter()
                .map(|r| {
                    Ok(KnownGap {
                        id: r.try_get("id")?,
                        label: r.try_get("label")?,
                        // A centroid that does not decode is unknown: it matches nothing.
                        centroid: le_bytes_to_vec(&r.try_get::<Vec<u8>, _>("centroid")?).unwrap_or_default(),
                        members: serde_json::from_str(&r.try_get::<String, _>("members")?)
                            .unwrap_or_default(),
                        first_run_id: r.try_get("first_run_id")?,
                        last_run_id: r.try_get("last_run_id")?,
                    })
                })
                .collect()
        })
    }

    /// Records the gaps of run `run_id` of `job` in one transaction: known ones
    /// are marked seen, new ones get the next free id. Returns each gap's id, in
    /// order. Runs of one job are serialised by its lease, so the next id is
    /// never contended; the primary key would refuse a duplicate anyway.
    pub async fn record_gaps(&self, job: &str, run_id: i64, gaps: &[SeenGap]) -> Result<Vec<i64>> {
        let mut ids = Vec::with_capacity(gaps.len());
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let mut next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM gaps WHERE job = $1")
                .bind(job)
                .fetch_one(&mut *tx)
                .await?;
            for g in gaps {
                match g.id {
                    Some(id) => {
                        sqlx::query("UPDATE gaps SET last_run_id = $1, members = $4 WHERE job = $2 AND id = $3")
                            .bind(run_id)
                            .bind(job)
                            .bind(id)
                            .bind(json_members(&g.members))
                            .execute(&mut *tx)
                            .await?;
                        ids.push(id);
                    }
                    None => {
                        sqlx::query(
                            "INSERT INTO gaps (job, id, label, dim, centroid, members, first_run_id, last_run_id) VALUES ($1, $2, $3, $4, $5, $7, $6, $6)",
                        )
                        .bind(job)
                        .bind(next)
                        .bind(&g.label)
                        .bind(g.centroid.len() as i64)
                        .bind(vec_to_le_bytes(&g.centroid))
                        .bind(run_id)
                        .bind(json_members(&g.members))
                        .execute(&mut *tx)
                        .await?;
                        ids.push(next);
                        next += 1;
                    }
                }
            }
            tx.commit().await?;
        });
        Ok(ids)
    }
}
