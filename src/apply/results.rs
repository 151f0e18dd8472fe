//! Apply and verify results as CSV (and the apply results as a one-sheet workbook).

use std::path::Path;

use rust_xlsxwriter::{Format, Workbook};

use super::ItemResult;
use crate::error::{Error, Result};
pub use crate::report::write_csv;

pub const APPLY_RESULTS_CSV: &str = "apply-results.csv";
pub const APPLY_RESULTS_XLSX: &str = "apply-results.xlsx";
pub const VERIFY_RESULTS_CSV: &str = "verify-results.csv";

const HEADER: [&str; 9] = [
    "assignment_id",
    "user_id",
    "user_display_name",
    "access_package_name",
    "outcome",
    "reason",
    "at",
    "item_id",
    "action",
];

fn row(result: &ItemResult) -> [String; 9] {
    [
        result.item.assignment_id.clone(),
        result.item.user_id.clone(),
        result.item.user_display_name.clone(),
        result.item.access_package_name.clone(),
        result.outcome.as_str().to_string(),
        result.reason.clone(),
        result.at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        result.item.key().to_string(),
        result.action.to_string(),
    ]
}

pub fn write_apply_results(dir: &Path, results: &[ItemResult]) -> Result<Vec<std::path::PathBuf>> {
    let csv_path = dir.join(APPLY_RESULTS_CSV);
    write_csv(&csv_path, &HEADER, results.iter().map(|r| row(r).to_vec()))?;
    let xlsx_path = dir.join(APPLY_RESULTS_XLSX);
    let error = |source| Error::Xlsx {
        path: xlsx_path.clone(),
        source,
    };
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = workbook
        .add_worksheet()
        .set_name("Apply results")
        .map_err(error)?;
    for (column, header) in (0u16..).zip(HEADER) {
        sheet
            .write_string_with_format(0, column, header, &bold)
            .map_err(error)?;
        sheet
            .set_column_width(column, if column == 5 { 60 } else { 30 })
            .map_err(error)?;
    }
    for (index, result) in results.iter().enumerate() {
        for (column, cell) in (0u16..).zip(row(result)) {
            sheet
                .write_string(index as u32 + 1, column, cell)
                .map_err(error)?;
        }
    }
    sheet.set_freeze_panes(1, 0).map_err(error)?;
    sheet
        .autofilter(0, 0, results.len() as u32, HEADER.len() as u16 - 1)
        .map_err(error)?;
    let bytes = workbook.save_to_buffer().map_err(error)?;
    crate::files::write_durable(&xlsx_path, &bytes)?;
    Ok(vec![csv_path, xlsx_path])
}
