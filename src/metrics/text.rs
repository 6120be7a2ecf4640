//! Low-level per-text scanners shared by the extractor and the vocabulary.

use std::sync::LazyLock;

use regex::Regex;
use serde::de::DeserializeSeed;

use crate::text::{push_piece, JsonWalk};

/// A word is either one CJK ideograph / kana (scripts written without spaces,
/// one word per character as in Lucene's StandardTokenizer), or a run of
/// letters, combining marks, digits and `_`, optionally joined by internal
/// apostrophes (`don't`, `l'homme`). Everything else (spaces, punctuation,
/// hyphens, symbols, emoji) separates words.
static WORD_RE: LazyLock<Regex> = LazyLock::new(|| {
    let cjk = r"\p{Han}\p{Hiragana}\p{Katakana}";
    let word = format!(r"[\p{{L}}\p{{M}}\p{{N}}_--[{cjk}]]");
    Regex::new(&format!(r"[{cjk}]|{word}+(?:['’]{word}+)*")).expect("word regex compiles")
});

/// Iterates the words of `text` (see [`WORD_RE`]), as they appear (not
/// lowercased).
///
/// An ASCII text (most traffic) is split by a byte scanner that gives the same
/// words as the regex (tested against it), about four times faster; any other
/// text goes through the regex.
pub(crate) fn words(text: &str) -> Words<'_> {
    if text.is_ascii() {
        Words::Ascii { text, at: 0 }
    } else {
        Words::Unicode(WORD_RE.find_iter(text))
    }
}

/// The iterator of [`words`].
pub(crate) enum Words<'a> {
    Ascii { text: &'a str, at: usize },
    Unicode(regex::Matches<'static, 'a>),
}

/// `[\p{L}\p{M}\p{N}_]` restricted to ASCII.
fn ascii_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match self {
            Words::Unicode(m) => m.next().map(|m| m.as_str()),
            Words::Ascii { text, at } => {
                let b = text.as_bytes();
                let mut i = *at;
                while i < b.len() && !ascii_word_byte(b[i]) {
                    i += 1;
                }
                if i == b.len() {
                    *at = i;
                    return None;
                }
                let start = i;
                loop {
                    while i < b.len() && ascii_word_byte(b[i]) {
                        i += 1;
                    }
                    // An internal apostrophe joins two runs (`don't`).
                    if i + 1 < b.len() && b[i] == b'\'' && ascii_word_byte(b[i + 1]) {
                        i += 1;
                    } else {
                        break;
                    }
                }
                *at = i;
                Some(&text[start..i])
            }
        }
    }
}

/// Character-class counts from one pass over a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct CharStats {
    /// Unicode scalar values (Python's `len(str)`), not grapheme clusters.
    pub chars: usize,
    pub non_ascii: usize,
    pub letters: usize,
    pub uppercase: usize,
    /// Whether the text is empty or whitespace-only.
    pub blank: bool,
}

pub(crate) fn char_stats(text: &str) -> CharStats {
    if text.is_ascii() {
        return ascii_char_stats(text.as_bytes());
    }
    unicode_char_stats(text)
}

/// [`char_stats`] of an all-ASCII text: each count is a plain sum over the
/// bytes, which the compiler vectorises (several times faster than decoding
/// chars, and most LLM traffic is ASCII).
fn ascii_char_stats(bytes: &[u8]) -> CharStats {
    let letters = bytes
        .iter()
        .map(|&b| usize::from((b | 0x20).wrapping_sub(b'a') < 26))
        .sum();
    let uppercase = bytes
        .iter()
        .map(|&b| usize::from(b.wrapping_sub(b'A') < 26))
        .sum();
    CharStats {
        chars: bytes.len(),
        letters,
        uppercase,
        non_ascii: 0,
        blank: bytes.iter().all(u8::is_ascii_whitespace),
    }
}

fn unicode_char_stats(text: &str) -> CharStats {
    let mut s = CharStats {
        blank: true,
        ..CharStats::default()
    };
    for c in text.chars() {
        s.chars += 1;
        if c.is_ascii() {
            if c.is_ascii_alphabetic() {
                s.letters += 1;
                s.uppercase += usize::from(c.is_ascii_uppercase());
            }
            s.blank &= c.is_ascii_whitespace();
        } else {
            s.non_ascii += 1;
            if c.is_alphabetic() {
                s.letters += 1;
                s.uppercase += usize::from(c.is_uppercase());
            }
            s.blank &= c.is_whitespace();
        }
    }
    s
}

/// Texts shorter than this (in non-whitespace-trimmed chars) get no language:
/// a character n-gram guess on a few words is noise.
pub(crate) const MIN_LANGUAGE_CHARS: usize = 20;
/// Only the first this-many bytes are used for language detection: the cost is
/// linear in length and accuracy has plateaued. On long real texts (translated
/// messages joined past 512 bytes, `cargo bench --bench language`) whichlang
/// names the language right for 98.6 % of them from 128 bytes, 99.2 % from 256
/// and 99.7 % from 512, at 1.8, 3.4 and 6.5 µs a text; English is right from
/// 48 bytes on (BENCHMARKS.md, "Language detection").
pub(crate) const MAX_LANGUAGE_BYTES: usize = 128;

