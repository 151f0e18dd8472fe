//! The workbook's "Read me" sheet: what to do next and who it waits for, what each sheet holds,
//! every value a reviewer meets defined in one sentence, and each heading's column in
//! `findings.csv`. Writer only: the words come from [`super::words`].

use rust_xlsxwriter::{Color, Format, Workbook, Worksheet, XlsxError};

use super::cells;
use super::words::{self, Waiting};
use super::xlsx::print_setup;
use super::xlsx_history::{EXCEPTIONS_SHEET, RESOLVED_SHEET};
use crate::audit::{col, CATEGORIES};
use crate::plan::approval::PLAN_SHEET;

pub const READ_ME_SHEET: &str = "Read me";
/// Term, column, sentence: it prints at full size on one page's width.
const WIDTHS: [f64; 3] = [28.0, 26.0, 80.0];

/// Which sheets the workbook has, for the "Sheets" section.
pub struct ReadMeSheets<'a> {
    /// Each category's sheet names, in category order.
    pub categories: &'a [Vec<String>],
    pub resolved: bool,
    pub exceptions: bool,
    pub plan: bool,
}

pub fn write_read_me(
    workbook: &mut Workbook,
    sheets: &ReadMeSheets,
    waiting: &[Waiting],
    footer: &str,
) -> Result<(), XlsxError> {
    let sheet = workbook.add_worksheet().set_name(READ_ME_SHEET)?;
    sheet.set_tab_color(Color::RGB(0x2C3E50));
    for (column, width) in (0u16..).zip(WIDTHS) {
        sheet.set_column_width(column, width)?;
    }
    print_setup(sheet, footer, false, None)?;
    let title = Format::new().set_bold().set_font_size(14);
    cells::write_text_with_format(sheet, 0, 0, "How to read this workbook", &title)?;
    let mut writer = Writer { sheet, row: 2 };
    writer.paragraph(
        "Each category sheet lists one kind of finding, a row per finding. Printed, a sheet \
         shows who, what is wrong and where it stands; the columns to the right of the print \
         area (names, ids, the audit log's details) are for sorting and filtering on screen. \
         findings.csv holds the same rows, with the column names listed at the end of this \
         sheet.",
    )?;

    writer.heading("What to do next", ["Waiting for", "Items", "What they do"])?;
    for wait in waiting {
        writer.line(wait.whom, &wait.count.to_string(), wait.next)?;
    }

    writer.heading("Sheets", ["Sheet", "", "What it holds"])?;
    writer.line(
        "Summary",
        "",
        "The run's facts, who waits for what, the counts, and who caused drift.",
    )?;
    writer.line(READ_ME_SHEET, "", "This sheet.")?;
    for (names, code) in sheets.categories.iter().zip(CATEGORIES) {
        writer.line(&names.join(", "), "", words::category(code))?;
    }
    if sheets.resolved {
        writer.line(
            RESOLVED_SHEET,
            "",
            "Findings of the previous run that this run no longer has.",
        )?;
    }
    if sheets.exceptions {
        writer.line(
            EXCEPTIONS_SHEET,
            "",
            "The exceptions register as this run applied it: state, days left and findings covered.",
        )?;
    }
    if sheets.plan {
        writer.line(
            PLAN_SHEET,
            "",
            "One row per remedy. Set Approve to Yes and choose an Action (Reason for accepting when \
             the action is accept); approvers then sign the plan with entra-drift plan approve \
             --from-xlsx. Only the yellow columns can be edited.",
        )?;
    }

    for terms in words::glossary() {
        writer.heading(terms.title, ["Value", "Column", "Meaning"])?;
        let column = words::heading(terms.column);
        let column = if column == "action" { "Action" } else { column };
        for (value, sentence) in terms.values {
            writer.line(value, column, sentence)?;
        }
    }

    writer.heading(
        "Columns",
        ["Heading here", "Column in findings.csv", "What it holds"],
    )?;
    for name in col::ALL {
        let (heading, meaning) = words::column(name);
        writer.line(heading, name, meaning)?;
    }
    Ok(())
}

struct Writer<'a> {
    sheet: &'a mut Worksheet,
    row: u32,
}

impl Writer<'_> {
    fn paragraph(&mut self, text: &str) -> Result<(), XlsxError> {
        self.sheet
            .merge_range(self.row, 0, self.row, 2, text, &cells::wrap_format())?;
        let width = WIDTHS.iter().sum::<f64>();
        self.sheet.set_row_height(
            self.row,
            cells::row_height(cells::wrapped_lines(text, width)),
        )?;
        self.row += 2;
        Ok(())
    }

    fn heading(&mut self, title: &str, columns: [&str; 3]) -> Result<(), XlsxError> {
        let bold = Format::new().set_bold().set_font_size(12);
        let header = Format::new().set_bold().set_background_color("F2F2F2");
        self.row += 1;
        cells::write_text_with_format(self.sheet, self.row, 0, title, &bold)?;
        self.row += 1;
        for (column, text) in (0u16..).zip(columns) {
            cells::write_text_with_format(self.sheet, self.row, column, text, &header)?;
        }
        self.row += 1;
        Ok(())
    }

    fn line(&mut self, term: &str, column: &str, sentence: &str) -> Result<(), XlsxError> {
        let wrap = cells::wrap_format();
        cells::write_text_with_format(self.sheet, self.row, 0, term, &wrap)?;
        cells::write_text_with_format(self.sheet, self.row, 1, column, &wrap)?;
        cells::write_text_with_format(self.sheet, self.row, 2, sentence, &wrap)?;
        let lines = cells::row_lines([term, column, sentence].into_iter().zip(WIDTHS));
        if lines > 1 {
            self.sheet
                .set_row_height(self.row, cells::row_height(lines))?;
        }
        self.row += 1;
        Ok(())
    }
}
