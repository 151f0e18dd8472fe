//! Classifies an access package's resource role into what the audit compares: which resource,
//! which role on it, and which collection of that resource holds the role.

use crate::model::{ResourceRole, ResourceScope};
use entra_model::enums::OriginSystem;

pub const GROUP: &str = "group";
pub const APPLICATION: &str = "application";
pub const SHAREPOINT_SITE: &str = "sharepoint_site";
pub const DIRECTORY_ROLE: &str = "directory_role";
/// A resource type this version does not know (a future `originSystem`): always unverifiable.
pub const OTHER: &str = "other";
/// Not a resource: the role list of a package that could not be read completely. Its
/// assignments are unverifiable as a whole (the findings leave their resource columns empty).
pub const ACCESS_PACKAGE: &str = "access_package";
/// The synthetic role standing for "all the package's resource roles".
pub const PACKAGE_SCOPES: &str = "resourceRoleScopes";

/// Collections that hold roles: the part of a resource that one read returns.
pub const MEMBERS: &str = "members";
pub const OWNERS: &str = "owners";
pub const APP_ROLE_ASSIGNED_TO: &str = "appRoleAssignedTo";
/// A directory role's holders: active assignments and eligibility schedules (PIM).
pub const ROLE_ASSIGNMENTS: &str = "roleAssignments";
pub const ROLE_ELIGIBILITY: &str = "roleEligibilitySchedules";
/// A SharePoint site group's users: the collection of site role `n` is `siteGroup/<n>`.
pub const SITE_GROUP_PREFIX: &str = "siteGroup/";

/// Which part of a resource one read returns. Owned only for a site group, whose number comes
/// from the package (`siteGroup/4`).
pub type Collection = std::borrow::Cow<'static, str>;

/// The collection holding SharePoint site role `n` (the site group with that id).
pub fn site_group_collection(n: u32) -> Collection {
    Collection::Owned(format!("{SITE_GROUP_PREFIX}{n}"))
}

/// The site group number of a `siteGroup/<n>` collection.
pub fn site_group_of(collection: &str) -> Option<u32> {
    collection.strip_prefix(SITE_GROUP_PREFIX)?.parse().ok()
}

/// The roles a directory-role resource role grants (`resourceRole.originId`, any casing).
pub const ELIGIBLE: &str = "eligible";
pub const ACTIVE: &str = "active";

/// The empty app role id: "Default Access" on an application that defines no roles.
pub const DEFAULT_ACCESS_ROLE: &str = "00000000-0000-0000-0000-000000000000";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassifiedRole {
    pub resource_type: &'static str,
    pub resource_id: String,
    pub role: String,
    /// The collection to read; `None` when the role cannot be verified.
    pub collection: Option<Collection>,
    pub origin_system: String,
}

