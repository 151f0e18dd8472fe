//! The audit: pure dataframe joins from snapshot tables to the findings table
//! (`shared/reference/findings.md`). No I/O, no per-row loops over the large tables.

pub mod annotate;
pub mod causes;
mod enrich;
pub mod exceptions;
mod frames;
mod keys;
pub mod rows;
pub mod scope;
pub mod summary;

pub use enrich::{col, role_phrase, SKIP_DISABLED, SKIP_ENABLED_UNKNOWN, SKIP_USER_NOT_FOUND};

use polars::prelude::*;

use crate::error::{FrameContext, Result};
use crate::snapshot::{col as s, roles, Tables};
use frames::{filter_in, join, keep, with_literal};
use keys::{Keyed, Status};

/// The five categories, in report order.
pub const MISSING_ACCESS: &str = "missing_access";
pub const RESOURCE_NOT_FOUND: &str = "resource_not_found";
pub const UNVERIFIABLE: &str = "unverifiable";
pub const NOT_DELIVERED: &str = "not_delivered";
pub use enrich::{retry_block, RetryBlock, REQUEST_RETRY_DAYS};
pub const ACCESS_WITHOUT_ASSIGNMENT: &str = "access_without_assignment";
pub const CATEGORIES: [&str; 5] = [
    MISSING_ACCESS,
    RESOURCE_NOT_FOUND,
    UNVERIFIABLE,
    NOT_DELIVERED,
    ACCESS_WITHOUT_ASSIGNMENT,
];

/// The categories in a reader's words, in [`CATEGORIES`]' order: what cards, charts and
/// sheets say (the CSV keeps the contract's names).
pub const CATEGORY_TITLES: [&str; 5] = [
    "Missing access",
    "Resource not found",
    "Unverifiable",
    "Not delivered",
    "Access without assignment",
];

/// Lower-cased assignment states the contract names.
const DELIVERED: &str = "delivered";
/// States that explain access (`AssignmentState::explains_access`). An unknown state explains
/// nothing, as a live read — which lists assignments by the states Graph documents — never
/// sees such an assignment: live and offline give the same answer.
const EXPLAINING_STATES: [&str; 3] = ["delivered", "delivering", "partiallydelivered"];
const NOT_DELIVERED_STATES: [&str; 2] = ["partiallydelivered", "deliveryfailed"];

/// The columns every category frame has before enrichment, in order.
const CORE: [&str; 9] = [
    CATEGORY_RANK,
    enrich::col::CATEGORY,
    s::ASSIGNMENT_ID,
    s::PACKAGE_ID,
    s::USER_ID,
    s::RESOURCE_TYPE,
    s::RESOURCE_ID,
    s::ROLE,
    enrich::col::REASON,
];
const CATEGORY_RANK: &str = "category_rank";

/// Computes the findings table, sorted deterministically, enriched for reviewers, as of now.
pub fn audit(tables: &Tables) -> Result<DataFrame> {
    audit_at(tables, chrono::Utc::now())
}

/// [`audit`] as of `now` (which failed deliveries can still be retried depends on it).
pub fn audit_at(tables: &Tables, now: chrono::DateTime<chrono::Utc>) -> Result<DataFrame> {
    let started = std::time::Instant::now();
    let core = core_findings(tables)?;
    // Logged for the benchmarks: the joins alone, before names and texts are added.
    tracing::info!(
        findings = core.height(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "core joins done"
    );
    // The causes read only the key columns: they are found on a second core while the names
    // and texts are joined and derived.
    let (named, causes) = crate::threads::both(
        || enrich::enrich(core.clone(), tables, now),
        || causes::columns(&core, tables),
    );
    let named = named?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "findings named and explained"
    );
    // Naming keeps the core's rows in their order; were that ever not so, the causes are
    // found again for the named rows rather than attached to the wrong ones.
    let causes = if causes::same_keys(&core, &named)? {
        causes?
    } else {
        tracing::debug!("naming reordered the findings; their causes are found again");
        causes::columns(&named, tables)?
    };
    causes::attach(named, causes)
}

