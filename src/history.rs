//! The run history of one tenant: `<out>/<tenant>/index.csv` (one row per finished audit, kept
//! after retention prunes the folder), the previous run's findings for `first_seen`, the trend
//! over past runs, and retention itself.
//!
//! `index.csv` is the commit point of a run: a run is appended only after its folder is
//! complete (manifest included). A run that failed half-way is not in the index, so the next
//! run neither compares itself with it nor links its evidence to it.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::annotate::{Key, Previous, PreviousRow, NAME_COLUMNS};
use crate::audit::col;
use crate::error::{Error, Result};
pub use crate::report::TrendPoint;
use crate::report::{unneutralise, FINDINGS_CSV, RUN_NAME_FORMAT};

pub const INDEX_CSV: &str = "index.csv";
/// Runs shown in the Summary sheet's trend (two years of weekly runs).
pub const TREND_RUNS: usize = 104;

/// One finished audit. Counts are after scope and exceptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run folder's name, inside the tenant folder.
    pub run: String,
    pub generated_at: DateTime<Utc>,
    pub snapshot_taken_at: DateTime<Utc>,
    pub source: String,
    pub findings: usize,
    pub missing_access: usize,
    pub resource_not_found: usize,
    pub unverifiable: usize,
    pub not_delivered: usize,
    pub access_without_assignment: usize,
    pub new: usize,
    pub persisting: usize,
    pub resolved: usize,
    pub excepted: usize,
    pub in_plan: usize,
    /// `sha256:<hex>` of the run's `manifest.json`.
    pub manifest_sha256: String,
    /// When retention deleted the run folder; empty while it exists.
    pub pruned_at: Option<DateTime<Utc>>,
    /// The snapshot's assignments and users (the next live run's time-left estimate).
    #[serde(default)]
    pub assignments: Option<u64>,
    #[serde(default)]
    pub users: Option<u64>,
    /// Graph figures of a live read (empty for offline sources).
    #[serde(default)]
    pub requests: Option<u64>,
    #[serde(default)]
    pub resource_units: Option<u64>,
    #[serde(default)]
    pub throttled: Option<u64>,
    #[serde(default)]
    pub throttle_wait_ms: Option<u64>,
    /// Each stage's duration: `sign-in 0.4 s, packages 1.2 s, ...`.
    #[serde(default)]
    pub stages: Option<String>,
    /// Why retention marked the run pruned without deleting it (storage that keeps blobs
    /// under an immutability policy or legal hold).
    #[serde(default)]
    pub retention: Option<String>,
    /// How each notification after the run went: `teams: sent (202); mail: failed (...)`.
    #[serde(default)]
    pub notifications: Option<String>,
}

impl RunRecord {
    /// Findings per category, in report order.
    pub fn categories(&self) -> [usize; 5] {
        [
            self.missing_access,
            self.resource_not_found,
            self.unverifiable,
            self.not_delivered,
            self.access_without_assignment,
        ]
    }
}

/// `index.csv` of a tenant folder.
#[derive(Debug, Clone)]
pub struct RunIndex {
    pub path: PathBuf,
    pub records: Vec<RunRecord>,
}

/// An index past this size is not one this tool wrote (a run adds a line of a few hundred bytes).
const MAX_INDEX_BYTES: u64 = 256 << 20;

impl RunIndex {
    /// Reads `<tenant folder>/index.csv`; a missing file is an empty history.
    pub fn read(tenant_dir: &Path) -> Result<RunIndex> {
        let path = tenant_dir.join(INDEX_CSV);
        let mut index = RunIndex {
            path: path.clone(),
            records: Vec::new(),
        };
        let Some(bytes) = crate::files::read_run_file(&path, MAX_INDEX_BYTES)? else {
            return Ok(index);
        };
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        for record in reader.deserialize() {
            index.records.push(record.map_err(|e| csv_error(&path, e))?);
        }
        Ok(index)
    }

    /// Writes the whole index durably (`files::write_durable`), so a crash never leaves half
    /// an index. Callers hold the tenant's lock.
    pub fn write(&self) -> Result<()> {
        let mut bytes = Vec::new();
        {
            let mut writer = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(&mut bytes);
            for record in &self.records {
                writer
                    .serialize(record)
                    .map_err(|e| csv_error(&self.path, e))?;
            }
            writer.flush().map_err(|e| Error::io(&self.path, e))?;
        }
        crate::files::write_durable(&self.path, &bytes)
    }

