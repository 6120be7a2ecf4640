//! From one JSON record to a [`NewTrace`], through configurable dotted paths.

use chrono::{DateTime, TimeZone, Utc};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::IngestConfig;
use crate::store::{content_hash, NewTrace};
use crate::text::JsonWalk;

/// Parsed field paths, ready to apply to many records.
#[derive(Debug, Clone)]
pub struct FieldMap {
    input: Vec<String>,
    output: Vec<String>,
    id: Vec<String>,
    ts: Vec<String>,
    model: Vec<String>,
    latency: Vec<String>,
    prompt_tokens: Vec<String>,
    completion_tokens: Vec<String>,
    cost: Vec<String>,
    error: Vec<String>,
    feedback: Vec<String>,
    metadata: Vec<String>,
    max_text_bytes: usize,
    /// Whether the model name and metadata are read (see
    /// [`FieldMap::without_extras`]).
    extras: bool,
    /// The distinct first keys of the paths above, when every path has one:
    /// [`FieldMap::parse_trace`] builds only the values under these keys.
    heads: Option<Vec<String>>,
    /// Per head: whether exactly one path reads under it, and reads all of it.
    movable: Vec<bool>,
}

fn split(p: &str) -> Vec<String> {
    p.split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Looks up a dotted path: object keys, array indices, negative indices from the end.
pub fn lookup_path<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path {
        cur = match cur {
            Value::Object(m) => m.get(seg)?,
            Value::Array(a) => {
                let i: i64 = seg.parse().ok()?;
                let idx = if i < 0 { a.len() as i64 + i } else { i };
                if idx < 0 {
                    return None;
                }
                a.get(idx as usize)?
            }
            _ => return None,
        };
    }
    match cur {
        Value::Null => None,
        other => Some(other),
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// Epoch numbers above this are milliseconds, below it seconds (year 5138 in seconds).
const EPOCH_MS_CUTOFF: f64 = 1e11;

pub fn parse_ts(v: &Value) -> Result<DateTime<Utc>, String> {
    let from_num = |x: f64| -> Result<DateTime<Utc>, String> {
        // `as i64` would turn NaN into 0 (1970) and ±inf into the extremes.
        if !x.is_finite() {
            return Err(format!("timestamp {x} is not a finite number"));
        }
        let ms = if x.abs() >= EPOCH_MS_CUTOFF {
            x
        } else {
            x * 1000.0
        };
        Utc.timestamp_millis_opt(ms as i64)
            .single()
            .ok_or_else(|| format!("timestamp {x} is out of range"))
    };
    match v {
        Value::Number(n) => from_num(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
                return Ok(dt.with_timezone(&Utc));
            }
            if let Ok(ndt) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f") {
                return Ok(ndt.and_utc());
            }
            if let Ok(x) = s.parse::<f64>() {
                return from_num(x);
            }
            Err(format!(
                "timestamp `{s}` is not RFC 3339 or epoch seconds/milliseconds"
            ))
        }
        _ => Err("timestamp must be a string or a number".into()),
    }
}

/// The longest line or record any reader holds, for `max_text_bytes` per
/// text: four texts and room for the other fields.
pub fn max_record_bytes(max_text_bytes: usize) -> usize {
    max_text_bytes.saturating_mul(4).saturating_add(64 << 10)
}

/// The id of a record that has none: stable across re-ingest, since the same
/// content and time give the same id.
pub fn content_id(input: &str, output: &str, ts_ms: i64) -> String {
    let mut key = String::with_capacity(input.len() + output.len() + 32);
    key.push_str(input);
    key.push('\u{1f}');
    key.push_str(output);
    key.push('\u{1f}');
    key.push_str(&ts_ms.to_string());
    format!("h:{}", &content_hash(&key)[..32])
}

const NOT_AN_OBJECT: &str = "record is not a JSON object";

/// Bytes of `v` serialised compactly (`v.to_string().len()`), without building the string.
fn json_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    // Writing a `Value` to a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// Deserialises a record keeping only the values under `heads` (by
/// position; the last of repeated keys wins, as in a `Value` map). `None`
/// when the document is not an object.
struct RecordSeed<'h>(&'h [String]);

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = Option<Vec<Option<Value>>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = Option<Vec<Option<Value>>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON record")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut slots: Vec<Option<Value>> = vec![None; self.0.len()];
        while let Some(head) = map.next_key_seed(HeadSeed(self.0))? {
            match head {
                Some(i) => slots[i] = Some(map.next_value()?),
                None => map.next_value_seed(JsonWalk(None))?,
            }
        }
        Ok(Some(slots))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element_seed(JsonWalk(None))?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// A record's key, as its position among the heads, read without copying it.
