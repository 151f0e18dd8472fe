//! Command-line types only (clap). Resolved into settings by `settings` (audit: flags over
//! the configuration file over defaults) and into work by `commands`.

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

use crate::config::{
    Range, CAUSES_DAYS_RANGE, CONCURRENCY_RANGE, EXPAND_LIMIT_RANGE, KEEP_RANGE,
    LOCK_MAX_AGE_RANGE, MAX_ITEMS_RANGE, MAX_RETRY_WAIT_RANGE, MIN_APPROVERS_RANGE,
    PLAN_EXPIRY_RANGE, PROGRESS_INTERVAL_RANGE, RU_BUDGET_RANGE, SHAREPOINT_BUDGET_RANGE,
};
use crate::graph::{choose, Cloud, CredentialKind};

/// `--version`: the package version and the commit it was built from (see build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("ENTRA_DRIFT_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "entra-drift",
    version = VERSION,
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
    #[arg(help_heading = "Logging and configuration", short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr; no summary, no progress.
    #[arg(
        help_heading = "Logging and configuration",
        short,
        long,
        global = true,
        conflicts_with = "verbose"
    )]
    pub quiet: bool,

    /// Seconds between progress lines of a running stage when stderr is not a terminal (cron,
    /// CI, containers); a terminal shows live lines instead.
    #[arg(help_heading = "Logging and configuration", long, global = true, value_name = "SECONDS", default_value_t = crate::progress::DEFAULT_INTERVAL_SECONDS,
          value_parser = within_u64(PROGRESS_INTERVAL_RANGE))]
    pub progress_interval: u64,

    /// Log line format on stderr.
    #[arg(help_heading = "Logging and configuration", long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Configuration file (entra-drift.toml) for `audit`, `snapshot`, `apply` and `verify`;
    /// flags override it.
    #[arg(help_heading = "Logging and configuration", long, global = true, value_name = "FILE", env = crate::config::CONFIG_VARIABLE)]
    pub config: Option<PathBuf>,
}

/// For a top-level command typed under another one (`entra-drift plan apply PLAN`): the tip
/// that names the command line that works. `args` are the process's arguments, program first.
pub fn misplaced_command(args: &[String]) -> Option<String> {
    let command = <Cli as clap::CommandFactory>::command();
    let words: Vec<(usize, &String)> = args
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, arg)| !arg.starts_with('-'))
        .collect();
    let (_, parent) = words.first()?;
    let (at, child) = words.get(1)?;
    let parent_command = command.find_subcommand(parent.as_str())?;
    if parent_command.find_subcommand(child.as_str()).is_some()
        || command.find_subcommand(child.as_str()).is_none()
    {
        return None;
    }
    let rest: Vec<&str> = args[at + 1..].iter().map(String::as_str).collect();
    let line = std::iter::once(child.as_str())
        .chain(rest)
        .collect::<Vec<_>>()
        .join(" ");
    Some(format!(
        "`{child}` is a command of its own, not a `{parent}` command: entra-drift {line}"
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl From<LogFormat> for crate::output::LogFormat {
    fn from(format: LogFormat) -> Self {
        match format {
            LogFormat::Text => crate::output::LogFormat::Text,
            LogFormat::Json => crate::output::LogFormat::Json,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Audit a tenant: snapshot, findings, reports and a reprocess plan.
    #[command(after_help = "Examples:\n  \
        entra-drift audit --tenant-dir fixtures/contoso\n  \
        entra-drift audit --tenant <TENANT_ID> --out reports --detailed-exitcode\n  \
        entra-drift --config /etc/entra-drift/entra-drift.toml audit")]
    Audit(AuditArgs),
    /// Take a snapshot (Parquet tables and a manifest) without auditing it.
    #[command(
        after_help = "Example:\n  entra-drift snapshot --tenant <TENANT_ID> --out snapshots"
    )]
    Snapshot(SnapshotArgs),
    /// Review and approve a reprocess plan.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Reprocess the approved items of a plan, re-checking each live first.
    #[command(after_help = "Examples:\n  \
        entra-drift apply RUN/plan.json --tenant <TENANT_ID> --allowed-signers allowed_signers --min-approvers 2 --dry-run\n  \
        entra-drift apply RUN/plan.json --tenant <TENANT_ID> --allowed-signers allowed_signers --min-approvers 2 --env-prefix APPLY_")]
    Apply(ApplyArgs),
    /// Re-read the resources of a plan's items: restored, or still missing?
    #[command(
        after_help = "Example:\n  entra-drift verify RUN/plan.json --tenant <TENANT_ID> --allowed-signers allowed_signers --exceptions register.csv"
    )]
    Verify(VerifyArgs),
    /// Write a synthetic tenant with known drift, and its ground-truth findings.
    #[command(after_help = "Examples:\n  \
        entra-drift generate --size small --seed 7 --out /tmp/tenant && entra-drift audit --tenant-dir /tmp/tenant\n  \
        entra-drift generate --size large --format snapshot --out /tmp/large")]
    Generate(GenerateArgs),
    /// Check a configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check the evidence of audit runs: manifests, files and the chain between runs.
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// Print a shell completion script on stdout (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Example:\n  entra-drift completions bash > /etc/bash_completion.d/entra-drift"
    )]
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Manage the allowed_signers file that says who may approve plans.
    #[command(subcommand)]
    Signers(SignersCommand),
    /// Check what the app can read before an audit relies on it.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Print the man page (roff) on stdout.
    #[command(
        after_help = "Example:\n  entra-drift man > /usr/local/share/man/man1/entra-drift.1"
    )]
    Man,
}

