//! The reprocess plan: which assignments to reprocess and why, as a versioned, digested file.
//! A plan is data; approving and applying it are separate steps.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Refusal, Result};
use crate::snapshot::SnapshotInfo;

pub mod approval;
mod digest;
mod items;
pub mod remedy;
pub mod workbook;

pub use digest::{findings_digest, items_digest};
pub use items::{
    access_item_id, describe_cause, finding_item_id, is_access_item_id, mark_findings, plan_items,
    plan_items_covering, Covering, Planned, WAITING_FOR_REVIEWER,
};
pub use remedy::{Action, Remedies};

/// What `format` says; a reader refuses any other.
pub const FORMAT: &str = "entra-drift/reprocess-plan";
/// Bumped on any change an older reader would misread. Version 2: one digest over the whole
/// plan, the run it belongs to, and a list of (signed) approvals. Version 3: items of kind
/// `request_reprocess` (a failed delivery retried through its assignment request). Version 4:
/// an action per item (`reprocess`, `remove_assignment`, `remove_access`, `accept`, `decide`)
/// with the choices a reviewer has, items for access without assignment, and approvals that
/// record (and sign) the action chosen.
pub const VERSION: u32 = 4;
/// The oldest version this one still reads (version 2 has only `reprocess` items).
pub const OLDEST_READABLE: u32 = 2;
pub const DEFAULT_EXPIRY_DAYS: i64 = 7;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format: String,
    pub version: u32,
    pub tenant_id: String,
    #[serde(default)]
    pub tenant_name: Option<String>,
    pub created: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    /// When and from what the snapshot was taken.
    pub snapshot_taken_at: DateTime<Utc>,
    pub snapshot_source: String,
    /// The run folder (`<UTC timestamp>`) whose manifest commits this plan.
    pub run: String,
    /// Digest of the findings the plan came from ([`findings_digest`]).
    pub findings_digest: String,
    /// Digest of `items` ([`items_digest`]); apply refuses items that do not match it.
    pub items_digest: String,
    pub items: Vec<PlanItem>,
    /// Who approved which items, one entry per `plan approve`; not covered by the plan
    /// digest (each approval binds to it instead).
    #[serde(default)]
    pub approvals: Vec<approval::Approval>,
    /// Approvals taken back (`plan approve --revoke`): who, when, and which approvals; not
    /// covered by the plan digest, like the approvals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revocations: Vec<approval::Revocation>,
}

/// What applying an item does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// `POST .../assignments/{id}/reprocess`: re-apply a delivered assignment's roles.
    #[default]
    Reprocess,
    /// `POST .../assignmentRequests/{id}/reprocess`: retry a failed delivery.
    RequestReprocess,
}

