//! Serde models of the Microsoft Graph objects this tool reads, shared by the tenant-directory
//! reader and the live Graph client.
//!
//! Every model ignores unknown properties (Graph adds them freely) and keeps enum-like values
//! (`state`, `originSystem`, `principalType`) as strings, so a value Microsoft adds tomorrow
//! parses today. Fields the audit cannot work without are still `Option`: the snapshot builder
//! checks them and names the object that lacks one, which a serde error could not do.

use serde::{Deserialize, Serialize};

/// A Graph collection response: `{"value": [...], "@odata.nextLink": "..."}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Collection<T> {
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    pub delta_link: Option<String>,
}

/// `tenant.json` of a tenant directory (not a Graph object: the recording's header).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantInfo {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_domain: Option<String>,
    /// When the tenant was recorded (RFC 3339). An offline audit takes it as the snapshot's
    /// time, so a recording audited later still reads as of its own week; absent: the read's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_at: Option<String>,
}

/// A reference to another object, as `$expand` returns it (`accessPackage`, `catalog`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPackage {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<ObjectRef>,
    /// `None` when the property is absent (not expanded); `Some(vec![])` for a package that
    /// delivers nothing. The difference matters: an unexpanded package must not look empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_role_scopes: Option<Vec<ResourceRoleScope>>,
    /// Graph paged the expanded list: the rest is at this link. A list that has one is not
    /// complete until the rest is read.
    #[serde(
        rename = "resourceRoleScopes@odata.nextLink",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub resource_role_scopes_next_link: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRoleScope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<ResourceRole>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ResourceScope>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRole {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceScope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_root_scope: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPackageAssignment {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<AccessPackageSubject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_package: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<serde_json::Value>,
}

/// `accessPackageSubject`. Memberships are compared with `object_id`, never `id`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPackageSubject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// A member or owner: any directory object. `@odata.type` tells users from groups and
/// service principals; Graph sends it on every object of a directoryObject collection.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DirectoryObject {
    pub id: String,
    #[serde(rename = "@odata.type", default)]
    pub odata_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default)]
    pub app_roles: Vec<AppRole>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRole {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleAssignment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub app_role_id: String,
    pub principal_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
}

/// `unifiedRoleAssignment` (directory roles). Parsed so that the reference bodies are
/// accepted; directory roles are reported `unverifiable` today.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnifiedRoleAssignment {
    pub id: String,
    pub principal_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_definition_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_scope_id: Option<String>,
}

/// `unifiedRoleEligibilitySchedule`: who may activate a directory role (PIM).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnifiedRoleEligibilitySchedule {
    pub id: String,
    pub principal_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_definition_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_scope_id: Option<String>,
    /// `Direct`, or `Group` (eligible through a group: not what a package delivers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_type: Option<String>,
}

/// `accessPackageAssignmentRequest`, with its assignment expanded.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPackageAssignmentRequest {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    /// Older samples spell it `completedDate`.
    #[serde(
        default,
        alias = "completedDate",
        skip_serializing_if = "Option::is_none"
    )]
    pub completed_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<ObjectRef>,
}

/// A catalog resource (`accessPackageResource`) with its roles and scopes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPackageResource {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_system: Option<String>,
    #[serde(default)]
    pub roles: Vec<ResourceRole>,
    #[serde(default)]
    pub scopes: Vec<ResourceScope>,
}

/// A group from `groups/delta?$select=members`: `members@delta` lists changes, and a removed
/// member carries `@removed`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct GroupDelta {
    pub id: String,
    #[serde(rename = "members@delta", default)]
    pub members_delta: Vec<DeltaMember>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DeltaMember {
    pub id: String,
    #[serde(rename = "@odata.type", default)]
    pub odata_type: Option<String>,
    #[serde(rename = "@removed", default)]
    pub removed: Option<serde_json::Value>,
}

/// The OAuth token endpoint's reply.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TokenResponse {
    pub token_type: String,
    pub expires_in: u64,
    pub access_token: String,
}

/// A `directoryAudit` event (graph-api.md §9). Parsed defensively: every property may be
/// absent or null, and the target's `type` is also spelled `Type` in a reference sample.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryAudit {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logged_by_service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiated_by: Option<AuditInitiator>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub target_resources: Vec<AuditTarget>,
}

/// `initiatedBy`: one of the two is set.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AuditInitiator {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<AuditUser>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<AuditApp>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditApp {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal_name: Option<String>,
}

/// One of an event's `targetResources`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(
        default,
        rename = "type",
        alias = "Type",
        alias = "TYPE",
        skip_serializing_if = "Option::is_none"
    )]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub modified_properties: Vec<AuditProperty>,
}

