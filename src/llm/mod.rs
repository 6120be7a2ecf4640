//! LLM endpoints: an OpenAI-compatible chat client with bounded cost (timeout,
//! retries with backoff), and the review ensemble built on it — N models
//! asked for the expected output of a proposal, trusted when enough of them
//! agree (`[review.ensemble]`). The client only speaks HTTP; what is asked,
//! stored and counted is decided by `jobs::prelabel`.
//!
//! Written here rather than taken from an SDK crate: the chat-completions
//! request and reply are five JSON fields, the SDK crates pull in their own
//! HTTP stacks, and the retry, timeout and usage accounting must follow the
//! project's rules (every attempt bounded, usage recorded per call).

mod config;
mod ensemble;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub use config::{check_calls, Agreement, EnsembleConfig, ModelConfig, DEFAULT_PROMPT};
pub use ensemble::{consensus, render_prompt, Consensus, FewShot, Vote};

/// One chat endpoint, its key read.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The name answers are recorded under.
    pub name: String,
    /// Base URL; `/chat/completions` is appended.
    pub url: String,
    pub model: String,
    pub api_key: Option<String>,
}

/// What one call returned.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatReply {
    pub content: String,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    /// Wall time of the successful attempt.
    pub latency_ms: i64,
    /// Attempts made (1 = no retry).
    pub attempts: u32,
}

/// Why a call gave no answer; the message is what the review page shows.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChatError {
    #[error("timed out after {0:?} ({1} attempts)")]
    Timeout(Duration, u32),
    #[error("HTTP {0}: {1}")]
    Status(u16, String),
    #[error("invalid response: {0}")]
    Invalid(String),
    #[error("request failed: {0}")]
    Transport(String),
}

impl ChatError {
    /// Worth another attempt: timeouts, transport errors, 429 and 5xx.
    fn transient(&self) -> bool {
        match self {
            ChatError::Timeout(..) | ChatError::Transport(_) => true,
            ChatError::Status(s, _) => *s == 429 || *s >= 500,
            ChatError::Invalid(_) => false,
        }
    }
}

/// The chat-completions client: each attempt bounded by `timeout`, transient
/// failures retried `retries` times with exponential backoff (`backoff`,
/// doubled each time).
#[derive(Debug, Clone)]
pub struct ChatClient {
    http: reqwest::Client,
    pub timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
    pub max_tokens: u32,
}

impl ChatClient {
    pub fn new(timeout: Duration, retries: u32, max_tokens: u32) -> ChatClient {
        ChatClient {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
            timeout,
            retries,
            backoff: Duration::from_millis(500),
            max_tokens,
        }
    }

    /// Asks `endpoint` to answer `prompt` (one user message after `system`),
    /// at temperature 0.
    pub async fn complete(
        &self,
        endpoint: &Endpoint,
        system: &str,
        prompt: &str,
    ) -> Result<ChatReply, ChatError> {
        let body = json!({
            "model": endpoint.model,
            "temperature": 0,
            "max_tokens": self.max_tokens,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": prompt},
            ],
        });
        let url = format!("{}/chat/completions", endpoint.url.trim_end_matches('/'));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let r = self.once(&url, endpoint, &body, attempt).await;
            match r {
                Ok(mut reply) => {
                    reply.latency_ms = started.elapsed().as_millis() as i64;
                    reply.attempts = attempt;
                    return Ok(reply);
                }
                Err(e) if e.transient() && attempt <= self.retries => {
                    tokio::time::sleep(self.backoff * 2u32.pow(attempt - 1)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn once(
        &self,
        url: &str,
        endpoint: &Endpoint,
        body: &Value,
        attempt: u32,
    ) -> Result<ChatReply, ChatError> {
        let mut req = self.http.post(url).json(body);
        if let Some(k) = &endpoint.api_key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.map_err(|e| self.transport(e, attempt))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| self.transport(e, attempt))?;
        if !status.is_success() {
            return Err(ChatError::Status(
                status.as_u16(),
                crate::text::truncate(text.trim(), 200),
            ));
        }
        parse_reply(&text)
    }

    fn transport(&self, e: reqwest::Error, attempt: u32) -> ChatError {
        if e.is_timeout() {
            ChatError::Timeout(self.timeout, attempt)
        } else {
            ChatError::Transport(e.to_string())
        }
    }
}

/// `choices[0].message.content` and `usage` of a chat-completions reply.
pub fn parse_reply(text: &str) -> Result<ChatReply, ChatError> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        ChatError::Invalid(format!(
            "not JSON ({e}): {}",
            crate::text::truncate(text.trim(), 80)
        ))
    })?;
    let content = v
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| ChatError::Invalid("no choices[0].message.content".into()))?;
    let usage = |k: &str| v.pointer(&format!("/usage/{k}")).and_then(Value::as_i64);
    Ok(ChatReply {
        content: content.trim().to_string(),
        prompt_tokens: usage("prompt_tokens"),
        completion_tokens: usage("completion_tokens"),
        latency_ms: 0,
        attempts: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_read_and_bad_ones_named() {
        let r = parse_reply(
            r#"{"choices":[{"message":{"role":"assistant","content":" {\"intent\": \"x\"} "}}],"usage":{"prompt_tokens":12,"completion_tokens":5}}"#,
        )
        .unwrap();
        assert_eq!(r.content, "{\"intent\": \"x\"}");
        assert_eq!((r.prompt_tokens, r.completion_tokens), (Some(12), Some(5)));
        assert!(
            matches!(parse_reply("<html>"), Err(ChatError::Invalid(m)) if m.starts_with("not JSON"))
        );
        assert!(matches!(
            parse_reply("{\"choices\":[]}"),
            Err(ChatError::Invalid(_))
        ));
        assert!(ChatError::Status(503, String::new()).transient());
        assert!(ChatError::Status(429, String::new()).transient());
        assert!(!ChatError::Status(401, String::new()).transient());
        assert!(!ChatError::Invalid(String::new()).transient());
    }
}
