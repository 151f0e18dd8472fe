//! `entra-drift config check`: validates a configuration file and the exceptions register it
//! names, pointing at the file, line and column of the first problem.

use std::path::Path;

use super::Outcome;
use crate::config::{self, ConfigSource, CONFIG_VARIABLE};
use crate::error::{Error, Result};
use crate::exceptions;
use crate::output::Printer;

pub fn check(
    file: Option<&Path>,
    config_flag: Option<&Path>,
    printer: &Printer,
) -> Result<Outcome> {
    let path = file.or(config_flag).ok_or_else(|| {
        Error::settings(format!(
            "no configuration file to check: give one (`config check FILE`), --config FILE or {CONFIG_VARIABLE}"
        ))
    })?;
    let config = config::read(path)?;
    let today = crate::clock::now()?.date_naive();
    // Paths the file names must exist now, not only when the scheduler next runs.
    let must_exist = |key: &str, target: &Path| -> Result<()> {
        if target.exists() {
            Ok(())
        } else {
            Err(Error::settings(format!(
                "`{}`: `{key}` names `{}`, which does not exist",
                path.display(),
                target.display()
            )))
        }
    };
    match &config.source {
        Some(ConfigSource::TenantDir(dir)) => must_exist("tenant_dir", dir)?,
        Some(ConfigSource::Snapshot(dir)) => must_exist("snapshot", dir)?,
        _ => {}
    }
    let register = match &config.exceptions {
        // Read at audit time through the identity; `config check` stays offline.
        Some(url) if super::staged::is_url(url) => None,
        Some(file) => {
            must_exist("exceptions", file)?;
            Some(exceptions::read(file)?)
        }
        None => None,
    };
    if !printer.is_quiet() {
        printer.status(format_args!("`{}` is valid", path.display()));
        let source = match &config.source {
            Some(ConfigSource::Tenant(tenant)) => format!("tenant {tenant} (Microsoft Graph)"),
            Some(ConfigSource::TenantDir(dir)) => format!("tenant directory {}", dir.display()),
            Some(ConfigSource::Snapshot(dir)) => format!("stored snapshot {}", dir.display()),
            None => "none (give --tenant, --tenant-dir or --snapshot when auditing)".into(),
        };
        printer.status(format_args!("  source: {source}"));
        if let Some(out) = &config.out {
            printer.status(format_args!("  out: {}", out.display()));
        }
        if let Some(keep) = config.keep {
            printer.status(format_args!("  keep: the newest {keep} run(s)"));
        }
        if let Some(url) = config
            .exceptions
            .as_deref()
            .filter(|p| super::staged::is_url(p))
        {
            printer.status(format_args!(
                "  exceptions: in Blob Storage, {} (read when auditing)",
                url.display()
            ));
        }
        for target in &config.notify {
            let on = match target.on {
                crate::notify::When::Always => "after every run",
                crate::notify::When::Drift => "on drift",
                crate::notify::When::New => "on new drift",
            };
            printer.status(format_args!("  notify: {} {on}", target.label()));
        }
        if config.notify_required == Some(true) {
            printer.status(format_args!(
                "  notify_required: a failed notification exits 3"
            ));
        }
        if let Some(register) = &register {
            let expired: Vec<&str> = register
                .exceptions
                .iter()
                .filter(|e| !e.is_active(today))
                .map(|e| e.id.as_str())
                .collect();
            printer.status(format_args!(
                "  exceptions: {} in `{}`, {} expired{}",
                register.exceptions.len(),
                register.path.display(),
                expired.len(),
                if expired.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", expired.join(", "))
                }
            ));
        }
    }
    Ok(Outcome::Clean)
}
