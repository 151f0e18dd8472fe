//! `entra-drift verify PLAN`: after apply, is each item's access restored? Reprocess is
//! asynchronous, so "still missing" soon after apply may only mean "not yet".

use super::{connect, Outcome};
use crate::apply::checks::{read_current, read_holdings, role_held};
use crate::apply::results::{write_csv, VERIFY_RESULTS_CSV};
use crate::cli::VerifyArgs;
use crate::config::Config;
use crate::error::{Error, Refusal, Result};
use crate::output::Printer;
use crate::plan::approval::{self, Decision};
use crate::plan::{ItemKind, Plan};
use crate::settings::{self, Given};

pub fn run(
    args: &VerifyArgs,
    given: &Given,
    config: Option<&Config>,
    printer: &Printer,
) -> Result<Outcome> {
    let settings = settings::resolve_verify(args, given, config);
    let args = &settings;
    let plan = Plan::read(&args.plan)?;
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
    let mut graph = args.graph.clone();
    graph.tenant = Some(tenant);
    let connection = connect::connect(&graph, &args.env_prefix)?;
    let items: Vec<_> = plan.items.iter().collect();
    let progress = connect::progress(printer);
    progress.watch(&connection.client);
    let stage = progress.stage("verify", Some(items.len() as u64));
    let requests: Vec<_> = items
        .iter()
        .copied()
        .filter(|i| i.kind == ItemKind::RequestReprocess)
        .collect();
    let runtime = connect::runtime()?;
    let holdings = runtime.block_on(read_holdings(&connection.client, &items));
    // A retried delivery is verified by its assignment's state.
    let current = runtime.block_on(read_current(&connection.client, &requests));
    stage.counter().add(items.len() as u64);
    stage.finish();
    let mut rows = Vec::new();
    let (mut restored, mut missing, mut unknown) = (0, 0, 0);
    for item in &plan.items {
        let approved = !plan.approvals.is_empty() && decision.is_approved(&item.assignment_id);
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
                        .is_some_and(|s| s.eq_ignore_ascii_case("delivered"))),
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
        rows.push(vec![
            item.assignment_id.clone(),
            item.user_id.clone(),
            item.user_display_name.clone(),
            if approved { "yes" } else { "no" }.to_string(),
            status.to_string(),
            detail.join("; "),
        ]);
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
        ],
        rows.into_iter(),
    )?;
    if !printer.is_quiet() {
        printer.status(format_args!(
            "Verified {} items: {restored} restored, {missing} approved still missing, {unknown} unverifiable",
            plan.items.len()
        ));
        printer.status(format_args!("Wrote {}", path.display()));
    }
    printer.data(format_args!("{}", path.display()))?;
    Ok(if missing > 0 && args.detailed_exitcode {
        Outcome::Drift {
            detailed_exitcode: true,
        }
    } else {
        Outcome::Clean
    })
}
