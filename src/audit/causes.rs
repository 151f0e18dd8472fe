//! Explains findings from the directory audit log: each `missing_access` is joined to the latest
//! removal of that user from that role after the assignment started, each
//! `access_without_assignment` to the latest addition, each `resource_not_found` to the
//! deletion of the resource. A finding with no event says whether the log could have held one
//! (`not_in_log`) or not (`before_log_window`, `log_unreadable`) — never a guessed cause.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use polars::prelude::*;

use super::frames::{filter_in, join, keep, named_by};
use super::{col, ACCESS_WITHOUT_ASSIGNMENT, MISSING_ACCESS, RESOURCE_NOT_FOUND};
use crate::error::{FrameContext, Result};
use crate::snapshot::events::{ADDED, DELETED, REMOVED};
use crate::snapshot::roles::{APPLICATION, GROUP, SHAREPOINT_SITE};
use crate::snapshot::{col as s, AuditLog, Tables};

/// Values of [`col::CAUSE`] when no event explains the finding.
pub const NOT_IN_LOG: &str = "not_in_log";
pub const BEFORE_LOG_WINDOW: &str = "before_log_window";
pub const LOG_UNREADABLE: &str = "log_unreadable";
/// A SharePoint site role: site groups change in SharePoint's own audit log (Microsoft Purview),
/// not in Graph's directory audits, so the directory log can neither explain the finding nor
/// say that nothing happened (`not_in_log` is never claimed for one).
pub const OUTSIDE_DIRECTORY_LOG: &str = "outside_directory_log";

const ROW: &str = "finding_row";

/// Which event explains which category, joined on which keys, and whether only an event after
/// the assignment's start counts (a removal before it was undone by the delivery; a deletion
/// explains a missing resource whenever it happened).
const MATCHES: [(&str, &str, &[&str], bool); 3] = [
    (
        MISSING_ACCESS,
        REMOVED,
        &[s::RESOURCE_TYPE, s::RESOURCE_ID, s::ROLE, s::USER_ID],
        true,
    ),
    (
        ACCESS_WITHOUT_ASSIGNMENT,
        ADDED,
        &[s::RESOURCE_TYPE, s::RESOURCE_ID, s::ROLE, s::USER_ID],
        false,
    ),
    (
        RESOURCE_NOT_FOUND,
        DELETED,
        &[s::RESOURCE_TYPE, s::RESOURCE_ID],
        false,
    ),
];

/// Adds cause columns made by [`columns`] for these rows.
pub fn attach(findings: DataFrame, causes: Vec<Column>) -> Result<DataFrame> {
    let mut frame = findings;
    for column in causes {
        frame.with_column(column).frame("adding causes")?;
    }
    Ok(frame)
}

