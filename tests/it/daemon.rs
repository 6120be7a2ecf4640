//! `driftwatch serve` as ops run it: the real binary, real signals, a real
//! PostgreSQL. Replicas coordinate through leases (each tick once; a killed
//! holder's work is taken over); a second daemon on one SQLite file refuses to
//! start; SIGTERM during a run leaves no half-written run; SIGHUP reloads (and
//! refuses a bad config); systemd is notified; `/metrics` and `/readyz` answer;
//! the store going away and coming back does not kill the daemon.

use std::collections::BTreeSet;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use driftwatch::store::{Run, RunFilter, RunStatus, Store};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{bin, TestDb};
use crate::scheduler::load;

/// A running `driftwatch serve`, killed when dropped; its log goes to a file.
pub(crate) struct Daemon {
    child: Option<Child>,
    pub addr: SocketAddr,
    log: PathBuf,
}

/// A loopback address free at the time of the call, for a daemon to bind
/// later. The port comes from below Linux's ephemeral range (32768–60999):
/// a port the kernel hands out (`bind(0)`) can be handed out again, to another
/// test's outgoing connection, before the daemon binds it (seen once in CI:
/// "Address already in use"). Ports are tried in a per-process sequence.
pub(crate) fn free_addr() -> SocketAddr {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id() % 1000 * 12;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + ((start + n) % 12_000) as u16;
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return l.local_addr().unwrap();
        }
    }
}

/// The config of a daemon with one fast structural job on `db_url`.
fn config(db_url: &str, addr: SocketAddr, instance: &str, extra: &str) -> String {
    format!(
        r#"
[store]
url = "{db_url}"

[server]
bind = "{addr}"
allow_unauthenticated = true

[daemon]
lease_ttl = "3s"
shutdown_grace = "1s"
instance = "{instance}"

[[jobs]]
name = "tick"
schedule = "*/2 * * * * *"
window = "3d"
sample_size = 200
golden_set = "g"
language_detection = false
settle_delay = "0s"

[jobs.semantic]
enabled = false
{extra}
"#
    )
}

