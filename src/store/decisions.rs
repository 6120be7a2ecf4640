//! The review vocabulary the store persists: proposal status, the filter a listing
//! takes, decisions and why one was refused. The store owns it because it writes
//! it; `review` (the service) and the web pages re-use it.

use serde::{Deserialize, Serialize};

use super::types::{GoldenVersion, Proposal};
use super::StoreError;

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
    /// A gap keeps its id across runs: give the run to mean one run's proposals.
    pub run_id: Option<i64>,
    /// At most this many (all when `None`).
    pub limit: Option<i64>,
    /// Text the input, production output or expected output contains (any case).
    pub search: Option<String>,
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
    /// The expected output breaks the golden set's output contract (e.g. it
    /// is not JSON where the golden outputs are): nothing was written.
    Invalid,
    /// An accept of the LLM ensemble's output where it did not agree on one.
    NoConsensus,
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
            RefusalKind::Conflict | RefusalKind::Invalid | RefusalKind::NoConsensus => {
                StoreError::Conflict(self.message)
            }
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
