//! `entra-drift audit`: settings → lock → snapshot → findings (scoped, annotated with history
//! and exceptions) → reports, plan and evidence in a new run folder → index and retention.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::remote::Remote;
use super::{connect, deliver, Outcome};
use crate::audit::annotate::{self, exception_rows, Annotated, ExceptionRow, EXCEPTION_EXPIRED};
use crate::audit::scope::{self, Scope};
use crate::audit::{self as audit_stage, summary};
use crate::cli::AuditArgs;
use crate::error::Result;
use crate::evidence::{self, ManifestInput};
use crate::exceptions::{self, Register};
use crate::history::{self, NewRun, RunIndex, TrendPoint, TREND_RUNS};
use crate::output::Printer;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::report;
use crate::settings::{self, AuditSettings, Given, Source};
use crate::snapshot::store::{self, StoreExtras};
use crate::snapshot::Snapshot;
use crate::{clock, config};

/// Folder of a run that holds the stored snapshot of a live audit.
pub const SNAPSHOT_DIR: &str = "snapshot";

pub struct Written {
    pub run_dir: PathBuf,
    pub files: Vec<PathBuf>,
    pub summary: summary::Summary,
    /// The plan's items and how many wait on `decide`.
    pub plan_items: Option<(usize, usize)>,
    pub previous: Option<String>,
    pub new: usize,
    pub persisting: usize,
    pub resolved: usize,
    pub excepted: usize,
    /// Ids of the register's exceptions that have expired.
    pub expired_exceptions: Vec<String>,
    /// Run folders deleted by retention.
    pub pruned: Vec<String>,
}

/// How a run is written, beyond the snapshot.
pub struct RunOptions<'a> {
    pub out: &'a Path,
    pub with_plan: bool,
    pub expiry_days: i64,
    pub now: DateTime<Utc>,
    pub scope: &'a Scope,
    pub register: Option<&'a Register>,
    pub keep: Option<usize>,
    /// The key that seals the manifest (`manifest.sig`).
    pub sign_key: Option<&'a Path>,
    pub progress: &'a Progress,
    /// The live read's Graph figures, for the summary and the index.
    pub graph: Option<crate::graph::StatsReport>,
    /// Each plan item's default action by category and cause.
    pub remedies: &'a crate::plan::Remedies,
}

pub fn run(
    args: &AuditArgs,
    given: &Given,
    config_path: Option<&Path>,
    printer: &Printer,
) -> Result<Outcome> {
    let now = clock::now()?;
    let config = config_path.map(config::read).transpose()?;
    let settings = settings::resolve_audit(args, given, config.as_ref(), now)?;
    // A bad register must fail the run before Graph is read or anything is written; one in
    // Blob Storage is read as soon as the tenant to sign in to is known.
    let register_remote = settings
        .exceptions
        .as_deref()
        .is_some_and(super::staged::is_url);
    let mut register = match &settings.exceptions {
        Some(path) if !register_remote => Some(exceptions::read(path)?),
        _ => None,
    };

    // A blob location is staged in a private folder that stands in for `--out`.
    let mut remote = None;
    let open = |tenant: &str| -> Result<Option<Remote>> {
        settings
            .out_blob
            .clone()
            .map(|location| Remote::open(location, &settings.graph, Some(tenant)))
            .transpose()
    };
    // A live read is long: lock before it, by the tenant the flags name. Offline sources are
    // read first (quickly), since their tenant id is inside them.
    let early = match (&settings.source, &settings.graph.tenant) {
        (Source::Live, Some(tenant)) => {
            if register_remote {
                register = deliver::read_register(&settings, tenant)?;
            }
            remote = open(tenant)?;
            Some(deliver::hold(&settings, remote.as_mut(), tenant)?)
        }
        _ => None,
    };
    let progress = connect::progress(printer);
    let out = remote
        .as_ref()
        .map(|r| r.root().to_path_buf())
        .unwrap_or_else(|| settings.out.clone());
    let (mut snapshot, extras) = load(&settings, &out, &progress)?;
    let graph = extras.as_ref().and_then(|e| e.graph.clone());
    let tenant = snapshot.info.tenant_id.clone();
    let _held = match early {
        Some(held) => held,
        None => {
            if register_remote {
                register = deliver::read_register(&settings, &tenant)?;
            }
            remote = open(&tenant)?;
            deliver::hold(&settings, remote.as_mut(), &tenant)?
        }
    };
    let out = remote
        .as_ref()
        .map(|r| r.root().to_path_buf())
        .unwrap_or_else(|| settings.out.clone());
    let mut written = audit_and_report(
        &mut snapshot,
        &RunOptions {
            out: &out,
            with_plan: settings.with_plan,
            expiry_days: settings.plan_expiry_days,
            now,
            scope: &settings.scope,
            register: register.as_ref(),
            // On Blob Storage, retention runs after the run is published.
            keep: settings.keep.filter(|_| remote.is_none()),
            sign_key: settings.sign_key.as_deref(),
            progress: &progress,
            graph: graph.clone(),
            remedies: &settings.remedies,
        },
        extras,
    )?;
    if let Some(remote) = remote.as_mut() {
        deliver::publish(remote, &settings, &tenant, &mut written, printer)?;
    }
    let shown = |path: &Path| match &remote {
        Some(remote) => remote.url_of(path),
        None => path.display().to_string(),
    };
    if !printer.is_quiet() {
        print_summary(
            printer,
            &snapshot,
            &written,
            &progress,
            graph.as_ref(),
            &shown,
        );
    }
    let run_shown = shown(&written.run_dir);
    publish_step_summary(printer, &written.run_dir);
    let notify_failed = deliver::notify(
        &settings,
        remote.as_mut(),
        &snapshot.info,
        &written,
        printer,
    )?;
    printer.data(format_args!("{run_shown}"))?;
    if notify_failed && settings.notify_required {
        return Ok(Outcome::NotifyFailed);
    }
    // Excepted findings are accepted drift: a scheduler hears only about the rest.
    Ok(if written.summary.total == written.excepted {
        Outcome::Clean
    } else {
        Outcome::Drift {
            detailed_exitcode: settings.detailed_exitcode,
        }
    })
}

