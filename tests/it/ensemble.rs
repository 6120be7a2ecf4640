//! LLM-ensemble pre-labels against real HTTP servers on loopback that speak the
//! chat-completions API: two that agree (one wraps its JSON in a Markdown
//! fence), one that disagrees, one that times out, one that answers with a
//! page that is not JSON, one that answers in plain text where the golden set
//! is JSON, one whose JSON lacks a key golden's answers hold, and one that
//! fails once with 503 before answering.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use driftwatch::config::ConfigDuration;
use driftwatch::jobs::{prelabel, Prelabeler};
use driftwatch::llm::{Agreement, EnsembleConfig, ModelConfig};
use driftwatch::review::{self, ProposalFilter, RefusalKind, Selection};
use driftwatch::store::{GoldenChange, NewGoldenExample, Proposal, Store};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{queue_proposals, TestDb};

const SET: &str = "support";
const JOB: &str = "support-drift";

#[derive(Clone, Copy, Debug)]
enum Behaviour {
    Agree,
    AgreeFenced,
    Disagree,
    Slow,
    Garbage,
    PlainText,
    WrongShape,
    FlakyOnce,
}

/// The intent a sensible model gives the input at the end of the prompt.
fn intent_of(prompt: &str) -> &'static str {
    let input = prompt.rsplit("Input: ").next().unwrap_or("").to_lowercase();
    if input.contains("refund") || input.contains("money back") {
        "refund"
    } else if input.contains("invoice") {
        "billing"
    } else {
        "other"
    }
}

async fn chat(
    State((b, calls)): State<(Behaviour, Arc<AtomicUsize>)>,
    Json(req): Json<Value>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let n = calls.fetch_add(1, Ordering::SeqCst);
    let prompt = req["messages"][1]["content"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert_eq!(req["temperature"], 0);
    let intent = intent_of(&prompt);
    let reply = |content: String| {
        Json(json!({
            "choices": [{"message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt.len() / 4, "completion_tokens": 12},
        }))
        .into_response()
    };
    match b {
        Behaviour::Agree => {
            reply(json!({"intent": intent, "answer": "We will sort this out."}).to_string())
        }
        Behaviour::AgreeFenced => reply(format!(
            "```json\n{}\n```",
            json!({"answer": "Happy to help with that.", "intent": intent})
        )),
        Behaviour::Disagree => {
            reply(json!({"intent": "billing", "answer": "Check your invoice."}).to_string())
        }
        Behaviour::Slow => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            reply("{}".into())
        }
        Behaviour::Garbage => "<html>upstream error</html>".into_response(),
        Behaviour::PlainText => reply(format!("The intent is {intent}.")),
        // Valid JSON with the right intent, but `reply` where golden says `answer`.
        Behaviour::WrongShape => {
            reply(json!({"intent": intent, "reply": "We will sort this out."}).to_string())
        }
        Behaviour::FlakyOnce if n == 0 => {
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, "busy").into_response()
        }
        Behaviour::FlakyOnce => reply(json!({"intent": intent, "answer": "Sure."}).to_string()),
    }
}

/// A chat-completions server on loopback; returns its base URL and call count.
async fn server(b: Behaviour) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .with_state((b, calls.clone()));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (format!("http://{addr}/v1"), calls)
}

fn model(name: &str, url: &str) -> ModelConfig {
    ModelConfig {
        name: name.into(),
        url: url.into(),
        model: format!("{name}-model"),
        api_key_env: None,
        api_key_file: None,
    }
}

fn ensemble(models: Vec<ModelConfig>) -> EnsembleConfig {
    EnsembleConfig {
        models,
        agreement: Agreement::Fields,
        fields: vec!["intent".into()],
        timeout: ConfigDuration(Duration::from_millis(800)),
        retries: 1,
        ..EnsembleConfig::default()
    }
}

