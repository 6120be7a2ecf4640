//! The review loop: the data team looks at proposals (production traces the
//! golden set does not cover, queued by analysis runs) and accepts them with an
//! expected output, which adds them to the golden set as a new version, or
//! rejects them with a reason. This module holds the plain [`accept`] / [`reject`]
//! functions that the `driftwatch proposals …` commands (`cli::proposals`) and the
//! web pages both call, so both take one code path; the persisted vocabulary
//! (status, filters, decisions) is the store's and is re-exported here.
//! It issues no SQL: every decision goes through [`Store::decide_many`], which
//! checks in one transaction that each proposal is still pending, so two
//! reviewers acting on the same proposal get a conflict, never an overwrite.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Write};

use serde::Serialize;
use serde_json::{json, Value};

mod exclusions;

pub use exclusions::{exclude_topic, lift_exclusion, ExcludeOutcome, MAX_EXEMPLARS};

use crate::ingest::LineError;
pub use crate::store::{
    DecideOutcome, Decision, ExclusionScope, ProposalFilter, ProposalStatus, Refusal, RefusalKind,
    ReviewAction, TopicExclusion,
};
use crate::store::{GoldenExample, GoldenVersion, Proposal, Store, StoreError};

/// Which proposals a decision is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// These proposals (duplicates are ignored).
    Ids(Vec<i64>),
    /// Every pending proposal of one cluster of a job. Cluster ids are numbered
    /// per run, so without `run_id` the cluster's pending proposals must all come
    /// from one run.
    Cluster {
        job: String,
        cluster_id: i64,
        run_id: Option<i64>,
    },
    /// Every pending proposal of a job.
    Job(String),
}

/// The expected output an accepted proposal gets.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectedOutput {
    /// The reviewer's text.
    Edited(String),
    /// The production output as it is.
    UseOutput,
}

/// Errors of the review functions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReviewError {
    /// The request cannot be applied as given (empty reason, empty selection…);
    /// nothing was written.
    #[error("{0}")]
    Invalid(String),
    /// Reading the store failed, or the decision transaction did.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing an export failed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The reviewer name used when none is given: `$USER`, else `cli`.
pub fn default_reviewer() -> String {
    std::env::var("USER")
        .ok()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "cli".into())
}

fn check_reviewer(by: &str) -> Result<String, ReviewError> {
    let by = by.trim();
    if by.is_empty() {
        return Err(ReviewError::Invalid(
            "reviewer name must not be empty".into(),
        ));
    }
    Ok(by.to_string())
}

/// Accepts the selected pending proposals, all in one transaction and one new
/// golden version per set. Proposals someone already decided are refused and
/// listed in the outcome; the others are accepted.
pub async fn accept(
    store: &Store,
    selection: &Selection,
    expected: ExpectedOutput,
    decided_by: &str,
) -> Result<DecideOutcome, ReviewError> {
    let by = check_reviewer(decided_by)?;
    let expected_output = match expected {
        ExpectedOutput::Edited(t) if t.trim().is_empty() => {
            return Err(ReviewError::Invalid(
                "expected output must not be empty".into(),
            ))
        }
        ExpectedOutput::Edited(t) => Some(t),
        ExpectedOutput::UseOutput => None,
    };
    let ids = resolve(store, selection).await?;
    let single = ids.len() == 1;
    let decisions: Vec<Decision> = ids
        .into_iter()
        .map(|id| Decision {
            id,
            action: ReviewAction::Accept {
                expected_output: expected_output.clone(),
            },
            decided_by: by.clone(),
        })
        .collect();
    let (decisions, refused) = check_contracts(store, decisions).await?;
    if single {
        if let Some(r) = refused.first() {
            return Err(ReviewError::Invalid(r.message.clone()));
        }
    }
    let mut outcome = store.decide_many(&decisions).await?;
    outcome.refused.extend(refused);
    Ok(outcome)
}

