//! `driftwatch serve` is SIGKILLed with undelivered notifications in its outbox (once
//! between retries, once in the middle of a send with the claim held); after a restart
//! every notification reaches the webhook exactly once.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use driftwatch::store::{OutboxFilter, OutboxRow, OutboxStatus, Store};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::both_backends;
use crate::common::{bin, TestDb};

/// How the [`FlakyHook`] treats the next connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Mode {
    /// Reads the request, answers `503` (retryable).
    Unavailable = 0,
    /// Accepts the connection and never reads nor answers (a hung peer).
    Stall = 1,
    /// Reads the request, records it and answers `200`.
    Accept = 2,
}

#[derive(Debug, Default)]
struct Seen {
    /// Idempotency keys answered `503`.
    refused: Vec<String>,
    /// Connections held open without reading a byte (never received a request).
    stalled: Vec<TcpStream>,
    /// Idempotency keys answered `200`: what the receiver actually got.
    accepted: Vec<String>,
}

/// A webhook peer on 127.0.0.1:0 (raw HTTP/1.1, one request per connection) whose
/// behaviour is switched at run time.
struct FlakyHook {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    seen: Arc<Mutex<Seen>>,
}

impl FlakyHook {
    async fn start(mode: Mode) -> FlakyHook {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(mode as u8));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (m, s) = (mode.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let mode = m.load(Ordering::SeqCst);
                if mode == Mode::Stall as u8 {
                    s.lock().unwrap().stalled.push(stream);
                    continue;
                }
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = answer(stream, mode == Mode::Accept as u8, &s).await;
                });
            }
        });
        FlakyHook { addr, mode, seen }
    }

    fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    fn refused(&self) -> usize {
        self.seen.lock().unwrap().refused.len()
    }

    fn stalled(&self) -> usize {
        self.seen.lock().unwrap().stalled.len()
    }

    fn accepted(&self) -> Vec<String> {
        self.seen.lock().unwrap().accepted.clone()
    }

    /// Closes the hung connections (their sender is dead by then).
    fn drop_stalled(&self) {
        self.seen.lock().unwrap().stalled.clear();
    }
}

async fn answer(stream: TcpStream, accept: bool, seen: &Mutex<Seen>) -> std::io::Result<()> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    let mut len = 0usize;
    let mut key = None;
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((name, value)) = l.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => len = value.trim().parse().unwrap_or(0),
                "idempotency-key" => key = Some(value.trim().to_owned()),
                _ => {}
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).await?;
    let key = key.unwrap_or_else(|| "<no idempotency-key>".into());
    let reply: &[u8] = if accept {
        seen.lock().unwrap().accepted.push(key);
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
    } else {
        seen.lock().unwrap().refused.push(key);
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 9\r\nconnection: close\r\n\r\ntry later"
    };
    let mut stream = r.into_inner();
    stream.write_all(reply).await?;
    stream.shutdown().await
}

/// A `driftwatch --config F serve` child, SIGKILLed when dropped.
struct Daemon {
    child: Child,
    log: std::path::PathBuf,
}

impl Daemon {
    fn start(config: &Path, n: usize) -> Daemon {
        let log = config.with_file_name(format!("serve-{n}.log"));
        let child = Command::new(bin())
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon { child, log }
    }