/// Whether two frames hold the same findings in the same order, as far as causes go: the key
/// columns [`columns`] reads are equal row by row.
pub fn same_keys(a: &DataFrame, b: &DataFrame) -> Result<bool> {
    if a.height() != b.height() {
        return Ok(false);
    }
    for name in KEY_COLUMNS {
        let (x, y) = (
            a.column(name).frame("cause keys")?,
            b.column(name).frame("cause keys")?,
        );
        if !x
            .as_materialized_series()
            .equals_missing(y.as_materialized_series())
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The findings' columns the causes are found from.
const KEY_COLUMNS: [&str; 6] = [
    col::CATEGORY,
    col::ASSIGNMENT_ID,
    col::USER_ID,
    col::RESOURCE_TYPE,
    col::RESOURCE_ID,
    col::ROLE,
];

/// The cause columns of the findings, in their row order (read from the key columns only, so
/// they can be found while the other columns are being made).
pub fn columns(findings: &DataFrame, tables: &Tables) -> Result<Vec<Column>> {
    let height = findings.height();
    let mut keyed = findings.select(KEY_COLUMNS).frame("cause keys")?;
    keyed
        .with_column(Column::new(
            ROW.into(),
            (0..height as u64).collect::<Vec<u64>>(),
        ))
        .frame("cause keys")?;
    // Only the assignments the findings name ([`named_by`]).
    let starts = named_by(
        &keep(
            &tables.assignments,
            &[s::ASSIGNMENT_ID, s::ASSIGNMENT_START],
        )?,
        &keyed,
        s::ASSIGNMENT_ID,
    )?;
    let keyed = join(&keyed, &starts, &[col::ASSIGNMENT_ID], JoinType::Left)?;

    let best = latest_events(&keyed, &tables.events)?;
    let payload = Payload::new(&best)?;
    let by_row: HashMap<u64, usize> = payload
        .rows
        .iter()
        .enumerate()
        .filter_map(|(i, row)| row.map(|r| (r, i)))
        .collect();

    // The keyed frame was reordered by the join: read its columns back by row number.
    let rows = u64_column(&keyed, ROW)?;
    let start_column = keyed.column(s::ASSIGNMENT_START).frame("cause keys")?;
    let start_values: Vec<Option<i64>> = start_column.i64().frame("cause keys")?.iter().collect();
    let mut starts_by_row: Vec<Option<i64>> = vec![None; height];
    for (row, start) in rows.iter().zip(start_values) {
        if let Some(row) = row {
            if let Some(slot) = starts_by_row.get_mut(*row as usize) {
                *slot = start;
            }
        }
    }

    let categories = text(findings, col::CATEGORY)?;
    let types = text(findings, col::RESOURCE_TYPE)?;
    let explained = |row: usize| -> bool {
        let category = categories[row].as_deref().unwrap_or("");
        let kind = types[row].as_deref().unwrap_or("");
        MATCHES.iter().any(|(c, _, _, _)| *c == category) && (kind == GROUP || kind == APPLICATION)
    };
    let site_role = |row: usize| -> bool {
        let category = categories[row].as_deref().unwrap_or("");
        MATCHES.iter().any(|(c, _, _, _)| *c == category)
            && types[row].as_deref() == Some(SHAREPOINT_SITE)
    };
    let mut out: [Vec<Option<String>>; 7] = std::array::from_fn(|_| Vec::with_capacity(height));
    for (row, start) in starts_by_row.iter().enumerate() {
        let values: [Option<String>; 7] = if site_role(row) && tables.audit_log != AuditLog::Skipped
        {
            let mut values: [Option<String>; 7] = Default::default();
            values[0] = Some(OUTSIDE_DIRECTORY_LOG.to_string());
            values
        } else if !explained(row) {
            Default::default()
        } else if let Some(&i) = by_row.get(&(row as u64)) {
            payload.values(i)
        } else {
            let cause = match &tables.audit_log {
                AuditLog::Skipped => None,
                AuditLog::Unread { .. } => Some(LOG_UNREADABLE),
                AuditLog::Read { since, .. } => Some(match start {
                    Some(start) if *start >= since.timestamp_millis() => NOT_IN_LOG,
                    // No start (or before the window): the change may predate the log.
                    _ => BEFORE_LOG_WINDOW,
                }),
            };
            let mut values: [Option<String>; 7] = Default::default();
            values[0] = cause.map(str::to_string);
            values
        };
        for (column, value) in out.iter_mut().zip(values) {
            column.push(value);
        }
    }
    Ok(col::CAUSES
        .iter()
        .zip(out)
        .map(|(name, values)| Column::new((*name).into(), values))
        .collect())
}

/// Per finding row, the latest event of the kind that explains its category, after its
/// assignment started (an event before the start was undone by the delivery).
fn latest_events(keyed: &DataFrame, events: &DataFrame) -> Result<DataFrame> {
    let payload = [
        s::EVENT_TIME,
        s::CHANGE,
        s::ACTOR,
        s::ACTOR_ID,
        s::ACTOR_KIND,
        s::ACTIVITY,
        s::CORRELATION_ID,
    ];
    let mut parts: Vec<DataFrame> = Vec::new();
    for (category, change, keys, after_start_only) in MATCHES {
        let findings = filter_in(keyed, col::CATEGORY, &[category])?;
        let mut left: Vec<&str> = vec![ROW, s::ASSIGNMENT_START];
        left.extend_from_slice(keys);
        let findings = keep(&findings, &left)?;
        let mut right: Vec<&str> = keys.to_vec();
        right.extend_from_slice(&payload);
        let changes = keep(&filter_in(events, s::CHANGE, &[change])?, &right)?;
        let joined = join(&findings, &changes, keys, JoinType::Inner)?;
        let after_start = {
            let at = joined
                .column(s::EVENT_TIME)
                .frame("causes")?
                .i64()
                .frame("causes")?;
            let start = joined
                .column(s::ASSIGNMENT_START)
                .frame("causes")?
                .i64()
                .frame("causes")?;
            at.gt_eq(start)
                .fill_null_with_values(true)
                .frame("causes")?
        };
        let joined = if after_start_only {
            joined.filter(&after_start).frame("causes")?
        } else {
            joined
        };
        let mut wanted = vec![ROW];
        wanted.extend_from_slice(&payload);
        parts.push(keep(&joined, &wanted)?);
    }
    let mut all = parts.remove(0);
    for part in parts {
        all.vstack_mut(&part).frame("causes")?;
    }
    let sorted = all
        .sort(
            [ROW, s::EVENT_TIME],
            SortMultipleOptions::default()
                .with_order_descending_multi([false, true])
                .with_maintain_order(true),
        )
        .frame("causes")?;
    sorted
        .unique_stable(Some(&[ROW.into()]), UniqueKeepStrategy::First, None)
        .frame("causes")
}

/// The chosen events' columns, read once.
struct Payload {
    rows: Vec<Option<u64>>,
    times: Vec<Option<i64>>,
    text: [Vec<Option<String>>; 6],
}

impl Payload {
    fn new(best: &DataFrame) -> Result<Payload> {
        let times = best
            .column(s::EVENT_TIME)
            .frame("causes")?
            .i64()
            .frame("causes")?
            .iter()
            .collect();
        Ok(Payload {
            rows: u64_column(best, ROW)?,
            times,
            text: [
                text(best, s::CHANGE)?,
                text(best, s::ACTOR)?,
                text(best, s::ACTOR_ID)?,
                text(best, s::ACTOR_KIND)?,
                text(best, s::ACTIVITY)?,
                text(best, s::CORRELATION_ID)?,
            ],
        })
    }

    /// The cause columns, in [`col::CAUSES`] order, of chosen event `i`.
    fn values(&self, i: usize) -> [Option<String>; 7] {
        let [change, actor, actor_id, kind, activity, correlation] = &self.text;
        let time = self.times[i]
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
        [
            change[i].clone(),
            time,
            actor[i].clone(),
            actor_id[i].clone(),
            kind[i].clone(),
            activity[i].clone(),
            correlation[i].clone(),
        ]
    }
}

fn text(frame: &DataFrame, name: &str) -> Result<Vec<Option<String>>> {
    Ok(frame
        .column(name)
        .frame("causes")?
        .str()
        .frame("causes")?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

fn u64_column(frame: &DataFrame, name: &str) -> Result<Vec<Option<u64>>> {
    Ok(frame
        .column(name)
        .frame("causes")?
        .u64()
        .frame("causes")?
        .iter()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(rows: &[(&str, &str)]) -> DataFrame {
        let height = rows.len();
        let mut columns: Vec<Column> = KEY_COLUMNS
            .iter()
            .map(|name| Column::new((*name).into(), vec!["x"; height]))
            .collect();
        columns[1] = Column::new(
            col::ASSIGNMENT_ID.into(),
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        );
        columns[2] = Column::new(
            col::USER_ID.into(),
            rows.iter()
                .map(|r| Some(r.1).filter(|u| !u.is_empty()))
                .collect::<Vec<_>>(),
        );
        DataFrame::new(height, columns).unwrap()
    }

    /// Causes found for one frame are attached to another only when its rows are the same.
    #[test]
    fn same_keys_means_same_rows_in_the_same_order() {
        let a = keys(&[("a1", "u1"), ("a2", "")]);
        assert!(same_keys(&a, &keys(&[("a1", "u1"), ("a2", "")])).unwrap());
        assert!(!same_keys(&a, &keys(&[("a2", ""), ("a1", "u1")])).unwrap());
        assert!(!same_keys(&a, &keys(&[("a1", "u1"), ("a2", "u2")])).unwrap());
        assert!(!same_keys(&a, &keys(&[("a1", "u1")])).unwrap());
    }
}
