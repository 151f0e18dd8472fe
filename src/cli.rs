//! Command-line types only (clap). Resolved into work by `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "entra-drift",
    version,
    about = "Find and fix access drift in Microsoft Entra ID entitlement management",
    long_about = "Find and fix access drift in Microsoft Entra ID entitlement management.\n\n\
        Entitlement management keeps showing an access package assignment as Delivered even after \
        someone removes the user from the group or application by hand. entra-drift compares every \
        delivered assignment with what each resource really holds, writes CSV and Excel reports, \
        and a reprocess plan for the assignments that lost access.",
    after_help = "Exit codes: 0 success; 1 error; 2 drift found (only with --detailed-exitcode)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr; no summary.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Audit a tenant: snapshot, findings, reports and a reprocess plan.
    Audit(AuditArgs),
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Read a recorded tenant directory instead of Microsoft Graph (see fixtures/contoso).
    #[arg(long, value_name = "DIR")]
    pub tenant_dir: PathBuf,

    /// Root of the report folders; each run writes <OUT>/<tenant id>/<UTC timestamp>/.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,

    /// Do not write plan.json nor the Plan sheet.
    #[arg(long)]
    pub no_plan: bool,

    /// Days until the written plan expires and can no longer be applied.
    #[arg(long, value_name = "DAYS", default_value_t = crate::plan::DEFAULT_EXPIRY_DAYS,
          value_parser = clap::value_parser!(i64).range(1..=90))]
    pub plan_expiry_days: i64,

    /// Exit 2 when there are findings (0 when none), for schedulers; errors still exit 1.
    #[arg(long)]
    pub detailed_exitcode: bool,
}
