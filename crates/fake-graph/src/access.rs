//! What an access package grants (its group, application and directory roles, as [`Grant`]s)
//! and what the fake's writes do with that on a target: reprocess restores it
//! ([`Data::restore_access`]), an `adminRemove` request takes it away ([`Data::revoke_access`]).

use serde_json::{json, Value};

use entra_model::model::{AccessPackage, AccessPackageAssignment};

use super::state::{random_assignment_id, random_guid, timestamp, Data};

/// One resource role of an access package, as delivered to a target. Ids are kept as the
/// package spells them (restore writes them back verbatim); compare with [`Grant::same_as`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Direct membership of a group (`AadGroup`, role `originId` `Member_<groupId>`).
    Member { group: String },
    /// Ownership of a group (`AadGroup`, role `originId` `Owner_<groupId>`).
    Owner { group: String },
    /// An app role assignment on the resource service principal (`AadApplication`: scope
    /// `originId` is the service principal id, role `originId` the app role id).
    AppRole {
        service_principal: String,
        app_role: String,
    },
    /// A tenant-wide directory role (`DirectoryRole`: scope `originId` is the role
    /// definition id; role `originId` `Eligible`, or anything else for an active one).
    DirectoryRole { definition: String, eligible: bool },
    /// A SharePoint site role (`SharePointOnline`: scope `originId` is the site URL, role
    /// `originId` the site group's id): a direct user entry of that group.
    SiteRole { site: String, group: u32 },
}

impl Grant {
    /// The same role on the same resource (ids compared case-insensitively).
    pub fn same_as(&self, other: &Grant) -> bool {
        let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        match (self, other) {
            (Grant::Member { group: a }, Grant::Member { group: b })
            | (Grant::Owner { group: a }, Grant::Owner { group: b }) => eq(a, b),
            (
                Grant::AppRole {
                    service_principal: sa,
                    app_role: ra,
                },
                Grant::AppRole {
                    service_principal: sb,
                    app_role: rb,
                },
            ) => eq(sa, sb) && eq(ra, rb),
            (
                Grant::DirectoryRole {
                    definition: da,
                    eligible: ea,
                },
                Grant::DirectoryRole {
                    definition: db,
                    eligible: eb,
                },
            ) => eq(da, db) && ea == eb,
            (
                Grant::SiteRole {
                    site: sa,
                    group: ga,
                },
                Grant::SiteRole {
                    site: sb,
                    group: gb,
                },
            ) => eq(sa.trim_end_matches('/'), sb.trim_end_matches('/')) && ga == gb,
            _ => false,
        }
    }
}

/// The grants of a package's resource role scopes, in their order. Scopes without a role or
/// a scope `originId`, group roles other than member/owner, site roles that are not a group
/// number, and other origin systems grant nothing the fake can represent, so they are left out.
pub fn package_grants(package: &AccessPackage) -> Vec<Grant> {
    let mut grants = Vec::new();
    for scope in package.resource_role_scopes.iter().flatten() {
        let (Some(role), Some(resource)) = (&scope.role, &scope.scope) else {
            continue;
        };
        let Some(resource_id) = resource.origin_id.clone() else {
            continue;
        };
        let system = role
            .origin_system
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let role_origin = role.origin_id.clone().unwrap_or_default();
        let grant = match system.as_str() {
            "aadgroup" => {
                let lower = role_origin.to_ascii_lowercase();
                if lower.starts_with("member_") {
                    Grant::Member { group: resource_id }
                } else if lower.starts_with("owner_") {
                    Grant::Owner { group: resource_id }
                } else {
                    continue;
                }
            }
            "aadapplication" => Grant::AppRole {
                service_principal: resource_id,
                app_role: role_origin,
            },
            "directoryrole" => Grant::DirectoryRole {
                definition: resource_id,
                eligible: role_origin.eq_ignore_ascii_case("eligible"),
            },
            "sharepointonline" => match role_origin.trim().parse() {
                Ok(group) => Grant::SiteRole {
                    site: resource_id,
                    group,
                },
                Err(_) => continue,
            },
            _ => continue,
        };
        grants.push(grant);
    }
    grants
}

/// Assignment states in which entitlement management holds the package's access as given:
/// an access the target also holds through an assignment in one of these states is not
/// taken away when another of its assignments is removed.
pub const HOLDING_STATES: [&str; 2] = ["delivered", "partiallyDelivered"];

