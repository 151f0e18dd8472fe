//! Approval of a plan: who approved which items, when, under which ticket. Approval never
//! changes the items; it is bound to their digest.

use std::collections::HashSet;
use std::path::Path;

use calamine::{open_workbook, Data, Xlsx};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::Plan;
use crate::error::{Error, Refusal, Result};
use crate::trust::{AllowedSigners, TrustError};

/// Name of the Plan sheet and of its approval column in `drift.xlsx`.
pub const PLAN_SHEET: &str = "Plan";
pub const APPROVE_COLUMN: &str = "approve";
pub const ASSIGNMENT_COLUMN: &str = "assignment_id";
/// The plan digest on every item row: a workbook of another run's plan is refused even when
/// its assignment ids match.
pub const DIGEST_COLUMN: &str = "plan_digest";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Who approves: with `--allowed-signers`, a principal the signing key is allowed for.
    pub approver: String,
    #[serde(default)]
    pub ticket: Option<String>,
    pub approved_at: DateTime<Utc>,
    /// The plan digest this approval was given for ([`Plan::digest`]).
    pub plan_digest: String,
    /// Assignment ids approved; the plan's other items are not to be touched by this approval.
    pub items: Vec<String>,
    /// `command line`, or the workbook it was read from.
    pub source: String,
    /// An OpenSSH signature (namespace `entra-drift-plan`) over [`Plan::statement`] of
    /// `items`; absent for an unsigned approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The signing key's fingerprint, for people reading the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// What to approve: everything, or a selection.
#[derive(Debug, Default)]
pub struct Selection {
    pub only: Vec<String>,
    pub exclude: Vec<String>,
}

/// A signature made for an approval, and its key's fingerprint.
pub struct Signed {
    pub signature: String,
    pub fingerprint: String,
}

/// An approval clock skew allowance: a signer's clock may be a little ahead.
const SKEW_MINUTES: i64 = 5;

impl Plan {
    /// Adds an approval of `approved` (assignment ids of this plan) to the plan's list.
    pub fn approve(
        &mut self,
        approver: &str,
        ticket: Option<String>,
        approved: Vec<String>,
        source: String,
        now: DateTime<Utc>,
        signed: Option<Signed>,
    ) -> std::result::Result<(), Refusal> {
        let approver = approver.trim();
        if approver.is_empty() {
            return Err(Refusal::NoApprover);
        }
        if now >= self.expires {
            return Err(Refusal::Expired {
                expires: self.expires,
                created: self.created,
            });
        }
        if approved.is_empty() {
            return Err(Refusal::NothingApproved);
        }
        let (signature, key) = match signed {
            Some(signed) => (Some(signed.signature), Some(signed.fingerprint)),
            None => (None, None),
        };
        self.approvals.push(Approval {
            approver: approver.to_string(),
            ticket,
            approved_at: now,
            plan_digest: self.digest(),
            items: approved,
            source,
            signature,
            key,
        });
        Ok(())
    }

    /// Assignment ids selected by `--only` / `--exclude`, in plan order. Unknown ids are errors.
    pub fn select(&self, selection: &Selection) -> std::result::Result<Vec<String>, Refusal> {
        let known: HashSet<&str> = self
            .items
            .iter()
            .map(|i| i.assignment_id.as_str())
            .collect();
        for id in selection.only.iter().chain(&selection.exclude) {
            if !known.contains(id.to_ascii_lowercase().as_str()) {
                return Err(Refusal::UnknownItem { id: id.clone() });
            }
        }
        let only: HashSet<String> = selection
            .only
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect();
        let exclude: HashSet<String> = selection
            .exclude
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect();
        Ok(self
            .items
            .iter()
            .map(|item| item.assignment_id.clone())
            .filter(|id| (only.is_empty() || only.contains(id)) && !exclude.contains(id))
            .collect())
    }
}

