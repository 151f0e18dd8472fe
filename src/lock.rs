//! Run locks: `<out>/<tenant>/.lock`, so that two scheduled audits of one tenant never write
//! its history at the same time, and `<out>/<tenant>/.apply-<plan>.lock`, so that one plan is
//! applied by one process at a time (copies of its run folder included).
//!
//! A lock is a file held with an exclusive OS file lock (`flock`) for as long as the run lasts,
//! and holding who took it (pid, host, start time) for people and for other hosts. The kernel
//! decides who holds it: two runs can never both take it, and a run that dies — killed,
//! crashed, power lost — releases it with its process, so there is no takeover to race for.
//! What a finished holder leaves behind is judged under the lock: a holder on this host is gone
//! (its file lock would be held otherwise); one on another host (a shared folder, whose file
//! locks this host may not see) counts until it is older than the maximum age.
//!
//! Released on drop, including on errors: the file is removed while still locked, and a waiter
//! that locked the removed file notices and starts again.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const LOCK_FILE: &str = ".lock";
pub const DEFAULT_MAX_AGE_HOURS: i64 = 24;

/// What the lock file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub started: DateTime<Utc>,
    /// `entra-drift <version>`, for whoever finds the file.
    pub tool: String,
}

/// A held lock; removed on drop (with the tenant folders it created, if still empty, so a
/// failed first run leaves `--out` as it found it).
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    /// The locked file; the OS lock lasts as long as it is open.
    file: Option<std::fs::File>,
    created_dirs: Vec<PathBuf>,
}

/// What a lock file left by an earlier holder means, once its OS lock is free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staleness {
    /// Another host's run, younger than the max age: it may still be running there.
    Fresh,
    /// A run of this host whose process ended without removing the file.
    ProcessGone,
    TooOld,
}

/// Judges a lock file left by `holder`, seen from `host` at `now`, when no process of this host
/// holds its OS lock.
pub fn judge(holder: &Holder, host: &str, now: DateTime<Utc>, max_age: Duration) -> Staleness {
    if holder.host == host {
        return Staleness::ProcessGone;
    }
    if now - holder.started > max_age {
        return Staleness::TooOld;
    }
    Staleness::Fresh
}

/// A lock file holds a small JSON object; more is not one this tool wrote.
const MAX_LOCK_BYTES: u64 = 64 << 10;

impl RunLock {
    /// Takes the lock of a tenant folder, creating the folder if needed.
    pub fn acquire(tenant_dir: &Path, max_age: Duration, now: DateTime<Utc>) -> Result<RunLock> {
        Self::acquire_file(
            tenant_dir,
            LOCK_FILE,
            "an audit of this tenant, or an apply of this plan",
            max_age,
            now,
        )
    }

    /// Takes the lock of one plan: `.apply-<items digest>.lock` in the tenant folder, so that
    /// copies of a run folder under one `--out` wait for each other.
    pub fn acquire_plan(
        tenant_dir: &Path,
        items_digest: &str,
        max_age: Duration,
        now: DateTime<Utc>,
    ) -> Result<RunLock> {
        Self::acquire_file(
            tenant_dir,
            &plan_lock_name(items_digest),
            "an apply of this plan, or of a copy of its run folder",
            max_age,
            now,
        )
    }

    /// Takes the lock of edits to one file (`.<name>.lock` beside it): `plan approve` holds it
    /// while it reads, changes and rewrites `plan.json`.
    pub fn acquire_edit(file: &Path) -> Result<RunLock> {
        let dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let now = Utc::now();
        Self::acquire_file(
            dir,
            &format!(".{name}.lock"),
            "another approval or revocation of this plan",
            Duration::hours(DEFAULT_MAX_AGE_HOURS),
            now,
        )
    }

