//! The answers stage's optional LLM judge (`[jobs.answers.judge]`): an
//! OpenAI-compatible chat endpoint grades each production answer to a golden
//! question against the expected answer. Verdicts are cached by the hash of
//! (model, input, expected, actual), so a pair is judged once however many
//! runs see it, and at most `max_calls` uncached pairs are sent per run (this
//! window's first, then the previous window's). It shares `llm::ChatClient`
//! with the review ensemble.

use std::path::PathBuf;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::error::JobError;
use crate::answers::{parse_judgement, FieldAgreement};
use crate::config::{check_http_url, read_secret, ConfigDuration, ConfigError, SecretRef};
use crate::llm::{ChatClient, Endpoint};
use crate::store::{content_hash, GoldenExample, JudgeVerdict, Store, Trace};

/// The default grading prompt (minijinja: `input`, `expected`, `actual`).
pub const DEFAULT_JUDGE_PROMPT: &str = "You grade an application's answer against the expected answer to the same question.\n\
Question: {{ input }}\n\
Expected answer: {{ expected }}\n\
Actual answer: {{ actual }}\n\
Is the actual answer correct: does it give the same information and decision as the expected answer (wording may differ)? \
Reply with JSON only: {\"correct\": true or false, \"reason\": \"one short sentence\"}";

/// `[jobs.answers.judge]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JudgeConfig {
    /// Base URL of an OpenAI-compatible API (`/chat/completions` is appended).
    pub url: String,
    pub model: String,
    pub api_key_env: Option<String>,
    /// Relative to the config file.
    pub api_key_file: Option<PathBuf>,
    /// minijinja template (`DEFAULT_JUDGE_PROMPT` when absent).
    pub prompt: Option<String>,
    /// Uncached pairs judged per run, at most.
    pub max_calls: usize,
    pub concurrency: usize,
    /// Per attempt.
    pub timeout: ConfigDuration,
    pub retries: u32,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig {
            url: String::new(),
            model: String::new(),
            api_key_env: None,
            api_key_file: None,
            prompt: None,
            max_calls: 200,
            concurrency: 4,
            timeout: ConfigDuration::from_secs(30),
            retries: 2,
        }
    }
}

impl JudgeConfig {
    /// Config-time checks (no secret read).
    pub fn check(&self, at: &str) -> Vec<ConfigError> {
        let mut errs = Vec::new();
        if let Err(e) = check_http_url(&self.url) {
            errs.push(ConfigError::new(format!("{at}.url"), e));
        }
        if self.model.trim().is_empty() {
            errs.push(ConfigError::new(format!("{at}.model"), "must not be empty"));
        }
        let key = SecretRef::new(self.api_key_env.as_ref(), self.api_key_file.as_ref());
        if let Some(e) = key.validate(&format!("{at}.api_key")) {
            errs.push(e);
        }
        errs.extend(crate::llm::check_calls(
            at,
            self.concurrency,
            self.prompt.as_deref(),
        ));
        errs
    }

    /// A key file named relative to the config file, made absolute.
    pub fn resolve_paths(&mut self, base_dir: &std::path::Path) {
        if let Some(f) = &self.api_key_file {
            if f.is_relative() {
                self.api_key_file = Some(base_dir.join(f));
            }
        }
    }

    /// The endpoint, its key read now.
    fn endpoint(&self) -> Result<Endpoint, JobError> {
        let api_key = read_secret(self.api_key_env.as_deref(), self.api_key_file.as_deref())
            .map_err(|e| JobError::Internal(format!("answers.judge.api_key: {e}")))?;
        Ok(Endpoint {
            name: "judge".into(),
            url: self.url.clone(),
            model: self.model.clone(),
            api_key,
        })
    }
}

/// One matched pair to grade: production trace `i`, golden example `g`.
pub struct Pair {
    pub i: usize,
    pub g: usize,
}

fn key(model: &str, input: &str, expected: &str, actual: &str) -> String {
    content_hash(&format!(
        "{model}\u{1f}{input}\u{1f}{expected}\u{1f}{actual}"
    ))
}

/// Grades `pairs` of `traces` (cache first, then at most `*budget` calls,
/// which it spends) and returns the agreement: compared = pairs with a
/// verdict, agreed = judged correct; a disagreement carries the judge's reason.
pub async fn judge(
    store: &Store,
    cfg: &JudgeConfig,
    golden: &[GoldenExample],
    traces: &[Trace],
    pairs: &[Pair],
    budget: &mut usize,
) -> Result<(FieldAgreement, u64), JobError> {
    let keys: Vec<String> = pairs
        .iter()
        .map(|p| {
            key(
                &cfg.model,
                &traces[p.i].input,
                &golden[p.g].expected_output,
                &traces[p.i].output,
            )
        })
        .collect();
    let mut known = store.judge_verdicts(&keys).await?;
    let todo: Vec<usize> = (0..pairs.len())
        .filter(|&n| !known.contains_key(&keys[n]))
        .take(*budget)
        .collect();
    *budget -= todo.len();
    let mut calls = 0u64;
    if !todo.is_empty() {
        let endpoint = cfg.endpoint()?;
        let client = ChatClient::new(cfg.timeout.0, cfg.retries, 200);
        let template = cfg.prompt.as_deref().unwrap_or(DEFAULT_JUDGE_PROMPT);
        let env = minijinja::Environment::new();
        let t = env
            .template_from_str(template)
            .map_err(|e| JobError::Internal(format!("answers.judge.prompt: {e}")))?;
        let mut prompts = Vec::with_capacity(todo.len());
        for &n in &todo {
            let p = &pairs[n];
            prompts.push(
                t.render(minijinja::context! {
                    input => traces[p.i].input,
                    expected => golden[p.g].expected_output,
                    actual => traces[p.i].output,
                })
                .map_err(|e| JobError::Internal(format!("answers.judge.prompt: {e}")))?,
            );
        }
        let (client, endpoint) = (&client, &endpoint);
        let replies: Vec<(usize, Option<(bool, String)>)> =
            futures::stream::iter(todo.iter().copied().zip(prompts))
                .map(|(n, prompt)| async move {
                    let r = client
                        .complete(endpoint, "You are a strict grader. Reply with JSON only.", &prompt)
                        .await;
                    match r {
                        Ok(reply) => (n, parse_judgement(&reply.content)),
                        Err(e) => {
                            tracing::warn!(message = "Judge call failed; the pair is not graded.", error = %e);
                            (n, None)
                        }
                    }
                })
                .buffer_unordered(cfg.concurrency.max(1))
                .collect()
                .await;
        calls = replies.len() as u64;
        let fresh: Vec<JudgeVerdict> = replies
            .into_iter()
            .filter_map(|(n, v)| {
                v.map(|(correct, reason)| JudgeVerdict {
                    key: keys[n].clone(),
                    model: cfg.model.clone(),
                    correct,
                    reason,
                })
            })
            .collect();
        store.put_judge_verdicts(&fresh).await?;
        known.extend(fresh.into_iter().map(|v| (v.key.clone(), v)));
    }
    let mut out = FieldAgreement::default();
    for (p, k) in pairs.iter().zip(&keys) {
        let Some(v) = known.get(k) else { continue };
        out.compared += 1;
        if v.correct {
            out.agreed += 1;
        } else {
            out.disagreements.push((
                p.i,
                p.g,
                json!("correct"),
                Some(json!(format!("incorrect: {}", v.reason))),
            ));
        }
    }
    Ok((out, calls))
}
