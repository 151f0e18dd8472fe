//! `entra-drift plan show|approve|digest`: a person reads the plan and records a (signed)
//! decision.

use std::path::Path;

use chrono::Utc;

use super::Outcome;
use crate::cli::{ApproveArgs, PlanCommand};
use crate::config::Config;
use crate::error::{Error, Refusal, Result};
use crate::output::Printer;
use crate::plan::approval::{approved_in_workbook, Selection, Signed};
use crate::plan::Plan;
use crate::trust::{self, AllowedSigners, PLAN_NAMESPACE};

pub fn run(command: &PlanCommand, config: Option<&Config>, printer: &Printer) -> Result<Outcome> {
    match command {
        PlanCommand::Show { plan } => {
            printer.data_text(&describe(&Plan::read(plan)?, Utc::now()))?;
            Ok(Outcome::Clean)
        }
        PlanCommand::Approve(args) => approve(args, config, printer),
        PlanCommand::Digest(args) => {
            let plan = Plan::read(&args.plan)?;
            let selection = Selection {
                only: args.only.clone(),
                exclude: args.exclude.clone(),
            };
            let refuse = |reason| Error::refused(&args.plan, reason);
            let items = plan.select(&selection, args.action).map_err(refuse)?;
            let choices = plan
                .choose(&items, args.action, args.reason.as_deref())
                .map_err(refuse)?;
            printer.data_text(&plan.statement_with(&items, &choices))?;
            Ok(Outcome::Clean)
        }
    }
}

fn approve(args: &ApproveArgs, config: Option<&Config>, printer: &Printer) -> Result<Outcome> {
    // A plan at a URL: approved in a staged copy, written back If-Match its ETag.
    let mut staged =
        super::staged::stage_plan(&args.plan, &super::staged::environment_graph_args()?)?;
    let plan_path = staged
        .as_ref()
        .map_or_else(|| args.plan.clone(), |s| s.path.clone());
    let register = args
        .exceptions
        .clone()
        .or_else(|| config.and_then(|c| c.exceptions.clone()));
    let outcome = approve_at(args, &plan_path, register.as_deref(), printer)
        .map_err(|e| super::staged::named(staged.as_ref(), e))?;
    if let Some(staged) = staged.as_mut() {
        super::staged::publish_after(staged, printer)?;
    }
    Ok(outcome)
}

fn approve_at(
    args: &ApproveArgs,
    plan_path: &Path,
    register: Option<&Path>,
    printer: &Printer,
) -> Result<Outcome> {
    // One writer of plan.json at a time: two approvals (or an approval and a revocation) made
    // together would each rewrite the plan read before the other's change.
    let _editing = crate::lock::RunLock::acquire_edit(plan_path)?;
    let mut plan = Plan::read(plan_path)?;
    let refuse = |reason: Refusal| Error::refused(plan_path, reason);
    if args.revoke {
        let removed = plan
            .revoke(&args.approver, args.ticket.clone(), Utc::now())
            .map_err(refuse)?;
        plan.write(plan_path)?;
        printer.status(format_args!(
            "Revoked {removed} approval(s) by {} of {}; the plan has {} approval(s)",
            args.approver.trim(),
            plan_path.display(),
            plan.approvals.len()
        ));
        return Ok(Outcome::Clean);
    }
    let (approved, choices, source) = match &args.from_xlsx {
        Some(workbook) => {
            let (approved, choices) = approved_in_workbook(&plan, workbook)?;
            (
                approved,
                choices,
                format!("workbook {}", workbook.display()),
            )
        }
        None => {
            let selection = Selection {
                only: args.only.clone(),
                exclude: args.exclude.clone(),
            };
            let approved = plan.select(&selection, args.action).map_err(refuse)?;
            let undecided = plan
                .items
                .iter()
                .filter(|i| i.action == crate::plan::Action::Decide)
                .filter(|i| {
                    !approved
                        .iter()
                        .any(|a| crate::plan::canonical_id(a) == i.id())
                })
                .count();
            if undecided > 0 && args.action.is_none() {
                printer.status(format_args!(
                    "{undecided} item(s) left on `decide` are not approved: choose their action with --action ACTION --only ID (or in the workbook's `action` column)"
                ));
            }
            let choices = plan
                .choose(&approved, args.action, args.reason.as_deref())
                .map_err(refuse)?;
            (approved, choices, "command line".to_string())
        }
    };
    if let Some(count) = accepts_without_register(&choices, register)? {
        return Err(refuse(Refusal::AcceptNeedsRegister { count }));
    }
    let statement = plan.statement_with(&approved, &choices);
    let signed = sign(args, &statement)?;
    if let (Some(allowed), Some(signed)) = (&args.allowed_signers, &signed) {
        // Refuse now what apply would refuse later.
        AllowedSigners::load(allowed)?.verify_for(
            args.approver.trim(),
            &signed.signature,
            PLAN_NAMESPACE,
            statement.as_bytes(),
            Utc::now(),
        )?;
    }
    let now = Utc::now();
    plan.approve(
        &args.approver,
        args.ticket.clone(),
        approved,
        choices,
        source,
        now,
        signed,
    )
    .map_err(refuse)?;
    plan.write(plan_path)?;
    if let Some(approval) = plan.approvals.last() {
        printer.status(format_args!(
            "Approved {} of {} items of {} as {}{}{}",
            approval.items.len(),
            plan.items.len(),
            plan_path.display(),
            approval.approver,
            approval
                .key
                .as_deref()
                .map(|k| format!(", signed with {k}"))
                .unwrap_or_else(|| ", unsigned".into()),
            approval
                .ticket
                .as_deref()
                .map(|t| format!(" (ticket {t})"))
                .unwrap_or_default()
        ));
        printer.status(format_args!(
            "The plan has {} approval(s)",
            plan.approvals.len()
        ));
    }
    Ok(Outcome::Clean)
}

