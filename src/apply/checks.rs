//! Live re-checks before a write and after it: does the assignment still exist and show
//! delivered, is the user still there and enabled, is the access still missing.

use entra_model::enums::AssignmentState;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::audit::{retry_block, RetryBlock};
use crate::graph::sharepoint::SharePointClient;
use crate::graph::{paths, GraphClient, GraphError};
use crate::plan::{MissingRole, PlanItem};
use crate::snapshot::builder::ResourceKey;
use crate::snapshot::resource_read::{collection_path, holders};
use crate::snapshot::roles::{
    site_group_collection, site_group_of, ACTIVE, APPLICATION, APP_ROLE_ASSIGNED_TO,
    DIRECTORY_ROLE, ELIGIBLE, GROUP, MEMBERS, OWNERS, ROLE_ASSIGNMENTS, ROLE_ELIGIBILITY,
    SHAREPOINT_SITE,
};

/// The collection that holds a missing role, or `None` for kinds a plan cannot contain.
pub fn key_of(role: &MissingRole) -> Option<ResourceKey> {
    match (role.resource_type.as_str(), role.role.as_str()) {
        (GROUP, "member") => Some((GROUP, role.resource_id.clone(), MEMBERS.into())),
        (GROUP, "owner") => Some((GROUP, role.resource_id.clone(), OWNERS.into())),
        (APPLICATION, _) => Some((
            APPLICATION,
            role.resource_id.clone(),
            APP_ROLE_ASSIGNED_TO.into(),
        )),
        (DIRECTORY_ROLE, ELIGIBLE) => Some((
            DIRECTORY_ROLE,
            role.resource_id.clone(),
            ROLE_ELIGIBILITY.into(),
        )),
        (DIRECTORY_ROLE, ACTIVE) => Some((
            DIRECTORY_ROLE,
            role.resource_id.clone(),
            ROLE_ASSIGNMENTS.into(),
        )),
        (SHAREPOINT_SITE, group) => group.parse::<u32>().ok().map(|n| {
            (
                SHAREPOINT_SITE,
                role.resource_id.clone(),
                site_group_collection(n),
            )
        }),
        _ => None,
    }
}

/// What each affected resource holds now: `(role, principal)` pairs, or why it is unknown.
pub type Holdings = HashMap<ResourceKey, Result<HashSet<(String, String)>, String>>;

/// Reads every resource the items' missing roles live on, once each: Graph collections, and
/// SharePoint site groups through `sharepoint`.
pub async fn read_holdings(
    client: &GraphClient,
    sharepoint: &SharePointClient,
    items: &[&PlanItem],
) -> Holdings {
    let mut keys: Vec<ResourceKey> = items
        .iter()
        .flat_map(|item| {
            item.missing_roles
                .iter()
                .chain(&item.unexplained)
                .filter_map(key_of)
        })
        .collect();
    keys.sort();
    keys.dedup();
    let (sites, keys): (Vec<_>, Vec<_>) =
        keys.into_iter().partition(|key| key.0 == SHAREPOINT_SITE);
    let paths: Vec<String> = keys.iter().filter_map(collection_path).collect();
    let (results, site_results) = tokio::join!(
        client.list_many(&paths),
        futures_util::future::join_all(
            sites
                .iter()
                .map(|key| site_holders(client, sharepoint, key))
        )
    );
    keys.into_iter()
        .zip(results)
        .map(|(key, result)| {
            let held = result
                .map_err(|e| e.reason())
                .and_then(|items| holders(&key, items))
                .map(|pairs| pairs.into_iter().collect());
            (key, held)
        })
        .chain(sites.into_iter().zip(site_results))
        .collect()
}

