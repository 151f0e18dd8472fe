//! Reads the governed resources' collections — group members (through `groups/delta`),
//! owners, app role assignments, directory role assignments and eligibility — each recorded as
//! complete, not found or unreadable, never guessed; and the holders of one resource (what
//! `apply` and `verify` check).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::builder::ResourceKey;
use super::live::{add_packages, PackageRead};
use super::roles::unsupported_reason;
use super::roles::{site_group_of, SHAREPOINT_SITE};
use super::roles::{
    ACTIVE, APPLICATION, APP_ROLE_ASSIGNED_TO, DIRECTORY_ROLE, ELIGIBLE, GROUP, MEMBERS, OWNERS,
    ROLE_ASSIGNMENTS, ROLE_ELIGIBILITY,
};
use super::{read_status, SnapshotBuilder};
use crate::error::Result;
use crate::graph::sharepoint::SharePointClient;
use crate::graph::{paths, GraphClient, GraphError};
use crate::model::{
    AppRoleAssignment, DirectoryObject, UnifiedRoleAssignment, UnifiedRoleEligibilitySchedule,
};
use crate::progress::Progress;
use entra_model::model::{SiteGroup, SiteUser};

/// Governed resources read per progress step.
const RESOURCES_PER_STEP: usize = 1_000;
/// Graph's limit of ids in one `groups/delta` filter.
const DELTA_IDS: usize = 50;

/// How the read of one resource collection went, for the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResourceRead {
    pub resource_type: String,
    pub resource_id: String,
    pub collection: String,
    pub status: String,
    pub reason: String,
    pub items: usize,
}

/// A governed resource (key, name) and its read: `None` for a kind that cannot be read.
pub(super) type ResourceResult = ((ResourceKey, Option<String>), Option<Fetched>);

/// What one read returned: a Graph collection, or a SharePoint site group (its record, `None`
/// when the group does not exist, and its users unless membership is hidden).
pub(super) enum Fetched {
    Graph(Result<Vec<Value>, GraphError>),
    Site(Result<(Option<SiteGroup>, Option<Vec<SiteUser>>), GraphError>),
}

/// Reads the collections of every governed resource (a progress bar over them); SharePoint
/// site groups through SharePoint REST.
pub(super) async fn read_resources(
    client: &GraphClient,
    sharepoint: &SharePointClient,
    packages: &[PackageRead],
    progress: &Progress,
) -> Result<Vec<ResourceResult>> {
    let mut governed = SnapshotBuilder::new();
    add_packages(&mut governed, packages)?;
    let resources = governed.governed_resources();
    let stage = progress.stage("governed resources", Some(resources.len() as u64));
    let mut reads = Vec::with_capacity(resources.len());
    for chunk in resources.chunks(RESOURCES_PER_STEP) {
        let (sites, rest): (Vec<_>, Vec<_>) = chunk
            .iter()
            .cloned()
            .partition(|(key, _)| key.0 == SHAREPOINT_SITE && site_group_of(&key.2).is_some());
        let (readable, unsupported): (Vec<_>, Vec<_>) = rest
            .into_iter()
            .partition(|(key, _)| collection_path(key).is_some());
        reads.extend(unsupported.into_iter().map(|resource| (resource, None)));
        let (graph_reads, site_reads) = tokio::join!(
            read_collections(client, readable),
            read_site_groups(sharepoint, sites)
        );
        reads.extend(
            graph_reads
                .into_iter()
                .map(|(resource, result)| (resource, Some(Fetched::Graph(result)))),
        );
        reads.extend(site_reads);
        stage.counter().add(chunk.len() as u64);
        stage.refresh();
    }
    stage.finish();
    name_from_directory(client, &mut reads).await;
    Ok(reads)
}

