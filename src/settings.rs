//! Resolves what a command will do from three layers — flags, then the configuration file,
//! then defaults — before any work starts (`audit`, `snapshot`, `apply`, `verify`). A flag counts only when it was given (on the
//! command line or through its environment variable), never through its clap default, so
//! that a file value is not overridden by a default.

use std::collections::HashSet;
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use clap::parser::ValueSource;
use clap::ArgMatches;

use crate::audit::scope::Scope;
use crate::cli::{
    ApplyArgs, ApprovalArgs, AuditArgs, CauseArgs, GraphArgs, ReadArgs, SnapshotArgs, VerifyArgs,
};
use crate::config::{Config, ConfigSource};
use crate::error::{Error, Result};
use crate::lock::DEFAULT_MAX_AGE_HOURS;
use crate::snapshot::{LogRequest, DEFAULT_LOG_DAYS};

/// The argument ids that were given explicitly.
#[derive(Debug, Clone, Default)]
pub struct Given {
    ids: HashSet<String>,
}

impl Given {
    /// From a subcommand's matches.
    pub fn from_matches(matches: &ArgMatches) -> Self {
        let ids = matches
            .ids()
            .filter(|id| {
                matches!(
                    matches.value_source(id.as_str()),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                )
            })
            .map(|id| id.as_str().to_string())
            .collect();
        Given { ids }
    }

    /// For callers without matches (tests): these ids count as given.
    pub fn of(ids: &[&str]) -> Self {
        Given {
            ids: ids.iter().map(|id| id.to_string()).collect(),
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    /// The flag's value when it was given, else the file's, else the flag's default.
    pub fn pick<T: Clone>(&self, id: &str, flag: &T, file: Option<&T>) -> T {
        match file {
            Some(value) if !self.contains(id) => value.clone(),
            _ => flag.clone(),
        }
    }
}

/// Where the snapshot comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    TenantDir(PathBuf),
    Snapshot(PathBuf),
    /// Microsoft Graph; the tenant is `graph.tenant`.
    Live,
}

/// Everything an audit run needs, checked.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub source: Source,
    /// The Graph flags with the file's values filled in where no flag was given.
    pub graph: GraphArgs,
    pub read: ReadArgs,
    pub out: PathBuf,
    pub with_plan: bool,
    pub plan_expiry_days: i64,
    pub detailed_exitcode: bool,
    pub keep: Option<usize>,
    pub lock_max_age: Duration,
    pub exceptions: Option<PathBuf>,
    pub scope: Scope,
    pub now: DateTime<Utc>,
    /// The key that seals each run's manifest (`manifest.sig`).
    pub sign_key: Option<PathBuf>,
    /// Whether and how far back to read the audit log.
    pub log: LogRequest,
    /// Each plan item's default action by category and cause.
    pub remedies: crate::plan::Remedies,
    /// `out` when it is a Blob Storage URL.
    pub out_blob: Option<crate::blob::BlobLocation>,
    pub notify: Vec<crate::notify::Target>,
    pub notify_required: bool,
}