/// Removes a user's direct entry from a site group (`remove_access` on a site role): finds the
/// entry by the user's object id, or by UPN where SharePoint gives none, then
/// `POST .../sitegroups/GetById(n)/users/removeById(<site user id>)`.
pub async fn remove_site_user(
    client: &GraphClient,
    sharepoint: &SharePointClient,
    role: &MissingRole,
    user_id: &str,
) -> Result<(bool, String), GraphError> {
    let group = role.role.parse::<u32>().map_err(|_| {
        GraphError::new(
            crate::graph::GraphErrorKind::Decode,
            &role.resource_id,
            format!("site role `{}` is not a site group number", role.role),
        )
    })?;
    let users = sharepoint.users(&role.resource_id, group).await?;
    let upn = client
        .get_json(&client.url(&paths::user_enabled(user_id)))
        .await
        .ok()
        .and_then(|u| u.get("userPrincipalName")?.as_str().map(str::to_string));
    let entry = crate::snapshot::sharepoint::entry_of(&users, user_id, upn.as_deref());
    let Some(site_user) = entry.and_then(|u| u.id) else {
        return Ok((false, "the user is no longer in the site group".into()));
    };
    sharepoint
        .remove_user(&role.resource_id, group, site_user)
        .await?;
    Ok((
        true,
        format!("removed from site group {group} (site user {site_user})"),
    ))
}

/// Who a site group lists directly now, as `(group number, user id)` pairs. An entry without
/// an Entra object id is looked up by its UPN in the directory; one found nowhere leaves the
/// group unknown, and its items unchecked rather than guessed.
async fn site_holders(
    client: &GraphClient,
    sharepoint: &SharePointClient,
    key: &ResourceKey,
) -> Result<HashSet<(String, String)>, String> {
    let group = site_group_of(&key.2).ok_or("not a site group")?;
    let (record, users) = sharepoint
        .read_group(&key.1, group)
        .await
        .map_err(|e| crate::graph::sharepoint::failure_reason(&e))?;
    let upns = users
        .as_deref()
        .map(crate::snapshot::sharepoint::upns_to_resolve)
        .unwrap_or_default();
    let found = futures_util::future::join_all(upns.iter().map(|upn| async move {
        let user = client
            .get_json(&client.url(&paths::user_enabled(upn)))
            .await
            .ok()?;
        let id = user.get("id")?.as_str()?.to_ascii_lowercase();
        Some((upn.clone(), id))
    }))
    .await;
    let by_upn: HashMap<String, String> = found.into_iter().flatten().collect();
    let judged = crate::snapshot::sharepoint::judge(
        record.as_ref(),
        users.as_deref(),
        "the site group's users were not read",
        &by_upn,
        group,
    );
    if judged.status != crate::snapshot::read_status::COMPLETE {
        return Err(judged.reason);
    }
    Ok(judged
        .holders
        .into_iter()
        .map(|user| (group.to_string(), user))
        .collect())
}

/// Per role: `Ok(true)` held now, `Ok(false)` still missing, `Err` unknown.
pub fn role_held(holdings: &Holdings, user_id: &str, role: &MissingRole) -> Result<bool, String> {
    let key =
        key_of(role).ok_or_else(|| format!("{} roles cannot be checked", role.resource_type))?;
    match holdings.get(&key) {
        Some(Ok(held)) => {
            Ok(held.contains(&(role.role.to_ascii_lowercase(), user_id.to_ascii_lowercase())))
        }
        Some(Err(reason)) => Err(reason.clone()),
        None => Err("not read".into()),
    }
}

/// The verdict of the pre-write checks for one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every check passed and access is still missing.
    Reprocess,
    /// The access is back: nothing to do (or an interrupted run's request took effect).
    Restored,
    /// The item no longer needs reprocessing (or no longer may be).
    Skip(String),
    /// The checks themselves could not be completed: no write without them.
    Unchecked(String),
}

/// Assignment and user as Graph shows them now, read through `$batch`.
pub struct Current {
    pub assignments: HashMap<String, Result<Value, GraphError>>,
    pub users: HashMap<String, Result<Value, GraphError>>,
    /// Request id → the assignment request now (`request_reprocess` items).
    pub requests: HashMap<String, Result<Value, GraphError>>,
}

