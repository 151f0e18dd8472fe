//! Commands on a folder or file named by URL (`evidence verify`, `plan approve`, `apply`,
//! `verify`, the register, a stored snapshot): what is staged for each, how errors about staged
//! files name their URLs, and how the command's changes go back.

use std::path::{Path, PathBuf};

use super::remote::{Lease, Remote};
use crate::blob::BlobLocation;
use crate::cli::GraphArgs;
use crate::error::{Error, InputError, Result};
use crate::history::INDEX_CSV;

/// A folder or file named by URL, staged under its own name.
pub struct Staged {
    pub remote: Remote,
    /// The staged folder's lease, when the command holds one (released after the remote).
    pub lease: Option<Lease>,
    /// The local stand-in for what the URL names.
    pub path: PathBuf,
    /// The staged folder (relative to the stage) whose changes go back.
    pub folder: PathBuf,
}

impl Staged {
    /// `text` with the staging folder replaced by the location's URL.
    pub fn rename(&self, text: &str) -> String {
        let root = self.remote.root().display().to_string();
        let url = self.remote.location().to_string();
        text.replace(&root, url.trim_end_matches('/'))
    }

    /// Names the URL, not the staging folder, in an error about a staged file.
    pub fn name_errors(&self, error: Error) -> Error {
        // Only staged files are renamed: a local file's error keeps its own path.
        let url = |path: &Path| {
            if path.starts_with(self.remote.root()) {
                PathBuf::from(self.remote.url_of(path))
            } else {
                path.to_path_buf()
            }
        };
        match error {
            Error::Refused { path, reason } => Error::Refused {
                path: url(&path),
                reason,
            },
            Error::Io { path, source } => Error::Io {
                path: url(&path),
                source,
            },
            Error::Input(input) => Error::Input(match input {
                InputError::Syntax {
                    path,
                    line,
                    column,
                    message,
                } => InputError::Syntax {
                    path: url(&path),
                    line,
                    column,
                    message,
                },
                InputError::Io { path, source } => InputError::Io {
                    path: url(&path),
                    source,
                },
                InputError::Inconsistent { origin, message } => InputError::Inconsistent {
                    origin: self.rename(&origin),
                    message,
                },
                InputError::BadId {
                    origin,
                    what,
                    id,
                    reason,
                } => InputError::BadId {
                    origin: self.rename(&origin),
                    what,
                    id,
                    reason,
                },
                other => other,
            }),
            other => other,
        }
    }

    /// Publishes what the command changed or added in the staged folder.
    pub fn publish(&mut self) -> Result<Vec<String>> {
        let folder = self.folder.clone();
        self.remote.publish_changes(&folder)
    }
}

/// Whether a path flag holds a Blob Storage URL (a malformed one is refused by settings).
pub fn is_url(path: &Path) -> bool {
    crate::blob::BlobLocation::parse(&path.to_string_lossy()).is_ok_and(|l| l.is_some())
}

/// [`Staged::name_errors`] when something is staged; the error as it is otherwise.
pub fn named(staged: Option<&Staged>, error: Error) -> Error {
    match staged {
        Some(staged) => staged.name_errors(error),
        None => error,
    }
}

/// Stages a run folder, tenant folder or `--out` root named by URL (`evidence verify`);
/// `Ok(None)` when `target` is a local path.
/// Without a tenant in `graph`, the identity signs in to `fallback_tenant`.
pub fn stage_folder(
    target: &Path,
    graph: &GraphArgs,
    fallback_tenant: Option<&str>,
) -> Result<Option<Staged>> {
    let Some(location) = parse(target)? else {
        return Ok(None);
    };
    stage_folder_with(location, graph, fallback_tenant).map(Some)
}

/// [`stage_folder`] of a parsed location, signing in to `fallback_tenant` without a tenant.
fn stage_folder_with(
    location: BlobLocation,
    graph: &GraphArgs,
    fallback_tenant: Option<&str>,
) -> Result<Staged> {
    let (parent, last) = location.split_last();
    let mut remote = Remote::open(
        if last.is_empty() { location } else { parent },
        graph,
        fallback_tenant,
    )?;
    let count = remote.fetch_tree(&last)?;
    if count == 0 {
        return Err(Error::NotARunFolder {
            path: PathBuf::from(remote.location().url_of(&last)),
            problem: "holds no blobs".into(),
        });
    }
    let path = remote.root().join(&last);
    // A run folder is checked against its tenant's index and the manifest it links to, as
    // it would be locally: stage those too.
    if !last.is_empty() && path.join(crate::evidence::MANIFEST_JSON).is_file() {
        remote.fetch(INDEX_CSV)?;
        let manifest = std::fs::read(path.join(crate::evidence::MANIFEST_JSON))
            .map_err(|e| Error::io(&path, e))?;
        let previous = serde_json::from_slice::<crate::evidence::Manifest>(&manifest)
            .ok()
            .and_then(|m| m.previous)
            .map(|link| link.run);
        if let Some(run) = previous.filter(|r| !r.is_empty() && !r.contains(['/', '\\'])) {
            remote.fetch(&format!("{run}/{}", crate::evidence::MANIFEST_JSON))?;
        }
    }
    Ok(Staged {
        remote,
        folder: PathBuf::from(last),
        path,
        lease: None,
    })
}