/// Accepts the selected pending proposals on which the LLM ensemble agreed,
/// each with the output the agreeing models gave (checked against the golden
/// set's output contract like any expected output). The others are refused
/// and listed: the ensemble did not agree, or was not asked.
pub async fn accept_ensemble(
    store: &Store,
    selection: &Selection,
    decided_by: &str,
) -> Result<DecideOutcome, ReviewError> {
    let by = check_reviewer(decided_by)?;
    let mut decisions = Vec::new();
    let mut refused = Vec::new();
    for id in resolve(store, selection).await? {
        let p = match store.get_proposal(id).await {
            Ok(p) => p,
            Err(StoreError::NotFound(_)) => {
                refused.push(Refusal::not_found(id));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        match (p.ensemble_status.as_deref(), p.ensemble_output) {
            (Some("agrees"), Some(output)) => decisions.push(Decision {
                id,
                action: ReviewAction::Accept {
                    expected_output: Some(output),
                },
                decided_by: by.clone(),
            }),
            (status, _) => refused.push(Refusal {
                id,
                kind: RefusalKind::NoConsensus,
                message: format!(
                    "proposal {id}: {}",
                    match status {
                        None => "the ensemble was not asked",
                        Some(_) => "the ensemble did not agree on an output",
                    }
                ),
            }),
        }
    }
    let (decisions, invalid) = check_contracts(store, decisions).await?;
    let mut outcome = store.decide_many(&decisions).await?;
    outcome.refused.extend(invalid);
    outcome.refused.extend(refused);
    Ok(outcome)
}

/// Share of a golden set's outputs that must be JSON documents for JSON to be
/// its output contract (the same rule as the structural `output.json_valid`).
pub const JSON_CONTRACT_SHARE: f64 = 0.95;

/// Golden outputs needed before a contract is inferred at all.
pub const MIN_CONTRACT_EXAMPLES: usize = 10;

/// The output contract a golden set's expected outputs imply: JSON when at
/// least [`JSON_CONTRACT_SHARE`] of at least [`MIN_CONTRACT_EXAMPLES`] are
/// JSON documents and then, when as many are objects, their shape (the
/// top-level keys that many hold, each with its type when that many of its
/// values share one; [`crate::metrics::JsonShape`], the same shape a run infers
/// for `output.schema_valid`).
#[derive(Debug, Clone, PartialEq)]
pub struct OutputContract {
    /// Share of the expected outputs that are JSON documents.
    pub json_share: f64,
    /// The inferred shape as a JSON Schema, when the outputs are objects with
    /// keys in common.
    pub shape: Option<Value>,
}

impl OutputContract {
    /// Why `text` breaks the contract, or `None`: the parser's reason when it
    /// is not a JSON document, or the first key it lacks or holds with another
    /// type ([`crate::metrics::shape_violation`]).
    pub fn violation(&self, text: &str) -> Option<ContractViolation> {
        if let Some(why) = crate::text::json_document_error(text) {
            return Some(ContractViolation::NotJson(why));
        }
        let shape = self.shape.as_ref()?;
        let doc = crate::text::json_document(text)?;
        crate::metrics::shape_violation(shape, &doc).map(ContractViolation::Shape)
    }

    /// What an answer must be, for a prompt: "a JSON object with the keys
    /// `answer` (string), `intent` (string), …".
    pub fn prompt_hint(&self) -> String {
        match &self.shape {
            Some(s) => format!(
                "a JSON object with the keys {} like the examples, nothing else",
                crate::metrics::describe_shape(s)
            ),
            None => "a JSON object with the same fields as the examples, nothing else".into(),
        }
    }
}

/// How an output breaks a golden set's [`OutputContract`].
#[derive(Debug, Clone, PartialEq)]
pub enum ContractViolation {
    /// Not a JSON document; the parser's reason.
    NotJson(String),
    /// JSON, but not of the golden outputs' shape; which key and how.
    Shape(String),
}

/// The output contract of a golden set's expected outputs (see
/// [`OutputContract`]), or `None` when they are free text or fewer than ten.
pub fn output_contract<'a>(
    expected_outputs: impl IntoIterator<Item = &'a str>,
) -> Option<OutputContract> {
    let mut n = 0;
    let mut json = 0;
    let mut shape = crate::metrics::JsonShape::default();
    for out in expected_outputs {
        n += 1;
        match crate::text::json_document(out) {
            Some(Value::Object(o)) => {
                json += 1;
                shape.add_object(&o);
            }
            Some(_) => json += 1,
            None => {}
        }
    }
    let most = |k: usize| k as f64 >= JSON_CONTRACT_SHARE * n as f64;
    (n >= MIN_CONTRACT_EXAMPLES && most(json)).then(|| OutputContract {
        json_share: json as f64 / n as f64,
        shape: if most(shape.objects()) {
            shape.schema(JSON_CONTRACT_SHARE)
        } else {
            None
        },
    })
}

/// Splits accept decisions into those whose expected output (the edited one,
/// or the production output kept as it is) obeys the golden set's output
/// contract ([`output_contract`]: JSON, and the top-level keys and types
/// nearly every golden output has), and refusals naming the violation.
/// Rejects always pass.
async fn check_contracts(
    store: &Store,
    decisions: Vec<Decision>,
) -> Result<(Vec<Decision>, Vec<Refusal>), ReviewError> {
    let mut contracts: HashMap<String, Option<OutputContract>> = HashMap::new();
    let (mut ok, mut refused) = (Vec::new(), Vec::new());
    for d in decisions {
        let ReviewAction::Accept { expected_output } = &d.action else {
            ok.push(d);
            continue;
        };
        let p = match store.get_proposal(d.id).await {
            Ok(p) => p,
            // decide_many reports it as not found.
            Err(StoreError::NotFound(_)) => {
                ok.push(d);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if !contracts.contains_key(&p.golden_set) {
            let golden = store.golden_examples(&p.golden_set, None).await?;
            let outputs = golden.iter().map(|g| g.expected_output.as_str());
            contracts.insert(p.golden_set.clone(), output_contract(outputs));
        }
        let text = expected_output.as_deref().unwrap_or(&p.output);
        let Some(contract) = &contracts[&p.golden_set] else {
            ok.push(d);
            continue;
        };
        let what = if expected_output.is_some() {
            "expected output"
        } else {
            "production output"
        };
        let message = match contract.violation(text) {
            None => {
                ok.push(d);
                continue;
            }
            Some(ContractViolation::NotJson(why)) => format!(
                "proposal {}: the {what} is not valid JSON ({why}), but {:.0}% of golden set `{}`'s outputs are; edit it into valid JSON to accept",
                d.id,
                contract.json_share * 100.0,
                p.golden_set
            ),
            Some(ContractViolation::Shape(why)) => format!(
                "proposal {}: the {what} is JSON but not of golden set `{}`'s shape: {why}. Its outputs are objects with {}; edit it to match to accept",
                d.id,
                p.golden_set,
                contract
                    .shape
                    .as_ref()
                    .map(crate::metrics::describe_shape)
                    .unwrap_or_default()
            ),
        };
        refused.push(Refusal {
            id: d.id,
            kind: RefusalKind::Invalid,
            message,
        });
    }
    Ok((ok, refused))
}

/// Rejects the selected pending proposals with `reason`, in one transaction;
/// same conflict rule as [`accept`].
pub async fn reject(
    store: &Store,
    selection: &Selection,
    reason: &str,
    decided_by: &str,
) -> Result<DecideOutcome, ReviewError> {
    let by = check_reviewer(decided_by)?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ReviewError::Invalid("reason must not be empty".into()));
    }
    let ids = resolve(store, selection).await?;
    let decisions: Vec<Decision> = ids
        .into_iter()
        .map(|id| Decision {
            id,
            action: ReviewAction::Reject {
                reason: reason.to_string(),
            },
            decided_by: by.clone(),
        })
        .collect();
    Ok(store.decide_many(&decisions).await?)
}

/// Undoes the decision on proposal `id`: it is pending again. Undoing an
/// accept archives the example it became in a new golden version, so the set
/// no longer holds it; undoing a reject lets later runs propose it again.
pub async fn reopen(
    store: &Store,
    id: i64,
    decided_by: &str,
) -> Result<(Proposal, Option<GoldenVersion>), ReviewError> {
    let by = check_reviewer(decided_by)?;
    Ok(store.reopen_proposal(id, &by).await?)
}

/// The proposal ids a selection means, each once, in order.
async fn resolve(store: &Store, selection: &Selection) -> Result<Vec<i64>, ReviewError> {
    match selection {
        Selection::Ids(ids) => {
            let mut seen = HashSet::new();
            let ids: Vec<i64> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
            if ids.is_empty() {
                return Err(ReviewError::Invalid("no proposal ids given".into()));
            }
            Ok(ids)
        }
        Selection::Job(job) => {
            let pending = store
                .list_proposals(&ProposalFilter {
                    status: Some(ProposalStatus::Pending),
                    job: Some(job.clone()),
                    ..ProposalFilter::default()
                })
                .await?;
            if pending.is_empty() {
                return Err(ReviewError::Invalid(format!(
                    "no pending proposals in job {job}"
                )));
            }
            Ok(pending.into_iter().map(|p| p.id).collect())
        }
        Selection::Cluster {
            job,
            cluster_id,
            run_id,
        } => {
            let pending = store
                .list_proposals(&ProposalFilter {
                    status: Some(ProposalStatus::Pending),
                    job: Some(job.clone()),
                    cluster_id: Some(*cluster_id),
                    run_id: *run_id,
                    ..ProposalFilter::default()
                })
                .await?;
            let mut runs: Vec<i64> = pending.iter().map(|p| p.run_id).collect();
            runs.sort_unstable();
            runs.dedup();
            match runs.len() {
                0 => Err(ReviewError::Invalid(format!(
                    "no pending proposals in cluster {cluster_id} of job {job}{}",
                    run_id.map(|r| format!(" in run {r}")).unwrap_or_default()
                ))),
                1 => Ok(pending.into_iter().map(|p| p.id).collect()),
                _ => Err(ReviewError::Invalid(format!(
                    "cluster {cluster_id} of job {job} has pending proposals from runs {}\nhint: pass --run RUN to decide one run's proposals",
                    runs.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
                ))),
            }
        }
    }
}

/// The golden example a proposal is nearest to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NearestGolden {
    pub id: i64,
    pub input: String,
    pub expected_output: String,
    /// Cosine similarity of the two inputs' embeddings at proposal time.
    pub similarity: Option<f64>,
    /// Archived since the proposal was made.
    pub archived: bool,
}