impl Daemon {
    pub(crate) fn start(dir: &Path, name: &str, cfg: &str, env: &[(&str, String)]) -> Daemon {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, cfg).unwrap();
        let addr: SocketAddr = cfg
            .lines()
            .find_map(|l| l.strip_prefix("bind = \""))
            .map(|a| a.trim_end_matches('"').parse().unwrap())
            .unwrap();
        let log = dir.join(format!("{name}.log"));
        let mut cmd = Command::new(bin());
        cmd.arg("--config")
            .arg(&path)
            .arg("serve")
            .env("DRIFTWATCH_LOG", "info,driftwatch=debug")
            .env_remove("DRIFTWATCH_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        Daemon {
            child: Some(child),
            addr,
            log,
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits for exit; `None` if still running after `within`.
    fn wait(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + within;
        loop {
            if let Some(s) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Option<(u16, String)> {
        let r = reqwest::Client::new()
            .get(format!("http://{}{path}", self.addr))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()?;
        let status = r.status().as_u16();
        Some((status, r.text().await.ok()?))
    }

    /// Waits until the HTTP server answers `/healthz`.
    async fn ready(&self) {
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end {
            if let Some((200, _)) = self.get("/healthz").await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("daemon did not come up; log:\n{}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn runs(store: &Store, job: &str) -> Vec<Run> {
    let mut r = store
        .list_runs(&RunFilter {
            job: Some(job.into()),
            limit: Some(1000),
        })
        .await
        .unwrap();
    r.reverse();
    r
}

/// Polls until `f` holds or `secs` pass.
pub(crate) async fn eventually<F, Fut>(secs: u64, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// Each tick served once: succeeded runs end their windows at distinct ticks
/// (the window ends at the tick, settle_delay = 0), and no two runs of the job
/// were in flight at once.
fn assert_one_run_per_tick(all: &[Run]) {
    let done: Vec<&Run> = all
        .iter()
        .filter(|r| r.status == RunStatus::Succeeded)
        .collect();
    let mut ends = BTreeSet::new();
    for r in &done {
        let end = r.summary.as_ref().unwrap().window_text().1;
        assert!(
            ends.insert(end.clone()),
            "tick {end} ran twice\n{:?}",
            all.iter()
                .map(|r| (r.id, r.started_at, r.status))
                .collect::<Vec<_>>()
        );
    }
    for w in done.windows(2) {
        assert!(
            w[1].started_at >= w[0].finished_at.unwrap(),
            "runs {} and {} overlapped",
            w[0].id,
            w[1].id
        );
    }
}

/// 30,000 more traces, so a job sampling all of them with language detection
/// on runs for seconds (long enough to kill its holder mid-run).
async fn load_bulk(store: &Store) {
    let map = driftwatch::ingest::FieldMap::new(&driftwatch::ingest::IngestConfig::default());
    let more: Vec<_> = driftwatch::demo::generator::production_records(
        &driftwatch::demo::generator::GenOptions::clean(11, 30_000),
    )
    .into_iter()
    .map(|(r, _)| map.to_trace(&r, "bulk").unwrap())
    .collect();
    store.insert_traces(&more).await.unwrap();
}

const SLOW_JOB: &str = "
[[jobs]]
name = \"slow\"
schedule = \"*/2 * * * * *\"
window = \"3d\"
sample_size = 30000
golden_set = \"g\"
language_detection = true
language_sample = 30000
settle_delay = \"0s\"

[jobs.semantic]
enabled = false
";

/// (run id, holder) of the runs of `job` in `status`.
async fn runs_with_holder(url: &str, job: &str, status: &str) -> Vec<(i64, Option<String>)> {
    let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    sqlx::query_as("SELECT id, holder FROM runs WHERE job = $1 AND status = $2 ORDER BY id")
        .bind(job)
        .bind(status)
        .fetch_all(&mut c)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_on_postgres_run_each_tick_once_and_a_killed_holder_is_replaced() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    load(&store).await;
    load_bulk(&store).await;
    let dir = tempfile::tempdir().unwrap();
    let mut daemons = vec![
        Daemon::start(
            dir.path(),
            "a",
            &config(&db.url, free_addr(), "replica-a", SLOW_JOB),
            &[],
        ),
        Daemon::start(
            dir.path(),
            "b",
            &config(&db.url, free_addr(), "replica-b", SLOW_JOB),
            &[],
        ),
    ];
    for d in &daemons {
        d.ready().await;
    }
    let logs = |ds: &[Daemon]| {
        ds.iter()
            .map(|d| d.log())
            .collect::<Vec<_>>()
            .join("\n-----\n")
    };

    // Both replicas up: every tick of `tick` runs once.
    assert!(
        eventually(40, || async { runs(&store, "tick").await.len() >= 5 }).await,
        "runs did not happen; logs:\n{}",
        logs(&daemons)
    );
    assert_one_run_per_tick(&runs(&store, "tick").await);

    // Wait until a `slow` run is in flight, and SIGKILL the replica running it:
    // no cleanup, its lease must expire.
    let end = Instant::now() + Duration::from_secs(60);
    let victim = loop {
        if let Some(r) = runs_with_holder(&db.url, "slow", "running").await.first() {
            break r.clone();
        }
        assert!(
            Instant::now() < end,
            "no slow run in flight; logs:\n{}",
            logs(&daemons)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (run_id, holder) = victim;
    let holder = holder.expect("a daemon run records its holder");
    let idx = if holder == "replica-a" { 0 } else { 1 };
    let mut killed = daemons.remove(idx);
    killed.signal("KILL");
    assert!(killed.wait(Duration::from_secs(5)).is_some());
    let killed_at = chrono::Utc::now();
    let survivor = &daemons[0];

    // The survivor takes the job over once the lease expires (3 s): the dead
    // holder's run is marked aborted, and later runs of both jobs succeed.
    assert!(
        eventually(40, || async {
            store.get_run(run_id).await.unwrap().status == RunStatus::Aborted
        })
        .await,
        "run {run_id} of the killed replica was not aborted; survivor log:\n{}",
        survivor.log()
    );
    let aborted = store.get_run(run_id).await.unwrap();
    assert!(
        aborted.error.unwrap_or_default().contains("lease"),
        "reason names the lease"
    );
    for job in ["tick", "slow"] {
        assert!(
            eventually(60, || async {
                runs(&store, job)
                    .await
                    .iter()
                    .any(|r| r.started_at > killed_at && r.status == RunStatus::Succeeded)
            })
            .await,
            "job {job} did not continue on the survivor; log:\n{}",
            survivor.log()
        );
    }
    // Each tick still ran once, across the kill and takeover.
    assert_one_run_per_tick(&runs(&store, "tick").await);
    assert_one_run_per_tick(&runs(&store, "slow").await);
    assert!(
        survivor.log().contains("Took over the job"),
        "{}",
        survivor.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_one_sqlite_file_refuses_to_start() {
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    load(&store).await;
    let dir = tempfile::tempdir().unwrap();
    let a = Daemon::start(dir.path(), "a", &config(&db.url, free_addr(), "a", ""), &[]);
    a.ready().await;
    let mut b = Daemon::start(dir.path(), "b", &config(&db.url, free_addr(), "b", ""), &[]);
    let status = b
        .wait(Duration::from_secs(20))
        .expect("second daemon kept running");
    assert!(!status.success());
    let log = b.log();
    assert!(
        log.contains("another driftwatch daemon") && log.contains(&a.pid().to_string()),
        "{log}"
    );
    // The same file through a symlink is the same database.
    let db_path = db.url.strip_prefix("sqlite://").unwrap();
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(db_path, &link).unwrap();
    let via_link = format!("sqlite://{}", link.display());
    let mut c = Daemon::start(
        dir.path(),
        "c",
        &config(&via_link, free_addr(), "c", ""),
        &[],
    );
    let status = c
        .wait(Duration::from_secs(20))
        .expect("a daemon through a symlink kept running");
    assert!(!status.success());
    assert!(c.log().contains("another driftwatch daemon"), "{}", c.log());
    // The first one is unaffected.
    assert_eq!(a.get("/readyz").await.map(|r| r.0), Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_run_leaves_no_half_written_run() {
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    load(&store).await;
    // Make runs long: many traces and language detection on every one.
    load_bulk(&store).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&db.url, free_addr(), "a", "")
        .replace("sample_size = 200", "sample_size = 30000")
        .replace("language_detection = false", "language_detection = true")
        .replace("shutdown_grace = \"1s\"", "shutdown_grace = \"0s\"");
    let mut d = Daemon::start(dir.path(), "a", &cfg, &[]);
    d.ready().await;
    // Wait for a run in flight, then SIGTERM.
    assert!(
        eventually(30, || async {
            runs(&store, "tick")
                .await
                .iter()
                .any(|r| r.status == RunStatus::Running)
        })
        .await,
        "no run started; log:\n{}",
        d.log()
    );
    d.signal("TERM");
    let status = d
        .wait(Duration::from_secs(15))
        .expect("daemon did not stop after SIGTERM");
    assert!(status.success(), "exit {status:?}; log:\n{}", d.log());
    let all = runs(&store, "tick").await;
    assert!(!all.is_empty());
    for r in &all {
        assert_ne!(r.status, RunStatus::Running, "run {} left running", r.id);
        if r.status == RunStatus::Aborted {
            // Aborted means nothing of it was written: no findings, no summary.
            assert!(
                store.findings(r.id).await.unwrap().is_empty(),
                "run {} has findings",
                r.id
            );
            assert!(r.summary.is_none(), "run {} has a summary", r.id);
        }
    }
    assert!(
        all.iter().any(|r| r.status == RunStatus::Aborted),
        "the run in flight was not marked aborted: {:?}\n{}",
        all.iter().map(|r| (r.id, r.status)).collect::<Vec<_>>(),
        d.log()
    );
}

/// Reads `/metrics` into (series name with labels → value).
fn parse_metrics(text: &str) -> Vec<(String, String, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n.to_string(), l.trim_end_matches('}').to_string()),
            None => (series.to_string(), String::new()),
        };
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        out.push((name, labels, v));
    }
    out
}

/// The metric names a PromQL expression uses.
fn promql_metric_names(expr: &str) -> BTreeSet<String> {
    // Metric names, not the `driftwatch_job` label.
    let re = regex::Regex::new(r"driftwatch_[a-z_]+").unwrap();
    re.find_iter(expr)
        .map(|m| m.as_str().to_string())
        .filter(|n| n != "driftwatch_job")
        .collect()
}

/// A unix datagram socket standing in for systemd's NOTIFY_SOCKET; a thread
/// reads it continuously, as systemd does.
fn notify_socket(dir: &Path) -> (PathBuf, Arc<std::sync::Mutex<Vec<String>>>) {
    let p = dir.join("notify.sock");
    let s = std::os::unix::net::UnixDatagram::bind(&p).unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let into = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.recv(&mut buf) {
            into.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf[..n]).to_string());
        }
    });
    (p, seen)
}

fn drain(sock: &Arc<std::sync::Mutex<Vec<String>>>, into: &mut Vec<String>) {
    into.extend(sock.lock().unwrap().drain(..));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_readyz_sources_reload_and_systemd_notify() {
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    load(&store).await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let now = chrono::Utc::now();
    let mut lines = String::new();
    for i in 0..7 {
        lines.push_str(&format!(
            "{{\"id\":\"l{i}\",\"ts\":\"{}\",\"input\":\"how do I reset my password {i}\",\"output\":\"{{\\\"answer\\\":\\\"ok\\\"}}\"}}\n",
            (now - chrono::Duration::minutes(i)).to_rfc3339()
        ));
    }
    lines.push_str("{not json\n");
    std::fs::write(logs.join("app.jsonl"), &lines).unwrap();
    let source = format!(
        "\n[[sources]]\nname = \"applog\"\nkind = \"jsonl\"\npath = \"{}/app.jsonl*\"\npoll_interval = \"500ms\"\n",
        logs.display()
    );
    let addr = free_addr();
    let cfg = config(&db.url, addr, "a", &source);
    let (sock_path, sock) = notify_socket(dir.path());
    let mut d = Daemon::start(
        dir.path(),
        "d",
        &cfg,
        &[
            ("NOTIFY_SOCKET", sock_path.display().to_string()),
            ("WATCHDOG_USEC", "400000".to_string()),
        ],
    );
    d.ready().await;
    assert!(
        eventually(30, || async {
            runs(&store, "tick")
                .await
                .iter()
                .any(|r| r.status == RunStatus::Succeeded)
        })
        .await,
        "no run; log:\n{}",
        d.log()
    );
    let mut notes = Vec::new();
    drain(&sock, &mut notes);
    assert!(notes.iter().any(|n| n.contains("READY=1")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("WATCHDOG=1")), "{notes:?}");

    // /readyz: store reachable, no model needed.
    assert_eq!(d.get("/readyz").await.map(|r| r.0), Some(200));

    // /metrics parses and carries the run, the source and the database gauges.
    let (status, text) = d.get("/metrics").await.unwrap();
    assert_eq!(status, 200);
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    let m = parse_metrics(&text);
    let value = |name: &str, label: &str| {
        m.iter()
            .filter(|(n, l, _)| n == name && l.contains(label))
            .map(|(_, _, v)| *v)
            .sum::<f64>()
    };
    assert!(
        value("driftwatch_runs_total", "status=\"succeeded\"") >= 1.0,
        "{text}"
    );
    assert!(
        value(
            "driftwatch_run_duration_seconds_count",
            "driftwatch_job=\"tick\""
        ) >= 1.0,
        "{text}"
    );
    assert_eq!(
        value("driftwatch_traces_ingested_total", "source=\"applog\""),
        7.0,
        "{text}"
    );
    assert_eq!(
        value("driftwatch_traces_rejected_total", "source=\"applog\""),
        1.0,
        "{text}"
    );
    assert_eq!(value("driftwatch_store_up", ""), 1.0);
    assert!(
        m.iter()
            .any(|(n, l, _)| n == "driftwatch_effect_size" && l.contains("driftwatch_job=\"tick\"")),
        "{text}"
    );
    assert!(
        m.iter()
            .any(|(n, l, _)| n == "driftwatch_verdict" && l.contains("metric=\"output.chars\"")),
        "{text}"
    );
    assert!(m.iter().any(|(n, _, _)| n == "driftwatch_outbox_backlog"));
    // No series carries a target label (`job`, `instance`): a scraping
    // Prometheus sets those itself and would rename ours `exported_job`.
    for (n, l, _) in &m {
        for key in l.split(',').filter_map(|kv| kv.split('=').next()) {
            assert!(
                key.trim() != "job" && key.trim() != "instance",
                "{n} exports a `{key}` label: {l}"
            );
        }
    }

    // The Grafana dashboard is valid JSON and uses only metrics that exist.
    let exprs = crate::prometheus::dashboard_exprs();
    assert!(exprs.len() >= 10, "{exprs:?}");
    // Families with series in this scrape, plus those that appear only with
    // other data (coverage needs a semantic job): rendered from a snapshot that has it.
    let mut scraped: BTreeSet<String> = m.iter().map(|(n, _, _)| n.clone()).collect();
    let full = driftwatch::store::MetricsSnapshot {
        last_success_ms: vec![("j".into(), 1)],
        latest_findings: vec![driftwatch::store::LatestFinding {
            job: "j".into(),
            metric: "input.coverage".into(),
            side: "input".into(),
            effect_size: Some(0.1),
            threshold: Some(0.05),
            verdict: "drifted".into(),
            details: driftwatch::store::FindingDetails {
                coverage: Some(0.8),
                production_rate: Some(0.9),
                ..Default::default()
            },
        }],
        alerts: vec![("j".into(), "firing".into(), 1)],
        alerts_by_name: vec![driftwatch::store::AlertCount {
            job: "j".into(),
            alertname: "DriftDetected".into(),
            incident: "input_semantic".into(),
            severity: "warning".into(),
            status: "firing".into(),
            count: 1,
        }],
        ..Default::default()
    };
    let rendered = driftwatch::daemon::exposition::render(
        Some(&full),
        &driftwatch::daemon::exposition::Health::default(),
    );
    scraped.extend(parse_metrics(&rendered).into_iter().map(|(n, _, _)| n));
    let base = |n: &str| {
        // Histogram series come as _bucket/_sum/_count of one family.
        scraped.contains(n)
            || ["_bucket", "_sum", "_count"].iter().any(|s| {
                n.strip_suffix(s)
                    .is_some_and(|b| scraped.iter().any(|x| x.starts_with(b)))
            })
    };
    // Selections and groupings use the exported `driftwatch_job` label (a
    // bare `job` is the scrape job's name under Prometheus).
    let bare_job = regex::Regex::new(r"(^|[^_a-z])job\s*(=|!=|=~|!~|,|\))").unwrap();
    for e in &exprs {
        assert!(
            !bare_job.is_match(e),
            "dashboard selects on the scrape `job` label: {e}"
        );
        for name in promql_metric_names(e) {
            assert!(
                base(&name),
                "dashboard uses `{name}`, which /metrics does not export\n{text}"
            );
        }
    }
    // Label values the dashboard filters on exist too: `verdict` is the stored
    // verdict (`drifted`, `ok`, `skipped`), never `drift`.
    let verdicts: BTreeSet<String> = parse_metrics(&rendered)
        .into_iter()
        .filter(|(n, _, _)| n == "driftwatch_verdict")
        .filter_map(|(_, labels, _)| {
            let v = labels.split("verdict=\"").nth(1)?;
            Some(v.split('"').next()?.to_string())
        })
        .collect();
    assert!(verdicts.contains("drifted"), "{rendered}");
    for e in &exprs {
        if let Some(v) = e
            .split("verdict=\"")
            .nth(1)
            .and_then(|v| v.split('"').next())
        {
            assert!(
                ["drifted", "ok", "skipped"].contains(&v),
                "dashboard filters on verdict=\"{v}\", which is never exported: {e}"
            );
        }
    }

    // Every panel returns data under a real Prometheus scraping this daemon.
    // This fixture's job has no semantic stage, fires no alert, tracks no
    // answers and its traces carry no feedback, so the coverage, alerts-by-name
    // and agreement/feedback panels have no series here (their metrics are
    // checked above from a snapshot; `incidents::the_demo_scenario_…` runs the
    // store's panels on a semantic job with firing alerts and feedback).
    let empty = crate::prometheus::panels_without_data(d.addr, &exprs, "tick").await;
    let unexpected: Vec<&(String, serde_json::Value)> = empty
        .iter()
        .filter(|(e, _)| {
            !e.contains("driftwatch_coverage_ratio")
                && !e.contains("driftwatch_alerts_by_name")
                && !e.contains("driftwatch_production_rate")
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "panels without data: {unexpected:#?}"
    );

    // SIGHUP with a broken config: refused, the old one keeps running.
    let cfg_path = dir.path().join("d.toml");
    std::fs::write(
        &cfg_path,
        cfg.replace(
            "schedule = \"*/2 * * * * *\"",
            "schedule = \"every now and then\"",
        ),
    )
    .unwrap();
    d.signal("HUP");
    assert!(
        eventually(10, || async { d.log().contains("Config reload refused") }).await,
        "{}",
        d.log()
    );
    assert!(
        d.log().contains("jobs[0].schedule"),
        "the refusal names the key:\n{}",
        d.log()
    );
    let n = runs(&store, "tick").await.len();
    assert!(
        eventually(10, || async { runs(&store, "tick").await.len() > n }).await,
        "the old config stopped running after a refused reload"
    );

    // SIGHUP with a valid config that adds a job: the new job runs.
    let second = "\n[[jobs]]\nname = \"second\"\nschedule = \"*/2 * * * * *\"\nwindow = \"3d\"\nsample_size = 100\ngolden_set = \"g\"\nlanguage_detection = false\nsettle_delay = \"0s\"\n[jobs.semantic]\nenabled = false\n";
    std::fs::write(&cfg_path, format!("{cfg}{second}")).unwrap();
    d.signal("HUP");
    assert!(
        eventually(20, || async { !runs(&store, "second").await.is_empty() }).await,
        "the reloaded job never ran; log:\n{}",
        d.log()
    );
    drain(&sock, &mut notes);
    assert!(notes.iter().any(|n| n.contains("RELOADING=1")), "{notes:?}");

    d.signal("TERM");
    assert!(d.wait(Duration::from_secs(15)).expect("stopped").success());
    drain(&sock, &mut notes);
    assert!(notes.iter().any(|n| n.contains("STOPPING=1")), "{notes:?}");
}

/// A TCP proxy in front of PostgreSQL that can cut every connection and refuse
/// new ones: the store "going away" without disturbing other tests' databases.
struct Outage {
    pub port: u16,
    down: Arc<AtomicBool>,
    cut: tokio::sync::broadcast::Sender<()>,
}

impl Outage {
    async fn start() -> Outage {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let (cut, _) = tokio::sync::broadcast::channel(4);
        let (d, c) = (down.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = l.accept().await {
                if d.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let mut stop = c.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect("127.0.0.1:5432").await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = stop.recv() => {}
                    }
                });
            }
        });
        Outage { port, down, cut }
    }
    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            let _ = self.cut.send(());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_survives_the_store_going_away_and_recovers() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    load(&store).await;
    let proxy = Outage::start().await;
    let proxied = db
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port));
    assert_ne!(
        proxied, db.url,
        "test database URL is not on 127.0.0.1:5432"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut d = Daemon::start(
        dir.path(),
        "d",
        &config(&proxied, free_addr(), "a", ""),
        &[],
    );
    d.ready().await;
    assert!(
        eventually(30, || async { !runs(&store, "tick").await.is_empty() }).await,
        "{}",
        d.log()
    );

    proxy.set_down(true);
    // /readyz reports the outage; the process stays up.
    assert!(
        eventually(20, || async {
            matches!(d.get("/readyz").await, Some((503, ref b)) if b.contains("store unreachable"))
        })
        .await,
        "readyz did not report the outage; log:\n{}",
        d.log()
    );
    tokio::time::sleep(Duration::from_secs(4)).await; // a couple of ticks fail
    assert!(
        d.wait(Duration::ZERO).is_none(),
        "daemon died during the outage:\n{}",
        d.log()
    );
    assert_eq!(d.get("/healthz").await.map(|r| r.0), Some(200));

    let back = chrono::Utc::now();
    proxy.set_down(false);
    assert!(
        eventually(30, || async {
            d.get("/readyz").await.map(|r| r.0) == Some(200)
        })
        .await,
        "readyz did not recover; log:\n{}",
        d.log()
    );
    assert!(
        eventually(30, || async {
            runs(&store, "tick")
                .await
                .iter()
                .any(|r| r.started_at > back && r.status == RunStatus::Succeeded)
        })
        .await,
        "no successful run after the store came back; log:\n{}",
        d.log()
    );
    let mut log = String::new();
    std::fs::File::open(&d.log)
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(
        log.contains("tick skipped") || log.contains("Run failed") || log.contains("failed"),
        "{log}"
    );
}

/// A receiver whose secret cannot be read is refused when the config is loaded:
/// `serve` exits 2 naming it, and a SIGHUP bringing one in is refused while the
/// running config stays in force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_cannot_be_built_refuses_start_and_reload() {
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    load(&store).await;
    let dir = tempfile::tempdir().unwrap();
    let bad_receiver = "\n[alerts.receivers.ops]\nkind = \"slack\"\nwebhook_url_env = \"DRIFTWATCH_TEST_NO_SUCH_WEBHOOK\"\n";

    let mut refused = Daemon::start(
        dir.path(),
        "refused",
        &config(&db.url, free_addr(), "r", bad_receiver),
        &[],
    );
    let status = refused
        .wait(Duration::from_secs(20))
        .expect("a daemon with an unbuildable receiver kept running");
    assert_eq!(status.code(), Some(2), "log:\n{}", refused.log());
    let log = refused.log();
    assert!(log.contains("alerts.receivers.ops"), "{log}");
    assert!(log.contains("DRIFTWATCH_TEST_NO_SUCH_WEBHOOK"), "{log}");

    let good = config(&db.url, free_addr(), "d", "");
    let d = Daemon::start(dir.path(), "d", &good, &[]);
    d.ready().await;
    std::fs::write(dir.path().join("d.toml"), format!("{good}{bad_receiver}")).unwrap();
    d.signal("HUP");
    assert!(
        eventually(10, || async { d.log().contains("Config reload refused") }).await,
        "{}",
        d.log()
    );
    assert!(d.log().contains("alerts.receivers.ops"), "{}", d.log());
    assert_eq!(d.get("/readyz").await.map(|r| r.0), Some(200));
}

/// `serve` on SQLite aborts runs whose process is gone, and leaves alone a run
/// that a live `driftwatch run` is executing; a later CLI run also aborts the
/// runs of a killed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_aborts_only_runs_whose_process_is_gone() {
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    load(&store).await;
    let host = driftwatch::jobs::hostname();
    let live = store
        .start_run_as("tick", Some(&format!("{host}/{}/cli", std::process::id())))
        .await
        .unwrap();
    let killed = store
        .start_run_as("tick", Some(&format!("{host}/4000000000/cli")))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "d", &config(&db.url, free_addr(), "d", ""), &[]);
    d.ready().await;
    let status = |id| {
        let store = store.clone();
        async move { store.get_run(id).await.unwrap().status }
    };
    assert_eq!(status(killed).await, RunStatus::Aborted);
    assert_eq!(
        status(live).await,
        RunStatus::Running,
        "a live CLI run was aborted"
    );
    drop(d);

    // The CLI path: a second killed run is aborted by the next `driftwatch run`.
    let killed2 = store
        .start_run_as("tick", Some(&format!("{host}/4000000001/cli")))
        .await
        .unwrap();
    let cfg = dir.path().join("d.toml");
    crate::common::succeeds(
        Command::new(bin())
            .args(["--config", cfg.to_str().unwrap(), "run", "tick"])
            .env_remove("DRIFTWATCH_DATABASE_URL"),
    );
    assert_eq!(status(killed2).await, RunStatus::Aborted);
    assert_eq!(status(live).await, RunStatus::Running);
}

