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

/// `s` without U+0000. PostgreSQL `TEXT` cannot hold NUL, so every text a trace
/// or golden example brings is stored without it, on both backends alike (a record
/// reads back the same everywhere, and its content hash is of what is stored).
/// NUL carries nothing in LLM text; the rest of the record is kept, so one such
/// record never fails the batch it came in.
pub fn without_nul(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', ""))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// A stored trace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// Duplicates (same source and id as a stored trace) whose input or
    /// output differ from it: the stored trace was kept, these were not.
    pub conflicting: u64,
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
    pub summary: Option<super::RunSummary>,
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

/// The seed-independent sampling hash of a trace, stored at ingest (column
/// `sample_hash`): the first 8 bytes of BLAKE3(source 0x1f external_id), little
/// endian, as a signed integer. A run's sample orders the window by this value
/// XOR the seed's mask (see `jobs::sampling`).
pub fn trace_sample_hash(source: &str, external_id: &str) -> i64 {
    let mut h = blake3::Hasher::new();
    h.update(source.as_bytes());
    h.update(&[0x1f]);
    h.update(external_id.as_bytes());
    let out = h.finalize();
    i64::from_le_bytes(out.as_bytes()[..8].try_into().expect("8 bytes"))
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A per-text metric (length, JSON validity, language, …).
    Structural,
    /// An operational field (latency, cost, error rate…), against the previous window.
    Operational,
    /// An embedding-distribution test (MMD, classifier AUC, centroid distance).
    Semantic,
    /// Golden-set coverage of production, and gap clusters.
    Coverage,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Structural => "structural",
            FindingKind::Operational => "operational",
            FindingKind::Semantic => "semantic",
            FindingKind::Coverage => "coverage",
        }
    }
    pub fn parse(s: &str) -> FindingKind {
        match s {
            "operational" => FindingKind::Operational,
            "semantic" => FindingKind::Semantic,
            "coverage" => FindingKind::Coverage,
            _ => FindingKind::Structural,
        }
    }
}

/// The outcome of one test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Significant after correction and above the effect floor.
    Drifted,
    /// Tested; not both significant and large enough.
    Ok,
    /// Not tested (too few values on a side); the reason is in `details.skipped`.
    Skipped,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Drifted => "drifted",
            Verdict::Ok => "ok",
            Verdict::Skipped => "skipped",
        }
    }
    pub fn parse(s: &str) -> Verdict {
        match s {
            "drifted" => Verdict::Drifted,
            "ok" => Verdict::Ok,
            _ => Verdict::Skipped,
        }
    }
}

/// One tested (metric, side) of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    #[serde(default)]
    pub id: i64,
    #[serde(default)]
    pub run_id: i64,
    pub job: String,
    pub kind: FindingKind,
    /// e.g. `output.chars`, `input.mmd`, `coverage`, `cluster.3`.
    pub metric: String,
    /// `input`, `output`, or `-` when the metric spans both.
    pub side: String,
    /// e.g. `ks`, `wasserstein_normed`, `chi2`, `z`, `mmd`, `binomial`.
    pub test: String,
    pub statistic: Option<f64>,
    pub p_value: Option<f64>,
    pub p_adjusted: Option<f64>,
    pub effect_size: Option<f64>,
    /// The effect-size floor the verdict used.
    pub threshold: Option<f64>,
    pub verdict: Verdict,
    pub ref_n: i64,
    pub cur_n: i64,
    /// What the finding carries beyond its numbers: summary, gap fields,
    /// distributions, examples, test-specific extras.
    pub details: super::FindingDetails,
}

impl Finding {
    /// A finding not yet tested: no numbers, verdict `Ok`, empty details.
    pub fn new(job: &str, kind: FindingKind, metric: &str, side: &str, test: &str) -> Finding {
        Finding {
            id: 0,
            run_id: 0,
            job: job.into(),
            kind,
            metric: metric.into(),
            side: side.into(),
            test: test.into(),
            statistic: None,
            p_value: None,
            p_adjusted: None,
            effect_size: None,
            threshold: None,
            verdict: Verdict::Ok,
            ref_n: 0,
            cur_n: 0,
            details: super::FindingDetails::default(),
        }
    }

