//! The history and exceptions parts of `drift.xlsx`: the trend table and line chart on the
//! Summary sheet, the Resolved sheet and the Exceptions sheet. Writers only.

use super::cells;
use chrono::{DateTime, Utc};
use rust_xlsxwriter::{Chart, ChartType, Format, Workbook, Worksheet, XlsxError};

use super::history_csv::{exception_cells, resolved_cells, resolved_header, EXCEPTION_COLUMNS};
use crate::audit::annotate::{ExceptionRow, Resolved, EXCEPTION_EXPIRED};
use crate::audit::CATEGORIES;

pub const RESOLVED_SHEET: &str = "Resolved";
pub const EXCEPTIONS_SHEET: &str = "Exceptions";
/// Heading of the trend table on the Summary sheet.
pub const TREND_HEADING: &str = "Trend over past runs";
const TREND_COLUMNS: [&str; 4] = ["total", "new", "resolved", "excepted"];

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
        .chain(CATEGORIES)
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
    for (column, category) in (1u16..).zip(CATEGORIES) {
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

/// Findings of the previous run that this run no longer has.
pub fn write_resolved_sheet(workbook: &mut Workbook, rows: &[Resolved]) -> Result<(), XlsxError> {
    let header = resolved_header();
    let sheet = start(workbook, RESOLVED_SHEET, &header)?;
    for (excel_row, row) in (1u32..).zip(rows) {
        let cells = resolved_cells(row);
        let last = cells.len() - 1;
        for (column, cell) in (0u16..).zip(&cells) {
            // The last cell is days_open: a number, for sorting.
            match cell.parse::<i64>() {
                Ok(days) if column as usize == last => {
                    sheet.write_number(excel_row, column, days as f64)?;
                }
                _ => {
                    cells::write_text(sheet, excel_row, column, cell)?;
                }
            }
        }
    }
    sheet.autofilter(0, 0, rows.len() as u32, header.len() as u16 - 1)?;
    Ok(())
}

/// The register as this run applied it: state, days left and findings covered.
pub fn write_exceptions_sheet(
    workbook: &mut Workbook,
    rows: &[ExceptionRow],
) -> Result<(), XlsxError> {
    let sheet = start(workbook, EXCEPTIONS_SHEET, &EXCEPTION_COLUMNS)?;
    let expired = Format::new()
        .set_font_color("9C0006")
        .set_background_color("FFC7CE");
    for (excel_row, row) in (1u32..).zip(rows) {
        for (column, cell) in (0u16..).zip(exception_cells(row)) {
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

fn start<'a>(
    workbook: &'a mut Workbook,
    name: &str,
    header: &[&str],
) -> Result<&'a mut Worksheet, XlsxError> {
    let bold = Format::new().set_bold();
    let sheet = workbook.add_worksheet().set_name(name)?;
    for (column, title) in (0u16..).zip(header) {
        let width = match *title {
            "covers" | "reason" | "origin" => 44.0,
            "resource_id" | "assignment_id" | "access_package_id" | "user_id" | "role" => 38.0,
            _ => 18.0,
        };
        sheet.set_column_width(column, width)?;
        cells::write_text_with_format(sheet, 0, column, *title, &bold)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(sheet)
}
