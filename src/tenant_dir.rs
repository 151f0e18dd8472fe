//! Reads a recorded tenant directory (`shared/reference/tenant-dir.md`) into a snapshot.
//!
//! Every collection file is one complete Graph response body. A malformed file is an error that
//! names the file, line and column; an inconsistent one names the object.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::model::{
    AccessPackage, AccessPackageAssignment, AppRoleAssignment, Collection, DirectoryObject, Group,
    ServicePrincipal, TenantInfo, User,
};
use crate::snapshot::roles::{self, APPLICATION, APP_ROLE_ASSIGNED_TO, GROUP, MEMBERS, OWNERS};
use crate::snapshot::{read_status, Snapshot, SnapshotBuilder, SnapshotInfo};

pub const TENANT_FILE: &str = "tenant.json";
pub const PACKAGES_FILE: &str = "accessPackages.json";
pub const ASSIGNMENTS_FILE: &str = "assignments.json";
pub const USERS_FILE: &str = "users.json";
pub const GROUPS_FILE: &str = "groups.json";
pub const SERVICE_PRINCIPALS_FILE: &str = "servicePrincipals.json";
pub const GROUPS_DIR: &str = "groups";
pub const SERVICE_PRINCIPALS_DIR: &str = "servicePrincipals";
pub const MEMBERS_FILE: &str = "members.json";
pub const OWNERS_FILE: &str = "owners.json";
pub const APP_ROLE_ASSIGNED_TO_FILE: &str = "appRoleAssignedTo.json";

/// Everything in a tenant directory, parsed but not yet normalised. The fake Graph server
/// serves this; the offline audit turns it into a snapshot.
#[derive(Debug, Clone)]
pub struct TenantDir {
    pub root: PathBuf,
    pub tenant: TenantInfo,
    pub packages: Vec<AccessPackage>,
    pub assignments: Vec<AccessPackageAssignment>,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub service_principals: Vec<ServicePrincipal>,
    /// Lower-cased group id → direct members.
    pub members: HashMap<String, Vec<DirectoryObject>>,
    pub owners: HashMap<String, Vec<DirectoryObject>>,
    /// Lower-cased service principal id → `appRoleAssignedTo`.
    pub app_role_assigned_to: HashMap<String, Vec<AppRoleAssignment>>,
}

/// Parses one JSON file, naming the file and position on failure.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::json(path, &e))
}

fn read_collection<T: DeserializeOwned>(path: &Path, required: bool) -> Result<Vec<T>> {
    if !required && !path.exists() {
        return Ok(Vec::new());
    }
    Ok(read_json::<Collection<T>>(path)?.value)
}

impl TenantDir {
    pub fn read(root: &Path) -> Result<Self> {
        if !root.is_dir() {
            return Err(Error::Usage(format!(
                "tenant directory `{}` does not exist or is not a directory",
                root.display()
            )));
        }
        let tenant: TenantInfo = read_json(&root.join(TENANT_FILE))?;
        let groups: Vec<Group> = read_collection(&root.join(GROUPS_FILE), false)?;
        let service_principals: Vec<ServicePrincipal> =
            read_collection(&root.join(SERVICE_PRINCIPALS_FILE), false)?;
        let group_ids: Vec<String> = groups.iter().map(|g| g.id.to_ascii_lowercase()).collect();
        let sp_ids: Vec<String> = service_principals
            .iter()
            .map(|s| s.id.to_ascii_lowercase())
            .collect();
        let group_ids = check_unique(root.join(GROUPS_FILE), "group", &group_ids)?;
        let sp_ids = check_unique(
            root.join(SERVICE_PRINCIPALS_FILE),
            "service principal",
            &sp_ids,
        )?;

        let group_dirs = sub_dirs(&root.join(GROUPS_DIR), "group", &group_ids)?;
        let mut members = HashMap::new();
        let mut owners = HashMap::new();
        for (id, dir) in group_dirs {
            members.insert(id.clone(), read_collection(&dir.join(MEMBERS_FILE), false)?);
            owners.insert(id, read_collection(&dir.join(OWNERS_FILE), false)?);
        }
        let mut app_role_assigned_to = HashMap::new();
        for (id, dir) in sub_dirs(
            &root.join(SERVICE_PRINCIPALS_DIR),
            "service principal",
            &sp_ids,
        )? {
            app_role_assigned_to.insert(
                id,
                read_collection(&dir.join(APP_ROLE_ASSIGNED_TO_FILE), false)?,
            );
        }

        Ok(TenantDir {
            root: root.to_path_buf(),
            tenant,
            packages: read_collection(&root.join(PACKAGES_FILE), true)?,
            assignments: read_collection(&root.join(ASSIGNMENTS_FILE), true)?,
            users: read_collection(&root.join(USERS_FILE), false)?,
            groups,
            service_principals,
            members,
            owners,
            app_role_assigned_to,
        })
    }

