//! `entra-drift plan show|approve`: a person reads the plan and records a decision.

use chrono::Utc;

use super::Outcome;
use crate::cli::{ApproveArgs, PlanCommand};
use crate::error::{Error, Refusal, Result};
use crate::output::Printer;
use crate::plan::approval::{approved_in_workbook, Selection};
use crate::plan::Plan;

pub fn run(command: &PlanCommand, printer: &Printer) -> Result<Outcome> {
    match command {
        PlanCommand::Show { plan } => {
            printer.data_text(&describe(&Plan::read(plan)?, Utc::now()))?;
            Ok(Outcome::Clean)
        }
        PlanCommand::Approve(args) => approve(args, printer),
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
    if let Some(previous) = &plan.approval {
        tracing::warn!(approver = %previous.approver, "replacing an earlier approval");
    }
    plan.approve(
        &args.approver,
        args.ticket.clone(),
        approved,
        source,
        Utc::now(),
    )
    .map_err(refuse)?;
    plan.write(&args.plan)?;
    let Some(approval) = plan.approval.as_ref() else {
        return Ok(Outcome::Clean);
    };
    printer.status(format_args!(
        "Approved {} of {} items of {} as {}{}",
        approval.approved.len(),
        plan.items.len(),
        args.plan.display(),
        approval.approver,
        approval
            .ticket
            .as_deref()
            .map(|t| format!(" (ticket {t})"))
            .unwrap_or_default()
    ));
    Ok(Outcome::Clean)
}

/// The text `plan show` prints.
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
    out += &format!("Items match their digest ({})\n", plan.items_digest);
    match &plan.approval {
        Some(a) => {
            out += &format!(
                "Approved: {} of {} items by {} at {}{} (from {})\n",
                a.approved.len(),
                plan.items.len(),
                a.approver,
                a.approved_at.to_rfc3339(),
                a.ticket
                    .as_deref()
                    .map(|t| format!(", ticket {t}"))
                    .unwrap_or_default(),
                a.source
            )
        }
        None => out += &format!("Not approved: {} items\n", plan.items.len()),
    }
    for (number, item) in plan.items.iter().enumerate() {
        let mark = match &plan.approval {
            Some(a) if a.approved.contains(&item.assignment_id) => "[approved]",
            Some(_) => "[not approved]",
            None => "[pending]",
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
