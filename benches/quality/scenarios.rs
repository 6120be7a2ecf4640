//! Scenario generators: golden and production samples with known truth.

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::data::Query;

/// What a scenario changes, and so what counts as detecting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Nothing changed: any input-side semantic or coverage finding is a false alarm.
    NoDrift,
    /// Held-out intents in production: a drifted gap ≥ 70 % novel is a detection.
    Topic,
    /// Typos and casing in 30 % of inputs: a structural input finding; no gap, no proposal.
    Noise,
    /// 15 % of outputs no longer JSON: `output.json_valid` drifted.
    FormatBreak,
    /// Outputs still JSON, one key dropped or renamed: `output.schema_valid`
    /// drifted (the schema inferred from golden's answers).
    SchemaBreak,
    /// Outputs cut to a quarter: a structural output finding.
    Truncation,
    /// Outputs in another register: any output finding.
    Style,
}

/// A scenario of the table.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub kind: Kind,
    pub dataset: &'static str,
    /// Held-out intents (Topic) — 0 for a held-out CLINC150 domain or
    /// fortune theme (one per seed, in turn).
    pub held_out: usize,
    pub share: f64,
    pub grouped: bool,
    pub seeds: u64,
    /// Typos given to every input, golden and production alike: the
    /// application's own misspellings, which are no drift.
    pub typos_everywhere: usize,
}

pub fn all() -> Vec<Scenario> {
    let s = |name, kind, dataset, held_out, share, grouped, seeds| Scenario {
        name,
        kind,
        dataset,
        held_out,
        share,
        grouped,
        seeds,
        typos_everywhere: 0,
    };
    vec![
        s(
            "no drift (row split)",
            Kind::NoDrift,
            "banking77",
            0,
            0.0,
            false,
            30,
        ),
        s(
            "no drift (grouped split)",
            Kind::NoDrift,
            "banking77",
            0,
            0.0,
            true,
            30,
        ),
        s(
            "no drift (grouped split, CLINC150)",
            Kind::NoDrift,
            "clinc150",
            0,
            0.0,
            true,
            30,
        ),
        s(
            "near, 1 intent at 5%",
            Kind::Topic,
            "banking77",
            1,
            0.05,
            false,
            20,
        ),
        s(
            "near, 1 intent at 2%",
            Kind::Topic,
            "banking77",
            1,
            0.02,
            false,
            20,
        ),
        s(
            "near, 3 intents at 5%",
            Kind::Topic,
            "banking77",
            3,
            0.05,
            false,
            20,
        ),
        s(
            "near, 3 intents at 2%",
            Kind::Topic,
            "banking77",
            3,
            0.02,
            false,
            20,
        ),
        s(
            "near, 10 intents at 5%",
            Kind::Topic,
            "banking77",
            10,
            0.05,
            false,
            20,
        ),
        s(
            "near, 10 intents at 2%",
            Kind::Topic,
            "banking77",
            10,
            0.02,
            false,
            20,
        ),
        s(
            "far, CLINC150 domain at 5%",
            Kind::Topic,
            "clinc150",
            0,
            0.05,
            false,
            20,
        ),
        // Text that carries typos of its own on both sides, as long
        // hand-written questions do: a topic must still read as a topic,
        // not as surface form, and the typos are no structural drift.
        Scenario {
            typos_everywhere: 2,
            ..s(
                "near, 3 intents at 5%, two typos in every input",
                Kind::Topic,
                "banking77",
                3,
                0.05,
                false,
                20,
            )
        },
        // Large shifts, which must stay easy: a new topic that fills many
        // regions must not inflate the clumping measured from the covered ones.
        s(
            "near, 10 intents at 30%",
            Kind::Topic,
            "banking77",
            10,
            0.30,
            false,
            10,
        ),
        s(
            "far, CLINC150 domain at 30%",
            Kind::Topic,
            "clinc150",
            0,
            0.30,
            false,
            10,
        ),
        // Debian's fortunes: long, hand-written text of many registers that no
        // setting was tuned on (scripts/ensure-fortunes.sh).
        s(
            "fortunes: no drift (row split)",
            Kind::NoDrift,
            "fortunes",
            0,
            0.0,
            false,
            30,
        ),
        s(
            "fortunes: no drift (grouped split)",
            Kind::NoDrift,
            "fortunes",
            0,
            0.0,
            true,
            30,
        ),
        s(
            "fortunes: a themed file at 5%",
            Kind::Topic,
            "fortunes",
            0,
            0.05,
            false,
            26,
        ),
        s(
            "fortunes: a themed file at 15%",
            Kind::Topic,
            "fortunes",
            0,
            0.15,
            false,
            13,
        ),
        s(
            "fortunes: typos + casing in 30% of inputs",
            Kind::Noise,
            "fortunes",
            0,
            0.30,
            false,
            20,
        ),
        s(
            "typos + casing in 30% of inputs",
            Kind::Noise,
            "banking77",
            0,
            0.30,
            false,
            20,
        ),
        s(
            "15% of outputs not JSON, no config",
            Kind::FormatBreak,
            "banking77",
            0,
            0.15,
            false,
            20,
        ),
        s(
            "15% of outputs drop or rename a key, no config",
            Kind::SchemaBreak,
            "banking77",
            0,
            0.15,
            false,
            20,
        ),
        s(
            "20% of outputs cut to a quarter",
            Kind::Truncation,
            "banking77",
            0,
            0.20,
            false,
            20,
        ),
        s(
            "40% of outputs in another register",
            Kind::Style,
            "banking77",
            0,
            0.40,
            false,
            20,
        ),
    ]
}

