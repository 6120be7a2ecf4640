//! Silences: label matchers with a time window that mute matching alerts.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::rules::valid_label_name;

/// Matcher operator (Alertmanager syntax).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchOp {
    /// `=`: equal.
    Eq,
    /// `!=`: not equal.
    NotEq,
    /// `=~`: fully-anchored regex match.
    Regex,
    /// `!~`: fully-anchored regex does not match.
    NotRegex,
}

impl MatchOp {
    /// Operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::NotEq => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// One label matcher, e.g. `job=support`, `metric=~output.*`, `side!=input`.
///
/// A missing label matches as the empty string (Alertmanager semantics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Operator.
    pub op: MatchOp,
    /// Value or regex.
    pub value: String,
}

/// Why a matcher or silence was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    /// Could not parse `name op value`.
    #[error("bad matcher {input:?}: {why}")]
    BadMatcher {
        /// The text given.
        input: String,
        /// What is wrong.
        why: String,
    },
    /// A silence needs at least one matcher that does not match the empty string.
    #[error("a silence needs at least one matcher that does not match everything")]
    MatchesEverything,
    /// `ends_at <= starts_at`.
    #[error("silence ends ({ends_at}) before it starts ({starts_at})")]
    EmptyWindow {
        /// Start.
        starts_at: DateTime<Utc>,
        /// End.
        ends_at: DateTime<Utc>,
    },
}

impl Matcher {
    /// Builds a matcher, checking the label name and compiling any regex.
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Self, SilenceError> {
        let m = Matcher {
            name: name.into(),
            op,
            value: value.into(),
        };
        m.check()?;
        Ok(m)
    }

    fn check(&self) -> Result<(), SilenceError> {
        let bad = |why: String| SilenceError::BadMatcher {
            input: self.to_string(),
            why,
        };
        if !valid_label_name(&self.name) {
            return Err(bad(format!("invalid label name {:?}", self.name)));
        }
        if matches!(self.op, MatchOp::Regex | MatchOp::NotRegex) {
            anchored(&self.value).map_err(|e| bad(e.to_string()))?;
        }
        Ok(())
    }

    /// Whether the label set satisfies this matcher.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.name).map_or("", String::as_str);
        match self.op {
            MatchOp::Eq => v == self.value,
            MatchOp::NotEq => v != self.value,
            // An invalid regex (only possible via deserialisation) matches nothing.
            MatchOp::Regex => anchored(&self.value).is_ok_and(|re| re.is_match(v)),
            MatchOp::NotRegex => anchored(&self.value).is_ok_and(|re| !re.is_match(v)),
        }
    }
}

fn anchored(re: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{re})$"))
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = !self.value.is_empty()
            && self
                .value
                .chars()
                .all(|c| !c.is_whitespace() && c != '"' && c != ',' && c != '\\');
        if plain {
            write!(f, "{}{}{}", self.name, self.op.as_str(), self.value)
        } else {
            write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
        }
    }
}

impl FromStr for Matcher {
    type Err = SilenceError;

    /// Parses `name=value`, `name!=value`, `name=~regex`, `name!~regex`; the value may be
    /// double-quoted (with `\"` and `\\` escapes).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| SilenceError::BadMatcher {
            input: s.to_owned(),
            why: why.to_owned(),
        };
        let t = s.trim();
        let end = t
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .ok_or_else(|| bad("expected name=value, name!=value, name=~re or name!~re"))?;
        let (name, rest) = t.split_at(end);
        let name = name.trim();
        let rest = rest.trim_start();
        let (op, raw) = if let Some(r) = rest.strip_prefix("=~") {
            (MatchOp::Regex, r)
        } else if let Some(r) = rest.strip_prefix("!~") {
            (MatchOp::NotRegex, r)
        } else if let Some(r) = rest.strip_prefix("!=") {
            (MatchOp::NotEq, r)
        } else if let Some(r) = rest.strip_prefix('=') {
            (MatchOp::Eq, r)
        } else {
            return Err(bad("expected one of = != =~ !~ after the label name"));
        };
        let raw = raw.trim();
        let value = match raw.strip_prefix('"') {
            Some(q) => unquote(q).ok_or_else(|| bad("unterminated or malformed quoted value"))?,
            None => raw.to_owned(),
        };
        Matcher::new(name, op, value)
    }
}

fn unquote(q: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = q.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                c @ ('"' | '\\') => out.push(c),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            },
            '"' => return chars.as_str().trim().is_empty().then_some(out),
            c => out.push(c),
        }
    }
    None
}

/// Parses several matchers (e.g. CLI arguments).
pub fn parse_matchers<S: AsRef<str>>(items: &[S]) -> Result<Vec<Matcher>, SilenceError> {
    items.iter().map(|s| s.as_ref().parse()).collect()
}

/// Where a silence is in its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    /// Starts in the future.
    Pending,
    /// In force.
    Active,
    /// Over.
    Expired,
}

/// A silence: while `starts_at <= now < ends_at`, alerts matching every matcher are muted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// Id assigned by the store.
    pub id: String,
    /// All must match.
    pub matchers: Vec<Matcher>,
    /// Start (inclusive).
    pub starts_at: DateTime<Utc>,
    /// End (exclusive).
    pub ends_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

