//! Metric values of many traces stored by column: what a run keeps of a
//! sample of a million traces once their texts are gone.

use super::catalogue::{Column, Metric, MetricId, MetricKind};
use super::values::TraceMetrics;

/// The values of some metrics over many traces, one column per metric: 4
/// bytes per count or share, 1 per flag, instead of a whole [`TraceMetrics`]
/// row (112 bytes) per trace. Reading a column gives exactly what the
/// [`MetricId`] accessors give on the rows it was built from.
#[derive(Debug, Clone, Default)]
pub struct MetricTable {
    metrics: Vec<MetricId>,
    columns: Vec<Values>,
    len: usize,
}

#[derive(Debug, Clone)]
enum Values {
    /// chars, words, tokens: always defined.
    Count(Vec<u32>),
    /// Shares and rates of words: NaN where the metric does not apply (a
    /// share is never NaN itself: it is only defined for a positive whole).
    Share(Vec<f32>),
    /// 0 false, 1 true, [`NO_FLAG`] where the metric does not apply.
    Flag(Vec<u8>),
    /// Labels (languages), interned: `names[code]`, [`NO_LABEL`] where the
    /// metric does not apply; 2 bytes a trace instead of 16.
    Label {
        names: Vec<&'static str>,
        codes: Vec<u16>,
    },
}

const NO_LABEL: u16 = u16::MAX;

const NO_FLAG: u8 = 2;

impl Values {
    fn for_metric(m: MetricId) -> Values {
        match (m.kind(), m.metric()) {
            (MetricKind::Numeric, Metric::Chars | Metric::Words | Metric::Tokens) => {
                Values::Count(Vec::new())
            }
            (MetricKind::Numeric, _) => Values::Share(Vec::new()),
            (MetricKind::Rate, _) => Values::Flag(Vec::new()),
            (MetricKind::Categorical, _) => Values::Label {
                names: Vec::new(),
                codes: Vec::new(),
            },
        }
    }

    fn push(&mut self, m: MetricId, row: &TraceMetrics) {
        match self {
            // Counts are u32 in the row; `number_of` widens them exactly.
            Values::Count(v) => v.push(m.number_of(row).map_or(0, |x| x as u32)),
            // Shares are f32 in the row; `number_of` widens them exactly.
            Values::Share(v) => v.push(m.number_of(row).map_or(f32::NAN, |x| x as f32)),
            Values::Flag(v) => v.push(m.flag_of(row).map_or(NO_FLAG, u8::from)),
            Values::Label { names, codes } => {
                let code = match m.category_of(row) {
                    None => NO_LABEL,
                    Some(label) => match names.iter().position(|n| *n == label) {
                        Some(i) => i as u16,
                        None => {
                            // A metric has a handful of labels (16 languages).
                            assert!(names.len() < usize::from(NO_LABEL), "too many labels");
                            names.push(label);
                            (names.len() - 1) as u16
                        }
                    },
                };
                codes.push(code);
            }
        }
    }

    fn reserve(&mut self, n: usize) {
        match self {
            Values::Count(v) => v.reserve(n),
            Values::Share(v) => v.reserve(n),
            Values::Flag(v) => v.reserve(n),
            Values::Label { codes, .. } => codes.reserve(n),
        }
    }
}

impl MetricTable {
    /// An empty table of `metrics`.
    pub fn new(metrics: &[MetricId]) -> Self {
        MetricTable {
            metrics: metrics.to_vec(),
            columns: metrics.iter().map(|m| Values::for_metric(*m)).collect(),
            len: 0,
        }
    }

    /// A table of `metrics` over `rows`.
    pub fn from_rows(metrics: &[MetricId], rows: &[TraceMetrics]) -> Self {
        let mut t = MetricTable::new(metrics);
        t.extend(rows);
        t
    }

    /// Appends `rows`.
    pub fn extend(&mut self, rows: &[TraceMetrics]) {
        for (m, col) in self.metrics.iter().zip(&mut self.columns) {
            col.reserve(rows.len());
            for row in rows {
                col.push(*m, row);
            }
        }
        self.len += rows.len();
    }

    /// Number of traces.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The metrics this table holds.
    pub fn metrics(&self) -> &[MetricId] {
        &self.metrics
    }

    fn values(&self, m: MetricId) -> Option<&Values> {
        let i = self.metrics.iter().position(|x| *x == m)?;
        Some(&self.columns[i])
    }

    /// Trace `i`'s value of `m` ([`MetricId::number_of`]); `None` where it does
    /// not apply, `m` is not numeric or not in the table, or `i` is out of range.
    pub fn number_at(&self, m: MetricId, i: usize) -> Option<f64> {
        match self.values(m)? {
            Values::Count(v) => v.get(i).map(|x| f64::from(*x)),
            Values::Share(v) => v.get(i).filter(|x| !x.is_nan()).map(|x| f64::from(*x)),
            _ => None,
        }
    }

    /// Trace `i`'s flag of `m` ([`MetricId::flag_of`]).
    pub fn flag_at(&self, m: MetricId, i: usize) -> Option<bool> {
        match self.values(m)? {
            Values::Flag(v) => v.get(i).filter(|x| **x != NO_FLAG).map(|x| *x == 1),
            _ => None,
        }
    }

