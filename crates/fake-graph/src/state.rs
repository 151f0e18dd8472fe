//! The fake Graph server's mutable state: the tenant's objects (served verbatim as the tenant
//! directory stores them), the directory audit log, issued tokens and the client each belongs
//! to, request counters and the fake's clock. What writes do to the tenant lives in the
//! `access` module (grants added and taken away) and the dispatch's write handlers.

use std::collections::{BTreeMap, HashMap};
use std::ops::Deref;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use entra_model::tenant_dir::{self, TenantDir};

use super::audit_log;

/// Locks a mutex, taking the data of a poisoned one. Writes check everything (body, ids,
/// states) before they change anything, and then only push, retain or set fields, none of
/// which panics: a poisoned lock does not mean half-applied data.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What `GET /_fake/stats` answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FakeStats {
    /// HTTP requests below `/v1.0/` (a `$batch` envelope counts once; token requests and
    /// `/_fake/` requests are not counted).
    pub requests: u64,
    /// Requests inside `$batch` envelopes.
    pub batch_inner_requests: u64,
    /// Sum of the `x-ms-resource-unit` values sent (direct and inner responses, whatever
    /// their status; a `$batch` envelope sends 0).
    pub resource_units: u64,
    /// `429` answers, direct and inner (the audit log's included: see `audit_log_throttled`).
    pub throttled: u64,
    pub tokens_issued: u64,
    /// SharePoint REST requests (the second origin), and of those the `429` answers.
    #[serde(default)]
    pub sharepoint_requests: u64,
    #[serde(default)]
    pub sharepoint_throttled: u64,
    /// Successful (`202`) reprocess calls per assignment id (as spelled in assignments.json).
    pub reprocess: BTreeMap<String, u64>,
    /// Successful (`202`) `assignmentRequests/{id}/reprocess` calls per request id (as spelled
    /// in assignmentRequests.json).
    #[serde(default)]
    pub request_reprocess: BTreeMap<String, u64>,
    /// Authenticated requests below `auditLogs/` (the directory audit log), direct and inner,
    /// whatever their answer; they are also counted in `requests` / `batch_inner_requests`.
    #[serde(default)]
    pub audit_log_requests: u64,
    /// Of those, the `429` answers of the reports limit (`--reports-limit`).
    #[serde(default)]
    pub audit_log_throttled: u64,
    /// Successful (`201`) `adminRemove` assignment requests. The access such a request takes
    /// away is not counted in the three removal counters below (those count DELETE calls).
    #[serde(default)]
    pub admin_removes: u64,
    /// Successful (`204`) `DELETE groups/{id}/members/{id}/$ref` calls.
    #[serde(default)]
    pub member_removals: u64,
    /// Successful (`204`) `DELETE groups/{id}/owners/{id}/$ref` calls.
    #[serde(default)]
    pub owner_removals: u64,
    /// Successful (`204`) `DELETE servicePrincipals/{id}/appRoleAssignedTo/{id}` calls.
    #[serde(default)]
    pub app_role_removals: u64,
    /// Successful SharePoint `removeById` calls.
    #[serde(default)]
    pub site_user_removals: u64,
    /// Responses, direct and inner, that carried `x-ms-throttle-limit-percentage` (more than
    /// 0.8 of the `--throttle-ru` budget spent, `429`s of that budget included).
    #[serde(default)]
    pub throttle_warnings: u64,
}

#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub batch_inner_requests: AtomicU64,
    pub resource_units: AtomicU64,
    pub throttled: AtomicU64,
    pub tokens_issued: AtomicU64,
    pub audit_log_requests: AtomicU64,
    pub audit_log_throttled: AtomicU64,
    pub throttle_warnings: AtomicU64,
    pub sharepoint_requests: AtomicU64,
    pub sharepoint_throttled: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A stored collection with a case-insensitive id index.
#[derive(Debug, Default)]
pub struct Table {
    pub items: Vec<Value>,
    index: HashMap<String, usize>,
}

