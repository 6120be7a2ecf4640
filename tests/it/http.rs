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

#[test]
fn an_ingest_token_shorter_than_16_characters_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("short"), "s3cret\n").unwrap();
    std::fs::write(dir.path().join("long"), "0123456789abcdef\n").unwrap();
    let cfg = |f: &str| driftwatch::http::ServerConfig {
        token_file: Some(f.into()),
        ..Default::default()
    };
    let e = cfg("short").resolve_token(dir.path()).unwrap_err();
    assert_eq!(e.path, "server.token");
    assert!(e.message.contains("at least 16"), "{}", e.message);
    assert_eq!(
        cfg("long").resolve_token(dir.path()).unwrap().as_deref(),
        Some("0123456789abcdef")
    );
}

const TOKEN: &str = "0123456789abcdef";

/// The real edge (`http::serve_on`) with short limits.
async fn start_edge(db: &TestDb) -> std::net::SocketAddr {
    let state = AppState::new(
        db.store().await,
        Some(TOKEN.into()),
        &IngestConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = driftwatch::http::Limits {
        header_timeout: std::time::Duration::from_millis(500),
        request_timeout: std::time::Duration::from_secs(1),
        max_connections: 8,
    };
    tokio::spawn(driftwatch::http::serve_on(
        listener,
        router(state, 64 * 1024),
        limits,
        std::future::pending(),
    ));
    addr
}

/// What the server sends before it closes, within `within` (panics if it does not close).
async fn read_until_closed(s: &mut tokio::net::TcpStream, within: std::time::Duration) -> String {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    match tokio::time::timeout(within, s.read_to_end(&mut buf)).await {
        Ok(_) => String::from_utf8_lossy(&buf).into_owned(),
        Err(_) => panic!(
            "connection still open after {within:?}; got {:?}",
            String::from_utf8_lossy(&buf)
        ),
    }
}

/// Slow, idle and unauthenticated clients are bounded: idle and partial-header
/// connections are closed, a stalled body gets 408, a client without a token gets
/// 401 before sending its body, extra connections are closed at accept and
/// `/healthz` answers again once slots free, and an address that keeps sending
/// wrong tokens gets 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_edge_bounds_slow_idle_and_unauthenticated_clients() {
    use std::time::{Duration, Instant};
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;
    let db = TestDb::sqlite().await;
    let addr = start_edge(&db).await;
    let secs = Duration::from_secs(4);

    // Idle: closed by the header-read timeout.
    let t = Instant::now();
    let mut idle = TcpStream::connect(addr).await.unwrap();
    read_until_closed(&mut idle, secs).await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());

    // Partial headers: closed too.
    let mut partial = TcpStream::connect(addr).await.unwrap();
    partial
        .write_all(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    read_until_closed(&mut partial, secs).await;

    // No token, a 2 MB body announced and not sent: 401 at once, not 413.
    let mut anon = TcpStream::connect(addr).await.unwrap();
    anon.write_all(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n").await.unwrap();
    let reply = read_until_closed(&mut anon, secs).await;
    assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");

    // With the token, a body that stalls: 408 after the request timeout.
    let t = Instant::now();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(format!("POST /v1/traces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 100000\r\n\r\n[{{\"id\":").as_bytes()).await.unwrap();
    let reply = read_until_closed(&mut slow, secs).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );

    // Eight idle connections fill the slots: a ninth is closed at accept…
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut ninth = TcpStream::connect(addr).await.unwrap();
    let _ = ninth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let reply = read_until_closed(&mut ninth, Duration::from_millis(400)).await;
    assert!(reply.is_empty(), "{reply}");
    // …and once the idle ones time out, /healthz answers again.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let r = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(held);

    // Ten failures from one address (the tokenless request above and nine wrong
    // tokens), then even the right token gets 429.
    let c = reqwest::Client::new();
    let post = |token: &'static str| {
        c.post(format!("http://{addr}/v1/traces"))
            .bearer_auth(token)
            .json(&json!([{"id": "a", "input": "hello"}]))
            .send()
    };
    for _ in 0..9 {
        assert_eq!(post("wrong-token-wrong-token").await.unwrap().status(), 401);
    }
    let r = post(TOKEN).await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "60");
    assert_eq!(db.store().await.count_traces().await.unwrap(), 0);
}

/// Open ingest (no token, loopback) refuses what a web page could send it: a
/// cross-site `text/plain` body (415) and a foreign Origin (403).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_ingest_refuses_cross_site_posts() {
    let db = TestDb::sqlite().await;
    let (base, _stop) = start(&db, None, 64 * 1024).await;
    let c = reqwest::Client::new();
    let rec = r#"{"id": "x", "input": "hello"}"#;
    let r = c
        .post(format!("{base}/v1/traces"))
        .header("content-type", "text/plain")
        .body(rec)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = c
        .post(format!("{base}/v1/traces"))
        .header("content-type", "application/json")
        .header("origin", "https://evil.example")
        .body(rec)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(db.store().await.count_traces().await.unwrap(), 0);
    let r = c
        .post(format!("{base}/v1/traces"))
        .header("content-type", "application/x-ndjson")
        .body(rec)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(db.store().await.count_traces().await.unwrap(), 1);
}

