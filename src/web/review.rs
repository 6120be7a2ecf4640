//! `/review`: gap clusters of each job's latest run, ranked, and the proposals
//! to decide; the actions call `review::accept` / `review::reject`, the CLI's
//! own functions, with the signed-in reviewer's name.

use std::collections::HashMap;
use std::fmt::Write;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;

use super::auth::{local_path, Session};
use super::exclusions::exclude_form;
use super::gaps::{gaps_table, latest_gaps, num, pct, RECENT_RUNS};
use super::pages::{esc, frame, html, message, qv, see_other};
use super::{require_action, require_view, shown, WebState};
use crate::notify::ExamplesPolicy;
use crate::review::{
    self, DecideOutcome, ExpectedOutput, NearestGolden, ProposalFilter, ProposalStatus,
    RefusalKind, ReviewError, Selection,
};
use crate::store::{GoldenExample, Proposal, RunFilter, Store, StoreError};

/// Most proposals one page lists.
const PAGE: i64 = 100;

/// Filters of `/review`; values arrive as text so an empty field means "any".
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct ReviewQuery {
    job: Option<String>,
    status: Option<String>,
    cluster: Option<String>,
    run: Option<String>,
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// `status=` as a filter: pending by default, `all` for any.
fn status_filter(q: &ReviewQuery) -> (Option<ProposalStatus>, &'static str) {
    match nonempty(&q.status) {
        Some("all") => (None, "all"),
        Some(s) => match ProposalStatus::parse(s) {
            Some(st) => (Some(st), st.as_str()),
            None => (Some(ProposalStatus::Pending), "pending"),
        },
        None => (Some(ProposalStatus::Pending), "pending"),
    }
}

/// A proposal's texts as a viewer may see them (`[review] viewer_examples`).
fn restrict_proposal(policy: ExamplesPolicy, p: &mut Proposal) {
    shown(policy, &mut p.input);
    shown(policy, &mut p.output);
    if let Some(e) = p.expected_output.as_mut() {
        shown(policy, e);
    }
}

/// Golden examples the proposals are nearest to, fetched once each.
async fn nearest_examples(
    store: &Store,
    ps: &[Proposal],
) -> Result<HashMap<i64, GoldenExample>, StoreError> {
    let mut out = HashMap::new();
    for gid in ps.iter().filter_map(|p| p.nearest_golden_id) {
        if out.contains_key(&gid) {
            continue;
        }
        match store.golden_example(gid).await {
            Ok(g) => {
                out.insert(gid, g);
            }
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// One proposal: input, production output, nearest golden example, and the
/// accept / reject forms when it is pending and the session may decide.
fn proposal_card(p: &Proposal, nearest: Option<&NearestGolden>, s: &Session, next: &str) -> String {
    let mut o = String::new();
    let cluster = match (p.cluster_id, p.cluster_label.as_deref()) {
        (Some(c), Some(l)) if !l.is_empty() => format!(
            " · <a href='/review?job={}&amp;run={}&amp;cluster={c}'>cluster {c}: {}</a>",
            esc(&qv(&p.job)),
            p.run_id,
            esc(l)
        ),
        (Some(c), _) => format!(" · cluster {c}"),
        _ => String::new(),
    };
    let _ = write!(
        o,
        "<div class='card proposal' id='p{id}' data-id='{id}'><div><a class='open' href='/review/proposals/{id}'><b>#{id}</b></a> <span class='b {st}'>{st}</span> {kind} · job {job} · run <a href='/runs/{run}'>{run}</a>{cluster}</div>",
        id = p.id,
        st = esc(&p.status),
        kind = esc(&p.kind),
        job = esc(&p.job),
        run = p.run_id,
    );
    let golden = match nearest {
        Some(g) => format!(
            "<h4>Nearest golden example #{} · similarity {}{}</h4><pre class='tx'>{}</pre><h4>its expected output</h4><pre class='tx'>{}</pre>",
            g.id,
            g.similarity
                .map(|s| format!("{s:.3}"))
                .unwrap_or_else(|| "?".into()),
            if g.archived { " (archived since)" } else { "" },
            esc(&g.input),
            esc(&g.expected_output)
        ),
        None => "<h4>Nearest golden example</h4><p class='muted'>none recorded</p>".into(),
    };
    let _ = write!(
        o,
        "<div class='cols'><div><h4>Input</h4><pre class='tx input'>{}</pre></div><div><h4>Production output</h4><pre class='tx output'>{}</pre></div><div>{golden}</div></div>",
        esc(&p.input),
        esc(&p.output)
    );
    if p.status == ProposalStatus::Pending.as_str() {
        if s.can_decide() {
            let _ = write!(
                o,
                "<div class='acts'>\
                 <form method='post' class='accept' action='/review/proposals/{id}/accept'>\
                 <input type='hidden' name='csrf' value='{csrf}'><input type='hidden' name='next' value='{next}'>\
                 <textarea name='expected_output' aria-label='expected output' title='Expected output: edit it, or keep the production output'>{out}</textarea>\
                 <button type='submit' class='acc'>Accept <kbd>a</kbd></button></form>\
                 <form method='post' class='reject' action='/review/proposals/{id}/reject'>\
                 <input type='hidden' name='csrf' value='{csrf}'><input type='hidden' name='next' value='{next}'>\
                 <input type='text' name='reason' placeholder='reason' aria-label='reason' required>\
                 <button type='submit' class='rej'>Reject <kbd>r</kbd></button></form>{topic}</div>",
                id = p.id,
                csrf = esc(&s.csrf),
                next = esc(next),
                out = esc(&p.output),
                topic = if p.cluster_id.is_some() {
                    exclude_form(s, &p.job, None, Some(p.id), next)
                } else {
                    String::new()
                },
            );
        }
    } else {
        let _ = write!(
            o,
            "<p class='muted decided'>{} by <b>{}</b>{}{}</p>",
            esc(&p.status),
            esc(p.decided_by.as_deref().unwrap_or("someone")),
            p.decided_at
                .map(|t| format!(" at {}", t.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default(),
            match (&p.reason, &p.golden_example_id) {
                (Some(r), _) => format!(" — reason: {}", esc(r)),
                (None, Some(g)) => format!(" — golden example #{g}"),
                _ => String::new(),
            }
        );
        if let Some(e) = &p.expected_output {
            let _ = write!(
                o,
                "<h4>Expected output</h4><pre class='tx'>{}</pre>",
                esc(e)
            );
        }
    }
    o.push_str("</div>");
    o
}

fn filters_form(q: &ReviewQuery, status: &str, jobs: &[String]) -> String {
    let mut o = String::from("<form method='get' action='/review' class='filters card' id='filters'><label>job <select name='job'><option value=''>all</option>");
    let job = nonempty(&q.job);
    for j in jobs {
        let _ = write!(
            o,
            "<option value='{0}'{1}>{0}</option>",
            esc(j),
            if Some(j.as_str()) == job {
                " selected"
            } else {
                ""
            }
        );
    }
    o.push_str("</select></label><label>status <select name='status'>");
    for s in ["pending", "accepted", "rejected", "all"] {
        let _ = write!(
            o,
            "<option{}>{s}</option>",
            if s == status { " selected" } else { "" }
        );
    }
    let _ = write!(
        o,
        "</select></label><label>cluster <input type='text' name='cluster' size='4' value='{}'></label><label>run <input type='text' name='run' size='4' value='{}'></label><button type='submit'>Filter</button> <a href='/review'>clear</a></form>",
        esc(nonempty(&q.cluster).unwrap_or("")),
        esc(nonempty(&q.run).unwrap_or(""))
    );
    o
}

fn bulk_forms(
    s: &Session,
    job: &str,
    cluster: i64,
    run: Option<i64>,
    pending: usize,
    next: &str,
) -> String {
    if !s.can_decide() || pending == 0 {
        return String::new();
    }
    let run = run.map(|r| r.to_string()).unwrap_or_default();
    format!(
        "<div class='acts bulk'>\
         <form method='post' action='/review/clusters/accept'><input type='hidden' name='csrf' value='{csrf}'><input type='hidden' name='next' value='{next}'>\
         <input type='hidden' name='job' value='{job}'><input type='hidden' name='cluster' value='{cluster}'><input type='hidden' name='run' value='{run}'>\
         <button type='submit' class='acc'>Accept all {pending} pending with their production outputs</button></form>\
         <form method='post' action='/review/clusters/reject'><input type='hidden' name='csrf' value='{csrf}'><input type='hidden' name='next' value='{next}'>\
         <input type='hidden' name='job' value='{job}'><input type='hidden' name='cluster' value='{cluster}'><input type='hidden' name='run' value='{run}'>\
         <input type='text' name='reason' placeholder='reason for all' required><button type='submit' class='rej'>Reject all {pending} pending</button></form></div>",
        csrf = esc(&s.csrf),
        next = esc(next),
        job = esc(job),
    )
}

fn internal(e: impl std::fmt::Display, s: Option<&Session>) -> Response {
    tracing::error!(message = "Review page request failed.", error = %e);
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The store could not be read or written; the error is in the server log. Try again.",
        s,
        Some("/review"),
    )
}

/// `GET /review`: gap clusters, filters, and the proposals they select.
pub async fn index(
    State(st): State<WebState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<ReviewQuery>,
) -> Response {
    let s = match require_view(&st, &headers, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let flash = st.auth.take_flash(&headers);
    let job = nonempty(&q.job).map(str::to_string);
    let cluster = nonempty(&q.cluster).and_then(|c| c.parse::<i64>().ok());
    let run = nonempty(&q.run).and_then(|c| c.parse::<i64>().ok());
    let (status, status_name) = status_filter(&q);
    let here = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/review");
    let (mut gaps, jobs) = match latest_gaps(&st.store, job.as_deref()).await {
        Ok(g) => g,
        Err(e) => return internal(e, Some(&s)),
    };
    let filter = ProposalFilter {
        status,
        job: job.clone(),
        cluster_id: cluster,
        run_id: run,
        limit: Some(PAGE + 1),
        ..ProposalFilter::default()
    };
    let mut ps = match st.store.list_proposals(&filter).await {
        Ok(p) => p,
        Err(e) => return internal(e, Some(&s)),
    };
    let more = ps.len() as i64 > PAGE;
    ps.truncate(PAGE as usize);
    let mut nearest = match nearest_examples(&st.store, &ps).await {
        Ok(n) => n,
        Err(e) => return internal(e, Some(&s)),
    };
    let policy = st.examples_for(&s);
    if policy != ExamplesPolicy::Full {
        for p in ps.iter_mut() {
            restrict_proposal(policy, p);
        }
        for g in nearest.values_mut() {
            shown(policy, &mut g.input);
            shown(policy, &mut g.expected_output);
        }
        for g in gaps.iter_mut() {
            g.examples = g.examples.iter().filter_map(|t| policy.apply(t)).collect();
        }
    }
    let mut job_names: Vec<String> = jobs.iter().map(|j| j.job.clone()).collect();
    if let Ok(all) = st
        .store
        .list_runs(&RunFilter {
            job: None,
            limit: Some(RECENT_RUNS),
        })
        .await
    {
        job_names.extend(all.into_iter().map(|r| r.job));
    }
    job_names.sort();
    job_names.dedup();

    let mut body = String::from(
        "<h1>Review proposals</h1><p class='muted'><a href='/review/exclusions'>Excluded topics</a></p>",
    );
    body.push_str(&filters_form(&q, status_name, &job_names));
    match (cluster, job.as_deref()) {
        (Some(c), Some(j)) => {
            let gap = gaps
                .iter()
                .find(|g| g.cluster == c && g.job == j && run.is_none_or(|r| r == g.run_id));
            let pending = ps
                .iter()
                .filter(|p| p.status == ProposalStatus::Pending.as_str())
                .count();
            let _ = write!(
                body,
                "<div class='card' id='cluster'><h2 style='margin-top:0'>Cluster {c}: {}</h2>",
                esc(gap
                    .map(|g| g.label.as_str())
                    .filter(|l| !l.is_empty())
                    .unwrap_or("(no label)"))
            );
            if let Some(g) = gap {
                let _ = write!(
                    body,
                    "<p>job <b>{}</b>, run <a href='/runs/{}'>{}</a>: {} production traces, {} golden, {} uncovered (coverage {}), gap score {} (ratio {}).</p>",
                    esc(&g.job), g.run_id, g.run_id, g.production, g.golden, g.uncovered, pct(g.coverage()), num(g.gap_lower), num(g.gap_ratio)
                );
                for e in &g.examples {
                    let _ = write!(body, "<pre class='tx'>{}</pre>", esc(e));
                }
            }
            if let Some(x) = gap.and_then(|g| g.excluded.as_deref()) {
                let _ = write!(body, "<p class='b excluded'>{}</p>", esc(x));
            }
            body.push_str(&bulk_forms(
                &s,
                j,
                c,
                run.or(gap.map(|g| g.run_id)),
                pending,
                here,
            ));
            body.push_str(&exclude_form(&s, j, Some(c), None, here));
            body.push_str("</div>");
        }
        _ => body.push_str(&gaps_table(&gaps, &jobs)),
    }
    let _ = write!(
        body,
        "<h2>Proposals — {status_name}{}</h2>",
        if more {
            format!(" (first {PAGE})")
        } else {
            format!(" ({})", ps.len())
        }
    );
    if s.can_decide() {
        body.push_str("<p class='muted'>Keys: <kbd>j</kbd>/<kbd>k</kbd> next/previous, <kbd>a</kbd> accept (with the text in the box: edit it with <kbd>e</kbd>), <kbd>r</kbd> reject (type a reason, Enter), <kbd>o</kbd> open, <kbd>Esc</kbd> leave a field.</p>");
    } else {
        body.push_str("<p class='muted'>Read-only: signed in with a viewer token.</p>");
    }
    if ps.is_empty() {
        body.push_str("<p id='empty'>No proposals match.</p>");
    }
    for p in &ps {
        let g = p
            .nearest_golden_id
            .and_then(|g| nearest.get(&g))
            .map(|g| NearestGolden {
                id: g.id,
                input: g.input.clone(),
                expected_output: g.expected_output.clone(),
                similarity: p.nearest_golden_similarity,
                archived: g.archived,
            });
        body.push_str(&proposal_card(p, g.as_ref(), &s, here));
    }
    html(
        StatusCode::OK,
        frame("Review", Some(&s), flash.as_deref(), &body),
    )
}

/// `GET /review/proposals/ID`: one proposal (via `review::detail`, as
/// `proposals show`) with its cluster's other proposals.
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
    let flash = st.auth.take_flash(&headers);
    let mut d = match review::detail(&st.store, id).await {
        Ok(d) => d,
        Err(ReviewError::Store(StoreError::NotFound(_))) => {
            return message(
                StatusCode::NOT_FOUND,
                "Not found",
                &format!("proposal {id} does not exist"),
                Some(&s),
                Some("/review"),
            )
        }
        Err(e) => return internal(e, Some(&s)),
    };
    let policy = st.examples_for(&s);
    if policy != ExamplesPolicy::Full {
        restrict_proposal(policy, &mut d.proposal);
        d.siblings
            .iter_mut()
            .for_each(|p| restrict_proposal(policy, p));
        if let Some(g) = d.nearest_golden.as_mut() {
            shown(policy, &mut g.input);
            shown(policy, &mut g.expected_output);
        }
    }
    let next = format!("/review/proposals/{id}");
    let mut body = format!("<h1>Proposal #{id}</h1>");
    body.push_str(&proposal_card(
        &d.proposal,
        d.nearest_golden.as_ref(),
        &s,
        &next,
    ));
    if d.proposal.cluster_id.is_some() {
        let _ = write!(
            body,
            "<h2>Other proposals of this cluster ({})</h2><table>",
            d.siblings.len()
        );
        for p in &d.siblings {
            let _ = write!(
                body,
                "<tr><td><a href='/review/proposals/{0}'>#{0}</a></td><td><span class='b {1}'>{1}</span></td><td>{2}</td></tr>",
                p.id,
                esc(&p.status),
                esc(&crate::text::truncate(&p.input, 120))
            );
        }
        body.push_str("</table>");
    }
    html(
        StatusCode::OK,
        frame(&format!("Proposal {id}"), Some(&s), flash.as_deref(), &body),
    )
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct AcceptForm {
    csrf: String,
    expected_output: Option<String>,
    next: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct RejectForm {
    csrf: String,
    reason: String,
    next: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct ClusterForm {
    csrf: String,
    job: String,
    cluster: String,
    run: String,
    reason: String,
    next: Option<String>,
}

/// Browsers send textarea text with CRLF line ends; the golden set stores LF.
fn unix_newlines(t: &str) -> String {
    t.replace("\r\n", "\n")
}

/// After an action: 303 back with a flash when something was decided; the
/// refusal (409 conflict, 404 not found) as a page when nothing was; 400 for a
/// request `review` rejected as invalid.
fn outcome(
    st: &WebState,
    headers: &HeaderMap,
    s: &Session,
    result: Result<DecideOutcome, ReviewError>,
    next: &str,
) -> Response {
    let o = match result {
        Ok(o) => o,
        Err(ReviewError::Invalid(m)) => {
            return message(
                StatusCode::BAD_REQUEST,
                "Not applied",
                &m,
                Some(s),
                Some(next),
            )
        }
        Err(e) => return internal(e, Some(s)),
    };
    if o.decided.is_empty() {
        let has = |k: RefusalKind| o.refused.iter().any(|r| r.kind == k);
        let text: Vec<&str> = o.refused.iter().map(|r| r.message.as_str()).collect();
        let (status, title) = if has(RefusalKind::Conflict) {
            (StatusCode::CONFLICT, "Conflict: already decided")
        } else if has(RefusalKind::Invalid) {
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not accepted: the output breaks the golden set's format",
            )
        } else {
            (StatusCode::NOT_FOUND, "Not found")
        };
        return message(status, title, &text.join("; "), Some(s), Some(next));
    }
    let mut flash = String::new();
    for status in [ProposalStatus::Accepted, ProposalStatus::Rejected] {
        let ids: Vec<String> = o
            .decided
            .iter()
            .filter(|p| p.status == status.as_str())
            .map(|p| format!("#{}", p.id))
            .collect();
        if !ids.is_empty() {
            let _ = write!(
                flash,
                "{} {} by {}. ",
                status.as_str(),
                ids.join(", "),
                s.name
            );
        }
    }
    for v in &o.versions {
        let _ = write!(
            flash,
            "Golden set {} is now at version {} ({} examples). ",
            v.set_name, v.version, v.active_count
        );
    }
    for r in &o.refused {
        let _ = write!(flash, "Not applied: {}. ", r.message);
    }
    st.auth.set_flash(headers, flash.trim_end().to_string());
    see_other(next, None)
}

/// `POST /review/proposals/ID/accept`: the text in the box is the expected
/// output; unchanged, the production output is used as it is (`--use-output`).
pub async fn accept_one(
    State(st): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<AcceptForm>,
) -> Response {
    let s = match require_action(&st, &headers, &f.csrf) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let next = local_path(f.next.as_deref(), "/review");
    let expected = match f.expected_output.as_deref().map(unix_newlines) {
        None => ExpectedOutput::UseOutput,
        Some(t) => match st.store.get_proposal(id).await {
            Ok(p) if p.output == t => ExpectedOutput::UseOutput,
            _ => ExpectedOutput::Edited(t),
        },
    };
    let r = review::accept(&st.store, &Selection::Ids(vec![id]), expected, &s.name).await;
    outcome(&st, &headers, &s, r, next)
}

/// `POST /review/proposals/ID/reject` with a reason.
pub async fn reject_one(
    State(st): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<RejectForm>,
) -> Response {
    let s = match require_action(&st, &headers, &f.csrf) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let next = local_path(f.next.as_deref(), "/review");
    let r = review::reject(&st.store, &Selection::Ids(vec![id]), &f.reason, &s.name).await;
    outcome(&st, &headers, &s, r, next)
}

fn cluster_selection(f: &ClusterForm) -> Result<Selection, String> {
    let cluster_id = f
        .cluster
        .trim()
        .parse::<i64>()
        .map_err(|_| format!("cluster must be a number, got `{}`", f.cluster))?;
    let run_id = match f.run.trim() {
        "" => None,
        r => Some(
            r.parse::<i64>()
                .map_err(|_| format!("run must be a number, got `{r}`"))?,
        ),
    };
    if f.job.trim().is_empty() {
        return Err("job is required for a cluster action".into());
    }
    Ok(Selection::Cluster {
        job: f.job.trim().to_string(),
        cluster_id,
        run_id,
    })
}

/// `POST /review/clusters/accept`: every pending proposal of one cluster, with
/// its production output (`proposals accept --cluster C --job J --use-output`).
pub async fn accept_cluster(
    State(st): State<WebState>,
    headers: HeaderMap,
    Form(f): Form<ClusterForm>,
) -> Response {
    let s = match require_action(&st, &headers, &f.csrf) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let next = local_path(f.next.as_deref(), "/review");
    let r = match cluster_selection(&f) {
        Ok(sel) => review::accept(&st.store, &sel, ExpectedOutput::UseOutput, &s.name).await,
        Err(m) => Err(ReviewError::Invalid(m)),
    };
    outcome(&st, &headers, &s, r, next)
}

/// `POST /review/clusters/reject`: every pending proposal of one cluster.
pub async fn reject_cluster(
    State(st): State<WebState>,
    headers: HeaderMap,
    Form(f): Form<ClusterForm>,
) -> Response {
    let s = match require_action(&st, &headers, &f.csrf) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let next = local_path(f.next.as_deref(), "/review");
    let r = match cluster_selection(&f) {
        Ok(sel) => review::reject(&st.store, &sel, &f.reason, &s.name).await,
        Err(m) => Err(ReviewError::Invalid(m)),
    };
    outcome(&st, &headers, &s, r, next)
}