/// A modified property. Values are JSON-encoded strings (`"\"<guid>\""`) in observed events;
/// they are kept as raw JSON so any other shape still parses.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditProperty {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_value: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_value: Option<serde_json::Value>,
}

impl AuditProperty {
    /// The property's value as text: a JSON-encoded string is decoded once (`"\"x\""` → `x`),
    /// a plain string is taken as it is; null, empty and other shapes give `None`.
    pub fn text(value: Option<&serde_json::Value>) -> Option<String> {
        let raw = match value? {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => return None,
            other => other.to_string(),
        };
        let decoded = match serde_json::from_str::<serde_json::Value>(&raw) {
            Ok(serde_json::Value::String(inner)) => inner,
            Ok(serde_json::Value::Array(items)) if items.len() == 1 => match &items[0] {
                serde_json::Value::String(inner) => inner.clone(),
                _ => raw,
            },
            _ => raw,
        };
        let trimmed = decoded.trim();
        (!trimmed.is_empty()).then(|| trimmed.to_string())
    }
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn example(name: &str) -> String {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/graph-examples");
        std::fs::read_to_string(dir.join(name))
            .unwrap_or_else(|e| panic!("reading example {name}: {e}"))
    }

    #[test]
    fn every_reference_example_parses() {
        let package: AccessPackage =
            serde_json::from_str(&example("access-package-with-resource-role-scopes.json"))
                .unwrap();
        let scopes = package.resource_role_scopes.unwrap();
        assert_eq!(
            scopes[0].role.as_ref().unwrap().origin_id.as_deref(),
            Some("Owner_7b56ede0-9b58-40bd-b11e-b3d18fc32698")
        );
        for name in [
            "catalog-resources-application.json",
            "catalog-resources-group.json",
        ] {
            let resources: Collection<AccessPackageResource> =
                serde_json::from_str(&example(name)).unwrap();
            assert_eq!(resources.value.len(), 1);
            assert_eq!(resources.value[0].roles.len(), 1);
        }
        let expired: AccessPackageAssignment =
            serde_json::from_str(&example("get-assignment-expired.json")).unwrap();
        assert_eq!(expired.state.as_deref(), Some("expired"));
        let members: Collection<DirectoryObject> =
            serde_json::from_str(&example("group-members.json")).unwrap();
        assert_eq!(members.value[0].id, "11111111-2222-3333-4444-555555555555");
        let site_users: Collection<SiteUser> =
            serde_json::from_str(&example("sharepoint-sitegroup-users.json")).unwrap();
        assert_eq!(site_users.value.len(), 3);
        assert_eq!(
            site_users.value[0]
                .aad_object_id
                .as_ref()
                .and_then(|id| id.name_id.as_deref()),
            Some("5c0e5e2a-7f43-4a46-9d8f-2f0b3c6f9e11")
        );
        assert!(site_users.value[1].aad_object_id.is_none(), "null is none");
        let site_group: SiteGroup =
            serde_json::from_str(&example("sharepoint-sitegroup.json")).unwrap();
        assert_eq!(
            (site_group.id, site_group.can_current_user_view_membership),
            (4, Some(true))
        );
        let owners: Collection<DirectoryObject> =
            serde_json::from_str(&example("group-owners.json")).unwrap();
        assert_eq!(owners.value.len(), 2);
        assert_eq!(
            owners.value[0].odata_type.as_deref(),
            Some("#microsoft.graph.user")
        );
        let delta: Collection<GroupDelta> =
            serde_json::from_str(&example("groups-delta-incremental.json")).unwrap();
        assert!(delta.delta_link.is_some());
        assert!(delta.value[0].members_delta[0].removed.is_some());
        assert!(delta.value[0].members_delta[1].removed.is_none());
        let list: Collection<AccessPackageAssignment> =
            serde_json::from_str(&example("list-assignments.json")).unwrap();
        assert_eq!(list.value[0].state.as_deref(), Some("delivered"));
        let role: UnifiedRoleAssignment =
            serde_json::from_str(&example("role-assignment.json")).unwrap();
        assert_eq!(role.principal_id, "f1847572-48aa-47aa-96a3-2ec61904f41f");
        let assigned: Collection<AppRoleAssignment> =
            serde_json::from_str(&example("service-principal-app-role-assigned-to.json")).unwrap();
        assert_eq!(assigned.value[0].principal_type.as_deref(), Some("User"));
        let token: TokenResponse = serde_json::from_str(&example("token-response.json")).unwrap();
        assert_eq!(token.expires_in, 3599);
    }

