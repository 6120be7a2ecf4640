//! Alert rules: which findings an alert rule watches and when a finding counts as matching.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::template;

/// Labels every alert carries; rule `labels` may not override them.
pub const RESERVED_LABELS: [&str; 6] =
    ["alertname", "incident", "job", "metric", "side", "severity"];

/// Which side of the LLM call a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The prompt / request side.
    Input,
    /// The completion / response side.
    Output,
}

impl Side {
    /// Lower-case name used in labels and config.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Input => "input",
            Side::Output => "output",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which family of test produced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingKind {
    /// Distribution tests over structural metrics (length, JSON validity, ...).
    Structural,
    /// Operational fields (latency, cost, error rate, ...) against the previous window.
    Operational,
    /// Embedding-space tests.
    Semantic,
    /// Coverage of the reference distribution (e.g. unseen topics).
    Coverage,
}

impl FindingKind {
    /// Lower-case name used in config and rendering.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Structural => "structural",
            FindingKind::Operational => "operational",
            FindingKind::Semantic => "semantic",
            FindingKind::Coverage => "coverage",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The notify module's view of one drift finding of a run.
///
/// Numbers that do not apply to a test are `f64::NAN`; a threshold condition on a NaN
/// value never matches and rendering shows it as `n/a`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Job (monitored LLM endpoint) the run belongs to.
    pub job: String,
    /// Test family.
    pub kind: FindingKind,
    /// Metric name, e.g. `output.json_valid`.
    pub metric: String,
    /// Input or output side.
    pub side: Side,
    /// Statistical test name, e.g. `ks`, `chi2`, `mmd`.
    pub test: String,
    /// Test statistic.
    #[serde(with = "nan_as_null")]
    pub statistic: f64,
    /// Raw p-value.
    #[serde(with = "nan_as_null")]
    pub p_value: f64,
    /// Multiple-testing adjusted p-value.
    #[serde(with = "nan_as_null")]
    pub p_adjusted: f64,
    /// Effect size (test specific, larger = more drift).
    #[serde(with = "nan_as_null")]
    pub effect_size: f64,
    /// Effect-size threshold the job used to call drift.
    #[serde(with = "nan_as_null")]
    pub threshold: f64,
    /// The job's verdict for this metric.
    pub drifted: bool,
    /// Share of current traffic covered by the reference, for coverage findings.
    pub coverage: Option<f64>,
    /// Run id, for `driftwatch report <run_id>`.
    pub run_id: i64,
    /// A few example traces (already redacted by the caller), most telling first.
    #[serde(default)]
    pub examples: Vec<String>,
    /// What the finding means beyond its numbers, e.g. "consistent with
    /// typos/casing changes in inputs"; appended to every summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What changed, in one line (`100.0% → 59.9%`, `median 412 → 98`,
    /// `«refund»: 70 traces, no golden example`); the incident headline uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
}

/// Serialises NaN as `null` (JSON has no NaN) and reads `null` back as NaN.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

/// Which side a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SideSelector {
    /// Only input-side findings.
    Input,
    /// Only output-side findings.
    Output,
    /// Both sides.
    #[default]
    Any,
}

impl SideSelector {
    fn accepts(self, side: Side) -> bool {
        match self {
            SideSelector::Any => true,
            SideSelector::Input => side == Side::Input,
            SideSelector::Output => side == Side::Output,
        }
    }
}

/// Which finding kinds a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KindSelector {
    /// Only structural findings.
    Structural,
    /// Only operational findings.
    Operational,
    /// Only semantic findings.
    Semantic,
    /// Only coverage findings.
    Coverage,
    /// Every kind.
    #[default]
    Any,
}

impl KindSelector {
    fn accepts(self, kind: FindingKind) -> bool {
        match self {
            KindSelector::Any => true,
            KindSelector::Structural => kind == FindingKind::Structural,
            KindSelector::Operational => kind == FindingKind::Operational,
            KindSelector::Semantic => kind == FindingKind::Semantic,
            KindSelector::Coverage => kind == FindingKind::Coverage,
        }
    }
}

/// Alert severity.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Somebody should look during working hours.
    #[default]
    Warning,
    /// Somebody should look now.
    Critical,
}

impl Severity {
    /// Lower-case name used in labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// A rule's `severity`: `auto` (the default) is `critical` for the metrics of
/// `[alerts] critical_metrics` (by default broken output formats, empty outputs
/// and the error rate: [`super::incident::CRITICAL_METRICS`]) and `warning`
/// otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleSeverity {
    /// By the finding's metric.
    #[default]
    Auto,
    /// Always `warning`.
    Warning,
    /// Always `critical`.
    Critical,
}