pub(crate) fn same_id(value: Option<&Value>, id: &str) -> bool {
    value
        .and_then(Value::as_str)
        .is_some_and(|v| v.eq_ignore_ascii_case(id))
}

/// A role assignment or eligibility schedule of `principal` for `role` at the tenant scope
/// (an absent `directoryScopeId` counts as `/`).
fn holds_role(item: &Value, principal: &str, role: &str) -> bool {
    same_id(item.get("principalId"), principal)
        && same_id(item.get("roleDefinitionId"), role)
        && item
            .get("directoryScopeId")
            .and_then(Value::as_str)
            .is_none_or(|scope| scope == "/")
}

/// Removes the items of a stored list (none: nothing) that `matches` accepts; returns how many.
fn remove_where(list: Option<&mut Vec<Value>>, matches: impl Fn(&Value) -> bool) -> usize {
    let Some(list) = list else {
        return 0;
    };
    let before = list.len();
    list.retain(|item| !matches(item));
    before - list.len()
}

impl Data {
    /// The grants of the stored access package `id` (none when it is unknown or malformed).
    pub fn grants_of_package(&self, id: &str) -> Vec<Grant> {
        self.packages
            .get(id)
            .and_then(|p| serde_json::from_value::<AccessPackage>(p.clone()).ok())
            .map(|package| package_grants(&package))
            .unwrap_or_default()
    }

    fn grants_of(&self, assignment: &AccessPackageAssignment) -> Vec<Grant> {
        assignment
            .access_package
            .as_ref()
            .and_then(|p| p.id.as_deref())
            .map(|id| self.grants_of_package(id))
            .unwrap_or_default()
    }

    /// Re-enforces the resource roles of a delivered assignment: adds its target as a direct
    /// member / owner of each group role and as an app role assignment of each application
    /// role, where the resource exists and the grant is missing; and for each directory role
    /// (`originSystem` `DirectoryRole`, scope `originId` = role definition id) a tenant-wide
    /// (`directoryScopeId` `/`) eligibility schedule with `memberType` `Direct` (role `originId`
    /// `Eligible`) or role assignment (any other role `originId`, e.g. `Active`) when the target
    /// holds none. Returns what it added.
    pub fn restore_access(&mut self, assignment: &AccessPackageAssignment) -> usize {
        let Some(principal) = assignment.target.as_ref().and_then(|t| t.object_id.clone()) else {
            return 0;
        };
        let now = self.now();
        let mut added = 0;
        for grant in self.grants_of(assignment) {
            match grant {
                Grant::Member { ref group } | Grant::Owner { ref group } => {
                    if !self.groups.contains(group) {
                        continue;
                    }
                    let list = if matches!(grant, Grant::Member { .. }) {
                        &mut self.members
                    } else {
                        &mut self.owners
                    };
                    let entries = list.entry(group.to_ascii_lowercase()).or_default();
                    if !entries.iter().any(|o| same_id(o.get("id"), &principal)) {
                        entries
                            .push(json!({"@odata.type": "#microsoft.graph.user", "id": principal}));
                        added += 1;
                    }
                }
                Grant::DirectoryRole {
                    definition,
                    eligible: true,
                } => {
                    let present = self.role_eligibility_schedules.items.iter().any(|s| {
                        holds_role(s, &principal, &definition)
                            && s.get("memberType")
                                .and_then(Value::as_str)
                                .is_none_or(|m| m.eq_ignore_ascii_case("direct"))
                    });
                    if !present {
                        let id = random_guid();
                        let at = timestamp(now);
                        self.role_eligibility_schedules.push(json!({
                            "id": id,
                            "principalId": principal,
                            "roleDefinitionId": definition,
                            "directoryScopeId": "/",
                            "appScopeId": null,
                            "createdUsing": id,
                            "createdDateTime": at,
                            "modifiedDateTime": null,
                            "status": "Provisioned",
                            "memberType": "Direct",
                            "scheduleInfo": {
                                "startDateTime": at,
                                "recurrence": null,
                                "expiration": {"type": "noExpiration", "endDateTime": null, "duration": null},
                            },
                        }));
                        added += 1;
                    }
                }
                Grant::DirectoryRole {
                    definition,
                    eligible: false,
                } => {
                    let present = self
                        .role_assignments
                        .items
                        .iter()
                        .any(|a| holds_role(a, &principal, &definition));
                    if !present {
                        self.role_assignments.push(json!({
                            "id": random_assignment_id(),
                            "principalId": principal,
                            "resourceScope": "/",
                            "directoryScopeId": "/",
                            "roleDefinitionId": definition,
                        }));
                        added += 1;
                    }
                }
                Grant::SiteRole { ref site, group } => {
                    added += self.restore_site_role(site, group, &principal);
                }
                Grant::AppRole {
                    service_principal,
                    app_role,
                } => {
                    if !self.service_principals.contains(&service_principal) {
                        continue;
                    }
                    let entries = self
                        .app_role_assigned_to
                        .entry(service_principal.to_ascii_lowercase())
                        .or_default();
                    let present = entries.iter().any(|a| {
                        same_id(a.get("principalId"), &principal)
                            && same_id(a.get("appRoleId"), &app_role)
                    });
                    if !present {
                        entries.push(json!({
                            "id": random_assignment_id(),
                            "appRoleId": app_role,
                            "createdDateTime": timestamp(now),
                            "principalId": principal,
                            "principalType": "User",
                            "resourceId": service_principal,
                        }));
                        added += 1;
                    }
                }
            }
        }
        added
    }

