//! Approval of a plan: who approved which items, when, under which ticket. Approval never
//! changes the items; it is bound to their digest.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use calamine::{open_workbook, Data, Xlsx};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{Action, Plan};
use crate::error::{Error, Refusal, Result};
use crate::trust::{AllowedSigners, TrustError};

/// Name of the Plan sheet and of its approval column in `drift.xlsx`.
pub const PLAN_SHEET: &str = "Plan";
pub const APPROVE_COLUMN: &str = "approve";
pub const ASSIGNMENT_COLUMN: &str = "assignment_id";
pub const ITEM_COLUMN: &str = "item_id";
/// The plan digest on every item row: a workbook of another run's plan is refused even when
/// its assignment ids match.
pub const DIGEST_COLUMN: &str = "plan_digest";
/// The reviewer's action for the row (a drop-down of the row's choices) and, for `accept`,
/// the reason recorded with the exception.
pub const ACTION_COLUMN: &str = "action";
pub const REASON_COLUMN: &str = "accept_reason";

/// The Plan sheet's headings in words, by column name. The sheet is written with the words; a
/// sheet headed with the names (written before the headings were words) is read as well.
pub fn plan_heading(name: &str) -> &'static str {
    match name {
        APPROVE_COLUMN => "Approve",
        ACTION_COLUMN => "Action",
        REASON_COLUMN => "Reason for accepting",
        ITEM_COLUMN => "Item id",
        ASSIGNMENT_COLUMN => "Assignment id",
        DIGEST_COLUMN => "Plan digest",
        _ => "",
    }
}

/// The action an approver chose for an item, where it is not the plan's default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub action: Action,
    /// Why the finding is accepted (`accept`): recorded with the exception.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

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
    /// Item id → the action chosen where it differs from the item's default (signed with the
    /// items: see [`Plan::statement_with`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub choices: BTreeMap<String, Choice>,
}

impl Approval {
    /// Puts the approval's ids in their canonical form ([`super::canonical_id`]), as the
    /// statement its signature covers has them. Two choices whose ids differ only in case would
    /// make "the" choice for that item ambiguous: refused, naming the approval.
    pub fn canonicalize(&mut self) -> std::result::Result<(), Refusal> {
        self.items = self
            .items
            .iter()
            .map(|id| super::canonical_id(id))
            .collect();
        let mut choices = BTreeMap::new();
        for (id, choice) in std::mem::take(&mut self.choices) {
            let id = super::canonical_id(&id);
            if choices.insert(id.clone(), choice).is_some() {
                return Err(Refusal::ApprovalInvalid {
                    approver: self.approver.clone(),
                    problem: format!(
                        "it chooses an action for `{id}` more than once (ids that differ only in case)"
                    ),
                });
            }
        }
        self.choices = choices;
        Ok(())
    }
}

