//! External sources: a `sql` source reading an app-shaped PostgreSQL table by
//! watermark, and a `jsonl` source tailing rotated, truncated files. Every
//! trace arrives exactly once, across restarts and re-reads.

use std::io::Write;
use std::path::Path;

use driftwatch::settings::Config;
use driftwatch::sources::{check_all, poll_once, resolve, SourceSpec};
use driftwatch::store::Store;

use crate::common::TestDb;

fn specs(toml: &str, base: &Path) -> Vec<SourceSpec> {
    let cfg = Config::from_str_with_base(toml, base).unwrap_or_else(|e| panic!("{e:?}"));
    let mut s = check_all(&cfg.sources, &cfg.ingest, &cfg.base_dir).unwrap();
    resolve(&mut s, base).unwrap();
    s
}

async fn count(store: &Store, source: &str) -> i64 {
    let traces = store.recent_traces(100_000).await.unwrap();
    traces.iter().filter(|t| t.source == source).count() as i64
}

async fn app_exec(url: &str, sql: &str) {
    let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    sqlx::Executor::execute(&mut c, sqlx::AssertSqlSafe(sql.to_string()))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_source_reads_an_app_table_incrementally_exactly_once() {
    // The application's own database (separate from driftwatch's store).
    let app = TestDb::postgres().await;
    // A RAG app's chat log: no id column, a timestamp, question and answer.
    app_exec(
        &app.url,
        "CREATE TABLE conversations (question TEXT NOT NULL, answer TEXT, \"timestamp\" TIMESTAMPTZ NOT NULL)",
    )
    .await;
    let mut rows = Vec::new();
    for i in 0..25 {
        // Pairs of rows share a timestamp, so pages split ties.
        rows.push(format!(
            "('question {i}', 'answer {i}', TIMESTAMPTZ '2026-11-22 10:00:00+00' + interval '{} seconds')",
            i / 2
        ));
    }
    app_exec(
        &app.url,
        &format!("INSERT INTO conversations VALUES {}", rows.join(", ")),
    )
    .await;

    let db = TestDb::postgres().await;
    let store = db.store().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        r#"
[[sources]]
name = "chatlog"
kind = "sql"
url = "{}"
table = "conversations"
max_rows = 10
columns = {{ input = "question", output = "answer", ts = "timestamp" }}
"#,
        app.url
    );
    let s = specs(&toml, dir.path());
    let r = poll_once(&store, &s[0]).await.unwrap();
    assert_eq!(count(&store, "chatlog").await, 25, "{r:?}");
    assert_eq!(r.stored, 25);

    // New rows, one sharing the last timestamp: the next poll stores just these.
    app_exec(
        &app.url,
        "INSERT INTO conversations VALUES \
         ('late tie', 'x', TIMESTAMPTZ '2026-11-22 10:00:12+00'), \
         ('new 1', 'y', TIMESTAMPTZ '2026-11-22 11:00:00+00'), \
         ('new 2', NULL, TIMESTAMPTZ '2026-11-22 11:00:01+00')",
    )
    .await;
    let r = poll_once(&store, &s[0]).await.unwrap();
    assert_eq!(r.stored, 3, "{r:?}");
    assert_eq!(count(&store, "chatlog").await, 28);
    // A poll with nothing new stores nothing; a "restart" (fresh spec) neither.
    let r = poll_once(&store, &s[0]).await.unwrap();
    assert_eq!(r.stored, 0, "{r:?}");
    let again = specs(&toml, dir.path());
    assert_eq!(poll_once(&store, &again[0]).await.unwrap().stored, 0);
    assert_eq!(count(&store, "chatlog").await, 28);

    // The mapped fields arrived: timestamp from the column, NULL answer = empty output.
    let traces = store.recent_traces(100).await.unwrap();
    let t = traces.iter().find(|t| t.input == "new 2").unwrap();
    assert_eq!(t.output, "");
    assert_eq!(t.ts.to_rfc3339(), "2026-11-22T11:00:01+00:00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_source_with_an_id_column_pages_by_ts_and_id_and_connection_is_read_only() {
    let app = TestDb::postgres().await;
    app_exec(
        &app.url,
        "CREATE TABLE llm_calls (id BIGSERIAL PRIMARY KEY, prompt TEXT, completion TEXT, model TEXT, latency_ms INT, created_at TIMESTAMP NOT NULL)",
    )
    .await;
    app_exec(
        &app.url,
        "INSERT INTO llm_calls (prompt, completion, model, latency_ms, created_at) \
         SELECT 'p' || g, 'c' || g, 'gpt-x', g, TIMESTAMP '2026-11-22 09:00:00' FROM generate_series(1, 12) g",
    )
    .await;
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("DW_TEST_APP_URL", &app.url);
    let toml = r#"
[[sources]]
name = "calls"
kind = "sql"
url_env = "DW_TEST_APP_URL"
query = "SELECT id, prompt, completion, model, latency_ms, created_at FROM llm_calls WHERE prompt IS NOT NULL"
max_rows = 5
columns = { input = "prompt", output = "completion", ts = "created_at", id = "id", model = "model", latency_ms = "latency_ms" }
"#;
    let s = specs(toml, dir.path());
    // All 12 share one timestamp: only (ts, id) paging gets through 5-row pages.
    let r = poll_once(&store, &s[0]).await.unwrap();
    assert_eq!((r.read, r.stored), (12, 12), "{r:?}");
    let traces = store.recent_traces(100).await.unwrap();
    let t = traces.iter().find(|t| t.input == "p7").unwrap();
    assert_eq!(t.external_id, "7");
    assert_eq!(t.model.as_deref(), Some("gpt-x"));
    assert_eq!(t.latency_ms, Some(7.0));
    assert_eq!(poll_once(&store, &s[0]).await.unwrap().stored, 0);

    // The connection is read-only: a query that writes is refused by PostgreSQL.
    let bad = toml.replace(
        "SELECT id, prompt",
        "SELECT nextval('llm_calls_id_seq') AS id, prompt",
    );
    let s = specs(&bad, dir.path());
    let err = poll_once(&store, &s[0]).await.unwrap_err();
    // As the daemon logs it: the error and its causes on one line.
    let logged = driftwatch::text::error_chain(&err);
    assert!(logged.contains("read-only"), "{logged}");
}

fn append(p: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn line(i: u32) -> String {
    format!("{{\"input\":\"question number {i}\",\"output\":\"answer {i}\"}}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonl_source_survives_rotation_truncation_and_rereads_exactly_once() {
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let live = logs.join("app.jsonl");
    let toml = format!(
        "[[sources]]\nname = \"applog\"\nkind = \"jsonl\"\npath = \"{}/app.jsonl*\"\n",
        logs.display()
    );
    let s = specs(&toml, dir.path());
    let src = &s[0];

    // 5 good lines (no ids, no timestamps), 1 malformed, then a half-written line.
    for i in 0..3 {
        append(&live, &line(i));
    }
    append(&live, "{\"output\":\"no input\"}\n");
    for i in 3..5 {
        append(&live, &line(i));
    }
    append(&live, "{\"input\":\"question number 5\",");
    let r = poll_once(&store, src).await.unwrap();
    assert_eq!((r.stored, r.rejected), (5, 1), "{r:?}");

    // The writer finishes the line; logrotate renames the file and a new one starts.
    append(&live, "\"output\":\"answer 5\"}\n");
    append(&live, &line(6));
    let rotated = logs.join("app.jsonl.1");
    std::fs::rename(&live, &rotated).unwrap();
    append(&rotated, &line(7)); // the app still had the old file open
    append(&live, &line(8));
    append(&live, &line(9));
    let r = poll_once(&store, src).await.unwrap();
    assert_eq!(r.stored, 5, "lines 5..=9 once each: {r:?}");
    assert_eq!(count(&store, "applog").await, 10);

    // copytruncate: the live file is copied to .2 and truncated, then written on.
    std::fs::copy(&live, logs.join("app.jsonl.2")).unwrap();
    std::fs::File::create(&live).unwrap(); // truncate
    append(&live, &line(10));
    let r = poll_once(&store, src).await.unwrap();
    assert_eq!(r.stored, 1, "only line 10 is new: {r:?}");
    assert_eq!(count(&store, "applog").await, 11);

    // A crash between storing traces and saving offsets: every line is re-read,
    // none is stored twice.
    for row in store.source_state("applog").await.unwrap() {
        store.delete_source_state("applog", &row.key).await.unwrap();
    }
    let r = poll_once(&store, src).await.unwrap();
    assert_eq!(r.stored, 0, "{r:?}");
    assert!(r.duplicates >= 11, "{r:?}");
    assert_eq!(count(&store, "applog").await, 11);
    let inputs: std::collections::BTreeSet<String> = store
        .recent_traces(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.source == "applog")
        .map(|t| t.input)
        .collect();
    let expected: std::collections::BTreeSet<String> =
        (0..=10).map(|i| format!("question number {i}")).collect();
    assert_eq!(inputs, expected);
}

#[test]
fn bad_source_config_names_every_key() {
    let toml = r#"
[[sources]]
name = "http"
kind = "sql"
table = "a b"
columns = { input = "q", ts = "t;drop" }
poll_interval = "soon"

[[sources]]
name = "logs"
kind = "jsonl"
path = "/var/log/[x"
"#;
    let errs = Config::from_str_with_base(toml, Path::new(".")).unwrap_err();
    let keys: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    for k in [
        "sources[0].name",
        "sources[0].poll_interval",
        "sources[0].url",
        "sources[0].table",
        "sources[0].columns.ts",
        "sources[1].path",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
}
