//! The configuration file (`entra-drift.toml`): its keys, and reading it into checked values.
//! Every error names the file, line and column (from the TOML parser's span, or from the span
//! of the offending value); unknown keys are errors, so a typo never silently falls back to a
//! default. Merging the file with flags and defaults is `settings`' job, not this module's.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::audit::scope::Scope;
use crate::error::{Error, InputError, Result};
use crate::graph::{choose, Cloud, CredentialKind};
use crate::snapshot::AssignmentRead;

/// Names the configuration file when `--config` is not given.
pub const CONFIG_VARIABLE: &str = "ENTRA_DRIFT_CONFIG";

/// Inclusive bounds of a whole-number setting.
pub type Range = (i64, i64);
type Span = std::ops::Range<usize>;

/// The one source of each limit: the flags of the same meaning (`cli.rs`) use these too.
pub const CONCURRENCY_RANGE: Range = (1, 64);
pub const PLAN_EXPIRY_RANGE: Range = (1, 90);
pub const KEEP_RANGE: Range = (1, 100_000);
/// Graph keeps 30 days at most; a longer window only matters for a recorded log.
pub const CAUSES_DAYS_RANGE: Range = (1, 365);
/// A lock file left by another host is taken over once older than this.
pub const LOCK_MAX_AGE_RANGE: Range = (1, 24 * 90);
/// The length at which an expanded list is re-read (`--expand-limit`).
pub const EXPAND_LIMIT_RANGE: Range = (1, 1_000);
/// Seconds one Graph request may wait between retries.
pub const MAX_RETRY_WAIT_RANGE: Range = (1, 3_600);
/// `ru_budget`, `--ru-budget`: resource units per 10 s (Graph's tiers are 3,500 to 8,000).
pub const RU_BUDGET_RANGE: Range = (10, 1_000_000);
/// `sharepoint_budget`, `--sharepoint-budget`: SharePoint resource units per minute (its
/// documented tiers are 1,250 to 6,250 per app and tenant; a REST call costs about 2).
pub const SHAREPOINT_BUDGET_RANGE: Range = (2, 1_000_000);
/// Seconds between progress lines when stderr is not a terminal.
pub const PROGRESS_INTERVAL_RANGE: Range = (1, 3_600);
/// Distinct approvers one item may need.
pub const MIN_APPROVERS_RANGE: Range = (1, 10);
/// How many approved items one `apply` may reprocess.
pub const MAX_ITEMS_RANGE: Range = (1, 1_000_000);

/// Every key of the file, nested ones dotted (`scope.include_catalogs`); tables (`notify`,
/// `scope`, `remedies`) are keys too. The guide's reference table is checked against this list
/// and this list against the parser, so neither can drift (tests here and in `tests/it/docs.rs`).
pub const KEYS: &[&str] = &[
    "tenant",
    "tenant_dir",
    "snapshot",
    "cloud",
    "credential",
    "client_id",
    "authority_host",
    "graph_url",
    "sharepoint_url",
    "sharepoint_budget",
    "concurrency",
    "max_retry_wait",
    "expand_limit",
    "ru_budget",
    "assignment_read",
    "causes",
    "causes_days",
    "out",
    "exceptions",
    "plan",
    "plan_expiry_days",
    "detailed_exitcode",
    "keep",
    "lock_max_age_hours",
    "max_items",
    "max_removals",
    "allowed_signers",
    "min_approvers",
    "sign_key",
    "sealed_since",
    "tenant_name",
    "notify_required",
    "notify",
    "scope",
    "remedies",
    "notify.kind",
    "notify.on",
    "notify.from",
    "notify.to",
    "notify.url_env",
    "notify.secret_env",
    "notify.url",
    "scope.include_catalogs",
    "scope.exclude_catalogs",
    "scope.include_packages",
    "scope.exclude_packages",
    "remedies.missing_access",
    "remedies.access_without_assignment",
];

