//! Reads for `driftwatch embed backfill`: traces from a point in time on.

use sqlx::Row;

use super::types::{ms_to_dt, Trace};
use super::{on_pool, parse_json, Result, Store};

const COLUMNS: &str = "id, source, external_id, ts_ms, input, output, model, latency_ms, \
     prompt_tokens, completion_tokens, cost, is_error, feedback, metadata, input_hash, output_hash";

impl Store {
    /// Traces with `ts_ms >= from_ms` (every trace with `None`), newest first,
    /// at most `limit` of them (all with `None`).
    pub async fn traces_since(
        &self,
        from_ms: Option<i64>,
        limit: Option<i64>,
    ) -> Result<Vec<Trace>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM traces WHERE ts_ms >= $1 ORDER BY ts_ms DESC, id DESC LIMIT $2"
        );
        let from = from_ms.unwrap_or(i64::MIN);
        let limit = limit.unwrap_or(i64::MAX);
        on_pool!(self, p => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(from).bind(limit).fetch_all(p).await?;
            rows.into_iter()
                .map(|r| {
                    Ok(Trace {
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
                    })
                })
                .collect()
        })
    }
}