/// Maps a `resourceRoleScope` to the resource and role it grants.
///
/// Returns `Err` with a reason when the role lacks what identifies it, so the caller can name
/// the package in its error.
pub fn classify(role: &ResourceRole, scope: &ResourceScope) -> Result<ClassifiedRole, String> {
    let origin_system = role
        .origin_system
        .clone()
        .or_else(|| scope.origin_system.clone())
        .ok_or("role has no originSystem")?;
    let role_origin = role
        .origin_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or("role has no originId")?;
    let scope_origin = scope
        .origin_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or("scope has no originId")?;

    let classified = match OriginSystem::parse(&origin_system) {
        OriginSystem::AadGroup => {
            let (kind, group_in_role) = role_origin.split_once('_').unwrap_or((role_origin, ""));
            let (role, collection) = match kind.to_ascii_lowercase().as_str() {
                "member" => ("member".to_string(), Some(MEMBERS.into())),
                "owner" => ("owner".to_string(), Some(OWNERS.into())),
                // A group role we do not know how to read: keep it visible as unverifiable.
                _ => (role_origin.to_ascii_lowercase(), None),
            };
            // The scope names the group; the role's suffix repeats it. Prefer the scope, which
            // is what the catalog resource points at, but refuse a contradiction.
            if !group_in_role.is_empty() && !group_in_role.eq_ignore_ascii_case(scope_origin) {
                return Err(format!(
                    "role originId `{role_origin}` names another group than scope originId `{scope_origin}`"
                ));
            }
            ClassifiedRole {
                resource_type: GROUP,
                resource_id: scope_origin.to_ascii_lowercase(),
                role,
                collection,
                origin_system,
            }
        }
        OriginSystem::AadApplication => ClassifiedRole {
            resource_type: APPLICATION,
            resource_id: scope_origin.to_ascii_lowercase(),
            role: role_origin.to_ascii_lowercase(),
            collection: Some(APP_ROLE_ASSIGNED_TO.into()),
            origin_system,
        },
        OriginSystem::SharePointOnline => {
            // The role is the site group's id ("the sequence number of the role in the site");
            // anything else cannot be looked up and stays unverifiable.
            let group: Option<u32> = role_origin.trim().parse().ok();
            ClassifiedRole {
                resource_type: SHAREPOINT_SITE,
                resource_id: site_url(scope_origin),
                role: group.map_or_else(|| role_origin.to_string(), |n| n.to_string()),
                collection: group.map(site_group_collection),
                origin_system,
            }
        }
        OriginSystem::DirectoryRole => {
            // `Eligible` is documented; the active kind's originId is inferred ("Active",
            // "Active Member"): both spellings and any casing are accepted, anything else
            // stays unverifiable.
            let kind = role_origin.to_ascii_lowercase().replace([' ', '_'], "");
            let (role, collection) = match kind.as_str() {
                "eligible" | "eligiblemember" => {
                    (ELIGIBLE.to_string(), Some(ROLE_ELIGIBILITY.into()))
                }
                "active" | "activemember" => (ACTIVE.to_string(), Some(ROLE_ASSIGNMENTS.into())),
                _ => (role_origin.to_string(), None),
            };
            ClassifiedRole {
                resource_type: DIRECTORY_ROLE,
                resource_id: scope_origin.to_ascii_lowercase(),
                role,
                collection,
                origin_system,
            }
        }
        // An origin system this tool does not know: visible, and unverifiable.
        OriginSystem::Other(_) => ClassifiedRole {
            resource_type: OTHER,
            resource_id: scope_origin.to_string(),
            role: role_origin.to_string(),
            collection: None,
            origin_system,
        },
    };
    Ok(classified)
}

/// A site URL as one key, however a package spells it: no trailing `/`, scheme and host in
/// lower case. The path keeps its spelling for the reports; sites are matched on it
/// case-insensitively, and packages that spell it two ways are given one spelling by the
/// snapshot builder (`site_spellings`).
pub fn site_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    match url.find("://").map(|at| at + 3) {
        Some(start) => {
            let host_end = url[start..].find('/').map_or(url.len(), |i| start + i);
            format!(
                "{}{}",
                url[..host_end].to_ascii_lowercase(),
                &url[host_end..]
            )
        }
        None => url.to_string(),
    }
}

/// Whether a directory role grant is what a package delivers: tenant-wide (`directoryScopeId`
/// `/`) and direct (`memberType` `Direct`; active assignments carry none). A role held through
/// a group or at another scope is not delivery.
pub fn is_delivered_grant(scope: Option<&str>, member_type: Option<&str>) -> bool {
    scope.is_none_or(|s| s == "/") && member_type.is_none_or(|m| m.eq_ignore_ascii_case("direct"))
}

