//! Making a plan's items from the findings, and marking each finding with the item that
//! covers it: the one rule every view and `plan.json` share for what is in the plan.

use polars::prelude::DataFrame;
use sha2::{Digest, Sha256};

use super::digest::{findings_digest, items_digest};
use super::remedy;
use super::{canonical_id, Action, ItemKind, MissingRole, PlanItem, Remedies};
use crate::audit::col;
use crate::audit::rows::StringRows;
use crate::error::{Error, Result};

/// A finding's cause columns as one line for reviewers; `None` when there is no cause.
pub fn describe_cause(cause: &str, actor: &str, kind: &str, time: &str) -> Option<String> {
    match cause {
        "" => None,
        "removed" | "added" | "deleted" => {
            let who = if actor.is_empty() {
                "an unnamed actor"
            } else {
                actor
            };
            Some(format!("{cause} by {who} ({kind}) on {time}"))
        }
        other => Some(other.to_string()),
    }
}

/// One item per assignment with `in_plan = yes` findings, in findings order, then one per
/// access without assignment on a group or application; each with the action its cause gives.
pub fn plan_items(findings: &DataFrame, remedies: &Remedies) -> Result<Vec<PlanItem>> {
    Ok(plan_items_covering(findings, remedies)?.items)
}

/// A plan's items, and which of them covers each finding.
pub struct Covering {
    pub items: Vec<PlanItem>,
    /// Per finding row, the index in `items` of the item made of it (none for a finding no
    /// item covers).
    pub item_of_row: Vec<Option<usize>>,
}