/// Flags over file over defaults.
pub fn resolve_audit(
    args: &AuditArgs,
    given: &Given,
    config: Option<&Config>,
    now: DateTime<Utc>,
) -> Result<AuditSettings> {
    let empty = Config::default();
    let file = config.unwrap_or(&empty);

    let mut graph = args.graph.clone();
    let source = if let Some(dir) = &args.tenant_dir {
        Source::TenantDir(dir.clone())
    } else if let Some(dir) = &args.snapshot {
        Source::Snapshot(dir.clone())
    } else if args.graph.tenant.is_some() {
        Source::Live
    } else {
        match &file.source {
            Some(ConfigSource::TenantDir(dir)) => Source::TenantDir(dir.clone()),
            Some(ConfigSource::Snapshot(dir)) => Source::Snapshot(dir.clone()),
            Some(ConfigSource::Tenant(tenant)) => {
                graph.tenant = Some(tenant.clone());
                Source::Live
            }
            None => {
                return Err(Error::settings(
                    "nothing to audit: pass --tenant <TENANT_ID>, --tenant-dir <DIR> or --snapshot <DIR>, or set `tenant` in the configuration file (--config)",
                ))
            }
        }
    };
    let graph = resolve_graph(&graph, given, file);

    let pick = |flag: &[String], from_file: &[String]| -> Vec<String> {
        if flag.is_empty() {
            from_file.to_vec()
        } else {
            flag.to_vec()
        }
    };
    let scope = Scope {
        include_catalogs: pick(&args.include_catalog, &file.scope.include_catalogs),
        exclude_catalogs: pick(&args.exclude_catalog, &file.scope.exclude_catalogs),
        include_packages: pick(&args.include_package, &file.scope.include_packages),
        exclude_packages: pick(&args.exclude_package, &file.scope.exclude_packages),
    };

    let out = given.pick("out", &args.output.out, file.out.as_ref());
    let out_blob = crate::blob::BlobLocation::parse(&out.to_string_lossy())
        .map_err(|problem| Error::settings(format!("--out {problem}")))?;
    let exceptions = args.exceptions.clone().or_else(|| file.exceptions.clone());
    check_location("--exceptions", exceptions.as_deref())?;
    Ok(AuditSettings {
        read: resolve_read(&args.read, given, file),
        source,
        graph,
        out,
        out_blob,
        // Parsed here, not by clap: clap's error would repeat the value, which may hold a URL.
        notify: if args.notify.is_empty() {
            file.notify.clone()
        } else {
            args.notify
                .iter()
                .map(|text| {
                    crate::notify::Target::parse_flag(text)
                        .map_err(|problem| Error::settings(format!("--notify: {problem}")))
                })
                .collect::<Result<_>>()?
        },
        notify_required: args.notify_required || file.notify_required.unwrap_or(false),
        with_plan: !args.no_plan && file.plan.unwrap_or(true),
        plan_expiry_days: given.pick(
            "plan_expiry_days",
            &args.plan_expiry_days,
            file.plan_expiry_days.as_ref(),
        ),
        detailed_exitcode: args.detailed_exitcode || file.detailed_exitcode.unwrap_or(false),
        keep: args.keep.or(file.keep),
        lock_max_age: Duration::hours(
            args.lock_max_age_hours
                .or(file.lock_max_age_hours)
                .unwrap_or(DEFAULT_MAX_AGE_HOURS),
        ),
        exceptions,
        scope,
        now,
        sign_key: args.sign_key.clone().or_else(|| file.sign_key.clone()),
        log: resolve_log(&args.causes, file),
        remedies: file.remedies.clone(),
    })
}

/// The Graph flags with the file's values filled in where no flag was given (every command
/// that reaches Graph resolves them the same way).
/// How a live audit or snapshot reads: flags over the file over defaults.
pub fn resolve_read(args: &ReadArgs, given: &Given, file: &Config) -> ReadArgs {
    ReadArgs {
        expand_limit: given.pick(
            "expand_limit",
            &args.expand_limit,
            file.expand_limit.as_ref(),
        ),
        assignment_read: given.pick(
            "assignment_read",
            &args.assignment_read,
            file.assignment_read.as_ref(),
        ),
    }
}

pub fn resolve_graph(args: &GraphArgs, given: &Given, file: &Config) -> GraphArgs {
    let mut graph = args.clone();
    if !given.contains("tenant") && graph.tenant.is_none() {
        if let Some(ConfigSource::Tenant(tenant)) = &file.source {
            graph.tenant = Some(tenant.clone());
        }
    }
    if !given.contains("client_id") && graph.client_id.is_none() {
        graph.client_id = file.client_id.clone();
    }
    graph.tenant_name = file.tenant_name.clone();
    graph.credential = given.pick("credential", &graph.credential, file.credential.as_ref());
    graph.cloud = given.pick("cloud", &graph.cloud, file.cloud.as_ref());
    if !given.contains("authority_host") && graph.authority_host.is_none() {
        graph.authority_host = file.authority_host.clone();
    }
    if !given.contains("graph_url") && graph.graph_url.is_none() {
        graph.graph_url = file.graph_url.clone();
    }
    if !given.contains("sharepoint_url") && graph.sharepoint_url.is_none() {
        graph.sharepoint_url = file.sharepoint_url.clone();
    }
    graph.sharepoint_budget = given.pick(
        "sharepoint_budget",
        &graph.sharepoint_budget,
        file.sharepoint_budget.as_ref(),
    );
    graph.concurrency = given.pick("concurrency", &graph.concurrency, file.concurrency.as_ref());
    graph.max_retry_wait = given.pick(
        "max_retry_wait",
        &graph.max_retry_wait,
        file.max_retry_wait.as_ref(),
    );
    if !given.contains("ru_budget") && graph.ru_budget.is_none() {
        graph.ru_budget = file.ru_budget;
    }
    graph
}

