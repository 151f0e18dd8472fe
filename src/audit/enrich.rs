//! Turns core findings into the reviewer's table: names, enabled state, a human detail, and
//! whether each finding goes into the reprocess plan (and why not).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use polars::prelude::*;

use super::frames::{join, keep, named_by, with_literal};
use super::{ACCESS_WITHOUT_ASSIGNMENT, MISSING_ACCESS, NOT_DELIVERED, RESOURCE_NOT_FOUND};
use crate::error::{FrameContext, Result};
use crate::snapshot::{col as s, roles, Tables};

/// Column names of the findings table, in one place.
pub mod col {
    pub const CATEGORY: &str = "category";
    pub const ASSIGNMENT_ID: &str = "assignment_id";
    pub const PACKAGE_ID: &str = "access_package_id";
    pub const USER_ID: &str = "user_id";
    pub const RESOURCE_TYPE: &str = "resource_type";
    pub const RESOURCE_ID: &str = "resource_id";
    pub const ROLE: &str = "role";
    pub const USER_NAME: &str = "user_display_name";
    pub const USER_UPN: &str = "user_principal_name";
    pub const USER_ENABLED: &str = "user_enabled";
    pub const PACKAGE_NAME: &str = "access_package_name";
    pub const RESOURCE_NAME: &str = "resource_name";
    pub const ROLE_NAME: &str = "role_name";
    pub const STATE: &str = "assignment_state";
    /// A machine-readable cause: `not_held`, `not in the directory`, `unreadable: 403 ...`.
    pub const REASON: &str = "reason";
    pub const DETAIL: &str = "detail";
    pub const IN_PLAN: &str = "in_plan";
    pub const SKIP_REASON: &str = "plan_skip_reason";
    /// Internal: the request a `not_delivered` plan item retries (not written to reports).
    pub const REQUEST_ID: &str = "request_id";
    /// Added by `annotate` (history and exceptions), after every column above so that readers
    /// of earlier reports find their columns where they were.
    pub const FIRST_SEEN: &str = "first_seen";
    pub const DAYS_OPEN: &str = "days_open";
    /// `new` or `persisting`.
    pub const STATUS: &str = "status";
    /// Id of the exception that covers the finding (or covered it, when expired).
    pub const EXCEPTION: &str = "exception";
    /// `active`, `expired`, or empty.
    pub const EXCEPTION_STATE: &str = "exception_state";
    /// Why the access drifted, from the audit log (guide: docs/src/reviewer/causes.md): `removed`,
    /// `added`, `deleted`, `not_in_log`, `before_log_window`, `log_unreadable`, or empty where
    /// no cause applies.
    pub const CAUSE: &str = "cause";
    pub const CAUSE_TIME: &str = "cause_time";
    pub const CAUSE_ACTOR: &str = "cause_actor";
    pub const CAUSE_ACTOR_ID: &str = "cause_actor_id";
    /// `user`, `application`, `entitlement_management`, `sync`.
    pub const CAUSE_ACTOR_KIND: &str = "cause_actor_kind";
    pub const CAUSE_ACTIVITY: &str = "cause_activity";
    pub const CAUSE_CORRELATION_ID: &str = "cause_correlation_id";

    /// Every findings column, in report order. The first seven are the contract's; the five
    /// [`ANNOTATIONS`] exist once the findings are annotated; the [`CAUSES`] come last.
    pub const ALL: [&str; 30] = [
        CATEGORY,
        ASSIGNMENT_ID,
        PACKAGE_ID,
        USER_ID,
        RESOURCE_TYPE,
        RESOURCE_ID,
        ROLE,
        USER_NAME,
        USER_UPN,
        USER_ENABLED,
        PACKAGE_NAME,
        RESOURCE_NAME,
        ROLE_NAME,
        STATE,
        REASON,
        DETAIL,
        IN_PLAN,
        SKIP_REASON,
        FIRST_SEEN,
        DAYS_OPEN,
        STATUS,
        EXCEPTION,
        EXCEPTION_STATE,
        CAUSE,
        CAUSE_TIME,
        CAUSE_ACTOR,
        CAUSE_ACTOR_ID,
        CAUSE_ACTOR_KIND,
        CAUSE_ACTIVITY,
        CAUSE_CORRELATION_ID,
    ];
    /// The columns the audit log explains, in report order.
    pub const CAUSES: [&str; 7] = [
        CAUSE,
        CAUSE_TIME,
        CAUSE_ACTOR,
        CAUSE_ACTOR_ID,
        CAUSE_ACTOR_KIND,
        CAUSE_ACTIVITY,
        CAUSE_CORRELATION_ID,
    ];
    /// The columns `annotate` adds.
    pub const ANNOTATIONS: [&str; 5] = [FIRST_SEEN, DAYS_OPEN, STATUS, EXCEPTION, EXCEPTION_STATE];
    /// The contract's required columns (`findings.md`).
    pub const REQUIRED: [&str; 7] = [
        CATEGORY,
        ASSIGNMENT_ID,
        PACKAGE_ID,
        USER_ID,
        RESOURCE_TYPE,
        RESOURCE_ID,
        ROLE,
    ];

