//! The ensemble's pure parts: the prompt, and the decision whether the models
//! agree (the curation method of asking N models and trusting an answer when
//! enough of them give it).

use serde::Serialize;

use super::Agreement;
use crate::answers::{json_field, normalize, values_agree};

/// A golden example shown to the models.
#[derive(Debug, Clone, Serialize)]
pub struct FewShot {
    pub input: String,
    pub expected_output: String,
}

/// The user message for `input`: `template` (minijinja) with `input`,
/// `examples` and `contract` (empty when the golden set has no format).
pub fn render_prompt(
    template: &str,
    input: &str,
    examples: &[FewShot],
    contract: &str,
) -> Result<String, String> {
    let env = minijinja::Environment::new();
    let t = env.template_from_str(template).map_err(|e| e.to_string())?;
    t.render(minijinja::context! {
        input => input,
        examples => examples,
        contract => contract,
    })
    .map_err(|e| e.to_string())
}

/// One model's answer, `None` when it gave none (error, timeout, or an answer
/// that breaks the golden set's format).
#[derive(Debug, Clone, PartialEq)]
pub struct Vote {
    pub model: String,
    pub answer: Option<String>,
}

/// What the ensemble concluded about one proposal.
#[derive(Debug, Clone, PartialEq)]
pub struct Consensus {
    /// At least `agree_share` of the models gave the same answer.
    pub agrees: bool,
    /// The answer of the largest agreeing group (its first model's wording).
    pub output: Option<String>,
    /// Size of that group over the number of models.
    pub share: f64,
    /// The models in it.
    pub models: Vec<String>,
}

fn same(a: &str, b: &str, rule: Agreement, fields: &[String]) -> bool {
    match rule {
        Agreement::Fields => fields
            .iter()
            .all(|f| match (json_field(a, f), json_field(b, f)) {
                (Some(x), Some(y)) => values_agree(&x, &y, 0.0),
                _ => false,
            }),
        Agreement::Text | Agreement::Cosine => normalize(a) == normalize(b),
    }
}

/// Groups the answers by `rule` (for [`Agreement::Cosine`], `cos(i, j)` is
/// the embedding cosine of votes `i` and `j`, compared with `min_cos`); each
/// answer joins the first group whose first answer it agrees with. The
/// largest group (earliest on ties) is the consensus when it holds at least
/// `agree_share` of all the votes — a model that failed counts against it.
pub fn consensus(
    votes: &[Vote],
    rule: Agreement,
    fields: &[String],
    min_cos: f64,
    agree_share: f64,
    cos: &dyn Fn(usize, usize) -> f64,
) -> Consensus {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, v) in votes.iter().enumerate() {
        let Some(a) = v.answer.as_deref() else {
            continue;
        };
        let home = groups.iter().position(|g| {
            let b = votes[g[0]].answer.as_deref().unwrap_or_default();
            match rule {
                Agreement::Cosine => same(a, b, rule, fields) || cos(g[0], i) >= min_cos,
                _ => same(a, b, rule, fields),
            }
        });
        match home {
            Some(g) => groups[g].push(i),
            None => groups.push(vec![i]),
        }
    }
    let best = groups
        .iter()
        .enumerate()
        .max_by_key(|(i, g)| (g.len(), std::cmp::Reverse(*i)))
        .map(|(_, g)| g.clone())
        .unwrap_or_default();
    let share = if votes.is_empty() {
        0.0
    } else {
        best.len() as f64 / votes.len() as f64
    };
    Consensus {
        agrees: !best.is_empty() && share + 1e-9 >= agree_share,
        output: best.first().and_then(|&i| votes[i].answer.clone()),
        share,
        models: best.iter().map(|&i| votes[i].model.clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn votes(answers: &[Option<&str>]) -> Vec<Vote> {
        answers
            .iter()
            .enumerate()
            .map(|(i, a)| Vote {
                model: format!("m{i}"),
                answer: a.map(str::to_string),
            })
            .collect()
    }

    const NO_COS: &dyn Fn(usize, usize) -> f64 = &|_, _| 0.0;

    #[test]
    fn two_of_three_agreeing_on_the_field_is_a_consensus() {
        let v = votes(&[
            Some(r#"{"intent": "refund", "answer": "Within 5 days."}"#),
            Some(r#"{"answer": "Refunds take five days.", "intent": "refund"}"#),
            Some(r#"{"intent": "billing", "answer": "Within 5 days."}"#),
        ]);
        let fields = vec!["intent".to_string()];
        let c = consensus(&v, Agreement::Fields, &fields, 0.9, 0.66, NO_COS);
        assert!(c.agrees);
        assert_eq!(c.models, ["m0", "m1"]);
        assert!((c.share - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(c.output.as_deref(), v[0].answer.as_deref());
        // Text agreement: all three differ.
        let c = consensus(&v, Agreement::Text, &[], 0.9, 0.66, NO_COS);
        assert!(!c.agrees);
        assert!((c.share - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn failed_models_count_against_agreement() {
        let v = votes(&[Some("Yes, within 5 days."), None, Some("yes within 5 days")]);
        let c = consensus(&v, Agreement::Text, &[], 0.9, 0.66, NO_COS);
        assert!(c.agrees, "2 of 3 after normalizing case and punctuation");
        let v = votes(&[Some("Yes."), None, None]);
        assert!(!consensus(&v, Agreement::Text, &[], 0.9, 0.66, NO_COS).agrees);
        let none = consensus(
            &votes(&[None, None]),
            Agreement::Text,
            &[],
            0.9,
            0.5,
            NO_COS,
        );
        assert_eq!((none.agrees, none.output, none.share), (false, None, 0.0));
    }

    #[test]
    fn cosine_agreement_uses_the_embeddings() {
        let v = votes(&[
            Some("It takes five days."),
            Some("About 5 days."),
            Some("No idea."),
        ]);
        let cos = |i: usize, j: usize| if i + j == 1 { 0.93 } else { 0.2 };
        let c = consensus(&v, Agreement::Cosine, &[], 0.9, 0.66, &cos);
        assert!(c.agrees);
        assert_eq!(c.models, ["m0", "m1"]);
    }

    #[test]
    fn the_prompt_holds_contract_examples_and_input() {
        let p = render_prompt(
            super::super::DEFAULT_PROMPT,
            "where is my card?",
            &[FewShot {
                input: "card not here".into(),
                expected_output: "{\"intent\": \"card_arrival\"}".into(),
            }],
            "a JSON object with the fields of the examples",
        )
        .unwrap();
        assert!(p.contains("Answer format: a JSON object"), "{p}");
        assert!(
            p.contains("Input: card not here\nAnswer: {\"intent\": \"card_arrival\"}"),
            "{p}"
        );
        assert!(p.ends_with("Input: where is my card?\nAnswer:"), "{p}");
        assert!(render_prompt("{% if %}", "x", &[], "").is_err());
    }
}
