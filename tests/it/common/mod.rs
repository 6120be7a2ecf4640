//! Shared test helpers: a fresh database per test on either backend.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use driftwatch::store::Store;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Base URL of the PostgreSQL server tests create their databases on.
pub fn pg_admin_url() -> String {
    std::env::var("DRIFTWATCH_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database that exists for one test and is removed when dropped.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        TestDb {
            url,
            pg_name: None,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> TestDb {
        let name = format!(
            "dw_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            rand::random::<u32>()
        );
        let admin = pg_admin_url();
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL at {admin} is required for tests (scripts/test.sh starts it): {e}"
                )
            });
        sqlx::Executor::execute(
            &mut conn,
            sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
        )
        .await
        .unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
        TestDb {
            url: format!("{base}/{name}"),
            pg_name: Some(name),
            _dir: None,
        }
    }

    /// PostgreSQL only: makes the database refuse writes (or take them
    /// again) for new sessions, and ends every open session so pools
    /// reconnect under the new setting, as after a failover to a standby.
    pub async fn pg_set_read_only(&self, on: bool) {
        let name = self.pg_name.as_ref().expect("a PostgreSQL TestDb");
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&pg_admin_url())
            .await
            .unwrap();
        for sql in [
            format!(
                "ALTER DATABASE {name} SET default_transaction_read_only = {}",
                if on { "on" } else { "off" }
            ),
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            ),
        ] {
            sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(sql))
                .await
                .unwrap();
        }
    }

    /// Runs one SQL statement on the test database outside the store (to set
    /// up states the store itself never writes).
    pub async fn execute_raw(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        if self.pg_name.is_some() {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&self.url)
                .await
                .unwrap();
            sqlx::Executor::execute(&mut c, sql).await.unwrap();
        } else {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&self.url)
                .await
                .unwrap();
            sqlx::Executor::execute(&mut c, sql).await.unwrap();
        }
    }

    pub async fn store(&self) -> Store {
        Store::connect(&self.url).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            let admin = pg_admin_url();
            // Drop from a separate thread: we may be inside a runtime.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    if let Ok(mut conn) =
                        <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await
                    {
                        let _ = sqlx::Executor::execute(
                            &mut conn,
                            sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            )),
                        )
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

/// Defines two tests, one per backend, each running `body(TestDb)`.
#[macro_export]
macro_rules! both_backends {
    ($sqlite:ident, $postgres:ident => $body:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            $body($crate::common::TestDb::sqlite().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            $body($crate::common::TestDb::postgres().await).await;
        }
    };
}

/// Path of the built driftwatch binary.
pub fn bin() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_driftwatch"))
}

/// A finding (as JSON) reduced to what decides it: metric, test, statistic,
/// p, adjusted p, effect and verdict, for comparing two paths' findings.
pub fn decision_line(f: &serde_json::Value) -> String {
    format!(
        "{} {} {} {} {} {} {}",
        f["metric"],
        f["test"],
        f["statistic"],
        f["p_value"],
        f["p_adjusted"],
        f["effect_size"],
        f["verdict"]
    )
}

/// Runs `cmd` (a driftwatch command), panics with its stderr unless it exits 0,
/// and returns its output.
pub fn succeeds(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A trace from source `app` with only the required fields set.
pub fn bare_trace(
    external_id: &str,
    ts: chrono::DateTime<chrono::Utc>,
    input: &str,
    output: &str,
) -> driftwatch::store::NewTrace {
    driftwatch::store::NewTrace {
        source: "app".into(),
        external_id: external_id.into(),
        ts,
        input: input.into(),
        output: output.into(),
        model: None,
        latency_ms: None,
        prompt_tokens: None,
        completion_tokens: None,
        cost: None,
        is_error: None,
        feedback: None,
        metadata: None,
    }
}

/// A proposal for review fixtures: input, production output, and
/// `(cluster id, label)` for a gap proposal (`None`: an outlier).
pub type ProposalItem<'a> = (&'a str, &'a str, Option<(i64, &'a str)>);

/// Stores one trace per item (external ids `ext-N`, numbered after the traces
/// already stored) and queues the items as proposals of `run`: clustered items
/// are gap proposals nearest to `golden_id` (similarity 0.41), the others
/// outliers, nearest to `golden_id` too when `outliers_have_nearest`. Returns
/// how many proposals were queued.
pub async fn queue_proposals(
    s: &Store,
    run: i64,
    (job, set): (&str, &str),
    items: &[ProposalItem<'_>],
    golden_id: i64,
    outliers_have_nearest: bool,
) -> u64 {
    use chrono::{TimeZone, Utc};
    use driftwatch::store::{NewProposal, NewTrace};
    let base = s.count_traces().await.unwrap() as usize;
    let traces: Vec<NewTrace> = items
        .iter()
        .enumerate()
        .map(|(i, (input, output, _))| {
            let ts = Utc
                .timestamp_opt(1_790_000_000 + (base + i) as i64, 0)
                .unwrap();
            bare_trace(&format!("ext-{}", base + i), ts, input, output)
        })
        .collect();
    s.insert_traces(&traces).await.unwrap();
    let stored = s.recent_traces(items.len() as i64).await.unwrap();
    let proposals: Vec<NewProposal> = items
        .iter()
        .map(|(input, output, cluster)| {
            let t = stored.iter().find(|t| t.input == *input).unwrap();
            let nearest = cluster.is_some() || outliers_have_nearest;
            NewProposal {
                job: job.into(),
                golden_set: set.into(),
                kind: if cluster.is_some() { "gap" } else { "outlier" }.into(),
                cluster_id: cluster.map(|c| c.0),
                cluster_label: cluster.map(|c| c.1.to_string()),
                trace_id: t.id,
                external_id: t.external_id.clone(),
                input: input.to_string(),
                output: output.to_string(),
                nearest_golden_id: nearest.then_some(golden_id),
                nearest_golden_similarity: nearest.then_some(0.41),
            }
        })
        .collect();
    s.insert_proposals(run, &proposals).await.unwrap()
}
