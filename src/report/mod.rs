//! Writers of the run folder: findings as CSV and Excel, the plan as JSON. Writers only: what
//! they write is computed by the audit and the plan.

pub mod cells;
mod charts;
mod csv_report;
mod history_csv;
pub mod html;
pub mod summary_md;

pub mod words;
mod xlsx;
mod xlsx_history;
mod xlsx_readme;
mod xlsx_summary;

pub use crate::audit::rows::StringRows;
pub use csv_report::{neutralise, unneutralise, write_csv, write_findings_csv};
pub use history_csv::{
    write_exceptions_csv, write_resolved_csv, EXCEPTIONS_CSV, EXCEPTION_COLUMNS, RESOLVED_CSV,
};
pub use xlsx::{
    sheet_columns, write_workbook, write_workbook_with, WorkbookExtras, WorkbookInput,
    EXCEL_MAX_ROWS,
};
pub use xlsx_history::{TrendPoint, EXCEPTIONS_SHEET, RESOLVED_SHEET};

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

/// A one-way signal between writers running at once: opened once, waited on by any number.
/// The workbook opens it when its rows are written, so that the other writers take the core
/// its single-threaded compression leaves idle instead of the two its rows use.
#[derive(Debug, Default)]
pub struct Gate {
    open: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
}

impl Gate {
    pub fn open(&self) {
        *self.open.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.opened.notify_all();
    }

    /// Returns once the gate is open (at once if it is).
    pub fn wait(&self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        while !*open {
            open = self.opened.wait(open).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Opens the gate when dropped: a writer that fails or panics before opening it never
    /// leaves the others waiting.
    pub fn opened_on_drop(&self) -> impl Drop + '_ {
        struct Opener<'a>(&'a Gate);
        impl Drop for Opener<'_> {
            fn drop(&mut self) {
                self.0.open();
            }
        }
        Opener(self)
    }
}

pub const FINDINGS_CSV: &str = "findings.csv";
pub const DRIFT_XLSX: &str = "drift.xlsx";
pub const PLAN_JSON: &str = "plan.json";

/// `<root>/<tenant>`: the folder of a tenant's runs, its `index.csv` and its lock.
pub fn tenant_dir(root: &Path, tenant_id: &str) -> PathBuf {
    root.join(safe_component(&tenant_id.to_ascii_lowercase()))
}

/// The UTC timestamp a run folder is named by (`20261129T080000Z`, `-N` added when taken).
pub const RUN_NAME_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// The name a run folder started at `at` is given first.
pub fn run_stamp(at: DateTime<Utc>) -> String {
    at.format(RUN_NAME_FORMAT).to_string()
}

/// Creates `<root>/<tenant>/<UTC timestamp>/`, never reusing an existing folder.
pub fn create_run_dir(root: &Path, tenant_id: &str, at: DateTime<Utc>) -> Result<PathBuf> {
    let tenant_dir = tenant_dir(root, tenant_id);
    std::fs::create_dir_all(&tenant_dir).map_err(|e| Error::io(&tenant_dir, e))?;
    let stamp = run_stamp(at);
    for attempt in 0..1000 {
        let name = if attempt == 0 {
            stamp.clone()
        } else {
            format!("{stamp}-{attempt}")
        };
        let dir = tenant_dir.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&dir, e)),
        }
    }
    Err(Error::Capacity(format!(
        "too many runs for `{}` within one second",
        tenant_dir.display()
    )))
}

/// A tenant id is a GUID; anything else is made safe to use as one path component.
fn safe_component(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    match cleaned.trim_matches('.') {
        "" => "tenant".to_string(),
        trimmed => trimmed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_dirs_are_unique_and_safe() {
        let root = tempfile::tempdir().unwrap();
        let at = DateTime::parse_from_rfc3339("2026-11-29T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let first = create_run_dir(root.path(), "../evil/id", at).unwrap();
        let second = create_run_dir(root.path(), "../evil/id", at).unwrap();
        assert_eq!(first, root.path().join("_evil_id/20261129T080000Z"));
        assert_eq!(second, root.path().join("_evil_id/20261129T080000Z-1"));
    }
}

#[cfg(test)]
mod gate_tests {
    use super::Gate;

    #[test]
    fn a_gate_releases_every_waiter_once_opened_even_by_a_failing_writer() {
        let gate = Gate::default();
        std::thread::scope(|scope| {
            let waiters: Vec<_> = (0..3).map(|_| scope.spawn(|| gate.wait())).collect();
            let failing = scope.spawn(|| {
                let _open = gate.opened_on_drop();
                panic!("the workbook failed");
            });
            for waiter in waiters {
                waiter.join().unwrap();
            }
            assert!(failing.join().is_err());
        });
        gate.wait();
    }
}