/// One production trace with its truth.
#[derive(Debug, Clone)]
pub struct ProdRow {
    pub input: String,
    pub output: String,
    /// From a held-out intent or domain.
    pub novel: bool,
}

/// One generated case.
pub struct Case {
    pub golden: Vec<(String, String)>,
    pub production: Vec<ProdRow>,
    /// The held-out intents or domain (topic scenarios), for `--verbose`.
    pub held_out: Vec<String>,
}

/// Golden and production rows per case (`--golden N`, `--production N`).
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub golden: usize,
    pub production: usize,
}

impl Default for Sizes {
    fn default() -> Self {
        Sizes {
            golden: 1000,
            production: 2000,
        }
    }
}

const OPENERS: &[&str] = &["Sure, I can help with that.", "Thanks for reaching out."];
const BODIES: &[&str] = &[
    "You can manage this from the app under Settings, or I can walk you through it step by step.",
    "This usually takes one to two business days, and you will get a confirmation by email.",
    "Most customers resolve this in a couple of minutes by following the steps in the help center.",
];

fn small_hash(s: &str) -> usize {
    s.bytes()
        .fold(5381usize, |h, b| h.wrapping_mul(33) ^ b as usize)
}

/// The application's JSON answer to a query (six wordings per intent), or the
/// real reply the data set gives it (fortunes).
pub fn answer(q: &Query) -> String {
    if let Some(r) = &q.reply {
        return r.clone();
    }
    let h = small_hash(&q.text);
    let text = format!(
        "{} Regarding {}: {}",
        OPENERS[h % OPENERS.len()],
        q.intent.replace('_', " "),
        BODIES[(h / 7) % BODIES.len()]
    );
    serde_json::json!({"intent": q.intent, "answer": text}).to_string()
}

/// The same answer in a casual register (the style-change scenario).
fn casual(q: &Query) -> String {
    let text = format!(
        "hey!! {} huh? lol no worries, just poke around the app, it's all in there somewhere 🙂",
        q.intent.replace('_', " ")
    );
    serde_json::json!({"intent": q.intent, "answer": text}).to_string()
}

