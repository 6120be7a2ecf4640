//! `driftwatch ingest`: JSONL/CSV files (or stdin) into the trace store.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::exit;
use crate::ingest::{ingest_reader, FieldMap, IngestOptions, IngestReport, InputFormat};
use crate::settings::Config;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// JSONL or CSV file, or `-` for stdin.
    pub path: PathBuf,
    #[arg(long, value_enum)]
    pub format: Option<InputFormat>,
    /// Source name stored with the traces (default: ingest.source).
    #[arg(long)]
    pub source: Option<String>,
    /// Dotted path of the input, e.g. request.messages.-1.content.
    #[arg(long)]
    pub input_field: Option<String>,
    #[arg(long)]
    pub output_field: Option<String>,
    #[arg(long)]
    pub id_field: Option<String>,
    #[arg(long)]
    pub ts_field: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn detect_format(path: &Path, flag: Option<InputFormat>) -> InputFormat {
    flag.unwrap_or_else(|| match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("csv") => InputFormat::Csv,
        _ => InputFormat::Jsonl,
    })
}

pub(super) fn open_input(path: &Path) -> Result<(Box<dyn Read + Send>, Option<u64>)> {
    if path == Path::new("-") {
        return Ok((Box::new(std::io::stdin()), None));
    }
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = f.metadata().ok().map(|m| m.len());
    Ok((Box::new(f), len))
}

pub(super) fn progress_bar(len: Option<u64>) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = match len {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner(),
    };
    Some(pb)
}

/// Ingests one file with the given options and prints its report; shared by
/// `driftwatch ingest` and the demo.
pub async fn ingest_file(store: &Store, path: &Path, opts: &IngestOptions) -> Result<IngestReport> {
    let (reader, len) = open_input(path)?;
    let pb = progress_bar(len);
    let report = ingest_reader(store, reader, opts, pb.as_ref())
        .await
        .with_context(|| format!("ingest of {} stopped", path.display()))?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    Ok(report)
}

pub(super) async fn ingest_cmd(store: &Store, cfg: &Config, args: IngestArgs) -> Result<ExitCode> {
    let mut icfg = cfg.ingest.clone();
    if let Some(f) = args.input_field {
        icfg.input_field = f;
    }
    if let Some(f) = args.output_field {
        icfg.output_field = f;
    }
    if let Some(f) = args.id_field {
        icfg.id_field = f;
    }
    if let Some(f) = args.ts_field {
        icfg.ts_field = f;
    }
    let opts = IngestOptions {
        format: detect_format(&args.path, args.format),
        map: FieldMap::new(&icfg),
        source: args.source.unwrap_or_else(|| icfg.source.clone()),
        batch_size: icfg.batch_size,
    };
    let report = ingest_file(store, &args.path, &opts).await?;
    print_report(&report, args.json)?;
    Ok(report_exit(&report))
}

pub(super) fn report_exit(r: &IngestReport) -> ExitCode {
    if r.rejected > 0 {
        ExitCode::from(exit::PARTIAL)
    } else {
        ExitCode::SUCCESS
    }
}

pub(super) fn print_report(r: &IngestReport, json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(r)?)?;
    } else {
        writeln!(out, "{}", r.summary_line())?;
        for e in &r.errors {
            writeln!(out, "  line {}: {}", e.line, e.reason)?;
        }
        if r.rejected as usize > r.errors.len() {
            writeln!(
                out,
                "  … and {} more rejected",
                r.rejected as usize - r.errors.len()
            )?;
        }
    }
    Ok(())
}