impl Silence {
    /// Checks window, matchers, and that it does not silence everything.
    pub fn validate(&self) -> Result<(), SilenceError> {
        if self.ends_at <= self.starts_at {
            return Err(SilenceError::EmptyWindow {
                starts_at: self.starts_at,
                ends_at: self.ends_at,
            });
        }
        for m in &self.matchers {
            m.check()?;
        }
        let empty = BTreeMap::new();
        if self.matchers.iter().all(|m| m.matches(&empty)) {
            return Err(SilenceError::MatchesEverything);
        }
        Ok(())
    }

    /// Pending, active or expired at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Whether every matcher matches (ignores the time window).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.matchers.is_empty() && self.matchers.iter().all(|m| m.matches(labels))
    }
}

/// The id of the first silence active at `now` that matches `labels`.
pub fn is_silenced<'a>(
    labels: &BTreeMap<String, String>,
    silences: &'a [Silence],
    now: DateTime<Utc>,
) -> Option<&'a str> {
    silences
        .iter()
        .find(|s| s.state(now) == SilenceState::Active && s.matches(labels))
        .map(|s| s.id.as_str())
}

#[cfg(test)]
mod tests {
    use super::super::tests::fixtures::t;
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn silence(id: &str, m: &[&str], from: i64, to: i64) -> Silence {
        Silence {
            id: id.into(),
            matchers: parse_matchers(m).unwrap(),
            starts_at: t(from),
            ends_at: t(to),
            created_by: "ops".into(),
            comment: "deploy".into(),
        }
    }

    #[test]
    fn parses_matchers() {
        let m: Matcher = "job=support".parse().unwrap();
        assert_eq!(
            (m.name.as_str(), m.op, m.value.as_str()),
            ("job", MatchOp::Eq, "support")
        );
        let m: Matcher = "metric=~output.*".parse().unwrap();
        assert_eq!((m.op, m.value.as_str()), (MatchOp::Regex, "output.*"));
        let m: Matcher = "side!=input".parse().unwrap();
        assert_eq!((m.op, m.value.as_str()), (MatchOp::NotEq, "input"));
        let m: Matcher = "metric!~\"input\\\\.len.*\"".parse().unwrap();
        assert_eq!(
            (m.op, m.value.as_str()),
            (MatchOp::NotRegex, "input\\.len.*")
        );
        let m: Matcher = r#"team = "ml ops""#.parse().unwrap();
        assert_eq!(m.value, "ml ops");
        assert_eq!(m.to_string(), r#"team="ml ops""#);
        assert_eq!(
            "side!=input".parse::<Matcher>().unwrap().to_string(),
            "side!=input"
        );
        for bad in ["job", "=x", "job~x", "metric=~(", "job=\"open", "9x=1"] {
            assert!(bad.parse::<Matcher>().is_err(), "{bad}");
        }
    }

    #[test]
    fn matching_semantics() {
        let l = labels(&[
            ("job", "support"),
            ("metric", "output.json_valid"),
            ("side", "output"),
        ]);
        let ok = |s: &str| s.parse::<Matcher>().unwrap().matches(&l);
        assert!(ok("job=support"));
        assert!(!ok("job=supp"));
        assert!(ok("metric=~output.*"));
        assert!(!ok("metric=~output"), "regex is anchored");
        assert!(ok("side!=input"));
        assert!(!ok("side!~out.*"));
        assert!(ok("team!=ml"), "missing label is empty");
        assert!(ok("team="));
    }

    #[test]
    fn silenced_only_inside_window() {
        let l = labels(&[
            ("job", "support"),
            ("metric", "output.json_valid"),
            ("side", "output"),
        ]);
        let s = vec![
            silence("other", &["job=billing"], 0, 1000),
            silence("s1", &["job=support", "metric=~output.*"], 100, 200),
        ];
        assert_eq!(is_silenced(&l, &s, t(99)), None, "pending");
        assert_eq!(is_silenced(&l, &s, t(100)), Some("s1"));
        assert_eq!(is_silenced(&l, &s, t(199)), Some("s1"));
        assert_eq!(is_silenced(&l, &s, t(200)), None, "expired");
        assert_eq!(s[1].state(t(50)), SilenceState::Pending);
        assert_eq!(s[1].state(t(150)), SilenceState::Active);
        assert_eq!(s[1].state(t(250)), SilenceState::Expired);
    }

    #[test]
    fn validation() {
        assert!(silence("a", &["job=x"], 0, 10).validate().is_ok());
        assert_eq!(
            silence("a", &["job=~.*"], 0, 10).validate(),
            Err(SilenceError::MatchesEverything)
        );
        assert_eq!(
            silence("a", &[], 0, 10).validate(),
            Err(SilenceError::MatchesEverything)
        );
        assert!(matches!(
            silence("a", &["job=x"], 10, 10).validate(),
            Err(SilenceError::EmptyWindow { .. })
        ));
        let json = serde_json::to_string(&silence("a", &["side!=input"], 0, 10)).unwrap();
        let back: Silence = serde_json::from_str(&json).unwrap();
        assert_eq!(back.matchers[0].op, MatchOp::NotEq);
    }
}
