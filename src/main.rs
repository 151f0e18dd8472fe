//! The `entra-drift` binary: parse arguments, set up logging, run, and map the result to an
//! exit code. This is the only place that decides exit codes.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use entra_drift::cli::{Cli, Command, LogFormat};
use entra_drift::commands::{self, Outcome};

fn main() -> ExitCode {
    // clap exits 2 on a usage error, which is our "drift found" code: map it to 1.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() { 1 } else { 0 };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.verbose, cli.quiet, cli.log_format);
    entra_drift::graph::install_crypto_provider();
    let result = match &cli.command {
        Command::Audit(args) => commands::audit::run(args, cli.quiet),
        Command::Snapshot(args) => commands::snapshot::run(args, cli.quiet),
        Command::Plan(command) => commands::plan::run(command),
        Command::Apply(args) => commands::apply::run(args, cli.quiet),
        Command::Verify(args) => commands::verify::run(args, cli.quiet),
        Command::Generate(args) => commands::generate::run(args, cli.quiet),
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Drift { detailed_exitcode }) => {
            if detailed_exitcode {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        Ok(Outcome::ItemsFailed) => ExitCode::from(1),
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(1)
        }
    }
}

/// Logs go to stderr; stdout carries data only. `RUST_LOG` overrides the verbosity flags.
fn init_logging(verbose: u8, quiet: bool, format: LogFormat) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("entra_drift={level},warn")));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
