//! SharePoint site roles: whether a site group's users hold a site role, from what SharePoint
//! REST returns (or a tenant directory recorded of it). Only direct user entries that match an
//! Entra user count; group claims, Entra groups and "Everyone except external users" are not
//! direct delivery, and an entry that cannot be matched makes the group unverifiable rather
//! than letting a target look absent.

use std::collections::HashMap;

use entra_model::model::{SiteGroup, SiteUser};
use entra_model::tenant_dir::RecordedSharePoint;

use super::read_status;
use super::roles::site_url;

/// `PrincipalType` of a user (1); 4 is a security group, 8 a SharePoint group.
const USER_PRINCIPAL: i64 = 1;
/// The claims prefix of a user's login name (`i:0#.f|membership|upn`).
const USER_CLAIM: &str = "i:0#.f|membership|";

/// What one site group's read says: its status, why, and the Entra users it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRead {
    pub status: &'static str,
    pub reason: String,
    /// Lower-cased Entra object ids of the direct user entries.
    pub holders: Vec<String>,
}

impl GroupRead {
    fn not(status: &'static str, reason: impl Into<String>) -> Self {
        GroupRead {
            status,
            reason: reason.into(),
            holders: Vec::new(),
        }
    }
}

/// Judges site group `group` of `site` from a tenant directory's recording.
pub fn recorded_group(
    recording: Option<&RecordedSharePoint>,
    site: &str,
    group: u32,
    users_by_upn: &HashMap<String, String>,
) -> GroupRead {
    let Some(recording) = recording else {
        return GroupRead::not(
            read_status::UNREADABLE,
            "SharePoint was not recorded in the tenant directory (sharepoint/sites.json)",
        );
    };
    let Some(recorded) = recording
        .sites
        .iter()
        .find(|s| site_url(&s.url).eq_ignore_ascii_case(site))
    else {
        return GroupRead::not(read_status::NOT_FOUND, "the SharePoint site does not exist");
    };
    let found = recorded.groups.iter().find(|g| g.id == group);
    let users = recording
        .users
        .get(&(recorded.key.clone(), group))
        .map(Vec::as_slice);
    let unrecorded = format!(
        "{} not recorded in the tenant directory",
        RecordedSharePoint::users_path(&recorded.key, group).display()
    );
    judge(found, users, &unrecorded, users_by_upn, group)
}

/// Judges a site group from its record (`None`: no such group on the site) and its users
/// (`None`: not read, for `unread`).
pub fn judge(
    group: Option<&SiteGroup>,
    users: Option<&[SiteUser]>,
    unread: &str,
    users_by_upn: &HashMap<String, String>,
    number: u32,
) -> GroupRead {
    let Some(group) = group else {
        return GroupRead::not(
            read_status::NOT_FOUND,
            format!("site group {number} does not exist on the site"),
        );
    };
    // Hidden membership is not emptiness: SharePoint lists nobody to a reader it hides from.
    if !group.members_visible() {
        return GroupRead::not(
            read_status::UNREADABLE,
            "the site group's membership is visible only to its members \
             (OnlyAllowMembersViewMembership): let the reader view it, or check by hand",
        );
    }
    let Some(users) = users else {
        return GroupRead::not(read_status::UNREADABLE, unread);
    };
    let mut holders = Vec::new();
    let mut by_upn = 0usize;
    let mut unmatched = Vec::new();
    for user in users {
        if !is_user(user) {
            continue;
        }
        if let Some(id) = object_id(user) {
            holders.push(id.to_ascii_lowercase());
            continue;
        }
        match upn_of(user).and_then(|upn| users_by_upn.get(&upn.to_ascii_lowercase())) {
            Some(id) => {
                holders.push(id.clone());
                by_upn += 1;
            }
            None => unmatched.push(
                user.title
                    .clone()
                    .or_else(|| user.login_name.clone())
                    .unwrap_or_else(|| "an unnamed entry".to_string()),
            ),
        }
    }
    if !unmatched.is_empty() {
        return GroupRead::not(
            read_status::UNREADABLE,
            format!(
                "{} user {} of the site group ({}) carry no Entra object id and no UPN of a tenant user: they cannot be matched",
                unmatched.len(),
                if unmatched.len() == 1 { "entry" } else { "entries" },
                unmatched.join(", ")
            ),
        );
    }
    let reason = match by_upn {
        0 => String::new(),
        n => format!(
            "{n} site {} without an Entra object id matched by UPN",
            if n == 1 { "user" } else { "users" }
        ),
    };
    GroupRead {
        status: read_status::COMPLETE,
        reason,
        holders,
    }
}

