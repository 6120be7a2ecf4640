//! `driftwatch serve`: the long-running daemon.
//!
//! One process serves HTTP (ingest, `/healthz`, `/readyz`, `/metrics`) for its
//! whole life, and runs a *generation* of workers built from the config: the
//! scheduler (jobs on cron), the source pollers and the alert sender. SIGHUP
//! loads the config again; a valid one replaces the generation (the old one
//! finishes its runs first), an invalid one is logged and the old one keeps
//! running. SIGTERM/SIGINT stop scheduling, give a run in flight
//! `shutdown_grace` to finish (else it is marked aborted), and flush the sender.
//! systemd is told READY, RELOADING, STOPPING and, when `WatchdogSec=` is set,
//! pinged at half the watchdog interval.
//!
//! Replicas: on PostgreSQL several daemons share the database and coordinate
//! through leases (see `Store::claim_lease`). On SQLite one daemon owns the
//! file: a second one refuses to start ([`SqliteLock`]).

pub mod exposition;

use crate::telemetry::METRICS;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tokio::sync::watch;

use crate::config::{Config, ConfigError, ConfigErrors};
use crate::jobs::{JobSpec, SharedEmbedder};
use crate::sources::SourceSpec;
use crate::store::{Backend, Store};

/// `[daemon]`: how `driftwatch serve` runs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// How long a replica's claim on a job tick or source poll lasts without
    /// renewal; a crashed holder's work is taken over after this (default "60s").
    pub lease_ttl: String,
    /// How long a run in flight at shutdown or reload may take to finish (default "30s").
    pub shutdown_grace: String,
    /// Name of this replica in leases and runs (default host/pid/random).
    pub instance: Option<String>,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            lease_ttl: "60s".into(),
            shutdown_grace: "30s".into(),
            instance: None,
        }
    }
}

/// `[daemon]` checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DaemonSettings {
    pub lease_ttl: Duration,
    pub shutdown_grace: Duration,
}

impl DaemonConfig {
    pub fn check(&self, at: &str) -> Result<DaemonSettings, Vec<ConfigError>> {
        let mut errs = Vec::new();
        let mut dur = |k: &str, v: &str, min: Duration| match humantime::parse_duration(v) {
            Ok(d) if d >= min => Some(d),
            Ok(_) => {
                errs.push(ConfigError::new(
                    format!("{at}.{k}"),
                    format!(
                        "must be at least {}, got `{v}`",
                        humantime::format_duration(min)
                    ),
                ));
                None
            }
            Err(e) => {
                errs.push(ConfigError::new(
                    format!("{at}.{k}"),
                    format!("invalid duration `{v}`: {e}"),
                ));
                None
            }
        };
        let lease_ttl = dur("lease_ttl", &self.lease_ttl, Duration::from_secs(1));
        let shutdown_grace = dur("shutdown_grace", &self.shutdown_grace, Duration::ZERO);
        match (lease_ttl, shutdown_grace) {
            (Some(lease_ttl), Some(shutdown_grace)) if errs.is_empty() => Ok(DaemonSettings {
                lease_ttl,
                shutdown_grace,
            }),
            _ => Err(errs),
        }
    }
}

