//! `findings.csv`: every finding, UTF-8, RFC 4180, with spreadsheet formulas neutralised.

use std::path::Path;

use polars::prelude::DataFrame;

use super::StringRows;
use crate::audit::col;
use crate::error::Result;

/// Prefixes a cell that a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, tab, CR)
/// with `'`, as OWASP recommends for CSV injection. Ids and names never start so legitimately
/// often enough to matter; the Excel report keeps the exact text.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

pub fn write_findings_csv(path: &Path, findings: &DataFrame) -> Result<()> {
    let columns = col::present(findings);
    let rows = StringRows::new(findings, &columns)?;
    write_csv(
        path,
        &columns,
        rows.iter()
            .map(|row| row.into_iter().map(str::to_string).collect()),
    )
}

/// Writes any report CSV: UTF-8, RFC 4180 with CRLF, every text cell neutralised. A whole
/// number such as `-1` (days left) is not a formula and stays as it is.
pub fn write_csv(
    path: &Path,
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<()> {
    // Written like every run file: never through a link, whole or not at all.
    crate::files::write_durable_with(path, |file| {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(std::io::BufWriter::new(file));
        writer.write_record(header)?;
        for row in rows {
            let cells = row.iter().map(|cell| match cell.parse::<i64>() {
                Ok(_) => cell.clone(),
                Err(_) => neutralise(cell).into_owned(),
            });
            writer.write_record(cells)?;
        }
        writer.flush()
    })
}

/// Undoes [`neutralise`] for a cell read back from a findings CSV written by this tool.
pub fn unneutralise(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest)
            if matches!(
                rest.chars().next(),
                Some('=' | '+' | '-' | '@' | '\t' | '\r')
            ) =>
        {
            rest
        }
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unneutralise_inverts_neutralise() {
        for cell in ["=1+2", "-1", "@x", "plain", "'quoted", ""] {
            assert_eq!(unneutralise(&neutralise(cell)), cell);
        }
    }

    #[test]
    fn formula_starts_are_neutralised() {
        for bad in ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(bad), format!("'{bad}"));
        }
        for good in ["Zoë Ångström", "李雷", "a=b", ""] {
            assert_eq!(neutralise(good), good);
        }
    }
}