    /// One line that says what changed, e.g. `98.0% → 81.0%` or
    /// `median 112 → 31`; for a gap, how many traces it holds; else the
    /// analysis' own summary (empty when there is none).
    pub fn change_text(&self) -> String {
        let d = &self.details;
        if let (Some(a), Some(b)) = (d.reference_rate, d.production_rate) {
            return format!("{:.1}% → {:.1}%", a * 100.0, b * 100.0);
        }
        if let Some((Some(a), Some(b))) = d.quantiles().map(|(r, p)| (r.p50, p.p50)) {
            let trim = |v: f64| {
                let s = short_num(v);
                match s.contains('.') && !s.contains('e') {
                    true => s.trim_end_matches('0').trim_end_matches('.').to_owned(),
                    false => s,
                }
            };
            return format!("median {} → {}", trim(a), trim(b));
        }
        if d.gap {
            let label = d.label.as_deref().filter(|l| !l.is_empty());
            let golden = d.golden_count.unwrap_or(0);
            let traces = d.production_count.unwrap_or(0);
            let golden = match golden {
                0 => "no golden example".to_owned(),
                1 => "1 golden example".to_owned(),
                g => format!("{g} golden examples"),
            };
            let what = match label {
                Some(l) => format!("«{l}»: {traces} traces, {golden}"),
                None => format!("{traces} traces, {golden}"),
            };
            return match &d.excluded {
                Some(x) => format!("{what}; {}", x.text()),
                None => what,
            };
        }
        d.summary
            .as_deref()
            .or(d.skipped.as_deref())
            .unwrap_or("")
            .to_string()
    }
}

/// A number for a change line: 3 decimals, scientific below 10⁻³, `0` for 0.
pub fn short_num(v: f64) -> String {
    if v.abs() < f64::MIN_POSITIVE {
        "0".into()
    } else if v.abs() < 1e-3 {
        format!("{v:.1e}")
    } else {
        format!("{v:.3}")
    }
}

/// A proposal the run queues for review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewProposal {
    pub job: String,
    pub golden_set: String,
    /// `gap` (from a gap cluster), `outlier` (uncovered, in no gap cluster) or `spot_check`.
    pub kind: String,
    pub cluster_id: Option<i64>,
    pub cluster_label: Option<String>,
    pub trace_id: i64,
    pub external_id: String,
    pub input: String,
    pub output: String,
    pub nearest_golden_id: Option<i64>,
    pub nearest_golden_similarity: Option<f64>,
}

/// A stored proposal with its review state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub id: i64,
    pub run_id: i64,
    pub job: String,
    pub golden_set: String,
    pub kind: String,
    pub cluster_id: Option<i64>,
    pub cluster_label: Option<String>,
    pub trace_id: i64,
    pub external_id: String,
    pub input: String,
    pub output: String,
    pub input_hash: String,
    pub nearest_golden_id: Option<i64>,
    pub nearest_golden_similarity: Option<f64>,
    /// `pending`, `accepted` or `rejected`.
    pub status: String,
    pub expected_output: Option<String>,
    pub reason: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub golden_example_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    /// Who last undid a decision on it, and when.
    #[serde(default)]
    pub reopened_by: Option<String>,
    #[serde(default)]
    pub reopened_at: Option<DateTime<Utc>>,
    /// The LLM ensemble's conclusion: `agrees` or `disagrees` (`None`: not asked).
    #[serde(default)]
    pub ensemble_status: Option<String>,
    /// The answer the agreeing models gave.
    #[serde(default)]
    pub ensemble_output: Option<String>,
    /// Share of the models that gave it.
    #[serde(default)]
    pub ensemble_share: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(details: serde_json::Value) -> Finding {
        Finding {
            id: 1,
            run_id: 1,
            job: "support".into(),
            kind: FindingKind::Structural,
            metric: "output.chars".into(),
            side: "output".into(),
            test: "ks".into(),
            statistic: None,
            p_value: None,
            p_adjusted: None,
            effect_size: None,
            threshold: None,
            verdict: Verdict::Drifted,
            ref_n: 1,
            cur_n: 1,
            details: serde_json::from_value(details).unwrap(),
        }
    }

    #[test]
    fn the_change_line_says_before_and_after() {
        let rate = serde_json::json!({"reference_rate": 1.0, "production_rate": 0.5993});
        assert_eq!(with(rate).change_text(), "100.0% → 59.9%");
        let median = serde_json::json!({"reference": {"p50": 412.0}, "production": {"p50": 98.5}});
        assert_eq!(with(median).change_text(), "median 412 → 98.5");
        let gap = serde_json::json!({"gap": true, "label": "refund, card", "golden_count": 0, "production_count": 84, "summary": "x"});
        assert_eq!(
            with(gap).change_text(),
            "«refund, card»: 84 traces, no golden example"
        );
        let one =
            serde_json::json!({"gap": true, "label": "", "golden_count": 1, "production_count": 9});
        assert_eq!(with(one).change_text(), "9 traces, 1 golden example");
        let summary = serde_json::json!({"summary": "coverage 93.8%"});
        assert_eq!(with(summary).change_text(), "coverage 93.8%");
        assert_eq!(with(serde_json::json!({})).change_text(), "");
    }
}
