//! The recorded tenant directory (guide: docs/src/operator/tenant-directories.md): its file names, reading it with
//! its consistency checks, and writing it (the generator's output).
//!
//! Every collection file is one complete Graph response body. A malformed file is an error that
//! names the file, line and column; an inconsistent one names the object. Only regular files
//! inside the directory are read: a FIFO or a link leaving the directory is an error.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::error::InputError as Error;
use crate::ids;
use crate::input::{check_inside, read_each, read_json};
use crate::model::{
    AccessPackage, AccessPackageAssignment, AccessPackageAssignmentRequest, AppRoleAssignment,
    Collection, DirectoryAudit, DirectoryObject, Group, RecordedSite, ServicePrincipal, SiteUser,
    TenantInfo, UnifiedRoleAssignment, UnifiedRoleEligibilitySchedule, User,
};

type Result<T, E = Error> = std::result::Result<T, E>;

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
pub const ROLE_ASSIGNMENTS_FILE: &str = "roleAssignments.json";
pub const ROLE_ELIGIBILITY_FILE: &str = "roleEligibilitySchedules.json";
pub const ASSIGNMENT_REQUESTS_FILE: &str = "assignmentRequests.json";
pub const DIRECTORY_AUDITS_FILE: &str = "directoryAudits.json";
/// SharePoint: `sharepoint/sites.json` and `sharepoint/<key>/groups/<n>/users.json`.
pub const SHAREPOINT_DIR: &str = "sharepoint";
pub const SITES_FILE: &str = "sites.json";
pub const SITE_GROUP_USERS_FILE: &str = "users.json";

/// The SharePoint sites a tenant directory recorded.
#[derive(Debug, Clone, Default)]
pub struct RecordedSharePoint {
    /// The sites that exist; one absent from the list does not exist.
    pub sites: Vec<RecordedSite>,
    /// `(site key, group id)` → the group's users; a listed group without an entry was not
    /// recorded.
    pub users: HashMap<(String, u32), Vec<SiteUser>>,
}

impl RecordedSharePoint {
    /// The path of a site group's users file, relative to the tenant directory.
    pub fn users_path(key: &str, group: u32) -> PathBuf {
        Path::new(SHAREPOINT_DIR)
            .join(key)
            .join("groups")
            .join(group.to_string())
            .join(SITE_GROUP_USERS_FILE)
    }

    /// Reads `sharepoint/`; `None` when `sites.json` is absent (SharePoint not recorded).
    fn read(root: &Path) -> Result<Option<Self>> {
        let sites_path = root.join(SHAREPOINT_DIR).join(SITES_FILE);
        let Some(sites) = read_recorded::<RecordedSite>(root, &sites_path)? else {
            return Ok(None);
        };
        let origin = sites_path.display().to_string();
        let mut keys = HashSet::new();
        let mut urls = HashSet::new();
        let mut users = HashMap::new();
        for site in &sites {
            let at = format!("{origin}: site `{}`", site.url);
            // The key names a folder: one plain name, never a path out of the directory.
            let plain = !site.key.is_empty()
                && !site.key.starts_with('.')
                && site
                    .key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !plain {
                return Err(Error::inconsistent(
                    at,
                    format!(
                        "key `{}` is not a plain folder name (letters, digits, `-`, `_`, `.`)",
                        site.key.escape_debug()
                    ),
                ));
            }
            if !site.url.to_ascii_lowercase().starts_with("https://") {
                return Err(Error::inconsistent(
                    at,
                    "the site url is not an https:// URL",
                ));
            }
            if !keys.insert(site.key.to_ascii_lowercase()) {
                return Err(Error::inconsistent(
                    at,
                    format!("duplicate key `{}`", site.key),
                ));
            }
            // As the audit keys a site (`site_url`): trimmed, without trailing `/`, any case.
            let url = site.url.trim().trim_end_matches('/').to_ascii_lowercase();
            if !urls.insert(url) {
                return Err(Error::inconsistent(at, "duplicate site url"));
            }
            let mut group_ids = HashSet::new();
            for group in &site.groups {
                if !group_ids.insert(group.id) {
                    return Err(Error::inconsistent(
                        at.clone(),
                        format!("duplicate group id {}", group.id),
                    ));
                }
                let path = root.join(Self::users_path(&site.key, group.id));
                if let Some(list) = read_recorded::<SiteUser>(root, &path)? {
                    users.insert((site.key.clone(), group.id), list);
                }
            }
        }
        Ok(Some(RecordedSharePoint { sites, users }))
    }
}

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
    /// Lower-cased group id → direct members; a group without an entry was not recorded.
    pub members: HashMap<String, Vec<DirectoryObject>>,
    pub owners: HashMap<String, Vec<DirectoryObject>>,
    /// Lower-cased service principal id → `appRoleAssignedTo`.
    pub app_role_assigned_to: HashMap<String, Vec<AppRoleAssignment>>,
    /// Active directory role assignments; `None`: not recorded.
    pub role_assignments: Option<Vec<UnifiedRoleAssignment>>,
    /// Eligible directory roles; `None`: not recorded.
    pub role_eligibility_schedules: Option<Vec<UnifiedRoleEligibilitySchedule>>,
    /// Assignment requests (failed deliveries are retried through them); `None`: not recorded.
    pub assignment_requests: Option<Vec<AccessPackageAssignmentRequest>>,
    /// Audit-log events of the log window (why access drifted); `None`: not recorded.
    pub directory_audits: Option<Vec<DirectoryAudit>>,
    /// SharePoint sites and their groups' users; `None`: SharePoint was not recorded.
    pub sharepoint: Option<RecordedSharePoint>,
}

