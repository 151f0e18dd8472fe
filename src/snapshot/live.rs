//! Reads a tenant live from Microsoft Graph into a snapshot: only what the audit needs, with
//! each resource's read recorded as complete, not found, or unreadable — never guessed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::assignment_read::{self, AssignmentRead};
use super::builder::ResourceKey;
use super::roles::unsupported_reason;
use super::roles::{
    ACTIVE, APPLICATION, APP_ROLE_ASSIGNED_TO, DIRECTORY_ROLE, ELIGIBLE, GROUP, MEMBERS, OWNERS,
    ROLE_ASSIGNMENTS, ROLE_ELIGIBILITY,
};
use super::{read_status, LogRequest, Snapshot, SnapshotBuilder, SnapshotInfo};
use crate::error::{Error, Result};
use crate::graph::{paths, GraphClient, GraphError, StatsReport};
use crate::model::{
    AccessPackage, AccessPackageAssignment, AccessPackageAssignmentRequest, AppRoleAssignment,
    DirectoryObject, UnifiedRoleAssignment, UnifiedRoleEligibilitySchedule, User,
};
use crate::progress::{Progress, Stage};
use entra_model::ids;

/// The states the audit uses: delivered ones are checked, the others are reported or explain
/// access. Graph documents `$filter=state eq '...'` with PascalCase values. The delivered list
/// is by far the longest (see `assignment_read`); the others are short chains.
const DELIVERED: &str = "Delivered";
const OTHER_STATES: [&str; 3] = ["Delivering", "PartiallyDelivered", "DeliveryFailed"];
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

impl LiveSnapshot {
    /// The snapshot, and what storing it beside the reports records of the read.
    pub fn into_stored(self) -> (Snapshot, super::store::StoreExtras) {
        let extras = super::store::StoreExtras {
            started: self.started,
            finished: self.finished,
            graph: Some(self.stats),
            resources: self.resources,
        };
        (self.snapshot, extras)
    }
}

pub struct LiveSnapshot {
    pub snapshot: Snapshot,
    pub started: chrono::DateTime<Utc>,
    pub finished: chrono::DateTime<Utc>,
    pub stats: StatsReport,
    pub resources: Vec<ResourceRead>,
}

/// The chain was aborted although no partitioned read replaced it (cannot happen: the abort
/// and the choice are made together); an error rather than a partial read, should it.
fn chain_not_kept() -> GraphError {
    GraphError::new(
        crate::graph::GraphErrorKind::Transport,
        "GET assignments",
        "the delivered assignments' chain was not kept",
    )
}

/// A failure of a list the whole audit depends on: the run stops.
fn core_failure(what: &str, error: GraphError) -> Error {
    Error::GraphRead {
        what: what.to_string(),
        source: error,
    }
}

fn parse_all<T: serde::de::DeserializeOwned>(what: &str, items: Vec<Value>) -> Result<Vec<T>> {
    items
        .into_iter()
        .map(|item| {
            let id = item
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            serde_json::from_value(item)
                .map_err(|e| Error::inconsistent(format!("Graph {what} `{id}`"), e.to_string()))
        })
        .collect()
}

/// What a live read needs beyond the client.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// An expanded collection this long may have been cut without a nextLink (Graph documents
    /// 20 for `$expand` on directory objects): such a package's scopes are re-read through its
    /// own collection before they are trusted.
    pub expand_limit: usize,
    /// How to read the delivered assignments (`--assignment-read`).
    pub assignment_read: AssignmentRead,
    /// The previous run's counts, to estimate the time left: `(assignments, users)`.
    pub expected: Option<(u64, u64)>,
    /// Whether and how far back to read the audit log.
    pub log: LogRequest,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            expand_limit: DEFAULT_EXPAND_LIMIT,
            assignment_read: AssignmentRead::Auto,
            expected: None,
            log: LogRequest::default(),
        }
    }
}

/// Graph's documented cap of `$expand` on directory objects (`--expand-limit`).
pub const DEFAULT_EXPAND_LIMIT: usize = 20;

