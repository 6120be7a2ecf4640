//! The shape of a golden set's JSON answers, inferred when no schema is
//! configured: the top-level keys (nearly) every answer has, and the JSON type
//! each holds. A job whose golden answers all carry `{"intent", "answer"}`
//! then notices production answers that drop a key, rename it or change its
//! type — the commonest way an LLM's JSON output drifts while still parsing —
//! through `output.schema_valid`, with no config.
//!
//! Only the top level is inferred: nested objects vary more between valid
//! answers (optional fields, lists of different lengths), and a key that is
//! present and of the right type is what downstream code needs first. A user
//! who wants more writes `output_schema`, which replaces the inferred one.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// Distinct top-level keys tallied. Answers keyed by data (ids, dates) have
/// no fixed shape; a key every answer holds is met in the first answers, long
/// before this many others.
pub const MAX_SHAPE_KEYS: usize = 256;

/// JSON types in the order of [`KeyTally::types`] (`number` covers integers).
const TYPES: [&str; 6] = ["null", "boolean", "number", "string", "array", "object"];

#[derive(Debug, Clone, Default, PartialEq)]
struct KeyTally {
    /// Objects holding the key.
    present: usize,
    /// Of those, how many hold each type of [`TYPES`].
    types: [usize; 6],
}

/// Tally of the top-level keys of JSON objects (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JsonShape {
    /// Documents that are JSON objects.
    objects: usize,
    keys: BTreeMap<String, KeyTally>,
}

