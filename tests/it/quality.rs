//! Detection quality on real text, small and fast (the full benchmark is
//! `cargo bench --bench quality`): a vendored BANKING77 subset
//! (`tests/data/banking77/`, CC BY 4.0, Casanueva et al. 2020), the real
//! embedding model, whole runs with default settings and no config.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, TimeZone, Utc};
use driftwatch::embed::EmbedConfig;
use driftwatch::ingest::{FieldMap, IngestConfig};
use driftwatch::jobs::{run_job, JobConfig, RunOptions, RunOutcome, SharedEmbedder};
use driftwatch::review::ProposalFilter;
use driftwatch::store::{Finding, FindingKind, NewGoldenExample, Store, Verdict};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::common::TestDb;

pub(crate) struct Q {
    pub(crate) text: String,
    pub(crate) intent: String,
}

pub(crate) fn fixture() -> Vec<Q> {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/banking77/subset.csv");
    csv::Reader::from_path(p)
        .unwrap()
        .records()
        .map(|r| {
            let r = r.unwrap();
            Q {
                text: r[0].to_string(),
                intent: r[1].to_string(),
            }
        })
        .collect()
}

/// The application's JSON answer (a few wordings per intent).
pub(crate) fn answer(q: &Q) -> String {
    let h = q.text.len();
    let body = [
        "You can do this in the app.",
        "It usually takes a day.",
        "Our help center explains it.",
    ][h % 3];
    serde_json::json!({"intent": q.intent, "answer": format!("About {}: {body}", q.intent.replace('_', " "))}).to_string()
}

pub(crate) fn end() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap()
}

pub(crate) fn embedder() -> SharedEmbedder {
    SharedEmbedder::build(
        &EmbedConfig::default(),
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
    )
    .expect("model files: run scripts/fetch-model.sh")
}

/// Imports `golden`, ingests `production` (input, output, novel), runs a
/// default job, and returns the outcome and which external ids are novel.
async fn run(
    store: &Store,
    golden: &[(String, String)],
    production: &[(String, String, bool)],
    semantic: bool,
) -> (RunOutcome, HashMap<String, bool>) {
    let g: Vec<NewGoldenExample> = golden
        .iter()
        .map(|(i, o)| NewGoldenExample {
            input: i.clone(),
            expected_output: o.clone(),
            tags: vec![],
            proposal_id: None,
        })
        .collect();
    driftwatch::golden::import(store, "g", g, "test")
        .await
        .unwrap();
    let map = FieldMap::new(&IngestConfig::default());
    let traces: Vec<_> = production
        .iter()
        .enumerate()
        .map(|(i, (input, output, _))| {
            let rec = serde_json::json!({
                "id": format!("t{i}"),
                "ts": (end() - Duration::seconds(10 + 30 * i as i64)).to_rfc3339(),
                "input": input, "output": output,
            });
            map.to_trace(&rec, "app").unwrap()
        })
        .collect();
    store.insert_traces(&traces).await.unwrap();
    let mut j = JobConfig::adhoc("q", "g");
    j.window = "1d".parse().unwrap();
    j.sample_size = 2000;
    j.seed = 1;
    j.language_detection = false;
    j.semantic.enabled = semantic;
    j.semantic.outputs = false;
    let spec = j.check("q", std::path::Path::new(".")).unwrap();
    let out = run_job(
        store,
        &spec,
        &RunOptions::at(end(), semantic.then(embedder)),
    )
    .await
    .unwrap();
    let novel = production
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("t{i}"), p.2))
        .collect();
    (out, novel)
}

/// The proposals a run queued.
async fn proposals(s: &Store, o: &RunOutcome) -> Vec<driftwatch::store::Proposal> {
    s.list_proposals(&ProposalFilter {
        run_id: Some(o.run_id),
        ..Default::default()
    })
    .await
    .unwrap()
}

fn drifted_gaps(o: &RunOutcome) -> Vec<&Finding> {
    o.findings
        .iter()
        .filter(|f| f.verdict == Verdict::Drifted && f.details.gap)
        .collect()
}

/// The decision rule, as a user reads it off the report: nothing is drifted
/// with an adjusted p at or above α or an effect under its floor.
fn assert_verdicts_follow_the_rule(o: &RunOutcome) {
    for f in &o.findings {
        if f.verdict == Verdict::Drifted {
            let pa = f.p_adjusted.expect("a drifted finding has an adjusted p");
            assert!(pa < 0.05, "{} drifted with p_adj {pa}", f.metric);
            if let (Some(e), Some(t)) = (f.effect_size, f.threshold) {
                assert!(
                    e >= t,
                    "{} drifted with effect {e} under its floor {t}",
                    f.metric
                );
            }
        }
    }
}