impl Table {
    fn new(items: Vec<Value>) -> Self {
        let index = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| Some((item.get("id")?.as_str()?.to_ascii_lowercase(), i)))
            .collect();
        Table { items, index }
    }

    pub fn get(&self, id: &str) -> Option<&Value> {
        self.index
            .get(&id.to_ascii_lowercase())
            .map(|&i| &self.items[i])
    }

    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(&id.to_ascii_lowercase())
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Value> {
        let &i = self.index.get(&id.to_ascii_lowercase())?;
        self.items.get_mut(i)
    }

    /// Appends an item (indexed by its `id`, which the caller makes unique).
    pub(crate) fn push(&mut self, item: Value) {
        if let Some(id) = item.get("id").and_then(Value::as_str) {
            self.index.insert(id.to_ascii_lowercase(), self.items.len());
        }
        self.items.push(item);
    }
}

/// The stored assignments: a [`Table`] to read (through `Deref`), plus positions by access
/// package. Clients read assignments one package at a time (`$filter=accessPackage/id eq
/// '…'`, thousands of packages), and scanning every assignment for each such request is far
/// too slow on a large tenant. There is no `DerefMut`: every change goes through
/// [`Assignments::update`], so the package index cannot go stale.
#[derive(Debug, Default)]
pub struct Assignments {
    table: Table,
    /// [`package_key`] → positions in `items`, ascending (stored order, which pages keep).
    by_package: HashMap<String, Vec<usize>>,
}

/// The key an assignment is indexed under: its `accessPackage.id`, ASCII-lower-cased (as
/// filters compare it with `eq_ignore_ascii_case`). `None`: it belongs to no package a
/// filter can name.
fn package_key(item: &Value) -> Option<String> {
    item.pointer("/accessPackage/id")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
}

fn lower_id(item: &Value) -> Option<String> {
    item.get("id")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
}

impl Assignments {
    pub fn new(items: Vec<Value>) -> Self {
        let mut by_package: HashMap<String, Vec<usize>> = HashMap::new();
        for (position, item) in items.iter().enumerate() {
            if let Some(key) = package_key(item) {
                by_package.entry(key).or_default().push(position);
            }
        }
        Assignments {
            table: Table::new(items),
            by_package,
        }
    }