pub async fn read_current(client: &GraphClient, items: &[&PlanItem]) -> Current {
    // Items that are no assignment (access without one) have nothing to re-read here.
    let items: Vec<&PlanItem> = items
        .iter()
        .copied()
        .filter(|i| !i.assignment_id.is_empty())
        .collect();
    let items = items.as_slice();
    let assignment_paths: Vec<String> = items
        .iter()
        .map(|i| paths::assignment(&i.assignment_id))
        .collect();
    let mut user_ids: Vec<&str> = items.iter().map(|i| i.user_id.as_str()).collect();
    user_ids.sort_unstable();
    user_ids.dedup();
    let user_paths: Vec<String> = user_ids.iter().map(|id| paths::user_enabled(id)).collect();
    let assignments = client.batch_get(&assignment_paths).await;
    let users = client.batch_get(&user_paths).await;
    let request_ids: Vec<&str> = items
        .iter()
        .filter_map(|i| i.request_id.as_deref())
        .collect();
    let request_paths: Vec<String> = request_ids
        .iter()
        .map(|id| paths::assignment_request(id))
        .collect();
    let requests = client.batch_get(&request_paths).await;
    Current {
        requests: request_ids
            .into_iter()
            .map(str::to_string)
            .zip(requests)
            .collect(),
        assignments: items
            .iter()
            .map(|i| i.assignment_id.clone())
            .zip(assignments)
            .collect(),
        users: user_ids
            .into_iter()
            .map(str::to_string)
            .zip(users)
            .collect(),
    }
}

/// Decides a `request_reprocess` item from the live state: the delivery may have succeeded
/// since, and Graph retries only a request still failed and completed within 14 days of now.
pub fn judge_request(item: &PlanItem, current: &Current, now: DateTime<Utc>) -> Verdict {
    match current.assignments.get(&item.assignment_id) {
        Some(Ok(assignment)) => {
            let state = assignment
                .get("state")
                .and_then(Value::as_str)
                .unwrap_or("");
            if AssignmentState::parse(state).is_delivered() {
                return Verdict::Restored;
            }
        }
        Some(Err(e)) if e.status() == Some(404) => {
            return Verdict::Skip("the assignment no longer exists".into())
        }
        Some(Err(e)) => {
            return Verdict::Unchecked(format!("could not re-read the assignment: {}", e.reason()))
        }
        None => return Verdict::Unchecked("the assignment was not re-read".into()),
    }
    let Some(id) = item.request_id.as_deref() else {
        return Verdict::Skip("the item names no request".into());
    };
    let request = match current.requests.get(id) {
        Some(Ok(request)) => request,
        Some(Err(e)) if e.status() == Some(404) => {
            return Verdict::Skip("the request no longer exists".into())
        }
        Some(Err(e)) => {
            return Verdict::Unchecked(format!("could not re-read the request: {}", e.reason()))
        }
        None => return Verdict::Unchecked("the request was not re-read".into()),
    };
    let state = request.get("state").and_then(Value::as_str).unwrap_or("");
    let completed = request
        .get("completedDateTime")
        .or_else(|| request.get("completedDate"))
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    match (retry_block(state, completed, now), completed) {
        (None, _) => Verdict::Reprocess,
        (Some(RetryBlock::NotFailed), _) => Verdict::Skip(format!(
            "the request is now `{state}`: Graph retries only failed deliveries"
        )),
        (Some(RetryBlock::TooOld), Some(at)) => Verdict::Skip(format!(
            "the request completed {}, more than {} days ago: Graph no longer retries it",
            at.to_rfc3339(),
            crate::audit::REQUEST_RETRY_DAYS
        )),
        (Some(_), _) => Verdict::Skip("the request has no completion time".into()),
    }
}