/// Approvals taken back by their approver (`plan approve --revoke`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// Whose approvals were removed.
    pub approver: String,
    pub revoked_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// When each removed approval had been given, and the items it approved.
    pub removed: Vec<RevokedApproval>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedApproval {
    pub approved_at: DateTime<Utc>,
    pub items: Vec<String>,
    /// The signing key's fingerprint, where the approval was signed.
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
    /// Adds an approval of `approved` (item ids of this plan) to the plan's list, with the
    /// actions chosen where they differ from the defaults.
    #[allow(clippy::too_many_arguments)] // the approval's own fields
    pub fn approve(
        &mut self,
        approver: &str,
        ticket: Option<String>,
        approved: Vec<String>,
        choices: BTreeMap<String, Choice>,
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
            choices,
        });
        Ok(())
    }

    /// Removes every approval by `approver` (compared case-insensitively) and records that it
    /// did; returns how many it removed. Revoking is always allowed, even after expiry: it only
    /// takes permission away.
    pub fn revoke(
        &mut self,
        approver: &str,
        ticket: Option<String>,
        now: DateTime<Utc>,
    ) -> std::result::Result<usize, Refusal> {
        let approver = approver.trim();
        if approver.is_empty() {
            return Err(Refusal::NoApprover);
        }
        let (theirs, others): (Vec<Approval>, Vec<Approval>) = std::mem::take(&mut self.approvals)
            .into_iter()
            .partition(|a| a.approver.trim().eq_ignore_ascii_case(approver));
        self.approvals = others;
        if theirs.is_empty() {
            return Err(Refusal::NothingToRevoke {
                approver: approver.to_string(),
            });
        }
        let count = theirs.len();
        self.revocations.push(Revocation {
            approver: approver.to_string(),
            revoked_at: now,
            ticket,
            removed: theirs
                .into_iter()
                .map(|a| RevokedApproval {
                    approved_at: a.approved_at,
                    items: a.items,
                    key: a.key,
                })
                .collect(),
        });
        Ok(count)
    }

    /// The approvals that approve `item`.
    pub fn approvals_of<'p>(
        &'p self,
        item: &'p super::PlanItem,
    ) -> impl Iterator<Item = &'p Approval> + 'p {
        self.approvals
            .iter()
            .filter(move |a| a.items.iter().any(|i| super::canonical_id(i) == item.id()))
    }

    /// The choices of `action` (with `reason`) for the `approved` items, checked against each
    /// item's choices; an item whose default is already `action` needs none.
    pub fn choose(
        &self,
        approved: &[String],
        action: Option<Action>,
        reason: Option<&str>,
    ) -> std::result::Result<BTreeMap<String, Choice>, Refusal> {
        let mut choices = BTreeMap::new();
        let by_key: HashMap<String, &super::PlanItem> =
            self.items.iter().map(|i| (i.id(), i)).collect();
        for id in approved {
            let Some(item) = by_key.get(&super::canonical_id(id)) else {
                return Err(Refusal::UnknownItem { id: id.clone() });
            };
            let chosen = action.unwrap_or(item.action);
            if !item.choices().contains(&chosen) {
                return Err(Refusal::ActionNotAllowed {
                    id: id.clone(),
                    action: chosen.to_string(),
                    allowed: super::remedy::names(&item.choices()),
                });
            }
            if chosen == Action::Decide {
                return Err(Refusal::Undecided { id: id.clone() });
            }
            let reason = reason.map(str::trim).filter(|r| !r.is_empty());
            if chosen == Action::Accept && reason.is_none() {
                return Err(Refusal::AcceptNeedsReason { id: id.clone() });
            }
            if reason.is_some_and(|r| r.contains(['\n', '\r'])) {
                return Err(Refusal::AcceptNeedsReason { id: id.clone() });
            }
            if chosen != item.action || chosen == Action::Accept {
                choices.insert(
                    super::canonical_id(id),
                    Choice {
                        action: chosen,
                        reason: reason
                            .filter(|_| chosen == Action::Accept)
                            .map(str::to_string),
                    },
                );
            }
        }
        Ok(choices)
    }

    /// Item ids selected by `--only` / `--exclude`, in plan order. Unknown ids are errors.
    /// Without `--only` and without an action chosen, items left on `decide` are not selected
    /// (approving "everything" never picks an action for them); named with `--only`, they are,
    /// and [`Plan::choose`] then asks for an action.
    pub fn select(
        &self,
        selection: &Selection,
        action: Option<Action>,
    ) -> std::result::Result<Vec<String>, Refusal> {
        let known: HashSet<String> = self.items.iter().map(|i| i.id()).collect();
        for id in selection.only.iter().chain(&selection.exclude) {
            if !known.contains(&super::canonical_id(id)) {
                return Err(Refusal::UnknownItem { id: id.clone() });
            }
        }
        let only: HashSet<String> = selection
            .only
            .iter()
            .map(|s| super::canonical_id(s))
            .collect();
        let exclude: HashSet<String> = selection
            .exclude
            .iter()
            .map(|s| super::canonical_id(s))
            .collect();
        let undecided = |item: &super::PlanItem| {
            action.is_none() && only.is_empty() && item.action == Action::Decide
        };
        let picked: Vec<String> = self
            .items
            .iter()
            .filter(|item| !undecided(item))
            .map(|item| item.id())
            .filter(|id| (only.is_empty() || only.contains(id)) && !exclude.contains(id))
            .collect();
        // An action chosen for every item applies to the items that can take it.
        Ok(match action {
            Some(action) if only.is_empty() => picked
                .into_iter()
                .filter(|id| {
                    self.items
                        .iter()
                        .any(|i| i.id() == *id && i.choices().contains(&action))
                })
                .collect(),
            _ => picked,
        })
    }
}

