//! The lettre email channel against an in-process SMTP server on 127.0.0.1:0.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use mail_parser::MessageParser;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::super::channels::{EmailConfig, ReceiverConfig, SendError, SmtpTls};
use super::super::group::Notification;
use super::fixtures::two_firing;

/// One accepted message.
#[derive(Debug, Clone)]
struct Recorded {
    mail_from: String,
    rcpt_to: Vec<String>,
    data: String,
}

#[derive(Debug, Clone, Default)]
struct Behaviour {
    /// Answer `421` instead of the greeting to this many first connections.
    reject_connections: usize,
    /// Reply to every RCPT TO with this line instead of 250.
    rcpt_reply: Option<&'static str>,
}

struct SmtpPeer {
    addr: SocketAddr,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    connections: Arc<AtomicUsize>,
}

impl SmtpPeer {
    async fn start(behaviour: Behaviour) -> SmtpPeer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (rec, conns) = (recorded.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let n = conns.fetch_add(1, Ordering::SeqCst) + 1;
                let (rec, b) = (rec.clone(), behaviour.clone());
                tokio::spawn(async move {
                    let _ = session(stream, n, &b, &rec).await;
                });
            }
        });
        SmtpPeer {
            addr,
            recorded,
            connections,
        }
    }

    fn recorded(&self) -> Vec<Recorded> {
        self.recorded.lock().unwrap().clone()
    }

    fn config(&self, to: &[&str]) -> ReceiverConfig {
        ReceiverConfig::Email(EmailConfig {
            smtp_host: "127.0.0.1".into(),
            smtp_port: Some(self.addr.port()),
            tls: SmtpTls::None,
            username: None,
            password_env: None,
            password_file: None,
            from: "driftwatch <driftwatch@example.test>".into(),
            to: to.iter().map(|s| s.to_string()).collect(),
            send_resolved: true,
        })
    }
}

/// Speaks just enough SMTP (RFC 5321) for a client: greeting, EHLO/HELO, MAIL, RCPT,
/// DATA with dot-unstuffing, RSET, NOOP, QUIT.
async fn session(
    stream: TcpStream,
    conn_no: usize,
    b: &Behaviour,
    rec: &Mutex<Vec<Recorded>>,
) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    if conn_no <= b.reject_connections {
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
            if let Some(reply) = b.rcpt_reply {
                w.write_all(reply.as_bytes()).await?;
                continue;
            }
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
            rec.lock().unwrap().push(Recorded {
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

fn check_message(n: &Notification, raw: &str) {
    let msg = MessageParser::default()
        .parse(raw.as_bytes())
        .expect("parseable RFC 5322 message");
    assert_eq!(
        msg.subject(),
        Some("[FIRING:2] driftwatch support (critical): Outputs no longer valid JSON: output JSON validity 100.0% → 59.9%")
    );
    let to: Vec<&str> = msg
        .to()
        .expect("To header")
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(to, ["ops@example.test", "ml@example.test"]);
    let expected_id = format!("{}@driftwatch", n.idempotency_key);
    assert_eq!(msg.message_id(), Some(expected_id.as_str()));
    assert_eq!(
        msg.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated")
    );
    let text = msg.body_text(0).expect("text part");
    assert!(text.contains("effect size 0.35"), "{text}");
    assert!(text.contains("p adjusted 0.002"), "{text}");
    assert!(text.contains("firing since 1970-01-01 00:00 UTC"), "{text}");
    assert!(text.contains("Sorry, I cannot help with that."), "{text}");
    assert!(text.contains("driftwatch report 42"), "{text}");
    let html = msg.body_html(0).expect("html part");
    assert!(html.contains("&lt;b&gt;broken"), "{html}");
}

#[tokio::test]
async fn email_is_delivered_over_smtp() {
    let peer = SmtpPeer::start(Behaviour::default()).await;
    let receiver = peer
        .config(&["ops <ops@example.test>", "ml@example.test"])
        .build()
        .unwrap();
    let health = receiver.healthcheck().await.unwrap();
    assert!(health.contains("NOOP"), "{health}");
    let n = two_firing();
    receiver.send(&n).await.unwrap();
    let got = peer.recorded();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].mail_from, "<driftwatch@example.test>");
    assert_eq!(got[0].rcpt_to, ["<ops@example.test>", "<ml@example.test>"]);
    check_message(&n, &got[0].data);
}

#[tokio::test]
async fn transient_421_is_retryable_then_delivers_once() {
    let peer = SmtpPeer::start(Behaviour {
        reject_connections: 2,
        ..Behaviour::default()
    })
    .await;
    let receiver = peer
        .config(&["ops@example.test", "ml@example.test"])
        .build()
        .unwrap();
    let n = two_firing();
    for attempt in 1..=2 {
        match receiver.send(&n).await {
            Err(SendError::Retryable { reason }) => {
                assert!(reason.contains("421"), "attempt {attempt}: {reason}")
            }
            other => panic!("attempt {attempt}: expected Retryable, got {other:?}"),
        }
        assert!(peer.recorded().is_empty());
    }
    receiver.send(&n).await.unwrap();
    assert_eq!(peer.connections.load(Ordering::SeqCst), 3);
    let got = peer.recorded();
    assert_eq!(got.len(), 1, "recorded exactly once");
    check_message(&n, &got[0].data);
}

#[tokio::test]
async fn smtp_550_is_permanent() {
    let peer = SmtpPeer::start(Behaviour {
        rcpt_reply: Some("550 5.1.1 No such user here\r\n"),
        ..Behaviour::default()
    })
    .await;
    let receiver = peer
        .config(&["ops@example.test", "ml@example.test"])
        .build()
        .unwrap();
    match receiver.send(&two_firing()).await {
        Err(SendError::Permanent { reason }) => assert!(reason.contains("550"), "{reason}"),
        other => panic!("expected Permanent, got {other:?}"),
    }
    assert!(peer.recorded().is_empty());
}

#[tokio::test]
async fn connection_refused_is_retryable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let receiver = ReceiverConfig::Email(EmailConfig {
        smtp_host: "127.0.0.1".into(),
        smtp_port: Some(port),
        tls: SmtpTls::None,
        username: None,
        password_env: None,
        password_file: None,
        from: "dw@example.test".into(),
        to: vec!["ops@example.test".into()],
        send_resolved: true,
    })
    .build()
    .unwrap();
    let err = receiver.send(&two_firing()).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(receiver.healthcheck().await.unwrap_err().is_retryable());
}
