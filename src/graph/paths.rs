//! Every Graph path the tool reads or writes, relative to `/v1.0/`, in one place. Ids are
//! percent-encoded as path segments and quoted as OData literals, so that even an id that
//! slipped past the edge checks cannot reach another endpoint or leave its filter.

use entra_model::ids::{encode_segment, odata_literal};

/// The largest `$top` the member, owner and user lists accept.
pub const PAGE_SIZE: u32 = 999;

const ENTITLEMENT: &str = "identityGovernance/entitlementManagement";

/// Access packages with their resource role scopes expanded (the list form).
pub fn access_packages_expanded() -> String {
    format!("{ENTITLEMENT}/accessPackages?$expand=resourceRoleScopes($expand=role,scope),catalog")
}

/// One package's resource role scopes as a collection of its own, paged: read when the
/// expanded list may be incomplete.
pub fn package_scopes(package_id: &str) -> String {
    format!(
        "{ENTITLEMENT}/accessPackages/{}/resourceRoleScopes?$expand=role,scope",
        encode_segment(package_id)
    )
}

/// Assignments in one state (PascalCase, as Graph documents the filter), with target and
/// package expanded.
pub fn assignments_in_state(state: &str) -> String {
    format!(
        "{ENTITLEMENT}/assignments?$filter=state eq {}&$expand=target,accessPackage",
        odata_literal(state)
    )
}

/// The delivered assignments of one access package (a partition of the delivered list: the
/// two filters Graph documents, joined with `and`), target and package expanded, and only the
/// properties the snapshot keeps (`$select` costs a resource unit less).
pub fn delivered_assignments_of_package(package_id: &str) -> String {
    format!(
        "{ENTITLEMENT}/assignments?$filter=accessPackage/id eq {} and state eq 'Delivered'&$expand=target,accessPackage&$select=id,state,status,expiredDateTime,schedule",
        odata_literal(package_id)
    )
}

/// One assignment with its target.
pub fn assignment(id: &str) -> String {
    format!(
        "{ENTITLEMENT}/assignments/{}?$expand=target",
        encode_segment(id)
    )
}

/// Assignment requests (POST one to end an assignment: `adminRemove`).
pub fn assignment_requests() -> String {
    format!("{ENTITLEMENT}/assignmentRequests")
}

/// A user's delivered assignments with their packages (is an access explained?).
pub fn delivered_assignments_of(user_id: &str) -> String {
    format!(
        "{ENTITLEMENT}/assignments?$filter=target/objectId eq {} and state eq 'Delivered'&$expand=accessPackage",
        odata_literal(user_id)
    )
}

/// A direct member or owner (`collection`: `members` or `owners`) of a group, as a reference
/// to DELETE.
pub fn group_reference(group_id: &str, collection: &str, object_id: &str) -> String {
    format!(
        "groups/{}/{}/{}/$ref",
        encode_segment(group_id),
        encode_segment(collection),
        encode_segment(object_id)
    )
}

/// One app role assignment of a service principal, to DELETE.
pub fn app_role_assigned(service_principal_id: &str, assignment_id: &str) -> String {
    format!(
        "servicePrincipals/{}/appRoleAssignedTo/{}",
        encode_segment(service_principal_id),
        encode_segment(assignment_id)
    )
}

/// The app role assignments of a service principal with their ids.
pub fn app_role_assignments_with_ids(service_principal_id: &str) -> String {
    format!(
        "servicePrincipals/{}/appRoleAssignedTo?$select=id,principalId,principalType,appRoleId&$top={PAGE_SIZE}",
        encode_segment(service_principal_id)
    )
}

/// The reprocess action of one assignment.
pub fn reprocess(assignment_id: &str) -> String {
    format!(
        "{ENTITLEMENT}/assignments/{}/reprocess",
        encode_segment(assignment_id)
    )
}

/// The largest `$top` of the audit log (undocumented; community code uses 999).
pub const AUDIT_PAGE_SIZE: u32 = 999;