/// Why a role of this resource type (in this collection) cannot be checked.
pub fn unsupported_reason(resource_type: &str, collection: &str) -> String {
    match resource_type {
        SHAREPOINT_SITE if site_group_of(collection).is_some() => {
            "SharePoint site groups are checked from a recorded tenant directory (sharepoint/); \
             a live read through SharePoint REST is not built yet"
                .into()
        }
        SHAREPOINT_SITE => {
            "a SharePoint site role whose originId is not a site group number".into()
        }
        DIRECTORY_ROLE => {
            "a directory role type other than Eligible or Active (resourceRole originId)".into()
        }
        GROUP => "a group role other than member or owner".into(),
        ACCESS_PACKAGE => "the package's resource role list was not read completely".into(),
        _ => "a resource type this version does not know".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(system: &str, origin: &str) -> ResourceRole {
        ResourceRole {
            id: None,
            display_name: None,
            origin_system: Some(system.into()),
            origin_id: Some(origin.into()),
        }
    }

    fn scope(origin: &str) -> ResourceScope {
        ResourceScope {
            id: None,
            display_name: None,
            origin_system: None,
            origin_id: Some(origin.into()),
            is_root_scope: Some(true),
        }
    }

    #[test]
    fn group_member_and_owner() {
        let gid = "7B56EDE0-9b58-40bd-b11e-b3d18fc32698";
        let member = classify(&role("AadGroup", &format!("Member_{gid}")), &scope(gid)).unwrap();
        assert_eq!(member.resource_type, GROUP);
        assert_eq!(member.resource_id, gid.to_ascii_lowercase());
        assert_eq!(member.role, "member");
        assert_eq!(member.collection, Some(MEMBERS.into()));
        let owner = classify(&role("aadgroup", &format!("Owner_{gid}")), &scope(gid)).unwrap();
        assert_eq!(
            (owner.role.as_str(), owner.collection),
            ("owner", Some(OWNERS.into()))
        );
    }

    #[test]
    fn contradicting_group_ids_are_refused() {
        let error = classify(&role("AadGroup", "Member_aaa"), &scope("bbb")).unwrap_err();
        assert!(error.contains("Member_aaa"), "{error}");
    }

    #[test]
    fn application_sharepoint_directory_and_unknown() {
        let app = classify(&role("AadApplication", DEFAULT_ACCESS_ROLE), &scope("SP-1")).unwrap();
        assert_eq!(
            (app.resource_type, app.resource_id.as_str(), app.collection),
            (APPLICATION, "sp-1", Some(APP_ROLE_ASSIGNED_TO.into()))
        );
        let site = "https://contoso.sharepoint.com/sites/Finance";
        let sp = classify(&role("SharePointOnline", "4"), &scope(site)).unwrap();
        assert_eq!(
            (sp.resource_type, sp.resource_id.as_str()),
            (SHAREPOINT_SITE, site)
        );
        assert_eq!(sp.collection, Some(site_group_collection(4)));
        assert_eq!(sp.role, "4");
        let odd = classify(&role("SharePointOnline", "Members"), &scope(site)).unwrap();
        assert_eq!((odd.role.as_str(), odd.collection), ("Members", None));
        assert_eq!(
            site_url("HTTPS://Contoso.SharePoint.com/sites/Finance/"),
            "https://contoso.sharepoint.com/sites/Finance"
        );
        assert_eq!(site_group_of("siteGroup/4"), Some(4));
        assert_eq!(site_group_of("members"), None);
        for (origin, expected) in [
            ("Eligible", (ELIGIBLE, Some(ROLE_ELIGIBILITY.into()))),
            ("ELIGIBLE", (ELIGIBLE, Some(ROLE_ELIGIBILITY.into()))),
            ("Active", (ACTIVE, Some(ROLE_ASSIGNMENTS.into()))),
            ("Active Member", (ACTIVE, Some(ROLE_ASSIGNMENTS.into()))),
        ] {
            let dir = classify(&role("DirectoryRole", origin), &scope("R1")).unwrap();
            assert_eq!(dir.resource_type, DIRECTORY_ROLE);
            assert_eq!(dir.resource_id, "r1");
            assert_eq!((dir.role.as_str(), dir.collection), expected, "{origin}");
        }
        let unknown = classify(&role("DirectoryRole", "Permanent"), &scope("r1")).unwrap();
        assert_eq!(
            unknown.collection, None,
            "an unknown kind stays unverifiable"
        );
        let other = classify(&role("origin-type", "x"), &scope("y")).unwrap();
        assert_eq!((other.resource_type, other.collection), (OTHER, None));
    }

    #[test]
    fn missing_origin_is_an_error() {
        let mut bare = role("AadGroup", "Member_g");
        bare.origin_id = None;
        assert!(classify(&bare, &scope("g")).is_err());
    }
}
