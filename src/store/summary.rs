//! The run summary as stored in `runs.summary` (JSON): what a run sampled, how it
//! tested, how long each stage took, and the semantic stage's coverage, clusters
//! and gap regions. The runner writes it; the report, the web pages and the CLI
//! read it by field, not by string key.
//!
//! The stored JSON keys are the field names. Every field has a default and keys
//! this version does not know are kept in `other`, so summaries written by
//! earlier versions (e.g. with the retired `novelty_scan`) still parse and render.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `runs.summary`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSummary {
    pub golden_set: String,
    pub golden_version: i64,
    /// Examples of that golden version.
    pub golden_examples: u64,
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
    /// Traces in the window (after the job's source filter).
    pub window_traces: u64,
    /// Traces sampled and measured.
    pub sampled: u64,
    pub seed: u64,
    pub alpha: f64,
    /// Findings with a verdict other than skipped.
    pub tested: u64,
    pub skipped: u64,
    pub drifted: u64,
    /// `computed` by this run, or `cached` from an earlier one.
    pub reference_profile: String,
    pub output_format: Option<OutputFormatSummary>,
    pub duration_ms: u64,
    pub timings_ms: StageTimings,
    pub semantic: Option<SemanticSummary>,
    /// Keys this version does not know (kept, so nothing stored is lost).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl RunSummary {
    /// The window's start and end as stored (RFC 3339, UTC), `?` when unknown.
    pub fn window_text(&self) -> (String, String) {
        let f = |t: Option<DateTime<Utc>>| {
            t.map_or_else(
                || "?".to_string(),
                |t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            )
        };
        (f(self.window_start), f(self.window_end))
    }
}

/// The output format the run measured, and whether it was inferred.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutputFormatSummary {
    /// `json` or `text`.
    pub format: String,
    /// Inferred from the golden set (no `output_format` or schema configured).
    pub inferred: bool,
    /// Share of golden expected outputs that are a JSON object or array.
    pub golden_json_share: f64,
    /// Top-level keys the inferred schema requires of every output (empty
    /// when none was inferred).
    pub required_keys: Vec<String>,
}

/// Wall time of each stage of a run, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StageTimings {
    pub sample: u64,
    pub reference_profile: u64,
    pub measure: u64,
    /// Only when the run exported its metric rows.
    pub export: Option<u64>,
    pub tests: u64,
    pub operational: u64,
    pub semantic: u64,
    /// Only when the job tracks answers (`[jobs.answers]`).
    pub answers: Option<u64>,
}

/// The semantic stage's part of the summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SemanticSummary {
    pub model_id: String,
    pub embedding_cache: CacheCounts,
    /// Share of sampled production inputs with a close golden example.
    pub coverage: Option<f64>,
    /// The cosine a production input needs to its nearest golden example.
    pub coverage_threshold: Option<f64>,
    /// The leave-one-out miss rate the threshold is calibrated to.
    pub q: Option<f64>,
    /// Coarse KMeans clusters (k).
    pub k: Option<u64>,
    pub silhouette: Option<f64>,
    pub clusters: Vec<GapCluster>,
    /// Clusters ranked as gaps.
    pub gap_clusters: u64,
    pub outliers: u64,
    pub gap_regions: Option<GapRegions>,
    /// Proposals queued by the run (after the verdicts).
    pub proposals: u64,
    /// The 2-D PCA map: golden and production points.
    pub map: Vec<MapPoint>,
    /// Topic, diffuse or surface-form: what kind of semantic change the run saw.
    pub shift: Option<SemanticShift>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Embedding cache hits and misses of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CacheCounts {
    pub hits: u64,
    pub misses: u64,
}

/// One coarse cluster of golden ∪ production and what it says about the golden set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GapCluster {
    pub cluster: i64,
    pub label: Option<String>,
    pub golden_count: u64,
    pub production_count: u64,
    pub uncovered_count: u64,
    pub gap_ratio: Option<f64>,
    /// The lower confidence bound of the gap ratio: the gap score.
    pub gap_lower: Option<f64>,
    pub verdict: String,
    /// The gap-region test's p-value for this cluster, raw and Holm-adjusted.
    pub region_p_value: Option<f64>,
    pub region_p_holm: Option<f64>,
    /// 1 for the top gap; `None` when the cluster is not a gap.
    pub gap_rank: Option<u64>,
    /// Two production inputs of the cluster.
    pub examples: Vec<String>,
    /// The gap's stable id (`input.gap.ID`, the proposals' `cluster_id`) when
    /// the cluster is a gap; `cluster` is only this run's KMeans number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap_id: Option<i64>,
    /// Of the cluster's production traces that carry user feedback, the share
    /// that is negative (feedback ≤ 0), and how many carry feedback: a gap
    /// users dislike ranks first for the data team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_feedback: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback_n: Option<u64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Of `traces` that carry feedback, the share that is negative (≤ 0), and how
/// many carry feedback (`None` when none does).
pub fn negative_feedback<'a>(
    traces: impl IntoIterator<Item = &'a super::Trace>,
) -> Option<(f64, u64)> {
    let (mut neg, mut n) = (0u64, 0u64);
    for f in traces.into_iter().filter_map(|t| t.feedback) {
        n += 1;
        neg += u64::from(f <= 0.0);
    }
    (n > 0).then(|| (neg as f64 / n as f64, n))
}

