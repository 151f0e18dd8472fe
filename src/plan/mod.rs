//! The reprocess plan: which assignments to reprocess and why, as a versioned, digested file.
//! A plan is data; approving and applying it are separate steps.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::col;
use crate::audit::rows::StringRows;
use crate::error::{Error, Refusal, Result};
use crate::snapshot::SnapshotInfo;

pub mod approval;
pub mod remedy;
pub mod workbook;

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

pub use crate::files::digest;

/// Digest over the items' canonical JSON (field order is the struct's, so it is stable).
pub fn items_digest(items: &[PlanItem]) -> String {
    let mut digester = crate::files::Digester::default();
    // Serialising plain strings and vectors cannot fail, nor can writing to a hash.
    serde_json::to_writer(&mut digester, items).expect("plan items serialise");
    digester.finish()
}

/// Digest over the findings' required columns, one `\x1f`-separated line per finding, in the
/// findings' (deterministic) order: stable across report cosmetics.
pub fn findings_digest(findings: &DataFrame) -> Result<String> {
    let rows = StringRows::new(findings, &col::REQUIRED)?;
    let mut hasher = crate::files::Digester::default();
    for row in rows.iter() {
        for (index, cell) in row.iter().enumerate() {
            if index > 0 {
                hasher.update(b"\x1f");
            }
            hasher.update(cell.as_bytes());
        }
        hasher.update(b"\n");
    }
    Ok(hasher.finish())
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

    /// The plan digest: `sha256:` over the plan without its approvals and revocations, as
    /// canonical JSON (object keys sorted by code point, no whitespace, strings escaped as jq
    /// escapes them). It covers the format, version, tenant, times, snapshot, run, findings
    /// digest and items; a third party recomputes it with
    /// `jq -cjS 'del(.approvals, .revocations)' plan.json | sha256sum`.
    pub fn digest(&self) -> String {
        // A struct of strings, numbers and dates always serialises.
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let serde_json::Value::Object(map) = &mut value {
            map.remove("approvals");
            map.remove("revocations");
        }
        // Straight into the hash: a large plan's canonical text is hundreds of MB.
        let mut digester = crate::files::Digester::default();
        write_canonical(&value, &mut digester);
        digester.finish()
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

/// Canonical JSON: object keys sorted by code point, no whitespace, strings escaped as both
/// serde_json and jq escape them (`"`, `\\`, the short escapes, other controls as `\u00xx`),
/// and DEL as `\u007f`, which jq escapes and serde_json does not.
fn write_canonical(value: &serde_json::Value, out: &mut impl std::io::Write) {
    // Writing to memory or to a hash cannot fail; nothing else is written to.
    let put = |out: &mut dyn std::io::Write, bytes: &[u8]| {
        out.write_all(bytes)
            .expect("canonical JSON is written to memory");
    };
    match value {
        serde_json::Value::Object(map) => {
            put(out, b"{");
            // serde_json's map is sorted already (no `preserve_order`); sorted here all the
            // same, so that a dependency turning that feature on cannot change a digest.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    put(out, b",");
                }
                write_canonical_str(key, out);
                put(out, b":");
                write_canonical(&map[key], out);
            }
            put(out, b"}");
        }
        serde_json::Value::Array(items) => {
            put(out, b"[");
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    put(out, b",");
                }
                write_canonical(item, out);
            }
            put(out, b"]");
        }
        serde_json::Value::String(text) => write_canonical_str(text, out),
        scalar => serde_json::to_writer(out, scalar).expect("a JSON scalar serialises"),
    }
}

/// A string of [`write_canonical`]: serde_json's escaping, with DEL escaped as jq does.
fn write_canonical_str(text: &str, out: &mut impl std::io::Write) {
    if !text.contains('\u{7f}') {
        serde_json::to_writer(out, text).expect("a string serialises");
        return;
    }
    let escaped = serde_json::to_vec(text).expect("a string serialises");
    for piece in escaped.split_inclusive(|byte| *byte == 0x7f) {
        let result = match piece.split_last() {
            Some((0x7f, before)) => out
                .write_all(before)
                .and_then(|()| out.write_all(b"\\u007f")),
            _ => out.write_all(piece),
        };
        result.expect("canonical JSON is written to memory");
    }
}

#[cfg(test)]
mod digest_tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let value = serde_json::json!({"b": [{"z": 1, "a": "é\n"}], "a": null});
        let mut out = Vec::new();
        write_canonical(&value, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":null,"b":[{"a":"é\n","z":1}]}"#
        );
        let mut out = Vec::new();
        write_canonical(&serde_json::json!({"k": "a\u{7f}\u{1}\u{2028}"}), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"k\":\"a\\u007f\\u0001\u{2028}\"}"
        );
    }
}