    /// The grants the target of `assignment` holds through its *other* assignments that are
    /// in a [`HOLDING_STATES`] state (matched on `target.objectId`, case-insensitively).
    fn grants_held_elsewhere(
        &self,
        assignment: &AccessPackageAssignment,
        principal: &str,
    ) -> Vec<Grant> {
        self.assignments
            .items
            .iter()
            .filter(|other| !same_id(other.get("id"), &assignment.id))
            .filter(|other| same_id(other.pointer("/target/objectId"), principal))
            .filter(|other| {
                other
                    .get("state")
                    .and_then(Value::as_str)
                    .is_some_and(|s| HOLDING_STATES.iter().any(|h| h.eq_ignore_ascii_case(s)))
            })
            .filter_map(|other| other.pointer("/accessPackage/id").and_then(Value::as_str))
            .flat_map(|package| self.grants_of_package(package))
            .collect()
    }

    /// Takes away what the package of `assignment` grants its target (the inverse of
    /// [`Data::restore_access`] for groups and applications): the target's direct membership /
    /// ownership of each group role and its app role assignments of each application role.
    /// A grant the target also holds through another of its assignments in a
    /// [`HOLDING_STATES`] state is kept, as entitlement management keeps access that another
    /// assignment still delivers. Directory roles are left alone (the fake's `adminRemove`
    /// does not model their removal). Returns how many entries it removed.
    pub fn revoke_access(&mut self, assignment: &AccessPackageAssignment) -> usize {
        let Some(principal) = assignment.target.as_ref().and_then(|t| t.object_id.clone()) else {
            return 0;
        };
        let kept = self.grants_held_elsewhere(assignment, &principal);
        let mut removed = 0;
        for grant in self.grants_of(assignment) {
            if kept.iter().any(|k| k.same_as(&grant)) {
                continue;
            }
            let is_target = |item: &Value| same_id(item.get("id"), &principal);
            removed += match &grant {
                Grant::Member { group } => {
                    remove_where(self.members.get_mut(&group.to_ascii_lowercase()), is_target)
                }
                Grant::Owner { group } => {
                    remove_where(self.owners.get_mut(&group.to_ascii_lowercase()), is_target)
                }
                Grant::AppRole {
                    service_principal,
                    app_role,
                } => remove_where(
                    self.app_role_assigned_to
                        .get_mut(&service_principal.to_ascii_lowercase()),
                    |a| {
                        same_id(a.get("principalId"), &principal)
                            && same_id(a.get("appRoleId"), app_role)
                    },
                ),
                Grant::DirectoryRole { .. } => 0,
                Grant::SiteRole { site, group } => self.revoke_site_role(site, *group, &principal),
            };
        }
        removed
    }