/// Reads the Approve column of the Plan sheet. The sheet's rows must be exactly the plan's
/// items in order, or the workbook belongs to another plan and is refused.
///
/// The sheet is streamed cell by cell into a grid of the plan's size: a workbook claiming a
/// huge sheet (one value in `XFD1048576`) is refused instead of allocated.
pub fn approved_in_workbook(plan: &Plan, path: &Path) -> Result<Vec<String>> {
    let refuse = |message: String| Error::refused(path, Refusal::Workbook { message });
    entra_model::input::check_regular_file(path)?;
    let mut workbook: Xlsx<_> =
        open_workbook(path).map_err(|e| refuse(format!("cannot be read as a workbook: {e}")))?;
    let grid = read_grid(&mut workbook, plan.items.len() + 1).map_err(refuse)?;
    let mut rows = grid.iter();
    let header: Vec<String> = rows.next().cloned().unwrap_or_default();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| refuse(format!("sheet `{PLAN_SHEET}` has no `{name}` column")))
    };
    let approve = column(APPROVE_COLUMN)?;
    let assignment = column(ASSIGNMENT_COLUMN)?;
    let digest_column = column(DIGEST_COLUMN)?;
    let digest = plan.digest();
    let rows: Vec<&Vec<String>> = rows.filter(|r| r.iter().any(|c| !c.is_empty())).collect();
    if rows.len() != plan.items.len() {
        return Err(refuse(format!(
            "sheet `{PLAN_SHEET}` has {} item rows but the plan has {} items: it is not this plan's workbook",
            rows.len(),
            plan.items.len()
        )));
    }
    let mut approved = Vec::new();
    for (index, (row, item)) in rows.iter().zip(&plan.items).enumerate() {
        let cell = |column: usize| row.get(column).cloned().unwrap_or_default();
        if cell(digest_column) != digest {
            return Err(refuse(format!(
                "sheet `{PLAN_SHEET}` row {} was written for plan {}, not this plan ({digest}): it is another run's workbook",
                index + 2,
                cell(digest_column)
            )));
        }
        let id = cell(assignment);
        if !id.eq_ignore_ascii_case(&item.assignment_id) {
            return Err(refuse(format!(
                "sheet `{PLAN_SHEET}` row {} names assignment `{id}` where the plan has `{}`: it is not this plan's workbook",
                index + 2,
                item.assignment_id
            )));
        }
        match cell(approve).to_ascii_lowercase().as_str() {
            "yes" => approved.push(item.assignment_id.clone()),
            "no" | "" => {}
            other => {
                return Err(refuse(format!(
                "sheet `{PLAN_SHEET}` row {} has `{other}` in `{APPROVE_COLUMN}`; use Yes or No",
                index + 2
            )))
            }
        }
    }
    Ok(approved)
}

/// Columns a Plan sheet may use; cells to the right (a reviewer's notes) are ignored.
const MAX_COLUMNS: usize = 64;

/// The Plan sheet's first `rows` rows as text, streamed; a value below them is an error.
fn read_grid(
    workbook: &mut Xlsx<std::io::BufReader<std::fs::File>>,
    rows: usize,
) -> std::result::Result<Vec<Vec<String>>, String> {
    let mut reader = workbook
        .worksheet_cells_reader(PLAN_SHEET)
        .map_err(|e| format!("has no readable `{PLAN_SHEET}` sheet: {e}"))?;
    let mut grid = vec![Vec::<String>::new(); rows];
    loop {
        let cell = reader
            .next_cell()
            .map_err(|e| format!("sheet `{PLAN_SHEET}` cannot be read: {e}"))?;
        let Some(cell) = cell else { break };
        let (row, column) = cell.get_position();
        let (row, column) = (row as usize, column as usize);
        let text = cell_text(&Data::from(cell.get_value().clone()));
        if text.is_empty() {
            continue;
        }
        let Some(line) = grid.get_mut(row) else {
            return Err(format!(
                "sheet `{PLAN_SHEET}` has a value at row {}, below the plan's {} item rows: it is not this plan's workbook",
                row + 1,
                rows - 1
            ));
        };
        if column >= MAX_COLUMNS {
            continue;
        }
        if line.len() <= column {
            line.resize(column + 1, String::new());
        }
        line[column] = text;
    }
    Ok(grid)
}

fn cell_text(cell: &Data) -> String {
    match cell {
        Data::String(s) => s.trim().to_string(),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

/// Who approved one item, once each (principals compared case-insensitively), and with which
/// keys: one key counts once, even where the policy lets it sign as several principals (a
/// wildcard line, a shared key), or four eyes would be one pair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemApprovals {
    pub principals: Vec<String>,
    /// Fingerprints of the keys that signed approvals of the item.
    pub keys: Vec<String>,
}

/// The approvals of a plan, checked: which items have enough distinct approvers.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    /// Assignment id (lower-cased) → who approved it.
    pub by_item: std::collections::HashMap<String, ItemApprovals>,
    /// Distinct approvers each item needs.
    pub min_approvers: usize,
}

impl Decision {
    pub fn approvers(&self, assignment_id: &str) -> &[String] {
        self.by_item
            .get(&assignment_id.to_ascii_lowercase())
            .map(|a| a.principals.as_slice())
            .unwrap_or_default()
    }

