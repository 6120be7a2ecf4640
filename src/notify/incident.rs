//! Incidents: a run's findings grouped by cause, the unit ops are told about.
//!
//! A run that truncates its answers moves six structural metrics at once
//! (characters, words, tokens, JSON validity, language, OOV rate); a new topic
//! moves the coverage, the input MMD and the domain classifier as well as its
//! own gap. Sent one by one they bury the cause. Every finding is given an
//! `incident` label here, from its metric and kind alone (a pure function, so
//! the label is stable across runs and part of the alert fingerprint), and the
//! default route groups notifications by `job` and `incident`: one message per
//! cause, with a headline that says what broke. Consequences of one cause seen
//! under another incident (an output embedding shift under broken JSON) are
//! muted by inhibit rules ([`super::InhibitRule`]).

use super::rules::{Finding, FindingKind, Severity, Side};
use super::state::AlertState;

/// Output metrics whose drift means answers are broken, not merely different:
/// their findings default to `critical` (`[alerts] critical_metrics` replaces
/// the list; a rule's `severity` overrides it).
pub const CRITICAL_METRICS: [&str; 5] = [
    "output.json_valid",
    "output.schema_valid",
    "output.regex_match",
    "output.empty",
    "op.error_rate",
];

/// The `incident` label of a finding:
///
/// | incident | findings |
/// |---|---|
/// | `outputs` | structural output metrics (format, length, language, casing, vocabulary), completion tokens |
/// | `inputs` | structural input metrics (length, language, typos/casing), prompt tokens |
/// | `topic.ID` | one gap (a region of production the golden set does not cover) |
/// | `input_semantic` | input MMD, domain classifier, coverage |
/// | `output_semantic` | output MMD and other output embedding tests |
/// | `answers` | agreement of production answers with the golden set's expected outputs |
/// | `errors`, `feedback`, `latency`, `usage` | operational rates and costs |
pub fn incident_of(f: &Finding) -> String {
    let m = f.metric.as_str();
    if let Some(id) = gap_id(m) {
        return format!("topic.{id}");
    }
    match (f.kind, f.side) {
        (FindingKind::Operational, _) => match m {
            // Token counts are lengths: they move with the texts they count.
            "op.completion_tokens" => "outputs",
            "op.prompt_tokens" => "inputs",
            "op.error_rate" => "errors",
            "op.negative_feedback_rate" => "feedback",
            "op.latency_ms" => "latency",
            m if m.starts_with("answer.") => "answers",
            _ => "usage",
        }
        .into(),
        (FindingKind::Structural, Side::Output) => "outputs".into(),
        (FindingKind::Structural, Side::Input) => "inputs".into(),
        (_, Side::Input) => "input_semantic".into(),
        (_, Side::Output) => "output_semantic".into(),
    }
}

/// The gap id of a gap metric (`input.gap.7` or the older `input.cluster.7`).
pub fn gap_id(metric: &str) -> Option<&str> {
    metric
        .strip_prefix("input.gap.")
        .or_else(|| metric.strip_prefix("input.cluster."))
        .filter(|id| !id.is_empty())
}

/// `critical` for [`CRITICAL_METRICS`], `warning` otherwise: the severity of a
/// rule whose `severity` is `auto` (the default).
pub fn default_severity(f: &Finding) -> Severity {
    severity_of_metric(&f.metric, None)
}

/// [`default_severity`] of a finding of `metric`, with `critical` (globs, as
/// `[alerts] critical_metrics`) in place of [`CRITICAL_METRICS`] when given.
pub fn severity_of_metric(metric: &str, critical: Option<&[String]>) -> Severity {
    let is_critical = match critical {
        Some(globs) => globs.iter().any(|g| super::rules::glob_match(g, metric)),
        None => CRITICAL_METRICS.contains(&metric),
    };
    if is_critical {
        Severity::Critical
    } else {
        Severity::Warning
    }
}

/// How telling a finding is for its incident's headline: broken formats first,
/// then empty answers, errors, a gap, lengths, then the rest.
fn rank(metric: &str) -> u8 {
    match metric {
        "output.json_valid" | "output.schema_valid" | "output.regex_match" => 0,
        "output.empty" | "op.error_rate" => 1,
        m if gap_id(m).is_some() => 2,
        "op.negative_feedback_rate" => 2,
        "output.chars" | "output.tokens" | "output.words" => 3,
        "input.oov_rate" | "input.uppercase_share" => 3,
        "input.coverage" | "coverage" => 4,
        _ => 5,
    }
}

