//! `entra-drift apply PLAN`: refuse what must not run, then reprocess the approved items.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::Utc;

use super::staged;
use super::{connect, Outcome};
use crate::apply::{preflight, results, ApplyRun, Outcome as ItemOutcome};
use crate::cli::ApplyArgs;
use crate::config::Config;
use crate::error::{Error, Refusal, Result};
use crate::evidence;
use crate::lock::{RunLock, DEFAULT_MAX_AGE_HOURS};
use crate::output::Printer;
use crate::plan::Plan;
use crate::settings::{self, ApprovalSettings, Given};
use crate::trust::AllowedSigners;
use std::path::Path;

pub fn run(
    args: &ApplyArgs,
    given: &Given,
    config: Option<&Config>,
    printer: &Printer,
) -> Result<Outcome> {
    let mut settings = settings::resolve_apply(args, given, config)?;
    // A plan at a URL: its run folder's lease is taken, the folder staged and applied locally;
    // the journal's blob follows every line, and what else changed goes back at the end. So
    // does a register at a URL that `accept` appends to.
    let prefix = settings.env_prefix.clone();
    let mut staged = staged::stage_plan_as(&settings.plan, &settings.graph, &prefix, true)?;
    let mut register = match &settings.exceptions {
        Some(path) => staged::stage_file_as(path, &settings.graph, &prefix)?,
        None => None,
    };
    let mut mirror = None;
    if let Some(staged) = &staged {
        settings.plan = staged.path.clone();
        mirror = Some(
            staged
                .remote
                .mirror(&crate::apply::journal::path_for(&staged.path)),
        );
    }
    if let Some(register) = &register {
        settings.exceptions = Some(register.path.clone());
    }
    let shown = |path: &Path| match (&staged, &register) {
        (_, Some(register)) if path == register.path => register.remote.url_of(path),
        (Some(staged), _) => staged.remote.url_of(path),
        _ => path.display().to_string(),
    };
    let observer = mirror.as_ref().map(|m| m.observer());
    let result = apply_plan(&settings, printer, &shown, observer)
        .map_err(|e| staged::named(staged.as_ref(), e));
    // Every publish is attempted, whatever failed before: the first error is returned.
    let mut problems = Vec::new();
    if let (Some(mirror), Some(staged)) = (mirror, staged.as_mut()) {
        if let Err(error) = staged.remote.finish(mirror) {
            problems.push(error);
        }
    }
    for staged in [staged.as_mut(), register.as_mut()].into_iter().flatten() {
        if let Err(error) = staged::publish_after(staged, printer) {
            problems.push(error);
        }
    }
    match (result, problems.into_iter().next()) {
        (Err(error), _) => Err(error),
        (Ok(_), Some(error)) => Err(error),
        (Ok(outcome), None) => Ok(outcome),
    }
}