    /// Trace `i`'s label of `m` ([`MetricId::category_of`]).
    pub fn category_at(&self, m: MetricId, i: usize) -> Option<&'static str> {
        match self.values(m)? {
            Values::Label { names, codes } => codes
                .get(i)
                .filter(|c| **c != NO_LABEL)
                .map(|c| names[usize::from(*c)]),
            _ => None,
        }
    }

    /// [`MetricId::numeric_column`] over the table's traces.
    pub fn numeric_column(&self, m: MetricId) -> Vec<f64> {
        match self.values(m) {
            Some(Values::Count(v)) => v.iter().map(|x| f64::from(*x)).collect(),
            Some(Values::Share(v)) => v
                .iter()
                .filter(|x| !x.is_nan())
                .map(|x| f64::from(*x))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// [`MetricId::rate_counts`] over the table's traces.
    pub fn rate_counts(&self, m: MetricId) -> (u64, u64) {
        match self.values(m) {
            Some(Values::Flag(v)) => v
                .iter()
                .filter(|x| **x != NO_FLAG)
                .fold((0, 0), |(s, n), x| (s + u64::from(*x), n + 1)),
            _ => (0, 0),
        }
    }

    /// [`MetricId::categories`] over the table's traces.
    pub fn categories(&self, m: MetricId) -> Vec<String> {
        match self.values(m) {
            Some(Values::Label { names, codes }) => codes
                .iter()
                .filter(|c| **c != NO_LABEL)
                .map(|c| names[usize::from(*c)].to_string())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// How many traces have each label of `m` (traces without one are not
    /// counted): [`MetricTable::categories`] tallied, without a string per trace.
    pub fn category_counts(&self, m: MetricId) -> std::collections::BTreeMap<&'static str, u64> {
        let mut out = std::collections::BTreeMap::new();
        if let Some(Values::Label { names, codes }) = self.values(m) {
            let mut per_code = vec![0u64; names.len()];
            for c in codes.iter().filter(|c| **c != NO_LABEL) {
                per_code[usize::from(*c)] += 1;
            }
            for (name, n) in names.iter().zip(per_code) {
                if n > 0 {
                    out.insert(*name, n);
                }
            }
        }
        out
    }

    /// [`MetricId::column`] over the table's traces.
    pub fn column(&self, m: MetricId) -> Column {
        match m.kind() {
            MetricKind::Numeric => Column::Numeric(self.numeric_column(m)),
            MetricKind::Rate => {
                let (successes, n) = self.rate_counts(m);
                Column::Rate { successes, n }
            }
            MetricKind::Categorical => Column::Categorical(self.categories(m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Expectations, Extractor, OutputFormat, TokenCounter, TokenizerSpec};

    /// Rows with every kind of value: JSON and prose outputs, empty texts,
    /// uppercase, non-ASCII, languages, OOV against a small vocabulary.
    fn rows() -> Vec<TraceMetrics> {
        let golden = [("reset my password", r#"{"answer": "click the link"}"#)];
        let x = Extractor::new(
            TokenCounter::new(&TokenizerSpec::O200kBase).unwrap(),
            Expectations::new(OutputFormat::Json)
                .with_input_regex("(?i)reset.*")
                .unwrap(),
        )
        .with_golden_vocabularies(&golden);
        let pairs = [
            (
                "reset my password please",
                r#"{"answer": "click the reset link"}"#,
            ),
            ("", ""),
            ("   ", "Sorry, I cannot help with that."),
            (
                "Je voudrais réserver une table pour deux personnes ce soir.",
                r#"{"answer": "Ich möchte heute Abend einen Tisch reservieren."}"#,
            ),
            ("RESET MY PASSWORD NOW", r#"{"answer": "cli"#),
            ("12345 ???", "{}"),
        ];
        x.extract_all(&pairs)
    }

    #[test]
    fn columns_equal_the_row_accessors() {
        let rows = rows();
        let mut table = MetricTable::new(&MetricId::ALL);
        table.extend(&rows[..2]);
        table.extend(&rows[2..]);
        assert_eq!(table.len(), rows.len());
        for m in MetricId::ALL {
            assert_eq!(table.column(m), m.column(&rows), "{m}");
            for (i, r) in rows.iter().enumerate() {
                assert_eq!(table.number_at(m, i), m.number_of(r), "{m} row {i}");
                assert_eq!(table.flag_at(m, i), m.flag_of(r), "{m} row {i}");
                assert_eq!(table.category_at(m, i), m.category_of(r), "{m} row {i}");
            }
        }
        // The data exercises every kind of value and the "does not apply" cases.
        let id = |s: &str| s.parse::<MetricId>().unwrap();
        assert_eq!(table.rate_counts(id("output.json_valid")), (3, 6));
        assert_eq!(table.rate_counts(id("input.regex_match")), (2, 6));
        assert!(table.numeric_column(id("input.oov_rate")).len() < rows.len());
        assert!(table.categories(id("output.language")).len() < rows.len());
        // Counts per label are the labels tallied; two languages in the data.
        for m in [id("input.language"), id("output.language")] {
            let mut tally = std::collections::BTreeMap::new();
            for c in table.categories(m) {
                *tally.entry(c).or_insert(0u64) += 1;
            }
            let counts = table.category_counts(m);
            assert_eq!(
                counts
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v))
                    .collect::<Vec<_>>(),
                tally.into_iter().collect::<Vec<_>>(),
                "{m}"
            );
            assert!(counts.len() >= 2, "{m}: {counts:?}");
        }
        assert_eq!(table.number_at(id("output.chars"), rows.len()), None);
    }

    #[test]
    fn metrics_not_in_the_table_are_empty() {
        let rows = rows();
        let chars: MetricId = "output.chars".parse().unwrap();
        let table = MetricTable::from_rows(&[chars], &rows);
        assert_eq!(table.metrics(), [chars]);
        let lang: MetricId = "input.language".parse().unwrap();
        let empty: MetricId = "input.empty".parse().unwrap();
        assert!(table.categories(lang).is_empty());
        assert_eq!(table.rate_counts(empty), (0, 0));
        assert_eq!(table.flag_at(empty, 0), None);
        assert_eq!(table.numeric_column(chars).len(), rows.len());
    }
}
