//! OTLP/HTTP trace ingest: an OpenTelemetry exporter's
//! `ExportTraceServiceRequest` (protobuf or JSON, gzip or not; the official
//! protobuf definitions from `opentelemetry-proto`) becomes one record per span
//! that carries LLM input and output, in the shape the record mapping reads
//! ([`super::FieldMap`]), so OTLP shares every ingest path's validation and caps.
//!
//! Conventions read, first match wins (configured attribute names are tried
//! before all of them):
//!
//! | field | GenAI semantic conventions | OpenLLMetry | OpenInference |
//! |---|---|---|---|
//! | input | `gen_ai.input.messages` (last user message); event `gen_ai.user.message` | `gen_ai.prompt.N.content` (last user prompt) | `input.value` |
//! | output | `gen_ai.output.messages` (first message); event `gen_ai.choice` | `gen_ai.completion.0.content` | `output.value` |
//! | model | `gen_ai.response.model`, `gen_ai.request.model` | same | `llm.model_name` |
//! | tokens | `gen_ai.usage.input_tokens` / `output_tokens` | `gen_ai.usage.prompt_tokens` / `completion_tokens` | `llm.token_count.prompt` / `completion` |
//!
//! Latency is the span's duration, an error the span's status, and the external
//! id `TRACEID-SPANID` (hex), so an exporter's retry is a duplicate, not a new
//! trace. Spans without an LLM input are skipped and counted.

use std::io::Read;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{status, Span};
use prost::Message;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// How an OTLP body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// From a `Content-Type` header (`None`: neither OTLP encoding).
    pub fn from_content_type(ct: &str) -> Option<Encoding> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
            "application/json" => Some(Encoding::Json),
            _ => None,
        }
    }

    /// The `Content-Type` of a response in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// `[ingest.otlp]`: attribute names for conventions the built-in table misses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// Span attributes holding the input text, tried first, in order.
    pub input_attributes: Vec<String>,
    /// Span attributes holding the output text, tried first, in order.
    pub output_attributes: Vec<String>,
}

/// Decodes a request body: gunzipped when `gzip` (at most `max_bytes`
/// decompressed, so a small bomb cannot fill memory), then protobuf or JSON.
pub fn decode(
    body: &[u8],
    encoding: Encoding,
    gzip: bool,
    max_bytes: usize,
) -> Result<ExportTraceServiceRequest, String> {
    let mut plain = Vec::new();
    let bytes: &[u8] = if gzip {
        flate2::read::GzDecoder::new(body)
            .take(max_bytes as u64 + 1)
            .read_to_end(&mut plain)
            .map_err(|e| format!("body is not valid gzip: {e}"))?;
        if plain.len() > max_bytes {
            return Err(format!(
                "decompressed body is larger than {max_bytes} bytes"
            ));
        }
        &plain
    } else {
        body
    };
    match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(bytes)
            .map_err(|e| format!("not an OTLP ExportTraceServiceRequest: {e}")),
        Encoding::Json => serde_json::from_slice(bytes)
            .map_err(|e| format!("not an OTLP/JSON ExportTraceServiceRequest: {e}")),
    }
}

/// The response an exporter expects, in its own encoding: `partial_success`
/// carries the rejected spans and why.
pub fn response(encoding: Encoding, rejected: i64, message: &str) -> Vec<u8> {
    let resp = ExportTraceServiceResponse {
        partial_success: (rejected > 0 || !message.is_empty()).then(|| ExportTracePartialSuccess {
            rejected_spans: rejected,
            error_message: message.to_string(),
        }),
    };
    match encoding {
        Encoding::Protobuf => resp.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&resp).unwrap_or_else(|_| b"{}".to_vec()),
    }
}

/// Spans of a request turned into records.
#[derive(Debug, Default)]
pub struct SpanRecords {
    /// One record per LLM span, for [`super::FieldMap::to_trace`].
    pub records: Vec<Value>,
    /// Spans without an LLM input (HTTP handlers, database calls …).
    pub skipped: u64,
}

