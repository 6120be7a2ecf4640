//! `driftwatch bench tests`: the test stage alone on exported metric columns.

use std::process::Command;

use chrono::{TimeZone, Utc};
use driftwatch::demo::generator::{
    golden_records, production_records, GenOptions, Incident, GOLDEN_DOMAINS,
};
use driftwatch::ingest::{FieldMap, IngestConfig};
use driftwatch::jobs::{run_job_exporting_metrics, JobConfig, RunOptions};
use driftwatch::metrics::OutputFormat;
use driftwatch::store::{FindingKind, NewGoldenExample};

use crate::common::{bin, decision_line, TestDb};

/// A run over a log with 20% invalid-JSON outputs exports its metric columns;
/// `bench tests` on them flags the planted drift and decides every column
/// exactly as the run did (same test, statistic, p-values, effect, verdict).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_tests_on_exported_columns_decides_like_the_run() {
    let db = TestDb::sqlite().await;
    let s = db.store().await;
    let end = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
    let golden: Vec<NewGoldenExample> = golden_records(8, GOLDEN_DOMAINS, 40)
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect();
    driftwatch::golden::import(&s, "g", golden, "test")
        .await
        .unwrap();
    let mut o = GenOptions::clean(8, 1000);
    o.end = end;
    o.incident = Some(Incident {
        start_frac: 0.0,
        truncated_share: 0.0,
        invalid_json_share: 0.2,
    });
    let map = FieldMap::new(&IngestConfig::default());
    let traces: Vec<_> = production_records(&o)
        .into_iter()
        .map(|(r, _)| map.to_trace(&r, "app").unwrap())
        .collect();
    s.insert_traces(&traces).await.unwrap();
    let mut j = JobConfig::adhoc("t", "g");
    j.window = "3d".parse().unwrap();
    j.output_format = Some(OutputFormat::Json);
    j.semantic.enabled = false;
    j.operational = false;
    let spec = j.check("t", std::path::Path::new(".")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions::at(end, None);
    let run = run_job_exporting_metrics(&s, &spec, &opts, dir.path())
        .await
        .unwrap();

    let out = Command::new(bin())
        .current_dir(dir.path())
        .args(["bench", "tests", "--json", "--metrics"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let drifted: Vec<&str> = v["drifted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(drifted.contains(&"output.json_valid"), "{drifted:?}");
    assert_eq!(v["production_rows"], run.summary.sampled);
    assert_eq!(v["golden_rows"], run.summary.golden_examples);
    let line = decision_line;
    let from_run: Vec<String> = run
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Structural)
        .map(|f| line(&serde_json::to_value(f).unwrap()))
        .collect();
    let from_bench: Vec<String> = v["findings"].as_array().unwrap().iter().map(line).collect();
    assert_eq!(from_bench.len(), from_run.len());
    let (mut a, mut b) = (from_bench, from_run);
    a.sort();
    b.sort();
    assert_eq!(a, b);

    // The text table names the drifted column and the time taken.
    let out = Command::new(bin())
        .current_dir(dir.path())
        .args(["bench", "tests", "--metrics"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("output.json_valid") && text.contains("drifted"),
        "{text}"
    );
    assert!(text.contains("tests") && text.contains(" ms"), "{text}");
}

#[test]
fn bench_tests_names_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .current_dir(dir.path())
        .args(["bench", "tests", "--metrics", "nowhere"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nowhere") && err.contains("golden.csv"),
        "{err}"
    );
}