/// The file as written. Values whose meaning is checked after parsing keep their span.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    tenant: Option<Spanned<String>>,
    tenant_dir: Option<Spanned<String>>,
    snapshot: Option<Spanned<String>>,
    cloud: Option<Spanned<String>>,
    credential: Option<Spanned<String>>,
    client_id: Option<Spanned<String>>,
    authority_host: Option<Spanned<String>>,
    graph_url: Option<Spanned<String>>,
    sharepoint_url: Option<Spanned<String>>,
    sharepoint_budget: Option<Spanned<i64>>,
    concurrency: Option<Spanned<i64>>,
    max_retry_wait: Option<Spanned<i64>>,
    expand_limit: Option<Spanned<i64>>,
    ru_budget: Option<Spanned<i64>>,
    assignment_read: Option<Spanned<String>>,
    causes: Option<bool>,
    causes_days: Option<Spanned<i64>>,
    out: Option<Spanned<String>>,
    exceptions: Option<Spanned<String>>,
    plan: Option<bool>,
    plan_expiry_days: Option<Spanned<i64>>,
    detailed_exitcode: Option<bool>,
    keep: Option<Spanned<i64>>,
    lock_max_age_hours: Option<Spanned<i64>>,
    max_items: Option<Spanned<i64>>,
    max_removals: Option<Spanned<i64>>,
    allowed_signers: Option<Spanned<String>>,
    min_approvers: Option<Spanned<i64>>,
    sign_key: Option<Spanned<String>>,
    sealed_since: Option<Spanned<String>>,
    tenant_name: Option<Spanned<String>>,
    notify_required: Option<bool>,
    notify: Option<Vec<Spanned<RawNotify>>>,
    scope: Option<RawScope>,
    /// `[remedies.<category>] <cause> = "<action>"`.
    remedies: Option<
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, Spanned<String>>>,
    >,
}

/// One `[[notify]]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    kind: Option<Spanned<String>>,
    on: Option<Spanned<String>>,
    from: Option<String>,
    to: Option<Vec<String>>,
    url_env: Option<String>,
    secret_env: Option<String>,
    /// Refused with its own message: a webhook URL is a secret.
    url: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScope {
    #[serde(default)]
    include_catalogs: Vec<Spanned<String>>,
    #[serde(default)]
    exclude_catalogs: Vec<Spanned<String>>,
    #[serde(default)]
    include_packages: Vec<Spanned<String>>,
    #[serde(default)]
    exclude_packages: Vec<Spanned<String>>,
}

/// Where the audit reads the tenant from, as the file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    Tenant(String),
    TenantDir(PathBuf),
    Snapshot(PathBuf),
}

/// The checked file: every value in range, paths made absolute against the file's folder
/// (a scheduler's working directory is rarely the one the file was written in).
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub path: PathBuf,
    pub source: Option<ConfigSource>,
    pub cloud: Option<Cloud>,
    pub credential: Option<CredentialKind>,
    pub client_id: Option<String>,
    pub authority_host: Option<String>,
    pub graph_url: Option<String>,
    /// The SharePoint origin instead of each site's own (a local fake; loopback or a
    /// SharePoint domain only).
    pub sharepoint_url: Option<String>,
    /// SharePoint resource units per minute to pace site reads to.
    pub sharepoint_budget: Option<u64>,
    pub concurrency: Option<usize>,
    pub max_retry_wait: Option<u64>,
    pub expand_limit: Option<usize>,
    pub ru_budget: Option<u64>,
    pub assignment_read: Option<AssignmentRead>,
    /// `false`: do not read the audit log (`--no-causes`).
    pub causes: Option<bool>,
    pub causes_days: Option<usize>,
    pub out: Option<PathBuf>,
    pub exceptions: Option<PathBuf>,
    pub plan: Option<bool>,
    pub plan_expiry_days: Option<i64>,
    pub detailed_exitcode: Option<bool>,
    pub keep: Option<usize>,
    pub lock_max_age_hours: Option<i64>,
    /// `apply`: the most approved items one run may reprocess.
    pub max_items: Option<usize>,
    /// `apply`: the most approved removals one run may make.
    pub max_removals: Option<usize>,
    /// `apply`, `verify`: the allowed_signers file whose keys may approve.
    pub allowed_signers: Option<PathBuf>,
    /// `apply`: distinct approvers an item needs.
    pub min_approvers: Option<usize>,
    /// `audit`: the key that seals each run's manifest.
    pub sign_key: Option<PathBuf>,
    /// `evidence verify`: the first run that must be sealed (runs before it predate sealing).
    pub sealed_since: Option<String>,
    /// Live reads: the tenant's name for the reports when `GET /organization` is refused.
    pub tenant_name: Option<String>,
    /// `audit`: who is told after each run (`[[notify]]`).
    pub notify: Vec<crate::notify::Target>,
    /// `audit`: a failed notification fails the run's exit code (3).
    pub notify_required: Option<bool>,
    pub scope: Scope,
    /// The default action per category and cause (`[remedies]`), over the built-in ones.
    pub remedies: crate::plan::Remedies,
}