    /// Positions in `items` of the assignments of `package` (compared case-insensitively), in
    /// stored order.
    pub fn of_package(&self, package: &str) -> &[usize] {
        self.by_package
            .get(&package.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Changes the assignment `id` in place and re-indexes it (its package, and its id, may
    /// change). `false`: no such assignment, nothing changed.
    pub fn update(&mut self, id: &str, change: impl FnOnce(&mut Value)) -> bool {
        let Some(&position) = self.table.index.get(&id.to_ascii_lowercase()) else {
            return false;
        };
        let item = &mut self.table.items[position];
        let (old_package, old_id) = (package_key(item), lower_id(item));
        change(item);
        let (new_package, new_id) = (package_key(item), lower_id(item));
        if old_package != new_package {
            if let Some(key) = old_package {
                if let Some(positions) = self.by_package.get_mut(&key) {
                    positions.retain(|&p| p != position);
                    if positions.is_empty() {
                        self.by_package.remove(&key);
                    }
                }
            }
            if let Some(key) = new_package {
                let positions = self.by_package.entry(key).or_default();
                if let Err(at) = positions.binary_search(&position) {
                    positions.insert(at, position);
                }
            }
        }
        if old_id != new_id {
            if let Some(old) = old_id {
                self.table.index.remove(&old);
            }
            if let Some(new) = new_id {
                self.table.index.insert(new, position);
            }
        }
        true
    }
}

impl Deref for Assignments {
    type Target = Table;

    fn deref(&self) -> &Table {
        &self.table
    }
}

/// The tenant as served.
#[derive(Debug)]
pub struct Data {
    pub tenant_id: String,
    /// `GET /organization`: the tenant as `tenant.json` records it (id and displayName).
    pub organization: Table,
    pub packages: Table,
    pub assignments: Assignments,
    pub users: Table,
    /// Lower-cased userPrincipalName → index in `users` (Graph accepts either in `users/{id}`).
    users_by_upn: HashMap<String, usize>,
    pub groups: Table,
    pub service_principals: Table,
    /// Lower-cased group id → direct members.
    pub members: HashMap<String, Vec<Value>>,
    pub owners: HashMap<String, Vec<Value>>,
    /// Lower-cased service principal id → appRoleAssignedTo.
    pub app_role_assigned_to: HashMap<String, Vec<Value>>,
    /// Optional files (absent: empty): active and eligible directory roles, assignment requests.
    pub role_assignments: Table,
    pub role_eligibility_schedules: Table,
    pub assignment_requests: Table,
    /// Optional `directoryAudits.json` (absent: an empty log), newest first
    /// ([`audit_log::check_and_sort`]).
    pub directory_audits: Vec<Value>,
    pub reprocess_counts: BTreeMap<String, u64>,
    pub request_reprocess_counts: BTreeMap<String, u64>,
    /// Successful writes of every kind: reprocess of assignments and of assignment requests,
    /// `adminRemove` requests, and the member / owner / app role assignment removals. One
    /// counter for all of them, so `fail_writes_after` means "after N writes" whatever their mix.
    pub write_successes: u64,
    /// Successful remedies, as [`FakeStats`] reports them.
    pub admin_removes: u64,
    pub member_removals: u64,
    pub owner_removals: u64,
    pub app_role_removals: u64,
    /// Successful SharePoint `removeById` calls (a site group's user removed).
    pub site_user_removals: u64,
    /// The fake's clock: `None` is the real UTC time ([`Data::now`]).
    pub clock: Option<DateTime<Utc>>,
    /// SharePoint sites and their groups' users, served by SharePoint REST; `None`: the
    /// directory recorded no SharePoint (every site answers `404`).
    pub sharepoint: Option<entra_model::tenant_dir::RecordedSharePoint>,
}

/// Optional tenant-directory files the fake serves (absent: an empty collection).
pub const ROLE_ASSIGNMENTS_FILE: &str = "roleAssignments.json";
pub const ROLE_ELIGIBILITY_SCHEDULES_FILE: &str = "roleEligibilitySchedules.json";
pub const ASSIGNMENT_REQUESTS_FILE: &str = "assignmentRequests.json";
pub const DIRECTORY_AUDITS_FILE: &str = "directoryAudits.json";

#[derive(Deserialize)]
struct RawCollection {
    value: Vec<Value>,
}

fn read_raw(path: &Path) -> Result<Vec<Value>, String> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    entra_model::read_json::<RawCollection>(path)
        .map(|c| c.value)
        .map_err(|e| entra_model::error::chain(&e))
}

/// An optional collection whose items are served by id: each must be an object with a
/// string `id`, else an error names the file and the item.
fn read_identified(path: &Path) -> Result<Table, String> {
    let items = read_raw(path)?;
    for (i, item) in items.iter().enumerate() {
        if item.get("id").and_then(Value::as_str).is_none() {
            return Err(format!(
                "`{}`: item {} of `value` has no string `id`",
                path.display(),
                i + 1
            ));
        }
    }
    Ok(Table::new(items))
}

/// The optional audit log: every event checked and ordered by [`audit_log::check_and_sort`],
/// else an error naming the file and the event.
fn read_audits(path: &Path) -> Result<Vec<Value>, String> {
    let mut events = read_raw(path)?;
    audit_log::check_and_sort(&mut events).map_err(|e| format!("`{}`: {e}", path.display()))?;
    Ok(events)
}

/// `<dir>/<id>/<file>` for every sub-folder, keyed by the lower-cased folder name.
fn read_sub_collections(dir: &Path, file: &str) -> Result<HashMap<String, Vec<Value>>, String> {
    let mut found = HashMap::new();
    if !dir.is_dir() {
        return Ok(found);
    }
    let entries = std::fs::read_dir(dir).map_err(|e| format!("`{}`: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("`{}`: {e}", dir.display()))?;
        // A collection without its file was not recorded: left out, and answered as such.
        if entry.path().is_dir() && entry.path().join(file).exists() {
            let id = entry.file_name().to_string_lossy().to_ascii_lowercase();
            found.insert(id, read_raw(&entry.path().join(file))?);
        }
    }
    Ok(found)
}

/// Gives every app role assignment without a string `id` a [`derived_assignment_id`]: a
/// client deletes an assignment by the `id` it listed (`DELETE
/// servicePrincipals/{id}/appRoleAssignedTo/{id}`), and recorded or generated tenants may
/// leave it out. Items that have one keep it.
fn with_assignment_ids(mut lists: HashMap<String, Vec<Value>>) -> HashMap<String, Vec<Value>> {
    for (service_principal, items) in &mut lists {
        for (position, item) in items.iter_mut().enumerate() {
            let Value::Object(object) = item else {
                continue;
            };
            if object.get("id").is_some_and(Value::is_string) {
                continue;
            }
            let field = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or_default();
            let id = derived_assignment_id(
                service_principal,
                field("principalId"),
                field("appRoleId"),
                position,
            );
            object.insert("id".into(), Value::String(id));
        }
    }
    lists
}

/// A deterministic GUID for an app role assignment recorded without an `id`: the FNV-1a
/// 128-bit hash of the (lower-cased) service principal id, principal id, app role id and the
/// item's position in its file, shaped as an RFC 9562 version 8 ("custom") UUID. The same
/// tenant directory always gets the same ids (so a test can predict them), and the position
/// keeps two otherwise identical items apart. Written out rather than `DefaultHasher`, whose
/// output may change between Rust releases.
pub fn derived_assignment_id(
    service_principal: &str,
    principal: &str,
    app_role: &str,
    position: usize,
) -> String {
    const OFFSET: u128 = 0x6c62272e07bb014263b5e3e32d7e2e1;
    const PRIME: u128 = 0x0000000001000000000000000000013b;
    let text = format!(
        "{}\n{}\n{}\n{position}",
        service_principal.to_ascii_lowercase(),
        principal.to_ascii_lowercase(),
        app_role.to_ascii_lowercase()
    );
    let hash = text.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u128::from(byte)).wrapping_mul(PRIME)
    });
    let mut bytes = hash.to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    guid_text(&bytes)
}