struct HeadSeed<'h>(&'h [String]);

impl<'de> DeserializeSeed<'de> for HeadSeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for HeadSeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|h| h == key))
    }
}

/// A parsed record as the mapping reads it.
trait Fields {
    /// The value at `path` (`Null` is none).
    fn get(&self, path: &[String]) -> Option<&Value>;
    /// The value at `path`, moved out of the record where that is safe,
    /// copied otherwise. Read each path at most once this way.
    fn take(&mut self, path: &[String]) -> Option<Value> {
        self.get(path).cloned()
    }
}

impl Fields for &Value {
    fn get(&self, path: &[String]) -> Option<&Value> {
        lookup_path(self, path)
    }
}

/// The values under the mapped paths' first keys ([`RecordSeed`]).
struct Slots<'m> {
    heads: &'m [String],
    /// Whether a head is the whole of one mapped path and of no other, so its
    /// value can be moved out of the record.
    movable: &'m [bool],
    values: Vec<Option<Value>>,
}

impl Slots<'_> {
    fn head(&self, path: &[String]) -> Option<usize> {
        self.heads.iter().position(|h| *h == path[0])
    }
}

impl Fields for Slots<'_> {
    fn get(&self, path: &[String]) -> Option<&Value> {
        lookup_path(self.values[self.head(path)?].as_ref()?, &path[1..])
    }

    fn take(&mut self, path: &[String]) -> Option<Value> {
        let h = self.head(path)?;
        if path.len() == 1 && self.movable[h] {
            self.values[h].take().filter(|v| !v.is_null())
        } else {
            self.get(path).cloned()
        }
    }
}

/// A value as text: a string as it is, anything else as compact JSON.
fn into_text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

impl FieldMap {
    pub fn new(cfg: &IngestConfig) -> FieldMap {
        let mut map = FieldMap {
            input: split(&cfg.input_field),
            output: split(&cfg.output_field),
            id: split(&cfg.id_field),
            ts: split(&cfg.ts_field),
            model: split(&cfg.model_field),
            latency: split(&cfg.latency_field),
            prompt_tokens: split(&cfg.prompt_tokens_field),
            completion_tokens: split(&cfg.completion_tokens_field),
            cost: split(&cfg.cost_field),
            error: split(&cfg.error_field),
            feedback: split(&cfg.feedback_field),
            metadata: split(&cfg.metadata_field),
            max_text_bytes: cfg.max_text_bytes,
            extras: true,
            heads: None,
            movable: Vec::new(),
        };
        map.index_heads();
        map
    }

    /// This map without the model name and metadata: the traces it maps
    /// carry neither, and a record's value there is neither built nor
    /// checked against `max_text_bytes`. For `compare`, which measures input
    /// and output only: the metadata object was the costliest part of a
    /// demo record to build and free (BENCHMARKS.md, session 18). Every
    /// other rule still rejects what ingest rejects.
    pub fn without_extras(mut self) -> FieldMap {
        self.extras = false;
        self.index_heads();
        self
    }

    fn index_heads(&mut self) {
        let paths = self.paths();
        // An empty path names the whole record, which a pruned parse does not build.
        if paths.iter().any(|p| p.is_empty()) {
            self.heads = None;
            self.movable = Vec::new();
            return;
        }
        let mut heads: Vec<String> = Vec::new();
        for p in &paths {
            if !heads.contains(&p[0]) {
                heads.push(p[0].clone());
            }
        }
        let movable = heads
            .iter()
            .map(|h| {
                let under: Vec<_> = paths.iter().filter(|p| p[0] == *h).collect();
                under.len() == 1 && under[0].len() == 1
            })
            .collect();
        self.movable = movable;
        self.heads = Some(heads);
    }

    /// The paths this map reads.
    fn paths(&self) -> Vec<&Vec<String>> {
        let mut paths = vec![
            &self.input,
            &self.output,
            &self.id,
            &self.ts,
            &self.latency,
            &self.prompt_tokens,
            &self.completion_tokens,
            &self.cost,
            &self.error,
            &self.feedback,
        ];
        if self.extras {
            paths.extend([&self.model, &self.metadata]);
        }
        paths
    }

