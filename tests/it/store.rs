use chrono::{TimeZone, Utc};
use driftwatch::store::{GoldenChange, NewGoldenExample, NewTrace, RunStatus, StoreError};

use crate::both_backends;
use crate::common::TestDb;

fn trace(id: &str, ts_s: i64, input: &str) -> NewTrace {
    NewTrace {
        source: "t".into(),
        external_id: id.into(),
        ts: Utc.timestamp_opt(ts_s, 0).unwrap(),
        input: input.into(),
        output: format!("out {input}"),
        model: Some("m".into()),
        latency_ms: Some(12.5),
        prompt_tokens: Some(10),
        completion_tokens: None,
        cost: Some(0.001),
        is_error: Some(false),
        feedback: Some(1.0),
        metadata: Some(serde_json::json!({"k": [1, 2]})),
    }
}

async fn traces_roundtrip_and_dedup(db: TestDb) {
    let s = db.store().await;
    let batch: Vec<_> = (0..2500)
        .map(|i| trace(&format!("id{i}"), 1_000 + i, &format!("q{i}")))
        .collect();
    let st = s.insert_traces(&batch).await.unwrap();
    assert_eq!((st.stored, st.duplicates), (2500, 0));
    // Same ids again plus one new: only the new one is stored.
    let mut again = batch[..10].to_vec();
    again.push(trace("new", 5, "fresh"));
    let st = s.insert_traces(&again).await.unwrap();
    assert_eq!((st.stored, st.duplicates), (1, 10));
    assert_eq!(s.count_traces().await.unwrap(), 2501);
    // Window is half-open on ts.
    let w = s.window_traces(1_000_000, 1_100_000).await.unwrap();
    assert_eq!(w.len(), 100);
    let ids: Vec<i64> = w.iter().map(|t| t.id).collect();
    let full = s.traces_by_ids(&ids).await.unwrap();
    assert_eq!(full.len(), 100);
    let t = &full[0];
    assert_eq!(t.latency_ms, Some(12.5));
    assert_eq!(t.is_error, Some(false));
    assert_eq!(t.metadata, Some(serde_json::json!({"k": [1, 2]})));
    assert_eq!(t.input_hash, driftwatch::store::content_hash(&t.input));
    assert_eq!(s.get_trace(t.id).await.unwrap().external_id, t.external_id);
    // What a run measures: the same texts, in id order, given ids in any order
    // (and more than one statement's worth).
    let all: Vec<i64> = s
        .window_traces(0, i64::MAX)
        .await
        .unwrap()
        .iter()
        .rev()
        .map(|t| t.id)
        .collect();
    assert_eq!(all.len(), 2501);
    let texts = s.trace_texts_by_ids(&all).await.unwrap();
    let whole = s.traces_by_ids(&all).await.unwrap();
    assert_eq!(
        texts,
        whole
            .into_iter()
            .map(|t| (t.id, t.input, t.output))
            .collect::<Vec<_>>()
    );
}
both_backends!(traces_roundtrip_and_dedup_sqlite, traces_roundtrip_and_dedup_postgres => traces_roundtrip_and_dedup);