/// 16 bytes as `8-4-4-4-12` lower-case hex.
fn guid_text(bytes: &[u8; 16]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

impl Data {
    /// Loads a tenant directory. [`TenantDir::read`] validates it (errors name the file and
    /// position); the objects are then kept as raw JSON so that they are served verbatim.
    pub fn load(root: &Path) -> Result<Data, String> {
        let checked = TenantDir::read(root).map_err(|e| entra_model::error::chain(&e))?;
        let users = Table::new(read_raw(&root.join(tenant_dir::USERS_FILE))?);
        let users_by_upn = users
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, u)| {
                Some((
                    u.get("userPrincipalName")?.as_str()?.to_ascii_lowercase(),
                    i,
                ))
            })
            .collect();
        let groups_dir = root.join(tenant_dir::GROUPS_DIR);
        Ok(Data {
            organization: Table::new(vec![serde_json::json!({
                "id": checked.tenant.id,
                "displayName": checked.tenant.display_name,
            })]),
            tenant_id: checked.tenant.id,
            packages: Table::new(read_raw(&root.join(tenant_dir::PACKAGES_FILE))?),
            assignments: Assignments::new(read_raw(&root.join(tenant_dir::ASSIGNMENTS_FILE))?),
            users,
            users_by_upn,
            groups: Table::new(read_raw(&root.join(tenant_dir::GROUPS_FILE))?),
            service_principals: Table::new(read_raw(
                &root.join(tenant_dir::SERVICE_PRINCIPALS_FILE),
            )?),
            members: read_sub_collections(&groups_dir, tenant_dir::MEMBERS_FILE)?,
            owners: read_sub_collections(&groups_dir, tenant_dir::OWNERS_FILE)?,
            app_role_assigned_to: with_assignment_ids(read_sub_collections(
                &root.join(tenant_dir::SERVICE_PRINCIPALS_DIR),
                tenant_dir::APP_ROLE_ASSIGNED_TO_FILE,
            )?),
            role_assignments: read_identified(&root.join(ROLE_ASSIGNMENTS_FILE))?,
            role_eligibility_schedules: read_identified(
                &root.join(ROLE_ELIGIBILITY_SCHEDULES_FILE),
            )?,
            assignment_requests: read_identified(&root.join(ASSIGNMENT_REQUESTS_FILE))?,
            directory_audits: read_audits(&root.join(DIRECTORY_AUDITS_FILE))?,
            reprocess_counts: BTreeMap::new(),
            request_reprocess_counts: BTreeMap::new(),
            write_successes: 0,
            admin_removes: 0,
            member_removals: 0,
            owner_removals: 0,
            app_role_removals: 0,
            site_user_removals: 0,
            clock: None,
            sharepoint: checked.sharepoint,
        })
    }

    /// The fake's current time: the configured `now`, else the real UTC time.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.unwrap_or_else(Utc::now)
    }

    pub fn user(&self, id_or_upn: &str) -> Option<&Value> {
        self.users.get(id_or_upn).or_else(|| {
            let &i = self.users_by_upn.get(&id_or_upn.to_ascii_lowercase())?;
            self.users.items.get(i)
        })
    }
}

