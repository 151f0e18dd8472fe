//! Run folders on Blob Storage. A command that works on a blob location stages what it needs
//! in a private temporary folder laid out as the local `--out` would be, runs the same code
//! as for a local folder, and publishes the result: new run files create-only, `index.csv`
//! and a plan's approvals ETag-conditionally. The tenant's lock is a blob lease, renewed while
//! the run lasts, so a crashed run frees it within a minute.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tempfile::TempDir;

use super::connect;
use crate::blob::{BlobError, BlobLocation, BlobStore, Deleted, Written};
use crate::cli::GraphArgs;
use crate::error::{Error, Result};
use crate::graph;
use crate::history::{RunIndex, RunRecord, INDEX_CSV};
use crate::lock::LOCK_FILE;

/// How long a lease lasts without renewal; it is renewed every third of that.
pub const LEASE_SECONDS: i32 = 60;
/// A mirrored file's blob was replaced by another writer.
const CHANGED_BY_OTHERS: &str =
    "changed in Blob Storage by someone else while this command wrote it";
/// Attempts at committing `index.csv` when other writers keep changing it.
const INDEX_ATTEMPTS: usize = 5;

/// A blob location, its client and the staging folder that mirrors it.
pub struct Remote {
    runtime: Arc<tokio::runtime::Runtime>,
    store: Arc<BlobStore>,
    /// Deleted with the `Remote`, unless [`Remote::keep`] took it (a failed publish).
    stage: Option<TempDir>,
    root: PathBuf,
    /// ETag and SHA-256 of each blob staged, by path relative to the location.
    staged: BTreeMap<String, (String, String)>,
    /// Set when a lease this `Remote` holds could not be renewed: nothing is committed then.
    lease_lost: Arc<AtomicBool>,
}

impl Remote {
    /// Connects with the credential the Graph flags name. A tenant-directory audit has no
    /// `--tenant`: the identity then signs in to `fallback_tenant` (the audited tenant).
    pub fn open(
        location: BlobLocation,
        graph: &GraphArgs,
        fallback_tenant: Option<&str>,
    ) -> Result<Remote> {
        Remote::open_as(location, graph, fallback_tenant, "")
    }

