//! `driftwatch jobs list` and `driftwatch bench tests`: the configured jobs and the test stage alone.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;

use super::{config_failure, exit};
use crate::config::ConfigErrors;
use crate::settings::{Config, Settings};
use crate::text::truncate;

#[derive(Debug, Subcommand)]
pub enum JobsCmd {
    /// Each configured job with its schedule, window, golden set and next 3 fire times (UTC).
    List {
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn jobs_cmd(settings: &Settings, cmd: &JobsCmd) -> Result<ExitCode> {
    let JobsCmd::List { json } = cmd;
    let specs = &settings.jobs;
    let now = chrono::Utc::now();
    let mut out = std::io::stdout().lock();
    if *json {
        let jobs: Vec<serde_json::Value> = specs
            .iter()
            .map(|s| {
                let next: Vec<String> = crate::jobs::next_fire_times(s, now, 3)
                    .iter()
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .collect();
                serde_json::json!({
                    "name": s.name,
                    "schedule": s.schedule_text,
                    "timezone": s.timing.timezone.name(),
                    "window": humantime::format_duration(s.window).to_string(),
                    "window_secs": s.window.as_secs(),
                    "golden_set": s.golden_set,
                    "semantic": s.semantic.enabled,
                    "next_fire_times": next,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string(&jobs)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if specs.is_empty() {
        writeln!(out, "no jobs configured (add [[jobs]] to the config)")?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<20} {:<18} {:<14} {:<8} {:<12} NEXT (UTC)",
        "JOB", "SCHEDULE", "TIMEZONE", "WINDOW", "GOLDEN SET"
    )?;
    for s in specs {
        let next: Vec<String> = crate::jobs::next_fire_times(s, now, 3)
            .iter()
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .collect();
        writeln!(
            out,
            "{:<20} {:<18} {:<14} {:<8} {:<12} {}",
            truncate(&s.name, 20),
            s.schedule_text,
            s.timing.timezone.name(),
            humantime::format_duration(s.window).to_string(),
            truncate(&s.golden_set, 12),
            if next.is_empty() {
                "never".to_string()
            } else {
                next.join(", ")
            }
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// The structural test stage alone on exported metric columns: reads
    /// DIR/golden.csv and DIR/production.csv (written by `run --export-metrics`),
    /// tests every column with the runner's tests and verdicts, prints the
    /// findings and the time taken.
    Tests {
        /// Directory with golden.csv and production.csv.
        #[arg(long, value_name = "DIR")]
        metrics: PathBuf,
        /// Thresholds, test overrides and alpha of this configured job (default: an ad-hoc job's).
        #[arg(long)]
        job: Option<String>,
        /// Print the findings, the drifted columns and the timings as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The settings a file-based command (`bench tests`, `compare`) borrows: the
/// configured job `name`, or an ad hoc job called `adhoc` with the defaults;
/// `Err` is the exit code after the error was printed.
pub(super) fn job_settings(
    cfg: &Config,
    name: Option<&str>,
    adhoc: &str,
) -> Result<crate::jobs::JobSpec, ExitCode> {
    let raw = match name {
        Some(name) => match cfg.jobs.iter().find(|j| j.name == name) {
            Some(j) => j.clone(),
            None => {
                let names: Vec<&str> = cfg.jobs.iter().map(|j| j.name.as_str()).collect();
                say_err!(
                    "driftwatch: no job named `{name}` in the config (jobs: {})",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                );
                return Err(ExitCode::from(exit::CONFIG));
            }
        },
        None => crate::jobs::JobConfig::adhoc(adhoc, "-"),
    };
    raw.check(adhoc, &cfg.base_dir)
        .map_err(|errs| config_failure(ConfigErrors::new(cfg.source_file.clone(), errs)))
}

pub(super) fn bench_cmd(cfg: &Config, cmd: &BenchCmd) -> Result<ExitCode> {
    let BenchCmd::Tests { metrics, job, json } = cmd;
    let spec = match job_settings(cfg, job.as_deref(), "bench") {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let started = std::time::Instant::now();
    let out = crate::jobs::test_exported_metrics(metrics, &spec)
        .with_context(|| format!("testing the metric columns in {}", metrics.display()))?;
    let total_ms = started.elapsed().as_millis() as u64;
    let drifted: Vec<&str> = out
        .findings
        .iter()
        .filter(|f| f.verdict == crate::store::Verdict::Drifted)
        .map(|f| f.metric.as_str())
        .collect();
    let mut w = std::io::stdout().lock();
    if *json {
        let v = serde_json::json!({
            "golden_rows": out.golden_rows,
            "production_rows": out.production_rows,
            "columns": out.findings.len(),
            "drifted": drifted,
            "timings_ms": {"load": out.load_ms, "tests": out.tests_ms, "total": total_ms},
            "findings": out.findings,
        });
        writeln!(w, "{}", serde_json::to_string(&v)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        w,
        "{:<26} {:<19} {:>12} {:>9} {:>12}  verdict",
        "metric", "test", "effect", "floor", "p adjusted"
    )?;
    let num = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
    let mut sorted: Vec<&crate::store::Finding> = out.findings.iter().collect();
    sorted.sort_by_key(|f| f.verdict != crate::store::Verdict::Drifted);
    for f in sorted {
        writeln!(
            w,
            "{:<26} {:<19} {:>12} {:>9} {:>12}  {}",
            f.metric,
            f.test,
            num(f.effect_size),
            num(f.threshold),
            f.p_adjusted.map_or("-".to_string(), |p| format!("{p:.3e}")),
            f.verdict.as_str()
        )?;
    }
    writeln!(
        w,
        "\n{} of {} columns drifted ({} golden rows, {} production rows)\nload {} ms, tests {} ms, total {} ms",
        drifted.len(),
        out.findings.len(),
        out.golden_rows,
        out.production_rows,
        out.load_ms,
        out.tests_ms,
        total_ms
    )?;
    Ok(ExitCode::SUCCESS)
}