impl NearestGolden {
    fn new(g: GoldenExample, similarity: Option<f64>) -> NearestGolden {
        NearestGolden {
            id: g.id,
            input: g.input,
            expected_output: g.expected_output,
            similarity,
            archived: g.archived,
        }
    }
}

/// Everything a reviewer needs to decide one proposal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProposalDetail {
    pub proposal: Proposal,
    pub nearest_golden: Option<NearestGolden>,
    /// Other proposals of the same cluster of the same run, any status.
    pub siblings: Vec<Proposal>,
}

/// Most siblings [`detail`] lists.
const MAX_SIBLINGS: i64 = 50;

/// One proposal with its nearest golden example and its cluster siblings.
pub async fn detail(store: &Store, id: i64) -> Result<ProposalDetail, ReviewError> {
    let proposal = store.get_proposal(id).await?;
    let nearest_golden = nearest(store, &proposal).await?;
    let siblings = match proposal.cluster_id {
        Some(c) => store
            .list_proposals(&ProposalFilter {
                cluster_id: Some(c),
                run_id: Some(proposal.run_id),
                job: Some(proposal.job.clone()),
                limit: Some(MAX_SIBLINGS + 1),
                ..ProposalFilter::default()
            })
            .await?
            .into_iter()
            .filter(|p| p.id != id)
            .collect(),
        None => Vec::new(),
    };
    Ok(ProposalDetail {
        proposal,
        nearest_golden,
        siblings,
    })
}

