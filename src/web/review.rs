//! `/review`: gap clusters of each job's latest run, ranked, and the proposals
//! to decide; the actions call `review::accept` / `review::reject`, the CLI's
//! own functions, with the signed-in reviewer's name.

use std::collections::HashMap;
use std::fmt::Write;

use minijinja::context;
use serde::Serialize;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;

use super::auth::{local_path, Session};
use super::cards::{card_view, same_output, CardContext, CardView};
use super::gaps::{gap_rows, latest_gaps, RECENT_RUNS};
use super::pages::{html, message, page, see_other};
use super::{require_action, require_view, shown, WebState};
use crate::notify::ExamplesPolicy;
use crate::review::{
    self, DecideOutcome, ExpectedOutput, NearestGolden, ProposalFilter, ProposalStatus,
    RefusalKind, ReviewError, Selection,
};
use crate::store::{
    GapCluster, GoldenExample, Label, ProgressRow, Proposal, RunFilter, Store, StoreError, Trace,
};

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
    /// Full-text search over input, production output and expected output.
    q: Option<String>,
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

/// What the cards of one page show beyond the proposals: their traces, the
/// gaps of the runs that proposed them, their pick ranks, and what the
/// reviewer skipped.
struct Contexts {
    traces: HashMap<i64, Trace>,
    gaps: HashMap<(i64, i64), GapCluster>,
    picks: HashMap<i64, (usize, usize)>,
    skipped: std::collections::HashSet<i64>,
    labels: HashMap<i64, Vec<Label>>,
}

impl Contexts {
    async fn load(store: &Store, ps: &[Proposal], reviewer: &str) -> Result<Contexts, StoreError> {
        let ids: Vec<i64> = ps.iter().map(|p| p.trace_id).collect();
        let traces = store
            .traces_by_ids(&ids)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        let mut gaps = HashMap::new();
        let mut picks = HashMap::new();
        let mut runs: Vec<(i64, String)> = ps.iter().map(|p| (p.run_id, p.job.clone())).collect();
        runs.sort();
        runs.dedup();
        for (run, job) in runs {
            match store.get_run(run).await {
                Ok(r) => {
                    for c in r
                        .summary
                        .and_then(|s| s.semantic)
                        .map(|s| s.clusters)
                        .unwrap_or_default()
                    {
                        if let Some(g) = c.gap_id {
                            gaps.insert((run, g), c);
                        }
                    }
                }
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
            // Picks are stored densest first within their gap.
            let all = store
                .list_proposals(&ProposalFilter {
                    run_id: Some(run),
                    job: Some(job),
                    ..ProposalFilter::default()
                })
                .await?;
            let mut by_gap: HashMap<i64, Vec<i64>> = HashMap::new();
            for p in &all {
                if let (Some(c), "gap") = (p.cluster_id, p.kind.as_str()) {
                    by_gap.entry(c).or_default().push(p.id);
                }
            }
            for members in by_gap.values() {
                for (i, id) in members.iter().enumerate() {
                    picks.insert(*id, (i + 1, members.len()));
                }
            }
        }
        let mut labels: HashMap<i64, Vec<Label>> = HashMap::new();
        let pids: Vec<i64> = ps.iter().map(|p| p.id).collect();
        for l in store.labels_for(&pids).await? {
            labels.entry(l.proposal_id).or_default().push(l);
        }
        Ok(Contexts {
            traces,
            gaps,
            picks,
            skipped: store.skipped_proposals(reviewer).await?,
            labels,
        })
    }

    fn of<'a>(&'a self, p: &Proposal, nearest: Option<NearestGolden>) -> CardContext<'a> {
        CardContext {
            nearest,
            trace: self.traces.get(&p.trace_id),
            gap: p.cluster_id.and_then(|c| self.gaps.get(&(p.run_id, c))),
            pick: self.picks.get(&p.id).copied(),
            skipped: self.skipped.contains(&p.id),
            labels: self.labels.get(&p.id).map_or(&[], Vec::as_slice),
        }
    }
}

/// Decided and pending counts for `macros.html`'s progress line.
#[derive(Debug, Default, Serialize)]
struct Progress {
    accepted: i64,
    rejected: i64,
    pending: i64,
    decided: i64,
    total: i64,
}

/// The counts of one job's gap (or of every proposal when `scope` is `None`).
fn progress(rows: &[ProgressRow], scope: Option<(&str, Option<i64>)>) -> Progress {
    let mine = |r: &&ProgressRow| scope.is_none_or(|(j, c)| r.job == j && r.cluster_id == c);
    let sum = |st: &str| {
        rows.iter()
            .filter(mine)
            .filter(|r| r.status == st)
            .map(|r| r.count)
            .sum::<i64>()
    };
    let (accepted, rejected, pending) = (sum("accepted"), sum("rejected"), sum("pending"));
    Progress {
        accepted,
        rejected,
        pending,
        decided: accepted + rejected,
        total: accepted + rejected + pending,
    }
}

