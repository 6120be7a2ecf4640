//! Answers against the golden set: which production traces ask a question the
//! golden set answers, and whether the production answer agrees with the
//! expected output on the fields that say what a correct answer is.
//!
//! Pure: texts, unit-length embeddings and JSON in; matches and agreement
//! counts out. The runner (`jobs::run::answers`) reads the traces, embeds, tests
//! and stores.
//!
//! **Matching.** A production input matches a golden example when the two are
//! the same text after [`normalize`] (case, whitespace and punctuation ignored),
//! or else when the golden input is its nearest by cosine and the cosine is at
//! least `min_cos`. The default threshold is measured on real text (BANKING77,
//! see BENCHMARKS.md "Answers: matching"): different-intent nearest neighbours
//! rarely reach it.
//!
//! **Agreement.** For each configured field (a dotted path into the output
//! JSON, e.g. `intent` or `result.label`), a matched pair whose expected
//! output has the field agrees when the production output has an equal value:
//! strings and booleans exactly, numbers within `tolerance` (absolute). A
//! production output that does not parse, or lacks the field, disagrees: the
//! answer no longer says it.

use std::collections::HashMap;

use ndarray::ArrayView2;
use serde_json::Value;

/// A production trace's golden counterpart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match {
    /// Index into the golden examples.
    pub golden: usize,
    /// Cosine of the two inputs (1 for an exact match).
    pub cos: f32,
    /// Same text after [`normalize`].
    pub exact: bool,
}

/// Lower case, letters and digits only, words separated by one space: two
/// inputs that differ in case, spacing or punctuation are the same question.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// Matches every production input to a golden example, or to none.
///
/// `golden_emb` / `production_emb` are unit rows in the order of the texts;
/// without them only exact matches are made. When several golden examples have
/// the same normalized input, the first is taken.
pub fn match_golden(
    golden_inputs: &[&str],
    production_inputs: &[&str],
    embeddings: Option<(ArrayView2<f32>, ArrayView2<f32>)>,
    min_cos: f32,
) -> Vec<Option<Match>> {
    let mut exact: HashMap<String, usize> = HashMap::with_capacity(golden_inputs.len());
    for (i, g) in golden_inputs.iter().enumerate() {
        exact.entry(normalize(g)).or_insert(i);
    }
    let sims = embeddings
        .filter(|(g, p)| g.nrows() == golden_inputs.len() && p.nrows() == production_inputs.len())
        .filter(|(g, _)| g.nrows() > 0)
        .map(|(g, p)| p.dot(&g.t()));
    production_inputs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if let Some(&g) = exact.get(&normalize(p)) {
                return Some(Match {
                    golden: g,
                    cos: 1.0,
                    exact: true,
                });
            }
            let row = sims.as_ref()?.row(i);
            let (g, &cos) = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
            (cos >= min_cos).then_some(Match {
                golden: g,
                cos,
                exact: false,
            })
        })
        .collect()
}

/// Matches every golden input to *another* golden example asking the same
/// question (the same rule as [`match_golden`], the example itself excluded):
/// the golden set's paraphrase pairs, whose expected outputs give the
/// agreement a consistent application would reach.
pub fn match_within(
    inputs: &[&str],
    embeddings: Option<ArrayView2<f32>>,
    min_cos: f32,
) -> Vec<Option<Match>> {
    let mut first: HashMap<String, Vec<usize>> = HashMap::with_capacity(inputs.len());
    for (i, g) in inputs.iter().enumerate() {
        first.entry(normalize(g)).or_default().push(i);
    }
    let sims = embeddings
        .filter(|e| e.nrows() == inputs.len() && e.nrows() > 1)
        .map(|e| e.dot(&e.t()));
    inputs
        .iter()
        .enumerate()
        .map(|(i, g)| {
            if let Some(&j) = first[&normalize(g)].iter().find(|&&j| j != i) {
                return Some(Match {
                    golden: j,
                    cos: 1.0,
                    exact: true,
                });
            }
            let row = sims.as_ref()?.row(i);
            let (j, &cos) = row
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .max_by(|a, b| a.1.total_cmp(b.1))?;
            (cos >= min_cos).then_some(Match {
                golden: j,
                cos,
                exact: false,
            })
        })
        .collect()
}