/// Reads and checks a configuration file.
pub fn read(path: &Path) -> Result<Config> {
    let text = entra_model::input::read_text(path)?;
    parse(&text, path)
}

/// Checks the text of a configuration file; `path` names it in errors and anchors relative paths.
pub fn parse(text: &str, path: &Path) -> Result<Config> {
    let raw: RawConfig = toml::from_str(text).map_err(|error| {
        let span = error.span().unwrap_or(0..0);
        at(text, path, &span, hint_for(error.message()))
    })?;
    let checker = Checker { text, path };
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let resolve = |value: &Spanned<String>| -> Result<PathBuf> {
        let text = checker.non_empty(value)?;
        let given = PathBuf::from(text);
        Ok(if given.is_absolute() {
            given
        } else {
            folder.join(given)
        })
    };

    // `out` and `exceptions` may also be Blob Storage URLs, kept as written (and checked here).
    let location = |value: &Spanned<String>| -> Result<PathBuf> {
        let text = checker.non_empty(value)?;
        match crate::blob::BlobLocation::parse(text) {
            Ok(Some(_)) => Ok(PathBuf::from(text)),
            Ok(None) => resolve(value),
            Err(problem) => Err(checker.error(value.span(), problem)),
        }
    };

    let mut source = None;
    let mut first_source: Option<&'static str> = None;
    for (key, value) in [
        ("tenant", &raw.tenant),
        ("tenant_dir", &raw.tenant_dir),
        ("snapshot", &raw.snapshot),
    ] {
        let Some(value) = value else { continue };
        if let Some(first) = first_source {
            return Err(checker.error(
                value.span(),
                format!("`{key}` and `{first}` both name a source; keep one"),
            ));
        }
        first_source = Some(key);
        source = Some(match key {
            "tenant" => ConfigSource::Tenant(checker.non_empty(value)?.to_string()),
            "tenant_dir" => ConfigSource::TenantDir(resolve(value)?),
            _ => ConfigSource::Snapshot(resolve(value)?),
        });
    }

    let scope = raw.scope.unwrap_or_default();
    let list = |values: &[Spanned<String>]| -> Result<Vec<String>> {
        values
            .iter()
            .map(|value| checker.non_empty(value).map(str::to_string))
            .collect()
    };
    Ok(Config {
        path: path.to_path_buf(),
        source,
        cloud: raw
            .cloud
            .as_ref()
            .map(|v| checker.choice(&Cloud::CHOICES, v))
            .transpose()?,
        credential: raw
            .credential
            .as_ref()
            .map(|v| checker.choice(&CredentialKind::CHOICES, v))
            .transpose()?,
        client_id: raw
            .client_id
            .as_ref()
            .map(|v| checker.non_empty(v).map(str::to_string))
            .transpose()?,
        authority_host: raw
            .authority_host
            .as_ref()
            .map(|v| checker.https(v))
            .transpose()?,
        graph_url: raw
            .graph_url
            .as_ref()
            .map(|v| checker.https(v))
            .transpose()?,
        sharepoint_url: raw
            .sharepoint_url
            .as_ref()
            .map(|v| checker.https(v))
            .transpose()?,
        sharepoint_budget: raw
            .sharepoint_budget
            .as_ref()
            .map(|v| checker.within(v, SHAREPOINT_BUDGET_RANGE).map(|n| n as u64))
            .transpose()?,
        concurrency: raw
            .concurrency
            .as_ref()
            .map(|v| checker.within(v, CONCURRENCY_RANGE).map(|n| n as usize))
            .transpose()?,
        max_retry_wait: raw
            .max_retry_wait
            .as_ref()
            .map(|v| checker.within(v, MAX_RETRY_WAIT_RANGE).map(|n| n as u64))
            .transpose()?,
        expand_limit: raw
            .expand_limit
            .as_ref()
            .map(|v| checker.within(v, EXPAND_LIMIT_RANGE).map(|n| n as usize))
            .transpose()?,
        ru_budget: raw
            .ru_budget
            .as_ref()
            .map(|v| checker.within(v, RU_BUDGET_RANGE).map(|n| n as u64))
            .transpose()?,
        assignment_read: raw
            .assignment_read
            .as_ref()
            .map(|v| checker.choice(&AssignmentRead::CHOICES, v))
            .transpose()?,
        causes: raw.causes,
        causes_days: raw
            .causes_days
            .as_ref()
            .map(|v| checker.within(v, CAUSES_DAYS_RANGE).map(|n| n as usize))
            .transpose()?,
        out: raw.out.as_ref().map(location).transpose()?,
        exceptions: raw.exceptions.as_ref().map(location).transpose()?,
        plan: raw.plan,
        plan_expiry_days: raw
            .plan_expiry_days
            .as_ref()
            .map(|v| checker.within(v, PLAN_EXPIRY_RANGE))
            .transpose()?,
        detailed_exitcode: raw.detailed_exitcode,
        keep: raw
            .keep
            .as_ref()
            .map(|v| checker.within(v, KEEP_RANGE).map(|n| n as usize))
            .transpose()?,
        lock_max_age_hours: raw
            .lock_max_age_hours
            .as_ref()
            .map(|v| checker.within(v, LOCK_MAX_AGE_RANGE))
            .transpose()?,
        max_items: raw
            .max_items
            .as_ref()
            .map(|v| checker.within(v, MAX_ITEMS_RANGE).map(|n| n as usize))
            .transpose()?,
        max_removals: raw
            .max_removals
            .as_ref()
            .map(|v| checker.within(v, MAX_ITEMS_RANGE).map(|n| n as usize))
            .transpose()?,
        allowed_signers: raw.allowed_signers.as_ref().map(resolve).transpose()?,
        min_approvers: raw
            .min_approvers
            .as_ref()
            .map(|v| checker.within(v, MIN_APPROVERS_RANGE).map(|n| n as usize))
            .transpose()?,
        sign_key: raw.sign_key.as_ref().map(resolve).transpose()?,
        sealed_since: raw
            .sealed_since
            .as_ref()
            .map(|v| match crate::history::run_time(v.get_ref()) {
                Some(_) => Ok(v.get_ref().clone()),
                None => Err(checker.error(
                    v.span(),
                    "sealed_since names a run folder: a UTC timestamp like 20261101T060000Z"
                        .to_string(),
                )),
            })
            .transpose()?,
        tenant_name: raw
            .tenant_name
            .as_ref()
            .map(|v| v.get_ref().trim().to_string())
            .filter(|v| !v.is_empty()),
        notify: raw
            .notify
            .iter()
            .flatten()
            .map(|table| notify_target(&checker, table))
            .collect::<Result<_>>()?,
        notify_required: raw.notify_required,
        scope: Scope {
            include_catalogs: list(&scope.include_catalogs)?,
            exclude_catalogs: list(&scope.exclude_catalogs)?,
            include_packages: list(&scope.include_packages)?,
            exclude_packages: list(&scope.exclude_packages)?,
        },
        remedies: remedies(&checker, raw.remedies.as_ref())?,
    })
}