impl RuleSeverity {
    /// The severity an alert of this rule gets for a finding of `metric`;
    /// `critical` lists the globs `auto` makes critical (`None`: the default
    /// list).
    pub fn for_metric(self, metric: &str, critical: Option<&[String]>) -> Severity {
        match self {
            RuleSeverity::Auto => super::incident::severity_of_metric(metric, critical),
            RuleSeverity::Warning => Severity::Warning,
            RuleSeverity::Critical => Severity::Critical,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Numeric field of a finding a threshold condition looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionField {
    /// `Finding::effect_size`.
    EffectSize,
    /// `Finding::p_adjusted`.
    PAdjusted,
    /// `Finding::coverage` (never matches when absent).
    Coverage,
    /// `Finding::statistic`.
    Statistic,
}

impl ConditionField {
    /// Config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionField::EffectSize => "effect_size",
            ConditionField::PAdjusted => "p_adjusted",
            ConditionField::Coverage => "coverage",
            ConditionField::Statistic => "statistic",
        }
    }

    /// The field's value in `f`, if it has one.
    pub fn value_of(self, f: &Finding) -> Option<f64> {
        let v = match self {
            ConditionField::EffectSize => f.effect_size,
            ConditionField::PAdjusted => f.p_adjusted,
            ConditionField::Statistic => f.statistic,
            ConditionField::Coverage => f.coverage?,
        };
        (!v.is_nan()).then_some(v)
    }
}

/// Comparison of a threshold condition (strict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConditionOp {
    /// value > threshold.
    Above,
    /// value < threshold.
    Below,
}

/// A numeric threshold on one finding field.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// Field compared.
    pub field: ConditionField,
    /// Comparison.
    pub op: ConditionOp,
    /// Threshold value (must be finite).
    pub value: f64,
}

/// When a selected finding counts as matching: `"drifted"` (the job's own verdict) or
/// a threshold table `{ field = "effect_size", op = "above", value = 0.3 }`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Condition {
    /// `Finding::drifted` is true.
    #[default]
    Drifted,
    /// A numeric threshold.
    Threshold(Threshold),
}

impl Condition {
    /// Whether `f` satisfies the condition.
    pub fn holds(&self, f: &Finding) -> bool {
        match self {
            Condition::Drifted => f.drifted,
            Condition::Threshold(t) => match t.field.value_of(f) {
                None => false,
                Some(v) => match t.op {
                    ConditionOp::Above => v > t.value,
                    ConditionOp::Below => v < t.value,
                },
            },
        }
    }

    /// The value shown as the alert's current value: the threshold field, or the effect size.
    pub fn observed(&self, f: &Finding) -> Option<f64> {
        match self {
            Condition::Drifted => ConditionField::EffectSize.value_of(f),
            Condition::Threshold(t) => t.field.value_of(f),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Drifted => f.write_str("drifted"),
            Condition::Threshold(t) => {
                let op = match t.op {
                    ConditionOp::Above => ">",
                    ConditionOp::Below => "<",
                };
                write!(f, "{} {op} {}", t.field.as_str(), t.value)
            }
        }
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Condition::Drifted => s.serialize_str("drifted"),
            Condition::Threshold(t) => t.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Condition;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#""drifted" or a table { field, op, value }"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Condition, E> {
                match v {
                    "drifted" => Ok(Condition::Drifted),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Condition, A::Error> {
                Threshold::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Condition::Threshold)
            }
        }
        d.deserialize_any(V)
    }
}

fn any_glob() -> String {
    "*".to_owned()
}

fn one() -> u32 {
    1
}

