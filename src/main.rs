//! The `entra-drift` binary: parse arguments, set up logging, run, and map the result to an
//! exit code. This is the only place that decides exit codes.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use tracing_subscriber::EnvFilter;

use entra_drift::cli::{Cli, Command, ConfigCommand, EvidenceCommand, LogFormat};
use entra_drift::commands::{self, Outcome};
use entra_drift::settings::Given;

fn main() -> ExitCode {
    // clap exits 2 on a usage error, which is our "drift found" code: map it to 1.
    // The matches are kept beside the parsed flags: settings need to know which flags were
    // given, so that a configuration file value is not overridden by a flag's default.
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches).map(|cli| (cli, matches)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            let code = if error.use_stderr() { 1 } else { 0 };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.verbose, cli.quiet, cli.log_format);
    entra_drift::graph::install_crypto_provider();
    let result = match &cli.command {
        Command::Audit(args) => {
            let given = matches
                .subcommand_matches("audit")
                .map(Given::from_matches)
                .unwrap_or_default();
            commands::audit::run(args, &given, cli.config.as_deref(), cli.quiet)
        }
        Command::Snapshot(args) => commands::snapshot::run(args, cli.quiet),
        Command::Plan(command) => commands::plan::run(command),
        Command::Apply(args) => commands::apply::run(args, cli.quiet),
        Command::Verify(args) => commands::verify::run(args, cli.quiet),
        Command::Generate(args) => commands::generate::run(args, cli.quiet),
        Command::Config(ConfigCommand::Check { file }) => {
            commands::config::check(file.as_deref(), cli.config.as_deref(), cli.quiet)
        }
        Command::Evidence(EvidenceCommand::Verify { dir }) => {
            commands::evidence::verify(dir, cli.quiet)
        }
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
        Ok(Outcome::ItemsFailed | Outcome::CheckFailed) => ExitCode::from(1),
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
    // Colours only on a terminal: cron mail, journald and CI logs get plain text.
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .with_target(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
