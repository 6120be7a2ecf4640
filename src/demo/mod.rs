//! `driftwatch demo`: a newcomer's first run. Generates a realistic support
//! assistant log and a golden set (see [`generator`]), ingests both through the
//! same code paths a user would (`ingest`, `golden import`), and prints what it did
//! and what to run next. The generator also feeds tests and benchmarks.

pub mod generator;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::{ingest_file, DemoArgs};
use crate::ingest::{FieldMap, IngestConfig, IngestOptions, InputFormat};
use crate::store::Store;
use generator::{golden_records, production_records, GenOptions, GOLDEN_DOMAINS};

/// Writes `n` generated production traces as JSONL.
pub fn write_production(out: &mut impl Write, opts: &GenOptions) -> std::io::Result<()> {
    for (rec, _) in production_records(opts) {
        writeln!(out, "{rec}")?;
    }
    Ok(())
}

fn write_lines(path: &Path, records: impl IntoIterator<Item = serde_json::Value>) -> Result<()> {
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    for r in records {
        writeln!(f, "{r}")?;
    }
    f.flush()?;
    Ok(())
}

pub async fn run(args: &DemoArgs) -> Result<ExitCode> {
    if let Some(n) = args.generate {
        let opts = GenOptions::demo(args.seed, n);
        match args.out.as_deref() {
            None => write_production(&mut std::io::stdout().lock(), &opts)?,
            Some(p) if p == Path::new("-") => {
                write_production(&mut std::io::stdout().lock(), &opts)?
            }
            Some(p) => {
                let mut f = std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot create {}", p.display()))?,
                );
                write_production(&mut f, &opts)?;
                f.flush()?;
                eprintln!("wrote {n} generated traces to {}", p.display());
            }
        }
        return Ok(ExitCode::SUCCESS);
    }

    let dir = &args.dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let db = dir.join("driftwatch.db");
    for suffix in ["", "-wal", "-shm"] {
        let p = dir.join(format!("driftwatch.db{suffix}"));
        if p.exists() {
            std::fs::remove_file(&p)
                .with_context(|| format!("cannot remove old {}", p.display()))?;
        }
    }
    let url = format!("sqlite://{}", db.display());
    println!("== driftwatch demo");
    println!(
        "A support assistant answers user questions with JSON {{intent, answer, confidence}}."
    );
    println!("Its golden set covers 6 domains; production drifts: a new topic appears,");
    println!("and in the last day outputs get truncated and stop being valid JSON.\n");

    let prod_path = dir.join("production.jsonl");
    let golden_path = dir.join("golden.jsonl");
    let opts = GenOptions::demo(args.seed, args.traces);
    write_lines(
        &prod_path,
        production_records(&opts).into_iter().map(|(r, _)| r),
    )?;
    write_lines(&golden_path, golden_records(args.seed, GOLDEN_DOMAINS, 90))?;
    println!(
        "1. generated {} production traces -> {}",
        args.traces,
        prod_path.display()
    );
    println!(
        "   and a golden set of {} examples  -> {}",
        90 * GOLDEN_DOMAINS.len(),
        golden_path.display()
    );

    let store = Store::connect(&url).await?;
    let icfg = IngestConfig::default();
    let iopts = IngestOptions {
        format: InputFormat::Jsonl,
        map: FieldMap::new(&icfg),
        source: "demo-app".into(),
        batch_size: icfg.batch_size,
    };
    let report = ingest_file(&store, &prod_path, &iopts).await?;
    println!(
        "2. ingested production log into {url}: {}",
        report.summary_line()
    );

    let (examples, _) = crate::golden::read_golden(
        std::io::BufReader::new(std::fs::File::open(&golden_path)?),
        InputFormat::Jsonl,
    );
    let (version, _) = crate::golden::import(&store, "support", examples, "demo import").await?;
    if let Some(v) = version {
        println!(
            "3. imported golden set `support`: version {} with {} examples",
            v.version, v.active_count
        );
    }
    println!("\nNext:");
    println!("  driftwatch --database {url} golden list --set support");
    println!("  driftwatch --database {url} golden versions");
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
