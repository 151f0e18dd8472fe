//! `entra-drift verify PLAN`: after apply, is each item's access restored? Reprocess is
//! asynchronous, so "still missing" soon after apply may only mean "not yet".

use entra_model::enums::AssignmentState;
use std::path::Path;

use super::staged;
use super::{connect, Outcome};
use crate::apply::checks::{read_current, read_holdings, role_held};
use crate::apply::checks::{Current, Holdings};
use crate::apply::results::{write_csv, VERIFY_RESULTS_CSV};
use crate::cli::VerifyArgs;
use crate::config::Config;
use crate::error::{Error, Refusal, Result};
use crate::output::Printer;
use crate::plan::approval::{self, Decision};
use crate::plan::{Action, ItemKind, Plan, PlanItem};
use crate::settings::{self, Given};

pub fn run(
    args: &VerifyArgs,
    given: &Given,
    config: Option<&Config>,
    printer: &Printer,
) -> Result<Outcome> {
    let mut settings = settings::resolve_verify(args, given, config)?;
    let prefix = settings.env_prefix.clone();
    let mut staged = staged::stage_plan_as(&settings.plan, &settings.graph, &prefix, false)?;
    if let Some(staged) = &staged {
        settings.plan = staged.path.clone();
    }
    let register = match &settings.exceptions {
        Some(path) => staged::stage_file_as(path, &settings.graph, &prefix)?,
        None => None,
    };
    if let Some(register) = &register {
        settings.exceptions = Some(register.path.clone());
    }
    let shown = |path: &Path| match &staged {
        Some(staged) => staged.remote.url_of(path),
        None => path.display().to_string(),
    };
    let result =
        verify_plan(&settings, printer, &shown).map_err(|e| staged::named(staged.as_ref(), e));
    if let Some(staged) = staged.as_mut() {
        staged::publish_after(staged, printer)?;
    }
    result
}

