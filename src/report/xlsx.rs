//! `drift.xlsx`: the workbook's order of sheets (Summary, Read me, one per category split past
//! Excel's row limit, Resolved, Exceptions, Plan), the category and Plan sheets, and how every
//! sheet prints. Every text is written as a string, never as a formula.

use std::path::Path;

use super::cells;
use chrono::{DateTime, Utc};
use polars::prelude::DataFrame;
use rust_xlsxwriter::{
    Color, ConditionalFormat2ColorScale, DataValidation, DocProperties, Format, ProtectionOptions,
    Workbook, Worksheet, XlsxError,
};

use super::words;
use super::xlsx_history::TrendPoint;
use super::xlsx_history::{write_exceptions_sheet, write_resolved_sheet};
use super::xlsx_readme::{write_read_me, ReadMeSheets};
use super::xlsx_summary::write_summary;
use super::StringRows;
use crate::audit::annotate::{ExceptionRow, Resolved};
use crate::audit::summary::Summary;
use crate::audit::{col, CATEGORIES};
use crate::error::{Error, Result};
use crate::plan::approval::{
    plan_heading, ACTION_COLUMN, APPROVE_COLUMN, ASSIGNMENT_COLUMN, DIGEST_COLUMN, ITEM_COLUMN,
    PLAN_SHEET, REASON_COLUMN,
};
use crate::plan::{Action, Plan};
use crate::snapshot::SnapshotInfo;

/// Rows in one Excel worksheet, header included.
pub const EXCEL_MAX_ROWS: usize = 1_048_576;
/// Excel stops honouring hyperlinks past 65,530 per worksheet; beyond it the ids stay as text.
const MAX_LINKS_PER_SHEET: usize = 65_530;

const SHEET_NAMES: [&str; 5] = crate::audit::CATEGORY_TITLES;

pub struct WorkbookInput<'a> {
    pub info: &'a SnapshotInfo,
    /// The run folder's name, for the printed footer.
    pub run: String,
    pub generated_at: DateTime<Utc>,
    pub findings: &'a DataFrame,
    pub summary: &'a Summary,
    pub plan: Option<&'a Plan>,
    /// Data rows per category sheet before continuing on the next (tests lower it).
    pub max_data_rows: usize,
    /// Counts the rows written (a long workbook's progress).
    pub rows: Option<&'a crate::progress::Counter>,
    /// Who the findings and plan items wait for ([`words::waiting`]; the views show the same).
    pub waiting: &'a [words::Waiting],
}

/// What a run adds to the workbook beyond the findings: history and exceptions. Empty by
/// default, which gives the workbook of a bare audit.
#[derive(Debug, Default)]
pub struct WorkbookExtras<'a> {
    /// More label/value rows for the Summary's facts (new, resolved, excepted, ...).
    pub facts: Vec<(&'static str, String)>,
    /// Past runs and this one, oldest first; no trend table when empty.
    pub trend: &'a [TrendPoint],
    /// The Resolved sheet, written when there is a previous run (even when empty).
    pub resolved: Option<&'a [Resolved]>,
    /// The Exceptions sheet, written when a register is configured.
    pub exceptions: Option<&'a [ExceptionRow]>,
    /// Opened once the rows are written, before the workbook is compressed and saved.
    pub rows_written: Option<&'a super::Gate>,
}

pub fn write_workbook(path: &Path, input: &WorkbookInput) -> Result<()> {
    write_workbook_with(path, input, &WorkbookExtras::default())
}