fn apply_plan(
    settings: &settings::ApplySettings,
    printer: &Printer,
    shown: &(dyn Fn(&Path) -> String + Sync),
    journal_observer: Option<crate::apply::journal::Observer>,
) -> Result<Outcome> {
    let args = settings;
    let plan = Plan::read(&args.plan)?;
    let dir = plan_folder(&args.plan);
    let run_dir = args.run.clone().unwrap_or_else(|| dir.to_path_buf());
    let refuse = |reason| Error::refused(&args.plan, reason);
    evidence::check_committed(&run_dir, &plan).map_err(refuse)?;
    let allowed = load_allowed(&args.approvals)?;
    let tenant = args.graph.tenant.clone().unwrap_or_default();
    let now = Utc::now();
    let approved = preflight(
        &plan,
        &tenant,
        now,
        args.max_items,
        args.max_removals,
        allowed.as_ref(),
        args.approvals.min_approvers,
    )
    .map_err(refuse)?;
    let accepts = approved
        .items
        .iter()
        .filter(|item| approved.decision.action_for(item) == crate::plan::Action::Accept)
        .count();
    if accepts > 0 && args.exceptions.is_none() {
        return Err(refuse(Refusal::AcceptNeedsRegister { count: accepts }));
    }
    // One apply per plan at a time, and one journal per plan: two would send items twice. The
    // lock is keyed by the plan's items in the tenant folder, so copies of the run folder
    // under the same --out (and copies of the plan named with --run) wait for each other,
    // and a copy is refused while the first copy's journal exists.
    let tenant_dir = plan_folder(&run_dir);
    let _lock = RunLock::acquire_plan(
        tenant_dir,
        &plan.items_digest,
        chrono::Duration::hours(DEFAULT_MAX_AGE_HOURS),
        now,
    )?;
    if !args.dry_run {
        let journal = crate::apply::journal::path_for(&args.plan);
        if let crate::lock::Claim::Elsewhere(journal) =
            crate::lock::claim_journal(tenant_dir, &plan.digest(), &journal)?
        {
            return Err(refuse(Refusal::AppliedElsewhere {
                journal: shown(Path::new(&journal)),
            }));
        }
    }
    let connection = connect::connect(&args.graph, &args.env_prefix)?;
    let progress = connect::progress(printer);
    let runtime = connect::runtime()?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let printer = *printer;
        runtime.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                printer.alert("interrupted: finishing the calls in flight, starting no new ones");
                stop.store(true, Ordering::SeqCst);
            }
        });
    }
    let register = std::sync::Mutex::new(());
    let accept = |item: &crate::plan::PlanItem, reason: &str| -> Result<String> {
        // One writer at a time: each append re-reads and re-checks the whole register.
        let _one = register.lock().unwrap_or_else(|p| p.into_inner());
        accept_item(args, &plan, item, reason, now, shown)
    };
    let outcomes = runtime.block_on(
        ApplyRun {
            client: &connection.client,
            sharepoint: &connection.sharepoint,
            plan: &plan,
            plan_path: &args.plan,
            approved,
            dry_run: args.dry_run,
            recheck_journal: args.recheck_journal,
            progress: &progress,
            stop: stop.clone(),
            allow_remove: args.allow_remove,
            accept: &accept,
            journal_observer,
        }
        .run(),
    )?;
    let written = if args.dry_run {
        let path = dir.join("apply-dry-run.csv");
        write_dry_run(&path, &outcomes)?;
        vec![path]
    } else {
        results::write_apply_results(dir, &outcomes)?
    };
    let count = |outcome: ItemOutcome| outcomes.iter().filter(|r| r.outcome == outcome).count();
    let failed = count(ItemOutcome::Failed);
    if !printer.is_quiet() {
        printer.status(format_args!(
            "{}: {} reprocessed, {} removed, {} accepted, {} would be applied, {} skipped, {} failed, {} not approved",
            if args.dry_run { "Dry run" } else { "Applied" },
            count(ItemOutcome::Reprocessed),
            count(ItemOutcome::Removed),
            count(ItemOutcome::Accepted),
            count(ItemOutcome::WouldReprocess)
                + count(ItemOutcome::WouldRemove)
                + count(ItemOutcome::WouldAccept),
            count(ItemOutcome::Skipped),
            failed,
            count(ItemOutcome::NotApproved)
        ));
        let stats = connection.client.stats();
        printer.status(format_args!(
            "Graph: {} requests, {} throttled, {:.1}s waited",
            stats.requests,
            stats.throttled,
            stats.throttle_wait_ms as f64 / 1000.0
        ));
        for path in &written {
            printer.status(format_args!("Wrote {}", shown(path)));
        }
    }
    for path in &written {
        printer.data(format_args!("{}", shown(path)))?;
    }
    Ok(if stop.load(Ordering::SeqCst) {
        Outcome::Interrupted
    } else if failed > 0 {
        printer.alert(format_args!("error: {failed} item(s) failed; see the results file; run the same command again to retry them"));
        Outcome::ItemsFailed
    } else {
        Outcome::Clean
    })
}

