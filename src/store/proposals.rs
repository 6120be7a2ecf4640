//! Proposed golden examples and their review.
//!
//! A decision moves a proposal out of `pending` exactly once: every write is an
//! `UPDATE … WHERE status = 'pending'` whose row count is checked, so a second
//! reviewer gets a conflict naming the first, never a silent overwrite. Accepting
//! adds the examples to the golden set in the same transaction, one new version
//! per set however many proposals are accepted together.

use std::collections::BTreeMap;

use sqlx::{QueryBuilder, Row};

use super::decisions::{
    DecideOutcome, Decision, ProposalFilter, ProposalStatus, Refusal, ReviewAction,
};
use super::golden::{GoldenChange, GoldenTx};
use super::types::{
    content_hash, ms_to_dt, GoldenVersion, NewGoldenExample, NewProposal, Proposal,
};
use super::{now_ms, on_pool, Result, Store, StoreError};

const PROPOSAL_COLUMNS: &str =
    "id, run_id, job, golden_set, kind, cluster_id, cluster_label, trace_id, external_id, \
     input, output, input_hash, nearest_golden_id, nearest_golden_similarity, status, \
     expected_output, reason, decided_by, decided_at_ms, golden_example_id, created_at_ms, \
     reopened_by, reopened_at_ms, ensemble_status, ensemble_output, ensemble_share";

macro_rules! proposal_from_row {
    ($row:expr) => {{
        let r = $row;
        let decided: Option<i64> = r.try_get("decided_at_ms")?;
        let reopened: Option<i64> = r.try_get("reopened_at_ms")?;
        Proposal {
            id: r.try_get("id")?,
            run_id: r.try_get("run_id")?,
            job: r.try_get("job")?,
            golden_set: r.try_get("golden_set")?,
            kind: r.try_get("kind")?,
            cluster_id: r.try_get("cluster_id")?,
            cluster_label: r.try_get("cluster_label")?,
            trace_id: r.try_get("trace_id")?,
            external_id: r.try_get("external_id")?,
            input: r.try_get("input")?,
            output: r.try_get("output")?,
            input_hash: r.try_get("input_hash")?,
            nearest_golden_id: r.try_get("nearest_golden_id")?,
            nearest_golden_similarity: r.try_get("nearest_golden_similarity")?,
            status: r.try_get("status")?,
            expected_output: r.try_get("expected_output")?,
            reason: r.try_get("reason")?,
            decided_by: r.try_get("decided_by")?,
            decided_at: decided.map(ms_to_dt),
            golden_example_id: r.try_get("golden_example_id")?,
            created_at: ms_to_dt(r.try_get("created_at_ms")?),
            reopened_by: r.try_get("reopened_by")?,
            reopened_at: reopened.map(ms_to_dt),
            ensemble_status: r.try_get("ensemble_status")?,
            ensemble_output: r.try_get("ensemble_output")?,
            ensemble_share: r.try_get("ensemble_share")?,
        }
    }};
}

/// The golden-version description of accepting `ids`: the ids (abridged past ten)
/// and the reviewer when there is only one.
fn accept_description(ids: &[i64], by: &[&str]) -> String {
    let list = if ids.len() <= 10 {
        ids.iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        format!("{} … {}", ids[0], ids[ids.len() - 1])
    };
    let what = match ids.len() {
        1 => format!("accept proposal {list}"),
        n if n <= 10 => format!("accept proposals {list}"),
        n => format!("accept {n} proposals ({list})"),
    };
    match by {
        [one] => format!("{what} by {one}"),
        _ => what,
    }
}

/// `%text%` for a case-insensitive `LIKE` (the column is lowered too), with
/// `%`, `_` and the escape character itself taken literally.
fn like_pattern(text: &str) -> String {
    let mut o = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            o.push('\\');
        }
        o.push(c);
    }
    o.push('%');
    o
}

/// Decided and pending proposals of one gap (or of no gap) by one reviewer
/// (`None` while pending): the review page's progress figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressRow {
    pub job: String,
    pub cluster_id: Option<i64>,
    pub status: String,
    pub decided_by: Option<String>,
    pub count: i64,
}