/// The workbook with history and exceptions: sheets Summary, the categories, Resolved (with
/// a previous run), Exceptions (with a register), Plan.
pub fn write_workbook_with(
    path: &Path,
    input: &WorkbookInput,
    extras: &WorkbookExtras,
) -> Result<()> {
    let error = |source| Error::Xlsx {
        path: path.to_path_buf(),
        source,
    };
    let mut workbook = Workbook::new();
    // Level 2 (zlib's "fast" strategy) rather than the default 6: compressing is most of a
    // large run's workbook time, on one core. At `xl`, level 3 (Excel's own) saved in
    // 4.1-4.4 s and level 2 in 3.6-3.8 s, for a file 2 % larger (91.4 MB instead of 89.4 MB);
    // level 1 saved ~0.8 s against level 3, for a file 38 % larger.
    workbook.set_zip_compression_level(2);
    // A fixed creation time makes the file reproducible from the same findings.
    workbook.set_properties(
        &DocProperties::new()
            .set_title("entra-drift access drift report")
            .set_company(input.info.tenant_name.as_deref().unwrap_or_default())
            .set_creation_datetime(&input.generated_at),
    );
    let footer = footer(input.info, &input.run);
    let sheets =
        write_summary(&mut workbook, input, extras, input.waiting, &footer).map_err(error)?;
    let names = ReadMeSheets {
        categories: &sheets,
        resolved: extras.resolved.is_some(),
        exceptions: extras.exceptions.is_some(),
        plan: input.plan.is_some(),
    };
    write_read_me(&mut workbook, &names, input.waiting, &footer).map_err(error)?;
    // The large sheets are added (headed) in their order first, then their rows are written
    // at once: the categories on this thread, the plan on another. Both are written row by
    // row to temporary files, so the two take two cores instead of one after the other.
    let first_category = workbook.worksheets().len();
    let categories = add_category_sheets(&mut workbook, input, &sheets, &footer).map_err(error)?;
    let category_count = workbook.worksheets().len() - first_category;
    if let Some(resolved) = extras.resolved {
        write_resolved_sheet(&mut workbook, resolved, &footer).map_err(error)?;
    }
    if let Some(exceptions) = extras.exceptions {
        write_exceptions_sheet(&mut workbook, exceptions, &footer).map_err(error)?;
    }
    let plan_sheet = match input.plan {
        Some(_) => Some(add_plan_sheet(&mut workbook, &footer).map_err(error)?),
        None => None,
    };
    // Every format the rows use is numbered here, in this order: rows written on two threads
    // would otherwise number a format by whichever thread met it first, and the same findings
    // would make different files (the run's manifest digests them).
    for format in [
        cells::wrap_format(),
        cells::link_format(cells::wrap_format()),
        Format::new().set_hyperlink(),
        approval_format(),
    ] {
        workbook.register_format(&format);
    }
    let worksheets = workbook.worksheets_mut();
    let split = plan_sheet.unwrap_or(worksheets.len());
    let (before_plan, from_plan) = worksheets.split_at_mut(split);
    let category_sheets = &mut before_plan[first_category..first_category + category_count];
    let started = std::time::Instant::now();
    let lap = |what: &str| {
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "workbook: {what}"
        )
    };
    let (filled, planned) = crate::threads::both(
        || {
            let filled = fill_categories(category_sheets, input, &sheets, &categories);
            lap("category rows written");
            filled
        },
        || match (input.plan, from_plan.first_mut()) {
            (Some(plan), Some(sheet)) => {
                let planned = fill_plan(sheet, plan);
                lap("plan rows written");
                planned
            }
            _ => Ok(()),
        },
    );
    if let Some(gate) = extras.rows_written {
        gate.open();
    }
    filled.map_err(error)?;
    planned.map_err(error)?;
    workbook.save(path).map_err(error)?;
    lap("saved");
    // Freeing a large workbook's sheets took ~0.25 s at `xl`, after the file is complete: done
    // on a thread of its own, beside what follows (its temporary files are unnamed, so they
    // go with the process even if it ends first).
    // Were no thread to be had, the closure, and the workbook with it, is dropped right here.
    let _ = std::thread::Builder::new()
        .name("free workbook".into())
        .spawn(move || drop(workbook));
    Ok(())
}