    /// The columns of [`ALL`] that `frame` has, in report order: a frame straight from the
    /// audit lacks the annotations, and is reported without them.
    pub fn present(frame: &polars::prelude::DataFrame) -> Vec<&'static str> {
        ALL.iter()
            .copied()
            .filter(|name| frame.column(name).is_ok())
            .collect()
    }
}

pub const SKIP_USER_NOT_FOUND: &str = "user not found in the tenant";
pub const SKIP_DISABLED: &str = "user account is disabled";
pub const SKIP_ENABLED_UNKNOWN: &str = "user enabled state unknown";

const USER_KNOWN: &str = "user_known";
const DIRECTORY_NAME: &str = "directory_name";

pub fn enrich(core: DataFrame, tables: &Tables, now: DateTime<Utc>) -> Result<DataFrame> {
    let started = std::time::Instant::now();
    // Only the users and assignments the findings name ([`named_by`]).
    let users = with_literal(
        named_by(
            &keep(
                &tables.users,
                &[s::USER_ID, s::USER_NAME, s::USER_UPN, s::USER_ENABLED],
            )?,
            &core,
            s::USER_ID,
        )?,
        USER_KNOWN,
        Some("yes"),
    )?;
    let frame = join(&core, &users, &[s::USER_ID], JoinType::Left)?;
    let assignments = named_by(
        &keep(
            &tables.assignments,
            &[
                s::ASSIGNMENT_ID,
                s::STATE,
                s::TARGET_NAME,
                s::TARGET_PRINCIPAL_NAME,
            ],
        )?,
        &core,
        s::ASSIGNMENT_ID,
    )?;
    let frame = join(&frame, &assignments, &[s::ASSIGNMENT_ID], JoinType::Left)?;
    let packages = keep(&tables.packages, &[s::PACKAGE_ID, s::PACKAGE_NAME])?;
    let frame = join(&frame, &packages, &[s::PACKAGE_ID], JoinType::Left)?;
    let role_names = keep(
        &tables.package_roles,
        &[
            s::RESOURCE_TYPE,
            s::RESOURCE_ID,
            s::ROLE,
            s::RESOURCE_NAME,
            s::ROLE_NAME,
        ],
    )?
    .unique_stable(
        Some(&[
            s::RESOURCE_TYPE.into(),
            s::RESOURCE_ID.into(),
            s::ROLE.into(),
        ]),
        UniqueKeepStrategy::First,
        None,
    )
    .frame("role names")?;
    let frame = join(
        &frame,
        &role_names,
        &[s::RESOURCE_TYPE, s::RESOURCE_ID, s::ROLE],
        JoinType::Left,
    )?;
    let mut directory_names = keep(
        &tables.resource_status,
        &[s::RESOURCE_TYPE, s::RESOURCE_ID, s::RESOURCE_NAME],
    )?;
    directory_names
        .rename(s::RESOURCE_NAME, DIRECTORY_NAME.into())
        .frame("directory names")?;
    let not_null = directory_names
        .column(DIRECTORY_NAME)
        .frame("directory names")?
        .is_not_null();
    let directory_names = directory_names
        .filter(&not_null)
        .frame("directory names")?
        .unique_stable(
            Some(&[s::RESOURCE_TYPE.into(), s::RESOURCE_ID.into()]),
            UniqueKeepStrategy::First,
            None,
        )
        .frame("directory names")?;
    let frame = join(
        &frame,
        &directory_names,
        &[s::RESOURCE_TYPE, s::RESOURCE_ID],
        JoinType::Left,
    )?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "enrich: names joined"
    );
    let requests = Requests::new(tables)?;
    derive_columns(frame, &requests, now)
}