#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Probe a SharePoint site with the audit's credential: the token for the site's origin,
    /// its groups, whether each one's members are visible and readable, and how its users can
    /// be matched to Entra users. Exits 0 when every group asked for was read, 1 otherwise.
    #[command(after_help = "Examples:\n  \
        entra-drift check sharepoint https://contoso.sharepoint.com/sites/Sales --tenant <TENANT_ID>\n  \
        entra-drift check sharepoint https://contoso.sharepoint.com/sites/Sales --tenant <TENANT_ID> --group 4")]
    Sharepoint(CheckSharepointArgs),
}

#[derive(Debug, Args)]
pub struct CheckSharepointArgs {
    /// The site's URL (https://<tenant>.sharepoint.com/sites/<name>).
    pub site: String,
    /// Only this site group (a site role's originId) [default: every group of the site].
    #[arg(long, value_name = "N")]
    pub group: Option<u32>,
    #[command(flatten)]
    pub graph: GraphArgs,
}

#[derive(Debug, Subcommand)]
pub enum SignersCommand {
    /// Allow a person's SSH public key: append its allowed_signers line (git's and OpenSSH's
    /// format), for plan approvals unless --namespace says otherwise. Prints the line added.
    #[command(after_help = "Examples:\n  \
        entra-drift signers add --principal ada@contoso.example --key ~/.ssh/id_ed25519.pub\n  \
        entra-drift signers add --principal bob@contoso.example --key bob.pub --valid-before 20270630 --file /etc/entra-drift/allowed_signers\n  \
        entra-drift signers add --principal audit-bot@contoso.example --key bot.pub --namespace entra-drift-evidence")]
    Add(SignersAddArgs),
}