/// Graph's timestamp form, to the second.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A random GUID (version 4 form).
pub(crate) fn random_guid() -> String {
    let mut bytes: [u8; 16] = rand::rng().random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    guid_text(&bytes)
}

/// An id shaped like Graph's appRoleAssignment ids (43 base64url characters).
pub(crate) fn random_assignment_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..43)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// 32 random hex characters.
pub fn random_token() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Issued access tokens, the client (app) each was issued to, and the `expire_token_after`
/// fault.
#[derive(Debug, Default)]
pub struct Tokens {
    /// token → (issue sequence number, lower-cased client id)
    issued: HashMap<String, (u64, String)>,
    /// token → (the scope it was asked for, whether a client assertion (certificate) got it):
    /// SharePoint accepts a token only for its own audience, and never one from a secret.
    grants: HashMap<String, (String, bool)>,
    next_seq: u64,
    /// Tokens with a lower sequence number are rejected.
    revoked_below: u64,
    authenticated: u64,
    expire_after: Option<u64>,
}

impl Tokens {
    pub fn new(expire_after: Option<u64>) -> Self {
        Tokens {
            expire_after,
            ..Tokens::default()
        }
    }

    /// A new token for `client_id` (the per-client limits know the caller by it), asked for
    /// `scope`, by a certificate's assertion or not.
    pub fn issue_for(&mut self, client_id: &str, scope: &str, by_assertion: bool) -> String {
        let token = self.issue(client_id);
        self.grants
            .insert(token.clone(), (scope.to_ascii_lowercase(), by_assertion));
        token
    }

    /// The scope a token was asked for and whether a certificate got it.
    pub fn grant(&self, token: &str) -> Option<(String, bool)> {
        self.grants.get(token).cloned()
    }

    /// A new token for `client_id` (the per-client limits know the caller by it).
    pub fn issue(&mut self, client_id: &str) -> String {
        let token = random_token();
        self.issued.insert(
            token.clone(),
            (self.next_seq, client_id.to_ascii_lowercase()),
        );
        self.next_seq += 1;
        token
    }

    /// Checks a bearer token and answers the (lower-cased) client id it was issued to; a
    /// valid one counts as an authenticated request, and the `expire_token_after`-th such
    /// request revokes every token issued so far.
    pub fn authenticate(&mut self, token: &str) -> Option<String> {
        let client = self
            .issued
            .get(token)
            .filter(|(seq, _)| *seq >= self.revoked_below)
            .map(|(_, client)| client.clone())?;
        self.authenticated += 1;
        if self.expire_after == Some(self.authenticated) {
            self.revoked_below = self.next_seq;
        }
        Some(client)
    }
}

/// One mail as the fake accepted it.
#[derive(Debug, Clone)]
pub struct SentMail {
    /// The sender as addressed in the path.
    pub sender: String,
    pub subject: String,
    pub to: Vec<String>,
    /// `HTML` or `Text`.
    pub content_type: String,
    pub body: String,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokens_expire_after_n_requests_and_new_ones_work() {
        let mut tokens = Tokens::new(Some(2));
        let first = tokens.issue("App-1");
        assert_eq!(tokens.authenticate("nope"), None);
        assert_eq!(tokens.authenticate(&first).as_deref(), Some("app-1"));
        assert!(tokens.authenticate(&first).is_some());
        assert_eq!(
            tokens.authenticate(&first),
            None,
            "revoked after 2 requests"
        );
        let second = tokens.issue("app-2");
        assert_eq!(second.len(), 32);
        assert!(second.chars().all(|c| c.is_ascii_hexdigit()));
        for _ in 0..5 {
            assert_eq!(tokens.authenticate(&second).as_deref(), Some("app-2"));
        }
    }

