//! `driftwatch compare GOLDEN PRODUCTION`: two files in, findings out, no database.

use std::io::Write;
use std::process::Command;

use chrono::{TimeZone, Utc};
use driftwatch::demo::generator::{
    golden_records, production_records, GenOptions, Incident, GOLDEN_DOMAINS,
};
use driftwatch::ingest::{FieldMap, IngestConfig};
use driftwatch::jobs::{run_job, JobConfig, RunOptions};
use driftwatch::store::{FindingKind, NewGoldenExample};

use crate::common::{bin, decision_line, TestDb};

/// `driftwatch compare ARGS…` in `dir`.
fn compare(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .current_dir(dir)
        .arg("compare")
        .args(args)
        .output()
        .unwrap()
}

/// `compare --json golden.jsonl prod.jsonl` in `dir`, which must exit 4 (a
/// finding drifted): its JSON report.
fn compare_drifted_json(dir: &std::path::Path) -> serde_json::Value {
    let out = compare(dir, &["--json", "golden.jsonl", "prod.jsonl"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn write_jsonl(path: &std::path::Path, records: &[serde_json::Value]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for r in records {
        writeln!(f, "{r}").unwrap();
    }
}

/// The same golden examples and production log, once through the store
/// (`golden import`, ingest, `run` over the whole window with the semantic
/// stage off) and once as two files through `compare`: every structural
/// finding is the same (test, statistic, p, adjusted p, effect, verdict), the
/// planted break (20 % of outputs not JSON, the format inferred from the
/// golden set on both paths) is drifted, and `compare` exits 4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_decides_like_a_run_over_the_same_texts() {
    let dir = tempfile::tempdir().unwrap();
    let end = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
    let golden = golden_records(8, GOLDEN_DOMAINS, 40);
    // More than two of compare's batches of 2,000, which are measured side by
    // side and merged in file order.
    let mut o = GenOptions::clean(8, 5_000);
    o.end = end;
    o.incident = Some(Incident {
        start_frac: 0.0,
        truncated_share: 0.0,
        invalid_json_share: 0.2,
    });
    let prod: Vec<serde_json::Value> = production_records(&o).into_iter().map(|(r, _)| r).collect();
    write_jsonl(&dir.path().join("golden.jsonl"), &golden);
    write_jsonl(&dir.path().join("prod.jsonl"), &prod);

    let db = TestDb::sqlite().await;
    let s = db.store().await;
    let examples: Vec<NewGoldenExample> = golden
        .iter()
        .map(|v| serde_json::from_value(v.clone()).unwrap())
        .collect();
    driftwatch::golden::import(&s, "g", examples, "test")
        .await
        .unwrap();
    let map = FieldMap::new(&IngestConfig::default());
    let traces: Vec<_> = prod
        .iter()
        .map(|r| map.to_trace(r, "app").unwrap())
        .collect();
    s.insert_traces(&traces).await.unwrap();
    let mut j = JobConfig::adhoc("t", "g");
    j.window = "3d".parse().unwrap();
    j.semantic.enabled = false;
    j.operational = false;
    let spec = j.check("t", std::path::Path::new(".")).unwrap();
    let run = run_job(&s, &spec, &RunOptions::at(end, None))
        .await
        .unwrap();
    assert_eq!(
        run.summary.sampled,
        prod.len() as u64,
        "the run covers the whole log"
    );

    let v = compare_drifted_json(dir.path());
    assert_eq!(v["production"]["stored"], prod.len());
    assert_eq!(v["golden"]["stored"], run.summary.golden_examples);
    assert_eq!(v["output_format"]["format"], "json");
    assert_eq!(v["output_format"]["inferred"], true);
    let line = decision_line;
    let mut from_run: Vec<String> = run
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Structural)
        .map(|f| line(&serde_json::to_value(f).unwrap()))
        .collect();
    let mut from_compare: Vec<String> =
        v["findings"].as_array().unwrap().iter().map(line).collect();
    from_run.sort();
    from_compare.sort();
    assert!(from_compare.len() >= 10, "{from_compare:?}");
    assert_eq!(from_compare, from_run);
    let json_valid = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["metric"] == "output.json_valid")
        .expect("JSON validity is measured without config");
    assert_eq!(json_valid["verdict"], "drifted", "{json_valid}");

    // The text output: the table, and the count of drifted findings.
    let out = compare(dir.path(), &["golden.jsonl", "prod.jsonl"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(
        text.contains("output.json_valid") && text.contains("DRIFTED"),
        "{text}"
    );
    assert!(text.contains("findings drifted"), "{text}");
}

/// Golden examples and a production log drawn alike (alternate records of
/// one draw), with two bad records in the log: no finding drifts, each bad
/// record is named by its line, every good one is measured, and the exit code
/// is 3 (partial), not 0 or 4.
#[test]
fn compare_names_bad_records_and_measures_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let all = golden_records(3, GOLDEN_DOMAINS, 60);
    let (golden, prod): (Vec<_>, Vec<_>) = all
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let golden: Vec<serde_json::Value> = golden.into_iter().map(|(_, g)| g).collect();
    write_jsonl(&dir.path().join("golden.jsonl"), &golden);
    let mut lines: Vec<String> = prod
        .iter()
        .map(|(_, g)| g)
        .map(|g| {
            serde_json::json!({"input": g["input"], "output": g["expected_output"]}).to_string()
        })
        .collect();
    lines.insert(2, "{not json".to_string());
    lines.insert(4, r#"{"output": "no input here"}"#.to_string());
    std::fs::write(dir.path().join("prod.jsonl"), lines.join("\n") + "\n").unwrap();

    let out = compare(dir.path(), &["golden.jsonl", "prod.jsonl"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("production line 3: malformed JSON"), "{text}");
    assert!(
        text.contains("production line 5: missing input field `input`"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} records (2 rejected)", prod.len())),
        "{text}"
    );
    assert!(text.contains("0 of "), "{text}");
    assert!(!text.contains("DRIFTED"), "{text}");
    // The golden answers' shape is inferred and measured, and holds.
    assert!(text.contains("output.schema_valid"), "{text}");
}

/// Golden answers are JSON objects that all hold `intent` (a string),
/// `answer` and `confidence` (a number). In production 15 % of the answers
/// still parse but drop `confidence` or give it as a string: with no config,
/// `output.schema_valid` drifts (the schema is inferred from golden), JSON
/// validity does not, and the summary names the keys every golden answer has.
#[test]
fn compare_finds_answers_that_lose_the_golden_answers_shape() {
    let dir = tempfile::tempdir().unwrap();
    let golden = golden_records(5, GOLDEN_DOMAINS, 40);
    write_jsonl(&dir.path().join("golden.jsonl"), &golden);
    let mut o = GenOptions::clean(6, 2_000);
    o.end = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
    let mut prod: Vec<serde_json::Value> =
        production_records(&o).into_iter().map(|(r, _)| r).collect();
    for (i, r) in prod.iter_mut().enumerate().filter(|(i, _)| i % 20 < 3) {
        let mut out: serde_json::Value =
            serde_json::from_str(r["output"].as_str().unwrap()).unwrap();
        let c = out.as_object_mut().unwrap().remove("confidence").unwrap();
        if i % 2 == 0 {
            out["confidence"] = serde_json::json!(c.to_string());
        }
        r["output"] = serde_json::json!(out.to_string());
    }
    write_jsonl(&dir.path().join("prod.jsonl"), &prod);

    let v = compare_drifted_json(dir.path());
    assert_eq!(
        v["output_format"]["required_keys"],
        serde_json::json!(["answer", "confidence", "intent"])
    );
    let verdict = |m: &str| {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["metric"] == m)
            .unwrap_or_else(|| panic!("{m} measured: {v}"))["verdict"]
            .clone()
    };
    assert_eq!(verdict("output.schema_valid"), "drifted");
    assert_eq!(verdict("output.json_valid"), "ok");

    let out = compare(dir.path(), &["golden.jsonl", "prod.jsonl"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("every one has answer, confidence, intent"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("output.schema_valid") && l.contains("DRIFTED")),
        "{text}"
    );
}

/// A missing golden file is named; an empty one says it holds no example.
#[test]
fn compare_explains_unusable_golden_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("prod.jsonl"), "{\"input\": \"hi\"}\n").unwrap();
    let out = compare(dir.path(), &["nowhere.jsonl", "prod.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot open nowhere.jsonl"), "{err}");

    std::fs::write(dir.path().join("empty.jsonl"), "\n{\"output\": \"x\"}\n").unwrap();
    let out = compare(dir.path(), &["empty.jsonl", "prod.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("holds no valid example") && err.contains("1 rejected"),
        "{err}"
    );
}
