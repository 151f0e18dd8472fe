//! Synthetic tenants with known drift: a seed and a size give a tenant directory (or a stored
//! snapshot) and the findings it must produce. The truth is recorded as the drift is
//! injected, never computed by the audit's rules.

mod log;
mod truth;

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::model::{
    AccessPackage, AccessPackageAssignment, DirectoryObject, Group, ServicePrincipal, TenantInfo,
    User,
};
use entra_model::tenant_dir::TenantDir;
pub use truth::{write_truth, TruthRow};

/// How big a tenant, and how much drift of each kind.
#[derive(Debug, Clone)]
pub struct Profile {
    pub users: usize,
    pub packages: usize,
    pub governed_groups: usize,
    pub applications: usize,
    pub assignments: usize,
    /// Groups no package governs, and the members each holds (the bulk of real memberships).
    pub other_groups: usize,
    pub other_group_members: usize,
    /// Share of delivered assignment roles whose access was removed by hand.
    pub missing_rate: f64,
    /// Share of governed groups deleted while packages still list them.
    pub deleted_group_rate: f64,
    /// Share of packages that also deliver a SharePoint site role.
    pub sharepoint_rate: f64,
    /// Share of delivered assignments whose target has no objectId.
    pub no_object_id_rate: f64,
    /// Users given a governed role with no assignment, per assignment.
    pub unassigned_access_rate: f64,
    /// Share of expired assignments whose access was never removed.
    pub expired_kept_rate: f64,
    pub disabled_user_rate: f64,
    /// Share of packages that also deliver a directory role (eligible or active).
    pub directory_role_rate: f64,
}

impl Profile {
    pub fn named(name: &str) -> Option<Profile> {
        let base = Profile {
            users: 1_000,
            packages: 60,
            governed_groups: 120,
            applications: 8,
            assignments: 2_000,
            other_groups: 40,
            other_group_members: 200,
            missing_rate: 0.03,
            deleted_group_rate: 0.02,
            sharepoint_rate: 0.05,
            no_object_id_rate: 0.005,
            unassigned_access_rate: 0.01,
            expired_kept_rate: 0.2,
            disabled_user_rate: 0.03,
            directory_role_rate: 0.15,
        };
        match name {
            "small" => Some(base),
            // For live benchmarks against fake-graph: big enough for throttling to bind.
            "medium" => Some(Profile {
                users: 25_000,
                packages: 2_000,
                governed_groups: 3_000,
                applications: 100,
                assignments: 30_000,
                other_groups: 300,
                other_group_members: 1_000,
                ..base
            }),
            // Entra's default quota: 300,000 assignments, 20,000 packages; ~10 M memberships.
            "large" => Some(Profile {
                users: 250_000,
                packages: 20_000,
                governed_groups: 30_000,
                applications: 1_000,
                assignments: 300_000,
                other_groups: 5_000,
                other_group_members: 1_850,
                missing_rate: 0.01,
                deleted_group_rate: 0.002,
                sharepoint_rate: 0.01,
                no_object_id_rate: 0.001,
                unassigned_access_rate: 0.005,
                ..base
            }),
            "xl" => Some(Profile {
                users: 2_000_000,
                packages: 30_000,
                governed_groups: 45_000,
                applications: 2_000,
                assignments: 3_000_000,
                other_groups: 10_000,
                other_group_members: 2_400,
                missing_rate: 0.01,
                deleted_group_rate: 0.002,
                sharepoint_rate: 0.01,
                no_object_id_rate: 0.001,
                unassigned_access_rate: 0.005,
                ..base
            }),
            _ => None,
        }
    }
}

/// A role a package delivers, as the generator models it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Role {
    Member(usize),
    Owner(usize),
    App(usize, usize),
    Site(usize),
    /// A directory role definition, eligible (`true`) or active.
    Directory(usize, bool),
}

/// Directory role definitions the generated packages deliver.
const DIRECTORY_ROLES: usize = 4;

