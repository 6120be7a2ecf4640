use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use driftwatch::cli::{exit, Cli, LogFormat};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "driftwatch: cannot start the async runtime: {e}"
            );
            return ExitCode::from(exit::FAILURE);
        }
    };
    match rt.block_on(driftwatch::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(std::io::stderr(), "driftwatch: {err:#}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("DRIFTWATCH_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,driftwatch=info"));
    // A closed stderr (`driftwatch run … 2>&1 >/dev/null | head -1`) must not end
    // a run: the default reports a failed log write with `eprintln!`, which panics
    // on that same broken pipe. Logs that cannot be written are dropped.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a terminal (journald and files get plain text), and
        // never when NO_COLOR is set.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .log_internal_errors(false);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