impl ItemKind {
    fn is_reprocess(&self) -> bool {
        *self == ItemKind::Reprocess
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Reprocess => "reprocess",
            ItemKind::RequestReprocess => "request_reprocess",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanItem {
    /// Absent for `reprocess` (so that version-2 plans read and digest as written).
    #[serde(default, skip_serializing_if = "ItemKind::is_reprocess")]
    pub kind: ItemKind,
    /// The assignment request a `request_reprocess` item retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The id of an item that is no assignment (access without assignment): `access-` and 16
    /// hex digits of the access it names. Absent for assignment items, whose id is
    /// `assignment_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    /// Empty for an item that is no assignment.
    pub assignment_id: String,
    pub access_package_id: String,
    pub access_package_name: String,
    pub user_id: String,
    pub user_display_name: String,
    pub user_principal_name: String,
    pub missing_roles: Vec<MissingRole>,
    /// Access without assignment: the role the user holds that no assignment explains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unexplained: Option<MissingRole>,
    /// Why this assignment is in the plan, for the reviewer.
    pub reason: String,
    /// The action the audit chose from the cause (`[remedies]`); absent: `reprocess`.
    #[serde(default, skip_serializing_if = "Action::is_reprocess")]
    pub action: Action,
    /// The actions a reviewer may choose instead; absent: `reprocess` only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
}

impl PlanItem {
    /// The item's id as the plan writes it: what results show.
    pub fn key(&self) -> &str {
        self.item_id.as_deref().unwrap_or(&self.assignment_id)
    }

    /// The item's canonical id ([`canonical_id`]): what approvals, the signed statement, the
    /// journal and every lookup compare.
    pub fn id(&self) -> String {
        canonical_id(self.key())
    }

    /// The actions a reviewer may choose for this item.
    pub fn choices(&self) -> Vec<Action> {
        if self.actions.is_empty() {
            vec![self.action]
        } else {
            self.actions.clone()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingRole {
    pub resource_type: String,
    pub resource_id: String,
    pub role: String,
    pub resource_name: String,
    pub role_name: String,
    /// Why the access went, from the audit log (`removed by alice@contoso.com (user) on
    /// 2026-11-20T10:00:00Z`, `not_in_log`, ...), so approvers see what reprocessing undoes.
    /// Absent when the log was not asked for (and in plans written before causes existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// The canonical form of an item id (an assignment GUID or an `access-` id): lower case.
/// Every id that enters from a plan, an approval, a journal, a workbook or the command line is
/// put in this form where it is read; nothing downstream compares ids any other way.
pub fn canonical_id(id: &str) -> String {
    id.to_ascii_lowercase()
}

/// Parses an item id read from outside the plan (an approval, a journal line, a workbook
/// cell, the command line): an assignment GUID or an `access-` id, in its canonical form.
pub fn parse_item_id(
    id: &str,
    origin: &str,
) -> std::result::Result<String, entra_model::InputError> {
    let canonical = canonical_id(id);
    if is_access_item_id(&canonical) {
        return Ok(canonical);
    }
    entra_model::ids::check_guid(id, "item id", origin)?;
    Ok(canonical)
}

pub use crate::files::digest;

impl Plan {
    /// How many items the plan holds, and how many of them wait on `decide`.
    pub fn counts(&self) -> (usize, usize) {
        let undecided = self
            .items
            .iter()
            .filter(|i| i.action == Action::Decide)
            .count();
        (self.items.len(), undecided)
    }

    pub fn new(
        info: &SnapshotInfo,
        findings: &DataFrame,
        run: &str,
        created: DateTime<Utc>,
        expiry_days: i64,
        remedies: &Remedies,
    ) -> Result<Plan> {
        let items = plan_items(findings, remedies)?;
        let planned = Planned::new(findings, items)?;
        Ok(Plan::with_items(info, planned, run, created, expiry_days))
    }

    /// [`Plan::new`] with the items [`plan_items`] made of its findings already, and their
    /// digests (the audit makes them once, beside marking its findings, and hands them on).
    pub fn with_items(
        info: &SnapshotInfo,
        planned: Planned,
        run: &str,
        created: DateTime<Utc>,
        expiry_days: i64,
    ) -> Plan {
        let Planned {
            items,
            findings_digest,
            items_digest,
        } = planned;
        Plan {
            format: FORMAT.to_string(),
            version: VERSION,
            tenant_id: info.tenant_id.clone(),
            tenant_name: info.tenant_name.clone(),
            created,
            expires: created + Duration::days(expiry_days),
            snapshot_taken_at: info.taken_at,
            snapshot_source: info.source.clone(),
            run: run.to_string(),
            findings_digest,
            items_digest,
            items,
            approvals: Vec::new(),
            revocations: Vec::new(),
        }
    }

    /// The bytes the audit wrote (the plan without approvals, as [`Plan::write`] writes it):
    /// what the run's manifest records for `plan.json`.
    pub fn committed_bytes(&self) -> Vec<u8> {
        let mut plain = self.clone();
        plain.approvals.clear();
        plain.revocations.clear();
        plain.to_text().into_bytes()
    }

    fn to_text(&self) -> String {
        // A struct of strings, numbers and dates always serialises.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// What an approver signs (and `plan digest` prints): the plan digest, and the approved
    /// items when they are not all of the plan's items.
    pub fn statement(&self, approved: &[String]) -> String {
        self.statement_with(approved, &Default::default())
    }

    /// [`Plan::statement`] with the actions the approver chose: one `choice:` line per item
    /// whose action the approval sets (sorted by item), so the signature covers them.
    pub fn statement_with(
        &self,
        approved: &[String],
        choices: &std::collections::BTreeMap<String, approval::Choice>,
    ) -> String {
        let mut ids: Vec<String> = approved.iter().map(|id| canonical_id(id)).collect();
        ids.sort();
        ids.dedup();
        let mut all: Vec<String> = self.items.iter().map(PlanItem::id).collect();
        all.sort();
        let mut text = if ids == all {
            format!("{}\n", self.digest())
        } else {
            format!("{}\nonly: {}\n", self.digest(), ids.join(","))
        };
        for (id, choice) in choices {
            text += &format!("choice: {} {}", canonical_id(id), choice.action);
            if let Some(reason) = &choice.reason {
                text += &format!(" {}", reason.trim());
            }
            text.push('\n');
        }
        text
    }

    /// Writes the plan atomically (a temporary file renamed over the target), so a crash
    /// never leaves half a plan.
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::files::write_durable(path, self.to_text().as_bytes())
    }

    /// Reads a plan, checking the format and version before anything else, then the items
    /// against their digest.
    pub fn read(path: &Path) -> Result<Plan> {
        let refuse = |reason: Refusal| Error::refused(path, reason);
        let raw: serde_json::Value = entra_model::read_json(path)?;
        let format = raw.get("format").and_then(|v| v.as_str()).unwrap_or("");
        let version = raw.get("version").and_then(|v| v.as_u64());
        if format != FORMAT {
            return Err(refuse(Refusal::NotAPlan {
                format: format.to_string(),
                expected: FORMAT,
            }));
        }
        if !version.is_some_and(|v| (u64::from(OLDEST_READABLE)..=u64::from(VERSION)).contains(&v))
        {
            return Err(refuse(Refusal::UnknownVersion {
                version: version
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "(none)".into()),
                tool: env!("CARGO_PKG_VERSION"),
                understood: format!(
                    "versions {OLDEST_READABLE} to {VERSION}; a version-1 plan predates signed approvals"
                ),
            }));
        }
        let plan: Plan = serde_json::from_value(raw).map_err(|e| {
            refuse(Refusal::Malformed {
                message: e.to_string(),
            })
        })?;
        let mut plan = plan;
        plan.check_integrity().map_err(refuse)?;
        plan.check_ids(path)?;
        for approval in &mut plan.approvals {
            approval.canonicalize().map_err(refuse)?;
        }
        Ok(plan)
    }

    /// Item ids go into Graph URLs (reprocess, re-checks): each must be of its form, or the
    /// plan is refused naming the item. The item digest cannot vouch for this: an edited plan
    /// with recomputed digests is exactly what this stops.
    fn check_ids(&self, path: &Path) -> Result<()> {
        use entra_model::ids::check_guid;
        for (index, item) in self.items.iter().enumerate() {
            let at = format!("{} item {}", path.display(), index + 1);
            let inconsistent =
                |message: &str| Error::Input(entra_model::InputError::inconsistent(&at, message));
            match &item.item_id {
                Some(id) => {
                    if !is_access_item_id(id) {
                        return Err(inconsistent(
                            "its item_id is not of the form access-<16 hex digits>",
                        ));
                    }
                    if item.unexplained.is_none() {
                        return Err(inconsistent("an access item names no `unexplained` role"));
                    }
                }
                None => {
                    check_guid(&item.assignment_id, "assignment id", &at)?;
                    check_guid(&item.access_package_id, "access package id", &at)?;
                }
            }
            check_guid(&item.user_id, "user id", &at)?;
            if let Some(request) = &item.request_id {
                check_guid(request, "assignment request id", &at)?;
            }
            if item.kind == ItemKind::RequestReprocess && item.request_id.is_none() {
                return Err(inconsistent("a request_reprocess item names no request_id"));
            }
            if !item.choices().contains(&item.action) {
                return Err(inconsistent("its action is not one of its choices"));
            }
            for role in item.missing_roles.iter().chain(&item.unexplained) {
                if matches!(role.resource_type.as_str(), "group" | "application") {
                    check_guid(&role.resource_id, "resource id", &at)?;
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (index, item) in self.items.iter().enumerate() {
            if !seen.insert(item.id()) {
                return Err(Error::refused(
                    path,
                    Refusal::DuplicateItem {
                        id: item.key().to_string(),
                        number: index + 1,
                    },
                ));
            }
        }
        for approval in &self.approvals {
            for id in approval.items.iter().chain(approval.choices.keys()) {
                parse_item_id(id, &path.display().to_string())?;
            }
        }
        Ok(())
    }

    /// The items must hash to `items_digest`: any edit to them after the audit is refused.
    pub fn check_integrity(&self) -> std::result::Result<(), Refusal> {
        let actual = items_digest(&self.items);
        if actual != self.items_digest {
            return Err(Refusal::Tampered {
                recorded: self.items_digest.clone(),
                computed: actual,
            });
        }
        Ok(())
    }
}

impl MissingRole {
    /// The resource's name, or its id where it has none.
    pub fn resource_label(&self) -> &str {
        if self.resource_name.is_empty() {
            &self.resource_id
        } else {
            &self.resource_name
        }
    }

    /// The role as a reader says it (`member of group X`).
    pub fn phrase(&self) -> String {
        crate::audit::role_phrase(
            &self.resource_type,
            self.role_name_or_role(),
            self.resource_label(),
        )
    }

    /// The role's display name, or its id where the package did not name it.
    pub fn role_name_or_role(&self) -> &str {
        if self.role_name.is_empty() {
            &self.role
        } else {
            &self.role_name
        }
    }
}
