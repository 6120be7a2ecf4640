use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::MetricsError;

/// What a trace's output is supposed to look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Free text: `json_valid` is not computed (`None`).
    #[default]
    Text,
    /// JSON: `json_valid` is computed for every output.
    Json,
}

/// Compiled expectations about traces, built once and shared by every
/// extraction (`Send + Sync`).
///
/// The fields are public for inspection; build them with
/// [`Expectations::compile`] or the `with_*` methods, which anchor regexes
/// and compile the schema.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    pub output_format: OutputFormat,
    /// Compiled JSON Schema every output should satisfy. Its draft comes from
    /// the schema's `$schema` keyword, draft 2020-12 when absent; `format`
    /// keywords are asserted; only in-document `$ref`s resolve (no network,
    /// no files).
    pub output_schema: Option<jsonschema::Validator>,
    /// Full-match regex for outputs (see [`full_match_regex`]).
    pub output_regex: Option<Regex>,
    /// Full-match regex for inputs (see [`full_match_regex`]).
    pub input_regex: Option<Regex>,
}

/// Uncompiled, serializable form of [`Expectations`], e.g. as read from a
/// dataset's configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectationsSpec {
    /// `None` means `json` when `output_schema` is set, else `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<OutputFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_regex: Option<String>,
}

impl Expectations {
    /// No schema and no regexes, with the given output format.
    pub fn new(output_format: OutputFormat) -> Self {
        Expectations {
            output_format,
            ..Expectations::default()
        }
    }

    /// Compiles a spec. Errors name what failed: the schema (with the
    /// schema error and where in the schema it is), or which regex.
    pub fn compile(spec: &ExpectationsSpec) -> Result<Self, MetricsError> {
        let format = match (spec.output_format, &spec.output_schema) {
            (Some(OutputFormat::Text), Some(_)) => return Err(MetricsError::SchemaNeedsJson),
            (Some(format), _) => format,
            (None, Some(_)) => OutputFormat::Json,
            (None, None) => OutputFormat::Text,
        };
        let mut out = Expectations::new(format);
        if let Some(schema) = &spec.output_schema {
            out.output_schema = Some(compile_schema(schema)?);
        }
        if let Some(pattern) = &spec.output_regex {
            out.output_regex = Some(full_match_regex("output_regex", pattern)?);
        }
        if let Some(pattern) = &spec.input_regex {
            out.input_regex = Some(full_match_regex("input_regex", pattern)?);
        }
        Ok(out)
    }

    /// Sets the output schema (and the output format to JSON).
    pub fn with_output_schema(mut self, schema: &Value) -> Result<Self, MetricsError> {
        self.output_schema = Some(compile_schema(schema)?);
        self.output_format = OutputFormat::Json;
        Ok(self)
    }

    /// Like [`with_output_schema`](Self::with_output_schema) from schema text.
    pub fn with_output_schema_str(self, schema: &str) -> Result<Self, MetricsError> {
        let value: Value =
            serde_json::from_str(schema).map_err(|error| MetricsError::SchemaJson { error })?;
        self.with_output_schema(&value)
    }

    /// Sets the output full-match regex.
    pub fn with_output_regex(mut self, pattern: &str) -> Result<Self, MetricsError> {
        self.output_regex = Some(full_match_regex("output_regex", pattern)?);
        Ok(self)
    }

    /// Sets the input full-match regex.
    pub fn with_input_regex(mut self, pattern: &str) -> Result<Self, MetricsError> {
        self.input_regex = Some(full_match_regex("input_regex", pattern)?);
        Ok(self)
    }

    /// Whether `json_valid` is computed for outputs: format JSON, or a schema
    /// is set (a schema implies JSON).
    pub fn checks_json(&self) -> bool {
        self.output_format == OutputFormat::Json || self.output_schema.is_some()
    }
}

/// Compiles a JSON Schema for output validation (draft 2020-12 unless the
/// schema's `$schema` names another draft; `format` asserted; no remote
/// `$ref`). The error carries the schema error and its location.
pub fn compile_schema(schema: &Value) -> Result<jsonschema::Validator, MetricsError> {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| {
            let at = e.instance_path().to_string();
            let message = if at.is_empty() {
                e.to_string()
            } else {
                format!("{e} (at {at})")
            };
            MetricsError::Schema { message }
        })
}