/// A retry is possible only this long after the request completed (Graph documents 14 days).
pub const REQUEST_RETRY_DAYS: i64 = 14;
pub const SKIP_REQUEST_NOT_FOUND: &str = "request_not_found";
pub const SKIP_REQUEST_TOO_OLD: &str = "request_too_old";

/// Why a failed delivery's request can no longer be retried (Graph retries only a request still
/// failed and completed within [`REQUEST_RETRY_DAYS`]). Shared by the audit, which plans the
/// retry, and apply, which re-checks it live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryBlock {
    /// The request is in another state than `deliveryFailed` or `partiallyDelivered`.
    NotFailed,
    /// It completed too long ago.
    TooOld,
    /// It records no completion time.
    NoCompletion,
}

/// `None` when the request can be retried at `now`.
pub fn retry_block(
    state: &str,
    completed: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<RetryBlock> {
    let failed = entra_model::enums::RequestState::parse(state).is_retryable();
    match completed {
        _ if !failed => Some(RetryBlock::NotFailed),
        Some(at) if now - at <= chrono::Duration::days(REQUEST_RETRY_DAYS) => None,
        Some(_) => Some(RetryBlock::TooOld),
        None => Some(RetryBlock::NoCompletion),
    }
}

/// Each assignment's latest request (by completion time), and why there are none to look at.
struct Requests {
    latest: HashMap<String, (String, String, Option<DateTime<Utc>>)>,
    unread: Option<String>,
}

impl Requests {
    fn new(tables: &Tables) -> Result<Requests> {
        let text = |name: &str| -> Result<Vec<Option<String>>> {
            Ok(tables
                .requests
                .column(name)
                .frame("requests")?
                .str()
                .frame("requests")?
                .iter()
                .map(|v| v.map(str::to_string))
                .collect())
        };
        let (ids, assignments, states, completed) = (
            text(s::REQUEST_ID)?,
            text(s::ASSIGNMENT_ID)?,
            text(s::REQUEST_STATE)?,
            text(s::COMPLETED_AT)?,
        );
        let mut latest: HashMap<String, (String, String, Option<DateTime<Utc>>)> = HashMap::new();
        for i in 0..ids.len() {
            let (Some(id), Some(assignment)) = (&ids[i], &assignments[i]) else {
                continue;
            };
            let at = completed[i]
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc));
            let newer = latest
                .get(assignment)
                .is_none_or(|(_, _, known)| at > *known);
            if newer {
                latest.insert(
                    assignment.clone(),
                    (id.clone(), states[i].clone().unwrap_or_default(), at),
                );
            }
        }
        Ok(Requests {
            latest,
            unread: tables.requests_unread.clone(),
        })
    }

    /// Whether a failed delivery can be retried now: `Ok(request id)`, or why not.
    fn retry(&self, assignment: &str, now: DateTime<Utc>) -> std::result::Result<String, String> {
        let Some((id, state, completed)) = self.latest.get(assignment) else {
            return Err(match &self.unread {
                Some(reason) => format!("requests not read: {reason}"),
                None => SKIP_REQUEST_NOT_FOUND.to_string(),
            });
        };
        match retry_block(state, *completed, now) {
            None => Ok(id.clone()),
            Some(RetryBlock::NotFailed) => Err(format!("request_state: {state}")),
            Some(RetryBlock::TooOld | RetryBlock::NoCompletion) => {
                Err(SKIP_REQUEST_TOO_OLD.to_string())
            }
        }
    }
}