#[derive(Debug, Args)]
pub struct SignersAddArgs {
    /// Who the key belongs to, as approvals name them (`plan approve --approver`).
    #[arg(long, value_name = "NAME")]
    pub principal: String,
    /// The public key file (`*.pub`, as ssh-keygen writes it).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The allowed_signers file to add to (created when absent).
    #[arg(long, value_name = "FILE", default_value = "allowed_signers")]
    pub file: PathBuf,
    /// What the key may sign: plan approvals or evidence seals.
    #[arg(long, default_value = crate::trust::PLAN_NAMESPACE,
          value_parser = [crate::trust::PLAN_NAMESPACE, crate::trust::EVIDENCE_NAMESPACE])]
    pub namespace: String,
    /// Signatures made from this day on are refused (YYYYMMDD, UTC).
    #[arg(long, value_name = "YYYYMMDD")]
    pub valid_before: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file (and the exceptions register it names); errors point at
    /// the file, line and column. Exits 0 when valid, 1 otherwise.
    #[command(after_help = "Examples:\n  \
        entra-drift config check /etc/entra-drift/entra-drift.toml\n  \
        entra-drift --config fixtures/contoso.toml config check")]
    Check {
        /// The file [default: --config, or $ENTRA_DRIFT_CONFIG].
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Report every edited, missing or extra file and every broken link of the chain. DIR is
    /// a run folder, a tenant folder (all its runs) or an --out root. Exits 0 when intact, 1
    /// otherwise.
    #[command(after_help = "Examples:\n  \
        entra-drift evidence verify reports/<TENANT_ID>\n  \
        entra-drift evidence verify reports --allowed-signers allowed_signers --sealed-since 20261101T060000Z")]
    Verify {
        #[arg(value_name = "DIR")]
        dir: PathBuf,

        /// Check each run's manifest.sig (namespace entra-drift-evidence) and each plan's
        /// approval signatures against this allowed_signers file: every run must then be sealed
        /// by a key it allows for entra-drift-evidence.
        #[arg(long, value_name = "FILE")]
        allowed_signers: Option<PathBuf>,

        /// With --allowed-signers: runs before this one (a run folder name, such as
        /// 20261101T060000Z) predate sealing and may be unsealed [config: sealed_since].
        #[arg(long, value_name = "RUN", requires = "allowed_signers")]
        sealed_since: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// small (seconds; CI), medium (live benchmarks), large (Entra's default quota: 300,000 assignments, 20,000
    /// packages, ~10 M memberships) or xl (3 M assignments, ~30 M memberships).
    #[arg(long, value_parser = ["small", "medium", "large", "xl"], default_value = "small")]
    pub size: String,

    /// The same seed and size always give the same tenant.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Folder to write (created; must be empty or absent).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// A tenant directory (JSON, servable by fake-graph) or a stored snapshot (Parquet,
    /// for `audit --snapshot`).
    #[arg(long, value_enum, default_value_t = GenerateFormat::TenantDir)]
    pub format: GenerateFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenerateFormat {
    TenantDir,
    Snapshot,
}

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Summarise a plan for a reviewer.
    #[command(after_help = "Example:\n  entra-drift plan show RUN/plan.json")]
    Show {
        /// The plan.json of an audit run.
        plan: PathBuf,
    },
    /// Add an approval (of all items, or a selection) to the plan, signed with an SSH key;
    /// approvals accumulate, one per approver.
    #[command(after_help = "Examples:\n  \
        entra-drift plan approve RUN/plan.json --approver ada@contoso.example --sign-key ~/.ssh/id_ed25519\n  \
        entra-drift plan approve RUN/plan.json --approver ada@contoso.example --only <ITEM_ID> --action accept --reason \"owned by the team lead\" --exceptions register.csv --sign-key ~/.ssh/id_ed25519\n  \
        entra-drift plan approve RUN/plan.json --approver mallory --revoke")]
    Approve(ApproveArgs),
    /// Print what an approver signs: the plan digest (and the selection, with --only or
    /// --exclude). `entra-drift plan digest plan.json | ssh-keygen -Y sign -n
    /// entra-drift-plan -f KEY` makes a signature for `plan approve --signature`.
    #[command(after_help = "Examples:\n  \
        entra-drift plan digest RUN/plan.json | ssh-keygen -Y sign -n entra-drift-plan -f ~/.ssh/id_ed25519 > approval.sig\n  \
        entra-drift plan digest RUN/plan.json --only <ITEM_ID> --action accept --reason \"owned by the team lead\"")]
    Digest(DigestArgs),
}

#[derive(Debug, Args)]
pub struct DigestArgs {
    /// The plan.json of an audit run.
    pub plan: PathBuf,

    /// The statement for approving only these assignments (repeatable).
    #[arg(long, value_name = "ASSIGNMENT_ID", num_args = 1..)]
    pub only: Vec<String>,

    /// The statement for approving every item but these (repeatable).
    #[arg(long, value_name = "ASSIGNMENT_ID", num_args = 1..)]
    pub exclude: Vec<String>,

    /// The statement for choosing this action for the selected items.
    #[arg(long, value_name = "ACTION", value_parser = parse_action)]
    pub action: Option<crate::plan::Action>,

    /// The reason of an `accept` (one line).
    #[arg(long, value_name = "TEXT", requires = "action")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The plan.json of an audit run.
    pub plan: PathBuf,

    /// Who approves (a name or an email; recorded in the plan and the apply journal).
    #[arg(long, value_name = "NAME")]
    pub approver: String,

    /// A change or ticket reference to record with the approval.
    #[arg(long, value_name = "REF")]
    pub ticket: Option<String>,

