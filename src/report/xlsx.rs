//! `drift.xlsx`: a Summary sheet, one sheet per category (split past Excel's row limit), and
//! the Plan sheet. Every text is written as a string, never as a formula.

use std::path::Path;

use super::cells;
use chrono::{DateTime, Utc};
use polars::prelude::DataFrame;
use rust_xlsxwriter::{
    Chart, ChartType, Color, ConditionalFormat2ColorScale, DataValidation, DocProperties, Format,
    FormatAlign, ProtectionOptions, Url, Workbook, Worksheet, XlsxError,
};

use super::xlsx_history::TrendPoint;
use super::xlsx_history::{write_exceptions_sheet, write_resolved_sheet, write_trend};
use super::StringRows;
use crate::audit::annotate::{ExceptionRow, Resolved};
use crate::audit::summary::Summary;
use crate::audit::{col, CATEGORIES};
use crate::error::{Error, Result};
use crate::plan::approval::{
    ACTION_COLUMN, APPROVE_COLUMN, ASSIGNMENT_COLUMN, DIGEST_COLUMN, ITEM_COLUMN, PLAN_SHEET,
    REASON_COLUMN,
};
use crate::plan::Plan;
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
    // A fixed creation time makes the file reproducible from the same findings.
    workbook.set_properties(
        &DocProperties::new()
            .set_title("entra-drift access drift report")
            .set_company(input.info.tenant_name.as_deref().unwrap_or_default())
            .set_creation_datetime(&input.generated_at),
    );
    let sheets = write_summary(&mut workbook, input, extras).map_err(error)?;
    write_categories(&mut workbook, input, &sheets).map_err(error)?;
    if let Some(resolved) = extras.resolved {
        write_resolved_sheet(&mut workbook, resolved).map_err(error)?;
    }
    if let Some(exceptions) = extras.exceptions {
        write_exceptions_sheet(&mut workbook, exceptions).map_err(error)?;
    }
    if let Some(plan) = input.plan {
        write_plan(&mut workbook, plan).map_err(error)?;
    }
    let footer = footer(input.info, &input.run);
    for sheet in workbook.worksheets_mut() {
        let header_rows = sheet.name() != "Summary";
        print_setup(sheet, &footer, header_rows).map_err(error)?;
    }
    workbook.save(path).map_err(error)
}