impl Store {
    /// Proposal counts by job, gap, status and reviewer.
    pub async fn review_progress(&self, job: Option<&str>) -> Result<Vec<ProgressRow>> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT job, cluster_id, status, decided_by, COUNT(*) AS n FROM proposals \
                 WHERE ($1 IS NULL OR job = $1) GROUP BY job, cluster_id, status, decided_by \
                 ORDER BY job, cluster_id, status, decided_by",
            )
            .bind(job)
            .fetch_all(p)
            .await?;
            rows.into_iter()
                .map(|r| {
                    Ok(ProgressRow {
                        job: r.try_get("job")?,
                        cluster_id: r.try_get("cluster_id")?,
                        status: r.try_get("status")?,
                        decided_by: r.try_get("decided_by")?,
                        count: r.try_get("n")?,
                    })
                })
                .collect()
        })
    }

    /// Records that `reviewer` skipped proposal `id` (again: a no-op).
    pub async fn skip_proposal(&self, id: i64, reviewer: &str) -> Result<()> {
        on_pool!(self, p => {
            sqlx::query(
                "INSERT INTO proposal_skips (proposal_id, reviewer, skipped_at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (proposal_id, reviewer) DO NOTHING",
            )
            .bind(id)
            .bind(reviewer)
            .bind(now_ms())
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// The proposals `reviewer` skipped that are still pending.
    pub async fn skipped_proposals(
        &self,
        reviewer: &str,
    ) -> Result<std::collections::HashSet<i64>> {
        on_pool!(self, p => {
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT s.proposal_id FROM proposal_skips s JOIN proposals p ON p.id = s.proposal_id \
                 WHERE s.reviewer = $1 AND p.status = $2",
            )
            .bind(reviewer)
            .bind(ProposalStatus::Pending.as_str())
            .fetch_all(p)
            .await?;
            Ok(ids.into_iter().collect())
        })
    }

    /// Undoes the decision on proposal `id`: it is pending again, its decision
    /// fields cleared and `reopened_by` set. Reopening an accepted proposal
    /// archives the example it became in a new golden version (unless that
    /// example is archived already), in the same transaction. `Conflict` when
    /// it is pending, or someone changed it meanwhile.
    pub async fn reopen_proposal(
        &self,
        id: i64,
        by: &str,
    ) -> Result<(Proposal, Option<GoldenVersion>)> {
        let now = now_ms();
        let select = format!("SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE id = $1");
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let result: Result<Option<GoldenVersion>> = async {
                let r = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("proposal {id}")))?;
                let before = proposal_from_row!(r);
                if before.status == ProposalStatus::Pending.as_str() {
                    return Err(StoreError::Conflict(format!("proposal {id} is pending: there is no decision to undo")));
                }
                let mut version = None;
                if let Some(g) = before.golden_example_id {
                    let active: Option<i64> = sqlx::query_scalar(
                        "SELECT id FROM golden_examples WHERE id = $1 AND archived = $2",
                    )
                    .bind(g)
                    .bind(false)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if active.is_some() {
                        let change = GoldenChange {
                            description: format!("reopen proposal {id} by {by}: example {g} archived"),
                            add: Vec::new(),
                            archive: vec![g],
                        };
                        version = Some(GoldenTx::apply_golden_change_in(&mut *tx, &before.golden_set, &change, now).await?);
                    }
                }
                let n = sqlx::query(
                    "UPDATE proposals SET status = $1, expected_output = NULL, reason = NULL, decided_by = NULL, \
                     decided_at_ms = NULL, golden_example_id = NULL, reopened_by = $2, reopened_at_ms = $3 \
                     WHERE id = $4 AND status = $5",
                )
                .bind(ProposalStatus::Pending.as_str())
                .bind(by)
                .bind(now)
                .bind(id)
                .bind(&before.status)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err(StoreError::Conflict(format!("proposal {id} changed while it was reopened")));
                }
                Ok(version)
            }
            .await;
            match result {
                Ok(version) => {
                    tx.commit().await?;
                    Ok((self.get_proposal(id).await?, version))
                }
                Err(e) => {
                    // Roll back now, not when the connection is next used (see
                    // `apply_golden_change`).
                    let _ = tx.rollback().await;
                    Err(e)
                }
            }
        })
    }

    /// Queues proposals of a run; returns how many were stored.
    pub async fn insert_proposals(&self, run_id: i64, proposals: &[NewProposal]) -> Result<u64> {
        if proposals.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        on_pool!(self, p => {
            let mut qb = QueryBuilder::new(
                "INSERT INTO proposals (run_id, job, golden_set, kind, cluster_id, cluster_label, trace_id, external_id, \
                 input, output, input_hash, nearest_golden_id, nearest_golden_similarity, status, created_at_ms) ",
            );
            qb.push_values(proposals, |mut b, x| {
                b.push_bind(run_id)
                    .push_bind(&x.job)
                    .push_bind(&x.golden_set)
                    .push_bind(&x.kind)
                    .push_bind(x.cluster_id)
                    .push_bind(&x.cluster_label)
                    .push_bind(x.trace_id)
                    .push_bind(&x.external_id)
                    .push_bind(&x.input)
                    .push_bind(&x.output)
                    .push_bind(content_hash(&x.input))
                    .push_bind(x.nearest_golden_id)
                    .push_bind(x.nearest_golden_similarity)
                    .push_bind("pending")
                    .push_bind(now);
            });
            Ok(qb.build().execute(p).await?.rows_affected())
        })
    }

    /// Input texts of pending and rejected proposals of a golden set, for near-duplicate skipping.
    pub async fn open_or_rejected_proposal_inputs(&self, golden_set: &str) -> Result<Vec<String>> {
        on_pool!(self, p => {
            let v: Vec<String> = sqlx::query_scalar(
                "SELECT input FROM proposals WHERE golden_set = $1 AND status IN ('pending', 'rejected') ORDER BY id",
            )
            .bind(golden_set)
            .fetch_all(p)
            .await?;
            Ok(v)
        })
    }

    /// Proposals matching `filter`, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn list_proposals(&self, filter: &ProposalFilter) -> Result<Vec<Proposal>> {
        let sql = format!(
            "SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE ($1 IS NULL OR status = $1) \
             AND ($2 IS NULL OR job = $2) AND ($3 IS NULL OR cluster_id = $3) \
             AND ($4 IS NULL OR golden_set = $4) AND ($5 IS NULL OR run_id = $5) \
             AND ($7 IS NULL OR LOWER(input) LIKE $7 ESCAPE '\\' OR LOWER(output) LIKE $7 ESCAPE '\\' \
                  OR LOWER(COALESCE(expected_output, '')) LIKE $7 ESCAPE '\\') \
             ORDER BY id LIMIT $6"
        );
        let pattern = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(like_pattern);
        on_pool!(self, p => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(filter.status.map(ProposalStatus::as_str))
                .bind(filter.job.as_deref())
                .bind(filter.cluster_id)
                .bind(filter.golden_set.as_deref())
                .bind(filter.run_id)
                .bind(filter.limit.unwrap_or(i64::MAX))
                .bind(pattern.as_deref())
                .fetch_all(p)
                .await?;
            rows.into_iter().map(|r| Ok(proposal_from_row!(r))).collect()
        })
    }

    /// One proposal with its review state.
    #[tracing::instrument(skip_all, fields(proposal.id = id))]
    pub async fn get_proposal(&self, id: i64) -> Result<Proposal> {
        let sql = format!("SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE id = $1");
        on_pool!(self, p => {
            let r = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id)
                .fetch_optional(p)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("proposal {id}")))?;
            Ok(proposal_from_row!(r))
        })
    }

    /// Accepts one pending proposal with `expected_output`: in one transaction the
    /// proposal is marked accepted and its input joins its golden set as a new
    /// version (provenance `accepted_proposal`). `Conflict` when someone already
    /// decided it, `NotFound` when there is no such proposal.
    pub async fn accept_proposal(
        &self,
        id: i64,
        expected_output: String,
        decided_by: &str,
    ) -> Result<(Proposal, GoldenVersion)> {
        let decision = Decision {
            id,
            action: ReviewAction::Accept {
                expected_output: Some(expected_output),
            },
            decided_by: decided_by.to_string(),
        };
        let mut out = self.decide_many(std::slice::from_ref(&decision)).await?;
        if let Some(r) = out.refused.pop() {
            return Err(r.into_store_error());
        }
        match (out.decided.pop(), out.versions.pop()) {
            (Some(p), Some(v)) => Ok((p, v)),
            _ => Err(StoreError::Corrupt(format!(
                "accepting proposal {id} produced no golden version"
            ))),
        }
    }

    /// Rejects one pending proposal with `reason`; same conflict rule as
    /// [`Store::accept_proposal`]. Rejected inputs stay excluded from later proposals.
    pub async fn reject_proposal(
        &self,
        id: i64,
        reason: &str,
        decided_by: &str,
    ) -> Result<Proposal> {
        let decision = Decision {
            id,
            action: ReviewAction::Reject {
                reason: reason.to_string(),
            },
            decided_by: decided_by.to_string(),
        };
        let mut out = self.decide_many(std::slice::from_ref(&decision)).await?;
        if let Some(r) = out.refused.pop() {
            return Err(r.into_store_error());
        }
        out.decided
            .pop()
            .ok_or_else(|| StoreError::NotFound(format!("proposal {id}")))
    }

    /// Applies many decisions in one transaction. A proposal that is no longer
    /// pending (or does not exist) is refused and listed in the outcome; the others
    /// are applied. Accepted proposals join their golden set as ONE new version per
    /// set, and each records the id of the example it became.
    #[tracing::instrument(skip_all, fields(decisions = decisions.len()))]
    pub async fn decide_many(&self, decisions: &[Decision]) -> Result<DecideOutcome> {
        if decisions.is_empty() {
            return Ok(DecideOutcome::default());
        }
        let now = now_ms();
        let select = format!("SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE id = $1");
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let mut out = DecideOutcome::default();
            for d in decisions {
                let q = match &d.action {
                    ReviewAction::Accept { expected_output } => sqlx::query(
                        "UPDATE proposals SET status = $1, expected_output = COALESCE($2, output), \
                         decided_by = $3, decided_at_ms = $4 WHERE id = $5 AND status = $6",
                    )
                    .bind(ProposalStatus::Accepted.as_str())
                    .bind(expected_output.as_deref()),
                    ReviewAction::Reject { reason } => sqlx::query(
                        "UPDATE proposals SET status = $1, reason = $2, \
                         decided_by = $3, decided_at_ms = $4 WHERE id = $5 AND status = $6",
                    )
                    .bind(ProposalStatus::Rejected.as_str())
                    .bind(Some(reason.as_str())),
                };
                let n = q
                    .bind(&d.decided_by)
                    .bind(now)
                    .bind(d.id)
                    .bind(ProposalStatus::Pending.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let row = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
                    .bind(d.id)
                    .fetch_optional(&mut *tx)
                    .await?;
                match row {
                    None => out.refused.push(Refusal::not_found(d.id)),
                    Some(r) => {
                        let proposal = proposal_from_row!(r);
                        if n == 0 {
                            out.refused.push(Refusal::conflict(&proposal));
                        } else {
                            out.decided.push(proposal);
                        }
                    }
                }
            }
            // One version per golden set, sets in name order so concurrent
            // transactions take the per-set locks in the same order.
            let mut by_set: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for (i, prop) in out.decided.iter().enumerate() {
                if prop.status == ProposalStatus::Accepted.as_str() {
                    by_set.entry(prop.golden_set.clone()).or_default().push(i);
                }
            }
            for (set, idx) in by_set {
                let ids: Vec<i64> = idx.iter().map(|&i| out.decided[i].id).collect();
                let mut deciders: Vec<&str> =
                    idx.iter().filter_map(|&i| out.decided[i].decided_by.as_deref()).collect();
                deciders.sort_unstable();
                deciders.dedup();
                let change = GoldenChange {
                    description: accept_description(&ids, &deciders),
                    add: idx
                        .iter()
                        .map(|&i| {
                            let prop = &out.decided[i];
                            NewGoldenExample {
                                input: prop.input.clone(),
                                expected_output: prop
                                    .expected_output
                                    .clone()
                                    .unwrap_or_else(|| prop.output.clone()),
                                tags: Vec::new(),
                                proposal_id: Some(prop.id),
                            }
                        })
                        .collect(),
                    archive: Vec::new(),
                };
                let version = GoldenTx::apply_golden_change_in(&mut *tx, &set, &change, now).await?;
                let rows = sqlx::query(
                    "SELECT id, proposal_id FROM golden_examples \
                     WHERE set_name = $1 AND version_added = $2 AND proposal_id IS NOT NULL",
                )
                .bind(&set)
                .bind(version.version)
                .fetch_all(&mut *tx)
                .await?;
                for r in rows {
                    let example_id: i64 = r.try_get("id")?;
                    let proposal_id: i64 = r.try_get("proposal_id")?;
                    sqlx::query("UPDATE proposals SET golden_example_id = $1 WHERE id = $2")
                        .bind(example_id)
                        .bind(proposal_id)
                        .execute(&mut *tx)
                        .await?;
                    if let Some(&i) = idx.iter().find(|&&i| out.decided[i].id == proposal_id) {
                        out.decided[i].golden_example_id = Some(example_id);
                    }
                }
                out.versions.push(version);
            }
            tx.commit().await?;
            Ok(out)
        })
    }
}
