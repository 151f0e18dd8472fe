//! Where a run's state lives and who hears of it: the exceptions register at a URL, the lock
//! and staged history before the run; after the run folder is written, where it goes (a local `--out`, or Blob Storage through a
//! staging folder: history staged in, the run published create-only, the index committed,
//! retention applied to blobs) and who is told (notifications, recorded in `index.csv`).

use std::path::{Path, PathBuf};

use super::audit::Written;
use super::connect;
use super::remote::{Lease, Remote};
use crate::error::Result;
use crate::exceptions::{self, Register};
use crate::history::{self, RunIndex, INDEX_CSV};
use crate::lock::RunLock;
use crate::notify::{self, Delivery, RunSummary};
use crate::output::Printer;
use crate::report;
use crate::settings::AuditSettings;
use crate::snapshot::SnapshotInfo;

/// The tenant's lock, whichever kind the location has.
pub enum Held {
    Local(RunLock),
    Blob(Lease),
}

/// Takes the tenant's lock; on Blob Storage, then stages what the run reads of the tenant's
/// history: `index.csv`, the previous run's findings (new, persisting, resolved) and the
/// newest run's manifest (the evidence chain's link).
pub fn hold(settings: &AuditSettings, remote: Option<&mut Remote>, tenant: &str) -> Result<Held> {
    let Some(remote) = remote else {
        return RunLock::acquire(
            &report::tenant_dir(&settings.out, tenant),
            settings.lock_max_age,
            settings.now,
        )
        .map(Held::Local);
    };
    let folder = tenant_folder(tenant);
    let lease = remote.lease(&folder)?;
    // Folders of this run's time that exist already (a crashed run's uncommitted uploads)
    // are shown to the run-folder naming as taken: it picks the next name, and never writes
    // into them (they are left for whoever looks into the crash).
    let stamp = report::run_stamp(settings.now);
    for taken in remote.folders_named(&folder, &stamp)? {
        let path = remote.root().join(&folder).join(taken);
        std::fs::create_dir_all(&path).map_err(|e| crate::error::Error::io(&path, e))?;
    }
    if remote.fetch(&format!("{folder}/{INDEX_CSV}"))? {
        let index = RunIndex::read(&remote.root().join(&folder))?;
        if let Some(last) = index.records.last() {
            remote.fetch(&format!(
                "{folder}/{}/{}",
                last.run,
                crate::evidence::MANIFEST_JSON
            ))?;
        }
        for record in index.records.iter().rev().filter(|r| r.pruned_at.is_none()) {
            if remote.fetch(&format!("{folder}/{}/{}", record.run, report::FINDINGS_CSV))? {
                break;
            }
        }
    }
    Ok(Held::Blob(lease))
}

/// The exceptions register at a URL, read through a staged copy; it is named by its URL.
pub fn read_register(settings: &AuditSettings, tenant: &str) -> Result<Option<Register>> {
    let Some(path) = settings.exceptions.as_deref() else {
        return Ok(None);
    };
    let Some(staged) = super::staged::stage_file(path, &settings.graph, Some(tenant))? else {
        return exceptions::read(path).map(Some);
    };
    let mut register = exceptions::read(&staged.path).map_err(|e| staged.name_errors(e))?;
    register.path = path.to_path_buf();
    Ok(Some(register))
}

/// The tenant's folder name below the root (as `report::tenant_dir` makes it).
pub fn tenant_folder(tenant: &str) -> String {
    report::tenant_dir(Path::new(""), tenant)
        .to_string_lossy()
        .into_owned()
}

/// Publishes a run written into the staging folder: its files create-only, then the index
/// row that commits it, then retention (blobs deleted, or kept and marked). Fills `written`
/// with what retention did.
pub fn publish(
    remote: &mut Remote,
    settings: &AuditSettings,
    tenant: &str,
    written: &mut Written,
    printer: &Printer,
) -> Result<()> {
    let folder = tenant_folder(tenant);
    let relative = written
        .run_dir
        .strip_prefix(remote.root())
        .unwrap_or(&written.run_dir)
        .to_path_buf();
    remote.publish_new(&relative)?;
    let staged = remote.root().join(&folder);
    let index = RunIndex::read(&staged)?;
    let ours: Vec<_> = index.records.last().cloned().into_iter().collect();
    remote.commit_index(&folder, &ours)?;
    // The run is committed: from here on a problem is reported, never the run's failure.
    if let Some(keep) = settings.keep {
        match retention(remote, &folder, keep, settings.now, printer) {
            Ok(pruned) => written.pruned = pruned,
            Err(error) => printer.alert(format_args!(
                "Retention did not finish (the run is committed; the next run retries): {}",
                entra_model::error::chain(&error)
            )),
        }
    }
    Ok(())
}

/// Retention on Blob Storage: the pruned marks are committed first, then the blobs deleted,
/// so an interrupted deletion leaves runs the index already calls pruned. A run whose lease
/// is held (an apply running on its plan) is left for the next run. Blobs the service keeps
/// (an immutability policy, a legal hold) are reported in the row's `retention` column.
fn retention(
    remote: &mut Remote,
    folder: &str,
    keep: usize,
    now: chrono::DateTime<chrono::Utc>,
    printer: &Printer,
) -> Result<Vec<String>> {
    let staged = remote.root().join(folder);
    let mut index = RunIndex::read(&staged)?;
    let mut pruned = history::prune(&staged, &mut index, keep, now);
    let mut busy = Vec::new();
    for run in &pruned {
        if remote.in_use(folder, run)? {
            printer.alert(format_args!(
                "Retention: run {run} is in use (an apply holds its lease); it is pruned by a later run"
            ));
            busy.push(run.clone());
        }
    }
    for record in index.records.iter_mut().filter(|r| busy.contains(&r.run)) {
        record.pruned_at = None;
    }
    pruned.retain(|run| !busy.contains(run));
    if pruned.is_empty() {
        return Ok(pruned);
    }
    let marked: Vec<_> = index
        .records
        .iter()
        .filter(|r| pruned.contains(&r.run))
        .cloned()
        .collect();
    index.write()?;
    remote.commit_index(folder, &marked)?;
    let mut noted = Vec::new();
    for run in &pruned {
        if let Some(note) = remote.delete_run(folder, run)? {
            printer.alert(format_args!("Retention: run {run}: {note}"));
            if let Some(record) = index.records.iter_mut().find(|r| &r.run == run) {
                record.retention = Some(note);
                noted.push(record.clone());
            }
        }
    }
    if !noted.is_empty() {
        index.write()?;
        remote.commit_index(folder, &noted)?;
    }
    Ok(pruned)
}