/// Golden (input, expected output) pairs.
type Golden = Vec<(String, String)>;
/// Production (input, output, from a held-out intent) traces.
type Production = Vec<(String, String, bool)>;

/// Golden and production from disjoint rows of the same intents (minus `held_out`).
fn split(
    seed: u64,
    per_golden: usize,
    per_prod: usize,
    held_out: &[&str],
) -> (Golden, Production, Vec<Q>) {
    let qs = fixture();
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut by: HashMap<&str, Vec<&Q>> = HashMap::new();
    for q in &qs {
        by.entry(q.intent.as_str()).or_default().push(q);
    }
    let mut intents: Vec<&str> = by.keys().copied().collect();
    intents.sort_unstable();
    let (mut golden, mut prod) = (Vec::new(), Vec::new());
    for i in intents {
        let rows = by.get_mut(i).unwrap();
        rows.shuffle(&mut r);
        if held_out.contains(&i) {
            prod.extend(
                rows.iter()
                    .take(per_prod + per_golden)
                    .map(|q| (q.text.clone(), answer(q), true)),
            );
        } else {
            golden.extend(
                rows.iter()
                    .take(per_golden)
                    .map(|q| (q.text.clone(), answer(q))),
            );
            prod.extend(
                rows.iter()
                    .skip(per_golden)
                    .take(per_prod)
                    .map(|q| (q.text.clone(), answer(q), false)),
            );
        }
    }
    prod.shuffle(&mut r);
    (golden, prod, qs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_break_without_config_is_found() {
    let db = TestDb::sqlite().await;
    let s = db.store().await;
    let (golden, mut prod, _) = split(3, 40, 70, &[]);
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let n = prod.len() * 15 / 100;
    let mut idx: Vec<usize> = (0..prod.len()).collect();
    idx.shuffle(&mut r);
    for &i in &idx[..n] {
        let o = &mut prod[i].1;
        o.truncate(o.len() - 3); // `…"}` cut: no longer JSON
    }
    let (out, _) = run(&s, &golden, &prod, false).await;
    assert_eq!(
        out.summary
            .output_format
            .as_ref()
            .map(|f| f.format.as_str()),
        Some("json"),
        "{:?}",
        out.summary.output_format
    );
    assert!(out.summary.output_format.as_ref().unwrap().inferred);
    let f = out
        .findings
        .iter()
        .find(|f| f.metric == "output.json_valid")
        .expect("JSON validity measured without config");
    assert_eq!(f.verdict, Verdict::Drifted, "{f:?}");
    assert_verdicts_follow_the_rule(&out);

    // Free-text golden answers: no JSON contract is inferred.
    let db = TestDb::sqlite().await;
    let s = db.store().await;
    let text_golden: Vec<(String, String)> = golden
        .iter()
        .map(|(i, _)| (i.clone(), format!("Sure: {i}")))
        .collect();
    let (out, _) = run(&s, &text_golden, &prod, false).await;
    assert_eq!(out.summary.output_format.unwrap().format, "text");
    assert!(out.findings.iter().all(|f| f.metric != "output.json_valid"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_topic_gives_a_pure_gap_and_proposals_from_it() {
    let db = TestDb::sqlite().await;
    let s = db.store().await;
    // One banking intent the golden set lacks, ≈ 10 % of production, among
    // eleven covered intents that share most of its vocabulary.
    let (golden, prod, _) = split(5, 40, 70, &["beneficiary_not_allowed"]);
    let (out, novel) = run(&s, &golden, &prod, true).await;
    assert_verdicts_follow_the_rule(&out);
    let gaps = drifted_gaps(&out);
    assert!(
        !gaps.is_empty(),
        "no gap: {:#?}",
        out.summary.semantic.as_ref().map(|s| &s.gap_regions)
    );
    let top = gaps[0];
    let members: Vec<&str> = top
        .details
        .extra("member_ids")
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let pure = members.iter().filter(|m| novel[**m]).count();
    assert!(
        pure * 10 >= members.len() * 7,
        "gap {pure} of {} novel",
        members.len()
    );
    assert_eq!(top.details.semantic_kind.as_deref(), Some("topic"));
    let props = proposals(&s, &out).await;
    assert!(!props.is_empty(), "a found gap gets proposals");
    let novel_inputs: HashSet<&str> = prod.iter().filter(|p| p.2).map(|p| p.0.as_str()).collect();
    let from_topic = props
        .iter()
        .filter(|p| novel_inputs.contains(p.input.as_str()))
        .count();
    assert!(
        from_topic * 10 >= props.len() * 9,
        "{from_topic} of {} proposals from the topic",
        props.len()
    );
    // The coverage finding shows the least-covered production inputs, each
    // under the similarity threshold, least similar first: here the topic.
    let cov = out
        .findings
        .iter()
        .find(|f| f.metric == "input.coverage")
        .expect("a coverage finding");
    let threshold = cov.details.extra("threshold").as_f64().unwrap();
    let shown: Vec<(&str, f64)> = cov
        .details
        .examples
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| match e {
            driftwatch::store::Example::Trace(t) => {
                Some((t.text.as_deref()?, t.value.as_ref()?.as_f64()?))
            }
            _ => None,
        })
        .collect();
    assert_eq!(shown.len(), 3, "{:?}", cov.details.examples);
    assert!(shown.iter().all(|(_, sim)| *sim < threshold), "{shown:?}");
    assert!(shown.windows(2).all(|w| w[0].1 <= w[1].1), "{shown:?}");
    let topical = shown
        .iter()
        .filter(|(t, _)| novel_inputs.contains(t))
        .count();
    assert!(topical >= 2, "least covered: {shown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typo_noise_is_a_structural_finding_not_a_topic() {
    let db = TestDb::sqlite().await;
    let s = db.store().await;
    let (golden, mut prod, _) = split(7, 40, 70, &[]);
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let n = prod.len() * 30 / 100;
    for p in prod.iter_mut().take(n) {
        p.0 = driftwatch::demo::generator::add_noise(&p.0, &mut r);
    }
    let (out, _) = run(&s, &golden, &prod, true).await;
    assert_verdicts_follow_the_rule(&out);
    let structural: Vec<&str> = out
        .findings
        .iter()
        .filter(|f| {
            f.verdict == Verdict::Drifted && f.kind == FindingKind::Structural && f.side == "input"
        })
        .map(|f| f.metric.as_str())
        .collect();
    assert!(
        !structural.is_empty(),
        "typos and casing give a structural input finding"
    );
    assert!(
        drifted_gaps(&out).is_empty(),
        "typos reported as a topic: {:#?}",
        out.summary.semantic
    );
    let props = proposals(&s, &out).await;
    assert!(
        props.is_empty(),
        "typos queued proposals: {:?}",
        props.iter().map(|p| &p.input).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouped_no_drift_raises_no_finding() {
    let db = TestDb::sqlite().await;
    let s = db.store().await;
    // Paraphrase groups (connected at cosine ≥ 0.9, cut to ≤ 20) land whole
    // on one side, as repeated questions do in real traffic.
    let qs = fixture();
    let e = embedder();
    let texts: Vec<&str> = qs.iter().map(|q| q.text.as_str()).collect();
    let (m, _) = driftwatch::jobs::embed_cached(&s, &e, &texts, None)
        .await
        .unwrap();
    let n = qs.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    let sim = m.dot(&m.t());
    for i in 0..n {
        for j in i + 1..n {
            if sim[[i, j]] >= 0.9 {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut comps: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..n {
        let root = find(&mut parent, i);
        comps.entry(root).or_default().push(i);
    }
    let mut roots: Vec<usize> = comps.keys().copied().collect();
    roots.sort_unstable();
    let mut groups: Vec<Vec<usize>> = roots
        .iter()
        .flat_map(|r| {
            comps[r]
                .chunks(20)
                .map(<[usize]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        groups.iter().any(|g| g.len() >= 5),
        "the fixture has paraphrase groups"
    );
    groups.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(11));
    let (mut golden, mut prod) = (Vec::new(), Vec::new());
    for g in groups {
        if golden.len() < 450 {
            golden.extend(g.iter().map(|&i| (qs[i].text.clone(), answer(&qs[i]))));
        } else if prod.len() < 900 {
            prod.extend(
                g.iter()
                    .map(|&i| (qs[i].text.clone(), answer(&qs[i]), false)),
            );
        }
    }
    let (out, _) = run(&s, &golden, &prod, true).await;
    assert_verdicts_follow_the_rule(&out);
    assert!(
        drifted_gaps(&out).is_empty(),
        "grouped no-drift reported a gap: {:#?}",
        out.summary.semantic.as_ref().map(|s| &s.gap_regions)
    );
    let props = proposals(&s, &out).await;
    assert!(props.is_empty());
    // Nor any other finding: grouped classifier folds, the coverage
    // near-duplicate ceiling and the design effect (which deflates the
    // structural tests too: a paraphrase group brings its words, lengths and
    // casing along) keep repeated questions from reading as drift.
    let drifted: Vec<_> = out
        .findings
        .iter()
        .filter(|f| f.verdict == Verdict::Drifted)
        .map(|f| (&f.metric, f.p_value, f.p_adjusted))
        .collect();
    assert!(drifted.is_empty(), "grouped no-drift drifted: {drifted:?}");
}
