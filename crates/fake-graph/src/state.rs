//! The fake Graph server's mutable state: the tenant's objects (served verbatim as the tenant
//! directory stores them), the directory audit log, issued tokens and the client each belongs
//! to, request counters, the fake's clock, and the effect of reprocess (assignments and
//! assignment requests).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use entra_model::model::{AccessPackage, AccessPackageAssignment};
use entra_model::tenant_dir::{self, TenantDir};

use super::audit_log;

/// Locks a mutex, taking the data of a poisoned one (a panicking handler leaves consistent
/// data behind: every mutation is a single push).
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
    fn push(&mut self, item: Value) {
        if let Some(id) = item.get("id").and_then(Value::as_str) {
            self.index.insert(id.to_ascii_lowercase(), self.items.len());
        }
        self.items.push(item);
    }
}

/// The tenant as served.
#[derive(Debug)]
pub struct Data {
    pub tenant_id: String,
    pub packages: Table,
    pub assignments: Table,
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
    /// Successful reprocess calls of both kinds (what `fail_writes_after` counts).
    pub reprocess_successes: u64,
    /// The fake's clock: `None` is the real UTC time ([`Data::now`]).
    pub clock: Option<DateTime<Utc>>,
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
        if entry.path().is_dir() {
            let id = entry.file_name().to_string_lossy().to_ascii_lowercase();
            found.insert(id, read_raw(&entry.path().join(file))?);
        }
    }
    Ok(found)
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
            tenant_id: checked.tenant.id,
            packages: Table::new(read_raw(&root.join(tenant_dir::PACKAGES_FILE))?),
            assignments: Table::new(read_raw(&root.join(tenant_dir::ASSIGNMENTS_FILE))?),
            users,
            users_by_upn,
            groups: Table::new(read_raw(&root.join(tenant_dir::GROUPS_FILE))?),
            service_principals: Table::new(read_raw(
                &root.join(tenant_dir::SERVICE_PRINCIPALS_FILE),
            )?),
            members: read_sub_collections(&groups_dir, tenant_dir::MEMBERS_FILE)?,
            owners: read_sub_collections(&groups_dir, tenant_dir::OWNERS_FILE)?,
            app_role_assigned_to: read_sub_collections(
                &root.join(tenant_dir::SERVICE_PRINCIPALS_DIR),
                tenant_dir::APP_ROLE_ASSIGNED_TO_FILE,
            )?,
            role_assignments: read_identified(&root.join(ROLE_ASSIGNMENTS_FILE))?,
            role_eligibility_schedules: read_identified(
                &root.join(ROLE_ELIGIBILITY_SCHEDULES_FILE),
            )?,
            assignment_requests: read_identified(&root.join(ASSIGNMENT_REQUESTS_FILE))?,
            directory_audits: read_audits(&root.join(DIRECTORY_AUDITS_FILE))?,
            reprocess_counts: BTreeMap::new(),
            request_reprocess_counts: BTreeMap::new(),
            reprocess_successes: 0,
            clock: None,
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

    /// Re-enforces the resource roles of a delivered assignment: adds its target as a direct
    /// member / owner of each group role and as an app role assignment of each application
    /// role, where the resource exists and the grant is missing; and for each directory role
    /// (`originSystem` `DirectoryRole`, scope `originId` = role definition id) a tenant-wide
    /// (`directoryScopeId` `/`) eligibility schedule with `memberType` `Direct` (role `originId`
    /// `Eligible`) or role assignment (any other role `originId`, e.g. `Active`) when the target
    /// holds none. Returns what it added.
    pub fn restore_access(&mut self, assignment: &AccessPackageAssignment) -> usize {
        let Some(principal) = assignment.target.as_ref().and_then(|t| t.object_id.clone()) else {
            return 0;
        };
        let package = assignment
            .access_package
            .as_ref()
            .and_then(|p| p.id.as_deref())
            .and_then(|id| self.packages.get(id))
            .and_then(|p| serde_json::from_value::<AccessPackage>(p.clone()).ok());
        let Some(package) = package else {
            return 0;
        };
        let now = self.now();
        let mut added = 0;
        for scope in package.resource_role_scopes.unwrap_or_default() {
            let (Some(role), Some(resource)) = (scope.role, scope.scope) else {
                continue;
            };
            let system = role.origin_system.unwrap_or_default().to_ascii_lowercase();
            let role_origin = role.origin_id.unwrap_or_default();
            let Some(resource_id) = resource.origin_id else {
                continue;
            };
            match system.as_str() {
                "aadgroup" => {
                    let lower = role_origin.to_ascii_lowercase();
                    let list = if lower.starts_with("member_") {
                        &mut self.members
                    } else if lower.starts_with("owner_") {
                        &mut self.owners
                    } else {
                        continue;
                    };
                    if !self.groups.contains(&resource_id) {
                        continue;
                    }
                    let entries = list.entry(resource_id.to_ascii_lowercase()).or_default();
                    if !entries.iter().any(|o| same_id(o.get("id"), &principal)) {
                        entries
                            .push(json!({"@odata.type": "#microsoft.graph.user", "id": principal}));
                        added += 1;
                    }
                }
                "directoryrole" => {
                    if role_origin.eq_ignore_ascii_case("eligible") {
                        let present = self.role_eligibility_schedules.items.iter().any(|s| {
                            holds_role(s, &principal, &resource_id)
                                && s.get("memberType")
                                    .and_then(Value::as_str)
                                    .is_none_or(|m| m.eq_ignore_ascii_case("direct"))
                        });
                        if !present {
                            let id = random_guid();
                            let at = timestamp(now);
                            self.role_eligibility_schedules.push(json!({
                                "id": id,
                                "principalId": principal,
                                "roleDefinitionId": resource_id,
                                "directoryScopeId": "/",
                                "appScopeId": null,
                                "createdUsing": id,
                                "createdDateTime": at,
                                "modifiedDateTime": null,
                                "status": "Provisioned",
                                "memberType": "Direct",
                                "scheduleInfo": {
                                    "startDateTime": at,
                                    "recurrence": null,
                                    "expiration": {"type": "noExpiration", "endDateTime": null, "duration": null},
                                },
                            }));
                            added += 1;
                        }
                    } else {
                        let present = self
                            .role_assignments
                            .items
                            .iter()
                            .any(|a| holds_role(a, &principal, &resource_id));
                        if !present {
                            self.role_assignments.push(json!({
                                "id": random_assignment_id(),
                                "principalId": principal,
                                "resourceScope": "/",
                                "directoryScopeId": "/",
                                "roleDefinitionId": resource_id,
                            }));
                            added += 1;
                        }
                    }
                }
                "aadapplication" => {
                    if !self.service_principals.contains(&resource_id) {
                        continue;
                    }
                    let entries = self
                        .app_role_assigned_to
                        .entry(resource_id.to_ascii_lowercase())
                        .or_default();
                    let present = entries.iter().any(|a| {
                        same_id(a.get("principalId"), &principal)
                            && same_id(a.get("appRoleId"), &role_origin)
                    });
                    if !present {
                        entries.push(json!({
                            "id": random_assignment_id(),
                            "appRoleId": role_origin,
                            "createdDateTime": timestamp(now),
                            "principalId": principal,
                            "principalType": "User",
                            "resourceId": resource_id,
                        }));
                        added += 1;
                    }
                }
                _ => {}
            }
        }
        added
    }
}

