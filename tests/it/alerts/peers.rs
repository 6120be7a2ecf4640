//! Real peers on loopback for the alert tests: an in-process SMTP server (adapted from
//! `src/notify/tests/smtp_peer.rs`) and an axum HTTP server for Slack and webhooks.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use axum::Router;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One message the SMTP peer accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: String,
}

/// A minimal SMTP server on 127.0.0.1:0 that answers `421` to the first
/// `reject_connections` connections and records every accepted message.
pub struct SmtpPeer {
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
    connections: Arc<AtomicUsize>,
}

impl SmtpPeer {
    pub async fn start(reject_connections: usize) -> SmtpPeer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (m, c) = (mails.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                let m = m.clone();
                tokio::spawn(async move {
                    let _ = session(stream, n <= reject_connections, &m).await;
                });
            }
        });
        SmtpPeer {
            addr,
            mails,
            connections,
        }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Greeting, EHLO/HELO, MAIL, RCPT, DATA (dot-unstuffed), RSET, NOOP, QUIT.
async fn session(stream: TcpStream, reject: bool, mails: &Mutex<Vec<Mail>>) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    if reject {
        w.write_all(b"421 4.3.2 Service not available, try again later\r\n")
            .await?;
        return w.shutdown().await;
    }
    w.write_all(b"220 peer.test ESMTP driftwatch-test\r\n")
        .await?;
    let mut mail_from = String::new();
    let mut rcpt_to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-peer.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760\r\n"
        } else if upper.starts_with("HELO") {
            b"250 peer.test\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            mail_from = cmd[10..].trim().to_string();
            rcpt_to.clear();
            b"250 2.1.0 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            rcpt_to.push(cmd[8..].trim().to_string());
            b"250 2.1.5 OK\r\n"
        } else if upper == "DATA" {
            w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut data = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            mails.lock().unwrap().push(Mail {
                mail_from: mail_from.clone(),
                rcpt_to: rcpt_to.clone(),
                data,
            });
            b"250 2.0.0 queued\r\n"
        } else if upper == "RSET" || upper == "NOOP" {
            b"250 2.0.0 OK\r\n"
        } else if upper == "QUIT" {
            w.write_all(b"221 2.0.0 Bye\r\n").await?;
            return w.shutdown().await;
        } else {
            b"502 5.5.2 Command not recognized\r\n"
        };
        w.write_all(reply).await?;
    }
}

/// One request the HTTP peer received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Hit {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

type Hits = Arc<Mutex<Vec<Hit>>>;

/// An axum server on 127.0.0.1:0: `POST /slack` and `POST /hook` record and answer 200,
/// `/fail400` answers 400 and `/fail503` 503 (also recorded).
pub struct HttpPeer {
    pub addr: SocketAddr,
    hits: Hits,
}

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

impl HttpPeer {
    pub async fn start() -> HttpPeer {
        let hits: Hits = Arc::default();
        let app = Router::new()
            .route("/slack", post(record))
            .route("/hook", post(record))
            .route(
                "/fail400",
                post(|| async { (StatusCode::BAD_REQUEST, "invalid_payload") }),
            )
            .route(
                "/fail503",
                post(|| async { (StatusCode::SERVICE_UNAVAILABLE, "try later") }),
            )
            .with_state(hits.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        HttpPeer { addr, hits }
    }

    pub fn hits(&self, path: &str) -> Vec<Hit> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.path == path)
            .cloned()
            .collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}
