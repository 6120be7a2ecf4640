//! A stand-in for LLM endpoints, for the demo only: a chat-completions server
//! on loopback that answers in the demo application's JSON format. It is not a
//! model. Models `a` and `b` answer each question with the intent the demo's
//! generator knows to be right (its ground truth); model `c` naively copies
//! the intent of the first golden example in the prompt. So the ensemble
//! agrees (2 of 3) on the right intent, and the review page shows where `c`
//! disagreed. Real endpoints go in `[review.ensemble]` the same way.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// The last `Input: …` of the prompt, without the trailing `Answer:`.
fn asked(prompt: &str) -> &str {
    let last = prompt.rsplit("Input: ").next().unwrap_or("");
    last.split("\nAnswer:").next().unwrap_or(last).trim()
}

/// The intent of the first few-shot example (`"intent": "…"` after the first `Answer:`).
fn first_example_intent(prompt: &str) -> Option<String> {
    let after = prompt.split("Answer: ").nth(1)?;
    let line = after.lines().next()?;
    serde_json::from_str::<Value>(line).ok()?["intent"]
        .as_str()
        .map(str::to_string)
}

async fn chat(
    State(truth): State<Arc<HashMap<String, String>>>,
    Path(model): Path<String>,
    Json(req): Json<Value>,
) -> Json<Value> {
    let prompt = req["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or("");
    let q = asked(prompt);
    let naive = first_example_intent(prompt).unwrap_or_else(|| "other".into());
    let intent = match model.as_str() {
        "c" => naive,
        _ => truth.get(q).cloned().unwrap_or(naive),
    };
    let answer = json!({
        "intent": intent,
        "answer": format!("(stand-in answer for the demo) About {}: here is how it works.", intent.replace('_', " ")),
        "confidence": 0.9,
    });
    Json(json!({
        "choices": [{"message": {"role": "assistant", "content": answer.to_string()}}],
        "usage": {"prompt_tokens": prompt.len() / 4, "completion_tokens": 30},
    }))
}

/// Starts the stand-in on 127.0.0.1 (a free port); `truth` maps each question
/// to its right intent. Its models are at `http://ADDR/MODEL/v1` for `a`, `b`, `c`.
pub async fn spawn(truth: HashMap<String, String>) -> std::io::Result<SocketAddr> {
    let app = Router::new()
        .route("/{model}/v1/chat/completions", post(chat))
        .with_state(Arc::new(truth));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_question_and_the_first_example_are_read_from_the_prompt() {
        let p = "Correct examples:\n\nInput: where is my card\nAnswer: {\"intent\": \"card_arrival\"}\n\nInput: how long does pizza last\nAnswer:";
        assert_eq!(asked(p), "how long does pizza last");
        assert_eq!(first_example_intent(p).as_deref(), Some("card_arrival"));
    }
}
