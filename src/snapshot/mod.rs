//! The snapshot: what one read of a tenant saw, normalised into the dataframes the audit reads.
//!
//! Sources (a tenant directory, live Graph) feed a [`SnapshotBuilder`]; the audit sees only
//! [`Tables`]. This is the one seam between reading a tenant and judging it.

pub mod assignment_read;
pub mod builder;
pub mod checks;
pub mod events;
pub mod live;
pub mod log_read;
pub mod resource_read;
pub mod roles;
pub mod sharepoint;
pub mod store;
pub mod tenant_dir;

pub use assignment_read::AssignmentRead;
pub use builder::SnapshotBuilder;

use chrono::{DateTime, Utc};
use polars::prelude::DataFrame;

/// Column names of the snapshot tables, in one place.
pub mod col {
    pub const PACKAGE_ID: &str = "access_package_id";
    pub const PACKAGE_NAME: &str = "access_package_name";
    pub const CATALOG_ID: &str = "catalog_id";

    pub const RESOURCE_TYPE: &str = "resource_type";
    pub const RESOURCE_ID: &str = "resource_id";
    pub const ROLE: &str = "role";
    pub const COLLECTION: &str = "collection";
    pub const RESOURCE_NAME: &str = "resource_name";
    pub const ROLE_NAME: &str = "role_name";
    pub const ORIGIN_SYSTEM: &str = "origin_system";

    pub const ASSIGNMENT_ID: &str = "assignment_id";
    /// Lower-cased `state`: `delivered`, `partiallydelivered`, ... or whatever Graph sent.
    pub const STATE: &str = "assignment_state";
    pub const STATUS: &str = "assignment_status";
    /// `target.objectId`, lower-cased; null when the subject is not yet a directory object.
    pub const TARGET_ID: &str = "user_id";
    pub const TARGET_NAME: &str = "target_display_name";
    pub const TARGET_PRINCIPAL_NAME: &str = "target_principal_name";

    pub const USER_ID: &str = "user_id";
    pub const USER_NAME: &str = "user_display_name";
    pub const USER_UPN: &str = "user_principal_name";
    pub const USER_ENABLED: &str = "user_enabled";
    pub const USER_TYPE: &str = "user_type";

    pub const PRINCIPAL_ID: &str = "user_id";
    /// `user`, `group`, `servicePrincipal`, ... lower-cased; `unknown` when Graph did not say.
    pub const PRINCIPAL_TYPE: &str = "principal_type";

    /// One of the `status` values below.
    pub const READ_STATUS: &str = "read_status";
    pub const READ_REASON: &str = "read_reason";

    pub const REQUEST_ID: &str = "request_id";
    /// Lower-cased request `state`.
    pub const REQUEST_STATE: &str = "request_state";
    /// RFC 3339 `completedDateTime` as Graph wrote it; null when absent.
    pub const COMPLETED_AT: &str = "completed_at";

    /// The assignment's `schedule.startDateTime` in milliseconds since 1970; null when absent.
    pub const ASSIGNMENT_START: &str = "assignment_start_ms";

    pub const EVENT_ID: &str = "event_id";
    /// `activityDateTime` in milliseconds since 1970.
    pub const EVENT_TIME: &str = "event_ms";
    /// `added`, `removed` or `deleted`.
    pub const CHANGE: &str = "change";
    pub const ACTOR: &str = "actor";
    pub const ACTOR_ID: &str = "actor_id";
    pub const ACTOR_KIND: &str = "actor_kind";
    pub const ACTIVITY: &str = "activity";
    pub const CORRELATION_ID: &str = "correlation_id";
}

/// Values of [`col::READ_STATUS`].
pub mod read_status {
    /// Read completely: absence of a principal is meaningful.
    pub const COMPLETE: &str = "complete";
    /// The resource does not exist (Graph `404`, or absent from a tenant directory).
    pub const NOT_FOUND: &str = "not_found";
    /// The reason a resource is not found, whatever the source (a Graph `404`, or absent from
    /// a tenant directory): the same words live and offline.
    pub const NOT_FOUND_REASON: &str = "not in the directory";
    /// The read was refused or failed; the reason column says how.
    pub const UNREADABLE: &str = "unreadable";
    /// Graph's directory API cannot read this kind of resource.
    pub const UNSUPPORTED: &str = "unsupported";
}