/// The order of an incident's alerts: highest severity, then the most telling
/// metric ([`rank`]), then the largest effect.
pub fn order(a: &AlertState, b: &AlertState) -> std::cmp::Ordering {
    let sev = |s: &AlertState| u8::from(s.label("severity") != "critical");
    sev(a)
        .cmp(&sev(b))
        .then(rank(a.label("metric")).cmp(&rank(b.label("metric"))))
        .then(effect(b).total_cmp(&effect(a)))
        .then(a.fingerprint.cmp(&b.fingerprint))
}

/// The alert that leads an incident's message (first in [`order`]).
pub fn lead<'a>(alerts: &[&'a AlertState]) -> Option<&'a AlertState> {
    alerts.iter().copied().min_by(|a, b| order(a, b))
}

fn effect(a: &AlertState) -> f64 {
    a.last_match
        .as_ref()
        .map(|f| f.effect_size)
        .filter(|e| e.is_finite())
        .unwrap_or(f64::NEG_INFINITY)
}

/// What broke, in words, from the lead finding of an incident.
pub fn title(f: &Finding) -> String {
    let m = f.metric.as_str();
    if gap_id(m).is_some() {
        return "New topic the golden set does not cover".into();
    }
    if m.starts_with("answer.") {
        return "Answers to known questions changed".into();
    }
    let side = if f.side == Side::Input {
        "Inputs"
    } else {
        "Outputs"
    };
    let what = match m.split_once('.').map_or(m, |(_, rest)| rest) {
        "json_valid" => "no longer valid JSON",
        "schema_valid" => "no longer match the schema",
        "regex_match" => "no longer match the expected pattern",
        "empty" => "empty more often",
        "chars" | "words" | "tokens" => "changed length",
        "language" => "changed language",
        "uppercase_share" | "oov_rate" | "non_ascii_share" if f.side == Side::Input => {
            "changed surface form (typos/casing)"
        }
        "uppercase_share" | "oov_rate" | "non_ascii_share" => "changed surface form",
        "error_rate" => return "Error rate changed".into(),
        "negative_feedback_rate" => return "Negative feedback changed".into(),
        "latency_ms" => return "Latency changed".into(),
        "completion_tokens" => return "Outputs changed length".into(),
        "prompt_tokens" => return "Inputs changed length".into(),
        "cost" => return "Cost changed".into(),
        _ if matches!(f.kind, FindingKind::Semantic | FindingKind::Coverage) => {
            "moved in meaning (embedding shift, no localized new topic)"
        }
        _ => "changed",
    };
    format!("{side} {what}")
}

/// The one-line headline of an incident: its title, the lead finding's change
/// (`100.0% → 59.9%`) and how many findings move with it.
pub fn headline(alerts: &[&AlertState]) -> Option<String> {
    let lead = lead(alerts)?;
    let f = lead.last_match.as_ref()?;
    let mut out = title(f);
    match f.change.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => out.push_str(&format!(": {} {c}", short_metric(&f.metric))),
        None => out.push_str(&format!(": {}", short_metric(&f.metric))),
    }
    let mut metrics: Vec<&str> = alerts.iter().map(|a| a.label("metric")).collect();
    metrics.sort_unstable();
    metrics.dedup();
    if metrics.len() > 1 {
        let k = metrics.len() - 1;
        out.push_str(&format!(
            " (+{k} related finding{})",
            if k == 1 { "" } else { "s" }
        ));
    }
    Some(out)
}

