//! The per-tenant run lock, `<out>/<tenant>/.lock`, so that two scheduled audits of one tenant
//! never write its history at the same time. The lock is a file created exclusively, holding
//! who took it (pid, host, start time). A lock is stale — and taken over with a warning —
//! when its process is gone (same host, no such pid) or when it is older than the maximum age
//! (a hung run, or a host whose processes cannot be checked). Anything else is refused.
//!
//! Released on drop, including on errors; a killed process leaves the file behind, which is
//! exactly the stale case.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const LOCK_FILE: &str = ".lock";
pub const DEFAULT_MAX_AGE_HOURS: i64 = 24;
/// A lock file without readable content is being written right now — unless it is older
/// than this (its writer died between creating and filling it).
const UNREADABLE_GRACE_SECONDS: u64 = 60;

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
    holder: Holder,
    created_dirs: Vec<PathBuf>,
    /// Set once the file is ours; a failed attempt must not remove another run's lock.
    held: bool,
}

/// Why an existing lock may be taken over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staleness {
    /// Held by a live process (or one that cannot be checked) and younger than the max age.
    Fresh,
    ProcessGone,
    TooOld,
}

/// Judges a lock held by `holder`, seen from `host` at `now`. `alive` says whether a pid runs
/// on this host (`None`: cannot tell).
pub fn judge(
    holder: &Holder,
    host: &str,
    now: DateTime<Utc>,
    max_age: Duration,
    alive: impl Fn(u32) -> Option<bool>,
) -> Staleness {
    if now - holder.started > max_age {
        return Staleness::TooOld;
    }
    if holder.host == host && alive(holder.pid) == Some(false) {
        return Staleness::ProcessGone;
    }
    Staleness::Fresh
}