/// One `[[notify]]` table, checked; errors point at the table (or at its bad value).
fn notify_target(checker: &Checker, table: &Spanned<RawNotify>) -> Result<crate::notify::Target> {
    use crate::notify::{Kind, Target, When};
    let raw = table.get_ref();
    if let Some(url) = &raw.url {
        return Err(checker.error(
            url.span(),
            "a webhook URL is a secret: put it in an environment variable and name that with `url_env`".into(),
        ));
    }
    let kind = match &raw.kind {
        Some(kind) => checker.choice(&Kind::CHOICES, kind)?,
        None => {
            return Err(checker.error(
                table.span(),
                "[[notify]] needs `kind` (mail, teams or webhook)".into(),
            ))
        }
    };
    let on = match &raw.on {
        Some(on) => checker.choice(&When::CHOICES, on)?,
        None => When::Always,
    };
    let target = Target {
        kind,
        on,
        from: raw.from.clone(),
        to: raw.to.clone().unwrap_or_default(),
        url_env: raw.url_env.clone(),
        secret_env: raw.secret_env.clone(),
    };
    target
        .check()
        .map_err(|problem| checker.error(table.span(), format!("[[notify]]: {problem}")))?;
    Ok(target)
}

/// `[remedies]` over the built-in defaults; a wrong category, cause or action points at it.
fn remedies(
    checker: &Checker,
    raw: Option<
        &std::collections::BTreeMap<String, std::collections::BTreeMap<String, Spanned<String>>>,
    >,
) -> Result<crate::plan::Remedies> {
    let mut remedies = crate::plan::Remedies::default();
    for (category, causes) in raw.into_iter().flatten() {
        for (cause, action) in causes {
            let text = checker.non_empty(action)?;
            let parsed = crate::plan::Action::parse(text).ok_or_else(|| {
                checker.error(
                    action.span(),
                    format!(
                        "`{text}` is not an action: use {}",
                        crate::plan::remedy::names(&crate::plan::Action::ALL)
                    ),
                )
            })?;
            remedies.set(category, cause, parsed).map_err(|message| {
                checker.error(
                    action.span(),
                    format!("remedies.{category}.{cause}: {message}"),
                )
            })?;
        }
    }
    Ok(remedies)
}