/// Appends `summary.md` to the CI job page when the job runs on GitHub Actions
/// (`GITHUB_STEP_SUMMARY` names the page's file). A failure only warns: the run is committed.
fn publish_step_summary(printer: &Printer, run_dir: &Path) {
    let Some(target) = std::env::var_os(STEP_SUMMARY_VARIABLE).filter(|v| !v.is_empty()) else {
        return;
    };
    let appended = std::fs::read(run_dir.join(report::summary_md::SUMMARY_MD)).and_then(|text| {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&target)?;
        file.write_all(&text)?;
        file.write_all(b"\n")
    });
    if let Err(error) = appended {
        printer.alert(format_args!(
            "{STEP_SUMMARY_VARIABLE} ({}) could not be appended to: {error}",
            Path::new(&target).display()
        ));
    }
}

/// GitHub Actions' job summary file.
pub const STEP_SUMMARY_VARIABLE: &str = "GITHUB_STEP_SUMMARY";

/// Reads the snapshot from whichever source the settings name. A live read also returns what
/// is needed to store it beside the reports.
fn load(
    settings: &AuditSettings,
    out: &Path,
    progress: &Progress,
) -> Result<(Snapshot, Option<StoreExtras>)> {
    match &settings.source {
        Source::TenantDir(dir) => {
            let stage = progress.stage("tenant directory", None);
            let snapshot = crate::snapshot::tenant_dir::read_with(dir, &settings.log)?;
            stage
                .counter()
                .add(snapshot.tables.assignments.height() as u64);
            stage.finish();
            Ok((snapshot, None))
        }
        Source::Snapshot(dir) => {
            let stage = progress.stage("stored snapshot", None);
            // A stored snapshot in Blob Storage (`snapshot --out <url>`) is staged first; its
            // tenant is inside it, so the identity signs in to --tenant or AZURE_TENANT_ID.
            let tenant = std::env::var("AZURE_TENANT_ID").ok();
            let staged = super::staged::stage_folder(dir, &settings.graph, tenant.as_deref())?;
            let dir = staged.as_ref().map_or(dir.as_path(), |s| s.path.as_path());
            let mut snapshot = store::read(dir)
                .map_err(|e| super::staged::named(staged.as_ref(), e))?
                .0;
            if !settings.log.read {
                snapshot.tables.skip_audit_log()?;
            }
            stage
                .counter()
                .add(snapshot.tables.assignments.height() as u64);
            stage.finish();
            Ok((snapshot, None))
        }
        Source::Live => {
            let tenant_dir = settings
                .graph
                .tenant
                .as_deref()
                .map(|tenant| report::tenant_dir(out, tenant));
            let expected = tenant_dir.as_deref().and_then(history::last_counts);
            let log = crate::snapshot::LogRequest {
                previous: tenant_dir.as_deref().and_then(history::last_snapshot_time),
                ..settings.log
            };
            let (snapshot, extras) =
                connect::read_live(&settings.graph, &settings.read, progress, expected, log)?
                    .into_stored();
            Ok((snapshot, Some(extras)))
        }
    }
}

