use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::MetricsError;

/// Which tokenizer counts `tokens`.
///
/// Serialized as a single string: `"o200k_base"` (the default),
/// `"cl100k_base"`, or `"file:<path>"` naming a Hugging Face `tokenizer.json`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum TokenizerSpec {
    /// tiktoken `o200k_base` (GPT-4o, GPT-4.1, o-series, GPT-5).
    #[default]
    O200kBase,
    /// tiktoken `cl100k_base` (GPT-4, GPT-3.5-turbo).
    Cl100kBase,
    /// A local Hugging Face `tokenizer.json`.
    File(PathBuf),
}

const FILE_PREFIX: &str = "file:";

impl fmt::Display for TokenizerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenizerSpec::O200kBase => f.write_str("o200k_base"),
            TokenizerSpec::Cl100kBase => f.write_str("cl100k_base"),
            TokenizerSpec::File(path) => write!(f, "{FILE_PREFIX}{}", path.display()),
        }
    }
}

impl FromStr for TokenizerSpec {
    type Err = MetricsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "o200k_base" => Ok(TokenizerSpec::O200kBase),
            "cl100k_base" => Ok(TokenizerSpec::Cl100kBase),
            other => match other.strip_prefix(FILE_PREFIX) {
                Some(path) if !path.is_empty() => Ok(TokenizerSpec::File(PathBuf::from(path))),
                _ => Err(MetricsError::TokenizerSpec {
                    spec: s.to_string(),
                }),
            },
        }
    }
}