/// One alert rule, as written in the config (`[[alerts.rules]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Rule name; becomes the `alertname` label.
    pub name: String,
    /// Glob (`*`, `?`) on the job name.
    #[serde(default = "any_glob")]
    pub job: String,
    /// Glob (`*`, `?`) on the metric name, e.g. `output.*`.
    #[serde(default = "any_glob")]
    pub metric: String,
    /// Side selector: `input`, `output` or `any`.
    #[serde(default)]
    pub side: SideSelector,
    /// Finding kind selector: `structural`, `operational`, `semantic`, `coverage` or `any`.
    #[serde(default)]
    pub kind: KindSelector,
    /// When a selected finding matches: `"drifted"` or `{ field, op, value }`.
    #[serde(default)]
    pub condition: Condition,
    /// `auto` (default: critical for broken formats, empty outputs and errors),
    /// `warning` or `critical`.
    #[serde(default)]
    pub severity: RuleSeverity,
    /// Consecutive matching runs before the alert fires (config key `for`, at least 1).
    #[serde(rename = "for", default = "one")]
    pub for_runs: u32,
    /// Non-matching runs a firing alert keeps firing before it resolves (anti-flap).
    #[serde(default)]
    pub keep_firing_for: u32,
    /// Extra labels added to the alert (they take part in the fingerprint).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// One-line summary template; placeholders `{job} {metric} {side} {kind} {test}
    /// {statistic} {p_value} {p_adjusted} {effect_size} {threshold} {coverage} {run_id}`.
    #[serde(default)]
    pub summary: Option<String>,
    /// What to do when it fires: a link every notification of the rule carries
    /// (Alertmanager's `runbook_url` annotation).
    #[serde(default)]
    pub runbook_url: Option<String>,
    /// `[alerts] critical_metrics`, copied here by
    /// [`super::AlertingConfig::effective_rules`]: the metrics `severity = "auto"`
    /// makes critical (`None`: [`super::incident::CRITICAL_METRICS`]).
    #[serde(skip)]
    pub critical_metrics: Option<Vec<String>>,
}

/// Summary used when a rule has none.
pub const DEFAULT_SUMMARY: &str =
    "{job}: {side} metric {metric} drifted (effect size {effect_size}, p_adj {p_adjusted}, {test})";

/// Why a rule set was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    /// The rule has an empty name.
    #[error("alert rule #{index}: name must not be empty")]
    EmptyName {
        /// Position in the list.
        index: usize,
    },
    /// `for` is zero.
    #[error("alert rule {rule}: `for` must be at least 1 run")]
    ZeroFor {
        /// Rule name.
        rule: String,
    },
    /// A threshold is NaN or infinite.
    #[error("alert rule {rule}: condition value must be finite")]
    NonFiniteThreshold {
        /// Rule name.
        rule: String,
    },
    /// A label name is invalid or reserved.
    #[error("alert rule {rule}: label {label:?} {why}")]
    BadLabel {
        /// Rule name.
        rule: String,
        /// Label name.
        label: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The summary template is malformed.
    #[error("alert rule {rule}: summary: {why}")]
    BadSummary {
        /// Rule name.
        rule: String,
        /// What is wrong with it.
        why: String,
    },
}

/// Placeholders a summary template may use.
pub const SUMMARY_PLACEHOLDERS: [&str; 12] = [
    "job",
    "metric",
    "side",
    "kind",
    "test",
    "statistic",
    "p_value",
    "p_adjusted",
    "effect_size",
    "threshold",
    "coverage",
    "run_id",
];

