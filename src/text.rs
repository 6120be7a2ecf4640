//! Text helpers every layer may use (a leaf: imports nothing from the crate).

/// Shortens text for a table cell, on a char boundary: newlines become spaces and
/// text longer than `max` chars ends in `…` (the result has at most `max` chars).
pub fn truncate(s: &str, max: usize) -> String {
    let one_line: String = s.chars().map(|c| if c == '\n' { ' ' } else { c }).collect();
    ellipsize(one_line, max)
}

/// `s` unchanged when it has at most `max` chars, else its first `max - 1` chars and
/// `…`, cut on a char boundary.
pub fn ellipsize(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        s
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// An error and its sources on one line, `outer: inner: …` (as `{:#}` prints an
/// `anyhow::Error`).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A JSON object or array (a bare number or string is not evidence of a JSON
/// output contract).
pub fn is_json_document(s: &str) -> bool {
    json_document_error(s).is_none()
}

/// `s` parsed, when it is a JSON object or array (the same documents as
/// [`is_json_document`]).
pub fn json_document(s: &str) -> Option<serde_json::Value> {
    let t = s.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    serde_json::from_str(t).ok()
}

/// Why `s` is not a JSON object or array (`None` when it is): the parser's
/// message with line and column.
pub fn json_document_error(s: &str) -> Option<String> {
    let t = s.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return Some("not a JSON object or array".into());
    }
    serde_json::from_str::<serde::de::IgnoredAny>(t)
        .err()
        .map(|e| e.to_string())
}

/// Appends `s` to `out`, after a newline when `out` is not empty.
pub fn push_piece(out: &mut String, s: &str) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(s);
}

/// Reads one JSON value through without building it, as strictly as parsing
/// it into a `serde_json::Value` would (serde's `IgnoredAny` is laxer: it lets
/// an invalid `\u` escape through). With `Some(out)`, appends the value's
/// string *values* (not object keys) to `out` with [`push_piece`]. Used to
/// check a document and collect its text in one pass, and to skip the parts of
/// a record nobody reads.
pub struct JsonWalk<'a>(pub Option<&'a mut String>);

impl<'de> serde::de::DeserializeSeed<'de> for JsonWalk<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for JsonWalk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i128<E>(self, _: i128) -> Result<(), E> {
        Ok(())
    }
    fn visit_u128<E>(self, _: u128) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        if let Some(out) = self.0 {
            push_piece(out, v);
        }
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut out = self.0;
        while seq
            .next_element_seed(JsonWalk(out.as_deref_mut()))?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut out = self.0;
        while map.next_key_seed(JsonWalk(None))?.is_some() {
            map.next_value_seed(JsonWalk(out.as_deref_mut()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncate_keeps_short_text_and_cuts_long_text_on_a_char_boundary() {
        assert_eq!(truncate("a\nb", 5), "a b");
        assert_eq!(truncate("héllo wörld", 6), "héllo…");
        assert_eq!(truncate("ééé", 3), "ééé");
    }
}
