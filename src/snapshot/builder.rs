//! Collects Graph objects from any source, checks that they form a consistent tenant, and
//! builds the snapshot [`Tables`]. Errors name the object and where it came from.

use std::collections::{HashMap, HashSet};

use polars::prelude::*;

use super::events::{self, Fact, Skip};
use super::roles::{self, ClassifiedRole};
use super::{col, AuditLog, Tables};
use crate::error::{Error, FrameContext, Result};
use crate::model::{
    AccessPackage, AccessPackageAssignment, AccessPackageAssignmentRequest, AppRoleAssignment,
    DirectoryAudit, DirectoryObject, User,
};

/// A resource one read covers: `(resource_type, resource_id, collection)`.
pub type ResourceKey = (&'static str, String, roles::Collection);

#[derive(Default)]
pub struct SnapshotBuilder {
    package_ids: HashSet<String>,
    packages: Columns<3>,
    package_roles: Columns<7>,
    package_role_collections: Vec<Option<roles::Collection>>,
    /// SharePoint sites by their URL in ASCII lower case (SharePoint's URLs are
    /// case-insensitive): the one spelling all their package roles use, the least of those the
    /// packages use, so that it does not depend on the order they are read in (a finding's
    /// resource id, and so its key across runs, stays the same while the packages' spellings
    /// do).
    site_spellings: HashMap<String, String>,
    assignment_ids: HashSet<String>,
    /// `(assignment id, package id, origin)`: checked against the packages at the end, when
    /// every package has been seen whatever the order of reading.
    assignment_packages: Vec<(String, String, String)>,
    assignments: Columns<6>,
    assignment_targets: Vec<Option<String>>,
    assignment_starts: Vec<Option<i64>>,
    user_ids: HashSet<String>,
    users: Columns<4>,
    user_enabled: Vec<Option<bool>>,
    holdings: Holdings,
    status: HashMap<ResourceKey, (String, String, Option<String>)>,
    requests: Columns<4>,
    requests_unread: Option<String>,
    facts: Vec<Fact>,
    event_skips: std::collections::BTreeMap<Skip, usize>,
    audit_log: Option<AuditLog>,
    /// Assignment states this tool does not know, with how many assignments have each.
    unknown_states: std::collections::BTreeMap<String, usize>,
}

/// Row-wise accumulation of string columns, turned into a frame once.
struct Columns<const N: usize>([Vec<Option<String>>; N]);

impl<const N: usize> Default for Columns<N> {
    fn default() -> Self {
        Columns(std::array::from_fn(|_| Vec::new()))
    }
}

impl<const N: usize> Columns<N> {
    fn push(&mut self, row: [Option<String>; N]) {
        for (column, value) in self.0.iter_mut().zip(row) {
            column.push(value);
        }
    }

    fn into_columns(self, names: [&str; N]) -> Vec<Column> {
        self.0
            .into_iter()
            .zip(names)
            .map(|(values, name)| Column::new(name.into(), values))
            .collect()
    }
}

fn lower(value: &str) -> String {
    value.to_ascii_lowercase()
}

impl SnapshotBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a package and its resource roles. `origin` names where it was read (a file, a URL).
    pub fn add_package(&mut self, package: &AccessPackage, origin: &str) -> Result<()> {
        let id = lower(&package.id);
        let at = || format!("{origin}: access package `{}`", package.id);
        if !self.package_ids.insert(id.clone()) {
            return Err(Error::inconsistent(at(), "duplicate access package id"));
        }
        let scopes = package.resource_role_scopes.as_ref().ok_or_else(|| {
            Error::inconsistent(
                at(),
                "has no `resourceRoleScopes` (read it with `$expand=resourceRoleScopes($expand=role,scope)`)",
            )
        })?;
        let catalog = package
            .catalog_id
            .clone()
            .or_else(|| package.catalog.as_ref().and_then(|c| c.id.clone()));
        self.packages
            .push([Some(id.clone()), package.display_name.clone(), catalog]);
        let mut seen = HashSet::new();
        for scope in scopes {
            let (Some(role), Some(resource_scope)) = (&scope.role, &scope.scope) else {
                return Err(Error::inconsistent(
                    at(),
                    format!(
                        "resource role scope `{}` lacks its expanded `role` or `scope`",
                        scope.id.as_deref().unwrap_or("?")
                    ),
                ));
            };
            let classified = roles::classify(role, resource_scope).map_err(|reason| {
                Error::inconsistent(
                    at(),
                    format!(
                        "resource role scope `{}`: {reason}",
                        scope.id.as_deref().unwrap_or("?")
                    ),
                )
            })?;
            let ClassifiedRole {
                resource_type,
                resource_id,
                role: role_key,
                collection,
                origin_system,
            } = classified;
            // Two packages that spell one site two ways name one resource: read once, held
            // once, and explained by either package's assignments. `same` is what makes two
            // rows one role: a site listed in two spellings by one package too.
            let (resource_id, same) = if resource_type == roles::SHAREPOINT_SITE {
                let site = resource_id.to_ascii_lowercase();
                (self.spell_site(resource_id, &site), site)
            } else {
                (resource_id.clone(), resource_id)
            };
            // The same role listed twice in one package would double every finding.
            if !seen.insert((resource_type, same, role_key.clone())) {
                continue;
            }
            // A root scope's own name is "Root": it names no resource, so the resource is
            // named by the directory, or by its id (never "member of group Root").
            let scope_name = resource_scope
                .display_name
                .clone()
                .filter(|name| !name.trim().eq_ignore_ascii_case("root"));
            self.package_roles.push([
                Some(id.clone()),
                Some(resource_type.to_string()),
                Some(resource_id),
                Some(role_key),
                scope_name,
                role.display_name.clone(),
                Some(origin_system),
            ]);
            self.package_role_collections.push(collection);
        }
        if package.resource_role_scopes_next_link.is_some() {
            self.mark_package_incomplete(
                &package.id,
                package.display_name.clone(),
                "its resourceRoleScopes continue at an @odata.nextLink that was not read".into(),
            );
        }
        Ok(())
    }

    /// The spelling of site `url` (`site`: its ASCII lower case) its package roles use
    /// (`site_spellings`); a lesser spelling than theirs so far becomes theirs, in the rows
    /// already added too (rare: one site spelled two ways).
    fn spell_site(&mut self, url: String, site: &str) -> String {
        let spelling = self
            .site_spellings
            .entry(site.to_string())
            .or_insert_with(|| url.clone());
        if url < *spelling {
            let [_, types, ids, ..] = &mut self.package_roles.0;
            for (resource_type, id) in types.iter().zip(ids.iter_mut()) {
                if resource_type.as_deref() == Some(roles::SHAREPOINT_SITE)
                    && id.as_deref() == Some(spelling.as_str())
                {
                    *id = Some(url.clone());
                }
            }
            *spelling = url;
        }
        spelling.clone()
    }

    /// Records that a package's role list could not be read completely: its assignments
    /// become unverifiable (with `reason`) and its holders are never reported as holding
    /// access without an assignment. Never a truncated list taken as complete.
    pub fn mark_package_incomplete(
        &mut self,
        package_id: &str,
        name: Option<String>,
        reason: String,
    ) {
        let id = lower(package_id);
        let key: ResourceKey = (roles::ACCESS_PACKAGE, id.clone(), "".into());
        if !self.status.contains_key(&key) {
            self.package_roles.push([
                Some(id.clone()),
                Some(roles::ACCESS_PACKAGE.to_string()),
                Some(id),
                Some(roles::PACKAGE_SCOPES.to_string()),
                name.clone(),
                Some("every resource role of the package".to_string()),
                Some("EntitlementManagement".to_string()),
            ]);
            self.package_role_collections.push(None);
        }
        self.set_resource_status(key, super::read_status::UNREADABLE, reason, name);
    }

    /// Adds an assignment. The package it names must be added too (before or after).
    pub fn add_assignment(
        &mut self,
        assignment: &AccessPackageAssignment,
        origin: &str,
    ) -> Result<()> {
        let id = lower(&assignment.id);
        let at = || format!("{origin}: assignment `{}`", assignment.id);
        if !self.assignment_ids.insert(id.clone()) {
            return Err(Error::inconsistent(at(), "duplicate assignment id"));
        }
        let state = assignment
            .state
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::inconsistent(at(), "has no `state`"))?;
        if entra_model::enums::AssignmentState::parse(state).is_unknown() {
            *self.unknown_states.entry(state.to_string()).or_default() += 1;
        }
        let package_id = assignment
            .access_package
            .as_ref()
            .and_then(|p| p.id.as_deref())
            .ok_or_else(|| {
                Error::inconsistent(
                    at(),
                    "has no `accessPackage.id` (read it with `$expand=accessPackage`)",
                )
            })?;
        let target = assignment.target.as_ref();
        let target_id = target
            .and_then(|t| t.object_id.as_deref())
            .filter(|s| !s.is_empty())
            .map(lower);
        self.assignment_packages
            .push((id.clone(), lower(package_id), at()));
        self.assignments.push([
            Some(id),
            Some(lower(package_id)),
            Some(lower(state)),
            assignment.status.clone(),
            // Kept for targets the snapshot has no user object for.
            target.and_then(|t| t.display_name.clone()),
            target.and_then(|t| t.principal_name.clone()),
        ]);
        self.assignment_targets.push(target_id);
        self.assignment_starts.push(schedule_start(assignment));
        Ok(())
    }

    pub fn add_user(&mut self, user: &User, origin: &str) -> Result<()> {
        let id = lower(&user.id);
        if !self.user_ids.insert(id.clone()) {
            return Err(Error::inconsistent(
                format!("{origin}: user `{}`", user.id),
                "duplicate user id",
            ));
        }
        self.users.push([
            Some(id),
            user.display_name.clone(),
            user.user_principal_name.clone(),
            user.user_type.clone(),
        ]);
        self.user_enabled.push(user.account_enabled);
        Ok(())
    }

    /// Takes the assignments another builder collected (read on a thread of their own); this
    /// one must have none yet. They are checked against the packages at the end, as ever.
    pub fn absorb_assignments(&mut self, other: &mut SnapshotBuilder) {
        // Every field `add_assignment` writes: a field left behind would leave a column short.
        debug_assert!(
            self.assignment_ids.is_empty(),
            "assignments are absorbed into a builder without any"
        );
        self.assignment_ids = std::mem::take(&mut other.assignment_ids);
        self.assignment_packages = std::mem::take(&mut other.assignment_packages);
        self.assignments = std::mem::take(&mut other.assignments);
        self.assignment_targets = std::mem::take(&mut other.assignment_targets);
        self.assignment_starts = std::mem::take(&mut other.assignment_starts);
        self.unknown_states = std::mem::take(&mut other.unknown_states);
    }

    /// Takes the users another builder collected (read on a thread of their own); this one
    /// must have none yet.
    pub fn absorb_users(&mut self, other: SnapshotBuilder) {
        debug_assert!(
            self.user_ids.is_empty(),
            "users are absorbed into a builder without any"
        );
        self.user_ids = other.user_ids;
        self.users = other.users;
        self.user_enabled = other.user_enabled;
    }

    /// Records the direct members (or owners) of a group as holdings of `member` (`owner`).
    pub fn add_group_principals(
        &mut self,
        group_id: &str,
        role: &str,
        objects: &[DirectoryObject],
    ) {
        let key = self.holdings.key(roles::GROUP, &lower(group_id), role);
        for object in objects {
            let kind = principal_type_of(object.odata_type.as_deref());
            self.holdings.push(key, lower(&object.id), &kind);
        }
    }

    /// Records a service principal's `appRoleAssignedTo`.
    pub fn add_app_role_assignments(
        &mut self,
        service_principal_id: &str,
        items: &[AppRoleAssignment],
    ) {
        let sp = lower(service_principal_id);
        for item in items {
            let kind = item
                .principal_type
                .as_deref()
                .map(lower)
                .unwrap_or_else(|| "unknown".to_string());
            let key = self
                .holdings
                .key(roles::APPLICATION, &sp, &lower(&item.app_role_id));
            self.holdings.push(key, lower(&item.principal_id), &kind);
        }
    }

    /// Records the holders of a directory role: tenant-wide (`directoryScopeId` `/`) and
    /// direct only — a role held through a group or at another scope is not what a package
    /// delivers. `role` is [`roles::ACTIVE`] or [`roles::ELIGIBLE`].
    pub fn add_role_holders<'h>(
        &mut self,
        role_definition_id: &str,
        role: &str,
        holders: impl IntoIterator<Item = (&'h str, Option<&'h str>, Option<&'h str>)>,
    ) {
        let key = self
            .holdings
            .key(roles::DIRECTORY_ROLE, &lower(role_definition_id), role);
        for (principal, scope, member_type) in holders {
            if roles::is_delivered_grant(scope, member_type) {
                // Graph does not type the principal here: the users table decides.
                self.holdings.push(key, lower(principal), "unknown");
            }
        }
    }

    /// Records the Entra users that SharePoint site group `group` of `site` lists directly (site
    /// role `group`), as [`super::sharepoint`] matched them.
    pub fn add_site_holders(&mut self, site: &str, group: u32, holders: &[String]) {
        let key = self
            .holdings
            .key(roles::SHAREPOINT_SITE, site, &group.to_string());
        for user in holders {
            self.holdings.push(key, lower(user), "user");
        }
    }

    /// Records an assignment request (a failed delivery is retried through it).
    pub fn add_request(
        &mut self,
        request: &AccessPackageAssignmentRequest,
        origin: &str,
    ) -> Result<()> {
        let Some(assignment) = request.assignment.as_ref().and_then(|a| a.id.as_deref()) else {
            return Err(Error::inconsistent(
                format!("{origin}: assignment request `{}`", request.id),
                "has no expanded `assignment` (read it with `$expand=assignment`)",
            ));
        };
        self.requests.push([
            Some(lower(&request.id)),
            Some(lower(assignment)),
            request.state.as_deref().map(lower),
            request.completed_date_time.clone(),
        ]);
        Ok(())
    }

    /// The requests could not be read (or were not recorded): failed deliveries then say so
    /// instead of claiming there is no request.
    pub fn set_requests_unread(&mut self, reason: String) {
        self.requests_unread = Some(reason);
    }

    /// Records an audit-log event; one the audit cannot place is counted, not kept.
    pub fn add_event(&mut self, event: &DirectoryAudit) {
        match events::place(event) {
            Ok(fact) => self.facts.push(fact),
            Err(skip) => *self.event_skips.entry(skip).or_default() += 1,
        }
    }

    /// How the audit log was read; without it the snapshot says the log was not recorded.
    pub fn set_audit_log(&mut self, log: AuditLog) {
        self.audit_log = Some(log);
    }

    /// Every resource read the audit needs, from the packages added so far, sorted.
    pub fn governed_resources(&self) -> Vec<(ResourceKey, Option<String>)> {
        let types = &self.package_roles.0[1];
        let ids = &self.package_roles.0[2];
        let names = &self.package_roles.0[4];
        let mut seen: HashMap<ResourceKey, Option<String>> = HashMap::new();
        for (index, collection) in self.package_role_collections.iter().enumerate() {
            let resource_type = static_type(types[index].as_deref().unwrap_or_default());
            let key = (
                resource_type,
                ids[index].clone().unwrap_or_default(),
                collection.clone().unwrap_or_default(),
            );
            // A package's own role list is no resource to read (its status is already set).
            if resource_type == roles::ACCESS_PACKAGE {
                continue;
            }
            seen.entry(key).or_insert_with(|| names[index].clone());
        }
        let mut resources: Vec<_> = seen.into_iter().collect();
        resources.sort_by(|a, b| a.0.cmp(&b.0));
        resources
    }

    /// Records how the read of one resource went. `name` is its display name when known.
    pub fn set_resource_status(
        &mut self,
        key: ResourceKey,
        status: &str,
        reason: impl Into<String>,
        name: Option<String>,
    ) {
        self.status
            .insert(key, (status.to_string(), reason.into(), name));
    }

    /// Checks references and builds the tables.
    pub fn finish(self) -> Result<Tables> {
        for (state, count) in &self.unknown_states {
            tracing::warn!(state = %state, assignments = count, "assignments in a state this tool does not know: never treated as delivered (no missing access, no reprocess) and explaining no access (a live read does not list them); access they may grant shows as access without assignment");
        }
        for (_, package, at) in &self.assignment_packages {
            if !self.package_ids.contains(package) {
                return Err(Error::inconsistent(
                    at.clone(),
                    format!(
                        "refers to access package `{package}`, which the snapshot does not contain"
                    ),
                ));
            }
        }
        // A resource the source never reported on was not read: it must stay unverifiable.
        let mut status_columns: Columns<6> = Columns::default();
        let mut status: Vec<_> = self.status.into_iter().collect();
        status.sort_by(|a, b| a.0.cmp(&b.0));
        for ((resource_type, resource_id, collection), (state, reason, name)) in status {
            status_columns.push([
                Some(resource_type.to_string()),
                Some(resource_id),
                Some(collection.to_string()),
                Some(state),
                Some(reason),
                name,
            ]);
        }

        let packages = frame(self.packages.into_columns([
            col::PACKAGE_ID,
            col::PACKAGE_NAME,
            col::CATALOG_ID,
        ]))?;

        let mut role_columns = self.package_roles.into_columns([
            col::PACKAGE_ID,
            col::RESOURCE_TYPE,
            col::RESOURCE_ID,
            col::ROLE,
            col::RESOURCE_NAME,
            col::ROLE_NAME,
            col::ORIGIN_SYSTEM,
        ]);
        role_columns.insert(
            4,
            Column::new(
                col::COLLECTION.into(),
                self.package_role_collections
                    .iter()
                    .map(|c| c.as_deref().unwrap_or("").to_string())
                    .collect::<Vec<_>>(),
            ),
        );
        let package_roles = frame(role_columns)?;

        let mut assignment_columns = self.assignments.into_columns([
            col::ASSIGNMENT_ID,
            col::PACKAGE_ID,
            col::STATE,
            col::STATUS,
            col::TARGET_NAME,
            col::TARGET_PRINCIPAL_NAME,
        ]);
        assignment_columns.push(Column::new(col::TARGET_ID.into(), self.assignment_targets));
        assignment_columns.push(Column::new(
            col::ASSIGNMENT_START.into(),
            self.assignment_starts,
        ));
        let assignments = frame(assignment_columns)?;

        let mut user_columns =
            self.users
                .into_columns([col::USER_ID, col::USER_NAME, col::USER_UPN, col::USER_TYPE]);
        user_columns.insert(3, Column::new(col::USER_ENABLED.into(), self.user_enabled));
        let users = frame(user_columns)?;

        let holdings = frame(self.holdings.into_columns())?
            .unique_stable(None, UniqueKeepStrategy::First, None)
            .frame("deduplicating holdings")?;

        let resource_status = frame(status_columns.into_columns([
            col::RESOURCE_TYPE,
            col::RESOURCE_ID,
            col::COLLECTION,
            col::READ_STATUS,
            col::READ_REASON,
            col::RESOURCE_NAME,
        ]))?;

        let requests = DataFrame::new_infer_height(self.requests.into_columns([
            col::REQUEST_ID,
            col::ASSIGNMENT_ID,
            col::REQUEST_STATE,
            col::COMPLETED_AT,
        ]))
        .frame("requests table")?;
        let audit_log = self.audit_log.unwrap_or(AuditLog::Unread {
            reason: "the audit log was not recorded".into(),
        });
        let events = events_frame(self.facts, &self.event_skips, &audit_log)?;
        Ok(Tables {
            packages,
            package_roles,
            assignments,
            users,
            holdings,
            resource_status,
            requests,
            requests_unread: self.requests_unread,
            events,
            audit_log,
        })
    }
}

