//! The review loop: the data team looks at proposals (production traces the
//! golden set does not cover, queued by analysis runs) and accepts them with an
//! expected output, which adds them to the golden set as a new version, or
//! rejects them with a reason. This module owns the review vocabulary (filters,
//! decisions, outcomes), the `driftwatch proposals …` commands and the plain
//! [`accept`] / [`reject`] functions a web page calls, so both take one code path.
//! It issues no SQL: every decision goes through [`Store::decide_many`], which
//! checks in one transaction that each proposal is still pending, so two
//! reviewers acting on the same proposal get a conflict, never an overwrite.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::cli::exit;
use crate::ingest::LineError;
use crate::store::{GoldenExample, GoldenVersion, Proposal, Store, StoreError};
use crate::text::truncate;

/// Review state of a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    /// Waiting for a reviewer.
    Pending,
    /// Added to the golden set.
    Accepted,
    /// Kept out of the golden set, and out of later proposals.
    Rejected,
}

impl ProposalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::Pending => "pending",
            ProposalStatus::Accepted => "accepted",
            ProposalStatus::Rejected => "rejected",
        }
    }
    pub fn parse(s: &str) -> Option<ProposalStatus> {
        match s {
            "pending" => Some(ProposalStatus::Pending),
            "accepted" => Some(ProposalStatus::Accepted),
            "rejected" => Some(ProposalStatus::Rejected),
            _ => None,
        }
    }
}

/// Which proposals to list; `None` fields match everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProposalFilter {
    pub status: Option<ProposalStatus>,
    pub job: Option<String>,
    pub cluster_id: Option<i64>,
    pub golden_set: Option<String>,
    /// Cluster ids are numbered per run: give the run to mean one cluster.
    pub run_id: Option<i64>,
    /// At most this many (all when `None`).
    pub limit: Option<i64>,
}

/// What a reviewer decided about one proposal.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ReviewAction {
    /// Add it to the golden set with this expected output; `None` keeps the
    /// production output as the expected one.
    Accept { expected_output: Option<String> },
    /// Keep it out of the golden set.
    Reject { reason: String },
}

/// One decision, ready for [`Store::decide_many`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub id: i64,
    #[serde(flatten)]
    pub action: ReviewAction,
    pub decided_by: String,
}

/// Why a decision was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    /// No proposal has this id.
    NotFound,
    /// The proposal was no longer pending: someone decided it first.
    Conflict,
}

/// A decision that was not applied, with a message naming who decided first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    pub id: i64,
    pub kind: RefusalKind,
    pub message: String,
}

impl Refusal {
    pub fn not_found(id: i64) -> Refusal {
        Refusal {
            id,
            kind: RefusalKind::NotFound,
            message: format!("proposal {id} does not exist"),
        }
    }

    /// `p` as it is now, decided by someone else (or earlier in the same batch).
    pub fn conflict(p: &Proposal) -> Refusal {
        let when = p
            .decided_at
            .map(|t| format!(" at {}", t.format("%Y-%m-%d %H:%M:%S UTC")))
            .unwrap_or_default();
        Refusal {
            id: p.id,
            kind: RefusalKind::Conflict,
            message: format!(
                "proposal {} was already {} by {}{when}",
                p.id,
                p.status,
                p.decided_by.as_deref().unwrap_or("someone")
            ),
        }
    }

    /// The store error a single-proposal call reports.
    pub fn into_store_error(self) -> StoreError {
        match self.kind {
            RefusalKind::NotFound => StoreError::NotFound(format!("proposal {}", self.id)),
            RefusalKind::Conflict => StoreError::Conflict(self.message),
        }
    }
}

