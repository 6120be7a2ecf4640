use driftwatch::http::{router, AppState};
use driftwatch::ingest::IngestConfig;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::TestDb;

/// Starts the real router on 127.0.0.1:0; returns its base URL and a shutdown handle.
async fn start(
    db: &TestDb,
    token: Option<&str>,
    max_body: usize,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let state = AppState::new(
        db.store().await,
        token.map(str::to_string),
        &IngestConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router(state, max_body))
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (format!("http://{addr}"), tx)
}

async fn ingest_auth_and_limits(db: TestDb) {
    let (base, _stop) = start(&db, Some("s3cret"), 64 * 1024).await;
    let c = reqwest::Client::new();
    let body =
        json!([{"id": "a", "input": "hello", "output": "{}"}, {"id": "b", "input": "again"}]);

    let r = c
        .post(format!("{base}/v1/traces"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(format!("{base}/v1/traces"))
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(db.store().await.count_traces().await.unwrap(), 0);

    let r = c
        .post(format!("{base}/v1/traces"))
        .bearer_auth("s3cret")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["stored"].as_u64(), v["rejected"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(db.store().await.count_traces().await.unwrap(), 2);

    // NDJSON with one bad line: 207 with the bad line named.
    let nd = "{\"id\":\"c\",\"input\":\"x\"}\n{oops\n{\"id\":\"d\",\"input\":\"y\"}\n";
    let r = c
        .post(format!("{base}/v1/traces"))
        .bearer_auth("s3cret")
        .body(nd)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 207);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["stored"], 2);
    assert_eq!(v["errors"][0]["line"], 2);

    // Nothing valid: 400.
    let r = c
        .post(format!("{base}/v1/traces"))
        .bearer_auth("s3cret")
        .json(&json!([{"output": "no input"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Oversized body: 413, nothing stored.
    let big = json!([{"id": "big", "input": "x".repeat(100 * 1024)}]);
    let r = c
        .post(format!("{base}/v1/traces"))
        .bearer_auth("s3cret")
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(db.store().await.count_traces().await.unwrap(), 4);

    let r = c.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
both_backends!(http_ingest_sqlite, http_ingest_postgres => ingest_auth_and_limits);

#[test]
fn open_ingest_only_on_loopback() {
    let cfg = driftwatch::http::ServerConfig {
        bind: "0.0.0.0:8080".into(),
        allow_unauthenticated: true,
        ..Default::default()
    };
    let errs = cfg.check("server").unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].path, "server.allow_unauthenticated");
    let cfg = driftwatch::http::ServerConfig::default();
    let e = cfg.resolve_token(std::path::Path::new(".")).unwrap_err();
    assert!(e.message.contains("no ingest token"), "{}", e.message);
}