    /// [`Remote::open`] with another identity's variables (`apply --env-prefix APPLY_`).
    pub fn open_as(
        location: BlobLocation,
        graph: &GraphArgs,
        fallback_tenant: Option<&str>,
        env_prefix: &str,
    ) -> Result<Remote> {
        let tenant = graph
            .tenant
            .clone()
            .or_else(|| fallback_tenant.map(str::to_string))
            .ok_or_else(|| {
                Error::settings("Blob Storage needs a tenant to sign in to: set AZURE_TENANT_ID (or pass --tenant, where the command takes it)")
            })?;
        let settings = connect::credential_settings(graph, env_prefix, tenant)?;
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
            root: stage.path().to_path_buf(),
            stage: Some(stage),
            staged: BTreeMap::new(),
            lease_lost: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Keeps the staging folder after this `Remote` is gone, and returns it: what a command
    /// wrote there is not lost when publishing it failed.
    pub fn keep(&mut self) -> PathBuf {
        if let Some(stage) = self.stage.take() {
            let _ = stage.keep();
        }
        self.root.clone()
    }

    /// Refuses to commit once a lease of this run could not be renewed (another run may hold
    /// the lock by now).
    fn check_lease(&self) -> Result<()> {
        if self.lease_lost.load(Ordering::SeqCst) {
            return Err(blob_error(
                self.location().to_string(),
                "the run's lease could not be renewed, so another run may hold the lock: nothing more is committed",
                None,
            ));
        }
        Ok(())
    }

    pub fn location(&self) -> &BlobLocation {
        self.store.location()
    }

    /// The staging folder: the local stand-in for the location.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The URL of a staged path (a file or folder inside [`Remote::root`]).
    pub fn url_of(&self, staged: &Path) -> String {
        let relative = staged.strip_prefix(self.root()).unwrap_or(staged);
        self.location().url_of(&slashed(relative))
    }

    fn block_on<T>(&self, future: impl std::future::Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }

    /// Stages one blob (`relative` below the location); `false` when there is none. A path
    /// with an empty, `.` or `..` segment (a tampered index naming `../x`) is refused: nothing
    /// is ever written outside the staging folder.
    pub fn fetch(&mut self, relative: &str) -> Result<bool> {
        if relative
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == ".." || s.contains('\\'))
        {
            return Err(blob_error(
                self.location().url_of(""),
                format!(
                    "`{}` is not a plain path below the location; not staged",
                    relative.escape_debug()
                ),
                None,
            ));
        }
        let name = self.location().name(relative);
        match self.block_on(self.store.get(&name))? {
            Some(read) => {
                let path = self.root().join(relative);
                write_staged(&path, &read.bytes)?;
                self.staged.insert(
                    relative.to_string(),
                    (read.etag, crate::files::digest(&read.bytes)),
                );
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

    /// The staged files below the folder `relative`: (path below the location, local path).
    fn staged_below(&self, relative: &Path) -> Result<Vec<(String, PathBuf)>> {
        let base = slashed(relative);
        Ok(files_below(&self.root().join(relative))?
            .into_iter()
            .map(|(below, path)| match base.is_empty() {
                true => (below, path),
                false => (format!("{base}/{below}"), path),
            })
            .collect())
    }

    /// Uploads every file below the staged folder `relative` create-only. A blob that exists
    /// already is an error: a run never overwrites one.
    pub fn publish_new(&self, relative: &Path) -> Result<Vec<String>> {
        self.check_lease()?;
        let mut urls = Vec::new();
        for (inside, path) in self.staged_below(relative)? {
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let name = self.location().name(&inside);
            match self.block_on(self.store.create(&name, bytes.clone()))? {
                Written::Done(_) => urls.push(self.location().url_of_name(&name)),
                // A retried PUT whose first attempt landed: the blob is ours, byte for byte.
                Written::Conflict
                    if self
                        .block_on(self.store.get(&name))?
                        .is_some_and(|read| read.bytes == bytes) =>
                {
                    urls.push(self.location().url_of_name(&name))
                }
                Written::Conflict => {
                    return Err(blob_error(
                        self.location().url_of_name(&name),
                        "exists already; a run never overwrites a blob",
                        Some(409),
                    ))
                }
            }
        }
        Ok(urls)
    }

    /// Uploads the staged files below `relative` that are new (create-only) or changed since
    /// they were staged (If-Match their ETag). A blob changed by someone else meanwhile is an
    /// error naming it; nothing of ours is lost (the staged copy is reported).
    pub fn publish_changes(&mut self, relative: &Path) -> Result<Vec<String>> {
        self.check_lease()?;
        let mut urls = Vec::new();
        for (inside, path) in self.staged_below(relative)? {
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let name = self.location().name(&inside);
            let (etag, digest) = self.staged.get(&inside).cloned().unzip();
            let sha = crate::files::digest(&bytes);
            if digest.as_ref() == Some(&sha) {
                continue;
            }
            match self.block_on(self.store.replace(&name, bytes, etag.as_deref()))? {
                Written::Done(new) => {
                    self.staged.insert(inside, (new, sha));
                    urls.push(self.location().url_of_name(&name));
                }
                Written::Conflict => {
                    return Err(blob_error(
                        self.location().url_of_name(&name),
                        "changed in Blob Storage while this command ran; run it again",
                        Some(412),
                    ))
                }
            }
        }
        Ok(urls)
    }

    /// Commits the staged `<tenant>/index.csv`: written If-Match the ETag it was staged at.
    /// When another writer changed it meanwhile, their rows are kept and `ours` (the rows this
    /// run adds or changes) are laid over them again, up to [`INDEX_ATTEMPTS`] times.
    pub fn commit_index(&mut self, tenant: &str, ours: &[RunRecord]) -> Result<()> {
        self.check_lease()?;
        let relative = format!("{tenant}/{INDEX_CSV}");
        let staged = self.root().join(tenant);
        for _ in 0..INDEX_ATTEMPTS {
            let bytes = std::fs::read(staged.join(INDEX_CSV))
                .map_err(|e| Error::io(staged.join(INDEX_CSV), e))?;
            let name = self.location().name(&relative);
            let etag = self.staged.get(&relative).map(|(etag, _)| etag.clone());
            let sha = crate::files::digest(&bytes);
            match self.block_on(self.store.replace(&name, bytes, etag.as_deref()))? {
                Written::Done(new) => {
                    self.staged.insert(relative, (new, sha));
                    return Ok(());
                }
                Written::Conflict => {
                    tracing::warn!(index = %self.location().url_of_name(&name), "index.csv changed while this run wrote; merging and retrying");
                    self.staged.remove(&relative);
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
        Err(blob_error(self.location().url_of(&relative), format!(
                "other writers changed it {INDEX_ATTEMPTS} times in a row; the run's files are written but not committed"
            ), Some(412)))
    }

    /// Deletes every blob of a pruned run. `Ok(None)` when all are gone; `Ok(Some(note))`
    /// when the service kept some (an immutability policy, a legal hold, a lease).
    pub fn delete_run(&self, tenant: &str, run: &str) -> Result<Option<String>> {
        let prefix = format!("{}/", self.location().name(&format!("{tenant}/{run}")));
        let names = self.block_on(self.store.list(&prefix))?;
        let mut codes = Vec::new();
        let mut kept = 0;
        for name in &names {
            if let Deleted::Kept(code) = self.block_on(self.store.delete(name))? {
                kept += 1;
                codes.push(code);
            }
        }
        codes.sort();
        codes.dedup();
        Ok((kept > 0).then(|| {
            format!(
                "{kept} of {} blobs kept by the service ({}): marked pruned, those not deleted",
                names.len(),
                codes.join(", ")
            )
        }))
    }

    /// Whether another command holds the lease of `<tenant>/<run>/.lock` (an apply).
    pub fn in_use(&self, tenant: &str, run: &str) -> Result<bool> {
        let name = self.location().name(&format!("{tenant}/{run}/{LOCK_FILE}"));
        match self.block_on(self.store.acquire_lease(&name, 15)) {
            Ok(Some(id)) => {
                self.block_on(self.store.release_lease(&name, &id))?;
                Ok(false)
            }
            Ok(None) => Ok(true),
            Err(error) if error.status == Some(404) => Ok(false),
            Err(error) => Err(error.into()),
        }
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
        let lost = self.lease_lost.clone();
        let (renew_name, renew_id) = (name.clone(), id.clone());
        let renewal = self.runtime.spawn(async move {
            let period = std::time::Duration::from_secs((LEASE_SECONDS / 3) as u64);
            loop {
                tokio::time::sleep(period).await;
                if let Err(error) = store.renew_lease(&renew_name, &renew_id).await {
                    // Once more before giving up: a renewal has two more periods of slack.
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    if store.renew_lease(&renew_name, &renew_id).await.is_err() {
                        tracing::error!(%error, "the run lock's lease could not be renewed; nothing more will be committed");
                        lost.store(true, Ordering::SeqCst);
                        return;
                    }
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

    /// Keeps one staged file's blob current while a command writes it (the apply journal):
    /// each call of [`Mirror::observer`]'s callback queues an upload of the file as it is
    /// then, If-Match the last ETag, on a thread of its own so that the command never waits
    /// for storage. `staged` is the file's path in the staging folder.
    pub fn mirror(&self, staged: &Path) -> Mirror {
        let relative = slashed(staged.strip_prefix(self.root()).unwrap_or(staged));
        let (sender, receiver) = std::sync::mpsc::channel::<()>();
        let store = self.store.clone();
        let runtime = self.runtime.clone();
        let name = self.location().name(&relative);
        let path = self.root().join(&relative);
        let mut etag = self.staged.get(&relative).map(|(etag, _)| etag.clone());
        let thread = std::thread::spawn(move || -> Result<()> {
            while receiver.recv().is_ok() {
                // Coalesce: one upload carries every line written meanwhile.
                while receiver.try_recv().is_ok() {}
                let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
                let written = match &etag {
                    Some(tag) => runtime.block_on(store.replace(&name, bytes, Some(tag)))?,
                    None => runtime.block_on(store.create(&name, bytes))?,
                };
                match written {
                    Written::Done(new) => etag = Some(new),
                    Written::Conflict => {
                        return Err(blob_error(
                            store.location().url_of_name(&name),
                            CHANGED_BY_OTHERS,
                            Some(412),
                        ))
                    }
                }
            }
            Ok(())
        });
        Mirror {
            relative,
            sender: Some(sender),
            thread: Some(thread),
        }
    }

    /// Waits for a mirror's uploads, then records its file's blob as current (its ETag and
    /// digest), so that publishing does not upload it again.
    pub fn finish(&mut self, mirror: Mirror) -> Result<()> {
        let relative = mirror.relative.clone();
        mirror.finish()?;
        let name = self.location().name(&relative);
        if let Some(read) = self.block_on(self.store.get(&name))? {
            let digest = crate::files::digest(&read.bytes);
            self.staged.insert(relative, (read.etag, digest));
        }
        Ok(())
    }
}

/// See [`Remote::mirror`].
pub struct Mirror {
    /// The file's path below the location.
    relative: String,
    sender: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Mirror {
    /// A callback that queues an upload of the file as it is then (the journal's observer).
    pub fn observer(&self) -> std::sync::Arc<dyn Fn() + Send + Sync> {
        let sender = self.sender.clone();
        std::sync::Arc::new(move || {
            if let Some(sender) = &sender {
                let _ = sender.send(());
            }
        })
    }

    /// Waits for the uploads queued so far; the first that failed is the error.
    fn finish(mut self) -> Result<()> {
        self.sender.take();
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(Error::settings("the journal's upload thread failed")),
            None => Ok(()),
        }
    }
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

/// An error about the blob (or location) `what` names.
fn blob_error(what: String, message: impl Into<String>, status: Option<u16>) -> Error {
    Error::Blob(BlobError {
        what,
        message: message.into(),
        status,
    })
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

/// Every file below `dir` but lock files, as (path with `/` below `dir`, path), sorted; none
/// when `dir` does not exist.
fn files_below(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = crate::evidence::list_files(dir)?;
    files.retain(|(_, path)| path.file_name() != Some(std::ffi::OsStr::new(LOCK_FILE)));
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
            .into_iter()
            .map(|(relative, _)| relative)
            .collect();
        assert_eq!(found, ["a/b/z.csv", "a/x.json"]);
        assert!(files_below(&dir.path().join("missing")).unwrap().is_empty());
    }
}