/// A governed resource (key, name) and its read: `None` for a kind Graph cannot read.
type ResourceResult = (
    (ResourceKey, Option<String>),
    Option<Result<Vec<Value>, GraphError>>,
);

/// A package as read, and why its role list is incomplete when it is.
type PackageRead = (AccessPackage, Option<String>);

pub async fn read(
    client: &GraphClient,
    tenant_id: &str,
    graph_root: &str,
    options: &ReadOptions,
    progress: &Progress,
) -> Result<LiveSnapshot> {
    // The clock, which tests may fix: the audit log's window is relative to it.
    let started = crate::clock::now()?;
    let clock = Instant::now();
    let mut builder = SnapshotBuilder::new();
    progress.watch(client);
    let sign_in = progress.stage("sign-in", None);
    client
        .sign_in()
        .await
        .map_err(|e| core_failure("a token", e))?;
    sign_in.finish();

    // The core lists are independent nextLink chains: read them side by side (the client
    // bounds requests in flight), since each chain is as slow as its pages one after another.
    // The delivered assignments, the longest, start as a chain at once; once the package list
    // is in, the chain either goes on or gives way to one list per package (see
    // `assignment_read`). The resources depend only on the packages: they are read while the
    // assignments are.
    let users_url = client.url(&paths::users());
    let assignments_stage = progress.stage("assignments", options.expected.map(|e| e.0));
    let users_stage = progress.stage("users", options.expected.map(|e| e.1));
    let counted = |stage: &Stage| {
        let counter = stage.counter().clone();
        move |items: usize| counter.page(items as u64)
    };
    let (on_assignments, on_users) = (counted(&assignments_stage), counted(&users_stage));
    // The chain's pages count towards progress only once it is kept.
    let chain_kept = AtomicBool::new(true);
    let chain_pages = AtomicU64::new(0);
    let on_chain = |items: usize| {
        if chain_kept.load(Ordering::Relaxed) {
            on_assignments(items);
        } else {
            chain_pages.fetch_add(items as u64, Ordering::Relaxed);
        }
    };
    let packages_then_rest = async {
        let delivered_url = client.url(&paths::assignments_in_state(DELIVERED));
        // Boxed and abortable, so that it can be dropped (its request cancelled, its permit and
        // reserved units returned) when the partitioned read replaces it.
        let (abort_chain, registration) = futures_util::future::AbortHandle::new_pair();
        let mut chain = Some(Box::pin(futures_util::future::Abortable::new(
            client.list_with(&delivered_url, &on_chain),
            registration,
        )));
        if options.assignment_read != AssignmentRead::Chain {
            chain_kept.store(false, Ordering::Relaxed);
        }
        let fallback_budget = assignment_read::documented_budget(options.expected.map(|e| e.1));
        let (streamer, ids) = assignment_read::Streamer::new(
            options.assignment_read,
            options.expected.map(|e| e.0),
            fallback_budget,
            abort_chain,
        );
        let on_package_items = |items: &[Value]| {
            if options.assignment_read != AssignmentRead::Chain {
                streamer.page(client, items);
            }
        };
        let stage = progress.stage("packages", None);
        let on_packages = counted(&stage);
        let packages_read = async {
            let packages = read_packages(client, options, &on_packages, &on_package_items).await;
            streamer.close();
            packages
        };
        let streamed = assignment_read::read_streamed(client, ids, &on_assignments);
        let both = async { tokio::join!(packages_read, streamed) };
        tokio::pin!(both);
        // The chain ends first on its own (a short chain) or aborted for the partitioned read;
        // either way it is dropped at once, its permit and reserved units returned.
        let (read, chain_done) = match chain.as_mut() {
            Some(running) => tokio::select! {
                done = running => (None, Some(done.ok())),
                read = &mut both => (Some(read), None),
            },
            None => (None, None),
        };
        if let Some(done) = &chain_done {
            chain = None;
            if done.is_some() {
                streamer.chain_ended();
            }
        }
        let (packages, streamed) = match read {
            Some(read) => read,
            None => both.await,
        };
        let chain_done = chain_done.flatten();
        stage.finish();
        let packages = packages?;
        let committed = streamer.committed();
        let choice = match (&committed, &chain_done) {
            (Some(choice), _) => Some(choice.clone()),
            // A chain that ended before the package list did is as short as reads get.
            (None, Some(_)) if options.assignment_read != AssignmentRead::Partitioned => None,
            _ => Some(assignment_read::choose(
                options.assignment_read,
                packages.len() as u64,
                options.expected.map(|e| e.0),
                client.mean_latency(),
                client.unit_budget().unwrap_or(fallback_budget),
                client.concurrency(),
            )),
        };
        let described = choice.as_ref().map_or_else(
            || "chain: it ended before the package list".to_string(),
            assignment_read::Choice::describe,
        );
        tracing::info!(how = %described, "reading delivered assignments");
        let partitioned = choice.as_ref().is_some_and(|c| c.partitioned);
        // Dropped here unless it goes on: its request is cancelled, its permit and units return.
        let running = chain
            .take()
            .filter(|_| !partitioned && chain_done.is_none());
        if !partitioned && chain_done.is_none() {
            // Kept: the pages it read while the packages were listed count now.
            chain_kept.store(true, Ordering::Relaxed);
            on_assignments(chain_pages.swap(0, Ordering::Relaxed) as usize);
        }
        let delivered = async {
            match (partitioned, committed.is_some(), chain_done, running) {
                // Read while the package list paged.
                (true, true, _, _) => streamed,
                (true, false, _, _) => {
                    let ids: Vec<&str> = packages.iter().map(|(p, _)| p.id.as_str()).collect();
                    assignment_read::read_partitioned(client, &ids, &on_assignments).await
                }
                (false, _, Some(done), _) => done,
                (false, _, None, Some(running)) => {
                    running.await.unwrap_or_else(|_| Err(chain_not_kept()))
                }
                (false, _, None, None) => Err(chain_not_kept()),
            }
        };
        let (reads, delivered) =
            tokio::join!(read_resources(client, &packages, progress), delivered);
        Ok::<_, Error>((packages, reads?, delivered, described))
    };
    let others_read = async {
        let urls: Vec<String> = OTHER_STATES
            .iter()
            .map(|state| client.url(&paths::assignments_in_state(state)))
            .collect();
        futures_util::future::join_all(
            urls.iter()
                .map(|url| client.list_with(url, &on_assignments)),
        )
        .await
    };
    let users_read = async {
        let users = client.list_with(&users_url, &on_users).await;
        users_stage.finish();
        users
    };
    let log_read = super::log_read::read(client, &options.log, started, progress);
    let (rest, users, other_lists, (log, events)) =
        tokio::join!(packages_then_rest, users_read, others_read, log_read);
    assignments_stage.finish();
    for event in &events {
        builder.add_event(event);
    }
    builder.set_audit_log(log);
    let (packages, resource_reads, delivered, described) = rest?;
    add_packages(&mut builder, &packages)?;
    let mut assignment_count = 0;
    let mut assignment_count_not_delivered = 0;
    for items in std::iter::once(delivered).chain(other_lists) {
        let assignments: Vec<AccessPackageAssignment> = parse_all(
            "assignment",
            items.map_err(|e| core_failure("assignments", e))?,
        )?;
        assignment_count += assignments.len();
        assignment_count_not_delivered += assignments
            .iter()
            .filter(|a| {
                a.state.as_deref().is_some_and(|s| {
                    s.eq_ignore_ascii_case("deliveryFailed")
                        || s.eq_ignore_ascii_case("partiallyDelivered")
                })
            })
            .count();
        for assignment in &assignments {
            ids::check_assignment(assignment, "Graph assignments")?;
            builder.add_assignment(assignment, "Graph assignments")?;
        }
    }
    let users: Vec<User> = parse_all("user", users.map_err(|e| core_failure("users", e))?)?;
    for user in &users {
        ids::check_guid(&user.id, "user id", "Graph users")?;
        builder.add_user(user, "Graph users")?;
    }
    tracing::info!(
        packages = packages.len(),
        assignments = assignment_count,
        users = users.len(),
        "core lists read"
    );

    let reads = record_resource_reads(&mut builder, resource_reads);
    read_requests(
        client,
        &mut builder,
        assignment_count_not_delivered > 0,
        progress,
    )
    .await?;
    let tables = builder.finish()?;
    let finished = Utc::now();
    let mut stats = client.stats();
    stats.assignment_read = Some(described);
    tracing::info!(
        elapsed_ms = clock.elapsed().as_millis() as u64,
        "live snapshot done"
    );
    Ok(LiveSnapshot {
        snapshot: Snapshot {
            info: SnapshotInfo {
                tenant_id: tenant_id.to_ascii_lowercase(),
                tenant_name: None,
                taken_at: started,
                source: format!("Microsoft Graph {graph_root}"),
            },
            tables,
        },
        started,
        finished,
        stats,
        resources: reads,
    })
}