/// One pass over the findings (not over the tenant) for the text columns.
fn derive_columns(frame: DataFrame, requests: &Requests, now: DateTime<Utc>) -> Result<DataFrame> {
    let text = |name: &str| -> Result<Vec<Option<String>>> {
        Ok(frame
            .column(name)
            .frame("findings column")?
            .str()
            .frame("findings column")?
            .iter()
            .map(|v| v.map(str::to_string))
            .collect())
    };
    let categories = text(col::CATEGORY)?;
    let user_names = text(s::USER_NAME)?;
    let target_names = text(s::TARGET_NAME)?;
    let upns = text(s::USER_UPN)?;
    let target_upns = text(s::TARGET_PRINCIPAL_NAME)?;
    let known = text(USER_KNOWN)?;
    let types = text(col::RESOURCE_TYPE)?;
    let resource_ids = text(col::RESOURCE_ID)?;
    let roles_ = text(col::ROLE)?;
    let scope_names = text(s::RESOURCE_NAME)?;
    let directory_names = text(DIRECTORY_NAME)?;
    let role_names = text(s::ROLE_NAME)?;
    let package_names = text(s::PACKAGE_NAME)?;
    let states = text(s::STATE)?;
    let reasons = text(col::REASON)?;
    let enabled: Vec<Option<bool>> = frame
        .column(s::USER_ENABLED)
        .frame("findings column")?
        .bool()
        .frame("findings column")?
        .iter()
        .collect();

    let height = frame.height();
    let mut out_user_names = Vec::with_capacity(height);
    let mut out_upns = Vec::with_capacity(height);
    let mut out_enabled = Vec::with_capacity(height);
    let mut out_resource_names = Vec::with_capacity(height);
    let mut out_role_names = Vec::with_capacity(height);
    let mut details = Vec::with_capacity(height);
    let mut in_plan = Vec::with_capacity(height);
    let mut skip: Vec<String> = Vec::with_capacity(height);
    let mut request_ids: Vec<Option<String>> = Vec::with_capacity(height);
    let assignment_ids = text(col::ASSIGNMENT_ID)?;

    for i in 0..height {
        let category = categories[i].as_deref().unwrap_or_default();
        let user = user_names[i].clone().or_else(|| target_names[i].clone());
        let resource_name = directory_names[i]
            .clone()
            .or_else(|| scope_names[i].clone());
        let role_name = role_names[i]
            .clone()
            .or_else(|| match roles_[i].as_deref() {
                Some("member") => Some("Member".to_string()),
                Some("owner") => Some("Owner".to_string()),
                _ => None,
            });
        let user_known = known[i].is_some();
        let enabled_text = match (user_known, enabled[i]) {
            (false, _) => "",
            (true, Some(true)) => "yes",
            (true, Some(false)) => "no",
            (true, None) => "unknown",
        };
        let mut request_id = None;
        let (plan, why_not) = if category == MISSING_ACCESS {
            match (user_known, enabled[i]) {
                (false, _) => ("no", SKIP_USER_NOT_FOUND.to_string()),
                (true, Some(true)) => ("yes", String::new()),
                (true, Some(false)) => ("no", SKIP_DISABLED.to_string()),
                (true, None) => ("no", SKIP_ENABLED_UNKNOWN.to_string()),
            }
        } else if category == NOT_DELIVERED {
            // A failed delivery is retried through its request, within Graph's window.
            match requests.retry(assignment_ids[i].as_deref().unwrap_or_default(), now) {
                Ok(id) => {
                    request_id = Some(id);
                    ("yes", String::new())
                }
                Err(reason) => ("no", reason),
            }
        } else {
            ("no", skip_reason(category).to_string())
        };
        let describe = Describe {
            user: user.as_deref().unwrap_or("the target"),
            resource_type: types[i].as_deref().unwrap_or_default(),
            resource: resource_name
                .as_deref()
                .or(resource_ids[i].as_deref())
                .unwrap_or_default(),
            role: role_name
                .as_deref()
                .or(roles_[i].as_deref())
                .unwrap_or_default(),
            package: package_names[i].as_deref().unwrap_or("its package"),
            state: states[i].as_deref().unwrap_or_default(),
            reason: reasons[i].as_deref().unwrap_or_default(),
        };
        details.push(describe.detail(category));
        out_user_names.push(user);
        out_upns.push(upns[i].clone().or_else(|| target_upns[i].clone()));
        out_enabled.push(enabled_text);
        out_resource_names.push(resource_name);
        out_role_names.push(role_name);
        in_plan.push(plan);
        skip.push(why_not);
        request_ids.push(request_id);
    }

    let columns = vec![
        frame.column(col::CATEGORY).frame("findings")?.clone(),
        frame.column(col::ASSIGNMENT_ID).frame("findings")?.clone(),
        frame.column(col::PACKAGE_ID).frame("findings")?.clone(),
        frame.column(col::USER_ID).frame("findings")?.clone(),
        frame.column(col::RESOURCE_TYPE).frame("findings")?.clone(),
        frame.column(col::RESOURCE_ID).frame("findings")?.clone(),
        frame.column(col::ROLE).frame("findings")?.clone(),
        Column::new(col::USER_NAME.into(), out_user_names),
        Column::new(col::USER_UPN.into(), out_upns),
        Column::new(col::USER_ENABLED.into(), out_enabled),
        Column::new(col::PACKAGE_NAME.into(), package_names),
        Column::new(col::RESOURCE_NAME.into(), out_resource_names),
        Column::new(col::ROLE_NAME.into(), out_role_names),
        Column::new(col::STATE.into(), states),
        Column::new(col::REASON.into(), reasons),
        Column::new(col::DETAIL.into(), details),
        Column::new(col::IN_PLAN.into(), in_plan),
        Column::new(col::SKIP_REASON.into(), skip),
        // Internal (not a report column): the request a not_delivered plan item retries.
        Column::new(col::REQUEST_ID.into(), request_ids),
    ];
    DataFrame::new(height, columns).frame("findings table")
}