/// Reads the Approve column of the Plan sheet. The sheet's rows must be exactly the plan's
/// items in order, or the workbook belongs to another plan and is refused.
///
/// The sheet is streamed cell by cell into a grid of the plan's size: a workbook claiming a
/// huge sheet (one value in `XFD1048576`) is refused instead of allocated.
pub fn approved_in_workbook(
    plan: &Plan,
    path: &Path,
) -> Result<(Vec<String>, BTreeMap<String, Choice>)> {
    let refuse = |message: String| Error::refused(path, Refusal::Workbook { message });
    super::workbook::check(path).map_err(refuse)?;
    let mut workbook: Xlsx<_> =
        open_workbook(path).map_err(|e| refuse(format!("cannot be read as a workbook: {e}")))?;
    let grid = read_grid(&mut workbook, plan.items.len() + 1).map_err(refuse)?;
    let mut rows = grid.iter();
    let header: Vec<String> = rows.next().cloned().unwrap_or_default();
    let find = |name: &str| {
        header
            .iter()
            .position(|h| h == name || h == plan_heading(name))
    };
    let column = |name: &str| {
        find(name).ok_or_else(|| {
            refuse(format!(
                "sheet `{PLAN_SHEET}` has no `{}` column",
                plan_heading(name)
            ))
        })
    };
    let approve = column(APPROVE_COLUMN)?;
    // Sheets of version-4 plans name every item in `item_id`; earlier ones only assignments.
    let assignment = column(ITEM_COLUMN).or_else(|_| column(ASSIGNMENT_COLUMN))?;
    let action_column = find(ACTION_COLUMN);
    let reason_column = find(REASON_COLUMN);
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
    let mut choices = BTreeMap::new();
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
        if super::canonical_id(&id) != item.id() {
            return Err(refuse(format!(
                "sheet `{PLAN_SHEET}` row {} names item `{id}` where the plan has `{}`: it is not this plan's workbook",
                index + 2,
                item.key()
            )));
        }
        match cell(approve).to_ascii_lowercase().as_str() {
            "yes" => {
                let key = item.id();
                let action = match action_column.map(cell).filter(|a| !a.is_empty()) {
                    Some(text) => Some(Action::parse(&text).ok_or_else(|| {
                        refuse(format!(
                            "sheet `{PLAN_SHEET}` row {} has `{text}` in `{}`; use one of {}",
                            index + 2,
                            plan_heading(ACTION_COLUMN),
                            super::remedy::names(&item.choices())
                        ))
                    })?),
                    None => None,
                };
                let reason = reason_column.map(cell);
                let chosen = plan
                    .choose(std::slice::from_ref(&key), action, reason.as_deref())
                    .map_err(|reason| {
                        refuse(format!("sheet `{PLAN_SHEET}` row {}: {reason}", index + 2))
                    })?;
                choices.extend(chosen);
                approved.push(key);
            }
            "no" | "" => {}
            other => {
                return Err(refuse(format!(
                    "sheet `{PLAN_SHEET}` row {} has `{other}` in `{}`; use Yes or No",
                    index + 2,
                    plan_heading(APPROVE_COLUMN)
                )))
            }
        }
    }
    Ok((approved, choices))
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

/// The approvals of a plan, checked: which items have enough distinct approvers, and the
/// action they chose.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    /// Item id (lower-cased) → who approved it.
    pub by_item: std::collections::HashMap<String, ItemApprovals>,
    /// Distinct approvers each item needs.
    pub min_approvers: usize,
    /// Item id → the action its approvals chose (the item's default where none chose).
    pub actions: HashMap<String, Action>,
    /// Item id → the reason of an `accept`.
    pub reasons: HashMap<String, String>,
    /// Items whose approvers chose different actions: not applied until they agree.
    pub conflicts: HashSet<String>,
}