    #[test]
    fn derived_assignment_ids_are_stable_guids() {
        let id = derived_assignment_id("SP-1", "User-1", "Role-1", 0);
        assert!(entra_model::ids::is_guid(&id), "{id}");
        assert_eq!(&id[14..15], "8", "version 8");
        assert!("89ab".contains(&id[19..20]), "RFC 9562 variant: {id}");
        assert_eq!(id, derived_assignment_id("sp-1", "user-1", "role-1", 0));
        assert_ne!(id, derived_assignment_id("sp-1", "user-1", "role-1", 1));
        assert_ne!(id, derived_assignment_id("sp-1", "user-2", "role-1", 0));
        // Pinned (FNV-1a 128 of "sp-1\nuser-1\nrole-1\n0", computed independently): the same
        // tenant directory gets the same ids on every run and build.
        assert_eq!(id, "f2115f9e-97af-883c-a415-58fedf34cc5f");
        assert!(random_guid() != random_guid());
    }

    #[test]
    fn assignments_are_indexed_by_package_case_insensitively_and_stay_indexed() {
        let assignment = |id: &str, package: Option<&str>| match package {
            Some(package) => {
                json!({"id": id, "state": "delivered", "accessPackage": {"id": package}})
            }
            None => json!({"id": id, "state": "delivered"}),
        };
        let mut assignments = Assignments::new(vec![
            assignment("a0", Some("P1")),
            assignment("a1", Some("p2")),
            assignment("a2", None),
            assignment("a3", Some("p1")),
            json!({"id": "a4", "accessPackage": {"id": 7}}),
            assignment("a5", Some("P2")),
        ]);
        assert_eq!(assignments.of_package("p1"), [0, 3]);
        assert_eq!(assignments.of_package("P2"), [1, 5]);
        assert!(assignments.of_package("p3").is_empty());
        assert_eq!(assignments.items.len(), 6, "read through Deref");

        // A change that keeps the package keeps the index as it is.
        assert!(assignments.update("A3", |a| a["state"] = json!("expired")));
        assert_eq!(assignments.get("a3").unwrap()["state"], "expired");
        assert_eq!(assignments.of_package("p1"), [0, 3]);
        // Moving packages keeps both lists in stored order; an emptied list goes.
        assert!(assignments.update("a0", |a| a["accessPackage"]["id"] = json!("P2")));
        assert_eq!(assignments.of_package("p1"), [3]);
        assert_eq!(assignments.of_package("p2"), [0, 1, 5]);
        assert!(assignments.update("a2", |a| a["accessPackage"] = json!({"id": "p1"})));
        assert!(assignments.update("a3", |a| a["accessPackage"] = Value::Null));
        assert_eq!(assignments.of_package("p1"), [2]);
        assert!(assignments.update("a2", |a| a["accessPackage"] = Value::Null));
        assert!(assignments.of_package("p1").is_empty());
        assert!(!assignments.by_package.contains_key("p1"));
        // A new id is found under it, the old one no more.
        assert!(assignments.update("a5", |a| a["id"] = json!("B5")));
        assert!(assignments.get("a5").is_none());
        assert_eq!(assignments.get("b5").unwrap()["id"], "B5");
        assert!(!assignments.update("nope", |_| panic!("not called")));
    }

    #[test]
    fn only_assignments_without_a_string_id_get_one() {
        let items = vec![
            json!({"id": "kept", "principalId": "p", "appRoleId": "r"}),
            json!({"principalId": "p", "appRoleId": "r"}),
            json!({"id": null, "principalId": "p", "appRoleId": "r"}),
            json!("not an object"),
        ];
        let lists = with_assignment_ids(HashMap::from([("sp".to_string(), items)]));
        let items = &lists["sp"];
        assert_eq!(items[0]["id"], "kept");
        assert_eq!(
            items[1]["id"],
            json!(derived_assignment_id("sp", "p", "r", 1))
        );
        assert_eq!(
            items[2]["id"],
            json!(derived_assignment_id("sp", "p", "r", 2))
        );
        assert_ne!(items[1]["id"], items[2]["id"]);
        assert_eq!(items[3], json!("not an object"));
    }
}