/// Adds a hint to the parser's message where a common mistake is recognisable.
fn hint_for(message: &str) -> String {
    let message = message
        .trim_end()
        .replace("expected i64", "expected a whole number");
    let lower = message.to_ascii_lowercase();
    if let Some(suggested) = closest_key(&message) {
        return suggested;
    }
    if lower.contains("unknown field")
        && ["secret", "password", "certificate"]
            .iter()
            .any(|word| lower.contains(word))
    {
        return format!(
            "{message}\nhint: secrets are never read from the configuration file; set AZURE_CLIENT_SECRET (or the certificate variables) in the environment"
        );
    }
    message
}

/// serde's "unknown field `tenat_dir`, expected one of `tenant`, …" as "unknown key `tenat_dir`;
/// did you mean `tenant_dir`?" — the closest key, not a list of thirty (the list only when
/// nothing is close). Secrets keep their own hint (`hint_for`).
fn closest_key(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, rest) = rest.split_once('`')?;
    let listed = rest.split_once("expected one of ")?.1;
    let keys: Vec<&str> = listed
        .split(',')
        .filter_map(|part| part.split('`').nth(1))
        .collect();
    let lower = unknown.to_ascii_lowercase();
    if ["secret", "password", "certificate"]
        .iter()
        .any(|word| lower.contains(word))
    {
        return None;
    }
    let best = keys
        .iter()
        .map(|key| (strsim::jaro_winkler(&lower, key), *key))
        .max_by(|a, b| a.0.total_cmp(&b.0))?;
    Some(if best.0 >= 0.8 {
        format!("unknown key `{unknown}`; did you mean `{}`?", best.1)
    } else {
        format!(
            "unknown key `{unknown}`; the keys here are {} (guide: reference/config.md)",
            keys.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// Checks values against the text they came from, to point at them.
struct Checker<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Checker<'_> {
    fn error(&self, span: Span, message: String) -> Error {
        at(self.text, self.path, &span, message)
    }

    fn non_empty<'v>(&self, value: &'v Spanned<String>) -> Result<&'v str> {
        let text = value.get_ref().trim();
        if text.is_empty() {
            return Err(self.error(value.span(), "must not be empty".into()));
        }
        Ok(text)
    }

    fn within(&self, value: &Spanned<i64>, (low, high): (i64, i64)) -> Result<i64> {
        let number = *value.get_ref();
        if !(low..=high).contains(&number) {
            return Err(self.error(
                value.span(),
                format!("{number} is out of range: expected a whole number from {low} to {high}"),
            ));
        }
        Ok(number)
    }

    fn https(&self, value: &Spanned<String>) -> Result<String> {
        let text = self.non_empty(value)?;
        crate::graph::endpoint::check_root("the URL", text)
            .map_err(|message| self.error(value.span(), message))?;
        Ok(text.to_string())
    }

    /// One of a table's names (the same spelling as the flag takes).
    fn choice<T: Copy>(
        &self,
        choices: &[(&'static str, T, &'static str)],
        value: &Spanned<String>,
    ) -> Result<T> {
        let text = value.get_ref().trim();
        choose(choices, text).ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(name, _, _)| *name).collect();
            self.error(
                value.span(),
                format!("`{text}` is not one of: {}", names.join(", ")),
            )
        })
    }
}