/// A JSON golden set (so answers must be JSON) and three refund proposals
/// plus one invoice proposal in gap 1.
async fn fixture(s: &Store) -> Vec<Proposal> {
    let add: Vec<NewGoldenExample> = (0..12)
        .map(|i| NewGoldenExample {
            input: format!("question number {i} about my account"),
            expected_output: json!({"intent": "account", "answer": format!("Answer {i}.")})
                .to_string(),
            tags: vec![],
            proposal_id: None,
        })
        .collect();
    s.apply_golden_change(
        SET,
        &GoldenChange {
            description: "import".into(),
            add,
            archive: vec![],
        },
    )
    .await
    .unwrap();
    let golden_id = s.golden_examples(SET, None).await.unwrap()[0].id;
    let run = s.start_run(JOB).await.unwrap();
    s.finish_run(run, &Default::default(), &[]).await.unwrap();
    let gap = Some((1, "refund"));
    let out = r#"{"intent": "other", "answer": "Please confirm your account number."}"#;
    queue_proposals(
        s,
        run,
        (JOB, SET),
        &[
            ("where is my refund", out, gap),
            ("refund not received yet", out, gap),
            ("money back for a broken kettle", out, gap),
            ("change the address on my invoice", out, gap),
        ],
        golden_id,
        false,
    )
    .await;
    s.list_proposals(&ProposalFilter::default()).await.unwrap()
}

