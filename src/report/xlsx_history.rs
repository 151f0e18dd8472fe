//! The history and exceptions parts of `drift.xlsx`: the trend table and line chart on the
//! Summary sheet, the Resolved sheet and the Exceptions sheet. Writers only.

use super::cells;
use chrono::{DateTime, Utc};
use rust_xlsxwriter::{Chart, ChartType, Format, Workbook, Worksheet, XlsxError};

use super::history_csv::{exception_cells, resolved_cells, resolved_header, EXCEPTION_COLUMNS};
use super::xlsx::print_setup;
use crate::audit::annotate::{ExceptionRow, Resolved, EXCEPTION_EXPIRED};
use crate::audit::CATEGORY_TITLES;

pub const RESOLVED_SHEET: &str = "Resolved";
pub const EXCEPTIONS_SHEET: &str = "Exceptions";
/// Heading of the trend table on the Summary sheet.
pub const TREND_HEADING: &str = "Trend over past runs";
const TREND_COLUMNS: [&str; 4] = ["Total", "New", "Resolved", "Excepted"];

/// One run in the trend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrendPoint {
    pub run: String,
    pub generated_at: DateTime<Utc>,
    pub categories: [usize; 5],
    pub total: usize,
    pub new: usize,
    pub resolved: usize,
    pub excepted: usize,
}

/// The trend table at `row` (heading, header, one row per run, oldest first) and, below it, a
/// line chart with one line per category. Nothing when there is no trend.
pub fn write_trend(sheet: &mut Worksheet, row: u32, trend: &[TrendPoint]) -> Result<(), XlsxError> {
    if trend.is_empty() {
        return Ok(());
    }
    let bold = Format::new().set_bold();
    let header = Format::new().set_bold().set_text_wrap();
    cells::write_text_with_format(sheet, row, 0, TREND_HEADING, &bold)?;
    let header_row = row + 1;
    let headers = std::iter::once("run (UTC)")
        .chain(CATEGORY_TITLES)
        .chain(TREND_COLUMNS);
    for (column, text) in (0u16..).zip(headers) {
        cells::write_text_with_format(sheet, header_row, column, text, &header)?;
    }
    for (excel_row, point) in (header_row + 1..).zip(trend) {
        let label = point.generated_at.format("%Y-%m-%d %H:%M").to_string();
        cells::write_text(sheet, excel_row, 0, label)?;
        let numbers = point.categories.iter().chain([
            &point.total,
            &point.new,
            &point.resolved,
            &point.excepted,
        ]);
        for (column, value) in (1u16..).zip(numbers) {
            sheet.write_number(excel_row, column, *value as f64)?;
        }
    }
    let first = header_row + 1;
    let last = header_row + trend.len() as u32;
    let mut chart = Chart::new(ChartType::Line);
    for (column, category) in (1u16..).zip(CATEGORY_TITLES) {
        chart
            .add_series()
            .set_name(category)
            .set_categories(("Summary", first, 0, last, 0))
            .set_values(("Summary", first, column, last, column));
    }
    chart
        .title()
        .set_name("Findings per category over past runs");
    chart.x_axis().set_name("Run");
    chart.y_axis().set_name("Findings");
    chart.set_width(900).set_height(320);
    sheet.insert_chart(last + 2, 0, &chart)?;
    Ok(())
}

/// The Resolved sheet's columns, by their place in [`resolved_header`], with heading and
/// width: the first nine print, the ids follow.
const RESOLVED_LAYOUT: [(usize, &str, f64); 16] = [
    (0, "Category", 18.0),
    (7, "User", 18.0),
    (8, "Sign-in name", 24.0),
    (9, "Access package", 20.0),
    (10, "Resource", 20.0),
    (11, "Role", 14.0),
    (12, "First seen", 11.0),
    (14, "Resolved on", 11.0),
    (15, "Days open", 7.0),
    (13, "Last seen", 11.0),
    (1, "Assignment id", 38.0),
    (2, "Access package id", 38.0),
    (3, "User id", 38.0),
    (4, "Resource type", 16.0),
    (5, "Resource id", 38.0),
    (6, "Role id", 38.0),
];
const RESOLVED_PRINTED: u16 = 9;

/// Findings of the previous run that this run no longer has.
pub fn write_resolved_sheet(
    workbook: &mut Workbook,
    rows: &[Resolved],
    footer: &str,
) -> Result<(), XlsxError> {
    debug_assert_eq!(resolved_header().len(), RESOLVED_LAYOUT.len());
    let headings: Vec<(&str, f64)> = RESOLVED_LAYOUT.iter().map(|(_, h, w)| (*h, *w)).collect();
    let sheet = start(
        workbook,
        RESOLVED_SHEET,
        &headings,
        RESOLVED_PRINTED,
        footer,
    )?;
    for (excel_row, row) in (1u32..).zip(rows) {
        let cells = resolved_cells(row);
        let last = cells.len() - 1;
        let lines = cells::row_lines(
            RESOLVED_LAYOUT
                .iter()
                .take(usize::from(RESOLVED_PRINTED))
                .map(|(at, _, width)| (cells[*at].as_str(), *width)),
        );
        sheet.set_row_height(excel_row, cells::row_height(lines))?;
        for (column, (at, _, _)) in (0u16..).zip(RESOLVED_LAYOUT) {
            let cell = &cells[at];
            // The last cell is days_open: a number, for sorting.
            match cell.parse::<i64>() {
                Ok(days) if at == last => {
                    sheet.write_number(excel_row, column, days as f64)?;
                }
                _ => {
                    cells::write_text(sheet, excel_row, column, cell)?;
                }
            }
        }
    }
    sheet.autofilter(0, 0, rows.len() as u32, headings.len() as u16 - 1)?;
    Ok(())
}