/// The sample a run takes is drawn by the database (ORDER BY the stored hash
/// XOR the seed's mask) and is exactly the in-memory bottom-k reference, on both
/// backends, for any k, seed and source filter; traces stored before the hash
/// column existed are filled in and sampled the same way.
async fn window_sample_is_drawn_in_the_database(db: TestDb) {
    use driftwatch::jobs::bottom_k_sample;
    let s = db.store().await;
    let mut batch: Vec<NewTrace> = (0..3000)
        .map(|i| {
            let mut t = trace(&format!("x{i}"), 1_000 + i, &format!("q{i}"));
            if i % 3 == 0 {
                t.source = "other".into();
            }
            t
        })
        .collect();
    // Outside the window on both sides.
    batch.push(trace("early", 999, "e"));
    batch.push(trace("late", 4_000, "l"));
    s.insert_traces(&batch).await.unwrap();
    let (from, to) = (1_000_000, 4_000_000);
    let window = s.window_traces(from, to).await.unwrap();
    assert_eq!(window.len(), 3000);
    let others: Vec<_> = window
        .iter()
        .filter(|t| t.source == "other")
        .cloned()
        .collect();
    let check = |label: &'static str| {
        let s = s.clone();
        let (window, others) = (window.clone(), others.clone());
        async move {
            for seed in [0u64, 1, 7, u64::MAX] {
                let mask = driftwatch::jobs::seed_mask(seed);
                for k in [0usize, 1, 100, 2000, 3000, 5000] {
                    let (n, ids) = s.sample_window(from, to, None, mask, k).await.unwrap();
                    assert_eq!(n, 3000);
                    assert_eq!(
                        ids,
                        bottom_k_sample(&window, k, seed),
                        "{label}: seed {seed} k {k}"
                    );
                }
                let only = ["other".to_string()];
                let (n, ids) = s
                    .sample_window(from, to, Some(&only), mask, 500)
                    .await
                    .unwrap();
                assert_eq!(n, 1000);
                assert_eq!(
                    ids,
                    bottom_k_sample(&others, 500, seed),
                    "{label}: seed {seed}"
                );
                let (n, ids) = s
                    .sample_window(from, to, Some(&[]), mask, 500)
                    .await
                    .unwrap();
                assert_eq!((n, ids.len()), (0, 0));
            }
        }
    };
    check("hashed at ingest").await;
    // Two seeds draw different samples; a smaller sample nests in a larger one.
    let (_, a) = s
        .sample_window(from, to, None, driftwatch::jobs::seed_mask(1), 300)
        .await
        .unwrap();
    let (_, b) = s
        .sample_window(from, to, None, driftwatch::jobs::seed_mask(2), 300)
        .await
        .unwrap();
    let (_, big) = s
        .sample_window(from, to, None, driftwatch::jobs::seed_mask(1), 900)
        .await
        .unwrap();
    assert_ne!(a, b);
    assert!(a.iter().all(|id| big.contains(id)));
    // Traces stored before the column existed have no hash until the store fills it in.
    db.execute_raw("UPDATE traces SET sample_hash = NULL WHERE id % 2 = 0")
        .await;
    assert_eq!(s.backfill_sample_hashes().await.unwrap(), 1501);
    assert_eq!(s.backfill_sample_hashes().await.unwrap(), 0);
    db.execute_raw("UPDATE traces SET sample_hash = NULL").await;
    check("filled in after the fact").await;
}
both_backends!(window_sample_is_drawn_in_the_database_sqlite, window_sample_is_drawn_in_the_database_postgres => window_sample_is_drawn_in_the_database);

fn ex(input: &str) -> NewGoldenExample {
    NewGoldenExample {
        input: input.into(),
        expected_output: format!("a {input}"),
        tags: vec!["t".into()],
        proposal_id: None,
    }
}