async fn ensemble_prelabels(db: TestDb) {
    let s = db.store().await;
    let ps = fixture(&s).await;
    let (a, _) = server(Behaviour::Agree).await;
    let (b, _) = server(Behaviour::AgreeFenced).await;
    let (c, _) = server(Behaviour::Disagree).await;
    let pl = Prelabeler::build(
        &ensemble(vec![model("a", &a), model("b", &b), model("c", &c)]),
        std::path::Path::new("."),
    )
    .unwrap();
    let r = prelabel(&s, None, &pl, &ps).await.unwrap();
    assert_eq!((r.labelled, r.calls, r.failed_calls), (4, 12, 0), "{r:?}");
    assert!(
        r.prompt_tokens > 0 && r.completion_tokens == 12 * 12,
        "{r:?}"
    );
    // The three refunds: a and b agree on "refund" (2 of 3); the invoice
    // question: all three say "billing".
    assert_eq!((r.agreed, r.disagreed), (4, 0));
    let refund = s.get_proposal(ps[0].id).await.unwrap();
    assert_eq!(refund.ensemble_status.as_deref(), Some("agrees"));
    let agreed: Value = serde_json::from_str(refund.ensemble_output.as_deref().unwrap()).unwrap();
    assert_eq!(agreed["intent"], "refund");
    assert!((refund.ensemble_share.unwrap() - 2.0 / 3.0).abs() < 1e-9);
    let labels = s.labels_for(&[ps[0].id]).await.unwrap();
    assert_eq!(labels.len(), 3);
    let fenced = labels.iter().find(|l| l.model == "b").unwrap();
    assert!(
        fenced.output.as_deref().unwrap().starts_with('{'),
        "the Markdown fence is dropped: {fenced:?}"
    );
    assert!(labels
        .iter()
        .all(|l| l.error.is_none() && l.latency_ms.is_some()));
    // Labelled proposals are not asked again.
    let again = s.list_proposals(&ProposalFilter::default()).await.unwrap();
    assert_eq!(prelabel(&s, None, &pl, &again).await.unwrap().calls, 0);

    // Bulk accept of the agreed ones: each with its own agreed output.
    let o = review::accept_ensemble(
        &s,
        &Selection::Cluster {
            job: JOB.into(),
            cluster_id: 1,
            run_id: None,
        },
        "alice",
    )
    .await
    .unwrap();
    assert_eq!(o.decided.len(), 4);
    let invoice = s.get_proposal(ps[3].id).await.unwrap();
    let expected: Value =
        serde_json::from_str(invoice.expected_output.as_deref().unwrap()).unwrap();
    assert_eq!(expected["intent"], "billing");
    assert_eq!(o.versions.len(), 1, "one golden version for the batch");
}
both_backends!(ensemble_prelabels_sqlite, ensemble_prelabels_postgres => ensemble_prelabels);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_models_count_against_agreement_and_the_cap_holds() {
    let db = TestDb::sqlite().await;
    let s = db.store().await;
    let ps = fixture(&s).await;
    let (a, _) = server(Behaviour::Agree).await;
    let (slow, slow_calls) = server(Behaviour::Slow).await;
    let (garbage, _) = server(Behaviour::Garbage).await;
    let (text, _) = server(Behaviour::PlainText).await;
    let (flaky, flaky_calls) = server(Behaviour::FlakyOnce).await;

    // One good model among a timeout, a non-JSON page and a plain-text answer
    // to a JSON golden set: 1 of 4 agree, so no consensus; each failure is
    // recorded with its reason. The daily cap (8 calls, 4 models) stops after
    // two proposals.
    let mut cfg = ensemble(vec![
        model("good", &a),
        model("slow", &slow),
        model("garbage", &garbage),
        model("text", &text),
    ]);
    cfg.daily_cap = 8;
    let pl = Prelabeler::build(&cfg, std::path::Path::new(".")).unwrap();
    let started = std::time::Instant::now();
    let r = prelabel(&s, None, &pl, &ps).await.unwrap();
    assert_eq!((r.labelled, r.capped), (2, 2), "{r:?}");
    assert_eq!(
        (r.agreed, r.disagreed, r.calls, r.failed_calls),
        (0, 2, 8, 6)
    );
    // Timeouts are bounded: two attempts of 0.8 s each (plus a 0.5 s backoff),
    // the calls in flight at once.
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        slow_calls.load(Ordering::SeqCst),
        4,
        "retried once per proposal"
    );
    let labels = s.labels_for(&[ps[0].id]).await.unwrap();
    let err = |m: &str| {
        labels
            .iter()
            .find(|l| l.model == m)
            .and_then(|l| l.error.clone())
            .unwrap_or_default()
    };
    assert!(err("slow").starts_with("timed out"), "{labels:?}");
    assert!(
        err("garbage").starts_with("invalid response: not JSON"),
        "{labels:?}"
    );
    assert!(err("text").contains("not valid JSON"), "{labels:?}");
    assert_eq!(err("good"), "");
    let p = s.get_proposal(ps[0].id).await.unwrap();
    assert_eq!(p.ensemble_status.as_deref(), Some("disagrees"));
    // The cap is spent for today: nothing more is asked.
    let now = s.list_proposals(&ProposalFilter::default()).await.unwrap();
    let r = prelabel(&s, None, &pl, &now).await.unwrap();
    assert_eq!((r.calls, r.capped), (0, 2));

    // A 503 is retried; the answer then counts. A second model agrees. A
    // third gives the same intent in JSON of another shape than golden's: a
    // failed answer naming the key, which does not count as agreeing.
    let (shape, _) = server(Behaviour::WrongShape).await;
    let pl = Prelabeler::build(
        &ensemble(vec![
            model("flaky", &flaky),
            model("good", &a),
            model("shape", &shape),
        ]),
        std::path::Path::new("."),
    )
    .unwrap();
    let rest: Vec<Proposal> = ps[2..].to_vec();
    let r = prelabel(&s, None, &pl, &rest).await.unwrap();
    assert_eq!((r.labelled, r.agreed, r.failed_calls), (2, 2, 2), "{r:?}");
    let third = s.get_proposal(ps[2].id).await.unwrap();
    assert!((third.ensemble_share.unwrap() - 2.0 / 3.0).abs() < 1e-9);
    let labels = s.labels_for(&[ps[2].id]).await.unwrap();
    let shape_error = labels
        .iter()
        .find(|l| l.model == "shape")
        .and_then(|l| l.error.clone())
        .unwrap_or_default();
    assert_eq!(
        shape_error, "the answer is not of the golden outputs' shape: it has no key `answer`",
        "{labels:?}"
    );
    assert_eq!(
        flaky_calls.load(Ordering::SeqCst),
        3,
        "one 503, then two answers"
    );

    // Accepting the ensemble's output where it disagreed is refused, listed.
    let o = review::accept_ensemble(&s, &Selection::Ids(vec![ps[0].id, ps[2].id]), "bob")
        .await
        .unwrap();
    assert_eq!(o.decided.len(), 1);
    assert_eq!(o.refused.len(), 1);
    assert_eq!(o.refused[0].kind, RefusalKind::NoConsensus);
    assert_eq!(s.get_proposal(ps[0].id).await.unwrap().status, "pending");
}
