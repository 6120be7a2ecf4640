//! Incidents on the demo scenario: the real run (real embedding model, JSON
//! Schema on outputs) raises many findings at once; ops get a few messages, one
//! per cause, the broken format first and critical, its consequences muted.
//! The run is on PostgreSQL (the demo itself covers SQLite), and the
//! PostgreSQL Grafana dashboard's queries are run against the store it left.

use std::path::Path;

use chrono::{TimeZone, Utc};
use driftwatch::alert;
use driftwatch::demo::generator::{golden_records, production_records, GenOptions, GOLDEN_DOMAINS};
use driftwatch::embed::EmbedConfig;
use driftwatch::ingest::{FieldMap, IngestConfig};
use driftwatch::jobs::{run_job, JobConfig, RunOptions, SharedEmbedder};
use driftwatch::settings::Config;
use driftwatch::store::{NewGoldenExample, Verdict};
use mail_parser::MessageParser;

use crate::common::TestDb;

#[tokio::test]
async fn the_demo_scenario_is_a_few_incidents_led_by_the_broken_format() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    let end = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
    let golden: Vec<NewGoldenExample> = golden_records(42, GOLDEN_DOMAINS, 90)
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect();
    driftwatch::golden::import(&store, "support", golden, "test")
        .await
        .unwrap();
    let mut o = GenOptions::demo(42, 3000);
    o.end = end;
    let map = FieldMap::new(&IngestConfig::default());
    let traces: Vec<_> = production_records(&o)
        .into_iter()
        .map(|(r, _)| map.to_trace(&r, "app").unwrap())
        .collect();
    store.insert_traces(&traces).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("schema.json"), driftwatch::demo::SCHEMA).unwrap();
    let mut j = JobConfig::adhoc("support", "support");
    j.window = "24h".parse().unwrap();
    j.sample_size = 2000;
    j.output_json_schema = Some(dir.path().join("schema.json"));
    let spec = j.check("support", Path::new(".")).unwrap();
    let embedder = SharedEmbedder::build(
        &EmbedConfig::default(),
        Path::new(env!("CARGO_MANIFEST_DIR")),
    )
    .expect("model files: run scripts/fetch-model.sh");
    let outcome = run_job(&store, &spec, &RunOptions::at(end, Some(embedder.clone())))
        .await
        .unwrap();
    let drifted: Vec<&str> = outcome
        .findings
        .iter()
        .filter(|f| f.verdict == Verdict::Drifted)
        .map(|f| f.metric.as_str())
        .collect();
    assert!(
        drifted.len() >= 8,
        "the demo drifts on many metrics: {drifted:?}"
    );

    // The example config's alerting, minus its receivers: default rules,
    // default routes (one message per job and incident), default inhibit rules.
    let cfg = Config::from_str_with_base(
        "[alerts.receivers.ops]\nkind = \"file\"\ndir = \"mail\"\n",
        dir.path(),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let alerting = cfg.alerts;
    let stored = store.findings(outcome.run_id).await.unwrap();
    let eval = alert::evaluate_run(
        &store,
        &alerting.build().unwrap(),
        "support",
        outcome.run_id,
        &stored,
        end,
    )
    .await
    .unwrap();
    assert_eq!(eval.firing, drifted.len(), "{eval:?}");
    let (receivers, errors) = alert::build_receivers(&alerting, dir.path());
    assert!(errors.is_empty(), "{errors:?}");
    alert::deliver_due(&store, &receivers, &alerting.retry, end)
        .await
        .unwrap();

    let mut subjects: Vec<(String, String)> = std::fs::read_dir(dir.path().join("mail/new"))
        .unwrap()
        .map(|e| {
            let raw = std::fs::read(e.unwrap().path()).unwrap();
            let msg = MessageParser::default().parse(&raw[..]).unwrap();
            (
                msg.subject().unwrap().to_owned(),
                msg.body_text(0).unwrap().into_owned(),
            )
        })
        .collect();
    subjects.sort();
    let list: Vec<&str> = subjects.iter().map(|(s, _)| s.as_str()).collect();
    assert!(
        (2..=4).contains(&subjects.len()),
        "{} drifted findings should be at most 4 messages: {list:#?}",
        drifted.len()
    );
    // One message says the outputs broke, critical, with before → after.
    let outputs: Vec<&(String, String)> = subjects
        .iter()
        .filter(|(s, _)| s.contains("(critical): Outputs no longer"))
        .collect();
    assert_eq!(outputs.len(), 1, "{list:#?}");
    let (subject, body) = outputs[0];
    assert!(subject.contains(" → "), "{subject}");
    assert!(subject.contains("related findings"), "{subject}");
    // Its first screen names the cause and lists the findings that move with it.
    let first_screen: Vec<&str> = body.lines().take(12).collect();
    assert!(first_screen[2].starts_with("▶ Outputs no longer"), "{body}");
    assert!(
        first_screen.iter().any(|l| l.contains("output.chars")),
        "{body}"
    );
    // The new topic is its own message, named after what is missing.
    assert!(
        list.iter()
            .any(|s| s.contains("New topic the golden set does not cover")),
        "{list:#?}"
    );
    // The topic explains the coverage drop and the input embedding shift: no
    // message of their own.
    assert!(
        !list.iter().any(|s| s.contains("Inputs moved in meaning")),
        "{list:#?}"
    );

    // A second run, so the dashboard's time series have two points.
    let later = end + chrono::Duration::minutes(15);
    run_job(&store, &spec, &RunOptions::at(later, Some(embedder)))
        .await
        .unwrap();
    dashboard_queries_return_rows(&db.url).await;
    store_panels_return_data_under_prometheus(&db.url).await;
}