/// `schedule.startDateTime` in milliseconds; `None` when absent or unreadable (the finding's
/// life then cannot be shown to lie inside the log window).
fn schedule_start(assignment: &AccessPackageAssignment) -> Option<i64> {
    let text = assignment
        .schedule
        .as_ref()?
        .get("startDateTime")?
        .as_str()?;
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The events table: the placed events inside the window, newest first. Events outside it
/// (a recorded file may hold older ones) are dropped: the window is what the log vouches for.
fn events_frame(
    mut facts: Vec<Fact>,
    skips: &std::collections::BTreeMap<Skip, usize>,
    log: &AuditLog,
) -> Result<DataFrame> {
    match log {
        AuditLog::Read { since, until } => facts.retain(|f| f.at >= *since && f.at <= *until),
        AuditLog::Unread { .. } | AuditLog::Skipped => facts.clear(),
    }
    if skips.keys().any(|s| matches!(s, Skip::Ids | Skip::Time)) {
        let summary: Vec<String> = skips
            .iter()
            .map(|(skip, n)| format!("{n} {}", skip.describe()))
            .collect();
        tracing::warn!(skipped = %summary.join(", "), "some audit-log events could not be read; their changes are not used as causes");
    }
    facts.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.event_id.cmp(&b.event_id)));
    let text = |pick: fn(&Fact) -> &str| -> Vec<&str> { facts.iter().map(pick).collect() };
    frame(vec![
        Column::new(col::EVENT_ID.into(), text(|f| &f.event_id)),
        Column::new(
            col::EVENT_TIME.into(),
            facts
                .iter()
                .map(|f| f.at.timestamp_millis())
                .collect::<Vec<i64>>(),
        ),
        Column::new(col::CHANGE.into(), text(|f| f.change)),
        Column::new(col::RESOURCE_TYPE.into(), text(|f| f.resource_type)),
        Column::new(col::RESOURCE_ID.into(), text(|f| &f.resource_id)),
        Column::new(col::ROLE.into(), text(|f| &f.role)),
        Column::new(col::USER_ID.into(), text(|f| &f.user_id)),
        Column::new(col::ACTOR.into(), text(|f| &f.actor)),
        Column::new(col::ACTOR_ID.into(), text(|f| &f.actor_id)),
        Column::new(col::ACTOR_KIND.into(), text(|f| f.actor_kind)),
        Column::new(col::ACTIVITY.into(), text(|f| &f.activity)),
        Column::new(col::CORRELATION_ID.into(), text(|f| &f.correlation_id)),
    ])
}