/// The UPNs of the direct user entries SharePoint gives no Entra object id: what a caller
/// without the users table looks up in the directory before [`judge`].
pub fn upns_to_resolve(users: &[SiteUser]) -> Vec<String> {
    users
        .iter()
        .filter(|user| is_user(user) && object_id(user).is_none())
        .filter_map(|user| upn_of(user).map(str::to_ascii_lowercase))
        .collect()
}

/// The direct user entry that stands for Entra user `user_id` (whose UPN is `upn`), matched
/// as [`judge`] matches: by object id, or by UPN for an entry SharePoint gives no object id.
pub fn entry_of<'a>(
    users: &'a [SiteUser],
    user_id: &str,
    upn: Option<&str>,
) -> Option<&'a SiteUser> {
    users
        .iter()
        .filter(|user| is_user(user))
        .find(|user| match object_id(user) {
            Some(id) => id.eq_ignore_ascii_case(user_id),
            None => {
                upn.is_some_and(|upn| upn_of(user).is_some_and(|own| own.eq_ignore_ascii_case(upn)))
            }
        })
}

/// The entry's Entra object id (`AadObjectId.NameId`), when it is one.
fn object_id(user: &SiteUser) -> Option<&str> {
    user.aad_object_id
        .as_ref()
        .and_then(|id| id.name_id.as_deref())
        .filter(|id| entra_model::ids::is_guid(id))
}

/// Lower-cased UPN → user id, for the site entries SharePoint gives no object id.
pub fn users_by_upn<'u>(
    users: impl IntoIterator<Item = &'u entra_model::model::User>,
    origin: &str,
) -> crate::error::Result<HashMap<String, String>> {
    let mut by_upn = HashMap::new();
    for user in users {
        add_upn(&mut by_upn, user, origin)?;
    }
    Ok(by_upn)
}

/// Adds `user` to a [`users_by_upn`] map. Entra keeps UPNs unique (ignoring case): two users
/// with one UPN are an error naming both, as a site entry matched by it could be either.
pub fn add_upn(
    by_upn: &mut HashMap<String, String>,
    user: &entra_model::model::User,
    origin: &str,
) -> crate::error::Result<()> {
    let Some(upn) = user
        .user_principal_name
        .as_deref()
        .filter(|upn| !upn.is_empty())
    else {
        return Ok(());
    };
    let id = user.id.to_ascii_lowercase();
    match by_upn.entry(upn.to_ascii_lowercase()) {
        std::collections::hash_map::Entry::Occupied(other) if *other.get() != id => {
            Err(crate::error::Error::inconsistent(
                format!("{origin}: user `{}`", user.id),
                format!(
                    "its userPrincipalName `{upn}` is also user `{}`'s (Entra keeps UPNs unique)",
                    other.get()
                ),
            ))
        }
        std::collections::hash_map::Entry::Occupied(_) => Ok(()),
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(id);
            Ok(())
        }
    }
}

/// A direct user entry: `PrincipalType` 1, or a user's claims login where the type is absent.
fn is_user(user: &SiteUser) -> bool {
    match user.principal_type {
        Some(kind) => kind == USER_PRINCIPAL,
        None => user
            .login_name
            .as_deref()
            .is_some_and(|login| login.starts_with(USER_CLAIM)),
    }
}

/// The entry's UPN: `UserPrincipalName`, or the end of its claims login.
fn upn_of(user: &SiteUser) -> Option<&str> {
    user.user_principal_name
        .as_deref()
        .filter(|upn| !upn.is_empty())
        .or_else(|| user.login_name.as_deref()?.strip_prefix(USER_CLAIM))
}

#[cfg(test)]
mod tests {
    use super::*;
    use entra_model::model::NameId;

    const ADA: &str = "5c0e5e2a-7f43-4a46-9d8f-2f0b3c6f9e11";
    const BOB: &str = "0b6a3c1e-1111-4a46-9d8f-2f0b3c6f9e22";