pub(crate) fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl RuleConfig {
    /// A rule with every selector open and the default condition (`drifted`).
    pub fn new(name: impl Into<String>) -> Self {
        RuleConfig {
            name: name.into(),
            job: any_glob(),
            metric: any_glob(),
            side: SideSelector::Any,
            kind: KindSelector::Any,
            condition: Condition::Drifted,
            severity: RuleSeverity::Auto,
            for_runs: 1,
            keep_firing_for: 0,
            labels: BTreeMap::new(),
            summary: None,
            runbook_url: None,
            critical_metrics: None,
        }
    }

    /// The severity this rule's alert for a finding of `metric` gets.
    pub fn severity_for(&self, metric: &str) -> Severity {
        self.severity
            .for_metric(metric, self.critical_metrics.as_deref())
    }

    /// Whether the rule watches this finding (job, metric, side and kind selectors).
    pub fn selects(&self, f: &Finding) -> bool {
        glob_match(&self.job, &f.job)
            && glob_match(&self.metric, &f.metric)
            && self.side.accepts(f.side)
            && self.kind.accepts(f.kind)
    }

    /// Whether the finding is selected and satisfies the condition.
    pub fn matches(&self, f: &Finding) -> bool {
        self.selects(f) && self.condition.holds(f)
    }

    /// The alert labels this rule gives a finding.
    pub fn alert_labels(&self, f: &Finding) -> BTreeMap<String, String> {
        let mut labels = self.labels.clone();
        labels.insert("alertname".into(), self.name.clone());
        labels.insert("job".into(), f.job.clone());
        labels.insert("metric".into(), f.metric.clone());
        labels.insert("side".into(), f.side.as_str().into());
        labels.insert(
            "severity".into(),
            self.severity_for(&f.metric).as_str().into(),
        );
        labels.insert("incident".into(), super::incident::incident_of(f));
        labels
    }

    /// The rendered one-line summary for a finding.
    pub fn summary_for(&self, f: &Finding) -> String {
        let tpl = self.summary.as_deref().unwrap_or(DEFAULT_SUMMARY);
        let s = template::render(tpl, |key| placeholder_value(key, f));
        match &f.note {
            Some(note) if !tpl.contains("{note}") => format!("{s} — {note}"),
            _ => s,
        }
    }

    /// Checks one rule (see [`validate_rules`]).
    pub fn validate(&self, index: usize) -> Result<(), RuleError> {
        if self.name.trim().is_empty() {
            return Err(RuleError::EmptyName { index });
        }
        if self.for_runs == 0 {
            return Err(RuleError::ZeroFor {
                rule: self.name.clone(),
            });
        }
        match self.condition {
            Condition::Threshold(t) if !t.value.is_finite() => {
                return Err(RuleError::NonFiniteThreshold {
                    rule: self.name.clone(),
                });
            }
            _ => {}
        }
        for label in self.labels.keys() {
            let why = if RESERVED_LABELS.contains(&label.as_str()) {
                Some("is reserved")
            } else if !valid_label_name(label) {
                Some("is not a valid label name ([A-Za-z_][A-Za-z0-9_]*)")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(RuleError::BadLabel {
                    rule: self.name.clone(),
                    label: label.clone(),
                    why,
                });
            }
        }
        if let Some(tpl) = &self.summary {
            template::check(tpl, &SUMMARY_PLACEHOLDERS).map_err(|why| RuleError::BadSummary {
                rule: self.name.clone(),
                why,
            })?;
        }
        Ok(())
    }
}

/// Checks a rule list: names, `for >= 1`, finite thresholds, label names, summary placeholders.
pub fn validate_rules(rules: &[RuleConfig]) -> Result<(), RuleError> {
    rules
        .iter()
        .enumerate()
        .try_for_each(|(i, r)| r.validate(i))
}

/// Rules used when a job configures none: alert (warning) on any drifted finding.
pub fn default_rules() -> Vec<RuleConfig> {
    vec![RuleConfig::new("DriftDetected")]
}

