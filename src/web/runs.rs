//! `/runs`: runs per job with verdict badges; `/runs/ID`: the run's HTML report,
//! rendered by `report::render` exactly as `driftwatch report ID --format html`.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;

use super::pages::{esc, frame, html, message, qv};
use super::{require_view, WebState};
use crate::store::{Run, RunFilter, RunStatus, StoreError};

/// Runs listed at most.
const LIMIT: i64 = 200;

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct RunsQuery {
    job: Option<String>,
}

/// The badge of a run: its verdict when it finished, else its status.
fn badge(r: &Run) -> String {
    let s = r.summary.as_ref();
    match r.status {
        RunStatus::Succeeded => {
            let drifted = s.map_or(0, |s| s.drifted);
            let gaps = s
                .and_then(|s| s.semantic.as_ref())
                .map_or(0, |sem| sem.gap_clusters);
            if drifted > 0 || gaps > 0 {
                format!("<span class='b drifted'>drifted: {drifted} metrics, {gaps} gaps</span>")
            } else {
                "<span class='b ok'>ok</span>".into()
            }
        }
        st => format!("<span class='b {0}'>{0}</span>", st.as_str()),
    }
}

/// `GET /runs[?job=J]`.
pub async fn index(
    State(st): State<WebState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<RunsQuery>,
) -> Response {
    let s = match require_view(&st, &headers, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let job = q.job.filter(|j| !j.trim().is_empty());
    let runs = match st
        .store
        .list_runs(&RunFilter {
            job: job.clone(),
            limit: Some(LIMIT),
        })
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(message = "Listing runs failed.", error = %e);
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The store could not be read; the error is in the server log.",
                Some(&s),
                None,
            );
        }
    };
    let mut by_job: BTreeMap<&str, Vec<&Run>> = BTreeMap::new();
    for r in &runs {
        by_job.entry(r.job.as_str()).or_default().push(r);
    }
    let mut body = String::from("<h1>Runs</h1>");
    if by_job.is_empty() {
        body.push_str("<p>No runs yet.</p>");
    }
    for (job, runs) in by_job {
        let _ = write!(
            body,
            "<h2>job <a href='/runs?job={}'>{}</a></h2><table class='runs'><tr><th>run</th><th>started (UTC)</th><th>verdict</th><th>golden</th><th>sampled</th><th>coverage</th><th>proposals</th></tr>",
            esc(&qv(job)),
            esc(job)
        );
        for r in runs {
            let sm = r.summary.as_ref();
            let sem = sm.and_then(|s| s.semantic.as_ref());
            let _ = write!(
                body,
                "<tr><td><a href='/runs/{0}'>run {0}</a></td><td>{1}</td><td>{2}</td><td>{3} v{4}</td><td>{5}</td><td>{6}</td><td>{7}</td></tr>",
                r.id,
                r.started_at.format("%Y-%m-%d %H:%M"),
                badge(r),
                esc(sm.map_or("-", |s| s.golden_set.as_str())),
                sm.map(|s| s.golden_version.to_string()).unwrap_or_else(|| "-".into()),
                sm.map(|s| s.sampled.to_string()).unwrap_or_else(|| "-".into()),
                sem.and_then(|s| s.coverage).map(|c| format!("{:.0}%", c * 100.0)).unwrap_or_else(|| "-".into()),
                sem.map(|s| s.proposals).map(|p| format!("<a href='/review?job={}&amp;run={}&amp;status=all'>{p}</a>", esc(&qv(job)), r.id)).unwrap_or_else(|| "-".into()),
            );
        }
        body.push_str("</table>");
    }
    html(StatusCode::OK, frame("Runs", Some(&s), None, &body))
}

/// `GET /runs/ID`: the HTML report, with a link back to the pages.
pub async fn show(
    State(st): State<WebState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<i64>,
) -> Response {
    let s = match require_view(&st, &headers, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let found = match st.store.get_run(id).await {
        Ok(run) => st.store.findings(id).await.map(|f| (run, f)),
        Err(e) => Err(e),
    };
    let (mut run, mut findings) = match found {
        Ok(x) => x,
        Err(StoreError::NotFound(_)) => {
            return message(
                StatusCode::NOT_FOUND,
                "Not found",
                &format!("run {id} does not exist"),
                Some(&s),
                Some("/runs"),
            )
        }
        Err(e) => {
            tracing::error!(message = "Reading a run failed.", error = %e);
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The store could not be read; the error is in the server log.",
                Some(&s),
                Some("/runs"),
            );
        }
    };
    crate::report::restrict_examples(st.examples_for(&s), &mut run, &mut findings);
    let report = crate::report::render(crate::report::Format::Html, &run, &findings);
    let nav = format!(
        "<p style='font-size:13px'><a href='/runs'>← runs</a> · <a href='/review?job={}'>review proposals of {}</a></p>",
        esc(&qv(&run.job)),
        esc(&run.job)
    );
    let page = match report.find("<body>") {
        Some(i) => format!("{}{nav}{}", &report[..i + 6], &report[i + 6..]),
        None => report,
    };
    super::pages::report(page)
}