/// What one audit decided, before anything is written: findings scoped and annotated with
/// history and exceptions, their summary, and the register's state.
pub struct Composed {
    pub annotated: Annotated,
    /// The plan's items and digests, made once beside marking the findings (`None` without
    /// a plan).
    pub plan_items: Option<crate::plan::Planned>,
    pub summary: summary::Summary,
    pub exceptions: Option<Vec<ExceptionRow>>,
    pub expired_exceptions: Vec<String>,
}

/// The pure step: joins, scope, annotation and summary (no file is read or written).
pub fn compose(
    snapshot: &Snapshot,
    options: &RunOptions,
    previous: Option<&annotate::Previous>,
) -> Result<Composed> {
    let started = std::time::Instant::now();
    // Findings are as of the snapshot: a recorded tenant audited a month later still judges its
    // failed deliveries' retry window at its own time (apply re-checks live before a retry).
    let findings = audit_stage::audit_at(&snapshot.tables, snapshot.info.taken_at)?;
    tracing::info!(
        findings = findings.height(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "audit done"
    );
    let (findings, scoped) = scope::apply(findings, &snapshot.tables, options.scope)?;
    for entry in &scoped.unknown {
        tracing::warn!(%entry, "the scope names no catalog or package of this tenant");
    }
    if !options.scope.is_everything() {
        tracing::info!(
            packages = scoped.packages_in_scope,
            of = scoped.packages_total,
            dropped = scoped.findings_dropped,
            "scope applied"
        );
    }
    let today = options.now.date_naive();
    let mut annotated = annotate::annotate(findings, previous, options.register, today)?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "findings annotated"
    );
    let plan_items = if options.with_plan {
        // Every view counts "in plan" as plan.json does. The digests read the findings' key
        // columns, which marking leaves as they are: the findings' digest is made on a second
        // core while the items are, the items' digest while the findings are marked.
        let (covering, findings_digest) = crate::threads::both(
            || crate::plan::plan_items_covering(&annotated.findings, options.remedies),
            || crate::plan::findings_digest(&annotated.findings),
        );
        let (covering, findings_digest) = (covering?, findings_digest?);
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "plan items made"
        );
        let findings =
            std::mem::replace(&mut annotated.findings, polars::prelude::DataFrame::empty());
        let (marked, items_digest) = crate::threads::both(
            || crate::plan::mark_findings(findings, &covering),
            || crate::plan::items_digest(&covering.items),
        );
        annotated.findings = marked?;
        Some(crate::plan::Planned {
            items: covering.items,
            findings_digest,
            items_digest,
        })
    } else {
        None
    };
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "findings marked in plan"
    );
    let summary = summary::summarise(&annotated.findings)?;
    let exceptions = options
        .register
        .map(|register| exception_rows(register, &annotated.exception_use, today));
    let expired_exceptions: Vec<String> = exceptions
        .iter()
        .flatten()
        .filter(|row| row.state == EXCEPTION_EXPIRED)
        .map(|row| {
            tracing::warn!(exception = %row.id, expired = %row.expires, findings = row.findings, "an exception has expired and no longer applies; renew it or remove it from the register");
            row.id.clone()
        })
        .collect();
    Ok(Composed {
        annotated,
        plan_items,
        summary,
        exceptions,
        expired_exceptions,
    })
}

