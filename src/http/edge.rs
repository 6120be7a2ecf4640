//! The HTTP edge: our own accept loop over hyper's HTTP/1 connections, because
//! `axum::serve` sets no timeouts and accepts without bound.
//!
//! - **Connection cap**: at most `max_connections` connections are open; one more
//!   is closed at accept, so idle or slow clients cannot use up the process's
//!   file descriptors (the listener keeps accepting, `/healthz` answers as soon as
//!   a slot frees).
//! - **Header-read timeout**: hyper closes a connection that has not sent a whole
//!   request head within `header_timeout`; the timer also runs while a kept-alive
//!   connection waits for its next request, so it is the idle timeout too.
//! - **Request timeout**: a request whose body and handling take longer than
//!   `request_timeout` gets 408 (tower-http's `TimeoutLayer`), which bounds a
//!   slow or stalled body.
//! - Each request carries the peer's [`ConnectInfo`], for logs and rate limits.
//! - On shutdown the loop stops accepting and every connection finishes its
//!   request in flight (hyper's graceful shutdown), for at most `request_timeout`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;
use tower_http::timeout::TimeoutLayer;

/// How the edge bounds clients (`[server]` `header_timeout`, `request_timeout`,
/// `max_connections`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
}

impl Default for Limits {
    /// The `[server]` defaults (one place for them: `ServerConfig::default`).
    fn default() -> Self {
        super::ServerConfig::default().limits()
    }
}

/// Serves `router` on an already bound listener until `shutdown` resolves.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(message = "Listening.", addr = %listener.local_addr()?, max_connections = limits.max_connections);
    let router = router.layer(TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        limits.request_timeout,
    ));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(message = "Accepting a connection failed.", error = %e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            // Reap finished connections as we go.
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(message = "Connection refused: too many open connections.", client = %peer, max_connections = limits.max_connections);
            drop(stream);
            continue;
        };
        let router = router.clone();
        let mut stop = stop_rx.clone();
        conns.spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                router.clone().oneshot(req)
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(message = "Connection ended with an error.", client = %peer, error = %e);
                    }
                }
                _ = async { let _ = stop.wait_for(|v| *v).await; } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(limits.request_timeout, conn).await;
                }
            }
        });
    }
    let _ = stop_tx.send(true);
    while conns.join_next().await.is_some() {}
    Ok(())
}
