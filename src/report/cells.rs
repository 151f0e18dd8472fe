//! Excel's limits on one value, applied so that no value stops the workbook: text over
//! 32,767 characters is cut with a visible marker (the CSV keeps it whole), and a hyperlink
//! over Excel's URL limit is written as plain text.

use std::borrow::Cow;

use rust_xlsxwriter::{Format, Url, Worksheet, XlsxError};

/// Characters Excel holds in one cell.
pub const MAX_CELL_CHARS: usize = 32_767;
/// Characters of a hyperlink rust_xlsxwriter (and Excel) accept.
pub const MAX_URL_CHARS: usize = 2_079;

/// The text as it fits in one cell.
pub fn fit(text: &str) -> Cow<'_, str> {
    // No more characters than bytes: most cells need no count.
    if text.len() <= MAX_CELL_CHARS {
        return Cow::Borrowed(text);
    }
    let total = text.chars().count();
    if total <= MAX_CELL_CHARS {
        return Cow::Borrowed(text);
    }
    let marker = format!("… [cut: {total} characters, full value in findings.csv]");
    let keep = MAX_CELL_CHARS - marker.chars().count();
    let mut cut: String = text.chars().take(keep).collect();
    cut.push_str(&marker);
    Cow::Owned(cut)
}

/// Lines a wrapped cell `width` characters wide takes for `text`, breaking at spaces as a
/// spreadsheet does (a word wider than the cell is broken; a wide character such as CJK
/// counts as two). Spreadsheets do not grow a row for wrapped text written by a program, so
/// the writer sets each row's height from this.
pub fn wrapped_lines(text: &str, width: f64) -> usize {
    let room = (width - 1.5).max(1.0);
    // A character takes no more units than it has bytes (a wide one has three or four): a
    // short line fits without measuring its words.
    if (text.len() as f64) <= room && !text.contains('\n') {
        return 1;
    }
    measured_lines(text, room)
}

/// [`wrapped_lines`] word by word, in a cell with `room` units for text.
fn measured_lines(text: &str, room: f64) -> usize {
    let units = |word: &str| -> f64 {
        word.chars()
            .map(|c| if (c as u32) >= 0x1100 { 2.0 } else { 1.0 })
            .sum()
    };
    let mut lines = 0usize;
    for paragraph in text.split('\n') {
        let mut line = 0.0f64;
        lines += 1;
        for word in paragraph.split(' ') {
            let mut w = units(word);
            let gap = if line > 0.0 { 1.0 } else { 0.0 };
            if line + gap + w <= room {
                line += gap + w;
                continue;
            }
            if line > 0.0 {
                lines += 1;
            }
            while w > room {
                lines += 1;
                w -= room;
            }
            line = w;
        }
    }
    lines
}

/// A row's height in points for this many lines of 11 pt text.
pub fn row_height(lines: usize) -> f64 {
    (14.0 * lines.clamp(1, 40) as f64 + 2.0).max(15.0)
}

/// A header cell: bold, wrapped, on grey, at the top.
pub fn header_format() -> Format {
    Format::new()
        .set_bold()
        .set_text_wrap()
        .set_align(rust_xlsxwriter::FormatAlign::Top)
        .set_background_color("F2F2F2")
}

/// A printed cell: wrapped at the top, so a long text grows its row instead of the page.
pub fn wrap_format() -> Format {
    Format::new()
        .set_text_wrap()
        .set_align(rust_xlsxwriter::FormatAlign::Top)
}

/// A link's look (Excel's hyperlink blue, underlined), on top of `base`.
pub fn link_format(base: Format) -> Format {
    base.set_font_color(rust_xlsxwriter::Color::RGB(0x0563C1))
        .set_underline(rust_xlsxwriter::FormatUnderline::Single)
}

/// The lines the tallest of a row's wrapped cells takes, each text in its column's width.
pub fn row_lines<'a>(cells: impl IntoIterator<Item = (&'a str, f64)>) -> usize {
    cells
        .into_iter()
        .map(|(text, width)| wrapped_lines(text, width))
        .max()
        .unwrap_or(1)
}

