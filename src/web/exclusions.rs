//! `/review/exclusions`: topics the data team kept out of the golden set. A
//! gap (or a proposal's gap) is excluded from the review page with a scope and
//! a reason; the list shows who decided what, and a reviewer can lift one. The
//! actions call `review::exclude_topic` / `review::lift_exclusion`, as the CLI.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;

use super::auth::{local_path, Session};
use minijinja::context;

use super::pages::{html, message, page, see_other};
use super::{require_action, require_view, WebState};
use crate::review::{self, ReviewError, Selection};
use crate::store::{ExclusionScope, StoreError};
use crate::text::truncate;

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct ExcludeForm {
    csrf: String,
    job: String,
    cluster: String,
    proposal: String,
    scope: String,
    reason: String,
    next: Option<String>,
}

impl ExcludeForm {
    fn selection(&self) -> Result<Selection, String> {
        let num = |what: &str, v: &str| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| format!("{what} must be a number, got `{v}`"))
        };
        match (self.cluster.trim(), self.proposal.trim()) {
            ("", "") => Err("name a gap (job and cluster) or a proposal".into()),
            ("", p) => Ok(Selection::Ids(vec![num("proposal", p)?])),
            (c, _) if self.job.trim().is_empty() => {
                Err(format!("job is required to exclude gap {c}"))
            }
            (c, _) => Ok(Selection::Cluster {
                job: self.job.trim().to_string(),
                cluster_id: num("cluster", c)?,
                run_id: None,
            }),
        }
    }
}

/// `POST /review/exclusions`: exclude a topic and reject its pending proposals.
pub async fn exclude(
    State(st): State<WebState>,
    headers: HeaderMap,
    Form(f): Form<ExcludeForm>,
) -> Response {
    let s = match require_action(&st, &headers, &f.csrf) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let next = local_path(f.next.as_deref(), "/review");
    let scope = match ExclusionScope::parse(&f.scope) {
        Some(x) => x,
        None => return invalid(&s, &format!("unknown scope `{}`", f.scope), next),
    };
    let sel = match f.selection() {
        Ok(sel) => sel,
        Err(m) => return invalid(&s, &m, next),
    };
    match review::exclude_topic(&st.store, &sel, scope, &f.reason, &s.name).await {
        Ok(o) => {
            st.auth.set_flash(
                &headers,
                format!(
                    "Topic “{}” excluded ({}) by {} as exclusion {}; {} pending proposals rejected. Later runs propose nothing inside it.",
                    truncate(&o.exclusion.label, 60),
                    o.exclusion.scope.words(),
                    s.name,
                    o.exclusion.id,
                    o.rejected.decided.len()
                ),
            );
            see_other(next, None)
        }
        Err(ReviewError::Invalid(m)) => invalid(&s, &m, next),
        Err(ReviewError::Store(StoreError::NotFound(m))) => message(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("{m} does not exist"),
            Some(&s),
            Some(next),
        ),
        Err(e) => failed(e, &s),
    }
}

/// `GET /review/exclusions`: every exclusion, active first, with lift buttons.
pub async fn index(State(st): State<WebState>, headers: HeaderMap, uri: Uri) -> Response {
    let s = match require_view(&st, &headers, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let flash = st.auth.take_flash(&headers);
    let mut xs = match st.store.exclusions(None, true).await {
        Ok(x) => x,
        Err(e) => return failed(e, &s),
    };
    xs.sort_by_key(|x| (!x.active(), -x.id));
    let rows: Vec<_> = xs
        .iter()
        .map(|x| {
            context! {
                id => x.id,
                active => x.active(),
                job => &x.job,
                gap => x.gap_id,
                label => truncate(&x.label, 80),
                scope => x.scope.words(),
                reason => &x.reason,
                by => &x.created_by,
                at => x.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                exemplars => x.exemplars.len(),
                lifted => match (&x.lifted_by, x.lifted_at) {
                    (Some(b), Some(t)) => Some((b.clone(), t.format("%Y-%m-%d %H:%M UTC").to_string())),
                    _ => None,
                },
            }
        })
        .collect();
    html(
        StatusCode::OK,
        page(
            "exclusions.html",
            "Excluded topics",
            Some(&s),
            flash.as_deref(),
            context! { exclusions => rows },
        ),
    )
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct LiftForm {
    csrf: String,
}

/// `POST /review/exclusions/ID/lift`.
pub async fn lift(
    State(st): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<LiftForm>,
) -> Response {
    let s = match require_action(&st, &headers, &f.csrf) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let back = "/review/exclusions";
    match review::lift_exclusion(&st.store, id, &s.name).await {
        Ok(x) => {
            st.auth.set_flash(
                &headers,
                format!(
                    "Exclusion {} (“{}”) lifted by {}.",
                    x.id,
                    truncate(&x.label, 60),
                    s.name
                ),
            );
            see_other(back, None)
        }
        Err(ReviewError::Store(StoreError::NotFound(m))) => message(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("{m} does not exist"),
            Some(&s),
            Some(back),
        ),
        Err(ReviewError::Store(StoreError::Conflict(m))) => message(
            StatusCode::CONFLICT,
            "Conflict: already lifted",
            &m,
            Some(&s),
            Some(back),
        ),
        Err(e) => failed(e, &s),
    }
}

fn invalid(s: &Session, m: &str, next: &str) -> Response {
    message(
        StatusCode::BAD_REQUEST,
        "Not applied",
        m,
        Some(s),
        Some(next),
    )
}

fn failed(e: impl std::fmt::Display, s: &Session) -> Response {
    tracing::error!(message = "Exclusion request failed.", error = %e);
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The store could not be read or written; the error is in the server log. Try again.",
        Some(s),
        Some("/review/exclusions"),
    )
}