/// The sheet names each category is written to (several when it is split).
pub fn sheet_names(input: &WorkbookInput) -> Vec<Vec<String>> {
    input
        .summary
        .categories
        .iter()
        .zip(SHEET_NAMES)
        .map(|(count, base)| {
            let parts = count.findings.div_ceil(input.max_data_rows).max(1);
            (1..=parts)
                .map(|part| {
                    if part == 1 {
                        base.to_string()
                    } else {
                        format!("{base} ({part})")
                    }
                })
                .collect()
        })
        .collect()
}

/// What a category sheet prints, with each column's width: who, what is wrong and where it
/// stands. Every other column follows outside the print area.
const PRINTED: [(&str, f64); 9] = [
    (col::USER_NAME, 18.0),
    (col::USER_UPN, 24.0),
    (col::DETAIL, 40.0),
    (col::STATUS, 10.0),
    (col::DAYS_OPEN, 7.0),
    (col::IN_PLAN, 7.0),
    (col::SKIP_REASON, 22.0),
    (col::CAUSE, 20.0),
    (col::CAUSE_ACTOR, 20.0),
];

/// The columns a reviewer filters on screen, right of the printed ones; the ids and the rest
/// follow in report order (the CSV keeps the report order).
const ON_SCREEN: [&str; 12] = [
    col::PACKAGE_NAME,
    col::RESOURCE_NAME,
    col::ROLE_NAME,
    col::USER_ENABLED,
    col::EXCEPTION_STATE,
    col::EXCEPTION,
    col::FIRST_SEEN,
    col::CAUSE_TIME,
    col::CAUSE_ACTOR_KIND,
    col::CAUSE_ACTIVITY,
    col::STATE,
    col::REASON,
];

/// A category sheet's columns: the printed ones, those a reviewer filters on, then the ids and
/// the rest. Returns the columns and how many of them are printed.
pub fn sheet_columns(present: &[&'static str]) -> (Vec<&'static str>, usize) {
    let mut columns: Vec<&'static str> = PRINTED
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| present.contains(c))
        .collect();
    let printed = columns.len();
    for c in ON_SCREEN.iter().chain(&col::ALL) {
        if present.contains(c) && !columns.contains(c) {
            columns.push(c);
        }
    }
    (columns, printed)
}

