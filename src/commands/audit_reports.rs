//! The audit's writers: the plan, then every report at once over the same frames (the
//! findings and other CSVs, `plan.json`, the workbook, the page with `summary.md`, and a live
//! run's stored snapshot), each on its own thread.

use std::path::{Path, PathBuf};

use super::audit::{Composed, RunOptions, SNAPSHOT_DIR};
use crate::audit::annotate::{self, Annotated};
use crate::error::Result;
use crate::history::TrendPoint;
use crate::plan::Plan;
use crate::progress::Counter;
use crate::report::{self, WorkbookExtras, WorkbookInput, EXCEL_MAX_ROWS};
use crate::snapshot::store::{self, StoreExtras};
use crate::snapshot::Snapshot;

/// The writers: the stored snapshot (live runs), findings, resolved and exceptions CSVs, the
/// plan and the workbook. Returns the files written and the plan.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_reports(
    run_dir: &Path,
    run_name: &str,
    snapshot: &Snapshot,
    composed: &Composed,
    plan_items: Option<crate::plan::Planned>,
    options: &RunOptions,
    previous: Option<&annotate::Previous>,
    trend: &[TrendPoint],
    stored: Option<StoreExtras>,
    rows: &Counter,
) -> Result<(Vec<PathBuf>, Option<Plan>)> {
    let annotated = &composed.annotated;
    // The plan first: the workbook and the views show it. Then every writer at once, each on
    // its own thread over the same frames (one core idled while they ran one after another).
    let started = std::time::Instant::now();
    let plan = plan_items.map(|planned| {
        Plan::with_items(
            &snapshot.info,
            planned,
            run_name,
            options.now,
            options.expiry_days,
        )
    });
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "plan built"
    );
    let snapshot_path = run_dir.join(SNAPSHOT_DIR);
    let csv_path = run_dir.join(report::FINDINGS_CSV);
    let resolved_path = previous.map(|_| run_dir.join(report::RESOLVED_CSV));
    let exceptions_path = composed
        .exceptions
        .as_ref()
        .map(|_| run_dir.join(report::EXCEPTIONS_CSV));
    let plan_path = plan.as_ref().map(|_| run_dir.join(report::PLAN_JSON));
    let xlsx_path = run_dir.join(report::DRIFT_XLSX);
    let html_path = run_dir.join(report::html::REPORT_HTML);
    let summary_path = run_dir.join(report::summary_md::SUMMARY_MD);
    let mut files: Vec<PathBuf> = stored
        .as_ref()
        .map(|_| snapshot_path.clone())
        .into_iter()
        .chain([csv_path.clone()])
        .chain(resolved_path.clone())
        .chain(exceptions_path.clone())
        .chain(plan_path.clone())
        .chain([xlsx_path.clone(), html_path.clone()])
        .collect();
    // summary.md lists the run's files: these, itself and the manifest.
    let mut names: Vec<String> = files
        .iter()
        .filter_map(|f| f.strip_prefix(run_dir).ok())
        .map(|f| f.display().to_string())
        .collect();
    names.push(report::summary_md::SUMMARY_MD.to_string());
    names.push(crate::evidence::MANIFEST_JSON.to_string());
    files.push(summary_path.clone());

    let plan_ref = plan.as_ref();
    let waiting = report::words::waiting(&annotated.findings, plan_ref)?;
    // The workbook's rows take both cores and its compression one: the other writers start
    // once its rows are written, on the core its compression leaves idle (at `xl`, the
    // reports ended ~1.5 s sooner than with every writer started at once).
    let rows_written = report::Gate::default();
    let csvs = || -> Result<()> {
        rows_written.wait();
        report::write_findings_csv(&csv_path, &annotated.findings)?;
        if let Some(path) = &resolved_path {
            report::write_resolved_csv(path, &annotated.resolved)?;
        }
        if let (Some(path), Some(rows)) = (&exceptions_path, &composed.exceptions) {
            report::write_exceptions_csv(path, rows)?;
        }
        Ok(())
    };
    let plan_json = || -> Result<()> {
        rows_written.wait();
        if let (Some(path), Some(plan)) = (&plan_path, plan_ref) {
            plan.write(path)?;
        }
        Ok(())
    };
    let workbook = || -> Result<()> {
        let _open = rows_written.opened_on_drop();
        report::write_workbook_with(
            &xlsx_path,
            &WorkbookInput {
                info: &snapshot.info,
                run: run_name.to_string(),
                generated_at: options.now,
                findings: &annotated.findings,
                summary: &composed.summary,
                plan: plan_ref,
                max_data_rows: EXCEL_MAX_ROWS - 1,
                rows: Some(rows),
                waiting: &waiting,
            },
            &WorkbookExtras {
                facts: facts(
                    &snapshot.tables.audit_log,
                    annotated,
                    previous.map(|p| p.run.as_str()),
                    options,
                    composed.expired_exceptions.len(),
                ),
                trend,
                resolved: previous.map(|_| annotated.resolved.as_slice()),
                exceptions: composed.exceptions.as_deref(),
                rows_written: Some(&rows_written),
            },
        )
    };
    let views = || -> Result<()> {
        rows_written.wait();
        let view = report::html::ViewInput {
            info: &snapshot.info,
            run: run_name,
            previous_run: previous.map(|p| p.run.as_str()),
            generated_at: options.now,
            audit_log: snapshot.tables.audit_log.describe(),
            findings: &annotated.findings,
            summary: &composed.summary,
            trend,
            plan_items: plan_ref.map(Plan::counts),
            resolved: &annotated.resolved,
            exceptions: composed.exceptions.as_deref(),
            max_rows: report::html::MAX_HTML_ROWS,
            waiting: waiting.clone(),
        };
        report::html::write_html(&html_path, &view)?;
        let markdown = report::summary_md::render(
            &view,
            annotated.new,
            annotated.persisting,
            annotated.excepted,
            &names,
        );
        crate::files::write_durable(&summary_path, markdown.as_bytes())
    };
    let stored_snapshot = || -> Result<()> {
        if let Some(extras) = stored {
            store::write(&snapshot_path, snapshot, extras)?;
        }
        Ok(())
    };
    // Each writer's time, for the benchmarks' profile (`-v`).
    fn timed(name: &'static str, write: impl FnOnce() -> Result<()>) -> Result<()> {
        let started = std::time::Instant::now();
        let result = write();
        tracing::info!(
            writer = name,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "report written"
        );
        result
    }
    let results: Vec<Result<()>> = std::thread::scope(|scope| {
        let handles = [
            scope.spawn(|| timed("workbook", workbook)),
            scope.spawn(|| timed("views", views)),
            scope.spawn(|| timed("csv", csvs)),
            scope.spawn(|| timed("plan.json", plan_json)),
        ];
        // The stored snapshot on this thread: its writer is not shared with the others.
        let mut results = vec![timed("stored snapshot", stored_snapshot)];
        results.extend(handles.into_iter().map(crate::threads::joined));
        results
    });
    // The first failure, in a fixed order, whichever thread ended first.
    results.into_iter().collect::<Result<()>>()?;
    Ok((files, plan))
}