/// Names each group and service principal as the directory does (its `displayName`), as the
/// offline audit names them from `groups.json` / `servicePrincipals.json`: a package scope's
/// own display name is often only "Root". Where the object cannot be read, the scope's name
/// stays.
async fn name_from_directory(client: &GraphClient, reads: &mut [ResourceResult]) {
    let mut wanted: Vec<(&'static str, String)> = reads
        .iter()
        .filter(|((key, _), _)| key.0 == GROUP || key.0 == APPLICATION)
        .map(|((key, _), _)| (key.0, key.1.clone()))
        .collect();
    wanted.sort();
    wanted.dedup();
    if wanted.is_empty() {
        return;
    }
    let object_paths: Vec<String> = wanted
        .iter()
        .map(|(kind, id)| {
            let set = if *kind == GROUP {
                "groups"
            } else {
                "servicePrincipals"
            };
            format!(
                "{set}/{}?$select=id,displayName",
                entra_model::ids::encode_segment(id)
            )
        })
        .collect();
    let answers = if client.batching() {
        client.batch_get(&object_paths).await
    } else {
        let urls: Vec<String> = object_paths.iter().map(|path| client.url(path)).collect();
        futures_util::future::join_all(urls.iter().map(|url| client.get_json(url))).await
    };
    let names: std::collections::HashMap<(&'static str, String), String> = wanted
        .into_iter()
        .zip(answers)
        .filter_map(|(key, answer)| {
            let name = answer
                .ok()?
                .get("displayName")?
                .as_str()
                .map(str::to_string)?;
            Some((key, name))
        })
        .collect();
    for ((key, name), _) in reads.iter_mut() {
        if let Some(directory) = names.get(&(key.0, key.1.clone())) {
            *name = Some(directory.clone());
        }
    }
}

/// Reads each site group once, concurrently within the SharePoint client's bound: its record
/// first (visibility, existence), then its users when the reader may see them
/// ([`SharePointClient::read_group`]).
async fn read_site_groups(
    sharepoint: &SharePointClient,
    sites: Vec<(ResourceKey, Option<String>)>,
) -> Vec<ResourceResult> {
    if let Some(reason) = sharepoint
        .refused_credential()
        .filter(|_| !sites.is_empty())
    {
        tracing::warn!(sites = sites.len(), "{reason}");
    }
    let reads = sites.into_iter().map(|(key, name)| async move {
        let group = site_group_of(&key.2).unwrap_or_default();
        let fetched = sharepoint.read_group(&key.1, group).await;
        ((key, name), Some(Fetched::Site(fetched)))
    });
    futures_util::future::join_all(reads).await
}

/// Adds each resource read to the builder: holdings of complete reads, and every resource's
/// status (complete, not found, unreadable with the reason, unsupported). `users_by_upn` maps
/// lower-cased UPNs to user ids, for site users SharePoint gives no object id.
pub(super) fn record_resource_reads(
    builder: &mut SnapshotBuilder,
    resource_reads: Vec<ResourceResult>,
    users_by_upn: &std::collections::HashMap<String, String>,
) -> Vec<ResourceRead> {
    let mut reads = Vec::with_capacity(resource_reads.len());
    for ((key, name), result) in resource_reads {
        // A site is named by its URL, as offline (a scope's own name is often only "Root").
        let name = if key.0 == SHAREPOINT_SITE {
            Some(key.1.clone())
        } else {
            name
        };
        let result = match result {
            None => {
                let reason = unsupported_reason(key.0, &key.2);
                reads.push(record(&key, read_status::UNSUPPORTED, &reason, 0));
                builder.set_resource_status(key, read_status::UNSUPPORTED, reason, name);
                continue;
            }
            Some(Fetched::Site(fetched)) => {
                let group = site_group_of(&key.2).unwrap_or_default();
                let judged = match fetched {
                    Ok((record_, users)) => crate::snapshot::sharepoint::judge(
                        record_.as_ref(),
                        users.as_deref(),
                        "the site group's users were not read",
                        users_by_upn,
                        group,
                    ),
                    Err(error) if error.status() == Some(404) => {
                        crate::snapshot::sharepoint::GroupRead {
                            status: read_status::NOT_FOUND,
                            reason: "the SharePoint site does not exist".into(),
                            holders: Vec::new(),
                        }
                    }
                    Err(error) => crate::snapshot::sharepoint::GroupRead {
                        status: read_status::UNREADABLE,
                        reason: crate::graph::sharepoint::failure_reason(&error),
                        holders: Vec::new(),
                    },
                };
                if judged.status != read_status::COMPLETE {
                    tracing::warn!(site = %key.1, group, reason = %judged.reason, "site group not read completely; its roles are unverifiable");
                }
                builder.add_site_holders(&key.1, group, &judged.holders);
                reads.push(record(
                    &key,
                    judged.status,
                    &judged.reason,
                    judged.holders.len(),
                ));
                builder.set_resource_status(key, judged.status, judged.reason, name);
                continue;
            }
            Some(Fetched::Graph(result)) => result,
        };
        let (status, reason, items) = match result
            .map_err(Some)
            .and_then(|items| add_holdings(builder, &key, items).map_err(|_| None))
        {
            Ok(count) => (read_status::COMPLETE, String::new(), count),
            Err(Some(error)) if error.status() == Some(404) => {
                (
                    read_status::NOT_FOUND,
                    read_status::NOT_FOUND_REASON.to_string(),
                    0,
                )
            }
            Err(Some(error)) if error.status() == Some(403) && key.0 == DIRECTORY_ROLE => (
                read_status::UNREADABLE,
                format!(
                    "{}; grant RoleManagement.Read.Directory (or RoleAssignmentSchedule.Read.Directory and RoleEligibilitySchedule.Read.Directory)",
                    error.reason()
                ),
                0,
            ),
            Err(Some(error)) => (read_status::UNREADABLE, error.reason(), 0),
            Err(None) => (
                read_status::UNREADABLE,
                "Graph returned objects of an unexpected shape".to_string(),
                0,
            ),
        };
        if status != read_status::COMPLETE {
            tracing::warn!(resource = %key.1, collection = %key.2, %reason, "resource not read completely; its roles are unverifiable");
        }
        reads.push(record(&key, status, &reason, items));
        builder.set_resource_status(key, status, reason, name);
    }
    reads
}

type Read = (
    (ResourceKey, Option<String>),
    Result<Vec<Value>, GraphError>,
);

/// Reads the collections of governed resources. Group members come through `groups/delta`
/// filtered by up to 50 ids (1 resource unit per 50 groups, against 2 per group listed
/// directly); a group the delta round does not return, or a failed round, falls back to the
/// direct read, whose status (404, 403, ...) then decides.
async fn read_collections(
    client: &GraphClient,
    resources: Vec<(ResourceKey, Option<String>)>,
) -> Vec<Read> {
    let (members, others): (Vec<_>, Vec<_>) = resources
        .into_iter()
        .partition(|(key, _)| client.batching() && key.0 == GROUP && key.2 == MEMBERS);
    let mut direct = others;
    let mut reads: Vec<Read> = Vec::new();
    let groups: Vec<Vec<(ResourceKey, Option<String>)>> =
        members.chunks(DELTA_IDS).map(<[_]>::to_vec).collect();
    let paths: Vec<String> = groups
        .iter()
        .map(|chunk| paths::groups_delta(chunk.iter().map(|(key, _)| key.1.as_str())))
        .collect();
    for (chunk, result) in groups.into_iter().zip(client.list_many(&paths).await) {
        match result.ok().and_then(|entries| merge_delta(entries).ok()) {
            Some(mut found) => {
                for resource in chunk {
                    match found.remove(&resource.0 .1) {
                        Some(items) => reads.push((resource, Ok(items))),
                        None => direct.push(resource),
                    }
                }
            }
            None => direct.extend(chunk),
        }
    }
    let paths: Vec<String> = direct
        .iter()
        .filter_map(|(key, _)| collection_path(key))
        .collect();
    reads.extend(direct.into_iter().zip(client.list_many(&paths).await));
    reads
}

/// Merges a delta round's pages: a large group appears in several entries. An initial round
/// lists no removals, but one that does is not a member list, so it is refused.
fn merge_delta(
    entries: Vec<Value>,
) -> std::result::Result<std::collections::HashMap<String, Vec<Value>>, String> {
    let mut groups: std::collections::HashMap<String, Vec<Value>> =
        std::collections::HashMap::new();
    for mut entry in entries {
        let id = entry
            .get("id")
            .and_then(Value::as_str)
            .ok_or("a delta entry has no id")?
            .to_ascii_lowercase();
        if entry.get("@removed").is_some() {
            continue;
        }
        let members = match entry.get_mut("members@delta").map(Value::take) {
            Some(Value::Array(members)) => members,
            None | Some(Value::Null) => Vec::new(),
            Some(_) => return Err("members@delta is not an array".into()),
        };
        if members.iter().any(|m| m.get("@removed").is_some()) {
            return Err("a first delta round listed removals".into());
        }
        groups.entry(id).or_default().extend(members);
    }
    Ok(groups)
}

/// The Graph path that lists one collection of a governed resource.
pub fn collection_path(key: &ResourceKey) -> Option<String> {
    let (kind, id, collection) = key;
    match (*kind, collection.as_ref()) {
        (GROUP, MEMBERS) => Some(paths::group_members(id)),
        (GROUP, OWNERS) => Some(paths::group_owners(id)),
        (APPLICATION, APP_ROLE_ASSIGNED_TO) => Some(paths::app_role_assigned_to(id)),
        (DIRECTORY_ROLE, ROLE_ASSIGNMENTS) => Some(paths::role_assignments(id)),
        (DIRECTORY_ROLE, ROLE_ELIGIBILITY) => Some(paths::role_eligibility(id)),
        _ => None,
    }
}

/// Adds a completely read collection's holdings; a malformed item makes the whole read unusable.
fn add_holdings(
    builder: &mut SnapshotBuilder,
    key: &ResourceKey,
    items: Vec<Value>,
) -> std::result::Result<usize, ()> {
    let count = items.len();
    if key.0 == DIRECTORY_ROLE {
        let parsed = role_holders(key, items).map_err(|_| ())?;
        let role = directory_role(key);
        builder.add_role_holders(
            &key.1,
            role,
            parsed
                .iter()
                .map(|(p, s, m)| (p.as_str(), s.as_deref(), m.as_deref())),
        );
    } else if key.0 == APPLICATION {
        let parsed: Vec<AppRoleAssignment> = items
            .into_iter()
            .map(serde_json::from_value)
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| ())?;
        builder.add_app_role_assignments(&key.1, &parsed);
    } else {
        let parsed: Vec<DirectoryObject> = items
            .into_iter()
            .map(serde_json::from_value)
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| ())?;
        let role = if key.2 == OWNERS { "owner" } else { "member" };
        builder.add_group_principals(&key.1, role, &parsed);
    }
    Ok(count)
}

