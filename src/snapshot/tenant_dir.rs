//! The tenant-directory source: a recorded tenant (read and checked by
//! [`entra_model::tenant_dir`]) normalised into snapshot tables.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use entra_model::tenant_dir::{
    HoldingsKind, TenantDir, ASSIGNMENTS_FILE, ASSIGNMENT_REQUESTS_FILE, DIRECTORY_AUDITS_FILE,
    PACKAGES_FILE, TENANT_FILE, USERS_FILE,
};

use super::roles::{
    unsupported_reason, ACTIVE, APPLICATION, APP_ROLE_ASSIGNED_TO, DIRECTORY_ROLE, ELIGIBLE, GROUP,
    MEMBERS, OWNERS, ROLE_ASSIGNMENTS, SHAREPOINT_SITE,
};
use super::{read_status, AuditLog, LogRequest, Snapshot, SnapshotBuilder, SnapshotInfo};
use crate::error::Result;
use crate::threads::joined;

/// Reads a tenant directory and normalises it, with the audit log's default window.
pub fn read(root: &Path) -> Result<Snapshot> {
    read_with(root, &LogRequest::default())
}

/// Reads a tenant directory and normalises it. Only the member, owner and app role lists of
/// resources some package governs are read (files side by side): the audit needs nothing else,
/// ungoverned groups hold most of a tenant's memberships, and a live read skips them too.
pub fn read_with(root: &Path, log: &LogRequest) -> Result<Snapshot> {
    let (mut dir, holdings) = TenantDir::read_lazily(root)?;
    let governed = governed(&dir)?;
    let wanted = |kind: HoldingsKind, id: &str| {
        let (resource_type, collection) = match kind {
            HoldingsKind::Members => (GROUP, MEMBERS),
            HoldingsKind::Owners => (GROUP, OWNERS),
            HoldingsKind::AppRoleAssignedTo => (APPLICATION, APP_ROLE_ASSIGNED_TO),
        };
        governed.contains(&(resource_type, id.to_ascii_lowercase(), collection.into()))
    };
    let assignments_origin = root.join(ASSIGNMENTS_FILE).display().to_string();
    let users_origin = root.join(USERS_FILE).display().to_string();
    // The governed lists, the users and the assignments are read side by side, the two large
    // files element by element into columns of their own (never held as model trees).
    let (loaded, users, assignments) = std::thread::scope(|scope| {
        let loaded = scope.spawn(|| holdings.read_wanted(wanted));
        let users = scope.spawn(|| -> Result<(SnapshotBuilder, HashMap<String, String>)> {
            let mut users = SnapshotBuilder::new();
            let mut by_upn = HashMap::new();
            holdings.each_user(|user| {
                users.add_user(&user, &users_origin)?;
                super::sharepoint::add_upn(&mut by_upn, &user, &users_origin)
            })??;
            Ok((users, by_upn))
        });
        let mut assignments = SnapshotBuilder::new();
        let read = holdings.each_assignment(|assignment| {
            assignments.add_assignment(&assignment, &assignments_origin)
        });
        let (loaded, users) = (joined(loaded), joined(users));
        (loaded, users, read.map(|r| r.map(|()| assignments)))
    });
    // The first failure in the order a sequential read meets them.
    let mut assignments = assignments??;
    let (users, by_upn) = users?;
    let loaded = loaded?;
    dir.members = loaded.members;
    dir.owners = loaded.owners;
    dir.app_role_assigned_to = loaded.app_role_assigned_to;
    build(&dir, log, |builder| {
        builder.absorb_assignments(&mut assignments);
        builder.absorb_users(users);
        Ok(by_upn)
    })
}

/// The collections the directory's packages govern.
fn governed(dir: &TenantDir) -> Result<HashSet<super::builder::ResourceKey>> {
    let mut builder = SnapshotBuilder::new();
    let origin = dir.root.join(PACKAGES_FILE).display().to_string();
    for package in &dir.packages {
        builder.add_package(package, &origin)?;
    }
    Ok(builder
        .governed_resources()
        .into_iter()
        .map(|(key, _)| key)
        .collect())
}

/// [`to_snapshot_with`] with the audit log's default window.
pub fn to_snapshot(dir: &TenantDir) -> Result<Snapshot> {
    to_snapshot_with(dir, &LogRequest::default())
}

/// Normalises the directory into snapshot tables. Everything in it was read completely,
/// so a resource is either `complete` or (absent from its collection) `not_found`. The
/// snapshot is taken when the tenant was recorded (`recordedAt` in tenant.json), or else now
/// (the clock, which tests may fix); a recorded audit log covers the window ending then.
pub fn to_snapshot_with(dir: &TenantDir, log: &LogRequest) -> Result<Snapshot> {
    build(dir, log, |builder| {
        let origin = dir.root.join(ASSIGNMENTS_FILE).display().to_string();
        for assignment in &dir.assignments {
            builder.add_assignment(assignment, &origin)?;
        }
        let origin = dir.root.join(USERS_FILE).display().to_string();
        for user in &dir.users {
            builder.add_user(user, &origin)?;
        }
        super::sharepoint::users_by_upn(&dir.users, &origin)
    })
}