/// An error at a byte range of `text` (see [`InputError::at`]).
pub fn at(text: &str, path: &Path, span: &Span, message: String) -> Error {
    Error::Input(InputError::at(text, path, span.start, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys serde lists for an unknown key in the table `prefix` (`""` for the top).
    fn keys_the_parser_knows(text: &str, prefix: &str) -> Vec<String> {
        let message = match toml::from_str::<RawConfig>(text) {
            Err(error) => error.to_string(),
            Ok(_) => panic!("an unknown key was accepted"),
        };
        let listed = message
            .split("expected one of ")
            .nth(1)
            .unwrap_or_else(|| panic!("no key list in: {message}"));
        listed
            .split(',')
            .filter_map(|part| part.split('`').nth(1))
            .map(|key| format!("{prefix}{key}"))
            .collect()
    }

    #[test]
    fn a_mistyped_key_gets_the_closest_key_not_the_whole_list() {
        let (line, _, message) = error_of("out = \"r\"\ntenat_dir = \"x\"\n");
        assert_eq!(line, 2);
        assert!(
            message.contains("unknown key `tenat_dir`; did you mean `tenant_dir`?"),
            "{message}"
        );
        assert!(!message.contains("expected one of"), "{message}");
        let (_, _, nested) = error_of("[scope]\ninclude_catalog = []\n");
        assert!(
            nested.contains("did you mean `include_catalogs`?"),
            "{nested}"
        );
        let (_, _, far) = error_of("zzzz = 1\n");
        assert!(far.contains("the keys here are `tenant`"), "{far}");
        let (_, _, secret) = error_of("client_secret = \"x\"\n");
        assert!(
            secret.contains("never read from the configuration file"),
            "{secret}"
        );
    }

    #[test]
    fn the_key_list_is_every_key_the_parser_knows() {
        let mut known = keys_the_parser_knows("zz_unknown = 1", "");
        known.extend(keys_the_parser_knows(
            "[[notify]]\nzz_unknown = 1",
            "notify.",
        ));
        known.extend(keys_the_parser_knows("[scope]\nzz_unknown = 1", "scope."));
        for category in ["missing_access", "access_without_assignment"] {
            assert!(
                parsed(&format!("[remedies.{category}]\nuser = \"decide\"")).is_ok(),
                "{category}"
            );
            known.push(format!("remedies.{category}"));
        }
        assert!(parsed("[remedies.unverifiable]\nuser = \"decide\"").is_err());
        let mut listed: Vec<String> = KEYS.iter().map(|k| k.to_string()).collect();
        listed.sort();
        known.sort();
        assert_eq!(listed, known);
    }

    fn parsed(text: &str) -> Result<Config> {
        parse(text, Path::new("/etc/entra-drift/entra-drift.toml"))
    }

    fn error_of(text: &str) -> (usize, usize, String) {
        match parsed(text).unwrap_err() {
            Error::Input(InputError::Syntax {
                line,
                column,
                message,
                ..
            }) => (line, column, message),
            other => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn a_full_file_is_read_and_paths_resolve_against_its_folder() {
        let config = parsed(
            r#"
tenant = "a27b43c7-0a4f-4c67-a4d9-b08c482f4357"
cloud = "us-gov-l4"
credential = "managed-identity"
client_id = "5f1c2d3e-0000-4000-8000-00000000c1d1"
out = "reports"
exceptions = "/srv/exceptions.toml"
plan = false
plan_expiry_days = 3
detailed_exitcode = true
keep = 26
lock_max_age_hours = 6
concurrency = 4

[scope]
include_catalogs = ["7bc8d763-a519-4280-84b0-9e59fdfc4071"]
exclude_packages = ["Project Falcon (legacy)"]
"#,
        )
        .unwrap();
        assert_eq!(
            config.source,
            Some(ConfigSource::Tenant(
                "a27b43c7-0a4f-4c67-a4d9-b08c482f4357".into()
            ))
        );
        assert_eq!(config.cloud, Some(Cloud::UsGovL4));
        assert_eq!(config.credential, Some(CredentialKind::ManagedIdentity));
        assert_eq!(config.out, Some(PathBuf::from("/etc/entra-drift/reports")));
        assert_eq!(
            config.exceptions,
            Some(PathBuf::from("/srv/exceptions.toml"))
        );
        assert_eq!(
            (config.plan, config.plan_expiry_days, config.keep),
            (Some(false), Some(3), Some(26))
        );
        assert_eq!(config.lock_max_age_hours, Some(6));
        assert_eq!(config.concurrency, Some(4));
        assert_eq!(config.scope.exclude_packages, ["Project Falcon (legacy)"]);
    }

    #[test]
    fn an_empty_file_is_valid_and_sets_nothing() {
        let config = parsed("# nothing yet\n").unwrap();
        assert!(config.source.is_none() && config.out.is_none() && config.keep.is_none());
    }

    #[test]
    fn an_unknown_key_is_an_error_at_its_line() {
        let (line, column, message) = error_of("out = \"r\"\nkeeep = 4\n");
        assert_eq!((line, column), (2, 1), "{message}");
        assert!(message.contains("keeep"), "{message}");
    }

    #[test]
    fn an_unknown_key_in_scope_is_an_error_too() {
        let (line, _, message) = error_of("[scope]\ninclude_catalog = [\"x\"]\n");
        assert_eq!(line, 2, "{message}");
        assert!(message.contains("include_catalog"), "{message}");
    }

    #[test]
    fn a_secret_key_is_refused_with_a_hint() {
        let (line, _, message) = error_of("tenant = \"t\"\nclient_secret = \"x\"\n");
        assert_eq!(line, 2);
        assert!(message.contains("AZURE_CLIENT_SECRET"), "{message}");
    }

    #[test]
    fn a_wrong_type_points_at_the_value() {
        let (line, column, message) = error_of("out = \"r\"\nkeep = \"many\"\n");
        assert_eq!((line, column), (2, 8), "{message}");
    }

    #[test]
    fn out_of_range_and_bad_choices_point_at_the_value() {
        let (line, column, message) = error_of("\n\nplan_expiry_days = 0\n");
        assert_eq!((line, column), (3, 20));
        assert!(message.contains("from 1 to 90"), "{message}");
        let (line, column, message) = error_of("cloud = \"mars\"\n");
        assert_eq!((line, column), (1, 9));
        assert!(message.contains("global"), "{message}");
        let (_, _, message) = error_of("graph_url = \"http://x\"\n");
        assert!(message.contains("https://"), "{message}");
    }

    #[test]
    fn two_sources_are_an_error_at_the_second() {
        let (line, _, message) = error_of("tenant = \"t\"\ntenant_dir = \"d\"\n");
        assert_eq!(line, 2);
        assert!(
            message.contains("tenant_dir") && message.contains("tenant"),
            "{message}"
        );
    }

    #[test]
    fn a_syntax_error_has_a_line_and_column() {
        let (line, _, _) = error_of("out = \"r\"\nkeep = \n");
        assert_eq!(line, 2);
    }

    #[test]
    fn line_and_column_count_characters() {
        use entra_model::error::line_and_column;
        let text = "a = \"ø\"\nbé = 1";
        assert_eq!(line_and_column(text, 0), (1, 1));
        assert_eq!(line_and_column(text, text.find("bé").unwrap()), (2, 1));
        assert_eq!(line_and_column(text, text.find(" = 1").unwrap()), (2, 3));
        assert_eq!(line_and_column(text, 999), (2, 7));
    }

    #[test]
    fn notify_tables_and_blob_locations() {
        let config = parsed(
            "out = \"https://acct.blob.core.windows.net/runs/weekly\"\nexceptions = \"https://acct.blob.core.windows.net/runs/exceptions.csv\"\nnotify_required = true\n\n[[notify]]\nkind = \"teams\"\non = \"drift\"\n\n[[notify]]\nkind = \"mail\"\nfrom = \"a@contoso.com\"\nto = [\"b@contoso.com\"]\n",
        )
        .unwrap();
        assert_eq!(
            config.out,
            Some(PathBuf::from(
                "https://acct.blob.core.windows.net/runs/weekly"
            ))
        );
        assert_eq!(
            config.exceptions,
            Some(PathBuf::from(
                "https://acct.blob.core.windows.net/runs/exceptions.csv"
            ))
        );
        assert_eq!(config.notify_required, Some(true));
        assert_eq!(config.notify.len(), 2);
        assert_eq!(config.notify[0].on, crate::notify::When::Drift);
        assert_eq!(config.notify[1].to, ["b@contoso.com"]);

        let (line, _, message) = error_of("[[notify]]\non = \"drift\"\n");
        assert_eq!(line, 1);
        assert!(message.contains("needs `kind`"), "{message}");
        let (line, _, message) = error_of("[[notify]]\nkind = \"pager\"\n");
        assert_eq!(line, 2);
        assert!(message.contains("mail"), "{message}");
        let (line, _, message) =
            error_of("[[notify]]\nkind = \"mail\"\nfrom = \"a@contoso.com\"\n");
        assert_eq!(line, 1);
        assert!(message.contains("needs `to`"), "{message}");
        let (line, _, message) =
            error_of("out = \"r\"\n[[notify]]\nkind = \"teams\"\nurl = \"https://x\"\n");
        assert_eq!(line, 4);
        assert!(message.contains("secret"), "{message}");
        let (line, _, message) = error_of("out = \"http://acct.blob.core.windows.net/runs\"\n");
        assert_eq!(line, 1);
        assert!(message.contains("https only"), "{message}");
    }
}