/// An optional collection: `None` when the file is absent (not recorded).
fn read_optional<T: DeserializeOwned>(root: &Path, name: &str) -> Result<Option<Vec<T>>> {
    let path = root.join(name);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    read_collection(root, &path, true).map(Some)
}

/// A resource's collection: `None` when its file is absent (not recorded).
fn read_recorded<T: DeserializeOwned>(root: &Path, path: &Path) -> Result<Option<Vec<T>>> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    read_collection(root, path, true).map(Some)
}

/// A core collection's file: present and inside the directory. Absence is not emptiness: a
/// core collection that was not recorded stops the read.
fn required_file(root: &Path, path: &Path) -> Result<()> {
    if std::fs::symlink_metadata(path).is_err() {
        return Err(Error::inconsistent(
            path.display().to_string(),
            "is missing: a tenant directory must record this collection (an empty one is written {\"value\": []})",
        ));
    }
    check_inside(root, path)
}

/// Reads a collection file inside `root`, or nothing when it is optional and absent.
fn read_collection<T: DeserializeOwned>(
    root: &Path,
    path: &Path,
    required: bool,
) -> Result<Vec<T>> {
    if !required && std::fs::symlink_metadata(path).is_err() {
        return Ok(Vec::new());
    }
    required_file(root, path)?;
    Ok(read_json::<Collection<T>>(path)?.value)
}

/// Which per-resource collection a holdings file records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldingsKind {
    Members,
    Owners,
    AppRoleAssignedTo,
}

/// The per-resource collections of a tenant directory — members and owners of each group, the
/// `appRoleAssignedTo` of each service principal — left on disk by [`TenantDir::read_lazily`]
/// until [`Holdings::load`] reads those wanted. They are most of a tenant's bytes, and an audit
/// needs only the collections some package governs, as a live read does.
#[derive(Debug, Clone)]
pub struct Holdings {
    root: PathBuf,
    /// Lower-cased group id and its folder, sorted.
    groups: Vec<(String, PathBuf)>,
    /// Lower-cased service principal id and its folder, sorted.
    service_principals: Vec<(String, PathBuf)>,
}

/// The per-resource collections [`Holdings::read_wanted`] read, keyed as [`TenantDir`]'s.
#[derive(Debug, Default)]
pub struct LoadedHoldings {
    pub members: HashMap<String, Vec<DirectoryObject>>,
    pub owners: HashMap<String, Vec<DirectoryObject>>,
    pub app_role_assigned_to: HashMap<String, Vec<AppRoleAssignment>>,
}

