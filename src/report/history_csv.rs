//! `resolved.csv` (findings of the previous run that are gone) and `exceptions.csv` (the
//! register as this run applied it). Same dialect as `findings.csv`: UTF-8, CRLF, formula
//! cells neutralised.

use std::path::Path;

use super::write_csv;
use crate::audit::annotate::{ExceptionRow, Resolved, NAME_COLUMNS};
use crate::audit::col;
use crate::error::Result;

pub const RESOLVED_CSV: &str = "resolved.csv";
pub const EXCEPTIONS_CSV: &str = "exceptions.csv";

/// Columns of `resolved.csv` (and the Resolved sheet) after the seven contract columns and
/// the five name columns.
pub const RESOLVED_DATES: [&str; 4] = ["first_seen", "last_seen", "resolved_on", "days_open"];

/// Columns of `exceptions.csv` (and the Exceptions sheet).
pub const EXCEPTION_COLUMNS: [&str; 10] = [
    "id",
    "covers",
    "state",
    "expires",
    "days_left",
    "findings",
    "reason",
    "approver",
    "ticket",
    "origin",
];

pub fn resolved_header() -> Vec<&'static str> {
    col::REQUIRED
        .iter()
        .chain(NAME_COLUMNS.iter())
        .chain(RESOLVED_DATES.iter())
        .copied()
        .collect()
}

/// The cells of one resolved finding, in [`resolved_header`] order.
pub fn resolved_cells(row: &Resolved) -> Vec<String> {
    let mut cells: Vec<String> = row.key.iter().chain(row.names.iter()).cloned().collect();
    for date in [row.first_seen, row.last_seen, row.resolved_on] {
        cells.push(date.format("%Y-%m-%d").to_string());
    }
    cells.push(row.days_open.to_string());
    cells
}

/// The cells of one exception, in [`EXCEPTION_COLUMNS`] order.
pub fn exception_cells(row: &ExceptionRow) -> Vec<String> {
    vec![
        row.id.clone(),
        row.covers.clone(),
        row.state.to_string(),
        row.expires.format("%Y-%m-%d").to_string(),
        row.days_left.to_string(),
        row.findings.to_string(),
        row.reason.clone(),
        row.approver.clone(),
        row.ticket.clone(),
        row.origin.clone(),
    ]
}

pub fn write_resolved_csv(path: &Path, rows: &[Resolved]) -> Result<()> {
    write_csv(path, &resolved_header(), rows.iter().map(resolved_cells))
}

pub fn write_exceptions_csv(path: &Path, rows: &[ExceptionRow]) -> Result<()> {
    write_csv(path, &EXCEPTION_COLUMNS, rows.iter().map(exception_cells))
}