/// The sheet names each category is written to (several when it is split).
fn sheet_names(input: &WorkbookInput) -> Vec<Vec<String>> {
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

fn write_summary(
    workbook: &mut Workbook,
    input: &WorkbookInput,
    extras: &WorkbookExtras,
) -> Result<Vec<Vec<String>>, XlsxError> {
    let bold = Format::new().set_bold();
    let title = Format::new().set_bold().set_font_size(14);
    let sheets = sheet_names(input);
    let sheet = workbook.add_worksheet().set_name("Summary")?;
    sheet.set_column_width(0, 34)?;
    sheet.set_column_width(1, 44)?;
    sheet.set_column_width(2, 12)?;
    sheet.set_column_width(3, 40)?;
    // The trend table's counts: wide enough for their wrapped headers.
    for column in 4..=10 {
        sheet.set_column_width(column, 14)?;
    }
    sheet.set_tab_color(Color::RGB(0x2C3E50));
    cells::write_text_with_format(sheet, 0, 0, "entra-drift access drift report", &title)?;
    let info = input.info;
    let mut facts = vec![
        ("Tenant", info.tenant_name.clone().unwrap_or_default()),
        ("Tenant id", info.tenant_id.clone()),
        (
            "Snapshot taken (UTC)",
            info.taken_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        ),
        ("Source", info.source.clone()),
        (
            "Report generated (UTC)",
            input.generated_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        ),
        ("Findings", input.summary.total.to_string()),
    ];
    facts.extend(extras.facts.iter().cloned());
    let fact_count = facts.len() as u32;
    for (row, (label, value)) in (2u32..).zip(facts) {
        cells::write_text_with_format(sheet, row, 0, label, &bold)?;
        cells::write_text(sheet, row, 1, value)?;
    }

    // Below the facts, with one empty row between (row 9 for a bare audit's six facts).
    let table_row = 3 + fact_count;
    for (column, header) in (0u16..).zip(["Category", "Findings", "In plan", "Sheet"]) {
        cells::write_text_with_format(sheet, table_row, column, header, &bold)?;
    }
    for (row, (count, names)) in (table_row + 1..).zip(input.summary.categories.iter().zip(&sheets))
    {
        cells::write_text(sheet, row, 0, count.category)?;
        sheet.write_number(row, 1, count.findings as f64)?;
        sheet.write_number(row, 2, count.in_plan as f64)?;
        let link = Url::new(format!("internal:'{}'!A1", names[0])).set_text(names.join(", "));
        sheet.write_url(row, 3, link)?;
    }
    let last = table_row + CATEGORIES.len() as u32;
    let mut chart = Chart::new(ChartType::Bar);
    chart
        .add_series()
        .set_name("Findings")
        .set_categories(("Summary", table_row + 1, 0, last, 0))
        .set_values(("Summary", table_row + 1, 1, last, 1));
    chart.title().set_name("Findings per category");
    chart.legend().set_hidden();
    sheet.insert_chart(1, 5, &chart)?;

    let mut row = last + 3;
    for (heading, ranked) in [
        (
            "Packages with most missing access",
            &input.summary.top_packages,
        ),
        (
            "Resources with most missing access",
            &input.summary.top_resources,
        ),
    ] {
        cells::write_text_with_format(sheet, row, 0, heading, &bold)?;
        row += 1;
        for (column, header) in (0u16..).zip(["Name", "Id", "Missing"]) {
            cells::write_text_with_format(sheet, row, column, header, &bold)?;
        }
        row += 1;
        if ranked.is_empty() {
            sheet.write_string(row, 0, "(none)")?;
            row += 1;
        }
        for entry in ranked {
            cells::write_text(sheet, row, 0, &entry.label)?;
            cells::write_text(sheet, row, 1, &entry.id)?;
            sheet.write_number(row, 2, entry.missing as f64)?;
            row += 1;
        }
        row += 1;
    }
    row = write_causes(sheet, row, input.summary)?;
    write_trend(sheet, row, extras.trend)?;
    Ok(sheets)
}

/// "Who caused drift": findings per actor (split by kind), and per cause. Returns the next
/// free row.
fn write_causes(sheet: &mut Worksheet, mut row: u32, summary: &Summary) -> Result<u32, XlsxError> {
    let bold = Format::new().set_bold();
    cells::write_text_with_format(sheet, row, 0, "Who caused drift", &bold)?;
    row += 1;
    for (column, header) in (0u16..).zip(["Actor", "Kind", "Findings"]) {
        cells::write_text_with_format(sheet, row, column, header, &bold)?;
    }
    row += 1;
    if summary.actors.is_empty() {
        sheet.write_string(row, 0, "(no finding has a cause from the audit log)")?;
        row += 1;
    }
    for actor in &summary.actors {
        let name = if actor.actor.is_empty() {
            "(unnamed)"
        } else {
            actor.actor.as_str()
        };
        cells::write_text(sheet, row, 0, name)?;
        cells::write_text(sheet, row, 1, &actor.kind)?;
        sheet.write_number(row, 2, actor.findings as f64)?;
        row += 1;
    }
    row += 1;
    for (heading, counts) in [
        ("Findings by kind of actor", &summary.actor_kinds),
        ("Findings by cause", &summary.causes),
    ] {
        cells::write_text_with_format(sheet, row, 0, heading, &bold)?;
        row += 1;
        if counts.is_empty() {
            sheet.write_string(row, 0, "(none)")?;
            row += 1;
        }
        for (name, count) in counts {
            cells::write_text(sheet, row, 0, name)?;
            sheet.write_number(row, 2, *count as f64)?;
            row += 1;
        }
        row += 1;
    }
    Ok(row)
}

/// The human columns a reviewer reads first on a category sheet; every other column follows
/// in report order (the CSV keeps the report order).
const HUMAN_FIRST: [&str; 11] = [
    col::USER_NAME,
    col::USER_UPN,
    col::USER_ENABLED,
    col::PACKAGE_NAME,
    col::RESOURCE_NAME,
    col::ROLE_NAME,
    col::DETAIL,
    col::STATUS,
    col::DAYS_OPEN,
    col::IN_PLAN,
    col::SKIP_REASON,
];

/// A category sheet's columns: [`HUMAN_FIRST`], then the cause, then the ids and the rest.
pub fn sheet_columns(present: &[&'static str]) -> Vec<&'static str> {
    let mut columns: Vec<&'static str> = HUMAN_FIRST
        .iter()
        .copied()
        .filter(|c| present.contains(c))
        .collect();
    for group in [&col::CAUSES[..], &col::ALL[..]] {
        for c in group {
            if present.contains(c) && !columns.contains(c) {
                columns.push(c);
            }
        }
    }
    columns
}

/// Widths that fit a sample of each column's content, within bounds (a 40-character id stays
/// readable; a long detail wraps at 60).
fn fitted_widths(columns: &[&str], rows: &StringRows) -> Vec<f64> {
    const SAMPLE: usize = 2_000;
    let mut widest: Vec<usize> = columns.iter().map(|c| c.len().min(16)).collect();
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

/// Landscape, one page wide, the header row on every page, and a footer naming the tenant,
/// the run and the page: every sheet prints as a reviewer expects.
pub fn print_setup(
    sheet: &mut Worksheet,
    footer: &str,
    header_rows: bool,
) -> Result<(), XlsxError> {
    sheet.set_landscape();
    sheet.set_paper_size(9);
    sheet.set_print_fit_to_pages(1, 0);
    if header_rows {
        sheet.set_repeat_rows(0, 0)?;
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
    widths: &[f64],
    tab: Color,
    footer: &str,
) -> Result<&'a mut Worksheet, XlsxError> {
    let header = Format::new()
        .set_bold()
        .set_text_wrap()
        .set_align(FormatAlign::Top)
        .set_background_color("F2F2F2");
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    sheet.set_name(name)?;
    sheet.set_tab_color(tab);
    for (column, width) in (0u16..).zip(widths) {
        sheet.set_column_width(column, *width)?;
    }
    // The user column stays in view while scrolling right.
    sheet.set_freeze_panes(1, 1)?;
    print_setup(sheet, footer, true)?;
    for (column, header_text) in (0u16..).zip(columns) {
        cells::write_text_with_format(sheet, 0, column, *header_text, &header)?;
    }
    Ok(sheet)
}

fn write_categories(
    workbook: &mut Workbook,
    input: &WorkbookInput,
    sheets: &[Vec<String>],
) -> Result<(), XlsxError> {
    let columns = sheet_columns(&col::present(input.findings));
    let rows = StringRows::new(input.findings, &columns)
        .map_err(|e| XlsxError::ParameterError(e.to_string()))?;
    let widths = fitted_widths(&columns, &rows);
    let position = |name: &str| columns.iter().position(|c| *c == name);
    let category_col = position(col::CATEGORY).unwrap_or(0);
    let user_col = position(col::USER_NAME).unwrap_or(usize::MAX);
    let user_id_col = position(col::USER_ID).unwrap_or(usize::MAX);
    let package_col = position(col::PACKAGE_NAME).unwrap_or(usize::MAX);
    let package_id_col = position(col::PACKAGE_ID).unwrap_or(usize::MAX);
    // Days open is a number, so that a reviewer can sort and filter on it.
    let days_col = position(col::DAYS_OPEN).unwrap_or(usize::MAX);
    let cell_of =
        |row: &[&'_ str], at: usize| -> String { row.get(at).copied().unwrap_or("").to_string() };
    let footer = footer(input.info, &input.run);
    let mut rows = rows.iter().peekable();
    for ((category, names), (r, g, b)) in CATEGORIES
        .iter()
        .zip(sheets)
        .zip(super::charts::CATEGORY_COLOURS)
    {
        let tab = Color::RGB((u32::from(r) << 16) | (u32::from(g) << 8) | u32::from(b));
        for name in names {
            let sheet = start_findings_sheet(workbook, name, &columns, &widths, tab, &footer)?;
            let mut written = 0usize;
            let mut links = 0usize;
            while written < input.max_data_rows {
                let Some(row) = rows.next_if(|row| row[category_col] == *category) else {
                    break;
                };
                let excel_row = written as u32 + 1;
                let user_id = cell_of(&row, user_id_col);
                let package_id = cell_of(&row, package_id_col);
                for (column, cell) in (0u16..).zip(&row) {
                    let link = match column as usize {
                        c if c == user_col && !user_id.is_empty() => Some(user_url(&user_id)),
                        c if c == package_col && !package_id.is_empty() => {
                            Some(package_url(&package_id))
                        }
                        _ => None,
                    };
                    match link {
                        Some(url) if links < MAX_LINKS_PER_SHEET && !cell.is_empty() => {
                            cells::write_link(sheet, excel_row, column, &url, cell)?;
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
fn write_plan(workbook: &mut Workbook, plan: &Plan) -> Result<(), XlsxError> {
    let bold = Format::new().set_bold().set_text_wrap();
    let unlocked = Format::new().set_unlocked().set_background_color("FFF2CC");
    let sheet = workbook.add_worksheet().set_name(PLAN_SHEET)?;
    sheet.set_tab_color(Color::RGB(0x27AE60));
    let headers = [
        (APPROVE_COLUMN, 10.0),
        (ACTION_COLUMN, 20.0),
        (REASON_COLUMN, 30.0),
        (ITEM_COLUMN, 38.0),
        (ASSIGNMENT_COLUMN, 38.0),
        ("access_package_name", 30.0),
        ("access_package_id", 38.0),
        ("user_display_name", 30.0),
        ("user_principal_name", 30.0),
        ("user_id", 38.0),
        ("roles", 60.0),
        ("reason", 60.0),
        ("cause", 60.0),
        (DIGEST_COLUMN, 20.0),
    ];
    let digest = plan.digest();
    for (column, (header, width)) in (0u16..).zip(headers) {
        sheet.set_column_width(column, width)?;
        cells::write_text_with_format(sheet, 0, column, header, &bold)?;
    }
    sheet.set_freeze_panes(1, 4)?;
    for (row, item) in (1u32..).zip(&plan.items) {
        let roles: Vec<String> = item
            .missing_roles
            .iter()
            .chain(&item.unexplained)
            .map(|r| {
                format!(
                    "{} {} of {}",
                    r.resource_type,
                    r.role_name_or_role(),
                    r.resource_label()
                )
            })
            .collect();
        let causes: Vec<String> = item
            .missing_roles
            .iter()
            .chain(&item.unexplained)
            .filter_map(|r| r.cause.clone())
            .collect();
        let approval = plan.approvals_of(item).next();
        let choice = approval.and_then(|a| a.choices.get(&item.id()));
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
        let choices: Vec<&str> = item.choices().iter().map(|a| a.as_str()).collect();
        let list = DataValidation::new()
            .allow_list_strings(&choices)?
            .set_error_title("Action")?
            .set_error_message("Choose one of the actions offered for this row.")?;
        sheet.add_data_validation(row, 1, row, 1, &list)?;
        let cells = [
            item.key(),
            item.assignment_id.as_str(),
            item.access_package_name.as_str(),
            item.access_package_id.as_str(),
            item.user_display_name.as_str(),
            item.user_principal_name.as_str(),
            item.user_id.as_str(),
            &roles.join("; "),
            item.reason.as_str(),
            &causes.join("; "),
            digest.as_str(),
        ];
        for (column, cell) in (3u16..).zip(cells) {
            cells::write_text(sheet, row, column, cell)?;
        }
    }
    let last = plan.items.len() as u32;
    if last > 0 {
        let choice = DataValidation::new()
            .allow_list_strings(&["Yes", "No"])?
            .set_error_title("Approve")?
            .set_error_message("Choose Yes to apply this row's action, or No.")?;
        sheet.add_data_validation(1, 0, last, 0, &choice)?;
    }
    sheet.autofilter(0, 0, last, headers.len() as u16 - 1)?;
    let options = ProtectionOptions {
        use_autofilter: true,
        sort: false,
        format_columns: true,
        ..ProtectionOptions::default()
    };
    sheet.protect_with_options(&options);
    Ok(())
}

/// The Entra admin center's user page.
pub fn user_url(user_id: &str) -> String {
    format!("https://entra.microsoft.com/#view/Microsoft_AAD_UsersAndTenants/UserProfileMenuBlade/~/overview/userId/{user_id}")
}

/// The Entra admin center's access package page.
pub fn package_url(package_id: &str) -> String {
    format!("https://entra.microsoft.com/#view/Microsoft_Azure_ELMAdmin/EntitlementMenuBlade/~/overview/entitlementId/{package_id}")
}
