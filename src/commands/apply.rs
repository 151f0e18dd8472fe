//! `entra-drift apply PLAN`: refuse what must not run, then reprocess the approved items.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::Utc;

use super::{connect, Outcome};
use crate::apply::{preflight, results, ApplyRun, Outcome as ItemOutcome};
use crate::cli::ApplyArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::output::Printer;
use crate::plan::Plan;
use crate::settings::{self, Given};

pub fn run(
    args: &ApplyArgs,
    given: &Given,
    config: Option<&Config>,
    printer: &Printer,
) -> Result<Outcome> {
    let settings = settings::resolve_apply(args, given, config)?;
    let args = &settings;
    let plan = Plan::read(&args.plan)?;
    let tenant = args.graph.tenant.clone().unwrap_or_default();
    let approved = preflight(&plan, &tenant, Utc::now(), args.max_items)
        .map_err(|reason| Error::refused(&args.plan, reason))?;
    let connection = connect::connect(&args.graph, &args.env_prefix)?;
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
    let outcomes = runtime.block_on(
        ApplyRun {
            client: &connection.client,
            plan: &plan,
            plan_path: &args.plan,
            approved,
            dry_run: args.dry_run,
            stop: stop.clone(),
        }
        .run(),
    )?;
    let dir = args
        .plan
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
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
            "{}: {} reprocessed, {} would be reprocessed, {} skipped, {} failed, {} not approved",
            if args.dry_run { "Dry run" } else { "Applied" },
            count(ItemOutcome::Reprocessed),
            count(ItemOutcome::WouldReprocess),
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
            printer.status(format_args!("Wrote {}", path.display()));
        }
    }
    for path in &written {
        printer.data(format_args!("{}", path.display()))?;
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

fn write_dry_run(path: &std::path::Path, outcomes: &[crate::apply::ItemResult]) -> Result<()> {
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
