//! [`FindingDetails`]: the `details` column of a finding, typed where any code
//! reads it back (the report, alerts, the web pages, the runner), open for the
//! test-specific extras only the report displays (bandwidths, fold counts, chi²
//! statistics). The stored JSON keys are the ones version 1 wrote, so runs stored
//! before this type still load and render.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a finding carries beyond its numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FindingDetails {
    /// One line of what the analysis saw ("coverage 91.0% (expected ≈ 95%) …").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Why the metric was not tested (too few values, no golden output …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// A caveat shown beside the verdict (surface form, trend only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The multiplicity family the p-value is already adjusted in
    /// (`gap_regions`): the run's correction keeps that adjustment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Semantic findings: `topic` (a gap) or `diffuse` (an embedding shift
    /// with no localized gap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semantic_kind: Option<String>,
    /// The finding is a gap: a region of production the golden set does not cover.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gap: bool,
    /// A gap's stable id across runs (the `gaps` table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap_id: Option<i64>,
    /// A gap's label (its most telling words).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// A gap inside a topic the data team excluded: who, why. Its verdict
    /// stands (the decision rule is unchanged), but it alerts nobody and
    /// queues no proposals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded: Option<ExcludedBy>,
    /// A gap's cluster number in this run's analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<u64>,
    /// The run a gap was first seen in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen_run: Option<i64>,
    /// A gap's golden rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub golden_count: Option<u64>,
    /// A gap's production rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production_count: Option<u64>,
    /// A gap's production rows with no golden example near them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncovered_count: Option<u64>,
    /// Coverage findings: the share of production inputs the golden set covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
    /// Rate metrics (shares of valid JSON, empty outputs …): golden side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_rate: Option<f64>,
    /// Rate metrics: production side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production_rate: Option<f64>,
    /// The golden side's distribution: [`Quantiles`] for a numeric metric, or
    /// category shares for a categorical one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Value>,
    /// The production side's distribution, as `reference`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production: Option<Value>,
    /// Example traces behind a drifted finding (structural: the most telling
    /// rows; gaps: representative members).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub examples: Option<Vec<Example>>,
    /// Test-specific extras the report lists as they are (histogram bins,
    /// bandwidths, fold counts, raw p before the design effect …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The topic exclusion a gap falls in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExcludedBy {
    /// The exclusion's id (`driftwatch exclusions lift ID`).
    pub exclusion: i64,
    pub by: String,
    pub reason: String,
    /// `out_of_scope` or `covered_elsewhere`.
    pub scope: String,
}

impl ExcludedBy {
    /// "excluded by «who»: «reason» (out of scope)".
    pub fn text(&self) -> String {
        format!(
            "excluded by {}: {} ({})",
            self.by,
            self.reason,
            self.scope.replace('_', " ")
        )
    }
}

/// Quantiles of a numeric metric's values on one side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    pub mean: Option<f64>,
    pub p05: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
}

/// One example trace: a bare text (gap examples of older runs), a bare trace
/// id, or a trace with the value the finding measured on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Example {
    Text(String),
    Id(i64),
    Trace(ExampleTrace),
    /// `null`: an example that was withheld.
    Missing,
}

/// An example that names its trace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExampleTrace {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The metric's value on this trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

impl Example {
    /// The text shown for it (empty when it was withheld).
    pub fn text(&self) -> &str {
        match self {
            Example::Text(t) => t,
            Example::Trace(t) => t.text.as_deref().unwrap_or(""),
            Example::Id(_) | Example::Missing => "",
        }
    }

    /// The trace it names, if any.
    pub fn trace_id(&self) -> Option<i64> {
        match self {
            Example::Id(id) => Some(*id),
            Example::Trace(t) => t.trace_id,
            Example::Text(_) | Example::Missing => None,
        }
    }
}

impl FindingDetails {
    /// Details with only a summary line.
    pub fn summary(s: impl Into<String>) -> Self {
        FindingDetails {
            summary: Some(s.into()),
            ..Default::default()
        }
    }

    /// Details of a metric that was not tested, and why.
    pub fn skipped(reason: impl Into<String>) -> Self {
        FindingDetails {
            skipped: Some(reason.into()),
            ..Default::default()
        }
    }

