//! Reads directory audit-log events (graph-api.md §9) as changes the audit can join on: which
//! access was added, removed or deleted, for which user, by whom, when.
//!
//! The shapes are partly observed rather than documented, so every field is optional here: an
//! event this module cannot place (unknown activity, failed result, no usable id) is counted
//! and skipped, never guessed at.

use chrono::{DateTime, Utc};
use entra_model::enums::AuditResult;
use entra_model::ids::is_guid;

use super::roles::{APPLICATION, GROUP};
use crate::model::{AuditInitiator, AuditProperty, AuditTarget, DirectoryAudit};

/// What an event did to a holding (the values of the `change` column and of `cause`).
pub const REMOVED: &str = "removed";
pub const ADDED: &str = "added";
pub const DELETED: &str = "deleted";

/// Who acted (`cause_actor_kind`).
pub const ACTOR_USER: &str = "user";
pub const ACTOR_APP: &str = "application";
pub const ACTOR_EM: &str = "entitlement_management";
pub const ACTOR_SYNC: &str = "sync";

/// The service app through which entitlement management makes its own changes (documented).
pub const ENTITLEMENT_MANAGEMENT_APP: &str = "Azure AD Identity Governance - User Management";

/// Names (case-insensitive substrings) of the apps that synchronise from on-premises
/// directories, and the UPN prefix of Entra Connect's sync account. Not documented as a list by
/// Microsoft: an assumption, stated in the guide (docs/src/reviewer/causes.md).
const SYNC_APP_MARKERS: [&str; 4] = [
    "entra connect",
    "azure ad connect",
    "cloud sync",
    "directory synchronization",
];
const SYNC_UPN_PREFIX: &str = "sync_";

/// The activities the audit reads, with what each does, by Microsoft's audit activity reference
/// (Core Directory). `Add app role assignment grant to user` is observed, not documented. A
/// deleted enterprise app is `Remove service principal` (there is no "Delete service principal");
/// a group is `Delete group` when soft-deleted and `Hard Delete group` when deleted for good.
/// `Delete application` / `Hard Delete application` concern the app registration, not the
/// service principal a package's role is scoped to, and are not read.
pub const ACTIVITIES: [(&str, Change); 9] = [
    ("Add member to group", Change::Membership(ADDED, "member")),
    (
        "Remove member from group",
        Change::Membership(REMOVED, "member"),
    ),
    ("Add owner to group", Change::Membership(ADDED, "owner")),
    (
        "Remove owner from group",
        Change::Membership(REMOVED, "owner"),
    ),
    (
        "Add app role assignment grant to user",
        Change::AppRole(ADDED),
    ),
    (
        "Remove app role assignment from user",
        Change::AppRole(REMOVED),
    ),
    ("Delete group", Change::Deletion(GROUP)),
    ("Hard Delete group", Change::Deletion(GROUP)),
    ("Remove service principal", Change::Deletion(APPLICATION)),
];

/// The activity names, for the log filter.
pub fn activity_names() -> Vec<&'static str> {
    ACTIVITIES.iter().map(|(name, _)| *name).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A user added to or removed from a group's members or owners.
    Membership(&'static str, &'static str),
    /// An app role assignment granted to or removed from a user.
    AppRole(&'static str),
    /// A group or service principal deleted.
    Deletion(&'static str),
}

/// One event, placed: the columns of the snapshot's `events` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub event_id: String,
    pub at: DateTime<Utc>,
    pub change: &'static str,
    pub resource_type: &'static str,
    /// Lower-cased group or service principal id.
    pub resource_id: String,
    /// `member`, `owner`, a lower-cased app role id, or empty for a deletion.
    pub role: String,
    /// Lower-cased user id; empty for a deletion.
    pub user_id: String,
    pub actor: String,
    pub actor_id: String,
    pub actor_kind: &'static str,
    pub activity: String,
    pub correlation_id: String,
}

