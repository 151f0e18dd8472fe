//! Reads a tenant live from Microsoft Graph into a snapshot: only what the audit needs, with
//! each resource's read recorded as complete, not found, or unreadable — never guessed.

use entra_model::enums::AssignmentState;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use chrono::Utc;
use serde_json::Value;

use super::assignment_read::{self, AssignmentRead};
use super::resource_read::{read_resources, record_resource_reads, ResourceRead};
use super::{LogRequest, Snapshot, SnapshotBuilder, SnapshotInfo};
use crate::error::{Error, Result};
use crate::graph::{paths, GraphClient, GraphError, StatsReport};
use crate::model::{AccessPackage, AccessPackageAssignment, AccessPackageAssignmentRequest, User};
use crate::progress::{Progress, Stage};
use entra_model::ids;

/// The states the audit uses: delivered ones are checked, the others are reported or explain
/// access. Graph documents `$filter=state eq '...'` with PascalCase values. The delivered list
/// is by far the longest (see `assignment_read`); the others are short chains.
const DELIVERED: &str = "Delivered";
const OTHER_STATES: [&str; 3] = ["Delivering", "PartiallyDelivered", "DeliveryFailed"];

/// The tenant's name: Graph's organization display name, else the configured `tenant_name`,
/// else none (the reports then name the tenant by its id). A refused read is said once, with
/// the permission it needs; it never fails the audit, which does not depend on the name.
fn tenant_name_of(
    organization: std::result::Result<Vec<serde_json::Value>, GraphError>,
    tenant_id: &str,
    configured: Option<&str>,
) -> Option<String> {
    let read = match organization {
        Ok(list) => list
            .iter()
            .find(|o| {
                o.get("id")
                    .and_then(|v| v.as_str())
                    .is_none_or(|id| id.eq_ignore_ascii_case(tenant_id))
            })
            .and_then(|o| o.get("displayName"))
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        Err(error) => {
            tracing::warn!(
                reason = %error.reason(),
                "the tenant's name was not read (GET /organization needs Organization.Read.All); {}",
                if configured.is_some() {
                    "using tenant_name from the configuration file"
                } else {
                    "the reports name the tenant by its id (set tenant_name in the configuration file to name it)"
                }
            );
            None
        }
    };
    read.or_else(|| configured.map(str::to_string))
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

pub(super) fn parse_all<T: serde::de::DeserializeOwned>(
    what: &str,
    items: Vec<Value>,
) -> Result<Vec<T>> {
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
    /// The tenant's name where `GET /organization` cannot be read (config `tenant_name`).
    pub tenant_name: Option<String>,
    /// SharePoint REST at this origin instead of each site's own (`--sharepoint-url`).
    pub sharepoint_url: Option<url::Url>,
    /// SharePoint resource units per minute (`--sharepoint-budget`).
    pub sharepoint_budget: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            expand_limit: DEFAULT_EXPAND_LIMIT,
            assignment_read: AssignmentRead::Auto,
            expected: None,
            log: LogRequest::default(),
            tenant_name: None,
            sharepoint_url: None,
            sharepoint_budget: crate::graph::sharepoint::DEFAULT_BUDGET,
        }
    }
}

/// Graph's documented cap of `$expand` on directory objects (`--expand-limit`).
pub const DEFAULT_EXPAND_LIMIT: usize = 20;

/// A package as read, and why its role list is incomplete when it is.
pub(super) type PackageRead = (AccessPackage, Option<String>);

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
    let sharepoint = crate::graph::sharepoint::SharePointClient::new(
        client,
        options.sharepoint_url.clone(),
        client.concurrency(),
        options.sharepoint_budget,
    );
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
    // The previous run's counts are estimates: this week's tenant is not last week's.
    if let Some((assignments, users)) = options.expected {
        assignments_stage.counter().set_estimate(assignments);
        users_stage.counter().set_estimate(users);
    }
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
            _ => Some(streamer.estimate(client, packages.len() as u64)),
        };
        let described = choice.as_ref().map_or_else(
            || "chain: it ended before the package list".to_string(),
            assignment_read::Choice::describe,
        );
        tracing::info!(how = %described, "reading delivered assignments");
        if let Some(choice) = choice.as_ref().filter(|_| options.expected.is_none()) {
            // The first read of a tenant: its package list gives the total's estimate.
            assignments_stage.counter().set_estimate(choice.expected);
        }
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
        let (reads, delivered) = tokio::join!(
            read_resources(client, &sharepoint, &packages, progress),
            delivered
        );
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
    let organization_url = client.url(&paths::organization());
    let (rest, users, other_lists, (log, events), organization) = tokio::join!(
        packages_then_rest,
        users_read,
        others_read,
        log_read,
        client.list(&organization_url)
    );
    let tenant_name = tenant_name_of(organization, tenant_id, options.tenant_name.as_deref());
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
                a.state
                    .as_deref()
                    .is_some_and(|s| AssignmentState::parse(s).is_failed_delivery())
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

    let users_by_upn = super::sharepoint::users_by_upn(&users, "Graph users")?;
    let reads = record_resource_reads(&mut builder, resource_reads, &users_by_upn);
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
                tenant_name,
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

/// The assignment requests (every state, assignment expanded), read only when some assignment
/// failed, so that each failed delivery's latest request is the one the offline rule sees. A failure is recorded, not fatal: the
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
    // Every request, whatever its state: a failed delivery is retried only through its
    // assignment's latest request, which may be in another state (a newer request that was
    // denied or delivered). Filtering to failed states would find an older failed request and
    // plan a retry of it, or none at all where the offline rule names the latest one's state.
    let mut requests = Vec::new();
    {
        match client
            .list_with(&client.url(&paths::requests()), &on_page)
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

pub(super) fn add_packages(builder: &mut SnapshotBuilder, packages: &[PackageRead]) -> Result<()> {
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