/// Widths that fit a sample of each column's content, within bounds (a 40-character id stays
/// readable; a long detail wraps at 60).
fn fitted_widths(columns: &[&str], rows: &StringRows) -> Vec<f64> {
    const SAMPLE: usize = 2_000;
    let mut widest: Vec<usize> = columns
        .iter()
        .map(|c| words::heading(c).len().min(16))
        .collect();
    for row in rows.iter().take(SAMPLE) {
        for (w, cell) in widest.iter_mut().zip(&row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    widest
        .iter()
        .map(|w| (*w as f64 + 2.0).clamp(9.0, 60.0))
        .collect()
}

/// A4 landscape less 0.4" side margins: 10.89" of paper, in Excel's 96 dpi pixels.
#[cfg(test)]
const PRINTABLE_PX: f64 = 1_045.0;
/// The smallest print scale a sheet may need: Calibri 11 pt at 80% is 8.8 pt on paper.
#[cfg(test)]
pub const MIN_PRINT_SCALE: f64 = 0.8;

/// A column's width in pixels, as Excel draws a width of `characters` in Calibri 11.
#[cfg(test)]
fn column_px(characters: f64) -> f64 {
    (characters * 7.0 + 5.0).trunc()
}

/// The scale "one page wide" prints columns of these widths at (1.0 when they fit).
#[cfg(test)]
pub fn print_scale(widths: &[f64]) -> f64 {
    (PRINTABLE_PX / widths.iter().copied().map(column_px).sum::<f64>()).min(1.0)
}

/// Landscape, one page wide, the header row on every page, and a footer naming the tenant,
/// the run and the page. `printed` limits the print area to the first columns: each sheet
/// keeps what it prints within [`MIN_PRINT_SCALE`], and its ids to the right print only when
/// asked for.
pub fn print_setup(
    sheet: &mut Worksheet,
    footer: &str,
    header_rows: bool,
    printed: Option<u16>,
) -> Result<(), XlsxError> {
    sheet.set_landscape();
    sheet.set_paper_size(9);
    sheet.set_margins(0.4, 0.4, 0.6, 0.7, 0.3, 0.3);
    sheet.set_print_fit_to_pages(1, 0);
    if header_rows {
        sheet.set_repeat_rows(0, 0)?;
    }
    if let Some(columns) = printed {
        sheet.set_print_area(0, 0, 1_048_575, columns.saturating_sub(1))?;
    }
    sheet.set_footer(footer);
    Ok(())
}

/// The footer text: `&` is Excel's field marker, so the tenant's own are doubled.
pub fn footer(info: &SnapshotInfo, run: &str) -> String {
    let tenant = info
        .tenant_name
        .clone()
        .unwrap_or_else(|| info.tenant_id.clone())
        .replace('&', "&&");
    format!("&L{tenant}&Crun {}&RPage &P of &N", run.replace('&', "&&"))
}

fn start_findings_sheet<'a>(
    workbook: &'a mut Workbook,
    name: &str,
    columns: &[&str],
    layout: &Layout,
    tab: Color,
    footer: &str,
) -> Result<&'a mut Worksheet, XlsxError> {
    let header = cells::header_format();
    let wrap = cells::wrap_format();
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    sheet.set_name(name)?;
    sheet.set_tab_color(tab);
    for (column, width) in (0u16..).zip(&layout.widths) {
        sheet.set_column_width(column, *width)?;
        if usize::from(column) < layout.printed {
            sheet.set_column_format(column, &wrap)?;
        }
    }
    // The user column stays in view while scrolling right.
    sheet.set_freeze_panes(1, 1)?;
    print_setup(sheet, footer, true, Some(layout.printed as u16))?;
    let lines = cells::row_lines(
        columns
            .iter()
            .zip(&layout.widths)
            .map(|(name, width)| (words::heading(name), *width)),
    );
    sheet.set_row_height(0, cells::row_height(lines))?;
    for (column, name) in (0u16..).zip(columns) {
        cells::write_text_with_format(sheet, 0, column, words::heading(name), &header)?;
    }
    Ok(sheet)
}

/// A category sheet's widths (the printed columns' fixed, the others fitted to their content)
/// and how many columns print.
struct Layout {
    widths: Vec<f64>,
    printed: usize,
}

/// The category sheets' shared layout, and the findings' rows as text.
struct CategorySheets<'a> {
    columns: Vec<&'static str>,
    layout: Layout,
    rows: StringRows<'a>,
}

/// Adds every category sheet (several for a category past Excel's rows), headed, in order.
fn add_category_sheets<'a>(
    workbook: &mut Workbook,
    input: &WorkbookInput<'a>,
    sheets: &[Vec<String>],
    footer: &str,
) -> Result<CategorySheets<'a>, XlsxError> {
    let (columns, printed) = sheet_columns(&col::present(input.findings));
    let rows = StringRows::new(input.findings, &columns)
        .map_err(|e| XlsxError::ParameterError(e.to_string()))?;
    let mut widths = fitted_widths(&columns, &rows);
    for (width, name) in widths.iter_mut().zip(&columns).take(printed) {
        if let Some((_, fixed)) = PRINTED.iter().find(|(c, _)| c == name) {
            *width = *fixed;
        }
    }
    let layout = Layout { widths, printed };
    for (names, (r, g, b)) in sheets.iter().zip(super::charts::CATEGORY_COLOURS) {
        let tab = Color::RGB((u32::from(r) << 16) | (u32::from(g) << 8) | u32::from(b));
        for name in names {
            start_findings_sheet(workbook, name, &columns, &layout, tab, footer)?;
        }
    }
    Ok(CategorySheets {
        columns,
        layout,
        rows,
    })
}