pub struct Generated {
    pub tenant: TenantDir,
    pub truth: Vec<TruthRow>,
}

fn guid(rng: &mut StdRng) -> String {
    let v: u128 = rng.random();
    let h = format!("{v:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// The members of groups no package governs — the bulk of a tenant's memberships — are made
/// only with `ungoverned_members`: a snapshot holds the holdings of governed resources only,
/// so `--format snapshot` leaves them out (they come last from the random stream: the same seed
/// gives the same tenant either way).
pub fn generate(profile: &Profile, seed: u64, ungoverned_members: bool) -> Generated {
    let mut rng = StdRng::seed_from_u64(seed);
    let world = directory(profile, seed, &mut rng);
    let (package_roles, package_ids) = package_shapes(profile, &mut rng);
    let mut audit_log = log::Log::new(world.now, &mut rng);
    for (g, deletion) in world.deletions.iter().enumerate() {
        if let Some(actor) = deletion {
            let at = audit_log.inside(&mut rng, world.now - chrono::Duration::days(60));
            audit_log.delete_group(&world.group_ids[g], at, *actor);
        }
    }
    let mut builder = truth::Builder::new(
        &world.group_ids,
        &world.sp_ids,
        &world.app_roles,
        &world.user_ids,
        &world.enabled,
        audit_log,
    );
    let (assignments, mut owner) = assign(
        profile,
        &mut rng,
        &world,
        &package_roles,
        &package_ids,
        &mut builder,
    );
    grant_by_hand(
        profile,
        &mut rng,
        &world,
        &package_roles,
        &mut owner,
        &mut builder,
    );
    let other_ids: Vec<String> = (0..profile.other_groups).map(|_| guid(&mut rng)).collect();
    nest_groups(&world, &other_ids, &mut builder);
    // Directory roles held at another scope or through a group: never a finding.
    for d in 0..DIRECTORY_ROLES {
        let user = rng.random_range(0..profile.users);
        builder.hold_elsewhere(user, &world.key(&Role::Directory(d, d % 2 == 0)));
    }
    let (packages, groups, service_principals) =
        objects(&mut rng, &world, &package_roles, &package_ids, &other_ids);

    let deleted_ids: std::collections::HashSet<&str> = world
        .group_ids
        .iter()
        .zip(&world.deleted)
        .filter(|(_, d)| **d)
        .map(|(id, _)| id.as_str())
        .collect();
    let truth::Holdings {
        mut members,
        mut owners,
        assigned_to: mut app_role_assigned_to,
        role_assignments,
        role_eligibility,
        site_users,
        requests,
        truth,
        log: audit_log,
    } = builder.finish(|id| !deleted_ids.contains(id));
    let recorded_sharepoint = sharepoint(&site_users, &world.users);
    // Every governed group and service principal that exists is recorded, an empty collection
    // as `{"value": []}`: absence would mean "not recorded" (its roles unverifiable).
    let existing_groups: std::collections::HashSet<String> =
        groups.iter().map(|g| g.id.to_ascii_lowercase()).collect();
    let existing_principals: std::collections::HashSet<String> = service_principals
        .iter()
        .map(|s| s.id.to_ascii_lowercase())
        .collect();
    for package in &packages {
        for scope in package.resource_role_scopes.iter().flatten() {
            let (Some(role), Some(resource)) = (&scope.role, &scope.scope) else {
                continue;
            };
            let system = entra_model::enums::OriginSystem::parse(
                resource.origin_system.as_deref().unwrap_or_default(),
            );
            let id = resource
                .origin_id
                .as_deref()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let kind = role
                .origin_id
                .as_deref()
                .unwrap_or_default()
                .to_ascii_lowercase();
            match system {
                entra_model::enums::OriginSystem::AadGroup if existing_groups.contains(&id) => {
                    if kind.starts_with("owner") {
                        owners.entry(id).or_default();
                    } else {
                        members.entry(id).or_default();
                    }
                }
                entra_model::enums::OriginSystem::AadApplication
                    if existing_principals.contains(&id) =>
                {
                    app_role_assigned_to.entry(id).or_default();
                }
                _ => {}
            }
        }
    }
    // The bulk: members of groups no package governs.
    for id in other_ids.iter().filter(|_| ungoverned_members) {
        let list: Vec<DirectoryObject> = (0..profile.other_group_members)
            .map(|_| DirectoryObject {
                id: world.user_ids[rng.random_range(0..profile.users)].clone(),
                odata_type: Some("#microsoft.graph.user".into()),
            })
            .collect();
        members.insert(id.clone(), list);
    }

    Generated {
        tenant: TenantDir {
            root: std::path::PathBuf::from("(generated)"),
            tenant: world.tenant,
            packages,
            assignments,
            users: world.users,
            groups,
            service_principals,
            members,
            owners,
            app_role_assigned_to,
            role_assignments: Some(role_assignments),
            role_eligibility_schedules: Some(role_eligibility),
            assignment_requests: Some(requests),
            directory_audits: Some(audit_log.finish()),
            sharepoint: Some(recorded_sharepoint),
        },
        truth,
    }
}

/// The tenant's directory before any package: users, governed groups (some deleted),
/// applications with three roles each.
struct World {
    tenant: TenantInfo,
    user_ids: Vec<String>,
    users: Vec<User>,
    enabled: Vec<bool>,
    group_ids: Vec<String>,
    deleted: Vec<bool>,
    /// Who deleted each deleted group inside the log window (`None`: no event).
    deletions: Vec<Option<log::Actor>>,
    sp_ids: Vec<String>,
    app_roles: Vec<Vec<String>>,
    role_definitions: Vec<String>,
    /// When the tenant is generated: request completion times are relative to it.
    now: chrono::DateTime<chrono::Utc>,
}

impl World {
    fn key(&self, role: &Role) -> truth::Key {
        match role {
            Role::Directory(d, eligible) => truth::Key::directory(
                &self.role_definitions[*d],
                if *eligible { "eligible" } else { "active" },
            ),
            other => role_key(other, &self.group_ids, &self.sp_ids, &self.app_roles, &site),
        }
    }
}

fn site(i: usize) -> String {
    format!("https://synthetic.sharepoint.com/sites/site{i}")
}

/// How many sites packages draw their site roles from.
const SITES: usize = 50;

/// Sites whose group 4 shows its members only to its members: the reader cannot see them.
fn hidden_site(i: usize) -> bool {
    i % 10 == 7
}

/// The recorded SharePoint of a generated tenant: every site with its group 4 (some hiding
/// their members), and the users of the visible ones — one in five written as SharePoint
/// gives some guests, with a UPN and no object id (matched by UPN).
fn sharepoint(
    site_users: &HashMap<String, Vec<String>>,
    users: &[User],
) -> entra_model::tenant_dir::RecordedSharePoint {
    let upn_of: HashMap<String, Option<String>> = users
        .iter()
        .map(|u| (u.id.to_ascii_lowercase(), u.user_principal_name.clone()))
        .collect();
    let mut recorded = entra_model::tenant_dir::RecordedSharePoint::default();
    for i in 0..SITES {
        let key = format!("site{i}");
        let visible = !hidden_site(i);
        recorded.sites.push(entra_model::model::RecordedSite {
            url: site(i),
            key: key.clone(),
            groups: vec![entra_model::model::SiteGroup {
                id: 4,
                title: Some(format!("Site {i} Members")),
                only_allow_members_view_membership: Some(!visible),
                can_current_user_view_membership: Some(visible),
            }],
        });
        if !visible {
            continue;
        }
        let entries = site_users
            .get(&site(i))
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(n, user)| {
                let upn = upn_of.get(&user.to_ascii_lowercase()).cloned().flatten();
                let by_upn = n % 5 == 4 && upn.is_some();
                entra_model::model::SiteUser {
                    id: Some(10 + n as i64),
                    login_name: upn.as_ref().map(|u| format!("i:0#.f|membership|{u}")),
                    title: Some(format!("user {user}")),
                    principal_type: Some(1),
                    user_principal_name: upn,
                    aad_object_id: (!by_upn).then(|| entra_model::model::NameId {
                        name_id: Some(user.clone()),
                        name_id_issuer: Some("urn:federation:microsoftonline".into()),
                    }),
                }
            })
            .collect();
        recorded.users.insert((key, 4), entries);
    }
    recorded
}

fn directory(profile: &Profile, seed: u64, rng: &mut StdRng) -> World {
    let tenant = TenantInfo {
        id: guid(rng),
        display_name: Some(format!("Synthetic tenant (seed {seed})")),
        default_domain: Some("synthetic.example".into()),
        recorded_at: None,
    };
    let user_ids: Vec<String> = (0..profile.users).map(|_| guid(rng)).collect();
    let users: Vec<User> = user_ids
        .iter()
        .enumerate()
        .map(|(i, id)| User {
            id: id.clone(),
            display_name: Some(format!("User {i}")),
            user_principal_name: Some(format!("user{i}@synthetic.example")),
            account_enabled: Some(!rng.random_bool(profile.disabled_user_rate)),
            user_type: Some("Member".into()),
        })
        .collect();
    let enabled: Vec<bool> = users
        .iter()
        .map(|u| u.account_enabled == Some(true))
        .collect();
    let group_ids: Vec<String> = (0..profile.governed_groups).map(|_| guid(rng)).collect();
    let deleted: Vec<bool> = (0..profile.governed_groups)
        .map(|_| rng.random_bool(profile.deleted_group_rate))
        .collect();
    // Two of every three deleted groups have their deletion in the log; the third has none.
    let mut seen = 0;
    let deletions = deleted
        .iter()
        .map(|d| {
            if !*d {
                return None;
            }
            seen += 1;
            (seen % 3 != 0).then_some(log::Actor::Person(3))
        })
        .collect();
    let sp_ids: Vec<String> = (0..profile.applications).map(|_| guid(rng)).collect();
    let app_roles: Vec<Vec<String>> = (0..profile.applications)
        .map(|_| (0..3).map(|_| guid(rng)).collect())
        .collect();
    let role_definitions: Vec<String> = (0..DIRECTORY_ROLES).map(|_| guid(rng)).collect();
    World {
        tenant,
        user_ids,
        users,
        enabled,
        group_ids,
        deleted,
        deletions,
        sp_ids,
        app_roles,
        role_definitions,
        now: crate::clock::now().unwrap_or_else(|_| chrono::Utc::now()),
    }
}

/// Packages: 1–4 roles each, mostly group membership; then their ids.
fn package_shapes(profile: &Profile, rng: &mut StdRng) -> (Vec<Vec<Role>>, Vec<String>) {
    let mut package_roles: Vec<Vec<Role>> = Vec::with_capacity(profile.packages);
    for _ in 0..profile.packages {
        let mut roles = Vec::new();
        for _ in 0..rng.random_range(1..=3) {
            let group = rng.random_range(0..profile.governed_groups);
            let role = match rng.random_range(0..10) {
                0 => Role::Owner(group),
                1 | 2 if profile.applications > 0 => {
                    let app = rng.random_range(0..profile.applications);
                    Role::App(app, rng.random_range(0..3))
                }
                _ => Role::Member(group),
            };
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        if rng.random_bool(profile.sharepoint_rate) {
            roles.push(Role::Site(rng.random_range(0..SITES)));
        }
        if rng.random_bool(profile.directory_role_rate) {
            let role = Role::Directory(rng.random_range(0..DIRECTORY_ROLES), rng.random_bool(0.5));
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        package_roles.push(roles);
    }
    let package_ids: Vec<String> = (0..profile.packages).map(|_| guid(rng)).collect();
    (package_roles, package_ids)
}

/// Which (user, role) pairs an assignment already covers.
type Owned = HashMap<(usize, Role), ()>;

/// The assignments, each with the drift its state and the dice inject, recorded in the
/// ground truth as it is made.
fn assign(
    profile: &Profile,
    rng: &mut StdRng,
    world: &World,
    package_roles: &[Vec<Role>],
    package_ids: &[String],
    builder: &mut truth::Builder,
) -> (Vec<AccessPackageAssignment>, Owned) {
    let mut assignments = Vec::with_capacity(profile.assignments);
    // Every (user, role) belongs to at most one assignment, so each injected fault has one
    // unambiguous finding.
    let mut owner: Owned = HashMap::new();
    let mut attempts = 0;
    while assignments.len() < profile.assignments && attempts < profile.assignments * 20 {
        attempts += 1;
        let user = rng.random_range(0..profile.users);
        let package = rng.random_range(0..profile.packages);
        let roles = &package_roles[package];
        if roles.iter().any(|r| owner.contains_key(&(user, r.clone()))) {
            continue;
        }
        for role in roles {
            owner.insert((user, role.clone()), ());
        }
        let id = guid(rng);
        let state = match rng.random_range(0..1000) {
            0..=849 => "Delivered",
            850..=869 => "Delivering",
            870..=879 => "PartiallyDelivered",
            880..=889 => "DeliveryFailed",
            _ => "Expired",
        };
        let no_object_id = state == "Delivered" && rng.random_bool(profile.no_object_id_rate);
        let target = if no_object_id {
            Value::Null
        } else {
            json!(world.user_ids[user])
        };
        // Most assignments started long before the log window, some inside it.
        let days_ago = if rng.random_bool(0.3) {
            rng.random_range(3..=20)
        } else {
            rng.random_range(40..=400)
        };
        let start = world.now - chrono::Duration::days(days_ago);
        assignments.push(assignment(
            &id,
            state,
            target,
            &package_ids[package],
            user,
            start,
        ));
        let made = Made {
            id: &id,
            package: &package_ids[package],
            user,
            roles,
            start,
        };
        inject(profile, rng, world, &made, state, no_object_id, builder);
    }
    (assignments, owner)
}

/// One assignment as made: what `inject` records drift for.
struct Made<'a> {
    id: &'a str,
    package: &'a str,
    user: usize,
    roles: &'a [Role],
    /// `schedule.startDateTime`.
    start: chrono::DateTime<chrono::Utc>,
}

/// Records what one assignment's state means for its roles: held, missing, not found,
/// unverifiable, not delivered, or access left behind.
fn inject(
    profile: &Profile,
    rng: &mut StdRng,
    world: &World,
    made: &Made,
    state: &str,
    no_object_id: bool,
    builder: &mut truth::Builder,
) {
    let Made {
        id,
        package,
        user,
        roles,
        start,
    } = *made;
    match state {
        "Delivered" if no_object_id => {
            for role in roles {
                builder.unverifiable(id, package, None, world.key(role));
            }
        }
        "Delivered" => {
            for role in roles {
                let key = world.key(role);
                match role {
                    // A site whose group hides its members from the reader: unverifiable.
                    Role::Site(s) if hidden_site(*s) => {
                        builder.unverifiable(id, package, Some(user), key)
                    }
                    Role::Member(g) | Role::Owner(g) if world.deleted[*g] => {
                        builder.not_found(id, package, user, key, start, world.deletions[*g])
                    }
                    _ if rng.random_bool(profile.missing_rate) => {
                        builder.missing(id, package, user, key, start, rng)
                    }
                    _ => builder.hold(user, key),
                }
            }
        }
        "PartiallyDelivered" | "DeliveryFailed" => {
            // Its request: mostly recent (a retry is possible), some too old, a few missing.
            // Times are relative to the generation: audit the tenant within a few days.
            let request = match rng.random_range(0..20) {
                0..=13 => truth::Request::Retryable {
                    id: guid(rng),
                    completed: (world.now - chrono::Duration::days(2)).to_rfc3339(),
                },
                14..=17 => truth::Request::TooOld {
                    id: guid(rng),
                    completed: (world.now - chrono::Duration::days(30)).to_rfc3339(),
                },
                _ => truth::Request::Missing,
            };
            let graph_state = if state == "DeliveryFailed" {
                "deliveryFailed"
            } else {
                "partiallyDelivered"
            };
            builder.not_delivered(id, package, user, graph_state, request);
            if state == "PartiallyDelivered" {
                for role in roles {
                    if !matches!(role, Role::Site(_)) {
                        builder.hold_quietly(
                            user,
                            world.key(role),
                            !deleted_of(role, &world.deleted),
                        );
                    }
                }
            }
        }
        "Delivering" => {
            for role in roles {
                if !matches!(role, Role::Site(_)) && rng.random_bool(0.5) {
                    builder.hold_quietly(user, world.key(role), !deleted_of(role, &world.deleted));
                }
            }
        }
        _ => {
            // Expired: access removed, except where nobody cleaned up.
            for role in roles {
                if !matches!(role, Role::Site(_))
                    && !deleted_of(role, &world.deleted)
                    && rng.random_bool(profile.expired_kept_rate)
                {
                    let source = truth::Source::Expired { start };
                    builder.unexplained(user, world.key(role), source, rng);
                }
            }
        }
    }
}

/// Access granted by hand to users with no assignment for it.
fn grant_by_hand(
    profile: &Profile,
    rng: &mut StdRng,
    world: &World,
    package_roles: &[Vec<Role>],
    owner: &mut Owned,
    builder: &mut truth::Builder,
) {
    let governed: Vec<Role> = package_roles
        .iter()
        .flatten()
        .filter(|r| !matches!(r, Role::Site(s) if hidden_site(*s)))
        .cloned()
        .collect();
    let extra = (profile.assignments as f64 * profile.unassigned_access_rate) as usize;
    for _ in 0..extra {
        let user = rng.random_range(0..profile.users);
        let role = governed[rng.random_range(0..governed.len())].clone();
        if deleted_of(&role, &world.deleted) || owner.contains_key(&(user, role.clone())) {
            continue;
        }
        owner.insert((user, role.clone()), ());
        builder.unexplained(user, world.key(&role), truth::Source::ByHand, rng);
    }
}

/// Nested groups as members of governed groups: never a finding.
fn nest_groups(world: &World, other_ids: &[String], builder: &mut truth::Builder) {
    for (g, group_id) in world
        .group_ids
        .iter()
        .enumerate()
        .filter(|(g, _)| !world.deleted[*g])
        .step_by(7)
    {
        if let Some(nested) = other_ids.get(g % other_ids.len().max(1)) {
            builder.nested(group_id, nested);
        }
    }
}

/// The packages, groups (deleted ones left out) and service principals as Graph shows them.
fn objects(
    rng: &mut StdRng,
    world: &World,
    package_roles: &[Vec<Role>],
    package_ids: &[String],
    other_ids: &[String],
) -> (Vec<AccessPackage>, Vec<Group>, Vec<ServicePrincipal>) {
    let packages: Vec<AccessPackage> = package_ids
        .iter()
        .zip(package_roles)
        .enumerate()
        .map(|(i, (id, roles))| {
            package(
                i,
                id,
                roles,
                &world.group_ids,
                &world.sp_ids,
                &world.app_roles,
                &site,
                &world.role_definitions,
            )
        })
        .collect();
    let groups: Vec<Group> = world
        .group_ids
        .iter()
        .enumerate()
        .filter(|(g, _)| !world.deleted[*g])
        .map(|(g, id)| Group {
            id: id.clone(),
            display_name: Some(format!("Governed group {g}")),
        })
        .chain(other_ids.iter().enumerate().map(|(g, id)| Group {
            id: id.clone(),
            display_name: Some(format!("Other group {g}")),
        }))
        .collect();
    let service_principals: Vec<ServicePrincipal> = world
        .sp_ids
        .iter()
        .zip(&world.app_roles)
        .enumerate()
        .map(|(i, (id, roles))| {
            // A fixed shape of strings that the model accepts.
            serde_json::from_value(json!({"id": id, "appId": guid(rng), "displayName": format!("App {i}"),
                "appRoles": roles.iter().enumerate().map(|(r, rid)| json!({"id": rid, "displayName": format!("Role {r}"), "value": format!("role{r}")})).collect::<Vec<_>>()}))
            .expect("static shape")
        })
        .collect();
    (packages, groups, service_principals)
}

fn deleted_of(role: &Role, deleted: &[bool]) -> bool {
    matches!(role, Role::Member(g) | Role::Owner(g) if deleted[*g])
}

fn role_key(
    role: &Role,
    groups: &[String],
    sps: &[String],
    app_roles: &[Vec<String>],
    site: &dyn Fn(usize) -> String,
) -> truth::Key {
    match role {
        Role::Member(g) => truth::Key::group(&groups[*g], "member"),
        Role::Owner(g) => truth::Key::group(&groups[*g], "owner"),
        Role::App(a, r) => truth::Key::app(&sps[*a], &app_roles[*a][*r]),
        Role::Site(s) => truth::Key::site(&site(*s)),
        // `World::key` names directory roles; nothing else asks for them here.
        Role::Directory(d, _) => truth::Key::directory(&format!("directory-role-{d}"), "active"),
    }
}

fn assignment(
    id: &str,
    state: &str,
    target: Value,
    package: &str,
    user: usize,
    start: chrono::DateTime<chrono::Utc>,
) -> AccessPackageAssignment {
    serde_json::from_value(json!({
        "id": id, "state": state, "status": state,
        "schedule": {"@odata.type": "microsoft.graph.entitlementManagementSchedule",
                     "startDateTime": truth::timestamp(start)},
        "target": {"objectId": target, "displayName": format!("User {user}"), "principalName": format!("user{user}@synthetic.example"), "subjectType": "user"},
        "accessPackage": {"id": package}
    }))
    .expect("static shape")
}

#[allow(clippy::too_many_arguments)] // the generator's tables, passed as they are
fn package(
    index: usize,
    id: &str,
    roles: &[Role],
    groups: &[String],
    sps: &[String],
    app_roles: &[Vec<String>],
    site: &dyn Fn(usize) -> String,
    role_definitions: &[String],
) -> AccessPackage {
    let scopes: Vec<Value> = roles
        .iter()
        .map(|role| {
            let (system, origin, scope, name) = match role {
                Role::Member(g) => ("AadGroup", format!("Member_{}", groups[*g]), groups[*g].clone(), "Member".to_string()),
                Role::Owner(g) => ("AadGroup", format!("Owner_{}", groups[*g]), groups[*g].clone(), "Owner".to_string()),
                Role::App(a, r) => ("AadApplication", app_roles[*a][*r].clone(), sps[*a].clone(), format!("Role {r}")),
                Role::Site(s) => ("SharePointOnline", "4".to_string(), site(*s), "Site member".to_string()),
                Role::Directory(d, eligible) => (
                    "DirectoryRole",
                    if *eligible { "Eligible" } else { "Active" }.to_string(),
                    role_definitions[*d].clone(),
                    if *eligible { "Eligible Member" } else { "Active Member" }.to_string(),
                ),
            };
            json!({"role": {"displayName": name, "originSystem": system, "originId": origin},
                   "scope": {"displayName": format!("Resource {scope}"), "originSystem": system, "originId": scope, "isRootScope": true}})
        })
        .collect();
    serde_json::from_value(json!({"id": id, "displayName": format!("Package {index}"), "catalog": {"id": "synthetic-catalog"}, "resourceRoleScopes": scopes}))
        .expect("static shape")
}