/// What a batch of decisions did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DecideOutcome {
    /// Proposals decided now, as stored after the decision (accepted ones carry
    /// their `golden_example_id`).
    pub decided: Vec<Proposal>,
    /// Decisions not applied; the rest of the batch was.
    pub refused: Vec<Refusal>,
    /// One new golden version per set that gained accepted examples.
    pub versions: Vec<GoldenVersion>,
}

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
    Ok(store.decide_many(&decisions).await?)
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
                    "cluster {cluster_id} of job {job} has pending proposals from runs {}, and cluster ids are numbered per run\nhint: pass --run RUN to pick one",
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
/// "expected_output"?: "...", "reason"?: "...", "by"?: "..."}`. An accept
/// without `expected_output` keeps the production output; a reject needs a
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
    let failed = crate::ingest::for_each_json_object(input, |line, rec| {
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
        Some("accept") => match text("expected_output")? {
            Some(e) if e.trim().is_empty() => return Err(
                "`expected_output` must not be empty (leave it out to keep the production output)"
                    .into(),
            ),
            e => ReviewAction::Accept {
                expected_output: e.map(str::to_string),
            },
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
    let outcome = store.decide_many(&decisions).await?;
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

/// `--status` of the listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusArg {
    Pending,
    Accepted,
    Rejected,
    All,
}

impl StatusArg {
    fn status(self) -> Option<ProposalStatus> {
        match self {
            StatusArg::Pending => Some(ProposalStatus::Pending),
            StatusArg::Accepted => Some(ProposalStatus::Accepted),
            StatusArg::Rejected => Some(ProposalStatus::Rejected),
            StatusArg::All => None,
        }
    }
}

/// `driftwatch proposals …`: review proposed golden examples.
#[derive(Debug, clap::Subcommand)]
pub enum ProposalsCmd {
    /// List proposals, oldest first (pending ones unless --status says otherwise).
    List {
        #[arg(long, value_enum, default_value = "pending")]
        status: StatusArg,
        #[arg(long)]
        job: Option<String>,
        /// Cluster id (numbered per run; narrow with --run).
        #[arg(long, value_name = "ID")]
        cluster: Option<i64>,
        #[arg(long, value_name = "RUN")]
        run: Option<i64>,
        /// Golden set.
        #[arg(long, value_name = "SET")]
        set: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Show one proposal: input, production output, nearest golden example and its
    /// similarity, cluster label, and the other proposals of its cluster.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Accept proposals into their golden set (one new version for all of them).
    #[command(group(clap::ArgGroup::new("target").args(["ids", "cluster"]).required(true)))]
    #[command(group(clap::ArgGroup::new("expected").args(["expected_output", "use_output"]).required(true)))]
    Accept {
        /// Proposal ids.
        ids: Vec<i64>,
        /// The expected output the golden example gets.
        #[arg(long, value_name = "TEXT")]
        expected_output: Option<String>,
        /// Keep the production output as the expected output.
        #[arg(long)]
        use_output: bool,
        /// Accept every pending proposal of this cluster of --job.
        #[arg(long, value_name = "ID", requires = "job")]
        cluster: Option<i64>,
        #[arg(long, requires = "cluster")]
        job: Option<String>,
        /// The run the cluster id belongs to (needed when several runs left
        /// pending proposals under the same cluster id).
        #[arg(long, value_name = "RUN", requires = "cluster")]
        run: Option<i64>,
        /// Reviewer name recorded with the decision (default $USER, else `cli`).
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Reject proposals with a reason; later runs will not propose them again.
    #[command(group(clap::ArgGroup::new("target").args(["ids", "cluster"]).required(true)))]
    Reject {
        /// Proposal ids.
        ids: Vec<i64>,
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Reject every pending proposal of this cluster of --job.
        #[arg(long, value_name = "ID", requires = "job")]
        cluster: Option<i64>,
        #[arg(long, requires = "cluster")]
        job: Option<String>,
        /// The run the cluster id belongs to.
        #[arg(long, value_name = "RUN", requires = "cluster")]
        run: Option<i64>,
        /// Reviewer name recorded with the decision (default $USER, else `cli`).
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Export proposals as JSONL for an external labelling tool.
    Export {
        #[arg(long, value_enum, default_value = "pending")]
        status: StatusArg,
        #[arg(long)]
        job: Option<String>,
        /// Golden set.
        #[arg(long, value_name = "SET")]
        set: Option<String>,
        /// Output file (default stdout).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Apply decisions from a JSONL file (`-` for stdin): lines
    /// {"id": N, "decision": "accept"|"reject", "expected_output"?, "reason"?, "by"?}.
    ImportDecisions {
        path: PathBuf,
        /// Reviewer for lines without "by" (default $USER, else `cli`).
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// Runs one `proposals` subcommand, printing to stdout and stderr.
pub async fn run_cmd(store: &Store, cmd: ProposalsCmd) -> anyhow::Result<ExitCode> {
    run_cmd_with(store, cmd, &mut std::io::stdout(), &mut std::io::stderr()).await
}

/// [`run_cmd`] with the output streams given, for tests and embedding.
pub async fn run_cmd_with(
    store: &Store,
    cmd: ProposalsCmd,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let result = match cmd {
        ProposalsCmd::List {
            status,
            job,
            cluster,
            run,
            set,
            limit,
            json,
        } => {
            let filter = ProposalFilter {
                status: status.status(),
                job,
                cluster_id: cluster,
                golden_set: set,
                run_id: run,
                limit: Some(limit),
            };
            let ps = store.list_proposals(&filter).await?;
            print_list(out, &ps, json)?;
            Ok(ExitCode::SUCCESS)
        }
        ProposalsCmd::Show { id, json } => match detail(store, id).await {
            Ok(d) => {
                print_detail(out, &d, json)?;
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(e),
        },
        ProposalsCmd::Accept {
            ids,
            expected_output,
            use_output: _,
            cluster,
            job,
            run,
            by,
            json,
        } => {
            let selection = selection(ids, cluster, job, run);
            let expected = match expected_output {
                Some(t) => ExpectedOutput::Edited(t),
                None => ExpectedOutput::UseOutput,
            };
            let by = by.unwrap_or_else(default_reviewer);
            match accept(store, &selection, expected, &by).await {
                Ok(o) => decided_exit(out, err, &o, json),
                Err(e) => Err(e),
            }
        }
        ProposalsCmd::Reject {
            ids,
            reason,
            cluster,
            job,
            run,
            by,
            json,
        } => {
            let selection = selection(ids, cluster, job, run);
            let by = by.unwrap_or_else(default_reviewer);
            match reject(store, &selection, &reason, &by).await {
                Ok(o) => decided_exit(out, err, &o, json),
                Err(e) => Err(e),
            }
        }
        ProposalsCmd::Export {
            status,
            job,
            set,
            out: path,
        } => {
            let filter = ProposalFilter {
                status: status.status(),
                job,
                golden_set: set,
                ..ProposalFilter::default()
            };
            match path {
                Some(p) => {
                    let f = std::fs::File::create(&p)
                        .with_context(|| format!("cannot create {}", p.display()))?;
                    let mut w = std::io::BufWriter::new(f);
                    let n = export(store, &filter, &mut w).await;
                    let n = n.and_then(|n| w.flush().map(|_| n).map_err(ReviewError::from));
                    if let Ok(n) = n {
                        writeln!(err, "wrote {n} proposals to {}", p.display())?;
                    }
                    n.map(|_| ExitCode::SUCCESS)
                }
                None => export(store, &filter, out).await.map(|_| ExitCode::SUCCESS),
            }
        }
        ProposalsCmd::ImportDecisions { path, by, json } => {
            let input = open_input(&path)?;
            let by = by.unwrap_or_else(default_reviewer);
            match import_decisions(store, input, &by).await {
                Ok(r) => {
                    print_import(out, err, &r, json)?;
                    Ok(if r.is_partial() {
                        ExitCode::from(exit::PARTIAL)
                    } else {
                        ExitCode::SUCCESS
                    })
                }
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(code) => Ok(code),
        Err(ReviewError::Invalid(msg)) => {
            writeln!(err, "driftwatch: {msg}")?;
            Ok(ExitCode::from(exit::CONFIG))
        }
        Err(e) => Err(e.into()),
    }
}

fn selection(
    ids: Vec<i64>,
    cluster: Option<i64>,
    job: Option<String>,
    run: Option<i64>,
) -> Selection {
    match (cluster, job) {
        (Some(cluster_id), Some(job)) => Selection::Cluster {
            job,
            cluster_id,
            run_id: run,
        },
        _ => Selection::Ids(ids),
    }
}

fn open_input(path: &Path) -> anyhow::Result<Box<dyn BufRead + Send>> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::BufReader::new(std::io::stdin())));
    }
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(Box::new(std::io::BufReader::new(f)))
}

/// Exit code of a decision command: 0 when everything was decided, 3 when some
/// were refused, 1 when all were.
fn decided_exit(
    out: &mut dyn Write,
    err: &mut dyn Write,
    o: &DecideOutcome,
    json: bool,
) -> Result<ExitCode, ReviewError> {
    print_outcome(out, err, o, json)?;
    Ok(match (o.decided.is_empty(), o.refused.is_empty()) {
        (_, true) => ExitCode::SUCCESS,
        (false, false) => ExitCode::from(exit::PARTIAL),
        (true, false) => ExitCode::from(exit::FAILURE),
    })
}

fn print_list(out: &mut dyn Write, ps: &[Proposal], json: bool) -> std::io::Result<()> {
    if json {
        return writeln!(out, "{}", serde_json::to_string(ps)?);
    }
    writeln!(
        out,
        "{:>6}  {:<8} {:<16} {:>5} {:<24} {:<10} {:>5}  INPUT",
        "ID", "STATUS", "JOB", "RUN", "CLUSTER", "KIND", "SIM"
    )?;
    for p in ps {
        writeln!(
            out,
            "{:>6}  {:<8} {:<16} {:>5} {:<24} {:<10} {:>5}  {}",
            p.id,
            p.status,
            truncate(&p.job, 16),
            p.run_id,
            truncate(&cluster_cell(p), 24),
            truncate(&p.kind, 10),
            p.nearest_golden_similarity
                .map(|s| format!("{s:.2}"))
                .unwrap_or_else(|| "-".into()),
            truncate(&p.input, 60)
        )?;
    }
    writeln!(
        out,
        "{} proposal{}",
        ps.len(),
        if ps.len() == 1 { "" } else { "s" }
    )
}

fn cluster_cell(p: &Proposal) -> String {
    match (p.cluster_id, p.cluster_label.as_deref()) {
        (Some(c), Some(l)) if !l.is_empty() => format!("{c} {l}"),
        (Some(c), _) => c.to_string(),
        (None, _) => "-".into(),
    }
}

fn indented(out: &mut dyn Write, text: &str) -> std::io::Result<()> {
    for line in text.lines() {
        writeln!(out, "    {line}")?;
    }
    if text.is_empty() {
        writeln!(out, "    (empty)")?;
    }
    Ok(())
}

fn print_detail(out: &mut dyn Write, d: &ProposalDetail, json: bool) -> std::io::Result<()> {
    if json {
        return writeln!(out, "{}", serde_json::to_string(d)?);
    }
    let p = &d.proposal;
    writeln!(
        out,
        "proposal {} ({}) · {} · job {} · run {} · golden set {}",
        p.id, p.status, p.kind, p.job, p.run_id, p.golden_set
    )?;
    if let Some(c) = p.cluster_id {
        writeln!(
            out,
            "cluster {c}: {}",
            p.cluster_label.as_deref().unwrap_or("(no label)")
        )?;
    }
    writeln!(
        out,
        "trace {} ({}), proposed {}",
        p.trace_id,
        p.external_id,
        p.created_at.format("%Y-%m-%d %H:%M:%S UTC")
    )?;
    writeln!(out, "\ninput:")?;
    indented(out, &p.input)?;
    writeln!(out, "production output:")?;
    indented(out, &p.output)?;
    match &d.nearest_golden {
        Some(g) => {
            writeln!(
                out,
                "nearest golden example {} (similarity {}){}:",
                g.id,
                g.similarity
                    .map(|s| format!("{s:.3}"))
                    .unwrap_or_else(|| "unknown".into()),
                if g.archived { ", archived since" } else { "" }
            )?;
            indented(out, &g.input)?;
            writeln!(out, "  expected output:")?;
            indented(out, &g.expected_output)?;
        }
        None => writeln!(out, "nearest golden example: none recorded")?,
    }
    if p.status != ProposalStatus::Pending.as_str() {
        writeln!(
            out,
            "\n{} by {} at {}",
            p.status,
            p.decided_by.as_deref().unwrap_or("someone"),
            p.decided_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_else(|| "?".into())
        )?;
        if let Some(e) = &p.expected_output {
            writeln!(out, "expected output:")?;
            indented(out, e)?;
        }
        if let Some(r) = &p.reason {
            writeln!(out, "reason: {r}")?;
        }
        if let Some(g) = p.golden_example_id {
            writeln!(out, "golden example: {g}")?;
        }
    }
    if p.cluster_id.is_some() {
        writeln!(
            out,
            "\nother proposals of this cluster: {}",
            d.siblings.len()
        )?;
        for s in &d.siblings {
            writeln!(
                out,
                "{:>6}  {:<8} {}",
                s.id,
                s.status,
                truncate(&s.input, 70)
            )?;
        }
    }
    Ok(())
}

fn print_refusal(err: &mut dyn Write, r: &Refusal, line: Option<u64>) -> std::io::Result<()> {
    let at = line.map(|l| format!("line {l}: ")).unwrap_or_default();
    match r.kind {
        RefusalKind::Conflict => writeln!(err, "{at}conflict: {}", r.message),
        RefusalKind::NotFound => writeln!(err, "{at}{}", r.message),
    }
}

fn print_versions(out: &mut dyn Write, vs: &[GoldenVersion]) -> std::io::Result<()> {
    for v in vs {
        writeln!(
            out,
            "golden set {} is now at version {} ({} active examples)",
            v.set_name, v.version, v.active_count
        )?;
    }
    Ok(())
}

fn print_outcome(
    out: &mut dyn Write,
    err: &mut dyn Write,
    o: &DecideOutcome,
    json: bool,
) -> std::io::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(o)?)?;
    } else {
        for status in [ProposalStatus::Accepted, ProposalStatus::Rejected] {
            let done: Vec<&Proposal> = o
                .decided
                .iter()
                .filter(|p| p.status == status.as_str())
                .collect();
            if done.is_empty() {
                continue;
            }
            let ids: Vec<String> = done.iter().map(|p| p.id.to_string()).collect();
            let mut by: Vec<&str> = done
                .iter()
                .filter_map(|p| p.decided_by.as_deref())
                .collect();
            by.sort_unstable();
            by.dedup();
            writeln!(
                out,
                "{} {} {} by {}",
                status.as_str(),
                if done.len() == 1 {
                    "proposal"
                } else {
                    "proposals"
                },
                ids.join(", "),
                by.join(", ")
            )?;
        }
        print_versions(out, &o.versions)?;
    }
    for r in &o.refused {
        print_refusal(err, r, None)?;
    }
    Ok(())
}

fn print_import(
    out: &mut dyn Write,
    err: &mut dyn Write,
    r: &ImportReport,
    json: bool,
) -> std::io::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(r)?)?;
    } else {
        writeln!(out, "{}", r.summary_line())?;
        print_versions(out, &r.versions)?;
    }
    for e in &r.errors {
        writeln!(err, "line {}: {}", e.line, e.reason)?;
    }
    for x in &r.refused {
        print_refusal(err, &x.refusal, Some(x.line))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Args {
        #[command(subcommand)]
        cmd: ProposalsCmd,
    }

    fn parse(args: &[&str]) -> Result<ProposalsCmd, clap::Error> {
        Args::try_parse_from(std::iter::once("proposals").chain(args.iter().copied()))
            .map(|a| a.cmd)
    }

    #[test]
    fn accept_needs_exactly_one_expected_output_source() {
        assert!(parse(&["accept", "1", "--use-output"]).is_ok());
        assert!(parse(&["accept", "1", "2", "--expected-output", "x"]).is_ok());
        let neither = parse(&["accept", "1"]).unwrap_err();
        assert_eq!(
            neither.kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        let both = parse(&["accept", "1", "--use-output", "--expected-output", "x"]).unwrap_err();
        assert_eq!(both.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn bulk_by_cluster_needs_a_job_and_no_ids() {
        assert!(parse(&["accept", "--cluster", "2", "--job", "j", "--use-output"]).is_ok());
        assert!(parse(&["accept", "--cluster", "2", "--use-output"]).is_err());
        assert!(parse(&[
            "accept",
            "3",
            "--cluster",
            "2",
            "--job",
            "j",
            "--use-output"
        ])
        .is_err());
        assert!(parse(&["accept", "--use-output"]).is_err());
        assert!(parse(&["reject", "--cluster", "2", "--job", "j", "--reason", "r"]).is_ok());
        assert!(parse(&["reject", "4"]).is_err(), "--reason is required");
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
            "{\"id\": \"5\", \"decision\": \"accept\"}\n",
            "{\"id\": 1, \"decision\": \"reject\", \"reason\": \"x\"}\n",
            "[1]\n",
            "{\"decision\": \"accept\"}\n",
        );
        let (ds, rep) = parse_decisions(text.as_bytes(), "al");
        assert_eq!(rep.read, 9);
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