/// Records an approved `accept` in the exceptions register: the assignment (missing access) or
/// the user's role on the resource (access without assignment), by the item's approvers,
/// until `--accept-days` from now.
fn accept_item(
    args: &settings::ApplySettings,
    plan: &Plan,
    item: &crate::plan::PlanItem,
    reason: &str,
    now: chrono::DateTime<Utc>,
    shown: &(dyn Fn(&Path) -> String + Sync),
) -> Result<String> {
    let Some(path) = &args.exceptions else {
        return Err(Error::settings(
            "`accept` records an exception: name the register with --exceptions FILE (or `exceptions` in the configuration file)",
        ));
    };
    let covers = match &item.unexplained {
        Some(role) => vec![
            ("user_id", item.user_id.clone()),
            ("resource_type", role.resource_type.clone()),
            ("resource_id", role.resource_id.clone()),
            ("role", role.role.clone()),
            (
                "category",
                crate::audit::ACCESS_WITHOUT_ASSIGNMENT.to_string(),
            ),
        ],
        None => vec![
            ("assignment_id", item.assignment_id.clone()),
            ("category", crate::audit::MISSING_ACCESS.to_string()),
        ],
    };
    let approvers: Vec<&str> = plan
        .approvals_of(item)
        .map(|a| a.approver.as_str())
        .collect();
    let tickets: Vec<&str> = plan
        .approvals_of(item)
        .filter_map(|a| a.ticket.as_deref())
        .collect();
    let expires = (now + chrono::Duration::days(args.accept_days)).date_naive();
    let id = accepted_exception_id(plan, item);
    // A re-run (a resumed apply, --recheck-journal, a copy of the run) finds its exception
    // recorded already: one exception per accepted item, never two.
    if std::fs::symlink_metadata(path).is_ok() {
        let register = crate::exceptions::read(path)?;
        if let Some(found) = register.exceptions.iter().find(|e| e.id == id) {
            let wanted = crate::exceptions::rule_of(&covers);
            if found.rule != wanted {
                return Err(Error::inconsistent(
                    found.origin.clone(),
                    format!("exception `{id}` is in the register but covers something else than this item: fix or remove it before accepting again"),
                ));
            }
            return Ok(format!(
                "exception {id} already recorded in {} until {}",
                shown(path),
                found.expires
            ));
        }
    }
    let new = crate::exceptions::NewException {
        id,
        covers,
        reason: reason.to_string(),
        approver: approvers.join("; "),
        expires,
        ticket: tickets.join("; "),
    };
    crate::exceptions::append(path, &new)?;
    Ok(format!(
        "exception {} recorded in {} until {expires}",
        new.id,
        shown(path)
    ))
}

/// The register id of the exception an approved `accept` of `item` records.
pub fn accepted_exception_id(plan: &Plan, item: &crate::plan::PlanItem) -> String {
    // The whole id: two items must never share an exception id (a shortened one could).
    let key: String = item
        .id()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("accepted-{key}-{}", plan.run)
}

/// The folder a plan sits in (its journal, results and lock go beside it).
pub fn plan_folder(plan: &Path) -> &Path {
    plan.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The allowed_signers policy, when one is configured.
pub fn load_allowed(approvals: &ApprovalSettings) -> Result<Option<AllowedSigners>> {
    Ok(approvals
        .allowed_signers
        .as_deref()
        .map(AllowedSigners::load)
        .transpose()?)
}

fn write_dry_run(path: &Path, outcomes: &[crate::apply::ItemResult]) -> Result<()> {
    results::write_csv(
        path,
        &[
            "assignment_id",
            "user_id",
            "user_display_name",
            "outcome",
            "reason",
        ],
        outcomes.iter().map(|r| {
            vec![
                r.item.assignment_id.clone(),
                r.item.user_id.clone(),
                r.item.user_display_name.clone(),
                r.outcome.as_str().to_string(),
                r.reason.clone(),
            ]
        }),
    )
}
