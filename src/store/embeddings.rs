//! The embedding cache: vectors keyed by (content hash, model id).

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row};

use super::{now_ms, on_pool, Result, Store};

impl Store {
    /// Cached vectors (little-endian f32 bytes) for those of `hashes` that have one.
    pub async fn cached_embeddings(
        &self,
        model_id: &str,
        hashes: &[String],
    ) -> Result<HashMap<String, Vec<u8>>> {
        let mut out = HashMap::with_capacity(hashes.len());
        for chunk in hashes.chunks(900) {
            on_pool!(self, p => {
                let mut qb = QueryBuilder::new("SELECT content_hash, vector FROM embeddings WHERE model_id = ");
                qb.push_bind(model_id);
                qb.push(" AND content_hash IN (");
                let mut sep = qb.separated(", ");
                for h in chunk {
                    sep.push_bind(h);
                }
                qb.push(")");
                for r in qb.build().fetch_all(p).await? {
                    out.insert(r.try_get::<String, _>("content_hash")?, r.try_get::<Vec<u8>, _>("vector")?);
                }
            });
        }
        Ok(out)
    }

    /// Stores vectors; a vector already cached by a concurrent writer is kept.
    pub async fn put_embeddings(
        &self,
        model_id: &str,
        dim: usize,
        rows: &[(String, Vec<u8>)],
    ) -> Result<()> {
        let now = now_ms();
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            for chunk in rows.chunks(500) {
                let mut qb = QueryBuilder::new("INSERT INTO embeddings (content_hash, model_id, dim, vector, created_at_ms) ");
                qb.push_values(chunk, |mut b, (h, v)| {
                    b.push_bind(h).push_bind(model_id).push_bind(dim as i64).push_bind(v).push_bind(now);
                });
                qb.push(" ON CONFLICT (content_hash, model_id) DO NOTHING");
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Number of cached vectors of a model.
    pub async fn count_embeddings(&self, model_id: &str) -> Result<i64> {
        on_pool!(self, p => {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM embeddings WHERE model_id = $1").bind(model_id).fetch_one(p).await?;
            Ok(n)
        })
    }
}