/// Why an event was not placed (counted for the run's log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// An activity the audit does not read.
    Activity,
    /// `result` other than success: nothing changed.
    Failed,
    /// No parseable `activityDateTime`.
    Time,
    /// No user, group, service principal or app role id where the activity needs one.
    Ids,
}

impl Skip {
    pub fn describe(self) -> &'static str {
        match self {
            Skip::Activity => "other activity",
            Skip::Failed => "not successful",
            Skip::Time => "no readable activityDateTime",
            Skip::Ids => "no usable user or resource id",
        }
    }
}

/// Places one event, or says why it cannot be placed.
pub fn place(event: &DirectoryAudit) -> Result<Fact, Skip> {
    let activity = event.activity_display_name.as_deref().unwrap_or("").trim();
    let change = ACTIVITIES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(activity))
        .map(|(_, change)| *change)
        .ok_or(Skip::Activity)?;
    if event
        .result
        .as_deref()
        .is_some_and(|r| !r.trim().is_empty() && AuditResult::parse(r) != AuditResult::Success)
    {
        return Err(Skip::Failed);
    }
    let at = event
        .activity_date_time
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or(Skip::Time)?;
    let (change, resource_type, resource_id, role, user_id) = match change {
        Change::Membership(change, role) => {
            let user = target_of(event, "user").and_then(|t| guid(t.id.as_deref()));
            let group = event
                .target_resources
                .iter()
                .find_map(|t| property(t, "Group.ObjectID"))
                .or_else(|| target_of(event, "group").and_then(|t| guid(t.id.as_deref())));
            let (Some(user), Some(group)) = (user, group) else {
                return Err(Skip::Ids);
            };
            (change, GROUP, group, role.to_string(), user)
        }
        Change::AppRole(change) => {
            let resource = target_of(event, "serviceprincipal").and_then(|t| guid(t.id.as_deref()));
            let role = event
                .target_resources
                .iter()
                .find_map(|t| property(t, "AppRole.Id"));
            let user = event
                .target_resources
                .iter()
                .find_map(|t| property(t, "User.ObjectID"))
                .or_else(|| target_of(event, "user").and_then(|t| guid(t.id.as_deref())));
            let (Some(resource), Some(role), Some(user)) = (resource, role, user) else {
                return Err(Skip::Ids);
            };
            (change, APPLICATION, resource, role, user)
        }
        Change::Deletion(resource_type) => {
            let kind = if resource_type == GROUP {
                "group"
            } else {
                "serviceprincipal"
            };
            let Some(resource) = target_of(event, kind).and_then(|t| guid(t.id.as_deref())) else {
                return Err(Skip::Ids);
            };
            (
                DELETED,
                resource_type,
                resource,
                String::new(),
                String::new(),
            )
        }
    };
    let (actor, actor_id, actor_kind) = actor(event.initiated_by.as_ref());
    Ok(Fact {
        event_id: event.id.clone().unwrap_or_default(),
        at,
        change,
        resource_type,
        resource_id,
        role,
        user_id,
        actor,
        actor_id,
        actor_kind,
        activity: activity.to_string(),
        correlation_id: event.correlation_id.clone().unwrap_or_default(),
    })
}

/// The first target of that type (compared case-insensitively: samples spell it both ways).
fn target_of<'e>(event: &'e DirectoryAudit, kind: &str) -> Option<&'e AuditTarget> {
    event.target_resources.iter().find(|t| {
        t.kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case(kind))
    })
}