/// This process's name in leases and runs: `host/pid/random`.
pub fn holder_id(cfg: &DaemonConfig) -> String {
    if let Some(i) = &cfg.instance {
        return i.clone();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    format!(
        "{host}/{}/{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}

/// An exclusive lock on `<database>.lock`, held for the daemon's life, so a
/// second daemon on the same SQLite file refuses to start.
#[derive(Debug)]
pub struct SqliteLock {
    _file: std::fs::File,
    pub path: PathBuf,
}

/// The database file of a `sqlite://` URL.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

impl SqliteLock {
    pub fn acquire(db: &Path) -> Result<SqliteLock> {
        let path = PathBuf::from(format!("{}.lock", db.display()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {
                use std::io::Write;
                let _ = file.set_len(0);
                let _ = (&file).write_all(format!("{}\n", std::process::id()).as_bytes());
                Ok(SqliteLock { _file: file, path })
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let pid = std::fs::read_to_string(&path).unwrap_or_default();
                bail!(
                    "another driftwatch daemon (pid {}) is serving {}\nSQLite allows one daemon per database file; stop it, or use PostgreSQL to run replicas",
                    pid.trim(),
                    db.display()
                )
            }
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
    }
}

/// State of the operational endpoints.
#[derive(Clone)]
pub struct OpsState {
    pub store: Store,
    /// False while a job needs the model and it is not loaded.
    pub model_ready: Arc<AtomicBool>,
}

/// `/readyz` and `/metrics`.
pub fn ops_router(state: OpsState) -> Router {
    Router::new()
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .with_state(state)
}

const STORE_TIMEOUT: Duration = Duration::from_secs(3);

/// 200 when the store answers and the model (if needed) is loaded; else 503
/// with the reasons, one per line.
async fn readyz(State(st): State<OpsState>) -> Response {
    let mut problems = Vec::new();
    match tokio::time::timeout(STORE_TIMEOUT, st.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => problems.push(format!("store unreachable: {e}")),
        Err(_) => problems.push("store unreachable: no answer within 3s".to_string()),
    }
    if !st.model_ready.load(Ordering::Relaxed) {
        problems.push("embedding model not loaded".to_string());
    }
    if problems.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready\n{}\n", problems.join("\n")),
        )
            .into_response()
    }
}

async fn metrics_handler(State(st): State<OpsState>) -> Response {
    let snapshot = match tokio::time::timeout(STORE_TIMEOUT, st.store.metrics_snapshot()).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::warn!(message = "Metrics: store query failed.", error = %e);
            None
        }
        Err(_) => None,
    };
    let health = exposition::Health {
        store_up: snapshot.is_some(),
        model_ready: st.model_ready.load(Ordering::Relaxed),
    };
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        exposition::render(snapshot.as_ref(), &health),
    )
        .into_response()
}

/// Everything the workers need, checked: built at start and at each reload.
struct Plan {
    cfg: Arc<Config>,
    jobs: Vec<JobSpec>,
    sources: Vec<SourceSpec>,
    settings: DaemonSettings,
}

fn plan(cfg: Config) -> Result<Plan, Vec<ConfigError>> {
    let mut errs = Vec::new();
    let jobs = cfg.job_specs().map_err(|e| errs.extend(e)).ok();
    let sources = match crate::sources::check_all(&cfg.sources, &cfg.ingest, &cfg.base_dir) {
        Ok(mut s) => match crate::sources::resolve(&mut s, &cfg.base_dir) {
            Ok(()) => Some(s),
            Err(e) => {
                errs.extend(e);
                None
            }
        },
        Err(e) => {
            errs.extend(e);
            None
        }
    };
    let settings = cfg.daemon.check("daemon").map_err(|e| errs.extend(e)).ok();
    match (jobs, sources, settings) {
        (Some(jobs), Some(sources), Some(settings)) if errs.is_empty() => Ok(Plan {
            cfg: Arc::new(cfg),
            jobs,
            sources,
            settings,
        }),
        _ => Err(errs),
    }
}

/// The running workers of one config generation.
struct Generation {
    stop: watch::Sender<bool>,
    scheduler: tokio::task::JoinHandle<()>,
    sources: tokio::task::JoinHandle<()>,
    sender: tokio::task::JoinHandle<()>,
}