/// The assignment requests of failed deliveries (one list per retryable state, assignment
/// expanded), read only when some assignment failed. A failure is recorded, not fatal: the
/// findings then say the requests could not be read, never that there is none.
async fn read_requests(
    client: &GraphClient,
    builder: &mut SnapshotBuilder,
    needed: bool,
    progress: &Progress,
) -> Result<()> {
    if !needed {
        builder.set_requests_unread("no failed delivery: not read".into());
        return Ok(());
    }
    let stage = progress.stage("assignment requests", None);
    let on_page = {
        let counter = stage.counter().clone();
        move |items: usize| counter.page(items as u64)
    };
    let mut requests = Vec::new();
    for state in ["deliveryFailed", "partiallyDelivered"] {
        match client
            .list_with(&client.url(&paths::requests_in_state(state)), &on_page)
            .await
        {
            Ok(items) => requests.extend(items),
            Err(error) => {
                let hint = if error.status() == Some(403) {
                    "; grant EntitlementManagement.Read.All"
                } else {
                    ""
                };
                tracing::warn!(reason = %error.reason(), "assignment requests not read: failed deliveries cannot be planned for a retry");
                builder.set_requests_unread(format!("{}{hint}", error.reason()));
                stage.finish();
                return Ok(());
            }
        }
    }
    let parsed: Vec<AccessPackageAssignmentRequest> = parse_all("assignment request", requests)?;
    for request in &parsed {
        ids::check_guid(
            &request.id,
            "assignment request id",
            "Graph assignmentRequests",
        )?;
        builder.add_request(request, "Graph assignmentRequests")?;
    }
    stage.finish();
    Ok(())
}