fn verify_plan(
    settings: &settings::VerifySettings,
    printer: &Printer,
    shown: &dyn Fn(&Path) -> String,
) -> Result<Outcome> {
    let args = settings;
    let plan = Plan::read(&args.plan)?;
    // What apply did, item by item: verify reports from the journal, never from approvals.
    let entries =
        crate::apply::journal::read(&crate::apply::journal::path_for(&args.plan), &plan.digest())?;
    let journal = crate::apply::journal::last_events(&entries);
    let register = match &args.exceptions {
        Some(path) if crate::files::exists_no_follow(path)? => Some(crate::exceptions::read(path)?),
        _ => None,
    };
    let tenant = args
        .graph
        .tenant
        .clone()
        .unwrap_or_else(|| plan.tenant_id.clone());
    if !tenant.eq_ignore_ascii_case(&plan.tenant_id) {
        return Err(Error::refused(
            &args.plan,
            Refusal::WrongTenant {
                plan: plan.tenant_id.clone(),
                given: tenant,
            },
        ));
    }
    // With a policy, forged approvals stop verify as they stop apply; without approvals,
    // every item is reported as not approved.
    let allowed = super::apply::load_allowed(&args.approvals)?;
    let decision = if plan.approvals.is_empty() {
        Decision::default()
    } else {
        approval::decide(
            &plan,
            allowed.as_ref(),
            args.approvals.min_approvers,
            chrono::Utc::now(),
        )
        .map_err(|reason| Error::refused(&args.plan, reason))?
    };
    // What was done decides what to check: the journal's outcome where apply recorded one (an
    // approval revoked since does not change what happened), else what the approvals choose.
    let effective = |item: &PlanItem| -> Action {
        use crate::apply::journal::Event;
        match journal.get(&item.id()).map(|entry| entry.event) {
            Some(Event::Removed) if item.unexplained.is_some() => Action::RemoveAccess,
            Some(Event::Removed) => Action::RemoveAssignment,
            Some(Event::Reprocessed) => Action::Reprocess,
            Some(Event::Accepted) => Action::Accept,
            _ => decision.action_for(item),
        }
    };
    let mut graph = args.graph.clone();
    graph.tenant = Some(tenant);
    let connection = connect::connect(&graph, &args.env_prefix)?;
    let items: Vec<_> = plan.items.iter().collect();
    let progress = connect::progress(printer);
    progress.watch(&connection.client);
    let stage = progress.stage("verify", Some(items.len() as u64));
    // A retried delivery and an ended assignment are verified by the assignment's state.
    let requests: Vec<_> = items
        .iter()
        .copied()
        .filter(|i| {
            i.kind == ItemKind::RequestReprocess || effective(i) == Action::RemoveAssignment
        })
        .collect();
    let runtime = connect::runtime()?;
    let holdings = runtime.block_on(read_holdings(
        &connection.client,
        &connection.sharepoint,
        &items,
    ));
    // A retried delivery is verified by its assignment's state.
    let current = runtime.block_on(read_current(&connection.client, &requests));
    stage.counter().add(items.len() as u64);
    stage.finish();
    let mut rows = Vec::new();
    let (mut restored, mut missing, mut unknown) = (0, 0, 0);
    let (mut removed, mut present, mut unaccepted) = (0, 0, 0);
    for item in &plan.items {
        let approved = !plan.approvals.is_empty() && decision.is_approved(item.key());
        let action = effective(item);
        let applied = journal.get(&item.id());
        let applied_column = applied
            .map(|entry| entry.event.as_str().to_string())
            .unwrap_or_default();
        if action == Action::Accept && (approved || applied.is_some()) {
            let id = super::apply::accepted_exception_id(&plan, item);
            let (status, detail) =
                verify_acceptance(&id, applied, register.as_ref(), args.exceptions.as_deref());
            if status != "accepted" {
                unaccepted += 1;
            }
            rows.push(row(item, approved, status, detail, action, applied_column));
            continue;
        }
        // Access without assignment is checked as a removal (held or not) whether or not one
        // was approved; an ended assignment and an accepted finding only when approved.
        let remedy = match action {
            _ if item.unexplained.is_some() => Some(Action::RemoveAccess),
            Action::RemoveAssignment if approved || applied.is_some() => {
                Some(Action::RemoveAssignment)
            }
            _ => None,
        };
        if let Some(remedy) = remedy {
            let (status, detail) = verify_remedy(item, remedy, &holdings, &current);
            match status {
                "removed" if approved => removed += 1,
                "still_present" if approved => present += 1,
                "unverifiable" => unknown += 1,
                _ => {}
            }
            rows.push(row(item, approved, status, detail, action, applied_column));
            continue;
        }
        let checks: Vec<_> = match item.kind {
            ItemKind::Reprocess => item
                .missing_roles
                .iter()
                .map(|role| role_held(&holdings, &item.user_id, role))
                .collect(),
            ItemKind::RequestReprocess => {
                vec![match current.assignments.get(&item.assignment_id) {
                    Some(Ok(assignment)) => Ok(assignment
                        .get("state")
                        .and_then(serde_json::Value::as_str)
                        .is_some_and(|s| AssignmentState::parse(s).is_delivered())),
                    Some(Err(e)) => Err(e.reason()),
                    None => Err("not read".to_string()),
                }]
            }
        };
        let status = if checks.iter().any(|c| c.is_err()) {
            unknown += 1;
            "unverifiable"
        } else if checks.iter().all(|c| matches!(c, Ok(true))) {
            restored += 1;
            "restored"
        } else {
            if approved {
                missing += 1;
            }
            "still_missing"
        };
        let detail: Vec<String> = item
            .missing_roles
            .iter()
            .zip(&checks)
            .map(|(role, check)| {
                let state = match check {
                    Ok(true) => "held".to_string(),
                    Ok(false) => "missing".to_string(),
                    Err(reason) => format!("unknown ({reason})"),
                };
                format!(
                    "{} {} of {}: {state}",
                    role.resource_type,
                    role.role_name_or_role(),
                    role.resource_id
                )
            })
            .collect();
        let detail = match (item.kind, checks.first()) {
            (ItemKind::RequestReprocess, Some(Ok(true))) => {
                vec!["assignment delivered".to_string()]
            }
            (ItemKind::RequestReprocess, Some(Ok(false))) => {
                vec!["assignment still not delivered".to_string()]
            }
            (ItemKind::RequestReprocess, Some(Err(reason))) => vec![format!("unknown ({reason})")],
            _ => detail,
        };
        rows.push(row(
            item,
            approved,
            status,
            detail.join("; "),
            action,
            applied_column,
        ));
    }
    let dir = args
        .plan
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let path = dir.join(VERIFY_RESULTS_CSV);
    write_csv(
        &path,
        &[
            "assignment_id",
            "user_id",
            "user_display_name",
            "approved",
            "status",
            "roles",
            "action",
            "applied",
        ],
        rows.into_iter(),
    )?;
    if !printer.is_quiet() {
        printer.status(format_args!(
            "Verified {} items: {restored} restored, {missing} approved still missing, {removed} removed, {present} approved removals still present, {unaccepted} approved acceptances not recorded, {unknown} unverifiable",
            plan.items.len()
        ));
        printer.status(format_args!("Wrote {}", shown(&path)));
    }
    printer.data(format_args!("{}", shown(&path)))?;
    Ok(
        if (missing > 0 || present > 0 || unaccepted > 0) && args.detailed_exitcode {
            Outcome::Drift {
                detailed_exitcode: true,
            }
        } else {
            Outcome::Clean
        },
    )
}

