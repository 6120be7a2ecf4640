//! Drawing a run's sample from a large window inside the database
//! (`Store::sample_window`) against the previous way (every id, source and
//! external id of the window streamed to the process, hashed, and a bottom-k
//! heap kept there), on one store filled with `N` synthetic traces.
//!
//! ```sh
//! createdb -h 127.0.0.1 -U postgres dw_sampling
//! cargo bench --bench sampling -- postgres://postgres@127.0.0.1:5432/dw_sampling 10000000
//! cargo bench --bench sampling -- sqlite:///tmp/dw-sampling.db 10000000
//! ```
//!
//! The traces are written by SQL (`generate_series` / a recursive CTE: inputs of
//! 192 and outputs of 320 characters, one per second) with no sampling hash, so
//! the first run also times the store's fill-in of the hashes, which is what an
//! existing store pays once after upgrading. Later runs reuse the data.

use std::collections::BinaryHeap;
use std::time::Instant;

use driftwatch::jobs::{sample_key, seed_mask};
use driftwatch::store::Store;
use futures::TryStreamExt;
use sqlx::Row;

const T0_MS: i64 = 1_700_000_000_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (Some(url), Some(n)) = (args.first(), args.get(1)) else {
        eprintln!("usage: cargo bench --bench sampling -- STORE_URL N_TRACES");
        return Ok(());
    };
    let n: i64 = n.parse()?;
    let store = Store::connect(url).await?;
    let have = store.count_traces().await?;
    let pg = url.starts_with("postgres");
    if have < n {
        let t = Instant::now();
        fill(url, pg, have, n).await?;
        println!(
            "filled {} traces by SQL in {:.1} s",
            n - have,
            t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        let k = store.backfill_sample_hashes().await?;
        println!(
            "store filled in {k} sampling hashes in {:.1} s ({:.0} traces/s)",
            t.elapsed().as_secs_f64(),
            k as f64 / t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        raw(
            url,
            pg,
            if pg {
                "VACUUM ANALYZE traces"
            } else {
                "ANALYZE"
            },
        )
        .await?;
        println!("vacuum/analyze in {:.1} s", t.elapsed().as_secs_f64());
    }
    let (from, to) = (T0_MS, T0_MS + n * 1000);
    for k in [2_000usize, 100_000] {
        for seed in [1u64, 2] {
            let t = Instant::now();
            let (w, ids) = store
                .sample_window(from, to, None, seed_mask(seed), k)
                .await?;
            let db = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let (w2, ids2) = streamed(url, pg, from, to, seed, k).await?;
            let old = t.elapsed().as_secs_f64();
            assert_eq!((w, &ids), (w2, &ids2), "the two ways disagree");
            println!(
                "window {w}, k {k}, seed {seed}: in the database {db:.2} s; streamed to the process {old:.2} s"
            );
        }
    }
    Ok(())
}

/// Writes traces `have+1 ..= n` by SQL, without sampling hashes.
async fn fill(url: &str, pg: bool, have: i64, n: i64) -> Result<(), sqlx::Error> {
    let step = 1_000_000;
    let mut lo = have + 1;
    while lo <= n {
        let hi = (lo + step - 1).min(n);
        let sql = if pg {
            format!(
                "INSERT INTO traces (source, external_id, ts_ms, input, output, input_hash, \
                 output_hash, ingested_at_ms) SELECT 'bench', 'e' || g, {T0_MS} + (g - 1) * 1000, \
                 repeat(md5(g::text), 6), repeat(md5((g + 1)::text), 10), md5(g::text), \
                 md5((g + 1)::text), 0 FROM generate_series({lo}::bigint, {hi}::bigint) AS g"
            )
        } else {
            format!(
                "WITH RECURSIVE s(g) AS (SELECT {lo} UNION ALL SELECT g + 1 FROM s WHERE g < {hi}) \
                 INSERT INTO traces (source, external_id, ts_ms, input, output, input_hash, \
                 output_hash, ingested_at_ms) SELECT 'bench', 'e' || g, {T0_MS} + (g - 1) * 1000, \
                 hex(randomblob(96)), hex(randomblob(160)), hex(randomblob(16)), \
                 hex(randomblob(16)), 0 FROM s"
            )
        };
        raw(url, pg, &sql).await?;
        lo = hi + 1;
    }
    Ok(())
}

async fn raw(url: &str, pg: bool, sql: &str) -> Result<(), sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    if pg {
        let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(url).await?;
        sqlx::Executor::execute(&mut c, sql).await?;
    } else {
        let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(url).await?;
        sqlx::Executor::execute(&mut c, sql).await?;
    }
    Ok(())
}

/// The previous sampler: stream the window's identities, hash each in the
/// process, keep the k smallest keys.
async fn streamed(
    url: &str,
    pg: bool,
    from: i64,
    to: i64,
    seed: u64,
    k: usize,
) -> Result<(u64, Vec<i64>), sqlx::Error> {
    let sql = "SELECT id, source, external_id FROM traces WHERE ts_ms >= $1 AND ts_ms < $2";
    let mut heap = BinaryHeap::new();
    let mut n = 0u64;
    let mut push = |id: i64, source: &str, ext: &str| {
        n += 1;
        let key = (sample_key(seed, source, ext), id);
        if heap.len() < k {
            heap.push(key);
        } else if let Some(mut top) = heap.peek_mut() {
            if key < *top {
                *top = key;
            }
        }
    };
    // The same loop on either backend's connection type.
    macro_rules! stream_with {
        ($conn:ty) => {{
            let mut c = <$conn as sqlx::Connection>::connect(url).await?;
            let mut rows = sqlx::query(sql).bind(from).bind(to).fetch(&mut c);
            while let Some(r) = rows.try_next().await? {
                push(
                    r.try_get("id")?,
                    r.try_get("source")?,
                    r.try_get("external_id")?,
                );
            }
        }};
    }
    if pg {
        stream_with!(sqlx::PgConnection);
    } else {
        stream_with!(sqlx::SqliteConnection);
    }
    let mut ids: Vec<i64> = heap.into_iter().map(|(_, id)| id).collect();
    ids.sort_unstable();
    Ok((n, ids))
}
