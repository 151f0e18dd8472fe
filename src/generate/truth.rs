//! The ground truth of a generated tenant, recorded fault by fault, and the holdings that
//! result from those decisions.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::Rng;

use super::log::{Actor, Log, INSIDE_DAYS};
use crate::audit::causes::{BEFORE_LOG_WINDOW, NOT_IN_LOG, OUTSIDE_DIRECTORY_LOG};
use crate::audit::col;
use crate::error::Result;
use crate::model::{
    AccessPackageAssignmentRequest, AppRoleAssignment, DirectoryObject, ObjectRef,
    UnifiedRoleAssignment, UnifiedRoleEligibilitySchedule,
};

/// A role on a resource, as findings name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub resource_type: &'static str,
    pub resource_id: String,
    pub role: String,
}

impl Key {
    pub fn group(id: &str, role: &str) -> Key {
        Key {
            resource_type: "group",
            resource_id: id.to_string(),
            role: role.to_string(),
        }
    }
    pub fn app(sp: &str, role: &str) -> Key {
        Key {
            resource_type: "application",
            resource_id: sp.to_string(),
            role: role.to_string(),
        }
    }
    pub fn directory(role_definition: &str, role: &str) -> Key {
        Key {
            resource_type: "directory_role",
            resource_id: role_definition.to_string(),
            role: role.to_string(),
        }
    }
    pub fn site(url: &str) -> Key {
        Key {
            resource_type: "sharepoint_site",
            resource_id: url.to_string(),
            role: "4".to_string(),
        }
    }
}

/// One expected finding: the contract's columns, `in_plan`, and its cause.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TruthRow(pub [String; 10]);

/// Where unexplained access came from.
pub enum Source {
    /// Left behind by an assignment that expired; entitlement management granted it at `start`.
    Expired { start: DateTime<Utc> },
    /// Granted by hand to a user with no assignment for it.
    ByHand,
}

pub struct Builder<'a> {
    users: &'a [String],
    enabled: &'a [bool],
    members: HashMap<String, Vec<DirectoryObject>>,
    owners: HashMap<String, Vec<DirectoryObject>>,
    assigned_to: HashMap<String, Vec<AppRoleAssignment>>,
    role_assignments: Vec<UnifiedRoleAssignment>,
    role_eligibility: Vec<UnifiedRoleEligibilitySchedule>,
    /// Site URL → the user ids its group 4 lists directly.
    site_users: HashMap<String, Vec<String>>,
    requests: Vec<AccessPackageAssignmentRequest>,
    truth: Vec<TruthRow>,
    pub log: Log,
}

/// What the decisions gave: every resource's holders, and the expected findings.
pub struct Holdings {
    pub members: HashMap<String, Vec<DirectoryObject>>,
    pub owners: HashMap<String, Vec<DirectoryObject>>,
    pub assigned_to: HashMap<String, Vec<AppRoleAssignment>>,
    pub role_assignments: Vec<UnifiedRoleAssignment>,
    pub role_eligibility: Vec<UnifiedRoleEligibilitySchedule>,
    /// Site URL → the user ids its group 4 lists directly.
    pub site_users: HashMap<String, Vec<String>>,
    pub requests: Vec<AccessPackageAssignmentRequest>,
    pub truth: Vec<TruthRow>,
    pub log: Log,
}

/// The request of a failed delivery, as the generator decides it.
pub enum Request {
    /// Completed recently: a retry is possible (in the plan).
    Retryable { id: String, completed: String },
    /// Completed more than 14 days ago: too old to retry.
    TooOld { id: String, completed: String },
    /// No request recorded for the assignment.
    Missing,
}

impl<'a> Builder<'a> {
    pub fn new(
        groups: &[String],
        sps: &[String],
        _app_roles: &[Vec<String>],
        users: &'a [String],
        enabled: &'a [bool],
        log: Log,
    ) -> Self {
        let empty = |ids: &[String]| {
            ids.iter()
                .map(|id| (id.clone(), Vec::new()))
                .collect::<HashMap<_, _>>()
        };
        Builder {
            users,
            enabled,
            members: empty(groups),
            owners: empty(groups),
            assigned_to: sps.iter().map(|id| (id.clone(), Vec::new())).collect(),
            role_assignments: Vec::new(),
            role_eligibility: Vec::new(),
            site_users: HashMap::new(),
            requests: Vec::new(),
            truth: Vec::new(),
            log,
        }
    }

