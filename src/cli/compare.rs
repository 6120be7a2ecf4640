//! `driftwatch compare GOLDEN PRODUCTION`: the structural checks on two files,
//! no database; exits 4 when something drifted, for CI gates.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use super::exit;
use super::ingest::{detect_format, open_input};
use crate::ingest::{FieldMap, IngestOptions, IngestReport, InputFormat};
use crate::settings::Config;

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Golden examples: JSONL or CSV with `input` and `expected_output` (as `golden import` reads).
    pub golden: PathBuf,
    /// Production log: JSONL or CSV (as `ingest` reads, through the `[ingest]` field paths), or `-` for stdin.
    pub production: PathBuf,
    /// Take the metric settings, tests, effect floors and alpha of this configured job.
    #[arg(long)]
    pub job: Option<String>,
    /// Format of the production log (default: from its extension).
    #[arg(long, value_enum)]
    pub format: Option<InputFormat>,
    /// Format of the golden file (default: from its extension).
    #[arg(long, value_enum)]
    pub golden_format: Option<InputFormat>,
    /// Dotted path of the input in a production record, e.g. request.messages.-1.content.
    #[arg(long)]
    pub input_field: Option<String>,
    /// Dotted path of the output in a production record.
    #[arg(long)]
    pub output_field: Option<String>,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

pub(super) async fn compare_cmd(cfg: &Config, args: &CompareArgs) -> Result<ExitCode> {
    let spec = match super::jobs::job_settings(cfg, args.job.as_deref(), "compare") {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let mut icfg = cfg.ingest.clone();
    if let Some(f) = &args.input_field {
        icfg.input_field = f.clone();
    }
    if let Some(f) = &args.output_field {
        icfg.output_field = f.clone();
    }
    let opts = IngestOptions {
        format: detect_format(&args.production, args.format),
        map: FieldMap::new(&icfg),
        source: icfg.source.clone(),
        batch_size: icfg.batch_size,
    };
    if args.golden == std::path::Path::new("-") {
        say_err!("driftwatch: the golden file cannot be stdin (`-`); only the production log can");
        return Ok(ExitCode::from(exit::CONFIG));
    }
    let (golden, _) = open_input(&args.golden)?;
    let golden = crate::jobs::GoldenInput {
        reader: std::io::BufReader::new(golden),
        format: detect_format(&args.golden, args.golden_format),
        max_record: crate::ingest::max_record_bytes(icfg.max_text_bytes),
    };
    let (production, _) = open_input(&args.production)?;
    let started = std::time::Instant::now();
    // The parser thread hands batches over a channel this side blocks on.
    let job = spec.clone();
    let out =
        tokio::task::spawn_blocking(move || crate::jobs::compare(&job, golden, production, &opts))
            .await?
            .with_context(|| {
                format!(
                    "comparing {} with {}",
                    args.production.display(),
                    args.golden.display()
                )
            })?;
    let total_ms = started.elapsed().as_millis() as u64;
    let mut w = std::io::stdout().lock();
    if args.json {
        let mut v = serde_json::to_value(&out)?;
        v["timings_ms"]["total"] = total_ms.into();
        writeln!(w, "{}", serde_json::to_string(&v)?)?;
    } else {
        writeln!(
            w,
            "golden {}: {} examples ({} duplicate inputs skipped, {} rejected); production {}: {} records ({} rejected); output format {}{}",
            args.golden.display(),
            out.golden.stored,
            out.golden.duplicates,
            out.golden.rejected,
            args.production.display(),
            out.production.stored,
            out.production.rejected,
            out.output_format.format,
            if out.output_format.inferred {
                let keys = &out.output_format.required_keys;
                format!(
                    " (inferred: {:.0}% of golden outputs are JSON{})",
                    100.0 * out.output_format.golden_json_share,
                    match keys.is_empty() {
                        true => String::new(),
                        false => format!("; every one has {}", keys.join(", ")),
                    }
                )
            } else {
                String::new()
            }
        )?;
        write!(w, "{}", crate::report::findings_table(&out.findings))?;
        for (name, r) in [("golden", &out.golden), ("production", &out.production)] {
            rejected_lines(&mut w, name, r)?;
        }
        writeln!(
            w,
            "{} of {} findings drifted (alpha {}, Benjamini-Hochberg across findings); {} ms",
            out.drifted,
            out.findings.len(),
            spec.alpha,
            total_ms
        )?;
    }
    Ok(if out.drifted > 0 {
        ExitCode::from(exit::DRIFTED)
    } else if out.golden.rejected + out.production.rejected > 0 {
        ExitCode::from(exit::PARTIAL)
    } else {
        ExitCode::SUCCESS
    })
}

fn rejected_lines(w: &mut impl Write, name: &str, r: &IngestReport) -> Result<()> {
    const SHOWN: usize = 10;
    for e in r.errors.iter().take(SHOWN) {
        writeln!(w, "{name} line {}: {}", e.line, e.reason)?;
    }
    if r.rejected as usize > SHOWN.min(r.errors.len()) {
        writeln!(
            w,
            "{name}: … and {} more rejected (--json lists up to {})",
            r.rejected as usize - SHOWN.min(r.errors.len()),
            crate::ingest::MAX_REPORTED_ERRORS
        )?;
    }
    Ok(())
}