/// Whether and how far back to read the audit log: flags over file over defaults.
pub fn resolve_log(args: &CauseArgs, file: &Config) -> LogRequest {
    LogRequest {
        read: !args.no_causes && file.causes != Some(false),
        days: args
            .causes_days
            .or(file.causes_days)
            .map_or(DEFAULT_LOG_DAYS, |d| d as u32),
        previous: None,
    }
}

/// Where `snapshot` reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotSource {
    TenantDir(PathBuf),
    /// Microsoft Graph; the tenant is `graph.tenant`.
    Live,
}

#[derive(Debug, Clone)]
pub struct SnapshotSettings {
    pub source: SnapshotSource,
    pub graph: GraphArgs,
    pub read: ReadArgs,
    pub out: PathBuf,
    pub log: LogRequest,
}

/// `snapshot`: flags over file over defaults. A stored snapshot named by the file is no
/// source to snapshot again: refused, saying so.
pub fn resolve_snapshot(
    args: &SnapshotArgs,
    given: &Given,
    config: Option<&Config>,
) -> Result<SnapshotSettings> {
    let empty = Config::default();
    let file = config.unwrap_or(&empty);
    let graph = resolve_graph(&args.graph, given, file);
    let source = if let Some(dir) = &args.tenant_dir {
        SnapshotSource::TenantDir(dir.clone())
    } else if graph.tenant.is_some() {
        SnapshotSource::Live
    } else {
        match &file.source {
            Some(ConfigSource::TenantDir(dir)) => SnapshotSource::TenantDir(dir.clone()),
            Some(ConfigSource::Snapshot(_)) => {
                return Err(Error::settings(format!(
                    "`{}` names a stored snapshot as the source, which `snapshot` cannot read again: pass --tenant <TENANT_ID> or --tenant-dir <DIR>",
                    file.path.display()
                )))
            }
            _ => {
                return Err(Error::settings(
                    "nothing to snapshot: pass --tenant <TENANT_ID> or --tenant-dir <DIR>, or set `tenant` or `tenant_dir` in the configuration file (--config)",
                ))
            }
        }
    };
    Ok(SnapshotSettings {
        read: resolve_read(&args.read, given, file),
        source,
        graph,
        out: given.pick("out", &args.output.out, file.out.as_ref()),
        log: resolve_log(&args.causes, file),
    })
}

#[derive(Debug, Clone)]
pub struct ApplySettings {
    pub plan: PathBuf,
    pub graph: GraphArgs,
    pub max_items: usize,
    pub dry_run: bool,
    pub env_prefix: String,
    pub approvals: ApprovalSettings,
    /// The committing run folder; `None`: the plan's own folder.
    pub run: Option<PathBuf>,
    pub recheck_journal: bool,
    pub allow_remove: bool,
    pub max_removals: usize,
    /// Where `accept` items are recorded.
    pub exceptions: Option<PathBuf>,
    pub accept_days: i64,
}

/// Whose approvals count (flags over file over defaults).
#[derive(Debug, Clone, Default)]
pub struct ApprovalSettings {
    pub allowed_signers: Option<PathBuf>,
    pub min_approvers: usize,
}

fn resolve_approvals(args: &ApprovalArgs, file: &Config) -> ApprovalSettings {
    ApprovalSettings {
        allowed_signers: args
            .allowed_signers
            .clone()
            .or_else(|| file.allowed_signers.clone()),
        min_approvers: args.min_approvers.or(file.min_approvers).unwrap_or(1),
    }
}