/// A broken output: JSON cut before its end, or the bare answer text.
fn broken(out: &str, r: &mut ChaCha8Rng) -> String {
    if r.random_bool(0.5) {
        let cut = out.len() - 12;
        out[..out
            .char_indices()
            .map(|(i, _)| i)
            .take_while(|&i| i <= cut)
            .last()
            .unwrap_or(0)]
            .to_string()
    } else {
        serde_json::from_str::<serde_json::Value>(out).unwrap()["answer"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// One dropped, doubled or swapped letter inside a random word of five or
/// more letters (the text unchanged when it has none).
fn one_typo(text: &str, r: &mut ChaCha8Rng) -> String {
    let words: Vec<(usize, &str)> = text
        .split(' ')
        .scan(0, |at, w| {
            let start = *at;
            *at += w.len() + 1;
            Some((start, w))
        })
        .filter(|(_, w)| w.len() >= 5 && w.bytes().all(|b| b.is_ascii_alphabetic()))
        .collect();
    if words.is_empty() {
        return text.to_string();
    }
    let (start, w) = words[r.random_range(0..words.len())];
    let mut c: Vec<u8> = w.as_bytes().to_vec();
    let i = r.random_range(1..c.len() - 2);
    match r.random_range(0..3) {
        0 => {
            c.remove(i);
        }
        1 => c.insert(i, c[i]),
        _ => c.swap(i, i + 1),
    }
    format!(
        "{}{}{}",
        &text[..start],
        String::from_utf8(c).expect("ASCII letters"),
        &text[start + w.len()..]
    )
}

/// The same JSON answer without its `intent`, or with `answer` renamed
/// `response`: still JSON, no longer the golden answers' shape.
fn reshaped(out: &str, r: &mut ChaCha8Rng) -> String {
    let mut v: serde_json::Value = serde_json::from_str(out).expect("a JSON answer");
    let o = v.as_object_mut().expect("an object");
    if r.random_bool(0.5) {
        o.remove("intent");
    } else {
        let a = o.remove("answer").expect("an answer");
        o.insert("response".into(), a);
    }
    v.to_string()
}

fn quarter(out: &str) -> String {
    let n = out.chars().count() / 4;
    out.chars().take(n).collect()
}

/// Near-duplicate groups for the grouped split: connected components at
/// cosine ≥ 0.9 over all queries, cut into chunks of at most 20.
pub fn near_duplicate_groups(vecs: &[&Vec<f32>]) -> Vec<Vec<usize>> {
    let n = vecs.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for i in 0..n {
        for j in i + 1..n {
            let s: f32 = vecs[i].iter().zip(vecs[j]).map(|(a, b)| a * b).sum();
            if s >= 0.9 {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                if a != b {
                    parent[a.max(b)] = a.min(b);
                }
            }
        }
    }
    let mut by_root: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..n {
        let r = find(&mut parent, i);
        by_root.entry(r).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut roots: Vec<_> = by_root.into_values().collect();
    roots.sort();
    for g in roots {
        for c in g.chunks(20) {
            groups.push(c.to_vec());
        }
    }
    groups
}

/// Builds the case of `sc` for `seed`. `groups` is required for a grouped split.
pub fn build(
    sc: &Scenario,
    seed: u64,
    queries: &[Query],
    groups: Option<&[Vec<usize>]>,
    sizes: Sizes,
) -> Case {
    let (golden_n, production_n) = (sizes.golden, sizes.production);
    let mut r = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(7919) ^ small_hash(sc.name) as u64);
    // Which queries are novel.
    let mut held_out = Vec::new();
    let novel: Vec<bool> = if sc.kind == Kind::Topic {
        let mut keys: Vec<&str> = if sc.held_out == 0 {
            // (A fortune file of no one theme, `mixed`, is never a topic.)
            let mut d: Vec<&str> = queries
                .iter()
                .map(|q| q.domain.as_str())
                .filter(|&d| d != "mixed")
                .collect();
            d.sort_unstable();
            d.dedup();
            // Every domain in turn across seeds.
            let k = d[seed as usize % d.len()];
            vec![k]
        } else {
            let mut i: Vec<&str> = queries.iter().map(|q| q.intent.as_str()).collect();
            i.sort_unstable();
            i.dedup();
            i.shuffle(&mut r);
            i.truncate(sc.held_out);
            i
        };
        keys.sort_unstable();
        held_out = keys.iter().map(|k| k.to_string()).collect();
        queries
            .iter()
            .map(|q| {
                let key = if sc.held_out == 0 {
                    &q.domain
                } else {
                    &q.intent
                };
                keys.binary_search(&key.as_str()).is_ok()
            })
            .collect()
    } else {
        vec![false; queries.len()]
    };
    let mut known: Vec<usize> = (0..queries.len()).filter(|&i| !novel[i]).collect();
    let mut fresh: Vec<usize> = (0..queries.len()).filter(|&i| novel[i]).collect();
    let n_novel = (sc.share * production_n as f64).round() as usize;
    let n_novel = if sc.kind == Kind::Topic { n_novel } else { 0 };
    assert!(
        golden_n + production_n - n_novel <= known.len(),
        "--golden {golden_n} --production {production_n}: {} holds only {} queries outside the held-out topics",
        sc.dataset,
        known.len()
    );
    let (golden_idx, prod_known): (Vec<usize>, Vec<usize>) = match groups {
        Some(groups) if sc.grouped => {
            let mut order: Vec<&Vec<usize>> = groups.iter().collect();
            order.shuffle(&mut r);
            let (mut g, mut p) = (Vec::new(), Vec::new());
            for grp in order {
                if g.len() < golden_n {
                    g.extend(grp.iter().copied().take(golden_n - g.len()));
                } else if p.len() < production_n - n_novel {
                    p.extend(grp.iter().copied().take(production_n - n_novel - p.len()));
                } else {
                    break;
                }
            }
            (g, p)
        }
        _ => {
            known.shuffle(&mut r);
            let g = known[..golden_n].to_vec();
            let p = known[golden_n..golden_n + production_n - n_novel].to_vec();
            (g, p)
        }
    };
    fresh.shuffle(&mut r);
    let golden = golden_idx
        .iter()
        .map(|&i| (queries[i].text.clone(), answer(&queries[i])))
        .collect();
    let mut production: Vec<ProdRow> = prod_known
        .iter()
        .map(|&i| (i, false))
        .chain(fresh.iter().cycle().take(n_novel).map(|&i| (i, true)))
        .map(|(i, novel)| ProdRow {
            input: queries[i].text.clone(),
            output: answer(&queries[i]),
            novel,
        })
        .collect();
    production.shuffle(&mut r);
    let mut golden: Vec<(String, String)> = golden;
    let inputs = golden
        .iter_mut()
        .map(|g| &mut g.0)
        .chain(production.iter_mut().map(|p| &mut p.input));
    for t in inputs {
        for _ in 0..sc.typos_everywhere {
            *t = one_typo(t, &mut r);
        }
    }
    let changed = (sc.share * production.len() as f64).round() as usize;
    match sc.kind {
        Kind::Noise => {
            for p in production.iter_mut().take(changed) {
                p.input = driftwatch::demo::generator::add_noise(&p.input, &mut r);
            }
        }
        Kind::FormatBreak => {
            for p in production.iter_mut().take(changed) {
                p.output = broken(&p.output, &mut r);
            }
        }
        Kind::SchemaBreak => {
            for p in production.iter_mut().take(changed) {
                p.output = reshaped(&p.output, &mut r);
            }
        }
        Kind::Truncation => {
            for p in production.iter_mut().take(changed) {
                p.output = quarter(&p.output);
            }
        }
        Kind::Style => {
            let by_text: HashMap<&str, &Query> =
                queries.iter().map(|q| (q.text.as_str(), q)).collect();
            for p in production.iter_mut().take(changed) {
                p.output = casual(by_text[p.input.as_str()]);
            }
        }
        Kind::NoDrift | Kind::Topic => {}
    }
    production.shuffle(&mut r);
    Case {
        golden,
        production,
        held_out,
    }
}
