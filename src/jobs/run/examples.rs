//! Example traces behind each drifted structural finding.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::structural::Sample;
use crate::metrics::{MetricId, MetricKind, MetricTable, Side};
use crate::store::{
    Example, ExampleTrace, Finding, FindingKind, Store, StoreError, Trace, Verdict,
};

fn clip(s: &str, n: usize) -> String {
    crate::text::truncate(s, n)
}

/// Puts up to three example traces behind each drifted structural finding: the
/// failing outputs for rates, the most extreme values in the direction of the
/// shift for numbers, the grown category for languages. The rows hold no texts:
/// the few picked traces are fetched again by id (`ids[i]` is row `i`'s trace).
pub(super) async fn attach_examples(
    store: &Store,
    findings: &mut [Finding],
    metrics: &[MetricId],
    prod: &Sample,
) -> Result<(), StoreError> {
    let ids = &prod.ids;
    let picks = pick_examples(findings, metrics, &prod.rows, &prod.lang_rows);
    let mut wanted: Vec<i64> = picks
        .iter()
        .flat_map(|(_, _, p)| p.iter().filter_map(|(i, _)| ids.get(*i).copied()))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let traces = store.traces_by_ids(&wanted).await?;
    let by_id: HashMap<i64, &Trace> = traces.iter().map(|t| (t.id, t)).collect();
    fn text_of(t: &Trace, side: Side) -> &str {
        if side == Side::Input {
            &t.input
        } else {
            &t.output
        }
    }
    for (fi, side, p) in picks {
        let examples: Vec<Example> = p
            .into_iter()
            .filter_map(|(i, v)| {
                let t = ids.get(i).and_then(|id| by_id.get(id))?;
                Some(Example::Trace(ExampleTrace {
                    trace_id: Some(t.id),
                    external_id: Some(t.external_id.clone()),
                    value: Some(v),
                    text: Some(clip(text_of(t, side), 300)),
                    ..Default::default()
                }))
            })
            .collect();
        findings[fi].details.examples = Some(examples);
    }
    Ok(())
}

/// Per drifted structural finding (by index): the side and the picked rows with
/// the value shown for each.
type Picks = Vec<(usize, Side, Vec<(usize, Value)>)>;