/// [`plan_items`], saying which item each finding went into: what [`mark_findings`] marks,
/// without finding the items again by their ids.
pub fn plan_items_covering(findings: &DataFrame, remedies: &Remedies) -> Result<Covering> {
    let rows = StringRows::new(
        findings,
        &[
            col::IN_PLAN,
            col::ASSIGNMENT_ID,
            col::PACKAGE_ID,
            col::PACKAGE_NAME,
            col::USER_ID,
            col::USER_NAME,
            col::USER_UPN,
            col::RESOURCE_TYPE,
            col::RESOURCE_ID,
            col::ROLE,
            col::RESOURCE_NAME,
            col::ROLE_NAME,
            col::CATEGORY,
            col::STATE,
        ],
    )?;
    // Internal column of the audit: absent from findings read back from a report.
    let request_ids = optional_strings(findings, col::REQUEST_ID);
    // Cause columns: absent from findings of runs before causes existed.
    let causes: Vec<(Option<String>, String)> =
        if col::CAUSES.iter().all(|c| findings.column(c).is_ok()) {
            let causes = StringRows::new(
                findings,
                &[
                    col::CAUSE,
                    col::CAUSE_ACTOR,
                    col::CAUSE_ACTOR_KIND,
                    col::CAUSE_TIME,
                ],
            )?;
            causes
                .iter()
                .map(|c| (describe_cause(c[0], c[1], c[2], c[3]), c[2].to_string()))
                .collect()
        } else {
            Vec::new()
        };
    // Borrowed: a cause is copied only into the role it explains.
    let cause_text = |number: usize| causes.get(number).and_then(|c| c.0.clone());
    let cause_kind = |number: usize| causes.get(number).map_or("", |c| c.1.as_str());
    // An excepted finding is accepted drift: never planned (annotated findings say so).
    let excepted: Vec<bool> = optional_strings(findings, col::EXCEPTION_STATE)
        .iter()
        .map(|v| v.as_deref() == Some("active"))
        .collect();
    let mut items: Vec<PlanItem> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    // Per reprocess item, the default of each of its roles.
    let mut defaults: Vec<Vec<Action>> = Vec::new();
    let mut unexplained: Vec<PlanItem> = Vec::new();
    // Per row: an index in `items`, or (Err) one in `unexplained`, appended after them.
    let mut item_of_row: Vec<Option<std::result::Result<usize, usize>>> =
        vec![None; findings.height()];
    for (number, row) in rows.iter().enumerate() {
        let role = || MissingRole {
            resource_type: row[7].into(),
            resource_id: row[8].into(),
            role: row[9].into(),
            resource_name: row[10].into(),
            role_name: row[11].into(),
            cause: cause_text(number),
        };
        if row[12] == crate::audit::ACCESS_WITHOUT_ASSIGNMENT {
            if excepted.get(number).copied().unwrap_or(false) {
                continue;
            }
            if let Some(item) = unexplained_item(&row, role(), cause_kind(number), remedies) {
                item_of_row[number] = Some(Err(unexplained.len()));
                unexplained.push(item);
            }
            continue;
        }
        if row[0] != "yes" {
            continue;
        }
        if row[12] == crate::audit::NOT_DELIVERED {
            let Some(Some(request)) = request_ids.get(number) else {
                continue;
            };
            item_of_row[number] = Some(Ok(items.len()));
            items.push(PlanItem {
                kind: ItemKind::RequestReprocess,
                request_id: Some(request.clone()),
                item_id: None,
                assignment_id: row[1].into(),
                access_package_id: row[2].into(),
                access_package_name: row[3].into(),
                user_id: row[4].into(),
                user_display_name: row[5].into(),
                user_principal_name: row[6].into(),
                missing_roles: Vec::new(),
                unexplained: None,
                reason: format!(
                    "the assignment's delivery ended `{}`; reprocessing its request {request} retries it",
                    row[13]
                ),
                action: Action::Reprocess,
                actions: Vec::new(),
            });
            defaults.push(Vec::new());
            continue;
        }
        let default = remedies.default_for(row[12], cause_kind(number));
        match index.get(row[1]) {
            Some(&at) => {
                item_of_row[number] = Some(Ok(at));
                items[at].missing_roles.push(role());
                defaults[at].push(default);
            }
            None => {
                item_of_row[number] = Some(Ok(items.len()));
                index.insert(row[1].to_string(), items.len());
                items.push(PlanItem {
                    kind: ItemKind::Reprocess,
                    request_id: None,
                    item_id: None,
                    assignment_id: row[1].into(),
                    access_package_id: row[2].into(),
                    access_package_name: row[3].into(),
                    user_id: row[4].into(),
                    user_display_name: row[5].into(),
                    user_principal_name: row[6].into(),
                    missing_roles: vec![role()],
                    unexplained: None,
                    reason: String::new(),
                    action: Action::Reprocess,
                    actions: remedy::allowed(crate::audit::MISSING_ACCESS).to_vec(),
                });
                defaults.push(vec![default]);
            }
        }
    }
    for (item, roles) in items.iter_mut().zip(&defaults) {
        if item.kind != ItemKind::Reprocess {
            continue;
        }
        // One action for the assignment: the roles' default when they agree, else a reviewer
        // decides.
        item.action = match roles.first() {
            Some(first) if roles.iter().all(|a| a == first) => *first,
            _ => Action::Decide,
        };
        let count = item.missing_roles.len();
        item.reason = if count == 1 {
            "the assignment shows delivered but the user lacks one of the resource roles its package delivers; reprocessing re-applies it".to_string()
        } else {
            format!("the assignment shows delivered but the user lacks {count} of the resource roles its package delivers; reprocessing re-applies them")
        };
        if item.action == Action::Decide {
            let deliberate: Vec<&str> = item
                .missing_roles
                .iter()
                .filter_map(|r| r.cause.as_deref())
                .filter(|c| c.starts_with("removed by"))
                .collect();
            if !deliberate.is_empty() {
                item.reason = format!(
                    "{}: reprocessing would undo it; choose an action",
                    deliberate.join("; ")
                );
            }
        }
    }
    let reprocess = items.len();
    items.extend(unexplained);
    let item_of_row = item_of_row
        .into_iter()
        .map(|at| at.map(|at| at.unwrap_or_else(|access| reprocess + access)))
        .collect();
    Ok(Covering { items, item_of_row })
}

/// A plan's items with the digests that bind the plan to them and to its findings.
pub struct Planned {
    pub items: Vec<PlanItem>,
    /// [`findings_digest`] of the findings the items were made of.
    pub findings_digest: String,
    /// [`items_digest`] of the items.
    pub items_digest: String,
}

impl Planned {
    pub fn new(findings: &DataFrame, items: Vec<PlanItem>) -> Result<Planned> {
        Ok(Planned {
            findings_digest: findings_digest(findings)?,
            items_digest: items_digest(&items),
            items,
        })
    }
}

/// What `plan_skip_reason` says of a finding whose plan item waits for a reviewer's action.
pub const WAITING_FOR_REVIEWER: &str =
    "in the plan, waiting for a reviewer to choose its action (decide): apply skips it until then";