    pub fn find(&self, run: &str) -> Option<&RunRecord> {
        self.records.iter().find(|r| r.run == run)
    }

    /// The most recent run whose folder still exists.
    pub fn latest_kept(&self, tenant_dir: &Path) -> Option<&RunRecord> {
        self.records
            .iter()
            .rev()
            .find(|r| r.pruned_at.is_none() && tenant_dir.join(&r.run).is_dir())
    }
}

fn csv_error(path: &Path, error: csv::Error) -> Error {
    Error::Csv {
        path: path.to_path_buf(),
        source: error,
    }
}

/// The UTC instant a run folder's name encodes (`20261129T080000Z`, `20261129T080000Z-1`).
pub fn run_time(name: &str) -> Option<DateTime<Utc>> {
    let stamp = name.get(..16)?;
    NaiveDateTime::parse_from_str(stamp, RUN_NAME_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

/// The run this one compares itself with: the latest run of the index whose findings are
/// still on disk; without an index (runs written before history existed), the newest run
/// folder with a `findings.csv`.
pub fn previous_run(tenant_dir: &Path, index: &RunIndex) -> Result<Option<Previous>> {
    if !index.records.is_empty() {
        for record in index.records.iter().rev() {
            let csv = tenant_dir.join(&record.run).join(FINDINGS_CSV);
            // A findings.csv that is there but not a regular file (a FIFO, a link) is an
            // error, never a reason to compare with an older run.
            if record.pruned_at.is_none() && crate::files::exists_no_follow(&csv)? {
                return read_previous(&csv, &record.run, record.generated_at.date_naive())
                    .map(Some);
            }
            tracing::warn!(run = %record.run, "the run in index.csv has no findings.csv any more; comparing with the run before it");
        }
        return Ok(None);
    }
    let mut folders: Vec<(DateTime<Utc>, String)> = match std::fs::read_dir(tenant_dir) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.path().join(FINDINGS_CSV).is_file())
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                run_time(&name).map(|at| (at, name))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(tenant_dir, e)),
    };
    folders.sort();
    match folders.pop() {
        Some((at, name)) => {
            let csv = tenant_dir.join(&name).join(FINDINGS_CSV);
            read_previous(&csv, &name, at.date_naive()).map(Some)
        }
        None => Ok(None),
    }
}

/// Reads a previous `findings.csv` by column name, so that files with fewer columns (written
/// before history existed) still work: their findings were first seen on that run's day.
fn read_previous(path: &Path, run: &str, date: NaiveDate) -> Result<Previous> {
    // Streamed (a large tenant's findings run to hundreds of megabytes), from a file opened the
    // one way run files are: no link, no FIFO.
    let file = crate::files::open_run_file(path)?;
    let mut reader = csv::Reader::from_reader(std::io::BufReader::new(file));
    let header = reader.headers().map_err(|e| csv_error(path, e))?.clone();
    let position = |name: &str| header.iter().position(|h| h == name);
    let key_positions = col::REQUIRED
        .iter()
        .map(|name| {
            position(name).ok_or_else(|| {
                Error::inconsistent(
                    format!("`{}`", path.display()),
                    format!("the previous run's findings have no `{name}` column"),
                )
            })
        })
        .collect::<Result<Vec<usize>>>()?;
    let first_seen_at = position(col::FIRST_SEEN);
    let name_positions: Vec<Option<usize>> = NAME_COLUMNS.iter().map(|n| position(n)).collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, e))?;
        let cell = |at: usize| unneutralise(record.get(at).unwrap_or_default()).to_string();
        let key: Key = std::array::from_fn(|i| cell(key_positions[i]));
        let first_seen = match first_seen_at.map(&cell) {
            Some(text) if !text.is_empty() => NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                .map_err(|_| {
                    let line = record.position().map(|p| p.line()).unwrap_or(0);
                    Error::inconsistent(
                        format!("`{}` line {line}", path.display()),
                        format!("first_seen `{text}` is not a date (YYYY-MM-DD)"),
                    )
                })?,
            _ => date,
        };
        let names = std::array::from_fn(|i| name_positions[i].map(cell).unwrap_or_default());
        rows.push(PreviousRow {
            key,
            first_seen,
            names,
        });
    }
    Ok(Previous::new(run.to_string(), date, rows))
}