/// Decides a `remove_assignment` item: end the assignment only while it is still delivered to
/// the planned user.
pub fn judge_removal(item: &PlanItem, current: &Current) -> Verdict {
    match still_delivered(item, current) {
        Ok(()) => Verdict::Reprocess,
        Err(Verdict::Skip(reason)) if reason.starts_with("the assignment is now") => {
            Verdict::Skip(format!("{reason}: nothing to end"))
        }
        Err(verdict) => verdict,
    }
}

/// The assignment as Graph shows it now is still delivered to the planned user; otherwise the
/// verdict that says why not (or that it could not be told).
fn still_delivered(item: &PlanItem, current: &Current) -> Result<(), Verdict> {
    match current.assignments.get(&item.assignment_id) {
        Some(Ok(assignment)) => {
            let state = assignment
                .get("state")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !AssignmentState::parse(state).is_delivered() {
                return Err(Verdict::Skip(format!(
                    "the assignment is now `{state}`, not delivered"
                )));
            }
            let target = assignment
                .pointer("/target/objectId")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !target.eq_ignore_ascii_case(&item.user_id) {
                return Err(Verdict::Skip(format!(
                    "the assignment's target is now `{target}`, not the planned user"
                )));
            }
            Ok(())
        }
        Some(Err(e)) if e.status() == Some(404) => {
            Err(Verdict::Skip("the assignment no longer exists".into()))
        }
        Some(Err(e)) => Err(Verdict::Unchecked(format!(
            "could not re-read the assignment: {}",
            e.reason()
        ))),
        None => Err(Verdict::Unchecked("the assignment was not re-read".into())),
    }
}

/// Per access item: the delivered assignment that explains the access now (`Some`), none, or
/// why that could not be told.
pub type Explanations = HashMap<String, Result<Option<String>, String>>;

/// Decides a `remove_access` item: remove only access the user still holds and that no
/// delivered assignment explains now.
pub fn judge_access(item: &PlanItem, holdings: &Holdings, explanations: &Explanations) -> Verdict {
    let Some(role) = &item.unexplained else {
        return Verdict::Skip("the item names no access".into());
    };
    match role_held(holdings, &item.user_id, role) {
        Ok(true) => {}
        Ok(false) => return Verdict::Skip("the access is gone already".into()),
        Err(reason) => {
            return Verdict::Unchecked(format!(
                "could not re-check {} {}: {reason}",
                role.resource_type, role.resource_id
            ))
        }
    }
    match explanations.get(item.key()) {
        Some(Ok(None)) => Verdict::Reprocess,
        Some(Ok(Some(assignment))) => Verdict::Skip(format!(
            "assignment {assignment} explains the access now: it is not removed"
        )),
        Some(Err(reason)) => Verdict::Unchecked(format!(
            "could not tell whether an assignment explains the access: {reason}"
        )),
        None => Verdict::Unchecked("the user's assignments were not re-read".into()),
    }
}

/// For each access item, reads the user's delivered assignments and their packages' resource
/// roles: an assignment delivered since the audit may explain the access now.
pub async fn read_explanations(client: &GraphClient, items: &[&PlanItem]) -> Explanations {
    type Classified = Vec<crate::snapshot::roles::ClassifiedRole>;
    let mut packages: HashMap<String, Result<Classified, String>> = HashMap::new();
    let mut out = Explanations::new();
    for item in items {
        let Some(role) = &item.unexplained else {
            continue;
        };
        let explained = async {
            let url = client.url(&paths::delivered_assignments_of(&item.user_id));
            let assignments = client.list(&url).await.map_err(|e| e.reason())?;
            for assignment in assignments {
                let id = assignment.get("id").and_then(Value::as_str).unwrap_or("");
                let Some(package) = assignment
                    .pointer("/accessPackage/id")
                    .and_then(Value::as_str)
                else {
                    return Err(format!("assignment `{id}` came without its package"));
                };
                if !packages.contains_key(package) {
                    let read = package_classified(client, package).await;
                    packages.insert(package.to_string(), read);
                }
                let grants = packages[package].as_ref().map_err(Clone::clone)?;
                if grants.iter().any(|c| {
                    c.resource_type == role.resource_type
                        && c.resource_id.eq_ignore_ascii_case(&role.resource_id)
                        && c.role.eq_ignore_ascii_case(&role.role)
                }) {
                    return Ok(Some(id.to_string()));
                }
            }
            Ok(None)
        }
        .await;
        out.insert(item.key().to_string(), explained);
    }
    out
}