    #[test]
    fn unknown_enum_values_and_properties_are_accepted() {
        let body = r#"{"id":"a","state":"someFutureState","brandNew":{"x":1},
            "target":{"objectId":null,"subjectType":"unknownFutureValue"}}"#;
        let assignment: AccessPackageAssignment = serde_json::from_str(body).unwrap();
        assert_eq!(assignment.state.as_deref(), Some("someFutureState"));
        assert!(assignment.target.unwrap().object_id.is_none());
    }

    #[test]
    fn directory_audit_examples_parse_with_either_type_spelling() {
        let reference: Collection<DirectoryAudit> =
            serde_json::from_str(&example("directory-audits-add-member.json")).unwrap();
        let event = &reference.value[0];
        assert_eq!(event.target_resources[0].kind.as_deref(), Some("Group"));
        assert_eq!(event.target_resources[1].kind.as_deref(), Some("User"));
        let observed: Collection<DirectoryAudit> = serde_json::from_str(&example(
            "observed-directory-audit-add-member-to-group.json",
        ))
        .unwrap();
        let user = &observed.value[0].target_resources[0];
        assert_eq!(user.kind.as_deref(), Some("User"));
        let group = user
            .modified_properties
            .iter()
            .find(|p| p.display_name.as_deref() == Some("Group.ObjectID"))
            .unwrap();
        assert_eq!(
            AuditProperty::text(group.new_value.as_ref()).as_deref(),
            Some("23453245-2345-2345-2345-234523454352")
        );
        assert_eq!(AuditProperty::text(group.old_value.as_ref()), None);
        let app: Collection<DirectoryAudit> = serde_json::from_str(&example(
            "observed-directory-audit-add-app-role-assignment.json",
        ))
        .unwrap();
        let initiator = app.value[0].initiated_by.as_ref().unwrap();
        assert!(initiator.user.is_none());
        assert_eq!(
            initiator.app.as_ref().unwrap().display_name.as_deref(),
            Some("homelab-agentic-mgmt")
        );
    }

    #[test]
    fn directory_audit_tolerates_nulls_and_odd_values() {
        let body = r#"{"id":null,"targetResources":null,"initiatedBy":{"user":null,"app":null},
            "surprise":[1]}"#;
        let event: DirectoryAudit = serde_json::from_str(body).unwrap();
        assert!(event.target_resources.is_empty());
        let body = r#"{"targetResources":[{"modifiedProperties":null,"type":"User"}]}"#;
        let event: DirectoryAudit = serde_json::from_str(body).unwrap();
        assert!(event.target_resources[0].modified_properties.is_empty());
        let plain = serde_json::json!("abc");
        assert_eq!(AuditProperty::text(Some(&plain)).as_deref(), Some("abc"));
        let listed = serde_json::json!("[\"x\"]");
        assert_eq!(AuditProperty::text(Some(&listed)).as_deref(), Some("x"));
        let blank = serde_json::json!("\"\"");
        assert_eq!(AuditProperty::text(Some(&blank)), None);
    }
}

/// A SharePoint site as a tenant directory records it (`sharepoint/sites.json`): the site that
/// exists, the folder `key` its files live under, and its groups.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RecordedSite {
    pub url: String,
    pub key: String,
    #[serde(default)]
    pub groups: Vec<SiteGroup>,
}

/// A SharePoint site group (`_api/web/sitegroups/GetById(n)`, nometadata).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SiteGroup {
    pub id: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_allow_members_view_membership: Option<bool>,
    /// Absent in a recording: what the recorder could see is then assumed visible unless the
    /// group restricts membership to its members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_current_user_view_membership: Option<bool>,
}

impl SiteGroup {
    /// Whether its reader may see the group's members: SharePoint's
    /// `CanCurrentUserViewMembership`. Where a recording leaves that out, a group that shows its
    /// members only to them (`OnlyAllowMembersViewMembership`) is taken as hidden: its recorded
    /// list may be only what the recorder could see. The audit, `check sharepoint`, the live
    /// client and fake-graph all ask this.
    pub fn members_visible(&self) -> bool {
        self.can_current_user_view_membership
            .unwrap_or(self.only_allow_members_view_membership != Some(true))
    }
}

/// A user entry of a site group (`SP.User`, nometadata, `AadObjectId` selected).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SiteUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// 1 user, 4 security group (an Entra or Microsoft 365 group claim), 8 SharePoint group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    /// The Entra object id (`NameId`), SharePoint Online only; `null` for some guests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_object_id: Option<NameId>,
}

/// SharePoint's `{NameId, NameIdIssuer}` pair.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NameId {
    #[serde(default)]
    pub name_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_id_issuer: Option<String>,
}
