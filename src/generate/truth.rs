//! The ground truth of a generated tenant, recorded fault by fault, and the holdings that
//! result from those decisions.

use std::collections::HashMap;
use std::path::Path;

use crate::audit::col;
use crate::error::Result;
use crate::model::{AppRoleAssignment, DirectoryObject};

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
    truth: Vec<TruthRow>,
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

    pub fn not_delivered(&mut self, assignment: &str, package: &str, user: usize) {
        self.row(
            "not_delivered",
            assignment,
            package,
            Some(user),
            None,
            false,
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
            _ => {}
        }
    }

    /// The holdings of resources that exist (a deleted group holds nothing) and the truth.
    #[allow(clippy::type_complexity)]
    pub fn finish(
        mut self,
        exists: impl Fn(&str) -> bool,
    ) -> (
        HashMap<String, Vec<DirectoryObject>>,
        HashMap<String, Vec<DirectoryObject>>,
        HashMap<String, Vec<AppRoleAssignment>>,
        Vec<TruthRow>,
    ) {
        self.truth.sort();
        self.members
            .retain(|id, list| exists(id) && !list.is_empty());
        self.owners
            .retain(|id, list| exists(id) && !list.is_empty());
        self.assigned_to.retain(|_, list| !list.is_empty());
        (self.members, self.owners, self.assigned_to, self.truth)
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