/// An approved `accept` is recorded by apply in the exceptions register: one must be named,
/// and a local one must read as a register now, not fail at apply time. `Some(count)`: that
/// many acceptances and no register.
fn accepts_without_register(
    choices: &std::collections::BTreeMap<String, crate::plan::approval::Choice>,
    register: Option<&Path>,
) -> Result<Option<usize>> {
    let accepts = choices
        .values()
        .filter(|c| c.action == crate::plan::Action::Accept)
        .count();
    if accepts == 0 {
        return Ok(None);
    }
    let Some(register) = register else {
        return Ok(Some(accepts));
    };
    if !super::staged::is_url(register) && crate::files::exists_no_follow(register)? {
        crate::exceptions::read(register)?;
    }
    Ok(None)
}

/// The approval's signature: made here with `--sign-key` (a private key file, or the agent's
/// key for a `.pub` file), or read from `--signature` and checked against the statement.
fn sign(args: &ApproveArgs, statement: &str) -> Result<Option<Signed>> {
    let message = statement.as_bytes();
    let armored = match (&args.sign_key, &args.signature) {
        (Some(key), _) => super::keys::sign(key, PLAN_NAMESPACE, message)?,
        (None, Some(file)) => entra_model::input::read_text(file)?,
        (None, None) => return Ok(None),
    };
    let key = trust::verify(&armored, PLAN_NAMESPACE, message)?;
    Ok(Some(Signed {
        signature: armored.trim_end().to_string() + "\n",
        fingerprint: trust::fingerprint(&key),
    }))
}

pub fn describe(plan: &Plan, now: chrono::DateTime<Utc>) -> String {
    let mut out = String::new();
    out += &match plan.tenant_name.as_deref() {
        Some(name) => format!("Reprocess plan for {name} ({})\n", plan.tenant_id),
        None => format!("Reprocess plan for tenant {}\n", plan.tenant_id),
    };
    let left = plan.expires - now;
    let expiry = if left.num_seconds() <= 0 {
        "EXPIRED".to_string()
    } else {
        format!(
            "in {} days {} hours",
            left.num_days(),
            left.num_hours() % 24
        )
    };
    out += &format!(
        "Created {}; expires {} ({expiry})\n",
        plan.created.to_rfc3339(),
        plan.expires.to_rfc3339()
    );
    out += &format!(
        "From {} taken {}\n",
        plan.snapshot_source,
        plan.snapshot_taken_at.to_rfc3339()
    );
    out += &format!("Plan digest {} (run {})\n", plan.digest(), plan.run);
    if plan.approvals.is_empty() {
        out += &format!("Not approved: {} items\n", plan.items.len());
    }
    for a in &plan.approvals {
        out += &format!(
            "Approved: {} of {} items by {} at {}{}{} (from {})\n",
            a.items.len(),
            plan.items.len(),
            a.approver,
            a.approved_at.to_rfc3339(),
            a.key
                .as_deref()
                .map(|k| format!(", signed with {k}"))
                .unwrap_or_else(|| ", unsigned".into()),
            a.ticket
                .as_deref()
                .map(|t| format!(", ticket {t}"))
                .unwrap_or_default(),
            a.source
        );
    }
    for (number, item) in plan.items.iter().enumerate() {
        let approvals: Vec<&crate::plan::approval::Approval> = plan.approvals_of(item).collect();
        let by: Vec<&str> = approvals.iter().map(|a| a.approver.as_str()).collect();
        let chosen = approvals
            .iter()
            .find_map(|a| a.choices.get(&item.id()))
            .map_or(item.action, |c| c.action);
        let mark = if by.is_empty() {
            "[pending]".to_string()
        } else {
            format!("[approved by {}]", by.join(", "))
        };
        let choices: Vec<&str> = item.choices().iter().map(|a| a.as_str()).collect();
        let subject = if item.item_id.is_some() {
            format!("access {}", item.key())
        } else {
            format!("assignment {}", item.assignment_id)
        };
        out += &format!(
            "\n{:>3}. {mark} {subject}\n     action {chosen} (choices: {})\n     user {} <{}> ({})\n     package {} ({})\n",
            number + 1,
            choices.join(", "),
            item.user_display_name,
            item.user_principal_name,
            item.user_id,
            item.access_package_name,
            item.access_package_id
        );
        if let Some(role) = &item.unexplained {
            out += &format!(
                "     held without assignment: {} {} of {} ({})\n",
                role.resource_type,
                role.role_name_or_role(),
                role.resource_label(),
                role.resource_id
            );
        }
        out += &format!("     why: {}\n", item.reason);
        for role in &item.missing_roles {
            out += &format!(
                "     missing: {} {} of {} ({})\n",
                role.resource_type,
                role.role_name_or_role(),
                role.resource_label(),
                role.resource_id
            );
        }
    }
    out
}