impl From<&RunRecord> for TrendPoint {
    fn from(record: &RunRecord) -> Self {
        TrendPoint {
            run: record.run.clone(),
            generated_at: record.generated_at,
            categories: record.categories(),
            total: record.findings,
            new: record.new,
            resolved: record.resolved,
            excepted: record.excepted,
        }
    }
}

/// The last [`TREND_RUNS`] runs, oldest first, pruned ones included (the index keeps counts).
pub fn trend(records: &[RunRecord]) -> Vec<TrendPoint> {
    let start = records.len().saturating_sub(TREND_RUNS);
    records[start..].iter().map(TrendPoint::from).collect()
}

/// The last run's `(assignments, users)` of a tenant, when its index records them.
pub fn last_counts(tenant_dir: &Path) -> Option<(u64, u64)> {
    let index = RunIndex::read(tenant_dir).ok()?;
    let last = index.records.last()?;
    Some((last.assignments?, last.users?))
}

/// When the previous run's snapshot was taken (the audit log is read back to it).
pub fn last_snapshot_time(tenant_dir: &Path) -> Option<DateTime<Utc>> {
    let index = RunIndex::read(tenant_dir).ok()?;
    Some(index.records.last()?.snapshot_taken_at)
}

/// Deletes the folders of the oldest kept runs beyond `keep` and marks them pruned in the
/// index (the caller writes it). Only folders the index lists are ever deleted: snapshots and
/// anything else in the tenant folder are left alone. Returns the pruned runs.
pub fn prune(
    tenant_dir: &Path,
    index: &mut RunIndex,
    keep: usize,
    now: DateTime<Utc>,
) -> Vec<String> {
    let kept: Vec<usize> = index
        .records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.pruned_at.is_none())
        .map(|(i, _)| i)
        .collect();
    let excess = kept.len().saturating_sub(keep.max(1));
    let mut pruned = Vec::new();
    for &at in &kept[..excess] {
        let record = &mut index.records[at];
        // A name from the index must be one plain folder name, never a path.
        if record.run.is_empty() || record.run.contains(['/', '\\']) || record.run.starts_with('.')
        {
            tracing::warn!(run = %record.run, "index.csv names a run that is not a plain folder name; not pruning it");
            continue;
        }
        let folder = tenant_dir.join(&record.run);
        match std::fs::remove_dir_all(&folder) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(folder = %folder.display(), error = %e, "retention could not delete an old run");
                continue;
            }
        }
        record.pruned_at = Some(now);
        pruned.push(record.run.clone());
    }
    pruned
}

/// Index row for a finished run.
pub struct NewRun<'a> {
    pub run: &'a str,
    pub generated_at: DateTime<Utc>,
    pub snapshot_taken_at: DateTime<Utc>,
    pub source: &'a str,
    pub categories: [usize; 5],
    pub new: usize,
    pub persisting: usize,
    pub resolved: usize,
    pub excepted: usize,
    pub in_plan: usize,
    pub manifest_sha256: String,
    pub assignments: u64,
    pub users: u64,
    pub graph: Option<crate::graph::StatsReport>,
    pub stages: String,
}