impl Serialize for TokenizerSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TokenizerSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Counts tokens with one tokenizer. Build it once (construction parses a
/// 100k–200k entry vocabulary) and share it: it is `Send + Sync` and cheap to
/// clone.
#[derive(Clone)]
pub struct TokenCounter {
    spec: TokenizerSpec,
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    /// OpenAI's encodings through the pure-Rust `tiktoken` crate: the
    /// process-wide instances, built on first use. They count exactly as
    /// tiktoken (pinned below against Python tiktoken and compared with
    /// tiktoken-rs; BENCHMARKS.md, "Token counts", compares 58k real texts),
    /// and counting allocates no token vector. Its tables take about 27 MiB
    /// where `bpe-openai`'s took 64 (BENCHMARKS.md, "Whole structural job").
    ///
    /// Pure-ASCII texts are cut into pieces by our own byte loop
    /// ([`super::pretok`], tested piece for piece against `bpe-openai`'s
    /// splitter) and each piece is counted by the library, short pieces
    /// through a per-thread table of counts: the same count, without the
    /// Unicode regular expression or re-encoding common words. A piece is
    /// its own only piece when split again, so counting it alone is
    /// counting it in place (the random-string test below checks this
    /// against tiktoken-rs).
    OpenAi(&'static tiktoken::CoreBpe, super::pretok::Pattern),
    HuggingFace(Arc<tokenizers::Tokenizer>),
}

/// Text every `tokenizer.json` must be able to encode at load time, so that a
/// tokenizer which errors on unknown words (e.g. a WordLevel model without an
/// unknown token) is rejected up front instead of miscounting later.
const PROBE_TEXT: &str = "Hello, wörld! zqxjvk 12345 日本語 🙂";

impl TokenCounter {
    /// Builds the tokenizer named by `spec`. Errors name the file or
    /// encoding that failed.
    pub fn new(spec: &TokenizerSpec) -> Result<Self, MetricsError> {
        let inner = match spec {
            TokenizerSpec::O200kBase => Inner::OpenAi(o200k(), super::pretok::Pattern::O200k),
            TokenizerSpec::Cl100kBase => Inner::OpenAi(cl100k(), super::pretok::Pattern::Cl100k),
            TokenizerSpec::File(path) => Inner::HuggingFace(Arc::new(load_file(path)?)),
        };
        Ok(TokenCounter {
            spec: spec.clone(),
            inner,
        })
    }

    /// Starts building `spec`'s process-wide tables on a thread of its own
    /// and returns at once, so that reading the golden set overlaps the ~0.2 s
    /// `tiktoken` takes to decompress and hash a vocabulary; the
    /// [`new`](Self::new) that follows waits for that build instead of doing
    /// it. Once the tables exist the thread finds them built and ends at
    /// once; for a `tokenizer.json` (loaded per counter, not shared) nothing
    /// is started.
    pub fn warm_up(spec: &TokenizerSpec) {
        let build: fn() -> &'static tiktoken::CoreBpe = match spec {
            TokenizerSpec::O200kBase => o200k,
            TokenizerSpec::Cl100kBase => cl100k,
            TokenizerSpec::File(_) => return,
        };
        // Detached: if the process ends first, nothing is lost.
        let _ = std::thread::Builder::new()
            .name("tokenizer-warm-up".into())
            .spawn(move || {
                build();
            });
    }

    /// The spec this counter was built from.
    pub fn spec(&self) -> &TokenizerSpec {
        &self.spec
    }

    /// Number of tokens in `text`, without special tokens added around it.
    ///
    /// tiktoken encodings count like Python's `enc.encode_ordinary(text)`
    /// (special-token strings in the text are plain text). A `tokenizer.json`
    /// counts like `tokenizer.encode(text, add_special_tokens=False)` with
    /// truncation and padding disabled; should that encoding ever fail
    /// (it was probed at load time) the count is 0 — use [`try_count`] to
    /// see the error.
    ///
    /// [`try_count`]: TokenCounter::try_count
    pub fn count(&self, text: &str) -> usize {
        self.try_count(text).unwrap_or(0)
    }

    /// Like [`count`](TokenCounter::count) but reports encoding errors of a
    /// `tokenizer.json` model.
    pub fn try_count(&self, text: &str) -> Result<usize, String> {
        match &self.inner {
            Inner::OpenAi(bpe, pattern) if text.is_ascii() => Ok(super::pretok::count_ascii(
                text.as_bytes(),
                *pattern,
                // Pieces of an ASCII text are ASCII.
                |piece| bpe.count(std::str::from_utf8(piece).unwrap_or_default()),
            )),
            Inner::OpenAi(bpe, _) => Ok(bpe.count(text)),
            Inner::HuggingFace(tok) => tok
                .encode_fast(text, false)
                .map(|enc| enc.len())
                .map_err(|e| e.to_string()),
        }
    }
}

impl fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCounter")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

/// The process-wide `o200k_base` tables (built once, about 0.2 s).
pub(super) fn o200k() -> &'static tiktoken::CoreBpe {
    static ENC: std::sync::OnceLock<tiktoken::CoreBpe> = std::sync::OnceLock::new();
    ENC.get_or_init(tiktoken::encoding::o200k_base)
}

/// The process-wide `cl100k_base` tables.
fn cl100k() -> &'static tiktoken::CoreBpe {
    static ENC: std::sync::OnceLock<tiktoken::CoreBpe> = std::sync::OnceLock::new();
    ENC.get_or_init(tiktoken::encoding::cl100k_base)
}