/// A GUID-valued modified property: the new value of an addition, else the old value of a
/// removal (either may carry it; take whichever holds a GUID).
fn property(target: &AuditTarget, name: &str) -> Option<String> {
    target
        .modified_properties
        .iter()
        .filter(|p| {
            p.display_name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .find_map(|p| {
            guid(AuditProperty::text(p.new_value.as_ref()).as_deref())
                .or_else(|| guid(AuditProperty::text(p.old_value.as_ref()).as_deref()))
        })
}

fn guid(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| is_guid(v))
        .map(str::to_ascii_lowercase)
}

/// `(name, id, kind)` of whoever initiated the event: a person by UPN, an app by name.
pub fn actor(initiator: Option<&AuditInitiator>) -> (String, String, &'static str) {
    let text = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or("").to_string();
    if let Some(user) = initiator.and_then(|i| i.user.as_ref()) {
        let upn = text(&user.user_principal_name);
        let name = if upn.is_empty() {
            text(&user.display_name)
        } else {
            upn
        };
        if name.is_empty() && text(&user.id).is_empty() {
            // `user: {}` with nothing in it: fall through to the app.
        } else {
            let kind = if name.to_ascii_lowercase().starts_with(SYNC_UPN_PREFIX) {
                ACTOR_SYNC
            } else {
                ACTOR_USER
            };
            return (name, text(&user.id), kind);
        }
    }
    if let Some(app) = initiator.and_then(|i| i.app.as_ref()) {
        let name = text(&app.display_name);
        let id = [&app.service_principal_id, &app.app_id]
            .into_iter()
            .map(text)
            .find(|v| !v.is_empty())
            .unwrap_or_default();
        let lowered = name.to_ascii_lowercase();
        let kind = if name.eq_ignore_ascii_case(ENTITLEMENT_MANAGEMENT_APP) {
            ACTOR_EM
        } else if SYNC_APP_MARKERS.iter().any(|m| lowered.contains(m)) {
            ACTOR_SYNC
        } else {
            ACTOR_APP
        };
        return (name, id, kind);
    }
    (String::new(), String::new(), ACTOR_APP)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Collection;

    fn example(name: &str) -> DirectoryAudit {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/graph-examples")
            .join(name);
        let text = std::fs::read_to_string(path).unwrap();
        let mut list: Collection<DirectoryAudit> = serde_json::from_str(&text).unwrap();
        list.value.remove(0)
    }

    fn event(body: serde_json::Value) -> DirectoryAudit {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn observed_membership_event_takes_the_group_from_modified_properties() {
        let fact = place(&example(
            "observed-directory-audit-add-member-to-group.json",
        ))
        .unwrap();
        assert_eq!(fact.change, ADDED);
        assert_eq!(fact.resource_type, GROUP);
        // The Group target's id is not a GUID in the capture; the property's is.
        assert_eq!(fact.resource_id, "23453245-2345-2345-2345-234523454352");
        assert_eq!(fact.role, "member");
        assert_eq!(fact.user_id, "0960048c-4887-42d6-aefd-d5559295f11b");
        assert_eq!(fact.actor, "argrdgrdg@agregaerga.onmicrosoft.com");
        assert_eq!(fact.actor_kind, ACTOR_USER);
    }

    #[test]
    fn reference_sample_with_capital_type_uses_the_group_target() {
        let fact = place(&example("directory-audits-add-member.json")).unwrap();
        assert_eq!(fact.resource_id, "ef7e527d-6c92-4234-8c6d-cf6fdfb57f95");
        assert_eq!(fact.user_id, "1f0e98f5-3161-4c6b-9b50-d488572f2bb7");
        assert_eq!(fact.actor, "bob@wingtiptoysonline.com");
    }

    #[test]
    fn app_to_app_assignment_is_not_a_user_event() {
        let skipped = place(&example(
            "observed-directory-audit-add-app-role-assignment.json",
        ));
        assert_eq!(skipped, Err(Skip::Activity));
    }

    #[test]
    fn removal_of_an_app_role_from_a_user_reads_role_and_user_properties() {
        let fact = place(&event(serde_json::json!({
            "id": "e1", "result": "success",
            "activityDisplayName": "Remove app role assignment from user",
            "activityDateTime": "2026-11-20T10:00:00.1234567Z",
            "initiatedBy": {"app": {"displayName": ENTITLEMENT_MANAGEMENT_APP,
                                    "servicePrincipalId": "sp-1"}},
            "targetResources": [{
                "id": "62CB17E7-D25E-4356-AD51-A861585F8634", "type": "ServicePrincipal",
                "modifiedProperties": [
                    {"displayName": "AppRole.Id", "oldValue": "\"242607BD-1D2C-432C-82EB-BDB27BAA23AB\"", "newValue": null},
                    {"displayName": "User.ObjectID", "oldValue": "\"0960048c-4887-42d6-aefd-d5559295f11b\"", "newValue": null}
                ]}]
        })))
        .unwrap();
        assert_eq!(fact.change, REMOVED);
        assert_eq!(fact.resource_type, APPLICATION);
        assert_eq!(fact.resource_id, "62cb17e7-d25e-4356-ad51-a861585f8634");
        assert_eq!(fact.role, "242607bd-1d2c-432c-82eb-bdb27baa23ab");
        assert_eq!(fact.user_id, "0960048c-4887-42d6-aefd-d5559295f11b");
        assert_eq!(fact.actor_kind, ACTOR_EM);
        assert_eq!(fact.actor_id, "sp-1");
    }

    #[test]
    fn failures_unknown_activities_and_missing_ids_are_skipped_not_guessed() {
        let base = serde_json::json!({
            "activityDisplayName": "Remove member from group",
            "activityDateTime": "2026-11-20T10:00:00Z",
            "targetResources": [{"type": "User", "id": "0960048c-4887-42d6-aefd-d5559295f11b"}]
        });
        assert_eq!(place(&event(base.clone())), Err(Skip::Ids));
        let mut failed = base.clone();
        failed["result"] = "failure".into();
        assert_eq!(place(&event(failed)), Err(Skip::Failed));
        let mut timeless = base.clone();
        timeless["activityDateTime"] = "yesterday".into();
        assert_eq!(place(&event(timeless)), Err(Skip::Time));
        let mut other = base;
        other["activityDisplayName"] = "Update user".into();
        assert_eq!(place(&event(other)), Err(Skip::Activity));
    }

    #[test]
    fn deletions_are_read_by_their_documented_names() {
        let deletion = |activity: &str, kind: &str, id: &str| {
            place(&event(serde_json::json!({
                "activityDisplayName": activity,
                "activityDateTime": "2026-11-20T10:00:00Z",
                "initiatedBy": {"user": {"userPrincipalName": "adele@contoso.example", "id": "u1"}},
                "targetResources": [{"type": kind, "id": id}]
            })))
        };
        let sp = "de04b46d-fab4-48fd-9ec3-1eb67c11a4e6";
        let fact = deletion("Remove service principal", "ServicePrincipal", sp).unwrap();
        assert_eq!((fact.change, fact.resource_type), (DELETED, APPLICATION));
        assert_eq!(fact.resource_id, sp);
        let group = "ef7e527d-6c92-4234-8c6d-cf6fdfb57f95";
        let fact = deletion("Hard Delete group", "Group", group).unwrap();
        assert_eq!((fact.change, fact.resource_type), (DELETED, GROUP));
        // No such activity: never matched.
        assert_eq!(
            deletion("Delete service principal", "ServicePrincipal", sp),
            Err(Skip::Activity)
        );
    }

    #[test]
    fn deletion_and_sync_actors() {
        let fact = place(&event(serde_json::json!({
            "activityDisplayName": "Delete group",
            "activityDateTime": "2026-11-20T10:00:00Z",
            "initiatedBy": {"user": {"userPrincipalName": "Sync_DC01_abc@contoso.onmicrosoft.com", "id": "u1"}},
            "targetResources": [{"Type": "Group", "id": "ef7e527d-6c92-4234-8c6d-cf6fdfb57f95"}]
        })))
        .unwrap();
        assert_eq!(fact.change, DELETED);
        assert_eq!(fact.user_id, "");
        assert_eq!(fact.actor_kind, ACTOR_SYNC);
        let (_, _, kind) = actor(Some(&AuditInitiator {
            user: None,
            app: Some(crate::model::AuditApp {
                display_name: Some("Microsoft Entra Connect Sync".into()),
                ..Default::default()
            }),
        }));
        assert_eq!(kind, ACTOR_SYNC);
    }
}
