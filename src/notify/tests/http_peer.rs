//! Slack, webhook and Alertmanager channels against a real axum server on 127.0.0.1:0.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{get, post};
use axum::Router;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::super::channels::{
    AlertmanagerConfig, ReceiverConfig, SendError, SlackConfig, WebhookConfig,
};
use super::fixtures::{tempdir, two_firing};
use crate::config::ConfigDuration;

#[derive(Debug, Clone)]
struct Hit {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Hit {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

type Hits = Arc<Mutex<Vec<Hit>>>;

async fn record(
    State(hits): State<Hits>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    hits.lock().unwrap().push(Hit {
        path: uri.path().to_string(),
        headers,
        body,
    });
    "ok"
}

async fn start() -> (SocketAddr, Hits) {
    let hits: Hits = Arc::default();
    let app = Router::new()
        .route("/slack", post(record))
        .route("/hook", post(record))
        .route("/api/v2/alerts", post(record))
        .route("/-/healthy", get(|| async { "OK" }))
        .route(
            "/fail500",
            post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom: database locked") }),
        )
        .route(
            "/fail400",
            post(|| async { (StatusCode::BAD_REQUEST, "invalid_payload") }),
        )
        .route(
            "/fail429",
            post(|| async { (StatusCode::TOO_MANY_REQUESTS, "rate_limited") }),
        )
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, hits)
}

fn slack(url: String) -> ReceiverConfig {
    ReceiverConfig::Slack(SlackConfig {
        webhook_url_env: None,
        webhook_url_file: None,
        webhook_url: Some(url),
        send_resolved: true,
    })
}

#[tokio::test]
async fn slack_receives_block_kit() {
    let (addr, hits) = start().await;
    let r = slack(format!("http://{addr}/slack")).build().unwrap();
    let n = two_firing();
    r.send(&n).await.unwrap();
    let hit = hits.lock().unwrap().pop().unwrap();
    assert_eq!(hit.path, "/slack");
    assert_eq!(hit.headers["content-type"], "application/json");
    let body = hit.json();
    assert_eq!(body["blocks"][0]["type"], "header");
    assert_eq!(
        body["blocks"][0]["text"]["text"],
        "[FIRING:2] driftwatch support (critical): Outputs no longer valid JSON: output JSON validity 100.0% → 59.9%"
    );
    let incident = body["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(incident.contains("(critical)"), "{incident}");
    let section = body["blocks"][2]["text"]["text"].as_str().unwrap();
    assert!(section.contains("effect size 0.35"), "{section}");
    assert!(r.healthcheck().await.unwrap().contains("HTTP"));
}

#[tokio::test]
async fn slack_url_from_file() {
    let (addr, hits) = start().await;
    let dir = tempdir("slack-url");
    let path = dir.join("url");
    std::fs::write(&path, format!("http://{addr}/slack\n")).unwrap();
    let r = ReceiverConfig::Slack(SlackConfig {
        webhook_url_env: None,
        webhook_url_file: Some(path),
        webhook_url: None,
        send_resolved: true,
    })
    .build()
    .unwrap();
    r.send(&two_firing()).await.unwrap();
    assert_eq!(hits.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn webhook_is_signed_and_idempotent() {
    let (addr, hits) = start().await;
    let dir = tempdir("webhook");
    let secret_path = dir.join("secret");
    std::fs::write(&secret_path, "s3cr3t-key\n").unwrap();
    let r = ReceiverConfig::Webhook(WebhookConfig {
        url: format!("http://{addr}/hook"),
        secret_env: None,
        secret_file: Some(secret_path),
        send_resolved: true,
    })
    .build()
    .unwrap();
    let n = two_firing();
    r.send(&n).await.unwrap();
    let hit = hits.lock().unwrap().pop().unwrap();
    // verify like a consumer would: HMAC-SHA256 of the raw body with the shared secret
    let sig = hit.headers["x-driftwatch-signature"].to_str().unwrap();
    let hex_sig = sig.strip_prefix("sha256=").expect("sha256= prefix");
    let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cr3t-key").unwrap();
    mac.update(&hit.body);
    mac.verify_slice(&hex::decode(hex_sig).unwrap())
        .expect("signature verifies");
    let mut wrong = Hmac::<Sha256>::new_from_slice(b"other").unwrap();
    wrong.update(&hit.body);
    assert!(wrong.verify_slice(&hex::decode(hex_sig).unwrap()).is_err());
    assert_eq!(hit.headers["idempotency-key"], n.idempotency_key.as_str());
    let body = hit.json();
    assert_eq!(body["status"], "firing");
    assert_eq!(body["runId"], 42);
    assert_eq!(body["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(body["alerts"][0]["labels"]["severity"], "critical");
}

#[tokio::test]
async fn http_errors_are_classified() {
    let (addr, _) = start().await;
    let n = two_firing();
    let hook = |path: &str| {
        ReceiverConfig::Webhook(WebhookConfig {
            url: format!("http://{addr}{path}"),
            secret_env: None,
            secret_file: None,
            send_resolved: true,
        })
        .build()
        .unwrap()
    };
    match hook("/fail500").send(&n).await {
        Err(SendError::Retryable { reason }) => {
            assert!(
                reason.contains("500") && reason.contains("database locked"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    match hook("/fail429").send(&n).await {
        Err(SendError::Retryable { reason }) => assert!(reason.contains("429"), "{reason}"),
        other => panic!("{other:?}"),
    }
    match slack(format!("http://{addr}/fail400"))
        .build()
        .unwrap()
        .send(&n)
        .await
    {
        Err(SendError::Permanent { reason }) => {
            assert_eq!(reason, "HTTP 400: invalid_payload")
        }
        other => panic!("{other:?}"),
    }
    match hook("/nowhere").send(&n).await {
        Err(SendError::Permanent { reason }) => assert!(reason.contains("404"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // nobody listening
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = l.local_addr().unwrap();
    drop(l);
    let r = slack(format!("http://{dead}/slack")).build().unwrap();
    assert!(r.send(&n).await.unwrap_err().is_retryable());
    assert!(r.healthcheck().await.unwrap_err().is_retryable());
}

#[tokio::test]
async fn alertmanager_v2_payload() {
    let (addr, hits) = start().await;
    let r = ReceiverConfig::Alertmanager(AlertmanagerConfig {
        url: format!("http://{addr}/"),
        firing_ttl: ConfigDuration::from_secs(3600),
        generator_url: Some("https://dw.example/runs/{run_id}".into()),
    })
    .build()
    .unwrap();
    assert!(r.healthcheck().await.unwrap().contains("healthy"));
    let n = two_firing();
    r.send(&n).await.unwrap();
    let hit = hits.lock().unwrap().pop().unwrap();
    assert_eq!(hit.path, "/api/v2/alerts");
    let body = hit.json();
    let alerts = body.as_array().expect("array of alerts");
    assert_eq!(alerts.len(), 2);
    for a in alerts {
        let obj = a.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "annotations",
                "endsAt",
                "generatorURL",
                "labels",
                "startsAt"
            ]
        );
        assert_eq!(a["labels"]["alertname"], "DriftDetected");
        assert_eq!(a["labels"]["job"], "support");
        assert!(a["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("output.json_valid"));
        assert_eq!(a["startsAt"], "1970-01-01T00:00:00Z");
        assert_eq!(a["endsAt"], "1970-01-01T01:00:00Z");
        assert_eq!(a["generatorURL"], "https://dw.example/runs/7");
    }
}

/// A webhook URL is a secret (Slack's path, a query-string key): a failed send's
/// reason, which reaches logs, the outbox and `alerts outbox`, never contains it.
#[tokio::test]
async fn a_failed_send_does_not_reveal_the_url() {
    // A port nothing listens on: the connection is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let slack_r = slack(format!("http://127.0.0.1:{port}/services/T0/B0/SECRETPART"))
        .build()
        .unwrap();
    let hook = ReceiverConfig::Webhook(WebhookConfig {
        url: format!("http://127.0.0.1:{port}/hook?key=SECRETKEY"),
        secret_env: None,
        secret_file: None,
        send_resolved: true,
    })
    .build()
    .unwrap();
    for (r, secret) in [(slack_r, "SECRETPART"), (hook, "SECRETKEY")] {
        let err = r.send(&two_firing()).await.unwrap_err();
        let reason = err.to_string();
        assert!(matches!(err, SendError::Retryable { .. }), "{reason}");
        assert!(!reason.contains(secret), "{reason}");
        assert!(!reason.contains("127.0.0.1"), "{reason}");
    }
}