async fn golden_versions_are_append_only(db: TestDb) {
    let s = db.store().await;
    let v1 = s
        .apply_golden_change(
            "g",
            &GoldenChange {
                description: "import".into(),
                add: vec![ex("a"), ex("b"), ex("c")],
                archive: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!((v1.version, v1.active_count), (1, 3));
    let all = s.golden_examples("g", None).await.unwrap();
    let b = all.iter().find(|e| e.input == "b").unwrap().id;
    let v2 = s
        .apply_golden_change(
            "g",
            &GoldenChange {
                description: "archive b".into(),
                add: vec![ex("d")],
                archive: vec![b],
            },
        )
        .await
        .unwrap();
    assert_eq!((v2.version, v2.active_count), (2, 3));
    let now: Vec<String> = s
        .golden_examples("g", None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.input)
        .collect();
    assert_eq!(now, vec!["a", "c", "d"]);
    // Version 1 is still reconstructible: nothing was deleted.
    let then: Vec<String> = s
        .golden_examples("g", Some(1))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.input)
        .collect();
    assert_eq!(then, vec!["a", "b", "c"]);
    assert_eq!(s.golden_examples_all("g").await.unwrap().len(), 4);
    // Archiving twice fails the whole change and creates no version.
    let err = s
        .apply_golden_change(
            "g",
            &GoldenChange {
                description: "x".into(),
                add: vec![ex("e")],
                archive: vec![b],
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    assert_eq!(s.golden_versions(Some("g")).await.unwrap().len(), 2);
    assert_eq!(s.golden_examples("g", None).await.unwrap().len(), 3);
    // Provenance of an accepted proposal is kept.
    let mut p = ex("from proposal");
    p.proposal_id = Some(7);
    s.apply_golden_change(
        "g",
        &GoldenChange {
            description: "accept".into(),
            add: vec![p],
            archive: vec![],
        },
    )
    .await
    .unwrap();
    let last = s.golden_examples("g", None).await.unwrap().pop().unwrap();
    assert_eq!(last.proposal_id, Some(7));
    assert_eq!(
        last.provenance,
        driftwatch::store::Provenance::AcceptedProposal
    );
}
both_backends!(golden_versions_are_append_only_sqlite, golden_versions_are_append_only_postgres => golden_versions_are_append_only);

async fn runs_lifecycle(db: TestDb) {
    let s = db.store().await;
    let id = s.start_run("job1").await.unwrap();
    let r = s.get_run(id).await.unwrap();
    assert_eq!(r.status, RunStatus::Running);
    s.fail_run(id, RunStatus::Failed, "boom").await.unwrap();
    let r = s.get_run(id).await.unwrap();
    assert_eq!(
        (r.status, r.error.as_deref()),
        (RunStatus::Failed, Some("boom"))
    );
    assert!(r.finished_at.is_some());
    let id2 = s.start_run_as("job2", Some("h/1/cli")).await.unwrap();
    assert_eq!(
        s.running_runs().await.unwrap(),
        [(id2, Some("h/1/cli".to_string()))]
    );
    let n = s.abort_runs(&[id, id2], "gone").await.unwrap();
    assert_eq!(n, 1, "the failed run is not running");
    let r2 = s.get_run(id2).await.unwrap();
    assert_eq!(
        (r2.status, r2.error.as_deref()),
        (RunStatus::Aborted, Some("gone"))
    );
    let listed = s
        .list_runs(&driftwatch::store::RunFilter {
            job: Some("job1".into()),
            limit: None,
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(matches!(
        s.get_run(999_999).await,
        Err(StoreError::NotFound(_))
    ));
}
both_backends!(runs_lifecycle_sqlite, runs_lifecycle_postgres => runs_lifecycle);

/// A read-only SQLite file is told apart from an unreachable one: the
/// readiness check and a failed write both say `ReadOnly`, which callers treat
/// as "retry later" (PostgreSQL: `daemon::a_read_only_store_is_not_ready…`).
#[tokio::test]
async fn a_read_only_sqlite_file_is_reported_as_read_only() {
    let db = TestDb::sqlite().await;
    let rw = db.store().await;
    rw.insert_traces(&[trace("a", 1_700_000_000, "hello")])
        .await
        .unwrap();
    rw.check_writable().await.unwrap();
    let ro = driftwatch::store::Store::connect(&format!("{}?mode=ro", db.url))
        .await
        .unwrap();
    assert!(matches!(
        ro.check_writable().await,
        Err(StoreError::ReadOnly(_))
    ));
    let err = ro
        .insert_traces(&[trace("b", 1_700_000_001, "again")])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly(_)), "{err}");
    assert!(err.is_transient());
    assert_eq!(ro.count_traces().await.unwrap(), 1);
}