/// One file's collection, read: members or owners, or app role assignments.
enum Loaded {
    Objects(Vec<DirectoryObject>),
    Assignments(Vec<AppRoleAssignment>),
}

impl Holdings {
    /// Each assignment of `assignments.json`, its ids checked, read one at a time. The outer
    /// error is the file's (syntax, an id of the wrong form); the inner one is `each`'s.
    pub fn each_assignment<E>(
        &self,
        each: impl FnMut(AccessPackageAssignment) -> std::result::Result<(), E>,
    ) -> Result<std::result::Result<(), E>> {
        self.each_checked(ASSIGNMENTS_FILE, ids::check_assignment, each)
    }

    /// Each user of `users.json`, its id checked, read one at a time.
    pub fn each_user<E>(
        &self,
        each: impl FnMut(User) -> std::result::Result<(), E>,
    ) -> Result<std::result::Result<(), E>> {
        self.each_checked(
            USERS_FILE,
            |user: &User, origin| ids::check_guid(&user.id, "user id", origin),
            each,
        )
    }

    /// Each element of a core collection, checked by `check` before `each` sees it.
    fn each_checked<T: DeserializeOwned, E>(
        &self,
        file: &str,
        check: impl Fn(&T, &str) -> Result<()>,
        mut each: impl FnMut(T) -> std::result::Result<(), E>,
    ) -> Result<std::result::Result<(), E>> {
        let path = self.root.join(file);
        let origin = path.display().to_string();
        let mut bad_id = None;
        let read = read_each(&path, |element: T| {
            if let Err(e) = check(&element, &origin) {
                bad_id = Some(e);
                return Err(None);
            }
            each(element).map_err(Some)
        })?;
        Self::settle(read, bad_id)
    }

    /// A streamed read's outcome: a bad id is the file's error, any other stop `each`'s.
    fn settle<E>(
        read: std::result::Result<(), Option<E>>,
        bad_id: Option<Error>,
    ) -> Result<std::result::Result<(), E>> {
        match (read, bad_id) {
            (_, Some(error)) => Err(error),
            (Ok(()), None) => Ok(Ok(())),
            (Err(Some(error)), None) => Ok(Err(error)),
            (Err(None), None) => Ok(Ok(())),
        }
    }

    /// Reads the wanted collections into `dir` ([`Holdings::read_wanted`]).
    pub fn load(
        &self,
        dir: &mut TenantDir,
        wanted: impl Fn(HoldingsKind, &str) -> bool + Sync,
    ) -> Result<()> {
        let loaded = self.read_wanted(wanted)?;
        dir.members.extend(loaded.members);
        dir.owners.extend(loaded.owners);
        dir.app_role_assigned_to.extend(loaded.app_role_assigned_to);
        Ok(())
    }

    /// Reads the wanted collections, files side by side on every core. A file absent was not
    /// recorded and gets no entry (absence is not emptiness). The first error, in the
    /// directory's order, is returned, so a run fails the same way every time.
    pub fn read_wanted(
        &self,
        wanted: impl Fn(HoldingsKind, &str) -> bool + Sync,
    ) -> Result<LoadedHoldings> {
        let mut dir = LoadedHoldings::default();
        let mut work: Vec<(HoldingsKind, &str, PathBuf)> = Vec::new();
        for (id, folder) in &self.groups {
            for (kind, file) in [
                (HoldingsKind::Members, MEMBERS_FILE),
                (HoldingsKind::Owners, OWNERS_FILE),
            ] {
                if wanted(kind, id) {
                    work.push((kind, id, folder.join(file)));
                }
            }
        }
        for (id, folder) in &self.service_principals {
            if wanted(HoldingsKind::AppRoleAssignedTo, id) {
                work.push((
                    HoldingsKind::AppRoleAssignedTo,
                    id,
                    folder.join(APP_ROLE_ASSIGNED_TO_FILE),
                ));
            }
        }
        let root = self.root.as_path();
        let read = |(kind, _, path): &(HoldingsKind, &str, PathBuf)| -> Result<Option<Loaded>> {
            Ok(match kind {
                HoldingsKind::AppRoleAssignedTo => {
                    read_recorded(root, path)?.map(Loaded::Assignments)
                }
                _ => read_recorded(root, path)?.map(Loaded::Objects),
            })
        };
        let results = parallel_map(&work, read);
        for ((kind, id, _), result) in work.iter().zip(results) {
            match (kind, result?) {
                (_, None) => {}
                (HoldingsKind::Members, Some(Loaded::Objects(list))) => {
                    dir.members.insert(id.to_string(), list);
                }
                (HoldingsKind::Owners, Some(Loaded::Objects(list))) => {
                    dir.owners.insert(id.to_string(), list);
                }
                (_, Some(Loaded::Assignments(list))) => {
                    dir.app_role_assigned_to.insert(id.to_string(), list);
                }
                (HoldingsKind::AppRoleAssignedTo, Some(Loaded::Objects(_))) => {
                    unreachable!("app role assignments are read as assignments")
                }
            }
        }
        Ok(dir)
    }
}