/// The findings with only the contract's key columns, a reason code and the sort rank.
fn core_findings(tables: &Tables) -> Result<DataFrame> {
    let started = std::time::Instant::now();
    let keyed = Keyed::new(tables)?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "keys interned"
    );
    // The expected roles and their intermediate tables are the audit's largest, and the
    // memory's peak: each is dropped as soon as what follows no longer needs it (the
    // delivered assignments once joined, the expected roles once split, the roles with a
    // target once the small categories are taken), before the anti join builds its table.
    let mut parts = {
        let expected = {
            let delivered = filter_in(&keyed.assignments, s::STATE, &[DELIVERED])?;
            join(
                &keep(&delivered, &[keys::A, keys::P, keys::U])?,
                &keep(
                    &keyed.package_roles,
                    &[keys::P, keys::R, keys::PR, keys::SR, keys::SC],
                )?,
                &[keys::P],
                JoinType::Inner,
            )?
        };

        // A target without an objectId cannot hold anything we could look up.
        let no_target_mask = expected.column(keys::U).frame("target ids")?.is_null();
        let no_target = expected
            .filter(&no_target_mask)
            .frame("targets without objectId")?;
        let with_target = expected
            .filter(&!no_target_mask)
            .frame("targets with objectId")?;
        drop(expected);

        let status = with_target
            .column(keys::SC)
            .frame("read status")?
            .u32()
            .frame("read status")?
            .clone();
        let is = |code: Status| status.equal(code as u8 as u32);
        let not_found = with_target
            .filter(&is(Status::NotFound))
            .frame("roles not found")?;
        // Everything else — unreadable, unsupported, or never reported on by the source — could
        // not be checked. A resource the source did not mention is treated as not read.
        let unchecked = with_target
            .filter(&!(is(Status::Complete) | is(Status::NotFound)))
            .frame("unchecked roles")?;
        let unchecked = blank_package_scope_rows(keyed.decode(&unchecked)?)?;
        let complete = with_target
            .filter(&is(Status::Complete))
            .frame("complete roles")?;
        drop((with_target, status));
        let missing = join(
            &keys::with_role_user(complete)?,
            &keep(&keyed.holdings, &[keys::RU])?,
            &[keys::RU],
            JoinType::Anti,
        )?;

        vec![
            category(keyed.decode(&missing)?, 0, MISSING_ACCESS, Reason::NotHeld)?,
            category(
                keyed.decode(&not_found)?,
                1,
                RESOURCE_NOT_FOUND,
                Reason::Column(s::READ_REASON),
            )?,
            category(unchecked, 2, UNVERIFIABLE, Reason::Status)?,
            category(
                keyed.decode(&no_target)?,
                2,
                UNVERIFIABLE,
                Reason::Fixed("target_has_no_object_id"),
            )?,
        ]
    };

    let not_delivered = keep(
        &filter_in(&tables.assignments, s::STATE, &NOT_DELIVERED_STATES)?,
        &[s::ASSIGNMENT_ID, s::PACKAGE_ID, s::USER_ID, s::STATE],
    )?;
    let mut not_delivered = with_literal(not_delivered, s::RESOURCE_TYPE, None)?;
    for name in [s::RESOURCE_ID, s::ROLE] {
        not_delivered = with_literal(not_delivered, name, None)?;
    }
    parts.push(category(
        not_delivered,
        3,
        NOT_DELIVERED,
        Reason::Column(s::STATE),
    )?);
    parts.push(category(
        access_without_assignment(&keyed)?,
        4,
        ACCESS_WITHOUT_ASSIGNMENT,
        Reason::Fixed("no_assignment"),
    )?);

    let mut all = parts.remove(0);
    for part in &parts {
        all.vstack_mut(part).frame("collecting findings")?;
    }
    all.sort(
        [
            CATEGORY_RANK,
            s::PACKAGE_ID,
            s::ASSIGNMENT_ID,
            s::USER_ID,
            s::RESOURCE_TYPE,
            s::RESOURCE_ID,
            s::ROLE,
        ],
        SortMultipleOptions::default()
            .with_nulls_last(true)
            .with_maintain_order(true),
    )
    .frame("sorting findings")
}

/// An assignment of a package whose role list could not be read completely is unverifiable as
/// a whole: its row names no resource (the package's roles are what is unknown).
fn blank_package_scope_rows(unchecked: DataFrame) -> Result<DataFrame> {
    let mask = unchecked
        .column(s::RESOURCE_TYPE)
        .frame("package scope rows")?
        .str()
        .frame("package scope rows")?
        .equal(roles::ACCESS_PACKAGE)
        .fill_null_with_values(false)
        .frame("package scope rows")?;
    let mut whole = unchecked.filter(&mask).frame("package scope rows")?;
    let mut rest = unchecked.filter(&!mask).frame("package scope rows")?;
    for name in [s::RESOURCE_TYPE, s::RESOURCE_ID, s::ROLE] {
        whole = with_literal(whole, name, None)?;
    }
    rest.vstack_mut(&whole).frame("package scope rows")?;
    Ok(rest)
}

