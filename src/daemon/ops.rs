//! The operational endpoints: `/readyz` and `/metrics`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::exposition;
use crate::store::Store;

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

/// 200 when the store answers and takes writes and the model (if needed) is
/// loaded; else 503 with the reasons, one per line.
async fn readyz(State(st): State<OpsState>) -> Response {
    let mut problems = Vec::new();
    match tokio::time::timeout(STORE_TIMEOUT, st.store.check_writable()).await {
        Ok(Ok(())) => {}
        Ok(Err(e @ crate::store::StoreError::ReadOnly(_))) => {
            problems.push(format!("store refuses writes: {e}"))
        }
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