/// `f` over `items` on as many threads as there are cores (items interleaved, so that large
/// and small files spread evenly), results in the items' order.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len().max(1));
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let f = &f;
    let parts: Vec<Vec<(usize, R)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    items
                        .iter()
                        .enumerate()
                        .skip(t)
                        .step_by(threads)
                        .map(|(i, item)| (i, f(item)))
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut slots: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    for (i, r) in parts.into_iter().flatten() {
        slots[i] = Some(r);
    }
    slots.into_iter().flatten().collect()
}

impl TenantDir {
    /// Reads the whole directory, every per-resource collection included (fake-graph serves
    /// them all).
    pub fn read(root: &Path) -> Result<Self> {
        let (mut dir, holdings) = Self::read_lazily(root)?;
        let mut assignments = Vec::new();
        holdings.each_assignment(|a| {
            assignments.push(a);
            Ok::<(), Error>(())
        })??;
        let mut users = Vec::new();
        holdings.each_user(|u| {
            users.push(u);
            Ok::<(), Error>(())
        })??;
        dir.assignments = assignments;
        dir.users = users;
        holdings.load(&mut dir, |_, _| true)?;
        Ok(dir)
    }

    /// Reads and checks everything but the largest collections, which [`Holdings`] reads on
    /// request: the assignments and the users (element by element, never held whole:
    /// [`Holdings::each_assignment`], [`Holdings::each_user`]) and the per-resource lists
    /// ([`Holdings::load`]). `assignments` and `users` are left empty.
    pub fn read_lazily(root: &Path) -> Result<(Self, Holdings)> {
        if !root.is_dir() {
            return Err(Error::NotADirectory {
                path: root.to_path_buf(),
            });
        }
        check_inside(root, &root.join(TENANT_FILE))?;
        let tenant: TenantInfo = read_json(&root.join(TENANT_FILE))?;
        // The request and audit-log lists parse beside the core ones.
        let (packages, groups, service_principals, assignment_requests, directory_audits) =
            std::thread::scope(|scope| {
                let requests = scope.spawn(|| read_optional(root, ASSIGNMENT_REQUESTS_FILE));
                let audits = scope.spawn(|| read_optional(root, DIRECTORY_AUDITS_FILE));
                let packages =
                    read_collection::<AccessPackage>(root, &root.join(PACKAGES_FILE), true);
                let groups = read_collection::<Group>(root, &root.join(GROUPS_FILE), true);
                let service_principals = read_collection::<ServicePrincipal>(
                    root,
                    &root.join(SERVICE_PRINCIPALS_FILE),
                    true,
                );
                (
                    packages,
                    groups,
                    service_principals,
                    requests
                        .join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p)),
                    audits
                        .join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p)),
                )
            });
        // A core collection that was not recorded stops the read before anything is parsed.
        for name in [ASSIGNMENTS_FILE, USERS_FILE] {
            required_file(root, &root.join(name))?;
        }
        let (packages, groups, service_principals) = (packages?, groups?, service_principals?);
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
        let holdings = Holdings {
            root: root.to_path_buf(),
            groups: sub_dirs(root, &root.join(GROUPS_DIR), "group", &group_ids)?,
            service_principals: sub_dirs(
                root,
                &root.join(SERVICE_PRINCIPALS_DIR),
                "service principal",
                &sp_ids,
            )?,
        };
        let dir = TenantDir {
            root: root.to_path_buf(),
            tenant,
            packages,
            assignments: Vec::new(),
            users: Vec::new(),
            groups,
            service_principals,
            members: HashMap::new(),
            owners: HashMap::new(),
            app_role_assigned_to: HashMap::new(),
            role_assignments: read_optional(root, ROLE_ASSIGNMENTS_FILE)?,
            role_eligibility_schedules: read_optional(root, ROLE_ELIGIBILITY_FILE)?,
            assignment_requests: assignment_requests?,
            directory_audits: directory_audits?,
            sharepoint: RecordedSharePoint::read(root)?,
        };
        dir.check_ids()?;
        Ok((dir, holdings))
    }

    /// Every id that may reach a Graph URL or filter is of the expected form; an error names
    /// the file and the object.
    fn check_ids(&self) -> Result<()> {
        let file = |name: &str| self.root.join(name).display().to_string();
        for package in &self.packages {
            ids::check_package(package, &file(PACKAGES_FILE))?;
        }
        for assignment in &self.assignments {
            ids::check_assignment(assignment, &file(ASSIGNMENTS_FILE))?;
        }
        for user in &self.users {
            ids::check_guid(&user.id, "user id", &file(USERS_FILE))?;
        }
        for group in &self.groups {
            ids::check_guid(&group.id, "group id", &file(GROUPS_FILE))?;
        }
        for role in self.role_assignments.iter().flatten() {
            ids::check_guid(
                &role.principal_id,
                "principal id",
                &file(ROLE_ASSIGNMENTS_FILE),
            )?;
        }
        for role in self.role_eligibility_schedules.iter().flatten() {
            ids::check_guid(
                &role.principal_id,
                "principal id",
                &file(ROLE_ELIGIBILITY_FILE),
            )?;
        }
        for request in self.assignment_requests.iter().flatten() {
            ids::check_guid(
                &request.id,
                "assignment request id",
                &file(ASSIGNMENT_REQUESTS_FILE),
            )?;
        }
        for principal in &self.service_principals {
            ids::check_guid(
                &principal.id,
                "service principal id",
                &file(SERVICE_PRINCIPALS_FILE),
            )?;
        }
        Ok(())
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
fn sub_dirs(
    root: &Path,
    dir: &Path,
    kind: &str,
    known: &HashSet<String>,
) -> Result<Vec<(String, PathBuf)>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    check_inside(root, dir)?;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        check_inside(root, &path)?;
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
            serde_json::to_writer(&mut writer, value).map_err(|e| Error::io(path, e.into()))?;
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
        for (file, items) in [
            (
                ROLE_ASSIGNMENTS_FILE,
                self.role_assignments.as_ref().map(|v| collection(v)),
            ),
            (
                ROLE_ELIGIBILITY_FILE,
                self.role_eligibility_schedules
                    .as_ref()
                    .map(|v| collection(v)),
            ),
            (
                ASSIGNMENT_REQUESTS_FILE,
                self.assignment_requests.as_ref().map(|v| collection(v)),
            ),
            (
                DIRECTORY_AUDITS_FILE,
                self.directory_audits.as_ref().map(|v| collection(v)),
            ),
        ] {
            if let Some(items) = items {
                put(&root.join(file), &items)?;
            }
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
        if let Some(sharepoint) = &self.sharepoint {
            put(
                &root.join(SHAREPOINT_DIR).join(SITES_FILE),
                &collection(&sharepoint.sites),
            )?;
            for ((key, group), users) in &sharepoint.users {
                put(
                    &root.join(RecordedSharePoint::users_path(key, *group)),
                    &collection(users),
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parallel_map;

    #[test]
    fn parallel_map_keeps_the_items_order() {
        let items: Vec<u32> = (0..1_001).collect();
        assert_eq!(
            parallel_map(&items, |i| i * 2),
            (0..1_001).map(|i| i * 2).collect::<Vec<_>>()
        );
        assert!(parallel_map(&[] as &[u32], |i| *i).is_empty());
    }
}