/// The snapshot of `dir`, its assignments and users added by `people` (from memory, or
/// streamed from the files), which returns the users' ids by lower-cased UPN.
fn build(
    dir: &TenantDir,
    log: &LogRequest,
    people: impl FnOnce(&mut SnapshotBuilder) -> Result<HashMap<String, String>>,
) -> Result<Snapshot> {
    let taken_at = match &dir.tenant.recorded_at {
        Some(text) => recorded_at(&dir.root, text)?,
        None => crate::clock::now()?,
    };
    let origin = |file: &str| dir.root.join(file).display().to_string();
    let mut builder = SnapshotBuilder::new();
    let packages_origin = origin(PACKAGES_FILE);
    for package in &dir.packages {
        builder.add_package(package, &packages_origin)?;
    }
    let users_by_upn = people(&mut builder)?;
    // Like a live snapshot, keep only the collections some package governs (a directory read
    // whole, as the generator's, holds them all).
    let governed: HashSet<super::builder::ResourceKey> = builder
        .governed_resources()
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    let wanted = |kind: &'static str, id: &str, collection: &'static str| {
        governed.contains(&(kind, id.to_ascii_lowercase(), collection.into()))
    };
    for (group, objects) in &dir.members {
        if wanted(GROUP, group, MEMBERS) {
            builder.add_group_principals(group, "member", objects);
        }
    }
    for (group, objects) in &dir.owners {
        if wanted(GROUP, group, OWNERS) {
            builder.add_group_principals(group, "owner", objects);
        }
    }
    for (sp, items) in &dir.app_role_assigned_to {
        if wanted(APPLICATION, sp, APP_ROLE_ASSIGNED_TO) {
            builder.add_app_role_assignments(sp, items);
        }
    }

    let group_names: HashMap<String, Option<String>> = dir
        .groups
        .iter()
        .map(|g| (g.id.to_ascii_lowercase(), g.display_name.clone()))
        .collect();
    let sp_names: HashMap<String, Option<String>> = dir
        .service_principals
        .iter()
        .map(|s| (s.id.to_ascii_lowercase(), s.display_name.clone()))
        .collect();
    add_directory_roles(dir, &mut builder);
    match &dir.assignment_requests {
        Some(requests) => {
            let origin = dir
                .root
                .join(ASSIGNMENT_REQUESTS_FILE)
                .display()
                .to_string();
            for request in requests {
                builder.add_request(request, &origin)?;
            }
        }
        None => builder.set_requests_unread(format!(
            "{ASSIGNMENT_REQUESTS_FILE} not recorded in the tenant directory"
        )),
    }
    if !log.read {
        builder.set_audit_log(AuditLog::Skipped);
    } else if let Some(events) = &dir.directory_audits {
        for event in events {
            builder.add_event(event);
        }
        builder.set_audit_log(AuditLog::Read {
            since: log.since(taken_at),
            until: taken_at,
        });
    } else {
        builder.set_audit_log(AuditLog::Unread {
            reason: format!("{DIRECTORY_AUDITS_FILE} not recorded in the tenant directory"),
        });
    }
    for (key, scope_name) in builder.governed_resources() {
        if key.0 == SHAREPOINT_SITE {
            // The site is the resource, named by its URL (a scope's "Root" names nothing);
            // the group is the role, named by the package.
            if let Some(group) = super::roles::site_group_of(&key.2) {
                let read = super::sharepoint::recorded_group(
                    dir.sharepoint.as_ref(),
                    &key.1,
                    group,
                    &users_by_upn,
                );
                builder.add_site_holders(&key.1, group, &read.holders);
                let name = Some(key.1.clone());
                builder.set_resource_status(key, read.status, read.reason, name);
                continue;
            }
        }
        if key.0 == DIRECTORY_ROLE && !key.2.is_empty() {
            let recorded = match key.2.as_ref() {
                ROLE_ASSIGNMENTS => dir.role_assignments.is_some(),
                _ => dir.role_eligibility_schedules.is_some(),
            };
            let (status, reason) = if recorded {
                (read_status::COMPLETE, String::new())
            } else {
                (
                    read_status::UNREADABLE,
                    format!("{}.json not recorded in the tenant directory", key.2),
                )
            };
            builder.set_resource_status(key, status, reason, scope_name);
            continue;
        }
        let directory = match key.0 {
            GROUP if !key.2.is_empty() => Some(&group_names),
            APPLICATION => Some(&sp_names),
            _ => None,
        };
        let recorded = match (key.0, key.2.as_ref()) {
            (GROUP, MEMBERS) => dir.members.contains_key(&key.1),
            (GROUP, OWNERS) => dir.owners.contains_key(&key.1),
            (APPLICATION, _) => dir.app_role_assigned_to.contains_key(&key.1),
            _ => true,
        };
        let (status, reason, name) = match directory {
            Some(names) => match names.get(&key.1) {
                // Absence is not emptiness: a resource whose collection was not recorded is
                // unverifiable, never read as holding nothing.
                Some(name) if !recorded => (
                    read_status::UNREADABLE,
                    format!(
                        "{} not recorded in the tenant directory",
                        match key.0 {
                            GROUP => format!("groups/{}/{}.json", key.1, key.2),
                            _ => format!("servicePrincipals/{}/appRoleAssignedTo.json", key.1),
                        }
                    ),
                    name.clone().or(scope_name),
                ),
                Some(name) => (
                    read_status::COMPLETE,
                    String::new(),
                    name.clone().or(scope_name),
                ),
                None => (
                    read_status::NOT_FOUND,
                    read_status::NOT_FOUND_REASON.to_string(),
                    scope_name,
                ),
            },
            None => (
                read_status::UNSUPPORTED,
                unsupported_reason(key.0, &key.2),
                scope_name,
            ),
        };
        builder.set_resource_status(key, status, reason, name);
    }

    Ok(Snapshot {
        info: SnapshotInfo {
            tenant_id: dir.tenant.id.to_ascii_lowercase(),
            tenant_name: dir.tenant.display_name.clone(),
            taken_at,
            source: format!("tenant directory {}", dir.root.display()),
        },
        tables: builder.finish()?,
    })
}