/// OTLP/HTTP ingest fed by the OpenTelemetry Python SDK's own protobuf
/// exporter (tests/otlp/export.py; `scripts/test.sh` installs the SDK): GenAI
/// semantic conventions, OpenLLMetry and OpenInference spans become traces,
/// checked field by field; a non-LLM span is skipped; the exporter's retry of
/// the same batch stores nothing new. Then an OTLP/JSON body, written as the
/// specification shows it (hex ids, camelCase, 64-bit integers as strings),
/// gzip-compressed.
async fn a_real_opentelemetry_exporter_feeds_otlp_ingest(db: TestDb) {
    let (base, _stop) = start(&db, Some("s3cret-otlp-token"), 1 << 20).await;
    let endpoint = format!("{base}/v1/otlp/traces");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otlp/export.py");
    let out = tokio::task::spawn_blocking({
        let endpoint = endpoint.clone();
        move || {
            std::process::Command::new("python3")
                .args([script, &endpoint, "s3cret-otlp-token"])
                .output()
                .expect("python3")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{} (scripts/test.sh installs the OpenTelemetry SDK)",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("SUCCESS").count(), 2, "{stdout}");
    let store = db.store().await;
    // Three LLM spans, once each although exported twice; the HTTP span skipped.
    assert_eq!(store.count_traces().await.unwrap(), 3);
    let mut traces = store.recent_traces(10).await.unwrap();
    traces.sort_by(|a, b| a.input.cmp(&b.input));
    let by = |input: &str| traces.iter().find(|t| t.input == input).unwrap();
    let semconv = by("where is my card");
    assert_eq!(semconv.output, "it is on its way");
    assert_eq!(semconv.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    assert_eq!(
        (semconv.prompt_tokens, semconv.completion_tokens),
        (Some(12), Some(5))
    );
    assert_eq!(semconv.source, "otlp");
    assert_eq!(semconv.is_error, Some(false));
    assert!(semconv.latency_ms.is_some_and(|l| l >= 0.0));
    // TRACEID-SPANID, hex: an exporter's retry is a duplicate.
    let (tid, sid) = semconv.external_id.split_once('-').unwrap();
    assert_eq!((tid.len(), sid.len()), (32, 16), "{}", semconv.external_id);
    assert_eq!(
        semconv.metadata.as_ref().unwrap()["service.name"],
        json!("support-bot")
    );
    let openllmetry = by("reset my pin");
    assert_eq!(openllmetry.output, "open settings, then security");
    assert_eq!(openllmetry.model.as_deref(), Some("gpt-4o"));
    assert_eq!(
        (openllmetry.prompt_tokens, openllmetry.completion_tokens),
        (Some(7), Some(6))
    );
    assert_eq!(openllmetry.is_error, Some(true));
    let openinference = by("close my account");
    assert_eq!(openinference.output, "I can help with that");
    assert_eq!(openinference.model.as_deref(), Some("claude-3-haiku"));
    assert_eq!(
        (openinference.prompt_tokens, openinference.completion_tokens),
        (Some(9), Some(5))
    );

    // OTLP/JSON as the specification writes it, gzip-compressed.
    let body = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-bot"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "eee19b7ec3c1b174",
            "name": "chat",
            "kind": 3,
            "startTimeUnixNano": "1764000000000000000",
            "endTimeUnixNano": "1764000000400000000",
            "attributes": [
                {"key": "input.value", "value": {"stringValue": "json question"}},
                {"key": "output.value", "value": {"stringValue": "json answer"}},
                {"key": "llm.token_count.prompt", "value": {"intValue": "3"}}
            ]
        }]}]
    }]});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, body.to_string().as_bytes()).unwrap();
    let c = reqwest::Client::new();
    let r = c
        .post(&endpoint)
        .bearer_auth("s3cret-otlp-token")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let store = db.store().await;
    assert_eq!(store.count_traces().await.unwrap(), 4);
    let t = store
        .recent_traces(10)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.input == "json question")
        .unwrap();
    assert_eq!(
        t.external_id,
        "5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174"
    );
    assert_eq!(
        (t.output.as_str(), t.prompt_tokens),
        ("json answer", Some(3))
    );
    assert!((t.latency_ms.unwrap() - 400.0).abs() < 1e-6);

    // Without the token: 401 before the body is read; a body that is no OTLP: 400.
    let r = c
        .post(&endpoint)
        .header("content-type", "application/x-protobuf")
        .body(vec![1u8, 2, 3])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(&endpoint)
        .bearer_auth("s3cret-otlp-token")
        .header("content-type", "application/x-protobuf")
        .body(vec![0xffu8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

both_backends!(otlp_ingest_sqlite, otlp_ingest_postgres => a_real_opentelemetry_exporter_feeds_otlp_ingest);