/// The Summary sheet's extra facts.
fn facts(
    log: &crate::snapshot::AuditLog,
    annotated: &Annotated,
    previous: Option<&str>,
    options: &RunOptions,
    expired: usize,
) -> Vec<(&'static str, String)> {
    let mut facts = vec![
        (
            "Previous run",
            previous
                .unwrap_or("(none: first run of this tenant)")
                .to_string(),
        ),
        ("New findings", annotated.new.to_string()),
        ("Persisting findings", annotated.persisting.to_string()),
        (
            "Resolved since previous run",
            annotated.resolved.len().to_string(),
        ),
        ("Audit log (causes)", log.describe()),
    ];
    if let Some(register) = options.register {
        facts.push(("Exceptions register", register.path.display().to_string()));
        facts.push(("Excepted findings", annotated.excepted.to_string()));
        facts.push(("Expired exceptions", expired.to_string()));
    }
    if !options.scope.is_everything() {
        let scope = options.scope;
        let describe = |label: &str, values: &[String]| {
            (!values.is_empty()).then(|| format!("{label} {}", values.join(", ")))
        };
        let parts: Vec<String> = [
            describe("catalogs", &scope.include_catalogs),
            describe("packages", &scope.include_packages),
            describe("except catalogs", &scope.exclude_catalogs),
            describe("except packages", &scope.exclude_packages),
        ]
        .into_iter()
        .flatten()
        .collect();
        facts.push(("Scope", parts.join("; ")));
    }
    facts
}
