//! LLM-ensemble pre-labels of proposals: each model's answer (or why it gave
//! none) with its token usage, and the ensemble's conclusion on the proposal.
//! Written by `jobs::prelabel`, read by the review page.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{QueryBuilder, Row};

use super::types::ms_to_dt;
use super::{now_ms, on_pool, Result, Store};

/// One model's answer to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLabel {
    pub model: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub latency_ms: Option<i64>,
}

/// A stored answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Label {
    pub id: i64,
    pub proposal_id: i64,
    pub model: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub latency_ms: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// The ensemble's conclusion to record on a proposal.
#[derive(Debug, Clone, PartialEq)]
pub struct EnsembleVerdict {
    pub agrees: bool,
    pub output: Option<String>,
    pub share: f64,
}

impl Store {
    /// Records the answers to proposal `id` and the ensemble's verdict, in one
    /// transaction.
    pub async fn record_labels(
        &self,
        id: i64,
        labels: &[NewLabel],
        verdict: &EnsembleVerdict,
    ) -> Result<()> {
        let now = now_ms();
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            if !labels.is_empty() {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO proposal_labels (proposal_id, model, output, error, prompt_tokens, completion_tokens, latency_ms, created_at_ms) ",
                );
                qb.push_values(labels, |mut b, l| {
                    b.push_bind(id)
                        .push_bind(&l.model)
                        .push_bind(&l.output)
                        .push_bind(&l.error)
                        .push_bind(l.prompt_tokens)
                        .push_bind(l.completion_tokens)
                        .push_bind(l.latency_ms)
                        .push_bind(now);
                });
                qb.build().execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE proposals SET ensemble_status = $1, ensemble_output = $2, ensemble_share = $3 WHERE id = $4")
                .bind(if verdict.agrees { "agrees" } else { "disagrees" })
                .bind(verdict.output.as_deref())
                .bind(verdict.share)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The answers recorded for these proposals, by proposal then id.
    pub async fn labels_for(&self, ids: &[i64]) -> Result<Vec<Label>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            on_pool!(self, p => {
                let mut qb = QueryBuilder::new(
                    "SELECT id, proposal_id, model, output, error, prompt_tokens, completion_tokens, latency_ms, created_at_ms \
                     FROM proposal_labels WHERE proposal_id IN (",
                );
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(") ORDER BY proposal_id, id");
                for r in qb.build().fetch_all(p).await? {
                    out.push(Label {
                        id: r.try_get("id")?,
                        proposal_id: r.try_get("proposal_id")?,
                        model: r.try_get("model")?,
                        output: r.try_get("output")?,
                        error: r.try_get("error")?,
                        prompt_tokens: r.try_get("prompt_tokens")?,
                        completion_tokens: r.try_get("completion_tokens")?,
                        latency_ms: r.try_get("latency_ms")?,
                        created_at: ms_to_dt(r.try_get("created_at_ms")?),
                    });
                }
            });
        }
        Ok(out)
    }

    /// Model calls recorded since `since_ms` (the daily cap's count).
    pub async fn labels_since(&self, since_ms: i64) -> Result<i64> {
        on_pool!(self, p => {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM proposal_labels WHERE created_at_ms >= $1")
                .bind(since_ms)
                .fetch_one(p)
                .await?)
        })
    }
}

/// A judge's verdict on one (input, expected, actual) triple.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeVerdict {
    pub key: String,
    pub model: String,
    pub correct: bool,
    pub reason: String,
}

impl Store {
    /// The cached verdicts among `keys`.
    pub async fn judge_verdicts(
        &self,
        keys: &[String],
    ) -> Result<std::collections::HashMap<String, JudgeVerdict>> {
        let mut out = std::collections::HashMap::new();
        for chunk in keys.chunks(500) {
            on_pool!(self, p => {
                let mut qb = QueryBuilder::new("SELECT key, model, correct, reason FROM judge_verdicts WHERE key IN (");
                let mut sep = qb.separated(", ");
                for k in chunk {
                    sep.push_bind(k);
                }
                qb.push(")");
                for r in qb.build().fetch_all(p).await? {
                    let v = JudgeVerdict {
                        key: r.try_get("key")?,
                        model: r.try_get("model")?,
                        correct: r.try_get::<i64, _>("correct")? != 0,
                        reason: r.try_get("reason")?,
                    };
                    out.insert(v.key.clone(), v);
                }
            });
        }
        Ok(out)
    }

    /// Caches verdicts (a key judged before keeps its first verdict).
    pub async fn put_judge_verdicts(&self, vs: &[JudgeVerdict]) -> Result<()> {
        if vs.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        on_pool!(self, p => {
            let mut qb = QueryBuilder::new("INSERT INTO judge_verdicts (key, model, correct, reason, created_at_ms) ");
            qb.push_values(vs, |mut b, v| {
                b.push_bind(&v.key)
                    .push_bind(&v.model)
                    .push_bind(i64::from(v.correct))
                    .push_bind(&v.reason)
                    .push_bind(now);
            });
            qb.push(" ON CONFLICT (key) DO NOTHING");
            qb.build().execute(p).await?;
        });
        Ok(())
    }
}