/// Writes text, cut to fit.
pub fn write_text(
    sheet: &mut Worksheet,
    row: u32,
    column: u16,
    text: impl AsRef<str>,
) -> Result<(), XlsxError> {
    sheet.write_string(row, column, fit(text.as_ref()))?;
    Ok(())
}

/// Writes text with a format, cut to fit.
pub fn write_text_with_format(
    sheet: &mut Worksheet,
    row: u32,
    column: u16,
    text: impl AsRef<str>,
    format: &Format,
) -> Result<(), XlsxError> {
    sheet.write_string_with_format(row, column, fit(text.as_ref()), format)?;
    Ok(())
}

/// Writes a link showing `text`; a URL too long for Excel becomes plain text.
pub fn write_link(
    sheet: &mut Worksheet,
    row: u32,
    column: u16,
    url: &str,
    text: &str,
) -> Result<(), XlsxError> {
    if url.chars().count() > MAX_URL_CHARS {
        return write_text(sheet, row, column, text);
    }
    sheet.write_url_with_text(row, column, Url::new(url), fit(text))?;
    Ok(())
}

/// Writes a link showing `text` in a format (a printed column's wrap); a URL too long for
/// Excel becomes plain text in the same format.
pub fn write_link_with_format(
    sheet: &mut Worksheet,
    row: u32,
    column: u16,
    url: &str,
    text: &str,
    format: &Format,
) -> Result<(), XlsxError> {
    if url.chars().count() > MAX_URL_CHARS {
        return write_text_with_format(sheet, row, column, text, format);
    }
    let link = Url::new(url).set_text(fit(text));
    sheet.write_url_with_format(row, column, link, format)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_with_a_marker_and_short_text_is_kept() {
        assert_eq!(fit("short"), "short");
        let long = "x".repeat(40_000);
        let cut = fit(&long);
        assert_eq!(cut.chars().count(), MAX_CELL_CHARS);
        assert!(cut.ends_with("… [cut: 40000 characters, full value in findings.csv]"));
    }

    #[test]
    fn wrapped_lines_break_at_spaces_and_inside_long_words() {
        assert_eq!(wrapped_lines("", 10.0), 1);
        assert_eq!(wrapped_lines("short", 10.0), 1);
        assert_eq!(wrapped_lines("two words", 7.0), 2);
        assert_eq!(wrapped_lines(&"x".repeat(30), 11.5), 3);
        assert_eq!(wrapped_lines("a\nb", 20.0), 2);
        assert_eq!(wrapped_lines("李雷李雷", 6.0), 2);
    }

    proptest::proptest! {
        /// The short-line shortcut counts what measuring word by word counts.
        #[test]
        fn a_short_line_is_measured_alike(
            text in "[a b\n李é\u{1F600}]{0,40}",
            width in 1.0f64..60.0,
        ) {
            let room = (width - 1.5).max(1.0);
            proptest::prop_assert_eq!(wrapped_lines(&text, width), measured_lines(&text, room));
        }

        /// Text of no more bytes than Excel's limit in characters is kept whole, as counted.
        #[test]
        fn text_within_the_limit_is_kept(text in "[aé李]{0,12000}") {
            let kept = text.chars().count() <= MAX_CELL_CHARS;
            proptest::prop_assert_eq!(matches!(fit(&text), Cow::Borrowed(_)), kept);
        }
    }

    #[test]
    fn oversized_values_do_not_fail_the_sheet() {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet();
        write_text(sheet, 0, 0, "é".repeat(33_000)).unwrap();
        let url = format!("https://entra.microsoft.com/#{}", "a".repeat(3_000));
        write_link(sheet, 1, 0, &url, "user").unwrap();
        let dir = tempfile::tempdir().unwrap();
        workbook.save(dir.path().join("x.xlsx")).unwrap();
    }
}