/// Compiles `pattern` so that it must match the *whole* text: it is wrapped
/// as `\A(?:pattern)\z` (the same as `^(?:pattern)$` without multi-line
/// mode, but immune to flags set inside `pattern`). `field` names the
/// setting in errors (`output_regex`, `input_regex`).
pub fn full_match_regex(field: &'static str, pattern: &str) -> Result<Regex, MetricsError> {
    // Validate the pattern alone first, so a stray `)` cannot close our group
    // and compile as something else, and so errors point into the user's text.
    let err = |error| MetricsError::Regex {
        field,
        pattern: pattern.to_string(),
        error,
    };
    regex::Regex::new(pattern).map_err(err)?;
    Regex::new(&format!(r"\A(?:{pattern})\z")).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order_schema() -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["status", "items"],
            "properties": {
                "status": {"enum": ["ok", "error"]},
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["sku", "qty"],
                        "properties": {
                            "sku": {"type": "string", "minLength": 1},
                            "qty": {"type": "integer", "minimum": 1}
                        }
                    }
                },
                "note": {"type": "string"}
            },
            "additionalProperties": false
        })
    }

    #[test]
    fn schema_valid_and_invalid_instances() {
        let v = compile_schema(&order_schema()).unwrap();
        assert!(v.is_valid(&json!({"status": "ok", "items": [{"sku": "A1", "qty": 2}]})));
        assert!(v.is_valid(&json!({"status": "error", "items": [], "note": "x"})));
        // Missing required field.
        assert!(!v.is_valid(&json!({"status": "ok"})));
        // Value outside the enum.
        assert!(!v.is_valid(&json!({"status": "maybe", "items": []})));
        // Wrong type deep inside.
        assert!(!v.is_valid(&json!({"status": "ok", "items": [{"sku": "A1", "qty": "2"}]})));
        // Extra property.
        assert!(!v.is_valid(&json!({"status": "ok", "items": [], "extra": 1})));
    }

    #[test]
    fn formats_are_asserted() {
        let v = compile_schema(&json!({"type": "string", "format": "date"})).unwrap();
        assert!(v.is_valid(&json!("2024-02-29")));
        assert!(!v.is_valid(&json!("yesterday")));
    }

    #[test]
    fn invalid_schema_error_names_the_problem() {
        let err = compile_schema(&json!({"type": "strng"})).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("invalid output JSON Schema:"), "{msg}");
        assert!(msg.contains("strng"), "{msg}");

        let err = Expectations::default()
            .with_output_schema_str("{\"type\": ")
            .unwrap_err();
        assert!(matches!(err, MetricsError::SchemaJson { .. }));
        assert!(err.to_string().contains("not valid JSON"), "{err}");
    }

    #[test]
    fn unresolvable_remote_ref_is_an_error_not_a_fetch() {
        let err = compile_schema(&json!({"$ref": "https://example.invalid/s.json"})).unwrap_err();
        assert!(matches!(err, MetricsError::Schema { .. }), "{err}");
    }

    #[test]
    fn regex_is_full_match() {
        let re = full_match_regex("output_regex", "[a-z]+").unwrap();
        assert!(re.is_match("abc"));
        assert!(!re.is_match("abc1"));
        assert!(!re.is_match("1abc"));
        assert!(!re.is_match("abc\n"));
        // Alternation is grouped: "a|b" must not become "^a|b$".
        let re = full_match_regex("output_regex", "a|bc").unwrap();
        assert!(re.is_match("a") && re.is_match("bc"));
        assert!(!re.is_match("ax") && !re.is_match("xbc"));
        // Multi-line flag inside the pattern does not loosen the anchors.
        let re = full_match_regex("output_regex", "(?m)^x$").unwrap();
        assert!(re.is_match("x"));
        assert!(!re.is_match("x\ny"));
    }

    #[test]
    fn invalid_regex_error_names_field_and_pattern() {
        let err = Expectations::default()
            .with_input_regex("(abc")
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("invalid input_regex \"(abc\":"), "{msg}");
        // A stray ')' must not close the wrapping group and slip through.
        let err = full_match_regex("output_regex", "a)|(b").unwrap_err();
        assert!(err.to_string().contains("output_regex"), "{err}");
    }

    #[test]
    fn spec_compiles_and_infers_format() {
        let spec: ExpectationsSpec = serde_json::from_value(json!({
            "output_schema": {"type": "object"},
            "input_regex": "[A-Z].*"
        }))
        .unwrap();
        let e = Expectations::compile(&spec).unwrap();
        assert_eq!(e.output_format, OutputFormat::Json);
        assert!(e.output_schema.is_some() && e.input_regex.is_some());
        assert!(e.output_regex.is_none());

        let e = Expectations::compile(&ExpectationsSpec::default()).unwrap();
        assert_eq!(e.output_format, OutputFormat::Text);
        assert!(!e.checks_json());

        let bad = ExpectationsSpec {
            output_format: Some(OutputFormat::Text),
            output_schema: Some(json!({})),
            ..ExpectationsSpec::default()
        };
        assert!(matches!(
            Expectations::compile(&bad),
            Err(MetricsError::SchemaNeedsJson)
        ));
    }
}