/// Writes the findings into the sheets [`add_category_sheets`] added, in their order.
fn fill_categories(
    worksheets: &mut [Worksheet],
    input: &WorkbookInput,
    sheets: &[Vec<String>],
    categories: &CategorySheets,
) -> Result<(), XlsxError> {
    let CategorySheets {
        columns,
        layout,
        rows,
    } = categories;
    let position = |name: &str| columns.iter().position(|c| *c == name);
    let category_col = position(col::CATEGORY).unwrap_or(0);
    let user_col = position(col::USER_NAME).unwrap_or(usize::MAX);
    let user_id_col = position(col::USER_ID).unwrap_or(usize::MAX);
    let package_col = position(col::PACKAGE_NAME).unwrap_or(usize::MAX);
    let package_id_col = position(col::PACKAGE_ID).unwrap_or(usize::MAX);
    // Days open is a number, so that a reviewer can sort and filter on it.
    let days_col = position(col::DAYS_OPEN).unwrap_or(usize::MAX);
    let link_format = cells::link_format(cells::wrap_format());
    let mut rows = rows.iter().peekable();
    let mut worksheets = worksheets.iter_mut();
    for (category, names) in CATEGORIES.iter().zip(sheets) {
        for _ in names {
            let Some(sheet) = worksheets.next() else {
                return Err(XlsxError::ParameterError(
                    "fewer category sheets than names".into(),
                ));
            };
            let mut written = 0usize;
            let mut links = 0usize;
            while written < input.max_data_rows {
                let Some(row) = rows.next_if(|row| row[category_col] == *category) else {
                    break;
                };
                let excel_row = written as u32 + 1;
                let lines = cells::row_lines(
                    row.iter()
                        .zip(&layout.widths)
                        .take(layout.printed)
                        .map(|(cell, width)| (*cell, *width)),
                );
                if lines > 1 {
                    sheet.set_row_height(excel_row, cells::row_height(lines))?;
                }
                let user_id = row.get(user_id_col).copied().unwrap_or("");
                let package_id = row.get(package_id_col).copied().unwrap_or("");
                for (column, cell) in (0u16..).zip(&row) {
                    let link = match column as usize {
                        c if c == user_col && !user_id.is_empty() => Some(user_url(user_id)),
                        c if c == package_col && !package_id.is_empty() => {
                            Some(package_url(package_id))
                        }
                        _ => None,
                    };
                    match link {
                        Some(url) if links < MAX_LINKS_PER_SHEET && !cell.is_empty() => {
                            if usize::from(column) < layout.printed {
                                cells::write_link_with_format(
                                    sheet,
                                    excel_row,
                                    column,
                                    &url,
                                    cell,
                                    &link_format,
                                )?;
                            } else {
                                cells::write_link(sheet, excel_row, column, &url, cell)?;
                            }
                            links += 1;
                        }
                        _ => match cell.parse::<u32>() {
                            Ok(days) if column as usize == days_col => {
                                sheet.write_number(excel_row, column, f64::from(days))?;
                            }
                            _ => {
                                cells::write_text(sheet, excel_row, column, *cell)?;
                            }
                        },
                    }
                }
                written += 1;
                if let Some(rows) = input.rows {
                    rows.add(1);
                }
            }
            sheet.autofilter(0, 0, written as u32, columns.len() as u16 - 1)?;
            if written > 0 && days_col != usize::MAX {
                // Older drift darker: white at 0 days, deep red at the oldest.
                let scale = ConditionalFormat2ColorScale::new()
                    .set_minimum_color("FFFFFF")
                    .set_maximum_color("C0392B");
                sheet.add_conditional_format(
                    1,
                    days_col as u16,
                    written as u32,
                    days_col as u16,
                    &scale,
                )?;
            }
        }
    }
    Ok(())
}