/// Every LLM span of `req` as a record `{id, ts, input, output, model,
/// latency_ms, prompt_tokens, completion_tokens, error, metadata}`, in the
/// default field names (`IngestConfig::default()`).
pub fn span_records(req: &ExportTraceServiceRequest, cfg: &OtlpConfig) -> SpanRecords {
    let mut out = SpanRecords::default();
    for rs in &req.resource_spans {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| find(&r.attributes, "service.name"))
            .and_then(text);
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                match span_record(span, cfg, service.as_deref()) {
                    Some(r) => out.records.push(r),
                    None => out.skipped += 1,
                }
            }
        }
    }
    out
}

fn span_record(span: &Span, cfg: &OtlpConfig, service: Option<&str>) -> Option<Value> {
    let attrs = &span.attributes;
    let input = cfg
        .input_attributes
        .iter()
        .find_map(|k| find(attrs, k).and_then(text))
        .or_else(|| find(attrs, "input.value").and_then(text))
        .or_else(|| numbered(attrs, "gen_ai.prompt", true))
        .or_else(|| {
            find(attrs, "gen_ai.input.messages")
                .and_then(text)
                .and_then(|m| message_text(&m, true))
        })
        .or_else(|| event_text(span, &["gen_ai.user.message"], true))?;
    let output = cfg
        .output_attributes
        .iter()
        .find_map(|k| find(attrs, k).and_then(text))
        .or_else(|| find(attrs, "output.value").and_then(text))
        .or_else(|| numbered(attrs, "gen_ai.completion", false))
        .or_else(|| {
            find(attrs, "gen_ai.output.messages")
                .and_then(text)
                .and_then(|m| message_text(&m, false))
        })
        .or_else(|| event_text(span, &["gen_ai.choice", "gen_ai.assistant.message"], false))
        .unwrap_or_default();
    let first = |keys: &[&str]| keys.iter().find_map(|k| find(attrs, k));
    let model = first(&[
        "gen_ai.response.model",
        "gen_ai.request.model",
        "llm.model_name",
    ])
    .and_then(text);
    let int = |v: &AnyValue| match &v.value {
        Some(any_value::Value::IntValue(i)) => Some(*i),
        Some(any_value::Value::DoubleValue(d)) => Some(*d as i64),
        Some(any_value::Value::StringValue(s)) => s.parse().ok(),
        _ => None,
    };
    let prompt_tokens = first(&[
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "llm.token_count.prompt",
    ])
    .and_then(int);
    let completion_tokens = first(&[
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
    ])
    .and_then(int);
    let is_error = span
        .status
        .as_ref()
        .is_some_and(|s| s.code == status::StatusCode::Error as i32);
    let latency_ms = span
        .end_time_unix_nano
        .checked_sub(span.start_time_unix_nano)
        .map(|d| d as f64 / 1e6);
    let mut metadata = Map::new();
    metadata.insert("otel.span_name".into(), json!(span.name));
    if let Some(s) = service {
        metadata.insert("service.name".into(), json!(s));
    }
    let mut r = Map::new();
    r.insert(
        "id".into(),
        json!(format!(
            "{}-{}",
            hex::encode(&span.trace_id),
            hex::encode(&span.span_id)
        )),
    );
    if span.start_time_unix_nano > 0 {
        r.insert("ts".into(), json!(span.start_time_unix_nano as f64 / 1e9));
    }
    r.insert("input".into(), json!(input));
    r.insert("output".into(), json!(output));
    let mut opt = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            r.insert(k.into(), v);
        }
    };
    opt("model", model.map(Value::from));
    opt("latency_ms", latency_ms.map(Value::from));
    opt("prompt_tokens", prompt_tokens.map(Value::from));
    opt("completion_tokens", completion_tokens.map(Value::from));
    r.insert("error".into(), json!(is_error));
    r.insert("metadata".into(), Value::Object(metadata));
    Some(Value::Object(r))
}

fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

/// A string attribute (other scalars as their text).
fn text(v: &AnyValue) -> Option<String> {
    match v.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}