/// One reviewer's decisions.
#[derive(Debug, Serialize)]
struct ByReviewer<'a> {
    who: &'a str,
    accepted: i64,
    rejected: i64,
}

/// Overall progress and each reviewer's decisions (`None` when nothing was
/// ever proposed).
fn progress_card(rows: &[ProgressRow]) -> Option<serde_json::Value> {
    if rows.is_empty() {
        return None;
    }
    let mut by: std::collections::BTreeMap<&str, (i64, i64)> = Default::default();
    for r in rows {
        if let Some(who) = r.decided_by.as_deref() {
            let e = by.entry(who).or_default();
            match r.status.as_str() {
                "accepted" => e.0 += r.count,
                "rejected" => e.1 += r.count,
                _ => {}
            }
        }
    }
    let by: Vec<ByReviewer> = by
        .into_iter()
        .map(|(who, (accepted, rejected))| ByReviewer {
            who,
            accepted,
            rejected,
        })
        .collect();
    Some(serde_json::json!({ "all": progress(rows, None), "by": by }))
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
        search: nonempty(&q.q).map(str::to_string),
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
    let cx = match Contexts::load(&st.store, &ps, &s.name).await {
        Ok(c) => c,
        Err(e) => return internal(e, Some(&s)),
    };
    // Where the LLM ensemble disagreed first (a person must decide), then the
    // unlabelled, then the agreed; skipped ones after the others, for the one
    // who skipped them.
    ps.sort_by_key(|p| {
        let ensemble = match p.ensemble_status.as_deref() {
            Some("disagrees") => 0,
            Some(_) => 2,
            None => 1,
        };
        (cx.skipped.contains(&p.id), ensemble)
    });
    let agreed = ps
        .iter()
        .filter(|p| {
            p.status == ProposalStatus::Pending.as_str()
                && p.ensemble_status.as_deref() == Some("agrees")
        })
        .count();
    let progress_rows = match st.store.review_progress(job.as_deref()).await {
        Ok(p) => p,
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

    let cluster_card = match (cluster, job.as_deref()) {
        (Some(c), Some(j)) => {
            let gap = gaps
                .iter()
                .find(|g| g.cluster == c && g.job == j && run.is_none_or(|r| r == g.run_id));
            let pending = ps
                .iter()
                .filter(|p| p.status == ProposalStatus::Pending.as_str())
                .count();
            Some(context! {
                id => c,
                label => gap.map(|g| g.label.as_str()).filter(|l| !l.is_empty()).unwrap_or("(no label)"),
                gap => gap.map(|g| gap_rows(std::slice::from_ref(g)).pop()),
                pending,
                run => run.or(gap.map(|g| g.run_id)),
                progress => progress(&progress_rows, Some((j, Some(c)))),
            })
        }
        _ => None,
    };
    let cards: Vec<CardView> = ps
        .iter()
        .map(|p| {
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
            card_view(p, &cx.of(p, g), &s)
        })
        .collect();
    let page_ctx = context! {
        q => context! {
            cluster => nonempty(&q.cluster).unwrap_or(""),
            run => nonempty(&q.run).unwrap_or(""),
            q => nonempty(&q.q).unwrap_or(""),
        },
        jobs => job_names,
        job,
        status => status_name,
        cluster => cluster_card,
        can_decide => s.can_decide(),
        agreed,
        csrf => &s.csrf,
        next => here,
        progress => progress_card(&progress_rows),
        gaps => gap_rows(&gaps),
        jobs_coverage => jobs,
        more,
        page => PAGE,
        cards,
    };
    html(
        StatusCode::OK,
        page(
            "review.html",
            "Review",
            Some(&s),
            flash.as_deref(),
            page_ctx,
        ),
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
    let cx = match Contexts::load(&st.store, std::slice::from_ref(&d.proposal), &s.name).await {
        Ok(c) => c,
        Err(e) => return internal(e, Some(&s)),
    };
    let next = format!("/review/proposals/{id}");
    let c = card_view(
        &d.proposal,
        &cx.of(&d.proposal, d.nearest_golden.clone()),
        &s,
    );
    let siblings: Option<Vec<_>> = d.proposal.cluster_id.map(|_| {
        d.siblings
            .iter()
            .map(|p| {
                context! {
                    id => p.id,
                    status => &p.status,
                    input => crate::text::truncate(&p.input, 120),
                }
            })
            .collect()
    });
    html(
        StatusCode::OK,
        page(
            "proposal.html",
            &format!("Proposal {id}"),
            Some(&s),
            flash.as_deref(),
            context! { c, siblings, csrf => &s.csrf, next },
        ),
    )
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct AcceptForm {
    csrf: String,
    expected_output: Option<String>,
    /// Ticked: the production output is the right answer as it is.
    confirm_output: Option<String>,
    next: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct ActionForm {
    csrf: String,
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
    confirm_output: Option<String>,
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
    let mut confirmed = f.confirm_output.is_some();
    let expected = match f.expected_output.as_deref().map(unix_newlines) {
        None => ExpectedOutput::UseOutput,
        Some(t) => match st.store.get_proposal(id).await {
            // The box holds the production output (pretty-printed when it is
            // JSON): unchanged means "use the production output". The
            // ensemble's agreed answer, when it is that output, vouches for it.
            Ok(p) if same_output(&p.output, &t) => {
                confirmed |= p.ensemble_status.as_deref() == Some("agrees")
                    && p.ensemble_output
                        .as_deref()
                        .is_some_and(|e| same_output(e, &t));
                ExpectedOutput::UseOutput
            }
            _ => ExpectedOutput::Edited(t),
        },
    };
    if expected == ExpectedOutput::UseOutput && !confirmed {
        return message(
            StatusCode::BAD_REQUEST,
            "Not accepted: the expected output is the production output unchanged",
            "In a gap the production answer is often wrong. Edit it into the correct answer, or tick “the production output is correct as it is” to accept it unchanged.",
            Some(&s),
            Some(next),
        );
    }
    let r = review::accept(&st.store, &Selection::Ids(vec![id]), expected, &s.name).await;
    outcome(&st, &headers, &s, r, next)
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct EnsembleForm {
    csrf: String,
    job: String,
    cluster: String,
    next: Option<String>,
}

/// `POST /review/ensemble/accept`: every pending proposal of the gap (or job)
/// the ensemble agreed on, with its agreed output (`proposals accept --ensemble`).
pub async fn accept_ensemble(
    State(st): State<WebState>,
    headers: HeaderMap,
    Form(f): Form<EnsembleForm>,
) -> Response {
    let s = match require_action(&st, &headers, &f.csrf) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let next = local_path(f.next.as_deref(), "/review");
    let job = f.job.trim().to_string();
    let sel = match f.cluster.trim() {
        _ if job.is_empty() => Err("job is required".to_string()),
        "" => Ok(Selection::Job(job)),
        c => c
            .parse::<i64>()
            .map(|cluster_id| Selection::Cluster {
                job,
                cluster_id,
                run_id: None,
            })
            .map_err(|_| format!("cluster must be a number, got `{c}`")),
    };
    let r = match sel {
        Ok(sel) => review::accept_ensemble(&st.store, &sel, &s.name).await,
        Err(m) => Err(ReviewError::Invalid(m)),
    };
    // The ones the ensemble did not agree on stay pending; say so, but do
    // not list each.
    let r = r.map(|mut o| {
        o.refused.retain(|x| x.kind != RefusalKind::NoConsensus);
        o
    });
    outcome(&st, &headers, &s, r, next)
}

/// `POST /review/proposals/ID/skip`: not now; it is listed after the others
/// for this reviewer.
pub async fn skip_one(
    State(st): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> Response {
    let s = match require_action(&st, &headers, &f.csrf) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let next = local_path(f.next.as_deref(), "/review");
    match st.store.skip_proposal(id, &s.name).await {
        Ok(()) => {
            st.auth.set_flash(
                &headers,
                format!("skipped #{id}: it is listed last for {}.", s.name),
            );
            see_other(next, None)
        }
        Err(e) => internal(e, Some(&s)),
    }
}

/// `POST /review/proposals/ID/reopen`: undo the decision (`proposals reopen`).
pub async fn reopen_one(
    State(st): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> Response {
    let s = match require_action(&st, &headers, &f.csrf) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let next = local_path(f.next.as_deref(), "/review");
    match review::reopen(&st.store, id, &s.name).await {
        Ok((p, v)) => {
            let mut flash = format!("reopened #{} by {}: it is pending again.", p.id, s.name);
            if let Some(v) = v {
                let _ = write!(
                    flash,
                    " Golden set {} is now at version {} ({} examples) without it.",
                    v.set_name, v.version, v.active_count
                );
            }
            st.auth.set_flash(&headers, flash);
            see_other(next, None)
        }
        Err(ReviewError::Store(StoreError::NotFound(_))) => message(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("proposal {id} does not exist"),
            Some(&s),
            Some(next),
        ),
        Err(ReviewError::Store(StoreError::Conflict(m))) => {
            message(StatusCode::CONFLICT, "Conflict", &m, Some(&s), Some(next))
        }
        Err(e) => internal(e, Some(&s)),
    }
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
        Ok(_) if f.confirm_output.is_none() => Err(ReviewError::Invalid(
            "tick “their production outputs are correct as they are” to accept them unchanged; in a gap the production answer is often wrong".into(),
        )),
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