async fn nearest(store: &Store, p: &Proposal) -> Result<Option<NearestGolden>, ReviewError> {
    let Some(gid) = p.nearest_golden_id else {
        return Ok(None);
    };
    match store.golden_example(gid).await {
        Ok(g) => Ok(Some(NearestGolden::new(g, p.nearest_golden_similarity))),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes the proposals matching `filter` as JSONL for an external labelling
/// tool, one object per line: `id, job, golden_set, run_id, kind, cluster_id,
/// cluster_label, input, output, nearest_golden {id, input, expected_output,
/// similarity} | null, status` and the decision fields. Returns how many.
pub async fn export(
    store: &Store,
    filter: &ProposalFilter,
    out: &mut dyn Write,
) -> Result<usize, ReviewError> {
    let proposals = store.list_proposals(filter).await?;
    let mut golden: HashMap<i64, Option<GoldenExample>> = HashMap::new();
    for p in &proposals {
        let nearest = match p.nearest_golden_id {
            None => None,
            Some(gid) => {
                if let Entry::Vacant(slot) = golden.entry(gid) {
                    slot.insert(match store.golden_example(gid).await {
                        Ok(g) => Some(g),
                        Err(StoreError::NotFound(_)) => None,
                        Err(e) => return Err(e.into()),
                    });
                }
                golden
                    .get(&gid)
                    .cloned()
                    .flatten()
                    .map(|g| NearestGolden::new(g, p.nearest_golden_similarity))
            }
        };
        let line = json!({
            "id": p.id,
            "job": p.job,
            "golden_set": p.golden_set,
            "run_id": p.run_id,
            "kind": p.kind,
            "cluster_id": p.cluster_id,
            "cluster_label": p.cluster_label,
            "input": p.input,
            "output": p.output,
            "nearest_golden": nearest,
            "status": p.status,
            "expected_output": p.expected_output,
            "reason": p.reason,
            "decided_by": p.decided_by,
        });
        writeln!(out, "{line}")?;
    }
    Ok(proposals.len())
}

/// A decision of an imported file that was not applied, with its line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineRefusal {
    pub line: u64,
    #[serde(flatten)]
    pub refusal: Refusal,
}

/// What an import of decisions did. Bad lines and refused decisions are listed;
/// every valid, still-pending decision was applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReport {
    /// Non-blank lines read.
    pub read: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Lines that are not a usable decision, with the reason.
    pub errors: Vec<LineError>,
    /// Valid decisions the store refused (already decided, unknown id).
    pub refused: Vec<LineRefusal>,
    pub versions: Vec<GoldenVersion>,
}

