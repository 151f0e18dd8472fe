//! `entra-drift audit`: snapshot → findings → reports and plan in a new run folder.

use std::path::{Path, PathBuf};

use chrono::Utc;

use super::{connect, Outcome};
use crate::audit::{self, summary};
use crate::cli::AuditArgs;
use crate::error::Result;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::report::{self, WorkbookInput, EXCEL_MAX_ROWS};
use crate::snapshot::store::{self, StoreExtras};
use crate::snapshot::{live, Snapshot};
use crate::tenant_dir::TenantDir;

/// Folder of a run that holds the stored snapshot of a live audit.
pub const SNAPSHOT_DIR: &str = "snapshot";

pub struct Written {
    pub run_dir: PathBuf,
    pub files: Vec<PathBuf>,
    pub summary: summary::Summary,
    pub plan_items: Option<usize>,
}

pub fn run(args: &AuditArgs, quiet: bool) -> Result<Outcome> {
    let (snapshot, extras) = load(args, quiet)?;
    let written = audit_and_report(
        &snapshot,
        &args.output.out,
        !args.no_plan,
        args.plan_expiry_days,
        extras,
    )?;
    if !quiet {
        print_summary(&snapshot, &written);
    }
    println!("{}", written.run_dir.display());
    Ok(if written.summary.total == 0 {
        Outcome::Clean
    } else {
        Outcome::Drift {
            detailed_exitcode: args.detailed_exitcode,
        }
    })
}

/// Reads the snapshot from whichever source the flags name. A live read also returns what
/// is needed to store it beside the reports.
fn load(args: &AuditArgs, quiet: bool) -> Result<(Snapshot, Option<StoreExtras>)> {
    if let Some(dir) = &args.tenant_dir {
        tracing::info!(dir = %dir.display(), "reading tenant directory");
        return Ok((TenantDir::read(dir)?.to_snapshot()?, None));
    }
    if let Some(dir) = &args.snapshot {
        tracing::info!(dir = %dir.display(), "reading stored snapshot");
        return Ok((store::read(dir)?.0, None));
    }
    let taken = read_live(&args.graph, quiet)?;
    let extras = StoreExtras {
        started: taken.started,
        finished: taken.finished,
        graph: Some(taken.stats),
        resources: taken.resources,
    };
    Ok((taken.snapshot, Some(extras)))
}

/// A live snapshot from Microsoft Graph.
pub fn read_live(graph: &crate::cli::GraphArgs, quiet: bool) -> Result<live::LiveSnapshot> {
    let connection = connect::connect(graph, "")?;
    let progress = Progress::new(quiet);
    connect::runtime()?.block_on(live::read(
        &connection.client,
        &connection.tenant_id,
        &connection.graph_root,
        &progress,
    ))
}

/// The part shared by every source: audit the snapshot and write the run folder (with the
/// snapshot itself when `stored` is given).
pub fn audit_and_report(
    snapshot: &Snapshot,
    out: &Path,
    with_plan: bool,
    expiry_days: i64,
    stored: Option<StoreExtras>,
) -> Result<Written> {
    let started = std::time::Instant::now();
    let findings = audit::audit(&snapshot.tables)?;
    tracing::info!(
        findings = findings.height(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "audit done"
    );
    let summary = summary::summarise(&findings)?;
    let generated_at = Utc::now();
    let run_dir = report::create_run_dir(out, &snapshot.info.tenant_id, generated_at)?;

    let mut files = Vec::new();
    if let Some(extras) = stored {
        files.push(store::write(&run_dir.join(SNAPSHOT_DIR), snapshot, extras)?);
    }
    let csv_path = run_dir.join(report::FINDINGS_CSV);
    report::write_findings_csv(&csv_path, &findings)?;
    files.push(csv_path);

    let plan = if with_plan {
        let plan = Plan::new(&snapshot.info, &findings, generated_at, expiry_days)?;
        let path = run_dir.join(report::PLAN_JSON);
        plan.write(&path)?;
        files.push(path);
        Some(plan)
    } else {
        None
    };

    let xlsx_path = run_dir.join(report::DRIFT_XLSX);
    report::write_workbook(
        &xlsx_path,
        &WorkbookInput {
            info: &snapshot.info,
            generated_at,
            findings: &findings,
            summary: &summary,
            plan: plan.as_ref(),
            max_data_rows: EXCEL_MAX_ROWS - 1,
        },
    )?;
    files.push(xlsx_path);
    files.sort();
    Ok(Written {
        run_dir,
        files,
        summary,
        plan_items: plan.map(|p| p.items.len()),
    })
}

fn print_summary(snapshot: &Snapshot, written: &Written) {
    let info = &snapshot.info;
    eprintln!(
        "Audited tenant {} ({}) from {}",
        info.tenant_name.as_deref().unwrap_or("?"),
        info.tenant_id,
        info.source
    );
    for count in &written.summary.categories {
        eprintln!("  {:<27} {:>8}", count.category, count.findings);
    }
    eprintln!("  {:<27} {:>8}", "total", written.summary.total);
    match written.plan_items {
        Some(items) => eprintln!("Reprocess plan: {items} assignment(s)"),
        None => eprintln!("Reprocess plan: not written (--no-plan)"),
    }
    eprintln!("Wrote:");
    for file in &written.files {
        eprintln!("  {}", file.display());
    }
}
