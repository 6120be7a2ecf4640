//! Turns logged LLM calls (JSONL, CSV, JSON bodies) into traces and stores them.
//!
//! Owns the field mapping (dotted paths into nested logs), per-record validation
//! and the ingest report. Bad input never stops a batch: each rejected record is
//! reported with its 1-based line number and reason, every valid one is stored.
//! Storage is idempotent (source + external id), so re-ingesting adds nothing.
//! It issues no SQL itself: it calls [`Store::insert_traces`].

mod mapping;
pub mod otlp;
mod reader;

pub use mapping::{content_id, lookup_path, max_record_bytes, parse_ts, FieldMap};
pub(crate) use reader::{csv_can_go_on, CappedCsv};
pub use reader::{for_each_batch, ingest_reader, parse_records, IngestOptions, InputFormat};

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// `[ingest]`: how logs map to traces. Every field is a dotted path into a JSON
/// record (`request.messages.-1.content`: negative indices count from the end).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Source name stored with CLI-ingested traces (HTTP ingest uses `http`).
    pub source: String,
    /// Path of the prompt / user input (required in every record).
    pub input_field: String,
    /// Path of the model's output (missing = empty output).
    pub output_field: String,
    /// Path of the application's own id (missing = hash of content and timestamp).
    pub id_field: String,
    /// Path of the timestamp: RFC 3339 string or epoch seconds / milliseconds (missing = now).
    pub ts_field: String,
    /// Path of the model name.
    pub model_field: String,
    /// Path of the latency in milliseconds.
    pub latency_field: String,
    /// Path of the prompt token count.
    pub prompt_tokens_field: String,
    /// Path of the completion token count.
    pub completion_tokens_field: String,
    /// Path of the cost of the call.
    pub cost_field: String,
    /// Path of the error flag (boolean, or a non-empty error string = true).
    pub error_field: String,
    /// Path of the user feedback score (1 = thumbs up, 0 or -1 = thumbs down, or true/false).
    pub feedback_field: String,
    /// Path of free-form metadata kept as JSON.
    pub metadata_field: String,
    /// Largest accepted input or output, in bytes; larger records are rejected.
    pub max_text_bytes: usize,
    /// Records per insert transaction.
    pub batch_size: usize,
    /// OTLP trace ingest (`POST /v1/otlp/traces`): attribute names beyond the
    /// built-in GenAI, OpenLLMetry and OpenInference conventions.
    pub otlp: otlp::OtlpConfig,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            source: "cli".into(),
            input_field: "input".into(),
            output_field: "output".into(),
            id_field: "id".into(),
            ts_field: "ts".into(),
            model_field: "model".into(),
            latency_field: "latency_ms".into(),
            prompt_tokens_field: "prompt_tokens".into(),
            completion_tokens_field: "completion_tokens".into(),
            cost_field: "cost".into(),
            error_field: "error".into(),
            feedback_field: "feedback".into(),
            metadata_field: "metadata".into(),
            max_text_bytes: 1 << 20,
            batch_size: 2000,
            otlp: otlp::OtlpConfig::default(),
        }
    }
}

impl IngestConfig {
    pub fn check(&self, at: &str) -> Result<(), Vec<ConfigError>> {
        let mut errs = Vec::new();
        if self.batch_size < 1 {
            errs.push(ConfigError::new(
                format!("{at}.batch_size"),
                format!("must be at least 1, got {}", self.batch_size),
            ));
        }
        if self.max_text_bytes < 1 {
            errs.push(ConfigError::new(
                format!("{at}.max_text_bytes"),
                format!("must be at least 1, got {}", self.max_text_bytes),
            ));
        }
        if self.input_field.trim().is_empty() {
            errs.push(ConfigError::new(
                format!("{at}.input_field"),
                "must not be empty",
            ));
        }
        crate::config::checked(errs)
    }
}

/// Calls `f` with the 1-based line number and the JSON object (or the reason it is
/// not one: invalid UTF-8, malformed JSON, not an object) of every non-blank line
/// of a JSONL stream. A read error ends the stream and is returned with the line
/// it happened on; a line longer than `max_line` bytes is rejected with its
/// line, read past without being held. For small files read record by record
/// (golden sets, review decisions); trace ingest has its own batching reader.
pub fn for_each_json_object(
    mut input: impl std::io::BufRead,
    max_line: usize,
    mut f: impl FnMut(u64, Result<serde_json::Map<String, serde_json::Value>, String>),
) -> Option<(u64, String)> {
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        match reader::read_line_capped(&mut input, &mut buf, max_line) {
            Ok((0, _)) => return None,
            Ok((_, false)) => {}
            Ok((_, true)) => {
                line += 1;
                f(line, Err(format!("line is longer than {max_line} bytes")));
                continue;
            }
            Err(e) => return Some((line + 1, format!("read error: {e}"))),
        }
        line += 1;
        let t = buf.trim_ascii();
        if t.is_empty() {
            continue;
        }
        let rec = match std::str::from_utf8(t) {
            Err(e) => Err(format!("invalid UTF-8 at byte {}", e.valid_up_to())),
            Ok(s) => match serde_json::from_str::<serde_json::Value>(s) {
                Ok(serde_json::Value::Object(o)) => Ok(o),
                Ok(_) => Err("record is not a JSON object".to_string()),
                Err(e) => Err(format!("malformed JSON: {e}")),
            },
        };
        f(line, rec);
    }
}

/// One rejected record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineError {
    /// 1-based line (JSONL, CSV) or item index (HTTP arrays).
    pub line: u64,
    pub reason: String,
}

/// What an ingest did. `errors` lists at most [`MAX_REPORTED_ERRORS`] rejections;
/// `rejected` counts them all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReport {
    pub read: u64,
    pub stored: u64,
    pub duplicates: u64,
    /// Of the duplicates, those whose input or output differ from the trace
    /// already stored under their id (which was kept).
    #[serde(default)]
    pub conflicting: u64,
    pub rejected: u64,
    pub errors: Vec<LineError>,
}

/// Rejections listed individually in a report; beyond this only the count grows.
pub const MAX_REPORTED_ERRORS: usize = 1000;

impl IngestReport {
    pub fn reject(&mut self, line: u64, reason: impl Into<String>) {
        self.rejected += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(LineError {
                line,
                reason: reason.into(),
            });
        }
    }

    /// The one-line human summary.
    pub fn summary_line(&self) -> String {
        let conflicting = if self.conflicting > 0 {
            format!(
                " ({} with different content: the trace already stored under that id was kept)",
                self.conflicting
            )
        } else {
            String::new()
        };
        format!(
            "read {} / stored {} / duplicates {}{conflicting} / rejected {}",
            self.read, self.stored, self.duplicates, self.rejected
        )
    }

    /// Adds what one batch insert did.
    pub fn add(&mut self, s: &crate::store::InsertStats) {
        self.stored += s.stored;
        self.duplicates += s.duplicates;
        self.conflicting += s.conflicting;
    }
}
