//! The HTTP server of `driftwatch serve`: trace ingest (`POST /v1/traces`) and
//! health. Handlers stay thin: extract, call the ingest mapping and the store,
//! map errors. Auth is a bearer token resolved from env or file at build time.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

mod edge;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request};
use axum::middleware::{self, Next};

use crate::config::{resolve_secret, ConfigDuration, ConfigError, SecretRef, MIN_TOKEN_LEN};
use crate::ingest::{FieldMap, IngestConfig, IngestReport};
use crate::ratelimit::FailureLimiter;
use crate::store::Store;

/// `[server]`: the daemon's HTTP listener.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: String,
    /// Environment variable holding the ingest bearer token.
    pub token_env: Option<String>,
    /// File holding the ingest bearer token.
    pub token_file: Option<PathBuf>,
    /// Accept ingest without a token. Only allowed when `bind` is a loopback address.
    pub allow_unauthenticated: bool,
    /// Largest accepted request body in bytes (larger: 413).
    pub max_body_bytes: usize,
    /// A connection that has not sent a whole request head within this long
    /// (partial headers, or idle between requests) is closed (default `10s`).
    pub header_timeout: ConfigDuration,
    /// A request whose body and handling take longer gets 408 (default `60s`).
    pub request_timeout: ConfigDuration,
    /// Open connections at most; more are closed at accept, so idle or slow
    /// clients cannot use up the process's file descriptors (default 256).
    pub max_connections: usize,
    /// The address people reach this server at (`https://driftwatch.example.com`),
    /// for links in notifications: the run's report (`/runs/ID`) and the review
    /// page. Unset: notifications name the CLI commands instead.
    pub external_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:8080".into(),
            token_env: None,
            token_file: None,
            allow_unauthenticated: false,
            max_body_bytes: 10 << 20,
            header_timeout: ConfigDuration::from_secs(10),
            request_timeout: ConfigDuration::from_secs(60),
            max_connections: 256,
            external_url: None,
        }
    }
}

impl ServerConfig {
    pub fn token_ref(&self) -> SecretRef {
        SecretRef::new(self.token_env.as_ref(), self.token_file.as_ref())
    }

    pub fn check(&self, at: &str) -> Result<(), Vec<ConfigError>> {
        let mut errs = Vec::new();
        match self.bind.parse::<SocketAddr>() {
            Err(e) => errs.push(ConfigError::new(
                format!("{at}.bind"),
                format!(
                    "must be HOST:PORT with an IP address, got `{}`: {e}",
                    self.bind
                ),
            )),
            Ok(addr) => {
                if self.allow_unauthenticated && !addr.ip().is_loopback() {
                    errs.push(ConfigError::new(
                        format!("{at}.allow_unauthenticated"),
                        format!("only allowed on a loopback address, bind is {addr}"),
                    ));
                }
            }
        }
        if let Some(e) = self.token_ref().validate(&format!("{at}.token")) {
            errs.push(e);
        }
        if self.header_timeout.0 < Duration::from_millis(100) {
            errs.push(ConfigError::new(
                format!("{at}.header_timeout"),
                format!("must be at least 100ms, got {}", self.header_timeout),
            ));
        }
        if self.request_timeout.0 < Duration::from_millis(100) {
            errs.push(ConfigError::new(
                format!("{at}.request_timeout"),
                format!("must be at least 100ms, got {}", self.request_timeout),
            ));
        }
        if self.max_connections < 4 {
            errs.push(ConfigError::new(
                format!("{at}.max_connections"),
                format!("must be at least 4, got {}", self.max_connections),
            ));
        }
        if let Some(u) = &self.external_url {
            if let Err(why) = crate::config::check_http_url(u) {
                errs.push(ConfigError::new(format!("{at}.external_url"), why));
            }
        }
        if self.max_body_bytes < 1024 {
            errs.push(ConfigError::new(
                format!("{at}.max_body_bytes"),
                format!("must be at least 1024, got {}", self.max_body_bytes),
            ));
        }
        crate::config::checked(errs)
    }

    /// Resolves the token; refuses to run open unless explicitly allowed on loopback.
    pub fn resolve_token(&self, base_dir: &std::path::Path) -> Result<Option<String>, ConfigError> {
        let token = resolve_secret("server.token", &self.token_ref(), base_dir)?;
        if token
            .as_ref()
            .is_some_and(|t| t.chars().count() < MIN_TOKEN_LEN)
        {
            return Err(ConfigError::new(
                "server.token",
                format!("token is too short: at least {MIN_TOKEN_LEN} characters"),
            ));
        }
        if token.is_none() && !self.allow_unauthenticated {
            return Err(ConfigError::new(
                "server.token",
                "no ingest token: set server.token_env or server.token_file \
                 (or allow_unauthenticated = true on a loopback bind)",
            ));
        }
        Ok(token)
    }

    /// The limits of the HTTP edge.
    pub fn limits(&self) -> Limits {
        Limits {
            header_timeout: self.header_timeout.0,
            request_timeout: self.request_timeout.0,
            max_connections: self.max_connections,
        }
    }
}