    /// Normalises the directory into snapshot tables. Everything in it was read completely,
    /// so a resource is either `complete` or (absent from its collection) `not_found`.
    pub fn to_snapshot(&self) -> Result<Snapshot> {
        let origin = |file: &str| self.root.join(file).display().to_string();
        let mut builder = SnapshotBuilder::new();
        let packages_origin = origin(PACKAGES_FILE);
        for package in &self.packages {
            builder.add_package(package, &packages_origin)?;
        }
        let assignments_origin = origin(ASSIGNMENTS_FILE);
        for assignment in &self.assignments {
            builder.add_assignment(assignment, &assignments_origin)?;
        }
        let users_origin = origin(USERS_FILE);
        for user in &self.users {
            builder.add_user(user, &users_origin)?;
        }
        // Like a live snapshot, keep only the collections some package governs: the audit
        // needs nothing else, and ungoverned groups hold most of a tenant's memberships.
        let governed: HashSet<(&'static str, String, &'static str)> = builder
            .governed_resources()
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        let wanted = |kind: &'static str, id: &str, collection: &'static str| {
            governed.contains(&(kind, id.to_ascii_lowercase(), collection))
        };
        for (group, objects) in &self.members {
            if wanted(GROUP, group, MEMBERS) {
                builder.add_group_principals(group, "member", objects);
            }
        }
        for (group, objects) in &self.owners {
            if wanted(GROUP, group, OWNERS) {
                builder.add_group_principals(group, "owner", objects);
            }
        }
        for (sp, items) in &self.app_role_assigned_to {
            if wanted(APPLICATION, sp, APP_ROLE_ASSIGNED_TO) {
                builder.add_app_role_assignments(sp, items);
            }
        }

        let group_names: HashMap<String, Option<String>> = self
            .groups
            .iter()
            .map(|g| (g.id.to_ascii_lowercase(), g.display_name.clone()))
            .collect();
        let sp_names: HashMap<String, Option<String>> = self
            .service_principals
            .iter()
            .map(|s| (s.id.to_ascii_lowercase(), s.display_name.clone()))
            .collect();
        for (key, scope_name) in builder.governed_resources() {
            let directory = match key.0 {
                GROUP if !key.2.is_empty() => Some((&group_names, "groups.json")),
                APPLICATION => Some((&sp_names, "servicePrincipals.json")),
                _ => None,
            };
            let (status, reason, name) = match directory {
                Some((names, file)) => match names.get(&key.1) {
                    Some(name) => (
                        read_status::COMPLETE,
                        String::new(),
                        name.clone().or(scope_name),
                    ),
                    None => (read_status::NOT_FOUND, format!("not in {file}"), scope_name),
                },
                None => (
                    read_status::UNSUPPORTED,
                    unsupported_reason(key.0),
                    scope_name,
                ),
            };
            builder.set_resource_status(key, status, reason, name);
        }

        Ok(Snapshot {
            info: SnapshotInfo {
                tenant_id: self.tenant.id.to_ascii_lowercase(),
                tenant_name: self.tenant.display_name.clone(),
                taken_at: Utc::now(),
                source: format!("tenant directory {}", self.root.display()),
            },
            tables: builder.finish()?,
        })
    }
}

/// Why a role of this resource type cannot be checked.
pub fn unsupported_reason(resource_type: &str) -> String {
    match resource_type {
        roles::SHAREPOINT_SITE => {
            "SharePoint site roles cannot be read through Graph's directory API".into()
        }
        roles::DIRECTORY_ROLE => "directory roles are not checked by this version".into(),
        roles::GROUP => "a group role other than member or owner".into(),
        _ => "a resource type this version does not know".into(),
    }
}

fn check_unique(file: PathBuf, kind: &str, ids: &[String]) -> Result<HashSet<String>> {
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id.clone()) {
            return Err(Error::inconsistent(
                file.display().to_string(),
                format!("duplicate {kind} id `{id}`"),
            ));
        }
    }
    Ok(seen)
}

/// Lists `dir/<id>/` folders; each must belong to an object of the collection, since Graph
/// would answer `404` for any other and a recording cannot hold data for it.
fn sub_dirs(dir: &Path, kind: &str, known: &HashSet<String>) -> Result<Vec<(String, PathBuf)>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let id = entry.file_name().to_string_lossy().to_ascii_lowercase();
        if !known.contains(&id) {
            return Err(Error::inconsistent(
                path.display().to_string(),
                format!("holds data for {kind} `{id}`, which is not in the {kind} list (a deleted {kind} has no data)"),
            ));
        }
        found.push((id, path));
    }
    found.sort();
    Ok(found)
}

impl TenantDir {
    /// Writes the directory in the recorded-tenant format (the generator's output).
    pub fn write(&self, root: &Path) -> Result<()> {
        fn put<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
            let mut writer = std::io::BufWriter::new(file);
            serde_json::to_writer(&mut writer, value).map_err(|e| Error::json(path, &e))?;
            std::io::Write::flush(&mut writer).map_err(|e| Error::io(path, e))
        }
        fn collection<T: serde::Serialize>(items: &[T]) -> serde_json::Value {
            serde_json::json!({ "value": items })
        }
        put(
            &root.join(TENANT_FILE),
            &serde_json::json!({
                "id": self.tenant.id,
                "displayName": self.tenant.display_name,
                "defaultDomain": self.tenant.default_domain,
            }),
        )?;
        put(&root.join(PACKAGES_FILE), &collection(&self.packages))?;
        put(&root.join(ASSIGNMENTS_FILE), &collection(&self.assignments))?;
        put(&root.join(USERS_FILE), &collection(&self.users))?;
        put(&root.join(GROUPS_FILE), &collection(&self.groups))?;
        put(
            &root.join(SERVICE_PRINCIPALS_FILE),
            &collection(&self.service_principals),
        )?;
        for (id, members) in &self.members {
            put(
                &root.join(GROUPS_DIR).join(id).join(MEMBERS_FILE),
                &collection(members),
            )?;
        }
        for (id, owners) in &self.owners {
            put(
                &root.join(GROUPS_DIR).join(id).join(OWNERS_FILE),
                &collection(owners),
            )?;
        }
        for (id, items) in &self.app_role_assigned_to {
            put(
                &root
                    .join(SERVICE_PRINCIPALS_DIR)
                    .join(id)
                    .join(APP_ROLE_ASSIGNED_TO_FILE),
                &collection(items),
            )?;
        }
        Ok(())
    }
}