fn add_packages(builder: &mut SnapshotBuilder, packages: &[PackageRead]) -> Result<()> {
    for (package, incomplete) in packages {
        ids::check_package(package, "Graph accessPackages")?;
        builder.add_package(package, "Graph accessPackages")?;
        if let Some(reason) = incomplete {
            tracing::warn!(package = %package.id, %reason, "the package's resource roles could not all be read; its assignments are unverifiable");
            builder.mark_package_incomplete(
                &package.id,
                package.display_name.clone(),
                reason.clone(),
            );
        }
    }
    Ok(())
}

/// The access packages with their resource role scopes, each list read to completion: a list
/// Graph paged (`resourceRoleScopes@odata.nextLink`) or one as long as the expansion cap is
/// re-read through the package's own collection; where that fails too, the package is marked
/// incomplete with the reason.
async fn read_packages(
    client: &GraphClient,
    options: &ReadOptions,
    on_page: &(dyn Fn(usize) + Sync),
    on_items: &(dyn Fn(&[Value]) + Sync),
) -> Result<Vec<PackageRead>> {
    let mut packages: Vec<AccessPackage> = parse_all(
        "access package",
        client
            .list_streaming(
                &client.url(&paths::access_packages_expanded()),
                on_page,
                on_items,
            )
            .await
            .map_err(|e| core_failure("access packages", e))?,
    )?;
    let needs_reread: Vec<usize> = packages
        .iter()
        .enumerate()
        .filter(|(_, package)| {
            package.resource_role_scopes_next_link.is_some()
                || package
                    .resource_role_scopes
                    .as_ref()
                    .is_some_and(|scopes| scopes.len() >= options.expand_limit)
        })
        .map(|(index, _)| index)
        .collect();
    if !needs_reread.is_empty() {
        tracing::info!(
            packages = needs_reread.len(),
            "re-reading resource role scopes that Graph may have cut"
        );
    }
    let scope_paths: Vec<String> = needs_reread
        .iter()
        .map(|&index| paths::package_scopes(&packages[index].id))
        .collect();
    let mut incomplete: Vec<Option<String>> = vec![None; packages.len()];
    for (&index, result) in needs_reread
        .iter()
        .zip(client.list_many(&scope_paths).await)
    {
        let package = &mut packages[index];
        match result.map_err(|e| e.reason()).and_then(|items| {
            items
                .into_iter()
                .map(serde_json::from_value)
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| format!("an unexpected resource role scope: {e}"))
        }) {
            Ok(scopes) => {
                package.resource_role_scopes = Some(scopes);
                package.resource_role_scopes_next_link = None;
            }
            Err(reason) => {
                package.resource_role_scopes_next_link = None;
                incomplete[index] = Some(format!(
                    "reading the package's resource role scopes failed: {reason}"
                ));
            }
        }
    }
    Ok(packages.into_iter().zip(incomplete).collect())
}