    fn group(visible: Option<bool>) -> SiteGroup {
        SiteGroup {
            id: 4,
            title: Some("Sales Members".into()),
            only_allow_members_view_membership: visible.map(|v| !v),
            can_current_user_view_membership: visible,
        }
    }

    fn user(kind: i64, object_id: Option<&str>, upn: Option<&str>) -> SiteUser {
        SiteUser {
            principal_type: Some(kind),
            aad_object_id: object_id.map(|id| NameId {
                name_id: Some(id.to_string()),
                name_id_issuer: None,
            }),
            user_principal_name: upn.map(str::to_string),
            title: Some("someone".into()),
            ..SiteUser::default()
        }
    }

    fn by_upn() -> HashMap<String, String> {
        HashMap::from([("bob@contoso.example".to_string(), BOB.to_string())])
    }

    fn judged(users: &[SiteUser]) -> GroupRead {
        judge(
            Some(&group(Some(true))),
            Some(users),
            "unread",
            &by_upn(),
            4,
        )
    }

    #[test]
    fn direct_users_hold_the_role_and_group_claims_do_not() {
        let read = judged(&[
            user(1, Some(&ADA.to_uppercase()), None),
            user(4, None, None),
            user(8, None, None),
        ]);
        assert_eq!(read.status, read_status::COMPLETE);
        assert_eq!(read.holders, [ADA]);
        assert_eq!(read.reason, "");
    }

    #[test]
    fn a_user_without_an_object_id_is_matched_by_upn_and_says_so() {
        let read = judged(&[user(1, None, Some("Bob@Contoso.example"))]);
        assert_eq!(read.status, read_status::COMPLETE);
        assert_eq!(read.holders, [BOB]);
        assert!(read.reason.contains("matched by UPN"), "{}", read.reason);
    }

    #[test]
    fn the_entry_of_a_user_is_found_as_judge_matches_it() {
        let users = [
            user(1, Some(ADA), None),
            user(1, None, Some("Bob@Contoso.example")),
            user(4, None, Some("bob@contoso.example")),
        ];
        assert_eq!(
            entry_of(&users, &ADA.to_uppercase(), None).map(|u| u.aad_object_id.is_some()),
            Some(true)
        );
        let bob = entry_of(&users, BOB, Some("bob@contoso.example")).unwrap();
        assert_eq!(
            bob.principal_type,
            Some(1),
            "a group claim is never the user"
        );
        assert!(entry_of(&users, BOB, None).is_none(), "no UPN, no match");
    }

    #[test]
    fn an_entry_that_cannot_be_matched_makes_the_group_unverifiable() {
        let read = judged(&[
            user(1, Some(ADA), None),
            user(1, None, Some("ana_fabrikam#ext#@contoso.onmicrosoft.com")),
        ]);
        assert_eq!(read.status, read_status::UNREADABLE);
        assert!(read.holders.is_empty(), "nothing half-read is used");
        assert!(read.reason.contains("cannot be matched"), "{}", read.reason);
    }

    #[test]
    fn hidden_membership_absent_groups_and_unread_users_are_never_emptiness() {
        let hidden = judge(Some(&group(Some(false))), Some(&[]), "x", &by_upn(), 4);
        assert_eq!(hidden.status, read_status::UNREADABLE);
        assert!(hidden.reason.contains("OnlyAllowMembersViewMembership"));
        let absent = judge(None, Some(&[]), "x", &by_upn(), 4);
        assert_eq!(absent.status, read_status::NOT_FOUND);
        let unread = judge(Some(&group(None)), None, "not recorded", &by_upn(), 4);
        assert_eq!(
            (unread.status, unread.reason.as_str()),
            (read_status::UNREADABLE, "not recorded")
        );
    }

    #[test]
    fn the_reference_example_reads_as_documented() {
        let users: entra_model::model::Collection<SiteUser> = serde_json::from_str(include_str!(
            "../../fixtures/graph-examples/sharepoint-sitegroup-users.json"
        ))
        .unwrap();
        let read = judged(&users.value);
        // Ana (a guest without an object id, UPN unknown to the tenant) cannot be matched.
        assert_eq!(read.status, read_status::UNREADABLE);
        assert!(read.reason.contains("Ana (Fabrikam)"), "{}", read.reason);
    }
}
