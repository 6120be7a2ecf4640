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