    /// The recorded users of site `site`'s group `group` (`None`: no such recorded group).
    fn site_group_users(
        &mut self,
        site: &str,
        group: u32,
    ) -> Option<&mut Vec<entra_model::model::SiteUser>> {
        let sharepoint = self.sharepoint.as_mut()?;
        let wanted = site.trim_end_matches('/').to_ascii_lowercase();
        let recorded = sharepoint
            .sites
            .iter()
            .find(|s| s.url.trim_end_matches('/').to_ascii_lowercase() == wanted)?;
        if !recorded.groups.iter().any(|g| g.id == group) {
            return None;
        }
        let key = recorded.key.clone();
        Some(sharepoint.users.entry((key, group)).or_default())
    }

    /// Adds `principal` to the site group as a direct user entry (with its object id), as
    /// entitlement management's delivery does; 1 when it was not there.
    fn restore_site_role(&mut self, site: &str, group: u32, principal: &str) -> usize {
        let Some(users) = self.site_group_users(site, group) else {
            return 0;
        };
        let held = users.iter().any(|u| {
            u.aad_object_id
                .as_ref()
                .and_then(|id| id.name_id.as_deref())
                .is_some_and(|id| id.eq_ignore_ascii_case(principal))
        });
        if held {
            return 0;
        }
        let id = 1000 + users.len() as i64;
        users.push(entra_model::model::SiteUser {
            id: Some(id),
            title: Some(format!("user {principal}")),
            principal_type: Some(1),
            aad_object_id: Some(entra_model::model::NameId {
                name_id: Some(principal.to_string()),
                name_id_issuer: Some("urn:federation:microsoftonline".into()),
            }),
            ..Default::default()
        });
        1
    }