/// The Plan sheet: one row per item, an `approve` column (Yes/No drop-down, pre-set to No),
/// an `action` column (a drop-down of the row's choices, pre-set to its default) and an
/// `accept_reason` column that a reviewer fills in; every other cell is locked so the items
/// cannot be edited.
fn add_plan_sheet(workbook: &mut Workbook, footer: &str) -> Result<usize, XlsxError> {
    let bold = cells::header_format();
    let wrap = cells::wrap_format();
    // Row by row to a temporary file (a large plan's sheet held in memory took most of the
    // workbook's time and memory); each row's height is therefore set before its cells.
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    sheet.set_name(PLAN_SHEET)?;
    sheet.set_tab_color(Color::RGB(0x27AE60));
    for (column, (header, width)) in (0u16..).zip(plan_headers().into_iter().zip(PLAN_WIDTHS)) {
        sheet.set_column_width(column, width)?;
        if column >= 3 && usize::from(column) < PLAN_PRINTED {
            sheet.set_column_format(column, &wrap)?;
        }
        cells::write_text_with_format(sheet, 0, column, header, &bold)?;
    }
    let lines = cells::row_lines(plan_headers().into_iter().zip(PLAN_WIDTHS));
    sheet.set_row_height(0, cells::row_height(lines))?;
    sheet.set_freeze_panes(1, 4)?;
    print_setup(sheet, footer, true, Some(PLAN_PRINTED as u16))?;
    Ok(workbook.worksheets().len() - 1)
}

/// The Plan sheet's headings. The reviewer's three columns and the item in words print; the
/// ids follow outside the print area (the approval reads `Item id` and `Plan digest`).
fn plan_headers() -> [&'static str; 14] {
    [
        plan_heading(APPROVE_COLUMN),
        plan_heading(ACTION_COLUMN),
        plan_heading(REASON_COLUMN),
        "User",
        "Access package",
        "Roles",
        "Why",
        "Sign-in name",
        "Cause",
        plan_heading(ITEM_COLUMN),
        plan_heading(ASSIGNMENT_COLUMN),
        "Access package id",
        "User id",
        plan_heading(DIGEST_COLUMN),
    ]
}

/// The reviewer's cells: unlocked in the protected sheet, and shaded.
fn approval_format() -> Format {
    cells::wrap_format()
        .set_unlocked()
        .set_background_color("FFF2CC")
}

/// Writes the plan's items into the sheet [`add_plan_sheet`] added.
fn fill_plan(sheet: &mut Worksheet, plan: &Plan) -> Result<(), XlsxError> {
    let unlocked = approval_format();
    let started = std::time::Instant::now();
    let digest = plan.digest();
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "workbook: plan digest made"
    );
    // One list of actions per run of rows offering the same ones: a validation per row made
    // a large plan's sheet slow to write and to open.
    let mut offered: Option<(u32, Vec<Action>)> = None;
    let offer = |sheet: &mut Worksheet, first: u32, last: u32, choices: &[Action]| {
        let names: Vec<&str> = choices.iter().map(|a| a.as_str()).collect();
        let list = DataValidation::new()
            .allow_list_strings(&names)?
            .set_error_title("Action")?
            .set_error_message("Choose one of the actions offered for this row.")?;
        sheet.add_data_validation(first, 1, last, 1, &list)?;
        Ok::<(), XlsxError>(())
    };
    for (row, item) in (1u32..).zip(&plan.items) {
        let roles: Vec<String> = item
            .missing_roles
            .iter()
            .chain(&item.unexplained)
            .map(|r| r.phrase())
            .collect();
        let causes: Vec<String> = item
            .missing_roles
            .iter()
            .chain(&item.unexplained)
            .filter_map(|r| r.cause.clone())
            .collect();
        let approval = plan.approvals_of(item).next();
        let choice = approval.and_then(|a| a.choices.get(&item.id()));
        let roles = roles.join("; ");
        let causes = causes.join("; ");
        let cells = [
            item.user_display_name.as_str(),
            item.access_package_name.as_str(),
            &roles,
            item.reason.as_str(),
            item.user_principal_name.as_str(),
            &causes,
            item.key(),
            item.assignment_id.as_str(),
            item.access_package_id.as_str(),
            item.user_id.as_str(),
            digest.as_str(),
        ];
        let lines = cells::row_lines(
            cells
                .into_iter()
                .zip(PLAN_WIDTHS[3..PLAN_PRINTED].iter().copied()),
        );
        if lines > 1 {
            sheet.set_row_height(row, cells::row_height(lines))?;
        }
        cells::write_text_with_format(
            sheet,
            row,
            0,
            if approval.is_some() { "Yes" } else { "No" },
            &unlocked,
        )?;
        let action = choice.map_or(item.action, |c| c.action);
        cells::write_text_with_format(sheet, row, 1, action.as_str(), &unlocked)?;
        let reason = choice.and_then(|c| c.reason.clone()).unwrap_or_default();
        cells::write_text_with_format(sheet, row, 2, reason, &unlocked)?;
        for (column, cell) in (3u16..).zip(cells) {
            cells::write_text(sheet, row, column, cell)?;
        }
        let choices = item.choices();
        match &offered {
            Some((_, same)) if *same == choices => {}
            _ => {
                if let Some((first, previous)) = offered.take() {
                    offer(sheet, first, row - 1, &previous)?;
                }
                offered = Some((row, choices));
            }
        }
    }
    if let Some((first, choices)) = offered {
        offer(sheet, first, plan.items.len() as u32, &choices)?;
    }
    let last = plan.items.len() as u32;
    if last > 0 {
        let choice = DataValidation::new()
            .allow_list_strings(&["Yes", "No"])?
            .set_error_title("Approve")?
            .set_error_message("Choose Yes to apply this row's action, or No.")?;
        sheet.add_data_validation(1, 0, last, 0, &choice)?;
    }
    sheet.autofilter(0, 0, last, plan_headers().len() as u16 - 1)?;
    let options = ProtectionOptions {
        use_autofilter: true,
        sort: false,
        format_columns: true,
        ..ProtectionOptions::default()
    };
    sheet.protect_with_options(&options);
    Ok(())
}