/// `output.json_valid` → `JSON validity`; gaps and unknown metrics as they are.
fn short_metric(metric: &str) -> String {
    if gap_id(metric).is_some() {
        return "gap".into();
    }
    let side = metric.split('.').next().unwrap_or("");
    let name = match metric.split_once('.').map_or(metric, |(_, r)| r) {
        "json_valid" => "JSON validity",
        "schema_valid" => "schema validity",
        "regex_match" => "pattern match",
        "empty" => "empty share",
        "chars" => "length (chars)",
        "words" => "length (words)",
        "tokens" => "length (tokens)",
        "language" => "language",
        "uppercase_share" => "uppercase share",
        "oov_rate" => "out-of-vocabulary rate",
        "non_ascii_share" => "non-ASCII share",
        "error_rate" => "error rate",
        "negative_feedback_rate" => "negative feedback rate",
        "latency_ms" => "latency (ms)",
        "completion_tokens" => "completion tokens",
        "prompt_tokens" => "prompt tokens",
        "cost" => "cost",
        _ => return metric.to_owned(),
    };
    if side == "op" {
        name.to_owned()
    } else {
        format!("{side} {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::super::rules::RuleConfig;
    use super::super::tests::fixtures::{alert, finding};
    use super::super::AlertStatus;
    use super::*;

    fn with(metric: &str, kind: FindingKind, side: Side) -> Finding {
        Finding {
            kind,
            side,
            ..finding(metric, true)
        }
    }

    #[test]
    fn findings_are_grouped_by_cause() {
        use FindingKind::*;
        let cases = [
            (
                with("output.json_valid", Structural, Side::Output),
                "outputs",
            ),
            (with("output.chars", Structural, Side::Output), "outputs"),
            (with("output.oov_rate", Structural, Side::Output), "outputs"),
            (with("input.oov_rate", Structural, Side::Input), "inputs"),
            (with("input.gap.4", Coverage, Side::Input), "topic.4"),
            (with("input.cluster.9", Coverage, Side::Input), "topic.9"),
            (
                with("input.coverage", Coverage, Side::Input),
                "input_semantic",
            ),
            (with("input.mmd", Semantic, Side::Input), "input_semantic"),
            (
                with("output.mmd", Semantic, Side::Output),
                "output_semantic",
            ),
            (with("op.error_rate", Operational, Side::Output), "errors"),
            (
                with("op.negative_feedback_rate", Operational, Side::Output),
                "feedback",
            ),
            (with("op.latency_ms", Operational, Side::Output), "latency"),
            (with("op.cost", Operational, Side::Output), "usage"),
            (with("answer.intent", Operational, Side::Output), "answers"),
            (
                with("op.completion_tokens", Operational, Side::Output),
                "outputs",
            ),
            (
                with("op.prompt_tokens", Operational, Side::Output),
                "inputs",
            ),
        ];
        for (f, want) in cases {
            assert_eq!(incident_of(&f), want, "{}", f.metric);
        }
        assert_eq!(
            title(&with("answer.intent", Operational, Side::Output)),
            "Answers to known questions changed"
        );
    }

    #[test]
    fn broken_formats_and_errors_are_critical_by_default() {
        assert_eq!(
            default_severity(&finding("output.json_valid", true)),
            Severity::Critical
        );
        assert_eq!(
            default_severity(&finding("op.error_rate", true)),
            Severity::Critical
        );
        assert_eq!(
            default_severity(&finding("output.chars", true)),
            Severity::Warning
        );
    }

    #[test]
    fn the_headline_leads_with_the_broken_format_not_the_first_metric() {
        let mk = |metric: &str, effect: f64, change: &str| {
            let mut a = alert("support", metric, AlertStatus::Firing);
            let f = a.last_match.as_mut().unwrap();
            f.effect_size = effect;
            f.change = Some(change.into());
            let rule = RuleConfig::new("DriftDetected");
            a.labels = rule.alert_labels(f);
            a
        };
        let chars = mk("output.chars", 0.9, "median 412 → 98");
        let json = mk("output.json_valid", 0.4, "100.0% → 59.9%");
        let lang = mk("output.language", 0.5, "eng 100% → 80%");
        let alerts = [&chars, &json, &lang];
        assert_eq!(lead(&alerts).unwrap().label("metric"), "output.json_valid");
        assert_eq!(
            headline(&alerts).unwrap(),
            "Outputs no longer valid JSON: output JSON validity 100.0% → 59.9% (+2 related findings)"
        );
        assert_eq!(
            headline(&[&chars]).unwrap(),
            "Outputs changed length: output length (chars) median 412 → 98"
        );
        assert_eq!(headline(&[]), None);
    }
}
