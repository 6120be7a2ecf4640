//! Token counts: exactness and speed of driftwatch's counter
//! (`metrics::TokenCounter`: its own ASCII pre-tokenizer and GitHub's
//! `bpe-openai` byte-pair encoder) against tiktoken-rs, the Rust port of
//! OpenAI's tiktoken, and against `bpe-openai`'s own `count`, on real text.
//!
//! ```sh
//! cargo bench --bench tokens -- ../shared/data
//! ```
//!
//! Texts: every BANKING77 and CLINC150 query; a quarter of them again as
//! JSON answers with non-ASCII text and a quarter as ASCII JSON answers; and
//! paragraphs of 12 queries (1–2 KB). Prints the mismatches per encoding (any
//! is a failure: exit 1) and the single-thread throughput of the three.

use std::path::Path;
use std::time::Instant;

#[path = "shared/queries.rs"]
mod queries;

fn texts(data: &Path) -> Vec<String> {
    let mut out = queries::real_queries(data);
    let n = out.len();
    for i in 0..n / 4 {
        out.push(format!(
            "{{\"intent\": \"x\", \"answer\": \"{} {} — ünïcödé 日本語 🙂 {i}\"}}",
            out[i],
            out[(i * 7) % n]
        ));
    }
    for i in 0..n / 4 {
        out.push(format!(
            "{{\"intent\": \"card_arrival\", \"answer\": \"{}\", \"confidence\": 0.{i}}}",
            out[(i * 13) % n].replace('"', "'")
        ));
    }
    let m = out.len();
    for i in 0..3000 {
        let p: Vec<&str> = (0..12)
            .map(|k| out[(i * 31 + k * 97) % m].as_str())
            .collect();
        out.push(p.join(" "));
    }
    out
}

fn main() {
    // `cargo test --all-targets` runs benches without arguments: nothing to measure.
    let Some(data) = std::env::args().skip(1).find(|a| !a.starts_with('-')) else {
        eprintln!("tokens: no data folder given; usage: cargo bench --bench tokens -- DATA_DIR");
        return;
    };
    let texts = texts(Path::new(&data));
    let bytes: usize = texts.iter().map(String::len).sum();
    let ascii = texts.iter().filter(|t| t.is_ascii()).count();
    println!(
        "{} texts, {:.1} MB, {:.1} % of texts pure ASCII",
        texts.len(),
        bytes as f64 / 1e6,
        100.0 * ascii as f64 / texts.len() as f64
    );
    let mut failed = false;
    use driftwatch::metrics::{TokenCounter, TokenizerSpec};
    for (name, spec, library, reference) in [
        (
            "o200k_base",
            TokenizerSpec::O200kBase,
            bpe_openai::o200k_base(),
            tiktoken_rs::o200k_base().unwrap(),
        ),
        (
            "cl100k_base",
            TokenizerSpec::Cl100kBase,
            bpe_openai::cl100k_base(),
            tiktoken_rs::cl100k_base().unwrap(),
        ),
    ] {
        let ours = TokenCounter::new(&spec).unwrap();
        let mismatches = texts
            .iter()
            .filter(|t| ours.count(t) != reference.encode_ordinary(t).len())
            .count();
        failed |= mismatches > 0;
        let time = |f: &dyn Fn(&str) -> usize| {
            let started = Instant::now();
            let total: usize = texts.iter().map(|t| f(t)).sum();
            (started.elapsed().as_secs_f64(), total)
        };
        let (a, ta) = time(&|t| reference.encode_ordinary(t).len());
        let (b, tb) = time(&|t| library.count(t));
        let (c, tc) = time(&|t| ours.count(t));
        let rate = |secs: f64| {
            format!(
                "{:.0} texts/s ({:.1} MB/s)",
                texts.len() as f64 / secs,
                bytes as f64 / secs / 1e6
            )
        };
        println!(
            "{name}: mismatches {mismatches}; tiktoken-rs {}, bpe-openai {}, driftwatch {} ({:.2}x tiktoken-rs, {:.2}x bpe-openai); tokens {ta} / {tb} / {tc}",
            rate(a),
            rate(b),
            rate(c),
            a / c,
            b / c
        );
    }
    if failed {
        std::process::exit(1);
    }
}