    /// Approve only these assignments (repeatable).
    #[arg(long, value_name = "ASSIGNMENT_ID", num_args = 1.., conflicts_with = "from_xlsx")]
    pub only: Vec<String>,

    /// Approve every item but these assignments (repeatable).
    #[arg(long, value_name = "ASSIGNMENT_ID", num_args = 1.., conflicts_with = "from_xlsx")]
    pub exclude: Vec<String>,

    /// Take the decisions from the Approve column of the run's drift.xlsx (Plan sheet).
    #[arg(long, value_name = "XLSX")]
    pub from_xlsx: Option<PathBuf>,

    /// The action for the selected items instead of their default: reprocess,
    /// remove_assignment, remove_access or accept (each item's choices are in the plan).
    #[arg(long, value_name = "ACTION", value_parser = parse_action, conflicts_with = "from_xlsx")]
    pub action: Option<crate::plan::Action>,

    /// Why the findings are accepted (`--action accept`; recorded with the exception).
    #[arg(long, value_name = "TEXT", requires = "action")]
    pub reason: Option<String>,

    /// Sign the approval with this OpenSSH private key (ed25519, ECDSA, RSA; passphrase from
    /// ENTRA_DRIFT_KEY_PASSPHRASE or a prompt), or with the ssh-agent key matching this public
    /// key file (`.pub`: hardware keys).
    #[arg(long, value_name = "KEY", conflicts_with = "signature")]
    pub sign_key: Option<PathBuf>,

    /// Attach a signature made elsewhere (`ssh-keygen -Y sign -n entra-drift-plan` over
    /// `entra-drift plan digest`).
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,

    /// Check the signature against this allowed_signers file now rather than at apply time.
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,

    /// Take back every approval by --approver instead of adding one (recorded in the plan's
    /// `revocations`).
    #[arg(long, conflicts_with_all = ["only", "exclude", "from_xlsx", "action", "reason", "sign_key", "signature"])]
    pub revoke: bool,

    /// The exceptions register an approved `accept` will be recorded in: checked now, so that
    /// apply does not fail later [config: exceptions].
    #[arg(long, value_name = "FILE")]
    pub exceptions: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The approved plan.json. The journal and results are written beside it.
    pub plan: PathBuf,

    #[command(flatten)]
    pub graph: GraphArgs,

    /// Refuse plans with more approved items than this.
    #[arg(help_heading = "Safety", long, value_name = "N", default_value_t = crate::apply::DEFAULT_MAX_ITEMS,
          value_parser = within(MAX_ITEMS_RANGE))]
    pub max_items: usize,

    /// Perform every check and write nothing to Graph.
    #[arg(help_heading = "Safety", long)]
    pub dry_run: bool,

    /// Read the write identity from <PREFIX>AZURE_CLIENT_ID, <PREFIX>AZURE_CLIENT_SECRET, ...
    /// so that apply can use another app than the read-only audit (e.g. APPLY_).
    #[arg(
        help_heading = "Apply",
        long,
        value_name = "PREFIX",
        default_value = ""
    )]
    pub env_prefix: String,

    #[command(flatten)]
    pub approvals: ApprovalArgs,

    /// The run folder that committed the plan, when the plan was moved out of it.
    #[arg(help_heading = "Apply", long, value_name = "DIR")]
    pub run: Option<PathBuf>,

    /// Trust no outcome recorded in the journal: re-check every approved item live.
    #[arg(help_heading = "Apply", long)]
    pub recheck_journal: bool,

    /// Apply approved `remove_assignment` and `remove_access` items (without it they are
    /// skipped, saying so).
    #[arg(help_heading = "Safety", long)]
    pub allow_remove: bool,

    /// Refuse plans with more approved removals than this [config: max_removals].
    #[arg(help_heading = "Safety", long, value_name = "N", default_value_t = crate::apply::DEFAULT_MAX_REMOVALS,
          value_parser = within(MAX_ITEMS_RANGE))]
    pub max_removals: usize,

    /// The exceptions register that approved `accept` items are added to (CSV or TOML;
    /// created when absent) [config: exceptions].
    #[arg(help_heading = "Exceptions", long, value_name = "FILE")]
    pub exceptions: Option<PathBuf>,

    /// Days an exception recorded by `accept` lasts.
    #[arg(help_heading = "Exceptions", long, value_name = "DAYS", default_value_t = 90, value_parser = within_i64(PLAN_EXPIRY_RANGE))]
    pub accept_days: i64,
}

