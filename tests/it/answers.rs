//! Answers against the golden set (issue 18): production traces matched to
//! golden questions, their answers compared with the expected outputs, this
//! window against the previous one. Real CLINC150 questions (the vendored
//! subset in data/clinc150), a real store, the whole run.

use std::collections::BTreeMap;

use chrono::{Duration, TimeZone, Utc};
use driftwatch::answers::match_golden;
use driftwatch::embed::EmbedConfig;
use driftwatch::ingest::{FieldMap, IngestConfig};
use driftwatch::jobs::{run_job, JobConfig, RunOptions, DEFAULT_MATCH_COS};
use driftwatch::store::{Example, NewGoldenExample, Store, Verdict};
use serde_json::json;

use crate::common::TestDb;

fn end() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap()
}

/// (intent, text) of the vendored CLINC150 subset.
fn clinc() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/clinc150/subset.jsonl"
    ))
    .unwrap();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["intent"].as_str().unwrap().to_owned(),
                v["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Golden: 20 questions of each of three intents, answered `{"intent": …}`.
/// Production: the same questions asked again (other case and punctuation)
/// in the previous window and in this one; in this window the answers to
/// `broken` (if any) name another intent. With `reword`, production asks
/// `hey, … please` instead, which only the embedding match recognises.
async fn load(store: &Store, broken: Option<&str>, reword: bool) -> Vec<String> {
    let mut by_intent: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (intent, text) in clinc() {
        by_intent.entry(intent).or_default().push(text);
    }
    let intents: Vec<String> = by_intent.keys().take(3).cloned().collect();
    let mut golden = Vec::new();
    let mut records = Vec::new();
    for intent in &intents {
        for (i, q) in by_intent[intent].iter().take(20).enumerate() {
            let answer = json!({"intent": intent, "reply": "Here is what I found."}).to_string();
            golden.push(NewGoldenExample {
                input: q.clone(),
                expected_output: answer.clone(),
                tags: Vec::new(),
                proposal_id: None,
            });
            for (w, hours) in [("prev", 36), ("now", 12)] {
                let wrong = w == "now" && broken == Some(intent.as_str());
                let output = if wrong {
                    json!({"intent": "unknown", "reply": "Sorry?"}).to_string()
                } else {
                    answer.clone()
                };
                records.push(json!({
                    "id": format!("{w}-{intent}-{i}"),
                    "ts": (end() - Duration::hours(hours)).timestamp_millis() as f64 / 1000.0,
                    "input": if reword {
                        format!("hey, {q} please")
                    } else {
                        format!("{}?", q.to_uppercase())
                    },
                    "output": output,
                    // Users dislike the wrong answers.
                    "feedback": if wrong { 0 } else { 1 },
                }));
            }
        }
    }
    driftwatch::golden::import(store, "g", golden, "test")
        .await
        .unwrap();
    let map = FieldMap::new(&IngestConfig::default());
    let traces: Vec<_> = records
        .iter()
        .map(|r| map.to_trace(r, "app").unwrap())
        .collect();
    store.insert_traces(&traces).await.unwrap();
    intents
}

async fn answer_finding(
    store: &Store,
    embedder: Option<driftwatch::jobs::SharedEmbedder>,
) -> driftwatch::store::Finding {
    let mut j = JobConfig::adhoc("t", "g");
    j.window = "24h".parse().unwrap();
    j.semantic.enabled = false;
    j.answers.fields = vec!["intent".into()];
    let spec = j.check("t", std::path::Path::new(".")).unwrap();
    let out = run_job(store, &spec, &RunOptions::at(end(), embedder))
        .await
        .unwrap();
    out.findings
        .into_iter()
        .find(|f| f.metric == "answer.intent")
        .expect("an answer.intent finding")
}

#[tokio::test]
async fn a_changed_answer_field_is_found_with_examples_and_an_unchanged_one_is_quiet() {
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let intents = load(&store, None, false).await;
    let quiet = answer_finding(&store, None).await;
    assert_eq!(quiet.verdict, Verdict::Ok, "{quiet:?}");
    assert_eq!((quiet.ref_n, quiet.cur_n), (60, 60), "{quiet:?}");
    assert_eq!(quiet.change_text(), "100.0% → 100.0%");

    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let broken = intents[1].clone();
    load(&store, Some(&broken), false).await;
    let f = answer_finding(&store, None).await;
    assert_eq!(f.verdict, Verdict::Drifted, "{f:?}");
    assert_eq!(f.change_text(), "100.0% → 66.7%");
    assert!(f.p_adjusted.unwrap() < 0.05, "{f:?}");
    // Side by side: the question, what was expected, what came back.
    let ex = f.details.examples();
    assert_eq!(ex.len(), 3, "{:?}", f.details);
    for e in ex {
        let Example::Trace(t) = e else {
            panic!("{e:?}")
        };
        assert!(t
            .external_id
            .as_deref()
            .unwrap()
            .starts_with(&format!("now-{broken}")));
        assert!(
            e.text()
                .contains(&format!("expected intent \"{broken}\", got \"unknown\"")),
            "{}",
            e.text()
        );
        let out = t.output.as_deref().unwrap();
        assert!(
            out.starts_with("expected: {") && out.contains("| got: {"),
            "{out}"
        );
    }
    // The exact matches were made after normalizing case and punctuation.
    assert_eq!(f.details.extra("matched_exact"), &json!(60));
    // Feedback joined in: the disliked traces are the ones that disagree.
    assert_eq!(f.details.extra("negative_feedback_agreement"), &json!(0.0));
    assert_eq!(f.details.extra("negative_feedback_compared"), &json!(20));
    assert!(
        f.details
            .summary
            .as_deref()
            .unwrap()
            .ends_with("among traces with negative feedback: 0.0% of 20"),
        "{:?}",
        f.details.summary
    );
    assert!(quiet.details.extra("negative_feedback_agreement").is_null());
}

/// Reworded questions are matched through the embedding model (the job needs
/// no semantic stage for it), and the broken intent is found the same way.
#[tokio::test]
async fn reworded_questions_match_through_the_real_model() {
    let embedder = driftwatch::jobs::SharedEmbedder::build(
        &EmbedConfig::default(),
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
    )
    .expect("model files: run scripts/fetch-model.sh");
    let db = TestDb::postgres().await;
    let store = db.store().await;
    let mut by_intent: BTreeMap<String, usize> = BTreeMap::new();
    for (i, _) in clinc() {
        *by_intent.entry(i).or_default() += 1;
    }
    let broken = by_intent.keys().nth(2).unwrap().clone();
    load(&store, Some(&broken), true).await;
    let f = answer_finding(&store, Some(embedder)).await;
    assert_eq!(
        f.details.extra("matched_exact"),
        &json!(0),
        "{:?}",
        f.details
    );
    let matched = f.details.extra("matched").as_u64().unwrap();
    eprintln!(
        "reworded: {matched} of 60 matched through the model; {}",
        f.change_text()
    );
    assert!(matched >= 45, "{:?}", f.details);
    assert_eq!(f.verdict, Verdict::Drifted, "{f:?}");
    assert!(f.details.production_rate.unwrap() < 0.75, "{f:?}");
    // The golden set's own paraphrase pairs (questions of one intent the model
    // finds alike) give the agreement a consistent application reaches: all.
    eprintln!("golden baseline: {}", f.details.summary.as_deref().unwrap());
    assert!(
        f.details.extra("golden_baseline_pairs").as_u64().unwrap() >= 2,
        "{:?}",
        f.details
    );
    assert_eq!(f.details.extra("golden_baseline"), &json!(1.0));
}

/// The matching threshold on real text: held-out paraphrases of the same
/// CLINC150 intent match a golden question of that intent, questions of
/// other intents rarely match at all.
#[test]
fn the_matching_threshold_on_real_paraphrases() {
    let mut embedder = driftwatch::embed::build_embedder(
        &EmbedConfig::default(),
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
    )
    .expect("model files: run scripts/fetch-model.sh");
    let mut rows = |texts: &[&str]| {
        let v = embedder.embed(texts).unwrap();
        let dim = v[0].len();
        ndarray::Array2::from_shape_vec((v.len(), dim), v.concat()).unwrap()
    };
    let data = clinc();
    // Every other query of an intent is golden, the rest production.
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut golden, mut production) = (Vec::new(), Vec::new());
    for (intent, text) in &data {
        let n = seen.entry(intent.as_str()).or_default();
        if n.is_multiple_of(2) {
            golden.push((intent.as_str(), text.as_str()));
        } else {
            production.push((intent.as_str(), text.as_str()));
        }
        *n += 1;
    }
    let g_text: Vec<&str> = golden.iter().map(|x| x.1).collect();
    let p_text: Vec<&str> = production.iter().map(|x| x.1).collect();
    let g = rows(&g_text);
    let p = rows(&p_text);
    let m = match_golden(
        &g_text,
        &p_text,
        Some((g.view(), p.view())),
        DEFAULT_MATCH_COS as f32,
    );
    let matched: Vec<(usize, usize)> = m
        .iter()
        .enumerate()
        .filter_map(|(i, x)| x.map(|x| (i, x.golden)))
        .collect();
    let false_matches = matched
        .iter()
        .filter(|(i, g)| production[*i].0 != golden[*g].0)
        .count();
    let share = matched.len() as f64 / production.len() as f64;
    let false_rate = false_matches as f64 / matched.len() as f64;
    eprintln!(
        "CLINC150 subset at cos ≥ {DEFAULT_MATCH_COS}: {} of {} production queries matched ({:.1}%), {false_matches} to another intent ({:.2}%)",
        matched.len(),
        production.len(),
        share * 100.0,
        false_rate * 100.0
    );
    // True matches: a real share of paraphrases finds its question.
    assert!(share > 0.05, "{share}");
    // False matches: rare.
    assert!(false_rate < 0.03, "{false_rate}");
    // A looser threshold matches more and more wrongly: the default is not
    // a free choice.
    let loose = match_golden(&g_text, &p_text, Some((g.view(), p.view())), 0.6);
    let loose_false = loose
        .iter()
        .enumerate()
        .filter_map(|(i, x)| x.map(|x| (i, x.golden)))
        .filter(|(i, g)| production[*i].0 != golden[*g].0)
        .count();
    assert!(
        loose_false > 3 * false_matches.max(1),
        "{loose_false} vs {false_matches}"
    );
}