fn type_index(v: &Value) -> usize {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

impl JsonShape {
    /// Adds one parsed object.
    pub fn add_object(&mut self, obj: &Map<String, Value>) {
        self.objects += 1;
        for (k, v) in obj {
            if !self.keys.contains_key(k) && self.keys.len() >= MAX_SHAPE_KEYS {
                continue;
            }
            let t = self.keys.entry(k.clone()).or_default();
            t.present += 1;
            t.types[type_index(v)] += 1;
        }
    }

    /// Documents tallied that were JSON objects.
    pub fn objects(&self) -> usize {
        self.objects
    }

    /// A JSON Schema (draft 2020-12) for the shape: an object that requires
    /// every key present in at least `share` of the objects, each constrained
    /// to its type when at least `share` of its values have it (`number`
    /// covers integers; a key of mixed types is only required). `None` when
    /// no key is that common.
    pub fn schema(&self, share: f64) -> Option<Value> {
        if self.objects == 0 {
            return None;
        }
        let mut required = Vec::new();
        let mut properties = Map::new();
        for (k, t) in &self.keys {
            if (t.present as f64) < share * self.objects as f64 {
                continue;
            }
            required.push(Value::String(k.clone()));
            let (best, n) = t
                .types
                .iter()
                .enumerate()
                .max_by_key(|&(i, n)| (*n, std::cmp::Reverse(i)))
                .expect("six types");
            if *n as f64 >= share * t.present as f64 {
                properties.insert(k.clone(), json!({ "type": TYPES[best] }));
            }
        }
        if required.is_empty() {
            return None;
        }
        Some(json!({
            "type": "object",
            "required": required,
            "properties": properties,
        }))
    }
}

/// The keys a schema's top-level `required` lists, in order (empty when it
/// has none).
pub fn required_keys(schema: &Value) -> Vec<String> {
    schema["required"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Why `doc` does not have the shape `schema` describes (a schema from
/// [`JsonShape::schema`]: top-level `required` keys and `properties` types),
/// or `None` when it does: "it is an array, not an object", "it has no key
/// `intent`", "its `score` is a string, not a number". The first violation in
/// key order is named, so a reviewer or a model can be told what to fix.
pub fn shape_violation(schema: &Value, doc: &Value) -> Option<String> {
    let Value::Object(obj) = doc else {
        return Some(format!(
            "it is {}, not an object",
            article(TYPES[type_index(doc)])
        ));
    };
    for key in required_keys(schema) {
        let Some(v) = obj.get(&key) else {
            return Some(format!("it has no key `{key}`"));
        };
        let want = schema["properties"][&key]["type"].as_str();
        let got = TYPES[type_index(v)];
        if let Some(want) = want.filter(|w| *w != got) {
            return Some(format!(
                "its `{key}` is {}, not {}",
                article(got),
                article(want)
            ));
        }
    }
    None
}

/// The shape a schema from [`JsonShape::schema`] asks for, in words:
/// "`answer` (string), `intent` (string), `tags`".
pub fn describe_shape(schema: &Value) -> String {
    required_keys(schema)
        .iter()
        .map(|k| match schema["properties"][k]["type"].as_str() {
            Some(t) => format!("`{k}` ({t})"),
            None => format!("`{k}`"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn article(t: &str) -> String {
    match t {
        "null" => "null".to_string(),
        "array" | "object" => format!("an {t}"),
        _ => format!("a {t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(docs: &[&str]) -> JsonShape {
        let mut s = JsonShape::default();
        for d in docs {
            if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(d) {
                s.add_object(&o);
            }
        }
        s
    }

    #[test]
    fn keys_every_answer_holds_are_required_with_their_type() {
        let mut docs = vec![r#"{"intent": "a", "answer": "x", "score": 1}"#; 19];
        // One answer in twenty lacks `score`: it is held by 95 % exactly.
        docs.push(r#"{"intent": "b", "answer": "y", "extra": [1]}"#);
        let s = shape(&docs);
        assert_eq!(s.objects(), 20);
        let schema = s.schema(0.95).unwrap();
        assert_eq!(schema["required"], json!(["answer", "intent", "score"]));
        assert_eq!(schema["properties"]["intent"], json!({"type": "string"}));
        assert_eq!(schema["properties"]["score"], json!({"type": "number"}));
        assert!(schema["properties"].get("extra").is_none());
        // At 0.96 the key held by 19 of 20 is no longer required.
        assert_eq!(
            required_keys(&s.schema(0.96).unwrap()),
            ["answer", "intent"]
        );
    }

    #[test]
    fn the_inferred_schema_accepts_golden_and_rejects_a_dropped_or_retyped_key() {
        let s = shape(&[
            r#"{"intent": "a", "answer": "x"}"#,
            r#"{"intent": "b", "answer": "y", "note": null}"#,
        ]);
        let v = crate::metrics::compile_schema(&s.schema(0.95).unwrap()).unwrap();
        assert!(v.is_valid(&json!({"intent": "c", "answer": "z", "more": 1})));
        assert!(!v.is_valid(&json!({"answer": "z"})), "intent dropped");
        assert!(
            !v.is_valid(&json!({"intent": 3, "answer": "z"})),
            "intent retyped"
        );
        assert!(!v.is_valid(&json!(["intent", "answer"])), "not an object");
    }

    #[test]
    fn mixed_types_are_required_without_a_type_and_no_common_key_gives_no_schema() {
        let s = shape(&[r#"{"v": 1}"#, r#"{"v": "1"}"#]);
        let schema = s.schema(0.95).unwrap();
        assert_eq!(schema["required"], json!(["v"]));
        assert!(schema["properties"].get("v").is_none());
        assert_eq!(shape(&[r#"{"a": 1}"#, r#"{"b": 1}"#]).schema(0.95), None);
        assert_eq!(JsonShape::default().schema(0.95), None);
    }

    #[test]
    fn keys_beyond_the_cap_are_not_tallied_but_common_ones_still_are() {
        let mut s = JsonShape::default();
        for i in 0..(MAX_SHAPE_KEYS + 50) {
            let mut o = Map::new();
            o.insert("id".into(), json!(i));
            o.insert(format!("k{i}"), json!(true));
            s.add_object(&o);
        }
        assert_eq!(s.keys.len(), MAX_SHAPE_KEYS);
        assert_eq!(s.objects(), MAX_SHAPE_KEYS + 50);
        assert_eq!(required_keys(&s.schema(0.95).unwrap()), ["id"]);
    }

    #[test]
    fn a_violation_names_the_first_missing_or_retyped_key() {
        let s = shape(&[
            r#"{"intent": "a", "answer": "x", "score": 1}"#,
            r#"{"intent": "b", "answer": "y", "score": 2.5}"#,
        ]);
        let schema = s.schema(0.95).unwrap();
        let v = |d: &str| shape_violation(&schema, &serde_json::from_str(d).unwrap());
        assert_eq!(
            v(r#"{"intent": "c", "answer": "z", "score": 0, "x": 1}"#),
            None
        );
        assert_eq!(
            v(r#"{"intent": "c", "response": "z", "score": 0}"#).as_deref(),
            Some("it has no key `answer`")
        );
        assert_eq!(
            v(r#"{"intent": "c", "answer": "z", "score": "high"}"#).as_deref(),
            Some("its `score` is a string, not a number")
        );
        assert_eq!(
            v(r#"{"intent": null, "answer": "z", "score": 1}"#).as_deref(),
            Some("its `intent` is null, not a string")
        );
        assert_eq!(
            v(r#"[1, 2]"#).as_deref(),
            Some("it is an array, not an object")
        );
        assert_eq!(
            describe_shape(&schema),
            "`answer` (string), `intent` (string), `score` (number)"
        );
        // A key of mixed types is required, with no type to name.
        let mixed = shape(&[r#"{"v": 1}"#, r#"{"v": "1"}"#])
            .schema(0.95)
            .unwrap();
        assert_eq!(describe_shape(&mixed), "`v`");
        assert_eq!(shape_violation(&mixed, &json!({"v": [1]})), None);
        assert_eq!(
            shape_violation(&mixed, &json!({})).as_deref(),
            Some("it has no key `v`")
        );
    }
}