impl Generation {
    fn start(
        store: &Store,
        plan: &Plan,
        embedder: Option<SharedEmbedder>,
        holder: &Arc<str>,
    ) -> Generation {
        let (stop, rx) = watch::channel(false);
        let jobs: Vec<&str> = plan.jobs.iter().map(|j| j.name.as_str()).collect();
        let sources: Vec<&str> = plan.sources.iter().map(|s| s.name.as_str()).collect();
        METRICS.declare(&jobs, &sources);
        let sender = crate::alert::spawn_sender(
            store.clone(),
            &plan.cfg.alerts,
            &plan.cfg.base_dir,
            rx.clone(),
        );
        let scheduler = tokio::spawn(crate::jobs::run_scheduler(
            crate::jobs::SchedulerCtx {
                store: store.clone(),
                cfg: plan.cfg.clone(),
                embedder,
                holder: holder.clone(),
                lease_ttl: plan.settings.lease_ttl,
                grace: plan.settings.shutdown_grace,
            },
            plan.jobs.clone(),
            rx.clone(),
        ));
        let sources = tokio::spawn(crate::sources::run_sources(
            store.clone(),
            plan.sources.clone(),
            holder.clone(),
            plan.settings.lease_ttl,
            rx,
        ));
        Generation {
            stop,
            scheduler,
            sources,
            sender,
        }
    }

    /// Stops scheduling and polling, waits for runs in flight (their grace) and
    /// for the sender to flush its claimed rows.
    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.scheduler.await;
        let _ = self.sources.await;
        let _ = self.sender.await;
    }
}

/// Loads the model when a job needs it; reuses `current` when the embedding
/// settings did not change.
fn embedder_for(
    plan: &Plan,
    current: Option<(crate::embed::EmbedConfig, SharedEmbedder)>,
) -> Result<Option<(crate::embed::EmbedConfig, SharedEmbedder)>> {
    let Some(s) = plan.jobs.iter().find(|s| s.semantic.enabled) else {
        return Ok(None);
    };
    if let Some((c, e)) = current {
        if c == plan.cfg.embedding {
            return Ok(Some((c, e)));
        }
    }
    let e = SharedEmbedder::build(&plan.cfg.embedding, &plan.cfg.base_dir).with_context(|| {
        format!(
            "job `{}` has the semantic stage enabled but the embedding model cannot be loaded\nrun scripts/fetch-model.sh (local model), set [embedding], or set [jobs.semantic] enabled = false",
            s.name
        )
    })?;
    Ok(Some((plan.cfg.embedding.clone(), e)))
}

fn notify_systemd(state: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::debug!(message = "sd_notify failed.", error = %e);
    }
}

/// Pings the systemd watchdog at half its interval while the process is healthy
/// enough to run this task (a wedged runtime stops the pings and systemd restarts us).
fn spawn_watchdog() {
    if let Some(every) = sd_notify::watchdog_enabled() {
        tracing::info!(message = "systemd watchdog enabled.", interval = ?every);
        tokio::spawn(async move {
            let mut t = tokio::time::interval(every / 2);
            loop {
                t.tick().await;
                // The datagram send blocks when the receiver lags: keep it off the
                // runtime's worker threads.
                let _ = tokio::task::spawn_blocking(|| {
                    notify_systemd(&[sd_notify::NotifyState::Watchdog])
                })
                .await;
            }
        });
    }
}