    /// Panics (with the daemon's log) if it exited on its own.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("serve exited with {status}:\n{}", self.logs());
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`: no shutdown handler runs, claims are not handed back.
    fn sigkill(mut self) {
        self.assert_running();
        self.child.kill().unwrap(); // SIGKILL on unix
        self.child.wait().unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` every 50 ms until it holds; panics after `secs`.
async fn wait_until<F, Fut>(daemon: &mut Daemon, secs: u64, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + StdDuration::from_secs(secs);
    loop {
        daemon.assert_running();
        if cond().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for: {what}\n{}",
            daemon.logs()
        );
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
}

async fn undelivered(store: &Store) -> Vec<OutboxRow> {
    store.outbox(&OutboxFilter::default()).await.unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn sigkilled_daemon_delivers_after_restart_exactly_once(db: TestDb) {
    let started = Instant::now();
    let store = db.store().await;
    let hook = FlakyHook::start(Mode::Unavailable).await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
        [store]
        url = "{url}"

        [server]
        bind = "127.0.0.1:{port}"
        allow_unauthenticated = true

        [[alerts.rules]]
        name = "DriftDetected"
        for = 1

        [alerts.receivers.hook]
        kind = "webhook"
        url = "http://{peer}/hook"

        [[alerts.routes]]
        receiver = "hook"
        group_by = ["..."]

        [alerts.retry]
        base = "1s"
        max = "2s"
        max_attempts = 50
        # The rows are queued at the tests' fixed clock (a past date); the real
        # daemon's clock must not give up on them by age.
        give_up_after = "3650d"
        "#,
        url = db.url,
        port = free_port(),
        peer = hook.addr,
    );
    let config_file = dir.path().join("driftwatch.toml");
    std::fs::write(&config_file, &text).unwrap();
    let alerting = super::config(&text, dir.path());

    // Three notifications (one per alert) in the outbox before any daemon runs.
    let findings: Vec<_> = (0..3)
        .map(|i| super::finding(&format!("output.m{i}"), true))
        .collect();
    let o = super::run_and_evaluate(&store, &alerting, &findings, super::t0()).await;
    assert_eq!((o.firing, o.enqueued), (3, 3), "{o:?}");
    let rows = undelivered(&store).await;
    let keys: BTreeSet<String> = rows.iter().map(|r| r.idempotency_key.clone()).collect();
    assert_eq!(keys.len(), 3);

    // 1. The peer answers 503: every row is tried and scheduled again; kill -9 the
    //    daemon between retries.
    let (st, h) = (&store, &hook);
    let mut d = Daemon::start(&config_file, 1);
    wait_until(
        &mut d,
        15,
        "every row failed once with 503",
        move || async move {
            let rows = undelivered(st).await;
            rows.len() == 3
                && rows.iter().all(|r| {
                    r.attempts >= 1 && r.last_error.as_deref().is_some_and(|e| e.contains("503"))
                })
        },
    )
    .await;
    d.sigkill();
    assert!(hook.refused() >= 3);
    assert!(hook.accepted().is_empty());
    let rows = undelivered(&store).await;
    assert_eq!(rows.len(), 3, "nothing lost: {rows:?}");
    assert!(
        rows.iter().all(|r| r.status != OutboxStatus::Dead),
        "{rows:?}"
    );

    // 2. The peer hangs: the restarted daemon claims rows and blocks in a send; kill -9
    //    it while it holds the claim.
    hook.set(Mode::Stall);
    let mut d = Daemon::start(&config_file, 2);
    wait_until(
        &mut d,
        15,
        "a send hangs with its row claimed",
        move || async move {
            let rows = undelivered(st).await;
            h.stalled() >= 1 && rows.iter().any(|r| r.status == OutboxStatus::Delivering)
        },
    )
    .await;
    d.sigkill();
    hook.drop_stalled();
    let held: Vec<OutboxRow> = undelivered(&store)
        .await
        .into_iter()
        .filter(|r| r.status == OutboxStatus::Delivering)
        .collect();
    assert!(hook.accepted().is_empty(), "a hung peer received nothing");
    // The dead daemon's claims stay (lease of `spawn_sender`: 10 minutes).
    let held_ids: BTreeSet<i64> = held.iter().map(|r| r.id).collect();
    for r in &held {
        let row = store.outbox_row(r.id).await.unwrap();
        assert_eq!(row.status, OutboxStatus::Delivering, "{row:?}");
        assert!(
            row.claimed_until.unwrap() > Utc::now() + Duration::minutes(9),
            "{row:?}"
        );
    }

    // 3. The peer is up. The restarted daemon delivers the unclaimed rows at once and
    //    leaves the dead daemon's claims alone while their lease runs.
    hook.set(Mode::Accept);
    let mut d = Daemon::start(&config_file, 3);
    let free = 3 - held_ids.len();
    wait_until(
        &mut d,
        15,
        "the unclaimed rows are delivered",
        move || async move { h.accepted().len() >= free },
    )
    .await;
    tokio::time::sleep(StdDuration::from_millis(2500)).await; // > 2 sender passes
    assert_eq!(
        hook.accepted().len(),
        free,
        "claimed rows wait for their lease"
    );
    for r in &held {
        assert_eq!(
            store.outbox_row(r.id).await.unwrap().status,
            OutboxStatus::Delivering
        );
        assert!(!hook.accepted().contains(&r.idempotency_key));
    }

    // The lease runs out (the clock jumps 10 minutes for one claimer, which takes the
    // expired claims over and hands them back): the running daemon delivers them.
    let later = Utc::now() + Duration::minutes(10) + Duration::seconds(1);
    let expired = store
        .claim_due(later, 10, Duration::seconds(60), &["hook".to_owned()])
        .await
        .unwrap();
    let expired_ids: BTreeSet<i64> = expired.iter().map(|r| r.id).collect();
    assert_eq!(
        expired_ids, held_ids,
        "exactly the dead daemon's claims expired"
    );
    for r in &expired {
        assert!(store.release_claim(r).await.unwrap());
    }
    wait_until(
        &mut d,
        30,
        "every notification is delivered",
        move || async move { h.accepted().len() >= 3 },
    )
    .await;
    tokio::time::sleep(StdDuration::from_millis(2500)).await; // no late duplicates
    d.sigkill();

    // Nothing lost, nothing sent twice.
    let accepted = hook.accepted();
    let got: BTreeSet<String> = accepted.iter().cloned().collect();
    assert_eq!(accepted.len(), 3, "each notification once: {accepted:?}");
    assert_eq!(got, keys);
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!(
        (counts.delivered, counts.backlog(), counts.dead),
        (3, 0, 0),
        "{counts:?}"
    );
    let delivered = store
        .outbox(&OutboxFilter {
            status: Some(OutboxStatus::Delivered),
            limit: None,
        })
        .await
        .unwrap();
    for row in &delivered {
        let attempts = store.delivery_attempts(row.id).await.unwrap();
        let oks: Vec<bool> = attempts.iter().map(|a| a.ok).collect();
        assert_eq!(oks.iter().filter(|ok| **ok).count(), 1, "{attempts:?}");
        assert_eq!(oks.last(), Some(&true), "{attempts:?}");
        assert!(
            attempts[0].error.as_deref().unwrap().contains("503"),
            "{attempts:?}"
        );
    }
    assert!(
        started.elapsed() < StdDuration::from_secs(40),
        "took {:?}",
        started.elapsed()
    );
}
both_backends!(sigkilled_daemon_delivers_after_restart_exactly_once_sqlite, sigkilled_daemon_delivers_after_restart_exactly_once_postgres => sigkilled_daemon_delivers_after_restart_exactly_once);