/// Holdings, the one table that reaches tens of millions of rows: the resource and role of a
/// row are interned (one `u32`), the principal type is a small code, so a row costs one id
/// string instead of five strings.
#[derive(Default)]
struct Holdings {
    keys: Vec<(&'static str, String, String)>,
    key_index: HashMap<(&'static str, String, String), u32>,
    kinds: Vec<String>,
    row_keys: Vec<u32>,
    row_principals: Vec<String>,
    row_kinds: Vec<u8>,
}

impl Holdings {
    fn key(&mut self, resource_type: &'static str, resource_id: &str, role: &str) -> u32 {
        let key = (resource_type, resource_id.to_string(), role.to_string());
        if let Some(index) = self.key_index.get(&key) {
            return *index;
        }
        let index = self.keys.len() as u32;
        self.keys.push(key.clone());
        self.key_index.insert(key, index);
        index
    }

    fn push(&mut self, key: u32, principal: String, kind: &str) {
        let code = match self.kinds.iter().position(|k| k == kind) {
            Some(code) => code,
            None => {
                self.kinds.push(kind.to_string());
                self.kinds.len() - 1
            }
        };
        self.row_keys.push(key);
        self.row_principals.push(principal);
        // Principal types are a handful (user, group, servicePrincipal, ...).
        self.row_kinds.push(u8::try_from(code).unwrap_or(u8::MAX));
    }

    fn into_columns(self) -> Vec<Column> {
        let Holdings {
            keys,
            kinds,
            row_keys,
            row_principals,
            row_kinds,
            ..
        } = self;
        let part = |pick: for<'k> fn(&'k (&'static str, String, String)) -> &'k str| -> Vec<&str> {
            row_keys.iter().map(|k| pick(&keys[*k as usize])).collect()
        };
        let kind_names: Vec<&str> = row_kinds
            .iter()
            .map(|k| kinds.get(*k as usize).map_or("unknown", String::as_str))
            .collect();
        vec![
            Column::new(col::RESOURCE_TYPE.into(), part(|k| k.0)),
            Column::new(col::RESOURCE_ID.into(), part(|k| k.1.as_str())),
            Column::new(col::ROLE.into(), part(|k| k.2.as_str())),
            Column::new(col::PRINCIPAL_ID.into(), row_principals),
            Column::new(col::PRINCIPAL_TYPE.into(), kind_names),
        ]
    }
}

fn frame(columns: Vec<Column>) -> Result<DataFrame> {
    DataFrame::new_infer_height(columns).frame("building a snapshot table")
}

fn static_type(resource_type: &str) -> &'static str {
    [
        roles::GROUP,
        roles::APPLICATION,
        roles::SHAREPOINT_SITE,
        roles::DIRECTORY_ROLE,
        roles::ACCESS_PACKAGE,
    ]
    .into_iter()
    .find(|known| *known == resource_type)
    .unwrap_or(roles::OTHER)
}

/// `#microsoft.graph.user` → `user`. Graph sends `@odata.type` on every directory object of a
/// member list; without it we cannot tell a user from a group, so the type stays `unknown`
/// (which never yields `access_without_assignment`, but still satisfies an expectation).
pub fn principal_type_of(odata_type: Option<&str>) -> String {
    match odata_type {
        Some(t) => lower(
            t.trim_start_matches('#')
                .trim_start_matches("microsoft.graph."),
        ),
        None => "unknown".to_string(),
    }
}
