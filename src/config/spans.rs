//! Collects every deserialization error of a TOML document, not just the first.
//!
//! serde stops at the first error. To report them all we deserialize, note the
//! failing key path (serde_path_to_error), remove that key from a copy of the
//! document and try again, up to a bound. Line and column come from the spans of
//! the original document (toml_edit), looked up by key path.

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use super::ConfigError;

const MAX_ERRORS: usize = 64;

/// Deserializes `text` into `T`, returning the value (if it finally parsed) and
/// every error found on the way. A syntax error is returned as `Err`.
pub fn deserialize_collecting<T: DeserializeOwned>(
    text: &str,
) -> Result<(Option<T>, Vec<ConfigError>), Vec<ConfigError>> {
    // `toml` first: on some malformed documents toml_edit's parser panics
    // (found by fuzzing, toml_edit 0.23.10), so it only ever sees valid TOML.
    let mut value: toml::Table = match toml::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let mut err = ConfigError::new("", format!("invalid TOML: {}", e.message()));
            if let Some(span) = e.span() {
                let (l, c) = line_col(text, span.start);
                err.line = Some(l);
                err.column = Some(c);
            }
            return Err(vec![err]);
        }
    };
    // Spans only: without them errors still name their keys.
    let doc = edit_document(text);
    let mut errors = Vec::new();
    for _ in 0..MAX_ERRORS {
        match serde_path_to_error::deserialize::<_, T>(toml::Value::Table(value.clone())) {
            Ok(v) => return Ok((Some(v), errors)),
            Err(e) => {
                let mut segs: Vec<Seg> = e.path().iter().filter_map(Seg::from_segment).collect();
                let raw = e.inner().message().to_string();
                let message = if let Some(rest) = raw.strip_prefix("unknown field `") {
                    let name = rest.split('`').next().unwrap_or_default().to_string();
                    if segs.last() != Some(&Seg::Key(name.clone())) {
                        segs.push(Seg::Key(name));
                    }
                    match rest.split_once(", expected ") {
                        Some((_, expected)) => format!("unknown key, expected {expected}"),
                        None => "unknown key".to_string(),
                    }
                } else {
                    raw.clone()
                };
                let mut err = ConfigError::new(path_string(&segs), message);
                if let Some(offset) = doc.as_ref().and_then(|d| span_of(d.as_item(), &segs)) {
                    let (l, c) = line_col(text, offset);
                    err.line = Some(l);
                    err.column = Some(c);
                }
                let removable = !raw.starts_with("missing field") && remove(&mut value, &segs);
                errors.push(err);
                if !removable {
                    return Ok((None, errors));
                }
            }
        }
    }
    Ok((None, errors))
}

/// Fills in line and column of an error from the validation stage by its path.
pub fn locate(text: &str, err: &mut ConfigError) {
    if err.line.is_some() {
        return;
    }
    let Some(doc) = edit_document(text) else {
        return;
    };
    let segs = parse_path(&err.path);
    // Walk back up the path until something is found in the file.
    for n in (1..=segs.len()).rev() {
        if let Some(offset) = span_of(doc.as_item(), &segs[..n]) {
            let (l, c) = line_col(text, offset);
            err.line = Some(l);
            err.column = Some(c);
            return;
        }
    }
}