/// The gap-region test (`semantic::regions`) of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GapRegions {
    /// Regions tested, over every scale.
    pub tested: u64,
    /// The design effect φ the counts were deflated by.
    pub design_effect: f64,
    pub design_effects: Vec<f64>,
    pub golden_used: u64,
    pub production_used: u64,
    /// The baseline golden share a region is compared with.
    pub golden_share: f64,
    pub baselines: Vec<f64>,
    /// Per scale, the label's intraclass correlation within near-duplicate
    /// units, which sets each region's own design effect.
    pub unit_iccs: Vec<f64>,
    /// Significant regions.
    pub gaps: u64,
    /// Regions read as typos of covered inputs rather than a topic (not gaps;
    /// see `jobs::run::semantic::is_surface_form`).
    pub surface_form_regions: Vec<SurfaceRegion>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A region read as surface form (typos, casing), not as a topic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SurfaceRegion {
    pub cluster: i64,
    pub production_count: u64,
    /// Share of the region's production inputs that carry a typo.
    pub noisy_share: f64,
    /// The same share over the golden inputs (leave-one-out), the baseline
    /// the region is held to.
    pub golden_share: f64,
}

/// One point of the map: x, y, 1 for a golden point (0 for production), and its
/// cluster.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MapPoint(pub f64, pub f64, pub u8, pub Option<i64>);

impl MapPoint {
    pub fn is_golden(&self) -> bool {
        self.2 == 1
    }
}

/// What kind of semantic change a run saw (`jobs::run::semantic::classify_semantic`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SemanticShift {
    /// Drifted gap findings.
    pub topic_gaps: u64,
    /// Drifted MMD, classifier or coverage findings with no gap behind them.
    pub diffuse: Vec<String>,
    /// Drifted surface-form structural findings (OOV, uppercase, non-ASCII).
    pub surface_form: Vec<String>,
    /// Set when a diffuse input shift comes with surface-form changes and no gap.
    pub note: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn negative_feedback_counts_only_traces_that_carry_feedback() {
        let t = |feedback: Option<f64>| super::super::Trace {
            feedback,
            ..Default::default()
        };
        let traces = [
            t(Some(0.0)),
            t(Some(1.0)),
            t(None),
            t(Some(-1.0)),
            t(Some(1.0)),
        ];
        assert_eq!(negative_feedback(&traces), Some((0.5, 4)));
        assert_eq!(negative_feedback(&[t(None)]), None);
    }

    #[test]
    fn an_older_summary_parses_and_keeps_keys_this_version_does_not_know() {
        let stored = json!({
            "golden_set": "support", "golden_version": 3, "golden_examples": 800,
            "window_start": "2026-12-01T00:00:00Z", "window_end": "2026-12-02T00:00:00Z",
            "window_traces": 5000, "sampled": 2000, "seed": 7, "alpha": 0.05,
            "tested": 20, "skipped": 1, "drifted": 2, "reference_profile": "cached",
            "duration_ms": 1234,
            "timings_ms": {"sample": 1, "reference_profile": 2, "measure": 3, "export": null,
                           "tests": 4, "operational": 5, "semantic": 6},
            "semantic": {
                "model_id": "m", "embedding_cache": {"hits": 1, "misses": 2},
                "coverage": 0.9, "coverage_threshold": 0.6, "q": 0.05, "k": 8,
                "clusters": [{"cluster": 4, "label": "pizza", "golden_count": 0,
                              "production_count": 40, "uncovered_count": 38,
                              "gap_ratio": null, "gap_lower": 3.5, "verdict": "Gap",
                              "gap_rank": 1, "examples": ["a", "b"], "scan_p": 0.01}],
                "gap_clusters": 1, "outliers": 0, "proposals": 3,
                "novelty_scan": {"k": 5, "largest_group": 30},
                "map": [[0.1, 0.2, 1, null], [0.3, 0.4, 0, 4]]
            }
        });
        let s: RunSummary = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(s.golden_version, 3);
        assert_eq!(s.output_format, None, "older runs have no output_format");
        let sem = s.semantic.as_ref().unwrap();
        assert_eq!(sem.clusters[0].gap_rank, Some(1));
        assert_eq!(sem.clusters[0].gap_ratio, None);
        assert_eq!(sem.map[1], MapPoint(0.3, 0.4, 0, Some(4)));
        assert!(sem.map[0].is_golden());
        assert_eq!(sem.other["novelty_scan"]["largest_group"], 30);
        assert_eq!(sem.clusters[0].other["scan_p"], 0.01);
        // Written back, the stored keys are the same.
        let again = serde_json::to_value(&s).unwrap();
        for key in stored.as_object().unwrap().keys() {
            assert!(again.get(key).is_some(), "{key} lost");
        }
        assert_eq!(
            again["semantic"]["novelty_scan"],
            stored["semantic"]["novelty_scan"]
        );
        assert_eq!(again["window_start"], "2026-12-01T00:00:00Z");
    }

    #[test]
    fn an_empty_object_is_a_default_summary() {
        let s: RunSummary = serde_json::from_value(json!({})).unwrap();
        assert_eq!(s, RunSummary::default());
    }
}