/// `rows` holds the metrics but language, `lang_rows` the language metrics of
/// every row of the sample (the same rows, in their own table).
fn pick_examples(
    findings: &[Finding],
    metrics: &[MetricId],
    rows: &MetricTable,
    lang_rows: &MetricTable,
) -> Picks {
    let by_name: HashMap<&str, MetricId> = metrics.iter().map(|m| (m.name(), *m)).collect();
    let mut out = Vec::new();
    for (fi, f) in findings
        .iter()
        .enumerate()
        .filter(|(_, f)| f.verdict == Verdict::Drifted && f.kind == FindingKind::Structural)
    {
        let Some(m) = by_name.get(f.metric.as_str()) else {
            continue;
        };
        let side = m.side();
        let mut picks: Vec<(usize, Value)> = Vec::new();
        match m.kind() {
            MetricKind::Rate => {
                let expected_true = !f.metric.ends_with(".empty");
                for i in 0..rows.len() {
                    if let Some(b) = rows.flag_at(*m, i) {
                        if b != expected_true {
                            picks.push((i, json!(b)));
                            if picks.len() == 3 {
                                break;
                            }
                        }
                    }
                }
            }
            MetricKind::Numeric => {
                let (r, p) = f.details.quantiles().unwrap_or_default();
                let lower = p.p50 < r.p50 || (p.p50 == r.p50 && p.mean < r.mean);
                // The three most extreme values in the direction of the
                // shift, earlier rows first among equals.
                let before = |a: &(usize, f64), b: &(usize, f64)| {
                    let by_value = if lower {
                        a.1.total_cmp(&b.1)
                    } else {
                        b.1.total_cmp(&a.1)
                    };
                    by_value.then(a.0.cmp(&b.0)).is_lt()
                };
                let mut top: Vec<(usize, f64)> = Vec::with_capacity(4);
                for i in 0..rows.len() {
                    let Some(v) = rows.number_at(*m, i) else {
                        continue;
                    };
                    let pos = top.iter().take_while(|t| before(t, &(i, v))).count();
                    if pos < 3 {
                        top.insert(pos, (i, v));
                        top.truncate(3);
                    }
                }
                picks = top.into_iter().map(|(i, v)| (i, json!(v))).collect();
            }
            MetricKind::Categorical => {
                let grown = f.details.shares().and_then(|(r, p)| {
                    p.iter()
                        .map(|(k, v)| (k.clone(), v - r.get(k).copied().unwrap_or(0.0)))
                        .max_by(|a, b| a.1.total_cmp(&b.1))
                        .map(|(k, _)| k)
                });
                // The rows the language test used: every row.
                if let Some(cat) = grown {
                    for i in 0..lang_rows.len() {
                        if lang_rows.category_at(*m, i) == Some(cat.as_str()) {
                            picks.push((i, json!(cat)));
                            if picks.len() == 3 {
                                break;
                            }
                        }
                    }
                }
            }
        }
        out.push((fi, side, picks));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Expectations, Extractor, OutputFormat, TokenCounter, TokenizerSpec};
    use crate::store::Verdict;

    fn drifted(metric: &str, details: Value) -> Finding {
        Finding {
            id: 0,
            run_id: 0,
            job: "j".into(),
            kind: FindingKind::Structural,
            metric: metric.into(),
            side: "output".into(),
            test: "z".into(),
            statistic: None,
            p_value: Some(0.0),
            p_adjusted: Some(0.0),
            effect_size: Some(1.0),
            threshold: Some(0.1),
            verdict: Verdict::Drifted,
            ref_n: 10,
            cur_n: 10,
            details: serde_json::from_value(details).unwrap(),
        }
    }

    #[test]
    fn examples_are_the_failing_rows_and_the_extremes_in_the_direction_of_the_shift() {
        let x = Extractor::new(
            TokenCounter::new(&TokenizerSpec::O200kBase).unwrap(),
            Expectations {
                output_format: OutputFormat::Json,
                ..Expectations::default()
            },
        );
        let outputs = [
            "{}",
            "oops",
            "{\"a\": 1}",
            "not json either",
            "[1]",
            "{",
            "[]",
        ];
        let pairs: Vec<(&str, &str)> = outputs.iter().map(|o| ("q", *o)).collect();
        let json_valid = MetricId::ALL
            .into_iter()
            .find(|m| m.name() == "output.json_valid")
            .unwrap();
        let chars = MetricId::ALL
            .into_iter()
            .find(|m| m.name() == "output.chars")
            .unwrap();
        let metrics = [json_valid, chars];
        let mut rows = MetricTable::new(&metrics);
        rows.extend(&x.extract_all(&pairs));
        let lang_rows = MetricTable::new(&[]);

        // Outputs got shorter: the three shortest, earlier rows first among equals.
        let shorter = json!({"production": {"p50": 2.0, "mean": 4.0}, "reference": {"p50": 40.0, "mean": 40.0}});
        let findings = [
            drifted("output.json_valid", json!({})),
            drifted("output.chars", shorter),
        ];
        let picks = pick_examples(&findings, &metrics, &rows, &lang_rows);
        assert_eq!(picks.len(), 2);
        let (fi, side, invalid) = &picks[0];
        assert_eq!((*fi, *side), (0, Side::Output));
        let rows_picked: Vec<usize> = invalid.iter().map(|(i, _)| *i).collect();
        assert_eq!(
            rows_picked,
            [1, 3, 5],
            "the first three outputs that do not parse"
        );
        assert!(invalid.iter().all(|(_, v)| *v == json!(false)));
        let shortest: Vec<(usize, Value)> = picks[1].2.clone();
        assert_eq!(
            shortest,
            [(5, json!(1.0)), (0, json!(2.0)), (6, json!(2.0))],
            "`{{`, `{{}}`, `[]`"
        );

        // Only drifted structural findings get examples.
        let mut ok = findings[0].clone();
        ok.verdict = Verdict::Ok;
        assert!(pick_examples(&[ok], &metrics, &rows, &lang_rows).is_empty());
    }
}
