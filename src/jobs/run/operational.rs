//! The operational comparison: latency, tokens, cost, error and negative-feedback
//! rates of the window against the previous window (the golden set has none).

use super::super::config::JobSpec;
use super::super::hypothesis::{test_metric, to_finding, CurColumn};
use super::super::profile::RefColumn;
use crate::store::{Finding, FindingKind, Trace};

/// The operational fields of one trace (what [`operational_findings`] compares),
/// compact: a missing number is NaN (the comparison drops non-finite values
/// anyway), a missing flag is `None`.
#[derive(Debug, Clone, Copy)]
pub(super) struct OpValues {
    latency_ms: f64,
    prompt_tokens: f64,
    completion_tokens: f64,
    cost: f64,
    is_error: Option<bool>,
    /// `feedback <= 0`.
    negative_feedback: Option<bool>,
}

impl OpValues {
    pub(super) fn of(t: &Trace) -> Self {
        OpValues {
            latency_ms: t.latency_ms.unwrap_or(f64::NAN),
            prompt_tokens: t.prompt_tokens.map_or(f64::NAN, |x| x as f64),
            completion_tokens: t.completion_tokens.map_or(f64::NAN, |x| x as f64),
            cost: t.cost.unwrap_or(f64::NAN),
            is_error: t.is_error,
            negative_feedback: t.feedback.map(|x| x <= 0.0),
        }
    }
}

/// Latency, tokens, cost, error and negative-feedback rates: the golden set has
/// none of these, so the current window is compared with the previous one.
pub(super) fn operational_findings(
    spec: &JobSpec,
    previous: &[OpValues],
    current: &[OpValues],
) -> Vec<Finding> {
    type NumFn = fn(&OpValues) -> f64;
    let numeric: [(&str, NumFn); 4] = [
        ("latency_ms", |t| t.latency_ms),
        ("prompt_tokens", |t| t.prompt_tokens),
        ("completion_tokens", |t| t.completion_tokens),
        ("cost", |t| t.cost),
    ];
    let op_finding = |name: &str, t| {
        to_finding(
            &spec.name,
            FindingKind::Operational,
            &format!("op.{name}"),
            "-",
            t,
        )
    };
    let mut out = Vec::new();
    for (name, f) in numeric {
        let r: Vec<f64> = previous.iter().map(f).filter(|x| x.is_finite()).collect();
        let mut c: Vec<f64> = current.iter().map(f).filter(|x| x.is_finite()).collect();
        if r.len() < spec.min_samples || c.len() < spec.min_samples {
            continue;
        }
        let mut rs = r;
        rs.sort_by(f64::total_cmp);
        let t = test_metric(
            &RefColumn::Numeric { sorted: rs },
            CurColumn::Numeric(&mut c),
            &spec.effect_floors,
            spec.tests.get(name).copied(),
            spec.min_samples,
        );
        out.push(op_finding(name, t));
    }
    type RateFn = fn(&OpValues) -> Option<bool>;
    let rates: [(&str, RateFn); 2] = [
        ("error_rate", |t| t.is_error),
        ("negative_feedback_rate", |t| t.negative_feedback),
    ];
    for (name, f) in rates {
        let count = |ts: &[OpValues]| {
            ts.iter()
                .filter_map(f)
                .fold((0u64, 0u64), |(s, n), b| (s + b as u64, n + 1))
        };
        let (rs, rn) = count(previous);
        let (cs, cn) = count(current);
        if (rn as usize) < spec.min_samples || (cn as usize) < spec.min_samples {
            continue;
        }
        let t = test_metric(
            &RefColumn::Rate {
                successes: rs,
                n: rn,
            },
            CurColumn::Rate {
                successes: cs,
                n: cn,
            },
            &spec.effect_floors,
            None,
            spec.min_samples,
        );
        out.push(op_finding(name, t));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Verdict;

    fn spec() -> JobSpec {
        crate::jobs::JobConfig::adhoc("j", "g")
            .check("jobs[0]", std::path::Path::new("."))
            .unwrap()
    }

    fn op(latency_ms: f64, is_error: bool) -> OpValues {
        OpValues {
            latency_ms,
            prompt_tokens: f64::NAN,
            completion_tokens: f64::NAN,
            cost: f64::NAN,
            is_error: Some(is_error),
            negative_feedback: None,
        }
    }

    #[test]
    fn a_slower_window_with_more_errors_is_tested_and_absent_fields_are_not() {
        let spec = spec();
        let previous: Vec<OpValues> = (0..200)
            .map(|i| op(100.0 + (i % 10) as f64, i % 50 == 0))
            .collect();
        let current: Vec<OpValues> = (0..200)
            .map(|i| op(300.0 + (i % 10) as f64, i % 4 == 0))
            .collect();
        let found = operational_findings(&spec, &previous, &current);
        let names: Vec<&str> = found.iter().map(|f| f.metric.as_str()).collect();
        // Tokens, cost and feedback are missing from every trace: not tested.
        assert_eq!(names, ["op.latency_ms", "op.error_rate"]);
        assert!(found
            .iter()
            .all(|f| f.kind == FindingKind::Operational && f.side == "-"));
        assert!(found[0].p_value.unwrap() < 1e-6, "{:?}", found[0]);
        assert!(found[1].p_value.unwrap() < 1e-3, "{:?}", found[1]);
        assert!(found.iter().all(|f| f.verdict != Verdict::Skipped));

        let same = operational_findings(&spec, &previous, &previous);
        assert!(same.iter().all(|f| f.p_value.unwrap() > 0.5), "{same:?}");
    }

    #[test]
    fn too_few_traces_in_either_window_tests_nothing() {
        let spec = spec();
        let few: Vec<OpValues> = (0..spec.min_samples - 1)
            .map(|i| op(i as f64, false))
            .collect();
        let many: Vec<OpValues> = (0..500).map(|i| op(i as f64, false)).collect();
        assert!(operational_findings(&spec, &few, &many).is_empty());
        assert!(operational_findings(&spec, &many, &few).is_empty());
    }
}