/// A store that refuses writes (PostgreSQL after a failover to a standby) is
/// not ready, and ingest asks clients to retry rather than losing their batch;
/// both recover once the store takes writes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_store_is_not_ready_and_ingest_asks_to_retry() {
    let db = TestDb::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let d = Daemon::start(dir.path(), "d", &config(&db.url, addr, "ro", ""), &[]);
    d.ready().await;
    assert_eq!(
        d.get("/readyz").await.map(|r| r.0),
        Some(200),
        "{}",
        d.log()
    );
    let ingest = || async {
        let r = reqwest::Client::new()
            .post(format!("http://{addr}/v1/traces"))
            .json(&serde_json::json!([{"id": "ro-1", "input": "hello"}]))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        let retry = r.headers().get("retry-after").is_some();
        (r.status().as_u16(), retry, r.text().await.unwrap())
    };

    db.pg_set_read_only(true).await;
    let (status, body) = d.get("/readyz").await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("read-only"), "{body}");
    let (status, retry, body) = ingest().await;
    assert_eq!((status, retry), (503, true), "{body}");
    assert!(body.contains("read-only"), "{body}");

    db.pg_set_read_only(false).await;
    assert!(
        eventually(10, || async {
            d.get("/readyz").await.map(|r| r.0) == Some(200)
        })
        .await,
        "{}",
        d.log()
    );
    assert_eq!(ingest().await.0, 200);
    assert_eq!(db.store().await.count_traces().await.unwrap(), 1);
}