/// Marks each finding with what the plan does with it, so every view says what plan.json says:
/// `in_plan = yes` exactly for the findings a plan item covers (an access without assignment
/// included), and `plan_skip_reason` says when that item waits for a reviewer's decision.
pub fn mark_findings(mut findings: DataFrame, covering: &Covering) -> Result<DataFrame> {
    use polars::prelude::Column;
    let rows = StringRows::new(&findings, &[col::IN_PLAN, col::SKIP_REASON])?;
    let mut in_plan = Vec::with_capacity(findings.height());
    let mut skip = Vec::with_capacity(findings.height());
    for (number, row) in rows.iter().enumerate() {
        let item = covering
            .item_of_row
            .get(number)
            .copied()
            .flatten()
            .and_then(|at| covering.items.get(at));
        match item.map(|item| item.action) {
            Some(Action::Decide) => {
                in_plan.push("yes");
                skip.push(WAITING_FOR_REVIEWER);
            }
            Some(_) => {
                in_plan.push("yes");
                skip.push("");
            }
            None if row[0] == "yes" => {
                in_plan.push("no");
                skip.push("no plan item covers it");
            }
            None => {
                in_plan.push(row[0]);
                skip.push(row[1]);
            }
        }
    }
    let columns = [
        Column::new(col::IN_PLAN.into(), in_plan),
        Column::new(col::SKIP_REASON.into(), skip),
    ];
    drop(rows);
    for column in columns {
        findings.with_column(column).map_err(|e| Error::Frame {
            context: "marking findings with the plan",
            source: e,
        })?;
    }
    Ok(findings)
}

/// A string column that findings read back from a report may lack: its values, or none.
fn optional_strings(findings: &DataFrame, name: &str) -> Vec<Option<String>> {
    match findings.column(name) {
        Ok(column) => column
            .str()
            .map(|c| c.iter().map(|v| v.map(str::to_string)).collect())
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// The item of an access without assignment: a group membership or ownership, an app role, or
/// a SharePoint site group's direct user entry, of a known user. Directory roles have no
/// removal here.
fn unexplained_item(
    row: &[&str],
    role: MissingRole,
    kind: &str,
    remedies: &Remedies,
) -> Option<PlanItem> {
    let removable = matches!(
        (role.resource_type.as_str(), role.role.as_str()),
        ("group", "member" | "owner") | ("application", _) | ("sharepoint_site", _)
    );
    let user = row[4];
    if !removable || user.is_empty() {
        return None;
    }
    let id = access_item_id(&role.resource_type, &role.resource_id, &role.role, user);
    let what = role.phrase();
    let reason = match &role.cause {
        Some(cause) if cause.starts_with("added by") => {
            format!("the user holds {what}, which no assignment explains ({cause})")
        }
        _ => format!("the user holds {what}, which no assignment explains"),
    };
    Some(PlanItem {
        kind: ItemKind::Reprocess,
        request_id: None,
        item_id: Some(id),
        assignment_id: String::new(),
        access_package_id: String::new(),
        access_package_name: String::new(),
        user_id: user.into(),
        user_display_name: row[5].into(),
        user_principal_name: row[6].into(),
        missing_roles: Vec::new(),
        unexplained: Some(role),
        reason,
        action: remedies.default_for(crate::audit::ACCESS_WITHOUT_ASSIGNMENT, kind),
        actions: remedy::allowed(crate::audit::ACCESS_WITHOUT_ASSIGNMENT).to_vec(),
    })
}

/// `access-` and the first 16 hex digits of the SHA-256 of the access (stable across runs).
pub fn access_item_id(resource_type: &str, resource_id: &str, role: &str, user: &str) -> String {
    let key = format!(
        "{}\x1f{}\x1f{}\x1f{}",
        resource_type,
        resource_id.to_ascii_lowercase(),
        role.to_ascii_lowercase(),
        user.to_ascii_lowercase()
    );
    format!(
        "access-{}",
        &hex::encode(Sha256::digest(key.as_bytes()))[..16]
    )
}

/// The id of the plan item that covers a finding, were it planned: an access without
/// assignment by its [`access_item_id`], any other finding by its assignment (canonical).
pub fn finding_item_id(
    category: &str,
    assignment_id: &str,
    resource_type: &str,
    resource_id: &str,
    role: &str,
    user_id: &str,
) -> String {
    if category == crate::audit::ACCESS_WITHOUT_ASSIGNMENT {
        access_item_id(resource_type, resource_id, role, user_id)
    } else {
        canonical_id(assignment_id)
    }
}

/// Whether `id` has the form of [`access_item_id`].
pub fn is_access_item_id(id: &str) -> bool {
    id.strip_prefix("access-").is_some_and(|hex| {
        hex.len() == 16
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}