/// The part shared by every source: compose the audit, write the run folder (with the
/// snapshot itself when `stored` is given), seal it with its manifest, commit it to the index,
/// and apply retention. The caller holds the tenant's lock.
///
/// Unless the snapshot is to be stored, its tables' rows are released once the audit is
/// composed (the reports need only the findings).
pub fn audit_and_report(
    snapshot: &mut Snapshot,
    options: &RunOptions,
    stored: Option<StoreExtras>,
) -> Result<Written> {
    let tenant_id = &snapshot.info.tenant_id;
    let tenant_dir = report::tenant_dir(options.out, tenant_id);
    let mut index = RunIndex::read(&tenant_dir)?;
    let previous = history::previous_run(&tenant_dir, &index)?;
    let stage = options.progress.stage("audit", None);
    let mut composed = compose(snapshot, options, previous.as_ref())?;
    let plan_items = composed.plan_items.take();
    let read = Read {
        assignments: snapshot.tables.assignments.height() as u64,
        users: snapshot.tables.users.height() as u64,
    };
    if stored.is_none() {
        snapshot.tables.release_rows()?;
    }
    let snapshot = &*snapshot;
    stage.counter().add(composed.summary.total as u64);
    stage.finish();

    let run_dir = report::create_run_dir(options.out, tenant_id, options.now)?;
    let run_name = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let trend = trend_with(&index, &run_name, options.now, &composed);
    let stage = options
        .progress
        .stage("reports", Some(composed.summary.total as u64));
    let (mut files, plan) = super::audit_reports::write_reports(
        &run_dir,
        &run_name,
        snapshot,
        &composed,
        plan_items,
        options,
        previous.as_ref(),
        &trend,
        stored,
        stage.counter(),
    )?;
    stage.finish();
    let stage = options.progress.stage("evidence", None);
    let manifest_sha256 = seal(&run_dir, &index, tenant_id, options, &mut files)?;
    stage.counter().add(files.len() as u64);
    stage.finish();
    commit(
        &mut index,
        &run_name,
        snapshot,
        read,
        &composed,
        options,
        manifest_sha256,
    )?;
    let pruned = match options.keep {
        Some(keep) => {
            let pruned = history::prune(&tenant_dir, &mut index, keep, options.now);
            if !pruned.is_empty() {
                index.write()?;
            }
            pruned
        }
        None => Vec::new(),
    };

    files.sort();
    let annotated = &composed.annotated;
    Ok(Written {
        run_dir,
        files,
        plan_items: plan.as_ref().map(Plan::counts),
        previous: previous.map(|p| p.run),
        new: annotated.new,
        persisting: annotated.persisting,
        resolved: annotated.resolved.len(),
        excepted: annotated.excepted,
        summary: composed.summary,
        expired_exceptions: composed.expired_exceptions,
        pruned,
    })
}

fn counts(composed: &Composed) -> [usize; 5] {
    std::array::from_fn(|i| composed.summary.categories[i].findings)
}

/// The index's trend with this run appended (at most [`TREND_RUNS`] runs).
fn trend_with(
    index: &RunIndex,
    run: &str,
    now: DateTime<Utc>,
    composed: &Composed,
) -> Vec<TrendPoint> {
    let annotated = &composed.annotated;
    let mut trend = history::trend(&index.records);
    trend.push(TrendPoint {
        run: run.to_string(),
        generated_at: now,
        categories: counts(composed),
        total: composed.summary.total,
        new: annotated.new,
        resolved: annotated.resolved.len(),
        excepted: annotated.excepted,
    });
    if trend.len() > TREND_RUNS {
        trend.remove(0);
    }
    trend
}

/// Last: the manifest seals every file above and links to the previous run of the index;
/// with a sign key, `manifest.sig` signs it. Returns the manifest's digest.
fn seal(
    run_dir: &Path,
    index: &RunIndex,
    tenant_id: &str,
    options: &RunOptions,
    files: &mut Vec<PathBuf>,
) -> Result<String> {
    let previous_in_chain = index.records.last().map(|r| r.run.clone());
    let manifest_sha256 = evidence::write_manifest(&ManifestInput {
        run_dir,
        tenant_id,
        created: options.now,
        previous: previous_in_chain.as_deref(),
    })?;
    files.push(run_dir.join(evidence::MANIFEST_JSON));
    if let Some(key) = options.sign_key {
        // The seal: a signature over the manifest's digest, before the index commits the run.
        let signature = super::keys::sign(
            key,
            crate::trust::EVIDENCE_NAMESPACE,
            evidence::seal_message(&manifest_sha256).as_bytes(),
        )?;
        let path = run_dir.join(evidence::MANIFEST_SIG);
        crate::files::write_durable(&path, signature.as_bytes())?;
        files.push(path);
    }
    Ok(manifest_sha256)
}

