//! Detection power of the semantic stage on real text (a benchmark, not a
//! test: `#[ignore]`d, prints figures). Golden: 90 vendored CLINC150 queries in
//! each of six domains; production: `N` traces with `kitchen_and_dining` at
//! `SHARE`. Per seed it runs `semantic::analyze` with the real model and prints
//! which tests fire and whether a gap cluster holds the new topic.
//!
//! ```text
//! scripts/fetch-model.sh
//! SHARE=0.05 N=1000 SEEDS=12,13,14,15,16 cargo test --release --test semantic_power -- --ignored --nocapture
//! ```
//! `VERBOSE=1` adds the cluster table. Results are in BENCHMARKS.md.

use driftwatch::demo::generator::{golden_records, production_records, GenOptions, GOLDEN_DOMAINS};
use driftwatch::embed::{build_embedder, EmbedConfig};
use driftwatch::semantic::{analyze, select_proposals, ClusterVerdict, SemanticParams};
use ndarray::Array2;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn matrix(rows: Vec<Vec<f32>>) -> Array2<f32> {
    let d = rows[0].len();
    let n = rows.len();
    Array2::from_shape_vec((n, d), rows.into_iter().flatten().collect()).unwrap()
}

#[test]
#[ignore = "benchmark: prints detection figures"]
fn semantic_detection_power() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut e = build_embedder(&EmbedConfig::default(), root).expect("scripts/fetch-model.sh");
    let share: f64 = env("SHARE", 0.05);
    let n: usize = env("N", 1000);
    let seeds: Vec<u64> = env("SEEDS", "12,13,14,15,16".to_string())
        .split(',')
        .map(|s| s.trim().parse().expect("SEEDS: comma-separated integers"))
        .collect();
    let mut detected = 0;
    for &seed in &seeds {
        let golden: Vec<String> = golden_records(seed, GOLDEN_DOMAINS, 90)
            .into_iter()
            .map(|v| v["input"].as_str().unwrap().to_string())
            .collect();
        let mut o = GenOptions::clean(seed, n);
        o.new_topic = (share > 0.0).then(|| ("kitchen_and_dining".to_string(), share));
        let recs = production_records(&o);
        let prod: Vec<String> = recs
            .iter()
            .map(|(r, _)| r["input"].as_str().unwrap().to_string())
            .collect();
        let novel: Vec<bool> = recs.iter().map(|(_, t)| t.new_topic).collect();
        let g: Vec<&str> = golden.iter().map(String::as_str).collect();
        let p: Vec<&str> = prod.iter().map(String::as_str).collect();
        let ge = matrix(e.embed(&g).unwrap());
        let pe = matrix(e.embed(&p).unwrap());
        let params = SemanticParams::builder().seed(seed).check().unwrap();
        let rep = analyze(ge.view(), pe.view(), &p, &g, &params).unwrap();
        let c = &rep.coverage;
        let novel_uncovered = c
            .production_index
            .iter()
            .zip(&c.uncovered)
            .filter(|(i, u)| **u && novel[**i])
            .count();
        // A gap "holds the topic" when most of its production members are novel.
        let topic_gaps = rep
            .clustering
            .clusters
            .iter()
            .filter(|cs| cs.verdict == ClusterVerdict::Gap)
            .filter(|cs| {
                let nov = cs.production_members.iter().filter(|&&i| novel[i]).count();
                2 * nov >= cs.production_count
            })
            .count();
        let regions = rep.clustering.regions.as_ref();
        // Proposals as a run would queue them (golden excluded as near duplicates).
        let picks = select_proposals(pe.view(), &rep.clustering, ge.view(), &params).unwrap();
        let picks_novel = picks.iter().filter(|k| novel[k.index]).count();
        let any = rep.verdict.any || !rep.clustering.gap_ranking.is_empty();
        detected += usize::from(any);
        println!(
            "seed {seed}: novel {} (uncovered {novel_uncovered}) | coverage {:.3} thr {:.3} p {:.2e} (binomial {:.2e}) | mmd p {:.3} | auc {:.3} p {:.2e} | design effect {:.2} regions tested {} | k {} gaps {} (topic-majority {topic_gaps}) | proposals {} ({picks_novel} topic) | detected {any}",
            novel.iter().filter(|x| **x).count(),
            c.coverage,
            c.threshold,
            c.p_value,
            c.p_value_binomial,
            rep.mmd.p_value,
            rep.classifier.auc,
            rep.classifier.p_value,
            regions.map_or(1.0, |r| r.design_effect),
            regions.map_or(0, |r| r.tested),
            rep.clustering.k,
            rep.clustering.gap_ranking.len(),
            picks.len(),
        );
        if env("VERBOSE", 0) == 1 {
            for cs in &rep.clustering.clusters {
                let nov = cs.production_members.iter().filter(|&&i| novel[i]).count();
                println!(
                    "  c{:<2} golden {:3} production {:4} novel {:3} uncovered {:3} p {:.2e} ratio [{:.2}, {:.2}] {:?} | {}",
                    cs.id, cs.golden_count, cs.production_count, nov, cs.uncovered_count,
                    cs.uncovered_p_value, cs.gap.lower, cs.gap.upper, cs.verdict, rep.labels[cs.id]
                );
            }
        }
    }
    println!(
        "share {share}, n {n}: any semantic finding on {detected} of {} seeds",
        seeds.len()
    );
}
