//! Embedding ahead of time with the real local model: `embed backfill` fills the
//! cache from stored traces (a second pass is all hits), and `golden import`
//! embeds the new version's examples so later lookups are all hits.

use std::path::Path;
use std::process::Command;

use chrono::{TimeZone, Utc};
use driftwatch::embed::EmbedConfig;
use driftwatch::jobs::{backfill, embed_cached, BackfillOptions, SharedEmbedder};
use driftwatch::store::{NewTrace, Store};
use serde_json::Value;

use crate::common::{bare_trace, bin, TestDb};

fn embedder() -> SharedEmbedder {
    SharedEmbedder::build(
        &EmbedConfig::default(),
        Path::new(env!("CARGO_MANIFEST_DIR")),
    )
    .expect("model files: run scripts/fetch-model.sh")
}

const TOPICS: [&str; 5] = [
    "reset my password",
    "track my parcel",
    "cancel my subscription",
    "change the delivery address",
    "get a refund for a damaged item",
];

/// `n` traces with distinct inputs, one minute apart, the newest at 2026-11-20.
async fn seed_traces(store: &Store, n: usize) {
    let end = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
    let traces: Vec<NewTrace> = (0..n)
        .map(|i| {
            bare_trace(
                &format!("t{i}"),
                end - chrono::Duration::minutes(i as i64),
                &format!("how do I {} (order {i})?", TOPICS[i % TOPICS.len()]),
                "Here is how.",
            )
        })
        .collect();
    assert_eq!(store.insert_traces(&traces).await.unwrap().stored, n as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_embeds_misses_once_then_hits() {
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    seed_traces(&store, 50).await;
    let e = embedder();

    // --limit takes the newest traces first.
    let limited = BackfillOptions {
        limit: Some(10),
        ..BackfillOptions::default()
    };
    let r = backfill(&store, &e, &limited, None).await.unwrap();
    assert_eq!((r.texts, r.hits, r.misses), (10, 0, 10));

    let all = BackfillOptions::default();
    let r = backfill(&store, &e, &all, None).await.unwrap();
    assert_eq!((r.texts, r.hits, r.misses), (50, 10, 40));
    assert_eq!(store.count_embeddings(e.model_id()).await.unwrap(), 50);

    let r = backfill(&store, &e, &all, None).await.unwrap();
    assert_eq!((r.texts, r.hits, r.misses), (50, 50, 0));

    // --since keeps the window; --outputs adds the (one distinct) output.
    let since = BackfillOptions {
        since: Some(Utc.with_ymd_and_hms(2026, 11, 19, 23, 50, 0).unwrap()),
        outputs: true,
        ..BackfillOptions::default()
    };
    let r = backfill(&store, &e, &since, None).await.unwrap();
    assert_eq!((r.texts, r.hits, r.misses), (12, 11, 1));
}

fn run_bin(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_cli_json_summary() {
    let db = TestDb::sqlite().await;
    seed_traces(&db.store().await, 50).await;
    // The default [embedding] resolves models/ against the working directory.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let args = ["--database", &db.url, "embed", "backfill", "--json"];
    let out = run_bin(root, &args);
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["texts"].as_u64(), v["misses"].as_u64()),
        (Some(50), Some(50))
    );
    assert_eq!(v["hits"].as_u64(), Some(0));
    assert!(v["seconds"].as_f64().unwrap() >= 0.0);

    let out = run_bin(root, &args);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["hits"].as_u64(), v["misses"].as_u64()),
        (Some(50), Some(0))
    );

    let out = run_bin(
        root,
        &[
            "--database",
            &db.url,
            "embed",
            "backfill",
            "--since",
            "last week",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_import_embeds_new_examples() {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("golden.jsonl");
    let lines: Vec<String> = TOPICS
        .iter()
        .map(|t| {
            serde_json::json!({"input": format!("how do I {t}?"), "expected_output": format!("To {t}, open settings.")})
                .to_string()
        })
        .collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let file = file.to_str().unwrap();

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = run_bin(
        root,
        &[
            "--database",
            &db.url,
            "golden",
            "import",
            file,
            "--set",
            "g",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("embedded 10 golden texts"), "{stdout}");

    let store = db.store().await;
    let e = embedder();
    let inputs: Vec<String> = TOPICS.iter().map(|t| format!("how do I {t}?")).collect();
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let (m, stats) = embed_cached(&store, &e, &refs, None).await.unwrap();
    assert_eq!((stats.hits, stats.misses), (5, 0));
    assert_eq!(m.nrows(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_import_without_model_warns_and_succeeds() {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("golden.jsonl");
    std::fs::write(
        &file,
        "{\"input\": \"hello\", \"expected_output\": \"hi\"}\n",
    )
    .unwrap();
    // No models/ under the temporary working directory.
    let out = run_bin(
        dir.path(),
        &[
            "--database",
            &db.url,
            "golden",
            "import",
            file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("fetch-model.sh"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("version 1"));
}

/// Outside the repository the model is found through the search order
/// (`DRIFTWATCH_MODEL_DIR`, the XDG data folder, …), and without it the
/// warning lists every place looked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_is_found_from_any_folder_through_the_search_order() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("golden.jsonl");
    std::fs::write(
        &file,
        "{\"input\": \"where is my card\", \"expected_output\": \"on its way\"}\n",
    )
    .unwrap();
    let import = |db: &str, env: &[(&str, &Path)]| {
        let mut cmd = Command::new(bin());
        cmd.current_dir(dir.path())
            .args(["--database", db, "golden", "import", file.to_str().unwrap()])
            .env_remove("DRIFTWATCH_MODEL_DIR")
            .env_remove("ORT_DYLIB_PATH")
            .env_remove("STATE_DIRECTORY")
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path().join("xdg"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let warned = |stderr: &str| stderr.lines().any(|l| l.contains("warning"));

    // Nowhere: the import succeeds and the warning lists the places looked.
    let db = TestDb::sqlite().await;
    let stderr = import(&db.url, &[]);
    assert!(warned(&stderr), "{stderr}");
    for place in [
        "([embedding] model_dir)",
        "($XDG_DATA_HOME)",
        "/var/lib/driftwatch/models",
        "/usr/share/driftwatch/models",
        "DRIFTWATCH_MODEL_DIR",
    ] {
        assert!(stderr.contains(place), "{place} missing from: {stderr}");
    }

    // DRIFTWATCH_MODEL_DIR names a models folder: found, golden embedded.
    let db = TestDb::sqlite().await;
    // Its log, written to a pipe (as under systemd, JOURNAL_STREAM set), is
    // plain text: no colour escape codes.
    let stderr = import(
        &db.url,
        &[
            ("DRIFTWATCH_MODEL_DIR", &models),
            ("DRIFTWATCH_LOG", Path::new("info")),
            ("JOURNAL_STREAM", Path::new("8:12345")),
        ],
    );
    assert!(!warned(&stderr), "{stderr}");
    assert!(
        stderr.contains("INFO") && stderr.contains("Embedded"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "escape codes in a piped log: {stderr:?}"
    );

    // The XDG data folder: $XDG_DATA_HOME/driftwatch/models.
    let xdg = dir.path().join("xdg/driftwatch");
    std::fs::create_dir_all(&xdg).unwrap();
    std::os::unix::fs::symlink(&models, xdg.join("models")).unwrap();
    let db = TestDb::sqlite().await;
    let stderr = import(&db.url, &[]);
    assert!(!warned(&stderr), "{stderr}");
}
