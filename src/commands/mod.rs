//! One module per subcommand, wiring the stages together.

pub mod apply;
pub mod audit;
pub mod config;
pub mod connect;
pub mod evidence;
pub mod generate;
pub mod plan;
pub mod snapshot;
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
}
