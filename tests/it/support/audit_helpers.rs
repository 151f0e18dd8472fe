//! Shared by the offline audit tests: fixture facts written by hand, and readers that compare
//! the reports with the expectations in `tests/expected/`.
#![allow(dead_code)]

use calamine::Reader;
use chrono::{DateTime, FixedOffset};

use crate::common::*;

pub const CONTOSO: &str = "contoso-core";
/// The contoso user whose displayName is `=HYPERLINK(...)` (contoso-core-notes.md, finding #3).
pub const FORMULA_USER: &str = "284e3a3c-fb91-48bf-bad1-74c3685d7d3a";
/// Non-ASCII display names of users that appear in contoso's findings, written with escapes
/// so that the test source cannot be silently re-normalised.
pub const NON_ASCII_USERS: [(&str, &str); 3] = [
    (
        "be10e992-16ff-4101-8c4a-9892df3e618d",
        "Zo\u{eb} \u{c5}ngstr\u{f6}m",
    ),
    (
        "b5e005aa-d08a-4774-8849-0fd560fca3cd",
        "S\u{f8}ren \u{d8}deg\u{e5}rd",
    ),
    ("cb9d98f8-879f-4cad-a534-e7834cb4e33e", "\u{674e}\u{96f7}"),
];
/// Engineering – Platform (with an en dash), a group in contoso's findings.
pub const EN_DASH_GROUP: (&str, &str) = (
    "1b01d039-c9d2-4b04-9e79-991f6b93bfe4",
    "Engineering \u{2013} Platform",
);
pub const WORKBOOK_SHEETS: [&str; 8] = [
    "Summary",
    "Read me",
    "Missing access",
    "Resource not found",
    "Unverifiable",
    "Not delivered",
    "Access without assignment",
    "Plan",
];

// ---------------------------------------------------------------------------------------------
// Small local helpers
// ---------------------------------------------------------------------------------------------

/// Expected key rows of one category.
pub fn expected_rows_of(expected: &Table, category: &str) -> Vec<Vec<String>> {
    expected
        .rows_where("category", category)
        .into_iter()
        .map(|row| project(row, &KEY_COLUMNS))
        .collect()
}

pub fn tenant_id_of(tenant: &str) -> String {
    fixture_json(tenant, "tenant.json")["id"]
        .as_str()
        .expect("tenant.json id")
        .to_ascii_lowercase()
}

pub fn parse_time(value: &serde_json::Value, what: &str) -> DateTime<FixedOffset> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("plan `{what}` is not a string: {value}"));
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("plan `{what}` {text:?}: {e}"))
}

pub fn read_plan(run: &AuditRun) -> serde_json::Value {
    let text = std::fs::read_to_string(run.plan_json()).expect("reading plan.json");
    serde_json::from_str(&text).expect("plan.json is JSON")
}

/// All `line N` numbers an error text mentions.
pub fn line_numbers(text: &str) -> Vec<usize> {
    text.match_indices("line ")
        .filter_map(|(at, _)| {
            let digits: String = text[at + 5..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

/// Checks that findings.csv of `tenant` holds exactly the expected rows; returns a description
/// of the difference, if any.
pub fn findings_difference(tenant: &str) -> Option<String> {
    let run = audit(tenant, &[]);
    let actual = sorted(read_findings(&run).project(&KEY_COLUMNS));
    let expected = sorted(read_expected(tenant).project(&KEY_COLUMNS));
    if actual == expected {
        return None;
    }
    let missing: Vec<_> = expected.iter().filter(|r| !actual.contains(r)).collect();
    let extra: Vec<_> = actual.iter().filter(|r| !expected.contains(r)).collect();
    Some(format!(
        "{tenant}: {} rows, expected {}\n  missing: {missing:#?}\n  unexpected: {extra:#?}",
        actual.len(),
        expected.len()
    ))
}

/// Checks drift.xlsx of `tenant` against the expected rows and the CSV header.
pub fn check_workbook(tenant: &str) {
    let run = audit(tenant, &[]);
    let csv = read_findings(&run);
    let expected = read_expected(tenant);
    let mut workbook = open_xlsx(&run.drift_xlsx());
    assert_eq!(
        workbook.sheet_names(),
        WORKBOOK_SHEETS,
        "{tenant}: sheet names or their order"
    );
    for (category, sheet_name) in CATEGORY_SHEETS {
        let sheet = read_findings_sheet(&mut workbook, sheet_name);
        assert_eq!(
            sheet.header,
            sheet_header_for(&csv.header),
            "{tenant}: header of sheet `{sheet_name}`: people first, every CSV column"
        );
        let wanted = sorted(expected_rows_of(&expected, category));
        assert_eq!(
            sheet.rows.len(),
            wanted.len(),
            "{tenant}: data rows of sheet `{sheet_name}`"
        );
        let actual = sorted(
            sheet
                .rows
                .iter()
                .map(|row| project(row, &KEY_COLUMNS))
                .collect(),
        );
        assert_eq!(actual, wanted, "{tenant}: rows of sheet `{sheet_name}`");
    }
}

/// The columns a category sheet has for a CSV with this header: the printed ones first, then
/// the rest (`report::sheet_columns`).
pub fn sheet_header_for(csv_header: &[String]) -> Vec<String> {
    let known: Vec<&'static str> = entra_drift::audit::col::ALL
        .iter()
        .copied()
        .filter(|c| csv_header.iter().any(|h| h == c))
        .collect();
    entra_drift::report::sheet_columns(&known)
        .0
        .into_iter()
        .map(str::to_string)
        .collect()
}
