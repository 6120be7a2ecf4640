//! Trace storage: batched idempotent inserts and window reads for sampling.

use std::borrow::Cow;

use sqlx::{QueryBuilder, Row};

use super::types::{
    content_hash, ms_to_dt, trace_sample_hash, without_nul, InsertStats, NewTrace, Trace,
};
use super::{now_ms, on_pool, parse_json, Result, Store};

/// Rows per INSERT statement: 18 binds a row stays under SQLite's 32,766 and
/// PostgreSQL's 65,535 bind limits.
const ROWS_PER_STATEMENT: usize = 1000;

/// The identity of a trace in a window, enough to decide whether it is sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowTrace {
    pub id: i64,
    pub source: String,
    pub external_id: String,
}

const TRACE_COLUMNS: &str = "id, source, external_id, ts_ms, input, output, model, latency_ms, \
     prompt_tokens, completion_tokens, cost, is_error, feedback, metadata, input_hash, output_hash";

macro_rules! trace_from_row {
    ($row:expr) => {{
        let r = $row;
        Trace {
            id: r.try_get("id")?,
            source: r.try_get("source")?,
            external_id: r.try_get("external_id")?,
            ts: ms_to_dt(r.try_get("ts_ms")?),
            input: r.try_get("input")?,
            output: r.try_get("output")?,
            model: r.try_get("model")?,
            latency_ms: r.try_get("latency_ms")?,
            prompt_tokens: r.try_get("prompt_tokens")?,
            completion_tokens: r.try_get("completion_tokens")?,
            cost: r.try_get("cost")?,
            is_error: r.try_get("is_error")?,
            feedback: r.try_get("feedback")?,
            metadata: parse_json(r.try_get("metadata")?)?,
            input_hash: r.try_get("input_hash")?,
            output_hash: r.try_get("output_hash")?,
        }
    }};
}

/// The text columns of one trace as they are stored.
struct StoredTexts<'a> {
    source: Cow<'a, str>,
    external_id: Cow<'a, str>,
    input: Cow<'a, str>,
    output: Cow<'a, str>,
    model: Option<Cow<'a, str>>,
    metadata: Option<String>,
    input_hash: String,
    output_hash: String,
    sample_hash: i64,
}

