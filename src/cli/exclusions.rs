//! `driftwatch exclusions …`: list and lift topic exclusions (made by
//! `proposals reject --topic …` or the review page), through the `review`
//! functions.

use std::io::Write;
use std::process::ExitCode;

use super::exit;
use crate::review::{default_reviewer, lift_exclusion, ReviewError};
use crate::store::{Store, StoreError, TopicExclusion};
use crate::text::truncate;

/// `driftwatch exclusions …`.
#[derive(Debug, clap::Subcommand)]
pub enum ExclusionsCmd {
    /// List topic exclusions (active ones unless --all).
    List {
        #[arg(long)]
        job: Option<String>,
        /// Lifted ones too.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Lift an exclusion: later runs may propose inside the topic again.
    Lift {
        id: i64,
        /// Reviewer name recorded (default $USER, else `cli`).
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
    },
}

/// Runs one `exclusions` subcommand.
pub async fn run_cmd(store: &Store, cmd: ExclusionsCmd) -> anyhow::Result<ExitCode> {
    run_cmd_with(store, cmd, &mut std::io::stdout(), &mut std::io::stderr()).await
}

/// [`run_cmd`] with the output streams given, for tests.
pub async fn run_cmd_with(
    store: &Store,
    cmd: ExclusionsCmd,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    match cmd {
        ExclusionsCmd::List { job, all, json } => {
            let xs = store.exclusions(job.as_deref(), all).await?;
            print_list(out, &xs, json)?;
            Ok(ExitCode::SUCCESS)
        }
        ExclusionsCmd::Lift { id, by } => {
            let by = by.unwrap_or_else(default_reviewer);
            match lift_exclusion(store, id, &by).await {
                Ok(x) => {
                    writeln!(
                        out,
                        "lifted exclusion {} (“{}” of job {}); the next run may propose inside it again",
                        x.id,
                        truncate(&x.label, 60),
                        x.job
                    )?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(ReviewError::Store(StoreError::NotFound(what))) => {
                    writeln!(err, "driftwatch: {what} does not exist")?;
                    Ok(ExitCode::from(exit::FAILURE))
                }
                Err(ReviewError::Store(StoreError::Conflict(msg)))
                | Err(ReviewError::Invalid(msg)) => {
                    writeln!(err, "driftwatch: {msg}")?;
                    Ok(ExitCode::from(exit::FAILURE))
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

fn print_list(out: &mut dyn Write, xs: &[TopicExclusion], json: bool) -> std::io::Result<()> {
    if json {
        return writeln!(out, "{}", serde_json::to_string(xs)?);
    }
    writeln!(
        out,
        "{:>4}  {:<16} {:>4}  {:<17} {:<12} {:<16} {:>9}  LABEL / REASON",
        "ID", "JOB", "GAP", "SCOPE", "BY", "CREATED", "EXEMPLARS"
    )?;
    for x in xs {
        writeln!(
            out,
            "{:>4}  {:<16} {:>4}  {:<17} {:<12} {:<16} {:>9}  {} / {}{}",
            x.id,
            truncate(&x.job, 16),
            x.gap_id
                .map(|g| g.to_string())
                .unwrap_or_else(|| "-".into()),
            x.scope.as_str(),
            truncate(&x.created_by, 12),
            x.created_at.format("%Y-%m-%d %H:%M"),
            x.exemplars.len(),
            truncate(&x.label, 40),
            truncate(&x.reason, 60),
            match (&x.lifted_by, x.lifted_at) {
                (Some(b), Some(t)) => format!(" (lifted by {b} at {})", t.format("%Y-%m-%d %H:%M")),
                _ => String::new(),
            }
        )?;
    }
    if xs.is_empty() {
        writeln!(out, "(no topic exclusions)")?;
    }
    Ok(())
}
