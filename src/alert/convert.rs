//! The notify view of a stored finding.

use crate::notify;
use crate::store::{self, Verdict};

/// Converts a stored finding for the rules.
///
/// * Missing numbers become NaN (a threshold on them never matches).
/// * `side` `-` (a metric spanning both sides) is taken from the metric's prefix:
///   `input.*` is the input side, anything else the output side.
/// * `coverage` is `details.coverage` when it is a number.
/// * `examples` are `details.examples`: strings as they are, objects by their `text`
///   (else their `trace_id`, as `trace #ID`), numbers as `trace #ID`.
///   They end up in emails and chat, so the analysis must only put redacted text there.
impl From<&store::Finding> for notify::Finding {
    fn from(f: &store::Finding) -> Self {
        let kind = match f.kind {
            store::FindingKind::Structural => notify::FindingKind::Structural,
            store::FindingKind::Operational => notify::FindingKind::Operational,
            store::FindingKind::Semantic => notify::FindingKind::Semantic,
            store::FindingKind::Coverage => notify::FindingKind::Coverage,
        };
        let side = match f.side.as_str() {
            "input" => notify::Side::Input,
            "output" => notify::Side::Output,
            _ if f.metric.starts_with("input") => notify::Side::Input,
            _ => notify::Side::Output,
        };
        let num = |x: Option<f64>| x.unwrap_or(f64::NAN);
        let examples = examples_of(f, notify::ExamplesPolicy::Full);
        notify::Finding {
            job: f.job.clone(),
            kind,
            metric: f.metric.clone(),
            side,
            test: f.test.clone(),
            statistic: num(f.statistic),
            p_value: num(f.p_value),
            p_adjusted: num(f.p_adjusted),
            effect_size: num(f.effect_size),
            threshold: num(f.threshold),
            // A gap inside an excluded topic keeps its verdict but alerts
            // nobody: the data team decided it is not a new topic.
            drifted: f.verdict == Verdict::Drifted && f.details.excluded.is_none(),
            coverage: f.details.coverage,
            run_id: f.run_id,
            examples,
            note: f.details.note.clone(),
            change: Some(f.change_text()).filter(|c| !c.is_empty()),
        }
    }
}

/// A finding's `details.examples` as notifications show them under `policy`:
/// texts as the policy lets them leave, else (and for entries without text) the
/// trace they come from as `trace #ID`.
fn examples_of(f: &store::Finding, policy: notify::ExamplesPolicy) -> Vec<String> {
    f.details
        .examples()
        .iter()
        .filter_map(|e| {
            let trace = e.trace_id().map(|id| format!("trace #{id}"));
            match e {
                store::Example::Text(s) => policy.apply(s),
                store::Example::Trace(t) => match &t.text {
                    Some(text) => policy.apply(text).or(trace),
                    None => trace,
                },
                store::Example::Id(_) => trace,
                store::Example::Missing => None,
            }
        })
        .collect()
}

/// The findings of `job` the rules look at: skipped tests (not tested at all) are left
/// out, so they neither match nor hold an alert. Their example texts are as
/// `policy` (`[alerts] examples`) lets them leave for e-mail, chat and webhooks.
pub fn notify_findings(
    job: &str,
    findings: &[store::Finding],
    policy: notify::ExamplesPolicy,
) -> Vec<notify::Finding> {
    findings
        .iter()
        .filter(|f| f.job == job && f.verdict != Verdict::Skipped)
        .map(|f| notify::Finding {
            examples: examples_of(f, policy),
            ..notify::Finding::from(f)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored(side: &str, metric: &str, verdict: Verdict) -> store::Finding {
        store::Finding {
            id: 1,
            run_id: 9,
            job: "support".into(),
            kind: store::FindingKind::Operational,
            metric: metric.into(),
            side: side.into(),
            test: "ks".into(),
            statistic: Some(0.4),
            p_value: None,
            p_adjusted: Some(0.001),
            effect_size: Some(0.3),
            threshold: Some(0.1),
            verdict,
            ref_n: 100,
            cur_n: 120,
            details: serde_json::from_value(json!({"coverage": 0.8, "examples": [
                "a",
                17,
                null,
                {"trace_id": 5, "external_id": "x", "value": 3, "text": "b"},
                {"trace_id": 6},
                {"value": 1}
            ]}))
            .unwrap(),
        }
    }

    #[test]
    fn examples_leave_as_the_policy_says() {
        let mut f = stored("output", "output.chars", Verdict::Drifted);
        f.details = serde_json::from_value(json!({"examples": [
            {"trace_id": 5, "text": "mail jane@example.com"},
            "call +1 415 555 0100",
        ]}))
        .unwrap();
        let all = [f];
        let got = |p| notify_findings("support", &all, p)[0].examples.clone();
        assert_eq!(
            got(notify::ExamplesPolicy::Redacted),
            ["mail [email]", "call [phone]"]
        );
        assert_eq!(got(notify::ExamplesPolicy::None), ["trace #5"]);
        assert_eq!(
            got(notify::ExamplesPolicy::Full),
            ["mail jane@example.com", "call +1 415 555 0100"]
        );
    }

    #[test]
    fn converts_numbers_side_kind_and_details() {
        let n = notify::Finding::from(&stored("output", "latency_ms", Verdict::Drifted));
        assert_eq!(n.kind, notify::FindingKind::Operational);
        assert_eq!(n.side, notify::Side::Output);
        assert!(n.p_value.is_nan());
        assert_eq!((n.effect_size, n.run_id, n.drifted), (0.3, 9, true));
        assert_eq!(n.coverage, Some(0.8));
        assert_eq!(n.examples, ["a", "trace #17", "b", "trace #6"]);
        assert_eq!(
            notify::Finding::from(&stored("-", "input.mmd", Verdict::Ok)).side,
            notify::Side::Input
        );
        assert_eq!(
            notify::Finding::from(&stored("-", "coverage", Verdict::Ok)).side,
            notify::Side::Output
        );
    }

    #[test]
    fn skipped_and_other_jobs_are_left_out() {
        let mut other = stored("output", "m", Verdict::Drifted);
        other.job = "billing".into();
        let all = [
            stored("output", "a", Verdict::Drifted),
            stored("output", "b", Verdict::Skipped),
            stored("output", "c", Verdict::Ok),
            other,
        ];
        let got: Vec<String> = notify_findings("support", &all, notify::ExamplesPolicy::Full)
            .into_iter()
            .map(|f| f.metric)
            .collect();
        assert_eq!(got, ["a", "c"]);
    }
}
