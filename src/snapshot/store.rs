//! Stored snapshots: the six tables as Parquet plus `snapshot.json` (tenant, times, counts,
//! Graph requests, per-resource read status, table digests). Re-auditing one gives the same
//! findings as the run that took it.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::resource_read::ResourceRead;
use super::{col, Snapshot, SnapshotInfo, Tables};
use crate::error::{Error, FrameContext, Result};
use crate::files::digest;
use crate::graph::StatsReport;

pub const MANIFEST: &str = "snapshot.json";
pub const FORMAT: &str = "entra-drift/snapshot";
/// Version 2 adds the assignment requests (`requests.parquet`); version 3 the audit-log events
/// (`events.parquet`, `audit_log` in the manifest) and the assignments' start. Versions 1 and 2
/// are still read: their findings say the log was not recorded.
pub const VERSION: u32 = 3;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotManifest {
    pub format: String,
    pub version: u32,
    pub tenant_id: String,
    #[serde(default)]
    pub tenant_name: Option<String>,
    pub source: String,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    /// Rows per table.
    pub counts: BTreeMap<String, usize>,
    /// Graph requests, resource units and throttled waits (live snapshots only).
    #[serde(default)]
    pub graph: Option<StatsReport>,
    /// How each governed resource was read (live snapshots only).
    #[serde(default)]
    pub resources: Vec<ResourceRead>,
    /// `<table>.parquet` → `sha256:<hex>` of the file.
    pub tables: BTreeMap<String, String>,
    /// Why the assignment requests were not read, when they were not.
    #[serde(default)]
    pub requests_unread: Option<String>,
    /// Whether and for which window the audit log was read (version 3).
    #[serde(default)]
    pub audit_log: Option<super::AuditLog>,
}

