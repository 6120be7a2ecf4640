//! Synthetic LLM application logs with known truth, built from real user queries
//! (a vendored CLINC150 subset, CC BY 3.0, see `data/clinc150/README.md`).
//!
//! The watched application is an intent-routing support assistant: it receives a
//! user question and answers with JSON `{"intent", "answer", "confidence"}`. The
//! generator controls every kind of drift driftwatch must find — truncated and
//! invalid-JSON outputs, typo/casing noise in inputs, a new topic — so tests and
//! benchmarks know the truth. Deterministic for a given seed.

use chrono::{DateTime, Duration, Utc};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::{json, Value};

const SUBSET: &str = include_str!("../../data/clinc150/subset.jsonl");

/// One real query of the vendored corpus.
#[derive(Debug, Clone, Deserialize)]
pub struct Query {
    pub domain: String,
    pub intent: String,
    pub text: String,
}

/// Every query of the vendored subset, in file order.
pub fn corpus() -> Vec<Query> {
    SUBSET
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("vendored corpus is valid JSONL"))
        .collect()
}

/// Domains the demo's golden set covers.
pub const GOLDEN_DOMAINS: &[&str] = &[
    "banking",
    "credit_cards",
    "travel",
    "auto_and_commute",
    "home",
    "utility",
];

/// A structural incident: from `start_frac` of the time span on, outputs break.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Incident {
    /// Where in the time span the incident starts (0 = beginning, 1 = end).
    pub start_frac: f64,
    /// Share of outputs cut to ~25% of their length during the incident.
    pub truncated_share: f64,
    /// Share of outputs that are not valid JSON during the incident.
    pub invalid_json_share: f64,
}

/// A model change: from `start_frac` of the time span on, a `share` of the
/// questions of `domain` are answered with intent `answered_as` (their
/// answer text otherwise unchanged), so the answers to questions the golden
/// set knows go wrong for one topic.
#[derive(Debug, Clone, Copy)]
pub struct AnswerChange {
    pub start_frac: f64,
    pub domain: &'static str,
    pub answered_as: &'static str,
    pub share: f64,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    pub seed: u64,
    /// Production traces to generate.
    pub n: usize,
    /// Time span of the production log, ending at `end`.
    pub days: i64,
    pub end: DateTime<Utc>,
    /// Domains normal traffic is drawn from.
    pub domains: Vec<String>,
    /// A domain the golden set lacks, and its share of traffic.
    pub new_topic: Option<(String, f64)>,
    /// Share of inputs with typos and casing noise.
    pub typo_share: f64,
    pub incident: Option<Incident>,
    pub answer_change: Option<AnswerChange>,
}

impl GenOptions {
    /// The demo's default scenario: 3 days, a new topic at 10%, an output incident
    /// in the last third.
    pub fn demo(seed: u64, n: usize) -> GenOptions {
        GenOptions {
            seed,
            n,
            days: 3,
            end: Utc::now(),
            domains: GOLDEN_DOMAINS.iter().map(|s| s.to_string()).collect(),
            new_topic: Some(("kitchen_and_dining".into(), 0.10)),
            typo_share: 0.0,
            incident: Some(Incident {
                start_frac: 0.66,
                truncated_share: 0.25,
                invalid_json_share: 0.15,
            }),
            answer_change: Some(AnswerChange {
                start_frac: 0.66,
                domain: "credit_cards",
                answered_as: "card_declined",
                share: 0.8,
            }),
        }
    }

    /// Clean traffic over the golden domains: no drift at all.
    pub fn clean(seed: u64, n: usize) -> GenOptions {
        GenOptions {
            new_topic: None,
            incident: None,
            answer_change: None,
            ..GenOptions::demo(seed, n)
        }
    }
}

fn intent_words(intent: &str) -> String {
    intent.replace('_', " ")
}

const OPENERS: &[&str] = &[
    "Sure, I can help with that.",
    "Thanks for reaching out.",
    "Happy to help.",
    "Good question.",
    "Here is what I found.",
];
const BODIES: &[&str] = &[
    "You can manage this from the app under Settings, or I can walk you through it step by step.",
    "Please confirm the last four digits of your account and I will take care of it right away.",
    "This usually takes one to two business days, and you will get a confirmation by email.",
    "I have looked this up for you; the details are below and you can ask me to change anything.",
    "Most customers resolve this in a couple of minutes by following the steps in the help center.",
    "I can do that now. Note that a small fee may apply depending on your plan.",
];