/// OpenLLMetry's `PREFIX.N.content` / `PREFIX.N.role`: the last user message
/// (prompts) or the first one (completions).
fn numbered(attrs: &[KeyValue], prefix: &str, last_user: bool) -> Option<String> {
    let mut msgs: Vec<(usize, Option<String>, String)> = Vec::new();
    for kv in attrs {
        let Some(rest) = kv
            .key
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('.'))
        else {
            continue;
        };
        let Some((n, "content")) = rest.split_once('.') else {
            continue;
        };
        let (Ok(n), Some(content)) = (n.parse::<usize>(), kv.value.as_ref().and_then(text)) else {
            continue;
        };
        let role = find(attrs, &format!("{prefix}.{n}.role")).and_then(text);
        msgs.push((n, role, content));
    }
    msgs.sort_by_key(|m| m.0);
    if last_user {
        msgs.iter()
            .rev()
            .find(|m| m.1.as_deref().is_none_or(|r| r == "user"))
            .or(msgs.last())
            .map(|m| m.2.clone())
    } else {
        msgs.first().map(|m| m.2.clone())
    }
}

/// The text of a JSON messages array (`[{role, content}]` or `[{role, parts:
/// [{type, content}]}]`): the last user message, or the first message.
fn message_text(json_text: &str, last_user: bool) -> Option<String> {
    let v: Value = serde_json::from_str(json_text).ok()?;
    let msgs = v.as_array()?;
    let content = |m: &Value| -> Option<String> {
        if let Some(s) = m.get("content").and_then(Value::as_str) {
            return Some(s.to_string());
        }
        let parts: Vec<&str> = m
            .get("parts")?
            .as_array()?
            .iter()
            .filter_map(|p| p.get("content").and_then(Value::as_str))
            .collect();
        (!parts.is_empty()).then(|| parts.join("\n"))
    };
    let pick = if last_user {
        msgs.iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .or(msgs.last())
    } else {
        msgs.first()
    };
    pick.and_then(content)
}

