//! Command-line interface: clap definitions and one function per subcommand.
//! It is the edge of the program, so it uses `anyhow` for context; the modules it
//! calls have their own error types.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::config::ConfigErrors;
use crate::settings::Settings;
use crate::store::{Store, StoreError};

/// `eprintln!` that ignores a closed stderr: a broken pipe must not end a command
/// (or leave its run `running`).
macro_rules! say_err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod alerts;
mod compare;
mod demo;
mod embed;
pub mod exclusions;
mod golden;
mod ingest;
mod jobs;
pub mod proposals;
mod run;

use embed::{embed_cmd, EmbedCmd};
use golden::{golden_cmd, GoldenCmd};
use ingest::ingest_cmd;
pub use ingest::{ingest_file, IngestArgs};
use jobs::{bench_cmd, jobs_cmd, BenchCmd, JobsCmd};
pub use run::{alert_after_run, resolve_job, RunArgs};
use run::{report_cmd, run_cmd, runs_cmd};

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
    /// `compare`: at least one finding drifted.
    pub const DRIFTED: u8 = 4;
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
        /// Check the file alone, without reading the secrets and token files
        /// it names (e.g. in CI, where they are not set).
        #[arg(long)]
        no_secrets: bool,
    },
    /// Ingest traces from a JSONL or CSV file (`-` for stdin).
    Ingest(IngestArgs),
    /// Manage golden sets.
    #[command(subcommand)]
    Golden(GoldenCmd),
    /// Review proposed golden examples: list, show, accept, reject, export, import decisions.
    #[command(subcommand)]
    Proposals(proposals::ProposalsCmd),
    /// Topic exclusions the data team made (`proposals reject --topic`): list, lift.
    #[command(subcommand)]
    Exclusions(exclusions::ExclusionsCmd),
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
    /// Compare a production log with golden examples, two files, no database:
    /// the structural checks and the decision rule; exits 4 when something drifted.
    Compare(compare::CompareArgs),
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
        Command::CheckConfig { path, no_secrets } => {
            return Ok(check_config(
                path.as_deref().or(cli.config.as_deref()),
                !no_secrets,
            ))
        }
        Command::Demo(args) => return demo::run(args).await,
        _ => {}
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(errs) => {
            say_err!("{errs}");
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
    if let Command::Compare(args) = &cli.command {
        return compare::compare_cmd(&cfg, args).await;
    }
    let url = cfg.database_url(cli.database.as_deref());
    let store = match Store::connect(&url).await {
        Ok(s) => s,
        Err(e) => return Ok(store_open_failure(&e)),
    };
    match cli.command {
        Command::Ingest(args) => ingest_cmd(&store, &cfg, args).await,
        Command::Golden(cmd) => golden_cmd(&store, &cfg, cmd).await,
        Command::Proposals(proposals::ProposalsCmd::Prelabel { job, limit, json }) => {
            proposals::prelabel_cmd(&store, &settings, job, limit, json).await
        }
        Command::Proposals(cmd) => proposals::run_cmd(&store, cmd).await,
        Command::Exclusions(cmd) => exclusions::run_cmd(&store, cmd).await,
        Command::Alerts(cmd) => alerts::run_cmd(&store, &cfg.alerts, &cfg.base_dir, cmd).await,
        Command::Serve { bind } => serve_cmd(store, settings, bind, &url).await,
        Command::Run(args) => run_cmd(&store, &settings, args).await,
        Command::Embed(cmd) => embed_cmd(&store, &cfg, cmd).await,
        Command::Runs { job, limit, json } => runs_cmd(&store, job, limit, json).await,
        Command::Report {
            run_id,
            format,
            out,
        } => report_cmd(&store, run_id, format, out).await,
        Command::CheckConfig { .. }
        | Command::Demo(_)
        | Command::Jobs(_)
        | Command::Bench(_)
        | Command::Compare(_) => {
            unreachable!("handled above")
        }
    }
}

fn check_config(path: Option<&Path>, secrets: bool) -> ExitCode {
    let path = path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(crate::settings::DEFAULT_CONFIG_FILE));
    let checked = Settings::load_file(&path).and_then(|s| {
        let mut errs = if secrets {
            s.check_secrets()
        } else {
            Vec::new()
        };
        if errs.is_empty() {
            return Ok(());
        }
        // Place each at its key in the file, like every other config error.
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for e in &mut errs {
            crate::config::spans::locate(&text, e);
        }
        errs.sort_by_key(|e| (e.line.unwrap_or(usize::MAX), e.column.unwrap_or(0)));
        Err(ConfigErrors::new(Some(path.clone()), errs))
    });
    match checked {
        Ok(()) => {
            println!("{}: ok", path.display());
            ExitCode::SUCCESS
        }
        Err(errs) => {
            say_err!("{errs}");
            say_err!(
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
/// Says why the store cannot be opened, with a hint for the backend; exit 2
/// for a database URL that cannot be used, 1 when the database is unreachable.
fn store_open_failure(e: &StoreError) -> ExitCode {
    if e.is_config() {
        say_err!("driftwatch: {e}");
        return ExitCode::from(exit::CONFIG);
    }
    match e {
        StoreError::Open { url, .. } if url.starts_with("sqlite:") => {
            say_err!("driftwatch: {e}\n  hint: is the folder there, and writable by this user?")
        }
        StoreError::Open { .. } => say_err!(
            "driftwatch: {e}\n  hint: is the database server up, and are the URL's host, port, user and database right?"
        ),
        _ => say_err!("driftwatch: {e}"),
    }
    ExitCode::from(exit::FAILURE)
}

pub fn config_failure(errs: ConfigErrors) -> ExitCode {
    say_err!("{errs}");
    ExitCode::from(exit::CONFIG)
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