/// Sends the notifications due for this run and records each outcome in its `index.csv` row.
/// Returns whether any failed. A failure never changes the run: it is reported on stderr.
pub fn notify(
    settings: &AuditSettings,
    remote: Option<&mut Remote>,
    info: &SnapshotInfo,
    written: &Written,
    printer: &Printer,
) -> Result<bool> {
    if settings.notify.is_empty() {
        return Ok(false);
    }
    let summary = summary_of(settings, remote.as_deref(), info, written);
    let due: Vec<_> = settings
        .notify
        .iter()
        .filter(|t| t.due(&summary))
        .cloned()
        .collect();
    if due.is_empty() {
        printer.status(format_args!(
            "Notifications: none due for this run ({} configured)",
            settings.notify.len()
        ));
        return Ok(false);
    }
    let deliveries = send(settings, &info.tenant_id, &due, &summary);
    let mut failed = false;
    for delivery in &deliveries {
        match &delivery.result {
            Ok(done) => printer.status(format_args!("Notified {}: {done}", delivery.label)),
            Err(problem) => {
                failed = true;
                printer.alert(format_args!(
                    "Notification to {} failed: {problem} (the run is written and committed)",
                    delivery.label
                ));
            }
        }
    }
    if let Err(error) = record(remote, &info.tenant_id, &written.run_dir, &deliveries) {
        printer.alert(format_args!(
            "The notifications' outcome could not be recorded in index.csv: {}",
            entra_model::error::chain(&error)
        ));
    }
    Ok(failed)
}

fn send(
    settings: &AuditSettings,
    tenant: &str,
    due: &[notify::Target],
    summary: &RunSummary,
) -> Vec<Delivery> {
    let failed_all = |problem: String| -> Vec<Delivery> {
        due.iter()
            .map(|t| Delivery {
                label: t.label(),
                kind: t.kind,
                result: Err(problem.clone()),
            })
            .collect()
    };
    let runtime = match connect::runtime() {
        Ok(runtime) => runtime,
        Err(error) => return failed_all(error.to_string()),
    };
    let http = match crate::graph::build_http_client() {
        Ok(http) => http,
        Err(error) => return failed_all(error.to_string()),
    };
    // Mail goes through Graph with the audit's own credential; an offline audit signs in to
    // the audited tenant unless --tenant names another.
    let graph = if due.iter().any(|t| t.kind == notify::Kind::Mail) {
        let mut args = settings.graph.clone();
        if args.tenant.is_none() {
            args.tenant = Some(tenant.to_string());
        }
        match connect::connect(&args, "") {
            Ok(connection) => Some(connection.client),
            Err(error) => {
                tracing::warn!(%error, "no Graph connection for mail");
                None
            }
        }
    } else {
        None
    };
    runtime.block_on(notify::deliver(due, summary, graph.as_ref(), &http))
}

/// Writes the outcomes into the run's index row (ETag-conditionally on Blob Storage).
fn record(
    remote: Option<&mut Remote>,
    tenant: &str,
    run_dir: &Path,
    deliveries: &[Delivery],
) -> Result<()> {
    let text = deliveries
        .iter()
        .map(Delivery::describe)
        .collect::<Vec<_>>()
        .join("; ");
    let run = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tenant_dir = run_dir.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut index = RunIndex::read(&tenant_dir)?;
    let Some(row) = index.records.iter_mut().find(|r| r.run == run) else {
        return Ok(());
    };
    row.notifications = Some(text);
    let changed = vec![row.clone()];
    index.write()?;
    if let Some(remote) = remote {
        remote.commit_index(&tenant_folder(tenant), &changed)?;
    }
    Ok(())
}

fn summary_of(
    settings: &AuditSettings,
    remote: Option<&Remote>,
    info: &SnapshotInfo,
    written: &Written,
) -> RunSummary {
    let location = match remote {
        Some(remote) => remote.url_of(&written.run_dir),
        None => std::path::absolute(&written.run_dir)
            .unwrap_or_else(|_| written.run_dir.clone())
            .display()
            .to_string(),
    };
    let workbook: PathBuf = written.run_dir.join(report::DRIFT_XLSX);
    RunSummary {
        tenant_id: info.tenant_id.clone(),
        tenant_name: info.tenant_name.clone(),
        run: written
            .run_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        report_url: remote.map(|_| format!("{location}/{}", report::html::REPORT_HTML)),
        location,
        generated_at: settings.now,
        previous_run: written.previous.clone(),
        total: written.summary.total,
        new: written.new,
        persisting: written.persisting,
        resolved: written.resolved,
        excepted: written.excepted,
        categories: written
            .summary
            .categories
            .iter()
            .map(|c| (c.category.to_string(), c.findings))
            .collect(),
        workbook: workbook.is_file().then_some(workbook),
    }
}