/// The normalised tables. Ids are lower-cased GUID strings; every table is deduplicated.
#[derive(Debug, Clone)]
pub struct Tables {
    /// `access_package_id, access_package_name, catalog_id`
    pub packages: DataFrame,
    /// `access_package_id, resource_type, resource_id, role, collection ("": unverifiable),
    /// resource_name, role_name, origin_system`
    pub package_roles: DataFrame,
    /// `assignment_id, access_package_id, assignment_state, assignment_status, user_id (null
    /// when the target has no objectId), target_display_name, target_principal_name`
    pub assignments: DataFrame,
    /// `user_id, user_display_name, user_principal_name, user_enabled (null: unknown), user_type`
    pub users: DataFrame,
    /// `resource_type, resource_id, role, user_id, principal_type`: what resources really hold.
    pub holdings: DataFrame,
    /// `resource_type, resource_id, collection, read_status, read_reason, resource_name`
    pub resource_status: DataFrame,
    /// `request_id, assignment_id, request_state, completed_at`: the assignment requests of
    /// failed deliveries (their retry goes through the request).
    pub requests: DataFrame,
    /// Why the requests were not read (not recorded, refused); `None`: read completely.
    pub requests_unread: Option<String>,
    /// `event_id, event_ms, change, resource_type, resource_id, role, user_id, actor,
    /// actor_id, actor_kind, activity, correlation_id`: the audit-log events of the window that
    /// add, remove or delete access (see [`events`]).
    pub events: DataFrame,
    /// Whether, and for which window, the audit log was read.
    pub audit_log: AuditLog,
}

/// What the snapshot knows of the directory audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AuditLog {
    /// Read completely for this window: an event that is not in `events` did not happen in it.
    Read {
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    /// Not read (refused, failed, or not recorded): the reason says which.
    Unread { reason: String },
    /// Not asked for (`--no-causes`).
    Skipped,
}

/// Whether to read the audit log, and how far back (guide: docs/src/reviewer/causes.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRequest {
    /// `false`: `--no-causes` (the log is not read).
    pub read: bool,
    /// The log's retention: 30 days with Entra ID P1/P2, 7 on Free.
    pub days: u32,
    /// The previous run's snapshot time, when there is one.
    pub previous: Option<DateTime<Utc>>,
}

/// Graph's retention of directory audit events with Entra ID P1/P2.
pub const DEFAULT_LOG_DAYS: u32 = 30;
/// Read this far before the previous run's snapshot: events reach the log some minutes after
/// the change, and clocks differ.
pub const PREVIOUS_RUN_MARGIN_HOURS: i64 = 24;

impl Default for LogRequest {
    fn default() -> Self {
        LogRequest {
            read: true,
            days: DEFAULT_LOG_DAYS,
            previous: None,
        }
    }
}

impl LogRequest {
    /// The window's start for a snapshot taken at `taken`: the earlier of the retention's start
    /// and the previous run's snapshot time minus a margin, so nothing since the previous run is
    /// missed even when `days` is set shorter than the time between runs.
    pub fn since(&self, taken: DateTime<Utc>) -> DateTime<Utc> {
        let retention = taken - chrono::Duration::days(i64::from(self.days));
        match self.previous {
            Some(previous) => {
                retention.min(previous - chrono::Duration::hours(PREVIOUS_RUN_MARGIN_HOURS))
            }
            None => retention,
        }
    }
}

impl AuditLog {
    /// One line for reports and stderr.
    pub fn describe(&self) -> String {
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        match self {
            AuditLog::Read { since, until } => {
                format!("read from {} to {}", time(since), time(until))
            }
            AuditLog::Unread { reason } => format!("not read: {reason}"),
            AuditLog::Skipped => "not read (--no-causes)".to_string(),
        }
    }

    /// Since when the log vouches for its events; `None` when it was not read.
    pub fn since(&self) -> Option<DateTime<Utc>> {
        match self {
            AuditLog::Read { since, .. } => Some(*since),
            _ => None,
        }
    }
}

/// Where a snapshot came from, and when.
#[derive(Debug, Clone)]
pub struct SnapshotInfo {
    pub tenant_id: String,
    pub tenant_name: Option<String>,
    pub taken_at: DateTime<Utc>,
    /// A human description: `tenant directory fixtures/contoso`, `Microsoft Graph`, ...
    pub source: String,
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub info: SnapshotInfo,
    pub tables: Tables,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn the_window_reaches_back_to_the_previous_run_when_retention_is_shorter() {
        let taken = at("2026-11-30T12:00:00Z");
        let weekly = LogRequest {
            previous: Some(at("2026-11-23T12:00:00Z")),
            ..LogRequest::default()
        };
        assert_eq!(
            weekly.since(taken),
            at("2026-10-31T12:00:00Z"),
            "retention first"
        );
        let free = LogRequest {
            days: 7,
            previous: Some(at("2026-11-16T12:00:00Z")),
            ..LogRequest::default()
        };
        assert_eq!(
            free.since(taken),
            at("2026-11-15T12:00:00Z"),
            "a fortnight between runs on a 7-day log: back to the previous run, less a margin"
        );
        assert_eq!(AuditLog::Skipped.since(), None);
        assert!(AuditLog::Read {
            since: at("2026-11-01T00:00:00Z"),
            until: taken
        }
        .describe()
        .starts_with("read from 2026-11-01T00:00:00Z"));
    }
}
