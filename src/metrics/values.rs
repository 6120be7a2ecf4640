//! What one trace measures: [`TextMetrics`] per side, [`TraceMetrics`] per trace.
//! `extract` computes them and `catalogue` names and reads them.

use serde::{Deserialize, Deserializer, Serialize};

/// Structural metrics of one text (a trace's input or output).
///
/// `Option` fields are `None` when the metric does not apply to the row;
/// the catalogue ([`MetricId`]) leaves such rows out of the
/// metric's column rather than counting them as 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextMetrics {
    /// Unicode scalar values (Python's `len(text)`), not bytes or graphemes.
    pub chars: u32,
    /// Words as split by this module: runs of letters/marks/digits/`_` (with
    /// internal apostrophes), each CJK ideograph or kana counting as one.
    pub words: u32,
    /// Tokens under the configured tokenizer.
    pub tokens: u32,
    /// Empty or whitespace-only.
    pub empty: bool,
    /// Output only, and only when JSON is expected (format `json` or a
    /// schema is set): whether the whole text is one JSON document.
    pub json_valid: Option<bool>,
    /// Output only, when a schema is set: valid JSON satisfying the schema
    /// (invalid JSON counts as `false`).
    pub schema_valid: Option<bool>,
    /// When a regex is set for this side: whether it matches the whole text.
    pub regex_match: Option<bool>,
    /// ISO 639-3 code of one of whichlang's 16 languages; `None` when the
    /// text is shorter than 20 chars. For valid JSON outputs it is
    /// detected on the document's string values, not on the raw JSON.
    #[serde(deserialize_with = "deserialize_language")]
    pub language: Option<LanguageCode>,
    /// Non-ASCII chars / chars; `None` for an empty text.
    pub non_ascii_share: Option<f32>,
    /// Uppercase letters / letters; `None` when there are no letters.
    pub uppercase_share: Option<f32>,
    /// Share of words not in the side's vocabulary; `None` without a
    /// vocabulary or without words.
    pub oov_rate: Option<f32>,
}

/// An ISO 639-3 language code such as `"eng"`. (An alias, which
/// also keeps serde's derive from demanding `'de: 'static`.)
pub type LanguageCode = &'static str;

/// Metrics of one trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceMetrics {
    pub input: TextMetrics,
    pub output: TextMetrics,
}

/// Maps a stored language code back to its `&'static str` (unknown codes
/// become `None`).
fn deserialize_language<'de, D: Deserializer<'de>>(d: D) -> Result<Option<LanguageCode>, D::Error> {
    let code = Option::<String>::deserialize(d)?;
    Ok(code.and_then(|c| language_code(&c)))
}

/// The `&'static` ISO 639-3 code equal to `code`, if the detector knows it
/// (for turning stored codes back into [`TextMetrics::language`]).
pub fn language_code(code: &str) -> Option<LanguageCode> {
    whichlang::LANGUAGES
        .iter()
        .map(|l| l.three_letter_code())
        .find(|c| *c == code)
}