/// The Plan sheet's printed columns: Approve, Action, Reason for accepting, User, Access
/// package, Roles and Why.
const PLAN_PRINTED: usize = 7;
const PLAN_WIDTHS: [f64; 14] = [
    9.0, 17.0, 18.0, 18.0, 20.0, 34.0, 48.0, 30.0, 50.0, 38.0, 38.0, 38.0, 38.0, 20.0,
];

/// The Entra admin center's user page.
pub fn user_url(user_id: &str) -> String {
    format!("https://entra.microsoft.com/#view/Microsoft_AAD_UsersAndTenants/UserProfileMenuBlade/~/overview/userId/{user_id}")
}

/// The Entra admin center's access package page.
pub fn package_url(package_id: &str) -> String {
    format!("https://entra.microsoft.com/#view/Microsoft_Azure_ELMAdmin/EntitlementMenuBlade/~/overview/entitlementId/{package_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::xlsx_summary::SUMMARY_WIDTHS;

    /// Every sheet's print area prints at [`MIN_PRINT_SCALE`] or larger (LibreOffice's PDF is
    /// measured in `tests/it/views.rs`).
    #[test]
    fn every_sheet_prints_at_a_readable_size() {
        let category: Vec<f64> = PRINTED.iter().map(|(_, w)| *w).collect();
        let plan = &PLAN_WIDTHS[..PLAN_PRINTED];
        for widths in [&category[..], plan, &SUMMARY_WIDTHS[..]] {
            let scale = print_scale(widths);
            assert!(scale >= MIN_PRINT_SCALE, "{widths:?} print at {scale}");
        }
        assert_eq!(
            print_scale(&SUMMARY_WIDTHS),
            1.0,
            "the Summary is not shrunk"
        );
    }

    #[test]
    fn category_sheets_print_people_first() {
        let (columns, printed) = sheet_columns(&col::ALL);
        assert_eq!(printed, PRINTED.len());
        assert_eq!(
            columns.len(),
            col::ALL.len(),
            "every column is on the sheet"
        );
        assert_eq!(columns[0], col::USER_NAME);
        assert_eq!(columns[2], col::DETAIL);
    }
}