/// `recordedAt` of tenant.json: an RFC 3339 time, never a guess (a misread time would move
/// the audit log's window and the retry deadline of every failed delivery).
fn recorded_at(root: &Path, text: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|at| at.with_timezone(&chrono::Utc))
        .map_err(|error| {
            crate::error::InputError::Inconsistent {
                origin: root.join(TENANT_FILE).display().to_string(),
                message: format!("recordedAt `{text}` is not an RFC 3339 time ({error})"),
            }
            .into()
        })
}

/// The recorded directory role holders, per role definition (kept whole: they are few).
fn add_directory_roles(dir: &TenantDir, builder: &mut SnapshotBuilder) {
    let mut active: HashMap<String, Vec<_>> = HashMap::new();
    for role in dir.role_assignments.iter().flatten() {
        if let Some(definition) = &role.role_definition_id {
            active
                .entry(definition.to_ascii_lowercase())
                .or_default()
                .push((
                    role.principal_id.as_str(),
                    role.directory_scope_id.as_deref(),
                    None,
                ));
        }
    }
    for (definition, holders) in active {
        builder.add_role_holders(&definition, ACTIVE, holders);
    }
    let mut eligible: HashMap<String, Vec<_>> = HashMap::new();
    for role in dir.role_eligibility_schedules.iter().flatten() {
        if let Some(definition) = &role.role_definition_id {
            eligible
                .entry(definition.to_ascii_lowercase())
                .or_default()
                .push((
                    role.principal_id.as_str(),
                    role.directory_scope_id.as_deref(),
                    role.member_type.as_deref(),
                ));
        }
    }
    for (definition, holders) in eligible {
        builder.add_role_holders(&definition, ELIGIBLE, holders);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streamed read (assignments and users on threads of their own, absorbed) builds the
    /// same tables as the read of the whole directory in memory.
    #[test]
    fn the_streamed_read_builds_the_tables_of_the_whole_read() {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/contoso"));
        let whole = to_snapshot(&TenantDir::read(root).unwrap()).unwrap();
        let streamed = read(root).unwrap();
        // Rows as text, sorted: holdings come in the order of a hash map.
        let rows = |frame: &polars::prelude::DataFrame| {
            let mut rows: Vec<Vec<String>> = (0..frame.height())
                .map(|i| {
                    frame
                        .columns()
                        .iter()
                        .map(|c| c.get(i).unwrap().to_string())
                        .collect()
                })
                .collect();
            rows.sort();
            rows
        };
        for (a, b) in [
            (&whole.tables.assignments, &streamed.tables.assignments),
            (&whole.tables.users, &streamed.tables.users),
            (&whole.tables.holdings, &streamed.tables.holdings),
            (
                &whole.tables.resource_status,
                &streamed.tables.resource_status,
            ),
        ] {
            assert_eq!(a.get_column_names(), b.get_column_names());
            assert_eq!(rows(a), rows(b), "{a}\n{b}");
        }
    }
}