/// The content of the last (input) or first (output) span event named one of
/// `names` (older GenAI conventions put messages in events).
fn event_text(span: &Span, names: &[&str], last: bool) -> Option<String> {
    let mut texts = span
        .events
        .iter()
        .filter(|e| names.contains(&e.name.as_str()))
        .filter_map(|e| {
            let a = &e.attributes;
            find(a, "content").and_then(text).or_else(|| {
                // `gen_ai.choice` carries `message` as JSON or a key/value list.
                let m = find(a, "message")?;
                match m.value.as_ref()? {
                    any_value::Value::StringValue(s) => serde_json::from_str::<Value>(s)
                        .ok()
                        .and_then(|v| v.get("content").and_then(Value::as_str).map(str::to_string)),
                    any_value::Value::KvlistValue(kv) => find(&kv.values, "content").and_then(text),
                    _ => None,
                }
            })
        });
    if last {
        texts.next_back()
    } else {
        texts.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::{span::Event, ResourceSpans, ScopeSpans, Status};

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    fn kvi(k: &str, v: i64) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(v)),
            }),
            ..Default::default()
        }
    }

    fn span(attrs: Vec<KeyValue>) -> Span {
        Span {
            trace_id: vec![0xab; 16],
            span_id: vec![0xcd; 8],
            name: "chat".into(),
            start_time_unix_nano: 1_764_000_000_000_000_000,
            end_time_unix_nano: 1_764_000_000_750_000_000,
            attributes: attrs,
            ..Default::default()
        }
    }

    fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(opentelemetry_proto::tonic::resource::v1::Resource {
                    attributes: vec![kv("service.name", "support-bot")],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn the_three_conventions_map_to_the_same_record() {
        let cfg = OtlpConfig::default();
        let semconv = span(vec![
            kv(
                "gen_ai.input.messages",
                r#"[{"role":"system","parts":[{"type":"text","content":"be brief"}]},{"role":"user","parts":[{"type":"text","content":"where is my card"}]}]"#,
            ),
            kv(
                "gen_ai.output.messages",
                r#"[{"role":"assistant","parts":[{"type":"text","content":"on its way"}]}]"#,
            ),
            kv("gen_ai.request.model", "gpt-4o-mini"),
            kvi("gen_ai.usage.input_tokens", 12),
            kvi("gen_ai.usage.output_tokens", 4),
        ]);
        let openllmetry = span(vec![
            kv("gen_ai.prompt.0.role", "system"),
            kv("gen_ai.prompt.0.content", "be brief"),
            kv("gen_ai.prompt.1.role", "user"),
            kv("gen_ai.prompt.1.content", "where is my card"),
            kv("gen_ai.completion.0.content", "on its way"),
            kv("gen_ai.response.model", "gpt-4o-mini"),
            kvi("gen_ai.usage.prompt_tokens", 12),
            kvi("gen_ai.usage.completion_tokens", 4),
        ]);
        let openinference = span(vec![
            kv("input.value", "where is my card"),
            kv("output.value", "on its way"),
            kv("llm.model_name", "gpt-4o-mini"),
            kvi("llm.token_count.prompt", 12),
            kvi("llm.token_count.completion", 4),
        ]);
        for s in [semconv, openllmetry, openinference] {
            let r = span_records(&request(vec![s]), &cfg);
            assert_eq!(r.skipped, 0);
            let rec = &r.records[0];
            assert_eq!(rec["input"], "where is my card", "{rec}");
            assert_eq!(rec["output"], "on its way", "{rec}");
            assert_eq!(rec["model"], "gpt-4o-mini");
            assert_eq!(
                (
                    rec["prompt_tokens"].as_i64(),
                    rec["completion_tokens"].as_i64()
                ),
                (Some(12), Some(4))
            );
            assert_eq!(rec["latency_ms"], 750.0);
            assert_eq!(rec["id"], format!("{}-{}", "ab".repeat(16), "cd".repeat(8)));
            assert_eq!(rec["error"], false);
            assert_eq!(rec["metadata"]["service.name"], "support-bot");
        }
    }

    #[test]
    fn events_errors_configured_names_and_non_llm_spans() {
        let mut s = span(vec![kv("gen_ai.system", "openai")]);
        s.events = vec![
            Event {
                name: "gen_ai.user.message".into(),
                attributes: vec![kv("content", "first question")],
                ..Default::default()
            },
            Event {
                name: "gen_ai.user.message".into(),
                attributes: vec![kv("content", "reset my pin")],
                ..Default::default()
            },
            Event {
                name: "gen_ai.choice".into(),
                attributes: vec![kv("message", r#"{"role":"assistant","content":"done"}"#)],
                ..Default::default()
            },
        ];
        s.status = Some(Status {
            code: status::StatusCode::Error as i32,
            message: "rate limited".into(),
        });
        let http = span(vec![kv("http.route", "/health")]);
        let custom = span(vec![kv("app.question", "q"), kv("app.answer", "a")]);
        let cfg = OtlpConfig {
            input_attributes: vec!["app.question".into()],
            output_attributes: vec!["app.answer".into()],
        };
        let r = span_records(&request(vec![s, http, custom]), &cfg);
        assert_eq!(r.skipped, 1);
        assert_eq!(r.records[0]["input"], "reset my pin");
        assert_eq!(r.records[0]["output"], "done");
        assert_eq!(r.records[0]["error"], true);
        assert_eq!(r.records[1]["input"], "q");
        assert_eq!(r.records[1]["output"], "a");
    }

    #[test]
    fn protobuf_json_and_gzip_bodies_decode_alike() {
        let req = request(vec![span(vec![kv("input.value", "hi")])]);
        let pb = req.encode_to_vec();
        let js = serde_json::to_vec(&req).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &pb).unwrap();
        let gz = gz.finish().unwrap();
        for (body, enc, zipped) in [
            (&pb, Encoding::Protobuf, false),
            (&js, Encoding::Json, false),
            (&gz, Encoding::Protobuf, true),
        ] {
            let back = decode(body, enc, zipped, 1 << 20).unwrap();
            assert_eq!(back, req);
        }
        assert!(decode(b"not protobuf at all", Encoding::Protobuf, false, 1 << 20).is_err());
        assert!(decode(&gz, Encoding::Protobuf, true, 10)
            .unwrap_err()
            .contains("larger than"));
        // OTLP/JSON carries ids as hex.
        let text = String::from_utf8(js).unwrap();
        assert!(text.contains(&"ab".repeat(16)), "{text}");
        let resp = response(Encoding::Json, 2, "2 spans rejected");
        let v: Value = serde_json::from_slice(&resp).unwrap();
        assert_eq!(v["partialSuccess"]["rejectedSpans"], json!(2));
    }
}
