use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::values::{TextMetrics, TraceMetrics};

/// Which text of a trace a metric is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Input,
    Output,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Input => "input",
            Side::Output => "output",
        }
    }

    /// The side's metrics within a trace's.
    pub fn of(self, row: &TraceMetrics) -> &TextMetrics {
        match self {
            Side::Input => &row.input,
            Side::Output => &row.output,
        }
    }
}

/// How a metric's column is compared between two samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// Real values (e.g. a two-sample KS test): [`MetricId::numeric_column`].
    Numeric,
    /// Boolean per row, compared as a share: [`MetricId::rate_counts`].
    Rate,
    /// Labels (e.g. a chi-squared test): [`MetricId::categories`].
    Categorical,
}

/// A metric irrespective of side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    Chars,
    Words,
    Tokens,
    Empty,
    JsonValid,
    SchemaValid,
    RegexMatch,
    Language,
    NonAsciiShare,
    UppercaseShare,
    OovRate,
}

impl Metric {
    pub fn kind(self) -> MetricKind {
        match self {
            Metric::Chars
            | Metric::Words
            | Metric::Tokens
            | Metric::NonAsciiShare
            | Metric::UppercaseShare
            | Metric::OovRate => MetricKind::Numeric,
            Metric::Empty | Metric::JsonValid | Metric::SchemaValid | Metric::RegexMatch => {
                MetricKind::Rate
            }
            Metric::Language => MetricKind::Categorical,
        }
    }

    /// Field name in [`TextMetrics`], e.g. `json_valid`.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Chars => "chars",
            Metric::Words => "words",
            Metric::Tokens => "tokens",
            Metric::Empty => "empty",
            Metric::JsonValid => "json_valid",
            Metric::SchemaValid => "schema_valid",
            Metric::RegexMatch => "regex_match",
            Metric::Language => "language",
            Metric::NonAsciiShare => "non_ascii_share",
            Metric::UppercaseShare => "uppercase_share",
            Metric::OovRate => "oov_rate",
        }
    }

    fn number(self, m: &TextMetrics) -> Option<f64> {
        match self {
            Metric::Chars => Some(f64::from(m.chars)),
            Metric::Words => Some(f64::from(m.words)),
            Metric::Tokens => Some(f64::from(m.tokens)),
            Metric::NonAsciiShare => m.non_ascii_share.map(f64::from),
            Metric::UppercaseShare => m.uppercase_share.map(f64::from),
            Metric::OovRate => m.oov_rate.map(f64::from),
            _ => None,
        }
    }

    fn flag(self, m: &TextMetrics) -> Option<bool> {
        match self {
            Metric::Empty => Some(m.empty),
            Metric::JsonValid => m.json_valid,
            Metric::SchemaValid => m.schema_valid,
            Metric::RegexMatch => m.regex_match,
            _ => None,
        }
    }

    fn category(self, m: &TextMetrics) -> Option<&'static str> {
        match self {
            // Empty texts have no language at all: leave them out (the
            // `empty` rate covers them) rather than inflate "und".
            Metric::Language if !m.empty => Some(m.language.unwrap_or(UNDETERMINED)),
            _ => None,
        }
    }
}

/// Category for a non-empty text whose language was not determined (ISO
/// 639-2 "undetermined").
pub const UNDETERMINED: &str = "und";

/// One column of a metric over many rows, `None`s left out.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Numeric(Vec<f64>),
    Rate { successes: u64, n: u64 },
    Categorical(Vec<String>),
}