    fn revoke_site_role(&mut self, site: &str, group: u32, principal: &str) -> usize {
        let Some(users) = self.site_group_users(site, group) else {
            return 0;
        };
        let before = users.len();
        users.retain(|u| {
            !u.aad_object_id
                .as_ref()
                .and_then(|id| id.name_id.as_deref())
                .is_some_and(|id| id.eq_ignore_ascii_case(principal))
        });
        before - users.len()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn contoso() -> Data {
        Data::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/contoso-core"))
            .unwrap()
    }

    fn assignment(data: &Data, id: &str) -> AccessPackageAssignment {
        serde_json::from_value(data.assignments.get(id).unwrap().clone()).unwrap()
    }

    fn holds(
        list: &std::collections::HashMap<String, Vec<Value>>,
        key: &str,
        pointer: &str,
        id: &str,
    ) -> bool {
        list.get(key)
            .is_some_and(|items| items.iter().any(|i| same_id(i.pointer(pointer), id)))
    }

    const ADELE: &str = "94db7a08-d8e3-49ea-a571-f2e8f55015b0";
    const FINANCE_GROUP: &str = "15f02b30-b055-4983-ba88-8d6ab2e2d0dc";
    const EXPENSES_SP: &str = "de04b46d-fab4-48fd-9ec3-1eb67c11a4e6";

    #[test]
    fn package_grants_read_group_app_and_directory_roles() {
        let package: AccessPackage = serde_json::from_value(json!({
            "id": "p",
            "resourceRoleScopes": [
                {"role": {"originSystem": "AadGroup", "originId": "Member_g1"}, "scope": {"originId": "G1"}},
                {"role": {"originSystem": "aadgroup", "originId": "OWNER_g2"}, "scope": {"originId": "g2"}},
                {"role": {"originSystem": "AadGroup", "originId": "Guest_g3"}, "scope": {"originId": "g3"}},
                {"role": {"originSystem": "AadApplication", "originId": "r1"}, "scope": {"originId": "sp1"}},
                {"role": {"originSystem": "DirectoryRole", "originId": "Eligible"}, "scope": {"originId": "d1"}},
                {"role": {"originSystem": "DirectoryRole", "originId": "Active"}, "scope": {"originId": "d2"}},
                {"role": {"originSystem": "SharePointOnline", "originId": "4"}, "scope": {"originId": "https://x"}},
                {"role": {"originSystem": "AadGroup", "originId": "Member_g4"}},
            ]
        }))
        .unwrap();
        let grants = package_grants(&package);
        assert_eq!(
            grants,
            [
                Grant::Member { group: "G1".into() },
                Grant::Owner { group: "g2".into() },
                Grant::AppRole {
                    service_principal: "sp1".into(),
                    app_role: "r1".into()
                },
                Grant::DirectoryRole {
                    definition: "d1".into(),
                    eligible: true
                },
                Grant::DirectoryRole {
                    definition: "d2".into(),
                    eligible: false
                },
                Grant::SiteRole {
                    site: "https://x".into(),
                    group: 4
                },
            ]
        );
        assert!(grants[0].same_as(&Grant::Member { group: "g1".into() }));
        assert!(!grants[0].same_as(&Grant::Owner { group: "g1".into() }));
        assert!(!grants[3].same_as(&grants[4]));
    }

    #[test]
    fn reprocess_restores_group_and_app_roles_once() {
        let mut data = contoso();
        // Adele's Finance Analysts assignment: member of 15f02b30…, app role 8fb69c55… on de04b46d….
        let assignment = assignment(&data, "3B280E9F-A116-499A-BEBC-FB9CCAE627B7");
        assert_eq!(data.restore_access(&assignment), 0, "nothing missing");
        data.members
            .get_mut(FINANCE_GROUP)
            .unwrap()
            .retain(|m| !same_id(m.get("id"), ADELE));
        data.app_role_assigned_to
            .get_mut(EXPENSES_SP)
            .unwrap()
            .retain(|a| !same_id(a.get("principalId"), ADELE));
        assert_eq!(data.restore_access(&assignment), 2);
        let member = data.members[FINANCE_GROUP].last().unwrap();
        assert_eq!(
            member,
            &json!({"@odata.type": "#microsoft.graph.user", "id": ADELE})
        );
        let grant = data.app_role_assigned_to[EXPENSES_SP].last().unwrap();
        assert_eq!(grant["appRoleId"], "8fb69c55-9790-4800-a904-65ad91ce2fc7");
        assert_eq!(grant["principalType"], "User");
        assert_eq!(grant["id"].as_str().unwrap().len(), 43);
        assert_eq!(data.restore_access(&assignment), 0, "idempotent");
        assert!(data.user("ADELE.VANCE@contoso.example").is_some());
        assert!(data.user(&ADELE.to_ascii_uppercase()).is_some());
    }

    #[test]
    fn revoke_takes_away_group_and_app_roles_then_restore_gives_them_back() {
        let mut data = contoso();
        let assignment = assignment(&data, "3b280e9f-a116-499a-bebc-fb9ccae627b7");
        assert!(holds(&data.members, FINANCE_GROUP, "/id", ADELE));
        assert!(holds(
            &data.app_role_assigned_to,
            EXPENSES_SP,
            "/principalId",
            ADELE
        ));
        let members = data.members[FINANCE_GROUP].len();
        assert_eq!(data.revoke_access(&assignment), 2);
        assert!(!holds(&data.members, FINANCE_GROUP, "/id", ADELE));
        assert!(!holds(
            &data.app_role_assigned_to,
            EXPENSES_SP,
            "/principalId",
            ADELE
        ));
        assert_eq!(data.members[FINANCE_GROUP].len(), members - 1, "only Adele");
        assert_eq!(data.revoke_access(&assignment), 0, "nothing left to take");
        assert_eq!(data.restore_access(&assignment), 2);
    }

    #[test]
    fn revoke_keeps_what_another_holding_assignment_grants() {
        let mut data = contoso();
        // User 20645f6d… holds Engineering Platform Access (500a7c1a…, "Delivered": member of
        // 1b01d039…) and Engineering On-Call (9c71ab1e…: members of 1b01d039… and 1b5df1f5…).
        let user = "20645f6d-b9fa-4950-b2ef-3c8d0cb8315d";
        let (shared, own) = (
            "1b01d039-c9d2-4b04-9e79-991f6b93bfe4",
            "1b5df1f5-6e4a-442d-ad3e-dd7e569ce737",
        );
        let on_call = assignment(&data, "9c71ab1e-6874-4a89-a9d5-a8605b475efe");
        assert_eq!(data.revoke_access(&on_call), 1);
        assert!(holds(&data.members, shared, "/id", user), "kept");
        assert!(!holds(&data.members, own, "/id", user));

        // Once the other assignment no longer holds, the shared group goes too.
        assert!(data
            .assignments
            .update("500a7c1a-c758-4c13-80d2-3eb970c54df9", |platform| {
                platform["state"] = json!("expired")
            }));
        assert_eq!(data.revoke_access(&on_call), 1);
        assert!(!holds(&data.members, shared, "/id", user));
    }
}