/// Directory audit events since `since` (RFC 3339, UTC) of the named activities. The
/// activities are combined with `or` in one filter; [`directory_audits_of`] asks for one.
pub fn directory_audits(since: &str, activities: &[&str]) -> String {
    let names: Vec<String> = activities
        .iter()
        .map(|a| format!("activityDisplayName eq {}", odata_literal(a)))
        .collect();
    format!(
        "auditLogs/directoryAudits?$filter=activityDateTime ge {since} and ({})&$top={AUDIT_PAGE_SIZE}",
        names.join(" or ")
    )
}

/// Directory audit events since `since` of one activity.
pub fn directory_audits_of(since: &str, activity: &str) -> String {
    format!(
        "auditLogs/directoryAudits?$filter=activityDateTime ge {since} and activityDisplayName eq {}&$top={AUDIT_PAGE_SIZE}",
        odata_literal(activity)
    )
}

/// Every user, with what the findings show.
pub fn users() -> String {
    format!(
        "users?$select=id,displayName,userPrincipalName,accountEnabled,userType&$top={PAGE_SIZE}"
    )
}

/// One user's enabled flag (and UPN: a site entry without an object id is matched by it).
pub fn user_enabled(id: &str) -> String {
    format!(
        "users/{}?$select=id,accountEnabled,userPrincipalName",
        encode_segment(id)
    )
}

pub fn group_members(group_id: &str) -> String {
    format!(
        "groups/{}/members?$select=id&$top={PAGE_SIZE}",
        encode_segment(group_id)
    )
}

pub fn group_owners(group_id: &str) -> String {
    format!(
        "groups/{}/owners?$select=id&$top={PAGE_SIZE}",
        encode_segment(group_id)
    )
}

pub fn app_role_assigned_to(service_principal_id: &str) -> String {
    format!(
        "servicePrincipals/{}/appRoleAssignedTo?$select=principalId,principalType,appRoleId&$top={PAGE_SIZE}",
        encode_segment(service_principal_id)
    )
}

/// Active assignments of one directory role (tenant-wide and scoped; the reader keeps `/`).
pub fn role_assignments(role_definition_id: &str) -> String {
    format!(
        "roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq {}",
        odata_literal(role_definition_id)
    )
}

/// Eligibility schedules of one directory role (PIM). Schedules rather than their instances:
/// a schedule is the standing grant that entitlement management creates; instances are its
/// current windows and say nothing more about delivery.
pub fn role_eligibility(role_definition_id: &str) -> String {
    format!(
        "roleManagement/directory/roleEligibilitySchedules?$filter=roleDefinitionId eq {}",
        odata_literal(role_definition_id)
    )
}

/// Every assignment request, with its assignment: a failed delivery's latest request decides
/// whether it can be retried, whatever that request's state (graph-api.md §10 documents no
/// filter by assignment).
pub fn requests() -> String {
    format!("{ENTITLEMENT}/assignmentRequests?$expand=assignment")
}

/// One assignment request (the apply-time re-check).
pub fn assignment_request(id: &str) -> String {
    format!("{ENTITLEMENT}/assignmentRequests/{}", encode_segment(id))
}

/// The reprocess action of one assignment request (a failed delivery's retry).
pub fn request_reprocess(id: &str) -> String {
    format!(
        "{ENTITLEMENT}/assignmentRequests/{}/reprocess",
        encode_segment(id)
    )
}

/// `groups/delta?$select=members&$filter=id eq 'a' or id eq 'b'` (Graph allows 50 ids).
pub fn groups_delta<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    let filter: Vec<String> = ids
        .map(|id| format!("id eq {}", odata_literal(id)))
        .collect();
    format!(
        "groups/delta?$select=members&$filter={}",
        filter.join(" or ")
    )
}

/// The tenant's organization object: its id and display name (Organization.Read.All).
pub fn organization() -> String {
    "organization?$select=id,displayName".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_ids_stay_in_their_segment_and_literal() {
        assert_eq!(
            reprocess("../../users/x"),
            "identityGovernance/entitlementManagement/assignments/..%2F..%2Fusers%2Fx/reprocess"
        );
        assert_eq!(
            groups_delta(["a' or id ne 'b"].into_iter()),
            "groups/delta?$select=members&$filter=id eq 'a'' or id ne ''b'"
        );
    }
}
