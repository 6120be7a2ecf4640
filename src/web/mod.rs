//! The review page `driftwatch serve` serves next to ingest: `/review` (gap
//! clusters and proposals, accept / reject, bulk per cluster), `/runs` and
//! `/runs/ID` (the HTML report). Server-rendered HTML with plain forms; a small
//! script adds keyboard shortcuts.
//!
//! Handlers are thin: check the session (and the CSRF token on POST), call the
//! same functions the CLI calls (`review::accept`, `review::reject`,
//! `review::detail`, `report::render`), render. Who may do what comes from
//! `[review]` (see [`ReviewConfig`]); without any account every page answers 404.

mod auth;
mod cards;
mod config;
mod exclusions;
mod gaps;
mod pages;
mod review;
mod runs;

use std::path::Path;
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Extension;
use axum::Router;
use serde::Deserialize;

pub use auth::{ct_eq, Session};
pub use config::{Account, AccountConfig, ReviewConfig, Role, MIN_TOKEN_LEN};

use crate::config::ConfigError;
use crate::notify::ExamplesPolicy;
use crate::ratelimit::FailureLimiter;
use crate::store::Store;
use auth::Auth;
use pages::message;

/// State shared by the page handlers.
#[derive(Clone)]
pub struct WebState {
    store: Store,
    auth: Arc<Auth>,
    /// Client addresses that sent too many unknown tokens to `/login`.
    failures: Arc<FailureLimiter>,
    /// What viewer sessions see of example texts (`[review] viewer_examples`).
    viewer_examples: ExamplesPolicy,
}

impl WebState {
    /// A state with these accounts; no accounts means the pages are disabled.
    pub fn new(
        store: Store,
        accounts: Vec<Account>,
        session_ttl: std::time::Duration,
        secure_cookie: bool,
    ) -> WebState {
        WebState {
            store,
            auth: Arc::new(Auth::new(accounts, session_ttl, secure_cookie)),
            failures: Arc::new(FailureLimiter::new(
                MAX_LOGIN_FAILURES,
                std::time::Duration::from_secs(60),
            )),
            viewer_examples: ExamplesPolicy::default(),
        }
    }

    /// The same state with viewers shown example texts under `policy`.
    pub fn with_viewer_examples(mut self, policy: ExamplesPolicy) -> WebState {
        self.viewer_examples = policy;
        self
    }

    /// What `s` may see of example texts: in full for a reviewer.
    fn examples_for(&self, s: &Session) -> ExamplesPolicy {
        if s.can_decide() {
            ExamplesPolicy::Full
        } else {
            self.viewer_examples
        }
    }

    /// The state `[review]` describes, reading every token now (paths relative
    /// to `base_dir`).
    pub fn from_config(
        store: Store,
        review: &ReviewConfig,
        base_dir: &Path,
    ) -> Result<WebState, Vec<ConfigError>> {
        let accounts = review.resolve(base_dir)?;
        let ttl = review
            .ttl()
            .map_err(|e| vec![ConfigError::new("review.session_ttl", e)])?;
        Ok(WebState::new(store, accounts, ttl, review.secure_cookie)
            .with_viewer_examples(review.viewer_examples))
    }
}

/// The page routes, ready to `.merge` into the server's router.
pub fn router(state: WebState) -> Router {
    if !state.auth.enabled() {
        return Router::new()
            .route("/login", any(disabled))
            .route("/review", any(disabled))
            .route("/review/{*rest}", any(disabled))
            .route("/runs", any(disabled))
            .route("/runs/{*rest}", any(disabled));
    }
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/review", get(review::index))
        .route("/review/app.js", get(app_js))
        .route("/review/proposals/{id}", get(review::show))
        .route("/review/proposals/{id}/accept", post(review::accept_one))
        .route("/review/proposals/{id}/reject", post(review::reject_one))
        .route("/review/proposals/{id}/skip", post(review::skip_one))
        .route("/review/ensemble/accept", post(review::accept_ensemble))
        .route("/review/proposals/{id}/reopen", post(review::reopen_one))
        .route("/review/clusters/accept", post(review::accept_cluster))
        .route("/review/clusters/reject", post(review::reject_cluster))
        .route(
            "/review/exclusions",
            get(exclusions::index).post(exclusions::exclude),
        )
        .route("/review/exclusions/{id}/lift", post(exclusions::lift))
        .route("/runs", get(runs::index))
        .route("/runs/{id}", get(runs::show))
        .layer(DefaultBodyLimit::max(1 << 20))
        .with_state(state)
}

/// `[review]` resolved into the page routes.
pub fn from_config(
    store: Store,
    review: &ReviewConfig,
    base_dir: &Path,
) -> Result<Router, Vec<ConfigError>> {
    Ok(router(WebState::from_config(store, review, base_dir)?))
}

