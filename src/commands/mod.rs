//! One module per subcommand, wiring the stages together; [`run`] dispatches to them.

use std::path::Path;

use crate::cli::{CheckCommand, Cli, Command, ConfigCommand, EvidenceCommand, SignersCommand};
use crate::config::{self, Config};
use crate::error::Result;
use crate::output::Printer;
use crate::settings::Given;

pub mod apply;
pub mod audit;
mod audit_reports;
pub mod check;
pub mod config_check;
pub mod connect;
pub mod deliver;
pub mod evidence;
pub mod generate;
pub mod keys;
pub mod plan;
pub mod remote;
pub mod signers;
pub mod snapshot;
pub mod staged;
pub mod verify;

/// What a successful command found, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    /// Findings exist; exit 2 only where the user asked for a detailed exit code.
    Drift {
        detailed_exitcode: bool,
    },
    /// Some items failed to apply (exit 1; the results file says which).
    ItemsFailed,
    /// Stopped by Ctrl-C after the calls in flight (exit 130).
    Interrupted,
    /// A check found problems (exit 1; printed by the command): `evidence verify`.
    CheckFailed,
    /// The run is written and committed, but a notification failed and `notify_required`
    /// is set (exit 3).
    NotifyFailed,
}

/// Runs the parsed command. `given` names the flags given explicitly (settings need them).
pub fn run(cli: &Cli, given: &Given, printer: &Printer) -> Result<Outcome> {
    let config_path = cli.config.as_deref();
    match &cli.command {
        Command::Audit(args) => audit::run(args, given, config_path, printer),
        Command::Snapshot(args) => {
            snapshot::run(args, given, read_config(config_path)?.as_ref(), printer)
        }
        Command::Plan(command) => plan::run(command, read_config(config_path)?.as_ref(), printer),
        Command::Apply(args) => {
            apply::run(args, given, read_config(config_path)?.as_ref(), printer)
        }
        Command::Verify(args) => {
            verify::run(args, given, read_config(config_path)?.as_ref(), printer)
        }
        Command::Generate(args) => generate::run(args, printer),
        Command::Config(ConfigCommand::Check { file }) => {
            config_check::check(file.as_deref(), config_path, printer)
        }
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut command, "entra-drift", &mut script);
            printer.data_text(&String::from_utf8_lossy(&script))?;
            Ok(Outcome::Clean)
        }
        Command::Check(CheckCommand::Sharepoint(args)) => {
            check::sharepoint(args, given, read_config(config_path)?.as_ref(), printer)
        }
        Command::Signers(SignersCommand::Add(args)) => {
            signers::add(args, printer)?;
            Ok(Outcome::Clean)
        }
        Command::Man => {
            let command = <Cli as clap::CommandFactory>::command();
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .map_err(|e| crate::error::Error::io(std::path::Path::new("(stdout)"), e))?;
            printer.data_text(&String::from_utf8_lossy(&page))?;
            Ok(Outcome::Clean)
        }
        Command::Evidence(EvidenceCommand::Verify {
            dir,
            allowed_signers,
            sealed_since,
        }) => {
            // The policy is the verifier's flag: the configuration's `allowed_signers` says who
            // may approve plans, which not every site seals runs with.
            let config = read_config(config_path)?;
            let policy = allowed_signers.clone();
            let since = sealed_since
                .clone()
                .or_else(|| config.as_ref().and_then(|c| c.sealed_since.clone()));
            evidence::verify(dir, policy.as_deref(), since.as_deref(), printer)
        }
    }
}

fn read_config(path: Option<&Path>) -> Result<Option<Config>> {
    path.map(config::read).transpose()
}