fn record(key: &ResourceKey, status: &str, reason: &str, items: usize) -> ResourceRead {
    ResourceRead {
        resource_type: key.0.to_string(),
        resource_id: key.1.clone(),
        collection: key.2.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        items,
    }
}

/// The role a directory-role collection holds: active assignments or eligibility.
fn directory_role(key: &ResourceKey) -> &'static str {
    if key.2 == ROLE_ASSIGNMENTS {
        ACTIVE
    } else {
        ELIGIBLE
    }
}

/// A directory role holder as read: `(principal, directoryScopeId, memberType)`.
type RoleHolder = (String, Option<String>, Option<String>);

fn role_holders(
    key: &ResourceKey,
    items: Vec<Value>,
) -> std::result::Result<Vec<RoleHolder>, String> {
    items
        .into_iter()
        .map(|item| {
            if key.2 == ROLE_ASSIGNMENTS {
                serde_json::from_value::<UnifiedRoleAssignment>(item)
                    .map(|r| (r.principal_id, r.directory_scope_id, None))
            } else {
                serde_json::from_value::<UnifiedRoleEligibilitySchedule>(item)
                    .map(|r| (r.principal_id, r.directory_scope_id, r.member_type))
            }
            .map_err(|e| e.to_string())
        })
        .collect()
}