async fn disabled() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Review page disabled",
        "The review page is off: add reviewers (and viewers) with their tokens to [review] in the config file.",
        None,
        None,
    )
}

async fn app_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        pages::APP_JS,
    )
        .into_response()
}

/// The session of a page view, or a redirect to sign-in that comes back here.
// The Err is the response the handler returns at once; boxing it buys nothing.
#[allow(clippy::result_large_err)]
fn require_view(st: &WebState, headers: &HeaderMap, uri: &Uri) -> Result<Session, Response> {
    match st.auth.session(headers) {
        Some(s) => Ok(s),
        None => {
            let here = uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/review");
            Err(pages::see_other(
                &format!("/login?next={}", crate::html::qv(here)),
                None,
            ))
        }
    }
}

/// The session of an action: 401 without one, 403 when the CSRF token is
/// missing or wrong, the origin is foreign, or the session is read-only.
#[allow(clippy::result_large_err)]
fn require_action(st: &WebState, headers: &HeaderMap, csrf: &str) -> Result<Session, Response> {
    let Some(s) = st.auth.session(headers) else {
        return Err(message(
            StatusCode::UNAUTHORIZED,
            "Sign in first",
            "This action needs a signed-in reviewer.",
            None,
            Some("/login"),
        ));
    };
    if !st.auth.same_origin(headers) || csrf.is_empty() || !ct_eq(csrf, &s.csrf) {
        return Err(message(
            StatusCode::FORBIDDEN,
            "Refused",
            "The form's CSRF token is missing or wrong. Reload the page and try again.",
            Some(&s),
            Some("/review"),
        ));
    }
    if !s.can_decide() {
        return Err(message(
            StatusCode::FORBIDDEN,
            "Read-only",
            "You are signed in with a viewer token: you can look, not decide.",
            Some(&s),
            Some("/review"),
        ));
    }
    Ok(s)
}

#[derive(Debug, Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

fn login_page_html(next: &str, error: Option<&str>) -> String {
    pages::page(
        "login.html",
        "Sign in",
        None,
        None,
        minijinja::context! { next, error },
    )
}

async fn login_page(
    State(st): State<WebState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = auth::local_path(q.next.as_deref(), "/review");
    if st.auth.session(&headers).is_some() {
        return pages::see_other(next, None);
    }
    pages::html(StatusCode::OK, login_page_html(next, None))
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

/// Unknown tokens a client address may send to `/login` per minute.
pub const MAX_LOGIN_FAILURES: u32 = 10;

async fn login(
    State(st): State<WebState>,
    peer: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = auth::local_path(f.next.as_deref(), "/review");
    let now = std::time::Instant::now();
    // Served by `http::serve_on`, every request knows its client address.
    let peer = peer.map(|Extension(ConnectInfo(a))| a.ip());
    if let Some(ip) = peer.filter(|ip| st.failures.is_blocked(*ip, now)) {
        tracing::warn!(message = "Review page sign-in refused: too many unknown tokens from this address.", client = %ip);
        return message(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "Too many unknown tokens from this address; try again in a minute.",
            None,
            None,
        );
    }
    if !st.auth.same_origin(&headers) {
        return message(
            StatusCode::FORBIDDEN,
            "Refused",
            "Cross-site sign-in refused.",
            None,
            None,
        );
    }
    match st.auth.account_for(&f.token) {
        Some(a) => {
            let (id, s) = st.auth.start(a);
            tracing::info!(message = "Review page sign-in.", reviewer = %s.name, role = ?s.role);
            pages::see_other(next, Some(st.auth.set_cookie(&id)))
        }
        None => {
            let failures = peer.map(|ip| st.failures.fail(ip, now));
            tracing::warn!(message = "Review page sign-in with an unknown token.", client = %peer.map_or_else(|| "?".to_string(), |ip| ip.to_string()), failures);
            pages::html(
                StatusCode::UNAUTHORIZED,
                login_page_html(next, Some("Unknown token.")),
            )
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(st): State<WebState>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    // Viewers may sign out too, so only the session and CSRF token are checked.
    match st.auth.session(&headers) {
        Some(s) if ct_eq(&f.csrf, &s.csrf) && st.auth.same_origin(&headers) => {
            st.auth.end(&headers);
            pages::see_other("/login", Some(st.auth.clear_cookie()))
        }
        Some(s) => message(
            StatusCode::FORBIDDEN,
            "Refused",
            "The form's CSRF token is missing or wrong.",
            Some(&s),
            Some("/review"),
        ),
        None => pages::see_other("/login", Some(st.auth.clear_cookie())),
    }
}

/// `t` as `policy` lets it be shown on a page; a dropped text says so.
fn shown(policy: ExamplesPolicy, t: &mut String) {
    *t = policy
        .apply(t)
        .unwrap_or_else(|| "[hidden from viewer accounts]".into());
}