impl NewRun<'_> {
    pub fn record(self) -> RunRecord {
        let [missing_access, resource_not_found, unverifiable, not_delivered, access_without_assignment] =
            self.categories;
        RunRecord {
            run: self.run.to_string(),
            generated_at: self.generated_at,
            snapshot_taken_at: self.snapshot_taken_at,
            source: self.source.to_string(),
            findings: self.categories.iter().sum(),
            missing_access,
            resource_not_found,
            unverifiable,
            not_delivered,
            access_without_assignment,
            new: self.new,
            persisting: self.persisting,
            resolved: self.resolved,
            excepted: self.excepted,
            in_plan: self.in_plan,
            manifest_sha256: self.manifest_sha256,
            pruned_at: None,
            assignments: Some(self.assignments),
            users: Some(self.users),
            requests: self.graph.as_ref().map(|g| g.requests),
            resource_units: self.graph.as_ref().map(|g| g.resource_units),
            throttled: self.graph.as_ref().map(|g| g.throttled),
            throttle_wait_ms: self.graph.as_ref().map(|g| g.throttle_wait_ms),
            stages: Some(self.stages),
            retention: None,
            notifications: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn record(run: &str) -> RunRecord {
        NewRun {
            run,
            generated_at: run_time(run).unwrap(),
            snapshot_taken_at: run_time(run).unwrap(),
            source: "tenant directory x, with a comma",
            categories: [1, 2, 3, 4, 5],
            new: 1,
            persisting: 14,
            resolved: 0,
            excepted: 0,
            in_plan: 1,
            manifest_sha256: "sha256:00".into(),
            assignments: 10,
            users: 5,
            graph: None,
            stages: "audit 0.1 s".into(),
        }
        .record()
    }

    #[test]
    fn run_names_give_their_time() {
        assert_eq!(
            run_time("20261129T080000Z"),
            Some(at("2026-11-29T08:00:00Z"))
        );
        assert_eq!(
            run_time("20261129T080000Z-3"),
            Some(at("2026-11-29T08:00:00Z"))
        );
        assert_eq!(run_time("snapshot"), None);
    }

    #[test]
    fn the_index_round_trips_and_a_missing_one_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(RunIndex::read(dir.path()).unwrap().records.is_empty());
        let mut index = RunIndex::read(dir.path()).unwrap();
        index.records = vec![record("20261101T060000Z"), record("20261108T060000Z")];
        index.records[0].pruned_at = Some(at("2026-11-08T06:00:00Z"));
        index.write().unwrap();
        let back = RunIndex::read(dir.path()).unwrap();
        assert_eq!(back.records, index.records);
        assert_eq!(back.records[1].findings, 15);
    }

    #[test]
    fn prune_deletes_the_oldest_listed_runs_beyond_keep() {
        let dir = tempfile::tempdir().unwrap();
        let names = ["20261101T060000Z", "20261108T060000Z", "20261115T060000Z"];
        for name in names {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        std::fs::create_dir(dir.path().join("20261020T060000Z")).unwrap(); // not in the index
        let mut index = RunIndex {
            path: dir.path().join(INDEX_CSV),
            records: names.iter().map(|n| record(n)).collect(),
        };
        let now = at("2026-11-15T06:00:00Z");
        assert_eq!(prune(dir.path(), &mut index, 2, now), ["20261101T060000Z"]);
        assert!(!dir.path().join(names[0]).exists());
        assert!(dir.path().join(names[1]).exists() && dir.path().join("20261020T060000Z").exists());
        assert_eq!(index.records[0].pruned_at, Some(now));
        // Already pruned runs do not count against `keep`.
        assert!(prune(dir.path(), &mut index, 2, now).is_empty());
        assert_eq!(prune(dir.path(), &mut index, 1, now), [names[1]]);
    }

    #[test]
    fn previous_findings_without_history_columns_date_from_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("20261101T060000Z");
        std::fs::create_dir(&run).unwrap();
        std::fs::write(
            run.join(FINDINGS_CSV),
            "category,assignment_id,access_package_id,user_id,resource_type,resource_id,role,user_display_name\r\n\
             missing_access,a,p,u,group,g,member,'=HYPERLINK()\r\n",
        )
        .unwrap();
        let index = RunIndex::read(dir.path()).unwrap();
        let previous = previous_run(dir.path(), &index).unwrap().unwrap();
        assert_eq!(previous.run, "20261101T060000Z");
        assert_eq!(previous.rows.len(), 1);
        assert_eq!(
            previous.rows[0].first_seen,
            at("2026-11-01T00:00:00Z").date_naive()
        );
        assert_eq!(previous.rows[0].names[0], "=HYPERLINK()");
    }

    #[test]
    fn trend_keeps_the_most_recent_runs_in_order() {
        let records: Vec<RunRecord> = (0..TREND_RUNS + 3)
            .map(|i| {
                let mut r = record("20261101T060000Z");
                r.run = format!("run{i}");
                r
            })
            .collect();
        let points = trend(&records);
        assert_eq!(points.len(), TREND_RUNS);
        assert_eq!(points[0].run, "run3");
        assert_eq!(points.last().unwrap().total, 15);
    }
}