/// Resolves on SIGHUP (never on platforms without it).
async fn hangup(sig: &mut Option<tokio::signal::unix::Signal>) {
    match sig {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Runs the daemon until SIGTERM/SIGINT.
pub async fn serve(
    store: Store,
    cfg: Config,
    bind: Option<SocketAddr>,
    db_url: &str,
) -> Result<ExitCode> {
    let _lock = match store.backend() {
        Backend::Sqlite => sqlite_path(db_url)
            .map(|p| SqliteLock::acquire(&p))
            .transpose()?,
        Backend::Postgres => None,
    };
    let token = match cfg.server.resolve_token(&cfg.base_dir) {
        Ok(t) => t,
        Err(e) => {
            return Ok(crate::cli::config_failure(ConfigErrors::new(
                cfg.source_file.clone(),
                vec![e],
            )))
        }
    };
    // The review page (`[review]`); every token is read now, before anything starts.
    let web = match crate::web::from_config(store.clone(), &cfg) {
        Ok(r) => r,
        Err(errs) => return Ok(crate::cli::config_failure(errs)),
    };
    let addr: SocketAddr = match bind {
        Some(a) => a,
        None => cfg.server.bind.parse().context("server.bind")?,
    };
    if token.is_none() && !addr.ip().is_loopback() {
        bail!("refusing to serve ingest without a token on non-loopback address {addr}\nset server.token_env or server.token_file");
    }
    let source_file = cfg.source_file.clone();
    let holder: Arc<str> = Arc::from(holder_id(&cfg.daemon));
    let mut current = match plan(cfg) {
        Ok(p) => p,
        Err(errs) => {
            return Ok(crate::cli::config_failure(ConfigErrors::new(
                source_file,
                errs,
            )))
        }
    };
    // Runs left `running` by a previous process on this SQLite file (we hold its
    // lock, so none is in flight). On PostgreSQL a replica taking over an expired
    // lease aborts the crashed holder's runs instead.
    if store.backend() == Backend::Sqlite {
        match store
            .abort_stale_runs(chrono::Utc::now().timestamp_millis())
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                message = "Marked runs left running by a previous process as aborted.",
                runs = n
            ),
            Err(e) => tracing::error!(message = "Aborting stale runs failed.", error = %e),
        }
    }
    let model_ready = Arc::new(AtomicBool::new(false));
    let mut embedder = embedder_for(&current, None)?;
    model_ready.store(true, Ordering::Relaxed);

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot serve on {addr}"))?;
    let state = crate::http::AppState::new(store.clone(), token, &current.cfg.ingest);
    let router = crate::http::router(state, current.cfg.server.max_body_bytes)
        .merge(ops_router(OpsState {
            store: store.clone(),
            model_ready: model_ready.clone(),
        }))
        .merge(web);
    let (http_stop_tx, mut http_stop_rx) = watch::channel(false);
    let server = tokio::spawn(crate::http::serve_on(listener, router, async move {
        let _ = http_stop_rx.wait_for(|v| *v).await;
    }));
    tracing::info!(message = "Daemon started.", instance = %holder, jobs = current.jobs.len(), sources = current.sources.len(), store = %store.display_url());

    let mut generation = Generation::start(
        &store,
        &current,
        embedder.as_ref().map(|(_, e)| e.clone()),
        &holder,
    );
    notify_systemd(&[sd_notify::NotifyState::Ready]);
    spawn_watchdog();

    let mut sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let shutdown = crate::cli::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = hangup(&mut sighup) => {
                let Some(path) = source_file.clone() else {
                    tracing::warn!("SIGHUP: no config file to reload (started without one).");
                    continue;
                };
                let loaded = Config::load_file(&path).map_err(|e| e.to_string()).and_then(|c| {
                    plan(c).map_err(|errs| ConfigErrors::new(Some(path.clone()), errs).to_string())
                });
                let next = match loaded {
                    Ok(p) => p,
                    Err(why) => {
                        tracing::error!(message = "Config reload refused; the previous config stays in force.", file = %path.display(), errors = %why);
                        continue;
                    }
                };
                let next_embedder = match embedder_for(&next, embedder.clone()) {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::error!(message = "Config reload refused; the previous config stays in force.", error = %format!("{e:#}"));
                        continue;
                    }
                };
                if next.cfg.server != current.cfg.server || next.cfg.ingest != current.cfg.ingest {
                    tracing::warn!("Config reload: [server] and [ingest] changes take effect at restart.");
                }
                notify_systemd(&[sd_notify::NotifyState::Reloading]);
                generation.stop().await;
                current = next;
                embedder = next_embedder;
                generation = Generation::start(&store, &current, embedder.as_ref().map(|(_, e)| e.clone()), &holder);
                tracing::info!(message = "Config reloaded.", jobs = current.jobs.len(), sources = current.sources.len());
                notify_systemd(&[sd_notify::NotifyState::Ready]);
            }
        }
    }
    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    generation.stop().await;
    let _ = http_stop_tx.send(true);
    match server.await {
        Ok(r) => r.with_context(|| format!("cannot serve on {addr}"))?,
        Err(e) => bail!("HTTP server task failed: {e}"),
    }
    tracing::info!("Daemon stopped.");
    Ok(ExitCode::SUCCESS)
}
