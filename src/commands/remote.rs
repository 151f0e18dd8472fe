//! Run folders on Blob Storage. A command that works on a blob location stages what it needs
//! in a private temporary folder laid out as the local `--out` would be, runs the same code
//! as for a local folder, and publishes the result: new run files create-only, `index.csv`
//! and a plan's approvals ETag-conditionally. The tenant's lock is a blob lease, renewed while
//! the run lasts, so a crashed run frees it within a minute.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tempfile::TempDir;

use super::connect;
use crate::blob::{BlobError, BlobLocation, BlobStore, Deleted, Written};
use crate::cli::GraphArgs;
use crate::error::{Error, InputError, Result};
use crate::graph;
use crate::history::{RunIndex, RunRecord, INDEX_CSV};
use crate::lock::LOCK_FILE;

/// How long a lease lasts without renewal; it is renewed every third of that.
pub const LEASE_SECONDS: i32 = 60;
/// Attempts at committing `index.csv` when other writers keep changing it.
const INDEX_ATTEMPTS: usize = 5;

/// A blob location, its client and the staging folder that mirrors it.
pub struct Remote {
    runtime: Arc<tokio::runtime::Runtime>,
    store: Arc<BlobStore>,
    stage: TempDir,
    /// ETags of the blobs staged, by path relative to the location.
    etags: BTreeMap<String, String>,
}

impl Remote {
    /// Connects with the credential the Graph flags name. A tenant-directory audit has no
    /// `--tenant`: the identity then signs in to `fallback_tenant` (the audited tenant).
    pub fn open(
        location: BlobLocation,
        graph: &GraphArgs,
        fallback_tenant: Option<&str>,
    ) -> Result<Remote> {
        let tenant = graph
            .tenant
            .clone()
            .or_else(|| fallback_tenant.map(str::to_string))
            .ok_or_else(|| {
                Error::settings("Blob Storage needs a tenant to sign in to: pass --tenant or set AZURE_TENANT_ID")
            })?;
        let settings = connect::credential_settings(graph, "", tenant)?;
        Remote::with(location, &settings, &graph::build_http_client()?)
    }

    /// A location reached with these credential settings over this HTTP client (the one
    /// client of the process; tests pass one that trusts their servers).
    pub fn with(
        location: BlobLocation,
        settings: &graph::CredentialSettings,
        http: &reqwest::Client,
    ) -> Result<Remote> {
        let credential = settings.credential(http)?;
        tracing::info!(credential = ?settings.resolved_kind(), location = %location, "Blob Storage");
        let store = BlobStore::new(location, credential, http)?;
        let stage = tempfile::Builder::new()
            .prefix("entra-drift-stage-")
            .tempdir()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?;
        Ok(Remote {
            runtime: Arc::new(connect::runtime()?),
            store: Arc::new(store),
            stage,
            etags: BTreeMap::new(),
        })
    }

    pub fn location(&self) -> &BlobLocation {
        self.store.location()
    }

    /// The staging folder: the local stand-in for the location.
    pub fn root(&self) -> &Path {
        self.stage.path()
    }

    /// The URL of a staged path (a file or folder inside [`Remote::root`]).
    pub fn url_of(&self, staged: &Path) -> String {
        let relative = staged.strip_prefix(self.root()).unwrap_or(staged);
        self.location().url_of(&slashed(relative))
    }

    fn block_on<T>(&self, future: impl std::future::Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }

    /// Stages one blob (`relative` below the location); `false` when there is none.
    pub fn fetch(&mut self, relative: &str) -> Result<bool> {
        let name = self.location().name(relative);
        match self.block_on(self.store.get(&name))? {
            Some(read) => {
                let path = self.root().join(relative);
                write_staged(&path, &read.bytes)?;
                self.etags.insert(relative.to_string(), read.etag);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Stages every blob below `relative` (a folder; empty for the whole location). Returns
    /// how many.
    pub fn fetch_tree(&mut self, relative: &str) -> Result<usize> {
        let base = self.location().name(relative);
        let prefix = if base.is_empty() {
            String::new()
        } else {
            format!("{base}/")
        };
        let names = self.block_on(self.store.list(&prefix))?;
        let own = self.location().name("");
        let mut count = 0;
        for name in names {
            let inside = if own.is_empty() {
                name.as_str()
            } else {
                name.strip_prefix(&format!("{own}/")).unwrap_or(&name)
            };
            if inside
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
            {
                return Err(Error::Blob(BlobError {
                    what: self.location().url_of_name(&name),
                    message: "a blob name with an empty, `.` or `..` segment cannot be staged"
                        .into(),
                    status: None,
                }));
            }
            // Lease blobs are locks, not run files.
            if inside.rsplit('/').next() == Some(LOCK_FILE) {
                continue;
            }
            let inside = inside.to_string();
            if self.fetch(&inside)? {
                count += 1;
            }
        }
        Ok(count)
    }

    /// The names of the folders directly below `relative` whose names start with `start`.
    pub fn folders_named(&self, relative: &str, start: &str) -> Result<Vec<String>> {
        let base = format!("{}/", self.location().name(relative));
        let names = self.block_on(self.store.list(&format!("{base}{start}")))?;
        let mut folders: Vec<String> = names
            .iter()
            .filter_map(|n| {
                n.strip_prefix(&base)?
                    .split_once('/')
                    .map(|(f, _)| f.to_string())
            })
            .collect();
        folders.dedup();
        Ok(folders)
    }

    /// Uploads every file below the staged folder `relative` create-only. A blob that exists
    /// already is an error: a run never overwrites one.
    pub fn publish_new(&self, relative: &Path) -> Result<Vec<String>> {
        let mut urls = Vec::new();
        for path in files_below(&self.root().join(relative))? {
            let inside = slashed(path.strip_prefix(self.root()).unwrap_or(&path));
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let name = self.location().name(&inside);
            match self.block_on(self.store.create(&name, bytes))? {
                Written::Done(_) => urls.push(self.location().url_of_name(&name)),
                Written::Conflict => {
                    return Err(Error::Blob(BlobError {
                        what: self.location().url_of_name(&name),
                        message: "exists already; a run never overwrites a blob".into(),
                        status: Some(409),
                    }))
                }
            }
        }
        Ok(urls)
    }

    /// Uploads the staged files below `relative` that are new (create-only) or changed since
    /// they were staged (If-Match their ETag). A blob changed by someone else meanwhile is an
    /// error naming it; nothing of ours is lost (the staged copy is reported).
    pub fn publish_changes(&mut self, relative: &Path) -> Result<Vec<String>> {
        let mut urls = Vec::new();
        for path in files_below(&self.root().join(relative))? {
            let inside = slashed(path.strip_prefix(self.root()).unwrap_or(&path));
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let name = self.location().name(&inside);
            let etag = self.etags.get(&inside).cloned();
            if etag.is_some() {
                let current = self.block_on(self.store.get(&name))?;
                if current.as_ref().is_some_and(|c| c.bytes == bytes) {
                    continue;
                }
            }
            match self.block_on(self.store.replace(&name, bytes, etag.as_deref()))? {
                Written::Done(new) => {
                    self.etags.insert(inside, new);
                    urls.push(self.location().url_of_name(&name));
                }
                Written::Conflict => {
                    return Err(Error::Blob(BlobError {
                        what: self.location().url_of_name(&name),
                        message: "changed in Blob Storage while this command ran; run it again"
                            .into(),
                        status: Some(412),
                    }))
                }
            }
        }
        Ok(urls)
    }

    /// Commits the staged `<tenant>/index.csv`: written If-Match the ETag it was staged at.
    /// When another writer changed it meanwhile, their rows are kept and `ours` (the rows this
    /// run adds or changes) are laid over them again, up to [`INDEX_ATTEMPTS`] times.
    pub fn commit_index(&mut self, tenant: &str, ours: &[RunRecord]) -> Result<()> {
        let relative = format!("{tenant}/{INDEX_CSV}");
        let staged = self.root().join(tenant);
        for _ in 0..INDEX_ATTEMPTS {
            let bytes = std::fs::read(staged.join(INDEX_CSV))
                .map_err(|e| Error::io(staged.join(INDEX_CSV), e))?;
            let name = self.location().name(&relative);
            let etag = self.etags.get(&relative).cloned();
            match self.block_on(self.store.replace(&name, bytes, etag.as_deref()))? {
                Written::Done(new) => {
                    self.etags.insert(relative, new);
                    return Ok(());
                }
                Written::Conflict => {
                    tracing::warn!(index = %self.location().url_of_name(&name), "index.csv changed while this run wrote; merging and retrying");
                    self.etags.remove(&relative);
                    self.fetch(&relative)?;
                    let mut index = RunIndex::read(&staged)?;
                    for record in ours {
                        match index.records.iter_mut().find(|r| r.run == record.run) {
                            Some(theirs) => *theirs = record.clone(),
                            None => index.records.push(record.clone()),
                        }
                    }
                    index.write()?;
                }
            }
        }
        Err(Error::Blob(BlobError {
            what: self.location().url_of(&relative),
            message: format!(
                "other writers changed it {INDEX_ATTEMPTS} times in a row; the run's files are written but not committed"
            ),
            status: Some(412),
        }))
    }

    /// Deletes every blob of a pruned run. `Ok(None)` when all are gone; `Ok(Some(reason))`
    /// when the service kept some (an immutability policy or a legal hold).
    pub fn delete_run(&self, tenant: &str, run: &str) -> Result<Option<String>> {
        let prefix = format!("{}/", self.location().name(&format!("{tenant}/{run}")));
        let names = self.block_on(self.store.list(&prefix))?;
        let mut kept = Vec::new();
        for name in &names {
            if let Deleted::Kept(code) = self.block_on(self.store.delete(name))? {
                kept.push(code);
            }
        }
        kept.sort();
        kept.dedup();
        Ok((!kept.is_empty()).then(|| {
            format!(
                "blobs kept by the service ({}): marked pruned, not deleted",
                kept.join(", ")
            )
        }))
    }

    /// Holds the lease on `<relative>/.lock` (created once, never deleted), renewed in the
    /// background until the guard drops.
    pub fn lease(&self, relative: &str) -> Result<Lease> {
        let name = self.location().name(&format!("{relative}/{LOCK_FILE}"));
        let url = self.location().url_of_name(&name);
        let body = b"entra-drift run lock: a run holds a lease on this blob while it writes\n";
        if let Written::Done(_) = self.block_on(self.store.create(&name, body.to_vec()))? {
            tracing::debug!(%url, "lock blob created");
        }
        let Some(id) = self.block_on(self.store.acquire_lease(&name, LEASE_SECONDS))? else {
            return Err(Error::LockHeld {
                path: PathBuf::from(&url),
                holder: "another run holds its lease".into(),
                hint: format!(
                    "wait for it to finish; a lease not renewed lapses {LEASE_SECONDS} s after its run stops"
                ),
            });
        };
        let store = self.store.clone();
        let (renew_name, renew_id) = (name.clone(), id.clone());
        let renewal = self.runtime.spawn(async move {
            let period = std::time::Duration::from_secs((LEASE_SECONDS / 3) as u64);
            loop {
                tokio::time::sleep(period).await;
                if let Err(error) = store.renew_lease(&renew_name, &renew_id).await {
                    tracing::warn!(%error, "the run lock's lease could not be renewed");
                }
            }
        });
        Ok(Lease {
            runtime: self.runtime.clone(),
            store: self.store.clone(),
            name,
            id,
            renewal,
        })
    }
}

/// A folder or file named by URL, staged under its own name.
pub struct Staged {
    pub remote: Remote,
    /// The local stand-in for what the URL names.
    pub path: PathBuf,
    /// The staged folder (relative to the stage) whose changes go back.
    pub folder: PathBuf,
}

impl Staged {
    /// `text` with the staging folder replaced by the location's URL.
    fn named(&self, text: &str) -> String {
        let root = self.remote.root().display().to_string();
        let url = self.remote.location().to_string();
        text.replace(&root, url.trim_end_matches('/'))
    }

    /// Names the URL, not the staging folder, in an error about a staged file.
    pub fn name_errors(&self, error: Error) -> Error {
        let url = |path: &Path| PathBuf::from(self.remote.url_of(path));
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
                    origin: self.named(&origin),
                    message,
                },
                InputError::BadId {
                    origin,
                    what,
                    id,
                    reason,
                } => InputError::BadId {
                    origin: self.named(&origin),
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
pub fn stage_folder(target: &Path, graph: &GraphArgs) -> Result<Option<Staged>> {
    let Some(location) = parse(target)? else {
        return Ok(None);
    };
    stage_folder_with(location, graph, None).map(Some)
}

/// [`stage_folder`] of a parsed location, signing in to `fallback_tenant` without a tenant.
pub fn stage_folder_with(
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
    Ok(Staged {
        remote,
        folder: PathBuf::from(last),
        path,
    })
}

/// Stages one file named by URL (an exceptions register): its folder's changes go back
/// If-Match. `Ok(None)` when `target` is a local path.
pub fn stage_file(
    target: &Path,
    graph: &GraphArgs,
    fallback_tenant: Option<&str>,
) -> Result<Option<Staged>> {
    let Some(location) = parse(target)? else {
        return Ok(None);
    };
    let (parent, name) = location.split_last();
    let mut remote = Remote::open(parent, graph, fallback_tenant)?;
    if name.is_empty() || !remote.fetch(&name)? {
        return Err(Error::settings(format!("`{location}` does not exist")));
    }
    let path = remote.root().join(&name);
    Ok(Some(Staged {
        remote,
        path,
        folder: PathBuf::new(),
    }))
}

/// Stages the run folder of a plan named by URL (`.../<tenant>/<run>/plan.json`) with its
/// tenant's `index.csv`, laid out as locally; `Ok(None)` when `plan` is a local path.
pub fn stage_plan(plan: &Path, graph: &GraphArgs) -> Result<Option<Staged>> {
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
    let mut remote = Remote::open(tenant_location, graph, None)?;
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
    }))
}

/// Publishes a staged folder's changes and says which blobs were written.
pub fn publish_after(staged: &mut Staged, printer: &crate::output::Printer) -> Result<()> {
    for url in staged.publish()? {
        printer.status(format_args!("Published {url}"));
    }
    Ok(())
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

/// A held lease; released on drop.
pub struct Lease {
    runtime: Arc<tokio::runtime::Runtime>,
    store: Arc<BlobStore>,
    name: String,
    id: String,
    renewal: tokio::task::JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewal.abort();
        if let Err(error) = self
            .runtime
            .block_on(self.store.release_lease(&self.name, &self.id))
        {
            tracing::warn!(%error, "the run lock's lease could not be released; it lapses by itself");
        }
    }
}

/// A path's components joined by `/` (blob names), whatever the platform.
fn slashed(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn write_staged(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

/// Every file below `dir`, sorted (none when it does not exist).
fn files_below(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&folder, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&folder, e))?;
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if entry.file_name() != LOCK_FILE {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_below_skips_locks_and_sorts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        for name in ["a/b/z.csv", "a/x.json", "a/.lock"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let found: Vec<String> = files_below(dir.path())
            .unwrap()
            .iter()
            .map(|p| slashed(p.strip_prefix(dir.path()).unwrap()))
            .collect();
        assert_eq!(found, ["a/b/z.csv", "a/x.json"]);
        assert!(files_below(&dir.path().join("missing")).unwrap().is_empty());
    }
}
