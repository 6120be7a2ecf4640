//! Detection-quality benchmark on real text (BANKING77: near topics; CLINC150:
//! far topics; Debian's fortunes: long text of many registers). Every case is a whole `driftwatch run` with default settings
//! and no config (as `driftwatch run JOB --golden-set … --sample-size 2000`):
//! a fresh SQLite store, the golden set imported, production ingested, the
//! job run, its findings and proposals read back and scored against the truth.
//!
//! ```text
//! scripts/fetch-model.sh
//! cargo bench --bench quality -- ../shared/data
//! cargo bench --bench quality -- ../shared/data --only near --seeds 5
//! ```
//! `--only S` keeps the scenarios whose name contains `S` (repeatable);
//! `--seeds N` runs N seeds per scenario instead of its default (fewer for a
//! quick look, more to pin a false-alarm rate); `--verbose` prints every run;
//! `--fortunes DIR` reads Debian's fortunes from DIR instead of
//! `/usr/share/games/fortunes` (`scripts/ensure-fortunes.sh` installs them;
//! without them their scenarios are skipped with a warning);
//! `--embedding static` runs every case on the static table distilled from
//! MiniLM (the grouped split's groups still come from MiniLM);
//! `--golden N` and `--production N` change the rows per case (default 1,000
//! and 2,000; a topic's share is of production, and the run samples all of it).
//! Embeddings are cached in `target/quality-cache/` (each text embedded once).

mod data;
mod scenarios;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use driftwatch::embed::{build_embedder, Backend, EmbedConfig};
use driftwatch::ingest::{FieldMap, IngestConfig};
use driftwatch::jobs::{run_job, JobConfig, RunOptions, SharedEmbedder};
use driftwatch::review::ProposalFilter;
use driftwatch::store::{FindingKind, NewGoldenExample, Store, Verdict};

use data::FileCachedEmbedder;
use scenarios::{Kind, Scenario};

struct Args {
    data: PathBuf,
    only: Vec<String>,
    seeds: Option<u64>,
    verbose: bool,
    /// Runs embed with the static table distilled from MiniLM (`--embedding static`).
    static_embedding: bool,
    /// Debian's fortunes (`--fortunes DIR`; scripts/ensure-fortunes.sh).
    fortunes: PathBuf,
    /// Golden and production rows per case (`--golden N`, `--production N`).
    sizes: scenarios::Sizes,
}

fn args() -> Args {
    let mut a = Args {
        data: PathBuf::new(),
        only: Vec::new(),
        seeds: None,
        verbose: false,
        static_embedding: false,
        fortunes: PathBuf::from("/usr/share/games/fortunes"),
        sizes: scenarios::Sizes::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--bench" => {}
            "--only" => a.only.push(it.next().expect("--only NAME")),
            "--seeds" => a.seeds = Some(it.next().and_then(|s| s.parse().ok()).expect("--seeds N")),
            "--verbose" => a.verbose = true,
            "--fortunes" => a.fortunes = PathBuf::from(it.next().expect("--fortunes DIR")),
            "--golden" => {
                a.sizes.golden = it.next().and_then(|s| s.parse().ok()).expect("--golden N")
            }
            "--production" => {
                a.sizes.production = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .expect("--production N")
            }
            "--embedding" => {
                a.static_embedding = match it.next().as_deref() {
                    Some("static") => true,
                    Some("default") => false,
                    _ => panic!("--embedding static|default"),
                }
            }
            p => a.data = PathBuf::from(p),
        }
    }
    if a.data.as_os_str().is_empty() {
        // Built or started by `cargo test --all-targets`: nothing to measure.
        eprintln!("quality: no data folder given; usage: cargo bench --bench quality -- DATA_DIR");
        std::process::exit(0);
    }
    if !a.data.join("banking77").is_dir() {
        eprintln!("usage: cargo bench --bench quality -- DATA_DIR [--only NAME] [--seeds N] [--verbose] [--fortunes DIR] [--embedding static]\n(DATA_DIR holds banking77/ and clinc150/, e.g. ../shared/data)");
        std::process::exit(2);
    }
    a
}

/// What one run showed, scored against the truth.
#[derive(Debug, Default, Clone)]
struct Score {
    /// Drifted gaps, and those whose production members are ≥ 70 % novel.
    gaps: usize,
    pure_gaps: usize,
    /// Any drifted input-side semantic or coverage finding (incl. gaps).
    input_semantic: bool,
    /// Any drifted finding at all (no-drift scenarios: what would page).
    any: bool,
    structural_input: bool,
    structural_output: bool,
    json_valid: bool,
    schema_valid: bool,
    output_any: bool,
    proposals: usize,
    novel_proposals: usize,
    /// Pure gaps with at least one proposal.
    pure_gaps_proposed: usize,
    seconds: f64,
}