/// Failed bearer tokens a client address may send per [`FAILURE_WINDOW`].
pub const MAX_FAILURES: u32 = 10;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub token: Option<Arc<str>>,
    pub map: Arc<FieldMap>,
    /// OTLP spans become records in the default field names, with the
    /// configured size caps.
    pub otlp_map: Arc<FieldMap>,
    pub otlp: Arc<crate::ingest::otlp::OtlpConfig>,
    /// Largest accepted body (also the limit on a gzip body decompressed).
    pub max_body_bytes: usize,
    /// Client addresses that sent too many wrong tokens.
    pub failures: Arc<FailureLimiter>,
}

impl AppState {
    pub fn new(store: Store, token: Option<String>, ingest: &IngestConfig) -> AppState {
        AppState {
            store,
            token: token.map(Arc::from),
            map: Arc::new(FieldMap::new(ingest)),
            otlp_map: Arc::new(FieldMap::new(&IngestConfig {
                max_text_bytes: ingest.max_text_bytes,
                ..IngestConfig::default()
            })),
            otlp: Arc::new(ingest.otlp.clone()),
            max_body_bytes: usize::MAX,
            failures: Arc::new(FailureLimiter::new(MAX_FAILURES, FAILURE_WINDOW)),
        }
    }
}

/// The router: `/healthz` and `/v1/traces`. The token is checked before the
/// body is read ([`require_token`]), so an unauthenticated client gets 401 and
/// costs no memory whatever it sends.
pub fn router(mut state: AppState, max_body_bytes: usize) -> Router {
    state.max_body_bytes = max_body_bytes;
    Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/v1/traces",
            post(post_traces)
                .route_layer(middleware::from_fn_with_state(state.clone(), require_token)),
        )
        .route(
            "/v1/otlp/traces",
            post(post_otlp_traces)
                .route_layer(middleware::from_fn_with_state(state.clone(), require_token)),
        )
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// The client address of a request served by [`serve_on`] (`None` elsewhere).
pub fn client_addr(ext: &axum::http::Extensions) -> Option<IpAddr> {
    ext.get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())
}

/// 401 for a missing or wrong bearer token before the body is read; 429 for an
/// address that sent [`MAX_FAILURES`] wrong ones in the last minute. Failures are
/// logged with the client address.
async fn require_token(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let Some(expected) = st.token.as_deref() else {
        // Open ingest (loopback only): a web page the operator visits must not be
        // able to post traces. Browsers send cross-site `text/plain`, form and
        // multipart bodies without asking; a JSON content type needs a CORS
        // preflight this server never grants, and a foreign Origin is refused.
        if let Some(refusal) = cross_site_refusal(req.headers()) {
            tracing::warn!(message = "Open ingest refused a cross-site request.", client = %client_addr(req.extensions()).map_or_else(|| "?".to_string(), |a| a.to_string()));
            return refusal;
        }
        return next.run(req).await;
    };
    let addr = client_addr(req.extensions());
    let now = Instant::now();
    if let Some(a) = addr.filter(|a| st.failures.is_blocked(*a, now)) {
        tracing::warn!(message = "Ingest refused: too many wrong tokens from this address.", client = %a);
        return too_many();
    }
    if check_bearer(req.headers(), Some(expected)) {
        return next.run(req).await;
    }
    let failures = addr.map(|a| st.failures.fail(a, now));
    tracing::warn!(
        message = "Ingest refused: missing or wrong bearer token.",
        client = %addr.map_or_else(|| "?".to_string(), |a| a.to_string()),
        failures
    );
    unauthorized()
}

/// 415 unless the body is declared JSON or NDJSON; 403 for an Origin header
/// that is not this server's own host.
fn cross_site_refusal(headers: &HeaderMap) -> Option<Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    // A protobuf body (OTLP) is no simple request either: it needs a preflight.
    if !matches!(
        media.as_str(),
        "application/json" | "application/x-ndjson" | "application/x-protobuf"
    ) {
        return Some(
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Json(json!({"error": "Content-Type must be application/json or application/x-ndjson"})),
            )
                .into_response(),
        );
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if let Some(origin) = origin {
        let same = host
            .is_some_and(|h| origin == format!("http://{h}") || origin == format!("https://{h}"));
        if !same {
            return Some(
                (
                    StatusCode::FORBIDDEN,
                    Json(json!({"error": "cross-origin ingest refused"})),
                )
                    .into_response(),
            );
        }
    }
    None
}

fn too_many() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, FAILURE_WINDOW.as_secs().to_string())],
        Json(json!({"error": "too many wrong tokens from this address; retry later"})),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(json!({"error": "missing or wrong bearer token"})),
    )
        .into_response()
}

/// Constant-time comparison so the token cannot be guessed byte by byte.
fn token_matches(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn check_bearer(headers: &HeaderMap, token: Option<&str>) -> bool {
    let Some(expected) = token else { return true };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| token_matches(given.trim(), expected))
}

