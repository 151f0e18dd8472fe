//! The approval workbook's container, checked before calamine reads a cell: its size, every
//! part's decompressed size, and every row and cell reference of every XML part within Excel's
//! grid, each cell once (part names are compared as calamine resolves them: any case, `\` as
//! `/`). calamine keeps positions as 32-bit numbers, so a reference such as `A4294967298`
//! would wrap onto row 2 and approve what the visible row 2 does not; and it reads the shared
//! strings whole, so a small file that inflates to gigabytes would be read into memory.

use std::io::{BufReader, Read};
use std::path::Path;

use quick_xml::events::Event;

/// An approval workbook larger than this is no reviewer's copy of a run's drift.xlsx.
pub const MAX_WORKBOOK_BYTES: u64 = 512 << 20;
/// What one part (a sheet, the shared strings) may inflate to.
const MAX_PART_BYTES: u64 = 1 << 30;
/// What the shared strings may inflate to: calamine holds them in memory.
const MAX_SHARED_STRINGS_BYTES: u64 = 128 << 20;
/// Excel's grid.
const MAX_ROW: u64 = 1_048_576;
const MAX_COLUMN: u64 = 16_384;
const MAX_PARTS: usize = 10_000;

/// Checks the workbook at `path`; the error says what is wrong (the caller names the file).
pub fn check(path: &Path) -> Result<(), String> {
    let file =
        entra_model::input::open_input(path, MAX_WORKBOOK_BYTES).map_err(|e| e.to_string())?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| format!("cannot be read as a workbook: {e}"))?;
    if archive.len() > MAX_PARTS {
        return Err(format!(
            "holds {} parts; a workbook has a few dozen",
            archive.len()
        ));
    }
    for index in 0..archive.len() {
        let mut part = archive
            .by_index(index)
            .map_err(|e| format!("cannot be read as a workbook: {e}"))?;
        let name = part
            .name()
            .map(|n| n.into_owned())
            .map_err(|e| format!("cannot be read as a workbook: {e}"))?;
        // calamine finds parts through the relationships, case-insensitively and with `\` as
        // `/`: every XML part is checked whatever it is called.
        let normal = name.replace('\\', "/").to_ascii_lowercase();
        let limit = if normal.ends_with("sharedstrings.xml") {
            MAX_SHARED_STRINGS_BYTES
        } else {
            MAX_PART_BYTES
        };
        // The declared size can lie: the bound holds on what actually inflates.
        if part.size() > limit {
            return Err(too_large(&name, limit));
        }
        let bounded = (&mut part).take(limit + 1);
        if normal.ends_with(".xml") {
            check_references(bounded, &name, limit)?;
        } else {
            let read = std::io::copy(&mut { bounded }, &mut std::io::sink())
                .map_err(|e| format!("part `{name}` cannot be read: {e}"))?;
            if read > limit {
                return Err(too_large(&name, limit));
            }
        }
    }
    Ok(())
}

fn too_large(name: &str, limit: u64) -> String {
    format!(
        "part `{name}` inflates to more than {limit} bytes: it is not a workbook this tool reads"
    )
}

/// Every `<row r=…>` and `<c r=…>` of a sheet within Excel's grid.
fn check_references(part: impl Read, name: &str, limit: u64) -> Result<(), String> {
    // Only sheets have `<row>` and `<c>` elements; other parts pass through, bounded.
    let mut counted = Counted {
        inner: part,
        read: 0,
    };
    let mut reader = quick_xml::Reader::from_reader(BufReader::new(&mut counted));
    let mut buffer = Vec::new();
    // A cell written twice: a reader keeps one, a viewer may show the other.
    let mut cells = std::collections::HashSet::new();
    loop {
        let event = reader
            .read_event_into(&mut buffer)
            .map_err(|e| format!("part `{name}` is not readable XML: {e}"))?;
        match event {
            Event::Eof => break,
            Event::Start(element) | Event::Empty(element) => {
                let local = element.local_name();
                let is_row = local.as_ref() == "row";
                if is_row || local.as_ref() == "c" {
                    for attribute in element.attributes().flatten() {
                        if attribute.key.local_name().as_ref() == "r" {
                            let value = attribute.value.to_string();
                            let valid = if is_row {
                                row_number(&value).is_some()
                            } else {
                                match cell_reference(&value) {
                                    Some(cell) if !cells.insert(cell) => {
                                        return Err(format!(
                                            "sheet part `{name}` has cell `{value}` twice: it was not written by a spreadsheet program"
                                        ));
                                    }
                                    found => found.is_some(),
                                }
                            };
                            if !valid {
                                return Err(format!(
                                    "sheet part `{name}` has a {} reference `{}` outside Excel's grid: it was not written by a spreadsheet program",
                                    if is_row { "row" } else { "cell" },
                                    value.chars().take(40).collect::<String>()
                                ));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        buffer.clear();
    }
    drop(reader);
    if counted.read > limit {
        return Err(too_large(name, limit));
    }
    Ok(())
}

/// A row number within Excel's grid.
fn row_number(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 7 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u64>()
        .ok()
        .filter(|row| (1..=MAX_ROW).contains(row))
}

/// `(column, row)` of an `A1` reference within Excel's grid.
fn cell_reference(text: &str) -> Option<(u64, u64)> {
    let split = text.find(|c: char| c.is_ascii_digit())?;
    let (letters, digits) = text.split_at(split);
    if letters.is_empty() || letters.len() > 3 || !letters.bytes().all(|b| b.is_ascii_alphabetic())
    {
        return None;
    }
    let column = letters.bytes().fold(0u64, |n, b| {
        n * 26 + u64::from(b.to_ascii_uppercase() - b'A' + 1)
    });
    (column <= MAX_COLUMN).then_some(())?;
    Some((column, row_number(digits)?))
}

/// Counts what passes through, so a part cut at its bound is known to be over it.
struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.read += read as u64;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_outside_the_grid_are_refused() {
        assert_eq!(cell_reference("A2"), Some((1, 2)));
        assert_eq!(cell_reference("XFD1048576"), Some((16_384, 1_048_576)));
        for bad in ["A4294967298", "A0", "XFE1", "A", "1", "A1B", "AAAA1", "A-1"] {
            assert_eq!(cell_reference(bad), None, "{bad}");
        }
        assert_eq!(row_number("4294967298"), None);
        assert_eq!(row_number("2"), Some(2));
    }
}