/// The tables in a fixed order, with the columns each must have.
fn table_specs(tables: &Tables) -> [(&'static str, &DataFrame, &'static [&'static str]); 8] {
    [
        (
            "packages",
            &tables.packages,
            &[col::PACKAGE_ID, col::PACKAGE_NAME, col::CATALOG_ID],
        ),
        (
            "package_roles",
            &tables.package_roles,
            &[
                col::PACKAGE_ID,
                col::RESOURCE_TYPE,
                col::RESOURCE_ID,
                col::ROLE,
                col::COLLECTION,
                col::RESOURCE_NAME,
                col::ROLE_NAME,
                col::ORIGIN_SYSTEM,
            ],
        ),
        (
            "assignments",
            &tables.assignments,
            &[
                col::ASSIGNMENT_ID,
                col::PACKAGE_ID,
                col::STATE,
                col::STATUS,
                col::TARGET_NAME,
                col::TARGET_PRINCIPAL_NAME,
                col::TARGET_ID,
                col::ASSIGNMENT_START,
            ],
        ),
        (
            "users",
            &tables.users,
            &[
                col::USER_ID,
                col::USER_NAME,
                col::USER_UPN,
                col::USER_ENABLED,
                col::USER_TYPE,
            ],
        ),
        (
            "holdings",
            &tables.holdings,
            &[
                col::RESOURCE_TYPE,
                col::RESOURCE_ID,
                col::ROLE,
                col::PRINCIPAL_ID,
                col::PRINCIPAL_TYPE,
            ],
        ),
        (
            "resource_status",
            &tables.resource_status,
            &[
                col::RESOURCE_TYPE,
                col::RESOURCE_ID,
                col::COLLECTION,
                col::READ_STATUS,
                col::READ_REASON,
                col::RESOURCE_NAME,
            ],
        ),
        (
            REQUESTS,
            &tables.requests,
            &[
                col::REQUEST_ID,
                col::ASSIGNMENT_ID,
                col::REQUEST_STATE,
                col::COMPLETED_AT,
            ],
        ),
        (
            EVENTS,
            &tables.events,
            &[
                col::EVENT_ID,
                col::EVENT_TIME,
                col::CHANGE,
                col::RESOURCE_TYPE,
                col::RESOURCE_ID,
                col::ROLE,
                col::USER_ID,
                col::ACTOR,
                col::ACTOR_ID,
                col::ACTOR_KIND,
                col::ACTIVITY,
                col::CORRELATION_ID,
            ],
        ),
    ]
}

/// The table version 1 snapshots lack.
const REQUESTS: &str = "requests";
/// The table versions 1 and 2 lack.
const EVENTS: &str = "events";

pub struct StoreExtras {
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub graph: Option<StatsReport>,
    pub resources: Vec<ResourceRead>,
}

/// Writes the tables and manifest into `dir` (created if needed).
pub fn write(dir: &Path, snapshot: &Snapshot, extras: StoreExtras) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut counts = BTreeMap::new();
    let mut digests = BTreeMap::new();
    for (name, frame, _) in table_specs(&snapshot.tables) {
        let file_name = format!("{name}.parquet");
        let path = dir.join(&file_name);
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut frame = frame.clone();
        ParquetWriter::new(file)
            .finish(&mut frame)
            .frame("writing a snapshot table")?;
        let bytes = entra_model::input::read_bytes(&path)?;
        digests.insert(file_name, digest(&bytes));
        counts.insert(name.to_string(), frame.height());
    }
    let manifest = SnapshotManifest {
        format: FORMAT.to_string(),
        version: VERSION,
        tenant_id: snapshot.info.tenant_id.clone(),
        tenant_name: snapshot.info.tenant_name.clone(),
        source: snapshot.info.source.clone(),
        started: extras.started,
        finished: extras.finished,
        counts,
        graph: extras.graph,
        resources: extras.resources,
        tables: digests,
        requests_unread: snapshot.tables.requests_unread.clone(),
        audit_log: Some(snapshot.tables.audit_log.clone()),
    };
    let path = dir.join(MANIFEST);
    let text = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
    crate::files::write_durable(&path, (text + "\n").as_bytes())?;
    Ok(path)
}

/// Reads a stored snapshot, refusing one whose tables do not match the manifest's digests.
pub fn read(dir: &Path) -> Result<(Snapshot, SnapshotManifest)> {
    let manifest_path = dir.join(MANIFEST);
    let manifest: SnapshotManifest = entra_model::read_json(&manifest_path)?;
    if manifest.format != FORMAT || !(1..=VERSION).contains(&manifest.version) {
        return Err(Error::inconsistent(
            manifest_path.display().to_string(),
            format!(
                "is `{}` version {}; this entra-drift reads `{FORMAT}` version {VERSION}",
                manifest.format, manifest.version
            ),
        ));
    }
    let empty = Tables::empty()?;
    let specs = table_specs(&empty);
    let load = |(name, empty_frame, columns): &(&str, &DataFrame, &[&str])| -> Result<DataFrame> {
        if (*name == REQUESTS && manifest.version < 2) || (*name == EVENTS && manifest.version < 3)
        {
            return Ok((*empty_frame).clone());
        }
        let file_name = format!("{name}.parquet");
        let path = dir.join(&file_name);
        let started = std::time::Instant::now();
        let bytes = entra_model::input::read_bytes(&path)?;
        let expected = manifest.tables.get(&file_name).ok_or_else(|| {
            Error::inconsistent(
                manifest_path.display().to_string(),
                format!("lists no digest for `{file_name}`"),
            )
        })?;
        if &digest(&bytes) != expected {
            return Err(Error::inconsistent(
                path.display().to_string(),
                "does not match the digest in snapshot.json: the snapshot was changed after it was taken",
            ));
        }
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "read and checked the digest of {file_name}"
        );
        let started = std::time::Instant::now();
        let mut frame = decode_parquet(bytes, &path)?;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "decoded {file_name}"
        );
        if *name == "assignments" && manifest.version < 3 {
            // Earlier versions did not keep the start: unknown, never "inside the window".
            let height = frame.height();
            frame
                .with_column(Column::full_null(
                    col::ASSIGNMENT_START.into(),
                    height,
                    &DataType::Int64,
                ))
                .frame("reading an earlier snapshot")?;
        }
        frame.select(columns.iter().copied()).map_err(|e| {
            Error::inconsistent(path.display().to_string(), format!("missing a column: {e}"))
        })
    };
    // Every table at once (the three large ones each take a second or more to decode). The
    // decoder's panic on corrupt data is caught per table; its message is kept off stderr by
    // one quiet hook for them all, as a hook swapped per thread could be left in place.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let joined: Vec<std::thread::Result<Result<DataFrame>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = specs
            .iter()
            .map(|spec| scope.spawn(move || load(spec)))
            .collect();
        handles.into_iter().map(|handle| handle.join()).collect()
    });
    // Restored before any other panic goes on, so that its message is not lost.
    std::panic::set_hook(hook);
    let frames: Vec<Result<DataFrame>> = joined
        .into_iter()
        .map(|joined| joined.unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
        .collect();
    // The first failure in the tables' order, whichever thread ended first.
    let frames = frames.into_iter().collect::<Result<Vec<DataFrame>>>()?;
    let mut frames = frames.into_iter();
    // One frame per table spec, in order (pushed above for every spec).
    let mut next = || frames.next().unwrap_or_default();
    let tables = Tables {
        packages: next(),
        package_roles: next(),
        assignments: next(),
        users: next(),
        holdings: next(),
        resource_status: next(),
        requests: next(),
        requests_unread: if manifest.version < 2 {
            Some("a version-1 stored snapshot holds no assignment requests".into())
        } else {
            manifest.requests_unread.clone()
        },
        events: next(),
        audit_log: match (&manifest.audit_log, manifest.version) {
            (Some(log), 3..) => log.clone(),
            _ => super::AuditLog::Unread {
                reason: format!(
                    "a version-{} stored snapshot holds no audit-log events",
                    manifest.version
                ),
            },
        },
    };
    let started = std::time::Instant::now();
    super::checks::check(&tables, dir)?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "checked the tables"
    );
    let snapshot = Snapshot {
        info: SnapshotInfo {
            tenant_id: manifest.tenant_id.clone(),
            tenant_name: manifest.tenant_name.clone(),
            taken_at: manifest.started,
            source: format!("stored snapshot {} ({})", dir.display(), manifest.source),
        },
        tables,
    };
    Ok((snapshot, manifest))
}