impl Column {
    /// Number of rows the metric applied to.
    pub fn len(&self) -> usize {
        match self {
            Column::Numeric(v) => v.len(),
            Column::Rate { n, .. } => *n as usize,
            Column::Categorical(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A metric on one side: the unit the analysis runner tests golden vs
/// production, e.g. `output.json_valid`. [`MetricId::ALL`] is the
/// catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricId {
    side: Side,
    metric: Metric,
}

impl MetricId {
    /// Every metric, outputs first. Inputs have no `json_valid` or
    /// `schema_valid` (those are output expectations).
    pub const ALL: [MetricId; 20] = {
        use Metric::*;
        const fn id(side: Side, metric: Metric) -> MetricId {
            MetricId { side, metric }
        }
        [
            id(Side::Output, Chars),
            id(Side::Output, Words),
            id(Side::Output, Tokens),
            id(Side::Output, Empty),
            id(Side::Output, JsonValid),
            id(Side::Output, SchemaValid),
            id(Side::Output, RegexMatch),
            id(Side::Output, Language),
            id(Side::Output, NonAsciiShare),
            id(Side::Output, UppercaseShare),
            id(Side::Output, OovRate),
            id(Side::Input, Chars),
            id(Side::Input, Words),
            id(Side::Input, Tokens),
            id(Side::Input, Empty),
            id(Side::Input, RegexMatch),
            id(Side::Input, Language),
            id(Side::Input, NonAsciiShare),
            id(Side::Input, UppercaseShare),
            id(Side::Input, OovRate),
        ]
    };

    /// `None` for combinations that do not exist (input JSON checks).
    pub fn new(side: Side, metric: Metric) -> Option<Self> {
        let id = MetricId { side, metric };
        Self::ALL.contains(&id).then_some(id)
    }

    pub fn side(self) -> Side {
        self.side
    }

    pub fn metric(self) -> Metric {
        self.metric
    }

    pub fn kind(self) -> MetricKind {
        self.metric.kind()
    }

    /// Stable dotted name, e.g. `output.chars`, `input.oov_rate`.
    pub fn name(self) -> &'static str {
        use Metric::*;
        match (self.side, self.metric) {
            (Side::Output, Chars) => "output.chars",
            (Side::Output, Words) => "output.words",
            (Side::Output, Tokens) => "output.tokens",
            (Side::Output, Empty) => "output.empty",
            (Side::Output, JsonValid) => "output.json_valid",
            (Side::Output, SchemaValid) => "output.schema_valid",
            (Side::Output, RegexMatch) => "output.regex_match",
            (Side::Output, Language) => "output.language",
            (Side::Output, NonAsciiShare) => "output.non_ascii_share",
            (Side::Output, UppercaseShare) => "output.uppercase_share",
            (Side::Output, OovRate) => "output.oov_rate",
            (Side::Input, Chars) => "input.chars",
            (Side::Input, Words) => "input.words",
            (Side::Input, Tokens) => "input.tokens",
            (Side::Input, Empty) => "input.empty",
            (Side::Input, JsonValid) => "input.json_valid",
            (Side::Input, SchemaValid) => "input.schema_valid",
            (Side::Input, RegexMatch) => "input.regex_match",
            (Side::Input, Language) => "input.language",
            (Side::Input, NonAsciiShare) => "input.non_ascii_share",
            (Side::Input, UppercaseShare) => "input.uppercase_share",
            (Side::Input, OovRate) => "input.oov_rate",
        }
    }

    /// The metric's values over `rows`, rows where it is `None` left out.
    /// Empty for a metric that is not [`MetricKind::Numeric`].
    pub fn numeric_column(self, rows: &[TraceMetrics]) -> Vec<f64> {
        rows.iter()
            .filter_map(|r| self.metric.number(self.side.of(r)))
            .collect()
    }

    /// `(rows where true, rows where defined)`. `(0, 0)` for a metric that
    /// is not [`MetricKind::Rate`] or never applies.
    pub fn rate_counts(self, rows: &[TraceMetrics]) -> (u64, u64) {
        rows.iter()
            .filter_map(|r| self.metric.flag(self.side.of(r)))
            .fold((0, 0), |(s, n), b| (s + u64::from(b), n + 1))
    }

    /// One label per row where defined: the ISO 639-3 language code, or
    /// [`UNDETERMINED`] for a non-empty text without a reliable language;
    /// empty texts are left out. Empty for a metric that is not
    /// [`MetricKind::Categorical`].
    pub fn categories(self, rows: &[TraceMetrics]) -> Vec<String> {
        rows.iter()
            .filter_map(|r| self.metric.category(self.side.of(r)))
            .map(str::to_owned)
            .collect()
    }

    /// The metric's value in one row (what [`numeric_column`](Self::numeric_column)
    /// collects); `None` where it does not apply or is not numeric.
    pub fn number_of(self, row: &TraceMetrics) -> Option<f64> {
        self.metric.number(self.side.of(row))
    }

    /// The metric's flag in one row (what [`rate_counts`](Self::rate_counts)
    /// counts); `None` where it does not apply or is not a rate.
    pub fn flag_of(self, row: &TraceMetrics) -> Option<bool> {
        self.metric.flag(self.side.of(row))
    }

    /// The metric's label in one row (what [`categories`](Self::categories)
    /// collects); `None` for an empty text or a non-categorical metric.
    pub fn category_of(self, row: &TraceMetrics) -> Option<&'static str> {
        self.metric.category(self.side.of(row))
    }

    /// The column matching [`kind`](Self::kind).
    pub fn column(self, rows: &[TraceMetrics]) -> Column {
        match self.kind() {
            MetricKind::Numeric => Column::Numeric(self.numeric_column(rows)),
            MetricKind::Rate => {
                let (successes, n) = self.rate_counts(rows);
                Column::Rate { successes, n }
            }
            MetricKind::Categorical => Column::Categorical(self.categories(rows)),
        }
    }
}

impl fmt::Display for MetricId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for an unknown metric name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown metric {0:?} (expected e.g. \"output.chars\" or \"input.language\")")]
pub struct UnknownMetric(pub String);