/// One row of `verify-results.csv`.
fn row(
    item: &PlanItem,
    approved: bool,
    status: &str,
    detail: String,
    action: Action,
    applied: String,
) -> Vec<String> {
    vec![
        item.key().to_string(),
        item.user_id.clone(),
        item.user_display_name.clone(),
        if approved { "yes" } else { "no" }.to_string(),
        status.to_string(),
        detail,
        action.to_string(),
        applied,
    ]
}

/// Whether an approved `accept` happened: the journal records it and the register holds its
/// exception (when the register is named).
fn verify_acceptance(
    id: &str,
    applied: Option<&crate::apply::journal::Entry>,
    register: Option<&crate::exceptions::Register>,
    register_path: Option<&Path>,
) -> (&'static str, String) {
    use crate::apply::journal::Event;
    let Some(entry) = applied.filter(|e| e.event == Event::Accepted) else {
        let why = match applied {
            Some(entry) => format!(
                "apply did not record it: its journal says `{}`{}",
                entry.event.as_str(),
                if entry.detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", entry.detail)
                }
            ),
            None => "apply has not recorded it (no journal entry)".to_string(),
        };
        return ("not_accepted", why);
    };
    match (register, register_path) {
        (Some(register), _) => match register.exceptions.iter().find(|e| e.id == id) {
            Some(found) => (
                "accepted",
                format!(
                    "exception {id} is in the register until {}; nothing changed",
                    found.expires
                ),
            ),
            None => (
                "not_recorded",
                format!(
                    "the journal records exception {id}, but the register has no such exception"
                ),
            ),
        },
        (None, Some(path)) => (
            "not_recorded",
            format!(
                "the journal records exception {id}, but the register `{}` does not exist",
                path.display()
            ),
        ),
        (None, None) => (
            "accepted",
            format!(
                "recorded by apply ({}); the register was not checked: name it with --exceptions",
                entry.detail
            ),
        ),
    }
}

/// Whether an approved remedy took effect: an ended assignment is no longer delivered, removed
/// access is no longer held; an accepted finding was recorded, not changed.
fn verify_remedy(
    item: &PlanItem,
    action: Action,
    holdings: &Holdings,
    current: &Current,
) -> (&'static str, String) {
    match action {
        Action::RemoveAssignment => match current.assignments.get(&item.assignment_id) {
            Some(Ok(assignment)) => {
                let state = assignment
                    .get("state")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("");
                if AssignmentState::parse(state).is_delivered() {
                    ("still_present", "the assignment is still delivered".into())
                } else {
                    ("removed", format!("the assignment is `{state}`"))
                }
            }
            Some(Err(e)) if e.status() == Some(404) => {
                ("removed", "the assignment no longer exists".into())
            }
            Some(Err(e)) => ("unverifiable", e.reason()),
            None => ("unverifiable", "not read".into()),
        },
        Action::RemoveAccess => match item
            .unexplained
            .as_ref()
            .map(|role| (role, role_held(holdings, &item.user_id, role)))
        {
            Some((role, Ok(false))) => (
                "removed",
                format!(
                    "{} {} of {}: not held",
                    role.resource_type,
                    role.role_name_or_role(),
                    role.resource_id
                ),
            ),
            Some((role, Ok(true))) => (
                "still_present",
                format!(
                    "{} {} of {}: still held",
                    role.resource_type,
                    role.role_name_or_role(),
                    role.resource_id
                ),
            ),
            Some((_, Err(reason))) => ("unverifiable", reason),
            None => ("unverifiable", "the item names no access".into()),
        },
        _ => (
            "accepted",
            "recorded as an exception; nothing changed".into(),
        ),
    }
}