/// Decodes one Parquet file. The decoder can panic on corrupt data (seen with a table whose
/// bytes were changed and its digest recomputed): that panic is caught here and becomes an
/// error naming the file ([`read`] keeps the panic message off stderr).
fn decode_parquet(bytes: Vec<u8>, path: &Path) -> Result<DataFrame> {
    let corrupt = |detail: String| {
        Error::inconsistent(
            path.display().to_string(),
            format!("is not a readable Parquet table: {detail}"),
        )
    };
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ParquetReader::new(std::io::Cursor::new(bytes)).finish()
    }));
    match decoded {
        Ok(Ok(frame)) => Ok(frame),
        Ok(Err(error)) => Err(corrupt(error.to_string())),
        Err(_) => Err(corrupt("the decoder failed on corrupt data".into())),
    }
}

impl Tables {
    /// Tables with no rows (and the right columns).
    pub fn empty() -> Result<Tables> {
        super::SnapshotBuilder::new().finish()
    }

    /// Frees every table's rows, keeping what the audit log was: once the audit has composed
    /// its findings, a large tenant's tables are most of a run's memory, and the reports need
    /// none of them (unless the snapshot itself is to be stored).
    pub fn release_rows(&mut self) -> Result<()> {
        let audit_log = std::mem::replace(&mut self.audit_log, super::AuditLog::Skipped);
        let requests_unread = self.requests_unread.take();
        *self = Tables {
            audit_log,
            requests_unread,
            ..Tables::empty()?
        };
        Ok(())
    }

    /// Forgets the audit log (`--no-causes` on a stored snapshot).
    pub fn skip_audit_log(&mut self) -> Result<()> {
        self.events = Tables::empty()?.events;
        self.audit_log = super::AuditLog::Skipped;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_tables_keep_their_columns_and_what_the_audit_log_was() {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/contoso"));
        let mut tables = super::super::tenant_dir::read(root).unwrap().tables;
        tables.requests_unread = Some("not recorded".into());
        // Unlike the empty tables' own, so that losing it shows.
        let audit_log = super::super::AuditLog::Unread {
            reason: "read elsewhere".into(),
        };
        assert_ne!(Tables::empty().unwrap().audit_log, audit_log);
        tables.audit_log = audit_log.clone();
        assert!(tables.assignments.height() > 0 && tables.holdings.height() > 0);
        tables.release_rows().unwrap();
        let empty = Tables::empty().unwrap();
        for (released, reference) in [
            (&tables.packages, &empty.packages),
            (&tables.package_roles, &empty.package_roles),
            (&tables.assignments, &empty.assignments),
            (&tables.users, &empty.users),
            (&tables.holdings, &empty.holdings),
            (&tables.resource_status, &empty.resource_status),
            (&tables.requests, &empty.requests),
            (&tables.events, &empty.events),
        ] {
            assert_eq!(released.height(), 0);
            assert_eq!(released.schema(), reference.schema());
        }
        assert_eq!(tables.audit_log, audit_log);
        assert_eq!(tables.requests_unread.as_deref(), Some("not recorded"));
    }
}