/// Formats a number for humans: `n/a` for NaN, 4 decimals trimmed, scientific when tiny/huge.
pub fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        return "n/a".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e6).contains(&a) {
        return format!("{v:.2e}");
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

fn placeholder_value(key: &str, f: &Finding) -> Option<String> {
    Some(match key {
        "job" => f.job.clone(),
        "metric" => f.metric.clone(),
        "side" => f.side.as_str().into(),
        "kind" => f.kind.as_str().into(),
        "test" => f.test.clone(),
        "statistic" => fmt_num(f.statistic),
        "p_value" => fmt_num(f.p_value),
        "p_adjusted" => fmt_num(f.p_adjusted),
        "effect_size" => fmt_num(f.effect_size),
        "threshold" => fmt_num(f.threshold),
        "coverage" => f.coverage.map_or_else(|| "n/a".into(), fmt_num),
        "run_id" => f.run_id.to_string(),
        "note" => f.note.clone().unwrap_or_default(),
        _ => return None,
    })
}

/// Glob match with `*` (any run of characters) and `?` (one character); no escapes.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::super::tests::fixtures::finding;
    use super::*;

    #[test]
    fn glob() {
        assert!(glob_match("*", ""));
        assert!(glob_match("output.*", "output.json_valid"));
        assert!(!glob_match("output.*", "input.length"));
        assert!(glob_match("*.len?th", "input.length"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("support", "support"));
        assert!(!glob_match("support", "support2"));
    }

    #[test]
    fn threshold_conditions() {
        let f = finding("output.len", false);
        let mut r = RuleConfig::new("Big");
        r.condition = Condition::Threshold(Threshold {
            field: ConditionField::EffectSize,
            op: ConditionOp::Above,
            value: 0.3,
        });
        assert!(r.matches(&f), "0.35 > 0.3 even though drifted=false");
        r.condition = Condition::Threshold(Threshold {
            field: ConditionField::EffectSize,
            op: ConditionOp::Above,
            value: 0.35,
        });
        assert!(!r.matches(&f), "strict comparison");
        r.condition = Condition::Threshold(Threshold {
            field: ConditionField::PAdjusted,
            op: ConditionOp::Below,
            value: 0.01,
        });
        assert!(r.matches(&f));
        r.condition = Condition::Threshold(Threshold {
            field: ConditionField::Coverage,
            op: ConditionOp::Below,
            value: 0.9,
        });
        assert!(!r.matches(&f), "absent coverage never matches");
        let mut cov = f.clone();
        cov.coverage = Some(0.8);
        assert!(r.matches(&cov));
        let mut nan = f.clone();
        nan.statistic = f64::NAN;
        r.condition = Condition::Threshold(Threshold {
            field: ConditionField::Statistic,
            op: ConditionOp::Below,
            value: 1.0,
        });
        assert!(!r.matches(&nan), "NaN never matches");
        assert!(r.matches(&f));
    }

    #[test]
    fn selectors() {
        let f = finding("output.json_valid", true);
        let mut r = RuleConfig::new("X");
        assert!(r.matches(&f));
        r.side = SideSelector::Input;
        assert!(!r.matches(&f));
        r.side = SideSelector::Output;
        r.kind = KindSelector::Semantic;
        assert!(!r.matches(&f));
        r.kind = KindSelector::Structural;
        r.job = "sup*".into();
        assert!(r.matches(&f));
        r.metric = "input.*".into();
        assert!(!r.matches(&f));
        assert!(!RuleConfig::new("X").matches(&finding("a", false)));
    }

    #[test]
    fn parses_toml_with_defaults_and_threshold() {
        #[derive(Deserialize)]
        struct Doc {
            rules: Vec<RuleConfig>,
        }
        let doc: Doc = toml::from_str(
            r#"
            [[rules]]
            name = "JsonBroken"
            metric = "output.json_*"
            side = "output"
            severity = "critical"
            for = 2
            keep_firing_for = 1
            labels = { team = "ml" }
            summary = "{job} {metric} es={effect_size}"
            condition = { field = "effect_size", op = "above", value = 0.3 }

            [[rules]]
            name = "Any"
            "#,
        )
        .unwrap();
        let r = &doc.rules[0];
        assert_eq!(r.for_runs, 2);
        assert_eq!(r.severity, RuleSeverity::Critical);
        assert_eq!(
            r.condition,
            Condition::Threshold(Threshold {
                field: ConditionField::EffectSize,
                op: ConditionOp::Above,
                value: 0.3
            })
        );
        let d = &doc.rules[1];
        assert_eq!(d, &RuleConfig::new("Any"));
        validate_rules(&doc.rules).unwrap();
        assert_eq!(
            r.summary_for(&finding("output.json_valid", true)),
            "support output.json_valid es=0.35"
        );
        // round trip
        let back: RuleConfig = serde_json::from_value(serde_json::to_value(r).unwrap()).unwrap();
        assert_eq!(&back, r);
    }

    #[test]
    fn rejects_bad_config() {
        let bad = |s: &str| toml::from_str::<RuleConfig>(s).unwrap_err().to_string();
        assert!(bad("name='a'\nwhat=1").contains("unknown field"));
        assert!(bad("name='a'\ncondition='maybe'").contains("drifted"));
        assert!(
            bad("name='a'\ncondition={field='effect_size',op='above',value=1,x=2}")
                .contains("unknown field")
        );
        let mut r = RuleConfig::new("a");
        r.for_runs = 0;
        assert!(matches!(r.validate(0), Err(RuleError::ZeroFor { .. })));
        let mut r = RuleConfig::new("a");
        r.labels.insert("job".into(), "x".into());
        assert!(matches!(r.validate(0), Err(RuleError::BadLabel { .. })));
        let mut r = RuleConfig::new("a");
        r.summary = Some("{nope}".into());
        assert!(matches!(r.validate(0), Err(RuleError::BadSummary { .. })));
        assert!(validate_rules(&default_rules()).is_ok());
    }

    #[test]
    fn nan_survives_json() {
        let mut f = finding("m", true);
        f.p_value = f64::NAN;
        let back: Finding = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert!(back.p_value.is_nan());
        assert_eq!(back.effect_size, 0.35);
    }

    #[test]
    fn number_format() {
        assert_eq!(fmt_num(0.35), "0.35");
        assert_eq!(fmt_num(0.123456), "0.1235");
        assert_eq!(fmt_num(2.0), "2");
        assert_eq!(fmt_num(1.5e-7), "1.50e-7");
        assert_eq!(fmt_num(f64::NAN), "n/a");
    }
}
