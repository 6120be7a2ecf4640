//! Test-only helpers: where the real model is, one shared loaded model, and a
//! deterministic mixed-length corpus for the benchmark.
//!
//! The model files come from `scripts/fetch-model.sh`. Tests look for them in
//! `DRIFTWATCH_MODEL_DIR` / `DRIFTWATCH_ORT_LIB` when set, else under
//! `<CARGO_MANIFEST_DIR>/models/` (the repo root in the main crate).

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use super::config::EmbedConfig;
use super::local::LocalEmbedder;

fn from_env_or(var: &str, default: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(default),
    }
}

/// The real all-MiniLM-L6-v2 directory.
pub(crate) fn model_dir() -> PathBuf {
    from_env_or("DRIFTWATCH_MODEL_DIR", super::config::DEFAULT_MODEL_DIR)
}

/// The real ONNX Runtime library.
pub(crate) fn ort_lib() -> PathBuf {
    from_env_or("DRIFTWATCH_ORT_LIB", super::config::DEFAULT_ONNXRUNTIME_LIB)
}

/// Default config for the local model in tests.
pub(crate) fn local_config() -> EmbedConfig {
    EmbedConfig::default()
}

/// One loaded local model shared by all tests of the binary (loading costs
/// ~0.5 s and ~100 MB). Panics with the fetch hint when the files are missing.
pub(crate) fn shared_local() -> MutexGuard<'static, LocalEmbedder> {
    static SHARED: OnceLock<Mutex<LocalEmbedder>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let e = LocalEmbedder::with_paths(&model_dir(), &ort_lib(), &local_config())
                .unwrap_or_else(|e| {
                    panic!("{e} (tests read DRIFTWATCH_MODEL_DIR / DRIFTWATCH_ORT_LIB)")
                });
            Mutex::new(e)
        })
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Peak resident set size of this process in MiB (Linux `VmHWM`; 0 elsewhere).
pub(crate) fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

/// CPU time (user + system) this process has used so far, in seconds (Linux
/// `/proc/self/stat`, assuming 100 clock ticks per second; 0 elsewhere).
pub(crate) fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime are 14 and 15.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

/// `n` deterministic English-ish texts of mixed length, shaped like LLM
/// traffic: 50 % short (4–24 words, questions), 35 % medium (40–120 words),
/// 15 % long (150–400 words, truncated by the model at 256 tokens).
pub(crate) fn bench_texts(n: usize) -> Vec<String> {
    const WORDS: &[&str] = &[
        "the",
        "model",
        "answer",
        "customer",
        "account",
        "password",
        "reset",
        "billing",
        "invoice",
        "refund",
        "order",
        "shipping",
        "delivery",
        "error",
        "server",
        "request",
        "response",
        "latency",
        "prompt",
        "token",
        "drift",
        "vector",
        "embedding",
        "golden",
        "dataset",
        "production",
        "monitor",
        "alert",
        "threshold",
        "deploy",
        "release",
        "version",
        "update",
        "feature",
        "user",
        "support",
        "ticket",
        "priority",
        "issue",
        "resolved",
        "quickly",
        "carefully",
        "because",
        "however",
        "therefore",
        "although",
        "while",
        "after",
        "before",
        "during",
        "weather",
        "travel",
        "flight",
        "hotel",
        "booking",
        "cancel",
        "change",
        "policy",
        "privacy",
        "security",
        "login",
        "email",
        "phone",
        "address",
        "payment",
        "card",
        "bank",
        "transfer",
        "balance",
        "report",
        "summary",
        "analysis",
        "revenue",
        "growth",
        "quarter",
        "market",
        "price",
        "product",
        "review",
        "rating",
        "recipe",
        "ingredient",
        "cooking",
        "minutes",
        "temperature",
        "python",
        "rust",
        "code",
        "function",
        "compile",
        "test",
        "database",
        "query",
        "index",
        "memory",
        "thread",
        "can",
        "you",
        "please",
        "explain",
        "how",
        "why",
        "what",
        "when",
        "where",
        "is",
        "are",
        "was",
        "will",
        "should",
        "could",
        "would",
        "my",
        "your",
        "our",
        "their",
        "a",
        "an",
        "of",
        "to",
        "in",
        "on",
        "for",
        "with",
        "and",
        "or",
        "not",
        "it",
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|_| {
            let bucket = next() % 100;
            let words = match bucket {
                0..=49 => 4 + next() % 21,
                50..=84 => 40 + next() % 81,
                _ => 150 + next() % 251,
            } as usize;
            let mut s = String::new();
            for w in 0..words {
                if w > 0 {
                    s.push(' ');
                }
                s.push_str(WORDS[(next() % WORDS.len() as u64) as usize]);
                if w % 12 == 11 {
                    s.push('.');
                }
            }
            if bucket < 50 {
                s.push('?');
            } else {
                s.push('.');
            }
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_texts_are_deterministic_and_mixed() {
        let a = bench_texts(200);
        assert_eq!(a, bench_texts(200));
        let words: Vec<usize> = a.iter().map(|t| t.split_whitespace().count()).collect();
        assert!(words.iter().any(|&w| w < 25));
        assert!(words.iter().any(|&w| w > 150));
    }
}