    /// Parses one JSON record and maps it, as `serde_json::from_str::<Value>`
    /// then [`to_trace`](Self::to_trace) would, with the same outcome and the
    /// same error messages (malformed JSON as `malformed JSON: …`), but
    /// builds only the values under the mapped paths' first keys: every
    /// other value is checked as JSON and skipped, and no map of the record's
    /// keys is built. Ingest spends most of its parsing time allocating
    /// those keys and values otherwise (BENCHMARKS.md, "Whole structural job").
    pub fn parse_trace(&self, text: &str, source: &str) -> Result<NewTrace, String> {
        self.parse_trace_or(text, source, None)
    }

    /// [`parse_trace`](Self::parse_trace) with [`to_trace_or`](Self::to_trace_or)'s fallback id.
    pub fn parse_trace_or(
        &self,
        text: &str,
        source: &str,
        fallback_id: Option<&str>,
    ) -> Result<NewTrace, String> {
        let malformed = |e: serde_json::Error| format!("malformed JSON: {e}");
        let Some(heads) = &self.heads else {
            let v: Value = serde_json::from_str(text).map_err(malformed)?;
            return self.to_trace_or(&v, source, fallback_id);
        };
        let mut de = serde_json::Deserializer::from_str(text);
        let record = RecordSeed(heads).deserialize(&mut de).map_err(malformed)?;
        de.end().map_err(malformed)?;
        let Some(values) = record else {
            return Err(NOT_AN_OBJECT.into());
        };
        let mut slots = Slots {
            heads,
            movable: &self.movable,
            values,
        };
        self.map_fields(&mut slots, source, fallback_id)
    }

    /// Maps one record; `Err` is the reason it is rejected.
    pub fn to_trace(&self, v: &Value, source: &str) -> Result<NewTrace, String> {
        self.to_trace_or(v, source, None)
    }

    /// Like [`FieldMap::to_trace`], with the external id to use when the record
    /// has none (a tailed file passes its position, so a re-read line keeps its id
    /// even without a timestamp); without it the id is [`content_id`].
    pub fn to_trace_or(
        &self,
        v: &Value,
        source: &str,
        fallback_id: Option<&str>,
    ) -> Result<NewTrace, String> {
        if !v.is_object() {
            return Err(NOT_AN_OBJECT.into());
        }
        self.map_fields(&mut &*v, source, fallback_id)
    }