impl ImportReport {
    fn bad(&mut self, line: u64, reason: impl Into<String>) {
        self.errors.push(LineError {
            line,
            reason: reason.into(),
        });
    }

    /// The one-line human summary.
    pub fn summary_line(&self) -> String {
        format!(
            "read {} / accepted {} / rejected {} / bad lines {} / refused {}",
            self.read,
            self.accepted,
            self.rejected,
            self.errors.len(),
            self.refused.len()
        )
    }

    /// Whether anything was left undone.
    pub fn is_partial(&self) -> bool {
        !self.errors.is_empty() || !self.refused.is_empty()
    }
}

/// Parses decision lines `{"id": N, "decision": "accept"|"reject",
/// "expected_output"?: "...", "use_output"?: true, "reason"?: "...", "by"?: "..."}`.
/// An accept needs `expected_output`, or `"use_output": true` to keep the
/// production output (never the default); a reject needs a
/// `reason`; `by` defaults to `default_by`. Other keys are ignored. A second
/// decision on the same id is a bad line. Returns each valid decision with its
/// 1-based line, and a report holding `read` and the bad lines.
pub fn parse_decisions(
    input: impl BufRead,
    default_by: &str,
) -> (Vec<(u64, Decision)>, ImportReport) {
    let mut report = ImportReport::default();
    let mut out: Vec<(u64, Decision)> = Vec::new();
    let mut first_line: HashMap<i64, u64> = HashMap::new();
    // A decision is an id, a verdict and at most one expected output.
    let max_line =
        crate::ingest::max_record_bytes(crate::ingest::IngestConfig::default().max_text_bytes);
    let failed = crate::ingest::for_each_json_object(input, max_line, |line, rec| {
        report.read += 1;
        match rec.and_then(|o| parse_decision(&o, default_by)) {
            Err(reason) => report.bad(line, reason),
            Ok(d) => match first_line.get(&d.id) {
                Some(first) => report.bad(
                    line,
                    format!("proposal {} is already decided on line {first}", d.id),
                ),
                None => {
                    first_line.insert(d.id, line);
                    out.push((line, d));
                }
            },
        }
    });
    if let Some((line, reason)) = failed {
        report.bad(line, reason);
    }
    (out, report)
}