    /// Adds a test-specific extra (builder style).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// The golden and production quantiles of a numeric metric.
    pub fn quantiles(&self) -> Option<(Quantiles, Quantiles)> {
        let q = |v: &Option<Value>| {
            v.as_ref()
                .filter(|v| v.get("p50").is_some())
                .and_then(|v| serde_json::from_value::<Quantiles>(v.clone()).ok())
        };
        Some((q(&self.reference)?, q(&self.production)?))
    }

    /// The golden and production category shares of a categorical metric.
    pub fn shares(&self) -> Option<(BTreeMap<String, f64>, BTreeMap<String, f64>)> {
        let s = |v: &Option<Value>| {
            let o = v.as_ref()?.as_object()?;
            if o.contains_key("p50") {
                return None;
            }
            Some(
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                    .collect::<BTreeMap<_, _>>(),
            )
        };
        Some((s(&self.reference)?, s(&self.production)?))
    }

    /// The example traces (none when there are none).
    pub fn examples(&self) -> &[Example] {
        self.examples.as_deref().unwrap_or(&[])
    }

    /// As the JSON stored (for callers that list every key, e.g. tests).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// An extra by key (`Value::Null` when absent).
    pub fn extra(&self, key: &str) -> &Value {
        self.extra.get(key).unwrap_or(&Value::Null)
    }
}

/// Reads a stored `details` column. JSON whose known keys have a type this
/// version does not expect is kept whole among the extras rather than refused:
/// an old run still loads.
pub(crate) fn parse(text: &str) -> serde_json::Result<FindingDetails> {
    serde_json::from_str(text).or_else(|_| {
        Ok(FindingDetails {
            extra: serde_json::from_str(text)?,
            ..Default::default()
        })
    })
}

impl std::fmt::Display for FindingDetails {
    /// The stored JSON.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_json::to_string(self).map_err(|_| std::fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_one_json_round_trips_with_its_keys() {
        let stored = json!({
            "cluster": 3, "rank": 1, "label": "card, lost", "gap": true,
            "family": "gap_regions", "semantic_kind": "topic",
            "golden_count": 0, "production_count": 40, "uncovered_count": 38,
            "gap_lower": 0.01, "examples": [{"text": "I lost my card"}, "plain text"],
            "summary": "gap “card, lost”: 40 production / 0 golden, 38 uncovered",
        });
        let d: FindingDetails = serde_json::from_value(stored.clone()).unwrap();
        assert!(d.gap);
        assert_eq!(d.cluster, Some(3));
        assert_eq!(d.production_count, Some(40));
        assert_eq!(d.examples()[0].text(), "I lost my card");
        assert_eq!(d.examples()[1].text(), "plain text");
        assert_eq!(d.extra("rank"), &json!(1));
        // Written back, the same keys and values.
        assert_eq!(serde_json::to_value(&d).unwrap(), stored);
    }

    #[test]
    fn quantiles_and_shares_are_told_apart() {
        let num: FindingDetails = serde_json::from_value(json!({
            "reference": {"mean": 10.0, "p05": 2.0, "p50": 9.0, "p95": 20.0},
            "production": {"mean": 4.0, "p05": 1.0, "p50": 3.0, "p95": null},
        }))
        .unwrap();
        let (r, p) = num.quantiles().unwrap();
        assert_eq!((r.p50, p.p50, p.p95), (Some(9.0), Some(3.0), None));
        assert!(num.shares().is_none());
        let cat: FindingDetails = serde_json::from_value(json!({
            "reference": {"en": 0.9, "de": 0.1},
            "production": {"en": 0.5, "fr": 0.5},
        }))
        .unwrap();
        assert!(cat.quantiles().is_none());
        let (r, p) = cat.shares().unwrap();
        assert_eq!(r["en"], 0.9);
        assert_eq!(p["fr"], 0.5);
    }

    #[test]
    fn absent_fields_are_not_written() {
        let d = FindingDetails::summary("MMD² 0.0100").with("bandwidth", 0.5);
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            json!({"summary": "MMD² 0.0100", "bandwidth": 0.5})
        );
    }
}