    #[allow(clippy::too_many_arguments)] // one finding's columns
    fn row(
        &mut self,
        category: &str,
        assignment: &str,
        package: &str,
        user: Option<usize>,
        key: Option<&Key>,
        in_plan: bool,
        cause: (String, String),
    ) {
        let (t, id, role) = key.map_or((String::new(), String::new(), String::new()), |k| {
            (
                k.resource_type.to_string(),
                k.resource_id.clone(),
                k.role.clone(),
            )
        });
        self.truth.push(TruthRow([
            category.to_string(),
            assignment.to_string(),
            package.to_string(),
            user.map(|u| self.users[u].clone()).unwrap_or_default(),
            t,
            id,
            role,
            if in_plan { "yes" } else { "no" }.to_string(),
            cause.0,
            cause.1,
        ]));
    }

    /// The cause of a finding no event explains: the log could have held it only when the
    /// finding's life began inside the window.
    fn unlogged(&self, start: Option<DateTime<Utc>>) -> (String, String) {
        let inside = start.is_some_and(|s| s >= self.log.now - Duration::days(INSIDE_DAYS.1 + 3));
        let cause = if inside {
            NOT_IN_LOG
        } else {
            BEFORE_LOG_WINDOW
        };
        (cause.to_string(), String::new())
    }

    /// Writes the event that added or removed `user`'s role, by `actor` at `at`.
    fn change(&mut self, added: bool, user: usize, key: &Key, at: DateTime<Utc>, actor: Actor) {
        let user_id = self.users[user].clone();
        match key.resource_type {
            "group" => self.log.membership(
                added,
                &key.role,
                &key.resource_id,
                &user_id,
                at,
                actor,
                true,
            ),
            _ => self
                .log
                .app_role(added, &key.resource_id, &key.role, &user_id, at, actor),
        }
    }

    /// The user holds the role (a correct delivery).
    pub fn hold(&mut self, user: usize, key: Key) {
        self.grant(user, &key);
    }

    /// Access granted without a finding (a delivering or partially delivered assignment).
    pub fn hold_quietly(&mut self, user: usize, key: Key, exists: bool) {
        if exists {
            self.grant(user, &key);
        }
    }

    /// Access removed after the assignment started at `start`: by a person, a script,
    /// entitlement management or sync inside the log window; before the window; or with no
    /// event at all. Directory roles have no event the audit reads.
    #[allow(clippy::too_many_arguments)] // the finding and the dice
    pub fn missing(
        &mut self,
        assignment: &str,
        package: &str,
        user: usize,
        key: Key,
        start: DateTime<Utc>,
        rng: &mut StdRng,
    ) {
        let in_plan = self.enabled[user];
        let cause = if key.resource_type == "sharepoint_site" {
            (OUTSIDE_DIRECTORY_LOG.to_string(), String::new())
        } else if !explainable(&key) {
            (String::new(), String::new())
        } else {
            let before_window = start < self.log.now - Duration::days(INSIDE_DAYS.1 + 8);
            match rng.random_range(0..20) {
                roll @ 0..=12 => {
                    let actor = match roll {
                        0..=6 => Actor::Person(roll as usize),
                        7..=9 => Actor::Script,
                        10..=11 => Actor::EntitlementManagement,
                        _ => Actor::Sync,
                    };
                    let at = self.log.inside(rng, start);
                    self.change(false, user, &key, at, actor);
                    if roll < 3 {
                        // A failed attempt later on: changes nothing, so explains nothing.
                        if key.resource_type == "group" {
                            let later = at + Duration::hours(2);
                            let user_id = self.users[user].clone();
                            self.log.membership(
                                false,
                                &key.role,
                                &key.resource_id,
                                &user_id,
                                later,
                                Actor::Script,
                                false,
                            );
                        }
                    }
                    if roll == 4 && !before_window {
                        // The delivery itself, by entitlement management at the start.
                        self.change(true, user, &key, start, Actor::EntitlementManagement);
                    }
                    ("removed".to_string(), self.log.actor_name(actor))
                }
                13..=15 if before_window => {
                    let at = self.log.before(rng).max(start + Duration::hours(1));
                    if at < self.log.now - Duration::days(INSIDE_DAYS.1 + 8) {
                        self.change(false, user, &key, at, Actor::Person(1));
                    }
                    self.unlogged(Some(start))
                }
                _ => self.unlogged(Some(start)),
            }
        };
        self.row(
            "missing_access",
            assignment,
            package,
            Some(user),
            Some(&key),
            in_plan,
            cause,
        );
    }

