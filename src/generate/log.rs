//! The audit log of a generated tenant: `directoryAudit` events shaped like the observed Graph
//! events (graph-api.md §9), written as the drift is injected, so every finding's expected cause
//! is known without asking the audit.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::json;

use crate::model::DirectoryAudit;
use crate::snapshot::events::ENTITLEMENT_MANAGEMENT_APP;

/// Who makes a change in the generated tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// One of the tenant's administrators, in the admin portal.
    Person(usize),
    /// A script running as an app registration.
    Script,
    EntitlementManagement,
    Sync,
}

/// How many administrators act by hand.
const ADMINS: usize = 5;
pub const SCRIPT_APP: &str = "offboarding-script";
pub const SYNC_APP: &str = "Microsoft Entra Connect Sync";

/// Times relative to the generation: the audit reads the last 30 days, and a tenant is audited
/// within a few days of being generated, so "inside" and "before" keep a margin on both sides.
pub const INSIDE_DAYS: (i64, i64) = (1, 22);
pub const BEFORE_DAYS: (i64, i64) = (40, 60);

pub struct Log {
    pub now: DateTime<Utc>,
    pub events: Vec<DirectoryAudit>,
    admins: Vec<(String, String)>,
    script_sp: String,
}

impl Log {
    pub fn new(now: DateTime<Utc>, rng: &mut StdRng) -> Log {
        let admins = (0..ADMINS)
            .map(|i| (format!("admin{i}@synthetic.example"), super::guid(rng)))
            .collect();
        Log {
            now,
            events: Vec::new(),
            admins,
            script_sp: super::guid(rng),
        }
    }

    /// What the findings' `cause_actor` says for this actor.
    pub fn actor_name(&self, actor: Actor) -> String {
        match actor {
            Actor::Person(i) => self.admins[i % ADMINS].0.clone(),
            Actor::Script => SCRIPT_APP.to_string(),
            Actor::EntitlementManagement => ENTITLEMENT_MANAGEMENT_APP.to_string(),
            Actor::Sync => SYNC_APP.to_string(),
        }
    }

    /// A random time inside the log window, not before `after`.
    pub fn inside(&self, rng: &mut StdRng, after: DateTime<Utc>) -> DateTime<Utc> {
        let earliest = (self.now - Duration::days(INSIDE_DAYS.1)).max(after + Duration::hours(1));
        let latest = self.now - Duration::days(INSIDE_DAYS.0);
        if earliest >= latest {
            return latest;
        }
        let span = (latest - earliest).num_seconds();
        earliest + Duration::seconds(rng.random_range(0..=span))
    }

    /// A random time before the log window.
    pub fn before(&self, rng: &mut StdRng) -> DateTime<Utc> {
        self.now - Duration::days(rng.random_range(BEFORE_DAYS.0..=BEFORE_DAYS.1))
    }

    fn initiator(&self, actor: Actor) -> serde_json::Value {
        let app = |name: &str, id: &str| {
            json!({"user": null, "app": {"appId": null, "displayName": name,
                   "servicePrincipalId": id, "servicePrincipalName": null}})
        };
        match actor {
            Actor::Person(i) => {
                let (upn, id) = &self.admins[i % ADMINS];
                json!({"user": {"id": id, "displayName": null, "userPrincipalName": upn,
                                "ipAddress": "192.0.2.10"}, "app": null})
            }
            Actor::Script => app(SCRIPT_APP, &self.script_sp),
            Actor::EntitlementManagement => app(
                ENTITLEMENT_MANAGEMENT_APP,
                "00000000-0000-0000-0000-0000000000e1",
            ),
            Actor::Sync => app(SYNC_APP, "00000000-0000-0000-0000-0000000000a5"),
        }
    }

    fn push(&mut self, body: serde_json::Value) {
        let event: DirectoryAudit = serde_json::from_value(body).expect("static shape");
        self.events.push(event);
    }

    fn header(
        &self,
        activity: &str,
        category: &str,
        at: DateTime<Utc>,
        actor: Actor,
        success: bool,
    ) -> serde_json::Value {
        let n = self.events.len();
        let correlation = format!("{:08x}-0000-4000-8000-{:012x}", n, n);
        json!({
            "id": format!("Directory_{correlation}_SYN_{n}"),
            "category": category,
            "correlationId": correlation,
            "result": if success { "success" } else { "failure" },
            "resultReason": "",
            "activityDisplayName": activity,
            "activityDateTime": at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "loggedByService": "Core Directory",
            "operationType": "Assign",
            "initiatedBy": self.initiator(actor),
        })
    }

    /// A user added to or removed from a group's members or owners, in the observed shape: the
    /// group id in the User target's `Group.ObjectID`, and a Group target beside it.
    #[allow(clippy::too_many_arguments)] // the event's own fields
    pub fn membership(
        &mut self,
        added: bool,
        role: &str,
        group: &str,
        user: &str,
        at: DateTime<Utc>,
        actor: Actor,
        success: bool,
    ) {
        let verb = if added { "Add" } else { "Remove" };
        let link = if added { "to" } else { "from" };
        let activity = format!("{verb} {role} {link} group");
        let quoted = |v: &str| serde_json::Value::String(format!("\"{v}\""));
        let (old, new) = if added {
            (serde_json::Value::Null, quoted(group))
        } else {
            (quoted(group), serde_json::Value::Null)
        };
        let mut body = self.header(&activity, "GroupManagement", at, actor, success);
        body["targetResources"] = json!([
            {"id": user, "displayName": null, "type": "User",
             "userPrincipalName": null,
             "modifiedProperties": [
                 {"displayName": "Group.ObjectID", "oldValue": old, "newValue": new}]},
            {"id": group, "displayName": null, "type": "Group", "modifiedProperties": [],
             "groupType": "unknownFutureValue"}
        ]);
        self.push(body);
    }

    /// An app role assignment granted to or removed from a user: the resource service
    /// principal is the target, the role and user are its modified properties.
    pub fn app_role(
        &mut self,
        added: bool,
        sp: &str,
        app_role: &str,
        user: &str,
        at: DateTime<Utc>,
        actor: Actor,
    ) {
        let activity = if added {
            "Add app role assignment grant to user"
        } else {
            "Remove app role assignment from user"
        };
        let quoted = |v: &str| serde_json::Value::String(format!("\"{v}\""));
        let value = |v: &str| {
            if added {
                json!({"oldValue": null, "newValue": quoted(v)})
            } else {
                json!({"oldValue": quoted(v), "newValue": null})
            }
        };
        let property = |name: &str, v: &str| {
            let mut p = value(v);
            p["displayName"] = name.into();
            p
        };
        let mut body = self.header(activity, "UserManagement", at, actor, true);
        body["targetResources"] = json!([
            {"id": sp, "displayName": null, "type": "ServicePrincipal",
             "modifiedProperties": [property("AppRole.Id", app_role),
                                    property("User.ObjectID", user)]}
        ]);
        self.push(body);
    }

    pub fn delete_group(&mut self, group: &str, at: DateTime<Utc>, actor: Actor) {
        let mut body = self.header("Delete group", "GroupManagement", at, actor, true);
        body["targetResources"] =
            json!([{"id": group, "displayName": null, "type": "Group", "modifiedProperties": []}]);
        self.push(body);
    }

    /// Newest first, as the log is recorded.
    pub fn finish(mut self) -> Vec<DirectoryAudit> {
        self.events
            .sort_by(|a, b| b.activity_date_time.cmp(&a.activity_date_time));
        self.events
    }
}