impl Store {
    /// Inserts traces in one transaction; a trace whose (source, external_id) is
    /// already stored is counted as a duplicate and left unchanged.
    #[tracing::instrument(skip_all, fields(n = traces.len()))]
    pub async fn insert_traces(&self, traces: &[NewTrace]) -> Result<InsertStats> {
        if traces.is_empty() {
            return Ok(InsertStats::default());
        }
        let ingested = now_ms();
        // Texts as stored: without NUL (`without_nul`), hashed as stored.
        let texts: Vec<StoredTexts> = traces
            .iter()
            .map(|t| {
                let input = without_nul(&t.input);
                let output = without_nul(&t.output);
                let source = without_nul(&t.source);
                let external_id = without_nul(&t.external_id);
                StoredTexts {
                    sample_hash: trace_sample_hash(&source, &external_id),
                    source,
                    external_id,
                    input_hash: content_hash(&input),
                    output_hash: content_hash(&output),
                    input,
                    output,
                    model: t.model.as_deref().map(without_nul),
                    metadata: t.metadata.as_ref().map(|m| m.to_string()),
                }
            })
            .collect();
        let (mut stored, mut conflicting) = (0u64, 0u64);
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            for (chunk, hashes) in traces
                .chunks(ROWS_PER_STATEMENT)
                .zip(texts.chunks(ROWS_PER_STATEMENT))
            {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO traces (source, external_id, ts_ms, input, output, model, \
                     latency_ms, prompt_tokens, completion_tokens, cost, is_error, feedback, \
                     metadata, input_hash, output_hash, ingested_at_ms, sample_hash) ",
                );
                qb.push_values(chunk.iter().zip(hashes), |mut b, (t, s)| {
                    b.push_bind(s.source.as_ref())
                        .push_bind(s.external_id.as_ref())
                        .push_bind(t.ts.timestamp_millis())
                        .push_bind(s.input.as_ref())
                        .push_bind(s.output.as_ref())
                        .push_bind(s.model.as_deref())
                        .push_bind(t.latency_ms)
                        .push_bind(t.prompt_tokens)
                        .push_bind(t.completion_tokens)
                        .push_bind(t.cost)
                        .push_bind(t.is_error)
                        .push_bind(t.feedback)
                        .push_bind(s.metadata.as_deref())
                        .push_bind(&s.input_hash)
                        .push_bind(&s.output_hash)
                        .push_bind(ingested)
                        .push_bind(s.sample_hash);
                });
                qb.push(" ON CONFLICT (source, external_id) DO NOTHING");
                let n = qb.build().execute(&mut *tx).await?.rows_affected();
                stored += n;
                if (n as usize) < chunk.len() {
                    // Some were duplicates: count those whose content differs
                    // from the trace stored under their id.
                    let mut q = QueryBuilder::new(
                        "SELECT source, external_id, input_hash, output_hash FROM traces \
                         WHERE (source, external_id) IN ",
                    );
                    q.push_tuples(hashes, |mut b, s| {
                        b.push_bind(s.source.as_ref()).push_bind(s.external_id.as_ref());
                    });
                    let rows: Vec<(String, String, String, String)> =
                        q.build_query_as().fetch_all(&mut *tx).await?;
                    let kept: std::collections::HashMap<(&str, &str), (&str, &str)> = rows
                        .iter()
                        .map(|(s, e, i, o)| ((s.as_str(), e.as_str()), (i.as_str(), o.as_str())))
                        .collect();
                    conflicting += hashes
                        .iter()
                        .filter(|s| {
                            kept.get(&(s.source.as_ref(), s.external_id.as_ref()))
                                .is_some_and(|&(i, o)| i != s.input_hash || o != s.output_hash)
                        })
                        .count() as u64;
                }
            }
            tx.commit().await?;
        });
        Ok(InsertStats {
            stored,
            duplicates: traces.len() as u64 - stored,
            conflicting,
        })
    }

    /// Number of stored traces.
    pub async fn count_traces(&self) -> Result<i64> {
        let n: i64 = on_pool!(self, p => sqlx::query_scalar("SELECT COUNT(*) FROM traces")
            .fetch_one(p)
            .await)?;
        Ok(n)
    }

    /// Identities of every trace with `from_ms <= ts_ms < to_ms` (what the
    /// in-memory reference sampler takes; runs use [`sample_window`](Self::sample_window)).
    #[tracing::instrument(skip_all)]
    pub async fn window_traces(&self, from_ms: i64, to_ms: i64) -> Result<Vec<WindowTrace>> {
        let rows = on_pool!(self, p => {
            sqlx::query("SELECT id, source, external_id FROM traces WHERE ts_ms >= $1 AND ts_ms < $2")
                .bind(from_ms)
                .bind(to_ms)
                .fetch_all(p)
                .await?
                .into_iter()
                .map(|r| Ok(WindowTrace {
                    id: r.try_get("id")?,
                    source: r.try_get("source")?,
                    external_id: r.try_get("external_id")?,
                }))
                .collect::<Result<Vec<_>>>()
        })?;
        Ok(rows)
    }

    /// The sample of a window, drawn inside the database: the number of traces
    /// with `from_ms <= ts_ms < to_ms` (of `sources`, when given), and the ids of
    /// the `k` of them with the smallest `sample_hash XOR mask` (signed; ties,
    /// which need two equal 64-bit hashes, by id), sorted by id. XOR is written
    /// `(a | b) - (a & b)`, which SQLite can compute and cannot overflow
    /// (`a & b` has a subset of the bits of `a | b`). On both backends the scan
    /// reads the `(ts_ms, sample_hash)` index, not the rows.
    #[tracing::instrument(skip_all, fields(k))]
    pub async fn sample_window(
        &self,
        from_ms: i64,
        to_ms: i64,
        sources: Option<&[String]>,
        mask: i64,
        k: usize,
    ) -> Result<(u64, Vec<i64>)> {
        self.backfill_sample_hashes().await?;
        let k = i64::try_from(k).unwrap_or(i64::MAX);
        let (n, mut ids) = on_pool!(self, p => {
            let filter = |qb: &mut QueryBuilder<_>| {
                qb.push(" WHERE ts_ms >= ").push_bind(from_ms);
                qb.push(" AND ts_ms < ").push_bind(to_ms);
                if let Some(sources) = sources {
                    qb.push(" AND source IN (");
                    let mut sep = qb.separated(", ");
                    for s in sources {
                        sep.push_bind(s.clone());
                    }
                    sep.push_unseparated(")");
                }
            };
            let mut count = QueryBuilder::new("SELECT COUNT(*) FROM traces");
            filter(&mut count);
            let n: i64 = if sources.is_some_and(|s| s.is_empty()) {
                0
            } else {
                count.build_query_scalar().fetch_one(p).await?
            };
            let mut ids: Vec<i64> = Vec::new();
            if n > 0 && n <= k {
                // The whole window is the sample: no keys to sort.
                let mut q = QueryBuilder::new("SELECT id FROM traces");
                filter(&mut q);
                ids = q.build_query_scalar().fetch_all(p).await?;
            } else if n > 0 {
                let mut q = QueryBuilder::new("SELECT id FROM traces");
                filter(&mut q);
                q.push(" ORDER BY (sample_hash | ").push_bind(mask);
                q.push(") - (sample_hash & ").push_bind(mask);
                q.push("), id LIMIT ").push_bind(k);
                ids = q.build_query_scalar().fetch_all(p).await?;
            }
            (n, ids)
        });
        ids.sort_unstable();
        Ok((n as u64, ids))
    }

    /// Writes `sample_hash` for traces stored before the column existed, in
    /// batches; a no-op (one indexed lookup) once every trace has it. Returns the
    /// number of traces filled in. Idempotent, so replicas may race on it.
    pub async fn backfill_sample_hashes(&self) -> Result<u64> {
        const BATCH: i64 = 5_000;
        let mut done = 0u64;
        loop {
            let filled = on_pool!(self, p => {
                let rows: Vec<(i64, String, String)> = sqlx::query_as(
                    "SELECT id, source, external_id FROM traces \
                     WHERE sample_hash IS NULL ORDER BY id LIMIT $1",
                )
                .bind(BATCH)
                .fetch_all(p)
                .await?;
                if !rows.is_empty() {
                    let mut qb = QueryBuilder::new("WITH v (id, h) AS (");
                    qb.push_values(&rows, |mut b, (id, source, external_id)| {
                        b.push_bind(*id).push_bind(trace_sample_hash(source, external_id));
                    });
                    qb.push(
                        ") UPDATE traces SET sample_hash = v.h FROM v WHERE traces.id = v.id",
                    );
                    qb.build().execute(p).await?;
                }
                rows.len()
            });
            if filled == 0 {
                break;
            }
            done += filled as u64;
        }
        if done > 0 {
            tracing::info!(
                traces = done,
                "filled in the sampling hashes of stored traces"
            );
        }
        Ok(done)
    }

    /// Only `(id, input, output)` of the given ids, in id order: what
    /// measuring a sample needs, without the other columns' allocations
    /// (metadata parsed as JSON, two hex hashes, model and source names).
    #[tracing::instrument(skip_all, fields(n = ids.len()))]
    pub async fn trace_texts_by_ids(&self, ids: &[i64]) -> Result<Vec<(i64, String, String)>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            on_pool!(self, p => {
                let mut qb = QueryBuilder::new("SELECT id, input, output FROM traces WHERE id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
                for r in qb.build().fetch_all(p).await? {
                    out.push((r.try_get("id")?, r.try_get("input")?, r.try_get("output")?));
                }
            });
        }
        out.sort_unstable_by_key(|t| t.0);
        Ok(out)
    }

    /// Full traces for the given ids, in id order.
    #[tracing::instrument(skip_all, fields(n = ids.len()))]
    pub async fn traces_by_ids(&self, ids: &[i64]) -> Result<Vec<Trace>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            on_pool!(self, p => {
                let mut qb = QueryBuilder::new(format!("SELECT {TRACE_COLUMNS} FROM traces WHERE id IN ("));
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
                for r in qb.build().fetch_all(p).await? {
                    out.push(trace_from_row!(r));
                }
            });
        }
        out.sort_by_key(|t| t.id);
        Ok(out)
    }

    /// One trace by id.
    pub async fn get_trace(&self, id: i64) -> Result<Trace> {
        let sql = format!("SELECT {TRACE_COLUMNS} FROM traces WHERE id = $1");
        on_pool!(self, p => {
            let r = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_one(p).await?;
            Ok(trace_from_row!(r))
        })
    }

    /// The most recent traces, newest first.
    pub async fn recent_traces(&self, limit: i64) -> Result<Vec<Trace>> {
        let sql =
            format!("SELECT {TRACE_COLUMNS} FROM traces ORDER BY ts_ms DESC, id DESC LIMIT $1");
        on_pool!(self, p => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(limit).fetch_all(p).await?;
            rows.into_iter().map(|r| Ok(trace_from_row!(r))).collect()
        })
    }

    /// Traces with `ts_ms >= from_ms` (every trace with `None`), newest first,
    /// at most `limit` of them (all with `None`). For `embed backfill`.
    pub async fn traces_since(
        &self,
        from_ms: Option<i64>,
        limit: Option<i64>,
    ) -> Result<Vec<Trace>> {
        let sql = format!("SELECT {TRACE_COLUMNS} FROM traces WHERE ts_ms >= $1 ORDER BY ts_ms DESC, id DESC LIMIT $2");
        on_pool!(self, p => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(from_ms.unwrap_or(i64::MIN))
                .bind(limit.unwrap_or(i64::MAX))
                .fetch_all(p)
                .await?;
            rows.into_iter().map(|r| Ok(trace_from_row!(r))).collect()
        })
    }
}