/// The value at a dotted `path` of a JSON text (`None` when the text does not
/// parse or has no such field).
pub fn json_field(text: &str, path: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(text.trim()).ok()?;
    value_at(&v, path).cloned()
}

/// The value at a dotted `path` of a parsed JSON document.
fn value_at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for key in path.split('.') {
        cur = match cur {
            Value::Object(o) => o.get(key)?,
            Value::Array(a) => a.get(key.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Whether an actual field value agrees with the expected one: numbers within
/// `tolerance`, strings ignoring surrounding whitespace, anything else equal.
pub fn values_agree(expected: &Value, actual: &Value, tolerance: f64) -> bool {
    match (expected, actual) {
        (Value::Number(e), Value::Number(a)) => match (e.as_f64(), a.as_f64()) {
            (Some(e), Some(a)) => (e - a).abs() <= tolerance,
            _ => false,
        },
        (Value::String(e), Value::String(a)) => e.trim() == a.trim(),
        (e, a) => e == a,
    }
}

/// Agreement on one field over matched pairs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldAgreement {
    /// Matched pairs whose expected output has the field.
    pub compared: u64,
    /// Of those, pairs whose production output has an agreeing value.
    pub agreed: u64,
    /// The disagreeing pairs: (production index, golden index, expected
    /// value, actual value or `None` when the production output lacks it).
    pub disagreements: Vec<(usize, usize, Value, Option<Value>)>,
    /// Matched pairs not compared because the production output is not JSON
    /// at all: a broken format is the structural finding's (`output.json_valid`),
    /// not a changed answer, so one cause is reported once.
    pub unparsed: u64,
}

impl FieldAgreement {
    /// `agreed / compared` (`None` with nothing compared).
    pub fn rate(&self) -> Option<f64> {
        (self.compared > 0).then(|| self.agreed as f64 / self.compared as f64)
    }
}

/// Agreement on `field` of every matched production output with its golden
/// expected output. `matches[i]` belongs to `actual[i]`; `expected` is indexed
/// by [`Match::golden`].
pub fn field_agreement(
    matches: &[Option<Match>],
    expected: &[&str],
    actual: &[&str],
    field: &str,
    tolerance: f64,
) -> FieldAgreement {
    let mut out = FieldAgreement::default();
    for (i, m) in matches.iter().enumerate() {
        let Some(m) = m else { continue };
        let Some(want) = expected.get(m.golden).and_then(|e| json_field(e, field)) else {
            continue;
        };
        // Parsed once: a text that is not JSON is not compared.
        let Ok(doc) =
            serde_json::from_str::<Value>(actual.get(i).copied().unwrap_or_default().trim())
        else {
            out.unparsed += 1;
            continue;
        };
        out.compared += 1;
        let got = value_at(&doc, field).cloned();
        if got
            .as_ref()
            .is_some_and(|g| values_agree(&want, g, tolerance))
        {
            out.agreed += 1;
        } else {
            out.disagreements.push((i, m.golden, want, got));
        }
    }
    out
}

/// The answer text of an output: the string at dotted `field` when given (a
/// non-string value as its JSON), else the whole output trimmed. `None` when
/// the field is missing or the text empty.
pub fn text_of(output: &str, field: Option<&str>) -> Option<String> {
    let t = match field {
        Some(f) => match json_field(output, f)? {
            Value::String(s) => s,
            v => v.to_string(),
        },
        None => output.to_string(),
    };
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// Token-level F1 of two answers (SQuAD's answer metric, Rajpurkar et al.
/// 2016): precision and recall of the shared tokens, counted with
/// multiplicity, after [`normalize`]. Two empty answers score 1.
pub fn token_f1(expected: &str, actual: &str) -> f64 {
    let (e, a) = (normalize(expected), normalize(actual));
    let et: Vec<&str> = e.split_whitespace().collect();
    let at: Vec<&str> = a.split_whitespace().collect();
    if et.is_empty() || at.is_empty() {
        return if et.is_empty() && at.is_empty() {
            1.0
        } else {
            0.0
        };
    }
    let mut counts: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    for t in &et {
        *counts.entry(t).or_default() += 1;
    }
    let mut shared = 0i64;
    for t in &at {
        if let Some(c) = counts.get_mut(t) {
            if *c > 0 {
                *c -= 1;
                shared += 1;
            }
        }
    }
    if shared == 0 {
        return 0.0;
    }
    let p = shared as f64 / at.len() as f64;
    let r = shared as f64 / et.len() as f64;
    2.0 * p * r / (p + r)
}

/// A judge's reply: `{"correct": true|false, "reason": "…"}` (also inside a
/// Markdown fence), else a reply starting with yes / correct or no /
/// incorrect. `None` when it says neither.
pub fn parse_judgement(reply: &str) -> Option<(bool, String)> {
    let t = reply.trim();
    let body = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .map(|b| b.trim().trim_end_matches("```").trim())
        .unwrap_or(t);
    if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(body) {
        let correct = o.get("correct")?.as_bool()?;
        let reason = o
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        return Some((correct, reason));
    }
    let first = normalize(t);
    let word = first.split_whitespace().next()?;
    match word {
        "yes" | "correct" | "true" => Some((true, t.to_string())),
        "no" | "incorrect" | "false" | "wrong" => Some((false, t.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use serde_json::json;

    #[test]
    fn token_f1_matches_the_squad_definition() {
        // Reference: SQuAD v1.1's evaluate script, f1_score (without its
        // article removal): "the cat sat" vs "cat sat down" shares 2 tokens,
        // precision 2/3, recall 2/3.
        assert!((token_f1("the cat sat", "cat sat down") - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(token_f1("Yes, within 5 days.", "yes within 5 days"), 1.0);
        assert_eq!(token_f1("a a b", "a"), 0.5);
        assert_eq!(token_f1("abc", "xyz"), 0.0);
        assert_eq!(token_f1("", ""), 1.0);
        assert_eq!(token_f1("", "x"), 0.0);
    }

    #[test]
    fn answer_texts_and_judgements_are_read() {
        let out = r#"{"intent": "refund", "answer": " Within 5 days. ", "n": 3}"#;
        assert_eq!(
            text_of(out, Some("answer")).as_deref(),
            Some("Within 5 days.")
        );
        assert_eq!(text_of(out, Some("n")).as_deref(), Some("3"));
        assert_eq!(text_of(out, Some("missing")), None);
        assert_eq!(text_of("  plain  ", None).as_deref(), Some("plain"));
        assert_eq!(
            parse_judgement("```json\n{\"correct\": false, \"reason\": \"wrong intent\"}\n```"),
            Some((false, "wrong intent".into()))
        );
        assert_eq!(parse_judgement("Yes. It matches.").map(|j| j.0), Some(true));
        assert_eq!(
            parse_judgement("Incorrect: off by one").map(|j| j.0),
            Some(false)
        );
        assert_eq!(parse_judgement("maybe"), None);
        assert_eq!(parse_judgement("{\"reason\": \"x\"}"), None);
    }

    #[test]
    fn normalize_ignores_case_spacing_and_punctuation() {
        assert_eq!(normalize("  Where's my CARD?! "), "where s my card");
        assert_eq!(normalize("where s my card"), "where s my card");
        assert_eq!(normalize("Überweisung, bitte."), "überweisung bitte");
        assert_eq!(normalize("?!"), "");
    }

    #[test]
    fn exact_first_then_the_nearest_golden_above_the_threshold() {
        let golden = ["Where is my card?", "How do I reset my PIN"];
        let prod = ["where is my card", "reset pin please", "weather today"];
        // Unit rows: prod[1] is close to golden[1], prod[2] to nothing.
        let g = array![[1.0f32, 0.0], [0.0, 1.0]];
        let s = 0.95f32.sqrt();
        let p = array![[0.0f32, 1.0], [0.05f32.sqrt(), s], [0.6, -0.8]];
        let m = match_golden(&golden, &prod, Some((g.view(), p.view())), 0.9);
        assert_eq!(
            m[0],
            Some(Match {
                golden: 0,
                cos: 1.0,
                exact: true
            })
        );
        let m1 = m[1].unwrap();
        assert_eq!((m1.golden, m1.exact), (1, false));
        assert!((m1.cos - s).abs() < 1e-6);
        assert_eq!(m[2], None);
        // Without embeddings only the exact match is made.
        let m = match_golden(&golden, &prod, None, 0.9);
        assert_eq!(m.iter().filter(|x| x.is_some()).count(), 1);
    }

    #[test]
    fn golden_pairs_never_match_themselves() {
        let inputs = [
            "Where is my card?",
            "where is my card",
            "reset my pin",
            "weather",
        ];
        let e = array![[1.0f32, 0.0], [1.0, 0.0], [0.0, 1.0], [0.6, -0.8]];
        let m = match_within(&inputs, Some(e.view()), 0.9);
        assert_eq!(m[0].map(|x| (x.golden, x.exact)), Some((1, true)));
        assert_eq!(m[1].map(|x| (x.golden, x.exact)), Some((0, true)));
        // "reset my pin" has no other example within 0.9; nor has "weather".
        assert_eq!((m[2], m[3]), (None, None));
        assert!(match_within(&inputs[2..3], None, 0.9)[0].is_none());
    }

    #[test]
    fn fields_agree_exactly_or_within_the_tolerance() {
        assert_eq!(
            json_field(r#"{"result": {"label": "card"}}"#, "result.label"),
            Some(json!("card"))
        );
        assert_eq!(json_field(r#"{"xs": [1, 2]}"#, "xs.1"), Some(json!(2)));
        assert_eq!(json_field("not json", "label"), None);
        assert!(values_agree(&json!(0.5), &json!(0.52), 0.05));
        assert!(!values_agree(&json!(0.5), &json!(0.6), 0.05));
        assert!(values_agree(&json!("card "), &json!("card"), 0.0));
        assert!(!values_agree(&json!("card"), &json!("Card"), 0.0));
        assert!(!values_agree(&json!(1), &json!("1"), 0.0));
    }

    #[test]
    fn a_missing_field_disagrees_and_unparsable_or_unmatched_traces_do_not_count() {
        let m = |golden: usize, exact: bool| {
            Some(Match {
                golden,
                cos: 1.0,
                exact,
            })
        };
        let matches = [
            m(0, true),
            m(0, false),
            m(1, true),
            None,
            m(2, true),
            m(0, true),
        ];
        let expected = [
            r#"{"intent": "card_lost"}"#,
            r#"{"intent": "pin_reset"}"#,
            r#"{"other": 1}"#,
        ];
        let actual = [
            r#"{"intent": "card_lost"}"#,
            "Sorry, I cannot help.",
            r#"{"intent": "card_lost"}"#,
            r#"{"intent": "anything"}"#,
            r#"{"intent": "x"}"#,
            r#"{"answer": "no intent field"}"#,
        ];
        let a = field_agreement(&matches, &expected, &actual, "intent", 0.0);
        // golden 2 has no intent: that pair is not compared; trace 3 is
        // unmatched; trace 1 is not JSON: the format finding's, not compared.
        assert_eq!((a.compared, a.agreed, a.unparsed), (3, 1, 1));
        assert_eq!(a.rate(), Some(1.0 / 3.0));
        assert_eq!(
            a.disagreements,
            vec![
                (2, 1, json!("pin_reset"), Some(json!("card_lost"))),
                (5, 0, json!("card_lost"), None),
            ]
        );
    }
}