/// Stages one file named by URL (an exceptions register): its folder's changes go back
/// If-Match. `Ok(None)` when `target` is a local path.
pub fn stage_file(
    target: &Path,
    graph: &GraphArgs,
    fallback_tenant: Option<&str>,
) -> Result<Option<Staged>> {
    stage_file_with(target, graph, fallback_tenant, "")
}

/// [`stage_file`] with another identity's variables (`apply --env-prefix`).
pub fn stage_file_as(target: &Path, graph: &GraphArgs, env_prefix: &str) -> Result<Option<Staged>> {
    stage_file_with(target, graph, None, env_prefix)
}

fn stage_file_with(
    target: &Path,
    graph: &GraphArgs,
    fallback_tenant: Option<&str>,
    env_prefix: &str,
) -> Result<Option<Staged>> {
    let Some(location) = parse(target)? else {
        return Ok(None);
    };
    let (parent, name) = location.split_last();
    let mut remote = Remote::open_as(parent, graph, fallback_tenant, env_prefix)?;
    if name.is_empty() || !remote.fetch(&name)? {
        return Err(Error::settings(format!("`{location}` does not exist")));
    }
    let path = remote.root().join(&name);
    Ok(Some(Staged {
        remote,
        path,
        folder: PathBuf::new(),
        lease: None,
    }))
}

/// Stages the run folder of a plan named by URL (`.../<tenant>/<run>/plan.json`) with its
/// tenant's `index.csv`, laid out as locally; `Ok(None)` when `plan` is a local path.
pub fn stage_plan(plan: &Path, graph: &GraphArgs) -> Result<Option<Staged>> {
    stage_plan_as(plan, graph, "", false)
}

/// [`stage_plan`] with another identity's variables; with `lease`, the run folder's lease is
/// taken before anything is staged (so what is staged is what no one else is changing).
pub fn stage_plan_as(
    plan: &Path,
    graph: &GraphArgs,
    env_prefix: &str,
    lease: bool,
) -> Result<Option<Staged>> {
    let Some(location) = parse(plan)? else {
        return Ok(None);
    };
    let (run_location, file) = location.split_last();
    let (tenant_location, run) = run_location.split_last();
    if file.is_empty() || run.is_empty() {
        return Err(Error::settings(format!(
            "`{location}`: name the plan's blob, .../<tenant>/<run>/plan.json"
        )));
    }
    let mut remote = Remote::open_as(tenant_location, graph, None, env_prefix)?;
    let held = if lease {
        Some(remote.lease(&run)?)
    } else {
        None
    };
    remote.fetch_tree(&run)?;
    let path = remote.root().join(&run).join(&file);
    if !path.is_file() {
        return Err(Error::settings(format!("`{location}` does not exist")));
    }
    remote.fetch(INDEX_CSV)?;
    Ok(Some(Staged {
        remote,
        path,
        folder: PathBuf::from(run),
        lease: held,
    }))
}

/// Publishes a staged folder's changes and says which blobs were written.
/// When publishing fails, the staged folder is kept (and named in the error): what the
/// command wrote, a journal of calls already made among it, is never lost.
pub fn publish_after(staged: &mut Staged, printer: &crate::output::Printer) -> Result<()> {
    match staged.publish() {
        Ok(urls) => {
            for url in urls {
                printer.status(format_args!("Published {url}"));
            }
            Ok(())
        }
        Err(error) => {
            let kept = staged.remote.keep();
            printer.alert(format_args!(
                "the files this command wrote are kept in {} (publishing them failed)",
                kept.display()
            ));
            Err(error)
        }
    }
}

/// The Graph flags of a command that has none (`evidence verify`, `plan approve`): the
/// defaults, signing in to `AZURE_TENANT_ID` with the `AZURE_*` credential variables.
pub fn environment_graph_args() -> Result<GraphArgs> {
    #[derive(clap::Parser)]
    struct Defaults {
        #[command(flatten)]
        graph: GraphArgs,
    }
    let mut defaults = <Defaults as clap::Parser>::try_parse_from(["entra-drift"])
        .map_err(|e| Error::settings(e.to_string()))?;
    defaults.graph.tenant = std::env::var("AZURE_TENANT_ID")
        .ok()
        .filter(|v| !v.is_empty());
    Ok(defaults.graph)
}

fn parse(target: &Path) -> Result<Option<BlobLocation>> {
    BlobLocation::parse(&target.to_string_lossy()).map_err(Error::settings)
}
