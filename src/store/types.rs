//! Domain types the store reads and writes. They carry no SQL and are shared by
//! every module that talks to the store.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// A trace ready to be stored: one logged call of the watched LLM application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTrace {
    /// Where the trace came from (`cli`, `http`, a `[[sources]]` name).
    pub source: String,
    /// The application's own id; unique per source. Derived from content + ts when absent.
    pub external_id: String,
    pub ts: DateTime<Utc>,
    pub input: String,
    pub output: String,
    pub model: Option<String>,
    pub latency_ms: Option<f64>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub cost: Option<f64>,
    pub is_error: Option<bool>,
    /// User feedback score: 1 = thumbs up, 0 (or -1) = thumbs down, fractions allowed.
    pub feedback: Option<f64>,
    pub metadata: Option<serde_json::Value>,
}

/// A stored trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    pub id: i64,
    pub source: String,
    pub external_id: String,
    pub ts: DateTime<Utc>,
    pub input: String,
    pub output: String,
    pub model: Option<String>,
    pub latency_ms: Option<f64>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub cost: Option<f64>,
    pub is_error: Option<bool>,
    pub feedback: Option<f64>,
    pub metadata: Option<serde_json::Value>,
    pub input_hash: String,
    pub output_hash: String,
}

/// What one batch insert did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct InsertStats {
    pub stored: u64,
    pub duplicates: u64,
}

/// A golden example to add to a set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewGoldenExample {
    pub input: String,
    pub expected_output: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Set when the example comes from an accepted proposal.
    #[serde(default)]
    pub proposal_id: Option<i64>,
}

/// Where a golden example came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provenance {
    Imported,
    AcceptedProposal,
}

impl Provenance {
    pub fn as_str(self) -> &'static str {
        match self {
            Provenance::Imported => "imported",
            Provenance::AcceptedProposal => "accepted_proposal",
        }
    }
    pub fn parse(s: &str) -> Provenance {
        if s == "accepted_proposal" {
            Provenance::AcceptedProposal
        } else {
            Provenance::Imported
        }
    }
}

/// A stored golden example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldenExample {
    pub id: i64,
    pub set_name: String,
    pub input: String,
    pub expected_output: String,
    pub tags: Vec<String>,
    pub provenance: Provenance,
    pub proposal_id: Option<i64>,
    pub version_added: i64,
    pub archived: bool,
    pub version_archived: Option<i64>,
    pub input_hash: String,
}

/// One version of a golden set: every change creates one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldenVersion {
    pub set_name: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub change: String,
    pub added: i64,
    pub archived: i64,
    pub active_count: i64,
}

/// Lifecycle of an analysis run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Aborted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Aborted => "aborted",
        }
    }
    pub fn parse(s: &str) -> RunStatus {
        match s {
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "aborted" => RunStatus::Aborted,
            _ => RunStatus::Failed,
        }
    }
}

/// A stored analysis run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: i64,
    pub job: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub summary: Option<serde_json::Value>,
    pub error: Option<String>,
}

pub(crate) fn ms_to_dt(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Hex BLAKE3 of a text: the key of the embedding cache and of trace dedup.
pub fn content_hash(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex().to_string()
}
