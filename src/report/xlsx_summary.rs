//! The workbook's Summary sheet: the run's facts, who the findings wait for, the counts per
//! category with links to their sheets and a chart, where missing access concentrates, who
//! caused drift, and the trend. Writer only; it prints at full size on one page's width.

use rust_xlsxwriter::{Chart, ChartType, Color, Format, Url, Workbook, Worksheet, XlsxError};

use super::cells;
use super::words;
use super::xlsx::{print_setup, sheet_names, WorkbookExtras, WorkbookInput};
use super::xlsx_history::write_trend;
use crate::audit::summary::Summary;
use crate::audit::CATEGORIES;

/// The Summary's columns: labels, then nine narrow columns that the counts, the trend and the
/// wide texts (merged across them) share. It prints at full size on one page's width.
pub const SUMMARY_WIDTHS: [f64; 10] = [34.0, 10.0, 12.0, 12.0, 12.0, 12.0, 12.0, 12.0, 12.0, 12.0];
/// The Summary's last column (J).
const SUMMARY_LAST: u16 = SUMMARY_WIDTHS.len() as u16 - 1;

pub fn write_summary(
    workbook: &mut Workbook,
    input: &WorkbookInput,
    extras: &WorkbookExtras,
    waiting: &[words::Waiting],
    footer: &str,
) -> Result<Vec<Vec<String>>, XlsxError> {
    let bold = Format::new().set_bold();
    let title = Format::new().set_bold().set_font_size(14);
    let sheets = sheet_names(input);
    let sheet = workbook.add_worksheet().set_name("Summary")?;
    for (column, width) in (0u16..).zip(SUMMARY_WIDTHS) {
        sheet.set_column_width(column, width)?;
    }
    sheet.set_tab_color(Color::RGB(0x2C3E50));
    print_setup(sheet, footer, false, None)?;
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
    if let Some(plan) = input.plan {
        facts.push(("Plan", super::html::plan_line(plan.counts())));
    }
    facts.extend(extras.facts.iter().cloned());
    let mut row = 2u32;
    for (label, value) in facts {
        cells::write_text_with_format(sheet, row, 0, label, &bold)?;
        write_wide(sheet, row, 1, &value)?;
        row += 1;
    }

    row += 1;
    cells::write_text_with_format(sheet, row, 0, "Waiting for", &bold)?;
    cells::write_text_with_format(sheet, row, 1, "Items", &bold)?;
    cells::write_text_with_format(
        sheet,
        row,
        2,
        "What to do next (the Read me sheet explains each word)",
        &bold,
    )?;
    row += 1;
    for wait in waiting {
        cells::write_text(sheet, row, 0, wait.whom)?;
        sheet.write_number(row, 1, wait.count as f64)?;
        write_wide(sheet, row, 2, wait.next)?;
        row += 1;
    }

    row += 1;
    let table_row = row;
    let sheet_link = cells::link_format(Format::new().set_indent(1));
    for (column, header) in (0u16..).zip(["Category", "Findings", "In plan", "Sheet"]) {
        cells::write_text_with_format(sheet, table_row, column, header, &bold)?;
    }
    for (row, ((count, names), title)) in (table_row + 1..).zip(
        input
            .summary
            .categories
            .iter()
            .zip(&sheets)
            .zip(crate::audit::CATEGORY_TITLES),
    ) {
        cells::write_text(sheet, row, 0, title)?;
        sheet.write_number(row, 1, count.findings as f64)?;
        sheet.write_number(row, 2, count.in_plan as f64)?;
        let link = Url::new(format!("internal:'{}'!A1", names[0])).set_text(names.join(", "));
        sheet.write_url_with_format(row, 3, link, &sheet_link)?;
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
    // Bar charts draw the first category at the bottom: reversed, they read as the table does.
    chart.y_axis().set_reverse();
    chart.set_width(720).set_height(260);
    sheet.insert_chart(last + 2, 0, &chart)?;

    // Below the chart: 260 px is 13 rows of 20 px.
    row = last + 2 + 14;
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
        for (column, header) in (0u16..).zip(["Name", "Missing", "Id"]) {
            cells::write_text_with_format(sheet, row, column, header, &bold)?;
        }
        row += 1;
        if ranked.is_empty() {
            sheet.write_string(row, 0, "(none)")?;
            row += 1;
        }
        for entry in ranked {
            write_label(sheet, row, &entry.label)?;
            sheet.write_number(row, 1, entry.missing as f64)?;
            write_wide(sheet, row, 2, &entry.id)?;
            row += 1;
        }
        row += 1;
    }
    row = write_causes(sheet, row, input.summary)?;
    write_trend(sheet, row, extras.trend)?;
    Ok(sheets)
}

/// Text across columns `first`..J of the Summary, merged and wrapped, its row as tall as its
/// lines: a long value stays on the printed page instead of running off it.
fn write_wide(sheet: &mut Worksheet, row: u32, first: u16, text: &str) -> Result<(), XlsxError> {
    // Indented: the cell left of it is often a right-aligned count.
    let wrap = cells::wrap_format().set_indent(1);
    let text = cells::fit(text);
    let width: f64 = SUMMARY_WIDTHS[usize::from(first)..].iter().sum();
    let lines = cells::wrapped_lines(&text, width);
    sheet.merge_range(row, first, row, SUMMARY_LAST, &text, &wrap)?;
    if lines > 1 {
        sheet.set_row_height(row, cells::row_height(lines))?;
    }
    Ok(())
}

/// A name in the Summary's first column, wrapped rather than cut by the count beside it.
fn write_label(sheet: &mut Worksheet, row: u32, text: &str) -> Result<(), XlsxError> {
    cells::write_text_with_format(sheet, row, 0, text, &cells::wrap_format())?;
    let lines = cells::wrapped_lines(text, SUMMARY_WIDTHS[0]);
    if lines > 1 {
        sheet.set_row_height(row, cells::row_height(lines))?;
    }
    Ok(())
}

/// "Who caused drift": findings per actor (split by kind), and per cause. Returns the next
/// free row.
fn write_causes(sheet: &mut Worksheet, mut row: u32, summary: &Summary) -> Result<u32, XlsxError> {
    let bold = Format::new().set_bold();
    cells::write_text_with_format(sheet, row, 0, "Who caused drift", &bold)?;
    row += 1;
    for (column, header) in (0u16..).zip(["Actor", "Findings", "Kind of actor"]) {
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
        write_label(sheet, row, name)?;
        sheet.write_number(row, 1, actor.findings as f64)?;
        cells::write_text(sheet, row, 2, &actor.kind)?;
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
            sheet.write_number(row, 1, *count as f64)?;
            row += 1;
        }
        row += 1;
    }
    Ok(row)
}