    fn acquire_file(
        dir: &Path,
        name: &str,
        what: &str,
        max_age: Duration,
        now: DateTime<Utc>,
    ) -> Result<RunLock> {
        let created_dirs = create_dirs(dir)?;
        let path = dir.join(name);
        let holder = Holder {
            pid: std::process::id(),
            host: host_name(),
            started: now,
            tool: format!("entra-drift {}", env!("CARGO_PKG_VERSION")),
        };
        let mut lock = RunLock {
            path,
            file: None,
            created_dirs,
        };
        // A few rounds: a holder that finishes removes the file we may have opened.
        for _ in 0..8 {
            let mut file = crate::files::open_lock_file(&lock.path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    let previous = read_holder(&mut file);
                    return Err(held(&lock.path, previous.as_ref(), what, max_age));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(Error::LockHeld {
                        path: lock.path.clone(),
                        holder: format!("the file system does not lock files ({e})"),
                        hint: "put --out on a local disk or a file system with working file locks (NFS needs its lock manager), or use Blob Storage, whose lease is the lock".into(),
                    })
                }
            }
            if !crate::files::is_same_file(&file, &lock.path) {
                continue;
            }
            if let Some(previous) = read_holder(&mut file) {
                let staleness = judge(&previous, &holder.host, now, max_age);
                if staleness == Staleness::Fresh {
                    return Err(held(&lock.path, Some(&previous), what, max_age));
                }
                tracing::warn!(lock = %lock.path.display(), previous = ?staleness, pid = previous.pid, host = %previous.host, started = %previous.started.to_rfc3339(), "taking over a stale lock left by a run that ended without releasing it");
            }
            // Serialising a struct of plain fields cannot fail.
            let text = serde_json::to_string_pretty(&holder).expect("lock holder serialises");
            file.set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| file.write_all(text.as_bytes()))
                .and_then(|()| file.sync_all())
                .map_err(|e| Error::io(&lock.path, e))?;
            lock.file = Some(file);
            return Ok(lock);
        }
        Err(Error::LockHeld {
            path: lock.path.clone(),
            holder: "other runs kept taking and releasing it".into(),
            hint: "try again".into(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The file name of a plan's apply lock: its items digest's first 16 hex digits.
pub fn plan_lock_name(items_digest: &str) -> String {
    let hex: String = items_digest
        .trim_start_matches("sha256:")
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(16)
        .collect();
    format!(".apply-{hex}.lock")
}

/// One journal per plan in a tenant folder: the first apply of a plan claims it for its journal
/// (`.apply-<plan>.claim`); an apply of a copy of the run folder under the same `--out` is
/// refused while that journal exists, since its own journal would not know what was sent.
/// Call with the plan's lock held.
pub fn claim_journal(tenant_dir: &Path, plan_digest: &str, journal: &Path) -> Result<Claim> {
    let claim_path = tenant_dir.join(plan_lock_name(plan_digest).replace(".lock", ".claim"));
    let folder = journal
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let ours = std::fs::canonicalize(folder)
        .map_err(|e| Error::io(folder, e))?
        .join(journal.file_name().unwrap_or_default());
    let claimed = crate::files::read_run_text(&claim_path, MAX_LOCK_BYTES)?
        .and_then(|text| serde_json::from_str::<ClaimFile>(&text).ok());
    if let Some(claimed) = claimed {
        let there = PathBuf::from(&claimed.journal);
        // The same file reached by another path (a bind mount, a symlinked folder) is ours.
        let same_file = || {
            let (Ok(a), Ok(b)) = (std::fs::metadata(&there), std::fs::metadata(&ours)) else {
                return false;
            };
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                a.dev() == b.dev() && a.ino() == b.ino()
            }
            #[cfg(not(unix))]
            {
                let _ = (a, b);
                false
            }
        };
        if there == ours || same_file() {
            return Ok(Claim::Ours);
        }
        if crate::files::exists_no_follow(&there)? {
            return Ok(Claim::Elsewhere(claimed.journal));
        }
        tracing::warn!(claimed = %claimed.journal, "the plan's earlier journal is gone; this run folder's journal is the plan's journal from now on");
    }
    let claim = ClaimFile {
        journal: ours.display().to_string(),
    };
    // Plain strings always serialise.
    let text = serde_json::to_string_pretty(&claim).unwrap_or_default();
    crate::files::write_durable(&claim_path, text.as_bytes())?;
    Ok(Claim::Ours)
}

#[derive(Debug, Serialize, Deserialize)]
struct ClaimFile {
    /// The journal's full path.
    journal: String,
}

/// Whose journal a plan's is.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// This run folder's: apply may go on.
    Ours,
    /// Another copy's journal holds the plan (its path).
    Elsewhere(String),
}

/// The holder a lock file names, if it names one.
fn read_holder(file: &mut std::fs::File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.take(MAX_LOCK_BYTES).read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

fn held(path: &Path, holder: Option<&Holder>, what: &str, max_age: Duration) -> Error {
    Error::LockHeld {
        path: path.to_path_buf(),
        holder: match holder {
            Some(holder) => format!(
                "pid {} on {} since {} ({what})",
                holder.pid,
                holder.host,
                holder.started.to_rfc3339()
            ),
            None => format!("a run that is starting right now ({what})"),
        },
        hint: format!(
            "such runs must not overlap: wait for it to finish; a run that died has released it (a lock left by another host is taken over after {} hours)",
            max_age.num_hours()
        ),
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still locked, and only if it is still our file.
        if let Some(file) = self.file.take() {
            if crate::files::is_same_file(&file, &self.path) {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    tracing::warn!(lock = %self.path.display(), error = %e, "could not remove the lock");
                }
            }
            drop(file);
        }
        for dir in self.created_dirs.iter().rev() {
            // Fails (as intended) when the folder is not empty.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Creates `dir` and its missing parents; returns those it created, outermost first.
fn create_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut current = Some(dir);
    while let Some(path) = current {
        if path.as_os_str().is_empty() || path.exists() {
            break;
        }
        missing.push(path.to_path_buf());
        current = path.parent();
    }
    missing.reverse();
    for path in &missing {
        match std::fs::create_dir(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    Ok(missing)
}

/// This machine's name, for the lock file (a pid means nothing on another host).
pub fn host_name() -> String {
    for file in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
        if let Ok(text) = std::fs::read_to_string(file) {
            let name = text.trim();
            if !name.is_empty() {
                return name.to_string();
            }
        }
    }
    ["COMPUTERNAME", "HOSTNAME"]
        .iter()
        .find_map(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn holder(pid: u32, host: &str, started: &str) -> Holder {
        Holder {
            pid,
            host: host.into(),
            started: at(started),
            tool: "entra-drift test".into(),
        }
    }

    #[test]
    fn what_a_finished_holder_left_is_judged_by_host_and_age() {
        let now = at("2026-11-02T00:00:00Z");
        let day = Duration::hours(24);
        let judged = |h: Holder| judge(&h, "h", now, day);
        // This host's holder would hold the OS lock if it were alive.
        assert_eq!(
            judged(holder(1, "h", "2026-11-01T12:00:00Z")),
            Staleness::ProcessGone
        );
        // Another host's run (a shared folder): only age frees its lock.
        assert_eq!(
            judged(holder(2, "other", "2026-11-01T12:00:00Z")),
            Staleness::Fresh
        );
        assert_eq!(
            judged(holder(2, "other", "2026-10-31T23:00:00Z")),
            Staleness::TooOld
        );
    }

    #[test]
    fn a_second_lock_is_refused_and_the_first_is_released_on_drop() {
        let root = tempfile::tempdir().unwrap();
        let tenant = root.path().join("out").join("tenant");
        let now = at("2026-11-01T00:00:00Z");
        let first = RunLock::acquire(&tenant, Duration::hours(24), now).unwrap();
        let error = RunLock::acquire(&tenant, Duration::hours(24), now)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("an audit of this tenant")
                && error.contains(&std::process::id().to_string()),
            "{error}"
        );
        drop(first);
        // The folders it created were empty, so they are gone again.
        assert!(!root.path().join("out").exists());
        let again = RunLock::acquire(&tenant, Duration::hours(24), now).unwrap();
        assert!(again.path().is_file());
    }

    #[test]
    fn a_lock_file_left_by_a_dead_run_is_taken_over() {
        let root = tempfile::tempdir().unwrap();
        let stale = holder(u32::MAX - 7, &host_name(), "2026-11-01T00:00:00Z");
        std::fs::write(
            root.path().join(LOCK_FILE),
            serde_json::to_string(&stale).unwrap(),
        )
        .unwrap();
        let lock =
            RunLock::acquire(root.path(), Duration::hours(24), at("2026-11-01T01:00:00Z")).unwrap();
        let text = std::fs::read_to_string(lock.path()).unwrap();
        assert!(text.contains(&std::process::id().to_string()));
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    }

    /// Many takers at once over a stale lock file: at every moment at most one holds it (the
    /// read-then-rename takeover let two in about once in 25 rounds).
    #[test]
    fn concurrent_takers_of_a_stale_lock_never_hold_it_together() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        for _ in 0..20 {
            let root = tempfile::tempdir().unwrap();
            let stale = holder(u32::MAX - 7, &host_name(), "2026-11-01T00:00:00Z");
            std::fs::write(
                root.path().join(".apply-0123456789abcdef.lock"),
                serde_json::to_string(&stale).unwrap(),
            )
            .unwrap();
            let inside = Arc::new(AtomicUsize::new(0));
            let most = Arc::new(AtomicUsize::new(0));
            let barrier = Arc::new(std::sync::Barrier::new(10));
            let threads: Vec<_> = (0..10)
                .map(|_| {
                    let (dir, inside, most, barrier) = (
                        root.path().to_path_buf(),
                        inside.clone(),
                        most.clone(),
                        barrier.clone(),
                    );
                    std::thread::spawn(move || {
                        barrier.wait();
                        let now = at("2026-11-01T01:00:00Z");
                        if let Ok(lock) = RunLock::acquire_plan(
                            &dir,
                            "sha256:0123456789abcdef00",
                            Duration::hours(24),
                            now,
                        ) {
                            let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(n, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(2));
                            inside.fetch_sub(1, Ordering::SeqCst);
                            drop(lock);
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
            assert_eq!(most.load(Ordering::SeqCst), 1, "two held the lock at once");
        }
    }

    #[test]
    fn plan_locks_are_named_by_the_items_digest() {
        assert_eq!(
            plan_lock_name("sha256:0123456789abcdef0123"),
            ".apply-0123456789abcdef.lock"
        );
    }
}
