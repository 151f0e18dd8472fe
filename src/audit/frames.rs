//! Small eager-polars helpers the audit composes: select, filter by value, join, literals.

use polars::prelude::*;

use crate::error::{FrameContext, Result};

/// The named columns, in that order.
pub fn keep(frame: &DataFrame, names: &[&str]) -> Result<DataFrame> {
    frame
        .select(names.iter().copied())
        .frame("selecting columns")
}

/// Rows whose string column equals one of `values`.
pub fn filter_in(frame: &DataFrame, column: &str, values: &[&str]) -> Result<DataFrame> {
    let strings = frame
        .column(column)
        .frame("filter column")?
        .str()
        .frame("filter column")?;
    let mut mask = BooleanChunked::full("mask".into(), false, frame.height());
    for value in values {
        mask = mask | strings.equal(*value);
    }
    // `equal` yields null for null cells; a null row never matches.
    let mask = mask.fill_null_with_values(false).frame("filter mask")?;
    frame.filter(&mask).frame("filtering rows")
}

/// An equi-join on same-named keys. Null keys never match.
pub fn join(left: &DataFrame, right: &DataFrame, on: &[&str], how: JoinType) -> Result<DataFrame> {
    left.join(
        right,
        on.iter().copied(),
        on.iter().copied(),
        JoinArgs::new(how),
        None,
    )
    .frame("joining tables")
}

/// The rows of `table` whose `key` some row of `named` has: what a left join of `named` with
/// `table` can match, found before it so that the join hashes those rows, not all of
/// millions (names and causes look up a few hundred thousand findings this way).
pub fn named_by(table: &DataFrame, named: &DataFrame, key: &str) -> Result<DataFrame> {
    join(table, &keep(named, &[key])?, &[key], JoinType::Semi)
}

/// Adds (or replaces) a string column holding one value, or nulls.
pub fn with_literal(mut frame: DataFrame, name: &str, value: Option<&str>) -> Result<DataFrame> {
    let height = frame.height();
    let column = match value {
        Some(value) => Column::new(name.into(), vec![value; height]),
        None => Column::full_null(name.into(), height, &DataType::String),
    };
    frame.with_column(column).frame("adding a column")?;
    Ok(frame)
}