async fn package_classified(
    client: &GraphClient,
    package: &str,
) -> Result<Vec<crate::snapshot::roles::ClassifiedRole>, String> {
    let url = client.url(&paths::package_scopes(package));
    let scopes: Vec<crate::model::ResourceRoleScope> =
        client.list_as(&url).await.map_err(|e| e.reason())?;
    Ok(scopes
        .iter()
        .filter_map(|s| match (&s.role, &s.scope) {
            (Some(role), Some(scope)) => crate::snapshot::roles::classify(role, scope).ok(),
            _ => None,
        })
        .collect())
}

/// Decides one item from the live state (pure, so it is tested as a table).
pub fn judge(item: &PlanItem, current: &Current, holdings: &Holdings) -> Verdict {
    if let Err(verdict) = still_delivered(item, current) {
        return verdict;
    }
    match current.users.get(&item.user_id) {
        Some(Ok(user)) => {
            if user.get("accountEnabled").and_then(Value::as_bool) != Some(true) {
                return Verdict::Skip("the user is disabled now".into());
            }
        }
        Some(Err(e)) if e.status() == Some(404) => {
            return Verdict::Skip("the user no longer exists".into())
        }
        Some(Err(e)) => {
            return Verdict::Unchecked(format!("could not re-read the user: {}", e.reason()))
        }
        None => return Verdict::Unchecked("the user was not re-read".into()),
    }
    let mut missing = 0;
    for role in &item.missing_roles {
        match role_held(holdings, &item.user_id, role) {
            Ok(true) => {}
            Ok(false) => missing += 1,
            Err(reason) => {
                return Verdict::Unchecked(format!(
                    "could not re-check {} {}: {reason}",
                    role.resource_type, role.resource_id
                ))
            }
        }
    }
    if missing == 0 {
        Verdict::Restored
    } else {
        Verdict::Reprocess
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::graph::GraphErrorKind;

    fn item() -> PlanItem {
        PlanItem {
            kind: crate::plan::ItemKind::Reprocess,
            request_id: None,
            item_id: None,
            assignment_id: "a1".into(),
            access_package_id: "p1".into(),
            access_package_name: "P".into(),
            user_id: "u1".into(),
            user_display_name: "U".into(),
            user_principal_name: "u@x".into(),
            missing_roles: vec![MissingRole {
                resource_type: GROUP.into(),
                resource_id: "g1".into(),
                role: "member".into(),
                resource_name: String::new(),
                role_name: String::new(),
                cause: None,
            }],
            reason: String::new(),
            unexplained: None,
            action: crate::plan::Action::Reprocess,
            actions: Vec::new(),
        }
    }

    fn current(assignment: Result<Value, u16>, user: Result<Value, u16>) -> Current {
        let wrap = |r: Result<Value, u16>| {
            r.map_err(|s| GraphError::new(GraphErrorKind::Status(s), "GET x", "e"))
        };
        Current {
            requests: HashMap::new(),
            assignments: HashMap::from([("a1".to_string(), wrap(assignment))]),
            users: HashMap::from([("u1".to_string(), wrap(user))]),
        }
    }

    fn holdings(members: &[&str]) -> Holdings {
        let held = members
            .iter()
            .map(|m| ("member".to_string(), m.to_string()))
            .collect();
        HashMap::from([((GROUP, "g1".to_string(), MEMBERS.into()), Ok(held))])
    }

    #[test]
    fn verdicts() {
        let delivered = json!({"state": "Delivered", "target": {"objectId": "U1"}});
        let enabled = json!({"accountEnabled": true});
        let cases = [
            (
                current(Ok(delivered.clone()), Ok(enabled.clone())),
                holdings(&[]),
                Verdict::Reprocess,
            ),
            (
                current(Ok(delivered.clone()), Ok(enabled.clone())),
                holdings(&["u1"]),
                Verdict::Restored,
            ),
            (
                current(Err(404), Ok(enabled.clone())),
                holdings(&[]),
                Verdict::Skip("the assignment no longer exists".into()),
            ),
            (
                current(
                    Ok(json!({"state": "expired", "target": {"objectId": "u1"}})),
                    Ok(enabled.clone()),
                ),
                holdings(&[]),
                Verdict::Skip("the assignment is now `expired`, not delivered".into()),
            ),
            (
                current(Ok(delivered.clone()), Ok(json!({"accountEnabled": false}))),
                holdings(&[]),
                Verdict::Skip("the user is disabled now".into()),
            ),
            (
                current(Ok(delivered.clone()), Err(404)),
                holdings(&[]),
                Verdict::Skip("the user no longer exists".into()),
            ),
        ];
        for (index, (current, holdings, expected)) in cases.into_iter().enumerate() {
            assert_eq!(
                judge(&item(), &current, &holdings),
                expected,
                "case {index}"
            );
        }
        let unreadable: Holdings = HashMap::from([(
            (GROUP, "g1".to_string(), MEMBERS.into()),
            Err("403".to_string()),
        )]);
        assert!(matches!(
            judge(
                &item(),
                &current(Ok(delivered.clone()), Ok(enabled.clone())),
                &unreadable
            ),
            Verdict::Unchecked(_)
        ));
        assert!(matches!(
            judge(&item(), &current(Err(503), Ok(enabled)), &holdings(&[])),
            Verdict::Unchecked(_)
        ));
    }

    #[test]
    fn a_failed_delivery_is_retried_only_while_graph_allows_it() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut request_item = item();
        request_item.kind = crate::plan::ItemKind::RequestReprocess;
        request_item.request_id = Some("r1".into());
        request_item.missing_roles.clear();
        let with_request = |state: &str, assignment: &str, completed: &str| {
            let mut current = current(Ok(json!({"state": assignment})), Ok(json!({})));
            current.requests.insert(
                "r1".into(),
                Ok(json!({"state": state, "completedDateTime": completed})),
            );
            current
        };
        let verdict = |c: &Current| judge_request(&request_item, c, now);
        assert_eq!(
            verdict(&with_request(
                "deliveryFailed",
                "deliveryFailed",
                "2026-11-25T00:00:00Z"
            )),
            Verdict::Reprocess
        );
        assert_eq!(
            verdict(&with_request(
                "partiallyDelivered",
                "partiallyDelivered",
                "2026-11-17T00:00:00Z"
            )),
            Verdict::Reprocess,
            "14 days to the second"
        );
        assert!(matches!(
            verdict(&with_request("deliveryFailed", "deliveryFailed", "2026-11-10T00:00:00Z")),
            Verdict::Skip(reason) if reason.contains("more than 14 days")
        ));
        assert!(matches!(
            verdict(&with_request("delivered", "deliveryFailed", "2026-11-25T00:00:00Z")),
            Verdict::Skip(reason) if reason.contains("`delivered`")
        ));
        assert_eq!(
            verdict(&with_request(
                "deliveryFailed",
                "Delivered",
                "2026-11-25T00:00:00Z"
            )),
            Verdict::Restored,
            "the delivery succeeded since the audit"
        );
    }
}