/// The assistant's JSON answer to a query.
pub fn answer_for(q: &Query, rng: &mut impl Rng) -> String {
    let answer = format!(
        "{} Regarding {}: {}",
        OPENERS.choose(rng).unwrap(),
        intent_words(&q.intent),
        BODIES.choose(rng).unwrap()
    );
    json!({"intent": q.intent, "answer": answer, "confidence": (rng.random_range(70..100) as f64) / 100.0})
        .to_string()
}

/// Adds typos (dropped, doubled, swapped letters) and casing noise to a query.
pub fn add_noise(text: &str, rng: &mut impl Rng) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let edits = 1 + chars.len() / 12;
    for _ in 0..edits {
        if chars.len() < 3 {
            break;
        }
        let i = rng.random_range(1..chars.len() - 1);
        match rng.random_range(0..3) {
            0 => {
                chars.remove(i);
            }
            1 => chars.insert(i, chars[i]),
            _ => chars.swap(i, i + 1),
        }
    }
    let s: String = chars.into_iter().collect();
    match rng.random_range(0..3) {
        0 => s.to_uppercase(),
        1 => s
            .split(' ')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => s,
    }
}

/// Split of the corpus: which queries may appear in golden, which in production.
/// Every 4th query of a domain is reserved for the golden set, so production text
/// is never a copy of a golden example.
fn split_corpus(corpus: &[Query]) -> (Vec<&Query>, Vec<&Query>) {
    let mut golden = Vec::new();
    let mut prod = Vec::new();
    for (i, q) in corpus.iter().enumerate() {
        if i % 4 == 0 {
            golden.push(q);
        } else {
            prod.push(q);
        }
    }
    (golden, prod)
}

/// Golden examples for `domains`: `per_domain` each, `{input, expected_output, tags}`.
pub fn golden_records(seed: u64, domains: &[&str], per_domain: usize) -> Vec<Value> {
    let corpus = corpus();
    let (golden, _) = split_corpus(&corpus);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9);
    let mut out = Vec::new();
    for d in domains {
        let mut pool: Vec<&&Query> = golden.iter().filter(|q| q.domain == *d).collect();
        // Spread over the domain's intents rather than the alphabetically first ones.
        pool.shuffle(&mut rng);
        for q in pool.iter().take(per_domain) {
            out.push(json!({
                "input": q.text,
                "expected_output": answer_for(q, &mut rng),
                "tags": [q.domain, q.intent],
            }));
        }
    }
    out
}

