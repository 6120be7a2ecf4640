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
//! file: a second one refuses to start ([`lock::SqliteLock`]).

pub mod exposition;
pub mod lock;
pub mod ops;
pub mod signals;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::ConfigErrors;
use crate::embed::EmbedError;
use crate::jobs::Embedders;
use crate::notify::Receiver;
use crate::settings::Settings;
use crate::store::{Backend, Store};
use crate::telemetry::METRICS;
use lock::{holder_id, sqlite_path, SqliteLock};
use ops::{ops_router, OpsState};
use signals::{hangup, notify_systemd, shutdown_signal, spawn_watchdog};

/// Why `serve` did not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is invalid (printed like `check-config` does).
    #[error("{0}")]
    Config(ConfigErrors),
    /// Another daemon holds the SQLite file, or its lock cannot be taken.
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error("refusing to serve ingest without a token on non-loopback address {0}\nset server.token_env or server.token_file")]
    NoToken(SocketAddr),
    #[error("server.bind")]
    Bind(#[source] std::net::AddrParseError),
    #[error("cannot serve on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("job `{job}` has the semantic stage enabled but the embedding model cannot be loaded\nrun scripts/fetch-model.sh (local model), set [embedding], or set [jobs.semantic] enabled = false")]
    Model {
        job: String,
        #[source]
        source: EmbedError,
    },
    #[error("HTTP server task failed: {0}")]
    Task(String),
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
        plan: &Settings,
        receivers: BTreeMap<String, Receiver>,
        embedders: Embedders,
        holder: &Arc<str>,
    ) -> Generation {
        let (stop, rx) = watch::channel(false);
        let jobs: Vec<&str> = plan.jobs.iter().map(|j| j.name.as_str()).collect();
        let sources: Vec<&str> = plan.sources.iter().map(|s| s.name.as_str()).collect();
        METRICS.declare(&jobs, &sources);
        let sender = crate::alert::spawn_sender_with(
            store.clone(),
            receivers,
            plan.cfg.alerts.retry,
            rx.clone(),
        );
        let scheduler = tokio::spawn(crate::jobs::run_scheduler(
            crate::jobs::SchedulerCtx {
                store: store.clone(),
                alerts: plan.alerts.clone(),
                embedders,
                embedding: plan.cfg.embedding.clone(),
                // Checked with the rest of the plan's secrets (`check_secrets`);
                // a key that vanished since turns pre-labelling off, logged.
                ensemble: plan.ensemble().unwrap_or_else(|e| {
                    tracing::error!(message = "Ensemble pre-labelling is off: its config failed.", error = ?e);
                    None
                }),
                holder: holder.clone(),
                lease_ttl: plan.daemon.lease_ttl,
                grace: plan.daemon.shutdown_grace,
            },
            plan.jobs.clone(),
            rx.clone(),
        ));
        let sources = tokio::spawn(crate::sources::run_sources(
            store.clone(),
            plan.sources.clone(),
            holder.clone(),
            plan.daemon.lease_ttl,
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

/// Loads the models the jobs need; reuses those of `current` whose embedding
/// settings did not change.
fn embedders_for(plan: &Settings, current: &Embedders) -> Result<Embedders, ServeError> {
    Embedders::for_jobs(&plan.jobs, &plan.cfg.embedding, &plan.cfg.base_dir, current)
        .map_err(|(job, source)| ServeError::Model { job, source })
}

/// Runs the daemon until SIGTERM/SIGINT.
pub async fn serve(
    store: Store,
    settings: Settings,
    bind: Option<SocketAddr>,
    db_url: &str,
) -> Result<(), ServeError> {
    let cfg = settings.cfg.clone();
    let _lock = match store.backend() {
        // Locked by the file's real path, so a second daemon reaching the same
        // file through a symlink or another relative path is refused too.
        Backend::Sqlite => sqlite_path(db_url)
            .map(|p| SqliteLock::acquire(&std::fs::canonicalize(&p).unwrap_or(p)))
            .transpose()?,
        Backend::Postgres => None,
    };
    let token = match cfg.server.resolve_token(&cfg.base_dir) {
        Ok(t) => t,
        Err(e) => {
            return Err(ServeError::Config(ConfigErrors::new(
                cfg.source_file.clone(),
                vec![e],
            )))
        }
    };
    // The review page (`[review]`); every token is read now, before anything starts.
    let web = match crate::web::from_config(store.clone(), &cfg.review, &cfg.base_dir) {
        Ok(r) => r,
        Err(errs) => {
            return Err(ServeError::Config(ConfigErrors::new(
                cfg.source_file.clone(),
                errs,
            )))
        }
    };
    let addr: SocketAddr = match bind {
        Some(a) => a,
        None => cfg.server.bind.parse().map_err(ServeError::Bind)?,
    };
    if token.is_none() && !addr.ip().is_loopback() {
        return Err(ServeError::NoToken(addr));
    }
    let source_file = cfg.source_file.clone();
    let holder: Arc<str> = Arc::from(holder_id(&cfg.daemon));
    let mut current = settings;
    let receivers = current
        .resolve()
        .map_err(|errs| ServeError::Config(ConfigErrors::new(source_file.clone(), errs)))?;
    // Runs left `running` by a process that is gone. On PostgreSQL a replica
    // taking over an expired lease aborts a crashed holder's runs instead.
    if store.backend() == Backend::Sqlite {
        // We hold the file's lock: no other daemon runs on it, but a CLI
        // `driftwatch run` may; its run is left alone while its process lives.
        match crate::jobs::abort_orphaned_runs(&store, true).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                message = "Marked runs left running by a previous process as aborted.",
                runs = n
            ),
            Err(e) => tracing::error!(message = "Aborting stale runs failed.", error = %e),
        }
    }
    let model_ready = Arc::new(AtomicBool::new(false));
    let mut embedders = embedders_for(&current, &Embedders::default())?;
    model_ready.store(true, Ordering::Relaxed);

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen { addr, source })?;
    let state = crate::http::AppState::new(store.clone(), token, &current.cfg.ingest);
    let router = crate::http::router(state, current.cfg.server.max_body_bytes)
        .merge(ops_router(OpsState {
            store: store.clone(),
            model_ready: model_ready.clone(),
        }))
        .merge(web);
    let (http_stop_tx, mut http_stop_rx) = watch::channel(false);
    let limits = current.cfg.server.limits();
    let server = tokio::spawn(crate::http::serve_on(
        listener,
        router,
        limits,
        async move {
            let _ = http_stop_rx.wait_for(|v| *v).await;
        },
    ));
    tracing::info!(message = "Daemon started.", instance = %holder, jobs = current.jobs.len(), sources = current.sources.len(), store = %store.display_url());

    let mut generation = Generation::start(&store, &current, receivers, embedders.clone(), &holder);
    notify_systemd(&[sd_notify::NotifyState::Ready]);
    spawn_watchdog();

    let mut sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = hangup(&mut sighup) => {
                let Some(path) = source_file.clone() else {
                    tracing::warn!("SIGHUP: no config file to reload (started without one).");
                    continue;
                };
                let loaded = Settings::load_file(&path).map_err(|e| e.to_string()).and_then(|mut s| {
                    let receivers = s.resolve().map_err(|errs| ConfigErrors::new(Some(path.clone()), errs).to_string())?;
                    Ok((s, receivers))
                });
                let (next, next_receivers) = match loaded {
                    Ok(p) => p,
                    Err(why) => {
                        tracing::error!(message = "Config reload refused; the previous config stays in force.", file = %path.display(), errors = %why);
                        continue;
                    }
                };
                let next_embedders = match embedders_for(&next, &embedders) {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::error!(message = "Config reload refused; the previous config stays in force.", error = %crate::text::error_chain(&e));
                        continue;
                    }
                };
                if next.cfg.server != current.cfg.server || next.cfg.ingest != current.cfg.ingest {
                    tracing::warn!("Config reload: [server] and [ingest] changes take effect at restart.");
                }
                notify_systemd(&[sd_notify::NotifyState::Reloading]);
                generation.stop().await;
                current = next;
                embedders = next_embedders;
                generation = Generation::start(&store, &current, next_receivers, embedders.clone(), &holder);
                tracing::info!(message = "Config reloaded.", jobs = current.jobs.len(), sources = current.sources.len());
                notify_systemd(&[sd_notify::NotifyState::Ready]);
            }
        }
    }
    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    generation.stop().await;
    let _ = http_stop_tx.send(true);
    match server.await {
        Ok(r) => r.map_err(|source| ServeError::Listen { addr, source })?,
        Err(e) => return Err(ServeError::Task(e.to_string())),
    }
    tracing::info!("Daemon stopped.");
    Ok(())
}