/// The Prometheus dashboard's panels over the store's gauges (effect sizes and
/// their floors, verdicts, coverage, alerts by name, proposals) return data for
/// this semantic job with firing alerts, under a real Prometheus scraping a
/// `driftwatch serve` on the store (the daemon test covers the process
/// counters, on a job without a semantic stage).
async fn store_panels_return_data_under_prometheus(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let addr = crate::daemon::free_addr();
    let cfg = format!(
        "[store]\nurl = \"{url}\"\n\n[server]\nbind = \"{addr}\"\nallow_unauthenticated = true\n"
    );
    let d = crate::daemon::Daemon::start(dir.path(), "dash", &cfg, &[]);
    assert!(
        crate::daemon::eventually(20, || async {
            d.get("/readyz").await.is_some_and(|(s, _)| s == 200)
        })
        .await,
        "serve did not become ready: {}",
        d.log()
    );
    let all = crate::prometheus::dashboard_exprs();
    let gauges = [
        "driftwatch_effect_size",
        "driftwatch_effect_floor",
        "driftwatch_verdict",
        "driftwatch_coverage_ratio",
        "driftwatch_alerts",
        "driftwatch_proposals_pending",
        "driftwatch_last_success_timestamp_seconds",
        "driftwatch_production_rate",
    ];
    let exprs: Vec<String> = all
        .into_iter()
        .filter(|e| gauges.iter().any(|g| e.contains(g)))
        .collect();
    for g in gauges {
        assert!(
            exprs.iter().any(|e| e.contains(g)),
            "no panel shows {g}: {exprs:#?}"
        );
    }
    let empty = crate::prometheus::panels_without_data(d.addr, &exprs, "support").await;
    assert!(
        empty.is_empty(),
        "panels without data: {empty:#?}\n{}",
        d.log()
    );
}

/// Every query of config/grafana/driftwatch-postgres.json, with Grafana's
/// `$__timeFilter(…)` and `$job` substituted as Grafana would, returns rows
/// from a store that holds runs.
async fn dashboard_queries_return_rows(url: &str) {
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/grafana/driftwatch-postgres.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut queries: Vec<(String, String)> = Vec::new();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            queries.push((
                p["title"].as_str().unwrap().to_owned(),
                t["rawSql"].as_str().unwrap().to_owned(),
            ));
        }
    }
    for v in dash["templating"]["list"].as_array().unwrap() {
        if v["type"] == "query" {
            queries.push((
                format!("variable {}", v["name"]),
                v["query"].as_str().unwrap().to_owned(),
            ));
        }
    }
    assert!(queries.len() >= 8, "{queries:?}");
    let time_filter =
        regex::Regex::new(r"\$__timeFilter\(([^()]*(?:\([^()]*\))?[^()]*)\)").unwrap();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    for (title, sql) in queries {
        let sql = time_filter
            .replace_all(
                &sql,
                "$1 BETWEEN to_timestamp(0) AND now() + interval '1000 days'",
            )
            .replace("$job", "'support'");
        assert!(!sql.contains('$'), "{title}: unsubstituted macro in {sql}");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{title}: {e}\n{sql}"));
        assert!(!rows.is_empty(), "{title}: no rows\n{sql}");
    }
}
