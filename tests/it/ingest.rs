use std::io::Write;
use std::process::Command;

use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{bin, TestDb};

/// 1,000 lines, three of them bad: malformed JSON (line 100), invalid UTF-8
/// (line 500), missing input (line 900).
fn thousand_lines_three_bad(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("traces.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    for i in 1..=1000u32 {
        match i {
            100 => writeln!(f, "{{\"id\": \"t{i}\", \"input\": \"broken").unwrap(),
            500 => {
                f.write_all(b"{\"id\": \"t500\", \"input\": \"caf\xe9\"}\n").unwrap();
            }
            900 => writeln!(f, "{}", json!({"id": format!("t{i}"), "output": "no input here"})).unwrap(),
            _ => writeln!(
                f,
                "{}",
                json!({"id": format!("t{i}"), "ts": 1_790_000_000 + i, "input": format!("question {i}"), "output": "{\"a\":1}", "latency_ms": i})
            )
            .unwrap(),
        }
    }
    path
}

fn ingest_json(url: &str, args: &[&str]) -> (i32, Value) {
    let out = Command::new(bin())
        .args(["--database", url, "ingest"])
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), v)
}

async fn bad_lines_are_reported_and_reingest_adds_nothing(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let path = thousand_lines_three_bad(dir.path());
    let (code, v) = ingest_json(&db.url, &[path.to_str().unwrap()]);
    assert_eq!(code, 3, "partial success exit code: {v}");
    assert_eq!(v["read"], 1000);
    assert_eq!(v["stored"], 997);
    assert_eq!(v["duplicates"], 0);
    assert_eq!(v["rejected"], 3);
    let errors = v["errors"].as_array().unwrap();
    let lines: Vec<u64> = errors.iter().map(|e| e["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, vec![100, 500, 900]);
    assert!(
        errors[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON"),
        "{v}"
    );
    assert!(
        errors[1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("invalid UTF-8"),
        "{v}"
    );
    assert_eq!(errors[2]["reason"], "missing input field `input`");
    assert_eq!(db.store().await.count_traces().await.unwrap(), 997);

    let (code, v) = ingest_json(&db.url, &[path.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert_eq!(
        (v["stored"].as_u64(), v["duplicates"].as_u64()),
        (Some(0), Some(997))
    );
    assert_eq!(v["conflicting"].as_u64(), Some(0), "same content: {v}");
    assert_eq!(db.store().await.count_traces().await.unwrap(), 997);

    // An id seen before (or twice in one file) with other content is a
    // duplicate too, but reported as a conflict: the first trace is kept.
    let id = "t1"; // stored by the first ingest as "question 1"
    let changed = dir.path().join("changed.jsonl");
    std::fs::write(
        &changed,
        format!(
            "{}\n{}\n{}\n",
            json!({"id": id, "input": "a different question"}),
            json!({"id": "fresh-1", "input": "new"}),
            json!({"id": "fresh-1", "input": "new, edited"})
        ),
    )
    .unwrap();
    let (code, v) = ingest_json(&db.url, &[changed.to_str().unwrap()]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        (
            v["stored"].as_u64(),
            v["duplicates"].as_u64(),
            v["conflicting"].as_u64()
        ),
        (Some(1), Some(2), Some(2)),
        "{v}"
    );
    assert_eq!(db.store().await.count_traces().await.unwrap(), 998);
}
both_backends!(bad_lines_sqlite, bad_lines_postgres => bad_lines_are_reported_and_reingest_adds_nothing);

async fn csv_and_nested_field_mapping(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    std::fs::write(&csv, "id,ts,input,output\n1,2026-11-01T00:00:00Z,hello there,hi\n2,2026-11-01T00:01:00Z,,empty input\n3,2026-11-01T00:02:00Z,bye,ok\n").unwrap();
    let (code, v) = ingest_json(&db.url, &[csv.to_str().unwrap()]);
    assert_eq!(code, 3, "{v}");
    assert_eq!(
        (v["stored"].as_u64(), v["rejected"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(v["errors"][0]["line"], 3);

    let nested = dir.path().join("n.jsonl");
    std::fs::write(
        &nested,
        format!("{}\n", json!({"req_id": "x1", "request": {"messages": [{"role": "system", "content": "be nice"}, {"role": "user", "content": "what is my balance"}]}, "response": {"text": "42"}})),
    )
    .unwrap();
    let (code, v) = ingest_json(
        &db.url,
        &[
            nested.to_str().unwrap(),
            "--input-field",
            "request.messages.-1.content",
            "--output-field",
            "response.text",
            "--id-field",
            "req_id",
            "--source",
            "app",
        ],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["stored"], 1);
    let t = db.store().await.recent_traces(10).await.unwrap();
    let t = t.iter().find(|t| t.source == "app").unwrap();
    assert_eq!(
        (t.input.as_str(), t.output.as_str(), t.external_id.as_str()),
        ("what is my balance", "42", "x1")
    );
}
both_backends!(csv_and_nested_sqlite, csv_and_nested_postgres => csv_and_nested_field_mapping);

#[test]
fn stdin_ingest_and_human_summary() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let mut child = Command::new(bin())
        .args(["--database", &url, "ingest", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"input\":\"a\"}\n\n{\"input\":\"b\"}\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "read 2 / stored 2 / duplicates 0 / rejected 0"
    );
}

/// A NUL character in a record's text (PostgreSQL `TEXT` cannot hold one) costs
/// neither that record nor any other, on every ingest path: CLI, HTTP, a jsonl
/// source and golden import. The NUL is dropped, the same on both backends.
async fn nul_in_text_is_stripped_and_loses_no_record(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    // CLI: 4,999 records, every 1,000th with NUL in input, output, model or id.
    let path = dir.path().join("nul.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    for i in 1..=4999u32 {
        let rec = if i % 1000 == 0 {
            json!({"id": format!("n\u{0}{i}"), "input": format!("q\u{0}uestion {i}"), "output": "a\u{0}", "model": "m\u{0}1", "metadata": {"k": "v\u{0}"}})
        } else {
            json!({"id": format!("t{i}"), "input": format!("question {i}"), "output": "{}"})
        };
        writeln!(f, "{rec}").unwrap();
    }
    drop(f);
    let (code, v) = ingest_json(&db.url, &[path.to_str().unwrap()]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        (v["stored"].as_u64(), v["rejected"].as_u64()),
        (Some(4999), Some(0)),
        "{v}"
    );
    let store = db.store().await;
    let ids: Vec<i64> = store
        .window_traces(i64::MIN, i64::MAX)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.external_id.starts_with('n'))
        .map(|t| t.id)
        .collect();
    let stored = store.traces_by_ids(&ids).await.unwrap();
    assert_eq!(stored.len(), 4);
    for t in &stored {
        assert!(!t.input.contains('\0') && !t.output.contains('\0'), "{t:?}");
        assert!(t.input.starts_with("question "), "{t:?}");
        assert_eq!((t.output.as_str(), t.model.as_deref()), ("a", Some("m1")));
        assert_eq!(
            t.metadata.as_ref().unwrap()["k"],
            "v\u{0}",
            "metadata is JSON: kept as is"
        );
    }
    // Ingesting again finds them all as duplicates.
    let (_, v) = ingest_json(&db.url, &[path.to_str().unwrap()]);
    assert_eq!(v["duplicates"], 4999, "{v}");

    // HTTP: the whole request is stored.
    let state = driftwatch::http::AppState::new(
        store.clone(),
        None,
        &driftwatch::ingest::IngestConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, driftwatch::http::router(state, 1 << 20))
            .await
            .unwrap();
    });
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/v1/traces"))
        .json(&json!([{"id": "h1", "input": "x\u{0}y"}, {"id": "h2", "input": "fine"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["stored"], 2, "{v}");

    // A jsonl source stores every line and moves on.
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let mut f = std::fs::File::create(logs.join("app.jsonl")).unwrap();
    for i in 0..20 {
        let input = if i == 3 {
            "nul\u{0}here".to_string()
        } else {
            format!("line {i}")
        };
        writeln!(f, "{}", json!({"id": format!("s{i}"), "input": input})).unwrap();
    }
    drop(f);
    let toml = format!(
        "[[sources]]\nname = \"applog\"\nkind = \"jsonl\"\npath = \"{}/app.jsonl\"\n",
        logs.display()
    );
    let cfg = driftwatch::settings::Config::from_str_with_base(&toml, dir.path()).unwrap();
    let mut specs =
        driftwatch::sources::check_all(&cfg.sources, &cfg.ingest, &cfg.base_dir).unwrap();
    driftwatch::sources::resolve(&mut specs, dir.path()).unwrap();
    let r = driftwatch::sources::poll_once(&store, &specs[0])
        .await
        .unwrap();
    assert_eq!((r.stored, r.rejected), (20, 0), "{r:?}");

    // Golden import.
    let golden = dir.path().join("golden.jsonl");
    std::fs::write(
        &golden,
        format!(
            "{}\n{}\n",
            json!({"input": "golden\u{0} one", "expected_output": "x\u{0}"}),
            json!({"input": "golden two", "expected_output": "y"})
        ),
    )
    .unwrap();
    crate::common::succeeds(
        Command::new(bin())
            .args(["--database", &db.url, "golden", "import"])
            .arg(&golden)
            .args(["--set", "g"]),
    );
    let ex = store.golden_examples("g", None).await.unwrap();
    let inputs: Vec<&str> = ex.iter().map(|e| e.input.as_str()).collect();
    assert_eq!(inputs, ["golden one", "golden two"]);
    assert_eq!(ex[0].expected_output, "x");
}
both_backends!(nul_in_text_sqlite, nul_in_text_postgres => nul_in_text_is_stripped_and_loses_no_record);

/// A closed stderr (`driftwatch run … 2>&1 >/dev/null | head -1`) must not end a
/// run: the run finishes, is stored as succeeded, and the command exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stderr_does_not_kill_a_run() {
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let now = chrono::Utc::now();
    let traces: Vec<_> = (0..300)
        .map(|i| {
            crate::common::bare_trace(
                &format!("t{i}"),
                now - chrono::Duration::minutes(i),
                &format!("question number {i}"),
                "{}",
            )
        })
        .collect();
    store.insert_traces(&traces).await.unwrap();
    let golden: Vec<_> = (0..100)
        .map(|i| driftwatch::store::NewGoldenExample {
            input: format!("golden question {i}"),
            expected_output: "{}".into(),
            tags: vec![],
            proposal_id: None,
        })
        .collect();
    store
        .apply_golden_change(
            "g",
            &driftwatch::store::GoldenChange {
                description: "import".into(),
                add: golden,
                archive: vec![],
            },
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("dw.toml");
    std::fs::write(
        &cfg,
        "[[jobs]]\nname = \"j\"\nschedule = \"0 * * * *\"\nwindow = \"1d\"\ngolden_set = \"g\"\n\n[jobs.semantic]\nenabled = false\n",
    )
    .unwrap();
    let mut child = Command::new(bin())
        .args([
            "--database",
            &db.url,
            "--config",
            cfg.to_str().unwrap(),
            "--log-format",
            "json",
            "run",
            "j",
        ])
        .env("DRIFTWATCH_LOG", "debug")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away at once, like `| head -1` after its line.
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let runs = store
        .list_runs(&driftwatch::store::RunFilter::default())
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, driftwatch::store::RunStatus::Succeeded);
}

/// Small ingest defects: a UTF-8 byte-order mark does not cost line 1, a
/// malformed CSV record is reported on the line it starts on, and a timestamp
/// that is not a finite number is rejected instead of stored as 1970.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bom_csv_line_numbers_and_non_finite_timestamps() {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let bom = dir.path().join("bom.jsonl");
    std::fs::write(
        &bom,
        "\u{feff}{\"id\": \"b1\", \"input\": \"first\"}\n{\"id\": \"b2\", \"input\": \"second\"}\n",
    )
    .unwrap();
    let (code, v) = ingest_json(&db.url, &[bom.to_str().unwrap()]);
    assert_eq!((code, v["stored"].as_u64()), (0, Some(2)), "{v}");

    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, "input,output\nq1,a1\n\"unterminated,a2\nq3,a3\n").unwrap();
    let (_, v) = ingest_json(&db.url, &[csv.to_str().unwrap()]);
    assert_eq!(v["errors"][0]["line"], 3, "{v}");

    let nan = dir.path().join("nan.jsonl");
    std::fs::write(
        &nan,
        "{\"id\": \"n1\", \"input\": \"q\", \"ts\": \"NaN\"}\n{\"id\": \"n2\", \"input\": \"q\", \"ts\": 1790000000}\n",
    )
    .unwrap();
    let (code, v) = ingest_json(&db.url, &[nan.to_str().unwrap()]);
    assert_eq!(
        (code, v["stored"].as_u64(), v["rejected"].as_u64()),
        (3, Some(1), Some(1)),
        "{v}"
    );
    assert_eq!(v["errors"][0]["line"], 1);
    assert!(
        v["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("not a finite number"),
        "{v}"
    );
}

/// Every stored text is bounded, and an overlong line is rejected with its
/// number without being held whole: with `max_text_bytes = 1024` a 2 KiB model, a
/// 2 KiB metadata object and a 100 KiB line are rejected, the rest stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_metadata_and_whole_lines_are_size_capped() {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("dw.toml");
    std::fs::write(&cfg, "[ingest]\nmax_text_bytes = 1024\n").unwrap();
    let path = dir.path().join("big.jsonl");
    let lines = [
        json!({"id": "ok1", "input": "fine"}).to_string(),
        json!({"id": "m", "input": "q", "model": "x".repeat(2048)}).to_string(),
        json!({"id": "d", "input": "q", "metadata": {"blob": "y".repeat(2048)}}).to_string(),
        json!({"id": "l", "input": "q", "junk": "z".repeat(100 * 1024)}).to_string(),
        json!({"id": "ok2", "input": "also fine"}).to_string(),
    ];
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let v = ingest_with_config(&db.url, &cfg, &path);
    assert_eq!(
        (v["stored"].as_u64(), v["rejected"].as_u64()),
        (Some(2), Some(3)),
        "{v}"
    );
    let reasons: Vec<(u64, String)> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(reasons[0].0, 2);
    assert!(
        reasons[0]
            .1
            .starts_with("model is 2048 bytes, over max_text_bytes 1024"),
        "{reasons:?}"
    );
    assert_eq!(reasons[1].0, 3);
    assert!(reasons[1].1.starts_with("metadata is"), "{reasons:?}");
    assert_eq!(
        reasons[2],
        (4, format!("line is longer than {} bytes", 4 * 1024 + 65536))
    );
}

/// A CSV record is held whole by the parser, so a record far over the cap
/// stops the read with its line instead of filling memory: the rows before
/// it are stored, and the error says the rest of the input was not read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_csv_record_is_stopped_at_the_cap() {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("dw.toml");
    std::fs::write(&cfg, "[ingest]\nmax_text_bytes = 1024\n").unwrap();
    let path = dir.path().join("big.csv");
    let huge = "z".repeat(6 << 20);
    std::fs::write(
        &path,
        format!("id,input\nok1,fine\nbig,\"{huge}\"\nok2,after\n"),
    )
    .unwrap();
    let v = ingest_with_config(&db.url, &cfg, &path);
    assert_eq!(
        (v["stored"].as_u64(), v["rejected"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    let e = &v["errors"][0];
    assert_eq!(e["line"].as_u64(), Some(3), "{v}");
    assert_eq!(
        e["reason"].as_str().unwrap(),
        format!(
            "record is longer than {} bytes; the rest of the input was not read",
            4 * 1024 + 65536
        )
    );
}

/// `golden import` reads CSV and JSONL under the same cap as trace ingest: an
/// endless CSV record stops the read with its line, an over-long JSONL line is
/// rejected with its line and the lines after it are imported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_import_caps_records_like_ingest() {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("dw.toml");
    std::fs::write(&cfg, "[ingest]\nmax_text_bytes = 1024\n").unwrap();
    let huge = "z".repeat(6 << 20);
    let cap = 4 * 1024 + 65536;
    let import = |name: &str, body: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        let out = Command::new(bin())
            .args(["--database", &db.url, "--config", cfg.to_str().unwrap()])
            .args(["golden", "import", "--set", "g"])
            .arg(&path)
            .arg("--json")
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        v["report"].clone()
    };
    let r = import(
        "g.csv",
        format!("input,expected_output\nfine,ok\n\"{huge}\",x\nafter,ok\n"),
    );
    assert_eq!(
        (r["stored"].as_u64(), r["rejected"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    assert_eq!(r["errors"][0]["line"].as_u64(), Some(3), "{r}");
    assert_eq!(
        r["errors"][0]["reason"].as_str().unwrap(),
        format!("record is longer than {cap} bytes; the rest of the input was not read")
    );
    let r = import(
        "g.jsonl",
        format!("{{\"input\":\"one\"}}\n{{\"input\":\"{huge}\"}}\n{{\"input\":\"two\"}}\n"),
    );
    assert_eq!(
        (r["stored"].as_u64(), r["rejected"].as_u64()),
        (Some(2), Some(1)),
        "{r}"
    );
    assert_eq!(r["errors"][0]["line"].as_u64(), Some(2), "{r}");
    assert_eq!(
        r["errors"][0]["reason"].as_str().unwrap(),
        format!("line is longer than {cap} bytes")
    );
}

/// `driftwatch --database URL --config CFG ingest PATH --json`, its report.
fn ingest_with_config(url: &str, cfg: &std::path::Path, path: &std::path::Path) -> Value {
    let out = Command::new(bin())
        .args([
            "--database",
            url,
            "--config",
            cfg.to_str().unwrap(),
            "ingest",
        ])
        .arg(path)
        .arg("--json")
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}
