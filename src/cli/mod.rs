//! Command-line interface: clap definitions and one function per subcommand.
//! It is the edge of the program, so it uses `anyhow` for context; the modules it
//! calls have their own error types.

use std::io::{IsTerminal, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::ConfigErrors;
use crate::ingest::{ingest_reader, FieldMap, IngestOptions, IngestReport, InputFormat};
use crate::settings::{Config, Settings};
use crate::store::Store;
use crate::text::truncate;

pub mod alerts;
mod demo;
pub mod proposals;

/// Exit codes, documented in the README.
pub mod exit {
    /// Everything worked.
    pub const OK: u8 = 0;
    /// The command failed (store unreachable, file unreadable, …).
    pub const FAILURE: u8 = 1;
    /// Bad configuration or usage.
    pub const CONFIG: u8 = 2;
    /// Partial success: some input records were rejected, every valid one was stored.
    pub const PARTIAL: u8 = 3;
}

#[derive(Debug, Parser)]
#[command(name = "driftwatch", version, about = "Watches an LLM application's production I/O against its golden dataset.", long_about = None)]
pub struct Cli {
    /// Config file (default ./driftwatch.toml if present, else built-in defaults).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Database URL (sqlite://PATH or postgres://…); overrides DRIFTWATCH_DATABASE_URL and the config.
    #[arg(long, global = true, value_name = "URL")]
    pub database: Option<String>,
    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "DRIFTWATCH_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a config file and print every error with line:column and key.
    CheckConfig {
        /// The file to check (default: --config or ./driftwatch.toml).
        path: Option<PathBuf>,
    },
    /// Ingest traces from a JSONL or CSV file (`-` for stdin).
    Ingest(IngestArgs),
    /// Manage golden sets.
    #[command(subcommand)]
    Golden(GoldenCmd),
    /// Review proposed golden examples: list, show, accept, reject, export, import decisions.
    #[command(subcommand)]
    Proposals(proposals::ProposalsCmd),
    /// Alerts: list, show, silence, outbox, test a receiver, deliver the outbox once.
    #[command(subcommand)]
    Alerts(alerts::AlertsCmd),
    /// Run the daemon: scheduled jobs, alert delivery, HTTP ingest, health and the review page.
    Serve {
        /// Listen address (overrides server.bind).
        #[arg(long)]
        bind: Option<SocketAddr>,
    },
    /// Generate a realistic application log and golden set, ingest them, and show what to do next.
    Demo(DemoArgs),
    /// Run one analysis job now (from config, or ad hoc with --golden-set).
    Run(RunArgs),
    /// Embedding cache: backfill existing traces ahead of time.
    #[command(subcommand)]
    Embed(EmbedCmd),
    /// List analysis runs.
    Runs {
        #[arg(long)]
        job: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Render the report of a run.
    Report {
        run_id: i64,
        #[arg(long, value_enum, default_value = "text")]
        format: crate::report::Format,
        /// Write to a file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Configured analysis jobs and when they run next.
    #[command(subcommand)]
    Jobs(JobsCmd),
    /// Benchmarks of single stages, e.g. against a peer tool on the same data.
    #[command(subcommand)]
    Bench(BenchCmd),
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

#[derive(Debug, Subcommand)]
pub enum JobsCmd {
    /// Each configured job with its schedule, window, golden set and next 3 fire times (UTC).
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Job name from the config (any name with --golden-set for a one-off run).
    pub job: String,
    /// Golden set to compare against (overrides the job's; makes an ad-hoc job if JOB is not configured).
    #[arg(long)]
    pub golden_set: Option<String>,
    /// Window length, e.g. 24h, 3d.
    #[arg(long)]
    pub window: Option<String>,
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

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory for the demo's database and files.
    #[arg(long, default_value = "demo-out")]
    pub dir: PathBuf,
    /// Production traces to generate.
    #[arg(long, default_value_t = 3000)]
    pub traces: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Only write N generated production traces as JSONL to --out (no database).
    #[arg(long, value_name = "N")]
    pub generate: Option<usize>,
    /// Output file for --generate (`-` for stdout).
    #[arg(long, requires = "generate")]
    pub out: Option<PathBuf>,
    /// Stop after the analysis instead of serving the review page.
    #[arg(long)]
    pub no_serve: bool,
    /// Loopback port for the review page (a free one if taken).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
}

/// Entry point after argument parsing.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::CheckConfig { path } => {
            return Ok(check_config(path.as_deref().or(cli.config.as_deref())))
        }
        Command::Demo(args) => return demo::run(args).await,
        _ => {}
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(errs) => {
            eprintln!("{errs}");
            return Ok(ExitCode::from(exit::CONFIG));
        }
    };
    // Needs the config only, not the database.
    if let Command::Jobs(cmd) = &cli.command {
        return jobs_cmd(&settings, cmd);
    }
    let cfg = settings.cfg.clone();
    if let Command::Bench(cmd) = &cli.command {
        return bench_cmd(&cfg, cmd);
    }
    let url = cfg.database_url(cli.database.as_deref());
    let store = Store::connect(&url)
        .await
        .with_context(|| "is the path writable, or the database server up?".to_string())?;
    match cli.command {
        Command::Ingest(args) => ingest_cmd(&store, &cfg, args).await,
        Command::Golden(cmd) => golden_cmd(&store, &cfg, cmd).await,
        Command::Proposals(cmd) => proposals::run_cmd(&store, cmd).await,
        Command::Alerts(cmd) => alerts::run_cmd(&store, &cfg.alerts, &cfg.base_dir, cmd).await,
        Command::Serve { bind } => serve_cmd(store, settings, bind, &url).await,
        Command::Run(args) => run_cmd(&store, &cfg, args).await,
        Command::Embed(cmd) => embed_cmd(&store, &cfg, cmd).await,
        Command::Runs { job, limit, json } => runs_cmd(&store, job, limit, json).await,
        Command::Report {
            run_id,
            format,
            out,
        } => report_cmd(&store, run_id, format, out).await,
        Command::CheckConfig { .. } | Command::Demo(_) | Command::Jobs(_) | Command::Bench(_) => {
            unreachable!("handled above")
        }
    }
}

fn check_config(path: Option<&Path>) -> ExitCode {
    let path = path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(crate::settings::DEFAULT_CONFIG_FILE));
    match Config::load_file(&path) {
        Ok(_) => {
            println!("{}: ok", path.display());
            ExitCode::SUCCESS
        }
        Err(errs) => {
            eprintln!("{errs}");
            eprintln!(
                "{} error{} in {}",
                errs.errors.len(),
                if errs.errors.len() == 1 { "" } else { "s" },
                path.display()
            );
            ExitCode::from(exit::CONFIG)
        }
    }
}