/// The document with spans, for line and column; `None` if toml_edit rejects
/// it or panics on it (it is only given text `toml` accepted).
fn edit_document(text: &str) -> Option<toml_edit::Document<String>> {
    std::panic::catch_unwind(|| toml_edit::Document::parse(text.to_string()).ok())
        .ok()
        .flatten()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

impl Seg {
    fn from_segment(s: &Segment) -> Option<Seg> {
        match s {
            Segment::Map { key } => Some(Seg::Key(key.clone())),
            Segment::Seq { index } => Some(Seg::Index(*index)),
            Segment::Enum { .. } | Segment::Unknown => None,
        }
    }
}

fn path_string(segs: &[Seg]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn parse_path(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(b) = rest.find('[') {
            if b > 0 {
                out.push(Seg::Key(rest[..b].to_string()));
            }
            rest = &rest[b..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let end = stripped.find(']').unwrap_or(stripped.len());
                if let Ok(i) = stripped[..end].parse() {
                    out.push(Seg::Index(i));
                }
                rest = stripped.get(end + 1..).unwrap_or("");
            }
        } else if !rest.is_empty() {
            out.push(Seg::Key(rest.to_string()));
        }
    }
    out
}

/// Byte offset of the last key (or element) of `segs` in the parsed document.
fn span_of(root: &toml_edit::Item, segs: &[Seg]) -> Option<usize> {
    enum Node<'a> {
        Item(&'a toml_edit::Item),
        Value(&'a toml_edit::Value),
    }
    let mut node = Node::Item(root);
    let mut last = None;
    for (n, seg) in segs.iter().enumerate() {
        match seg {
            Seg::Key(k) => {
                let (key, item) = match node {
                    Node::Item(i) => i.as_table_like()?.get_key_value(k)?,
                    Node::Value(v) => v.as_inline_table()?.get_key_value(k)?,
                };
                last = key.span().map(|s| s.start).or(last);
                node = Node::Item(item);
            }
            Seg::Index(i) => match node {
                Node::Item(item) => {
                    if let Some(aot) = item.as_array_of_tables() {
                        let t = aot.get(*i)?;
                        return walk_table(t, &segs[n + 1..]).or(last);
                    }
                    let v = item.as_array()?.get(*i)?;
                    last = v.span().map(|s| s.start).or(last);
                    node = Node::Value(v);
                }
                Node::Value(v) => {
                    let v = v.as_array()?.get(*i)?;
                    last = v.span().map(|s| s.start).or(last);
                    node = Node::Value(v);
                }
            },
        }
    }
    last
}

fn walk_table(t: &toml_edit::Table, rest: &[Seg]) -> Option<usize> {
    let Some((first, tail)) = rest.split_first() else {
        return t.span().map(|s| s.start);
    };
    let Seg::Key(k) = first else { return None };
    let (key, item) = t.get_key_value(k)?;
    let here = key.span().map(|s| s.start);
    if tail.is_empty() {
        return here;
    }
    span_of(item, tail).or(here)
}

fn remove(table: &mut toml::Table, segs: &[Seg]) -> bool {
    let Some((last, parents)) = segs.split_last() else {
        return false;
    };
    let mut cur: &mut toml::Value = match parents.first() {
        None => {
            return match last {
                Seg::Key(k) => table.remove(k).is_some(),
                Seg::Index(_) => false,
            }
        }
        Some(Seg::Key(k)) => match table.get_mut(k) {
            Some(v) => v,
            None => return false,
        },
        Some(Seg::Index(_)) => return false,
    };
    for seg in &parents[1..] {
        cur = match (seg, cur) {
            (Seg::Key(k), toml::Value::Table(t)) => match t.get_mut(k) {
                Some(v) => v,
                None => return false,
            },
            (Seg::Index(i), toml::Value::Array(a)) => match a.get_mut(*i) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, cur) {
        (Seg::Key(k), toml::Value::Table(t)) => t.remove(k).is_some(),
        (Seg::Index(i), toml::Value::Array(a)) if *i < a.len() => {
            a.remove(*i);
            true
        }
        _ => false,
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_path_handles_indices() {
        assert_eq!(
            parse_path("jobs[2].rules[0].name"),
            vec![
                Seg::Key("jobs".into()),
                Seg::Index(2),
                Seg::Key("rules".into()),
                Seg::Index(0),
                Seg::Key("name".into())
            ]
        );
    }

    #[test]
    fn line_col_counts_chars() {
        assert_eq!(line_col("a\nbé c", 6), (2, 4));
    }

    /// A document on which toml_edit 0.23.10's parser panicked (found by
    /// `scripts/fuzz.sh config_load`): a clear error, no panic.
    #[test]
    fn malformed_toml_is_an_error_not_a_panic() {
        let text = "===[ 100\nmax_t[jobs]]\nna%ke = \"j\"\na\u{5}\u{0}h1 =5g a\n.olden_set = \"\u{0}\u{0}\u{0}\u{0} t = \"\u{0}\u{0}\u{0}\u{0} 0 tes =0 tes =  = \"loingest]\nbatcveds  ";
        let errs = deserialize_collecting::<toml::Table>(text).unwrap_err();
        assert!(errs[0].message.starts_with("invalid TOML"), "{errs:?}");
        assert!(errs[0].line.is_some());
    }
}