impl RunLock {
    /// Takes the lock of a tenant folder, creating the folder if needed.
    pub fn acquire(tenant_dir: &Path, max_age: Duration, now: DateTime<Utc>) -> Result<RunLock> {
        let created_dirs = create_dirs(tenant_dir)?;
        let path = tenant_dir.join(LOCK_FILE);
        let holder = Holder {
            pid: std::process::id(),
            host: host_name(),
            started: now,
            tool: format!("entra-drift {}", env!("CARGO_PKG_VERSION")),
        };
        let mut lock = RunLock {
            path,
            holder,
            created_dirs,
            held: false,
        };
        // Two attempts: the second after a stale lock was moved away.
        for _ in 0..2 {
            match lock.try_create() {
                Ok(()) => {
                    lock.held = true;
                    return Ok(lock);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    lock.take_over_if_stale(max_age, now)?;
                }
                Err(e) => return Err(Error::io(&lock.path, e)),
            }
        }
        Err(Error::LockHeld {
            path: lock.path.clone(),
            holder: "another run took it while a stale lock was being replaced".into(),
            hint: "try again".into(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn try_create(&self) -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&self.path)?;
        // Serialising a struct of plain fields cannot fail.
        let text = serde_json::to_string_pretty(&self.holder).expect("lock holder serialises");
        let written = file
            .write_all(text.as_bytes())
            .and_then(|()| file.sync_all());
        if written.is_err() {
            // Half a lock would block the next runs for a minute for nothing.
            let _ = std::fs::remove_file(&self.path);
        }
        written
    }

    /// Moves a stale lock aside (refusing a fresh one with who holds it).
    fn take_over_if_stale(&self, max_age: Duration, now: DateTime<Utc>) -> Result<()> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            // Released between our create and our read: simply try again.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        let staleness = match serde_json::from_str::<Holder>(&text) {
            Ok(holder) => {
                let staleness = judge(&holder, &self.holder.host, now, max_age, pid_alive);
                if staleness == Staleness::Fresh {
                    return Err(Error::LockHeld {
                        path: self.path.clone(),
                        holder: format!(
                            "pid {} on {} since {} (an audit of this tenant, or an apply of this plan)",
                            holder.pid,
                            holder.host,
                            holder.started.to_rfc3339()
                        ),
                        hint: format!(
                            "such runs must not overlap; if no such run exists, delete the lock file (a lock older than {} hours is taken over automatically)",
                            max_age.num_hours()
                        ),
                    });
                }
                format!(
                    "{staleness:?} (pid {} on {} since {})",
                    holder.pid,
                    holder.host,
                    holder.started.to_rfc3339()
                )
            }
            Err(_) => {
                let age = std::fs::metadata(&self.path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .map(|d| d.as_secs())
                    .unwrap_or(u64::MAX);
                if age < UNREADABLE_GRACE_SECONDS {
                    return Err(Error::LockHeld {
                        path: self.path.clone(),
                        holder: "another run is writing it right now".into(),
                        hint: "try again in a minute".into(),
                    });
                }
                "unreadable".to_string()
            }
        };
        // Renaming is atomic: of two runs taking over at once, only one moves the stale file.
        let aside = self
            .path
            .with_file_name(format!("{LOCK_FILE}.stale-{}", self.holder.pid));
        match std::fs::rename(&self.path, &aside) {
            Ok(()) => {
                tracing::warn!(lock = %self.path.display(), previous = %staleness, "taking over a stale lock left by a run that ended without releasing it");
                let _ = std::fs::remove_file(&aside);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&self.path, e)),
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Only remove the file if it is still ours (a run that outlived its max age may have
        // been taken over; its successor's lock must stay).
        let ours = self.held
            && std::fs::read_to_string(&self.path)
                .ok()
                .and_then(|text| serde_json::from_str::<Holder>(&text).ok())
                .is_some_and(|holder| holder == self.holder);
        if ours {
            if let Err(e) = std::fs::remove_file(&self.path) {
                tracing::warn!(lock = %self.path.display(), error = %e, "could not remove the lock");
            }
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

/// Whether a process with this pid runs on this host; `None` where that cannot be checked.
pub fn pid_alive(pid: u32) -> Option<bool> {
    let proc_root = Path::new("/proc");
    if cfg!(target_os = "linux") && proc_root.join("self").exists() {
        Some(proc_root.join(pid.to_string()).exists())
    } else {
        None
    }
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
    fn staleness_by_process_and_by_age() {
        let now = at("2026-11-02T00:00:00Z");
        let day = Duration::hours(24);
        let alive = |pid: u32| Some(pid == 1);
        let unknown = |_: u32| None;
        assert_eq!(
            judge(
                &holder(1, "h", "2026-11-01T12:00:00Z"),
                "h",
                now,
                day,
                alive
            ),
            Staleness::Fresh
        );
        assert_eq!(
            judge(
                &holder(2, "h", "2026-11-01T12:00:00Z"),
                "h",
                now,
                day,
                alive
            ),
            Staleness::ProcessGone
        );
        // Another host's pid means nothing here: only age can free its lock.
        assert_eq!(
            judge(
                &holder(2, "other", "2026-11-01T12:00:00Z"),
                "h",
                now,
                day,
                alive
            ),
            Staleness::Fresh
        );
        assert_eq!(
            judge(
                &holder(2, "other", "2026-10-31T23:00:00Z"),
                "h",
                now,
                day,
                alive
            ),
            Staleness::TooOld
        );
        assert_eq!(
            judge(
                &holder(1, "h", "2026-10-31T23:00:00Z"),
                "h",
                now,
                day,
                alive
            ),
            Staleness::TooOld
        );
        assert_eq!(
            judge(
                &holder(2, "h", "2026-11-01T12:00:00Z"),
                "h",
                now,
                day,
                unknown
            ),
            Staleness::Fresh
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
    fn a_lock_of_a_dead_process_is_taken_over() {
        let root = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = holder(dead, &host_name(), "2026-11-01T00:00:00Z");
        std::fs::write(
            root.path().join(LOCK_FILE),
            serde_json::to_string(&stale).unwrap(),
        )
        .unwrap();
        let lock =
            RunLock::acquire(root.path(), Duration::hours(24), at("2026-11-01T01:00:00Z")).unwrap();
        let text = std::fs::read_to_string(lock.path()).unwrap();
        assert!(text.contains(&std::process::id().to_string()));
        assert_eq!(
            std::fs::read_dir(root.path()).unwrap().count(),
            1,
            "nothing left aside"
        );
    }
}