/// Prints a config error the same way `check-config` does and returns exit code 2.
pub fn config_failure(errs: ConfigErrors) -> ExitCode {
    eprintln!("{errs}");
    ExitCode::from(exit::CONFIG)
}

fn detect_format(path: &Path, flag: Option<InputFormat>) -> InputFormat {
    flag.unwrap_or_else(|| match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("csv") => InputFormat::Csv,
        _ => InputFormat::Jsonl,
    })
}

fn open_input(path: &Path) -> Result<(Box<dyn Read + Send>, Option<u64>)> {
    if path == Path::new("-") {
        return Ok((Box::new(std::io::stdin()), None));
    }
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = f.metadata().ok().map(|m| m.len());
    Ok((Box::new(f), len))
}

fn progress_bar(len: Option<u64>) -> Option<ProgressBar> {
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

async fn ingest_cmd(store: &Store, cfg: &Config, args: IngestArgs) -> Result<ExitCode> {
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

fn report_exit(r: &IngestReport) -> ExitCode {
    if r.rejected > 0 {
        ExitCode::from(exit::PARTIAL)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_report(r: &IngestReport, json: bool) -> Result<()> {
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

async fn golden_cmd(store: &Store, cfg: &Config, cmd: GoldenCmd) -> Result<ExitCode> {
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
            let (examples, mut report) =
                crate::golden::read_golden(std::io::BufReader::new(reader), format);
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
                        Ok((n, _)) if json => eprintln!("embedded {n} golden texts"),
                        Ok((n, _)) => writeln!(out, "embedded {n} golden texts")?,
                        Err(e) => eprintln!("driftwatch: warning: golden texts not embedded: {e}"),
                    },
                    Err(e) => eprintln!("driftwatch: warning: golden texts not embedded: {e}"),
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
                    eprintln!("wrote {} examples to {}", ex.len(), p.display());
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
async fn embed_cmd(store: &Store, cfg: &Config, cmd: EmbedCmd) -> Result<ExitCode> {
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
                eprintln!("driftwatch: {msg}");
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

pub(crate) async fn serve_cmd(
    store: Store,
    settings: Settings,
    bind: Option<SocketAddr>,
    db_url: &str,
) -> Result<ExitCode> {
    match crate::daemon::serve(store, settings, bind, db_url).await {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(crate::daemon::ServeError::Config(errs)) => Ok(config_failure(errs)),
        Err(e) => Err(e.into()),
    }
}

fn jobs_cmd(settings: &Settings, cmd: &JobsCmd) -> Result<ExitCode> {
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

fn bench_cmd(cfg: &Config, cmd: &BenchCmd) -> Result<ExitCode> {
    let BenchCmd::Tests { metrics, job, json } = cmd;
    let raw = match job {
        Some(name) => match cfg.jobs.iter().find(|j| &j.name == name) {
            Some(j) => j.clone(),
            None => {
                eprintln!("driftwatch: no job named `{name}` in the config");
                return Ok(ExitCode::from(exit::CONFIG));
            }
        },
        None => crate::jobs::JobConfig::adhoc("bench", "-"),
    };
    let spec = match raw.check("bench", &cfg.base_dir) {
        Ok(s) => s,
        Err(errs) => {
            return Ok(config_failure(ConfigErrors::new(
                cfg.source_file.clone(),
                errs,
            )))
        }
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
            eprintln!(
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
        job.window = w.clone();
    }
    if let Some(n) = args.sample_size {
        job.sample_size = n;
    }
    job.check("run", &cfg.base_dir)
        .map_err(|errs| config_failure(ConfigErrors::new(cfg.source_file.clone(), errs)))
}

pub(crate) async fn run_cmd(store: &Store, cfg: &Config, args: RunArgs) -> Result<ExitCode> {
    let spec = match resolve_job(cfg, &args) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let mut opts = crate::jobs::RunOptions::default();
    if spec.semantic.enabled {
        opts.embedder = Some(crate::jobs::SharedEmbedder::build(
            &cfg.embedding,
            &cfg.base_dir,
        )?);
    }
    let outcome = match &args.export_metrics {
        Some(dir) => crate::jobs::run_job_exporting_metrics(store, &spec, &opts, dir).await?,
        None => crate::jobs::run_job(store, &spec, &opts).await?,
    };
    let alerts = alert_after_run(store, cfg, &spec.name, &outcome).await?;
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
    cfg: &Config,
    job: &str,
    outcome: &crate::jobs::RunOutcome,
) -> Result<String> {
    let now = chrono::Utc::now();
    let ev = crate::alert::evaluate_run(
        store,
        &cfg.alerts,
        job,
        outcome.run_id,
        &outcome.findings,
        now,
    )
    .await?;
    let (receivers, errors) = crate::alert::build_receivers(&cfg.alerts, &cfg.base_dir);
    for e in errors {
        eprintln!(
            "driftwatch: alert receiver {} cannot be built: {}",
            e.name, e.source
        );
    }
    let d = crate::alert::deliver_due(store, &receivers, &cfg.alerts.retry, now).await?;
    Ok(format!(
        "alerts: {} firing, {} pending, {} resolved, {} silenced; notifications: {} queued, {} delivered, {} retrying, {} dead",
        ev.firing, ev.pending, ev.resolved, ev.silenced, ev.enqueued, d.delivered, d.retried, d.dead
    ))
}

async fn runs_cmd(store: &Store, job: Option<String>, limit: i64, json: bool) -> Result<ExitCode> {
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

async fn report_cmd(
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
            eprintln!("wrote {}", p.display());
        }
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}