    pub fn is_approved(&self, assignment_id: &str) -> bool {
        self.approvers(assignment_id).len() >= self.min_approvers
    }
}

/// Checks every approval of `plan` and counts distinct approvers per item. With `allowed`
/// (an allowed_signers policy), every approval must carry a signature by a key allowed for its
/// approver over this plan's statement of its items; without it, approvals are unsigned names
/// and four eyes cannot be required. Any approval that fails a check refuses the whole plan:
/// a forged approval is a reason to stop, not to skip.
pub fn decide(
    plan: &Plan,
    allowed: Option<&AllowedSigners>,
    min_approvers: usize,
    now: DateTime<Utc>,
) -> std::result::Result<Decision, Refusal> {
    if min_approvers > 1 && allowed.is_none() {
        return Err(Refusal::FourEyesNeedsSignatures { min: min_approvers });
    }
    if plan.approvals.is_empty() {
        return Err(Refusal::NotApproved);
    }
    let digest = plan.digest();
    let known: HashSet<String> = plan
        .items
        .iter()
        .map(|i| i.assignment_id.to_ascii_lowercase())
        .collect();
    let mut decision = Decision {
        min_approvers: min_approvers.max(1),
        ..Decision::default()
    };
    for approval in &plan.approvals {
        let approver = approval.approver.trim();
        let invalid = |problem: String| Refusal::ApprovalInvalid {
            approver: approval.approver.clone(),
            problem,
        };
        if approver.is_empty() {
            return Err(invalid("it names no approver".into()));
        }
        if approval.plan_digest != digest {
            return Err(Refusal::ApprovalForAnotherPlan {
                approver: approver.to_string(),
                recorded: approval.plan_digest.clone(),
                actual: digest,
            });
        }
        let skew = Duration::minutes(SKEW_MINUTES);
        if approval.approved_at > now + skew || approval.approved_at + skew < plan.created {
            return Err(invalid(format!(
                "it is dated {}, outside the plan's life (created {}, now {})",
                approval.approved_at.to_rfc3339(),
                plan.created.to_rfc3339(),
                now.to_rfc3339()
            )));
        }
        let mut ids = HashSet::new();
        for id in &approval.items {
            let id = id.to_ascii_lowercase();
            if !known.contains(&id) {
                return Err(invalid(format!(
                    "it names `{id}`, which is not an item of the plan"
                )));
            }
            if !ids.insert(id.clone()) {
                return Err(invalid(format!("it names `{id}` twice")));
            }
        }
        if ids.is_empty() {
            return Err(invalid("it approves no item".into()));
        }
        let statement = plan.statement(&approval.items);
        let (principal, key) = match (allowed, &approval.signature) {
            (Some(_), None) => {
                return Err(Refusal::Unsigned {
                    approver: approver.to_string(),
                })
            }
            (Some(allowed), Some(signature)) => allowed
                .verify_for(
                    approver,
                    signature,
                    crate::trust::PLAN_NAMESPACE,
                    statement.as_bytes(),
                    now,
                )
                .map(|verified| (verified.principal, Some(verified.fingerprint)))
                .map_err(|error| Refusal::BadSignature {
                    approver: approver.to_string(),
                    detail: signature_problem(&error),
                })?,
            // No policy: a signature is still checked, so garbage is not carried along.
            (None, Some(signature)) => {
                let key = crate::trust::verify(
                    signature,
                    crate::trust::PLAN_NAMESPACE,
                    statement.as_bytes(),
                )
                .map_err(|error| Refusal::BadSignature {
                    approver: approver.to_string(),
                    detail: signature_problem(&error),
                })?;
                (approver.to_string(), Some(crate::trust::fingerprint(&key)))
            }
            (None, None) => (approver.to_string(), None),
        };
        for id in ids {
            let entry = decision.by_item.entry(id).or_default();
            let seen_principal = entry
                .principals
                .iter()
                .any(|p| p.eq_ignore_ascii_case(&principal));
            let seen_key = key.as_ref().is_some_and(|k| entry.keys.contains(k));
            if !seen_principal && !seen_key {
                entry.principals.push(principal.clone());
            }
            if !seen_key {
                entry.keys.extend(key.clone());
            }
        }
    }
    Ok(decision)
}

/// A signature failure in words an approver can act on.
fn signature_problem(error: &TrustError) -> String {
    match error {
        TrustError::BadSignature { .. } => {
            format!("{error}: it was made over another plan digest or another selection of items")
        }
        other => other.to_string(),
    }
}