fn parse_decision(
    o: &serde_json::Map<String, Value>,
    default_by: &str,
) -> Result<Decision, String> {
    let id = match o.get("id") {
        None | Some(Value::Null) => return Err("missing field `id`".into()),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(_) => None,
    }
    .ok_or_else(|| format!("`id` must be an integer, got {}", o["id"]))?;
    let text = |k: &str| -> Result<Option<&str>, String> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(format!("`{k}` must be a string, got {other}")),
        }
    };
    let by = match text("by")? {
        Some(b) if b.trim().is_empty() => return Err("`by` must not be empty".into()),
        Some(b) => b.trim().to_string(),
        None => default_by.to_string(),
    };
    let action = match text("decision")? {
        None => return Err("missing field `decision`".into()),
        Some("accept") => match (text("expected_output")?, o.get("use_output")) {
            (Some(e), _) if e.trim().is_empty() => {
                return Err("`expected_output` must not be empty".into())
            }
            (Some(_), Some(Value::Bool(true))) => {
                return Err("give `expected_output` or `\"use_output\": true`, not both".into())
            }
            (Some(e), _) => ReviewAction::Accept {
                expected_output: Some(e.to_string()),
            },
            (None, Some(Value::Bool(true))) => ReviewAction::Accept {
                expected_output: None,
            },
            (None, _) => return Err(
                "an accept needs `expected_output`, or `\"use_output\": true` to keep the production output as it is (in a gap it is often wrong)"
                    .into(),
            ),
        },
        Some("reject") => match text("reason")? {
            Some(r) if !r.trim().is_empty() => ReviewAction::Reject {
                reason: r.trim().to_string(),
            },
            _ => return Err("a reject needs a non-empty `reason`".into()),
        },
        Some(other) => {
            return Err(format!(
                "`decision` must be \"accept\" or \"reject\", got {other:?}"
            ))
        }
    };
    Ok(Decision {
        id,
        action,
        decided_by: by,
    })
}

