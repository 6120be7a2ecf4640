//! `driftwatch embed backfill`: fill the embedding cache ahead of runs.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use super::exit;
use crate::settings::Config;
use crate::store::Store;

/// `driftwatch embed …`: fill the embedding cache ahead of time.
#[derive(Debug, clap::Subcommand)]
pub enum EmbedCmd {
    /// Embed existing traces' inputs (and outputs) into the cache; cached texts are skipped.
    Backfill {
        /// Only traces since an RFC 3339 time or a duration back from now (e.g. 24h, 7d).
        #[arg(long, value_name = "TIME|DURATION")]
        since: Option<String>,
        /// At most N traces, newest first.
        #[arg(long, value_name = "N")]
        limit: Option<i64>,
        /// Embed outputs as well as inputs.
        #[arg(long)]
        outputs: bool,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `driftwatch embed backfill`: fills the embedding cache from stored traces.
pub(super) async fn embed_cmd(store: &Store, cfg: &Config, cmd: EmbedCmd) -> Result<ExitCode> {
    let EmbedCmd::Backfill {
        since,
        limit,
        outputs,
        json,
    } = cmd;
    let since = match since.as_deref() {
        Some(s) => match crate::jobs::parse_since(s, chrono::Utc::now()) {
            Ok(t) => Some(t),
            Err(msg) => {
                say_err!("driftwatch: {msg}");
                return Ok(ExitCode::from(exit::CONFIG));
            }
        },
        None => None,
    };
    let embedder = crate::jobs::SharedEmbedder::build(&cfg.embedding, &cfg.base_dir)?;
    let pb = std::io::stderr().is_terminal().then(|| {
        ProgressBar::new(0).with_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} texts {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    });
    let opts = crate::jobs::BackfillOptions {
        since,
        limit,
        outputs,
    };
    let r = crate::jobs::backfill(store, &embedder, &opts, pb.as_ref()).await?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(&r)?)?;
    } else {
        writeln!(
            out,
            "embedded {} texts in {:.1}s: {} cached already, {} new",
            r.texts, r.seconds, r.hits, r.misses
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