/// Who holds which role in a collection read completely: `(role, principal id)` pairs,
/// lower-cased, for re-checking access one resource at a time (apply, verify).
pub fn holders(
    key: &ResourceKey,
    items: Vec<Value>,
) -> std::result::Result<Vec<(String, String)>, String> {
    let lower = |s: &str| s.to_ascii_lowercase();
    if key.0 == DIRECTORY_ROLE {
        let role = directory_role(key);
        return Ok(role_holders(key, items)?
            .into_iter()
            .filter(|(_, scope, member)| {
                super::roles::is_delivered_grant(scope.as_deref(), member.as_deref())
            })
            .map(|(principal, _, _)| (role.to_string(), lower(&principal)))
            .collect());
    }
    if key.0 == APPLICATION {
        items
            .into_iter()
            .map(|item| {
                serde_json::from_value::<AppRoleAssignment>(item)
                    .map(|a| (lower(&a.app_role_id), lower(&a.principal_id)))
                    .map_err(|e| e.to_string())
            })
            .collect()
    } else {
        let role = if key.2 == OWNERS { "owner" } else { "member" };
        items
            .into_iter()
            .map(|item| {
                serde_json::from_value::<DirectoryObject>(item)
                    .map(|o| (role.to_string(), lower(&o.id)))
                    .map_err(|e| e.to_string())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn delta_filter_names_each_group() {
        assert_eq!(
            paths::groups_delta(["a", "b"].into_iter()),
            "groups/delta?$select=members&$filter=id eq 'a' or id eq 'b'"
        );
    }

    #[test]
    fn delta_entries_of_one_group_are_merged_and_removals_refused() {
        let entries = vec![
            json!({"id": "G1", "members@delta": [{"@odata.type": "#microsoft.graph.user", "id": "u1"}]}),
            json!({"id": "g2", "members@delta": []}),
            json!({"id": "g1", "members@delta": [{"@odata.type": "#microsoft.graph.user", "id": "u2"}]}),
        ];
        let merged = merge_delta(entries).unwrap();
        assert_eq!(merged["g1"].len(), 2);
        assert!(merged["g2"].is_empty());
        let removal = vec![
            json!({"id": "g1", "members@delta": [{"id": "u1", "@removed": {"reason": "deleted"}}]}),
        ];
        assert!(merge_delta(removal).is_err());
    }

    #[test]
    fn the_reference_delta_example_is_read_as_a_later_round() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/graph-examples/groups-delta-incremental.json");
        let page: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let entries = page["value"].as_array().unwrap().clone();
        // An incremental round carries removals: never mistaken for a full member list.
        assert!(merge_delta(entries).is_err());
    }
}