impl Decision {
    pub fn approvers(&self, id: &str) -> &[String] {
        self.by_item
            .get(&super::canonical_id(id))
            .map(|a| a.principals.as_slice())
            .unwrap_or_default()
    }

    pub fn is_approved(&self, id: &str) -> bool {
        let id = super::canonical_id(id);
        self.approvers(&id).len() >= self.min_approvers && !self.conflicts.contains(&id)
    }

    /// The action the approvals chose for an item, if any chose one.
    pub fn action(&self, id: &str) -> Option<Action> {
        self.actions.get(&super::canonical_id(id)).copied()
    }

    /// The action to apply to an item: the approvals' choice, else the item's default.
    pub fn action_for(&self, item: &super::PlanItem) -> Action {
        self.action(item.key()).unwrap_or(item.action)
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
    let known: HashMap<String, &super::PlanItem> = plan.items.iter().map(|i| (i.id(), i)).collect();
    let mut decision = Decision {
        min_approvers: min_approvers.max(1),
        ..Decision::default()
    };
    for approval in &plan.approvals {
        // Ids compared only in their canonical form, whoever built the plan in memory.
        let mut approval = approval.clone();
        approval.canonicalize()?;
        let approval = &approval;
        let approver = approval.approver.trim();
        let invalid = |problem: String| Refusal::ApprovalInvalid {
            approver: approval.approver.clone(),
            problem,
        };
        if approver.is_empty() {
            return Err(invalid("it names no approver".into()));
        }
        // A revoked approval pasted back (from a backup, an older copy) stays revoked.
        if let Some(revocation) = plan.revocations.iter().find(|r| {
            r.approver.trim().eq_ignore_ascii_case(approver)
                && r.removed.iter().any(|gone| {
                    gone.approved_at == approval.approved_at && gone.key == approval.key
                })
        }) {
            return Err(invalid(format!(
                "it was revoked on {}",
                revocation.revoked_at.to_rfc3339()
            )));
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
        let mut chosen: HashMap<String, (Action, Option<String>)> = HashMap::new();
        for id in &approval.items {
            let id = super::canonical_id(id);
            let Some(item) = known.get(&id) else {
                return Err(invalid(format!(
                    "it names `{id}`, which is not an item of the plan"
                )));
            };
            if !ids.insert(id.clone()) {
                return Err(invalid(format!("it names `{id}` twice")));
            }
            let choice = approval.choices.get(&id);
            // A reason is one line of the signed statement: a line break in it could make
            // another set of choices read as the same statement.
            if choice
                .and_then(|c| c.reason.as_deref())
                .is_some_and(|r| r.contains(['\n', '\r']))
            {
                return Err(invalid(format!(
                    "its reason for `{id}` spans more than one line"
                )));
            }
            let action = choice.map_or(item.action, |c| c.action);
            if !item.choices().contains(&action) {
                return Err(invalid(format!(
                    "it chooses `{action}` for `{id}`, whose choices are {}",
                    super::remedy::names(&item.choices())
                )));
            }
            if action == Action::Decide {
                return Err(invalid(format!(
                    "it approves `{id}` without choosing an action (the item is on `decide`)"
                )));
            }
            chosen.insert(id, (action, choice.and_then(|c| c.reason.clone())));
        }
        for id in approval.choices.keys() {
            if !ids.contains(&super::canonical_id(id)) {
                return Err(invalid(format!(
                    "it chooses an action for `{id}`, which it does not approve"
                )));
            }
        }
        if ids.is_empty() {
            return Err(invalid("it approves no item".into()));
        }
        let statement = plan.statement_with(&approval.items, &approval.choices);
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
            if let Some((action, reason)) = chosen.remove(&id) {
                match decision.actions.get(&id) {
                    Some(earlier) if *earlier != action => {
                        decision.conflicts.insert(id.clone());
                    }
                    _ => {
                        decision.actions.insert(id.clone(), action);
                    }
                }
                if let Some(reason) = reason {
                    decision.reasons.insert(id.clone(), reason);
                }
            }
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