/// A grader on loopback speaking the chat-completions API: correct when the
/// actual answer names the expected intent. Counts its calls.
async fn judge_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::extract::State;
    use axum::routing::post;
    use axum::Json;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    async fn grade(
        State(calls): State<Arc<AtomicUsize>>,
        Json(req): Json<serde_json::Value>,
    ) -> Json<serde_json::Value> {
        calls.fetch_add(1, Ordering::SeqCst);
        let prompt = req["messages"][1]["content"].as_str().unwrap_or("");
        let line = |tag: &str| -> serde_json::Value {
            prompt
                .lines()
                .find_map(|l| l.strip_prefix(tag))
                .and_then(|j| serde_json::from_str(j).ok())
                .unwrap_or_default()
        };
        let (want, got) = (line("Expected answer: "), line("Actual answer: "));
        let correct = want["intent"] == got["intent"];
        let verdict = json!({"correct": correct, "reason": if correct { "same intent" } else { "names another intent" }});
        Json(json!({
            "choices": [{"message": {"role": "assistant", "content": verdict.to_string()}}],
            "usage": {"prompt_tokens": 80, "completion_tokens": 10},
        }))
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route("/v1/chat/completions", post(grade))
        .with_state(calls.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (format!("http://{addr}/v1"), calls)
}

/// Free-text answers (embedding cosine of the `reply` texts) and an LLM judge
/// on loopback both find the answers that changed; the judge's verdicts are
/// cached, so a second run over the same traces calls it no more; and
/// unchanged answers are quiet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_judge_and_free_text_agreement_find_changed_answers() {
    use std::sync::atomic::Ordering;
    let model = driftwatch::jobs::SharedEmbedder::build(
        &EmbedConfig::default(),
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
    )
    .expect("model files: run scripts/fetch-model.sh");
    let (url, calls) = judge_server().await;
    let run = |store: Store| {
        let (url, model) = (url.clone(), model.clone());
        async move {
            let mut j = JobConfig::adhoc("t", "g");
            j.window = "24h".parse().unwrap();
            j.semantic.enabled = false;
            j.answers.text_min_cos = Some(0.8);
            j.answers.text_field = Some("reply".into());
            j.answers.judge = Some(driftwatch::jobs::JudgeConfig {
                url,
                model: "grader".into(),
                ..Default::default()
            });
            let spec = j.check("t", std::path::Path::new(".")).unwrap();
            run_job(&store, &spec, &RunOptions::at(end(), Some(model)))
                .await
                .unwrap()
                .findings
        }
    };
    let pick = |fs: &[driftwatch::store::Finding], m: &str| {
        fs.iter().find(|f| f.metric == m).cloned().unwrap()
    };

    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let intents = load(&store, None, false).await;
    let quiet = run(store.clone()).await;
    for m in ["answer.text", "answer.judge"] {
        let f = pick(&quiet, m);
        assert_eq!(f.verdict, Verdict::Ok, "{f:?}");
        assert_eq!(f.change_text(), "100.0% → 100.0%", "{m}");
    }
    // The same question, expected and actual answer in both windows is one
    // verdict: 60 calls for 120 matched traces.
    assert_eq!(
        calls.load(Ordering::SeqCst),
        60,
        "each distinct triple judged once"
    );

    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let broken = intents[2].clone();
    load(&store, Some(&broken), false).await;
    calls.store(0, Ordering::SeqCst);
    let fs = run(store.clone()).await;
    let text = pick(&fs, "answer.text");
    assert_eq!(text.verdict, Verdict::Drifted, "{text:?}");
    assert_eq!(text.change_text(), "100.0% → 66.7%");
    assert!(text.details.extra("mean_token_f1").as_f64().unwrap() < 1.0);
    let judged = pick(&fs, "answer.judge");
    assert_eq!(judged.verdict, Verdict::Drifted, "{judged:?}");
    assert_eq!(judged.change_text(), "100.0% → 66.7%");
    let ex = judged.details.examples();
    assert!(!ex.is_empty());
    assert!(
        ex[0].text().contains("incorrect: names another intent"),
        "{}",
        ex[0].text()
    );
    // This window's 60 triples, then the previous window's 20 that differ
    // (the broken intent's right answers): 80 calls.
    assert_eq!(judged.details.extra("judge_calls"), &json!(80));
    // A second run over the same traces: every verdict is cached.
    let again = run(store.clone()).await;
    assert_eq!(
        pick(&again, "answer.judge").details.extra("judge_calls"),
        &json!(0)
    );
    assert_eq!(pick(&again, "answer.judge").verdict, Verdict::Drifted);
    assert_eq!(calls.load(Ordering::SeqCst), 80);
}