    /// The mapping itself. The texts it keeps (input, output, model,
    /// metadata) are taken from the record, so a record the parser owns gives
    /// them up without a copy.
    fn map_fields(
        &self,
        rec: &mut impl Fields,
        source: &str,
        fallback_id: Option<&str>,
    ) -> Result<NewTrace, String> {
        let input = match rec.take(&self.input) {
            Some(x) => into_text(x),
            None => return Err(format!("missing input field `{}`", self.input.join("."))),
        };
        let output = rec.take(&self.output).map(into_text).unwrap_or_default();
        for (name, text) in [("input", &input), ("output", &output)] {
            if text.len() > self.max_text_bytes {
                return Err(format!(
                    "{name} is {} bytes, over max_text_bytes {}",
                    text.len(),
                    self.max_text_bytes
                ));
            }
        }
        let ts = match rec.get(&self.ts) {
            Some(x) => parse_ts(x)?,
            None => Utc::now(),
        };
        let external_id = match rec.get(&self.id) {
            // JSON numbers beyond 64-bit integers arrive as doubles, which
            // keep about 16 digits: two such ids could become one, and the
            // second be dropped as a duplicate. Refuse rather than guess.
            Some(Value::Number(n))
                if n.is_f64() && n.as_f64().is_some_and(|f| f.abs() >= 9_007_199_254_740_992.0) =>
            {
                return Err(format!(
                    "id {n} is a number too large to keep exactly (beyond 64-bit integers); send it as a JSON string"
                ))
            }
            Some(x) => as_text(x),
            None => match fallback_id {
                Some(f) => f.to_string(),
                None => content_id(&input, &output, ts.timestamp_millis()),
            },
        };
        let is_error = match rec.get(&self.error) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) => Some(!s.trim().is_empty()),
            Some(Value::Number(n)) => Some(n.as_f64() != Some(0.0)),
            Some(_) => Some(true),
        };
        // Every stored text is bounded, not only input and output.
        let (model, metadata) = if self.extras {
            (
                rec.take(&self.model).map(into_text),
                rec.take(&self.metadata),
            )
        } else {
            (None, None)
        };
        let meta_len = metadata.as_ref().map_or(0, json_len);
        for (name, len) in [
            ("model", model.as_ref().map_or(0, String::len)),
            ("metadata", meta_len),
            ("id", external_id.len()),
        ] {
            if len > self.max_text_bytes {
                return Err(format!(
                    "{name} is {len} bytes, over max_text_bytes {}",
                    self.max_text_bytes
                ));
            }
        }
        let num = |p: &[String], name: &str| -> Result<Option<f64>, String> {
            match rec.get(p) {
                None => Ok(None),
                Some(x) => as_f64(x)
                    .filter(|f| f.is_finite())
                    .map(Some)
                    .ok_or_else(|| format!("{name} `{x}` is not a number")),
            }
        };
        Ok(NewTrace {
            source: source.to_string(),
            external_id,
            ts,
            input,
            output,
            model,
            latency_ms: num(&self.latency, "latency")?,
            prompt_tokens: num(&self.prompt_tokens, "prompt_tokens")?.map(|x| x as i64),
            completion_tokens: num(&self.completion_tokens, "completion_tokens")?.map(|x| x as i64),
            cost: num(&self.cost, "cost")?,
            is_error,
            feedback: num(&self.feedback, "feedback")?,
            metadata,
        })
    }

    /// The longest line or record read at all: input, output, model and metadata
    /// at `max_text_bytes` each, plus room for the other fields. A longer line is
    /// rejected without being held in memory.
    pub fn max_record_bytes(&self) -> usize {
        max_record_bytes(self.max_text_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map_with(input: &str) -> FieldMap {
        FieldMap::new(&IngestConfig {
            input_field: input.into(),
            ..IngestConfig::default()
        })
    }

    /// Without extras a record maps to the same trace less its model and
    /// metadata, whose values are neither kept nor held to `max_text_bytes`;
    /// every other rule still rejects.
    #[test]
    fn without_extras_skips_model_and_metadata_only() {
        let cfg = IngestConfig {
            max_text_bytes: 64,
            ..IngestConfig::default()
        };
        let full = FieldMap::new(&cfg);
        let lean = full.clone().without_extras();
        let rec = r#"{"id":"a","ts":"2026-12-01T00:00:00Z","input":"hi","output":"yo",
            "model":"m1","latency_ms":12,"metadata":{"k":[1,2,{"x":"y"}]},"other":[true]}"#;
        let a = full.parse_trace(rec, "cli").unwrap();
        let b = lean.parse_trace(rec, "cli").unwrap();
        assert_eq!(
            (a.model.as_deref(), a.metadata.is_some()),
            (Some("m1"), true)
        );
        assert_eq!((b.model.as_deref(), b.metadata.as_ref()), (None, None));
        assert_eq!(
            NewTrace {
                model: None,
                metadata: None,
                ..a
            },
            b
        );
        let long = format!(
            r#"{{"input":"hi","ts":"2026-12-01T00:00:00Z","metadata":"{}"}}"#,
            "x".repeat(100)
        );
        assert!(full
            .parse_trace(&long, "cli")
            .unwrap_err()
            .contains("metadata is"));
        assert!(lean.parse_trace(&long, "cli").is_ok());
        for bad in [
            r#"{"output":"no input"}"#,
            r#"{"input":"x","latency_ms":"slow"}"#,
            r#"{"input":"x","ts":"yesterday"}"#,
            r#"{"input":"x","metadata":{"k":tru}}"#,
        ] {
            assert_eq!(
                full.parse_trace(bad, "cli").is_err(),
                lean.parse_trace(bad, "cli").is_err(),
                "{bad}"
            );
            assert!(lean.parse_trace(bad, "cli").is_err(), "{bad}");
        }
    }

    /// `parse_trace` must reject and accept exactly what parsing a `Value`
    /// and `to_trace` do, with the same messages and the same traces.
    #[test]
    fn pruned_parse_maps_like_a_value_parse() {
        use rand::{Rng, SeedableRng};
        let same = |m: &FieldMap, text: &str| {
            let old = serde_json::from_str::<Value>(text)
                .map_err(|e| format!("malformed JSON: {e}"))
                .and_then(|v| m.to_trace(&v, "cli"));
            let new = m.parse_trace(text, "cli");
            match (&old, &new) {
                // A record without a timestamp is stamped with the time of
                // mapping, and an id made from content includes that time.
                (Ok(a), Ok(b)) if a.ts != b.ts => {
                    assert!((b.ts - a.ts).num_seconds().abs() < 5, "{text}");
                    let id = match (
                        a.external_id.starts_with("h:"),
                        b.external_id.starts_with("h:"),
                    ) {
                        (true, true) => a.external_id.clone(),
                        _ => b.external_id.clone(),
                    };
                    let b = NewTrace {
                        ts: a.ts,
                        external_id: id,
                        ..b.clone()
                    };
                    assert_eq!(b, *a, "{text}");
                }
                _ => assert_eq!(old, new, "{text}"),
            }
            old.is_ok()
        };
        let nested = FieldMap::new(&IngestConfig {
            input_field: "request.messages.-1.content".into(),
            output_field: "response.text".into(),
            metadata_field: "request".into(),
            ..IngestConfig::default()
        });
        let maps = [map_with("input"), nested];
        let fixed = [
            r#"{"input":"q","output":"a","ts":"2026-11-01T10:00:00Z","id":"x"}"#,
            r#"{"inp\u0075t":"escaped key","ts":1793527200}"#,
            r#"{"input":"first","input":"last","ts":1}"#,
            r#"{"input":null,"output":"a"}"#,
            r#"{"input":12.5,"output":["a",{"b":null}],"model":{"n":1},"ts":2}"#,
            r#"{"input":"q","id":123456789012345678901234567890}"#,
            r#"{"input":"q","latency_ms":"slow"}"#,
            r#"{"input":"q","metadata":{"k":[1,2,{"z":"\u00e9"}]},"ts":"2026-01-01 10:00:00"}"#,
            r#"{"request":{"messages":[{"content":"sys"},{"content":"last"}]},"response":{"text":"o"},"ts":3}"#,
            r#"{"request":{"messages":[]},"ts":3}"#,
            r#"{"input":"q"} trailing"#,
            r#"{"input":"q",}"#,
            r#"{"input":"q""#,
            r#"{"other":{"deep":[[[[]]]]},"input":"q","ts":4}"#,
            r#"["input","q"]"#,
            r#""input""#,
            "12",
            "true",
            "null",
            "{}",
            "",
            r#"{"input":"\ud800"}"#,
        ];
        for m in &maps {
            for text in fixed {
                same(m, text);
            }
        }
        // Random records over the mapped keys, unmapped ones and nested values.
        let keys = [
            "input",
            "output",
            "id",
            "ts",
            "model",
            "latency_ms",
            "cost",
            "feedback",
            "metadata",
            "error",
            "request",
            "response",
            "extra",
            "prompt_tokens",
        ];
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        fn value(r: &mut rand_chacha::ChaCha8Rng, depth: u32) -> Value {
            match r.random_range(0..if depth > 2 { 5 } else { 8 }) {
                0 => Value::Null,
                1 => json!(r.random_bool(0.5)),
                2 => json!(r.random_range(-5..2_000_000_000_000i64)),
                3 => json!(r.random_range(-1e3..1e3)),
                4 => json!(
                    ["q", "é 🙂", "a\"b", "2026-11-01T10:00:00Z", "", "12"][r.random_range(0..6)]
                ),
                5 => Value::Array(
                    (0..r.random_range(0..3))
                        .map(|_| value(r, depth + 1))
                        .collect(),
                ),
                _ => {
                    let mut m = serde_json::Map::new();
                    for k in ["messages", "content", "text", "-1", "0"] {
                        if r.random_bool(0.4) {
                            m.insert(k.into(), value(r, depth + 1));
                        }
                    }
                    Value::Object(m)
                }
            }
        }
        let mut ok = 0;
        for _ in 0..3_000 {
            // Half the records start valid, so that traces get compared too.
            let mut parts = Vec::new();
            if r.random_bool(0.5) {
                parts.push(
                    r#""input":"q","request":{"messages":[{"content":"c"}]},"ts":1793527200"#
                        .to_string(),
                );
            }
            for _ in 0..r.random_range(0..4) {
                let k = keys[r.random_range(0..keys.len())];
                parts.push(format!("{}:{}", json!(k), value(&mut r, 0)));
            }
            let text = format!("{{{}}}", parts.join(","));
            for m in &maps {
                ok += usize::from(same(m, &text));
            }
        }
        assert!(
            ok > 1_000,
            "too few records mapped ({ok}) to compare the traces"
        );
    }

    #[test]
    fn nested_path_with_negative_index() {
        let v = json!({"request": {"messages": [{"content": "sys"}, {"content": "last"}]}, "output": "o"});
        let t = map_with("request.messages.-1.content")
            .to_trace(&v, "cli")
            .unwrap();
        assert_eq!(t.input, "last");
        assert_eq!(t.output, "o");
    }

    #[test]
    fn a_timestamp_that_is_not_a_finite_number_is_rejected_not_1970() {
        for bad in ["NaN", "inf", "-infinity"] {
            let e = parse_ts(&json!(bad)).unwrap_err();
            assert!(e.contains("not a finite number"), "{bad}: {e}");
        }
        let m = map_with("input");
        let e = m
            .to_trace(&json!({"input": "q", "ts": "NaN"}), "cli")
            .unwrap_err();
        assert!(e.contains("not a finite number"), "{e}");
    }

    #[test]
    fn missing_input_is_rejected_by_name() {
        let e = map_with("input")
            .to_trace(&json!({"output": "x"}), "cli")
            .unwrap_err();
        assert_eq!(e, "missing input field `input`");
    }

    #[test]
    fn numeric_ids_beyond_64_bits_are_refused_not_merged() {
        let m = FieldMap::new(&IngestConfig::default());
        let rec = |id: &str| {
            serde_json::from_str::<Value>(&format!(r#"{{"id": {id}, "input": "x"}}"#)).unwrap()
        };
        // Exact 64-bit integers are kept digit for digit.
        for id in ["18446744073709551615", "-9223372036854775808", "42", "1.5"] {
            assert_eq!(m.to_trace(&rec(id), "t").unwrap().external_id, id);
        }
        // Two ids that differ in their last digit would both become
        // 18446744073709552000: each is refused with its reason.
        for id in ["18446744073709551616", "18446744073709551617", "1e300"] {
            let err = m.to_trace(&rec(id), "t").unwrap_err();
            assert!(err.contains("too large to keep exactly"), "{err}");
        }
        let as_string = serde_json::json!({"id": "18446744073709551617", "input": "x"});
        assert_eq!(
            m.to_trace(&as_string, "t").unwrap().external_id,
            "18446744073709551617"
        );
    }

    #[test]
    fn id_from_content_is_stable_and_ts_formats_parse() {
        let m = map_with("input");
        let a = m
            .to_trace(&json!({"input": "q", "ts": "2026-11-01T10:00:00Z"}), "cli")
            .unwrap();
        let b = m
            .to_trace(&json!({"input": "q", "ts": 1793527200}), "cli")
            .unwrap();
        let c = m
            .to_trace(&json!({"input": "q", "ts": 1793527200000u64}), "cli")
            .unwrap();
        assert_eq!(a.ts, b.ts);
        assert_eq!(b.ts, c.ts);
        assert_eq!(a.external_id, b.external_id);
        assert!(a.external_id.starts_with("h:"));
    }

    #[test]
    fn operational_fields_and_bad_numbers() {
        let m = map_with("input");
        let t = m
            .to_trace(&json!({"input": "q", "latency_ms": 120, "cost": "0.002", "error": "timeout", "feedback": false}), "cli")
            .unwrap();
        assert_eq!(t.latency_ms, Some(120.0));
        assert_eq!(t.cost, Some(0.002));
        assert_eq!(t.is_error, Some(true));
        assert_eq!(t.feedback, Some(0.0));
        let e = m
            .to_trace(&json!({"input": "q", "latency_ms": "slow"}), "cli")
            .unwrap_err();
        assert!(e.contains("latency"), "{e}");
    }

    #[test]
    fn oversized_text_is_rejected() {
        let m = FieldMap::new(&IngestConfig {
            max_text_bytes: 4,
            ..IngestConfig::default()
        });
        let e = m.to_trace(&json!({"input": "12345"}), "cli").unwrap_err();
        assert!(e.contains("over max_text_bytes 4"), "{e}");
    }
}
