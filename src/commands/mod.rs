//! One module per subcommand, wiring the stages together.

pub mod audit;
pub mod connect;
pub mod snapshot;

/// What a successful command found, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    /// Findings exist; exit 2 only where the user asked for a detailed exit code.
    Drift {
        detailed_exitcode: bool,
    },
}