/// `apply`: the tenant to change must be named (flag or the file's `tenant`).
pub fn resolve_apply(
    args: &ApplyArgs,
    given: &Given,
    config: Option<&Config>,
) -> Result<ApplySettings> {
    let empty = Config::default();
    let file = config.unwrap_or(&empty);
    let graph = resolve_graph(&args.graph, given, file);
    if graph.tenant.is_none() {
        return Err(Error::settings(
            "pass --tenant <TENANT_ID>: the tenant you mean to change (or set `tenant` in the configuration file)",
        ));
    }
    Ok(ApplySettings {
        plan: args.plan.clone(),
        graph,
        max_items: given.pick("max_items", &args.max_items, file.max_items.as_ref()),
        dry_run: args.dry_run,
        env_prefix: args.env_prefix.clone(),
        approvals: resolve_approvals(&args.approvals, file),
        run: args.run.clone(),
        recheck_journal: args.recheck_journal,
        allow_remove: args.allow_remove,
        max_removals: given.pick(
            "max_removals",
            &args.max_removals,
            file.max_removals.as_ref(),
        ),
        exceptions: {
            let exceptions = args.exceptions.clone().or_else(|| file.exceptions.clone());
            check_location("--exceptions", exceptions.as_deref())?;
            exceptions
        },
        accept_days: args.accept_days,
    })
}

#[derive(Debug, Clone)]
pub struct VerifySettings {
    pub plan: PathBuf,
    /// `tenant` is `None` when neither flag nor file names one: the plan's tenant is used.
    pub graph: GraphArgs,
    pub env_prefix: String,
    pub detailed_exitcode: bool,
    pub approvals: ApprovalSettings,
    /// The register approved `accept` items were recorded in.
    pub exceptions: Option<PathBuf>,
}

pub fn resolve_verify(
    args: &VerifyArgs,
    given: &Given,
    config: Option<&Config>,
) -> Result<VerifySettings> {
    let empty = Config::default();
    let file = config.unwrap_or(&empty);
    Ok(VerifySettings {
        plan: args.plan.clone(),
        graph: resolve_graph(&args.graph, given, file),
        env_prefix: args.env_prefix.clone(),
        detailed_exitcode: args.detailed_exitcode || file.detailed_exitcode.unwrap_or(false),
        approvals: resolve_approvals(&args.approvals, file),
        exceptions: {
            let exceptions = args.exceptions.clone().or_else(|| file.exceptions.clone());
            check_location("--exceptions", exceptions.as_deref())?;
            exceptions
        },
    })
}