fn same_id(value: Option<&Value>, id: &str) -> bool {
    value
        .and_then(Value::as_str)
        .is_some_and(|v| v.eq_ignore_ascii_case(id))
}

/// A role assignment or eligibility schedule of `principal` for `role` at the tenant scope
/// (an absent `directoryScopeId` counts as `/`).
fn holds_role(item: &Value, principal: &str, role: &str) -> bool {
    same_id(item.get("principalId"), principal)
        && same_id(item.get("roleDefinitionId"), role)
        && item
            .get("directoryScopeId")
            .and_then(Value::as_str)
            .is_none_or(|scope| scope == "/")
}

/// Graph's timestamp form, to the second.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A random GUID (version 4 form).
fn random_guid() -> String {
    let mut bytes: [u8; 16] = rand::rng().random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
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

/// An id shaped like Graph's appRoleAssignment ids (43 base64url characters).
fn random_assignment_id() -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn reprocess_restores_group_and_app_roles_once() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/contoso");
        let mut data = Data::load(&root).unwrap();
        // Adele's Finance Analysts assignment: member of 15f02b30…, app role 8fb69c55… on de04b46d….
        let raw = data
            .assignments
            .get("3B280E9F-A116-499A-BEBC-FB9CCAE627B7")
            .unwrap()
            .clone();
        let assignment: AccessPackageAssignment = serde_json::from_value(raw).unwrap();
        let adele = "94db7a08-d8e3-49ea-a571-f2e8f55015b0";
        let group = "15f02b30-b055-4983-ba88-8d6ab2e2d0dc";
        let sp = "de04b46d-fab4-48fd-9ec3-1eb67c11a4e6";
        assert_eq!(data.restore_access(&assignment), 0, "nothing missing");
        data.members
            .get_mut(group)
            .unwrap()
            .retain(|m| !same_id(m.get("id"), adele));
        data.app_role_assigned_to
            .get_mut(sp)
            .unwrap()
            .retain(|a| !same_id(a.get("principalId"), adele));
        assert_eq!(data.restore_access(&assignment), 2);
        let member = data.members[group].last().unwrap();
        assert_eq!(
            member,
            &json!({"@odata.type": "#microsoft.graph.user", "id": adele})
        );
        let grant = data.app_role_assigned_to[sp].last().unwrap();
        assert_eq!(grant["appRoleId"], "8fb69c55-9790-4800-a904-65ad91ce2fc7");
        assert_eq!(grant["principalType"], "User");
        assert_eq!(grant["id"].as_str().unwrap().len(), 43);
        assert_eq!(data.restore_access(&assignment), 0, "idempotent");
        assert!(data.user("ADELE.VANCE@contoso.example").is_some());
        assert!(data.user(&adele.to_ascii_uppercase()).is_some());
    }
}