/// Whose approvals count.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Approvals")]
pub struct ApprovalArgs {
    /// git's allowed_signers file: when given, every approval must be signed by a key
    /// allowed for its approver (namespace entra-drift-plan) [config: allowed_signers].
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,

    /// Distinct allowed approvers an item needs before it is applied (four eyes: 2); needs
    /// --allowed-signers above 1 [config: min_approvers; default: 1].
    #[arg(long, value_name = "N", value_parser = within(MIN_APPROVERS_RANGE))]
    pub min_approvers: Option<usize>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The plan.json that was applied.
    pub plan: PathBuf,

    #[command(flatten)]
    pub graph: GraphArgs,

    /// Read the identity from <PREFIX>AZURE_* variables.
    #[arg(
        help_heading = "Verify",
        long,
        value_name = "PREFIX",
        default_value = ""
    )]
    pub env_prefix: String,

    /// Exit 2 when an approved item's access is still missing.
    #[arg(help_heading = "Verify", long)]
    pub detailed_exitcode: bool,

    #[command(flatten)]
    pub approvals: ApprovalArgs,

    /// The exceptions register approved `accept` items were recorded in: verify reports an
    /// acceptance only when the journal and the register both hold it [config: exceptions].
    #[arg(help_heading = "Verify", long, value_name = "FILE")]
    pub exceptions: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").args(["tenant_dir", "snapshot", "tenant"])))]
pub struct AuditArgs {
    /// Read a recorded tenant directory instead of Microsoft Graph (see fixtures/contoso).
    #[arg(help_heading = "Source", long, value_name = "DIR")]
    pub tenant_dir: Option<PathBuf>,

    /// Re-audit a stored snapshot (a folder with snapshot.json), offline.
    #[arg(help_heading = "Source", long, value_name = "DIR")]
    pub snapshot: Option<PathBuf>,

    #[command(flatten)]
    pub graph: GraphArgs,

    #[command(flatten)]
    pub read: ReadArgs,

    #[command(flatten)]
    pub causes: CauseArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    /// Do not write plan.json nor the Plan sheet.
    #[arg(help_heading = "Plan", long)]
    pub no_plan: bool,

    /// Days until the written plan expires and can no longer be applied.
    #[arg(help_heading = "Plan", long, value_name = "DAYS", default_value_t = crate::plan::DEFAULT_EXPIRY_DAYS,
          value_parser = within_i64(PLAN_EXPIRY_RANGE))]
    pub plan_expiry_days: i64,

    /// Exit 2 when there are findings (0 when none), for schedulers; errors still exit 1.
    #[arg(help_heading = "Output, history and evidence", long)]
    pub detailed_exitcode: bool,

    /// Seal the run: sign its manifest.json with this OpenSSH key (a dedicated audit key) into
    /// manifest.sig (namespace entra-drift-evidence) [config: sign_key].
    #[arg(
        help_heading = "Output, history and evidence",
        long,
        value_name = "KEY"
    )]
    pub sign_key: Option<PathBuf>,

    /// Exceptions register (CSV or TOML): excepted findings are marked and never planned.
    #[arg(
        help_heading = "Output, history and evidence",
        long,
        value_name = "FILE"
    )]
    pub exceptions: Option<PathBuf>,

    /// Keep only the newest N run folders of the tenant (after a successful run); index.csv
    /// keeps a row for each pruned run.
    #[arg(help_heading = "Output, history and evidence", long, value_name = "N", value_parser = within(KEEP_RANGE))]
    pub keep: Option<usize>,

    /// Take over a run lock left by another host (whose file locks this host cannot see) once
    /// it is older than this [default: 24].
    #[arg(help_heading = "Output, history and evidence", long, value_name = "HOURS", value_parser = within_i64(LOCK_MAX_AGE_RANGE))]
    pub lock_max_age_hours: Option<i64>,

    /// Report only on packages of this catalog (repeatable; replaces the file's list).
    #[arg(help_heading = "Scope", long, value_name = "CATALOG_ID")]
    pub include_catalog: Vec<String>,

    /// Leave out packages of this catalog (repeatable).
    #[arg(help_heading = "Scope", long, value_name = "CATALOG_ID")]
    pub exclude_catalog: Vec<String>,

    /// Report only on this package, by id or exact name (repeatable).
    #[arg(help_heading = "Scope", long, value_name = "PACKAGE")]
    pub include_package: Vec<String>,

    /// Leave out this package, by id or exact name (repeatable).
    #[arg(help_heading = "Scope", long, value_name = "PACKAGE")]
    pub exclude_package: Vec<String>,

    /// Notify after the run (repeatable; replaces the file's [[notify]] tables):
    /// kind=teams|webhook[,url_env=VAR][,secret_env=VAR] or
    /// kind=mail,from=SENDER,to=A;B — each with on=always|drift|new (default always).
    /// URLs only from the environment.
    #[arg(help_heading = "Notifications", long, value_name = "SPEC")]
    pub notify: Vec<String>,

    /// Exit 3 when a notification fails (the run is written and committed either way)
    /// [config: notify_required].
    #[arg(help_heading = "Notifications", long)]
    pub notify_required: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("snapshot_source").required(true).args(["tenant_dir", "tenant"])))]
