//! `driftwatch golden …`: import, list, export and archive golden-set versions.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Subcommand;

use super::ingest::{detect_format, open_input, report_exit};
use crate::ingest::InputFormat;
use crate::settings::Config;
use crate::store::Store;
use crate::text::truncate;

#[derive(Debug, Subcommand)]
pub enum GoldenCmd {
    /// Import examples {input, expected_output, tags} from JSONL or CSV as a new version.
    Import {
        path: PathBuf,
        #[arg(long, default_value = "default")]
        set: String,
        #[arg(long, value_enum)]
        format: Option<InputFormat>,
        #[arg(long)]
        json: bool,
        /// Do not embed the new examples now (large imports; runs embed them on demand).
        #[arg(long)]
        no_embed: bool,
    },
    /// List active examples of a set.
    List {
        #[arg(long, default_value = "default")]
        set: String,
        /// Include archived examples.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Export active examples of a set as JSONL.
    Export {
        #[arg(long, default_value = "default")]
        set: String,
        /// Output file (default stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Archive examples (a new version; nothing is deleted).
    Archive {
        ids: Vec<i64>,
        #[arg(long)]
        json: bool,
    },
    /// List versions of every set (or one).
    Versions {
        #[arg(long)]
        set: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn golden_cmd(store: &Store, cfg: &Config, cmd: GoldenCmd) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cmd {
        GoldenCmd::Import {
            path,
            set,
            format,
            json,
            no_embed,
        } => {
            let format = detect_format(&path, format);
            let (reader, _) = open_input(&path)?;
            let (examples, mut report) = crate::golden::read_golden(
                std::io::BufReader::new(reader),
                format,
                crate::ingest::max_record_bytes(cfg.ingest.max_text_bytes),
            );
            let n = examples.len() as u64;
            let (version, skipped) =
                crate::golden::import(store, &set, examples, &format!("import {}", path.display()))
                    .await?;
            report.stored = n - skipped;
            report.duplicates = skipped;
            if json {
                let v = serde_json::json!({"report": report, "version": version});
                writeln!(out, "{v}")?;
            } else {
                writeln!(out, "{}", report.summary_line())?;
                for e in &report.errors {
                    writeln!(out, "  line {}: {}", e.line, e.reason)?;
                }
                match &version {
                    Some(v) => writeln!(
                        out,
                        "golden set {set} is now at version {} ({} active examples)",
                        v.version, v.active_count
                    )?,
                    None => writeln!(out, "golden set {set} unchanged: nothing new")?,
                }
            }
            // Embed the new version's examples now, so runs find them cached.
            if let Some(v) = version.as_ref().filter(|_| !no_embed) {
                match crate::jobs::SharedEmbedder::build(&cfg.embedding, &cfg.base_dir) {
                    Ok(e) => match crate::jobs::embed_golden_version(store, &e, &set, v.version)
                        .await
                    {
                        Ok((n, _)) if json => say_err!("embedded {n} golden texts"),
                        Ok((n, _)) => writeln!(out, "embedded {n} golden texts")?,
                        Err(e) => say_err!("driftwatch: warning: golden texts not embedded: {e}"),
                    },
                    Err(e) => say_err!("driftwatch: warning: golden texts not embedded: {e}"),
                }
            }
            Ok(report_exit(&report))
        }
        GoldenCmd::List { set, all, json } => {
            let ex = if all {
                store.golden_examples_all(&set).await?
            } else {
                store.golden_examples(&set, None).await?
            };
            if json {
                writeln!(out, "{}", serde_json::to_string(&ex)?)?;
            } else {
                writeln!(out, "{:>6}  {:>3}  {:<18} INPUT", "ID", "VER", "PROVENANCE")?;
                for e in &ex {
                    let mark = if e.archived { " (archived)" } else { "" };
                    writeln!(
                        out,
                        "{:>6}  {:>3}  {:<18} {}{mark}",
                        e.id,
                        e.version_added,
                        e.provenance.as_str(),
                        truncate(&e.input, 80)
                    )?;
                }
                writeln!(out, "{} examples in set {set}", ex.len())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        GoldenCmd::Export { set, out: path } => {
            let ex = store.golden_examples(&set, None).await?;
            match path {
                Some(p) => {
                    let mut f = std::io::BufWriter::new(
                        std::fs::File::create(&p)
                            .with_context(|| format!("cannot create {}", p.display()))?,
                    );
                    crate::golden::write_jsonl(&mut f, &ex)?;
                    f.flush()?;
                    say_err!("wrote {} examples to {}", ex.len(), p.display());
                }
                None => crate::golden::write_jsonl(&mut out, &ex)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        GoldenCmd::Archive { ids, json } => {
            if ids.is_empty() {
                bail!("give at least one example id to archive");
            }
            let first = store.golden_example(ids[0]).await?;
            let change = crate::store::GoldenChange {
                description: format!(
                    "archive {}",
                    ids.iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                add: Vec::new(),
                archive: ids,
            };
            let v = store.apply_golden_change(&first.set_name, &change).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string(&v)?)?;
            } else {
                writeln!(
                    out,
                    "golden set {} is now at version {} ({} active examples)",
                    v.set_name, v.version, v.active_count
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        GoldenCmd::Versions { set, json } => {
            let vs = store.golden_versions(set.as_deref()).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string(&vs)?)?;
            } else {
                writeln!(
                    out,
                    "{:<16} {:>4} {:<20} {:>6} {:>8} {:>7}  CHANGE",
                    "SET", "VER", "CREATED", "ADDED", "ARCHIVED", "ACTIVE"
                )?;
                for v in &vs {
                    writeln!(
                        out,
                        "{:<16} {:>4} {:<20} {:>6} {:>8} {:>7}  {}",
                        v.set_name,
                        v.version,
                        v.created_at.format("%Y-%m-%d %H:%M:%S"),
                        v.added,
                        v.archived,
                        v.active_count,
                        v.change
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
