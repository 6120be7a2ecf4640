use std::collections::HashMap;
use std::sync::Arc;

use super::catalogue::{Metric, MetricId, Side};
use super::expect::Expectations;
use super::text::{char_stats, json_strings, language, value_strings, words};
use super::tokens::TokenCounter;
use super::values::{TextMetrics, TraceMetrics};
use super::vocab::Vocabulary;
use rayon::prelude::*;

/// Which OOV reference a row is scored against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Rows not in the vocabulary's corpus.
    Production,
    /// Rows of the corpus itself: leave-one-out.
    Golden,
}

/// Extracts [`TraceMetrics`]. Build once per run (tokenizer, compiled schema,
/// regexes, vocabularies) and call from any number of threads.
#[derive(Debug, Clone)]
pub struct Extractor {
    tokens: TokenCounter,
    expectations: Expectations,
    /// Shared: the language-detecting copy of a run's extractor uses the same.
    input_vocab: Option<Arc<Vocabulary>>,
    output_vocab: Option<Arc<Vocabulary>>,
    detect_language: bool,
}

thread_local! {
    /// The string values of a JSON output, which its language is detected on.
    static LANG_TEXT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

impl Extractor {
    /// An extractor without vocabularies (`oov_rate` is `None`).
    pub fn new(tokens: TokenCounter, expectations: Expectations) -> Self {
        Extractor {
            tokens,
            expectations,
            input_vocab: None,
            output_vocab: None,
            detect_language: true,
        }
    }

    /// Turns language detection on (the default) or off. whatlang costs a
    /// roughly fixed 100–300 µs per text — most of the extraction time — so
    /// a run over millions of traces may prefer to skip it; `language` is
    /// then `None` everywhere and the language metrics are not
    /// [applicable](Self::applicable_metrics).
    pub fn with_language_detection(mut self, on: bool) -> Self {
        self.detect_language = on;
        self
    }

    /// Sets the vocabularies inputs and outputs are scored against.
    pub fn with_vocabularies(
        mut self,
        input: Option<Vocabulary>,
        output: Option<Vocabulary>,
    ) -> Self {
        self.input_vocab = input.map(Arc::new);
        self.output_vocab = output.map(Arc::new);
        self
    }

    /// Builds the input and output vocabularies from golden `(input, output)`
    /// pairs. Score those same pairs with [`extract_golden_all`]
    /// (leave-one-out OOV), production pairs with [`extract_all`].
    ///
    /// [`extract_golden_all`]: Self::extract_golden_all
    /// [`extract_all`]: Self::extract_all
    pub fn with_golden_vocabularies<S: AsRef<str> + Sync>(self, golden: &[(S, S)]) -> Self {
        let (input, output) = rayon::join(
            || Vocabulary::from_texts(golden.iter().map(|(i, _)| i.as_ref())),
            || Vocabulary::from_texts(golden.iter().map(|(_, o)| o.as_ref())),
        );
        self.with_vocabularies(Some(input), Some(output))
    }

    pub fn token_counter(&self) -> &TokenCounter {
        &self.tokens
    }

    pub fn expectations(&self) -> &Expectations {
        &self.expectations
    }

    pub fn input_vocabulary(&self) -> Option<&Vocabulary> {
        self.input_vocab.as_deref()
    }

    pub fn output_vocabulary(&self) -> Option<&Vocabulary> {
        self.output_vocab.as_deref()
    }

    /// The catalogue entries that can have values with this extractor's
    /// expectations, vocabularies and language setting, in catalogue order:
    /// what an analysis runner should test. The others would only ever
    /// produce empty columns.
    pub fn applicable_metrics(&self) -> Vec<MetricId> {
        let e = &self.expectations;
        MetricId::ALL
            .into_iter()
            .filter(|id| match (id.side(), id.metric()) {
                (Side::Output, Metric::JsonValid) => e.checks_json(),
                (Side::Output, Metric::SchemaValid) => e.output_schema.is_some(),
                (Side::Output, Metric::RegexMatch) => e.output_regex.is_some(),
                (Side::Input, Metric::RegexMatch) => e.input_regex.is_some(),
                (Side::Output, Metric::OovRate) => self.output_vocab.is_some(),
                (Side::Input, Metric::OovRate) => self.input_vocab.is_some(),
                (_, Metric::Language) => self.detect_language,
                _ => true,
            })
            .collect()
    }

    /// Metrics of one production trace.
    pub fn extract(&self, input: &str, output: &str) -> TraceMetrics {
        self.trace(input, output, Origin::Production)
    }

    /// Metrics of one golden trace whose texts are part of the vocabularies'
    /// corpus: `oov_rate` is leave-one-out (see
    /// [`Vocabulary::oov_rate_held_out`]). Everything else equals
    /// [`extract`](Self::extract).
    pub fn extract_golden(&self, input: &str, output: &str) -> TraceMetrics {
        self.trace(input, output, Origin::Golden)
    }

    /// [`extract`](Self::extract) over many pairs in parallel (rayon); the
    /// result is in the order of `pairs`.
    pub fn extract_all<S: AsRef<str> + Sync>(&self, pairs: &[(S, S)]) -> Vec<TraceMetrics> {
        self.all(pairs, Origin::Production)
    }

    /// [`extract_golden`](Self::extract_golden) over many pairs in parallel;
    /// the result is in the order of `pairs`.
    pub fn extract_golden_all<S: AsRef<str> + Sync>(&self, pairs: &[(S, S)]) -> Vec<TraceMetrics> {
        self.all(pairs, Origin::Golden)
    }

    fn all<S: AsRef<str> + Sync>(&self, pairs: &[(S, S)], origin: Origin) -> Vec<TraceMetrics> {
        let inputs = self.side_all(pairs.iter().map(|(i, _)| i.as_ref()), Side::Input, origin);
        let outputs = self.side_all(pairs.iter().map(|(_, o)| o.as_ref()), Side::Output, origin);
        inputs
            .into_iter()
            .zip(outputs)
            .map(|(input, output)| TraceMetrics { input, output })
            .collect()
    }

    /// The metrics of one side's texts, in order, each distinct text measured
    /// once (a text's metrics depend on the text, side and origin alone, and
    /// real traffic repeats prompts and canned answers; hashing a text costs
    /// ~1 % of measuring it).
    fn side_all<'a>(
        &self,
        texts: impl Iterator<Item = &'a str>,
        side: Side,
        origin: Origin,
    ) -> Vec<TextMetrics> {
        let mut index: HashMap<&str, u32, foldhash::fast::RandomState> = HashMap::default();
        let mut distinct: Vec<&str> = Vec::new();
        let slots: Vec<u32> = texts
            .map(|t| {
                *index.entry(t).or_insert_with(|| {
                    distinct.push(t);
                    (distinct.len() - 1) as u32
                })
            })
            .collect();
        let measured: Vec<TextMetrics> = distinct
            .par_iter()
            .with_min_len(16)
            .map(|t| self.text(t, side, origin))
            .collect();
        slots
            .iter()
            .map(|&s| measured[s as usize].clone())
            .collect()
    }

    fn trace(&self, input: &str, output: &str, origin: Origin) -> TraceMetrics {
        TraceMetrics {
            input: self.text(input, Side::Input, origin),
            output: self.text(output, Side::Output, origin),
        }
    }

    fn text(&self, text: &str, side: Side, origin: Origin) -> TextMetrics {
        let e = &self.expectations;
        let stats = char_stats(text);
        let (vocab, regex) = match side {
            Side::Input => (&self.input_vocab, &e.input_regex),
            Side::Output => (&self.output_vocab, &e.output_regex),
        };

        // JSON checks, and language detection on the document's strings
        // (kept in a per-thread buffer: one allocation per thread, not per text).
        let mut json_valid = None;
        let mut schema_valid = None;
        let language = if side == Side::Output && e.checks_json() {
            LANG_TEXT.with_borrow_mut(|lang_text| {
                lang_text.clear();
                let valid = match &e.output_schema {
                    Some(schema) => match serde_json::from_str::<serde_json::Value>(text) {
                        Ok(value) => {
                            schema_valid = Some(schema.is_valid(&value));
                            value_strings(&value, lang_text);
                            true
                        }
                        Err(_) => {
                            schema_valid = Some(false);
                            false
                        }
                    },
                    None => json_strings(text, lang_text),
                };
                json_valid = Some(valid);
                // Not JSON (e.g. a refusal in prose): detect on the raw text.
                let on = if valid { lang_text.as_str() } else { text };
                let found = self.detect_language.then(|| language(on)).flatten();
                // A rare huge answer does not keep its buffer for the run.
                if lang_text.capacity() > 1 << 16 {
                    *lang_text = String::new();
                }
                found
            })
        } else {
            self.detect_language.then(|| language(text)).flatten()
        };

        // Words and OOV in one pass.
        let min_doc_freq = match origin {
            Origin::Production => 1,
            Origin::Golden => 2,
        };
        let (mut word_count, mut unknown) = (0usize, 0usize);
        match vocab {
            Some(v) => {
                for word in words(text) {
                    word_count += 1;
                    unknown += usize::from(!v.knows(word, min_doc_freq));
                }
            }
            None => word_count = words(text).count(),
        }
        let oov_rate = vocab.as_ref().and_then(|_| share(unknown, word_count));

        TextMetrics {
            chars: saturate(stats.chars),
            words: saturate(word_count),
            tokens: saturate(self.tokens.count(text)),
            empty: stats.blank,
            json_valid,
            schema_valid,
            regex_match: regex.as_ref().map(|re| re.is_match(text)),
            language,
            non_ascii_share: share(stats.non_ascii, stats.chars),
            uppercase_share: share(stats.uppercase, stats.letters),
            oov_rate,
        }
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn share(part: usize, whole: usize) -> Option<f32> {
    (whole > 0).then(|| (part as f64 / whole as f64) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{language_code, OutputFormat, TokenizerSpec};
    use serde_json::json;

    fn extractor(expectations: Expectations) -> Extractor {
        Extractor::new(
            TokenCounter::new(&TokenizerSpec::O200kBase).unwrap(),
            expectations,
        )
    }

    fn schema() -> serde_json::Value {
        json!({
            "type": "object",
            "required": ["answer", "confidence"],
            "properties": {
                "answer": {"type": "string"},
                "confidence": {"enum": ["low", "medium", "high"]}
            }
        })
    }

    #[test]
    fn send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Extractor>();
        assert_send_sync::<TokenCounter>();
        assert_send_sync::<Expectations>();
    }

    #[test]
    fn a_batch_with_repeated_texts_measures_like_one_trace_at_a_time() {
        let x = extractor(Expectations::new(OutputFormat::Json));
        let texts = [
            "How do I reset my password?",
            "{\"a\": 1}",
            "",
            "Où est la gare ?",
            "{oops",
        ];
        // Every input/output combination, so texts repeat on both sides and
        // the same text appears as an input and as an output.
        let pairs: Vec<(&str, &str)> = (0..60)
            .map(|i| (texts[i % texts.len()], texts[(i * 7 + 3) % texts.len()]))
            .collect();
        let one_by_one: Vec<TraceMetrics> = pairs.iter().map(|(i, o)| x.extract(i, o)).collect();
        assert_eq!(x.extract_all(&pairs), one_by_one);
        let golden: Vec<TraceMetrics> = pairs.iter().map(|(i, o)| x.extract_golden(i, o)).collect();
        assert_eq!(x.extract_golden_all(&pairs), golden);
    }

    #[test]
    fn text_output_basic_metrics() {
        let x = extractor(Expectations::default());
        let m = x.extract("Bonjour à tous", "Hello WORLD, café 🙂");
        let o = &m.output;
        assert_eq!((o.chars, o.words, o.empty), (19, 3, false));
        assert_eq!(o.tokens, 5); // pinned against Python tiktoken in tokens.rs
        assert_eq!(o.json_valid, None);
        assert_eq!(o.schema_valid, None);
        assert_eq!(o.regex_match, None);
        assert_eq!(o.oov_rate, None);
        assert_eq!(o.non_ascii_share, Some(2.0 / 19.0));
        assert_eq!(o.uppercase_share, Some(6.0 / 14.0));
        let i = &m.input;
        assert_eq!((i.chars, i.words), (14, 3));
        assert_eq!(i.non_ascii_share, Some(1.0 / 14.0));
        assert_eq!(i.uppercase_share, Some(1.0 / 12.0));
    }

    #[test]
    fn empty_and_whitespace() {
        let x = extractor(Expectations::new(OutputFormat::Json));
        for text in ["", "  \n\t "] {
            let m = x.extract(text, text);
            for t in [&m.input, &m.output] {
                assert!(t.empty);
                assert_eq!(t.words, 0);
                assert_eq!(t.language, None);
                assert_eq!(t.uppercase_share, None);
                assert_eq!(t.oov_rate, None);
            }
            assert_eq!(m.output.json_valid, Some(false));
            assert_eq!(m.input.json_valid, None);
        }
        let m = x.extract("", " \n");
        assert_eq!(
            (m.input.chars, m.input.tokens, m.input.non_ascii_share),
            (0, 0, None)
        );
        assert_eq!((m.output.chars, m.output.non_ascii_share), (2, Some(0.0)));
    }

    #[test]
    fn json_format_without_schema() {
        let x = extractor(Expectations::new(OutputFormat::Json));
        let ok = x.extract("q", r#"{"answer": "yes", "n": [1, 2]}"#);
        assert_eq!(ok.output.json_valid, Some(true));
        assert_eq!(ok.output.schema_valid, None);
        assert_eq!(ok.input.json_valid, None);
        let truncated = x.extract("q", r#"{"answer": "ye"#);
        assert_eq!(truncated.output.json_valid, Some(false));
        let prose = x.extract("q", "Sorry, I cannot help with that.");
        assert_eq!(prose.output.json_valid, Some(false));
    }

    #[test]
    fn json_with_schema() {
        let x = extractor(
            Expectations::default()
                .with_output_schema(&schema())
                .unwrap(),
        );
        let cases = [
            (
                r#"{"answer": "Paris", "confidence": "high"}"#,
                Some(true),
                Some(true),
            ),
            (r#"{"answer": "Paris"}"#, Some(true), Some(false)), // missing required
            (
                r#"{"answer": "Paris", "confidence": "sure"}"#,
                Some(true),
                Some(false),
            ), // enum
            (
                r#"{"answer": 42, "confidence": "low"}"#,
                Some(true),
                Some(false),
            ), // type
            (
                r#"{"answer": "Paris", "confidence": "hi"#,
                Some(false),
                Some(false),
            ), // truncated
        ];
        for (output, json_valid, schema_valid) in cases {
            let m = x.extract("q", output).output;
            assert_eq!(
                (m.json_valid, m.schema_valid),
                (json_valid, schema_valid),
                "{output}"
            );
        }
    }

    #[test]
    fn json_language_uses_string_values() {
        let x = extractor(Expectations::new(OutputFormat::Json));
        let fr = r#"{"answer_text": "Je voudrais réserver une table pour deux personnes ce soir.",
                     "confidence_level": "élevée"}"#;
        assert_eq!(x.extract("", fr).output.language, Some("fra"));
        // Same with a schema (the Value path).
        let x = extractor(
            Expectations::default()
                .with_output_schema(&json!({"type": "object"}))
                .unwrap(),
        );
        assert_eq!(x.extract("", fr).output.language, Some("fra"));
        // Invalid JSON falls back to the raw text.
        let prose = "Ich möchte heute Abend einen Tisch für zwei Personen reservieren.";
        assert_eq!(x.extract("", prose).output.language, Some("deu"));
        // No string values: no language.
        assert_eq!(
            x.extract("", r#"{"score": 5, "ok": true}"#).output.language,
            None
        );
    }

    #[test]
    fn regex_per_side() {
        let e = Expectations::default()
            .with_output_regex(r"(?i)(yes|no)\.?")
            .unwrap()
            .with_input_regex(r"Q: .+\?")
            .unwrap();
        let x = extractor(e);
        let m = x.extract("Q: is it?", "Yes.");
        assert_eq!(
            (m.input.regex_match, m.output.regex_match),
            (Some(true), Some(true))
        );
        // Partial matches do not count.
        let m = x.extract("Q: is it? thanks", "Yes, definitely.");
        assert_eq!(
            (m.input.regex_match, m.output.regex_match),
            (Some(false), Some(false))
        );
    }

    #[test]
    fn language_per_side() {
        let x = extractor(Expectations::default());
        let m = x.extract(
            "I was charged twice for the same subscription this month and would like a refund.",
            "ok",
        );
        assert_eq!(m.input.language, Some("eng"));
        assert_eq!(m.output.language, None);
    }

    #[test]
    fn golden_vs_production_oov() {
        // Made-up words: common words are known whatever golden holds
        // (`vocab::is_common_word`).
        let golden = [
            ("zorbex my qwixel", "xqclick the zorbex xqlink"),
            ("grumfy my frobnitz", "open the settings page"),
        ];
        let x = extractor(Expectations::default()).with_golden_vocabularies(&golden);
        assert_eq!(x.input_vocabulary().unwrap().documents(), 2);
        // Production: a golden text itself is fully known.
        assert_eq!(
            x.extract(golden[0].0, golden[0].1).input.oov_rate,
            Some(0.0)
        );
        // Golden (leave-one-out): "zorbex", "qwixel" appear only in doc 0.
        let g = x.extract_golden_all(&golden);
        assert_eq!(g[0].input.oov_rate, Some(2.0 / 3.0));
        // Of "xqclick the zorbex xqlink" only "the" is in the other output.
        assert_eq!(g[0].output.oov_rate, Some(0.75));
        // Sides use their own vocabulary: "xqclick" is an output word only.
        let m = x.extract("xqclick", "xqclick");
        assert_eq!(
            (m.input.oov_rate, m.output.oov_rate),
            (Some(1.0), Some(0.0))
        );
    }

    #[test]
    fn extract_all_preserves_order() {
        let x = extractor(Expectations::default());
        let pairs: Vec<(String, String)> = (0..300)
            .map(|i| (format!("question {i}"), "x".repeat(i % 97)))
            .collect();
        let all = x.extract_all(&pairs);
        assert_eq!(all.len(), pairs.len());
        for (i, (m, (inp, out))) in all.iter().zip(&pairs).enumerate() {
            assert_eq!(m, &x.extract(inp, out), "row {i}");
            assert_eq!(m.output.chars as usize, i % 97);
        }
        let borrowed: Vec<(&str, &str)> = vec![("a", "b b"), ("c c c", "")];
        let all = x.extract_all(&borrowed);
        assert_eq!((all[0].output.words, all[1].input.words), (2, 3));
    }

    #[test]
    fn applicable_metrics_follow_configuration() {
        let names = |x: &Extractor| {
            x.applicable_metrics()
                .into_iter()
                .map(MetricId::name)
                .collect::<Vec<_>>()
        };
        let plain = names(&extractor(Expectations::default()));
        assert_eq!(plain.len(), 14);
        assert!(!plain.contains(&"output.json_valid") && !plain.contains(&"input.oov_rate"));
        assert!(plain.contains(&"input.language"));
        let e = Expectations::default()
            .with_output_schema(&json!({"type": "object"}))
            .unwrap()
            .with_input_regex("x")
            .unwrap();
        let full = extractor(e).with_golden_vocabularies(&[("a", "b")]);
        let all = names(&full);
        assert_eq!(all.len(), 19);
        assert!(!all.contains(&"output.regex_match"));
        assert!(all.contains(&"output.schema_valid") && all.contains(&"input.regex_match"));
        let no_lang = full.with_language_detection(false);
        let rest = names(&no_lang);
        assert_eq!(rest.len(), 17);
        assert!(!rest.contains(&"output.language"));
        let m = no_lang.extract(
            "I was charged twice for the same subscription this month and would like a refund.",
            "{}",
        );
        assert_eq!(m.input.language, None);
    }

    #[test]
    fn serde_round_trip_keeps_language() {
        let x = extractor(Expectations::default());
        let m = x.extract(
            "Please summarize the following meeting notes into three bullet points.",
            "ok",
        );
        let text = serde_json::to_string(&m).unwrap();
        let back: TraceMetrics = serde_json::from_str(&text).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.input.language, Some("eng"));
        assert_eq!(language_code("fra"), Some("fra"));
        assert_eq!(language_code("xx"), None);
    }

    /// Throughput on synthetic traces (~30-word input, ~60-word JSON output
    /// with a schema). Run:
    /// `cargo test --release --lib throughput -- --ignored --nocapture`
    #[test]
    #[ignore = "benchmark; run in --release"]
    fn throughput() {
        use std::time::Instant;
        let vocabulary = [
            "order",
            "refund",
            "shipping",
            "account",
            "password",
            "delivery",
            "invoice",
            "the",
            "my",
            "please",
            "when",
            "will",
            "arrive",
            "cancel",
            "subscription",
            "help",
            "need",
            "status",
            "package",
            "address",
            "change",
            "update",
            "payment",
            "card",
            "failed",
        ];
        let pick = |seed: usize, n: usize| -> String {
            (0..n)
                .map(|k| {
                    vocabulary
                        [(seed.wrapping_mul(31).wrapping_add(k * 17 + k * k)) % vocabulary.len()]
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        // 100k traces: long enough for a stable figure on 2 shared cores.
        let n = 100_000;
        let synthetic: Vec<(String, String)> = (0..n)
            .map(|i| {
                let input = format!("Hi, {}?", pick(i, 29));
                let category = ["billing", "shipping", "account"][i % 3];
                let output = serde_json::json!({
                    "answer": pick(i + 7, 40),
                    "category": category,
                    "confidence": "high",
                    "steps": [pick(i + 1, 6), pick(i + 2, 6)],
                })
                .to_string();
                (input, output)
            })
            .collect();
        // Real words: the vendored BANKING77 queries (about 2,400 distinct
        // words), two per input and four in each answer, every text distinct
        // (measuring each distinct text once cannot help), and a vocabulary a
        // table of short pieces cannot hold whole.
        let queries: Vec<&str> = include_str!("../../tests/data/banking77/subset.csv")
            .lines()
            .skip(1)
            .filter_map(|l| l.rsplit_once(',').map(|(q, _)| q.trim_matches('"')))
            .collect();
        let m = queries.len();
        let q = |k: usize| queries[k % m];
        // `i % m` and `i / m` together tell traces apart: every input differs.
        let real: Vec<(String, String)> = (0..n)
            .map(|i| {
                let input = format!("{} {}", q(i), q(i * 7 + 3 + i / m));
                let category = ["billing", "shipping", "account"][i % 3];
                let output = serde_json::json!({
                    "answer": format!("{} {}", q(i * 13 + 5), q(i * 17 + 11 + i / m)),
                    "category": category,
                    "confidence": "high",
                    "steps": [q(i * 19 + 1), q(i * 23 + 2)],
                })
                .to_string();
                (input, output)
            })
            .collect();
        let e = Expectations::default()
            .with_output_schema(&serde_json::json!({
                "type": "object",
                "required": ["answer", "category", "confidence"],
                "properties": {
                    "answer": {"type": "string"},
                    "category": {"enum": ["billing", "shipping", "account"]},
                    "confidence": {"enum": ["low", "medium", "high"]},
                    "steps": {"type": "array", "items": {"type": "string"}}
                }
            }))
            .unwrap();
        let configs = [
            (TokenizerSpec::O200kBase, true),
            (TokenizerSpec::Cl100kBase, true),
            (TokenizerSpec::O200kBase, false),
        ];
        for ((spec, detect_language), (texts, pairs)) in configs.iter().flat_map(|c| {
            [
                (c.clone(), ("synthetic", &synthetic)),
                (c.clone(), ("BANKING77", &real)),
            ]
        }) {
            let t0 = Instant::now();
            let tokens = TokenCounter::new(&spec).unwrap();
            let build = t0.elapsed();
            let x = Extractor::new(tokens, e.clone())
                .with_golden_vocabularies(&pairs[..1000])
                .with_language_detection(detect_language);
            let t0 = Instant::now();
            let out = x.extract_all(pairs);
            let dt = t0.elapsed().as_secs_f64();
            assert_eq!(out.len(), n);
            let t1 = Instant::now();
            for (i, o) in &pairs[..2000] {
                std::hint::black_box(x.extract(i, o));
            }
            let single = 2000.0 / t1.elapsed().as_secs_f64();
            println!(
                "{texts} texts, {spec}, language detection {detect_language}: build {build:?}; \
                 extract_all {n} traces in {dt:.3}s = {:.0} traces/s on {} threads; \
                 single thread {single:.0} traces/s; sample input words {}, output words {}",
                n as f64 / dt,
                rayon::current_num_threads(),
                out[0].input.words,
                out[0].output.words
            );
        }
        // Where one thread's time goes, per trace (input and output), on the
        // real words.
        let x = Extractor::new(TokenCounter::new(&TokenizerSpec::O200kBase).unwrap(), e)
            .with_golden_vocabularies(&real[..1000]);
        let sample = &real[..5000];
        let per_trace = |name: &str, f: &dyn Fn(&str, &str) -> usize| {
            let t0 = Instant::now();
            let mut sink = 0;
            for (i, o) in sample {
                sink += f(i, o);
            }
            std::hint::black_box(sink);
            println!(
                "  {name:<28} {:6.2} µs/trace",
                t0.elapsed().as_secs_f64() * 1e6 / sample.len() as f64
            );
        };
        println!("one thread, per BANKING77 trace:");
        per_trace("all metrics", &|i, o| x.extract(i, o).input.words as usize);
        per_trace("token counts (o200k)", &|i, o| {
            x.tokens.count(i) + x.tokens.count(o)
        });
        let library = bpe_openai::o200k_base();
        per_trace("  bpe-openai's own count", &|i, o| {
            library.count(i) + library.count(o)
        });
        per_trace("char stats", &|i, o| {
            char_stats(i).chars + char_stats(o).chars
        });
        per_trace("words + OOV lookups", &|i, o| {
            let v = x.input_vocabulary().unwrap();
            words(i).chain(words(o)).filter(|w| v.knows(w, 1)).count()
        });
        per_trace("JSON parse + schema", &|_, o| {
            let v: serde_json::Value = serde_json::from_str(o).unwrap();
            usize::from(x.expectations.output_schema.as_ref().unwrap().is_valid(&v))
        });
        per_trace("language (whichlang)", &|i, o| {
            language(i).map_or(0, str::len) + language(o).map_or(0, str::len)
        });
    }
}
