//! Language detection: whichlang (what driftwatch uses) against whatlang (what
//! it used before) on real text, for speed and for what each says.
//!
//! ```sh
//! python3 benches/peer/gettext_samples.py 300 40 > /tmp/lang-samples.tsv
//! cargo bench --bench language -- ../shared/data /tmp/lang-samples.tsv
//! ```
//!
//! English: every BANKING77 and CLINC150 query of at least 20 characters (the
//! length below which driftwatch detects nothing). Other languages: translated
//! program messages from Debian's gettext catalogs, at most 300 per language,
//! languages with at least 100. Prints single-thread throughput on the English
//! texts, how often each detector names English, and per language how often
//! each names it right, how often whatlang calls its guess unreliable, and how
//! often whichlang says English (a text in a language outside whichlang's 16
//! is given the nearest of them).
//!
//! Last, how many leading bytes whichlang needs: long texts (translated
//! messages of one language joined until they pass 512 bytes, the shape of a
//! long LLM answer; English ones from the real queries) cut to 32–512 bytes,
//! with whichlang's accuracy and time per text at each cut. driftwatch cuts at
//! `MAX_LANGUAGE_BYTES` (src/metrics/text.rs).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// ISO 639-1 (gettext folder names) to 639-3 (both detectors' codes).
const ISO: &[(&str, &str)] = &[
    ("ar", "ara"),
    ("zh", "cmn"),
    ("de", "deu"),
    ("fr", "fra"),
    ("hi", "hin"),
    ("it", "ita"),
    ("ja", "jpn"),
    ("ko", "kor"),
    ("nl", "nld"),
    ("pt", "por"),
    ("ru", "rus"),
    ("es", "spa"),
    ("sv", "swe"),
    ("tr", "tur"),
    ("vi", "vie"),
    ("pl", "pol"),
    ("cs", "ces"),
    ("uk", "ukr"),
    ("fi", "fin"),
    ("da", "dan"),
    ("hu", "hun"),
    ("el", "ell"),
    ("he", "heb"),
    ("ro", "ron"),
    ("bg", "bul"),
    ("sk", "slk"),
    ("sl", "slv"),
    ("hr", "hrv"),
    ("sr", "srp"),
    ("lt", "lit"),
    ("lv", "lav"),
    ("et", "est"),
    ("nb", "nob"),
    ("id", "ind"),
    ("ca", "cat"),
    ("th", "tha"),
    ("fa", "pes"),
    ("bn", "ben"),
    ("ta", "tam"),
    ("te", "tel"),
    ("mr", "mar"),
    ("gu", "guj"),
    ("pa", "pan"),
    ("ka", "kat"),
    ("hy", "hye"),
    ("be", "bel"),
    ("mk", "mkd"),
    ("af", "afr"),
    ("eo", "epo"),
    ("az", "aze"),
    ("ml", "mal"),
    ("kn", "kan"),
    ("ne", "nep"),
    ("km", "khm"),
    ("my", "mya"),
    ("si", "sin"),
    ("uz", "uzb"),
    ("tl", "tgl"),
    ("yi", "yid"),
    ("ur", "urd"),
    ("am", "amh"),
    ("or", "ori"),
    ("zu", "zul"),
    ("bs", "bos"),
    ("xh", "xho"),
];

#[path = "shared/queries.rs"]
mod queries;

/// The real English queries long enough to get a language.
fn english(data: &Path) -> Vec<String> {
    let mut out = queries::real_queries(data);
    out.retain(|t| t.trim().chars().count() >= 20);
    out
}

fn whatlang_code(t: &str) -> Option<&'static str> {
    whatlang::detect(t)
        .filter(|i| i.is_reliable())
        .map(|i| i.lang().code())
}

fn whichlang_code(t: &str) -> &'static str {
    whichlang::detect_language(t).three_letter_code()
}