/// A path flag that may be a Blob Storage URL: a malformed URL is an error here, not a
/// missing file later.
fn check_location(flag: &str, path: Option<&std::path::Path>) -> Result<()> {
    match path {
        Some(path) => crate::blob::BlobLocation::parse(&path.to_string_lossy())
            .map(|_| ())
            .map_err(|problem| Error::settings(format!("{flag} {problem}"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::graph::{Cloud, CredentialKind};

    /// Parses `entra-drift audit ARGS` the way `main` does.
    fn audit(args: &[&str]) -> (AuditArgs, Given) {
        let matches = Cli::command()
            .try_get_matches_from(["entra-drift", "audit"].iter().chain(args))
            .unwrap();
        let cli = Cli::from_arg_matches(&matches).unwrap();
        let given = Given::from_matches(matches.subcommand_matches("audit").unwrap());
        match cli.command {
            Command::Audit(args) => (args, given),
            _ => unreachable!(),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn file() -> Config {
        crate::config::parse(
            "tenant = \"a27b43c7-0a4f-4c67-a4d9-b08c482f4357\"\ncloud = \"china\"\ncredential = \"secret\"\nout = \"/var/reports\"\nplan_expiry_days = 3\nkeep = 5\nplan = false\nconcurrency = 2\n[scope]\nexclude_packages = [\"p\"]\n",
            std::path::Path::new("/etc/entra-drift.toml"),
        )
        .unwrap()
    }

    #[test]
    fn causes_are_read_unless_the_flag_or_the_file_says_not() {
        let with = |text: &str| {
            crate::config::parse(text, std::path::Path::new("/etc/entra-drift.toml")).unwrap()
        };
        let (args, given) = audit(&["--tenant-dir", "t"]);
        let defaults = resolve_audit(&args, &given, None, now()).unwrap().log;
        assert!(defaults.read && defaults.days == DEFAULT_LOG_DAYS);
        let off = with("causes = false\ncauses_days = 7\n");
        let log = resolve_audit(&args, &given, Some(&off), now()).unwrap().log;
        assert!(!log.read && log.days == 7);
        let (args, given) = audit(&["--tenant-dir", "t", "--causes-days", "14"]);
        let log = resolve_audit(&args, &given, Some(&off), now()).unwrap().log;
        assert_eq!(log.days, 14, "the flag over the file");
        let (args, given) = audit(&["--tenant-dir", "t", "--no-causes"]);
        assert!(!resolve_audit(&args, &given, None, now()).unwrap().log.read);
        let remedies = with("[remedies.missing_access]\nuser = \"reprocess\"\n");
        let settings = resolve_audit(&args, &given, Some(&remedies), now()).unwrap();
        assert_eq!(
            settings
                .remedies
                .default_for(crate::audit::MISSING_ACCESS, "user"),
            crate::plan::Action::Reprocess
        );
    }

    #[test]
    fn the_file_overrides_defaults() {
        let (args, given) = audit(&[]);
        let settings = resolve_audit(&args, &given, Some(&file()), now()).unwrap();
        assert_eq!(settings.source, Source::Live);
        assert_eq!(
            settings.graph.tenant.as_deref(),
            Some("a27b43c7-0a4f-4c67-a4d9-b08c482f4357")
        );
        assert_eq!(settings.graph.cloud, Cloud::China);
        assert_eq!(settings.graph.credential, CredentialKind::Secret);
        assert_eq!(settings.graph.concurrency, 2);
        assert_eq!(settings.out, PathBuf::from("/var/reports"));
        assert_eq!(
            (settings.plan_expiry_days, settings.keep, settings.with_plan),
            (3, Some(5), false)
        );
        assert_eq!(settings.scope.exclude_packages, ["p"]);
        assert_eq!(
            settings.lock_max_age,
            Duration::hours(DEFAULT_MAX_AGE_HOURS)
        );
    }

    #[test]
    fn flags_override_the_file_even_when_equal_to_the_default() {
        let (args, given) = audit(&[
            "--tenant-dir",
            "fixtures/contoso-core",
            "--out",
            "reports",
            "--plan-expiry-days",
            "7",
            "--cloud",
            "global",
            "--keep",
            "2",
            "--exclude-package",
            "q",
            "--concurrency",
            "8",
        ]);
        let settings = resolve_audit(&args, &given, Some(&file()), now()).unwrap();
        assert_eq!(
            settings.source,
            Source::TenantDir("fixtures/contoso-core".into())
        );
        assert_eq!(settings.out, PathBuf::from("reports"));
        assert_eq!(settings.plan_expiry_days, 7);
        assert_eq!(settings.graph.cloud, Cloud::Global);
        assert_eq!(settings.graph.concurrency, 8);
        assert_eq!(settings.keep, Some(2));
        assert_eq!(settings.scope.exclude_packages, ["q"]);
    }

    #[test]
    fn defaults_apply_without_a_file_and_a_source_is_required() {
        let (args, given) = audit(&["--tenant-dir", "x"]);
        let settings = resolve_audit(&args, &given, None, now()).unwrap();
        assert_eq!(settings.out, PathBuf::from("reports"));
        assert_eq!(settings.plan_expiry_days, crate::plan::DEFAULT_EXPIRY_DAYS);
        assert!(settings.with_plan && settings.keep.is_none() && settings.scope.is_everything());
        let (args, given) = audit(&[]);
        let error = resolve_audit(&args, &given, None, now())
            .unwrap_err()
            .to_string();
        assert!(error.contains("--tenant-dir"), "{error}");
    }
}