/// How much the snapshot held, for the index (its rows may be released by then).
#[derive(Clone, Copy)]
struct Read {
    assignments: u64,
    users: u64,
}

/// The index row commits the run (retention runs only after it is written).
fn commit(
    index: &mut RunIndex,
    run: &str,
    snapshot: &Snapshot,
    read: Read,
    composed: &Composed,
    options: &RunOptions,
    manifest_sha256: String,
) -> Result<()> {
    let now = options.now;
    let annotated = &composed.annotated;
    let in_plan: usize = composed.summary.categories.iter().map(|c| c.in_plan).sum();
    index.records.push(
        NewRun {
            run,
            generated_at: now,
            snapshot_taken_at: snapshot.info.taken_at,
            source: &snapshot.info.source,
            categories: counts(composed),
            new: annotated.new,
            persisting: annotated.persisting,
            resolved: annotated.resolved.len(),
            excepted: annotated.excepted,
            in_plan,
            manifest_sha256,
            assignments: read.assignments,
            users: read.users,
            graph: options.graph.clone(),
            stages: crate::progress::describe(&options.progress.finished()),
        }
        .record(),
    );
    index.write()
}

fn print_summary(
    printer: &Printer,
    snapshot: &Snapshot,
    written: &Written,
    progress: &Progress,
    graph: Option<&crate::graph::StatsReport>,
    shown: &dyn Fn(&Path) -> String,
) {
    let info = &snapshot.info;
    match &info.tenant_name {
        Some(name) => printer.status(format_args!(
            "Audited tenant {name} ({}) from {}",
            info.tenant_id, info.source
        )),
        None => printer.status(format_args!(
            "Audited tenant {} from {}",
            info.tenant_id, info.source
        )),
    }
    for count in &written.summary.categories {
        printer.status(format_args!(
            "  {:<27} {:>8}",
            count.category, count.findings
        ));
    }
    printer.status(format_args!(
        "  {:<27} {:>8}",
        "total", written.summary.total
    ));
    match &written.previous {
        Some(previous) => printer.status(format_args!(
            "Since {previous}: {} new, {} persisting, {} resolved",
            written.new, written.persisting, written.resolved
        )),
        None => printer.status(format_args!(
            "First run of this tenant: every finding is new"
        )),
    }
    if written.excepted > 0 || !written.expired_exceptions.is_empty() {
        printer.status(format_args!("Excepted: {} finding(s)", written.excepted));
    }
    if !written.expired_exceptions.is_empty() {
        printer.status(format_args!(
            "Expired exceptions (no longer applied): {}",
            written.expired_exceptions.join(", ")
        ));
    }
    printer.status(format_args!(
        "Audit log: {}",
        snapshot.tables.audit_log.describe()
    ));
    if !written.summary.causes.is_empty() {
        let causes: Vec<String> = written
            .summary
            .causes
            .iter()
            .map(|(cause, n)| format!("{cause} {n}"))
            .collect();
        let kinds: Vec<String> = written
            .summary
            .actor_kinds
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect();
        printer.status(format_args!(
            "Causes: {}{}",
            causes.join(", "),
            if kinds.is_empty() {
                String::new()
            } else {
                format!(" (by {})", kinds.join(", "))
            }
        ));
    }
    match written.plan_items {
        Some(counts) => printer.status(format_args!("Plan: {}", report::html::plan_line(counts))),
        None => printer.status(format_args!("Plan: not written (--no-plan)")),
    }
    if !written.pruned.is_empty() {
        printer.status(format_args!(
            "Retention: deleted {} old run folder(s): {}",
            written.pruned.len(),
            written.pruned.join(", ")
        ));
    }
    printer.status(format_args!(
        "Stages: {}",
        crate::progress::describe(&progress.finished())
    ));
    if let Some(graph) = graph {
        printer.status(format_args!(
            "Graph: {} requests ({} batched), {} resource units, {} throttled, {:.1} s waited",
            graph.requests,
            graph.batched_requests,
            graph.resource_units,
            graph.throttled,
            graph.throttle_wait_ms as f64 / 1000.0
        ));
    }
    printer.status(format_args!("Wrote:"));
    for file in &written.files {
        printer.status(format_args!("  {}", shown(file)));
    }
}
