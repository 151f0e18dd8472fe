//! `entra-drift plan show|approve|digest`: a person reads the plan and records a (signed)
//! decision.

use chrono::Utc;

use super::Outcome;
use crate::cli::{ApproveArgs, PlanCommand};
use crate::error::{Error, Refusal, Result};
use crate::output::Printer;
use crate::plan::approval::{approved_in_workbook, Selection, Signed};
use crate::plan::Plan;
use crate::trust::{self, AllowedSigners, PLAN_NAMESPACE};

pub fn run(command: &PlanCommand, printer: &Printer) -> Result<Outcome> {
    match command {
        PlanCommand::Show { plan } => {
            printer.data_text(&describe(&Plan::read(plan)?, Utc::now()))?;
            Ok(Outcome::Clean)
        }
        PlanCommand::Approve(args) => approve(args, printer),
        PlanCommand::Digest(args) => {
            let plan = Plan::read(&args.plan)?;
            let selection = Selection {
                only: args.only.clone(),
                exclude: args.exclude.clone(),
            };
            let items = plan
                .select(&selection)
                .map_err(|reason| Error::refused(&args.plan, reason))?;
            printer.data_text(&plan.statement(&items))?;
            Ok(Outcome::Clean)
        }
    }
}

fn approve(args: &ApproveArgs, printer: &Printer) -> Result<Outcome> {
    let mut plan = Plan::read(&args.plan)?;
    let refuse = |reason: Refusal| Error::refused(&args.plan, reason);
    let (approved, source) = match &args.from_xlsx {
        Some(workbook) => (
            approved_in_workbook(&plan, workbook)?,
            format!("workbook {}", workbook.display()),
        ),
        None => {
            let selection = Selection {
                only: args.only.clone(),
                exclude: args.exclude.clone(),
            };
            (
                plan.select(&selection).map_err(refuse)?,
                "command line".to_string(),
            )
        }
    };
    let statement = plan.statement(&approved);
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
        source,
        now,
        signed,
    )
    .map_err(refuse)?;
    plan.write(&args.plan)?;
    if let Some(approval) = plan.approvals.last() {
        printer.status(format_args!(
            "Approved {} of {} items of {} as {}{}{}",
            approval.items.len(),
            plan.items.len(),
            args.plan.display(),
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
    let tenant = plan.tenant_name.as_deref().unwrap_or("(unnamed tenant)");
    out += &format!("Reprocess plan for {tenant} ({})\n", plan.tenant_id);
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
        let by: Vec<&str> = plan
            .approvals
            .iter()
            .filter(|a| a.items.contains(&item.assignment_id))
            .map(|a| a.approver.as_str())
            .collect();
        let mark = if by.is_empty() {
            "[pending]".to_string()
        } else {
            format!("[approved by {}]", by.join(", "))
        };
        out += &format!(
            "\n{:>3}. {mark} assignment {}\n     user {} <{}> ({})\n     package {} ({})\n",
            number + 1,
            item.assignment_id,
            item.user_display_name,
            item.user_principal_name,
            item.user_id,
            item.access_package_name,
            item.access_package_id
        );
        for role in &item.missing_roles {
            let name = if role.resource_name.is_empty() {
                &role.resource_id
            } else {
                &role.resource_name
            };
            out += &format!(
                "     missing: {} {} of {} ({})\n",
                role.resource_type,
                role.role_name_or_role(),
                name,
                role.resource_id
            );
        }
    }
    out
}