    /// The assignment's resource was deleted: by `deletion` (an event the world wrote), or
    /// with no event.
    pub fn not_found(
        &mut self,
        assignment: &str,
        package: &str,
        user: usize,
        key: Key,
        start: DateTime<Utc>,
        deletion: Option<Actor>,
    ) {
        let cause = match deletion {
            Some(actor) => ("deleted".to_string(), self.log.actor_name(actor)),
            None => self.unlogged(Some(start)),
        };
        self.row(
            "resource_not_found",
            assignment,
            package,
            Some(user),
            Some(&key),
            false,
            cause,
        );
    }

    pub fn unverifiable(&mut self, assignment: &str, package: &str, user: Option<usize>, key: Key) {
        self.row(
            "unverifiable",
            assignment,
            package,
            user,
            Some(&key),
            false,
            (String::new(), String::new()),
        );
    }

    /// A failed delivery; in the plan when its request can still be retried.
    pub fn not_delivered(
        &mut self,
        assignment: &str,
        package: &str,
        user: usize,
        state: &str,
        request: Request,
    ) {
        let retryable = matches!(request, Request::Retryable { .. });
        let (id, completed) = match request {
            Request::Retryable { id, completed } | Request::TooOld { id, completed } => {
                (id, completed)
            }
            Request::Missing => (String::new(), String::new()),
        };
        if !id.is_empty() {
            self.requests.push(AccessPackageAssignmentRequest {
                id,
                request_type: Some("adminAdd".into()),
                state: Some(state.to_string()),
                status: Some(state.to_string()),
                created_date_time: Some(completed.clone()),
                completed_date_time: Some(completed),
                assignment: Some(ObjectRef {
                    id: Some(assignment.to_string()),
                    display_name: None,
                }),
            });
        }
        self.row(
            "not_delivered",
            assignment,
            package,
            Some(user),
            None,
            retryable,
            (String::new(), String::new()),
        );
    }

    /// Access nobody's assignment explains. Its addition is in the log when it happened inside
    /// the window (by hand: most of the time; left by an expired assignment: when entitlement
    /// management granted it inside the window).
    pub fn unexplained(&mut self, user: usize, key: Key, source: Source, rng: &mut StdRng) {
        self.grant(user, &key);
        let cause = if key.resource_type == "sharepoint_site" {
            (OUTSIDE_DIRECTORY_LOG.to_string(), String::new())
        } else if !explainable(&key) {
            (String::new(), String::new())
        } else {
            let added = match source {
                Source::Expired { start }
                    if start >= self.log.now - Duration::days(INSIDE_DAYS.1) =>
                {
                    Some((start, Actor::EntitlementManagement))
                }
                Source::Expired { .. } => None,
                Source::ByHand => match rng.random_range(0..10) {
                    0..=3 => Some((
                        self.log.inside(rng, self.log.now - Duration::days(60)),
                        Actor::Person(2),
                    )),
                    4..=5 => Some((
                        self.log.inside(rng, self.log.now - Duration::days(60)),
                        Actor::Script,
                    )),
                    _ => None,
                },
            };
            match added {
                Some((at, actor)) => {
                    self.change(true, user, &key, at, actor);
                    ("added".to_string(), self.log.actor_name(actor))
                }
                // Its life began at an unknown time: the log cannot be shown to cover it.
                None => (BEFORE_LOG_WINDOW.to_string(), String::new()),
            }
        };
        self.row(
            "access_without_assignment",
            "",
            "",
            Some(user),
            Some(&key),
            // In the plan (as an item to remove or accept) where there is a removal for it:
            // group memberships and ownerships, and app roles.
            matches!(
                (key.resource_type, key.role.as_str()),
                ("group", "member" | "owner") | ("application", _) | ("sharepoint_site", _)
            ),
            cause,
        );
    }

    /// A group nested in a governed group: holds membership, is not a user.
    pub fn nested(&mut self, group_id: &str, nested_id: &str) {
        self.members
            .entry(group_id.to_string())
            .or_default()
            .push(DirectoryObject {
                id: nested_id.to_string(),
                odata_type: Some("#microsoft.graph.group".into()),
            });
    }