/// Users holding a delivered role that no assignment of theirs explains.
fn access_without_assignment(keyed: &Keyed) -> Result<DataFrame> {
    // The intermediate tables here are as long as the holdings: each is made inside the
    // expression or block that needs it, so that it is freed there (a shadowed binding would
    // hold it to the end) and the core joins' peak memory stays that of the forward join.
    // Only users count. Graph types every member; where a recording did not, the users table
    // decides, so a group or service principal is never reported.
    let mut user_holdings = keep(
        &filter_in(&keyed.holdings, s::PRINCIPAL_TYPE, &["user"])?,
        &[keys::R, keys::U],
    )?;
    let untyped = join(
        &filter_in(&keyed.holdings, s::PRINCIPAL_TYPE, &["unknown"])?,
        &keyed.users,
        &[keys::U],
        JoinType::Semi,
    )?;
    user_holdings
        .vstack_mut(&keep(&untyped, &[keys::R, keys::U])?)
        .frame("user holdings")?;
    drop(untyped);

    // Only roles on resources read completely (the keyed holdings are delivered roles already).
    let codes = keyed
        .package_roles
        .column(keys::SC)
        .frame("read status")?
        .u32()
        .frame("read status")?
        .equal(Status::Complete as u8 as u32);
    let complete_roles = keep(
        &keyed.package_roles.filter(&codes).frame("complete roles")?,
        &[keys::R],
    )?;
    let candidates = join(&user_holdings, &complete_roles, &[keys::R], JoinType::Semi)?;
    drop(user_holdings);

    let explaining = keep(
        &filter_in(&keyed.assignments, s::STATE, &EXPLAINING_STATES)?,
        &[keys::P, keys::U],
    )?;
    let explained_roles = {
        let explained = join(
            &explaining,
            &keep(&keyed.package_roles, &[keys::P, keys::R])?,
            &[keys::P],
            JoinType::Inner,
        )?;
        keep(&keys::with_role_user(explained)?, &[keys::RU])?
    };
    let unexplained = join(
        &keys::with_role_user(candidates)?,
        &explained_roles,
        &[keys::RU],
        JoinType::Anti,
    )?;
    drop(explained_roles);
    // A package whose role list is incomplete may explain any role: its holders are not
    // reported (their assignment is reported unverifiable instead).
    let whole = keyed
        .package_roles
        .column(keys::WHOLE)
        .frame("incomplete packages")?
        .bool()
        .frame("incomplete packages")?
        .clone();
    let incomplete = keep(
        &keyed
            .package_roles
            .filter(&whole)
            .frame("incomplete packages")?,
        &[keys::P],
    )?;
    let uncertain = join(&explaining, &incomplete, &[keys::P], JoinType::Semi)?;
    let unexplained = join(
        &unexplained,
        &keep(&uncertain, &[keys::U])?,
        &[keys::U],
        JoinType::Anti,
    )?;
    let unexplained = keyed.decode_holdings(&unexplained)?;
    let unexplained = with_literal(unexplained, s::ASSIGNMENT_ID, None)?;
    with_literal(unexplained, s::PACKAGE_ID, None)
}

enum Reason {
    Fixed(&'static str),
    /// `not_held`, qualified by what the complete read says of how it matched holders (a
    /// SharePoint group whose entries without an Entra object id were matched by UPN).
    NotHeld,
    Column(&'static str),
    /// `read_status: read_reason`, or `not_read` where the source reported nothing.
    Status,
}

/// Shapes one category's rows into the common core columns.
fn category(mut frame: DataFrame, rank: u8, name: &str, reason: Reason) -> Result<DataFrame> {
    let height = frame.height();
    let reason_values: Vec<Option<String>> = match reason {
        Reason::Fixed(text) => vec![Some(text.to_string()); height],
        Reason::NotHeld => frame
            .column(s::READ_REASON)
            .frame("reason")?
            .str()
            .frame("reason")?
            .iter()
            .map(|how| {
                Some(match how {
                    Some(how) if !how.is_empty() => format!("not_held ({how})"),
                    _ => "not_held".to_string(),
                })
            })
            .collect(),
        Reason::Column(column) => frame
            .column(column)
            .frame("reason")?
            .str()
            .frame("reason")?
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        Reason::Status => {
            let status = frame
                .column(s::READ_STATUS)
                .frame("reason")?
                .str()
                .frame("reason")?;
            let detail = frame
                .column(s::READ_REASON)
                .frame("reason")?
                .str()
                .frame("reason")?;
            status
                .iter()
                .zip(detail.iter())
                .map(|(status, detail)| {
                    Some(match (status, detail) {
                        (None, _) => "not_read".to_string(),
                        (Some(status), Some(detail)) if !detail.is_empty() => {
                            format!("{status}: {detail}")
                        }
                        (Some(status), _) => status.to_string(),
                    })
                })
                .collect()
        }
    };
    frame
        .with_column(Column::new(enrich::col::REASON.into(), reason_values))
        .frame("reason")?;
    frame
        .with_column(Column::new(
            CATEGORY_RANK.into(),
            vec![u32::from(rank); height],
        ))
        .frame("rank")?;
    let frame = with_literal(frame, enrich::col::CATEGORY, Some(name))?;
    keep(&frame, &CORE)
}

#[cfg(test)]
mod tests;