/// Production records `{id, ts, input, output, model, latency_ms, …}` in time order,
/// plus the truth of each: `(record, truth)`.
pub fn production_records(opts: &GenOptions) -> Vec<(Value, Truth)> {
    let corpus = corpus();
    let (_, prod) = split_corpus(&corpus);
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let by_domain =
        |d: &str| -> Vec<&Query> { prod.iter().copied().filter(|q| q.domain == d).collect() };
    let normal: Vec<&Query> = opts.domains.iter().flat_map(|d| by_domain(d)).collect();
    let novel: Vec<&Query> = opts
        .new_topic
        .as_ref()
        .map(|(d, _)| by_domain(d))
        .unwrap_or_default();
    let span_ms = opts.days * 86_400_000;
    let start = opts.end - Duration::milliseconds(span_ms);
    let mut out = Vec::with_capacity(opts.n);
    for i in 0..opts.n {
        let frac = (i as f64 + 0.5) / opts.n.max(1) as f64;
        let ts = start + Duration::milliseconds((frac * span_ms as f64) as i64);
        let mut truth = Truth::default();
        let q = match &opts.new_topic {
            Some((_, share)) if !novel.is_empty() && rng.random_bool(*share) => {
                truth.new_topic = true;
                novel.choose(&mut rng).unwrap()
            }
            _ => normal.choose(&mut rng).expect("at least one normal domain"),
        };
        let mut input = q.text.clone();
        if opts.typo_share > 0.0 && rng.random_bool(opts.typo_share) {
            input = add_noise(&input, &mut rng);
            truth.noisy_input = true;
        }
        let mut output = answer_for(q, &mut rng);
        if let Some(c) = opts.answer_change {
            if frac >= c.start_frac && q.domain == c.domain && rng.random_bool(c.share) {
                if let Ok(Value::Object(mut o)) = serde_json::from_str::<Value>(&output) {
                    o.insert("intent".into(), json!(c.answered_as));
                    output = Value::Object(o).to_string();
                    truth.wrong_answer = q.intent != c.answered_as;
                }
            }
        }
        if let Some(inc) = opts.incident {
            if frac >= inc.start_frac {
                let roll: f64 = rng.random();
                if roll < inc.truncated_share {
                    let keep = output.chars().count() / 4;
                    output = output.chars().take(keep).collect();
                    truth.truncated = true;
                } else if roll < inc.truncated_share + inc.invalid_json_share {
                    output = format!("Intent: {}. {}", q.intent, BODIES.choose(&mut rng).unwrap());
                    truth.invalid_json = true;
                }
            }
        }
        let prompt_tokens = 40 + input.split_whitespace().count() as i64 * 4 / 3;
        let completion_tokens = output.split_whitespace().count() as i64 * 4 / 3;
        let record = json!({
            "id": format!("req-{:08}-{}", i, opts.seed),
            "ts": ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "input": input,
            "output": output,
            "model": "gpt-4o-mini",
            "latency_ms": 300 + rng.random_range(0..900) + completion_tokens * 8,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "cost": ((prompt_tokens as f64) * 0.15 + (completion_tokens as f64) * 0.6) / 1e6,
            "feedback": if rng.random_bool(0.1) { json!(if truth.truncated || truth.invalid_json || truth.wrong_answer { 0 } else { 1 }) } else { Value::Null },
            "metadata": {"domain": q.domain, "intent": q.intent},
        });
        out.push((record, truth));
    }
    out
}

/// What the generator did to one trace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Truth {
    pub new_topic: bool,
    /// Answered with another intent by the model change.
    pub wrong_answer: bool,
    pub noisy_input: bool,
    pub truncated: bool,
    pub invalid_json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_is_vendored_and_complete() {
        let c = corpus();
        assert_eq!(c.len(), 3200);
        assert!(c.iter().any(|q| q.domain == "kitchen_and_dining"));
    }

    #[test]
    fn generator_is_deterministic_and_follows_the_scenario() {
        let mut o = GenOptions::demo(42, 3000);
        o.end = DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = production_records(&o);
        let b = production_records(&o);
        assert_eq!(
            a.iter().map(|r| &r.0).collect::<Vec<_>>(),
            b.iter().map(|r| &r.0).collect::<Vec<_>>()
        );
        let novel = a.iter().filter(|r| r.1.new_topic).count() as f64 / 3000.0;
        assert!((0.08..0.12).contains(&novel), "new topic share {novel}");
        // The incident only touches the last third.
        let first = &a[..1900];
        assert!(first.iter().all(|r| !r.1.truncated && !r.1.invalid_json));
        let last = &a[2000..];
        let bad = last.iter().filter(|r| r.1.invalid_json).count() as f64 / last.len() as f64;
        assert!((0.10..0.20).contains(&bad), "invalid share {bad}");
        for (r, t) in last {
            let parses = serde_json::from_str::<Value>(r["output"].as_str().unwrap()).is_ok();
            assert_eq!(parses, !(t.truncated || t.invalid_json));
        }
    }

    #[test]
    fn golden_never_copies_production_text() {
        let g = golden_records(1, GOLDEN_DOMAINS, 40);
        assert_eq!(g.len(), 240);
        let prod = production_records(&GenOptions::clean(1, 2000));
        let golden_inputs: std::collections::HashSet<&str> =
            g.iter().map(|r| r["input"].as_str().unwrap()).collect();
        assert!(prod
            .iter()
            .all(|(r, _)| !golden_inputs.contains(r["input"].as_str().unwrap())));
    }
}