/// ISO 639-3 code of the text's language (`None` when the text is short).
///
/// whichlang (Quickwit's detector: hashed character n-grams and a linear
/// model over 16 languages) rather than whatlang: measured on 32,000 real
/// English queries it runs at ≈ 1.7M texts/s against whatlang's ≈ 15k/s on one
/// core, and labels 99.7 % of them English where whatlang calls 76 % of them
/// unreliable; on real translated messages in its 16 languages it is right
/// 97 % of the time (whatlang: 57 %, 41 % unreliable). A text in another
/// language gets the nearest of the 16 (English for 6.5 % of such texts), so a
/// shift away from English still shows, under a neighbour's name
/// (BENCHMARKS.md, "Language detection").
pub(crate) fn language(text: &str) -> Option<&'static str> {
    let text = text.trim();
    let text = truncate_at_char_boundary(text, MAX_LANGUAGE_BYTES);
    // Cheap lower bound first: byte length >= char count.
    if text.len() < MIN_LANGUAGE_CHARS || text.chars().count() < MIN_LANGUAGE_CHARS {
        return None;
    }
    Some(whichlang::detect_language(text).three_letter_code())
}

fn truncate_at_char_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Checks that `text` is one JSON document and appends the document's string
/// *values* (not object keys) to `out`, separated by newlines, in one pass
/// and without building a `Value`. Returns whether the text is valid JSON;
/// on `false` the content of `out` is unspecified.
pub(crate) fn json_strings(text: &str, out: &mut String) -> bool {
    let mut de = serde_json::Deserializer::from_str(text);
    JsonWalk(Some(out)).deserialize(&mut de).is_ok() && de.end().is_ok()
}