/// `text` cut to at most `max` bytes, at a char boundary.
fn prefix(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Texts of one language joined with spaces until each passes `min_bytes`.
fn joined(texts: &[&str], min_bytes: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for t in texts {
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(t);
        if cur.len() >= min_bytes {
            out.push(std::mem::take(&mut cur));
        }
    }
    out
}

/// Accuracy and cost of whichlang on long texts cut to each prefix length.
fn prefix_sweep(eng: &[String], by: &BTreeMap<&str, Vec<&str>>, supported: &[&str]) {
    let eng_refs: Vec<&str> = eng.iter().map(String::as_str).collect();
    // (expected code, long text): English, then every supported language.
    let mut long: Vec<(&str, String)> = joined(&eng_refs, 512)
        .into_iter()
        .take(2000)
        .map(|t| ("eng", t))
        .collect();
    let mut other = 0;
    for (lang, texts) in by {
        let Some((_, code)) = ISO.iter().find(|(a, _)| a == lang) else {
            continue;
        };
        if supported.contains(code) && *code != "eng" {
            for t in joined(texts, 512) {
                long.push((code, t));
                other += 1;
            }
        }
    }
    println!(
        "\nLong texts (≥ 512 bytes): {} English, {other} in whichlang's other 15 languages",
        long.len() - other
    );
    println!("| first bytes | English right | other 15 right | µs per text |");
    println!("|---|---|---|---|");
    for max in [32, 48, 64, 96, 128, 192, 256, 512] {
        let (mut eng_ok, mut eng_n, mut oth_ok, mut oth_n) = (0, 0, 0, 0);
        let t = Instant::now();
        let rounds = 5;
        for _ in 0..rounds {
            for (code, text) in &long {
                let ok = whichlang_code(prefix(text, max)) == *code;
                if *code == "eng" {
                    eng_ok += usize::from(ok);
                    eng_n += 1;
                } else {
                    oth_ok += usize::from(ok);
                    oth_n += 1;
                }
            }
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / (rounds * long.len()) as f64;
        println!(
            "| {max} | {} | {} | {us:.2} |",
            pct(eng_ok, eng_n),
            pct(oth_ok, oth_n)
        );
    }
}

fn pct(x: usize, n: usize) -> String {
    format!("{:.1}%", 100.0 * x as f64 / n.max(1) as f64)
}

fn main() {
    // `cargo test --all-targets` runs benches without arguments: nothing to measure.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let [data, samples] = args.as_slice() else {
        eprintln!("language: usage: cargo bench --bench language -- DATA_DIR SAMPLES.tsv");
        return;
    };
    let eng = english(Path::new(data));
    let rounds = 3;
    let n = (rounds * eng.len()) as f64;
    let t = Instant::now();
    let mut what_eng = 0;
    for _ in 0..rounds {
        what_eng += eng
            .iter()
            .filter(|s| whatlang_code(s) == Some("eng"))
            .count();
    }
    let what_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut which_eng = 0;
    for _ in 0..rounds {
        which_eng += eng.iter().filter(|s| whichlang_code(s) == "eng").count();
    }
    let which_s = t.elapsed().as_secs_f64();
    println!("English: {} real queries, one thread", eng.len());
    println!("| detector | texts/s | says English |");
    println!("|---|---|---|");
    println!(
        "| whatlang (reliable guesses) | {:.0} | {} |",
        n / what_s,
        pct(what_eng, rounds * eng.len())
    );
    println!(
        "| whichlang | {:.0} | {} |",
        n / which_s,
        pct(which_eng, rounds * eng.len())
    );

    let mut by: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let text = std::fs::read_to_string(samples).expect("samples tsv");
    for line in text.lines() {
        if let Some((lang, t)) = line.split_once('\t') {
            let v = by.entry(lang).or_default();
            if v.len() < 300 {
                v.push(t);
            }
        }
    }
    let supported: Vec<&str> = whichlang::LANGUAGES
        .iter()
        .map(|l| l.three_letter_code())
        .collect();
    println!("\n| language | in whichlang's 16 | texts | whatlang right | whatlang unreliable | whichlang right | whichlang says English |");
    println!("|---|---|---|---|---|---|---|");
    // texts, whatlang right, unreliable, whichlang right, whichlang English
    let mut totals = [[0usize; 5]; 2];
    for (lang, texts) in &by {
        let Some((_, code)) = ISO.iter().find(|(a, _)| a == lang) else {
            continue;
        };
        if texts.len() < 100 {
            continue;
        }
        let inside = supported.contains(code);
        let mut c = [texts.len(), 0, 0, 0, 0];
        for t in texts {
            match whatlang_code(t) {
                Some(l) => c[1] += usize::from(l == *code),
                None => c[2] += 1,
            }
            let l = whichlang_code(t);
            c[3] += usize::from(l == *code);
            c[4] += usize::from(l == "eng");
        }
        let tot = &mut totals[usize::from(!inside)];
        for k in 0..5 {
            tot[k] += c[k];
        }
        println!(
            "| {lang} | {} | {} | {} | {} | {} | {} |",
            if inside { "yes" } else { "no" },
            c[0],
            pct(c[1], c[0]),
            pct(c[2], c[0]),
            pct(c[3], c[0]),
            pct(c[4], c[0])
        );
    }
    for (name, c) in [
        ("all in whichlang's 16", totals[0]),
        ("all outside", totals[1]),
    ] {
        println!(
            "| **{name}** | | {} | {} | {} | {} | {} |",
            c[0],
            pct(c[1], c[0]),
            pct(c[2], c[0]),
            pct(c[3], c[0]),
            pct(c[4], c[0])
        );
    }
    prefix_sweep(&eng, &by, &supported);
}
