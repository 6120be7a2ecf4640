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
    assert_eq!(db.store().await.count_traces().await.unwrap(), 997);
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