fn skip_reason(category: &str) -> &'static str {
    match category {
        RESOURCE_NOT_FOUND => "the resource no longer exists: reprocessing cannot restore it",
        NOT_DELIVERED => "not delivered",
        ACCESS_WITHOUT_ASSIGNMENT => "no assignment to reprocess: review and remove the access",
        _ => "could not be verified: check it by hand",
    }
}

/// A resource role as a reader says it: `member of group X`, `app role R of application A`,
/// `site role V of SharePoint site S`, `directory role D (Eligible Member)`.
pub fn role_phrase(resource_type: &str, role: &str, resource: &str) -> String {
    match resource_type {
        roles::GROUP => format!("{} of group {resource}", role.to_lowercase()),
        roles::APPLICATION => format!("app role {role} of application {resource}"),
        roles::SHAREPOINT_SITE => format!("site role {role} of SharePoint site {resource}"),
        roles::DIRECTORY_ROLE => format!("directory role {resource} ({role})"),
        other => format!("role {role} of {other} resource {resource}"),
    }
}

struct Describe<'a> {
    user: &'a str,
    resource_type: &'a str,
    resource: &'a str,
    role: &'a str,
    package: &'a str,
    state: &'a str,
    reason: &'a str,
}

impl Describe<'_> {
    fn what(&self) -> String {
        role_phrase(self.resource_type, self.role, self.resource)
    }

    fn detail(&self, category: &str) -> String {
        match category {
            MISSING_ACCESS => {
                let how = self
                    .reason
                    .strip_prefix("not_held (")
                    .and_then(|rest| rest.strip_suffix(')'))
                    .map(|how| format!(" ({how})"))
                    .unwrap_or_default();
                format!(
                    "{} lacks {}, which package {} delivers; the assignment still shows delivered{how}",
                    self.user,
                    self.what(),
                    self.package
                )
            }
            RESOURCE_NOT_FOUND => format!(
                "package {} delivers {}, but the resource does not exist ({})",
                self.package,
                self.what(),
                self.reason
            ),
            NOT_DELIVERED => match self.state {
                "partiallydelivered" => format!(
                    "the assignment of {} to package {} was only partially delivered",
                    self.user, self.package
                ),
                "deliveryfailed" => format!(
                    "the delivery of the assignment of {} to package {} failed",
                    self.user, self.package
                ),
                state => format!(
                    "the assignment of {} to package {} is {state}",
                    self.user, self.package
                ),
            },
            ACCESS_WITHOUT_ASSIGNMENT => format!(
                "{} holds {}, but no delivered, delivering or partially delivered assignment of theirs grants it",
                self.user,
                self.what()
            ),
            _ => format!(
                "{} of {} could not be checked for {}: {}",
                self.what(),
                self.package,
                self.user,
                self.reason
            ),
        }
    }
}