/// The Exceptions sheet's headings and widths, in [`EXCEPTION_COLUMNS`] order; all but the
/// origin print.
const EXCEPTION_LAYOUT: [(&str, f64); 10] = [
    ("Exception", 11.0),
    ("Covers", 40.0),
    ("State", 9.0),
    ("Expires", 11.0),
    ("Days left", 7.0),
    ("Findings covered", 9.0),
    ("Reason", 40.0),
    ("Approver", 24.0),
    ("Ticket", 12.0),
    ("Origin", 44.0),
];
const EXCEPTION_PRINTED: u16 = 9;

/// The register as this run applied it: state, days left and findings covered.
pub fn write_exceptions_sheet(
    workbook: &mut Workbook,
    rows: &[ExceptionRow],
    footer: &str,
) -> Result<(), XlsxError> {
    let sheet = start(
        workbook,
        EXCEPTIONS_SHEET,
        &EXCEPTION_LAYOUT,
        EXCEPTION_PRINTED,
        footer,
    )?;
    let expired = cells::wrap_format()
        .set_font_color("9C0006")
        .set_background_color("FFC7CE");
    for (excel_row, row) in (1u32..).zip(rows) {
        let texts = exception_cells(row);
        let lines = cells::row_lines(
            texts
                .iter()
                .zip(EXCEPTION_LAYOUT)
                .take(usize::from(EXCEPTION_PRINTED))
                .map(|(cell, (_, width))| (cell.as_str(), width)),
        );
        sheet.set_row_height(excel_row, cells::row_height(lines))?;
        for (column, cell) in (0u16..).zip(texts) {
            let name = EXCEPTION_COLUMNS[column as usize];
            let numeric = matches!(name, "days_left" | "findings");
            match cell.parse::<i64>() {
                Ok(number) if numeric => {
                    sheet.write_number(excel_row, column, number as f64)?;
                }
                _ if name == "state" && row.state == EXCEPTION_EXPIRED => {
                    cells::write_text_with_format(sheet, excel_row, column, cell, &expired)?;
                }
                _ => {
                    cells::write_text(sheet, excel_row, column, cell)?;
                }
            }
        }
    }
    sheet.autofilter(0, 0, rows.len() as u32, EXCEPTION_COLUMNS.len() as u16 - 1)?;
    Ok(())
}

/// A history sheet with its headings, widths and print area; printed columns wrap.
fn start<'a>(
    workbook: &'a mut Workbook,
    name: &str,
    columns: &[(&str, f64)],
    printed: u16,
    footer: &str,
) -> Result<&'a mut Worksheet, XlsxError> {
    let bold = cells::header_format();
    let wrap = cells::wrap_format();
    let sheet = workbook.add_worksheet().set_name(name)?;
    for (column, (title, width)) in (0u16..).zip(columns) {
        sheet.set_column_width(column, *width)?;
        if column < printed {
            sheet.set_column_format(column, &wrap)?;
        }
        cells::write_text_with_format(sheet, 0, column, *title, &bold)?;
    }
    let lines = cells::row_lines(columns.iter().copied());
    sheet.set_row_height(0, cells::row_height(lines))?;
    sheet.set_freeze_panes(1, 0)?;
    print_setup(sheet, footer, true, Some(printed))?;
    Ok(sheet)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::xlsx::{print_scale, MIN_PRINT_SCALE};

    #[test]
    fn history_sheets_print_at_a_readable_size() {
        let resolved: Vec<f64> = RESOLVED_LAYOUT.iter().map(|(_, _, w)| *w).collect();
        let exceptions: Vec<f64> = EXCEPTION_LAYOUT.iter().map(|(_, w)| *w).collect();
        for (widths, printed) in [
            (resolved, RESOLVED_PRINTED),
            (exceptions, EXCEPTION_PRINTED),
        ] {
            let scale = print_scale(&widths[..usize::from(printed)]);
            assert!(scale >= MIN_PRINT_SCALE, "{scale}");
        }
        let mut places: Vec<usize> = RESOLVED_LAYOUT.iter().map(|(at, _, _)| *at).collect();
        places.sort_unstable();
        assert_eq!(places, (0..resolved_header().len()).collect::<Vec<_>>());
    }
}