fn load_file(path: &std::path::Path) -> Result<tokenizers::Tokenizer, MetricsError> {
    let err = |message: String| MetricsError::TokenizerFile {
        path: path.to_path_buf(),
        message,
    };
    let mut tok = tokenizers::Tokenizer::from_file(path).map_err(|e| err(e.to_string()))?;
    // A tokenizer.json may carry truncation (e.g. max_length 512) or padding
    // settings meant for model input; both would distort a length count.
    tok.with_truncation(None)
        .map_err(|e| err(format!("cannot disable truncation: {e}")))?;
    tok.with_padding(None);
    tok.encode_fast(PROBE_TEXT, false).map_err(|e| {
        err(format!(
            "tokenizer cannot encode arbitrary text (probe {PROBE_TEXT:?}): {e}"
        ))
    })?;
    Ok(tok)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts and counts pinned against Python `tiktoken` 0.14.0 (Python
    /// 3.11), computed as
    /// ```python
    /// [len(tiktoken.get_encoding(name).encode_ordinary(t)) for t in TEXTS]
    /// ```
    /// for `name` in `o200k_base`, `cl100k_base`. With no network, tiktoken
    /// read the encoding files shipped in tiktoken-rs 0.12.1 through
    /// `TIKTOKEN_CACHE_DIR` (copied under the SHA-1 of their download URL);
    /// tiktoken's SHA-256 check of those files passed, so they are the
    /// official ones.
    const TEXTS: [&str; 9] = [
        "Hello WORLD, café 🙂",
        "",
        "Hello, world!",
        "The quick brown fox jumps over the lazy dog.",
        "日本語のテキストです。",
        "naïve café 👨‍👩‍👧 résumé",
        r#"{"answer": "Paris", "confidence": "high"}"#,
        "<|endoftext|> is plain text here",
        "    indented\n\n\ttabs   and   spaces  ",
    ];
    const O200K: [usize; 9] = [5, 0, 4, 10, 8, 13, 12, 11, 11];
    const CL100K: [usize; 9] = [5, 0, 4, 10, 10, 19, 12, 11, 11];

    #[test]
    fn tiktoken_counts_match_python() {
        for (spec, expected) in [
            (TokenizerSpec::O200kBase, O200K),
            (TokenizerSpec::Cl100kBase, CL100K),
        ] {
            let counter = TokenCounter::new(&spec).unwrap();
            let got: Vec<usize> = TEXTS.iter().map(|t| counter.count(t)).collect();
            assert_eq!(got, expected, "{spec}");
        }
    }

    /// The vendored CLINC150 queries (3,200), as they are and wrapped in a
    /// JSON answer with non-ASCII text: the same count as tiktoken-rs (the
    /// Rust port of tiktoken) for both encodings. The large-sample check is
    /// the `tokens` bench.
    #[test]
    fn counts_equal_tiktoken_rs_on_real_queries() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/clinc150/subset.jsonl"
        ))
        .unwrap();
        let mut texts: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["text"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let wrapped: Vec<String> = texts
            .iter()
            .map(|t| format!("{{\"answer\": \"{t} — ünïcödé 日本語 🙂\", \"n\": 12}}"))
            .collect();
        texts.extend(wrapped);
        assert_counts_equal_tiktoken_rs(&texts);
    }

    /// Both encodings count every text as tiktoken-rs (the Rust port of
    /// tiktoken) does.
    fn assert_counts_equal_tiktoken_rs(texts: &[String]) {
        for (spec, reference) in [
            (TokenizerSpec::O200kBase, tiktoken_rs::o200k_base().unwrap()),
            (
                TokenizerSpec::Cl100kBase,
                tiktoken_rs::cl100k_base().unwrap(),
            ),
        ] {
            let counter = TokenCounter::new(&spec).unwrap();
            for t in texts {
                assert_eq!(
                    counter.count(t),
                    reference.encode_ordinary(t).len(),
                    "{spec}: {t:?}"
                );
            }
        }
    }

    /// Random strings from an alphabet of every character class the split
    /// rules tell apart (as `pretok`'s tests draw them), plus a little
    /// non-ASCII: the same count as tiktoken-rs for both encodings.
    #[test]
    fn counts_equal_tiktoken_rs_on_random_strings() {
        const ALPHABET: [&str; 38] = [
            "a", "Z", "s", "S", "l", "L", "r", "R", "e", "E", "v", "V", "t", "T", "m", "M", "d",
            "D", "0", "9", "'", " ", "\t", "\n", "\r", "\x0b", "\x0c", "/", ".", ",", "!", "-",
            "_", "\"", "{", "é", "日", "🙂",
        ];
        let mut state = 0x5eed_u64;
        let mut next = move || {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        let texts: Vec<String> = (0..20_000)
            .map(|i| {
                let len = (next() % 24) as usize;
                // Every fourth string stays ASCII-only (the piece path).
                let n = if i % 4 == 0 { 35 } else { ALPHABET.len() } as u64;
                (0..len).map(|_| ALPHABET[(next() % n) as usize]).collect()
            })
            .collect();
        assert_counts_equal_tiktoken_rs(&texts);
    }

    #[test]
    fn pathological_whitespace_and_digits_do_not_panic() {
        let counter = TokenCounter::new(&TokenizerSpec::O200kBase).unwrap();
        for text in [
            " ".repeat(100_000),
            "\n".repeat(50_000) + "x",
            "1".repeat(100_000),
            "a".repeat(100_000),
        ] {
            assert!(counter.count(&text) > 0);
        }
    }

    #[test]
    fn spec_parse_display_serde() {
        for (s, spec) in [
            ("o200k_base", TokenizerSpec::O200kBase),
            ("cl100k_base", TokenizerSpec::Cl100kBase),
            (
                "file:/models/tok/tokenizer.json",
                TokenizerSpec::File("/models/tok/tokenizer.json".into()),
            ),
        ] {
            assert_eq!(s.parse::<TokenizerSpec>().unwrap(), spec);
            assert_eq!(spec.to_string(), s);
            let json = serde_json::to_string(&spec).unwrap();
            assert_eq!(json, format!("{s:?}"));
            assert_eq!(serde_json::from_str::<TokenizerSpec>(&json).unwrap(), spec);
        }
        assert_eq!(TokenizerSpec::default(), TokenizerSpec::O200kBase);
        for bad in ["gpt2", "file:", "o200k"] {
            let err = bad.parse::<TokenizerSpec>().unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        assert!(serde_json::from_str::<TokenizerSpec>("\"p50k_base\"").is_err());
    }

    fn word_level_tokenizer(with_unk: bool, truncate: bool) -> tokenizers::Tokenizer {
        use tokenizers::models::wordlevel::WordLevel;
        use tokenizers::pre_tokenizers::whitespace::Whitespace;
        let vocab = ["[UNK]", "hello", "world", ",", "!"]
            .iter()
            .enumerate()
            .map(|(i, w)| (w.to_string(), i as u32))
            .collect();
        let mut builder = WordLevel::builder().vocab(vocab);
        if with_unk {
            builder = builder.unk_token("[UNK]".into());
        } else {
            builder = builder.unk_token("<missing>".into());
        }
        let mut tok = tokenizers::Tokenizer::new(builder.build().unwrap());
        tok.with_pre_tokenizer(Some(Whitespace {}));
        if truncate {
            tok.with_truncation(Some(tokenizers::TruncationParams {
                max_length: 3,
                ..Default::default()
            }))
            .unwrap();
        }
        tok
    }

    #[test]
    fn tokenizer_json_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        // Saved with truncation to 3 tokens, which loading must disable.
        word_level_tokenizer(true, true).save(&path, false).unwrap();
        let spec: TokenizerSpec = format!("file:{}", path.display()).parse().unwrap();
        let counter = TokenCounter::new(&spec).unwrap();
        assert_eq!(counter.spec(), &spec);
        // Whitespace splits \w+ and punctuation runs; unknown words are [UNK].
        assert_eq!(counter.count("hello, world!"), 4);
        assert_eq!(counter.count("hello brave new world"), 4);
        assert_eq!(counter.count(""), 0);
        assert_eq!(counter.try_count("hello"), Ok(1));
        let clone = counter.clone();
        std::thread::spawn(move || assert_eq!(clone.count("world world"), 2))
            .join()
            .unwrap();
    }

    #[test]
    fn tokenizer_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.json");
        let err = TokenCounter::new(&TokenizerSpec::File(missing.clone())).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&missing.display().to_string()), "{msg}");
        assert!(matches!(err, MetricsError::TokenizerFile { .. }));

        let garbage = dir.path().join("garbage.json");
        std::fs::write(&garbage, "{\"not\": \"a tokenizer\"}").unwrap();
        let msg = TokenCounter::new(&TokenizerSpec::File(garbage.clone()))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("garbage.json"), "{msg}");

        // A model that cannot encode unknown words is rejected at load.
        let no_unk = dir.path().join("no_unk.json");
        word_level_tokenizer(false, false)
            .save(&no_unk, false)
            .unwrap();
        let msg = TokenCounter::new(&TokenizerSpec::File(no_unk))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("no_unk.json") && msg.contains("cannot encode"),
            "{msg}"
        );
    }
}