/// `POST /v1/traces`: a JSON array of records, one JSON object, or NDJSON.
/// 200 when all were stored (or duplicates), 207 when some were rejected,
/// 400 when none was valid; the body is an [`IngestReport`].
async fn post_traces(State(st): State<AppState>, body: Bytes) -> Response {
    let mut report = IngestReport::default();
    let mut traces = Vec::new();
    let mut push = |report: &mut IngestReport, idx: u64, v: Result<Value, String>| {
        report.read += 1;
        match v.and_then(|v| st.map.to_trace(&v, "http")) {
            Ok(t) => traces.push(t),
            Err(reason) => report.reject(idx, reason),
        }
    };
    let text = match std::str::from_utf8(&body) {
        Ok(t) => t,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": format!("body is not UTF-8 (byte {})", e.valid_up_to())})),
            )
                .into_response()
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => {
            for (i, v) in items.into_iter().enumerate() {
                push(&mut report, i as u64 + 1, Ok(v));
            }
        }
        Ok(v @ Value::Object(_)) => push(&mut report, 1, Ok(v)),
        _ => {
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let v =
                    serde_json::from_str::<Value>(line).map_err(|e| format!("malformed JSON: {e}"));
                push(&mut report, i as u64 + 1, v);
            }
        }
    }
    match st.store.insert_traces(&traces).await {
        Ok(s) => {
            report.add(&s);
            crate::telemetry::METRICS.ingest("http", s.stored, report.rejected);
        }
        Err(e) if e.is_transient() => {
            tracing::error!(message = "Storing ingested traces failed; the client may retry.", error = %e);
            let why = match e {
                crate::store::StoreError::ReadOnly(_) => "the store is read-only; retry later",
                _ => "the store is unavailable; retry later",
            };
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(axum::http::header::RETRY_AFTER, "30")],
                Json(json!({ "error": why })),
            )
                .into_response();
        }
        Err(e) => {
            // Retrying the same batch would fail the same way: say so.
            tracing::error!(message = "Storing ingested traces failed.", error = %e);
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": format!("the batch could not be stored: {e}") })),
            )
                .into_response();
        }
    }
    let status = if report.rejected == 0 {
        StatusCode::OK
    } else if traces.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::MULTI_STATUS
    };
    (status, Json(report)).into_response()
}

/// `POST /v1/otlp/traces`: an OpenTelemetry exporter's
/// `ExportTraceServiceRequest` (`application/x-protobuf` or `application/json`,
/// `Content-Encoding: gzip` or not). Spans that carry LLM I/O are stored as
/// traces (see [`crate::ingest::otlp`]); the answer is an
/// `ExportTraceServiceResponse` in the request's encoding, whose
/// `partial_success` counts the spans refused and says why. Spans without LLM
/// I/O are skipped and counted in the log, not refused.
async fn post_otlp_traces(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    use crate::ingest::otlp;
    let header = |h: header::HeaderName| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let Some(enc) = otlp::Encoding::from_content_type(&header(header::CONTENT_TYPE)) else {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Json(
                json!({"error": "Content-Type must be application/x-protobuf or application/json"}),
            ),
        )
            .into_response();
    };
    let gzip = header(header::CONTENT_ENCODING) == "gzip";
    let reply = |status: StatusCode, rejected: i64, message: &str| {
        (
            status,
            [(header::CONTENT_TYPE, enc.content_type())],
            otlp::response(enc, rejected, message),
        )
            .into_response()
    };
    let req = match otlp::decode(&body, enc, gzip, st.max_body_bytes) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response(),
    };
    let spans = otlp::span_records(&req, &st.otlp);
    let mut traces = Vec::new();
    let mut refused = Vec::new();
    for r in &spans.records {
        match st.otlp_map.to_trace(r, "otlp") {
            Ok(t) => traces.push(t),
            Err(reason) => refused.push(format!(
                "span {}: {reason}",
                r["id"].as_str().unwrap_or("?")
            )),
        }
    }
    match st.store.insert_traces(&traces).await {
        Ok(s) => {
            crate::telemetry::METRICS.ingest("otlp", s.stored, refused.len() as u64);
            tracing::debug!(
                message = "OTLP spans ingested.",
                stored = s.stored,
                duplicates = s.duplicates,
                refused = refused.len(),
                skipped_non_llm = spans.skipped
            );
        }
        Err(e) if e.is_transient() => {
            tracing::error!(message = "Storing OTLP spans failed; the exporter may retry.", error = %e);
            // OTLP/HTTP: 503 is retryable for exporters.
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "30")],
                Json(json!({ "error": "the store is unavailable; retry later" })),
            )
                .into_response();
        }
        Err(e) => {
            tracing::error!(message = "Storing OTLP spans failed.", error = %e);
            return reply(
                StatusCode::OK,
                spans.records.len() as i64,
                &format!("the spans could not be stored: {e}"),
            );
        }
    }
    let message = refused.first().cloned().unwrap_or_default();
    reply(StatusCode::OK, refused.len() as i64, &message)
}

/// Binds and serves until `shutdown` resolves.
pub async fn serve(
    router: Router,
    addr: SocketAddr,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_on(listener, router, limits, shutdown).await
}

pub use edge::{serve_on, Limits};
