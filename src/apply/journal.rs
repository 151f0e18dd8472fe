//! The append-only apply journal beside the plan: one JSON line per event, flushed and synced
//! before the next step, so an apply killed at any point resumes without losing an outcome or
//! reprocessing an item twice.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A run started (detail: the plan's items digest).
    Run,
    /// The reprocess request is about to be sent: without a later outcome, the item is in doubt.
    Sending,
    Reprocessed,
    Skipped,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub event: Event,
    #[serde(default)]
    pub assignment_id: String,
    #[serde(default)]
    pub detail: String,
}

pub struct Journal {
    path: PathBuf,
    file: File,
}

/// The journal path for a plan: `plan.json` → `plan.journal.jsonl`.
pub fn path_for(plan: &Path) -> PathBuf {
    let stem = plan
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "plan".into());
    plan.with_file_name(format!("{stem}.journal.jsonl"))
}

impl Journal {
    /// Opens (creating) the journal and returns it with every entry so far. A journal written
    /// for other plan items is refused.
    pub fn open(path: &Path, items_digest: &str) -> Result<(Journal, Vec<Entry>)> {
        let mut entries = Vec::new();
        if path.exists() {
            drop_torn_tail(path)?;
            let reader = BufReader::new(File::open(path).map_err(|e| Error::io(path, e))?);
            for (number, line) in reader.lines().enumerate() {
                let line = line.map_err(|e| Error::io(path, e))?;
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Entry>(&line) {
                    Ok(entry) => entries.push(entry),
                    Err(e) => {
                        return Err(Error::inconsistent(
                            format!("{} line {}", path.display(), number + 1),
                            format!("is not a journal entry: {e}"),
                        ))
                    }
                }
            }
            if let Some(other) = entries
                .iter()
                .find(|e| e.event == Event::Run && e.detail != items_digest)
            {
                return Err(Error::inconsistent(
                    path.display().to_string(),
                    format!(
                        "belongs to a plan with items {}, not {items_digest}",
                        other.detail
                    ),
                ));
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok((
            Journal {
                path: path.to_path_buf(),
                file,
            },
            entries,
        ))
    }

    /// Appends one entry and makes it durable before returning.
    pub fn record(&mut self, event: Event, assignment_id: &str, detail: &str) -> Result<()> {
        let entry = Entry {
            at: Utc::now(),
            event,
            assignment_id: assignment_id.to_string(),
            detail: detail.to_string(),
        };
        let mut line = serde_json::to_string(&entry).expect("journal entries serialise");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.sync_data())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// A kill in the middle of a write can leave a partial last line (entries are written whole
/// and synced, so only the last can be torn): cut it off. Anything earlier that does not parse
/// is damage, and reported.
fn drop_torn_tail(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.is_empty() || bytes.last() == Some(&b'\n') {
        return Ok(());
    }
    let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    tracing::warn!(journal = %path.display(), "dropping a torn last line left by an interrupted run");
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    file.set_len(keep as u64).map_err(|e| Error::io(path, e))
}

/// The latest outcome per assignment: what a resumed run must not redo.
pub fn last_events(entries: &[Entry]) -> HashMap<String, Entry> {
    let mut last = HashMap::new();
    for entry in entries.iter().filter(|e| e.event != Event::Run) {
        last.insert(entry.assignment_id.clone(), entry.clone());
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumes_and_tolerates_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.journal.jsonl");
        {
            let (mut journal, entries) = Journal::open(&path, "sha256:a").unwrap();
            assert!(entries.is_empty());
            journal.record(Event::Run, "", "sha256:a").unwrap();
            journal.record(Event::Sending, "x", "").unwrap();
            journal.record(Event::Reprocessed, "x", "202").unwrap();
            journal.record(Event::Sending, "y", "").unwrap();
        }
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"{\"at\":\"2026-");
        std::fs::write(&path, bytes).unwrap();
        let (mut journal, entries) = Journal::open(&path, "sha256:a").unwrap();
        let last = last_events(&entries);
        assert_eq!(last["x"].event, Event::Reprocessed);
        assert_eq!(last["y"].event, Event::Sending);
        journal.record(Event::Failed, "y", "boom").unwrap();
        let (_, entries) = Journal::open(&path, "sha256:a").unwrap();
        assert_eq!(last_events(&entries)["y"].event, Event::Failed);
        assert!(
            Journal::open(&path, "sha256:other").is_err(),
            "a journal of other items is refused"
        );
    }

    #[test]
    fn journal_sits_beside_the_plan() {
        assert_eq!(
            path_for(Path::new("/r/x/plan.json")),
            PathBuf::from("/r/x/plan.journal.jsonl")
        );
    }
}