/// Appends the string values inside a parsed JSON value to `out`.
pub(crate) fn value_strings(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::String(s) => push_piece(out, s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| value_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| value_strings(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-sum path for ASCII texts counts what the char loop counts, on
    /// every ASCII byte (controls, whitespace, punctuation, both cases).
    #[test]
    fn ascii_char_stats_equal_the_char_loop() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut texts: Vec<String> = vec![
            String::new(),
            " \t\n\r\x0c".into(),
            "\x0b".into(),
            "@[`{AZaz Hello, WORLD!".into(),
        ];
        for _ in 0..5_000 {
            let len = rng.random_range(0..80);
            texts.push(
                (0..len)
                    .map(|_| char::from(rng.random_range(0u8..128)))
                    .collect(),
            );
        }
        for t in &texts {
            assert!(t.is_ascii());
            assert_eq!(
                ascii_char_stats(t.as_bytes()),
                unicode_char_stats(t),
                "{t:?}"
            );
        }
        assert_eq!(
            char_stats("ABc d"),
            CharStats {
                chars: 5,
                non_ascii: 0,
                letters: 4,
                uppercase: 2,
                blank: false
            }
        );
    }

    #[test]
    fn the_ascii_word_scanner_splits_as_the_regex_does() {
        let regex = |t: &str| -> Vec<String> {
            WORD_RE
                .find_iter(t)
                .map(|m| m.as_str().to_string())
                .collect()
        };
        let fixed = [
            "Don't stop: it's 3'o clock, isn't it? 'quoted' x' 'y don''t",
            "{\"answer\": \"Send it back.\", \"confidence\": 0.7, \"intent\": \"refund\"}",
            "snake_case_word, e-mail, C++ & C#; 1,000.50 USD -- rock'n'roll''",
            "",
            "   ",
            "'",
            "a'",
            "'a",
        ];
        for t in fixed {
            let ours: Vec<&str> = words(t).collect();
            assert_eq!(ours, regex(t), "{t:?}");
        }
        // Random ASCII over an alphabet rich in separators and apostrophes.
        let alphabet = b"ab_Z09' '.,-\"{}:\t\n";
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..5000 {
            let n = (state >> 59) as usize + 1;
            let t: String = (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    alphabet[(state >> 33) as usize % alphabet.len()] as char
                })
                .collect();
            let ours: Vec<&str> = words(&t).collect();
            assert_eq!(ours, regex(&t), "{t:?}");
        }
    }

    fn ws(text: &str) -> Vec<&str> {
        words(text).collect()
    }

    #[test]
    fn char_counts_multibyte() {
        // Precomposed é (U+00E9) is one scalar, two UTF-8 bytes.
        let s = char_stats("café");
        assert_eq!((s.chars, s.non_ascii, s.letters), (4, 1, 4));
        // Decomposed e + U+0301 is two scalars; the mark is not a letter.
        let s = char_stats("cafe\u{301}");
        assert_eq!((s.chars, s.non_ascii, s.letters), (5, 1, 4));
        // Emoji: one scalar, four bytes; not a letter.
        let s = char_stats("hi 🙂");
        assert_eq!((s.chars, s.non_ascii, s.letters), (4, 1, 2));
        assert_eq!("hi 🙂".len(), 7);
        // ZWJ family emoji is several scalars (not grapheme clusters).
        assert_eq!(char_stats("👨‍👩‍👧").chars, 5);
        // CJK: three scalars, nine bytes, all letters, none uppercase.
        let s = char_stats("日本語");
        assert_eq!((s.chars, s.non_ascii, s.letters, s.uppercase), (3, 3, 3, 0));
    }

    #[test]
    fn blank_detection() {
        assert!(char_stats("").blank);
        assert!(char_stats(" \t\r\n").blank);
        assert!(char_stats("\u{00A0}\u{3000}").blank); // NBSP, ideographic space
        assert!(!char_stats(" x ").blank);
        assert!(!char_stats(".").blank);
    }

    #[test]
    fn uppercase_counts() {
        let s = char_stats("Hello WORLD 123 Ünïcode");
        assert_eq!(s.letters, 17);
        assert_eq!(s.uppercase, 7); // H W O R L D Ü
    }

    #[test]
    fn word_splitting() {
        assert_eq!(ws("Hello, world!"), ["Hello", "world"]);
        assert_eq!(ws("don't stop l’homme"), ["don't", "stop", "l’homme"]);
        assert_eq!(
            ws("well-known_thing 3.14"),
            ["well", "known_thing", "3", "14"]
        );
        assert_eq!(ws("'quoted'"), ["quoted"]);
        assert_eq!(ws("cafe\u{301} über"), ["cafe\u{301}", "über"]);
        assert_eq!(ws("東京に行く"), ["東", "京", "に", "行", "く"]);
        assert_eq!(ws("GPT-4o 日本 ok"), ["GPT", "4o", "日", "本", "ok"]);
        assert_eq!(ws("서울 특별시"), ["서울", "특별시"]);
        assert_eq!(ws("🙂 -- ..."), Vec::<&str>::new());
        assert_eq!(
            ws(r#"{"name": "Ada", "age": 36}"#),
            ["name", "Ada", "age", "36"]
        );
    }

    #[test]
    fn language_detection() {
        assert_eq!(
            language(
                "I was charged twice for the same subscription this month and would like a refund."
            ),
            Some("eng")
        );
        assert_eq!(
            language(
                "Je voudrais réserver une table pour deux personnes ce soir, s'il vous plaît."
            ),
            Some("fra")
        );
        assert_eq!(
            language("Ich möchte heute Abend einen Tisch für zwei Personen reservieren, bitte."),
            Some("deu")
        );
        assert_eq!(language("ok"), None);
        assert_eq!(language("   "), None);
        assert_eq!(language("Yes, thank you."), None); // < 20 chars
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let s = "é".repeat(MAX_LANGUAGE_BYTES); // twice the limit in bytes
        let t = truncate_at_char_boundary(&s, MAX_LANGUAGE_BYTES);
        assert!(t.len() <= MAX_LANGUAGE_BYTES && t.len() >= MAX_LANGUAGE_BYTES - 1);
    }

    #[test]
    fn json_validity_and_strings() {
        let mut out = String::new();
        assert!(json_strings(
            r#" {"answer": "Bonjour", "tags": ["a", {"k": "b"}], "n": 1.5, "ok": true, "x": null} "#,
            &mut out
        ));
        assert_eq!(out, "Bonjour\na\nb");
        for valid in ["1", "\"s\"", "[]", "{}", "null", "-0.5e10", " [1, 2]\n"] {
            assert!(json_strings(valid, &mut String::new()), "{valid}");
        }
        for invalid in [
            "",
            "   ",
            "{",
            r#"{"a": 1"#,               // truncated
            r#"{"a": "unterminated"#,   // truncated inside a string
            r#"{"a": 1,}"#,             // trailing comma
            r#"{'a': 1}"#,              // single quotes
            "```json\n{\"a\": 1}\n```", // fenced
            r#"{"a": 1} {"b": 2}"#,     // two documents
            r#"{"a": 1} trailing"#,
            "NaN",
            r#"{"\ud800": 1}"#,     // a lone surrogate in a key
            r#"{"a": ["\ud800"]}"#, // and in a value
        ] {
            assert!(!json_strings(invalid, &mut String::new()), "{invalid}");
            // The same verdict as the schema path, which parses a `Value`.
            assert!(
                serde_json::from_str::<serde_json::Value>(invalid).is_err(),
                "{invalid}"
            );
        }
        let v: serde_json::Value =
            serde_json::from_str(r#"{"a": "x", "b": [1, "y"], "c": {"d": "z"}}"#).unwrap();
        let mut out = String::new();
        value_strings(&v, &mut out);
        let mut pieces: Vec<&str> = out.split('\n').collect();
        pieces.sort_unstable();
        assert_eq!(pieces, ["x", "y", "z"]);
    }
}
