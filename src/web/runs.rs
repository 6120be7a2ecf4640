//! `/runs`: runs per job with verdict badges; `/runs/ID`: the run's HTML report,
//! rendered by `report::render` exactly as `driftwatch report ID --format html`.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::pages::{fragment, html, message, page};
use super::{require_view, WebState};
use crate::store::{Run, RunFilter, RunStatus, StoreError};

/// Runs listed at most.
const LIMIT: i64 = 200;

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct RunsQuery {
    job: Option<String>,
}

/// One row of `runs.html`: the verdict badge (drifted with counts, ok, or the
/// status of a run that did not finish) and the summary's numbers.
#[derive(Debug, Serialize)]
struct RunRow<'a> {
    id: i64,
    started: String,
    /// Drifted metrics and gaps, when the run finished with any.
    drifted: Option<(u64, u64)>,
    ok: bool,
    status: &'a str,
    golden: &'a str,
    version: String,
    sampled: String,
    coverage: Option<f64>,
    proposals: Option<u64>,
}

fn run_row(r: &Run) -> RunRow<'_> {
    let sm = r.summary.as_ref();
    let sem = sm.and_then(|s| s.semantic.as_ref());
    let finished = r.status == RunStatus::Succeeded;
    let drifted = sm.map_or(0, |s| s.drifted);
    let gaps = sem.map_or(0, |sem| sem.gap_clusters);
    let flagged = finished && (drifted > 0 || gaps > 0);
    RunRow {
        id: r.id,
        started: r.started_at.format("%Y-%m-%d %H:%M").to_string(),
        drifted: flagged.then_some((drifted, gaps)),
        ok: finished && !flagged,
        status: r.status.as_str(),
        golden: sm.map_or("-", |s| s.golden_set.as_str()),
        version: sm.map_or_else(|| "-".into(), |s| s.golden_version.to_string()),
        sampled: sm.map_or_else(|| "-".into(), |s| s.sampled.to_string()),
        coverage: sem.and_then(|s| s.coverage),
        proposals: sem.map(|s| s.proposals),
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
    let jobs: Vec<_> = by_job
        .into_iter()
        .map(|(job, runs)| {
            context! { job, runs => runs.into_iter().map(run_row).collect::<Vec<_>>() }
        })
        .collect();
    html(
        StatusCode::OK,
        page("runs.html", "Runs", Some(&s), None, context! { jobs }),
    )
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
    // Both parts are rendered templates: the report and the links back.
    let nav = fragment("run_nav.html", context! { job => &run.job });
    let page = match report.find("<body>") {
        Some(i) => format!("{}{nav}{}", &report[..i + 6], &report[i + 6..]),
        None => report,
    };
    super::pages::report(page)
}
