//! The append-only apply journal beside the plan: one JSON line per event, flushed and synced
//! before the next step, so an apply killed at any point resumes without losing an outcome or
//! reprocessing an item twice.
//!
//! Every line carries the plan digest and the SHA-256 of the line before it (`prev`; the
//! first line's is the plan digest): a line edited, inserted, removed or copied from another
//! plan's journal breaks the chain, and `apply` stops naming the line. A chain is no
//! signature — someone who can write the file can recompute it — so `apply
//! --recheck-journal` re-checks every item live instead of trusting the journal.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Refusal, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A run started (detail: the plan's items digest).
    Run,
    /// The reprocess request is about to be sent: without a later outcome, the item is in doubt.
    Sending,
    Reprocessed,
    /// An assignment ended or an access removed.
    Removed,
    /// An exception recorded for the finding.
    Accepted,
    Skipped,
    Failed,
}

impl Event {
    /// The name the journal writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Run => "run",
            Event::Sending => "sending",
            Event::Reprocessed => "reprocessed",
            Event::Removed => "removed",
            Event::Accepted => "accepted",
            Event::Skipped => "skipped",
            Event::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub event: Event,
    #[serde(default)]
    pub assignment_id: String,
    #[serde(default)]
    pub detail: String,
    /// The plan digest this journal belongs to.
    pub plan: String,
    /// `sha256:` of the previous line's bytes (without its newline); the plan digest for the
    /// first line.
    pub prev: String,
}

pub struct Journal {
    path: PathBuf,
    file: File,
    plan: String,
    /// The hash the next line links to.
    last: String,
    /// Told after each line is synced (a copy kept elsewhere follows the file).
    observer: Option<Observer>,
}

/// Called after each journal line is on disk.
pub type Observer = std::sync::Arc<dyn Fn() + Send + Sync>;

/// The journal path for a plan: `plan.json` → `plan.journal.jsonl`.
pub fn path_for(plan: &Path) -> PathBuf {
    let stem = plan
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "plan".into());
    plan.with_file_name(format!("{stem}.journal.jsonl"))
}

impl Journal {
    /// Opens (creating) the journal and returns it with every entry so far. A broken chain
    /// or another plan's line is refused with its line number.
    pub fn open(path: &Path, plan_digest: &str) -> Result<(Journal, Vec<Entry>)> {
        if crate::files::exists_no_follow(path)? {
            drop_torn_tail(path)?;
        }
        let (entries, last) = read_linked(path, plan_digest)?;
        let file = crate::files::open_append_no_follow(path)?;
        Ok((
            Journal {
                path: path.to_path_buf(),
                file,
                plan: plan_digest.to_string(),
                last,
                observer: None,
            },
            entries,
        ))
    }

    /// Appends one entry, linked to the one before, and makes it durable before returning.
    pub fn record(&mut self, event: Event, assignment_id: &str, detail: &str) -> Result<()> {
        let entry = Entry {
            at: Utc::now(),
            event,
            assignment_id: assignment_id.to_string(),
            detail: detail.to_string(),
            plan: self.plan.clone(),
            prev: self.last.clone(),
        };
        // Plain strings and a date always serialise.
        let line = serde_json::to_string(&entry).unwrap_or_default();
        self.file
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|_| self.file.sync_data())
            .map_err(|e| Error::io(&self.path, e))?;
        self.last = crate::files::digest(line.as_bytes());
        if let Some(observer) = &self.observer {
            observer();
        }
        Ok(())
    }

    /// Tells `observer` after every line from now on.
    pub fn observe(&mut self, observer: Option<Observer>) {
        self.observer = observer;
    }
}

/// Every entry of a plan's journal (none when there is no journal), checked: each line parses,
/// belongs to this plan and links to the line before it, and names an item by an id of a kind
/// the plan format defines (put in its canonical form). The one reader of journals: apply
/// resumes from it, verify reports from it. A torn last line (a kill mid-write) is left out.
pub fn read(path: &Path, plan_digest: &str) -> Result<Vec<Entry>> {
    read_linked(path, plan_digest).map(|(entries, _)| entries)
}

/// [`read`], and the digest the next line must link to (the plan digest for no line).
fn read_linked(path: &Path, plan_digest: &str) -> Result<(Vec<Entry>, String)> {
    let mut entries = Vec::new();
    let Some(bytes) = crate::files::read_run_file(path, MAX_JOURNAL_BYTES)? else {
        return Ok((entries, plan_digest.to_string()));
    };
    let refuse = |line: usize, problem: String| {
        Error::refused(
            path,
            Refusal::Journal {
                path: path.display().to_string(),
                line,
                problem,
            },
        )
    };
    let mut last = plan_digest.to_string();
    // A torn last line (no newline: a kill mid-write) is no entry; `open` cuts it off.
    let whole = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(end) => &bytes[..=end],
        None => &bytes[..0],
    };
    for (index, line) in whole.split_inclusive(|b| *b == b'\n').enumerate() {
        let number = index + 1;
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let text =
            std::str::from_utf8(line).map_err(|_| refuse(number, "is not UTF-8 text".into()))?;
        let mut entry = serde_json::from_str::<Entry>(text)
            .map_err(|e| refuse(number, format!("is not a journal entry: {e}")))?;
        if entry.plan != plan_digest {
            return Err(refuse(
                number,
                format!(
                    "belongs to plan {}, not this plan ({plan_digest})",
                    entry.plan
                ),
            ));
        }
        if entry.prev != last {
            return Err(refuse(
                number,
                "does not link to the line before it: the journal was edited (a line changed, inserted or removed)".into(),
            ));
        }
        if entry.event != Event::Run {
            // Every item kind the plan format defines: assignments and access items.
            entry.assignment_id = crate::plan::parse_item_id(
                &entry.assignment_id,
                &format!("{} line {number}", path.display()),
            )?;
        }
        last = crate::files::digest(line);
        entries.push(entry);
    }
    Ok((entries, last))
}

