//! `driftwatch run`, `runs` and `report`: one analysis run, the run list, a run's report.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use super::{config_failure, exit};
use crate::config::ConfigErrors;
use crate::settings::{Config, Settings};
use crate::store::Store;
use crate::text::truncate;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Job name from the config (any name with --golden-set for a one-off run).
    pub job: String,
    /// Golden set to compare against (overrides the job's; makes an ad-hoc job if JOB is not configured).
    #[arg(long)]
    pub golden_set: Option<String>,
    /// Window length, e.g. 24h, 3d.
    #[arg(long)]
    pub window: Option<crate::config::ConfigDuration>,
    #[arg(long)]
    pub sample_size: Option<usize>,
    /// Print the run id and every finding as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the per-trace metric values of both samples to
    /// DIR/golden.csv and DIR/production.csv (one row per trace, one column per
    /// tested metric; e.g. for benches/peer/evidently_drift.py).
    #[arg(long, value_name = "DIR")]
    pub export_metrics: Option<PathBuf>,
}

/// Finds the job to run: configured by name, or ad hoc with defaults.
pub fn resolve_job(cfg: &Config, args: &RunArgs) -> Result<crate::jobs::JobSpec, ExitCode> {
    let mut job = match cfg.jobs.iter().find(|j| j.name == args.job) {
        Some(j) => j.clone(),
        None if args.golden_set.is_some() => crate::jobs::JobConfig::adhoc(
            &args.job,
            args.golden_set.as_deref().unwrap_or("default"),
        ),
        None => {
            let names: Vec<&str> = cfg.jobs.iter().map(|j| j.name.as_str()).collect();
            say_err!(
                "driftwatch: no job named `{}` in the config (jobs: {})\nhint: pass --golden-set SET for a one-off run without config",
                args.job,
                if names.is_empty() { "none".to_string() } else { names.join(", ") }
            );
            return Err(ExitCode::from(exit::CONFIG));
        }
    };
    if let Some(g) = &args.golden_set {
        job.golden_set = g.clone();
    }
    if let Some(w) = &args.window {
        job.window = *w;
    }
    if let Some(n) = args.sample_size {
        job.sample_size = n;
    }
    job.check("run", &cfg.base_dir)
        .map_err(|errs| config_failure(ConfigErrors::new(cfg.source_file.clone(), errs)))
}

pub(crate) async fn run_cmd(store: &Store, settings: &Settings, args: RunArgs) -> Result<ExitCode> {
    let cfg = &settings.cfg;
    let spec = match resolve_job(cfg, &args) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    // Runs a killed `driftwatch run` (or daemon) on this host left `running`.
    match crate::jobs::abort_orphaned_runs(store, false).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            message = "Marked runs of processes that are gone as aborted.",
            runs = n
        ),
        Err(e) => {
            tracing::warn!(message = "Looking for runs of processes that are gone failed.", error = %e)
        }
    }
    let ensemble = match settings.ensemble() {
        Ok(e) => e,
        Err(errs) => {
            return Ok(config_failure(ConfigErrors::new(
                cfg.source_file.clone(),
                errs,
            )))
        }
    };
    let mut opts = crate::jobs::RunOptions {
        holder: Some(crate::jobs::cli_holder()),
        ensemble,
        ..Default::default()
    };
    if spec.semantic.enabled {
        opts.embedder = Some(crate::jobs::SharedEmbedder::build(
            &spec.semantic.embed_config(&cfg.embedding),
            &cfg.base_dir,
        )?);
    }
    let outcome = match &args.export_metrics {
        Some(dir) => crate::jobs::run_job_exporting_metrics(store, &spec, &opts, dir).await?,
        None => crate::jobs::run_job(store, &spec, &opts).await?,
    };
    let alerts =
        alert_after_run(store, &settings.alerts, &cfg.base_dir, &spec.name, &outcome).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let v = serde_json::json!({"run_id": outcome.run_id, "summary": outcome.summary, "findings": outcome.findings});
        writeln!(out, "{}", serde_json::to_string(&v)?)?;
    } else {
        let run = store.get_run(outcome.run_id).await?;
        write!(
            out,
            "{}",
            crate::report::render_text(&run, &outcome.findings)
        )?;
        writeln!(
            out,
            "\nreport: driftwatch report {} --format html --out run-{}.html",
            outcome.run_id, outcome.run_id
        )?;
        writeln!(out, "{alerts}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Evaluates alert rules on a finished run and delivers what is due once, as the
/// daemon's sender would. Returns a one-line summary.
pub async fn alert_after_run(
    store: &Store,
    alerting: &crate::notify::Alerting,
    base_dir: &std::path::Path,
    job: &str,
    outcome: &crate::jobs::RunOutcome,
) -> Result<String> {
    let now = chrono::Utc::now();
    let ev =
        crate::alert::evaluate_run(store, alerting, job, outcome.run_id, &outcome.findings, now)
            .await?;
    let (receivers, errors) = crate::alert::build_receivers(&alerting.config, base_dir);
    for e in errors {
        say_err!(
            "driftwatch: alert receiver {} cannot be built: {}",
            e.name,
            e.source
        );
    }
    let d = crate::alert::deliver_due(store, &receivers, &alerting.config.retry, now).await?;
    Ok(format!(
        "alerts: {} firing, {} pending, {} resolved, {} silenced; notifications: {} queued, {} delivered, {} retrying, {} dead",
        ev.firing, ev.pending, ev.resolved, ev.silenced, ev.enqueued, d.delivered, d.retried, d.dead
    ))
}

pub(super) async fn runs_cmd(
    store: &Store,
    job: Option<String>,
    limit: i64,
    json: bool,
) -> Result<ExitCode> {
    let runs = store
        .list_runs(&crate::store::RunFilter {
            job,
            limit: Some(limit),
        })
        .await?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(&runs)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:>6}  {:<20} {:<10} {:<20} {:>8} {:>8}",
        "ID", "JOB", "STATUS", "STARTED", "SAMPLED", "DRIFTED"
    )?;
    for r in &runs {
        let s = r.summary.as_ref();
        writeln!(
            out,
            "{:>6}  {:<20} {:<10} {:<20} {:>8} {:>8}",
            r.id,
            truncate(&r.job, 20),
            r.status.as_str(),
            r.started_at.format("%Y-%m-%d %H:%M:%S"),
            s.map(|s| s.sampled.to_string())
                .unwrap_or_else(|| "-".into()),
            s.map(|s| s.drifted.to_string())
                .unwrap_or_else(|| "-".into()),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn report_cmd(
    store: &Store,
    run_id: i64,
    format: crate::report::Format,
    out: Option<PathBuf>,
) -> Result<ExitCode> {
    let run = store.get_run(run_id).await?;
    let findings = store.findings(run_id).await?;
    let text = crate::report::render(format, &run, &findings);
    match out {
        Some(p) => {
            std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
            say_err!("wrote {}", p.display());
        }
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}
