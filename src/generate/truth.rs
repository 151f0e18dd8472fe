//! The ground truth of a generated tenant, recorded fault by fault, and the holdings that
//! result from those decisions.

use std::collections::HashMap;
use std::path::Path;

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

/// One expected finding: the contract's columns plus `in_plan`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TruthRow(pub [String; 8]);

pub struct Builder<'a> {
    users: &'a [String],
    enabled: &'a [bool],
    members: HashMap<String, Vec<DirectoryObject>>,
    owners: HashMap<String, Vec<DirectoryObject>>,
    assigned_to: HashMap<String, Vec<AppRoleAssignment>>,
    role_assignments: Vec<UnifiedRoleAssignment>,
    role_eligibility: Vec<UnifiedRoleEligibilitySchedule>,
    requests: Vec<AccessPackageAssignmentRequest>,
    truth: Vec<TruthRow>,
}

/// What the decisions gave: every resource's holders, and the expected findings.
pub struct Holdings {
    pub members: HashMap<String, Vec<DirectoryObject>>,
    pub owners: HashMap<String, Vec<DirectoryObject>>,
    pub assigned_to: HashMap<String, Vec<AppRoleAssignment>>,
    pub role_assignments: Vec<UnifiedRoleAssignment>,
    pub role_eligibility: Vec<UnifiedRoleEligibilitySchedule>,
    pub requests: Vec<AccessPackageAssignmentRequest>,
    pub truth: Vec<TruthRow>,
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
            requests: Vec::new(),
            truth: Vec::new(),
        }
    }

    fn row(
        &mut self,
        category: &str,
        assignment: &str,
        package: &str,
        user: Option<usize>,
        key: Option<&Key>,
        in_plan: bool,
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
        ]));
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

    pub fn missing(&mut self, assignment: &str, package: &str, user: usize, key: Key) {
        let in_plan = self.enabled[user];
        self.row(
            "missing_access",
            assignment,
            package,
            Some(user),
            Some(&key),
            in_plan,
        );
    }

    pub fn not_found(&mut self, assignment: &str, package: &str, user: usize, key: Key) {
        self.row(
            "resource_not_found",
            assignment,
            package,
            Some(user),
            Some(&key),
            false,
        );
    }

    pub fn unverifiable(&mut self, assignment: &str, package: &str, user: Option<usize>, key: Key) {
        self.row("unverifiable", assignment, package, user, Some(&key), false);
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
        );
    }

    /// Access nobody's assignment explains.
    pub fn unexplained(&mut self, user: usize, key: Key) {
        self.grant(user, &key);
        self.row(
            "access_without_assignment",
            "",
            "",
            Some(user),
            Some(&key),
            false,
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
            requests: self.requests,
            truth: self.truth,
        }
    }
}

fn user_object(id: String) -> DirectoryObject {
    DirectoryObject {
        id,
        odata_type: Some("#microsoft.graph.user".into()),
    }
}

/// The findings contract's columns plus `in_plan`: the columns the audit's CSV is compared on.
pub const TRUTH_HEADER: [&str; 8] = [
    col::CATEGORY,
    col::ASSIGNMENT_ID,
    col::PACKAGE_ID,
    col::USER_ID,
    col::RESOURCE_TYPE,
    col::RESOURCE_ID,
    col::ROLE,
    col::IN_PLAN,
];

/// The ground truth in the findings CSV's own format, so the two compare cell for cell.
pub fn write_truth(path: &Path, rows: &[TruthRow]) -> Result<()> {
    crate::report::write_csv(path, &TRUTH_HEADER, rows.iter().map(|row| row.0.to_vec()))
}