impl FromStr for MetricId {
    type Err = UnknownMetric;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|id| id.name() == s)
            .ok_or_else(|| UnknownMetric(s.to_string()))
    }
}

impl Serialize for MetricId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for MetricId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(words: u32, json_valid: Option<bool>, language: Option<&'static str>) -> TextMetrics {
        TextMetrics {
            chars: words * 5,
            words,
            tokens: words + 1,
            empty: words == 0,
            json_valid,
            schema_valid: None,
            regex_match: None,
            language,
            non_ascii_share: (words > 0).then_some(0.5),
            uppercase_share: None,
            oov_rate: (words > 0).then(|| 1.0 / words as f32),
        }
    }

    fn rows() -> Vec<TraceMetrics> {
        vec![
            TraceMetrics {
                input: text(4, None, Some("eng")),
                output: text(2, Some(true), Some("fra")),
            },
            TraceMetrics {
                input: text(0, None, None),
                output: text(0, Some(false), None),
            },
            TraceMetrics {
                input: text(1, None, None),
                output: text(8, Some(true), Some("fra")),
            },
        ]
    }

    fn id(name: &str) -> MetricId {
        name.parse().unwrap()
    }

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut names: Vec<&str> = MetricId::ALL.iter().map(|m| m.name()).collect();
        for m in MetricId::ALL {
            assert_eq!(m.name().parse::<MetricId>().unwrap(), m);
            assert_eq!(
                m.name(),
                format!("{}.{}", m.side().as_str(), m.metric().as_str())
            );
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(serde_json::from_str::<MetricId>(&json).unwrap(), m);
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), MetricId::ALL.len());
        assert!("input.json_valid".parse::<MetricId>().is_err());
        assert!("output.nope".parse::<MetricId>().is_err());
        assert_eq!(MetricId::new(Side::Input, Metric::SchemaValid), None);
        assert_eq!(
            MetricId::new(Side::Input, Metric::OovRate).map(MetricId::name),
            Some("input.oov_rate")
        );
    }

    #[test]
    fn kinds() {
        assert_eq!(id("output.chars").kind(), MetricKind::Numeric);
        assert_eq!(id("input.oov_rate").kind(), MetricKind::Numeric);
        assert_eq!(id("output.json_valid").kind(), MetricKind::Rate);
        assert_eq!(id("input.empty").kind(), MetricKind::Rate);
        assert_eq!(id("input.language").kind(), MetricKind::Categorical);
        assert_eq!(id("input.language").side(), Side::Input);
    }

    #[test]
    fn columns_skip_none() {
        let rows = rows();
        assert_eq!(id("output.words").numeric_column(&rows), [2.0, 0.0, 8.0]);
        assert_eq!(id("input.tokens").numeric_column(&rows), [5.0, 1.0, 2.0]);
        // oov_rate / non_ascii_share are None for the empty row: skipped, not 0.
        assert_eq!(id("output.oov_rate").numeric_column(&rows), [0.5, 0.125]);
        assert_eq!(
            id("input.non_ascii_share").numeric_column(&rows),
            [0.5, 0.5]
        );
        assert!(id("output.uppercase_share")
            .numeric_column(&rows)
            .is_empty());
        assert_eq!(id("output.json_valid").rate_counts(&rows), (2, 3));
        assert_eq!(id("output.schema_valid").rate_counts(&rows), (0, 0));
        assert_eq!(id("input.empty").rate_counts(&rows), (1, 3));
        // Empty texts leave the language column; undetermined ones are "und".
        assert_eq!(id("input.language").categories(&rows), ["eng", "und"]);
        assert_eq!(id("output.language").categories(&rows), ["fra", "fra"]);
        // Wrong-kind accessors give empty results.
        assert!(id("output.language").numeric_column(&rows).is_empty());
        assert!(id("output.chars").categories(&rows).is_empty());
        assert_eq!(id("output.chars").rate_counts(&rows), (0, 0));
        assert_eq!(
            id("output.json_valid").column(&rows),
            Column::Rate { successes: 2, n: 3 }
        );
        assert_eq!(id("output.oov_rate").column(&rows).len(), 2);
        assert!(id("output.schema_valid").column(&rows).is_empty());
    }
}
