//! Evidence: each run folder's `manifest.json` seals what the audit wrote (the SHA-256 of
//! every file) and links to the previous run's manifest by its digest, so runs form a chain
//! that `evidence verify` can check long after. Writing lives here; checking in [`verify`].
//!
//! The manifest is written last, after every other file of the run, and excludes itself.
//! Files that later steps add to a run folder on purpose (`plan approve` rewrites `plan.json`
//! with an approval; `apply` and `verify` add their journal and results) are recognised by
//! `verify` and reported as later additions, not as tampering.

/// A manifest past this size is not one this tool wrote (a run has a few dozen files).
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;

pub mod verify;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const MANIFEST_JSON: &str = "manifest.json";
/// What `format` says; a reader refuses any other.
pub const FORMAT: &str = "entra-drift/evidence-manifest";
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub tool: String,
    pub tenant_id: String,
    /// The run folder's name; a manifest copied into another folder no longer matches it.
    pub run: String,
    pub created: DateTime<Utc>,
    /// The run before this one in the tenant's `index.csv`; `null` for the first.
    pub previous: Option<Link>,
    /// Every file of the run folder but this manifest, sorted by path.
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub run: String,
    /// `sha256:<hex>` of that run's `manifest.json` bytes; `null` when it was already
    /// missing when this run was written (which `verify` reports as a broken link).
    pub manifest_sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the run folder, with `/` separators.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Every regular file under `dir` (recursively) as `(relative path with /, absolute path)`,
/// sorted by relative path.
pub fn list_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|e| Error::io(&folder, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&folder, e))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
            if kind.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(dir)
                .map_err(|_| {
                    Error::inconsistent(
                        path.display().to_string(),
                        format!("is outside `{}`", dir.display()),
                    )
                })?
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            found.push((relative, path));
        }
    }
    found.sort();
    Ok(found)
}

/// What a new run links to and records.
pub struct ManifestInput<'a> {
    pub run_dir: &'a Path,
    pub tenant_id: &'a str,
    pub created: DateTime<Utc>,
    /// The previous run's folder name (from `index.csv`), if any.
    pub previous: Option<&'a str>,
}

/// Writes `manifest.json` into the run folder (call it after every other file) and returns
/// the `sha256:` digest of its bytes, for `index.csv` and the next run's link.
pub fn write_manifest(input: &ManifestInput) -> Result<String> {
    let run_dir = input.run_dir;
    let run = folder_name(run_dir);
    let (names, paths): (Vec<String>, Vec<PathBuf>) = list_files(run_dir)?
        .into_iter()
        .filter(|(relative, _)| relative != MANIFEST_JSON)
        .unzip();
    let mut files = Vec::with_capacity(names.len());
    for (relative, digest) in names.into_iter().zip(crate::files::file_digests(&paths)) {
        let (bytes, sha256) = digest?;
        files.push(FileEntry {
            path: relative,
            bytes,
            sha256,
        });
    }
    let previous = input.previous.map(|name| {
        let path = sibling(run_dir, name).join(MANIFEST_JSON);
        let manifest_sha256 = match file_digest(&path) {
            Ok((_, digest)) => Some(digest),
            Err(error) => {
                tracing::warn!(%error, "the previous run's manifest cannot be read; the evidence chain is broken at this run");
                None
            }
        };
        Link {
            run: name.to_string(),
            manifest_sha256,
        }
    });
    let manifest = Manifest {
        format: FORMAT.to_string(),
        version: VERSION,
        tool: format!("entra-drift {}", env!("CARGO_PKG_VERSION")),
        tenant_id: input.tenant_id.to_string(),
        run,
        created: input.created,
        previous,
        files,
    };
    // Plain strings, numbers and dates always serialise.
    let mut text = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
    text.push('\n');
    let path = run_dir.join(MANIFEST_JSON);
    crate::files::write_durable(&path, text.as_bytes())?;
    Ok(bytes_digest(text.as_bytes()))
}

pub use crate::files::{digest as bytes_digest, file_digest};

fn folder_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Another run folder of the same tenant.
fn sibling(run_dir: &Path, name: &str) -> PathBuf {
    run_dir
        .parent()
        .map(|p| p.join(name))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Checks that `plan` was committed by the run in `run_dir`: the folder is the plan's run,
/// its `manifest.json` lists `plan.json` with the digest of the plan as the audit wrote it
/// (approvals are added later and are not part of it), and the tenant's `index.csv` lists the
/// run. A plan from a run killed before it committed, or one moved between runs, fails.
/// The signature beside a run's manifest (namespace `entra-drift-evidence`).
pub const MANIFEST_SIG: &str = "manifest.sig";

/// What a run's seal signs: the `sha256:` digest of its manifest.json bytes, as one line
/// (`sha256sum`-checkable; `ssh-keygen -Y verify` reads the same bytes).
pub fn seal_message(manifest_sha256: &str) -> String {
    format!("{manifest_sha256}\n")
}

pub fn check_committed(
    run_dir: &Path,
    plan: &crate::plan::Plan,
) -> std::result::Result<(), crate::error::Refusal> {
    let refuse = |problem: String| crate::error::Refusal::NotCommitted {
        run: plan.run.clone(),
        problem,
    };
    let name = folder_name(run_dir);
    if name != plan.run {
        return Err(refuse(format!(
            "the plan belongs to run `{}`, but its folder is `{name}`",
            plan.run
        )));
    }
    let manifest_path = run_dir.join(MANIFEST_JSON);
    // Read and checked (format, version) as `evidence verify` reads it.
    let manifest = entra_model::input::read_bytes_max(&manifest_path, MAX_MANIFEST_BYTES)
        .map_err(|e| entra_model::error::chain(&e))
        .and_then(|bytes| verify::parse_manifest(&bytes, &manifest_path))
        .map_err(|problem| {
            refuse(format!(
                "`{}` cannot be read ({problem}): the audit did not finish",
                manifest_path.display()
            ))
        })?;
    if manifest.run != plan.run {
        return Err(refuse(format!("the manifest is run `{}`'s", manifest.run)));
    }
    let expected = crate::files::digest(&plan.committed_bytes());
    match manifest
        .files
        .iter()
        .find(|f| f.path == crate::report::PLAN_JSON)
    {
        Some(entry) if entry.sha256 == expected => {}
        Some(entry) => {
            return Err(refuse(format!(
            "the manifest records plan.json as {}, but this plan (without approvals) is {expected}",
            entry.sha256
        )))
        }
        None => return Err(refuse("the manifest lists no plan.json".into())),
    }
    let tenant_dir = run_dir.parent().unwrap_or(Path::new("."));
    let index = crate::history::RunIndex::read(tenant_dir).map_err(|e| {
        refuse(format!(
            "the tenant's index.csv cannot be read: {}",
            crate::output::render_error(&e).trim_end()
        ))
    })?;
    if index.find(&plan.run).is_none() {
        return Err(refuse(format!(
            "`{}` does not list the run",
            tenant_dir.join(crate::history::INDEX_CSV).display()
        )));
    }
    Ok(())
}