pub struct SnapshotArgs {
    /// Normalise a recorded tenant directory instead of reading Microsoft Graph.
    #[arg(help_heading = "Source", long, value_name = "DIR")]
    pub tenant_dir: Option<PathBuf>,

    #[command(flatten)]
    pub causes: CauseArgs,

    #[command(flatten)]
    pub graph: GraphArgs,

    #[command(flatten)]
    pub read: ReadArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Output, history and evidence")]
pub struct OutputArgs {
    /// Root of the run folders; each run writes <OUT>/<tenant id>/<UTC timestamp>/. Also a
    /// Blob Storage URL: https://<account>.blob.core.windows.net/<container>[/<prefix>].
    #[arg(long, value_name = "DIR|URL", default_value = "reports")]
    pub out: PathBuf,
}

/// How a live audit or snapshot reads the tenant (apply and verify read single objects only).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Reading a live tenant")]
pub struct ReadArgs {
    /// An expanded list this long may have been cut by Graph without a nextLink (Graph
    /// documents 20 for directory objects): such a package's roles are re-read through its
    /// own collection before they are trusted.
    #[arg(long, value_name = "N", default_value_t = crate::snapshot::live::DEFAULT_EXPAND_LIMIT,
          value_parser = within(EXPAND_LIMIT_RANGE))]
    pub expand_limit: usize,

    /// How the delivered assignments are read: `auto` decides from the package list, the
    /// previous run's counts and the latency seen (guide: "Reading at scale")
    /// [config: assignment_read].
    #[arg(long, value_name = "HOW", default_value = "auto",
          value_parser = named(&crate::snapshot::AssignmentRead::CHOICES))]
    pub assignment_read: crate::snapshot::AssignmentRead,
}

/// How to reach Microsoft Graph. Secrets come only from the environment, never from flags
/// (flags show in process lists and shell history).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Microsoft Graph and sign-in")]
pub struct GraphArgs {
    /// The tenant's directory id (a GUID): the tenant read live, or the one a plan is applied
    /// to and verified in.
    #[arg(long, value_name = "TENANT_ID")]
    pub tenant: Option<String>,

    /// The tenant's name where Graph's organization cannot be read (configuration file only:
    /// `tenant_name`).
    #[arg(skip)]
    pub tenant_name: Option<String>,

    /// The app registration's client (application) id [default: $AZURE_CLIENT_ID].
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,

    /// Which credential to use. `auto` takes the first that is configured: AZURE_CLIENT_SECRET,
    /// AZURE_CLIENT_CERTIFICATE_PATH (PKCS#12), AZURE_FEDERATED_TOKEN_FILE (workload identity),
    /// a managed identity (IDENTITY_ENDPOINT), then the Azure CLI's login.
    #[arg(long, default_value = "auto", value_parser = named(&CredentialKind::CHOICES))]
    pub credential: CredentialKind,

    /// National cloud: picks the sign-in authority and the Graph root together.
    #[arg(long, default_value = "global", value_parser = named(&Cloud::CHOICES))]
    pub cloud: Cloud,

    /// Override the sign-in authority (https only) [default: the cloud's, or $AZURE_AUTHORITY_HOST].
    #[arg(long, value_name = "URL")]
    pub authority_host: Option<String>,