/// Reads the collections of every governed resource (a progress bar over them).
async fn read_resources(
    client: &GraphClient,
    packages: &[PackageRead],
    progress: &Progress,
) -> Result<Vec<ResourceResult>> {
    let mut governed = SnapshotBuilder::new();
    add_packages(&mut governed, packages)?;
    let resources = governed.governed_resources();
    let stage = progress.stage("governed resources", Some(resources.len() as u64));
    let mut reads = Vec::with_capacity(resources.len());
    for chunk in resources.chunks(RESOURCES_PER_STEP) {
        let (readable, unsupported): (Vec<_>, Vec<_>) = chunk
            .iter()
            .cloned()
            .partition(|(key, _)| collection_path(key).is_some());
        reads.extend(unsupported.into_iter().map(|resource| (resource, None)));
        reads.extend(
            read_collections(client, readable)
                .await
                .into_iter()
                .map(|(resource, result)| (resource, Some(result))),
        );
        stage.counter().add(chunk.len() as u64);
        stage.refresh();
    }
    stage.finish();
    Ok(reads)
}

/// Adds each resource read to the builder: holdings of complete reads, and every resource's
/// status (complete, not found, unreadable with the reason, unsupported).
fn record_resource_reads(
    builder: &mut SnapshotBuilder,
    resource_reads: Vec<ResourceResult>,
) -> Vec<ResourceRead> {
    let mut reads = Vec::with_capacity(resource_reads.len());
    for ((key, name), result) in resource_reads {
        let Some(result) = result else {
            let reason = unsupported_reason(key.0);
            reads.push(record(&key, read_status::UNSUPPORTED, &reason, 0));
            builder.set_resource_status(key, read_status::UNSUPPORTED, reason, name);
            continue;
        };
        let (status, reason, items) = match result
            .map_err(Some)
            .and_then(|items| add_holdings(builder, &key, items).map_err(|_| None))
        {
            Ok(count) => (read_status::COMPLETE, String::new(), count),
            Err(Some(error)) if error.status() == Some(404) => {
                (read_status::NOT_FOUND, "404 from Graph".to_string(), 0)
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
            tracing::warn!(resource = %key.1, collection = key.2, %reason, "resource not read completely; its roles are unverifiable");
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
    match (*kind, *collection) {
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