/// Applies a file of decisions: bad lines are reported with their line number,
/// every valid decision is applied in one transaction (one golden version per
/// set), and decisions on proposals someone already decided are reported, not
/// fatal.
pub async fn import_decisions(
    store: &Store,
    input: impl BufRead,
    default_by: &str,
) -> Result<ImportReport, ReviewError> {
    let default_by = check_reviewer(default_by)?;
    let (decisions, mut report) = parse_decisions(input, &default_by);
    let lines: HashMap<i64, u64> = decisions.iter().map(|(l, d)| (d.id, *l)).collect();
    let decisions: Vec<Decision> = decisions.into_iter().map(|(_, d)| d).collect();
    let (decisions, invalid) = check_contracts(store, decisions).await?;
    let mut outcome = store.decide_many(&decisions).await?;
    outcome.refused.extend(invalid);
    for p in &outcome.decided {
        match ProposalStatus::parse(&p.status) {
            Some(ProposalStatus::Accepted) => report.accepted += 1,
            Some(ProposalStatus::Rejected) => report.rejected += 1,
            _ => {}
        }
    }
    report.refused = outcome
        .refused
        .into_iter()
        .map(|r| LineRefusal {
            line: lines.get(&r.id).copied().unwrap_or(0),
            refusal: r,
        })
        .collect();
    report.errors.sort_by_key(|e| e.line);
    report.versions = outcome.versions;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_contract_is_json_and_the_shape_nearly_every_golden_output_has() {
        let mut golden: Vec<String> = (0..19)
            .map(|i| json!({"intent": format!("i{i}"), "answer": "x", "n": i}).to_string())
            .collect();
        // One in twenty is free text: still 95 % JSON.
        golden.push("plain words".into());
        let c = output_contract(golden.iter().map(String::as_str)).unwrap();
        assert_eq!(c.json_share, 0.95);
        assert_eq!(
            c.violation(r#"{"intent": "a", "answer": "b", "n": 1}"#),
            None
        );
        assert!(matches!(
            c.violation("plain"),
            Some(ContractViolation::NotJson(_))
        ));
        assert_eq!(
            c.violation(r#"{"intent": "a", "reply": "b", "n": 1}"#),
            Some(ContractViolation::Shape("it has no key `answer`".into()))
        );
        assert!(c
            .prompt_hint()
            .contains("the keys `answer` (string), `intent` (string), `n` (number)"));
        // Arrays, or objects with nothing in common: JSON, and no shape.
        let arrays: Vec<String> = (0..12).map(|i| format!("[{i}]")).collect();
        let c = output_contract(arrays.iter().map(String::as_str)).unwrap();
        assert_eq!((c.json_share, c.shape.clone()), (1.0, None));
        assert_eq!(c.violation("[1, 2]"), None);
        assert!(c.prompt_hint().contains("the same fields as the examples"));
        // Two free-text outputs in twenty, or fewer than ten examples: no contract.
        golden[0] = "more words".into();
        assert_eq!(output_contract(golden.iter().map(String::as_str)), None);
        assert_eq!(
            output_contract(golden[1..10].iter().map(String::as_str)),
            None
        );
    }

    #[test]
    fn decision_lines_report_bad_lines_by_number() {
        let text = concat!(
            "{\"id\": 1, \"decision\": \"accept\", \"expected_output\": \"yes\"}\n",
            "\n",
            "{\"id\": 2, \"decision\": \"reject\", \"reason\": \"off topic\", \"by\": \"bo\"}\n",
            "not json\n",
            "{\"id\": 3, \"decision\": \"maybe\"}\n",
            "{\"id\": 4, \"decision\": \"reject\"}\n",
            "{\"id\": \"5\", \"decision\": \"accept\", \"use_output\": true}\n",
            "{\"id\": 1, \"decision\": \"reject\", \"reason\": \"x\"}\n",
            "[1]\n",
            "{\"decision\": \"accept\"}\n",
            "{\"id\": 6, \"decision\": \"accept\"}\n",
        );
        let (ds, rep) = parse_decisions(text.as_bytes(), "al");
        assert_eq!(rep.read, 10);
        let lines: Vec<u64> = ds.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![1, 3, 7]);
        assert_eq!(ds[0].1.decided_by, "al");
        assert_eq!(ds[1].1.decided_by, "bo");
        assert_eq!(
            ds[2].1.action,
            ReviewAction::Accept {
                expected_output: None
            }
        );
        let bad: Vec<(u64, &str)> = rep
            .errors
            .iter()
            .map(|e| (e.line, e.reason.as_str()))
            .collect();
        assert_eq!(bad[0].0, 4);
        assert!(bad[0].1.starts_with("malformed JSON"), "{bad:?}");
        assert_eq!(
            bad[1..],
            [
                (
                    5,
                    "`decision` must be \"accept\" or \"reject\", got \"maybe\""
                ),
                (6, "a reject needs a non-empty `reason`"),
                (8, "proposal 1 is already decided on line 1"),
                (9, "record is not a JSON object"),
                (10, "missing field `id`"),
                (11, "an accept needs `expected_output`, or `\"use_output\": true` to keep the production output as it is (in a gap it is often wrong)"),
            ]
        );
    }

    /// The web layer runs these on a multi-threaded runtime.
    #[allow(dead_code)]
    fn review_futures_are_send(store: &Store) {
        fn send<T: Send>(_: &T) {}
        let sel = Selection::Ids(vec![1]);
        send(&accept(store, &sel, ExpectedOutput::UseOutput, "a"));
        send(&reject(store, &sel, "r", "a"));
        send(&detail(store, 1));
        send(&store.accept_proposal(1, "x".into(), "a"));
    }
}
