//! `[review.ensemble]`: the models asked for a proposal's expected output, how
//! their answers must agree, and the bounds on cost.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ChatClient, Endpoint};
use crate::config::{check_http_url, resolve_secret, ConfigDuration, ConfigError, SecretRef};

/// When two answers count as the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Agreement {
    /// Equal values of the configured JSON `fields` (all of them).
    Fields,
    /// Equal text after normalizing case, spacing and punctuation.
    #[default]
    Text,
    /// Embedding cosine of the two answers ≥ `min_cos`.
    Cosine,
}

/// One chat endpoint: `{ name = "a", url = "https://…/v1", model = "…", api_key_env = "…" }`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub name: String,
    /// Base URL of an OpenAI-compatible API (`/chat/completions` is appended).
    pub url: String,
    pub model: String,
    pub api_key_env: Option<String>,
    pub api_key_file: Option<PathBuf>,
}

/// The default prompt (a minijinja template): the job's output contract, the
/// nearest golden examples as few-shot, then the proposal's input.
pub const DEFAULT_PROMPT: &str = "You write the correct answer an application should give, for a curated dataset of correct answers.\n\
{% if contract %}Answer format: {{ contract }}\n{% endif %}\
Correct examples:\n\
{% for e in examples %}\nInput: {{ e.input }}\nAnswer: {{ e.expected_output }}\n{% endfor %}\n\
Give only the correct answer to this input, in the same format as the examples, with nothing before or after it.\n\
Input: {{ input }}\nAnswer:";

/// `[review.ensemble]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EnsembleConfig {
    pub models: Vec<ModelConfig>,
    /// How answers are compared.
    pub agreement: Agreement,
    /// JSON fields compared by `agreement = "fields"` (dotted paths).
    pub fields: Vec<String>,
    /// Cosine for `agreement = "cosine"`.
    pub min_cos: f64,
    /// Share of the models (of all configured ones: a model that failed does
    /// not agree) that must give the same answer for it to be trusted.
    pub agree_share: f64,
    /// Golden examples shown as few-shot (the nearest ones).
    pub few_shot: usize,
    /// minijinja template of the user message (`DEFAULT_PROMPT` when absent);
    /// it sees `input`, `examples` (each `input`, `expected_output`) and `contract`.
    pub prompt: Option<String>,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Per attempt.
    pub timeout: ConfigDuration,
    /// Extra attempts after a timeout, a transport error, 429 or 5xx.
    pub retries: u32,
    /// Calls per UTC day over all models; proposals past it wait for the next day.
    pub daily_cap: u64,
    pub max_tokens: u32,
}

impl Default for EnsembleConfig {
    fn default() -> Self {
        EnsembleConfig {
            models: Vec::new(),
            agreement: Agreement::default(),
            fields: Vec::new(),
            min_cos: 0.9,
            agree_share: 0.66,
            few_shot: 3,
            prompt: None,
            concurrency: 4,
            timeout: ConfigDuration::from_secs(30),
            retries: 2,
            daily_cap: 1000,
            max_tokens: 512,
        }
    }
}

impl EnsembleConfig {
    /// Config-time checks (no secret read).
    pub fn check(&self, at: &str) -> Result<(), Vec<ConfigError>> {
        let mut errs = Vec::new();
        if self.models.is_empty() {
            errs.push(ConfigError::new(
                format!("{at}.models"),
                "list at least one model (an ensemble usually has three)",
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, m) in self.models.iter().enumerate() {
            let key = format!("{at}.models[{i}]");
            if m.name.trim().is_empty() || !names.insert(m.name.trim()) {
                errs.push(ConfigError::new(
                    format!("{key}.name"),
                    "must be non-empty and unique",
                ));
            }
            if let Err(e) = check_http_url(&m.url) {
                errs.push(ConfigError::new(format!("{key}.url"), e));
            }
            if m.model.trim().is_empty() {
                errs.push(ConfigError::new(
                    format!("{key}.model"),
                    "must not be empty",
                ));
            }
            if let Some(e) = m.key_ref().validate(&format!("{key}.api_key")) {
                errs.push(e);
            }
        }
        if self.agreement == Agreement::Fields && self.fields.is_empty() {
            errs.push(ConfigError::new(
                format!("{at}.fields"),
                "agreement = \"fields\" needs the JSON fields to compare",
            ));
        }
        if !(self.agree_share > 0.0 && self.agree_share <= 1.0) {
            errs.push(ConfigError::new(
                format!("{at}.agree_share"),
                format!("must be in (0, 1], got {}", self.agree_share),
            ));
        }
        if !(self.min_cos > 0.0 && self.min_cos <= 1.0) {
            errs.push(ConfigError::new(
                format!("{at}.min_cos"),
                format!("must be in (0, 1], got {}", self.min_cos),
            ));
        }
        errs.extend(check_calls(at, self.concurrency, self.prompt.as_deref()));
        crate::config::checked(errs)
    }

    /// The endpoints with their keys read (relative key files against `base_dir`).
    pub fn endpoints(&self, base_dir: &Path) -> Result<Vec<Endpoint>, Vec<ConfigError>> {
        let mut out = Vec::new();
        let mut errs = Vec::new();
        for (i, m) in self.models.iter().enumerate() {
            match resolve_secret(
                &format!("review.ensemble.models[{i}].api_key"),
                &m.key_ref(),
                base_dir,
            ) {
                Ok(api_key) => out.push(Endpoint {
                    name: m.name.trim().to_string(),
                    url: m.url.clone(),
                    model: m.model.clone(),
                    api_key,
                }),
                Err(e) => errs.push(e),
            }
        }
        if errs.is_empty() {
            Ok(out)
        } else {
            Err(errs)
        }
    }

    /// The client every call goes through.
    pub fn client(&self) -> ChatClient {
        ChatClient::new(self.timeout.0, self.retries, self.max_tokens)
    }

    /// The prompt template's source.
    pub fn prompt_template(&self) -> &str {
        self.prompt.as_deref().unwrap_or(DEFAULT_PROMPT)
    }
}

/// The checks every LLM caller's settings share: calls in flight, and the
/// prompt (a minijinja template) under `{at}.prompt`.
pub fn check_calls(at: &str, concurrency: usize, prompt: Option<&str>) -> Vec<ConfigError> {
    let mut errs = Vec::new();
    if concurrency == 0 {
        errs.push(ConfigError::new(
            format!("{at}.concurrency"),
            "must be at least 1",
        ));
    }
    if let Some(p) = prompt {
        if let Err(e) = minijinja::Environment::new().template_from_str(p) {
            errs.push(ConfigError::new(
                format!("{at}.prompt"),
                format!("not a valid template: {e}"),
            ));
        }
    }
    errs
}

impl ModelConfig {
    fn key_ref(&self) -> SecretRef {
        SecretRef::new(self.api_key_env.as_ref(), self.api_key_file.as_ref())
    }
}