async fn run_case(
    sc: &Scenario,
    seed: u64,
    case: &scenarios::Case,
    e: &SharedEmbedder,
) -> (Score, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("q.db").display()))
        .await
        .unwrap();
    let golden: Vec<NewGoldenExample> = case
        .golden
        .iter()
        .map(|(i, o)| NewGoldenExample {
            input: i.clone(),
            expected_output: o.clone(),
            tags: vec![],
            proposal_id: None,
        })
        .collect();
    driftwatch::golden::import(&store, "golden", golden, "quality")
        .await
        .unwrap();
    let end = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
    let map = FieldMap::new(&IngestConfig::default());
    let traces: Vec<_> = case
        .production
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let ts = end - Duration::seconds(10 + 40 * i as i64);
            let rec = serde_json::json!({
                "id": format!("t{i}"),
                "ts": ts.to_rfc3339(),
                "input": p.input,
                "output": p.output,
                "model": "app-model",
            });
            map.to_trace(&rec, "quality").unwrap()
        })
        .collect();
    store.insert_traces(&traces).await.unwrap();
    let novel_by_id: HashMap<String, bool> = case
        .production
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("t{i}"), p.novel))
        .collect();
    let novel_inputs: std::collections::HashSet<&str> = case
        .production
        .iter()
        .filter(|p| p.novel)
        .map(|p| p.input.as_str())
        .collect();

    let mut job = JobConfig::adhoc("quality", "golden");
    job.window = "1d".parse().unwrap();
    job.sample_size = case.production.len();
    job.seed = seed;
    let spec = job.check("quality", Path::new(".")).unwrap();
    let started = Instant::now();
    let out = run_job(&store, &spec, &RunOptions::at(end, Some(e.clone())))
        .await
        .unwrap();
    let mut s = Score {
        seconds: started.elapsed().as_secs_f64(),
        ..Score::default()
    };
    let mut pure_clusters = Vec::new();
    let mut lines = Vec::new();
    for f in out
        .findings
        .iter()
        .filter(|f| f.verdict == Verdict::Drifted)
    {
        let input = f.side == "input";
        s.any = true;
        match f.kind {
            FindingKind::Semantic | FindingKind::Coverage if input => s.input_semantic = true,
            FindingKind::Structural if input => s.structural_input = true,
            FindingKind::Structural => s.structural_output = true,
            _ => {}
        }
        if f.side == "output" {
            s.output_any = true;
        }
        if f.metric == "output.json_valid" {
            s.json_valid = true;
        }
        if f.metric == "output.schema_valid" {
            s.schema_valid = true;
        }
        if f.details.gap {
            s.gaps += 1;
            let members: Vec<&str> = f
                .details
                .extra("member_ids")
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            let nov = members
                .iter()
                .filter(|m| novel_by_id.get(**m).copied().unwrap_or(false))
                .count();
            let purity = if members.is_empty() {
                0.0
            } else {
                nov as f64 / members.len() as f64
            };
            if purity >= 0.7 {
                s.pure_gaps += 1;
                pure_clusters.push(
                    f.details
                        .gap_id
                        .or(f.details.cluster.map(|c| c as i64))
                        .unwrap_or(-1),
                );
            }
            lines.push(format!(
                "    gap {} ({}): {} members, {:.0}% novel, p {:.2e} p_adj {:.2e}, typo share {:.2} (golden {:.2})",
                f.details.label.as_deref().unwrap_or(""),
                f.details.extra("found_by").as_str().unwrap_or(""),
                members.len(),
                100.0 * purity,
                f.p_value.unwrap_or(f64::NAN),
                f.p_adjusted.unwrap_or(f64::NAN),
                f.details.extra("noisy_share").as_f64().unwrap_or(f64::NAN),
                f.details.extra("golden_noisy_share").as_f64().unwrap_or(f64::NAN)
            ));
        } else {
            lines.push(format!(
                "    {} {}: p {:.2e} p_adj {:.2e} effect {:.3} (independent p {}, design effect {})",
                f.metric,
                f.test,
                f.p_value.unwrap_or(f64::NAN),
                f.p_adjusted.unwrap_or(f64::NAN),
                f.effect_size.unwrap_or(f64::NAN),
                f.details.extra("p_value_independent"),
                f.details.extra("design_effect")
            ));
        }
    }
    let props = store
        .list_proposals(&ProposalFilter {
            run_id: Some(out.run_id),
            ..ProposalFilter::default()
        })
        .await
        .unwrap();
    let props: Vec<_> = props
        .into_iter()
        .filter(|p| p.kind != "spot_check")
        .collect();
    s.proposals = props.len();
    s.novel_proposals = props
        .iter()
        .filter(|p| novel_inputs.contains(p.input.as_str()))
        .count();
    s.pure_gaps_proposed = pure_clusters
        .iter()
        .filter(|c| props.iter().any(|p| p.cluster_id == Some(**c)))
        .count();
    let phis = out
        .summary
        .semantic
        .as_ref()
        .and_then(|s| s.gap_regions.as_ref())
        .map(|r| format!("{:.1?} (unit ICC {:.2?})", r.design_effects, r.unit_iccs))
        .unwrap_or_default();
    // Regions read as typos (typo share inside, elsewhere), when any.
    let surface = out
        .summary
        .semantic
        .as_ref()
        .and_then(|s| s.gap_regions.as_ref())
        .map(|s| {
            s.surface_form_regions
                .iter()
                .map(|r| format!("{:.2}/{:.2}", r.noisy_share, r.golden_share))
                .collect::<Vec<_>>()
        })
        .filter(|v| !v.is_empty())
        .map(|v| format!(", surface-form regions {}", v.join(" ")))
        .unwrap_or_default();
    let head = format!(
        "  {} seed {seed}: design effects {phis}{surface}, gaps {} (pure {}), input semantic {}, structural in/out {}/{}, json {}, schema {}, proposals {} ({} novel), {:.1}s",
        sc.name, s.gaps, s.pure_gaps, s.input_semantic, s.structural_input, s.structural_output, s.json_valid, s.schema_valid,
        s.proposals, s.novel_proposals, s.seconds
    );
    let head = match case.held_out.is_empty() {
        true => head,
        false => format!("{head}\n    held out: {}", case.held_out.join(", ")),
    };
    store.close().await;
    (
        s,
        std::iter::once(head)
            .chain(lines)
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

fn pct(n: usize, d: usize) -> String {
    if d == 0 {
        "–".into()
    } else {
        format!("{}/{} ({:.0}%)", n, d, 100.0 * n as f64 / d as f64)
    }
}

fn main() {
    let a = args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = EmbedConfig {
        backend: if a.static_embedding {
            Backend::Static
        } else {
            Backend::Local
        },
        ..EmbedConfig::default()
    };
    let real = build_embedder(&cfg, root).expect("model files: run scripts/fetch-model.sh");
    let mut cache = FileCachedEmbedder::open(real, &root.join("target/quality-cache"));
    // The grouped split's near-duplicate groups always come from MiniLM, so both
    // embeddings are scored on the same scenario rows.
    let mut minilm = a.static_embedding.then(|| {
        let m = build_embedder(&EmbedConfig::default(), root).expect("model files");
        FileCachedEmbedder::open(m, &root.join("target/quality-cache"))
    });
    let mut scenarios: Vec<Scenario> = scenarios::all()
        .into_iter()
        .filter(|s| a.only.is_empty() || a.only.iter().any(|o| s.name.contains(o.as_str())))
        .collect();
    if scenarios.iter().any(|s| s.dataset == "fortunes") && !a.fortunes.is_dir() {
        eprintln!(
            "quality: {} not found (scripts/ensure-fortunes.sh installs it): the fortunes scenarios are skipped",
            a.fortunes.display()
        );
        scenarios.retain(|s| s.dataset != "fortunes");
    }
    let wanted = |name: &str| scenarios.iter().any(|s| s.dataset == name);
    let load = |name: &str, f: &dyn Fn() -> Vec<data::Query>| match wanted(name) {
        true => f(),
        false => Vec::new(),
    };
    let banking = load("banking77", &|| data::banking77(&a.data));
    let clinc = load("clinc150", &|| data::clinc150(&a.data));
    let fortunes = load("fortunes", &|| data::fortunes(&a.fortunes));
    // Embed every query once (the grouped split needs them, and runs hit the cache).
    let all: Vec<&str> = banking
        .iter()
        .chain(&clinc)
        .chain(&fortunes)
        .map(|q| q.text.as_str())
        .collect();
    cache.warm(&all);
    // Near-duplicate groups per dataset that a grouped split needs.
    let mut groups: HashMap<&str, Vec<Vec<usize>>> = HashMap::new();
    for (name, qs) in [
        ("banking77", &banking),
        ("clinc150", &clinc),
        ("fortunes", &fortunes),
    ] {
        if !scenarios.iter().any(|s| s.grouped && s.dataset == name) {
            continue;
        }
        let t = Instant::now();
        let by = match minilm.as_mut() {
            Some(m) => {
                let texts: Vec<&str> = qs.iter().map(|q| q.text.as_str()).collect();
                m.warm(&texts);
                &*m
            }
            None => &cache,
        };
        let vecs: Vec<&Vec<f32>> = qs.iter().map(|q| by.get(&q.text).unwrap()).collect();
        let g = scenarios::near_duplicate_groups(&vecs);
        let multi = g.iter().filter(|g| g.len() > 1).count();
        let rows: usize = g.iter().filter(|g| g.len() > 1).map(Vec::len).sum();
        eprintln!(
            "quality: {name}: {} near-duplicate groups over {} queries ({multi} with ≥ 2 members holding {rows} queries), {:.1}s",
            g.len(),
            qs.len(),
            t.elapsed().as_secs_f64()
        );
        groups.insert(name, g);
    }
    // Build every case, then embed whatever text they add (typos, outputs).
    let mut cases = Vec::new();
    for sc in &scenarios {
        let qs = match sc.dataset {
            "clinc150" => &clinc,
            "fortunes" => &fortunes,
            _ => &banking,
        };
        for seed in 0..a.seeds.unwrap_or(sc.seeds) {
            cases.push((
                sc.clone(),
                seed,
                scenarios::build(
                    sc,
                    seed,
                    qs,
                    groups.get(sc.dataset).map(Vec::as_slice),
                    a.sizes,
                ),
            ));
        }
    }
    let extra: Vec<&str> = cases
        .iter()
        .flat_map(|(_, _, c)| {
            c.golden
                .iter()
                .flat_map(|(i, o)| [i.as_str(), o.as_str()])
                .chain(
                    c.production
                        .iter()
                        .flat_map(|p| [p.input.as_str(), p.output.as_str()]),
                )
        })
        .map(|t| if t.trim().is_empty() { "[empty]" } else { t })
        .collect();
    cache.warm(&extra);
    let e = SharedEmbedder::new(Box::new(cache));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let started = Instant::now();
    let mut by_scenario: Vec<(Scenario, Vec<Score>)> = Vec::new();
    for (sc, seed, case) in &cases {
        let (score, text) = rt.block_on(run_case(sc, *seed, case, &e));
        if a.verbose {
            println!("{text}");
        }
        match by_scenario.last_mut() {
            Some((s, v)) if s.name == sc.name => v.push(score),
            _ => by_scenario.push((sc.clone(), vec![score])),
        }
    }
    println!();
    println!("| scenario | seeds | detected | false alarm | runs with proposals | proposal purity | gaps per run (pure) | pure gaps with a proposal | s/run |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (sc, v) in &by_scenario {
        let n = v.len();
        let count = |f: &dyn Fn(&Score) -> bool| v.iter().filter(|s| f(s)).count();
        let (detected, false_alarm) = match sc.kind {
            Kind::NoDrift => (
                "–".to_string(),
                format!(
                    "{}; any finding {}",
                    pct(count(&|s| s.input_semantic), n),
                    pct(count(&|s| s.any), n)
                ),
            ),
            Kind::Topic => (
                pct(count(&|s| s.pure_gaps > 0), n),
                pct(count(&|s| s.gaps > s.pure_gaps), n),
            ),
            Kind::Noise => (
                pct(count(&|s| s.structural_input), n),
                pct(count(&|s| s.gaps > 0 || s.proposals > 0), n),
            ),
            Kind::FormatBreak => (
                pct(count(&|s| s.json_valid), n),
                pct(count(&|s| s.gaps > 0 || s.proposals > 0), n),
            ),
            Kind::SchemaBreak => (
                pct(count(&|s| s.schema_valid), n),
                pct(count(&|s| s.gaps > 0 || s.proposals > 0), n),
            ),
            Kind::Truncation => (
                pct(count(&|s| s.structural_output), n),
                pct(count(&|s| s.gaps > 0 || s.proposals > 0), n),
            ),
            Kind::Style => (
                pct(count(&|s| s.output_any), n),
                pct(count(&|s| s.gaps > 0 || s.proposals > 0), n),
            ),
        };
        let props: usize = v.iter().map(|s| s.proposals).sum();
        let novel: usize = v.iter().map(|s| s.novel_proposals).sum();
        let gaps: usize = v.iter().map(|s| s.gaps).sum();
        let pure: usize = v.iter().map(|s| s.pure_gaps).sum();
        let proposed: usize = v.iter().map(|s| s.pure_gaps_proposed).sum();
        let secs: f64 = v.iter().map(|s| s.seconds).sum::<f64>() / n as f64;
        println!(
            "| {} | {n} | {detected} | {false_alarm} | {} | {} | {:.2} ({:.2}) | {} | {secs:.1} |",
            sc.name,
            pct(count(&|s| s.proposals > 0), n),
            if sc.kind == Kind::Topic {
                pct(novel, props)
            } else {
                "–".into()
            },
            gaps as f64 / n as f64,
            pure as f64 / n as f64,
            if sc.kind == Kind::Topic {
                pct(proposed, pure)
            } else {
                "–".into()
            },
        );
    }
    println!(
        "\n{} runs in {:.0}s; loadavg at start: {}",
        cases.len(),
        started.elapsed().as_secs_f64(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}
