//! Process signals and systemd: SIGTERM/SIGINT, SIGHUP, sd_notify and the watchdog.

pub(super) fn notify_systemd(state: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::debug!(message = "sd_notify failed.", error = %e);
    }
}

/// Pings the systemd watchdog at half its interval while the process is healthy
/// enough to run this task (a wedged runtime stops the pings and systemd restarts us).
pub(super) fn spawn_watchdog() {
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
pub(super) async fn hangup(sig: &mut Option<tokio::signal::unix::Signal>) {
    match sig {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("Shutdown signal received.");
}