    /// Override the Graph root, e.g. a local fake-graph (https only).
    #[arg(long, value_name = "URL", env = "ENTRA_DRIFT_GRAPH_URL")]
    pub graph_url: Option<String>,

    /// Send SharePoint REST (site roles) to this origin instead of each site's own, e.g. a
    /// local fake-graph (https; loopback or a SharePoint domain only) [config: sharepoint_url].
    #[arg(long, value_name = "URL", env = "ENTRA_DRIFT_SHAREPOINT_URL")]
    pub sharepoint_url: Option<String>,

    /// SharePoint resource units per minute to pace site-group reads to (SharePoint's tiers
    /// are 1,250 to 6,250 per app and tenant; a REST call costs about 2) [config:
    /// sharepoint_budget].
    #[arg(long, value_name = "RU", default_value_t = crate::graph::sharepoint::DEFAULT_BUDGET,
          value_parser = within_u64(SHAREPOINT_BUDGET_RANGE))]
    pub sharepoint_budget: u64,

    /// Graph requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = crate::graph::DEFAULT_CONCURRENCY,
          value_parser = within(CONCURRENCY_RANGE))]
    pub concurrency: usize,

    /// Most seconds one Graph request may spend waiting between its retries (throttling,
    /// outages) before it fails.
    #[arg(long, value_name = "SECONDS",
          default_value_t = crate::graph::retry::DEFAULT_MAX_RETRY_WAIT_SECONDS,
          value_parser = within_u64(MAX_RETRY_WAIT_RANGE))]
    pub max_retry_wait: u64,

    /// Resource units per 10 s to pace Graph reads to (Graph: 3,500 under 50 users, 5,000 up
    /// to 500, 8,000 above) [config: ru_budget; default: learned from Graph's
    /// x-ms-throttle-limit-percentage header].
    #[arg(long, value_name = "RU", value_parser = within_u64(RU_BUDGET_RANGE))]
    pub ru_budget: Option<u64>,

    /// The resource-unit budget's window in milliseconds (Graph's is 10 s; tests shorten it
    /// together with fake-graph's).
    #[arg(long, value_name = "MS", default_value_t = 10_000, hide = true)]
    pub ru_window_ms: u64,

    /// First retry backoff in milliseconds when Graph gives no Retry-After (tests lower it).
    #[arg(long, value_name = "MS", default_value_t = 2000, hide = true)]
    pub retry_base_ms: u64,
}

/// A choice from a library table (`Cloud::CHOICES`, ...): clap stays out of the library.
fn named<T: Copy + Send + Sync + 'static>(
    choices: &'static [(&'static str, T, &'static str)],
) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(
        choices
            .iter()
            .map(|(name, _, help)| PossibleValue::new(*name).help(*help)),
    )
    .try_map(move |name| choose(choices, &name).ok_or("not a known value"))
}

/// A whole number within one of the ranges the configuration file checks too.
fn parse_action(text: &str) -> Result<crate::plan::Action, String> {
    crate::plan::Action::parse(text).ok_or_else(|| {
        format!(
            "`{text}` is not an action: use {}",
            crate::plan::remedy::names(&crate::plan::Action::ALL)
        )
    })
}

fn within(range: Range) -> impl Fn(&str) -> Result<usize, String> + Clone {
    move |text| within_i64(range)(text).map(|n| n as usize)
}

fn within_u64(range: Range) -> impl Fn(&str) -> Result<u64, String> + Clone {
    move |text| within_i64(range)(text).map(|n| n as u64)
}

fn within_i64(range: Range) -> impl Fn(&str) -> Result<i64, String> + Clone {
    move |text| match text.parse::<i64>() {
        Ok(n) if (range.0..=range.1).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a whole number from {} to {}",
            range.0, range.1
        )),
    }
}

/// Whether and how far back the audit log explains findings (`audit`, `snapshot`).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Causes (directory audit log)")]
pub struct CauseArgs {
    /// Do not read the directory audit log: the findings' cause columns stay empty
    /// [config: causes = false].
    #[arg(long)]
    pub no_causes: bool,

    /// Days of directory audit log that explain findings: 30 with Entra ID P1/P2, 7 on Free
    /// [config: causes_days; default: 30].
    #[arg(long, value_name = "DAYS", value_parser = within(CAUSES_DAYS_RANGE))]
    pub causes_days: Option<usize>,
}