/// A journal past this size is not one this tool wrote (a line is a few hundred bytes; a
/// plan has at most a few thousand items, each a handful of lines).
const MAX_JOURNAL_BYTES: u64 = 256 << 20;

/// A kill in the middle of a write can leave a partial last line (entries are written whole
/// and synced, so only the last can be torn): cut it off. Anything earlier that does not parse
/// is damage, and reported.
fn drop_torn_tail(path: &Path) -> Result<()> {
    let bytes = crate::files::read_run_file(path, MAX_JOURNAL_BYTES)?.unwrap_or_default();
    if bytes.is_empty() || bytes.last() == Some(&b'\n') {
        return Ok(());
    }
    let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    tracing::warn!(journal = %path.display(), "dropping a torn last line left by an interrupted run");
    let file = crate::files::open_write_no_follow(path)?;
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

    const X: &str = "11111111-1111-4111-8111-111111111111";
    const Y: &str = "22222222-2222-4222-8222-222222222222";

    fn written(path: &Path) {
        let (mut journal, entries) = Journal::open(path, "sha256:a").unwrap();
        assert!(entries.is_empty());
        journal.record(Event::Run, "", "alice, bob").unwrap();
        journal.record(Event::Sending, X, "").unwrap();
        journal.record(Event::Reprocessed, X, "202").unwrap();
        journal.record(Event::Sending, Y, "").unwrap();
    }

    #[test]
    fn resumes_and_tolerates_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.journal.jsonl");
        written(&path);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"{\"at\":\"2026-");
        std::fs::write(&path, bytes).unwrap();
        let (mut journal, entries) = Journal::open(&path, "sha256:a").unwrap();
        let last = last_events(&entries);
        assert_eq!(last[X].event, Event::Reprocessed);
        assert_eq!(last[Y].event, Event::Sending);
        journal.record(Event::Failed, Y, "boom").unwrap();
        let (_, entries) = Journal::open(&path, "sha256:a").unwrap();
        assert_eq!(last_events(&entries)[Y].event, Event::Failed);
    }

    fn refusal(path: &Path, plan: &str) -> (usize, String) {
        match Journal::open(path, plan).err() {
            Some(Error::Refused {
                reason: Refusal::Journal { line, problem, .. },
                ..
            }) => (line, problem),
            other => panic!("expected a journal refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_forged_removed_or_foreign_line_breaks_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.journal.jsonl");
        written(&path);
        let original = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = original.lines().collect();

        // Another plan's journal.
        assert_eq!(refusal(&path, "sha256:b").0, 1);

        // A forged outcome for an item that was never sent, inserted before the last line.
        let forged = lines[2].replace(X, Y);
        let text = [lines[0], lines[1], lines[2], &forged, lines[3]].join("\n") + "\n";
        std::fs::write(&path, text).unwrap();
        assert_eq!(refusal(&path, "sha256:a").0, 4);

        // The run line deleted.
        let text = lines[1..].join("\n") + "\n";
        std::fs::write(&path, text).unwrap();
        let (line, problem) = refusal(&path, "sha256:a");
        assert_eq!(line, 1);
        assert!(problem.contains("does not link"), "{problem}");

        // An edited detail.
        let text = original.replacen("\"202\"", "\"204\"", 1);
        std::fs::write(&path, text).unwrap();
        assert_eq!(refusal(&path, "sha256:a").0, 4);
    }

    #[test]
    fn every_item_kind_reads_back_in_its_canonical_form() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.journal.jsonl");
        let access = "access-0123456789abcdef";
        {
            let (mut journal, _) = Journal::open(&path, "sha256:a").unwrap();
            journal.record(Event::Run, "", "ada").unwrap();
            journal.record(Event::Sending, access, "").unwrap();
            journal
                .record(Event::Accepted, access, "exception x")
                .unwrap();
            journal
                .record(Event::Reprocessed, &X.to_ascii_uppercase(), "202")
                .unwrap();
        }
        let (mut journal, entries) = Journal::open(&path, "sha256:a").unwrap();
        let last = last_events(&entries);
        assert_eq!(last[access].event, Event::Accepted);
        assert_eq!(
            last[X].event,
            Event::Reprocessed,
            "upper case read as canonical"
        );
        journal.record(Event::Failed, "../x", "").unwrap();
        let error = Journal::open(&path, "sha256:a").err().unwrap().to_string();
        assert!(
            error.contains("line 5") && error.contains("../x"),
            "{error}"
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