    fn grant(&mut self, user: usize, key: &Key) {
        let principal = self.users[user].clone();
        match (key.resource_type, key.role.as_str()) {
            ("group", "member") => self
                .members
                .entry(key.resource_id.clone())
                .or_default()
                .push(user_object(principal)),
            ("group", "owner") => self
                .owners
                .entry(key.resource_id.clone())
                .or_default()
                .push(user_object(principal)),
            ("application", role) => {
                let assignment = AppRoleAssignment {
                    id: None,
                    app_role_id: role.to_string(),
                    principal_id: principal,
                    principal_type: Some("User".into()),
                    principal_display_name: None,
                    resource_id: Some(key.resource_id.clone()),
                };
                self.assigned_to
                    .entry(key.resource_id.clone())
                    .or_default()
                    .push(assignment);
            }
            ("directory_role", "active") => {
                let id = format!("role-assignment-{}", self.role_assignments.len());
                self.role_assignments.push(UnifiedRoleAssignment {
                    id,
                    principal_id: principal,
                    role_definition_id: Some(key.resource_id.clone()),
                    directory_scope_id: Some("/".into()),
                });
            }
            ("sharepoint_site", _) => self
                .site_users
                .entry(key.resource_id.clone())
                .or_default()
                .push(principal),
            ("directory_role", _) => {
                let id = format!("role-eligibility-{}", self.role_eligibility.len());
                self.role_eligibility.push(UnifiedRoleEligibilitySchedule {
                    id,
                    principal_id: principal,
                    role_definition_id: Some(key.resource_id.clone()),
                    directory_scope_id: Some("/".into()),
                    member_type: Some("Direct".into()),
                });
            }
            _ => {}
        }
    }

    /// A role held at another scope or through a group: never a finding (not delivery).
    pub fn hold_elsewhere(&mut self, user: usize, key: &Key) {
        let principal = self.users[user].clone();
        if key.role == "active" {
            self.role_assignments.push(UnifiedRoleAssignment {
                id: format!("role-assignment-{}", self.role_assignments.len()),
                principal_id: principal,
                role_definition_id: Some(key.resource_id.clone()),
                directory_scope_id: Some("/administrativeUnits/synthetic".into()),
            });
        } else {
            self.role_eligibility.push(UnifiedRoleEligibilitySchedule {
                id: format!("role-eligibility-{}", self.role_eligibility.len()),
                principal_id: principal,
                role_definition_id: Some(key.resource_id.clone()),
                directory_scope_id: Some("/".into()),
                member_type: Some("Group".into()),
            });
        }
    }

    /// The holdings of resources that exist (a deleted group holds nothing) and the truth.
    pub fn finish(mut self, exists: impl Fn(&str) -> bool) -> Holdings {
        self.truth.sort();
        self.members
            .retain(|id, list| exists(id) && !list.is_empty());
        self.owners
            .retain(|id, list| exists(id) && !list.is_empty());
        self.assigned_to.retain(|_, list| !list.is_empty());
        Holdings {
            members: self.members,
            owners: self.owners,
            assigned_to: self.assigned_to,
            role_assignments: self.role_assignments,
            role_eligibility: self.role_eligibility,
            site_users: self.site_users,
            requests: self.requests,
            truth: self.truth,
            log: self.log,
        }
    }
}

/// Only group and app role changes are read from the log.
fn explainable(key: &Key) -> bool {
    matches!(key.resource_type, "group" | "application")
}

/// How the generator writes times: whole seconds, UTC.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn user_object(id: String) -> DirectoryObject {
    DirectoryObject {
        id,
        odata_type: Some("#microsoft.graph.user".into()),
    }
}

/// The findings contract's columns, `in_plan` and the cause: the columns the audit's CSV is
/// compared on.
pub const TRUTH_HEADER: [&str; 10] = [
    col::CATEGORY,
    col::ASSIGNMENT_ID,
    col::PACKAGE_ID,
    col::USER_ID,
    col::RESOURCE_TYPE,
    col::RESOURCE_ID,
    col::ROLE,
    col::IN_PLAN,
    col::CAUSE,
    col::CAUSE_ACTOR,
];

/// The ground truth in the findings CSV's own format, so the two compare cell for cell.
pub fn write_truth(path: &Path, rows: &[TruthRow]) -> Result<()> {
    crate::report::write_csv(path, &TRUTH_HEADER, rows.iter().map(|row| row.0.to_vec()))
}
